//! Every layer reports to the gateway's one `Telemetry`: the service what became of each
//! envelope, the writer its commits and how long they took, the TLS acceptor its
//! handshakes. (The forwarder's deliveries are asserted in tests/exchange.rs.) These are
//! the figures an operator's metrics will export, so they must match what happened.

mod common;

use aedgate::telemetry::{Counter, Timer};
use common::*;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn the_gateway_counts_acceptances_duplicates_refusals_commits_and_handshakes() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let telemetry = gateway.state().telemetry.clone();
    let mut shopco = fed.connect(SHOPCO, &gateway).await;

    let envelope = shopco.seal_declaration(&declaration(&lrn("TEL")));
    shopco.submit(envelope.clone()).await.expect("accepted");
    shopco.submit(envelope.clone()).await.expect("duplicate");
    let mut forged = shopco.seal_declaration(&declaration(&lrn("TEL-FORGED")));
    if let Some(signature) = forged.signature.as_mut() {
        let mut value = signature.value.to_vec();
        value[0] ^= 1;
        signature.value = value.into();
    }
    let status = refused(shopco.submit(forged).await);
    assert_eq!(reason(&status), "SIGNATURE_INVALID");

    assert_eq!(telemetry.total(Counter::Accepted), 1);
    assert_eq!(telemetry.total(Counter::Duplicates), 1);
    let rejected = telemetry.counters(Counter::Rejected);
    assert_eq!(rejected.get("SIGNATURE_INVALID"), Some(&1), "{rejected:?}");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    // The acceptance committed at least one group; every commit was timed.
    let commits = telemetry.total(Counter::Commits);
    assert!(commits >= 1);
    assert_eq!(gateway.state().store.commits(), commits);
    assert_eq!(telemetry.timing(Timer::GroupCommit).count, commits);
    assert_eq!(telemetry.total(Counter::CommitFailures), 0);
    assert!(telemetry.total(Counter::Handshakes) >= 1);

    // A client that is no TLS client: its handshake fails and is counted. The acceptor
    // records it in a task of its own, so wait for the figure (bounded).
    let before = telemetry.counters(Counter::HandshakeFailures);
    assert!(before.is_empty(), "{before:?}");
    let mut tcp = tokio::net::TcpStream::connect(gateway.local_addr())
        .await
        .expect("TCP connect");
    tcp.write_all(b"GET / HTTP/1.1\r\n\r\n")
        .await
        .expect("write");
    drop(tcp);
    let counted = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let failures = telemetry.counters(Counter::HandshakeFailures);
            if !failures.is_empty() {
                return failures;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the failed handshake was counted within 10 s");
    assert_eq!(counted.get("failed"), Some(&1), "{counted:?}");
    gateway.shutdown().await.expect("shutdown");
}
