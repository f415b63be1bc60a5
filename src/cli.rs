//! The `aedgate` command line: `serve`, `pki init`, `demo`; for partners `submit`, `amend`,
//! `invalidate`, `fetch`, `respond` and `status`; for an administration's risk unit
//! `indicator publish|revoke|list` and `outbox list|retry`; for auditors and witnesses
//! `audit verify-receipt|watch|verify-store`.
//!
//! Every failure ends in one line on stderr and a non-zero exit status, because the command
//! is run by operators and scripts that read exactly that: 1 when the gateway refused the
//! message (or a delivered envelope failed its signature check, or audit evidence did not
//! hold), 2 for usage, configuration and connection errors.

use crate::client::{check_delivery, fold_indicators, outcome_of, ClientError, Participant};
use crate::config::{ClientConfig, GatewayConfig};
use crate::core::crypto::Algorithm;
use crate::core::trust::{format_ms, AgreementEntry, Exchange, Role, TlpLevel};
use crate::pki::{ParticipantSpec, PkiSpec};
use crate::proto::v1::{
    AdvanceDeclaration, Delivery, Envelope, FetchRequest, Invalidation, MessageType, Receipt,
    ReferralResponse, RiskIndicatorRevocation, ScreeningResult, StatusRequest,
};
use crate::render::{
    code_name, describe_delivery, describe_head, describe_receipt, describe_refusal,
    describe_status, indicator_table, or_dash, outbox_table, plural,
};
use bytes::Bytes;
use clap::{ArgGroup, Parser, Subcommand, ValueEnum};
use prost::Message;
use std::path::{Path, PathBuf};
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
    ///
    /// Prints the receipt, whose message id is the declaration id that `status`, `amend` and
    /// `invalidate` take.
    Submit {
        /// Client configuration (TOML), as written by `aedgate pki init`.
        #[arg(long)]
        config: PathBuf,
        /// The declaration, as JSON.
        declaration: PathBuf,
        /// Also write the signed receipt to this file (JSON, docs/auditing.md), for
        /// `aedgate audit verify-receipt`.
        #[arg(long, value_name = "FILE")]
        receipt_out: Option<PathBuf>,
    },
    /// Replace a declaration's data (AMENDMENT): it is assessed afresh and gets a new outcome.
    Amend {
        /// Client configuration (TOML) of the partner that filed the declaration.
        #[arg(long)]
        config: PathBuf,
        /// The declaration id (its message id, from the receipt of `submit`).
        declaration_id: String,
        /// The full replacement declaration, as JSON; it must keep the LRN.
        declaration: PathBuf,
    },
    /// Withdraw a declaration (INVALIDATION), e.g. when the order was cancelled.
    Invalidate {
        /// Client configuration (TOML) of the partner that filed the declaration.
        #[arg(long)]
        config: PathBuf,
        /// The declaration id (its message id, from the receipt of `submit`).
        declaration_id: String,
        /// Why (1 to 512 characters); kept with the declaration.
        #[arg(long)]
        reason: String,
    },
    /// Print what the gateway delivered to this participant, each signature checked.
    ///
    /// A partner receives its outcomes; an internal participant everything its administration
    /// received or issued. Every envelope's signature is checked against the trust list, and
    /// the exit status is 1 when one fails.
    Fetch {
        /// Client configuration (TOML), as written by `aedgate pki init`.
        #[arg(long)]
        config: PathBuf,
        /// Only deliveries after this seq (the last one already processed).
        #[arg(long, value_name = "SEQ", default_value_t = 0)]
        after: u64,
        /// Keep the stream open and print new deliveries as they are committed.
        #[arg(long)]
        follow: bool,
    },
    /// Answer a referral (REQUEST_FOR_INFORMATION or REQUEST_FOR_SCREENING) of an outcome
    /// delivered to this partner.
    #[command(group(ArgGroup::new("answer").required(true).args(["information", "screening"])))]
    Respond {
        /// Client configuration (TOML) of the partner the outcome was delivered to.
        #[arg(long)]
        config: PathBuf,
        /// The referral id of the outcome, e.g. 26NL00000000000017-R1.
        referral_id: String,
        /// The information asked for by a request for information.
        #[arg(long)]
        information: Option<String>,
        /// The result of the screening asked for by a request for screening.
        #[arg(long, value_enum)]
        screening: Option<ScreeningArg>,
    },
    /// Ask the gateway for a declaration's state (its sender or an internal participant).
    Status {
        /// Client configuration (TOML), as written by `aedgate pki init`.
        #[arg(long)]
        config: PathBuf,
        /// The declaration id (its message id, from the receipt of `submit`).
        declaration_id: String,
    },
    /// Risk indicators (PROTOCOL.md §8), for an administration's internal participants such
    /// as its risk unit.
    Indicator {
        /// What to do.
        #[command(subcommand)]
        command: IndicatorCommand,
    },
    /// Messages for peer administrations (PROTOCOL.md §6), for the administration's
    /// internal participants: what is pending, delivered or dead-lettered.
    Outbox {
        /// What to do.
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// Check the gateway's verifiable audit log (PROTOCOL.md §9): receipts, tree heads and
    /// stored data. See docs/auditing.md.
    Audit {
        /// What to check.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Measure a gateway on the embedded store under realistic load over mutual TLS, unary
    /// and streaming, with two baselines measured in the same run: the cryptographic bound
    /// and a bare tonic echo. See docs/performance.md.
    Bench {
        /// Client connections, each its own TCP and TLS session.
        #[arg(long, default_value_t = 8)]
        connections: usize,
        /// Declarations in flight per connection.
        #[arg(long, default_value_t = 32)]
        in_flight: usize,
        /// Declarations per mode.
        #[arg(long, default_value_t = 20_000)]
        total: u64,
        /// Modes to run, in order.
        #[arg(long, value_enum, num_args = 1.., default_values_t = [crate::bench::Mode::Unary, crate::bench::Mode::Stream])]
        mode: Vec<crate::bench::Mode>,
        /// Risk indicators in force during the runs.
        #[arg(long, default_value_t = 10_000)]
        indicators: usize,
        /// Workload seed; the same seed gives the same declarations and indicators.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Skip the two baselines (faster; no ratios).
        #[arg(long)]
        no_baselines: bool,
        /// Also write the results as JSON to this file.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Measure a running gateway instead: a partner's client configuration (TOML) whose
        /// `endpoint` is the gateway. Its indicators are whatever it holds; the baselines
        /// still run here.
        #[arg(long, value_name = "CLIENT_TOML")]
        target: Option<PathBuf>,
    },
    /// Build a development federation in a temporary folder, start a gateway, publish risk
    /// indicators and file realistic declarations, printing what happened to each.
    Demo,
    /// Test a running gateway (aedgate or any other implementation) against PROTOCOL.md.
    ///
    /// Runs named, independent checks with the profile's test credentials and prints one
    /// line per check; see docs/conformance.md. Exit status 0 when every contract check
    /// passed (and, with --strict, every advisory one), 1 when one failed, 2 when the run
    /// could not start.
    Conformance {
        /// The gateway, as host:port (a name or address its server certificate carries).
        #[arg(long, value_name = "HOST:PORT", required_unless_present = "list")]
        target: Option<String>,
        /// Folder holding conformance.toml and the credentials it names (`aedgate pki init`
        /// writes one).
        #[arg(long, value_name = "DIR", required_unless_present = "list")]
        profile: Option<PathBuf>,
        /// Run only these checks: ids or id prefixes, comma-separated (ADM-08,LIFE).
        #[arg(long, value_delimiter = ',', value_name = "IDS")]
        only: Vec<String>,
        /// Leave out these checks: ids or id prefixes, comma-separated.
        #[arg(long, value_delimiter = ',', value_name = "IDS")]
        skip: Vec<String>,
        /// Also fail on advisory checks (aedgate's choices where the contract is silent).
        #[arg(long)]
        strict: bool,
        /// Write the results as JSON to this file.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Write the results as JUnit XML to this file.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// List the checks and exit, without connecting.
        #[arg(long)]
        list: bool,
    },
    /// Development PKI.
    Pki {
        /// What to do.
        #[command(subcommand)]
        command: PkiCommand,
    },
}

/// `aedgate indicator ...`.
#[derive(Debug, Subcommand)]
pub enum IndicatorCommand {
    /// Sign and publish an indicator (JSON, see docs/indicator-json.md).
    ///
    /// Publishing the same id with a higher version replaces it.
    Publish {
        /// Client configuration (TOML) of an internal participant, e.g.
        /// adm-NL-risk-unit.client.toml.
        #[arg(long)]
        config: PathBuf,
        /// The indicator, as JSON.
        indicator: PathBuf,
    },
    /// Revoke an indicator: it stops matching at once.
    Revoke {
        /// Client configuration (TOML) of an internal participant of the issuing
        /// administration.
        #[arg(long)]
        config: PathBuf,
        /// The indicator id.
        indicator_id: String,
        /// Why, for the analysts who receive the revocation (at most 500 characters).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// List the indicators in force, read back from the administration's log.
    ///
    /// The contract has no listing call: this reads the log with Fetch and folds every
    /// indicator and revocation it holds, in order. Expired indicators are marked.
    List {
        /// Client configuration (TOML) of an internal participant.
        #[arg(long)]
        config: PathBuf,
    },
}

/// `aedgate outbox ...`.
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List the outbox, oldest first: peer, message, state, attempts, last error, and for
    /// delivered messages the peer's verified receipt.
    List {
        /// Client configuration (TOML) of an internal participant of the administration.
        #[arg(long)]
        config: PathBuf,
        /// Only entries in this state.
        #[arg(long, value_enum)]
        state: Option<OutboxStateArg>,
    },
    /// Put a dead-lettered (or waiting) message back in its peer's queue, due now, with a
    /// fresh horizon.
    Retry {
        /// Client configuration (TOML) of an internal participant of the administration.
        #[arg(long)]
        config: PathBuf,
        /// The entry's id, from `outbox list`.
        id: u64,
    },
}

/// An outbox state as typed on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutboxStateArg {
    /// Not yet delivered.
    Pending,
    /// Delivered; the peer's receipt is stored.
    Delivered,
    /// Given up on; waits for `outbox retry`.
    Dead,
}

