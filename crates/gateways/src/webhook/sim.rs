//! A merchant's webhook receiver, as a simulator over a socket: it checks every delivery's
//! `Mileverse-Signature` (Stripe's scheme, `ports::webhook`) with the endpoint's secret and
//! keeps what arrived, so tests and demos see exactly what a merchant's server would.
//!
//! - `POST /webhooks`: a delivery. A good signature within 300 s answers `200 {"received":
//!   true}` and counts the `Mileverse-Event-Id` (a second delivery of one id is counted, not
//!   hidden: tests assert there is none). A bad or missing signature answers `400` and
//!   counts as refused. While told to fail (`/sim/v1/fail`), it answers `503` instead.
//! - Control (unsigned: keep it on loopback): `GET /sim/v1/deliveries` (every event id
//!   received, with its type, how many times, and the body first received), `PUT
//!   /sim/v1/secret` (the body is the secret the server showed when the endpoint was set),
//!   `PUT /sim/v1/fail` with `true` or `false`.
//! - At most [`RECEIVED_EVENTS_MAX`] event ids are kept; bodies of at most
//!   [`BODY_BYTES_MAX`] bytes are read.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use ports::webhook::{EVENT_ID_HEADER, SIGNATURE_HEADER, SIGNATURE_TOLERANCE_S};
use serde::Serialize;
use tokio::net::TcpListener;

/// Event ids the receiver remembers; past it, new ids are refused (`507`).
pub const RECEIVED_EVENTS_MAX: usize = 100_000;
/// Largest delivery body read.
pub const BODY_BYTES_MAX: usize = 64 * 1024;

/// One event id as the receiver saw it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Received {
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub count: u64,
    pub body: serde_json::Value,
}

#[derive(Default)]
struct ReceiverState {
    secret: Vec<u8>,
    failing: bool,
    refused: u64,
    received: BTreeMap<String, Received>,
}

/// The receiver's state, shared by the server and a test that runs it in process.
#[derive(Clone, Default)]
pub struct WebhookReceiver(Arc<Mutex<ReceiverState>>);

impl WebhookReceiver {
    pub fn new(secret: &str) -> WebhookReceiver {
        let receiver = WebhookReceiver::default();
        receiver.set_secret(secret);
        receiver
    }

    fn state(&self) -> MutexGuard<'_, ReceiverState> {
        self.0.lock().expect("receiver lock")
    }

    pub fn set_secret(&self, secret: &str) {
        self.state().secret = secret.as_bytes().to_vec();
    }

    pub fn set_failing(&self, failing: bool) {
        self.state().failing = failing;
    }

    /// Every event id received, in id order.
    pub fn received(&self) -> Vec<Received> {
        self.state().received.values().cloned().collect()
    }

    /// Deliveries refused for their signature.
    pub fn refused(&self) -> u64 {
        self.state().refused
    }

    fn receive(&self, headers: &HeaderMap, body: &[u8]) -> (StatusCode, &'static str) {
        let mut state = self.state();
        if state.failing {
            return (StatusCode::SERVICE_UNAVAILABLE, "failing on purpose");
        }
        let header = headers
            .get(SIGNATURE_HEADER)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        let now = ports::time::now_s();
        let checked = ports::webhook::verify_signature_header(
            &state.secret,
            header,
            body,
            now,
            SIGNATURE_TOLERANCE_S,
        );
        let event_id = headers
            .get(EVENT_ID_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let (Ok(_), Some(event_id), Some(parsed)) = (checked, event_id, parsed) else {
            state.refused += 1;
            return (StatusCode::BAD_REQUEST, "bad signature or body");
        };
        let full = state.received.len() >= RECEIVED_EVENTS_MAX;
        match state.received.get_mut(&event_id) {
            Some(known) => known.count += 1,
            None if full => return (StatusCode::INSUFFICIENT_STORAGE, "full"),
            None => {
                let kind = parsed["type"].as_str().unwrap_or_default().to_string();
                let received = Received {
                    event_id: event_id.clone(),
                    kind,
                    count: 1,
                    body: parsed,
                };
                state.received.insert(event_id, received);
            }
        }
        (StatusCode::OK, "")
    }
}

async fn deliver(
    State(receiver): State<WebhookReceiver>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match receiver.receive(&headers, &body) {
        (StatusCode::OK, _) => axum::Json(serde_json::json!({"received": true})).into_response(),
        (status, text) => (status, text).into_response(),
    }
}

async fn deliveries(State(receiver): State<WebhookReceiver>) -> Response {
    let body = serde_json::json!({
        "deliveries": receiver.received(),
        "refused": receiver.refused(),
    });
    axum::Json(body).into_response()
}

async fn set_secret(State(receiver): State<WebhookReceiver>, body: String) -> StatusCode {
    receiver.set_secret(body.trim());
    StatusCode::NO_CONTENT
}

async fn set_failing(State(receiver): State<WebhookReceiver>, body: String) -> StatusCode {
    match body.trim() {
        "true" => receiver.set_failing(true),
        "false" => receiver.set_failing(false),
        _ => return StatusCode::BAD_REQUEST,
    }
    StatusCode::NO_CONTENT
}

/// The receiver's routes.
pub fn receiver_router(receiver: WebhookReceiver) -> Router {
    Router::new()
        .route("/webhooks", post(deliver))
        .route("/sim/v1/deliveries", get(deliveries))
        .route("/sim/v1/secret", put(set_secret))
        .route("/sim/v1/fail", put(set_failing))
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .with_state(receiver)
}

/// Serves the receiver on `listener` until `shutdown` completes.
pub async fn serve_receiver(
    listener: TcpListener,
    receiver: WebhookReceiver,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(listener, receiver_router(receiver))
        .with_graceful_shutdown(shutdown)
        .await
}
