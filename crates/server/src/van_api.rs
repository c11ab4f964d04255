//! The VAN routes (`/van/v1`, docs/payments.md): authorizations, captures, cancels, network
//! cancels and status queries from tills. Every request is signed with the terminal's key
//! (DESIGN.md): `X-Mileverse-Key` (the key id), `X-Mileverse-Timestamp` (Unix seconds) and
//! `X-Mileverse-Signature` = hex HMAC-SHA256(secret, timestamp "\n" METHOD "\n" path "\n"
//! body), where path includes the query. A bad signature or a timestamp more than 300 s off
//! is refused (401) before anything is read; a disabled terminal gets 403.
//!
//! A signature seen before is a retransmission of the very same bytes (a till that lost the
//! answer sends its request again, as VAN networks do): it is answered, not refused, and
//! every VAN operation is idempotent (by `van_tx_id`, or by its authorization and amount),
//! so the answer is the stored result and nothing moves twice. It carries
//! `Idempotent-Replayed: true`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use platform::merchants::TerminalKey;
use platform::payments::PaymentError;
use platform::van::{AuthorizationRecord, AuthorizationRequest, AuthorizationStatus};
use platform::vans::VanKey;
use ports::signing::{self, ReplayError};
use ports::time::{now_s, rfc3339};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::members_api::{parse_id_text, platform};
use crate::openapi;
use crate::problem::Problem;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(authorize))
        .routes(routes!(capture))
        .routes(routes!(cancel))
        .routes(routes!(network_cancel))
        .routes(routes!(transaction))
}

fn refused(slug: &'static str, title: &'static str, detail: &str) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, slug, title, detail)
}

fn bad_signature(detail: &str) -> Problem {
    refused(
        "bad-signature",
        "The request signature is not valid",
        detail,
    )
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok()
}

/// Checks the terminal's signature, the clock and the replay guard; the terminal, and
/// whether these bytes came before.
async fn verify(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Verified, Problem> {
    let platform = platform(state)?;
    let (Some(key_id), Some(timestamp), Some(signature)) = (
        header_text(headers, "x-mileverse-key"),
        header_text(headers, "x-mileverse-timestamp"),
        header_text(headers, "x-mileverse-signature"),
    ) else {
        return Err(bad_signature(
            "send X-Mileverse-Key, X-Mileverse-Timestamp and X-Mileverse-Signature",
        ));
    };
    let signer = signer_of(platform, key_id, headers).await?;
    let timestamp_s: u64 = timestamp
        .parse()
        .map_err(|_| bad_signature("the timestamp is not Unix seconds"))?;
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let method = method.as_str();
    if !signing::verify_van_signature(signer.secret(), timestamp_s, method, path, body, signature) {
        return Err(bad_signature("the signature does not match"));
    }
    // Only after the signature: an unsigned request must not learn which VAN serves whom.
    let terminal = match signer {
        Signer::Terminal(terminal) => terminal,
        Signer::Van(van, terminal_id) => platform.van_terminal(&van, terminal_id).await?,
    };
    let terminal_id = terminal.terminal_id.to_be_bytes();
    platform.rate_limit(platform::limits::TERMINAL_REQUESTS, &terminal_id)?;
    // The signature is the nonce: the same signed bytes are seen once (lowercased, so a
    // change of case is no new nonce); seen again, they are a retransmission.
    let nonce = signature.to_ascii_lowercase();
    let admitted = state.replay_guard.admit(timestamp_s, &nonce, now_s());
    let retransmission = admitted == Err(ReplayError::Replayed);
    if !retransmission {
        admitted.map_err(|error| match error {
            ReplayError::Stale => refused(
                "stale-request",
                "The request timestamp is too far from our clock",
                &error.to_string(),
            ),
            ReplayError::Replayed => unreachable!("a retransmission is answered"),
            ReplayError::BadNonce => bad_signature("the signature is malformed"),
            ReplayError::Full => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
                "too many requests in the replay window; retry later",
            ),
        })?;
    }
    if !terminal.enabled {
        return Err(platform::PlatformError::Payment(PaymentError::TerminalDisabled).into());
    }
    Ok(Verified {
        terminal,
        retransmission,
    })
}

