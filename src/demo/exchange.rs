//! The chapter between the two administrations (PROTOCOL.md §8): which indicators
//! crossed under the agreement and which did not, what each gateway delivered with the
//! peer's receipt as its proof, and a declaration filed in NL for delivery in Belgium,
//! forwarded to adm/BE and assessed there as well as in NL.

use super::data::bound_for_belgium;
use super::stage::{
    delivered, outcomes_for, print_outcome, read_log, refused, status_of, submit, Stage,
};
use super::{BE, NL};
use crate::client::{fold_indicators, outcome_of, Participant};
use crate::core::receipt::verify_receipt;
use crate::core::sharing::tlp_level;
use crate::core::trust::{AgreementEntry, TlpLevel, TrustList};
use crate::proto::v1::{AdvanceDeclaration, Envelope, MessageType, Outcome, RiskIndicator};
use crate::render::{
    columns, goods_summary, indicator_table, state_in_brief, state_name, tlp_level_name, type_name,
    wrap, Align,
};
use crate::server::RunningGateway;
use crate::store::{OutboxEntry, OutboxState};
use prost::Message;

/// Tells the chapter: first the indicators shared under the agreement, then the forwarded
/// declaration.
pub(super) async fn between_administrations(
    stage: &mut Stage,
    nl_indicators: &[RiskIndicator],
) -> Result<(), String> {
    shared_indicators(stage, nl_indicators).await?;
    forwarded_declaration(stage).await
}

/// The indicators in force at adm/BE, those adm/NL kept and why, and every message each
/// gateway delivered to the other with its proof of delivery.
async fn shared_indicators(stage: &Stage, nl_indicators: &[RiskIndicator]) -> Result<(), String> {
    // The status summary before this ends with a blank line.
    println!("Between administrations (PROTOCOL.md §8)");
    println!("========================================");
    println!(
        "{}",
        wrap(
            &format!(
                "Under agreement {}, each gateway sent its own risk unit's indicators to the other as they \
                 were published: the risk unit's payload, unchanged, in an envelope signed by its \
                 administration, over mutual TLS. The receiving gateway checked the agreement again before \
                 applying them. In force at adm/BE, as the BE risk unit reads them back from the log of adm/BE \
                 with Fetch:",
                stage.agreement.id
            ),
            0,
            100
        )
    );
    let in_force_be = fold_indicators(&read_log(&stage.be_risk_unit).await?, BE);
    println!(
        "\n{}",
        indicator_table(&in_force_be, crate::clock::now_ms())
    );

    let trust = stage.be_risk_unit.trust();
    let mut sent = sent_by(&stage.nl, NL, trust).await?;
    let kept: Vec<&RiskIndicator> = nl_indicators
        .iter()
        .filter(|i| {
            !sent
                .iter()
                .any(|s| s.subject == format!("RISK_INDICATOR {}", i.indicator_id))
        })
        .collect();
    println!("Kept in NL: adm/NL never sent these to adm/BE, so they are not applied there:");
    for indicator in kept {
        if in_force_be.contains_key(&indicator.indicator_id) {
            return Err(format!(
                "{} is in force at adm/BE, yet adm/NL never sent it",
                indicator.indicator_id
            ));
        }
        println!(
            "   {:<16}  {:<12}  {}",
            indicator.indicator_id,
            tlp_level_name(tlp_level(indicator.tlp)),
            why_kept(indicator, &stage.agreement)
        );
    }
    sent.extend(sent_by(&stage.be, BE, trust).await?);
    println!(
        "\nWhat each gateway sent the other, from its outbox, with the peer's signed receipt it stored as proof"
    );
    println!(
        "of delivery (each receipt verified again here against trust list v{}):",
        stage.trust_version
    );
    println!("{}", sent_table(&sent));

    Ok(())
}

