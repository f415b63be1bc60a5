//! The store's writer decides a whole group of envelopes in one transaction: duplicate and
//! LRN questions are answered from a per-group ledger, and rows are written in bulk just
//! before the commit (or before a job that reads them with SQL). These tests put related
//! envelopes into one group on purpose and check that every decision, and what is on disk
//! afterwards, is what separate commits would have given.
//!
//! The tests run on tokio's current-thread runtime: the writer task cannot start before the
//! test yields, so envelopes enqueued back to back all land in one group, and the test
//! checks that they did (one commit), so it cannot pass without exercising the group path.
//!
//! Each test runs on both stores: SQLite in the data folder and a fresh PostgreSQL
//! database (`AEDGATE_TEST_POSTGRES`, see `common::TestDatabase`).

mod common;

use aedgate::core::admission::Admitted;
use aedgate::core::envelope::Draft;
use aedgate::core::rejection::Rejection;
use aedgate::core::trust::TrustList;
use aedgate::proto::v1::{
    DeclarationState, Disposition, Envelope, Invalidation, MessageType, OutcomeCode,
};
use bytes::Bytes;
use common::*;
use prost::Message;

fn admitted(trust: &TrustList, envelope: Envelope) -> Admitted {
    admit_at(trust, NL, SHOPCO, envelope)
}

fn follow_up(fed: &Federation, kind: MessageType, payload: Vec<u8>, of: &Envelope) -> Envelope {
    let mut d: Draft = draft(SHOPCO, NL, &declaration("UNUSED"));
    d.message_type = kind as i32;
    d.payload = Bytes::from(payload);
    d.correlation_id = of.header.as_ref().expect("header").message_id.clone();
    seal_as(fed, SHOPCO, d)
}

#[tokio::test]
async fn one_group_decides_duplicates_conflicts_lrns_and_follow_ups_like_separate_commits_sqlite() {
    one_group_decides_duplicates_conflicts_lrns_and_follow_ups_like_separate_commits(
        Backend::Sqlite,
    )
    .await;
}

#[tokio::test]
async fn one_group_decides_duplicates_conflicts_lrns_and_follow_ups_like_separate_commits_postgres()
{
    one_group_decides_duplicates_conflicts_lrns_and_follow_ups_like_separate_commits(
        Backend::postgres().await,
    )
    .await;
}

