//! §7 validation of an advance declaration.
//!
//! Validation reports every violation at once, each with the proto field path of the
//! offending value (`items[2].hs_code`), because a partner's system corrects declarations in
//! batch: being told one error per round trip would turn one correction into a dozen
//! submissions. It is a pure function of the declaration, so the gateway, the partner client
//! (which validates before signing) and the conformance kit give the same verdict.
//!
//! Where §7 leaves room, this module decides as follows (and docs/declaration-json.md
//! repeats it for partners):
//!
//! - A Party needs `name` and `country`; `street`, `city`, `postcode` and `identifier` are
//!   optional and only length-checked, because the contract lists only their lengths.
//! - A required text field that holds only white space counts as missing.
//! - `transport.carrier_id` is optional and at most 64 characters (the length of a participant
//!   id), with no syntax imposed, since carriers are also named by IATA or SCAC codes.
//! - `platform_id`, when given, must be a participant id (§1), since it names the platform
//!   among the federation's participants.
//! - `revenue.tax_collected` and items' `listed_price` may be in another currency than the
//!   items' values: tax is collected in the destination's currency and marketplaces list in
//!   the buyer's currency, whatever currency the goods were invoiced in. Their amounts may
//!   be zero; item values must be positive.
//! - `listing_url`, when given, is an `http://` or `https://` URL of at most 2,048 characters
//!   without white space.
//! - At most [`MAX_VIOLATIONS`] violations are listed, followed by one entry with an empty
//!   field path counting the ones left out, so that a declaration of 999 broken items cannot
//!   produce a rejection larger than any gRPC client accepts.

use std::fmt;

use crate::core::codes;
use crate::core::ids;
use crate::core::rejection::{shorten, FieldViolation, Violations};
use crate::proto::v1::{
    AdvanceDeclaration, CollectionModel, Item, Money, Party, Revenue, Transport, TransportMode,
};

/// Longest `lrn` (and `return_of`, which holds an lrn), in characters.
pub const MAX_LRN_CHARS: usize = 22;
/// Most items one declaration may carry.
pub const MAX_ITEMS: usize = 999;
/// Most violations listed before the rest are only counted.
pub use crate::core::rejection::MAX_VIOLATIONS;
/// Longest `listing_url`, in characters.
pub const MAX_LISTING_URL_CHARS: usize = 2048;

/// Every §7 violation of a declaration, all at once, in proto field order (capped at
/// [`MAX_VIOLATIONS`] plus one entry counting the omitted ones). Empty means valid.
pub fn validate_declaration(declaration: &AdvanceDeclaration) -> Vec<FieldViolation> {
    let mut out = Violations::default();
    let d = declaration;

    required_text(&mut out, &Path::root("lrn"), &d.lrn, MAX_LRN_CHARS);
    check_party(&mut out, &Path::root("seller"), d.seller.as_ref());
    check_party(&mut out, &Path::root("buyer"), d.buyer.as_ref());
    if !d.platform_id.is_empty() && !ids::is_participant_id(&d.platform_id) {
        out.add(
            Path::root("platform_id"),
            "must be a participant id such as ptr/NL/shopco",
        );
    }
    check_transport(&mut out, &Path::root("transport"), d.transport.as_ref());
    required_country(
        &mut out,
        &Path::root("country_of_dispatch"),
        &d.country_of_dispatch,
    );
    required_country(
        &mut out,
        &Path::root("country_of_destination"),
        &d.country_of_destination,
    );
    if d.expected_arrival_ms < 0 {
        out.add(
            Path::root("expected_arrival_ms"),
            "must be milliseconds since the Unix epoch, or 0 when not known",
        );
    }
    positive(
        &mut out,
        &Path::root("gross_mass_g"),
        d.gross_mass_g,
        "grams",
    );
    if let Some(revenue) = &d.revenue {
        check_revenue(&mut out, &Path::root("revenue"), revenue);
    }
    optional_text(
        &mut out,
        Path::root("return_of"),
        &d.return_of,
        MAX_LRN_CHARS,
    );
    check_items(&mut out, &d.items);

    out.finish()
}

