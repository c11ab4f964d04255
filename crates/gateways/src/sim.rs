//! The partner simulator: the partner protocol's server side (docs/partner-protocol.md), in
//! memory, with injectable faults.
//!
//! Every member ref not seen before exists with [`SimConfig::initial_mileage`] (so the
//! simulator never answers `unknown_member`). Balances and debits by reference live in one
//! `Mutex`; nothing is ever forgotten, which suits tests and load runs, not production.
//!
//! **Authentication.** Every protocol request must carry the `X-Mileverse-*` headers; the
//! simulator accepts any partner key and checks the signature with [`SimConfig::secret`],
//! then the timestamp and nonce with a [`ReplayGuard`]. Failures answer 401 unsigned.
//!
//! **Faults** ([`Faults`]) apply to every authenticated protocol call. At most one of
//! timeout, error, error-after-apply, late and duplicate hits a request: one uniform draw
//! from a seeded RNG is compared with the rates added up in that order (so with
//! `timeout_rate` 0.1 and `error_rate` 0.2, draws below 0.1 time out and draws in
//! [0.1, 0.3) answer 503). `slow_ms` delays
//! every answer (the call is processed first, so a caller that gives up early cannot undo
//! it; the same holds for `late`). A `timeout` holds the request for `timeout_ms` and
//! then drops the connection without applying it (when served by [`serve_sim`]; a bare
//! [`router`] cannot drop a connection and answers a signed 504 instead).
//!
//! **HTTPS.** [`serve_sim`] with a [`tls::ServerTls`] serves the same over TLS (the faults
//! work the same: a dropped connection is dropped under TLS too), so tests can run a partner
//! at an `https://` URL with a private CA.
//!
//! **Control surface** (`/sim/v1/...`): unsigned, for tests and operators only — bind the
//! simulator to loopback. `GET`/`PUT /sim/v1/faults` read and replace the faults at runtime
//! (a `PUT` also reseeds the RNG from the new `seed`), `GET /sim/v1/members/{ref}`,
//! `GET /sim/v1/debits` and `GET /sim/v1/stats` show state and counters, and
//! `PUT /sim/v1/members/{ref}/password` gives a member a password of its own.
//!
//! **Members** are known by their canonical ref ([`canonical_ref`]: upper case), so `abc`
//! and `ABC` are one membership; answers repeat the ref as the request wrote it.
//!
//! **The ownership step** (`/oauth/authorize`, `POST /partner/v1/oauth/token`) is in
//! [`oauth`]: a login form for the member and single-use PKCE-bound codes. The token
//! endpoint is authenticated like every protocol call but takes no faults: faults are about
//! the exchange's exactly-once, and a duplicated redemption would only burn the code.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::{IncomingStream, Listener};
use ports::signing::{ReplayError, ReplayGuard, SignedParts, sign_response, verify_request};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::protocol::{
    self, BalanceAnswer, CancelAnswer, DebitAnswer, DebitBody, ErrorAnswer, HEADER_KEY,
    HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, StatusAnswer, codes, statuses,
};

pub mod browser;
pub mod oauth;
pub use oauth::{CODE_EXPIRY_S, DEFAULT_MEMBER_PASSWORD, canonical_ref};

/// Largest protocol request body accepted (a debit is under 200 bytes).
pub const SIM_BODY_BYTES_MAX: usize = 16 * 1024;

/// The simulator's configuration.
#[derive(Clone)]
pub struct SimConfig {
    /// Shared HMAC secret; requests are checked and answers signed with it.
    pub secret: Vec<u8>,
    /// Mileage of every member the first time it is seen.
    pub initial_mileage: u64,
    pub faults: Faults,
    /// Every member's password at the login form until it is given its own.
    pub member_password: String,
    /// How long an authorization code can be redeemed.
    pub code_expiry_s: u64,
}

impl SimConfig {
    /// A simulator with `secret`, 1,000,000 mileage per member, the default password and
    /// code expiry, and no faults.
    pub fn new(secret: impl Into<Vec<u8>>) -> SimConfig {
        SimConfig {
            secret: secret.into(),
            initial_mileage: DEFAULT_INITIAL_MILEAGE,
            faults: Faults::default(),
            member_password: DEFAULT_MEMBER_PASSWORD.to_string(),
            code_expiry_s: CODE_EXPIRY_S,
        }
    }
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("secret", &"<redacted>")
            .field("initial_mileage", &self.initial_mileage)
            .field("faults", &self.faults)
            .field("member_password", &"<redacted>")
            .field("code_expiry_s", &self.code_expiry_s)
            .finish()
    }
}

