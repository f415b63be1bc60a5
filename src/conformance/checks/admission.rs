//! §3's admission table, row by row and in order, and §5's sender roles: each check seals
//! a valid declaration and breaks exactly the field under test (or two fields, to see
//! which check comes first).

use crate::clock::now_ms;
use crate::conformance::kit::{fail, Case, Stop};
use crate::core::crypto::{generate_ed25519_pkcs8, SigningKey};
use crate::core::envelope::{seal, Draft};
use crate::core::risk::seller_indicator;
use crate::core::trust::KeyLookup;
use crate::proto::v1::{
    AdvanceDeclaration, Envelope, FetchRequest, MessageType, OutcomeCode, Receipt, RiskIndicator,
    Tlp,
};
use crate::render::refusal_line;
use bytes::Bytes;
use prost::Message;
use tonic::Code;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Bytes sent as they are, as the body of a gRPC message: how the kit sends what is not an
/// `Envelope` at all.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct RawBytes(pub Bytes);

impl Message for RawBytes {
    fn encode_raw(&self, buf: &mut impl bytes::BufMut) {
        buf.put_slice(&self.0);
    }
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: prost::encoding::WireType,
        buf: &mut impl bytes::Buf,
        ctx: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        prost::encoding::skip_field(wire_type, tag, buf, ctx)
    }
    fn encoded_len(&self) -> usize {
        self.0.len()
    }
    fn clear(&mut self) {
        self.0 = Bytes::new();
    }
}

/// Sends `body` to `Gateway/Submit` as the partner, whatever it is.
pub(super) async fn submit_raw(case: &Case, body: Bytes) -> Result<Receipt, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(case.partner().channel());
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(format!("channel not ready: {e}")))?;
    grpc.unary(
        tonic::Request::new(RawBytes(body)),
        http::uri::PathAndQuery::from_static("/aedgate.v1.Gateway/Submit"),
        crate::wire::WireCodec::<RawBytes, Receipt>::default(),
    )
    .await
    .map(|r| r.into_inner())
}

fn draft(case: &Case) -> Draft {
    case.declaration_draft(&case.declaration())
}

fn sign(case: &Case, draft: Draft) -> Envelope {
    case.partner().sign(draft)
}

fn header(envelope: &mut Envelope) -> &mut crate::proto::v1::Header {
    envelope.header.get_or_insert_with(Default::default)
}

/// Another administration of the federation, else an id no gateway has.
fn other_administration(case: &Case) -> String {
    case.partner()
        .trust()
        .document()
        .participants
        .iter()
        .find(|p| {
            p.id.starts_with("adm/") && p.id.matches('/').count() == 1 && p.id != case.kit().target
        })
        .map(|p| p.id.clone())
        .unwrap_or_else(|| "adm/ZZ".into())
}

/// The window of the partner's signing key, in Unix milliseconds.
fn key_window(case: &Case) -> Result<(i64, i64), Stop> {
    let partner = case.partner();
    match partner
        .trust()
        .key_for(&partner.id, partner.key_id(), now_ms())
    {
        KeyLookup::Valid(key) => Ok((key.not_before_ms, key.not_after_ms)),
        _ => Err(Stop::Skip(format!(
            "the partner's key {} is not valid now in the trust list",
            partner.key_id()
        ))),
    }
}

fn tamper_payload(envelope: &mut Envelope) {
    let mut payload = envelope.payload.to_vec();
    payload.extend_from_slice(b"\x52\x00");
    envelope.payload = Bytes::from(payload);
}

async fn refused(case: &Case, envelope: Envelope, code: Code, reason: &str) -> Result<(), Stop> {
    case.expect_refused(case.submit(envelope).await, code, reason)?;
    Ok(())
}

pub(super) async fn header_missing(case: Case) -> Result<(), Stop> {
    let mut envelope = sign(&case, draft(&case));
    envelope.header = None;
    refused(&case, envelope, Code::InvalidArgument, "MALFORMED").await
}

pub(super) async fn message_id_not_canonical(case: Case) -> Result<(), Stop> {
    let mut d = draft(&case);
    d.message_id = d.message_id.to_uppercase();
    refused(&case, sign(&case, d), Code::InvalidArgument, "MALFORMED").await
}

pub(super) async fn digest_length(case: Case) -> Result<(), Stop> {
    let mut envelope = sign(&case, draft(&case));
    let h = header(&mut envelope);
    h.payload_sha256 = h.payload_sha256.slice(..31);
    refused(&case, envelope, Code::InvalidArgument, "MALFORMED").await
}

