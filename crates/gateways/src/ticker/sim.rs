//! A simulator of Upbit's public REST ticker: `GET /v1/ticker?markets=KRW-BTC,...` over a
//! socket, answering from prices the test (or operator) sets and changes while it runs.
//!
//! **Answers.** A `200` JSON array of snapshots in the order the markets were asked, each
//! with Upbit's members (`market`, `trade_date`, `trade_time`, their `_kst` twins,
//! `trade_timestamp`, the day's prices, change fields, volumes, 52-week extremes and
//! `timestamp`, the time of the answer). Every price member is the price text as set,
//! written into the JSON verbatim: a price set as `1.234E-5` is sent in that form, so tests
//! choose between plain and exponent notation. Changes and volumes are 0.
//!
//! - Only `KRW-{SYMBOL}` markets exist, `SYMBOL` as set (upper case); codes are
//!   case-sensitive, as Upbit's are.
//! - Unknown markets: `404 {"error":{"name":"404","message":"Code not found"}}`, when any
//!   market asked is unknown ([`UnknownMarkets::NotFoundIfAny`], the default) or only when
//!   none is known ([`UnknownMarkets::NotFoundIfAll`], the known ones answered). Upbit
//!   answers 404 "Code not found" for an unknown market; its documentation does not say
//!   which of the two it does for a mix, so the simulator can do either.
//! - More than [`MARKETS_PER_REQUEST_MAX`] markets: the first that many are answered, the
//!   rest ignored (what Upbit has been seen doing).
//! - No or an empty `markets`: `400 {"error":{"name":"validation_error",...}}`.
//! - Every answer carries a `Remaining-Req: group=ticker; min=600; sec=9` header like
//!   Upbit's; the simulator itself never limits.
//!
//! **Control.** In process through a [`SimPrices`] handle (clones share the prices), or
//! over HTTP on the same port: `GET /sim/v1/prices` (a JSON object symbol → price text),
//! `PUT /sim/v1/prices/{symbol}` with the price text as the body, `DELETE
//! /sim/v1/prices/{symbol}`. Unauthenticated: bind the simulator to loopback.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ports::time;
use tokio::net::TcpListener;

use super::{MARKETS_PER_REQUEST_MAX, QUOTE, json, market_code};

/// How many requests [`SimPrices::requests`] remembers (the newest).
pub const SIM_REQUEST_LOG_MAX: usize = 256;

/// What the simulator answers when markets asked are not listed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnknownMarkets {
    /// One unknown market makes the whole request a 404 "Code not found".
    #[default]
    NotFoundIfAny,
    /// Unknown markets are left out; 404 "Code not found" only when none is known.
    NotFoundIfAll,
}

/// A price or symbol [`SimPrices::set`] refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SimPriceError {
    #[error("{0:?} is not a symbol (1 to 20 ASCII letters or digits)")]
    Symbol(String),
    #[error("{0:?} is not a JSON number")]
    Price(String),
}

/// The simulator's prices, shared: every clone sees and changes the same ones.
#[derive(Clone, Debug, Default)]
pub struct SimPrices {
    state: Arc<Mutex<SimState>>,
}

#[derive(Debug, Default)]
struct SimState {
    /// Upper-case symbol → price text (a JSON number token).
    prices: BTreeMap<String, String>,
    unknown_markets: UnknownMarkets,
    request_count: u64,
    requests: VecDeque<Vec<String>>,
}

impl SimPrices {
    pub fn new() -> SimPrices {
        SimPrices::default()
    }

    /// Prices from `(symbol, price text)` pairs.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<SimPrices, SimPriceError> {
        let prices = SimPrices::new();
        for (symbol, price) in pairs {
            prices.set(symbol, price)?;
        }
        Ok(prices)
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        // A panic while holding the lock leaves plain data behind: keep serving it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sets `symbol`'s price (KRW per unit) to `price`, any JSON number token — including
    /// ones the adapter refuses (`-1`, `1e400`), so tests can see how it reacts. The
    /// symbol is stored upper-cased.
    pub fn set(&self, symbol: &str, price: &str) -> Result<(), SimPriceError> {
        if market_code(symbol).is_none() {
            return Err(SimPriceError::Symbol(symbol.to_string()));
        }
        if json::number_end(price.as_bytes(), 0) != Some(price.len()) {
            return Err(SimPriceError::Price(price.to_string()));
        }
        self.lock()
            .prices
            .insert(symbol.to_ascii_uppercase(), price.to_string());
        Ok(())
    }

