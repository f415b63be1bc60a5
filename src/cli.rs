//! The `aedgate` command line: `serve`, `submit`, `demo` and `pki init`.
//!
//! Every failure ends in one line on stderr and a non-zero exit status, because the command
//! is run by operators and scripts that read exactly that.

use crate::client::{ClientError, Participant};
use crate::config::{ClientConfig, GatewayConfig};
use crate::core::crypto::Algorithm;
use crate::core::trust::{format_ms, AgreementEntry, Exchange, Role, TlpLevel};
use crate::pki::{ParticipantSpec, PkiSpec};
use crate::proto::v1::{Disposition, Receipt};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// aedgate: signed advance electronic data and risk intelligence between customs
/// administrations and e-commerce partners, over mutual-TLS gRPC.
#[derive(Debug, Parser)]
#[command(name = "aedgate", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a gateway for one administration (PROTOCOL.md §10).
    Serve {
        /// Gateway configuration (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Sign a declaration (JSON, see docs/declaration-json.md) and submit it as a partner.
    Submit {
        /// Client configuration (TOML), as written by `aedgate pki init`.
        #[arg(long)]
        config: PathBuf,
        /// The declaration, as JSON.
        declaration: PathBuf,
    },
    /// Build a development federation in a temporary folder, start a gateway and submit a
    /// batch of realistic declarations, printing what happened.
    Demo,
    /// Development PKI.
    Pki {
        /// What to do.
        #[command(subcommand)]
        command: PkiCommand,
    },
}

/// `aedgate pki ...`.
#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Write a federation CA, TLS certificates, signing keys, operator key, signed trust list
    /// and configuration files into a folder.
    Init {
        /// Folder to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Federation described in a TOML file (see certs/README.md); flags below add to it.
        #[arg(long)]
        spec: Option<PathBuf>,
        /// Federation name.
        #[arg(long)]
        federation: Option<String>,
        /// Host gateways listen on and clients dial.
        #[arg(long)]
        host: Option<String>,
        /// A participant: `ID:ROLE[:ADM+ADM...]`, e.g. `ptr/NL/shopco:platform:adm/NL+adm/BE`.
        /// Without --participant or --spec, a standard NL/BE federation is made.
        #[arg(long = "participant")]
        participants: Vec<String>,
        /// Participants that sign with ECDSA P-256 instead of Ed25519.
        #[arg(long = "ecdsa")]
        ecdsa: Vec<String>,
        /// An agreement: `ID:ADM+ADM:MAX_TLP[:personal_data]`, exchanging risk indicators and
        /// forwarded declarations.
        #[arg(long = "agreement")]
        agreements: Vec<String>,
        /// Overwrite an existing federation in the folder.
        #[arg(long)]
        force: bool,
    },
}

/// Runs the command line and turns the outcome into an exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Serve { .. } => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("aedgate: error: cannot start runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("aedgate: error: {message}");
            ExitCode::from(2)
        }
    }
}

