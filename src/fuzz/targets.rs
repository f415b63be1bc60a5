//! One target per decoder of untrusted bytes (docs/fuzzing.md lists what each feeds).
//!
//! A target is a function of its input bytes alone, given the federation's shape (its
//! participants, roles, agreements and policy, never its random keys): where an input must
//! be signed to get past the signature check, the target signs it itself, so that a saved
//! input replays against any freshly generated [`Fixture`].

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use prost::Message;

use super::engine::Outcome;
use super::fixture::{Fixture, CORRELATION_ID, NOW_MS};
use super::mutate::{json_mutate, proto_mutate, toml_mutate, Rng};
use crate::config::{ClientConfig, ClientFile, ConfigError, GatewayConfig, GatewayFile};
use crate::core::admission::AdmittedPayload;
use crate::core::rejection::Rejection;
use crate::core::revenue::{charges, first_question, missing_rates, RevenuePolicy};
use crate::core::risk::{criteria_match, validate_indicator};
use crate::core::trust::{Exchange, TrustError, TrustList};
use crate::core::validation::{sample_declaration, validate_declaration};
use crate::formats::{audit, declaration, indicator, return_notice};
use crate::proto::v1::{
    AdvanceDeclaration, Disposition, Envelope, Header, Invalidation, MessageType, Receipt,
    ReferralResponse, RiskIndicator, RiskIndicatorRevocation, ScreeningResult, Signature,
    SignedTreeHead,
};

const VECTORS: &str = include_str!("../../tests/vectors/vectors.json");
const DECLARATION_EXAMPLE: &str = include_str!("../../docs/declaration-example.json");
const INDICATOR_EXAMPLE: &str = include_str!("../../docs/indicator-example.json");
const DECLARATION_DOC: &str = include_str!("../../docs/declaration-json.md");
const INDICATOR_DOC: &str = include_str!("../../docs/indicator-json.md");
const RETURN_DOC: &str = include_str!("../../docs/return-json.md");

/// How a target's inputs are mutated besides byte-level havoc.
#[derive(Clone, Copy, Debug)]
enum Structure {
    /// Protobuf wire format after `skip` leading mode bytes.
    Proto { skip: usize },
    /// JSON.
    Json,
    /// TOML (and other line-based text).
    Toml,
}

type Run = Box<dyn Fn(&[u8]) -> Outcome + Send + Sync>;

/// A decoder under test, its seeds and how to mutate its inputs.
pub struct Target {
    /// Its name on the command line.
    pub name: &'static str,
    /// What it feeds, in one line.
    pub about: &'static str,
    seeds: Vec<Vec<u8>>,
    dictionary: Vec<Vec<u8>>,
    structure: Structure,
    max_len: usize,
    run: Run,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .field("seeds", &self.seeds.len())
            .finish_non_exhaustive()
    }
}

impl Target {
    fn new(
        name: &'static str,
        about: &'static str,
        structure: Structure,
        seeds: Vec<Vec<u8>>,
        run: Run,
    ) -> Self {
        let mut target = Self {
            name,
            about,
            seeds,
            dictionary: Vec::new(),
            structure,
            max_len: 256 * 1024,
            run,
        };
        target.dictionary = dictionary_of(&target.seeds);
        target
    }

    /// Feeds one input to the decoder.
    pub fn run(&self, input: &[u8]) -> Outcome {
        (self.run)(input)
    }

    /// The valid inputs the corpus starts from.
    pub fn seeds(&self) -> &[Vec<u8>] {
        &self.seeds
    }

    /// Tokens taken from the seeds, for insertion by the mutators.
    pub fn dictionary(&self) -> &[Vec<u8>] {
        &self.dictionary
    }

