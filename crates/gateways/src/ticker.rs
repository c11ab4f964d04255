//! [`UpbitTicker`]: market prices in KRW from Upbit's public REST ticker, and ([`sim`]) a
//! simulator of it.
//!
//! **The call** (Upbit Open API, quotation group, no key):
//!
//! ```text
//! GET {base_url}/v1/ticker?markets=KRW-BTC,KRW-ETH
//! Accept: application/json
//! ```
//!
//! answers `200` with a JSON array of ticker snapshots, one per listed market. The adapter
//! reads three members of each and ignores the rest (Upbit sends some twenty more):
//! `market` (`"KRW-BTC"`), `trade_price` (a JSON number: `143250000.0`, `0.0012`,
//! `1.4325E8`, `5.6E-4`…) and `timestamp` (milliseconds since the epoch, an integer).
//!
//! **Exact prices.** `trade_price` is read as the text Upbit wrote (`json`, a small RFC
//! 8259 reader; the workspace's `serde_json` has neither `arbitrary_precision` nor
//! `raw_value`) and converted by [`decimal_from_json_number`] with integer arithmetic only:
//! `1.234E-5` is `1234 / 10^8`, `1.4325E8` is `143250000`. A price with more than
//! [`SCALE_MAX`] places or [`DIGITS_MAX`] significant digits, a negative or a zero price, is
//! a [`PriceError::Protocol`].
//!
//! **Symbols.** An asset `BTC` is the market `KRW-BTC`. Symbols are 1 to
//! [`SYMBOL_CHARS_MAX`] ASCII letters or digits, upper-cased for Upbit (its codes are upper
//! case); the answer names the asset as the caller spelled it (the first spelling when one
//! market is asked twice). Anything else cannot be a Upbit market: it is absent from the
//! answer and never sent.
//!
//! **Many assets.** Upbit answers at most [`MARKETS_PER_REQUEST_MAX`] markets a request (it
//! has been seen to drop the rest silently), so asking for more than
//! [`TickerConfig::markets_per_request_max`] splits the markets into requests of at most
//! that many, sent one after the other (Upbit allows 10 ticker requests a second per IP;
//! sequential requests stay well within it for any realistic number of assets).
//!
//! **Unknown markets.** Upbit answers a ticker request naming a market it does not list
//! with `404 {"error":{"name":"404","message":"Code not found"}}`. Its documentation does
//! not say whether one unknown market fails a whole multi-market request or is just left
//! out, so the adapter copes with both: a "Code not found" for one market means that market
//! is absent; for several, the request is split in halves and each half asked again, until
//! every listed market is priced and every unlisted one is known to be absent. That costs
//! about `2·log2(n)` more requests per unknown market in a request of `n` — only when an
//! asset is not (or no longer) listed. These are not retries: each request asks something
//! new, and every error still ends the call.
//!
//! **Answers and errors** ([`PriceError`]):
//!
//! | answer | result |
//! |---|---|
//! | `200` with an array of well-formed snapshots | their prices; a market not in it is absent |
//! | `404` "Code not found" | those markets are absent (see above) |
//! | `429` (too many requests), `418` (Upbit's temporary block after ignored 429s), `5xx` | `Unavailable` |
//! | no whole answer within `timeout_ms`, connection or TLS errors | `Unavailable` |
//! | any other `4xx`, other statuses (redirects are not followed) | `Protocol` |
//! | `200` whose body is not JSON, not an array, a snapshot without `market`, `trade_price` or `timestamp` (or with one of them twice), a market not asked, a market twice, a price refused as above | `Protocol` |
//! | a body larger than [`TICKER_ANSWER_BYTES_MAX`] | `Protocol` |
//!
//! `timeout_ms` bounds the whole [`PriceFeed::prices`] call, every request it makes
//! included. The adapter never retries and never caches (the platform does both with its
//! own bounds). It sends no `Origin` header (Upbit limits requests carrying one to one per
//! ten seconds).

use std::collections::HashSet;
use std::time::Duration;

use ports::gateway::BoxFuture;
use ports::prices::{AssetPrice, DIGITS_MAX, Decimal, PriceError, PriceFeed, SCALE_MAX};
use reqwest::header::ACCEPT;

mod json;
pub mod sim;

use json::Value;

