//! What one declaration owes (§11 "Arithmetic"): item categories, customs duty, handling
//! fee, import VAT with reduced rates and VAT on duty and fee, IOSS collected at sale.
//!
//! [`Charges`] keeps every figure the amounts came from, because §12 computes refunds from
//! the charges of the last releasing outcome, not from the policy in force when the goods
//! come back: a rate changed in between must not change a refund.

use super::arithmetic::{format_money, format_per_mille, per_mille, saturate};
use super::policy::RevenuePolicy;
use crate::core::rejection::FieldViolation;
use crate::proto::v1::{AdvanceDeclaration, Charge, ChargeType, CollectionModel, Money};
use std::collections::BTreeMap;

/// One item's part of the charges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemCharge {
    /// `v_i`: the line's value in the policy currency.
    pub value: i64,
    /// `vat_i = round(v_i x r_i / 1000)`.
    pub vat: i64,
    /// `Q_i`: units declared.
    pub quantity: u32,
    /// Which item category it belongs to (index in order of first appearance).
    pub category: u32,
}

/// The charges of one declaration and what they were computed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Charges {
    /// The policy currency.
    pub currency: String,
    /// `V`, the intrinsic value.
    pub intrinsic_value: i64,
    /// `V <= low_value_threshold`.
    pub low_value: bool,
    /// IOSS applied: import VAT on goods was collected at sale.
    pub ioss: bool,
    /// Distinct (HS6, origin) pairs.
    pub categories: u32,
    /// The policy's flat duty per category at the time.
    pub flat_duty_per_category: i64,
    /// The policy's ad valorem duty rate at the time, per mille.
    pub duty_rate: u32,
    /// The standard VAT rate at the time, per mille.
    pub vat_rate: u32,
    /// CUSTOMS_DUTY.
    pub duty: i64,
    /// HANDLING_FEE.
    pub handling_fee: i64,
    /// `Σ vat_i`.
    pub vat_on_goods: i64,
    /// `round((duty + fee) x vat_rate / 1000)`; 0 under IOSS.
    pub vat_on_duty_and_fee: i64,
    /// Per item, in the declaration's order.
    pub items: Vec<ItemCharge>,
}

impl Charges {
    /// IMPORT_VAT.
    pub fn import_vat(&self) -> i64 {
        self.vat_on_goods.saturating_add(self.vat_on_duty_and_fee)
    }

    /// `total_due`: the charges not collected at sale.
    pub fn total_due(&self) -> i64 {
        let vat = if self.ioss { 0 } else { self.import_vat() };
        self.duty
            .saturating_add(self.handling_fee)
            .saturating_add(vat)
    }

    /// The amount in the policy currency, as the wire carries it.
    pub fn money(&self, amount_minor: i64) -> Money {
        Money {
            currency: self.currency.clone(),
            amount_minor,
        }
    }

    /// `Outcome.charges` (CUSTOMS_DUTY, IMPORT_VAT, HANDLING_FEE; zero amounts omitted) and
    /// `Outcome.total_due`.
    pub fn to_wire(&self) -> (Vec<Charge>, Money) {
        let money = |amount| format_money(&self.currency, amount);
        let duty_basis = if self.low_value {
            format!(
                "{} item {} x {}",
                self.categories,
                if self.categories == 1 {
                    "category"
                } else {
                    "categories"
                },
                money(self.flat_duty_per_category)
            )
        } else {
            format!(
                "{} of {}",
                format_per_mille(self.duty_rate),
                money(self.intrinsic_value)
            )
        };
        let vat_basis = if self.ioss {
            format!(
                "VAT on goods {}, collected at sale under IOSS",
                money(self.vat_on_goods)
            )
        } else {
            format!(
                "VAT on goods {} + {} of duty and fee {}",
                money(self.vat_on_goods),
                format_per_mille(self.vat_rate),
                money(self.duty.saturating_add(self.handling_fee))
            )
        };
        let candidates = [
            (ChargeType::CustomsDuty, self.duty, false, duty_basis),
            (
                ChargeType::ImportVat,
                self.import_vat(),
                self.ioss,
                vat_basis,
            ),
            (
                ChargeType::HandlingFee,
                self.handling_fee,
                false,
                "per low-value consignment".to_owned(),
            ),
        ];
        let charges = candidates
            .into_iter()
            .filter(|(_, amount, _, _)| *amount > 0)
            .map(|(kind, amount, collected_at_sale, basis)| Charge {
                r#type: kind as i32,
                amount: Some(self.money(amount)),
                collected_at_sale,
                basis,
            })
            .collect();
        (charges, self.money(self.total_due()))
    }
}

