//! Faults of a replica set (PROTOCOL.md §13): a replica killed with `kill -9` under load,
//! and the shared database going away under load. Nothing a client was acknowledged may be
//! lost, no receipt may be sent for what was not committed, and the survivors (or, after
//! the outage, all replicas) go on serving on their own.

mod common;

use aedgate::proto::v1::MessageType;
use common::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Longer than any start or load phase takes: a process that takes longer hangs.
const PATIENCE: Duration = Duration::from_secs(120);

/// `aedgate serve` of replica `replica` of adm/NL, started and ready; returns the process
/// (killed when dropped) and its address.
async fn serve_replica(fed: &Federation, replica: u32) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_aedgate"))
        .arg("serve")
        .arg("--config")
        .arg(fed.file(&format!("adm-NL.replica-{replica}.gateway.toml")))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn aedgate serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("the replica got ready")
        .expect("read stdout")
        .expect("a ready line");
    assert!(ready.starts_with("aedgate ready: adm/NL"), "{ready}");
    // Keep reading, so that the replica never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, ready_address(&ready))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_under_load_loses_nothing_it_acknowledged_and_the_others_go_on() {
    let db = TestDatabase::create().await;
    let fed = Federation::replicated(&db.url);
    let mut processes = Vec::new();
    let mut addresses = Vec::new();
    for replica in 1..=3 {
        let (child, address) = serve_replica(&fed, replica).await;
        processes.push(child);
        addresses.push(address);
    }

    // Three partners' streams of declarations, one through each replica, 40 at a time.
    const PER_CLIENT: usize = 1_200;
    const BATCH: usize = 40;
    let acknowledged = Arc::new(AtomicU64::new(0));
    let halfway = Arc::new(tokio::sync::Notify::new());
    let mut loads = Vec::new();
    for (i, address) in addresses.iter().enumerate() {
        let mut client = fed.connect_to_addr(SHOPCO, address).await;
        let (acknowledged, halfway) = (acknowledged.clone(), halfway.clone());
        loads.push(tokio::spawn(async move {
            let mut receipts = Vec::new();
            for b in 0..PER_CLIENT / BATCH {
                let batch = (0..BATCH)
                    .map(|n| client.seal_declaration(&declaration(&lrn(&format!("K{i}B{b}N{n}")))))
                    .collect();
                // A replica that dies answers nothing more: its client stops there.
                let Ok(results) = client.submit_stream(batch).await else {
                    break;
                };
                for receipt in results.into_iter().flatten() {
                    receipts.push(receipt);
                }
                if acknowledged.fetch_add(BATCH as u64, Ordering::SeqCst) + BATCH as u64
                    >= PER_CLIENT as u64
                {
                    halfway.notify_one();
                }
            }
            receipts
        }));
    }
    // A third of the way through the load, replica 2 dies without a word.
    tokio::time::timeout(PATIENCE, halfway.notified())
        .await
        .expect("the load got a third of the way");
    signal(&processes[1], "KILL");
    let mut receipts = Vec::new();
    for load in loads {
        receipts.extend(
            tokio::time::timeout(PATIENCE, load)
                .await
                .expect("the load finished")
                .expect("load task"),
        );
    }
    let survivors_total = 2 * PER_CLIENT;
    assert!(
        receipts.len() >= survivors_total,
        "the survivors took their whole load: {} receipts",
        receipts.len()
    );

    // Every receipt any client holds, whichever replica signed it, is proved by a survivor.
    let auditor = fed.connect_to_addr(SHOPCO, &addresses[0]).await;
    for receipt in &receipts {
        auditor.prove_receipt(receipt).await.expect("provable");
    }
    // The partner's deliveries are numbered without a gap, one outcome per declaration
    // on file, acknowledged or not.
    let deliveries = fetch_all(&auditor, 0).await;
    let seqs: Vec<u64> = deliveries.iter().map(|d| d.seq).collect();
    assert_eq!(seqs, (1..=deliveries.len() as u64).collect::<Vec<_>>());
    assert!(deliveries.iter().all(|d| {
        d.envelope
            .as_ref()
            .and_then(|e| e.header.as_ref())
            .map(|h| h.r#type)
            == Some(MessageType::Outcome as i32)
    }));
    assert!(deliveries.len() >= receipts.len());
    for receipt in &receipts {
        assert!(
            !outcomes_for(&deliveries, &receipt.message_id).is_empty(),
            "{} has its outcome",
            receipt.message_id
        );
    }

    // And the shared log verifies, offline, with the head a survivor kept.
    for process in processes.iter_mut() {
        let _ = process.start_kill();
        let _ = process.wait().await;
    }
    let report = aedgate::store::audit_store_at(
        &fed.path().join("data/adm-NL-replica-1"),
        Some(&db.url),
        Default::default(),
    )
    .await
    .expect("verify-store");
    assert!(
        matches!(report.verdict, aedgate::store::LogVerdict::Intact { .. }),
        "{:?}",
        report.verdict
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_fails_calls_with_unavailable_and_the_replicas_recover_on_their_own() {
    // The database refuses connections and cuts every open one, as a server restart does to
    // its clients (tests/postgres_restart.rs restarts the server itself).
    outage::fails_calls_then_recovers(outage::Outage::RefusedAndCut).await;
}

/// Points a replica's configuration at `peer`'s address, in its `[peers]` table.
fn set_peer(fed: &Federation, replica: u32, peer: &str, addr: &str) {
    let path = fed.file(&format!("adm-NL.replica-{replica}.gateway.toml"));
    let text = std::fs::read_to_string(&path).expect("read");
    let entry = format!("\"{peer}\" = \"https://{addr}\"");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    match lines.iter().position(|l| l.trim() == "[peers]") {
        Some(at) => lines.insert(at + 1, entry),
        None => lines.extend(["".into(), "[peers]".into(), entry]),
    }
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_while_delivering_to_a_peer_leaves_its_queue_to_another_in_order_once() {
    let db = TestDatabase::create().await;
    let fed = Federation::replicated(&db.url);
    let be = fed.start(BE).await;
    for replica in 1..=2 {
        set_peer(&fed, replica, BE, &be.local_addr().to_string());
    }
    // Replica 1 alone, so that it is the one delivering.
    let (mut first, first_addr) = serve_replica(&fed, 1).await;
    let mut shopco = fed.connect_to_addr(SHOPCO, &first_addr).await;
    // One stream, so that they are queued for BE faster than one at a time is delivered.
    let batch = (0..200)
        .map(|i| {
            let mut d = declaration(&lrn(&format!("K9FWD{i}")));
            d.country_of_destination = "BE".into();
            shopco.seal_declaration(&d)
        })
        .collect();
    let filed: Vec<String> = shopco
        .submit_stream(batch)
        .await
        .expect("stream")
        .into_iter()
        .map(|r| r.expect("accepted").message_id)
        .collect();
    // BE has some of them: replica 1 is delivering the rest when it dies.
    let be_risk = fed.connect("adm/BE/risk-unit", &be).await;
    let forwarded = |e: &aedgate::proto::v1::Envelope| {
        e.header.as_ref().expect("header").r#type == MessageType::ForwardedDeclaration as i32
    };
    let mut after = 0;
    for _ in 0..5 {
        after = await_delivery(&be_risk, after, forwarded).await.0;
    }
    signal(&first, "KILL");
    let _ = first.wait().await;
    let before_takeover = fetch_all(&be_risk, 0)
        .await
        .iter()
        .filter(|d| d.envelope.as_ref().is_some_and(forwarded))
        .count();
    assert!(
        before_takeover < filed.len(),
        "replica 1 was still delivering when it died ({before_takeover} of {} delivered)",
        filed.len()
    );

    // Replica 2 takes the queue over when the dead one's lease runs out.
    let (_second, _) = serve_replica(&fed, 2).await;
    let mut received = Vec::new();
    let mut after = 0;
    while received.len() < filed.len() {
        let (seq, envelope) = await_delivery(&be_risk, after, forwarded).await;
        after = seq;
        received.push(envelope.header.expect("header").correlation_id);
    }
    // Every message, in the order NL filed them, each once in BE's log: a resend of the
    // one in flight was answered DUPLICATE, not applied again.
    assert_eq!(received, filed);
    let everything = fetch_all(&be_risk, 0).await;
    let again = everything
        .iter()
        .filter(|d| d.envelope.as_ref().is_some_and(forwarded))
        .count();
    assert_eq!(again, filed.len(), "no forwarded declaration applied twice");
}
