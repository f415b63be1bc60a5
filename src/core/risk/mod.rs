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

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use crate::core::codes;
use crate::core::rejection::{FieldViolation, Violations};
use crate::proto::v1::{
    AdvanceDeclaration, Criteria, Item, Money, OutcomeCode, RiskIndicator, RiskIndicatorRevocation,
    Tlp,
};

/// Longest `indicator_id`, in characters: that of a participant id (§1), so that ids can be
/// namespaced by their issuer (`adm/NL` issues `NL:2026:0042`).
pub const MAX_INDICATOR_ID_CHARS: usize = 64;
/// Longest `title`, in characters: one line in an analyst's list.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest `rationale`, in characters.
pub const MAX_RATIONALE_CHARS: usize = 2000;
/// Longest revocation `reason`, in characters.
pub const MAX_REVOCATION_REASON_CHARS: usize = 500;
/// Longest seller id in criteria, in characters: seller accounts of marketplaces are longer
/// than the 17 characters of an EORI that §7 allows in a declaration, and an indicator may be
/// written from a marketplace's data.
pub const MAX_SELLER_ID_CHARS: usize = 64;
/// Longest term, in characters: a phrase, not a paragraph.
pub const MAX_TERM_CHARS: usize = 100;
/// Shortest HS prefix, in digits: one HS chapter.
pub const MIN_HS_PREFIX_DIGITS: usize = 2;
/// Longest HS prefix, in digits: a full 10-digit national tariff code.
pub const MAX_HS_PREFIX_DIGITS: usize = 10;
/// Most values in one criteria field. Bounds the work and memory one indicator can cost a
/// gateway that did not write it; a longer list (a full seller blacklist) belongs in several
/// indicators.
pub const MAX_CRITERIA_VALUES: usize = 1000;
/// Most violations listed before the rest are only counted, as for declarations.
pub use crate::core::rejection::MAX_VIOLATIONS;

/// An indicator in force at this gateway, with who issued it.
///
/// The issuer is kept next to the indicator because only the issuer may replace it, and
/// because §8 forbids re-sharing received indicators, which needs to know whose they are.
#[derive(Clone, Debug, PartialEq)]
pub struct IndicatorRecord {
    /// The indicator as issued.
    pub indicator: RiskIndicator,
    /// The administration that issued it, e.g. `adm/NL`.
    pub issuer: String,
}

/// Why an indicator could not replace the one in force.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// The offered version is not higher than the one in force: a re-delivery or a late,
    /// superseded version, which must not roll the indicator back.
    #[error(
        "indicator {indicator_id:?} version {offered} does not replace version {in_force} in force; \
         a replacement needs a higher version"
    )]
    StaleVersion {
        /// The indicator.
        indicator_id: String,
        /// The version in force.
        in_force: u32,
        /// The version offered.
        offered: u32,
    },
    /// Another administration offered an indicator with this id. `issuer` is the offering
    /// administration, not the one in force: telling a peer who issued an indicator it was
    /// never sent could disclose an indicator shared under TLP.
    #[error("indicator {indicator_id:?} is in force from another issuer than {issuer}; only its issuer may replace it")]
    NotIssuer {
        /// The indicator.
        indicator_id: String,
        /// The administration that offered the replacement.
        issuer: String,
    },
}

/// One indicator that matches a declaration.
#[derive(Clone, Debug, PartialEq)]
pub struct Match<'a> {
    /// The matching indicator.
    pub record: &'a IndicatorRecord,
    /// Its action (`Unspecified` when the action is not a known code).
    pub code: OutcomeCode,
    /// Proto field path of the data in question, e.g. `items[1].description` (see the
    /// module documentation for how it is chosen).
    pub pointer: String,
}

/// The indicators in force at a gateway, indexed for assessment.
///
/// Records live in a slab; each is filed under the values of ONE anchor field, chosen per
/// indicator in order of selectivity: `seller_ids`, `description_terms` (under one word of
/// each term), `seller_name_terms` (likewise), `hs_prefixes` (under their first 4 digits, a
/// heading), `origin_countries`, `dispatch_countries`, and for indicators with
/// only value bounds, the bound's currency. One anchor suffices because every non-empty
/// field must match: a declaration that lacks all of the anchor field's values cannot
/// match, so only indicators filed under one of the declaration's own values (its seller id,
/// words, HS prefixes of 2 to 4 digits, countries and currency) need verifying. Verification
/// is the full [`criteria_match`] semantics.
///
/// Each filing (a posting) carries the indicator's severity and a 24-byte summary of its
/// fields (a per-field Bloom filter), so that most candidates that share only the anchor
/// with a declaration are rejected while scanning the key's list, without touching the
/// record: at 100,000 indicators, reading each candidate's record and criteria costs several
/// cache misses apiece. A small Bloom filter of the keys filed spares probing the maps for
/// the many declaration keys that no indicator uses. Within the candidates, the most severe
/// are verified first, and assessment stops at the first severity that matches.
///
/// Indicators whose criteria cannot be keyed (only malformed HS prefixes such as `6`, which
/// validation refuses) are kept in a list checked on every assessment, so the index agrees
/// with [`criteria_match`] for any input, valid or not.
#[derive(Default)]
pub struct RiskIndex {
    /// The records; `None` marks a free slot (listed in `free`).
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    by_id: HashMap<String, usize>,
    /// Per [`AnchorKind`], [`key_hash`] of a key → the indicators filed under it (each at
    /// most once per key).
    anchors: [KeyMap; ANCHOR_KINDS],
    /// Indicators that could match but have no usable anchor.
    unindexed: Vec<Posting>,
    /// Which keys may be filed, so that most of a declaration's keys (words no indicator
    /// names, HS prefixes of unused lengths) cost no probe of the large maps.
    filed: KeyFilter,
    /// Per slot, the indicator's value bounds as `(min, max)` amounts (unbounded sides at
    /// the extremes), screened for the [`Posting`]s marked `bounded` before verification:
    /// broad indicators (a country above a value, a value alone) sit in lists every
    /// declaration reads, and their bounds reject most. Kept apart so that postings stay
    /// small, and dense (16 bytes per indicator), so that it stays in the CPU cache.
    bounds: Vec<(i64, i64)>,
}

impl fmt::Debug for RiskIndex {
    /// A summary only: a gateway's index may hold 100,000 indicators, too many for a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RiskIndex")
            .field("indicators", &self.len())
            .field("unindexed", &self.unindexed.len())
            .finish_non_exhaustive()
    }
}

impl RiskIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an indicator, or replaces the one with the same id: only by a strictly higher
    /// version, and only by the same issuer (§8: a higher version replaces the lower).
    /// Returns the replaced record.
    ///
    /// Validity and expiry are not checked here: validation is the caller's ([`validate_indicator`]),
    /// and an expired indicator simply stops matching.
    pub fn upsert(
        &mut self,
        record: IndicatorRecord,
    ) -> Result<Option<IndicatorRecord>, IndexError> {
        let id = record.indicator.indicator_id.as_str();
        let Some(&slot) = self.by_id.get(id) else {
            self.insert(record);
            return Ok(None);
        };
        if let Some(existing) = self.slot(slot) {
            if existing.record.issuer != record.issuer {
                return Err(IndexError::NotIssuer {
                    indicator_id: id.to_owned(),
                    issuer: record.issuer,
                });
            }
            let in_force = existing.record.indicator.version;
            let offered = record.indicator.version;
            if offered <= in_force {
                return Err(IndexError::StaleVersion {
                    indicator_id: id.to_owned(),
                    in_force,
                    offered,
                });
            }
        }
        let replaced = self.remove_slot(slot);
        self.insert(record);
        Ok(replaced)
    }

    /// Removes an indicator (revocation): it stops matching at once. Returns it, or `None`
    /// if it was not in the index.
    pub fn remove(&mut self, indicator_id: &str) -> Option<IndicatorRecord> {
        let slot = *self.by_id.get(indicator_id)?;
        self.remove_slot(slot)
    }

    /// Removes every indicator no longer in force at `now_ms` and returns them, so that a
    /// long-running gateway's memory does not grow with indicators that can never match
    /// again. Assessment does not need it: expired indicators never match.
    pub fn remove_expired(&mut self, now_ms: i64) -> Vec<IndicatorRecord> {
        let expired: Vec<usize> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(index, slot)| {
                slot.as_ref()
                    .filter(|s| !in_force(&s.record.indicator, now_ms))
                    .map(|_| index)
            })
            .collect();
        expired
            .into_iter()
            .filter_map(|slot| self.remove_slot(slot))
            .collect()
    }

    /// The indicator with this id, in force or expired.
    pub fn get(&self, indicator_id: &str) -> Option<&IndicatorRecord> {
        let slot = *self.by_id.get(indicator_id)?;
        self.slot(slot).map(|s| &*s.record)
    }

    /// How many indicators the index holds (expired ones included until removed).
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether the index holds no indicator.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every indicator held, in no particular order (for persistence, sharing and audit).
    pub fn iter(&self) -> impl Iterator<Item = &IndicatorRecord> {
        self.slots.iter().flatten().map(|s| &*s.record)
    }

    /// Every indicator in force at `now_ms` whose criteria match the declaration, found
    /// through the index (never a scan of all indicators), most severe first, ties by
    /// ascending `indicator_id`: the order in which [`RiskIndex::assess`] would pick them.
    pub fn matches(&self, declaration: &AdvanceDeclaration, now_ms: i64) -> Vec<Match<'_>> {
        let prepared = Prepared::new(declaration);
        let candidates = self.candidates(&prepared);
        let found = candidates.into_iter().filter_map(|slot| self.slot(slot));
        collect_matches(found, &prepared, now_ms)
    }

    /// The same result as [`RiskIndex::matches`], by verifying every indicator held.
    ///
    /// It exists as the reference the index is tested and benchmarked against; a gateway
    /// must never call it on the request path, since its cost grows with the index.
    pub fn matches_by_scan(&self, declaration: &AdvanceDeclaration, now_ms: i64) -> Vec<Match<'_>> {
        let prepared = Prepared::new(declaration);
        collect_matches(self.slots.iter().flatten(), &prepared, now_ms)
    }

    /// The most severe match in force at `now_ms` whose id is not in `exclude`, ties by the
    /// smallest `indicator_id`; `None` means `ASSESSMENT_COMPLETE`.
    ///
    /// `exclude` holds the indicators whose referral has been satisfied (an answered RFI, a
    /// screening found `CLEAR`), so that re-assessment issues the next most severe match
    /// (§8). Matches whose action is `ASSESSMENT_COMPLETE` or not a known code (invalid
    /// indicators) are skipped, since they cannot change the outcome.
    pub fn assess(
        &self,
        declaration: &AdvanceDeclaration,
        now_ms: i64,
        exclude: &HashSet<String>,
    ) -> Option<Match<'_>> {
        let prepared = Prepared::new(declaration);
        let candidates = self.ranked_candidates(&prepared);
        // Most severe first; within one rank, the smallest id that matches wins, so a rank's
        // candidates are all considered before a less severe rank is looked at.
        for group in candidates.chunk_by(|a, b| a.0 == b.0) {
            if group.first().is_none_or(|&(Reverse(rank), _)| rank == 0) {
                break;
            }
            let mut best: Option<(&Slot, Pointer)> = None;
            for &(_, slot) in group {
                let Some(entry) = self.slot(slot) else {
                    continue;
                };
                if !in_force_until(entry.valid_until_ms, now_ms) {
                    continue;
                }
                let id = &entry.record.indicator.indicator_id;
                if (!exclude.is_empty() && exclude.contains(id))
                    || best.is_some_and(|(b, _)| b.record.indicator.indicator_id <= *id)
                {
                    continue;
                }
                if let Some(pointer) = entry.evaluate(&prepared) {
                    best = Some((entry, pointer));
                }
            }
            if let Some((entry, pointer)) = best {
                return Some(entry.to_match(pointer));
            }
        }
        None
    }

    /// The indicators filed under one of the declaration's keys, plus the unindexed ones,
    /// whose filter admits the declaration, each once, as (rank, slot) most severe first.
    ///
    /// At 100,000 indicators the maps and lists do not fit in the CPU caches, so the work is
    /// arranged around memory: keys not filed are screened out by a small filter that does,
    /// and the lists are all located before they are read.
    fn ranked_candidates(&self, p: &Prepared<'_>) -> Vec<(Reverse<u8>, usize)> {
        let lists: Vec<&[Posting]> = p
            .keys
            .iter()
            .filter(|&&(kind, hash)| self.filed.may_contain(kind, hash))
            .filter_map(|&(kind, hash)| self.anchors[kind as usize].get(&hash))
            .map(Vec::as_slice)
            .chain([self.unindexed.as_slice()])
            .collect();
        let mut out = Vec::new();
        for postings in lists {
            out.extend(
                postings
                    .iter()
                    .filter(|posting| posting.filter.admits(&p.summary))
                    .filter(|posting| !posting.bounded || self.within_bounds(posting.slot, p))
                    .map(|posting| (Reverse(posting.rank), posting.slot)),
            );
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Whether the declaration's total may be within the slot's value bounds.
    fn within_bounds(&self, slot: usize, p: &Prepared<'_>) -> bool {
        let Some((_, total)) = p.total else {
            return false;
        };
        self.bounds
            .get(slot)
            .is_none_or(|&(min, max)| i128::from(min) <= total && total <= i128::from(max))
    }

    /// The slots of [`RiskIndex::ranked_candidates`], in slot order.
    fn candidates(&self, p: &Prepared<'_>) -> Vec<usize> {
        let mut slots: Vec<usize> = self
            .ranked_candidates(p)
            .into_iter()
            .map(|(_, slot)| slot)
            .collect();
        slots.sort_unstable();
        slots
    }

    /// Checks that the slab, the id map, the anchor maps and the free list describe the same
    /// records: stale entries would not change results (candidates are verified) but would
    /// leak memory and time, so the property test checks this after every operation.
    #[cfg(test)]
    fn check_consistency(&self) -> Result<(), String> {
        let live = self.slots.iter().filter(|s| s.is_some()).count();
        if live != self.by_id.len() || live + self.free.len() != self.slots.len() {
            return Err(format!(
                "{live} live slots, {} ids, {} free of {}",
                self.by_id.len(),
                self.free.len(),
                self.slots.len()
            ));
        }
        for (id, &slot) in &self.by_id {
            if self.slot(slot).map(|s| &s.record.indicator.indicator_id) != Some(id) {
                return Err(format!(
                    "id {id} maps to slot {slot} holding another record"
                ));
            }
        }
        let mut filed = 0;
        for (slot, entry) in self.slots.iter().enumerate() {
            match entry.as_ref().map(|e| &e.anchor) {
                None if !self.free.contains(&slot) => {
                    return Err(format!("empty slot {slot} is not free"))
                }
                None => {}
                Some(Anchor::Keys { kind, keys }) => {
                    for key in keys {
                        let count = self.anchors[*kind as usize].get(key).map_or(0, |postings| {
                            postings.iter().filter(|p| p.slot == slot).count()
                        });
                        if count != 1 {
                            return Err(format!(
                                "slot {slot} filed {count} times under {kind:?} {key:?}"
                            ));
                        }
                    }
                    filed += keys.len();
                }
                Some(Anchor::Unindexed) if !self.unindexed.iter().any(|p| p.slot == slot) => {
                    return Err(format!("slot {slot} missing from the unindexed list"));
                }
                Some(Anchor::Unindexed) => {}
            }
        }
        let entries: usize = self
            .anchors
            .iter()
            .flat_map(|m| m.values())
            .map(Vec::len)
            .sum();
        let unindexed = self
            .slots
            .iter()
            .flatten()
            .filter(|s| matches!(s.anchor, Anchor::Unindexed))
            .count();
        if entries != filed || unindexed != self.unindexed.len() {
            return Err(format!(
                "{entries} anchor entries for {filed} keys, {} unindexed for {unindexed}",
                self.unindexed.len()
            ));
        }
        if self
            .anchors
            .iter()
            .flat_map(|m| m.values())
            .any(Vec::is_empty)
        {
            return Err("an empty bucket was kept".into());
        }
        for (kind, map) in ANCHOR_KIND_LIST.iter().zip(&self.anchors) {
            if let Some(key) = map.keys().find(|&&key| !self.filed.may_contain(*kind, key)) {
                return Err(format!(
                    "key {key} of {kind:?} is missing from the key filter"
                ));
            }
        }
        let keys: usize = self.anchors.iter().map(HashMap::len).sum();
        if self.filed.keys != keys {
            return Err(format!(
                "key filter counts {} keys, not {keys}",
                self.filed.keys
            ));
        }
        let postings = self
            .anchors
            .iter()
            .flat_map(|m| m.values())
            .flatten()
            .chain(&self.unindexed);
        for posting in postings {
            let expected = self
                .slot(posting.slot)
                .map(|s| Posting::new(posting.slot, &s.record, &s.compiled));
            let bounds = self
                .slot(posting.slot)
                .and_then(|s| value_bounds(s.record.indicator.criteria.as_ref()));
            if posting.bounded && self.bounds.get(posting.slot).copied() != bounds {
                return Err(format!("slot {} has stale value bounds", posting.slot));
            }
            if expected != Some(*posting) {
                return Err(format!("slot {} has a stale filter", posting.slot));
            }
        }
        Ok(())
    }

    fn slot(&self, slot: usize) -> Option<&Slot> {
        self.slots.get(slot).and_then(Option::as_ref)
    }

    fn insert(&mut self, record: IndicatorRecord) {
        let compiled = Compiled::new(record.indicator.criteria.as_ref());
        let anchor = Anchor::choose(record.indicator.criteria.as_ref(), &compiled);
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        let posting = Posting::new(slot, &record, &compiled);
        let bounds =
            value_bounds(record.indicator.criteria.as_ref()).unwrap_or((i64::MIN, i64::MAX));
        if self.bounds.len() <= slot {
            self.bounds.resize(slot + 1, (i64::MIN, i64::MAX));
        }
        if let Some(place) = self.bounds.get_mut(slot) {
            *place = bounds;
        }
        match &anchor {
            Anchor::Keys { kind, keys } => {
                let map = &mut self.anchors[*kind as usize];
                for &key in keys {
                    let postings = map.entry(key).or_default();
                    if postings.is_empty() {
                        self.filed.keys += 1;
                    }
                    postings.push(posting);
                    self.filed.insert(*kind, key);
                }
            }
            Anchor::Unindexed => self.unindexed.push(posting),
        }
        self.by_id
            .insert(record.indicator.indicator_id.clone(), slot);
        if self.filed.needs_rebuild() {
            self.rebuild_key_filter();
        }
        if let Some(place) = self.slots.get_mut(slot) {
            *place = Some(Slot {
                valid_until_ms: record.indicator.valid_until_ms,
                compiled,
                anchor,
                record: Box::new(record),
            });
        }
    }

    fn remove_slot(&mut self, slot: usize) -> Option<IndicatorRecord> {
        let entry = self.slots.get_mut(slot)?.take()?;
        match &entry.anchor {
            Anchor::Keys { kind, keys } => {
                let map = &mut self.anchors[*kind as usize];
                for key in keys {
                    if let Some(postings) = map.get_mut(key) {
                        if let Some(at) = postings.iter().position(|p| p.slot == slot) {
                            postings.swap_remove(at);
                        }
                        if postings.is_empty() {
                            map.remove(key);
                            self.filed.forget();
                        }
                    }
                }
            }
            Anchor::Unindexed => {
                if let Some(at) = self.unindexed.iter().position(|p| p.slot == slot) {
                    self.unindexed.swap_remove(at);
                }
            }
        }
        self.by_id.remove(&entry.record.indicator.indicator_id);
        self.free.push(slot);
        if self.filed.needs_rebuild() {
            self.rebuild_key_filter();
        }
        Some(*entry.record)
    }

    /// Rebuilds the key filter from the keys filed, sized for them: after growth, so that it
    /// stays selective, and after many removals, whose bits it cannot clear.
    fn rebuild_key_filter(&mut self) {
        let keys: usize = self.anchors.iter().map(HashMap::len).sum();
        let mut filter = KeyFilter::with_capacity(keys);
        for (kind, map) in ANCHOR_KIND_LIST.iter().zip(&self.anchors) {
            for &key in map.keys() {
                filter.insert(*kind, key);
            }
        }
        self.filed = filter;
    }
}

/// Verifies `entries` and returns the matches in assessment order.
fn collect_matches<'a>(
    entries: impl Iterator<Item = &'a Slot>,
    prepared: &Prepared<'_>,
    now_ms: i64,
) -> Vec<Match<'a>> {
    let mut out: Vec<Match<'a>> = entries
        .filter(|entry| in_force_until(entry.valid_until_ms, now_ms))
        .filter_map(|entry| {
            entry
                .evaluate(prepared)
                .map(|pointer| entry.to_match(pointer))
        })
        .collect();
    out.sort_by(|a, b| {
        (Reverse(severity(a.code)), &a.record.indicator.indicator_id)
            .cmp(&(Reverse(severity(b.code)), &b.record.indicator.indicator_id))
    });
    out
}

