//! Ads over HTTP (issue 14 item 5): operators create campaigns for partners and merchants
//! and read their reports; the member app asks for an ad of a placement (its impression is
//! billed as it is served) and reports a click (billed once per view).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use platform::ads::{Advertiser, CampaignReport, NewCampaign};
use ports::time::rfc3339;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::ledger_api::Body;
use crate::members_api::{json_body, member, parse_id_text, platform};
use crate::openapi;
use crate::problem::Problem;
use crate::shapes::{PageQuery, page_limit};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_campaign, campaigns))
        .routes(routes!(campaign))
        .routes(routes!(serve))
        .routes(routes!(click))
}

/// A campaign's default schedule: 30 days from its creation.
const SCHEDULE_DEFAULT_S: u64 = 30 * 24 * 3600;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CampaignBody {
    /// `partner` or `merchant`.
    advertiser_kind: String,
    #[schema(pattern = r"^[0-9]{1,39}$")]
    advertiser_id: String,
    name: String,
    /// What the member reads first (at most 80 characters).
    headline: String,
    /// At most 280 characters.
    body: String,
    /// Where a click leads: an http(s) URL.
    link_url: String,
    /// Unix seconds; default now.
    starts_at_s: Option<u64>,
    /// Unix seconds; default 30 days after the start.
    ends_at_s: Option<u64>,
    /// MVP the advertiser prepaid for this campaign.
    budget: u64,
    price_per_impression: u64,
    price_per_click: u64,
    /// Views per member per KST day.
    frequency_cap: u64,
}

#[derive(Serialize, ToSchema)]
struct CampaignAnswer {
    campaign_id: String,
    advertiser_kind: String,
    advertiser_id: String,
    name: String,
    headline: String,
    body: String,
    link_url: String,
    placement: String,
    starts_at: String,
    ends_at: String,
    budget: u64,
    price_per_impression: u64,
    price_per_click: u64,
    frequency_cap: u64,
    /// `active`, `paused` or `exhausted` (the budget no longer covers a view).
    status: String,
    /// Views served (each billed `price_per_impression`).
    impressions: u64,
    /// Views clicked (each billed `price_per_click`, once per view).
    clicks: u64,
    /// MVP billed: the budget account's debits in the ledger.
    spent: u64,
    remaining: u64,
}

fn campaign_answer(report: &CampaignReport) -> CampaignAnswer {
    let campaign = &report.campaign;
    CampaignAnswer {
        campaign_id: campaign.id.to_string(),
        advertiser_kind: campaign.advertiser_kind.clone(),
        advertiser_id: campaign.advertiser_id.to_string(),
        name: campaign.name.clone(),
        headline: campaign.headline.clone(),
        body: campaign.body.clone(),
        link_url: campaign.link_url.clone(),
        placement: campaign.placement.clone(),
        starts_at: rfc3339(campaign.starts_at_s),
        ends_at: rfc3339(campaign.ends_at_s),
        budget: campaign.budget,
        price_per_impression: campaign.price_per_impression,
        price_per_click: campaign.price_per_click,
        frequency_cap: campaign.frequency_cap,
        status: campaign.status.clone(),
        impressions: report.impressions,
        clicks: report.clicks,
        spent: report.spent,
        remaining: report.remaining,
    }
}

/// Creates a campaign and funds its budget from the advertiser's prepayment (one commit).
///
/// Needs `ads.write`.
#[utoipa::path(post, path = "/admin/v1/ad-campaigns", tag = "admin ads",
    security(("operator" = [])),
    request_body = CampaignBody,
    responses((status = 201, description = "The campaign", body = CampaignAnswer)))]
async fn create_campaign(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<CampaignAnswer>), Problem> {
    let body: CampaignBody = json_body(body)?;
    let advertiser_id = parse_id_text("advertiser_id", &body.advertiser_id)?;
    let advertiser = match body.advertiser_kind.as_str() {
        "partner" => Advertiser::Partner(advertiser_id),
        "merchant" => Advertiser::Merchant(advertiser_id),
        _ => return Err(platform::error::invalid("advertiser_kind", "partner or merchant").into()),
    };
    let starts_at_s = body.starts_at_s.unwrap_or_else(ports::time::now_s);
    let new = NewCampaign {
        advertiser,
        name: body.name,
        headline: body.headline,
        body: body.body,
        link_url: body.link_url,
        starts_at_s,
        ends_at_s: body
            .ends_at_s
            .unwrap_or(starts_at_s.saturating_add(SCHEDULE_DEFAULT_S)),
        budget: body.budget,
        price_per_impression: body.price_per_impression,
        price_per_click: body.price_per_click,
        frequency_cap: body.frequency_cap,
    };
    let platform = platform(&state)?;
    let campaign = platform.create_campaign(new).await?;
    let report = platform.campaign_report(campaign.id).await?;
    Ok((StatusCode::CREATED, Json(campaign_answer(&report))))
}

