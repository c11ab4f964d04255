//! Operator routes for merchants and their terminals (`/admin/v1/merchants`, admin token).
//! A terminal's secret is in the answer that creates it and never again.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use platform::merchants::{MerchantChange, MerchantRecord, NewMerchant, TerminalRecord};
use platform::settlement::SettlementRecord;
use ports::time::rfc3339;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::admin_api::{ReportOf, ReportQuery, csv_field, csv_response};
use crate::ledger_api::Body;
use crate::members_api::{json_body, parse_id_text, platform};
use crate::problem::Problem;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_merchant, list_merchants))
        .routes(routes!(show_merchant, change_merchant))
        .routes(routes!(create_terminal, list_terminals))
        .routes(routes!(change_terminal))
        .routes(routes!(create_van))
        .routes(routes!(serve_merchant))
        .routes(routes!(create_settlement, list_settlements))
        .routes(routes!(settlement_paid))
        .routes(routes!(payments_csv))
        .routes(routes!(settlements_csv))
}

#[derive(Serialize, ToSchema)]
struct MerchantAnswer {
    merchant_id: String,
    name: String,
    brand: String,
    /// The fee on its payments, in basis points.
    fee_bps: u32,
    enabled: bool,
    created_at: String,
    /// What the platform owes the merchant now (one merchant's answer only).
    #[serde(skip_serializing_if = "Option::is_none")]
    payable: Option<u64>,
}

fn merchant_answer(merchant: &MerchantRecord) -> MerchantAnswer {
    MerchantAnswer {
        merchant_id: merchant.id.to_string(),
        name: merchant.name.clone(),
        brand: merchant.brand.clone(),
        fee_bps: merchant.fee_bps,
        enabled: merchant.enabled,
        created_at: rfc3339(merchant.created_at_s),
        payable: None,
    }
}

#[derive(Serialize, ToSchema)]
struct TerminalAnswer {
    terminal_id: String,
    merchant_id: String,
    /// Named by the terminal's requests (`X-Mileverse-Key`).
    key_id: String,
    enabled: bool,
    created_at: String,
}

fn terminal_answer(terminal: &TerminalRecord) -> TerminalAnswer {
    TerminalAnswer {
        terminal_id: terminal.id.to_string(),
        merchant_id: terminal.merchant_id.to_string(),
        key_id: terminal.key_id.clone(),
        enabled: terminal.enabled,
        created_at: rfc3339(terminal.created_at_s),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MerchantBody {
    name: String,
    brand: String,
    /// The fee on its payments, in basis points (at most 10,000).
    fee_bps: u32,
}

#[derive(Serialize, ToSchema)]
struct MerchantCreated {
    merchant_id: String,
}

/// Creates a merchant.
///
/// Needs `merchants.write`.
#[utoipa::path(post, path = "/admin/v1/merchants", tag = "admin merchants",
    security(("operator" = [])),
    request_body = MerchantBody,
    responses((status = 201, description = "The merchant exists", body = MerchantCreated)))]
async fn create_merchant(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<MerchantCreated>), Problem> {
    let body: MerchantBody = json_body(body)?;
    let id = platform(&state)?
        .create_merchant(NewMerchant {
            name: body.name,
            brand: body.brand,
            fee_bps: body.fee_bps,
        })
        .await?;
    let answer = MerchantCreated {
        merchant_id: id.to_string(),
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

#[derive(Serialize, ToSchema)]
struct MerchantsAnswer {
    merchants: Vec<MerchantAnswer>,
}

/// Every merchant.
///
/// Needs `merchants.read`.
#[utoipa::path(get, path = "/admin/v1/merchants", tag = "admin merchants",
    security(("operator" = [])),
    responses((status = 200, description = "Merchants", body = MerchantsAnswer)))]
async fn list_merchants(State(state): State<AppState>) -> Result<Json<MerchantsAnswer>, Problem> {
    let list = platform(&state)?.merchants().await?;
    let merchants = list.iter().map(merchant_answer).collect();
    Ok(Json(MerchantsAnswer { merchants }))
}

