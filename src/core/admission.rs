//! The receiver's checks of §3, in the contract's order, as one pure function.
//!
//! The order matters to conformance suites (an envelope that is both spoofed and badly
//! signed must be reported as SENDER_MISMATCH), so it lives in exactly one place. The
//! last row of the table, message-id reuse, needs the store and is decided there, inside
//! the same transaction that records the envelope.

use crate::core::envelope::{envelope_signing_input, sha256, Digest32};
use crate::core::ids::{is_message_id, is_participant_id, parent_administration};
use crate::core::rejection::{FieldViolation, Rejection};
use crate::core::risk::{validate_indicator, validate_revocation, MAX_CRITERIA_VALUES};
use crate::core::sharing::check_received_indicator;
use crate::core::trust::{Exchange, ParticipantEntry, Role, SignatureError, TrustList};
use crate::core::validation::validate_declaration;
use crate::proto::v1::{
    AdvanceDeclaration, Envelope, Header, Invalidation, MessageType, ReferralResponse,
    ReturnNotice, ReturnReason, RiskIndicator, RiskIndicatorRevocation, ScreeningResult,
};
use prost::Message;

/// Longest `signature.key_id` admitted: key ids are short labels in the trust list
/// (`shopco-2026-01`), and anything longer is an attack on whoever quotes it.
pub const MAX_KEY_ID_BYTES: usize = 128;

/// Longest `signature.value` admitted: Ed25519 signatures are 64 bytes and ECDSA P-256 ones
/// at most 72 in DER; the margin costs nothing.
pub const MAX_SIGNATURE_BYTES: usize = 256;

/// Default payload limit of §3 (1 MiB).
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 1024 * 1024;
/// What the envelope around a forwarded declaration may add to the payload limit: a
/// header and a signature take well under 1 KiB; ids and digests have fixed sizes.
pub const FORWARDING_OVERHEAD: usize = 16 * 1024;
/// How far ahead of the receiver's clock `created_at_ms` may be (§3: 300 s).
pub const MAX_CLOCK_SKEW_MS: i64 = 300_000;

/// What the checks need to know about the receiving gateway and the moment.
#[derive(Clone, Copy, Debug)]
pub struct AdmissionContext<'a> {
    /// The administration this gateway speaks for.
    pub gateway: &'a str,
    /// The trust list in force.
    pub trust: &'a TrustList,
    /// The receiver's clock, Unix milliseconds.
    pub now_ms: i64,
    /// Payload size limit in bytes.
    pub max_payload_bytes: usize,
}

/// The decoded, validated content of an admitted envelope.
#[derive(Clone, Debug)]
pub enum AdmittedPayload {
    /// A new advance declaration.
    Declaration(AdvanceDeclaration),
    /// A full replacement of the declaration named by `correlation_id`.
    Amendment(AdvanceDeclaration),
    /// Withdrawal of the declaration named by `correlation_id`.
    Invalidation(Invalidation),
    /// An answer to a referral of the OUTCOME named by `correlation_id`.
    ReferralResponse(ReferralResponse),
    /// Goods of the declaration named by `correlation_id` left again (§12).
    ReturnNotice(ReturnNotice),
    /// A risk indicator to apply (a higher version replaces).
    RiskIndicator(RiskIndicator),
    /// Withdrawal of a risk indicator.
    RiskIndicatorRevocation(RiskIndicatorRevocation),
    /// A partner's declaration forwarded by the administration it was filed with (§8),
    /// both signatures verified.
    ForwardedDeclaration(Box<ForwardedDeclaration>),
}

/// The partner's original envelope inside a FORWARDED_DECLARATION, checked as if the
/// partner had sent it to the forwarding administration.
#[derive(Clone, Debug)]
pub struct ForwardedDeclaration {
    /// The original envelope's header (sender: the partner; recipient: the forwarder).
    pub header: Header,
    /// SHA-256 of the original envelope's signing input.
    pub digest: Digest32,
    /// The declaration, validated.
    pub declaration: AdvanceDeclaration,
}

