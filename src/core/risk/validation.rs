//! Which indicators and revocations a gateway accepts. An indicator from a peer acts on this
//! administration's traffic, so it is held to the rules the administration's own risk unit
//! would set, and every violation is reported at once with its field path, as for
//! declarations. It is kept apart from matching, which must stay total on whatever slips
//! past: a malformed indicator fails closed to "no match" there.

use std::fmt;

use super::matching::is_empty_criteria;
use crate::core::codes;
use crate::core::rejection::{FieldViolation, Violations};
use crate::core::validation::optional_text;
use crate::proto::v1::{Criteria, Money, OutcomeCode, RiskIndicator, RiskIndicatorRevocation, Tlp};

/// Longest `indicator_id`, in characters: that of a participant id (§1), so that ids can be
/// namespaced by their issuer (`adm/NL` issues `NL:2026:0042`).
pub const MAX_INDICATOR_ID_CHARS: usize = 64;
/// Longest `title`, in characters: one line in an analyst's list.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest `rationale`, in characters.
pub const MAX_RATIONALE_CHARS: usize = 2000;
/// Longest revocation `reason`, in characters.
pub const MAX_REVOCATION_REASON_CHARS: usize = 500;
/// Longest seller id in criteria, in characters: seller accounts of marketplaces are longer
/// than the 17 characters of an EORI that §7 allows in a declaration, and an indicator may be
/// written from a marketplace's data.
pub const MAX_SELLER_ID_CHARS: usize = 64;
/// Longest term, in characters: a phrase, not a paragraph.
pub const MAX_TERM_CHARS: usize = 100;
/// Shortest HS prefix, in digits: one HS chapter.
pub const MIN_HS_PREFIX_DIGITS: usize = 2;
/// Longest HS prefix, in digits: a full 10-digit national tariff code.
pub const MAX_HS_PREFIX_DIGITS: usize = 10;
/// Most values in one criteria field. Bounds the work and memory one indicator can cost a
/// gateway that did not write it; a longer list (a full seller blacklist) belongs in several
/// indicators.
pub const MAX_CRITERIA_VALUES: usize = 1000;

