//! An administration's revenue policy (§11 "Revenue policy"): the TOML an operator writes,
//! checked key by key so that a wrong file is refused with one line naming the key, never
//! half-applied. Parsing is pure; reading the file and its IOSS registry is the config
//! layer's job.

use super::arithmetic::Rate;
use crate::core::codes::is_currency;
use std::collections::{BTreeMap, BTreeSet};

/// Why a policy was refused: the key (`exchange_rates.USD`, `reduced_vat[0].rate`,
/// `ioss_registry line 4`) and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct PolicyError {
    /// The offending key, as the operator wrote it.
    pub key: String,
    /// What is wrong, in one line.
    pub reason: String,
}

impl PolicyError {
    fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// The policy as written, before its values are checked. Unknown keys are refused: a
/// misspelt optional key (`tax_tolerence`) would otherwise silently change what every
/// parcel owes.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    currency: String,
    low_value_threshold: i64,
    flat_duty_per_category: i64,
    duty_rate: i64,
    handling_fee: i64,
    vat_rate: i64,
    #[serde(default)]
    reduced_vat: Vec<ReducedVatFile>,
    #[serde(default)]
    exchange_rates: BTreeMap<String, String>,
    #[serde(default)]
    ioss_registry: Option<String>,
    #[serde(default = "default_tax_tolerance")]
    tax_tolerance: i64,
    #[serde(default = "default_undervaluation")]
    undervaluation: i64,
    #[serde(default = "default_splitting_window_h")]
    splitting_window_h: i64,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReducedVatFile {
    hs_prefixes: Vec<String>,
    rate: i64,
}

fn default_tax_tolerance() -> i64 {
    50
}
fn default_undervaluation() -> i64 {
    300
}
fn default_splitting_window_h() -> i64 {
    24
}

/// A reduced VAT rate and the HS prefixes it applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReducedVat {
    /// Prefixes of `hs_code` (digits).
    pub hs_prefixes: Vec<String>,
    /// Per mille.
    pub rate: u32,
}

/// A checked revenue policy: every amount in minor units of `currency`, every rate per
/// mille, exchange rates exact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevenuePolicy {
    /// ISO 4217 code of every charge.
    pub currency: String,
    /// Intrinsic value at or below which a consignment is low-value.
    pub low_value_threshold: i64,
    /// Low-value duty per item category.
    pub flat_duty_per_category: i64,
    /// Ad valorem duty above the threshold, per mille.
    pub duty_rate: u32,
    /// Low-value handling fee per declaration.
    pub handling_fee: i64,
    /// Standard import VAT, per mille.
    pub vat_rate: u32,
    /// Reduced rates, first match wins.
    pub reduced_vat: Vec<ReducedVat>,
    /// Policy minor units per minor unit of each other currency.
    pub exchange_rates: BTreeMap<String, Rate>,
    /// The registry file named by the policy, relative to the policy's folder; the config
    /// layer reads it and hands its text to [`RevenuePolicy::with_registry`].
    pub ioss_registry_file: Option<String>,
    /// Valid IOSS numbers.
    pub ioss_registry: BTreeSet<String>,
    /// Allowed |tax_collected − VAT on goods|, in minor units.
    pub tax_tolerance: i64,
    /// Undervaluation below the listed price that R4 asks about, per mille.
    pub undervaluation: u32,
    /// R5's sliding window.
    pub splitting_window_h: u32,
}