/// Default [`SimConfig::initial_mileage`].
pub const DEFAULT_INITIAL_MILEAGE: u64 = 1_000_000;

/// Injected faults. Rates are probabilities in `[0, 1]` and must add up to at most 1.
/// Missing fields in JSON take their defaults; unknown fields are refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Hold the request for `timeout_ms`, then drop the connection without applying it.
    pub timeout_rate: f64,
    pub timeout_ms: u64,
    /// Answer 503 without applying.
    pub error_rate: f64,
    /// Apply, then answer 500: the caller cannot know it was applied.
    pub error_after_apply_rate: f64,
    /// Apply, then answer only after `late_ms` ("success after a timeout").
    pub late_rate: f64,
    pub late_ms: u64,
    /// Deliver the request twice (the second delivery takes the same idempotency path) and
    /// answer the second result.
    pub duplicate_rate: f64,
    /// Delay every answer by this many milliseconds (the call is processed first).
    pub slow_ms: u64,
    /// Seed of the fault RNG: the same seed and request order give the same faults.
    pub seed: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            timeout_rate: 0.0,
            timeout_ms: 2_000,
            error_rate: 0.0,
            error_after_apply_rate: 0.0,
            late_rate: 0.0,
            late_ms: 2_000,
            duplicate_rate: 0.0,
            slow_ms: 0,
            seed: 0,
        }
    }
}

impl Faults {
    fn rates(&self) -> [(&'static str, f64); 5] {
        [
            ("timeout_rate", self.timeout_rate),
            ("error_rate", self.error_rate),
            ("error_after_apply_rate", self.error_after_apply_rate),
            ("late_rate", self.late_rate),
            ("duplicate_rate", self.duplicate_rate),
        ]
    }

    /// Checks every rate is in `[0, 1]` and that they add up to at most 1.
    pub fn validate(&self) -> Result<(), String> {
        let mut sum = 0.0;
        for (name, rate) in self.rates() {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1, not {rate}"));
            }
            sum += rate;
        }
        if sum > 1.0 + 1e-9 {
            return Err(format!(
                "the fault rates add up to {sum}; at most one fault hits a request, so they \
                 must add up to at most 1"
            ));
        }
        Ok(())
    }