/// Reference semantics, by brute force: whether this indicator's criteria match the
/// declaration (module documentation). [`RiskIndex`] agrees with it exactly.
pub fn criteria_match(criteria: &Criteria, declaration: &AdvanceDeclaration) -> bool {
    evaluate(&Compiled::new(Some(criteria)), &Prepared::new(declaration)).is_some()
}

/// The rank of an outcome: `DO_NOT_LOAD` 4 > `REQUEST_FOR_SCREENING` 3 > `CONTROL_ON_ARRIVAL`
/// 2 > `REQUEST_FOR_INFORMATION` 1 > `ASSESSMENT_COMPLETE` 0; unspecified 0.
///
/// A rank, because §8 orders the actions differently from their enum numbers
/// (`CONTROL_ON_ARRIVAL` = 5 is less severe than `DO_NOT_LOAD` = 4): stopping goods before
/// loading beats inspecting them on arrival.
pub fn severity(code: OutcomeCode) -> u8 {
    match code {
        OutcomeCode::DoNotLoad => 4,
        OutcomeCode::RequestForScreening => 3,
        OutcomeCode::ControlOnArrival => 2,
        OutcomeCode::RequestForInformation => 1,
        OutcomeCode::AssessmentComplete | OutcomeCode::Unspecified => 0,
    }
}

/// Whether the indicator is in force at `now_ms`: `valid_until_ms == 0` means no end date;
/// otherwise it is in force while `now_ms <= valid_until_ms`, so that "valid until T" includes
/// T itself, as the field's name says.
pub fn in_force(indicator: &RiskIndicator, now_ms: i64) -> bool {
    in_force_until(indicator.valid_until_ms, now_ms)
}

/// [`in_force`] on the end date alone.
fn in_force_until(valid_until_ms: i64, now_ms: i64) -> bool {
    valid_until_ms == 0 || now_ms <= valid_until_ms
}

/// Every violation of an indicator, all at once, with proto field paths
/// (`criteria.hs_prefixes[2]`, `action`), capped like declaration violations. Empty means
/// valid.
///
/// The rules are those a customs risk unit would set itself, since an indicator from a peer
/// acts on this administration's traffic:
///
/// - `indicator_id`: 1–64 characters of `A–Z a–z 0–9 . _ : -`, so that it can appear in logs,
///   file names and URLs without escaping.
/// - `version` ≥ 1: 0 is proto3's "not set", and a replacement needs something to exceed.
/// - `title` 1–200 characters (white space alone counts as missing); `rationale` ≤ 2,000.
/// - `tlp` a known level, not unspecified: without one, §8's sharing rules cannot be applied,
///   and guessing a level could leak an indicator.
/// - `criteria` present with at least one non-empty field: §8 makes an indicator without
///   criteria invalid, since it would hit every declaration. Each field holds at most
///   [`MAX_CRITERIA_VALUES`] values.
/// - `hs_prefixes`: 2–10 ASCII digits starting with an existing HS chapter, like §7's HS codes.
/// - `origin_countries`, `dispatch_countries`: ISO 3166-1 alpha-2, upper case, as in §7, so
///   that they compare byte for byte with declarations.
/// - `seller_ids`: not blank, ≤ 64 characters.
/// - terms: at least one word (letter or digit) and ≤ 100 characters; a term of punctuation
///   alone could never match.
/// - `min_value`, `max_value`: an ISO 4217 currency and `amount_minor` ≥ 0; when both are
///   given they must be in the same currency (there is no FX conversion, so bounds in two
///   currencies could never both hold) with min ≤ max.
/// - `action`: a known code other than `ASSESSMENT_COMPLETE`, which is the absence of risk,
///   not an action an indicator can ask for.
/// - `valid_until_ms` ≥ 0, and when set, later than `now_ms`: an indicator that has already
///   expired could never match and is refused rather than silently stored.
pub fn validate_indicator(indicator: &RiskIndicator, now_ms: i64) -> Vec<FieldViolation> {
    let mut out = Violations::default();
    check_indicator_id(&mut out, &indicator.indicator_id);
    if indicator.version == 0 {
        out.add(
            "version",
            "must be ≥ 1; a replacement carries a higher version",
        );
    }
    if indicator.title.trim().is_empty() {
        out.add(
            "title",
            format_args!("required: 1 to {MAX_TITLE_CHARS} characters"),
        );
    } else {
        max_chars(&mut out, "title", &indicator.title, MAX_TITLE_CHARS);
    }
    max_chars(
        &mut out,
        "rationale",
        &indicator.rationale,
        MAX_RATIONALE_CHARS,
    );
    match Tlp::try_from(indicator.tlp) {
        Ok(Tlp::Unspecified) => {
            out.add("tlp", "required: CLEAR, GREEN, AMBER, AMBER_STRICT or RED")
        }
        Ok(_) => {}
        Err(_) => out.add(
            "tlp",
            format_args!(
                "unknown TLP level {}; must be CLEAR, GREEN, AMBER, AMBER_STRICT or RED",
                indicator.tlp
            ),
        ),
    }
    match &indicator.criteria {
        None => out.add(
            "criteria",
            "required: at least one criterion; an indicator without criteria would match every declaration",
        ),
        Some(criteria) => check_criteria(&mut out, criteria),
    }
    const ACTIONS: &str =
        "REQUEST_FOR_INFORMATION, REQUEST_FOR_SCREENING, DO_NOT_LOAD or CONTROL_ON_ARRIVAL";
    match OutcomeCode::try_from(indicator.action) {
        Ok(OutcomeCode::Unspecified) => out.add("action", format_args!("required: {ACTIONS}")),
        Ok(OutcomeCode::AssessmentComplete) => out.add(
            "action",
            format_args!(
                "ASSESSMENT_COMPLETE is the absence of risk, not an action; must be {ACTIONS}"
            ),
        ),
        Ok(_) => {}
        Err(_) => out.add(
            "action",
            format_args!(
                "unknown outcome code {}; must be {ACTIONS}",
                indicator.action
            ),
        ),
    }
    if indicator.valid_until_ms < 0 {
        out.add(
            "valid_until_ms",
            "must be milliseconds since the Unix epoch, or 0 for no end date",
        );
    } else if indicator.valid_until_ms != 0 && indicator.valid_until_ms <= now_ms {
        out.add(
            "valid_until_ms",
            format_args!(
                "the indicator expired at {} (now {now_ms}); an expired indicator is not accepted",
                indicator.valid_until_ms
            ),
        );
    }
    out.finish()
}

/// Every violation of a revocation: a well-formed `indicator_id` (as for indicators) and a
/// `reason` of at most 500 characters. Whether the indicator exists is not a validation
/// matter: revoking an unknown indicator is harmless, and the revocation may overtake it.
pub fn validate_revocation(revocation: &RiskIndicatorRevocation) -> Vec<FieldViolation> {
    let mut out = Violations::default();
    check_indicator_id(&mut out, &revocation.indicator_id);
    max_chars(
        &mut out,
        "reason",
        &revocation.reason,
        MAX_REVOCATION_REASON_CHARS,
    );
    out.finish()
}