/// `aedgate audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Prove that a receipt's message is in the gateway's log: checks the receipt's
    /// signature, fetches a signed tree head and an inclusion proof, and verifies both
    /// against the trust list. Exit status 1 when any check fails.
    VerifyReceipt {
        /// Client configuration (TOML) of any participant that may connect to the gateway
        /// that issued the receipt.
        #[arg(long)]
        config: PathBuf,
        /// The receipt: JSON (as written by `submit --receipt-out`) or protobuf bytes.
        receipt: PathBuf,
        /// Also write the verified tree head to this file (JSON), e.g. to start `audit
        /// watch` from it or to give `verify-store --head`.
        #[arg(long, value_name = "FILE")]
        save_head: Option<PathBuf>,
    },
    /// Witness the gateway's log: fetch its signed tree head, prove it consistent with the
    /// last head seen (kept in the state file), and remember it. Exit status 1, and the
    /// state file left as it was, when the log was rolled back, forked or rewritten.
    Watch {
        /// Client configuration (TOML) of any participant that may connect to the gateway.
        #[arg(long)]
        config: PathBuf,
        /// Where the last verified head is kept (JSON); created on the first run.
        #[arg(long, value_name = "FILE")]
        state: PathBuf,
        /// Seconds between checks.
        #[arg(long, default_value_t = 60)]
        interval: u64,
        /// Check once and exit (for cron jobs and scripts).
        #[arg(long)]
        once: bool,
    },
    /// Recompute the whole log from a gateway's data folder, offline and read-only, and
    /// name the first entry that does not match. Exit status 1 on any mismatch.
    VerifyStore {
        /// The gateway's `data_dir`.
        data_dir: PathBuf,
        /// A signed tree head (JSON, e.g. a `watch` state file) whose root the stored log
        /// must give at its size; repeatable. Catches a rewrite that is consistent in
        /// itself.
        #[arg(long, value_name = "FILE")]
        head: Vec<PathBuf>,
    },
}

