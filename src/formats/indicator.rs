//! The JSON form of a [`RiskIndicator`], read by `aedgate indicator publish FILE.json`.
//!
//! Risk analysts write indicators by hand, keep them under version control and review them
//! in pull requests, so the form follows the declaration's ([`super::declaration`]): every
//! key is the proto field name, enums are written by their short name (`"AMBER"`,
//! `"REQUEST_FOR_INFORMATION"`), Money is `{currency, amount_minor}`, an unknown or misspelt
//! key is an error (a dropped `seller_ids` would silently widen the indicator to every
//! seller), and reading checks the form only, leaving the content to
//! [`crate::core::risk::validate_indicator`], which the gateway applies.
//!
//! One field departs from the proto: the end of validity is written `valid_until`, an
//! RFC 3339 timestamp (`"2026-12-31T23:59:59Z"`), instead of `valid_until_ms`. An analyst
//! reads and writes dates, not milliseconds since 1970, and a mistyped millisecond count
//! looks just as plausible as the right one. Only the RFC 3339 form is accepted, so that a
//! file has one way to say it; leaving it out means "no end date" (`valid_until_ms = 0`).
//! The gateway's violations still name `valid_until_ms`, the wire field.
//!
//! `valid_until` keeps millisecond precision: finer digits are dropped (rounding down, which
//! still covers the whole last millisecond since an indicator is in force up to and
//! including its `valid_until_ms`). An instant at or before 1970-01-01T00:00:00Z is refused
//! while reading, because the epoch itself would turn into 0, "no end date", the opposite of
//! what was written. Writing is the inverse, in UTC; the only losses are a `valid_until_ms`
//! beyond 9999-12-31T23:59:59.999Z (RFC 3339 has four-digit years), written as that instant,
//! and enum numbers without a name here (`ASSESSMENT_COMPLETE`, which is no action, unknown
//! numbers), written as absent; such indicators fail validation or never end either way.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::declaration::MoneyJson;
use super::{is_zero_u32, read, write, Form, FormatError};
use crate::proto::v1::{Criteria, OutcomeCode, RiskIndicator, Tlp};

/// Reads a risk indicator from its JSON form (form only; the gateway validates the content).
///
/// # Errors
///
/// [`FormatError::Json`] when the text is not JSON, or JSON of another shape (unknown key,
/// wrong type, unknown enum name, a `valid_until` that is not an RFC 3339 instant after
/// 1970).
pub fn from_json(text: &str) -> Result<RiskIndicator, FormatError> {
    read::<IndicatorJson, _>(Form::Indicator, text.as_bytes())
}

/// Writes a risk indicator in its JSON form, pretty-printed, with a final newline.
pub fn to_json(indicator: &RiskIndicator) -> String {
    write(&IndicatorJson::from(indicator))
}

/// `valid_until_ms` as RFC 3339 in UTC, with as many fraction digits as the milliseconds
/// need; clamped to the years RFC 3339 can write (0000–9999).
pub fn format_valid_until(ms: i64) -> String {
    // 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z.
    const MIN_MS: i64 = -62_167_219_200_000;
    const MAX_MS: i64 = 253_402_300_799_999;
    let clamped = ms.clamp(MIN_MS, MAX_MS);
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(clamped) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{clamped} ms"))
}

