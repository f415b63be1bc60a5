//! The matching semantics set out in [`core::risk`](super), implemented once: whether one
//! indicator's criteria match one declaration, and which of the declaration's data is in
//! question.
//!
//! The brute-force reference [`criteria_match`] and the index's verification of its
//! candidates both come down to [`evaluate`], so that they cannot disagree. Both sides are
//! first put in the form matching reads, a declaration once per assessment ([`Prepared`]) and
//! an indicator once when it is filed ([`Compiled`]), because one assessment verifies many
//! candidates.

use std::fmt;

use super::filter::Summary;
use super::index::{declaration_keys, AnchorKind};
use crate::proto::v1::{AdvanceDeclaration, Criteria, Item, Money, RiskIndicator};

/// Reference semantics, by brute force: whether this indicator's criteria match the
/// declaration (module documentation). [`RiskIndex`] agrees with it exactly.
///
/// [`RiskIndex`]: super::RiskIndex
pub fn criteria_match(criteria: &Criteria, declaration: &AdvanceDeclaration) -> bool {
    evaluate(&Compiled::new(Some(criteria)), &Prepared::new(declaration)).is_some()
}

/// Whether the indicator is in force at `now_ms`: `valid_until_ms == 0` means no end date;
/// otherwise it is in force while `now_ms <= valid_until_ms`, so that "valid until T" includes
/// T itself, as the field's name says.
pub fn in_force(indicator: &RiskIndicator, now_ms: i64) -> bool {
    in_force_until(indicator.valid_until_ms, now_ms)
}

/// [`in_force`] on the end date alone.
pub(super) fn in_force_until(valid_until_ms: i64, now_ms: i64) -> bool {
    valid_until_ms == 0 || now_ms <= valid_until_ms
}

/// A declaration split into the words and sums matching needs, computed once per
/// assessment instead of once per candidate indicator.
pub(super) struct Prepared<'d> {
    pub(super) declaration: &'d AdvanceDeclaration,
    /// Every word of the item descriptions and of the seller's name, lower-cased, back to
    /// back in one buffer, so that preparing a declaration allocates a handful of times
    /// rather than once per word.
    lowered: String,
    /// The words' byte ranges in `lowered`: the items' words in item order, then the
    /// seller's name's.
    pub(super) spans: Vec<(usize, usize)>,
    /// Per item, its range of `spans`.
    pub(super) item_spans: Vec<(usize, usize)>,
    /// The seller's name's range of `spans`.
    seller_name_spans: (usize, usize),
    /// `seller.identifier`, trimmed; empty when absent.
    pub(super) seller_id: &'d str,
    /// The items' currency and the sum of their values, when defined.
    pub(super) total: Option<(&'d str, i128)>,
    /// The declaration's keys, hashed ([`key_hash`](super::index::key_hash)).
    pub(super) keys: Vec<(AnchorKind, u64)>,
    /// The declaration's keys, summarised for the indicators' filters.
    pub(super) summary: Summary,
}

/// Some words of a [`Prepared`] declaration.
#[derive(Clone, Copy)]
pub(super) struct Words<'p> {
    lowered: &'p str,
    spans: &'p [(usize, usize)],
}

impl<'p> Words<'p> {
    pub(super) fn get(&self, index: usize) -> &'p str {
        self.spans
            .get(index)
            .and_then(|&(start, end)| self.lowered.get(start..end))
            .unwrap_or("")
    }

    pub(super) fn len(&self) -> usize {
        self.spans.len()
    }

    pub(super) fn iter(self) -> impl DoubleEndedIterator<Item = &'p str> {
        (0..self.spans.len()).map(move |i| self.get(i))
    }

    /// Whether the term's words occur here consecutively. A term without words never
    /// matches.
    fn contains_phrase(&self, term: Words<'_>) -> bool {
        term.len() != 0
            && term.len() <= self.len()
            && (0..=self.len() - term.len())
                .any(|start| (0..term.len()).all(|k| self.get(start + k) == term.get(k)))
    }
}