/// Who signs a request: a terminal with its own key, or a VAN for the terminal it names.
enum Signer {
    Terminal(TerminalKey),
    Van(VanKey, u128),
}

impl Signer {
    fn secret(&self) -> &[u8] {
        match self {
            Signer::Terminal(terminal) => &terminal.secret,
            Signer::Van(van, _) => &van.secret,
        }
    }
}

/// The key a request names: a terminal's, else a VAN's (which must name its terminal in
/// `X-Mileverse-Terminal`).
async fn signer_of(
    platform: &platform::Platform,
    key_id: &str,
    headers: &HeaderMap,
) -> Result<Signer, Problem> {
    if let Some(terminal) = platform.terminal_key(key_id).await? {
        return Ok(Signer::Terminal(terminal));
    }
    let van = platform
        .van_key(key_id)
        .await?
        .ok_or_else(|| bad_signature("unknown key"))?;
    let terminal = header_text(headers, "x-mileverse-terminal")
        .ok_or_else(|| bad_signature("a VAN's request names its terminal: X-Mileverse-Terminal"))?;
    let terminal_id = parse_id_text("X-Mileverse-Terminal", terminal)?;
    Ok(Signer::Van(van, terminal_id))
}

/// A request whose signature checked out.
struct Verified {
    terminal: TerminalKey,
    /// The same signed bytes came before: the answer is the stored result.
    retransmission: bool,
}

/// A VAN answer, marked when it answers a retransmission.
struct VanAnswer {
    body: AuthorizationAnswer,
    retransmission: bool,
}

impl IntoResponse for VanAnswer {
    fn into_response(self) -> Response {
        let mut response = Json(self.body).into_response();
        if self.retransmission {
            let replayed = axum::http::HeaderValue::from_static("true");
            response
                .headers_mut()
                .insert("idempotent-replayed", replayed);
        }
        response
    }
}

/// What a VAN route reads after the signature checks: the JSON body, or for a `GET` the
/// query.
pub(crate) trait VanInput: DeserializeOwned + Send {
    /// The `terminal_id` the input names, which must be the signing key's terminal.
    fn terminal_id(&self) -> Option<&str> {
        None
    }
}

/// What a VAN route's path names, read after the signature checks.
pub(crate) trait PathId: Sized + Send {
    /// From the route's `{id}`, if it has one.
    fn from_path(id: Option<&str>) -> Result<Self, Problem>;
}

/// The route names no authorization.
impl PathId for () {
    fn from_path(_: Option<&str>) -> Result<(), Problem> {
        Ok(())
    }
}

/// The authorization of `/van/v1/authorizations/{id}/…`.
struct AuthorizationId(u128);

impl PathId for AuthorizationId {
    fn from_path(id: Option<&str>) -> Result<AuthorizationId, Problem> {
        parse_id_text("authorization_id", id.unwrap_or_default()).map(AuthorizationId)
    }
}

/// The VAN inputs; those that name a `terminal_id` say so.
macro_rules! van_inputs {
    ($($input:ident),*; naming the terminal: $($naming:ident),*) => {
        $(impl VanInput for $input {})*
        $(impl VanInput for $naming {
            fn terminal_id(&self) -> Option<&str> {
                Some(&self.terminal_id)
            }
        })*
    };
}

van_inputs!(CaptureBody, CancelBody; naming the terminal: AuthorizationBody, NetworkCancelBody, TransactionQuery);

/// A till's request after the preamble every VAN route shares, in this order: the
/// signature, clock, replay and terminal checks ([`verify`]), the path's id, the input,
/// and the input's `terminal_id` against the signing key's.
pub(crate) struct Signed<B, I = ()> {
    pub(crate) terminal: TerminalKey,
    pub(crate) id: I,
    pub(crate) input: B,
    pub(crate) retransmission: bool,
}

