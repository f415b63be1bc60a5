//! The shared database going away under a load and coming back (PROTOCOL.md §13, issue
//! 16): the same checks whether the database only refuses its clients
//! (`tests/replica_faults.rs`) or the PostgreSQL server itself stops and starts again
//! (`tests/postgres_restart.rs`, a test binary of its own, because stopping the server would
//! fail every other test that uses it at the same time; cargo runs test binaries one after
//! another).

use super::*;
use sqlx::Connection;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Longer than any start, outage or recovery takes.
const PATIENCE: Duration = Duration::from_secs(120);

/// Variable naming the command that controls the PostgreSQL server in
/// [`Outage::ServerRestart`]; `stop` and `start` are appended to it.
pub const SERVER_CONTROL_VARIABLE: &str = "AEDGATE_TEST_POSTGRES_CONTROL";

/// How the database goes away.
pub enum Outage {
    /// The database refuses new connections and every open one is cut.
    RefusedAndCut,
    /// The PostgreSQL server is stopped (fast shutdown: open transactions are rolled back)
    /// and started again.
    ServerRestart,
}

/// An outage in progress; [`Away::end`] ends it, and dropping it unended ends it too, so
/// that a failing test does not leave the server down for the tests after it.
pub struct Away {
    outage: Outage,
    admin: Option<sqlx::PgConnection>,
    database: String,
    ended: bool,
}

impl Outage {
    async fn begin(self, db: &TestDatabase) -> Away {
        let database = db.url.rsplit('/').next().expect("database name").to_owned();
        match self {
            Outage::RefusedAndCut => {
                let mut admin = sqlx::PgConnection::connect(&postgres_server())
                    .await
                    .expect("admin");
                sqlx::query(&format!(
                    "ALTER DATABASE {database} ALLOW_CONNECTIONS false"
                ))
                .execute(&mut admin)
                .await
                .expect("refuse connections");
                sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                )
                .bind(&database)
                .execute(&mut admin)
                .await
                .expect("cut connections");
                Away {
                    outage: self,
                    admin: Some(admin),
                    database,
                    ended: false,
                }
            }
            Outage::ServerRestart => {
                control_server("stop");
                Away {
                    outage: self,
                    admin: None,
                    database,
                    ended: false,
                }
            }
        }
    }
}

impl Away {
    async fn end(mut self) {
        self.ended = true;
        match (&self.outage, self.admin.as_mut()) {
            (Outage::RefusedAndCut, Some(admin)) => {
                sqlx::query(&format!(
                    "ALTER DATABASE {} ALLOW_CONNECTIONS true",
                    self.database
                ))
                .execute(admin)
                .await
                .expect("allow connections");
            }
            _ => control_server("start"),
        }
    }
}

impl Drop for Away {
    fn drop(&mut self) {
        if !self.ended && matches!(self.outage, Outage::ServerRestart) {
            control_server("start");
        }
    }
}

/// Runs `$AEDGATE_TEST_POSTGRES_CONTROL action`, by default Debian's
/// `pg_ctlcluster VERSION main action` for the newest cluster in /etc/postgresql (the
/// one `.ci/postgres` starts). Fails, naming the variable, where neither is available:
/// a restart test that cannot restart must not pass.
fn control_server(action: &str) {
    let command = match std::env::var(SERVER_CONTROL_VARIABLE) {
        Ok(command) => command,
        Err(_) => {
            let version = std::fs::read_dir("/etc/postgresql")
                .ok()
                .into_iter()
                .flatten()
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .filter_map(|name| name.parse::<u32>().ok())
                .max()
                .unwrap_or_else(|| {
                    panic!(
                        "no PostgreSQL cluster in /etc/postgresql to restart: set \
                         {SERVER_CONTROL_VARIABLE} to a command that takes stop and start"
                    )
                });
            format!("pg_ctlcluster {version} main")
        }
    };
    let mut words = command.split_whitespace();
    let program = words.next().expect("a command");
    let status = std::process::Command::new(program)
        .args(words)
        .arg(action)
        .status()
        .unwrap_or_else(|e| {
            panic!("{command} {action}: {e} (set {SERVER_CONTROL_VARIABLE} to a command that takes stop and start)")
        });
    assert!(status.success(), "{command} {action}: {status}");
}