/// One merchant, with what the platform owes it.
///
/// Needs `merchants.read`.
#[utoipa::path(get, path = "/admin/v1/merchants/{id}", tag = "admin merchants",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The merchant id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 200, description = "The merchant, with `payable`", body = MerchantAnswer)))]
async fn show_merchant(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<MerchantAnswer>, Problem> {
    let id = parse_id_text("merchant_id", &id)?;
    let platform = platform(&state)?;
    let merchant = platform.merchant(id).await?;
    let payable = platform.merchant_payable(id).await?;
    let answer = MerchantAnswer {
        payable: Some(payable),
        ..merchant_answer(&merchant)
    };
    Ok(Json(answer))
}

/// The fields to change; those absent stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MerchantChangeBody {
    name: Option<String>,
    fee_bps: Option<u32>,
    enabled: Option<bool>,
}

/// Changes a merchant (name, fee, enabled).
///
/// Needs `merchants.write`.
#[utoipa::path(patch, path = "/admin/v1/merchants/{id}", tag = "admin merchants",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The merchant id", pattern = r"^[0-9]{1,39}$")),
    request_body = MerchantChangeBody,
    responses((status = 200, description = "The changed merchant", body = MerchantAnswer)))]
async fn change_merchant(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<MerchantAnswer>, Problem> {
    let id = parse_id_text("merchant_id", &id)?;
    let body: MerchantChangeBody = json_body(body)?;
    let change = MerchantChange {
        name: body.name,
        fee_bps: body.fee_bps,
        enabled: body.enabled,
    };
    let merchant = platform(&state)?.change_merchant(id, change).await?;
    Ok(Json(merchant_answer(&merchant)))
}

/// A new terminal's credentials: the secret is shown this once.
#[derive(Serialize, ToSchema)]
struct TerminalCreated {
    terminal_id: String,
    merchant_id: String,
    key_id: String,
    /// Signs the terminal's requests; never shown again.
    secret: String,
}

/// Creates a terminal of a merchant; its secret is in this answer and never again.
///
/// Needs `merchants.write`.
#[utoipa::path(post, path = "/admin/v1/merchants/{id}/terminals", tag = "admin merchants",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The merchant id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 201, description = "The terminal's credentials", body = TerminalCreated)))]
async fn create_terminal(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<TerminalCreated>), Problem> {
    let id = parse_id_text("merchant_id", &id)?;
    let grant = platform(&state)?.create_terminal(id).await?;
    let answer = TerminalCreated {
        terminal_id: grant.terminal_id.to_string(),
        merchant_id: id.to_string(),
        key_id: grant.key_id,
        secret: grant.secret,
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct VanBody {
    name: String,
}

/// A new VAN's credentials: the secret is shown this once.
#[derive(Serialize, ToSchema)]
struct VanCreated {
    van_id: String,
    name: String,
    key_id: String,
    /// Signs the VAN's requests; never shown again.
    secret: String,
}

/// Registers a VAN, which may sign for the terminals of the merchants it serves.
///
/// Needs `merchants.write`.
#[utoipa::path(post, path = "/admin/v1/vans", tag = "admin merchants",
    security(("operator" = [])),
    request_body = VanBody,
    responses((status = 201, description = "The VAN's credentials", body = VanCreated)))]
async fn create_van(
    State(state): State<AppState>,
    body: crate::ledger_api::Body,
) -> Result<(StatusCode, Json<VanCreated>), Problem> {
    let body: VanBody = crate::members_api::json_body(body)?;
    let grant = platform(&state)?.create_van(&body.name).await?;
    let answer = VanCreated {
        van_id: grant.van_id.to_string(),
        name: body.name.trim().to_string(),
        key_id: grant.key_id,
        secret: grant.secret,
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ServeBody {
    /// The VAN that serves the merchant from now on; `null` for none.
    van_id: Option<String>,
}

/// Which VAN serves a merchant.
#[derive(Serialize, ToSchema)]
struct ServeAnswer {
    merchant_id: String,
    /// Null: none.
    van_id: Option<String>,
}

/// Names the VAN that may sign for a merchant's terminals (or none).
///
/// Needs `merchants.write`.
#[utoipa::path(put, path = "/admin/v1/merchants/{id}/van", tag = "admin merchants",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The merchant id", pattern = r"^[0-9]{1,39}$")),
    request_body = ServeBody,
    responses((status = 200, description = "The merchant's VAN", body = ServeAnswer)))]
async fn serve_merchant(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: crate::ledger_api::Body,
) -> Result<Json<ServeAnswer>, Problem> {
    let merchant_id = parse_id_text("merchant_id", &id)?;
    let body: ServeBody = crate::members_api::json_body(body)?;
    let van_id = body
        .van_id
        .as_deref()
        .map(|text| parse_id_text("van_id", text))
        .transpose()?;
    platform(&state)?
        .serve_merchant(merchant_id, van_id)
        .await?;
    Ok(Json(ServeAnswer {
        merchant_id: merchant_id.to_string(),
        van_id: van_id.map(|id| id.to_string()),
    }))
}

#[derive(Serialize, ToSchema)]
struct TerminalsAnswer {
    terminals: Vec<TerminalAnswer>,
}

/// A merchant's terminals.
///
/// Needs `merchants.read`.
#[utoipa::path(get, path = "/admin/v1/merchants/{id}/terminals", tag = "admin merchants",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The merchant id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 200, description = "Terminals", body = TerminalsAnswer)))]
async fn list_terminals(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TerminalsAnswer>, Problem> {
    let id = parse_id_text("merchant_id", &id)?;
    let list = platform(&state)?.terminals(id).await?;
    let terminals = list.iter().map(terminal_answer).collect();
    Ok(Json(TerminalsAnswer { terminals }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TerminalChangeBody {
    enabled: bool,
}

/// Enables or disables a terminal.
///
/// Needs `merchants.write`.
#[utoipa::path(patch, path = "/admin/v1/merchants/{id}/terminals/{terminal_id}", tag = "admin merchants",
    security(("operator" = [])),
    params(
        ("id" = String, Path, description = "The merchant id", pattern = r"^[0-9]{1,39}$"),
        ("terminal_id" = String, Path, description = "The terminal id", pattern = r"^[0-9]{1,39}$")),
    request_body = TerminalChangeBody,
    responses((status = 200, description = "The changed terminal", body = TerminalAnswer)))]
async fn change_terminal(
    State(state): State<AppState>,
    Path((id, terminal_id)): Path<(String, String)>,
    body: Body,
) -> Result<Json<TerminalAnswer>, Problem> {
    let id = parse_id_text("merchant_id", &id)?;
    let terminal_id = parse_id_text("terminal_id", &terminal_id)?;
    let body: TerminalChangeBody = json_body(body)?;
    let terminal = platform(&state)?
        .set_terminal_enabled(id, terminal_id, body.enabled)
        .await?;
    Ok(Json(terminal_answer(&terminal)))
}

/// Unix seconds of `YYYY-MM-DDTHH:MM:SS` followed by `Z` or `±HH:MM` (fractions ignored).
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't' | b' ')
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        rest = &fraction[digits..];
    }
    let offset_s: i64 = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hours: i64 = rest.get(1..3)?.parse().ok()?;
            let minutes: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return None,
    };
    // Howard Hinnant's days-from-civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let unix = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    u64::try_from(unix).ok()
}

