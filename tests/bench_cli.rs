//! `aedgate bench` runs end to end on a small load: both modes, each with and without the
//! revenue policy, both baselines, the figures and the JSON report. (What it measures is reported, not asserted: speed is
//! the benchmark's business, not a test's.)

mod common;

use common::{success_stdout, POSTGRES_VARIABLE};
use std::path::Path;

/// Runs `aedgate bench ARGS --json JSON` to its end (at most five minutes), checks that it
/// succeeded and printed each of `lines`, and returns the JSON report.
async fn bench(args: &[&str], json: &Path, lines: &[&str]) -> serde_json::Value {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_aedgate"))
        .arg("bench")
        .args(args)
        .arg("--json")
        .arg(json)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(300), out)
        .await
        .expect("the bench finished")
        .unwrap();
    let stdout = success_stdout(&out);
    for expected in lines {
        assert!(stdout.contains(expected), "{expected:?} missing:\n{stdout}");
    }
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

#[tokio::test]
async fn bench_measures_both_modes_and_both_baselines_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let report = bench(
        &[
            "--connections",
            "2",
            "--in-flight",
            "4",
            "--total",
            "300",
            "--indicators",
            "500",
        ],
        &json,
        &[
            "aedgate bench: 2 connections x 4 in flight, 300 declarations per mode, 500 indicators in force, ",
            "against a local gateway",
            "unary ",
            "stream ",
            "revenue policy (unary): ",
            "revenue policy (stream): ",
            "baselines: cryptographic bound",
            "bare tonic echo",
            "peak RSS",
        ],
    )
    .await;
    let runs = report["runs"].as_array().unwrap();
    // Each mode with the revenue policy (§11), then again without it.
    assert_eq!(runs.len(), 4);
    let expected = [
        ("unary", true),
        ("unary", false),
        ("stream", true),
        ("stream", false),
    ];
    for (run, (mode, revenue)) in runs.iter().zip(expected) {
        assert_eq!(run["mode"], mode);
        assert_eq!(run["revenue"], revenue);
        assert_eq!(run["accepted"], 300, "every declaration acknowledged");
        let p50 = run["p50_ms"].as_f64().unwrap();
        let p999 = run["p999_ms"].as_f64().unwrap();
        assert!(p50 > 0.0 && p999 >= p50, "{run}");
        assert!(run["vs_crypto_bound"].as_f64().unwrap() > 0.0);
        assert!(run["vs_echo"].as_f64().unwrap() > 0.0);
        // The share of the cores the process kept busy (Linux /proc): some work was done,
        // and no more than the cores allow (ticks of 10 ms give some slack).
        let busy = run["cpu_busy"].as_f64().unwrap();
        assert!(busy > 0.0 && busy < 1.5, "{run}");
    }
    assert!(report["crypto_bound_per_second"].as_f64().unwrap() > 0.0);
    assert!(report["echo_per_second"].as_f64().unwrap() > 0.0);
    assert!(report["memory"]["peak_rss_bytes"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn bench_can_target_a_running_gateway() {
    let fed = common::Federation::standard();
    let gateway = fed.start("adm/NL").await;
    let partner = fed.file("ptr-NL-shopco.target.toml");
    let text = std::fs::read_to_string(fed.client_config_path("ptr/NL/shopco")).unwrap();
    std::fs::write(
        &partner,
        format!("endpoint = \"https://{}\"\n{text}", gateway.local_addr()),
    )
    .unwrap();
    let json = fed.file("target.json");
    let report = bench(
        &[
            "--connections",
            "1",
            "--in-flight",
            "2",
            "--total",
            "40",
            "--mode",
            "unary",
            "--no-baselines",
            "--target",
            partner.to_str().unwrap(),
        ],
        &json,
        &["the indicators it holds"],
    )
    .await;
    assert_eq!(report["runs"][0]["accepted"], 40);
    assert!(report["crypto_bound_per_second"].is_null());
    // The running gateway stored them: each declaration and its outcome.
    assert_eq!(gateway.state().store.log_size().await.unwrap(), 80);
    gateway.shutdown().await.unwrap();
}

#[tokio::test]
async fn noisy_neighbour_measures_the_quiet_partner_alone_and_under_a_flood() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("neighbours.json");
    let report = bench(
        &[
            "--noisy-neighbour",
            "--connections",
            "1",
            "--total",
            "50",
            "--indicators",
            "100",
        ],
        &json,
        &[
            "quiet alone:",
            "quiet flooded:",
            "p99 flooded / alone:",
            "flood:",
        ],
    )
    .await;
    assert_eq!(report["quiet_submits"], 50);
    assert_eq!(report["flood_connections"], 1);
    for key in [
        "alone_p99_ms",
        "flooded_p99_ms",
        "p99_ratio",
        "flood_accepted_per_second",
    ] {
        let value = report[key].as_f64().unwrap_or(-1.0);
        assert!(value > 0.0, "{key} = {value}");
    }
}

#[tokio::test]
async fn store_comparison_measures_sqlite_one_and_two_postgres_replicas_and_leaves_no_database() {
    use sqlx::Connection;
    let server = common::postgres_server();
    let bench_databases = || async {
        let mut conn = sqlx::PgConnection::connect(&server)
            .await
            .unwrap_or_else(|e| panic!("no PostgreSQL at {server} ({e}): set {POSTGRES_VARIABLE}"));
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT datname FROM pg_database WHERE datname LIKE 'aedgate_bench_%'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        names
    };
    let before = bench_databases().await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("stores.json");
    let report = bench(
        &[
            "--store",
            &server,
            "--no-baselines",
            "--connections",
            "2",
            "--in-flight",
            "4",
            "--total",
            "200",
            "--indicators",
            "10",
        ],
        &json,
        &[
            "SQLite (embedded)",
            "PostgreSQL, one replica",
            "PostgreSQL, two replicas",
            "PostgreSQL / SQLite:",
        ],
    )
    .await;
    for run in ["sqlite", "postgres", "two_replicas"] {
        assert_eq!(report[run]["accepted"], 200, "{run}");
    }
    assert!(report["postgres_vs_sqlite"].as_f64().unwrap_or(0.0) > 0.0);
    // The databases it made are gone.
    let after = bench_databases().await;
    assert!(
        after.iter().all(|name| before.contains(name)),
        "left behind: {after:?}"
    );
}
