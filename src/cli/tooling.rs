//! The tooling around the protocol rather than in it: the development PKI, the demo, the
//! benchmark and the conformance kit. None of them is part of a federation's daily work;
//! each builds or measures one.

use super::exit::{CliError, Verdict};
use super::shared::read_text;
use crate::core::crypto::Algorithm;
use crate::core::trust::{AgreementEntry, Exchange, Role, TlpLevel};
use crate::pki::{ParticipantSpec, PkiSpec};
use clap::Args;
use std::path::PathBuf;

/// Measure a gateway on the embedded store under realistic load over mutual TLS, unary
/// and streaming, with two baselines measured in the same run: the cryptographic bound
/// and a bare tonic echo. See docs/performance.md.
#[derive(Debug, Args)]
pub(super) struct Bench {
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
    /// Skip the second run of each mode with the revenue policy switched off (the report
    /// then has no figure for what charging and the revenue checks cost).
    #[arg(long)]
    no_revenue_comparison: bool,
    /// Instead of the throughput runs: a quiet partner's latency alone and while another
    /// partner floods the gateway over `--connections` connections, with the default
    /// `[limits]` (`--total` is the quiet partner's Submits per phase).
    #[arg(long, conflicts_with = "target")]
    noisy_neighbour: bool,
    /// With `--noisy-neighbour`: envelopes per second the flooding partner sends, ignoring
    /// every refusal (the default is the flood of the hardening review; 0 sends as fast as
    /// it can).
    #[arg(long, default_value_t = 2_300)]
    flood_rate: u32,
    /// Instead of the throughput runs: SubmitStream on SQLite, on one PostgreSQL replica
    /// and on two, in one run, on fresh databases made on this server (a `postgres://`
    /// URL whose role may create databases) and dropped afterwards.
    #[arg(long, value_name = "URL", conflicts_with_all = ["target", "noisy_neighbour"])]
    store: Option<String>,
}