impl<B, I> Signed<B, I> {
    fn answer(&self, record: &AuthorizationRecord) -> VanAnswer {
        VanAnswer {
            body: authorization_answer(record),
            retransmission: self.retransmission,
        }
    }
}

impl<B: VanInput, I: PathId> FromRequest<AppState> for Signed<B, I> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let params = RawPathParams::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let id_text = params
            .iter()
            .find(|(name, _)| *name == "id")
            .map(|(_, value)| value.to_string());
        let body = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        Signed::check(state, &parts, id_text.as_deref(), &body)
            .await
            .map_err(IntoResponse::into_response)
    }
}

impl<B: VanInput, I: PathId> Signed<B, I> {
    async fn check(
        state: &AppState,
        parts: &Parts,
        id_text: Option<&str>,
        body: &[u8],
    ) -> Result<Self, Problem> {
        let Verified {
            terminal,
            retransmission,
        } = verify(state, &parts.method, &parts.uri, &parts.headers, body).await?;
        let id = I::from_path(id_text)?;
        let input: B = if parts.method == Method::GET {
            Query::try_from_uri(&parts.uri)?.0
        } else {
            // A POST without a body is one with an empty object (`/cancel` needs nothing).
            let body = if body.is_empty() {
                b"{}".as_slice()
            } else {
                body
            };
            serde_json::from_slice(body)
                .map_err(|error| Problem::malformed_json(error.to_string()))?
        };
        if let Some(terminal_id) = input.terminal_id() {
            same_terminal(&terminal, terminal_id)?;
        }
        Ok(Signed {
            terminal,
            id,
            input,
            retransmission,
        })
    }
}

/// The body's `terminal_id` must be the signing key's terminal.
fn same_terminal(terminal: &TerminalKey, text: &str) -> Result<(), Problem> {
    let id = parse_id_text("terminal_id", text)?;
    if id != terminal.terminal_id {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "terminal-mismatch",
            "The terminal is not the signing key's",
            "terminal_id must name the terminal whose key signed the request",
        ));
    }
    Ok(())
}

/// One cancel of an authorization: a void of its hold or a refund of (part of) its capture.
#[derive(Serialize, ToSchema)]
struct CancelAnswer {
    /// The cancel's own `van_tx_id`.
    van_tx_id: String,
    /// `void` or `refund`.
    kind: &'static str,
    amount: u64,
    /// `pending`, `done` or `failed`.
    status: &'static str,
    created_at: String,
}

/// The gift voucher a payment was made with.
#[derive(Serialize, ToSchema)]
struct VoucherPaid {
    voucher_id: String,
    face_value: u64,
    /// The MVP the voucher moves to the merchant.
    price: u64,
}

/// An authorization as the till sees it, after any operation on it.
#[derive(Serialize, ToSchema)]
pub struct AuthorizationAnswer {
    authorization_id: String,
    van_tx_id: String,
    terminal_id: String,
    merchant_id: String,
    /// `approved`, `declined` or `pending`.
    result: &'static str,
    /// `pending`, `declined`, `authorized` (held), `captured` or `voided`.
    status: &'static str,
    /// The 8 digits the till prints; null unless approved.
    approval_no: Option<String>,
    /// Why it was declined (`insufficient_balance`, `expired_code`, ...); null otherwise.
    decline_reason: Option<&'static str>,
    amount: u64,
    approved_amount: u64,
    captured_amount: u64,
    refunded_amount: u64,
    /// What the till collects by cash or card (a partial approval's rest).
    paid_other: u64,
    network_cancelled: bool,
    cancels: Vec<CancelAnswer>,
    /// Null unless paid with a gift voucher.
    voucher: Option<VoucherPaid>,
    created_at: String,
}

