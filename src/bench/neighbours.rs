//! `aedgate bench --noisy-neighbour`: does one partner's flood move another partner's
//! latency? (issue 15, item 5)
//!
//! A quiet partner submits one declaration at a time at a steady pace, first alone and
//! then while a second partner floods the gateway over several connections with as many
//! SubmitStreams as it can keep busy, ignoring every refusal. The gateway runs with the
//! default `[limits]`, as an operator's would. The figure that matters is the ratio of the
//! quiet partner's p99 with the flood to its p99 alone, both measured in the same run.
//!
//! The gateway runs in this process, but neither partner shares its runtime: each runs on
//! a thread and runtime of its own, as a partner's client runs on a machine of its own.
//! On the gateway's runtime, the flooder's sealing of 64 envelopes at a time would hold a
//! worker thread for milliseconds that the quiet partner's Submit then waits behind: a
//! delay of the benchmark's making, not the gateway's. Separate threads leave the sharing
//! of the cores to the operating system, which preempts; the CPU the flooder's client takes
//! still counts against the quiet partner, as it would for a gateway whose machine also
//! ran a partner's client (docs/performance.md).

use super::workload::{Rng, Workload};
use super::{client_config, federation, percentile, publish_indicators, start_gateway};
use super::{BenchError, BenchOptions, Progress};
use crate::client::{ClientError, Participant};
use crate::proto::v1::Envelope;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the quiet partner paces its Submits: a partner filing as parcels are booked.
const QUIET_PACE: Duration = Duration::from_millis(20);

/// Declarations in each of the flooder's SubmitStreams; it opens a new one as soon as one
/// is answered, two at a time per connection.
const FLOOD_BATCH: usize = 64;
const FLOOD_STREAMS_PER_CONNECTION: usize = 2;

/// Longest wait for the flood to pass its burst before the quiet partner measures.
const FLOOD_WARMUP: Duration = Duration::from_secs(40);

/// What a noisy-neighbour run measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NeighbourReport {
    /// Submits by the quiet partner in each phase.
    pub quiet_submits: u64,
    /// Flooder connections.
    pub flood_connections: usize,
    /// Envelopes per second the flooder offered (0: as fast as it could).
    pub flood_offered_per_second: u32,
    /// Quiet partner alone: p50 and p99, milliseconds.
    pub alone_p50_ms: f64,
    /// p99 alone.
    pub alone_p99_ms: f64,
    /// Quiet partner during the flood: p50, milliseconds.
    pub flooded_p50_ms: f64,
    /// p99 during the flood.
    pub flooded_p99_ms: f64,
    /// flooded p99 / alone p99: at most 2 is the target.
    pub p99_ratio: f64,
    /// Envelopes the flooder sent per second during the quiet partner's second phase.
    pub flood_sent_per_second: f64,
    /// Of those, accepted per second.
    pub flood_accepted_per_second: f64,
    /// Refused RATE_LIMITED (or over the open-calls limit) in all.
    pub flood_limited: u64,
}

#[derive(Default)]
struct FloodTally {
    sent: AtomicU64,
    accepted: AtomicU64,
    limited: AtomicU64,
}

