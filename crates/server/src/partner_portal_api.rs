//! The partner portal's API (`/partner-portal/v1`, issue 14): a partner's staff log in with
//! a password and read their partner's terms (rate, limits, credit line), what it owes and
//! has paid, its exchanges (a page at a time), its statement of completed exchanges and the
//! reconciliations of its exchanges with its own record;
//! operators register them
//! (`POST /admin/v1/partner-users`). A session reads its own partner only. (The partner's
//! systems talk to `/partner/v1`, signed; this is for people.)

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use platform::portal::{
    NewPortalUser, PARTNER_EXCHANGES_PAGE_MAX, PartnerExchangesPage, PortalError, PortalUser,
};
use ports::time::{TIME_S_MAX, now_s, rfc3339};
use serde::{Deserialize, Serialize};
use store::tables::portal_users::PortalScope;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::access::bearer;
use crate::admin_api::{csv_field, csv_response};
use crate::ledger_api::Body;
use crate::members_api::{json_body, parse_id_text, platform};
use crate::openapi;
use crate::problem::Problem;
use crate::shapes::{page_limit, time_cursor, time_cursor_text};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user))
        .routes(routes!(log_in))
        .routes(routes!(log_out))
        .routes(routes!(me))
        .routes(routes!(statement))
        .routes(routes!(exchanges))
        .routes(routes!(reconciliations))
}

/// The partner's reconciliations: each comparison of its exchanges with its own record
/// that the platform's operators ran, newest first (the newest 1,000 are kept).
#[utoipa::path(get, path = "/partner-portal/v1/reconciliations", operation_id = "partner_portal_reconciliations", tag = "partner portal",
    security(("partner_portal_session" = [])),
    params(crate::shapes::PageQuery),
    responses((status = 200, description = "One page, newest first", body = crate::health_api::ReconciliationPage)))]
