//! How the cost of assessing one declaration grows with the number of risk indicators in
//! force. Run with:
//!
//! ```text
//! cargo bench --bench risk
//! ```
//!
//! It builds indexes of 100 and of 100,000 realistic, valid indicators (deterministic
//! pseudo-random, so runs compare) and assesses the same 20,000 varied declarations against
//! each, printing the cost per declaration, the ratio between the two (what the index is for:
//! it should stay a small factor while the indicators grow a thousandfold), and the cost of
//! a brute-force scan of the 100,000 for comparison.
//!
//! The indicator mix follows what a risk unit files: mostly seller blacklists (seller ids
//! from a pool of 50,000) and goods terms (from a risk vocabulary of 5,000 words, usually
//! combined with an origin, a dispatch country or an HS chapter), HS headings and
//! subheadings (4 to 6 digits) combined with an origin, dispatch country or value, and a
//! handful of broad country-and-value or value-only indicators. Declarations are the §7
//! sample with varied sellers (5% of them in the blacklist pool), HS codes, countries and
//! goods descriptions.
//!
//! Two declaration sets are assessed. In the *realistic* one, descriptions are written in a
//! goods vocabulary of 20,000 words, skewed towards common ones, of which the 5,000 risk
//! words are every fourth (so risk words occur among common and rare words alike). The
//! *dense* one is a stress case: every description word is a risk word, so every word of
//! every declaration is the key of about nine indicators at 100,000.

use std::collections::HashSet;
use std::hint::black_box;
use std::time::{Duration, Instant};

use aedgate::core::risk::{validate_indicator, IndicatorRecord, RiskIndex};
use aedgate::core::validation::{sample_declaration, validate_declaration};
use aedgate::proto::v1::{AdvanceDeclaration, Criteria, Money, OutcomeCode, RiskIndicator, Tlp};

const NOW: i64 = 1_780_000_000_000;
const DAY_MS: i64 = 86_400_000;
const SMALL: usize = 100;
const LARGE: usize = 100_000;
const DECLARATIONS: usize = 20_000;
/// The brute-force scan is a thousand times slower; a sample of declarations suffices.
const SCAN_DECLARATIONS: usize = 200;
const RUNS: usize = 5;
/// Words goods are described with.
const GOODS_VOCABULARY: usize = 20_000;
/// Every RISK_WORD_STRIDE-th goods word is a risk word: 5,000 of them.
const RISK_WORD_STRIDE: usize = 4;
const HS_SUBHEADINGS: usize = 3_000;
/// Sellers indicators name.
const SELLER_POOL: usize = 50_000;
/// Sellers seen in traffic; the first SELLER_POOL of them are the ones indicators name.
const SELLER_UNIVERSE: usize = 1_000_000;
/// Countries of dispatch and origin, busiest first.
const COUNTRIES: &[&str] = &[
    "CN", "HK", "US", "GB", "TR", "VN", "IN", "KR", "JP", "TW", "TH", "MY", "ID", "PK", "BD", "AE",
    "CH", "NO", "CA", "AU", "BR", "MX", "SG", "PH", "IL", "UA", "MA", "EG", "ZA", "LK",
];

/// xorshift64*: deterministic, fast, and no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn range(&mut self, low: usize, high_inclusive: usize) -> usize {
        low + self.below(high_inclusive - low + 1)
    }

    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }

    /// Skewed towards low indexes (the square of a uniform draw): common words, busy
    /// countries and popular goods come first in their lists.
    fn skewed(&mut self, n: usize) -> usize {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((u * u * n as f64) as usize).min(n - 1)
    }
}

/// What indicators and declarations are drawn from.
struct World {
    /// The goods vocabulary, most common first.
    words: Vec<String>,
    /// Six-digit HS subheadings of existing chapters, most traded first.
    subheadings: Vec<String>,
}

impl World {
    fn new(rng: &mut Rng) -> Self {
        // Pronounceable synthetic words: three of 70 syllables, numbered through a bijection
        // of 0..70^3 so that they are unique and do not follow the alphabet.
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
        World { words, subheadings }
    }

    /// A risk word, uniformly: analysts target specific goods, not common ones.
    fn risk_word(&self, rng: &mut Rng) -> &str {
        let risk_words = self.words.len() / RISK_WORD_STRIDE;
        &self.words[rng.below(risk_words) * RISK_WORD_STRIDE]
    }

    /// A word of a goods description, common ones more often; in the dense set, only risk
    /// words.
    fn description_word(&self, rng: &mut Rng, dense: bool) -> &str {
        if dense {
            let risk_words = self.words.len() / RISK_WORD_STRIDE;
            &self.words[rng.skewed(risk_words) * RISK_WORD_STRIDE]
        } else {
            &self.words[rng.skewed(self.words.len())]
        }
    }

