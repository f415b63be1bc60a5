//! The declarations and risk indicators the demo files: realistic goods, sellers and
//! targeting rules of the kinds customs risk units run, chosen so that each chapter shows
//! what it is about (the admission batch matches no indicator; each story matches exactly
//! the one it tells of). The indicators are kept as their analysts would keep them, in
//! their JSON form (indicator-files/, docs/indicator-json.md). Kept apart from the chapters
//! so that the tests below can check those choices without running a gateway.

use super::NL;
use crate::core::envelope::Draft;
use crate::core::validation::sample_declaration;
use crate::proto::v1::{
    AdvanceDeclaration, CollectionModel, Item, MessageType, Money, Party, Revenue, RiskIndicator,
};
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

/// ShopCo's IOSS number, registered in the federation's IOSS registry.
pub(super) const SHOPCO_IOSS: &str = "IM5280001234";

/// A consumer in the Netherlands. Each revenue story has its own, so that the splitting
/// check (R5) adds up only the parcels of the story that is about it.
fn consumer(name: &str, street: &str, postcode: &str, city: &str) -> Party {
    Party {
        name: name.into(),
        street: street.into(),
        city: city.into(),
        postcode: postcode.into(),
        country: "NL".into(),
        identifier: String::new(),
    }
}

/// A seller with its own address and its ShopCo seller account, which R5 keys on.
fn seller(
    name: &str,
    street: &str,
    city: &str,
    postcode: &str,
    country: &str,
    account: &str,
) -> Party {
    Party {
        name: name.into(),
        street: street.into(),
        city: city.into(),
        postcode: postcode.into(),
        country: country.into(),
        identifier: account.into(),
    }
}

/// Import VAT to be paid at the border.
fn at_the_border() -> Revenue {
    Revenue {
        model: CollectionModel::Border as i32,
        ..Revenue::default()
    }
}

/// Import VAT collected at sale under IOSS number `number`.
fn under_ioss(model: CollectionModel, number: &str, collected: Option<Money>) -> Revenue {
    Revenue {
        model: model as i32,
        ioss_number: number.into(),
        tax_collected: collected,
    }
}

/// An item as its marketplace listed it: the listing and the price of one unit, which R4
/// compares with the declared value.
fn listed(mut item: Item, listing: &str, unit_price: i64) -> Item {
    item.listing_url = format!("https://shopco.example/listing/{listing}");
    item.listed_price = eur(unit_price);
    item
}

/// A revenue story's parcel: `shipment` with the seller, the buyer and who collects the
/// VAT set.
fn parcel(
    lrn: &str,
    house_ref: &str,
    sold_by: Party,
    buyer: Party,
    revenue: Revenue,
    items: Vec<Item>,
) -> AdvanceDeclaration {
    let mut d = shipment(lrn, &sold_by.name, &sold_by.country, house_ref, items);
    d.seller = Some(sold_by);
    d.buyer = Some(buyer);
    d.revenue = Some(revenue);
    d
}

/// The sportswear seller of the first two revenue stories.
fn stride() -> Party {
    seller(
        "Quanzhou Stride Sportswear Co., Ltd.",
        "No. 18 Chidian Industrial Zone, Jinjiang",
        "Quanzhou",
        "362200",
        "CN",
        "SHOPCO-S-013370",
    )
}

/// §11's worked example as a parcel: running shoes at EUR 45.00 and two T-shirts at
/// EUR 20.00 together, from China; two item categories, EUR 65.00 in all.
fn sportswear(lrn: &str, house_ref: &str, buyer: Party, revenue: Revenue) -> AdvanceDeclaration {
    parcel(
        lrn,
        house_ref,
        stride(),
        buyer,
        revenue,
        vec![
            listed(
                item(
                    "Men's running shoes, knitted textile upper, rubber sole, size 42",
                    "64041100",
                    1,
                    4_500,
                    "CN",
                    900,
                ),
                "913370",
                4_500,
            ),
            listed(
                item(
                    "Men's T-shirts of knitted cotton, crew neck, printed",
                    "61091000",
                    2,
                    2_000,
                    "CN",
                    400,
                ),
                "913371",
                1_000,
            ),
        ],
    )
}

/// Revenue story 1, later returned: the worked example, import VAT at the border.
pub(super) fn border_parcel() -> AdvanceDeclaration {
    sportswear(
        "SC-2026-000401",
        "EXP7723420401NL",
        consumer("Sanne Bakker", "Oudegracht 231", "3511 NK", "Utrecht"),
        at_the_border(),
    )
}

/// Revenue story 2: the same goods sold under ShopCo's IOSS number, the VAT on the goods
/// (EUR 13.65) collected at sale.
pub(super) fn ioss_parcel() -> AdvanceDeclaration {
    sportswear(
        "SC-2026-000402",
        "EXP7723420402NL",
        consumer(
            "Daan Visser",
            "Witte de Withstraat 57",
            "3012 BN",
            "Rotterdam",
        ),
        under_ioss(CollectionModel::Platform, SHOPCO_IOSS, eur(1_365)),
    )
}

/// Revenue story 3 (R1): picture books from a UK bookseller priced in pounds, under an IOSS
/// number the registry does not hold; books are taxed at the reduced rate.
pub(super) fn unregistered_ioss() -> AdvanceDeclaration {
    let mut books = item(
        "Children's picture books, hardcover, English language",
        "49019900",
        2,
        2_400,
        "GB",
        900,
    );
    books.value = Some(Money {
        currency: "GBP".into(),
        amount_minor: 2_400,
    });
    parcel(
        "SC-2026-000403",
        "EXP7723420403NL",
        seller(
            "Pennywhistle Books Ltd",
            "14 Canal Street",
            "Nottingham",
            "NG1 7EH",
            "GB",
            "SHOPCO-S-015502",
        ),
        consumer("Emma Mulder", "Grote Markt 14", "9711 LV", "Groningen"),
        under_ioss(
            CollectionModel::Vendor,
            "IM3720005391",
            Some(Money {
                currency: "GBP".into(),
                amount_minor: 216,
            }),
        ),
        vec![books],
    )
}