impl<'d> Prepared<'d> {
    pub(super) fn new(declaration: &'d AdvanceDeclaration) -> Self {
        let seller = declaration.seller.as_ref();
        let seller_name = seller.map_or("", |s| s.name.as_str());
        let text_len: usize = declaration
            .items
            .iter()
            .map(|item| item.description.len())
            .sum::<usize>()
            + seller_name.len();
        let mut lowered = String::with_capacity(text_len);
        let mut spans = Vec::with_capacity(text_len / 4);
        let mut split = |text: &str| {
            let first = spans.len();
            for_each_word(text, |word| {
                let start = lowered.len();
                push_lower_case(&mut lowered, word);
                spans.push((start, lowered.len()));
            });
            (first, spans.len())
        };
        let item_spans: Vec<(usize, usize)> = declaration
            .items
            .iter()
            .map(|item| split(&item.description))
            .collect();
        let seller_name_spans = split(seller_name);
        let mut prepared = Prepared {
            declaration,
            lowered,
            spans,
            item_spans,
            seller_name_spans,
            seller_id: seller.map_or("", |s| s.identifier.trim()),
            total: total_value(&declaration.items),
            keys: Vec::new(),
            summary: Summary::default(),
        };
        let (keys, summary) = declaration_keys(&prepared);
        prepared.keys = keys;
        prepared.summary = summary;
        prepared
    }

    pub(super) fn words(&self, (first, end): (usize, usize)) -> Words<'_> {
        Words {
            lowered: &self.lowered,
            spans: self.spans.get(first..end).unwrap_or(&[]),
        }
    }

    fn item_words(&self, index: usize) -> Words<'_> {
        self.words(self.item_spans.get(index).copied().unwrap_or((0, 0)))
    }

    pub(super) fn seller_name_words(&self) -> Words<'_> {
        self.words(self.seller_name_spans)
    }
}

/// The items' common currency and the sum of their values; `None` when there are no items,
/// an item has no value or an empty currency, or the currencies differ. The sum is an i128
/// so that 999 items of `i64::MAX` cannot overflow.
fn total_value(items: &[Item]) -> Option<(&str, i128)> {
    let mut currency: Option<&str> = None;
    let mut sum: i128 = 0;
    for item in items {
        let value = item.value.as_ref()?;
        if value.currency.is_empty() {
            return None;
        }
        match currency {
            None => currency = Some(&value.currency),
            Some(c) if c != value.currency => return None,
            Some(_) => {}
        }
        sum += i128::from(value.amount_minor);
    }
    currency.map(|c| (c, sum))
}

