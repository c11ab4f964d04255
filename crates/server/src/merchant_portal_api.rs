//! The merchant portal's API (`/merchant/v1`, issue 14): a merchant's staff log in with a
//! password and read their stores' payments and settlements, one store or every store of
//! their brand; operators register them (`POST /admin/v1/merchant-users`). Every read is
//! limited to the stores the session's user sees (`platform::portal`): another
//! store is "not found", whether it exists or not.
//!
//! They also keep their stores' terminals (tills' keys): list them, create one (its secret
//! is in that answer and never again) and disable or enable one, as operators do under
//! `/admin/v1/merchants/{id}/terminals`. Those changes go on the audit trail as operators'
//! changes do: an `intent` entry durable before the change runs, then its `outcome`
//! (actor `merchant_user:<login>`, secrets redacted).

use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use platform::audit::{AuditKind, AuditRecord, detail_of};
use platform::merchants::TerminalRecord;
use platform::portal::{NewPortalUser, PortalUser, StorePaymentsPage, StoreTerminals};
use platform::van::AuthorizationRecord;
use ports::time::rfc3339;
use serde::{Deserialize, Serialize};
use store::tables::portal_users::PortalScope;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::access::{PeerAddr, bearer};
use crate::admin_api::{csv_field, csv_response};
use crate::ledger_api::Body;
use crate::members_api::{json_body, parse_id_text, platform};
use crate::openapi;
use crate::problem::Problem;
use crate::shapes::page_limit;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user))
        .routes(routes!(log_in))
        .routes(routes!(log_out))
        .routes(routes!(me))
        .routes(routes!(payments))
        .routes(routes!(settlements))
        .routes(routes!(settlements_csv))
        .routes(routes!(terminals, create_terminal))
        .routes(routes!(disable_terminal))
        .routes(routes!(enable_terminal))
}

/// `POST /admin/v1/merchant-users`: one of `brand` and `merchant_id`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MerchantUserBody {
    login: String,
    display_name: String,
    /// 12 to 128 characters.
    password: String,
    /// Every store of this brand.
    brand: Option<String>,
    /// One store.
    #[schema(pattern = r"^[0-9]{1,39}$")]
    merchant_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct MerchantUserAnswer {
    merchant_user_id: String,
    login: String,
}

/// Registers a merchant user for one store or a whole brand.
///
/// Needs `merchants.write`.
#[utoipa::path(post, path = "/admin/v1/merchant-users", operation_id = "create_merchant_user", tag = "admin merchants",
    security(("operator" = [])),
    request_body = MerchantUserBody,
    responses(
        (status = 201, description = "The user", body = MerchantUserAnswer),
        (status = 409, description = "The login is taken", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn create_user(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<MerchantUserAnswer>), Problem> {
    let body: MerchantUserBody = json_body(body)?;
    let scope = match (body.brand, body.merchant_id) {
        (Some(brand), None) => PortalScope::Brand(brand),
        (None, Some(id)) => PortalScope::Merchant(parse_id_text("merchant_id", &id)?),
        _ => {
            let detail = "exactly one of brand and merchant_id";
            return Err(platform::error::invalid("brand", detail).into());
        }
    };
    let login = body.login.trim().to_ascii_lowercase();
    let new = NewPortalUser {
        login: body.login,
        display_name: body.display_name,
        scope,
        password: body.password,
    };
    let id = platform(&state)?.create_portal_user(new).await?;
    let answer = MerchantUserAnswer {
        merchant_user_id: id.to_string(),
        login,
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

/// Logs a merchant user in.
#[utoipa::path(post, path = "/merchant/v1/sessions", operation_id = "merchant_log_in", tag = "merchant portal",
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
#[utoipa::path(delete, path = "/merchant/v1/sessions/current", operation_id = "merchant_log_out", tag = "merchant portal",
    security(("merchant_session" = [])),
    responses((status = 204, description = "The session ended")))]
async fn log_out(state: State<AppState>, headers: HeaderMap) -> Result<StatusCode, Problem> {
    crate::portal_api::log_out(state, headers).await
}

/// The merchant user behind the request's session (a partner's session is refused).
async fn user(state: &AppState, headers: &HeaderMap) -> Result<PortalUser, Problem> {
    let token = bearer(headers).ok_or_else(Problem::unauthorized)?;
    let user = platform(state)?.authenticate_portal_user(token).await?;
    if user.partner_id().is_some() {
        return Err(
            platform::PlatformError::from(platform::portal::PortalError::WrongPortal).into(),
        );
    }
    Ok(user)
}

#[derive(Serialize, ToSchema)]
struct StoreAnswer {
    merchant_id: String,
    name: String,
    brand: String,
    enabled: bool,
}

#[derive(Serialize, ToSchema)]
struct PortalMeAnswer {
    login: String,
    display_name: String,
    /// The brand whose every store the user sees; null for a one-store user.
    brand: Option<String>,
    stores: Vec<StoreAnswer>,
}

/// The user and the stores they see.
#[utoipa::path(get, path = "/merchant/v1/me", operation_id = "merchant_me", tag = "merchant portal",
    security(("merchant_session" = [])),
    responses((status = 200, description = "The user", body = PortalMeAnswer)))]
