//! The tonic services: thin adapters from gRPC calls to the pure admission checks and the
//! store, and the one place where errors become `tonic::Status`.
//!
//! A submission is answered in three steps: `core::admission::admit` runs §3's checks
//! without I/O; `Store::append` commits the envelope (or finds it a duplicate or conflict);
//! only then is the receipt signed and returned, so that no receipt ever acknowledges
//! something that is not on disk.

use crate::clock::now_ms;
use crate::config::Signer;
use crate::core::admission::{admit, AdmissionContext};
use crate::core::audit::sign_tree_head;
use crate::core::envelope::{sign_receipt, ReceiptFields};
use crate::core::ids::parent_administration;
use crate::core::merkle::ProofError;
use crate::core::rejection::{shorten, Rejection, StatusCode, ERROR_DOMAIN, MAX_QUOTED_CHARS};
use crate::core::trust::Role;
use crate::core::trust::TrustList;
use crate::limits::{Limited, ParticipantLimits, Permit};
use crate::proto::aedgate::ops::v1 as ops;
use crate::proto::gateway_raw::gateway_server::Gateway;
use crate::proto::google::rpc::Status as RpcStatus;
use crate::proto::v1::audit_server::Audit;
use crate::proto::v1::{
    submit_result, ConsistencyProofRequest, ConsistencyProofResponse, Delivery, Envelope,
    FetchRequest, InclusionProofRequest, InclusionProofResponse, Receipt, SignedTreeHead,
    StatusRequest, StatusResponse, SubmitResult, TreeHeadRequest,
};
use crate::store::{FetchScope, OutboxState, PendingAppend, Store, StoreError};
use crate::telemetry::{Counter, Telemetry};
use crate::tls::PeerIdentity;
use crate::wire::Received;
use futures_util::stream::{FuturesOrdered, StreamExt};
use prost::Message;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tonic_types::{ErrorDetails, StatusExt};

/// How many envelopes of one SubmitStream are worked on at once; results still leave in
/// order. Enough to fill a group commit, small enough to bound memory per stream.
const STREAM_WINDOW: usize = 64;
/// Deliveries read from the store at a time, and buffered per Fetch stream.
const FETCH_PAGE: u32 = 256;

/// Everything a call can fail with, before it becomes a `Status`.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The envelope was refused by a check of §3.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The store could not commit; nothing was acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The connection carries no identified peer (cannot happen behind the TLS acceptor).
    #[error("connection is not authenticated")]
    Unauthenticated,
    /// The caller may not see this.
    #[error("{0}")]
    Forbidden(String),
    /// No such declaration.
    #[error("{0}")]
    NotFound(String),
    /// No outbox entry that can be retried has this id.
    #[error("no pending or dead-lettered outbox entry {0}")]
    UnknownOutboxEntry(u64),
    /// The gateway is shutting down; reconnect and resume.
    #[error("gateway is shutting down")]
    ShuttingDown,
    /// A per-participant limit (`[limits]`) refused this envelope or call.
    #[error(transparent)]
    Limited(#[from] Limited),
}

/// Longest status message, in characters.
const MAX_STATUS_MESSAGE_CHARS: usize = 512;

/// Longest field violation description, in characters (validation's own are far shorter).
const MAX_VIOLATION_CHARS: usize = 240;