pub fn authorization_answer(record: &AuthorizationRecord) -> AuthorizationAnswer {
    let result = match record.status {
        AuthorizationStatus::Pending => "pending",
        AuthorizationStatus::Declined => "declined",
        _ => "approved",
    };
    let cancels = record
        .cancels
        .iter()
        .map(|cancel| CancelAnswer {
            van_tx_id: cancel.key.clone(),
            kind: cancel.kind.as_str(),
            amount: cancel.amount,
            status: cancel.status.as_str(),
            created_at: rfc3339(cancel.created_at_s),
        })
        .collect();
    AuthorizationAnswer {
        authorization_id: record.id.to_string(),
        van_tx_id: record.van_tx_id.clone(),
        terminal_id: record.terminal_id.to_string(),
        merchant_id: record.merchant_id.to_string(),
        result,
        status: record.status.as_str(),
        approval_no: record.approval_no(),
        decline_reason: record.decline_reason.map(|reason| reason.as_str()),
        amount: record.amount,
        approved_amount: record.approved_amount,
        captured_amount: record.captured_amount,
        refunded_amount: record.refunded_amount,
        paid_other: record.paid_other(),
        network_cancelled: record.network_cancelled,
        cancels,
        voucher: record.voucher.map(|voucher| VoucherPaid {
            voucher_id: voucher.voucher_id.to_string(),
            face_value: voucher.face_value,
            price: voucher.price,
        }),
        created_at: rfc3339(record.created_at_s),
    }
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AuthorizationBody {
    /// The till; the signing key's terminal.
    terminal_id: String,
    /// The member's pay code, as scanned.
    pay_code: String,
    amount: u64,
    /// The till's own id of the request: the same id is the same authorization.
    van_tx_id: String,
    /// Capture at once (the default), or only hold the amount.
    #[serde(default = "default_true")]
    capture: bool,
    /// Approve what the balance covers when it does not cover the amount (default false).
    #[serde(default)]
    allow_partial: bool,
}

/// The headers every signed VAN request carries besides `X-Mileverse-Signature` (the
/// security scheme): described here once for the document; [`Signed`] reads them.
#[derive(IntoParams)]
#[into_params(
    names("X-Mileverse-Key", "X-Mileverse-Timestamp", "X-Mileverse-Terminal"),
    parameter_in = Header
)]
#[allow(dead_code)]
pub(crate) struct SignedHeaders(
    /// The terminal's key id, or the VAN's.
    String,
    /// Unix seconds, within 300 s of the server's clock.
    String,
    /// The terminal id, when a VAN's key signs.
    Option<String>,
);

