//! Delivers the outbox to peer administrations (PROTOCOL.md §6): the peer's `Submit` over
//! mutual TLS with this administration's certificate, the peer's signed receipt verified
//! against the trust list and stored as proof of delivery.
//!
//! One worker per peer keeps that peer's order: it sends the oldest pending message and
//! only moves on once it is delivered or dead-lettered. Peers do not wait for each other.
//! What happens after a failure is `core::retry`'s decision; this module only supplies the
//! clock and the random numbers. A peer whose certificate or receipt does not verify is
//! treated like one that is down: the message stays queued, the error is recorded and
//! logged, and nothing from that peer is trusted. A refusal the peer will give again
//! whatever happens (the envelope is invalid or not allowed there) is dead-lettered at once
//! rather than blocking the peer's queue until the horizon.
//!
//! A crash between the peer's commit and ours is harmless: the resend is a byte-identical
//! envelope, which the peer acknowledges as DUPLICATE, and that counts as delivered.

use crate::client::{channel, ClientError};
use crate::clock::now_ms;
use crate::core::receipt::verify_receipt;
use crate::core::retry::{NextStep, RetryPolicy};
use crate::core::trust::TrustList;
use crate::proto::v1::gateway_client::GatewayClient;
use crate::proto::v1::{Envelope, MessageType};
use crate::render::wire_name;
use crate::store::{Lease, PendingDelivery, Store, StoreError};
use crate::telemetry::Counter;
use crate::tls::{Identity, TlsSettings};
use prost::Message;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long one delivery attempt may take, connection included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a replica holds a peer's head while it delivers it: longer than an attempt can
/// take, so a live replica never loses it mid-attempt; a dead replica's passes to the
/// others this long after its last attempt began.
const LEASE: Duration = Duration::from_secs(30);

/// Why one delivery attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The trust list names no endpoint for the peer (and no override is configured).
    #[error("no endpoint is known for {0}")]
    NoEndpoint(String),
    /// No connection (refused, TLS failure such as an unknown certificate, timeout).
    #[error("cannot reach the peer: {0}")]
    Connect(ClientError),
    /// The peer answered with an error status.
    #[error("peer refused: {code:?} {reason}: {message}")]
    Refused {
        /// gRPC status code.
        code: tonic::Code,
        /// ErrorInfo reason, if any.
        reason: String,
        /// Status message.
        message: String,
    },
    /// The peer's receipt is not valid evidence; the peer is not trusted.
    #[error("peer's receipt is not valid evidence: {0}")]
    BadReceipt(String),
    /// The attempt took too long.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The stored envelope could not be read back.
    #[error("stored envelope unreadable: {0}")]
    Unreadable(String),
}

impl DeliveryError {
    /// Whether the peer would refuse this envelope again whatever is retried: it is
    /// malformed, invalid or not allowed there, or its id is taken. Authentication failures
    /// are not permanent: the peer may not have loaded the trust list with our key yet.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Refused { code, .. } => matches!(
                code,
                tonic::Code::InvalidArgument
                    | tonic::Code::PermissionDenied
                    | tonic::Code::AlreadyExists
                    | tonic::Code::FailedPrecondition
                    | tonic::Code::Unimplemented
            ),
            Self::Unreadable(_) => true,
            _ => false,
        }
    }
}

/// What the forwarder needs from the running gateway.
#[derive(Clone, Debug)]
pub struct ForwarderContext {
    /// Durable outbox.
    pub store: Store,
    /// Trust list in force (peers' endpoints, CAs and receipt keys).
    pub trust: watch::Receiver<Arc<TrustList>>,
    /// This administration's TLS identity, presented to peers as a client.
    pub identity: watch::Receiver<Arc<Identity>>,
    /// Federation name (SPIFFE trust domain).
    pub federation: String,
    /// TLS options.
    pub tls: TlsSettings,
    /// Retry schedule.
    pub policy: RetryPolicy,
    /// Endpoint overrides by peer id, changeable while running.
    pub endpoints: Arc<RwLock<BTreeMap<String, String>>>,
    /// Becomes true on shutdown.
    pub closing: watch::Receiver<bool>,
}

