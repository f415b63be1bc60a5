//! `aedgate audit verify-store`: recomputes the whole Merkle log from the stored envelopes,
//! offline, checks every stored signature, and names the first entry that does not match.
//!
//! The gateway's own tables are evidence only if they agree with themselves: each stored
//! envelope must hash to its recorded digest and leaf, every stored subtree hash must be
//! what the leaves give, and the root at a size some partner holds a signed head for must be
//! that head's root. The log must also still hold the head the gateway signed and kept in
//! the data folder (`log-head.json`). And what the log does not cover must hold too: an
//! envelope's signature is not part of its digest, so each one (and each forwarded
//! original's, and each receipt a peer returned) is checked against the trust lists the
//! gateway kept, with the key it names, valid at the message's time. An operator (or an
//! auditor with a copy of the data folder) runs this after an incident or before handing
//! data over; it opens the database read-only and streams it, so memory stays O(log n)
//! however long the log is.
//!
//! The checks are the same for both stores; each backend only streams its rows
//! ([`AuditRows`]: SQLite in `sqlite/mod.rs`, PostgreSQL in `postgres/audit.rs`).

use super::kept;
use super::{to_u64, Direction, StoreError};
use crate::core::audit::{verify_tree_head, AuditProblem};
use crate::core::envelope::{
    envelope_digest, envelope_signing_input, receipt_signing_input_of, sha256,
};
use crate::core::merkle::{self, Frontier, Hash};
use crate::core::trust::{format_ms, SignatureError, TrustList};
use crate::proto::v1::{Envelope, MessageType, Receipt, Signature, SignedTreeHead};
use futures_util::stream::BoxStream;
use futures_util::TryStreamExt;
use prost::Message;
use std::path::Path;

/// A head to compare the recomputed log with: a size and the root a signed tree head gave
/// for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpectedHead {
    /// The head's tree size.
    pub size: u64,
    /// The head's root hash.
    pub root: Hash,
}

/// What `verify_store` concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogVerdict {
    /// Every entry and every stored subtree hash is what the envelopes give.
    Intact {
        /// Entries checked.
        size: u64,
        /// The recomputed root of the whole log.
        root: Hash,
        /// The expected heads whose roots were confirmed.
        heads_confirmed: Vec<u64>,
    },
    /// The first entry whose stored data does not match.
    EntryMismatch {
        /// Its log index.
        log_index: u64,
        /// Its message id, as stored ("" if unreadable).
        message_id: String,
        /// What does not match.
        problem: String,
    },
    /// The stored log agrees with itself but not with a head some participant holds: it was
    /// rewritten (or the head belongs to another log).
    HeadMismatch {
        /// The head's size.
        size: u64,
        /// What the stored log gives at that size (None if the log is shorter).
        recomputed: Option<Hash>,
    },
    /// The stored log does not hold the head its own gateway signed and kept in the data
    /// folder (shorter, or another root at its size), or that head's signature does not
    /// verify: entries were lost or changed after the gateway signed it.
    NotKeptHead {
        /// What is wrong, with both sizes (and both roots).
        problem: AuditProblem,
    },
}

/// What [`audit_store`] checks a store against besides itself.
#[derive(Debug, Default)]
pub struct StoreAudit {
    /// Heads some participant holds (`--head`), in any order.
    pub heads: Vec<ExpectedHead>,
    /// Trust lists to check signatures with besides those kept in the data folder
    /// (`--trust-list`), by name: a store written before its gateway kept its lists may
    /// hold envelopes signed with keys that no kept list has.
    pub trust_lists: Vec<(String, TrustList)>,
}

/// What [`audit_store`] concluded, and what it checked with.
#[derive(Debug)]
pub struct StoreReport {
    /// The verdict.
    pub verdict: LogVerdict,
    /// The size of the head the gateway kept in the data folder, if it kept one.
    pub kept_head: Option<u64>,
    /// The trust lists signatures were checked with: name and version.
    pub trust_lists: Vec<(String, u64)>,
    /// Signatures verified: envelopes, forwarded originals, peers' receipts, the kept head.
    pub signatures: u64,
}