// ---------------------------------------------------------------------------------------
// Matching

/// A declaration split into the words and sums matching needs, computed once per
/// assessment instead of once per candidate indicator.
struct Prepared<'d> {
    declaration: &'d AdvanceDeclaration,
    /// Every word of the item descriptions and of the seller's name, lower-cased, back to
    /// back in one buffer, so that preparing a declaration allocates a handful of times
    /// rather than once per word.
    lowered: String,
    /// The words' byte ranges in `lowered`: the items' words in item order, then the
    /// seller's name's.
    spans: Vec<(usize, usize)>,
    /// Per item, its range of `spans`.
    item_spans: Vec<(usize, usize)>,
    /// The seller's name's range of `spans`.
    seller_name_spans: (usize, usize),
    /// `seller.identifier`, trimmed; empty when absent.
    seller_id: &'d str,
    /// The items' currency and the sum of their values, when defined.
    total: Option<(&'d str, i128)>,
    /// The declaration's keys, hashed ([`key_hash`]).
    keys: Vec<(AnchorKind, u64)>,
    /// The declaration's keys, summarised for the indicators' filters.
    summary: Summary,
}

/// Some words of a [`Prepared`] declaration.
#[derive(Clone, Copy)]
struct Words<'p> {
    lowered: &'p str,
    spans: &'p [(usize, usize)],
}

impl<'p> Words<'p> {
    fn get(&self, index: usize) -> &'p str {
        self.spans
            .get(index)
            .and_then(|&(start, end)| self.lowered.get(start..end))
            .unwrap_or("")
    }

    fn len(&self) -> usize {
        self.spans.len()
    }

    fn iter(self) -> impl DoubleEndedIterator<Item = &'p str> {
        (0..self.spans.len()).map(move |i| self.get(i))
    }

    /// Whether the term's words occur here consecutively. A term without words never
    /// matches.
    fn contains_phrase(&self, term: Words<'_>) -> bool {
        term.len() != 0
            && term.len() <= self.len()
            && (0..=self.len() - term.len())
                .any(|start| (0..term.len()).all(|k| self.get(start + k) == term.get(k)))
    }
}

impl<'d> Prepared<'d> {
    fn new(declaration: &'d AdvanceDeclaration) -> Self {
        let seller = declaration.seller.as_ref();
        let seller_name = seller.map_or("", |s| s.name.as_str());
        let text_len: usize = declaration
            .items
            .iter()
            .map(|item| item.description.len())
            .sum::<usize>()
            + seller_name.len();
        let mut lowered = String::with_capacity(text_len);
        let mut spans = Vec::with_capacity(text_len / 4);
        let mut split = |text: &str| {
            let first = spans.len();
            for_each_word(text, |word| {
                let start = lowered.len();
                push_lower_case(&mut lowered, word);
                spans.push((start, lowered.len()));
            });
            (first, spans.len())
        };
        let item_spans: Vec<(usize, usize)> = declaration
            .items
            .iter()
            .map(|item| split(&item.description))
            .collect();
        let seller_name_spans = split(seller_name);
        let mut prepared = Prepared {
            declaration,
            lowered,
            spans,
            item_spans,
            seller_name_spans,
            seller_id: seller.map_or("", |s| s.identifier.trim()),
            total: total_value(&declaration.items),
            keys: Vec::new(),
            summary: Summary::default(),
        };
        let mut keys = Vec::with_capacity(prepared.spans.len() + 12 * declaration.items.len() + 4);
        let mut summary = Summary::default();
        for &span in &prepared.item_spans {
            let mut previous = None;
            for word in prepared.words(span).iter() {
                let hash = key_hash(word);
                keys.push((AnchorKind::DescriptionWord, hash));
                summary.add(AnchorKind::DescriptionWord, hash);
                if let Some(previous) = previous {
                    summary.bigrams |= bigram_bit(previous, hash);
                }
                previous = Some(hash);
            }
        }
        for_each_other_key(&prepared, |kind, key| {
            let hash = key_hash(key);
            // Longer HS prefixes are never filed (HS_KEY_DIGITS), only summarised.
            if kind != AnchorKind::HsPrefix || key.len() <= HS_KEY_DIGITS {
                keys.push((kind, hash));
            }
            summary.add_key(kind, key, hash);
        });
        prepared.keys = keys;
        prepared.summary = summary;
        prepared
    }

    fn words(&self, (first, end): (usize, usize)) -> Words<'_> {
        Words {
            lowered: &self.lowered,
            spans: self.spans.get(first..end).unwrap_or(&[]),
        }
    }

    fn item_words(&self, index: usize) -> Words<'_> {
        self.words(self.item_spans.get(index).copied().unwrap_or((0, 0)))
    }

    fn seller_name_words(&self) -> Words<'_> {
        self.words(self.seller_name_spans)
    }
}

/// Calls `f` with every key the declaration offers besides the words of its item
/// descriptions (which [`Prepared::new`] takes item by item): its seller id, the words of its
/// seller's name, the 2- to 10-character prefixes of its items' HS codes (only those up to
/// [`HS_KEY_DIGITS`] are looked up; all are summarised), its origin and dispatch countries
/// and its currency. Empty values are skipped, as they match nothing.
fn for_each_other_key(p: &Prepared<'_>, mut f: impl FnMut(AnchorKind, &str)) {
    if !p.seller_id.is_empty() {
        f(AnchorKind::SellerId, p.seller_id);
    }
    for word in p.seller_name_words().iter() {
        f(AnchorKind::SellerNameWord, word);
    }
    for item in &p.declaration.items {
        let hs = item.hs_code.as_str();
        for len in MIN_HS_PREFIX_DIGITS..=MAX_HS_PREFIX_DIGITS.min(hs.len()) {
            if let Some(prefix) = hs.get(..len) {
                f(AnchorKind::HsPrefix, prefix);
            }
        }
        if !item.origin_country.is_empty() {
            f(AnchorKind::OriginCountry, &item.origin_country);
        }
    }
    if !p.declaration.country_of_dispatch.is_empty() {
        f(
            AnchorKind::DispatchCountry,
            &p.declaration.country_of_dispatch,
        );
    }
    if let Some((currency, _)) = p.total {
        f(AnchorKind::Currency, currency);
    }
}

/// The items' common currency and the sum of their values; `None` when there are no items,
/// an item has no value or an empty currency, or the currencies differ. The sum is an i128
/// so that 999 items of `i64::MAX` cannot overflow.
fn total_value(items: &[Item]) -> Option<(&str, i128)> {
    let mut currency: Option<&str> = None;
    let mut sum: i128 = 0;
    for item in items {
        let value = item.value.as_ref()?;
        if value.currency.is_empty() {
            return None;
        }
        match currency {
            None => currency = Some(&value.currency),
            Some(c) if c != value.currency => return None,
            Some(_) => {}
        }
        sum += i128::from(value.amount_minor);
    }
    currency.map(|c| (c, sum))
}

/// Calls `f` with each word of `text`: each maximal run of alphanumeric characters
/// ([`char::is_alphanumeric`]), as written. ASCII text, the usual case, is split byte by byte.
fn for_each_word(text: &str, mut f: impl FnMut(&str)) {
    if !text.is_ascii() {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .for_each(f);
        return;
    }
    let mut start = None;
    for (at, byte) in text.bytes().enumerate() {
        match (byte.is_ascii_alphanumeric(), start) {
            (true, None) => start = Some(at),
            (false, Some(from)) => {
                f(text.get(from..at).unwrap_or(""));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(from) = start {
        f(text.get(from..).unwrap_or(""));
    }
}

/// Appends `word.to_lowercase()` to `out`, without allocating for ASCII words.
fn push_lower_case(out: &mut String, word: &str) {
    if word.is_ascii() {
        out.extend(word.bytes().map(|b| char::from(b.to_ascii_lowercase())));
    } else {
        out.push_str(&word.to_lowercase());
    }
}

/// Whether `actual` is one of `values`; an empty `actual` matches nothing.
fn contains_value<'v>(mut values: impl Iterator<Item = &'v str>, actual: &str) -> bool {
    !actual.is_empty() && values.any(|v| v == actual)
}

/// An indicator's criteria in the form matching reads, built once per indicator: seller
/// ids trimmed, terms split into lower-cased words, and every value in one text buffer with
/// one table of spans, so that verifying a candidate at 100,000 indicators costs a few cache
/// misses rather than one per string.
#[derive(Debug, Default)]
struct Compiled {
    /// Whether the criteria have a non-empty field; without, they match nothing.
    any: bool,
    text: String,
    /// Byte ranges of values in `text`, field after field in [`Field`] order; for the term
    /// fields, ranges of the words' spans.
    spans: Vec<(usize, usize)>,
    /// Where each [`Field`] ends in `spans` (it starts where the previous one ends).
    ends: [usize; FIELDS],
    min_value: Option<Bound>,
    max_value: Option<Bound>,
}

/// A value bound: its currency's span in [`Compiled::text`] and its amount.
#[derive(Debug, Clone, Copy)]
struct Bound {
    currency: (usize, usize),
    amount_minor: i64,
}

/// The fields of a [`Compiled`], in the order they are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    SellerIds,
    DispatchCountries,
    HsPrefixes,
    OriginCountries,
    /// The words of all description terms; [`Field::DescriptionTerms`] groups them.
    DescriptionWords,
    DescriptionTerms,
    SellerNameWords,
    SellerNameTerms,
}

const FIELDS: usize = 8;

impl Compiled {
    fn new(criteria: Option<&Criteria>) -> Compiled {
        let mut compiled = Compiled::default();
        let Some(c) = criteria else {
            return compiled;
        };
        compiled.any = !is_empty_criteria(c);
        compiled.push_values(Field::SellerIds, c.seller_ids.iter().map(|id| id.trim()));
        compiled.push_values(
            Field::DispatchCountries,
            c.dispatch_countries.iter().map(String::as_str),
        );
        compiled.push_values(Field::HsPrefixes, c.hs_prefixes.iter().map(String::as_str));
        compiled.push_values(
            Field::OriginCountries,
            c.origin_countries.iter().map(String::as_str),
        );
        compiled.push_terms(
            Field::DescriptionWords,
            Field::DescriptionTerms,
            &c.description_terms,
        );
        compiled.push_terms(
            Field::SellerNameWords,
            Field::SellerNameTerms,
            &c.seller_name_terms,
        );
        compiled.min_value = c.min_value.as_ref().map(|m| compiled.push_bound(m));
        compiled.max_value = c.max_value.as_ref().map(|m| compiled.push_bound(m));
        compiled.text.shrink_to_fit();
        compiled.spans.shrink_to_fit();
        compiled
    }

    fn push_values<'v>(&mut self, field: Field, values: impl Iterator<Item = &'v str>) {
        for value in values {
            let start = self.text.len();
            self.text.push_str(value);
            self.spans.push((start, self.text.len()));
        }
        self.end(field);
    }

    /// Stores the terms' words as field `words` (split and lower-cased like declarations'
    /// text), then each term's range of them as field `field`.
    fn push_terms(&mut self, words: Field, field: Field, terms: &[String]) {
        let mut ranges = Vec::with_capacity(terms.len());
        for term in terms {
            let first = self.spans.len();
            for_each_word(term, |word| {
                let start = self.text.len();
                push_lower_case(&mut self.text, word);
                self.spans.push((start, self.text.len()));
            });
            ranges.push((first, self.spans.len()));
        }
        self.end(words);
        self.spans.extend(ranges);
        self.end(field);
    }

    fn push_bound(&mut self, money: &Money) -> Bound {
        let start = self.text.len();
        self.text.push_str(&money.currency);
        Bound {
            currency: (start, self.text.len()),
            amount_minor: money.amount_minor,
        }
    }

    /// Marks the end of `field` (and of any empty fields before it).
    fn end(&mut self, field: Field) {
        let end = self.spans.len();
        if let Some(place) = self.ends.get_mut(field as usize) {
            *place = end;
        }
    }

    fn range(&self, field: Field) -> &[(usize, usize)] {
        let index = field as usize;
        let start = index
            .checked_sub(1)
            .and_then(|i| self.ends.get(i))
            .copied()
            .unwrap_or(0);
        let end = self.ends.get(index).copied().unwrap_or(start);
        self.spans.get(start..end).unwrap_or(&[])
    }

    fn is_empty(&self, field: Field) -> bool {
        self.range(field).is_empty()
    }

    fn text(&self, (start, end): (usize, usize)) -> &str {
        self.text.get(start..end).unwrap_or("")
    }

    fn values(&self, field: Field) -> impl Iterator<Item = &str> {
        self.range(field).iter().map(|&span| self.text(span))
    }

    /// The terms of a term field, each as its words.
    fn terms(&self, field: Field) -> impl Iterator<Item = Words<'_>> {
        self.range(field).iter().map(|&(first, end)| Words {
            lowered: &self.text,
            spans: self.spans.get(first..end).unwrap_or(&[]),
        })
    }

    fn currency(&self, bound: &Bound) -> &str {
        self.text(bound.currency)
    }
}

/// Where the data in question sits, formatted only for the match that is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pointer {
    Item(usize, ItemField),
    SellerId,
    SellerName,
    Dispatch,
    Items,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ItemField {
    Description,
    HsCode,
    OriginCountry,
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pointer::Item(index, field) => {
                let field = match field {
                    ItemField::Description => "description",
                    ItemField::HsCode => "hs_code",
                    ItemField::OriginCountry => "origin_country",
                };
                write!(f, "items[{index}].{field}")
            }
            Pointer::SellerId => f.write_str("seller.identifier"),
            Pointer::SellerName => f.write_str("seller.name"),
            Pointer::Dispatch => f.write_str("country_of_dispatch"),
            Pointer::Items => f.write_str("items"),
        }
    }
}