/// Calls `f` with each word of `text`: each maximal run of alphanumeric characters
/// ([`char::is_alphanumeric`]), as written. ASCII text, the usual case, is split byte by byte.
fn for_each_word(text: &str, mut f: impl FnMut(&str)) {
    if !text.is_ascii() {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .for_each(f);
        return;
    }
    let mut start = None;
    for (at, byte) in text.bytes().enumerate() {
        match (byte.is_ascii_alphanumeric(), start) {
            (true, None) => start = Some(at),
            (false, Some(from)) => {
                f(text.get(from..at).unwrap_or(""));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(from) = start {
        f(text.get(from..).unwrap_or(""));
    }
}

/// Appends `word.to_lowercase()` to `out`, without allocating for ASCII words.
fn push_lower_case(out: &mut String, word: &str) {
    if word.is_ascii() {
        out.extend(word.bytes().map(|b| char::from(b.to_ascii_lowercase())));
    } else {
        out.push_str(&word.to_lowercase());
    }
}

/// Whether `actual` is one of `values`; an empty `actual` matches nothing.
fn contains_value<'v>(mut values: impl Iterator<Item = &'v str>, actual: &str) -> bool {
    !actual.is_empty() && values.any(|v| v == actual)
}

/// An indicator's criteria in the form matching reads, built once per indicator: seller
/// ids trimmed, terms split into lower-cased words, and every value in one text buffer with
/// one table of spans, so that verifying a candidate at 100,000 indicators costs a few cache
/// misses rather than one per string.
#[derive(Debug, Default)]
pub(super) struct Compiled {
    /// Whether the criteria have a non-empty field; without, they match nothing.
    any: bool,
    text: String,
    /// Byte ranges of values in `text`, field after field in [`Field`] order; for the term
    /// fields, ranges of the words' spans.
    spans: Vec<(usize, usize)>,
    /// Where each [`Field`] ends in `spans` (it starts where the previous one ends).
    ends: [usize; FIELDS],
    min_value: Option<Bound>,
    max_value: Option<Bound>,
}

/// A value bound: its currency's span in [`Compiled::text`] and its amount.
#[derive(Debug, Clone, Copy)]
struct Bound {
    currency: (usize, usize),
    amount_minor: i64,
}

/// The fields of a [`Compiled`], in the order they are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Field {
    SellerIds,
    DispatchCountries,
    HsPrefixes,
    OriginCountries,
    /// The words of all description terms; [`Field::DescriptionTerms`] groups them.
    DescriptionWords,
    DescriptionTerms,
    SellerNameWords,
    SellerNameTerms,
}

const FIELDS: usize = 8;

impl Compiled {
    pub(super) fn new(criteria: Option<&Criteria>) -> Compiled {
        let mut compiled = Compiled::default();
        let Some(c) = criteria else {
            return compiled;
        };
        compiled.any = !is_empty_criteria(c);
        compiled.push_values(Field::SellerIds, c.seller_ids.iter().map(|id| id.trim()));
        compiled.push_values(
            Field::DispatchCountries,
            c.dispatch_countries.iter().map(String::as_str),
        );
        compiled.push_values(Field::HsPrefixes, c.hs_prefixes.iter().map(String::as_str));
        compiled.push_values(
            Field::OriginCountries,
            c.origin_countries.iter().map(String::as_str),
        );
        compiled.push_terms(
            Field::DescriptionWords,
            Field::DescriptionTerms,
            &c.description_terms,
        );
        compiled.push_terms(
            Field::SellerNameWords,
            Field::SellerNameTerms,
            &c.seller_name_terms,
        );
        compiled.min_value = c.min_value.as_ref().map(|m| compiled.push_bound(m));
        compiled.max_value = c.max_value.as_ref().map(|m| compiled.push_bound(m));
        compiled.text.shrink_to_fit();
        compiled.spans.shrink_to_fit();
        compiled
    }

    fn push_values<'v>(&mut self, field: Field, values: impl Iterator<Item = &'v str>) {
        for value in values {
            let start = self.text.len();
            self.text.push_str(value);
            self.spans.push((start, self.text.len()));
        }
        self.end(field);
    }

    /// Stores the terms' words as field `words` (split and lower-cased like declarations'
    /// text), then each term's range of them as field `field`.
    fn push_terms(&mut self, words: Field, field: Field, terms: &[String]) {
        let mut ranges = Vec::with_capacity(terms.len());
        for term in terms {
            let first = self.spans.len();
            for_each_word(term, |word| {
                let start = self.text.len();
                push_lower_case(&mut self.text, word);
                self.spans.push((start, self.text.len()));
            });
            ranges.push((first, self.spans.len()));
        }
        self.end(words);
        self.spans.extend(ranges);
        self.end(field);
    }

    fn push_bound(&mut self, money: &Money) -> Bound {
        let start = self.text.len();
        self.text.push_str(&money.currency);
        Bound {
            currency: (start, self.text.len()),
            amount_minor: money.amount_minor,
        }
    }

    /// Marks the end of `field` (and of any empty fields before it).
    fn end(&mut self, field: Field) {
        let end = self.spans.len();
        if let Some(place) = self.ends.get_mut(field as usize) {
            *place = end;
        }
    }

    fn range(&self, field: Field) -> &[(usize, usize)] {
        let index = field as usize;
        let start = index
            .checked_sub(1)
            .and_then(|i| self.ends.get(i))
            .copied()
            .unwrap_or(0);
        let end = self.ends.get(index).copied().unwrap_or(start);
        self.spans.get(start..end).unwrap_or(&[])
    }

    pub(super) fn is_empty(&self, field: Field) -> bool {
        self.range(field).is_empty()
    }

    fn text(&self, (start, end): (usize, usize)) -> &str {
        self.text.get(start..end).unwrap_or("")
    }

    pub(super) fn values(&self, field: Field) -> impl Iterator<Item = &str> {
        self.range(field).iter().map(|&span| self.text(span))
    }

    /// The terms of a term field, each as its words.
    pub(super) fn terms(&self, field: Field) -> impl Iterator<Item = Words<'_>> {
        self.range(field).iter().map(|&(first, end)| Words {
            lowered: &self.text,
            spans: self.spans.get(first..end).unwrap_or(&[]),
        })
    }

    fn currency(&self, bound: &Bound) -> &str {
        self.text(bound.currency)
    }
}