/// Every violation of an indicator, all at once, with proto field paths
/// (`criteria.hs_prefixes[2]`, `action`), capped like declaration violations. Empty means
/// valid.
///
/// The rules are those a customs risk unit would set itself, since an indicator from a peer
/// acts on this administration's traffic:
///
/// - `indicator_id`: 1–64 characters of `A–Z a–z 0–9 . _ : -`, so that it can appear in logs,
///   file names and URLs without escaping.
/// - `version` ≥ 1: 0 is proto3's "not set", and a replacement needs something to exceed.
/// - `title` 1–200 characters (white space alone counts as missing); `rationale` ≤ 2,000.
/// - `tlp` a known level, not unspecified: without one, §8's sharing rules cannot be applied,
///   and guessing a level could leak an indicator.
/// - `criteria` present with at least one non-empty field: §8 makes an indicator without
///   criteria invalid, since it would hit every declaration. Each field holds at most
///   [`MAX_CRITERIA_VALUES`] values.
/// - `hs_prefixes`: 2–10 ASCII digits starting with an existing HS chapter, like §7's HS codes.
/// - `origin_countries`, `dispatch_countries`: ISO 3166-1 alpha-2, upper case, as in §7, so
///   that they compare byte for byte with declarations.
/// - `seller_ids`: not blank, ≤ 64 characters.
/// - terms: at least one word (letter or digit) and ≤ 100 characters; a term of punctuation
///   alone could never match.
/// - `min_value`, `max_value`: an ISO 4217 currency and `amount_minor` ≥ 0; when both are
///   given they must be in the same currency (there is no FX conversion, so bounds in two
///   currencies could never both hold) with min ≤ max.
/// - `action`: a known code other than `ASSESSMENT_COMPLETE`, which is the absence of risk,
///   not an action an indicator can ask for.
/// - `valid_until_ms` ≥ 0, and when set, later than `now_ms`: an indicator that has already
///   expired could never match and is refused rather than silently stored.
pub fn validate_indicator(indicator: &RiskIndicator, now_ms: i64) -> Vec<FieldViolation> {
    let mut out = Violations::default();
    check_indicator_id(&mut out, &indicator.indicator_id);
    if indicator.version == 0 {
        out.add(
            "version",
            "must be ≥ 1; a replacement carries a higher version",
        );
    }
    if indicator.title.trim().is_empty() {
        out.add(
            "title",
            format_args!("required: 1 to {MAX_TITLE_CHARS} characters"),
        );
    } else {
        optional_text(&mut out, "title", &indicator.title, MAX_TITLE_CHARS);
    }
    optional_text(
        &mut out,
        "rationale",
        &indicator.rationale,
        MAX_RATIONALE_CHARS,
    );
    match Tlp::try_from(indicator.tlp) {
        Ok(Tlp::Unspecified) => {
            out.add("tlp", "required: CLEAR, GREEN, AMBER, AMBER_STRICT or RED")
        }
        Ok(_) => {}
        Err(_) => out.add(
            "tlp",
            format_args!(
                "unknown TLP level {}; must be CLEAR, GREEN, AMBER, AMBER_STRICT or RED",
                indicator.tlp
            ),
        ),
    }
    match &indicator.criteria {
        None => out.add(
            "criteria",
            "required: at least one criterion; an indicator without criteria would match every declaration",
        ),
        Some(criteria) => check_criteria(&mut out, criteria),
    }
    const ACTIONS: &str =
        "REQUEST_FOR_INFORMATION, REQUEST_FOR_SCREENING, DO_NOT_LOAD or CONTROL_ON_ARRIVAL";
    match OutcomeCode::try_from(indicator.action) {
        Ok(OutcomeCode::Unspecified) => out.add("action", format_args!("required: {ACTIONS}")),
        Ok(OutcomeCode::AssessmentComplete) => out.add(
            "action",
            format_args!(
                "ASSESSMENT_COMPLETE is the absence of risk, not an action; must be {ACTIONS}"
            ),
        ),
        Ok(_) => {}
        Err(_) => out.add(
            "action",
            format_args!(
                "unknown outcome code {}; must be {ACTIONS}",
                indicator.action
            ),
        ),
    }
    if indicator.valid_until_ms < 0 {
        out.add(
            "valid_until_ms",
            "must be milliseconds since the Unix epoch, or 0 for no end date",
        );
    } else if indicator.valid_until_ms != 0 && indicator.valid_until_ms <= now_ms {
        out.add(
            "valid_until_ms",
            format_args!(
                "the indicator expired at {} (now {now_ms}); an expired indicator is not accepted",
                indicator.valid_until_ms
            ),
        );
    }
    out.finish()
}

/// Every violation of a revocation: a well-formed `indicator_id` (as for indicators) and a
/// `reason` of at most 500 characters. Whether the indicator exists is not a validation
/// matter: revoking an unknown indicator is harmless, and the revocation may overtake it.
pub fn validate_revocation(revocation: &RiskIndicatorRevocation) -> Vec<FieldViolation> {
    let mut out = Violations::default();
    check_indicator_id(&mut out, &revocation.indicator_id);
    optional_text(
        &mut out,
        "reason",
        &revocation.reason,
        MAX_REVOCATION_REASON_CHARS,
    );
    out.finish()
}

