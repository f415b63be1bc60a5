//! Exact integer money arithmetic (§11 "Arithmetic"): exchange rates as fixed-point
//! decimals, rounding half up, amounts in minor units. Never floating point: a charge that
//! differs by one cent between two implementations is a dispute.

use std::fmt;

/// Fixed-point denominator of a [`Rate`]: rates have at most 6 decimals.
const MICRO: i128 = 1_000_000;

/// Largest rate accepted: one minor unit worth a billion of the policy's. Bounds every
/// product below `i128::MAX` with room to spare.
const MAX_RATE_MICRO: u64 = 1_000_000_000 * MICRO as u64;

/// Policy minor units per one minor unit of another currency, exactly, in millionths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rate {
    micro: u64,
}

impl Rate {
    /// The policy currency's own rate.
    pub const ONE: Rate = Rate { micro: 1_000_000 };

    /// Parses a decimal such as `"0.92"` or `"161.5"`: digits, at most one point, at most 6
    /// decimals, greater than zero. Returns why not, for the policy's error line.
    pub fn parse(text: &str) -> Result<Rate, String> {
        let text = text.trim();
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(fraction) || text.ends_with('.') {
            return Err(format!(
                "{text:?} is not a decimal number such as \"0.92\" (no sign, no exponent)"
            ));
        }
        if fraction.len() > 6 {
            return Err(format!("{text:?} has more than 6 decimals"));
        }
        let mut micro: u64 = 0;
        for b in whole.bytes().chain(fraction.bytes()) {
            micro = micro
                .checked_mul(10)
                .and_then(|m| m.checked_add(u64::from(b - b'0')))
                .ok_or_else(|| format!("{text:?} is too large"))?;
        }
        for _ in fraction.len()..6 {
            micro = micro
                .checked_mul(10)
                .ok_or_else(|| format!("{text:?} is too large"))?;
        }
        if micro == 0 {
            return Err(format!("{text:?} must be greater than 0"));
        }
        if micro > MAX_RATE_MICRO {
            return Err(format!("{text:?} is too large"));
        }
        Ok(Rate { micro })
    }

    /// `round(amount_minor x rate)`, half up.
    pub fn convert(self, amount_minor: i64) -> i64 {
        saturate(round_half_up(
            i128::from(amount_minor) * i128::from(self.micro),
            MICRO,
        ))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.micro / 1_000_000;
        let fraction = self.micro % 1_000_000;
        if fraction == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{fraction:06}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// `numerator / denominator` rounded half up: a remainder of exactly one half goes away from
/// zero. `denominator` must be positive (every caller passes a constant or a sum of positive
/// values); a zero denominator gives 0 rather than a panic.
pub fn round_half_up(numerator: i128, denominator: i128) -> i128 {
    if denominator <= 0 {
        return 0;
    }
    let magnitude = (numerator.unsigned_abs() * 2 + denominator.unsigned_abs())
        / (denominator.unsigned_abs() * 2);
    let magnitude = i128::try_from(magnitude).unwrap_or(i128::MAX);
    if numerator < 0 {
        -magnitude
    } else {
        magnitude
    }
}

/// `round(amount x rate / 1000)` for a rate per mille.
pub fn per_mille(amount: i64, rate: u32) -> i64 {
    saturate(round_half_up(i128::from(amount) * i128::from(rate), 1000))
}

/// An i128 intermediate back to an amount, clamped (amounts beyond `i64` are not money).
pub fn saturate(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

/// An amount for people: `EUR 23.33`, `JPY 1200`, with the currency's minor unit.
pub fn format_money(currency: &str, amount_minor: i64) -> String {
    let exponent = crate::core::codes::minor_unit_exponent(currency);
    if exponent == 0 {
        return format!("{currency} {amount_minor}");
    }
    let scale = 10_i64.pow(exponent);
    let sign = if amount_minor < 0 { "-" } else { "" };
    let magnitude = amount_minor.unsigned_abs();
    let scale = scale.unsigned_abs();
    format!(
        "{currency} {sign}{}.{:0width$}",
        magnitude / scale,
        magnitude % scale,
        width = exponent as usize
    )
}

/// A per-mille rate for people: `21.0%`, `4.5%`.
pub fn format_per_mille(rate: u32) -> String {
    format!("{}.{}%", rate / 10, rate % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_up_goes_away_from_zero_at_exactly_one_half() {
        assert_eq!(round_half_up(5, 10), 1);
        assert_eq!(round_half_up(4, 10), 0);
        assert_eq!(round_half_up(15, 10), 2);
        assert_eq!(round_half_up(25, 10), 3, "half up, not half even");
        assert_eq!(round_half_up(-5, 10), -1);
        assert_eq!(round_half_up(-4, 10), 0);
        assert_eq!(round_half_up(7, 0), 0);
    }

    #[test]
    fn per_mille_rounds_the_example_of_section_11() {
        assert_eq!(per_mille(4500, 210), 945);
        assert_eq!(per_mille(2000, 210), 420);
        assert_eq!(per_mille(800, 210), 168);
        // 250 x 21 % = 52.5 → 53.
        assert_eq!(per_mille(250, 210), 53);
    }

    #[test]
    fn rates_are_exact_decimals() {
        assert_eq!(Rate::parse("0.92").map(|r| r.convert(10_000)), Ok(9_200));
        assert_eq!(Rate::parse("1").map(|r| r.convert(123)), Ok(123));
        // 0.000001 x 500,000 = 0.5 → 1 (half up).
        assert_eq!(Rate::parse("0.000001").map(|r| r.convert(500_000)), Ok(1));
        assert_eq!(Rate::parse("0.000001").map(|r| r.convert(499_999)), Ok(0));
        // JPY has no minor unit: 1 yen = 0.61 euro cents; 1,999 yen = 1,219.39 → 1,219 cents.
        assert_eq!(Rate::parse("0.61").map(|r| r.convert(1_999)), Ok(1_219));
        assert_eq!(
            Rate::parse("0.13").map(|r| r.to_string()),
            Ok("0.13".into())
        );
        assert_eq!(
            Rate::parse("161.500").map(|r| r.to_string()),
            Ok("161.5".into())
        );
    }

    #[test]
    fn malformed_rates_are_refused_with_a_reason() {
        for bad in [
            "",
            "-0.92",
            "+1",
            "1e3",
            "0.1234567",
            "0",
            "0.000",
            ".5",
            "5.",
            "1,5",
            "NaN",
            "99999999999999999999",
        ] {
            assert!(Rate::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn money_is_written_with_the_currency_s_minor_unit() {
        assert_eq!(format_money("EUR", 2333), "EUR 23.33");
        assert_eq!(format_money("EUR", 5), "EUR 0.05");
        assert_eq!(format_money("JPY", 1200), "JPY 1200");
        assert_eq!(format_money("KWD", 1005), "KWD 1.005");
        assert_eq!(format_money("EUR", -150), "EUR -1.50");
        assert_eq!(format_per_mille(210), "21.0%");
        assert_eq!(format_per_mille(45), "4.5%");
    }
}
