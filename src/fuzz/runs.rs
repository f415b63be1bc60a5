//! What each target does with its bytes: the decoder it feeds, and the outcome label the
//! loop keeps inputs by (what a check answered, never the mutated text it quotes).
//!
//! The seeds and the table of targets are in `targets.rs`; this is the work one execution
//! does.

use std::collections::BTreeSet;

use bytes::Bytes;
use prost::Message;

use super::engine::Outcome;
use super::fixture::{Fixture, CORRELATION_ID, NOW_MS};
use crate::config::{ClientConfig, ClientFile, ConfigError, GatewayConfig, GatewayFile};
use crate::core::admission::AdmittedPayload;
use crate::core::rejection::Rejection;
use crate::core::revenue::{charges, first_question, missing_rates, RevenuePolicy};
use crate::core::risk::{criteria_match, validate_indicator};
use crate::core::trust::{Exchange, TrustError, TrustList};
use crate::core::validation::{sample_declaration, validate_declaration};
use crate::formats::{audit, declaration, indicator, return_notice};
use crate::proto::v1::{AdvanceDeclaration, Envelope, MessageType};

/// What an admission refusal or acceptance says, without the values.
fn admission_label(result: &Result<crate::core::admission::Admitted, Rejection>) -> String {
    match result {
        Ok(admitted) => {
            let kind = format!("{:?}", admitted.payload);
            let kind = kind.split(['(', ' ', '{']).next().unwrap_or_default();
            format!("admitted:{kind}")
        }
        Err(Rejection::Malformed(why)) => format!("malformed:{why}"),
        Err(Rejection::NotAuthorized(why)) => format!("not-authorized:{why}"),
        Err(Rejection::ValidationFailed(list)) => {
            let fields: BTreeSet<String> = list
                .iter()
                .map(|v| {
                    let field: String = v.field.chars().filter(|c| !c.is_ascii_digit()).collect();
                    if field == "payload" {
                        // Which protobuf decoding error.
                        let why = v.description.split(':').nth(1).unwrap_or_default();
                        format!("payload:{why}")
                    } else {
                        field
                    }
                })
                .collect();
            format!(
                "invalid:{}",
                fields.into_iter().collect::<Vec<_>>().join(",")
            )
        }
        Err(other) => {
            let debug = format!("{other:?}");
            debug
                .split(['(', ' ', '{'])
                .next()
                .unwrap_or_default()
                .to_owned()
        }
    }
}

/// Whether admission got as far as decoding the payload as its type.
fn reached_payload(result: &Result<crate::core::admission::Admitted, Rejection>) -> bool {
    match result {
        Ok(_) => true,
        Err(Rejection::ValidationFailed(list)) => !list
            .iter()
            .all(|v| v.field == "payload" || v.field == "header.correlation_id"),
        Err(_) => false,
    }
}

/// What a gateway does next with an admitted payload that needs no store: revenue checks
/// and charges for a declaration, matching for an indicator. Returns a label suffix.
fn after_admission(fx: &Fixture, payload: &AdmittedPayload) -> String {
    match payload {
        AdmittedPayload::Declaration(d) | AdmittedPayload::Amendment(d) => {
            revenue_of(&fx.policy, d)
        }
        AdmittedPayload::ForwardedDeclaration(f) => revenue_of(&fx.policy, &f.declaration),
        AdmittedPayload::RiskIndicator(i) => {
            let sample = sample_declaration("LRN-FUZZ");
            let matched = i
                .criteria
                .as_ref()
                .is_some_and(|c| criteria_match(c, &sample));
            format!("matches:{matched}")
        }
        _ => String::new(),
    }
}

fn revenue_of(policy: &RevenuePolicy, declaration: &AdvanceDeclaration) -> String {
    if !missing_rates(policy, declaration).is_empty() {
        return "rates-missing".into();
    }
    let charged = charges(policy, declaration);
    let question = first_question(policy, declaration, &charged, 0, &BTreeSet::new());
    format!(
        "low:{} ioss:{} question:{:?}",
        charged.low_value,
        charged.ioss,
        question.map(|q| q.check)
    )
}

