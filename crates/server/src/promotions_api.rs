//! Promotions over HTTP (issue 15 item 7, docs/promotions.md): operators set sign-up
//! bonuses and cashback, fund each budget, end them, and read what each gave and took back.
//! Reading needs `ads.read`, changing `ads.write` (marketing's permissions).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use platform::promotions::{NewPromotion, PromotionReport};
use ports::time::rfc3339;
use serde::{Deserialize, Serialize};
use store::tables::promotions::PromotionKind;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::ledger_api::Body;
use crate::members_api::{json_body, parse_id_text, platform};
use crate::merchants_api::parse_rfc3339;
use crate::problem::Problem;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(promotion))
        .routes(routes!(fund))
        .routes(routes!(end))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PromotionBody {
    /// 1 to 100 characters.
    name: String,
    /// `signup_bonus`, `cashback` or `trading_reward`.
    kind: String,
    /// Sign-up bonus: MVP per wallet (1 to 1,000,000).
    #[serde(default)]
    amount: u64,
    /// Cashback: basis points of each payment; trading reward: of the MVP side of each asset
    /// conversion (1 to 5,000).
    #[serde(default)]
    rate_bps: u32,
    /// Sign-up bonus: the first this many wallets.
    #[serde(default)]
    wallets_max: u64,
    /// Cashback: at this merchant (or `brand`: at all of the brand's).
    #[schema(pattern = r"^[0-9]{1,39}$")]
    merchant_id: Option<String>,
    brand: Option<String>,
    /// RFC 3339.
    starts_at: String,
    /// RFC 3339, after `starts_at`, within 366 days of it.
    ends_at: String,
}

#[derive(Serialize, ToSchema)]
struct PromotionAnswer {
    promotion_id: String,
    name: String,
    kind: &'static str,
    amount: u64,
    rate_bps: u32,
    wallets_max: u64,
    merchant_id: Option<String>,
    brand: Option<String>,
    starts_at: String,
    ends_at: String,
    /// `active` or `ended` (by an operator; past `ends_at` it grants nothing either).
    status: &'static str,
    /// MVP put into the budget, and what is left of it.
    funded_mvp: u64,
    remaining_mvp: u64,
    /// Wallets given the sign-up bonus, and the MVP of it.
    signups: u64,
    signup_mvp: u64,
    cashback_mvp: u64,
    /// Cashback taken back by refunds.
    clawback_mvp: u64,
    /// Rewards paid on asset conversions.
    trading_reward_mvp: u64,
}

fn answer(report: &PromotionReport) -> PromotionAnswer {
    let row = &report.row;
    PromotionAnswer {
        promotion_id: row.id.to_string(),
        name: row.name.clone(),
        kind: row.kind.as_str(),
        amount: row.amount,
        rate_bps: row.rate_bps,
        wallets_max: row.wallets_max,
        merchant_id: row.merchant_id.map(|id| id.to_string()),
        brand: row.brand.clone(),
        starts_at: rfc3339(row.starts_at_s),
        ends_at: rfc3339(row.ends_at_s),
        status: if row.ended { "ended" } else { "active" },
        funded_mvp: report.funded_mvp,
        remaining_mvp: report.remaining_mvp,
        signups: report.totals.signups,
        signup_mvp: report.totals.signup_mvp,
        cashback_mvp: report.totals.cashback_mvp,
        trading_reward_mvp: report.totals.trading_reward_mvp,
        clawback_mvp: report.totals.clawback_mvp,
    }
}

fn time_of(field: &'static str, text: &str) -> Result<u64, Problem> {
    parse_rfc3339(text)
        .ok_or_else(|| platform::error::invalid(field, "RFC 3339 (2026-12-01T00:00:00Z)").into())
}

/// Creates a promotion with an empty budget (fund it next).
///
/// Needs `ads.write`.
#[utoipa::path(post, path = "/admin/v1/promotions", operation_id = "promotions_create", tag = "promotions",
    security(("operator" = [])),
    request_body = PromotionBody,
    responses((status = 201, description = "The promotion", body = PromotionAnswer)))]
async fn create(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<PromotionAnswer>), Problem> {
    let body: PromotionBody = json_body(body)?;
    let kind = PromotionKind::parse(&body.kind).ok_or_else(|| {
        platform::error::invalid("kind", "signup_bonus, cashback or trading_reward")
    })?;
    let merchant_id = body
        .merchant_id
        .as_deref()
        .map(|text| parse_id_text("merchant_id", text))
        .transpose()?;
    let new = NewPromotion {
        name: body.name,
        kind,
        amount: body.amount,
        rate_bps: body.rate_bps,
        wallets_max: body.wallets_max,
        merchant_id,
        brand: body.brand,
        starts_at_s: time_of("starts_at", &body.starts_at)?,
        ends_at_s: time_of("ends_at", &body.ends_at)?,
    };
    let platform = platform(&state)?;
    let row = platform.create_promotion(new).await?;
    let report = platform.promotion_report(row.id).await?;
    Ok((StatusCode::CREATED, Json(answer(&report))))
}

#[derive(Serialize, ToSchema)]
struct PromotionsAnswer {
    promotions: Vec<PromotionAnswer>,
}

/// The promotions in force (newest first), then the newest ended ones.
///
/// Needs `ads.read`.
#[utoipa::path(get, path = "/admin/v1/promotions", operation_id = "promotions_list", tag = "promotions",
    security(("operator" = [])),
    responses((status = 200, description = "The promotions", body = PromotionsAnswer)))]
async fn list(State(state): State<AppState>) -> Result<Json<PromotionsAnswer>, Problem> {
    let reports = platform(&state)?.promotions().await?;
    Ok(Json(PromotionsAnswer {
        promotions: reports.iter().map(answer).collect(),
    }))
}

/// A promotion with what it gave, took back and has left.
///
/// Needs `ads.read`.
#[utoipa::path(get, path = "/admin/v1/promotions/{id}", operation_id = "promotions_one", tag = "promotions",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The promotion id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 200, description = "The promotion", body = PromotionAnswer)))]
async fn promotion(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PromotionAnswer>, Problem> {
    let id = parse_id_text("id", &id)?;
    let report = platform(&state)?.promotion_report(id).await?;
    Ok(Json(answer(&report)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct FundingBody {
    /// MVP, 1 to 10^12.
    amount: u64,
    /// The operator's record of the spend (1 to 64 bytes): one funding per reference.
    reference: String,
}

/// Puts the platform's marketing money into the budget, once per reference.
///
/// Needs `ads.write`.
#[utoipa::path(post, path = "/admin/v1/promotions/{id}/fundings", operation_id = "promotions_fund", tag = "promotions",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The promotion id", pattern = r"^[0-9]{1,39}$")),
    request_body = FundingBody,
    responses((status = 200, description = "The promotion, funded", body = PromotionAnswer)))]
async fn fund(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<PromotionAnswer>, Problem> {
    let id = parse_id_text("id", &id)?;
    let body: FundingBody = json_body(body)?;
    let report = platform(&state)?
        .fund_promotion(id, body.amount, &body.reference)
        .await?;
    Ok(Json(answer(&report)))
}

/// Ends a promotion now.
///
/// Needs `ads.write`.
#[utoipa::path(post, path = "/admin/v1/promotions/{id}/end", operation_id = "promotions_end", tag = "promotions",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The promotion id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 200, description = "The promotion, ended", body = PromotionAnswer)))]
async fn end(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PromotionAnswer>, Problem> {
    let id = parse_id_text("id", &id)?;
    let report = platform(&state)?.end_promotion(id).await?;
    Ok(Json(answer(&report)))
}