/// Upbit's Open API (Korea).
pub const DEFAULT_BASE_URL: &str = "https://api.upbit.com";
/// Default [`TickerConfig::timeout_ms`].
pub const DEFAULT_TIMEOUT_MS: u64 = 3_000;
/// Most markets Upbit answers in one ticker request, and the largest
/// [`TickerConfig::markets_per_request_max`] accepted.
pub const MARKETS_PER_REQUEST_MAX: usize = 100;
/// Largest answer read (a snapshot is under 1 KiB; 100 of them under 100 KiB).
pub const TICKER_ANSWER_BYTES_MAX: usize = 512 * 1024;
/// Longest asset symbol that can be a Upbit market.
pub const SYMBOL_CHARS_MAX: usize = 20;
/// The quote currency of every market asked: prices are KRW per unit.
pub const QUOTE: &str = "KRW";
/// Longest part of an unexpected answer's body quoted in an error, in characters.
pub const ERROR_TEXT_CHARS_MAX: usize = 200;

/// Where and how to reach the ticker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TickerConfig {
    /// Upbit's API root without `/v1`, e.g. [`DEFAULT_BASE_URL`]; `http://` or `https://`,
    /// with or without a path prefix (tests use a loopback simulator).
    pub base_url: String,
    /// Deadline of one whole [`PriceFeed::prices`] call, every request included.
    pub timeout_ms: u64,
    /// Most markets per request, 1 to [`MARKETS_PER_REQUEST_MAX`]; more are split.
    pub markets_per_request_max: usize,
}

impl Default for TickerConfig {
    fn default() -> Self {
        TickerConfig {
            base_url: DEFAULT_BASE_URL.to_string(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            markets_per_request_max: MARKETS_PER_REQUEST_MAX,
        }
    }
}

/// A [`TickerConfig`] that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid ticker configuration: {0}")]
pub struct TickerConfigError(pub String);

/// Why a JSON number is not accepted as a price ([`decimal_from_json_number`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NumberRefused {
    #[error("not a JSON number")]
    NotANumber,
    #[error("negative")]
    Negative,
    #[error("more than {SCALE_MAX} places after the point")]
    TooManyPlaces,
    #[error("more than {DIGITS_MAX} significant digits")]
    TooManyDigits,
}

/// Exponents beyond this are treated as this (any of them is refused or is zero anyway).
const EXPONENT_CAP: i64 = 1_000_000_000_000;

/// The exact value of a JSON number token (RFC 8259: `-? int frac? exp?`), e.g. `1.234E-5`
/// → `Decimal { mantissa: 1234, scale: 8 }`, without floating point.
///
/// The digits are kept as written, like [`Decimal::parse`] keeps them (`1.50` has scale 2;
/// `1.5E3` is `1500`, scale 0); leading zeros do not count. Trailing zeros past
/// [`SCALE_MAX`] places are dropped (the value is unchanged); significant digits past it are
/// refused, as are more than [`DIGITS_MAX`] significant digits in all (`1e30` has 31) and
/// negative numbers (`-0` included). Zero keeps its scale, at most [`SCALE_MAX`].
pub fn decimal_from_json_number(token: &str) -> Result<Decimal, NumberRefused> {
    if json::number_end(token.as_bytes(), 0) != Some(token.len()) {
        return Err(NumberRefused::NotANumber);
    }
    if token.starts_with('-') {
        return Err(NumberRefused::Negative);
    }
    let (significand, exponent) = match token.split_once(['e', 'E']) {
        Some((significand, exponent)) => (significand, exponent),
        None => (token, "0"),
    };
    let (whole, fraction) = significand.split_once('.').unwrap_or((significand, ""));
    let (negative_exponent, exponent_digits) = match exponent.as_bytes()[0] {
        b'-' => (true, &exponent[1..]),
        b'+' => (false, &exponent[1..]),
        _ => (false, exponent),
    };
    let magnitude = exponent_digits.bytes().fold(0_i64, |sum, digit| {
        (sum * 10 + i64::from(digit - b'0')).min(EXPONENT_CAP)
    });
    let exponent = if negative_exponent {
        -magnitude
    } else {
        magnitude
    };
    // Token lengths are far below i64::MAX, and |exponent| <= EXPONENT_CAP.
    let mut scale = i64::try_from(fraction.len()).unwrap_or(i64::MAX / 2) - exponent;
    let mut digits: String = whole
        .chars()
        .chain(fraction.chars())
        .skip_while(|&digit| digit == '0')
        .collect();
    let scale_max = i64::from(SCALE_MAX);
    if digits.is_empty() {
        let scale = u32::try_from(scale.clamp(0, scale_max)).unwrap_or(SCALE_MAX);
        return Ok(Decimal { mantissa: 0, scale });
    }
    // `digits` starts with a non-zero digit, so this never empties it.
    while scale > scale_max && digits.ends_with('0') {
        digits.pop();
        scale -= 1;
    }
    if scale > scale_max {
        return Err(NumberRefused::TooManyPlaces);
    }
    let zeros = (-scale).max(0);
    let digit_count = i64::try_from(digits.len()).unwrap_or(i64::MAX / 2);
    if digit_count + zeros > i64::try_from(DIGITS_MAX).unwrap_or(i64::MAX) {
        return Err(NumberRefused::TooManyDigits);
    }
    digits.extend(std::iter::repeat_n(
        '0',
        usize::try_from(zeros).unwrap_or(0),
    ));
    // At most DIGITS_MAX (30) digits: fits a u128 (39).
    let mantissa = digits
        .parse::<u128>()
        .map_err(|_| NumberRefused::TooManyDigits)?;
    let scale = u32::try_from(scale.max(0)).map_err(|_| NumberRefused::TooManyPlaces)?;
    Ok(Decimal { mantissa, scale })
}

