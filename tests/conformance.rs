//! The conformance kit, proven both ways: every check passes against aedgate, and every
//! check fails against a gateway that breaks the rule it checks.
//!
//! The faulty gateways exist only here. Each wraps the real services (started through
//! `server::start_with`, on a real store behind real mutual TLS) and breaks one rule: it
//! skips a check (trusting the header's sender, ignoring a revocation), answers a refusal
//! as if it had accepted, reorders admission checks, or alters one reply (a receipt, an
//! outcome, a proof, a status). The table in `faults()` names, for every check id, the
//! fault that must make it fail, and a test keeps that table complete.

mod common;

use aedgate::clock::now_ms;
use aedgate::conformance::{self, Need, Profile, Selection, Verdict};
use aedgate::core::crypto::SigningKey;
use aedgate::core::envelope::{envelope_digest, seal, sha256, sign_receipt, Draft, ReceiptFields};
use aedgate::core::rejection::ERROR_DOMAIN;
use aedgate::proto::gateway_raw::gateway_server::Gateway;
use aedgate::proto::v1::audit_server::Audit;
use aedgate::proto::v1::{
    submit_result, ConsistencyProofRequest, ConsistencyProofResponse, DeclarationState, Delivery,
    Disposition, Envelope, FetchRequest, InclusionProofRequest, InclusionProofResponse,
    MessageType, Outcome, OutcomeCode, Receipt, RefundDecision, SignedTreeHead, StatusRequest,
    StatusResponse, SubmitResult, TreeHeadRequest,
};
use aedgate::proto::v1::{Charge, ChargeType, Money};
use aedgate::server::{RunningGateway, ServiceFactory};
use aedgate::service::{rpc_status, AuditService, GatewayService};
use aedgate::tls::PeerIdentity;
use aedgate::wire::Received;
use bytes::Bytes;
use common::Federation;
use futures_util::StreamExt;
use prost::Message;
use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tonic::{Code, Request, Response, Status, Streaming};
use tonic_types::{ErrorDetails, StatusExt};

const TARGET: &str = "adm/NL";
const PARTNER: &str = "ptr/NL/shopco";
const INTERNAL: &str = "adm/NL/risk-unit";

// ---------------------------------------------------------------------------------------
// What a faulty gateway can do
// ---------------------------------------------------------------------------------------

/// Signs what a faulty gateway makes up, with the administration's real key, so that the
/// kit sees well-signed lies rather than broken signatures.
struct Forge {
    key: SigningKey,
    key_id: String,
}

impl Forge {
    /// The receipt a gateway that skipped its checks would have given.
    fn receipt(&self, envelope: Option<&Envelope>, disposition: Disposition) -> Receipt {
        let header = envelope.and_then(|e| e.header.clone()).unwrap_or_default();
        let digest = envelope_digest(&header);
        sign_receipt(
            &ReceiptFields {
                message_id: &header.message_id,
                receiver: TARGET,
                received_at_ms: now_ms(),
                envelope_digest: &digest,
                disposition: disposition as i32,
                log_index: 0,
            },
            &self.key,
            &self.key_id,
        )
    }

    fn resign_receipt(&self, receipt: &Receipt) -> Receipt {
        sign_receipt(&ReceiptFields::of(receipt), &self.key, &self.key_id)
    }

    /// An OUTCOME envelope with its payload changed by `change`, re-sealed.
    fn outcome(&self, envelope: Envelope, change: impl FnOnce(&mut Outcome)) -> Envelope {
        self.reseal(envelope, MessageType::Outcome, change)
    }

    /// An issued envelope of `message_type` (payload `M`) with its payload changed by
    /// `change`, re-sealed; other envelopes pass unchanged.
    fn reseal<M: Message + Default>(
        &self,
        envelope: Envelope,
        message_type: MessageType,
        change: impl FnOnce(&mut M),
    ) -> Envelope {
        let Some(header) = envelope.header.clone() else {
            return envelope;
        };
        if header.r#type != message_type as i32 {
            return envelope;
        }
        let mut payload = M::decode(envelope.payload.clone()).expect("issued payload");
        change(&mut payload);
        seal(
            Draft {
                message_id: header.message_id,
                sender: header.sender,
                recipient: header.recipient,
                message_type: header.r#type,
                created_at_ms: header.created_at_ms,
                correlation_id: header.correlation_id,
                payload: Bytes::from(payload.encode_to_vec()),
            },
            &self.key,
            &self.key_id,
        )
    }
}

fn refusal(code: Code, reason: &str) -> Status {
    Status::with_error_details(
        code,
        format!("faulty gateway: {reason}"),
        ErrorDetails::with_error_info(reason, ERROR_DOMAIN, HashMap::new()),
    )
}

fn reason(status: &Status) -> String {
    aedgate::client::reason_of(status).unwrap_or_default()
}

type Answer = Result<Receipt, Status>;
type AnswerFault = Arc<dyn Fn(&Forge, Option<&Envelope>, Answer) -> Answer + Send + Sync>;
type BeforeFault = Arc<dyn Fn(&Forge, &Envelope) -> Option<Answer> + Send + Sync>;
type FetchFault = Arc<dyn Fn(&mut FetchRequest, &mut String) + Send + Sync>;
type DeliveryFault = Arc<dyn Fn(&Forge, Delivery) -> Delivery + Send + Sync>;
type StatusAnswerFault = Rewrite<StatusResponse>;
/// Changes a value in place.
type Change<T> = Arc<dyn Fn(&mut T) + Send + Sync>;
/// Replaces an answer (reply or error) with another.
type Rewrite<T> = Arc<dyn Fn(Result<T, Status>) -> Result<T, Status> + Send + Sync>;