    /// Longest input a mutator makes.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// A structure-aware mutant of `parent` (`None` when `parent` lacks the structure).
    pub fn mutate(&self, rng: &mut Rng, parent: &[u8], donor: &[u8]) -> Option<Vec<u8>> {
        match self.structure {
            Structure::Proto { skip } if skip > 0 && rng.one_in(8) => {
                // The mode bytes: which gateway, whether to re-sign, which peer.
                let mut out = parent.to_vec();
                let at = rng.below(skip.min(out.len()));
                if let Some(byte) = out.get_mut(at) {
                    *byte ^= 1 << rng.below(5);
                }
                Some(out)
            }
            Structure::Proto { skip } => proto_mutate(rng, parent, donor, skip, self),
            Structure::Json => json_mutate(rng, parent, donor, self),
            Structure::Toml => toml_mutate(rng, parent, donor, self),
        }
    }
}

/// Words, keys and quoted values of the seeds (2 to 40 bytes), and edge-case tokens.
fn dictionary_of(seeds: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut words = BTreeSet::new();
    for seed in seeds {
        for word in seed.split(|b| !(b.is_ascii_alphanumeric() || b"_-./#".contains(b))) {
            if (2..=40).contains(&word.len()) {
                words.insert(word.to_vec());
            }
        }
    }
    for token in [
        "null",
        "true",
        "-0",
        "1e999",
        "18446744073709551616",
        "-9223372036854775809",
        "\\u0000",
        "\\ud800",
        "[[",
        "]]",
        "{}",
        "\"\"",
        "'",
        "=",
    ] {
        words.insert(token.as_bytes().to_vec());
    }
    words.into_iter().take(4096).collect()
}