/// Two replicas of adm/NL on one database under a load through each; the database goes
/// away as `outage` says and comes back. Calls during the outage must fail with
/// UNAVAILABLE/STORE_UNAVAILABLE (never a receipt without a commit), the replicas must
/// accept again on their own, and every receipt the load got must name an envelope the
/// store holds at that index.
pub async fn fails_calls_then_recovers(outage: Outage) {
    let db = TestDatabase::create().await;
    let fed = Federation::replicated(&db.url);
    let replicas = fed.start_replicas(2).await;
    let mut clients = Vec::new();
    for replica in &replicas {
        let mut client = fed.connect(SHOPCO, replica).await;
        client
            .submit(client.seal_declaration(&declaration(&lrn("BEFORE"))))
            .await
            .expect("accepted before the outage");
        clients.push(client);
    }

    // A load through each replica that runs through the outage and the recovery.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut loads = Vec::new();
    for (i, replica) in replicas.iter().enumerate() {
        let mut client = fed.connect(SHOPCO, replica).await;
        let stop = stop.clone();
        loads.push(tokio::spawn(async move {
            let (mut receipts, mut unavailable) = (Vec::new(), 0_u64);
            let mut b = 0;
            while !stop.load(Ordering::SeqCst) {
                b += 1;
                let batch = (0..20)
                    .map(|n| client.seal_declaration(&declaration(&lrn(&format!("L{i}B{b}N{n}")))))
                    .collect();
                match client.submit_stream(batch).await {
                    Ok(results) => {
                        for result in results {
                            match result {
                                Ok(receipt) => receipts.push(receipt),
                                Err(aedgate::client::ClientError::Refused(status)) => {
                                    assert_eq!(
                                        status.code(),
                                        tonic::Code::Unavailable,
                                        "{status:?}"
                                    );
                                    unavailable += 1;
                                }
                                Err(other) => panic!("unexpected: {other}"),
                            }
                        }
                    }
                    Err(aedgate::client::ClientError::Refused(status)) => {
                        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
                        unavailable += 1;
                    }
                    Err(other) => panic!("unexpected: {other}"),
                }
            }
            (receipts, unavailable)
        }));
    }

    let away = outage.begin(&db).await;

    // Calls during the outage fail with UNAVAILABLE: never a receipt without a commit.
    let mut not_stored = Vec::new();
    for client in clients.iter_mut() {
        for n in 0..3 {
            let envelope = client.seal_declaration(&declaration(&lrn(&format!("DURING{n}"))));
            let status = refused(client.submit(envelope.clone()).await);
            assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
            assert_eq!(reason(&status), "STORE_UNAVAILABLE");
            not_stored.push(envelope);
        }
    }
    for replica in &replicas {
        assert!(!*replica.state().store.writable().borrow());
    }

    // The database is back: each replica notices on its own and accepts again, and what
    // was refused during the outage is accepted when sent again (it was never stored).
    away.end().await;
    for replica in &replicas {
        let mut writable = replica.state().store.writable();
        tokio::time::timeout(PATIENCE, writable.wait_for(|w| *w))
            .await
            .expect("the replica recovered within two minutes")
            .expect("store open");
    }
    for (i, envelope) in not_stored.into_iter().enumerate() {
        let receipt = clients[i / 3]
            .submit(envelope)
            .await
            .expect("accepted after the outage");
        assert_eq!(
            receipt.disposition,
            aedgate::proto::v1::Disposition::Accepted as i32
        );
    }

    // The load went on through it all: refused with UNAVAILABLE during the outage, and
    // every receipt it was given names an envelope the shared store holds at that index.
    stop.store(true, Ordering::SeqCst);
    let (mut receipts, mut unavailable) = (Vec::new(), 0);
    for load in loads {
        let (r, u) = tokio::time::timeout(PATIENCE, load)
            .await
            .expect("the load stopped")
            .expect("load task");
        receipts.extend(r);
        unavailable += u;
    }
    assert!(unavailable > 0, "the load ran during the outage");
    assert!(!receipts.is_empty(), "the load ran outside it");
    let store = &replicas[0].state().store;
    for receipt in &receipts {
        let stored = store
            .envelope(&receipt.message_id)
            .await
            .expect("read")
            .unwrap_or_else(|| panic!("{} was acknowledged but not stored", receipt.message_id));
        assert_eq!(stored.log_index, receipt.log_index);
    }
}