/// A realistic, valid declaration: a Shenzhen shop selling through the Dutch marketplace
/// `ptr/NL/shopco` to a buyer in Amsterdam, flown in by an express carrier with VAT collected
/// by the platform under IOSS.
///
/// It exists because the unit tests, the demo and the benchmark all need a declaration that
/// passes §7 and looks like real traffic; keeping one here means a rule change that breaks
/// it fails this module's tests first.
pub fn sample_declaration(lrn: &str) -> AdvanceDeclaration {
    let eur = |amount_minor: i64| {
        Some(Money {
            currency: "EUR".into(),
            amount_minor,
        })
    };
    AdvanceDeclaration {
        lrn: lrn.into(),
        seller: Some(Party {
            name: "Shenzhen Apex Sports Co., Ltd.".into(),
            street: "Building 5, 88 Keyuan Road, Nanshan District".into(),
            city: "Shenzhen".into(),
            postcode: "518057".into(),
            country: "CN".into(),
            identifier: "SHOPCO-S-004417".into(),
        }),
        buyer: Some(Party {
            name: "Jeroen de Vries".into(),
            street: "Keizersgracht 123".into(),
            city: "Amsterdam".into(),
            postcode: "1015 CJ".into(),
            country: "NL".into(),
            identifier: String::new(),
        }),
        platform_id: "ptr/NL/shopco".into(),
        transport: Some(Transport {
            house_ref: "EXP7723419845NL".into(),
            master_ref: "160-12345675".into(),
            mode: TransportMode::Air as i32,
            carrier_id: "ptr/NL/swiftair".into(),
        }),
        country_of_dispatch: "CN".into(),
        country_of_destination: "NL".into(),
        expected_arrival_ms: 1_796_113_800_000,
        gross_mass_g: 2_100,
        // Worth EUR 237.99, above IOSS's EUR 150: VAT is paid at the border (§11).
        revenue: Some(Revenue {
            model: CollectionModel::Border as i32,
            ioss_number: String::new(),
            tax_collected: None,
        }),
        return_of: String::new(),
        items: vec![
            Item {
                description: "Men's running shoes, knitted textile upper, rubber sole".into(),
                hs_code: "64041100".into(),
                quantity: 1,
                value: eur(5_999),
                origin_country: "CN".into(),
                mass_g: 900,
                listing_url: "https://shopco.example/listing/884213".into(),
                listed_price: eur(5_999),
            },
            Item {
                description: "Smartwatch with heart-rate sensor and Bluetooth, silicone strap"
                    .into(),
                hs_code: "851762".into(),
                quantity: 2,
                value: eur(9_900),
                origin_country: "CN".into(),
                mass_g: 300,
                listing_url: "https://shopco.example/listing/902177".into(),
                // The price of one unit (§11); the value is the line's total.
                listed_price: eur(4_950),
            },
            Item {
                description: "Women's handbag, outer surface of cowhide leather".into(),
                hs_code: "42022100".into(),
                quantity: 1,
                value: eur(7_900),
                origin_country: "VN".into(),
                mass_g: 650,
                listing_url: String::new(),
                listed_price: None,
            },
        ],
    }
}

/// A proto field path built on the stack and formatted only when a violation needs it, so
/// that validating a valid 999-item declaration allocates nothing for paths.
#[derive(Clone, Copy)]
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    segment: Segment,
}

#[derive(Clone, Copy)]
enum Segment {
    Field(&'static str),
    Index(usize),
}

impl Path<'static> {
    fn root(name: &'static str) -> Self {
        Path {
            parent: None,
            segment: Segment::Field(name),
        }
    }
}

impl<'a> Path<'a> {
    fn field(&'a self, name: &'static str) -> Path<'a> {
        Path {
            parent: Some(self),
            segment: Segment::Field(name),
        }
    }

    fn index(&'a self, index: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            segment: Segment::Index(index),
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(parent) = self.parent {
            parent.fmt(f)?;
        }
        match self.segment {
            Segment::Field(name) if self.parent.is_some() => write!(f, ".{name}"),
            Segment::Field(name) => f.write_str(name),
            Segment::Index(index) => write!(f, "[{index}]"),
        }
    }
}

