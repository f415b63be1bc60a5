//! Administration-to-administration exchange (PROTOCOL.md §5, §6, §8) between real
//! gateways on loopback: the outbox, the forwarder's mutual-TLS delivery with verified
//! receipts, intelligence sharing under agreements and TLP, and forwarded declarations.

mod common;

use aedgate::proto::v1::{Criteria, Envelope, MessageType, OutcomeCode, RiskIndicator, Tlp};
use aedgate::store::OutboxState;
use bytes::Bytes;
use common::*;
use prost::Message;

const NL: &str = "adm/NL";
const BE: &str = "adm/BE";
const SHOPCO: &str = "ptr/NL/shopco";
const NL_RISK: &str = "adm/NL/risk-unit";
const BE_RISK: &str = "adm/BE/risk-unit";

fn indicator(id: &str, tlp: Tlp, term: &str) -> RiskIndicator {
    RiskIndicator {
        indicator_id: id.into(),
        version: 1,
        title: format!("Shared test indicator {id}"),
        rationale: "test".into(),
        tlp: tlp as i32,
        personal_data: false,
        criteria: Some(Criteria {
            description_terms: vec![term.into()],
            ..Default::default()
        }),
        action: OutcomeCode::RequestForInformation as i32,
        valid_until_ms: 0,
    }
}

fn is_indicator_from(envelope: &Envelope, sender: &str, id: &str) -> bool {
    let header = envelope.header.as_ref().expect("header");
    header.sender == sender
        && header.r#type == MessageType::RiskIndicator as i32
        && RiskIndicator::decode(envelope.payload.clone())
            .map(|i| i.indicator_id == id)
            .unwrap_or(false)
}

