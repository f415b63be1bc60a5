//! Checking a receipt the way a partner's auditor would: the receipt is only evidence if it
//! names the right message and envelope, comes from the addressed administration, and is
//! signed by a key the trust list gives that administration at the time of receipt.

use crate::core::envelope::receipt_signing_input_of;
use crate::core::trust::{SignatureError, TrustList};
use crate::proto::v1::{Disposition, Receipt};

/// Why a receipt is not valid evidence.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptProblem {
    /// It acknowledges another message.
    #[error("receipt is for message {found}, not {expected}")]
    WrongMessage {
        /// The submitted message id.
        expected: String,
        /// The receipt's.
        found: String,
    },
    /// It was issued by someone other than the addressed administration.
    #[error("receipt was issued by {found}, not {expected}")]
    WrongReceiver {
        /// The addressed administration.
        expected: String,
        /// The receipt's `receiver`.
        found: String,
    },
    /// It acknowledges a different envelope under the same id.
    #[error("receipt's envelope_digest does not match the submitted envelope")]
    WrongDigest,
    /// Its disposition is not ACCEPTED or DUPLICATE.
    #[error("receipt has no valid disposition")]
    BadDisposition,
    /// It is unsigned or signed with a key the receiver did not hold at that time.
    #[error("receipt key: {0}")]
    Key(String),
    /// The signature does not verify.
    #[error("receipt signature does not verify")]
    SignatureInvalid,
}

/// Verifies `receipt` for the envelope with `message_id` and `envelope_digest`, sent to
/// `receiver`.
pub fn verify_receipt(
    receipt: &Receipt,
    message_id: &str,
    envelope_digest: &[u8],
    receiver: &str,
    trust: &TrustList,
) -> Result<(), ReceiptProblem> {
    if receipt.message_id != message_id {
        return Err(ReceiptProblem::WrongMessage {
            expected: message_id.into(),
            found: receipt.message_id.clone(),
        });
    }
    if receipt.receiver != receiver {
        return Err(ReceiptProblem::WrongReceiver {
            expected: receiver.into(),
            found: receipt.receiver.clone(),
        });
    }
    if receipt.envelope_digest[..] != envelope_digest[..] {
        return Err(ReceiptProblem::WrongDigest);
    }
    match Disposition::try_from(receipt.disposition) {
        Ok(Disposition::Accepted | Disposition::Duplicate) => {}
        _ => return Err(ReceiptProblem::BadDisposition),
    }
    let signature = receipt
        .signature
        .as_ref()
        .ok_or_else(|| ReceiptProblem::Key("receipt is unsigned".into()))?;
    trust
        .verify_signature(
            receiver,
            &signature.key_id,
            receipt.received_at_ms,
            &receipt_signing_input_of(receipt),
            &signature.value,
        )
        .map_err(|problem| match problem {
            SignatureError::UnknownKey => {
                ReceiptProblem::Key(format!("{} is not a key of {receiver}", signature.key_id))
            }
            SignatureError::KeyNotValid => ReceiptProblem::Key(format!(
                "{} was not valid at received_at_ms",
                signature.key_id
            )),
            SignatureError::SignatureInvalid => ReceiptProblem::SignatureInvalid,
        })
}
