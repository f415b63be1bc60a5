//! `aedgate bench`: how close a gateway comes to what this machine allows.
//!
//! Absolute rates mean little on a shared or unknown machine, so every run measures, in the
//! same process and moments apart, two baselines: the *cryptographic bound* (the signing
//! and verification one declaration needs end to end, in a tight loop on every core) and a
//! *bare echo* (a tonic unary call over the same mutual-TLS acceptor, doing nothing), and
//! reports the gateway's throughput as ratios to them. The load is realistic: declarations
//! of several items with varied countries, HS codes and sellers, assessed against
//! thousands of realistic indicators (`workload`), each sealed by the partner, verified,
//! validated, assessed, durably committed with its signed outcome and Merkle leaves, and
//! its receipt verified by the partner.

pub mod neighbours;
pub mod stores;
pub mod workload;

use crate::client::{ClientError, Participant};
use crate::config::{ClientConfig, GatewayConfig};
use crate::core::envelope::{
    envelope_signing_input, receipt_signing_input, sha256, sign_receipt, ReceiptFields,
};
use crate::pki::PkiSpec;
use crate::proto::v1::{Envelope, MessageType, Receipt, SubmitResult};
use crate::server::RunningGateway;
use bytes::Bytes;
use prost::Message;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workload::{Rng, Workload};

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Setting up the temporary federation or gateway failed.
    #[error("setup: {0}")]
    Setup(String),
    /// A client could not connect or the gateway stopped answering.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The gateway refused envelopes a conforming partner sends: the figures would be wrong.
    #[error("the gateway refused {refused} of {total} declarations (first: {first})")]
    Refused {
        /// How many.
        refused: u64,
        /// Of how many.
        total: u64,
        /// The first refusal.
        first: String,
    },
    /// The results could not be turned into JSON.
    #[error("{0}")]
    Serialize(serde_json::Error),
    /// The results file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// How a run submits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// One unary `Submit` per declaration.
    Unary,
    /// One `SubmitStream` per connection.
    Stream,
}

/// What to run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchOptions {
    /// Client connections (each its own TCP and TLS session).
    pub connections: usize,
    /// Declarations in flight per connection.
    pub in_flight: usize,
    /// Declarations per mode.
    pub total: u64,
    /// Modes to run, in order.
    pub modes: Vec<Mode>,
    /// Indicators in force (published before the runs).
    pub indicators: usize,
    /// Seed of the workload, so that runs compare.
    pub seed: u64,
    /// Measure the two baselines.
    pub baselines: bool,
    /// A running gateway to measure instead of a local one: the partner's client
    /// configuration (its `endpoint` says where). Its indicators are whatever it holds.
    pub target: Option<std::path::PathBuf>,
    /// Measure each mode again on the local gateway with its revenue policy switched off
    /// (§11), so that the report gives what charging and the revenue checks cost. The runs
    /// with the policy come first and are the headline figures.
    pub revenue_comparison: bool,
    /// `--noisy-neighbour` only: envelopes per second the flooding partner sends (0: as
    /// fast as it can).
    pub flood_per_second: u32,
}

/// One mode's figures.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunFigures {
    /// Which mode.
    pub mode: Mode,
    /// Whether the gateway charged and ran the revenue checks (§11) during the run: true
    /// for a local gateway's runs unless it is the comparison run without the policy.
    pub revenue: bool,
    /// Declarations acknowledged with a verified receipt.
    pub accepted: u64,
    /// Wall time of the run.
    pub seconds: f64,
    /// Accepted declarations per second.
    pub per_second: f64,
    /// Receipt latency percentiles, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Ratio to the cryptographic bound, if measured.
    pub vs_crypto_bound: Option<f64>,
    /// Ratio to the bare echo, if measured.
    pub vs_echo: Option<f64>,
    /// Share of all cores this process (gateway and load generator) kept busy during the
    /// run, where Linux's /proc tells. Well below 1.0, a serial stage limits throughput
    /// (today the store's writer); near 1.0, the CPU does.
    pub cpu_busy: Option<f64>,
}