/// One stored row of the `envelopes` table, as read for checking.
pub(super) struct StoredEntry {
    pub log_index: i64,
    pub message_id: String,
    pub direction: i64,
    pub sender: String,
    pub recipient: String,
    pub msg_type: i64,
    pub correlation_id: String,
    pub created_at_ms: i64,
    pub received_at_ms: i64,
    pub envelope_digest: Vec<u8>,
    pub envelope: Vec<u8>,
}

/// A stored perfect subtree: level, index, hash.
pub(super) type StoredSubtree = (i64, u64, Vec<u8>);

/// A receipt a peer returned for an envelope this gateway delivered, with that envelope's
/// log index and digest.
pub(super) struct StoredPeerReceipt {
    pub log_index: u64,
    pub peer: String,
    pub message_id: String,
    pub receipt: Vec<u8>,
    pub envelope_digest: Vec<u8>,
}

/// What the audit reads from a store, as streams, so that memory stays O(log n).
#[async_trait::async_trait]
pub(super) trait AuditRows: Send + Sync {
    /// The end of the log to check: past its last envelope and its last leaf, so that
    /// envelopes removed from the end of the log still show.
    async fn end(&self) -> Result<i64, StoreError>;
    /// The envelopes below `end`, by log index.
    fn entries(&self, end: i64) -> BoxStream<'_, Result<StoredEntry, StoreError>>;
    /// The stored subtrees whose last leaf is below `end`, in the order appends complete
    /// them: by that last leaf, then by level (the leaf itself first).
    fn subtrees(&self, end: i64) -> BoxStream<'_, Result<StoredSubtree, StoreError>>;
    /// The peers' receipts for entries below `end`, in log order.
    fn receipts(&self, end: i64) -> BoxStream<'_, Result<StoredPeerReceipt, StoreError>>;
}