impl RevenuePolicy {
    /// Parses and checks a policy's TOML text. The IOSS registry starts empty (no number is
    /// valid) until [`RevenuePolicy::with_registry`] is given the registry's text.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let file: PolicyFile = toml::from_str(text).map_err(toml_error)?;
        let currency = file.currency.trim().to_owned();
        if !is_currency(&currency) {
            return Err(PolicyError::new(
                "currency",
                format!("{currency:?} is not an ISO 4217 currency in circulation"),
            ));
        }
        let mut exchange_rates = BTreeMap::new();
        for (code, text) in &file.exchange_rates {
            let key = format!("exchange_rates.{code}");
            if !is_currency(code) {
                return Err(PolicyError::new(
                    key,
                    "is not an ISO 4217 currency in circulation (upper case, e.g. USD)",
                ));
            }
            if *code == currency {
                return Err(PolicyError::new(
                    key,
                    "is the policy's own currency, whose rate is always 1",
                ));
            }
            let rate = Rate::parse(text).map_err(|reason| PolicyError::new(key, reason))?;
            exchange_rates.insert(code.clone(), rate);
        }
        let mut reduced_vat = Vec::with_capacity(file.reduced_vat.len());
        for (index, reduced) in file.reduced_vat.iter().enumerate() {
            let rate = per_mille(&format!("reduced_vat[{index}].rate"), reduced.rate)?;
            if reduced.hs_prefixes.is_empty() {
                return Err(PolicyError::new(
                    format!("reduced_vat[{index}].hs_prefixes"),
                    "must name at least one HS prefix",
                ));
            }
            for (i, prefix) in reduced.hs_prefixes.iter().enumerate() {
                if !(2..=10).contains(&prefix.len()) || !prefix.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(PolicyError::new(
                        format!("reduced_vat[{index}].hs_prefixes[{i}]"),
                        format!("{prefix:?} is not 2 to 10 digits of an HS code"),
                    ));
                }
            }
            reduced_vat.push(ReducedVat {
                hs_prefixes: reduced.hs_prefixes.clone(),
                rate,
            });
        }
        let window = file.splitting_window_h;
        if !(1..=8760).contains(&window) {
            return Err(PolicyError::new(
                "splitting_window_h",
                format!("must be 1 to 8760 hours (a year), got {window}"),
            ));
        }
        let ioss_registry_file = match file.ioss_registry {
            Some(path) if path.trim().is_empty() => {
                return Err(PolicyError::new("ioss_registry", "is empty; leave it out"))
            }
            other => other,
        };
        Ok(Self {
            currency,
            low_value_threshold: amount("low_value_threshold", file.low_value_threshold)?,
            flat_duty_per_category: amount("flat_duty_per_category", file.flat_duty_per_category)?,
            duty_rate: per_mille("duty_rate", file.duty_rate)?,
            handling_fee: amount("handling_fee", file.handling_fee)?,
            vat_rate: per_mille("vat_rate", file.vat_rate)?,
            reduced_vat,
            exchange_rates,
            ioss_registry_file,
            ioss_registry: BTreeSet::new(),
            tax_tolerance: amount("tax_tolerance", file.tax_tolerance)?,
            undervaluation: per_mille("undervaluation", file.undervaluation)?,
            splitting_window_h: u32::try_from(window).unwrap_or(24),
        })
    }

    /// Takes the IOSS registry's text: one number per line (`IM` and 10 digits), `#` starts
    /// a comment, blank lines are ignored. A malformed line refuses the whole registry, so
    /// that a truncated or garbled file is not read as "these numbers are invalid".
    pub fn with_registry(mut self, text: &str) -> Result<Self, PolicyError> {
        let mut registry = BTreeSet::new();
        for (number, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or("").trim();
            if entry.is_empty() {
                continue;
            }
            if !crate::core::validation::is_ioss_number(entry) {
                return Err(PolicyError::new(
                    format!("ioss_registry line {}", number + 1),
                    format!("{entry:?} is not an IOSS number (IM followed by 10 digits)"),
                ));
            }
            registry.insert(entry.to_owned());
        }
        self.ioss_registry = registry;
        Ok(self)
    }

    /// The rate of `currency` into the policy currency, if the policy has one.
    pub fn rate(&self, currency: &str) -> Option<Rate> {
        if currency == self.currency {
            Some(Rate::ONE)
        } else {
            self.exchange_rates.get(currency).copied()
        }
    }

    /// The VAT rate of an item: the first reduced rate one of whose prefixes starts its HS
    /// code, else the standard rate.
    pub fn vat_rate_for(&self, hs_code: &str) -> u32 {
        self.reduced_vat
            .iter()
            .find(|r| {
                r.hs_prefixes
                    .iter()
                    .any(|p| hs_code.starts_with(p.as_str()))
            })
            .map_or(self.vat_rate, |r| r.rate)
    }

    /// R5's window in milliseconds.
    pub fn splitting_window_ms(&self) -> i64 {
        i64::from(self.splitting_window_h) * 3_600_000
    }
}

fn amount(key: &str, value: i64) -> Result<i64, PolicyError> {
    if value < 0 {
        return Err(PolicyError::new(
            key,
            format!("must not be negative (minor units of the policy currency), got {value}"),
        ));
    }
    Ok(value)
}

fn per_mille(key: &str, value: i64) -> Result<u32, PolicyError> {
    match u32::try_from(value) {
        Ok(rate) if rate <= 1000 => Ok(rate),
        _ => Err(PolicyError::new(
            key,
            format!("must be a rate per mille from 0 to 1000 (210 is 21.0 %), got {value}"),
        )),
    }
}