    /// Delists `symbol`; whether it was listed.
    pub fn remove(&self, symbol: &str) -> bool {
        self.lock()
            .prices
            .remove(&symbol.to_ascii_uppercase())
            .is_some()
    }

    /// `symbol`'s price text, if listed.
    pub fn get(&self, symbol: &str) -> Option<String> {
        self.lock()
            .prices
            .get(&symbol.to_ascii_uppercase())
            .cloned()
    }

    /// Every listed symbol and its price text.
    pub fn all(&self) -> BTreeMap<String, String> {
        self.lock().prices.clone()
    }

    pub fn set_unknown_markets(&self, behaviour: UnknownMarkets) {
        self.lock().unknown_markets = behaviour;
    }

    /// Ticker requests served so far (control requests not counted).
    pub fn request_count(&self) -> u64 {
        self.lock().request_count
    }

    /// The markets of the newest [`SIM_REQUEST_LOG_MAX`] ticker requests, oldest first, as
    /// asked (before anything is dropped).
    pub fn requests(&self) -> Vec<Vec<String>> {
        self.lock().requests.iter().cloned().collect()
    }
}

/// The simulator's routes: `/v1/ticker` and the `/sim/v1/prices` control surface.
pub fn router(prices: SimPrices) -> Router {
    Router::new()
        .route("/v1/ticker", get(ticker))
        .route("/sim/v1/prices", get(list_prices))
        .route(
            "/sim/v1/prices/{symbol}",
            axum::routing::put(put_price).delete(delete_price),
        )
        .with_state(prices)
}

/// Serves the simulator on `listener` (plain HTTP) until `shutdown` resolves.
pub async fn serve_ticker_sim(
    listener: TcpListener,
    prices: SimPrices,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(listener, router(prices))
        .with_graceful_shutdown(shutdown)
        .await
}

fn json_answer(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json;charset=UTF-8"),
            ),
            (
                header::HeaderName::from_static("remaining-req"),
                HeaderValue::from_static("group=ticker; min=600; sec=9"),
            ),
        ],
        body,
    )
        .into_response()
}

fn upbit_error(status: StatusCode, name: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": {"name": name, "message": message}});
    json_answer(status, body.to_string())
}

async fn ticker(State(sim): State<SimPrices>, RawQuery(query): RawQuery) -> Response {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let asked: Vec<String> = pairs
        .iter()
        .find(|(name, _)| name == "markets")
        .map(|(_, value)| value.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let mut state = sim.lock();
    state.request_count += 1;
    if state.requests.len() == SIM_REQUEST_LOG_MAX {
        state.requests.pop_front();
    }
    state.requests.push_back(asked.clone());
    if asked.iter().all(|market| market.is_empty()) {
        return upbit_error(
            StatusCode::BAD_REQUEST,
            "validation_error",
            "markets is missing",
        );
    }
    let mut answered: Vec<&str> = Vec::new();
    let mut known = Vec::new();
    let mut unknown = 0_usize;
    for market in asked.iter().take(MARKETS_PER_REQUEST_MAX) {
        if answered.contains(&market.as_str()) {
            continue;
        }
        answered.push(market);
        let price = market
            .strip_prefix(QUOTE)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|symbol| state.prices.get(symbol));
        match price {
            Some(price) => known.push((market.as_str(), price.as_str())),
            None => unknown += 1,
        }
    }
    let not_found = match state.unknown_markets {
        UnknownMarkets::NotFoundIfAny => unknown > 0,
        UnknownMarkets::NotFoundIfAll => known.is_empty(),
    };
    if not_found {
        return upbit_error(StatusCode::NOT_FOUND, "404", "Code not found");
    }
    let now_ms = time::now_ms();
    let snapshots: Vec<String> = known
        .iter()
        .map(|(market, price)| snapshot(market, price, now_ms))
        .collect();
    json_answer(StatusCode::OK, format!("[{}]", snapshots.join(",")))
}

