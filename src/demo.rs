//! `aedgate demo`: the whole core path on one screen, for a customs officer or an
//! integrator seeing aedgate for the first time. It builds a development federation in a
//! temporary folder and starts the gateways of two administrations, NL and BE, on their
//! embedded stores, linked under the federation's agreement `mou-nl-be-2026`. Both risk
//! units publish risk indicators, which each gateway shares with the other as far as the
//! agreement allows. Then it files a realistic batch with adm/NL as two partners — clean
//! declarations, a network resend, vague or inconsistent data, a tampered message, a spoofed
//! sender — and says what happened to each, in words, with the evidence the partner holds.
//! A second part follows consignments that the indicators select through their outcomes —
//! release, request for information, screening, control on arrival, Do Not Load — as the
//! partners fetch them, signature-checked, and answer them. A third part is between the
//! administrations (§8): the indicators in force at adm/BE, those that stayed in NL (RED,
//! and above the agreement's TLP), what each gateway delivered with the peer's receipt, and
//! a declaration filed in NL for delivery in Belgium, forwarded to adm/BE and assessed there.
//!
//! The indicators are chosen so that the batch of the first part matches none of them: that
//! part is about admission, and each of its accepted declarations is simply released.

use crate::client::{check_delivery, fold_indicators, outcome_of, ClientError, Participant};
use crate::config::{ClientConfig, GatewayConfig};
use crate::core::envelope::Draft;
use crate::core::receipt::verify_receipt;
use crate::core::sharing::tlp_level;
use crate::core::trust::{AgreementEntry, Exchange, TlpLevel};
use crate::core::validation::sample_declaration;
use crate::pki::PkiSpec;
use crate::proto::v1::{
    AdvanceDeclaration, Criteria, Disposition, Envelope, FetchRequest, Item, MessageType, Money,
    Outcome, OutcomeCode, Party, Receipt, ReferralResponse, RiskIndicator, ScreeningResult,
    SignedTreeHead, StatusRequest, StatusResponse, Tlp,
};
use crate::render::{
    code_name, columns, describe_agreement, describe_refusal, goods_summary, indicator_table,
    outcome_facts, short_name, state_in_brief, state_name, tlp_level_name, type_name, wrap, Align,
};
use crate::server::RunningGateway;
use crate::store::{OutboxEntry, OutboxState};
use bytes::Bytes;
use prost::Message;
use std::fmt::Write as _;

const NL: &str = "adm/NL";
const SHOPCO: &str = "ptr/NL/shopco";
const FLYFAST: &str = "ptr/NL/flyfast";
const BPOST: &str = "ptr/BE/bpost-demo";
const RISK_UNIT: &str = "adm/NL/risk-unit";
const BE: &str = "adm/BE";
const BE_RISK_UNIT: &str = "adm/BE/risk-unit";
const DAY_MS: i64 = 86_400_000;

fn eur(amount_minor: i64) -> Option<Money> {
    Some(Money {
        currency: "EUR".into(),
        amount_minor,
    })
}

fn item(
    description: &str,
    hs_code: &str,
    quantity: u32,
    value: i64,
    origin: &str,
    mass_g: i64,
) -> Item {
    Item {
        description: description.into(),
        hs_code: hs_code.into(),
        quantity,
        value: eur(value),
        origin_country: origin.into(),
        mass_g,
        listing_url: String::new(),
        listed_price: None,
    }
}

fn shipment(
    lrn: &str,
    seller: &str,
    seller_country: &str,
    house_ref: &str,
    items: Vec<Item>,
) -> AdvanceDeclaration {
    let mut d = sample_declaration(lrn);
    if let Some(s) = d.seller.as_mut() {
        s.name = seller.into();
        s.country = seller_country.into();
    }
    d.country_of_dispatch = seller_country.into();
    if let Some(t) = d.transport.as_mut() {
        t.house_ref = house_ref.into();
    }
    d.gross_mass_g = items.iter().map(|i| i.mass_g).sum::<i64>() + 150;
    d.items = items;
    d
}

/// What one line of the demo did and what came back.
struct Line {
    filer: &'static str,
    lrn: String,
    goods: String,
    story: &'static str,
    result: Result<Receipt, ClientError>,
}

async fn client(
    dir: &std::path::Path,
    id: &str,
    endpoint: &str,
    gateway: &str,
) -> Result<Participant, String> {
    let path = dir.join(format!("{}.client.toml", crate::core::ids::slug(id)));
    let mut config = ClientConfig::load(&path).map_err(|e| e.to_string())?;
    config.endpoint = endpoint.to_owned();
    config.gateway = gateway.to_owned();
    Participant::connect(config)
        .await
        .map_err(|e| e.to_string())
}

/// A gateway configuration of the federation in `dir`, moved to a free port.
fn gateway_config(dir: &std::path::Path, admin: &str) -> Result<GatewayConfig, String> {
    let path = dir.join(format!("{}.gateway.toml", crate::core::ids::slug(admin)));
    let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    let text: Vec<&str> = text
        .lines()
        .map(|line| {
            if line.starts_with("listen = ") {
                "listen = \"127.0.0.1:0\""
            } else {
                line
            }
        })
        .collect();
    std::fs::write(&path, text.join("\n") + "\n").map_err(|e| e.to_string())?;
    GatewayConfig::load(&path).map_err(|e| e.to_string())
}

