//! The revenue chapter (PROTOCOL.md §11 and §12): what a consignment for the Netherlands
//! owes and what comes back when goods are returned, told as a customs officer follows
//! revenue cases. A low-value parcel released with its charges; the same goods under IOSS,
//! the VAT collected at sale; the revenue checks asking about what does not add up (an IOSS
//! number not in the registry, IOSS claimed above EUR 150, an item declared at a tenth of
//! its listed price, one buyer's parcels from one seller adding up above EUR 150 in a day),
//! each on its field; and a consumer return in two steps, each answered with a signed
//! refund, the two adding up to exactly one full refund.
//!
//! It follows the assessment chapter because the charges ride on the outcomes that chapter
//! introduced, and the checks are requests for information answered as there; the chapter
//! between administrations and the audit log come after, and the audit log's counts and
//! proofs cover what this chapter filed.

use super::data::{
    border_parcel, ioss_above_threshold, ioss_parcel, split_parcels, undervalued, unregistered_ioss,
};
use super::stage::{answer, file, follow, print_status, read_log, submit, Answer, Stage};
use crate::client::{check_delivery, Participant};
use crate::core::revenue::{
    charges, consumer_return_by_post, format_money, format_per_mille, refund, Refunded,
    RevenuePolicy,
};
use crate::proto::v1::{
    AdvanceDeclaration, ChargeType, MessageType, Money, RefundDecision, ReturnReason,
};
use crate::render::{
    describe_refund, goods_summary, indent, money, revenue_in_brief, short_name, type_name, wrap,
};
use bytes::Bytes;
use prost::Message;

/// The answer to R1: the seller's IOSS registration had ended, so the VAT is paid at the
/// border.
const R1_ANSWER: &str =
    "Pennywhistle Books' IOSS registration ended in October 2026 and the number \
     was still on its listing. ShopCo refunded the buyer the GBP 2.16 VAT charged at sale (order \
     7731-2048); import VAT is to be paid at the border.";

/// The answer to R2: above EUR 150 IOSS does not apply, so the VAT is paid at the border.
const R2_ANSWER: &str = "The buyer paid EUR 189.00 for the robot vacuum cleaner (ShopCo order \
     7731-3310). IOSS does not apply above EUR 150: ShopCo refunded the EUR 39.69 VAT charged \
     at sale, and import VAT is to be paid at the border.";

/// The tracking numbers of the two return parcels (each a new transport contract, §12).
const RETURN_PARCELS: [&str; 2] = ["RET7723420401NL", "RET7723420402NL"];

/// Tells the chapter: the policy, the six cases, then the return of the first parcel.
pub(super) async fn charge_and_refund(stage: &mut Stage) -> Result<(), String> {
    let policy = stage
        .nl_revenue
        .clone()
        .ok_or("the gateway of adm/NL has no revenue policy")?;
    introduce(&policy);
    let threshold = format_money(&policy.currency, policy.low_value_threshold);

    let parcel = border_parcel();
    heading(
        1,
        "A low-value parcel, import VAT at the border: released with its charges",
    );
    filed("ShopCo", &parcel);
    let parcel_id = file(&mut stage.shopco, &parcel).await?;
    let released = follow(&stage.shopco, &parcel_id, 0).await?;
    print_status(&stage.shopco, &parcel_id).await?;

    heading(
        2,
        "The same goods under IOSS: the VAT was collected at sale, not due at the border",
    );
    let d = ioss_parcel();
    filed("ShopCo", &d);
    let id = file(&mut stage.shopco, &d).await?;
    follow(&stage.shopco, &id, 0).await?;
    print_status(&stage.shopco, &id).await?;

    heading(
        3,
        "An IOSS number not in the registry (R1): asked about, then charged at the border",
    );
    asked_and_answered(&mut stage.shopco, &unregistered_ioss(), R1_ANSWER).await?;

    heading(
        4,
        &format!(
            "IOSS claimed on goods above {threshold} (R2): asked about, then charged at the border"
        ),
    );
    asked_and_answered(&mut stage.shopco, &ioss_above_threshold(), R2_ANSWER).await?;

    heading(
        5,
        "An item sold at EUR 120.00 and declared at EUR 12.00 (R4): asked about",
    );
    let d = undervalued();
    filed("ShopCo", &d);
    let id = file(&mut stage.shopco, &d).await?;
    follow(&stage.shopco, &id, 0).await?;
    print_status(&stage.shopco, &id).await?;

    heading(
        6,
        "Three parcels from one seller to one buyer within a day (R5): the third asked about",
    );
    println!(
        "{}",
        wrap(
            &format!(
                "Each parcel is low-value on its own; R5 adds up the low-value parcels for one buyer \
                 from one seller accepted within {} hours, whoever filed them.",
                policy.splitting_window_h
            ),
            3,
            100
        )
    );
    let [first, second, third] = split_parcels();
    for d in [&first, &second] {
        filed("ShopCo", d);
        let id = file(&mut stage.shopco, d).await?;
        follow(&stage.shopco, &id, 0).await?;
    }
    filed("FlyFast", &third);
    let id = file(&mut stage.flyfast, &third).await?;
    follow(&stage.flyfast, &id, 0).await?;
    print_status(&stage.flyfast, &id).await?;

    heading(
        7,
        "A consumer return in two steps: the parcel of case 1 comes back",
    );
    let paid = released
        .total_due
        .ok_or("the parcel of case 1 was released without its charges")?;
    returned_in_two_steps(stage, &policy, &parcel, &parcel_id, &paid).await?;
    println!();
    Ok(())
}