/// The Upbit market of an asset symbol (`btc` → `KRW-BTC`), or `None` when the symbol
/// cannot be one (empty, longer than [`SYMBOL_CHARS_MAX`], not ASCII letters and digits).
pub fn market_code(symbol: &str) -> Option<String> {
    let valid = (1..=SYMBOL_CHARS_MAX).contains(&symbol.len())
        && symbol.bytes().all(|b| b.is_ascii_alphanumeric());
    valid.then(|| format!("{QUOTE}-{}", symbol.to_ascii_uppercase()))
}

/// [`PriceFeed`] over Upbit's public REST ticker.
#[derive(Debug)]
pub struct UpbitTicker {
    client: reqwest::Client,
    /// `base_url` without a trailing `/`.
    base: String,
    timeout: Duration,
    markets_per_request_max: usize,
}

/// One market to ask: its code and which asked asset it answers.
#[derive(Clone, Debug)]
struct Wanted {
    market: String,
    asset: String,
    /// Position among the distinct markets asked: answers come back in this order.
    order: usize,
}

/// What one request learnt.
enum Answer {
    Prices(Vec<(usize, AssetPrice)>),
    /// Upbit's 404 "Code not found": at least one market asked is not listed.
    CodeNotFound,
}

impl UpbitTicker {
    /// A ticker client as `config` says, trusting what `tls` trusts for an `https` base URL.
    pub fn new(
        config: TickerConfig,
        tls: &tls::ClientTls,
    ) -> Result<UpbitTicker, TickerConfigError> {
        let url = reqwest::Url::parse(&config.base_url).map_err(|error| {
            TickerConfigError(format!("base_url {:?}: {error}", config.base_url))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(TickerConfigError(format!(
                "base_url {:?} is not an http(s) URL",
                config.base_url
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(TickerConfigError(format!(
                "base_url {:?} has a query or fragment",
                config.base_url
            )));
        }
        if !(1..=MARKETS_PER_REQUEST_MAX).contains(&config.markets_per_request_max) {
            return Err(TickerConfigError(format!(
                "markets_per_request_max must be 1 to {MARKETS_PER_REQUEST_MAX}, not {}",
                config.markets_per_request_max
            )));
        }
        if config.timeout_ms == 0 {
            return Err(TickerConfigError("timeout_ms must be above 0".into()));
        }
        let timeout = Duration::from_millis(config.timeout_ms);
        let client = tls
            .reqwest_builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            // A ready rustls configuration, no proxies, no custom resolver: nothing can fail.
            .expect("an HTTP client with a preconfigured TLS and no proxies always builds");
        Ok(UpbitTicker {
            client,
            base: config.base_url.trim_end_matches('/').to_string(),
            timeout,
            markets_per_request_max: config.markets_per_request_max,
        })
    }

    async fn fetch(&self, assets: &[String]) -> Result<Vec<AssetPrice>, PriceError> {
        let mut wanted: Vec<Wanted> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for asset in assets {
            let Some(market) = market_code(asset) else {
                continue;
            };
            if seen.insert(market.clone()) {
                let order = wanted.len();
                wanted.push(Wanted {
                    market,
                    asset: asset.clone(),
                    order,
                });
            }
        }
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let work = async {
            let mut found = Vec::new();
            for chunk in wanted.chunks(self.markets_per_request_max) {
                self.fetch_resolving(chunk, &mut found).await?;
            }
            found.sort_by_key(|(order, _)| *order);
            Ok(found.into_iter().map(|(_, price)| price).collect())
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(no_answer_in_time(self.timeout)),
        }
    }

    /// Asks for `chunk`, splitting it while Upbit answers "Code not found" for several
    /// markets, until every market is priced or known to be absent.
    async fn fetch_resolving(
        &self,
        chunk: &[Wanted],
        found: &mut Vec<(usize, AssetPrice)>,
    ) -> Result<(), PriceError> {
        let mut pending: Vec<&[Wanted]> = vec![chunk];
        while let Some(markets) = pending.pop() {
            match self.fetch_once(markets).await? {
                Answer::Prices(prices) => found.extend(prices),
                Answer::CodeNotFound if markets.len() == 1 => {}
                Answer::CodeNotFound => {
                    let (first, second) = markets.split_at(markets.len() / 2);
                    pending.push(second);
                    pending.push(first);
                }
            }
        }
        Ok(())
    }

    /// One request for `markets` (at most `markets_per_request_max`).
    async fn fetch_once(&self, markets: &[Wanted]) -> Result<Answer, PriceError> {
        let codes: Vec<&str> = markets.iter().map(|w| w.market.as_str()).collect();
        // Codes are `KRW-` and ASCII letters and digits: nothing to escape.
        let url = format!("{}/v1/ticker?markets={}", self.base, codes.join(","));
        let response = self
            .client
            .get(url)
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(unavailable)?;
        let status = response.status().as_u16();
        match status {
            200 => {
                let body = read_capped(response).await?;
                parse_answer(&body, markets).map(Answer::Prices)
            }
            418 | 429 | 500..=599 => Err(PriceError::Unavailable(format!(
                "Upbit answered HTTP {status}"
            ))),
            400..=499 => {
                let body = read_capped(response).await?;
                if status == 404 && is_code_not_found(&body) {
                    return Ok(Answer::CodeNotFound);
                }
                Err(PriceError::Protocol(format!(
                    "Upbit answered HTTP {status}: {}",
                    quoted(&body)
                )))
            }
            other => Err(PriceError::Protocol(format!(
                "unexpected HTTP status {other}"
            ))),
        }
    }
}

impl PriceFeed for UpbitTicker {
    fn prices<'a>(
        &'a self,
        assets: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<AssetPrice>, PriceError>> {
        Box::pin(self.fetch(assets))
    }
}

fn no_answer_in_time(timeout: Duration) -> PriceError {
    PriceError::Unavailable(format!(
        "Upbit did not answer within {} ms",
        timeout.as_millis()
    ))
}

fn unavailable(error: reqwest::Error) -> PriceError {
    if error.is_timeout() {
        return PriceError::Unavailable("Upbit did not answer in time".into());
    }
    // reqwest's own message is terse; the cause (e.g. "connection refused") is in the chain.
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    PriceError::Unavailable(message)
}

/// Reads a body, refusing one larger than [`TICKER_ANSWER_BYTES_MAX`] without reading it all.
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, PriceError> {
    let too_large = || {
        PriceError::Protocol(format!(
            "the answer is larger than {TICKER_ANSWER_BYTES_MAX} bytes"
        ))
    };
    if response
        .content_length()
        .is_some_and(|length| length > TICKER_ANSWER_BYTES_MAX as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
        if body.len() + chunk.len() > TICKER_ANSWER_BYTES_MAX {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A body for an error message: cut to [`ERROR_TEXT_CHARS_MAX`] characters.
fn quoted(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".into();
    }
    text.chars().take(ERROR_TEXT_CHARS_MAX).collect()
}

/// Whether `body` is Upbit's `{"error":{"name":"404","message":"Code not found"}}`.
fn is_code_not_found(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|value| {
        value
            .pointer("/error/message")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|message| message.eq_ignore_ascii_case("code not found"))
    })
}

fn protocol(what: impl std::fmt::Display) -> PriceError {
    PriceError::Protocol(what.to_string())
}

/// The prices in a `200` answer to a request for `markets`.
fn parse_answer(body: &[u8], markets: &[Wanted]) -> Result<Vec<(usize, AssetPrice)>, PriceError> {
    let text = std::str::from_utf8(body).map_err(|_| protocol("the answer is not UTF-8"))?;
    let document =
        json::parse(text).map_err(|error| protocol(format!("the answer is not JSON: {error}")))?;
    let Value::Array(snapshots) = document else {
        return Err(protocol(format!(
            "the answer is {}, not an array",
            document.kind()
        )));
    };
    let mut answered: Vec<bool> = vec![false; markets.len()];
    let mut prices = Vec::with_capacity(snapshots.len());
    for (index, snapshot) in snapshots.iter().enumerate() {
        let Value::Object(members) = snapshot else {
            return Err(protocol(format!(
                "snapshot {index} is {}, not an object",
                snapshot.kind()
            )));
        };
        let member = |name: &str| -> Result<&Value<'_>, PriceError> {
            let mut found = members.iter().filter(|(key, _)| key == name);
            match (found.next(), found.next()) {
                (Some((_, value)), None) => Ok(value),
                (None, _) => Err(protocol(format!("snapshot {index} has no `{name}`"))),
                (Some(_), Some(_)) => Err(protocol(format!("snapshot {index} has `{name}` twice"))),
            }
        };
        let Value::String(market) = member("market")? else {
            return Err(protocol(format!(
                "snapshot {index}: `market` is not a string"
            )));
        };
        let Some(position) = markets.iter().position(|w| &w.market == market) else {
            return Err(protocol(format!(
                "the answer has {market:?}, which was not asked"
            )));
        };
        if std::mem::replace(&mut answered[position], true) {
            return Err(protocol(format!("the answer has {market:?} twice")));
        }
        let Value::Number(price) = member("trade_price")? else {
            return Err(protocol(format!("{market}: `trade_price` is not a number")));
        };
        let krw_per_unit = decimal_from_json_number(price)
            .map_err(|refused| protocol(format!("{market}: trade_price {price}: {refused}")))?;
        if krw_per_unit.is_zero() {
            return Err(protocol(format!("{market}: trade_price is zero")));
        }
        let Value::Number(timestamp) = member("timestamp")? else {
            return Err(protocol(format!("{market}: `timestamp` is not a number")));
        };
        let observed_at_ms = whole_number(timestamp).ok_or_else(|| {
            protocol(format!(
                "{market}: timestamp {timestamp} is not a whole number of milliseconds"
            ))
        })?;
        let wanted = &markets[position];
        prices.push((
            wanted.order,
            AssetPrice {
                asset: wanted.asset.clone(),
                krw_per_unit,
                observed_at_s: observed_at_ms / 1_000,
            },
        ));
    }
    Ok(prices)
}

/// A JSON number that is a non-negative whole number fitting a u64 (`1767225600123`, also
/// written `1.767225600123E12`).
fn whole_number(token: &str) -> Option<u64> {
    let Decimal { mantissa, scale } = decimal_from_json_number(token).ok()?;
    let unit = 10_u128.checked_pow(scale)?;
    if mantissa % unit != 0 {
        return None;
    }
    u64::try_from(mantissa / unit).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn market_codes() {
        assert_eq!(market_code("BTC").as_deref(), Some("KRW-BTC"));
        assert_eq!(market_code("btc").as_deref(), Some("KRW-BTC"));
        assert_eq!(market_code("1INCH").as_deref(), Some("KRW-1INCH"));
        for bad in [
            "",
            "KRW-BTC",
            "B TC",
            "BTC,ETH",
            "BTC&x=1",
            "가",
            &"A".repeat(21),
        ] {
            assert_eq!(market_code(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn whole_numbers() {
        assert_eq!(whole_number("1767225600123"), Some(1_767_225_600_123));
        assert_eq!(whole_number("1.767225600123E12"), Some(1_767_225_600_123));
        assert_eq!(whole_number("1767225600123.000"), Some(1_767_225_600_123));
        assert_eq!(whole_number("1767225600123.5"), None);
        assert_eq!(whole_number("-1"), None);
        assert_eq!(whole_number("99999999999999999999"), None);
    }

    #[test]
    fn code_not_found_bodies() {
        assert!(is_code_not_found(
            br#"{"error":{"name":"404","message":"Code not found"}}"#
        ));
        assert!(!is_code_not_found(
            br#"{"error":{"name":"404","message":"Not found"}}"#
        ));
        assert!(!is_code_not_found(b"<html>404</html>"));
    }
}
