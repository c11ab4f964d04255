//! Operator routes (`/admin/v1`, admin bearer token): partners and their rates, exchanges,
//! the partner settlement report and CSV, reconciliation, member unlock, the SMS outbox.

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use platform::domain::ExchangeStatus;
use platform::merchants::MerchantRecord;
use platform::partners::{NewPartner, PartnerChange, PartnerView};
use ports::time::{now_s, rfc3339};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::ledger_api::Body;
use crate::members_api::{ExchangeAnswer, json_body, parse_id_text, platform};
use crate::problem::Problem;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/partners",
            post(create_partner).get(list_partners),
        )
        .route(
            "/admin/v1/partners/{id}",
            get(show_partner).patch(change_partner),
        )
        .route("/admin/v1/partners/{id}/rates", post(add_rate))
        .route("/admin/v1/partners/{id}/payments", post(record_payment))
        .route("/admin/v1/partners/{id}/reconciliation", post(reconcile))
        .route("/admin/v1/exchanges", get(list_exchanges))
        .route("/admin/v1/reports/exchanges", get(exchange_report))
        .route("/admin/v1/reports/exchanges.csv", get(exchange_csv))
        .route("/admin/v1/members/{id}/unlock", post(unlock_member))
        .route("/admin/v1/members/{id}/lock", post(lock_member))
        .route("/admin/v1/sms-outbox", get(sms_outbox))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartnerBody {
    name: String,
    rate_num: u64,
    rate_den: u64,
    api_base_url: String,
    secret: String,
    minimum_unit: Option<u64>,
    daily_limit: Option<u64>,
    monthly_limit: Option<u64>,
    credit_line: Option<u64>,
}

fn partner_json(view: &PartnerView) -> Value {
    let partner = &view.record;
    let rates: Vec<Value> = partner
        .rates
        .iter()
        .map(
            |r| json!({"rate_num": r.num, "rate_den": r.den, "effective_from": r.effective_from_s}),
        )
        .collect();
    let rate = partner.rate_at(now_s());
    json!({
        "partner_id": partner.id.to_string(),
        "name": partner.name,
        "api_base_url": partner.api_base_url,
        "enabled": partner.enabled,
        "rate_num": rate.map(|r| r.num),
        "rate_den": rate.map(|r| r.den),
        "rates": rates,
        "minimum_unit": partner.minimum_unit,
        "daily_limit": partner.daily_limit,
        "monthly_limit": partner.monthly_limit,
        "credit_line": partner.credit_line,
        "issued_mvp": view.figures.issued_mvp as u64,
        "reserved_mvp": view.figures.reserved_mvp as u64,
        "paid_mvp": view.figures.paid_mvp as u64,
        "outstanding_mvp": view.figures.outstanding_mvp() as u64,
        "created_at": rfc3339(partner.created_at_s),
    })
}

async fn create_partner(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let body: PartnerBody = json_body(body)?;
    let id = platform(&state)?
        .create_partner(NewPartner {
            name: body.name,
            rate_num: body.rate_num,
            rate_den: body.rate_den,
            api_base_url: body.api_base_url,
            secret: body.secret,
            minimum_unit: body.minimum_unit,
            daily_limit: body.daily_limit,
            monthly_limit: body.monthly_limit,
            credit_line: body.credit_line,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "partner_id": id.to_string() })),
    ))
}

async fn list_partners(State(state): State<AppState>) -> Result<Json<Value>, Problem> {
    let views = platform(&state)?.partners().await?;
    let partners: Vec<Value> = views.iter().map(partner_json).collect();
    Ok(Json(json!({ "partners": partners })))
}

