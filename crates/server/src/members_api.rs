//! Member routes (`/v1`): verification, sign-up, sessions, profile, devices, balances,
//! transactions, partner links and exchanges. Members authenticate with
//! `Authorization: Bearer <session token>`.

use platform::members::{DeviceProof, LogIn, MemberError};
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use platform::Platform;
use platform::chart::ASSET_MVP;
use platform::domain::{ExchangeRow, LinkStatus};
use platform::exchange::ExchangeRequest;
use platform::limits;
use platform::partners::{LinkId, LinkProof};
use ports::time::rfc3339;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::access::bearer;
use crate::ledger_api::{Body, body_bytes};
use crate::openapi;
use crate::problem::Problem;
use crate::shapes::SignedAmount;

/// The largest body a route without credentials reads (a sign-up is under 300 bytes).
pub const PUBLIC_BODY_BYTES_MAX: usize = 4096;

pub fn routes() -> OpenApiRouter<AppState> {
    // Whoever is not anybody yet may send only a small body.
    let public = OpenApiRouter::new()
        .routes(routes!(request_verification))
        .routes(routes!(sign_up))
        .routes(routes!(log_in))
        .layer(axum::extract::DefaultBodyLimit::max(PUBLIC_BODY_BYTES_MAX));
    OpenApiRouter::new()
        .merge(public)
        .routes(routes!(log_out))
        .routes(routes!(me, edit_me, withdraw))
        .routes(routes!(register_device))
        .routes(routes!(remove_device))
        .routes(routes!(balances))
        .routes(routes!(transactions))
        .routes(routes!(link, links))
        .routes(routes!(unlink))
        .routes(routes!(prove_link))
        .routes(routes!(public_partners))
        .routes(routes!(exchange))
        .routes(routes!(exchange_quote))
        .routes(routes!(exchange_status))
}

/// The platform, or 503 when this server runs the raw ledger only.
pub fn platform(state: &AppState) -> Result<&Arc<Platform>, Problem> {
    state.platform.as_ref().ok_or_else(|| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            "this server runs the raw ledger only",
        )
    })
}

/// Parses a JSON body into `T`; the error names the field at fault.
pub fn json_body<T: DeserializeOwned>(body: Body) -> Result<T, Problem> {
    json_bytes(&body_bytes(body)?)
}

/// A body already read (a signed route reads it whole to check its signature) as `T`, or
/// `malformed-json`.
pub fn json_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(bytes).map_err(|error| Problem::malformed_json(error.to_string()))
}

/// The member behind the request's session token.
pub(crate) async fn member(state: &AppState, headers: &HeaderMap) -> Result<u128, Problem> {
    let token = bearer(headers).ok_or_else(|| {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Missing or wrong credentials",
            "send Authorization: Bearer <session token> (POST /v1/sessions)",
        )
    })?;
    let platform = platform(state)?;
    let member_id = platform.authenticate(token).await?;
    platform.rate_limit(limits::MEMBER_REQUESTS, &member_id.to_be_bytes())?;
    Ok(member_id)
}

/// The request's `Idempotency-Key` header, if any.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| Problem::from(platform::error::invalid("Idempotency-Key", "visible ASCII")))?;
    Ok(Some(text.to_string()))
}

/// Marks an answer as the stored answer of an earlier request under the same
/// `Idempotency-Key` (`Idempotent-Replayed: true`, IETF draft).
pub(crate) fn replayed(
    mut response: axum::response::Response,
    replayed: bool,
) -> axum::response::Response {
    if replayed {
        response.headers_mut().insert(
            "idempotent-replayed",
            axum::http::HeaderValue::from_static("true"),
        );
    }
    response
}

pub fn parse_id_text(field: &'static str, text: &str) -> Result<u128, Problem> {
    crate::json::parse_id(text)
        .ok_or_else(|| Problem::from(platform::error::invalid(field, "a decimal id")))
}

/// `POST /v1/verifications`: a code to the phone by SMS.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct VerificationBody {
    /// The member's phone, e.g. `010-1234-5678` or `+821012345678`.
    phone: String,
}

