//! The wall clock, read in one place.
//!
//! The contract's rules take the time as an argument (`core` never reads a clock), so that
//! they are tested with any time they need. The I/O layers that do read it — the service
//! (the receiver's clock of §3 and §4), the store's writer, the forwarder, the tools — read
//! it here, in the unit the contract uses.

/// Wall-clock Unix milliseconds: the receiver's clock of §3 and §4.
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}
