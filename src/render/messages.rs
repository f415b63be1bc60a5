//! The contract's messages as a person reads them: receipts, refusals, outcomes, deliveries,
//! states, tree heads, agreements. Each is printed where someone must act on it (release or
//! stop goods, answer a referral, keep evidence), so each field is named and nothing the
//! gateway said is left out.

use super::names::{
    charge_name, code_name, short_name, state_meaning, state_name, tlp_level_name, tlp_name,
    type_name,
};
use super::text::{or_dash, plural};
use crate::core::revenue::format_money;
use crate::core::trust::{format_ms, AgreementEntry, Exchange};
use crate::proto::v1::{
    AdvanceDeclaration, Charge, CollectionModel, Delivery, Disposition, Envelope, Invalidation,
    MessageType, Money, Outcome, OutcomeCode, Receipt, ReferralResponse, RefundDecision,
    ReturnNotice, ReturnReason, RiskIndicator, RiskIndicatorRevocation, ScreeningResult,
    SignedTreeHead, StatusResponse,
};
use bytes::Bytes;
use prost::Message;
use std::fmt::Write as _;

/// A receipt as a customs officer or an integrator reads it, with the trust list version
/// its signature was checked against, because a receipt is only evidence once checked.
pub fn describe_receipt(receipt: &Receipt, trust_version: u64) -> String {
    let disposition = match Disposition::try_from(receipt.disposition) {
        Ok(Disposition::Accepted) => "ACCEPTED",
        Ok(Disposition::Duplicate) => "DUPLICATE (already received; original receipt data)",
        _ => "UNKNOWN",
    };
    let key = receipt
        .signature
        .as_ref()
        .map(|s| s.key_id.as_str())
        .unwrap_or("-");
    format!(
        "{disposition} by {}\n  message id       {}\n  received at      {}\n  log index        {}\n  envelope digest  {}\n  receipt signed   by {key}; signature verified against trust list v{trust_version}",
        receipt.receiver,
        receipt.message_id,
        format_ms(receipt.received_at_ms),
        receipt.log_index,
        hex::encode(&receipt.envelope_digest),
    )
}

/// A refusal as a person reads it: status, reason and every field violation, so that the
/// filer can correct every mistake at once.
pub fn describe_refusal(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    let details = status.get_error_details();
    let reason = details
        .error_info()
        .map(|i| i.reason.as_str())
        .unwrap_or("-");
    let mut text = format!(
        "REFUSED: {:?} {reason}\n  {}",
        status.code(),
        status.message()
    );
    if let Some(bad) = details.bad_request() {
        for v in &bad.field_violations {
            text.push_str(&format!("\n  {}: {}", v.field, v.description));
        }
    }
    text
}

/// A status on one line, `CODE/REASON: message`, for reports that compare what a gateway
/// answered with what the contract requires.
pub fn refusal_line(status: &tonic::Status) -> String {
    format!(
        "{:?}/{}: {}",
        status.code(),
        crate::client::reason_of(status).unwrap_or_else(|| "(no ErrorInfo reason)".into()),
        status.message()
    )
}

/// An outcome as the person who must act on it reads it, one field a line, indented.
pub fn describe_outcome(outcome: &Outcome) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "  declaration id {}", outcome.declaration_id);
    let _ = writeln!(out, "  LRN            {}", outcome.lrn);
    let _ = writeln!(out, "  MRN            {}", or_dash(&outcome.mrn));
    let _ = writeln!(out, "  code           {}", code_name(outcome.code));
    let _ = writeln!(out, "  referral id    {}", or_dash(&outcome.referral_id));
    let _ = writeln!(out, "  request        {}", or_dash(&outcome.request_text));
    let _ = writeln!(out, "  pointer        {}", or_dash(&outcome.pointer));
    let _ = write!(out, "  decided at     {}", format_ms(outcome.decided_at_ms));
    if let Some(total) = &outcome.total_due {
        let _ = write!(
            out,
            "\n{}",
            describe_charges(
                "charges",
                &outcome.charges,
                total,
                "Total due at the border"
            )
        );
    }
    out
}