async fn one_group_decides_duplicates_conflicts_lrns_and_follow_ups_like_separate_commits(
    backend: Backend,
) {
    let fed = Federation::standard();
    let (trust, data_dir) = store_setup(&fed, NL);
    let store = open_store_on(&fed, NL, &data_dir, &backend)
        .await
        .expect("store");

    // Something already on disk, so that the group's lookups also reach stored rows.
    let stored_before = seal_as(&fed, SHOPCO, draft(SHOPCO, NL, &declaration(&lrn("OLD"))));
    let old = store
        .append(admitted(&trust, stored_before.clone()), trust.clone())
        .await
        .expect("store")
        .expect("accepted");

    let first_data = declaration(&lrn("G1"));
    let first = seal_as(&fed, SHOPCO, draft(SHOPCO, NL, &first_data));
    let mut conflicting: Draft = draft(SHOPCO, NL, &declaration(&lrn("G1-OTHER")));
    conflicting.message_id = first.header.as_ref().expect("header").message_id.clone();
    let conflicting = seal_as(&fed, SHOPCO, conflicting);
    let reused_lrn = seal_as(&fed, SHOPCO, draft(SHOPCO, NL, &first_data));
    let reused_old_lrn = seal_as(
        &fed,
        SHOPCO,
        draft(
            SHOPCO,
            NL,
            &aedgate::proto::v1::AdvanceDeclaration::decode(stored_before.payload.clone())
                .expect("declaration"),
        ),
    );
    let mut amended_data = first_data.clone();
    amended_data.items[0].description = "Amended: cotton T-shirts, printed".into();
    let amendment = follow_up(
        &fed,
        MessageType::Amendment,
        amended_data.encode_to_vec(),
        &first,
    );
    let second = seal_as(&fed, SHOPCO, draft(SHOPCO, NL, &declaration(&lrn("G2"))));
    let invalidation = follow_up(
        &fed,
        MessageType::Invalidation,
        Invalidation {
            reason: "order cancelled".into(),
        }
        .encode_to_vec(),
        &second,
    );
    // Filed after the amendment, in the same group: the amendment's flush must not lose it.
    let third = seal_as(&fed, SHOPCO, draft(SHOPCO, NL, &declaration(&lrn("G3"))));

    let group = vec![
        first.clone(),
        first.clone(),
        conflicting,
        reused_lrn,
        reused_old_lrn,
        stored_before,
        amendment,
        second.clone(),
        invalidation,
        third.clone(),
        third.clone(),
    ];
    let commits_before = store.commits();
    let mut pending = Vec::new();
    for envelope in group {
        pending.push(
            store
                .enqueue(admitted(&trust, envelope), trust.clone())
                .await
                .expect("queued"),
        );
    }
    let mut results = Vec::new();
    for p in pending {
        results.push(p.wait().await.expect("committed"));
    }
    assert_eq!(
        store.commits(),
        commits_before + 1,
        "the test must put every envelope into one group"
    );

    let accepted = |i: usize| {
        let stored = results[i].as_ref().expect("stored");
        assert_eq!(stored.disposition, Disposition::Accepted, "result {i}");
        stored.log_index
    };
    let first_index = accepted(0);
    let duplicate = results[1].as_ref().expect("duplicate");
    assert_eq!(duplicate.disposition, Disposition::Duplicate);
    assert_eq!(duplicate.log_index, first_index);
    assert!(matches!(
        results[2],
        Err(Rejection::MessageIdConflict { .. })
    ));
    assert!(matches!(results[3], Err(Rejection::ValidationFailed(_))));
    assert!(matches!(results[4], Err(Rejection::ValidationFailed(_))));
    let resent_old = results[5].as_ref().expect("duplicate of a stored one");
    assert_eq!(resent_old.disposition, Disposition::Duplicate);
    assert_eq!(resent_old.log_index, old.log_index);
    let amendment_index = accepted(6);
    let second_index = accepted(7);
    let invalidation_index = accepted(8);
    let third_index = accepted(9);
    let third_again = results[10].as_ref().expect("duplicate");
    assert_eq!(third_again.disposition, Disposition::Duplicate);
    assert_eq!(third_again.log_index, third_index);

    // Each accepted declaration and amendment is followed by its outcome in the log.
    assert_eq!(amendment_index, first_index + 2);
    assert_eq!(second_index, amendment_index + 2);
    assert_eq!(invalidation_index, second_index + 2);
    assert_eq!(third_index, invalidation_index + 1);
    // 2 for the stored declaration; the group added G1, its outcome, the amendment, its
    // outcome, G2, its outcome, the invalidation, G3 and its outcome.
    assert_eq!(store.log_size().await.expect("size"), 2 + 9);

    let status = |id: &Envelope| {
        let id = id.header.as_ref().expect("header").message_id.clone();
        let store = store.clone();
        async move {
            store
                .declaration_status(&id)
                .await
                .expect("status")
                .expect("declaration on file")
        }
    };
    assert_eq!(status(&second).await.state, DeclarationState::Invalidated);
    let first_status = status(&first).await;
    assert_ne!(first_status.outcome, OutcomeCode::Unspecified);
    let third_status = status(&third).await;
    assert_ne!(third_status.mrn, first_status.mrn);

    // Partners see the outcomes in order with gap-free seqs: the bulk-written deliveries.
    let delivered = store
        .deliveries(
            &aedgate::store::FetchScope::Recipient(SHOPCO.into()),
            0,
            100,
        )
        .await
        .expect("deliveries");
    let seqs: Vec<u64> = delivered.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (1..=5).collect::<Vec<_>>());

    // What was committed is a consistent log: recomputed offline, it matches.
    let head = store.log_head();
    drop(store);
    let report = aedgate::store::audit_store_at(&data_dir, backend.url(), Default::default())
        .await
        .expect("verify");
    assert!(
        matches!(report.verdict, aedgate::store::LogVerdict::Intact { size, root, .. }
            if size == head.size && root == head.root),
        "{:?}",
        report.verdict
    );
    // Opened again, the store rebuilds the same head from what it stored.
    let reopened = open_store_on(&fed, NL, &data_dir, &backend)
        .await
        .expect("store");
    assert_eq!(reopened.log_head(), head);
}
