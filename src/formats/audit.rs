//! The JSON files of receipts and signed tree heads that auditors keep.
//!
//! A receipt (§4) is a partner's evidence that an administration received its envelope, and
//! a signed tree head (§9) is an administration's commitment to its whole log; both are only
//! worth keeping if their signatures can still be checked years later. So they are kept as
//! small text files (`aedgate submit --receipt-out`, `aedgate audit watch --state`) that
//! people can read, diff and archive, and that `aedgate audit verify-receipt` and
//! `verify-store` read back.
//!
//! The form follows the other JSON forms ([`super::declaration`]): every key is the proto
//! field name, in proto order, and an unknown or misspelt key is an error. Unlike those
//! forms, every field except `signature` is *required*: a signature covers every field, so a
//! forgotten `log_index` silently read as 0 would turn valid evidence into a failed check
//! with a misleading reason. Byte fields are written so that no byte is lost and the
//! signature still verifies after any number of round trips:
//!
//! - `envelope_digest` and `root_hash` are 64 lowercase hex digits. Hashes are compared by
//!   eye and against `sha256sum`, which print lowercase hex; reading refuses anything but
//!   exactly 32 bytes written that way, so a file has one spelling of a hash.
//! - `signature` is `{"key_id": "...", "value": "<standard padded base64>"}`, the trust
//!   list's encoding of keys; it is left out when the message carries none.
//! - `disposition` is `"ACCEPTED"` or `"DUPLICATE"`. Any other value (which no conforming
//!   gateway signs, and which verification refuses) is written and read as its number, so
//!   that even such a receipt is kept exactly as it was signed.
//! - `int64`/`uint64` fields are JSON numbers (serde_json reads all 64 bits exactly).
//!
//! Files written by other tools may also hold the protobuf bytes of the message (for
//! example a receipt a partner's own client stored as it came off the wire);
//! [`read_receipt`] and [`read_tree_head`] accept both. The one loss in writing: a receipt whose `envelope_digest` (or a head whose
//! `root_hash`) is not 32 bytes is written, but not read back; such a message names no leaf
//! or tree and fails verification either way.

use base64::Engine;
use bytes::Bytes;
use prost::Message;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::{read, write, Form, FormatError};
use crate::proto::v1::{Disposition, Receipt, Signature, SignedTreeHead};

/// Writes a receipt in its JSON form, pretty-printed, with a final newline.
pub fn receipt_to_json(receipt: &Receipt) -> String {
    write(&ReceiptJson::from(receipt))
}

/// Reads a receipt from its JSON form. The form is checked, not the signature: verify the
/// result with [`crate::core::receipt::verify_receipt`] or [`crate::core::audit`].
///
/// # Errors
///
/// [`FormatError::Json`] when the text is not JSON, or JSON of another shape.
pub fn receipt_from_json(text: &str) -> Result<Receipt, FormatError> {
    read::<ReceiptJson, _>(Form::Evidence, text.as_bytes())
}

/// Writes a signed tree head in its JSON form, pretty-printed, with a final newline.
pub fn tree_head_to_json(head: &SignedTreeHead) -> String {
    write(&TreeHeadJson::from(head))
}

/// Reads a signed tree head from its JSON form (form only; verify it with
/// [`crate::core::audit::verify_tree_head`]).
///
/// # Errors
///
/// [`FormatError::Json`] when the text is not JSON, or JSON of another shape.
pub fn tree_head_from_json(text: &str) -> Result<SignedTreeHead, FormatError> {
    read::<TreeHeadJson, _>(Form::Evidence, text.as_bytes())
}

/// Reads a receipt file in either form: JSON (the first character other than JSON
/// whitespace is `{`, after an optional UTF-8 byte-order mark) or the protobuf bytes of
/// `Receipt`.
///
/// The forms cannot be confused for a receipt a gateway signed: its protobuf encoding starts
/// with byte 0x0a (a newline) followed by the length of `message_id`, which is 36, never
/// 0x7b (`{`, 123).
///
/// # Errors
///
/// Those of [`receipt_from_json`] for JSON, [`FormatError::Protobuf`] for bytes that
/// are not a `Receipt`, [`FormatError::Empty`] for an empty file.
pub fn read_receipt(bytes: &[u8]) -> Result<Receipt, FormatError> {
    read_either::<ReceiptJson, Receipt>(bytes)
}

