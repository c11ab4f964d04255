//! Observability: what `GET /metrics` exports, each request's latency by route, and request
//! ids.
//!
//! - **The exporter.** Metrics go through the `metrics` facade into the Prometheus recorder
//!   of `metrics-exporter-prometheus`, installed once per process on first use
//!   ([`exporter`]): the adapters (`gateways`, `chain`) record their calls through the same
//!   facade, and every [`AppState`] of the process renders the same recorder. The exporter
//!   runs no listener of its own: the router serves its text at `GET /metrics`.
//! - **Per route.** [`observe`] wraps every route (and the fallback): it times the request
//!   into [`HTTP_REQUEST_DURATION_SECONDS`] and counts it in [`HTTP_REQUESTS_TOTAL`], both
//!   labelled `method`, `route` and `status`. `route` is the matched path template
//!   (`/v1/me/partner-links/{id}`), never the raw path, and `method` is one of a fixed few,
//!   so the number of series is bounded by the routes, not by the traffic; a request that
//!   matches no route is `route="unmatched"`. The time is until the response's head is
//!   ready: a streamed body (a CSV report) goes on after it.
//! - **At scrape time.** [`render`] sets what the state knows now (the ledger's counters and
//!   queue depths, exchanges by status, the working sets' depths, the anchoring lag) and
//!   renders, under one lock, so two servers of one process (tests) never mix their figures
//!   into one answer. Every figure is in memory except exchanges by status, one grouped
//!   count.
//! - **Request ids.** A request's `X-Request-Id` is kept when it is 1 to
//!   [`REQUEST_ID_BYTES_MAX`] visible ASCII characters, else replaced by a random 128-bit
//!   hex id; it is echoed in the response and carried by a tracing span around the request,
//!   so every log line the request causes names it. (tower-http's request-id layers keep
//!   any incoming id unchecked, so one middleware of ours checks, makes, echoes and spans.)

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use ports::call_metrics::{CHAIN_CALL_DURATION_SECONDS, PARTNER_CALL_DURATION_SECONDS};
use tracing::Instrument;

use crate::AppState;

/// Requests by method, matched route and status: a histogram of their durations.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "mileverse_http_request_duration_seconds";
/// Requests by method, matched route and status: a counter.
pub const HTTP_REQUESTS_TOTAL: &str = "mileverse_http_requests_total";
/// `1`, labelled with the version the binary was built from.
pub const BUILD_INFO: &str = "mileverse_build_info";
/// The `route` label of a request that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";
/// The `method` label of a method outside the usual few (it could be anything).
pub const OTHER_METHOD: &str = "other";

/// The request id's header, in both directions.
pub static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");
/// Longest incoming request id kept; a longer one is replaced.
pub const REQUEST_ID_BYTES_MAX: usize = 64;

/// Bucket bounds of HTTP request durations: a millisecond (a cached read) to ten seconds
/// (a large batch behind a slow disk).
const HTTP_DURATION_BUCKETS_SECONDS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Bucket bounds of calls out (partners, the chain node): up to two minutes, since a chain
/// transaction waits for its confirmations.
const CALL_DURATION_BUCKETS_SECONDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];
/// How often histogram samples are folded into their buckets between scrapes, so memory
/// stays bounded when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The ledger's counters and gauges, by name: the names `/metrics` always had.
const LEDGER_REQUESTS_TOTAL: &str = "mileverse_ledger_requests_total";
const LEDGER_ACCOUNTS_CREATED_TOTAL: &str = "mileverse_ledger_accounts_created_total";
const LEDGER_TRANSFERS_COMMITTED_TOTAL: &str = "mileverse_ledger_transfers_committed_total";
const LEDGER_BLOCKS_WRITTEN_TOTAL: &str = "mileverse_ledger_blocks_written_total";
const STORE_APPENDS_TOTAL: &str = "mileverse_store_appends_total";
const STORE_APPEND_MICROSECONDS_TOTAL: &str = "mileverse_store_append_microseconds_total";
const LEDGER_BLOCK_HEIGHT: &str = "mileverse_ledger_block_height";
const LEDGER_TREE_SIZE: &str = "mileverse_ledger_tree_size";
const LEDGER_REQUESTS_IN_FLIGHT: &str = "mileverse_ledger_requests_in_flight";
const LEDGER_REQUEST_QUEUE_DEPTH: &str = "mileverse_ledger_request_queue_depth";
const EXCHANGES: &str = "mileverse_exchanges";
const EXCHANGES_OPEN: &str = "mileverse_exchanges_open";
const EXCHANGE_CANCELS_PENDING: &str = "mileverse_exchange_cancels_pending";
const CONVERSIONS_OPEN: &str = "mileverse_conversions_open";
const ANCHORING_LAG_BLOCKS: &str = "mileverse_anchoring_lag_blocks";
const ANCHORING_LAG_TRANSFERS: &str = "mileverse_anchoring_lag_transfers";
const ANCHORING_LAG_SECONDS: &str = "mileverse_anchoring_lag_seconds";

