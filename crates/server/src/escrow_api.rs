//! Escrowed P2P trades over HTTP (issue 15 item 3; docs/escrow.md): members offer, browse,
//! take, confirm, cancel and dispute trades (`/v1/trades`); operators read and resolve
//! disputes and register game companies (`/admin/v1/disputes`, `/admin/v1/games`); game
//! companies credit game money and rewards and confirm item deliveries (`/game/v1`,
//! signed like the VAN API: `X-Mileverse-Key`, `X-Mileverse-Timestamp`,
//! `X-Mileverse-Signature` = hex HMAC-SHA256(secret, timestamp "\n" METHOD "\n" path "\n"
//! body)).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use platform::escrow::games::{CreditKind, CreditRequest};
use platform::escrow::{Goods, OfferRequest, Step, TradeView};
use platform::operators::Actor;
use ports::signing::{self, ReplayError};
use ports::time::{now_s, rfc3339};
use serde::{Deserialize, Serialize};
use store::tables::escrow::{TRADES_PAGE_MAX, TradeStatus};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::ledger_api::Body;
use crate::members_api::{idempotency_key, json_body, member, parse_id_text, platform, replayed};
use crate::openapi;
use crate::problem::Problem;
use crate::shapes::{PageQuery, page_limit, time_cursor, time_cursor_text};

/// The members' routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(offer))
        .routes(routes!(list_trades))
        .routes(routes!(trade))
        .routes(routes!(take))
        .routes(routes!(confirm))
        .routes(routes!(cancel))
        .routes(routes!(dispute))
}

/// The operators' routes.
pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(disputes))
        .routes(routes!(resolve))
        .routes(routes!(register_game))
        .routes(routes!(fund_game))
        .routes(routes!(rotate_game_key))
}

