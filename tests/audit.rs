//! The verifiable audit log of PROTOCOL.md §9 over real sockets, real mutual TLS, real
//! signatures and the real store: every accepted and issued envelope is a leaf with §9's
//! encoding, receipts prove inclusion under signed heads, heads stay consistent, proof
//! requests beyond the tree are refused with clear codes, and `verify_store` finds a
//! changed row and names it.

mod common;

use aedgate::core::audit::{
    receipt_leaf, verify_head_consistency, verify_leaf_inclusion, verify_receipt_inclusion,
    verify_tree_head, AuditProblem,
};
use aedgate::core::envelope::envelope_digest;
use aedgate::core::merkle::{accepted_leaf, issued_leaf, Hash};
use aedgate::proto::v1::audit_client::AuditClient;
use aedgate::proto::v1::{
    ConsistencyProofRequest, Envelope, InclusionProofRequest, MessageType, Receipt, SignedTreeHead,
    TreeHeadRequest,
};
use aedgate::store::{verify_store, ExpectedHead, LogVerdict};
use common::*;
use sqlx::{Connection, SqliteConnection};
use std::path::Path;
use tonic::Code;

const RISK_UNIT: &str = "adm/NL/risk-unit";

fn root_of(head: &SignedTreeHead) -> Hash {
    Hash::try_from(&head.root_hash[..]).expect("32-byte root")
}

async fn head(audit: &mut AuditClient<tonic::transport::Channel>) -> SignedTreeHead {
    audit
        .tree_head(TreeHeadRequest {})
        .await
        .expect("tree head")
        .into_inner()
}

/// Submits `n` declarations from alternating partners; returns the receipts and a head
/// taken after each one.
async fn fill(
    fed: &Federation,
    gateway: &aedgate::server::RunningGateway,
    n: usize,
) -> (Vec<Receipt>, Vec<SignedTreeHead>) {
    let mut shopco = fed.connect(SHOPCO, gateway).await;
    let mut flyfast = fed.connect(FLYFAST, gateway).await;
    let mut audit = AuditClient::new(shopco.channel());
    let (mut receipts, mut heads) = (Vec::new(), Vec::new());
    for i in 0..n {
        let client = if i % 3 == 2 {
            &mut flyfast
        } else {
            &mut shopco
        };
        let envelope = client.seal_declaration(&declaration(&lrn("AUDIT")));
        receipts.push(client.submit(envelope).await.expect("accepted"));
        heads.push(head(&mut audit).await);
    }
    (receipts, heads)
}