/// toml's message in one line, with the key it names when it names one.
fn toml_error(error: toml::de::Error) -> PolicyError {
    let message = error.message().trim().replace('\n', " ");
    let key = message
        .split('`')
        .nth(1)
        .filter(|k| message.contains(&format!("`{k}`")))
        .unwrap_or("policy")
        .to_owned();
    PolicyError::new(key, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::core::revenue::testing::{example_policy as example, EXAMPLE_POLICY as EXAMPLE};

    fn refused(text: &str) -> PolicyError {
        match RevenuePolicy::parse(text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e,
        }
    }

    fn with(key_line: &str) -> String {
        let key = key_line.split('=').next().unwrap_or("").trim();
        EXAMPLE
            .lines()
            .map(|l| {
                if l.starts_with(&format!("{key} ")) {
                    key_line
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_example_policy_parses_with_its_values() {
        let policy = example();
        assert_eq!(policy.currency, "EUR");
        assert_eq!(policy.low_value_threshold, 15000);
        assert_eq!(policy.vat_rate_for("490110"), 90);
        assert_eq!(policy.vat_rate_for("640411"), 210);
        assert_eq!(policy.rate("EUR"), Some(Rate::ONE));
        assert_eq!(policy.rate("USD").map(|r| r.convert(100)), Some(92));
        assert_eq!(policy.rate("CHF"), None);
        assert_eq!(
            policy.ioss_registry_file.as_deref(),
            Some("ioss-registry.txt")
        );
        assert!(policy.ioss_registry.contains("IM2760009999"));
        assert_eq!(policy.ioss_registry.len(), 2);
        assert_eq!(policy.splitting_window_ms(), 86_400_000);
    }

    #[test]
    fn defaults_apply_to_optional_keys() {
        let text =
            "currency = \"EUR\"\nlow_value_threshold = 15000\nflat_duty_per_category = 300\n\
                    duty_rate = 40\nhandling_fee = 200\nvat_rate = 210\n";
        let policy = RevenuePolicy::parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(policy.tax_tolerance, 50);
        assert_eq!(policy.undervaluation, 300);
        assert_eq!(policy.splitting_window_h, 24);
        assert!(policy.reduced_vat.is_empty());
        assert!(policy.ioss_registry.is_empty());
        assert!(policy.ioss_registry_file.is_none());
    }

    #[test]
    fn each_bad_value_is_refused_naming_its_key() {
        let cases = [
            (with("duty_rate = -40"), "duty_rate"),
            (with("vat_rate = 1210"), "vat_rate"),
            (with("handling_fee = -1"), "handling_fee"),
            (with("currency = \"XYZ\""), "currency"),
            (
                with("exchange_rates = { USD = \"-0.92\" }"),
                "exchange_rates.USD",
            ),
            (
                with("exchange_rates = { usd = \"0.92\" }"),
                "exchange_rates.usd",
            ),
            (
                with("exchange_rates = { ABC = \"1.0\" }"),
                "exchange_rates.ABC",
            ),
            (
                with("exchange_rates = { EUR = \"1.0\" }"),
                "exchange_rates.EUR",
            ),
            (
                with("reduced_vat = [ { hs_prefixes = [\"49x\"], rate = 90 } ]"),
                "reduced_vat[0].hs_prefixes[0]",
            ),
            (
                with("reduced_vat = [ { hs_prefixes = [\"4901\"], rate = -9 } ]"),
                "reduced_vat[0].rate",
            ),
            (with("splitting_window_h = 0"), "splitting_window_h"),
            (with("undervaluation = 2000"), "undervaluation"),
        ];
        for (text, key) in cases {
            let error = refused(&text);
            assert_eq!(error.key, key, "{error}");
        }
    }

    #[test]
    fn a_missing_or_misspelt_key_is_named() {
        let missing = EXAMPLE.replace("vat_rate = 210\n", "");
        assert!(refused(&missing).to_string().contains("vat_rate"));
        let misspelt = EXAMPLE.replace("tax_tolerance", "tax_tolerence");
        assert!(refused(&misspelt).to_string().contains("tax_tolerence"));
        let wrong_type = with("duty_rate = \"40\"");
        assert!(!refused(&wrong_type).to_string().contains('\n'));
    }

    #[test]
    fn a_malformed_registry_line_refuses_the_registry() {
        let policy = RevenuePolicy::parse(EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
        let error = policy
            .with_registry("IM5280001234\nIM52800\n")
            .err()
            .map(|e| e.key);
        assert_eq!(error.as_deref(), Some("ioss_registry line 2"));
    }
}