/// ShopCo's declaration for a buyer in Belgium, filed with adm/NL: forwarded to adm/BE
/// byte for byte inside adm/NL's envelope, and assessed by both.
async fn forwarded_declaration(stage: &mut Stage) -> Result<(), String> {
    let trust = stage.be_risk_unit.trust();
    let declaration = bound_for_belgium();
    let seller = declaration
        .seller
        .as_ref()
        .map(|s| s.name.as_str())
        .unwrap_or("-");
    let city = declaration
        .buyer
        .as_ref()
        .map(|b| b.city.as_str())
        .unwrap_or("-");
    println!("\nA declaration filed in NL for delivery in Belgium");
    println!(
        "   ShopCo, LRN {}: {} (seller {seller})",
        declaration.lrn,
        goods_summary(&declaration)
    );
    println!(
        "   country of destination {} (buyer in {city}); filed with adm/NL, where the consignment arrives",
        declaration.country_of_destination
    );
    let original = stage.shopco.seal_declaration(&declaration);
    let receipt = submit(
        &mut stage.shopco,
        original.clone(),
        format_args!("LRN {}", declaration.lrn),
    )
    .await?;
    println!(
        "   ACCEPTED by adm/NL as log entry {}, declaration id {}",
        receipt.log_index, receipt.message_id
    );
    delivered(&stage.nl, NL).await?;
    let forwarded = sent_by(&stage.nl, NL, trust)
        .await?
        .into_iter()
        .find(|s| {
            s.entry.message_type == MessageType::ForwardedDeclaration as i32
                && s.correlation_id == receipt.message_id
        })
        .ok_or("adm/NL did not forward the declaration to adm/BE")?;
    println!(
        "   → adm/NL forwarded it to {} as {} (entry {} of its log), {}:",
        forwarded.entry.peer,
        type_name(forwarded.entry.message_type),
        forwarded.log_index,
        forwarded.entry.state.as_str(),
    );
    println!("     {}", forwarded.proof);
    let be_log = read_log(&stage.be_risk_unit).await?;
    let inner = be_log
        .iter()
        .filter_map(|d| d.envelope.as_ref())
        .find(|e| {
            e.header.as_ref().is_some_and(|h| {
                h.r#type == MessageType::ForwardedDeclaration as i32
                    && h.correlation_id == receipt.message_id
            })
        })
        .map(|e| e.payload.clone())
        .ok_or("the forwarded declaration is not in the log of adm/BE")?;
    let sent_bytes = original.encode_to_vec();
    println!(
        "{}",
        wrap(
            &format!(
                "In the log of adm/BE: ShopCo's signed envelope, {} bytes, {}, inside one signed by \
                 adm/NL; adm/BE accepted it only after verifying both signatures.",
                inner.len(),
                if inner[..] == sent_bytes[..] {
                    "byte for byte as ShopCo sent it"
                } else {
                    "DIFFERENT from what ShopCo sent"
                }
            ),
            5,
            100
        )
    );

    let (seq, envelope, outcome) = await_outcome(&stage.shopco_at_be, &receipt.message_id).await?;
    println!("   Assessed at adm/BE against the indicators in force there:");
    print_outcome(
        &stage.shopco_at_be,
        " from adm/BE",
        seq,
        &envelope,
        &outcome,
        true,
    );
    let status = status_of(&stage.shopco_at_be, &receipt.message_id).await?;
    println!(
        "   Status at adm/BE: {} — {}",
        state_name(status.state),
        state_in_brief(status.state)
    );
    let nl_outcomes = outcomes_for(&stage.shopco, &receipt.message_id).await?;
    let Some((seq, envelope, outcome)) = nl_outcomes.first() else {
        return Err(format!(
            "no outcome of adm/NL for declaration {}",
            receipt.message_id
        ));
    };
    println!(
        "   adm/NL assessed it as well, against the indicators in force at adm/NL, which include BE's:"
    );
    print_outcome(
        &stage.shopco,
        " from adm/NL",
        *seq,
        envelope,
        outcome,
        false,
    );
    println!(
        "{}\n",
        wrap(
            "Each administration gives the consignment its own MRN and its own outcome; ShopCo reads \
             each with Fetch at that administration's gateway.",
            3,
            100
        )
    );
    Ok(())
}

/// Why an indicator of adm/NL was not sent to its peer under `agreement` (§8's rules).
fn why_kept(indicator: &RiskIndicator, agreement: &AgreementEntry) -> String {
    let level = tlp_level(indicator.tlp);
    if level == TlpLevel::Red {
        "RED never leaves the administration that issued it".into()
    } else if level > agreement.max_tlp {
        format!(
            "{} is above {}, the highest level the agreement allows",
            tlp_level_name(level),
            tlp_level_name(agreement.max_tlp)
        )
    } else if indicator.personal_data && !agreement.personal_data {
        "it holds personal data, which the agreement does not cover".into()
    } else {
        "the agreement does not cover risk indicators".into()
    }
}

/// What one outbox entry carries, read back from the sender's log: the indicator's id, or
/// the forwarded declaration's LRN.
fn outbox_subject(entry: &OutboxEntry, envelope: &Envelope) -> String {
    let subject = match MessageType::try_from(entry.message_type) {
        Ok(MessageType::RiskIndicator) => RiskIndicator::decode(envelope.payload.clone())
            .map(|i| i.indicator_id)
            .unwrap_or_default(),
        Ok(MessageType::ForwardedDeclaration) => Envelope::decode(envelope.payload.clone())
            .ok()
            .and_then(|inner| AdvanceDeclaration::decode(inner.payload).ok())
            .map(|d| format!("LRN {}", d.lrn))
            .unwrap_or_default(),
        _ => String::new(),
    };
    format!("{} {subject}", type_name(entry.message_type))
        .trim_end()
        .to_owned()
}

