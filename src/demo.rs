//! `aedgate demo`: the whole core path on one screen, for a customs officer or an
//! integrator seeing aedgate for the first time. It builds a development federation in a
//! temporary folder, starts the Dutch administration's gateway on the embedded store, and
//! files a realistic batch as two partners — clean declarations, a network resend, vague or
//! inconsistent data, a tampered message, a spoofed sender — then says what happened to
//! each, in words, with the evidence the partner holds.

use crate::client::{ClientError, Participant};
use crate::config::{ClientConfig, GatewayConfig};
use crate::core::envelope::Draft;
use crate::core::validation::sample_declaration;
use crate::pki::PkiSpec;
use crate::proto::v1::{
    AdvanceDeclaration, Disposition, Envelope, Item, MessageType, Money, Receipt,
};
use bytes::Bytes;
use prost::Message;
use std::fmt::Write as _;

const NL: &str = "adm/NL";
const SHOPCO: &str = "ptr/NL/shopco";
const FLYFAST: &str = "ptr/NL/flyfast";
const BPOST: &str = "ptr/BE/bpost-demo";

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

fn goods_summary(d: &AdvanceDeclaration) -> String {
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

/// Runs the demo and prints its report on stdout.
pub async fn run() -> Result<(), String> {
    let dir = tempfile::Builder::new()
        .prefix("aedgate-demo-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let pki = crate::pki::generate(PkiSpec::standard()).map_err(|e| e.to_string())?;
    pki.write(dir.path(), false).map_err(|e| e.to_string())?;
    let config_path = dir.path().join("adm-NL.gateway.toml");
    let text = std::fs::read_to_string(&config_path).map_err(|e| e.to_string())?;
    let text = text.replace("listen = \"127.0.0.1:7443\"", "listen = \"127.0.0.1:0\"");
    std::fs::write(&config_path, text).map_err(|e| e.to_string())?;
    let config = GatewayConfig::load(&config_path).map_err(|e| e.to_string())?;
    let data_dir = config.data_dir.clone();
    let key_id = config.signer.key_id.clone();
    let trust_version = config.trust.version();
    let gateway = crate::server::start(config)
        .await
        .map_err(|e| e.to_string())?;
    let endpoint = format!("https://{}", gateway.local_addr());

    println!("aedgate demo");
    println!("============");
    println!(
        "Federation wco-ecom.test, development PKI in {} (deleted at exit)",
        dir.path().display()
    );
    println!(
        "Gateway of Douane Nederland (adm/NL) on {}: mutual TLS 1.3, store {}",
        gateway.local_addr(),
        data_dir.display()
    );
    println!("Partners: ShopCo B.V. (marketplace, Ed25519 key), FlyFast Express (carrier, ECDSA P-256 key),");
    println!("          Demo Post BE (postal operator registered with Belgium only)\n");

    let mut shopco = client(dir.path(), SHOPCO, &endpoint, NL).await?;
    let mut flyfast = client(dir.path(), FLYFAST, &endpoint, NL).await?;
    let mut bpost = client(dir.path(), BPOST, &endpoint, NL).await?;
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
    let stored = gateway
        .state()
        .store
        .log_size()
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "Store check: {stored} entries in the log of adm/NL: every accepted declaration and the signed outcome issued for it."
    );
    gateway.shutdown().await.map_err(|e| e.to_string())?;
    Ok(())
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
