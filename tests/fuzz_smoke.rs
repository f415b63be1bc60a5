//! Every fuzz target (docs/fuzzing.md) for a few thousand executions, so that none of them
//! rots: the target exists, its seeds run without panic and get past the first parse (the
//! signed ones are admitted), the mutated inputs do not panic, and every input saved under
//! tests/fuzz-regressions/<target>/ (an input that once panicked) replays without panic.

use std::path::Path;
use std::sync::Arc;

use aedgate::fuzz::{fuzz, run_once, targets, Fixture, Options};

/// Targets whose seeds are signed envelopes or payloads that admission must accept.
const ADMITTED: &[&str] = &[
    "envelope",
    "declaration",
    "invalidation",
    "referral_response",
    "return_notice",
    "risk_indicator",
    "indicator_revocation",
    "forwarded_declaration",
];

fn smoke(name: &str, execs: u64) {
    let fixture = Arc::new(Fixture::new().expect("generate the federation"));
    let all = targets(&fixture);
    let target = all
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no fuzz target {name}"));
    assert!(!target.seeds().is_empty(), "{name} has no seeds");
    for (i, seed) in target.seeds().iter().enumerate() {
        let outcome =
            run_once(target, seed).unwrap_or_else(|m| panic!("{name} seed {i} panicked: {m}"));
        assert!(
            outcome.deep,
            "{name} seed {i} stops at the first parse: {outcome:?}"
        );
    }
    if ADMITTED.contains(&name) {
        let first = run_once(target, &target.seeds()[0]).expect("no panic");
        assert!(
            first.label.starts_with("admitted"),
            "{name}'s first seed is not admitted: {}",
            first.label
        );
    }
    let regressions = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-regressions")
        .join(name);
    if let Ok(entries) = std::fs::read_dir(&regressions) {
        for entry in entries {
            let path = entry.expect("directory entry").path();
            let input = std::fs::read(&path).expect("read regression input");
            if let Err(message) = run_once(target, &input) {
                panic!("{name}: {} panics again: {message}", path.display());
            }
        }
    }
    let crash_dir = tempfile::tempdir().expect("tempdir");
    let report = fuzz(
        target,
        &Options {
            execs,
            seed: 2026,
            crash_dir: crash_dir.path().to_path_buf(),
            progress: None,
            ..Options::default()
        },
    );
    assert_eq!(report.execs, execs);
    assert!(
        report.crashes.is_empty(),
        "{name} panicked: {:#?}",
        report.crashes
    );
    assert!(
        report.deep * 10 >= report.execs,
        "{name}: only {} of {} inputs got past the first parse",
        report.deep,
        report.execs
    );
    assert!(
        report.outcomes > 1,
        "{name}: every input had the same outcome"
    );
}

macro_rules! smoke_tests {
    ($($name:ident: $execs:expr,)+) => {
        $(
            #[test]
            fn $name() {
                smoke(stringify!($name), $execs);
            }
        )+
    };
}

smoke_tests! {
    envelope: 2_000,
    declaration: 1_000,
    invalidation: 1_000,
    referral_response: 1_000,
    return_notice: 1_000,
    risk_indicator: 1_000,
    indicator_revocation: 1_000,
    forwarded_declaration: 1_000,
    trust_list: 1_000,
    gateway_config: 1_000,
    client_config: 1_000,
    revenue_policy: 3_000,
    ioss_registry: 3_000,
    declaration_json: 3_000,
    indicator_json: 3_000,
    return_json: 3_000,
    receipt: 3_000,
    tree_head: 3_000,
}

#[test]
fn every_target_has_a_smoke_test() {
    let fixture = Arc::new(Fixture::new().expect("generate the federation"));
    let names: Vec<&str> = targets(&fixture).iter().map(|t| t.name).collect();
    let tested = [
        "envelope",
        "declaration",
        "invalidation",
        "referral_response",
        "return_notice",
        "risk_indicator",
        "indicator_revocation",
        "forwarded_declaration",
        "trust_list",
        "gateway_config",
        "client_config",
        "revenue_policy",
        "ioss_registry",
        "declaration_json",
        "indicator_json",
        "return_json",
        "receipt",
        "tree_head",
    ];
    assert_eq!(
        names, tested,
        "a target was added or renamed: add its smoke test"
    );
}
