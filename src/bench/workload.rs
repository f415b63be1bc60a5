//! Realistic, deterministic workloads for benchmarks: §8 risk indicators and §7 advance
//! declarations drawn from one synthetic world.
//!
//! Benchmarks must run against data that looks like real traffic. The cost of assessing a
//! declaration depends on how many indicators share its seller, words, HS codes and
//! countries, and the cost of validating and storing it on how many items it carries and
//! how long their texts are: one sample declaration repeated, or indicators that all look
//! alike, would measure caches and branch predictors rather than the gateway. And the data
//! must be deterministic, so that two runs, on two machines or two versions of the code,
//! measure the same work and their figures compare: everything is drawn from a seeded
//! xorshift generator ([`Rng`]), never from the clock or the OS. The risk bench
//! (`benches/risk.rs`) and `aedgate bench` both draw from here, so that there is one
//! generator to keep realistic.
//!
//! # The mix
//!
//! Indicators follow what a risk unit files: mostly seller blacklists (45%, seller ids from
//! a pool of 50,000, some restricted to a dispatch country) and goods terms (30%, from a
//! risk vocabulary of 5,000 words, single words or two-word phrases, usually combined with
//! an origin, a dispatch country or an HS chapter), seller-name terms with a dispatch
//! country (5%), HS headings and subheadings (20%, 4 to 6 digits) combined with an origin,
//! a dispatch country or a value, and a handful of broad country-and-value or value-only
//! indicators. Actions are mostly requests for information, then controls on arrival,
//! requests for screening and a few do-not-loads.
//!
//! Declarations are the §7 sample ([`sample_declaration`]) with varied sellers (one in
//! 1,000,000, so 5% of them in the blacklist pool), countries of dispatch (busy ones more
//! often) and items: HS codes from 3,000 subheadings of existing chapters (most traded
//! first), origins (mostly the country of dispatch), values from 5 to 600 EUR, and goods
//! descriptions of 4 to 8 words. Descriptions are written in a goods vocabulary of 20,000
//! words, skewed towards common ones, of which the 5,000 risk words are every fourth (so
//! risk words occur among common and rare words alike). A *dense* declaration is a stress
//! case: every description word is a risk word, so at 100,000 indicators every word of it
//! is the key of about nine indicators.

use std::ops::RangeInclusive;

use crate::core::validation::sample_declaration;
use crate::proto::v1::{AdvanceDeclaration, Criteria, Money, OutcomeCode, RiskIndicator, Tlp};

