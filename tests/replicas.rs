//! Several replicas of one administration on one PostgreSQL database (PROTOCOL.md §13):
//! whichever replica a call reaches, the administration answers as one — one log, one set
//! of message ids, one numbering of each partner's deliveries.
//!
//! Every replica here is a real gateway on its own port, with its own data folder, behind
//! real mutual TLS, on a fresh database of the test server (`common::TestDatabase`).

mod common;

use aedgate::proto::v1::{Disposition, MessageType, SignedTreeHead};
use aedgate::server::RunningGateway;
use common::*;
use prost::Message;
use std::time::Duration;

/// Starts `count` replicas of adm/NL on the database at `url`, each with its own data
/// folder and a free port.
async fn start_replicas(fed: &Federation, url: &str, count: usize) -> Vec<RunningGateway> {
    let mut replicas = Vec::new();
    for i in 0..count {
        let mut config = fed.gateway_config(NL);
        config.store_url = Some(url.to_owned());
        config.data_dir = fed.path().join(format!("data/adm-NL-replica-{i}"));
        replicas.push(
            aedgate::server::start(config)
                .await
                .unwrap_or_else(|e| panic!("replica {i} starts: {e}")),
        );
    }
    replicas
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_keep_one_log_one_set_of_ids_and_wake_each_others_followers() {
    let fed = Federation::standard();
    let db = TestDatabase::create().await;
    let replicas = start_replicas(&fed, &db.url, 3).await;
    let mut first = fed.connect(SHOPCO, &replicas[0]).await;
    let mut second = fed.connect(SHOPCO, &replicas[1]).await;
    let mut third = fed.connect(SHOPCO, &replicas[2]).await;

    // A partner following its deliveries on the third replica, which files nothing itself.
    let mut follow = fetch_stream(&third, 0, true).await;

    // Declarations filed through the first two replicas, in turn.
    let mut filed = Vec::new();
    for i in 0..24 {
        let client = if i % 2 == 0 { &mut first } else { &mut second };
        let envelope = client.seal_declaration(&declaration(&lrn(&format!("REP{i}"))));
        let receipt = client.submit(envelope.clone()).await.expect("accepted");
        assert_eq!(receipt.disposition, Disposition::Accepted as i32);
        filed.push((envelope, receipt));

        // Its outcome, committed by the replica that took it, reaches the follower on the
        // third within a second.
        let id = filed[i]
            .0
            .header
            .as_ref()
            .expect("header")
            .message_id
            .clone();
        let outcome = tokio::time::timeout(Duration::from_secs(1), async {
            loop {
                let delivery = follow
                    .message()
                    .await
                    .expect("delivery")
                    .expect("the follow stream stays open");
                let envelope = delivery.envelope.expect("envelope");
                let header = envelope.header.expect("header");
                if header.r#type == MessageType::Outcome as i32 && header.correlation_id == id {
                    return delivery.seq;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("declaration {i}'s outcome reached the follower within 1 s"));
        // One delivery per declaration (its outcome), numbered without gaps across replicas.
        assert_eq!(outcome, i as u64 + 1);
    }

    // One log: every accepted envelope and every issued outcome has its own index, and
    // together they fill the log without a gap.
    let mut indices: Vec<u64> = filed.iter().map(|(_, r)| r.log_index).collect();
    indices.sort_unstable();
    indices.dedup();
    assert_eq!(indices.len(), filed.len(), "log indices are unique");
    let (head, _) = third.tree_head().await.expect("head");
    assert_eq!(head.tree_size, 2 * filed.len() as u64);

    // A resend reaching the third replica is DUPLICATE with the original receipt's data.
    for (envelope, original) in &filed {
        let again = third.submit(envelope.clone()).await.expect("duplicate");
        assert_eq!(again.disposition, Disposition::Duplicate as i32);
        assert_eq!(again.log_index, original.log_index);
        assert_eq!(again.received_at_ms, original.received_at_ms);
        assert_eq!(again.envelope_digest, original.envelope_digest);
    }
    // An id reused with other content is refused there too.
    let mut reused = draft(SHOPCO, NL, &declaration(&lrn("OTHER")));
    reused.message_id = filed[0]
        .0
        .header
        .as_ref()
        .expect("header")
        .message_id
        .clone();
    let status = refused(third.submit(seal_as(&fed, SHOPCO, reused)).await);
    assert_eq!(reason(&status), "MESSAGE_ID_CONFLICT");

    // Every receipt, whichever replica signed it, is proved on every replica.
    for client in [&first, &second, &third] {
        for (_, receipt) in &filed {
            client.prove_receipt(receipt).await.expect("provable");
        }
    }

    // The heads of all three are consistent with each other, whichever came first.
    let mut heads: Vec<SignedTreeHead> = Vec::new();
    for client in [&first, &second, &third] {
        heads.push(client.tree_head().await.expect("head").0);
    }
    heads.sort_by_key(|h| h.tree_size);
    for pair in heads.windows(2) {
        third
            .check_extends(&pair[0], &pair[1])
            .await
            .expect("consistent heads");
    }
    assert_eq!(heads[0].tree_size, heads[2].tree_size);
    assert_eq!(heads[0].root_hash, heads[2].root_hash);
}

/// A declaration filed by ShopCo in NL that is bound for Belgium (and so forwarded there).
fn bound_for_belgium(tag: &str) -> aedgate::proto::v1::AdvanceDeclaration {
    let mut declaration = declaration(&lrn(tag));
    declaration.country_of_destination = "BE".into();
    declaration
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_deliver_each_message_once_in_order_and_a_dead_replicas_lease_passes_to_them() {
    let fed = Federation::standard();
    let db = TestDatabase::create().await;
    let be = fed.start(BE).await;

    // A replica that files a declaration bound for BE, takes its delivery's lease for three
    // seconds, and dies before delivering it.
    let (trust, _) = store_setup(&fed, NL);
    let ghost_dir = fed.path().join("data/adm-NL-ghost");
    let ghost = open_store_on(&fed, NL, &ghost_dir, &Backend::Url(db.url.clone()))
        .await
        .expect("ghost replica's store");
    let orphan = seal_as(
        &fed,
        SHOPCO,
        draft(SHOPCO, NL, &bound_for_belgium("ORPHAN")),
    );
    ghost
        .append(admit_at(&trust, NL, SHOPCO, orphan.clone()), trust.clone())
        .await
        .expect("stored")
        .expect("accepted");
    let queued = ghost.outbox(None).await.expect("outbox");
    assert_eq!(queued.len(), 1, "{queued:?}");
    let lease_ends = aedgate::clock::now_ms() + 3_000;
    assert_eq!(
        ghost
            .outbox_lease(queued[0].id, aedgate::clock::now_ms(), lease_ends)
            .await
            .expect("lease"),
        aedgate::store::Lease::Granted
    );
    drop(ghost);

    // Two live replicas, both delivering to BE.
    let replicas = start_replicas(&fed, &db.url, 2).await;
    for replica in &replicas {
        replica.set_peer_endpoint(BE, &format!("https://{}", be.local_addr()));
    }
    let mut via = [
        fed.connect(SHOPCO, &replicas[0]).await,
        fed.connect(SHOPCO, &replicas[1]).await,
    ];
    let mut filed = vec![orphan.header.as_ref().expect("header").message_id.clone()];
    for i in 0..10 {
        let client = &mut via[i % 2];
        let envelope = client.seal_declaration(&bound_for_belgium(&format!("FWD{i}")));
        filed.push(client.submit(envelope).await.expect("accepted").message_id);
    }

    // BE received every one, once, in the order NL filed them, the dead replica's first:
    // its lease held the peer's queue until it ran out.
    let be_risk = fed.connect("adm/BE/risk-unit", &be).await;
    let mut forwarded = Vec::new();
    let mut after = 0;
    while forwarded.len() < filed.len() {
        let (seq, envelope) = await_delivery(&be_risk, after, |e| {
            e.header.as_ref().expect("header").r#type == MessageType::ForwardedDeclaration as i32
        })
        .await;
        after = seq;
        forwarded.push(envelope.header.expect("header").correlation_id);
    }
    assert_eq!(forwarded, filed);
    let first = be
        .state()
        .store
        .declaration_status(&filed[0])
        .await
        .expect("status")
        .expect("on file in BE");
    assert!(
        first.updated_at_ms >= lease_ends,
        "delivered while the dead replica's lease ran"
    );

    // Each message was delivered by one replica: the two forwarders' deliveries add up to
    // the messages, and NL's outbox holds each peer receipt once.
    let outbox = await_outbox(&replicas[0], |entries| {
        entries
            .iter()
            .filter(|e| e.peer == BE)
            .all(|e| e.state == aedgate::store::OutboxState::Delivered)
    })
    .await;
    let to_be: Vec<_> = outbox
        .iter()
        .filter(|e| e.message_type == MessageType::ForwardedDeclaration as i32)
        .collect();
    assert_eq!(to_be.len(), filed.len());
    let deliveries: u64 = replicas
        .iter()
        .map(|r| {
            r.state()
                .telemetry
                .counters(aedgate::telemetry::Counter::Forwarded)
                .get(BE)
                .copied()
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(
        deliveries,
        outbox.iter().filter(|e| e.peer == BE).count() as u64
    );
}

/// An indicator of NL's risk unit that asks for information on declarations naming `term`.
fn indicator(id: &str, term: &str) -> aedgate::proto::v1::RiskIndicator {
    use aedgate::proto::v1::{Criteria, OutcomeCode, RiskIndicator, Tlp};
    RiskIndicator {
        indicator_id: id.into(),
        version: 1,
        title: format!("Replica test indicator {id}"),
        rationale: "test".into(),
        tlp: Tlp::Red as i32,
        personal_data: false,
        criteria: Some(Criteria {
            description_terms: vec![term.into()],
            ..Default::default()
        }),
        action: OutcomeCode::RequestForInformation as i32,
        valid_until_ms: 0,
    }
}

/// The outcome code NL gave `declaration_id`, as ShopCo fetches it from `replica`.
async fn outcome_code(fed: &Federation, replica: &RunningGateway, declaration_id: &str) -> i32 {
    let shopco = fed.connect(SHOPCO, replica).await;
    let (_, envelope) = await_delivery(&shopco, 0, |e| {
        let header = e.header.as_ref().expect("header");
        header.r#type == MessageType::Outcome as i32 && header.correlation_id == declaration_id
    })
    .await;
    aedgate::proto::v1::Outcome::decode(envelope.payload)
        .expect("outcome")
        .code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_indicator_and_its_revocation_on_one_replica_apply_on_the_other_at_once() {
    use aedgate::proto::v1::{OutcomeCode, RiskIndicatorRevocation};
    use bytes::Bytes;
    let fed = Federation::standard();
    let db = TestDatabase::create().await;
    let replicas = start_replicas(&fed, &db.url, 2).await;
    let mut risk = fed.connect("adm/NL/risk-unit", &replicas[0]).await;
    let mut shopco = fed.connect(SHOPCO, &replicas[1]).await;
    let file = |shopco: &aedgate::client::Participant, tag: &str| {
        let mut d = declaration(&lrn(tag));
        d.items[0].description = "Replica-test kettles".into();
        shopco.seal_declaration(&d)
    };

    // Before: nothing in force, the declaration is released.
    let before = shopco
        .submit(file(&shopco.clone(), "BEFORE"))
        .await
        .expect("accepted");
    assert_eq!(
        outcome_code(&fed, &replicas[1], &before.message_id).await,
        OutcomeCode::AssessmentComplete as i32
    );

    // Published through the first replica, the indicator decides the very next
    // declaration filed through the second.
    let published = risk.seal(
        MessageType::RiskIndicator,
        Bytes::from(indicator("NL-REPLICA-1", "kettles").encode_to_vec()),
        "",
    );
    risk.submit(published).await.expect("published");
    let during = shopco
        .submit(file(&shopco.clone(), "DURING"))
        .await
        .expect("accepted");
    assert_eq!(
        outcome_code(&fed, &replicas[1], &during.message_id).await,
        OutcomeCode::RequestForInformation as i32
    );

    // Revoked through the first, it no longer applies on the second.
    let revocation = risk.seal(
        MessageType::RiskIndicatorRevocation,
        Bytes::from(
            RiskIndicatorRevocation {
                indicator_id: "NL-REPLICA-1".into(),
                reason: "test over".into(),
            }
            .encode_to_vec(),
        ),
        "",
    );
    risk.submit(revocation).await.expect("revoked");
    let after = shopco
        .submit(file(&shopco.clone(), "AFTER"))
        .await
        .expect("accepted");
    assert_eq!(
        outcome_code(&fed, &replicas[1], &after.message_id).await,
        OutcomeCode::AssessmentComplete as i32
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pki_init_with_three_replicas_writes_configurations_that_share_one_log_each_with_its_own_key(
) {
    let db = TestDatabase::create().await;
    // The command line writes them...
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aedgate"))
        .args([
            "pki",
            "init",
            "--replicas",
            "3",
            "--store",
            &db.url,
            "--out",
        ])
        .arg(out_dir.path())
        .output()
        .expect("run aedgate pki init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for replica in 1..=3 {
        let config = out_dir
            .path()
            .join(format!("adm-NL.replica-{replica}.gateway.toml"));
        let text = std::fs::read_to_string(&config).expect("replica configuration");
        assert!(text.contains(&db.url), "{text}");
        assert!(
            text.contains(&format!("data/adm-NL-replica-{replica}")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{}", 7443 + 100 * (replica - 1))),
            "{text}"
        );
    }

    // ...and, as the test federation makes them (free ports), the three serve one log,
    // each signing with its own key of adm/NL in the trust list.
    let fed = Federation::with_spec(aedgate::pki::PkiSpec {
        revenue: false,
        replicas: 3,
        store_url: db.url.clone(),
        ..aedgate::pki::PkiSpec::standard()
    });
    let keys: Vec<String> = fed
        .gateway_config(NL)
        .trust
        .participant(NL)
        .expect("adm/NL")
        .signing_keys
        .iter()
        .map(|k| k.key_id.clone())
        .collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    let replicas = fed.start_replicas(3).await;
    let mut signed_with = Vec::new();
    let mut indices = Vec::new();
    for replica in &replicas {
        let mut shopco = fed.connect(SHOPCO, replica).await;
        // The client checks each receipt's signature against the trust list.
        let receipt = shopco
            .submit(shopco.seal_declaration(&declaration(&lrn("KEYS"))))
            .await
            .expect("accepted");
        signed_with.push(receipt.signature.expect("signed").key_id);
        indices.push(receipt.log_index);
    }
    assert_eq!(signed_with, keys);
    assert_eq!(indices, vec![0, 2, 4]);
}
