//! Risk assessment and the declaration lifecycle over real sockets (PROTOCOL.md §5, §6, §8):
//! indicators published by the risk unit, one signed OUTCOME per declaration and amendment,
//! referrals and their answers, invalidation, Status permissions, and Fetch isolation.

mod common;

use aedgate::client::Participant;
use aedgate::core::envelope::envelope_digest;
use aedgate::proto::v1::{
    AdvanceDeclaration, Criteria, DeclarationState, Envelope, Invalidation, Item, MessageType,
    Money, Outcome, OutcomeCode, ReferralResponse, RiskIndicator, RiskIndicatorRevocation,
    ScreeningResult, StatusRequest, Tlp,
};
use aedgate::server::RunningGateway;
use bytes::Bytes;
use common::*;
use prost::Message;
use tonic::Code;

const RISK_UNIT: &str = "adm/NL/risk-unit";

fn indicator(id: &str, action: OutcomeCode, criteria: Criteria) -> RiskIndicator {
    RiskIndicator {
        indicator_id: id.into(),
        version: 1,
        title: format!("SECRET TITLE {id}"),
        rationale: format!("SECRET RATIONALE {id}"),
        tlp: Tlp::Amber as i32,
        personal_data: false,
        criteria: Some(criteria),
        action: action as i32,
        valid_until_ms: 0,
    }
}

/// The four indicators of the tests, each matched by one feature of a declaration.
fn standard_indicators() -> Vec<RiskIndicator> {
    vec![
        indicator(
            "NL-DNL-FIREWORKS",
            OutcomeCode::DoNotLoad,
            Criteria {
                description_terms: vec!["fireworks".into()],
                ..Default::default()
            },
        ),
        indicator(
            "NL-SCR-SELLER",
            OutcomeCode::RequestForScreening,
            Criteria {
                seller_ids: vec!["SELLER-RISK-9".into()],
                ..Default::default()
            },
        ),
        indicator(
            "NL-COA-TOYS-CN",
            OutcomeCode::ControlOnArrival,
            Criteria {
                hs_prefixes: vec!["9503".into()],
                origin_countries: vec!["CN".into()],
                ..Default::default()
            },
        ),
        indicator(
            "NL-RFI-REPLICA",
            OutcomeCode::RequestForInformation,
            Criteria {
                description_terms: vec!["replica watch".into()],
                ..Default::default()
            },
        ),
    ]
}

fn item(description: &str, hs: &str, origin: &str) -> Item {
    Item {
        description: description.into(),
        hs_code: hs.into(),
        quantity: 1,
        value: Some(Money {
            currency: "EUR".into(),
            amount_minor: 2_500,
        }),
        origin_country: origin.into(),
        mass_g: 400,
        listing_url: String::new(),
        listed_price: None,
    }
}

struct Features {
    fireworks: bool,
    risky_seller: bool,
    toy_cn: bool,
    replica: bool,
}

fn declaration_with(tag: &str, f: Features) -> AdvanceDeclaration {
    let mut d = declaration(&lrn(tag));
    if f.fireworks {
        d.items.push(item(
            "Consumer fireworks, category F2, assorted rockets",
            "360410",
            "CN",
        ));
    }
    if f.risky_seller {
        d.seller.as_mut().unwrap().identifier = "SELLER-RISK-9".into();
    }
    if f.toy_cn {
        d.items.push(item(
            "Plastic building blocks toy set for children",
            "950300",
            "CN",
        ));
    }
    if f.replica {
        d.items.push(item(
            "Replica watch with stainless steel strap",
            "910211",
            "CN",
        ));
    }
    d
}

const NONE: Features = Features {
    fireworks: false,
    risky_seller: false,
    toy_cn: false,
    replica: false,
};

struct World {
    fed: Federation,
    gateway: RunningGateway,
    shopco: Participant,
    risk_unit: Participant,
}

async fn world() -> World {
    let fed = Federation::standard();
    let gateway = fed.start(NL).await;
    let shopco = fed.connect(SHOPCO, &gateway).await;
    let mut risk_unit = fed.connect(RISK_UNIT, &gateway).await;
    for ind in standard_indicators() {
        publish(&mut risk_unit, &ind)
            .await
            .expect("indicator accepted");
    }
    World {
        fed,
        gateway,
        shopco,
        risk_unit,
    }
}

