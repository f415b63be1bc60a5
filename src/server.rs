//! Assembles a running gateway from a loaded configuration: store, trust list, TLS acceptor,
//! the gRPC services (Gateway, Audit, health, reflection), reloads and shutdown.
//!
//! Tests start gateways through [`start`] on port 0 exactly as `aedgate serve` does, so
//! what is tested is what runs.

use crate::config::{ConfigError, GatewayConfig, IdentitySource, TrustSource};
use crate::core::trust::TrustList;
use crate::proto::gateway_raw::gateway_server::{Gateway, GatewayServer};
use crate::proto::v1::audit_server::{Audit, AuditServer};
use crate::service::{AuditService, GatewayService, GatewayState, OutboxService};
use crate::store::{DataDirLock, Issuer, Store, StoreError};
use crate::telemetry::Telemetry;
use crate::tls::{TlsError, TlsSettings};
use rustls::ServerConfig;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::{oneshot, watch, Mutex};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;

/// Meta key under which the highest trust-list version ever in force is kept, so that a
/// restart with an older list on disk is a refused rollback too.
const TRUST_VERSION_KEY: &str = "trust_list_version";
/// HTTP/2 streams one connection may have open at once.
const MAX_STREAMS_PER_CONNECTION: u32 = 256;
/// Room for the envelope around its payload when sizing the gRPC message limit.
const ENVELOPE_OVERHEAD: usize = 64 * 1024;

/// Why a gateway could not start, reload or run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Configuration or the files it names.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// TLS.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address as configured.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The list on disk is older than one this gateway already used.
    #[error("trust list version {found} is lower than version {held} already used by this gateway (rollback refused)")]
    TrustRollback {
        /// Highest version used.
        held: u64,
        /// Version on disk.
        found: u64,
    },
    /// A different list under a version already in force.
    #[error("trust list version {0} differs from the list already in force under the same version; raise the version")]
    TrustVersionReused(u64),
    /// The reflection service could not read the compiled descriptors.
    #[error("reflection: {0}")]
    Reflection(String),
    /// The HTTP/2 server failed.
    #[error("server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// What answers the Gateway and Audit services of a started gateway.
///
/// `aedgate serve` always serves [`StandardServices`]. The conformance kit's tests supply
/// factories that wrap the standard services and break one rule each, to show that every
/// check of the kit can fail. A type parameter rather than a setting keeps that out of reach
/// of any configuration file: no shipped binary can be told to skip a rule.
pub trait ServiceFactory {
    /// The Gateway service served.
    type Gateway: Gateway;
    /// The Audit service served.
    type Audit: Audit;
    /// Builds the Gateway service from the standard one.
    fn gateway(&self, standard: GatewayService) -> Self::Gateway;
    /// Builds the Audit service from the standard one.
    fn audit(&self, standard: AuditService) -> Self::Audit;
    /// Whether server reflection is served (§6 requires it).
    fn serves_reflection(&self) -> bool {
        true
    }
}

/// The services as the contract defines them: what `aedgate serve` runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct StandardServices;

impl ServiceFactory for StandardServices {
    type Gateway = GatewayService;
    type Audit = AuditService;
    fn gateway(&self, standard: GatewayService) -> GatewayService {
        standard
    }
    fn audit(&self, standard: AuditService) -> AuditService {
        standard
    }
}

/// Handles to a running gateway.
#[derive(Debug)]
pub struct RunningGateway {
    local_addr: SocketAddr,
    health: tonic_health::server::HealthReporter,
    state: Arc<GatewayState>,
    reload: Mutex<Reloader>,
    shutdown: Option<oneshot::Sender<()>>,
    closing: watch::Sender<bool>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
    forwarder: JoinHandle<()>,
    peer_endpoints: Arc<std::sync::RwLock<std::collections::BTreeMap<String, String>>>,
    /// The data folder is this gateway's until it is shut down.
    _data_dir: DataDirLock,
}

#[derive(Debug)]
struct Reloader {
    federation: String,
    settings: TlsSettings,
    trust_source: TrustSource,
    identity_source: IdentitySource,
    trust: watch::Sender<Arc<TrustList>>,
    tls: watch::Sender<Arc<ServerConfig>>,
    /// The identity the forwarder presents to peers.
    identity: watch::Sender<Arc<crate::tls::Identity>>,
    /// The revenue policy file (§11), re-read with the trust list.
    revenue_source: Option<std::path::PathBuf>,
    store: Store,
}

/// Every minute, drops the rate state of participants whose allowance is full again, so
/// that it holds only who is sending now; ends when the gateway closes.
async fn forget_idle_participants(
    limits: Arc<crate::limits::ParticipantLimits>,
    mut closing: watch::Receiver<bool>,
) {
    let mut every_minute = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = every_minute.tick() => limits.forget_idle(),
            _ = closing.wait_for(|closing| *closing) => return,
        }
    }
}

