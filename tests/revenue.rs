//! Revenue (§11) and returns (§12) over real sockets: charges signed on every release, the
//! revenue checks R1–R5 as referrals, refunds for returned goods, and the revenue policy
//! loaded at start and on reload.

mod common;

use aedgate::client::{check_delivery, Participant};
use aedgate::proto::v1::{
    AdvanceDeclaration, ChargeType, CollectionModel, DeclarationState, Delivery, Envelope, Item,
    MessageType, Money, Outcome, OutcomeCode, Party, ReferralResponse, RefundDecision,
    ReturnNotice, Revenue, StatusRequest,
};
use aedgate::server::RunningGateway;
use bytes::Bytes;
use common::*;
use prost::Message;
use tonic::Code;
use tonic_types::StatusExt;

fn eur(amount_minor: i64) -> Option<Money> {
    Some(Money {
        currency: "EUR".into(),
        amount_minor,
    })
}

/// §11's worked example as a declaration: running shoes EUR 45.00 and two T-shirts
/// EUR 20.00 (the line's total), from CN, for a buyer named after the LRN so that
/// declarations of one test do not add up for R5 unless a test says so.
fn worked(lrn: &str, ioss: bool) -> AdvanceDeclaration {
    let mut d = declaration(lrn);
    d.items = vec![
        Item {
            description: "Men's running shoes, knitted textile upper, rubber sole".into(),
            hs_code: "640411".into(),
            quantity: 1,
            value: eur(4500),
            origin_country: "CN".into(),
            mass_g: 900,
            ..Item::default()
        },
        Item {
            description: "Men's T-shirts of knitted cotton, printed".into(),
            hs_code: "610910".into(),
            quantity: 2,
            value: eur(2000),
            origin_country: "CN".into(),
            mass_g: 400,
            ..Item::default()
        },
    ];
    d.gross_mass_g = 1500;
    d.revenue = Some(if ioss {
        Revenue {
            model: CollectionModel::Platform as i32,
            ioss_number: "IM5280001234".into(),
            tax_collected: eur(1365),
        }
    } else {
        Revenue {
            model: CollectionModel::Border as i32,
            ..Revenue::default()
        }
    });
    if let Some(buyer) = d.buyer.as_mut() {
        buyer.name = format!("Buyer {lrn}");
    }
    d
}

struct World {
    fed: Federation,
    gateway: RunningGateway,
    shopco: Participant,
}

async fn world() -> World {
    let fed = Federation::with_revenue();
    let gateway = fed.start(NL).await;
    let shopco = fed.connect(SHOPCO, &gateway).await;
    World {
        fed,
        gateway,
        shopco,
    }
}

fn id_of(envelope: &Envelope) -> String {
    envelope.header.as_ref().expect("header").message_id.clone()
}

/// Files a declaration and returns its id and its latest outcome (committed with it).
async fn file(p: &mut Participant, d: &AdvanceDeclaration) -> (String, Envelope, Outcome) {
    let envelope = p.seal_declaration(d);
    p.submit(envelope.clone()).await.expect("accepted");
    let id = id_of(&envelope);
    let (env, outcome) = last_outcome(p, &id).await;
    (id, env, outcome)
}

async fn last_outcome(p: &Participant, declaration_id: &str) -> (Envelope, Outcome) {
    outcomes_for(&fetch_all(p, 0).await, declaration_id)
        .pop()
        .expect("an outcome")
}

fn code(outcome: &Outcome) -> OutcomeCode {
    OutcomeCode::try_from(outcome.code).expect("known code")
}