    fn any(&self) -> bool {
        self.rates().iter().any(|(_, rate)| *rate > 0.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Timeout,
    Error,
    ErrorAfterApply,
    Late,
    Duplicate,
}

/// What one request is subjected to, decided once when it arrives.
#[derive(Clone, Copy, Debug)]
struct Plan {
    fault: Option<Fault>,
    slow_ms: u64,
    timeout_ms: u64,
    late_ms: u64,
}

struct FaultState {
    faults: Faults,
    rng: StdRng,
}

#[derive(Debug)]
struct Member {
    mileage: u64,
    /// Mileage of this member's references currently `debited`.
    debited_total: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DebitState {
    Debited,
    Cancelled,
}

#[derive(Debug)]
struct Debit {
    /// `None` for a reference cancelled before any debit arrived.
    member_ref: Option<String>,
    mileage: u64,
    balance_after: u64,
    state: DebitState,
}

#[derive(Default)]
struct Book {
    /// By canonical member ref.
    members: HashMap<String, Member>,
    debits: HashMap<String, Debit>,
}

impl Book {
    /// The member's mileage (a member not seen yet has the initial mileage).
    fn mileage(&self, member_ref: &str, initial_mileage: u64) -> u64 {
        self.members
            .get(&canonical_ref(member_ref))
            .map_or(initial_mileage, |member| member.mileage)
    }

    /// The member, created with the initial mileage the first time it is seen.
    fn member_mut(&mut self, member_ref: &str, initial_mileage: u64) -> &mut Member {
        self.members
            .entry(canonical_ref(member_ref))
            .or_insert(Member {
                mileage: initial_mileage,
                debited_total: 0,
            })
    }
}

#[derive(Default)]
struct Stats {
    balance: AtomicU64,
    debit: AtomicU64,
    cancel: AtomicU64,
    status: AtomicU64,
    token: AtomicU64,
    auth_failures: AtomicU64,
    timeout: AtomicU64,
    error: AtomicU64,
    error_after_apply: AtomicU64,
    late: AtomicU64,
    duplicate: AtomicU64,
}

struct Sim {
    secret: Vec<u8>,
    initial_mileage: u64,
    member_password: String,
    code_expiry_s: u64,
    guard: ReplayGuard,
    book: Mutex<Book>,
    authorizations: Mutex<oauth::Authorizations>,
    faults: Mutex<FaultState>,
    stats: Stats,
}

/// One protocol operation, with its path parameter.
enum Op {
    Balance(String),
    Debit,
    Cancel(String),
    Status(String),
    /// A code redemption (no faults apply).
    Token,
}

/// An answer before it is signed.
struct Reply {
    status: StatusCode,
    body: Vec<u8>,
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Reply {
    Reply {
        status,
        body: serde_json::to_vec(value).expect("protocol shapes always serialize"),
    }
}

fn error_reply(status: StatusCode, code: &str) -> Reply {
    json(
        status,
        &ErrorAnswer {
            error: code.to_string(),
        },
    )
}

impl Sim {
    fn new(config: SimConfig) -> Sim {
        let rng = StdRng::seed_from_u64(config.faults.seed);
        Sim {
            secret: config.secret,
            initial_mileage: config.initial_mileage,
            member_password: config.member_password,
            code_expiry_s: config.code_expiry_s,
            guard: ReplayGuard::new(),
            book: Mutex::new(Book::default()),
            authorizations: Mutex::new(oauth::Authorizations::default()),
            faults: Mutex::new(FaultState {
                faults: config.faults,
                rng,
            }),
            stats: Stats::default(),
        }
    }

    fn plan(&self) -> Plan {
        let mut state = self.faults.lock().expect("sim faults lock");
        let fault = if state.faults.any() {
            let draw: f64 = state.rng.r#gen();
            let faults = &state.faults;
            let mut bound = 0.0;
            [
                (Fault::Timeout, faults.timeout_rate),
                (Fault::Error, faults.error_rate),
                (Fault::ErrorAfterApply, faults.error_after_apply_rate),
                (Fault::Late, faults.late_rate),
                (Fault::Duplicate, faults.duplicate_rate),
            ]
            .into_iter()
            .find(|(_, rate)| {
                bound += rate;
                draw < bound
            })
            .map(|(fault, _)| fault)
        } else {
            None
        };
        Plan {
            fault,
            slow_ms: state.faults.slow_ms,
            timeout_ms: state.faults.timeout_ms,
            late_ms: state.faults.late_ms,
        }
    }

    fn count_fault(&self, fault: Fault) {
        let counter = match fault {
            Fault::Timeout => &self.stats.timeout,
            Fault::Error => &self.stats.error,
            Fault::ErrorAfterApply => &self.stats.error_after_apply,
            Fault::Late => &self.stats.late,
            Fault::Duplicate => &self.stats.duplicate,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Redeems an authorization code for the client that signed the request.
    fn redeem(&self, client_key: &str, body: &[u8]) -> Reply {
        let now_s = protocol::unix_now_s();
        let redeemed = self
            .authorizations
            .lock()
            .expect("sim authorizations lock")
            .redeem(client_key, body, now_s);
        let mileage = match &redeemed {
            oauth::Redeemed::Member(member_ref) => {
                let book = self.book.lock().expect("sim book lock");
                book.mileage(member_ref, self.initial_mileage)
            }
            oauth::Redeemed::Refused(_) => 0,
        };
        let (status, body) = oauth::token_reply(redeemed, mileage);
        Reply { status, body }
    }

    /// Applies one delivery of a request to the book.
    fn apply(&self, op: &Op, client_key: &str, body: &[u8]) -> Reply {
        match op {
            Op::Token => self.redeem(client_key, body),
            Op::Balance(member_ref) => {
                if !protocol::ref_is_valid(member_ref) {
                    return error_reply(StatusCode::BAD_REQUEST, codes::BAD_REQUEST);
                }
                let book = self.book.lock().expect("sim book lock");
                let mileage = book.mileage(member_ref, self.initial_mileage);
                drop(book);
                json(
                    StatusCode::OK,
                    &BalanceAnswer {
                        member_ref: member_ref.clone(),
                        mileage,
                    },
                )
            }
            Op::Debit => match serde_json::from_slice::<DebitBody>(body) {
                Ok(debit)
                    if protocol::ref_is_valid(&debit.reference)
                        && protocol::ref_is_valid(&debit.member_ref)
                        && debit.mileage >= 1 =>
                {
                    self.debit(debit)
                }
                _ => error_reply(StatusCode::BAD_REQUEST, codes::BAD_REQUEST),
            },
            Op::Cancel(reference) => {
                if !protocol::ref_is_valid(reference) {
                    return error_reply(StatusCode::BAD_REQUEST, codes::BAD_REQUEST);
                }
                self.cancel(reference);
                json(
                    StatusCode::OK,
                    &CancelAnswer {
                        reference: reference.clone(),
                        status: statuses::CANCELLED.to_string(),
                    },
                )
            }
            Op::Status(reference) => {
                if !protocol::ref_is_valid(reference) {
                    return error_reply(StatusCode::BAD_REQUEST, codes::BAD_REQUEST);
                }
                let book = self.book.lock().expect("sim book lock");
                let answer = match book.debits.get(reference) {
                    Some(Debit {
                        member_ref: Some(member_ref),
                        mileage,
                        state: DebitState::Debited,
                        ..
                    }) => StatusAnswer {
                        reference: reference.clone(),
                        status: statuses::DEBITED.to_string(),
                        member_ref: Some(member_ref.clone()),
                        mileage: Some(*mileage),
                    },
                    Some(_) => StatusAnswer {
                        reference: reference.clone(),
                        status: statuses::CANCELLED.to_string(),
                        member_ref: None,
                        mileage: None,
                    },
                    None => StatusAnswer {
                        reference: reference.clone(),
                        status: statuses::NOT_FOUND.to_string(),
                        member_ref: None,
                        mileage: None,
                    },
                };
                drop(book);
                json(StatusCode::OK, &answer)
            }
        }
    }

    fn debit(&self, request: DebitBody) -> Reply {
        let mut book = self.book.lock().expect("sim book lock");
        let answered = |balance_after| {
            json(
                StatusCode::OK,
                &DebitAnswer {
                    reference: request.reference.clone(),
                    status: statuses::DEBITED.to_string(),
                    member_ref: request.member_ref.clone(),
                    mileage: request.mileage,
                    balance_after,
                },
            )
        };
        if let Some(existing) = book.debits.get(&request.reference) {
            return match existing.state {
                DebitState::Cancelled => {
                    error_reply(StatusCode::CONFLICT, codes::REFERENCE_CANCELLED)
                }
                DebitState::Debited
                    if existing.member_ref.as_deref() == Some(request.member_ref.as_str())
                        && existing.mileage == request.mileage =>
                {
                    answered(existing.balance_after)
                }
                DebitState::Debited => error_reply(StatusCode::CONFLICT, codes::REFERENCE_CONFLICT),
            };
        }
        let member = book.member_mut(&request.member_ref, self.initial_mileage);
        if member.mileage < request.mileage {
            return error_reply(StatusCode::CONFLICT, codes::INSUFFICIENT_MILEAGE);
        }
        member.mileage -= request.mileage;
        member.debited_total += request.mileage;
        let balance_after = member.mileage;
        book.debits.insert(
            request.reference.clone(),
            Debit {
                member_ref: Some(request.member_ref.clone()),
                mileage: request.mileage,
                balance_after,
                state: DebitState::Debited,
            },
        );
        drop(book);
        answered(balance_after)
    }

    fn cancel(&self, reference: &str) {
        let mut book = self.book.lock().expect("sim book lock");
        let book = &mut *book;
        match book.debits.get_mut(reference) {
            Some(debit) if debit.state == DebitState::Cancelled => {}
            Some(debit) => {
                debit.state = DebitState::Cancelled;
                if let Some(member) = debit
                    .member_ref
                    .as_ref()
                    .and_then(|member_ref| book.members.get_mut(&canonical_ref(member_ref)))
                {
                    member.mileage += debit.mileage;
                    member.debited_total -= debit.mileage;
                }
            }
            None => {
                book.debits.insert(
                    reference.to_string(),
                    Debit {
                        member_ref: None,
                        mileage: 0,
                        balance_after: 0,
                        state: DebitState::Cancelled,
                    },
                );
            }
        }
    }

    /// Signs an answer to the request with `nonce`, `method` and `path`.
    fn signed(&self, nonce: &str, method: &str, path: &str, reply: Reply) -> Response {
        let timestamp_s = protocol::unix_now_s();
        let signature = sign_response(
            &self.secret,
            &SignedParts {
                timestamp_s,
                nonce,
                method,
                path,
                body: &reply.body,
            },
            reply.status.as_u16(),
        );
        let mut response = (reply.status, reply.body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(HEADER_TIMESTAMP, HeaderValue::from(timestamp_s));
        headers.insert(
            HEADER_SIGNATURE,
            HeaderValue::from_str(&signature).expect("hex is a valid header value"),
        );
        response
    }
}

fn unauthorized(code: &str) -> Response {
    let reply = error_reply(StatusCode::UNAUTHORIZED, code);
    (
        reply.status,
        [(header::CONTENT_TYPE, "application/json")],
        reply.body,
    )
        .into_response()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Closes the connection a request arrived on (see [`serve_sim`]).
#[derive(Clone, Debug)]
struct KillSwitch(Arc<AtomicBool>);

impl KillSwitch {
    fn trip(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// A protocol request: authenticate, plan faults, apply, answer.
async fn protocol_call(sim: Arc<Sim>, op: Op, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, SIM_BODY_BYTES_MAX).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let method = parts.method.as_str();
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path(), |target| target.as_str());
    let headers = &parts.headers;
    let (Some(key), Some(timestamp), Some(nonce), Some(signature)) = (
        header_str(headers, HEADER_KEY),
        header_str(headers, HEADER_TIMESTAMP).and_then(|text| text.parse::<u64>().ok()),
        header_str(headers, HEADER_NONCE),
        header_str(headers, HEADER_SIGNATURE),
    ) else {
        sim.stats.auth_failures.fetch_add(1, Ordering::Relaxed);
        return unauthorized(codes::MISSING_HEADERS);
    };
    let signed_parts = SignedParts {
        timestamp_s: timestamp,
        nonce,
        method,
        path,
        body: &body,
    };
    if !verify_request(&sim.secret, &signed_parts, signature) {
        sim.stats.auth_failures.fetch_add(1, Ordering::Relaxed);
        return unauthorized(codes::BAD_SIGNATURE);
    }
    match sim.guard.admit(timestamp, nonce, protocol::unix_now_s()) {
        Ok(()) => {}
        Err(ReplayError::Full) => {
            // The request is genuine; the guard is out of room. Transient, so a signed 503.
            let reply = error_reply(StatusCode::SERVICE_UNAVAILABLE, "busy");
            return sim.signed(nonce, method, path, reply);
        }
        Err(error) => {
            sim.stats.auth_failures.fetch_add(1, Ordering::Relaxed);
            return unauthorized(match error {
                ReplayError::Stale => codes::STALE_TIMESTAMP,
                ReplayError::Replayed => codes::REPLAYED,
                _ => codes::MISSING_HEADERS,
            });
        }
    }
    let counter = match op {
        Op::Balance(_) => &sim.stats.balance,
        Op::Debit => &sim.stats.debit,
        Op::Cancel(_) => &sim.stats.cancel,
        Op::Status(_) => &sim.stats.status,
        Op::Token => &sim.stats.token,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    if matches!(op, Op::Token) {
        let reply = sim.apply(&op, key, &body);
        return sim.signed(nonce, method, path, reply);
    }

    let plan = sim.plan();
    if let Some(fault) = plan.fault {
        sim.count_fault(fault);
    }
    // Every await comes after the request is applied (or is known never to be), so a caller
    // that gives up early cannot stop a request the simulator has accepted.
    let slow = Duration::from_millis(plan.slow_ms);
    match plan.fault {
        Some(Fault::Timeout) => {
            tokio::time::sleep(slow + Duration::from_millis(plan.timeout_ms)).await;
            if let Some(ConnectInfo(kill)) = parts.extensions.get::<ConnectInfo<KillSwitch>>() {
                // The connection fails when the answer is written: the caller gets no answer.
                kill.trip();
            }
            let reply = error_reply(StatusCode::GATEWAY_TIMEOUT, "timeout");
            return sim.signed(nonce, method, path, reply);
        }
        Some(Fault::Error) => {
            tokio::time::sleep(slow).await;
            let reply = error_reply(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
            return sim.signed(nonce, method, path, reply);
        }
        _ => {}
    }
    let mut reply = sim.apply(&op, key, &body);
    let mut delay = slow;
    match plan.fault {
        Some(Fault::Duplicate) => reply = sim.apply(&op, key, &body),
        Some(Fault::ErrorAfterApply) => {
            reply = error_reply(StatusCode::INTERNAL_SERVER_ERROR, "internal");
        }
        Some(Fault::Late) => delay += Duration::from_millis(plan.late_ms),
        _ => {}
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    sim.signed(nonce, method, path, reply)
}

async fn balance(
    State(sim): State<Arc<Sim>>,
    Path(member_ref): Path<String>,
    request: Request,
) -> Response {
    protocol_call(sim, Op::Balance(member_ref), request).await
}

async fn debit(State(sim): State<Arc<Sim>>, request: Request) -> Response {
    protocol_call(sim, Op::Debit, request).await
}

async fn cancel(
    State(sim): State<Arc<Sim>>,
    Path(reference): Path<String>,
    request: Request,
) -> Response {
    protocol_call(sim, Op::Cancel(reference), request).await
}

async fn status(
    State(sim): State<Arc<Sim>>,
    Path(reference): Path<String>,
    request: Request,
) -> Response {
    protocol_call(sim, Op::Status(reference), request).await
}

async fn token(State(sim): State<Arc<Sim>>, request: Request) -> Response {
    protocol_call(sim, Op::Token, request).await
}

/// `GET /oauth/authorize`: the login form for a usable request.
async fn authorize_page(RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    match oauth::parse_authorize_query(query.as_bytes()) {
        Err(refusal) => oauth::refused(refusal),
        Ok(params) => {
            let hint = params.login_hint.as_deref().unwrap_or_default();
            oauth::page(StatusCode::OK, "", Some((&params.client_id, hint)))
        }
    }
}

/// `POST /oauth/authorize`: the login form's answer: a code for the client, a refusal, or
/// the form again.
async fn authorize_login(
    State(sim): State<Arc<Sim>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let query = query.unwrap_or_default();
    let params = match oauth::parse_authorize_query(query.as_bytes()) {
        Ok(params) => params,
        Err(refusal) => return oauth::refused(refusal),
    };
    let form_again = |status, message: &str, member_ref: &str| {
        oauth::page(status, message, Some((&params.client_id, member_ref)))
    };
    let login = match oauth::parse_login_form(&body) {
        Ok(login) => login,
        Err(error) => {
            let hint = params.login_hint.as_deref().unwrap_or_default();
            return form_again(StatusCode::BAD_REQUEST, &error.to_string(), hint);
        }
    };
    let state = params.state.as_deref();
    let with_state = |mut pairs: Vec<(&'static str, String)>| {
        if let Some(state) = state {
            pairs.push(("state", state.to_string()));
        }
        pairs
    };
    if login.denied {
        let pairs = with_state(vec![("error", protocol::oauth::ACCESS_DENIED.to_string())]);
        return redirect_with(&params.redirect_uri, &pairs);
    }
    let canonical = canonical_ref(&login.member_ref);
    let authorizations = &mut *sim.authorizations.lock().expect("sim authorizations lock");
    let known = protocol::ref_is_valid(&login.member_ref)
        && authorizations.password_matches(&canonical, &login.password, &sim.member_password);
    if !known {
        let message = "wrong member number or password";
        return form_again(StatusCode::UNAUTHORIZED, message, &login.member_ref);
    }
    let now_s = protocol::unix_now_s();
    let Some(code) = authorizations.issue(&params, canonical, now_s, sim.code_expiry_s) else {
        return oauth::page(StatusCode::SERVICE_UNAVAILABLE, "busy; try again", None);
    };
    redirect_with(&params.redirect_uri, &with_state(vec![("code", code)]))
}

fn redirect_with(redirect_uri: &str, pairs: &[(&'static str, String)]) -> Response {
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
    oauth::redirect(redirect_uri, &borrowed)
}

/// Body of `PUT /sim/v1/members/{ref}/password`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimPassword {
    pub password: String,
}

async fn put_password(
    State(sim): State<Arc<Sim>>,
    Path(member_ref): Path<String>,
    body: Bytes,
) -> Response {
    let password = match serde_json::from_slice::<SimPassword>(&body) {
        Ok(body) if oauth::password_is_valid(&body.password) => body.password,
        _ => {
            let answer = ErrorAnswer {
                error: format!(
                    "bad_request: {{\"password\": 1 to {} bytes}}",
                    oauth::PASSWORD_BYTES_MAX
                ),
            };
            return (StatusCode::BAD_REQUEST, axum::Json(answer)).into_response();
        }
    };
    if !protocol::ref_is_valid(&member_ref) {
        let answer = ErrorAnswer {
            error: codes::BAD_REQUEST.to_string(),
        };
        return (StatusCode::BAD_REQUEST, axum::Json(answer)).into_response();
    }
    let canonical = canonical_ref(&member_ref);
    sim.authorizations
        .lock()
        .expect("sim authorizations lock")
        .set_password(canonical.clone(), password);
    axum::Json(serde_json::json!({ "member_ref": canonical })).into_response()
}

async fn get_faults(State(sim): State<Arc<Sim>>) -> Response {
    let faults = sim.faults.lock().expect("sim faults lock").faults.clone();
    axum::Json(faults).into_response()
}

async fn put_faults(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    let faults = serde_json::from_slice::<Faults>(&body)
        .map_err(|error| error.to_string())
        .and_then(|faults| faults.validate().map(|()| faults));
    let faults = match faults {
        Ok(faults) => faults,
        Err(error) => {
            let answer = ErrorAnswer {
                error: format!("bad_request: {error}"),
            };
            return (StatusCode::BAD_REQUEST, axum::Json(answer)).into_response();
        }
    };
    let mut state = sim.faults.lock().expect("sim faults lock");
    state.rng = StdRng::seed_from_u64(faults.seed);
    state.faults = faults.clone();
    drop(state);
    axum::Json(faults).into_response()
}

/// `GET /sim/v1/members/{ref}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimMember {
    pub member_ref: String,
    pub mileage: u64,
    /// Mileage of this member's references currently `debited`.
    pub debited_total: u64,
}

/// One entry of `GET /sim/v1/debits`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimDebit {
    pub reference: String,
    /// `None` for a reference cancelled before any debit arrived.
    pub member_ref: Option<String>,
    /// 0 for a reference cancelled before any debit arrived.
    pub mileage: u64,
    /// `debited` or `cancelled`.
    pub status: String,
}

/// `GET /sim/v1/debits`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimDebits {
    /// Sorted by reference.
    pub debits: Vec<SimDebit>,
}

/// `GET /sim/v1/stats`: authenticated protocol requests per kind, auth failures, and faults
/// injected per kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    pub requests: SimRequestCounts,
    pub auth_failures: u64,
    pub faults: SimFaultCounts,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimRequestCounts {
    pub balance: u64,
    pub debit: u64,
    pub cancel: u64,
    pub status: u64,
    /// Code redemptions at the token endpoint.
    #[serde(default)]
    pub token: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimFaultCounts {
    pub timeout: u64,
    pub error: u64,
    pub error_after_apply: u64,
    pub late: u64,
    pub duplicate: u64,
}

async fn get_member(State(sim): State<Arc<Sim>>, Path(member_ref): Path<String>) -> Response {
    let book = sim.book.lock().expect("sim book lock");
    let (mileage, debited_total) = book
        .members
        .get(&canonical_ref(&member_ref))
        .map_or((sim.initial_mileage, 0), |member| {
            (member.mileage, member.debited_total)
        });
    drop(book);
    axum::Json(SimMember {
        member_ref,
        mileage,
        debited_total,
    })
    .into_response()
}

async fn get_debits(State(sim): State<Arc<Sim>>) -> Response {
    let book = sim.book.lock().expect("sim book lock");
    let mut debits: Vec<SimDebit> = book
        .debits
        .iter()
        .map(|(reference, debit)| SimDebit {
            reference: reference.clone(),
            member_ref: debit.member_ref.clone(),
            mileage: debit.mileage,
            status: match debit.state {
                DebitState::Debited => statuses::DEBITED,
                DebitState::Cancelled => statuses::CANCELLED,
            }
            .to_string(),
        })
        .collect();
    drop(book);
    debits.sort_unstable_by(|a, b| a.reference.cmp(&b.reference));
    axum::Json(SimDebits { debits }).into_response()
}

async fn get_stats(State(sim): State<Arc<Sim>>) -> Response {
    let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let stats = &sim.stats;
    axum::Json(SimStats {
        requests: SimRequestCounts {
            balance: read(&stats.balance),
            debit: read(&stats.debit),
            cancel: read(&stats.cancel),
            status: read(&stats.status),
            token: read(&stats.token),
        },
        auth_failures: read(&stats.auth_failures),
        faults: SimFaultCounts {
            timeout: read(&stats.timeout),
            error: read(&stats.error),
            error_after_apply: read(&stats.error_after_apply),
            late: read(&stats.late),
            duplicate: read(&stats.duplicate),
        },
    })
    .into_response()
}

/// The simulator's routes: the partner protocol and the `/sim/v1` control surface.
///
/// Served by a plain `axum::serve`, a `timeout` fault answers a signed 504 after
/// `timeout_ms` instead of dropping the connection; [`serve_sim`] drops it.
pub fn router(config: SimConfig) -> Router {
    let sim = Arc::new(Sim::new(config));
    Router::new()
        .route("/partner/v1/members/{member_ref}/balance", get(balance))
        .route("/partner/v1/debits", post(debit))
        .route("/partner/v1/debits/{reference}/cancel", post(cancel))
        .route("/partner/v1/debits/{reference}", get(status))
        .route(protocol::TOKEN_PATH, post(token))
        .route(
            protocol::AUTHORIZE_PATH,
            get(authorize_page).post(authorize_login),
        )
        .route(
            "/sim/v1/members/{member_ref}/password",
            axum::routing::put(put_password),
        )
        .route("/sim/v1/faults", get(get_faults).put(put_faults))
        .route("/sim/v1/members/{member_ref}", get(get_member))
        .route("/sim/v1/debits", get(get_debits))
        .route("/sim/v1/stats", get(get_stats))
        .layer(DefaultBodyLimit::max(SIM_BODY_BYTES_MAX))
        .with_state(sim)
}

/// Serves the simulator on `listener` until `shutdown` resolves: plain HTTP, or HTTPS with
/// `tls`.
pub async fn serve_sim(
    listener: TcpListener,
    config: SimConfig,
    tls: Option<tls::ServerTls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let app = router(config).into_make_service_with_connect_info::<KillSwitch>();
    let listener = SimListener(listener);
    match tls {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Some(tls) => {
            axum::serve(tls.listener(listener)?, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

/// A TCP listener whose connections can be made to fail from a handler.
struct SimListener(TcpListener);

impl Listener for SimListener {
    type Io = SimStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, address)) => {
                    // Latency matters more than packet count on loopback tests.
                    let _ = stream.set_nodelay(true);
                    let stream = SimStream {
                        inner: stream,
                        killed: Arc::new(AtomicBool::new(false)),
                    };
                    return (stream, address);
                }
                Err(error) => {
                    // Like axum's own listener: out of descriptors and the like pass.
                    tracing::warn!(%error, "partner-sim: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

impl Connected<IncomingStream<'_, SimListener>> for KillSwitch {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        KillSwitch(stream.io().killed.clone())
    }
}

/// Under TLS the switch is the TCP stream's, beneath the TLS session.
impl Connected<IncomingStream<'_, tls::TlsListener<SimListener>>> for KillSwitch {
    fn connect_info(stream: IncomingStream<'_, tls::TlsListener<SimListener>>) -> Self {
        KillSwitch(stream.io().get_ref().0.killed.clone())
    }
}

/// A TCP stream that fails every read and write once its kill switch is tripped, so the
/// server drops the connection without writing an answer.
struct SimStream {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
}

impl SimStream {
    fn check(&self) -> io::Result<()> {
        if self.killed.load(Ordering::Acquire) {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "partner-sim: connection dropped (timeout fault)",
            ));
        }
        Ok(())
    }
}

impl AsyncRead for SimStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_validate_rates() {
        assert_eq!(Faults::default().validate(), Ok(()));
        let mut faults = Faults {
            error_rate: 1.5,
            ..Faults::default()
        };
        assert!(faults.validate().unwrap_err().contains("error_rate"));
        faults.error_rate = f64::NAN;
        assert!(faults.validate().is_err());
        faults.error_rate = 0.6;
        faults.late_rate = 0.6;
        assert!(faults.validate().unwrap_err().contains("add up"));
        faults.late_rate = 0.4;
        assert_eq!(faults.validate(), Ok(()));
    }

    #[test]
    fn faults_default_from_partial_json() {
        let faults: Faults = serde_json::from_str(r#"{"error_rate":0.5}"#).unwrap();
        assert_eq!(faults.error_rate, 0.5);
        assert_eq!(faults.timeout_ms, 2_000);
        assert!(serde_json::from_str::<Faults>(r#"{"eror_rate":0.5}"#).is_err());
    }

    #[test]
    fn the_same_seed_plans_the_same_faults() {
        let faults = Faults {
            timeout_rate: 0.2,
            error_rate: 0.2,
            duplicate_rate: 0.2,
            seed: 7,
            ..Faults::default()
        };
        let plans = |faults: &Faults| {
            let sim = Sim::new(SimConfig {
                faults: faults.clone(),
                ..SimConfig::new(b"s".to_vec())
            });
            (0..200).map(|_| sim.plan().fault).collect::<Vec<_>>()
        };
        let first = plans(&faults);
        assert_eq!(first, plans(&faults));
        let timeouts = first.iter().filter(|f| **f == Some(Fault::Timeout)).count();
        assert!((20..=60).contains(&timeouts), "{timeouts} timeouts of 200");
        assert!(first.iter().all(|f| *f != Some(Fault::Late)));
    }
}