impl From<ServiceError> for Status {
    /// The one mapping from this crate's errors to gRPC statuses: §3's codes with an
    /// `ErrorInfo` reason in domain `aedgate`, plus `BadRequest` for validation failures.
    fn from(error: ServiceError) -> Status {
        // Bounded: errors may quote what a client sent, and every byte here travels in the
        // response's headers, which default clients cap at 8 KiB.
        let message = shorten(&error.to_string(), MAX_STATUS_MESSAGE_CHARS);
        let (code, reason, violations) = match &error {
            ServiceError::Rejected(rejection) => {
                let violations = match rejection {
                    Rejection::ValidationFailed(v) => v.clone(),
                    _ => Vec::new(),
                };
                (grpc_code(rejection.code()), rejection.reason(), violations)
            }
            ServiceError::Store(StoreError::Closed) => {
                (tonic::Code::Unavailable, "SHUTTING_DOWN", Vec::new())
            }
            ServiceError::Store(StoreError::Proof(problem)) => {
                let (code, reason) = match problem {
                    ProofError::LeafOutOfRange { .. } => {
                        (tonic::Code::InvalidArgument, "LEAF_OUT_OF_RANGE")
                    }
                    ProofError::SizeBeyondLog { .. } => {
                        (tonic::Code::OutOfRange, "TREE_SIZE_BEYOND_LOG")
                    }
                    ProofError::BadRange { .. } => {
                        (tonic::Code::InvalidArgument, "BAD_CONSISTENCY_RANGE")
                    }
                    ProofError::Missing { .. } => (tonic::Code::DataLoss, "LOG_INCOMPLETE"),
                };
                (code, reason, Vec::new())
            }
            ServiceError::Store(_) => (tonic::Code::Unavailable, "STORE_UNAVAILABLE", Vec::new()),
            ServiceError::Unauthenticated => {
                (tonic::Code::Unauthenticated, "NO_PEER_IDENTITY", Vec::new())
            }
            ServiceError::Forbidden(_) => {
                (tonic::Code::PermissionDenied, "NOT_AUTHORIZED", Vec::new())
            }
            ServiceError::NotFound(_) => (tonic::Code::NotFound, "UNKNOWN_DECLARATION", Vec::new()),
            ServiceError::UnknownOutboxEntry(_) => {
                (tonic::Code::NotFound, "UNKNOWN_OUTBOX_ENTRY", Vec::new())
            }
            ServiceError::ShuttingDown => (tonic::Code::Unavailable, "SHUTTING_DOWN", Vec::new()),
            ServiceError::Limited(_) => {
                (tonic::Code::ResourceExhausted, "RATE_LIMITED", Vec::new())
            }
        };
        let mut details = ErrorDetails::with_error_info(reason, ERROR_DOMAIN, HashMap::new());
        if let ServiceError::Limited(limited) = &error {
            details.set_retry_info(Some(limited.retry_after()));
        }
        for v in violations {
            details.add_bad_request_violation(
                shorten(&v.field, MAX_QUOTED_CHARS),
                shorten(&v.description, MAX_VIOLATION_CHARS),
            );
        }
        Status::with_error_details(code, message, details)
    }
}

/// The gRPC code of a code of §3's table; core names the codes without tonic.
fn grpc_code(code: StatusCode) -> tonic::Code {
    match code {
        StatusCode::InvalidArgument => tonic::Code::InvalidArgument,
        StatusCode::PermissionDenied => tonic::Code::PermissionDenied,
        StatusCode::Unauthenticated => tonic::Code::Unauthenticated,
        StatusCode::FailedPrecondition => tonic::Code::FailedPrecondition,
        StatusCode::AlreadyExists => tonic::Code::AlreadyExists,
        StatusCode::Unimplemented => tonic::Code::Unimplemented,
    }
}

/// The `google.rpc.Status` message of a status, for SubmitResult's per-envelope error.
pub fn rpc_status(status: &Status) -> RpcStatus {
    RpcStatus::decode(status.details()).unwrap_or_else(|_| RpcStatus {
        code: status.code() as i32,
        message: status.message().to_owned(),
        details: Vec::new(),
    })
}

/// The state every call shares.
#[derive(Debug)]
pub struct GatewayState {
    /// The administration this gateway speaks for.
    pub participant: String,
    /// Its signing key, for receipts.
    pub signer: Arc<Signer>,
    /// The trust list in force (replaced on SIGHUP).
    pub trust: watch::Receiver<Arc<TrustList>>,
    /// Durable storage.
    pub store: Store,
    /// Payload limit.
    pub max_payload_bytes: usize,
    /// Where this gateway's figures are counted (accepted, duplicates, refusals by reason).
    pub telemetry: Arc<Telemetry>,
    /// Becomes true when the gateway shuts down, so that live Fetch streams end and let the
    /// graceful shutdown finish.
    pub closing: watch::Receiver<bool>,
    /// Per-participant rate, open calls and connections (`[limits]`).
    pub limits: Arc<ParticipantLimits>,
}

/// The `aedgate.v1.Gateway` service.
#[derive(Clone, Debug)]
pub struct GatewayService {
    state: Arc<GatewayState>,
}

impl GatewayService {
    /// Wraps shared state.
    pub fn new(state: Arc<GatewayState>) -> Self {
        Self { state }
    }

    /// Admits, stores and acknowledges one envelope.
    pub async fn submit_one(
        &self,
        received: Received<Envelope>,
        peer: &str,
    ) -> Result<Receipt, ServiceError> {
        let queued = self.enqueue(received, peer).await;
        self.acknowledge(queued, peer).await
    }

