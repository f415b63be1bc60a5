//! How the store keeps a declaration's account (its release, charges, returns and refunds)
//! in one column: a compact protobuf message of the store's own, not part of the contract.
//!
//! Every released declaration of a charging gateway writes its account with the group, on
//! the writer's serial path, so its size is paid in WAL bytes per declaration at every
//! declaration: packed varints keep it to a few dozen bytes where JSON took several
//! hundred and cost a measurable share of SubmitStream throughput. Any backend stores the
//! same bytes.

use super::StoreError;
use crate::core::ledger::Account;
use crate::core::revenue::{Charges, ItemCharge, Refunded};
use prost::Message;

#[derive(Clone, PartialEq, prost::Message)]
struct StoredAccount {
    #[prost(int64, optional, tag = "1")]
    first_released_at_ms: Option<i64>,
    #[prost(message, optional, tag = "2")]
    charges: Option<StoredCharges>,
    #[prost(uint32, repeated, tag = "3")]
    returned: Vec<u32>,
    #[prost(int64, tag = "4")]
    refunded_duty: i64,
    #[prost(int64, tag = "5")]
    refunded_vat: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct StoredCharges {
    #[prost(string, tag = "1")]
    currency: String,
    #[prost(int64, tag = "2")]
    intrinsic_value: i64,
    #[prost(bool, tag = "3")]
    low_value: bool,
    #[prost(bool, tag = "4")]
    ioss: bool,
    #[prost(uint32, tag = "5")]
    categories: u32,
    #[prost(int64, tag = "6")]
    flat_duty_per_category: i64,
    #[prost(uint32, tag = "7")]
    duty_rate: u32,
    #[prost(uint32, tag = "8")]
    vat_rate: u32,
    #[prost(int64, tag = "9")]
    duty: i64,
    #[prost(int64, tag = "10")]
    handling_fee: i64,
    #[prost(int64, tag = "11")]
    vat_on_goods: i64,
    #[prost(int64, tag = "12")]
    vat_on_duty_and_fee: i64,
    #[prost(int64, repeated, tag = "13")]
    item_values: Vec<i64>,
    #[prost(int64, repeated, tag = "14")]
    item_vat: Vec<i64>,
    #[prost(uint32, repeated, tag = "15")]
    item_quantities: Vec<u32>,
    #[prost(uint32, repeated, tag = "16")]
    item_categories: Vec<u32>,
}

/// A declaration's account as stored: empty while it has nothing to record (every
/// declaration of a gateway without a revenue policy, until released).
pub(crate) fn account_bytes(account: &Account) -> Vec<u8> {
    if *account == Account::default() {
        return Vec::new();
    }
    StoredAccount {
        first_released_at_ms: account.first_released_at_ms,
        charges: account.charges.as_ref().map(|c| StoredCharges {
            currency: c.currency.clone(),
            intrinsic_value: c.intrinsic_value,
            low_value: c.low_value,
            ioss: c.ioss,
            categories: c.categories,
            flat_duty_per_category: c.flat_duty_per_category,
            duty_rate: c.duty_rate,
            vat_rate: c.vat_rate,
            duty: c.duty,
            handling_fee: c.handling_fee,
            vat_on_goods: c.vat_on_goods,
            vat_on_duty_and_fee: c.vat_on_duty_and_fee,
            item_values: c.items.iter().map(|i| i.value).collect(),
            item_vat: c.items.iter().map(|i| i.vat).collect(),
            item_quantities: c.items.iter().map(|i| i.quantity).collect(),
            item_categories: c.items.iter().map(|i| i.category).collect(),
        }),
        returned: account.returned.clone(),
        refunded_duty: account.refunded.duty,
        refunded_vat: account.refunded.vat,
    }
    .encode_to_vec()
}

/// Reads an account back; bytes that do not decode, or per-item lists of different
/// lengths, are corruption.
pub(crate) fn account_from_bytes(bytes: &[u8]) -> Result<Account, StoreError> {
    if bytes.is_empty() {
        return Ok(Account::default());
    }
    let corrupt = |why: String| StoreError::Corrupt(format!("declaration account: {why}"));
    let stored = StoredAccount::decode(bytes).map_err(|e| corrupt(e.to_string()))?;
    let charges = match stored.charges {
        None => None,
        Some(c) => {
            let count = c.item_values.len();
            if c.item_vat.len() != count
                || c.item_quantities.len() != count
                || c.item_categories.len() != count
            {
                return Err(corrupt("per-item lists of different lengths".into()));
            }
            let items = (0..count)
                .map(|i| ItemCharge {
                    value: c.item_values[i],
                    vat: c.item_vat[i],
                    quantity: c.item_quantities[i],
                    category: c.item_categories[i],
                })
                .collect();
            Some(Charges {
                currency: c.currency,
                intrinsic_value: c.intrinsic_value,
                low_value: c.low_value,
                ioss: c.ioss,
                categories: c.categories,
                flat_duty_per_category: c.flat_duty_per_category,
                duty_rate: c.duty_rate,
                vat_rate: c.vat_rate,
                duty: c.duty,
                handling_fee: c.handling_fee,
                vat_on_goods: c.vat_on_goods,
                vat_on_duty_and_fee: c.vat_on_duty_and_fee,
                items,
            })
        }
    };
    Ok(Account {
        first_released_at_ms: stored.first_released_at_ms,
        charges,
        returned: stored.returned,
        refunded: Refunded {
            duty: stored.refunded_duty,
            vat: stored.refunded_vat,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_round_trips_in_a_few_dozen_bytes() {
        let account = Account {
            first_released_at_ms: Some(1_796_284_800_000),
            charges: Some(Charges {
                currency: "EUR".into(),
                intrinsic_value: 6500,
                low_value: true,
                ioss: false,
                categories: 2,
                flat_duty_per_category: 300,
                duty_rate: 40,
                vat_rate: 210,
                duty: 600,
                handling_fee: 200,
                vat_on_goods: 1365,
                vat_on_duty_and_fee: 168,
                items: vec![
                    ItemCharge {
                        value: 4500,
                        vat: 945,
                        quantity: 1,
                        category: 0,
                    },
                    ItemCharge {
                        value: 2000,
                        vat: 420,
                        quantity: 2,
                        category: 1,
                    },
                ],
            }),
            returned: vec![0, 2],
            refunded: Refunded {
                duty: 300,
                vat: 483,
            },
        };
        let bytes = account_bytes(&account);
        assert!(bytes.len() < 80, "{} bytes", bytes.len());
        assert_eq!(account_from_bytes(&bytes).ok(), Some(account));
        assert!(account_bytes(&Account::default()).is_empty());
        assert_eq!(account_from_bytes(&[]).ok(), Some(Account::default()));
        assert!(account_from_bytes(&[0xff, 0xff]).is_err());
    }
}