fn is_empty_criteria(c: &Criteria) -> bool {
    c.hs_prefixes.is_empty()
        && c.origin_countries.is_empty()
        && c.dispatch_countries.is_empty()
        && c.seller_ids.is_empty()
        && c.seller_name_terms.is_empty()
        && c.description_terms.is_empty()
        && c.min_value.is_none()
        && c.max_value.is_none()
}

/// The matching semantics: `Some(pointer)` when the criteria match. Declaration-level fields
/// are checked first because they are cheap and reject most candidates.
fn evaluate(c: &Compiled, p: &Prepared<'_>) -> Option<Pointer> {
    if !c.any {
        return None;
    }
    let d = p.declaration;
    if !c.is_empty(Field::SellerIds)
        && (p.seller_id.is_empty() || !c.values(Field::SellerIds).any(|id| id == p.seller_id))
    {
        return None;
    }
    if !c.is_empty(Field::DispatchCountries)
        && !contains_value(c.values(Field::DispatchCountries), &d.country_of_dispatch)
    {
        return None;
    }
    if c.min_value.is_some() || c.max_value.is_some() {
        let (currency, total) = p.total?;
        let within = |bound: Option<&Bound>, holds: &dyn Fn(i128) -> bool| {
            bound.is_none_or(|b| {
                let bound_currency = c.currency(b);
                !bound_currency.is_empty()
                    && bound_currency == currency
                    && holds(i128::from(b.amount_minor))
            })
        };
        if !within(c.min_value.as_ref(), &|min| total >= min)
            || !within(c.max_value.as_ref(), &|max| total <= max)
        {
            return None;
        }
    }
    if !c.is_empty(Field::SellerNameTerms)
        && !c
            .terms(Field::SellerNameTerms)
            .any(|term| p.seller_name_words().contains_phrase(term))
    {
        return None;
    }
    let item_level = !c.is_empty(Field::HsPrefixes)
        || !c.is_empty(Field::OriginCountries)
        || !c.is_empty(Field::DescriptionTerms);
    if item_level {
        let index = d
            .items
            .iter()
            .enumerate()
            .position(|(index, item)| item_matches(c, item, p.item_words(index)))?;
        let field = if !c.is_empty(Field::DescriptionTerms) {
            ItemField::Description
        } else if !c.is_empty(Field::HsPrefixes) {
            ItemField::HsCode
        } else {
            ItemField::OriginCountry
        };
        return Some(Pointer::Item(index, field));
    }
    Some(if !c.is_empty(Field::SellerIds) {
        Pointer::SellerId
    } else if !c.is_empty(Field::SellerNameTerms) {
        Pointer::SellerName
    } else if !c.is_empty(Field::DispatchCountries) {
        Pointer::Dispatch
    } else {
        Pointer::Items
    })
}

/// Whether one item satisfies every non-empty item-level field.
fn item_matches(c: &Compiled, item: &Item, words: Words<'_>) -> bool {
    (c.is_empty(Field::HsPrefixes)
        || c.values(Field::HsPrefixes)
            .any(|prefix| !prefix.is_empty() && item.hs_code.starts_with(prefix)))
        && (c.is_empty(Field::OriginCountries)
            || contains_value(c.values(Field::OriginCountries), &item.origin_country))
        && (c.is_empty(Field::DescriptionTerms)
            || c.terms(Field::DescriptionTerms)
                .any(|term| words.contains_phrase(term)))
}

fn outcome_code(action: i32) -> OutcomeCode {
    OutcomeCode::try_from(action).unwrap_or(OutcomeCode::Unspecified)
}

// ---------------------------------------------------------------------------------------
// Index internals

/// The field an indicator is filed under, in order of selectivity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AnchorKind {
    SellerId = 0,
    DescriptionWord = 1,
    SellerNameWord = 2,
    HsPrefix = 3,
    OriginCountry = 4,
    DispatchCountry = 5,
    /// The currency of an indicator with only value bounds.
    Currency = 6,
}

const ANCHOR_KINDS: usize = 7;

/// The kinds, in the order of their maps.
const ANCHOR_KIND_LIST: [AnchorKind; ANCHOR_KINDS] = [
    AnchorKind::SellerId,
    AnchorKind::DescriptionWord,
    AnchorKind::SellerNameWord,
    AnchorKind::HsPrefix,
    AnchorKind::OriginCountry,
    AnchorKind::DispatchCountry,
    AnchorKind::Currency,
];

/// Where one indicator is filed.
#[derive(Debug)]
enum Anchor {
    /// Under each of `keys` ([`key_hash`]es, deduplicated) in the map of `kind`. No keys
    /// means it can never match (e.g. only wordless terms), so it is filed nowhere.
    Keys { kind: AnchorKind, keys: Vec<u64> },
    /// In the list checked on every assessment.
    Unindexed,
}

impl Anchor {
    fn choose(criteria: Option<&Criteria>, compiled: &Compiled) -> Anchor {
        let Some(c) = criteria else {
            return Anchor::nowhere();
        };
        if !compiled.is_empty(Field::SellerIds) {
            return Anchor::keys(AnchorKind::SellerId, compiled.values(Field::SellerIds));
        }
        if !compiled.is_empty(Field::DescriptionTerms) {
            return Anchor::keys(
                AnchorKind::DescriptionWord,
                key_words(compiled, Field::DescriptionTerms),
            );
        }
        if !compiled.is_empty(Field::SellerNameTerms) {
            return Anchor::keys(
                AnchorKind::SellerNameWord,
                key_words(compiled, Field::SellerNameTerms),
            );
        }
        // A declaration offers its HS codes' prefixes of 2 to 4 bytes as keys; a prefix
        // without such a head could match without being found, so the field is only an
        // anchor when every (non-empty) prefix has one.
        if !c.hs_prefixes.is_empty()
            && c.hs_prefixes
                .iter()
                .all(|p| p.is_empty() || hs_key(p).is_some())
        {
            return Anchor::keys(
                AnchorKind::HsPrefix,
                c.hs_prefixes.iter().filter_map(|p| hs_key(p)),
            );
        }
        if !c.origin_countries.is_empty() {
            let keys = c.origin_countries.iter().map(String::as_str);
            return Anchor::keys(AnchorKind::OriginCountry, keys);
        }
        if !c.dispatch_countries.is_empty() {
            let keys = c.dispatch_countries.iter().map(String::as_str);
            return Anchor::keys(AnchorKind::DispatchCountry, keys);
        }
        if !c.hs_prefixes.is_empty() {
            return Anchor::Unindexed;
        }
        // Only value bounds are left (or nothing): both bounds must be in the declaration's
        // currency, so either bound's currency is a complete key.
        match c.min_value.as_ref().or(c.max_value.as_ref()) {
            Some(bound) => Anchor::keys(AnchorKind::Currency, [bound.currency.as_str()]),
            None => Anchor::nowhere(),
        }
    }

    fn nowhere() -> Anchor {
        Anchor::Keys {
            kind: AnchorKind::SellerId,
            keys: Vec::new(),
        }
    }

    /// Files under the distinct non-empty keys: empty values never match.
    fn keys<'k>(kind: AnchorKind, keys: impl IntoIterator<Item = &'k str>) -> Anchor {
        let mut keys: Vec<u64> = keys
            .into_iter()
            .filter(|k| !k.is_empty())
            .map(key_hash)
            .collect();
        keys.sort_unstable();
        keys.dedup();
        Anchor::Keys { kind, keys }
    }
}

/// One key word per term: its longest word (the first of equally long ones). Any word of
/// the term would be correct, since all must occur; the longest is usually the rarest
/// ("running" rather than "men" in "men's running shoes"), which keeps candidate lists short.
/// Wordless terms never match and contribute no key.
fn key_words(compiled: &Compiled, field: Field) -> impl Iterator<Item = &str> {
    compiled
        .terms(field)
        .filter_map(|term| term.iter().rev().max_by_key(|word| word.chars().count()))
}

/// Whether an HS prefix is among those a declaration's [`Summary`] holds (prefixes of 2 to
/// 10 bytes). An empty prefix matches nothing, so it needs no bit.
fn keyable_prefix(prefix: &str) -> bool {
    prefix.is_empty() || (MIN_HS_PREFIX_DIGITS..=MAX_HS_PREFIX_DIGITS).contains(&prefix.len())
}

/// Longest HS key, in bytes: a heading (4 digits).
///
/// HS-anchored indicators are filed under their prefix's first four digits (or the whole
/// prefix when shorter), and a declaration looks up its items' codes' prefixes of 2 to 4
/// digits. Filing `640411` under `6404` costs screening a longer list, which the filter
/// (holding the whole prefix) does sequentially; looking up every length from 2 to 10
/// instead would cost a cache miss per length and item at 100,000 indicators.
const HS_KEY_DIGITS: usize = 4;

/// The key an HS prefix is filed under: its longest head of 2 to [`HS_KEY_DIGITS`] bytes
/// that ends on a character boundary, which every code it prefixes offers too; `None` when
/// it has none (only malformed prefixes), so that it cannot be keyed.
fn hs_key(prefix: &str) -> Option<&str> {
    (MIN_HS_PREFIX_DIGITS..=HS_KEY_DIGITS.min(prefix.len()))
        .rev()
        .find_map(|len| prefix.get(..len))
}

/// One indicator filed under one key: its slot and its filter, kept together so that a key's
/// candidates are screened by reading one contiguous list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Posting {
    slot: usize,
    /// [`severity`] of the indicator's action, so that assessment can take the most severe
    /// candidates first without reading the others' records.
    rank: u8,
    /// Whether the indicator has value bounds (in [`RiskIndex`]'s `bounds`).
    bounded: bool,
    filter: Filter,
}

impl Posting {
    fn new(slot: usize, record: &IndicatorRecord, compiled: &Compiled) -> Posting {
        Posting {
            slot,
            rank: severity(outcome_code(record.indicator.action)),
            bounded: value_bounds(record.indicator.criteria.as_ref()).is_some(),
            filter: Filter::of_indicator(compiled),
        }
    }
}

/// An indicator's value bounds as inclusive `(min, max)` amounts, when it has any (their
/// currency is left to verification).
fn value_bounds(criteria: Option<&Criteria>) -> Option<(i64, i64)> {
    let c = criteria?;
    if c.min_value.is_none() && c.max_value.is_none() {
        return None;
    }
    let amount = |money: &Option<Money>, absent| money.as_ref().map_or(absent, |m| m.amount_minor);
    Some((
        amount(&c.min_value, i64::MIN),
        amount(&c.max_value, i64::MAX),
    ))
}

/// A key's postings, by [`key_hash`]. Keys are stored as hashes rather than strings: a
/// lookup then reads no key string (one cache miss fewer per key at 100,000 indicators),
/// and two keys sharing a hash only share a list, whose extra candidates verification
/// rejects.
type KeyMap = HashMap<u64, Vec<Posting>, BuildHasherDefault<KeyHasher>>;

/// Hashes a [`KeyMap`] key, which is already a well-mixed hash, by taking it as is.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The hash a key is filed and looked up by: FNV-1a, then MurmurHash3's 64-bit finalizer so
/// that every bit depends on every byte (the map takes its buckets from some bits and the
/// [`Summary`] and [`Filter`] from the top ones).
///
/// A fast, unkeyed hash suffices because partners only ever look keys up: a crafted word
/// that collides with an indicator's key reaches the same one list that simply writing that
/// key would, and its extra candidates are verified away. Only administrations file keys.
/// The index is rebuilt at every start, so the hash need not be stable across releases.
fn key_hash(key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Bloom-style bit sets of values, one bit per value chosen by its [`key_hash`]: for a
/// declaration ([`Summary`]) the values it offers, for an indicator ([`Filter`]) the values
/// it requires. 24 bytes, so that an indicator's [`Posting`] takes 40 and a key's list is
/// read with few cache misses.
///
/// Only fields that screen out candidates are kept: seller ids, when present, are always
/// the anchor, so their list already holds only indicators that name the declaration's
/// seller, and seller name words and currencies are rarely a second criterion. Fields of
/// which a declaration offers many values get more bits, so that few are set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Bits {
    /// Description words.
    words: u64,
    /// HS prefixes of 3 to 10 digits.
    prefixes: u32,
    /// Origin countries.
    origins: u32,
    /// Pairs of consecutive words in one item's description.
    bigrams: u32,
    /// HS prefixes of 2 digits (chapters).
    chapters: u16,
    /// Dispatch countries.
    dispatch: u16,
}

/// What a declaration offers ([`Bits`]).
type Summary = Bits;

/// One of `2^log2` bits, by the top bits of a [`key_hash`].
fn bit(hash: u64, log2: u32) -> u64 {
    1 << (hash >> (64 - log2))
}

/// The bit of a pair of consecutive words, from their [`key_hash`]es.
fn bigram_bit(first: u64, second: u64) -> u32 {
    let mut h = first.rotate_left(23) ^ second;
    h ^= h >> 31;
    h = h.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    1 << ((h ^ (h >> 29)) >> 59)
}

impl Bits {
    /// Adds a key by its hash (`key` itself only tells HS chapters from longer prefixes).
    fn add_key(&mut self, kind: AnchorKind, key: &str, hash: u64) {
        if kind == AnchorKind::HsPrefix && key.len() == MIN_HS_PREFIX_DIGITS {
            self.chapters |= bit(hash, 4) as u16;
        } else {
            self.add(kind, hash);
        }
    }

    /// Adds a value of a kind that has bits (the others are not summarised).
    fn add(&mut self, kind: AnchorKind, hash: u64) {
        match kind {
            AnchorKind::DescriptionWord => self.words |= bit(hash, 6),
            AnchorKind::HsPrefix => self.prefixes |= bit(hash, 5) as u32,
            AnchorKind::OriginCountry => self.origins |= bit(hash, 5) as u32,
            AnchorKind::DispatchCountry => self.dispatch |= bit(hash, 4) as u16,
            AnchorKind::SellerId | AnchorKind::SellerNameWord | AnchorKind::Currency => {}
        }
    }
}

