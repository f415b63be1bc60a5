//! The last chapter: the log itself (PROTOCOL.md §9). What adm/NL's log holds, read with
//! Fetch and counted against the store; a receipt proven in the signed log from the
//! receipt alone; the log proven to have only grown since the witness's earlier head; and,
//! after shutdown, the whole log recomputed from the store.

use super::stage::{read_log, Stage};
use super::{BE, NL, RISK_UNIT};
use crate::proto::v1::{MessageType, Receipt, SignedTreeHead};
use std::path::Path;

/// Counts adm/NL's log by message type, sender and recipient, as its risk unit's Fetch
/// reads it, next to the store's own count.
pub(super) async fn store_check(stage: &Stage) -> Result<(), String> {
    let stored = stage
        .nl
        .state()
        .store
        .log_size()
        .await
        .map_err(|e| e.to_string())?;
    let log = read_log(&stage.risk_unit).await?;
    let count = |t: MessageType, sender: &str, recipient: &str| {
        log.iter()
            .filter(|d| {
                d.envelope
                    .as_ref()
                    .and_then(|e| e.header.as_ref())
                    .is_some_and(|h| {
                        h.r#type == t as i32
                            && (sender.is_empty() || h.sender == sender)
                            && (recipient.is_empty() || h.recipient == recipient)
                    })
            })
            .count()
    };
    println!(
        "Store check: {stored} entries in the log of adm/NL, and the risk unit's Fetch reads {}: {} risk indicators \
         ({} published by the NL risk unit, {} sent to adm/BE, {} received from adm/BE), {} declarations, \
         {} forwarded to adm/BE, {} referral responses, {} signed outcomes (one for every accepted declaration \
         and every answered referral), {} return notices and {} signed refund decisions (one for each).",
        log.len(),
        count(MessageType::RiskIndicator, "", ""),
        count(MessageType::RiskIndicator, RISK_UNIT, NL),
        count(MessageType::RiskIndicator, NL, BE),
        count(MessageType::RiskIndicator, BE, NL),
        count(MessageType::Declaration, "", ""),
        count(MessageType::ForwardedDeclaration, NL, BE),
        count(MessageType::ReferralResponse, "", ""),
        count(MessageType::Outcome, "", ""),
        count(MessageType::ReturnNotice, "", ""),
        count(MessageType::RefundDecision, "", ""),
    );
    Ok(())
}

/// §9 as a partner and a witness use it: a receipt proven in the signed log, and the log
/// proven to have only grown since an earlier head.
pub(super) async fn prove(
    stage: &Stage,
    accepted: &[(&str, Receipt)],
    batch_head: &SignedTreeHead,
) -> Result<(), String> {
    println!("\nVerifiable audit log (PROTOCOL.md §9)");
    let Some((_, receipt)) = accepted.iter().find(|(filer, _)| *filer == "ShopCo") else {
        return Err("the demo batch has no accepted ShopCo declaration".into());
    };
    let head = stage
        .shopco
        .prove_receipt(receipt)
        .await
        .map_err(|e| format!("receipt not proven: {e}"))?;
    println!(
        "  ShopCo proves from its receipt alone that message {} is entry {} of adm/NL's log:\n  \
         receipt signature, tree head of {} entries signed by adm/NL, and the inclusion proof all verified.",
        receipt.message_id, receipt.log_index, head.tree_size
    );
    let witness = &stage.risk_unit;
    let now = witness.extend_head(batch_head).await;
    let now = now.map_err(|e| format!("log not consistent: {e}"))?;
    println!(
        "  The risk unit, as a witness, kept the head of {} entries signed after the admission batch;",
        batch_head.tree_size
    );
    println!(
        "  the consistency proof shows the current head of {} entries extends it: nothing was removed or rewritten.",
        now.tree_size
    );
    Ok(())
}

/// What an operator runs after shutdown: the whole log recomputed from the store.
pub(super) async fn verify_offline(data_dir: &Path, head: &SignedTreeHead) -> Result<(), String> {
    let root = crate::core::merkle::Hash::try_from(&head.root_hash[..])
        .map_err(|_| "tree head root is not 32 bytes".to_owned())?;
    let expected = crate::store::ExpectedHead {
        size: head.tree_size,
        root,
    };
    match crate::store::verify_store(data_dir, &[expected])
        .await
        .map_err(|e| e.to_string())?
    {
        crate::store::LogVerdict::Intact { size, .. } => {
            println!(
                "  After shutdown, `aedgate audit verify-store` recomputed all {size} entries from the store: \
                 every digest, subtree hash and signature matches, and so do the witness's head and the one the gateway kept."
            );
            Ok(())
        }
        other => Err(format!("the stored log does not verify: {other:?}")),
    }
}
