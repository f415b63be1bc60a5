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
use super::runs::{
    run_client_config, run_declaration_json, run_envelope, run_forwarded, run_gateway_config,
    run_indicator_json, run_ioss_registry, run_payload, run_receipt, run_return_json,
    run_revenue_policy, run_tree_head, run_trust_list, Sending,
};
use crate::core::validation::sample_declaration;
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

/// A payload target: its name, what it feeds, who sends it, its seeds.
type PayloadTarget = (&'static str, &'static str, Vec<Sending>, Vec<Vec<u8>>);

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
