//! Code lists that §7 validation checks declarations against.
//!
//! They are compiled in rather than loaded at run time because a gateway must give every
//! partner the same verdict for the same declaration: a list that could differ between
//! replicas, or change under a running gateway, would make validation non-deterministic.
//! The price is a release when ISO or the WCO amend a list; each list says which state it
//! reflects, so that the next maintainer knows where to look.

/// Every officially assigned ISO 3166-1 alpha-2 code (249), sorted for binary search.
///
/// The contract asks for ISO 3166-1 alpha-2 rather than a customs-specific list so that
/// partners can take the codes from any standard library. Consequently the user-assigned
/// codes some customs systems add are refused: `XK` (Kosovo, used by the EU and others but not
/// officially assigned by ISO), `XI` (Northern Ireland in EU customs), `EL` (Greece in EU
/// VAT), `EU`, and the exceptionally reserved `UK`. The known gap this leaves: goods
/// dispatched from or originating in Kosovo have no code a declaration can carry.
const ISO_3166_ALPHA2: &[&str] = &[
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// ISO 4217 alphabetic codes of the currencies in circulation (List One as amended up to and
/// including amendment 180, in force from 2026-01-01), sorted for binary search.
///
/// A declaration states what was paid for goods, so only codes in which goods can be priced
/// and paid are accepted. Therefore the list includes the shared currencies that carry an
/// `X` code (`XAF`, `XCD`, `XCG`, `XOF`, `XPF`) and excludes the entries of List One that
/// are not money anyone pays a shop in: the fund codes (`BOV`, `CHE`, `CHW`, `CLF`, `COU`,
/// `MXV`, `USN`, `UYI`, `UYW`), the supranational units of account (`XAD`, `XBA`–`XBD`,
/// `XDR`, `XSU`, `XUA`), the precious metals (`XAG`, `XAU`, `XPD`, `XPT`), the testing code
/// `XTS` and "no currency" `XXX`. Withdrawn codes are refused even during a changeover:
/// `ANG` (replaced by `XCG`, 2025), `BGN` (Bulgaria adopted `EUR`, 2026), `CUC`, `HRK`,
/// `SLL`, `ZWL`.
const ISO_4217_CURRENCIES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BHD",
    "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF",
    "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN",
    "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD",
    "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES",
    "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL",
    "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN",
    "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP",
    "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK",
    "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT",
    "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS", "VED", "VES",
    "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

/// Whether `code` is an officially assigned ISO 3166-1 alpha-2 code, in upper case.
///
/// Lower case is refused rather than folded because the contract fixes one spelling, so that
/// risk criteria and statistics can compare codes byte for byte.
pub fn is_country(code: &str) -> bool {
    ISO_3166_ALPHA2.binary_search(&code).is_ok()
}

/// Whether `code` is an ISO 4217 currency in which goods can be priced (see the list's doc
/// for what is left out), in upper case.
///
/// Upper case only, for the same reason as [`is_country`].
pub fn is_currency(code: &str) -> bool {
    ISO_4217_CURRENCIES.binary_search(&code).is_ok()
}

/// ISO 4217 currencies whose minor unit is not the hundredth: none (exponent 0) or the
/// thousandth (exponent 3). Every other currency in circulation has two decimals.
const ZERO_DECIMAL_CURRENCIES: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
    "VUV", "XAF", "XOF", "XPF",
];
const THREE_DECIMAL_CURRENCIES: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];

/// How many decimals a currency's minor unit has (ISO 4217's "minor unit" column), so that
/// an amount in minor units is written for people as the currency is: `JPY 1200`,
/// `EUR 12.00`, `KWD 1.005`.
pub fn minor_unit_exponent(currency: &str) -> u32 {
    if ZERO_DECIMAL_CURRENCIES.contains(&currency) {
        0
    } else if THREE_DECIMAL_CURRENCIES.contains(&currency) {
        3
    } else {
        2
    }
}

/// Whether `two_digits` names an existing chapter of the Harmonized System: `01`–`97`, except
/// `77`, which the WCO keeps reserved for future use.
///
/// Checking the chapter catches the commonest malformed codes (a leading `00`, national
/// chapters `98`/`99`, transposed digits) without shipping the 5,000-line subheading table,
/// whose annual amendments would make validation depend on the HS edition.
pub fn is_hs_chapter(two_digits: &str) -> bool {
    match two_digits.as_bytes() {
        [tens @ b'0'..=b'9', units @ b'0'..=b'9'] => {
            let chapter = (tens - b'0') * 10 + (units - b'0');
            (1..=97).contains(&chapter) && chapter != 77
        }
        _ => false,
    }
}