pub(super) async fn payload_over_limit(case: Case) -> Result<(), Stop> {
    let mut d = draft(&case);
    // Valid protobuf (an unknown field 15, length-delimited, which decoders skip), so only
    // the size is wrong.
    let limit = case.kit().max_payload_bytes;
    let mut payload = case.declaration().encode_to_vec();
    let room = (limit + 1).saturating_sub(payload.len() + 1);
    let filler = (1..=10)
        .map(|len| room.saturating_sub(len))
        .find(|&filler| prost::encoding::encoded_len_varint(filler as u64) + filler == room)
        .ok_or_else(|| Stop::Skip(format!("cannot pad a declaration to {} bytes", limit + 1)))?;
    prost::encoding::bytes::encode(15, &vec![b'x'; filler], &mut payload);
    if payload.len() != limit + 1 {
        return Err(Stop::Skip(format!(
            "padded payload is {} bytes, not {}",
            payload.len(),
            limit + 1
        )));
    }
    d.payload = Bytes::from(payload);
    refused(&case, sign(&case, d), Code::InvalidArgument, "MALFORMED").await
}

pub(super) async fn signature_missing(case: Case) -> Result<(), Stop> {
    let mut envelope = sign(&case, draft(&case));
    envelope.signature = None;
    refused(&case, envelope, Code::InvalidArgument, "MALFORMED").await
}

pub(super) async fn type_unspecified(case: Case) -> Result<(), Stop> {
    let mut d = draft(&case);
    d.message_type = MessageType::Unspecified as i32;
    refused(&case, sign(&case, d), Code::InvalidArgument, "MALFORMED").await
}

pub(super) async fn not_protobuf(case: Case) -> Result<(), Stop> {
    // Field 1 as a varint where Envelope has a message: not an Envelope.
    let body = FetchRequest {
        after_seq: 5,
        follow: false,
    }
    .encode_to_vec();
    case.expect_refused(
        submit_raw(&case, Bytes::from(body)).await,
        Code::InvalidArgument,
        "MALFORMED",
    )?;
    Ok(())
}

pub(super) async fn spoofed_sender(case: Case) -> Result<(), Stop> {
    let mut d = draft(&case);
    d.sender = case.kit().target.clone();
    refused(
        &case,
        sign(&case, d),
        Code::PermissionDenied,
        "SENDER_MISMATCH",
    )
    .await
}

pub(super) async fn sender_checked_first(case: Case) -> Result<(), Stop> {
    let mut d = draft(&case);
    d.sender = case.kit().target.clone();
    d.recipient = other_administration(&case);
    let mut envelope = sign(&case, d);
    tamper_payload(&mut envelope);
    if let Some(signature) = envelope.signature.as_mut() {
        signature.value = Bytes::from(vec![0u8; 64]);
    }
    refused(&case, envelope, Code::PermissionDenied, "SENDER_MISMATCH").await
}

pub(super) async fn unknown_recipient(case: Case) -> Result<(), Stop> {
    let mut d = draft(&case);
    d.recipient = other_administration(&case);
    refused(
        &case,
        sign(&case, d),
        Code::InvalidArgument,
        "UNKNOWN_RECIPIENT",
    )
    .await
}

pub(super) async fn recipient_before_digest(case: Case) -> Result<(), Stop> {
    let mut d = draft(&case);
    d.recipient = other_administration(&case);
    let mut envelope = sign(&case, d);
    tamper_payload(&mut envelope);
    refused(&case, envelope, Code::InvalidArgument, "UNKNOWN_RECIPIENT").await
}

pub(super) async fn digest_mismatch(case: Case) -> Result<(), Stop> {
    let mut envelope = sign(&case, draft(&case));
    tamper_payload(&mut envelope);
    refused(
        &case,
        envelope,
        Code::InvalidArgument,
        "PAYLOAD_DIGEST_MISMATCH",
    )
    .await
}

pub(super) async fn digest_before_key(case: Case) -> Result<(), Stop> {
    let mut envelope = sign(&case, draft(&case));
    tamper_payload(&mut envelope);
    if let Some(signature) = envelope.signature.as_mut() {
        signature.key_id = format!("{}#conformance-no-such-key", case.partner().id);
    }
    refused(
        &case,
        envelope,
        Code::InvalidArgument,
        "PAYLOAD_DIGEST_MISMATCH",
    )
    .await
}

pub(super) async fn unknown_key(case: Case) -> Result<(), Stop> {
    let partner = case.partner();
    let envelope = seal(
        draft(&case),
        &fresh_key()?,
        &format!("{}#conformance-no-such-key", partner.id),
    );
    refused(&case, envelope, Code::Unauthenticated, "UNKNOWN_KEY").await
}

