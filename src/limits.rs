//! Per-participant limits: one partner, however busy or hostile, cannot take the gateway
//! from the others (issue 15, items 5 and 6).
//!
//! Three things are counted per participant (the TLS identity, never anything a client
//! writes): envelopes per second with a burst (GCRA through `governor`), calls open at once
//! across its connections, and connections. A refused envelope or call is answered
//! RESOURCE_EXHAUSTED with reason `RATE_LIMITED` and a `google.rpc.RetryInfo` delay (see
//! `service.rs`); a connection beyond the limit is closed after its handshake, before it
//! can hold any HTTP/2 state. The checks run before admission's signature check, so that a
//! refusal costs next to nothing.
//!
//! The store's writer adds the fourth part, fairness: its group commit takes participants
//! in turn (`store::fair`), so that a partner within its rate still cannot make another
//! wait behind its queue.

use crate::config::LimitsSection;
use governor::{DefaultKeyedRateLimiter, Quota};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a client refused for too many open calls is asked to wait: calls end in
/// milliseconds, so a short pause is enough, and a long one would idle a partner.
const RETRY_AFTER_OPEN_CALLS: Duration = Duration::from_millis(100);

/// Why a participant was refused, and when to try again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Limited {
    /// More envelopes than its rate and burst allow.
    #[error("{participant} is over its limit of {per_second} envelopes a second (burst {burst}); retry after {retry_after:?}")]
    Envelopes {
        /// Who.
        participant: String,
        /// The sustained rate.
        per_second: u32,
        /// The burst.
        burst: u32,
        /// When the next envelope would be taken.
        retry_after: Duration,
    },
    /// More calls open at once than allowed.
    #[error(
        "{participant} has {limit} calls open, the most allowed at once; retry after one ends"
    )]
    OpenCalls {
        /// Who.
        participant: String,
        /// The limit.
        limit: u32,
    },
    /// More connections than allowed.
    #[error("{participant} holds {limit} connections, the most allowed at once")]
    Connections {
        /// Who.
        participant: String,
        /// The limit.
        limit: u32,
    },
}

impl Limited {
    /// The delay a client should wait before trying again (`google.rpc.RetryInfo`).
    pub fn retry_after(&self) -> Duration {
        match self {
            Limited::Envelopes { retry_after, .. } => *retry_after,
            Limited::OpenCalls { .. } | Limited::Connections { .. } => RETRY_AFTER_OPEN_CALLS,
        }
    }
}

/// The gateway's per-participant counters; shared by the TLS acceptor and the services.
#[derive(Debug)]
pub struct ParticipantLimits {
    settings: LimitsSection,
    envelopes: DefaultKeyedRateLimiter<String>,
    calls: Counts,
    connections: Counts,
}

/// Open things per participant; an entry is removed when its count returns to zero, so the
/// map holds only who is connected now.
#[derive(Debug, Default)]
struct Counts(Mutex<HashMap<String, u32>>);

impl Counts {
    fn acquire(&self, participant: &str, limit: u32) -> bool {
        let mut counts = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = counts.entry(participant.to_owned()).or_insert(0);
        if *count >= limit {
            return false;
        }
        *count += 1;
        true
    }

    fn release(&self, participant: &str) {
        let mut counts = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = counts.get_mut(participant) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(participant);
            }
        }
    }
}

