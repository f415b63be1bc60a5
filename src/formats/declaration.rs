//! The JSON form of an [`AdvanceDeclaration`], read by `aedgate submit DECL.json`.
//!
//! The wire carries protobuf, but people and integrators write declarations by hand, export
//! them from shop systems and keep them as test fixtures, and they do that in JSON. Every
//! key is the proto field name (snake_case) and the enums are written by their short name
//! (`"AIR"`, `"PLATFORM"`), so the field paths of §7's violations and the contract's tables
//! apply to the JSON unchanged and the documentation (docs/declaration-json.md) needs no
//! mapping table.
//!
//! Reading is strict: an unknown or misspelt key is an error rather than silently ignored,
//! since a dropped `listing_url` or `ioss_number` would only surface as a customs query days
//! later. Reading checks the form only; [`crate::core::validation::validate_declaration`]
//! checks the content, exactly as the gateway will.
//!
//! Writing omits every field at its default (empty text, zero, absent message), as proto3
//! does, so that [`to_json`] followed by [`from_json`] gives back the same declaration. The
//! one loss: an enum number outside the contract (or `..._UNSPECIFIED`) has no name and is
//! written as absent; such a declaration fails validation either way.

use serde::{Deserialize, Serialize};

use super::{is_zero_u32, read, write, Form, FormatError};
use crate::proto::v1::{
    AdvanceDeclaration, CollectionModel, Item, Money, Party, Revenue, Transport, TransportMode,
};

/// Reads a declaration from its JSON form (form only; validate it before use).
///
/// # Errors
///
/// [`FormatError::Json`] when the text is not JSON, or JSON of another shape (unknown key,
/// wrong type, unknown enum name).
pub fn from_json(text: &str) -> Result<AdvanceDeclaration, FormatError> {
    read::<DeclarationJson, _>(Form::Declaration, text.as_bytes())
}

