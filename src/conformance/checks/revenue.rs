//! §11 and §12: what the target charges on a release, the revenue checks R1–R5, and what
//! it refunds when goods go back.
//!
//! Every amount the kit expects is computed from the target's revenue policy (named by the
//! profile) with the same pure arithmetic aedgate charges with (`core::revenue`), never
//! taken from §11's worked example: so the checks hold for any policy, and a policy file
//! that differs from the one the gateway loaded shows up as a failure on the first charge.
//! The kit's parcels are §11's worked example (running shoes and two T-shirts from CN)
//! priced in the policy currency and scaled to its threshold; each goes to a buyer unique
//! to the run and check, so that R5 never adds up parcels of other checks or earlier runs.

use super::lifecycle::{
    about, accepted, expect_closed, expect_code, expect_state, file, nth_outcome, response,
    seller_of, send,
};
use crate::clock::now_ms;
use crate::conformance::kit::{fail, message_id as id_of, violation_paths, Case, Stop};
use crate::core::revenue::{
    charges, consumer_return_by_post, format_money, refund, Charges, Refunded, RevenuePolicy,
};
use crate::proto::v1::{
    AdvanceDeclaration, Charge, ChargeType, CollectionModel, DeclarationState, Envelope, Item,
    MessageType, Money, Outcome, OutcomeCode, RefundDecision, ReturnNotice, ReturnReason, Revenue,
    ScreeningResult,
};
use crate::render::wire_name_or_number;
use bytes::Bytes;
use prost::Message;
use std::collections::BTreeSet;
use tonic::Code;

// ---------------------------------------------------------------------------------------
// Parcels
// ---------------------------------------------------------------------------------------

/// An amount in the policy currency, as the wire carries it.
fn money(policy: &RevenuePolicy, amount_minor: i64) -> Option<Money> {
    Some(Money {
        currency: policy.currency.clone(),
        amount_minor,
    })
}

/// A declaration of the kit's two lines (running shoes worth `shoes`, two T-shirts worth
/// `shirts` together, both from CN, in the policy currency), with fresh LRN and seller id,
/// paid at the border, for a buyer no other check or run uses.
fn priced(
    case: &Case,
    policy: &RevenuePolicy,
    shoes: i64,
    shirts: i64,
) -> Result<AdvanceDeclaration, Stop> {
    if shoes <= 0 || shirts <= 0 {
        return Err(Stop::Skip(format!(
            "the policy's low_value_threshold {} leaves no positive value for the kit's parcel",
            format_money(&policy.currency, policy.low_value_threshold)
        )));
    }
    let mut declaration = case.declaration();
    declaration.items = vec![
        Item {
            description: "Men's running shoes, knitted textile upper, rubber sole".into(),
            hs_code: "640411".into(),
            quantity: 1,
            value: money(policy, shoes),
            origin_country: "CN".into(),
            mass_g: 900,
            ..Item::default()
        },
        Item {
            description: "Men's T-shirts of knitted cotton, printed".into(),
            hs_code: "610910".into(),
            quantity: 2,
            value: money(policy, shirts),
            origin_country: "CN".into(),
            mass_g: 400,
            ..Item::default()
        },
    ];
    declaration.gross_mass_g = 1_500;
    declaration.revenue = Some(Revenue {
        model: CollectionModel::Border as i32,
        ..Revenue::default()
    });
    if let Some(buyer) = declaration.buyer.as_mut() {
        buyer.name = case.unique("Kit buyer ");
    }
    Ok(declaration)
}

/// The kit's low-value parcel: 45/150 and 20/150 of the threshold (§11's EUR 45.00 and
/// EUR 20.00 under a EUR 150 threshold), 65/150 of it together.
fn parcel(case: &Case, policy: &RevenuePolicy) -> Result<AdvanceDeclaration, Stop> {
    let threshold = i128::from(policy.low_value_threshold);
    let part = |n: i128| i64::try_from(threshold * n / 150).unwrap_or(i64::MAX);
    let declaration = priced(case, policy, part(45), part(20))?;
    if !charges(policy, &declaration).low_value {
        return Err(Stop::Skip(format!(
            "the kit's parcel is not low-value under the policy's threshold {}",
            format_money(&policy.currency, policy.low_value_threshold)
        )));
    }
    Ok(declaration)
}