#[tokio::test]
async fn every_accepted_and_issued_envelope_is_a_leaf_proven_under_every_later_head() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let (receipts, heads) = fill(&fed, &gateway, 9).await;
    let shopco = fed.connect(SHOPCO, &gateway).await;
    let trust = shopco.trust();
    let mut audit = AuditClient::new(shopco.channel());

    // Each declaration is followed in the log by its signed OUTCOME.
    for (i, head) in heads.iter().enumerate() {
        assert_eq!(head.tree_size, 2 * (i as u64 + 1));
        assert_eq!(verify_tree_head(head, NL, trust), Ok(root_of(head)));
    }

    // The leaves, rebuilt independently of the gateway: accepted ones from the receipts,
    // issued ones from the outcome envelopes the internal participant fetches (seq =
    // log_index + 1).
    let risk_unit = fed.connect(RISK_UNIT, &gateway).await;
    let log = fetch_all(&risk_unit, 0).await;
    assert_eq!(log.len(), 18);
    let mut leaves: Vec<Vec<u8>> = Vec::new();
    for delivery in &log {
        let envelope: &Envelope = delivery.envelope.as_ref().expect("envelope");
        let header = envelope.header.as_ref().expect("header");
        let index = delivery.seq - 1;
        let leaf = if header.r#type == MessageType::Outcome as i32 {
            issued_leaf(&envelope_digest(header), header.created_at_ms)
        } else {
            let receipt = receipts
                .iter()
                .find(|r| r.log_index == index)
                .expect("a receipt for every accepted entry");
            assert_eq!(receipt.message_id, header.message_id);
            let leaf = accepted_leaf(&envelope_digest(header), receipt.received_at_ms);
            assert_eq!(receipt_leaf(receipt).unwrap(), leaf);
            leaf
        };
        leaves.push(leaf);
    }

    for head in &heads {
        for (index, leaf) in leaves.iter().enumerate().take(head.tree_size as usize) {
            let proof = audit
                .inclusion_proof(InclusionProofRequest {
                    leaf_index: index as u64,
                    tree_size: head.tree_size,
                })
                .await
                .expect("inclusion proof")
                .into_inner();
            assert_eq!(
                verify_leaf_inclusion(leaf, index as u64, &proof, head),
                Ok(()),
                "leaf {index} in head of size {}",
                head.tree_size
            );
        }
    }
    for receipt in &receipts {
        shopco
            .prove_receipt(receipt)
            .await
            .unwrap_or_else(|e| panic!("receipt {} proven: {e}", receipt.log_index));
    }
    for (i, older) in heads.iter().enumerate() {
        for newer in &heads[i..] {
            let proof = if older.tree_size == newer.tree_size {
                Default::default()
            } else {
                audit
                    .consistency_proof(ConsistencyProofRequest {
                        first: older.tree_size,
                        second: newer.tree_size,
                    })
                    .await
                    .expect("consistency proof")
                    .into_inner()
            };
            assert_eq!(verify_head_consistency(older, newer, &proof), Ok(()));
        }
    }
    gateway.shutdown().await.unwrap();
}

#[tokio::test]
async fn tampered_leaves_and_heads_with_a_wrong_root_fail_against_real_proofs() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let (receipts, heads) = fill(&fed, &gateway, 4).await;
    let shopco = fed.connect(SHOPCO, &gateway).await;
    let mut audit = AuditClient::new(shopco.channel());
    let head = heads.last().unwrap().clone();
    let receipt = receipts[1].clone();
    let proof = audit
        .inclusion_proof(InclusionProofRequest {
            leaf_index: receipt.log_index,
            tree_size: head.tree_size,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verify_receipt_inclusion(&receipt, &proof, &head), Ok(()));

    let mut later = receipt.clone();
    later.received_at_ms += 1;
    assert!(matches!(
        verify_receipt_inclusion(&later, &proof, &head),
        Err(AuditProblem::NotIncluded { .. })
    ));
    let mut other_digest = receipt.clone();
    let mut digest = other_digest.envelope_digest.to_vec();
    digest[0] ^= 1;
    other_digest.envelope_digest = digest.into();
    assert!(matches!(
        verify_receipt_inclusion(&other_digest, &proof, &head),
        Err(AuditProblem::NotIncluded { .. })
    ));
    // The head of an earlier size with this head's root: the signature no longer verifies,
    // and the proof does not lead to a root that is not the tree's.
    let mut wrong_root = head.clone();
    let mut root = wrong_root.root_hash.to_vec();
    root[31] ^= 0x80;
    wrong_root.root_hash = root.into();
    assert_eq!(
        verify_tree_head(&wrong_root, NL, shopco.trust()),
        Err(AuditProblem::HeadSignatureInvalid)
    );
    assert!(matches!(
        verify_receipt_inclusion(&receipt, &proof, &wrong_root),
        Err(AuditProblem::NotIncluded { .. })
    ));
    gateway.shutdown().await.unwrap();
}

