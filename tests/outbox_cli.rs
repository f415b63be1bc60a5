//! `aedgate outbox list|retry` as an administration's operator uses them, against a real
//! gateway whose peer is down, then back: a dead letter is reported (exit 1), retried by
//! hand and delivered; partners may not look.

mod common;

use aedgate::core::retry::RetryPolicy;
use aedgate::proto::v1::{Criteria, MessageType, OutcomeCode, RiskIndicator, Tlp};
use aedgate::store::OutboxState;
use bytes::Bytes;
use common::*;
use prost::Message;
use std::time::Duration;

/// Runs `aedgate ARGS --config CONFIG` with the client configuration pointed at `addr`.
async fn run(
    fed: &Federation,
    participant: &str,
    addr: std::net::SocketAddr,
    args: &[&str],
) -> (i32, String, String) {
    let source = fed.client_config_path(participant);
    let text = std::fs::read_to_string(&source).unwrap();
    let config = source.with_extension("here.toml");
    std::fs::write(&config, format!("endpoint = \"https://{addr}\"\n{text}")).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_aedgate"))
        .args(args)
        .arg("--config")
        .arg(&config)
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_dead_letter_is_reported_retried_by_hand_and_delivered() {
    let fed = Federation::standard();
    let mut config = fed.gateway_config(NL);
    config.outbox = RetryPolicy {
        first_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(50),
        jitter_per_mille: 0,
        horizon: Duration::from_millis(400),
    };
    let nl = aedgate::server::start(config).await.unwrap();
    // BE is not running: its address refuses connections.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    nl.set_peer_endpoint(BE, &format!("https://{closed_addr}"));

    let mut risk_unit = fed.connect("adm/NL/risk-unit", &nl).await;
    let indicator = RiskIndicator {
        indicator_id: "NL-OPS-1".into(),
        version: 1,
        title: "Outbox test".into(),
        tlp: Tlp::Green as i32,
        criteria: Some(Criteria {
            description_terms: vec!["outbox".into()],
            ..Default::default()
        }),
        action: OutcomeCode::RequestForInformation as i32,
        ..Default::default()
    };
    let envelope = risk_unit.seal(
        MessageType::RiskIndicator,
        Bytes::from(indicator.encode_to_vec()),
        "",
    );
    risk_unit.submit(envelope).await.unwrap();
    let entries = await_outbox(&nl, |e| {
        e.len() == 1 && e[0].state == OutboxState::DeadLettered
    })
    .await;
    let id = entries[0].id.to_string();
    assert!(entries[0].attempts >= 2, "{entries:?}");

    let addr = nl.local_addr();
    let (code, stdout, stderr) = run(&fed, "adm/NL/risk-unit", addr, &["outbox", "list"]).await;
    assert_eq!(
        code, 1,
        "dead letters make the exit status 1:\n{stdout}{stderr}"
    );
    let row = stdout
        .lines()
        .find(|l| l.contains("RISK_INDICATOR"))
        .unwrap_or_else(|| panic!("{stdout}"));
    for expected in [
        id.as_str(),
        "adm/BE",
        "DEAD",
        "last error: cannot reach the peer",
    ] {
        assert!(row.contains(expected), "{expected:?} not in {row:?}");
    }
    assert!(
        stdout.contains("0 delivered, 0 pending, 1 dead-lettered"),
        "{stdout}"
    );

    // A partner may not look; an unknown id is named.
    let (code, _, stderr) = run(&fed, "ptr/NL/shopco", addr, &["outbox", "list"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("NOT_AUTHORIZED"), "{stderr}");
    let (code, stdout, _) = run(&fed, "adm/NL/risk-unit", addr, &["outbox", "retry", "999"]).await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("UNKNOWN_OUTBOX_ENTRY"), "{stdout}");

    // BE comes up; the operator retries the dead letter and it is delivered.
    let be = fed.start(BE).await;
    nl.set_peer_endpoint(BE, &format!("https://{}", be.local_addr()));
    let (code, stdout, stderr) =
        run(&fed, "adm/NL/risk-unit", addr, &["outbox", "retry", &id]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    await_outbox(&nl, |e| e[0].state == OutboxState::Delivered).await;
    let (code, stdout, _) = run(
        &fed,
        "adm/NL/risk-unit",
        addr,
        &["outbox", "list", "--state", "delivered"],
    )
    .await;
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("delivered"), "{stdout}");
    assert!(stdout.contains("ACCEPTED receipt adm/BE#"), "{stdout}");
    assert!(
        stdout.contains("1 delivered, 0 pending, 0 dead-lettered"),
        "{stdout}"
    );
    nl.shutdown().await.unwrap();
    be.shutdown().await.unwrap();
}

#[test]
fn the_outbox_table_tells_waiting_retrying_delivered_and_dead_apart() {
    use aedgate::proto::aedgate::ops::v1::{OutboxEntry, OutboxState as S};
    let entry = |id: u64, state: S, attempts: u32, last_error: &str| OutboxEntry {
        id,
        peer: "adm/BE".into(),
        r#type: MessageType::RiskIndicator as i32,
        state: state as i32,
        attempts,
        last_error: last_error.into(),
        ..Default::default()
    };
    let table = aedgate::render::outbox_table(&[
        entry(1, S::Pending, 0, ""),
        entry(
            2,
            S::Pending,
            3,
            "cannot reach the peer: connection refused",
        ),
        entry(
            3,
            S::DeadLettered,
            9,
            "cannot reach the peer: connection refused",
        ),
    ]);
    let row = |id: &str| {
        table
            .lines()
            .find(|l| l.trim_start().starts_with(id))
            .unwrap_or_else(|| panic!("{table}"))
            .to_owned()
    };
    assert!(
        row("1 ").contains("pending") && row("1 ").contains("due "),
        "{table}"
    );
    assert!(row("2 ").contains("retrying"), "{table}");
    assert!(
        row("2 ").contains("last error: cannot reach the peer"),
        "{table}"
    );
    assert!(row("3 ").contains("DEAD"), "{table}");
    assert!(
        table.contains("0 delivered, 2 pending, 1 dead-lettered"),
        "{table}"
    );
}