/// The game companies' signed routes.
pub fn game_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(credit))
        .routes(routes!(delivery))
        .routes(routes!(game_balance))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TradeOfferBody {
    /// An asset offer: `MVP`, `TTC`, `BTC`, `ETH` or `USDT` (TTC is games' money too).
    asset: Option<String>,
    /// The asset's amount in its smallest unit (1 to 10^15), locked at once.
    amount: Option<u64>,
    /// An item offer: the game company whose item it is.
    #[schema(pattern = r"^[0-9]{1,39}$")]
    game_id: Option<String>,
    /// The game's own reference of the item (1 to 64 characters).
    item_ref: Option<String>,
    /// What buyers see (1 to 100 characters).
    item_name: Option<String>,
    /// The asset the price is paid in.
    price_asset: String,
    /// In `price_asset`'s smallest unit (1 to 10^15).
    price: u64,
    /// `on_platform` (the price is locked when taken; the default) or `off_platform` (paid
    /// outside, e.g. a bank transfer, confirmed by the seller; asset offers only).
    settlement: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct TradeDisputeAnswer {
    /// `seller` or `buyer`.
    opened_by: &'static str,
    text: String,
    evidence: String,
    opened_at: Option<String>,
    /// `release` (to the buyer) or `refund`, once an operator decided.
    resolution: Option<&'static str>,
    resolved_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct TradeAnswer {
    trade_id: String,
    /// `open`, `taken`, `completed`, `cancelled`, `expired`, `disputed`, `released`,
    /// `refunded`.
    status: &'static str,
    /// `asset` or `item`.
    kind: &'static str,
    asset: Option<String>,
    amount: Option<u64>,
    game_id: Option<String>,
    item_ref: Option<String>,
    item_name: Option<String>,
    price_asset: String,
    price: u64,
    /// `on_platform` or `off_platform`.
    settlement: &'static str,
    /// The caller's side: `seller`, `buyer`, or null (browsing an open offer).
    role: Option<&'static str>,
    created_at: String,
    taken_at: Option<String>,
    /// Open: when the offer lapses; taken: when the trade does (its locks voided).
    deadline: String,
    finished_at: Option<String>,
    /// Only to the trade's parties (and operators).
    dispute: Option<TradeDisputeAnswer>,
}

fn trade_answer(view: &TradeView, caller: Option<u128>) -> TradeAnswer {
    let trade = &view.trade;
    let side = |member: u128| match member == trade.seller_id {
        true => "seller",
        false => "buyer",
    };
    let role = caller
        .filter(|id| *id == trade.seller_id || trade.buyer_id == Some(*id))
        .map(side);
    let dispute = view
        .dispute
        .as_ref()
        .map(|(text, evidence)| TradeDisputeAnswer {
            opened_by: trade.dispute_by.map_or("buyer", side),
            text: text.clone(),
            evidence: evidence.clone(),
            opened_at: trade.disputed_at_s.map(rfc3339),
            resolution: trade.resolution.map(|release| match release {
                true => "release",
                false => "refund",
            }),
            resolved_at: trade.resolved_at_s.map(rfc3339),
        });
    TradeAnswer {
        trade_id: trade.id.to_string(),
        status: trade.status.as_str(),
        kind: if trade.item.is_some() {
            "item"
        } else {
            "asset"
        },
        asset: trade.asset.as_ref().map(|(asset, _)| asset.clone()),
        amount: trade.asset.as_ref().map(|(_, amount)| *amount),
        game_id: trade.item.as_ref().map(|item| item.0.to_string()),
        item_ref: trade.item.as_ref().map(|item| item.1.clone()),
        item_name: trade.item.as_ref().map(|item| item.2.clone()),
        price_asset: trade.price_asset.clone(),
        price: trade.price,
        settlement: if trade.on_platform {
            "on_platform"
        } else {
            "off_platform"
        },
        role,
        created_at: rfc3339(trade.created_at_s),
        taken_at: trade.taken_at_s.map(rfc3339),
        deadline: rfc3339(trade.deadline_s),
        finished_at: trade.finished_at_s.map(rfc3339),
        dispute,
    }
}

fn asset_field(field: &'static str, symbol: &str) -> Result<platform::assets::Asset, Problem> {
    platform::assets::asset(symbol)
        .map_err(|_| platform::error::invalid(field, "MVP, TTC, BTC, ETH or USDT").into())
}

fn goods_of(body: &TradeOfferBody) -> Result<Goods, Problem> {
    let invalid = |detail: &str| Problem::from(platform::error::invalid("asset", detail));
    match (&body.asset, body.amount, &body.game_id) {
        (Some(asset), Some(amount), None) => Ok(Goods::Asset(asset_field("asset", asset)?, amount)),
        (None, None, Some(game_id)) => Ok(Goods::Item(
            parse_id_text("game_id", game_id)?,
            body.item_ref.clone().unwrap_or_default(),
            body.item_name.clone().unwrap_or_default(),
        )),
        _ => Err(invalid(
            "either asset and amount, or game_id, item_ref and item_name",
        )),
    }
}

/// Offers an asset (locked in escrow at once) or a game item for a price. At most 20 open
/// offers per member; an offer lapses after the escrow timeout (24 h by default).
#[utoipa::path(post, path = "/v1/trades", operation_id = "escrow_offer", tag = "escrow",
    security(("member_session" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    request_body = TradeOfferBody,
    responses(
        (status = 201, description = "Offered; `Idempotent-Replayed: true` on a retry", body = TradeAnswer),
        (status = 422, description = "The balance, or the same key with another body", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn offer(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let seller_id = member(&state, &headers).await?;
    let body: TradeOfferBody = json_body(body)?;
    let on_platform = match body.settlement.as_deref() {
        None | Some("on_platform") => true,
        Some("off_platform") => false,
        Some(_) => {
            let detail = "on_platform or off_platform";
            return Err(platform::error::invalid("settlement", detail).into());
        }
    };
    let request = OfferRequest {
        seller_id,
        goods: goods_of(&body)?,
        price_asset: asset_field("price_asset", &body.price_asset)?,
        price: body.price,
        on_platform,
        idempotency_key: idempotency_key(&headers)?,
    };
    let offered = platform(&state)?.offer_trade(request).await?;
    let view = TradeView {
        trade: offered.value,
        dispute: None,
    };
    let answer = (
        StatusCode::CREATED,
        Json(trade_answer(&view, Some(seller_id))),
    );
    Ok(replayed(answer.into_response(), offered.replayed))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct TradesQuery {
    /// With `mine=true`, only trades in this state; browsing lists `open` ones only.
    status: Option<String>,
    /// `true`: the caller's own trades (sold and bought) in every state.
    mine: Option<bool>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
    /// At most 100 (default 20).
    limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
struct TradePage {
    trades: Vec<TradeAnswer>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// Open offers to browse, newest first, or with `mine=true` the caller's own trades.
#[utoipa::path(get, path = "/v1/trades", operation_id = "escrow_trades", tag = "escrow",
    security(("member_session" = [])),
    params(TradesQuery),
    responses((status = 200, description = "A page of trades", body = TradePage)))]
async fn list_trades(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<TradesQuery>, QueryRejection>,
) -> Result<Json<TradePage>, Problem> {
    let member_id = member(&state, &headers).await?;
    let Query(query) = query?;
    let status =
        match query.status.as_deref() {
            Some(text) => Some(TradeStatus::parse(text).ok_or_else(|| {
                Problem::from(platform::error::invalid("status", "a trade status"))
            })?),
            None => None,
        };
    let before = query.cursor.as_deref().map(time_cursor).transpose()?;
    let limit = page_limit(query.limit, 20, TRADES_PAGE_MAX)?;
    let mine = query.mine.unwrap_or(false);
    let views = platform(&state)?
        .trades_page(member_id, mine, status, before, limit)
        .await?;
    let next_cursor = match views.last() {
        Some(last) if views.len() == limit => {
            Some(time_cursor_text(last.trade.created_at_s, last.trade.id))
        }
        _ => None,
    };
    Ok(Json(TradePage {
        trades: views
            .iter()
            .map(|view| trade_answer(view, Some(member_id)))
            .collect(),
        next_cursor,
    }))
}

/// A trade: any open offer, or one of the caller's trades (with its dispute).
#[utoipa::path(get, path = "/v1/trades/{id}", operation_id = "escrow_trade", tag = "escrow",
    security(("member_session" = [])),
    params(("id" = String, Path, description = "The trade id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 200, description = "The trade", body = TradeAnswer)))]
async fn trade(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<TradeAnswer>, Problem> {
    let member_id = member(&state, &headers).await?;
    let id = parse_id_text("trade_id", &id)?;
    let view = platform(&state)?.trade_for(member_id, id).await?;
    Ok(Json(trade_answer(&view, Some(member_id))))
}

async fn step(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    step: Step,
) -> Result<Json<TradeAnswer>, Problem> {
    let member_id = member(state, headers).await?;
    let id = parse_id_text("trade_id", id)?;
    let view = platform(state)?.trade_step(member_id, id, step).await?;
    Ok(Json(trade_answer(&view, Some(member_id))))
}

/// Takes an open offer: the caller becomes its one buyer; paid on the platform, the price
/// is locked in escrow now (`insufficient-balance` if it cannot be).
#[utoipa::path(post, path = "/v1/trades/{id}/take", operation_id = "escrow_take", tag = "escrow",
    security(("member_session" = [])),
    params(("id" = String, Path, description = "The trade id", pattern = r"^[0-9]{1,39}$")),
    responses(
        (status = 200, description = "Taken", body = TradeAnswer),
        (status = 409, description = "Not open any more (`trade-state`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn take(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<TradeAnswer>, Problem> {
    step(&state, &headers, &id, Step::Take).await
}

/// Completes a taken trade: the buyer says the goods arrived (paid on the platform), or
/// the seller says the payment arrived (paid outside). Both legs move at once.
#[utoipa::path(post, path = "/v1/trades/{id}/confirm", operation_id = "escrow_confirm", tag = "escrow",
    security(("member_session" = [])),
    params(("id" = String, Path, description = "The trade id", pattern = r"^[0-9]{1,39}$")),
    responses(
        (status = 200, description = "Completed", body = TradeAnswer),
        (status = 409, description = "Not taken, or past its deadline (`trade-state`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<TradeAnswer>, Problem> {
    step(&state, &headers, &id, Step::Confirm).await
}

/// The seller withdraws an open offer: the lock is voided.
#[utoipa::path(post, path = "/v1/trades/{id}/cancel", operation_id = "escrow_cancel", tag = "escrow",
    security(("member_session" = [])),
    params(("id" = String, Path, description = "The trade id", pattern = r"^[0-9]{1,39}$")),
    responses(
        (status = 200, description = "Cancelled", body = TradeAnswer),
        (status = 409, description = "Taken or finished (`trade-state`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<TradeAnswer>, Problem> {
    step(&state, &headers, &id, Step::Cancel).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TradeDisputeBody {
    /// What went wrong (1 to 1,000 characters).
    text: String,
    /// Links, a transcript, a bank reference (at most 4,000 characters).
    evidence: Option<String>,
}

/// A party of a taken trade opens a dispute: the trade freezes (no timeout releases it)
/// until an operator resolves it.
#[utoipa::path(post, path = "/v1/trades/{id}/disputes", operation_id = "escrow_dispute", tag = "escrow",
    security(("member_session" = [])),
    params(("id" = String, Path, description = "The trade id", pattern = r"^[0-9]{1,39}$")),
    request_body = TradeDisputeBody,
    responses(
        (status = 201, description = "Disputed", body = TradeAnswer),
        (status = 409, description = "Not taken (`trade-state`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn dispute(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<TradeAnswer>), Problem> {
    let member_id = member(&state, &headers).await?;
    let id = parse_id_text("trade_id", &id)?;
    let body: TradeDisputeBody = json_body(body)?;
    let evidence = body.evidence.unwrap_or_default();
    let view = platform(&state)?
        .open_dispute(member_id, id, &body.text, &evidence)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(trade_answer(&view, Some(member_id))),
    ))
}

#[derive(Serialize, ToSchema)]
struct DisputeAnswer {
    /// The dispute's id: its trade's.
    dispute_id: String,
    seller_id: String,
    buyer_id: Option<String>,
    trade: TradeAnswer,
}

fn dispute_answer(view: &TradeView) -> DisputeAnswer {
    DisputeAnswer {
        dispute_id: view.trade.id.to_string(),
        seller_id: view.trade.seller_id.to_string(),
        buyer_id: view.trade.buyer_id.map(|id| id.to_string()),
        trade: trade_answer(view, None),
    }
}

#[derive(Serialize, ToSchema)]
struct DisputeQueue {
    disputes: Vec<DisputeAnswer>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// Disputes waiting for an operator, the oldest first, with their text and evidence.
///
/// Needs `disputes.read`.
#[utoipa::path(get, path = "/admin/v1/disputes", operation_id = "escrow_disputes", tag = "escrow",
    security(("operator" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of disputes", body = DisputeQueue)))]
async fn disputes(
    State(state): State<AppState>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<DisputeQueue>, Problem> {
    let Query(query) = query?;
    let after = query.cursor.as_deref().map(time_cursor).transpose()?;
    let limit = page_limit(query.limit, 20, TRADES_PAGE_MAX)?;
    let views = platform(&state)?.disputes_page(after, limit).await?;
    let next_cursor = match views.last() {
        Some(last) if views.len() == limit => {
            let disputed_at_s = last.trade.disputed_at_s.unwrap_or_default();
            Some(time_cursor_text(disputed_at_s, last.trade.id))
        }
        _ => None,
    };
    Ok(Json(DisputeQueue {
        disputes: views.iter().map(dispute_answer).collect(),
        next_cursor,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DisputeResolutionBody {
    /// `release` (the asset to the buyer, the price to the seller) or `refund` (each back
    /// to whoever put it in).
    outcome: String,
    /// Why (at most 1,000 characters; kept in the audit log).
    note: Option<String>,
}

/// Resolves a dispute: release or refund.
///
/// One linked chain of ledger transfers out of escrow whose `user_data_128` is the
/// dispute's id. Needs `disputes.resolve`.
#[utoipa::path(post, path = "/admin/v1/disputes/{id}/resolution", operation_id = "escrow_resolve_dispute", tag = "escrow",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The dispute (trade) id", pattern = r"^[0-9]{1,39}$")),
    request_body = DisputeResolutionBody,
    responses(
        (status = 200, description = "Resolved", body = DisputeAnswer),
        (status = 409, description = "Not disputed (`trade-state`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn resolve(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<DisputeAnswer>, Problem> {
    let id = parse_id_text("dispute_id", &id)?;
    let body: DisputeResolutionBody = json_body(body)?;
    let release = match body.outcome.as_str() {
        "release" => true,
        "refund" => false,
        _ => return Err(platform::error::invalid("outcome", "release or refund").into()),
    };
    let note = body.note.unwrap_or_default();
    let view = platform(&state)?
        .resolve_dispute(id, release, &actor.name(), &note)
        .await?;
    Ok(Json(dispute_answer(&view)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct GameRegistrationBody {
    /// 1 to 100 characters.
    name: String,
}

#[derive(Serialize, ToSchema)]
struct GameGrantAnswer {
    game_id: String,
    /// `X-Mileverse-Key` of the company's signed requests.
    key_id: String,
    /// Shown once: the HMAC key of its signatures.
    secret: String,
}

/// Registers a game company with its TTC account and an API key.
///
/// Game money is TTC. Needs `games.write`.
#[utoipa::path(post, path = "/admin/v1/games", operation_id = "escrow_register_game", tag = "escrow",
    security(("operator" = [])),
    request_body = GameRegistrationBody,
    responses((status = 201, description = "Registered; the secret is shown once", body = GameGrantAnswer)))]
async fn register_game(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<GameGrantAnswer>), Problem> {
    let body: GameRegistrationBody = json_body(body)?;
    let grant = platform(&state)?.register_game(&body.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(GameGrantAnswer {
            game_id: grant.game_id.to_string(),
            key_id: grant.key_id,
            secret: grant.secret,
        }),
    ))
}

/// Gives a game company a new API key; the old one stops working at once.
///
/// The secret is shown once. Needs `games.write`.
#[utoipa::path(post, path = "/admin/v1/games/{id}/key", operation_id = "escrow_rotate_game_key", tag = "escrow",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The game company id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 201, description = "The new key; the secret is shown once", body = GameGrantAnswer)))]
async fn rotate_game_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<GameGrantAnswer>), Problem> {
    let game_id = parse_id_text("game_id", &id)?;
    let grant = platform(&state)?.rotate_game_key(game_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(GameGrantAnswer {
            game_id: grant.game_id.to_string(),
            key_id: grant.key_id,
            secret: grant.secret,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct GameFundingBody {
    /// TTC in its smallest unit (1 to 10^15), from the treasury.
    amount: u64,
    /// The payment's reference (1 to 64 visible ASCII characters): one funding per reference.
    reference: String,
}

#[derive(Serialize, ToSchema)]
struct GameFundingAnswer {
    game_id: String,
    asset: &'static str,
    amount: u64,
    reference: String,
    transfer_id: String,
}

/// Records a game company's purchase of TTC from the treasury.
///
/// The TTC moves to the company's account (once per reference), from which it credits
/// members. Needs `games.write`.
#[utoipa::path(post, path = "/admin/v1/games/{id}/fundings", operation_id = "escrow_fund_game", tag = "escrow",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The game company id", pattern = r"^[0-9]{1,39}$")),
    request_body = GameFundingBody,
    responses((status = 201, description = "Funded (or funded already)", body = GameFundingAnswer)))]
async fn fund_game(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<GameFundingAnswer>), Problem> {
    let game_id = parse_id_text("game_id", &id)?;
    let body: GameFundingBody = json_body(body)?;
    let transfer_id = platform(&state)?
        .fund_game(game_id, body.amount, &body.reference)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(GameFundingAnswer {
            game_id: game_id.to_string(),
            asset: platform::assets::TTC.symbol,
            amount: body.amount,
            reference: body.reference,
            transfer_id: transfer_id.to_string(),
        }),
    ))
}

pub(crate) fn bad_signature(detail: &str) -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "bad-signature",
        "The request signature is not valid",
        detail,
    )
}

/// The three signature headers of a signed request: `(key id, timestamp, signature)`.
pub(crate) fn signature_headers(headers: &HeaderMap) -> Result<(&str, &str, &str), Problem> {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    match (
        text("x-mileverse-key"),
        text("x-mileverse-timestamp"),
        text("x-mileverse-signature"),
    ) {
        (Some(key_id), Some(timestamp), Some(signature)) => Ok((key_id, timestamp, signature)),
        _ => Err(bad_signature(
            "send X-Mileverse-Key, X-Mileverse-Timestamp and X-Mileverse-Signature",
        )),
    }
}

/// Checks a signed request's signature with `secret` and the clock. A signature seen before
/// is a retransmission: admitted again, since every signed route of games and content
/// platforms is idempotent.
pub(crate) fn admit_signed(
    state: &AppState,
    secret: &[u8],
    (timestamp, signature): (&str, &str),
    method: &Method,
    uri: &Uri,
    body: &[u8],
) -> Result<(), Problem> {
    let timestamp_s: u64 = timestamp
        .parse()
        .map_err(|_| bad_signature("the timestamp is not Unix seconds"))?;
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let signed =
        signing::verify_van_signature(secret, timestamp_s, method.as_str(), path, body, signature);
    if !signed {
        return Err(bad_signature("the signature does not match"));
    }
    let nonce = signature.to_ascii_lowercase();
    match state.replay_guard.admit(timestamp_s, &nonce, now_s()) {
        Ok(()) | Err(ReplayError::Replayed) => Ok(()),
        Err(ReplayError::Stale) => Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "stale-request",
            "The request timestamp is too far from our clock",
            "more than 300 s off",
        )),
        Err(ReplayError::BadNonce) => Err(bad_signature("the signature is malformed")),
        Err(ReplayError::Full) => Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            "too many requests in the replay window; retry later",
        )),
    }
}

/// Checks a game company's signature and the clock; answers the company.
async fn game_of(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<u128, Problem> {
    let (key_id, timestamp, signature) = signature_headers(headers)?;
    let game = platform(state)?
        .game_key(key_id)
        .await?
        .ok_or_else(|| bad_signature("unknown key"))?;
    admit_signed(
        state,
        &game.secret,
        (timestamp, signature),
        method,
        uri,
        body,
    )?;
    Ok(game.game_id)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct GameCreditBody {
    /// The member's phone number.
    member_phone: String,
    /// TTC in its smallest unit (1 to 10^15).
    amount: u64,
    /// `game_money` or `reward`.
    kind: String,
    /// The company's id of this credit (1 to 64 visible ASCII): it credits once.
    credit_id: String,
}

#[derive(Serialize, ToSchema)]
struct GameCreditAnswer {
    credit_id: String,
    asset: &'static str,
    amount: u64,
    kind: String,
    created_at: String,
}

/// Credits a member game money or a reward (TTC) from the company's account, once per
/// `credit_id`: the same body again answers the first credit (`Idempotent-Replayed`),
/// another body under it is `game-credit-conflict`.
#[utoipa::path(post, path = "/game/v1/credits", operation_id = "game_credit", tag = "escrow",
    security(("game_signature" = [])),
    request_body = GameCreditBody,
    responses(
        (status = 201, description = "Credited", body = GameCreditAnswer),
        (status = 409, description = "The company's TTC is short, or the credit_id was used", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn credit(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let game_id = game_of(&state, &method, &uri, &headers, &body).await?;
    let body: GameCreditBody = crate::members_api::json_bytes(&body)?;
    let kind = CreditKind::parse(&body.kind)
        .ok_or_else(|| Problem::from(platform::error::invalid("kind", "game_money or reward")))?;
    let request = CreditRequest {
        game_id,
        member_phone: body.member_phone,
        amount: body.amount,
        kind,
        credit_id: body.credit_id,
    };
    let credited = platform(&state)?.credit_member(request).await?;
    let row = &credited.value;
    let answer = GameCreditAnswer {
        credit_id: row.credit_id.clone(),
        asset: platform::assets::TTC.symbol,
        amount: row.amount,
        kind: row.kind.clone(),
        created_at: rfc3339(row.created_at_s),
    };
    let answer = (StatusCode::CREATED, Json(answer)).into_response();
    Ok(replayed(answer, credited.replayed))
}

#[derive(Serialize, ToSchema)]
struct GameBalanceAnswer {
    game_id: String,
    asset: &'static str,
    /// TTC bought from the treasury, in its smallest unit.
    bought: u64,
    /// TTC credited to members.
    credited: u64,
    /// What the company may still credit.
    available: u64,
}

/// The company's TTC: bought, credited to members, and left.
#[utoipa::path(get, path = "/game/v1/balance", operation_id = "game_balance", tag = "escrow",
    security(("game_signature" = [])),
    responses((status = 200, description = "The company's TTC", body = GameBalanceAnswer)))]
async fn game_balance(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<GameBalanceAnswer>, Problem> {
    // A GET is signed over an empty body.
    let game_id = game_of(&state, &method, &uri, &headers, &[]).await?;
    let balance = platform(&state)?.game_balance(game_id).await?;
    // Sums of amounts of at most 10^15 each: past u64 (never in practice) they saturate.
    let units = |value: u128| u64::try_from(value).unwrap_or(u64::MAX);
    Ok(Json(GameBalanceAnswer {
        game_id: game_id.to_string(),
        asset: platform::assets::TTC.symbol,
        bought: units(balance.bought),
        credited: units(balance.credited),
        available: units(balance.available),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct GameDeliveryBody {
    /// The taken trade of the company's item that was delivered in the game.
    #[schema(pattern = r"^[0-9]{1,39}$")]
    trade_id: String,
}

/// The company confirms it delivered a traded item to the buyer in the game: the trade
/// completes (the price to the seller).
#[utoipa::path(post, path = "/game/v1/deliveries", operation_id = "game_delivery", tag = "escrow",
    security(("game_signature" = [])),
    request_body = GameDeliveryBody,
    responses(
        (status = 200, description = "Completed", body = TradeAnswer),
        (status = 409, description = "Not taken (`trade-state`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn delivery(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<TradeAnswer>, Problem> {
    let game_id = game_of(&state, &method, &uri, &headers, &body).await?;
    let body: GameDeliveryBody = crate::members_api::json_bytes(&body)?;
    let trade_id = parse_id_text("trade_id", &body.trade_id)?;
    let trade = platform(&state)?
        .confirm_delivery(game_id, trade_id)
        .await?;
    let view = TradeView {
        trade,
        dispute: None,
    };
    Ok(Json(trade_answer(&view, None)))
}