/// Words that on their own say nothing a risk analyst can assess, in the spirit of the EU
/// ICS2 list of unacceptable goods descriptions and CBP's guidance on vague descriptions.
/// Singular and plural are both listed instead of stemming, so that the rule stays
/// predictable and explainable to a partner.
const VAGUE_TERMS: &[&str] = &[
    "accessories",
    "accessory",
    "apparel",
    "article",
    "articles",
    "belongings",
    "chemical",
    "chemicals",
    "clothes",
    "clothing",
    "commodities",
    "commodity",
    "consolidated",
    "consolidation",
    "electronic",
    "electronics",
    "equipment",
    "food",
    "foods",
    "foodstuff",
    "foodstuffs",
    "garment",
    "garments",
    "gift",
    "gifts",
    "goods",
    "item",
    "items",
    "machinery",
    "merchandise",
    "misc",
    "miscellaneous",
    "na",
    "none",
    "novelties",
    "novelty",
    "other",
    "others",
    "package",
    "packages",
    "parcel",
    "parcels",
    "part",
    "parts",
    "present",
    "presents",
    "product",
    "products",
    "sample",
    "samples",
    "shipment",
    "stuff",
    "test",
    "textiles",
    "tool",
    "tools",
    "toy",
    "toys",
    "unknown",
    "various",
    "wares",
];

/// Multi-word phrases that are vague as a whole although one of their words is not vague on
/// its own (`general`, `personal`, `household`, ...), so they cannot be single terms.
const VAGUE_PHRASES: &[&[&str]] = &[
    &["as", "per", "invoice"],
    &["consumer", "electronics"],
    &["consumer", "goods"],
    &["consumer", "products"],
    &["general", "cargo"],
    &["general", "merchandise"],
    &["household", "goods"],
    &["household", "items"],
    &["online", "order"],
    &["online", "purchase"],
    &["per", "invoice"],
    &["personal", "belongings"],
    &["personal", "effects"],
    &["personal", "items"],
    &["personal", "use"],
    &["see", "invoice"],
    &["spare", "parts"],
];

/// Words that add no information about the goods (articles, quantities, packaging,
/// condition), so that "a box of gifts" is as vague as "gifts". `n` is here so that `n/a`,
/// which tokenises into `n` and `a`, counts as vague.
const FILLER_WORDS: &[&str] = &[
    "a", "an", "and", "assorted", "bag", "bags", "box", "boxes", "etc", "for", "free", "in", "lot",
    "lots", "mixed", "my", "n", "new", "of", "or", "pack", "packs", "pc", "pcs", "piece", "pieces",
    "set", "sets", "some", "the", "used", "with", "x",
];

/// Whether a goods description is too vague for a risk analyst to assess (§7: "specific
/// enough to assess").
///
/// Rule: the description is cut into words (at white space and `, ; & + / | ( )`, with
/// punctuation stripped from both ends of each word, case ignored), and it is vague when
/// every word is a vague term, part of a vague phrase, a filler word or a count (`2`, `2x`,
/// `x2`, `10pcs`), or when nothing is left. One specific word is enough to pass: "bicycle
/// parts" and "cotton clothing" are accepted, "gift box", "some parts", "samples and
/// accessories" and "n/a" are not. The rule is deliberately lenient, because a false
/// refusal stops a legitimate shipment while a poor description that passes still reaches a
/// risk analyst.
pub fn is_vague_description(description: &str) -> bool {
    let words = || {
        description
            .split(|c: char| {
                c.is_whitespace() || matches!(c, ',' | ';' | '&' | '+' | '/' | '|' | '(' | ')')
            })
            .map(|word| word.trim_matches(|c: char| !c.is_alphanumeric()))
            .filter(|word| !word.is_empty())
    };
    // Fast path, without allocating: almost every real description has a word outside the
    // vocabulary of vague terms, phrases and fillers.
    if !words().all(|word| is_filler(word) || is_vague_term(word) || in_vague_phrase(word)) {
        return false;
    }
    // Every word is known: check that the words can be read as a sequence of terms, phrases
    // and fillers ("per invoice" is, "invoice" alone is not).
    let words: Vec<&str> = words().collect();
    let mut reachable = vec![false; words.len() + 1];
    reachable[0] = true;
    for start in 0..words.len() {
        if !reachable[start] {
            continue;
        }
        let word = words[start];
        if is_filler(word) || is_vague_term(word) {
            reachable[start + 1] = true;
        }
        for phrase in VAGUE_PHRASES {
            let end = start + phrase.len();
            if end <= words.len()
                && words[start..end]
                    .iter()
                    .zip(phrase.iter())
                    .all(|(w, p)| w.eq_ignore_ascii_case(p))
            {
                reachable[end] = true;
            }
        }
    }
    reachable[words.len()]
}

fn is_vague_term(word: &str) -> bool {
    VAGUE_TERMS
        .iter()
        .any(|term| word.eq_ignore_ascii_case(term))
}

fn in_vague_phrase(word: &str) -> bool {
    VAGUE_PHRASES
        .iter()
        .any(|phrase| phrase.iter().any(|p| word.eq_ignore_ascii_case(p)))
}