/// The proof of delivery of an outbox entry: the peer's stored receipt, verified again here
/// against the trust list, for the envelope as the sender's log holds it.
fn proof_of_delivery(entry: &OutboxEntry, envelope_digest: &[u8], trust: &TrustList) -> String {
    match (entry.state, &entry.receipt) {
        (OutboxState::Delivered, Some(receipt)) => {
            match verify_receipt(
                receipt,
                &entry.message_id,
                envelope_digest,
                &entry.peer,
                trust,
            ) {
                Ok(()) => format!(
                    "signed receipt of {} (entry {} of its log), verified with key {}",
                    entry.peer,
                    receipt.log_index,
                    receipt
                        .signature
                        .as_ref()
                        .map(|s| s.key_id.as_str())
                        .unwrap_or("-")
                ),
                Err(problem) => format!("RECEIPT NOT VERIFIED: {problem}"),
            }
        }
        (OutboxState::Delivered, None) => "NO RECEIPT STORED".into(),
        (_, _) if entry.last_error.is_empty() => "-".into(),
        (_, _) => entry.last_error.clone(),
    }
}

/// One message a gateway sent its peer, read back from its outbox and its log.
struct Sent {
    from: &'static str,
    entry: OutboxEntry,
    /// Message type and what it carries (`RISK_INDICATOR NL-2026-RFI-0107`).
    subject: String,
    /// The message's log entry at the sender.
    log_index: u64,
    /// The correlation id of the sent envelope (a forwarded declaration's id).
    correlation_id: String,
    /// The peer's receipt, as verified here.
    proof: String,
}

/// Every message `gateway` of `admin` queued for its peers, oldest first, with what it
/// carries and the peer's receipt verified against `trust`.
async fn sent_by(
    gateway: &RunningGateway,
    admin: &'static str,
    trust: &TrustList,
) -> Result<Vec<Sent>, String> {
    let store = &gateway.state().store;
    let mut sent = Vec::new();
    for entry in store.outbox(None).await.map_err(|e| e.to_string())? {
        let stored = store
            .envelope(&entry.message_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "{} is in the outbox of {admin} but not in its log",
                    entry.message_id
                )
            })?;
        sent.push(Sent {
            from: admin,
            subject: outbox_subject(&entry, &stored.envelope),
            log_index: stored.log_index,
            correlation_id: stored
                .envelope
                .header
                .as_ref()
                .map(|h| h.correlation_id.clone())
                .unwrap_or_default(),
            proof: proof_of_delivery(&entry, &stored.envelope_digest, trust),
            entry,
        });
    }
    Ok(sent)
}

/// The outbox entries as a table, columns as wide as their content.
fn sent_table(sent: &[Sent]) -> String {
    let rows: Vec<[String; 5]> =
        std::iter::once(["FROM", "TO", "MESSAGE", "STATE", "PROOF OF DELIVERY"].map(String::from))
            .chain(sent.iter().map(|s| {
                [
                    s.from.to_owned(),
                    s.entry.peer.clone(),
                    s.subject.clone(),
                    s.entry.state.as_str().to_owned(),
                    s.proof.clone(),
                ]
            }))
            .collect();
    columns(&rows, [Align::Left; 5], "   ")
        .trim_end()
        .to_owned()
}

/// Follows `p`'s Fetch until the outcome of `declaration_id` arrives; a minute without it
/// is an error.
async fn await_outcome(
    p: &Participant,
    declaration_id: &str,
) -> Result<(u64, Envelope, Outcome), String> {
    let wait = async {
        let mut stream = p.fetch(0, true).await.map_err(refused)?;
        while let Some(delivery) = stream.message().await.map_err(refused)? {
            let Some(envelope) = delivery.envelope else {
                continue;
            };
            if let Some(outcome) = outcome_of(&envelope) {
                if outcome.declaration_id == declaration_id {
                    return Ok((delivery.seq, envelope, outcome));
                }
            }
        }
        Err(format!(
            "the Fetch stream of {} ended before the outcome of {declaration_id} arrived",
            p.gateway
        ))
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), wait)
        .await
        .map_err(|_| {
            format!(
                "no outcome from {} for declaration {declaration_id} within a minute",
                p.gateway
            )
        })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::trust::Exchange;
    use crate::demo::data::{be_indicators, indicators};
    use crate::demo::{BE, NL};

    #[test]
    fn exactly_the_red_and_amber_strict_indicators_stay_in_nl() {
        let now = crate::clock::now_ms();
        let agreement = AgreementEntry {
            id: "mou-nl-be-2026".into(),
            parties: vec![NL.into(), BE.into()],
            exchange: vec![Exchange::RiskIndicator, Exchange::ForwardedDeclaration],
            max_tlp: TlpLevel::Amber,
            personal_data: false,
        };
        let kept: Vec<(String, String)> = indicators(now)
            .unwrap()
            .iter()
            .filter(|i| tlp_level(i.tlp) > agreement.max_tlp)
            .map(|i| (i.indicator_id.clone(), why_kept(i, &agreement)))
            .collect();
        assert_eq!(
            kept,
            [
                (
                    "NL-2026-SCR-0009".to_owned(),
                    "AMBER_STRICT is above AMBER, the highest level the agreement allows"
                        .to_owned()
                ),
                (
                    "NL-2026-COA-0077".to_owned(),
                    "RED never leaves the administration that issued it".to_owned()
                ),
            ]
        );
        assert!(be_indicators(now)
            .unwrap()
            .iter()
            .all(|i| tlp_level(i.tlp) <= agreement.max_tlp && !i.personal_data));
    }
}