/// (type, amount, collected at sale) of each charge, in order.
fn charges(charges: &[aedgate::proto::v1::Charge]) -> Vec<(ChargeType, i64, bool)> {
    charges
        .iter()
        .map(|c| {
            (
                ChargeType::try_from(c.r#type).expect("charge type"),
                c.amount.as_ref().expect("amount").amount_minor,
                c.collected_at_sale,
            )
        })
        .collect()
}

/// Asserts each charge (or refund) and the total, in order.
fn assert_amounts(
    list: &[aedgate::proto::v1::Charge],
    total: &Option<Money>,
    expected: &[(ChargeType, i64, bool)],
    expected_total: i64,
) {
    assert_eq!(charges(list), expected);
    assert_eq!(*total, eur(expected_total));
}

async fn answer(p: &mut Participant, outcome_env: &Envelope, outcome: &Outcome) {
    let response = ReferralResponse {
        referral_id: outcome.referral_id.clone(),
        information: "The seller's invoice and payment record are attached.".into(),
        ..ReferralResponse::default()
    };
    let env = p.seal(
        MessageType::ReferralResponse,
        Bytes::from(response.encode_to_vec()),
        &id_of(outcome_env),
    );
    p.submit(env).await.expect("answer accepted");
}

async fn state(p: &Participant, declaration_id: &str) -> DeclarationState {
    let status = p
        .grpc()
        .status(StatusRequest {
            declaration_id: declaration_id.into(),
        })
        .await
        .expect("status")
        .into_inner();
    DeclarationState::try_from(status.state).expect("state")
}

fn fields(status: &tonic::Status) -> Vec<(String, String)> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| {
            b.field_violations
                .iter()
                .map(|v| (v.field.clone(), v.description.clone()))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_worked_example_is_charged_exactly_and_signed_with_and_without_ioss() {
    let mut w = world().await;
    let (_, envelope, outcome) = file(&mut w.shopco, &worked(&lrn("WX"), false)).await;
    assert_eq!(code(&outcome), OutcomeCode::AssessmentComplete);
    check_delivery(w.shopco.trust(), NL, &envelope).expect("a signed outcome of adm/NL");
    assert_eq!(
        charges(&outcome.charges),
        vec![
            (ChargeType::CustomsDuty, 600, false),
            (ChargeType::ImportVat, 1533, false),
            (ChargeType::HandlingFee, 200, false),
        ]
    );
    assert_eq!(outcome.charges[0].basis, "2 item categories x EUR 3.00");
    assert_eq!(outcome.total_due, eur(2333));

    let (_, _, outcome) = file(&mut w.shopco, &worked(&lrn("WI"), true)).await;
    assert_eq!(code(&outcome), OutcomeCode::AssessmentComplete);
    assert_amounts(
        &outcome.charges,
        &outcome.total_due,
        &[
            (ChargeType::CustomsDuty, 600, false),
            (ChargeType::ImportVat, 1365, true),
            (ChargeType::HandlingFee, 200, false),
        ],
        800,
    );
    w.gateway.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_amendment_is_charged_afresh() {
    let mut w = world().await;
    let lrn = lrn("AMD");
    let (id, _, outcome) = file(&mut w.shopco, &worked(&lrn, false)).await;
    assert_eq!(outcome.total_due, eur(2333));
    // The platform collected the VAT under IOSS after all: the amendment says so.
    let amendment = w.shopco.seal(
        MessageType::Amendment,
        Bytes::from(worked(&lrn, true).encode_to_vec()),
        &id,
    );
    w.shopco
        .submit(amendment)
        .await
        .expect("amendment accepted");
    let (_, amended) = last_outcome(&w.shopco, &id).await;
    assert_eq!(code(&amended), OutcomeCode::AssessmentComplete);
    assert_amounts(
        &amended.charges,
        &amended.total_due,
        &[
            (ChargeType::CustomsDuty, 600, false),
            (ChargeType::ImportVat, 1365, true),
            (ChargeType::HandlingFee, 200, false),
        ],
        800,
    );
    w.gateway.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_declaration_for_another_country_is_not_charged_here() {
    let mut w = world().await;
    let mut d = worked(&lrn("DE"), false);
    d.country_of_destination = "DE".into();
    if let Some(buyer) = d.buyer.as_mut() {
        buyer.country = "DE".into();
    }
    let (_, _, outcome) = file(&mut w.shopco, &d).await;
    assert_eq!(code(&outcome), OutcomeCode::AssessmentComplete);
    assert!(outcome.charges.is_empty());
    assert_eq!(outcome.total_due, None);
    w.gateway.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_currency_without_a_rate_is_refused_naming_the_field_and_nothing_is_stored() {
    let mut w = world().await;
    let mut d = worked(&lrn("CHF"), true);
    d.items[1].value = Some(Money {
        currency: "CHF".into(),
        amount_minor: 2000,
    });
    d.items[0].value = Some(Money {
        currency: "CHF".into(),
        amount_minor: 4500,
    });
    d.revenue.as_mut().expect("revenue").tax_collected = Some(Money {
        currency: "SEK".into(),
        amount_minor: 100,
    });
    let envelope = w.shopco.seal_declaration(&d);
    let status = refused(w.shopco.submit(envelope.clone()).await);
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(reason(&status), "VALIDATION_FAILED");
    assert_eq!(
        fields(&status),
        vec![(
            "revenue.tax_collected.currency".to_owned(),
            "no exchange rate for SEK".to_owned()
        )],
        "CHF has a rate in the generated policy; SEK has none"
    );
    let stored = w
        .gateway
        .state()
        .store
        .envelope(&id_of(&envelope))
        .await
        .expect("read");
    assert!(stored.is_none(), "a refused declaration leaves no trace");
    w.gateway.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn r1_to_r4_ask_for_information_on_their_field_and_an_answer_releases_with_charges() {
    let mut w = world().await;
    // R1: an IOSS number not in the registry.
    let mut r1 = worked(&lrn("R1"), true);
    r1.revenue.as_mut().expect("revenue").ioss_number = "IM9999999999".into();
    // R2: a registered number on goods worth more than EUR 150.
    let mut r2 = worked(&lrn("R2"), true);
    r2.items[0].value = eur(14000);
    // R3: VAT collected at sale EUR 3.65 short of the VAT on goods.
    let mut r3 = worked(&lrn("R3"), true);
    r3.revenue.as_mut().expect("revenue").tax_collected = eur(1000);
    // R4: two T-shirts listed at EUR 15.00 each, declared at EUR 20.00 together.
    let mut r4 = worked(&lrn("R4"), false);
    r4.items[1].listed_price = eur(1500);
    for (d, pointer) in [
        (&r1, "revenue.ioss_number"),
        (&r2, "revenue.ioss_number"),
        (&r3, "revenue.tax_collected"),
        (&r4, "items[1].value"),
    ] {
        let (id, envelope, outcome) = file(&mut w.shopco, d).await;
        assert_eq!(
            code(&outcome),
            OutcomeCode::RequestForInformation,
            "{pointer}"
        );
        assert_eq!(outcome.pointer, pointer);
        assert!(outcome.charges.is_empty(), "a referral charges nothing yet");
        assert_eq!(outcome.total_due, None);
        assert_eq!(state(&w.shopco, &id).await, DeclarationState::Referred);
        answer(&mut w.shopco, &envelope, &outcome).await;
        let (_, released) = last_outcome(&w.shopco, &id).await;
        assert_eq!(
            code(&released),
            OutcomeCode::AssessmentComplete,
            "{pointer}"
        );
        assert!(released.total_due.is_some(), "released with its charges");
    }
    // After R1's answer IOSS still does not apply: the VAT is due at the border.
    let (_, released) = {
        let (id, envelope, outcome) = file(&mut w.shopco, &{
            let mut d = r1.clone();
            d.lrn = lrn("R1B");
            d.buyer.as_mut().expect("buyer").name = "Another buyer".into();
            d
        })
        .await;
        answer(&mut w.shopco, &envelope, &outcome).await;
        last_outcome(&w.shopco, &id).await
    };
    assert_eq!(released.total_due, eur(2333));
    w.gateway.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn r5_adds_up_one_buyer_and_seller_from_any_sender_and_across_a_restart() {
    let fed = Federation::with_revenue();
    let gateway = fed.start(NL).await;
    let mut shopco = fed.connect(SHOPCO, &gateway).await;
    let mut flyfast = fed.connect(FLYFAST, &gateway).await;
    let parcel = |tag: &str| {
        let mut d = worked(&lrn(tag), false);
        d.buyer.as_mut().expect("buyer").name = "  Jeroen   de Vries".into();
        d
    };
    // EUR 65.00 + 65.00 = 130.00: within the threshold.
    for tag in ["S1", "S2"] {
        let (_, _, outcome) = file(&mut shopco, &parcel(tag)).await;
        assert_eq!(code(&outcome), OutcomeCode::AssessmentComplete, "{tag}");
    }
    // A third by another sender, the buyer's name spelt differently: EUR 195.00.
    let mut third = parcel("S3");
    third.buyer.as_mut().expect("buyer").name = "jeroen de vries".into();
    let (_, _, outcome) = file(&mut flyfast, &third).await;
    assert_eq!(code(&outcome), OutcomeCode::RequestForInformation);
    assert_eq!(outcome.pointer, "buyer.name");
    // Another buyer is not affected.
    let mut other = parcel("S4");
    other.buyer.as_mut().expect("buyer").name = "Anna Jansen".into();
    let (_, _, outcome) = file(&mut shopco, &other).await;
    assert_eq!(code(&outcome), OutcomeCode::AssessmentComplete);
    gateway.shutdown().await.expect("shutdown");

    // The index is in the store: after a restart the next parcel still adds up.
    let gateway = fed.start(NL).await;
    let mut shopco = fed.connect(SHOPCO, &gateway).await;
    let (_, _, outcome) = file(&mut shopco, &parcel("S5")).await;
    assert_eq!(code(&outcome), OutcomeCode::RequestForInformation);
    assert_eq!(outcome.pointer, "buyer.name");
    gateway.shutdown().await.expect("shutdown");
}

/// A notice returning `lines` (item, quantity) of declaration `id`, goods left now.
fn notice(lines: &[(u32, u32)]) -> ReturnNotice {
    aedgate::core::revenue::consumer_return_by_post("RET-0001", lines, aedgate::clock::now_ms())
}

fn seal_notice(p: &Participant, declaration_id: &str, notice: &ReturnNotice) -> Envelope {
    p.seal(
        MessageType::ReturnNotice,
        Bytes::from(notice.encode_to_vec()),
        declaration_id,
    )
}

/// Files a notice and returns the REFUND_DECISION that answers it, checked as evidence.
async fn return_goods(
    p: &mut Participant,
    declaration_id: &str,
    n: &ReturnNotice,
) -> RefundDecision {
    let envelope = seal_notice(p, declaration_id, n);
    p.submit(envelope.clone()).await.expect("notice accepted");
    let deliveries: Vec<Delivery> = fetch_all(p, 0).await;
    let decision = deliveries
        .iter()
        .filter_map(|d| d.envelope.clone())
        .find(|e| {
            let h = e.header.as_ref().expect("header");
            h.r#type == MessageType::RefundDecision as i32 && h.correlation_id == id_of(&envelope)
        })
        .expect("a refund decision");
    check_delivery(p.trust(), NL, &decision).expect("signed by adm/NL");
    RefundDecision::decode(decision.payload).expect("refund decision")
}

#[tokio::test]
async fn partial_returns_refund_cumulatively_exactly_one_full_return() {
    let mut w = world().await;
    let (id, _, outcome) = file(&mut w.shopco, &worked(&lrn("RET"), false)).await;
    assert_eq!(outcome.total_due, eur(2333));

    let shirts = return_goods(&mut w.shopco, &id, &notice(&[(1, 2)])).await;
    assert_eq!(shirts.declaration_id, id);
    assert_eq!(shirts.mrn, outcome.mrn);
    assert_amounts(
        &shirts.refunds,
        &shirts.total_refund,
        &[
            (ChargeType::CustomsDuty, 300, false),
            (ChargeType::ImportVat, 483, false),
        ],
        783,
    );
    assert!(shirts.refusal.is_empty());
    assert_eq!(
        state(&w.shopco, &id).await,
        DeclarationState::PartlyReturned
    );

    let shoes = return_goods(&mut w.shopco, &id, &notice(&[(0, 1)])).await;
    assert_amounts(
        &shoes.refunds,
        &shoes.total_refund,
        &[
            (ChargeType::CustomsDuty, 300, false),
            (ChargeType::ImportVat, 1008, false),
        ],
        1308,
    );
    assert_eq!(state(&w.shopco, &id).await, DeclarationState::Returned);
    // Together: duty 600 and VAT 1491, the refund of one full return.

    // Everything is back: a further notice, an amendment and an invalidation are refused.
    let more = seal_notice(&w.shopco, &id, &notice(&[(0, 1)]));
    let status = refused(w.shopco.submit(more).await);
    assert_eq!(
        (status.code(), reason(&status).as_str()),
        (Code::FailedPrecondition, "NOT_RELEASED")
    );
    let amendment = w.shopco.seal(
        MessageType::Amendment,
        Bytes::from(worked("ignored", false).encode_to_vec()),
        &id,
    );
    assert_eq!(
        reason(&refused(w.shopco.submit(amendment).await)),
        "DECLARATION_CLOSED"
    );
    let invalidation = w.shopco.seal(
        MessageType::Invalidation,
        Bytes::from(
            aedgate::proto::v1::Invalidation {
                reason: "order cancelled".into(),
            }
            .encode_to_vec(),
        ),
        &id,
    );
    assert_eq!(
        reason(&refused(w.shopco.submit(invalidation).await)),
        "DECLARATION_CLOSED"
    );
    // Notices and refund decisions are in the audit log like every envelope.
    let store = &w.gateway.state().store;
    let deliveries = fetch_all(&w.shopco, 0).await;
    let decisions: Vec<Envelope> = deliveries
        .iter()
        .filter_map(|d| d.envelope.clone())
        .filter(|e| {
            e.header
                .as_ref()
                .is_some_and(|h| h.r#type == MessageType::RefundDecision as i32)
        })
        .collect();
    assert_eq!(decisions.len(), 2);
    for decision in &decisions {
        let logged = store
            .envelope(&id_of(decision))
            .await
            .expect("read")
            .expect("logged");
        assert_eq!(&logged.envelope, decision);
        let notice_id = &decision.header.as_ref().expect("header").correlation_id;
        let notice = store
            .envelope(notice_id)
            .await
            .expect("read")
            .expect("notice logged");
        assert!(
            notice.log_index < logged.log_index,
            "the notice, then its decision"
        );
    }
    w.gateway.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn an_ioss_return_lists_the_vat_the_seller_refunds_outside_the_total() {
    let mut w = world().await;
    let (id, _, _) = file(&mut w.shopco, &worked(&lrn("RIO"), true)).await;
    let all = return_goods(&mut w.shopco, &id, &notice(&[(0, 1), (1, 2)])).await;
    assert_amounts(
        &all.refunds,
        &all.total_refund,
        &[
            (ChargeType::CustomsDuty, 600, false),
            (ChargeType::ImportVat, 1365, true),
        ],
        600,
    );
    w.gateway.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn every_refusal_of_a_return_has_its_reason_and_stores_nothing() {
    let mut w = world().await;
    let mut flyfast = w.fed.connect(FLYFAST, &w.gateway).await;
    let (id, _, _) = file(&mut w.shopco, &worked(&lrn("RF"), false)).await;
    let mut referred = worked(&lrn("RFQ"), true);
    referred.revenue.as_mut().expect("revenue").ioss_number = "IM9999999999".into();
    let (referred_id, _, _) = file(&mut w.shopco, &referred).await;

    let mut refusals: Vec<(Envelope, Code, &str, Vec<&str>)> = Vec::new();
    let mut refuse = |p: &Participant,
                      on: &str,
                      n: ReturnNotice,
                      code: Code,
                      why: &'static str,
                      fields: Vec<&'static str>| {
        refusals.push((seal_notice(p, on, &n), code, why, fields));
    };
    let pre = Code::FailedPrecondition;
    let bad = Code::InvalidArgument;
    let unknown = uuid::Uuid::now_v7().hyphenated().to_string();
    refuse(
        &w.shopco,
        &unknown,
        notice(&[(0, 1)]),
        pre,
        "UNKNOWN_DECLARATION",
        vec![],
    );
    refuse(
        &flyfast,
        &id,
        notice(&[(0, 1)]),
        pre,
        "UNKNOWN_DECLARATION",
        vec![],
    );
    refuse(
        &w.shopco,
        &referred_id,
        notice(&[(0, 1)]),
        pre,
        "NOT_RELEASED",
        vec![],
    );
    let mut early = notice(&[(0, 1)]);
    early.exited_at_ms = 1_000;
    refuse(&w.shopco, &id, early, pre, "RETURN_PERIOD_EXPIRED", vec![]);
    refuse(
        &w.shopco,
        &id,
        notice(&[]),
        bad,
        "VALIDATION_FAILED",
        vec!["lines"],
    );
    refuse(
        &w.shopco,
        &id,
        notice(&[(0, 0)]),
        bad,
        "VALIDATION_FAILED",
        vec!["lines[0].quantity"],
    );
    refuse(
        &w.shopco,
        &id,
        notice(&[(1, 1), (1, 1)]),
        bad,
        "VALIDATION_FAILED",
        vec!["lines[1].item"],
    );
    refuse(
        &w.shopco,
        &id,
        notice(&[(2, 1)]),
        bad,
        "VALIDATION_FAILED",
        vec!["lines[0].item"],
    );
    refuse(
        &w.shopco,
        &id,
        notice(&[(0, 1), (1, 3)]),
        bad,
        "VALIDATION_FAILED",
        vec!["lines[1].quantity"],
    );
    let mut no_transport = notice(&[(0, 1)]);
    no_transport.return_transport = None;
    refuse(
        &w.shopco,
        &id,
        no_transport,
        bad,
        "VALIDATION_FAILED",
        vec!["return_transport.house_ref"],
    );
    let mut no_reason = notice(&[(0, 1)]);
    no_reason.reason = 0;
    refuse(
        &w.shopco,
        &id,
        no_reason,
        bad,
        "VALIDATION_FAILED",
        vec!["reason"],
    );

    for (envelope, code, why, expected_fields) in refusals {
        let sender = &envelope.header.as_ref().expect("header").sender;
        let p = if sender == FLYFAST {
            &mut flyfast
        } else {
            &mut w.shopco
        };
        let status = refused(p.submit(envelope.clone()).await);
        assert_eq!(
            (status.code(), reason(&status).as_str()),
            (code, why),
            "{}",
            status.message()
        );
        let got: Vec<String> = fields(&status).into_iter().map(|(f, _)| f).collect();
        assert_eq!(got, expected_fields, "{why}: {}", status.message());
        let stored = w
            .gateway
            .state()
            .store
            .envelope(&id_of(&envelope))
            .await
            .expect("read");
        assert!(stored.is_none(), "{why}: a refused notice is not stored");
    }
    assert_eq!(state(&w.shopco, &id).await, DeclarationState::Cleared);
    // The declaration can still be returned in full afterwards.
    let all = return_goods(&mut w.shopco, &id, &notice(&[(0, 1), (1, 2)])).await;
    assert_eq!(all.total_refund, eur(600 + 1491));
    w.gateway.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_bad_policy_is_refused_naming_its_key_at_start_and_on_reload_the_old_one_stays() {
    let mut w = world().await;
    let policy = w.fed.file("adm-NL.revenue.toml");
    let good = std::fs::read_to_string(&policy).expect("policy");
    let cases = [
        (
            good.replace("duty_rate = 40", "duty_rate = -40"),
            "duty_rate",
        ),
        (
            good.replace("USD = \"0.92\"", "ABC = \"0.92\""),
            "exchange_rates.ABC",
        ),
        (
            good.replace("ioss-registry.txt", "no-such-registry.txt"),
            "ioss_registry",
        ),
    ];
    for (text, key) in &cases {
        std::fs::write(&policy, text).expect("write");
        let error = match aedgate::config::GatewayConfig::load(&w.fed.gateway_config_path(NL)) {
            Ok(_) => panic!("{key}: a bad policy was accepted"),
            Err(error) => error.to_string(),
        };
        assert!(error.contains(key), "{error}");
        assert!(!error.contains('\n'), "one line: {error}");
        let reload = w.gateway.reload().await;
        assert!(reload.is_err(), "{key}: the reload must be refused");
    }
    // The policy in force is still the one the gateway started with.
    let (_, _, outcome) = file(&mut w.shopco, &worked(&lrn("OLD"), false)).await;
    assert_eq!(outcome.total_due, eur(2333));
    // A good new policy applies to what is filed after the reload.
    std::fs::write(
        &policy,
        good.replace("handling_fee = 200", "handling_fee = 500"),
    )
    .expect("write");
    w.gateway.reload().await.expect("reload");
    let (_, _, outcome) = file(&mut w.shopco, &worked(&lrn("NEW"), false)).await;
    // Duty 600, fee 500, VAT 1365 + round(1100 x 0.21) = 1365 + 231.
    assert_eq!(outcome.total_due, eur(600 + 500 + 1365 + 231));
    w.gateway.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn serve_with_a_bad_policy_exits_non_zero_with_one_line_naming_the_key() {
    let fed = Federation::with_revenue();
    let policy = fed.file("adm-NL.revenue.toml");
    let good = std::fs::read_to_string(&policy).expect("policy");
    std::fs::write(&policy, good.replace("vat_rate = 210", "vat_rate = 2100")).expect("write");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_aedgate"))
        .arg("serve")
        .arg("--config")
        .arg(fed.gateway_config_path(NL))
        .output()
        .await
        .expect("run aedgate serve");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("aedgate: error:"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("vat_rate"), "{}", lines[0]);
    assert!(lines[0].contains("adm-NL.revenue.toml"), "{}", lines[0]);
}

#[tokio::test]
async fn a_declaration_with_a_party_named_only_by_name_is_split_from_one_given_by_id() {
    let fed = Federation::with_revenue();
    let gateway = fed.start(NL).await;
    let mut shopco = fed.connect(SHOPCO, &gateway).await;
    let parcel = |tag: &str, seller: Party| {
        let mut d = worked(&lrn(tag), false);
        d.buyer.as_mut().expect("buyer").name = "Same Buyer".into();
        d.seller = Some(seller);
        d
    };
    let by_id = || Party {
        name: "Shenzhen Shoe Co".into(),
        identifier: "SHOE-001".into(),
        country: "CN".into(),
        ..Party::default()
    };
    let by_name = Party {
        identifier: String::new(),
        ..by_id()
    };
    for (tag, seller) in [("N1", by_id()), ("N2", by_name.clone()), ("N3", by_name)] {
        let (_, _, outcome) = file(&mut shopco, &parcel(tag, seller)).await;
        assert_eq!(code(&outcome), OutcomeCode::AssessmentComplete, "{tag}");
    }
    // The seller given by id has had one parcel (EUR 65.00): a second makes 130.00, a third
    // 195.00, above the threshold. The two given by name did not count for it.
    let (_, _, outcome) = file(&mut shopco, &parcel("N4", by_id())).await;
    assert_eq!(code(&outcome), OutcomeCode::AssessmentComplete);
    let (_, _, outcome) = file(&mut shopco, &parcel("N5", by_id())).await;
    assert_eq!(code(&outcome), OutcomeCode::RequestForInformation);
    gateway.shutdown().await.expect("shutdown");
}
