//! The Upbit ticker adapter against recorded-format answers (tests/fixtures/upbit_ticker_*)
//! served by a tiny loopback server, against a server that never answers, and against the
//! ticker simulator; and the exact conversion of JSON numbers to decimals.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::bounded;
use gateways::ticker::sim::{SimPrices, UnknownMarkets, serve_ticker_sim};
use gateways::ticker::{
    MARKETS_PER_REQUEST_MAX, NumberRefused, TICKER_ANSWER_BYTES_MAX, TickerConfig, UpbitTicker,
    decimal_from_json_number,
};
use ports::prices::{AssetPrice, Decimal, PriceError, PriceFeed};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const NORMAL: &str = include_str!("fixtures/upbit_ticker_normal.json");
const EXPONENT: &str = include_str!("fixtures/upbit_ticker_exponent.json");
const MISSING: &str = include_str!("fixtures/upbit_ticker_missing.json");
const MALFORMED: &str = include_str!("fixtures/upbit_ticker_malformed.json");
const ERROR_404: &str = include_str!("fixtures/upbit_ticker_error_404.json");
const ERROR_400: &str = include_str!("fixtures/upbit_ticker_error_400.json");

// ---- the number conversion ----

#[test]
fn json_numbers_convert_exactly() {
    let d = |mantissa: u128, scale: u32| Ok(Decimal { mantissa, scale });
    let cases: &[(&str, Result<Decimal, NumberRefused>)] = &[
        // Integers and fractions, digits kept as written.
        ("0", d(0, 0)),
        ("7", d(7, 0)),
        ("143250000", d(143_250_000, 0)),
        ("143250000.0", d(1_432_500_000, 1)),
        ("3125.5", d(31_255, 1)),
        ("0.0012", d(12, 4)),
        ("1.50", d(150, 2)),
        ("0.000", d(0, 3)),
        // Exponents up.
        ("1e5", d(100_000, 0)),
        ("1E+2", d(100, 0)),
        ("1.4325E8", d(143_250_000, 0)),
        ("4.8125E+6", d(4_812_500, 0)),
        ("1.5e1", d(15, 0)),
        ("1.25e1", d(125, 1)),
        ("0.5e1", d(5, 0)),
        ("0e10", d(0, 0)),
        // Exponents down.
        ("1.234e-5", d(1234, 8)),
        ("1.234E-5", d(1234, 8)),
        ("5.6E-4", d(56, 5)),
        ("1.0E-5", d(10, 6)),
        ("12e-1", d(12, 1)),
        ("0.0e-30", d(0, 18)),
        // Limits: 18 places, 30 significant digits.
        ("0.000000000000000001", d(1, 18)),
        ("1e-18", d(1, 18)),
        (
            "123456789012345678901234567890",
            d(123_456_789_012_345_678_901_234_567_890, 0),
        ),
        ("1e29", d(10_u128.pow(29), 0)),
        (
            "1.23456789012345678901234567890E29",
            d(123_456_789_012_345_678_901_234_567_890, 0),
        ),
        ("00.5", Err(NumberRefused::NotANumber)),
        // Trailing zeros past 18 places go; the value is unchanged.
        ("1.00000000000000000000", d(1_000_000_000_000_000_000, 18)),
        ("100e-20", d(1, 18)),
        // Refusals.
        ("1e-19", Err(NumberRefused::TooManyPlaces)),
        ("0.0000000000000000015", Err(NumberRefused::TooManyPlaces)),
        ("1e-400", Err(NumberRefused::TooManyPlaces)),
        ("1e30", Err(NumberRefused::TooManyDigits)),
        ("1e400", Err(NumberRefused::TooManyDigits)),
        ("1e999999999999999999999", Err(NumberRefused::TooManyDigits)),
        (
            "1234567890123456789012345678901",
            Err(NumberRefused::TooManyDigits),
        ),
        ("-1", Err(NumberRefused::Negative)),
        ("-0", Err(NumberRefused::Negative)),
        ("-1.5e-3", Err(NumberRefused::Negative)),
        ("NaN", Err(NumberRefused::NotANumber)),
        ("Infinity", Err(NumberRefused::NotANumber)),
        ("", Err(NumberRefused::NotANumber)),
        ("+1", Err(NumberRefused::NotANumber)),
        ("01", Err(NumberRefused::NotANumber)),
        ("1.", Err(NumberRefused::NotANumber)),
        (".5", Err(NumberRefused::NotANumber)),
        ("1e", Err(NumberRefused::NotANumber)),
        ("1e+", Err(NumberRefused::NotANumber)),
        ("0x10", Err(NumberRefused::NotANumber)),
        (" 1", Err(NumberRefused::NotANumber)),
        ("1 ", Err(NumberRefused::NotANumber)),
        ("1,000", Err(NumberRefused::NotANumber)),
        ("\"1\"", Err(NumberRefused::NotANumber)),
        ("١", Err(NumberRefused::NotANumber)),
    ];
    for (token, expected) in cases {
        assert_eq!(decimal_from_json_number(token), *expected, "{token:?}");
    }
}

