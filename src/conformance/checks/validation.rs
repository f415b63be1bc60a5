//! §7: each rule broken on purpose, and the field paths the gateway must name for it,
//! all violations of one declaration at once.

use crate::conformance::kit::{Case, Stop};
use crate::proto::v1::{AdvanceDeclaration, Item, Money, Revenue};

async fn expect(case: &Case, declaration: &AdvanceDeclaration, paths: &[&str]) -> Result<(), Stop> {
    let envelope = case.seal_declaration(declaration);
    case.expect_violations(case.submit(envelope).await, paths)
}

fn first_item(declaration: &AdvanceDeclaration) -> Item {
    declaration.items.first().cloned().unwrap_or_default()
}

pub(super) async fn lrn_length(case: Case) -> Result<(), Stop> {
    let mut declaration = case.declaration();
    declaration.lrn = format!("{:X<23}", declaration.lrn);
    expect(&case, &declaration, &["lrn"]).await
}

pub(super) async fn lrn_reused(case: Case) -> Result<(), Stop> {
    let first = case.declaration();
    case.file(&first).await?;
    let mut again = case.declaration();
    again.lrn = first.lrn.clone();
    expect(&case, &again, &["lrn"]).await
}

pub(super) async fn party_limits(case: Case) -> Result<(), Stop> {
    let mut declaration = case.declaration();
    if let Some(seller) = declaration.seller.as_mut() {
        seller.name = "N".repeat(71);
        seller.identifier = "I".repeat(18);
        seller.country = "cn".into();
    }
    if let Some(buyer) = declaration.buyer.as_mut() {
        buyer.city = "C".repeat(36);
        buyer.postcode = "P".repeat(18);
        buyer.street = "S".repeat(71);
    }
    expect(
        &case,
        &declaration,
        &[
            "seller.name",
            "seller.identifier",
            "seller.country",
            "buyer.city",
            "buyer.postcode",
            "buyer.street",
        ],
    )
    .await
}

pub(super) async fn required_and_transport(case: Case) -> Result<(), Stop> {
    let mut declaration = case.declaration();
    if let Some(transport) = declaration.transport.as_mut() {
        transport.house_ref = String::new();
        transport.mode = 0;
        transport.master_ref = "M".repeat(71);
    }
    expect(
        &case,
        &declaration,
        &[
            "transport.house_ref",
            "transport.mode",
            "transport.master_ref",
        ],
    )
    .await
}

pub(super) async fn country_codes(case: Case) -> Result<(), Stop> {
    let mut declaration = case.declaration();
    declaration.country_of_dispatch = "ZZ".into();
    declaration.country_of_destination = declaration.country_of_destination.to_lowercase();
    if let Some(item) = declaration.items.first_mut() {
        item.origin_country = "QQ".into();
    }
    expect(
        &case,
        &declaration,
        &[
            "country_of_dispatch",
            "country_of_destination",
            "items[0].origin_country",
        ],
    )
    .await
}

pub(super) async fn positive_numbers(case: Case) -> Result<(), Stop> {
    let mut declaration = case.declaration();
    declaration.gross_mass_g = 0;
    if let Some(item) = declaration.items.first_mut() {
        item.quantity = 0;
        item.mass_g = -5;
    }
    expect(
        &case,
        &declaration,
        &["gross_mass_g", "items[0].quantity", "items[0].mass_g"],
    )
    .await
}

pub(super) async fn revenue_and_items(case: Case) -> Result<(), Stop> {
    let mut declaration = case.declaration();
    declaration.revenue = Some(Revenue {
        ioss_number: "IM12345".into(),
        ..declaration.revenue.clone().unwrap_or_default()
    });
    declaration.items.clear();
    expect(&case, &declaration, &["revenue.ioss_number", "items"]).await
}

pub(super) async fn descriptions(case: Case) -> Result<(), Stop> {
    let mut declaration = case.declaration();
    let template = first_item(&declaration);
    declaration.items = ["gift", "ab", "Goods", "Cotton T-shirts for men, knitted"]
        .iter()
        .map(|d| Item {
            description: d.to_string(),
            ..template.clone()
        })
        .collect();
    expect(
        &case,
        &declaration,
        &[
            "items[0].description",
            "items[1].description",
            "items[2].description",
        ],
    )
    .await
}

pub(super) async fn hs_codes(case: Case) -> Result<(), Stop> {
    let mut declaration = case.declaration();
    let template = first_item(&declaration);
    declaration.items = ["770110", "12345", "64041A00", "00112233", "640411"]
        .iter()
        .map(|hs| Item {
            hs_code: hs.to_string(),
            ..template.clone()
        })
        .collect();
    expect(
        &case,
        &declaration,
        &[
            "items[0].hs_code",
            "items[1].hs_code",
            "items[2].hs_code",
            "items[3].hs_code",
        ],
    )
    .await
}

pub(super) async fn money(case: Case) -> Result<(), Stop> {
    let mut declaration = case.declaration();
    let template = first_item(&declaration);
    let value = |currency: &str, amount_minor: i64| {
        Some(Money {
            currency: currency.into(),
            amount_minor,
        })
    };
    declaration.items = vec![
        Item {
            value: value("EUR", 0),
            ..template.clone()
        },
        Item {
            value: value("USD", 1_000),
            ..template.clone()
        },
        Item {
            value: value("XYZ", 1_000),
            ..template.clone()
        },
        Item {
            value: value("EUR", 1_000),
            ..template
        },
    ];
    expect(
        &case,
        &declaration,
        &[
            "items[0].value.amount_minor",
            "items[1].value.currency",
            "items[2].value.currency",
        ],
    )
    .await
}
