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
//! goods descriptions. The generator is the library's `aedgate::bench::workload`, which
//! `aedgate bench` draws from too; this bench uses its frozen `risk_bench_*` draws, so that its
//! figures compare with earlier runs.
//!
//! Two declaration sets are assessed. In the *realistic* one, descriptions are written in a
//! goods vocabulary of 20,000 words, skewed towards common ones, of which the 5,000 risk
//! words are every fourth (so risk words occur among common and rare words alike). The
//! *dense* one is a stress case: every description word is a risk word, so every word of
//! every declaration is the key of about nine indicators at 100,000.

use std::collections::HashSet;
use std::hint::black_box;
use std::time::{Duration, Instant};

use aedgate::bench::workload::{Rng, Workload};
use aedgate::core::risk::{validate_indicator, IndicatorRecord, RiskIndex};
use aedgate::core::validation::validate_declaration;
use aedgate::proto::v1::AdvanceDeclaration;

const NOW: i64 = 1_780_000_000_000;
const DAY_MS: i64 = 86_400_000;
const SMALL: usize = 100;
const LARGE: usize = 100_000;
const DECLARATIONS: usize = 20_000;
/// The brute-force scan is a thousand times slower; a sample of declarations suffices.
const SCAN_DECLARATIONS: usize = 200;
const RUNS: usize = 5;
/// The seed of everything drawn: the world, then the declarations, then the indicators.
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

fn build(rng: &mut Rng, workload: &Workload, count: usize) -> RiskIndex {
    let mut index = RiskIndex::new();
    for n in 0..count {
        let record = IndicatorRecord {
            indicator: workload.risk_bench_indicator(rng, n, NOW),
            issuer: "adm/NL".into(),
        };
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
    let mut rng = Rng::new(SEED);
    let workload = Workload::from_rng(&mut rng);
    let mut sets = Vec::new();
    for dense in [false, true] {
        let declarations: Vec<AdvanceDeclaration> = (0..DECLARATIONS)
            .map(|n| workload.risk_bench_declaration(&mut rng, &format!("BENCH-{n:08}"), dense))
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

    let small = build(&mut rng, &workload, SMALL);
    let start = Instant::now();
    let large = build(&mut rng, &workload, LARGE);
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
