//! What makes the audit log of §9 verifiable by someone who does not trust the gateway.
//!
//! A receipt only proves that the administration *said* it stored an envelope. A partner
//! wants more: that the envelope is in the administration's append-only log, and that the
//! log it is in was never rewritten afterwards. This module checks both from data the
//! partner can hold on its own: its receipt, a signed tree head, an inclusion proof for the
//! receipt's `log_index`, and consistency proofs between successive tree heads. A witness
//! that keeps the last head it saw, the offline `verify-store` tool and the CLI use the same
//! functions, so "verified" means the same thing everywhere.
//!
//! Everything here is pure: inputs are the wire messages as received (never trusted to be
//! well formed: a short `root_hash` or audit path entry is an [`AuditProblem`], never a
//! panic) and the trust list in force. Fetching heads and proofs is the caller's business.

use bytes::Bytes;

use crate::core::crypto::SigningKey;
use crate::core::envelope::tree_head_signing_input;
use crate::core::merkle::{
    accepted_leaf, empty_root, leaf_hash, verify_consistency, verify_inclusion, Hash,
};
use crate::core::receipt::{verify_receipt, ReceiptProblem};
use crate::core::trust::{SignatureError, TrustList};
use crate::proto::v1::{
    ConsistencyProofResponse, InclusionProofResponse, Receipt, Signature, SignedTreeHead,
};

/// Why a tree head, receipt or proof is not evidence of what it claims.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuditProblem {
    /// The head (or the receipt proven against it) belongs to another administration's log,
    /// or two heads compared by a witness come from different logs.
    #[error("log {found} is not the expected log {expected}")]
    WrongLog {
        /// The log the caller meant to check (or the receipt's receiver, or the older head's
        /// log).
        expected: String,
        /// The log named by the head.
        found: String,
    },
    /// A field that must be a SHA-256 hash has another length.
    #[error("{what} is {len} bytes long, not a 32-byte hash")]
    MalformedHash {
        /// Which field: `root_hash`, `envelope_digest`, `audit_path[3]`, `proof[0]`, ...
        what: String,
        /// Its actual length.
        len: usize,
    },
    /// The head carries no signature, so it commits the administration to nothing.
    #[error("tree head is unsigned")]
    UnsignedHead,
    /// The head is signed with a key that is not the log's administration's, or that was
    /// not valid at the head's `timestamp_ms`.
    #[error("tree head key: {0}")]
    HeadKey(String),
    /// The signature does not cover these fields: the head was altered or forged.
    #[error("tree head signature does not verify")]
    HeadSignatureInvalid,
    /// The inclusion proof is for another leaf than the one being checked.
    #[error("inclusion proof is for leaf {found}, not leaf {expected}")]
    ProofForOtherLeaf {
        /// The leaf being checked (the receipt's `log_index`).
        expected: u64,
        /// The proof's `leaf_index`.
        found: u64,
    },
    /// The inclusion proof is for another tree size than the head's.
    #[error("inclusion proof is for a tree of size {found}, the head's is {expected}")]
    ProofForOtherSize {
        /// The head's `tree_size`.
        expected: u64,
        /// The proof's `tree_size`.
        found: u64,
    },
    /// The head does not cover the leaf yet: fetch a newer head.
    #[error("leaf {index} is beyond the tree head (size {size})")]
    LeafBeyondHead {
        /// The leaf's index.
        index: u64,
        /// The head's `tree_size`.
        size: u64,
    },
    /// The audit path does not lead from the leaf to the head's root: the leaf is not in the
    /// log at that position, or the proof or head was tampered with.
    #[error("leaf {index} is not proven to be in the tree of size {size}")]
    NotIncluded {
        /// The leaf's index.
        index: u64,
        /// The head's `tree_size`.
        size: u64,
    },
    /// The newer head is smaller than the older one: the log lost entries.
    #[error("log was rolled back from size {old_size} to size {new_size}")]
    Rollback {
        /// The older head's size.
        old_size: u64,
        /// The newer head's size.
        new_size: u64,
    },
    /// Two signed heads of one size with different roots: the administration signed two
    /// different histories, which is proof of misbehaviour in itself.
    #[error("log forked: two different roots for size {size}")]
    Fork {
        /// The size both heads claim.
        size: u64,
    },
    /// The consistency proof does not show the older tree to be a prefix of the newer one:
    /// entries before `first` were changed, or the proof is not for these heads.
    #[error("log of size {second} is not proven to extend the log of size {first}")]
    Inconsistent {
        /// The older head's size.
        first: u64,
        /// The newer head's size.
        second: u64,
    },
    /// A stored log at least as long as a head its gateway signed gives another root at
    /// that size (or none: the hashes that make it are missing): an entry the head covers
    /// was changed, or the store is another log.
    #[error("the log of {log_size} entries has {} at size {size}, not the signed head's root {signed}", describe_root(.stored))]
    LogRewritten {
        /// The signed head's size.
        size: u64,
        /// The stored log's size.
        log_size: u64,
        /// The signed head's root, in hex (as the other variants, text: it is shown, and
        /// keeps the error small).
        signed: String,
        /// The stored log's root at `size` in hex, if the store holds what makes it.
        stored: Option<String>,
    },
    /// A head of size 0 whose root is not the empty tree's: no log looks like that.
    #[error("tree head of size 0 does not have the empty tree's root")]
    BadEmptyRoot,
    /// The receipt itself is not valid evidence.
    #[error("receipt: {0}")]
    Receipt(#[from] ReceiptProblem),
}

