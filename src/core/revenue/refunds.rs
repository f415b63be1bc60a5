//! Refunds for returned goods (§12): computed cumulatively from the charges of the last
//! releasing outcome, so that several partial returns never refund more (or less) than one
//! full return, and a decision refunds only what the earlier ones did not.

use super::arithmetic::{format_money, per_mille, round_half_up, saturate};
use super::charges::Charges;
use crate::proto::v1::{Charge, ChargeType, Money};
use num_bigint::BigInt;
use num_integer::Integer;
use num_traits::{Signed, ToPrimitive, Zero};

/// What a declaration's returns have refunded so far, per type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refunded {
    /// CUSTOMS_DUTY refunded.
    pub duty: i64,
    /// IMPORT_VAT refunded (at the border or, under IOSS, by the seller).
    pub vat: i64,
}

/// One decision's refunds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refund {
    /// The policy currency of the charges.
    pub currency: String,
    /// CUSTOMS_DUTY this decision refunds.
    pub duty: i64,
    /// IMPORT_VAT this decision refunds.
    pub vat: i64,
    /// The VAT was collected at sale (IOSS): the seller refunds it, not the border.
    pub vat_collected_at_sale: bool,
    /// What all decisions including this one have refunded.
    pub so_far: Refunded,
}

impl Refund {
    /// `RefundDecision.refunds` (CUSTOMS_DUTY then IMPORT_VAT, zero amounts omitted) and
    /// `total_refund` (the refunds not collected at sale; always present).
    pub fn to_wire(&self) -> (Vec<Charge>, Money) {
        let money = |amount_minor| Money {
            currency: self.currency.clone(),
            amount_minor,
        };
        let vat_basis = if self.vat_collected_at_sale {
            "VAT collected at sale under IOSS: the seller refunds it".to_owned()
        } else {
            "VAT on the returned goods and on the refunded duty".to_owned()
        };
        let candidates = [
            (
                ChargeType::CustomsDuty,
                self.duty,
                false,
                format!(
                    "duty on the returned goods; {} refunded in all",
                    format_money(&self.currency, self.so_far.duty)
                ),
            ),
            (
                ChargeType::ImportVat,
                self.vat,
                self.vat_collected_at_sale,
                vat_basis,
            ),
        ];
        let refunds: Vec<Charge> = candidates
            .into_iter()
            .filter(|(_, amount, _, _)| *amount > 0)
            .map(|(kind, amount, collected_at_sale, basis)| Charge {
                r#type: kind as i32,
                amount: Some(money(amount)),
                collected_at_sale,
                basis,
            })
            .collect();
        let total = refunds
            .iter()
            .filter(|c| !c.collected_at_sale)
            .filter_map(|c| c.amount.as_ref())
            .fold(0_i64, |sum, m| sum.saturating_add(m.amount_minor));
        (refunds, money(total))
    }
}

/// The refund of one decision: `returned` is `R_i`, the units of each item returned so far
/// including this notice (clamped to what was declared), `before` what earlier decisions
/// refunded.
pub fn refund(charges: &Charges, returned: &[u32], before: Refunded) -> Refund {
    let returned_of = |index: usize| {
        let quantity = charges.items.get(index).map_or(0, |i| i.quantity);
        returned.get(index).copied().unwrap_or(0).min(quantity)
    };
    let duty = if charges.low_value {
        let categories_returned = (0..charges.categories)
            .filter(|category| {
                charges
                    .items
                    .iter()
                    .enumerate()
                    .filter(|(_, item)| item.category == *category)
                    .all(|(index, item)| returned_of(index) >= item.quantity)
            })
            .count();
        charges
            .flat_duty_per_category
            .saturating_mul(i64::try_from(categories_returned).unwrap_or(i64::MAX))
    } else {
        ad_valorem_duty_returned(charges, &returned_of)
    };
    let vat_on_goods = charges
        .items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            saturate(round_half_up(
                i128::from(item.vat) * i128::from(returned_of(index)),
                i128::from(item.quantity),
            ))
        })
        .fold(0_i64, i64::saturating_add);
    let vat = if charges.ioss {
        vat_on_goods
    } else {
        vat_on_goods.saturating_add(per_mille(duty, charges.vat_rate))
    };
    let so_far = Refunded { duty, vat };
    Refund {
        currency: charges.currency.clone(),
        duty: duty.saturating_sub(before.duty).max(0),
        vat: vat.saturating_sub(before.vat).max(0),
        vat_collected_at_sale: charges.ioss,
        so_far: Refunded {
            duty: so_far.duty.max(before.duty),
            vat: so_far.vat.max(before.vat),
        },
    }
}