/// Every Money of a declaration whose currency the policy has no rate for, as §11 refuses
/// it: VALIDATION_FAILED on that field's currency.
pub fn missing_rates(
    policy: &RevenuePolicy,
    declaration: &AdvanceDeclaration,
) -> Vec<FieldViolation> {
    let mut fields: Vec<(String, &Money)> = Vec::new();
    for (index, item) in declaration.items.iter().enumerate() {
        if let Some(value) = &item.value {
            fields.push((format!("items[{index}].value.currency"), value));
        }
        if let Some(price) = &item.listed_price {
            fields.push((format!("items[{index}].listed_price.currency"), price));
        }
    }
    if let Some(tax) = declaration
        .revenue
        .as_ref()
        .and_then(|r| r.tax_collected.as_ref())
    {
        fields.push(("revenue.tax_collected.currency".to_owned(), tax));
    }
    fields
        .into_iter()
        .filter(|(_, money)| policy.rate(&money.currency).is_none())
        .map(|(field, money)| {
            FieldViolation::new(field, format!("no exchange rate for {}", money.currency))
        })
        .collect()
}

/// A Money in the policy currency (0 when absent or without a rate; [`missing_rates`] has
/// refused such a declaration before it is charged).
pub fn converted(policy: &RevenuePolicy, money: Option<&Money>) -> i64 {
    money
        .and_then(|m| {
            policy
                .rate(&m.currency)
                .map(|rate| rate.convert(m.amount_minor))
        })
        .unwrap_or(0)
}

/// Whether the declaration claims IOSS with a registered number (VENDOR or PLATFORM model).
pub fn claims_registered_ioss(policy: &RevenuePolicy, declaration: &AdvanceDeclaration) -> bool {
    declaration.revenue.as_ref().is_some_and(|r| {
        matches!(
            CollectionModel::try_from(r.model),
            Ok(CollectionModel::Vendor | CollectionModel::Platform)
        ) && policy.ioss_registry.contains(&r.ioss_number)
    })
}

