//! `aedgate audit verify-store`: recomputes the whole Merkle log from the stored envelopes,
//! offline, and names the first entry that does not match.
//!
//! The gateway's own tables are evidence only if they agree with themselves: each stored
//! envelope must hash to its recorded digest and leaf, every stored subtree hash must be
//! what the leaves give, and the root at a size some partner holds a signed head for must be
//! that head's root. An operator (or an auditor with a copy of the data folder) runs this
//! after an incident or before handing data over; it opens the database read-only and
//! streams it, so memory stays O(log n) however long the log is.

use super::super::{to_u64, Direction, StoreError};
use super::DB_FILE;
use crate::core::envelope::{envelope_digest, sha256};
use crate::core::merkle::{self, Frontier, Hash};
use crate::proto::v1::Envelope;
use futures_util::TryStreamExt;
use prost::Message;
use sqlx::sqlite::SqlitePoolOptions;
use sqlx::Row;
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
}

/// One stored row of the `envelopes` table, as read for checking.
struct StoredEntry {
    log_index: i64,
    message_id: String,
    direction: i64,
    sender: String,
    recipient: String,
    msg_type: i64,
    correlation_id: String,
    created_at_ms: i64,
    received_at_ms: i64,
    envelope_digest: Vec<u8>,
    envelope: Vec<u8>,
}

/// Checks one stored entry against its own envelope bytes and returns its §9 leaf. Pure: the
/// caller does the reading.
fn check_entry(expected_index: u64, row: &StoredEntry) -> Result<Vec<u8>, String> {
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
    match row.direction {
        d if d == Direction::Accepted as i64 => {
            Ok(merkle::accepted_leaf(&digest, row.received_at_ms))
        }
        d if d == Direction::Issued as i64 => {
            Ok(merkle::issued_leaf(&digest, header.created_at_ms))
        }
        other => Err(format!("unknown direction {other}")),
    }
}

/// Recomputes the log stored in `data_dir` and compares it with what is stored and with
/// `heads` (in any order).
pub async fn verify_store(
    data_dir: &Path,
    heads: &[ExpectedHead],
) -> Result<LogVerdict, StoreError> {
    let path = data_dir.join(DB_FILE);
    if !path.exists() {
        return Err(StoreError::Open {
            path: data_dir.to_path_buf(),
            source: format!("no {DB_FILE} in this folder").into(),
        });
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(
            super::options(&path)
                .create_if_missing(false)
                .read_only(true),
        )
        .await
        .map_err(|e| StoreError::Open {
            path: data_dir.to_path_buf(),
            source: Box::new(e),
        })?;
    let mut pending: Vec<ExpectedHead> = heads.to_vec();
    pending.sort_by_key(|h| h.size);
    let mut confirmed = Vec::new();
    let mut frontier = Frontier::new();
    // The gateway may be running: entries below `end` never change once committed, so
    // checking exactly those gives one consistent view. `end` counts leaves too, so that
    // envelopes removed from the end of the log still show.
    let end: i64 = sqlx::query_scalar(
        "SELECT MAX((SELECT COALESCE(MAX(log_index) + 1, 0) FROM envelopes),
                    (SELECT COALESCE(MAX(idx) + 1, 0) FROM merkle WHERE level = 0))",
    )
    .fetch_one(&pool)
    .await?;
    let mut entries = sqlx::query(
        "SELECT log_index, message_id, direction, sender, recipient, msg_type, correlation_id,
                created_at_ms, received_at_ms, envelope_digest, envelope
         FROM envelopes WHERE log_index < ? ORDER BY log_index",
    )
    .bind(end)
    .fetch(&pool);
    // Stored subtrees in the order appends complete them: by the last leaf they cover,
    // then by level (the leaf itself first).
    let mut subtrees = sqlx::query(
        "SELECT level, idx, hash FROM merkle WHERE ((idx + 1) << level) - 1 < ?
         ORDER BY ((idx + 1) << level) - 1, level",
    )
    .bind(end)
    .fetch(&pool);
    loop {
        // A head at the current size is checked before the next entry is added.
        while let Some(head) = pending
            .first()
            .copied()
            .filter(|h| h.size == frontier.size())
        {
            if head.root != frontier.root() {
                return Ok(LogVerdict::HeadMismatch {
                    size: head.size,
                    recomputed: Some(frontier.root()),
                });
            }
            confirmed.push(head.size);
            pending.remove(0);
        }
        let Some(row) = entries.try_next().await? else {
            break;
        };
        let row = StoredEntry {
            log_index: row.try_get("log_index")?,
            message_id: row.try_get("message_id")?,
            direction: row.try_get("direction")?,
            sender: row.try_get("sender")?,
            recipient: row.try_get("recipient")?,
            msg_type: row.try_get("msg_type")?,
            correlation_id: row.try_get("correlation_id")?,
            created_at_ms: row.try_get("created_at_ms")?,
            received_at_ms: row.try_get("received_at_ms")?,
            envelope_digest: row.try_get("envelope_digest")?,
            envelope: row.try_get("envelope")?,
        };
        let index = frontier.size();
        let mismatch = |problem: String| LogVerdict::EntryMismatch {
            log_index: index,
            message_id: row.message_id.clone(),
            problem,
        };
        let leaf = match check_entry(index, &row) {
            Ok(leaf) => leaf,
            Err(problem) => return Ok(mismatch(problem)),
        };
        for (level, idx, hash) in frontier.push(merkle::leaf_hash(&leaf)) {
            let what = if level == 0 {
                "leaf hash".to_owned()
            } else {
                format!("subtree hash (level {level}, index {idx})")
            };
            let Some(stored) = subtrees.try_next().await? else {
                return Ok(mismatch(format!("the Merkle log has no {what} for it")));
            };
            let stored_at = (
                stored.try_get::<i64, _>("level")?,
                to_u64(stored.try_get("idx")?, "merkle index")?,
            );
            let stored_hash: Vec<u8> = stored.try_get("hash")?;
            if stored_at != (i64::from(level), idx) {
                return Ok(mismatch(format!(
                    "the Merkle log has no {what} for it (next stored: level {}, index {})",
                    stored_at.0, stored_at.1
                )));
            }
            if stored_hash[..] != hash[..] {
                return Ok(mismatch(format!(
                    "stored {what} {} differs from the recomputed {}",
                    hex::encode(&stored_hash),
                    hex::encode(hash)
                )));
            }
        }
    }
    if let Some(extra) = subtrees.try_next().await? {
        let level: i64 = extra.try_get("level")?;
        let idx = to_u64(extra.try_get("idx")?, "merkle index")?;
        return Ok(LogVerdict::EntryMismatch {
            log_index: frontier.size(),
            message_id: String::new(),
            problem: format!(
                "the Merkle log has a subtree (level {level}, index {idx}) beyond the stored envelopes"
            ),
        });
    }
    if let Some(head) = pending.first() {
        return Ok(LogVerdict::HeadMismatch {
            size: head.size,
            recomputed: None,
        });
    }
    Ok(LogVerdict::Intact {
        size: frontier.size(),
        root: frontier.root(),
        heads_confirmed: confirmed,
    })
}
