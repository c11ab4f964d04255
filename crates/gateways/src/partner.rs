//! The client side of the partner protocol (docs/partner-protocol.md) over HTTP/1.1.
//!
//! [`HttpPartnerGateway`] signs every request with the partner's secret and trusts nothing in
//! an answer — not its status, not its body — before it has checked the answer's signature
//! (bound to the request's nonce, method and path) and that the answer's timestamp is within
//! [`REPLAY_WINDOW_S`] of our clock. It never retries: the platform decides retries, and for
//! a debit every error means "maybe applied, ask with a status query".
//!
//! How answers map:
//!
//! | answer | debit | balance, cancel, status |
//! |---|---|---|
//! | signed 200 of the right shape | `Ok(Debited)` | `Ok(..)` |
//! | signed 4xx `{"error": code}` (not 401, 408, 429) | `Ok(Refused(..))` | `Err(Refused(..))` |
//! | signed 401, 408, 429 or 5xx | `Err(Status(code))` | same |
//! | **unsigned** 401 (the partner refused our signature or timestamp) | `Err(Status(401))` | same |
//! | any other unsigned answer, a wrong signature, an answer timestamp outside the window | `Err(BadSignature)` | same |
//! | signed answer whose body does not parse or does not match the request, other statuses | `Err(Protocol(..))` | same |
//! | no answer within `timeout_ms` (including waiting for a connection slot) | `Err(Timeout)` | same |
//! | connect or IO error, invalid base URL | `Err(Transport(..))` | same |
//!
//! Codes map to refusals by name: `insufficient_mileage`, `unknown_member`,
//! `reference_cancelled`, anything else is `Refusal::Other(code)`. An unsigned 401 is reported
//! as `Status(401)` rather than `BadSignature` because anyone could forge it, and `Status` is
//! a non-definitive error: nothing is concluded from it. A member ref or reference that breaks
//! the protocol's rule (1..=64 bytes of `[A-Za-z0-9_-]`), or a debit of 0, is refused
//! locally with `bad_request` (the partner would refuse it the same way) and nothing is sent.
//!
//! The ownership step (OAuth 2.0 authorization code with PKCE) has two halves here:
//! [`authorize_url`] builds the URL the member's browser follows (no call is made), and
//! `redeem_code` is the signed token request; the partner's `invalid_grant` is
//! `Refused(InvalidGrant)`, and a code or verifier that breaks the rules is refused locally
//! the same way without a call.
//!
//! A partner's base URL may be `https://`: the client trusts what the [`tls::ClientTls`] it is
//! built with trusts (the system's roots and the operator's `--ca-file`), and a certificate
//! it cannot verify fails the call as `Transport` naming the certificate.
//!
//! Every call through [`PartnerGateway`] is timed into the histogram
//! `ports::call_metrics::PARTNER_CALL_DURATION_SECONDS`, labelled with its operation
//! ([`operations`]) and outcome: `ok`, `refused` (a definitive refusal, a local one
//! included), `timeout`, or `error` (every other [`PartnerCallError`]).
//!
//! One `reqwest::Client` (one keep-alive pool) serves every partner. At most
//! `connections_per_host_max` requests are in flight per partner base URL, so the pool never
//! holds more connections than that per partner.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ports::call_metrics::{PARTNER_CALL_DURATION_SECONDS, outcome};
use ports::gateway::{
    AuthorizationRequest, BoxFuture, CodeRedemption, DebitOutcome, DebitRequest, DebitStatus,
    PartnerCallError, PartnerEndpoint, PartnerGateway, ProvenMembership, Refusal,
};
use ports::signing::{REPLAY_WINDOW_S, SignedParts, new_nonce, sign_request, verify_response};
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;

use crate::protocol::{
    self, BalanceAnswer, CancelAnswer, DebitAnswer, DebitBody, ErrorAnswer, HEADER_KEY,
    HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, StatusAnswer, TokenRequest, codes, oauth,
    statuses,
};

