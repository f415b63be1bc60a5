//! `aedgate bench --store postgres://...`: what the PostgreSQL store costs against the
//! embedded one, and what a second replica adds (issue 16; docs/performance.md).
//!
//! Three SubmitStream runs of the same workload, in one process and one run, so that their
//! ratios hold on a noisy machine: the gateway on SQLite; one replica on a fresh
//! PostgreSQL database; two replicas on another fresh database, the connections split
//! between them. The databases are created on the server `--store` names (its role needs
//! CREATEDB) and dropped afterwards, so the bench never writes into a database in use.

use super::workload::Workload;
use super::{client_config, federation, load, publish_indicators, start_gateway_on};
use super::{BenchError, BenchOptions, Mode, Progress, RunFigures};
use crate::client::Participant;
use crate::server::RunningGateway;
use std::sync::Arc;

/// What a `--store` run measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StoresReport {
    /// The gateway on its embedded SQLite store.
    pub sqlite: RunFigures,
    /// One replica on PostgreSQL.
    pub postgres: RunFigures,
    /// Two replicas on one PostgreSQL database, the connections split between them.
    pub two_replicas: RunFigures,
    /// postgres / sqlite throughput (target: at least 0.7).
    pub postgres_vs_sqlite: f64,
    /// two replicas / one replica throughput.
    pub two_vs_one: f64,
}

/// A database the bench made, dropped when the bench is done with it.
struct BenchDatabase {
    url: String,
    server: String,
    name: String,
}

impl BenchDatabase {
    async fn create(server: &str) -> Result<Self, BenchError> {
        let (url, name) = crate::store::create_scratch_database(server, "aedgate_bench")
            .await
            .map_err(|e| BenchError::Setup(e.to_string()))?;
        Ok(Self {
            url,
            server: server.to_owned(),
            name,
        })
    }

    async fn drop_now(self) {
        if let Err(error) = crate::store::drop_scratch_database(&self.server, &self.name).await {
            tracing::warn!(%error, database = %self.name, "cannot drop the bench's database");
        }
    }
}

/// The three runs.
pub async fn run(
    options: &BenchOptions,
    server: &str,
    progress: &Progress,
) -> Result<StoresReport, BenchError> {
    let dir = federation()?;
    let workload = Arc::new(Workload::new(options.seed));
    let mut run = 0;
    let mut measure = |gateways: Vec<RunningGateway>| {
        run += 1;
        let (dir, workload, progress) =
            (dir.path().to_path_buf(), workload.clone(), progress.clone());
        let this_run = run;
        async move {
            let first = gateways[0].local_addr();
            publish_indicators(&dir, first, &workload, options, &progress).await?;
            let mut clients = Vec::new();
            for c in 0..options.connections.max(1) {
                let gateway = &gateways[c % gateways.len()];
                let config = client_config(&dir, "ptr/NL/shopco", gateway.local_addr())?;
                clients.push(Participant::connect(config).await?);
            }
            let figures = load(
                &clients,
                Mode::Stream,
                options,
                &workload,
                this_run,
                &progress,
                None,
            )
            .await;
            drop(clients);
            for gateway in gateways {
                gateway
                    .shutdown()
                    .await
                    .map_err(|e| BenchError::Setup(e.to_string()))?;
            }
            figures
        }
    };

    let sqlite = measure(vec![start_gateway_on(dir.path(), true, None).await?]).await?;

    let one = BenchDatabase::create(server).await?;
    let postgres = match start_gateway_on(dir.path(), true, Some((&one.url, "pg-1"))).await {
        Ok(gateway) => measure(vec![gateway]).await,
        Err(error) => Err(error),
    };
    one.drop_now().await;
    let postgres = postgres?;

    let shared = BenchDatabase::create(server).await?;
    let mut replicas = Vec::new();
    for folder in ["pg-a", "pg-b"] {
        match start_gateway_on(dir.path(), true, Some((&shared.url, folder))).await {
            Ok(gateway) => replicas.push(gateway),
            Err(error) => {
                shared.drop_now().await;
                return Err(error);
            }
        }
    }
    let two_replicas = measure(replicas).await;
    shared.drop_now().await;
    let two_replicas = two_replicas?;

    Ok(StoresReport {
        postgres_vs_sqlite: postgres.per_second / sqlite.per_second.max(1e-9),
        two_vs_one: two_replicas.per_second / postgres.per_second.max(1e-9),
        sqlite,
        postgres,
        two_replicas,
    })
}

/// The report's lines.
pub fn describe(report: &StoresReport) -> String {
    let line = |name: &str, f: &RunFigures| {
        format!(
            "{name:<28} {:>8.0} declarations/s   p50 {:>6.1} ms   p99 {:>6.1} ms\n",
            f.per_second, f.p50_ms, f.p99_ms
        )
    };
    format!(
        "aedgate bench --store: SubmitStream, the same workload on each store, in one run\n\
         {}{}{}\
         PostgreSQL / SQLite: {:.2} (target: at least 0.7)\n\
         two replicas / one:  {:.2}\n",
        line("SQLite (embedded)", &report.sqlite),
        line("PostgreSQL, one replica", &report.postgres),
        line("PostgreSQL, two replicas", &report.two_replicas),
        report.postgres_vs_sqlite,
        report.two_vs_one,
    )
}