/// What an indicator requires of a declaration's [`Summary`], so that most candidates can
/// be rejected from their [`Posting`] alone.
///
/// For HS prefixes, origin and dispatch countries, the bits of the values through which the
/// field can match, or none when it is empty or cannot be summarised (HS prefixes outside
/// 2–10 bytes): an indicator can only match a declaration that has one of them in each such
/// field, because a field that matches does so through a value the declaration offers. For
/// description terms, every word common to all terms (all the words of the only term, the
/// usual case) must be present, since a term matches only when all its words occur; and when
/// every term is a phrase, the pair of first words of one of them must occur consecutively.
/// So the filter never rejects a match; what it wrongly admits, verification rejects.
type Filter = Bits;

impl Filter {
    fn of_indicator(c: &Compiled) -> Filter {
        let mut f = Filter::default();
        let worded = || {
            c.terms(Field::DescriptionTerms)
                .filter(|term| term.len() != 0)
        };
        let mut shared: Option<u64> = None;
        for term in worded() {
            let words = term
                .iter()
                .fold(0, |bits, word| bits | bit(key_hash(word), 6));
            shared = Some(shared.map_or(words, |shared| shared & words));
        }
        f.words = shared.unwrap_or(0);
        if worded().next().is_some() && worded().all(|term| term.len() >= 2) {
            for term in worded() {
                f.bigrams |= bigram_bit(key_hash(term.get(0)), key_hash(term.get(1)));
            }
        }
        if c.values(Field::HsPrefixes).all(keyable_prefix) {
            for prefix in c.values(Field::HsPrefixes).filter(|p| !p.is_empty()) {
                f.add_key(AnchorKind::HsPrefix, prefix, key_hash(prefix));
            }
        }
        for country in c.values(Field::OriginCountries).filter(|c| !c.is_empty()) {
            f.add(AnchorKind::OriginCountry, key_hash(country));
        }
        for country in c.values(Field::DispatchCountries).filter(|c| !c.is_empty()) {
            f.add(AnchorKind::DispatchCountry, key_hash(country));
        }
        f
    }

    /// Whether an indicator with this filter may match a declaration with this summary.
    fn admits(&self, d: &Summary) -> bool {
        fn any(needed: u64, offered: u64) -> bool {
            needed == 0 || needed & offered != 0
        }
        self.words & !d.words == 0
            && any(self.bigrams.into(), d.bigrams.into())
            && any(
                u64::from(self.chapters) << 32 | u64::from(self.prefixes),
                u64::from(d.chapters) << 32 | u64::from(d.prefixes),
            )
            && any(self.origins.into(), d.origins.into())
            && any(self.dispatch.into(), d.dispatch.into())
    }
}

/// A blocked Bloom filter of the keys filed in a [`RiskIndex`]: two bits per key in one
/// 64-bit word (one memory access per key), 8 to 32 bits per key (about 2% of absent keys
/// pass at 16), small enough to stay in the CPU cache when the maps do not. It cannot forget
/// a key: removals leave their bits set (absent keys then pass more often, which costs a
/// probe, never a match), until enough have accumulated for
/// [`RiskIndex::rebuild_key_filter`].
#[derive(Debug, Default)]
struct KeyFilter {
    /// The bits; a power of two of them, or none (then every key may be filed).
    words: Vec<u64>,
    /// Keys filed in the maps now.
    keys: usize,
    /// Keys removed since the last rebuild, whose bits are still set.
    stale: usize,
}

impl KeyFilter {
    /// Bits per key a filter is built with (up to twice as many, rounding up to a power of
    /// two); it is rebuilt when growth has brought it down to half.
    const BITS_PER_KEY: usize = 16;

    fn with_capacity(keys: usize) -> KeyFilter {
        let bits = (keys.max(1024) * Self::BITS_PER_KEY).next_power_of_two();
        KeyFilter {
            words: vec![0; bits / 64],
            keys,
            stale: 0,
        }
    }

    /// A key's word and its two bits in it.
    fn bits(&self, kind: AnchorKind, key: u64) -> (usize, u64) {
        // Mix the kind in: the same text is a different key in each map.
        let mut h = key ^ (kind as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 29;
        h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^= h >> 32;
        let word = (h as usize) & self.words.len().saturating_sub(1);
        (word, 1 << ((h >> 52) & 63) | 1 << (h >> 58))
    }

    fn may_contain(&self, kind: AnchorKind, key: u64) -> bool {
        if self.words.is_empty() {
            return true;
        }
        let (word, mask) = self.bits(kind, key);
        self.words.get(word).is_some_and(|w| w & mask == mask)
    }

    /// Sets a key's bits (the caller counts new keys in `keys`).
    fn insert(&mut self, kind: AnchorKind, key: u64) {
        let (word, mask) = self.bits(kind, key);
        if let Some(w) = self.words.get_mut(word) {
            *w |= mask;
        }
    }

    /// Records that a key left its map.
    fn forget(&mut self) {
        self.keys = self.keys.saturating_sub(1);
        self.stale += 1;
    }

    /// Whether the filter has become too small for the keys, or too stale.
    fn needs_rebuild(&self) -> bool {
        let bits = self.words.len() * 64;
        self.keys * Self::BITS_PER_KEY > bits * 2 || self.stale > self.keys.max(1024)
    }
}

/// One record with what matching needs precomputed.
///
/// The record is boxed, and its end date copied here, so that the slab holds only what
/// verification reads: at 100,000 indicators a compact slab stays largely in the CPU cache,
/// while titles, rationales and ids are only read for the match reported.
struct Slot {
    valid_until_ms: i64,
    compiled: Compiled,
    anchor: Anchor,
    record: Box<IndicatorRecord>,
}

impl Slot {
    fn evaluate(&self, prepared: &Prepared<'_>) -> Option<Pointer> {
        evaluate(&self.compiled, prepared)
    }