/// The process's recorder, and the lock that makes a scrape's set-then-render one step.
pub struct Exporter {
    handle: PrometheusHandle,
    scrape: Mutex<()>,
}

static EXPORTER: OnceLock<Exporter> = OnceLock::new();

/// The process's exporter, installed as the global `metrics` recorder on first use:
/// [`crate::router`] calls it, and so does `mileverse serve` before its jobs start (a figure
/// recorded before the recorder exists is lost).
pub fn exporter() -> &'static Exporter {
    EXPORTER.get_or_init(|| {
        let handle = match builder().install_recorder() {
            Ok(handle) => handle,
            // Another recorder is the process's (an embedding program's): ours then renders
            // only its own build info; the figures go to the other one.
            Err(error) => {
                tracing::warn!(%error, "another metrics recorder is installed; /metrics shows little");
                builder().build_recorder().handle()
            }
        };
        describe();
        metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_INTERVAL);
                    upkeep.run_upkeep();
                }
            });
        // Without it a scrape still folds the samples in; only memory between scrapes grows.
        if let Err(error) = spawned {
            tracing::warn!(%error, "cannot start the metrics upkeep thread");
        }
        Exporter {
            handle,
            scrape: Mutex::new(()),
        }
    })
}

fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(HTTP_REQUEST_DURATION_SECONDS.into()),
            &HTTP_DURATION_BUCKETS_SECONDS,
        )
        .and_then(|builder| {
            builder.set_buckets_for_metric(
                Matcher::Full(PARTNER_CALL_DURATION_SECONDS.into()),
                &CALL_DURATION_BUCKETS_SECONDS,
            )
        })
        .and_then(|builder| {
            builder.set_buckets_for_metric(
                Matcher::Full(CHAIN_CALL_DURATION_SECONDS.into()),
                &CALL_DURATION_BUCKETS_SECONDS,
            )
        })
        .expect("the bucket lists are constants, none empty")
}