/// Starts the forwarder; it ends when the gateway closes.
pub fn spawn(ctx: ForwarderContext) -> JoinHandle<()> {
    tokio::spawn(supervise(ctx))
}

/// Starts a worker for every peer with pending messages and none running, then waits for
/// new messages (or an operator's retry).
async fn supervise(ctx: ForwarderContext) {
    let mut signal = ctx.store.outbox_signal();
    let mut closing = ctx.closing.clone();
    let mut workers: HashMap<String, JoinHandle<()>> = HashMap::new();
    loop {
        signal.borrow_and_update();
        workers.retain(|_, handle| !handle.is_finished());
        match ctx.store.outbox_heads().await {
            Ok(heads) => {
                for head in heads {
                    let peer = head.entry.peer.clone();
                    if let std::collections::hash_map::Entry::Vacant(slot) = workers.entry(peer) {
                        let worker = tokio::spawn(work_peer(ctx.clone(), slot.key().clone()));
                        slot.insert(worker);
                    }
                }
            }
            Err(error) => tracing::error!(%error, "cannot read the outbox"),
        }
        // Workers stop when their queue is empty; a periodic look also picks up work after
        // a failed read.
        tokio::select! {
            changed = signal.changed() => if changed.is_err() { break },
            _ = closing.wait_for(|c| *c) => break,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
    for (_, worker) in workers {
        worker.abort();
    }
}

/// Delivers one peer's queue in order until it is empty.
async fn work_peer(ctx: ForwarderContext, peer: String) {
    let mut connection: Option<(String, GatewayClient<tonic::transport::Channel>)> = None;
    let mut closing = ctx.closing.clone();
    let mut signal = ctx.store.outbox_signal();
    loop {
        signal.borrow_and_update();
        let head = match ctx.store.outbox_heads().await {
            Ok(heads) => heads.into_iter().find(|h| h.entry.peer == peer),
            Err(error) => {
                tracing::error!(%error, %peer, "cannot read the outbox");
                None
            }
        };
        let Some(head) = head else {
            return;
        };
        if head.entry.next_attempt_ms > now_ms() {
            // Sleep until due; an operator's retry (or shutdown) wakes us earlier.
            if !wait_until(head.entry.next_attempt_ms, &mut signal, &mut closing).await {
                return;
            }
            continue;
        }
        // Of the replicas sharing the store, one at a time delivers a peer's head (§13).
        let now = now_ms();
        match ctx
            .store
            .outbox_lease(head.entry.id, now, now + LEASE.as_millis() as i64)
            .await
        {
            Ok(Lease::Granted) => {}
            Ok(Lease::Gone) => continue,
            Ok(Lease::HeldUntil(until)) => {
                // Another replica delivers it; look again when its lease runs out (or the
                // outbox changes).
                if !wait_until(until, &mut signal, &mut closing).await {
                    return;
                }
                continue;
            }
            Err(error) => {
                tracing::error!(%error, %peer, "cannot lease the outbox head");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = closing.wait_for(|c| *c) => return,
                }
                continue;
            }
        }
        let attempt = tokio::time::timeout(ATTEMPT_TIMEOUT, deliver(&ctx, &head, &mut connection));
        let result = tokio::select! {
            result = attempt => result.unwrap_or(Err(DeliveryError::Timeout(ATTEMPT_TIMEOUT))),
            _ = closing.wait_for(|c| *c) => return,
        };
        let now = now_ms();
        let recorded = match result {
            Ok(receipt) => {
                tracing::info!(
                    %peer,
                    message_id = %head.entry.message_id,
                    kind = wire_name::<MessageType>(head.entry.message_type).unwrap_or("UNKNOWN"),
                    "delivered; receipt verified and stored"
                );
                ctx.store.telemetry().count(Counter::Forwarded, &peer);
                ctx.store
                    .outbox_delivered(head.entry.id, &receipt, now)
                    .await
            }
            Err(error) => {
                connection = None;
                let failures = head.entry.attempts.saturating_add(1);
                let next = if error.is_permanent() {
                    NextStep::DeadLetter
                } else {
                    ctx.policy
                        .after_failure(failures, head.entry.queued_at_ms, now, random())
                };
                let telemetry = ctx.store.telemetry();
                telemetry.count(Counter::ForwardFailures, &peer);
                if next == NextStep::DeadLetter {
                    telemetry.count(Counter::DeadLettered, &peer);
                }
                match next {
                    NextStep::DeadLetter => tracing::error!(
                        %peer,
                        message_id = %head.entry.message_id,
                        attempts = failures,
                        %error,
                        "DEAD LETTER: not delivered; see `aedgate outbox list`"
                    ),
                    NextStep::RetryAt(at) => tracing::warn!(
                        %peer,
                        message_id = %head.entry.message_id,
                        attempts = failures,
                        retry_in_ms = at - now,
                        %error,
                        "delivery failed; will retry"
                    ),
                }
                ctx.store
                    .outbox_failed(head.entry.id, &error.to_string(), next, now)
                    .await
            }
        };
        if let Err(error) = recorded {
            // The result is not recorded: the message stays pending and is sent again,
            // which the peer answers with DUPLICATE.
            tracing::error!(%error, %peer, "cannot record a delivery result");
            if matches!(error, StoreError::Closed) {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// Waits until `at_ms`, or until the outbox changes (an operator's retry, another replica's
/// delivery). False when the gateway is closing.
async fn wait_until(
    at_ms: i64,
    signal: &mut watch::Receiver<u64>,
    closing: &mut watch::Receiver<bool>,
) -> bool {
    let wait = Duration::from_millis(u64::try_from(at_ms - now_ms()).unwrap_or(0));
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = signal.changed() => true,
        _ = closing.wait_for(|c| *c) => false,
    }
}

/// One attempt: connect if needed, submit, verify the receipt.
async fn deliver(
    ctx: &ForwarderContext,
    head: &PendingDelivery,
    connection: &mut Option<(String, GatewayClient<tonic::transport::Channel>)>,
) -> Result<crate::proto::v1::Receipt, DeliveryError> {
    let peer = &head.entry.peer;
    let trust = ctx.trust.borrow().clone();
    let endpoint = ctx
        .endpoints
        .read()
        .ok()
        .and_then(|map| map.get(peer).cloned())
        .or_else(|| trust.participant(peer).and_then(|p| p.endpoint.clone()))
        .ok_or_else(|| DeliveryError::NoEndpoint(peer.clone()))?;
    let client = match connection {
        Some((connected_to, client)) if *connected_to == endpoint => client.clone(),
        _ => {
            let identity = ctx.identity.borrow().clone();
            let channel = channel(
                &endpoint,
                peer,
                &identity,
                &trust,
                &ctx.federation,
                &ctx.tls,
            )
            .await
            .map_err(DeliveryError::Connect)?;
            let client = GatewayClient::new(channel);
            *connection = Some((endpoint.clone(), client.clone()));
            client
        }
    };
    let envelope = Envelope::decode(head.envelope.clone())
        .map_err(|e| DeliveryError::Unreadable(e.to_string()))?;
    let receipt = client
        .clone()
        .submit(envelope)
        .await
        .map_err(|status| DeliveryError::Refused {
            code: status.code(),
            reason: crate::client::reason_of(&status).unwrap_or_default(),
            message: status.message().to_owned(),
        })?
        .into_inner();
    verify_receipt(
        &receipt,
        &head.entry.message_id,
        &head.envelope_digest,
        peer,
        &trust,
    )
    .map_err(|problem| DeliveryError::BadReceipt(problem.to_string()))?;
    Ok(receipt)
}

/// Jitter only needs gateways that do not draw alike; the system generator is at hand.
fn random() -> u64 {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    // On failure the draw is 0: no jitter for this retry, which is still correct.
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    u64::from_le_bytes(bytes)
}
