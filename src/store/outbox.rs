//! The outbox's bookkeeping: what the forwarder should deliver next, and what became of
//! each delivery (PROTOCOL.md §6).
//!
//! Messages enter the outbox in the writer's transaction (see `issue_to_peer`); from then
//! on only their delivery state changes, through a connection of its own so that a slow or
//! unreachable peer never holds up the writer. Per peer, only the oldest pending message is
//! ever due, which keeps each peer's order; a dead-lettered message no longer blocks the
//! ones behind it, and is reported by `aedgate outbox list` until an operator retries it.

use super::{to_u64, Store, StoreError};
use crate::core::retry::NextStep;
use crate::proto::v1::Receipt;
use bytes::Bytes;
use prost::Message;
use sqlx::{Connection, Row, SqliteConnection};

/// Where a message for a peer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutboxState {
    /// Not yet delivered; tried again at `next_attempt_ms`.
    Pending,
    /// The peer's verified receipt is stored.
    Delivered,
    /// Not delivered within the horizon, or refused by the peer for good; waits for an
    /// operator.
    DeadLettered,
}

impl OutboxState {
    /// The stored (and printed) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::DeadLettered => "dead",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "pending" => Ok(Self::Pending),
            "delivered" => Ok(Self::Delivered),
            "dead" => Ok(Self::DeadLettered),
            other => Err(StoreError::Corrupt(format!("outbox state {other:?}"))),
        }
    }
}

/// One message for a peer and its delivery state.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxEntry {
    /// Queue position (order of queueing, across peers).
    pub id: u64,
    /// The peer administration.
    pub peer: String,
    /// The message's entry in this gateway's log (it is an issued envelope).
    pub log_index: u64,
    /// Its message id.
    pub message_id: String,
    /// Its `MessageType` value.
    pub message_type: i32,
    /// When it was queued.
    pub queued_at_ms: i64,
    /// Where it stands.
    pub state: OutboxState,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it is due (pending only).
    pub next_attempt_ms: i64,
    /// Why the last attempt failed ("" if none did).
    pub last_error: String,
    /// The peer's signed receipt, once delivered: the proof of delivery.
    pub receipt: Option<Receipt>,
    /// When it was delivered or dead-lettered.
    pub done_at_ms: Option<i64>,
}

/// A message the forwarder should send now or later: the head of one peer's queue.
#[derive(Clone, Debug)]
pub struct PendingDelivery {
    /// Its outbox entry.
    pub entry: OutboxEntry,
    /// The stored envelope bytes, sent as they are.
    pub envelope: Bytes,
    /// SHA-256 of its signing input, which the peer's receipt must name.
    pub envelope_digest: Vec<u8>,
}

const COLUMNS: &str =
    "o.id, o.peer, o.log_index, o.message_id, o.msg_type, o.queued_at_ms, o.state,
     o.attempts, o.next_attempt_ms, o.last_error, o.receipt, o.done_at_ms";

fn entry(row: &sqlx::sqlite::SqliteRow) -> Result<OutboxEntry, StoreError> {
    let receipt: Option<Vec<u8>> = row.try_get("receipt")?;
    let receipt = receipt
        .map(|bytes| Receipt::decode(bytes.as_slice()))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("stored receipt: {e}")))?;
    let message_type: i64 = row.try_get("msg_type")?;
    let attempts: i64 = row.try_get("attempts")?;
    let state: String = row.try_get("state")?;
    Ok(OutboxEntry {
        id: to_u64(row.try_get("id")?, "outbox id")?,
        peer: row.try_get("peer")?,
        log_index: to_u64(row.try_get("log_index")?, "log_index")?,
        message_id: row.try_get("message_id")?,
        message_type: i32::try_from(message_type).unwrap_or_default(),
        queued_at_ms: row.try_get("queued_at_ms")?,
        state: OutboxState::parse(&state)?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_ms: row.try_get("next_attempt_ms")?,
        last_error: row.try_get("last_error")?,
        receipt,
        done_at_ms: row.try_get("done_at_ms")?,
    })
}

