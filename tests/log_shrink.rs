//! Issue 15, item 4: a log must never be shorter than a tree head its gateway signed, and
//! `aedgate audit verify-store` checks every stored signature.
//!
//! Both tests damage a real store of a real gateway the way a crash or a bad disk would,
//! and then ask the real binary: `aedgate serve` must refuse to start on a log that lost
//! entries a signed head covers, naming both sizes, and `verify-store` must exit non-zero
//! naming what is wrong.

mod common;

use common::*;
use prost::Message;
use sqlx::Connection;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// Declarations submitted before the crash; each is followed in the log by its outcome.
const SUBMITTED: usize = 16;
/// The declarations whose commits stay whole in the write-ahead log.
const KEPT: usize = 8;
/// Longer than any start, stop or offline check takes: a process that takes longer hangs.
const PATIENCE: Duration = Duration::from_secs(60);

/// The first line the gateway prints on stdout: its ready line, or None when it exited
/// without one.
async fn first_line(child: &mut Child) -> Option<String> {
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("the gateway neither got ready nor exited")
        .expect("read stdout")
}

/// `aedgate audit verify-store DATA_DIR`: exit status and stdout.
async fn verify_store(data_dir: &Path) -> (Option<i32>, String) {
    let run = Command::new(env!("CARGO_BIN_EXE_aedgate"))
        .args(["audit", "verify-store"])
        .arg(data_dir)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(PATIENCE, run)
        .await
        .expect("verify-store hangs")
        .expect("run verify-store");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.code(), format!("{stdout}{stderr}"))
}

/// The log size the store holds, read without writing anything (a read-write connection
/// would checkpoint the write-ahead log on close).
async fn stored_log_size(data_dir: &Path) -> u64 {
    let url = format!("sqlite://{}?mode=ro", data_dir.join("aedgate.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open");
    let size: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(log_index) + 1, 0) FROM envelopes")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    conn.close().await.expect("close");
    u64::try_from(size).expect("size")
}

