//! The declarations and risk indicators the demo files: realistic goods, sellers and
//! targeting rules of the kinds customs risk units run, chosen so that each chapter shows
//! what it is about (the admission batch matches no indicator; each story matches exactly
//! the one it tells of). The indicators are kept as their analysts would keep them, in
//! their JSON form (indicator-files/, docs/indicator-json.md). Kept apart from the chapters
//! so that the tests below can check those choices without running a gateway.

use super::NL;
use crate::core::envelope::Draft;
use crate::core::validation::sample_declaration;
use crate::proto::v1::{AdvanceDeclaration, Item, MessageType, Money, Party, RiskIndicator};
use bytes::Bytes;
use prost::Message;

/// A day, for validity periods.
const DAY_MS: i64 = 86_400_000;

/// An amount in euro cents, as every value of the demo is.
pub(super) fn eur(amount_minor: i64) -> Option<Money> {
    Some(Money {
        currency: "EUR".into(),
        amount_minor,
    })
}

/// One line of goods, with the fields a customs officer looks at first.
pub(super) fn item(
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

/// The sample declaration with another seller, house reference and goods: a consignment
/// that is valid as filed, so that only what a chapter changes in it is refused.
pub(super) fn shipment(
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

/// ShopCo's second declaration of the batch: earphones from a UK seller. The batch
/// rewrites it, and later reuses its LRN.
pub(super) fn earphones() -> AdvanceDeclaration {
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
    )
}

/// A story's declaration: the seller gets its own marketplace identifier, so that no story
/// shares a seller with the admission batch.
pub(super) fn story(mut d: AdvanceDeclaration, seller_id: &str) -> AdvanceDeclaration {
    if let Some(s) = d.seller.as_mut() {
        s.identifier = seller_id.into();
    }
    d
}

/// Story B: trainers from a seller the NL risk unit watches for counterfeits.
pub(super) fn trainers() -> AdvanceDeclaration {
    story(
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
    )
}

/// Story C: toner cartridges by air, which NL screens before loading.
pub(super) fn toner() -> AdvanceDeclaration {
    story(
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
    )
}

/// Story D: more toner cartridges, whose screening finds a threat.
pub(super) fn refills() -> AdvanceDeclaration {
    story(
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
    )
}

/// Story E: a lithium-ion battery pack offered as general cargo.
pub(super) fn battery() -> AdvanceDeclaration {
    story(
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
    )
}

/// Story F: a smartphone declared below the value NL controls on arrival.
pub(super) fn phone() -> AdvanceDeclaration {
    story(
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
    )
}

/// ShopCo's consignment for a buyer in Belgium, filed with adm/NL (where it enters the EU):
/// it matches BE's indicator and none of NL's own.
pub(super) fn bound_for_belgium() -> AdvanceDeclaration {
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

/// A declaration draft to adm/NL with a chosen message id and sender: what a forger writes.
pub(super) fn draft(message_id: String, sender: &str, declaration: &AdvanceDeclaration) -> Draft {
    Draft {
        message_id,
        sender: sender.into(),
        recipient: NL.into(),
        message_type: MessageType::Declaration as i32,
        created_at_ms: crate::clock::now_ms(),
        correlation_id: String::new(),
        payload: Bytes::from(declaration.encode_to_vec()),
    }
}

/// The NL risk unit's indicators as its analysts keep them (docs/indicator-json.md), each
/// with the days it stays in force from the start of the demo (none: no end date).
const NL_INDICATORS: [(&str, Option<i64>); 5] = [
    (
        include_str!("indicator-files/NL-2026-RFI-0107.json"),
        Some(180),
    ),
    (include_str!("indicator-files/NL-2026-COA-0042.json"), None),
    (
        include_str!("indicator-files/NL-2026-SCR-0009.json"),
        Some(90),
    ),
    (
        include_str!("indicator-files/NL-2026-DNL-0003.json"),
        Some(30),
    ),
    (
        include_str!("indicator-files/NL-2026-COA-0077.json"),
        Some(60),
    ),
];

/// The NL risk unit's indicators, in force from `now_ms`: realistic targeting rules of the
/// kinds customs risk units run, none of which selects the admission batch.
pub(super) fn indicators(now_ms: i64) -> Result<Vec<RiskIndicator>, String> {
    NL_INDICATORS
        .iter()
        .map(|(text, days)| in_force_for(text, *days, now_ms))
        .collect()
}

/// The BE risk unit's indicator, in force from `now_ms`: shared with adm/NL under the
/// agreement, and so applied there too; it selects nothing the NL part of the demo files.
pub(super) fn be_indicators(now_ms: i64) -> Result<Vec<RiskIndicator>, String> {
    let text = include_str!("indicator-files/BE-2026-RFI-0218.json");
    Ok(vec![in_force_for(text, Some(365), now_ms)?])
}

/// An indicator file read, in force from `now_ms` for `days` (none: no end date).
fn in_force_for(text: &str, days: Option<i64>, now_ms: i64) -> Result<RiskIndicator, String> {
    let mut indicator =
        crate::formats::indicator::from_json(text).map_err(|e| format!("a demo indicator: {e}"))?;
    // Whole seconds, so that the list shows plain timestamps.
    indicator.valid_until_ms = days.map_or(0, |days| (now_ms + days * DAY_MS) / 1000 * 1000);
    Ok(indicator)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::risk::{criteria_match, validate_indicator};

    #[test]
    fn the_indicators_are_valid_and_select_nothing_of_the_admission_batch() {
        let now = crate::clock::now_ms();
        // BE's indicator is in force at adm/NL too once shared.
        let indicators: Vec<RiskIndicator> = indicators(now)
            .unwrap()
            .into_iter()
            .chain(be_indicators(now).unwrap())
            .collect();
        for indicator in &indicators {
            assert_eq!(
                validate_indicator(indicator, now),
                [],
                "{}",
                indicator.indicator_id
            );
        }
        let batch = [sample_declaration("SC-2026-000101"), earphones()];
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
        let now = crate::clock::now_ms();
        let declaration = bound_for_belgium();
        assert_eq!(
            crate::core::validation::validate_declaration(&declaration),
            []
        );
        assert_eq!(declaration.country_of_destination, "BE");
        for indicator in be_indicators(now).unwrap() {
            assert!(criteria_match(
                indicator.criteria.as_ref().unwrap(),
                &declaration
            ));
        }
        for indicator in indicators(now).unwrap() {
            assert!(
                !criteria_match(indicator.criteria.as_ref().unwrap(), &declaration),
                "{} selects it",
                indicator.indicator_id
            );
        }
    }
}
