//! The declaration lifecycle of §5 and §8 as pure functions: which state an outcome puts a
//! declaration in, which messages a closed declaration still accepts, how a referral is
//! answered, what an outcome tells the partner, and how MRNs and referral ids are formed.
//!
//! The store's writer calls these inside the transaction that records each message, so that
//! a decision and its effects are committed together; keeping the rules here lets them be
//! tested without a database and read in one place.

use crate::core::rejection::{FieldViolation, Rejection};
use crate::proto::v1::{DeclarationState, OutcomeCode, ReferralResponse, ScreeningResult};

/// What a referral asks the partner for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferralKind {
    /// Request for information: answered by any non-empty `information`.
    Information,
    /// Request for screening: answered by a screening result.
    Screening,
}

impl ReferralKind {
    /// The referral an outcome opens, if any.
    pub fn of(code: OutcomeCode) -> Option<Self> {
        match code {
            OutcomeCode::RequestForInformation => Some(Self::Information),
            OutcomeCode::RequestForScreening => Some(Self::Screening),
            _ => None,
        }
    }

    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Information => "information",
            Self::Screening => "screening",
        }
    }

    /// Parses the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "information" => Some(Self::Information),
            "screening" => Some(Self::Screening),
            _ => None,
        }
    }
}

/// The state an outcome leaves a declaration in (§6 `DeclarationState`).
pub fn state_after(code: OutcomeCode) -> DeclarationState {
    match code {
        OutcomeCode::AssessmentComplete | OutcomeCode::Unspecified => DeclarationState::Cleared,
        OutcomeCode::RequestForInformation | OutcomeCode::RequestForScreening => {
            DeclarationState::Referred
        }
        OutcomeCode::ControlOnArrival => DeclarationState::ControlOnArrival,
        OutcomeCode::DoNotLoad => DeclarationState::DoNotLoad,
    }
}

/// A declaration with a Do Not Load, an invalidation or an accepted return takes no further
/// amendment, invalidation or referral response (§5, §12: DECLARATION_CLOSED): returned
/// goods were declared as they were, and refunds are computed from that data.
pub fn is_closed(state: DeclarationState) -> bool {
    matches!(
        state,
        DeclarationState::DoNotLoad
            | DeclarationState::Invalidated
            | DeclarationState::PartlyReturned
            | DeclarationState::Returned
    )
}

/// A state as refusals name it: `CLEARED`, `PARTLY_RETURNED`.
pub fn state_name(state: DeclarationState) -> String {
    state
        .as_str_name()
        .trim_start_matches("DECLARATION_STATE_")
        .to_owned()
}

/// Refuses a message for a closed declaration.
pub fn ensure_open(declaration_id: &str, state: DeclarationState) -> Result<(), Rejection> {
    if is_closed(state) {
        return Err(Rejection::DeclarationClosed {
            declaration_id: declaration_id.to_owned(),
            state: state_name(state),
        });
    }
    Ok(())
}

/// What an answered referral leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferralVerdict {
    /// The referral is satisfied: re-assess without the indicator that raised it.
    Satisfied,
    /// Screening found a threat: the consignment must not be loaded (final).
    NotCleared,
}

/// Checks a response against the referral it answers. An RFI is satisfied by any
/// information; a screening by CLEAR, while NOT_CLEAR leads to Do Not Load.
pub fn answer(
    kind: ReferralKind,
    response: &ReferralResponse,
) -> Result<ReferralVerdict, Rejection> {
    let invalid = |field: &str, why: &str| {
        Err(Rejection::ValidationFailed(vec![FieldViolation::new(
            field, why,
        )]))
    };
    match kind {
        ReferralKind::Information => {
            if response.information.trim().is_empty() {
                return invalid(
                    "information",
                    "a request for information is answered with the information asked for",
                );
            }
            Ok(ReferralVerdict::Satisfied)
        }
        ReferralKind::Screening => match ScreeningResult::try_from(response.screening) {
            Ok(ScreeningResult::Clear) => Ok(ReferralVerdict::Satisfied),
            Ok(ScreeningResult::NotClear) => Ok(ReferralVerdict::NotCleared),
            _ => invalid(
                "screening",
                "a request for screening is answered with CLEAR or NOT_CLEAR",
            ),
        },
    }
}

/// What the partner is asked to do, naming the data in question but never the indicator,
/// its criteria or its issuer.
pub fn request_text(code: OutcomeCode, pointer: &str) -> String {
    match code {
        OutcomeCode::RequestForInformation => format!(
            "Customs needs more information on {pointer} before this consignment can be released. \
             Answer with a REFERRAL_RESPONSE giving precise details (what the goods are, material, \
             brand, use, and the commercial documents that support the declared data)."
        ),
        OutcomeCode::RequestForScreening => {
            "Screen this consignment before it is loaded (high-risk cargo screening) \
             and answer with a REFERRAL_RESPONSE giving the result, CLEAR or NOT_CLEAR."
                .to_owned()
        }
        OutcomeCode::DoNotLoad => {
            "Do not load: this consignment poses an imminent threat and must not be \
             loaded or carried. Contact the customs authority named in this outcome."
                .to_owned()
        }
        OutcomeCode::ControlOnArrival => {
            "The consignment will be selected for customs control on arrival. It may be loaded."
                .to_owned()
        }
        OutcomeCode::AssessmentComplete | OutcomeCode::Unspecified => String::new(),
    }
}