async fn show_partner(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let id = parse_id_text("partner_id", &id)?;
    let view = platform(&state)?.partner(id).await?;
    Ok(Json(partner_json(&view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PartnerChangeBody {
    name: Option<String>,
    api_base_url: Option<String>,
    secret: Option<String>,
    minimum_unit: Option<u64>,
    daily_limit: Option<u64>,
    monthly_limit: Option<u64>,
    credit_line: Option<u64>,
    enabled: Option<bool>,
}

async fn change_partner(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>, Problem> {
    let id = parse_id_text("partner_id", &id)?;
    let body: PartnerChangeBody = json_body(body)?;
    let view = platform(&state)?
        .change_partner(
            id,
            PartnerChange {
                name: body.name,
                api_base_url: body.api_base_url,
                secret: body.secret,
                minimum_unit: body.minimum_unit,
                daily_limit: body.daily_limit,
                monthly_limit: body.monthly_limit,
                credit_line: body.credit_line,
                enabled: body.enabled,
            },
        )
        .await?;
    Ok(Json(partner_json(&view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateBody {
    rate_num: u64,
    rate_den: u64,
    /// Unix seconds; omitted means now.
    effective_from: Option<u64>,
}

async fn add_rate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let id = parse_id_text("partner_id", &id)?;
    let body: RateBody = json_body(body)?;
    let view = platform(&state)?
        .add_rate(id, body.rate_num, body.rate_den, body.effective_from)
        .await?;
    Ok((StatusCode::CREATED, Json(partner_json(&view))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentBody {
    /// The bank's transaction reference: one payment, however often it is recorded.
    reference: String,
    amount: u64,
}

async fn record_payment(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let id = parse_id_text("partner_id", &id)?;
    let body: PaymentBody = json_body(body)?;
    let view = platform(&state)?
        .record_partner_payment(id, &body.reference, body.amount)
        .await?;
    Ok((StatusCode::CREATED, Json(partner_json(&view))))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PeriodBody {
    from: Option<u64>,
    to: Option<u64>,
}

/// `[from, to)` in Unix seconds; defaults: everything up to now.
fn period(from: Option<u64>, to: Option<u64>) -> Result<(u64, u64), Problem> {
    let from = from.unwrap_or(0);
    let to = to.unwrap_or_else(|| now_s() + 1);
    if from >= to {
        return Err(platform::error::invalid("from", "must be before to").into());
    }
    Ok((from, to))
}

/// The query of every report (`/admin/v1/reports/…`): the period `[from, to)` in Unix
/// seconds, and the filters the report takes (see [`ReportOf`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportQuery {
    from: Option<u64>,
    to: Option<u64>,
    merchant_id: Option<String>,
    brand: Option<String>,
    partner_id: Option<String>,
}

/// What a report is about, and so which filters it takes besides the period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReportOf {
    /// Payments and settlements: `merchant_id`, `brand`.
    Merchants,
    /// Exchanges: `partner_id`.
    Partners,
}

/// A report's filters, parsed and checked.
pub(crate) struct ReportFilter {
    pub(crate) from: u64,
    pub(crate) to: u64,
    pub(crate) merchant_id: Option<u128>,
    pub(crate) brand: Option<String>,
    pub(crate) partner_id: Option<u128>,
}

fn optional_id(field: &'static str, text: Option<&str>) -> Result<Option<u128>, Problem> {
    text.map(|text| parse_id_text(field, text)).transpose()
}

impl ReportQuery {
    /// The filters; a filter the report does not take is refused, not ignored.
    pub(crate) fn filter(self, of: ReportOf) -> Result<ReportFilter, Problem> {
        let stray = match of {
            ReportOf::Merchants => self.partner_id.is_some().then_some("partner_id"),
            ReportOf::Partners => [("merchant_id", self.merchant_id.is_some())]
                .into_iter()
                .chain([("brand", self.brand.is_some())])
                .find_map(|(field, given)| given.then_some(field)),
        };
        if let Some(field) = stray {
            return Err(platform::error::invalid(field, "not a filter of this report").into());
        }
        let (from, to) = period(self.from, self.to)?;
        Ok(ReportFilter {
            from,
            to,
            merchant_id: optional_id("merchant_id", self.merchant_id.as_deref())?,
            brand: self.brand,
            partner_id: optional_id("partner_id", self.partner_id.as_deref())?,
        })
    }
}

impl ReportFilter {
    /// Whether a line at `at_s` of `merchant_id` (whose record is `merchant`) is reported.
    pub(crate) fn keeps_merchant(
        &self,
        at_s: u64,
        merchant: Option<&MerchantRecord>,
        merchant_id: u128,
    ) -> bool {
        (self.from..self.to).contains(&at_s)
            && self.merchant_id.is_none_or(|id| id == merchant_id)
            && self
                .brand
                .as_ref()
                .is_none_or(|brand| merchant.is_some_and(|m| m.brand == *brand))
    }
}

/// Quotes a CSV field when it needs it (RFC 4180), and defuses spreadsheet formulas.
pub(crate) fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// A CSV answer, downloaded as `filename`.
pub(crate) fn csv_response(disposition: &'static str, csv: String) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        csv,
    )
}

async fn reconcile(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>, Problem> {
    let id = parse_id_text("partner_id", &id)?;
    let body: PeriodBody = json_body(body)?;
    let (from, to) = period(body.from, body.to)?;
    let report = platform(&state)?.reconcile_partner(id, from, to).await?;
    let mismatches: Vec<Value> = report
        .mismatches
        .iter()
        .map(|(id, ours, theirs)| json!({"exchange_id": id.to_string(), "ours": ours, "theirs": theirs}))
        .collect();
    Ok(Json(json!({
        "partner_id": id.to_string(),
        "from": from,
        "to": to,
        "checked": report.checked,
        "matched": report.matched,
        "unreachable": report.unreachable,
        "mismatches": mismatches,
    })))
}

#[derive(Deserialize)]
struct ExchangesQuery {
    status: Option<String>,
    limit: Option<usize>,
}

async fn list_exchanges(
    State(state): State<AppState>,
    query: Result<Query<ExchangesQuery>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let Query(query) = query?;
    let status = match query.status.as_deref() {
        None => None,
        Some("requested") => Some(ExchangeStatus::Requested),
        Some("completed") => Some(ExchangeStatus::Completed),
        Some("failed") => Some(ExchangeStatus::Failed),
        Some("reversed") => Some(ExchangeStatus::Reversed),
        Some(_) => {
            return Err(platform::error::invalid(
                "status",
                "requested, completed, failed or reversed",
            )
            .into());
        }
    };
    let platform = platform(&state)?;
    let limit = query
        .limit
        .unwrap_or(platform::exchange::EXCHANGES_PAGE_MAX);
    let list = platform.exchanges(status, limit).await?;
    let counts: serde_json::Map<String, Value> = platform
        .exchange_counts()
        .await?
        .iter()
        .map(|(status, count)| (status.as_str().to_string(), json!(count)))
        .collect();
    let exchanges: Vec<Value> = list
        .iter()
        .map(|record| {
            let mut answer = ExchangeAnswer::of(record);
            answer.member_id = Some(record.member_id.to_string());
            json!(answer)
        })
        .collect();
    Ok(Json(json!({ "exchanges": exchanges, "counts": counts })))
}

async fn exchange_report(
    State(state): State<AppState>,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let Query(query) = query?;
    let ReportFilter { from, to, .. } = query.filter(ReportOf::Partners)?;
    let lines = platform(&state)?.partner_settlement(from, to).await?;
    let partners: Vec<Value> = lines
        .iter()
        .map(|line| {
            json!({
                "partner_id": line.partner_id.to_string(),
                "partner_name": line.partner_name,
                "exchanges": line.exchanges,
                "mileage": line.mileage as u64,
                "mvp_issued": line.mvp as u64,
            })
        })
        .collect();
    Ok(Json(
        json!({ "from": from, "to": to, "partners": partners }),
    ))
}

async fn exchange_csv(
    State(state): State<AppState>,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<impl IntoResponse, Problem> {
    let Query(query) = query?;
    let filter = query.filter(ReportOf::Partners)?;
    let lines = platform(&state)?
        .completed_exchanges(filter.from, filter.to, filter.partner_id)
        .await?;
    let mut csv = String::from(
        "exchange_id,reference,partner_id,partner_name,partner_member_ref,mileage,rate_num,rate_den,mvp,created_at,completed_at\r\n",
    );
    for (record, name) in &lines {
        let row = [
            record.id.to_string(),
            platform::exchange::reference(record.id),
            record.partner_id.to_string(),
            csv_field(name),
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
    Ok(csv_response("attachment; filename=\"exchanges.csv\"", csv))
}

async fn unlock_member(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let id = parse_id_text("member_id", &id)?;
    platform(&state)?.unlock_member(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn lock_member(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let id = parse_id_text("member_id", &id)?;
    platform(&state)?.lock_member(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct OutboxQuery {
    phone: Option<String>,
}

async fn sms_outbox(
    State(state): State<AppState>,
    query: Result<Query<OutboxQuery>, QueryRejection>,
) -> Result<Json<Value>, Problem> {
    let Query(query) = query?;
    let outbox = state.outbox.as_ref().ok_or_else(|| {
        Problem::not_found("the dev SMS outbox is off: a real SMS gateway is configured")
    })?;
    let phone = match &query.phone {
        Some(text) => Some(platform::members::normalize_phone(text)?),
        None => None,
    };
    let messages: Vec<Value> = outbox
        .messages(phone.as_deref())
        .iter()
        .map(|m| json!({"sequence": m.sequence, "phone": m.phone, "text": m.text, "sent_at": rfc3339(m.sent_at_s)}))
        .collect();
    Ok(Json(json!({ "messages": messages })))
}