/// Resident memory of this process (gateway and load generator together).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct MemoryFigures {
    /// Peak resident set size over the whole run (VmHWM), bytes.
    pub peak_rss_bytes: u64,
    /// Resident set size once a tenth of the first run was done, bytes.
    pub rss_after_warmup_bytes: u64,
    /// Resident set size at the end of the last run, bytes.
    pub rss_at_end_bytes: u64,
}

/// Everything a run measured; written as JSON with `--json`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchReport {
    /// The options.
    pub options: BenchOptions,
    /// Cores available to this process.
    pub cores: usize,
    /// One entry per mode.
    pub runs: Vec<RunFigures>,
    /// Declarations per second the signature work alone allows on every core.
    pub crypto_bound_per_second: Option<f64>,
    /// Bare tonic unary calls per second over the same mutual TLS, same connections and
    /// in-flight count.
    pub echo_per_second: Option<f64>,
    /// Memory.
    pub memory: MemoryFigures,
}

/// Reports progress (done, total) while a phase runs; the CLI draws a bar with it.
pub type Progress = Arc<dyn Fn(&str, u64, u64) + Send + Sync>;

/// A development federation in a temporary folder: the keys and certificates the local
/// gateway, the baselines and the load generator use.
pub(super) fn federation() -> Result<tempfile::TempDir, BenchError> {
    let setup = |e: &dyn std::fmt::Display| BenchError::Setup(e.to_string());
    let dir = tempfile::Builder::new()
        .prefix("aedgate-bench-")
        .tempdir()
        .map_err(|e| setup(&e))?;
    // No agreements: indicators published here must not queue for an absent peer.
    let mut spec = PkiSpec::standard();
    spec.agreements.clear();
    let pki = crate::pki::generate(spec).map_err(|e| setup(&e))?;
    pki.write(dir.path(), false).map_err(|e| setup(&e))?;
    Ok(dir)
}

/// Starts the federation's NL gateway on the embedded store, on a free port: what the runs
/// measure unless `--target` names another. The throughput runs lift the per-participant
/// envelope rate (`lift_rate`): they measure what the gateway can take from one partner,
/// which the default rate, made for sharing a gateway between partners, would cut.
pub(super) async fn start_gateway(
    dir: &Path,
    lift_rate: bool,
) -> Result<RunningGateway, BenchError> {
    start_gateway_on(dir, lift_rate, None).await
}

/// [`start_gateway`], on the PostgreSQL database `store` names with a data folder of its
/// own (`store`: the URL and the folder's name), or on SQLite in the configured data folder.
pub(super) async fn start_gateway_on(
    dir: &Path,
    lift_rate: bool,
    store: Option<(&str, &str)>,
) -> Result<RunningGateway, BenchError> {
    let setup = |e: &dyn std::fmt::Display| BenchError::Setup(e.to_string());
    let path = dir.join("adm-NL.gateway.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| setup(&e))?;
    std::fs::write(&path, text.replace("127.0.0.1:7443", "127.0.0.1:0")).map_err(|e| setup(&e))?;
    let mut config = GatewayConfig::load(&path).map_err(|e| setup(&e))?;
    if let Some((url, folder)) = store {
        config.store_url = Some(url.to_owned());
        config.data_dir = dir.join("data").join(folder);
    }
    if lift_rate {
        config.limits.envelopes_per_second = crate::config::MAX_ENVELOPES_PER_SECOND;
        config.limits.envelope_burst = crate::config::MAX_ENVELOPES_PER_SECOND;
    }
    crate::server::start(config).await.map_err(|e| setup(&e))
}

/// A participant's client configuration from the federation folder, pointed at `addr`.
pub(super) fn client_config(
    dir: &Path,
    participant: &str,
    addr: std::net::SocketAddr,
) -> Result<ClientConfig, BenchError> {
    let path = dir.join(format!(
        "{}.client.toml",
        crate::core::ids::slug(participant)
    ));
    let mut config = ClientConfig::load(&path).map_err(|e| BenchError::Setup(e.to_string()))?;
    config.endpoint = format!("https://{addr}");
    Ok(config)
}

/// CPU time this process has used, user and system, in seconds: fields 14 and 15 of
/// /proc/self/stat, in the kernel's fixed USER_HZ of 100 ticks a second. None where there
/// is no /proc.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may contain spaces; the fields after it start at 3.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / 100.0)
}