/// How [`AuditProblem::LogRewritten`] names the stored root.
fn describe_root(root: &Option<String>) -> String {
    match root {
        Some(root) => format!("root {root}"),
        None => "no root (hashes are missing)".to_owned(),
    }
}

/// Whether a stored log still holds a tree head its own gateway signed: at least as long,
/// and with the head's root at the head's size. A log only ever grows (§9), so anything
/// else means acknowledged entries were lost or changed after the head was signed: a
/// gateway must not go on from such a log (it would hand out the lost entries' `log_index`
/// again), and an audit must not call it intact.
///
/// `stored_root` is the stored log's root at `head_size`; it is only read when the log is
/// at least that long.
///
/// # Errors
///
/// [`AuditProblem::Rollback`] when the log is shorter than the head,
/// [`AuditProblem::LogRewritten`] when its root at the head's size differs or is missing.
pub fn check_log_holds_head(
    head_size: u64,
    head_root: &Hash,
    log_size: u64,
    stored_root: Option<Hash>,
) -> Result<(), AuditProblem> {
    if log_size < head_size {
        return Err(AuditProblem::Rollback {
            old_size: head_size,
            new_size: log_size,
        });
    }
    match stored_root {
        Some(root) if root == *head_root => Ok(()),
        stored => Err(AuditProblem::LogRewritten {
            size: head_size,
            log_size,
            signed: hex::encode(head_root),
            stored: stored.map(hex::encode),
        }),
    }
}

/// Signs a tree head; the gateway publishes it through `Audit.TreeHead`, and tests and
/// tools use it to make heads a verifier must accept.
pub fn sign_tree_head(
    log_id: &str,
    tree_size: u64,
    timestamp_ms: i64,
    root: &Hash,
    key: &SigningKey,
    key_id: &str,
) -> SignedTreeHead {
    let value = key.sign(&tree_head_signing_input(
        log_id,
        tree_size,
        timestamp_ms,
        root,
    ));
    SignedTreeHead {
        log_id: log_id.to_owned(),
        tree_size,
        timestamp_ms,
        root_hash: Bytes::copy_from_slice(root),
        signature: Some(Signature {
            key_id: key_id.to_owned(),
            value: Bytes::from(value),
        }),
    }
}

/// Reads a wire field that must be a hash, naming it when it is not.
fn hash_of(bytes: &[u8], what: impl FnOnce() -> String) -> Result<Hash, AuditProblem> {
    Hash::try_from(bytes).map_err(|_| AuditProblem::MalformedHash {
        what: what(),
        len: bytes.len(),
    })
}

fn hashes_of(entries: &[Bytes], field: &str) -> Result<Vec<Hash>, AuditProblem> {
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| hash_of(entry, || format!("{field}[{i}]")))
        .collect()
}

/// A head is only worth checking proofs against once it is known to come from the log's
/// administration: §9's log id is the administration's participant id (`adm/NL`), and its
/// key must be valid at the head's `timestamp_ms`, as for any other signed message.
/// Returns the head's root, ready for the proof checks.
///
/// # Errors
///
/// [`AuditProblem::WrongLog`], [`AuditProblem::MalformedHash`] (`root_hash`),
/// [`AuditProblem::UnsignedHead`], [`AuditProblem::HeadKey`],
/// [`AuditProblem::HeadSignatureInvalid`].
pub fn verify_tree_head(
    head: &SignedTreeHead,
    expected_log_id: &str,
    trust: &TrustList,
) -> Result<Hash, AuditProblem> {
    if head.log_id != expected_log_id {
        return Err(AuditProblem::WrongLog {
            expected: expected_log_id.to_owned(),
            found: head.log_id.clone(),
        });
    }
    let root = hash_of(&head.root_hash, || "root_hash".into())?;
    let signature = head.signature.as_ref().ok_or(AuditProblem::UnsignedHead)?;
    let input = tree_head_signing_input(&head.log_id, head.tree_size, head.timestamp_ms, &root);
    trust
        .verify_signature(
            expected_log_id,
            &signature.key_id,
            head.timestamp_ms,
            &input,
            &signature.value,
        )
        .map_err(|problem| match problem {
            SignatureError::UnknownKey => AuditProblem::HeadKey(format!(
                "{} is not a key of {expected_log_id}",
                signature.key_id
            )),
            SignatureError::KeyNotValid => AuditProblem::HeadKey(format!(
                "{} was not valid at the head's timestamp_ms {}",
                signature.key_id, head.timestamp_ms
            )),
            SignatureError::SignatureInvalid => AuditProblem::HeadSignatureInvalid,
        })?;
    Ok(root)
}

/// The §9 leaf a receipt stands for. A DUPLICATE receipt carries the original
/// `received_at_ms` and `log_index`, so it stands for the same leaf as the ACCEPTED one.
///
/// # Errors
///
/// [`AuditProblem::MalformedHash`] when `envelope_digest` is not 32 bytes: such a receipt
/// names no leaf the log could hold.
pub fn receipt_leaf(receipt: &Receipt) -> Result<Vec<u8>, AuditProblem> {
    let digest = hash_of(&receipt.envelope_digest, || "envelope_digest".into())?;
    Ok(accepted_leaf(&digest, receipt.received_at_ms))
}

