//! Several assets in the member app (issue 15 item 2; the API is `server::assets_api`): the
//! balances of every asset the member holds, and conversions between assets at a quote.
//!
//! - `/app/convert`: the asset given and the asset wanted (two labelled selects), and the
//!   amount typed in whole units of the asset given, with decimals up to its places (read
//!   exactly into its smallest unit: no floating point anywhere); the prices of every asset
//!   (`GET /v1/prices`) below the form.
//! - "Get a quote" (`POST /app/convert`) asks `POST /v1/asset-quotes` and shows the quote:
//!   what leaves, what arrives, both prices, the spread, and how long it holds (its expiry
//!   and the seconds left when the page was drawn: plain text, no script).
//! - "Convert" (`POST /app/convert/confirm`) sends the quote's id to
//!   `POST /v1/asset-conversions` (a quote converts once: a second press is answered the
//!   same) and shows what moved and the new balances. A refusal (the quote expired, the
//!   balance or the treasury is short) shows the API's problem and a button that asks for
//!   a new quote of the same amount.

use askama::Template;
use axum::Router;
use axum::extract::{Form, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::WebState;
use crate::api::Call;
use crate::browser::Browser;
use crate::pages::{Frame, PageError, grouped, html, refusal, when};
use crate::text::Text;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/app/convert", get(convert_page).post(quote))
        .route("/app/convert/confirm", post(convert))
}

/// The places of `symbol`'s smallest unit, for an asset the platform knows.
pub(super) fn decimals_of(symbol: &str) -> Option<u32> {
    platform::assets::asset(symbol)
        .ok()
        .map(|asset| asset.decimals)
}

/// Longest amount text read (a u64 has 20 digits; a dot and leading zeros besides).
const AMOUNT_TEXT_MAX: usize = 40;

/// An amount typed in whole units with at most `decimals` places (trailing zeros beyond
/// them are exact, so allowed), in the asset's smallest unit: digits, an optional dot and
/// fraction, nothing else (no sign, no exponent, no grouping). `None` for anything else,
/// for zero, and for an amount past `u64`.
pub fn parse_units(text: &str, decimals: u32) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() || text.len() > AMOUNT_TEXT_MAX {
        return None;
    }
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || fraction.is_some_and(|fraction| !digits(fraction)) {
        return None;
    }
    let fraction = fraction.unwrap_or("").trim_end_matches('0');
    let places = usize::try_from(decimals).ok()?;
    if fraction.len() > places {
        return None;
    }
    let scale = 10u64.checked_pow(decimals)?;
    let whole = whole.parse::<u64>().ok()?.checked_mul(scale)?;
    let fraction = if fraction.is_empty() {
        0
    } else {
        let padded = format!("{fraction:0<places$}");
        padded.parse::<u64>().ok()?
    };
    whole.checked_add(fraction).filter(|units| *units > 0)
}