pub(super) async fn foreign_key(case: Case) -> Result<(), Stop> {
    // The partner's own signature, labelled with a key id of the administration.
    let target = &case.kit().target;
    let Some(foreign) = case
        .partner()
        .trust()
        .participant(target)
        .and_then(|p| p.signing_keys.first())
        .map(|k| k.key_id.clone())
    else {
        return Err(Stop::Skip(format!(
            "{target} has no signing key in the trust list"
        )));
    };
    let envelope = case.partner().sign(draft(&case));
    let envelope = relabel(envelope, &foreign);
    refused(&case, envelope, Code::Unauthenticated, "UNKNOWN_KEY").await
}

fn relabel(mut envelope: Envelope, key_id: &str) -> Envelope {
    if let Some(signature) = envelope.signature.as_mut() {
        signature.key_id = key_id.to_owned();
    }
    envelope
}

fn fresh_key() -> Result<SigningKey, Stop> {
    generate_ed25519_pkcs8()
        .and_then(|der| SigningKey::from_pkcs8_der(&der))
        .map_err(|e| Stop::Fail(format!("cannot make a test key: {e}")))
}

pub(super) async fn before_key_window(case: Case) -> Result<(), Stop> {
    let (not_before, _) = key_window(&case)?;
    let mut d = draft(&case);
    d.created_at_ms = not_before - DAY_MS;
    refused(
        &case,
        sign(&case, d),
        Code::Unauthenticated,
        "KEY_NOT_VALID",
    )
    .await
}

pub(super) async fn after_key_window(case: Case) -> Result<(), Stop> {
    let (_, not_after) = key_window(&case)?;
    let mut d = draft(&case);
    d.created_at_ms = not_after.saturating_add(DAY_MS);
    refused(
        &case,
        sign(&case, d),
        Code::Unauthenticated,
        "KEY_NOT_VALID",
    )
    .await
}

pub(super) async fn wrong_key(case: Case) -> Result<(), Stop> {
    let envelope = seal(draft(&case), &fresh_key()?, case.partner().key_id());
    refused(&case, envelope, Code::Unauthenticated, "SIGNATURE_INVALID").await
}

pub(super) async fn header_altered(case: Case) -> Result<(), Stop> {
    let mut envelope = sign(&case, draft(&case));
    header(&mut envelope).created_at_ms -= 1;
    refused(&case, envelope, Code::Unauthenticated, "SIGNATURE_INVALID").await
}

pub(super) async fn clock_skew(case: Case) -> Result<(), Stop> {
    let (_, not_after) = key_window(&case)?;
    let mut d = draft(&case);
    d.created_at_ms = now_ms() + HOUR_MS;
    if d.created_at_ms > not_after {
        return Err(Stop::Skip(
            "the partner's key expires within the hour".into(),
        ));
    }
    refused(
        &case,
        sign(&case, d),
        Code::FailedPrecondition,
        "CLOCK_SKEW",
    )
    .await
}

pub(super) async fn old_message_accepted(case: Case) -> Result<(), Stop> {
    let (not_before, _) = key_window(&case)?;
    let mut d = draft(&case);
    d.created_at_ms = now_ms() - HOUR_MS;
    if d.created_at_ms < not_before {
        return Err(Stop::Skip(
            "the partner's key is less than an hour old".into(),
        ));
    }
    let envelope = sign(&case, d);
    case.expect_accepted(
        case.partner(),
        &envelope,
        case.submit(envelope.clone()).await,
    )?;
    Ok(())
}

fn indicator(case: &Case) -> RiskIndicator {
    let id = format!("conformance-{}-forged", case.kit().run_id);
    RiskIndicator {
        title: "Forged by a partner".into(),
        rationale: "A partner may not publish risk intelligence".into(),
        tlp: Tlp::Red as i32,
        valid_until_ms: now_ms() + HOUR_MS,
        ..seller_indicator(&id, &case.seller_id(), OutcomeCode::DoNotLoad)
    }
}

pub(super) async fn partner_sends_indicator(case: Case) -> Result<(), Stop> {
    let d = case.draft_from(
        case.partner(),
        MessageType::RiskIndicator,
        Bytes::from(indicator(&case).encode_to_vec()),
        "",
    );
    refused(
        &case,
        sign(&case, d),
        Code::PermissionDenied,
        "NOT_AUTHORIZED",
    )
    .await
}