/// The movement reference number of a declaration: 18 characters in the layout of EU MRNs —
/// two digits of the year, the ISO country code of the administration, a 13-character
/// sequence and an ISO 6346 check character — so that customs systems that validate MRNs
/// accept it. `sequence` is the administration's declaration counter, which makes it unique.
pub fn mrn(year: i32, country: &str, sequence: u64) -> String {
    let mut body = format!(
        "{:02}{}{:013}",
        year.rem_euclid(100),
        country,
        sequence % 10_000_000_000_000
    );
    body.truncate(17);
    let check = check_character(&body);
    body.push(check);
    body
}

/// ISO 6346 check character as used for EU MRNs: letters have values 10–38 skipping
/// multiples of 11, each position weighs 2^i, the sum modulo 11 (10 becomes 0).
fn check_character(body: &str) -> char {
    let value = |c: char| -> u64 {
        match c {
            '0'..='9' => u64::from(c as u8 - b'0'),
            'A'..='Z' => {
                // A=10, then counting on but skipping the multiples of 11 (11, 22, 33).
                let mut v = 10;
                for _ in 0..(c as u8 - b'A') {
                    v += 1;
                    if v % 11 == 0 {
                        v += 1;
                    }
                }
                v
            }
            _ => 0,
        }
    };
    let sum: u64 = body.chars().enumerate().map(|(i, c)| value(c) << i).sum();
    let digit = (sum % 11) % 10;
    char::from(b'0' + digit as u8)
}

/// The id of the `n`th referral (from 1) of the declaration with this MRN.
pub fn referral_id(mrn: &str, n: u32) -> String {
    format!("{mrn}-R{n}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::rejection::StatusCode;

    #[test]
    fn outcomes_map_to_states_and_only_dnl_and_invalidation_close() {
        for (outcome, state) in [
            (OutcomeCode::AssessmentComplete, DeclarationState::Cleared),
            (
                OutcomeCode::RequestForInformation,
                DeclarationState::Referred,
            ),
            (OutcomeCode::RequestForScreening, DeclarationState::Referred),
            (
                OutcomeCode::ControlOnArrival,
                DeclarationState::ControlOnArrival,
            ),
            (OutcomeCode::DoNotLoad, DeclarationState::DoNotLoad),
        ] {
            assert_eq!(state_after(outcome), state, "{outcome:?}");
        }
        for open in [
            DeclarationState::Received,
            DeclarationState::Referred,
            DeclarationState::Cleared,
            DeclarationState::ControlOnArrival,
        ] {
            assert!(ensure_open("d", open).is_ok());
        }
        for closed in [DeclarationState::DoNotLoad, DeclarationState::Invalidated] {
            let err = ensure_open("d", closed).unwrap_err();
            assert_eq!(err.reason(), "DECLARATION_CLOSED");
            assert_eq!(err.code(), StatusCode::FailedPrecondition);
        }
    }

    #[test]
    fn referrals_are_answered_by_the_right_kind_of_response() {
        let info = ReferralResponse {
            information: "Brand: Acme, cotton".into(),
            ..Default::default()
        };
        assert_eq!(
            answer(ReferralKind::Information, &info),
            Ok(ReferralVerdict::Satisfied)
        );
        let blank = ReferralResponse {
            information: "  ".into(),
            ..Default::default()
        };
        assert_eq!(
            answer(ReferralKind::Information, &blank)
                .unwrap_err()
                .reason(),
            "VALIDATION_FAILED"
        );
        let clear = ReferralResponse {
            screening: ScreeningResult::Clear as i32,
            ..Default::default()
        };
        let not_clear = ReferralResponse {
            screening: ScreeningResult::NotClear as i32,
            ..Default::default()
        };
        assert_eq!(
            answer(ReferralKind::Screening, &clear),
            Ok(ReferralVerdict::Satisfied)
        );
        assert_eq!(
            answer(ReferralKind::Screening, &not_clear),
            Ok(ReferralVerdict::NotCleared)
        );
        assert!(
            answer(ReferralKind::Screening, &info).is_err(),
            "information does not answer a screening"
        );
    }

    #[test]
    fn mrns_have_eighteen_characters_and_a_check_digit() {
        let a = mrn(2026, "NL", 1);
        assert_eq!(a.len(), 18);
        assert!(a.starts_with("26NL0000000000001"));
        let b = mrn(2026, "NL", 2);
        assert_ne!(a, b);
        assert_eq!(mrn(2026, "NL", 1), a, "deterministic");
        // The check character changes when the body changes.
        let checks: std::collections::HashSet<char> = (1..=20)
            .map(|n| mrn(2026, "BE", n).pop().unwrap())
            .collect();
        assert!(checks.len() > 5);
        assert_eq!(referral_id(&a, 2), format!("{a}-R2"));
    }

    #[test]
    fn request_texts_name_the_data_but_nothing_of_the_indicator() {
        let text = request_text(OutcomeCode::RequestForInformation, "items[1].description");
        assert!(text.contains("items[1].description"));
        assert!(request_text(OutcomeCode::AssessmentComplete, "x").is_empty());
        assert!(request_text(OutcomeCode::DoNotLoad, "x").starts_with("Do not load"));
    }
}