/// `round(duty x Σ(v_i x R_i / Q_i) / V)` with the inner sum exact: over the least common
/// multiple of the quantities, which for 999 distinct quantities exceeds any machine
/// integer, hence big integers.
fn ad_valorem_duty_returned(charges: &Charges, returned_of: &dyn Fn(usize) -> u32) -> i64 {
    if charges.intrinsic_value <= 0 {
        return 0;
    }
    let common = charges
        .items
        .iter()
        .filter(|item| item.quantity > 0)
        .fold(BigInt::from(1), |lcm, item| {
            lcm.lcm(&BigInt::from(item.quantity))
        });
    let numerator = charges
        .items
        .iter()
        .enumerate()
        .filter(|(_, item)| item.quantity > 0)
        .fold(BigInt::zero(), |sum, (index, item)| {
            sum + BigInt::from(item.value) * BigInt::from(returned_of(index)) * &common
                / BigInt::from(item.quantity)
        });
    let top = BigInt::from(charges.duty) * numerator;
    let bottom = common * BigInt::from(charges.intrinsic_value);
    // Half up: (2 |top| + bottom) / (2 bottom), with top's sign.
    let magnitude: BigInt = (top.abs() * 2 + &bottom) / (bottom * 2);
    let rounded = if top.is_negative() {
        -magnitude
    } else {
        magnitude
    };
    rounded.to_i64().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::revenue::charges::tests::{item, worked_example};
    use crate::core::revenue::charges::{charges, ItemCharge};
    use crate::core::revenue::testing::example_policy as example;
    use crate::proto::v1::AdvanceDeclaration;
    use proptest::prelude::*;

    fn step(charges: &Charges, returned: &[u32], before: Refunded) -> Refund {
        refund(charges, returned, before)
    }

    #[test]
    fn the_worked_example_refunds_shirts_then_shoes_as_one_full_return() {
        let c = charges(&example(), &worked_example(false));
        let shirts = step(&c, &[0, 2], Refunded::default());
        assert_eq!((shirts.duty, shirts.vat), (300, 483));
        let shoes = step(&c, &[1, 2], shirts.so_far);
        assert_eq!((shoes.duty, shoes.vat), (300, 1008));
        let whole = step(&c, &[1, 2], Refunded::default());
        assert_eq!((whole.duty, whole.vat), (600, 1491));
        let (refunds, total) = shirts.to_wire();
        assert_eq!(refunds.len(), 2);
        assert_eq!(total.amount_minor, 783);
    }

    #[test]
    fn one_unit_of_two_refunds_no_low_value_duty_but_half_the_line_s_vat() {
        let c = charges(&example(), &worked_example(false));
        let one = step(&c, &[0, 1], Refunded::default());
        assert_eq!((one.duty, one.vat), (0, 210));
        let (refunds, total) = one.to_wire();
        assert_eq!(refunds.len(), 1, "a zero duty refund is omitted");
        assert_eq!(total.amount_minor, 210);
    }

    #[test]
    fn under_ioss_the_vat_refund_is_the_seller_s_and_not_in_the_total() {
        let c = charges(&example(), &worked_example(true));
        let all = step(&c, &[1, 2], Refunded::default());
        assert_eq!((all.duty, all.vat), (600, 1365));
        let (refunds, total) = all.to_wire();
        assert!(refunds[1].collected_at_sale);
        assert_eq!(total.amount_minor, 600);
    }

    #[test]
    fn ad_valorem_duty_is_refunded_by_value_share_rounded_once() {
        let declaration = AdvanceDeclaration {
            items: vec![
                item("640411", "CN", 3, "EUR", 10000),
                item("610910", "CN", 7, "EUR", 10001),
            ],
            ..AdvanceDeclaration::default()
        };
        let c = charges(&example(), &declaration);
        assert!(!c.low_value);
        assert_eq!(c.duty, 800); // 4 % of 200.01
                                 // One shoe of three: 800 x (10000 / 3) / 20001 = 133.32 → 133.
        let one = step(&c, &[1, 0], Refunded::default());
        assert_eq!(one.duty, 133);
        let all = step(&c, &[3, 7], Refunded::default());
        assert_eq!(all.duty, 800);
    }

    #[test]
    fn an_exact_half_is_rounded_up() {
        let c = Charges {
            currency: "EUR".into(),
            intrinsic_value: 20000,
            low_value: false,
            ioss: false,
            categories: 1,
            flat_duty_per_category: 300,
            duty_rate: 40,
            vat_rate: 210,
            duty: 1,
            handling_fee: 0,
            vat_on_goods: 1,
            vat_on_duty_and_fee: 0,
            items: vec![ItemCharge {
                value: 20000,
                vat: 1,
                quantity: 2,
                category: 0,
            }],
        };
        // duty 1 x (20000 x 1 / 2) / 20000 = 0.5 → 1; vat 1 x 1 / 2 = 0.5 → 1.
        let half = step(&c, &[1], Refunded::default());
        assert_eq!(half.so_far.duty, 1);
        assert_eq!(half.so_far.vat, 1 + per_mille(1, 210));
    }

    #[test]
    fn many_distinct_quantities_do_not_overflow() {
        let items: Vec<ItemCharge> = (0..999_u32)
            .map(|i| ItemCharge {
                value: 1000,
                vat: 210,
                quantity: 1_000_000 + i,
                category: 0,
            })
            .collect();
        let c = Charges {
            currency: "EUR".into(),
            intrinsic_value: 999_000,
            low_value: false,
            ioss: false,
            categories: 1,
            flat_duty_per_category: 0,
            duty_rate: 40,
            vat_rate: 210,
            duty: 39_960,
            handling_fee: 0,
            vat_on_goods: 209_790,
            vat_on_duty_and_fee: 8_392,
            items,
        };
        let all: Vec<u32> = c.items.iter().map(|i| i.quantity).collect();
        assert_eq!(step(&c, &all, Refunded::default()).duty, 39_960);
    }

    fn any_case() -> impl Strategy<Value = (AdvanceDeclaration, Vec<Vec<u32>>)> {
        let line = (
            prop::sample::select(vec!["640411", "610910", "490110", "950300"]),
            prop::sample::select(vec!["CN", "US"]),
            1_u32..5,
            prop::sample::select(vec!["EUR", "USD", "JPY"]),
            1_i64..30_000,
        );
        (
            prop::collection::vec(line, 1..5),
            any::<bool>(),
            any::<u64>(),
        )
            .prop_map(|(lines, ioss, seed)| {
                let items: Vec<_> = lines
                    .into_iter()
                    .map(|(hs, origin, q, cur, minor)| item(hs, origin, q, cur, minor))
                    .collect();
                // Split every item's quantity over up to three notices, from the seed.
                let mut notices = vec![vec![0_u32; items.len()]; 3];
                for (index, it) in items.iter().enumerate() {
                    for unit in 0..it.quantity {
                        let notice = ((seed >> ((index * 7 + unit as usize) % 60)) % 3) as usize;
                        notices[notice][index] += 1;
                    }
                }
                let declaration = AdvanceDeclaration {
                    items,
                    ..worked_example(ioss)
                };
                (declaration, notices)
            })
    }

    proptest! {
        #[test]
        fn any_split_of_a_return_refunds_exactly_the_whole_return((declaration, notices) in any_case()) {
            let c = charges(&example(), &declaration);
            let mut returned = vec![0_u32; declaration.items.len()];
            let mut before = Refunded::default();
            let (mut duty, mut vat) = (0_i64, 0_i64);
            for notice in &notices {
                for (r, n) in returned.iter_mut().zip(notice) {
                    *r += n;
                }
                let r = refund(&c, &returned, before);
                prop_assert!(r.duty >= 0 && r.vat >= 0);
                duty += r.duty;
                vat += r.vat;
                before = r.so_far;
            }
            let whole = refund(&c, &returned, Refunded::default());
            prop_assert_eq!((duty, vat), (whole.duty, whole.vat));
            // A full return refunds every charge but the handling fee.
            prop_assert_eq!(whole.duty, c.duty);
            prop_assert_eq!(whole.vat, c.vat_on_goods + if c.ioss { 0 } else { per_mille(c.duty, c.vat_rate) });
        }
    }
}