/// An amount of an asset in its smallest unit, written in whole units: the whole part
/// grouped by thousands, the fraction without its trailing zeros (`99000` of 4 places is
/// `9.9`; `990000` is `99`).
pub fn units_text(units: u64, decimals: u32) -> String {
    let Some(scale) = 10u64.checked_pow(decimals) else {
        return units.to_string();
    };
    let whole = grouped(units / scale);
    let fraction = units % scale;
    if fraction == 0 {
        return whole;
    }
    let places = usize::try_from(decimals).unwrap_or(0);
    let fraction = format!("{fraction:0>places$}");
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

/// A plain decimal of the API (a price in KRW) with its whole part grouped by thousands.
fn decimal_text(text: &str) -> String {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let whole = whole
        .parse::<u128>()
        .map_or_else(|_| whole.to_string(), grouped);
    match fraction {
        Some(fraction) => format!("{whole}.{fraction}"),
        None => whole,
    }
}

/// Basis points as a percentage: `100` as `1.00%`.
fn percent(bps: u64) -> String {
    format!("{}.{:02}%", bps / 100, bps % 100)
}

/// Unix seconds of an RFC 3339 UTC time as the API writes it (`2026-12-07T13:05:09Z`).
fn unix_of(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 20
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && bytes[16] == b':'
        && bytes[19] == b'Z';
    if !shaped {
        return None;
    }
    let number = |from: usize, to: usize| {
        let part = text.get(from..to)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse::<u64>().ok())
            .flatten()
    };
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
    if year < 1970 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = (era * 146_097 + day_of_era).checked_sub(719_468)?;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// An RFC 3339 time to the second, as a person reads it: `2026-12-07 13:05:09 UTC`.
fn to_the_second(rfc3339: &str) -> String {
    let text = rfc3339.replacen('T', " ", 1);
    format!("{} UTC", text.trim_end_matches('Z'))
}

/// A balance as the pages show it.
pub(super) struct Holding {
    pub asset: String,
    pub available: String,
    pub pending: Option<String>,
}

/// The balances to show: MVP always, and every other asset the member holds (above zero,
/// available or on hold), or names in `also`.
pub(super) fn holdings(lines: &[super::BalanceLine], also: &[&str]) -> Vec<Holding> {
    lines
        .iter()
        .filter(|line| {
            line.asset == "MVP"
                || line.available > 0
                || line.pending > 0
                || also.contains(&line.asset.as_str())
        })
        .map(|line| {
            let decimals = line
                .decimals
                .or_else(|| decimals_of(&line.asset))
                .unwrap_or(0);
            Holding {
                asset: line.asset.clone(),
                available: units_text(line.available, decimals),
                pending: (line.pending > 0).then(|| units_text(line.pending, decimals)),
            }
        })
        .collect()
}

/// One price, as `GET /v1/prices` answers it.
#[derive(Deserialize)]
pub(crate) struct PriceLine {
    pub asset: String,
    pub krw_per_unit: String,
    pub source: String,
    pub observed_at: String,
}

#[derive(Deserialize)]
pub(crate) struct PricesAnswer {
    pub prices: Vec<PriceLine>,
}

/// A price as the pages show it.
pub(crate) struct PriceView {
    pub asset: String,
    pub krw_per_unit: String,
    pub source: &'static str,
    pub at: String,
}

/// Where a price comes from, in words.
pub(crate) fn source_text(source: &str, t: &Text) -> &'static str {
    match source {
        "fixed" => t.asset_source_fixed,
        "operator" => t.asset_source_operator,
        "feed" => t.asset_source_feed,
        _ => t.reason_other,
    }
}

pub(crate) fn price_view(line: &PriceLine, t: &Text) -> PriceView {
    PriceView {
        asset: line.asset.clone(),
        krw_per_unit: decimal_text(&line.krw_per_unit),
        source: source_text(&line.source, t),
        at: when(&line.observed_at),
    }
}

/// A quote, as `/v1/asset-quotes` answers it.
#[derive(Deserialize)]
struct QuoteAnswer {
    quote_id: String,
    from_asset: String,
    to_asset: String,
    from_amount: u64,
    to_amount: u64,
    from_price: String,
    to_price: String,
    spread_bps: u64,
    expires_at: String,
}

#[derive(Deserialize)]
struct ConversionAnswer {
    quote: QuoteAnswer,
}

/// What the convert form sends (and what "Get a new quote" sends again).
#[derive(Default, Deserialize)]
struct ConvertForm {
    #[serde(default)]
    from_asset: String,
    #[serde(default)]
    to_asset: String,
    #[serde(default)]
    amount: String,
}