/// An envelope that passed every check that does not need the store.
#[derive(Clone, Debug)]
pub struct Admitted {
    /// The envelope as decoded (header and signature proven present).
    pub envelope: Envelope,
    /// Its exact bytes as received: what is stored and forwarded.
    pub raw: bytes::Bytes,
    /// The header, copied out of the envelope for convenient access.
    pub header: Header,
    /// SHA-256 of its signing input.
    pub digest: Digest32,
    /// Its decoded payload.
    pub payload: AdmittedPayload,
}

fn malformed(what: impl Into<String>) -> Rejection {
    Rejection::Malformed(what.into())
}

/// The first row of §3's table: the envelope's shape.
fn check_shape(
    envelope: &Envelope,
    max_payload_bytes: usize,
) -> Result<(&Header, MessageType), Rejection> {
    let header = envelope
        .header
        .as_ref()
        .ok_or_else(|| malformed("header is missing"))?;
    if !is_message_id(&header.message_id) {
        return Err(malformed(
            "header.message_id is not a lowercase hyphenated UUID",
        ));
    }
    if !is_participant_id(&header.sender) {
        return Err(malformed("header.sender is not a participant id"));
    }
    if !is_participant_id(&header.recipient) {
        return Err(malformed("header.recipient is not a participant id"));
    }
    if !header.correlation_id.is_empty() && !is_message_id(&header.correlation_id) {
        return Err(malformed(
            "header.correlation_id is neither empty nor a message id",
        ));
    }
    let message_type = match MessageType::try_from(header.r#type) {
        Ok(MessageType::Unspecified) | Err(_) => {
            return Err(malformed(format!(
                "header.type {} is not a message type",
                header.r#type
            )))
        }
        Ok(t) => t,
    };
    if header.payload_sha256.len() != 32 {
        return Err(malformed(format!(
            "header.payload_sha256 has {} bytes, not 32",
            header.payload_sha256.len()
        )));
    }
    // A forwarded declaration's payload is a whole envelope around a payload that may
    // itself reach the limit: it may exceed it by what a header and signature take.
    let limit = match message_type {
        MessageType::ForwardedDeclaration => max_payload_bytes.saturating_add(FORWARDING_OVERHEAD),
        _ => max_payload_bytes,
    };
    if envelope.payload.len() > limit {
        return Err(malformed(format!(
            "payload has {} bytes, more than the limit of {limit}",
            envelope.payload.len()
        )));
    }
    let signature = envelope
        .signature
        .as_ref()
        .ok_or_else(|| malformed("signature is missing"))?;
    if signature.key_id.is_empty() || signature.value.is_empty() {
        return Err(malformed(
            "signature.key_id and signature.value must both be set",
        ));
    }
    // Identifiers are bounded before anything quotes them: an unknown key id is named in
    // the refusal, and a megabyte of it would be a megabyte of error and of log.
    if signature.key_id.len() > MAX_KEY_ID_BYTES {
        return Err(malformed(format!(
            "signature.key_id has {} bytes, more than {MAX_KEY_ID_BYTES}",
            signature.key_id.len()
        )));
    }
    if signature.value.len() > MAX_SIGNATURE_BYTES {
        return Err(malformed(format!(
            "signature.value has {} bytes; no algorithm of §2 makes more than {MAX_SIGNATURE_BYTES}",
            signature.value.len()
        )));
    }
    Ok((header, message_type))
}