/// The charges of a declaration under a policy.
pub fn charges(policy: &RevenuePolicy, declaration: &AdvanceDeclaration) -> Charges {
    let mut categories: BTreeMap<(String, String), u32> = BTreeMap::new();
    let mut items = Vec::with_capacity(declaration.items.len());
    let mut intrinsic: i128 = 0;
    for item in &declaration.items {
        let value = converted(policy, item.value.as_ref());
        intrinsic += i128::from(value);
        let hs6: String = item.hs_code.chars().take(6).collect();
        let next = u32::try_from(categories.len()).unwrap_or(u32::MAX);
        let category = *categories
            .entry((hs6, item.origin_country.clone()))
            .or_insert(next);
        items.push(ItemCharge {
            value,
            vat: per_mille(value, policy.vat_rate_for(&item.hs_code)),
            quantity: item.quantity,
            category,
        });
    }
    let intrinsic_value = saturate(intrinsic);
    let low_value = intrinsic_value <= policy.low_value_threshold;
    let category_count = u32::try_from(categories.len()).unwrap_or(u32::MAX);
    let (duty, handling_fee) = if low_value {
        (
            policy
                .flat_duty_per_category
                .saturating_mul(i64::from(category_count)),
            policy.handling_fee,
        )
    } else {
        (per_mille(intrinsic_value, policy.duty_rate), 0)
    };
    let ioss = low_value && claims_registered_ioss(policy, declaration);
    let vat_on_goods = items.iter().fold(0_i64, |sum, i| sum.saturating_add(i.vat));
    let vat_on_duty_and_fee = if ioss {
        0
    } else {
        per_mille(duty.saturating_add(handling_fee), policy.vat_rate)
    };
    Charges {
        currency: policy.currency.clone(),
        intrinsic_value,
        low_value,
        ioss,
        categories: category_count,
        flat_duty_per_category: policy.flat_duty_per_category,
        duty_rate: policy.duty_rate,
        vat_rate: policy.vat_rate,
        duty,
        handling_fee,
        vat_on_goods,
        vat_on_duty_and_fee,
        items,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::core::revenue::testing::example_policy as example;
    use crate::proto::v1::{Item, Revenue};
    use proptest::prelude::*;

    pub(crate) fn item(hs: &str, origin: &str, quantity: u32, currency: &str, minor: i64) -> Item {
        Item {
            description: format!("goods {hs}"),
            hs_code: hs.into(),
            quantity,
            value: Some(Money {
                currency: currency.into(),
                amount_minor: minor,
            }),
            origin_country: origin.into(),
            ..Item::default()
        }
    }

    /// §11's worked example: running shoes EUR 45.00 and two T-shirts EUR 20.00, from CN.
    pub(crate) fn worked_example(ioss: bool) -> AdvanceDeclaration {
        AdvanceDeclaration {
            items: vec![
                item("640411", "CN", 1, "EUR", 4500),
                item("610910", "CN", 2, "EUR", 2000),
            ],
            revenue: ioss.then(|| Revenue {
                model: CollectionModel::Platform as i32,
                ioss_number: "IM5280001234".into(),
                tax_collected: None,
            }),
            ..AdvanceDeclaration::default()
        }
    }

    fn amounts(charges: &[Charge]) -> Vec<(ChargeType, i64, bool)> {
        charges
            .iter()
            .map(|c| {
                (
                    ChargeType::try_from(c.r#type).unwrap_or(ChargeType::Unspecified),
                    c.amount.as_ref().map_or(0, |m| m.amount_minor),
                    c.collected_at_sale,
                )
            })
            .collect()
    }

    #[test]
    fn the_worked_example_without_ioss_owes_23_33() {
        let charges = charges(&example(), &worked_example(false));
        assert_eq!(charges.intrinsic_value, 6500);
        assert_eq!(charges.categories, 2);
        assert_eq!(charges.vat_on_goods, 1365);
        let (wire, total) = charges.to_wire();
        assert_eq!(
            amounts(&wire),
            vec![
                (ChargeType::CustomsDuty, 600, false),
                (ChargeType::ImportVat, 1533, false),
                (ChargeType::HandlingFee, 200, false),
            ]
        );
        assert_eq!(total.amount_minor, 2333);
        assert_eq!(total.currency, "EUR");
        assert_eq!(wire[0].basis, "2 item categories x EUR 3.00");
        assert_eq!(
            wire[1].basis,
            "VAT on goods EUR 13.65 + 21.0% of duty and fee EUR 8.00"
        );
    }

    #[test]
    fn the_worked_example_under_ioss_owes_8_00_with_vat_collected_at_sale() {
        let charges = charges(&example(), &worked_example(true));
        assert!(charges.ioss);
        let (wire, total) = charges.to_wire();
        assert_eq!(
            amounts(&wire),
            vec![
                (ChargeType::CustomsDuty, 600, false),
                (ChargeType::ImportVat, 1365, true),
                (ChargeType::HandlingFee, 200, false),
            ]
        );
        assert_eq!(total.amount_minor, 800);
    }

    #[test]
    fn an_unregistered_number_or_the_border_model_is_not_ioss() {
        let mut declaration = worked_example(true);
        if let Some(r) = declaration.revenue.as_mut() {
            r.ioss_number = "IM9990000000".into();
        }
        assert!(!charges(&example(), &declaration).ioss);
        if let Some(r) = declaration.revenue.as_mut() {
            r.ioss_number = "IM5280001234".into();
            r.model = CollectionModel::Border as i32;
        }
        assert!(!charges(&example(), &declaration).ioss);
    }

    #[test]
    fn the_threshold_itself_is_low_value_and_one_cent_more_is_not() {
        let at = AdvanceDeclaration {
            items: vec![item("640411", "CN", 1, "EUR", 15000)],
            ..AdvanceDeclaration::default()
        };
        let c = charges(&example(), &at);
        assert!(c.low_value);
        assert_eq!((c.duty, c.handling_fee), (300, 200));
        let above = AdvanceDeclaration {
            items: vec![item("640411", "CN", 1, "EUR", 15001)],
            ..AdvanceDeclaration::default()
        };
        let c = charges(&example(), &above);
        assert!(!c.low_value);
        // 4 % of 150.01 = 6.0004 → 6.00; no fee; VAT 21 % of 150.01 = 31.5021 → 31.50, plus
        // 21 % of 6.00 = 1.26.
        assert_eq!((c.duty, c.handling_fee), (600, 0));
        assert_eq!(c.import_vat(), 3150 + 126);
        assert_eq!(c.to_wire().0[0].basis, "4.0% of EUR 150.01");
    }

    #[test]
    fn ioss_does_not_apply_above_the_threshold() {
        let mut declaration = worked_example(true);
        declaration.items[0].value = Some(Money {
            currency: "EUR".into(),
            amount_minor: 20000,
        });
        let c = charges(&example(), &declaration);
        assert!(!c.low_value);
        assert!(!c.ioss);
    }

    #[test]
    fn reduced_rates_apply_per_item() {
        let declaration = AdvanceDeclaration {
            items: vec![
                item("490199", "GB", 1, "EUR", 1000),
                item("300490", "IN", 1, "EUR", 1000),
                item("640411", "CN", 1, "EUR", 1000),
            ],
            ..AdvanceDeclaration::default()
        };
        let c = charges(&example(), &declaration);
        assert_eq!(
            c.items.iter().map(|i| i.vat).collect::<Vec<_>>(),
            vec![90, 90, 210]
        );
        assert_eq!(c.categories, 3);
    }

    #[test]
    fn foreign_currencies_are_converted_exactly_and_rounded_half_up() {
        let declaration = AdvanceDeclaration {
            // USD 12.50 x 0.92 = EUR 11.50; JPY 1,999 x 0.61 = 1,219.39 → EUR 12.19.
            items: vec![
                item("640411", "US", 1, "USD", 1250),
                item("950300", "JP", 1, "JPY", 1999),
            ],
            ..AdvanceDeclaration::default()
        };
        let c = charges(&example(), &declaration);
        assert_eq!(
            c.items.iter().map(|i| i.value).collect::<Vec<_>>(),
            vec![1150, 1219]
        );
        assert_eq!(c.intrinsic_value, 2369);
    }

    #[test]
    fn one_category_is_named_in_the_singular_and_same_hs6_and_origin_share_one() {
        let declaration = AdvanceDeclaration {
            items: vec![
                item("64041100", "CN", 1, "EUR", 1000),
                item("64041190", "CN", 1, "EUR", 1000),
            ],
            ..AdvanceDeclaration::default()
        };
        let c = charges(&example(), &declaration);
        assert_eq!(c.categories, 1);
        assert_eq!(c.to_wire().0[0].basis, "1 item category x EUR 3.00");
    }

    #[test]
    fn currencies_without_a_rate_are_named_by_field() {
        let mut declaration = worked_example(true);
        declaration.items[1].value = Some(Money {
            currency: "CHF".into(),
            amount_minor: 100,
        });
        declaration.items[0].listed_price = Some(Money {
            currency: "SEK".into(),
            amount_minor: 100,
        });
        if let Some(r) = declaration.revenue.as_mut() {
            r.tax_collected = Some(Money {
                currency: "NOK".into(),
                amount_minor: 100,
            });
        }
        let fields: Vec<(String, String)> = missing_rates(&example(), &declaration)
            .into_iter()
            .map(|v| (v.field, v.description))
            .collect();
        assert_eq!(
            fields,
            vec![
                (
                    "items[0].listed_price.currency".to_owned(),
                    "no exchange rate for SEK".to_owned()
                ),
                (
                    "items[1].value.currency".to_owned(),
                    "no exchange rate for CHF".to_owned()
                ),
                (
                    "revenue.tax_collected.currency".to_owned(),
                    "no exchange rate for NOK".to_owned()
                ),
            ]
        );
    }

    fn any_declaration() -> impl Strategy<Value = AdvanceDeclaration> {
        let item = (
            prop::sample::select(vec!["640411", "610910", "490110", "300490", "950300"]),
            prop::sample::select(vec!["CN", "US", "GB"]),
            1_u32..5,
            prop::sample::select(vec!["EUR", "USD", "JPY", "CNY"]),
            1_i64..40_000,
        )
            .prop_map(|(hs, origin, q, cur, minor)| item(hs, origin, q, cur, minor));
        (prop::collection::vec(item, 1..6), any::<bool>()).prop_map(|(items, ioss)| {
            AdvanceDeclaration {
                items,
                ..worked_example(ioss)
            }
        })
    }

    proptest! {
        #[test]
        fn charges_are_never_negative_and_total_due_is_the_border_part(
            declaration in any_declaration()
        ) {
            let c = charges(&example(), &declaration);
            let (wire, total) = c.to_wire();
            let mut border = 0;
            for charge in &wire {
                let amount = charge.amount.as_ref().map_or(0, |m| m.amount_minor);
                prop_assert!(amount > 0);
                if !charge.collected_at_sale {
                    border += amount;
                }
            }
            prop_assert_eq!(total.amount_minor, border);
            prop_assert!(c.items.iter().all(|i| i.value >= 0 && i.vat >= 0));
        }
    }
}
