//! How a replica learns of the others' commits: PostgreSQL's LISTEN/NOTIFY, not polling.
//!
//! Every group commit on the shared database sends a notification on [`COMMIT_CHANNEL`]
//! with the log's new size and root, delivered when the transaction commits. Each replica
//! listens on a connection of its own and publishes a head beyond what it has published:
//! a `Fetch` with `follow` wakes, the Audit service signs the larger head, and the
//! forwarder looks at the outbox again. A lost connection may have missed notifications, so
//! after every (re)connection the head is read from the database once. Changes of an outbox entry's delivery state are
//! announced on [`OUTBOX_CHANNEL`], so that a replica's forwarder and operators' tools
//! learn of another replica's deliveries.

use super::super::writer::{publish_head, publish_size};
use super::super::{LogHead, Shared, StoreError};
use super::{PgReads, COMMIT_CHANNEL, OUTBOX_CHANNEL};
use sqlx::postgres::{PgListener, PgPool};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a replica waits before listening again after its listening connection broke.
const RELISTEN_DELAY: Duration = Duration::from_millis(500);

/// Follows other replicas' commits until the store is dropped (no one subscribes to its
/// log size any more).
pub(in crate::store) fn follow_commits(
    pool: PgPool,
    reads: Arc<PgReads>,
    published: Shared,
    outbox: Arc<watch::Sender<u64>>,
) {
    tokio::spawn(async move {
        let size = published.size.clone();
        tokio::select! {
            () = listen(pool, &reads, &published, &outbox) => {}
            () = size.closed() => {}
        }
    });
}

async fn listen(pool: PgPool, reads: &PgReads, published: &Shared, outbox: &watch::Sender<u64>) {
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen_all([COMMIT_CHANNEL, OUTBOX_CHANNEL]).await {
                Ok(()) => {
                    // What was committed while no one listened.
                    catch_up(reads, published, outbox).await;
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(notification)) if notification.channel() == OUTBOX_CHANNEL => {
                                outbox.send_modify(|n| *n += 1);
                            }
                            Ok(Some(notification)) => match announced(notification.payload()) {
                                Some(head) if head.size > *published.size.borrow() => {
                                    publish(published, outbox, head);
                                }
                                Some(_) => {}
                                None => catch_up(reads, published, outbox).await,
                            },
                            // The connection was lost; `try_recv` reconnects at the next
                            // call, and what was missed is read now.
                            Ok(None) => catch_up(reads, published, outbox).await,
                            Err(error) => {
                                tracing::warn!(%error, "lost the shared store's commit notifications");
                                break;
                            }
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for the shared store's commits")
                }
            },
            Err(error) => tracing::warn!(%error, "cannot listen for the shared store's commits"),
        }
        tokio::time::sleep(RELISTEN_DELAY).await;
    }
}

/// The head a commit announced: `SIZE ROOT_HEX`; `None` for anything else.
fn announced(payload: &str) -> Option<LogHead> {
    let (size, root) = payload.split_once(' ')?;
    let root = hex::decode(root).ok()?;
    Some(LogHead {
        size: size.parse().ok()?,
        root: root.as_slice().try_into().ok()?,
    })
}

/// Publishes a head beyond what this replica published.
fn publish(published: &Shared, outbox: &watch::Sender<u64>, head: LogHead) {
    publish_head(&published.head, head);
    publish_size(&published.size, head.size);
    // Another replica's commit may have queued messages for peers.
    outbox.send_modify(|n| *n += 1);
}

/// Reads the committed head and publishes it if it is beyond what this replica published.
async fn catch_up(reads: &PgReads, published: &Shared, outbox: &watch::Sender<u64>) {
    match reads.head().await {
        Ok((size, root)) if size > *published.size.borrow() => {
            publish(published, outbox, LogHead { size, root });
        }
        Ok(_) => {}
        Err(error) => {
            let error: StoreError = error;
            tracing::warn!(%error, "cannot read the shared store's head");
        }
    }
}