/// Parses an RFC 3339 instant into milliseconds since the epoch, rounding finer digits
/// down; refuses the epoch and earlier (see the module documentation).
pub fn parse_valid_until(text: &str) -> Result<i64, String> {
    let t = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
        format!("valid_until {text:?} is not an RFC 3339 timestamp such as \"2026-12-31T23:59:59Z\" ({e})")
    })?;
    let ms = t.unix_timestamp_nanos().div_euclid(1_000_000);
    match i64::try_from(ms) {
        Ok(ms) if ms > 0 => Ok(ms),
        _ => Err(format!(
            "valid_until {text:?} must be after 1970-01-01T00:00:00Z; leave it out for no end date"
        )),
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct IndicatorJson {
    #[serde(skip_serializing_if = "String::is_empty")]
    indicator_id: String,
    #[serde(skip_serializing_if = "is_zero_u32")]
    version: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    rationale: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tlp: Option<TlpJson>,
    #[serde(skip_serializing_if = "is_false")]
    personal_data: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    criteria: Option<CriteriaJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<ActionJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_until: Option<ValidUntil>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CriteriaJson {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hs_prefixes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    origin_countries: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dispatch_countries: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    seller_ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    seller_name_terms: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    description_terms: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_value: Option<MoneyJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_value: Option<MoneyJson>,
}

/// `valid_until_ms`, read and written as RFC 3339.
#[derive(Clone, Copy, Debug)]
struct ValidUntil(i64);

impl Serialize for ValidUntil {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_valid_until(self.0))
    }
}

impl<'de> Deserialize<'de> for ValidUntil {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_valid_until(&text)
            .map(ValidUntil)
            .map_err(serde::de::Error::custom)
    }
}

/// TLP levels by name. Read through a string (`try_from`) so that a number or `null` is
/// reported as a value of the wrong type, with its position, rather than as malformed JSON
/// (serde_json's own enum reader calls `"tlp": 3` a syntax error).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE", try_from = "String")]
enum TlpJson {
    Clear,
    Green,
    Amber,
    AmberStrict,
    Red,
}

impl TryFrom<String> for TlpJson {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        one_of(
            &name,
            "TLP",
            &[
                ("CLEAR", Self::Clear),
                ("GREEN", Self::Green),
                ("AMBER", Self::Amber),
                ("AMBER_STRICT", Self::AmberStrict),
                ("RED", Self::Red),
            ],
        )
    }
}

/// The value `name` stands for among `names`, or a message that lists them all, for enums
/// read through a string; `what` is the field as the message names it (`TLP`, `action`).
fn one_of<T: Copy>(name: &str, what: &str, names: &[(&str, T)]) -> Result<T, String> {
    match names.iter().find(|(known, _)| *known == name) {
        Some((_, value)) => Ok(*value),
        None => {
            let expected: Vec<String> = names.iter().map(|(n, _)| format!("`{n}`")).collect();
            Err(format!(
                "unknown {what} `{name}`, expected one of {}",
                expected.join(", ")
            ))
        }
    }
}

/// The actions an indicator can ask for; `ASSESSMENT_COMPLETE` is the absence of one. Read
/// through a string for the reason given at [`TlpJson`].
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE", try_from = "String")]
enum ActionJson {
    RequestForInformation,
    RequestForScreening,
    DoNotLoad,
    ControlOnArrival,
}

impl TryFrom<String> for ActionJson {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        if name == "ASSESSMENT_COMPLETE" {
            return Err(
                "`ASSESSMENT_COMPLETE` is the absence of risk, not an action; expected one of \
                 `REQUEST_FOR_INFORMATION`, `REQUEST_FOR_SCREENING`, `DO_NOT_LOAD`, `CONTROL_ON_ARRIVAL`"
                    .to_owned(),
            );
        }
        one_of(
            &name,
            "action",
            &[
                ("REQUEST_FOR_INFORMATION", Self::RequestForInformation),
                ("REQUEST_FOR_SCREENING", Self::RequestForScreening),
                ("DO_NOT_LOAD", Self::DoNotLoad),
                ("CONTROL_ON_ARRIVAL", Self::ControlOnArrival),
            ],
        )
    }
}

json_names!(TlpJson => Tlp { Clear, Green, Amber, AmberStrict, Red });
json_names!(ActionJson => OutcomeCode {
    RequestForInformation,
    RequestForScreening,
    DoNotLoad,
    ControlOnArrival,
});