/// Reads a tree-head file in either form, like [`read_receipt`]: JSON or the protobuf bytes
/// of `SignedTreeHead` (whose first field, `log_id`, is a participant id of at most 64
/// characters, so its encoding never starts like JSON).
///
/// # Errors
///
/// Those of [`tree_head_from_json`] for JSON, [`FormatError::Protobuf`] for bytes that
/// are not a `SignedTreeHead`, [`FormatError::Empty`] for an empty file.
pub fn read_tree_head(bytes: &[u8]) -> Result<SignedTreeHead, FormatError> {
    read_either::<TreeHeadJson, SignedTreeHead>(bytes)
}

fn read_either<J, T>(bytes: &[u8]) -> Result<T, FormatError>
where
    J: de::DeserializeOwned + Into<T>,
    T: Message + Default,
{
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match bytes
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        None => Err(FormatError::Empty),
        Some(b'{') => read::<J, T>(Form::Evidence, bytes),
        Some(_) => T::decode(bytes).map_err(FormatError::Protobuf),
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptJson {
    message_id: String,
    receiver: String,
    received_at_ms: i64,
    #[serde(serialize_with = "write_hex", deserialize_with = "read_digest")]
    envelope_digest: Bytes,
    disposition: DispositionJson,
    log_index: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<SignatureJson>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TreeHeadJson {
    log_id: String,
    tree_size: u64,
    timestamp_ms: i64,
    #[serde(serialize_with = "write_hex", deserialize_with = "read_root")]
    root_hash: Bytes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<SignatureJson>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureJson {
    key_id: String,
    #[serde(serialize_with = "write_base64", deserialize_with = "read_base64")]
    value: Bytes,
}

impl From<&Receipt> for ReceiptJson {
    fn from(r: &Receipt) -> Self {
        Self {
            message_id: r.message_id.clone(),
            receiver: r.receiver.clone(),
            received_at_ms: r.received_at_ms,
            envelope_digest: r.envelope_digest.clone(),
            disposition: DispositionJson(r.disposition),
            log_index: r.log_index,
            signature: r.signature.as_ref().map(SignatureJson::from),
        }
    }
}

impl From<ReceiptJson> for Receipt {
    fn from(r: ReceiptJson) -> Self {
        Self {
            message_id: r.message_id,
            receiver: r.receiver,
            received_at_ms: r.received_at_ms,
            envelope_digest: r.envelope_digest,
            disposition: r.disposition.0,
            log_index: r.log_index,
            signature: r.signature.map(Signature::from),
        }
    }
}

impl From<&SignedTreeHead> for TreeHeadJson {
    fn from(h: &SignedTreeHead) -> Self {
        Self {
            log_id: h.log_id.clone(),
            tree_size: h.tree_size,
            timestamp_ms: h.timestamp_ms,
            root_hash: h.root_hash.clone(),
            signature: h.signature.as_ref().map(SignatureJson::from),
        }
    }
}

impl From<TreeHeadJson> for SignedTreeHead {
    fn from(h: TreeHeadJson) -> Self {
        Self {
            log_id: h.log_id,
            tree_size: h.tree_size,
            timestamp_ms: h.timestamp_ms,
            root_hash: h.root_hash,
            signature: h.signature.map(Signature::from),
        }
    }
}

impl From<&Signature> for SignatureJson {
    fn from(s: &Signature) -> Self {
        Self {
            key_id: s.key_id.clone(),
            value: s.value.clone(),
        }
    }
}

impl From<SignatureJson> for Signature {
    fn from(s: SignatureJson) -> Self {
        Self {
            key_id: s.key_id,
            value: s.value,
        }
    }
}

fn write_hex<S: Serializer>(bytes: &Bytes, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex::encode(bytes))
}

fn read_digest<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
    read_hash(deserializer, "envelope_digest")
}

fn read_root<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
    read_hash(deserializer, "root_hash")
}

/// A SHA-256 hash: exactly 64 lowercase hex digits.
fn read_hash<'de, D: Deserializer<'de>>(deserializer: D, field: &str) -> Result<Bytes, D::Error> {
    let text = String::deserialize(deserializer)?;
    if let Some((at, c)) = text
        .char_indices()
        .find(|(_, c)| !matches!(c, '0'..='9' | 'a'..='f'))
    {
        return Err(de::Error::custom(format!(
            "{field} must be lowercase hex (0-9, a-f); found {c:?} at character {}",
            text[..at].chars().count() + 1
        )));
    }
    if text.len() != 64 {
        return Err(de::Error::custom(format!(
            "{field} must be a 32-byte SHA-256 hash, 64 hex digits; found {} digits",
            text.len()
        )));
    }
    hex::decode(&text)
        .map(Bytes::from)
        .map_err(|e| de::Error::custom(format!("{field}: {e}")))
}