async fn publish(
    risk_unit: &mut Participant,
    ind: &RiskIndicator,
) -> Result<aedgate::proto::v1::Receipt, aedgate::client::ClientError> {
    let env = risk_unit.seal(
        MessageType::RiskIndicator,
        Bytes::from(ind.encode_to_vec()),
        "",
    );
    risk_unit.submit(env).await
}

/// Submits a declaration and returns its id and the outcomes issued for it so far.
async fn declare(
    p: &mut Participant,
    d: &AdvanceDeclaration,
) -> (String, Vec<(Envelope, Outcome)>) {
    let env = p.seal_declaration(d);
    let id = env.header.as_ref().unwrap().message_id.clone();
    p.submit(env).await.expect("declaration accepted");
    let outcomes = outcomes_for(&fetch_all(p, 0).await, &id);
    (id, outcomes)
}

fn code(o: &Outcome) -> OutcomeCode {
    OutcomeCode::try_from(o.code).unwrap()
}

#[tokio::test]
async fn each_outcome_code_comes_from_its_indicator_and_no_other() {
    let mut w = world().await;
    let cases = [
        ("CLEAN", NONE, OutcomeCode::AssessmentComplete),
        (
            "FIRE",
            Features {
                fireworks: true,
                ..NONE
            },
            OutcomeCode::DoNotLoad,
        ),
        (
            "SELLER",
            Features {
                risky_seller: true,
                ..NONE
            },
            OutcomeCode::RequestForScreening,
        ),
        (
            "TOY",
            Features {
                toy_cn: true,
                ..NONE
            },
            OutcomeCode::ControlOnArrival,
        ),
        (
            "REPLICA",
            Features {
                replica: true,
                ..NONE
            },
            OutcomeCode::RequestForInformation,
        ),
    ];
    for (tag, features, expected) in cases {
        let (id, outcomes) = declare(&mut w.shopco, &declaration_with(tag, features)).await;
        assert_eq!(outcomes.len(), 1, "{tag}: exactly one outcome");
        let (env, outcome) = &outcomes[0];
        assert_eq!(code(outcome), expected, "{tag}");
        assert_eq!(outcome.declaration_id, id);
        assert_eq!(outcome.mrn.len(), 18, "{tag}: MRN on the first outcome");
        let header = env.header.as_ref().unwrap();
        assert_eq!(header.sender, NL);
        assert_eq!(header.recipient, SHOPCO);
        assert_eq!(header.correlation_id, id);
        // The outcome is signed by the administration's key in the trust list.
        let signature = env.signature.as_ref().unwrap();
        let aedgate::core::trust::KeyLookup::Valid(key) =
            w.shopco
                .trust()
                .key_for(NL, &signature.key_id, header.created_at_ms)
        else {
            panic!("outcome key not in trust list")
        };
        assert!(key.key.verify(
            &aedgate::core::envelope::envelope_signing_input(header),
            &signature.value
        ));
        let referral = matches!(
            expected,
            OutcomeCode::RequestForInformation | OutcomeCode::RequestForScreening
        );
        assert_eq!(
            !outcome.referral_id.is_empty(),
            referral,
            "{tag}: referral id only when action is needed"
        );
        assert_eq!(
            !outcome.request_text.is_empty(),
            expected != OutcomeCode::AssessmentComplete,
            "{tag}"
        );
        if expected == OutcomeCode::RequestForInformation {
            assert_eq!(outcome.pointer, "items[3].description");
        }
    }
    let _ = &w.fed;
}

#[tokio::test]
async fn the_most_severe_match_wins() {
    let mut w = world().await;
    let all = Features {
        fireworks: true,
        risky_seller: true,
        toy_cn: true,
        replica: true,
    };
    let (_, outcomes) = declare(&mut w.shopco, &declaration_with("ALL", all)).await;
    assert_eq!(code(&outcomes[0].1), OutcomeCode::DoNotLoad);
    let (_, outcomes) = declare(
        &mut w.shopco,
        &declaration_with(
            "SCR-COA",
            Features {
                risky_seller: true,
                toy_cn: true,
                replica: true,
                ..NONE
            },
        ),
    )
    .await;
    assert_eq!(code(&outcomes[0].1), OutcomeCode::RequestForScreening);
    let (_, outcomes) = declare(
        &mut w.shopco,
        &declaration_with(
            "COA-RFI",
            Features {
                toy_cn: true,
                replica: true,
                ..NONE
            },
        ),
    )
    .await;
    assert_eq!(code(&outcomes[0].1), OutcomeCode::ControlOnArrival);
}