/// Waits until every message in the gateway's outbox is delivered (the forwarder announces
/// each result on the store's outbox signal); a dead letter or a minute without delivery
/// is an error.
async fn delivered(gateway: &RunningGateway, admin: &str) -> Result<Vec<OutboxEntry>, String> {
    let store = &gateway.state().store;
    let mut signal = store.outbox_signal();
    let wait = async {
        loop {
            signal.borrow_and_update();
            let entries = store.outbox(None).await.map_err(|e| e.to_string())?;
            if let Some(dead) = entries
                .iter()
                .find(|e| e.state == OutboxState::DeadLettered)
            {
                return Err(format!(
                    "{admin} could not deliver {} to {}: {}",
                    dead.message_id, dead.peer, dead.last_error
                ));
            }
            if entries.iter().all(|e| e.state == OutboxState::Delivered) {
                return Ok(entries);
            }
            if signal.changed().await.is_err() {
                return Err(format!("the store of {admin} closed"));
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), wait)
        .await
        .map_err(|_| format!("the outbox of {admin} was not delivered within a minute"))?
}

/// Publishes a risk unit's indicators, each once the gateway has delivered the copies of the
/// previous ones to its peers, so that the two gateways' logs interleave the same way on
/// every run and the log entries the demo names stay the same.
async fn publish(
    risk_unit: &mut Participant,
    gateway: &RunningGateway,
    indicators: &[RiskIndicator],
) -> Result<(), String> {
    for indicator in indicators {
        let envelope = risk_unit.seal(
            MessageType::RiskIndicator,
            Bytes::from(indicator.encode_to_vec()),
            "",
        );
        risk_unit.submit(envelope).await.map_err(|e| {
            format!(
                "risk indicator {} refused by {}: {e}",
                indicator.indicator_id, risk_unit.gateway
            )
        })?;
        delivered(gateway, &risk_unit.gateway).await?;
    }
    Ok(())
}

/// Runs the demo and prints its report on stdout.
pub async fn run() -> Result<(), String> {
    let dir = tempfile::Builder::new()
        .prefix("aedgate-demo-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let pki = crate::pki::generate(PkiSpec::standard()).map_err(|e| e.to_string())?;
    pki.write(dir.path(), false).map_err(|e| e.to_string())?;
    let config = gateway_config(dir.path(), NL)?;
    let be_config = gateway_config(dir.path(), BE)?;
    let data_dir = config.data_dir.clone();
    let be_data_dir = be_config.data_dir.clone();
    let key_id = config.signer.key_id.clone();
    let trust_version = config.trust.version();
    // Both gateways run, and know where the other listens, before anything is published:
    // every message for the peer is delivered at the first attempt.
    let gateway = crate::server::start(config)
        .await
        .map_err(|e| e.to_string())?;
    let be_gateway = crate::server::start(be_config)
        .await
        .map_err(|e| e.to_string())?;
    let endpoint = format!("https://{}", gateway.local_addr());
    let be_endpoint = format!("https://{}", be_gateway.local_addr());
    gateway.set_peer_endpoint(BE, &be_endpoint);
    be_gateway.set_peer_endpoint(NL, &endpoint);

    let mut shopco = client(dir.path(), SHOPCO, &endpoint, NL).await?;
    let mut flyfast = client(dir.path(), FLYFAST, &endpoint, NL).await?;
    let mut bpost = client(dir.path(), BPOST, &endpoint, NL).await?;
    let mut risk_unit = client(dir.path(), RISK_UNIT, &endpoint, NL).await?;
    let mut be_risk_unit = client(dir.path(), BE_RISK_UNIT, &be_endpoint, BE).await?;
    // ShopCo is registered with both administrations; its one client configuration is
    // for adm/NL, pointed here at adm/BE.
    let shopco_at_be = client(dir.path(), SHOPCO, &be_endpoint, BE).await?;
    let name = |id: &str| {
        shopco
            .trust()
            .participant(id)
            .map(|p| p.name.clone())
            .unwrap_or_else(|| id.to_owned())
    };
    let (nl_name, be_name) = (name(NL), name(BE));
    let agreement = shopco
        .trust()
        .agreement(NL, BE, Exchange::RiskIndicator)
        .cloned()
        .ok_or("the federation has no agreement between adm/NL and adm/BE")?;

    println!("aedgate demo");
    println!("============");
    println!(
        "Federation wco-ecom.test, development PKI in {} (deleted at exit)",
        dir.path().display()
    );
    println!(
        "Gateway of {nl_name} (adm/NL) on {}: mutual TLS 1.3, store {}",
        gateway.local_addr(),
        data_dir.display()
    );
    println!(
        "Gateway of {be_name} (adm/BE) on {}: mutual TLS 1.3, store {}",
        be_gateway.local_addr(),
        be_data_dir.display()
    );
    println!(
        "{}",
        wrap(
            &format!("Agreement {}", describe_agreement(&agreement)),
            0,
            100
        )
    );
    println!("Partners: ShopCo B.V. (marketplace registered with NL and BE, Ed25519 key),");
    println!("          FlyFast Express (carrier, ECDSA P-256 key),");
    println!("          Demo Post BE (postal operator registered with Belgium only)\n");

    // The risk units' indicators are in force, and shared, before the first declaration
    // arrives.
    let indicators = indicators(crate::store::now_ms());
    let be_indicators = be_indicators(crate::store::now_ms());
    publish(&mut risk_unit, &gateway, &indicators).await?;
    publish(&mut be_risk_unit, &be_gateway, &be_indicators).await?;
    let log = risk_unit
        .fetch_all(0)
        .await
        .map_err(|status| ClientError::Refused(status).to_string())?;
    let in_force_nl = fold_indicators(&log, NL);
    println!(
        "Risk indicators: the NL risk unit (adm/NL/risk-unit) published {} indicators and the BE risk unit",
        indicators.len()
    );
    println!(
        "(adm/BE/risk-unit) {}, each signed and acknowledged with a signed receipt by its own gateway.",
        be_indicators.len()
    );
    println!(
        "Each gateway shares its own with the other as far as the agreement allows (see \"Between"
    );
    println!(
        "administrations\" below). In force at adm/NL, as read back from its log with Fetch:\n"
    );
    println!("{}", indicator_table(&in_force_nl, crate::store::now_ms()));
    let mut lines = Vec::new();

    // Clean declarations from the marketplace, one at a time.
    let d1 = sample_declaration("SC-2026-000101");
    let e1 = shopco.seal_declaration(&d1);
    let r = shopco.submit(e1.clone()).await;
    lines.push(Line {
        filer: "ShopCo",
        lrn: d1.lrn.clone(),
        goods: goods_summary(&d1),
        story: "",
        result: r,
    });
    let d2 = shipment(
        "SC-2026-000102",
        "Bright Audio Ltd",
        "GB",
        "EXP7723419846NL",
        vec![item(
            "Wireless in-ear earphones with charging case",
            "851830",
            1,
            3_450,
            "CN",
            120,
        )],
    );
    let e2 = shopco.seal_declaration(&d2);
    let r = shopco.submit(e2.clone()).await;
    lines.push(Line {
        filer: "ShopCo",
        lrn: d2.lrn.clone(),
        goods: goods_summary(&d2),
        story: "",
        result: r,
    });

    // The carrier files a batch over one stream; one of them has an invalid IOSS number.
    let mut batch = [
        shipment(
            "FF-88120001",
            "Anatolia Tekstil A.S.",
            "TR",
            "FF120001",
            vec![item(
                "Men's T-shirts of knitted cotton, printed",
                "610910",
                3,
                2_997,
                "TR",
                540,
            )],
        ),
        shipment(
            "FF-88120002",
            "Kyoto Ceramics K.K.",
            "JP",
            "FF120002",
            vec![item(
                "Porcelain tea set, 6 cups and teapot",
                "691110",
                1,
                6_400,
                "JP",
                2_300,
            )],
        ),
        shipment(
            "FF-88120003",
            "Gadget Hub Store",
            "HK",
            "FF120003",
            vec![item(
                "Smartphone protective case of silicone",
                "392690",
                5,
                1_250,
                "CN",
                200,
            )],
        ),
    ];
    if let Some(rev) = batch[2].revenue.as_mut() {
        rev.ioss_number = "IM52800".into();
    }
    let envelopes: Vec<Envelope> = batch.iter().map(|d| flyfast.seal_declaration(d)).collect();
    let results = flyfast
        .submit_stream(envelopes)
        .await
        .map_err(|e| e.to_string())?;
    for (d, result) in batch.iter().zip(results) {
        let story = if d.lrn.ends_with('3') {
            "IOSS number too short"
        } else {
            "sent in one stream"
        };
        lines.push(Line {
            filer: "FlyFast",
            lrn: d.lrn.clone(),
            goods: goods_summary(d),
            story,
            result,
        });
    }

    // A network retry: the same signed envelope again.
    let r = shopco.submit(e1.clone()).await;
    lines.push(Line {
        filer: "ShopCo",
        lrn: d1.lrn.clone(),
        goods: goods_summary(&d1),
        story: "network retry of the same message",
        result: r,
    });

    // Data customs cannot assess.
    let vague = shipment(
        "SC-2026-000103",
        "Mystery Deals",
        "CN",
        "EXP7723419847NL",
        vec![item("gift", "980000", 1, 1_500, "CN", 300)],
    );
    let r = shopco.submit(shopco.seal_declaration(&vague)).await;
    lines.push(Line {
        filer: "ShopCo",
        lrn: vague.lrn.clone(),
        goods: goods_summary(&vague),
        story: "vague goods, no such HS chapter",
        result: r,
    });
    let mut mixed = sample_declaration("SC-2026-000104");
    if let Some(v) = mixed.items[1].value.as_mut() {
        v.currency = "USD".into();
    }
    let r = shopco.submit(shopco.seal_declaration(&mixed)).await;
    lines.push(Line {
        filer: "ShopCo",
        lrn: mixed.lrn.clone(),
        goods: goods_summary(&mixed),
        story: "values in two currencies",
        result: r,
    });
    let reuse = sample_declaration("SC-2026-000102");
    let r = shopco.submit(shopco.seal_declaration(&reuse)).await;
    lines.push(Line {
        filer: "ShopCo",
        lrn: reuse.lrn.clone(),
        goods: goods_summary(&reuse),
        story: "LRN already used",
        result: r,
    });

    // Attempts to rewrite or forge.
    let mut cheaper = d2.clone();
    if let Some(v) = cheaper.items[0].value.as_mut() {
        v.amount_minor = 900;
    }
    let header = e2.header.clone().unwrap_or_default();
    let rewritten = shopco.sign(draft(header.message_id.clone(), SHOPCO, &cheaper));
    let r = shopco.submit(rewritten).await;
    lines.push(Line {
        filer: "ShopCo",
        lrn: cheaper.lrn.clone(),
        goods: goods_summary(&cheaper),
        story: "same message id, lower value",
        result: r,
    });
    let mut in_transit = shopco.seal_declaration(&sample_declaration("SC-2026-000105"));
    in_transit.payload = Bytes::from(cheaper.encode_to_vec());
    let r = shopco.submit(in_transit).await;
    lines.push(Line {
        filer: "ShopCo",
        lrn: "SC-2026-000105".into(),
        goods: goods_summary(&cheaper),
        story: "payload altered after signing",
        result: r,
    });
    let spoof_decl = sample_declaration("FF-88129999");
    let spoofed = shopco.sign(draft(
        uuid::Uuid::now_v7().hyphenated().to_string(),
        FLYFAST,
        &spoof_decl,
    ));
    let r = shopco.submit(spoofed).await;
    lines.push(Line {
        filer: "ShopCo",
        lrn: spoof_decl.lrn.clone(),
        goods: goods_summary(&spoof_decl),
        story: "ShopCo posing as FlyFast",
        result: r,
    });
    let be_only = sample_declaration("BP-2026-4711");
    let r = bpost.submit(bpost.seal_declaration(&be_only)).await;
    lines.push(Line {
        filer: "Demo Post",
        lrn: be_only.lrn.clone(),
        goods: goods_summary(&be_only),
        story: "registered with Belgium only",
        result: r,
    });

    println!("{}", report(&lines, &key_id, trust_version));

    let accepted: Vec<(&'static str, Receipt)> = lines
        .iter()
        .filter_map(|line| match &line.result {
            Ok(r) if r.disposition == Disposition::Accepted as i32 => Some((line.filer, r.clone())),
            _ => None,
        })
        .collect();
    // A witness (here the risk unit) keeps the head it saw after the admission batch.
    let (batch_head, _) = risk_unit
        .tree_head()
        .await
        .map_err(|e| format!("tree head: {e}"))?;
    let mut officer = Officer {
        trust_version,
        stories: 0,
        cases: Vec::new(),
    };
    let own = in_force_nl.values().filter(|i| i.issuer == NL).count();
    officer
        .assessment(
            &mut shopco,
            &mut flyfast,
            &accepted,
            &d1,
            &format!(
                "the {} indicators in force at adm/NL ({own} of its own and {} received from adm/BE)",
                in_force_nl.len(),
                in_force_nl.len() - own
            ),
        )
        .await?;

    let exchange = BetweenAdministrations {
        nl: &gateway,
        be: &be_gateway,
        be_risk_unit: &be_risk_unit,
        shopco_at_be: &shopco_at_be,
        agreement: &agreement,
        trust_version,
    };
    exchange.run(&mut shopco, &indicators).await?;

    let stored = gateway
        .state()
        .store
        .log_size()
        .await
        .map_err(|e| e.to_string())?;
    let log = risk_unit
        .fetch_all(0)
        .await
        .map_err(|status| ClientError::Refused(status).to_string())?;
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
         {} forwarded to adm/BE, {} referral responses and {} signed outcomes (one for every accepted declaration \
         and every answered referral).",
        log.len(),
        count(MessageType::RiskIndicator, "", ""),
        count(MessageType::RiskIndicator, RISK_UNIT, NL),
        count(MessageType::RiskIndicator, NL, BE),
        count(MessageType::RiskIndicator, BE, NL),
        count(MessageType::Declaration, "", ""),
        count(MessageType::ForwardedDeclaration, NL, BE),
        count(MessageType::ReferralResponse, "", ""),
        count(MessageType::Outcome, "", ""),
    );
    audit(&shopco, &risk_unit, &accepted, &batch_head).await?;
    be_gateway.shutdown().await.map_err(|e| e.to_string())?;
    gateway.shutdown().await.map_err(|e| e.to_string())?;
    verify_offline(&data_dir, &batch_head).await
}

/// §9 as a partner and a witness use it: a receipt proven in the signed log, and the log
/// proven to have only grown since an earlier head.
async fn audit(
    shopco: &Participant,
    witness: &Participant,
    accepted: &[(&str, Receipt)],
    batch_head: &SignedTreeHead,
) -> Result<(), String> {
    println!("\nVerifiable audit log (PROTOCOL.md §9)");
    let Some((_, receipt)) = accepted.iter().find(|(filer, _)| *filer == "ShopCo") else {
        return Err("the demo batch has no accepted ShopCo declaration".into());
    };
    let head = shopco
        .prove_receipt(receipt)
        .await
        .map_err(|e| format!("receipt not proven: {e}"))?;
    println!(
        "  ShopCo proves from its receipt alone that message {} is entry {} of adm/NL's log:\n  \
         receipt signature, tree head of {} entries signed by adm/NL, and the inclusion proof all verified.",
        receipt.message_id, receipt.log_index, head.tree_size
    );
    let now = witness
        .extend_head(batch_head)
        .await
        .map_err(|e| format!("log not consistent: {e}"))?;
    println!(
        "  The risk unit, as a witness, kept the head of {} entries signed after the admission batch;\n  \
         the consistency proof shows the current head of {} entries extends it: nothing was removed or rewritten.",
        batch_head.tree_size, now.tree_size
    );
    Ok(())
}

/// What an operator runs after shutdown: the whole log recomputed from the store.
async fn verify_offline(data_dir: &std::path::Path, head: &SignedTreeHead) -> Result<(), String> {
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
                 every digest and subtree hash matches, and so does the witness's head."
            );
            Ok(())
        }
        other => Err(format!("the stored log does not verify: {other:?}")),
    }
}

