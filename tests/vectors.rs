//! Reproduces, byte for byte, the independent test vectors in `tests/vectors/vectors.json`
//! (PROTOCOL.md §2, §3, §4, §9): envelope and receipt signing inputs, digests and Ed25519
//! signatures, the ECDSA P-256 verification case, the tree head, the trust-list signature
//! and the accepted-envelope audit leaf.
//!
//! The RFC 9162 roots, inclusion and consistency proofs of `merkle_rfc9162` are not checked
//! here yet: the Merkle module does not exist, and issue #4 adds it together with their tests.

use aedgate::core::crypto::{generate_ed25519_pkcs8, Algorithm, SigningKey, VerifyingKey};
use aedgate::core::envelope::{
    envelope_digest, envelope_signing_input, receipt_signing_input, seal, sha256, sign_receipt,
    tree_head_signing_input, Draft, ReceiptFields,
};
use aedgate::core::receipt::{verify_receipt, ReceiptProblem};
use aedgate::core::trust::{
    KeyEntry, ParticipantEntry, Role, TrustError, TrustList, TrustListDocument,
};
use aedgate::pki::{sign_trust_list, trust_list_bytes, CertificateAuthority};
use aedgate::proto::v1::{Disposition, Header, Receipt};
use base64::Engine;
use bytes::Bytes;
use serde_json::Value;
use time::macros::datetime;

const FEDERATION: &str = "wco-ecom.test";
const RECEIVER_KEY_ID: &str = "adm/NL#vectors-1";

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/vectors.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).expect("vectors.json is JSON")
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {field} is not a string: {}", v[field]))
}

fn hx(v: &Value, field: &str) -> Vec<u8> {
    hex::decode(text(v, field)).unwrap_or_else(|e| panic!("vector field {field} is not hex: {e}"))
}

fn int(v: &Value, field: &str) -> i64 {
    v[field]
        .as_i64()
        .unwrap_or_else(|| panic!("vector field {field} is not an integer: {}", v[field]))
}

fn uint(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("vector field {field} is not an unsigned integer"))
}

/// Compares in hex so that a mismatch shows both byte strings.
fn assert_hex_eq(what: &str, ours: &[u8], theirs: &[u8]) {
    assert_eq!(
        hex::encode(ours),
        hex::encode(theirs),
        "{what}: ours (left) differs from the vector (right)"
    );
}