/// Revenue story 4 (R2): a robot vacuum cleaner at EUR 189.00, above IOSS's EUR 150,
/// declared under ShopCo's registered IOSS number with the VAT collected at sale.
pub(super) fn ioss_above_threshold() -> AdvanceDeclaration {
    parcel(
        "SC-2026-000404",
        "EXP7723420404NL",
        seller(
            "Shenzhen Cleanbot Technology Co., Ltd.",
            "Floor 6, 1001 Xueyuan Avenue, Nanshan District",
            "Shenzhen",
            "518055",
            "CN",
            "SHOPCO-S-016118",
        ),
        consumer("Lars Smit", "Stratumseind 32", "5611 ET", "Eindhoven"),
        under_ioss(CollectionModel::Platform, SHOPCO_IOSS, eur(3_969)),
        vec![listed(
            item(
                "Robot vacuum cleaner with lidar navigation and charging dock",
                "85081100",
                1,
                18_900,
                "CN",
                3_600,
            ),
            "925804",
            18_900,
        )],
    )
}

/// Revenue story 5 (R4): headphones listed at EUR 120.00 and declared at EUR 12.00, next to
/// a case declared at its listed price.
pub(super) fn undervalued() -> AdvanceDeclaration {
    parcel(
        "SC-2026-000405",
        "EXP7723420405NL",
        seller(
            "Kowloon Sound Gear Ltd",
            "Unit 1203, 168 Nathan Road, Tsim Sha Tsui",
            "Hong Kong",
            "999077",
            "HK",
            "SHOPCO-S-017240",
        ),
        consumer("Fleur de Boer", "Breestraat 88", "2311 CS", "Leiden"),
        at_the_border(),
        vec![
            listed(
                item(
                    "Hard-shell carrying case for over-ear headphones, EVA",
                    "42029291",
                    1,
                    950,
                    "CN",
                    250,
                ),
                "930112",
                950,
            ),
            listed(
                item(
                    "Wireless noise-cancelling over-ear headphones, Bluetooth 5.3",
                    "85183000",
                    1,
                    1_200,
                    "CN",
                    320,
                ),
                "930113",
                12_000,
            ),
        ],
    )
}

/// Revenue story 6 (R5): three parcels from one home-textiles seller to one buyer on one
/// day, EUR 58.00, 54.00 and 49.00: each low-value, EUR 161.00 together. ShopCo files the
/// first two; FlyFast, which carries the third, files that one.
pub(super) fn split_parcels() -> [AdvanceDeclaration; 3] {
    let one = |lrn: &str, house_ref: &str, goods: Item| {
        parcel(
            lrn,
            house_ref,
            seller(
                "Yiwu Brightlane Home Textiles Co., Ltd.",
                "No. 45 Chouzhou North Road",
                "Yiwu",
                "322000",
                "CN",
                "SHOPCO-S-018305",
            ),
            consumer("Noah Meijer", "Vrijthof 9", "6211 LD", "Maastricht"),
            at_the_border(),
            vec![goods],
        )
    };
    [
        one(
            "SC-2026-000406",
            "EXP7723420406NL",
            item(
                "Duvet cover set of cotton percale, double, 200 x 220 cm",
                "63023100",
                1,
                5_800,
                "CN",
                1_300,
            ),
        ),
        one(
            "SC-2026-000407",
            "EXP7723420407NL",
            item(
                "Blackout curtains of polyester, 2 panels, 140 x 260 cm",
                "63039290",
                1,
                5_400,
                "CN",
                1_600,
            ),
        ),
        one(
            "FF-88120407",
            "FF120407",
            item(
                "Bath towels of cotton terry, set of 4",
                "63026000",
                1,
                4_900,
                "CN",
                1_800,
            ),
        ),
    ]
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

    /// Every declaration of the revenue chapter, as it files them.
    fn revenue_stories() -> Vec<AdvanceDeclaration> {
        let mut all = vec![
            border_parcel(),
            ioss_parcel(),
            unregistered_ioss(),
            ioss_above_threshold(),
            undervalued(),
        ];
        all.extend(split_parcels());
        all
    }

    #[test]
    fn the_revenue_stories_are_valid_and_selected_by_no_indicator() {
        let now = crate::clock::now_ms();
        let indicators: Vec<RiskIndicator> = indicators(now)
            .unwrap()
            .into_iter()
            .chain(be_indicators(now).unwrap())
            .collect();
        for d in revenue_stories() {
            assert_eq!(
                crate::core::validation::validate_declaration(&d),
                [],
                "{}",
                d.lrn
            );
            assert_eq!(d.country_of_destination, "NL", "charged by adm/NL");
            for indicator in &indicators {
                assert!(
                    !criteria_match(indicator.criteria.as_ref().unwrap(), &d),
                    "{} selects {}",
                    indicator.indicator_id,
                    d.lrn
                );
            }
        }
    }

    #[test]
    fn only_the_splitting_story_shares_a_buyer_and_seller() {
        use crate::core::revenue::splitting_key;
        // The other chapters' consignments for the Netherlands all go to the sample's buyer.
        let mut keys: Vec<i64> = vec![splitting_key(&sample_declaration("X"))];
        for d in revenue_stories() {
            let key = splitting_key(&d);
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        // The sample's, one per story 1 to 5, and one for story 6's three parcels.
        assert_eq!(keys.len(), 1 + 5 + 1);
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