/// How the client calls partners.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartnerClientConfig {
    /// Whole-call deadline: waiting for a connection slot, connecting, sending and reading
    /// the whole answer.
    pub timeout_ms: u64,
    /// Most requests in flight (hence connections) per partner base URL; 0 counts as 1.
    pub connections_per_host_max: usize,
}

impl Default for PartnerClientConfig {
    fn default() -> Self {
        PartnerClientConfig {
            timeout_ms: 5_000,
            connections_per_host_max: 32,
        }
    }
}

/// [`PartnerGateway`] over HTTP/1.1 with HMAC-signed requests and answers.
pub struct HttpPartnerGateway {
    client: reqwest::Client,
    timeout: Duration,
    connections_per_host_max: usize,
    /// Base URL → its in-flight limit.
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl std::fmt::Debug for HttpPartnerGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpPartnerGateway")
            .field("timeout", &self.timeout)
            .field("connections_per_host_max", &self.connections_per_host_max)
            .finish_non_exhaustive()
    }
}

/// A signed answer whose signature checked out.
struct Answer {
    status: u16,
    body: axum::body::Bytes,
}

/// What a checked answer means before the call-specific body is read.
enum Verdict {
    Success(axum::body::Bytes),
    Refused(Refusal),
}

impl HttpPartnerGateway {
    /// A client that calls partners as `config` says and trusts what `tls` trusts.
    pub fn new(config: PartnerClientConfig, tls: &tls::ClientTls) -> HttpPartnerGateway {
        let timeout = Duration::from_millis(config.timeout_ms);
        let connections_per_host_max = config.connections_per_host_max.max(1);
        let client = tls
            .reqwest_builder()
            .connect_timeout(timeout)
            .pool_max_idle_per_host(connections_per_host_max)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .http1_only()
            .build()
            // A ready rustls configuration, no proxies, no custom resolver: nothing can fail.
            .expect("an HTTP client with a preconfigured TLS and no proxies always builds");
        HttpPartnerGateway {
            client,
            timeout,
            connections_per_host_max,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slots_for(&self, base: &str) -> Arc<Semaphore> {
        let mut slots = self.slots.lock().expect("partner slots lock");
        if let Some(semaphore) = slots.get(base) {
            return semaphore.clone();
        }
        let semaphore = Arc::new(Semaphore::new(self.connections_per_host_max));
        slots.insert(base.to_string(), semaphore.clone());
        semaphore
    }

    /// Sends one signed request and returns the answer once its signature checks out.
    async fn call(
        &self,
        partner: &PartnerEndpoint,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<Answer, PartnerCallError> {
        let Body {
            bytes: body,
            content_type,
        } = body;
        let base = partner.api_base_url.trim_end_matches('/');
        let url = reqwest::Url::parse(&format!("{base}{path}")).map_err(|error| {
            PartnerCallError::Transport(format!("invalid partner URL {base:?}: {error}"))
        })?;
        // What the partner receives as its request target is what is signed.
        let signed_path = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        };
        let nonce = new_nonce();
        let timestamp_s = protocol::unix_now_s();
        let signature = sign_request(
            &partner.secret,
            &SignedParts {
                timestamp_s,
                nonce: &nonce,
                method: method.as_str(),
                path: &signed_path,
                body: &body,
            },
        );
        let key = HeaderValue::from_str(&partner.partner_key).map_err(|_| {
            PartnerCallError::Transport("the partner key is not a valid header value".into())
        })?;
        let mut request = self
            .client
            .request(method.clone(), url)
            .header(HEADER_KEY, key)
            .header(HEADER_TIMESTAMP, timestamp_s)
            .header(HEADER_NONCE, &nonce)
            .header(HEADER_SIGNATURE, signature);
        if !body.is_empty() {
            request = request.header(CONTENT_TYPE, content_type);
        }
        let request = request.body(body);
        let slots = self.slots_for(base);
        let exchange = async {
            let _slot = slots
                .acquire()
                .await
                .map_err(|_| PartnerCallError::Transport("client is shutting down".into()))?;
            let response = request.send().await.map_err(from_reqwest)?;
            let status = response.status().as_u16();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_string)
            };
            let answer_timestamp = header(HEADER_TIMESTAMP);
            let answer_signature = header(HEADER_SIGNATURE);
            let body =
                axum::body::Bytes::from(read_capped(response, PARTNER_ANSWER_BYTES_MAX).await?);
            Ok::<_, PartnerCallError>((status, answer_timestamp, answer_signature, body))
        };
        let (status, answer_timestamp, answer_signature, body) =
            match tokio::time::timeout(self.timeout, exchange).await {
                Ok(result) => result?,
                Err(_) => return Err(PartnerCallError::Timeout),
            };
        let (Some(answer_timestamp), Some(answer_signature)) = (answer_timestamp, answer_signature)
        else {
            // An unsigned 401 is how a partner refuses our signature or timestamp. It may be
            // forged, but `Status` concludes nothing, so reporting it is safe.
            if status == 401 {
                return Err(PartnerCallError::Status(401));
            }
            return Err(PartnerCallError::BadSignature);
        };
        let Ok(answer_timestamp) = answer_timestamp.parse::<u64>() else {
            return Err(PartnerCallError::BadSignature);
        };
        let genuine = verify_response(
            &partner.secret,
            &SignedParts {
                timestamp_s: answer_timestamp,
                nonce: &nonce,
                method: method.as_str(),
                path: &signed_path,
                body: &body,
            },
            status,
            &answer_signature,
        );
        if !genuine || answer_timestamp.abs_diff(protocol::unix_now_s()) > REPLAY_WINDOW_S {
            return Err(PartnerCallError::BadSignature);
        }
        Ok(Answer { status, body })
    }
}

