//! The outbox's bookkeeping: what the forwarder should deliver next, and what became of
//! each delivery (PROTOCOL.md §6).
//!
//! Messages enter the outbox in the writer's transaction (see `issue_to_peer`); from then
//! on only their delivery state changes, through a connection of its own so that a slow or
//! unreachable peer never holds up the writer. Per peer, only the oldest pending message is
//! ever due, which keeps each peer's order; a dead-lettered message no longer blocks the
//! ones behind it, and is reported by `aedgate outbox list` until an operator retries it.

use super::backend::{Lease, OutboxChange};
use super::{Store, StoreError};
use crate::core::retry::NextStep;
use crate::proto::v1::Receipt;
use bytes::Bytes;

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

    pub(super) fn parse(text: &str) -> Result<Self, StoreError> {
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
        self.reads.outbox_heads().await
    }

    /// Every outbox entry, oldest first, optionally only those in `state`.
    pub async fn outbox(&self, state: Option<OutboxState>) -> Result<Vec<OutboxEntry>, StoreError> {
        self.reads.outbox(state).await
    }

    async fn outbox_update(&self, change: OutboxChange) -> Result<u64, StoreError> {
        if self.writer.is_none() {
            return Err(StoreError::Closed);
        }
        let changed = self.reads.outbox_update(change).await?;
        // Announce the new state (operators' tools and tests follow it).
        self.outbox_signal.send_modify(|n| *n += 1);
        Ok(changed)
    }

    /// Records the peer's verified receipt for a pending message: delivered.
    pub async fn outbox_delivered(
        &self,
        id: u64,
        receipt: &Receipt,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.outbox_update(OutboxChange::Delivered {
            id,
            receipt: receipt.clone(),
            now_ms,
        })
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
        self.outbox_update(OutboxChange::Failed {
            id,
            error: error.chars().take(1000).collect(),
            next,
            now_ms,
        })
        .await
        .map(|_| ())
    }

    /// Takes the lease of pending entry `id` for this gateway until `until_ms`, so that of
    /// several replicas sharing the store one at a time delivers it (§13); renewing a lease
    /// this gateway holds is granted. A replica that dies holding a lease leaves it to run
    /// out, and then another takes it.
    pub async fn outbox_lease(
        &self,
        id: u64,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Lease, StoreError> {
        self.reads
            .outbox_lease(id, &self.replica, now_ms, until_ms)
            .await
    }

    /// An operator's retry: a dead-lettered (or waiting) message becomes due now, with a
    /// fresh horizon. Returns whether there was such a message; delivered ones are left
    /// alone.
    pub async fn outbox_retry(&self, id: u64, now_ms: i64) -> Result<bool, StoreError> {
        let changed = self
            .outbox_update(OutboxChange::Retry { id, now_ms })
            .await?;
        Ok(changed > 0)
    }
}