    /// Runs §3's checks and hands the envelope to the store's writer. Returns once it is in
    /// the writer's queue: envelopes enqueued one after the other are committed in that
    /// order, which SubmitStream relies on (a declaration and then its amendment on one
    /// stream must work).
    async fn enqueue(
        &self,
        received: Received<Envelope>,
        peer: &str,
    ) -> Result<Queued, ServiceError> {
        let state = &self.state;
        // Before anything costly: a flood is refused for the price of a map lookup.
        state.limits.envelope(peer)?;
        let envelope = received
            .message
            .map_err(|e| Rejection::Malformed(format!("not a valid protobuf Envelope: {e}")))?;
        let trust = state.trust.borrow().clone();
        let admitted = {
            let ctx = AdmissionContext {
                gateway: &state.participant,
                trust: &trust,
                now_ms: now_ms(),
                max_payload_bytes: state.max_payload_bytes,
            };
            admit(envelope, received.raw, peer, &ctx)?
        };
        let message_id = admitted.header.message_id.clone();
        let digest = admitted.digest;
        let stored = state.store.enqueue(admitted, trust).await?;
        Ok(Queued {
            message_id,
            digest,
            stored,
        })
    }

    /// Waits for the commit of an enqueued envelope and signs its receipt; counts and logs
    /// the outcome either way.
    async fn acknowledge(
        &self,
        queued: Result<Queued, ServiceError>,
        peer: &str,
    ) -> Result<Receipt, ServiceError> {
        let state = &self.state;
        let result = async {
            let queued = queued?;
            let stored = queued.stored.wait().await??;
            Ok::<_, ServiceError>(sign_receipt(
                &ReceiptFields {
                    message_id: &queued.message_id,
                    receiver: &state.participant,
                    received_at_ms: stored.received_at_ms,
                    envelope_digest: &queued.digest,
                    disposition: stored.disposition as i32,
                    log_index: stored.log_index,
                },
                &state.signer.key,
                &state.signer.key_id,
            ))
        }
        .await;
        match &result {
            Ok(receipt) => {
                let counter =
                    if receipt.disposition == crate::proto::v1::Disposition::Accepted as i32 {
                        Counter::Accepted
                    } else {
                        Counter::Duplicates
                    };
                state.telemetry.count(counter, "");
            }
            Err(ServiceError::Rejected(rejection)) => {
                state.telemetry.count(Counter::Rejected, rejection.reason());
                tracing::info!(
                    %peer,
                    reason = rejection.reason(),
                    "envelope refused: {}",
                    shorten(&rejection.to_string(), MAX_STATUS_MESSAGE_CHARS)
                );
            }
            Err(ServiceError::Limited(limited)) => {
                // A flood is refused by the thousand: counted, and logged only at debug, or
                // the log would be the flood's next victim.
                state.telemetry.count(Counter::Rejected, "RATE_LIMITED");
                tracing::debug!(%peer, "envelope refused: {limited}");
            }
            Err(error) => tracing::warn!(%peer, %error, "submission not acknowledged"),
        }
        result
    }
}

/// An admitted envelope waiting in the writer's queue.
struct Queued {
    message_id: String,
    digest: crate::core::envelope::Digest32,
    stored: PendingAppend,
}

impl GatewayState {
    /// Whether `peer` is one of this administration's own internal participants.
    fn is_internal(&self, peer: &str) -> bool {
        let trust = self.trust.borrow();
        matches!(trust.participant(peer), Some(p) if p.role == Role::Internal)
            && parent_administration(peer) == Some(self.participant.as_str())
    }
}

impl GatewayService {
    /// Counts a call against the participant's open calls until the permit drops.
    fn open_call(&self, peer: &str) -> Result<Permit, ServiceError> {
        Ok(self.state.limits.open_call(peer)?)
    }

    fn is_internal(&self, peer: &str) -> bool {
        self.state.is_internal(peer)
    }

    /// What `peer` may read with Fetch: internal participants everything, partners (and
    /// peer administrations) what is addressed to them.
    fn scope_of(&self, peer: &str) -> Result<FetchScope, ServiceError> {
        if self.is_internal(peer) {
            return Ok(FetchScope::Everything);
        }
        let trust = self.state.trust.borrow();
        match trust.participant(peer) {
            Some(p) if p.role != Role::Internal => Ok(FetchScope::Recipient(peer.to_owned())),
            _ => Err(ServiceError::Forbidden(format!(
                "{peer} may not fetch from {}",
                self.state.participant
            ))),
        }
    }
}