/// A request body and its content type.
struct Body {
    bytes: Vec<u8>,
    content_type: &'static str,
}

impl Body {
    fn empty() -> Body {
        Body::json(Vec::new())
    }

    fn json(bytes: Vec<u8>) -> Body {
        Body {
            bytes,
            content_type: "application/json",
        }
    }

    fn form(text: String) -> Body {
        Body {
            bytes: text.into_bytes(),
            content_type: "application/x-www-form-urlencoded",
        }
    }
}

/// Sorts a checked answer into success, definitive refusal or error.
fn verdict(answer: Answer) -> Result<Verdict, PartnerCallError> {
    match answer.status {
        200 => Ok(Verdict::Success(answer.body)),
        // Not about the request's content: authentication, timing, load.
        401 | 408 | 429 => Err(PartnerCallError::Status(answer.status)),
        400..=499 => {
            let error: ErrorAnswer = parse(&answer.body)?;
            Ok(Verdict::Refused(refusal_of(error.error)))
        }
        500..=599 => Err(PartnerCallError::Status(answer.status)),
        other => Err(PartnerCallError::Protocol(format!(
            "unexpected HTTP status {other}"
        ))),
    }
}

fn refusal_of(code: String) -> Refusal {
    match code.as_str() {
        codes::INSUFFICIENT_MILEAGE => Refusal::InsufficientMileage,
        codes::UNKNOWN_MEMBER => Refusal::UnknownMember,
        codes::REFERENCE_CANCELLED => Refusal::ReferenceCancelled,
        oauth::INVALID_GRANT => Refusal::InvalidGrant,
        _ => Refusal::Other(code),
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, PartnerCallError> {
    serde_json::from_slice(body)
        .map_err(|error| PartnerCallError::Protocol(format!("answer body does not parse: {error}")))
}

fn mismatch(what: &str) -> PartnerCallError {
    PartnerCallError::Protocol(format!("the answer's {what} does not match the request"))
}

fn local_refusal() -> Refusal {
    Refusal::Other(codes::BAD_REQUEST.to_string())
}

fn from_reqwest(error: reqwest::Error) -> PartnerCallError {
    if error.is_timeout() {
        return PartnerCallError::Timeout;
    }
    // reqwest's own message is terse; the cause (e.g. "connection refused") is in the chain.
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    PartnerCallError::Transport(message)
}

impl HttpPartnerGateway {
    async fn balance_of(
        &self,
        partner: &PartnerEndpoint,
        member_ref: &str,
    ) -> Result<u64, PartnerCallError> {
        if !protocol::ref_is_valid(member_ref) {
            return Err(PartnerCallError::Refused(local_refusal()));
        }
        let answer = self
            .call(
                partner,
                Method::GET,
                &protocol::balance_path(member_ref),
                Body::empty(),
            )
            .await?;
        match verdict(answer)? {
            Verdict::Refused(refusal) => Err(PartnerCallError::Refused(refusal)),
            Verdict::Success(body) => {
                let balance: BalanceAnswer = parse(&body)?;
                if balance.member_ref != member_ref {
                    return Err(mismatch("member_ref"));
                }
                Ok(balance.mileage)
            }
        }
    }

    async fn debit_of(
        &self,
        partner: &PartnerEndpoint,
        request: &DebitRequest,
    ) -> Result<DebitOutcome, PartnerCallError> {
        if !protocol::ref_is_valid(&request.reference)
            || !protocol::ref_is_valid(&request.member_ref)
            || request.mileage == 0
        {
            return Ok(DebitOutcome::Refused(local_refusal()));
        }
        let body = serde_json::to_vec(&DebitBody {
            reference: request.reference.clone(),
            member_ref: request.member_ref.clone(),
            mileage: request.mileage,
        })
        .map_err(|error| PartnerCallError::Protocol(error.to_string()))?;
        let answer = self
            .call(
                partner,
                Method::POST,
                protocol::DEBITS_PATH,
                Body::json(body),
            )
            .await?;
        match verdict(answer)? {
            Verdict::Refused(refusal) => Ok(DebitOutcome::Refused(refusal)),
            Verdict::Success(body) => {
                let debit: DebitAnswer = parse(&body)?;
                if debit.reference != request.reference {
                    return Err(mismatch("reference"));
                }
                if debit.status != statuses::DEBITED {
                    return Err(mismatch("status"));
                }
                if debit.member_ref != request.member_ref {
                    return Err(mismatch("member_ref"));
                }
                if debit.mileage != request.mileage {
                    return Err(mismatch("mileage"));
                }
                Ok(DebitOutcome::Debited {
                    balance_after: debit.balance_after,
                })
            }
        }
    }

    async fn cancel_of(
        &self,
        partner: &PartnerEndpoint,
        reference: &str,
    ) -> Result<(), PartnerCallError> {
        if !protocol::ref_is_valid(reference) {
            return Err(PartnerCallError::Refused(local_refusal()));
        }
        let answer = self
            .call(
                partner,
                Method::POST,
                &protocol::cancel_path(reference),
                Body::empty(),
            )
            .await?;
        match verdict(answer)? {
            Verdict::Refused(refusal) => Err(PartnerCallError::Refused(refusal)),
            Verdict::Success(body) => {
                let cancel: CancelAnswer = parse(&body)?;
                if cancel.reference != reference {
                    return Err(mismatch("reference"));
                }
                if cancel.status != statuses::CANCELLED {
                    return Err(mismatch("status"));
                }
                Ok(())
            }
        }
    }

    async fn status_of(
        &self,
        partner: &PartnerEndpoint,
        reference: &str,
    ) -> Result<DebitStatus, PartnerCallError> {
        if !protocol::ref_is_valid(reference) {
            return Err(PartnerCallError::Refused(local_refusal()));
        }
        let answer = self
            .call(
                partner,
                Method::GET,
                &protocol::status_path(reference),
                Body::empty(),
            )
            .await?;
        match verdict(answer)? {
            Verdict::Refused(refusal) => Err(PartnerCallError::Refused(refusal)),
            Verdict::Success(body) => {
                let status: StatusAnswer = parse(&body)?;
                if status.reference != reference {
                    return Err(mismatch("reference"));
                }
                match (status.status.as_str(), status.member_ref, status.mileage) {
                    (statuses::DEBITED, Some(member_ref), Some(mileage)) => {
                        Ok(DebitStatus::Debited {
                            member_ref,
                            mileage,
                        })
                    }
                    (statuses::DEBITED, _, _) => Err(PartnerCallError::Protocol(
                        "a debited status without member_ref and mileage".into(),
                    )),
                    (statuses::CANCELLED, _, _) => Ok(DebitStatus::Cancelled),
                    (statuses::NOT_FOUND, _, _) => Ok(DebitStatus::NotFound),
                    (other, _, _) => Err(PartnerCallError::Protocol(format!(
                        "unknown debit status {other:?}"
                    ))),
                }
            }
        }
    }
}

impl HttpPartnerGateway {
    async fn redeem_code_of(
        &self,
        partner: &PartnerEndpoint,
        redemption: &CodeRedemption,
    ) -> Result<ProvenMembership, PartnerCallError> {
        // A code, verifier or redirect URI the partner must refuse is not sent.
        if !protocol::code_is_valid(&redemption.code)
            || !ports::pkce::verifier_is_valid(&redemption.code_verifier)
            || redemption.redirect_uri.len() > protocol::OAUTH_VALUE_BYTES_MAX
        {
            return Err(PartnerCallError::Refused(Refusal::InvalidGrant));
        }
        let body = TokenRequest {
            grant_type: oauth::GRANT_TYPE_AUTHORIZATION_CODE.to_string(),
            code: redemption.code.clone(),
            redirect_uri: redemption.redirect_uri.clone(),
            client_id: partner.partner_key.clone(),
            code_verifier: redemption.code_verifier.clone(),
        };
        let answer = self
            .call(
                partner,
                Method::POST,
                protocol::TOKEN_PATH,
                Body::form(body.to_form()),
            )
            .await?;
        match verdict(answer)? {
            Verdict::Refused(refusal) => Err(PartnerCallError::Refused(refusal)),
            Verdict::Success(body) => {
                let token =
                    protocol::parse_token_answer(&body).map_err(PartnerCallError::Protocol)?;
                Ok(ProvenMembership {
                    member_ref: token.member_ref,
                    mileage: token.mileage,
                })
            }
        }
    }
}

/// The partner's authorization URL for `request`: its base URL, [`protocol::AUTHORIZE_PATH`]
/// and the query of RFC 6749 §4.1.1 with RFC 7636 §4.3, percent-encoded.
pub fn authorize_url(
    partner: &PartnerEndpoint,
    request: &AuthorizationRequest,
) -> Result<String, PartnerCallError> {
    let base = partner.api_base_url.trim_end_matches('/');
    let mut url =
        reqwest::Url::parse(&format!("{base}{}", protocol::AUTHORIZE_PATH)).map_err(|error| {
            PartnerCallError::Transport(format!("invalid partner URL {base:?}: {error}"))
        })?;
    url.query_pairs_mut()
        .append_pair("response_type", oauth::RESPONSE_TYPE_CODE)
        .append_pair("client_id", &partner.partner_key)
        .append_pair("redirect_uri", &request.redirect_uri)
        .append_pair("state", &request.state)
        .append_pair("code_challenge", &request.code_challenge)
        .append_pair("code_challenge_method", ports::pkce::METHOD_S256)
        .append_pair("login_hint", &request.login_hint);
    Ok(url.into())
}

impl PartnerGateway for HttpPartnerGateway {
    fn balance<'a>(
        &'a self,
        partner: &'a PartnerEndpoint,
        member_ref: &'a str,
    ) -> BoxFuture<'a, Result<u64, PartnerCallError>> {
        Box::pin(observed(
            operations::BALANCE,
            self.balance_of(partner, member_ref),
            plain_outcome,
        ))
    }

    fn debit<'a>(
        &'a self,
        partner: &'a PartnerEndpoint,
        request: &'a DebitRequest,
    ) -> BoxFuture<'a, Result<DebitOutcome, PartnerCallError>> {
        Box::pin(observed(
            operations::DEBIT,
            self.debit_of(partner, request),
            debit_outcome,
        ))
    }

    fn cancel<'a>(
        &'a self,
        partner: &'a PartnerEndpoint,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<(), PartnerCallError>> {
        Box::pin(observed(
            operations::CANCEL,
            self.cancel_of(partner, reference),
            plain_outcome,
        ))
    }

    fn status<'a>(
        &'a self,
        partner: &'a PartnerEndpoint,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<DebitStatus, PartnerCallError>> {
        Box::pin(observed(
            operations::STATUS,
            self.status_of(partner, reference),
            plain_outcome,
        ))
    }

    fn authorize_url(
        &self,
        partner: &PartnerEndpoint,
        request: &AuthorizationRequest,
    ) -> Result<String, PartnerCallError> {
        authorize_url(partner, request)
    }

    fn redeem_code<'a>(
        &'a self,
        partner: &'a PartnerEndpoint,
        redemption: &'a CodeRedemption,
    ) -> BoxFuture<'a, Result<ProvenMembership, PartnerCallError>> {
        Box::pin(observed(
            operations::REDEEM_CODE,
            self.redeem_code_of(partner, redemption),
            plain_outcome,
        ))
    }
}