/// Money for people: `EUR 23.33`, with the currency's own minor unit.
pub fn money(amount: &Money) -> String {
    format_money(&amount.currency, amount.amount_minor)
}

/// Charges or refunds one a line, each with its basis, then the total, indented as the
/// fields of [`describe_outcome`]:
///
/// ```text
///   charges        Customs duty EUR 6.00 (2 item categories x EUR 3.00)
///                  Import VAT EUR 15.33 (VAT on goods EUR 13.65 + 21.0% of duty and fee EUR 8.00)
///                  Handling fee EUR 2.00 (per low-value consignment)
///                  Total due at the border EUR 23.33
/// ```
///
/// A charge collected at sale (IOSS) says so, because it is not in the total.
pub fn describe_charges(
    label: &str,
    charges: &[Charge],
    total: &Money,
    total_label: &str,
) -> String {
    let mut lines: Vec<String> = charges
        .iter()
        .map(|charge| {
            let amount = charge.amount.as_ref().map(money).unwrap_or_default();
            let collected = if charge.collected_at_sale {
                ", collected at sale (IOSS), not due at the border"
            } else {
                ""
            };
            let basis = if charge.basis.is_empty() {
                String::new()
            } else {
                format!(" ({})", charge.basis)
            };
            format!("{} {amount}{collected}{basis}", charge_name(charge.r#type))
        })
        .collect();
    lines.push(format!("{total_label} {}", money(total)));
    let mut out = String::new();
    for (index, line) in lines.iter().enumerate() {
        let label = if index == 0 { label } else { "" };
        if index > 0 {
            out.push('\n');
        }
        let _ = write!(out, "  {label:<15}{line}");
    }
    out
}

/// What a declaration says about revenue, in a phrase: the value of its goods and who
/// collects the import VAT, which is what §11's charges and checks are decided on:
/// `value EUR 65.00; import VAT to be paid at the border`, or `value EUR 65.00; IOSS
/// IM5280001234 (platform), VAT collected at sale EUR 13.65`.
pub fn revenue_in_brief(d: &AdvanceDeclaration) -> String {
    let values: Vec<&Money> = d.items.iter().filter_map(|i| i.value.as_ref()).collect();
    let value = match values.first() {
        Some(first) if values.iter().all(|v| v.currency == first.currency) => {
            let sum = values
                .iter()
                .fold(0_i64, |sum, v| sum.saturating_add(v.amount_minor));
            format!("value {}", format_money(&first.currency, sum))
        }
        Some(_) => "values in several currencies".to_owned(),
        None => "no value".to_owned(),
    };
    let Some(revenue) = d.revenue.as_ref() else {
        return format!("{value}; no revenue data");
    };
    let model = CollectionModel::try_from(revenue.model);
    let collection = match model {
        Ok(CollectionModel::Border) => "import VAT to be paid at the border".to_owned(),
        Ok(CollectionModel::Vendor | CollectionModel::Platform) => {
            let mut text = format!(
                "IOSS {} ({})",
                or_dash(&revenue.ioss_number),
                short_name::<CollectionModel>(revenue.model).to_lowercase()
            );
            if let Some(tax) = &revenue.tax_collected {
                let _ = write!(text, ", VAT collected at sale {}", money(tax));
            }
            text
        }
        _ => format!(
            "VAT collection {}",
            short_name::<CollectionModel>(revenue.model)
        ),
    };
    format!("{value}; {collection}")
}

/// A refund decision as the partner (and the consumer it refunds) reads it.
pub fn describe_refund(decision: &RefundDecision) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "  declaration id {}", decision.declaration_id);
    let _ = writeln!(out, "  MRN            {}", or_dash(&decision.mrn));
    if !decision.refusal.is_empty() {
        let _ = writeln!(out, "  refused        {}", decision.refusal);
    }
    let total = decision.total_refund.clone().unwrap_or_default();
    let _ = writeln!(
        out,
        "{}",
        describe_charges(
            "refunds",
            &decision.refunds,
            &total,
            "Total refunded at the border"
        )
    );
    let _ = write!(
        out,
        "  decided at     {}",
        format_ms(decision.decided_at_ms)
    );
    out
}