async fn check_and_record_version(store: &Store, trust: &TrustList) -> Result<(), ServerError> {
    let held = store
        .meta(TRUST_VERSION_KEY)
        .await?
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(held) = held {
        if trust.version() < held {
            return Err(ServerError::TrustRollback {
                held,
                found: trust.version(),
            });
        }
    }
    if held != Some(trust.version()) {
        store
            .set_meta(TRUST_VERSION_KEY, &trust.version().to_string())
            .await?;
    }
    // Kept before it is in force, so that whatever is signed under it can be checked offline.
    store.keep_trust_list(trust).await?;
    Ok(())
}

/// Starts a gateway: opens the store, binds the listener, and serves until shut down.
pub async fn start(config: GatewayConfig) -> Result<RunningGateway, ServerError> {
    start_with(config, StandardServices).await
}

/// [`start`], serving the Gateway and Audit services that `services` builds.
pub async fn start_with<F: ServiceFactory>(
    config: GatewayConfig,
    services: F,
) -> Result<RunningGateway, ServerError> {
    let data_dir_lock = DataDirLock::acquire(&config.data_dir)?;
    let signer = Arc::new(config.signer);
    let telemetry = Arc::new(Telemetry::default());
    let store = Store::open_with(
        &config.data_dir,
        config.store_url.as_deref(),
        Issuer {
            participant: config.participant.clone(),
            signer: signer.clone(),
        },
        telemetry.clone(),
    )
    .await?;
    check_and_record_version(&store, &config.trust).await?;
    store.set_revenue_policy(config.revenue.clone());
    let federation = config.trust_source.federation.clone();
    let tls_config =
        crate::tls::server_config(&config.identity, &config.trust, &federation, &config.tls)?;
    let (tls_tx, tls_rx) = watch::channel(tls_config);
    let (trust_tx, trust_rx) = watch::channel(Arc::new(config.trust));

    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen.clone(),
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen.clone(),
        source,
    })?;

    let (closing_tx, closing_rx) = watch::channel(false);
    let limits = crate::limits::ParticipantLimits::new(config.limits.clone());
    tokio::spawn(forget_idle_participants(
        limits.clone(),
        closing_tx.subscribe(),
    ));
    let state = Arc::new(GatewayState {
        participant: config.participant.clone(),
        signer,
        trust: trust_rx,
        store: store.clone(),
        max_payload_bytes: config.limits.max_payload_bytes,
        telemetry: telemetry.clone(),
        closing: closing_rx,
        limits: limits.clone(),
    });

    let (health_reporter, health) = crate::health::server(closing_tx.subscribe());
    health_reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    health_reporter
        .set_service_status("aedgate.v1.Gateway", tonic_health::ServingStatus::Serving)
        .await;
    health_reporter
        .set_service_status("aedgate.v1.Audit", tonic_health::ServingStatus::Serving)
        .await;
    health_reporter
        .set_service_status(
            "aedgate.ops.v1.Outbox",
            tonic_health::ServingStatus::Serving,
        )
        .await;
    tokio::spawn(crate::health::follow_store(
        store.writable(),
        health_reporter.clone(),
    ));
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_error =
        |e: tonic_reflection::server::Error| ServerError::Reflection(e.to_string());
    let reflection_v1 = reflection().build_v1().map_err(reflection_error)?;
    let reflection_v1alpha = reflection().build_v1alpha().map_err(reflection_error)?;

    let message_limit = config
        .limits
        .max_payload_bytes
        .saturating_add(ENVELOPE_OVERHEAD);
    let gateway = GatewayServer::new(services.gateway(GatewayService::new(state.clone())))
        .max_decoding_message_size(message_limit);

    let incoming = ReceiverStream::new(crate::tls::accept_loop(
        listener,
        tls_rx,
        federation.clone(),
        config.tls.handshake_timeout,
        limits,
        telemetry.clone(),
    ));
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let router = tonic::transport::Server::builder()
        // Bounds what one connection can hold in memory at once (each stream may carry a
        // message up to the payload limit), and finds dead peers.
        .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(20)))
        .add_service(gateway)
        .add_service(AuditServer::new(
            services.audit(AuditService::new(state.clone())),
        ))
        .add_service(
            crate::proto::aedgate::ops::v1::outbox_server::OutboxServer::new(OutboxService::new(
                state.clone(),
            )),
        )
        .add_service(health);
    let router = if services.serves_reflection() {
        router
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
    } else {
        router
    };
    let task = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async {
        let _ = shutdown_rx.await;
    }));

    let (identity_tx, identity_rx) = watch::channel(Arc::new(config.identity.clone()));
    let peer_endpoints = Arc::new(std::sync::RwLock::new(config.peer_endpoints.clone()));
    let forwarder = crate::forwarder::spawn(crate::forwarder::ForwarderContext {
        store: store.clone(),
        trust: trust_tx.subscribe(),
        identity: identity_rx,
        federation: federation.clone(),
        tls: config.tls,
        policy: config.outbox,
        endpoints: peer_endpoints.clone(),
        closing: closing_tx.subscribe(),
    });

    Ok(RunningGateway {
        local_addr,
        health: health_reporter,
        state,
        reload: Mutex::new(Reloader {
            federation,
            settings: config.tls,
            trust_source: config.trust_source,
            identity_source: config.identity_source,
            trust: trust_tx,
            tls: tls_tx,
            identity: identity_tx,
            revenue_source: config.revenue_source,
            store,
        }),
        shutdown: Some(shutdown_tx),
        closing: closing_tx,
        task,
        forwarder,
        peer_endpoints,
        _data_dir: data_dir_lock,
    })
}