/// The status a SubmitStream ends with when its input failed after `read` envelopes: the
/// transport's code (an oversized message is RESOURCE_EXHAUSTED or OUT_OF_RANGE in tonic),
/// with a message that says which envelope was the last answered, so the client knows
/// where to resume.
fn stream_input_failed(cause: &Status, read: u64) -> Status {
    let code = match cause.code() {
        tonic::Code::Ok => tonic::Code::Internal,
        code => code,
    };
    let details =
        ErrorDetails::with_error_info("STREAM_INPUT_FAILED", ERROR_DOMAIN, HashMap::new());
    Status::with_error_details(
        code,
        format!(
            "the stream's input failed after {read} envelope(s), each answered above; nothing after them was read: {}",
            shorten(cause.message(), MAX_QUOTED_CHARS)
        ),
        details,
    )
}

fn peer_of<T>(request: &Request<T>) -> Result<String, ServiceError> {
    request
        .extensions()
        .get::<PeerIdentity>()
        .map(|p| p.participant.clone())
        .ok_or(ServiceError::Unauthenticated)
}

type BoxStream<T> = Pin<Box<dyn futures_util::Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Gateway for GatewayService {
    async fn submit(
        &self,
        request: Request<Received<Envelope>>,
    ) -> Result<Response<Receipt>, Status> {
        let peer = peer_of(&request)?;
        let _call = self.open_call(&peer)?;
        Ok(Response::new(
            self.submit_one(request.into_inner(), &peer).await?,
        ))
    }

    type SubmitStreamStream = BoxStream<SubmitResult>;

    async fn submit_stream(
        &self,
        request: Request<Streaming<Received<Envelope>>>,
    ) -> Result<Response<Self::SubmitStreamStream>, Status> {
        let peer = peer_of(&request)?;
        let call = self.open_call(&peer)?;
        let mut incoming = request.into_inner();
        let service = self.clone();
        let (tx, rx) = mpsc::channel(STREAM_WINDOW);
        tokio::spawn(async move {
            // Counted as open until the stream is done with.
            let _call = call;
            let mut in_flight = FuturesOrdered::new();
            let mut input_open = true;
            // Why the input stopped early, if it did: the stream must end with it, not with
            // OK, or the envelopes the client sent after it would go unanswered in silence.
            let mut input_failed: Option<Status> = None;
            let mut read = 0_u64;
            loop {
                tokio::select! {
                    // Read ahead while the window has room; answer strictly in order.
                    next = incoming.next(), if input_open && in_flight.len() < STREAM_WINDOW => match next {
                        Some(Ok(received)) => {
                            read += 1;
                            // Admitted and queued here, in stream order; the commit and the
                            // receipt are awaited in the window.
                            let queued = service.enqueue(received, &peer).await;
                            let service = service.clone();
                            let peer = peer.clone();
                            in_flight.push_back(async move { service.acknowledge(queued, &peer).await });
                            // Admission is CPU work and the read-ahead is usually ready: without
                            // a yield a busy stream would hold its worker thread for a whole
                            // window while other partners' calls wait for it.
                            tokio::task::yield_now().await;
                        }
                        Some(Err(status)) => {
                            // The transport failed (reset, oversized frame): nothing more can be
                            // read. Every envelope read so far is still answered; then the stream
                            // ends with this error.
                            tracing::info!(%peer, %status, "SubmitStream input ended with an error");
                            input_failed = Some(stream_input_failed(&status, read));
                            input_open = false;
                        }
                        None => input_open = false,
                    },
                    Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                        let result = match done {
                            Ok(receipt) => submit_result::Result::Receipt(receipt),
                            Err(error) => submit_result::Result::Error(rpc_status(&Status::from(error))),
                        };
                        if tx.send(Ok(SubmitResult { result: Some(result) })).await.is_err() {
                            return; // The client went away; stored envelopes stay stored.
                        }
                    }
                    else => break,
                }
            }
            if let Some(status) = input_failed {
                let _ = tx.send(Err(status)).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type FetchStream = BoxStream<Delivery>;

    async fn fetch(
        &self,
        request: Request<FetchRequest>,
    ) -> Result<Response<Self::FetchStream>, Status> {
        let peer = peer_of(&request)?;
        let call = self.open_call(&peer)?;
        let FetchRequest { after_seq, follow } = request.into_inner();
        let scope = self.scope_of(&peer)?;
        let store = self.state.store.clone();
        let mut closing = self.state.closing.clone();
        let (tx, rx) = mpsc::channel(FETCH_PAGE as usize);
        tokio::spawn(async move {
            // Counted as open until the stream ends (or its reader goes away).
            let _call = call;
            let mut after = after_seq;
            let mut commits = store.subscribe();
            loop {
                // Mark the current commit as seen before reading, so that a commit landing
                // between the read and the wait still wakes this stream.
                commits.borrow_and_update();
                let page = match store.deliveries(&scope, after, FETCH_PAGE).await {
                    Ok(page) => page,
                    Err(error) => {
                        let _ = tx.send(Err(Status::from(ServiceError::Store(error)))).await;
                        return;
                    }
                };
                let full = page.len() == FETCH_PAGE as usize;
                for (seq, bytes) in page {
                    let envelope = match Envelope::decode(bytes) {
                        Ok(envelope) => envelope,
                        Err(error) => {
                            let _ = tx
                                .send(Err(Status::internal(format!(
                                    "stored envelope unreadable: {error}"
                                ))))
                                .await;
                            return;
                        }
                    };
                    // A slow reader waits here, alone: the writer never waits for readers.
                    if tx
                        .send(Ok(Delivery {
                            seq,
                            envelope: Some(envelope),
                        }))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    after = seq;
                }
                if full {
                    continue;
                }
                if !follow {
                    return;
                }
                let shutting_down = tokio::select! {
                    changed = commits.changed() => if changed.is_err() { return } else { false },
                    _ = closing.wait_for(|closing| *closing) => true,
                    _ = tx.closed() => return,
                };
                if shutting_down {
                    let _ = tx.send(Err(Status::from(ServiceError::ShuttingDown))).await;
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn status(
        &self,
        request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let peer = peer_of(&request)?;
        let _call = self.open_call(&peer)?;
        let id = request.into_inner().declaration_id;
        let status = self
            .state
            .store
            .declaration_status(&id)
            .await
            .map_err(ServiceError::from)?
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "no declaration {} is known here",
                    shorten(&id, MAX_QUOTED_CHARS)
                ))
            })?;
        if status.sender != peer && !self.is_internal(&peer) {
            return Err(ServiceError::Forbidden(format!(
                "only the declaration's sender or {}'s internal participants may ask for its status",
                self.state.participant
            ))
            .into());
        }
        Ok(Response::new(StatusResponse {
            declaration_id: status.id,
            lrn: status.lrn,
            mrn: status.mrn,
            state: status.state as i32,
            outcome: status.outcome as i32,
            open_referral_id: status.open_referral_id,
            updated_at_ms: status.updated_at_ms,
        }))
    }
}

/// The `aedgate.v1.Audit` service (§6, §9): signed tree heads and RFC 9162 proofs, so that
/// any participant can check from its receipt that its message is in the log and that the
/// log only ever grew. Every authenticated participant may ask; the log holds digests and
/// times, never payloads.
#[derive(Clone, Debug)]
pub struct AuditService {
    state: Arc<GatewayState>,
}

impl AuditService {
    /// Wraps the shared state (the store's committed head and the administration's key).
    pub fn new(state: Arc<GatewayState>) -> Self {
        Self { state }
    }
}

#[tonic::async_trait]
impl Audit for AuditService {
    /// Signs the latest committed head with the administration's key. Heads are signed on
    /// request rather than per commit: signing costs microseconds, and a fresh timestamp
    /// tells a witness how recent the view is.
    async fn tree_head(
        &self,
        request: Request<TreeHeadRequest>,
    ) -> Result<Response<SignedTreeHead>, Status> {
        peer_of(&request)?;
        // Kept durably first (issue 15): a restart must be able to tell if the log later
        // lost what this head covers.
        let head = self
            .state
            .store
            .kept_head()
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(sign_tree_head(
            &self.state.participant,
            head.size,
            now_ms(),
            &head.root,
            &self.state.signer.key,
            &self.state.signer.key_id,
        )))
    }

    /// `tree_size` 0 asks for a proof against the current head, for a partner that holds a
    /// receipt but no head yet; the response names the size used.
    async fn inclusion_proof(
        &self,
        request: Request<InclusionProofRequest>,
    ) -> Result<Response<InclusionProofResponse>, Status> {
        peer_of(&request)?;
        let InclusionProofRequest {
            leaf_index,
            tree_size,
        } = request.into_inner();
        let tree_size = match tree_size {
            0 => self.state.store.log_head().size,
            size => size,
        };
        let path = self
            .state
            .store
            .inclusion_proof(leaf_index, tree_size)
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(InclusionProofResponse {
            leaf_index,
            tree_size,
            audit_path: hashes_on_wire(&path),
        }))
    }

    async fn consistency_proof(
        &self,
        request: Request<ConsistencyProofRequest>,
    ) -> Result<Response<ConsistencyProofResponse>, Status> {
        peer_of(&request)?;
        let ConsistencyProofRequest { first, second } = request.into_inner();
        let proof = self
            .state
            .store
            .consistency_proof(first, second)
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(ConsistencyProofResponse {
            proof: hashes_on_wire(&proof),
        }))
    }
}

/// The `aedgate.ops.v1.Outbox` service: this administration's internal participants see and
/// steer the delivery of messages to peer administrations (§6). Outside the contract, so
/// that operators need no access to the gateway's files.
#[derive(Clone, Debug)]
pub struct OutboxService {
    state: Arc<GatewayState>,
}

impl OutboxService {
    /// Wraps the shared state.
    pub fn new(state: Arc<GatewayState>) -> Self {
        Self { state }
    }

    fn internal_only<T>(&self, request: &Request<T>) -> Result<(), ServiceError> {
        let peer = peer_of(request)?;
        if self.state.is_internal(&peer) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "only {}'s internal participants may see or steer its outbox",
                self.state.participant
            )))
        }
    }
}

