//! P2P transfers over HTTP (issue 15 item 1, DESIGN's `POST /v1/transfers`): a member sends
//! MVP to a phone number (held for a phone that is not a member's yet) or pays a money
//! request; reads their transfers; checks a phone's masked name before sending; asks for
//! money with a link.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use platform::chart::ASSET_MVP;
use platform::limits::RECIPIENT_LOOKUPS;
use platform::transfers::{MoneyRequest, Recipient, SendRequest, TransferRecord};
use ports::time::rfc3339;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::ledger_api::Body;
use crate::members_api::{idempotency_key, json_body, member, parse_id_text, platform, replayed};
use crate::openapi;
use crate::problem::Problem;
use crate::shapes::{PageQuery, page_limit, time_cursor, time_cursor_text};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send))
        .routes(routes!(transfer))
        .routes(routes!(my_transfers))
        .routes(routes!(recipient))
        .routes(routes!(request_money))
        .routes(routes!(money_request))
        .routes(routes!(cancel_request))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SendBody {
    /// The receiver's phone number; exactly one of `to_phone` and `request_id`.
    to_phone: Option<String>,
    /// A money request to pay (its amount exactly).
    #[schema(pattern = r"^[0-9]{1,39}$")]
    request_id: Option<String>,
    /// What leaves the sender: `MVP` (the default), `TTC`, `BTC`, `ETH` or `USDT`.
    asset: Option<String>,
    /// What reaches the receiver (default `asset`): another asset at the market price less
    /// the spread, to a member only.
    receive_asset: Option<String>,
    /// In `asset`'s smallest unit; worth 1 to 2,000,000 MVP.
    amount: u64,
    /// At most 100 characters; the receiver sees it.
    memo: Option<String>,
    /// The PIN again, above the platform's threshold (`pin-required` says when).
    pin: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct TransferAnswer {
    transfer_id: String,
    /// `completed`; `held` (the phone is not a member's yet: it waits until `expires_at`,
    /// then returns); `claimed` (held, then the phone's new member got it); `returned`.
    status: &'static str,
    /// `sent` or `received`, as the caller sees it.
    direction: &'static str,
    /// What left the sender, in its smallest unit.
    asset: String,
    amount: u64,
    /// What reached the receiver (the same as `asset` and `amount` in one asset).
    receive_asset: String,
    received_amount: u64,
    memo: String,
    /// The other member's name, masked ("김*수"); null while held.
    counterparty_name_masked: Option<String>,
    /// The money request it paid.
    request_id: Option<String>,
    created_at: String,
    expires_at: Option<String>,
    finished_at: Option<String>,
}

async fn transfer_answer(
    state: &AppState,
    member_id: u128,
    record: &TransferRecord,
) -> Result<TransferAnswer, Problem> {
    let sent = record.sender_id == member_id;
    let counterparty = if sent {
        record.receiver_id
    } else {
        Some(record.sender_id)
    };
    let counterparty_name_masked = match (counterparty, &record.receiver_name_masked) {
        (Some(_), Some(known)) if sent => Some(known.clone()),
        (Some(id), _) => Some(platform(state)?.masked_name(id).await?),
        (None, _) => None,
    };
    Ok(TransferAnswer {
        transfer_id: record.id.to_string(),
        status: record.status.as_str(),
        direction: if sent { "sent" } else { "received" },
        asset: record.asset.clone(),
        amount: record.amount,
        receive_asset: record.receive_asset.clone(),
        received_amount: record.received_amount,
        memo: record.memo.clone(),
        counterparty_name_masked,
        request_id: record.request_id.map(|id| id.to_string()),
        created_at: rfc3339(record.created_at_s),
        expires_at: record.expires_at_s.map(rfc3339),
        finished_at: record.finished_at_s.map(rfc3339),
    })
}

/// Sends MVP to a member by phone number, or pays a money request: instant and atomic (one
/// ledger transfer and its record in one commit). To a phone that is not a member's yet,
/// the value is held until someone joins with it (then it is theirs) or for 7 days (then it
/// returns). At most 2,000,000 MVP a transfer and 5,000,000 sent a KST day.
#[utoipa::path(post, path = "/v1/transfers", operation_id = "p2p_send", tag = "transfers",
    security(("member_session" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    request_body = SendBody,
    responses(
        (status = 201, description = "Sent (or held); `Idempotent-Replayed: true` on a retry", body = TransferAnswer),
        (status = 409, description = "The same key is still in flight", body = openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "The same key with another body, the balance, or a limit", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn send(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let sender_id = member(&state, &headers).await?;
    let body: SendBody = json_body(body)?;
    let asset = match body.asset.as_deref() {
        Some(symbol) => platform::assets::asset(symbol)?,
        None => platform::assets::MVP,
    };
    let receive_asset = match body.receive_asset.as_deref() {
        Some(symbol) => platform::assets::asset(symbol)?,
        None => asset,
    };
    let to = match (body.to_phone, body.request_id) {
        (Some(phone), None) => Recipient::Phone(phone),
        (None, Some(id)) => Recipient::Request(parse_id_text("request_id", &id)?),
        _ => {
            let detail = "exactly one of to_phone and request_id";
            return Err(platform::error::invalid("to_phone", detail).into());
        }
    };
    let request = SendRequest {
        sender_id,
        to,
        asset,
        receive_asset,
        amount: body.amount,
        memo: body.memo.unwrap_or_default(),
        idempotency_key: idempotency_key(&headers)?,
        pin: body.pin,
    };
    let sent = platform(&state)?.send_transfer_once(request).await?;
    let answer = transfer_answer(&state, sender_id, &sent.value).await?;
    let answer = (StatusCode::CREATED, Json(answer)).into_response();
    Ok(replayed(answer, sent.replayed))
}

/// A transfer the member sent or received.
#[utoipa::path(get, path = "/v1/transfers/{id}", operation_id = "p2p_transfer", tag = "transfers",
    security(("member_session" = [])),
    params(("id" = String, Path, description = "The transfer id", pattern = r"^[0-9]{1,39}$")),
    responses(
        (status = 200, description = "The transfer", body = TransferAnswer),
        (status = 404, description = "Not the member's, or no such transfer", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn transfer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<TransferAnswer>, Problem> {
    let member_id = member(&state, &headers).await?;
    let id = parse_id_text("transfer_id", &id)?;
    let record = platform(&state)?.p2p_transfer(member_id, id).await?;
    Ok(Json(transfer_answer(&state, member_id, &record).await?))
}

#[derive(Serialize, ToSchema)]
struct TransfersAnswer {
    transfers: Vec<TransferAnswer>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// The member's transfers, sent and received, newest first (at most 100 a page).
#[utoipa::path(get, path = "/v1/me/transfers", operation_id = "p2p_my_transfers", tag = "transfers",
    security(("member_session" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of transfers", body = TransfersAnswer)))]
async fn my_transfers(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<TransfersAnswer>, Problem> {
    let member_id = member(&state, &headers).await?;
    let Query(query) = query?;
    let before = query.cursor.as_deref().map(time_cursor).transpose()?;
    let page_max = store::tables::transfers::TRANSFERS_PAGE_MAX;
    let limit = page_limit(query.limit, 20, page_max)?;
    let records = platform(&state)?
        .member_p2p_transfers(member_id, before, limit)
        .await?;
    let next_cursor = match records.last() {
        Some(last) if records.len() == limit => Some(time_cursor_text(last.created_at_s, last.id)),
        _ => None,
    };
    let mut transfers = Vec::with_capacity(records.len());
    for record in &records {
        transfers.push(transfer_answer(&state, member_id, record).await?);
    }
    Ok(Json(TransfersAnswer {
        transfers,
        next_cursor,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct RecipientQuery {
    /// The phone number to send to.
    phone: String,
}

#[derive(Serialize, ToSchema)]
struct RecipientAnswer {
    /// Whether a member has this phone (if not, a transfer is held for it).
    member: bool,
    /// The member's name, masked ("김*수").
    name_masked: Option<String>,
}

/// Who would receive a transfer to this phone, masked, for the sender to check before
/// sending. Limited per member (30 an hour): it must not become a directory.
#[utoipa::path(get, path = "/v1/transfer-recipients", operation_id = "p2p_recipient", tag = "transfers",
    security(("member_session" = [])),
    params(RecipientQuery),
    responses(
        (status = 200, description = "The recipient", body = RecipientAnswer),
        (status = 429, description = "Too many lookups", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn recipient(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<RecipientQuery>, QueryRejection>,
) -> Result<Json<RecipientAnswer>, Problem> {
    let member_id = member(&state, &headers).await?;
    let Query(query) = query?;
    let platform = platform(&state)?;
    platform.rate_limit(RECIPIENT_LOOKUPS, &member_id.to_be_bytes())?;
    let name_masked = platform.recipient_name(&query.phone).await?;
    Ok(Json(RecipientAnswer {
        member: name_masked.is_some(),
        name_masked,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RequestBody {
    /// MVP asked for: 1 to 2,000,000.
    amount: u64,
    /// At most 100 characters; the payer sees it.
    memo: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct RequestAnswer {
    request_id: String,
    /// The requester's name, masked, as the payer sees it.
    requester_name_masked: String,
    asset: &'static str,
    amount: u64,
    memo: String,
    /// `open`, `paid` or `cancelled` (an open one past `expires_at` cannot be paid).
    status: &'static str,
    /// The transfer that paid it.
    transfer_id: Option<String>,
    created_at: String,
    expires_at: String,
    /// The member app's page a friend opens to pay it.
    pay_url: String,
    /// Whether the caller made it (the requester may cancel; others may pay).
    mine: bool,
}

fn request_answer(
    state: &AppState,
    caller_id: u128,
    request: &MoneyRequest,
) -> Result<RequestAnswer, Problem> {
    let base = platform(state)?.config.public_url.clone();
    Ok(RequestAnswer {
        mine: request.requester_id == caller_id,
        request_id: request.id.to_string(),
        requester_name_masked: request.requester_name_masked.clone(),
        asset: ASSET_MVP,
        amount: request.amount,
        memo: request.memo.clone(),
        status: request.status.as_str(),
        transfer_id: request.transfer_id.map(|id| id.to_string()),
        created_at: rfc3339(request.created_at_s),
        expires_at: rfc3339(request.expires_at_s),
        pay_url: format!("{base}/app/pay-request/{}", request.id),
    })
}

/// Asks for money: a request a friend pays with `POST /v1/transfers {request_id}`, open
/// for 7 days (50 a KST day at most).
#[utoipa::path(post, path = "/v1/transfer-requests", operation_id = "p2p_request_money", tag = "transfers",
    security(("member_session" = [])),
    request_body = RequestBody,
    responses((status = 201, description = "The request and its link", body = RequestAnswer)))]
async fn request_money(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<RequestAnswer>), Problem> {
    let member_id = member(&state, &headers).await?;
    let body: RequestBody = json_body(body)?;
    let memo = body.memo.unwrap_or_default();
    let made = platform(&state)?
        .request_money(member_id, body.amount, &memo)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(request_answer(&state, member_id, &made)?),
    ))
}

/// A money request, as any signed-in member sees it (its id is the link's secret).
#[utoipa::path(get, path = "/v1/transfer-requests/{id}", operation_id = "p2p_money_request", tag = "transfers",
    security(("member_session" = [])),
    params(("id" = String, Path, description = "The request id", pattern = r"^[0-9]{1,39}$")),
    responses(
        (status = 200, description = "The request", body = RequestAnswer),
        (status = 404, description = "No such request", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn money_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<RequestAnswer>, Problem> {
    let member_id = member(&state, &headers).await?;
    let id = parse_id_text("request_id", &id)?;
    let request = platform(&state)?.money_request(id).await?;
    Ok(Json(request_answer(&state, member_id, &request)?))
}

/// Cancels the member's own open request.
#[utoipa::path(post, path = "/v1/transfer-requests/{id}/cancel", operation_id = "p2p_cancel_request", tag = "transfers",
    security(("member_session" = [])),
    params(("id" = String, Path, description = "The request id", pattern = r"^[0-9]{1,39}$")),
    responses(
        (status = 200, description = "The request, cancelled", body = RequestAnswer),
        (status = 409, description = "Paid already", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn cancel_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<RequestAnswer>, Problem> {
    let member_id = member(&state, &headers).await?;
    let id = parse_id_text("request_id", &id)?;
    let request = platform(&state)?
        .cancel_money_request(member_id, id)
        .await?;
    Ok(Json(request_answer(&state, member_id, &request)?))
}