/// 1–64 characters of `A–Z a–z 0–9 . _ : -`.
fn is_indicator_id(id: &str) -> bool {
    (1..=MAX_INDICATOR_ID_CHARS).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

fn check_indicator_id(out: &mut Violations, id: &str) {
    if id.is_empty() {
        out.add(
            "indicator_id",
            "required: 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'",
        );
    } else if !is_indicator_id(id) {
        out.add(
            "indicator_id",
            "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'",
        );
    }
}

fn check_criteria(out: &mut Violations, c: &Criteria) {
    if is_empty_criteria(c) {
        out.add(
            "criteria",
            "at least one criterion is required; an indicator without criteria would match every declaration",
        );
        return;
    }
    let lists: [(&str, &[String]); 6] = [
        ("hs_prefixes", &c.hs_prefixes),
        ("origin_countries", &c.origin_countries),
        ("dispatch_countries", &c.dispatch_countries),
        ("seller_ids", &c.seller_ids),
        ("seller_name_terms", &c.seller_name_terms),
        ("description_terms", &c.description_terms),
    ];
    for (name, values) in lists {
        if values.len() > MAX_CRITERIA_VALUES {
            out.add(
                format_args!("criteria.{name}"),
                format_args!(
                    "at most {MAX_CRITERIA_VALUES} values (got {}); split the list over several indicators",
                    values.len()
                ),
            );
        }
    }
    for (i, prefix) in c.hs_prefixes.iter().enumerate() {
        if !is_hs_prefix(prefix) {
            out.add(
                format_args!("criteria.hs_prefixes[{i}]"),
                "must be 2 to 10 digits starting with an existing HS chapter (01–97, not 77)",
            );
        }
    }
    for (i, country) in c.origin_countries.iter().enumerate() {
        check_country(out, format_args!("criteria.origin_countries[{i}]"), country);
    }
    for (i, country) in c.dispatch_countries.iter().enumerate() {
        check_country(
            out,
            format_args!("criteria.dispatch_countries[{i}]"),
            country,
        );
    }
    for (i, id) in c.seller_ids.iter().enumerate() {
        if id.trim().is_empty() {
            out.add(
                format_args!("criteria.seller_ids[{i}]"),
                format_args!("must be 1 to {MAX_SELLER_ID_CHARS} characters, not blank"),
            );
        } else {
            optional_text(
                out,
                format_args!("criteria.seller_ids[{i}]"),
                id,
                MAX_SELLER_ID_CHARS,
            );
        }
    }
    for (name, terms) in [
        ("seller_name_terms", &c.seller_name_terms),
        ("description_terms", &c.description_terms),
    ] {
        for (i, term) in terms.iter().enumerate() {
            if !term.chars().any(char::is_alphanumeric) {
                out.add(
                    format_args!("criteria.{name}[{i}]"),
                    "must contain at least one word (letters or digits); punctuation alone never matches",
                );
            } else {
                optional_text(
                    out,
                    format_args!("criteria.{name}[{i}]"),
                    term,
                    MAX_TERM_CHARS,
                );
            }
        }
    }
    let min_ok = c
        .min_value
        .as_ref()
        .is_some_and(|m| check_bound(out, "min_value", m));
    let max_ok = c
        .max_value
        .as_ref()
        .is_some_and(|m| check_bound(out, "max_value", m));
    if let (Some(min), Some(max), true, true) = (&c.min_value, &c.max_value, min_ok, max_ok) {
        if min.currency != max.currency {
            out.add(
                "criteria.max_value.currency",
                format_args!(
                    "{:?} differs from min_value's {:?}; values are not converted, so both bounds must be in one currency",
                    max.currency, min.currency
                ),
            );
        } else if min.amount_minor > max.amount_minor {
            out.add(
                "criteria.min_value.amount_minor",
                format_args!(
                    "{} exceeds max_value.amount_minor {}; the range would match nothing",
                    min.amount_minor, max.amount_minor
                ),
            );
        }
    }
}

/// Checks one value bound; returns whether it is entirely valid.
fn check_bound(out: &mut Violations, name: &str, money: &Money) -> bool {
    let mut ok = crate::core::validation::check_currency(
        out,
        format_args!("criteria.{name}.currency"),
        &money.currency,
    );
    if money.amount_minor < 0 {
        ok = false;
        out.add(
            format_args!("criteria.{name}.amount_minor"),
            "must not be negative",
        );
    }
    ok
}

fn check_country(out: &mut Violations, field: impl fmt::Display, code: &str) {
    crate::core::validation::check_country(out, field, code, "CN");
}

/// 2 to 10 ASCII digits whose first two name an existing HS chapter.
fn is_hs_prefix(prefix: &str) -> bool {
    (MIN_HS_PREFIX_DIGITS..=MAX_HS_PREFIX_DIGITS).contains(&prefix.len())
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && codes::is_hs_chapter(&prefix[..2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::risk::fixtures::*;
    use crate::core::risk::MAX_VIOLATIONS;

    fn valid() -> RiskIndicator {
        let mut i = indicator(
            "NL:2026:0042",
            OutcomeCode::RequestForScreening,
            Criteria {
                hs_prefixes: strings(&["6404", "640411"]),
                origin_countries: strings(&["CN"]),
                dispatch_countries: strings(&["CN", "HK"]),
                seller_ids: strings(&["SHOPCO-S-004417"]),
                seller_name_terms: strings(&["apex sports"]),
                description_terms: strings(&["running shoes", "Air-Max"]),
                min_value: money("EUR", 0),
                max_value: money("EUR", 15_000),
            },
        );
        i.valid_until_ms = NOW + 86_400_000;
        i
    }

    fn violations(change: impl FnOnce(&mut RiskIndicator)) -> Vec<FieldViolation> {
        let mut i = valid();
        change(&mut i);
        validate_indicator(&i, NOW)
    }

    /// Asserts that `change` produces exactly one violation, on `field`.
    fn only(field: &str, change: impl FnOnce(&mut RiskIndicator)) -> FieldViolation {
        let found = violations(change);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].field, field, "{found:?}");
        found[0].clone()
    }

    fn criteria(i: &mut RiskIndicator) -> &mut Criteria {
        i.criteria.get_or_insert_with(Criteria::default)
    }

    #[test]
    fn the_valid_indicator_is_valid() {
        assert_eq!(validate_indicator(&valid(), NOW), []);
    }

    #[test]
    fn indicator_ids_are_1_to_64_safe_characters() {
        only("indicator_id", |i| i.indicator_id.clear());
        only("indicator_id", |i| i.indicator_id = "a".repeat(65));
        for bad in ["NL 42", "NL/42", "NL#42", "é"] {
            only("indicator_id", |i| i.indicator_id = bad.into());
        }
        for good in ["a", "NL:2026:0042", "adm.NL_risk-7", &"x".repeat(64)] {
            assert_eq!(violations(|i| i.indicator_id = good.into()), [], "{good}");
        }
    }

    #[test]
    fn version_title_rationale_and_tlp() {
        only("version", |i| i.version = 0);
        only("title", |i| i.title.clear());
        only("title", |i| i.title = "  ".into());
        only("title", |i| i.title = "t".repeat(201));
        assert_eq!(violations(|i| i.title = "é".repeat(200)), []);
        only("rationale", |i| i.rationale = "r".repeat(2001));
        assert_eq!(violations(|i| i.rationale.clear()), []);
        only("tlp", |i| i.tlp = Tlp::Unspecified as i32);
        only("tlp", |i| i.tlp = 6);
        assert_eq!(violations(|i| i.tlp = Tlp::Red as i32), []);
    }

    #[test]
    fn criteria_are_required_and_not_empty() {
        only("criteria", |i| i.criteria = None);
        only("criteria", |i| i.criteria = Some(Criteria::default()));
        assert_eq!(
            violations(|i| i.criteria = Some(value(money("EUR", 100_000), None))),
            []
        );
    }

    #[test]
    fn hs_prefixes_are_2_to_10_digits_of_a_chapter() {
        for bad in [
            "6",
            "",
            "77",
            "7701",
            "98",
            "0012",
            "64041100000",
            "64a4",
            " 6404",
        ] {
            only("criteria.hs_prefixes[1]", |i| {
                criteria(i).hs_prefixes[1] = bad.into()
            });
        }
        for good in ["64", "01", "97", "6404110000"] {
            assert_eq!(
                violations(|i| criteria(i).hs_prefixes[1] = good.into()),
                [],
                "{good}"
            );
        }
    }

    #[test]
    fn countries_are_iso_upper_case() {
        let found = only("criteria.origin_countries[0]", |i| {
            criteria(i).origin_countries[0] = "cn".into()
        });
        assert_eq!(found.description, "\"cn\" must be upper case (\"CN\")");
        only("criteria.origin_countries[0]", |i| {
            criteria(i).origin_countries[0] = "XK".into()
        });
        only("criteria.dispatch_countries[1]", |i| {
            criteria(i).dispatch_countries[1] = "CHN".into()
        });
        only("criteria.dispatch_countries[1]", |i| {
            criteria(i).dispatch_countries[1].clear()
        });
    }

    #[test]
    fn seller_ids_and_terms() {
        only("criteria.seller_ids[0]", |i| {
            criteria(i).seller_ids[0] = " ".into()
        });
        only("criteria.seller_ids[0]", |i| {
            criteria(i).seller_ids[0] = "S".repeat(65)
        });
        assert_eq!(
            violations(|i| criteria(i).seller_ids[0] = "S".repeat(64)),
            []
        );
        only("criteria.seller_name_terms[0]", |i| {
            criteria(i).seller_name_terms[0] = "&".into()
        });
        only("criteria.description_terms[1]", |i| {
            criteria(i).description_terms[1].clear()
        });
        only("criteria.description_terms[1]", |i| {
            criteria(i).description_terms[1] = "w ".repeat(51)
        });
        assert_eq!(
            violations(|i| criteria(i).description_terms[1] = "w".repeat(100)),
            []
        );
        only("criteria.description_terms", |i| {
            criteria(i).description_terms = vec!["shoes".into(); MAX_CRITERIA_VALUES + 1]
        });
    }

    #[test]
    fn value_bounds() {
        only("criteria.min_value.currency", |i| {
            criteria(i).min_value = money("eur", 0)
        });
        only("criteria.min_value.currency", |i| {
            criteria(i).min_value = money("XXX", 0)
        });
        only("criteria.max_value.currency", |i| {
            criteria(i).max_value = money("", 0)
        });
        only("criteria.min_value.amount_minor", |i| {
            criteria(i).min_value = money("EUR", -1)
        });
        only("criteria.max_value.amount_minor", |i| {
            criteria(i).max_value = money("EUR", -1)
        });
        let found = only("criteria.min_value.amount_minor", |i| {
            criteria(i).min_value = money("EUR", 15_001)
        });
        assert!(found.description.contains("exceeds"), "{found:?}");
        assert_eq!(
            violations(|i| criteria(i).min_value = money("EUR", 15_000)),
            []
        );
        only("criteria.max_value.currency", |i| {
            criteria(i).max_value = money("USD", 15_000)
        });
        assert_eq!(violations(|i| criteria(i).min_value = None), []);
        assert_eq!(violations(|i| criteria(i).max_value = None), []);
    }

    #[test]
    fn action_is_a_real_action() {
        only("action", |i| i.action = OutcomeCode::Unspecified as i32);
        let found = only("action", |i| {
            i.action = OutcomeCode::AssessmentComplete as i32
        });
        assert!(
            found.description.starts_with("ASSESSMENT_COMPLETE"),
            "{found:?}"
        );
        only("action", |i| i.action = 6);
        for code in [
            OutcomeCode::RequestForInformation,
            OutcomeCode::RequestForScreening,
            OutcomeCode::DoNotLoad,
            OutcomeCode::ControlOnArrival,
        ] {
            assert_eq!(violations(|i| i.action = code as i32), [], "{code:?}");
        }
    }

    #[test]
    fn valid_until_is_in_the_future_or_zero() {
        only("valid_until_ms", |i| i.valid_until_ms = -1);
        only("valid_until_ms", |i| i.valid_until_ms = NOW);
        only("valid_until_ms", |i| i.valid_until_ms = NOW - 1);
        assert_eq!(violations(|i| i.valid_until_ms = NOW + 1), []);
        assert_eq!(violations(|i| i.valid_until_ms = 0), []);
    }

    #[test]
    fn every_violation_at_once_and_capped() {
        let found = validate_indicator(&RiskIndicator::default(), NOW);
        let fields: Vec<_> = found.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "indicator_id",
                "version",
                "title",
                "tlp",
                "criteria",
                "action"
            ]
        );

        let found = violations(|i| criteria(i).hs_prefixes = vec!["x".into(); 150]);
        assert_eq!(found.len(), MAX_VIOLATIONS + 1);
        assert_eq!(found[0].field, "criteria.hs_prefixes[0]");
        assert_eq!(found[MAX_VIOLATIONS].field, "");
        assert!(found[MAX_VIOLATIONS].description.starts_with("100 more"));
    }

    #[test]
    fn revocations() {
        let ok = RiskIndicatorRevocation {
            indicator_id: "NL:2026:0042".into(),
            reason: "Seller cleared after investigation".into(),
        };
        assert_eq!(validate_revocation(&ok), []);
        assert_eq!(
            validate_revocation(&RiskIndicatorRevocation {
                reason: String::new(),
                ..ok.clone()
            }),
            []
        );
        let fields = |r: &RiskIndicatorRevocation| -> Vec<String> {
            validate_revocation(r)
                .into_iter()
                .map(|v| v.field)
                .collect()
        };
        let bad = RiskIndicatorRevocation {
            indicator_id: "NL 42".into(),
            reason: "r".repeat(501),
        };
        assert_eq!(fields(&bad), ["indicator_id", "reason"]);
        assert_eq!(
            fields(&RiskIndicatorRevocation::default()),
            ["indicator_id"]
        );
    }
}
