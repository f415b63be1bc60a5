//! Names of the contract's enums as people read them.
//!
//! On screen an enum is named without its type prefix (`DO_NOT_LOAD`, not
//! `OUTCOME_CODE_DO_NOT_LOAD`), and a number the contract does not name is shown as a number,
//! never dropped: a newer gateway may send values this build does not know, and the person
//! reading must still see that something was there. Logs and the conformance report quote
//! the full wire name instead, because that is what the contract's tables say.

use crate::core::trust::TlpLevel;
use crate::proto::v1::{
    ChargeType, CollectionModel, DeclarationState, MessageType, OutcomeCode, ReturnReason,
    ScreeningResult, Tlp,
};

/// A protobuf enum of the contract: its wire name, the prefix every wire name of the enum
/// carries, and what a number without a name is called. One trait, so that every enum is
/// named by the same rules instead of a trimming function each.
pub trait ProtoEnum: TryFrom<i32> + Copy {
    /// The prefix every wire name carries (`OUTCOME_CODE_`).
    const PREFIX: &'static str;
    /// How an unnamed number is shown (`code` gives `code 9`).
    const UNNAMED: &'static str;
    /// The full wire name (`OUTCOME_CODE_DO_NOT_LOAD`).
    fn wire_name(self) -> &'static str;
}

macro_rules! proto_enum {
    ($($enum:ty => $prefix:literal, $unnamed:literal;)*) => {$(
        impl ProtoEnum for $enum {
            const PREFIX: &'static str = $prefix;
            const UNNAMED: &'static str = $unnamed;
            fn wire_name(self) -> &'static str {
                self.as_str_name()
            }
        }
    )*};
}

proto_enum! {
    MessageType => "MESSAGE_TYPE_", "type";
    OutcomeCode => "OUTCOME_CODE_", "code";
    DeclarationState => "DECLARATION_STATE_", "state";
    Tlp => "TLP_", "TLP";
    ScreeningResult => "SCREENING_RESULT_", "screening result";
    ChargeType => "CHARGE_TYPE_", "charge type";
    ReturnReason => "RETURN_REASON_", "return reason";
    CollectionModel => "COLLECTION_MODEL_", "collection model";
}

/// The full wire name of a number, or `None` when the contract does not name it, for logs
/// that say what they do not know in their own words.
pub fn wire_name<E: ProtoEnum>(value: i32) -> Option<&'static str> {
    E::try_from(value).ok().map(E::wire_name)
}

/// The full wire name of a number, or the number itself, for reports that quote the
/// contract.
pub fn wire_name_or_number<E: ProtoEnum>(value: i32) -> String {
    wire_name::<E>(value).map_or_else(|| value.to_string(), str::to_owned)
}

/// The name without its prefix (`DO_NOT_LOAD`), or the number (`code 9`): on screen the
/// prefix repeats what the column or label already says.
pub fn short_name<E: ProtoEnum>(value: i32) -> String {
    wire_name::<E>(value)
        .map(|name| name.trim_start_matches(E::PREFIX).to_owned())
        .unwrap_or_else(|| format!("{} {value}", E::UNNAMED))
}

/// The short name of a message type number (`OUTCOME`), or the number; the column every
/// list of messages has.
pub fn type_name(message_type: i32) -> String {
    short_name::<MessageType>(message_type)
}

/// The short name of an outcome code (`DO_NOT_LOAD`), or the number: what the partner
/// must do, so it is printed wherever an outcome or an indicator's action is.
pub fn code_name(code: i32) -> String {
    short_name::<OutcomeCode>(code)
}

/// The short name of a declaration state (`CLEARED`), or the number, as Status answers
/// and worklists show it.
pub fn state_name(state: i32) -> String {
    short_name::<DeclarationState>(state)
}

/// The short name of a TLP number (`AMBER_STRICT`), or the number: who may see an
/// indicator, shown next to it so that nobody passes it on further.
pub fn tlp_name(tlp: i32) -> String {
    short_name::<Tlp>(tlp)
}

/// A TLP level as the indicator lists print it; the trust list's levels are the wire's.
pub fn tlp_level_name(level: TlpLevel) -> &'static str {
    match level {
        TlpLevel::Clear => "CLEAR",
        TlpLevel::Green => "GREEN",
        TlpLevel::Amber => "AMBER",
        TlpLevel::AmberStrict => "AMBER_STRICT",
        TlpLevel::Red => "RED",
    }
}

/// A charge type as a person says it: `Customs duty`, `Import VAT`, `Handling fee`.
pub fn charge_name(charge_type: i32) -> String {
    match ChargeType::try_from(charge_type) {
        Ok(ChargeType::CustomsDuty) => "Customs duty".into(),
        Ok(ChargeType::ImportVat) => "Import VAT".into(),
        Ok(ChargeType::HandlingFee) => "Handling fee".into(),
        _ => short_name::<ChargeType>(charge_type),
    }
}

/// What a declaration state means for the goods, for the partner who must act on it, with
/// the command that answers a referral.
pub fn state_meaning(state: i32) -> &'static str {
    match DeclarationState::try_from(state) {
        Ok(DeclarationState::Received) => "received, assessment pending",
        Ok(DeclarationState::Referred) => {
            "waiting for the answer to the open referral: `aedgate respond`"
        }
        Ok(DeclarationState::Cleared) => "released: no further action needed",
        Ok(DeclarationState::ControlOnArrival) => {
            "may be loaded; selected for customs control on arrival"
        }
        Ok(DeclarationState::DoNotLoad) => "must not be loaded; final",
        Ok(DeclarationState::Invalidated) => "withdrawn by the filer; final",
        Ok(DeclarationState::PartlyReturned) => {
            "released; some goods returned and refunded, the rest may follow: `aedgate return`"
        }
        Ok(DeclarationState::Returned) => "every item returned and refunded; final",
        _ => "unknown state",
    }
}

/// A declaration state in an officer's words, short enough for a worklist column.
pub fn state_in_brief(state: i32) -> &'static str {
    match DeclarationState::try_from(state) {
        Ok(DeclarationState::Cleared) => "released",
        Ok(DeclarationState::Referred) => "waiting for the partner's answer",
        Ok(DeclarationState::ControlOnArrival) => {
            "may be loaded; customs will control it on arrival"
        }
        Ok(DeclarationState::DoNotLoad) => "must not be loaded; final",
        Ok(DeclarationState::Invalidated) => "withdrawn by the filer",
        Ok(DeclarationState::PartlyReturned) => "released, partly returned",
        Ok(DeclarationState::Returned) => "returned",
        _ => "pending",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_drop_the_prefix_and_keep_unknown_numbers() {
        assert_eq!(code_name(OutcomeCode::DoNotLoad as i32), "DO_NOT_LOAD");
        assert_eq!(code_name(99), "code 99");
        assert_eq!(type_name(MessageType::Outcome as i32), "OUTCOME");
        assert_eq!(type_name(99), "type 99");
        assert_eq!(state_name(99), "state 99");
        assert_eq!(tlp_name(Tlp::AmberStrict as i32), "AMBER_STRICT");
        assert_eq!(tlp_name(99), "TLP 99");
        assert_eq!(
            wire_name::<MessageType>(MessageType::Outcome as i32),
            Some("MESSAGE_TYPE_OUTCOME")
        );
        assert_eq!(wire_name_or_number::<OutcomeCode>(99), "99");
    }
}