/// The text of the first ```` ```json ```` block of a document.
fn first_json_block(doc: &str) -> &str {
    let start = doc
        .find("```json\n")
        .map_or(doc.len(), |i| i + "```json\n".len());
    let end = doc[start..].find("```").map_or(doc.len(), |i| start + i);
    &doc[start..end]
}

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
fn run_envelope(fx: &Fixture, input: &[u8]) -> Outcome {
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
struct Sending {
    sender: &'static str,
    gateway: &'static str,
    message_type: MessageType,
    correlated: bool,
}

/// A payload target: its name, what it feeds, who sends it, its seeds.
type PayloadTarget = (&'static str, &'static str, Vec<Sending>, Vec<Vec<u8>>);

/// Seals `payload` as each of `sendings` and admits it (targets of one payload type).
fn run_payload(fx: &Fixture, sendings: &[Sending], payload: &[u8]) -> Outcome {
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
fn run_forwarded(fx: &Fixture, input: &[u8]) -> Outcome {
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
fn run_trust_list(fx: &Fixture, input: &[u8]) -> Outcome {
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
fn run_gateway_config(fx: &Fixture, input: &[u8]) -> Outcome {
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
fn run_client_config(fx: &Fixture, input: &[u8]) -> Outcome {
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
fn run_revenue_policy(fx: &Fixture, input: &[u8]) -> Outcome {
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
fn run_ioss_registry(fx: &Fixture, input: &[u8]) -> Outcome {
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
fn run_declaration_json(input: &[u8]) -> Outcome {
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
fn run_indicator_json(input: &[u8]) -> Outcome {
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
fn run_return_json(input: &[u8]) -> Outcome {
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
fn run_receipt(input: &[u8]) -> Outcome {
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
fn run_tree_head(input: &[u8]) -> Outcome {
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

fn with_mode(mode: u8, message: &impl Message) -> Vec<u8> {
    let mut out = vec![mode];
    out.extend(message.encode_to_vec());
    out
}

/// The golden vectors' envelopes, receipt and tree head (tests/vectors/vectors.json).
struct Vectors {
    envelopes: Vec<Envelope>,
    receipt: Option<Receipt>,
    tree_head: Option<SignedTreeHead>,
}

fn vectors() -> Vectors {
    let value: serde_json::Value = serde_json::from_str(VECTORS).unwrap_or_default();
    let text = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let hex = |v: &serde_json::Value, k: &str| {
        Bytes::from(hex::decode(v[k].as_str().unwrap_or_default()).unwrap_or_default())
    };
    let envelopes = value["envelopes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let h = &e["header"];
            let sender = text(h, "sender");
            Envelope {
                header: Some(Header {
                    message_id: text(h, "message_id"),
                    sender: sender.clone(),
                    recipient: text(h, "recipient"),
                    r#type: h["type"].as_i64().unwrap_or_default() as i32,
                    created_at_ms: h["created_at_ms"].as_i64().unwrap_or_default(),
                    correlation_id: text(h, "correlation_id"),
                    payload_sha256: hex(h, "payload_sha256"),
                }),
                payload: hex(e, "payload"),
                signature: Some(Signature {
                    key_id: format!("{sender}#vectors-1"),
                    value: hex(e, "ed25519_signature"),
                }),
            }
        })
        .collect();
    let r = &value["receipt"];
    let receipt = r.is_object().then(|| Receipt {
        message_id: text(r, "message_id"),
        receiver: text(r, "receiver"),
        received_at_ms: r["received_at_ms"].as_i64().unwrap_or_default(),
        envelope_digest: hex(r, "envelope_digest"),
        disposition: r["disposition"].as_i64().unwrap_or_default() as i32,
        log_index: r["log_index"].as_u64().unwrap_or_default(),
        signature: Some(Signature {
            key_id: "adm/NL#vectors-1".into(),
            value: hex(r, "ed25519_signature"),
        }),
    });
    let t = &value["tree_head"];
    let tree_head = t.is_object().then(|| SignedTreeHead {
        log_id: text(t, "log_id"),
        tree_size: t["tree_size"].as_u64().unwrap_or_default(),
        timestamp_ms: t["timestamp_ms"].as_i64().unwrap_or_default(),
        root_hash: hex(t, "root_hash"),
        signature: Some(Signature {
            key_id: "adm/NL#vectors-1".into(),
            value: hex(t, "ed25519_signature"),
        }),
    });
    Vectors {
        envelopes,
        receipt,
        tree_head,
    }
}

/// Valid payloads of every submittable type, as their senders would send them.
struct Payloads {
    declaration: AdvanceDeclaration,
    flyfast_declaration: AdvanceDeclaration,
    declaration_for_be: AdvanceDeclaration,
    invalidation: Invalidation,
    referral_response: ReferralResponse,
    return_notice: crate::proto::v1::ReturnNotice,
    indicators: Vec<RiskIndicator>,
    revocation: RiskIndicatorRevocation,
}

fn payloads() -> Payloads {
    let declaration = declaration::from_json(DECLARATION_EXAMPLE)
        .unwrap_or_else(|_| sample_declaration("LRN-FUZZ-1"));
    let mut flyfast_declaration = sample_declaration("LRN-FUZZ-2");
    flyfast_declaration.platform_id = String::new();
    let mut declaration_for_be = sample_declaration("LRN-FUZZ-3");
    declaration_for_be.country_of_destination = "BE".into();
    if let Some(buyer) = declaration_for_be.buyer.as_mut() {
        buyer.country = "BE".into();
    }
    let mut indicators: Vec<RiskIndicator> = [INDICATOR_EXAMPLE, first_json_block(INDICATOR_DOC)]
        .iter()
        .filter_map(|text| indicator::from_json(text).ok())
        .collect();
    indicators.push(crate::core::risk::seller_indicator(
        "NL-2026-SELLER-0001",
        "SHOPCO-S-004417",
        crate::proto::v1::OutcomeCode::ControlOnArrival,
    ));
    Payloads {
        declaration,
        flyfast_declaration,
        declaration_for_be,
        invalidation: Invalidation {
            reason: "Order cancelled by the buyer before dispatch".into(),
        },
        referral_response: ReferralResponse {
            referral_id: "REF-2026-000123".into(),
            information: "The shoes are unbranded; supplier invoice attached.".into(),
            screening: ScreeningResult::Clear as i32,
        },
        return_notice: crate::core::revenue::consumer_return_by_post(
            "RET-NL-2026-004417",
            &[(0, 1), (1, 1)],
            NOW_MS - 3_600_000,
        ),
        indicators,
        revocation: RiskIndicatorRevocation {
            indicator_id: "NL-2026-RFI-0107".into(),
            reason: "Rights holder withdrew the complaint".into(),
        },
    }
}

/// Every target, seeded with valid inputs of its kind.
pub fn targets(fx: &Arc<Fixture>) -> Vec<Target> {
    let p = payloads();
    let v = vectors();
    let seal = |sender: &str, gateway: &str, t: MessageType, correlated: bool, payload: Vec<u8>| {
        let correlation = if correlated { CORRELATION_ID } else { "" };
        fx.seal(sender, gateway, t, correlation, &payload)
    };
    // The partner's original of a forwarded declaration: shopco to adm/NL, bound for BE.
    let original = seal(
        "ptr/NL/shopco",
        "adm/NL",
        MessageType::Declaration,
        false,
        p.declaration_for_be.encode_to_vec(),
    );
    let mut envelopes: Vec<Envelope> = [
        (
            "ptr/NL/shopco",
            "adm/NL",
            MessageType::Declaration,
            false,
            p.declaration.encode_to_vec(),
        ),
        (
            "ptr/NL/flyfast",
            "adm/NL",
            MessageType::Declaration,
            false,
            p.flyfast_declaration.encode_to_vec(),
        ),
        (
            "ptr/NL/shopco",
            "adm/NL",
            MessageType::Amendment,
            true,
            p.declaration.encode_to_vec(),
        ),
        (
            "ptr/NL/shopco",
            "adm/NL",
            MessageType::Invalidation,
            true,
            p.invalidation.encode_to_vec(),
        ),
        (
            "ptr/NL/flyfast",
            "adm/NL",
            MessageType::ReferralResponse,
            true,
            p.referral_response.encode_to_vec(),
        ),
        (
            "ptr/NL/shopco",
            "adm/NL",
            MessageType::ReturnNotice,
            true,
            p.return_notice.encode_to_vec(),
        ),
        (
            "adm/NL/risk-unit",
            "adm/NL",
            MessageType::RiskIndicatorRevocation,
            false,
            p.revocation.encode_to_vec(),
        ),
        (
            "adm/NL",
            "adm/BE",
            MessageType::ForwardedDeclaration,
            false,
            original
                .as_ref()
                .map(Message::encode_to_vec)
                .unwrap_or_default(),
        ),
    ]
    .into_iter()
    .filter_map(|(s, g, t, c, payload)| seal(s, g, t, c, payload))
    .collect();
    for indicator in &p.indicators {
        envelopes.extend(seal(
            "adm/NL/risk-unit",
            "adm/NL",
            MessageType::RiskIndicator,
            false,
            indicator.encode_to_vec(),
        ));
        envelopes.extend(seal(
            "adm/BE",
            "adm/NL",
            MessageType::RiskIndicator,
            false,
            indicator.encode_to_vec(),
        ));
    }
    let mut envelope_seeds: Vec<Vec<u8>> = Vec::new();
    for e in &envelopes {
        let to_be = e.header.as_ref().is_some_and(|h| h.recipient == "adm/BE");
        let mode = 1 | if to_be { 2 | 4 } else { 0 };
        envelope_seeds.push(with_mode(mode, e));
    }
    // One exactly as signed (mode 0), and the golden vectors, signed by a key no federation
    // knows: decoding, shape and the key lookup without re-sealing.
    envelope_seeds.extend(envelopes.first().map(|e| with_mode(0, e)));
    envelope_seeds.extend(v.envelopes.iter().map(|e| with_mode(0, e)));
    envelope_seeds.extend(v.envelopes.iter().map(|e| with_mode(1, e)));

    let declaration_json_seeds: Vec<Vec<u8>> = [
        DECLARATION_EXAMPLE.to_owned(),
        first_json_block(DECLARATION_DOC).to_owned(),
        declaration::to_json(&p.flyfast_declaration),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect();
    let indicator_json_seeds: Vec<Vec<u8>> = p
        .indicators
        .iter()
        .map(|i| indicator::to_json(i).into_bytes())
        .chain([INDICATOR_EXAMPLE.as_bytes().to_vec()])
        .collect();
    let mut receipt_seeds = Vec::new();
    let mut tree_head_seeds = Vec::new();
    if let Some(r) = &v.receipt {
        receipt_seeds.push(audit::receipt_to_json(r).into_bytes());
        receipt_seeds.push(r.encode_to_vec());
        let duplicate = Receipt {
            disposition: Disposition::Duplicate as i32,
            signature: None,
            ..r.clone()
        };
        receipt_seeds.push(audit::receipt_to_json(&duplicate).into_bytes());
    }
    if let Some(h) = &v.tree_head {
        tree_head_seeds.push(audit::tree_head_to_json(h).into_bytes());
        tree_head_seeds.push(h.encode_to_vec());
    }
    let partner = |sender, message_type, correlated| Sending {
        sender,
        gateway: "adm/NL",
        message_type,
        correlated,
    };
    let gateway_toml = fx.file("adm-NL.gateway.toml");
    let be_toml = fx.file("adm-BE.gateway.toml");
    let registry = fx.file("ioss-registry.txt");
    let mut registry_with_comments = b"# IOSS numbers\n\n".to_vec();
    registry_with_comments.extend_from_slice(&registry);
    registry_with_comments.extend_from_slice(b"IM5280000999 # trailing comment\n");

    let f = Arc::clone(fx);
    let mut targets = vec![Target::new(
        "envelope",
        "an Envelope's bytes through admission (§3 in order, then the payload of its type)",
        Structure::Proto { skip: 1 },
        envelope_seeds,
        Box::new(move |input| run_envelope(&f, input)),
    )];
    let payload_targets: Vec<PayloadTarget> = vec![
        (
            "declaration",
            "an AdvanceDeclaration payload from shopco, admitted at adm/NL, then charged and checked (R1-R5)",
            vec![partner("ptr/NL/shopco", MessageType::Declaration, false)],
            vec![p.declaration.encode_to_vec(), p.flyfast_declaration.encode_to_vec(), p.declaration_for_be.encode_to_vec()],
        ),
        (
            "invalidation",
            "an Invalidation payload from shopco",
            vec![partner("ptr/NL/shopco", MessageType::Invalidation, true)],
            vec![p.invalidation.encode_to_vec()],
        ),
        (
            "referral_response",
            "a ReferralResponse payload from flyfast",
            vec![partner("ptr/NL/flyfast", MessageType::ReferralResponse, true)],
            vec![p.referral_response.encode_to_vec()],
        ),
        (
            "return_notice",
            "a ReturnNotice payload from shopco",
            vec![partner("ptr/NL/shopco", MessageType::ReturnNotice, true)],
            vec![p.return_notice.encode_to_vec()],
        ),
        (
            "risk_indicator",
            "a RiskIndicator payload from adm/NL's risk unit and from adm/BE under the agreement (§8 sharing rules)",
            vec![
                partner("adm/NL/risk-unit", MessageType::RiskIndicator, false),
                partner("adm/BE", MessageType::RiskIndicator, false),
            ],
            p.indicators.iter().map(Message::encode_to_vec).collect(),
        ),
        (
            "indicator_revocation",
            "a RiskIndicatorRevocation payload from adm/NL's risk unit",
            vec![partner("adm/NL/risk-unit", MessageType::RiskIndicatorRevocation, false)],
            vec![p.revocation.encode_to_vec()],
        ),
    ];
    for (name, about, sendings, seeds) in payload_targets {
        let f = Arc::clone(fx);
        targets.push(Target::new(
            name,
            about,
            Structure::Proto { skip: 0 },
            seeds,
            Box::new(move |input| run_payload(&f, &sendings, input)),
        ));
    }
    let f = Arc::clone(fx);
    targets.push(Target::new(
        "forwarded_declaration",
        "a FORWARDED_DECLARATION from adm/NL to adm/BE: the partner's original envelope, re-sealed, inside",
        Structure::Proto { skip: 1 },
        original.iter().flat_map(|o| [with_mode(1, o), with_mode(0, o)]).collect(),
        Box::new(move |input| run_forwarded(&f, input)),
    ));
    let f = Arc::clone(fx);
    targets.push(Target::new(
        "trust_list",
        "trust-list.json signed by the operator, verified, indexed and looked up; also read as a .sig file",
        Structure::Json,
        vec![fx.trust_bytes.clone(), fx.file("trust-list.json")],
        Box::new(move |input| run_trust_list(&f, input)),
    ));
    let f = Arc::clone(fx);
    let mut gateway = Target::new(
        "gateway_config",
        "a gateway's TOML configuration, loaded with the files it names (trust list, keys, certificate, revenue policy)",
        Structure::Toml,
        vec![gateway_toml, be_toml],
        Box::new(move |input| run_gateway_config(&f, input)),
    );
    gateway.max_len = 64 * 1024;
    targets.push(gateway);
    let f = Arc::clone(fx);
    let mut client = Target::new(
        "client_config",
        "a partner's TOML client configuration, loaded with the files it names",
        Structure::Toml,
        vec![
            fx.file("ptr-NL-shopco.client.toml"),
            fx.file("ptr-NL-flyfast.client.toml"),
        ],
        Box::new(move |input| run_client_config(&f, input)),
    );
    client.max_len = 64 * 1024;
    targets.push(client);
    let f = Arc::clone(fx);
    targets.push(Target::new(
        "revenue_policy",
        "a revenue policy's TOML, parsed, with the IOSS registry, charging a EUR and a USD declaration",
        Structure::Toml,
        vec![fx.file("adm-NL.revenue.toml"), fx.file("adm-BE.revenue.toml")],
        Box::new(move |input| run_revenue_policy(&f, input)),
    ));
    let f = Arc::clone(fx);
    targets.push(Target::new(
        "ioss_registry",
        "an IOSS registry's text given to adm/NL's revenue policy",
        Structure::Toml,
        vec![registry, registry_with_comments],
        Box::new(move |input| run_ioss_registry(&f, input)),
    ));
    targets.extend([
        Target::new(
            "declaration_json",
            "a declaration's JSON (docs/declaration-json.md), round-tripped, then §7",
            Structure::Json,
            declaration_json_seeds,
            Box::new(run_declaration_json),
        ),
        Target::new(
            "indicator_json",
            "an indicator's JSON (docs/indicator-json.md), round-tripped, then validated",
            Structure::Json,
            indicator_json_seeds,
            Box::new(run_indicator_json),
        ),
        Target::new(
            "return_json",
            "a return notice's JSON (docs/return-json.md), round-tripped",
            Structure::Json,
            vec![
                first_json_block(RETURN_DOC).as_bytes().to_vec(),
                return_notice::to_json(&p.return_notice).into_bytes(),
            ],
            Box::new(run_return_json),
        ),
        Target::new(
            "receipt",
            "a receipt file, JSON or protobuf (docs/auditing.md), round-tripped",
            Structure::Json,
            receipt_seeds,
            Box::new(run_receipt),
        ),
        Target::new(
            "tree_head",
            "a signed tree head file, JSON or protobuf (docs/auditing.md), round-tripped",
            Structure::Json,
            tree_head_seeds,
            Box::new(run_tree_head),
        ),
    ]);
    targets
}