fn vector_key(v: &Value) -> SigningKey {
    SigningKey::ed25519_from_seed(&hx(v, "ed25519_seed")).expect("seed is a valid Ed25519 seed")
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn seed_gives_the_vector_public_key() {
    let v = vectors();
    let key = vector_key(&v);
    assert_eq!(key.algorithm(), Algorithm::Ed25519);
    assert_hex_eq(
        "ed25519_public_key",
        &key.public_key(),
        &hx(&v, "ed25519_public_key"),
    );
    assert_eq!(
        b64(&key.public_key()),
        text(&v, "ed25519_public_key_base64")
    );
}

fn header_of(h: &Value) -> Header {
    Header {
        message_id: text(h, "message_id").to_owned(),
        sender: text(h, "sender").to_owned(),
        recipient: text(h, "recipient").to_owned(),
        r#type: i32::try_from(int(h, "type")).expect("type fits i32"),
        created_at_ms: int(h, "created_at_ms"),
        correlation_id: text(h, "correlation_id").to_owned(),
        payload_sha256: Bytes::from(hx(h, "payload_sha256")),
    }
}

#[test]
fn envelopes_reproduce_signing_input_digest_and_signature() {
    let v = vectors();
    let key = vector_key(&v);
    let envelopes = v["envelopes"].as_array().expect("envelopes array");
    assert_eq!(envelopes.len(), 4, "the vectors hold four envelopes");
    for (i, e) in envelopes.iter().enumerate() {
        let header = header_of(&e["header"]);
        let payload = hx(e, "payload");
        let input = envelope_signing_input(&header);
        assert_hex_eq(
            &format!("envelopes[{i}].signing_input"),
            &input,
            &hx(e, "signing_input"),
        );
        assert_hex_eq(
            &format!("envelopes[{i}].envelope_digest"),
            &envelope_digest(&header),
            &hx(e, "envelope_digest"),
        );
        assert_hex_eq(
            &format!("envelopes[{i}].header.payload_sha256"),
            &sha256(&payload),
            &header.payload_sha256,
        );
        let signature = key.sign(&input);
        assert_hex_eq(
            &format!("envelopes[{i}].ed25519_signature"),
            &signature,
            &hx(e, "ed25519_signature"),
        );
        assert!(
            key.verifying_key().verify(&input, &signature),
            "envelopes[{i}]: our own verification refuses the vector signature"
        );
    }
}

#[test]
fn sealed_drafts_carry_the_vector_signatures() {
    let v = vectors();
    let key = vector_key(&v);
    for (i, e) in v["envelopes"]
        .as_array()
        .expect("envelopes")
        .iter()
        .enumerate()
    {
        let expected = header_of(&e["header"]);
        let draft = Draft {
            message_id: expected.message_id.clone(),
            sender: expected.sender.clone(),
            recipient: expected.recipient.clone(),
            message_type: expected.r#type,
            created_at_ms: expected.created_at_ms,
            correlation_id: expected.correlation_id.clone(),
            payload: Bytes::from(hx(e, "payload")),
        };
        let key_id = format!("{}#vectors-1", expected.sender);
        let envelope = seal(draft, &key, &key_id);
        let header = envelope
            .header
            .as_ref()
            .expect("sealed envelope has a header");
        assert_eq!(header, &expected, "envelopes[{i}]: sealed header");
        assert_hex_eq(
            &format!("envelopes[{i}].payload (sealed)"),
            &envelope.payload,
            &hx(e, "payload"),
        );
        let signature = envelope
            .signature
            .as_ref()
            .expect("sealed envelope is signed");
        assert_eq!(signature.key_id, key_id);
        assert_hex_eq(
            &format!("envelopes[{i}].ed25519_signature (sealed)"),
            &signature.value,
            &hx(e, "ed25519_signature"),
        );
    }
}

struct ReceiptVector {
    message_id: String,
    receiver: String,
    received_at_ms: i64,
    envelope_digest: Vec<u8>,
    disposition: i32,
    log_index: u64,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
}

impl ReceiptVector {
    fn load(v: &Value) -> Self {
        let r = &v["receipt"];
        Self {
            message_id: text(r, "message_id").to_owned(),
            receiver: text(r, "receiver").to_owned(),
            received_at_ms: int(r, "received_at_ms"),
            envelope_digest: hx(r, "envelope_digest"),
            disposition: i32::try_from(int(r, "disposition")).expect("disposition fits i32"),
            log_index: uint(r, "log_index"),
            signing_input: hx(r, "signing_input"),
            signature: hx(r, "ed25519_signature"),
        }
    }

    fn fields(&self) -> ReceiptFields<'_> {
        ReceiptFields {
            message_id: &self.message_id,
            receiver: &self.receiver,
            received_at_ms: self.received_at_ms,
            envelope_digest: &self.envelope_digest,
            disposition: self.disposition,
            log_index: self.log_index,
        }
    }
}

#[test]
fn receipt_reproduces_signing_input_and_signature() {
    let v = vectors();
    let key = vector_key(&v);
    let r = ReceiptVector::load(&v);
    assert_eq!(r.disposition, Disposition::Accepted as i32);
    let input = receipt_signing_input(&r.fields());
    assert_hex_eq("receipt.signing_input", &input, &r.signing_input);
    assert_hex_eq("receipt.ed25519_signature", &key.sign(&input), &r.signature);
    let receipt = sign_receipt(&r.fields(), &key, RECEIVER_KEY_ID);
    let signature = receipt.signature.as_ref().expect("signed receipt");
    assert_eq!(signature.key_id, RECEIVER_KEY_ID);
    assert_hex_eq(
        "receipt.ed25519_signature (sign_receipt)",
        &signature.value,
        &r.signature,
    );
    assert_eq!(receipt.message_id, r.message_id);
    assert_eq!(receipt.receiver, r.receiver);
    assert_eq!(receipt.received_at_ms, r.received_at_ms);
    assert_eq!(receipt.envelope_digest[..], r.envelope_digest[..]);
    assert_eq!(receipt.disposition, r.disposition);
    assert_eq!(receipt.log_index, r.log_index);
}