impl From<IndicatorJson> for RiskIndicator {
    fn from(i: IndicatorJson) -> Self {
        RiskIndicator {
            indicator_id: i.indicator_id,
            version: i.version,
            title: i.title,
            rationale: i.rationale,
            tlp: i.tlp.map_or(Tlp::Unspecified, Into::into) as i32,
            personal_data: i.personal_data,
            criteria: i.criteria.map(Into::into),
            action: i.action.map_or(OutcomeCode::Unspecified, Into::into) as i32,
            valid_until_ms: i.valid_until.map_or(0, |v| v.0),
        }
    }
}

impl From<&RiskIndicator> for IndicatorJson {
    fn from(i: &RiskIndicator) -> Self {
        IndicatorJson {
            indicator_id: i.indicator_id.clone(),
            version: i.version,
            title: i.title.clone(),
            rationale: i.rationale.clone(),
            tlp: TlpJson::of(i.tlp),
            personal_data: i.personal_data,
            criteria: i.criteria.as_ref().map(Into::into),
            action: ActionJson::of(i.action),
            valid_until: (i.valid_until_ms != 0).then_some(ValidUntil(i.valid_until_ms)),
        }
    }
}

impl From<CriteriaJson> for Criteria {
    fn from(c: CriteriaJson) -> Self {
        Criteria {
            hs_prefixes: c.hs_prefixes,
            origin_countries: c.origin_countries,
            dispatch_countries: c.dispatch_countries,
            seller_ids: c.seller_ids,
            seller_name_terms: c.seller_name_terms,
            description_terms: c.description_terms,
            min_value: c.min_value.map(Into::into),
            max_value: c.max_value.map(Into::into),
        }
    }
}