/// §5: may this sender send this type to this gateway?
fn authorize(
    message_type: MessageType,
    sender: &ParticipantEntry,
    gateway: &str,
    trust: &TrustList,
) -> Result<(), Rejection> {
    let refuse = |why: String| Err(Rejection::NotAuthorized(why));
    let type_name = message_type.as_str_name();
    match message_type {
        MessageType::Declaration
        | MessageType::Amendment
        | MessageType::Invalidation
        | MessageType::ReferralResponse
        | MessageType::ReturnNotice => {
            if !sender.role.is_partner() {
                return refuse(format!("{type_name} is sent by partners; {} is {}", sender.id, sender.role.as_str()));
            }
            if !sender.registered_with.iter().any(|a| a == gateway) {
                return refuse(format!("{} is not registered with {gateway}", sender.id));
            }
            Ok(())
        }
        MessageType::RiskIndicator | MessageType::RiskIndicatorRevocation => match sender.role {
            Role::Internal if parent_administration(&sender.id) == Some(gateway) => Ok(()),
            Role::Administration if trust.agreement(&sender.id, gateway, Exchange::RiskIndicator).is_some() => Ok(()),
            _ => refuse(format!(
                "{type_name} comes from {gateway}'s own internal participants or from an administration under an agreement listing risk_indicator"
            )),
        },
        MessageType::ForwardedDeclaration => match sender.role {
            Role::Administration if trust.agreement(&sender.id, gateway, Exchange::ForwardedDeclaration).is_some() => {
                Ok(())
            }
            _ => refuse(format!(
                "{type_name} comes only from an administration under an agreement listing forwarded_declaration"
            )),
        },
        MessageType::Outcome | MessageType::RefundDecision => refuse(format!("{type_name} is issued by gateways and delivered by Fetch, never submitted")),
        MessageType::Unspecified => refuse(format!("{type_name} is never valid")),
    }
}

/// Decodes and validates an `AdvanceDeclaration` payload (§7).
pub fn decode_declaration(payload: &[u8]) -> Result<AdvanceDeclaration, Rejection> {
    refuse_long_list(
        payload,
        &[DECLARATION_ITEMS],
        crate::core::validation::MAX_ITEMS,
        "items",
        |count| {
            format!(
                "at most {} items per declaration (got {count})",
                crate::core::validation::MAX_ITEMS
            )
        },
    )?;
    let declaration = AdvanceDeclaration::decode(payload).map_err(|e| {
        Rejection::ValidationFailed(vec![FieldViolation::new(
            "payload",
            format!("not a valid AdvanceDeclaration protobuf: {e}"),
        )])
    })?;
    let violations = validate_declaration(&declaration);
    if violations.is_empty() {
        Ok(declaration)
    } else {
        Err(Rejection::ValidationFailed(violations))
    }
}

/// `AdvanceDeclaration.items`, `ReturnNotice.lines`, `RiskIndicator.criteria`: the lists a
/// partner controls the length of, by field number (aedgate.proto).
const DECLARATION_ITEMS: u32 = 12;
const RETURN_NOTICE_LINES: u32 = 3;
const INDICATOR_CRITERIA: u32 = 7;

/// `Criteria`'s lists of values by field number, with their names in field paths.
const CRITERIA_LISTS: [(u32, &str); 6] = [
    (1, "hs_prefixes"),
    (2, "origin_countries"),
    (3, "dispatch_countries"),
    (4, "seller_ids"),
    (5, "seller_name_terms"),
    (6, "description_terms"),
];

/// Refuses a payload whose list at `path` is longer than `limit`, counted on the bytes
/// before anything is decoded: decoding half a million empty entries costs a hundred times
/// the payload (see `core::prescan`). The violation is the one validation would give.
fn refuse_long_list(
    payload: &[u8],
    path: &[u32],
    limit: usize,
    field: &str,
    describe: impl Fn(usize) -> String,
) -> Result<(), Rejection> {
    match crate::core::prescan::count_field(payload, path) {
        Some(count) if count > limit => {
            Err(Rejection::ValidationFailed(vec![FieldViolation::new(
                field,
                describe(count),
            )]))
        }
        _ => Ok(()),
    }
}

fn violations(list: Vec<FieldViolation>) -> Result<(), Rejection> {
    if list.is_empty() {
        Ok(())
    } else {
        Err(Rejection::ValidationFailed(list))
    }
}

fn decode<M: Message + Default>(payload: &[u8], what: &str) -> Result<M, Rejection> {
    M::decode(payload).map_err(|e| {
        Rejection::ValidationFailed(vec![FieldViolation::new(
            "payload",
            format!("not a valid {what} protobuf: {e}"),
        )])
    })
}