async fn respond(
    p: &mut Participant,
    outcome_env: &Envelope,
    response: ReferralResponse,
) -> Result<aedgate::proto::v1::Receipt, aedgate::client::ClientError> {
    let correlation = outcome_env.header.as_ref().unwrap().message_id.clone();
    let env = p.seal(
        MessageType::ReferralResponse,
        Bytes::from(response.encode_to_vec()),
        &correlation,
    );
    p.submit(env).await
}

#[tokio::test]
async fn answered_referrals_are_reassessed_to_the_next_match() {
    let mut w = world().await;
    // Screening first (more severe than the RFI); CLEAR leads to the RFI; the information
    // leads to release.
    let d = declaration_with(
        "CHAIN",
        Features {
            risky_seller: true,
            replica: true,
            ..NONE
        },
    );
    let (id, outcomes) = declare(&mut w.shopco, &d).await;
    let (env1, first) = outcomes[0].clone();
    assert_eq!(code(&first), OutcomeCode::RequestForScreening);
    let status = w
        .shopco
        .grpc()
        .status(StatusRequest {
            declaration_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.state, DeclarationState::Referred as i32);
    assert_eq!(status.open_referral_id, first.referral_id);

    let clear = ReferralResponse {
        referral_id: first.referral_id.clone(),
        screening: ScreeningResult::Clear as i32,
        ..Default::default()
    };
    respond(&mut w.shopco, &env1, clear.clone())
        .await
        .expect("screening answer accepted");
    let outcomes = outcomes_for(&fetch_all(&w.shopco, 0).await, &id);
    assert_eq!(outcomes.len(), 2);
    let (env2, second) = outcomes[1].clone();
    assert_eq!(code(&second), OutcomeCode::RequestForInformation);
    assert_eq!(second.mrn, first.mrn, "later outcomes repeat the MRN");
    assert_ne!(second.referral_id, first.referral_id);

    // Answering the first referral again: it is no longer open.
    let status = refused(respond(&mut w.shopco, &env1, clear).await);
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "REFERRAL_NOT_OPEN");
    // An RFI is not answered by a screening result.
    let wrong = ReferralResponse {
        referral_id: second.referral_id.clone(),
        screening: ScreeningResult::Clear as i32,
        ..Default::default()
    };
    assert_eq!(
        reason(&refused(respond(&mut w.shopco, &env2, wrong).await)),
        "VALIDATION_FAILED"
    );
    // Unknown referral id.
    let unknown = ReferralResponse {
        referral_id: "26NL-NOPE-R1".into(),
        information: "x".into(),
        ..Default::default()
    };
    assert_eq!(
        reason(&refused(respond(&mut w.shopco, &env2, unknown).await)),
        "UNKNOWN_REFERRAL"
    );

    let info = ReferralResponse {
        referral_id: second.referral_id.clone(),
        information: "Genuine Casio watch, invoice 2026-118 attached".into(),
        ..Default::default()
    };
    respond(&mut w.shopco, &env2, info)
        .await
        .expect("information accepted");
    let outcomes = outcomes_for(&fetch_all(&w.shopco, 0).await, &id);
    assert_eq!(outcomes.len(), 3);
    assert_eq!(code(&outcomes[2].1), OutcomeCode::AssessmentComplete);
    let status = w
        .shopco
        .grpc()
        .status(StatusRequest { declaration_id: id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.state, DeclarationState::Cleared as i32);
    assert!(status.open_referral_id.is_empty());
}

#[tokio::test]
async fn screening_not_clear_is_do_not_load_and_closes_the_declaration() {
    let mut w = world().await;
    let d = declaration_with(
        "NOTCLEAR",
        Features {
            risky_seller: true,
            ..NONE
        },
    );
    let (id, outcomes) = declare(&mut w.shopco, &d).await;
    let (env, first) = outcomes[0].clone();
    let not_clear = ReferralResponse {
        referral_id: first.referral_id,
        screening: ScreeningResult::NotClear as i32,
        ..Default::default()
    };
    respond(&mut w.shopco, &env, not_clear).await.unwrap();
    let outcomes = outcomes_for(&fetch_all(&w.shopco, 0).await, &id);
    assert_eq!(code(&outcomes[1].1), OutcomeCode::DoNotLoad);

    // Closed: amendment and invalidation are refused with DECLARATION_CLOSED.
    let amend = w
        .shopco
        .seal(MessageType::Amendment, Bytes::from(d.encode_to_vec()), &id);
    let status = refused(w.shopco.submit(amend).await);
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "DECLARATION_CLOSED");
    let inv = Invalidation {
        reason: "cancelled by buyer".into(),
    };
    let env = w.shopco.seal(
        MessageType::Invalidation,
        Bytes::from(inv.encode_to_vec()),
        &id,
    );
    assert_eq!(
        reason(&refused(w.shopco.submit(env).await)),
        "DECLARATION_CLOSED"
    );
}