impl Bench {
    pub(super) async fn run(self) -> Result<Verdict, CliError> {
        let options = crate::bench::BenchOptions {
            connections: self.connections,
            in_flight: self.in_flight,
            total: self.total,
            modes: self.mode,
            indicators: self.indicators,
            seed: self.seed,
            baselines: !self.no_baselines,
            target: self.target,
            revenue_comparison: !self.no_revenue_comparison,
            flood_per_second: self.flood_rate,
        };
        if let Some(server) = &self.store {
            let report = crate::bench::stores::run(&options, server, &progress_bar()).await?;
            print!("{}", crate::bench::stores::describe(&report));
            if let Some(path) = self.json {
                crate::bench::write_json(&report, &path)?;
                println!("results written to {}", path.display());
            }
            return Ok(Verdict::Positive);
        }
        if self.noisy_neighbour {
            let report = crate::bench::neighbours::run(&options, &progress_bar()).await?;
            print!("{}", crate::bench::neighbours::describe(&report));
            if let Some(path) = self.json {
                crate::bench::write_json(&report, &path)?;
                println!("results written to {}", path.display());
            }
            return Ok(Verdict::Positive);
        }
        let report = crate::bench::run(options, progress_bar()).await?;
        print!("{}", crate::bench::describe(&report));
        if let Some(path) = self.json {
            crate::bench::write_json(&report, &path)?;
            println!("results written to {}", path.display());
        }
        Ok(Verdict::Positive)
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

/// Build a development federation in a temporary folder, start a gateway, publish risk
/// indicators and file realistic declarations, printing what happened to each.
#[derive(Debug, Args)]
pub(super) struct Demo;

impl Demo {
    pub(super) async fn run(self) -> Result<Verdict, CliError> {
        crate::demo::run().await.map_err(CliError::Demo)?;
        Ok(Verdict::Positive)
    }
}

/// Test a running gateway (aedgate or any other implementation) against PROTOCOL.md.
///
/// Runs named, independent checks with the profile's test credentials and prints one
/// line per check; see docs/conformance.md. Exit status 0 when every contract check
/// passed (and, with --strict, every advisory one), 1 when one failed, 2 when the run
/// could not start.
#[derive(Debug, Args)]
pub(super) struct Conformance {
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
}

impl Conformance {
    pub(super) async fn run(self) -> Result<Verdict, CliError> {
        use crate::conformance::{checks, report, Basis};
        let selection = crate::conformance::Selection {
            only: self.only,
            skip: self.skip,
        };
        let unknown = selection.unknown_patterns();
        if !unknown.is_empty() {
            return Err(CliError::Usage(format!(
                "--only/--skip name no check: {} (see --list)",
                unknown.join(", ")
            )));
        }
        if self.list {
            for check in checks::all().iter().filter(|c| selection.selects(c.id)) {
                let basis = match check.basis {
                    Basis::Contract => "",
                    Basis::Advisory => " (advisory)",
                };
                println!("{:<8} {:<6} {}{basis}", check.id, check.section, check.name);
            }
            return Ok(Verdict::Positive);
        }
        let (Some(target), Some(profile_dir)) = (self.target, self.profile) else {
            return Err(CliError::Usage(
                "--target and --profile are required to run checks".into(),
            ));
        };
        let profile = crate::conformance::Profile::load(&profile_dir)?;
        println!(
            "aedgate conformance: {} at {target}, profile {}",
            profile.target,
            profile_dir.display()
        );
        let report = crate::conformance::run(profile, &target, &selection, |result| {
            println!("{}", report::line(result))
        })
        .await?;
        println!("{}", report.totals());
        if let Some(path) = self.json {
            std::fs::write(&path, report.json())
                .map_err(|source| CliError::Write { path, source })?;
        }
        if let Some(path) = self.junit {
            let xml = report.junit_xml().map_err(CliError::Junit)?;
            std::fs::write(&path, xml).map_err(|source| CliError::Write { path, source })?;
        }
        Ok(Verdict::negative_if(report.failed(self.strict)))
    }
}

command_group! {
    /// Development PKI.
    Pki: PkiCommand {
        Init(PkiInit),
    }
}

/// Write a federation CA, TLS certificates, signing keys, operator key, signed trust list
/// and configuration files into a folder.
#[derive(Debug, Args)]
pub(super) struct PkiInit {
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
    /// Gateways per administration on one shared PostgreSQL database (PROTOCOL.md §13):
    /// writes `<adm>.replica-N.gateway.toml` for each, with a signing key of its own in
    /// the trust list, a data folder of its own, and ports 100 apart.
    #[arg(long, default_value_t = 1)]
    replicas: u32,
    /// The database the replicas share (`[store] url`).
    #[arg(long, value_name = "URL", default_value = crate::pki::DEFAULT_STORE_URL)]
    store: String,
    /// Overwrite an existing federation in the folder.
    #[arg(long)]
    force: bool,
}

impl PkiInit {
    async fn run(self) -> Result<Verdict, CliError> {
        let out = self.out.clone();
        let force = self.force;
        let spec = self.spec()?;
        let pki = crate::pki::generate(spec)?;
        pki.write(&out, force)?;
        println!(
            "Development federation {:?} written to {}",
            pki.spec.federation,
            out.display()
        );
        for name in pki.files.keys() {
            println!("  {name}");
        }
        println!("Private keys (*.key) are secrets: keep them out of version control.");
        Ok(Verdict::Positive)
    }

    /// The federation to make: the spec file or the standard one, with the flags added.
    fn spec(self) -> Result<PkiSpec, CliError> {
        let mut spec = match &self.spec {
            Some(path) => {
                toml::from_str::<PkiSpec>(&read_text(path)?).map_err(|source| CliError::Spec {
                    path: path.clone(),
                    source,
                })?
            }
            None if self.participants.is_empty() => PkiSpec::standard(),
            None => PkiSpec {
                participants: Vec::new(),
                agreements: Vec::new(),
                ..PkiSpec::standard()
            },
        };
        if let Some(f) = self.federation {
            spec.federation = f;
        }
        if let Some(h) = self.host {
            spec.host = h;
        }
        if self.replicas != 1 {
            spec.replicas = self.replicas;
        }
        if self.store != crate::pki::DEFAULT_STORE_URL {
            spec.store_url = self.store;
        }
        for text in self.participants {
            spec.participants.push(parse_participant(&text)?);
        }
        for id in self.ecdsa {
            let p = spec
                .participants
                .iter_mut()
                .find(|p| p.id == id)
                .ok_or_else(|| CliError::Usage(format!("--ecdsa {id}: no such participant")))?;
            p.algorithm = Algorithm::EcdsaP256Sha256;
        }
        for text in self.agreements {
            spec.agreements.push(parse_agreement(&text)?);
        }
        Ok(spec)
    }
}

/// `--participant ID:ROLE[:ADM+ADM...]`.
fn parse_participant(text: &str) -> Result<ParticipantSpec, CliError> {
    let mut parts = text.splitn(3, ':');
    let id = parts.next().unwrap_or_default().to_owned();
    let role = parse_role(parts.next().ok_or_else(|| {
        CliError::Usage(format!(
            "--participant {text:?}: expected ID:ROLE[:ADM+ADM]"
        ))
    })?)?;
    let registered_with = parts
        .next()
        .map(|list| {
            list.split('+')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(ParticipantSpec {
        id,
        role,
        name: String::new(),
        registered_with,
        algorithm: Algorithm::Ed25519,
        port: None,
    })
}

fn parse_role(text: &str) -> Result<Role, CliError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|_| {
        CliError::Usage(format!(
            "unknown role {text:?} (administration, platform, carrier, postal_operator, internal)"
        ))
    })
}

/// `--agreement ID:ADM+ADM:MAX_TLP[:personal_data]`.
fn parse_agreement(text: &str) -> Result<AgreementEntry, CliError> {
    let parts: Vec<&str> = text.split(':').collect();
    let (id, parties, tlp) = match parts.as_slice() {
        [id, parties, tlp] | [id, parties, tlp, _] => (*id, *parties, *tlp),
        _ => {
            return Err(CliError::Usage(format!(
                "--agreement {text:?}: expected ID:ADM+ADM:MAX_TLP[:personal_data]"
            )))
        }
    };
    let max_tlp: TlpLevel = serde_json::from_value(serde_json::Value::String(tlp.to_owned()))
        .map_err(|_| {
            CliError::Usage(format!(
                "--agreement {text:?}: unknown TLP {tlp:?} (clear, green, amber, amber_strict, red)"
            ))
        })?;
    Ok(AgreementEntry {
        id: id.to_owned(),
        parties: parties.split('+').map(str::to_owned).collect(),
        exchange: vec![Exchange::RiskIndicator, Exchange::ForwardedDeclaration],
        max_tlp,
        personal_data: parts.get(3) == Some(&"personal_data"),
    })
}