impl ParticipantLimits {
    /// Limits as configured (`[limits]`; the configuration refuses zeros).
    pub fn new(settings: LimitsSection) -> Arc<Self> {
        let most = crate::config::MAX_ENVELOPES_PER_SECOND;
        let rate =
            NonZeroU32::new(settings.envelopes_per_second.min(most)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(settings.envelope_burst.min(most)).unwrap_or(rate);
        Arc::new(Self {
            envelopes: governor::RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            settings,
            calls: Counts::default(),
            connections: Counts::default(),
        })
    }

    /// Takes one envelope from the participant's allowance.
    pub fn envelope(&self, participant: &str) -> Result<(), Limited> {
        use governor::clock::Clock;
        self.envelopes
            .check_key(&participant.to_owned())
            .map_err(|not_until| Limited::Envelopes {
                participant: participant.to_owned(),
                per_second: self.settings.envelopes_per_second,
                burst: self.settings.envelope_burst,
                // The limiter's own clock: a new one would calibrate itself, which cost a
                // flood's refusals more than the check (docs/performance.md).
                retry_after: not_until.wait_time_from(self.envelopes.clock().now()),
            })
    }

    /// Opens a call for the participant; the call counts until the permit is dropped.
    pub fn open_call(self: &Arc<Self>, participant: &str) -> Result<Permit, Limited> {
        let limit = self.settings.streams_per_participant;
        if self.calls.acquire(participant, limit) {
            Ok(Permit::new(self.clone(), participant, Kind::Call))
        } else {
            Err(Limited::OpenCalls {
                participant: participant.to_owned(),
                limit,
            })
        }
    }

    /// Opens a connection for the participant; it counts until the permit is dropped.
    pub fn open_connection(self: &Arc<Self>, participant: &str) -> Result<Permit, Limited> {
        let limit = self.settings.connections_per_participant;
        if self.connections.acquire(participant, limit) {
            Ok(Permit::new(self.clone(), participant, Kind::Connection))
        } else {
            Err(Limited::Connections {
                participant: participant.to_owned(),
                limit,
            })
        }
    }

    /// Forgets the rate state of participants idle long enough to have their full burst
    /// back, so that the map does not keep everyone who ever connected.
    pub fn forget_idle(&self) {
        self.envelopes.retain_recent();
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Call,
    Connection,
}

/// An open call or connection, counted against its participant until dropped.
#[derive(Debug)]
pub struct Permit {
    limits: Arc<ParticipantLimits>,
    participant: String,
    kind: Kind,
}

impl Permit {
    fn new(limits: Arc<ParticipantLimits>, participant: &str, kind: Kind) -> Self {
        Self {
            limits,
            participant: participant.to_owned(),
            kind,
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        match self.kind {
            Kind::Call => self.limits.calls.release(&self.participant),
            Kind::Connection => self.limits.connections.release(&self.participant),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_second: u32, burst: u32, calls: u32, connections: u32) -> Arc<ParticipantLimits> {
        ParticipantLimits::new(LimitsSection {
            envelopes_per_second: per_second,
            envelope_burst: burst,
            streams_per_participant: calls,
            connections_per_participant: connections,
            ..LimitsSection::default()
        })
    }

    #[test]
    fn the_burst_is_taken_then_envelopes_wait_with_a_delay() {
        let limits = limits(1, 3, 1, 1);
        for _ in 0..3 {
            limits.envelope("ptr/NL/a").expect("within the burst");
        }
        let refused = limits.envelope("ptr/NL/a").expect_err("over the burst");
        let delay = refused.retry_after();
        assert!(
            delay > Duration::ZERO && delay <= Duration::from_secs(1),
            "{delay:?}"
        );
        // Another participant has its own allowance.
        limits.envelope("ptr/NL/b").expect("b is not a");
    }

    #[test]
    fn calls_and_connections_count_until_their_permits_drop() {
        let limits = limits(10, 10, 2, 1);
        let first = limits.open_call("ptr/NL/a").expect("first");
        let _second = limits.open_call("ptr/NL/a").expect("second");
        assert!(matches!(
            limits.open_call("ptr/NL/a"),
            Err(Limited::OpenCalls { limit: 2, .. })
        ));
        limits.open_call("ptr/NL/b").expect("b counts apart");
        drop(first);
        limits.open_call("ptr/NL/a").expect("a slot is free again");

        let connection = limits.open_connection("ptr/NL/a").expect("first");
        assert!(limits.open_connection("ptr/NL/a").is_err());
        drop(connection);
        limits.open_connection("ptr/NL/a").expect("free again");
        assert!(
            limits.connections.0.lock().expect("lock").is_empty(),
            "forgotten at zero"
        );
    }
}
