//! Operator routes for merchants and their terminals (`/admin/v1/merchants`, admin token).
//! A terminal's secret is in the answer that creates it and never again.

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, patch, post};
use platform::merchants::{MerchantChange, MerchantRecord, NewMerchant, TerminalRecord};
use platform::settlement::SettlementRecord;
use ports::time::rfc3339;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::admin_api::{ReportOf, ReportQuery, csv_field, csv_response};
use crate::ledger_api::Body;
use crate::members_api::{json_body, parse_id_text, platform};
use crate::problem::Problem;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/merchants",
            post(create_merchant).get(list_merchants),
        )
        .route(
            "/admin/v1/merchants/{id}",
            get(show_merchant).patch(change_merchant),
        )
        .route(
            "/admin/v1/merchants/{id}/terminals",
            post(create_terminal).get(list_terminals),
        )
        .route(
            "/admin/v1/merchants/{id}/terminals/{terminal_id}",
            patch(change_terminal),
        )
        .route("/admin/v1/vans", post(create_van))
        .route(
            "/admin/v1/merchants/{id}/van",
            axum::routing::put(serve_merchant),
        )
        .route(
            "/admin/v1/settlements",
            post(create_settlement).get(list_settlements),
        )
        .route("/admin/v1/settlements/{id}/paid", post(settlement_paid))
        .route("/admin/v1/reports/payments.csv", get(payments_csv))
        .route("/admin/v1/reports/settlements.csv", get(settlements_csv))
}

fn merchant_json(merchant: &MerchantRecord) -> Value {
    json!({
        "merchant_id": merchant.id.to_string(),
        "name": merchant.name,
        "brand": merchant.brand,
        "fee_bps": merchant.fee_bps,
        "enabled": merchant.enabled,
        "created_at": rfc3339(merchant.created_at_s),
    })
}

fn terminal_json(terminal: &TerminalRecord) -> Value {
    json!({
        "terminal_id": terminal.id.to_string(),
        "merchant_id": terminal.merchant_id.to_string(),
        "key_id": terminal.key_id,
        "enabled": terminal.enabled,
        "created_at": rfc3339(terminal.created_at_s),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MerchantBody {
    name: String,
    brand: String,
    fee_bps: u32,
}

async fn create_merchant(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let body: MerchantBody = json_body(body)?;
    let id = platform(&state)?
        .create_merchant(NewMerchant {
            name: body.name,
            brand: body.brand,
            fee_bps: body.fee_bps,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "merchant_id": id.to_string() })),
    ))
}

async fn list_merchants(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    let list = platform(&state)?.merchants().await?;
    let merchants: Vec<Value> = list.iter().map(merchant_json).collect();
    Ok(Json(json!({ "merchants": merchants })))
}