#[derive(Serialize, ToSchema)]
struct VerificationAnswer {
    verification_id: String,
    expires_in_s: u64,
}

/// Sends a verification code to a phone (sign-up, a new device).
#[utoipa::path(post, path = "/v1/verifications", tag = "members",
    request_body = VerificationBody,
    responses((status = 201, description = "The code is on its way", body = VerificationAnswer)))]
async fn request_verification(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<VerificationAnswer>), Problem> {
    let body: VerificationBody = json_body(body)?;
    let platform = platform(&state)?;
    let id = platform.request_verification(&body.phone).await?;
    let answer = VerificationAnswer {
        verification_id: id.to_string(),
        expires_in_s: platform.config.verification_ttl_s,
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SignUpBody {
    #[schema(pattern = r"^[0-9]{1,39}$")]
    verification_id: String,
    code: String,
    name: String,
    /// Six digits.
    pin: String,
}

#[derive(Serialize, ToSchema)]
struct SignUpAnswer {
    member_id: String,
    /// Trusts the device that signed up: send it with every later login.
    device_token: String,
}

/// Signs a member up with a verified phone.
#[utoipa::path(post, path = "/v1/members", tag = "members",
    request_body = SignUpBody,
    responses((status = 201, description = "The member exists", body = SignUpAnswer)))]
async fn sign_up(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<SignUpAnswer>), Problem> {
    let body: SignUpBody = json_body(body)?;
    let verification_id = parse_id_text("verification_id", &body.verification_id)?;
    let grant = platform(&state)?
        .sign_up(verification_id, &body.code, &body.name, &body.pin)
        .await?;
    let answer = SignUpAnswer {
        member_id: grant.member_id.to_string(),
        device_token: grant.device_token,
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

/// `POST /v1/sessions {phone, pin}` with the device's proof: `device_token` (from the
/// sign-up or an earlier SMS login), or `verification_id` and `code` (a fresh SMS).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LogInBody {
    phone: String,
    pin: String,
    device_token: Option<String>,
    #[schema(pattern = r"^[0-9]{1,39}$")]
    verification_id: Option<String>,
    code: Option<String>,
}

impl LogInBody {
    fn device_proof(&self) -> Result<DeviceProof, Problem> {
        Ok(
            match (&self.device_token, &self.verification_id, &self.code) {
                (Some(token), None, None) => DeviceProof::Token(token.clone()),
                (None, Some(id), Some(code)) => DeviceProof::Sms {
                    verification_id: parse_id_text("verification_id", id)?,
                    code: code.clone(),
                },
                (None, None, None) => DeviceProof::None,
                _ => {
                    let detail = "device_token alone, or verification_id with code";
                    return Err(Problem::from(platform::error::invalid(
                        "device_token",
                        detail,
                    )));
                }
            },
        )
    }
}

#[derive(Serialize, ToSchema)]
struct SessionAnswer {
    /// The session token: `Authorization: Bearer <token>`.
    token: String,
    session_id: String,
    member_id: String,
    expires_at: String,
    /// Once, after a login that proved a new device by SMS.
    #[serde(skip_serializing_if = "Option::is_none")]
    device_token: Option<String>,
}

/// Logs a member in from a trusted device, or proves a new one by SMS.
#[utoipa::path(post, path = "/v1/sessions", tag = "members",
    request_body = LogInBody,
    responses((status = 201, description = "A session", body = SessionAnswer)))]
async fn log_in(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<SessionAnswer>), Problem> {
    let body: LogInBody = json_body(body)?;
    let login = LogIn {
        device: body.device_proof()?,
        phone: body.phone,
        pin: body.pin,
    };
    let grant = platform(&state)?.log_in(login).await?;
    let answer = SessionAnswer {
        token: grant.token,
        session_id: grant.session_id.to_string(),
        member_id: grant.member_id.to_string(),
        expires_at: rfc3339(grant.expires_at_s),
        device_token: grant.device_token,
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

/// Ends the session of the token sent.
#[utoipa::path(delete, path = "/v1/sessions/current", tag = "members",
    security(("member_session" = [])),
    responses((status = 204, description = "The session ended")))]
