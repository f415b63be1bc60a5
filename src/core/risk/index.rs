//! Which indicators a declaration needs checking against, found without scanning them all
//! (anchors, as [`core::risk`](super) explains), and the indicators in force at this gateway:
//! replacement by version and issuer, revocation and expiry.
//!
//! It only finds candidates: verifying them is matching's, and choosing the outcome among the
//! matches is assessment's, so that neither depends on how indicators are filed.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use super::assessment::{outcome_code, severity, Match};
use super::filter::{bigram_bit, Filter, KeyFilter, Summary};
use super::matching::{evaluate, in_force, Compiled, Field, Pointer, Prepared};
use super::validation::{MAX_HS_PREFIX_DIGITS, MIN_HS_PREFIX_DIGITS};
use crate::proto::v1::{Criteria, Money, RiskIndicator};

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
        /// The administration whose indicator is in force: for a refusal to its own
        /// participants, never for one sent to a peer.
        in_force_issuer: String,
    },
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
///
/// [`criteria_match`]: super::criteria_match
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
    ///
    /// [`validate_indicator`]: super::validate_indicator
    pub fn upsert(
        &mut self,
        record: IndicatorRecord,
    ) -> Result<Option<IndicatorRecord>, IndexError> {
        self.check_replacement(&record)?;
        let Some(&slot) = self.by_id.get(record.indicator.indicator_id.as_str()) else {
            self.insert(record);
            return Ok(None);
        };
        let replaced = self.remove_slot(slot);
        self.insert(record);
        Ok(replaced)
    }

    /// Whether `record` may come into force: new, or a higher version from the issuer of
    /// the one in force. The ledger asks before it accepts an indicator, so that its
    /// refusal and the index's rule are one rule.
    pub fn check_replacement(&self, record: &IndicatorRecord) -> Result<(), IndexError> {
        let id = record.indicator.indicator_id.as_str();
        let Some(existing) = self.by_id.get(id).and_then(|&slot| self.slot(slot)) else {
            return Ok(());
        };
        if existing.record.issuer != record.issuer {
            return Err(IndexError::NotIssuer {
                indicator_id: id.to_owned(),
                issuer: record.issuer.clone(),
                in_force_issuer: existing.record.issuer.clone(),
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
        Ok(())
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

    /// Every record held, with what verification needs, for [`RiskIndex::matches_by_scan`].
    pub(super) fn entries(&self) -> impl Iterator<Item = &Slot> {
        self.slots.iter().flatten()
    }

    /// The indicators filed under one of the declaration's keys, plus the unindexed ones,
    /// whose filter admits the declaration, each once, as (rank, slot) most severe first.
    ///
    /// At 100,000 indicators the maps and lists do not fit in the CPU caches, so the work is
    /// arranged around memory: keys not filed are screened out by a small filter that does,
    /// and the lists are all located before they are read.
    pub(super) fn ranked_candidates(&self, p: &Prepared<'_>) -> Vec<(Reverse<u8>, usize)> {
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
    pub(super) fn candidates(&self, p: &Prepared<'_>) -> Vec<usize> {
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

    pub(super) fn slot(&self, slot: usize) -> Option<&Slot> {
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

/// The declaration's keys, hashed ([`key_hash`]), and their [`Summary`], for
/// [`Prepared::new`]: computed once per assessment, so that finding and screening candidates
/// reads no text.
pub(super) fn declaration_keys(p: &Prepared<'_>) -> (Vec<(AnchorKind, u64)>, Summary) {
    let mut keys = Vec::with_capacity(p.spans.len() + 12 * p.declaration.items.len() + 4);
    let mut summary = Summary::default();
    for &span in &p.item_spans {
        let mut previous = None;
        for word in p.words(span).iter() {
            let hash = key_hash(word);
            keys.push((AnchorKind::DescriptionWord, hash));
            summary.add(AnchorKind::DescriptionWord, hash);
            if let Some(previous) = previous {
                summary.bigrams |= bigram_bit(previous, hash);
            }
            previous = Some(hash);
        }
    }
    for_each_other_key(p, |kind, key| {
        let hash = key_hash(key);
        // Longer HS prefixes are never filed (HS_KEY_DIGITS), only summarised.
        if kind != AnchorKind::HsPrefix || key.len() <= HS_KEY_DIGITS {
            keys.push((kind, hash));
        }
        summary.add_key(kind, key, hash);
    });
    (keys, summary)
}

/// Calls `f` with every key the declaration offers besides the words of its item
/// descriptions (which [`declaration_keys`] takes item by item): its seller id, the words of its
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

/// The field an indicator is filed under, in order of selectivity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AnchorKind {
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
pub(super) fn key_hash(key: &str) -> u64 {
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

/// One record with what matching needs precomputed.
///
/// The record is boxed, and its end date copied here, so that the slab holds only what
/// verification reads: at 100,000 indicators a compact slab stays largely in the CPU cache,
/// while titles, rationales and ids are only read for the match reported.
pub(super) struct Slot {
    pub(super) valid_until_ms: i64,
    compiled: Compiled,
    anchor: Anchor,
    pub(super) record: Box<IndicatorRecord>,
}

impl Slot {
    pub(super) fn evaluate(&self, prepared: &Prepared<'_>) -> Option<Pointer> {
        evaluate(&self.compiled, prepared)
    }

    pub(super) fn to_match(&self, pointer: Pointer) -> Match<'_> {
        Match {
            record: &self.record,
            code: outcome_code(self.record.indicator.action),
            pointer: pointer.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::risk::fixtures::*;
    use crate::proto::v1::{AdvanceDeclaration, OutcomeCode};

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
                issuer: "adm/BE".into(),
                in_force_issuer: v2.issuer.clone(),
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

    // --- the index agrees with the reference semantics

    mod property {
        use std::collections::HashSet;

        use super::*;
        use crate::core::risk::criteria_match;
        use crate::core::validation::sample_declaration;
        use crate::proto::v1::{Item, Party};
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
