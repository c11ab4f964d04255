//! Member routes (`/v1`): verification, sign-up, sessions, profile, devices, balances,
//! transactions, partner links and exchanges. Members authenticate with
//! `Authorization: Bearer <session token>`.

use platform::members::{DeviceProof, LogIn, MemberError};
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use platform::Platform;
use platform::chart::ASSET_MVP;
use platform::domain::{ExchangeRow, LinkStatus};
use platform::exchange::ExchangeRequest;
use platform::limits;
use platform::partners::{LinkId, LinkProof};
use ports::time::rfc3339;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::AppState;
use crate::access::bearer;
use crate::ledger_api::{Body, body_bytes};
use crate::problem::Problem;

/// The largest body a route without credentials reads (a sign-up is under 300 bytes).
pub const PUBLIC_BODY_BYTES_MAX: usize = 4096;

pub fn routes() -> Router<AppState> {
    // Whoever is not anybody yet may send only a small body.
    let public = Router::new()
        .route("/v1/verifications", post(request_verification))
        .route("/v1/members", post(sign_up))
        .route("/v1/sessions", post(log_in))
        .layer(axum::extract::DefaultBodyLimit::max(PUBLIC_BODY_BYTES_MAX));
    Router::new()
        .merge(public)
        .route("/v1/sessions/current", delete(log_out))
        .route("/v1/me", get(me).patch(edit_me).delete(withdraw))
        .route("/v1/me/devices", post(register_device))
        .route("/v1/me/devices/{id}", delete(remove_device))
        .route("/v1/me/balances", get(balances))
        .route("/v1/me/transactions", get(transactions))
        .route("/v1/me/partner-links", post(link).get(links))
        .route("/v1/me/partner-links/{id}", delete(unlink))
        .route("/v1/me/partner-links/{id}/proof", post(prove_link))
        .route("/v1/partners", get(public_partners))
        .route("/v1/exchanges", post(exchange))
        .route("/v1/exchanges/{id}", get(exchange_status))
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
    let bytes = body_bytes(body)?;
    serde_json::from_slice(&bytes).map_err(|error| Problem::malformed_json(error.to_string()))
}

/// The largest integer every JSON client reads exactly (JavaScript's
/// `Number.MAX_SAFE_INTEGER`, 2^53 - 1).
pub const JSON_SAFE_INTEGER_MAX: u128 = (1 << 53) - 1;