/// Runs the two phases against a local gateway with the default limits.
pub async fn run(
    options: &BenchOptions,
    progress: &Progress,
) -> Result<NeighbourReport, BenchError> {
    let dir = federation()?;
    let workload = Arc::new(Workload::new(options.seed));
    let gateway = start_gateway(dir.path(), false).await?;
    let addr = gateway.local_addr();
    publish_indicators(dir.path(), addr, &workload, options, progress).await?;
    let quiet_config = || client_config(dir.path(), "ptr/NL/flyfast", addr);
    let submits = options.total.clamp(50, 5_000);

    let alone = quiet_phase(quiet_config()?, &workload, submits, "alone", progress).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(FloodTally::default());
    let connections = options.connections.max(1);
    let mut flood_configs = Vec::with_capacity(connections);
    for _ in 0..connections {
        flood_configs.push(client_config(dir.path(), "ptr/NL/shopco", addr)?);
    }
    let flood_rate = options.flood_per_second;
    let seed = options.seed;
    let flood_run = {
        let (workload, tally, stop) = (workload.clone(), tally.clone(), stop.clone());
        // Enough sealed for the flood to pass its burst and last through the quiet
        // partner's second phase.
        let preseal = FLOOD_WARMUP / 2 + QUIET_PACE * u32::try_from(submits).unwrap_or(5_000);
        tokio::spawn(on_own_thread("flooder", async move {
            flood_all(
                flood_configs,
                (flood_rate, preseal),
                seed,
                workload,
                tally,
                stop,
            )
            .await
        }))
    };
    // The quiet partner measures once the flood is in its steady state: past its burst
    // (refused at least once) if it exceeds the rate, or a few seconds in if not.
    let flood_started = Instant::now();
    while tally.limited.load(Ordering::Relaxed) == 0 && flood_started.elapsed() < FLOOD_WARMUP {
        if flood_run.is_finished() {
            stop.store(true, Ordering::Relaxed);
            return Err(flood_outcome(flood_run.await).err().unwrap_or_else(|| {
                BenchError::Setup("the flooder stopped before measuring".into())
            }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent_before = tally.sent.load(Ordering::Relaxed);
    let accepted_before = tally.accepted.load(Ordering::Relaxed);
    let started = Instant::now();
    let flooded = quiet_phase(quiet_config()?, &workload, submits, "flooded", progress).await;
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    let sent = tally.sent.load(Ordering::Relaxed) - sent_before;
    let accepted = tally.accepted.load(Ordering::Relaxed) - accepted_before;
    stop.store(true, Ordering::Relaxed);
    flood_outcome(flood_run.await)?;
    let flooded = flooded?;
    gateway
        .shutdown()
        .await
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let alone_p99 = percentile(&alone, 0.99);
    let flooded_p99 = percentile(&flooded, 0.99);
    Ok(NeighbourReport {
        quiet_submits: submits,
        flood_connections: connections,
        flood_offered_per_second: options.flood_per_second,
        alone_p50_ms: percentile(&alone, 0.50),
        alone_p99_ms: alone_p99,
        flooded_p50_ms: percentile(&flooded, 0.50),
        flooded_p99_ms: flooded_p99,
        p99_ratio: flooded_p99 / alone_p99.max(1e-9),
        flood_sent_per_second: sent as f64 / seconds,
        flood_accepted_per_second: accepted as f64 / seconds,
        flood_limited: tally.limited.load(Ordering::Relaxed),
    })
}

/// Runs `work` to completion on a thread and runtime of its own, so that neither it nor the
/// gateway's tasks wait for the other's turn on a worker thread.
async fn on_own_thread<T: Send + 'static>(
    name: &str,
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T, BenchError> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let outcome = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|runtime| runtime.block_on(work))
                .map_err(|e| BenchError::Setup(format!("runtime: {e}")));
            let _ = done.send(outcome);
        })
        .map_err(|e| BenchError::Setup(format!("thread: {e}")))?;
    result
        .await
        .map_err(|_| BenchError::Setup("a partner's thread ended without an answer".into()))?
}

/// The flooder's result, as the spawned task returned it.
fn flood_outcome(
    joined: Result<Result<Result<(), BenchError>, BenchError>, tokio::task::JoinError>,
) -> Result<(), BenchError> {
    joined.map_err(|e| BenchError::Setup(format!("flooder: {e}")))??
}

/// One phase of the quiet partner, on its own thread, over a connection of its own.
async fn quiet_phase(
    config: crate::config::ClientConfig,
    workload: &Arc<Workload>,
    submits: u64,
    phase: &'static str,
    progress: &Progress,
) -> Result<Vec<u32>, BenchError> {
    let (workload, progress) = (workload.clone(), progress.clone());
    on_own_thread("quiet partner", async move {
        let quiet = Participant::connect(config).await?;
        quiet_run(&quiet, &workload, submits, phase, &progress).await
    })
    .await?
}

/// The flooder: `configs.len()` connections, [`FLOOD_STREAMS_PER_CONNECTION`] loops on
/// each, together offering `rate` envelopes a second (0: as many as they can), until
/// `stop`.
async fn flood_all(
    configs: Vec<crate::config::ClientConfig>,
    (rate, preseal): (u32, Duration),
    seed: u64,
    workload: Arc<Workload>,
    tally: Arc<FloodTally>,
    stop: Arc<AtomicBool>,
) -> Result<(), BenchError> {
    let loops = configs.len() * FLOOD_STREAMS_PER_CONNECTION;
    // Each loop sends a batch every `period`, so that together they offer the flood rate.
    let period = match rate {
        0 => Duration::ZERO,
        rate => Duration::from_secs_f64((FLOOD_BATCH * loops) as f64 / f64::from(rate)),
    };
    let mut flooders = Vec::with_capacity(loops);
    for (c, config) in configs.into_iter().enumerate() {
        let client = Participant::connect(config).await?;
        for s in 0..FLOOD_STREAMS_PER_CONNECTION {
            // The loops take turns through the period, so the flood arrives evenly, as a
            // partner's steady traffic does, not in one clump per period.
            let turn = c * FLOOD_STREAMS_PER_CONNECTION + s;
            let offset = period.mul_f64(turn as f64 / loops as f64);
            // What the loop sends while the quiet partner measures is sealed beforehand: a
            // flooding partner seals on its own machine, not on the gateway's cores.
            let prefix = format!("FLOOD{c}S{s}");
            let mut rng = Rng::new(seed ^ ((c as u64) << 20) ^ s as u64);
            let mut n = 0;
            let batches = match period.is_zero() {
                true => 0,
                false => (preseal.as_secs_f64() / period.as_secs_f64()).ceil() as usize,
            };
            let mut sealer = client.clone();
            let sealed = (0..batches)
                .map(|_| seal_batch(&mut sealer, &workload, &mut rng, &prefix, &mut n))
                .collect();
            flooders.push((client.clone(), (offset, period), (rng, n, sealed), prefix));
        }
    }
    let flooders: Vec<_> = flooders
        .into_iter()
        .map(|(client, pace, pool, prefix)| {
            tokio::spawn(flood(
                client,
                workload.clone(),
                tally.clone(),
                stop.clone(),
                pace,
                pool,
                prefix,
            ))
        })
        .collect();
    for flooder in flooders {
        let _ = flooder.await;
    }
    Ok(())
}