/// The chapter's heading and adm/NL's revenue policy in words, from the policy its gateway
/// loaded, so that every amount below can be traced to a rule.
fn introduce(policy: &RevenuePolicy) {
    let amount = |minor| format_money(&policy.currency, minor);
    let reduced: Vec<String> = policy
        .reduced_vat
        .iter()
        .map(|r| {
            format!(
                "{} for HS {}",
                format_per_mille(r.rate),
                r.hs_prefixes.join(", ")
            )
        })
        .collect();
    let reduced = if reduced.is_empty() {
        String::new()
    } else {
        format!(" ({})", reduced.join("; "))
    };
    let currencies: Vec<&str> = policy.exchange_rates.keys().map(String::as_str).collect();
    println!("Revenue and returns (PROTOCOL.md §11 and §12)");
    println!("=============================================");
    println!(
        "{}",
        wrap(
            &format!(
                "Since 1 July 2026 every consignment for the Netherlands owes customs duty, and its import VAT \
                 is paid at the border unless the seller or the platform collected it at sale under IOSS (the \
                 EU's Import One-Stop Shop). adm/NL's revenue policy: a consignment worth up to {} is \
                 low-value and owes {} duty per item category (HS subheading and origin) and a handling fee \
                 of {}; above that, duty is {} of its value. Import VAT is {}{reduced}, on the goods and on \
                 duty and fee. Values in other currencies ({}) are converted into {} at the policy's rates; {} \
                 IOSS numbers are registered. Each releasing OUTCOME states the charges, signed by adm/NL. The revenue checks \
                 R1 to R5 ask about what does not add up with a REQUEST_FOR_INFORMATION on the field in \
                 question. Goods sent back are reported with a RETURN_NOTICE, answered with a signed \
                 REFUND_DECISION.",
                amount(policy.low_value_threshold),
                amount(policy.flat_duty_per_category),
                amount(policy.handling_fee),
                format_per_mille(policy.duty_rate),
                format_per_mille(policy.vat_rate),
                currencies.join(", "),
                policy.currency,
                policy.ioss_registry.len(),
            ),
            0,
            100
        )
    );
}

/// A case's number and title.
fn heading(n: u8, title: &str) {
    println!("\n{n}. {title}");
}

/// What was filed, in brief: by whom, the goods, seller and buyer, the value and who
/// collects the VAT.
fn filed(filer: &str, d: &AdvanceDeclaration) {
    let seller = d.seller.as_ref().map_or("-", |s| s.name.as_str());
    let (buyer, city) = d
        .buyer
        .as_ref()
        .map_or(("-", "-"), |b| (b.name.as_str(), b.city.as_str()));
    println!(
        "   {filer}, LRN {}: {} (seller {seller})",
        d.lrn,
        goods_summary(d)
    );
    println!("     for {buyer} in {city}; {}", revenue_in_brief(d));
}

/// A case a revenue check asks about: filed, the question, ShopCo's answer, and the
/// release the answer leads to, with the charges as they now stand.
async fn asked_and_answered(
    shopco: &mut Participant,
    d: &AdvanceDeclaration,
    text: &str,
) -> Result<(), String> {
    filed("ShopCo", d);
    let id = file(shopco, d).await?;
    follow(shopco, &id, 0).await?;
    answer(shopco, &id, "ShopCo", Answer::Information(text)).await?;
    follow(shopco, &id, 1).await?;
    print_status(shopco, &id).await?;
    Ok(())
}