/// The kit's parcel with the shoes worth one and a half times the threshold: above it.
fn valuable(case: &Case, policy: &RevenuePolicy) -> Result<AdvanceDeclaration, Stop> {
    let threshold = policy.low_value_threshold;
    let shoes = threshold.saturating_add(threshold / 2).saturating_add(1);
    let shirts = (i128::from(threshold) * 20 / 150).max(1);
    priced(
        case,
        policy,
        shoes,
        i64::try_from(shirts).unwrap_or(i64::MAX),
    )
}

/// The first IOSS number of the policy's registry: the kit can claim IOSS only with one.
fn registered_ioss(policy: &RevenuePolicy) -> Result<String, Stop> {
    policy.ioss_registry.iter().next().cloned().ok_or_else(|| {
        Stop::Skip(
            "the policy's IOSS registry is empty, so no declaration can have IOSS apply".into(),
        )
    })
}

/// A well-formed IOSS number (`IM` and 10 digits) the policy's registry does not hold.
fn unregistered_ioss(policy: &RevenuePolicy) -> String {
    (0..1000u32)
        .map(|n| format!("IM9999999{n:03}"))
        .find(|number| !policy.ioss_registry.contains(number))
        .unwrap_or_else(|| "IM0000000000".into())
}

/// Claims IOSS under the PLATFORM model with `ioss_number`, and `tax_collected` if given.
fn claim_ioss(
    declaration: &mut AdvanceDeclaration,
    policy: &RevenuePolicy,
    ioss_number: &str,
    tax_collected: Option<i64>,
) {
    declaration.revenue = Some(Revenue {
        model: CollectionModel::Platform as i32,
        ioss_number: ioss_number.to_owned(),
        tax_collected: tax_collected.and_then(|amount| money(policy, amount)),
    });
}

/// A low-value parcel that claims IOSS with a registered number and states as collected
/// exactly the VAT on goods: IOSS applies.
fn ioss_parcel(case: &Case, policy: &RevenuePolicy) -> Result<AdvanceDeclaration, Stop> {
    let number = registered_ioss(policy)?;
    let mut declaration = parcel(case, policy)?;
    claim_ioss(&mut declaration, policy, &number, None);
    let vat_on_goods = charges(policy, &declaration).vat_on_goods;
    claim_ioss(&mut declaration, policy, &number, Some(vat_on_goods));
    Ok(declaration)
}

// ---------------------------------------------------------------------------------------
// Comparing charges
// ---------------------------------------------------------------------------------------

