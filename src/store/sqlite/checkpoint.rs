//! Checkpoints of SQLite's write-ahead log, off the writer's path.
//!
//! In WAL mode every commit appends pages to `aedgate.db-wal`; a *checkpoint* copies them
//! into the database file and fsyncs it, so the log can start over. By default SQLite runs
//! one inside whichever commit takes the log past 1,000 pages: that commit, and every
//! Submit waiting for it, pays for copying megabytes and a second fsync. Under a flood this
//! happened about once a second, and the quiet partner's Submits that met one made its
//! p99 (issue 15, item 5; docs/performance.md).
//!
//! So the writer's connection checkpoints only as a safety net ([`WRITER_AUTOCHECKPOINT`]
//! pages, should this task ever stop), and a task with a connection of its own runs a
//! PASSIVE checkpoint every [`COMMITS_PER_CHECKPOINT`] commits. PASSIVE never waits for a
//! lock and never blocks the writer: it copies what no reader still needs, the writer goes
//! on appending meanwhile, and SQLite restarts the log at the next commit once everything
//! has been copied. Durability is unchanged: a commit is durable once its WAL frames are
//! fsynced, whoever checkpoints them later.

use sqlx::{Connection, SqliteConnection};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Commits between two background checkpoints: a small commit writes some ten pages, so
/// about the 1,000 pages at which SQLite would checkpoint by itself.
const COMMITS_PER_CHECKPOINT: u32 = 64;

/// Pages of write-ahead log at which the writer's own connection checkpoints after all:
/// ten times SQLite's default, reached only if the background task is not running.
pub(super) const WRITER_AUTOCHECKPOINT: &str = "10000";

/// The writer's side: counts commits and wakes the checkpointer when one is due. Cloned
/// into each group; the task ends when the last clone is dropped (the store closed).
#[derive(Clone)]
pub(super) struct CheckpointDue {
    commits: Arc<AtomicU32>,
    wake: mpsc::Sender<()>,
}

impl CheckpointDue {
    /// Starts the checkpointer for the database at `path` and returns its trigger.
    pub(super) fn start(path: PathBuf) -> Self {
        let (due, woken) = Self::new();
        tokio::spawn(checkpointer(path, woken));
        due
    }

    /// A trigger and what it wakes.
    fn new() -> (Self, mpsc::Receiver<()>) {
        let (wake, woken) = mpsc::channel(1);
        let due = Self {
            commits: Arc::new(AtomicU32::new(0)),
            wake,
        };
        (due, woken)
    }

    /// Called after each commit.
    pub(super) fn committed(&self) {
        if self.commits.fetch_add(1, Ordering::Relaxed) + 1 >= COMMITS_PER_CHECKPOINT {
            self.commits.store(0, Ordering::Relaxed);
            // Full: one is already due, and it will copy this commit's pages too.
            let _ = self.wake.try_send(());
        }
    }
}

/// Runs a PASSIVE checkpoint each time one is due, until the store closes.
async fn checkpointer(path: PathBuf, mut woken: mpsc::Receiver<()>) {
    let mut conn = match SqliteConnection::connect_with(&super::options(&path)).await {
        Ok(conn) => conn,
        Err(error) => {
            tracing::warn!(%error, "no connection for background checkpoints; the writer checkpoints itself");
            return;
        }
    };
    while woken.recv().await.is_some() {
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&mut conn)
            .await
        {
            // A full disk or an I/O error: the writer's next commit meets it too and
            // reports it; the next checkpoint tries again.
            tracing::warn!(%error, "background checkpoint failed");
        }
    }
    let _ = conn.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Executor;

    #[test]
    fn a_checkpoint_is_due_every_so_many_commits_and_is_never_queued_twice() {
        let (due, mut woken) = CheckpointDue::new();
        for _ in 1..COMMITS_PER_CHECKPOINT {
            due.committed();
        }
        assert!(woken.try_recv().is_err(), "not due yet");
        due.committed();
        assert!(woken.try_recv().is_ok(), "due");
        // Two periods while the checkpointer is busy: one wake-up, which copies both.
        for _ in 0..2 * COMMITS_PER_CHECKPOINT {
            due.committed();
        }
        assert!(woken.try_recv().is_ok());
        assert!(woken.try_recv().is_err());
    }

    /// The commits of the writer's connection do not checkpoint; the task does, and the
    /// pages reach the database file.
    #[tokio::test]
    async fn the_task_copies_the_log_into_the_database_and_the_writer_does_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("aedgate.db");
        let mut writer = SqliteConnection::connect_with(&super::super::writer_options(&path))
            .await
            .expect("open");
        let limit: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&mut writer)
            .await
            .expect("pragma");
        assert_eq!(limit.to_string(), WRITER_AUTOCHECKPOINT);
        writer
            .execute("CREATE TABLE t (v BLOB NOT NULL)")
            .await
            .expect("create");
        let (due, woken) = CheckpointDue::new();
        let task = tokio::spawn(checkpointer(path.clone(), woken));
        let empty = std::fs::metadata(&path).expect("db").len();
        for _ in 0..COMMITS_PER_CHECKPOINT {
            sqlx::query("INSERT INTO t (v) VALUES (zeroblob(8192))")
                .execute(&mut writer)
                .await
                .expect("insert");
            due.committed();
        }
        // Until the task has run, the rows are only in the write-ahead log.
        assert_eq!(std::fs::metadata(&path).expect("db").len(), empty);
        drop(due);
        task.await.expect("the task ends when the store closes");
        let copied = std::fs::metadata(&path).expect("db").len();
        assert!(
            copied >= empty + u64::from(COMMITS_PER_CHECKPOINT) * 8192,
            "the database file grew from {empty} to only {copied} bytes"
        );
    }
}
