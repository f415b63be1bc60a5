//! The revenue checks R1–R5 (§11 "Revenue checks"): each a request for information on the
//! field in question, raised with the risk indicators' matches by §8's severity.
//!
//! R5 (splitting one purchase into several low-value parcels) needs what other declarations
//! for the same buyer and seller were worth; the writer looks that up from its index and
//! passes the sum in, so the check itself stays a pure function.

use super::arithmetic::format_money;
use super::charges::{converted, Charges};
use super::policy::RevenuePolicy;
use crate::proto::v1::{AdvanceDeclaration, Party};
use std::collections::BTreeSet;

/// One of §11's checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevenueCheck {
    /// An IOSS number not in the registry.
    R1,
    /// A registered IOSS number on a consignment above the threshold.
    R2,
    /// Tax collected at sale differs from the VAT on goods.
    R3,
    /// An item valued well below its listed price.
    R4,
    /// One buyer and seller's parcels together exceed the threshold within the window.
    R5,
}

/// A check that applies: what it asks and about which field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevenueQuestion {
    /// Which check.
    pub check: RevenueCheck,
    /// §8's pointer.
    pub pointer: String,
    /// What the partner is asked, for `Outcome.request_text`.
    pub request_text: String,
}

impl RevenueCheck {
    /// The id a satisfied check is remembered by in the declaration's answered referrals.
    /// The `/` cannot occur in an indicator id, so a check never shadows an indicator.
    pub fn satisfaction_id(self) -> &'static str {
        match self {
            Self::R1 => "revenue/R1",
            Self::R2 => "revenue/R2",
            Self::R3 => "revenue/R3",
            Self::R4 => "revenue/R4",
            Self::R5 => "revenue/R5",
        }
    }
}

/// The first of R1–R5 that applies and is not satisfied. `others_value` is R5's sum: the V of
/// the other low-value declarations for the same buyer and seller accepted here before this
/// one within the window.
pub fn first_question(
    policy: &RevenuePolicy,
    declaration: &AdvanceDeclaration,
    charges: &Charges,
    others_value: i64,
    satisfied: &BTreeSet<String>,
) -> Option<RevenueQuestion> {
    let open = |check: RevenueCheck| !satisfied.contains(check.satisfaction_id());
    let money = |amount| format_money(&policy.currency, amount);
    let revenue = declaration.revenue.as_ref();
    let ioss_number = revenue.map_or("", |r| r.ioss_number.as_str());
    let registered = !ioss_number.is_empty() && policy.ioss_registry.contains(ioss_number);
    if open(RevenueCheck::R1) && !ioss_number.is_empty() && !registered {
        return Some(RevenueQuestion {
            check: RevenueCheck::R1,
            pointer: "revenue.ioss_number".into(),
            request_text: format!(
                "The IOSS number {ioss_number} is not in the IOSS registry. Answer with a \
                 REFERRAL_RESPONSE giving the seller's valid IOSS number, or state that import \
                 VAT is to be paid at the border."
            ),
        });
    }
    if open(RevenueCheck::R2) && registered && !charges.low_value {
        return Some(RevenueQuestion {
            check: RevenueCheck::R2,
            pointer: "revenue.ioss_number".into(),
            request_text: format!(
                "IOSS covers consignments of at most {}; this one is worth {}, so import VAT \
                 is due at the border. Answer with a REFERRAL_RESPONSE confirming the \
                 consignment's value and how the VAT charged at sale is refunded to the buyer.",
                money(policy.low_value_threshold),
                money(charges.intrinsic_value)
            ),
        });
    }
    if open(RevenueCheck::R3) && charges.ioss {
        if let Some(tax) = revenue.and_then(|r| r.tax_collected.as_ref()) {
            let collected = converted(policy, Some(tax));
            if collected.abs_diff(charges.vat_on_goods) > policy.tax_tolerance.unsigned_abs() {
                return Some(RevenueQuestion {
                    check: RevenueCheck::R3,
                    pointer: "revenue.tax_collected".into(),
                    request_text: format!(
                        "The VAT collected at sale ({}) differs from the VAT due on the goods \
                         ({}). Answer with a REFERRAL_RESPONSE explaining the difference \
                         (rates applied, discounts, shipping).",
                        money(collected),
                        money(charges.vat_on_goods)
                    ),
                });
            }
        }
    }
    if open(RevenueCheck::R4) {
        let undervalued = declaration.items.iter().enumerate().find(|(index, item)| {
            let Some(price) = item.listed_price.as_ref() else {
                return false;
            };
            let listed = i128::from(converted(policy, Some(price))) * i128::from(item.quantity);
            let value = charges.items.get(*index).map_or(0, |c| c.value);
            i128::from(value) * 1000 < listed * i128::from(1000 - policy.undervaluation.min(1000))
        });
        if let Some((index, _)) = undervalued {
            return Some(RevenueQuestion {
                check: RevenueCheck::R4,
                pointer: format!("items[{index}].value"),
                request_text: format!(
                    "items[{index}] is declared well below the price it was listed at. Answer \
                     with a REFERRAL_RESPONSE giving the price actually paid and the invoice or \
                     payment record that shows it."
                ),
            });
        }
    }
    if open(RevenueCheck::R5)
        && charges.low_value
        && charges.intrinsic_value.saturating_add(others_value) > policy.low_value_threshold
    {
        return Some(RevenueQuestion {
            check: RevenueCheck::R5,
            pointer: "buyer.name".into(),
            request_text: format!(
                "This buyer's consignments from this seller within {} hours are worth {} \
                 together, above the low-value threshold of {}. Answer with a REFERRAL_RESPONSE \
                 stating whether they are one purchase split into several parcels.",
                policy.splitting_window_h,
                money(charges.intrinsic_value.saturating_add(others_value)),
                money(policy.low_value_threshold)
            ),
        });
    }
    None
}

