//! §4: what a receipt must say and prove, and how a resend is answered.

use crate::clock::now_ms;
use crate::conformance::kit::{fail, Case, Stop};
use crate::core::envelope::envelope_digest;
use crate::core::receipt::verify_receipt;
use crate::proto::v1::{Disposition, Envelope, Receipt};
use crate::render::refusal_line;

/// How far the gateway's clock may be from the kit's before a receipt time is implausible.
const CLOCK_TOLERANCE_MS: i64 = 600_000;

/// A valid declaration and the gateway's receipt for it, not yet judged: each check here
/// looks at one property of it.
async fn submitted(case: &Case) -> Result<(Envelope, Receipt), Stop> {
    let envelope = case.seal_declaration(&case.declaration());
    let receipt = case.submit(envelope.clone()).await.or_else(|s| {
        fail(format!(
            "a valid declaration was refused: {}",
            refusal_line(&s)
        ))
    })?;
    Ok((envelope, receipt))
}

pub(super) async fn fields(case: Case) -> Result<(), Stop> {
    let (envelope, receipt) = submitted(&case).await?;
    let header = envelope.header.unwrap_or_default();
    if receipt.message_id != header.message_id {
        return fail(format!(
            "receipt message_id {:?}, not {:?}",
            receipt.message_id, header.message_id
        ));
    }
    if receipt.receiver != case.kit().target {
        return fail(format!(
            "receipt receiver {:?}, not {:?}",
            receipt.receiver,
            case.kit().target
        ));
    }
    if receipt.disposition != Disposition::Accepted as i32 {
        return fail(format!(
            "receipt disposition {}, not ACCEPTED (1), for a new envelope",
            receipt.disposition
        ));
    }
    if receipt
        .received_at_ms
        .saturating_sub(now_ms())
        .saturating_abs()
        > CLOCK_TOLERANCE_MS
    {
        return fail(format!(
            "received_at_ms {} is more than 10 minutes from now",
            receipt.received_at_ms
        ));
    }
    Ok(())
}

pub(super) async fn digest(case: Case) -> Result<(), Stop> {
    let (envelope, receipt) = submitted(&case).await?;
    let expected = envelope_digest(&envelope.header.unwrap_or_default());
    if receipt.envelope_digest[..] != expected[..] {
        return fail(format!(
            "envelope_digest {}, not SHA-256 of the signing input {}",
            hex::encode(&receipt.envelope_digest),
            hex::encode(expected)
        ));
    }
    Ok(())
}

pub(super) async fn signature(case: Case) -> Result<(), Stop> {
    let (_, receipt) = submitted(&case).await?;
    // Verified over the receipt's own fields, so that only the signature is judged here.
    verify_receipt(
        &receipt,
        &receipt.message_id,
        &receipt.envelope_digest,
        &case.kit().target,
        case.partner().trust(),
    )
    .or_else(|problem| fail(format!("receipt signature: {problem}")))
}

pub(super) async fn duplicate(case: Case) -> Result<(), Stop> {
    let (envelope, first) = case.file(&case.declaration()).await?;
    let second = case.submit(envelope.clone()).await.or_else(|s| {
        fail(format!(
            "the byte-identical resend was refused: {}",
            refusal_line(&s)
        ))
    })?;
    if second.disposition != Disposition::Duplicate as i32 {
        return fail(format!(
            "resend answered with disposition {}, not DUPLICATE (2)",
            second.disposition
        ));
    }
    if (second.received_at_ms, second.log_index) != (first.received_at_ms, first.log_index) {
        return fail(format!(
            "resend answered with received_at_ms {} and log_index {}, not the original {} and {}",
            second.received_at_ms, second.log_index, first.received_at_ms, first.log_index
        ));
    }
    case.partner()
        .check_receipt(&envelope, &second)
        .or_else(|problem| {
            fail(format!(
                "the DUPLICATE receipt is not valid evidence: {problem}"
            ))
        })
}