async fn show_merchant(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let id = parse_id_text("merchant_id", &id)?;
    let platform = platform(&state)?;
    let merchant = platform.merchant(id).await?;
    let payable = platform.merchant_payable(id).await?;
    let mut value = merchant_json(&merchant);
    value["payable"] = json!(payable);
    Ok(Json(value))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MerchantChangeBody {
    name: Option<String>,
    fee_bps: Option<u32>,
    enabled: Option<bool>,
}

async fn change_merchant(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>, Problem> {
    let id = parse_id_text("merchant_id", &id)?;
    let body: MerchantChangeBody = json_body(body)?;
    let change = MerchantChange {
        name: body.name,
        fee_bps: body.fee_bps,
        enabled: body.enabled,
    };
    let merchant = platform(&state)?.change_merchant(id, change).await?;
    Ok(Json(merchant_json(&merchant)))
}

async fn create_terminal(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let id = parse_id_text("merchant_id", &id)?;
    let grant = platform(&state)?.create_terminal(id).await?;
    let answer = json!({
        "terminal_id": grant.terminal_id.to_string(),
        "merchant_id": id.to_string(),
        "key_id": grant.key_id,
        "secret": grant.secret,
    });
    Ok((StatusCode::CREATED, Json(answer)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VanBody {
    name: String,
}

/// `POST /admin/v1/vans {name}` → 201 `{van_id, key_id, secret}` (the secret shown once).
async fn create_van(
    State(state): State<AppState>,
    body: crate::ledger_api::Body,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let body: VanBody = crate::members_api::json_body(body)?;
    let grant = platform(&state)?.create_van(&body.name).await?;
    let answer = json!({
        "van_id": grant.van_id.to_string(),
        "name": body.name.trim(),
        "key_id": grant.key_id,
        "secret": grant.secret,
    });
    Ok((StatusCode::CREATED, Json(answer)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServeBody {
    /// The VAN that serves the merchant from now on; `null` for none.
    van_id: Option<String>,
}

/// `PUT /admin/v1/merchants/{id}/van {van_id}`: which VAN may sign for its terminals.
async fn serve_merchant(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: crate::ledger_api::Body,
) -> Result<Json<Value>, Problem> {
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
    Ok(Json(json!({
        "merchant_id": merchant_id.to_string(),
        "van_id": van_id.map(|id| id.to_string()),
    })))
}

async fn list_terminals(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let id = parse_id_text("merchant_id", &id)?;
    let list = platform(&state)?.terminals(id).await?;
    let terminals: Vec<Value> = list.iter().map(terminal_json).collect();
    Ok(Json(json!({ "terminals": terminals })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TerminalChangeBody {
    enabled: bool,
}

async fn change_terminal(
    State(state): State<AppState>,
    Path((id, terminal_id)): Path<(String, String)>,
    body: Body,
) -> Result<Json<Value>, Problem> {
    let id = parse_id_text("merchant_id", &id)?;
    let terminal_id = parse_id_text("terminal_id", &terminal_id)?;
    let body: TerminalChangeBody = json_body(body)?;
    let terminal = platform(&state)?
        .set_terminal_enabled(id, terminal_id, body.enabled)
        .await?;
    Ok(Json(terminal_json(&terminal)))
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

fn settlement_json(run: &SettlementRecord) -> Value {
    let lines: Vec<Value> = run
        .lines
        .iter()
        .map(|line| {
            json!({
                "merchant_id": line.merchant_id.to_string(),
                "captured": line.captured,
                "refunded": line.refunded,
                "gross": line.gross,
                "fee_bps": line.fee_bps,
                "fee": line.fee,
                "net": line.net,
            })
        })
        .collect();
    json!({
        "settlement_id": run.id.to_string(),
        "until": rfc3339(run.until_s),
        "until_s": run.until_s,
        "status": run.status.as_str(),
        "lines": lines,
        "created_at": rfc3339(run.created_at_s),
        "paid_at": run.paid_at_s.map(rfc3339),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettlementBody {
    until: Value,
}

async fn create_settlement(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let body: SettlementBody = json_body(body)?;
    let until_s = parse_until(&body.until)?;
    let run = platform(&state)?.settle(until_s).await?;
    Ok((StatusCode::CREATED, Json(settlement_json(&run))))
}

async fn list_settlements(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    let runs = platform(&state)?.settlements().await?;
    let runs: Vec<Value> = runs.iter().map(settlement_json).collect();
    Ok(Json(json!({ "settlements": runs })))
}

async fn settlement_paid(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let id = parse_id_text("settlement_id", &id)?;
    let run = platform(&state)?.settlement_paid(id).await?;
    Ok(Json(settlement_json(&run)))
}

async fn merchant_map(
    state: &AppState,
) -> Result<std::collections::HashMap<u128, MerchantRecord>, Problem> {
    let list = platform(state)?.merchants().await?;
    Ok(list.into_iter().map(|m| (m.id, m)).collect())
}

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
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"payments.csv\"",
            ),
        ],
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