fn check_party(out: &mut Violations, path: &Path<'_>, party: Option<&Party>) {
    let Some(party) = party else {
        out.add(path, "required");
        return;
    };
    required_text(out, &path.field("name"), &party.name, 70);
    optional_text(out, path.field("street"), &party.street, 70);
    optional_text(out, path.field("city"), &party.city, 35);
    optional_text(out, path.field("postcode"), &party.postcode, 17);
    required_country(out, &path.field("country"), &party.country);
    optional_text(out, path.field("identifier"), &party.identifier, 17);
}

fn check_transport(out: &mut Violations, path: &Path<'_>, transport: Option<&Transport>) {
    let Some(transport) = transport else {
        out.add(path, "required");
        return;
    };
    required_text(out, &path.field("house_ref"), &transport.house_ref, 70);
    optional_text(out, path.field("master_ref"), &transport.master_ref, 70);
    match TransportMode::try_from(transport.mode) {
        Ok(TransportMode::Unspecified) => {
            out.add(path.field("mode"), "required: AIR, POST, ROAD, SEA or RAIL")
        }
        Ok(_) => {}
        Err(_) => out.add(
            path.field("mode"),
            format_args!(
                "unknown transport mode {}; must be AIR, POST, ROAD, SEA or RAIL",
                transport.mode
            ),
        ),
    }
    optional_text(out, path.field("carrier_id"), &transport.carrier_id, 64);
}

fn check_revenue(out: &mut Violations, path: &Path<'_>, revenue: &Revenue) {
    match CollectionModel::try_from(revenue.model) {
        Ok(CollectionModel::Unspecified) => out.add(
            path.field("model"),
            "required when revenue is given: BORDER, VENDOR, PLATFORM or CONSUMER",
        ),
        Ok(_) => {}
        Err(_) => out.add(
            path.field("model"),
            format_args!(
                "unknown collection model {}; must be BORDER, VENDOR, PLATFORM or CONSUMER",
                revenue.model
            ),
        ),
    }
    if !revenue.ioss_number.is_empty() && !is_ioss_number(&revenue.ioss_number) {
        out.add(
            path.field("ioss_number"),
            "must be IM followed by 10 digits (IM5280001234)",
        );
    }
    if let Some(tax) = &revenue.tax_collected {
        check_money(out, &path.field("tax_collected"), tax, Amount::NonNegative);
    }
}

fn check_items(out: &mut Violations, items: &[Item]) {
    let items_path = Path::root("items");
    if items.is_empty() {
        out.add(items_path, "at least one item is required");
    } else if items.len() > MAX_ITEMS {
        out.add(
            items_path,
            format_args!(
                "at most {MAX_ITEMS} items per declaration (got {})",
                items.len()
            ),
        );
    }
    // The declaration's currency: that of the first item with a valid value currency.
    let mut currency: Option<(usize, &str)> = None;
    for (index, item) in items.iter().enumerate() {
        let path = items_path.index(index);
        check_description(out, &path.field("description"), &item.description);
        if !is_hs_code(&item.hs_code) {
            out.add(
                path.field("hs_code"),
                "must be 6 to 10 digits of an existing HS chapter (01–97, not 77)",
            );
        }
        if item.quantity == 0 {
            out.add(path.field("quantity"), "must be > 0");
        }
        match &item.value {
            None => out.add(path.field("value"), "required"),
            Some(value) => {
                let value_path = path.field("value");
                if check_money(out, &value_path, value, Amount::Positive) {
                    match currency {
                        None => currency = Some((index, value.currency.as_str())),
                        Some((first, expected)) if expected != value.currency => out.add(
                            value_path.field("currency"),
                            format_args!(
                                "{:?} differs from the declaration's currency {expected:?} \
                                 (items[{first}]); all item values must be in one currency",
                                value.currency
                            ),
                        ),
                        Some(_) => {}
                    }
                }
            }
        }
        required_country(out, &path.field("origin_country"), &item.origin_country);
        positive(out, &path.field("mass_g"), item.mass_g, "grams");
        if !item.listing_url.is_empty() {
            check_listing_url(out, &path.field("listing_url"), &item.listing_url);
        }
        if let Some(price) = &item.listed_price {
            check_money(out, &path.field("listed_price"), price, Amount::NonNegative);
        }
    }
}