/// Decodes and admits an envelope (target `envelope`).
///
/// Input: one mode byte, then the protobuf encoding of `Envelope`. Mode bits: 1 re-seal
/// (recompute the payload digest and sign as the header's sender, so that a mutated
/// envelope reaches the checks behind the signature); 2 receive at adm/BE instead of
/// adm/NL; 4 re-seal a forwarded declaration's inner envelope too; 8 the TLS peer is
/// ptr/NL/shopco whatever the header says (else the header's sender); 16 a 512-byte payload
/// limit instead of 1 MiB.
pub(super) fn run_envelope(fx: &Fixture, input: &[u8]) -> Outcome {
    let Some((&mode, bytes)) = input.split_first() else {
        return Outcome::shallow("empty");
    };
    let mut envelope = match Envelope::decode(bytes) {
        Ok(e) => e,
        Err(e) => return Outcome::shallow(format!("decode:{e}")),
    };
    let mut raw = Bytes::copy_from_slice(bytes);
    let forwarded = envelope.header.as_ref().map(|h| h.r#type)
        == Some(MessageType::ForwardedDeclaration as i32);
    if mode & 4 != 0 && forwarded {
        if let Ok(mut inner) = Envelope::decode(envelope.payload.as_ref()) {
            fx.reseal(&mut inner);
            envelope.payload = Bytes::from(inner.encode_to_vec());
        }
    }
    if mode & 1 != 0 {
        fx.reseal(&mut envelope);
        raw = Bytes::from(envelope.encode_to_vec());
    }
    let gateway = if mode & 2 != 0 { "adm/BE" } else { "adm/NL" };
    let peer = if mode & 8 != 0 {
        "ptr/NL/shopco".to_owned()
    } else {
        envelope
            .header
            .as_ref()
            .map(|h| h.sender.clone())
            .unwrap_or_default()
    };
    let limit = (mode & 16 != 0).then_some(512);
    let result = fx.admit(envelope, raw, &peer, gateway, limit);
    let mut label = admission_label(&result);
    if let Ok(admitted) = &result {
        label = format!("{label} {}", after_admission(fx, &admitted.payload));
    }
    Outcome { deep: true, label }
}

/// Who sends a payload target's envelopes, to whom, as what.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sending {
    pub sender: &'static str,
    pub gateway: &'static str,
    pub message_type: MessageType,
    pub correlated: bool,
}

/// Seals `payload` as each of `sendings` and admits it (targets of one payload type).
pub(super) fn run_payload(fx: &Fixture, sendings: &[Sending], payload: &[u8]) -> Outcome {
    let mut deep = false;
    let mut labels = Vec::new();
    for s in sendings {
        let correlation = if s.correlated { CORRELATION_ID } else { "" };
        let Some(envelope) = fx.seal(s.sender, s.gateway, s.message_type, correlation, payload)
        else {
            return Outcome::shallow(format!("no key for {}", s.sender));
        };
        let raw = Bytes::from(envelope.encode_to_vec());
        let result = fx.admit(envelope, raw, s.sender, s.gateway, None);
        deep |= reached_payload(&result);
        let mut label = admission_label(&result);
        if let Ok(admitted) = &result {
            label = format!("{label} {}", after_admission(fx, &admitted.payload));
        }
        labels.push(label);
    }
    Outcome {
        deep,
        label: labels.join(" | "),
    }
}

/// A FORWARDED_DECLARATION from adm/NL to adm/BE (target `forwarded_declaration`).
///
/// Input: one mode byte, then the protobuf encoding of the partner's original envelope (the
/// forwarded payload). Mode bit 1: re-seal the original as its header's sender, so that a
/// mutated declaration inside it reaches §7's validation.
pub(super) fn run_forwarded(fx: &Fixture, input: &[u8]) -> Outcome {
    let Some((&mode, bytes)) = input.split_first() else {
        return Outcome::shallow("empty");
    };
    let mut payload = bytes.to_vec();
    if mode & 1 != 0 {
        if let Ok(mut inner) = Envelope::decode(bytes) {
            fx.reseal(&mut inner);
            payload = inner.encode_to_vec();
        }
    }
    let Some(envelope) = fx.seal(
        "adm/NL",
        "adm/BE",
        MessageType::ForwardedDeclaration,
        "",
        &payload,
    ) else {
        return Outcome::shallow("no key for adm/NL");
    };
    let raw = Bytes::from(envelope.encode_to_vec());
    let result = fx.admit(envelope, raw, "adm/NL", "adm/BE", None);
    let mut label = admission_label(&result);
    if let Ok(admitted) = &result {
        label = format!("{label} {}", after_admission(fx, &admitted.payload));
    }
    Outcome {
        deep: !matches!(&result, Err(Rejection::ValidationFailed(l)) if l.iter().all(|v| v.field == "payload")),
        label,
    }
}