/// The risk unit's indicators, valid from `now_ms`: realistic targeting rules of the kinds
/// customs risk units run, none of which selects the admission batch.
fn indicators(now_ms: i64) -> Vec<RiskIndicator> {
    // Whole seconds, so that the list shows plain timestamps.
    let until = |days: i64| (now_ms + days * DAY_MS) / 1000 * 1000;
    let indicator = |id: &str,
                     title: &str,
                     rationale: &str,
                     tlp: Tlp,
                     criteria: Criteria,
                     action: OutcomeCode,
                     valid_until_ms: i64| RiskIndicator {
        indicator_id: id.into(),
        version: 1,
        title: title.into(),
        rationale: rationale.into(),
        tlp: tlp as i32,
        personal_data: false,
        criteria: Some(criteria),
        action: action as i32,
        valid_until_ms,
    };
    vec![
        indicator(
            "NL-2026-RFI-0107",
            "Counterfeit sports footwear sold by Putian Fleetfoot Trading",
            "212 pairs of counterfeit branded trainers seized in 31 parcels from this seller, \
             declared as unbranded running shoes; ask for brand and supplier invoice.",
            Tlp::Amber,
            Criteria {
                hs_prefixes: vec!["6402".into(), "6403".into(), "6404".into()],
                seller_name_terms: vec!["Fleetfoot Trading".into()],
                ..Default::default()
            },
            OutcomeCode::RequestForInformation,
            until(180),
        ),
        indicator(
            "NL-2026-COA-0042",
            "Mobile phones and smartwatches declared at EUR 20.00 or less",
            "Undervaluation of telephones and wearables (HS 8517) to evade import VAT; \
             verify the value against the listing and payment on arrival.",
            Tlp::Green,
            Criteria {
                hs_prefixes: vec!["8517".into()],
                max_value: eur(2_000),
                ..Default::default()
            },
            OutcomeCode::ControlOnArrival,
            0,
        ),
        indicator(
            "NL-2026-SCR-0009",
            "Printer toner cartridges as air cargo: high-risk cargo screening",
            "Toner cartridges are a known concealment method for improvised explosive devices \
             in air cargo; have them screened before loading.",
            Tlp::AmberStrict,
            Criteria {
                hs_prefixes: vec!["844399".into()],
                description_terms: vec!["toner".into()],
                ..Default::default()
            },
            OutcomeCode::RequestForScreening,
            until(90),
        ),
        indicator(
            "NL-2026-DNL-0003",
            "Lithium-ion battery packs offered as general air cargo (UN 3480)",
            "Loose lithium-ion battery packs declared as general cargo bypass dangerous-goods \
             acceptance; two cargo fires in 2026. Must not be loaded.",
            Tlp::Amber,
            Criteria {
                hs_prefixes: vec!["8507".into()],
                description_terms: vec![
                    "lithium battery pack".into(),
                    "lithium-ion battery pack".into(),
                ],
                ..Default::default()
            },
            OutcomeCode::DoNotLoad,
            until(30),
        ),
        indicator(
            "NL-2026-COA-0077",
            "Golden Lotus Health Trading: seller in an ongoing criminal investigation",
            "The seller is a suspect in an ongoing criminal investigation into falsified medicines \
             (erectile-dysfunction tablets). RED: for Douane NL and the investigation team only; \
             control every consignment on arrival and do not contact the seller or the platform.",
            Tlp::Red,
            Criteria {
                seller_name_terms: vec!["Golden Lotus Health".into()],
                ..Default::default()
            },
            OutcomeCode::ControlOnArrival,
            until(60),
        ),
    ]
}