#[tokio::test]
async fn an_amber_indicator_published_in_nl_is_applied_in_be_and_a_red_one_never_leaves() {
    let fed = Federation::standard();
    let gateways = start_network(&fed, &[NL, BE]).await;
    let (nl, be) = (&gateways[0], &gateways[1]);
    let mut nl_risk = fed.connect(NL_RISK, nl).await;
    let be_risk = fed.connect(BE_RISK, be).await;

    for (id, tlp, term) in [
        ("NL-RED-1", Tlp::Red, "plutonium"),
        ("NL-AMBER-1", Tlp::Amber, "counterfeit"),
    ] {
        let envelope = nl_risk.seal(
            MessageType::RiskIndicator,
            Bytes::from(indicator(id, tlp, term).encode_to_vec()),
            "",
        );
        nl_risk.submit(envelope).await.expect("published");
    }
    // Per-peer order: the RED one was published first, so had it been sent it would have
    // arrived before the AMBER one.
    let mut seen = Vec::new();
    let (_, arrived) = await_delivery(&be_risk, 0, |e| {
        seen.push(e.clone());
        is_indicator_from(e, NL, "NL-AMBER-1")
    })
    .await;
    let _ = arrived;
    assert!(
        !seen.iter().any(|e| is_indicator_from(e, NL, "NL-RED-1")),
        "RED never leaves its issuer"
    );
    let outbox = nl.state().store.outbox(None).await.unwrap();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert_eq!(outbox[0].peer, BE);
    // Delivered, with BE's verified receipt kept as proof.
    let outbox = await_outbox(nl, |entries| {
        entries.iter().all(|e| e.state == OutboxState::Delivered)
    })
    .await;
    let receipt = outbox[0].receipt.clone().expect("receipt stored");
    assert_eq!(receipt.receiver, BE);

    // A declaration filed in BE that matches the received indicator is referred there.
    let mut shopco_be = fed.connect_at(SHOPCO, BE, be).await;
    let mut declaration = declaration(&lrn("XBORDER"));
    declaration.items[0].description = "Counterfeit handbag".into();
    let receipt = shopco_be
        .submit(shopco_be.seal_declaration(&declaration))
        .await
        .expect("accepted in BE");
    let deliveries = fetch_all(&shopco_be, 0).await;
    let outcomes = outcomes_for(&deliveries, &receipt.message_id);
    assert_eq!(outcomes.len(), 1);
    assert_eq!(
        outcomes[0].1.code,
        OutcomeCode::RequestForInformation as i32
    );
    for gateway in gateways {
        gateway.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_declaration_filed_in_nl_for_belgium_is_forwarded_verified_and_assessed_in_be() {
    let fed = Federation::standard();
    let gateways = start_network(&fed, &[NL, BE]).await;
    let (nl, be) = (&gateways[0], &gateways[1]);

    // BE's own indicator, which NL does not have.
    let mut be_risk = fed.connect(BE_RISK, be).await;
    let envelope = be_risk.seal(
        MessageType::RiskIndicator,
        Bytes::from(indicator("BE-AMBER-1", Tlp::Amber, "sneakers").encode_to_vec()),
        "",
    );
    be_risk.submit(envelope).await.expect("published in BE");
    // It was shared with NL, which does not matter here; wait for it to arrive there so
    // that NL's outbox to BE and BE's to NL are both idle.
    let nl_risk = fed.connect(NL_RISK, nl).await;
    await_delivery(&nl_risk, 0, |e| is_indicator_from(e, BE, "BE-AMBER-1")).await;

    let mut shopco = fed.connect(SHOPCO, nl).await;
    let mut bound_for_be = declaration(&lrn("FWD"));
    bound_for_be.country_of_destination = "BE".into();
    bound_for_be.items[0].description = "Running sneakers".into();
    let original = shopco.seal_declaration(&bound_for_be);
    let receipt = shopco
        .submit(original.clone())
        .await
        .expect("accepted in NL");
    let stays = shopco
        .submit(shopco.seal_declaration(&declaration(&lrn("STAYS"))))
        .await
        .expect("accepted in NL");

    // BE receives the partner's envelope, byte for byte, inside NL's.
    let (_, forwarded) = await_delivery(&be_risk, 0, |e| {
        e.header.as_ref().expect("header").r#type == MessageType::ForwardedDeclaration as i32
    })
    .await;
    let header = forwarded.header.clone().unwrap();
    assert_eq!(
        (header.sender.as_str(), header.recipient.as_str()),
        (NL, BE)
    );
    assert_eq!(header.correlation_id, receipt.message_id);
    assert_eq!(forwarded.payload, Bytes::from(original.encode_to_vec()));

    // Assessed in BE against BE's indicator: the partner gets BE's outcome from BE.
    let shopco_be = fed.connect_at(SHOPCO, BE, be).await;
    let deliveries = fetch_all(&shopco_be, 0).await;
    let outcomes = outcomes_for(&deliveries, &receipt.message_id);
    assert_eq!(outcomes.len(), 1, "{deliveries:?}");
    assert_eq!(outcomes[0].0.header.as_ref().unwrap().sender, BE);
    assert_eq!(
        outcomes[0].1.code,
        OutcomeCode::RequestForInformation as i32
    );
    assert!(outcomes[0]
        .1
        .mrn
        .starts_with(&format!("{}BE", &outcomes[0].1.mrn[..2])));
    // NL assessed it too, against every indicator in force there, which includes the one
    // BE shared: received indicators count like local ones.
    let nl_outcomes = outcomes_for(&fetch_all(&shopco, 0).await, &receipt.message_id);
    assert_eq!(nl_outcomes[0].0.header.as_ref().unwrap().sender, NL);
    assert_eq!(
        nl_outcomes[0].1.code,
        OutcomeCode::RequestForInformation as i32
    );
    let other = outcomes_for(&fetch_all(&shopco, 0).await, &stays.message_id);
    assert_eq!(other[0].1.code, OutcomeCode::AssessmentComplete as i32);
    // Only the declaration bound for BE was forwarded.
    let outbox = await_outbox(nl, |entries| {
        entries
            .iter()
            .filter(|e| e.message_type == MessageType::ForwardedDeclaration as i32)
            .all(|e| e.state == OutboxState::Delivered)
    })
    .await;
    let forwarded: Vec<_> = outbox
        .iter()
        .filter(|e| e.message_type == MessageType::ForwardedDeclaration as i32)
        .collect();
    assert_eq!(forwarded.len(), 1, "{forwarded:#?}");
    assert!(be
        .state()
        .store
        .declaration_status(&stays.message_id)
        .await
        .unwrap()
        .is_none());
    for gateway in gateways {
        gateway.shutdown().await.unwrap();
    }
}