fn resident(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

pub(super) fn percentile(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((sorted_us.len() as f64) * p).ceil() as usize;
    f64::from(sorted_us[rank.clamp(1, sorted_us.len()) - 1]) / 1000.0
}

/// Cores available to this process: what the report states, what the cryptographic bound
/// runs on and what `cpu_busy` divides by.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs the benchmark against a gateway it starts on the embedded store.
pub async fn run(options: BenchOptions, progress: Progress) -> Result<BenchReport, BenchError> {
    let cores = cores();
    let dir = federation()?;
    let workload = Arc::new(Workload::new(options.seed));
    let (local, partner) = match &options.target {
        Some(path) => (None, path.clone()),
        None => {
            let gateway = start_gateway(dir.path(), true).await?;
            let addr = gateway.local_addr();
            publish_indicators(dir.path(), addr, &workload, &options, &progress).await?;
            // The partner's configuration, pointed at the local gateway.
            let partner = dir.path().join("ptr-NL-shopco.bench.toml");
            let text = std::fs::read_to_string(dir.path().join("ptr-NL-shopco.client.toml"))
                .map_err(|e| BenchError::Setup(e.to_string()))?;
            std::fs::write(&partner, format!("endpoint = \"https://{addr}\"\n{text}"))
                .map_err(|e| BenchError::Setup(e.to_string()))?;
            (Some(gateway), partner)
        }
    };
    let mut clients = Vec::with_capacity(options.connections);
    for _ in 0..options.connections.max(1) {
        let config = ClientConfig::load(&partner).map_err(|e| BenchError::Setup(e.to_string()))?;
        clients.push(Participant::connect(config).await?);
    }
    let mut memory = MemoryFigures::default();
    let mut runs = Vec::new();
    let policy = local
        .as_ref()
        .and_then(|gateway| gateway.state().store.revenue_policy());
    let mut run_number = 0_u64;
    for (n, mode) in options.modes.iter().enumerate() {
        let warmup = (n == 0).then_some(&mut memory.rss_after_warmup_bytes);
        let mut figures = load(
            &clients, *mode, &options, &workload, run_number, &progress, warmup,
        )
        .await?;
        run_number += 1;
        figures.revenue = policy.is_some() || local.is_none();
        runs.push(figures);
        if let (Some(gateway), Some(policy), true) = (&local, &policy, options.revenue_comparison) {
            // The same load with the policy off, then back on for the next mode.
            let store = &gateway.state().store;
            store.set_revenue_policy(None);
            let mut without = load(
                &clients, *mode, &options, &workload, run_number, &progress, None,
            )
            .await?;
            run_number += 1;
            store.set_revenue_policy(Some(policy.clone()));
            without.revenue = false;
            runs.push(without);
        }
    }
    memory.rss_at_end_bytes = resident("VmRSS:");
    memory.peak_rss_bytes = resident("VmHWM:");
    drop(clients);
    if let Some(gateway) = local {
        gateway
            .shutdown()
            .await
            .map_err(|e| BenchError::Setup(e.to_string()))?;
    }
    let (crypto, echo) = if options.baselines {
        progress("crypto bound", 0, 1);
        let crypto = crypto_bound(dir.path(), Duration::from_secs(3))?;
        let echo = echo_baseline(dir.path(), &options, &progress).await?;
        (Some(crypto), Some(echo))
    } else {
        (None, None)
    };
    for run in &mut runs {
        run.vs_crypto_bound = crypto.map(|c| run.per_second / c);
        run.vs_echo = echo.map(|e| run.per_second / e);
    }
    Ok(BenchReport {
        options,
        cores,
        runs,
        crypto_bound_per_second: crypto,
        echo_per_second: echo,
        memory,
    })
}

/// The risk unit publishes the indicator set over one SubmitStream.
pub(super) async fn publish_indicators(
    dir: &Path,
    addr: std::net::SocketAddr,
    workload: &Workload,
    options: &BenchOptions,
    progress: &Progress,
) -> Result<(), BenchError> {
    if options.indicators == 0 {
        return Ok(());
    }
    let mut risk_unit = Participant::connect(client_config(dir, "adm/NL/risk-unit", addr)?).await?;
    let mut rng = Rng::new(options.seed ^ 0x1d1c);
    let indicators = workload.indicators(&mut rng, options.indicators, crate::clock::now_ms());
    let total = indicators.len() as u64;
    for (n, chunk) in indicators.chunks(1000).enumerate() {
        let envelopes: Vec<Envelope> = chunk
            .iter()
            .map(|i| {
                risk_unit.seal(
                    MessageType::RiskIndicator,
                    Bytes::from(i.encode_to_vec()),
                    "",
                )
            })
            .collect();
        let results = risk_unit.submit_stream(envelopes).await?;
        if let Some(Err(first)) = results.iter().find(|r| r.is_err()) {
            return Err(BenchError::Refused {
                refused: results.iter().filter(|r| r.is_err()).count() as u64,
                total,
                first: first.to_string(),
            });
        }
        progress("indicators", (n as u64 + 1) * 1000, total);
    }
    Ok(())
}

/// Shared bookkeeping of one run.
#[derive(Default)]
struct Tally {
    next: AtomicU64,
    done: AtomicU64,
    refused: AtomicU64,
    first_refusal: Mutex<Option<String>>,
}

impl Tally {
    fn refuse(&self, why: String) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_refusal.lock() {
            first.get_or_insert(why);
        }
    }
}