impl Store {
    /// Follows outbox activity: changes when messages for peers are committed or an
    /// operator asks for a retry.
    pub fn outbox_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.outbox_signal.subscribe()
    }

    /// Wakes the forwarder (an endpoint changed, an operator intervened).
    pub fn nudge_outbox(&self) {
        self.outbox_signal.send_modify(|n| *n += 1);
    }

    /// The oldest pending message of every peer, whether due or not (the forwarder sleeps
    /// until the earliest `next_attempt_ms`).
    pub async fn outbox_heads(&self) -> Result<Vec<PendingDelivery>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS}, e.envelope, e.envelope_digest FROM outbox o
             JOIN envelopes e ON e.log_index = o.log_index
             WHERE o.id IN (SELECT MIN(id) FROM outbox WHERE state = 'pending' GROUP BY peer)
             ORDER BY o.id"
        ))
        .fetch_all(&self.readers)
        .await?;
        rows.iter()
            .map(|row| {
                let bytes: Vec<u8> = row.try_get("envelope")?;
                Ok(PendingDelivery {
                    entry: entry(row)?,
                    envelope: Bytes::from(bytes),
                    envelope_digest: row.try_get("envelope_digest")?,
                })
            })
            .collect()
    }

    /// Every outbox entry, oldest first, optionally only those in `state`.
    pub async fn outbox(&self, state: Option<OutboxState>) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = match state {
            Some(state) => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM outbox o WHERE o.state = ? ORDER BY o.id"
                ))
                .bind(state.as_str())
                .fetch_all(&self.readers)
                .await?
            }
            None => {
                sqlx::query(&format!("SELECT {COLUMNS} FROM outbox o ORDER BY o.id"))
                    .fetch_all(&self.readers)
                    .await?
            }
        };
        rows.iter().map(entry).collect()
    }

    async fn outbox_update(&self, sql: &str, values: Vec<Bind>) -> Result<u64, StoreError> {
        let mut guard = self.outbox_conn.lock().await;
        if guard.is_none() {
            if self.writer.is_none() {
                return Err(StoreError::Closed);
            }
            *guard = Some(SqliteConnection::connect_with(&super::options(&self.path)).await?);
        }
        let Some(conn) = guard.as_mut() else {
            return Err(StoreError::Closed);
        };
        let mut query = sqlx::query(sql);
        for value in values {
            query = match value {
                Bind::Text(text) => query.bind(text),
                Bind::Int(n) => query.bind(n),
                Bind::Blob(bytes) => query.bind(bytes),
            };
        }
        let result = query.execute(&mut *conn).await;
        match result {
            Ok(done) => {
                // Announce the new state (operators' tools and tests follow it).
                self.outbox_signal.send_modify(|n| *n += 1);
                Ok(done.rows_affected())
            }
            Err(error) => {
                // A broken connection is reopened next time.
                *guard = None;
                Err(error.into())
            }
        }
    }

    /// Records the peer's verified receipt for a pending message: delivered.
    pub async fn outbox_delivered(
        &self,
        id: u64,
        receipt: &Receipt,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.outbox_update(
            "UPDATE outbox SET state = 'delivered', receipt = ?, done_at_ms = ?, last_error = ''
             WHERE id = ? AND state = 'pending'",
            vec![
                Bind::Blob(receipt.encode_to_vec()),
                Bind::Int(now_ms),
                Bind::Int(i64::try_from(id).unwrap_or(i64::MAX)),
            ],
        )
        .await
        .map(|_| ())
    }

    /// Records a failed attempt and what follows: a retry at a time, or the dead letter.
    pub async fn outbox_failed(
        &self,
        id: u64,
        error: &str,
        next: NextStep,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let id = Bind::Int(i64::try_from(id).unwrap_or(i64::MAX));
        let error = Bind::Text(error.chars().take(1000).collect());
        let (sql, values) = match next {
            NextStep::RetryAt(at) => (
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_ms = ?
                 WHERE id = ? AND state = 'pending'",
                vec![error, Bind::Int(at), id],
            ),
            NextStep::DeadLetter => (
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?, state = 'dead', done_at_ms = ?
                 WHERE id = ? AND state = 'pending'",
                vec![error, Bind::Int(now_ms), id],
            ),
        };
        self.outbox_update(sql, values).await.map(|_| ())
    }

    /// An operator's retry: a dead-lettered (or waiting) message becomes due now, with a
    /// fresh horizon. Returns whether there was such a message; delivered ones are left
    /// alone.
    pub async fn outbox_retry(&self, id: u64, now_ms: i64) -> Result<bool, StoreError> {
        let changed = self
            .outbox_update(
                "UPDATE outbox SET state = 'pending', next_attempt_ms = ?, queued_at_ms = ?, done_at_ms = NULL
                 WHERE id = ? AND state IN ('pending', 'dead')",
                vec![
                    Bind::Int(now_ms),
                    Bind::Int(now_ms),
                    Bind::Int(i64::try_from(id).unwrap_or(i64::MAX)),
                ],
            )
            .await?;
        Ok(changed > 0)
    }
}

enum Bind {
    Text(String),
    Int(i64),
    Blob(Vec<u8>),
}