/// Messages about an earlier one must say which, in `correlation_id`.
fn require_correlation(header: &Header, names: &str) -> Result<(), Rejection> {
    if header.correlation_id.is_empty() {
        return Err(Rejection::ValidationFailed(vec![FieldViolation::new(
            "header.correlation_id",
            format!("must be the message_id of {names}"),
        )]));
    }
    Ok(())
}

/// The last store-free row of §3: the payload decodes and validates for its type.
fn decode_payload(
    message_type: MessageType,
    header: &Header,
    payload: &[u8],
    ctx: &AdmissionContext<'_>,
) -> Result<AdmittedPayload, Rejection> {
    let now_ms = ctx.now_ms;
    Ok(match message_type {
        MessageType::Declaration => AdmittedPayload::Declaration(decode_declaration(payload)?),
        MessageType::Amendment => {
            require_correlation(header, "the declaration it replaces")?;
            AdmittedPayload::Amendment(decode_declaration(payload)?)
        }
        MessageType::Invalidation => {
            require_correlation(header, "the declaration it withdraws")?;
            let invalidation: Invalidation = decode(payload, "Invalidation")?;
            let mut list = Vec::new();
            let reason_len = invalidation.reason.trim().chars().count();
            if reason_len == 0 || reason_len > 512 {
                list.push(FieldViolation::new(
                    "reason",
                    "must give the reason, 1 to 512 characters",
                ));
            }
            violations(list)?;
            AdmittedPayload::Invalidation(invalidation)
        }
        MessageType::ReferralResponse => {
            require_correlation(header, "the OUTCOME that asked")?;
            let response: ReferralResponse = decode(payload, "ReferralResponse")?;
            let mut list = Vec::new();
            if response.referral_id.is_empty() || response.referral_id.len() > 64 {
                list.push(FieldViolation::new(
                    "referral_id",
                    "must name the referral answered",
                ));
            }
            if response.information.chars().count() > 4000 {
                list.push(FieldViolation::new(
                    "information",
                    "at most 4000 characters",
                ));
            }
            if response.screening != 0 && ScreeningResult::try_from(response.screening).is_err() {
                list.push(FieldViolation::new(
                    "screening",
                    "must be CLEAR or NOT_CLEAR when given",
                ));
            }
            violations(list)?;
            AdmittedPayload::ReferralResponse(response)
        }
        MessageType::ReturnNotice => {
            require_correlation(header, "the declaration whose goods are returned")?;
            refuse_long_list(
                payload,
                &[RETURN_NOTICE_LINES],
                crate::core::validation::MAX_ITEMS,
                "lines",
                |count| {
                    format!(
                        "at most {} lines, one per declared item (got {count})",
                        crate::core::validation::MAX_ITEMS
                    )
                },
            )?;
            let notice: ReturnNotice = decode(payload, "ReturnNotice")?;
            violations(validate_return_notice(&notice))?;
            AdmittedPayload::ReturnNotice(notice)
        }
        MessageType::RiskIndicator => {
            for (list, name) in CRITERIA_LISTS {
                refuse_long_list(
                    payload,
                    &[INDICATOR_CRITERIA, list],
                    MAX_CRITERIA_VALUES,
                    &format!("criteria.{name}"),
                    |count| {
                        format!(
                            "at most {MAX_CRITERIA_VALUES} values (got {count}); split the list over several indicators"
                        )
                    },
                )?;
            }
            let indicator: RiskIndicator = decode(payload, "RiskIndicator")?;
            violations(validate_indicator(&indicator, now_ms))?;
            AdmittedPayload::RiskIndicator(indicator)
        }
        MessageType::RiskIndicatorRevocation => {
            let revocation: RiskIndicatorRevocation = decode(payload, "RiskIndicatorRevocation")?;
            violations(validate_revocation(&revocation))?;
            AdmittedPayload::RiskIndicatorRevocation(revocation)
        }
        MessageType::ForwardedDeclaration => decode_forwarded(payload, &header.sender, ctx)?,
        other => return Err(Rejection::TypeNotSupported(other.as_str_name().to_owned())),
    })
}