    fn to_match(&self, pointer: Pointer) -> Match<'_> {
        Match {
            record: &self.record,
            code: outcome_code(self.record.indicator.action),
            pointer: pointer.to_string(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Validation

/// 1–64 characters of `A–Z a–z 0–9 . _ : -`.
fn is_indicator_id(id: &str) -> bool {
    (1..=MAX_INDICATOR_ID_CHARS).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

fn check_indicator_id(out: &mut Violations, id: &str) {
    if id.is_empty() {
        out.add(
            "indicator_id",
            "required: 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'",
        );
    } else if !is_indicator_id(id) {
        out.add(
            "indicator_id",
            "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'",
        );
    }
}

fn max_chars(out: &mut Violations, field: impl fmt::Display, value: &str, max: usize) {
    // At most `max` bytes means at most `max` characters; count only when needed.
    if value.len() > max {
        let chars = value.chars().count();
        if chars > max {
            out.add(
                field,
                format_args!("must be at most {max} characters (got {chars})"),
            );
        }
    }
}

fn check_criteria(out: &mut Violations, c: &Criteria) {
    if is_empty_criteria(c) {
        out.add(
            "criteria",
            "at least one criterion is required; an indicator without criteria would match every declaration",
        );
        return;
    }
    let lists: [(&str, &[String]); 6] = [
        ("hs_prefixes", &c.hs_prefixes),
        ("origin_countries", &c.origin_countries),
        ("dispatch_countries", &c.dispatch_countries),
        ("seller_ids", &c.seller_ids),
        ("seller_name_terms", &c.seller_name_terms),
        ("description_terms", &c.description_terms),
    ];
    for (name, values) in lists {
        if values.len() > MAX_CRITERIA_VALUES {
            out.add(
                format_args!("criteria.{name}"),
                format_args!(
                    "at most {MAX_CRITERIA_VALUES} values (got {}); split the list over several indicators",
                    values.len()
                ),
            );
        }
    }
    for (i, prefix) in c.hs_prefixes.iter().enumerate() {
        if !is_hs_prefix(prefix) {
            out.add(
                format_args!("criteria.hs_prefixes[{i}]"),
                "must be 2 to 10 digits starting with an existing HS chapter (01–97, not 77)",
            );
        }
    }
    for (i, country) in c.origin_countries.iter().enumerate() {
        check_country(out, format_args!("criteria.origin_countries[{i}]"), country);
    }
    for (i, country) in c.dispatch_countries.iter().enumerate() {
        check_country(
            out,
            format_args!("criteria.dispatch_countries[{i}]"),
            country,
        );
    }
    for (i, id) in c.seller_ids.iter().enumerate() {
        if id.trim().is_empty() {
            out.add(
                format_args!("criteria.seller_ids[{i}]"),
                format_args!("must be 1 to {MAX_SELLER_ID_CHARS} characters, not blank"),
            );
        } else {
            max_chars(
                out,
                format_args!("criteria.seller_ids[{i}]"),
                id,
                MAX_SELLER_ID_CHARS,
            );
        }
    }
    for (name, terms) in [
        ("seller_name_terms", &c.seller_name_terms),
        ("description_terms", &c.description_terms),
    ] {
        for (i, term) in terms.iter().enumerate() {
            if !term.chars().any(char::is_alphanumeric) {
                out.add(
                    format_args!("criteria.{name}[{i}]"),
                    "must contain at least one word (letters or digits); punctuation alone never matches",
                );
            } else {
                max_chars(
                    out,
                    format_args!("criteria.{name}[{i}]"),
                    term,
                    MAX_TERM_CHARS,
                );
            }
        }
    }
    let min_ok = c
        .min_value
        .as_ref()
        .is_some_and(|m| check_bound(out, "min_value", m));
    let max_ok = c
        .max_value
        .as_ref()
        .is_some_and(|m| check_bound(out, "max_value", m));
    if let (Some(min), Some(max), true, true) = (&c.min_value, &c.max_value, min_ok, max_ok) {
        if min.currency != max.currency {
            out.add(
                "criteria.max_value.currency",
                format_args!(
                    "{:?} differs from min_value's {:?}; values are not converted, so both bounds must be in one currency",
                    max.currency, min.currency
                ),
            );
        } else if min.amount_minor > max.amount_minor {
            out.add(
                "criteria.min_value.amount_minor",
                format_args!(
                    "{} exceeds max_value.amount_minor {}; the range would match nothing",
                    min.amount_minor, max.amount_minor
                ),
            );
        }
    }
}

/// Checks one value bound; returns whether it is entirely valid.
fn check_bound(out: &mut Violations, name: &str, money: &Money) -> bool {
    let mut ok = true;
    if !codes::is_currency(&money.currency) {
        ok = false;
        let upper = money.currency.to_ascii_uppercase();
        let field = format!("criteria.{name}.currency");
        if money.currency.is_empty() {
            out.add(field, "required: an ISO 4217 currency code such as EUR");
        } else if codes::is_currency(&upper) {
            out.add(
                field,
                format_args!("{:?} must be upper case ({upper:?})", money.currency),
            );
        } else {
            out.add(
                field,
                format_args!(
                    "{:?} is not an ISO 4217 currency in circulation",
                    money.currency
                ),
            );
        }
    }
    if money.amount_minor < 0 {
        ok = false;
        out.add(
            format_args!("criteria.{name}.amount_minor"),
            "must not be negative",
        );
    }
    ok
}

fn check_country(out: &mut Violations, field: impl fmt::Display, code: &str) {
    crate::core::validation::check_country(out, field, code, "CN");
}

/// 2 to 10 ASCII digits whose first two name an existing HS chapter.
fn is_hs_prefix(prefix: &str) -> bool {
    (MIN_HS_PREFIX_DIGITS..=MAX_HS_PREFIX_DIGITS).contains(&prefix.len())
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && codes::is_hs_chapter(&prefix[..2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::validation::sample_declaration;
    use crate::proto::v1::Party;

    const NOW: i64 = 1_780_000_000_000;

    fn money(currency: &str, amount_minor: i64) -> Option<Money> {
        Some(Money {
            currency: currency.into(),
            amount_minor,
        })
    }

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    /// A valid indicator: counterfeit running shoes from CN.
    fn indicator(id: &str, action: OutcomeCode, criteria: Criteria) -> RiskIndicator {
        RiskIndicator {
            indicator_id: id.into(),
            version: 1,
            title: "Counterfeit sports footwear".into(),
            rationale: "Seizures of counterfeit running shoes in Q1".into(),
            tlp: Tlp::Amber as i32,
            personal_data: false,
            criteria: Some(criteria),
            action: action as i32,
            valid_until_ms: 0,
        }
    }

    fn record(id: &str, action: OutcomeCode, criteria: Criteria) -> IndicatorRecord {
        IndicatorRecord {
            indicator: indicator(id, action, criteria),
            issuer: "adm/NL".into(),
        }
    }

    fn index_of(records: impl IntoIterator<Item = IndicatorRecord>) -> RiskIndex {
        let mut index = RiskIndex::new();
        for record in records {
            assert_eq!(index.upsert(record), Ok(None));
        }
        index
    }

    /// The sample: seller "Shenzhen Apex Sports Co., Ltd." / SHOPCO-S-004417, dispatched from
    /// CN; items[0] running shoes 64041100 CN, items[1] smartwatch 851762 CN, items[2]
    /// handbag 42022100 VN; 5,999 + 9,900 + 7,900 = 23,799 EUR cents.
    fn declaration() -> AdvanceDeclaration {
        sample_declaration("SHP-2026-000001")
    }

    fn matches(criteria: Criteria) -> bool {
        criteria_match(&criteria, &declaration())
    }

    /// The pointer of the match through the index (also checking the index agrees).
    fn pointer(criteria: Criteria) -> Option<String> {
        let expected = criteria_match(&criteria, &declaration());
        let index = index_of([record("I-1", OutcomeCode::RequestForInformation, criteria)]);
        let found = index.assess(&declaration(), NOW, &HashSet::new());
        assert_eq!(found.is_some(), expected);
        found.map(|m| m.pointer)
    }

    fn hs(prefixes: &[&str]) -> Criteria {
        Criteria {
            hs_prefixes: strings(prefixes),
            ..Criteria::default()
        }
    }

    fn origin(countries: &[&str]) -> Criteria {
        Criteria {
            origin_countries: strings(countries),
            ..Criteria::default()
        }
    }

    fn dispatch(countries: &[&str]) -> Criteria {
        Criteria {
            dispatch_countries: strings(countries),
            ..Criteria::default()
        }
    }

    fn sellers(ids: &[&str]) -> Criteria {
        Criteria {
            seller_ids: strings(ids),
            ..Criteria::default()
        }
    }

    fn seller_names(terms: &[&str]) -> Criteria {
        Criteria {
            seller_name_terms: strings(terms),
            ..Criteria::default()
        }
    }

    fn descriptions(terms: &[&str]) -> Criteria {
        Criteria {
            description_terms: strings(terms),
            ..Criteria::default()
        }
    }

    fn value(min: Option<Money>, max: Option<Money>) -> Criteria {
        Criteria {
            min_value: min,
            max_value: max,
            ..Criteria::default()
        }
    }

    #[test]
    fn hs_prefixes_match_by_prefix() {
        assert!(matches(hs(&["6404"])));
        assert!(matches(hs(&["64041100"])));
        assert!(matches(hs(&["42"])));
        assert!(matches(hs(&["9999", "8517"])), "one of the values");
        assert!(!matches(hs(&["6405"])));
        assert!(!matches(hs(&["640411001"])), "longer than the item's code");
        assert!(!matches(hs(&["0404"])));
    }

    #[test]
    fn origin_countries_match_an_item() {
        assert!(matches(origin(&["VN"])));
        assert!(matches(origin(&["US", "CN"])));
        assert!(!matches(origin(&["US"])));
        assert!(!matches(origin(&["vn"])), "codes compare byte for byte");
    }

    #[test]
    fn dispatch_countries_match_the_declaration() {
        assert!(matches(dispatch(&["CN"])));
        assert!(matches(dispatch(&["HK", "CN"])));
        assert!(
            !matches(dispatch(&["VN"])),
            "VN is an origin, not the dispatch"
        );
    }

    #[test]
    fn seller_ids_match_exactly_after_trimming() {
        assert!(matches(sellers(&["SHOPCO-S-004417"])));
        assert!(matches(sellers(&["X", " SHOPCO-S-004417\t"])));
        assert!(!matches(sellers(&["shopco-s-004417"])), "case-sensitive");
        assert!(!matches(sellers(&["SHOPCO-S-00441"])), "not a prefix match");
        let mut d = declaration();
        if let Some(seller) = d.seller.as_mut() {
            seller.identifier = "  SHOPCO-S-004417 ".into();
        }
        assert!(criteria_match(&sellers(&["SHOPCO-S-004417"]), &d));
        if let Some(seller) = d.seller.as_mut() {
            seller.identifier.clear();
        }
        assert!(
            !criteria_match(&sellers(&[""]), &d),
            "empty matches nothing"
        );
        assert!(!criteria_match(&sellers(&[" "]), &d));
        d.seller = None;
        assert!(!criteria_match(&sellers(&["SHOPCO-S-004417"]), &d));
    }

    #[test]
    fn seller_name_terms_are_whole_words_and_phrases() {
        assert!(matches(seller_names(&["apex"])));
        assert!(matches(seller_names(&["APEX SPORTS"])));
        assert!(matches(seller_names(&["sports co"])), "across the comma");
        assert!(matches(seller_names(&["co., ltd"])));
        assert!(!matches(seller_names(&["ape"])), "not a substring");
        assert!(
            !matches(seller_names(&["shenzhen sports"])),
            "not consecutive"
        );
        assert!(!matches(seller_names(&["sports apex"])), "order matters");
        let mut d = declaration();
        d.seller = None;
        assert!(!criteria_match(&seller_names(&["apex"]), &d));
    }

    #[test]
    fn description_terms_are_case_insensitive_whole_words() {
        assert!(matches(descriptions(&["running shoes"])));
        assert!(matches(descriptions(&["RUBBER"])));
        assert!(
            matches(descriptions(&["heart rate"])),
            "hyphen splits words"
        );
        assert!(matches(descriptions(&["Heart-Rate sensor"])));
        assert!(matches(descriptions(&["men's"])));
        assert!(matches(descriptions(&["women"])), "items[2]: Women's");
        assert!(matches(descriptions(&["xyz", "bluetooth"])));
        assert!(!matches(descriptions(&["run"])), "not a substring");
        assert!(!matches(descriptions(&["shoe"])), "no stemming");
        assert!(!matches(descriptions(&["shoes running"])));
        assert!(
            !matches(descriptions(&["sole smartwatch"])),
            "not across items"
        );
        assert!(!matches(descriptions(&["!!"])), "a term without words");

        let mut d = declaration();
        d.items[0].description = "Nike Air-Max 90, Café CRÈME edition".into();
        for term in [
            "air max",
            "Air-Max",
            "AIR MAX 90",
            "nike",
            "café crème",
            "CAFÉ",
        ] {
            assert!(criteria_match(&descriptions(&[term]), &d), "{term}");
        }
        d.items[0].description = "Nikeland sneakers".into();
        assert!(!criteria_match(&descriptions(&["nike"]), &d));
    }

    #[test]
    fn item_level_fields_must_hold_for_the_same_item() {
        let both = |hs: &[&str], origin: &[&str], terms: &[&str]| Criteria {
            hs_prefixes: strings(hs),
            origin_countries: strings(origin),
            description_terms: strings(terms),
            ..Criteria::default()
        };
        assert!(
            !matches(both(&["6404"], &["VN"], &[])),
            "shoes are CN, VN is the bag"
        );
        assert!(matches(both(&["4202"], &["VN"], &[])));
        assert!(matches(both(&["6404", "4202"], &["VN"], &[])));
        assert!(!matches(both(&[], &["CN"], &["leather"])));
        assert!(matches(both(&[], &["VN"], &["leather"])));
        assert!(matches(both(&["4202"], &["VN"], &["cowhide leather"])));
        assert!(!matches(both(&["4202"], &["VN"], &["running"])));
        assert_eq!(
            pointer(both(&["4202"], &["VN"], &[])).as_deref(),
            Some("items[2].hs_code")
        );
    }

    #[test]
    fn all_non_empty_fields_must_match() {
        let criteria = Criteria {
            seller_ids: strings(&["SHOPCO-S-004417"]),
            dispatch_countries: strings(&["CN"]),
            description_terms: strings(&["smartwatch"]),
            ..Criteria::default()
        };
        assert!(matches(criteria.clone()));
        for spoil in [
            |c: &mut Criteria| c.seller_ids = strings(&["OTHER"]),
            |c: &mut Criteria| c.dispatch_countries = strings(&["VN"]),
            |c: &mut Criteria| c.description_terms = strings(&["drone"]),
            |c: &mut Criteria| c.min_value = money("EUR", 1_000_000),
        ] {
            let mut spoiled = criteria.clone();
            spoil(&mut spoiled);
            assert!(!matches(spoiled));
        }
    }

    #[test]
    fn an_indicator_without_criteria_matches_nothing() {
        assert!(!matches(Criteria::default()));
        let mut without = record("I-1", OutcomeCode::DoNotLoad, Criteria::default());
        without.indicator.criteria = None;
        let index = index_of([
            without,
            record("I-2", OutcomeCode::DoNotLoad, Criteria::default()),
        ]);
        assert_eq!(index.matches(&declaration(), NOW), []);
    }

    #[test]
    fn value_bounds_are_inclusive_in_the_items_currency() {
        assert!(matches(value(money("EUR", 23_799), None)));
        assert!(!matches(value(money("EUR", 23_800), None)));
        assert!(matches(value(None, money("EUR", 23_799))));
        assert!(!matches(value(None, money("EUR", 23_798))));
        assert!(matches(value(money("EUR", 0), money("EUR", 30_000))));
        assert!(!matches(value(money("EUR", 24_000), money("EUR", 30_000))));
        assert!(!matches(value(money("USD", 0), None)), "no FX conversion");
        assert!(!matches(value(None, money("USD", 1_000_000))));
        assert!(!matches(value(money("EUR", 0), money("USD", 1_000_000))));
        assert!(!matches(value(money("", 0), None)));
        // The same through the index, which screens value bounds before verifying.
        let index = index_of([
            record(
                "V-1",
                OutcomeCode::DoNotLoad,
                value(money("EUR", 23_799), None),
            ),
            record(
                "V-2",
                OutcomeCode::DoNotLoad,
                value(None, money("EUR", 23_799)),
            ),
            record(
                "V-3",
                OutcomeCode::DoNotLoad,
                value(money("EUR", 23_799), money("EUR", 23_799)),
            ),
            record(
                "V-4",
                OutcomeCode::DoNotLoad,
                value(money("EUR", 23_800), None),
            ),
            record(
                "V-5",
                OutcomeCode::DoNotLoad,
                value(None, money("EUR", 23_798)),
            ),
        ]);
        let ids: Vec<_> = index
            .matches(&declaration(), NOW)
            .iter()
            .map(|m| m.record.indicator.indicator_id.clone())
            .collect();
        assert_eq!(ids, ["V-1", "V-2", "V-3"]);

        let mut mixed = declaration();
        mixed.items[1].value = money("USD", 9_900);
        assert!(!criteria_match(&value(money("EUR", 0), None), &mixed));
        let mut missing = declaration();
        missing.items[1].value = None;
        assert!(!criteria_match(&value(money("EUR", 0), None), &missing));
        let mut none = declaration();
        none.items.clear();
        assert!(!criteria_match(&value(None, money("EUR", 1)), &none));
        let mut huge = declaration();
        for item in &mut huge.items {
            item.value = money("EUR", i64::MAX);
        }
        assert!(
            criteria_match(&value(money("EUR", i64::MAX), None), &huge),
            "no overflow"
        );
    }

    #[test]
    fn severity_orders_all_five_codes() {
        let order = [
            OutcomeCode::DoNotLoad,
            OutcomeCode::RequestForScreening,
            OutcomeCode::ControlOnArrival,
            OutcomeCode::RequestForInformation,
            OutcomeCode::AssessmentComplete,
        ];
        for pair in order.windows(2) {
            assert!(severity(pair[0]) > severity(pair[1]), "{pair:?}");
        }
        assert_eq!(severity(OutcomeCode::DoNotLoad), 4);
        assert_eq!(severity(OutcomeCode::AssessmentComplete), 0);
        assert_eq!(severity(OutcomeCode::Unspecified), 0);
    }

    #[test]
    fn assess_picks_the_most_severe_and_exclusions_step_down() {
        // Ids in reverse order of severity, so that the tie-break cannot explain the result.
        let index = index_of([
            record("A", OutcomeCode::AssessmentComplete, origin(&["CN"])),
            record("B", OutcomeCode::RequestForInformation, origin(&["CN"])),
            record("C", OutcomeCode::ControlOnArrival, origin(&["CN"])),
            record("D", OutcomeCode::RequestForScreening, origin(&["CN"])),
            record("E", OutcomeCode::DoNotLoad, origin(&["CN"])),
        ]);
        let d = declaration();
        let mut exclude = HashSet::new();
        for (id, code) in [
            ("E", OutcomeCode::DoNotLoad),
            ("D", OutcomeCode::RequestForScreening),
            ("C", OutcomeCode::ControlOnArrival),
            ("B", OutcomeCode::RequestForInformation),
        ] {
            let best = index
                .assess(&d, NOW, &exclude)
                .map(|m| (m.record.indicator.indicator_id.clone(), m.code));
            assert_eq!(best, Some((id.to_owned(), code)));
            exclude.insert(id.to_owned());
        }
        assert_eq!(index.assess(&d, NOW, &exclude), None, "ASSESSMENT_COMPLETE");
        let all: Vec<_> = index
            .matches(&d, NOW)
            .iter()
            .map(|m| m.record.indicator.indicator_id.clone())
            .collect();
        assert_eq!(all, ["E", "D", "C", "B", "A"]);
    }

    #[test]
    fn ties_go_to_the_smallest_indicator_id() {
        let index = index_of([
            record("NL-0002", OutcomeCode::DoNotLoad, origin(&["CN"])),
            record("NL-0010", OutcomeCode::DoNotLoad, hs(&["6404"])),
            record(
                "NL-0001",
                OutcomeCode::DoNotLoad,
                sellers(&["SHOPCO-S-004417"]),
            ),
            record("NL-0000", OutcomeCode::RequestForScreening, origin(&["CN"])),
        ]);
        let best = index.assess(&declaration(), NOW, &HashSet::new());
        assert_eq!(
            best.map(|m| (m.record.indicator.indicator_id.clone(), m.pointer)),
            Some(("NL-0001".to_owned(), "seller.identifier".to_owned()))
        );
    }

    #[test]
    fn pointers_name_the_data_in_question() {
        assert_eq!(
            pointer(descriptions(&["bluetooth"])).as_deref(),
            Some("items[1].description")
        );
        assert_eq!(pointer(hs(&["4202"])).as_deref(), Some("items[2].hs_code"));
        assert_eq!(
            pointer(hs(&["64", "85"])).as_deref(),
            Some("items[0].hs_code"),
            "first item"
        );
        assert_eq!(
            pointer(origin(&["VN"])).as_deref(),
            Some("items[2].origin_country")
        );
        assert_eq!(
            pointer(sellers(&["SHOPCO-S-004417"])).as_deref(),
            Some("seller.identifier")
        );
        assert_eq!(
            pointer(seller_names(&["apex"])).as_deref(),
            Some("seller.name")
        );
        assert_eq!(
            pointer(dispatch(&["CN"])).as_deref(),
            Some("country_of_dispatch")
        );
        assert_eq!(
            pointer(value(money("EUR", 1), None)).as_deref(),
            Some("items")
        );
        let mixed = Criteria {
            seller_name_terms: strings(&["apex"]),
            dispatch_countries: strings(&["CN"]),
            hs_prefixes: strings(&["85"]),
            origin_countries: strings(&["CN"]),
            ..Criteria::default()
        };
        assert_eq!(pointer(mixed.clone()).as_deref(), Some("items[1].hs_code"));
        let mut no_items = mixed;
        no_items.hs_prefixes.clear();
        no_items.origin_countries.clear();
        assert_eq!(pointer(no_items).as_deref(), Some("seller.name"));
    }

    #[test]
    fn upsert_replaces_only_with_a_higher_version_from_the_issuer() {
        let mut index = RiskIndex::new();
        let v1 = record("NL:42", OutcomeCode::RequestForInformation, hs(&["6404"]));
        assert_eq!(index.upsert(v1.clone()), Ok(None));
        assert_eq!(index.len(), 1);

        let mut v2 = record("NL:42", OutcomeCode::DoNotLoad, hs(&["4202"]));
        v2.indicator.version = 2;
        assert_eq!(index.upsert(v2.clone()), Ok(Some(v1.clone())));
        assert_eq!(index.get("NL:42"), Some(&v2));
        assert_eq!(index.len(), 1);
        // The old criteria no longer match; the new ones do, with the new action.
        let mut d = declaration();
        d.items.truncate(1);
        assert_eq!(index.matches(&d, NOW), []);
        let full = index.matches(&declaration(), NOW);
        assert_eq!(full.len(), 1);
        assert_eq!(full[0].code, OutcomeCode::DoNotLoad);

        let stale = |offered| IndexError::StaleVersion {
            indicator_id: "NL:42".into(),
            in_force: 2,
            offered,
        };
        let mut equal = v2.clone();
        equal.indicator.title = "Changed".into();
        assert_eq!(index.upsert(equal), Err(stale(2)));
        assert_eq!(index.upsert(v1), Err(stale(1)));

        let mut other = v2.clone();
        other.indicator.version = 3;
        other.issuer = "adm/BE".into();
        let error = index.upsert(other);
        assert_eq!(
            error,
            Err(IndexError::NotIssuer {
                indicator_id: "NL:42".into(),
                issuer: "adm/BE".into()
            })
        );
        assert_eq!(index.get("NL:42"), Some(&v2), "unchanged");
        assert_eq!(
            error.err().map(|e| e.to_string()).as_deref(),
            Some("indicator \"NL:42\" is in force from another issuer than adm/BE; only its issuer may replace it")
        );
        assert_eq!(
            stale(1).to_string(),
            "indicator \"NL:42\" version 1 does not replace version 2 in force; a replacement needs a higher version"
        );
    }

    #[test]
    fn remove_stops_matching_at_once() {
        let mut index = index_of([
            record("R-1", OutcomeCode::DoNotLoad, descriptions(&["smartwatch"])),
            record("R-2", OutcomeCode::RequestForInformation, origin(&["CN"])),
        ]);
        let d = declaration();
        assert_eq!(index.matches(&d, NOW).len(), 2);
        let removed = index.remove("R-1");
        assert_eq!(
            removed.map(|r| r.indicator.indicator_id),
            Some("R-1".to_owned())
        );
        assert_eq!(index.remove("R-1"), None);
        assert_eq!(index.len(), 1);
        assert_eq!(index.get("R-1"), None);
        let left: Vec<_> = index
            .matches(&d, NOW)
            .iter()
            .map(|m| m.record.indicator.indicator_id.clone())
            .collect();
        assert_eq!(left, ["R-2"]);
        // The slot is reused by the next insert without confusing the anchors.
        assert_eq!(
            index.upsert(record("R-3", OutcomeCode::ControlOnArrival, hs(&["8517"]))),
            Ok(None)
        );
        assert_eq!(index.matches(&d, NOW).len(), 2);
        assert!(index.remove("R-2").is_some());
        assert!(index.remove("R-3").is_some());
        assert!(index.is_empty());
        assert_eq!(index.matches(&d, NOW), []);
        assert_eq!(index.iter().count(), 0);
    }

    #[test]
    fn expiry_boundary_is_inclusive() {
        let mut expiring = record("X-1", OutcomeCode::DoNotLoad, origin(&["CN"]));
        expiring.indicator.valid_until_ms = NOW;
        assert!(in_force(&expiring.indicator, NOW));
        assert!(!in_force(&expiring.indicator, NOW + 1));
        let mut forever = record("X-2", OutcomeCode::RequestForInformation, origin(&["CN"]));
        forever.indicator.valid_until_ms = 0;
        assert!(in_force(&forever.indicator, i64::MAX));

        let mut index = index_of([expiring, forever]);
        let d = declaration();
        let best = |now| index_best(&index, &d, now);
        assert_eq!(best(NOW).as_deref(), Some("X-1"));
        assert_eq!(best(NOW + 1).as_deref(), Some("X-2"));
        assert_eq!(index.matches(&d, NOW + 1).len(), 1);

        let removed = index.remove_expired(NOW + 1);
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].indicator.indicator_id, "X-1");
        assert_eq!(index.len(), 1);
        assert_eq!(index_best(&index, &d, NOW).as_deref(), Some("X-2"));
    }

    fn index_best(index: &RiskIndex, d: &AdvanceDeclaration, now: i64) -> Option<String> {
        index
            .assess(d, now, &HashSet::new())
            .map(|m| m.record.indicator.indicator_id.clone())
    }

    #[test]
    fn excluded_indicators_are_skipped() {
        let index = index_of([
            record("S-1", OutcomeCode::RequestForScreening, hs(&["64"])),
            record("S-2", OutcomeCode::RequestForScreening, hs(&["85"])),
        ]);
        let d = declaration();
        let exclude: HashSet<String> = ["S-1".to_owned()].into();
        let best = index.assess(&d, NOW, &exclude);
        assert_eq!(
            best.map(|m| (m.record.indicator.indicator_id.clone(), m.pointer)),
            Some(("S-2".to_owned(), "items[1].hs_code".to_owned()))
        );
        let both: HashSet<String> = ["S-1".to_owned(), "S-2".to_owned(), "other".to_owned()].into();
        assert_eq!(index.assess(&d, NOW, &both), None);
    }

    #[test]
    fn the_index_stays_consistent_through_growth_and_mass_removal() {
        // Enough keys to outgrow the key filter several times, then enough removals to make
        // it rebuild for staleness.
        let mut index = RiskIndex::new();
        for n in 0..6_000 {
            let criteria = if n % 2 == 0 {
                sellers(&[&format!("SELLER-{n}")])
            } else {
                Criteria {
                    description_terms: strings(&[&format!("model{n} shoes")]),
                    origin_countries: strings(&["CN"]),
                    ..Criteria::default()
                }
            };
            let record = record(
                &format!("G-{n:05}"),
                OutcomeCode::RequestForInformation,
                criteria,
            );
            assert_eq!(index.upsert(record), Ok(None));
        }
        assert_eq!(index.check_consistency(), Ok(()));
        let declaration_for = |n: usize| {
            let mut d = declaration();
            if let Some(seller) = d.seller.as_mut() {
                seller.identifier = format!("SELLER-{n}");
            }
            d.items[0].description = format!("Running shoes, model{n} SHOES");
            d
        };
        let ids = |index: &RiskIndex, d: &AdvanceDeclaration| -> Vec<String> {
            index
                .matches(d, NOW)
                .iter()
                .map(|m| m.record.indicator.indicator_id.clone())
                .collect()
        };
        assert_eq!(ids(&index, &declaration_for(4_000)), ["G-04000"]);
        assert_eq!(ids(&index, &declaration_for(4_001)), ["G-04001"]);

        for n in 100..6_000 {
            assert!(index.remove(&format!("G-{n:05}")).is_some());
        }
        assert_eq!(index.len(), 100);
        assert_eq!(index.check_consistency(), Ok(()));
        assert_eq!(ids(&index, &declaration_for(4_000)), Vec::<String>::new());
        assert_eq!(ids(&index, &declaration_for(4_001)), Vec::<String>::new());
        assert_eq!(ids(&index, &declaration_for(42)), ["G-00042"]);
        assert_eq!(ids(&index, &declaration_for(43)), ["G-00043"]);
        let d = declaration_for(43);
        assert_eq!(index.matches(&d, NOW), index.matches_by_scan(&d, NOW));
    }

    #[test]
    fn unkeyable_and_degenerate_criteria_agree_with_the_reference() {
        // Prefixes outside 2..=10 characters cannot be keyed; they are checked on every
        // assessment, so the index still agrees with criteria_match.
        let index = index_of([
            record("U-1", OutcomeCode::DoNotLoad, hs(&["6"])),
            record("U-2", OutcomeCode::DoNotLoad, hs(&[""])),
            record("U-3", OutcomeCode::DoNotLoad, hs(&["640411000000"])),
            record("U-4", OutcomeCode::DoNotLoad, descriptions(&["--"])),
            record(
                "U-5",
                OutcomeCode::DoNotLoad,
                Criteria {
                    hs_prefixes: strings(&["6"]),
                    origin_countries: strings(&["CN"]),
                    ..Criteria::default()
                },
            ),
        ]);
        let d = declaration();
        let ids: Vec<_> = index
            .matches(&d, NOW)
            .iter()
            .map(|m| m.record.indicator.indicator_id.clone())
            .collect();
        assert_eq!(ids, ["U-1", "U-5"]);
        assert_eq!(index.matches_by_scan(&d, NOW), index.matches(&d, NOW));
        assert!(format!("{index:?}").contains("indicators: 5"));
    }

    // --- validation

    fn valid() -> RiskIndicator {
        let mut i = indicator(
            "NL:2026:0042",
            OutcomeCode::RequestForScreening,
            Criteria {
                hs_prefixes: strings(&["6404", "640411"]),
                origin_countries: strings(&["CN"]),
                dispatch_countries: strings(&["CN", "HK"]),
                seller_ids: strings(&["SHOPCO-S-004417"]),
                seller_name_terms: strings(&["apex sports"]),
                description_terms: strings(&["running shoes", "Air-Max"]),
                min_value: money("EUR", 0),
                max_value: money("EUR", 15_000),
            },
        );
        i.valid_until_ms = NOW + 86_400_000;
        i
    }

    fn violations(change: impl FnOnce(&mut RiskIndicator)) -> Vec<FieldViolation> {
        let mut i = valid();
        change(&mut i);
        validate_indicator(&i, NOW)
    }

    /// Asserts that `change` produces exactly one violation, on `field`.
    fn only(field: &str, change: impl FnOnce(&mut RiskIndicator)) -> FieldViolation {
        let found = violations(change);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].field, field, "{found:?}");
        found[0].clone()
    }

    fn criteria(i: &mut RiskIndicator) -> &mut Criteria {
        i.criteria.get_or_insert_with(Criteria::default)
    }

    #[test]
    fn the_valid_indicator_is_valid() {
        assert_eq!(validate_indicator(&valid(), NOW), []);
    }

    #[test]
    fn indicator_ids_are_1_to_64_safe_characters() {
        only("indicator_id", |i| i.indicator_id.clear());
        only("indicator_id", |i| i.indicator_id = "a".repeat(65));
        for bad in ["NL 42", "NL/42", "NL#42", "é"] {
            only("indicator_id", |i| i.indicator_id = bad.into());
        }
        for good in ["a", "NL:2026:0042", "adm.NL_risk-7", &"x".repeat(64)] {
            assert_eq!(violations(|i| i.indicator_id = good.into()), [], "{good}");
        }
    }

    #[test]
    fn version_title_rationale_and_tlp() {
        only("version", |i| i.version = 0);
        only("title", |i| i.title.clear());
        only("title", |i| i.title = "  ".into());
        only("title", |i| i.title = "t".repeat(201));
        assert_eq!(violations(|i| i.title = "é".repeat(200)), []);
        only("rationale", |i| i.rationale = "r".repeat(2001));
        assert_eq!(violations(|i| i.rationale.clear()), []);
        only("tlp", |i| i.tlp = Tlp::Unspecified as i32);
        only("tlp", |i| i.tlp = 6);
        assert_eq!(violations(|i| i.tlp = Tlp::Red as i32), []);
    }

    #[test]
    fn criteria_are_required_and_not_empty() {
        only("criteria", |i| i.criteria = None);
        only("criteria", |i| i.criteria = Some(Criteria::default()));
        assert_eq!(
            violations(|i| i.criteria = Some(value(money("EUR", 100_000), None))),
            []
        );
    }

    #[test]
    fn hs_prefixes_are_2_to_10_digits_of_a_chapter() {
        for bad in [
            "6",
            "",
            "77",
            "7701",
            "98",
            "0012",
            "64041100000",
            "64a4",
            " 6404",
        ] {
            only("criteria.hs_prefixes[1]", |i| {
                criteria(i).hs_prefixes[1] = bad.into()
            });
        }
        for good in ["64", "01", "97", "6404110000"] {
            assert_eq!(
                violations(|i| criteria(i).hs_prefixes[1] = good.into()),
                [],
                "{good}"
            );
        }
    }

    #[test]
    fn countries_are_iso_upper_case() {
        let found = only("criteria.origin_countries[0]", |i| {
            criteria(i).origin_countries[0] = "cn".into()
        });
        assert_eq!(found.description, "\"cn\" must be upper case (\"CN\")");
        only("criteria.origin_countries[0]", |i| {
            criteria(i).origin_countries[0] = "XK".into()
        });
        only("criteria.dispatch_countries[1]", |i| {
            criteria(i).dispatch_countries[1] = "CHN".into()
        });
        only("criteria.dispatch_countries[1]", |i| {
            criteria(i).dispatch_countries[1].clear()
        });
    }

    #[test]
    fn seller_ids_and_terms() {
        only("criteria.seller_ids[0]", |i| {
            criteria(i).seller_ids[0] = " ".into()
        });
        only("criteria.seller_ids[0]", |i| {
            criteria(i).seller_ids[0] = "S".repeat(65)
        });
        assert_eq!(
            violations(|i| criteria(i).seller_ids[0] = "S".repeat(64)),
            []
        );
        only("criteria.seller_name_terms[0]", |i| {
            criteria(i).seller_name_terms[0] = "&".into()
        });
        only("criteria.description_terms[1]", |i| {
            criteria(i).description_terms[1].clear()
        });
        only("criteria.description_terms[1]", |i| {
            criteria(i).description_terms[1] = "w ".repeat(51)
        });
        assert_eq!(
            violations(|i| criteria(i).description_terms[1] = "w".repeat(100)),
            []
        );
        only("criteria.description_terms", |i| {
            criteria(i).description_terms = vec!["shoes".into(); MAX_CRITERIA_VALUES + 1]
        });
    }

    #[test]
    fn value_bounds() {
        only("criteria.min_value.currency", |i| {
            criteria(i).min_value = money("eur", 0)
        });
        only("criteria.min_value.currency", |i| {
            criteria(i).min_value = money("XXX", 0)
        });
        only("criteria.max_value.currency", |i| {
            criteria(i).max_value = money("", 0)
        });
        only("criteria.min_value.amount_minor", |i| {
            criteria(i).min_value = money("EUR", -1)
        });
        only("criteria.max_value.amount_minor", |i| {
            criteria(i).max_value = money("EUR", -1)
        });
        let found = only("criteria.min_value.amount_minor", |i| {
            criteria(i).min_value = money("EUR", 15_001)
        });
        assert!(found.description.contains("exceeds"), "{found:?}");
        assert_eq!(
            violations(|i| criteria(i).min_value = money("EUR", 15_000)),
            []
        );
        only("criteria.max_value.currency", |i| {
            criteria(i).max_value = money("USD", 15_000)
        });
        assert_eq!(violations(|i| criteria(i).min_value = None), []);
        assert_eq!(violations(|i| criteria(i).max_value = None), []);
    }

    #[test]
    fn action_is_a_real_action() {
        only("action", |i| i.action = OutcomeCode::Unspecified as i32);
        let found = only("action", |i| {
            i.action = OutcomeCode::AssessmentComplete as i32
        });
        assert!(
            found.description.starts_with("ASSESSMENT_COMPLETE"),
            "{found:?}"
        );
        only("action", |i| i.action = 6);
        for code in [
            OutcomeCode::RequestForInformation,
            OutcomeCode::RequestForScreening,
            OutcomeCode::DoNotLoad,
            OutcomeCode::ControlOnArrival,
        ] {
            assert_eq!(violations(|i| i.action = code as i32), [], "{code:?}");
        }
    }

    #[test]
    fn valid_until_is_in_the_future_or_zero() {
        only("valid_until_ms", |i| i.valid_until_ms = -1);
        only("valid_until_ms", |i| i.valid_until_ms = NOW);
        only("valid_until_ms", |i| i.valid_until_ms = NOW - 1);
        assert_eq!(violations(|i| i.valid_until_ms = NOW + 1), []);
        assert_eq!(violations(|i| i.valid_until_ms = 0), []);
    }

    #[test]
    fn every_violation_at_once_and_capped() {
        let found = validate_indicator(&RiskIndicator::default(), NOW);
        let fields: Vec<_> = found.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "indicator_id",
                "version",
                "title",
                "tlp",
                "criteria",
                "action"
            ]
        );

        let found = violations(|i| criteria(i).hs_prefixes = vec!["x".into(); 150]);
        assert_eq!(found.len(), MAX_VIOLATIONS + 1);
        assert_eq!(found[0].field, "criteria.hs_prefixes[0]");
        assert_eq!(found[MAX_VIOLATIONS].field, "");
        assert!(found[MAX_VIOLATIONS].description.starts_with("50 more"));
    }