#[derive(Clone, Copy, Default, PartialEq)]
enum StreamFault {
    #[default]
    None,
    /// Results leave in another order than the envelopes came.
    SwapFirstTwo,
    /// The stream ends at the first undecodable frame.
    EndAtGarbage,
}

/// One rule broken (most fields stay at their harmless defaults).
#[derive(Clone, Default)]
struct Fault {
    /// Take the header's sender as the TLS peer (skips SENDER_MISMATCH).
    trust_header_sender: bool,
    /// Answer an envelope without the real gateway seeing it.
    before: Option<BeforeFault>,
    /// Change the real gateway's answer to an envelope.
    answer: Option<AnswerFault>,
    stream: StreamFault,
    /// Change a Fetch request or who asks.
    fetch: Option<FetchFault>,
    /// Change what Fetch delivers.
    delivery: Option<DeliveryFault>,
    /// Change who asks for a Status.
    status_peer: Option<Change<String>>,
    /// Change a Status answer.
    status_answer: Option<StatusAnswerFault>,
    tree_head: Option<Change<SignedTreeHead>>,
    inclusion: Option<Rewrite<InclusionProofResponse>>,
    consistency: Option<Rewrite<ConsistencyProofResponse>>,
    no_reflection: bool,
    /// A health service name reported NOT_SERVING.
    not_serving: Option<&'static str>,
}

impl Fault {
    fn answer(
        f: impl Fn(&Forge, Option<&Envelope>, Answer) -> Answer + Send + Sync + 'static,
    ) -> Self {
        Self {
            answer: Some(Arc::new(f)),
            ..Self::default()
        }
    }

    /// Accepts what the real gateway refuses with `refused_reason`: the check is skipped.
    fn accepts(refused_reason: &'static str) -> Self {
        Self::answer(move |forge, envelope, answer| match answer {
            Err(status) if reason(&status) == refused_reason => {
                Ok(forge.receipt(envelope, Disposition::Accepted))
            }
            other => other,
        })
    }