/// §12's structural rules of a notice, which need no declaration: lines given, none
/// repeated, none of zero units, a return transport with its house reference, a reason.
/// Whether the items exist and so many units are left to return is the ledger's to say.
fn validate_return_notice(notice: &ReturnNotice) -> Vec<FieldViolation> {
    let mut list = Vec::new();
    if !matches!(
        ReturnReason::try_from(notice.reason),
        Ok(ReturnReason::Undeliverable
            | ReturnReason::RefusedByConsignee
            | ReturnReason::ConsumerReturn)
    ) {
        list.push(FieldViolation::new(
            "reason",
            "required: UNDELIVERABLE, REFUSED_BY_CONSIGNEE or CONSUMER_RETURN",
        ));
    }
    if notice
        .return_transport
        .as_ref()
        .is_none_or(|t| t.house_ref.trim().is_empty())
    {
        list.push(FieldViolation::new(
            "return_transport.house_ref",
            "required: the house reference of the return shipment",
        ));
    }
    if notice.lines.is_empty() {
        list.push(FieldViolation::new(
            "lines",
            "required: at least one returned line (item index and quantity)",
        ));
    } else if notice.lines.len() > crate::core::validation::MAX_ITEMS {
        list.push(FieldViolation::new(
            "lines",
            format!(
                "at most {} lines, one per declared item (got {})",
                crate::core::validation::MAX_ITEMS,
                notice.lines.len()
            ),
        ));
        return list;
    }
    let mut seen = std::collections::HashSet::new();
    for (index, line) in notice.lines.iter().enumerate() {
        if line.quantity == 0 {
            list.push(FieldViolation::new(
                format!("lines[{index}].quantity"),
                "must be > 0",
            ));
        }
        if !seen.insert(line.item) {
            list.push(FieldViolation::new(
                format!("lines[{index}].item"),
                format!(
                    "item {} is already returned by an earlier line of this notice",
                    line.item
                ),
            ));
        }
    }
    list.truncate(crate::core::rejection::MAX_VIOLATIONS);
    list
}

/// Runs every check of §3 that needs no store, in order. `raw` is the envelope's bytes as
/// received; `peer` is the participant id of the TLS client certificate.
pub fn admit(
    envelope: Envelope,
    raw: bytes::Bytes,
    peer: &str,
    ctx: &AdmissionContext<'_>,
) -> Result<Admitted, Rejection> {
    let (header, message_type) = check_shape(&envelope, ctx.max_payload_bytes)?;
    if header.sender != peer {
        return Err(Rejection::SenderMismatch {
            sender: header.sender.clone(),
            peer: peer.to_owned(),
        });
    }
    if header.recipient != ctx.gateway {
        return Err(Rejection::UnknownRecipient {
            recipient: header.recipient.clone(),
            gateway: ctx.gateway.to_owned(),
        });
    }
    let signing_input = check_signature(&envelope, header, ctx.trust)?;
    let ahead_ms = header.created_at_ms.saturating_sub(ctx.now_ms);
    if ahead_ms > MAX_CLOCK_SKEW_MS {
        return Err(Rejection::ClockSkew {
            ahead_ms,
            limit_ms: MAX_CLOCK_SKEW_MS,
        });
    }
    let sender = ctx.trust.participant(&header.sender).ok_or_else(|| {
        Rejection::NotAuthorized(format!("{} is not in the trust list", header.sender))
    })?;
    authorize(message_type, sender, ctx.gateway, ctx.trust)?;
    let payload = decode_payload(message_type, header, &envelope.payload, ctx)?;
    if let (Role::Administration, AdmittedPayload::RiskIndicator(indicator)) =
        (sender.role, &payload)
    {
        // §8 on the receiving side too: nothing the agreement does not cover gets in.
        check_received_indicator(ctx.trust, ctx.gateway, &sender.id, indicator)?;
    }
    let digest = sha256(&signing_input);
    let header = header.clone();
    Ok(Admitted {
        envelope,
        raw,
        header,
        digest,
        payload,
    })
}