/// A trust list signed by the operator, verified and used (target `trust_list`). The input
/// is also read as a detached signature file of the real list.
pub(super) fn run_trust_list(fx: &Fixture, input: &[u8]) -> Outcome {
    let operator = [fx.operator_key()];
    let federation = fx.pki.spec.federation.as_str();
    let signature = crate::pki::sign_trust_list(input, &fx.operator);
    let result = TrustList::verify(
        input,
        signature.as_bytes(),
        &operator,
        federation,
        Some(fx.trust.version()),
    );
    let as_signature = TrustList::verify(&fx.trust_bytes, input, &operator, federation, None);
    let suffix = match as_signature {
        Ok(_) => "sig-ok".to_owned(),
        Err(e) => format!("sig:{e}"),
    };
    match result {
        Ok(list) => {
            // What the gateway asks of a list in force.
            let participants = list.document().participants.len();
            let mut keys = 0;
            for p in &list.document().participants {
                let _ = list.participant(&p.id);
                for k in &p.signing_keys {
                    keys += usize::from(matches!(
                        list.key_for(&p.id, &k.key_id, NOW_MS),
                        crate::core::trust::KeyLookup::Valid(_)
                    ));
                }
            }
            let agreed = list
                .agreement("adm/NL", "adm/BE", Exchange::RiskIndicator)
                .is_some();
            Outcome::deep(format!(
                "ok participants:{} keys-valid:{} agreement:{agreed} cas:{} {suffix}",
                participants.min(9),
                keys.min(9),
                list.ca_certificates().len().min(9)
            ))
        }
        Err(e @ TrustError::Json(_)) => Outcome {
            // JSON of another shape got past the syntax; the shape is the first check.
            deep: serde_json::from_slice::<serde_json::Value>(input).is_ok(),
            label: format!("{e} {suffix}"),
        },
        Err(e) => Outcome::deep(format!("{e} {suffix}")),
    }
}

