//! Issue 16: the PostgreSQL server itself restarted under load. Calls during the outage fail
//! with UNAVAILABLE (never a receipt without a commit) and the replicas recover on their
//! own, with no operator and no restart of theirs.
//!
//! A test binary of its own: stopping the server fails every other test that uses it at
//! the same time, and cargo runs test binaries one after another. It stops and starts the
//! server with `$AEDGATE_TEST_POSTGRES_CONTROL stop|start`, by default Debian's
//! `pg_ctlcluster VERSION main` (what `.ci/postgres` installs), and fails naming that
//! variable where it cannot.

mod common;

use common::outage::{fails_calls_then_recovers, Outage};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_restart_under_load_fails_calls_with_unavailable_and_the_replicas_recover() {
    fails_calls_then_recovers(Outage::ServerRestart).await;
}