/// Rows four to six of §3: the payload digest, the sender's key at `created_at_ms`, and
/// the signature. Returns the signing input.
fn check_signature(
    envelope: &Envelope,
    header: &Header,
    trust: &TrustList,
) -> Result<Vec<u8>, Rejection> {
    if sha256(&envelope.payload)[..] != header.payload_sha256[..] {
        return Err(Rejection::PayloadDigestMismatch);
    }
    // check_shape proved the signature present.
    let signature = envelope
        .signature
        .as_ref()
        .ok_or_else(|| malformed("signature is missing"))?;
    let signing_input = envelope_signing_input(header);
    trust
        .verify_signature(
            &header.sender,
            &signature.key_id,
            header.created_at_ms,
            &signing_input,
            &signature.value,
        )
        .map_err(|problem| {
            let key_id = signature.key_id.clone();
            match problem {
                SignatureError::UnknownKey => Rejection::UnknownKey {
                    key_id,
                    sender: header.sender.clone(),
                },
                SignatureError::KeyNotValid => Rejection::KeyNotValid {
                    key_id,
                    created_at_ms: header.created_at_ms,
                },
                SignatureError::SignatureInvalid => Rejection::SignatureInvalid { key_id },
            }
        })?;
    Ok(signing_input)
}

/// §8: the receiver of a FORWARDED_DECLARATION verifies the partner's original envelope
/// as the forwarding administration did: its shape, that it was a DECLARATION addressed
/// to the forwarder by a partner registered there, its payload digest, the partner's key
/// and signature, and the declaration itself, which must be bound for this
/// administration's country. The original's failures keep their own reasons
/// (SIGNATURE_INVALID, ...), with a message naming the forwarded envelope.
fn decode_forwarded(
    payload: &[u8],
    forwarder: &str,
    ctx: &AdmissionContext<'_>,
) -> Result<AdmittedPayload, Rejection> {
    let original: Envelope = decode(payload, "Envelope")?;
    let inner = |rejection: Rejection| match rejection {
        Rejection::Malformed(why) => Rejection::Malformed(format!("forwarded envelope: {why}")),
        Rejection::NotAuthorized(why) => {
            Rejection::NotAuthorized(format!("forwarded envelope: {why}"))
        }
        other => other,
    };
    let (header, message_type) = check_shape(&original, ctx.max_payload_bytes).map_err(inner)?;
    let field = |path: &str, why: String| {
        Rejection::ValidationFailed(vec![FieldViolation::new(format!("payload.{path}"), why)])
    };
    if message_type != MessageType::Declaration {
        return Err(field(
            "header.type",
            format!(
                "a forwarded envelope is a DECLARATION, not {}",
                message_type.as_str_name()
            ),
        ));
    }
    if header.recipient != forwarder {
        return Err(field(
            "header.recipient",
            format!(
                "the original was addressed to {}, not to the forwarding {forwarder}",
                header.recipient
            ),
        ));
    }
    check_signature(&original, header, ctx.trust)?;
    let partner = ctx.trust.participant(&header.sender).ok_or_else(|| {
        inner(Rejection::NotAuthorized(format!(
            "{} is not in the trust list",
            header.sender
        )))
    })?;
    authorize(MessageType::Declaration, partner, forwarder, ctx.trust).map_err(inner)?;
    let declaration = decode_declaration(&original.payload)?;
    let own_country = ctx.gateway.strip_prefix("adm/").unwrap_or_default();
    if declaration.country_of_destination != own_country {
        return Err(Rejection::ValidationFailed(vec![FieldViolation::new(
            "country_of_destination",
            format!(
                "a declaration is forwarded to its destination; {} is not {own_country}",
                declaration.country_of_destination
            ),
        )]));
    }
    Ok(AdmittedPayload::ForwardedDeclaration(Box::new(
        ForwardedDeclaration {
            digest: sha256(&envelope_signing_input(header)),
            header: header.clone(),
            declaration,
        },
    )))
}