/// What the kit compares of a charge: type, amount and whether it was collected at sale.
/// `basis` is for people, and its wording is the gateway's own.
fn keys(charges: &[Charge]) -> Vec<(i32, Option<Money>, bool)> {
    charges
        .iter()
        .map(|c| (c.r#type, c.amount.clone(), c.collected_at_sale))
        .collect()
}

fn describe_money(amount: Option<&Money>) -> String {
    amount.map_or_else(
        || "absent".to_owned(),
        |m| format_money(&m.currency, m.amount_minor),
    )
}

/// A list of charges as a person reads it, for failure reasons.
fn describe(charges: &[Charge]) -> String {
    if charges.is_empty() {
        return "none".into();
    }
    charges
        .iter()
        .map(|c| {
            format!(
                "{} {}{}",
                wire_name_or_number::<ChargeType>(c.r#type),
                describe_money(c.amount.as_ref()),
                if c.collected_at_sale {
                    " (collected at sale)"
                } else {
                    ""
                }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Requires `outcome` to carry exactly the charges and `total_due` the policy gives for
/// the declaration (`expected`), in §11's order.
fn expect_charges(outcome: &Outcome, expected: &Charges, what: &str) -> Result<(), Stop> {
    let (charges, total_due) = expected.to_wire();
    if keys(&outcome.charges) != keys(&charges) {
        return fail(format!(
            "{what}: charges [{}] where the policy gives [{}]",
            describe(&outcome.charges),
            describe(&charges)
        ));
    }
    if outcome.total_due.as_ref() != Some(&total_due) {
        return fail(format!(
            "{what}: total_due {} where the policy gives {} (the charges not collected at sale)",
            describe_money(outcome.total_due.as_ref()),
            describe_money(Some(&total_due))
        ));
    }
    Ok(())
}

/// Requires an outcome without charges and without `total_due` (§11: only
/// ASSESSMENT_COMPLETE and CONTROL_ON_ARRIVAL carry them).
fn expect_no_charges(outcome: &Outcome, what: &str) -> Result<(), Stop> {
    if outcome.charges.is_empty() && outcome.total_due.is_none() {
        return Ok(());
    }
    fail(format!(
        "{what}: the {} outcome carries charges [{}] and total_due {}, where it must carry none",
        wire_name_or_number::<OutcomeCode>(outcome.code),
        describe(&outcome.charges),
        describe_money(outcome.total_due.as_ref())
    ))
}

/// Files a declaration the target must release at once and requires its charges.
async fn released(
    case: &Case,
    policy: &RevenuePolicy,
    declaration: &AdvanceDeclaration,
    what: &str,
) -> Result<(String, Outcome), Stop> {
    let (id, _, outcome) = file(case, declaration).await?;
    expect_code(&outcome, OutcomeCode::AssessmentComplete, what)?;
    expect_charges(&outcome, &charges(policy, declaration), what)?;
    Ok((id, outcome))
}

// ---------------------------------------------------------------------------------------
// §11: charges
// ---------------------------------------------------------------------------------------

pub(super) async fn low_value_charges(case: Case) -> Result<(), Stop> {
    let policy = case.revenue()?;
    let declaration = parcel(&case, policy)?;
    released(
        &case,
        policy,
        &declaration,
        "a low-value parcel paid at the border",
    )
    .await?;
    Ok(())
}

pub(super) async fn above_threshold_charges(case: Case) -> Result<(), Stop> {
    let policy = case.revenue()?;
    let declaration = valuable(&case, policy)?;
    released(
        &case,
        policy,
        &declaration,
        "a parcel above the low-value threshold",
    )
    .await?;
    Ok(())
}

pub(super) async fn ioss_collected_at_sale(case: Case) -> Result<(), Stop> {
    let policy = case.revenue()?;
    let declaration = ioss_parcel(&case, policy)?;
    let (_, outcome) = released(
        &case,
        policy,
        &declaration,
        "a low-value parcel under IOSS with a registered number",
    )
    .await?;
    // Said plainly as well, since this is the rule the check is named after.
    let vat = outcome
        .charges
        .iter()
        .find(|c| c.r#type == ChargeType::ImportVat as i32);
    if !vat.is_some_and(|c| c.collected_at_sale) {
        return fail("IMPORT_VAT under IOSS is not marked collected_at_sale");
    }
    Ok(())
}

pub(super) async fn referral_uncharged(case: Case) -> Result<(), Stop> {
    let policy = case.revenue()?;
    let mut declaration = parcel(&case, policy)?;
    claim_ioss(&mut declaration, policy, &unregistered_ioss(policy), None);
    let (id, asking, first) = file(&case, &declaration).await?;
    expect_code(
        &first,
        OutcomeCode::RequestForInformation,
        "an IOSS number not in the registry (R1)",
    )?;
    expect_no_charges(&first, "a referral")?;
    let answer = response(
        &case,
        &asking,
        &first.referral_id,
        "The seller's IOSS registration lapsed; import VAT is to be paid at the border.",
        ScreeningResult::Unspecified,
    );
    accepted(&case, &answer, "the answer to R1").await?;
    let (_, second) = nth_outcome(&case, &id, 2).await?;
    expect_code(
        &second,
        OutcomeCode::AssessmentComplete,
        "after R1 was answered",
    )?;
    // The number is still not registered: IOSS does not apply, the VAT is due here.
    expect_charges(
        &second,
        &charges(policy, &declaration),
        "the release after R1 was answered",
    )
}

pub(super) async fn control_charged(case: Case) -> Result<(), Stop> {
    let policy = case.revenue()?;
    let controlled = parcel(&case, policy)?;
    case.publish(OutcomeCode::ControlOnArrival, &seller_of(&controlled))
        .await?;
    let (_, _, outcome) = file(&case, &controlled).await?;
    expect_code(
        &outcome,
        OutcomeCode::ControlOnArrival,
        "a control indicator matches",
    )?;
    expect_charges(
        &outcome,
        &charges(policy, &controlled),
        "CONTROL_ON_ARRIVAL releases",
    )?;
    let stopped = parcel(&case, policy)?;
    case.publish(OutcomeCode::DoNotLoad, &seller_of(&stopped))
        .await?;
    let (_, _, outcome) = file(&case, &stopped).await?;
    expect_code(
        &outcome,
        OutcomeCode::DoNotLoad,
        "a DO_NOT_LOAD indicator matches",
    )?;
    expect_no_charges(&outcome, "DO_NOT_LOAD releases nothing")
}

/// Currencies the kit tries, in order, for one the policy has no rate for.
const CURRENCIES: &[&str] = &[
    "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "RON", "ISK", "AUD", "CAD", "NZD", "SGD", "ZAR",
    "BRL", "MXN", "INR", "THB", "USD", "GBP", "EUR", "CHF", "JPY", "CNY",
];

pub(super) async fn unrated_currency(case: Case) -> Result<(), Stop> {
    use tonic_types::StatusExt;
    let policy = case.revenue()?;
    let Some(currency) = CURRENCIES
        .iter()
        .find(|c| crate::core::codes::is_currency(c) && policy.rate(c).is_none())
    else {
        return Err(Stop::Skip(
            "the policy has an exchange rate for every currency the kit tries".into(),
        ));
    };
    let mut declaration = parcel(&case, policy)?;
    for item in &mut declaration.items {
        if let Some(value) = item.value.as_mut() {
            value.currency = (*currency).to_owned();
        }
    }
    let envelope = case.seal_declaration(&declaration);
    let answer = case.submit(envelope).await;
    let status = case.expect_refused(answer, Code::InvalidArgument, "VALIDATION_FAILED")?;
    let expected: BTreeSet<String> = ["items[0].value.currency", "items[1].value.currency"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    let found = violation_paths(&status);
    if found != expected {
        return fail(format!(
            "{currency} has no rate in the policy: BadRequest field paths {found:?} where {expected:?} were due"
        ));
    }
    let text = format!("no exchange rate for {currency}");
    let details = status.get_error_details();
    let descriptions: Vec<String> = details
        .bad_request()
        .map(|b| {
            b.field_violations
                .iter()
                .map(|v| v.description.clone())
                .collect()
        })
        .unwrap_or_default();
    if let Some(other) = descriptions.iter().find(|d| !d.contains(&text)) {
        return fail(format!(
            "violation described as {other:?}, where §11 says {text:?}"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// §11: revenue checks R1–R5
// ---------------------------------------------------------------------------------------

/// Files `declaration` and requires a REQUEST_FOR_INFORMATION on `pointer`, with a
/// referral to answer, no charges, and the declaration REFERRED.
async fn expect_question(
    case: &Case,
    declaration: &AdvanceDeclaration,
    pointer: &str,
    what: &str,
) -> Result<(), Stop> {
    let (id, _, outcome) = file(case, declaration).await?;
    expect_code(&outcome, OutcomeCode::RequestForInformation, what)?;
    if outcome.pointer != pointer {
        return fail(format!(
            "{what}: pointer {:?} where {pointer:?} was due",
            outcome.pointer
        ));
    }
    if outcome.referral_id.is_empty() || outcome.request_text.is_empty() {
        return fail(format!(
            "{what}: the RFI lacks a referral id or request text"
        ));
    }
    expect_no_charges(&outcome, what)?;
    expect_state(case, &id, DeclarationState::Referred).await?;
    Ok(())
}

pub(super) async fn r1_unregistered_ioss(case: Case) -> Result<(), Stop> {
    let policy = case.revenue()?;
    let mut declaration = parcel(&case, policy)?;
    let number = unregistered_ioss(policy);
    claim_ioss(&mut declaration, policy, &number, None);
    expect_question(
        &case,
        &declaration,
        "revenue.ioss_number",
        &format!("R1: IOSS number {number} is not in the registry"),
    )
    .await
}

pub(super) async fn r2_ioss_above_threshold(case: Case) -> Result<(), Stop> {
    let policy = case.revenue()?;
    let number = registered_ioss(policy)?;
    let mut declaration = valuable(&case, policy)?;
    claim_ioss(&mut declaration, policy, &number, None);
    expect_question(
        &case,
        &declaration,
        "revenue.ioss_number",
        "R2: a registered IOSS number on a parcel above the low-value threshold",
    )
    .await
}

pub(super) async fn r3_tax_collected_differs(case: Case) -> Result<(), Stop> {
    let policy = case.revenue()?;
    let number = registered_ioss(policy)?;
    let mut declaration = ioss_parcel(&case, policy)?;
    let vat_on_goods = charges(policy, &declaration).vat_on_goods;
    // One minor unit beyond the tolerance.
    let collected = vat_on_goods
        .saturating_add(policy.tax_tolerance)
        .saturating_add(1);
    claim_ioss(&mut declaration, policy, &number, Some(collected));
    expect_question(
        &case,
        &declaration,
        "revenue.tax_collected",
        &format!(
            "R3: {} collected at sale where the VAT on goods is {} (tolerance {})",
            format_money(&policy.currency, collected),
            format_money(&policy.currency, vat_on_goods),
            format_money(&policy.currency, policy.tax_tolerance)
        ),
    )
    .await
}

pub(super) async fn r4_undervalued(case: Case) -> Result<(), Stop> {
    let policy = case.revenue()?;
    let allowed = 1000 - i128::from(policy.undervaluation.min(1000));
    if allowed == 0 {
        return Err(Stop::Skip(
            "the policy's undervaluation of 1000 per mille never raises R4".into(),
        ));
    }
    let mut declaration = parcel(&case, policy)?;
    let line_price = |item: &Item, undervalued: bool| -> Option<Money> {
        let value = i128::from(item.value.as_ref().map_or(0, |m| m.amount_minor));
        let units = i128::from(item.quantity.max(1));
        // The highest unit price R4 leaves alone: value x 1000 >= price x units x allowed.
        let highest = value * 1000 / (units * allowed);
        let price = if undervalued { highest + 1 } else { highest };
        money(policy, i64::try_from(price).unwrap_or(i64::MAX))
    };
    // The shoes at the highest listed price that is not yet undervaluation, the T-shirts
    // one minor unit above it: R4 names the T-shirts, and only them.
    if let Some(shoes) = declaration.items.first_mut() {
        shoes.listed_price = line_price(shoes, false);
    }
    if let Some(shirts) = declaration.items.get_mut(1) {
        shirts.listed_price = line_price(shirts, true);
    }
    expect_question(
        &case,
        &declaration,
        "items[1].value",
        "R4: items[1] declared below its listed price by more than the policy allows",
    )
    .await
}

pub(super) async fn r5_splitting(case: Case) -> Result<(), Stop> {
    let policy = case.revenue()?;
    let seller = case.seller_id();
    let buyer = case.unique("Kit buyer ");
    let mut parcels = Vec::new();
    for _ in 0..3 {
        let mut declaration = parcel(&case, policy)?;
        if let Some(party) = declaration.seller.as_mut() {
            party.identifier = seller.clone();
        }
        if let Some(party) = declaration.buyer.as_mut() {
            party.name = buyer.clone();
        }
        parcels.push(declaration);
    }
    let value = parcels
        .first()
        .map_or(0, |d| charges(policy, d).intrinsic_value);
    let threshold = policy.low_value_threshold;
    if value.saturating_mul(2) > threshold || value.saturating_mul(3) <= threshold {
        return Err(Stop::Skip(format!(
            "the kit's parcel ({}) does not make the threshold ({}) lie between two and three parcels",
            format_money(&policy.currency, value),
            format_money(&policy.currency, threshold)
        )));
    }
    let mut parcels = parcels.into_iter();
    for n in 1..=2 {
        let Some(declaration) = parcels.next() else {
            break;
        };
        released(
            &case,
            policy,
            &declaration,
            &format!("parcel {n} of one buyer and seller, not above the threshold together"),
        )
        .await?;
    }
    let Some(third) = parcels.next() else {
        return fail("no third parcel");
    };
    expect_question(
        &case,
        &third,
        "buyer.name",
        &format!(
            "R5: a third parcel of one buyer and seller in one window, {} together",
            format_money(&policy.currency, value.saturating_mul(3))
        ),
    )
    .await
}

// ---------------------------------------------------------------------------------------
// §12: returns
// ---------------------------------------------------------------------------------------

/// A released low-value parcel for the return checks: its id, the declaration and the
/// charges its release carried.
async fn released_parcel(
    case: &Case,
    policy: &RevenuePolicy,
    declaration: AdvanceDeclaration,
) -> Result<(String, Outcome, AdvanceDeclaration), Stop> {
    let (id, outcome) = released(case, policy, &declaration, "the parcel to be returned").await?;
    Ok((id, outcome, declaration))
}

/// A RETURN_NOTICE for `lines` (item, quantity): a consumer return by post, the goods
/// left at `exited_at_ms`.
fn notice(case: &Case, lines: &[(u32, u32)], exited_at_ms: i64) -> ReturnNotice {
    consumer_return_by_post(&case.unique("RET"), lines, exited_at_ms)
}

/// When the kit says returned goods left: now, but never before the release (the kit's
/// clock may lag the target's by a little, and §12 refuses goods that left before it).
fn exit_time(release: &Outcome) -> i64 {
    now_ms().max(release.decided_at_ms)
}

fn seal_notice(case: &Case, declaration_id: &str, notice: &ReturnNotice) -> Envelope {
    about(
        case,
        MessageType::ReturnNotice,
        notice.encode_to_vec(),
        declaration_id,
    )
}

/// Files a notice, requires it accepted, and returns its REFUND_DECISION (verified as
/// issued and signed by the target, correlated to the notice).
async fn return_goods(
    case: &Case,
    declaration_id: &str,
    notice: &ReturnNotice,
    what: &str,
) -> Result<(Envelope, RefundDecision), Stop> {
    let envelope = seal_notice(case, declaration_id, notice);
    accepted(case, &envelope, what).await?;
    let mut decisions = case.refund_decisions(&id_of(&envelope), 1).await?;
    decisions.pop().map_or_else(
        || fail(format!("{what}: no REFUND_DECISION")),
        |(decision_envelope, decision)| Ok((decision_envelope, decision)),
    )
}

/// Requires the refunds and `total_refund` §12 gives for `returned` (units of each item
/// returned so far, this notice included) after `before`; returns what has been refunded
/// so far.
fn expect_refunds(
    decision: &RefundDecision,
    charged: &Charges,
    returned: &[u32],
    before: Refunded,
    what: &str,
) -> Result<Refunded, Stop> {
    let expected = refund(charged, returned, before);
    let (refunds, total) = expected.to_wire();
    if keys(&decision.refunds) != keys(&refunds) {
        return fail(format!(
            "{what}: refunds [{}] where §12 gives [{}]",
            describe(&decision.refunds),
            describe(&refunds)
        ));
    }
    if decision.total_refund.as_ref() != Some(&total) {
        return fail(format!(
            "{what}: total_refund {} where §12 gives {}",
            describe_money(decision.total_refund.as_ref()),
            describe_money(Some(&total))
        ));
    }
    if !decision.refusal.is_empty() {
        return fail(format!(
            "{what}: refusal {:?} on an accepted notice",
            decision.refusal
        ));
    }
    Ok(expected.so_far)
}

pub(super) async fn refund_decision_issued(case: Case) -> Result<(), Stop> {
    let policy = case.revenue()?;
    let (id, release, _) = released_parcel(&case, policy, parcel(&case, policy)?).await?;
    let notice = notice(&case, &[(1, 2)], exit_time(&release));
    let envelope = seal_notice(&case, &id, &notice);
    accepted(&case, &envelope, "the RETURN_NOTICE").await?;
    let notice_id = id_of(&envelope);
    // Only a decision whose correlation_id is the notice's id answers it; each is verified
    // as issued to the partner and signed by the target.
    let decisions = case.refund_decisions(&notice_id, 1).await?;
    let Some((_, decision)) = decisions.first() else {
        return fail("no REFUND_DECISION");
    };
    if decisions.len() > 1 {
        return fail(format!(
            "{} REFUND_DECISIONs answer one notice",
            decisions.len()
        ));
    }
    if decision.declaration_id != id || decision.mrn != release.mrn {
        return fail(format!(
            "the decision names declaration {:?} / MRN {:?}, not {id:?} / {:?}",
            decision.declaration_id, decision.mrn, release.mrn
        ));
    }
    if decision.decided_at_ms <= 0 {
        return fail("the decision has no decided_at_ms");
    }
    if decision.total_refund.is_none() {
        return fail("the decision has no total_refund (§12: always present)");
    }
    Ok(())
}

/// One partial return: its notice's lines (item, quantity), the units of each item
/// returned once it is accepted, and what it is.
type Step = (&'static [(u32, u32)], [u32; 2], &'static str);

pub(super) async fn refunds_cumulative(case: Case) -> Result<(), Stop> {
    let policy = case.revenue()?;
    let (id, release, declaration) = released_parcel(&case, policy, parcel(&case, policy)?).await?;
    let charged = charges(policy, &declaration);
    // One T-shirt (no whole category back: no duty), the other, then the shoes.
    let steps: [Step; 3] = [
        (&[(1, 1)], [0, 1], "returning one of the two T-shirts"),
        (&[(1, 1)], [0, 2], "returning the second T-shirt"),
        (&[(0, 1)], [1, 2], "returning the shoes last"),
    ];
    let mut so_far = Refunded::default();
    for (lines, returned, what) in steps {
        let notice = notice(&case, lines, exit_time(&release));
        let (_, decision) = return_goods(&case, &id, &notice, what).await?;
        so_far = expect_refunds(&decision, &charged, &returned, so_far, what)?;
    }
    Ok(())
}

pub(super) async fn returned_states(case: Case) -> Result<(), Stop> {
    let policy = case.revenue()?;
    let (id, release, _) = released_parcel(&case, policy, parcel(&case, policy)?).await?;
    let shirts = notice(&case, &[(1, 2)], exit_time(&release));
    return_goods(&case, &id, &shirts, "returning the T-shirts").await?;
    expect_state(&case, &id, DeclarationState::PartlyReturned)
        .await
        .map_err(|s| s.context("after the T-shirts were returned"))?;
    let shoes = notice(&case, &[(0, 1)], exit_time(&release));
    return_goods(&case, &id, &shoes, "returning the shoes").await?;
    expect_state(&case, &id, DeclarationState::Returned)
        .await
        .map_err(|s| s.context("after every item was returned"))?;
    Ok(())
}

pub(super) async fn ioss_refund(case: Case) -> Result<(), Stop> {
    let policy = case.revenue()?;
    let declaration = ioss_parcel(&case, policy)?;
    let (id, release, declaration) = released_parcel(&case, policy, declaration).await?;
    let charged = charges(policy, &declaration);
    let all = notice(&case, &[(0, 1), (1, 2)], exit_time(&release));
    let (_, decision) = return_goods(&case, &id, &all, "returning everything").await?;
    expect_refunds(
        &decision,
        &charged,
        &[1, 2],
        Refunded::default(),
        "a full return under IOSS",
    )?;
    Ok(())
}

pub(super) async fn unknown_declaration(case: Case) -> Result<(), Stop> {
    let unknown = uuid::Uuid::now_v7().hyphenated().to_string();
    let envelope = seal_notice(&case, &unknown, &notice(&case, &[(0, 1)], now_ms()));
    case.expect_refused(
        send(&case, &envelope).await,
        Code::FailedPrecondition,
        "UNKNOWN_DECLARATION",
    )?;
    Ok(())
}

pub(super) async fn another_partners_declaration(case: Case) -> Result<(), Stop> {
    let policy = case.revenue()?;
    let second = case.second_partner()?;
    let mut theirs = parcel(&case, policy)?;
    theirs.platform_id = second.id.clone();
    let envelope = second.sign(case.draft_from(
        second,
        MessageType::Declaration,
        Bytes::from(theirs.encode_to_vec()),
        "",
    ));
    case.expect_accepted(
        second,
        &envelope,
        case.submit_as(second, envelope.clone()).await,
    )
    .map_err(|stop| stop.context("the second partner's declaration"))?;
    let notice = seal_notice(
        &case,
        &id_of(&envelope),
        &notice(&case, &[(0, 1)], now_ms()),
    );
    case.expect_refused(
        send(&case, &notice).await,
        Code::FailedPrecondition,
        "UNKNOWN_DECLARATION",
    )
    .map_err(|s| s.context("a notice for the second partner's declaration"))?;
    Ok(())
}

pub(super) async fn not_released(case: Case) -> Result<(), Stop> {
    let policy = case.revenue()?;
    // Referred: R1 holds it until answered.
    let mut referred = parcel(&case, policy)?;
    claim_ioss(&mut referred, policy, &unregistered_ioss(policy), None);
    let (referred_id, _, first) = file(&case, &referred).await?;
    expect_code(
        &first,
        OutcomeCode::RequestForInformation,
        "an IOSS number not in the registry (R1)",
    )?;
    let early = seal_notice(&case, &referred_id, &notice(&case, &[(0, 1)], now_ms()));
    case.expect_refused(
        send(&case, &early).await,
        Code::FailedPrecondition,
        "NOT_RELEASED",
    )
    .map_err(|s| s.context("a notice for a referred declaration"))?;
    // Returned in full: nothing is left to return.
    let (id, release, _) = released_parcel(&case, policy, parcel(&case, policy)?).await?;
    let all = notice(&case, &[(0, 1), (1, 2)], exit_time(&release));
    return_goods(&case, &id, &all, "returning everything").await?;
    let again = seal_notice(&case, &id, &notice(&case, &[(0, 1)], exit_time(&release)));
    case.expect_refused(
        send(&case, &again).await,
        Code::FailedPrecondition,
        "NOT_RELEASED",
    )
    .map_err(|s| s.context("a notice for a RETURNED declaration"))?;
    Ok(())
}

pub(super) async fn return_period(case: Case) -> Result<(), Stop> {
    let policy = case.revenue()?;
    let (id, release, _) = released_parcel(&case, policy, parcel(&case, policy)?).await?;
    let before = notice(&case, &[(0, 1)], release.decided_at_ms - 1);
    case.expect_refused(
        send(&case, &seal_notice(&case, &id, &before)).await,
        Code::FailedPrecondition,
        "RETURN_PERIOD_EXPIRED",
    )
    .map_err(|s| s.context("goods that left 1 ms before the release (exited_at_ms)"))?;
    // The release's own millisecond is not before it.
    let at = notice(&case, &[(0, 1)], release.decided_at_ms);
    return_goods(
        &case,
        &id,
        &at,
        "goods that left in the millisecond of the release",
    )
    .await?;
    Ok(())
}

pub(super) async fn notice_violations(case: Case) -> Result<(), Stop> {
    let policy = case.revenue()?;
    let (id, release, _) = released_parcel(&case, policy, parcel(&case, policy)?).await?;
    let exited = exit_time(&release);
    let mut no_transport = notice(&case, &[(0, 1)], exited);
    no_transport.return_transport = None;
    let mut no_reason = notice(&case, &[(0, 1)], exited);
    no_reason.reason = ReturnReason::Unspecified as i32;
    let cases: Vec<(&str, ReturnNotice, &str)> = vec![
        ("no lines", notice(&case, &[], exited), "lines"),
        (
            "a quantity of 0",
            notice(&case, &[(0, 0)], exited),
            "lines[0].quantity",
        ),
        (
            "item 2 of a declaration of two items",
            notice(&case, &[(2, 1)], exited),
            "lines[0].item",
        ),
        (
            "3 of 2 T-shirts",
            notice(&case, &[(0, 1), (1, 3)], exited),
            "lines[1].quantity",
        ),
        (
            "no return transport",
            no_transport,
            "return_transport.house_ref",
        ),
        ("reason unset", no_reason, "reason"),
    ];
    for (what, notice, path) in cases {
        case.expect_violations(
            send(&case, &seal_notice(&case, &id, &notice)).await,
            &[path],
        )
        .map_err(|s| s.context(format!("a notice with {what}")))?;
    }
    // Cumulative: once one T-shirt is back, only one is left to return.
    let one = notice(&case, &[(1, 1)], exited);
    return_goods(&case, &id, &one, "returning one T-shirt").await?;
    let two = notice(&case, &[(1, 2)], exited);
    case.expect_violations(
        send(&case, &seal_notice(&case, &id, &two)).await,
        &["lines[0].quantity"],
    )
    .map_err(|s| s.context("returning 2 T-shirts after 1 of 2 was returned"))?;
    Ok(())
}

pub(super) async fn repeated_line(case: Case) -> Result<(), Stop> {
    let policy = case.revenue()?;
    let (id, release, _) = released_parcel(&case, policy, parcel(&case, policy)?).await?;
    // §12 refuses a repeated line without naming the field; aedgate names the repeat's
    // item, the field that makes it a repeat (docs/decisions.md).
    let twice = notice(&case, &[(1, 1), (1, 1)], exit_time(&release));
    case.expect_violations(
        send(&case, &seal_notice(&case, &id, &twice)).await,
        &["lines[1].item"],
    )
    .map_err(|s| s.context("a notice returning one T-shirt twice"))
}

pub(super) async fn closed_after_return(case: Case) -> Result<(), Stop> {
    let policy = case.revenue()?;
    let (id, release, declaration) = released_parcel(&case, policy, parcel(&case, policy)?).await?;
    let shirts = notice(&case, &[(1, 2)], exit_time(&release));
    return_goods(&case, &id, &shirts, "returning the T-shirts").await?;
    expect_closed(&case, &id, &declaration, "after a return").await
}