/// Proves that the envelope a receipt acknowledges sits at the receipt's `log_index` in the
/// log summarised by `head`, and that `head` is the receiver's log.
///
/// This checks no signature: verify the receipt with [`crate::core::receipt::verify_receipt`]
/// and the head with [`verify_tree_head`] first (or use [`verify_receipt_in_log`], which does
/// all three), otherwise a forger's matching receipt, head and proof would pass.
///
/// # Errors
///
/// [`AuditProblem::WrongLog`] when the head is not the receiver's log, and those of
/// [`receipt_leaf`] and [`verify_leaf_inclusion`].
pub fn verify_receipt_inclusion(
    receipt: &Receipt,
    proof: &InclusionProofResponse,
    head: &SignedTreeHead,
) -> Result<(), AuditProblem> {
    if head.log_id != receipt.receiver {
        return Err(AuditProblem::WrongLog {
            expected: receipt.receiver.clone(),
            found: head.log_id.clone(),
        });
    }
    let leaf = receipt_leaf(receipt)?;
    verify_leaf_inclusion(&leaf, receipt.log_index, proof, head)
}

/// Proves that `leaf` (any §9 leaf, e.g. the issued leaf of an OUTCOME a partner fetched)
/// is leaf `index` of the tree summarised by `head`. The proof must be the one for this
/// index and the head's size, so that a valid proof for another leaf or another head is not
/// mistaken for one for this leaf.
///
/// Like [`verify_receipt_inclusion`], this checks no signature: verify `head` with
/// [`verify_tree_head`] first.
///
/// # Errors
///
/// [`AuditProblem::MalformedHash`] (`root_hash`, `audit_path[i]`),
/// [`AuditProblem::LeafBeyondHead`], [`AuditProblem::ProofForOtherLeaf`],
/// [`AuditProblem::ProofForOtherSize`], [`AuditProblem::NotIncluded`].
pub fn verify_leaf_inclusion(
    leaf: &[u8],
    index: u64,
    proof: &InclusionProofResponse,
    head: &SignedTreeHead,
) -> Result<(), AuditProblem> {
    let root = hash_of(&head.root_hash, || "root_hash".into())?;
    let size = head.tree_size;
    if index >= size {
        return Err(AuditProblem::LeafBeyondHead { index, size });
    }
    if proof.leaf_index != index {
        return Err(AuditProblem::ProofForOtherLeaf {
            expected: index,
            found: proof.leaf_index,
        });
    }
    if proof.tree_size != size {
        return Err(AuditProblem::ProofForOtherSize {
            expected: size,
            found: proof.tree_size,
        });
    }
    let path = hashes_of(&proof.audit_path, "audit_path")?;
    if !verify_inclusion(&leaf_hash(leaf), index, size, &path, &root) {
        return Err(AuditProblem::NotIncluded { index, size });
    }
    Ok(())
}

/// What a witness checks between an earlier and a later head of one log, so that the
/// administration cannot drop or rewrite entries without it being seen: a smaller new head
/// is an [`AuditProblem::Rollback`]; at equal sizes the roots must be equal (else
/// [`AuditProblem::Fork`]) and the proof empty; from size 0 anything is consistent (the
/// proof is ignored, RFC 9162 defines none); otherwise the RFC 9162 consistency proof must
/// verify.
///
/// The heads' signatures are the caller's job ([`verify_tree_head`] on both): unsigned
/// heads prove nothing, and a fork is only evidence against the administration if both
/// heads carry its signature.
///
/// # Errors
///
/// [`AuditProblem::WrongLog`], [`AuditProblem::MalformedHash`],
/// [`AuditProblem::BadEmptyRoot`], [`AuditProblem::Rollback`], [`AuditProblem::Fork`],
/// [`AuditProblem::Inconsistent`].
pub fn verify_head_consistency(
    old: &SignedTreeHead,
    new: &SignedTreeHead,
    proof: &ConsistencyProofResponse,
) -> Result<(), AuditProblem> {
    if old.log_id != new.log_id {
        return Err(AuditProblem::WrongLog {
            expected: old.log_id.clone(),
            found: new.log_id.clone(),
        });
    }
    let old_root = hash_of(&old.root_hash, || "old head's root_hash".into())?;
    let new_root = hash_of(&new.root_hash, || "new head's root_hash".into())?;
    let (first, second) = (old.tree_size, new.tree_size);
    for (size, root) in [(first, &old_root), (second, &new_root)] {
        if size == 0 && *root != empty_root() {
            return Err(AuditProblem::BadEmptyRoot);
        }
    }
    if second < first {
        return Err(AuditProblem::Rollback {
            old_size: first,
            new_size: second,
        });
    }
    if first == second {
        if old_root != new_root {
            return Err(AuditProblem::Fork { size: first });
        }
        if !proof.proof.is_empty() {
            return Err(AuditProblem::Inconsistent { first, second });
        }
        return Ok(());
    }
    if first == 0 {
        return Ok(());
    }
    let hashes = hashes_of(&proof.proof, "proof")?;
    if !verify_consistency(first, second, &old_root, &new_root, &hashes) {
        return Err(AuditProblem::Inconsistent { first, second });
    }
    Ok(())
}