async fn reconciliations(
    State(state): State<AppState>,
    headers: HeaderMap,
    page: Result<Query<crate::shapes::PageQuery>, QueryRejection>,
) -> Result<Json<crate::health_api::ReconciliationPage>, Problem> {
    let partner_id = partner_of(&state, &headers).await?;
    let Query(page) = page?;
    let answer = crate::health_api::reconciliation_page(&state, partner_id, page).await?;
    Ok(Json(answer))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PartnerUserBody {
    login: String,
    display_name: String,
    /// 12 to 128 characters.
    password: String,
    #[schema(pattern = r"^[0-9]{1,39}$")]
    partner_id: String,
}

#[derive(Serialize, ToSchema)]
struct PartnerUserAnswer {
    partner_user_id: String,
    login: String,
}

/// Registers a partner's portal user.
///
/// Needs `partners.write`.
#[utoipa::path(post, path = "/admin/v1/partner-users", operation_id = "create_partner_user", tag = "admin partners",
    security(("operator" = [])),
    request_body = PartnerUserBody,
    responses(
        (status = 201, description = "The user", body = PartnerUserAnswer),
        (status = 409, description = "The login is taken", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn create_user(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<PartnerUserAnswer>), Problem> {
    let body: PartnerUserBody = json_body(body)?;
    let partner_id = parse_id_text("partner_id", &body.partner_id)?;
    let login = body.login.trim().to_ascii_lowercase();
    let new = NewPortalUser {
        login: body.login,
        display_name: body.display_name,
        scope: PortalScope::Partner(partner_id),
        password: body.password,
    };
    let id = platform(&state)?.create_portal_user(new).await?;
    let answer = PartnerUserAnswer {
        partner_user_id: id.to_string(),
        login,
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

/// Logs a partner's portal user in.
#[utoipa::path(post, path = "/partner-portal/v1/sessions", operation_id = "partner_portal_log_in", tag = "partner portal",
    request_body = crate::portal_api::PortalLogInBody,
    responses(
        (status = 201, description = "A session", body = crate::portal_api::PortalSessionAnswer),
        (status = 401, description = "The login or password is wrong (`bad-credentials`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn log_in(
    state: State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<crate::portal_api::PortalSessionAnswer>), Problem> {
    crate::portal_api::log_in(state, body).await
}

/// Ends the session of the token sent.
#[utoipa::path(delete, path = "/partner-portal/v1/sessions/current", operation_id = "partner_portal_log_out", tag = "partner portal",
    security(("partner_portal_session" = [])),
    responses((status = 204, description = "The session ended")))]
async fn log_out(state: State<AppState>, headers: HeaderMap) -> Result<StatusCode, Problem> {
    crate::portal_api::log_out(state, headers).await
}

/// The partner's user behind the request's session (a merchant's session is refused).
async fn partner_user(state: &AppState, headers: &HeaderMap) -> Result<PortalUser, Problem> {
    let token = bearer(headers).ok_or_else(Problem::unauthorized)?;
    let user = platform(state)?.authenticate_portal_user(token).await?;
    if user.partner_id().is_none() {
        return Err(platform::PlatformError::from(PortalError::WrongPortal).into());
    }
    Ok(user)
}

/// The partner of the request's session (a merchant's session is refused).
async fn partner_of(state: &AppState, headers: &HeaderMap) -> Result<u128, Problem> {
    let user = partner_user(state, headers).await?;
    user.partner_id()
        .ok_or_else(|| platform::PlatformError::from(PortalError::WrongPortal).into())
}

#[derive(Serialize, ToSchema)]
struct PartnerPortalAnswer {
    partner_id: String,
    name: String,
    /// MVP per `rate_den` units of mileage, while a rate is in force.
    rate_num: Option<u64>,
    rate_den: Option<u64>,
    minimum_unit: u64,
    daily_limit: u64,
    monthly_limit: u64,
    credit_line: u64,
    /// MVP credited to members against the partner's mileage.
    issued_mvp: String,
    /// MVP the partner paid for.
    paid_mvp: String,
    /// What the partner owes: issued and not yet paid for.
    outstanding_mvp: String,
    /// MVP of exchanges still waiting for the partner's answer.
    reserved_mvp: String,
}

/// The partner's terms and what it owes and has paid.
#[utoipa::path(get, path = "/partner-portal/v1/me", operation_id = "partner_portal_me", tag = "partner portal",
    security(("partner_portal_session" = [])),
    responses((status = 200, description = "The partner", body = PartnerPortalAnswer)))]
async fn me(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<PartnerPortalAnswer>, Problem> {
    let partner_id = partner_of(&state, &headers).await?;
    let view = platform(&state)?.partner(partner_id).await?;
    let partner = &view.record;
    let rate = partner.rate_at(now_s());
    Ok(Json(PartnerPortalAnswer {
        partner_id: partner.id.to_string(),
        name: partner.name.clone(),
        rate_num: rate.map(|rate| rate.num),
        rate_den: rate.map(|rate| rate.den),
        minimum_unit: partner.minimum_unit,
        daily_limit: partner.daily_limit,
        monthly_limit: partner.monthly_limit,
        credit_line: partner.credit_line,
        issued_mvp: view.figures.issued_mvp.to_string(),
        paid_mvp: view.figures.paid_mvp.to_string(),
        outstanding_mvp: view.figures.outstanding_mvp().to_string(),
        reserved_mvp: view.figures.reserved_mvp.to_string(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PeriodQuery {
    /// Unix seconds, inclusive; default 30 days ago.
    from: Option<u64>,
    /// Unix seconds, exclusive; default now.
    to: Option<u64>,
}

/// How far back a statement goes by default.
const STATEMENT_DAYS_DEFAULT: u64 = 30;

/// The partner's statement: every exchange completed in the period, as CSV.
#[utoipa::path(get, path = "/partner-portal/v1/statement.csv", operation_id = "partner_portal_statement", tag = "partner portal",
    security(("partner_portal_session" = [])),
    params(PeriodQuery),
    responses((status = 200, description = "statement.csv, one line per completed exchange", body = String, content_type = "text/csv")))]
async fn statement(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<PeriodQuery>, QueryRejection>,
) -> Result<impl IntoResponse, Problem> {
    let partner_id = partner_of(&state, &headers).await?;
    let Query(query) = query?;
    let now = now_s();
    let from = query
        .from
        .unwrap_or(now.saturating_sub(STATEMENT_DAYS_DEFAULT * 86_400));
    let to = query.to.unwrap_or(now + 1);
    if from > TIME_S_MAX || to > TIME_S_MAX || from >= to {
        return Err(
            platform::error::invalid("from", "before to, both before the year 10000").into(),
        );
    }
    let lines = platform(&state)?
        .completed_exchanges(from, to, Some(partner_id))
        .await?;
    let mut csv = String::from(
        "exchange_id,reference,partner_member_ref,mileage,rate_num,rate_den,mvp,created_at,completed_at\r\n",
    );
    for (record, _) in &lines {
        let row = [
            record.id.to_string(),
            platform::exchange::reference(record.id),
            csv_field(&record.member_ref),
            record.mileage.to_string(),
            record.rate.num.to_string(),
            record.rate.den.to_string(),
            record.mvp.to_string(),
            rfc3339(record.created_at_s),
            record.finished_at_s.map(rfc3339).unwrap_or_default(),
        ];
        csv.push_str(&row.join(","));
        csv.push_str("\r\n");
    }
    Ok(csv_response("attachment; filename=\"statement.csv\"", csv))
}

/// `GET /partner-portal/v1/exchanges?from=&to=&limit=&cursor=`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ExchangesQuery {
    /// Unix seconds, inclusive (the exchange's creation); default 30 days ago.
    from: Option<u64>,
    /// Unix seconds, exclusive; default now. A time past the year 9999 means no end.
    to: Option<u64>,
    /// 1 to 100; default 50.
    limit: Option<usize>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
}

/// Exchanges a page holds when the request names no `limit`.
const EXCHANGES_PAGE_DEFAULT: usize = 50;

#[derive(Serialize, ToSchema)]
struct PartnerPortalExchange {
    exchange_id: String,
    /// The reference the partner's debit carried.
    reference: String,
    /// The member's number at the partner.
    partner_member_ref: String,
    /// `completed`, `failed` or `reversed`.
    status: &'static str,
    mileage: u64,
    mvp: u64,
    rate_num: u64,
    rate_den: u64,
    created_at: String,
    finished_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct PartnerPortalExchangesAnswer {
    exchanges: Vec<PartnerPortalExchange>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// A page of the partner's own exchanges, oldest first.
///
/// The exchanges created in `[from, to)` that are final (completed, failed or reversed;
/// one still waiting for the partner's answer shows as `reserved_mvp` in `/me`), in the
/// order they were created, at most 100 a page.
#[utoipa::path(get, path = "/partner-portal/v1/exchanges", operation_id = "partner_portal_exchanges", tag = "partner portal",
    security(("partner_portal_session" = [])),
    params(ExchangesQuery),
    responses((status = 200, description = "A page, oldest first", body = PartnerPortalExchangesAnswer)))]
async fn exchanges(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ExchangesQuery>, QueryRejection>,
) -> Result<Json<PartnerPortalExchangesAnswer>, Problem> {
    let user = partner_user(&state, &headers).await?;
    let Query(query) = query?;
    let limit = page_limit(
        query.limit,
        EXCHANGES_PAGE_DEFAULT,
        PARTNER_EXCHANGES_PAGE_MAX,
    )?;
    let now = now_s();
    let page = PartnerExchangesPage {
        from_s: query
            .from
            .unwrap_or(now.saturating_sub(STATEMENT_DAYS_DEFAULT * 86_400)),
        to_s: query.to.unwrap_or(now.saturating_add(1)),
        after: query.cursor.as_deref().map(time_cursor).transpose()?,
        limit,
    };
    let rows = platform(&state)?.partner_exchanges(&user, page).await?;
    let next_cursor = if rows.len() == limit {
        rows.last()
            .map(|last| time_cursor_text(last.created_at_s, last.id))
    } else {
        None
    };
    let exchanges = rows
        .iter()
        .map(|row| PartnerPortalExchange {
            exchange_id: row.id.to_string(),
            reference: platform::exchange::reference(row.id),
            partner_member_ref: row.member_ref.clone(),
            status: row.status.as_str(),
            mileage: row.mileage,
            mvp: row.mvp,
            rate_num: row.rate.num,
            rate_den: row.rate.den,
            created_at: rfc3339(row.created_at_s),
            finished_at: row.finished_at_s.map(rfc3339),
        })
        .collect();
    Ok(Json(PartnerPortalExchangesAnswer {
        exchanges,
        next_cursor,
    }))
}