/// `until`: RFC 3339 text or Unix seconds.
fn parse_until(value: &Value) -> Result<u64, Problem> {
    let parsed = match value {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => parse_rfc3339(text).or_else(|| text.parse().ok()),
        _ => None,
    };
    parsed.ok_or_else(|| {
        platform::error::invalid("until", "RFC 3339 (2026-11-21T00:00:00Z) or Unix seconds").into()
    })
}

/// One merchant's line of a settlement run.
#[derive(Serialize, ToSchema)]
struct SettlementLineAnswer {
    merchant_id: String,
    /// The merchant's payments captured in the run.
    captured: u64,
    /// The merchant's refunds in the run.
    refunded: u64,
    /// Captured minus refunded.
    gross: u64,
    fee_bps: u32,
    /// The platform's fee: gross × fee_bps / 10,000, rounded down.
    fee: u64,
    /// What the merchant is paid: gross minus fee.
    net: u64,
}

/// A settlement run with its lines.
#[derive(Serialize, ToSchema)]
struct SettlementAnswer {
    settlement_id: String,
    /// The cut-off: the run took every payment captured and refund made up to it.
    until: String,
    /// `until` in Unix seconds.
    until_s: u64,
    /// `pending`, `settled` (the ledger moved every line) or `paid`.
    status: &'static str,
    lines: Vec<SettlementLineAnswer>,
    created_at: String,
    paid_at: Option<String>,
}