/// Case 7: the buyer of case 1 sends the T-shirts back, then the shoes; each RETURN_NOTICE
/// is answered with a signed REFUND_DECISION, and the two refunds together are compared
/// with the refund of the whole parcel returned at once, computed from the same charges;
/// `paid` is the total the release stated as due at the border.
async fn returned_in_two_steps(
    stage: &mut Stage,
    policy: &RevenuePolicy,
    parcel: &AdvanceDeclaration,
    id: &str,
    paid: &Money,
) -> Result<(), String> {
    let buyer = parcel.buyer.as_ref().map_or("-", |b| b.name.as_str());
    println!(
        "{}",
        wrap(
            &format!(
                "{buyer} keeps nothing: the T-shirts do not fit and go back first, then the shoes, each in \
                 its own return parcel. ShopCo reports each return with a RETURN_NOTICE naming the \
                 declaration and the lines that left the EU."
            ),
            3,
            100
        )
    );
    let [first, second] = RETURN_PARCELS;
    let shirts = return_lines(&mut stage.shopco, parcel, id, &[(1, 2)], first).await?;
    print_status(&stage.shopco, id).await?;
    let shoes = return_lines(&mut stage.shopco, parcel, id, &[(0, 1)], second).await?;
    print_status(&stage.shopco, id).await?;

    // The whole parcel returned at once, from the charges adm/NL computed on release.
    let charged = charges(policy, parcel);
    let everything: Vec<u32> = parcel.items.iter().map(|i| i.quantity).collect();
    let whole = refund(&charged, &everything, Refunded::default());
    let (_, whole_total) = whole.to_wire();
    let amount = |minor| format_money(&charged.currency, minor);
    let total = |d: &RefundDecision| d.total_refund.as_ref().map_or(0, |m| m.amount_minor);
    let of_type = |kind: ChargeType| {
        [&shirts, &shoes]
            .iter()
            .flat_map(|d| &d.refunds)
            .filter(|c| c.r#type == kind as i32)
            .filter_map(|c| c.amount.as_ref())
            .map(|m| m.amount_minor)
            .sum::<i64>()
    };
    let sum = total(&shirts) + total(&shoes);
    let (duty, vat) = (
        of_type(ChargeType::CustomsDuty),
        of_type(ChargeType::ImportVat),
    );
    let verdict = if sum == whole_total.amount_minor && (duty, vat) == (whole.duty, whole.vat) {
        "exactly one full refund, what returning the whole parcel at once refunds".to_owned()
    } else {
        format!(
            "NOT one full refund: returning the whole parcel at once refunds {} (customs duty {}, \
             import VAT {})",
            money(&whole_total),
            amount(whole.duty),
            amount(whole.vat)
        )
    };
    println!(
        "{}",
        wrap(
            &format!(
                "Together: {} + {} = {} refunded (customs duty {}, import VAT {}): {verdict}. Of the {} \
                 paid at the border, the {} kept is the handling fee and the VAT on it, which are never \
                 refunded.",
                amount(total(&shirts)),
                amount(total(&shoes)),
                amount(sum),
                amount(duty),
                amount(vat),
                money(paid),
                amount(paid.amount_minor.saturating_sub(sum)),
            ),
            3,
            100
        )
    );
    Ok(())
}

/// Files a consumer return of `lines` ((item, quantity)) of declaration `id`, sent back in
/// parcel `house_ref`, and prints the REFUND_DECISION that answers it, as ShopCo fetched
/// it, signature-checked.
async fn return_lines(
    shopco: &mut Participant,
    parcel: &AdvanceDeclaration,
    id: &str,
    lines: &[(u32, u32)],
    house_ref: &str,
) -> Result<RefundDecision, String> {
    let notice = consumer_return_by_post(house_ref, lines, crate::clock::now_ms());
    let envelope = shopco.seal(
        MessageType::ReturnNotice,
        Bytes::from(notice.encode_to_vec()),
        id,
    );
    let notice_id = envelope
        .header
        .as_ref()
        .map(|h| h.message_id.clone())
        .unwrap_or_default();
    let receipt = submit(shopco, envelope, "the return notice").await?;
    let what: Vec<String> = lines
        .iter()
        .map(|&(item, quantity)| {
            let description = usize::try_from(item)
                .ok()
                .and_then(|i| parcel.items.get(i))
                .map_or("-", |i| i.description.as_str());
            format!("items[{item}] x {quantity} ({description})")
        })
        .collect();
    println!(
        "   → ShopCo files a {} (log entry {}):",
        type_name(MessageType::ReturnNotice as i32),
        receipt.log_index
    );
    let said = format!(
        "{} of {}, return parcel {house_ref} by post",
        short_name::<ReturnReason>(notice.reason),
        what.join(", ")
    );
    println!("{}", wrap(&said, 5, 100));

    let deliveries = read_log(shopco).await?;
    let Some((seq, envelope)) = deliveries.into_iter().find_map(|d| {
        let envelope = d.envelope?;
        let header = envelope.header.as_ref()?;
        (header.r#type == MessageType::RefundDecision as i32 && header.correlation_id == notice_id)
            .then_some((d.seq, envelope))
    }) else {
        return Err(format!("no refund decision for return notice {notice_id}"));
    };
    let check = match check_delivery(shopco.trust(), &shopco.gateway, &envelope) {
        Ok(key_id) => format!("signature verified ({key_id})"),
        Err(why) => format!("SIGNATURE NOT VERIFIED: {why}"),
    };
    let decision = RefundDecision::decode(envelope.payload.clone())
        .map_err(|e| format!("refund decision for {notice_id}: {e}"))?;
    println!(
        "   ← {}, fetched by {} as seq {seq}, {check}",
        type_name(MessageType::RefundDecision as i32),
        shopco.id
    );
    println!("{}", indent(&describe_refund(&decision), 3));
    Ok(decision)
}