async fn log_out(State(state): State<AppState>, headers: HeaderMap) -> Result<StatusCode, Problem> {
    // Not `member()`: a locked member may still log out.
    let token = bearer(&headers).ok_or_else(|| {
        Problem::from(platform::PlatformError::Member(MemberError::SessionExpired))
    })?;
    platform(&state)?.revoke_session(token).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
struct DeviceAnswer {
    device_id: String,
    name: String,
    platform: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct MemberAnswer {
    member_id: String,
    name: String,
    phone: String,
    /// `active` or `withdrawn`.
    status: &'static str,
    created_at: String,
    devices: Vec<DeviceAnswer>,
}

fn member_answer(view: &platform::members::MemberView) -> MemberAnswer {
    let devices = view
        .devices
        .iter()
        .map(|device| DeviceAnswer {
            device_id: device.id.to_string(),
            name: device.name.clone(),
            platform: device.platform.clone(),
            created_at: Some(rfc3339(device.created_at_s)),
        })
        .collect();
    MemberAnswer {
        member_id: view.id.to_string(),
        name: view.name.clone(),
        phone: view.phone.clone(),
        status: match view.status {
            platform::domain::MemberStatus::Active => "active",
            platform::domain::MemberStatus::Withdrawn => "withdrawn",
        },
        created_at: rfc3339(view.created_at_s),
        devices,
    }
}

/// The member's profile.
#[utoipa::path(get, path = "/v1/me", tag = "members",
    security(("member_session" = [])),
    responses((status = 200, description = "The member", body = MemberAnswer)))]
