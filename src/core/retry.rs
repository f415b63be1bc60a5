//! When the outbox tries a peer again, and when it gives up (PROTOCOL.md §6: "retries back
//! off exponentially with jitter, and a message that cannot be delivered within the
//! configured horizon is dead-lettered and reported, never dropped silently").
//!
//! The policy is a pure function of the attempt count, the time the message was queued,
//! the current time and a random number, all passed in. The forwarder supplies the wall
//! clock and a random source; the tests supply a manual clock and fixed "random" numbers,
//! so every schedule is reproducible.
//!
//! Exponential backoff keeps a gateway from hammering a peer that is down; jitter keeps
//! the gateways of a federation, which all lost the same peer at the same moment, from
//! retrying in lockstep when it comes back.

use std::time::Duration;

/// How the outbox retries one peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay after the first failure.
    pub first_delay: Duration,
    /// The delay never grows beyond this.
    pub max_delay: Duration,
    /// Share of each delay that is random, in per mille (0: none, 1000: anywhere from zero
    /// to the full delay). The default, 500, waits between half and all of the delay.
    pub jitter_per_mille: u32,
    /// How long after it was queued a message may still be delivered; after that it is
    /// dead-lettered.
    pub horizon: Duration,
}

impl Default for RetryPolicy {
    /// One second doubling to five minutes, for a day: a peer's planned maintenance
    /// window passes without dead letters, and a peer that is back is retried within
    /// minutes.
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            jitter_per_mille: 500,
            horizon: Duration::from_secs(24 * 3600),
        }
    }
}

/// What to do with a message after a failed delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextStep {
    /// Try again at this Unix millisecond.
    RetryAt(i64),
    /// The horizon has passed: dead-letter it and report it.
    DeadLetter,
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl RetryPolicy {
    /// The Unix millisecond after which a message queued at `queued_at_ms` is dead.
    pub fn deadline(&self, queued_at_ms: i64) -> i64 {
        queued_at_ms.saturating_add(millis(self.horizon))
    }

    /// The delay before attempt `failures + 1`, without jitter: `first_delay · 2^(failures−1)`,
    /// capped at `max_delay`.
    pub fn base_delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(62);
        let grown = self
            .first_delay
            .checked_mul(1u32 << doublings.min(31))
            .and_then(|d| d.checked_mul(1u32 << doublings.saturating_sub(31)))
            .unwrap_or(self.max_delay);
        grown.min(self.max_delay)
    }

    /// Decides what follows the `failures`-th failed attempt (1 for the first) of a message
    /// queued at `queued_at_ms`, at `now_ms`. `random` is any number from a uniform source;
    /// only its value modulo 1000 is used.
    ///
    /// The retry never falls after the deadline: the last attempt is made at the deadline
    /// itself, and a failure at or after the deadline dead-letters the message.
    pub fn after_failure(
        &self,
        failures: u32,
        queued_at_ms: i64,
        now_ms: i64,
        random: u64,
    ) -> NextStep {
        let deadline = self.deadline(queued_at_ms);
        if now_ms >= deadline {
            return NextStep::DeadLetter;
        }
        let base = i128::from(millis(self.base_delay(failures)));
        let jitter = i128::from(self.jitter_per_mille.min(1000));
        let draw = i128::from(random % 1000);
        // Uniform in [base·(1 − jitter), base], in whole milliseconds.
        let delay = base - base * jitter * draw / 1_000_000;
        let delay = i64::try_from(delay).unwrap_or(i64::MAX).max(1);
        NextStep::RetryAt(now_ms.saturating_add(delay).min(deadline))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manual clock: the forwarder's loop, reduced to failures and the times they happen.
    struct Clock {
        now: i64,
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            jitter_per_mille: 0,
            horizon: Duration::from_secs(600),
        }
    }

    #[test]
    fn delays_double_from_the_first_and_stop_growing_at_the_cap() {
        let p = policy();
        let delays: Vec<u64> = (1..=9).map(|n| p.base_delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        // Huge attempt counts neither overflow nor shrink.
        assert_eq!(p.base_delay(u32::MAX), Duration::from_secs(60));
        assert_eq!(p.base_delay(0), Duration::from_secs(1));
    }

    #[test]
    fn a_peer_that_stays_down_is_retried_until_the_horizon_then_dead_lettered() {
        let p = policy();
        let queued = 1_000_000;
        let mut clock = Clock { now: queued };
        let mut attempts = Vec::new();
        let mut failures = 0;
        loop {
            failures += 1;
            match p.after_failure(failures, queued, clock.now, 0) {
                NextStep::RetryAt(at) => {
                    assert!(at > clock.now, "time moves forward");
                    clock.now = at;
                    attempts.push(at - queued);
                }
                NextStep::DeadLetter => break,
            }
        }
        // 1+2+4+8+16+32 = 63 s, then every 60 s, the last attempt at exactly the horizon.
        assert_eq!(
            &attempts[..6],
            &[1_000, 3_000, 7_000, 15_000, 31_000, 63_000]
        );
        assert_eq!(attempts[6], 123_000);
        assert_eq!(
            *attempts.last().unwrap(),
            600_000,
            "last try at the deadline"
        );
        assert!(attempts.windows(2).all(|w| w[1] - w[0] <= 60_000));
        assert_eq!(clock.now, p.deadline(queued));
    }

    #[test]
    fn jitter_spreads_retries_within_half_to_all_of_the_delay() {
        let p = RetryPolicy {
            jitter_per_mille: 500,
            ..policy()
        };
        let now = 5_000;
        let at = |random| match p.after_failure(4, 0, now, random) {
            NextStep::RetryAt(at) => at - now,
            NextStep::DeadLetter => panic!("within the horizon"),
        };
        // Base delay for the 4th failure: 8 s.
        assert_eq!(at(0), 8_000);
        assert_eq!(at(999), 4_004);
        assert_eq!(at(500), 6_000);
        let spread: std::collections::BTreeSet<i64> = (0..1000).map(at).collect();
        assert!(spread.len() > 900, "draws give distinct delays");
        assert!(spread.iter().all(|d| (4_000..=8_000).contains(d)));
        // Full jitter may wait almost nothing, but never zero.
        let full = RetryPolicy {
            jitter_per_mille: 1000,
            ..policy()
        };
        match full.after_failure(1, 0, now, 999) {
            NextStep::RetryAt(at) => assert!(at > now),
            NextStep::DeadLetter => panic!(),
        }
    }

    #[test]
    fn a_message_found_after_its_horizon_is_dead_at_once() {
        let p = policy();
        assert_eq!(p.after_failure(1, 0, 600_000, 7), NextStep::DeadLetter);
        assert_eq!(
            p.after_failure(1, 0, 599_999, 7),
            NextStep::RetryAt(600_000)
        );
        // Times near the ends of the range saturate instead of overflowing.
        assert_eq!(p.deadline(i64::MAX - 5), i64::MAX);
        assert!(matches!(
            p.after_failure(3, i64::MAX - 5, i64::MAX - 10, 1),
            NextStep::RetryAt(_)
        ));
    }
}
