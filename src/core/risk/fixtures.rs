//! The indicators, criteria and sample declaration that the tests of every part of the risk
//! engine share, so that matching, the index, assessment and validation are tested on the same
//! data.

use super::{IndicatorRecord, RiskIndex};
use crate::core::validation::sample_declaration;
use crate::proto::v1::{AdvanceDeclaration, Criteria, Money, OutcomeCode, RiskIndicator, Tlp};

pub(super) const NOW: i64 = 1_780_000_000_000;

pub(super) fn money(currency: &str, amount_minor: i64) -> Option<Money> {
    Some(Money {
        currency: currency.into(),
        amount_minor,
    })
}

pub(super) fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// A valid indicator: counterfeit running shoes from CN.
pub(super) fn indicator(id: &str, action: OutcomeCode, criteria: Criteria) -> RiskIndicator {
    RiskIndicator {
        indicator_id: id.into(),
        version: 1,
        title: "Counterfeit sports footwear".into(),
        rationale: "Seizures of counterfeit running shoes in Q1".into(),
        tlp: Tlp::Amber as i32,
        personal_data: false,
        criteria: Some(criteria),
        action: action as i32,
        valid_until_ms: 0,
    }
}

pub(super) fn record(id: &str, action: OutcomeCode, criteria: Criteria) -> IndicatorRecord {
    IndicatorRecord {
        indicator: indicator(id, action, criteria),
        issuer: "adm/NL".into(),
    }
}

pub(super) fn index_of(records: impl IntoIterator<Item = IndicatorRecord>) -> RiskIndex {
    let mut index = RiskIndex::new();
    for record in records {
        assert_eq!(index.upsert(record), Ok(None));
    }
    index
}

/// The sample: seller "Shenzhen Apex Sports Co., Ltd." / SHOPCO-S-004417, dispatched from
/// CN; items[0] running shoes 64041100 CN, items[1] smartwatch 851762 CN, items[2]
/// handbag 42022100 VN; 5,999 + 9,900 + 7,900 = 23,799 EUR cents.
pub(super) fn declaration() -> AdvanceDeclaration {
    sample_declaration("SHP-2026-000001")
}

pub(super) fn hs(prefixes: &[&str]) -> Criteria {
    Criteria {
        hs_prefixes: strings(prefixes),
        ..Criteria::default()
    }
}

pub(super) fn origin(countries: &[&str]) -> Criteria {
    Criteria {
        origin_countries: strings(countries),
        ..Criteria::default()
    }
}

pub(super) fn dispatch(countries: &[&str]) -> Criteria {
    Criteria {
        dispatch_countries: strings(countries),
        ..Criteria::default()
    }
}

pub(super) fn sellers(ids: &[&str]) -> Criteria {
    Criteria {
        seller_ids: strings(ids),
        ..Criteria::default()
    }
}

pub(super) fn seller_names(terms: &[&str]) -> Criteria {
    Criteria {
        seller_name_terms: strings(terms),
        ..Criteria::default()
    }
}

pub(super) fn descriptions(terms: &[&str]) -> Criteria {
    Criteria {
        description_terms: strings(terms),
        ..Criteria::default()
    }
}

pub(super) fn value(min: Option<Money>, max: Option<Money>) -> Criteria {
    Criteria {
        min_value: min,
        max_value: max,
        ..Criteria::default()
    }
}