impl From<&Criteria> for CriteriaJson {
    fn from(c: &Criteria) -> Self {
        CriteriaJson {
            hs_prefixes: c.hs_prefixes.clone(),
            origin_countries: c.origin_countries.clone(),
            dispatch_countries: c.dispatch_countries.clone(),
            seller_ids: c.seller_ids.clone(),
            seller_name_terms: c.seller_name_terms.clone(),
            description_terms: c.description_terms.clone(),
            min_value: c.min_value.as_ref().map(Into::into),
            max_value: c.max_value.as_ref().map(Into::into),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::risk::{criteria_match, validate_indicator};
    use crate::core::validation::sample_declaration;
    use crate::proto::v1::Money;
    use serde_json::error::Category;

    const EXAMPLE: &str = include_str!("../../docs/indicator-example.json");
    /// 2026-06-01T00:00:00Z: the examples are checked as of a fixed day, so that their end
    /// dates do not turn the tests red when the calendar passes them.
    const JUNE_2026_MS: i64 = 1_780_272_000_000;

    fn full() -> RiskIndicator {
        RiskIndicator {
            indicator_id: "NL-2026-COA-0042".into(),
            version: 3,
            title: "Mobile phones declared at EUR 20 or less".into(),
            rationale: "Undervaluation to stay below VAT thresholds.".into(),
            tlp: Tlp::Green as i32,
            personal_data: true,
            criteria: Some(Criteria {
                hs_prefixes: vec!["8517".into()],
                origin_countries: vec!["CN".into(), "HK".into()],
                dispatch_countries: vec!["CN".into()],
                seller_ids: vec!["SHOPCO-S-009921".into()],
                seller_name_terms: vec!["Fleetfoot Trading".into()],
                description_terms: vec!["smartphone".into()],
                min_value: Some(Money {
                    currency: "EUR".into(),
                    amount_minor: 1,
                }),
                max_value: Some(Money {
                    currency: "EUR".into(),
                    amount_minor: 2_000,
                }),
            }),
            action: OutcomeCode::ControlOnArrival as i32,
            valid_until_ms: 1_798_761_599_999,
        }
    }

    #[test]
    fn every_field_round_trips() {
        let indicator = full();
        let text = to_json(&indicator);
        assert_eq!(from_json(&text).unwrap(), indicator);
        for written in [
            "\"tlp\": \"GREEN\"",
            "\"action\": \"CONTROL_ON_ARRIVAL\"",
            "\"valid_until\": \"2026-12-31T23:59:59.999Z\"",
            "\"currency\": \"EUR\",\n",
        ] {
            assert!(text.contains(written), "{written} in {text}");
        }
        assert!(!text.contains("valid_until_ms"), "{text}");
    }

    #[test]
    fn every_tlp_and_action_round_trips_by_its_short_name() {
        let names = ["CLEAR", "GREEN", "AMBER", "AMBER_STRICT", "RED"];
        for (n, name) in names.iter().enumerate() {
            let mut i = full();
            i.tlp = n as i32 + 1;
            let text = to_json(&i);
            assert!(text.contains(&format!("\"tlp\": \"{name}\"")), "{text}");
            assert_eq!(from_json(&text).unwrap(), i);
        }
        for (code, name) in [
            (2, "REQUEST_FOR_INFORMATION"),
            (3, "REQUEST_FOR_SCREENING"),
            (4, "DO_NOT_LOAD"),
            (5, "CONTROL_ON_ARRIVAL"),
        ] {
            let mut i = full();
            i.action = code;
            let text = to_json(&i);
            assert!(text.contains(&format!("\"action\": \"{name}\"")), "{text}");
            assert_eq!(from_json(&text).unwrap(), i);
        }
    }

    #[test]
    fn defaults_are_left_out_and_read_back() {
        let i = RiskIndicator {
            indicator_id: "X".into(),
            ..Default::default()
        };
        let text = to_json(&i);
        assert_eq!(text, "{\n  \"indicator_id\": \"X\"\n}\n");
        assert_eq!(from_json(&text).unwrap(), i);
        assert_eq!(from_json("{}").unwrap(), RiskIndicator::default());
        assert!(!validate_indicator(&RiskIndicator::default(), 0).is_empty());
    }

    #[test]
    fn the_documented_example_is_valid_and_asks_for_information() {
        let indicator = from_json(EXAMPLE).unwrap();
        assert_eq!(validate_indicator(&indicator, JUNE_2026_MS), []);
        assert_eq!(indicator.action, OutcomeCode::RequestForInformation as i32);
        assert_eq!(from_json(&to_json(&indicator)).unwrap(), indicator);
        // It selects the named seller's trainers, not the sample declaration's shoes.
        let criteria = indicator.criteria.as_ref().unwrap();
        let mut d = sample_declaration("X");
        assert!(!criteria_match(criteria, &d));
        d.seller.as_mut().unwrap().name = "Putian Fleetfoot Trading Co., Ltd.".into();
        assert!(criteria_match(criteria, &d));
    }

    #[test]
    fn the_example_in_the_format_doc_is_valid() {
        let doc = include_str!("../../docs/indicator-json.md");
        let indicator = from_json(super::super::first_json_block(doc)).unwrap();
        assert_eq!(validate_indicator(&indicator, JUNE_2026_MS), []);
    }

    #[test]
    fn valid_until_is_rfc3339_in_any_offset_to_the_millisecond() {
        let read = |v: &str| from_json(&format!("{{\"valid_until\": \"{v}\"}}"));
        assert_eq!(
            read("2026-12-31T23:59:59Z").unwrap().valid_until_ms,
            1_798_761_599_000
        );
        assert_eq!(
            read("2027-01-01T00:59:59+01:00").unwrap().valid_until_ms,
            1_798_761_599_000
        );
        // Finer than a millisecond: rounded down, still covering the last millisecond.
        assert_eq!(
            read("2026-12-31T23:59:59.999999Z").unwrap().valid_until_ms,
            1_798_761_599_999
        );
        assert_eq!(
            format_valid_until(1_798_761_599_000),
            "2026-12-31T23:59:59Z"
        );
        // Written in UTC.
        let i = read("2027-01-01T00:59:59+01:00").unwrap();
        assert!(to_json(&i).contains("\"2026-12-31T23:59:59Z\""));
    }

    #[test]
    fn valid_until_in_milliseconds_or_other_forms_is_refused() {
        for bad in [
            r#"{"valid_until_ms": 1798761599000}"#,
            r#"{"valid_until": 1798761599000}"#,
            r#"{"valid_until": "2026-12-31"}"#,
            r#"{"valid_until": "2026-12-31 23:59:59"}"#,
            r#"{"valid_until": "31/12/2026"}"#,
            r#"{"valid_until": "1970-01-01T00:00:00Z"}"#,
            r#"{"valid_until": "1969-07-20T20:17:40Z"}"#,
        ] {
            let err = from_json(bad).unwrap_err();
            assert_eq!(err.category(), Some(Category::Data), "{bad}: {err:?}");
        }
        let message = from_json(r#"{"valid_until": "1970-01-01T00:00:00Z"}"#)
            .unwrap_err()
            .to_string();
        assert!(message.contains("no end date"), "{message}");
        let message = from_json("{\n\"valid_until\": \"tomorrow\"}")
            .unwrap_err()
            .to_string();
        assert!(message.contains("RFC 3339"), "{message}");
        assert!(message.contains("line 2"), "{message}");
    }

    #[test]
    fn far_future_ends_are_clamped_to_what_rfc3339_can_write() {
        let mut i = full();
        i.valid_until_ms = i64::MAX;
        let text = to_json(&i);
        assert!(text.contains("\"9999-12-31T23:59:59.999Z\""), "{text}");
        let back = from_json(&text).unwrap();
        assert_eq!(back.valid_until_ms, 253_402_300_799_999);
    }

    #[test]
    fn unknown_fields_and_names_are_refused_with_their_position() {
        let err = from_json("{\n  \"criteria\": {\"hs_prefix\": [\"6404\"]}\n}").unwrap_err();
        assert_eq!(err.category(), Some(Category::Data), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("unknown field `hs_prefix`"), "{message}");
        assert!(message.contains("`hs_prefixes`"), "{message}");
        assert_eq!(err.line(), 2);
        assert!(err.column() > 0);
        for bad in [
            r#"{"tlp": "AMBER+STRICT"}"#,
            r#"{"tlp": "amber"}"#,
            r#"{"tlp": 3}"#,
            r#"{"tlp": "TLP_AMBER"}"#,
            r#"{"action": "ASSESSMENT_COMPLETE"}"#,
            r#"{"action": "RFI"}"#,
            r#"{"criteria": {"max_value": {"currency": "EUR", "amount_minor": 20.0}}}"#,
            r#"{"criteria": {"seller_ids": "SHOPCO-S-1"}}"#,
            r#"{"version": -1}"#,
        ] {
            let err = from_json(bad).unwrap_err();
            assert_eq!(err.category(), Some(Category::Data), "{bad}: {err:?}");
        }
        let message = from_json(r#"{"action": "RFI"}"#).unwrap_err().to_string();
        assert!(message.contains("unknown action `RFI`"), "{message}");
        assert!(message.contains("`REQUEST_FOR_INFORMATION`"), "{message}");
        let message = from_json(r#"{"tlp": "AMBER+STRICT"}"#)
            .unwrap_err()
            .to_string();
        assert!(message.contains("`AMBER_STRICT`"), "{message}");
        let message = from_json("{\n\"tlp\": 3}").unwrap_err().to_string();
        assert!(message.contains("invalid type: integer `3`"), "{message}");
        assert!(message.contains("line 2"), "{message}");
    }

    #[test]
    fn malformed_json_is_a_syntax_error() {
        let err = from_json("{\"indicator_id\": \"A\",\n}").unwrap_err();
        assert_eq!(err.category(), Some(Category::Syntax), "{err:?}");
        assert_eq!(err.line(), 2);
    }

    #[test]
    fn unnamed_enum_numbers_are_written_as_absent() {
        let mut i = full();
        i.tlp = 42;
        i.action = OutcomeCode::AssessmentComplete as i32;
        let text = to_json(&i);
        assert!(!text.contains("\"tlp\""), "{text}");
        assert!(!text.contains("\"action\""), "{text}");
    }
}