/// A signed, verified trust list in which adm/NL holds the vector public key as
/// `RECEIVER_KEY_ID`, and adm/BE holds the same public key as `adm/BE#vectors-1` (so that a
/// receipt moved to adm/BE reaches the signature check instead of failing the key lookup).
fn trust_list_with_vector_key(v: &Value) -> TrustList {
    let public_key = text(v, "ed25519_public_key_base64").to_owned();
    let administration = |id: &str, key_id: &str| ParticipantEntry {
        id: id.to_owned(),
        role: Role::Administration,
        name: id.to_owned(),
        endpoint: None,
        registered_with: vec![],
        signing_keys: vec![KeyEntry {
            key_id: key_id.to_owned(),
            algorithm: Algorithm::Ed25519,
            public_key: public_key.clone(),
            not_before: datetime!(2025-01-01 00:00:00 UTC),
            not_after: datetime!(2027-01-01 00:00:00 UTC),
        }],
    };
    let ca = CertificateAuthority::new("vectors test CA").expect("CA");
    let document = TrustListDocument {
        federation: FEDERATION.to_owned(),
        version: 1,
        issued_at: None,
        ca_certificates_pem: ca.cert_pem.clone(),
        participants: vec![
            administration("adm/NL", RECEIVER_KEY_ID),
            administration("adm/BE", "adm/BE#vectors-1"),
        ],
        agreements: vec![],
    };
    let operator = SigningKey::from_pkcs8_der(&generate_ed25519_pkcs8().expect("operator key"))
        .expect("operator key loads");
    let bytes = trust_list_bytes(&document);
    let signature = sign_trust_list(&bytes, &operator);
    TrustList::verify(
        &bytes,
        signature.as_bytes(),
        &[operator.verifying_key()],
        FEDERATION,
        None,
    )
    .expect("the test trust list verifies")
}

fn vector_receipt(v: &Value) -> (ReceiptVector, Receipt) {
    let r = ReceiptVector::load(v);
    let receipt = sign_receipt(&r.fields(), &vector_key(v), RECEIVER_KEY_ID);
    (r, receipt)
}

#[test]
fn vector_receipt_verifies_against_the_trust_list() {
    let v = vectors();
    let trust = trust_list_with_vector_key(&v);
    let (r, receipt) = vector_receipt(&v);
    // The receipt as signed by us, and the same receipt carrying the vector's own bytes.
    verify_receipt(
        &receipt,
        &r.message_id,
        &r.envelope_digest,
        &r.receiver,
        &trust,
    )
    .expect("the vector receipt verifies");
    let mut with_vector_signature = receipt.clone();
    if let Some(sig) = with_vector_signature.signature.as_mut() {
        sig.value = Bytes::from(r.signature.clone());
    }
    verify_receipt(
        &with_vector_signature,
        &r.message_id,
        &r.envelope_digest,
        &r.receiver,
        &trust,
    )
    .expect("the vector's signature bytes verify");
}