/// Where the data in question sits, formatted only for the match that is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pointer {
    Item(usize, ItemField),
    SellerId,
    SellerName,
    Dispatch,
    Items,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ItemField {
    Description,
    HsCode,
    OriginCountry,
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pointer::Item(index, field) => {
                let field = match field {
                    ItemField::Description => "description",
                    ItemField::HsCode => "hs_code",
                    ItemField::OriginCountry => "origin_country",
                };
                write!(f, "items[{index}].{field}")
            }
            Pointer::SellerId => f.write_str("seller.identifier"),
            Pointer::SellerName => f.write_str("seller.name"),
            Pointer::Dispatch => f.write_str("country_of_dispatch"),
            Pointer::Items => f.write_str("items"),
        }
    }
}

pub(super) fn is_empty_criteria(c: &Criteria) -> bool {
    c.hs_prefixes.is_empty()
        && c.origin_countries.is_empty()
        && c.dispatch_countries.is_empty()
        && c.seller_ids.is_empty()
        && c.seller_name_terms.is_empty()
        && c.description_terms.is_empty()
        && c.min_value.is_none()
        && c.max_value.is_none()
}

/// The matching semantics: `Some(pointer)` when the criteria match. Declaration-level fields
/// are checked first because they are cheap and reject most candidates.
pub(super) fn evaluate(c: &Compiled, p: &Prepared<'_>) -> Option<Pointer> {
    if !c.any {
        return None;
    }
    let d = p.declaration;
    if !c.is_empty(Field::SellerIds)
        && (p.seller_id.is_empty() || !c.values(Field::SellerIds).any(|id| id == p.seller_id))
    {
        return None;
    }
    if !c.is_empty(Field::DispatchCountries)
        && !contains_value(c.values(Field::DispatchCountries), &d.country_of_dispatch)
    {
        return None;
    }
    if c.min_value.is_some() || c.max_value.is_some() {
        let (currency, total) = p.total?;
        let within = |bound: Option<&Bound>, holds: &dyn Fn(i128) -> bool| {
            bound.is_none_or(|b| {
                let bound_currency = c.currency(b);
                !bound_currency.is_empty()
                    && bound_currency == currency
                    && holds(i128::from(b.amount_minor))
            })
        };
        if !within(c.min_value.as_ref(), &|min| total >= min)
            || !within(c.max_value.as_ref(), &|max| total <= max)
        {
            return None;
        }
    }
    if !c.is_empty(Field::SellerNameTerms)
        && !c
            .terms(Field::SellerNameTerms)
            .any(|term| p.seller_name_words().contains_phrase(term))
    {
        return None;
    }
    let item_level = !c.is_empty(Field::HsPrefixes)
        || !c.is_empty(Field::OriginCountries)
        || !c.is_empty(Field::DescriptionTerms);
    if item_level {
        let index = d
            .items
            .iter()
            .enumerate()
            .position(|(index, item)| item_matches(c, item, p.item_words(index)))?;
        let field = if !c.is_empty(Field::DescriptionTerms) {
            ItemField::Description
        } else if !c.is_empty(Field::HsPrefixes) {
            ItemField::HsCode
        } else {
            ItemField::OriginCountry
        };
        return Some(Pointer::Item(index, field));
    }
    Some(if !c.is_empty(Field::SellerIds) {
        Pointer::SellerId
    } else if !c.is_empty(Field::SellerNameTerms) {
        Pointer::SellerName
    } else if !c.is_empty(Field::DispatchCountries) {
        Pointer::Dispatch
    } else {
        Pointer::Items
    })
}

