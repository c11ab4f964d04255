//! Market prices of assets in KRW, from a price feed (issue 15 item 2, MISSION TT-14): a
//! public exchange ticker (`gateways::ticker`), or the prices operators set.
//!
//! Prices are exact decimals ([`Decimal`]), never floats: an exchange's `143250000.5` is
//! `1432500005 / 10^1`, and every amount derived from it is integer arithmetic.

use crate::gateway::BoxFuture;

/// Most digits after the point a price keeps.
pub const SCALE_MAX: u32 = 18;
/// Most significant digits of a price (fits a u128 with room for a multiplication by an
/// amount and 10^18 checked).
pub const DIGITS_MAX: usize = 30;

/// An exact non-negative decimal: `mantissa / 10^scale`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Decimal {
    pub mantissa: u128,
    pub scale: u32,
}

impl Decimal {
    /// Plain decimal notation as exchanges print prices: digits, at most one point, no sign
    /// or exponent ("143250000", "0.0012", "1.50"); at most [`DIGITS_MAX`] digits and
    /// [`SCALE_MAX`] after the point. Trailing zeros after the point are kept in the scale.
    pub fn parse(text: &str) -> Option<Decimal> {
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (text, ""),
        };
        let digits_only = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        let valid = !whole.is_empty()
            && digits_only(whole)
            && digits_only(fraction)
            && (text.contains('.') <= !fraction.is_empty())
            && whole.len() + fraction.len() <= DIGITS_MAX
            && fraction.len() <= SCALE_MAX as usize;
        if !valid {
            return None;
        }
        let mantissa = format!("{whole}{fraction}").parse::<u128>().ok()?;
        let scale = u32::try_from(fraction.len()).ok()?;
        Some(Decimal { mantissa, scale })
    }

    pub fn is_zero(self) -> bool {
        self.mantissa == 0
    }
}

impl std::fmt::Display for Decimal {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digits = self.mantissa.to_string();
        let scale = self.scale as usize;
        if scale == 0 {
            return formatter.write_str(&digits);
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (whole, fraction) = padded.split_at(padded.len() - scale);
        write!(formatter, "{whole}.{fraction}")
    }
}

/// One asset's price: KRW for one whole unit of it, when the feed saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetPrice {
    /// The asset's symbol, e.g. `BTC`.
    pub asset: String,
    pub krw_per_unit: Decimal,
    pub observed_at_s: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// No answer in time, a connection error, a 5xx or 429: try again later.
    #[error("the price feed is unavailable: {0}")]
    Unavailable(String),
    /// An answer that does not follow the feed's format.
    #[error("the price feed's answer does not parse: {0}")]
    Protocol(String),
}

/// A source of market prices. Implementations do not retry and do not cache (the platform
/// caches with its own bounds and decides how old a price may be).
pub trait PriceFeed: Send + Sync + 'static {
    /// The latest prices of `assets` (symbols); an asset the feed does not list is absent
    /// from the answer, not an error.
    fn prices<'a>(
        &'a self,
        assets: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<AssetPrice>, PriceError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_parse_exactly_and_refuse_what_is_not_plain() {
        let good = [
            ("0", 0, 0),
            ("143250000", 143_250_000, 0),
            ("143250000.5", 1_432_500_005, 1),
            ("0.0012", 12, 4),
            ("1.50", 150, 2),
            ("000.1", 1, 1),
        ];
        for (text, mantissa, scale) in good {
            assert_eq!(
                Decimal::parse(text),
                Some(Decimal { mantissa, scale }),
                "{text}"
            );
        }
        let bad = [
            "",
            ".",
            "1.",
            ".5",
            "-1",
            "+1",
            "1e5",
            "1.2.3",
            " 1",
            "1,000",
            "0x10",
            "١",
            "1.0000000000000000001",
            "1234567890123456789012345678901",
        ];
        for text in bad {
            assert_eq!(Decimal::parse(text), None, "{text:?}");
        }
        // At the limits: 18 places, 30 digits.
        assert!(Decimal::parse("0.000000000000000001").is_some());
        assert!(Decimal::parse("123456789012345678901234567890").is_some());
    }

    #[test]
    fn decimals_print_back_as_parsed() {
        for text in [
            "0",
            "143250000",
            "143250000.5",
            "0.0012",
            "1.50",
            "0.000000000000000001",
        ] {
            assert_eq!(Decimal::parse(text).unwrap().to_string(), text);
        }
    }
}