/// SQLite's write-ahead log: a 32-byte header (the page size at offset 8), then frames of
/// a 24-byte header and one page each.
fn wal_frame_size(wal: &[u8]) -> usize {
    let page_size = u32::from_be_bytes(wal[8..12].try_into().expect("header"));
    24 + page_size as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_changed_byte_in_the_wal_after_kill_9_stops_the_gateway_naming_both_sizes() {
    let fed = Federation::standard();
    let data_dir = fed.gateway_config(NL).data_dir;
    let wal_path = data_dir.join("aedgate.db-wal");
    let mut gateway = serve_process(&fed, NL);
    let ready = first_line(&mut gateway).await.expect("ready line");
    assert!(ready.starts_with("aedgate ready: adm/NL"), "{ready}");
    let addr = ready_address(&ready);

    // 16 declarations, each acknowledged (so durably committed); the write-ahead log's
    // length after the 8th is where the 9th's commit begins.
    let mut shopco = fed.connect_to_addr(SHOPCO, &addr).await;
    let mut receipts = Vec::new();
    let mut kept_wal_len = 0;
    for i in 0..SUBMITTED {
        let envelope = shopco.seal_declaration(&declaration(&lrn("SHRINK")));
        receipts.push(shopco.submit(envelope).await.expect("accepted"));
        if i + 1 == KEPT {
            kept_wal_len = std::fs::metadata(&wal_path).expect("wal").len() as usize;
        }
    }
    assert_eq!(receipts.last().expect("receipts").log_index, 30);
    let (head, _) = shopco.tree_head().await.expect("signed head");
    assert_eq!(head.tree_size, 32);

    gateway.start_kill().expect("kill -9");
    tokio::time::timeout(PATIENCE, gateway.wait())
        .await
        .expect("killed")
        .expect("wait");

    // One byte of the first page the 9th commit wrote: SQLite's recovery stops at the
    // first frame whose checksum fails and drops every frame after it, valid or not.
    let mut wal = std::fs::read(&wal_path).expect("the write-ahead log survived kill -9");
    let frame = wal_frame_size(&wal);
    assert_eq!((kept_wal_len - 32) % frame, 0, "a frame boundary");
    assert!(
        wal.len() > kept_wal_len + frame,
        "later commits are in the log"
    );
    wal[kept_wal_len + 24 + 100] ^= 0x01;
    std::fs::write(&wal_path, &wal).expect("write wal");

    // The restarted gateway refuses, in one line naming both sizes.
    let mut restarted = serve_process(&fed, NL);
    if let Some(line) = first_line(&mut restarted).await {
        let shrunk = stored_log_size(&data_dir).await;
        panic!(
            "the gateway started on a log of {shrunk} entries after signing a head of 32: {line}"
        );
    }
    let status = tokio::time::timeout(PATIENCE, restarted.wait())
        .await
        .expect("exits")
        .expect("wait");
    let mut stderr = String::new();
    restarted
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .await
        .expect("read stderr");
    assert!(!status.success(), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("aedgate: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert_eq!(
        std::fs::read(&wal_path).expect("wal"),
        wal,
        "the refused start left the write-ahead log, and the commits after the damaged frame, as they were"
    );
    let shrunk = stored_log_size(&data_dir).await;
    assert_eq!(shrunk, 2 * KEPT as u64, "the log lost the later commits");
    assert!(
        errors[0].contains("size 32") && errors[0].contains(&format!("size {shrunk}")),
        "{}",
        errors[0]
    );

    // The offline check agrees, naming both sizes.
    let (code, out) = verify_store(&data_dir).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("size 32") && out.contains(&format!("size {shrunk}")),
        "{out}"
    );
}

/// Flips one bit of the signature inside the stored envelope at `log_index`.
async fn flip_signature_bit(data_dir: &Path, log_index: u64) {
    let url = format!("sqlite://{}", data_dir.join("aedgate.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open");
    let mut stored: Vec<u8> =
        sqlx::query_scalar("SELECT envelope FROM envelopes WHERE log_index = ?")
            .bind(log_index as i64)
            .fetch_one(&mut conn)
            .await
            .expect("entry");
    let envelope = aedgate::proto::v1::Envelope::decode(stored.as_slice()).expect("envelope");
    let signature = envelope.signature.expect("signed").value;
    let at = stored
        .windows(signature.len())
        .position(|w| w == &signature[..])
        .expect("the signature's bytes in the stored envelope");
    stored[at + 7] ^= 0x01;
    sqlx::query("UPDATE envelopes SET envelope = ? WHERE log_index = ?")
        .bind(&stored)
        .bind(log_index as i64)
        .execute(&mut conn)
        .await
        .expect("update");
    conn.close().await.expect("close");
}

#[tokio::test]
async fn a_changed_signature_byte_is_named_by_verify_store() {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let mut shopco = fed.connect(SHOPCO, &gateway).await;
    for _ in 0..3 {
        let envelope = shopco.seal_declaration(&declaration(&lrn("SIG")));
        shopco.submit(envelope).await.expect("accepted");
    }
    shopco.tree_head().await.expect("signed head");
    let data_dir = fed.gateway_config(NL).data_dir;
    gateway.shutdown().await.expect("shutdown");
    drop(shopco);

    let (code, out) = verify_store(&data_dir).await;
    assert_eq!(code, Some(0), "the undamaged store verifies: {out}");

    // Entry 2 is shopco's second declaration, entry 3 the outcome this gateway signed.
    for (log_index, signer) in [(2, "ptr/NL/shopco"), (3, "adm/NL")] {
        let copy = fed.path().join(format!("copy-{log_index}"));
        copy_dir(&data_dir, &copy);
        flip_signature_bit(&copy, log_index).await;
        let (code, out) = verify_store(&copy).await;
        assert_eq!(
            code,
            Some(1),
            "a changed signature of entry {log_index}: {out}"
        );
        assert!(
            out.contains(&format!("MISMATCH at entry {log_index} ")) && out.contains("signature"),
            "{out}"
        );
        assert!(out.contains(signer), "{out}");
    }
}

#[tokio::test]
async fn a_store_without_a_kept_head_starts_and_one_with_another_root_at_its_size_does_not() {
    let fed = Federation::standard();
    let data_dir = fed.gateway_config(NL).data_dir;
    let head_file = data_dir.join(aedgate::store::HEAD_FILE);
    let gateway = fed.start(NL).await;
    let mut shopco = fed.connect(SHOPCO, &gateway).await;
    for _ in 0..2 {
        let envelope = shopco.seal_declaration(&declaration(&lrn("KEPT")));
        shopco.submit(envelope).await.expect("accepted");
    }
    let (head, _) = shopco.tree_head().await.expect("signed head");
    assert_eq!(head.tree_size, 4);
    gateway.shutdown().await.expect("shutdown");
    drop(shopco);

    // As after an upgrade from a release that kept no head: the gateway starts, and keeps
    // its head from then on.
    std::fs::remove_file(&head_file).expect("remove the kept head");
    let gateway = fed.start(NL).await;
    gateway.shutdown().await.expect("shutdown");
    let kept = aedgate::formats::audit::read_tree_head(&std::fs::read(&head_file).unwrap())
        .expect("a head is kept again");
    assert_eq!((kept.tree_size, &kept.root_hash), (4, &head.root_hash));

    // A kept head whose root the store does not give at its size: refused, both roots named.
    let other = aedgate::core::audit::sign_tree_head(
        NL,
        4,
        kept.timestamp_ms,
        &[7; 32],
        &fed.signing_key(NL),
        &fed.key_id(NL),
    );
    std::fs::write(
        &head_file,
        aedgate::formats::audit::tree_head_to_json(&other),
    )
    .unwrap();
    let refused = match aedgate::server::start(fed.gateway_config(NL)).await {
        Ok(gateway) => {
            let _ = gateway.shutdown().await;
            panic!("the gateway started on a log whose root differs from its kept head's");
        }
        Err(error) => error.to_string(),
    };
    assert!(!refused.contains('\n'), "one line: {refused}");
    assert!(
        refused.contains("at size 4")
            && refused.contains(&hex::encode([7; 32]))
            && refused.contains(&hex::encode(&head.root_hash)),
        "{refused}"
    );
}

#[tokio::test]
async fn a_forwarded_declaration_and_the_peers_receipt_verify_and_a_changed_receipt_is_named() {
    use aedgate::proto::v1::MessageType;
    use aedgate::store::{verify_store, LogVerdict, OutboxState};
    let fed = Federation::standard();
    let gateways = start_network(&fed, &[NL, BE]).await;
    let nl = &gateways[0];
    let mut shopco = fed.connect(SHOPCO, nl).await;
    let mut bound_for_be = declaration(&lrn("FWD-SIG"));
    bound_for_be.country_of_destination = "BE".into();
    shopco
        .submit(shopco.seal_declaration(&bound_for_be))
        .await
        .expect("accepted in NL");
    let outbox = await_outbox(nl, |entries| {
        entries.iter().any(|e| {
            e.message_type == MessageType::ForwardedDeclaration as i32
                && e.state == OutboxState::Delivered
        })
    })
    .await;
    let delivered = outbox
        .iter()
        .find(|e| e.state == OutboxState::Delivered)
        .expect("delivered")
        .log_index;
    drop(shopco);
    for gateway in gateways {
        gateway.shutdown().await.expect("shutdown");
    }
    let nl_dir = fed.gateway_config(NL).data_dir;
    let be_dir = fed.gateway_config(BE).data_dir;
    // NL holds BE's receipt for the forwarded declaration; BE holds the partner's original
    // inside NL's envelope. Every signature verifies.
    for data_dir in [&nl_dir, &be_dir] {
        let verdict = verify_store(data_dir, &[]).await.expect("verify");
        assert!(matches!(verdict, LogVerdict::Intact { .. }), "{verdict:?}");
    }

    // One bit of BE's receipt signature changed in a copy of NL's store: named with the
    // log index of the delivered message.
    let copy = fed.path().join("receipt-copy");
    copy_dir(&nl_dir, &copy);
    let url = format!("sqlite://{}", copy.join("aedgate.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open");
    let stored: Vec<u8> = sqlx::query_scalar("SELECT receipt FROM outbox WHERE log_index = ?")
        .bind(delivered as i64)
        .fetch_one(&mut conn)
        .await
        .expect("receipt");
    let mut receipt = aedgate::proto::v1::Receipt::decode(stored.as_slice()).expect("receipt");
    let signature = receipt.signature.as_mut().expect("signed");
    let mut value = signature.value.to_vec();
    value[7] ^= 0x01;
    signature.value = value.into();
    sqlx::query("UPDATE outbox SET receipt = ? WHERE log_index = ?")
        .bind(receipt.encode_to_vec())
        .bind(delivered as i64)
        .execute(&mut conn)
        .await
        .expect("update");
    conn.close().await.expect("close");
    match verify_store(&copy, &[]).await.expect("verify") {
        LogVerdict::EntryMismatch {
            log_index, problem, ..
        } => {
            assert_eq!(log_index, delivered);
            assert!(
                problem.contains("the receipt adm/BE returned")
                    && problem.contains("does not verify"),
                "{problem}"
            );
        }
        other => panic!("a changed receipt signature was not named: {other:?}"),
    }
}
