//! The gRPC health service, kept true: a gateway that cannot store a Submit, or is
//! shutting down, must not tell a load balancer it is SERVING.
//!
//! tonic-health keeps the statuses; this module decides them. [`follow_store`] turns the
//! store's "can I commit?" into NOT_SERVING and back (a full disk, then space again), and
//! [`server`] ends every `Watch` stream when the gateway closes, with a last NOT_SERVING,
//! since a graceful shutdown waits for open streams and a watcher never hangs up.

use futures_util::stream::{self, StreamExt};
use std::pin::Pin;
use tokio::sync::watch;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_health::server::{HealthReporter, HealthService};
use tonic_health::ServingStatus;

/// Services that cannot do their work while the store refuses writes. Audit (reads only)
/// stays SERVING: a full disk does not stop an auditor proving what was stored.
const SERVICES_THAT_WRITE: [&str; 3] = ["", "aedgate.v1.Gateway", "aedgate.ops.v1.Outbox"];

/// The health service and the handle that sets its statuses. `closing` turns true when the
/// gateway shuts down.
pub fn server(closing: watch::Receiver<bool>) -> (HealthReporter, HealthServer<impl Health>) {
    let reporter = HealthReporter::new();
    let service = ClosingHealth {
        inner: HealthService::from_health_reporter(reporter.clone()),
        closing,
    };
    (reporter, HealthServer::new(service))
}

/// Keeps health in step with the store: NOT_SERVING while it refuses writes, SERVING again
/// once the writer has proved a commit can succeed, so that a load balancer or an
/// orchestrator routes partners elsewhere instead of to certain failure.
pub async fn follow_store(mut writable: watch::Receiver<bool>, health: HealthReporter) {
    loop {
        let status = if *writable.borrow_and_update() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        for service in SERVICES_THAT_WRITE {
            health.set_service_status(service, status).await;
        }
        if writable.changed().await.is_err() {
            // The writer stopped (shutdown): nothing more to follow.
            return;
        }
    }
}

/// tonic-health's service, with `Watch` streams that end when the gateway closes.
struct ClosingHealth {
    inner: HealthService,
    closing: watch::Receiver<bool>,
}

type HealthStream =
    Pin<Box<dyn futures_util::Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for ClosingHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        self.inner.check(request).await
    }

    type WatchStream = HealthStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let statuses = self.inner.watch(request).await?.into_inner();
        let mut closing = self.closing.clone();
        let closed = async move {
            // An error means the gateway is gone altogether: closed as well.
            let _ = closing.wait_for(|closing| *closing).await;
        };
        let last = HealthCheckResponse {
            status: tonic_health::pb::health_check_response::ServingStatus::NotServing as i32,
        };
        let stream = statuses
            .take_until(closed)
            .chain(stream::once(async move { Ok(last) }));
        Ok(Response::new(Box::pin(stream)))
    }
}