/// The `# HELP` lines.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(
        HTTP_REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "HTTP requests by method, matched route and status: time to the response's head."
    );
    describe_counter!(
        HTTP_REQUESTS_TOTAL,
        "HTTP requests by method, matched route and status."
    );
    describe_histogram!(
        PARTNER_CALL_DURATION_SECONDS,
        Unit::Seconds,
        "Partner protocol calls by operation and outcome."
    );
    describe_histogram!(
        CHAIN_CALL_DURATION_SECONDS,
        Unit::Seconds,
        "Chain node calls by operation and outcome."
    );
    describe_gauge!(BUILD_INFO, "The version this binary was built from.");
    describe_counter!(
        LEDGER_REQUESTS_TOTAL,
        "Requests submitted to the sequencer."
    );
    describe_counter!(LEDGER_ACCOUNTS_CREATED_TOTAL, "Accounts created.");
    describe_counter!(LEDGER_TRANSFERS_COMMITTED_TOTAL, "Transfers committed.");
    describe_counter!(LEDGER_BLOCKS_WRITTEN_TOTAL, "Journal blocks written.");
    describe_counter!(STORE_APPENDS_TOTAL, "Store transactions (group commits).");
    describe_counter!(
        STORE_APPEND_MICROSECONDS_TOTAL,
        Unit::Microseconds,
        "Time spent in store transactions."
    );
    describe_gauge!(LEDGER_BLOCK_HEIGHT, "Height of the latest durable block.");
    describe_gauge!(LEDGER_TREE_SIZE, "Transfers in the durable Merkle log.");
    describe_gauge!(
        LEDGER_REQUESTS_IN_FLIGHT,
        "Ledger requests submitted and not answered yet."
    );
    describe_gauge!(
        LEDGER_REQUEST_QUEUE_DEPTH,
        "Ledger requests waiting in the queue for the sequencer."
    );
    describe_gauge!(EXCHANGES, "Exchanges by status.");
    describe_gauge!(
        EXCHANGES_OPEN,
        "Exchanges waiting for the partner's answer or the resolver."
    );
    describe_gauge!(
        EXCHANGE_CANCELS_PENDING,
        "Failed exchanges whose cancel at the partner is still owed."
    );
    describe_gauge!(CONVERSIONS_OPEN, "Conversions waiting for the chain.");
    describe_gauge!(
        ANCHORING_LAG_BLOCKS,
        "Blocks past the latest anchored checkpoint."
    );
    describe_gauge!(
        ANCHORING_LAG_TRANSFERS,
        "Transfers in the log past the latest anchored checkpoint."
    );
    describe_gauge!(
        ANCHORING_LAG_SECONDS,
        Unit::Seconds,
        "Seconds since the latest anchoring's block time."
    );
}

/// The Prometheus text of the process's metrics, with `state`'s figures as of now.
pub async fn render(state: &AppState) -> String {
    let exporter = exporter();
    let ledger = state.ledger.metrics();
    // The one query of a scrape, made before the lock (it awaits).
    let (exchanges, work) = match &state.platform {
        Some(platform) => (
            platform.exchange_counts_recent().await.ok(),
            Some(platform.work_gauges()),
        ),
        None => (None, None),
    };
    let _scrape = exporter
        .scrape
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let counters = [
        (LEDGER_REQUESTS_TOTAL, ledger.requests),
        (LEDGER_ACCOUNTS_CREATED_TOTAL, ledger.accounts_created),
        (LEDGER_TRANSFERS_COMMITTED_TOTAL, ledger.transfers_committed),
        (LEDGER_BLOCKS_WRITTEN_TOTAL, ledger.blocks_written),
        (STORE_APPENDS_TOTAL, ledger.store_appends),
        (STORE_APPEND_MICROSECONDS_TOTAL, ledger.store_append_micros),
    ];
    for (name, value) in counters {
        metrics::counter!(name).absolute(value);
    }
    let gauges = [
        (LEDGER_BLOCK_HEIGHT, ledger.block_height),
        (LEDGER_TREE_SIZE, ledger.tree_size),
        (LEDGER_REQUESTS_IN_FLIGHT, ledger.requests_in_flight),
        (LEDGER_REQUEST_QUEUE_DEPTH, ledger.request_queue_depth),
    ];
    for (name, value) in gauges {
        set_gauge(name, value);
    }
    for (status, count) in exchanges.into_iter().flatten() {
        metrics::gauge!(EXCHANGES, "status" => status.as_str()).set(count as f64);
    }
    if let Some(work) = work {
        set_gauge(EXCHANGES_OPEN, work.exchanges_open);
        set_gauge(EXCHANGE_CANCELS_PENDING, work.exchange_cancels_pending);
        set_gauge(CONVERSIONS_OPEN, work.conversions_open);
        if let Some(lag) = work.anchoring_lag {
            set_gauge(ANCHORING_LAG_BLOCKS, lag.blocks);
            set_gauge(ANCHORING_LAG_TRANSFERS, lag.transfers);
            if let Some(seconds) = lag.since_anchored_seconds {
                set_gauge(ANCHORING_LAG_SECONDS, seconds);
            }
        }
    }
    exporter.handle.render()
}