fn ops_state(state: OutboxState) -> ops::OutboxState {
    match state {
        OutboxState::Pending => ops::OutboxState::Pending,
        OutboxState::Delivered => ops::OutboxState::Delivered,
        OutboxState::DeadLettered => ops::OutboxState::DeadLettered,
    }
}

#[tonic::async_trait]
impl ops::outbox_server::Outbox for OutboxService {
    async fn list(
        &self,
        request: Request<ops::OutboxListRequest>,
    ) -> Result<Response<ops::OutboxListResponse>, Status> {
        self.internal_only(&request)?;
        let state = match ops::OutboxState::try_from(request.into_inner().state) {
            Ok(ops::OutboxState::Pending) => Some(OutboxState::Pending),
            Ok(ops::OutboxState::Delivered) => Some(OutboxState::Delivered),
            Ok(ops::OutboxState::DeadLettered) => Some(OutboxState::DeadLettered),
            Ok(ops::OutboxState::Unspecified) | Err(_) => None,
        };
        let entries = self
            .state
            .store
            .outbox(state)
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(ops::OutboxListResponse {
            entries: entries
                .into_iter()
                .map(|e| ops::OutboxEntry {
                    id: e.id,
                    peer: e.peer,
                    log_index: e.log_index,
                    message_id: e.message_id,
                    r#type: e.message_type,
                    queued_at_ms: e.queued_at_ms,
                    state: ops_state(e.state) as i32,
                    attempts: e.attempts,
                    next_attempt_ms: e.next_attempt_ms,
                    last_error: e.last_error,
                    receipt: e.receipt,
                    done_at_ms: e.done_at_ms.unwrap_or_default(),
                })
                .collect(),
        }))
    }

    async fn retry(
        &self,
        request: Request<ops::OutboxRetryRequest>,
    ) -> Result<Response<ops::OutboxRetryResponse>, Status> {
        self.internal_only(&request)?;
        let id = request.into_inner().id;
        let requeued = self
            .state
            .store
            .outbox_retry(id, now_ms())
            .await
            .map_err(ServiceError::from)?;
        if !requeued {
            return Err(ServiceError::UnknownOutboxEntry(id).into());
        }
        tracing::info!(id, "outbox entry requeued by an operator");
        Ok(Response::new(ops::OutboxRetryResponse {}))
    }
}

/// A proof's hashes as the wire carries them (one bytes field each): inclusion and
/// consistency proofs answer with the same encoding.
fn hashes_on_wire(hashes: &[crate::core::merkle::Hash]) -> Vec<bytes::Bytes> {
    hashes
        .iter()
        .map(|h| bytes::Bytes::copy_from_slice(&h[..]))
        .collect()
}
