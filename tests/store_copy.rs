//! Moving a pilot to production (issue 16, item 4): `aedgate store copy` copies a
//! gateway's embedded store into an empty PostgreSQL database; the copy's log has the same
//! size and root, `verify-store` passes on it, and the gateway carries on there as if
//! nothing had moved: resends are DUPLICATE under their old log index, new envelopes take
//! the next ones, and each partner's deliveries go on without a gap.

mod common;

use aedgate::proto::v1::{Disposition, MessageType};
use aedgate::store::{audit_store, audit_store_at, LogVerdict};
use common::*;
use std::time::Duration;

/// `aedgate store copy --from DATA_DIR --to URL`, with a deadline.
async fn store_copy(data_dir: &std::path::Path, url: &str) -> std::process::Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_aedgate"))
        .args(["store", "copy", "--from"])
        .arg(data_dir)
        .args(["--to", url])
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("store copy finished within two minutes")
        .expect("run aedgate")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_store_has_the_same_log_verifies_and_carries_on_where_the_pilot_stopped() {
    let fed = Federation::standard();
    let db = TestDatabase::create().await;
    let gateways = start_network(&fed, &[NL, BE]).await;
    let nl = &gateways[0];

    // The pilot's history: declarations, one of them forwarded to BE (an outbox entry with
    // BE's receipt), and an indicator of NL's risk unit.
    let mut shopco = fed.connect(SHOPCO, nl).await;
    let mut filed = Vec::new();
    for i in 0..6 {
        let mut d = declaration(&lrn(&format!("PILOT{i}")));
        if i == 2 {
            d.country_of_destination = "BE".into();
        }
        let envelope = shopco.seal_declaration(&d);
        let receipt = shopco.submit(envelope.clone()).await.expect("accepted");
        filed.push((envelope, receipt));
    }
    await_outbox(nl, |entries| {
        !entries.is_empty()
            && entries
                .iter()
                .all(|e| e.state == aedgate::store::OutboxState::Delivered)
    })
    .await;
    let seqs_before = fetch_all(&shopco, 0).await.len() as u64;
    let data_dir = fed.gateway_config(NL).data_dir;
    for gateway in gateways {
        gateway.shutdown().await.expect("shutdown");
    }
    let pilot = audit_store(&data_dir, Default::default())
        .await
        .expect("pilot verified");
    let LogVerdict::Intact {
        size: pilot_size,
        root: pilot_root,
        ..
    } = pilot.verdict
    else {
        panic!("the pilot's store is intact: {:?}", pilot.verdict);
    };

    let out = store_copy(&data_dir, &db.url).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("COPIED: {pilot_size} log entries")),
        "{stdout}"
    );

    // The copy verifies: same size, same root, every signature the pilot's had.
    let copy = audit_store_at(&data_dir, Some(&db.url), Default::default())
        .await
        .expect("copy verified");
    assert_eq!(
        copy.verdict,
        LogVerdict::Intact {
            size: pilot_size,
            root: pilot_root,
            heads_confirmed: Vec::new()
        }
    );
    assert_eq!(copy.signatures, pilot.signatures);

    // A second copy into the same database is refused: nothing is merged.
    let again = store_copy(&data_dir, &db.url).await;
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("is not empty"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // The gateway carries on, on PostgreSQL, with the same data folder.
    let mut config = fed.gateway_config(NL);
    config.store_url = Some(db.url.clone());
    let nl = aedgate::server::start(config)
        .await
        .expect("NL starts on the copy");
    let mut shopco = fed.connect(SHOPCO, &nl).await;
    for (envelope, original) in &filed {
        let again = shopco.submit(envelope.clone()).await.expect("duplicate");
        assert_eq!(again.disposition, Disposition::Duplicate as i32);
        assert_eq!(again.log_index, original.log_index);
    }
    let next = shopco
        .submit(shopco.seal_declaration(&declaration(&lrn("PRODUCTION"))))
        .await
        .expect("accepted");
    assert_eq!(next.log_index, pilot_size);
    let (seq, _) = await_delivery(&shopco, seqs_before, |e| {
        let header = e.header.as_ref().expect("header");
        header.r#type == MessageType::Outcome as i32 && header.correlation_id == next.message_id
    })
    .await;
    assert_eq!(seq, seqs_before + 1, "deliveries go on without a gap");
    nl.shutdown().await.expect("shutdown");
}