#[test]
fn plain_decimals_convert_as_decimal_parse_reads_them() {
    for text in [
        "0",
        "1",
        "143250000",
        "143250000.5",
        "0.0012",
        "1.50",
        "0.000000000000000001",
    ] {
        assert_eq!(
            decimal_from_json_number(text).ok(),
            Decimal::parse(text),
            "{text}"
        );
        assert_eq!(decimal_from_json_number(text).unwrap().to_string(), text);
    }
}

// ---- a tiny server of recorded answers ----

/// The query strings each mode received.
type Queries = Arc<Mutex<Vec<(String, String)>>>;

fn with_price(price: &str) -> String {
    NORMAL.replacen(
        r#""trade_price":143250000.0"#,
        &format!(r#""trade_price":{price}"#),
        1,
    )
}

async fn recorded(
    State(queries): State<Queries>,
    Path(mode): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    queries
        .lock()
        .unwrap()
        .push((mode.clone(), query.unwrap_or_default()));
    let json = |status: StatusCode, body: String| {
        (
            status,
            [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
            body,
        )
            .into_response()
    };
    let ok = |body: &str| json(StatusCode::OK, body.to_string());
    match mode.as_str() {
        "normal" => ok(NORMAL),
        "exponent" => ok(EXPONENT),
        "missing" => ok(MISSING),
        "malformed" => ok(MALFORMED),
        "not-found" => json(StatusCode::NOT_FOUND, ERROR_404.to_string()),
        "bad-request" => json(StatusCode::BAD_REQUEST, ERROR_400.to_string()),
        "plain-404" => (StatusCode::NOT_FOUND, "<html>Not Found</html>").into_response(),
        "limited" => (StatusCode::TOO_MANY_REQUESTS, "Too many API requests.").into_response(),
        "blocked" => StatusCode::IM_A_TEAPOT.into_response(),
        "broken" => (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
        "down" => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        "redirect" => (
            StatusCode::FOUND,
            [(header::LOCATION, "https://example.com/")],
        )
            .into_response(),
        "html" => ok("<html>maintenance</html>"),
        "empty" => ok(""),
        "object" => ok(ERROR_404),
        "array-of-numbers" => ok("[1,2]"),
        "string-price" => ok(&with_price("\"143250000\"")),
        "negative-price" => ok(&with_price("-143250000")),
        "zero-price" => ok(&with_price("0.0")),
        "too-precise" => ok(&with_price("1.0000000000000000001")),
        "huge-price" => ok(&with_price("1e30")),
        "fractional-timestamp" => ok(&NORMAL.replacen(
            r#""timestamp":1767238155201"#,
            r#""timestamp":1767238155201.5"#,
            1,
        )),
        "no-timestamp" => ok(&NORMAL.replacen(r#","timestamp":1767238155201"#, "", 1)),
        "price-twice" => ok(&NORMAL.replacen(
            r#""trade_price":143250000.0"#,
            r#""trade_price":143250000.0,"trade_price":1"#,
            1,
        )),
        "market-twice" => ok(&format!(
            "[{0},{0}]",
            &MISSING[1..MISSING.find("},{").unwrap() + 1]
        )),
        "too-large" => ok(&format!(
            "[{}]",
            vec![" "; TICKER_ANSWER_BYTES_MAX].concat()
        )),
        other => panic!("unexpected mode {other}"),
    }
}

async fn start_recorded() -> (SocketAddr, Queries) {
    let queries = Queries::default();
    let app = Router::new()
        .route("/{mode}/v1/ticker", get(recorded))
        .with_state(queries.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (address, queries)
}

fn ticker_at(base_url: String, timeout_ms: u64, markets_per_request_max: usize) -> UpbitTicker {
    UpbitTicker::new(
        TickerConfig {
            base_url,
            timeout_ms,
            markets_per_request_max,
        },
        &tls::ClientTls::system(),
    )
    .unwrap()
}

fn recorded_ticker(address: SocketAddr, mode: &str) -> UpbitTicker {
    ticker_at(
        format!("http://{address}/{mode}/"),
        2_000,
        MARKETS_PER_REQUEST_MAX,
    )
}

fn assets(symbols: &[&str]) -> Vec<String> {
    symbols.iter().map(|symbol| symbol.to_string()).collect()
}

fn price(asset: &str, mantissa: u128, scale: u32, observed_at_s: u64) -> AssetPrice {
    AssetPrice {
        asset: asset.to_string(),
        krw_per_unit: Decimal { mantissa, scale },
        observed_at_s,
    }
}

async fn ask(ticker: &UpbitTicker, symbols: &[&str]) -> Result<Vec<AssetPrice>, PriceError> {
    ticker.prices(&assets(symbols)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_answers_give_exact_prices() {
    bounded(10, async {
        let (address, queries) = start_recorded().await;
        let normal = ask(
            &recorded_ticker(address, "normal"),
            &["BTC", "ETH", "XRP", "SHIB"],
        )
        .await;
        assert_eq!(
            normal,
            Ok(vec![
                price("BTC", 1_432_500_000, 1, 1_767_238_155),
                price("ETH", 4_812_000, 0, 1_767_238_155),
                price("XRP", 31_255, 1, 1_767_238_155),
                price("SHIB", 212, 4, 1_767_238_155),
            ])
        );
        assert_eq!(
            queries.lock().unwrap().last().unwrap(),
            &(
                "normal".to_string(),
                "markets=KRW-BTC,KRW-ETH,KRW-XRP,KRW-SHIB".to_string()
            )
        );

        // The answer's order does not matter: prices come back in the order asked.
        let reordered = ask(
            &recorded_ticker(address, "normal"),
            &["SHIB", "XRP", "ETH", "BTC"],
        )
        .await
        .unwrap();
        let order: Vec<_> = reordered.iter().map(|p| p.asset.as_str()).collect();
        assert_eq!(order, ["SHIB", "XRP", "ETH", "BTC"]);

        let exponent = ask(
            &recorded_ticker(address, "exponent"),
            &["BTC", "ETH", "BTT", "PEPE"],
        )
        .await;
        assert_eq!(
            exponent,
            Ok(vec![
                price("BTC", 143_250_000, 0, 1_767_238_155),
                price("ETH", 4_812_500, 0, 1_767_238_155),
                price("BTT", 56, 5, 1_767_238_155),
                price("PEPE", 1_234, 8, 1_767_238_155),
            ])
        );

        // A market the answer leaves out is absent, not an error.
        let missing = ask(&recorded_ticker(address, "missing"), &["BTC", "ETH", "XRP"]).await;
        assert_eq!(
            missing,
            Ok(vec![
                price("BTC", 1_432_500_000, 1, 1_767_238_155),
                price("XRP", 31_255, 1, 1_767_238_155),
            ])
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symbols_are_checked_upper_cased_and_asked_once() {
    bounded(10, async {
        let (address, queries) = start_recorded().await;
        let ticker = recorded_ticker(address, "missing");
        // `KRW-X`, `a,b` and the empty symbol cannot be markets: absent, never sent.
        let answer = ask(&ticker, &["btc", "KRW-X", "BTC", "", "a,b", "Xrp"]).await;
        assert_eq!(
            answer,
            Ok(vec![
                price("btc", 1_432_500_000, 1, 1_767_238_155),
                price("Xrp", 31_255, 1, 1_767_238_155),
            ])
        );
        assert_eq!(
            queries.lock().unwrap().last().unwrap().1,
            "markets=KRW-BTC,KRW-XRP"
        );
        // Nothing valid to ask: no request at all.
        let before = queries.lock().unwrap().len();
        assert_eq!(ask(&ticker, &["KRW-BTC", "%"]).await, Ok(vec![]));
        assert_eq!(ask(&ticker, &[]).await, Ok(vec![]));
        assert_eq!(queries.lock().unwrap().len(), before);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_answers_are_protocol_errors() {
    bounded(10, async {
        let (address, _queries) = start_recorded().await;
        let modes = [
            "malformed",
            "html",
            "empty",
            "object",
            "array-of-numbers",
            "string-price",
            "negative-price",
            "zero-price",
            "too-precise",
            "huge-price",
            "fractional-timestamp",
            "no-timestamp",
            "price-twice",
            "market-twice",
            "too-large",
        ];
        for mode in modes {
            let answer = ask(&recorded_ticker(address, mode), &["BTC", "ETH", "XRP"]).await;
            assert!(
                matches!(answer, Err(PriceError::Protocol(_))),
                "{mode}: {answer:?}"
            );
        }
        // A market the request did not name.
        let answer = ask(&recorded_ticker(address, "normal"), &["BTC"]).await;
        assert!(
            matches!(&answer, Err(PriceError::Protocol(message)) if message.contains("KRW-ETH")),
            "{answer:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_are_classified() {
    bounded(10, async {
        let (address, queries) = start_recorded().await;
        for mode in ["limited", "blocked", "broken", "down"] {
            let answer = ask(&recorded_ticker(address, mode), &["BTC"]).await;
            assert!(
                matches!(answer, Err(PriceError::Unavailable(_))),
                "{mode}: {answer:?}"
            );
        }
        for mode in ["bad-request", "plain-404", "redirect"] {
            let answer = ask(&recorded_ticker(address, mode), &["BTC"]).await;
            assert!(
                matches!(answer, Err(PriceError::Protocol(_))),
                "{mode}: {answer:?}"
            );
        }
        let refused = ask(&recorded_ticker(address, "bad-request"), &["BTC"]).await;
        assert!(
            matches!(&refused, Err(PriceError::Protocol(message)) if message.contains("validation_error")),
            "{refused:?}"
        );
        // Upbit's "Code not found": the market is not listed, so it is absent. For two
        // markets the adapter asks each half to learn which; here neither is listed.
        let before = queries.lock().unwrap().len();
        assert_eq!(
            ask(&recorded_ticker(address, "not-found"), &["NOPE"]).await,
            Ok(vec![])
        );
        assert_eq!(
            ask(&recorded_ticker(address, "not-found"), &["NOPE", "NADA"]).await,
            Ok(vec![])
        );
        let asked: Vec<String> = queries.lock().unwrap()[before..]
            .iter()
            .map(|(_, query)| query.clone())
            .collect();
        assert_eq!(
            asked,
            [
                "markets=KRW-NOPE",
                "markets=KRW-NOPE,KRW-NADA",
                "markets=KRW-NOPE",
                "markets=KRW-NADA"
            ]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_or_absent_server_is_unavailable_quickly() {
    bounded(10, async {
        // Accepts connections and never answers.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        let ticker = ticker_at(format!("http://{address}"), 200, MARKETS_PER_REQUEST_MAX);
        let started = Instant::now();
        let answer = ask(&ticker, &["BTC", "ETH"]).await;
        let took = started.elapsed();
        assert!(
            matches!(answer, Err(PriceError::Unavailable(_))),
            "{answer:?}"
        );
        assert!(
            took >= Duration::from_millis(190) && took < Duration::from_millis(700),
            "took {took:?}"
        );

        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_address = closed.local_addr().unwrap();
        drop(closed);
        let ticker = ticker_at(
            format!("http://{closed_address}"),
            2_000,
            MARKETS_PER_REQUEST_MAX,
        );
        let answer = ask(&ticker, &["BTC"]).await;
        assert!(
            matches!(answer, Err(PriceError::Unavailable(_))),
            "{answer:?}"
        );
    })
    .await;
}

#[test]
fn configurations_are_checked() {
    let tls = tls::ClientTls::system();
    let config = |base_url: &str, timeout_ms: u64, markets_per_request_max: usize| TickerConfig {
        base_url: base_url.to_string(),
        timeout_ms,
        markets_per_request_max,
    };
    assert_eq!(TickerConfig::default().base_url, "https://api.upbit.com");
    assert!(UpbitTicker::new(TickerConfig::default(), &tls).is_ok());
    assert!(UpbitTicker::new(config("http://127.0.0.1:1/prefix/", 1, 1), &tls).is_ok());
    for bad in [
        config("api.upbit.com", 1_000, 100),
        config("ftp://api.upbit.com", 1_000, 100),
        config("https://api.upbit.com/?x=1", 1_000, 100),
        config("https://api.upbit.com", 0, 100),
        config("https://api.upbit.com", 1_000, 0),
        config("https://api.upbit.com", 1_000, MARKETS_PER_REQUEST_MAX + 1),
    ] {
        assert!(UpbitTicker::new(bad.clone(), &tls).is_err(), "{bad:?}");
    }
}

// ---- against the simulator ----

struct TestTickerSim {
    base_url: String,
    prices: SimPrices,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestTickerSim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn start_ticker_sim(prices: SimPrices) -> TestTickerSim {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve_ticker_sim(listener, prices.clone(), async {
        let _ = stopped.await;
    }));
    TestTickerSim {
        base_url: format!("http://{address}"),
        prices,
        stop: Some(stop),
    }
}

fn prices_only(answer: &[AssetPrice]) -> Vec<(&str, Decimal)> {
    answer
        .iter()
        .map(|price| (price.asset.as_str(), price.krw_per_unit))
        .collect()
}

fn dec(mantissa: u128, scale: u32) -> Decimal {
    Decimal { mantissa, scale }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_serves_prices_that_change_while_it_runs() {
    bounded(10, async {
        let prices = SimPrices::from_pairs([
            ("BTC", "143250000"),
            ("ETH", "4.8125E+6"),
            ("PEPE", "1.234e-5"),
        ])
        .unwrap();
        let sim = start_ticker_sim(prices).await;
        let ticker = ticker_at(sim.base_url.clone(), 2_000, MARKETS_PER_REQUEST_MAX);
        let now_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let answer = ask(&ticker, &["BTC", "ETH", "PEPE"]).await.unwrap();
        assert_eq!(
            prices_only(&answer),
            [
                ("BTC", dec(143_250_000, 0)),
                ("ETH", dec(4_812_500, 0)),
                ("PEPE", dec(1_234, 8)),
            ]
        );
        assert!(answer.iter().all(|p| p.observed_at_s.abs_diff(now_s) <= 5));

        sim.prices.set("BTC", "143300000.5").unwrap();
        assert!(sim.prices.remove("ETH"));
        let answer = ask(&ticker, &["BTC", "PEPE"]).await.unwrap();
        assert_eq!(
            prices_only(&answer),
            [("BTC", dec(1_433_000_005, 1)), ("PEPE", dec(1_234, 8))]
        );

        // A price the adapter refuses, served as set.
        sim.prices.set("BTC", "1e-19").unwrap();
        assert!(matches!(
            ask(&ticker, &["BTC"]).await,
            Err(PriceError::Protocol(_))
        ));

        // The HTTP control surface changes the same prices.
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let put = http
            .put(format!("{}/sim/v1/prices/btc", sim.base_url))
            .body("150000000")
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 204);
        let bad = http
            .put(format!("{}/sim/v1/prices/BTC", sim.base_url))
            .body("a lot")
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);
        assert_eq!(sim.prices.get("BTC").as_deref(), Some("150000000"));
        let listed: serde_json::Value = http
            .get(format!("{}/sim/v1/prices", sim.base_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            listed,
            serde_json::json!({"BTC": "150000000", "PEPE": "1.234e-5"})
        );
        let deleted = http
            .delete(format!("{}/sim/v1/prices/PEPE", sim.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
        let answer = ask(&ticker, &["BTC", "PEPE"]).await.unwrap();
        assert_eq!(prices_only(&answer), [("BTC", dec(150_000_000, 0))]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_answers_unknown_markets_as_upbit_does() {
    bounded(10, async {
        let prices =
            SimPrices::from_pairs([("BTC", "143250000"), ("ETH", "4812000"), ("XRP", "3125.5")])
                .unwrap();
        let sim = start_ticker_sim(prices).await;
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let raw = |query: &'static str| {
            let http = http.clone();
            let url = format!("{}/v1/ticker{query}", sim.base_url);
            async move {
                let response = http.get(url).send().await.unwrap();
                let status = response.status().as_u16();
                let remaining = response
                    .headers()
                    .get("remaining-req")
                    .map(|value| value.to_str().unwrap().to_string());
                (status, response.text().await.unwrap(), remaining)
            }
        };
        let (status, body, remaining) = raw("?markets=KRW-NOPE").await;
        assert_eq!(status, 404);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            serde_json::from_str::<serde_json::Value>(ERROR_404).unwrap()
        );
        assert!(remaining.unwrap().starts_with("group=ticker"));
        // Codes are case-sensitive; only KRW markets exist.
        assert_eq!(raw("?markets=krw-btc").await.0, 404);
        assert_eq!(raw("?markets=BTC-ETH").await.0, 404);
        assert_eq!(raw("?markets=KRW-BTC,KRW-NOPE").await.0, 404);
        assert_eq!(raw("").await.0, 400);
        assert_eq!(raw("?markets=").await.0, 400);
        let (status, body, _) = raw("?markets=KRW-ETH,KRW-BTC").await;
        assert_eq!(status, 200);
        let snapshots: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(snapshots[0]["market"], "KRW-ETH");
        assert_eq!(snapshots[1]["market"], "KRW-BTC");
        for member in [
            "trade_date",
            "trade_time_kst",
            "trade_timestamp",
            "change",
            "timestamp",
        ] {
            assert!(snapshots[0].get(member).is_some(), "{member}");
        }

        // One unknown market fails the whole request: the adapter splits it until the
        // listed markets are priced and the unknown one is known to be absent.
        let ticker = ticker_at(sim.base_url.clone(), 2_000, MARKETS_PER_REQUEST_MAX);
        let before = sim.prices.request_count();
        let answer = ask(&ticker, &["BTC", "NOPE", "ETH", "XRP"]).await.unwrap();
        let expected = [
            ("BTC", dec(143_250_000, 0)),
            ("ETH", dec(4_812_000, 0)),
            ("XRP", dec(31_255, 1)),
        ];
        assert_eq!(prices_only(&answer), expected);
        // [BTC NOPE ETH XRP] → [BTC NOPE] → [BTC], [NOPE]; then [ETH XRP].
        assert_eq!(sim.prices.request_count() - before, 5);

        // Left out instead: one request does it.
        sim.prices
            .set_unknown_markets(UnknownMarkets::NotFoundIfAll);
        let before = sim.prices.request_count();
        let answer = ask(&ticker, &["BTC", "NOPE", "ETH", "XRP"]).await.unwrap();
        assert_eq!(prices_only(&answer), expected);
        assert_eq!(sim.prices.request_count() - before, 1);
        assert_eq!(ask(&ticker, &["NOPE"]).await, Ok(vec![]));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markets_past_the_request_limit_are_split_into_several_requests() {
    bounded(20, async {
        let symbols: Vec<String> = (0..=MARKETS_PER_REQUEST_MAX)
            .map(|n| format!("C{n:03}"))
            .collect();
        let prices = SimPrices::new();
        for (n, symbol) in symbols.iter().enumerate() {
            prices.set(symbol, &format!("{}.5", n + 1)).unwrap();
        }
        let sim = start_ticker_sim(prices).await;
        let ticker = ticker_at(sim.base_url.clone(), 5_000, MARKETS_PER_REQUEST_MAX);

        // Exactly the limit: one request.
        let at_limit = &symbols[..MARKETS_PER_REQUEST_MAX];
        let answer = ticker.prices(at_limit).await.unwrap();
        assert_eq!(answer.len(), MARKETS_PER_REQUEST_MAX);
        let sizes: Vec<usize> = sim.prices.requests().iter().map(Vec::len).collect();
        assert_eq!(sizes, [MARKETS_PER_REQUEST_MAX]);

        // One past it: two requests, every price answered, in the order asked.
        let answer = ticker.prices(&symbols).await.unwrap();
        assert_eq!(answer.len(), MARKETS_PER_REQUEST_MAX + 1);
        for (n, (price, symbol)) in answer.iter().zip(&symbols).enumerate() {
            assert_eq!(&price.asset, symbol);
            let expected = u128::try_from(n + 1).unwrap() * 10 + 5;
            assert_eq!(price.krw_per_unit, dec(expected, 1));
        }
        let sizes: Vec<usize> = sim.prices.requests().iter().map(Vec::len).collect();
        assert_eq!(sizes, [MARKETS_PER_REQUEST_MAX, MARKETS_PER_REQUEST_MAX, 1]);
        let last = sim.prices.requests().last().unwrap().clone();
        assert_eq!(last, [format!("KRW-C{MARKETS_PER_REQUEST_MAX:03}")]);

        // The simulator answers at most the limit, as Upbit does: without the split the
        // 101st price would be lost.
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let markets: Vec<String> = symbols.iter().map(|s| format!("KRW-{s}")).collect();
        let body: serde_json::Value = http
            .get(format!(
                "{}/v1/ticker?markets={}",
                sim.base_url,
                markets.join(",")
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body.as_array().unwrap().len(), MARKETS_PER_REQUEST_MAX);

        // A smaller configured limit: 5 markets by 2.
        let small = ticker_at(sim.base_url.clone(), 5_000, 2);
        let before = sim.prices.requests().len();
        let answer = small.prices(&symbols[..5]).await.unwrap();
        assert_eq!(answer.len(), 5);
        let sizes: Vec<usize> = sim.prices.requests()[before..]
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [2, 2, 1]);
    })
    .await;
}