    #[test]
    fn revocations() {
        let ok = RiskIndicatorRevocation {
            indicator_id: "NL:2026:0042".into(),
            reason: "Seller cleared after investigation".into(),
        };
        assert_eq!(validate_revocation(&ok), []);
        assert_eq!(
            validate_revocation(&RiskIndicatorRevocation {
                reason: String::new(),
                ..ok.clone()
            }),
            []
        );
        let fields = |r: &RiskIndicatorRevocation| -> Vec<String> {
            validate_revocation(r)
                .into_iter()
                .map(|v| v.field)
                .collect()
        };
        let bad = RiskIndicatorRevocation {
            indicator_id: "NL 42".into(),
            reason: "r".repeat(501),
        };
        assert_eq!(fields(&bad), ["indicator_id", "reason"]);
        assert_eq!(
            fields(&RiskIndicatorRevocation::default()),
            ["indicator_id"]
        );
    }

    // --- the index agrees with the reference semantics

    mod property {
        use super::*;
        use proptest::collection::vec;
        use proptest::option;
        use proptest::prelude::*;
        use proptest::sample::select;
        use proptest::strategy::ValueTree;

        const COUNTRIES: &[&str] = &["CN", "VN", "US", "NL"];
        const HS_CODES: &[&str] = &[
            "64041100",
            "640419",
            "6403990000",
            "851762",
            "85171300",
            "42022100",
            "420221",
            "6",
        ];
        const HS_PREFIXES: &[&str] = &[
            "64", "6404", "640411", "640419", "85", "8517", "851762", "42", "4202", "64041100",
            "6", "",
        ];
        const WORDS: &[&str] = &[
            "nike", "air", "max", "shoes", "leather", "bag", "phone", "case", "crème", "café",
            "cotton", "shirt",
        ];
        const SEPARATORS: &[&str] = &[" ", "-", ", ", "'", "/"];
        const SELLERS: &[&str] = &["S1", "S2", "S3"];
        const CURRENCIES: &[&str] = &["EUR", "USD"];