/// Writes a declaration in its JSON form, pretty-printed, with a final newline.
pub fn to_json(declaration: &AdvanceDeclaration) -> String {
    write(&DeclarationJson::from(declaration))
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct DeclarationJson {
    #[serde(skip_serializing_if = "String::is_empty")]
    lrn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    seller: Option<PartyJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    buyer: Option<PartyJson>,
    #[serde(skip_serializing_if = "String::is_empty")]
    platform_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    transport: Option<TransportJson>,
    #[serde(skip_serializing_if = "String::is_empty")]
    country_of_dispatch: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    country_of_destination: String,
    #[serde(skip_serializing_if = "is_zero")]
    expected_arrival_ms: i64,
    #[serde(skip_serializing_if = "is_zero")]
    gross_mass_g: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    revenue: Option<RevenueJson>,
    #[serde(skip_serializing_if = "String::is_empty")]
    return_of: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    items: Vec<ItemJson>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PartyJson {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    street: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    city: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    postcode: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    country: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    identifier: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct TransportJson {
    #[serde(skip_serializing_if = "String::is_empty")]
    house_ref: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    master_ref: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<ModeJson>,
    #[serde(skip_serializing_if = "String::is_empty")]
    carrier_id: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RevenueJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<ModelJson>,
    #[serde(skip_serializing_if = "String::is_empty")]
    ioss_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tax_collected: Option<MoneyJson>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ItemJson {
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    hs_code: String,
    #[serde(skip_serializing_if = "is_zero_u32")]
    quantity: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<MoneyJson>,
    #[serde(skip_serializing_if = "String::is_empty")]
    origin_country: String,
    #[serde(skip_serializing_if = "is_zero")]
    mass_g: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    listing_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    listed_price: Option<MoneyJson>,
}

/// Money always shows both fields, so that an amount is never read without its currency.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct MoneyJson {
    currency: String,
    amount_minor: i64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
enum ModeJson {
    Air,
    Post,
    Road,
    Sea,
    Rail,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
enum ModelJson {
    Border,
    Vendor,
    Platform,
    Consumer,
}

json_names!(ModeJson => TransportMode { Air, Post, Road, Sea, Rail });
json_names!(ModelJson => CollectionModel { Border, Vendor, Platform, Consumer });

impl From<DeclarationJson> for AdvanceDeclaration {
    fn from(d: DeclarationJson) -> Self {
        AdvanceDeclaration {
            lrn: d.lrn,
            seller: d.seller.map(Into::into),
            buyer: d.buyer.map(Into::into),
            platform_id: d.platform_id,
            transport: d.transport.map(Into::into),
            country_of_dispatch: d.country_of_dispatch,
            country_of_destination: d.country_of_destination,
            expected_arrival_ms: d.expected_arrival_ms,
            gross_mass_g: d.gross_mass_g,
            revenue: d.revenue.map(Into::into),
            return_of: d.return_of,
            items: d.items.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<&AdvanceDeclaration> for DeclarationJson {
    fn from(d: &AdvanceDeclaration) -> Self {
        DeclarationJson {
            lrn: d.lrn.clone(),
            seller: d.seller.as_ref().map(Into::into),
            buyer: d.buyer.as_ref().map(Into::into),
            platform_id: d.platform_id.clone(),
            transport: d.transport.as_ref().map(Into::into),
            country_of_dispatch: d.country_of_dispatch.clone(),
            country_of_destination: d.country_of_destination.clone(),
            expected_arrival_ms: d.expected_arrival_ms,
            gross_mass_g: d.gross_mass_g,
            revenue: d.revenue.as_ref().map(Into::into),
            return_of: d.return_of.clone(),
            items: d.items.iter().map(Into::into).collect(),
        }
    }
}

impl From<PartyJson> for Party {
    fn from(p: PartyJson) -> Self {
        Party {
            name: p.name,
            street: p.street,
            city: p.city,
            postcode: p.postcode,
            country: p.country,
            identifier: p.identifier,
        }
    }
}

impl From<&Party> for PartyJson {
    fn from(p: &Party) -> Self {
        PartyJson {
            name: p.name.clone(),
            street: p.street.clone(),
            city: p.city.clone(),
            postcode: p.postcode.clone(),
            country: p.country.clone(),
            identifier: p.identifier.clone(),
        }
    }
}

impl From<TransportJson> for Transport {
    fn from(t: TransportJson) -> Self {
        Transport {
            house_ref: t.house_ref,
            master_ref: t.master_ref,
            mode: t.mode.map_or(TransportMode::Unspecified, Into::into) as i32,
            carrier_id: t.carrier_id,
        }
    }
}

impl From<&Transport> for TransportJson {
    fn from(t: &Transport) -> Self {
        TransportJson {
            house_ref: t.house_ref.clone(),
            master_ref: t.master_ref.clone(),
            mode: ModeJson::of(t.mode),
            carrier_id: t.carrier_id.clone(),
        }
    }
}

impl From<RevenueJson> for Revenue {
    fn from(r: RevenueJson) -> Self {
        Revenue {
            model: r.model.map_or(CollectionModel::Unspecified, Into::into) as i32,
            ioss_number: r.ioss_number,
            tax_collected: r.tax_collected.map(Into::into),
        }
    }
}

impl From<&Revenue> for RevenueJson {
    fn from(r: &Revenue) -> Self {
        RevenueJson {
            model: ModelJson::of(r.model),
            ioss_number: r.ioss_number.clone(),
            tax_collected: r.tax_collected.as_ref().map(Into::into),
        }
    }
}

impl From<ItemJson> for Item {
    fn from(i: ItemJson) -> Self {
        Item {
            description: i.description,
            hs_code: i.hs_code,
            quantity: i.quantity,
            value: i.value.map(Into::into),
            origin_country: i.origin_country,
            mass_g: i.mass_g,
            listing_url: i.listing_url,
            listed_price: i.listed_price.map(Into::into),
        }
    }
}

impl From<&Item> for ItemJson {
    fn from(i: &Item) -> Self {
        ItemJson {
            description: i.description.clone(),
            hs_code: i.hs_code.clone(),
            quantity: i.quantity,
            value: i.value.as_ref().map(Into::into),
            origin_country: i.origin_country.clone(),
            mass_g: i.mass_g,
            listing_url: i.listing_url.clone(),
            listed_price: i.listed_price.as_ref().map(Into::into),
        }
    }
}

impl From<MoneyJson> for Money {
    fn from(m: MoneyJson) -> Self {
        Money {
            currency: m.currency,
            amount_minor: m.amount_minor,
        }
    }
}

impl From<&Money> for MoneyJson {
    fn from(m: &Money) -> Self {
        MoneyJson {
            currency: m.currency.clone(),
            amount_minor: m.amount_minor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::validation::{sample_declaration, validate_declaration};
    use serde_json::error::Category;

    const EXAMPLE: &str = include_str!("../../docs/declaration-example.json");

    #[test]
    fn the_sample_round_trips() {
        let sample = sample_declaration("SHP-2026-000123");
        let text = to_json(&sample);
        assert_eq!(from_json(&text).unwrap(), sample);
        assert!(text.contains("\"mode\": \"AIR\""), "{text}");
        assert!(text.contains("\"model\": \"BORDER\""), "{text}");
        assert!(text.contains("\"currency\": \"EUR\",\n"), "{text}");
        assert!(
            !text.contains("return_of"),
            "empty fields are omitted: {text}"
        );
    }

    #[test]
    fn every_mode_and_model_round_trips() {
        for mode in 1..=5 {
            for model in 1..=4 {
                let mut d = sample_declaration("X");
                d.transport.as_mut().unwrap().mode = mode;
                d.revenue.as_mut().unwrap().model = model;
                assert_eq!(from_json(&to_json(&d)).unwrap(), d);
            }
        }
    }

    #[test]
    fn the_documented_example_is_valid() {
        let declaration = from_json(EXAMPLE).unwrap();
        assert_eq!(validate_declaration(&declaration), []);
        assert_eq!(from_json(&to_json(&declaration)).unwrap(), declaration);
    }

    #[test]
    fn the_example_in_the_format_doc_is_valid() {
        let doc = include_str!("../../docs/declaration-json.md");
        let declaration = from_json(super::super::first_json_block(doc)).unwrap();
        assert_eq!(validate_declaration(&declaration), []);
    }

    #[test]
    fn unknown_fields_are_refused_with_their_position() {
        let text = "{\n  \"lrn\": \"A1\",\n  \"seller\": {\"name\": \"X\", \"contry\": \"CN\"}\n}";
        let err = from_json(text).unwrap_err();
        assert_eq!(err.category(), Some(Category::Data), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("unknown field `contry`"), "{message}");
        assert!(
            message.contains("`country`"),
            "lists the expected names: {message}"
        );
        assert!(message.contains("line 3"), "{message}");
        assert_eq!(err.line(), 3);
        assert!(err.column() > 0);
    }

    #[test]
    fn unknown_modes_and_models_are_refused() {
        let err = from_json(r#"{"transport": {"mode": "PLANE"}}"#).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("unknown variant `PLANE`"), "{message}");
        assert!(message.contains("`AIR`"), "{message}");
        assert!(from_json(r#"{"transport": {"mode": "air"}}"#).is_err());
        assert!(from_json(r#"{"transport": {"mode": 1}}"#).is_err());
        assert!(from_json(r#"{"revenue": {"model": "IOSS"}}"#).is_err());
    }

    #[test]
    fn amounts_are_integers() {
        let err =
            from_json(r#"{"items": [{"value": {"currency": "EUR", "amount_minor": 12.99}}]}"#)
                .unwrap_err();
        assert_eq!(err.category(), Some(Category::Data), "{err:?}");
        assert!(from_json(
            r#"{"items": [{"value": {"currency": "EUR", "amount_minor": "1299"}}]}"#
        )
        .is_err());
    }

    #[test]
    fn malformed_json_is_a_syntax_error() {
        let err = from_json("{\"lrn\": \"A1\",\n}").unwrap_err();
        assert_eq!(err.category(), Some(Category::Syntax), "{err:?}");
        assert_eq!(err.line(), 2);
        assert_eq!(
            from_json("{\"lrn\": ").unwrap_err().category(),
            Some(Category::Eof)
        );
    }

    #[test]
    fn missing_fields_default_and_fail_validation_not_parsing() {
        let d = from_json("{}").unwrap();
        assert_eq!(d, AdvanceDeclaration::default());
        assert!(!validate_declaration(&d).is_empty());
        let d = from_json(r#"{"transport": {"house_ref": "H1"}}"#).unwrap();
        assert_eq!(d.transport.unwrap().mode, TransportMode::Unspecified as i32);
    }

    #[test]
    fn unnamed_enum_numbers_are_written_as_absent() {
        let mut d = sample_declaration("X");
        d.transport.as_mut().unwrap().mode = 42;
        let text = to_json(&d);
        assert!(!text.contains("\"mode\""), "{text}");
    }
}