#[derive(Serialize, ToSchema)]
struct CampaignsAnswer {
    campaigns: Vec<CampaignAnswer>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// Campaigns with their reports, newest first.
///
/// Needs `ads.read`.
#[utoipa::path(get, path = "/admin/v1/ad-campaigns", tag = "admin ads",
    security(("operator" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of campaigns", body = CampaignsAnswer)))]
async fn campaigns(
    State(state): State<AppState>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<CampaignsAnswer>, Problem> {
    let Query(query) = query?;
    let page_max = store::tables::ads::CAMPAIGNS_PAGE_MAX;
    let limit = page_limit(query.limit, 50, page_max)?;
    let before = query
        .cursor
        .as_deref()
        .map(|cursor| parse_id_text("cursor", cursor))
        .transpose()?;
    let reports = platform(&state)?.campaign_reports(before, limit).await?;
    let next_cursor = if reports.len() == limit {
        reports.last().map(|last| last.campaign.id.to_string())
    } else {
        None
    };
    Ok(Json(CampaignsAnswer {
        campaigns: reports.iter().map(campaign_answer).collect(),
        next_cursor,
    }))
}

/// A campaign's report.
///
/// Needs `ads.read`.
#[utoipa::path(get, path = "/admin/v1/ad-campaigns/{id}", tag = "admin ads",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The campaign id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 200, description = "The campaign", body = CampaignAnswer)))]
async fn campaign(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CampaignAnswer>, Problem> {
    let id = parse_id_text("campaign_id", &id)?;
    let report = platform(&state)?.campaign_report(id).await?;
    Ok(Json(campaign_answer(&report)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AdQuery {
    /// Where the app shows it: `home`.
    placement: String,
}

#[derive(Serialize, ToSchema)]
struct ServedAdAnswer {
    /// Report a click with it; unique to this view.
    view_id: String,
    campaign_id: String,
    headline: String,
    body: String,
    link_url: String,
}

#[derive(Serialize, ToSchema)]
struct AdAnswer {
    /// Null when no campaign may be shown now.
    ad: Option<ServedAdAnswer>,
}

/// An ad for the member at a placement; its impression is counted and billed now, once.
#[utoipa::path(get, path = "/v1/me/ads", tag = "ads",
    security(("member_session" = [])),
    params(AdQuery),
    responses((status = 200, description = "An ad, or none", body = AdAnswer)))]
async fn serve(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<AdQuery>, QueryRejection>,
) -> Result<Json<AdAnswer>, Problem> {
    let member_id = member(&state, &headers).await?;
    let Query(query) = query?;
    let served = platform(&state)?
        .serve_ad(member_id, &query.placement)
        .await?;
    Ok(Json(AdAnswer {
        ad: served.map(|ad| ServedAdAnswer {
            view_id: ad.view_id.to_string(),
            campaign_id: ad.campaign_id.to_string(),
            headline: ad.headline,
            body: ad.body,
            link_url: ad.link_url,
        }),
    }))
}

#[derive(Serialize, ToSchema)]
struct ClickAnswer {
    /// Where the ad leads.
    link_url: String,
}

/// A click on one of the member's views: billed once however often it is reported.
#[utoipa::path(post, path = "/v1/me/ad-views/{id}/click", tag = "ads",
    security(("member_session" = [])),
    params(("id" = String, Path, description = "The view id", pattern = r"^[0-9]{1,39}$")),
    responses(
        (status = 200, description = "Where the ad leads", body = ClickAnswer),
        (status = 404, description = "No such view of the member's", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn click(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ClickAnswer>, Problem> {
    let member_id = member(&state, &headers).await?;
    let view_id = parse_id_text("view_id", &id)?;
    let link_url = platform(&state)?.click_ad(member_id, view_id).await?;
    Ok(Json(ClickAnswer { link_url }))
}
