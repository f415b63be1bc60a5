//! Administration-to-administration delivery with the real binary (PROTOCOL.md §6): the
//! sender killed with kill -9 while deliveries are in flight loses nothing and duplicates
//! no effect at the peer.

mod common;

use aedgate::proto::v1::{Disposition, Envelope, MessageType, OutcomeCode, RiskIndicator, Tlp};
use aedgate::store::OutboxState;
use bytes::Bytes;
use common::*;
use prost::Message;
use std::collections::HashMap;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const NL_RISK: &str = "adm/NL/risk-unit";
const BE_RISK: &str = "adm/BE/risk-unit";

/// Indicators published in NL; the kill comes once BE holds `KILL_AFTER` of them.
const PUBLISHED: usize = 120;
const KILL_AFTER: usize = 25;

struct GatewayProcess {
    child: Child,
    addr: String,
    /// Kept open: the process may still write to its stdout.
    _stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

/// Starts `aedgate serve` for `admin` and waits for its ready line. Its log goes to a file
/// in the federation folder (a pipe nobody reads would fill up and stall it).
async fn spawn_gateway(fed: &Federation, admin: &str) -> GatewayProcess {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(fed.file(&format!("{}.stderr.log", aedgate::core::ids::slug(admin))))
        .expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_aedgate"))
        .arg("serve")
        .arg("--config")
        .arg(fed.gateway_config_path(admin))
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .expect("spawn aedgate serve");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = stdout.next_line().await.unwrap().expect("ready line");
    assert!(
        line.starts_with(&format!("aedgate ready: {admin} serving on ")),
        "{line}"
    );
    let addr = ready_address(&line);
    GatewayProcess {
        child,
        addr,
        _stdout: stdout,
    }
}

/// Points `admin`'s gateway configuration at `peer`'s address, in its `[peers]` table
/// (which `pki init` writes, empty, at the end of the file; added if missing).
fn set_peer(fed: &Federation, admin: &str, peer: &str, addr: &str) {
    let path = fed.gateway_config_path(admin);
    let text = std::fs::read_to_string(&path).unwrap();
    let entry = format!("\"{peer}\" = \"https://{addr}\"");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    match lines.iter().position(|l| l.trim() == "[peers]") {
        Some(at) => lines.insert(at + 1, entry),
        None => lines.extend(["".into(), "[peers]".into(), entry]),
    }
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let loaded = aedgate::config::GatewayConfig::load(&path).expect("valid configuration");
    assert_eq!(
        loaded.peer_endpoints.get(peer).map(String::as_str),
        Some(format!("https://{addr}").as_str())
    );
}

fn indicator(n: usize) -> RiskIndicator {
    RiskIndicator {
        indicator_id: format!("NL-K9-{n:03}"),
        version: 1,
        title: format!("Indicator {n} published before the crash"),
        rationale: "test".into(),
        tlp: Tlp::Green as i32,
        personal_data: false,
        criteria: Some(aedgate::proto::v1::Criteria {
            description_terms: vec![format!("term{n}")],
            ..Default::default()
        }),
        action: OutcomeCode::RequestForInformation as i32,
        valid_until_ms: 0,
    }
}

/// The id of the indicator in a RISK_INDICATOR from NL, if that is what this is.
fn from_nl(envelope: &Envelope) -> Option<String> {
    let header = envelope.header.as_ref()?;
    (header.sender == NL && header.r#type == MessageType::RiskIndicator as i32)
        .then(|| RiskIndicator::decode(envelope.payload.clone()).ok())
        .flatten()
        .map(|i| i.indicator_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_sender_mid_delivery_loses_nothing_and_duplicates_no_effect() {
    let fed = Federation::standard();
    let mut be = spawn_gateway(&fed, BE).await;
    set_peer(&fed, NL, BE, &be.addr);
    let mut nl = spawn_gateway(&fed, NL).await;

    // BE's log, followed from the start: how many of NL's indicators it holds so far.
    let be_risk = fed.connect_to_addr(BE_RISK, &be.addr).await;
    let (arrived_tx, mut arrived) = tokio::sync::watch::channel(0usize);
    let follower = {
        let be_risk = be_risk.clone();
        tokio::spawn(async move {
            let mut stream = fetch_stream(&be_risk, 0, true).await;
            let mut count = 0;
            while let Ok(Some(delivery)) = stream.message().await {
                if delivery.envelope.as_ref().and_then(from_nl).is_some() {
                    count += 1;
                    arrived_tx.send_replace(count);
                }
            }
        })
    };

    // Publish everything in NL (each acknowledged, so durably queued for BE).
    let mut nl_risk = fed.connect_to_addr(NL_RISK, &nl.addr).await;
    let envelopes: Vec<Envelope> = (0..PUBLISHED)
        .map(|n| {
            nl_risk.seal(
                MessageType::RiskIndicator,
                Bytes::from(indicator(n).encode_to_vec()),
                "",
            )
        })
        .collect();
    for result in nl_risk.submit_stream(envelopes).await.expect("stream") {
        result.expect("published in NL");
    }

    // kill -9 while NL is delivering.
    let safety = std::time::Duration::from_secs(60);
    tokio::time::timeout(safety, arrived.wait_for(|n| *n >= KILL_AFTER))
        .await
        .expect("deliveries under way within a minute")
        .unwrap();
    nl.child.start_kill().unwrap();
    nl.child.wait().await.unwrap();
    let at_kill = *arrived.borrow();
    assert!(
        at_kill < PUBLISHED,
        "NL was killed with deliveries still to make ({at_kill} of {PUBLISHED} arrived)"
    );

    // Restarted, NL delivers the rest: follow BE until the last one is there.
    let mut nl = spawn_gateway(&fed, NL).await;
    tokio::time::timeout(safety, arrived.wait_for(|n| *n >= PUBLISHED))
        .await
        .expect("everything delivered within a minute of the restart")
        .unwrap();
    signal(&nl.child, "TERM");
    assert!(nl.child.wait().await.unwrap().success(), "graceful stop");

    // The outbox as the restarted NL finished it; its last delivery may have been cut short
    // by the stop (then it is still pending and is resent, answered DUPLICATE), so the
    // proof of delivery is awaited on the store itself, in process, through its outbox
    // watch.
    let nl_again = aedgate::server::start(fed.gateway_config(NL))
        .await
        .expect("NL on the same data folder");
    let outbox = await_outbox(&nl_again, |entries| {
        entries.iter().all(|e| e.state == OutboxState::Delivered)
    })
    .await;
    nl_again.shutdown().await.unwrap();

    // BE holds each indicator exactly once, in NL's order.
    let deliveries = fetch_all(&be_risk, 0).await;
    let mut seq_of: HashMap<String, u64> = HashMap::new();
    let mut order = Vec::new();
    for delivery in &deliveries {
        let envelope = delivery.envelope.as_ref().unwrap();
        if let Some(id) = from_nl(envelope) {
            let message_id = envelope.header.as_ref().unwrap().message_id.clone();
            assert!(
                seq_of.insert(message_id, delivery.seq).is_none(),
                "{id} stored twice"
            );
            order.push(id);
        }
    }
    // (SubmitStream pipelines, so NL's queue order need not be the stream's order; the
    // queue order is checked against BE's below.)
    order.sort();
    let expected: Vec<String> = (0..PUBLISHED).map(|n| indicator(n).indicator_id).collect();
    assert_eq!(order, expected, "every indicator, once");

    // Every outbox entry delivered, its receipt naming the one copy BE stored.
    assert_eq!(outbox.len(), PUBLISHED);
    let mut duplicates = 0;
    let mut previous = None;
    for entry in &outbox {
        assert_eq!(entry.peer, BE);
        let receipt = entry.receipt.as_ref().expect("proof of delivery");
        assert_eq!(receipt.receiver, BE);
        assert_eq!(receipt.message_id, entry.message_id);
        assert_eq!(
            seq_of.get(&entry.message_id).copied(),
            Some(receipt.log_index + 1),
            "the receipt points at BE's only copy"
        );
        assert!(
            previous < Some(receipt.log_index),
            "BE stored them in NL's queue order, across the crash"
        );
        previous = Some(receipt.log_index);
        if receipt.disposition == Disposition::Duplicate as i32 {
            duplicates += 1;
        } else {
            assert_eq!(receipt.disposition, Disposition::Accepted as i32);
        }
    }
    eprintln!(
        "killed after {at_kill} of {PUBLISHED} arrived; {duplicates} resend(s) answered DUPLICATE"
    );

    signal(&be.child, "TERM");
    assert!(be.child.wait().await.unwrap().success());
    follower.abort();
}
