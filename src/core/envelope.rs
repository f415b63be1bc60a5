//! The byte-exact signing inputs of §2, §3, §4 and §9, and the envelope digest.
//!
//! These functions are the contract's most fragile surface: one byte off and no other
//! implementation can verify our signatures. They are checked against the independent
//! vectors in `tests/vectors/vectors.json`.

use crate::core::crypto::SigningKey;
use crate::proto::v1::{Envelope, Header, Receipt, Signature};
use bytes::Bytes;
use ring::digest::{digest, SHA256};

/// Domain separator of envelope signatures.
pub const ENVELOPE_CONTEXT: &[u8] = b"aedgate/v1/envelope";
/// Domain separator of receipt signatures.
pub const RECEIPT_CONTEXT: &[u8] = b"aedgate/v1/receipt";
/// Domain separator of tree-head signatures.
pub const TREE_HEAD_CONTEXT: &[u8] = b"aedgate/v1/tree-head";
/// Domain separator of the trust-list signature.
pub const TRUST_LIST_CONTEXT: &[u8] = b"aedgate/v1/trust-list";

/// A SHA-256 digest.
pub type Digest32 = [u8; 32];

/// SHA-256 of arbitrary bytes.
pub fn sha256(data: &[u8]) -> Digest32 {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, data).as_ref());
    out
}

fn put_lp(out: &mut Vec<u8>, field: &[u8]) {
    // Fields are bounded (ids ≤ 64, ids of 36) long before u32 could overflow; a longer one
    // still encodes a distinct, verifiable prefix because the length saturates.
    let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(field);
}

fn context(label: &[u8], capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(label.len() + 1 + capacity);
    out.extend_from_slice(label);
    out.push(0);
    out
}

/// The signing input of an envelope header. `payload_sha256` is written as it is; callers
/// check first that it is 32 bytes (a MALFORMED envelope has no signing input).
pub fn envelope_signing_input(header: &Header) -> Vec<u8> {
    let mut out = context(
        ENVELOPE_CONTEXT,
        4 * 4
            + 12
            + header.message_id.len()
            + header.sender.len()
            + header.recipient.len()
            + 36
            + 32,
    );
    put_lp(&mut out, header.message_id.as_bytes());
    put_lp(&mut out, header.sender.as_bytes());
    put_lp(&mut out, header.recipient.as_bytes());
    out.extend_from_slice(&(header.r#type as u32).to_be_bytes());
    out.extend_from_slice(&header.created_at_ms.to_be_bytes());
    put_lp(&mut out, header.correlation_id.as_bytes());
    out.extend_from_slice(&header.payload_sha256);
    out
}

/// SHA-256 of the envelope signing input: the envelope's identity in receipts, the
/// idempotency check and the audit log.
pub fn envelope_digest(header: &Header) -> Digest32 {
    sha256(&envelope_signing_input(header))
}

/// The fields a receipt signature covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptFields<'a> {
    /// The acknowledged envelope's message id.
    pub message_id: &'a str,
    /// The receiving administration.
    pub receiver: &'a str,
    /// When the envelope was first durably stored.
    pub received_at_ms: i64,
    /// Digest of the acknowledged envelope.
    pub envelope_digest: &'a [u8],
    /// `Disposition` enum value.
    pub disposition: i32,
    /// The envelope's leaf index in the receiver's log.
    pub log_index: u64,
}

/// The receipt signing input of §4.
pub fn receipt_signing_input(fields: &ReceiptFields<'_>) -> Vec<u8> {
    let mut out = context(
        RECEIPT_CONTEXT,
        8 + fields.message_id.len() + fields.receiver.len() + 56,
    );
    put_lp(&mut out, fields.message_id.as_bytes());
    put_lp(&mut out, fields.receiver.as_bytes());
    out.extend_from_slice(&fields.received_at_ms.to_be_bytes());
    out.extend_from_slice(fields.envelope_digest);
    out.extend_from_slice(&(fields.disposition as u32).to_be_bytes());
    out.extend_from_slice(&fields.log_index.to_be_bytes());
    out
}

impl<'a> ReceiptFields<'a> {
    /// The signed fields of a `Receipt` message as it stands (its signature aside).
    pub fn of(receipt: &'a Receipt) -> Self {
        ReceiptFields {
            message_id: &receipt.message_id,
            receiver: &receipt.receiver,
            received_at_ms: receipt.received_at_ms,
            envelope_digest: &receipt.envelope_digest,
            disposition: receipt.disposition,
            log_index: receipt.log_index,
        }
    }
}

/// The receipt signing input of a received `Receipt` message.
pub fn receipt_signing_input_of(receipt: &Receipt) -> Vec<u8> {
    receipt_signing_input(&ReceiptFields::of(receipt))
}

/// Builds and signs a receipt.
pub fn sign_receipt(fields: &ReceiptFields<'_>, key: &SigningKey, key_id: &str) -> Receipt {
    let value = key.sign(&receipt_signing_input(fields));
    Receipt {
        message_id: fields.message_id.to_owned(),
        receiver: fields.receiver.to_owned(),
        received_at_ms: fields.received_at_ms,
        envelope_digest: Bytes::copy_from_slice(fields.envelope_digest),
        disposition: fields.disposition,
        log_index: fields.log_index,
        signature: Some(Signature {
            key_id: key_id.to_owned(),
            value: Bytes::from(value),
        }),
    }
}

/// The tree-head signing input of §9.
pub fn tree_head_signing_input(
    log_id: &str,
    tree_size: u64,
    timestamp_ms: i64,
    root_hash: &[u8],
) -> Vec<u8> {
    let mut out = context(TREE_HEAD_CONTEXT, 4 + log_id.len() + 16 + root_hash.len());
    put_lp(&mut out, log_id.as_bytes());
    out.extend_from_slice(&tree_size.to_be_bytes());
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    out.extend_from_slice(root_hash);
    out
}

/// The trust-list signing input of §2: the exact file bytes, never a re-serialisation.
pub fn trust_list_signing_input(file_bytes: &[u8]) -> Vec<u8> {
    let mut out = context(TRUST_LIST_CONTEXT, file_bytes.len());
    out.extend_from_slice(file_bytes);
    out
}

/// What a sender fills in; the digest and signature are computed from it.
#[derive(Clone, Debug)]
pub struct Draft {
    /// Fresh message id (UUID v7 recommended).
    pub message_id: String,
    /// The signing participant.
    pub sender: String,
    /// The addressed administration (or partner, for outcomes).
    pub recipient: String,
    /// `MessageType` enum value.
    pub message_type: i32,
    /// Sender's clock, Unix milliseconds.
    pub created_at_ms: i64,
    /// The message this one answers or amends, else "".
    pub correlation_id: String,
    /// The exact payload bytes to be signed and sent.
    pub payload: Bytes,
}

/// Seals a draft into a signed envelope: payload digest, signing input, signature.
pub fn seal(draft: Draft, key: &SigningKey, key_id: &str) -> Envelope {
    let header = Header {
        message_id: draft.message_id,
        sender: draft.sender,
        recipient: draft.recipient,
        r#type: draft.message_type,
        created_at_ms: draft.created_at_ms,
        correlation_id: draft.correlation_id,
        payload_sha256: Bytes::copy_from_slice(&sha256(&draft.payload)),
    };
    let value = key.sign(&envelope_signing_input(&header));
    Envelope {
        header: Some(header),
        payload: draft.payload,
        signature: Some(Signature {
            key_id: key_id.to_owned(),
            value: Bytes::from(value),
        }),
    }
}