fn settlement_answer(run: &SettlementRecord) -> SettlementAnswer {
    let lines = run
        .lines
        .iter()
        .map(|line| SettlementLineAnswer {
            merchant_id: line.merchant_id.to_string(),
            captured: line.captured,
            refunded: line.refunded,
            gross: line.gross,
            fee_bps: line.fee_bps,
            fee: line.fee,
            net: line.net,
        })
        .collect();
    SettlementAnswer {
        settlement_id: run.id.to_string(),
        until: rfc3339(run.until_s),
        until_s: run.until_s,
        status: run.status.as_str(),
        lines,
        created_at: rfc3339(run.created_at_s),
        paid_at: run.paid_at_s.map(rfc3339),
    }
}

/// `until`: RFC 3339 text or Unix seconds.
fn until_schema() -> OneOfBuilder {
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("RFC 3339, e.g. 2026-11-21T00:00:00Z")),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0.0))
                .description(Some("Unix seconds")),
        )
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SettlementBody {
    /// The cut-off: every payment captured and refund made up to it.
    #[schema(schema_with = until_schema)]
    until: Value,
}

/// Settles every merchant up to a cut-off.
///
/// Needs `settlements.write`.
#[utoipa::path(post, path = "/admin/v1/settlements", tag = "admin settlements",
    security(("operator" = [])),
    request_body = SettlementBody,
    responses((status = 201, description = "The settlement run", body = SettlementAnswer)))]
async fn create_settlement(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<SettlementAnswer>), Problem> {
    let body: SettlementBody = json_body(body)?;
    let until_s = parse_until(&body.until)?;
    let run = platform(&state)?.settle(until_s).await?;
    Ok((StatusCode::CREATED, Json(settlement_answer(&run))))
}

#[derive(Serialize, ToSchema)]
struct SettlementsAnswer {
    settlements: Vec<SettlementAnswer>,
}

/// Every settlement run.
///
/// Needs `settlements.read`.
#[utoipa::path(get, path = "/admin/v1/settlements", tag = "admin settlements",
    security(("operator" = [])),
    responses((status = 200, description = "Settlement runs", body = SettlementsAnswer)))]
async fn list_settlements(
    State(state): State<AppState>,
) -> Result<Json<SettlementsAnswer>, Problem> {
    let runs = platform(&state)?.settlements().await?;
    let settlements = runs.iter().map(settlement_answer).collect();
    Ok(Json(SettlementsAnswer { settlements }))
}

/// Confirms a settlement run's payout.
///
/// Needs `settlements.write`.
#[utoipa::path(post, path = "/admin/v1/settlements/{id}/paid", tag = "admin settlements",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The settlement id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 200, description = "The paid settlement run", body = SettlementAnswer)))]
async fn settlement_paid(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SettlementAnswer>, Problem> {
    let id = parse_id_text("settlement_id", &id)?;
    let run = platform(&state)?.settlement_paid(id).await?;
    Ok(Json(settlement_answer(&run)))
}

async fn merchant_map(
    state: &AppState,
) -> Result<std::collections::HashMap<u128, MerchantRecord>, Problem> {
    let list = platform(state)?.merchants().await?;
    Ok(list.into_iter().map(|m| (m.id, m)).collect())
}

/// Every payment of a period as CSV, streamed.
///
/// Needs `reports.read`.
#[utoipa::path(get, path = "/admin/v1/reports/payments.csv", tag = "admin reports",
    security(("operator" = [])),
    params(ReportQuery),
    responses((status = 200, description = "payments.csv, one line per payment", body = String, content_type = "text/csv")))]