/// The BE risk unit's indicator, valid from `now_ms`: shared with adm/NL under the
/// agreement, and so applied there too; it selects nothing the NL part of the demo files.
fn be_indicators(now_ms: i64) -> Vec<RiskIndicator> {
    vec![RiskIndicator {
        indicator_id: "BE-2026-RFI-0218".into(),
        version: 1,
        title: "Disposable e-cigarettes: sale banned in Belgium since 1 January 2025".into(),
        rationale: "Belgium bans the sale of disposable e-cigarettes since 1 January 2025; \
                    rechargeable, refillable devices remain allowed. Ask whether the devices can be \
                    recharged and refilled, and for the nicotine content of their liquid."
            .into(),
        tlp: Tlp::Amber as i32,
        personal_data: false,
        criteria: Some(Criteria {
            hs_prefixes: vec!["854340".into()],
            ..Default::default()
        }),
        action: OutcomeCode::RequestForInformation as i32,
        valid_until_ms: (now_ms + 365 * DAY_MS) / 1000 * 1000,
    }]
}

/// ShopCo's consignment for a buyer in Belgium, filed with adm/NL (where it enters the EU):
/// it matches BE's indicator and none of NL's own.
fn bound_for_belgium() -> AdvanceDeclaration {
    let mut d = story(
        shipment(
            "SC-2026-000301",
            "Shenzhen CloudMist Technology Co., Ltd.",
            "CN",
            "EXP7723419903NL",
            vec![item(
                "Disposable e-cigarettes, 600 puffs, nicotine salt liquid 20 mg/ml",
                "85434000",
                10,
                3_990,
                "CN",
                450,
            )],
        ),
        "SHOPCO-S-012554",
    );
    d.buyer = Some(Party {
        name: "Lotte Peeters".into(),
        street: "Meir 24".into(),
        city: "Antwerpen".into(),
        postcode: "2000".into(),
        country: "BE".into(),
        identifier: String::new(),
    });
    d.country_of_destination = "BE".into();
    d
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
fn proof_of_delivery(
    entry: &OutboxEntry,
    envelope_digest: &[u8],
    trust: &crate::core::trust::TrustList,
) -> String {
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

/// Prints an outcome as its partner fetched it from `p.gateway` (named after "fetched by"
/// when `from` is not empty), signature-checked, with its request text if `text`.
fn print_outcome(
    p: &Participant,
    from: &str,
    seq: u64,
    envelope: &Envelope,
    outcome: &Outcome,
    text: bool,
) {
    let check = match check_delivery(p.trust(), &p.gateway, envelope) {
        Ok(key_id) => format!("signature verified ({key_id})"),
        Err(why) => format!("SIGNATURE NOT VERIFIED: {why}"),
    };
    println!(
        "   ← OUTCOME {}, fetched by {}{from} as seq {seq}, {check}",
        code_name(outcome.code),
        p.id
    );
    println!("     {}", outcome_facts(outcome));
    if text && !outcome.request_text.is_empty() {
        println!("{}", wrap(&format!("“{}”", outcome.request_text), 5, 100));
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

/// The part of the demo between the two administrations (PROTOCOL.md §8): which indicators
/// crossed under the agreement and which did not, what each gateway delivered with its
/// proof, and a declaration forwarded to the administration of its destination.
struct BetweenAdministrations<'a> {
    nl: &'a RunningGateway,
    be: &'a RunningGateway,
    be_risk_unit: &'a Participant,
    shopco_at_be: &'a Participant,
    agreement: &'a AgreementEntry,
    trust_version: u64,
}

impl BetweenAdministrations<'_> {
    async fn run(
        &self,
        shopco: &mut Participant,
        nl_indicators: &[RiskIndicator],
    ) -> Result<(), String> {
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
                    self.agreement.id
                ),
                0,
                100
            )
        );
        let log = self
            .be_risk_unit
            .fetch_all(0)
            .await
            .map_err(|status| ClientError::Refused(status).to_string())?;
        let in_force_be = fold_indicators(&log, BE);
        println!(
            "\n{}",
            indicator_table(&in_force_be, crate::store::now_ms())
        );

        let trust = self.be_risk_unit.trust();
        let mut sent = sent_by(self.nl, NL, trust).await?;
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
                why_kept(indicator, self.agreement)
            );
        }
        sent.extend(sent_by(self.be, BE, trust).await?);
        println!(
            "\nWhat each gateway sent the other, from its outbox, with the peer's signed receipt it stored as proof"
        );
        println!(
            "of delivery (each receipt verified again here against trust list v{}):",
            self.trust_version
        );
        println!("{}", sent_table(&sent));

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
        let original = shopco.seal_declaration(&declaration);
        let receipt = shopco
            .submit(original.clone())
            .await
            .map_err(|e| format!("LRN {} refused: {e}", declaration.lrn))?;
        println!(
            "   ACCEPTED by adm/NL as log entry {}, declaration id {}",
            receipt.log_index, receipt.message_id
        );
        delivered(self.nl, NL).await?;
        let forwarded = sent_by(self.nl, NL, trust)
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
        let be_log = self
            .be_risk_unit
            .fetch_all(0)
            .await
            .map_err(|status| ClientError::Refused(status).to_string())?;
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

        let (seq, envelope, outcome) =
            await_outcome(self.shopco_at_be, &receipt.message_id).await?;
        println!("   Assessed at adm/BE against the indicators in force there:");
        print_outcome(
            self.shopco_at_be,
            " from adm/BE",
            seq,
            &envelope,
            &outcome,
            true,
        );
        let status = self
            .shopco_at_be
            .grpc()
            .status(StatusRequest {
                declaration_id: receipt.message_id.clone(),
            })
            .await
            .map_err(|status| ClientError::Refused(status).to_string())?
            .into_inner();
        println!(
            "   Status at adm/BE: {} — {}",
            state_name(status.state),
            state_in_brief(status.state)
        );
        let nl_outcomes = outcomes_for(shopco, &receipt.message_id).await?;
        let Some((seq, envelope, outcome)) = nl_outcomes.first() else {
            return Err(format!(
                "no outcome of adm/NL for declaration {}",
                receipt.message_id
            ));
        };
        println!(
            "   adm/NL assessed it as well, against the indicators in force at adm/NL, which include BE's:"
        );
        print_outcome(shopco, " from adm/NL", *seq, envelope, outcome, false);
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
}