/// A filler word or a count such as `3`, `2x`, `x2`, `10pcs`.
fn is_filler(word: &str) -> bool {
    if FILLER_WORDS
        .iter()
        .any(|filler| word.eq_ignore_ascii_case(filler))
    {
        return true;
    }
    let without_digits = word.trim_start_matches(|c: char| c.is_ascii_digit());
    if without_digits.len() < word.len() {
        return ["", "x", "pc", "pcs"]
            .iter()
            .any(|unit| without_digits.eq_ignore_ascii_case(unit));
    }
    let Some(rest) = word.strip_prefix(['x', 'X']) else {
        return false;
    };
    !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A code table is sorted, unique and all upper-case codes of `len` letters, and its
    /// lookup accepts every `good` code and refuses every `bad` one.
    fn assert_code_table(
        list: &[&str],
        len: usize,
        is_code: fn(&str) -> bool,
        good: &[&str],
        bad: &[&str],
    ) {
        for pair in list.windows(2) {
            assert!(
                pair[0] < pair[1],
                "{} must sort before {}",
                pair[0],
                pair[1]
            );
        }
        assert!(list
            .iter()
            .all(|c| c.len() == len && c.bytes().all(|b| b.is_ascii_uppercase())));
        for code in good {
            assert!(is_code(code), "{code}");
        }
        for code in bad {
            assert!(!is_code(code), "{code:?}");
        }
    }

    #[test]
    fn country_list_is_the_249_assigned_codes() {
        assert_eq!(ISO_3166_ALPHA2.len(), 249);
        assert_code_table(
            ISO_3166_ALPHA2,
            2,
            is_country,
            &[
                "NL", "CN", "US", "GB", "DE", "AD", "ZW", "AX", "SS", "BQ", "CW", "SX",
            ],
            &[
                "XK", "XI", "EL", "UK", "EU", "AN", "YU", "nl", "Nl", "NLD", "N", "", " NL",
            ],
        );
    }

    #[test]
    fn currency_list_holds_circulating_currencies_only() {
        assert_code_table(
            ISO_4217_CURRENCIES,
            3,
            is_currency,
            &[
                "EUR", "USD", "CNY", "GBP", "JPY", "XOF", "XAF", "XCD", "XPF", "XCG", "ZWG", "SLE",
                "VED",
            ],
            &[
                "XTS", "XXX", "XAU", "XAG", "XPD", "XPT", "XDR", "XSU", "CHE", "USN", "ANG", "BGN",
                "HRK", "CUC", "SLL", "ZWL", "eur", "EU", "EURO", "",
            ],
        );
    }

    #[test]
    fn hs_chapters_are_01_to_97_without_77() {
        let valid: Vec<String> = (0..100)
            .map(|n| format!("{n:02}"))
            .filter(|c| is_hs_chapter(c))
            .collect();
        assert_eq!(valid.len(), 96);
        for good in ["01", "42", "64", "76", "78", "85", "97"] {
            assert!(is_hs_chapter(good), "{good}");
        }
        for bad in ["00", "77", "98", "99", "1", "001", "7a", "", "६४"] {
            assert!(!is_hs_chapter(bad), "{bad:?}");
        }
    }

    #[test]
    fn vague_descriptions_are_recognised() {
        for vague in [
            "gift",
            "Gift.",
            "  GIFTS  ",
            "gift box",
            "some parts",
            "samples and accessories",
            "General   Merchandise!",
            "spare parts",
            "n/a",
            "N/A",
            "1 box of goods",
            "2x gifts",
            "gifts x3",
            "10pcs items",
            "personal effects",
            "as per invoice",
            "misc.",
            "Miscellaneous items, etc.",
            "consumer electronics",
            "household goods",
            "clothing",
            "...",
            "",
            "toys/gifts (assorted)",
        ] {
            assert!(is_vague_description(vague), "{vague:?} should be vague");
        }
    }

    #[test]
    fn specific_descriptions_pass() {
        for specific in [
            "men's leather running shoes",
            "USB-C phone charger 20W",
            "cotton t-shirt",
            "bicycle parts",
            "bicycle brake pads",
            "car parts",
            "cotton clothing",
            "wooden toys",
            "gift card",
            "invoice",
            "personal computer",
            "stainless steel kitchen tools set",
            "Smartwatch mit Herzfrequenzsensor",
            "陶瓷茶杯",
        ] {
            assert!(!is_vague_description(specific), "{specific:?} should pass");
        }
    }

    #[test]
    fn counts_are_fillers_but_other_numbers_are_not() {
        assert!(is_filler("3") && is_filler("2x") && is_filler("X2") && is_filler("10pcs"));
        assert!(is_filler("x") && !is_filler("20w") && !is_filler("xl") && !is_filler("x2b"));
        assert!(!is_vague_description("20W"));
    }
}
