//! The admission chapter (PROTOCOL.md §3 and §7): a realistic batch filed with adm/NL by
//! two partners (clean declarations, a network resend, vague or inconsistent data, a
//! tampered message, a spoofed sender, a partner registered elsewhere) and what happened
//! to each, in words, with the evidence the partner holds.

use super::data::{draft, earphones, item, shipment};
use super::stage::Stage;
use super::{FLYFAST, SHOPCO};
use crate::client::ClientError;
use crate::core::validation::sample_declaration;
use crate::proto::v1::{AdvanceDeclaration, Disposition, Envelope, Receipt};
use crate::render::goods_summary;
use bytes::Bytes;
use prost::Message;
use std::fmt::Write as _;

/// What the batch left for the later chapters.
pub(super) struct Batch {
    /// The receipts of the accepted declarations, by filer (`ShopCo`, `FlyFast`).
    pub(super) receipts: Vec<(&'static str, Receipt)>,
    /// The first, clean declaration, whose release the assessment chapter follows.
    pub(super) clean: AdvanceDeclaration,
}

/// What one line of the demo did and what came back.
struct Line {
    filer: &'static str,
    lrn: String,
    goods: String,
    story: &'static str,
    result: Result<Receipt, ClientError>,
}

impl Line {
    /// The line of declaration `d` filed by `filer`, with why it is in the batch (`story`,
    /// empty for a plain one) and what came back.
    fn of(
        filer: &'static str,
        d: &AdvanceDeclaration,
        story: &'static str,
        result: Result<Receipt, ClientError>,
    ) -> Self {
        Line {
            filer,
            lrn: d.lrn.clone(),
            goods: goods_summary(d),
            story,
            result,
        }
    }
}

/// Files the batch and prints the table of what became of each declaration.
pub(super) async fn file_batch(stage: &mut Stage) -> Result<Batch, String> {
    let mut lines = Vec::new();

    // Clean declarations from the marketplace, one at a time.
    let d1 = sample_declaration("SC-2026-000101");
    let e1 = stage.shopco.seal_declaration(&d1);
    let r = stage.shopco.submit(e1.clone()).await;
    lines.push(Line::of("ShopCo", &d1, "", r));
    let d2 = earphones();
    let e2 = stage.shopco.seal_declaration(&d2);
    let r = stage.shopco.submit(e2.clone()).await;
    lines.push(Line::of("ShopCo", &d2, "", r));

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
    let envelopes: Vec<Envelope> = batch
        .iter()
        .map(|d| stage.flyfast.seal_declaration(d))
        .collect();
    let results = stage
        .flyfast
        .submit_stream(envelopes)
        .await
        .map_err(|e| e.to_string())?;
    for (d, result) in batch.iter().zip(results) {
        let story = if d.lrn.ends_with('3') {
            "IOSS number too short"
        } else {
            "sent in one stream"
        };
        lines.push(Line::of("FlyFast", d, story, result));
    }

    // A network retry: the same signed envelope again.
    let r = stage.shopco.submit(e1.clone()).await;
    lines.push(Line::of(
        "ShopCo",
        &d1,
        "network retry of the same message",
        r,
    ));

    // Data customs cannot assess.
    let vague = shipment(
        "SC-2026-000103",
        "Mystery Deals",
        "CN",
        "EXP7723419847NL",
        vec![item("gift", "980000", 1, 1_500, "CN", 300)],
    );
    let mut mixed = sample_declaration("SC-2026-000104");
    if let Some(v) = mixed.items[1].value.as_mut() {
        v.currency = "USD".into();
    }
    let reuse = sample_declaration("SC-2026-000102");
    for (d, story) in [
        (&vague, "vague goods, no such HS chapter"),
        (&mixed, "values in two currencies"),
        (&reuse, "LRN already used"),
    ] {
        let r = stage.shopco.submit(stage.shopco.seal_declaration(d)).await;
        lines.push(Line::of("ShopCo", d, story, r));
    }

    // Attempts to rewrite or forge.
    let mut cheaper = d2.clone();
    if let Some(v) = cheaper.items[0].value.as_mut() {
        v.amount_minor = 900;
    }
    let header = e2.header.clone().unwrap_or_default();
    let rewritten = stage
        .shopco
        .sign(draft(header.message_id.clone(), SHOPCO, &cheaper));
    let r = stage.shopco.submit(rewritten).await;
    lines.push(Line::of(
        "ShopCo",
        &cheaper,
        "same message id, lower value",
        r,
    ));
    let mut in_transit = stage
        .shopco
        .seal_declaration(&sample_declaration("SC-2026-000105"));
    in_transit.payload = Bytes::from(cheaper.encode_to_vec());
    let r = stage.shopco.submit(in_transit).await;
    lines.push(Line {
        lrn: "SC-2026-000105".into(),
        ..Line::of("ShopCo", &cheaper, "payload altered after signing", r)
    });
    let spoof_decl = sample_declaration("FF-88129999");
    let spoofed = stage.shopco.sign(draft(
        uuid::Uuid::now_v7().hyphenated().to_string(),
        FLYFAST,
        &spoof_decl,
    ));
    let r = stage.shopco.submit(spoofed).await;
    lines.push(Line::of(
        "ShopCo",
        &spoof_decl,
        "ShopCo posing as FlyFast",
        r,
    ));
    let be_only = sample_declaration("BP-2026-4711");
    let r = stage
        .bpost
        .submit(stage.bpost.seal_declaration(&be_only))
        .await;
    lines.push(Line::of(
        "Demo Post",
        &be_only,
        "registered with Belgium only",
        r,
    ));

    println!("{}", report(&lines, &stage.key_id, stage.trust_version));

    let accepted: Vec<(&'static str, Receipt)> = lines
        .iter()
        .filter_map(|line| match &line.result {
            Ok(r) if r.disposition == Disposition::Accepted as i32 => Some((line.filer, r.clone())),
            _ => None,
        })
        .collect();
    Ok(Batch {
        receipts: accepted,
        clean: d1,
    })
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