async fn me(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<MemberAnswer>, Problem> {
    let member_id = member(&state, &headers).await?;
    let view = platform(&state)?.member(member_id).await?;
    Ok(Json(member_answer(&view)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EditBody {
    name: String,
}

/// Renames the member.
#[utoipa::path(patch, path = "/v1/me", tag = "members",
    security(("member_session" = [])),
    request_body = EditBody,
    responses((status = 200, description = "The member", body = MemberAnswer)))]
async fn edit_me(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<MemberAnswer>, Problem> {
    let member_id = member(&state, &headers).await?;
    let body: EditBody = json_body(body)?;
    let view = platform(&state)?.rename(member_id, &body.name).await?;
    Ok(Json(member_answer(&view)))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct WithdrawBody {
    /// Where a remaining balance is paid out; without it the balance must be zero.
    payout: Option<String>,
    /// Asked again when the balance paid out is above the PIN threshold.
    pin: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct WithdrawAnswer {
    /// `withdrawn`.
    status: &'static str,
    payout_amount: u64,
}

/// Withdraws the member (the body is optional).
#[utoipa::path(delete, path = "/v1/me", tag = "members",
    security(("member_session" = [])),
    request_body(content = Option<WithdrawBody>, description = "Optional"),
    responses((status = 200, description = "The member withdrew", body = WithdrawAnswer)))]
async fn withdraw(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<WithdrawAnswer>, Problem> {
    let member_id = member(&state, &headers).await?;
    let bytes = body_bytes(body)?;
    let body: WithdrawBody = if bytes.is_empty() {
        WithdrawBody::default()
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|error| Problem::malformed_json(error.to_string()))?
    };
    let paid = platform(&state)?
        .withdraw(member_id, body.payout.as_deref(), body.pin.as_deref())
        .await?;
    Ok(Json(WithdrawAnswer {
        status: "withdrawn",
        payout_amount: paid,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DeviceBody {
    name: String,
    platform: String,
}

/// Registers a device for notifications.
#[utoipa::path(post, path = "/v1/me/devices", tag = "members",
    security(("member_session" = [])),
    request_body = DeviceBody,
    responses((status = 201, description = "The device", body = DeviceAnswer)))]
async fn register_device(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<DeviceAnswer>), Problem> {
    let member_id = member(&state, &headers).await?;
    let body: DeviceBody = json_body(body)?;
    let device = platform(&state)?
        .register_device(member_id, &body.name, &body.platform)
        .await?;
    let answer = DeviceAnswer {
        device_id: device.id.to_string(),
        name: device.name,
        platform: device.platform,
        created_at: None,
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

/// Removes a device.
#[utoipa::path(delete, path = "/v1/me/devices/{id}", tag = "members",
    security(("member_session" = [])),
    params(("id" = String, Path, description = "The device id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 204, description = "The device is gone")))]
async fn remove_device(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let member_id = member(&state, &headers).await?;
    let device_id = parse_id_text("device_id", &id)?;
    platform(&state)?
        .remove_device(member_id, device_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
struct BalanceLine {
    asset: &'static str,
    /// Places of the asset's smallest unit (amounts are integers of it).
    decimals: u32,
    available: u64,
    pending: u64,
}

#[derive(Serialize, ToSchema)]
struct BalancesAnswer {
    balances: Vec<BalanceLine>,
}

/// The member's balances of every asset, MVP first (zero where nothing arrived yet).
#[utoipa::path(get, path = "/v1/me/balances", tag = "members",
    security(("member_session" = [])),
    responses((status = 200, description = "Balances", body = BalancesAnswer)))]
async fn balances(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<BalancesAnswer>, Problem> {
    let member_id = member(&state, &headers).await?;
    let balances = platform(&state)?.asset_balances(member_id).await?;
    Ok(Json(BalancesAnswer {
        balances: balances
            .iter()
            .map(|(asset, balance)| BalanceLine {
                asset: asset.symbol,
                decimals: asset.decimals,
                available: balance.available,
                pending: balance.pending,
            })
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
struct TransactionLine {
    transfer_id: String,
    at: String,
    timestamp_ns: String,
    /// Why the value moved: `exchange`, `payment`, `refund`, `voucher`, `bonus`, ...
    reason: &'static str,
    asset: &'static str,
    amount: SignedAmount,
    balance_after: SignedAmount,
    pending: bool,
    reference: String,
}

#[derive(Serialize, ToSchema)]
struct TransactionsAnswer {
    transactions: Vec<TransactionLine>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// The member's history, newest first.
#[utoipa::path(get, path = "/v1/me/transactions", tag = "members",
    security(("member_session" = [])),
    params(crate::shapes::HistoryQuery),
    responses((status = 200, description = "A page of history", body = TransactionsAnswer)))]
async fn transactions(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<crate::shapes::HistoryQuery>, QueryRejection>,
) -> Result<Json<TransactionsAnswer>, Problem> {
    let member_id = member(&state, &headers).await?;
    let Query(query) = query?;
    let page = query.page()?;
    let limit = page.limit;
    let lines = platform(&state)?.transactions(member_id, page).await?;
    let next_cursor = if lines.len() == limit {
        lines.last().map(|line| line.timestamp_ns.to_string())
    } else {
        None
    };
    let transactions = lines
        .iter()
        .map(|line| TransactionLine {
            transfer_id: line.transfer_id.to_string(),
            at: rfc3339(line.timestamp_ns / 1_000_000_000),
            timestamp_ns: line.timestamp_ns.to_string(),
            reason: line.reason,
            asset: ASSET_MVP,
            amount: SignedAmount {
                amount: line.amount,
                positive: line.incoming,
            },
            balance_after: SignedAmount::incoming(line.balance_after),
            pending: line.pending,
            reference: line.reference.to_string(),
        })
        .collect();
    Ok(Json(TransactionsAnswer {
        transactions,
        next_cursor,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LinkBody {
    #[schema(pattern = r"^[0-9]{1,39}$")]
    partner_id: String,
    /// The membership number at the partner, as the member knows it.
    partner_member_ref: String,
}

#[derive(Serialize, ToSchema)]
struct LinkAttemptAnswer {
    link_id: String,
    partner_id: String,
    /// `pending_proof` until the partner confirms the member owns the membership.
    status: &'static str,
    /// Where the member proves ownership at the partner (OAuth 2.0 with PKCE).
    authorize_url: String,
    expires_at: String,
}

/// Starts linking a partner membership; the link exists once the partner proves it.
#[utoipa::path(post, path = "/v1/me/partner-links", tag = "partner links",
    security(("member_session" = [])),
    request_body = LinkBody,
    responses((status = 201, description = "The attempt, waiting for its proof", body = LinkAttemptAnswer)))]
async fn link(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<LinkAttemptAnswer>), Problem> {
    let member_id = member(&state, &headers).await?;
    let body: LinkBody = json_body(body)?;
    let partner_id = parse_id_text("partner_id", &body.partner_id)?;
    let attempt = platform(&state)?
        .link_partner(member_id, partner_id, &body.partner_member_ref)
        .await?;
    let answer = LinkAttemptAnswer {
        link_id: attempt.link_id.0.to_string(),
        partner_id: attempt.partner_id.to_string(),
        status: LinkStatus::PendingProof.as_str(),
        authorize_url: attempt.authorize_url,
        expires_at: rfc3339(attempt.expires_at_s),
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

/// What the partner's authorization page sent back to the app's redirect.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ProofBody {
    state: String,
    code: String,
}

/// The proof request's body: JSON `{state, code}`, each checked by the platform's rule.
fn proof_of(bytes: &[u8]) -> Result<LinkProof, Problem> {
    let body: ProofBody = serde_json::from_slice(bytes)
        .map_err(|error| Problem::malformed_json(error.to_string()))?;
    Ok(LinkProof::new(&body.state, &body.code)?)
}

#[derive(Serialize, ToSchema)]
struct ProvenLinkAnswer {
    link_id: String,
    partner_id: String,
    status: &'static str,
    /// The membership as the partner spells it.
    partner_member_ref: String,
    requested_member_ref: String,
    member_ref_changed: bool,
    /// Live mileage at the partner, when it answered.
    balance: Option<u64>,
}

/// Completes a link with the partner's proof.
#[utoipa::path(post, path = "/v1/me/partner-links/{id}/proof", tag = "partner links",
    security(("member_session" = [])),
    params(("id" = String, Path, description = "The link id", pattern = r"^[0-9]{1,39}$")),
    request_body = ProofBody,
    responses((status = 200, description = "The proven link", body = ProvenLinkAnswer)))]
async fn prove_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<ProvenLinkAnswer>, Problem> {
    let member_id = member(&state, &headers).await?;
    let link_id = LinkId(parse_id_text("link_id", &id)?);
    let proof = proof_of(&body_bytes(body)?)?;
    let proven = platform(&state)?
        .prove_link(member_id, link_id, &proof)
        .await?;
    let link = &proven.link;
    Ok(Json(ProvenLinkAnswer {
        link_id: link.id.to_string(),
        partner_id: link.partner_id.to_string(),
        status: link.status.as_str(),
        partner_member_ref: link.member_ref.clone(),
        member_ref_changed: link.member_ref != proven.requested_member_ref,
        requested_member_ref: proven.requested_member_ref,
        balance: proven.mileage,
    }))
}

#[derive(Serialize, ToSchema)]
struct LinkLine {
    link_id: String,
    partner_id: String,
    partner_name: String,
    partner_member_ref: String,
    status: &'static str,
    expires_at: Option<String>,
    /// Live mileage at the partner, or null with `balance_error`.
    balance: Option<u64>,
    balance_error: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct LinksAnswer {
    links: Vec<LinkLine>,
}

/// The member's partner links with live mileage.
#[utoipa::path(get, path = "/v1/me/partner-links", tag = "partner links",
    security(("member_session" = [])),
    responses((status = 200, description = "Links", body = LinksAnswer)))]
async fn links(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<LinksAnswer>, Problem> {
    let member_id = member(&state, &headers).await?;
    let views = platform(&state)?.links(member_id).await?;
    let links = views
        .into_iter()
        .map(|view| {
            let (balance, balance_error) = match view.balance {
                Ok(balance) => (Some(balance), None),
                Err(error) => (None, Some(error)),
            };
            LinkLine {
                link_id: view.link.id.to_string(),
                partner_id: view.link.partner_id.to_string(),
                partner_name: view.partner_name,
                status: view.link.status.as_str(),
                expires_at: view.link.expires_at_s.map(rfc3339),
                partner_member_ref: view.link.member_ref,
                balance,
                balance_error,
            }
        })
        .collect();
    Ok(Json(LinksAnswer { links }))
}

/// Removes a partner link.
#[utoipa::path(delete, path = "/v1/me/partner-links/{id}", tag = "partner links",
    security(("member_session" = [])),
    params(("id" = String, Path, description = "The link id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 204, description = "The link is gone")))]
async fn unlink(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let member_id = member(&state, &headers).await?;
    let link_id = parse_id_text("link_id", &id)?;
    platform(&state)?.unlink_partner(member_id, link_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
struct PublicPartner {
    partner_id: String,
    name: String,
    /// MVP per `rate_den` units of mileage, while a rate is in force.
    rate_num: Option<u64>,
    rate_den: Option<u64>,
    minimum_unit: u64,
}

#[derive(Serialize, ToSchema)]
struct PartnersAnswer {
    partners: Vec<PublicPartner>,
}

/// The partners a member can link, with their rates.
#[utoipa::path(get, path = "/v1/partners", tag = "partner links",
    responses((status = 200, description = "Enabled partners", body = PartnersAnswer)))]
async fn public_partners(State(state): State<AppState>) -> Result<Json<PartnersAnswer>, Problem> {
    let views = platform(&state)?.partners().await?;
    let now = ports::time::now_s();
    let partners = views
        .iter()
        .filter(|view| view.record.enabled)
        .map(|view| {
            let rate = view.record.rate_at(now);
            PublicPartner {
                partner_id: view.record.id.to_string(),
                name: view.record.name.clone(),
                rate_num: rate.map(|r| r.num),
                rate_den: rate.map(|r| r.den),
                minimum_unit: view.record.minimum_unit,
            }
        })
        .collect();
    Ok(Json(PartnersAnswer { partners }))
}

/// One exchange of mileage into MVP.
#[derive(Serialize, ToSchema)]
pub struct ExchangeAnswer {
    pub exchange_id: String,
    /// `requested`, `completed`, `failed` or `reversed`.
    pub status: &'static str,
    pub mvp: u64,
    pub mileage: u64,
    pub rate_num: u64,
    pub rate_den: u64,
    pub partner_id: String,
    pub link_id: String,
    /// The reference the partner sees.
    pub reference: String,
    pub failure: Option<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// Operators' lists only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
}

impl ExchangeAnswer {
    pub fn of(record: &ExchangeRow) -> ExchangeAnswer {
        ExchangeAnswer {
            exchange_id: record.id.to_string(),
            status: record.status.as_str(),
            mvp: record.mvp,
            mileage: record.mileage,
            rate_num: record.rate.num,
            rate_den: record.rate.den,
            partner_id: record.partner_id.to_string(),
            link_id: record.link_id.to_string(),
            reference: platform::exchange::reference(record.id),
            failure: record.failure.clone(),
            created_at: rfc3339(record.created_at_s),
            finished_at: record.finished_at_s.map(rfc3339),
            member_id: None,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ExchangeBody {
    #[schema(pattern = r"^[0-9]{1,39}$")]
    link_id: String,
    mileage: u64,
}

/// Exchanges mileage of a proven link into MVP. Idempotent with `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/exchanges", tag = "exchanges",
    security(("member_session" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    request_body = ExchangeBody,
    responses(
        (status = 200, description = "Completed or failed; `Idempotent-Replayed: true` on a retry", body = ExchangeAnswer),
        (status = 202, description = "Waiting for the partner", body = ExchangeAnswer),
        (status = 409, description = "The same key is still in flight", body = openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "The same key with another body", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn exchange(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::response::Response, Problem> {
    let member_id = member(&state, &headers).await?;
    let body: ExchangeBody = json_body(body)?;
    let link_id = parse_id_text("link_id", &body.link_id)?;
    let idempotency_key = idempotency_key(&headers)?;
    let answered = platform(&state)?
        .exchange_once(ExchangeRequest {
            member_id,
            link_id,
            mileage: body.mileage,
            idempotency_key,
        })
        .await?;
    let record = &answered.value;
    let status = if record.status.is_final() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let answer = (status, Json(ExchangeAnswer::of(record))).into_response();
    Ok(replayed(answer, answered.replayed))
}

/// `GET /v1/exchange-quote?link_id=&mileage=`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct QuoteQuery {
    /// The proven link whose mileage to exchange.
    #[param(pattern = r"^[0-9]{1,39}$")]
    link_id: String,
    mileage: u64,
}

/// What an exchange would give now.
#[derive(Serialize, ToSchema)]
struct ExchangeQuoteAnswer {
    partner_id: String,
    link_id: String,
    mileage: u64,
    /// The MVP the exchange would credit.
    mvp: u64,
    rate_num: u64,
    rate_den: u64,
}

/// What exchanging `mileage` of a proven link would credit, checked as the exchange would
/// be (rate, minimum unit, limits) with nothing reserved: the app shows it before the
/// member confirms.
#[utoipa::path(get, path = "/v1/exchange-quote", tag = "exchanges",
    security(("member_session" = [])),
    params(QuoteQuery),
    responses((status = 200, description = "The quote", body = ExchangeQuoteAnswer)))]
async fn exchange_quote(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<QuoteQuery>, QueryRejection>,
) -> Result<Json<ExchangeQuoteAnswer>, Problem> {
    let member_id = member(&state, &headers).await?;
    let Query(query) = query?;
    let link_id = parse_id_text("link_id", &query.link_id)?;
    let quote = platform(&state)?
        .quote_exchange(member_id, link_id, query.mileage)
        .await?;
    Ok(Json(ExchangeQuoteAnswer {
        partner_id: quote.partner_id.to_string(),
        link_id: link_id.to_string(),
        mileage: quote.mileage,
        mvp: quote.mvp,
        rate_num: quote.rate.num,
        rate_den: quote.rate.den,
    }))
}

/// One of the member's exchanges.
#[utoipa::path(get, path = "/v1/exchanges/{id}", tag = "exchanges",
    security(("member_session" = [])),
    params(("id" = String, Path, description = "The exchange id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 200, description = "The exchange", body = ExchangeAnswer)))]
async fn exchange_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ExchangeAnswer>, Problem> {
    let member_id = member(&state, &headers).await?;
    let id = parse_id_text("exchange_id", &id)?;
    let record = platform(&state)?.member_exchange(member_id, id).await?;
    Ok(Json(ExchangeAnswer::of(&record)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_proof_body_is_state_and_code_only() {
        assert!(proof_of(br#"{"state":"s","code":"c"}"#).is_ok());
        let extra = proof_of(br#"{"state":"s","code":"c","member_id":"1"}"#).unwrap_err();
        assert_eq!(extra.status, StatusCode::BAD_REQUEST);
        let empty = proof_of(br#"{"state":"","code":"c"}"#).unwrap_err();
        assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    }

    proptest! {
        /// Any bytes as a proof body: a typed 400 or a proof, never a panic.
        #[test]
        fn any_body_is_a_proof_or_a_bad_request(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Err(problem) = proof_of(&bytes) {
                prop_assert_eq!(problem.status, StatusCode::BAD_REQUEST);
            }
        }

        #[test]
        fn any_json_strings_are_a_proof_or_a_bad_request(state in "\\PC{0,300}", code in ".{0,300}") {
            let body = serde_json::to_vec(&serde_json::json!({"state": state, "code": code})).unwrap();
            if let Err(problem) = proof_of(&body) {
                prop_assert_eq!(problem.status, StatusCode::BAD_REQUEST);
            }
        }
    }
}
