//! Administration-to-administration exchange (PROTOCOL.md §5, §6, §8) between real
//! gateways on loopback: the outbox, the forwarder's mutual-TLS delivery with verified
//! receipts, intelligence sharing under agreements and TLP, and forwarded declarations.

mod common;

use aedgate::client::Participant;
use aedgate::core::retry::RetryPolicy;
use aedgate::core::trust::{Exchange, TlpLevel};
use aedgate::pki::PkiSpec;
use aedgate::proto::v1::{
    Criteria, Disposition, Envelope, MessageType, OutcomeCode, RiskIndicator,
    RiskIndicatorRevocation, Tlp,
};
use aedgate::server::RunningGateway;
use aedgate::store::{OutboxEntry, OutboxState};
use bytes::Bytes;
use common::*;
use prost::Message;
use std::time::Duration;

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
    // The forwarder counted each delivery to BE, once.
    let delivered = outbox
        .iter()
        .filter(|e| e.peer == BE && e.state == OutboxState::Delivered)
        .count() as u64;
    assert_eq!(
        nl.state()
            .telemetry
            .counters(aedgate::telemetry::Counter::Forwarded)
            .get(BE),
        Some(&delivered)
    );
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

#[tokio::test]
async fn a_declaration_reusing_the_id_of_one_forwarded_here_is_a_conflict_not_a_failed_commit() {
    let fed = Federation::standard();
    let gateways = start_network(&fed, &[NL, BE]).await;
    let (nl, be) = (&gateways[0], &gateways[1]);
    let mut shopco = fed.connect(SHOPCO, nl).await;
    let original = shopco.seal_declaration(&bound_for_belgium("FWD-ID"));
    shopco
        .submit(original.clone())
        .await
        .expect("accepted in NL");
    let be_risk = fed.connect(BE_RISK, be).await;
    await_delivery(&be_risk, 0, |e| {
        e.header.as_ref().expect("header").r#type == MessageType::ForwardedDeclaration as i32
    })
    .await;

    // In BE the declaration is on file under ShopCo's original message id, which is no
    // envelope of BE's log. Another declaration under that id is refused as a reuse; it
    // used to reach the insert and fail the whole group commit, again on every resend.
    let mut shopco_be = fed.connect_at(SHOPCO, BE, be).await;
    let mut reuse = aedgate::core::envelope::Draft {
        recipient: BE.into(),
        ..draft(SHOPCO, BE, &bound_for_belgium("OTHER"))
    };
    reuse.message_id = original.header.as_ref().expect("header").message_id.clone();
    let status = refused(shopco_be.submit(seal_as(&fed, SHOPCO, reuse)).await);
    assert_eq!(status.code(), tonic::Code::AlreadyExists, "{status:?}");
    assert_eq!(reason(&status), "MESSAGE_ID_CONFLICT");
    shopco_be
        .submit(shopco_be.seal_declaration(&bound_for_belgium("AFTER")))
        .await
        .expect("BE keeps accepting");
    for gateway in gateways {
        gateway.shutdown().await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// Issue 5's end-to-end checks. Every wait below is for an event (a delivery in a Fetch that
// follows, or the outbox watch of the store); the minute-long timeouts of the helpers are
// only a safety net. Absence is asserted after a "sentinel": per peer the forwarder
// delivers in queue order, so once a message published last has arrived, everything queued
// before it for that peer has been delivered (or was never queued).
// ---------------------------------------------------------------------------------------

const DE: &str = "adm/DE";
const FR: &str = "adm/FR";
const BPOST: &str = "ptr/BE/bpost-demo";

/// Every TLP level × personal data, in publishing order.
const MATRIX: [(Tlp, bool); 10] = [
    (Tlp::Clear, false),
    (Tlp::Clear, true),
    (Tlp::Green, false),
    (Tlp::Green, true),
    (Tlp::Amber, false),
    (Tlp::Amber, true),
    (Tlp::AmberStrict, false),
    (Tlp::AmberStrict, true),
    (Tlp::Red, false),
    (Tlp::Red, true),
];

/// What travelled between administrations, for comparing sequences.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Carried {
    /// A RISK_INDICATOR, by indicator id.
    Indicator(String),
    /// A RISK_INDICATOR_REVOCATION, by indicator id.
    Revocation(String),
    /// A FORWARDED_DECLARATION, by the original declaration's message id.
    Forwarded(String),
    /// Anything else (outcomes, declarations), by type.
    Other(i32),
}

fn carried(envelope: &Envelope) -> Carried {
    let header = envelope.header.as_ref().expect("header");
    match MessageType::try_from(header.r#type) {
        Ok(MessageType::RiskIndicator) => Carried::Indicator(
            RiskIndicator::decode(envelope.payload.clone())
                .expect("indicator")
                .indicator_id,
        ),
        Ok(MessageType::RiskIndicatorRevocation) => Carried::Revocation(
            RiskIndicatorRevocation::decode(envelope.payload.clone())
                .expect("revocation")
                .indicator_id,
        ),
        Ok(MessageType::ForwardedDeclaration) => {
            let original = Envelope::decode(envelope.payload.clone()).expect("original");
            Carried::Forwarded(original.header.expect("original header").message_id)
        }
        _ => Carried::Other(header.r#type),
    }
}

fn sender(envelope: &Envelope) -> &str {
    &envelope.header.as_ref().expect("header").sender
}

/// What `from` sent, in the order it appears in `envelopes`.
fn sent_by(envelopes: &[Envelope], from: &str) -> Vec<Carried> {
    envelopes
        .iter()
        .filter(|e| sender(e) == from)
        .map(carried)
        .collect()
}

fn country(admin: &str) -> &str {
    admin.strip_prefix("adm/").expect("administration id")
}

fn risk_unit(admin: &str) -> String {
    format!("{admin}/risk-unit")
}

fn matrix_id(admin: &str, tlp: Tlp, personal_data: bool) -> String {
    format!(
        "{}-{}-{}",
        country(admin),
        tlp.as_str_name().trim_start_matches("TLP_"),
        if personal_data { "PD" } else { "NOPD" }
    )
}

fn sentinel_id(admin: &str) -> String {
    format!("{}-SENTINEL", country(admin))
}

fn shared(
    id: &str,
    tlp: Tlp,
    personal_data: bool,
    term: &str,
    action: OutcomeCode,
) -> RiskIndicator {
    RiskIndicator {
        personal_data,
        action: action as i32,
        ..indicator(id, tlp, term)
    }
}

async fn publish(risk: &mut Participant, indicator: &RiskIndicator) {
    let envelope = risk.seal(
        MessageType::RiskIndicator,
        Bytes::from(indicator.encode_to_vec()),
        "",
    );
    risk.submit(envelope)
        .await
        .unwrap_or_else(|e| panic!("{} published: {e}", indicator.indicator_id));
}

/// The sentinel: CLEAR, no personal data, so it goes wherever any indicator may go.
async fn publish_sentinel(risk: &mut Participant, admin: &str) {
    let sentinel = indicator(&sentinel_id(admin), Tlp::Clear, "sentinel");
    publish(risk, &sentinel).await;
}

/// A declaration filed by ShopCo in NL that is bound for Belgium (and so forwarded there).
fn bound_for_belgium(tag: &str) -> aedgate::proto::v1::AdvanceDeclaration {
    let mut declaration = declaration(&lrn(tag));
    declaration.country_of_destination = "BE".into();
    declaration
}

/// Publishes the whole TLP × personal-data matrix from `admin`'s risk unit, then the
/// sentinel.
async fn publish_matrix(fed: &Federation, admin: &str, gateway: &RunningGateway) {
    let mut risk = fed.connect(&risk_unit(admin), gateway).await;
    for (n, (tlp, personal_data)) in MATRIX.into_iter().enumerate() {
        let id = matrix_id(admin, tlp, personal_data);
        let indicator = shared(
            &id,
            tlp,
            personal_data,
            &format!("term{n}"),
            OutcomeCode::RequestForInformation,
        );
        publish(&mut risk, &indicator).await;
    }
    publish_sentinel(&mut risk, admin).await;
}

/// What `to` must receive from `from`: the allowed cells of the matrix in publishing order,
/// then the sentinel.
fn expected_from(from: &str, allowed: &[(Tlp, bool)]) -> Vec<Carried> {
    MATRIX
        .into_iter()
        .filter(|cell| allowed.contains(cell))
        .map(|(tlp, pd)| Carried::Indicator(matrix_id(from, tlp, pd)))
        .chain([Carried::Indicator(sentinel_id(from))])
        .collect()
}

/// Waits for `from`'s sentinel in the log of `to` (its risk unit's Fetch) and checks that
/// exactly the `allowed` cells of `from`'s matrix arrived before it, in order, each once,
/// and are in force in `to`'s risk engine with `from` as their issuer.
async fn assert_received_exactly(
    fed: &Federation,
    to: &str,
    gateway: &RunningGateway,
    from: &str,
    allowed: &[(Tlp, bool)],
) {
    let risk = fed.connect(&risk_unit(to), gateway).await;
    let sentinel = Carried::Indicator(sentinel_id(from));
    let log = collect_until(&risk, 0, |e| sender(e) == from && carried(e) == sentinel).await;
    let expected = expected_from(from, allowed);
    assert_eq!(sent_by(&log, from), expected, "what {from} sent to {to}");
    let mut in_force: Vec<String> = gateway
        .state()
        .store
        .indicators()
        .await
        .expect("indicators")
        .into_iter()
        .filter(|(_, issuer, revoked)| issuer == from && !revoked)
        .map(|(indicator, _, _)| indicator.indicator_id)
        .collect();
    in_force.sort();
    let mut expected_ids: Vec<String> = expected
        .into_iter()
        .map(|c| match c {
            Carried::Indicator(id) => id,
            other => panic!("{other:?}"),
        })
        .collect();
    expected_ids.sort();
    assert_eq!(
        in_force, expected_ids,
        "{from}'s indicators in force in {to}"
    );
}

/// What the outbox of `gateway` holds for `peer`, in queue order, with each entry.
async fn outbox_for(gateway: &RunningGateway, peer: &str) -> Vec<(Carried, OutboxEntry)> {
    let store = &gateway.state().store;
    let mut out = Vec::new();
    for entry in store.outbox(None).await.expect("outbox") {
        if entry.peer != peer {
            continue;
        }
        let stored = store
            .envelope(&entry.message_id)
            .await
            .expect("read")
            .expect("an outbox entry is a logged envelope");
        out.push((carried(&stored.envelope), entry));
    }
    out
}

/// Waits until everything in `gateway`'s outbox is delivered, then checks that it queued
/// exactly `expected` for each of `peers` (an empty list: nothing at all), and that each
/// delivery is proven by the peer's receipt.
async fn assert_outbox_delivered(gateway: &RunningGateway, expected: &[(&str, Vec<Carried>)]) {
    let entries = await_outbox(gateway, |entries| {
        entries.iter().all(|e| e.state == OutboxState::Delivered)
    })
    .await;
    for entry in &entries {
        assert!(
            expected
                .iter()
                .any(|(peer, list)| *peer == entry.peer && !list.is_empty()),
            "unexpected message for {}: {entry:?}",
            entry.peer
        );
        let receipt = entry.receipt.as_ref().expect("proof of delivery");
        assert_eq!(receipt.receiver, entry.peer);
        assert_eq!(receipt.message_id, entry.message_id);
    }
    for (peer, list) in expected {
        let queued: Vec<Carried> = outbox_for(gateway, peer)
            .await
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        assert_eq!(&queued, list, "queued for {peer}");
    }
}

/// Partners' Fetch never holds intelligence: only OUTCOMEs addressed to them, and at least
/// one (so the check is not vacuous).
async fn assert_partners_hold_only_outcomes(
    fed: &Federation,
    partners: &[(&str, &str, &RunningGateway)],
) {
    for (partner, admin, gateway) in partners {
        let client = fed.connect_at(partner, admin, gateway).await;
        let deliveries = fetch_all(&client, 0).await;
        assert!(!deliveries.is_empty(), "{partner} at {admin} has outcomes");
        for delivery in deliveries {
            let envelope = delivery.envelope.expect("envelope");
            let header = envelope.header.as_ref().expect("header");
            assert_eq!(
                header.r#type,
                MessageType::Outcome as i32,
                "{partner} at {admin} received {:?}",
                carried(&envelope)
            );
            assert_eq!(&header.recipient, partner);
        }
    }
}

/// Files a declaration through `client` and returns the code of its (first) outcome.
async fn outcome_of(
    client: &mut Participant,
    declaration: &aedgate::proto::v1::AdvanceDeclaration,
) -> aedgate::proto::v1::Outcome {
    let receipt = client
        .submit(client.seal_declaration(declaration))
        .await
        .expect("declaration accepted");
    let outcomes = outcomes_for(&fetch_all(client, 0).await, &receipt.message_id);
    assert_eq!(outcomes.len(), 1, "one outcome per declaration");
    outcomes[0].1.clone()
}

fn matching(tag: &str, description: &str) -> aedgate::proto::v1::AdvanceDeclaration {
    let mut declaration = declaration(&lrn(tag));
    declaration.items[0].description = description.into();
    declaration
}

/// A retry schedule fast enough for tests: 50 ms doubling to 200 ms, no jitter.
fn fast_retries(horizon: Duration) -> RetryPolicy {
    RetryPolicy {
        first_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
        jitter_per_mille: 0,
        horizon,
    }
}

async fn shutdown_all(gateways: Vec<RunningGateway>) {
    for gateway in gateways {
        gateway.shutdown().await.expect("shutdown");
    }
}

#[tokio::test]
async fn two_gateways_share_each_cell_of_the_tlp_and_personal_data_matrix_exactly_as_their_agreement_allows(
) {
    // The standard federation: NL–BE exchange up to AMBER, without personal data.
    let fed = Federation::standard();
    let gateways = start_network(&fed, &[NL, BE]).await;
    let (nl, be) = (&gateways[0], &gateways[1]);
    publish_matrix(&fed, NL, nl).await;
    publish_matrix(&fed, BE, be).await;

    let allowed = [
        (Tlp::Clear, false),
        (Tlp::Green, false),
        (Tlp::Amber, false),
    ];
    assert_received_exactly(&fed, BE, be, NL, &allowed).await;
    assert_received_exactly(&fed, NL, nl, BE, &allowed).await;
    // The sender decided it too: nothing else was ever queued, and all was delivered.
    assert_outbox_delivered(nl, &[(BE, expected_from(NL, &allowed))]).await;
    assert_outbox_delivered(be, &[(NL, expected_from(BE, &allowed))]).await;
    shutdown_all(gateways).await;
}

#[tokio::test]
async fn three_gateways_share_the_matrix_per_agreement_and_never_where_only_forwarding_is_agreed() {
    // NL, DE and FR: NL–DE indicators up to AMBER+STRICT with personal data, NL–FR up to
    // GREEN without, DE–FR forwarded declarations only (with a max_tlp of RED and personal
    // data, which must not matter).
    let mut spec = PkiSpec::standard();
    spec.participants
        .retain(|p| !p.id.starts_with("adm/BE") && !p.id.starts_with("ptr/BE"));
    for p in &mut spec.participants {
        p.registered_with.retain(|a| a != BE);
    }
    spec.participants.extend([
        administration(DE, 7445),
        administration(FR, 7446),
        internal(&risk_unit(DE)),
        internal(&risk_unit(FR)),
    ]);
    let (ri, fd) = (Exchange::RiskIndicator, Exchange::ForwardedDeclaration);
    spec.agreements = vec![
        agreement("nl-de", NL, DE, &[ri], TlpLevel::AmberStrict, true),
        agreement("nl-fr", NL, FR, &[ri, fd], TlpLevel::Green, false),
        agreement("de-fr", DE, FR, &[fd], TlpLevel::Red, true),
        // A second NL–FR agreement, for forwarding only: its RED and personal data do not
        // combine with the first one's indicator exchange.
        agreement("nl-fr-forwarding", NL, FR, &[fd], TlpLevel::Red, true),
    ];
    let fed = Federation::with_spec(spec);
    let admins = [NL, DE, FR];
    let gateways = start_network(&fed, &admins).await;
    let (nl, de, fr) = (&gateways[0], &gateways[1], &gateways[2]);
    for (admin, gateway) in admins.iter().zip(&gateways) {
        publish_matrix(&fed, admin, gateway).await;
    }

    let up_to_strict: Vec<(Tlp, bool)> = MATRIX
        .into_iter()
        .filter(|(tlp, _)| *tlp != Tlp::Red)
        .collect();
    let up_to_green = [(Tlp::Clear, false), (Tlp::Green, false)];
    assert_received_exactly(&fed, DE, de, NL, &up_to_strict).await;
    assert_received_exactly(&fed, FR, fr, NL, &up_to_green).await;
    assert_received_exactly(&fed, NL, nl, DE, &up_to_strict).await;
    assert_received_exactly(&fed, NL, nl, FR, &up_to_green).await;
    // DE and FR share no intelligence: neither queued anything for the other (the outbox
    // is written in the publishing transaction, so this is final), and neither holds
    // anything of the other's.
    assert_outbox_delivered(
        nl,
        &[
            (DE, expected_from(NL, &up_to_strict)),
            (FR, expected_from(NL, &up_to_green)),
        ],
    )
    .await;
    assert_outbox_delivered(de, &[(NL, expected_from(DE, &up_to_strict)), (FR, vec![])]).await;
    assert_outbox_delivered(fr, &[(NL, expected_from(FR, &up_to_green)), (DE, vec![])]).await;
    for (receiver, gateway, other) in [(DE, de, FR), (FR, fr, DE)] {
        let risk = fed.connect(&risk_unit(receiver), gateway).await;
        let log: Vec<Envelope> = fetch_all(&risk, 0)
            .await
            .into_iter()
            .filter_map(|d| d.envelope)
            .collect();
        assert_eq!(sent_by(&log, other), vec![], "{other} → {receiver}");
        let foreign = gateway.state().store.indicators().await.unwrap();
        assert!(
            foreign.iter().all(|(_, issuer, _)| issuer != other),
            "{receiver} holds none of {other}'s indicators: {foreign:?}"
        );
    }
    shutdown_all(gateways).await;
}

/// NL, BE and DE: NL–BE (the standard agreement, up to AMBER), BE–DE up to AMBER, and
/// `nl_de` between NL and DE if given.
fn three_in_a_row(nl_de: Option<TlpLevel>) -> Federation {
    let mut spec = PkiSpec::standard();
    spec.participants
        .extend([administration(DE, 7445), internal(&risk_unit(DE))]);
    spec.agreements.push(agreement(
        "be-de",
        BE,
        DE,
        &[Exchange::RiskIndicator],
        TlpLevel::Amber,
        false,
    ));
    if let Some(max_tlp) = nl_de {
        spec.agreements.push(agreement(
            "nl-de",
            NL,
            DE,
            &[Exchange::RiskIndicator],
            max_tlp,
            false,
        ));
    }
    Federation::with_spec(spec)
}

#[tokio::test]
async fn an_indicator_received_from_nl_is_never_reshared_by_be_to_de() {
    let fed = three_in_a_row(None);
    let gateways = start_network(&fed, &[NL, BE, DE]).await;
    let (nl, be, de) = (&gateways[0], &gateways[1], &gateways[2]);

    // GREEN: BE–DE would allow it, had BE issued it.
    let mut nl_risk = fed.connect(NL_RISK, nl).await;
    publish(
        &mut nl_risk,
        &indicator("NL-GREEN-RESHARE", Tlp::Green, "replica"),
    )
    .await;
    let be_risk = fed.connect(BE_RISK, be).await;
    await_delivery(&be_risk, 0, |e| {
        carried(e) == Carried::Indicator("NL-GREEN-RESHARE".into())
    })
    .await;
    // BE applies it (it is in force there, issued by NL) ...
    let in_be = be.state().store.indicators().await.unwrap();
    assert!(in_be
        .iter()
        .any(|(i, issuer, revoked)| i.indicator_id == "NL-GREEN-RESHARE"
            && issuer == NL
            && !revoked));

    // ... and BE's own sentinel, published after, reaches DE: had BE queued NL's indicator
    // for DE, it would have arrived before.
    let mut be_risk_publisher = fed.connect(BE_RISK, be).await;
    publish_sentinel(&mut be_risk_publisher, BE).await;
    let de_risk = fed.connect(&risk_unit(DE), de).await;
    let de_log = collect_until(&de_risk, 0, |e| {
        sender(e) == BE && carried(e) == Carried::Indicator(sentinel_id(BE))
    })
    .await;
    assert_eq!(
        de_log.iter().map(carried).collect::<Vec<_>>(),
        vec![Carried::Indicator(sentinel_id(BE))],
        "DE holds BE's sentinel and nothing of NL's"
    );
    let in_de: Vec<String> = de
        .state()
        .store
        .indicators()
        .await
        .unwrap()
        .into_iter()
        .map(|(i, _, _)| i.indicator_id)
        .collect();
    assert_eq!(in_de, vec![sentinel_id(BE)]);
    // Neither BE nor NL ever queued NL's indicator for DE.
    assert_outbox_delivered(
        be,
        &[
            (NL, vec![Carried::Indicator(sentinel_id(BE))]),
            (DE, vec![Carried::Indicator(sentinel_id(BE))]),
        ],
    )
    .await;
    assert_outbox_delivered(
        nl,
        &[
            (BE, vec![Carried::Indicator("NL-GREEN-RESHARE".into())]),
            (DE, vec![]),
        ],
    )
    .await;
    shutdown_all(gateways).await;
}

#[tokio::test]
async fn received_indicators_drive_assessment_in_the_receiver_and_partners_never_receive_indicators(
) {
    let fed = Federation::standard();
    let gateways = start_network(&fed, &[NL, BE]).await;
    let (nl, be) = (&gateways[0], &gateways[1]);

    let mut nl_risk = fed.connect(NL_RISK, nl).await;
    let screening = shared(
        "NL-SCREEN-1",
        Tlp::Amber,
        false,
        "replica",
        OutcomeCode::RequestForScreening,
    );
    publish(&mut nl_risk, &screening).await;
    let be_risk = fed.connect(BE_RISK, be).await;
    await_delivery(&be_risk, 0, |e| {
        carried(e) == Carried::Indicator("NL-SCREEN-1".into())
    })
    .await;

    // A partner registered only in BE, which never dealt with NL, is referred in BE on
    // NL's intelligence; a declaration that does not match is cleared.
    let mut bpost = fed.connect(BPOST, be).await;
    let referred = outcome_of(&mut bpost, &matching("BP-HIT", "Replica leather wallet")).await;
    assert_eq!(referred.code, OutcomeCode::RequestForScreening as i32);
    // The outcome never names the indicator, its criteria or its issuer (§8).
    for secret in ["NL-SCREEN-1", "replica", NL, "Shared test indicator"] {
        let text = format!(
            "{} {} {}",
            referred.request_text, referred.pointer, referred.referral_id
        );
        assert!(
            !text.to_lowercase().contains(&secret.to_lowercase()),
            "outcome reveals {secret:?}: {referred:?}"
        );
    }
    let cleared = outcome_of(&mut bpost, &matching("BP-MISS", "Leather wallet")).await;
    assert_eq!(cleared.code, OutcomeCode::AssessmentComplete as i32);
    // The same in NL, where the indicator is the administration's own.
    let mut shopco = fed.connect(SHOPCO, nl).await;
    let in_nl = outcome_of(&mut shopco, &matching("NL-HIT", "Replica leather wallet")).await;
    assert_eq!(in_nl.code, OutcomeCode::RequestForScreening as i32);
    let mut shopco_be = fed.connect_at(SHOPCO, BE, be).await;
    let in_be = outcome_of(&mut shopco_be, &matching("BE-HIT", "Replica watch")).await;
    assert_eq!(in_be.code, OutcomeCode::RequestForScreening as i32);
    let mut flyfast = fed.connect(FLYFAST, nl).await;
    outcome_of(&mut flyfast, &matching("FF-MISS", "Leather wallet")).await;

    // Partners' Fetch, at every gateway, holds outcomes only.
    assert_partners_hold_only_outcomes(
        &fed,
        &[
            (SHOPCO, NL, nl),
            (SHOPCO, BE, be),
            (FLYFAST, NL, nl),
            (BPOST, BE, be),
        ],
    )
    .await;
    shutdown_all(gateways).await;
}

#[tokio::test]
async fn a_revocation_follows_the_indicator_to_be_which_stops_applying_it_and_de_gets_nothing() {
    // NL–DE only up to GREEN: an AMBER indicator of NL reaches BE, not DE.
    let fed = three_in_a_row(Some(TlpLevel::Green));
    let gateways = start_network(&fed, &[NL, BE, DE]).await;
    let (nl, be, de) = (&gateways[0], &gateways[1], &gateways[2]);

    let mut nl_risk = fed.connect(NL_RISK, nl).await;
    let id = "NL-AMBER-REVOKED";
    publish(
        &mut nl_risk,
        &shared(
            id,
            Tlp::Amber,
            false,
            "replica",
            OutcomeCode::RequestForInformation,
        ),
    )
    .await;
    let be_risk = fed.connect(BE_RISK, be).await;
    let (after, _) =
        await_delivery(&be_risk, 0, |e| carried(e) == Carried::Indicator(id.into())).await;
    let mut shopco_be = fed.connect_at(SHOPCO, BE, be).await;
    let before = outcome_of(&mut shopco_be, &matching("REV-1", "Replica handbag")).await;
    assert_eq!(before.code, OutcomeCode::RequestForInformation as i32);

    let revocation = RiskIndicatorRevocation {
        indicator_id: id.into(),
        reason: "false positives".into(),
    };
    let envelope = nl_risk.seal(
        MessageType::RiskIndicatorRevocation,
        Bytes::from(revocation.encode_to_vec()),
        "",
    );
    nl_risk.submit(envelope).await.expect("revoked in NL");
    publish_sentinel(&mut nl_risk, NL).await;

    // BE: the revocation, once, before the sentinel, and the indicator no longer applies.
    let sentinel = Carried::Indicator(sentinel_id(NL));
    let be_log = collect_until(&be_risk, after, |e| carried(e) == sentinel).await;
    assert_eq!(
        sent_by(&be_log, NL),
        vec![Carried::Revocation(id.into()), sentinel.clone()]
    );
    let revoked_in_be = be.state().store.indicators().await.unwrap();
    assert!(
        revoked_in_be
            .iter()
            .any(|(i, issuer, revoked)| i.indicator_id == id && issuer == NL && *revoked),
        "{revoked_in_be:?}"
    );
    let after_revocation = outcome_of(&mut shopco_be, &matching("REV-2", "Replica handbag")).await;
    assert_eq!(
        after_revocation.code,
        OutcomeCode::AssessmentComplete as i32
    );

    // DE: the sentinel and nothing else: neither the indicator nor its revocation.
    let de_risk = fed.connect(&risk_unit(DE), de).await;
    let de_log = collect_until(&de_risk, 0, |e| carried(e) == sentinel).await;
    assert_eq!(sent_by(&de_log, NL), vec![sentinel.clone()]);
    assert_outbox_delivered(
        nl,
        &[
            (
                BE,
                vec![
                    Carried::Indicator(id.into()),
                    Carried::Revocation(id.into()),
                    sentinel.clone(),
                ],
            ),
            (DE, vec![sentinel.clone()]),
        ],
    )
    .await;
    assert_partners_hold_only_outcomes(&fed, &[(SHOPCO, BE, be)]).await;
    shutdown_all(gateways).await;
}

/// Publishes version `version` of an indicator of NL.
async fn publish_version(risk: &mut Participant, id: &str, version: u32, tlp: Tlp) {
    let mut replacement = shared(
        id,
        tlp,
        false,
        "replica",
        OutcomeCode::RequestForInformation,
    );
    replacement.version = version;
    publish(risk, &replacement).await;
}

#[tokio::test]
async fn a_replacement_the_agreement_no_longer_covers_is_revoked_at_the_peer_and_a_covered_one_reinstates_it(
) {
    let fed = Federation::standard();
    let gateways = start_network(&fed, &[NL, BE]).await;
    let (nl, be) = (&gateways[0], &gateways[1]);
    let mut nl_risk = fed.connect(NL_RISK, nl).await;
    let be_risk = fed.connect(BE_RISK, be).await;
    let mut shopco_be = fed.connect_at(SHOPCO, BE, be).await;
    let id = "NL-RAISED";
    let applies_in_be = |code: OutcomeCode| code == OutcomeCode::RequestForInformation;

    // v1 AMBER: shared and applied in BE.
    publish_version(&mut nl_risk, id, 1, Tlp::Amber).await;
    let (seq, _) =
        await_delivery(&be_risk, 0, |e| carried(e) == Carried::Indicator(id.into())).await;
    let outcome = outcome_of(&mut shopco_be, &matching("RAISE-1", "Replica scarf")).await;
    assert!(applies_in_be(OutcomeCode::try_from(outcome.code).unwrap()));

    // v2 AMBER+STRICT: beyond the NL–BE agreement. BE gets a revocation, not v2, and stops
    // applying it.
    publish_version(&mut nl_risk, id, 2, Tlp::AmberStrict).await;
    publish_sentinel(&mut nl_risk, NL).await;
    let sentinel = Carried::Indicator(sentinel_id(NL));
    let log = collect_until(&be_risk, seq, |e| carried(e) == sentinel).await;
    assert_eq!(
        sent_by(&log, NL),
        vec![Carried::Revocation(id.into()), sentinel.clone()]
    );
    let outcome = outcome_of(&mut shopco_be, &matching("RAISE-2", "Replica scarf")).await;
    assert_eq!(outcome.code, OutcomeCode::AssessmentComplete as i32);

    // v3 GREEN: covered again, so shared again and applied again in BE.
    publish_version(&mut nl_risk, id, 3, Tlp::Green).await;
    let (_, v3) = await_delivery(&be_risk, seq, |e| {
        carried(e) == Carried::Indicator(id.into())
    })
    .await;
    assert_eq!(RiskIndicator::decode(v3.payload).unwrap().version, 3);
    let outcome = outcome_of(&mut shopco_be, &matching("RAISE-3", "Replica scarf")).await;
    assert!(
        applies_in_be(OutcomeCode::try_from(outcome.code).unwrap()),
        "{outcome:?}"
    );
    let in_be = be.state().store.indicators().await.unwrap();
    assert!(
        in_be.iter().any(|(i, issuer, revoked)| i.indicator_id == id
            && i.version == 3
            && issuer == NL
            && !revoked),
        "{in_be:?}"
    );
    shutdown_all(gateways).await;
}

#[tokio::test]
async fn a_peer_that_was_down_receives_everything_in_order_exactly_once_when_it_is_back() {
    let fed = Federation::standard();
    let nl = start_adjusted(&fed, NL, |c| {
        c.outbox = fast_retries(Duration::from_secs(600))
    })
    .await;
    let be = fed.start(BE).await;
    nl.set_peer_endpoint(BE, &format!("https://{}", be.local_addr()));
    be.set_peer_endpoint(NL, &format!("https://{}", nl.local_addr()));
    let mut nl_risk = fed.connect(NL_RISK, &nl).await;
    let mut shopco = fed.connect(SHOPCO, &nl).await;

    // Up and linked: a first indicator goes through.
    publish(&mut nl_risk, &indicator("NL-DOWN-0", Tlp::Green, "term0")).await;
    let be_risk = fed.connect(BE_RISK, &be).await;
    await_delivery(&be_risk, 0, |e| {
        carried(e) == Carried::Indicator("NL-DOWN-0".into())
    })
    .await;
    drop(be_risk);
    be.shutdown().await.expect("BE down");

    // While BE is down: indicators and declarations bound for BE, interleaved.
    let mut published = vec![Carried::Indicator("NL-DOWN-0".into())];
    for step in 1..=6 {
        if step % 3 == 2 {
            let receipt = shopco
                .submit(shopco.seal_declaration(&bound_for_belgium(&format!("DOWN{step}"))))
                .await
                .expect("filed in NL");
            published.push(Carried::Forwarded(receipt.message_id));
        } else {
            let id = format!("NL-DOWN-{step}");
            publish(
                &mut nl_risk,
                &indicator(&id, Tlp::Green, &format!("term{step}")),
            )
            .await;
            published.push(Carried::Indicator(id));
        }
    }
    // NL keeps them queued: the head of BE's queue is retried and fails, the rest wait
    // behind it; nothing is delivered.
    let outbox = await_outbox(&nl, |entries| {
        entries.len() == 7
            && entries[1..].iter().all(|e| e.state == OutboxState::Pending)
            && entries[1].attempts >= 2
            && !entries[1].last_error.is_empty()
    })
    .await;
    assert_eq!(outbox[0].state, OutboxState::Delivered);
    assert!(
        outbox[1].last_error.contains("cannot reach"),
        "{}",
        outbox[1].last_error
    );
    assert!(outbox[1..]
        .iter()
        .all(|e| e.receipt.is_none() && e.done_at_ms.is_none()));
    // Per-peer order: nothing behind the head is tried before it.
    assert!(outbox[2..].iter().all(|e| e.attempts == 0), "{outbox:#?}");

    // BE is back, on the same data folder and a new port.
    let be = fed.start(BE).await;
    nl.set_peer_endpoint(BE, &format!("https://{}", be.local_addr()));
    let be_risk = fed.connect(BE_RISK, &be).await;
    let last = published.last().cloned().unwrap();
    let log = collect_until(&be_risk, 0, |e| sender(e) == NL && carried(e) == last).await;
    assert_eq!(sent_by(&log, NL), published, "in order, each once");

    let outbox = await_outbox(&nl, |entries| {
        entries.iter().all(|e| e.state == OutboxState::Delivered)
    })
    .await;
    let mut previous = None;
    for (entry, what) in outbox.iter().zip(&published) {
        let receipt = entry.receipt.as_ref().expect("receipt stored");
        assert_eq!(receipt.receiver, BE);
        assert_eq!(
            receipt.disposition,
            Disposition::Accepted as i32,
            "{what:?}"
        );
        assert!(
            previous < Some(receipt.log_index),
            "BE logged them in order"
        );
        previous = Some(receipt.log_index);
    }
    // In effect: the forwarded declarations were assessed in BE, once each.
    let shopco_be = fed.connect_at(SHOPCO, BE, &be).await;
    let deliveries = fetch_all(&shopco_be, 0).await;
    for what in &published {
        if let Carried::Forwarded(id) = what {
            assert_eq!(outcomes_for(&deliveries, id).len(), 1, "{id}");
        }
    }
    shutdown_all(vec![nl, be]).await;
}

#[tokio::test]
async fn a_peer_whose_certificate_is_not_the_peers_is_refused_and_the_message_stays_queued() {
    let fed = Federation::standard();
    let nl = start_adjusted(&fed, NL, |c| {
        c.outbox = fast_retries(Duration::from_secs(600))
    })
    .await;
    let be = fed.start(BE).await;
    // An unrelated federation (its own CA) with a gateway that also calls itself adm/BE.
    let other = Federation::standard();
    let impostor = other.start(BE).await;
    let impostor_addr = format!("https://{}", impostor.local_addr());
    nl.set_peer_endpoint(BE, &impostor_addr);

    let mut nl_risk = fed.connect(NL_RISK, &nl).await;
    publish(&mut nl_risk, &indicator("NL-CERT-1", Tlp::Green, "term")).await;
    let outbox = await_outbox(&nl, |entries| {
        entries.len() == 1
            && entries[0].attempts >= 2
            && entries[0].last_error.contains(&impostor_addr)
    })
    .await;
    let entry = &outbox[0];
    assert_eq!(entry.state, OutboxState::Pending, "{entry:?}");
    assert!(entry.receipt.is_none() && entry.done_at_ms.is_none());
    assert!(
        entry.last_error.contains("cannot reach the peer"),
        "{}",
        entry.last_error
    );
    assert_eq!(
        impostor.state().store.log_size().await.unwrap(),
        0,
        "the impostor got nothing"
    );

    // A certificate of this federation that names another participant (NL's own gateway)
    // is refused as well.
    let own_addr = format!("https://{}", nl.local_addr());
    nl.set_peer_endpoint(BE, &own_addr);
    let attempts = entry.attempts;
    let outbox = await_outbox(&nl, |entries| {
        entries[0].attempts > attempts && entries[0].last_error.contains(&own_addr)
    })
    .await;
    assert_eq!(outbox[0].state, OutboxState::Pending, "{:?}", outbox[0]);
    assert_eq!(
        nl.state()
            .store
            .envelope(&outbox[0].message_id)
            .await
            .unwrap()
            .map(|s| s.log_index),
        Some(outbox[0].log_index),
        "NL did not take its own message"
    );

    // The real BE: delivered, with BE's receipt.
    nl.set_peer_endpoint(BE, &format!("https://{}", be.local_addr()));
    let outbox = await_outbox(&nl, |entries| entries[0].state == OutboxState::Delivered).await;
    assert_eq!(outbox[0].receipt.as_ref().unwrap().receiver, BE);
    let be_risk = fed.connect(BE_RISK, &be).await;
    let log: Vec<Envelope> = fetch_all(&be_risk, 0)
        .await
        .into_iter()
        .filter_map(|d| d.envelope)
        .collect();
    assert_eq!(
        sent_by(&log, NL),
        vec![Carried::Indicator("NL-CERT-1".into())]
    );
    shutdown_all(vec![nl, be, impostor]).await;
}

#[tokio::test]
async fn a_message_past_its_horizon_is_dead_lettered_does_not_block_the_next_and_can_be_retried() {
    let fed = Federation::standard();
    let nl = start_adjusted(&fed, NL, |c| {
        c.outbox = fast_retries(Duration::from_millis(300))
    })
    .await;
    let be = fed.start(BE).await;
    nl.set_peer_endpoint(BE, &format!("https://{}", be.local_addr()));
    be.shutdown().await.expect("BE down");

    let mut nl_risk = fed.connect(NL_RISK, &nl).await;
    publish(&mut nl_risk, &indicator("NL-LATE-1", Tlp::Green, "term1")).await;
    let outbox = await_outbox(&nl, |entries| {
        entries.len() == 1 && entries[0].state != OutboxState::Pending
    })
    .await;
    let dead = outbox[0].clone();
    assert_eq!(dead.state, OutboxState::DeadLettered, "{dead:?}");
    assert!(dead.attempts >= 1, "{dead:?}");
    assert!(dead.last_error.contains("cannot reach"), "{dead:?}");
    assert!(dead.receipt.is_none());
    let done = dead.done_at_ms.expect("when it was dead-lettered");
    assert!(
        done >= dead.queued_at_ms + 300,
        "not before the horizon: {dead:?}"
    );
    // Reported: listed among the dead letters (what `aedgate outbox list` shows).
    let listed = nl
        .state()
        .store
        .outbox(Some(OutboxState::DeadLettered))
        .await
        .unwrap();
    assert_eq!(listed, vec![dead.clone()]);

    // BE is back: a later message is delivered; the dead one does not block it and is
    // not sent on its own.
    let be = fed.start(BE).await;
    nl.set_peer_endpoint(BE, &format!("https://{}", be.local_addr()));
    publish(&mut nl_risk, &indicator("NL-LATE-2", Tlp::Green, "term2")).await;
    let be_risk = fed.connect(BE_RISK, &be).await;
    let log = collect_until(&be_risk, 0, |e| {
        carried(e) == Carried::Indicator("NL-LATE-2".into())
    })
    .await;
    assert_eq!(
        sent_by(&log, NL),
        vec![Carried::Indicator("NL-LATE-2".into())]
    );
    let outbox = await_outbox(&nl, |entries| {
        entries.len() == 2 && entries[1].state == OutboxState::Delivered
    })
    .await;
    assert_eq!(outbox[0].state, OutboxState::DeadLettered);

    // An operator's retry puts it back, with a fresh horizon, and it is delivered.
    let store = &nl.state().store;
    assert!(store
        .outbox_retry(dead.id, aedgate::clock::now_ms())
        .await
        .unwrap());
    let outbox = await_outbox(&nl, |entries| {
        entries.iter().all(|e| e.state == OutboxState::Delivered)
    })
    .await;
    assert_eq!(
        outbox[0].receipt.as_ref().unwrap().disposition,
        Disposition::Accepted as i32
    );
    let (_, _) = await_delivery(&be_risk, 0, |e| {
        carried(e) == Carried::Indicator("NL-LATE-1".into())
    })
    .await;
    let log: Vec<Envelope> = fetch_all(&be_risk, 0)
        .await
        .into_iter()
        .filter_map(|d| d.envelope)
        .collect();
    assert_eq!(
        sent_by(&log, NL),
        vec![
            Carried::Indicator("NL-LATE-2".into()),
            Carried::Indicator("NL-LATE-1".into())
        ]
    );
    // A delivered message is not retried.
    assert!(!store
        .outbox_retry(dead.id, aedgate::clock::now_ms())
        .await
        .unwrap());
    shutdown_all(vec![nl, be]).await;
}

#[tokio::test]
async fn a_resend_after_a_lost_receipt_is_answered_duplicate_and_counts_as_delivered_once() {
    let fed = Federation::standard();
    let gateways = start_network(&fed, &[NL, BE]).await;
    let nl = &gateways[0];
    let mut nl_risk = fed.connect(NL_RISK, nl).await;
    publish(&mut nl_risk, &indicator("NL-LOST-1", Tlp::Green, "term")).await;
    let outbox = await_outbox(nl, |entries| {
        entries.len() == 1 && entries[0].state == OutboxState::Delivered
    })
    .await;
    let first = outbox[0].receipt.clone().unwrap();
    assert_eq!(first.disposition, Disposition::Accepted as i32);
    drop(nl_risk);
    let mut gateways = gateways;
    let be = gateways.pop().unwrap();
    let nl = gateways.pop().unwrap();
    nl.shutdown().await.unwrap();

    // The crash of §6 between the peer's commit and ours, made exact: NL's record of the
    // delivery is undone while NL is stopped.
    {
        use sqlx::Connection;
        let id = i64::try_from(outbox[0].id).unwrap();
        // `$1` is a parameter on both databases.
        let undo = "UPDATE outbox SET state = 'pending', receipt = NULL, done_at_ms = NULL \
                    WHERE id = $1";
        let changed = match fed.gateway_config(NL).store_url {
            Some(url) => {
                let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                let done = sqlx::query(undo).bind(id).execute(&mut conn).await;
                done.unwrap().rows_affected()
            }
            None => {
                let db = fed.path().join("data/adm-NL/aedgate.db");
                let url = format!("sqlite://{}", db.display());
                let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                let done = sqlx::query(undo).bind(id).execute(&mut conn).await;
                done.unwrap().rows_affected()
            }
        };
        assert_eq!(changed, 1);
    }
    let nl = fed.start(NL).await;
    nl.set_peer_endpoint(BE, &format!("https://{}", be.local_addr()));
    let outbox = await_outbox(&nl, |entries| entries[0].state == OutboxState::Delivered).await;
    let again = outbox[0].receipt.clone().unwrap();
    assert_eq!(again.disposition, Disposition::Duplicate as i32);
    assert_eq!(again.log_index, first.log_index);
    assert_eq!(again.received_at_ms, first.received_at_ms);
    // Stored once in BE.
    let be_risk = fed.connect(BE_RISK, &be).await;
    let log: Vec<Envelope> = fetch_all(&be_risk, 0)
        .await
        .into_iter()
        .filter_map(|d| d.envelope)
        .collect();
    assert_eq!(
        sent_by(&log, NL),
        vec![Carried::Indicator("NL-LOST-1".into())]
    );
    shutdown_all(vec![nl, be]).await;
}

/// NL's FORWARDED_DECLARATION of a partner's original envelope.
fn forward(as_nl: &Participant, original: &Envelope) -> Envelope {
    as_nl.seal(
        MessageType::ForwardedDeclaration,
        Bytes::from(original.encode_to_vec()),
        &original.header.as_ref().unwrap().message_id,
    )
}

#[tokio::test]
async fn be_enforces_the_rules_itself_on_what_nls_gateway_identity_submits() {
    let fed = Federation::standard();
    let gateways = start_network(&fed, &[NL, BE]).await;
    let (nl, be) = (&gateways[0], &gateways[1]);
    // NL's gateway, as BE sees it: NL's TLS certificate and NL's administration key.
    let mut as_nl = connect_as_gateway(&fed, NL, BE, be).await;
    let store = &be.state().store;
    let mut refused_ids = Vec::new();

    // Indicators the NL–BE agreement (up to AMBER, no personal data) does not cover.
    for (id, tlp, personal_data) in [
        ("NL-PUSH-RED", Tlp::Red, false),
        ("NL-PUSH-STRICT", Tlp::AmberStrict, false),
        ("NL-PUSH-PD", Tlp::Amber, true),
        ("NL-PUSH-CLEAR-PD", Tlp::Clear, true),
    ] {
        let pushed = shared(id, tlp, personal_data, "replica", OutcomeCode::DoNotLoad);
        let envelope = as_nl.seal(
            MessageType::RiskIndicator,
            Bytes::from(pushed.encode_to_vec()),
            "",
        );
        refused_ids.push(envelope.header.as_ref().unwrap().message_id.clone());
        let status = refused(as_nl.submit(envelope).await);
        assert_eq!(
            status.code(),
            tonic::Code::PermissionDenied,
            "{id}: {status:?}"
        );
        assert_eq!(reason(&status), "NOT_AUTHORIZED", "{id}: {status:?}");
    }
    // The control: one the agreement covers is accepted from the same client.
    let allowed = shared(
        "NL-PUSH-AMBER",
        Tlp::Amber,
        false,
        "replica",
        OutcomeCode::DoNotLoad,
    );
    let envelope = as_nl.seal(
        MessageType::RiskIndicator,
        Bytes::from(allowed.encode_to_vec()),
        "",
    );
    let receipt = as_nl
        .submit(envelope)
        .await
        .expect("covered by the agreement");
    assert_eq!(receipt.disposition, Disposition::Accepted as i32);
    let in_force: Vec<String> = store
        .indicators()
        .await
        .unwrap()
        .into_iter()
        .map(|(i, _, _)| i.indicator_id)
        .collect();
    assert_eq!(in_force, vec!["NL-PUSH-AMBER".to_string()]);

    // Forwarded declarations: the partner's original envelope is checked as well.
    let shopco_nl = fed.connect(SHOPCO, nl).await;
    let mut broken = shopco_nl.seal_declaration(&bound_for_belgium("FWD-SIG"));
    let signature = broken.signature.as_mut().unwrap();
    let mut value = signature.value.to_vec();
    value[7] ^= 0x40;
    signature.value = Bytes::from(value);
    let elsewhere = seal_as(
        &fed,
        SHOPCO,
        draft(SHOPCO, BE, &bound_for_belgium("FWD-TO-BE")),
    );
    let not_for_be = shopco_nl.seal_declaration(&declaration(&lrn("FWD-NL")));
    let cases = [
        (&broken, tonic::Code::Unauthenticated, "SIGNATURE_INVALID"),
        (
            &elsewhere,
            tonic::Code::InvalidArgument,
            "VALIDATION_FAILED",
        ),
        (
            &not_for_be,
            tonic::Code::InvalidArgument,
            "VALIDATION_FAILED",
        ),
    ];
    let mut outer_ids = Vec::new();
    for (original, code, expected_reason) in cases {
        let envelope = forward(&as_nl, original);
        outer_ids.push(envelope.header.as_ref().unwrap().message_id.clone());
        let status = refused(as_nl.submit(envelope).await);
        let lrn = Envelope::decode(Bytes::from(original.encode_to_vec()))
            .ok()
            .and_then(|e| aedgate::proto::v1::AdvanceDeclaration::decode(e.payload).ok())
            .map(|d| d.lrn)
            .unwrap_or_default();
        assert_eq!(status.code(), code, "{lrn}: {status:?}");
        assert_eq!(reason(&status), expected_reason, "{lrn}: {status:?}");
    }
    // The control: a well-formed forward is accepted and the declaration is on file in BE.
    let good = shopco_nl.seal_declaration(&bound_for_belgium("FWD-OK"));
    let receipt = as_nl
        .submit(forward(&as_nl, &good))
        .await
        .expect("a valid forward");
    assert_eq!(receipt.disposition, Disposition::Accepted as i32);
    let good_id = &good.header.as_ref().unwrap().message_id;
    assert!(store.declaration_status(good_id).await.unwrap().is_some());

    // Nothing refused left a trace in BE.
    for id in refused_ids.iter().chain(&outer_ids) {
        assert!(store.envelope(id).await.unwrap().is_none(), "{id} stored");
    }
    for original in [&broken, &elsewhere, &not_for_be] {
        let id = &original.header.as_ref().unwrap().message_id;
        assert!(
            store.declaration_status(id).await.unwrap().is_none(),
            "{id} on file"
        );
    }
    shutdown_all(gateways).await;
}

#[tokio::test]
async fn the_recorded_error_of_a_refused_peer_certificate_says_it_was_the_certificate() {
    let fed = Federation::standard();
    let nl = start_adjusted(&fed, NL, |c| {
        c.outbox = fast_retries(Duration::from_secs(600))
    })
    .await;
    let other = Federation::standard();
    let impostor = other.start(BE).await;
    nl.set_peer_endpoint(BE, &format!("https://{}", impostor.local_addr()));
    let mut nl_risk = fed.connect(NL_RISK, &nl).await;
    publish(&mut nl_risk, &indicator("NL-CERT-WHY", Tlp::Green, "term")).await;
    let outbox = await_outbox(&nl, |entries| entries[0].attempts >= 1).await;
    // The cause is in the error's source chain ("invalid peer certificate: ..."), but the
    // recorded text is "cannot reach the peer: cannot connect to https://...: transport
    // error", which an operator cannot tell from a gateway that is down.
    assert!(
        outbox[0].last_error.contains("certificate"),
        "{}",
        outbox[0].last_error
    );
    shutdown_all(vec![nl, impostor]).await;
}

/// A peer built only for this test: BE's real certificate, but its `Submit` answers with
/// a receipt signed by the wrong key (here: with a flipped signature byte).
struct ForgingPeer {
    key: aedgate::core::crypto::SigningKey,
    key_id: String,
    submitted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

#[tonic::async_trait]
impl aedgate::proto::v1::gateway_server::Gateway for ForgingPeer {
    async fn submit(
        &self,
        request: tonic::Request<Envelope>,
    ) -> Result<tonic::Response<aedgate::proto::v1::Receipt>, tonic::Status> {
        self.submitted
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let envelope = request.into_inner();
        let header = envelope.header.unwrap_or_default();
        let digest = aedgate::core::envelope::envelope_digest(&header);
        let mut receipt = aedgate::core::envelope::sign_receipt(
            &aedgate::core::envelope::ReceiptFields {
                message_id: &header.message_id,
                receiver: BE,
                received_at_ms: aedgate::clock::now_ms(),
                envelope_digest: &digest,
                disposition: aedgate::proto::v1::Disposition::Accepted as i32,
                log_index: 0,
            },
            &self.key,
            &self.key_id,
        );
        if let Some(signature) = receipt.signature.as_mut() {
            let mut value = signature.value.to_vec();
            value[0] ^= 1;
            signature.value = value.into();
        }
        Ok(tonic::Response::new(receipt))
    }
}

#[tokio::test]
async fn a_peer_whose_receipt_does_not_verify_is_not_trusted_and_the_message_is_retried() {
    let fed = Federation::standard();
    let nl = start_adjusted(&fed, NL, |c| {
        c.outbox = fast_retries(Duration::from_secs(600))
    })
    .await;
    let be_config = fed.gateway_config(BE);
    let submitted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let forging = ForgingPeer {
        key: fed.signing_key(BE),
        key_id: fed.key_id(BE),
        submitted: submitted.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = aedgate::tls::server_config(
        &be_config.identity,
        &be_config.trust,
        "wco-ecom.test",
        &be_config.tls,
    )
    .unwrap();
    let (_tls_tx, tls_rx) = tokio::sync::watch::channel(tls);
    let incoming = tokio_stream::wrappers::ReceiverStream::new(aedgate::tls::accept_loop(
        listener,
        tls_rx,
        "wco-ecom.test".into(),
        Duration::from_secs(5),
        aedgate::limits::ParticipantLimits::new(Default::default()),
        Default::default(),
    ));
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(aedgate::proto::v1::gateway_server::GatewayServer::new(
                forging,
            ))
            .serve_with_incoming(incoming),
    );
    nl.set_peer_endpoint(BE, &format!("https://{addr}"));

    let mut nl_risk = fed.connect(NL_RISK, &nl).await;
    publish(&mut nl_risk, &indicator("NL-FORGED-1", Tlp::Green, "term")).await;
    let outbox = await_outbox(&nl, |entries| {
        entries.len() == 1 && entries[0].attempts >= 2
    })
    .await;
    let entry = &outbox[0];
    assert_eq!(
        entry.state,
        OutboxState::Pending,
        "never counted as delivered"
    );
    assert!(
        entry.receipt.is_none(),
        "the forged receipt is not kept as proof"
    );
    assert!(
        entry.last_error.contains("receipt is not valid evidence")
            && entry.last_error.contains("signature"),
        "{}",
        entry.last_error
    );
    assert!(submitted.load(std::sync::atomic::Ordering::SeqCst) >= 2);

    // The real BE takes over at the same peer id: delivered, with a receipt that verifies.
    server.abort();
    let be = fed.start(BE).await;
    nl.set_peer_endpoint(BE, &format!("https://{}", be.local_addr()));
    let outbox = await_outbox(&nl, |entries| entries[0].state == OutboxState::Delivered).await;
    assert_eq!(outbox[0].receipt.as_ref().unwrap().receiver, BE);
    shutdown_all(vec![nl, be]).await;
}