    fn subheading(&self, rng: &mut Rng) -> &str {
        &self.subheadings[rng.skewed(self.subheadings.len())]
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

fn seller_id(n: usize) -> String {
    format!("SHOPCO-S-{n:07}")
}

/// One valid indicator of the realistic mix.
fn indicator(rng: &mut Rng, world: &World, n: usize) -> IndicatorRecord {
    let mut c = Criteria::default();
    let bucket = rng.below(10_000);
    let kind;
    if bucket < 4_500 {
        kind = "seller blacklist";
        for _ in 0..rng.range(1, 2) {
            c.seller_ids.push(seller_id(rng.below(SELLER_POOL)));
        }
        if rng.percent(30) {
            c.dispatch_countries.push(target_country(rng));
        }
    } else if bucket < 7_500 {
        kind = "goods terms";
        for _ in 0..rng.range(1, 2) {
            let term = if rng.percent(50) {
                world.risk_word(rng).to_owned()
            } else {
                format!("{} {}", world.risk_word(rng), world.risk_word(rng))
            };
            c.description_terms.push(term);
        }
        // A single word is too broad on its own; some phrases are specific enough.
        let single = c.description_terms.iter().any(|t| !t.contains(' '));
        match rng.below(if single { 3 } else { 4 }) {
            0 => c.origin_countries.push(target_country(rng)),
            1 => c.hs_prefixes.push(world.subheading(rng)[..2].to_owned()),
            2 => c.dispatch_countries.push(target_country(rng)),
            _ => {}
        }
    } else if bucket < 8_000 {
        kind = "seller name";
        c.seller_name_terms.push(world.risk_word(rng).to_owned());
        c.dispatch_countries.push(target_country(rng));
    } else if bucket < 9_990 {
        kind = "HS";
        for _ in 0..rng.range(1, 2) {
            let len = rng.range(4, 6);
            c.hs_prefixes
                .push(world.subheadings[rng.below(world.subheadings.len())][..len].to_owned());
        }
        match rng.below(100) {
            0..=59 => c.origin_countries.push(target_country(rng)),
            60..=89 => c.dispatch_countries.push(target_country(rng)),
            90..=98 => c.min_value = eur(rng.range(150_000, 1_500_000) as i64),
            // Goods banned whatever their origin: one six-digit subheading.
            _ => {
                c.hs_prefixes = vec![world.subheadings[rng.below(world.subheadings.len())].clone()]
            }
        }
    } else if bucket < 9_998 {
        kind = "origin and value";
        c.origin_countries.push(target_country(rng));
        c.min_value = eur(rng.range(150_000, 1_500_000) as i64);
    } else {
        kind = "value only";
        c.min_value = eur(rng.range(200_000, 2_000_000) as i64);
    }
    let action = match rng.below(100) {
        0..=44 => OutcomeCode::RequestForInformation,
        45..=69 => OutcomeCode::ControlOnArrival,
        70..=91 => OutcomeCode::RequestForScreening,
        _ => OutcomeCode::DoNotLoad,
    };
    // Most run until revoked; some have an end date, a few of which have passed by NOW.
    let valid_until_ms = if rng.percent(80) {
        0
    } else {
        NOW - 10 * DAY_MS + rng.below(300) as i64 * DAY_MS
    };
    IndicatorRecord {
        indicator: RiskIndicator {
            indicator_id: format!("NL:2026:{n:06}"),
            version: 1,
            title: format!("Risk profile {n}: {kind}"),
            rationale: "Seizure statistics of the last quarter".into(),
            tlp: Tlp::Amber as i32,
            personal_data: kind.starts_with("seller"),
            criteria: Some(c),
            action: action as i32,
            valid_until_ms,
        },
        issuer: "adm/NL".into(),
    }
}

/// A valid §7 declaration, varied from the sample.
fn declaration(rng: &mut Rng, world: &World, n: usize, dense: bool) -> AdvanceDeclaration {
    let mut d = sample_declaration(&format!("BENCH-{n:08}"));
    let templates = std::mem::take(&mut d.items);
    if let Some(seller) = d.seller.as_mut() {
        // SHOPCO-S-nnnnnnn is 17 characters, the most §7 allows.
        seller.identifier = seller_id(rng.below(SELLER_UNIVERSE));
        seller.name = format!(
            "{} {} Trading Co., Ltd.",
            world.description_word(rng, false),
            world.description_word(rng, false)
        );
    }
    d.country_of_dispatch = country(rng);
    for i in 0..rng.range(1, 4) {
        let mut item = templates[i % templates.len()].clone();
        let words: Vec<&str> = (0..rng.range(4, 8))
            .map(|_| world.description_word(rng, dense))
            .collect();
        item.description = format!("{}, {}", words[..2].join(" "), words[2..].join(" "));
        item.hs_code = format!("{}{:02}", world.subheading(rng), rng.below(100));
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

fn build(rng: &mut Rng, world: &World, count: usize) -> RiskIndex {
    let mut index = RiskIndex::new();
    for n in 0..count {
        let record = indicator(rng, world, n);
        let violations = validate_indicator(&record.indicator, NOW - 30 * DAY_MS);
        assert!(
            violations.is_empty(),
            "generated an invalid indicator: {violations:?}"
        );
        assert!(matches!(index.upsert(record), Ok(None)), "fresh ids");
    }
    index
}

/// One pass over the declarations: nanoseconds per declaration, and how many got an outcome
/// other than ASSESSMENT_COMPLETE.
///
/// Only `assess` is timed, but each call follows an (untimed) `validate_declaration` of the
/// same declaration, as in the gateway, where a declaration is decoded, validated and then
/// assessed: the declaration is then in the CPU cache, and the time measured is the
/// engine's, not that of fetching 20,000 declarations from memory.
fn assess_pass(index: &RiskIndex, declarations: &[AdvanceDeclaration]) -> (f64, usize) {
    let none = HashSet::new();
    let mut elapsed = Duration::ZERO;
    let mut flagged = 0;
    for d in declarations {
        black_box(validate_declaration(black_box(d)));
        let start = Instant::now();
        let found = black_box(index.assess(black_box(d), NOW, &none));
        elapsed += start.elapsed();
        if found.is_some() {
            flagged += 1;
        }
    }
    (
        elapsed.as_nanos() as f64 / declarations.len() as f64,
        flagged,
    )
}

/// The cost of reading the clock around one call, which the figures above include.
fn clock_overhead_ns() -> f64 {
    let rounds = 100_000u32;
    let mut elapsed = Duration::ZERO;
    for _ in 0..rounds {
        let start = Instant::now();
        elapsed += black_box(start.elapsed());
    }
    elapsed.as_nanos() as f64 / f64::from(rounds)
}

fn average_matches(index: &RiskIndex, declarations: &[AdvanceDeclaration]) -> f64 {
    let total: usize = declarations
        .iter()
        .map(|d| index.matches(d, NOW).len())
        .sum();
    total as f64 / declarations.len() as f64
}

/// Assesses one declaration set against both indexes and prints the comparison.
fn scenario(name: &str, small: &RiskIndex, large: &RiskIndex, declarations: &[AdvanceDeclaration]) {
    // The index must find exactly what a scan finds.
    let sample = &declarations[..SCAN_DECLARATIONS];
    for d in sample {
        assert_eq!(large.matches(d, NOW), large.matches_by_scan(d, NOW));
    }

    // Best of RUNS passes each, alternating, so that a burst of load on a shared machine
    // does not fall on one index only.
    let (mut small_ns, mut large_ns) = (f64::INFINITY, f64::INFINITY);
    let (mut small_flagged, mut large_flagged) = (0, 0);
    for _ in 0..RUNS {
        let (ns, flagged) = assess_pass(small, declarations);
        small_ns = small_ns.min(ns);
        small_flagged = flagged;
        let (ns, flagged) = assess_pass(large, declarations);
        large_ns = large_ns.min(ns);
        large_flagged = flagged;
    }
    let small_matches = average_matches(small, declarations);
    let large_matches = average_matches(large, declarations);

    let scan_start = Instant::now();
    let mut scanned = 0;
    for d in sample {
        scanned += black_box(large.matches_by_scan(black_box(d), NOW)).len();
    }
    black_box(scanned);
    let scan_ns = scan_start.elapsed().as_nanos() as f64 / sample.len() as f64;

    let percent = |flagged: usize| 100.0 * flagged as f64 / declarations.len() as f64;
    println!(
        "{name} declarations: RiskIndex::assess on {} declarations, best of {RUNS} runs",
        declarations.len()
    );
    println!(
        "  {:>11}  {:>16}  {:>22}  {:>19}",
        "indicators", "ns/declaration", "outcome not COMPLETE", "matches/declaration"
    );
    for (count, ns, flagged, matches) in [
        (SMALL, small_ns, small_flagged, small_matches),
        (LARGE, large_ns, large_flagged, large_matches),
    ] {
        println!(
            "  {count:>11}  {ns:>16.0}  {:>21.1}%  {matches:>19.2}",
            percent(flagged)
        );
    }
    println!(
        "  ratio {LARGE}/{SMALL}: {:.2} (for {}x the indicators)",
        large_ns / small_ns,
        LARGE / SMALL
    );
    println!(
        "  brute-force scan of {LARGE} (first {SCAN_DECLARATIONS} declarations): {scan_ns:.0} ns/declaration, {:.0}x the index",
        scan_ns / large_ns
    );
}

fn main() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let world = World::new(&mut rng);
    let mut sets = Vec::new();
    for dense in [false, true] {
        let declarations: Vec<AdvanceDeclaration> = (0..DECLARATIONS)
            .map(|n| declaration(&mut rng, &world, n, dense))
            .collect();
        for d in declarations.iter().take(1_000) {
            let violations = validate_declaration(d);
            assert!(
                violations.is_empty(),
                "generated an invalid declaration: {violations:?}"
            );
        }
        sets.push(declarations);
    }

    let small = build(&mut rng, &world, SMALL);
    let start = Instant::now();
    let large = build(&mut rng, &world, LARGE);
    let build_ms = start.elapsed().as_secs_f64() * 1e3;

    scenario("realistic", &small, &large, &sets[0]);
    println!();
    scenario("dense (stress)", &small, &large, &sets[1]);
    println!();
    println!("building the {LARGE}-indicator index (with validation): {build_ms:.0} ms");
    println!(
        "timing: reading the clock around each assess costs about {:.0} ns (included above)",
        clock_overhead_ns()
    );
}