pub(super) async fn partner_sends_administration_types(case: Case) -> Result<(), Stop> {
    let outcome = crate::proto::v1::Outcome {
        declaration_id: uuid::Uuid::now_v7().hyphenated().to_string(),
        lrn: case.lrn(),
        mrn: "26NL0000000000001A".into(),
        code: OutcomeCode::AssessmentComplete as i32,
        decided_at_ms: now_ms(),
        ..Default::default()
    };
    let forwarded = sign(&case, draft(&case)).encode_to_vec();
    for (message_type, payload) in [
        (MessageType::Outcome, outcome.encode_to_vec()),
        (MessageType::ForwardedDeclaration, forwarded),
    ] {
        let d = case.draft_from(case.partner(), message_type, Bytes::from(payload), "");
        case.expect_refused(
            case.submit(sign(&case, d)).await,
            Code::PermissionDenied,
            "NOT_AUTHORIZED",
        )
        .map_err(|stop| stop.context(message_type.as_str_name()))?;
    }
    Ok(())
}

pub(super) async fn internal_sends_declaration(case: Case) -> Result<(), Stop> {
    let internal = case.internal()?;
    let d = case.draft_from(
        internal,
        MessageType::Declaration,
        Bytes::from(case.declaration().encode_to_vec()),
        "",
    );
    let envelope = internal.sign(d);
    case.expect_refused(
        case.submit_as(internal, envelope).await,
        Code::PermissionDenied,
        "NOT_AUTHORIZED",
    )?;
    Ok(())
}

pub(super) async fn unregistered_partner(case: Case) -> Result<(), Stop> {
    let outsider = case.unregistered_partner()?;
    let mut declaration = case.declaration();
    declaration.platform_id = outsider.id.clone();
    let d = case.draft_from(
        outsider,
        MessageType::Declaration,
        Bytes::from(declaration.encode_to_vec()),
        "",
    );
    let envelope = outsider.sign(d);
    case.expect_refused(
        case.submit_as(outsider, envelope).await,
        Code::PermissionDenied,
        "NOT_AUTHORIZED",
    )?;
    Ok(())
}

pub(super) async fn authorization_before_validation(case: Case) -> Result<(), Stop> {
    let d = case.draft_from(
        case.partner(),
        MessageType::RiskIndicator,
        Bytes::from_static(b"\xff\xff\xff"),
        "",
    );
    refused(
        &case,
        sign(&case, d),
        Code::PermissionDenied,
        "NOT_AUTHORIZED",
    )
    .await
}

pub(super) async fn undecodable_payload(case: Case) -> Result<(), Stop> {
    let mut d = draft(&case);
    d.payload = Bytes::from_static(b"\xff\xff\xff");
    refused(
        &case,
        sign(&case, d),
        Code::InvalidArgument,
        "VALIDATION_FAILED",
    )
    .await
}

pub(super) async fn conflicting_replay(case: Case) -> Result<(), Stop> {
    let (first, _) = case.file(&case.declaration()).await?;
    let mut d = case.declaration_draft(&case.declaration());
    d.message_id = first
        .header
        .as_ref()
        .map(|h| h.message_id.clone())
        .unwrap_or_default();
    refused(
        &case,
        sign(&case, d),
        Code::AlreadyExists,
        "MESSAGE_ID_CONFLICT",
    )
    .await
}

pub(super) async fn rejection_stores_nothing(case: Case) -> Result<(), Stop> {
    let declaration: AdvanceDeclaration = case.declaration();
    let d = case.declaration_draft(&declaration);
    let valid = sign(&case, d.clone());
    let mut broken = valid.clone();
    tamper_payload(&mut broken);
    refused(
        &case,
        broken,
        Code::InvalidArgument,
        "PAYLOAD_DIGEST_MISMATCH",
    )
    .await?;
    // Nothing of it may be on file: a Status of its id is refused.
    let refused_id = crate::conformance::kit::message_id(&valid);
    if let Ok(found) = case.status_as(case.partner(), &refused_id).await {
        return fail(format!(
            "the refused declaration {refused_id} is on file: {found:?}"
        ));
    }
    // The same message id and LRN, now intact: nothing of the refused one may stand in the way.
    match case.submit(valid.clone()).await {
        Ok(receipt) => {
            case.expect_accepted(case.partner(), &valid, Ok(receipt))
                .map_err(|stop| stop.context("after the refusal, the intact envelope with the same id"))?;
            Ok(())
        }
        Err(status) => fail(format!(
            "after a refused envelope, the intact envelope with the same message id and LRN was refused: {}",
            refusal_line(&status)
        )),
    }
}