/// R5's key: the first 8 bytes of the SHA-256 of [`splitting_identity`], as an integer. The
/// splitting index is keyed by it rather than by names and postcodes: an 8-byte key keeps
/// the index small and its lookups cheap at millions of parcels a day, and the index holds
/// no personal data. Two different buyer-and-seller pairs share a key with probability
/// 2^-64 per pair.
pub fn splitting_key(declaration: &AdvanceDeclaration) -> i64 {
    let digest = crate::core::envelope::sha256(splitting_identity(declaration).as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// The buyer (name trimmed, lower-cased, runs of white space as one; postcode without
/// spaces, upper-cased; country) and the seller (identifier when not empty, else the
/// normalised name; the two kinds never match each other), joined by a control character no
/// name contains after normalisation.
fn splitting_identity(declaration: &AdvanceDeclaration) -> String {
    let default = Party::default();
    let buyer = declaration.buyer.as_ref().unwrap_or(&default);
    let seller = declaration.seller.as_ref().unwrap_or(&default);
    let seller_key = if seller.identifier.trim().is_empty() {
        format!("name:{}", normalised_name(&seller.name))
    } else {
        format!("id:{}", seller.identifier.trim())
    };
    format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{}",
        normalised_name(&buyer.name),
        buyer
            .postcode
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_uppercase(),
        buyer.country,
        seller_key
    )
}

fn normalised_name(name: &str) -> String {
    name.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::revenue::charges::charges;
    use crate::core::revenue::charges::tests::worked_example;
    use crate::core::revenue::testing::example_policy as example;
    use crate::proto::v1::{CollectionModel, Money, Revenue};

    fn question(declaration: &AdvanceDeclaration, others: i64) -> Option<(RevenueCheck, String)> {
        let policy = example();
        let c = charges(&policy, declaration);
        first_question(&policy, declaration, &c, others, &BTreeSet::new())
            .map(|q| (q.check, q.pointer))
    }

    fn with_revenue(number: &str, tax: Option<i64>) -> AdvanceDeclaration {
        AdvanceDeclaration {
            revenue: Some(Revenue {
                model: CollectionModel::Platform as i32,
                ioss_number: number.into(),
                tax_collected: tax.map(|amount_minor| Money {
                    currency: "EUR".into(),
                    amount_minor,
                }),
            }),
            ..worked_example(false)
        }
    }

    fn eur(amount_minor: i64) -> Option<Money> {
        Some(Money {
            currency: "EUR".into(),
            amount_minor,
        })
    }

    #[test]
    fn a_clean_declaration_raises_nothing() {
        assert_eq!(question(&worked_example(false), 0), None);
        assert_eq!(question(&with_revenue("IM5280001234", Some(1365)), 0), None);
    }

    #[test]
    fn r1_an_unregistered_ioss_number() {
        assert_eq!(
            question(&with_revenue("IM9990000001", None), 0),
            Some((RevenueCheck::R1, "revenue.ioss_number".into()))
        );
    }

    #[test]
    fn r2_a_registered_number_above_the_threshold() {
        let mut d = with_revenue("IM5280001234", None);
        d.items[0].value = eur(20000);
        assert_eq!(
            question(&d, 0),
            Some((RevenueCheck::R2, "revenue.ioss_number".into()))
        );
    }

    #[test]
    fn r3_tax_collected_outside_the_tolerance() {
        // VAT on goods 1365; tolerance 50: 1315 and 1415 pass, 1314 and 1416 do not.
        for ok in [1315, 1415] {
            assert_eq!(question(&with_revenue("IM5280001234", Some(ok)), 0), None);
        }
        for bad in [1314, 1416] {
            assert_eq!(
                question(&with_revenue("IM5280001234", Some(bad)), 0),
                Some((RevenueCheck::R3, "revenue.tax_collected".into()))
            );
        }
    }

    #[test]
    fn r4_the_first_item_declared_far_below_its_listed_price() {
        let mut d = worked_example(false);
        // T-shirts: 2 x listed 14.29 = 28.58; 70 % of it is 20.006 > 20.00: asked.
        d.items[1].listed_price = eur(1429);
        assert_eq!(
            question(&d, 0),
            Some((RevenueCheck::R4, "items[1].value".into()))
        );
        // 2 x 14.28 = 28.56; 70 % is 19.992 <= 20.00: not asked.
        d.items[1].listed_price = eur(1428);
        assert_eq!(question(&d, 0), None);
    }

    #[test]
    fn r5_this_parcel_and_the_others_above_the_threshold() {
        let d = worked_example(false);
        assert_eq!(question(&d, 15000 - 6500), None);
        assert_eq!(
            question(&d, 15000 - 6500 + 1),
            Some((RevenueCheck::R5, "buyer.name".into()))
        );
    }

    #[test]
    fn the_first_check_that_applies_wins_and_a_satisfied_one_is_passed_over() {
        let mut d = with_revenue("IM9990000001", None);
        d.items[1].listed_price = eur(5000);
        let policy = example();
        let c = charges(&policy, &d);
        let first = first_question(&policy, &d, &c, 0, &BTreeSet::new()).map(|q| q.check);
        assert_eq!(first, Some(RevenueCheck::R1));
        let satisfied = BTreeSet::from(["revenue/R1".to_owned()]);
        let next = first_question(&policy, &d, &c, 0, &satisfied).map(|q| q.check);
        assert_eq!(next, Some(RevenueCheck::R4));
    }

    #[test]
    fn the_splitting_key_normalises_the_buyer_and_keeps_id_and_name_sellers_apart() {
        let mut a = worked_example(false);
        a.buyer = Some(Party {
            name: "  Jan   de Vries ".into(),
            postcode: "1011 ab".into(),
            country: "NL".into(),
            ..Party::default()
        });
        a.seller = Some(Party {
            name: "Shoe Shop".into(),
            identifier: "CN-SELLER-1".into(),
            ..Party::default()
        });
        let mut b = a.clone();
        b.buyer = Some(Party {
            name: "jan de vries".into(),
            postcode: "1011AB".into(),
            country: "NL".into(),
            ..Party::default()
        });
        assert_eq!(splitting_key(&a), splitting_key(&b));
        let mut by_name = a.clone();
        by_name.seller = Some(Party {
            name: "CN-SELLER-1".into(),
            ..Party::default()
        });
        assert_ne!(splitting_key(&a), splitting_key(&by_name));
    }
}
