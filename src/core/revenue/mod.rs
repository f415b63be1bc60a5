//! Revenue (§11) and returns (§12) as pure integer arithmetic: what a declaration owes,
//! which revenue checks it raises, and what a return refunds.
//!
//! Money is always an `i64` of minor units and every rate an exact integer (per mille, or
//! millionths for exchange rates); rounding is half up, once, where §11 says. Nothing here
//! reads a clock, a file or the store: the policy is parsed from text the config layer
//! read, R5's sum of other parcels is looked up by the writer and passed in, and refunds
//! take what earlier decisions refunded.

mod arithmetic;
mod charges;
mod checks;
mod policy;
mod refunds;

pub use arithmetic::{format_money, format_per_mille, round_half_up, Rate};
pub use charges::{charges, claims_registered_ioss, missing_rates, Charges, ItemCharge};
pub use checks::{first_question, splitting_key, RevenueCheck, RevenueQuestion};
pub use policy::{PolicyError, ReducedVat, RevenuePolicy};
pub use refunds::{refund, Refund, Refunded};

use crate::proto::v1::{ReturnNotice, ReturnReason, ReturnedLine, Transport, TransportMode};

/// Returns are accepted up to 90 days after the first releasing outcome (§12).
pub const RETURN_PERIOD_MS: i64 = 90 * 24 * 3_600_000;

/// A consumer's return by post of `lines` (item index, units), in return parcel `house_ref`,
/// the goods having left at `exited_at_ms`: the commonest notice (§12), written once for the
/// demo, the conformance kit and the tests.
pub fn consumer_return_by_post(
    house_ref: &str,
    lines: &[(u32, u32)],
    exited_at_ms: i64,
) -> ReturnNotice {
    ReturnNotice {
        reason: ReturnReason::ConsumerReturn as i32,
        return_transport: Some(Transport {
            house_ref: house_ref.to_owned(),
            mode: TransportMode::Post as i32,
            ..Transport::default()
        }),
        lines: lines
            .iter()
            .map(|&(item, quantity)| ReturnedLine { item, quantity })
            .collect(),
        exited_at_ms,
    }
}

/// §11's example policy, shared by the unit tests of the revenue rules and of the ledger.
#[cfg(test)]
pub(crate) mod testing {
    use super::RevenuePolicy;

    /// §11's example policy as an operator would write it, with rates for the currencies
    /// the tests convert.
    pub(crate) const EXAMPLE_POLICY: &str = r#"
currency = "EUR"
low_value_threshold = 15000
flat_duty_per_category = 300
duty_rate = 40
handling_fee = 200
vat_rate = 210
reduced_vat = [ { hs_prefixes = ["4901", "4902", "3004"], rate = 90 } ]
exchange_rates = { USD = "0.92", CNY = "0.13", GBP = "1.17", JPY = "0.61" }
ioss_registry = "ioss-registry.txt"
tax_tolerance = 50
undervaluation = 300
splitting_window_h = 24
"#;

    /// The example policy with a registry of two numbers (ShopCo's is IM5280001234).
    pub(crate) fn example_policy() -> RevenuePolicy {
        RevenuePolicy::parse(EXAMPLE_POLICY)
            .and_then(|p| p.with_registry("# test registry\nIM5280001234\n\nIM2760009999 # DE\n"))
            .unwrap_or_else(|e| panic!("example policy: {e}"))
    }
}