/// A day in milliseconds.
const DAY_MS: i64 = 86_400_000;
/// Words goods are described with.
const GOODS_VOCABULARY: usize = 20_000;
/// Every `RISK_WORD_STRIDE`-th goods word is a risk word: 5,000 of them.
const RISK_WORD_STRIDE: usize = 4;
/// Six-digit HS subheadings goods are classified under.
const HS_SUBHEADINGS: usize = 3_000;
/// Sellers indicators name.
const SELLER_POOL: usize = 50_000;
/// Sellers seen in traffic; the first `SELLER_POOL` of them are the ones indicators name.
const SELLER_UNIVERSE: usize = 1_000_000;
/// Countries of dispatch and origin, busiest first.
const COUNTRIES: &[&str] = &[
    "CN", "HK", "US", "GB", "TR", "VN", "IN", "KR", "JP", "TW", "TH", "MY", "ID", "PK", "BD", "AE",
    "CH", "NO", "CA", "AU", "BR", "MX", "SG", "PH", "IL", "UA", "MA", "EG", "ZA", "LK",
];
/// Items per declaration from [`Workload::declaration`]: most parcels hold one to a few
/// articles.
const ITEMS: RangeInclusive<usize> = 1..=5;
/// Items per declaration from [`Workload::risk_bench_declaration`], as the risk bench has
/// always drawn them.
const RISK_BENCH_ITEMS: RangeInclusive<usize> = 1..=4;
/// Grams of packaging on top of the items' masses, as in the demo's declarations.
const PACKAGING_G: i64 = 150;
/// Replaces a zero seed, on which xorshift would only ever produce zeros.
const ZERO_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// xorshift64*: deterministic and fast.
///
/// Deterministic so that the same seed draws the same workload on every machine and every
/// run, and figures compare; fast so that generating a million declarations costs little
/// next to processing them; and needing no dependency. Not for anything but test data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`. A zero seed (on which xorshift is stuck at zero) is
    /// replaced by a fixed non-zero one.
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 { ZERO_SEED } else { seed })
    }

    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`, near-uniform (the modulo bias is negligible for the sizes drawn
    /// here). `n == 0` is taken as 1, so that an empty choice yields 0 instead of a panic.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// A number in `low..=high_inclusive` (just `low` when the range is empty).
    pub fn range(&mut self, low: usize, high_inclusive: usize) -> usize {
        low + self.below(high_inclusive.saturating_sub(low) + 1)
    }

    /// True with probability `p` percent.
    pub fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }

    /// A number in `0..n`, skewed towards low values (the square of a uniform draw), because
    /// traffic is: common words, busy countries and popular goods come first in their lists
    /// and are drawn far more often than the rest. `n == 0` is taken as 1.
    pub fn skewed(&mut self, n: usize) -> usize {
        let n = n.max(1);
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((u * u * n as f64) as usize).min(n - 1)
    }
}

/// The vocabulary, sellers, HS codes and countries declarations and indicators are drawn from.
///
/// One world serves both, so that indicators target goods, sellers and codes that actually
/// occur in the declarations, in realistic proportions; built once per run, because drawing
/// it takes longer than drawing a declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// The goods vocabulary, most common first.
    words: Vec<String>,
    /// Six-digit HS subheadings of existing chapters, most traded first.
    subheadings: Vec<String>,
}

/// What kind of indicator [`Workload::criteria`] drew, for its title and personal-data flag.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    SellerBlacklist,
    GoodsTerms,
    SellerName,
    Hs,
    OriginAndValue,
    ValueOnly,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::SellerBlacklist => "seller blacklist",
            Kind::GoodsTerms => "goods terms",
            Kind::SellerName => "seller name",
            Kind::Hs => "HS",
            Kind::OriginAndValue => "origin and value",
            Kind::ValueOnly => "value only",
        }
    }

    /// Whether the indicator names a seller, which may be a natural person.
    fn names_seller(self) -> bool {
        matches!(self, Kind::SellerBlacklist | Kind::SellerName)
    }
}

impl Workload {
    /// The world of `seed`: the same seed gives the same world, and with the same [`Rng`]
    /// the same indicators and declarations.
    pub fn new(seed: u64) -> Self {
        Self::from_rng(&mut Rng::new(seed))
    }

    /// The world drawn from `rng`, which then goes on to draw indicators and declarations.
    ///
    /// For a caller that draws everything from one stream, as the risk bench does: its
    /// figures are comparable across versions only while it draws the very same data, and it
    /// has always drawn its declarations from the stream that drew the world.
    pub fn from_rng(rng: &mut Rng) -> Self {
        // Pronounceable synthetic words: three of 70 syllables, numbered through a bijection
        // of 0..70^3 (7,919 is prime to 70) so that they are unique and do not follow the
        // alphabet.
        let syllables: Vec<String> = "bdfgklmnprstvz"
            .chars()
            .flat_map(|c| "aeiou".chars().map(move |v| format!("{c}{v}")))
            .collect();
        let n = syllables.len();
        let words = (0..GOODS_VOCABULARY)
            .map(|i| {
                let j = (i * 7_919) % (n * n * n);
                [j % n, (j / n) % n, j / n / n]
                    .iter()
                    .map(|&k| syllables[k].as_str())
                    .collect::<String>()
            })
            .collect();
        let chapters: Vec<u32> = (1..=97).filter(|&c| c != 77).collect();
        let subheadings = (0..HS_SUBHEADINGS)
            .map(|_| {
                let chapter = chapters[rng.below(chapters.len())];
                let heading = rng.range(1, 40);
                let sub = [10, 11, 12, 19, 20, 21, 29, 30, 40, 90, 91, 99][rng.below(12)];
                format!("{chapter:02}{heading:02}{sub:02}")
            })
            .collect();
        Workload { words, subheadings }
    }

    /// `count` valid indicators, as an administration publishes them to its gateway: each
    /// passes [`validate_indicator`](crate::core::risk::validate_indicator) at `now_ms`, with
    /// unique ids `NL:2026:000000`, `NL:2026:000001`, ... (unique within one call), in the
    /// mix described in the module documentation.
    ///
    /// They are meant to be shared between gateways as well as matched, so their TLP is
    /// mostly AMBER with some GREEN and CLEAR (never RED, which would not leave its issuer),
    /// none carries personal data (so that any agreement listing `risk_indicator` may carry
    /// them), and each is in force from `now_ms` for 30 to 365 days (so that none expires
    /// during a run).
    pub fn indicators(&self, rng: &mut Rng, count: usize, now_ms: i64) -> Vec<RiskIndicator> {
        (0..count)
            .map(|n| {
                let (criteria, kind) = self.criteria(rng);
                let action = action(rng);
                let tlp = match rng.below(100) {
                    0..=79 => Tlp::Amber,
                    80..=94 => Tlp::Green,
                    _ => Tlp::Clear,
                };
                let days = rng.range(30, 365) as i64;
                RiskIndicator {
                    indicator_id: format!("NL:2026:{n:06}"),
                    version: 1,
                    title: format!("Risk profile {n}: {}", kind.name()),
                    rationale: "Seizure statistics of the last quarter".into(),
                    tlp: tlp as i32,
                    personal_data: false,
                    criteria: Some(criteria),
                    action: action as i32,
                    valid_until_ms: now_ms.saturating_add(days * DAY_MS),
                }
            })
            .collect()
    }

    /// Indicator number `n` of the risk bench: the mix of [`Workload::indicators`], but as
    /// an index holds them over time rather than as they are published: all AMBER, personal
    /// data flagged on the ones naming sellers, most without an end date and some with one,
    /// of which a few have passed by `now_ms` (the time of assessment), so that expired
    /// indicators are part of the work. Each is valid as filed 30 days before `now_ms`.
    ///
    /// Kept apart from [`Workload::indicators`], and frozen, because the risk bench's
    /// figures are comparable across versions only while it draws exactly the same
    /// indicators.
    pub fn risk_bench_indicator(&self, rng: &mut Rng, n: usize, now_ms: i64) -> RiskIndicator {
        let (criteria, kind) = self.criteria(rng);
        let action = action(rng);
        // Most run until revoked; some have an end date, a few of which have passed by now.
        let valid_until_ms = if rng.percent(80) {
            0
        } else {
            now_ms - 10 * DAY_MS + rng.below(300) as i64 * DAY_MS
        };
        RiskIndicator {
            indicator_id: format!("NL:2026:{n:06}"),
            version: 1,
            title: format!("Risk profile {n}: {}", kind.name()),
            rationale: "Seizure statistics of the last quarter".into(),
            tlp: Tlp::Amber as i32,
            personal_data: kind.names_seller(),
            criteria: Some(criteria),
            action: action as i32,
            valid_until_ms,
        }
    }

    /// A valid declaration (it passes
    /// [`validate_declaration`](crate::core::validation::validate_declaration)) with this
    /// `lrn` (at most 22 characters, as §7 allows), bound for `destination` (the buyer lives
    /// there): 1 to 5 items with varied HS codes, origins, values and descriptions, a varied
    /// country of dispatch, and a seller drawn from a million, 5% of them from the pool
    /// indicators blacklist. With `dense`, every description word is a risk word (the
    /// stress case of the module documentation).
    pub fn declaration(
        &self,
        rng: &mut Rng,
        lrn: &str,
        destination: &str,
        dense: bool,
    ) -> AdvanceDeclaration {
        let mut d = self.draw_declaration(rng, lrn, dense, ITEMS);
        d.country_of_destination = destination.to_owned();
        if let Some(buyer) = d.buyer.as_mut() {
            buyer.country = destination.to_owned();
        }
        // A platform lists the price it sold at: one unit's share of the line's value
        // (§11), so that R4 asks about no honest parcel of the load.
        for item in &mut d.items {
            if let (Some(value), Some(listed)) = (&item.value, item.listed_price.as_mut()) {
                listed.amount_minor = value.amount_minor / i64::from(item.quantity.max(1));
            }
        }
        d.gross_mass_g = d.items.iter().map(|i| i.mass_g).sum::<i64>() + PACKAGING_G;
        d
    }

    /// A declaration of the risk bench: as [`Workload::declaration`] to the sample's
    /// destination (NL), but with 1 to 4 items and the sample's other fields untouched.
    ///
    /// Kept apart, and frozen, because the risk bench's figures are comparable across
    /// versions only while it draws exactly the same declarations.
    pub fn risk_bench_declaration(
        &self,
        rng: &mut Rng,
        lrn: &str,
        dense: bool,
    ) -> AdvanceDeclaration {
        self.draw_declaration(rng, lrn, dense, RISK_BENCH_ITEMS)
    }

    /// The §7 sample with the seller, the country of dispatch and the items drawn afresh.
    fn draw_declaration(
        &self,
        rng: &mut Rng,
        lrn: &str,
        dense: bool,
        items: RangeInclusive<usize>,
    ) -> AdvanceDeclaration {
        let mut d = sample_declaration(lrn);
        let templates = std::mem::take(&mut d.items);
        if let Some(seller) = d.seller.as_mut() {
            // SHOPCO-S-nnnnnnn is 17 characters, the most §7 allows.
            seller.identifier = seller_id(rng.below(SELLER_UNIVERSE));
            seller.name = format!(
                "{} {} Trading Co., Ltd.",
                self.description_word(rng, false),
                self.description_word(rng, false)
            );
        }
        d.country_of_dispatch = country(rng);
        for i in 0..rng.range(*items.start(), *items.end()) {
            let mut item = templates
                .get(i % templates.len().max(1))
                .cloned()
                .unwrap_or_default();
            let words: Vec<&str> = (0..rng.range(4, 8))
                .map(|_| self.description_word(rng, dense))
                .collect();
            item.description = format!("{}, {}", words[..2].join(" "), words[2..].join(" "));
            item.hs_code = format!("{}{:02}", self.subheading(rng), rng.below(100));
            item.origin_country = if rng.percent(70) {
                d.country_of_dispatch.clone()
            } else {
                country(rng)
            };
            item.value = eur(rng.range(500, 60_000) as i64);
            d.items.push(item);
        }
        d
    }

    /// The criteria of one indicator of the mix, and its kind.
    fn criteria(&self, rng: &mut Rng) -> (Criteria, Kind) {
        let mut c = Criteria::default();
        let bucket = rng.below(10_000);
        let kind;
        if bucket < 4_500 {
            kind = Kind::SellerBlacklist;
            for _ in 0..rng.range(1, 2) {
                c.seller_ids.push(seller_id(rng.below(SELLER_POOL)));
            }
            if rng.percent(30) {
                c.dispatch_countries.push(target_country(rng));
            }
        } else if bucket < 7_500 {
            kind = Kind::GoodsTerms;
            for _ in 0..rng.range(1, 2) {
                let term = if rng.percent(50) {
                    self.risk_word(rng).to_owned()
                } else {
                    format!("{} {}", self.risk_word(rng), self.risk_word(rng))
                };
                c.description_terms.push(term);
            }
            // A single word is too broad on its own; some phrases are specific enough.
            let single = c.description_terms.iter().any(|t| !t.contains(' '));
            match rng.below(if single { 3 } else { 4 }) {
                0 => c.origin_countries.push(target_country(rng)),
                1 => c.hs_prefixes.push(self.subheading(rng)[..2].to_owned()),
                2 => c.dispatch_countries.push(target_country(rng)),
                _ => {}
            }
        } else if bucket < 8_000 {
            kind = Kind::SellerName;
            c.seller_name_terms.push(self.risk_word(rng).to_owned());
            c.dispatch_countries.push(target_country(rng));
        } else if bucket < 9_990 {
            kind = Kind::Hs;
            for _ in 0..rng.range(1, 2) {
                let len = rng.range(4, 6);
                c.hs_prefixes
                    .push(self.any_subheading(rng)[..len].to_owned());
            }
            match rng.below(100) {
                0..=59 => c.origin_countries.push(target_country(rng)),
                60..=89 => c.dispatch_countries.push(target_country(rng)),
                90..=98 => c.min_value = eur(rng.range(150_000, 1_500_000) as i64),
                // Goods banned whatever their origin: one six-digit subheading.
                _ => c.hs_prefixes = vec![self.any_subheading(rng).to_owned()],
            }
        } else if bucket < 9_998 {
            kind = Kind::OriginAndValue;
            c.origin_countries.push(target_country(rng));
            c.min_value = eur(rng.range(150_000, 1_500_000) as i64);
        } else {
            kind = Kind::ValueOnly;
            c.min_value = eur(rng.range(200_000, 2_000_000) as i64);
        }
        (c, kind)
    }

    /// A risk word, uniformly: analysts target specific goods, not common ones.
    fn risk_word(&self, rng: &mut Rng) -> &str {
        let risk_words = self.words.len() / RISK_WORD_STRIDE;
        &self.words[rng.below(risk_words) * RISK_WORD_STRIDE]
    }

    /// A word of a goods description, common ones more often; when `dense`, only risk words.
    fn description_word(&self, rng: &mut Rng, dense: bool) -> &str {
        if dense {
            let risk_words = self.words.len() / RISK_WORD_STRIDE;
            &self.words[rng.skewed(risk_words) * RISK_WORD_STRIDE]
        } else {
            &self.words[rng.skewed(self.words.len())]
        }
    }

    /// A subheading goods are declared under: most traded first.
    fn subheading(&self, rng: &mut Rng) -> &str {
        &self.subheadings[rng.skewed(self.subheadings.len())]
    }

    /// A subheading an indicator targets: any of them.
    fn any_subheading(&self, rng: &mut Rng) -> &str {
        &self.subheadings[rng.below(self.subheadings.len())]
    }
}

/// An indicator's action: mostly requests for information, a few do-not-loads.
fn action(rng: &mut Rng) -> OutcomeCode {
    match rng.below(100) {
        0..=44 => OutcomeCode::RequestForInformation,
        45..=69 => OutcomeCode::ControlOnArrival,
        70..=91 => OutcomeCode::RequestForScreening,
        _ => OutcomeCode::DoNotLoad,
    }
}

/// A country of dispatch or origin in traffic: busy ones more often.
fn country(rng: &mut Rng) -> String {
    COUNTRIES[rng.skewed(COUNTRIES.len())].to_owned()
}

/// A country an indicator targets: any of them.
fn target_country(rng: &mut Rng) -> String {
    COUNTRIES[rng.below(COUNTRIES.len())].to_owned()
}

fn eur(amount_minor: i64) -> Option<Money> {
    Some(Money {
        currency: "EUR".into(),
        amount_minor,
    })
}

/// Seller `n` of the marketplace; those below `SELLER_POOL` are the ones indicators name.
fn seller_id(n: usize) -> String {
    format!("SHOPCO-S-{n:07}")
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;
    use crate::core::risk::{validate_indicator, IndicatorRecord, RiskIndex};
    use crate::core::validation::validate_declaration;

    const SEED: u64 = 42;
    const NOW: i64 = 1_780_000_000_000;

    fn declarations(workload: &Workload, rng: &mut Rng, count: usize) -> Vec<AdvanceDeclaration> {
        (0..count)
            .map(|n| workload.declaration(rng, &format!("BENCH-{n:08}"), "NL", n % 10 == 9))
            .collect()
    }

    #[test]
    fn declarations_are_valid_and_varied() {
        let workload = Workload::new(SEED);
        let mut rng = Rng::new(SEED);
        let all = declarations(&workload, &mut rng, 2_000);
        let mut item_counts = HashMap::new();
        let mut in_pool = 0;
        let (mut dispatch, mut hs, mut descriptions) =
            (HashSet::new(), HashSet::new(), HashSet::new());
        for d in &all {
            let violations = validate_declaration(d);
            assert!(violations.is_empty(), "{}: {violations:?}", d.lrn);
            assert_eq!(d.country_of_destination, "NL");
            *item_counts.entry(d.items.len()).or_insert(0) += 1;
            let seller = d.seller.as_ref().map(|s| s.identifier.as_str());
            if seller.is_some_and(|s| s < seller_id(SELLER_POOL).as_str()) {
                in_pool += 1;
            }
            dispatch.insert(d.country_of_dispatch.clone());
            for item in &d.items {
                hs.insert(item.hs_code.clone());
                descriptions.insert(item.description.clone());
            }
        }
        let mut sizes: Vec<usize> = item_counts.keys().copied().collect();
        sizes.sort_unstable();
        assert_eq!(sizes, vec![1, 2, 3, 4, 5], "{item_counts:?}");
        // 5% expected: 100 of 2,000.
        assert!(
            (50..=150).contains(&in_pool),
            "{in_pool} sellers in the pool"
        );
        assert!(
            dispatch.len() >= 20,
            "{} dispatch countries",
            dispatch.len()
        );
        assert!(hs.len() >= 2_000, "{} HS codes", hs.len());
        assert!(
            descriptions.len() >= 5_000,
            "{} descriptions",
            descriptions.len()
        );

        let other = Workload::new(SEED).declaration(&mut rng, "BENCH-X", "DE", false);
        assert!(validate_declaration(&other).is_empty());
        assert_eq!(other.country_of_destination, "DE");
    }

    #[test]
    fn indicators_are_valid_unique_and_shareable() {
        let workload = Workload::new(SEED);
        let mut rng = Rng::new(SEED);
        let all = workload.indicators(&mut rng, 10_000, NOW);
        assert_eq!(all.len(), 10_000);
        let mut ids = HashSet::new();
        let mut tlps = HashMap::new();
        for i in &all {
            let violations = validate_indicator(i, NOW);
            assert!(violations.is_empty(), "{}: {violations:?}", i.indicator_id);
            assert!(ids.insert(i.indicator_id.as_str()), "{}", i.indicator_id);
            assert!(!i.personal_data, "{}", i.indicator_id);
            assert!(
                (NOW + 30 * DAY_MS..=NOW + 365 * DAY_MS).contains(&i.valid_until_ms),
                "{}: {}",
                i.indicator_id,
                i.valid_until_ms
            );
            *tlps.entry(i.tlp).or_insert(0usize) += 1;
        }
        let share = |tlp: Tlp| tlps.get(&(tlp as i32)).copied().unwrap_or(0);
        assert!(share(Tlp::Amber) > 7_000, "{tlps:?}");
        assert!(share(Tlp::Green) > 1_000, "{tlps:?}");
        assert!(share(Tlp::Clear) > 200, "{tlps:?}");
        assert_eq!(
            share(Tlp::Amber) + share(Tlp::Green) + share(Tlp::Clear),
            10_000
        );
        // The mix: about 45% seller blacklists, 30% goods terms, 20% HS.
        let count = |f: fn(&Criteria) -> bool| {
            all.iter()
                .filter(|i| i.criteria.as_ref().is_some_and(f))
                .count()
        };
        let sellers = count(|c| !c.seller_ids.is_empty());
        let terms = count(|c| !c.description_terms.is_empty());
        assert!(
            (4_200..=4_800).contains(&sellers),
            "{sellers} seller blacklists"
        );
        assert!((2_700..=3_300).contains(&terms), "{terms} goods terms");
    }

    #[test]
    fn the_same_seed_draws_the_same_workload() {
        let draw = |seed: u64| {
            let workload = Workload::new(seed);
            let mut rng = Rng::new(seed);
            let indicators = workload.indicators(&mut rng, 500, NOW);
            let declarations = declarations(&workload, &mut rng, 200);
            (workload, indicators, declarations)
        };
        let first = draw(SEED);
        assert!(first == draw(SEED), "same seed, different workload");
        let other = draw(SEED + 1);
        assert!(first.0 != other.0, "the seed does not change the world");
        assert!(
            first.1 != other.1,
            "the seed does not change the indicators"
        );
        assert!(
            first.2 != other.2,
            "the seed does not change the declarations"
        );
    }

    #[test]
    fn a_realistic_share_of_declarations_matches() {
        let workload = Workload::new(SEED);
        let mut rng = Rng::new(SEED);
        let mut index = RiskIndex::new();
        for indicator in workload.indicators(&mut rng, 10_000, NOW) {
            let record = IndicatorRecord {
                indicator,
                issuer: "adm/NL".into(),
            };
            assert!(matches!(index.upsert(record), Ok(None)));
        }
        let all: Vec<AdvanceDeclaration> = (0..2_000)
            .map(|n| workload.declaration(&mut rng, &format!("BENCH-{n:08}"), "NL", false))
            .collect();
        let matched = all
            .iter()
            .filter(|d| !index.matches(d, NOW).is_empty())
            .count();
        let share = 100.0 * matched as f64 / all.len() as f64;
        println!(
            "{matched} of {} declarations ({share:.1}%) match",
            all.len()
        );
        // 16.9% measured (339 of 2,000) with this seed.
        assert!((5.0..=35.0).contains(&share), "{share:.1}% match");
    }

    /// FNV-1a, to fingerprint a stream without a dependency.
    fn fnv(hash: &mut u64, bytes: &[u8]) {
        for &b in bytes {
            *hash ^= u64::from(b);
            *hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        *hash ^= 0xff;
        *hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }

    /// The risk bench's figures are comparable across versions only while it draws the same
    /// data: this pins the start of its stream (its seed, world, declarations in its order,
    /// then indicators). If it fails, the bench's figures no longer compare with earlier
    /// runs; update the fingerprint only if that is intended.
    #[test]
    fn the_risk_bench_draws_what_it_always_drew() {
        use prost::Message;
        let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
        let workload = Workload::from_rng(&mut rng);
        let mut hash = 0xcbf2_9ce4_8422_2325;
        for dense in [false, true] {
            for n in 0..500 {
                let d = workload.risk_bench_declaration(&mut rng, &format!("BENCH-{n:08}"), dense);
                assert!(validate_declaration(&d).is_empty());
                if let Some(seller) = &d.seller {
                    fnv(&mut hash, seller.identifier.as_bytes());
                    fnv(&mut hash, seller.name.as_bytes());
                }
                fnv(&mut hash, d.country_of_dispatch.as_bytes());
                for item in &d.items {
                    fnv(&mut hash, item.description.as_bytes());
                    fnv(&mut hash, item.hs_code.as_bytes());
                    fnv(&mut hash, item.origin_country.as_bytes());
                    if let Some(value) = &item.value {
                        fnv(&mut hash, &value.encode_to_vec());
                    }
                }
            }
        }
        for n in 0..1_000 {
            let i = workload.risk_bench_indicator(&mut rng, n, NOW);
            assert!(validate_indicator(&i, NOW - 30 * DAY_MS).is_empty());
            fnv(&mut hash, &i.encode_to_vec());
        }
        assert_eq!(hash, 0x9974_0848_31db_69e1, "fingerprint {hash:#018x}");
    }
}