/// Authorizes a payment with a member's pay code (and captures it unless `capture` is false).
///
/// Idempotent by `van_tx_id`: the same request answers the stored result.
#[utoipa::path(post, path = "/van/v1/authorizations", tag = "VAN",
    security(("terminal_signature" = [])),
    params(SignedHeaders),
    request_body = AuthorizationBody,
    responses(
        (status = 200, description = "Approved, partly approved or declined (`result`, `decline_reason`)", body = AuthorizationAnswer,
            headers(("Idempotent-Replayed" = String, description = "`true` when the same signed request came before: the stored result"))),
        (status = 409, description = "The `van_tx_id` was used for another request (`idempotency-conflict`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn authorize(
    State(state): State<AppState>,
    call: Signed<AuthorizationBody>,
) -> Result<VanAnswer, Problem> {
    let body = &call.input;
    let request = AuthorizationRequest {
        pay_code: body.pay_code.clone(),
        amount: body.amount,
        van_tx_id: body.van_tx_id.clone(),
        capture: body.capture,
        allow_partial: body.allow_partial,
    };
    let record = platform(&state)?
        .authorize(call.terminal.terminal_id, request)
        .await?;
    Ok(call.answer(&record))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CaptureBody {
    amount: u64,
}

/// Captures a held authorization, whole or in part.
#[utoipa::path(post, path = "/van/v1/authorizations/{id}/capture", tag = "VAN",
    security(("terminal_signature" = [])),
    params(
        ("id" = String, Path, description = "The authorization id", pattern = r"^[0-9]{1,39}$"),
        SignedHeaders),
    request_body = CaptureBody,
    responses(
        (status = 200, description = "The captured authorization", body = AuthorizationAnswer,
            headers(("Idempotent-Replayed" = String, description = "`true` when the same signed request came before: the stored result"))),
        (status = 409, description = "The authorization cannot be captured in its state (`authorization-state`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn capture(
    State(state): State<AppState>,
    call: Signed<CaptureBody, AuthorizationId>,
) -> Result<VanAnswer, Problem> {
    let AuthorizationId(id) = call.id;
    let record = platform(&state)?
        .capture(call.terminal.terminal_id, id, call.input.amount)
        .await?;
    Ok(call.answer(&record))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CancelBody {
    /// What to refund; absent: all of it.
    amount: Option<u64>,
    /// The cancel's own id: the same id is the same cancel.
    van_tx_id: String,
}

/// Cancels an authorization: voids its hold, or refunds (part of) its capture.
#[utoipa::path(post, path = "/van/v1/authorizations/{id}/cancel", tag = "VAN",
    operation_id = "van_cancel",
    security(("terminal_signature" = [])),
    params(
        ("id" = String, Path, description = "The authorization id", pattern = r"^[0-9]{1,39}$"),
        SignedHeaders),
    request_body = CancelBody,
    responses(
        (status = 200, description = "The authorization with the cancel in `cancels`", body = AuthorizationAnswer,
            headers(("Idempotent-Replayed" = String, description = "`true` when the same signed request came before: the stored result"))),
        (status = 409, description = "`authorization-state`, `merchant-payable-insufficient`, or the cancel's `van_tx_id` used for another request (`idempotency-conflict`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn cancel(
    State(state): State<AppState>,
    call: Signed<CancelBody, AuthorizationId>,
) -> Result<VanAnswer, Problem> {
    let AuthorizationId(id) = call.id;
    let body = &call.input;
    let record = platform(&state)?
        .cancel(call.terminal.terminal_id, id, body.amount, &body.van_tx_id)
        .await?;
    Ok(call.answer(&record))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NetworkCancelBody {
    /// The till; the signing key's terminal.
    terminal_id: String,
    /// The `van_tx_id` of the authorization request whose answer was lost.
    van_tx_id: String,
}

/// Undoes whatever a `van_tx_id` did (void or full refund), when the till lost the answer.
///
/// If the authorization never arrived, a tombstone declines a late original `cancelled`.
#[utoipa::path(post, path = "/van/v1/network-cancels", tag = "VAN",
    security(("terminal_signature" = [])),
    params(SignedHeaders),
    request_body = NetworkCancelBody,
    responses(
        (status = 200, description = "The cancelled authorization (`network_cancelled`)", body = AuthorizationAnswer,
            headers(("Idempotent-Replayed" = String, description = "`true` when the same signed request came before: the stored result"))),
        (status = 409, description = "`authorization-state` or `merchant-payable-insufficient`", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn network_cancel(
    State(state): State<AppState>,
    call: Signed<NetworkCancelBody>,
) -> Result<VanAnswer, Problem> {
    let record = platform(&state)?
        .network_cancel(call.terminal.terminal_id, &call.input.van_tx_id)
        .await?;
    Ok(call.answer(&record))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct TransactionQuery {
    /// The till asking; the signing key's terminal.
    terminal_id: String,
}

/// An authorization by the till's `van_tx_id`.
#[utoipa::path(get, path = "/van/v1/transactions/{van_tx_id}", tag = "VAN",
    security(("terminal_signature" = [])),
    params(
        ("van_tx_id" = String, Path, description = "The till's transaction id of the authorization"),
        TransactionQuery,
        SignedHeaders),
    responses(
        (status = 200, description = "The authorization", body = AuthorizationAnswer,
            headers(("Idempotent-Replayed" = String, description = "`true` when the same signed request came before: the stored result")))))]
async fn transaction(
    State(state): State<AppState>,
    Path(van_tx_id): Path<String>,
    call: Signed<TransactionQuery>,
) -> Result<VanAnswer, Problem> {
    let record = platform(&state)?
        .van_transaction(call.terminal.terminal_id, &van_tx_id)
        .await?;
    Ok(call.answer(&record))
}