    /// Answers `then` where the real gateway answers `first` and `when` holds: a gateway
    /// running its checks in another order.
    fn answers_instead(
        first: &'static str,
        then: (Code, &'static str),
        when: impl Fn(&Envelope) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self::answer(move |_, envelope, answer| match answer {
            Err(status) if reason(&status) == first && envelope.is_some_and(&when) => {
                Err(refusal(then.0, then.1))
            }
            other => other,
        })
    }

    /// Leaves `path` out of a VALIDATION_FAILED's field violations.
    fn drops_violation(path: &'static str) -> Self {
        Self::answer(move |_, _, answer| match answer {
            Err(status) if reason(&status) == "VALIDATION_FAILED" => {
                let details = status.get_error_details();
                let mut rebuilt = ErrorDetails::with_error_info(
                    "VALIDATION_FAILED",
                    ERROR_DOMAIN,
                    HashMap::new(),
                );
                if let Some(bad) = details.bad_request() {
                    for v in &bad.field_violations {
                        if v.field != path {
                            rebuilt
                                .add_bad_request_violation(v.field.clone(), v.description.clone());
                        }
                    }
                }
                Err(Status::with_error_details(
                    status.code(),
                    status.message(),
                    rebuilt,
                ))
            }
            other => other,
        })
    }

    /// Changes the receipt of every accepted envelope, re-signed.
    fn receipt(f: impl Fn(&mut Receipt) + Send + Sync + 'static) -> Self {
        Self::answer(move |forge, _, answer| {
            answer.map(|mut receipt| {
                f(&mut receipt);
                forge.resign_receipt(&receipt)
            })
        })
    }

    fn before(f: impl Fn(&Forge, &Envelope) -> Option<Answer> + Send + Sync + 'static) -> Self {
        Self {
            before: Some(Arc::new(f)),
            ..Self::default()
        }
    }

    fn fetch(f: impl Fn(&mut FetchRequest, &mut String) + Send + Sync + 'static) -> Self {
        Self {
            fetch: Some(Arc::new(f)),
            ..Self::default()
        }
    }

    fn delivery(f: impl Fn(&Forge, Delivery) -> Delivery + Send + Sync + 'static) -> Self {
        Self {
            delivery: Some(Arc::new(f)),
            ..Self::default()
        }
    }

    /// Changes every delivered OUTCOME, re-signed.
    fn outcome(f: impl Fn(&mut Outcome) + Send + Sync + 'static) -> Self {
        let f = Arc::new(f);
        Self::delivery(move |forge, mut delivery| {
            if let Some(envelope) = delivery.envelope.take() {
                delivery.envelope = Some(forge.outcome(envelope, |o| f(o)));
            }
            delivery
        })
    }

    /// Gives every outcome of a declaration after its first a new MRN (§8: later ones
    /// repeat it).
    fn later_outcomes_get_a_new_mrn() -> Self {
        let first_outcome: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        Self::delivery(move |forge, mut delivery| {
            let Some(envelope) = delivery.envelope.take() else {
                return delivery;
            };
            let header = header_of(&envelope);
            let mut firsts = first_outcome.lock().expect("firsts");
            let first = firsts
                .entry(header.correlation_id.clone())
                .or_insert(header.message_id.clone());
            delivery.envelope = Some(if *first == header.message_id {
                envelope
            } else {
                forge.outcome(envelope, |o| o.mrn = "26NL9999999999999X".into())
            });
            delivery
        })
    }

    /// Changes every delivered REFUND_DECISION, re-signed.
    fn refund_decision(f: impl Fn(&mut RefundDecision) + Send + Sync + 'static) -> Self {
        let f = Arc::new(f);
        Self::delivery(move |forge, mut delivery| {
            if let Some(envelope) = delivery.envelope.take() {
                delivery.envelope =
                    Some(forge.reseal(envelope, MessageType::RefundDecision, |d| f(d)));
            }
            delivery
        })
    }

    /// Changes the pointer of every RFI whose pointer is `from`.
    fn pointer(from: &'static str, to: &'static str) -> Self {
        Self::outcome(move |o| {
            if o.code == OutcomeCode::RequestForInformation as i32 && o.pointer == from {
                o.pointer = to.into();
            }
        })
    }

    /// Replaces outcome code `from` with `to`.
    fn outcome_code(from: OutcomeCode, to: OutcomeCode) -> Self {
        Self::outcome(move |o| {
            if o.code == from as i32 {
                o.code = to as i32;
            }
        })
    }

    fn status_peer(f: impl Fn(&mut String) + Send + Sync + 'static) -> Self {
        Self {
            status_peer: Some(Arc::new(f)),
            ..Self::default()
        }
    }

    fn status_answer(
        f: impl Fn(Result<StatusResponse, Status>) -> Result<StatusResponse, Status>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        Self {
            status_answer: Some(Arc::new(f)),
            ..Self::default()
        }
    }
}

fn header_of(envelope: &Envelope) -> aedgate::proto::v1::Header {
    envelope.header.clone().unwrap_or_default()
}

fn digest_ok(envelope: &Envelope) -> bool {
    sha256(&envelope.payload)[..] == header_of(envelope).payload_sha256[..]
}

// ---------------------------------------------------------------------------------------
// The faulty services
// ---------------------------------------------------------------------------------------

struct Faulty {
    fault: Fault,
    forge: Arc<Forge>,
}

impl ServiceFactory for Faulty {
    type Gateway = FaultyGateway;
    type Audit = FaultyAudit;
    fn gateway(&self, standard: GatewayService) -> FaultyGateway {
        FaultyGateway {
            inner: standard,
            fault: Arc::new(self.fault.clone()),
            forge: self.forge.clone(),
        }
    }
    fn audit(&self, standard: AuditService) -> FaultyAudit {
        FaultyAudit {
            inner: standard,
            fault: Arc::new(self.fault.clone()),
        }
    }
    fn serves_reflection(&self) -> bool {
        !self.fault.no_reflection
    }
}

#[derive(Clone)]
struct FaultyGateway {
    inner: GatewayService,
    fault: Arc<Fault>,
    forge: Arc<Forge>,
}

fn peer_of<T>(request: &Request<T>) -> String {
    request
        .extensions()
        .get::<PeerIdentity>()
        .map(|p| p.participant.clone())
        .unwrap_or_default()
}

fn as_peer<T>(request: &mut Request<T>, peer: String) {
    request
        .extensions_mut()
        .insert(PeerIdentity { participant: peer });
}

impl FaultyGateway {
    async fn answer_one(&self, received: Received<Envelope>, peer: &str) -> Answer {
        let envelope = received.message.clone().ok();
        if let (Some(before), Some(envelope)) = (&self.fault.before, &envelope) {
            if let Some(answer) = before(&self.forge, envelope) {
                return answer;
            }
        }
        let peer = match (&envelope, self.fault.trust_header_sender) {
            (Some(e), true) => header_of(e).sender,
            _ => peer.to_owned(),
        };
        let answer = self
            .inner
            .submit_one(received, &peer)
            .await
            .map_err(Status::from);
        match &self.fault.answer {
            Some(change) => change(&self.forge, envelope.as_ref(), answer),
            None => answer,
        }
    }
}

type BoxStream<T> = Pin<Box<dyn futures_util::Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Gateway for FaultyGateway {
    async fn submit(
        &self,
        request: Request<Received<Envelope>>,
    ) -> Result<Response<Receipt>, Status> {
        let peer = peer_of(&request);
        self.answer_one(request.into_inner(), &peer)
            .await
            .map(Response::new)
    }

    type SubmitStreamStream = BoxStream<SubmitResult>;

    async fn submit_stream(
        &self,
        request: Request<Streaming<Received<Envelope>>>,
    ) -> Result<Response<Self::SubmitStreamStream>, Status> {
        let peer = peer_of(&request);
        let mut incoming = request.into_inner();
        let this = self.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            let mut held: Option<SubmitResult> = None;
            let mut index = 0;
            while let Some(Ok(received)) = incoming.next().await {
                let garbage = received.message.is_err();
                if garbage && this.fault.stream == StreamFault::EndAtGarbage {
                    return;
                }
                let result = match this.answer_one(received, &peer).await {
                    Ok(receipt) => submit_result::Result::Receipt(receipt),
                    Err(status) => submit_result::Result::Error(rpc_status(&status)),
                };
                let result = SubmitResult {
                    result: Some(result),
                };
                if this.fault.stream == StreamFault::SwapFirstTwo && index == 0 {
                    held = Some(result);
                } else {
                    // Like the real service: once the client is gone, stop submitting.
                    if tx.send(Ok(result)).await.is_err() {
                        return;
                    }
                    if let Some(first) = held.take() {
                        if tx.send(Ok(first)).await.is_err() {
                            return;
                        }
                    }
                }
                index += 1;
            }
            if let Some(first) = held.take() {
                let _ = tx.send(Ok(first)).await;
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    type FetchStream = BoxStream<Delivery>;

    async fn fetch(
        &self,
        mut request: Request<FetchRequest>,
    ) -> Result<Response<Self::FetchStream>, Status> {
        if let Some(change) = &self.fault.fetch {
            let mut peer = peer_of(&request);
            change(request.get_mut(), &mut peer);
            as_peer(&mut request, peer);
        }
        let stream = self.inner.fetch(request).await?.into_inner();
        let fault = self.fault.clone();
        let forge = self.forge.clone();
        let stream = stream.map(move |item| match (&fault.delivery, item) {
            (Some(change), Ok(delivery)) => Ok(change(&forge, delivery)),
            (_, item) => item,
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn status(
        &self,
        mut request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        if let Some(change) = &self.fault.status_peer {
            let mut peer = peer_of(&request);
            change(&mut peer);
            as_peer(&mut request, peer);
        }
        let answer = self.inner.status(request).await.map(|r| r.into_inner());
        match &self.fault.status_answer {
            Some(change) => change(answer),
            None => answer,
        }
        .map(Response::new)
    }
}

#[derive(Clone)]
struct FaultyAudit {
    inner: AuditService,
    fault: Arc<Fault>,
}

#[tonic::async_trait]
impl Audit for FaultyAudit {
    async fn tree_head(
        &self,
        request: Request<TreeHeadRequest>,
    ) -> Result<Response<SignedTreeHead>, Status> {
        let mut head = self.inner.tree_head(request).await?.into_inner();
        if let Some(change) = &self.fault.tree_head {
            change(&mut head);
        }
        Ok(Response::new(head))
    }

    async fn inclusion_proof(
        &self,
        request: Request<InclusionProofRequest>,
    ) -> Result<Response<InclusionProofResponse>, Status> {
        let answer = self
            .inner
            .inclusion_proof(request)
            .await
            .map(|r| r.into_inner());
        match &self.fault.inclusion {
            Some(change) => change(answer),
            None => answer,
        }
        .map(Response::new)
    }

    async fn consistency_proof(
        &self,
        request: Request<ConsistencyProofRequest>,
    ) -> Result<Response<ConsistencyProofResponse>, Status> {
        let answer = self
            .inner
            .consistency_proof(request)
            .await
            .map(|r| r.into_inner());
        match &self.fault.consistency {
            Some(change) => change(answer),
            None => answer,
        }
        .map(Response::new)
    }
}

// ---------------------------------------------------------------------------------------
// Which fault each check must catch
// ---------------------------------------------------------------------------------------

fn eur(amount_minor: i64) -> Money {
    Money {
        currency: "EUR".into(),
        amount_minor,
    }
}

/// The first charge of `kind` in a list (an outcome's charges or a decision's refunds),
/// for a fault to change.
fn charge_of(charges: &mut [Charge], kind: ChargeType) -> Option<&mut Charge> {
    charges.iter_mut().find(|c| c.r#type == kind as i32)
}

/// Adds to an amount, if there is one.
fn add(amount: &mut Option<Money>, minor: i64) {
    if let Some(m) = amount.as_mut() {
        m.amount_minor += minor;
    }
}

fn flip_first_byte(bytes: &mut Bytes) {
    let mut v = bytes.to_vec();
    if let Some(b) = v.first_mut() {
        *b ^= 0x01;
    }
    *bytes = Bytes::from(v);
}

/// For every check, a gateway that breaks the rule it checks.
fn faults() -> Vec<(&'static str, Fault)> {
    let refused_ids: Arc<Mutex<HashSet<String>>> = Arc::default();
    vec![
        ("ADM-01", Fault::accepts("MALFORMED")),
        ("ADM-02", Fault::accepts("MALFORMED")),
        ("ADM-03", Fault::accepts("MALFORMED")),
        ("ADM-04", Fault::accepts("MALFORMED")),
        ("ADM-05", Fault::accepts("MALFORMED")),
        ("ADM-06", Fault::accepts("MALFORMED")),
        ("ADM-07", Fault::accepts("MALFORMED")),
        (
            "ADM-08",
            Fault {
                trust_header_sender: true,
                ..Fault::default()
            },
        ),
        (
            "ADM-09",
            // Judges the recipient before the sender.
            Fault::answers_instead(
                "SENDER_MISMATCH",
                (Code::InvalidArgument, "UNKNOWN_RECIPIENT"),
                |e| header_of(e).recipient != TARGET,
            ),
        ),
        ("ADM-10", Fault::accepts("UNKNOWN_RECIPIENT")),
        (
            "ADM-11",
            Fault::answers_instead(
                "UNKNOWN_RECIPIENT",
                (Code::InvalidArgument, "PAYLOAD_DIGEST_MISMATCH"),
                |e| !digest_ok(e),
            ),
        ),
        ("ADM-12", Fault::accepts("PAYLOAD_DIGEST_MISMATCH")),
        (
            "ADM-13",
            Fault::answers_instead(
                "PAYLOAD_DIGEST_MISMATCH",
                (Code::Unauthenticated, "UNKNOWN_KEY"),
                |e| {
                    e.signature
                        .as_ref()
                        .is_some_and(|s| s.key_id.contains("no-such-key"))
                },
            ),
        ),
        ("ADM-14", Fault::accepts("UNKNOWN_KEY")),
        ("ADM-15", Fault::accepts("UNKNOWN_KEY")),
        ("ADM-16", Fault::accepts("KEY_NOT_VALID")),
        (
            "ADM-17",
            // Judges the clock before the key window: CLOCK_SKEW for a key long expired.
            Fault::answers_instead(
                "KEY_NOT_VALID",
                (Code::FailedPrecondition, "CLOCK_SKEW"),
                |e| header_of(e).created_at_ms > now_ms(),
            ),
        ),
        ("ADM-18", Fault::accepts("SIGNATURE_INVALID")),
        ("ADM-19", Fault::accepts("SIGNATURE_INVALID")),
        ("ADM-20", Fault::accepts("CLOCK_SKEW")),
        (
            "ADM-21",
            // Checks the clock both ways.
            Fault::before(|_, e| {
                (header_of(e).created_at_ms < now_ms() - 1_800_000)
                    .then(|| Err(refusal(Code::FailedPrecondition, "CLOCK_SKEW")))
            }),
        ),
        ("ADM-22", Fault::accepts("NOT_AUTHORIZED")),
        ("ADM-23", Fault::accepts("NOT_AUTHORIZED")),
        ("ADM-24", Fault::accepts("NOT_AUTHORIZED")),
        ("ADM-25", Fault::accepts("NOT_AUTHORIZED")),
        (
            "ADM-26",
            Fault::answers_instead(
                "NOT_AUTHORIZED",
                (Code::InvalidArgument, "VALIDATION_FAILED"),
                |e| e.payload.starts_with(b"\xff"),
            ),
        ),
        ("ADM-27", Fault::accepts("VALIDATION_FAILED")),
        ("ADM-28", Fault::accepts("MESSAGE_ID_CONFLICT")),
        ("ADM-29", {
            // Keeps the id of a refused envelope, and later refuses the id as used.
            let refused_ids = refused_ids.clone();
            Fault::answer(move |_, envelope, answer| {
                let id = envelope
                    .map(|e| header_of(e).message_id)
                    .unwrap_or_default();
                let mut ids = refused_ids.lock().expect("ids");
                match answer {
                    Err(status) => {
                        ids.insert(id);
                        Err(status)
                    }
                    Ok(_) if ids.contains(&id) => {
                        Err(refusal(Code::AlreadyExists, "MESSAGE_ID_CONFLICT"))
                    }
                    ok => ok,
                }
            })
        }),
        ("RCPT-01", Fault::receipt(|r| r.receiver = "adm/BE".into())),
        (
            "RCPT-02",
            Fault::receipt(|r| flip_first_byte(&mut r.envelope_digest)),
        ),
        (
            "RCPT-03",
            Fault::answer(|_, _, answer| {
                answer.map(|mut r| {
                    if let Some(s) = r.signature.as_mut() {
                        flip_first_byte(&mut s.value);
                    }
                    r
                })
            }),
        ),
        (
            "RCPT-04",
            Fault::receipt(|r| {
                if r.disposition == Disposition::Duplicate as i32 {
                    r.disposition = Disposition::Accepted as i32;
                }
            }),
        ),
        ("VAL-01", Fault::drops_violation("lrn")),
        ("VAL-02", Fault::accepts("VALIDATION_FAILED")),
        ("VAL-03", Fault::drops_violation("buyer.postcode")),
        ("VAL-04", Fault::drops_violation("transport.mode")),
        ("VAL-05", Fault::drops_violation("country_of_destination")),
        ("VAL-06", Fault::drops_violation("items[0].mass_g")),
        ("VAL-07", Fault::drops_violation("revenue.ioss_number")),
        ("VAL-08", Fault::drops_violation("items[0].description")),
        ("VAL-09", Fault::drops_violation("items[0].hs_code")),
        ("VAL-10", Fault::drops_violation("items[1].value.currency")),
        (
            "STRM-01",
            Fault {
                stream: StreamFault::SwapFirstTwo,
                ..Fault::default()
            },
        ),
        (
            "STRM-02",
            Fault {
                stream: StreamFault::EndAtGarbage,
                ..Fault::default()
            },
        ),
        (
            "LIFE-01",
            Fault::outcome_code(
                OutcomeCode::AssessmentComplete,
                OutcomeCode::ControlOnArrival,
            ),
        ),
        (
            "LIFE-02",
            Fault::outcome(|o| {
                if o.code == OutcomeCode::RequestForInformation as i32 {
                    o.pointer.clear();
                }
            }),
        ),
        (
            "LIFE-03",
            Fault::outcome_code(
                OutcomeCode::RequestForScreening,
                OutcomeCode::RequestForInformation,
            ),
        ),
        (
            "LIFE-04",
            Fault::outcome_code(
                OutcomeCode::ControlOnArrival,
                OutcomeCode::AssessmentComplete,
            ),
        ),
        (
            "LIFE-05",
            Fault::outcome_code(OutcomeCode::DoNotLoad, OutcomeCode::RequestForScreening),
        ),
        ("LIFE-06", Fault::later_outcomes_get_a_new_mrn()),
        (
            "LIFE-07",
            Fault::outcome_code(
                OutcomeCode::ControlOnArrival,
                OutcomeCode::AssessmentComplete,
            ),
        ),
        (
            "LIFE-08",
            Fault::outcome_code(OutcomeCode::DoNotLoad, OutcomeCode::ControlOnArrival),
        ),
        ("LIFE-09", Fault::accepts("REFERRAL_NOT_OPEN")),
        ("LIFE-10", Fault::accepts("UNKNOWN_REFERRAL")),
        ("LIFE-11", Fault::later_outcomes_get_a_new_mrn()),
        (
            "LIFE-12",
            Fault::status_answer(|answer| {
                answer.map(|mut s| {
                    if s.state == DeclarationState::Invalidated as i32 {
                        s.state = DeclarationState::Cleared as i32;
                    }
                    s
                })
            }),
        ),
        ("LIFE-13", Fault::accepts("DECLARATION_CLOSED")),
        ("LIFE-14", Fault::accepts("DECLARATION_CLOSED")),
        ("LIFE-15", Fault::accepts("UNKNOWN_DECLARATION")),
        (
            "LIFE-16",
            // A higher version is acknowledged but the first stays in force.
            Fault::before(|forge, e| {
                let h = header_of(e);
                let replaces = h.r#type == MessageType::RiskIndicator as i32
                    && aedgate::proto::v1::RiskIndicator::decode(e.payload.clone())
                        .is_ok_and(|i| i.version > 1);
                replaces.then(|| Ok(forge.receipt(Some(e), Disposition::Accepted)))
            }),
        ),
        (
            "LIFE-17",
            Fault::before(|forge, e| {
                (header_of(e).r#type == MessageType::RiskIndicatorRevocation as i32)
                    .then(|| Ok(forge.receipt(Some(e), Disposition::Accepted)))
            }),
        ),
        (
            "REV-01",
            // A duty a minor unit off.
            Fault::outcome(|o| {
                if let Some(duty) = charge_of(&mut o.charges, ChargeType::CustomsDuty) {
                    add(&mut duty.amount, 1);
                }
            }),
        ),
        (
            "REV-02",
            // The handling fee charged above the threshold too.
            Fault::outcome(|o| {
                if !o.charges.is_empty()
                    && charge_of(&mut o.charges, ChargeType::HandlingFee).is_none()
                {
                    o.charges.push(Charge {
                        r#type: ChargeType::HandlingFee as i32,
                        amount: Some(eur(200)),
                        collected_at_sale: false,
                        basis: "per consignment".into(),
                    });
                    add(&mut o.total_due, 200);
                }
            }),
        ),
        (
            "REV-03",
            // IOSS ignored: the VAT collected at sale is charged again at the border.
            Fault::outcome(|o| {
                let mut again = 0;
                if let Some(vat) = charge_of(&mut o.charges, ChargeType::ImportVat) {
                    if vat.collected_at_sale {
                        vat.collected_at_sale = false;
                        again = vat.amount.as_ref().map_or(0, |m| m.amount_minor);
                    }
                }
                add(&mut o.total_due, again);
            }),
        ),
        (
            "REV-04",
            // Charges on a referral.
            Fault::outcome(|o| {
                if o.code == OutcomeCode::RequestForInformation as i32 {
                    o.charges = vec![Charge {
                        r#type: ChargeType::HandlingFee as i32,
                        amount: Some(eur(200)),
                        collected_at_sale: false,
                        basis: String::new(),
                    }];
                    o.total_due = Some(eur(200));
                }
            }),
        ),
        (
            "REV-05",
            // Charges dropped from CONTROL_ON_ARRIVAL.
            Fault::outcome(|o| {
                if o.code == OutcomeCode::ControlOnArrival as i32 {
                    o.charges.clear();
                    o.total_due = None;
                }
            }),
        ),
        ("REV-06", Fault::drops_violation("items[1].value.currency")),
        ("REV-07", Fault::pointer("revenue.ioss_number", "revenue")),
        (
            "REV-08",
            // R2 never raised: IOSS taken at its word above the threshold.
            Fault::outcome(|o| {
                if o.code == OutcomeCode::RequestForInformation as i32
                    && o.pointer == "revenue.ioss_number"
                {
                    o.code = OutcomeCode::AssessmentComplete as i32;
                    o.pointer.clear();
                    o.referral_id.clear();
                    o.request_text.clear();
                }
            }),
        ),
        (
            "REV-09",
            Fault::pointer(
                "revenue.tax_collected",
                "revenue.tax_collected.amount_minor",
            ),
        ),
        ("REV-10", Fault::pointer("items[1].value", "items[0].value")),
        ("REV-11", Fault::pointer("buyer.name", "buyer")),
        (
            "RET-01",
            // A decision whose signature does not verify.
            Fault::delivery(|_, mut d| {
                if let Some(envelope) = d.envelope.as_mut() {
                    let decision = header_of(envelope).r#type == MessageType::RefundDecision as i32;
                    if let (true, Some(signature)) = (decision, envelope.signature.as_mut()) {
                        flip_first_byte(&mut signature.value);
                    }
                }
                d
            }),
        ),
        (
            "RET-02",
            // A VAT refund a minor unit off.
            Fault::refund_decision(|d| {
                if let Some(vat) = charge_of(&mut d.refunds, ChargeType::ImportVat) {
                    add(&mut vat.amount, 1);
                }
            }),
        ),
        (
            "RET-03",
            Fault::status_answer(|answer| {
                answer.map(|mut s| {
                    if s.state == DeclarationState::PartlyReturned as i32 {
                        s.state = DeclarationState::Cleared as i32;
                    }
                    s
                })
            }),
        ),
        (
            "RET-04",
            // The VAT the seller refunds under IOSS paid out at the border as well.
            Fault::refund_decision(|d| {
                let mut again = 0;
                if let Some(vat) = charge_of(&mut d.refunds, ChargeType::ImportVat) {
                    if vat.collected_at_sale {
                        vat.collected_at_sale = false;
                        again = vat.amount.as_ref().map_or(0, |m| m.amount_minor);
                    }
                }
                add(&mut d.total_refund, again);
            }),
        ),
        ("RET-05", Fault::accepts("UNKNOWN_DECLARATION")),
        (
            "RET-06",
            // Another partner's declaration refused as NOT_AUTHORIZED, which tells the
            // partner that it exists.
            Fault::answers_instead(
                "UNKNOWN_DECLARATION",
                (Code::PermissionDenied, "NOT_AUTHORIZED"),
                |e| header_of(e).r#type == MessageType::ReturnNotice as i32,
            ),
        ),
        ("RET-07", Fault::accepts("NOT_RELEASED")),
        ("RET-08", Fault::accepts("RETURN_PERIOD_EXPIRED")),
        ("RET-09", Fault::drops_violation("lines[1].quantity")),
        ("RET-10", Fault::accepts("DECLARATION_CLOSED")),
        ("RET-11", Fault::drops_violation("lines[1].item")),
        (
            "FETCH-01",
            Fault::delivery(|_, mut d| {
                d.seq += d.seq % 2;
                d
            }),
        ),
        (
            "FETCH-02",
            Fault::fetch(|request, _| {
                if !request.follow && request.after_seq > 0 {
                    request.after_seq -= 1;
                }
            }),
        ),
        (
            "FETCH-03",
            // Answers what is stored and ends: never live.
            Fault::fetch(|request, _| request.follow = false),
        ),
        (
            "FETCH-04",
            Fault::fetch(|_, peer| {
                if peer == PARTNER {
                    *peer = INTERNAL.into();
                }
            }),
        ),
        (
            "FETCH-05",
            Fault::fetch(|_, peer| {
                if peer == INTERNAL {
                    *peer = PARTNER.into();
                }
            }),
        ),
        (
            "STAT-01",
            Fault::status_peer(|peer| {
                if peer == INTERNAL {
                    *peer = "ptr/NL/nobody".into();
                }
            }),
        ),
        (
            "STAT-02",
            Fault::status_peer(|peer| *peer = INTERNAL.into()),
        ),
        (
            "STAT-03",
            Fault::status_answer(|answer| match answer {
                Err(status) if status.code() == Code::NotFound => Ok(StatusResponse::default()),
                other => other,
            }),
        ),
        (
            "AUD-01",
            Fault {
                tree_head: Some(Arc::new(|head| flip_first_byte(&mut head.root_hash))),
                ..Fault::default()
            },
        ),
        (
            "AUD-02",
            Fault {
                inclusion: Some(Arc::new(|answer| {
                    answer.map(|mut p| {
                        if let Some(first) = p.audit_path.first_mut() {
                            flip_first_byte(first);
                        }
                        p
                    })
                })),
                ..Fault::default()
            },
        ),
        (
            "AUD-03",
            Fault {
                consistency: Some(Arc::new(|answer| {
                    answer.map(|mut p| {
                        p.proof.pop();
                        p
                    })
                })),
                ..Fault::default()
            },
        ),
        (
            "AUD-04",
            Fault {
                inclusion: Some(Arc::new(|answer| {
                    answer.or_else(|_| Ok(InclusionProofResponse::default()))
                })),
                ..Fault::default()
            },
        ),
        (
            "AUD-05",
            Fault {
                consistency: Some(Arc::new(|answer| {
                    answer.or_else(|_| Ok(ConsistencyProofResponse::default()))
                })),
                ..Fault::default()
            },
        ),
        (
            "OPS-01",
            Fault {
                not_serving: Some(""),
                ..Fault::default()
            },
        ),
        (
            "OPS-02",
            Fault {
                no_reflection: true,
                ..Fault::default()
            },
        ),
        (
            "OPS-03",
            Fault {
                not_serving: Some("aedgate.v1.Audit"),
                ..Fault::default()
            },
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// A faulty gateway on a store of its own (so that nothing one leaves behind can touch
/// the next).
async fn start_faulty(fed: &Federation, id: &str, fault: Fault) -> RunningGateway {
    let forge = Arc::new(Forge {
        key: fed.signing_key(TARGET),
        key_id: fed.key_id(TARGET),
    });
    let not_serving = fault.not_serving;
    let mut config = fed.gateway_config(TARGET);
    config.data_dir = fed.path().join(format!("data-{id}"));
    let gateway = aedgate::server::start_with(config, Faulty { fault, forge })
        .await
        .expect("start faulty gateway");
    if let Some(service) = not_serving {
        gateway
            .health()
            .set_service_status(service, tonic_health::ServingStatus::NotServing)
            .await;
    }
    gateway
}

async fn run_kit(fed: &Federation, gateway: &RunningGateway, only: &[&str]) -> conformance::Report {
    let profile = Profile::load(fed.path()).expect("profile written by pki init");
    let selection = Selection {
        only: only.iter().map(|s| s.to_string()).collect(),
        skip: vec![],
    };
    conformance::run(
        profile,
        &gateway.local_addr().to_string(),
        &selection,
        |_| {},
    )
    .await
    .expect("kit connects")
}

#[test]
fn every_check_has_a_fault_that_must_make_it_fail() {
    let checks: Vec<&str> = conformance::checks::all().iter().map(|c| c.id).collect();
    let faulted: Vec<&str> = faults().iter().map(|(id, _)| *id).collect();
    assert_eq!(checks, faulted, "faults() must list every check, in order");
    assert!(checks.len() >= 50, "{} checks", checks.len());
}

/// Whether a check is about revenue (§11) or returns (§12), which only a target with a
/// revenue policy can pass.
fn needs_revenue(id: &str) -> bool {
    conformance::checks::all()
        .iter()
        .any(|c| c.id == id && c.needs.contains(&Need::Revenue))
}

/// The results of a run that did not pass, one line each.
fn not_passed(
    report: &conformance::Report,
    expected: impl Fn(&conformance::CheckResult) -> bool,
) -> Vec<String> {
    report
        .results
        .iter()
        .filter(|r| !expected(r))
        .map(|r| format!("{} {:?}: {}", r.id, r.verdict, r.reason))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_passes_against_aedgate_and_revenue_checks_skip_without_a_policy() {
    let fed = Federation::standard();
    let gateway = fed.start(TARGET).await;
    let report = run_kit(&fed, &gateway, &[]).await;
    // Without revenue, pki init's profile names no policy: §11 and §12 are skipped, saying
    // why, and everything else passes.
    let unexpected = not_passed(&report, |r| {
        if needs_revenue(&r.id) {
            r.verdict == Verdict::Skip && r.reason == "the profile names no revenue policy (§11)"
        } else {
            r.verdict == Verdict::Pass
        }
    });
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    assert_eq!(report.results.len(), conformance::checks::all().len());
    assert!(
        report
            .results
            .iter()
            .filter(|r| needs_revenue(&r.id))
            .count()
            >= 20
    );
    gateway.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_passes_against_aedgate_with_revenue() {
    let fed = Federation::with_revenue();
    let gateway = fed.start(TARGET).await;
    let report = run_kit(&fed, &gateway, &[]).await;
    let unexpected = not_passed(&report, |r| r.verdict == Verdict::Pass);
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    assert_eq!(report.results.len(), conformance::checks::all().len());
    // A second run against the same gateway: fresh LRNs and buyers, so R5 and the LRN rule
    // see nothing of the first.
    let again = run_kit(&fed, &gateway, &["REV", "RET"]).await;
    let unexpected = not_passed(&again, |r| r.verdict == Verdict::Pass);
    assert!(unexpected.is_empty(), "second run: {unexpected:#?}");
    gateway.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_fails_against_a_gateway_that_breaks_its_rule() {
    // The revenue and return checks against a target that charges; the others against the
    // standard federation, as they always were.
    let standard = Federation::standard();
    let charging = Federation::with_revenue();
    let mut passed_anyway = Vec::new();
    for (id, fault) in faults() {
        let fed = if needs_revenue(id) {
            &charging
        } else {
            &standard
        };
        let gateway = start_faulty(fed, id, fault).await;
        let report = run_kit(fed, &gateway, &[id]).await;
        let result = report
            .results
            .iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("{id} did not run"));
        // Caught by the rule itself, not by waiting out a limit.
        if result.verdict != Verdict::Fail || result.reason.contains("within") {
            passed_anyway.push(format!("{id} {:?} {}", result.verdict, result.reason));
        }
        println!("{id}: {}", result.reason);
        gateway.shutdown().await.expect("shutdown");
    }
    assert!(
        passed_anyway.is_empty(),
        "checks that did not catch their fault (or only by a timeout): {passed_anyway:#?}"
    );
}

async fn aedgate(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_aedgate"))
        .args(args)
        .output()
        .await
        .expect("run aedgate")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_selects_checks_writes_json_and_junit_and_exits_by_the_result() {
    let fed = Federation::standard();
    let gateway = fed.start(TARGET).await;
    let address = gateway.local_addr().to_string();
    let profile = fed.path().to_string_lossy().to_string();
    let json = fed.file("report.json");
    let junit = fed.file("report.xml");
    let output = aedgate(&[
        "conformance",
        "--target",
        &address,
        "--profile",
        &profile,
        "--only",
        "adm-0,RCPT-01",
        "--skip",
        "ADM-08",
        "--json",
        &json.to_string_lossy(),
        "--junit",
        &junit.to_string_lossy(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("9 checks: 9 passed, 0 failed, 0 advisory failed, 0 skipped"),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json written")).expect("json");
    let ids: Vec<&str> = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        [
            "ADM-01", "ADM-02", "ADM-03", "ADM-04", "ADM-05", "ADM-06", "ADM-07", "ADM-09",
            "RCPT-01"
        ]
    );
    assert!(report["results"]
        .as_array()
        .expect("results")
        .iter()
        .all(|r| r["verdict"] == "pass"));
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert!(xml.contains("<testsuite name=\"ADM\" tests=\"8\""), "{xml}");
    assert!(
        xml.contains("<testsuite name=\"RCPT\" tests=\"1\""),
        "{xml}"
    );

    // A gateway that trusts the header's sender: ADM-08 fails, and so does the run.
    let faulty = start_faulty(
        &fed,
        "cli",
        Fault {
            trust_header_sender: true,
            ..Fault::default()
        },
    )
    .await;
    let output = aedgate(&[
        "conformance",
        "--target",
        &faulty.local_addr().to_string(),
        "--profile",
        &profile,
        "--only",
        "ADM-08",
    ])
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("ADM-08") && stdout.contains("FAIL"),
        "{stdout}"
    );
    assert!(stdout.contains("1 checks: 0 passed, 1 failed"), "{stdout}");

    // A selection that names no check is refused, not run as an empty (passing) run.
    let output = aedgate(&[
        "conformance",
        "--target",
        &address,
        "--profile",
        &profile,
        "--only",
        "NOPE",
    ])
    .await;
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("NOPE"));
    faulty.shutdown().await.expect("shutdown");
    gateway.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_that_panics_is_one_failure_and_the_run_goes_on() {
    let fed = Federation::standard();
    let gateway = fed.start(TARGET).await;
    let panicking = conformance::Check {
        id: "TEST-01",
        name: "panics",
        section: "-",
        basis: conformance::Basis::Contract,
        needs: &[],
        run: |_| Box::pin(async { panic!("an answer nobody foresaw") }),
    };
    let mut checks = vec![panicking];
    checks.extend(
        conformance::checks::all()
            .into_iter()
            .filter(|c| c.id == "OPS-01"),
    );
    let profile = Profile::load(fed.path()).expect("profile");
    let report =
        conformance::run_checks(profile, &gateway.local_addr().to_string(), checks, |_| {})
            .await
            .expect("kit connects");
    assert_eq!(report.results[0].verdict, Verdict::Fail);
    assert!(
        report.results[0].reason.contains("panicked"),
        "{}",
        report.results[0].reason
    );
    assert_eq!(report.results[1].id, "OPS-01");
    assert_eq!(report.results[1].verdict, Verdict::Pass);
    gateway.shutdown().await.expect("shutdown");
}
