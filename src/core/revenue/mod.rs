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

/// Returns are accepted up to 90 days after the first releasing outcome (§12).
pub const RETURN_PERIOD_MS: i64 = 90 * 24 * 3_600_000;