#[tokio::test]
async fn proofs_beyond_the_tree_are_refused_with_their_reason() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let shopco = fed.connect(SHOPCO, &gateway).await;
    let mut audit = AuditClient::new(shopco.channel());

    // The empty log has the empty root, signed.
    let empty = head(&mut audit).await;
    assert_eq!(empty.tree_size, 0);
    assert_eq!(
        root_of(&empty),
        aedgate::core::merkle::empty_root(),
        "SHA-256 of nothing"
    );
    verify_tree_head(&empty, NL, shopco.trust()).expect("signed");

    fill(&fed, &gateway, 2).await; // 4 entries
    let inclusion = |leaf_index, tree_size| InclusionProofRequest {
        leaf_index,
        tree_size,
    };
    let consistency = |first, second| ConsistencyProofRequest { first, second };
    assert_eq!(
        refusal(audit.inclusion_proof(inclusion(4, 4)).await),
        (Code::InvalidArgument, "LEAF_OUT_OF_RANGE".into())
    );
    assert_eq!(
        refusal(audit.inclusion_proof(inclusion(0, 5)).await),
        (Code::OutOfRange, "TREE_SIZE_BEYOND_LOG".into())
    );
    assert_eq!(
        refusal(audit.inclusion_proof(inclusion(9, 0)).await),
        (Code::InvalidArgument, "LEAF_OUT_OF_RANGE".into()),
        "size 0 means the current head, which has 4 entries"
    );
    assert_eq!(
        refusal(audit.consistency_proof(consistency(3, 5)).await),
        (Code::OutOfRange, "TREE_SIZE_BEYOND_LOG".into())
    );
    assert_eq!(
        refusal(audit.consistency_proof(consistency(0, 4)).await),
        (Code::InvalidArgument, "BAD_CONSISTENCY_RANGE".into())
    );
    assert_eq!(
        refusal(audit.consistency_proof(consistency(4, 3)).await),
        (Code::InvalidArgument, "BAD_CONSISTENCY_RANGE".into())
    );
    // Size 0 asks for the current head's size, and says which.
    let current = audit
        .inclusion_proof(inclusion(1, 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((current.leaf_index, current.tree_size), (1, 4));
    assert_eq!(
        audit
            .consistency_proof(consistency(4, 4))
            .await
            .unwrap()
            .into_inner()
            .proof,
        Vec::<bytes::Bytes>::new()
    );
    gateway.shutdown().await.unwrap();
}

fn refusal<T>(result: Result<T, tonic::Status>) -> (Code, String) {
    match result {
        Ok(_) => panic!("expected a refusal"),
        Err(status) => (status.code(), reason(&status)),
    }
}

/// Opens the store's database for writing, as someone with access to the files would.
async fn tamper(data_dir: &Path, statement: &str) {
    let url = format!("sqlite://{}", data_dir.join("aedgate.db").display());
    let mut conn = SqliteConnection::connect(&url).await.expect("open db");
    let changed = sqlx::query(statement)
        .execute(&mut conn)
        .await
        .expect("tamper")
        .rows_affected();
    assert_eq!(changed, 1, "{statement}");
    conn.close().await.unwrap();
}

#[tokio::test]
async fn verify_store_recomputes_the_log_and_names_the_first_changed_entry() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let (receipts, heads) = fill(&fed, &gateway, 6).await;
    let data_dir = fed.gateway_config(NL).data_dir;
    gateway.shutdown().await.unwrap();
    let expected: Vec<ExpectedHead> = heads
        .iter()
        .map(|h| ExpectedHead {
            size: h.tree_size,
            root: root_of(h),
        })
        .collect();
    let last = heads.last().unwrap();
    match verify_store(&data_dir, &expected).await.unwrap() {
        LogVerdict::Intact {
            size,
            root,
            heads_confirmed,
        } => {
            assert_eq!(size, 12);
            assert_eq!(root, root_of(last));
            assert_eq!(heads_confirmed, vec![2, 4, 6, 8, 10, 12]);
        }
        other => panic!("intact store reported {other:?}"),
    }

    // One changed row of each kind, each on a fresh copy; the verdict names the entry.
    let entry = receipts[2].log_index; // 4
    let message_id = receipts[2].message_id.clone();
    let cases = [
        (
            format!("UPDATE envelopes SET received_at_ms = received_at_ms + 1 WHERE log_index = {entry}"),
            entry,
            "leaf hash",
        ),
        (
            format!("UPDATE envelopes SET envelope = CAST(envelope || x'00' AS BLOB) WHERE log_index = {entry}"),
            entry,
            "",
        ),
        (
            format!("UPDATE envelopes SET envelope_digest = zeroblob(32) WHERE log_index = {entry}"),
            entry,
            "envelope_digest",
        ),
        (
            format!("UPDATE envelopes SET sender = 'ptr/NL/someone-else' WHERE log_index = {entry}"),
            entry,
            "sender",
        ),
        (
            "UPDATE merkle SET hash = zeroblob(32) WHERE level = 2 AND idx = 1".to_owned(),
            7, // the subtree of leaves 4..8 is completed by entry 7
            "subtree hash (level 2, index 1)",
        ),
        (
            format!("DELETE FROM envelopes WHERE log_index = {entry}"),
            entry,
            "missing",
        ),
        (
            "DELETE FROM envelopes WHERE log_index = 11".to_owned(),
            11,
            "beyond the stored envelopes",
        ),
    ];
    for (n, (statement, bad_entry, what)) in cases.iter().enumerate() {
        let copy = fed.path().join(format!("tampered-{n}"));
        copy_dir(&data_dir, &copy);
        tamper(&copy, statement).await;
        match verify_store(&copy, &[]).await.unwrap() {
            LogVerdict::EntryMismatch {
                log_index,
                message_id: named,
                problem,
            } => {
                assert_eq!(log_index, *bad_entry, "{statement}: {problem}");
                if *bad_entry == entry && !statement.starts_with("DELETE") {
                    assert_eq!(named, message_id);
                }
                assert!(problem.contains(what), "{statement}: {problem}");
            }
            other => panic!("{statement} not detected: {other:?}"),
        }
    }

    // A rewrite that is consistent in itself: change an entry and let the store rebuild its
    // Merkle log (as it does for stores written before the log existed). Only a head some
    // participant holds shows it.
    let copy = fed.path().join("rewritten");
    copy_dir(&data_dir, &copy);
    // Without the head the gateway kept beside the store, which would refuse it first
    // (tests/log_shrink.rs).
    std::fs::remove_file(copy.join(aedgate::store::HEAD_FILE)).unwrap();
    tamper(
        &copy,
        &format!(
            "UPDATE envelopes SET received_at_ms = received_at_ms - 5000 WHERE log_index = {entry}"
        ),
    )
    .await;
    let issuer = || aedgate::store::Issuer {
        participant: NL.into(),
        signer: std::sync::Arc::new(aedgate::core::crypto::Signer {
            key: fed.signing_key(NL),
            key_id: fed.key_id(NL),
        }),
    };
    let url = format!("sqlite://{}", copy.join("aedgate.db").display());
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("DELETE FROM merkle")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    // The gateway does not fill in a log it once kept: it refuses to start.
    let refused = aedgate::store::Store::open(&copy, issuer(), Default::default())
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("changed outside the gateway"),
        "{refused}"
    );
    // Only by also erasing the record that the store ever kept a log does the rewrite
    // pass for a store from before the audit log, which the gateway migrates.
    tamper(&copy, "DELETE FROM meta WHERE key = 'merkle_log_since'").await;
    let rebuilt = aedgate::store::Store::open(&copy, issuer(), Default::default())
        .await
        .expect("reopen rebuilds the Merkle log");
    assert_eq!(rebuilt.log_head().size, 12);
    assert_ne!(rebuilt.log_head().root, root_of(last));
    drop(rebuilt);
    assert!(matches!(
        verify_store(&copy, &[]).await.unwrap(),
        LogVerdict::Intact { size: 12, .. }
    ));
    assert_eq!(
        verify_store(&copy, &expected[..2]).await.unwrap(),
        LogVerdict::Intact {
            size: 12,
            root: match verify_store(&copy, &[]).await.unwrap() {
                LogVerdict::Intact { root, .. } => root,
                other => panic!("{other:?}"),
            },
            heads_confirmed: vec![2, 4],
        },
        "heads before the rewritten entry still match"
    );
    assert!(matches!(
        verify_store(&copy, &expected).await.unwrap(),
        LogVerdict::HeadMismatch {
            size: 6,
            recomputed: Some(_)
        }
    ));
}