#[tokio::test]
async fn amendment_is_reassessed_and_invalidation_closes() {
    let mut w = world().await;
    let mut d = declaration_with(
        "AMEND",
        Features {
            toy_cn: true,
            ..NONE
        },
    );
    let (id, outcomes) = declare(&mut w.shopco, &d).await;
    assert_eq!(code(&outcomes[0].1), OutcomeCode::ControlOnArrival);

    // The toys turn out to be made in Viet Nam: the amendment is cleared.
    d.items.last_mut().unwrap().origin_country = "VN".into();
    let amend = w
        .shopco
        .seal(MessageType::Amendment, Bytes::from(d.encode_to_vec()), &id);
    w.shopco.submit(amend).await.expect("amendment accepted");
    let outcomes = outcomes_for(&fetch_all(&w.shopco, 0).await, &id);
    assert_eq!(outcomes.len(), 2, "exactly one outcome per amendment");
    assert_eq!(code(&outcomes[1].1), OutcomeCode::AssessmentComplete);
    assert_eq!(outcomes[1].1.mrn, outcomes[0].1.mrn);

    // An amendment may not change the LRN; one for an unknown declaration is refused.
    let mut other = d.clone();
    other.lrn = lrn("OTHER");
    let env = w.shopco.seal(
        MessageType::Amendment,
        Bytes::from(other.encode_to_vec()),
        &id,
    );
    assert_eq!(
        reason(&refused(w.shopco.submit(env).await)),
        "VALIDATION_FAILED"
    );
    let env = w.shopco.seal(
        MessageType::Amendment,
        Bytes::from(d.encode_to_vec()),
        &uuid::Uuid::now_v7().to_string(),
    );
    assert_eq!(
        reason(&refused(w.shopco.submit(env).await)),
        "UNKNOWN_DECLARATION"
    );
    // Another partner cannot amend it.
    let mut flyfast = w.fed.connect(FLYFAST, &w.gateway).await;
    let env = flyfast.seal(MessageType::Amendment, Bytes::from(d.encode_to_vec()), &id);
    assert_eq!(
        reason(&refused(flyfast.submit(env).await)),
        "UNKNOWN_DECLARATION"
    );

    let inv = Invalidation {
        reason: "order cancelled by the buyer".into(),
    };
    let env = w.shopco.seal(
        MessageType::Invalidation,
        Bytes::from(inv.encode_to_vec()),
        &id,
    );
    w.shopco.submit(env).await.expect("invalidation accepted");
    let status = w
        .shopco
        .grpc()
        .status(StatusRequest {
            declaration_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.state, DeclarationState::Invalidated as i32);
    assert_eq!(
        outcomes_for(&fetch_all(&w.shopco, 0).await, &id).len(),
        2,
        "invalidation issues no outcome"
    );
    let env = w
        .shopco
        .seal(MessageType::Amendment, Bytes::from(d.encode_to_vec()), &id);
    assert_eq!(
        reason(&refused(w.shopco.submit(env).await)),
        "DECLARATION_CLOSED"
    );
}

#[tokio::test]
async fn status_is_for_the_sender_and_internal_participants_only() {
    let mut w = world().await;
    let (id, _) = declare(&mut w.shopco, &declaration_with("STATUS", NONE)).await;
    let mine = w
        .shopco
        .grpc()
        .status(StatusRequest {
            declaration_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.state, DeclarationState::Cleared as i32);
    assert_eq!(mine.outcome, OutcomeCode::AssessmentComplete as i32);
    assert_eq!(mine.mrn.len(), 18);
    let internal = w
        .risk_unit
        .grpc()
        .status(StatusRequest {
            declaration_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(internal, mine);
    let flyfast = w.fed.connect(FLYFAST, &w.gateway).await;
    let denied = flyfast
        .grpc()
        .status(StatusRequest { declaration_id: id })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let missing = w
        .shopco
        .grpc()
        .status(StatusRequest {
            declaration_id: uuid::Uuid::now_v7().to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

#[tokio::test]
async fn partners_see_only_their_own_outcomes_and_never_an_indicator() {
    let mut w = world().await;
    let mut flyfast = w.fed.connect(FLYFAST, &w.gateway).await;
    let (shop_id, _) = declare(
        &mut w.shopco,
        &declaration_with(
            "ISO-S",
            Features {
                replica: true,
                ..NONE
            },
        ),
    )
    .await;
    let (fly_id, _) = declare(
        &mut flyfast,
        &declaration_with(
            "ISO-F",
            Features {
                toy_cn: true,
                ..NONE
            },
        ),
    )
    .await;

    let shop = fetch_all(&w.shopco, 0).await;
    let fly = fetch_all(&flyfast, 0).await;
    assert_eq!(
        shop.iter().map(|d| d.seq).collect::<Vec<_>>(),
        vec![1],
        "per-recipient seq from 1, gap-free"
    );
    assert_eq!(fly.iter().map(|d| d.seq).collect::<Vec<_>>(), vec![1]);
    for (deliveries, own, other, me) in [
        (&shop, &shop_id, &fly_id, SHOPCO),
        (&fly, &fly_id, &shop_id, FLYFAST),
    ] {
        for d in deliveries.iter() {
            let env = d.envelope.as_ref().unwrap();
            let h = env.header.as_ref().unwrap();
            assert_eq!(h.recipient, me);
            assert_eq!(
                h.r#type,
                MessageType::Outcome as i32,
                "partners receive outcomes only"
            );
            assert_eq!(&h.correlation_id, own);
            assert_ne!(&h.correlation_id, other);
            // Nothing of the indicator leaks: no id, title, rationale or criteria.
            let text = format!("{:?}", Outcome::decode(env.payload.clone()).unwrap());
            for secret in ["NL-", "SECRET", "replica watch", "9503", "SELLER-RISK"] {
                assert!(!text.contains(secret), "outcome reveals {secret:?}: {text}");
            }
        }
    }

    // The internal risk unit sees everything the administration received or issued, in
    // log order: 4 indicators from the risk unit, each followed by the copy issued to BE
    // under the NL-BE agreement, then 2 declarations and 2 outcomes.
    let all = fetch_all(&w.risk_unit, 0).await;
    assert_eq!(
        all.iter().map(|d| d.seq).collect::<Vec<_>>(),
        (1..=12).collect::<Vec<u64>>()
    );
    let headers: Vec<_> = all
        .iter()
        .map(|d| d.envelope.as_ref().unwrap().header.clone().unwrap())
        .collect();
    let count = |t: MessageType, recipient: &str| {
        headers
            .iter()
            .filter(|h| h.r#type == t as i32 && h.recipient == recipient)
            .count()
    };
    assert_eq!(count(MessageType::RiskIndicator, NL), 4);
    assert_eq!(count(MessageType::RiskIndicator, "adm/BE"), 4);
    assert_eq!(count(MessageType::Outcome, SHOPCO), 1);
    assert_eq!(count(MessageType::Outcome, FLYFAST), 1);
    // Resuming after a seq gives exactly the rest.
    let rest = fetch_all(&w.risk_unit, 9).await;
    assert_eq!(
        rest.iter().map(|d| d.seq).collect::<Vec<_>>(),
        vec![10, 11, 12]
    );
    assert_eq!(rest[0].envelope, all[9].envelope);
    let digest = envelope_digest(all[0].envelope.as_ref().unwrap().header.as_ref().unwrap());
    assert_eq!(digest.len(), 32);
}

#[tokio::test]
async fn follow_streams_new_outcomes_live_without_polling() {
    let mut w = world().await;
    let mut stream = fetch_stream(&w.shopco, 0, true).await;
    let mut submitter = w.shopco.clone();
    let task = tokio::spawn(async move {
        let mut ids = Vec::new();
        for i in 0..3 {
            let env = submitter.seal_declaration(&declaration_with(&format!("LIVE{i}"), NONE));
            ids.push(env.header.as_ref().unwrap().message_id.clone());
            submitter.submit(env).await.unwrap();
        }
        ids
    });
    let mut seen = Vec::new();
    for expected_seq in 1..=3 {
        let delivery = stream.message().await.unwrap().expect("live delivery");
        assert_eq!(delivery.seq, expected_seq);
        seen.push(delivery.envelope.unwrap().header.unwrap().correlation_id);
    }
    assert_eq!(seen, task.await.unwrap());
    let _ = &mut w.risk_unit;
}

#[tokio::test]
async fn indicators_are_versioned_revocable_validated_and_expire() {
    let mut w = world().await;
    // Lower or equal version is refused; a higher one replaces (here: RFI becomes DNL).
    let mut replica = standard_indicators().pop().unwrap();
    assert_eq!(
        reason(&refused(publish(&mut w.risk_unit, &replica).await)),
        "VALIDATION_FAILED"
    );
    replica.version = 2;
    replica.action = OutcomeCode::DoNotLoad as i32;
    publish(&mut w.risk_unit, &replica).await.unwrap();
    let (_, outcomes) = declare(
        &mut w.shopco,
        &declaration_with(
            "V2",
            Features {
                replica: true,
                ..NONE
            },
        ),
    )
    .await;
    assert_eq!(code(&outcomes[0].1), OutcomeCode::DoNotLoad);

    // Revoked: stops matching at once.
    let rev = RiskIndicatorRevocation {
        indicator_id: "NL-RFI-REPLICA".into(),
        reason: "superseded".into(),
    };
    let env = w.risk_unit.seal(
        MessageType::RiskIndicatorRevocation,
        Bytes::from(rev.encode_to_vec()),
        "",
    );
    w.risk_unit.submit(env).await.unwrap();
    let (_, outcomes) = declare(
        &mut w.shopco,
        &declaration_with(
            "REVOKED",
            Features {
                replica: true,
                ..NONE
            },
        ),
    )
    .await;
    assert_eq!(code(&outcomes[0].1), OutcomeCode::AssessmentComplete);
    let env = w.risk_unit.seal(
        MessageType::RiskIndicatorRevocation,
        Bytes::from(rev.encode_to_vec()),
        "",
    );
    assert_eq!(
        reason(&refused(w.risk_unit.submit(env).await)),
        "VALIDATION_FAILED",
        "already revoked"
    );

    // Invalid indicators: no criteria; an action that is no action.
    let empty = indicator("NL-EMPTY", OutcomeCode::DoNotLoad, Criteria::default());
    assert_eq!(
        reason(&refused(publish(&mut w.risk_unit, &empty).await)),
        "VALIDATION_FAILED"
    );
    let noop = indicator(
        "NL-NOOP",
        OutcomeCode::AssessmentComplete,
        Criteria {
            origin_countries: vec!["CN".into()],
            ..Default::default()
        },
    );
    assert_eq!(
        reason(&refused(publish(&mut w.risk_unit, &noop).await)),
        "VALIDATION_FAILED"
    );
    // Partners may not publish indicators.
    let env = w.shopco.seal(
        MessageType::RiskIndicator,
        Bytes::from(noop.encode_to_vec()),
        "",
    );
    assert_eq!(
        reason(&refused(w.shopco.submit(env).await)),
        "NOT_AUTHORIZED"
    );

    // Expiry: an indicator valid until a moment just ahead stops matching once it passes.
    let mut short = indicator(
        "NL-SHORT",
        OutcomeCode::ControlOnArrival,
        Criteria {
            dispatch_countries: vec!["CN".into()],
            ..Default::default()
        },
    );
    let until = aedgate::clock::now_ms() + 400;
    short.valid_until_ms = until;
    publish(&mut w.risk_unit, &short).await.unwrap();
    let (_, before) = declare(&mut w.shopco, &declaration_with("BEFORE", NONE)).await;
    assert_eq!(code(&before[0].1), OutcomeCode::ControlOnArrival);
    // Waiting for the expiry time itself to pass (the event under test is the clock).
    while aedgate::clock::now_ms() <= until {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, after) = declare(&mut w.shopco, &declaration_with("AFTER", NONE)).await;
    assert_eq!(code(&after[0].1), OutcomeCode::AssessmentComplete);
}

#[tokio::test]
async fn following_streams_end_cleanly_when_the_gateway_shuts_down() {
    let w = world().await;
    let mut stream = fetch_stream(&w.shopco, 0, true).await;
    // Nothing to deliver yet: the stream is waiting for commits. Shutting down must not
    // wait for it forever, and the client learns why the stream ended.
    let shutdown = tokio::spawn(w.gateway.shutdown());
    // (The timeout is a failure bound, not synchronisation: without the shutdown signal the
    // stream would wait forever.)
    let ended = tokio::time::timeout(std::time::Duration::from_secs(30), stream.message())
        .await
        .expect("stream ended by the shutdown");
    match ended {
        Err(status) => {
            assert_eq!(status.code(), Code::Unavailable);
            assert_eq!(reason(&status), "SHUTTING_DOWN");
        }
        Ok(other) => panic!("expected the stream to end with UNAVAILABLE, got {other:?}"),
    }
    tokio::time::timeout(std::time::Duration::from_secs(30), shutdown)
        .await
        .expect("shutdown finished")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_reader_that_stops_reading_blocks_nobody() {
    let mut w = world().await;
    // ShopCo opens a live Fetch on its own connection and never reads from it.
    let stalled_client = w.fed.connect(SHOPCO, &w.gateway).await;
    let _stalled = fetch_stream(&stalled_client, 0, true).await;
    // Far more outcomes than its stream can buffer are issued for it...
    let envelopes: Vec<Envelope> = (0..600)
        .map(|i| {
            w.shopco
                .seal_declaration(&declaration_with(&format!("SLOW{i}"), NONE))
        })
        .collect();
    let results = w.shopco.submit_stream(envelopes).await.unwrap();
    assert!(
        results.iter().all(|r| r.is_ok()),
        "every submission acknowledged"
    );
    // ...while everyone else carries on: another partner submits and fetches, and ShopCo's
    // own new reader gets all 600 outcomes.
    let mut flyfast = w.fed.connect(FLYFAST, &w.gateway).await;
    let (_, outcomes) = declare(&mut flyfast, &declaration_with("OTHER", NONE)).await;
    assert_eq!(outcomes.len(), 1);
    assert_eq!(fetch_all(&w.shopco, 0).await.len(), 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_stream_is_decided_in_its_order_a_declaration_then_its_amendment_then_a_new_version() {
    let mut w = world().await;
    // Declarations, each followed on the same stream by its amendment, then an indicator
    // in many versions: each later message needs the earlier one committed first.
    let mut envelopes = Vec::new();
    for i in 0..100 {
        let d = declaration(&lrn(&format!("ORDER{i}")));
        let original = w.shopco.seal_declaration(&d);
        let id = original.header.as_ref().unwrap().message_id.clone();
        let mut amended = d.clone();
        amended.items[0].description = "Stainless steel water bottle, amended".into();
        let amendment = w.shopco.seal(
            MessageType::Amendment,
            Bytes::from(amended.encode_to_vec()),
            &id,
        );
        envelopes.push(original);
        envelopes.push(amendment);
    }
    let results = w.shopco.submit_stream(envelopes).await.expect("stream");
    for (i, result) in results.iter().enumerate() {
        assert!(result.is_ok(), "envelope {i} refused: {result:?}");
    }
    let mut versions = Vec::new();
    for version in 1..=60 {
        let mut ind = standard_indicators().remove(0);
        ind.indicator_id = "NL-ORDER-1".into();
        ind.version = version;
        versions.push(w.risk_unit.seal(
            MessageType::RiskIndicator,
            Bytes::from(ind.encode_to_vec()),
            "",
        ));
    }
    let results = w.risk_unit.submit_stream(versions).await.expect("stream");
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    let held = w.gateway.state().store.indicators().await.unwrap();
    let ordered = held
        .iter()
        .find(|(i, _, _)| i.indicator_id == "NL-ORDER-1")
        .expect("stored");
    assert_eq!(ordered.0.version, 60);
    w.gateway.shutdown().await.unwrap();
}