impl RunningGateway {
    /// Where to reach a peer administration from now on, instead of the trust list's
    /// endpoint (a gateway that moved, a test on free ports).
    pub fn set_peer_endpoint(&self, peer: &str, endpoint: &str) {
        if let Ok(mut map) = self.peer_endpoints.write() {
            map.insert(peer.to_owned(), endpoint.to_owned());
        }
        // Wake the forwarder, which may be waiting to retry that peer.
        self.state.store.nudge_outbox();
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The health service's statuses, for an operator (or a test) that takes a service
    /// out of rotation without stopping the gateway.
    pub fn health(&self) -> &tonic_health::server::HealthReporter {
        &self.health
    }

    /// Shared state (counters, store, trust list in force).
    pub fn state(&self) -> &Arc<GatewayState> {
        &self.state
    }

    /// Re-reads the trust list, the TLS identity and the revenue policy. On any error the
    /// configuration in force stays as it was, all of it. Established connections are not
    /// touched; new handshakes use the new material, and envelopes admitted from now on are
    /// charged under the new policy. Returns the trust-list version now in force.
    pub async fn reload(&self) -> Result<u64, ServerError> {
        let reloader = self.reload.lock().await;
        let current = reloader.trust.borrow().clone();
        let next = reloader.trust_source.load(Some(current.version()))?;
        if next.version() == current.version() && next.file_digest() != current.file_digest() {
            return Err(ServerError::TrustVersionReused(next.version()));
        }
        let identity = reloader.identity_source.load()?;
        let tls =
            crate::tls::server_config(&identity, &next, &reloader.federation, &reloader.settings)?;
        let revenue = match &reloader.revenue_source {
            Some(path) => Some(Arc::new(crate::config::load_revenue_policy(path)?)),
            None => None,
        };
        check_and_record_version(&reloader.store, &next).await?;
        reloader.store.set_revenue_policy(revenue);
        let version = next.version();
        reloader.trust.send_replace(Arc::new(next));
        reloader.tls.send_replace(tls);
        reloader.identity.send_replace(Arc::new(identity));
        Ok(version)
    }

    /// Stops accepting, lets in-flight calls finish, and returns when the server is done.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        self.closing.send_replace(true);
        // Deliveries in flight are abandoned, not lost: they stay pending and are resent
        // (and answered DUPLICATE if they had arrived) after restart.
        self.forwarder.abort();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let served = match (&mut self.task).await {
            Ok(result) => result.map_err(ServerError::from),
            Err(join) => {
                tracing::error!(%join, "server task ended abnormally");
                Ok(())
            }
        };
        // The final head is kept, and nothing is written in the data folder after this.
        if let Err(error) = self.state.store.close_kept().await {
            tracing::error!(%error, "cannot keep the final tree head");
        }
        served
    }
}

/// `aedgate serve`: runs until SIGTERM or Ctrl-C, reloading on SIGHUP.
pub async fn serve(config: GatewayConfig) -> Result<(), ServerError> {
    let participant = config.participant.clone();
    let version = config.trust.version();
    let gateway = start(config).await?;
    // The handlers are in place before the ready line: a supervisor may send SIGHUP the
    // moment it reads it, and before its handler exists SIGHUP's default action ends the
    // process.
    let signals = Signals::install();
    let ready = format!(
        "aedgate ready: {participant} serving on {} (trust list v{version})",
        gateway.local_addr()
    );
    tracing::info!("{ready}");
    println!("{ready}");
    signals.serve(&gateway).await;
    tracing::info!("shutting down: finishing in-flight calls");
    gateway.shutdown().await?;
    tracing::info!("stopped");
    Ok(())
}

/// The signals `serve` answers: SIGTERM and Ctrl-C stop, SIGHUP reloads.
#[cfg(unix)]
struct Signals(Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>);

#[cfg(unix)]
impl Signals {
    fn install() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) {
            (Ok(term), Ok(hup)) => Self(Some((term, hup))),
            _ => {
                tracing::warn!("cannot install signal handlers; stop with Ctrl-C");
                Self(None)
            }
        }
    }

    async fn serve(self, gateway: &RunningGateway) {
        let Some((mut term, mut hup)) = self.0 else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => return,
                _ = tokio::signal::ctrl_c() => return,
                _ = hup.recv() => match gateway.reload().await {
                    Ok(version) => tracing::info!(version, "reloaded trust list and TLS identity"),
                    Err(error) => tracing::error!(%error, "reload refused; previous configuration stays in force"),
                },
            }
        }
    }
}

/// Where there are no Unix signals, Ctrl-C stops.
#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> Self {
        Self
    }

    async fn serve(self, _gateway: &RunningGateway) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
