//! Creator rewards over HTTP (issue 15 item 5; docs/creators.md): members browse creators
//! and tip them (`/v1/creators`); operators register content platforms and fund and
//! distribute reward pools (`/admin/v1/media-platforms`, `/admin/v1/creator-pools`);
//! content platforms register creators and contents, report figures and read payout
//! history (`/media/v1`, the media API, signed like the game companies' API:
//! `X-Mileverse-Key`, `X-Mileverse-Timestamp`, `X-Mileverse-Signature` = hex
//! HMAC-SHA256(secret, timestamp "\n" METHOD "\n" path "\n" body)).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use platform::creators::pools::{Distribution, PoolReport};
use platform::creators::score::Metrics;
use platform::creators::tips::TipRequest;
use platform::creators::{CreatorView, Report, ReportItem};
use ports::time::rfc3339;
use serde::{Deserialize, Serialize};
use store::tables::creators::{CREATORS_PAGE_MAX, ContentRow, CreatorRow, PayoutRow};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::escrow_api::{admit_signed, bad_signature, signature_headers};
use crate::ledger_api::Body;
use crate::members_api::{idempotency_key, json_body, member, parse_id_text, platform, replayed};
use crate::openapi;
use crate::problem::Problem;
use crate::shapes::{PageQuery, page_limit, time_cursor, time_cursor_text};

/// The members' routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_creators))
        .routes(routes!(creator))
        .routes(routes!(tip))
}

/// The operators' routes.
pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_platform, list_platforms))
        .routes(routes!(fund_pool, list_pools))
        .routes(routes!(pool))
        .routes(routes!(distribute))
}

/// The content platforms' signed routes (the media API).
pub fn media_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_creator))
        .routes(routes!(put_content))
        .routes(routes!(report))
        .routes(routes!(payouts))
}

#[derive(Serialize, ToSchema)]
struct CreatorContentAnswer {
    content_ref: String,
    title: String,
    created_at: String,
}

#[derive(Serialize, ToSchema)]
struct CreatorAnswer {
    creator_id: String,
    /// The creator's name on their platform.
    name: String,
    /// The content platform's name.
    platform: String,
    created_at: String,
    /// The newest contents (at most 50; empty in lists).
    contents: Vec<CreatorContentAnswer>,
}

fn content_answer(row: &ContentRow) -> CreatorContentAnswer {
    CreatorContentAnswer {
        content_ref: row.content_ref.clone(),
        title: row.title.clone(),
        created_at: rfc3339(row.created_at_s),
    }
}