fn check_description(out: &mut Violations, path: &Path<'_>, description: &str) {
    let chars = description.chars().count();
    if !(3..=512).contains(&chars) {
        out.add(
            path,
            format_args!("must be 3 to 512 characters (got {chars})"),
        );
    } else if codes::is_vague_description(description) {
        out.add(
            path,
            format_args!(
                "{:?} is too vague to assess; describe the goods (material, kind, use)",
                shorten(description.trim(), 40)
            ),
        );
    }
}

fn check_listing_url(out: &mut Violations, path: &Path<'_>, url: &str) {
    let chars = url.chars().count();
    if chars > MAX_LISTING_URL_CHARS {
        out.add(
            path,
            format_args!("must be at most {MAX_LISTING_URL_CHARS} characters (got {chars})"),
        );
        return;
    }
    let rest = strip_prefix_ignore_case(url, "https://")
        .or_else(|| strip_prefix_ignore_case(url, "http://"));
    let well_formed = rest.is_some_and(|rest| {
        !rest.is_empty() && !rest.starts_with('/') && !rest.chars().any(char::is_whitespace)
    }) && !url.chars().any(char::is_control);
    if !well_formed {
        out.add(path, "must be an http:// or https:// URL without spaces");
    }
}

/// Whether the amount must be positive (a value) or may be zero (a price or tax).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Amount {
    Positive,
    NonNegative,
}

/// Checks a Money; returns whether its currency is valid.
fn check_money(out: &mut Violations, path: &Path<'_>, money: &Money, amount: Amount) -> bool {
    let currency_ok = check_currency(out, path.field("currency"), &money.currency);
    match amount {
        Amount::Positive if money.amount_minor <= 0 => out.add(
            path.field("amount_minor"),
            "must be > 0 (in the currency's minor unit, e.g. cents)",
        ),
        Amount::NonNegative if money.amount_minor < 0 => {
            out.add(path.field("amount_minor"), "must not be negative")
        }
        _ => {}
    }
    currency_ok
}

/// An ISO 4217 currency code in circulation, required; returns whether it is valid. Shared
/// by declaration and indicator validation, so both explain a bad currency the same way.
pub(crate) fn check_currency(
    out: &mut Violations,
    field: impl fmt::Display,
    currency: &str,
) -> bool {
    check_code(
        out,
        field,
        currency,
        codes::is_currency,
        "required: an ISO 4217 currency code such as EUR",
        "is not an ISO 4217 currency in circulation",
    )
}

fn required_country(out: &mut Violations, path: &Path<'_>, code: &str) {
    check_country(out, path, code, "NL");
}

/// An ISO 3166-1 alpha-2 country code, required; a lower-case one is reported with its
/// upper-case form. Shared by declaration and indicator validation, so both explain a bad
/// code the same way (`example` names a plausible code for the field).
pub(crate) fn check_country(
    out: &mut Violations,
    field: impl fmt::Display,
    code: &str,
    example: &str,
) {
    check_code(
        out,
        field,
        code,
        codes::is_country,
        format_args!("required: an ISO 3166-1 alpha-2 country code such as {example}"),
        "is not an ISO 3166-1 alpha-2 country code",
    );
}

/// A required code from a closed list (`is_known`); returns whether it is valid. Currencies
/// and countries are explained alike: `required` when empty, the upper-case form when only
/// the case is wrong (the commonest slip), else the code quoted and `unknown`.
fn check_code(
    out: &mut Violations,
    field: impl fmt::Display,
    code: &str,
    is_known: fn(&str) -> bool,
    required: impl fmt::Display,
    unknown: &str,
) -> bool {
    if is_known(code) {
        return true;
    }
    let upper = code.to_ascii_uppercase();
    if code.is_empty() {
        out.add(field, required);
    } else if is_known(&upper) {
        out.add(
            field,
            format_args!("{code:?} must be upper case ({upper:?})"),
        );
    } else {
        out.add(field, format_args!("{code:?} {unknown}"));
    }
    false
}