/// The quiet partner: `submits` declarations, one at a time, one every [`QUIET_PACE`].
/// Latencies in microseconds, sorted.
async fn quiet_run(
    quiet: &Participant,
    workload: &Workload,
    submits: u64,
    phase: &str,
    progress: &Progress,
) -> Result<Vec<u32>, BenchError> {
    let mut client = quiet.clone();
    let mut rng = Rng::new(0x9e3779b9 ^ submits);
    let mut pace = tokio::time::interval(QUIET_PACE);
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut latencies = Vec::with_capacity(submits as usize);
    let label = format!("quiet partner, {phase}");
    for n in 0..submits {
        pace.tick().await;
        let declaration =
            workload.declaration(&mut rng, &format!("QUIET-{phase}-{n}"), "NL", false);
        let envelope = client.seal_declaration(&declaration);
        let sent = Instant::now();
        client.submit(envelope).await?;
        latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
        progress(&label, n + 1, submits);
    }
    latencies.sort_unstable();
    Ok(latencies)
}

/// One of the flooder's loops: SubmitStreams of [`FLOOD_BATCH`] declarations, back to back,
/// refusals ignored, until `stop`.
async fn flood(
    mut client: Participant,
    workload: Arc<Workload>,
    tally: Arc<FloodTally>,
    stop: Arc<AtomicBool>,
    (offset, period): (Duration, Duration),
    (mut rng, mut n, sealed): (Rng, u64, Vec<Vec<Envelope>>),
    prefix: String,
) {
    let mut sealed = sealed.into_iter();
    let mut pace = tokio::time::interval_at(
        tokio::time::Instant::now() + offset,
        period.max(Duration::from_micros(1)),
    );
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while !stop.load(Ordering::Relaxed) {
        if !period.is_zero() {
            pace.tick().await;
        }
        let batch = match sealed.next() {
            Some(batch) => batch,
            None => seal_batch(&mut client, &workload, &mut rng, &prefix, &mut n),
        };
        tally.sent.fetch_add(batch.len() as u64, Ordering::Relaxed);
        match client.submit_stream(batch).await {
            Ok(results) => {
                for result in results {
                    match result {
                        Ok(_) => tally.accepted.fetch_add(1, Ordering::Relaxed),
                        Err(_) => tally.limited.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }
            Err(ClientError::Refused(_)) => {
                tally
                    .limited
                    .fetch_add(FLOOD_BATCH as u64, Ordering::Relaxed);
            }
            Err(_) => return,
        }
    }
}

/// `FLOOD_BATCH` new declarations of the flooder, sealed.
fn seal_batch(
    client: &mut Participant,
    workload: &Workload,
    rng: &mut Rng,
    prefix: &str,
    n: &mut u64,
) -> Vec<Envelope> {
    (0..FLOOD_BATCH)
        .map(|_| {
            *n += 1;
            client.seal_declaration(&workload.declaration(
                rng,
                &format!("{prefix}-{n}"),
                "NL",
                false,
            ))
        })
        .collect()
}

/// The report's lines.
pub fn describe(report: &NeighbourReport) -> String {
    format!(
        "aedgate bench --noisy-neighbour: a quiet partner submits {} declarations one at a time every {} ms, alone and then while another partner floods over {} connections at {} envelopes/s (default [limits])\n\
         quiet alone:   p50 {:.1} ms, p99 {:.1} ms\n\
         quiet flooded: p50 {:.1} ms, p99 {:.1} ms\n\
         p99 flooded / alone: {:.2} (target: at most 2)\n\
         flood: {:.0} envelopes/s sent, {:.0}/s accepted, {} refused RATE_LIMITED\n",
        report.quiet_submits,
        QUIET_PACE.as_millis(),
        report.flood_connections,
        match report.flood_offered_per_second {
            0 => "as many".to_owned(),
            rate => rate.to_string(),
        },
        report.alone_p50_ms,
        report.alone_p99_ms,
        report.flooded_p50_ms,
        report.flooded_p99_ms,
        report.p99_ratio,
        report.flood_sent_per_second,
        report.flood_accepted_per_second,
        report.flood_limited,
    )
}