#[test]
fn vector_receipt_is_refused_once_changed() {
    let v = vectors();
    let trust = trust_list_with_vector_key(&v);
    let (r, receipt) = vector_receipt(&v);
    let check = |changed: &Receipt, receiver: &str| {
        verify_receipt(changed, &r.message_id, &r.envelope_digest, receiver, &trust)
    };

    let sig_len = receipt.signature.as_ref().map_or(0, |s| s.value.len());
    assert_eq!(sig_len, 64);
    for pos in [0, 31, 32, 63] {
        let mut changed = receipt.clone();
        if let Some(sig) = changed.signature.as_mut() {
            let mut value = sig.value.to_vec();
            value[pos] ^= 0x01;
            sig.value = Bytes::from(value);
        }
        assert_eq!(
            check(&changed, &r.receiver),
            Err(ReceiptProblem::SignatureInvalid),
            "signature byte {pos} changed"
        );
    }

    let mut changed = receipt.clone();
    changed.log_index += 1;
    assert_eq!(
        check(&changed, &r.receiver),
        Err(ReceiptProblem::SignatureInvalid),
        "log_index changed"
    );

    let mut changed = receipt.clone();
    changed.received_at_ms += 1;
    assert_eq!(
        check(&changed, &r.receiver),
        Err(ReceiptProblem::SignatureInvalid),
        "received_at_ms changed"
    );

    // ACCEPTED → DUPLICATE is a valid disposition, so only the signature can catch it.
    let mut changed = receipt.clone();
    changed.disposition = Disposition::Duplicate as i32;
    assert_eq!(
        check(&changed, &r.receiver),
        Err(ReceiptProblem::SignatureInvalid),
        "disposition changed to DUPLICATE"
    );
    for bad in [Disposition::Unspecified as i32, 3, -1] {
        let mut changed = receipt.clone();
        changed.disposition = bad;
        assert_eq!(
            check(&changed, &r.receiver),
            Err(ReceiptProblem::BadDisposition),
            "disposition {bad}"
        );
    }

    // A receipt claiming another receiver is refused for the addressed one ...
    let mut changed = receipt.clone();
    changed.receiver = "adm/BE".into();
    assert_eq!(
        check(&changed, &r.receiver),
        Err(ReceiptProblem::WrongReceiver {
            expected: r.receiver.clone(),
            found: "adm/BE".into()
        })
    );
    // ... its key is not adm/BE's ...
    assert!(matches!(
        check(&changed, "adm/BE"),
        Err(ReceiptProblem::Key(_))
    ));
    // ... and even under an adm/BE key id holding the same public key, the signature
    // covers the receiver.
    if let Some(sig) = changed.signature.as_mut() {
        sig.key_id = "adm/BE#vectors-1".into();
    }
    assert_eq!(
        check(&changed, "adm/BE"),
        Err(ReceiptProblem::SignatureInvalid),
        "receiver changed"
    );

    let mut changed = receipt.clone();
    changed.message_id = "0192f3a4-5b6c-7d8e-9f01-23456789abce".into();
    assert!(matches!(
        check(&changed, &r.receiver),
        Err(ReceiptProblem::WrongMessage { .. })
    ));

    let mut changed = receipt.clone();
    let mut digest = changed.envelope_digest.to_vec();
    digest[0] ^= 0x80;
    changed.envelope_digest = Bytes::from(digest);
    assert_eq!(
        check(&changed, &r.receiver),
        Err(ReceiptProblem::WrongDigest)
    );

    let mut changed = receipt.clone();
    changed.signature = None;
    assert!(matches!(
        check(&changed, &r.receiver),
        Err(ReceiptProblem::Key(_))
    ));
}

#[test]
fn ecdsa_p256_vector_verifies_and_broken_one_does_not() {
    let v = vectors();
    let e = &v["ecdsa_p256_sha256"];
    let key = VerifyingKey {
        algorithm: Algorithm::EcdsaP256Sha256,
        public_key: hx(e, "public_key_sec1"),
    };
    assert!(key.is_well_formed());
    let message = hx(e, "message");
    let valid = e["valid"].as_bool().expect("valid is a bool");
    let broken_valid = e["broken_valid"].as_bool().expect("broken_valid is a bool");
    assert!(
        valid && !broken_valid,
        "the vector itself expects valid / not valid"
    );
    assert_eq!(key.verify(&message, &hx(e, "signature_fixed")), valid);
    assert_eq!(
        key.verify(&message, &hx(e, "broken_signature_fixed")),
        broken_valid
    );
    // The message is the first envelope's signing input.
    let first = header_of(&v["envelopes"][0]["header"]);
    assert_hex_eq(
        "ecdsa_p256_sha256.message",
        &envelope_signing_input(&first),
        &message,
    );
    // An ECDSA signature is never accepted as Ed25519 and vice versa.
    let as_ed25519 = VerifyingKey {
        algorithm: Algorithm::Ed25519,
        public_key: hx(e, "public_key_sec1"),
    };
    assert!(!as_ed25519.verify(&message, &hx(e, "signature_fixed")));
}