/// The `operation` label's values: the [`PartnerGateway`] methods that call the partner.
pub mod operations {
    pub const BALANCE: &str = "balance";
    pub const DEBIT: &str = "debit";
    pub const CANCEL: &str = "cancel";
    pub const STATUS: &str = "status";
    pub const REDEEM_CODE: &str = "redeem_code";
}

/// Runs `call` and records its duration and outcome (`outcome_of` sorts the result).
async fn observed<T>(
    operation: &'static str,
    call: impl Future<Output = Result<T, PartnerCallError>>,
    outcome_of: fn(&Result<T, PartnerCallError>) -> &'static str,
) -> Result<T, PartnerCallError> {
    let started = Instant::now();
    let result = call.await;
    metrics::histogram!(
        PARTNER_CALL_DURATION_SECONDS,
        "operation" => operation,
        "outcome" => outcome_of(&result),
    )
    .record(started.elapsed().as_secs_f64());
    result
}

/// The outcome label of a call whose refusals are errors.
fn plain_outcome<T>(result: &Result<T, PartnerCallError>) -> &'static str {
    match result {
        Ok(_) => outcome::OK,
        Err(error) => error_outcome(error),
    }
}

/// A debit's refusals are answers (`Ok(Refused)`), not errors.
fn debit_outcome(result: &Result<DebitOutcome, PartnerCallError>) -> &'static str {
    match result {
        Ok(DebitOutcome::Debited { .. }) => outcome::OK,
        Ok(DebitOutcome::Refused(_)) => outcome::REFUSED,
        Err(error) => error_outcome(error),
    }
}

fn error_outcome(error: &PartnerCallError) -> &'static str {
    match error {
        PartnerCallError::Refused(_) => outcome::REFUSED,
        PartnerCallError::Timeout => outcome::TIMEOUT,
        PartnerCallError::Transport(_)
        | PartnerCallError::Status(_)
        | PartnerCallError::BadSignature
        | PartnerCallError::Protocol(_) => outcome::ERROR,
    }
}

/// Largest partner answer read; the protocol's answers are a few hundred bytes.
pub const PARTNER_ANSWER_BYTES_MAX: usize = 64 * 1024;

/// Reads a body, refusing one larger than `max` bytes without reading it all.
async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, PartnerCallError> {
    let too_large = || PartnerCallError::Protocol(format!("the answer is larger than {max} bytes"));
    if response
        .content_length()
        .is_some_and(|length| length > max as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(from_reqwest)? {
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