pub(super) async fn load(
    clients: &[Participant],
    mode: Mode,
    options: &BenchOptions,
    workload: &Arc<Workload>,
    run: u64,
    progress: &Progress,
    warmup_rss: Option<&mut u64>,
) -> Result<RunFigures, BenchError> {
    let tally = Arc::new(Tally::default());
    let label = match mode {
        Mode::Unary => "unary Submit",
        Mode::Stream => "SubmitStream",
    };
    let start = Instant::now();
    let cpu_at_start = process_cpu_seconds();
    let mut tasks = Vec::new();
    for (c, client) in clients.iter().enumerate() {
        match mode {
            Mode::Unary => {
                for slot in 0..options.in_flight.max(1) {
                    let seed = options.seed ^ (run << 40) ^ ((c as u64) << 20) ^ slot as u64;
                    tasks.push(tokio::spawn(unary_worker(
                        client.clone(),
                        workload.clone(),
                        tally.clone(),
                        options.total,
                        seed,
                        format!("B{run}C{c}S{slot}"),
                    )));
                }
            }
            Mode::Stream => {
                let seed = options.seed ^ (run << 40) ^ ((c as u64) << 20);
                tasks.push(tokio::spawn(stream_worker(
                    client.clone(),
                    workload.clone(),
                    tally.clone(),
                    options.total,
                    options.in_flight.max(1),
                    seed,
                    format!("B{run}C{c}"),
                )));
            }
        }
    }
    // Progress (and the memory sample after a tenth) while the workers run.
    let watcher = {
        let tally = tally.clone();
        let progress = progress.clone();
        let total = options.total;
        tokio::spawn(async move {
            let mut warm = 0;
            loop {
                let done = tally.done.load(Ordering::Relaxed);
                progress(label, done, total);
                if warm == 0 && done >= total / 10 {
                    warm = resident("VmRSS:");
                }
                if done >= total {
                    return warm;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let mut latencies: Vec<u32> = Vec::with_capacity(options.total as usize);
    for task in tasks {
        match task.await {
            Ok(Ok(mut part)) => latencies.append(&mut part),
            Ok(Err(error)) => {
                watcher.abort();
                return Err(error);
            }
            Err(join) => {
                watcher.abort();
                return Err(BenchError::Setup(format!("load task failed: {join}")));
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu_busy = cpu_at_start
        .zip(process_cpu_seconds())
        .map(|(before, after)| (after - before) / (seconds.max(1e-9) * cores() as f64));
    tally.done.store(options.total, Ordering::Relaxed);
    let warm = watcher.await.unwrap_or(0);
    if let Some(slot) = warmup_rss {
        *slot = warm;
    }
    let refused = tally.refused.load(Ordering::Relaxed);
    if refused > 0 {
        return Err(BenchError::Refused {
            refused,
            total: options.total,
            first: tally
                .first_refusal
                .lock()
                .ok()
                .and_then(|f| f.clone())
                .unwrap_or_default(),
        });
    }
    latencies.sort_unstable();
    let accepted = latencies.len() as u64;
    Ok(RunFigures {
        mode,
        revenue: true,
        accepted,
        seconds,
        per_second: accepted as f64 / seconds.max(1e-9),
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        p999_ms: percentile(&latencies, 0.999),
        vs_crypto_bound: None,
        vs_echo: None,
        cpu_busy,
    })
}

fn micros(since: Instant) -> u32 {
    u32::try_from(since.elapsed().as_micros()).unwrap_or(u32::MAX)
}

/// Submits declarations one at a time until the run's total is taken.
async fn unary_worker(
    mut client: Participant,
    workload: Arc<Workload>,
    tally: Arc<Tally>,
    total: u64,
    seed: u64,
    prefix: String,
) -> Result<Vec<u32>, BenchError> {
    let mut rng = Rng::new(seed);
    let mut latencies = Vec::new();
    loop {
        let n = tally.next.fetch_add(1, Ordering::Relaxed);
        if n >= total {
            return Ok(latencies);
        }
        let declaration = workload.declaration(&mut rng, &format!("{prefix}-{n}"), "NL", false);
        let envelope = client.seal_declaration(&declaration);
        let sent = Instant::now();
        match client.submit(envelope).await {
            Ok(_) => latencies.push(micros(sent)),
            Err(ClientError::Refused(status)) => tally.refuse(status.message().to_owned()),
            Err(ClientError::BadReceipt(problem)) => tally.refuse(problem.to_string()),
            Err(other) => return Err(other.into()),
        }
        tally.done.fetch_add(1, Ordering::Relaxed);
    }
}

/// Keeps `window` declarations in flight on one SubmitStream; results come back in order.
async fn stream_worker(
    client: Participant,
    workload: Arc<Workload>,
    tally: Arc<Tally>,
    total: u64,
    window: usize,
    seed: u64,
    prefix: String,
) -> Result<Vec<u32>, BenchError> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Envelope>(window);
    let in_flight: Arc<Mutex<VecDeque<(Instant, Envelope)>>> = Arc::default();
    let permits = Arc::new(tokio::sync::Semaphore::new(window));
    let mut inbound = client
        .grpc()
        .submit_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .map_err(ClientError::Refused)?
        .into_inner();
    let producer = {
        let client = client.clone();
        let tally = tally.clone();
        let in_flight = in_flight.clone();
        let permits = permits.clone();
        tokio::spawn(async move {
            let mut rng = Rng::new(seed);
            loop {
                let Ok(permit) = permits.acquire().await else {
                    return;
                };
                permit.forget();
                let n = tally.next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return;
                }
                let declaration =
                    workload.declaration(&mut rng, &format!("{prefix}-{n}"), "NL", false);
                let envelope = client.seal_declaration(&declaration);
                if let Ok(mut queue) = in_flight.lock() {
                    queue.push_back((Instant::now(), envelope.clone()));
                }
                if tx.send(envelope).await.is_err() {
                    return;
                }
            }
        })
    };
    let mut latencies = Vec::new();
    loop {
        let next: Option<SubmitResult> = match inbound.message().await {
            Ok(next) => next,
            Err(status) => {
                producer.abort();
                return Err(ClientError::Refused(status).into());
            }
        };
        let Some(result) = next else {
            break;
        };
        let sent = in_flight.lock().ok().and_then(|mut q| q.pop_front());
        let Some((sent, envelope)) = sent else {
            break;
        };
        match result.result {
            Some(crate::proto::v1::submit_result::Result::Receipt(receipt)) => {
                match client.check_receipt(&envelope, &receipt) {
                    Ok(()) => latencies.push(micros(sent)),
                    Err(problem) => tally.refuse(problem.to_string()),
                }
            }
            Some(crate::proto::v1::submit_result::Result::Error(status)) => {
                tally.refuse(status.message)
            }
            None => tally.refuse("empty result".into()),
        }
        tally.done.fetch_add(1, Ordering::Relaxed);
        permits.add_permits(1);
    }
    producer.abort();
    Ok(latencies)
}

/// The signature work one declaration needs end to end — partner signs, gateway verifies,
/// gateway signs the receipt and the outcome, partner verifies the receipt — in a tight
/// loop on every core, for `duration`. Declarations per second.
fn crypto_bound(pki_dir: &Path, duration: Duration) -> Result<f64, BenchError> {
    let load = |name: &str| -> Result<crate::core::crypto::SigningKey, BenchError> {
        let pem =
            std::fs::read(pki_dir.join(name)).map_err(|e| BenchError::Setup(e.to_string()))?;
        crate::core::crypto::SigningKey::from_pem(&pem)
            .map_err(|e| BenchError::Setup(e.to_string()))
    };
    let threads = cores();
    let mut handles = Vec::new();
    for _ in 0..threads {
        let partner = load("ptr-NL-shopco.sign.key")?;
        let gateway = load("adm-NL.sign.key")?;
        handles.push(std::thread::spawn(move || {
            let partner_public = partner.verifying_key();
            let gateway_public = gateway.verifying_key();
            let payload = crate::core::validation::sample_declaration("BOUND").encode_to_vec();
            let start = Instant::now();
            let mut n = 0u64;
            while start.elapsed() < duration {
                let header = crate::proto::v1::Header {
                    message_id: "0192f3a4-5b6c-7d8e-9f01-23456789abcd".into(),
                    sender: "ptr/NL/shopco".into(),
                    recipient: "adm/NL".into(),
                    r#type: MessageType::Declaration as i32,
                    created_at_ms: n as i64,
                    correlation_id: String::new(),
                    payload_sha256: Bytes::copy_from_slice(&sha256(&payload)),
                };
                let input = envelope_signing_input(&header);
                let signature = partner.sign(&input);
                let verified = partner_public.verify(&input, &signature);
                let digest = sha256(&input);
                let fields = ReceiptFields {
                    message_id: &header.message_id,
                    receiver: "adm/NL",
                    received_at_ms: 1,
                    envelope_digest: &digest,
                    disposition: 1,
                    log_index: n,
                };
                let receipt: Receipt = sign_receipt(&fields, &gateway, "k");
                let outcome = gateway.sign(&input);
                let receipt_ok = receipt.signature.as_ref().is_some_and(|s| {
                    gateway_public.verify(&receipt_signing_input(&fields), &s.value)
                });
                std::hint::black_box((verified, outcome, receipt_ok));
                n += 1;
            }
            n as f64 / start.elapsed().as_secs_f64()
        }));
    }
    Ok(handles.into_iter().map(|h| h.join().unwrap_or(0.0)).sum())
}

/// A Gateway whose `Submit` answers at once with an empty receipt: tonic and the mutual-TLS
/// acceptor, nothing else.
struct Echo;

#[tonic::async_trait]
impl crate::proto::v1::gateway_server::Gateway for Echo {
    async fn submit(
        &self,
        _request: tonic::Request<Envelope>,
    ) -> Result<tonic::Response<Receipt>, tonic::Status> {
        Ok(tonic::Response::new(Receipt::default()))
    }
}

/// Bare unary calls per second over the same acceptor, TLS settings, connections and
/// in-flight count, with the same client-side sealing of realistic declarations.
async fn echo_baseline(
    dir: &Path,
    options: &BenchOptions,
    progress: &Progress,
) -> Result<f64, BenchError> {
    let setup = |e: &dyn std::fmt::Display| BenchError::Setup(e.to_string());
    let config = GatewayConfig::load(&dir.join("adm-NL.gateway.toml")).map_err(|e| setup(&e))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| setup(&e))?;
    let addr = listener.local_addr().map_err(|e| setup(&e))?;
    let federation = config.trust_source.federation.clone();
    let tls = crate::tls::server_config(&config.identity, &config.trust, &federation, &config.tls)
        .map_err(|e| setup(&e))?;
    let (_keep, tls_rx) = tokio::sync::watch::channel(tls);
    let incoming = tokio_stream::wrappers::ReceiverStream::new(crate::tls::accept_loop(
        listener,
        tls_rx,
        federation.clone(),
        config.tls.handshake_timeout,
        crate::limits::ParticipantLimits::new(config.limits.clone()),
        std::sync::Arc::default(),
    ));
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(crate::proto::v1::gateway_server::GatewayServer::new(Echo))
            .serve_with_incoming(incoming),
    );
    let workload = Arc::new(Workload::new(options.seed));
    let tally = Arc::new(Tally::default());
    let total = options.total;
    let mut tasks = Vec::new();
    let start = Instant::now();
    for c in 0..options.connections.max(1) {
        // Its own connection to the echo server, like each client of the gateway runs.
        let sealer = Participant::connect(client_config(dir, "ptr/NL/shopco", addr)?).await?;
        for slot in 0..options.in_flight.max(1) {
            let mut grpc = sealer.grpc();
            let tally = tally.clone();
            let workload = workload.clone();
            let sealer = sealer.clone();
            let seed = options.seed ^ ((c as u64) << 20) ^ slot as u64;
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng::new(seed);
                loop {
                    let n = tally.next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        return Ok::<(), ClientError>(());
                    }
                    let declaration =
                        workload.declaration(&mut rng, &format!("ECHO-{n}"), "NL", false);
                    let envelope = sealer.seal_declaration(&declaration);
                    grpc.submit(envelope).await.map_err(ClientError::Refused)?;
                    tally.done.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
    }
    for task in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                server.abort();
                return Err(error.into());
            }
            Err(join) => {
                server.abort();
                return Err(setup(&join));
            }
        }
        progress("echo", tally.done.load(Ordering::Relaxed), total);
    }
    let rate = total as f64 / start.elapsed().as_secs_f64().max(1e-9);
    server.abort();
    Ok(rate)
}

/// The report as a person reads it.
pub fn describe(report: &BenchReport) -> String {
    use std::fmt::Write as _;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let o = &report.options;
    let mut out = String::new();
    let (target, indicators) = match &o.target {
        Some(path) => (
            format!("the gateway of {}", path.display()),
            "the indicators it holds".to_owned(),
        ),
        None => (
            "a local gateway".to_owned(),
            format!("{} indicators", o.indicators),
        ),
    };
    let _ = writeln!(
        out,
        "aedgate bench: {} connections x {} in flight, {} declarations per mode, {indicators} in force, {} cores, against {target}",
        o.connections, o.in_flight, o.total, report.cores
    );
    let _ = writeln!(
        out,
        "{:<8} {:>9} {:>8} {:>9} {:>8} {:>8} {:>8} {:>10} {:>8} {:>5}",
        "mode",
        "accepted",
        "seconds",
        "decl/s",
        "p50 ms",
        "p99 ms",
        "p999 ms",
        "vs crypto",
        "vs echo",
        "cpu"
    );
    let ratio = |r: Option<f64>| r.map(|r| format!("{r:.2}")).unwrap_or_else(|| "-".into());
    for run in &report.runs {
        let mode = match (run.mode, run.revenue) {
            (Mode::Unary, true) => "unary",
            (Mode::Stream, true) => "stream",
            (Mode::Unary, false) => "unary-0",
            (Mode::Stream, false) => "stream-0",
        };
        let _ = writeln!(
            out,
            "{:<8} {:>9} {:>8.2} {:>9.0} {:>8.1} {:>8.1} {:>8.1} {:>10} {:>8} {:>5}",
            mode,
            run.accepted,
            run.seconds,
            run.per_second,
            run.p50_ms,
            run.p99_ms,
            run.p999_ms,
            ratio(run.vs_crypto_bound),
            ratio(run.vs_echo),
            run.cpu_busy
                .map(|busy| format!("{:.0}%", busy * 100.0))
                .unwrap_or_else(|| "-".into())
        );
    }
    for (mode, with, without) in revenue_costs(report) {
        let _ = writeln!(
            out,
            "revenue policy ({mode}): {with:.0} decl/s with charges and checks R1-R5, {without:.0} without (the -0 row): {:.2} of the throughput without ({:+.1}%)",
            with / without,
            (with / without - 1.0) * 100.0
        );
    }
    if let (Some(crypto), Some(echo)) = (report.crypto_bound_per_second, report.echo_per_second) {
        let _ = writeln!(
            out,
            "baselines: cryptographic bound {crypto:.0} declarations/s (partner sign, gateway verify, receipt and outcome sign, receipt verify; all cores); bare tonic echo {echo:.0} calls/s (same mutual TLS, connections and in-flight count)"
        );
    }
    let m = &report.memory;
    let _ = writeln!(
        out,
        "memory (gateway and load generator in one process): peak RSS {:.0} MiB; RSS after a tenth of the first run {:.0} MiB, at the end {:.0} MiB",
        mib(m.peak_rss_bytes),
        mib(m.rss_after_warmup_bytes),
        mib(m.rss_at_end_bytes)
    );
    out
}

/// Each mode measured with and without the revenue policy: (mode, with, without), in
/// declarations per second.
pub fn revenue_costs(report: &BenchReport) -> Vec<(&'static str, f64, f64)> {
    let mut costs = Vec::new();
    for pair in report.runs.windows(2) {
        let (with, without) = (&pair[0], &pair[1]);
        if with.mode == without.mode && with.revenue && !without.revenue && without.per_second > 0.0
        {
            let mode = match with.mode {
                Mode::Unary => "unary",
                Mode::Stream => "stream",
            };
            costs.push((mode, with.per_second, without.per_second));
        }
    }
    costs
}

/// Writes the report as JSON.
///
/// # Errors
///
/// [`BenchError::Write`] when the file cannot be written.
pub fn write_json<R: serde::Serialize>(report: &R, path: &Path) -> Result<(), BenchError> {
    let text = serde_json::to_string_pretty(report).map_err(BenchError::Serialize)?;
    std::fs::write(path, text + "\n").map_err(|source| BenchError::Write {
        path: path.to_owned(),
        source,
    })
}
