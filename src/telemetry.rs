//! One place where the gateway counts and times what it does: the service reports what
//! became of each envelope, the store's writer its commits, the TLS acceptor its
//! handshakes, the forwarder its deliveries.
//!
//! Operators need these figures (and the metrics work will export them); until now they
//! were scattered counters that only tests read. Every layer reports to a [`Telemetry`]
//! handed to it at start, one per gateway, so two gateways in one process (the demo, the
//! tests, the benchmark) never mix their figures, which a process-wide metrics registry
//! would. An exporter reads [`Telemetry::counters`] and [`Telemetry::timing`]; no caller
//! changes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

/// What is counted. Each count has a label ("" where none applies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Counter {
    /// Envelopes accepted and stored (not duplicates). No label.
    Accepted,
    /// Byte-identical resends answered DUPLICATE. No label.
    Duplicates,
    /// Envelopes refused; label: §3's reason code. The only trace a refusal leaves.
    Rejected,
    /// Group transactions committed by the store's writer. No label.
    Commits,
    /// Group transactions rolled back (nothing acknowledged). No label.
    CommitFailures,
    /// TLS handshakes that ended with an identified peer. No label.
    Handshakes,
    /// Connections dropped during the handshake; label: `failed`, `timed_out` or
    /// `unidentified` (a certificate without the federation's SPIFFE id).
    HandshakeFailures,
    /// Messages delivered to a peer administration, receipt verified; label: the peer.
    Forwarded,
    /// Failed delivery attempts; label: the peer.
    ForwardFailures,
    /// Messages given up on (dead-lettered); label: the peer.
    DeadLettered,
}

/// What is timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// From opening a group's transaction to its durable commit.
    GroupCommit,
}

/// How long something took, over all its occurrences.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timing {
    /// Occurrences.
    pub count: u64,
    /// Their total duration.
    pub total: Duration,
    /// The longest one.
    pub max: Duration,
}

/// The figures of one gateway. Cheap to share behind an `Arc`; reporting takes one
/// uncontended lock, nothing next to a signature check.
#[derive(Debug, Default)]
pub struct Telemetry {
    counters: Mutex<HashMap<Counter, BTreeMap<String, u64>>>,
    timers: Mutex<HashMap<Timer, Timing>>,
}

impl Telemetry {
    /// Counts one occurrence.
    pub fn count(&self, counter: Counter, label: &str) {
        self.add(counter, label, 1);
    }

    /// Counts `n` occurrences.
    pub fn add(&self, counter: Counter, label: &str, n: u64) {
        // A poisoned lock means a reporter panicked mid-update: keep counting anyway.
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let by_label = counters.entry(counter).or_default();
        match by_label.get_mut(label) {
            Some(value) => *value = value.saturating_add(n),
            None => {
                by_label.insert(label.to_owned(), n);
            }
        }
    }

    /// Records how long one occurrence took.
    pub fn time(&self, timer: Timer, elapsed: Duration) {
        let mut timers = self.timers.lock().unwrap_or_else(|e| e.into_inner());
        let timing = timers.entry(timer).or_default();
        timing.count = timing.count.saturating_add(1);
        timing.total = timing.total.saturating_add(elapsed);
        timing.max = timing.max.max(elapsed);
    }

    /// One counter's values by label.
    pub fn counters(&self, counter: Counter) -> BTreeMap<String, u64> {
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        counters.get(&counter).cloned().unwrap_or_default()
    }

    /// One counter summed over its labels.
    pub fn total(&self, counter: Counter) -> u64 {
        self.counters(counter).values().sum()
    }

    /// One timer's figures.
    pub fn timing(&self, timer: Timer) -> Timing {
        let timers = self.timers.lock().unwrap_or_else(|e| e.into_inner());
        timers.get(&timer).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_kept_per_label_and_summed() {
        let telemetry = Telemetry::default();
        assert_eq!(telemetry.total(Counter::Rejected), 0);
        telemetry.count(Counter::Rejected, "SIGNATURE_INVALID");
        telemetry.count(Counter::Rejected, "SIGNATURE_INVALID");
        telemetry.add(Counter::Rejected, "MALFORMED", 3);
        telemetry.count(Counter::Accepted, "");
        let rejected = telemetry.counters(Counter::Rejected);
        assert_eq!(rejected.get("SIGNATURE_INVALID"), Some(&2));
        assert_eq!(rejected.get("MALFORMED"), Some(&3));
        assert_eq!(telemetry.total(Counter::Rejected), 5);
        assert_eq!(telemetry.total(Counter::Accepted), 1);
        assert_eq!(telemetry.total(Counter::Commits), 0);
    }

    #[test]
    fn timings_keep_count_total_and_maximum() {
        let telemetry = Telemetry::default();
        telemetry.time(Timer::GroupCommit, Duration::from_millis(3));
        telemetry.time(Timer::GroupCommit, Duration::from_millis(7));
        assert_eq!(
            telemetry.timing(Timer::GroupCommit),
            Timing {
                count: 2,
                total: Duration::from_millis(10),
                max: Duration::from_millis(7),
            }
        );
    }
}