/// Everything a partner checks with its receipt alone (`aedgate audit verify-receipt`): the
/// receipt is signed by its receiver's key valid at `received_at_ms`, the head is signed by
/// the same administration's key valid at its `timestamp_ms`, and the proof puts the
/// receipt's envelope at its `log_index` under that head. Returns the verified root, which a
/// witness keeps to check the next head against.
///
/// The receipt is checked against its own `message_id` and `envelope_digest`; a sender that
/// still holds the envelope should also compare those with it
/// ([`crate::core::receipt::verify_receipt`]).
///
/// # Errors
///
/// [`AuditProblem::Receipt`] for the receipt's own problems, then those of
/// [`verify_tree_head`] and [`verify_receipt_inclusion`].
pub fn verify_receipt_in_log(
    receipt: &Receipt,
    proof: &InclusionProofResponse,
    head: &SignedTreeHead,
    trust: &TrustList,
) -> Result<Hash, AuditProblem> {
    verify_receipt(
        receipt,
        &receipt.message_id,
        &receipt.envelope_digest,
        &receipt.receiver,
        trust,
    )?;
    let root = verify_tree_head(head, &receipt.receiver, trust)?;
    verify_receipt_inclusion(receipt, proof, head)?;
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::crypto::{generate_ed25519_pkcs8, Algorithm};
    use crate::core::envelope::{sign_receipt, ReceiptFields};
    use crate::core::merkle::{consistency_proof, inclusion_proof, issued_leaf, root, Frontier};
    use crate::core::trust::testing::{self, administration};
    use crate::core::trust::KeyEntry;
    use crate::proto::v1::Disposition;
    use base64::Engine;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::sync::OnceLock;
    use time::macros::datetime;
    use time::OffsetDateTime;

    const NL: &str = "adm/NL";
    const BE: &str = "adm/BE";
    /// The vector key's id in the test trust list (the vectors name no key id).
    const NL_KEY: &str = "adm/NL#2025-1";
    /// An earlier key of NL, whose window ended before the heads' timestamps.
    const NL_OLD_KEY: &str = "adm/NL#2024-1";
    const BE_KEY: &str = "adm/BE#2025-1";
    /// The vector head's timestamp (2025-11-27).
    const TS: i64 = 1_764_201_700_000;

    fn vectors() -> serde_json::Value {
        serde_json::from_str(include_str!("../../tests/vectors/vectors.json"))
            .expect("vectors.json is JSON")
    }

    fn hx(v: &serde_json::Value, field: &str) -> Vec<u8> {
        hex::decode(v[field].as_str().expect("hex string")).expect("hex")
    }

    /// NL's key: the vectors' Ed25519 seed.
    fn nl_key() -> &'static SigningKey {
        static KEY: OnceLock<SigningKey> = OnceLock::new();
        KEY.get_or_init(|| {
            SigningKey::ed25519_from_seed(&hx(&vectors(), "ed25519_seed")).expect("seed")
        })
    }

    fn fresh_key() -> SigningKey {
        SigningKey::from_pkcs8_der(&generate_ed25519_pkcs8().expect("key")).expect("key loads")
    }

    /// Keys that are not in the trust list under NL's ids (BE's is, under BE).
    struct Others {
        be: SigningKey,
        old_nl: SigningKey,
        stranger: SigningKey,
    }

    fn others() -> &'static Others {
        static KEYS: OnceLock<Others> = OnceLock::new();
        KEYS.get_or_init(|| Others {
            be: fresh_key(),
            old_nl: fresh_key(),
            stranger: fresh_key(),
        })
    }

    fn entry(
        key_id: &str,
        key: &SigningKey,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> KeyEntry {
        KeyEntry {
            key_id: key_id.into(),
            algorithm: Algorithm::Ed25519,
            public_key: base64::engine::general_purpose::STANDARD.encode(key.public_key()),
            not_before,
            not_after,
        }
    }

    /// A signed, verified trust list: NL with the vector key (valid through 2025–2026) and an
    /// old key (2024 only), BE with its own key.
    fn trust() -> &'static TrustList {
        static LIST: OnceLock<TrustList> = OnceLock::new();
        LIST.get_or_init(|| {
            let o = others();
            let y2024 = datetime!(2024-01-01 00:00:00 UTC);
            let y2025 = datetime!(2025-01-01 00:00:00 UTC);
            let y2027 = datetime!(2027-01-01 00:00:00 UTC);
            testing::verified(&testing::document(
                vec![
                    administration(
                        NL,
                        vec![
                            entry(NL_KEY, nl_key(), y2025, y2027),
                            entry(NL_OLD_KEY, &o.old_nl, y2024, y2025),
                        ],
                    ),
                    administration(BE, vec![entry(BE_KEY, &o.be, y2025, y2027)]),
                ],
                vec![],
            ))
        })
    }

    fn nl_head(size: u64, root: &Hash) -> SignedTreeHead {
        sign_tree_head(NL, size, TS, root, nl_key(), NL_KEY)
    }

    #[test]
    fn reproduces_the_tree_head_vector() {
        let v = vectors();
        let t = &v["tree_head"];
        let root: Hash = hx(t, "root_hash").try_into().expect("32 bytes");
        let size = t["tree_size"].as_u64().expect("size");
        let ts = t["timestamp_ms"].as_i64().expect("timestamp");
        let log_id = t["log_id"].as_str().expect("log id");
        let head = sign_tree_head(log_id, size, ts, &root, nl_key(), NL_KEY);
        assert_eq!(
            hex::encode(tree_head_signing_input(
                &head.log_id,
                head.tree_size,
                head.timestamp_ms,
                &head.root_hash
            )),
            hex::encode(hx(t, "signing_input"))
        );
        let signature = head.signature.clone().expect("signed");
        assert_eq!(signature.key_id, NL_KEY);
        assert_eq!(
            hex::encode(&signature.value),
            hex::encode(hx(t, "ed25519_signature"))
        );
        assert_eq!((head.log_id.as_str(), head.tree_size), (NL, 13));
        assert_eq!(verify_tree_head(&head, NL, trust()), Ok(root));
    }

    #[test]
    fn receipt_leaf_is_the_accepted_leaf_of_the_vector() {
        let v = vectors();
        let (leaf, r) = (&v["audit_leaf_accepted"], &v["receipt"]);
        let receipt = Receipt {
            message_id: r["message_id"].as_str().expect("id").into(),
            receiver: NL.into(),
            received_at_ms: leaf["received_at_ms"].as_i64().expect("ms"),
            envelope_digest: hx(leaf, "envelope_digest").into(),
            disposition: Disposition::Accepted as i32,
            log_index: 41,
            signature: None,
        };
        let built = receipt_leaf(&receipt).expect("leaf");
        assert_eq!(hex::encode(&built), hex::encode(hx(leaf, "leaf")));
        assert_eq!(
            hex::encode(leaf_hash(&built)),
            hex::encode(hx(leaf, "leaf_hash"))
        );
        let duplicate = Receipt {
            disposition: Disposition::Duplicate as i32,
            ..receipt.clone()
        };
        assert_eq!(receipt_leaf(&duplicate), Ok(built));
        for len in [0, 31, 33] {
            let short = Receipt {
                envelope_digest: vec![7; len].into(),
                ..receipt.clone()
            };
            assert_eq!(
                receipt_leaf(&short),
                Err(AuditProblem::MalformedHash {
                    what: "envelope_digest".into(),
                    len
                })
            );
        }
    }

    #[test]
    fn altered_or_misattributed_heads_are_refused_with_the_right_problem() {
        let root = [0x5a; 32];
        let head = nl_head(13, &root);
        assert_eq!(verify_tree_head(&head, NL, trust()), Ok(root));

        let mut other_root = head.clone();
        other_root.root_hash = Bytes::copy_from_slice(&[0x5b; 32]);
        assert_eq!(
            verify_tree_head(&other_root, NL, trust()),
            Err(AuditProblem::HeadSignatureInvalid)
        );
        for (size, ts) in [(12, TS), (14, TS), (13, TS + 1)] {
            let mut altered = head.clone();
            altered.tree_size = size;
            altered.timestamp_ms = ts;
            assert_eq!(
                verify_tree_head(&altered, NL, trust()),
                Err(AuditProblem::HeadSignatureInvalid),
                "size {size} at {ts}"
            );
        }
        assert_eq!(
            verify_tree_head(&head, BE, trust()),
            Err(AuditProblem::WrongLog {
                expected: BE.into(),
                found: NL.into()
            })
        );
        // NL's key does not speak for BE's log, even when the head claims to be BE's.
        let claims_be = sign_tree_head(BE, 13, TS, &root, nl_key(), NL_KEY);
        assert!(matches!(
            verify_tree_head(&claims_be, BE, trust()),
            Err(AuditProblem::HeadKey(m)) if m.contains("not a key of adm/BE")
        ));
        let unknown = sign_tree_head(NL, 13, TS, &root, &others().stranger, "adm/NL#nope");
        assert!(matches!(
            verify_tree_head(&unknown, NL, trust()),
            Err(AuditProblem::HeadKey(m)) if m.contains("adm/NL#nope")
        ));
        let expired = sign_tree_head(NL, 13, TS, &root, &others().old_nl, NL_OLD_KEY);
        assert!(matches!(
            verify_tree_head(&expired, NL, trust()),
            Err(AuditProblem::HeadKey(m)) if m.contains("not valid")
        ));
        let before_window = sign_tree_head(NL, 13, 1_700_000_000_000, &root, nl_key(), NL_KEY);
        assert!(matches!(
            verify_tree_head(&before_window, NL, trust()),
            Err(AuditProblem::HeadKey(_))
        ));
        // Someone else's key under NL's key id.
        let forged = sign_tree_head(NL, 13, TS, &root, &others().stranger, NL_KEY);
        assert_eq!(
            verify_tree_head(&forged, NL, trust()),
            Err(AuditProblem::HeadSignatureInvalid)
        );
        let mut unsigned = head.clone();
        unsigned.signature = None;
        assert_eq!(
            verify_tree_head(&unsigned, NL, trust()),
            Err(AuditProblem::UnsignedHead)
        );
        let mut short = head.clone();
        short.root_hash = head.root_hash.slice(..31);
        assert_eq!(
            verify_tree_head(&short, NL, trust()),
            Err(AuditProblem::MalformedHash {
                what: "root_hash".into(),
                len: 31
            })
        );
        // BE's own heads verify as BE's, and only as BE's.
        let be_head = sign_tree_head(BE, 2, TS, &root, &others().be, BE_KEY);
        assert_eq!(verify_tree_head(&be_head, BE, trust()), Ok(root));
        assert!(verify_tree_head(&be_head, NL, trust()).is_err());
    }

    /// A log of accepted (even positions) and issued (odd positions) entries, with every
    /// perfect subtree stored, as the gateway keeps it.
    struct Log {
        leaves: Vec<Vec<u8>>,
        nodes: HashMap<(u32, u64), Hash>,
    }

    fn entry_digest(i: usize) -> Hash {
        crate::core::envelope::sha256(format!("envelope {i}").as_bytes())
    }

    fn entry_time(i: usize) -> i64 {
        1_764_201_600_000 + 250 * i as i64
    }

    impl Log {
        fn new(leaves: Vec<Vec<u8>>) -> Self {
            let mut frontier = Frontier::new();
            let mut nodes = HashMap::new();
            for leaf in &leaves {
                for (level, index, hash) in frontier.push(leaf_hash(leaf)) {
                    nodes.insert((level, index), hash);
                }
            }
            Self { leaves, nodes }
        }

        fn standard(n: usize) -> Self {
            Self::new(
                (0..n)
                    .map(|i| {
                        if i.is_multiple_of(2) {
                            accepted_leaf(&entry_digest(i), entry_time(i))
                        } else {
                            issued_leaf(&entry_digest(i), entry_time(i))
                        }
                    })
                    .collect(),
            )
        }

        fn tree(&self) -> impl Fn(u32, u64) -> Option<Hash> + '_ {
            |level, index| self.nodes.get(&(level, index)).copied()
        }

        fn root(&self, size: u64) -> Hash {
            root(&self.tree(), size).expect("root")
        }

        fn head(&self, size: u64) -> SignedTreeHead {
            nl_head(size, &self.root(size))
        }

        fn inclusion(&self, index: u64, size: u64) -> InclusionProofResponse {
            InclusionProofResponse {
                leaf_index: index,
                tree_size: size,
                audit_path: inclusion_proof(&self.tree(), index, size)
                    .expect("proof")
                    .iter()
                    .map(|h| Bytes::copy_from_slice(h))
                    .collect(),
            }
        }

        fn consistency(&self, first: u64, second: u64) -> ConsistencyProofResponse {
            let proof = if first == 0 {
                vec![]
            } else {
                consistency_proof(&self.tree(), first, second).expect("proof")
            };
            ConsistencyProofResponse {
                proof: proof.iter().map(|h| Bytes::copy_from_slice(h)).collect(),
            }
        }
    }

    fn receipt_for(i: usize) -> Receipt {
        sign_receipt(
            &ReceiptFields {
                message_id: &format!("0192f3a4-5b6c-7d8e-9f01-{i:012}"),
                receiver: NL,
                received_at_ms: entry_time(i),
                envelope_digest: &entry_digest(i),
                disposition: Disposition::Accepted as i32,
                log_index: i as u64,
            },
            nl_key(),
            NL_KEY,
        )
    }

    const N: usize = 20;

    #[test]
    fn every_receipt_and_issued_entry_is_proven_in_every_head_that_covers_it() {
        let log = Log::standard(N);
        for n in 1..=N as u64 {
            let head = log.head(n);
            for i in 0..n {
                let proof = log.inclusion(i, n);
                let at = i as usize;
                if at.is_multiple_of(2) {
                    let receipt = receipt_for(at);
                    assert_eq!(
                        verify_receipt_inclusion(&receipt, &proof, &head),
                        Ok(()),
                        "receipt {i} in {n}"
                    );
                    assert_eq!(
                        verify_receipt_in_log(&receipt, &proof, &head, trust()),
                        Ok(log.root(n))
                    );
                } else {
                    let leaf = issued_leaf(&entry_digest(at), entry_time(at));
                    assert_eq!(verify_leaf_inclusion(&leaf, i, &proof, &head), Ok(()));
                    // The same digest and time as an accepted entry is another leaf.
                    let as_accepted = accepted_leaf(&entry_digest(at), entry_time(at));
                    assert_eq!(
                        verify_leaf_inclusion(&as_accepted, i, &proof, &head),
                        Err(AuditProblem::NotIncluded { index: i, size: n })
                    );
                }
                assert_eq!(
                    verify_leaf_inclusion(&log.leaves[at], i, &proof, &head),
                    Ok(())
                );
            }
        }
    }

    #[test]
    fn tampered_receipts_proofs_and_heads_are_not_included() {
        let log = Log::standard(N);
        for n in 1..=N as u64 {
            let head = log.head(n);
            for i in (0..n).filter(|i| i.is_multiple_of(2)) {
                let receipt = receipt_for(i as usize);
                let proof = log.inclusion(i, n);
                let not_included = Err(AuditProblem::NotIncluded { index: i, size: n });

                for byte in [0, 17, 31] {
                    let mut digest = receipt.envelope_digest.to_vec();
                    digest[byte] ^= 0x01;
                    let tampered = Receipt {
                        envelope_digest: digest.into(),
                        ..receipt.clone()
                    };
                    assert_eq!(
                        verify_receipt_inclusion(&tampered, &proof, &head),
                        not_included
                    );
                }
                for delta in [-1, 1] {
                    let tampered = Receipt {
                        received_at_ms: receipt.received_at_ms + delta,
                        ..receipt.clone()
                    };
                    assert_eq!(
                        verify_receipt_inclusion(&tampered, &proof, &head),
                        not_included
                    );
                }

                let mut wrong_root = head.clone();
                let mut bytes = wrong_root.root_hash.to_vec();
                bytes[5] ^= 0x80;
                wrong_root.root_hash = bytes.into();
                assert_eq!(
                    verify_receipt_inclusion(&receipt, &proof, &wrong_root),
                    not_included
                );

                // A proof for another leaf, or for another size, is refused as such ...
                let mut other_leaf = proof.clone();
                other_leaf.leaf_index = (i + 1) % n;
                if n > 1 {
                    assert_eq!(
                        verify_receipt_inclusion(&receipt, &other_leaf, &head),
                        Err(AuditProblem::ProofForOtherLeaf {
                            expected: i,
                            found: (i + 1) % n
                        })
                    );
                }
                let mut other_size = proof.clone();
                other_size.tree_size = n + 1;
                assert_eq!(
                    verify_receipt_inclusion(&receipt, &other_size, &head),
                    Err(AuditProblem::ProofForOtherSize {
                        expected: n,
                        found: n + 1
                    })
                );
                // ... and relabelling one does not make it prove this leaf.
                if n > 1 {
                    let j = if i == 0 { 1 } else { i - 1 };
                    let mut relabelled = log.inclusion(j, n);
                    relabelled.leaf_index = i;
                    assert_eq!(
                        verify_receipt_inclusion(&receipt, &relabelled, &head),
                        not_included
                    );
                    let mut moved = receipt.clone();
                    moved.log_index = j;
                    assert_eq!(
                        verify_receipt_inclusion(&moved, &log.inclusion(j, n), &head),
                        Err(AuditProblem::NotIncluded { index: j, size: n })
                    );
                }
                if n > 1 {
                    let mut truncated = proof.clone();
                    truncated.audit_path.pop();
                    assert_eq!(
                        verify_receipt_inclusion(&receipt, &truncated, &head),
                        not_included
                    );
                }
                let mut extended = proof.clone();
                extended.audit_path.push(Bytes::from_static(&[0; 32]));
                assert_eq!(
                    verify_receipt_inclusion(&receipt, &extended, &head),
                    not_included
                );
            }
        }
    }

    #[test]
    fn heads_that_do_not_cover_the_receipt_or_are_malformed_are_refused() {
        let log = Log::standard(N);
        let receipt = receipt_for(10);
        let proof = log.inclusion(10, 16);
        for size in [0, 5, 10] {
            assert_eq!(
                verify_receipt_inclusion(&receipt, &proof, &log.head(size)),
                Err(AuditProblem::LeafBeyondHead { index: 10, size })
            );
        }
        let head = log.head(16);
        let mut bad_entry = proof.clone();
        bad_entry.audit_path[2] = bad_entry.audit_path[2].slice(..31);
        assert_eq!(
            verify_receipt_inclusion(&receipt, &bad_entry, &head),
            Err(AuditProblem::MalformedHash {
                what: "audit_path[2]".into(),
                len: 31
            })
        );
        let mut long_root = head.clone();
        long_root.root_hash = Bytes::from(vec![0; 33]);
        assert!(matches!(
            verify_receipt_inclusion(&receipt, &proof, &long_root),
            Err(AuditProblem::MalformedHash { len: 33, .. })
        ));
        // A receipt of NL proven against BE's log proves nothing about NL.
        let be_head = sign_tree_head(BE, 16, TS, &log.root(16), &others().be, BE_KEY);
        assert_eq!(
            verify_receipt_inclusion(&receipt, &proof, &be_head),
            Err(AuditProblem::WrongLog {
                expected: NL.into(),
                found: BE.into()
            })
        );
    }

    #[test]
    fn receipt_in_log_checks_both_signatures() {
        let log = Log::standard(N);
        let (receipt, proof, head) = (receipt_for(4), log.inclusion(4, 9), log.head(9));
        assert_eq!(
            verify_receipt_in_log(&receipt, &proof, &head, trust()),
            Ok(log.root(9))
        );
        let mut forged = receipt.clone();
        forged.log_index = 5;
        assert_eq!(
            verify_receipt_in_log(&forged, &proof, &head, trust()),
            Err(AuditProblem::Receipt(ReceiptProblem::SignatureInvalid))
        );
        let mut unsigned_head = head.clone();
        unsigned_head.signature = None;
        assert_eq!(
            verify_receipt_in_log(&receipt, &proof, &unsigned_head, trust()),
            Err(AuditProblem::UnsignedHead)
        );
        let stranger_head = sign_tree_head(NL, 9, TS, &log.root(9), &others().stranger, NL_KEY);
        assert_eq!(
            verify_receipt_in_log(&receipt, &proof, &stranger_head, trust()),
            Err(AuditProblem::HeadSignatureInvalid)
        );
    }

    #[test]
    fn every_pair_of_heads_of_a_growing_log_is_consistent() {
        let log = Log::standard(N);
        for n in 0..=N as u64 {
            for m in 0..=n {
                assert_eq!(
                    verify_head_consistency(&log.head(m), &log.head(n), &log.consistency(m, n)),
                    Ok(()),
                    "{m} → {n}"
                );
            }
        }
    }

    #[test]
    fn rewritten_history_is_inconsistent_and_appends_are_not() {
        let log = Log::standard(N);
        for changed in [0, 1, 7, 12, N - 1] {
            let mut leaves = log.leaves.clone();
            // One byte of the received_at_ms / created_at_ms of one entry.
            let last = leaves[changed].len() - 1;
            leaves[changed][last] ^= 0x01;
            let rewritten = Log::new(leaves);
            for n in 1..=N as u64 {
                for m in 1..=n {
                    let (old, new) = (log.head(m), rewritten.head(n));
                    let result = verify_head_consistency(&old, &new, &rewritten.consistency(m, n));
                    if (changed as u64) >= m {
                        // Only entries after the old head changed: the new log extends it.
                        assert_eq!(result, Ok(()), "changed {changed}, {m} → {n}");
                    } else if m == n {
                        assert_eq!(result, Err(AuditProblem::Fork { size: m }));
                    } else {
                        assert_eq!(
                            result,
                            Err(AuditProblem::Inconsistent {
                                first: m,
                                second: n
                            }),
                            "changed {changed}, {m} → {n}"
                        );
                        // The honest log's proof does not help the rewritten head either.
                        assert_eq!(
                            verify_head_consistency(&old, &new, &log.consistency(m, n)),
                            Err(AuditProblem::Inconsistent {
                                first: m,
                                second: n
                            })
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn rollbacks_forks_and_malformed_proofs_are_named() {
        let log = Log::standard(N);
        assert_eq!(
            verify_head_consistency(
                &log.head(12),
                &log.head(11),
                &ConsistencyProofResponse::default()
            ),
            Err(AuditProblem::Rollback {
                old_size: 12,
                new_size: 11
            })
        );
        assert_eq!(
            verify_head_consistency(
                &log.head(1),
                &log.head(0),
                &ConsistencyProofResponse::default()
            ),
            Err(AuditProblem::Rollback {
                old_size: 1,
                new_size: 0
            })
        );
        let fork = nl_head(20, &[9; 32]);
        assert_eq!(
            verify_head_consistency(&log.head(20), &fork, &ConsistencyProofResponse::default()),
            Err(AuditProblem::Fork { size: 20 })
        );
        assert_eq!(
            verify_head_consistency(&log.head(20), &log.head(20), &log.consistency(19, 20)),
            Err(AuditProblem::Inconsistent {
                first: 20,
                second: 20
            })
        );
        let be_head = sign_tree_head(BE, 20, TS, &log.root(20), &others().be, BE_KEY);
        assert_eq!(
            verify_head_consistency(&log.head(5), &be_head, &log.consistency(5, 20)),
            Err(AuditProblem::WrongLog {
                expected: NL.into(),
                found: BE.into()
            })
        );
        let lying_empty = nl_head(0, &[1; 32]);
        assert_eq!(
            verify_head_consistency(&lying_empty, &log.head(3), &log.consistency(0, 3)),
            Err(AuditProblem::BadEmptyRoot)
        );
        let mut proof = log.consistency(6, 13);
        proof.proof[1] = Bytes::new();
        assert_eq!(
            verify_head_consistency(&log.head(6), &log.head(13), &proof),
            Err(AuditProblem::MalformedHash {
                what: "proof[1]".into(),
                len: 0
            })
        );
        let mut short = log.consistency(6, 13);
        short.proof.pop();
        assert_eq!(
            verify_head_consistency(&log.head(6), &log.head(13), &short),
            Err(AuditProblem::Inconsistent {
                first: 6,
                second: 13
            })
        );
        assert_eq!(
            verify_head_consistency(
                &log.head(6),
                &log.head(13),
                &ConsistencyProofResponse::default()
            ),
            Err(AuditProblem::Inconsistent {
                first: 6,
                second: 13
            })
        );
    }

    fn any_bytes() -> impl Strategy<Value = Bytes> {
        prop_oneof![
            Just(Bytes::new()),
            prop::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from),
            prop::array::uniform32(any::<u8>()).prop_map(|a| Bytes::copy_from_slice(&a)),
        ]
    }

    fn any_size() -> impl Strategy<Value = u64> {
        prop_oneof![0..40u64, Just(u64::MAX), Just(u64::MAX - 1), any::<u64>()]
    }

    fn any_head() -> impl Strategy<Value = SignedTreeHead> {
        (any_size(), any_bytes(), any::<i64>(), prop::bool::ANY).prop_map(
            |(tree_size, root_hash, timestamp_ms, signed)| SignedTreeHead {
                log_id: NL.into(),
                tree_size,
                timestamp_ms,
                root_hash,
                signature: signed.then(|| Signature {
                    key_id: NL_KEY.into(),
                    value: Bytes::from_static(&[0; 64]),
                }),
            },
        )
    }

    #[test]
    fn a_log_shorter_than_its_signed_head_or_different_at_its_size_is_named_with_both_sizes() {
        let (signed, other) = ([1; 32], [2; 32]);
        let cases: [(u64, Option<Hash>, Result<(), AuditProblem>); 5] = [
            (32, Some(signed), Ok(())),
            (40, Some(signed), Ok(())),
            (
                16,
                None,
                Err(AuditProblem::Rollback {
                    old_size: 32,
                    new_size: 16,
                }),
            ),
            (
                40,
                Some(other),
                Err(AuditProblem::LogRewritten {
                    size: 32,
                    log_size: 40,
                    signed: hex::encode(signed),
                    stored: Some(hex::encode(other)),
                }),
            ),
            (
                32,
                None,
                Err(AuditProblem::LogRewritten {
                    size: 32,
                    log_size: 32,
                    signed: hex::encode(signed),
                    stored: None,
                }),
            ),
        ];
        for (log_size, stored, expected) in cases {
            assert_eq!(
                check_log_holds_head(32, &signed, log_size, stored),
                expected,
                "log of {log_size}"
            );
        }
        let shorter = check_log_holds_head(32, &signed, 16, None).unwrap_err();
        assert_eq!(
            shorter.to_string(),
            "log was rolled back from size 32 to size 16"
        );
        let changed = check_log_holds_head(32, &signed, 40, Some(other)).unwrap_err();
        assert_eq!(
            changed.to_string(),
            format!(
                "the log of 40 entries has root {} at size 32, not the signed head's root {}",
                hex::encode(other),
                hex::encode(signed)
            )
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever a gateway or an attacker sends, verification answers; it never panics.
        #[test]
        fn arbitrary_input_never_panics(
            old in any_head(),
            new in any_head(),
            index in any_size(),
            proof_size in any_size(),
            path in prop::collection::vec(any_bytes(), 0..70),
            digest in any_bytes(),
        ) {
            let inclusion = InclusionProofResponse {
                leaf_index: index,
                tree_size: proof_size,
                audit_path: path.clone(),
            };
            let receipt = Receipt {
                receiver: NL.into(),
                envelope_digest: digest,
                log_index: index,
                ..Receipt::default()
            };
            let _ = verify_receipt_inclusion(&receipt, &inclusion, &new);
            let same_size = InclusionProofResponse { tree_size: new.tree_size, ..inclusion };
            let _ = verify_leaf_inclusion(b"leaf", index, &same_size, &new);
            let _ = verify_head_consistency(
                &old,
                &new,
                &ConsistencyProofResponse { proof: path },
            );
            let _ = verify_tree_head(&new, NL, trust());
        }
    }
}