/// A return notice in a few lines: why, which lines, how the goods left.
fn describe_return(notice: &ReturnNotice, declaration_id: &str) -> String {
    let lines: Vec<String> = notice
        .lines
        .iter()
        .map(|l| format!("items[{}] x {}", l.item, l.quantity))
        .collect();
    let transport = notice.return_transport.clone().unwrap_or_default();
    format!(
        "  declaration id {declaration_id}\n  reason         {}\n  returned       {}\n  return by      {}\n  left at        {}",
        short_name::<ReturnReason>(notice.reason),
        or_dash(&lines.join(", ")),
        or_dash(&transport.house_ref),
        format_ms(notice.exited_at_ms)
    )
}

/// An outcome's identifying facts on one line (`MRN … · referral … · about … · decided …`),
/// for a story that follows a consignment rather than lists every field.
pub fn outcome_facts(outcome: &Outcome) -> String {
    let mut facts = format!("MRN {}", outcome.mrn);
    if !outcome.referral_id.is_empty() {
        let _ = write!(facts, " · referral {}", outcome.referral_id);
    }
    if !outcome.pointer.is_empty() {
        let _ = write!(facts, " · about {}", outcome.pointer);
    }
    let _ = write!(facts, " · decided {}", format_ms(outcome.decided_at_ms));
    facts
}