/// An asset of the selects: symbol, and whether it is chosen.
type Choice = (&'static str, bool);

fn choices(chosen: &str, default: &str) -> Vec<Choice> {
    let chosen = if decimals_of(chosen).is_some() {
        chosen
    } else {
        default
    };
    platform::assets::ASSETS
        .iter()
        .map(|asset| (asset.symbol, asset.symbol == chosen))
        .collect()
}

#[derive(Template)]
#[template(path = "member_convert.html")]
struct ConvertPage {
    frame: Frame,
    from: Vec<Choice>,
    to: Vec<Choice>,
    amount: String,
    holdings: Vec<Holding>,
    prices: Vec<PriceView>,
}

async fn prices(state: &WebState, browser: &Browser) -> Result<Vec<PriceView>, PageError> {
    let t = browser.lang.text();
    let mut answer: PricesAnswer = state
        .api
        .json(&browser.caller(), Call::get("/v1/prices"))
        .await?;
    // In the platform's order of assets (MVP first), as the selects and balances are.
    answer.prices.sort_by_key(|line| {
        platform::assets::ASSETS
            .iter()
            .position(|asset| asset.symbol == line.asset)
            .unwrap_or(usize::MAX)
    });
    Ok(answer
        .prices
        .iter()
        .map(|line| price_view(line, t))
        .collect())
}

/// The convert form, with what was typed, the member's balances and the prices.
async fn convert_form(
    state: &WebState,
    browser: &Browser,
    typed: &ConvertForm,
    error: Option<String>,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let lines = super::balance_lines(state, browser).await?;
    let page = ConvertPage {
        frame: Frame::new(state, browser, t.asset_convert_title)
            .tab("home")
            .error(error),
        from: choices(&typed.from_asset, "MVP"),
        to: choices(&typed.to_asset, "TTC"),
        amount: typed.amount.trim().to_string(),
        holdings: holdings(&lines, &[]),
        prices: prices(state, browser).await?,
    };
    Ok(html(&page))
}

/// `GET /app/convert`: the form and the prices.
async fn convert_page(
    State(state): State<WebState>,
    browser: Browser,
) -> Result<Response, PageError> {
    convert_form(&state, &browser, &ConvertForm::default(), None).await
}

/// A quote as the page shows it.
struct QuoteView {
    quote_id: String,
    from_asset: String,
    to_asset: String,
    from_amount: String,
    to_amount: String,
    from_price: String,
    to_price: String,
    spread: String,
    expires: String,
    seconds_left: u64,
}

#[derive(Template)]
#[template(path = "member_convert_quote.html")]
struct QuotePage {
    frame: Frame,
    /// The quote to convert at; none after a refusal (then only "Get a new quote").
    quote: Option<QuoteView>,
    /// What "Get a new quote" asks again: the assets and the amount, exactly as typed units.
    from_asset: String,
    to_asset: String,
    amount: String,
}

/// `POST /app/convert` ("Get a quote", or "Get a new quote"): the amount read exactly in
/// the asset's smallest unit, then the API's quote; the form again with the problem.
async fn quote(
    State(state): State<WebState>,
    browser: Browser,
    Form(form): Form<ConvertForm>,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let Some(decimals) = decimals_of(&form.from_asset) else {
        let error = Some(t.asset_unknown.to_string());
        return convert_form(&state, &browser, &form, error).await;
    };
    let Some(amount) = parse_units(&form.amount, decimals) else {
        let error = format!(
            "{} ({}: {decimals})",
            t.asset_amount_invalid, form.from_asset
        );
        return convert_form(&state, &browser, &form, Some(error)).await;
    };
    let body = json!({
        "from_asset": form.from_asset,
        "to_asset": form.to_asset,
        "amount": amount,
    });
    let call = Call::post("/v1/asset-quotes", &body);
    let answer = match state.api.json::<QuoteAnswer>(&browser.caller(), call).await {
        Ok(answer) => answer,
        Err(problem) => {
            let problem = refusal(problem)?;
            return convert_form(&state, &browser, &form, Some(problem.message())).await;
        }
    };
    let from_decimals = decimals_of(&answer.from_asset).unwrap_or(decimals);
    let to_decimals = decimals_of(&answer.to_asset).unwrap_or(0);
    let now_s = ports::time::now_s();
    let seconds_left = unix_of(&answer.expires_at).map_or(0, |at| at.saturating_sub(now_s));
    let page = QuotePage {
        frame: Frame::new(&state, &browser, t.asset_quote_title).tab("home"),
        from_asset: answer.from_asset.clone(),
        to_asset: answer.to_asset.clone(),
        amount: units_text(answer.from_amount, from_decimals).replace(',', ""),
        quote: Some(QuoteView {
            from_amount: units_text(answer.from_amount, from_decimals),
            to_amount: units_text(answer.to_amount, to_decimals),
            from_price: decimal_text(&answer.from_price),
            to_price: decimal_text(&answer.to_price),
            spread: percent(answer.spread_bps),
            expires: to_the_second(&answer.expires_at),
            seconds_left,
            quote_id: answer.quote_id,
            from_asset: answer.from_asset,
            to_asset: answer.to_asset,
        }),
    };
    Ok(html(&page))
}

/// What the quote page's "Convert" sends: the quote, and what a new quote would ask again.
#[derive(Deserialize)]
struct ConfirmForm {
    quote_id: String,
    #[serde(default)]
    from_asset: String,
    #[serde(default)]
    to_asset: String,
    #[serde(default)]
    amount: String,
}

#[derive(Template)]
#[template(path = "member_convert_done.html")]
struct DonePage {
    frame: Frame,
    from_asset: String,
    to_asset: String,
    from_amount: String,
    to_amount: String,
    holdings: Vec<Holding>,
}

/// `POST /app/convert/confirm` ("Convert"): the conversion at the quote (once per quote,
/// as the API keeps it), then what moved and the new balances; a refusal shows the API's
/// problem and "Get a new quote".
async fn convert(
    State(state): State<WebState>,
    browser: Browser,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let call = Call::post(
        "/v1/asset-conversions",
        &json!({ "quote_id": form.quote_id.trim() }),
    );
    let converted = match state
        .api
        .json::<ConversionAnswer>(&browser.caller(), call)
        .await
    {
        Ok(converted) => converted.quote,
        Err(problem) => {
            let problem = refusal(problem)?;
            let page = QuotePage {
                frame: Frame::new(&state, &browser, t.asset_quote_title)
                    .tab("home")
                    .error(Some(problem.message())),
                quote: None,
                from_asset: form.from_asset,
                to_asset: form.to_asset,
                amount: form.amount,
            };
            return Ok(html(&page));
        }
    };
    let lines = super::balance_lines(&state, &browser).await?;
    let from_decimals = decimals_of(&converted.from_asset).unwrap_or(0);
    let to_decimals = decimals_of(&converted.to_asset).unwrap_or(0);
    let also = [converted.from_asset.as_str(), converted.to_asset.as_str()];
    let page = DonePage {
        frame: Frame::new(&state, &browser, t.asset_converted_title)
            .tab("home")
            .notice(Some(t.asset_converted_notice.to_string())),
        from_amount: units_text(converted.from_amount, from_decimals),
        to_amount: units_text(converted.to_amount, to_decimals),
        holdings: holdings(&lines, &also),
        from_asset: converted.from_asset,
        to_asset: converted.to_asset,
    };
    Ok(html(&page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_exactly_in_the_smallest_unit() {
        let cases: [(&str, u32, Option<u64>); 21] = [
            ("1.5", 8, Some(150_000_000)),
            ("0.00000001", 8, Some(1)),
            ("1.000000001", 8, None),
            ("1.500000000", 8, Some(150_000_000)),
            ("1000", 0, Some(1000)),
            (" 1000 ", 0, Some(1000)),
            ("1000.0", 0, Some(1000)),
            ("1000.5", 0, None),
            ("9.9", 4, Some(99_000)),
            ("184467440737.09551615", 8, Some(u64::MAX)),
            ("184467440737.09551616", 8, None),
            ("abc", 8, None),
            ("-1", 8, None),
            ("+1", 8, None),
            ("", 8, None),
            ("0", 8, None),
            ("0.000", 8, None),
            (".5", 8, None),
            ("1.", 8, None),
            ("1e3", 8, None),
            ("1,000", 0, None),
        ];
        for (text, decimals, units) in cases {
            assert_eq!(parse_units(text, decimals), units, "{text:?} of {decimals}");
        }
    }

    #[test]
    fn amounts_are_written_with_their_places_trimmed() {
        assert_eq!(units_text(99_000, 4), "9.9");
        assert_eq!(units_text(990_000, 4), "99");
        assert_eq!(units_text(1, 8), "0.00000001");
        assert_eq!(units_text(150_000_000, 8), "1.5");
        assert_eq!(units_text(123_456_789_000, 9), "123.456789");
        assert_eq!(units_text(5_000, 0), "5,000");
        assert_eq!(units_text(12_345_678_900_000, 4), "1,234,567,890");
        for (units, decimals) in [(1u64, 8u32), (99_000, 4), (123_456, 6), (u64::MAX, 9)] {
            let text = units_text(units, decimals).replace(',', "");
            assert_eq!(parse_units(&text, decimals), Some(units), "{text}");
        }
    }

    #[test]
    fn prices_percentages_and_times_read_as_people_read_them() {
        assert_eq!(decimal_text("143250000.5"), "143,250,000.5");
        assert_eq!(decimal_text("100"), "100");
        assert_eq!(percent(100), "1.00%");
        assert_eq!(percent(5), "0.05%");
        for unix_s in [0, 59, 86_399, 951_782_400, 1_798_761_909, 4_102_444_800] {
            assert_eq!(unix_of(&ports::time::rfc3339(unix_s)), Some(unix_s));
        }
        assert_eq!(unix_of("2026-12-07 13:05:09"), None);
        assert_eq!(unix_of("2026-13-07T13:05:09Z"), None);
        assert_eq!(
            to_the_second("2026-12-07T13:05:09Z"),
            "2026-12-07 13:05:09 UTC"
        );
    }
}