fn creator_answer(view: &CreatorView) -> CreatorAnswer {
    CreatorAnswer {
        creator_id: view.creator.id.to_string(),
        name: view.creator.name.clone(),
        platform: view.platform_name.clone(),
        created_at: rfc3339(view.creator.created_at_s),
        contents: view.contents.iter().map(content_answer).collect(),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct CreatorsQuery {
    /// Only creators whose name contains this (case-insensitive for Latin letters).
    q: Option<String>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
    /// At most 100 (default 20).
    limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
struct CreatorPage {
    creators: Vec<CreatorAnswer>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// The cursor of the creators' list: `<id>.<name>` of the last creator of the page.
fn creator_cursor(text: &str) -> Result<(String, u128), Problem> {
    let parsed = text
        .split_once('.')
        .and_then(|(id, name)| Some((name.to_string(), crate::json::parse_id(id)?)));
    parsed.ok_or_else(|| platform::error::invalid("cursor", "a cursor from next_cursor").into())
}

/// Creators by name, with their platform; `q` searches their names.
#[utoipa::path(get, path = "/v1/creators", operation_id = "creators_list", tag = "creators",
    security(("member_session" = [])),
    params(CreatorsQuery),
    responses((status = 200, description = "A page of creators", body = CreatorPage)))]
async fn list_creators(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<CreatorsQuery>, QueryRejection>,
) -> Result<Json<CreatorPage>, Problem> {
    member(&state, &headers).await?;
    let Query(query) = query?;
    if let Some(search) = &query.q
        && search.chars().count() > platform::creators::NAME_CHARS_MAX
    {
        return Err(platform::error::invalid("q", "at most 100 characters").into());
    }
    let after = query.cursor.as_deref().map(creator_cursor).transpose()?;
    let limit = page_limit(query.limit, 20, CREATORS_PAGE_MAX)?;
    let search = query.q.filter(|q| !q.trim().is_empty());
    let views = platform(&state)?
        .creators_page(search, after, limit)
        .await?;
    let next_cursor = match views.last() {
        Some(last) if views.len() == limit => {
            Some(format!("{}.{}", last.creator.id, last.creator.name))
        }
        _ => None,
    };
    Ok(Json(CreatorPage {
        creators: views.iter().map(creator_answer).collect(),
        next_cursor,
    }))
}

/// A creator: name, platform and newest contents.
#[utoipa::path(get, path = "/v1/creators/{id}", operation_id = "creators_get", tag = "creators",
    security(("member_session" = [])),
    params(("id" = String, Path, description = "The creator id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 200, description = "The creator", body = CreatorAnswer)))]
async fn creator(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<CreatorAnswer>, Problem> {
    member(&state, &headers).await?;
    let creator_id = parse_id_text("creator_id", &id)?;
    let view = platform(&state)?.creator_view(creator_id).await?;
    Ok(Json(creator_answer(&view)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TipBody {
    /// MVP, 1 to 1,000,000; at most 2,000,000 tipped a KST day.
    amount: u64,
    /// At most 100 characters.
    memo: Option<String>,
    /// The PIN again, above the platform's PIN threshold.
    pin: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct TipAnswer {
    tip_id: String,
    creator_id: String,
    amount: u64,
    /// `floor(amount × 30 / 100)`, to the platform.
    platform_share: u64,
    /// The rest, to the creator.
    creator_share: u64,
    memo: String,
    /// The two ledger transfers: the platform's share (absent when zero), the creator's.
    transfer_ids: Vec<String>,
    created_at: String,
}

/// Tips a creator from the member's MVP wallet: 30 % (rounded down) to the platform, the
/// rest to the creator, both or neither.
#[utoipa::path(post, path = "/v1/creators/{id}/tips", operation_id = "creators_tip", tag = "creators",
    security(("member_session" = [])),
    params(("id" = String, Path, description = "The creator id", pattern = r"^[0-9]{1,39}$"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    request_body = TipBody,
    responses(
        (status = 201, description = "Tipped; `Idempotent-Replayed: true` on a retry", body = TipAnswer),
        (status = 409, description = "The same key is still in flight", body = openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "The balance, a limit, or the same key with another body", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn tip(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, Problem> {
    let member_id = member(&state, &headers).await?;
    let creator_id = parse_id_text("creator_id", &id)?;
    let body: TipBody = json_body(body)?;
    let request = TipRequest {
        member_id,
        creator_id,
        amount: body.amount,
        memo: body.memo.unwrap_or_default(),
        idempotency_key: idempotency_key(&headers)?,
        pin: body.pin,
    };
    let tipped = platform(&state)?.tip_creator(request).await?;
    let record = &tipped.value;
    let (fee_id, creator_transfer) = platform::creators::tips::tip_transfer_ids(record.row.id);
    let mut transfer_ids = Vec::with_capacity(2);
    if record.row.platform_share > 0 {
        transfer_ids.push(fee_id.to_string());
    }
    transfer_ids.push(creator_transfer.to_string());
    let answer = TipAnswer {
        tip_id: record.row.id.to_string(),
        creator_id: record.row.creator_id.to_string(),
        amount: record.row.amount,
        platform_share: record.row.platform_share,
        creator_share: record.row.creator_share,
        memo: record.memo.clone(),
        transfer_ids,
        created_at: rfc3339(record.row.created_at_s),
    };
    let answer = (StatusCode::CREATED, Json(answer)).into_response();
    Ok(replayed(answer, tipped.replayed))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MediaPlatformBody {
    /// 1 to 100 characters.
    name: String,
}

#[derive(Serialize, ToSchema)]
struct MediaPlatformGrantAnswer {
    media_platform_id: String,
    /// `X-Mileverse-Key` of the platform's signed requests.
    key_id: String,
    /// Shown once: the HMAC key of its signatures.
    secret: String,
}

/// Registers a content platform with an API key for the media API.
///
/// The secret is shown once. Needs `creators.write`.
#[utoipa::path(post, path = "/admin/v1/media-platforms", operation_id = "creators_register_platform", tag = "creators",
    security(("operator" = [])),
    request_body = MediaPlatformBody,
    responses((status = 201, description = "Registered; the secret is shown once", body = MediaPlatformGrantAnswer)))]
async fn register_platform(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<MediaPlatformGrantAnswer>), Problem> {
    let body: MediaPlatformBody = json_body(body)?;
    let grant = platform(&state)?
        .register_media_platform(&body.name)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(MediaPlatformGrantAnswer {
            media_platform_id: grant.platform_id.to_string(),
            key_id: grant.key_id,
            secret: grant.secret,
        }),
    ))
}

#[derive(Serialize, ToSchema)]
struct MediaPlatformAnswer {
    media_platform_id: String,
    name: String,
    key_id: String,
    created_at: String,
}

#[derive(Serialize, ToSchema)]
struct MediaPlatformList {
    media_platforms: Vec<MediaPlatformAnswer>,
}

/// The content platforms, the newest first (at most 100).
///
/// Needs `creators.read`.
#[utoipa::path(get, path = "/admin/v1/media-platforms", operation_id = "creators_platforms", tag = "creators",
    security(("operator" = [])),
    responses((status = 200, description = "The platforms", body = MediaPlatformList)))]
async fn list_platforms(State(state): State<AppState>) -> Result<Json<MediaPlatformList>, Problem> {
    let rows = platform(&state)?.media_platforms().await?;
    let media_platforms = rows
        .into_iter()
        .map(|row| MediaPlatformAnswer {
            media_platform_id: row.id.to_string(),
            name: row.name,
            key_id: row.key_id,
            created_at: rfc3339(row.created_at_s),
        })
        .collect();
    Ok(Json(MediaPlatformList { media_platforms }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PoolFundingBody {
    #[schema(pattern = r"^[0-9]{1,39}$")]
    media_platform_id: String,
    /// A KST month, `YYYY-MM`.
    period: String,
    /// MVP of ad revenue, 1 to 10^12.
    amount: u64,
    /// The operator's record of the funding (1 to 64 visible ASCII): one funding per reference.
    reference: String,
}

#[derive(Serialize, ToSchema)]
struct CreatorPayoutAnswer {
    transfer_id: String,
    creator_id: String,
    /// `reward` (a pool's share) or `tip` (the creator's share of a tip).
    kind: &'static str,
    amount: u64,
    pool_id: Option<String>,
    /// A reward's period.
    period: Option<String>,
    tip_id: Option<String>,
    created_at: String,
}

fn payout_answer(row: &PayoutRow, period: Option<String>) -> CreatorPayoutAnswer {
    CreatorPayoutAnswer {
        transfer_id: row.transfer_id.to_string(),
        creator_id: row.creator_id.to_string(),
        kind: row.kind.as_str(),
        amount: row.amount,
        pool_id: row.pool_id.map(|id| id.to_string()),
        period,
        tip_id: row.tip_id.map(|id| id.to_string()),
        created_at: rfc3339(row.created_at_s),
    }
}

#[derive(Serialize, ToSchema)]
struct CreatorPoolAnswer {
    pool_id: String,
    media_platform_id: String,
    media_platform: String,
    period: String,
    /// `funded` or `distributed`.
    status: &'static str,
    funded_mvp: u64,
    remaining_mvp: u64,
    distributed_mvp: u64,
    created_at: String,
    distributed_at: Option<String>,
    /// A distributed pool's rewards, the largest first (null in lists and before).
    payouts: Option<Vec<CreatorPayoutAnswer>>,
}

fn pool_answer(report: &PoolReport) -> CreatorPoolAnswer {
    let pool = &report.pool;
    CreatorPoolAnswer {
        pool_id: pool.id.to_string(),
        media_platform_id: pool.platform_id.to_string(),
        media_platform: report.platform_name.clone(),
        period: pool.period.clone(),
        status: pool.status.as_str(),
        funded_mvp: report.funded_mvp,
        remaining_mvp: report.remaining_mvp,
        distributed_mvp: report.distributed_mvp,
        created_at: rfc3339(pool.created_at_s),
        distributed_at: pool.distributed_at_s.map(rfc3339),
        payouts: None,
    }
}

fn distribution_answer(distribution: &Distribution) -> CreatorPoolAnswer {
    let period = Some(distribution.report.pool.period.clone());
    let payouts = distribution
        .payouts
        .iter()
        .map(|row| payout_answer(row, period.clone()))
        .collect();
    CreatorPoolAnswer {
        payouts: Some(payouts),
        ..pool_answer(&distribution.report)
    }
}

/// Funds the platform's reward pool of a period from ad revenue.
///
/// The pool is made by its first funding; each `reference` funds once (again: the same
/// answer). Needs `creators.write`.
#[utoipa::path(post, path = "/admin/v1/creator-pools", operation_id = "creators_fund_pool", tag = "creators",
    security(("operator" = [])),
    request_body = PoolFundingBody,
    responses(
        (status = 201, description = "Funded (or funded already under this reference)", body = CreatorPoolAnswer),
        (status = 409, description = "The ad revenue is short, or the pool was distributed", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn fund_pool(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<CreatorPoolAnswer>), Problem> {
    let body: PoolFundingBody = json_body(body)?;
    let platform_id = parse_id_text("media_platform_id", &body.media_platform_id)?;
    let report = platform(&state)?
        .fund_creator_pool(platform_id, &body.period, body.amount, &body.reference)
        .await?;
    Ok((StatusCode::CREATED, Json(pool_answer(&report))))
}

#[derive(Serialize, ToSchema)]
struct CreatorPoolList {
    pools: Vec<CreatorPoolAnswer>,
}

/// The reward pools, the newest first (at most 100).
///
/// Needs `creators.read`.
#[utoipa::path(get, path = "/admin/v1/creator-pools", operation_id = "creators_pools", tag = "creators",
    security(("operator" = [])),
    responses((status = 200, description = "The pools", body = CreatorPoolList)))]
async fn list_pools(State(state): State<AppState>) -> Result<Json<CreatorPoolList>, Problem> {
    let reports = platform(&state)?.creator_pools().await?;
    Ok(Json(CreatorPoolList {
        pools: reports.iter().map(pool_answer).collect(),
    }))
}

/// A reward pool with its figures.
///
/// Needs `creators.read`.
#[utoipa::path(get, path = "/admin/v1/creator-pools/{id}", operation_id = "creators_pool", tag = "creators",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The pool id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 200, description = "The pool", body = CreatorPoolAnswer)))]
async fn pool(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CreatorPoolAnswer>, Problem> {
    let pool_id = parse_id_text("pool_id", &id)?;
    let report = platform(&state)?.pool_report(pool_id).await?;
    Ok(Json(pool_answer(&report)))
}

/// Distributes a pool among the period's creators by score.
///
/// Largest remainders, one linked chain; a distributed pool answers its rewards again and
/// pays nothing. Needs `creators.write`.
#[utoipa::path(post, path = "/admin/v1/creator-pools/{id}/distribution", operation_id = "creators_distribute", tag = "creators",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The pool id", pattern = r"^[0-9]{1,39}$")),
    responses(
        (status = 200, description = "Distributed (now or before)", body = CreatorPoolAnswer),
        (status = 409, description = "An empty pool, or no scores (`nothing-to-distribute`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn distribute(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CreatorPoolAnswer>, Problem> {
    let pool_id = parse_id_text("pool_id", &id)?;
    let distribution = platform(&state)?.distribute_creator_pool(pool_id).await?;
    Ok(Json(distribution_answer(&distribution)))
}

/// Checks a content platform's signature and the clock; answers the platform.
async fn media_platform_of(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<u128, Problem> {
    let (key_id, timestamp, signature) = signature_headers(headers)?;
    let found = platform(state)?
        .media_platform_key(key_id)
        .await?
        .ok_or_else(|| bad_signature("unknown key"))?;
    admit_signed(
        state,
        &found.secret,
        (timestamp, signature),
        method,
        uri,
        body,
    )?;
    Ok(found.platform_id)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MediaCreatorBody {
    /// The member's phone number: the creator is a Mileverse member.
    phone: String,
    /// The creator's name on the platform (1 to 100 characters).
    name: String,
}

#[derive(Serialize, ToSchema)]
struct MediaCreatorAnswer {
    creator_id: String,
    creator_ref: String,
    name: String,
    created_at: String,
}

fn media_creator_answer(row: &CreatorRow) -> MediaCreatorAnswer {
    MediaCreatorAnswer {
        creator_id: row.id.to_string(),
        creator_ref: row.creator_ref.clone(),
        name: row.name.clone(),
        created_at: rfc3339(row.created_at_s),
    }
}

/// Registers (or renames) a creator: the member with this phone, whose MVP wallet receives
/// the creator's rewards and tips (`creator-not-a-member` when no member has it).
#[utoipa::path(put, path = "/media/v1/creators/{creator_ref}", operation_id = "media_put_creator", tag = "creators",
    security(("media_signature" = [])),
    params(("creator_ref" = String, Path, description = "The platform's own reference (1 to 64 visible ASCII)")),
    request_body = MediaCreatorBody,
    responses(
        (status = 200, description = "Registered", body = MediaCreatorAnswer),
        (status = 422, description = "No member has the phone", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn put_creator(
    State(state): State<AppState>,
    Path(creator_ref): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<MediaCreatorAnswer>, Problem> {
    let platform_id = media_platform_of(&state, &method, &uri, &headers, &body).await?;
    let body: MediaCreatorBody = crate::members_api::json_bytes(&body)?;
    let row = platform(&state)?
        .put_creator(platform_id, &creator_ref, &body.phone, &body.name)
        .await?;
    Ok(Json(media_creator_answer(&row)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MediaContentBody {
    /// The creator's reference on the platform (registered before).
    creator_ref: String,
    /// 1 to 100 characters.
    title: String,
}

#[derive(Serialize, ToSchema)]
struct MediaContentAnswer {
    content_ref: String,
    creator_id: String,
    title: String,
    created_at: String,
}

/// Registers (or retitles) a content of a creator.
#[utoipa::path(put, path = "/media/v1/contents/{content_ref}", operation_id = "media_put_content", tag = "creators",
    security(("media_signature" = [])),
    params(("content_ref" = String, Path, description = "The platform's own reference (1 to 64 visible ASCII)")),
    request_body = MediaContentBody,
    responses((status = 200, description = "Registered", body = MediaContentAnswer)))]
async fn put_content(
    State(state): State<AppState>,
    Path(content_ref): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<MediaContentAnswer>, Problem> {
    let platform_id = media_platform_of(&state, &method, &uri, &headers, &body).await?;
    let body: MediaContentBody = crate::members_api::json_bytes(&body)?;
    let row = platform(&state)?
        .put_content(platform_id, &content_ref, &body.creator_ref, &body.title)
        .await?;
    Ok(Json(MediaContentAnswer {
        content_ref: row.content_ref,
        creator_id: row.creator_id.to_string(),
        title: row.title,
        created_at: rfc3339(row.created_at_s),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReportItemBody {
    content_ref: String,
    /// Each figure 0 to 10^12: the period's figures so far (they replace an earlier report's).
    views: u64,
    comments: u64,
    /// The sum of the ratings' stars, each rating 1 to 5.
    ratings_sum: u64,
    ratings_count: u64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReportBody {
    /// The platform's id of the report (1 to 64 visible ASCII): counted once.
    report_id: String,
    /// A KST month, `YYYY-MM`.
    period: String,
    /// 1 to 1,000 items, each content once.
    items: Vec<ReportItemBody>,
}

#[derive(Serialize, ToSchema)]
struct ReportAnswer {
    report_id: String,
    period: String,
    items: u64,
    created_at: String,
}

/// Reports the period's views, comments and ratings of contents, once per `report_id`: the
/// same body again answers the first (`Idempotent-Replayed`), another body is
/// `report-conflict`.
#[utoipa::path(post, path = "/media/v1/reports", operation_id = "media_report", tag = "creators",
    security(("media_signature" = [])),
    request_body = ReportBody,
    responses(
        (status = 201, description = "Counted", body = ReportAnswer),
        (status = 409, description = "The report_id was used, or the period was distributed", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn report(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let platform_id = media_platform_of(&state, &method, &uri, &headers, &body).await?;
    let body: ReportBody = crate::members_api::json_bytes(&body)?;
    let items = body
        .items
        .into_iter()
        .map(|item| ReportItem {
            content_ref: item.content_ref,
            metrics: Metrics {
                views: item.views,
                comments: item.comments,
                ratings_sum: item.ratings_sum,
                ratings_count: item.ratings_count,
            },
        })
        .collect();
    let report = Report {
        platform_id,
        report_id: body.report_id,
        period: body.period,
        items,
    };
    let counted = platform(&state)?.report_metrics(report).await?;
    let row = &counted.value;
    let answer = ReportAnswer {
        report_id: row.report_id.clone(),
        period: row.period.clone(),
        items: row.items,
        created_at: rfc3339(row.created_at_s),
    };
    let answer = (StatusCode::CREATED, Json(answer)).into_response();
    Ok(replayed(answer, counted.replayed))
}

#[derive(Serialize, ToSchema)]
struct CreatorPayoutPage {
    payouts: Vec<CreatorPayoutAnswer>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// A creator's payout history: pool rewards and tips (the creator's share), newest first.
#[utoipa::path(get, path = "/media/v1/creators/{creator_ref}/payouts", operation_id = "media_payouts", tag = "creators",
    security(("media_signature" = [])),
    params(("creator_ref" = String, Path, description = "The platform's own reference"), PageQuery),
    responses((status = 200, description = "A page of payouts (at most 100)", body = CreatorPayoutPage)))]
async fn payouts(
    State(state): State<AppState>,
    Path(creator_ref): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<CreatorPayoutPage>, Problem> {
    let platform_id = media_platform_of(&state, &method, &uri, &headers, &[]).await?;
    let Query(query) = query?;
    let before = query.cursor.as_deref().map(time_cursor).transpose()?;
    let limit = page_limit(query.limit, 20, CREATORS_PAGE_MAX)?;
    let views = platform(&state)?
        .creator_payouts(platform_id, &creator_ref, before, limit)
        .await?;
    let next_cursor = match views.last() {
        Some(last) if views.len() == limit => Some(time_cursor_text(
            last.payout.created_at_s,
            last.payout.transfer_id,
        )),
        _ => None,
    };
    Ok(Json(CreatorPayoutPage {
        payouts: views
            .into_iter()
            .map(|view| payout_answer(&view.payout, view.period))
            .collect(),
        next_cursor,
    }))
}