/// Checks one stored entry against its own envelope bytes and returns its §9 leaf and the
/// envelope. Pure: the caller does the reading.
fn check_entry(expected_index: u64, row: &StoredEntry) -> Result<(Vec<u8>, Envelope), String> {
    if u64::try_from(row.log_index).ok() != Some(expected_index) {
        return Err(format!(
            "expected entry {expected_index} here, found log index {} (an entry is missing)",
            row.log_index
        ));
    }
    let envelope = Envelope::decode(row.envelope.as_slice())
        .map_err(|e| format!("stored envelope is not a valid protobuf Envelope: {e}"))?;
    let header = envelope
        .header
        .as_ref()
        .ok_or("stored envelope has no header")?;
    let columns = [
        ("message_id", header.message_id == row.message_id),
        ("sender", header.sender == row.sender),
        ("recipient", header.recipient == row.recipient),
        ("type", i64::from(header.r#type) == row.msg_type),
        (
            "correlation_id",
            header.correlation_id == row.correlation_id,
        ),
        ("created_at_ms", header.created_at_ms == row.created_at_ms),
    ];
    if let Some((column, _)) = columns.iter().find(|(_, same)| !same) {
        return Err(format!(
            "stored column {column} differs from the envelope's header"
        ));
    }
    if sha256(&envelope.payload)[..] != header.payload_sha256[..] {
        return Err("payload does not hash to the header's payload_sha256".into());
    }
    let digest = envelope_digest(header);
    if digest[..] != row.envelope_digest[..] {
        return Err(format!(
            "stored envelope_digest {} differs from the digest of the stored envelope {}",
            hex::encode(&row.envelope_digest),
            hex::encode(digest)
        ));
    }
    let leaf = match row.direction {
        d if d == Direction::Accepted as i64 => merkle::accepted_leaf(&digest, row.received_at_ms),
        d if d == Direction::Issued as i64 => merkle::issued_leaf(&digest, header.created_at_ms),
        other => return Err(format!("unknown direction {other}")),
    };
    Ok((leaf, envelope))
}

/// Checks one stored signature with the trust lists at hand: it holds if one of them gives
/// `signer` the key the signature names, valid at `at_ms`, and the signature verifies with
/// it. Which list was in force when the message was admitted is not recorded; a key id
/// names one key of one participant, so any list that has it will do. Pure; `what` names
/// the signature in the problem.
fn check_signed(
    lists: &[(String, TrustList)],
    what: &str,
    signer: &str,
    signature: Option<&Signature>,
    at_ms: i64,
    input: &[u8],
) -> Result<(), String> {
    let Some(signature) = signature else {
        return Err(format!("{what} is missing"));
    };
    let key_id = &signature.key_id;
    let mut problem = None;
    for (name, list) in lists {
        let seen = format!("trust list v{} in {name}", list.version());
        match list.verify_signature(signer, key_id, at_ms, input, &signature.value) {
            Ok(()) => return Ok(()),
            Err(SignatureError::UnknownKey) => {}
            Err(SignatureError::KeyNotValid) => {
                problem = Some(format!(
                    "{what} is by {signer}'s key {key_id}, which was not valid at {} ({seen})",
                    format_ms(at_ms)
                ));
            }
            Err(SignatureError::SignatureInvalid) => {
                problem = Some(format!(
                    "{what} does not verify with {signer}'s key {key_id} ({seen})"
                ));
            }
        }
    }
    Err(problem.unwrap_or_else(|| {
        format!(
            "{what} names {signer}'s key {key_id}, which none of the {} trust list(s) at hand \
             has: give the list in force when it was admitted with --trust-list",
            lists.len()
        )
    }))
}

/// Checks the signatures an entry carries: its envelope's (its sender's key at its
/// `created_at_ms`, as admission checked it, or this gateway's for what it issued) and, for
/// a forwarded declaration, the partner's original inside it. Returns how many verified.
fn check_entry_signatures(
    lists: &[(String, TrustList)],
    envelope: &Envelope,
) -> Result<u64, String> {
    let Some(header) = envelope.header.as_ref() else {
        return Err("stored envelope has no header".into());
    };
    check_signed(
        lists,
        "the envelope's signature",
        &header.sender,
        envelope.signature.as_ref(),
        header.created_at_ms,
        &envelope_signing_input(header),
    )?;
    if header.r#type != MessageType::ForwardedDeclaration as i32 {
        return Ok(1);
    }
    let original = Envelope::decode(envelope.payload.as_ref())
        .map_err(|e| format!("the forwarded original is not a valid Envelope: {e}"))?;
    let inner = original
        .header
        .as_ref()
        .ok_or("the forwarded original has no header")?;
    check_signed(
        lists,
        "the forwarded original's signature",
        &inner.sender,
        original.signature.as_ref(),
        inner.created_at_ms,
        &envelope_signing_input(inner),
    )?;
    Ok(2)
}

/// Checks the head the gateway kept in the data folder: well formed and signed by its
/// log's administration with a key valid at its time, by one of the lists at hand.
fn check_kept_head(
    lists: &[(String, TrustList)],
    head: &SignedTreeHead,
) -> Result<Hash, AuditProblem> {
    let mut problem = AuditProblem::HeadKey(format!(
        "none of the {} trust list(s) at hand has the key that signed it",
        lists.len()
    ));
    for (_, list) in lists {
        match verify_tree_head(head, &head.log_id, list) {
            Ok(root) => return Ok(root),
            Err(AuditProblem::HeadKey(_)) => {}
            Err(other) => problem = other,
        }
    }
    Err(problem)
}

/// Recomputes the log stored in `data_dir` and compares it with what is stored, with the
/// head kept in the data folder and with `heads` (in any order), and checks every stored
/// signature with the trust lists kept in the data folder.
pub async fn verify_store(
    data_dir: &Path,
    heads: &[ExpectedHead],
) -> Result<LogVerdict, StoreError> {
    let audit = StoreAudit {
        heads: heads.to_vec(),
        trust_lists: Vec::new(),
    };
    Ok(audit_store(data_dir, audit).await?.verdict)
}

/// [`verify_store`], with trust lists of its own besides the kept ones, and saying what it
/// checked with.
pub async fn audit_store(data_dir: &Path, audit: StoreAudit) -> Result<StoreReport, StoreError> {
    audit_store_at(data_dir, None, audit).await
}

/// [`audit_store`] of a gateway whose store is the shared PostgreSQL database at `url`
/// (`[store] url`; `None`: SQLite in `data_dir`). The head and trust lists it kept are in
/// its `data_dir` either way.
pub async fn audit_store_at(
    data_dir: &Path,
    url: Option<&str>,
    audit: StoreAudit,
) -> Result<StoreReport, StoreError> {
    match url {
        Some(url) => {
            let rows = super::postgres::audit_rows(url).await?;
            audit_rows(data_dir, &rows, audit).await
        }
        None => {
            let rows = super::sqlite::audit_rows(data_dir).await?;
            audit_rows(data_dir, &rows, audit).await
        }
    }
}

/// The audit over `rows`, with the head and trust lists kept in `data_dir`.
async fn audit_rows(
    data_dir: &Path,
    rows: &dyn AuditRows,
    audit: StoreAudit,
) -> Result<StoreReport, StoreError> {
    let mut lists = kept::read_trust_lists(data_dir)?;
    lists.extend(audit.trust_lists);
    let mut report = StoreReport {
        verdict: LogVerdict::Intact {
            size: 0,
            root: merkle::empty_root(),
            heads_confirmed: Vec::new(),
        },
        kept_head: None,
        trust_lists: lists
            .iter()
            .map(|(name, list)| (name.clone(), list.version()))
            .collect(),
        signatures: 0,
    };
    let finish =
        |mut report: StoreReport, verdict: LogVerdict| -> Result<StoreReport, StoreError> {
            report.verdict = verdict;
            Ok(report)
        };
    // Read before the log's end is fixed below: a running gateway keeps a head only after
    // its entries are committed, so the head is never beyond that end.
    let kept_head = match kept::read_head(data_dir)? {
        Some(head) => match check_kept_head(&lists, &head) {
            Ok(root) => {
                report.signatures += 1;
                report.kept_head = Some(head.tree_size);
                Some(ExpectedHead {
                    size: head.tree_size,
                    root,
                })
            }
            Err(problem) => return finish(report, LogVerdict::NotKeptHead { problem }),
        },
        None => None,
    };
    let mut pending: Vec<ExpectedHead> = audit.heads;
    pending.sort_by_key(|h| h.size);
    let mut confirmed = Vec::new();
    let mut frontier = Frontier::new();
    // The gateway may be running: entries below `end` never change once committed, so
    // checking exactly those gives one consistent view. `end` counts leaves too, so that
    // envelopes removed from the end of the log still show.
    let end = rows.end().await?;
    let mut entries = rows.entries(end);
    let mut subtrees = rows.subtrees(end);
    let log_size = to_u64(end, "log size")?;
    loop {
        // The kept head and any head at the current size are checked before the next
        // entry is added.
        if let Some(head) = kept_head.filter(|h| h.size == frontier.size()) {
            if let Err(problem) = crate::core::audit::check_log_holds_head(
                head.size,
                &head.root,
                log_size,
                Some(frontier.root()),
            ) {
                return finish(report, LogVerdict::NotKeptHead { problem });
            }
        }
        while let Some(head) = pending
            .first()
            .copied()
            .filter(|h| h.size == frontier.size())
        {
            if head.root != frontier.root() {
                let verdict = LogVerdict::HeadMismatch {
                    size: head.size,
                    recomputed: Some(frontier.root()),
                };
                return finish(report, verdict);
            }
            confirmed.push(head.size);
            pending.remove(0);
        }
        let Some(row) = entries.try_next().await? else {
            break;
        };
        let index = frontier.size();
        let mismatch = |problem: String| LogVerdict::EntryMismatch {
            log_index: index,
            message_id: row.message_id.clone(),
            problem,
        };
        let (leaf, envelope) = match check_entry(index, &row) {
            Ok(checked) => checked,
            Err(problem) => return finish(report, mismatch(problem)),
        };
        for (level, idx, hash) in frontier.push(merkle::leaf_hash(&leaf)) {
            let what = if level == 0 {
                "leaf hash".to_owned()
            } else {
                format!("subtree hash (level {level}, index {idx})")
            };
            let Some((stored_level, stored_idx, stored_hash)) = subtrees.try_next().await? else {
                return finish(
                    report,
                    mismatch(format!("the Merkle log has no {what} for it")),
                );
            };
            let stored_at = (stored_level, stored_idx);
            if stored_at != (i64::from(level), idx) {
                let problem = format!(
                    "the Merkle log has no {what} for it (next stored: level {}, index {})",
                    stored_at.0, stored_at.1
                );
                return finish(report, mismatch(problem));
            }
            if stored_hash[..] != hash[..] {
                let problem = format!(
                    "stored {what} {} differs from the recomputed {}",
                    hex::encode(&stored_hash),
                    hex::encode(hash)
                );
                return finish(report, mismatch(problem));
            }
        }
        // Signatures are not in the digest, so no hash above covers them.
        match check_entry_signatures(&lists, &envelope) {
            Ok(verified) => report.signatures += verified,
            Err(problem) => return finish(report, mismatch(problem)),
        }
    }
    drop(entries);
    if let Some((level, idx, _)) = subtrees.try_next().await? {
        let verdict = LogVerdict::EntryMismatch {
            log_index: frontier.size(),
            message_id: String::new(),
            problem: format!(
                "the Merkle log has a subtree (level {level}, index {idx}) beyond the stored envelopes"
            ),
        };
        return finish(report, verdict);
    }
    drop(subtrees);
    // The receipts peers returned for what this gateway delivered to them, in log order.
    let mut receipts = rows.receipts(end);
    while let Some(StoredPeerReceipt {
        log_index,
        peer,
        message_id,
        receipt: bytes,
        envelope_digest: digest,
    }) = receipts.try_next().await?
    {
        if let Err(problem) = check_peer_receipt(&lists, &peer, &message_id, &digest, &bytes) {
            let verdict = LogVerdict::EntryMismatch {
                log_index,
                message_id,
                problem,
            };
            return finish(report, verdict);
        }
        report.signatures += 1;
    }
    if let Some(head) = kept_head.filter(|h| h.size > frontier.size()) {
        let problem = AuditProblem::Rollback {
            old_size: head.size,
            new_size: frontier.size(),
        };
        return finish(report, LogVerdict::NotKeptHead { problem });
    }
    if let Some(head) = pending.first() {
        let verdict = LogVerdict::HeadMismatch {
            size: head.size,
            recomputed: None,
        };
        return finish(report, verdict);
    }
    let verdict = LogVerdict::Intact {
        size: frontier.size(),
        root: frontier.root(),
        heads_confirmed: confirmed,
    };
    finish(report, verdict)
}

/// Checks a receipt a peer returned for an envelope this gateway delivered: it names that
/// envelope, and it is signed by the peer's key valid at its `received_at_ms`.
fn check_peer_receipt(
    lists: &[(String, TrustList)],
    peer: &str,
    message_id: &str,
    digest: &[u8],
    bytes: &[u8],
) -> Result<(), String> {
    let what = format!("the receipt {peer} returned for it");
    let receipt = Receipt::decode(bytes).map_err(|e| format!("{what} is not a Receipt: {e}"))?;
    if receipt.message_id != message_id
        || receipt.receiver != peer
        || receipt.envelope_digest[..] != digest[..]
    {
        return Err(format!(
            "{what} names another message, receiver or envelope digest"
        ));
    }
    check_signed(
        lists,
        &format!("{what}: its signature"),
        peer,
        receipt.signature.as_ref(),
        receipt.received_at_ms,
        &receipt_signing_input_of(&receipt),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::crypto::{Algorithm, SigningKey};
    use crate::core::envelope::{seal, Draft};
    use crate::core::trust::testing;
    use crate::core::trust::KeyEntry;
    use base64::Engine;
    use bytes::Bytes;
    use prost::Message;
    use time::macros::datetime;

    const NL: &str = "adm/NL";
    const BE: &str = "adm/BE";
    /// 2026-06-01, inside both keys' windows.
    const AT: i64 = 1_780_272_000_000;

    fn key(seed: u8) -> SigningKey {
        SigningKey::ed25519_from_seed(&[seed; 32]).expect("seed")
    }

    fn lists() -> Vec<(String, TrustList)> {
        let entry = |key_id: &str, key: &SigningKey| KeyEntry {
            key_id: key_id.into(),
            algorithm: Algorithm::Ed25519,
            public_key: base64::engine::general_purpose::STANDARD.encode(key.public_key()),
            not_before: datetime!(2026-01-01 00:00:00 UTC),
            not_after: datetime!(2027-01-01 00:00:00 UTC),
        };
        let list = testing::verified(&testing::document(
            vec![
                testing::administration(NL, vec![entry("adm/NL#1", &key(1))]),
                testing::administration(BE, vec![entry("adm/BE#1", &key(2))]),
            ],
            vec![],
        ));
        vec![("kept.json".into(), list)]
    }

    fn sealed(
        sender: &str,
        key_seed: u8,
        key_id: &str,
        message_type: MessageType,
        payload: Bytes,
    ) -> Envelope {
        seal(
            Draft {
                message_id: format!("{sender}-message"),
                sender: sender.into(),
                recipient: NL.into(),
                message_type: message_type as i32,
                created_at_ms: AT,
                correlation_id: String::new(),
                payload,
            },
            &key(key_seed),
            key_id,
        )
    }

    /// One bit of the signature inside `envelope` flipped.
    fn flipped(mut envelope: Envelope) -> Envelope {
        if let Some(signature) = envelope.signature.as_mut() {
            let mut value = signature.value.to_vec();
            value[7] ^= 1;
            signature.value = Bytes::from(value);
        }
        envelope
    }

    #[test]
    fn every_signature_an_entry_carries_is_checked_with_the_key_it_names() {
        let lists = lists();
        let original = sealed(
            BE,
            2,
            "adm/BE#1",
            MessageType::Declaration,
            Bytes::from_static(b"d"),
        );
        let forward = |original: &Envelope| {
            sealed(
                NL,
                1,
                "adm/NL#1",
                MessageType::ForwardedDeclaration,
                Bytes::from(original.encode_to_vec()),
            )
        };
        assert_eq!(check_entry_signatures(&lists, &original), Ok(1));
        assert_eq!(check_entry_signatures(&lists, &forward(&original)), Ok(2));

        let problem = check_entry_signatures(&lists, &flipped(original.clone())).unwrap_err();
        assert_eq!(
            problem,
            "the envelope's signature does not verify with adm/BE's key adm/BE#1 (trust list v1 in kept.json)"
        );
        let problem = check_entry_signatures(&lists, &forward(&flipped(original))).unwrap_err();
        assert!(
            problem.starts_with("the forwarded original's signature does not verify"),
            "{problem}"
        );

        // A key another participant holds speaks for no one else; a key no list has is no pass.
        let borrowed = sealed(NL, 2, "adm/BE#1", MessageType::Declaration, Bytes::new());
        let problem = check_entry_signatures(&lists, &borrowed).unwrap_err();
        assert!(
            problem.contains("none of the 1 trust list(s) at hand"),
            "{problem}"
        );
        let problem = check_entry_signatures(
            &[],
            &sealed(BE, 2, "adm/BE#1", MessageType::Declaration, Bytes::new()),
        )
        .unwrap_err();
        assert!(problem.contains("--trust-list"), "{problem}");
    }
}