/// The last line of a TOML error: the reason, without the excerpt of the file.
fn toml_reason(error: &toml::de::Error) -> String {
    error
        .message()
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

/// A file the typed TOML read refused: past the first parse when the text is TOML at all
/// (of another shape: a missing key, a value of the wrong type).
fn toml_refusal(text: &str, error: &toml::de::Error) -> Outcome {
    Outcome {
        deep: toml::from_str::<toml::Table>(text).is_ok(),
        label: format!("toml:{}", toml_reason(error)),
    }
}

/// What a configuration loader refused, by kind and key, without the paths and values its
/// message quotes.
fn config_label(error: &ConfigError) -> String {
    let variant = |debug: String| {
        debug
            .split([' ', '(', '{'])
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    match error {
        ConfigError::Read { source, .. } => format!("read:{:?}", source.kind()),
        ConfigError::Toml { .. } => "toml".to_owned(),
        ConfigError::Invalid { key, .. } => format!("invalid:{key}"),
        ConfigError::SigningKey { source, .. } => {
            format!("signing-key:{}", variant(format!("{source:?}")))
        }
        ConfigError::Tls(e) => format!("tls:{}", variant(format!("{e:?}"))),
        ConfigError::Revenue { source, .. } => format!("revenue:{}", source.key),
        ConfigError::Trust { source, .. } => format!("trust:{source}"),
        #[allow(unreachable_patterns)]
        other => variant(format!("{other:?}")),
    }
}

/// A gateway configuration file beside the federation's files, loaded as `aedgate serve`
/// loads it (target `gateway_config`).
pub(super) fn run_gateway_config(fx: &Fixture, input: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(input) else {
        return Outcome::shallow("not UTF-8");
    };
    // The loader's first step, in memory: an input that is not a GatewayFile stops here
    // either way, and most do, so the file is written only for those that go further.
    if let Err(e) = toml::from_str::<GatewayFile>(text) {
        return toml_refusal(text, &e);
    }
    let path = fx.path("fuzz.gateway.toml");
    if let Err(e) = std::fs::write(&path, input) {
        return Outcome::shallow(format!("cannot write {}: {e}", path.display()));
    }
    match GatewayConfig::load(&path) {
        Ok(config) => Outcome::deep(format!(
            "ok revenue:{} peers:{}",
            config.revenue.is_some(),
            config.peer_endpoints.len().min(9)
        )),
        Err(e) => Outcome::deep(config_label(&e)),
    }
}

/// A client configuration file, loaded as `aedgate submit` loads it (target
/// `client_config`).
pub(super) fn run_client_config(fx: &Fixture, input: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(input) else {
        return Outcome::shallow("not UTF-8");
    };
    if let Err(e) = toml::from_str::<ClientFile>(text) {
        return toml_refusal(text, &e);
    }
    let path = fx.path("fuzz.client.toml");
    if let Err(e) = std::fs::write(&path, input) {
        return Outcome::shallow(format!("cannot write {}: {e}", path.display()));
    }
    match ClientConfig::load(&path) {
        Ok(config) => Outcome::deep(format!("ok endpoint-set:{}", !config.endpoint.is_empty())),
        Err(e) => Outcome::deep(config_label(&e)),
    }
}

/// A revenue policy's TOML, parsed, given the federation's IOSS registry, and used to
/// charge a declaration in EUR and one in USD (target `revenue_policy`).
pub(super) fn run_revenue_policy(fx: &Fixture, input: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(input) else {
        return Outcome::shallow("not UTF-8");
    };
    let registry = String::from_utf8_lossy(&fx.file("ioss-registry.txt")).into_owned();
    match RevenuePolicy::parse(text).and_then(|p| p.with_registry(&registry)) {
        Ok(policy) => {
            let eur = sample_declaration("LRN-FUZZ-EUR");
            let mut usd = sample_declaration("LRN-FUZZ-USD");
            for item in &mut usd.items {
                for money in [&mut item.value, &mut item.listed_price]
                    .into_iter()
                    .flatten()
                {
                    money.currency = "USD".into();
                    money.amount_minor = money.amount_minor.saturating_mul(1_000_003);
                }
            }
            let labels = [revenue_of(&policy, &eur), revenue_of(&policy, &usd)];
            Outcome::deep(format!("ok {}", labels.join(" | ")))
        }
        Err(e) if e.key == "policy" => Outcome {
            deep: toml::from_str::<toml::Table>(text).is_ok(),
            label: format!("policy:{}", e.reason),
        },
        Err(e) => Outcome::deep(format!("{}: {}", e.key, e.reason)),
    }
}

/// An IOSS registry's text given to the federation's policy (target `ioss_registry`).
pub(super) fn run_ioss_registry(fx: &Fixture, input: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(input) else {
        return Outcome::shallow("not UTF-8");
    };
    match fx.policy.clone().with_registry(text) {
        Ok(policy) => {
            let mut declaration = sample_declaration("LRN-FUZZ-IOSS");
            if let Some(revenue) = declaration.revenue.as_mut() {
                revenue.model = crate::proto::v1::CollectionModel::Platform as i32;
                revenue.ioss_number = policy
                    .ioss_registry
                    .iter()
                    .next()
                    .cloned()
                    .unwrap_or_default();
            }
            Outcome::deep(format!(
                "ok registered:{}",
                crate::core::revenue::claims_registered_ioss(&policy, &declaration)
            ))
        }
        Err(e) => Outcome::deep(format!("{}: {}", e.key, e.reason)),
    }
}

/// Panics unless `again` equals `first`: the forms promise that writing and reading back
/// gives the same message.
fn assert_round_trip<T: PartialEq + std::fmt::Debug>(
    form: &str,
    first: &T,
    again: Result<T, crate::formats::FormatError>,
) {
    match again {
        Ok(again) => assert!(
            again == *first,
            "{form}: reading back what to_json wrote changed the message:\n{first:?}\n{again:?}"
        ),
        Err(e) => panic!("{form}: to_json wrote what from_json refuses: {e}"),
    }
}

/// A declaration's JSON as `aedgate submit` reads it, then §7 (target `declaration_json`).
pub(super) fn run_declaration_json(input: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(input) else {
        return Outcome::shallow("not UTF-8");
    };
    match declaration::from_json(text) {
        Ok(d) => {
            assert_round_trip(
                "declaration",
                &d,
                declaration::from_json(&declaration::to_json(&d)),
            );
            let fields: BTreeSet<String> = validate_declaration(&d)
                .into_iter()
                .map(|v| v.field)
                .collect();
            Outcome::deep(format!(
                "valid:{}",
                fields.into_iter().collect::<Vec<_>>().join(",")
            ))
        }
        Err(e) => Outcome {
            deep: e.category() == Some(serde_json::error::Category::Data),
            label: e.to_string(),
        },
    }
}

/// An indicator's JSON as `aedgate indicator publish` reads it, then its validation
/// (target `indicator_json`).
pub(super) fn run_indicator_json(input: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(input) else {
        return Outcome::shallow("not UTF-8");
    };
    match indicator::from_json(text) {
        Ok(i) => {
            assert_round_trip(
                "indicator",
                &i,
                indicator::from_json(&indicator::to_json(&i)),
            );
            let fields: BTreeSet<String> = validate_indicator(&i, NOW_MS)
                .into_iter()
                .map(|v| v.field)
                .collect();
            Outcome::deep(format!(
                "valid:{}",
                fields.into_iter().collect::<Vec<_>>().join(",")
            ))
        }
        Err(e) => Outcome {
            deep: e.category() == Some(serde_json::error::Category::Data),
            label: e.to_string(),
        },
    }
}

/// A return notice's JSON as `aedgate return` reads it (target `return_json`).
pub(super) fn run_return_json(input: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(input) else {
        return Outcome::shallow("not UTF-8");
    };
    match return_notice::from_json(text) {
        Ok(n) => {
            assert_round_trip(
                "return notice",
                &n,
                return_notice::from_json(&return_notice::to_json(&n)),
            );
            Outcome::deep(format!("ok lines:{}", n.lines.len().min(3)))
        }
        Err(e) => Outcome {
            deep: e.category() == Some(serde_json::error::Category::Data),
            label: e.to_string(),
        },
    }
}

/// A receipt file, JSON or protobuf, as `aedgate audit verify-receipt` reads it (target
/// `receipt`).
pub(super) fn run_receipt(input: &[u8]) -> Outcome {
    match audit::read_receipt(input) {
        Ok(r) => {
            if r.envelope_digest.len() == 32 {
                assert_round_trip(
                    "receipt",
                    &r,
                    audit::receipt_from_json(&audit::receipt_to_json(&r)),
                );
            }
            Outcome::deep(format!("ok signed:{}", r.signature.is_some()))
        }
        Err(e) => Outcome {
            deep: e.category() == Some(serde_json::error::Category::Data),
            label: e.to_string(),
        },
    }
}

/// A signed tree head file, JSON or protobuf, as `aedgate audit` reads it (target
/// `tree_head`).
pub(super) fn run_tree_head(input: &[u8]) -> Outcome {
    match audit::read_tree_head(input) {
        Ok(h) => {
            if h.root_hash.len() == 32 {
                assert_round_trip(
                    "tree head",
                    &h,
                    audit::tree_head_from_json(&audit::tree_head_to_json(&h)),
                );
            }
            Outcome::deep(format!("ok signed:{}", h.signature.is_some()))
        }
        Err(e) => Outcome {
            deep: e.category() == Some(serde_json::error::Category::Data),
            label: e.to_string(),
        },
    }
}