/// Every message `gateway` of `admin` queued for its peers, oldest first, with what it
/// carries and the peer's receipt verified against `trust`.
async fn sent_by(
    gateway: &RunningGateway,
    admin: &'static str,
    trust: &crate::core::trust::TrustList,
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
        let mut stream = p
            .grpc()
            .fetch(FetchRequest {
                after_seq: 0,
                follow: true,
            })
            .await
            .map_err(|status| ClientError::Refused(status).to_string())?
            .into_inner();
        while let Some(delivery) = stream
            .message()
            .await
            .map_err(|status| ClientError::Refused(status).to_string())?
        {
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

/// What the partner does with an outcome that asks something of it.
enum Answer {
    Information(&'static str),
    Screening(ScreeningResult),
}

/// The second part of the demo: consignments followed through their outcomes, told the
/// way a customs officer follows a case.
struct Officer {
    trust_version: u64,
    stories: u8,
    /// Each story's final Status, for the summary.
    cases: Vec<StatusResponse>,
}

impl Officer {
    async fn assessment(
        &mut self,
        shopco: &mut Participant,
        flyfast: &mut Participant,
        accepted: &[(&'static str, Receipt)],
        clean: &AdvanceDeclaration,
        in_force: &str,
    ) -> Result<(), String> {
        println!("\nRisk assessment and outcomes (PROTOCOL.md §8)");
        println!("=============================================");
        println!(
            "{}",
            wrap(
                &format!(
                    "Every accepted declaration is assessed against {in_force} when it is committed \
                     and gets exactly one OUTCOME, signed by adm/NL, which the partner reads with Fetch and checks \
                     against trust list v{}. Outcomes never name the indicator, its criteria or its issuer.",
                    self.trust_version
                ),
                0,
                100
            )
        );
        let mut released = 0;
        for (filer, receipt) in accepted {
            let partner = if *filer == "FlyFast" {
                &*flyfast
            } else {
                &*shopco
            };
            let outcomes = outcomes_for(partner, &receipt.message_id).await?;
            if outcomes
                .iter()
                .all(|(_, _, o)| o.code == OutcomeCode::AssessmentComplete as i32)
            {
                released += 1;
            }
        }
        if released == accepted.len() {
            println!(
                "The {released} declarations accepted above matched no indicator: each was released (ASSESSMENT_COMPLETE)."
            );
        } else {
            println!(
                "Of the {} declarations accepted above, {released} were released (ASSESSMENT_COMPLETE).",
                accepted.len()
            );
        }

        let Some((_, receipt)) = accepted.iter().find(|(filer, _)| *filer == "ShopCo") else {
            return Err("the clean declaration was not accepted".into());
        };
        self.heading("Clean consignment: released at once", "ShopCo", clean);
        println!(
            "   accepted above as log entry {}, declaration id {}",
            receipt.log_index, receipt.message_id
        );
        self.follow(shopco, &receipt.message_id, 0).await?;
        self.status(shopco, &receipt.message_id).await?;

        let trainers = story(
            shipment(
                "SC-2026-000201",
                "Putian Fleetfoot Trading Co., Ltd.",
                "CN",
                "EXP7723419901NL",
                vec![item(
                    "Men's running shoes, mesh textile upper, rubber sole, size 43",
                    "64041100",
                    2,
                    2_800,
                    "CN",
                    1_400,
                )],
            ),
            "SHOPCO-S-009921",
        );
        self.heading(
            "Request for information, answered: trainers from a seller under watch",
            "ShopCo",
            &trainers,
        );
        let id = self.file(shopco, &trainers).await?;
        self.follow(shopco, &id, 0).await?;
        self.answer(
            shopco,
            &id,
            "ShopCo",
            Answer::Information(
                "Unbranded running shoes made in the seller's own factory in Putian; no logos or \
                 trademarks on the shoes, box or labels. Supplier invoice FT-2026-11873 and product \
                 photos are in ShopCo case 55120.",
            ),
        )
        .await?;
        self.follow(shopco, &id, 1).await?;
        self.status(shopco, &id).await?;

        let toner = story(
            shipment(
                "FF-88120104",
                "Zhuhai PrintPro Supplies Co., Ltd.",
                "CN",
                "FF120104",
                vec![item(
                    "Compatible toner cartridges for laser printers, black, CF259A",
                    "84439990",
                    4,
                    5_996,
                    "CN",
                    3_200,
                )],
            ),
            "PP-CN-22817",
        );
        self.heading(
            "Request for screening, screened CLEAR: toner cartridges by air",
            "FlyFast",
            &toner,
        );
        let id = self.file(flyfast, &toner).await?;
        self.follow(flyfast, &id, 0).await?;
        self.answer(
            flyfast,
            &id,
            "FlyFast",
            Answer::Screening(ScreeningResult::Clear),
        )
        .await?;
        self.follow(flyfast, &id, 1).await?;
        self.status(flyfast, &id).await?;

        let refills = story(
            shipment(
                "FF-88120105",
                "Office Supply Direct FZE",
                "AE",
                "FF120105",
                vec![item(
                    "Refilled toner cartridges for office laser printers",
                    "84439990",
                    2,
                    2_400,
                    "AE",
                    1_900,
                )],
            ),
            "OSD-AE-0419",
        );
        self.heading(
            "Request for screening, NOT CLEAR: the screening found a threat",
            "FlyFast",
            &refills,
        );
        let id = self.file(flyfast, &refills).await?;
        self.follow(flyfast, &id, 0).await?;
        self.answer(
            flyfast,
            &id,
            "FlyFast",
            Answer::Screening(ScreeningResult::NotClear),
        )
        .await?;
        self.follow(flyfast, &id, 1).await?;
        self.status(flyfast, &id).await?;
        let amendment = flyfast.seal(
            MessageType::Amendment,
            Bytes::from(refills.encode_to_vec()),
            &id,
        );
        match flyfast.submit(amendment).await {
            Err(ClientError::Refused(status)) => {
                let refusal = describe_refusal(&status);
                let first = refusal.lines().next().unwrap_or_default();
                println!("   FlyFast tries to amend it: {first} (a Do Not Load is final)");
            }
            Ok(_) => println!("   FlyFast tries to amend it: ACCEPTED (unexpected)"),
            Err(other) => return Err(other.to_string()),
        }

        let battery = story(
            shipment(
                "FF-88120106",
                "Voltera E-Bike Parts Co., Ltd.",
                "CN",
                "FF120106",
                vec![item(
                    "Lithium battery pack 48V 20Ah for electric bicycles",
                    "85076000",
                    1,
                    18_900,
                    "CN",
                    5_200,
                )],
            ),
            "VT-CN-7781",
        );
        self.heading(
            "Do Not Load: a lithium-ion battery pack as general cargo",
            "FlyFast",
            &battery,
        );
        let id = self.file(flyfast, &battery).await?;
        self.follow(flyfast, &id, 0).await?;
        self.status(flyfast, &id).await?;

        let phone = story(
            shipment(
                "SC-2026-000202",
                "Shenzhen Brightway Digital Ltd.",
                "CN",
                "EXP7723419902NL",
                vec![item(
                    "Smartphone, 6.7-inch display, 256 GB storage, dual SIM",
                    "85171300",
                    1,
                    1_850,
                    "CN",
                    420,
                )],
            ),
            "SHOPCO-S-011208",
        );
        self.heading(
            "Control on arrival: a smartphone declared at EUR 18.50",
            "ShopCo",
            &phone,
        );
        let id = self.file(shopco, &phone).await?;
        self.follow(shopco, &id, 0).await?;
        self.status(shopco, &id).await?;
        self.summary();
        Ok(())
    }

    /// One line a consignment: where each ended, by LRN and MRN, as an officer's worklist.
    fn summary(&self) {
        println!("\nWhere they stand (Status of each declaration, as its filer may ask):");
        println!("   {:<15} {:<19} {:<19} MEANING", "LRN", "MRN", "STATE");
        for status in &self.cases {
            println!(
                "   {:<15} {:<19} {:<19} {}",
                status.lrn,
                status.mrn,
                state_name(status.state),
                state_in_brief(status.state)
            );
        }
        println!();
    }

    fn heading(&mut self, title: &str, filer: &str, d: &AdvanceDeclaration) {
        let letter = char::from(b'A' + self.stories);
        self.stories += 1;
        let seller = d.seller.as_ref().map(|s| s.name.as_str()).unwrap_or("-");
        println!("\n{letter}. {title}");
        println!(
            "   {filer}, LRN {}: {} (seller {seller})",
            d.lrn,
            goods_summary(d)
        );
    }

    async fn file(&self, p: &mut Participant, d: &AdvanceDeclaration) -> Result<String, String> {
        let envelope = p.seal_declaration(d);
        let receipt = p
            .submit(envelope)
            .await
            .map_err(|e| format!("LRN {} refused: {e}", d.lrn))?;
        println!(
            "   ACCEPTED as log entry {}, declaration id {}",
            receipt.log_index, receipt.message_id
        );
        Ok(receipt.message_id)
    }

    /// Prints the outcome number `n` (from 0) of a declaration as its partner fetched it.
    async fn follow(&self, p: &Participant, id: &str, n: usize) -> Result<(), String> {
        let outcomes = outcomes_for(p, id).await?;
        let Some((seq, envelope, outcome)) = outcomes.get(n) else {
            return Err(format!("no outcome {} for declaration {id}", n + 1));
        };
        print_outcome(p, "", *seq, envelope, outcome, true);
        Ok(())
    }

    /// Answers the open referral of a declaration, naming the outcome that asked.
    async fn answer(
        &self,
        p: &mut Participant,
        id: &str,
        filer: &str,
        answer: Answer,
    ) -> Result<(), String> {
        let outcomes = outcomes_for(p, id).await?;
        let Some((_, envelope, outcome)) = outcomes.last() else {
            return Err(format!("no outcome for declaration {id}"));
        };
        let asked_by = envelope
            .header
            .as_ref()
            .map(|h| h.message_id.clone())
            .unwrap_or_default();
        let (response, said) = match answer {
            Answer::Information(text) => (
                ReferralResponse {
                    referral_id: outcome.referral_id.clone(),
                    information: text.into(),
                    ..Default::default()
                },
                format!("“{text}”"),
            ),
            Answer::Screening(result) => (
                ReferralResponse {
                    referral_id: outcome.referral_id.clone(),
                    screening: result as i32,
                    ..Default::default()
                },
                format!(
                    "screened (X-ray and explosives trace detection): {}",
                    short_name::<ScreeningResult>(result as i32)
                ),
            ),
        };
        let envelope = p.seal(
            MessageType::ReferralResponse,
            Bytes::from(response.encode_to_vec()),
            &asked_by,
        );
        let receipt = p
            .submit(envelope)
            .await
            .map_err(|e| format!("answer to {} refused: {e}", outcome.referral_id))?;
        println!(
            "   → {filer} answers referral {} (log entry {}):",
            outcome.referral_id, receipt.log_index
        );
        println!("{}", wrap(&said, 5, 100));
        Ok(())
    }

    async fn status(&mut self, p: &Participant, id: &str) -> Result<(), String> {
        let status = p
            .grpc()
            .status(StatusRequest {
                declaration_id: id.to_owned(),
            })
            .await
            .map_err(|status| ClientError::Refused(status).to_string())?
            .into_inner();
        println!(
            "   Status: {} — {}",
            state_name(status.state),
            state_in_brief(status.state)
        );
        self.cases.push(status);
        Ok(())
    }
}

/// A story's declaration: the seller gets its own marketplace identifier, so that no story
/// shares a seller with the admission batch.
fn story(mut d: AdvanceDeclaration, seller_id: &str) -> AdvanceDeclaration {
    if let Some(s) = d.seller.as_mut() {
        s.identifier = seller_id.into();
    }
    d
}

/// The outcomes delivered to `p` for a declaration, in order, with their seq.
async fn outcomes_for(
    p: &Participant,
    declaration_id: &str,
) -> Result<Vec<(u64, Envelope, Outcome)>, String> {
    let deliveries = p
        .fetch_all(0)
        .await
        .map_err(|status| ClientError::Refused(status).to_string())?;
    Ok(deliveries
        .into_iter()
        .filter_map(|d| {
            let envelope = d.envelope?;
            let outcome = outcome_of(&envelope)?;
            (outcome.declaration_id == declaration_id).then_some((d.seq, envelope, outcome))
        })
        .collect())
}

/// A declaration draft to adm/NL with a chosen message id and sender: what a forger writes.
fn draft(message_id: String, sender: &str, declaration: &AdvanceDeclaration) -> Draft {
    Draft {
        message_id,
        sender: sender.into(),
        recipient: NL.into(),
        message_type: MessageType::Declaration as i32,
        created_at_ms: crate::store::now_ms(),
        correlation_id: String::new(),
        payload: Bytes::from(declaration.encode_to_vec()),
    }
}

fn report(lines: &[Line], key_id: &str, trust_version: u64) -> String {
    use tonic_types::StatusExt;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>3}  {:<10} {:<15} {:<45} RESULT",
        "#", "FILED BY", "LRN", "GOODS"
    );
    let (mut accepted, mut duplicates, mut refused) = (0, 0, 0);
    for (n, line) in lines.iter().enumerate() {
        let _ = write!(
            out,
            "{:>3}  {:<10} {:<15} {:<45} ",
            n + 1,
            line.filer,
            line.lrn,
            line.goods
        );
        match &line.result {
            Ok(receipt) if receipt.disposition == Disposition::Duplicate as i32 => {
                duplicates += 1;
                let _ = writeln!(
                    out,
                    "DUPLICATE — already on file as log entry {}",
                    receipt.log_index
                );
            }
            Ok(receipt) => {
                accepted += 1;
                let _ = writeln!(out, "ACCEPTED — stored as log entry {}", receipt.log_index);
            }
            Err(ClientError::Refused(status)) => {
                refused += 1;
                let details = status.get_error_details();
                let reason = details
                    .error_info()
                    .map(|i| i.reason.clone())
                    .unwrap_or_default();
                let _ = writeln!(out, "REFUSED — {reason}");
                if let Some(bad) = details.bad_request() {
                    for v in &bad.field_violations {
                        let _ = writeln!(out, "{:>78}{}: {}", "", v.field, v.description);
                    }
                } else {
                    let _ = writeln!(out, "{:>78}{}", "", status.message());
                }
            }
            Err(other) => {
                refused += 1;
                let _ = writeln!(out, "FAILED — {other}");
            }
        }
        if !line.story.is_empty() {
            let _ = writeln!(out, "{:>78}({})", "", line.story);
        }
    }
    let _ = writeln!(
        out,
        "\n{accepted} declarations accepted and durably stored; {duplicates} resend recognised as a duplicate \
         (same receipt data, nothing stored twice); {refused} submissions refused, none stored."
    );
    let _ = writeln!(
        out,
        "Every receipt shown was signed by {key_id} and verified by the partner against trust list v{trust_version};"
    );
    let _ = write!(
        out,
        "a receipt is only sent once the declaration is committed to disk."
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::risk::{criteria_match, validate_indicator};

    #[test]
    fn the_indicators_are_valid_and_select_nothing_of_the_admission_batch() {
        let now = crate::store::now_ms();
        // BE's indicator is in force at adm/NL too once shared.
        let indicators: Vec<RiskIndicator> = indicators(now)
            .into_iter()
            .chain(be_indicators(now))
            .collect();
        for indicator in &indicators {
            assert_eq!(
                validate_indicator(indicator, now),
                [],
                "{}",
                indicator.indicator_id
            );
        }
        let batch = [
            sample_declaration("SC-2026-000101"),
            shipment(
                "SC-2026-000102",
                "Bright Audio Ltd",
                "GB",
                "EXP7723419846NL",
                vec![item(
                    "Wireless in-ear earphones with charging case",
                    "851830",
                    1,
                    3_450,
                    "CN",
                    120,
                )],
            ),
        ];
        for d in &batch {
            for indicator in &indicators {
                let criteria = indicator.criteria.as_ref().unwrap();
                assert!(
                    !criteria_match(criteria, d),
                    "{} selects {}",
                    indicator.indicator_id,
                    d.lrn
                );
            }
        }
    }

    #[test]
    fn the_declaration_for_belgium_is_valid_and_selected_by_bes_indicator_alone() {
        let now = crate::store::now_ms();
        let declaration = bound_for_belgium();
        assert_eq!(
            crate::core::validation::validate_declaration(&declaration),
            []
        );
        assert_eq!(declaration.country_of_destination, "BE");
        for indicator in be_indicators(now) {
            assert!(criteria_match(
                indicator.criteria.as_ref().unwrap(),
                &declaration
            ));
        }
        for indicator in indicators(now) {
            assert!(
                !criteria_match(indicator.criteria.as_ref().unwrap(), &declaration),
                "{} selects it",
                indicator.indicator_id
            );
        }
    }

    #[test]
    fn exactly_the_red_and_amber_strict_indicators_stay_in_nl() {
        let now = crate::store::now_ms();
        let agreement = AgreementEntry {
            id: "mou-nl-be-2026".into(),
            parties: vec![NL.into(), BE.into()],
            exchange: vec![Exchange::RiskIndicator, Exchange::ForwardedDeclaration],
            max_tlp: TlpLevel::Amber,
            personal_data: false,
        };
        let kept: Vec<(String, String)> = indicators(now)
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
            .iter()
            .all(|i| tlp_level(i.tlp) <= agreement.max_tlp && !i.personal_data));
    }
}
