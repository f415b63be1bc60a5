//! Bloom filters that let the index pass over candidates without reading them. At 100,000
//! indicators, reading a candidate's record costs several cache misses, so most candidates
//! that share only their anchor with a declaration are rejected from the [`Filter`] in their
//! posting, and most of a declaration's keys, which no indicator uses, cost no probe of the
//! maps thanks to the [`KeyFilter`]. A filter may wrongly admit, which verification corrects,
//! but must never reject a match, which the index's property test checks.

use super::index::{key_hash, AnchorKind};
use super::matching::{Compiled, Field};
use super::validation::{MAX_HS_PREFIX_DIGITS, MIN_HS_PREFIX_DIGITS};

/// Whether an HS prefix is among those a declaration's [`Summary`] holds (prefixes of 2 to
/// 10 bytes). An empty prefix matches nothing, so it needs no bit.
fn keyable_prefix(prefix: &str) -> bool {
    prefix.is_empty() || (MIN_HS_PREFIX_DIGITS..=MAX_HS_PREFIX_DIGITS).contains(&prefix.len())
}

/// Bloom-style bit sets of values, one bit per value chosen by its [`key_hash`]: for a
/// declaration ([`Summary`]) the values it offers, for an indicator ([`Filter`]) the values
/// it requires. 24 bytes, so that an indicator's `Posting` takes 40 and a key's list is
/// read with few cache misses.
///
/// Only fields that screen out candidates are kept: seller ids, when present, are always
/// the anchor, so their list already holds only indicators that name the declaration's
/// seller, and seller name words and currencies are rarely a second criterion. Fields of
/// which a declaration offers many values get more bits, so that few are set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Bits {
    /// Description words.
    words: u64,
    /// HS prefixes of 3 to 10 digits.
    prefixes: u32,
    /// Origin countries.
    origins: u32,
    /// Pairs of consecutive words in one item's description.
    pub(super) bigrams: u32,
    /// HS prefixes of 2 digits (chapters).
    chapters: u16,
    /// Dispatch countries.
    dispatch: u16,
}

/// What a declaration offers ([`Bits`]).
pub(super) type Summary = Bits;

/// One of `2^log2` bits, by the top bits of a [`key_hash`].
fn bit(hash: u64, log2: u32) -> u64 {
    1 << (hash >> (64 - log2))
}

/// The bit of a pair of consecutive words, from their [`key_hash`]es.
pub(super) fn bigram_bit(first: u64, second: u64) -> u32 {
    let mut h = first.rotate_left(23) ^ second;
    h ^= h >> 31;
    h = h.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    1 << ((h ^ (h >> 29)) >> 59)
}

impl Bits {
    /// Adds a key by its hash (`key` itself only tells HS chapters from longer prefixes).
    pub(super) fn add_key(&mut self, kind: AnchorKind, key: &str, hash: u64) {
        if kind == AnchorKind::HsPrefix && key.len() == MIN_HS_PREFIX_DIGITS {
            self.chapters |= bit(hash, 4) as u16;
        } else {
            self.add(kind, hash);
        }
    }

    /// Adds a value of a kind that has bits (the others are not summarised).
    pub(super) fn add(&mut self, kind: AnchorKind, hash: u64) {
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
/// be rejected from their `Posting` alone.
///
/// For HS prefixes, origin and dispatch countries, the bits of the values through which the
/// field can match, or none when it is empty or cannot be summarised (HS prefixes outside
/// 2–10 bytes): an indicator can only match a declaration that has one of them in each such
/// field, because a field that matches does so through a value the declaration offers. For
/// description terms, every word common to all terms (all the words of the only term, the
/// usual case) must be present, since a term matches only when all its words occur; and when
/// every term is a phrase, the pair of first words of one of them must occur consecutively.
/// So the filter never rejects a match; what it wrongly admits, verification rejects.
pub(super) type Filter = Bits;

impl Filter {
    pub(super) fn of_indicator(c: &Compiled) -> Filter {
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
    pub(super) fn admits(&self, d: &Summary) -> bool {
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
///
/// [`RiskIndex`]: super::RiskIndex
/// [`RiskIndex::rebuild_key_filter`]: super::RiskIndex::rebuild_key_filter
#[derive(Debug, Default)]
pub(super) struct KeyFilter {
    /// The bits; a power of two of them, or none (then every key may be filed).
    words: Vec<u64>,
    /// Keys filed in the maps now.
    pub(super) keys: usize,
    /// Keys removed since the last rebuild, whose bits are still set.
    stale: usize,
}

impl KeyFilter {
    /// Bits per key a filter is built with (up to twice as many, rounding up to a power of
    /// two); it is rebuilt when growth has brought it down to half.
    const BITS_PER_KEY: usize = 16;

    pub(super) fn with_capacity(keys: usize) -> KeyFilter {
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

    pub(super) fn may_contain(&self, kind: AnchorKind, key: u64) -> bool {
        if self.words.is_empty() {
            return true;
        }
        let (word, mask) = self.bits(kind, key);
        self.words.get(word).is_some_and(|w| w & mask == mask)
    }

    /// Sets a key's bits (the caller counts new keys in `keys`).
    pub(super) fn insert(&mut self, kind: AnchorKind, key: u64) {
        let (word, mask) = self.bits(kind, key);
        if let Some(w) = self.words.get_mut(word) {
            *w |= mask;
        }
    }

    /// Records that a key left its map.
    pub(super) fn forget(&mut self) {
        self.keys = self.keys.saturating_sub(1);
        self.stale += 1;
    }

    /// Whether the filter has become too small for the keys, or too stale.
    pub(super) fn needs_rebuild(&self) -> bool {
        let bits = self.words.len() * 64;
        self.keys * Self::BITS_PER_KEY > bits * 2 || self.stale > self.keys.max(1024)
    }
}