fn write_base64<S: Serializer>(bytes: &Bytes, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn read_base64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
    let text = String::deserialize(deserializer)?;
    base64::engine::general_purpose::STANDARD
        .decode(&text)
        .map(Bytes::from)
        .map_err(|e| {
            de::Error::custom(format!(
                "signature value must be standard base64 with padding ({e})"
            ))
        })
}

/// `disposition`: the name for the contract's two values, the number for anything else.
#[derive(Clone, Copy, Debug)]
struct DispositionJson(i32);

impl Serialize for DispositionJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match Disposition::try_from(self.0) {
            Ok(Disposition::Accepted) => serializer.serialize_str("ACCEPTED"),
            Ok(Disposition::Duplicate) => serializer.serialize_str("DUPLICATE"),
            _ => serializer.serialize_i32(self.0),
        }
    }
}

impl<'de> Deserialize<'de> for DispositionJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DispositionVisitor)
    }
}

struct DispositionVisitor;

impl Visitor<'_> for DispositionVisitor {
    type Value = DispositionJson;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"ACCEPTED\" or \"DUPLICATE\"")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<DispositionJson, E> {
        match name {
            "ACCEPTED" => Ok(DispositionJson(Disposition::Accepted as i32)),
            "DUPLICATE" => Ok(DispositionJson(Disposition::Duplicate as i32)),
            _ => Err(E::custom(format!(
                "unknown disposition {name:?}, expected \"ACCEPTED\" or \"DUPLICATE\""
            ))),
        }
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<DispositionJson, E> {
        i32::try_from(n)
            .map(DispositionJson)
            .map_err(|_| E::custom(format!("disposition {n} is out of range")))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<DispositionJson, E> {
        i32::try_from(n)
            .map(DispositionJson)
            .map_err(|_| E::custom(format!("disposition {n} is out of range")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::crypto::SigningKey;
    use crate::core::envelope::{
        receipt_signing_input_of, sign_receipt, tree_head_signing_input, ReceiptFields,
    };
    use serde_json::error::Category;

    fn vectors() -> serde_json::Value {
        serde_json::from_str(include_str!("../../tests/vectors/vectors.json"))
            .expect("vectors.json is JSON")
    }

    fn hx(v: &serde_json::Value, field: &str) -> Vec<u8> {
        hex::decode(v[field].as_str().expect("hex string")).expect("hex")
    }

    fn key() -> SigningKey {
        SigningKey::ed25519_from_seed(&hx(&vectors(), "ed25519_seed")).expect("seed")
    }

    /// The receipt of the vectors, signed by the vector key.
    fn vector_receipt() -> Receipt {
        let v = vectors();
        let r = &v["receipt"];
        let digest = hx(r, "envelope_digest");
        let receipt = sign_receipt(
            &ReceiptFields {
                message_id: r["message_id"].as_str().expect("id"),
                receiver: r["receiver"].as_str().expect("receiver"),
                received_at_ms: r["received_at_ms"].as_i64().expect("ms"),
                envelope_digest: &digest,
                disposition: r["disposition"].as_i64().expect("disposition") as i32,
                log_index: r["log_index"].as_u64().expect("index"),
            },
            &key(),
            "adm/NL#2026-1",
        );
        assert_eq!(
            hex::encode(&receipt.signature.as_ref().expect("signed").value),
            hex::encode(hx(r, "ed25519_signature"))
        );
        receipt
    }

    fn vector_head() -> SignedTreeHead {
        let v = vectors();
        let t = &v["tree_head"];
        SignedTreeHead {
            log_id: t["log_id"].as_str().expect("log id").into(),
            tree_size: t["tree_size"].as_u64().expect("size"),
            timestamp_ms: t["timestamp_ms"].as_i64().expect("ts"),
            root_hash: hx(t, "root_hash").into(),
            signature: Some(Signature {
                key_id: "adm/NL#2026-1".into(),
                value: hx(t, "ed25519_signature").into(),
            }),
        }
    }

    fn receipt_verifies(receipt: &Receipt) -> bool {
        let signature = receipt.signature.as_ref().expect("signed");
        key()
            .verifying_key()
            .verify(&receipt_signing_input_of(receipt), &signature.value)
    }

    const VECTOR_RECEIPT_JSON: &str = r#"{
  "message_id": "0192f3a4-5b6c-7d8e-9f01-23456789abcd",
  "receiver": "adm/NL",
  "received_at_ms": 1764201600500,
  "envelope_digest": "e9ae0dafc3d897e3b0cf1af28532547294073f1f2a9181b6899ee29302ef2ab1",
  "disposition": "ACCEPTED",
  "log_index": 41,
  "signature": {
    "key_id": "adm/NL#2026-1",
    "value": "pzyn/GZfezyjdTzlRrTEOj3+MxaK3EUUIyyGO/FoOo0i36gnBVfRttSuzQIggu1Gg8Gf0xHf8jceGmYV3XIFCQ=="
  }
}
"#;

    #[test]
    fn a_signed_receipt_is_written_in_the_documented_form() {
        assert_eq!(receipt_to_json(&vector_receipt()), VECTOR_RECEIPT_JSON);
    }

    #[test]
    fn a_signed_receipt_survives_the_json_round_trip_and_still_verifies() {
        let receipt = vector_receipt();
        assert!(receipt_verifies(&receipt));
        let back = receipt_from_json(&receipt_to_json(&receipt)).expect("reads back");
        assert_eq!(back, receipt);
        assert!(receipt_verifies(&back));
        // A duplicate, an extreme time and index, and an unsigned receipt all survive too.
        let mut odd = sign_receipt(
            &ReceiptFields {
                message_id: "0192f3a4-5b6c-7d8e-9f01-23456789abcd",
                receiver: "adm/NL",
                received_at_ms: i64::MIN,
                envelope_digest: &[0xff; 32],
                disposition: Disposition::Duplicate as i32,
                log_index: u64::MAX,
            },
            &key(),
            "adm/NL#2026-1",
        );
        let text = receipt_to_json(&odd);
        assert!(text.contains("\"disposition\": \"DUPLICATE\""), "{text}");
        assert!(
            text.contains("\"log_index\": 18446744073709551615"),
            "{text}"
        );
        let back = receipt_from_json(&text).expect("reads back");
        assert_eq!(back, odd);
        assert!(receipt_verifies(&back));
        odd.signature = None;
        let text = receipt_to_json(&odd);
        assert!(!text.contains("signature"), "{text}");
        assert_eq!(receipt_from_json(&text).expect("reads back"), odd);
    }

    #[test]
    fn other_dispositions_are_kept_as_numbers_and_unknown_names_refused() {
        for disposition in [0, 3, -1, i32::MAX] {
            let receipt = Receipt {
                disposition,
                ..vector_receipt()
            };
            let text = receipt_to_json(&receipt);
            assert!(
                text.contains(&format!("\"disposition\": {disposition},")),
                "{text}"
            );
            assert_eq!(receipt_from_json(&text).expect("reads back"), receipt);
        }
        for bad in [
            "\"ACCEPT\"",
            "\"accepted\"",
            "\"DISPOSITION_ACCEPTED\"",
            "1.5",
            "null",
            "4294967296",
        ] {
            let text = VECTOR_RECEIPT_JSON.replace("\"ACCEPTED\"", bad);
            let err = receipt_from_json(&text).unwrap_err();
            assert_eq!(err.category(), Some(Category::Data), "{bad}: {err:?}");
            assert_eq!(err.line(), 6, "{bad}: {err}");
        }
        let err = receipt_from_json(&VECTOR_RECEIPT_JSON.replace("\"ACCEPTED\"", "\"ACCEPT\""))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("expected \"ACCEPTED\" or \"DUPLICATE\""),
            "{err}"
        );
    }

    #[test]
    fn a_tree_head_survives_the_json_round_trip_and_still_verifies() {
        let head = vector_head();
        let text = tree_head_to_json(&head);
        assert!(
            text.contains(
                "\"root_hash\": \"a9fa26c1229595c6448a83f0a1cf984ee7719df6066dea8a12da9be24ed3dc82\""
            ),
            "{text}"
        );
        assert!(text.starts_with("{\n  \"log_id\": \"adm/NL\",\n  \"tree_size\": 13,\n"));
        assert!(text.ends_with("}\n"));
        let back = tree_head_from_json(&text).expect("reads back");
        assert_eq!(back, head);
        let input = tree_head_signing_input(
            &back.log_id,
            back.tree_size,
            back.timestamp_ms,
            &back.root_hash,
        );
        let signature = back.signature.expect("signed");
        assert!(key().verifying_key().verify(&input, &signature.value));
    }

    #[test]
    fn unknown_and_missing_keys_are_refused_with_their_position() {
        let text = VECTOR_RECEIPT_JSON.replace("\"log_index\"", "\"logindex\"");
        let err = receipt_from_json(&text).unwrap_err();
        assert_eq!(err.category(), Some(Category::Data), "{err:?}");
        assert!(
            err.to_string().contains("unknown field `logindex`"),
            "{err}"
        );
        assert!(err.to_string().contains("`log_index`"), "{err}");
        assert_eq!(err.line(), 7);
        assert!(err.column() > 0);

        let text = VECTOR_RECEIPT_JSON.replace("\"key_id\"", "\"kid\"");
        let err = receipt_from_json(&text).unwrap_err();
        assert!(err.to_string().contains("unknown field `kid`"), "{err}");
        assert_eq!(err.line(), 9);

        let text = VECTOR_RECEIPT_JSON.replace("  \"log_index\": 41,\n", "");
        let err = receipt_from_json(&text).unwrap_err();
        assert_eq!(err.category(), Some(Category::Data), "{err:?}");
        assert!(
            err.to_string().contains("missing field `log_index`"),
            "{err}"
        );

        let text = VECTOR_RECEIPT_JSON.replace("\"log_index\": 41", "\"log_index\": \"41\"");
        assert_eq!(
            receipt_from_json(&text).unwrap_err().category(),
            Some(Category::Data)
        );
        let text = VECTOR_RECEIPT_JSON.replace("\"log_index\": 41", "\"log_index\": -1");
        assert_eq!(
            receipt_from_json(&text).unwrap_err().category(),
            Some(Category::Data)
        );
        let text = VECTOR_RECEIPT_JSON.replace(
            "\"log_index\": 41,",
            "\"log_index\": 41,\n  \"log_index\": 42,",
        );
        let err = receipt_from_json(&text).unwrap_err();
        assert!(err.to_string().contains("duplicate field"), "{err}");

        let head = tree_head_to_json(&vector_head()).replace("\"tree_size\"", "\"size\"");
        let err = tree_head_from_json(&head).unwrap_err();
        assert!(err.to_string().contains("unknown field `size`"), "{err}");
        assert_eq!(err.line(), 3);
        let err = tree_head_from_json("{\"log_id\": \"adm/NL\"}").unwrap_err();
        assert!(err.to_string().contains("missing field"), "{err}");
    }

    #[test]
    fn hashes_must_be_32_bytes_of_lowercase_hex() {
        let digest = "e9ae0dafc3d897e3b0cf1af28532547294073f1f2a9181b6899ee29302ef2ab1";
        let cases = [
            (digest.to_uppercase(), "lowercase hex"),
            (digest.replacen('e', "g", 1), "found 'g' at character 1"),
            (digest.replacen('f', " ", 1), "lowercase hex"),
            (digest[..62].to_owned(), "found 62 digits"),
            (digest[..63].to_owned(), "found 63 digits"),
            (format!("{digest}00"), "found 66 digits"),
            (String::new(), "found 0 digits"),
            (format!("0x{}", &digest[2..]), "found 'x' at character 2"),
            (digest.replacen('e', "é", 1), "found 'é' at character 1"),
        ];
        for (bad, expected) in &cases {
            let text = VECTOR_RECEIPT_JSON.replace(digest, bad);
            let err = receipt_from_json(&text).unwrap_err();
            assert_eq!(err.category(), Some(Category::Data), "{bad}: {err:?}");
            let message = err.to_string();
            assert!(message.contains("envelope_digest"), "{message}");
            assert!(message.contains(expected), "{bad}: {message}");
            assert_eq!(err.line(), 5, "{message}");
        }
        let text = VECTOR_RECEIPT_JSON.replace(&format!("\"{digest}\""), "null");
        assert_eq!(
            receipt_from_json(&text).unwrap_err().category(),
            Some(Category::Data)
        );

        let head = tree_head_to_json(&vector_head());
        let root = "a9fa26c1229595c6448a83f0a1cf984ee7719df6066dea8a12da9be24ed3dc82";
        let err = tree_head_from_json(&head.replace(root, &root[..40])).unwrap_err();
        assert!(err.to_string().contains("root_hash"), "{err}");
        assert!(err.to_string().contains("found 40 digits"), "{err}");
        let err = tree_head_from_json(&head.replace(root, &root.to_uppercase())).unwrap_err();
        assert!(err.to_string().contains("lowercase hex"), "{err}");
    }

    #[test]
    fn signature_values_must_be_standard_padded_base64() {
        let value = "pzyn/GZfezyjdTzlRrTEOj3+MxaK3EUUIyyGO/FoOo0i36gnBVfRttSuzQIggu1Gg8Gf0xHf8jceGmYV3XIFCQ==";
        for bad in [
            value.replace('/', "_").replace('+', "-"),
            value.trim_end_matches('=').to_owned(),
            format!("{value}=="),
            "not base64!".to_owned(),
            value.replace("CQ==", "CR=="),
        ] {
            let text = VECTOR_RECEIPT_JSON.replace(value, &bad);
            let err = receipt_from_json(&text).unwrap_err();
            assert_eq!(err.category(), Some(Category::Data), "{bad}: {err:?}");
            assert!(err.to_string().contains("base64"), "{bad}: {err}");
            // serde_json places an error in the last value of an object at the object's
            // closing brace, one line further down.
            assert_eq!(err.line(), 11, "{bad}: {err}");
        }
    }

    #[test]
    fn malformed_json_is_a_syntax_error() {
        let err = receipt_from_json("{\"message_id\": \"x\",\n}").unwrap_err();
        assert_eq!(err.category(), Some(Category::Syntax), "{err:?}");
        assert_eq!(err.line(), 2);
        assert_eq!(
            receipt_from_json(&VECTOR_RECEIPT_JSON[..100])
                .unwrap_err()
                .category(),
            Some(Category::Eof)
        );
        assert_eq!(
            tree_head_from_json("").unwrap_err().category(),
            Some(Category::Eof)
        );
    }

    #[test]
    fn receipt_and_head_files_are_read_as_json_or_protobuf() {
        let receipt = vector_receipt();
        let protobuf = receipt.encode_to_vec();
        assert_eq!(protobuf[0], b'\n', "protobuf starts like whitespace");
        assert_eq!(read_receipt(&protobuf).expect("protobuf form"), receipt);
        assert_eq!(
            read_receipt(VECTOR_RECEIPT_JSON.as_bytes()).expect("JSON form"),
            receipt
        );
        let padded = format!("\u{feff}\r\n\t {VECTOR_RECEIPT_JSON}");
        assert_eq!(
            read_receipt(padded.as_bytes()).expect("BOM, space"),
            receipt
        );
        assert!(receipt_verifies(
            &read_receipt(&protobuf).expect("protobuf")
        ));

        let head = vector_head();
        assert_eq!(
            read_tree_head(&head.encode_to_vec()).expect("protobuf"),
            head
        );
        assert_eq!(
            read_tree_head(tree_head_to_json(&head).as_bytes()).expect("JSON"),
            head
        );

        for empty in [&b""[..], b" \n\t\r\n", b"\xef\xbb\xbf"] {
            assert!(matches!(read_receipt(empty), Err(FormatError::Empty)));
            assert!(matches!(read_tree_head(empty), Err(FormatError::Empty)));
        }
        let err = read_receipt(&protobuf[..protobuf.len() - 3]).unwrap_err();
        assert!(matches!(err, FormatError::Protobuf(_)), "{err:?}");
        assert_eq!((err.line(), err.column()), (0, 0));
        assert!(matches!(
            read_receipt(b"message_id: x"),
            Err(FormatError::Protobuf(_))
        ));
        // JSON is read as JSON, with its position, whatever else the bytes might decode to.
        let err = read_receipt(b"\n{\"message_id\": 1}").unwrap_err();
        assert_eq!(err.category(), Some(Category::Data), "{err:?}");
        assert_eq!(err.line(), 2);
        let err = read_receipt(b"{\"message_id\": \"\xff\"}").unwrap_err();
        assert!(err.line() > 0, "{err}");
    }
}