/// An amount with its sign (`positive` false: negative) as a JSON number, or, past
/// [`JSON_SAFE_INTEGER_MAX`] (which business amounts never reach), as a decimal string,
/// exact either way: never a cast that truncates.
pub fn amount_json(amount: u128, positive: bool) -> Value {
    let sign = if positive || amount == 0 { "" } else { "-" };
    match i64::try_from(amount) {
        Ok(small) if amount <= JSON_SAFE_INTEGER_MAX => {
            json!(if positive { small } else { -small })
        }
        _ => json!(format!("{sign}{amount}")),
    }
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

pub fn parse_id_text(field: &'static str, text: &str) -> Result<u128, Problem> {
    crate::json::parse_id(text)
        .ok_or_else(|| Problem::from(platform::error::invalid(field, "a decimal id")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerificationBody {
    phone: String,
}

async fn request_verification(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let body: VerificationBody = json_body(body)?;
    let platform = platform(&state)?;
    let id = platform.request_verification(&body.phone).await?;
    let answer = json!({
        "verification_id": id.to_string(),
        "expires_in_s": platform.config.verification_ttl_s,
    });
    Ok((StatusCode::CREATED, Json(answer)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignUpBody {
    verification_id: String,
    code: String,
    name: String,
    pin: String,
}

async fn sign_up(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let body: SignUpBody = json_body(body)?;
    let verification_id = parse_id_text("verification_id", &body.verification_id)?;
    let grant = platform(&state)?
        .sign_up(verification_id, &body.code, &body.name, &body.pin)
        .await?;
    let answer = json!({
        "member_id": grant.member_id.to_string(),
        "device_token": grant.device_token,
    });
    Ok((StatusCode::CREATED, Json(answer)))
}

/// `POST /v1/sessions {phone, pin}` with the device's proof: `device_token` (from the
/// sign-up or an earlier SMS login), or `verification_id` and `code` (a fresh SMS).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogInBody {
    phone: String,
    pin: String,
    device_token: Option<String>,
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

async fn log_in(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let body: LogInBody = json_body(body)?;
    let login = LogIn {
        device: body.device_proof()?,
        phone: body.phone,
        pin: body.pin,
    };
    let grant = platform(&state)?.log_in(login).await?;
    let mut answer = json!({
        "token": grant.token,
        "session_id": grant.session_id.to_string(),
        "member_id": grant.member_id.to_string(),
        "expires_at": rfc3339(grant.expires_at_s),
    });
    if let Some(device_token) = grant.device_token {
        answer["device_token"] = json!(device_token);
    }
    Ok((StatusCode::CREATED, Json(answer)))
}

async fn log_out(State(state): State<AppState>, headers: HeaderMap) -> Result<StatusCode, Problem> {
    // Not `member()`: a locked member may still log out.
    let token = bearer(&headers).ok_or_else(|| {
        Problem::from(platform::PlatformError::Member(MemberError::SessionExpired))
    })?;
    platform(&state)?.revoke_session(token).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn member_json(view: &platform::members::MemberView) -> Value {
    let devices: Vec<Value> = view
        .devices
        .iter()
        .map(|d| json!({"device_id": d.id.to_string(), "name": d.name, "platform": d.platform, "created_at": rfc3339(d.created_at_s)}))
        .collect();
    json!({
        "member_id": view.id.to_string(),
        "name": view.name,
        "phone": view.phone,
        "status": match view.status { platform::domain::MemberStatus::Active => "active", platform::domain::MemberStatus::Withdrawn => "withdrawn" },
        "created_at": rfc3339(view.created_at_s),
        "devices": devices,
    })
}

async fn me(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, Problem> {
    let member_id = member(&state, &headers).await?;
    let view = platform(&state)?.member(member_id).await?;
    Ok(Json(member_json(&view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditBody {
    name: String,
}

async fn edit_me(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, Problem> {
    let member_id = member(&state, &headers).await?;
    let body: EditBody = json_body(body)?;
    let view = platform(&state)?.rename(member_id, &body.name).await?;
    Ok(Json(member_json(&view)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct WithdrawBody {
    payout: Option<String>,
    pin: Option<String>,
}

async fn withdraw(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, Problem> {
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
    Ok(Json(
        json!({ "status": "withdrawn", "payout_amount": paid }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceBody {
    name: String,
    platform: String,
}

async fn register_device(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let member_id = member(&state, &headers).await?;
    let body: DeviceBody = json_body(body)?;
    let device = platform(&state)?
        .register_device(member_id, &body.name, &body.platform)
        .await?;
    let answer = json!({"device_id": device.id.to_string(), "name": device.name, "platform": device.platform});
    Ok((StatusCode::CREATED, Json(answer)))
}

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

async fn balances(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, Problem> {
    let member_id = member(&state, &headers).await?;
    let balance = platform(&state)?.balance(member_id).await?;
    Ok(Json(json!({
        "balances": [{"asset": ASSET_MVP, "available": balance.available, "pending": balance.pending}]
    })))
}

#[derive(Deserialize)]
struct PageQuery {
    cursor: Option<String>,
    limit: Option<usize>,
}

async fn transactions(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let member_id = member(&state, &headers).await?;
    let Query(query) = query?;
    let before = match &query.cursor {
        Some(text) => Some(text.parse::<u64>().map_err(|_| {
            Problem::from(platform::error::invalid(
                "cursor",
                "a cursor from next_cursor",
            ))
        })?),
        None => None,
    };
    let limit = query.limit.unwrap_or(20);
    if limit == 0 || limit > platform::members::TRANSACTIONS_PAGE_MAX {
        return Err(platform::error::invalid("limit", "1 to 100").into());
    }
    let lines = platform(&state)?
        .transactions(member_id, before, limit)
        .await?;
    let next_cursor = if lines.len() == limit {
        lines.last().map(|line| line.timestamp_ns.to_string())
    } else {
        None
    };
    let lines: Vec<Value> = lines
        .iter()
        .map(|line| {
            json!({
                "transfer_id": line.transfer_id.to_string(),
                "at": rfc3339(line.timestamp_ns / 1_000_000_000),
                "timestamp_ns": line.timestamp_ns.to_string(),
                "reason": line.reason,
                "asset": ASSET_MVP,
                "amount": amount_json(line.amount, line.incoming),
                "balance_after": amount_json(line.balance_after, true),
                "pending": line.pending,
                "reference": line.reference.to_string(),
            })
        })
        .collect();
    Ok(Json(
        json!({ "transactions": lines, "next_cursor": next_cursor }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkBody {
    partner_id: String,
    partner_member_ref: String,
}

async fn link(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let member_id = member(&state, &headers).await?;
    let body: LinkBody = json_body(body)?;
    let partner_id = parse_id_text("partner_id", &body.partner_id)?;
    let attempt = platform(&state)?
        .link_partner(member_id, partner_id, &body.partner_member_ref)
        .await?;
    let answer = json!({
        "link_id": attempt.link_id.0.to_string(),
        "partner_id": attempt.partner_id.to_string(),
        "status": LinkStatus::PendingProof.as_str(),
        "authorize_url": attempt.authorize_url,
        "expires_at": rfc3339(attempt.expires_at_s),
    });
    Ok((StatusCode::CREATED, Json(answer)))
}

#[derive(Deserialize)]
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

async fn prove_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>, Problem> {
    let member_id = member(&state, &headers).await?;
    let link_id = LinkId(parse_id_text("link_id", &id)?);
    let proof = proof_of(&body_bytes(body)?)?;
    let proven = platform(&state)?
        .prove_link(member_id, link_id, &proof)
        .await?;
    let link = &proven.link;
    Ok(Json(json!({
        "link_id": link.id.to_string(),
        "partner_id": link.partner_id.to_string(),
        "status": link.status.as_str(),
        "partner_member_ref": link.member_ref,
        "requested_member_ref": proven.requested_member_ref,
        "member_ref_changed": link.member_ref != proven.requested_member_ref,
        "balance": proven.mileage,
    })))
}

async fn links(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, Problem> {
    let member_id = member(&state, &headers).await?;
    let views = platform(&state)?.links(member_id).await?;
    let links: Vec<Value> = views
        .iter()
        .map(|view| {
            let (balance, error) = match &view.balance {
                Ok(balance) => (json!(balance), Value::Null),
                Err(error) => (Value::Null, json!(error)),
            };
            json!({
                "link_id": view.link.id.to_string(),
                "partner_id": view.link.partner_id.to_string(),
                "partner_name": view.partner_name,
                "partner_member_ref": view.link.member_ref,
                "status": view.link.status.as_str(),
                "expires_at": view.link.expires_at_s.map(rfc3339),
                "balance": balance,
                "balance_error": error,
            })
        })
        .collect();
    Ok(Json(json!({ "links": links })))
}

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

async fn public_partners(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    let views = platform(&state)?.partners().await?;
    let now = ports::time::now_s();
    let partners: Vec<Value> = views
        .iter()
        .filter(|view| view.record.enabled)
        .map(|view| {
            let rate = view.record.rate_at(now);
            json!({
                "partner_id": view.record.id.to_string(),
                "name": view.record.name,
                "rate_num": rate.map(|r| r.num),
                "rate_den": rate.map(|r| r.den),
                "minimum_unit": view.record.minimum_unit,
            })
        })
        .collect();
    Ok(Json(json!({ "partners": partners })))
}

pub fn exchange_json(record: &ExchangeRow) -> Value {
    json!({
        "exchange_id": record.id.to_string(),
        "status": record.status.as_str(),
        "mvp": record.mvp,
        "mileage": record.mileage,
        "rate_num": record.rate.num,
        "rate_den": record.rate.den,
        "partner_id": record.partner_id.to_string(),
        "link_id": record.link_id.to_string(),
        "reference": platform::exchange::reference(record.id),
        "failure": record.failure,
        "created_at": rfc3339(record.created_at_s),
        "finished_at": record.finished_at_s.map(rfc3339),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExchangeBody {
    link_id: String,
    mileage: u64,
}

async fn exchange(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let member_id = member(&state, &headers).await?;
    let body: ExchangeBody = json_body(body)?;
    let link_id = parse_id_text("link_id", &body.link_id)?;
    let idempotency_key = idempotency_key(&headers)?;
    let record = platform(&state)?
        .exchange(ExchangeRequest {
            member_id,
            link_id,
            mileage: body.mileage,
            idempotency_key,
        })
        .await?;
    let status = if record.status.is_final() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(exchange_json(&record))))
}

async fn exchange_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let member_id = member(&state, &headers).await?;
    let id = parse_id_text("exchange_id", &id)?;
    let record = platform(&state)?.member_exchange(member_id, id).await?;
    Ok(Json(exchange_json(&record)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amounts_never_truncate_on_the_wire() {
        assert_eq!(amount_json(7000, true), json!(7000));
        assert_eq!(amount_json(7000, false), json!(-7000));
        assert_eq!(amount_json(0, false), json!(0));
        assert_eq!(
            amount_json(JSON_SAFE_INTEGER_MAX, false),
            json!(-9_007_199_254_740_991i64)
        );
        // Issue 13's finding: 2^64 - 1 MVP showed as -1. Past 2^53 it is an exact string.
        assert_eq!(
            amount_json(u128::from(u64::MAX), true),
            json!("18446744073709551615")
        );
        assert_eq!(
            amount_json(u128::MAX, false),
            json!(format!("-{}", u128::MAX))
        );
    }

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
            let body = serde_json::to_vec(&json!({"state": state, "code": code})).unwrap();
            if let Err(problem) = proof_of(&body) {
                prop_assert_eq!(problem.status, StatusCode::BAD_REQUEST);
            }
        }
    }
}