/// Whether one item satisfies every non-empty item-level field.
fn item_matches(c: &Compiled, item: &Item, words: Words<'_>) -> bool {
    (c.is_empty(Field::HsPrefixes)
        || c.values(Field::HsPrefixes)
            .any(|prefix| !prefix.is_empty() && item.hs_code.starts_with(prefix)))
        && (c.is_empty(Field::OriginCountries)
            || contains_value(c.values(Field::OriginCountries), &item.origin_country))
        && (c.is_empty(Field::DescriptionTerms)
            || c.terms(Field::DescriptionTerms)
                .any(|term| words.contains_phrase(term)))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::core::risk::fixtures::*;
    use crate::core::risk::RiskIndex;
    use crate::proto::v1::OutcomeCode;

    fn matches(criteria: Criteria) -> bool {
        criteria_match(&criteria, &declaration())
    }

    /// The pointer of the match through the index (also checking the index agrees).
    fn pointer(criteria: Criteria) -> Option<String> {
        let expected = criteria_match(&criteria, &declaration());
        let index = index_of([record("I-1", OutcomeCode::RequestForInformation, criteria)]);
        let found = index.assess(&declaration(), NOW, &HashSet::new());
        assert_eq!(found.is_some(), expected);
        found.map(|m| m.pointer)
    }

    #[test]
    fn hs_prefixes_match_by_prefix() {
        assert!(matches(hs(&["6404"])));
        assert!(matches(hs(&["64041100"])));
        assert!(matches(hs(&["42"])));
        assert!(matches(hs(&["9999", "8517"])), "one of the values");
        assert!(!matches(hs(&["6405"])));
        assert!(!matches(hs(&["640411001"])), "longer than the item's code");
        assert!(!matches(hs(&["0404"])));
    }

    #[test]
    fn origin_countries_match_an_item() {
        assert!(matches(origin(&["VN"])));
        assert!(matches(origin(&["US", "CN"])));
        assert!(!matches(origin(&["US"])));
        assert!(!matches(origin(&["vn"])), "codes compare byte for byte");
    }

    #[test]
    fn dispatch_countries_match_the_declaration() {
        assert!(matches(dispatch(&["CN"])));
        assert!(matches(dispatch(&["HK", "CN"])));
        assert!(
            !matches(dispatch(&["VN"])),
            "VN is an origin, not the dispatch"
        );
    }

    #[test]
    fn seller_ids_match_exactly_after_trimming() {
        assert!(matches(sellers(&["SHOPCO-S-004417"])));
        assert!(matches(sellers(&["X", " SHOPCO-S-004417\t"])));
        assert!(!matches(sellers(&["shopco-s-004417"])), "case-sensitive");
        assert!(!matches(sellers(&["SHOPCO-S-00441"])), "not a prefix match");
        let mut d = declaration();
        if let Some(seller) = d.seller.as_mut() {
            seller.identifier = "  SHOPCO-S-004417 ".into();
        }
        assert!(criteria_match(&sellers(&["SHOPCO-S-004417"]), &d));
        if let Some(seller) = d.seller.as_mut() {
            seller.identifier.clear();
        }
        assert!(
            !criteria_match(&sellers(&[""]), &d),
            "empty matches nothing"
        );
        assert!(!criteria_match(&sellers(&[" "]), &d));
        d.seller = None;
        assert!(!criteria_match(&sellers(&["SHOPCO-S-004417"]), &d));
    }

    #[test]
    fn seller_name_terms_are_whole_words_and_phrases() {
        assert!(matches(seller_names(&["apex"])));
        assert!(matches(seller_names(&["APEX SPORTS"])));
        assert!(matches(seller_names(&["sports co"])), "across the comma");
        assert!(matches(seller_names(&["co., ltd"])));
        assert!(!matches(seller_names(&["ape"])), "not a substring");
        assert!(
            !matches(seller_names(&["shenzhen sports"])),
            "not consecutive"
        );
        assert!(!matches(seller_names(&["sports apex"])), "order matters");
        let mut d = declaration();
        d.seller = None;
        assert!(!criteria_match(&seller_names(&["apex"]), &d));
    }

    #[test]
    fn description_terms_are_case_insensitive_whole_words() {
        assert!(matches(descriptions(&["running shoes"])));
        assert!(matches(descriptions(&["RUBBER"])));
        assert!(
            matches(descriptions(&["heart rate"])),
            "hyphen splits words"
        );
        assert!(matches(descriptions(&["Heart-Rate sensor"])));
        assert!(matches(descriptions(&["men's"])));
        assert!(matches(descriptions(&["women"])), "items[2]: Women's");
        assert!(matches(descriptions(&["xyz", "bluetooth"])));
        assert!(!matches(descriptions(&["run"])), "not a substring");
        assert!(!matches(descriptions(&["shoe"])), "no stemming");
        assert!(!matches(descriptions(&["shoes running"])));
        assert!(
            !matches(descriptions(&["sole smartwatch"])),
            "not across items"
        );
        assert!(!matches(descriptions(&["!!"])), "a term without words");

        let mut d = declaration();
        d.items[0].description = "Nike Air-Max 90, Café CRÈME edition".into();
        for term in [
            "air max",
            "Air-Max",
            "AIR MAX 90",
            "nike",
            "café crème",
            "CAFÉ",
        ] {
            assert!(criteria_match(&descriptions(&[term]), &d), "{term}");
        }
        d.items[0].description = "Nikeland sneakers".into();
        assert!(!criteria_match(&descriptions(&["nike"]), &d));
    }

    #[test]
    fn item_level_fields_must_hold_for_the_same_item() {
        let both = |hs: &[&str], origin: &[&str], terms: &[&str]| Criteria {
            hs_prefixes: strings(hs),
            origin_countries: strings(origin),
            description_terms: strings(terms),
            ..Criteria::default()
        };
        assert!(
            !matches(both(&["6404"], &["VN"], &[])),
            "shoes are CN, VN is the bag"
        );
        assert!(matches(both(&["4202"], &["VN"], &[])));
        assert!(matches(both(&["6404", "4202"], &["VN"], &[])));
        assert!(!matches(both(&[], &["CN"], &["leather"])));
        assert!(matches(both(&[], &["VN"], &["leather"])));
        assert!(matches(both(&["4202"], &["VN"], &["cowhide leather"])));
        assert!(!matches(both(&["4202"], &["VN"], &["running"])));
        assert_eq!(
            pointer(both(&["4202"], &["VN"], &[])).as_deref(),
            Some("items[2].hs_code")
        );
    }

    #[test]
    fn all_non_empty_fields_must_match() {
        let criteria = Criteria {
            seller_ids: strings(&["SHOPCO-S-004417"]),
            dispatch_countries: strings(&["CN"]),
            description_terms: strings(&["smartwatch"]),
            ..Criteria::default()
        };
        assert!(matches(criteria.clone()));
        for spoil in [
            |c: &mut Criteria| c.seller_ids = strings(&["OTHER"]),
            |c: &mut Criteria| c.dispatch_countries = strings(&["VN"]),
            |c: &mut Criteria| c.description_terms = strings(&["drone"]),
            |c: &mut Criteria| c.min_value = money("EUR", 1_000_000),
        ] {
            let mut spoiled = criteria.clone();
            spoil(&mut spoiled);
            assert!(!matches(spoiled));
        }
    }

    #[test]
    fn an_indicator_without_criteria_matches_nothing() {
        assert!(!matches(Criteria::default()));
        let mut without = record("I-1", OutcomeCode::DoNotLoad, Criteria::default());
        without.indicator.criteria = None;
        let index = index_of([
            without,
            record("I-2", OutcomeCode::DoNotLoad, Criteria::default()),
        ]);
        assert_eq!(index.matches(&declaration(), NOW), []);
    }

    #[test]
    fn value_bounds_are_inclusive_in_the_items_currency() {
        assert!(matches(value(money("EUR", 23_799), None)));
        assert!(!matches(value(money("EUR", 23_800), None)));
        assert!(matches(value(None, money("EUR", 23_799))));
        assert!(!matches(value(None, money("EUR", 23_798))));
        assert!(matches(value(money("EUR", 0), money("EUR", 30_000))));
        assert!(!matches(value(money("EUR", 24_000), money("EUR", 30_000))));
        assert!(!matches(value(money("USD", 0), None)), "no FX conversion");
        assert!(!matches(value(None, money("USD", 1_000_000))));
        assert!(!matches(value(money("EUR", 0), money("USD", 1_000_000))));
        assert!(!matches(value(money("", 0), None)));
        // The same through the index, which screens value bounds before verifying.
        let index = index_of([
            record(
                "V-1",
                OutcomeCode::DoNotLoad,
                value(money("EUR", 23_799), None),
            ),
            record(
                "V-2",
                OutcomeCode::DoNotLoad,
                value(None, money("EUR", 23_799)),
            ),
            record(
                "V-3",
                OutcomeCode::DoNotLoad,
                value(money("EUR", 23_799), money("EUR", 23_799)),
            ),
            record(
                "V-4",
                OutcomeCode::DoNotLoad,
                value(money("EUR", 23_800), None),
            ),
            record(
                "V-5",
                OutcomeCode::DoNotLoad,
                value(None, money("EUR", 23_798)),
            ),
        ]);
        let ids: Vec<_> = index
            .matches(&declaration(), NOW)
            .iter()
            .map(|m| m.record.indicator.indicator_id.clone())
            .collect();
        assert_eq!(ids, ["V-1", "V-2", "V-3"]);

        let mut mixed = declaration();
        mixed.items[1].value = money("USD", 9_900);
        assert!(!criteria_match(&value(money("EUR", 0), None), &mixed));
        let mut missing = declaration();
        missing.items[1].value = None;
        assert!(!criteria_match(&value(money("EUR", 0), None), &missing));
        let mut none = declaration();
        none.items.clear();
        assert!(!criteria_match(&value(None, money("EUR", 1)), &none));
        let mut huge = declaration();
        for item in &mut huge.items {
            item.value = money("EUR", i64::MAX);
        }
        assert!(
            criteria_match(&value(money("EUR", i64::MAX), None), &huge),
            "no overflow"
        );
    }

    #[test]
    fn pointers_name_the_data_in_question() {
        for (criteria, expected) in [
            (descriptions(&["bluetooth"]), "items[1].description"),
            (hs(&["4202"]), "items[2].hs_code"),
            // The first item that matches.
            (hs(&["64", "85"]), "items[0].hs_code"),
            (origin(&["VN"]), "items[2].origin_country"),
            (sellers(&["SHOPCO-S-004417"]), "seller.identifier"),
            (seller_names(&["apex"]), "seller.name"),
            (dispatch(&["CN"]), "country_of_dispatch"),
            (value(money("EUR", 1), None), "items"),
        ] {
            assert_eq!(
                pointer(criteria.clone()).as_deref(),
                Some(expected),
                "{criteria:?}"
            );
        }
        let mixed = Criteria {
            seller_name_terms: strings(&["apex"]),
            dispatch_countries: strings(&["CN"]),
            hs_prefixes: strings(&["85"]),
            origin_countries: strings(&["CN"]),
            ..Criteria::default()
        };
        assert_eq!(pointer(mixed.clone()).as_deref(), Some("items[1].hs_code"));
        let mut no_items = mixed;
        no_items.hs_prefixes.clear();
        no_items.origin_countries.clear();
        assert_eq!(pointer(no_items).as_deref(), Some("seller.name"));
    }

    #[test]
    fn expiry_boundary_is_inclusive() {
        let mut expiring = record("X-1", OutcomeCode::DoNotLoad, origin(&["CN"]));
        expiring.indicator.valid_until_ms = NOW;
        assert!(in_force(&expiring.indicator, NOW));
        assert!(!in_force(&expiring.indicator, NOW + 1));
        let mut forever = record("X-2", OutcomeCode::RequestForInformation, origin(&["CN"]));
        forever.indicator.valid_until_ms = 0;
        assert!(in_force(&forever.indicator, i64::MAX));

        let mut index = index_of([expiring, forever]);
        let d = declaration();
        let best = |now| index_best(&index, &d, now);
        assert_eq!(best(NOW).as_deref(), Some("X-1"));
        assert_eq!(best(NOW + 1).as_deref(), Some("X-2"));
        assert_eq!(index.matches(&d, NOW + 1).len(), 1);

        let removed = index.remove_expired(NOW + 1);
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].indicator.indicator_id, "X-1");
        assert_eq!(index.len(), 1);
        assert_eq!(index_best(&index, &d, NOW).as_deref(), Some("X-2"));
    }

    fn index_best(index: &RiskIndex, d: &AdvanceDeclaration, now: i64) -> Option<String> {
        index
            .assess(d, now, &HashSet::new())
            .map(|m| m.record.indicator.indicator_id.clone())
    }
}