async fn me(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<PortalMeAnswer>, Problem> {
    let user = user(&state, &headers).await?;
    let stores = user
        .merchants
        .iter()
        .map(|merchant| StoreAnswer {
            merchant_id: merchant.id.to_string(),
            name: merchant.name.clone(),
            brand: merchant.brand.clone(),
            enabled: merchant.enabled,
        })
        .collect();
    Ok(Json(PortalMeAnswer {
        login: user.login,
        display_name: user.display_name,
        brand: match user.scope {
            PortalScope::Brand(brand) => Some(brand),
            PortalScope::Merchant(_) | PortalScope::Partner(_) => None,
        },
        stores,
    }))
}

/// `GET /merchant/v1/payments?merchant_id=&from=&to=&limit=&cursor=`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PaymentsQuery {
    /// One of the user's stores.
    #[param(pattern = r"^[0-9]{1,39}$")]
    merchant_id: String,
    /// Unix seconds, inclusive; default 0.
    from: Option<u64>,
    /// Unix seconds, exclusive; default now.
    to: Option<u64>,
    /// 1 to 1000; default 100.
    limit: Option<usize>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct PortalPayment {
    authorization_id: String,
    terminal_id: String,
    van_tx_id: String,
    /// `pending`, `declined`, `authorized`, `captured`, `voided`, ...
    status: &'static str,
    approval_no: Option<String>,
    amount: u64,
    approved_amount: u64,
    captured_amount: u64,
    refunded_amount: u64,
    created_at: String,
    settlement_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct PortalPaymentsAnswer {
    payments: Vec<PortalPayment>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

fn payment_answer(record: &AuthorizationRecord) -> PortalPayment {
    PortalPayment {
        authorization_id: record.id.to_string(),
        terminal_id: record.terminal_id.to_string(),
        van_tx_id: record.van_tx_id.clone(),
        status: record.status.as_str(),
        approval_no: record.approval_no(),
        amount: record.amount,
        approved_amount: record.approved_amount,
        captured_amount: record.captured_amount,
        refunded_amount: record.refunded_amount,
        created_at: rfc3339(record.created_at_s),
        settlement_id: record.settlement_id.map(|id| id.to_string()),
    }
}

/// A cursor `created_at_s:id` as `next_cursor` writes it.
fn parse_cursor(text: &str) -> Result<(u64, u128), Problem> {
    let bad = || {
        Problem::from(platform::error::invalid(
            "cursor",
            "a cursor from next_cursor",
        ))
    };
    let (time, id) = text.split_once(':').ok_or_else(bad)?;
    Ok((
        time.parse().map_err(|_| bad())?,
        id.parse().map_err(|_| bad())?,
    ))
}

/// A page of one store's payments (every authorization, declined ones too), oldest first.
#[utoipa::path(get, path = "/merchant/v1/payments", operation_id = "merchant_payments", tag = "merchant portal",
    security(("merchant_session" = [])),
    params(PaymentsQuery),
    responses(
        (status = 200, description = "A page", body = PortalPaymentsAnswer),
        (status = 404, description = "Not one of the user's stores (`unknown-merchant`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn payments(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<PaymentsQuery>, QueryRejection>,
) -> Result<Json<PortalPaymentsAnswer>, Problem> {
    let user = user(&state, &headers).await?;
    let Query(query) = query?;
    let limit = page_limit(query.limit, 100, store::tables::payments::PAYMENTS_PAGE_MAX)?;
    let page = StorePaymentsPage {
        merchant_id: parse_id_text("merchant_id", &query.merchant_id)?,
        from_s: query.from.unwrap_or(0),
        to_s: query
            .to
            .unwrap_or_else(|| ports::time::now_s().saturating_add(1)),
        after: query.cursor.as_deref().map(parse_cursor).transpose()?,
        limit,
    };
    let records = platform(&state)?.store_payments(&user, page).await?;
    let next_cursor = if records.len() == limit {
        records
            .last()
            .map(|last| format!("{}:{}", last.created_at_s, last.id))
    } else {
        None
    };
    Ok(Json(PortalPaymentsAnswer {
        payments: records.iter().map(payment_answer).collect(),
        next_cursor,
    }))
}

#[derive(Serialize, ToSchema)]
struct PortalSettlementLine {
    merchant_id: String,
    captured: u64,
    refunded: u64,
    gross: u64,
    fee: u64,
    net: u64,
}

#[derive(Serialize, ToSchema)]
struct PortalSettlement {
    settlement_id: String,
    until: String,
    /// `pending`, `settled` or `paid` (the payout was made).
    status: &'static str,
    paid_at: Option<String>,
    lines: Vec<PortalSettlementLine>,
}

#[derive(Serialize, ToSchema)]
struct PortalSettlementsAnswer {
    settlements: Vec<PortalSettlement>,
}

/// The newest settlement runs with the lines of the user's stores (payouts: `paid`).
#[utoipa::path(get, path = "/merchant/v1/settlements", operation_id = "merchant_settlements", tag = "merchant portal",
    security(("merchant_session" = [])),
    responses((status = 200, description = "Runs, oldest first", body = PortalSettlementsAnswer)))]
async fn settlements(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<PortalSettlementsAnswer>, Problem> {
    let user = user(&state, &headers).await?;
    let runs = platform(&state)?.store_settlements(&user).await?;
    let settlements = runs
        .iter()
        .map(|run| PortalSettlement {
            settlement_id: run.id.to_string(),
            until: rfc3339(run.until_s),
            status: run.status.as_str(),
            paid_at: run.paid_at_s.map(rfc3339),
            lines: run
                .lines
                .iter()
                .map(|line| PortalSettlementLine {
                    merchant_id: line.merchant_id.to_string(),
                    captured: line.captured,
                    refunded: line.refunded,
                    gross: line.gross,
                    fee: line.fee,
                    net: line.net,
                })
                .collect(),
        })
        .collect();
    Ok(Json(PortalSettlementsAnswer { settlements }))
}

/// The user's settlement lines as CSV.
#[utoipa::path(get, path = "/merchant/v1/settlements.csv", operation_id = "merchant_settlements_csv", tag = "merchant portal",
    security(("merchant_session" = [])),
    responses((status = 200, description = "settlements.csv, one line per store and run", body = String, content_type = "text/csv")))]
async fn settlements_csv(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, Problem> {
    let user = user(&state, &headers).await?;
    let runs = platform(&state)?.store_settlements(&user).await?;
    let mut csv = String::from(
        "settlement_id,until,status,paid_at,merchant_id,merchant_name,captured,refunded,gross,fee,net\r\n",
    );
    for run in &runs {
        for line in &run.lines {
            let name = user
                .merchants
                .iter()
                .find(|merchant| merchant.id == line.merchant_id)
                .map_or("", |merchant| merchant.name.as_str());
            let row = [
                run.id.to_string(),
                rfc3339(run.until_s),
                run.status.as_str().to_string(),
                run.paid_at_s.map(rfc3339).unwrap_or_default(),
                line.merchant_id.to_string(),
                csv_field(name),
                line.captured.to_string(),
                line.refunded.to_string(),
                line.gross.to_string(),
                line.fee.to_string(),
                line.net.to_string(),
            ];
            csv.push_str(&row.join(","));
            csv.push_str("\r\n");
        }
    }
    Ok(csv_response(
        "attachment; filename=\"settlements.csv\"",
        csv,
    ))
}

#[derive(Serialize, ToSchema)]
struct PortalTerminal {
    terminal_id: String,
    merchant_id: String,
    /// Named by the terminal's requests (`X-Mileverse-Key`).
    key_id: String,
    enabled: bool,
    created_at: String,
}

fn terminal_answer(terminal: &TerminalRecord) -> PortalTerminal {
    PortalTerminal {
        terminal_id: terminal.id.to_string(),
        merchant_id: terminal.merchant_id.to_string(),
        key_id: terminal.key_id.clone(),
        enabled: terminal.enabled,
        created_at: rfc3339(terminal.created_at_s),
    }
}

/// `GET /merchant/v1/terminals?merchant_id=&cursor=`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct TerminalsQuery {
    /// One of the user's stores: its terminals only (one page). Absent: every store's.
    #[param(pattern = r"^[0-9]{1,39}$")]
    merchant_id: Option<String>,
    /// `next_cursor` of the page before (without `merchant_id` only).
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct PortalTerminalsAnswer {
    /// By store (in the order of `/merchant/v1/me`), oldest first within a store.
    terminals: Vec<PortalTerminal>,
    /// Pass as `cursor` for the next stores' terminals; null on the last page.
    next_cursor: Option<String>,
}

/// The terminals (tills' keys, without secrets) of the user's stores.
///
/// With `merchant_id`, that store's (at most 1,000); without, every store's, 10 stores a
/// page (each store whole).
#[utoipa::path(get, path = "/merchant/v1/terminals", operation_id = "merchant_terminals", tag = "merchant portal",
    security(("merchant_session" = [])),
    params(TerminalsQuery),
    responses(
        (status = 200, description = "Terminals", body = PortalTerminalsAnswer),
        (status = 404, description = "Not one of the user's stores (`unknown-merchant`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn terminals(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<TerminalsQuery>, QueryRejection>,
) -> Result<Json<PortalTerminalsAnswer>, Problem> {
    let user = user(&state, &headers).await?;
    let Query(query) = query?;
    let after = query
        .cursor
        .as_deref()
        .map(|cursor| parse_id_text("cursor", cursor))
        .transpose()?;
    let which = match query.merchant_id.as_deref() {
        Some(id) if after.is_none() => StoreTerminals::Of(parse_id_text("merchant_id", id)?),
        Some(_) => {
            let detail = "a cursor pages every store's terminals, not one store's";
            return Err(platform::error::invalid("cursor", detail).into());
        }
        None => StoreTerminals::After(after),
    };
    let page = platform(&state)?.store_terminals(&user, which).await?;
    Ok(Json(PortalTerminalsAnswer {
        terminals: page.terminals.iter().map(terminal_answer).collect(),
        next_cursor: page.next_after.map(|id| id.to_string()),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PortalTerminalBody {
    /// One of the user's stores.
    #[schema(pattern = r"^[0-9]{1,39}$")]
    merchant_id: String,
}

/// A new terminal's credentials: the secret is shown this once.
#[derive(Serialize, ToSchema)]
struct PortalTerminalCreated {
    terminal_id: String,
    merchant_id: String,
    key_id: String,
    /// Signs the terminal's requests; never shown again.
    secret: String,
}

/// Creates a terminal of one of the user's stores.
///
/// Its secret is in this answer and never again. On the audit trail (`intent`, then
/// `outcome`, the secret redacted).
#[utoipa::path(post, path = "/merchant/v1/terminals", operation_id = "merchant_create_terminal", tag = "merchant portal",
    security(("merchant_session" = [])),
    request_body = PortalTerminalBody,
    responses(
        (status = 201, description = "The terminal's credentials", body = PortalTerminalCreated),
        (status = 404, description = "Not one of the user's stores (`unknown-merchant`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn create_terminal(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<PeerAddr>>>,
    body: Body,
) -> Result<(StatusCode, Json<PortalTerminalCreated>), Problem> {
    let user = user(&state, &headers).await?;
    let body: PortalTerminalBody = json_body(body)?;
    let merchant_id = parse_id_text("merchant_id", &body.merchant_id)?;
    let path = "/merchant/v1/terminals";
    let record = audit_record(&user, &format!("POST {path}"), path.to_string(), peer);
    let request = serde_json::json!({ "merchant_id": body.merchant_id });
    let platform = platform(&state)?;
    let change = async {
        let grant = platform.create_store_terminal(&user, merchant_id).await?;
        Ok(PortalTerminalCreated {
            terminal_id: grant.terminal_id.to_string(),
            merchant_id: merchant_id.to_string(),
            key_id: grant.key_id,
            secret: grant.secret,
        })
    };
    let answer = audited(&state, record, Some(request), StatusCode::CREATED, change).await?;
    Ok((StatusCode::CREATED, Json(answer)))
}

/// Disables a terminal of one of the user's stores.
///
/// The VAN API refuses its requests (`terminal-disabled`) until it is enabled again. As
/// the operators' `PATCH /admin/v1/merchants/{id}/terminals/{terminal_id}` with
/// `enabled: false`. On the audit trail (`intent`, then `outcome`).
#[utoipa::path(post, path = "/merchant/v1/terminals/{terminal_id}/disable", operation_id = "merchant_disable_terminal", tag = "merchant portal",
    security(("merchant_session" = [])),
    params(("terminal_id" = String, Path, description = "The terminal id", pattern = r"^[0-9]{1,39}$")),
    responses(
        (status = 200, description = "The changed terminal", body = PortalTerminal),
        (status = 404, description = "Not a terminal of the user's stores (`unknown-terminal`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn disable_terminal(
    state: State<AppState>,
    headers: HeaderMap,
    Path(terminal_id): Path<String>,
    peer: Option<Extension<ConnectInfo<PeerAddr>>>,
) -> Result<Json<PortalTerminal>, Problem> {
    change_terminal(state, headers, terminal_id, peer, false).await
}

/// Enables a terminal of one of the user's stores again.
///
/// As the operators' `PATCH /admin/v1/merchants/{id}/terminals/{terminal_id}` with
/// `enabled: true`. On the audit trail (`intent`, then `outcome`).
#[utoipa::path(post, path = "/merchant/v1/terminals/{terminal_id}/enable", operation_id = "merchant_enable_terminal", tag = "merchant portal",
    security(("merchant_session" = [])),
    params(("terminal_id" = String, Path, description = "The terminal id", pattern = r"^[0-9]{1,39}$")),
    responses(
        (status = 200, description = "The changed terminal", body = PortalTerminal),
        (status = 404, description = "Not a terminal of the user's stores (`unknown-terminal`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn enable_terminal(
    state: State<AppState>,
    headers: HeaderMap,
    Path(terminal_id): Path<String>,
    peer: Option<Extension<ConnectInfo<PeerAddr>>>,
) -> Result<Json<PortalTerminal>, Problem> {
    change_terminal(state, headers, terminal_id, peer, true).await
}

async fn change_terminal(
    State(state): State<AppState>,
    headers: HeaderMap,
    terminal_id: String,
    peer: Option<Extension<ConnectInfo<PeerAddr>>>,
    enabled: bool,
) -> Result<Json<PortalTerminal>, Problem> {
    let user = user(&state, &headers).await?;
    let id = parse_id_text("terminal_id", &terminal_id)?;
    let verb = if enabled { "enable" } else { "disable" };
    let action = format!("POST /merchant/v1/terminals/{{terminal_id}}/{verb}");
    let target = format!("/merchant/v1/terminals/{id}/{verb}");
    let record = audit_record(&user, &action, target, peer);
    let platform = platform(&state)?;
    let change = async {
        let terminal = platform
            .set_store_terminal_enabled(&user, id, enabled)
            .await?;
        Ok(terminal_answer(&terminal))
    };
    let answer = audited(&state, record, None, StatusCode::OK, change).await?;
    Ok(Json(answer))
}

/// A merchant user's change as the audit log records it: `action` is the method and the
/// route's path, `target` the path as requested.
fn audit_record(
    user: &PortalUser,
    action: &str,
    target: String,
    peer: Option<Extension<ConnectInfo<PeerAddr>>>,
) -> AuditRecord {
    AuditRecord {
        actor: format!("merchant_user:{}", user.login),
        role: "merchant_user".into(),
        action: action.to_string(),
        target,
        source: peer.map_or_else(String::new, |Extension(ConnectInfo(peer))| {
            peer.0.to_string()
        }),
        ..AuditRecord::default()
    }
}

/// Runs `change` on the audit trail as `access::guard` runs an operator's: its `intent`
/// durable first (nothing runs if it cannot be written), then its `outcome` with the status
/// and the answer, secrets redacted. A server without an audit log (tests) just runs it.
async fn audited<T: Serialize>(
    state: &AppState,
    record: AuditRecord,
    request: Option<serde_json::Value>,
    success: StatusCode,
    change: impl std::future::Future<Output = Result<T, Problem>>,
) -> Result<T, Problem> {
    let Some(log) = &state.audit else {
        return change.await;
    };
    let intent = AuditRecord {
        request,
        ..record.clone()
    };
    let intent_seq = log.append(AuditKind::Intent, &intent).await?;
    let result = change.await;
    let (status, after) = match &result {
        Ok(answer) => {
            let body = serde_json::to_vec(answer).unwrap_or_default();
            (success, detail_of(&body))
        }
        Err(problem) => {
            let body = serde_json::json!({
                "type": format!("urn:mileverse:problem:{}", problem.slug),
                "detail": problem.detail,
            });
            (problem.status, Some(body))
        }
    };
    let outcome = AuditRecord {
        status: Some(status.as_u16()),
        after,
        intent_seq: Some(intent_seq),
        ..record
    };
    if let Err(error) = log.append(AuditKind::Outcome, &outcome).await {
        // The change ran and its intent is on the trail; its outcome is not. Say so loudly:
        // an auditor sees an intent without an outcome.
        tracing::error!(?error, "audit outcome not written");
    }
    result
}