async fn payments_csv(
    State(state): State<AppState>,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<impl IntoResponse, Problem> {
    let Query(query) = query?;
    let filter = query.filter(ReportOf::Merchants)?;
    let merchants = std::sync::Arc::new(merchant_map(&state).await?);
    let filter = std::sync::Arc::new(filter);
    let platform = platform(&state)?.clone();
    let header = "authorization_id,van_tx_id,merchant_id,merchant_name,brand,terminal_id,status,approval_no,amount,approved_amount,paid_other,captured_amount,refunded_amount,created_at,captured_at,settlement_id,voucher_id\r\n";
    // Streamed a page at a time: memory holds one page, whatever the number of payments.
    // A failure after the first page can only cut the body short (the status is sent).
    let pages = futures_util::stream::unfold(Some(None), move |cursor| {
        let (platform, merchants, filter) = (platform.clone(), merchants.clone(), filter.clone());
        async move {
            let after = cursor?;
            let page = platform
                .payments_page(after, store::tables::payments::PAYMENTS_PAGE_MAX)
                .await;
            let page = match page {
                Ok(page) => page,
                Err(error) => return Some((Err(std::io::Error::other(error.to_string())), None)),
            };
            let last = page.last()?;
            let next = Some(Some((last.created_at_s, last.id)));
            let mut csv = String::new();
            for record in &page {
                payment_line(&mut csv, record, &merchants, &filter);
            }
            Some((Ok(csv), next))
        }
    });
    let body = futures_util::StreamExt::chain(
        futures_util::stream::iter([Ok::<String, std::io::Error>(header.to_string())]),
        pages,
    );
    Ok(csv_response(
        "attachment; filename=\"payments.csv\"",
        axum::body::Body::from_stream(body),
    ))
}

/// One line of `payments.csv`, if the filter keeps the payment.
fn payment_line(
    csv: &mut String,
    record: &platform::van::AuthorizationRecord,
    merchants: &std::collections::HashMap<u128, MerchantRecord>,
    filter: &crate::admin_api::ReportFilter,
) {
    {
        let merchant = merchants.get(&record.merchant_id);
        if !filter.keeps_merchant(record.created_at_s, merchant, record.merchant_id) {
            return;
        }
        let row = [
            record.id.to_string(),
            csv_field(&record.van_tx_id),
            record.merchant_id.to_string(),
            csv_field(merchant.map_or("", |m| m.name.as_str())),
            csv_field(merchant.map_or("", |m| m.brand.as_str())),
            record.terminal_id.to_string(),
            record.status.as_str().to_string(),
            record.approval_no().unwrap_or_default(),
            record.amount.to_string(),
            record.approved_amount.to_string(),
            record.paid_other().to_string(),
            record.captured_amount.to_string(),
            record.refunded_amount.to_string(),
            rfc3339(record.created_at_s),
            record.captured_at_s.map(rfc3339).unwrap_or_default(),
            record
                .settlement_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            record
                .voucher
                .map(|voucher| voucher.voucher_id.to_string())
                .unwrap_or_default(),
        ];
        csv.push_str(&row.join(","));
        csv.push_str("\r\n");
    }
}

/// The settlement lines of a period as CSV.
///
/// Needs `reports.read`.
#[utoipa::path(get, path = "/admin/v1/reports/settlements.csv", tag = "admin reports",
    security(("operator" = [])),
    params(ReportQuery),
    responses((status = 200, description = "settlements.csv, one line per merchant of a run", body = String, content_type = "text/csv")))]
async fn settlements_csv(
    State(state): State<AppState>,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<impl IntoResponse, Problem> {
    let Query(query) = query?;
    let filter = query.filter(ReportOf::Merchants)?;
    let merchants = merchant_map(&state).await?;
    let runs = platform(&state)?.settlements().await?;
    let mut csv = String::from(
        "settlement_id,until,status,merchant_id,merchant_name,brand,captured,refunded,gross,fee_bps,fee,net,created_at,paid_at\r\n",
    );
    for run in &runs {
        for line in &run.lines {
            let merchant = merchants.get(&line.merchant_id);
            if !filter.keeps_merchant(run.created_at_s, merchant, line.merchant_id) {
                continue;
            }
            let row = [
                run.id.to_string(),
                rfc3339(run.until_s),
                run.status.as_str().to_string(),
                line.merchant_id.to_string(),
                csv_field(merchant.map_or("", |m| m.name.as_str())),
                csv_field(merchant.map_or("", |m| m.brand.as_str())),
                line.captured.to_string(),
                line.refunded.to_string(),
                line.gross.to_string(),
                line.fee_bps.to_string(),
                line.fee.to_string(),
                line.net.to_string(),
                rfc3339(run.created_at_s),
                run.paid_at_s.map(rfc3339).unwrap_or_default(),
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

#[cfg(test)]
mod tests {
    use super::parse_rfc3339;
    use ports::time::rfc3339;

    #[test]
    fn rfc3339_round_trips_and_takes_offsets() {
        for unix_s in [0, 1_700_000_000, 1_800_000_123, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&rfc3339(unix_s)), Some(unix_s));
        }
        assert_eq!(
            parse_rfc3339("2026-11-21T09:00:00+09:00"),
            parse_rfc3339("2026-11-21T00:00:00Z")
        );
        assert_eq!(
            parse_rfc3339("2026-11-21T00:00:00.123Z"),
            parse_rfc3339("2026-11-21T00:00:00Z")
        );
        assert_eq!(parse_rfc3339("2026-13-21T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