        /// Mostly empty, so that indicators have few fields and match often.
        fn sparse<T: std::fmt::Debug + Clone + 'static>(
            values: impl Strategy<Value = T> + 'static,
        ) -> BoxedStrategy<Vec<T>> {
            prop_oneof![3 => Just(Vec::new()), 1 => vec(values, 1..3)].boxed()
        }

        fn word() -> impl Strategy<Value = String> {
            (select(WORDS), any::<bool>()).prop_map(|(w, upper)| {
                if upper {
                    w.to_uppercase()
                } else {
                    w.to_owned()
                }
            })
        }

        fn text(words: std::ops::Range<usize>) -> impl Strategy<Value = String> {
            vec((word(), select(SEPARATORS)), words)
                .prop_map(|parts| parts.into_iter().map(|(w, s)| format!("{w}{s}")).collect())
        }

        fn term() -> impl Strategy<Value = String> {
            prop_oneof![10 => text(1..3), 1 => Just("!!".to_owned())]
        }

        fn country() -> impl Strategy<Value = String> {
            prop_oneof![10 => select(COUNTRIES).prop_map(str::to_owned), 1 => Just(String::new())]
        }

        fn amount(max: i64) -> impl Strategy<Value = Option<Money>> {
            (select(CURRENCIES), 0..max).prop_map(|(c, a)| money(c, a))
        }

        fn criteria() -> impl Strategy<Value = Criteria> {
            (
                sparse(select(HS_PREFIXES).prop_map(str::to_owned)),
                sparse(country()),
                sparse(country()),
                sparse(prop_oneof![
                    select(SELLERS).prop_map(str::to_owned),
                    Just(" S1 ".to_owned())
                ]),
                sparse(term()),
                sparse(term()),
                option::weighted(0.2, amount(300).prop_map(|m| m.unwrap_or_default())),
                option::weighted(0.2, amount(300).prop_map(|m| m.unwrap_or_default())),
            )
                .prop_map(|(hs, origin, dispatch, sellers, names, terms, min, max)| {
                    Criteria {
                        hs_prefixes: hs,
                        origin_countries: origin,
                        dispatch_countries: dispatch,
                        seller_ids: sellers,
                        seller_name_terms: names,
                        description_terms: terms,
                        min_value: min,
                        max_value: max,
                    }
                })
        }

        fn record_strategy() -> impl Strategy<Value = IndicatorRecord> {
            (
                criteria(),
                0..7i32,
                prop_oneof![3 => Just(0i64), 1 => NOW - 2..NOW + 2],
                1..4u32,
            )
                .prop_map(|(criteria, action, valid_until_ms, version)| {
                    let mut r = record("", OutcomeCode::Unspecified, criteria);
                    r.indicator.action = action;
                    r.indicator.valid_until_ms = valid_until_ms;
                    r.indicator.version = version;
                    r
                })
        }

        fn item() -> impl Strategy<Value = Item> {
            (
                text(1..6),
                select(HS_CODES),
                country(),
                prop_oneof![8 => Just("EUR"), 1 => Just("USD"), 1 => Just("")],
                0..120i64,
                prop::bool::weighted(0.95),
            )
                .prop_map(|(description, hs, origin, currency, amount, valued)| Item {
                    description,
                    hs_code: hs.to_owned(),
                    quantity: 1,
                    value: if valued {
                        money(currency, amount)
                    } else {
                        None
                    },
                    origin_country: origin,
                    mass_g: 100,
                    listing_url: String::new(),
                    listed_price: None,
                })
        }

        fn declaration_strategy() -> impl Strategy<Value = AdvanceDeclaration> {
            (
                vec(item(), 0..4),
                option::weighted(
                    0.9,
                    (
                        prop_oneof![
                            select(SELLERS).prop_map(str::to_owned),
                            Just(" S2".to_owned()),
                            Just(String::new())
                        ],
                        text(0..4),
                    ),
                ),
                country(),
            )
                .prop_map(|(items, seller, dispatch)| {
                    let mut d = sample_declaration("P");
                    d.items = items;
                    d.seller = seller.map(|(identifier, name)| Party {
                        name,
                        identifier,
                        ..Party::default()
                    });
                    d.country_of_dispatch = dispatch;
                    d
                })
        }

        fn ids(found: &[Match<'_>]) -> Vec<String> {
            let mut ids: Vec<String> = found
                .iter()
                .map(|m| m.record.indicator.indicator_id.clone())
                .collect();
            ids.sort();
            ids
        }

        /// Brute force over the records with the public reference semantics.
        fn reference(index: &RiskIndex, d: &AdvanceDeclaration, now: i64) -> Vec<String> {
            let mut ids: Vec<String> = index
                .iter()
                .filter(|r| in_force(&r.indicator, now))
                .filter(|r| {
                    r.indicator
                        .criteria
                        .as_ref()
                        .is_some_and(|c| criteria_match(c, d))
                })
                .map(|r| r.indicator.indicator_id.clone())
                .collect();
            ids.sort();
            ids
        }

        fn check(
            index: &RiskIndex,
            declarations: &[AdvanceDeclaration],
        ) -> Result<usize, TestCaseError> {
            let mut total = 0;
            if let Err(problem) = index.check_consistency() {
                return Err(TestCaseError::fail(problem));
            }
            for d in declarations {
                let now = NOW;
                let found = index.matches(d, now);
                prop_assert_eq!(ids(&found), reference(index, d, now));
                prop_assert_eq!(&found, &index.matches_by_scan(d, now));
                // assess = the first of the matches that can change the outcome.
                let best = found.iter().find(|m| severity(m.code) > 0).cloned();
                prop_assert_eq!(index.assess(d, now, &HashSet::new()), best);
                // With every other match excluded (as satisfied referrals), the first of
                // the rest.
                let exclude: HashSet<String> = found
                    .iter()
                    .step_by(2)
                    .map(|m| m.record.indicator.indicator_id.clone())
                    .collect();
                let best = found
                    .iter()
                    .find(|m| {
                        severity(m.code) > 0 && !exclude.contains(&m.record.indicator.indicator_id)
                    })
                    .cloned();
                prop_assert_eq!(index.assess(d, now, &exclude), best);
                total += found.len();
            }
            Ok(total)
        }

        #[derive(Clone, Debug)]
        enum Op {
            Remove(usize),
            Upsert(usize, Box<IndicatorRecord>),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (0..40usize).prop_map(Op::Remove),
                ((0..40usize), record_strategy()).prop_map(|(i, r)| Op::Upsert(i, Box::new(r))),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn index_matches_brute_force(
                records in vec(record_strategy(), 0..30),
                declarations in vec(declaration_strategy(), 1..6),
                ops in vec(op(), 0..20),
            ) {
                let mut index = RiskIndex::new();
                for (n, mut r) in records.into_iter().enumerate() {
                    r.indicator.indicator_id = format!("I{n}");
                    prop_assert_eq!(index.upsert(r), Ok(None));
                }
                check(&index, &declarations)?;
                for op in ops {
                    match op {
                        Op::Remove(n) => {
                            let id = format!("I{n}");
                            let held = index.get(&id).cloned();
                            prop_assert_eq!(index.remove(&id), held);
                        }
                        Op::Upsert(n, mut r) => {
                            r.indicator.indicator_id = format!("I{n}");
                            let held = index.get(&r.indicator.indicator_id).cloned();
                            let result = index.upsert((*r).clone());
                            match held {
                                None => prop_assert_eq!(result, Ok(None)),
                                Some(old) if old.indicator.version < r.indicator.version => {
                                    prop_assert_eq!(result, Ok(Some(old)))
                                }
                                Some(_) => prop_assert!(result.is_err()),
                            }
                        }
                    }
                    check(&index, &declarations)?;
                }
                prop_assert_eq!(index.len(), index.iter().count());
            }
        }

        /// The alphabets are small enough that matches are common: the property is not
        /// vacuously true.
        #[test]
        fn the_generators_produce_matches() {
            let mut runner = proptest::test_runner::TestRunner::deterministic();
            let mut matched = 0;
            for _ in 0..50 {
                let records = vec(record_strategy(), 20)
                    .new_tree(&mut runner)
                    .map(|t| t.current())
                    .unwrap_or_default();
                let declarations = vec(declaration_strategy(), 5)
                    .new_tree(&mut runner)
                    .map(|t| t.current())
                    .unwrap_or_default();
                let mut index = RiskIndex::new();
                for (n, mut r) in records.into_iter().enumerate() {
                    r.indicator.indicator_id = format!("I{n}");
                    let _ = index.upsert(r);
                }
                matched += check(&index, &declarations).unwrap_or(0);
            }
            assert!(matched > 100, "only {matched} matches");
        }
    }
}