/// Heights and counts are far below 2^53, where an f64 stops being exact.
fn set_gauge(name: &'static str, value: u64) {
    metrics::gauge!(name).set(value as f64);
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain")))]
pub async fn metrics_handler(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> impl IntoResponse {
    let text = render(&state).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}

/// The middleware around every route: request id, span, duration and count.
pub async fn observe(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED_ROUTE.to_string(), |path| path.as_str().into());
    let request_id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .filter(|value| request_id_is_valid(value.as_bytes()))
        .cloned()
        .unwrap_or_else(new_request_id);
    // Handlers behind see the id that is echoed, not one that was refused.
    request
        .headers_mut()
        .insert(REQUEST_ID_HEADER.clone(), request_id.clone());
    let id_text = String::from_utf8_lossy(request_id.as_bytes()).into_owned();
    // At ERROR level so the span exists whenever any log line does: a span below the
    // filter's level would be dropped, and a warning inside it would lose its request id.
    let span = tracing::error_span!("request", request_id = %id_text, method, route = %route);
    let mut response = next.run(request).instrument(span.clone()).await;
    response
        .headers_mut()
        .insert(REQUEST_ID_HEADER.clone(), request_id);
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let labels = [
        ("method", method.to_string()),
        ("route", route),
        ("status", status.to_string()),
    ];
    metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, &labels).record(elapsed.as_secs_f64());
    metrics::counter!(HTTP_REQUESTS_TOTAL, &labels).increment(1);
    span.in_scope(|| {
        let duration_ms = elapsed.as_secs_f64() * 1000.0;
        tracing::debug!(status, duration_ms, "request answered");
    });
    response
}

/// The `method` label: the usual methods by name, anything else as [`OTHER_METHOD`] (a
/// client may send any token as a method).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => OTHER_METHOD,
    }
}

/// 1 to [`REQUEST_ID_BYTES_MAX`] visible ASCII characters (no space, no control).
pub fn request_id_is_valid(id: &[u8]) -> bool {
    (1..=REQUEST_ID_BYTES_MAX).contains(&id.len()) && id.iter().all(u8::is_ascii_graphic)
}

/// A random 128-bit id in lowercase hex.
fn new_request_id() -> HeaderValue {
    let id = format!("{:032x}", rand::random::<u128>());
    HeaderValue::from_str(&id).expect("hex digits are a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_checked() {
        assert!(request_id_is_valid(b"a"));
        assert!(request_id_is_valid(b"req-42_ABC:/.~"));
        assert!(request_id_is_valid(&[b'x'; REQUEST_ID_BYTES_MAX]));
        assert!(!request_id_is_valid(b""));
        assert!(!request_id_is_valid(&[b'x'; REQUEST_ID_BYTES_MAX + 1]));
        assert!(!request_id_is_valid(b"has space"));
        assert!(!request_id_is_valid(b"tab\there"));
        assert!(!request_id_is_valid("caf\u{e9}".as_bytes()));
    }

    #[test]
    fn new_request_ids_are_128_bit_hex_and_differ() {
        let first = new_request_id();
        let second = new_request_id();
        assert_eq!(first.len(), 32);
        assert!(first.as_bytes().iter().all(u8::is_ascii_hexdigit));
        assert!(request_id_is_valid(first.as_bytes()));
        assert_ne!(first, second);
    }

    #[test]
    fn methods_outside_the_usual_are_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        let odd = Method::from_bytes(b"FROBNICATE").expect("a method token");
        assert_eq!(method_label(&odd), OTHER_METHOD);
        assert_eq!(method_label(&Method::TRACE), OTHER_METHOD);
    }
}
