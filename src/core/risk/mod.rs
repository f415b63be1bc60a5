//! §8 risk engine: matching declarations against the risk indicators in force, choosing the
//! outcome, and validating indicators and revocations. Pure and I/O-free.
//!
//! Every accepted declaration is assessed against every indicator in force, so assessment
//! sits on the hot path of `Submit`. A gateway may hold hundreds of thousands of indicators
//! (seller blacklists alone run to tens of thousands), so [`RiskIndex`] files each indicator
//! under one *anchor* field and an assessment only verifies the indicators filed under the
//! declaration's own values: its cost depends on how many indicators could plausibly match,
//! not on how many exist. [`criteria_match`] is the brute-force reference semantics; the
//! index must agree with it exactly, which a property test checks on random inputs.
//!
//! The engine is split where its parts answer different questions: `matching` whether one
//! indicator's criteria match one declaration, `index` which indicators a declaration needs
//! checking against at all, `filter` the Bloom filters that let the index pass over most of
//! those without reading them, `assessment` which match decides the outcome, and `validation`
//! which indicators and revocations a gateway accepts. The semantics below stay here, as the
//! contract of the whole module, because they span matching, assessment (the outcome) and the
//! index (replacement and revocation).
//!
//! # Matching semantics
//!
//! §8 says: an empty criteria field is ignored; a non-empty field matches when one of its
//! values matches; all non-empty fields must match; an indicator with no criteria at all is
//! invalid. Where the contract is brief, this module decides as follows.
//!
//! - **Same item.** The item-level fields — `hs_prefixes` (the item's `hs_code` starts with
//!   the prefix), `origin_countries` (the item's `origin_country` is equal) and
//!   `description_terms` (in the item's `description`) — must all be satisfied by *the same*
//!   item. "Counterfeit footwear originating in CN" describes one item that is both; letting
//!   one item supply the HS code and another the origin would flag every mixed parcel.
//! - **Declaration-level fields**: `dispatch_countries` against `country_of_dispatch`,
//!   `seller_ids` against `seller.identifier` (exact, case-sensitive, after trimming white
//!   space on both sides: identifiers are issued codes, but partners pad them),
//!   `seller_name_terms` against `seller.name`.
//! - **Value bounds** (`min_value`, `max_value`) are compared with the sum of every item's
//!   `value.amount_minor`, both inclusive. A bound only matches when its currency equals
//!   the items' currency: there is no FX conversion, because a gateway converting at its own
//!   rates would give different verdicts than its peers for the same indicator. The sum is
//!   undefined, and no value bound matches, when a declaration has no items, an item has no
//!   value, or the items' currencies differ (such a declaration fails §7 anyway).
//! - **Terms** (`description_terms`, `seller_name_terms`) are case-insensitive whole words.
//!   Text is split into words at every character that is not alphanumeric (Unicode-aware,
//!   [`char::is_alphanumeric`]), each word lower-cased; a term is split the same way and
//!   matches when its words occur consecutively. So `"air max"` and `"Air-Max"` match
//!   `"Nike Air-Max 90"`, while `"nike"` does not match `"Nikeland"`: substring matching
//!   would make short brand terms hit unrelated goods. Lower-casing is Unicode's default
//!   mapping, not full case folding.
//! - **Degenerate values never match**: an empty string (an empty seller id after trimming),
//!   a term without any word, an empty currency. Likewise an empty declaration field matches
//!   nothing, and an indicator without criteria matches nothing, so a malformed indicator
//!   that slipped past validation fails closed to "no match" instead of flagging all traffic.
//! - **In force**: `valid_until_ms == 0` means no end date; otherwise the indicator is in force
//!   while `now_ms <= valid_until_ms` (the last millisecond is included).
//! - **Outcome**: the most severe match wins (`DO_NOT_LOAD` > `REQUEST_FOR_SCREENING` >
//!   `CONTROL_ON_ARRIVAL` > `REQUEST_FOR_INFORMATION`); among equally severe matches the
//!   lexicographically smallest `indicator_id` wins, so that every replica and every re-run
//!   issues the same outcome.
//! - **Pointer** (§8's field in question): for the winning indicator, the first item that
//!   satisfies its item-level criteria, at `items[i].description` when it has description
//!   terms, else `items[i].hs_code`, else `items[i].origin_country`. Without item-level
//!   criteria: `seller.identifier` (seller ids), else `seller.name` (seller name terms), else
//!   `country_of_dispatch`, else `items` (value bounds). The pointer names data in the
//!   declaration, never the indicator, as §8 requires.
//!
//! # Replacement and revocation
//!
//! [`RiskIndex::upsert`] replaces an indicator only with a strictly higher version from the
//! same issuer: equal versions are re-deliveries, lower ones are late, and no administration
//! may overwrite another's indicator by reusing its id. [`RiskIndex::remove`] forgets the
//! indicator entirely; refusing a late re-delivery of a revoked version is the durable
//! store's job (it must remember revocations across restarts anyway, and the index is
//! rebuilt from it).

mod assessment;
mod filter;
#[cfg(test)]
mod fixtures;
mod index;
mod matching;
mod validation;

pub use assessment::{severity, Match};
pub use index::{IndexError, IndicatorRecord, RiskIndex};
pub use matching::{criteria_match, in_force};
pub use validation::{
    validate_indicator, validate_revocation, MAX_CRITERIA_VALUES, MAX_HS_PREFIX_DIGITS,
    MAX_INDICATOR_ID_CHARS, MAX_RATIONALE_CHARS, MAX_REVOCATION_REASON_CHARS, MAX_SELLER_ID_CHARS,
    MAX_TERM_CHARS, MAX_TITLE_CHARS, MIN_HS_PREFIX_DIGITS,
};

/// Most violations listed before the rest are only counted, as for declarations.
pub use crate::core::rejection::MAX_VIOLATIONS;

use crate::proto::v1::{Criteria, OutcomeCode, RiskIndicator, Tlp};

/// An indicator aimed at one seller, version 1, with no end date: the commonest intelligence
/// an administration publishes (a seller blacklist entry). Callers set the title, rationale,
/// TLP and validity their case needs with struct update syntax, so that the shape of such an
/// indicator is written once.
pub fn seller_indicator(indicator_id: &str, seller_id: &str, action: OutcomeCode) -> RiskIndicator {
    RiskIndicator {
        indicator_id: indicator_id.to_owned(),
        version: 1,
        title: format!("Seller {seller_id}"),
        rationale: String::new(),
        tlp: Tlp::Amber as i32,
        personal_data: false,
        criteria: Some(Criteria {
            seller_ids: vec![seller_id.to_owned()],
            ..Criteria::default()
        }),
        action: action as i32,
        valid_until_ms: 0,
    }
}