#[test]
fn tree_head_reproduces_signing_input_and_signature() {
    let v = vectors();
    let t = &v["tree_head"];
    let input = tree_head_signing_input(
        text(t, "log_id"),
        uint(t, "tree_size"),
        int(t, "timestamp_ms"),
        &hx(t, "root_hash"),
    );
    assert_hex_eq("tree_head.signing_input", &input, &hx(t, "signing_input"));
    assert_hex_eq(
        "tree_head.ed25519_signature",
        &vector_key(&v).sign(&input),
        &hx(t, "ed25519_signature"),
    );
}

#[test]
fn trust_list_signature_reproduces_and_verifies() {
    let v = vectors();
    let t = &v["trust_list_signature"];
    let file_bytes = hx(t, "file_bytes");
    let expected = text(t, "signature_base64");
    let operator = vector_key(&v);
    assert_eq!(sign_trust_list(&file_bytes, &operator), expected);

    let operator_keys = [operator.verifying_key()];
    let verify = |bytes: &[u8], signature: &[u8]| {
        TrustList::verify(bytes, signature, &operator_keys, FEDERATION, None)
    };
    // The vector's file is a bare `{"federation":...,"version":1}`: its signature verifies,
    // and the list is then refused only because it names no CA.
    for signature in [expected.to_owned(), format!("{expected}\n")] {
        match verify(&file_bytes, signature.as_bytes()) {
            Err(TrustError::SignatureInvalid | TrustError::SignatureEncoding) => {
                panic!("the vector trust-list signature was refused")
            }
            Err(TrustError::Inconsistent(_)) => {}
            other => panic!("expected the CA-less list to be inconsistent, got {other:?}"),
        }
    }
    for pos in [0, file_bytes.len() / 2, file_bytes.len() - 1] {
        let mut changed = file_bytes.clone();
        changed[pos] ^= 0x01;
        assert!(
            matches!(
                verify(&changed, expected.as_bytes()),
                Err(TrustError::SignatureInvalid)
            ),
            "file byte {pos} changed"
        );
    }
}

#[test]
fn accepted_audit_leaf_and_its_hash() {
    let v = vectors();
    let a = &v["audit_leaf_accepted"];
    let digest = hx(a, "envelope_digest");
    assert_eq!(digest.len(), 32);
    // §9: leaf = 0x01 || envelope_digest || i64be(received_at_ms).
    let mut leaf = vec![0x01];
    leaf.extend_from_slice(&digest);
    leaf.extend_from_slice(&int(a, "received_at_ms").to_be_bytes());
    assert_hex_eq("audit_leaf_accepted.leaf", &leaf, &hx(a, "leaf"));
    // RFC 9162: leaf hash = SHA-256(0x00 || leaf).
    let mut prefixed = vec![0x00];
    prefixed.extend_from_slice(&leaf);
    assert_hex_eq(
        "audit_leaf_accepted.leaf_hash",
        &sha256(&prefixed),
        &hx(a, "leaf_hash"),
    );
    // The leaf acknowledges the first envelope at the receipt's time.
    assert_hex_eq(
        "audit_leaf_accepted.envelope_digest",
        &digest,
        &hx(&v["envelopes"][0], "envelope_digest"),
    );
    assert_eq!(
        int(a, "received_at_ms"),
        int(&v["receipt"], "received_at_ms")
    );
}

// merkle_rfc9162 (empty root, roots of 1..=13 leaves, inclusion and consistency proofs):
// no test yet — the Merkle module does not exist; issue #4 adds it and these vectors' tests.