/// The payload of a delivered envelope, by type, in a few indented lines.
fn describe_payload(message_type: i32, correlation_id: &str, payload: &Bytes) -> String {
    fn unreadable(e: prost::DecodeError) -> String {
        format!("  payload        unreadable: {e}")
    }
    let payload = payload.clone();
    match MessageType::try_from(message_type) {
        Ok(MessageType::Outcome) => Outcome::decode(payload)
            .map(|o| describe_outcome(&o))
            .unwrap_or_else(unreadable),
        Ok(t @ (MessageType::Declaration | MessageType::Amendment)) => {
            AdvanceDeclaration::decode(payload)
                .map(|d| {
                    let mut out = String::new();
                    if t == MessageType::Amendment {
                        let _ = writeln!(out, "  declaration id {correlation_id}");
                    }
                    let seller = d.seller.as_ref().map(|s| s.name.as_str()).unwrap_or("");
                    let _ = write!(
                        out,
                        "  LRN            {}\n  seller         {}\n  items          {}",
                        d.lrn,
                        or_dash(seller),
                        d.items.len()
                    );
                    out
                })
                .unwrap_or_else(unreadable)
        }
        Ok(MessageType::Invalidation) => Invalidation::decode(payload)
            .map(|i| {
                format!(
                    "  declaration id {correlation_id}\n  reason         {}",
                    i.reason
                )
            })
            .unwrap_or_else(unreadable),
        Ok(MessageType::ReferralResponse) => ReferralResponse::decode(payload)
            .map(|r| {
                let answer = match ScreeningResult::try_from(r.screening) {
                    Ok(ScreeningResult::Clear) => "screening CLEAR".to_owned(),
                    Ok(ScreeningResult::NotClear) => "screening NOT_CLEAR".to_owned(),
                    _ => r.information.clone(),
                };
                format!(
                    "  referral id    {}\n  answers        outcome {correlation_id}\n  answer         {answer}",
                    r.referral_id
                )
            })
            .unwrap_or_else(unreadable),
        Ok(MessageType::RiskIndicator) => RiskIndicator::decode(payload)
            .map(|i| {
                format!(
                    "  indicator      {} v{}, {}, TLP {}\n  title          {}",
                    i.indicator_id,
                    i.version,
                    code_name(i.action),
                    tlp_name(i.tlp),
                    i.title
                )
            })
            .unwrap_or_else(unreadable),
        Ok(MessageType::RiskIndicatorRevocation) => RiskIndicatorRevocation::decode(payload)
            .map(|r| {
                format!(
                    "  indicator      {}\n  reason         {}",
                    r.indicator_id,
                    or_dash(&r.reason)
                )
            })
            .unwrap_or_else(unreadable),
        Ok(MessageType::ReturnNotice) => ReturnNotice::decode(payload)
            .map(|n| describe_return(&n, correlation_id))
            .unwrap_or_else(unreadable),
        Ok(MessageType::RefundDecision) => RefundDecision::decode(payload)
            .map(|d| describe_refund(&d))
            .unwrap_or_else(unreadable),
        Ok(MessageType::ForwardedDeclaration) => Envelope::decode(payload)
            .map(|e| {
                let h = e.header.unwrap_or_default();
                format!(
                    "  original       {} from {} ({})",
                    h.message_id,
                    h.sender,
                    type_name(h.r#type)
                )
            })
            .unwrap_or_else(unreadable),
        _ => String::new(),
    }
}

/// A delivery as printed by `aedgate fetch`: seq and type, the payload's fields, and the
/// result of checking its signature ([`crate::client::check_delivery`]) next to them, so
/// that an unverified message is flagged where it is read.
pub fn describe_delivery(
    delivery: &Delivery,
    check: &Result<String, String>,
    trust_version: u64,
) -> String {
    let envelope = delivery.envelope.clone().unwrap_or_default();
    let header = envelope.header.clone().unwrap_or_default();
    let mut out = format!(
        "seq {}  {}  from {} to {}\n  message id     {}\n  created at     {}\n",
        delivery.seq,
        type_name(header.r#type),
        header.sender,
        header.recipient,
        header.message_id,
        format_ms(header.created_at_ms),
    );
    let body = describe_payload(header.r#type, &header.correlation_id, &envelope.payload);
    if !body.is_empty() {
        out.push_str(&body);
        out.push('\n');
    }
    match check {
        Ok(key_id) => {
            let _ = write!(
                out,
                "  signature      verified: signed by {key_id}, a key of {} in trust list v{trust_version}",
                header.sender
            );
        }
        Err(why) => {
            let _ = write!(
                out,
                "  signature      NOT VERIFIED: {why}; do not act on this message"
            );
        }
    }
    out
}

/// A Status answer as a person reads it, the state with what it means for the goods.
pub fn describe_status(status: &StatusResponse) -> String {
    let outcome = if status.outcome == OutcomeCode::Unspecified as i32 {
        "-".to_owned()
    } else {
        code_name(status.outcome)
    };
    format!(
        "Declaration {}\n  LRN            {}\n  MRN            {}\n  state          {} — {}\n  last outcome   {outcome}\n  open referral  {}\n  updated at     {}",
        status.declaration_id,
        status.lrn,
        or_dash(&status.mrn),
        state_name(status.state),
        state_meaning(status.state),
        or_dash(&status.open_referral_id),
        format_ms(status.updated_at_ms),
    )
}

/// A signed tree head in a line: whose log, how long, when, and its root, which a witness
/// compares with what others saw.
pub fn describe_head(head: &SignedTreeHead) -> String {
    format!(
        "tree head of {}: {} at {}, root {}",
        head.log_id,
        plural(head.tree_size, "entry", "entries"),
        format_ms(head.timestamp_ms),
        hex::encode(&head.root_hash)
    )
}

/// An agreement in a line: its parties and what crosses under it.
pub fn describe_agreement(agreement: &AgreementEntry) -> String {
    let mut crosses = Vec::new();
    if agreement.exchange.contains(&Exchange::RiskIndicator) {
        crosses.push(format!(
            "risk indicators up to TLP {}, {}",
            tlp_level_name(agreement.max_tlp),
            if agreement.personal_data {
                "personal data allowed"
            } else {
                "without personal data"
            }
        ));
    }
    if agreement.exchange.contains(&Exchange::ForwardedDeclaration) {
        crosses.push("declarations bound for the other's country (forwarded declarations)".into());
    }
    format!(
        "{} between {}: {}",
        agreement.id,
        agreement.parties.join(" and "),
        crosses.join(", and ")
    )
}

/// A declaration's goods in at most 38 characters of its first item and the count of the
/// others, for a column that names a consignment.
pub fn goods_summary(d: &AdvanceDeclaration) -> String {
    let first = d
        .items
        .first()
        .map(|i| i.description.as_str())
        .unwrap_or("-");
    let mut text: String = first.chars().take(38).collect();
    if first.chars().count() > 38 {
        text.push('…');
    }
    if d.items.len() > 1 {
        text.push_str(&format!(" (+{})", d.items.len() - 1));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1::ChargeType;

    fn charge(kind: ChargeType, amount_minor: i64, at_sale: bool, basis: &str) -> Charge {
        Charge {
            r#type: kind as i32,
            amount: Some(Money {
                currency: "EUR".into(),
                amount_minor,
            }),
            collected_at_sale: at_sale,
            basis: basis.into(),
        }
    }

    #[test]
    fn revenue_reads_as_value_and_who_collects_the_vat() {
        use crate::proto::v1::{Item, Revenue};
        let eur = |amount_minor| {
            Some(Money {
                currency: "EUR".into(),
                amount_minor,
            })
        };
        let mut d = AdvanceDeclaration {
            items: vec![
                Item {
                    value: eur(4500),
                    ..Item::default()
                },
                Item {
                    value: eur(2000),
                    ..Item::default()
                },
            ],
            revenue: Some(Revenue {
                model: CollectionModel::Platform as i32,
                ioss_number: "IM5280001234".into(),
                tax_collected: eur(1365),
            }),
            ..AdvanceDeclaration::default()
        };
        assert_eq!(
            revenue_in_brief(&d),
            "value EUR 65.00; IOSS IM5280001234 (platform), VAT collected at sale EUR 13.65"
        );
        d.revenue = Some(Revenue {
            model: CollectionModel::Border as i32,
            ..Revenue::default()
        });
        assert_eq!(
            revenue_in_brief(&d),
            "value EUR 65.00; import VAT to be paid at the border"
        );
        d.items[1].value = Some(Money {
            currency: "GBP".into(),
            amount_minor: 100,
        });
        d.revenue = None;
        assert_eq!(
            revenue_in_brief(&d),
            "values in several currencies; no revenue data"
        );
    }

    #[test]
    fn charges_read_as_a_person_says_them_with_the_total_due_at_the_border() {
        let charges = [
            charge(
                ChargeType::CustomsDuty,
                600,
                false,
                "2 item categories x EUR 3.00",
            ),
            charge(ChargeType::ImportVat, 1365, true, "VAT on goods EUR 13.65"),
            charge(ChargeType::HandlingFee, 200, false, ""),
        ];
        let total = Money {
            currency: "EUR".into(),
            amount_minor: 800,
        };
        assert_eq!(
            describe_charges("charges", &charges, &total, "Total due at the border"),
            "  charges        Customs duty EUR 6.00 (2 item categories x EUR 3.00)\n\
             \x20                Import VAT EUR 13.65, collected at sale (IOSS), not due at the border (VAT on goods EUR 13.65)\n\
             \x20                Handling fee EUR 2.00\n\
             \x20                Total due at the border EUR 8.00"
        );
    }
}