/// A required text of 1 to `max` characters; white space alone counts as missing.
fn required_text(out: &mut Violations, path: &Path<'_>, value: &str, max: usize) {
    if value.trim().is_empty() {
        out.add(path, format_args!("required: 1 to {max} characters"));
    } else {
        optional_text(out, path, value, max);
    }
}

/// An optional text of at most `max` characters (not bytes: names are often not ASCII).
/// Shared with indicator validation, so both count and word a length limit the same way.
pub(crate) fn optional_text(
    out: &mut Violations,
    path: impl fmt::Display,
    value: &str,
    max: usize,
) {
    // A string of at most `max` bytes has at most `max` characters; count only when needed.
    if value.len() > max {
        let chars = value.chars().count();
        if chars > max {
            out.add(
                path,
                format_args!("must be at most {max} characters (got {chars})"),
            );
        }
    }
}

fn positive(out: &mut Violations, path: &Path<'_>, value: i64, unit: &str) {
    if value <= 0 {
        out.add(path, format_args!("must be > 0 {unit} (got {value})"));
    }
}

/// `IM` followed by exactly 10 ASCII digits (the EU IOSS identification number).
pub(crate) fn is_ioss_number(value: &str) -> bool {
    value
        .strip_prefix("IM")
        .is_some_and(|digits| digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// 6 to 10 ASCII digits whose first two name an existing HS chapter.
fn is_hs_code(value: &str) -> bool {
    (6..=10).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_digit())
        && codes::is_hs_chapter(&value[..2])
}

fn strip_prefix_ignore_case<'s>(value: &'s str, prefix: &str) -> Option<&'s str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &value[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(violations: &[FieldViolation]) -> Vec<&str> {
        violations.iter().map(|v| v.field.as_str()).collect()
    }

    /// The violations of the sample after `change`.
    fn after(change: impl FnOnce(&mut AdvanceDeclaration)) -> Vec<FieldViolation> {
        let mut declaration = sample_declaration("SHP-2026-000123");
        change(&mut declaration);
        validate_declaration(&declaration)
    }

    /// Asserts that `change` causes exactly one violation, on `field`, and returns it.
    #[track_caller]
    fn only(field: &str, change: impl FnOnce(&mut AdvanceDeclaration)) -> FieldViolation {
        let mut violations = after(change);
        assert_eq!(fields(&violations), [field], "{violations:#?}");
        violations.remove(0)
    }

    fn seller(d: &mut AdvanceDeclaration) -> &mut Party {
        d.seller.get_or_insert_with(Party::default)
    }

    fn buyer(d: &mut AdvanceDeclaration) -> &mut Party {
        d.buyer.get_or_insert_with(Party::default)
    }

    fn transport(d: &mut AdvanceDeclaration) -> &mut Transport {
        d.transport.get_or_insert_with(Transport::default)
    }

    fn revenue(d: &mut AdvanceDeclaration) -> &mut Revenue {
        d.revenue.get_or_insert_with(Revenue::default)
    }

    fn money(currency: &str, amount_minor: i64) -> Option<Money> {
        Some(Money {
            currency: currency.into(),
            amount_minor,
        })
    }

    #[test]
    fn the_sample_is_valid() {
        for lrn in ["SHP-2026-000123", "1", "ABCDEFGHIJKLMNOPQRSTUV"] {
            assert_eq!(validate_declaration(&sample_declaration(lrn)), []);
        }
    }

    #[test]
    fn optional_fields_may_be_left_out() {
        let violations = after(|d| {
            d.platform_id.clear();
            d.expected_arrival_ms = 0;
            d.revenue = None;
            d.return_of.clear();
            for party in [d.seller.as_mut(), d.buyer.as_mut()].into_iter().flatten() {
                party.street.clear();
                party.city.clear();
                party.postcode.clear();
                party.identifier.clear();
            }
            let t = transport(d);
            t.master_ref.clear();
            t.carrier_id.clear();
            for item in &mut d.items {
                item.listing_url.clear();
                item.listed_price = None;
            }
        });
        assert_eq!(violations, []);
        let violations = after(|d| {
            let r = revenue(d);
            r.ioss_number.clear();
            r.tax_collected = None;
            r.model = CollectionModel::Border as i32;
        });
        assert_eq!(violations, []);
    }

    #[test]
    fn lrn_is_1_to_22_characters() {
        only("lrn", |d| d.lrn.clear());
        only("lrn", |d| d.lrn = "   ".into());
        only("lrn", |d| d.lrn = "A".repeat(23));
        assert_eq!(after(|d| d.lrn = "é".repeat(22)), []);
        let violation = only("lrn", |d| d.lrn = "é".repeat(23));
        assert_eq!(
            violation.description,
            "must be at most 22 characters (got 23)"
        );
    }

    #[test]
    fn parties_are_required() {
        only("seller", |d| d.seller = None);
        only("buyer", |d| d.buyer = None);
    }

    #[test]
    fn party_fields_follow_the_table() {
        only("seller.name", |d| seller(d).name.clear());
        only("buyer.name", |d| buyer(d).name = "x".repeat(71));
        assert_eq!(after(|d| buyer(d).name = "ü".repeat(70)), []);
        only("seller.street", |d| seller(d).street = "x".repeat(71));
        only("seller.city", |d| seller(d).city = "x".repeat(36));
        only("buyer.postcode", |d| buyer(d).postcode = "x".repeat(18));
        only("seller.identifier", |d| {
            seller(d).identifier = "x".repeat(18)
        });
        only("buyer.country", |d| buyer(d).country.clear());
        let violation = only("seller.country", |d| seller(d).country = "XK".into());
        assert_eq!(
            violation.description,
            "\"XK\" is not an ISO 3166-1 alpha-2 country code"
        );
        let violation = only("seller.country", |d| seller(d).country = "cn".into());
        assert_eq!(violation.description, "\"cn\" must be upper case (\"CN\")");
    }

    #[test]
    fn platform_id_is_a_participant_id() {
        only("platform_id", |d| d.platform_id = "Shop Co".into());
        only("platform_id", |d| d.platform_id = "ptr/NL/".into());
    }

    #[test]
    fn transport_follows_the_table() {
        only("transport", |d| d.transport = None);
        only("transport.house_ref", |d| transport(d).house_ref.clear());
        only("transport.house_ref", |d| {
            transport(d).house_ref = "x".repeat(71)
        });
        only("transport.master_ref", |d| {
            transport(d).master_ref = "x".repeat(71)
        });
        only("transport.carrier_id", |d| {
            transport(d).carrier_id = "x".repeat(65)
        });
        only("transport.mode", |d| {
            transport(d).mode = TransportMode::Unspecified as i32
        });
        let violation = only("transport.mode", |d| transport(d).mode = 9);
        assert!(
            violation.description.contains("unknown transport mode 9"),
            "{violation:?}"
        );
        for mode in [
            TransportMode::Post,
            TransportMode::Road,
            TransportMode::Sea,
            TransportMode::Rail,
        ] {
            assert_eq!(after(|d| transport(d).mode = mode as i32), []);
        }
    }

    #[test]
    fn countries_are_upper_case_alpha_2() {
        only("country_of_dispatch", |d| {
            d.country_of_dispatch = "ZZ".into()
        });
        only("country_of_dispatch", |d| {
            d.country_of_dispatch = "CHN".into()
        });
        only("country_of_destination", |d| {
            d.country_of_destination.clear()
        });
        only("country_of_destination", |d| {
            d.country_of_destination = "nl".into()
        });
    }

    #[test]
    fn expected_arrival_may_be_absent_but_not_negative() {
        only("expected_arrival_ms", |d| d.expected_arrival_ms = -1);
        assert_eq!(after(|d| d.expected_arrival_ms = 0), []);
    }

    #[test]
    fn masses_and_quantities_are_positive() {
        only("gross_mass_g", |d| d.gross_mass_g = 0);
        only("gross_mass_g", |d| d.gross_mass_g = -5);
        only("items[1].mass_g", |d| d.items[1].mass_g = 0);
        only("items[2].quantity", |d| d.items[2].quantity = 0);
    }

    #[test]
    fn revenue_follows_the_table() {
        only("revenue.model", |d| revenue(d).model = 0);
        only("revenue.model", |d| revenue(d).model = 7);
        for bad in [
            "IM123",
            "IM52800012345",
            "im5280001234",
            "IM528000123a",
            "DE5280001234",
        ] {
            only("revenue.ioss_number", |d| {
                revenue(d).ioss_number = bad.into()
            });
        }
        only("revenue.tax_collected.currency", |d| {
            revenue(d).tax_collected = money("XXX", 100)
        });
        only("revenue.tax_collected.amount_minor", |d| {
            revenue(d).tax_collected = money("EUR", -1)
        });
        assert_eq!(after(|d| revenue(d).tax_collected = money("EUR", 0)), []);
        assert_eq!(after(|d| revenue(d).tax_collected = money("GBP", 20)), []);
    }

    #[test]
    fn return_of_is_an_lrn() {
        only("return_of", |d| d.return_of = "R".repeat(23));
        assert_eq!(after(|d| d.return_of = "SHP-2026-000001".into()), []);
    }

    #[test]
    fn items_are_1_to_999() {
        only("items", |d| d.items.clear());
        let many = |count: usize| {
            move |d: &mut AdvanceDeclaration| {
                let item = d.items[0].clone();
                d.items = vec![item; count];
            }
        };
        assert_eq!(after(many(999)), []);
        let violation = only("items", many(1000));
        assert_eq!(
            violation.description,
            "at most 999 items per declaration (got 1000)"
        );
    }

    #[test]
    fn descriptions_are_3_to_512_characters_and_specific() {
        only("items[0].description", |d| {
            d.items[0].description = "ab".into()
        });
        only("items[0].description", |d| {
            d.items[0].description = "x".repeat(513)
        });
        assert_eq!(after(|d| d.items[0].description = "Tea".into()), []);
        assert_eq!(after(|d| d.items[0].description = "é".repeat(512)), []);
        let violation = only("items[1].description", |d| {
            d.items[1].description = "gift".into()
        });
        assert_eq!(
            violation.description,
            "\"gift\" is too vague to assess; describe the goods (material, kind, use)"
        );
        only("items[2].description", |d| {
            d.items[2].description = "Samples and accessories".into()
        });
        assert_eq!(
            after(|d| d.items[2].description = "bicycle parts".into()),
            []
        );
    }

    #[test]
    fn hs_codes_are_6_to_10_digits_of_an_existing_chapter() {
        for bad in [
            "770000",
            "98000000",
            "12345",
            "12345a",
            "001234",
            "64041100000",
            "6404 11",
            "",
        ] {
            let violation = only("items[2].hs_code", |d| d.items[2].hs_code = bad.into());
            assert_eq!(
                violation.description,
                "must be 6 to 10 digits of an existing HS chapter (01–97, not 77)"
            );
        }
        for good in ["640411", "6404110000", "970600", "010121"] {
            assert_eq!(after(|d| d.items[2].hs_code = good.into()), [], "{good}");
        }
    }

    #[test]
    fn item_values_are_positive_in_a_valid_currency() {
        only("items[0].value", |d| d.items[0].value = None);
        only("items[0].value.amount_minor", |d| {
            d.items[0].value = money("EUR", 0)
        });
        only("items[0].value.amount_minor", |d| {
            d.items[0].value = money("EUR", -100)
        });
        only("items[1].value.currency", |d| {
            d.items[1].value = money("EURO", 100)
        });
        let violation = only("items[1].value.currency", |d| {
            d.items[1].value = money("eur", 100)
        });
        assert_eq!(
            violation.description,
            "\"eur\" must be upper case (\"EUR\")"
        );
    }

    #[test]
    fn mixed_currencies_are_reported_on_each_deviating_item() {
        let violations = after(|d| {
            d.items[1].value = money("USD", 1_000);
            d.items[2].value = money("GBP", 1_000);
        });
        assert_eq!(
            fields(&violations),
            ["items[1].value.currency", "items[2].value.currency"]
        );
        for violation in &violations {
            assert!(
                violation.description.contains("\"EUR\" (items[0])"),
                "{violation:?}"
            );
        }
        // The whole declaration in one other currency is fine.
        let violations = after(|d| {
            for item in &mut d.items {
                item.value = money("CNY", 45_000);
            }
        });
        assert_eq!(violations, []);
    }

    #[test]
    fn origin_country_is_required() {
        only("items[0].origin_country", |d| {
            d.items[0].origin_country.clear()
        });
        only("items[2].origin_country", |d| {
            d.items[2].origin_country = "XK".into()
        });
    }

    #[test]
    fn listing_urls_are_http_urls() {
        for bad in [
            "ftp://shop.example/1",
            "shop.example/1",
            "https://",
            "https:///x",
            "https://a b",
            "javascript:x",
        ] {
            only("items[0].listing_url", |d| {
                d.items[0].listing_url = bad.into()
            });
        }
        let long = format!("https://shop.example/{}", "x".repeat(2048));
        only("items[0].listing_url", |d| d.items[0].listing_url = long);
        assert_eq!(
            after(|d| d.items[0].listing_url = "HTTP://shop.example/é".into()),
            []
        );
    }

    #[test]
    fn listed_prices_may_be_in_another_currency() {
        assert_eq!(
            after(|d| d.items[0].listed_price = money("CNY", 42_900)),
            []
        );
        assert_eq!(after(|d| d.items[0].listed_price = money("EUR", 0)), []);
        only("items[0].listed_price.currency", |d| {
            d.items[0].listed_price = money("usd", 100)
        });
        only("items[0].listed_price.amount_minor", |d| {
            d.items[0].listed_price = money("EUR", -1)
        });
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let violations = after(|d| {
            d.lrn.clear();
            transport(d).mode = 0;
            d.items[2].hs_code = "980000".into();
        });
        assert_eq!(
            fields(&violations),
            ["lrn", "transport.mode", "items[2].hs_code"]
        );

        let violations = validate_declaration(&AdvanceDeclaration::default());
        assert_eq!(
            fields(&violations),
            [
                "lrn",
                "seller",
                "buyer",
                "transport",
                "country_of_dispatch",
                "country_of_destination",
                "gross_mass_g",
                "items"
            ]
        );
    }

    #[test]
    fn the_list_is_capped_with_a_count_of_the_rest() {
        let violations = after(|d| {
            let mut item = d.items[0].clone();
            item.hs_code = "77".into();
            item.origin_country.clear();
            d.items = vec![item; MAX_ITEMS];
        });
        assert_eq!(violations.len(), MAX_VIOLATIONS + 1);
        assert_eq!(violations[0].field, "items[0].hs_code");
        assert_eq!(violations[1].field, "items[0].origin_country");
        assert_eq!(violations[49].field, "items[24].origin_country");
        let last = &violations[MAX_VIOLATIONS];
        assert_eq!(last.field, "");
        assert_eq!(
            last.description,
            "1948 more violation(s) omitted; only the first 50 are listed"
        );
    }

    #[test]
    fn vague_descriptions_are_quoted_shortly() {
        let violation = only("items[0].description", |d| {
            d.items[0].description = "gifts ".repeat(30)
        });
        assert!(
            violation.description.starts_with("\"gifts gifts"),
            "{violation:?}"
        );
        assert!(
            violation.description.contains("…\" is too vague"),
            "{violation:?}"
        );
    }

    #[test]
    fn paths_format_like_proto_field_paths() {
        let items = Path::root("items");
        let item = items.index(12);
        let value = item.field("value");
        assert_eq!(
            value.field("currency").to_string(),
            "items[12].value.currency"
        );
        assert_eq!(Path::root("lrn").to_string(), "lrn");
    }
}