/// One ticker snapshot as Upbit writes it. `market` is a listed code (`KRW-` and ASCII
/// letters and digits) and `price` a JSON number token: both go in verbatim.
fn snapshot(market: &str, price: &str, now_ms: u64) -> String {
    let now_s = now_ms / 1_000;
    let (date, time, iso_date) = date_time(now_s);
    let (date_kst, time_kst, _) = date_time(now_s + time::KST_OFFSET_S);
    format!(
        concat!(
            r#"{{"market":"{market}","trade_date":"{date}","trade_time":"{time}","#,
            r#""trade_date_kst":"{date_kst}","trade_time_kst":"{time_kst}","#,
            r#""trade_timestamp":{now_ms},"opening_price":{price},"high_price":{price},"#,
            r#""low_price":{price},"trade_price":{price},"prev_closing_price":{price},"#,
            r#""change":"EVEN","change_price":0.0,"change_rate":0.0,"#,
            r#""signed_change_price":0.0,"signed_change_rate":0.0,"trade_volume":0.0,"#,
            r#""acc_trade_price":0.0,"acc_trade_price_24h":0.0,"acc_trade_volume":0.0,"#,
            r#""acc_trade_volume_24h":0.0,"highest_52_week_price":{price},"#,
            r#""highest_52_week_date":"{iso_date}","lowest_52_week_price":{price},"#,
            r#""lowest_52_week_date":"{iso_date}","timestamp":{now_ms}}}"#
        ),
        market = market,
        date = date,
        time = time,
        date_kst = date_kst,
        time_kst = time_kst,
        now_ms = now_ms,
        price = price,
        iso_date = iso_date,
    )
}

/// `(yyyyMMdd, HHmmss, yyyy-MM-dd)` of a Unix time, UTC.
fn date_time(unix_s: u64) -> (String, String, String) {
    let (year, month, day) = time::civil_from_days(i64::try_from(unix_s / 86_400).unwrap_or(0));
    let seconds = unix_s % 86_400;
    let (hour, minute, second) = (seconds / 3_600, seconds / 60 % 60, seconds % 60);
    (
        format!("{year:04}{month:02}{day:02}"),
        format!("{hour:02}{minute:02}{second:02}"),
        format!("{year:04}-{month:02}-{day:02}"),
    )
}

async fn list_prices(State(sim): State<SimPrices>) -> Response {
    axum::Json(sim.all()).into_response()
}

async fn put_price(
    State(sim): State<SimPrices>,
    Path(symbol): Path<String>,
    body: String,
) -> Response {
    match sim.set(&symbol, body.trim()) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    }
}

async fn delete_price(State(sim): State<SimPrices>, Path(symbol): Path<String>) -> Response {
    if sim.remove(&symbol) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert_eq!(
            date_time(0),
            ("19700101".into(), "000000".into(), "1970-01-01".into())
        );
        // 2024-02-29T23:59:59Z, a leap day.
        assert_eq!(
            date_time(1_709_251_199),
            ("20240229".into(), "235959".into(), "2024-02-29".into())
        );
        // 2026-01-01T00:00:00Z
        assert_eq!(date_time(1_767_225_600).0, "20260101");
    }

    #[test]
    fn snapshots_are_json_with_the_price_verbatim() {
        let text = snapshot("KRW-PEPE", "1.234E-5", 1_767_225_600_123);
        assert!(text.contains(r#""trade_price":1.234E-5,"#), "{text}");
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["market"], "KRW-PEPE");
        assert_eq!(value["timestamp"], 1_767_225_600_123_u64);
        assert_eq!(value["trade_date_kst"], "20260101");
        assert_eq!(value["trade_time_kst"], "090000");
    }

    #[test]
    fn prices_are_checked_when_set() {
        let prices = SimPrices::new();
        assert!(prices.set("btc", "143250000").is_ok());
        assert_eq!(prices.get("BTC").as_deref(), Some("143250000"));
        assert!(prices.set("BTC", "1.5E-3").is_ok());
        assert!(prices.set("BTC", "-1").is_ok(), "any JSON number");
        assert_eq!(
            prices.set("BTC", "NaN"),
            Err(SimPriceError::Price("NaN".into()))
        );
        assert_eq!(
            prices.set("BTC", "1,0"),
            Err(SimPriceError::Price("1,0".into()))
        );
        assert_eq!(
            prices.set("KRW-BTC", "1"),
            Err(SimPriceError::Symbol("KRW-BTC".into()))
        );
        assert!(prices.remove("btc"));
        assert!(!prices.remove("btc"));
    }
}