async fn run(command: Command) -> Result<ExitCode, String> {
    match command {
        Command::Serve { config } => {
            let config = GatewayConfig::load(&config).map_err(|e| e.to_string())?;
            crate::server::serve(config)
                .await
                .map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Submit {
            config,
            declaration,
        } => submit(config, declaration).await,
        Command::Demo => crate::demo::run().await.map(|()| ExitCode::SUCCESS),
        Command::Pki {
            command:
                PkiCommand::Init {
                    out,
                    spec,
                    federation,
                    host,
                    participants,
                    ecdsa,
                    agreements,
                    force,
                },
        } => {
            let spec = build_spec(spec, federation, host, participants, ecdsa, agreements)?;
            let pki = crate::pki::generate(spec).map_err(|e| e.to_string())?;
            pki.write(&out, force).map_err(|e| e.to_string())?;
            println!(
                "Development federation {:?} written to {}",
                pki.spec.federation,
                out.display()
            );
            for name in pki.files.keys() {
                println!("  {name}");
            }
            println!("Private keys (*.key) are secrets: keep them out of version control.");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn parse_role(text: &str) -> Result<Role, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|_| {
        format!(
            "unknown role {text:?} (administration, platform, carrier, postal_operator, internal)"
        )
    })
}

fn build_spec(
    spec_file: Option<PathBuf>,
    federation: Option<String>,
    host: Option<String>,
    participants: Vec<String>,
    ecdsa: Vec<String>,
    agreements: Vec<String>,
) -> Result<PkiSpec, String> {
    let mut spec = match &spec_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            toml::from_str::<PkiSpec>(&text)
                .map_err(|e| format!("{}: {}", path.display(), e.message()))?
        }
        None if participants.is_empty() => PkiSpec::standard(),
        None => PkiSpec {
            participants: Vec::new(),
            agreements: Vec::new(),
            ..PkiSpec::standard()
        },
    };
    if let Some(f) = federation {
        spec.federation = f;
    }
    if let Some(h) = host {
        spec.host = h;
    }
    for text in participants {
        let mut parts = text.splitn(3, ':');
        let id = parts.next().unwrap_or_default().to_owned();
        let role = parse_role(
            parts
                .next()
                .ok_or_else(|| format!("--participant {text:?}: expected ID:ROLE[:ADM+ADM]"))?,
        )?;
        let registered_with = parts
            .next()
            .map(|list| {
                list.split('+')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        spec.participants.push(ParticipantSpec {
            id,
            role,
            name: String::new(),
            registered_with,
            algorithm: Algorithm::Ed25519,
            port: None,
        });
    }
    for id in ecdsa {
        let p = spec
            .participants
            .iter_mut()
            .find(|p| p.id == id)
            .ok_or_else(|| format!("--ecdsa {id}: no such participant"))?;
        p.algorithm = Algorithm::EcdsaP256Sha256;
    }
    for text in agreements {
        let parts: Vec<&str> = text.split(':').collect();
        let (id, parties, tlp) = match parts.as_slice() {
            [id, parties, tlp] | [id, parties, tlp, _] => (*id, *parties, *tlp),
            _ => {
                return Err(format!(
                    "--agreement {text:?}: expected ID:ADM+ADM:MAX_TLP[:personal_data]"
                ))
            }
        };
        let max_tlp: TlpLevel = serde_json::from_value(serde_json::Value::String(tlp.to_owned()))
            .map_err(|_| format!("--agreement {text:?}: unknown TLP {tlp:?} (clear, green, amber, amber_strict, red)"))?;
        spec.agreements.push(AgreementEntry {
            id: id.to_owned(),
            parties: parties.split('+').map(str::to_owned).collect(),
            exchange: vec![Exchange::RiskIndicator, Exchange::ForwardedDeclaration],
            max_tlp,
            personal_data: parts.get(3) == Some(&"personal_data"),
        });
    }
    Ok(spec)
}

/// A receipt as a customs officer or an integrator reads it.
pub fn describe_receipt(receipt: &Receipt, trust_version: u64) -> String {
    let disposition = match Disposition::try_from(receipt.disposition) {
        Ok(Disposition::Accepted) => "ACCEPTED",
        Ok(Disposition::Duplicate) => "DUPLICATE (already received; original receipt data)",
        _ => "UNKNOWN",
    };
    let key = receipt
        .signature
        .as_ref()
        .map(|s| s.key_id.as_str())
        .unwrap_or("-");
    format!(
        "{disposition} by {}\n  message id       {}\n  received at      {}\n  log index        {}\n  envelope digest  {}\n  receipt signed   by {key}; signature verified against trust list v{trust_version}",
        receipt.receiver,
        receipt.message_id,
        format_ms(receipt.received_at_ms),
        receipt.log_index,
        hex::encode(&receipt.envelope_digest),
    )
}

/// A refusal as a person reads it: status, reason and every field violation.
pub fn describe_refusal(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    let details = status.get_error_details();
    let reason = details
        .error_info()
        .map(|i| i.reason.as_str())
        .unwrap_or("-");
    let mut text = format!(
        "REFUSED: {:?} {reason}\n  {}",
        status.code(),
        status.message()
    );
    if let Some(bad) = details.bad_request() {
        for v in &bad.field_violations {
            text.push_str(&format!("\n  {}: {}", v.field, v.description));
        }
    }
    text
}

async fn submit(config: PathBuf, declaration: PathBuf) -> Result<ExitCode, String> {
    let config = ClientConfig::load(&config).map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(&declaration)
        .map_err(|e| format!("cannot read {}: {e}", declaration.display()))?;
    let decl = crate::declaration_json::from_json(&text)
        .map_err(|e| format!("{}: {e}", declaration.display()))?;
    let trust_version = config.trust.version();
    let mut participant = Participant::connect(config)
        .await
        .map_err(|e| e.to_string())?;
    let envelope = participant.seal_declaration(&decl);
    match participant.submit(envelope).await {
        Ok(receipt) => {
            println!(
                "LRN {}: {}",
                decl.lrn,
                describe_receipt(&receipt, trust_version)
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(ClientError::Refused(status)) => {
            println!("LRN {}: {}", decl.lrn, describe_refusal(&status));
            Ok(ExitCode::from(1))
        }
        Err(other) => Err(other.to_string()),
    }
}