/// A screening result as typed on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScreeningArg {
    /// Screened and nothing found: the consignment may be loaded.
    Clear,
    /// Screening found a threat: the gateway answers with DO_NOT_LOAD.
    NotClear,
}

impl From<ScreeningArg> for ScreeningResult {
    fn from(arg: ScreeningArg) -> Self {
        match arg {
            ScreeningArg::Clear => ScreeningResult::Clear,
            ScreeningArg::NotClear => ScreeningResult::NotClear,
        }
    }
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
            receipt_out,
        } => submit(config, declaration, receipt_out).await,
        Command::Outbox { command } => match command {
            OutboxCommand::List { config, state } => outbox_list(&config, state).await,
            OutboxCommand::Retry { config, id } => outbox_retry(&config, id).await,
        },
        Command::Audit { command } => match command {
            AuditCommand::VerifyReceipt {
                config,
                receipt,
                save_head,
            } => audit_verify_receipt(&config, &receipt, save_head.as_deref()).await,
            AuditCommand::Watch {
                config,
                state,
                interval,
                once,
            } => audit_watch(&config, &state, interval, once).await,
            AuditCommand::VerifyStore { data_dir, head } => {
                audit_verify_store(&data_dir, &head).await
            }
        },
        Command::Amend {
            config,
            declaration_id,
            declaration,
        } => amend(&config, &declaration_id, &declaration).await,
        Command::Invalidate {
            config,
            declaration_id,
            reason,
        } => invalidate(&config, &declaration_id, reason).await,
        Command::Fetch {
            config,
            after,
            follow,
        } => fetch(&config, after, follow).await,
        Command::Respond {
            config,
            referral_id,
            information,
            screening,
        } => respond(&config, &referral_id, information, screening).await,
        Command::Status {
            config,
            declaration_id,
        } => status(&config, &declaration_id).await,
        Command::Indicator { command } => match command {
            IndicatorCommand::Publish { config, indicator } => {
                publish_indicator(&config, &indicator).await
            }
            IndicatorCommand::Revoke {
                config,
                indicator_id,
                reason,
            } => revoke_indicator(&config, indicator_id, reason).await,
            IndicatorCommand::List { config } => list_indicators(&config).await,
        },
        Command::Demo => crate::demo::run().await.map(|()| ExitCode::SUCCESS),
        Command::Bench {
            connections,
            in_flight,
            total,
            mode,
            indicators,
            seed,
            no_baselines,
            json,
            target,
        } => {
            let options = crate::bench::BenchOptions {
                connections,
                in_flight,
                total,
                modes: mode,
                indicators,
                seed,
                baselines: !no_baselines,
                target,
            };
            let report = crate::bench::run(options, progress_bar())
                .await
                .map_err(|e| e.to_string())?;
            print!("{}", crate::bench::describe(&report));
            if let Some(path) = json {
                crate::bench::write_json(&report, &path)?;
                println!("results written to {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Conformance {
            target,
            profile,
            only,
            skip,
            strict,
            json,
            junit,
            list,
        } => {
            conformance(ConformanceArgs {
                target,
                profile,
                selection: crate::conformance::Selection { only, skip },
                strict,
                json,
                junit,
                list,
            })
            .await
        }
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

fn load_client(config: &Path) -> Result<ClientConfig, String> {
    ClientConfig::load(config).map_err(|e| e.to_string())
}

/// Connects as the configured participant; also returns the trust list version, which
/// receipts are reported against.
async fn connect(config: &Path) -> Result<(Participant, u64), String> {
    let config = load_client(config)?;
    let trust_version = config.trust.version();
    let participant = Participant::connect(config)
        .await
        .map_err(|e| e.to_string())?;
    Ok((participant, trust_version))
}

fn read_declaration(path: &Path) -> Result<AdvanceDeclaration, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    crate::formats::declaration::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Submits one envelope and prints `label: receipt` (exit 0) or `label: refusal` (exit 1).
/// Returns the receipt, if any, for callers that print more.
async fn send(
    participant: &mut Participant,
    envelope: Envelope,
    label: &str,
    trust_version: u64,
    receipt_out: Option<&Path>,
) -> Result<(ExitCode, Option<Receipt>), String> {
    match participant.submit(envelope).await {
        Ok(receipt) => {
            // The evidence is on disk before anything is printed.
            if let Some(path) = receipt_out {
                write_file(path, &crate::formats::audit::receipt_to_json(&receipt))?;
            }
            println!("{label}: {}", describe_receipt(&receipt, trust_version));
            Ok((ExitCode::SUCCESS, Some(receipt)))
        }
        Err(ClientError::Refused(status)) => {
            println!("{label}: {}", describe_refusal(&status));
            Ok((ExitCode::from(1), None))
        }
        Err(other) => Err(other.to_string()),
    }
}

async fn submit(
    config: PathBuf,
    declaration: PathBuf,
    receipt_out: Option<PathBuf>,
) -> Result<ExitCode, String> {
    let decl = read_declaration(&declaration)?;
    let (mut participant, trust_version) = connect(&config).await?;
    let envelope = participant.seal_declaration(&decl);
    let label = format!("LRN {}", decl.lrn);
    let (code, receipt) = send(
        &mut participant,
        envelope,
        &label,
        trust_version,
        receipt_out.as_deref(),
    )
    .await?;
    if let (Some(_), Some(path)) = (&receipt, &receipt_out) {
        println!("Receipt written to {}", path.display());
    }
    if let Some(receipt) = receipt {
        // The receipt's message id is what every later command about this declaration
        // takes; say so, because an LRN is not accepted there.
        println!(
            "Declaration id {}: use it with `aedgate status`, `amend` and `invalidate`; its outcome arrives by `aedgate fetch`.",
            receipt.message_id
        );
    }
    Ok(code)
}

async fn amend(
    config: &Path,
    declaration_id: &str,
    declaration: &Path,
) -> Result<ExitCode, String> {
    let decl = read_declaration(declaration)?;
    let (mut participant, trust_version) = connect(config).await?;
    let envelope = participant.seal(
        MessageType::Amendment,
        Bytes::from(decl.encode_to_vec()),
        declaration_id,
    );
    let label = format!("Amendment of {declaration_id} (LRN {})", decl.lrn);
    let (code, receipt) = send(&mut participant, envelope, &label, trust_version, None).await?;
    if receipt.is_some() {
        println!(
            "The amended declaration is assessed afresh; its outcome arrives by `aedgate fetch`."
        );
    }
    Ok(code)
}

async fn invalidate(
    config: &Path,
    declaration_id: &str,
    reason: String,
) -> Result<ExitCode, String> {
    let (mut participant, trust_version) = connect(config).await?;
    let envelope = participant.seal(
        MessageType::Invalidation,
        Bytes::from(Invalidation { reason }.encode_to_vec()),
        declaration_id,
    );
    let label = format!("Invalidation of {declaration_id}");
    Ok(
        send(&mut participant, envelope, &label, trust_version, None)
            .await?
            .0,
    )
}

async fn publish_indicator(config: &Path, path: &Path) -> Result<ExitCode, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let indicator = crate::formats::indicator::from_json(&text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let (mut participant, trust_version) = connect(config).await?;
    let envelope = participant.seal(
        MessageType::RiskIndicator,
        Bytes::from(indicator.encode_to_vec()),
        "",
    );
    let label = format!(
        "Indicator {} v{}",
        indicator.indicator_id, indicator.version
    );
    Ok(
        send(&mut participant, envelope, &label, trust_version, None)
            .await?
            .0,
    )
}

async fn revoke_indicator(
    config: &Path,
    indicator_id: String,
    reason: String,
) -> Result<ExitCode, String> {
    let (mut participant, trust_version) = connect(config).await?;
    let label = format!("Revocation of indicator {indicator_id}");
    let revocation = RiskIndicatorRevocation {
        indicator_id,
        reason,
    };
    let envelope = participant.seal(
        MessageType::RiskIndicatorRevocation,
        Bytes::from(revocation.encode_to_vec()),
        "",
    );
    Ok(
        send(&mut participant, envelope, &label, trust_version, None)
            .await?
            .0,
    )
}

/// Checks and prints one delivery; returns whether it verified.
fn print_delivery(participant: &Participant, delivery: &Delivery, trust_version: u64) -> bool {
    let envelope = delivery.envelope.clone().unwrap_or_default();
    let check = check_delivery(participant.trust(), &participant.gateway, &envelope);
    // A blank line after each, so that deliveries read as separate records.
    println!("{}\n", describe_delivery(delivery, &check, trust_version));
    check.is_ok()
}

async fn fetch(config: &Path, after: u64, follow: bool) -> Result<ExitCode, String> {
    let (participant, trust_version) = connect(config).await?;
    let mut stream = participant
        .grpc()
        .fetch(FetchRequest {
            after_seq: after,
            follow,
        })
        .await
        .map_err(|status| format!("fetch refused: {}", ClientError::Refused(status)))?
        .into_inner();
    let (mut last, mut count, mut unverified) = (after, 0u64, 0u64);
    if follow {
        println!(
            "Following deliveries to {} after seq {after} (Ctrl-C to stop)",
            participant.id
        );
    }
    loop {
        let delivery = match stream.message().await {
            Ok(Some(delivery)) => delivery,
            Ok(None) => break,
            Err(status) => {
                return Err(format!(
                    "fetch stream ended after seq {last}: {}; resume with --after {last}",
                    ClientError::Refused(status)
                ))
            }
        };
        if !print_delivery(&participant, &delivery, trust_version) {
            unverified += 1;
        }
        last = delivery.seq;
        count += 1;
    }
    if count == 0 {
        println!("No deliveries to {} after seq {after}.", participant.id);
    } else {
        println!(
            "{} to {}; last seq {last} (next time: --after {last}).",
            plural(count, "delivery", "deliveries"),
            participant.id
        );
    }
    if unverified > 0 {
        println!(
            "{} failed the signature check: do not act on {}.",
            plural(unverified, "delivery", "deliveries"),
            if unverified == 1 { "it" } else { "them" }
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

async fn respond(
    config: &Path,
    referral_id: &str,
    information: Option<String>,
    screening: Option<ScreeningArg>,
) -> Result<ExitCode, String> {
    let (mut participant, trust_version) = connect(config).await?;
    let deliveries = participant
        .fetch_all(0)
        .await
        .map_err(|status| format!("fetch refused: {}", ClientError::Refused(status)))?;
    // The response names the OUTCOME that asked in its correlation id; the latest outcome
    // carrying the referral is that one (a referral id is issued once).
    let asked = deliveries
        .iter()
        .rev()
        .filter_map(|d| d.envelope.as_ref())
        .find_map(|envelope| {
            outcome_of(envelope)
                .filter(|o| o.referral_id == referral_id)
                .map(|o| (envelope, o))
        });
    let Some((envelope, outcome)) = asked else {
        return Err(format!(
            "no outcome delivered to {} carries referral {referral_id:?}; `aedgate fetch` lists them",
            participant.id
        ));
    };
    let outcome_id = envelope
        .header
        .as_ref()
        .map(|h| h.message_id.clone())
        .unwrap_or_default();
    let response = ReferralResponse {
        referral_id: referral_id.to_owned(),
        information: information.unwrap_or_default(),
        screening: screening.map_or(ScreeningResult::Unspecified, ScreeningResult::from) as i32,
    };
    let sealed = participant.seal(
        MessageType::ReferralResponse,
        Bytes::from(response.encode_to_vec()),
        &outcome_id,
    );
    let label = format!(
        "Response to referral {referral_id} ({} of LRN {}, MRN {})",
        code_name(outcome.code),
        outcome.lrn,
        outcome.mrn
    );
    let (code, receipt) = send(&mut participant, sealed, &label, trust_version, None).await?;
    if receipt.is_some() {
        println!(
            "The declaration is re-assessed; the next outcome arrives by `aedgate fetch`, its state by `aedgate status {}`.",
            outcome.declaration_id
        );
    }
    Ok(code)
}

async fn status(config: &Path, declaration_id: &str) -> Result<ExitCode, String> {
    let (participant, _) = connect(config).await?;
    match participant
        .grpc()
        .status(StatusRequest {
            declaration_id: declaration_id.to_owned(),
        })
        .await
    {
        Ok(response) => {
            println!("{}", describe_status(response.get_ref()));
            Ok(ExitCode::SUCCESS)
        }
        Err(status) => {
            println!(
                "Declaration {declaration_id}: {}",
                describe_refusal(&status)
            );
            Ok(ExitCode::from(1))
        }
    }
}

async fn list_indicators(config: &Path) -> Result<ExitCode, String> {
    let config = load_client(config)?;
    // Only internal participants read the administration's log; a partner's Fetch holds
    // its own outcomes only, and an empty list would wrongly suggest no indicators exist.
    let role = config
        .trust
        .participant(&config.participant)
        .map(|p| p.role);
    if role != Some(Role::Internal) {
        return Err(format!(
            "{} is not an internal participant: only an administration's internal participants (e.g. adm-NL-risk-unit.client.toml) can list indicators",
            config.participant
        ));
    }
    let participant = Participant::connect(config)
        .await
        .map_err(|e| e.to_string())?;
    let deliveries = participant
        .fetch_all(0)
        .await
        .map_err(|status| format!("fetch refused: {}", ClientError::Refused(status)))?;
    let held = fold_indicators(&deliveries, &participant.gateway);
    let now = crate::store::now_ms();
    let expired = held
        .values()
        .filter(|l| !crate::core::risk::in_force(&l.indicator, now))
        .count();
    print!("{}", indicator_table(&held, now));
    let in_force = held.len() - expired;
    println!(
        "In force at {}: {}{}; read from {}.",
        participant.gateway,
        plural(in_force as u64, "indicator", "indicators"),
        if expired > 0 {
            format!(" ({expired} more expired)")
        } else {
            String::new()
        },
        plural(deliveries.len() as u64, "log entry", "log entries")
    );
    Ok(ExitCode::SUCCESS)
}

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    // Write-then-rename, so that a crash never leaves half a head or receipt behind.
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn read_head_file(path: &Path) -> Result<crate::proto::v1::SignedTreeHead, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    crate::formats::audit::read_tree_head(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Exit status 1 with the reason when the gateway's evidence does not hold, 2 when it could
/// not be asked (unreachable, overloaded, not allowed): that is no verdict on the log.
fn audit_failure(error: ClientError) -> Result<ExitCode, String> {
    match classify(error) {
        Ok(problem) => {
            println!("NOT VERIFIED: {problem}");
            Ok(ExitCode::from(1))
        }
        Err(unreachable) => Err(unreachable),
    }
}

/// Splits audit failures into evidence that does not hold (`Ok`, the reason) and failures
/// to ask (`Err`). A gateway that cannot produce a proof for its own receipt or head (a
/// range or data-loss refusal) has failed to back its evidence; an unreachable one has not
/// said anything.
fn classify(error: ClientError) -> Result<String, String> {
    match error {
        ClientError::Audit(problem) => Ok(problem.to_string()),
        ClientError::BadReceipt(problem) => Ok(format!("receipt: {problem}")),
        ClientError::Refused(status)
            if matches!(
                status.code(),
                tonic::Code::InvalidArgument | tonic::Code::OutOfRange | tonic::Code::DataLoss
            ) =>
        {
            Ok(describe_refusal(&status))
        }
        other => Err(other.to_string()),
    }
}

async fn audit_verify_receipt(
    config: &Path,
    receipt_path: &Path,
    save_head: Option<&Path>,
) -> Result<ExitCode, String> {
    let bytes = std::fs::read(receipt_path)
        .map_err(|e| format!("cannot read {}: {e}", receipt_path.display()))?;
    let receipt = crate::formats::audit::read_receipt(&bytes)
        .map_err(|e| format!("{}: {e}", receipt_path.display()))?;
    let (participant, trust_version) = connect(config).await?;
    let head = match participant.prove_receipt(&receipt).await {
        Ok(head) => head,
        Err(error) => return audit_failure(error),
    };
    println!(
        "VERIFIED: message {} is entry {} of {}'s log\n  receipt          signed by {}, received at {}\n  {}\n  inclusion proof  verified; head signature verified against trust list v{trust_version}",
        receipt.message_id,
        receipt.log_index,
        receipt.receiver,
        receipt.signature.as_ref().map(|s| s.key_id.as_str()).unwrap_or("-"),
        format_ms(receipt.received_at_ms),
        describe_head(&head),
    );
    if let Some(path) = save_head {
        write_file(path, &crate::formats::audit::tree_head_to_json(&head))?;
        println!("  head written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

async fn audit_watch(
    config: &Path,
    state: &Path,
    interval: u64,
    once: bool,
) -> Result<ExitCode, String> {
    let (participant, _) = connect(config).await?;
    let mut last = if state.exists() {
        Some(read_head_file(state)?)
    } else {
        None
    };
    loop {
        // A head that fails to extend the last one is kept, signed, next to the state file:
        // with the state it is the evidence of a fork or rollback.
        let mut conflicting = None;
        let step = async {
            let (head, _) = participant.tree_head().await?;
            if let Some(earlier) = &last {
                conflicting = Some(head.clone());
                participant.check_extends(earlier, &head).await?;
            }
            Ok::<_, ClientError>(head)
        }
        .await;
        match step {
            Ok(head) => {
                let growth = match &last {
                    None => "first head seen".to_owned(),
                    Some(earlier) => format!(
                        "consistent with the last head (+{})",
                        plural(
                            head.tree_size.saturating_sub(earlier.tree_size),
                            "entry",
                            "entries"
                        )
                    ),
                };
                println!("OK: {}; {growth}", describe_head(&head));
                write_file(state, &crate::formats::audit::tree_head_to_json(&head))?;
                last = Some(head);
            }
            Err(error) => match classify(error) {
                Ok(problem) => {
                    println!("ALERT: the log of {} does not hold up", participant.gateway);
                    if let Some(earlier) = &last {
                        println!("  head in {}: {}", state.display(), describe_head(earlier));
                    }
                    if let Some(head) = conflicting {
                        let path = state.with_extension("conflict.json");
                        write_file(&path, &crate::formats::audit::tree_head_to_json(&head))?;
                        println!(
                            "  new head, kept in {}: {}",
                            path.display(),
                            describe_head(&head)
                        );
                    }
                    println!("NOT VERIFIED: {problem}");
                    return Ok(ExitCode::from(1));
                }
                Err(unreachable) if once => return Err(unreachable),
                Err(unreachable) => {
                    tracing::warn!(
                        "cannot check the log now ({unreachable}); retrying in {interval} s"
                    );
                }
            },
        }
        if once {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(std::time::Duration::from_secs(interval.max(1))).await;
    }
}

async fn audit_verify_store(data_dir: &Path, head_files: &[PathBuf]) -> Result<ExitCode, String> {
    use crate::store::{verify_store, ExpectedHead, LogVerdict};
    let mut heads = Vec::new();
    for path in head_files {
        let head = read_head_file(path)?;
        let root = crate::core::merkle::Hash::try_from(&head.root_hash[..])
            .map_err(|_| format!("{}: root_hash is not 32 bytes", path.display()))?;
        heads.push(ExpectedHead {
            size: head.tree_size,
            root,
        });
    }
    let verdict = verify_store(data_dir, &heads)
        .await
        .map_err(|e| e.to_string())?;
    match verdict {
        LogVerdict::Intact {
            size,
            root,
            heads_confirmed,
        } => {
            println!(
                "VERIFIED: {} recomputed from {}; root {}",
                plural(size, "entry", "entries"),
                data_dir.display(),
                hex::encode(root)
            );
            for size in heads_confirmed {
                println!("  matches the signed head of size {size}");
            }
            Ok(ExitCode::SUCCESS)
        }
        LogVerdict::EntryMismatch {
            log_index,
            message_id,
            problem,
        } => {
            println!(
                "MISMATCH at entry {log_index} (message id {}): {problem}",
                or_dash(&message_id)
            );
            Ok(ExitCode::from(1))
        }
        LogVerdict::HeadMismatch { size, recomputed } => {
            match recomputed {
                Some(root) => println!(
                    "MISMATCH: the stored log's first {} give root {}, not the signed head's: the log was rewritten",
                    plural(size, "entry", "entries"),
                    hex::encode(root)
                ),
                None => println!(
                    "MISMATCH: a signed head covers {} but the store holds fewer: entries were removed",
                    plural(size, "entry", "entries")
                ),
            }
            Ok(ExitCode::from(1))
        }
    }
}

fn outbox_client(
    participant: &Participant,
) -> crate::proto::aedgate::ops::v1::outbox_client::OutboxClient<tonic::transport::Channel> {
    crate::proto::aedgate::ops::v1::outbox_client::OutboxClient::new(participant.channel())
}

async fn outbox_list(config: &Path, state: Option<OutboxStateArg>) -> Result<ExitCode, String> {
    use crate::proto::aedgate::ops::v1::{OutboxListRequest, OutboxState};
    let (participant, _) = connect(config).await?;
    let state = match state {
        None => OutboxState::Unspecified,
        Some(OutboxStateArg::Pending) => OutboxState::Pending,
        Some(OutboxStateArg::Delivered) => OutboxState::Delivered,
        Some(OutboxStateArg::Dead) => OutboxState::DeadLettered,
    };
    let entries = outbox_client(&participant)
        .list(OutboxListRequest {
            state: state as i32,
        })
        .await
        .map_err(|status| ClientError::Refused(status).to_string())?
        .into_inner()
        .entries;
    print!("{}", outbox_table(&entries));
    // Dead letters need a person: say so in the exit status, for monitoring.
    Ok(
        if entries
            .iter()
            .any(|e| e.state == OutboxState::DeadLettered as i32)
        {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        },
    )
}

async fn outbox_retry(config: &Path, id: u64) -> Result<ExitCode, String> {
    use crate::proto::aedgate::ops::v1::OutboxRetryRequest;
    let (participant, _) = connect(config).await?;
    match outbox_client(&participant)
        .retry(OutboxRetryRequest { id })
        .await
    {
        Ok(_) => {
            println!("Outbox entry {id} is due now; `aedgate outbox list` shows how it goes.");
            Ok(ExitCode::SUCCESS)
        }
        Err(status) if status.code() == tonic::Code::NotFound => {
            println!("{}", describe_refusal(&status));
            Ok(ExitCode::from(1))
        }
        Err(status) => Err(ClientError::Refused(status).to_string()),
    }
}

/// A progress bar on stderr per phase of `aedgate bench` (hidden when stderr is not a
/// terminal).
fn progress_bar() -> crate::bench::Progress {
    let current: std::sync::Mutex<Option<(String, indicatif::ProgressBar)>> =
        std::sync::Mutex::new(None);
    std::sync::Arc::new(move |label: &str, done: u64, total: u64| {
        let Ok(mut current) = current.lock() else {
            return;
        };
        if current.as_ref().map(|(l, _)| l.as_str()) != Some(label) {
            if let Some((_, bar)) = current.take() {
                bar.finish_and_clear();
            }
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{prefix:>14} [{bar:40}] {pos}/{len} {per_sec} {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(label.to_owned());
            *current = Some((label.to_owned(), bar));
        }
        if let Some((_, bar)) = current.as_ref() {
            bar.set_length(total);
            bar.set_position(done.min(total));
        }
    })
}

struct ConformanceArgs {
    target: Option<String>,
    profile: Option<PathBuf>,
    selection: crate::conformance::Selection,
    strict: bool,
    json: Option<PathBuf>,
    junit: Option<PathBuf>,
    list: bool,
}

async fn conformance(args: ConformanceArgs) -> Result<ExitCode, String> {
    use crate::conformance::{checks, report, Basis};
    let unknown = args.selection.unknown_patterns();
    if !unknown.is_empty() {
        return Err(format!(
            "--only/--skip name no check: {} (see --list)",
            unknown.join(", ")
        ));
    }
    if args.list {
        for check in checks::all()
            .iter()
            .filter(|c| args.selection.selects(c.id))
        {
            let basis = match check.basis {
                Basis::Contract => "",
                Basis::Advisory => " (advisory)",
            };
            println!("{:<8} {:<6} {}{basis}", check.id, check.section, check.name);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(target), Some(profile_dir)) = (args.target, args.profile) else {
        return Err("--target and --profile are required to run checks".into());
    };
    let profile = crate::conformance::Profile::load(&profile_dir).map_err(|e| e.to_string())?;
    println!(
        "aedgate conformance: {} at {target}, profile {}",
        profile.target,
        profile_dir.display()
    );
    let report = crate::conformance::run(profile, &target, &args.selection, |result| {
        println!("{}", report::line(result))
    })
    .await
    .map_err(|e| e.to_string())?;
    println!("{}", report.totals());
    if let Some(path) = &args.json {
        std::fs::write(path, report.json())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(path) = &args.junit {
        let xml = report
            .junit_xml()
            .map_err(|e| format!("cannot write JUnit XML: {e}"))?;
        std::fs::write(path, xml).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(if report.failed(args.strict) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
