//! Operator routes (`/admin/v1`, admin bearer token): partners and their rates, exchanges,
//! the partner settlement report and CSV, reconciliation, member unlock, the SMS outbox.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use platform::domain::ExchangeStatus;
use platform::merchants::MerchantRecord;
use platform::partners::{NewPartner, PartnerChange, PartnerView};
use ports::time::{now_s, rfc3339};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::ledger_api::Body;
use crate::members_api::{ExchangeAnswer, json_body, parse_id_text, platform};
use crate::openapi;
use crate::problem::Problem;
use crate::shapes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_partner, list_partners))
        .routes(routes!(show_partner, change_partner))
        .routes(routes!(add_rate))
        .routes(routes!(record_payment))
        .routes(routes!(record_prepayment))
        .routes(routes!(reconcile))
        .routes(routes!(list_exchanges))
        .routes(routes!(exchange_report))
        .routes(routes!(exchange_csv))
        .routes(routes!(find_member))
        .routes(routes!(member_history))
        .routes(routes!(unlock_member))
        .routes(routes!(lock_member))
        .routes(routes!(sms_outbox))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PartnerBody {
    name: String,
    /// MVP per `rate_den` units of mileage.
    rate_num: u64,
    rate_den: u64,
    /// The base URL of the partner's API.
    api_base_url: String,
    /// The shared secret that signs requests both ways.
    secret: String,
    minimum_unit: Option<u64>,
    daily_limit: Option<u64>,
    monthly_limit: Option<u64>,
    credit_line: Option<u64>,
    /// `credit` (the default: MVP issued ahead, paid for afterwards) or `prepaid` (points
    /// replacement: the partner buys MVP up front and its members' exchanges are paid from
    /// it, never beyond it). Chosen once, here.
    funding: Option<PartnerFunding>,
}

/// How a partner pays for its members' MVP.
#[derive(Clone, Copy, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum PartnerFunding {
    #[default]
    Credit,
    Prepaid,
}

/// A prepaid partner's MVP, from its ledger account.
#[derive(Serialize, ToSchema)]
struct PrepaidFigures {
    /// What the partner bought, in all.
    bought_mvp: u64,
    /// What its members received through completed exchanges.
    handed_out_mvp: u64,
    /// What open exchanges hold.
    reserved_mvp: u64,
    /// What is left for new exchanges.
    available_mvp: u64,
}

/// One rate of a partner, in force from `effective_from`.
#[derive(Serialize, ToSchema)]
struct PartnerRate {
    rate_num: u64,
    rate_den: u64,
    /// Unix seconds.
    effective_from: u64,
}

/// A partner with its rates and running figures.
#[derive(Serialize, ToSchema)]
struct AdminPartner {
    partner_id: String,
    name: String,
    api_base_url: String,
    enabled: bool,
    /// The rate in force now; null without one.
    rate_num: Option<u64>,
    rate_den: Option<u64>,
    /// Every rate, oldest first.
    rates: Vec<PartnerRate>,
    minimum_unit: u64,
    daily_limit: u64,
    monthly_limit: u64,
    credit_line: u64,
    /// MVP credited to members against this partner.
    issued_mvp: u64,
    /// MVP of exchanges still requested.
    reserved_mvp: u64,
    /// MVP the partner paid for.
    paid_mvp: u64,
    /// Issued and not yet paid for.
    outstanding_mvp: u64,
    funding: PartnerFunding,
    /// A prepaid partner's MVP; null for a partner on credit.
    prepaid: Option<PrepaidFigures>,
    created_at: String,
}

fn admin_partner(view: &PartnerView) -> AdminPartner {
    let partner = &view.record;
    let rates = partner
        .rates
        .iter()
        .map(|r| PartnerRate {
            rate_num: r.num,
            rate_den: r.den,
            effective_from: r.effective_from_s,
        })
        .collect();
    let rate = partner.rate_at(now_s());
    AdminPartner {
        partner_id: partner.id.to_string(),
        name: partner.name.clone(),
        api_base_url: partner.api_base_url.clone(),
        enabled: partner.enabled,
        rate_num: rate.map(|r| r.num),
        rate_den: rate.map(|r| r.den),
        rates,
        minimum_unit: partner.minimum_unit,
        daily_limit: partner.daily_limit,
        monthly_limit: partner.monthly_limit,
        credit_line: partner.credit_line,
        // Sums of u64 amounts: past u64 (never in practice) the figure saturates, never wraps.
        issued_mvp: saturating_u64(view.figures.issued_mvp),
        reserved_mvp: saturating_u64(view.figures.reserved_mvp),
        paid_mvp: saturating_u64(view.figures.paid_mvp),
        outstanding_mvp: saturating_u64(view.figures.outstanding_mvp()),
        funding: match partner.prepaid {
            true => PartnerFunding::Prepaid,
            false => PartnerFunding::Credit,
        },
        prepaid: view.prepaid.map(|balance| PrepaidFigures {
            bought_mvp: saturating_u64(balance.bought_mvp),
            handed_out_mvp: saturating_u64(balance.handed_out_mvp),
            reserved_mvp: saturating_u64(balance.reserved_mvp),
            available_mvp: saturating_u64(balance.available_mvp),
        }),
        created_at: rfc3339(partner.created_at_s),
    }
}

fn saturating_u64(value: u128) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

#[derive(Serialize, ToSchema)]
struct PartnerCreated {
    partner_id: String,
}

/// Creates a partner with its first rate.
///
/// Needs `partners.write`.
#[utoipa::path(post, path = "/admin/v1/partners", tag = "admin partners",
    security(("operator" = [])),
    request_body = PartnerBody,
    responses((status = 201, description = "The partner exists", body = PartnerCreated)))]
async fn create_partner(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<PartnerCreated>), Problem> {
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
            prepaid: matches!(body.funding.unwrap_or_default(), PartnerFunding::Prepaid),
        })
        .await?;
    let answer = PartnerCreated {
        partner_id: id.to_string(),
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

#[derive(Serialize, ToSchema)]
struct AdminPartners {
    partners: Vec<AdminPartner>,
}

/// Every partner, enabled or not.
///
/// Needs `partners.read`.
#[utoipa::path(get, path = "/admin/v1/partners", tag = "admin partners",
    security(("operator" = [])),
    responses((status = 200, description = "Partners", body = AdminPartners)))]
async fn list_partners(State(state): State<AppState>) -> Result<Json<AdminPartners>, Problem> {
    let views = platform(&state)?.partners().await?;
    let partners = views.iter().map(admin_partner).collect();
    Ok(Json(AdminPartners { partners }))
}

/// One partner.
///
/// Needs `partners.read`.
#[utoipa::path(get, path = "/admin/v1/partners/{id}", tag = "admin partners",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The partner id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 200, description = "The partner", body = AdminPartner)))]
async fn show_partner(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AdminPartner>, Problem> {
    let id = parse_id_text("partner_id", &id)?;
    let view = platform(&state)?.partner(id).await?;
    Ok(Json(admin_partner(&view)))
}

/// The fields to change; those absent stay as they are.
#[derive(Deserialize, ToSchema)]
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

/// Changes a partner (name, API, secret, limits, enabled).
///
/// Needs `partners.write`.
#[utoipa::path(patch, path = "/admin/v1/partners/{id}", tag = "admin partners",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The partner id", pattern = r"^[0-9]{1,39}$")),
    request_body = PartnerChangeBody,
    responses((status = 200, description = "The changed partner", body = AdminPartner)))]
async fn change_partner(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<AdminPartner>, Problem> {
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
    Ok(Json(admin_partner(&view)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PartnerRateBody {
    rate_num: u64,
    rate_den: u64,
    /// Unix seconds; omitted means now.
    effective_from: Option<u64>,
}

/// Adds a rate to a partner, in force now or from a later time.
///
/// Needs `partners.write`.
#[utoipa::path(post, path = "/admin/v1/partners/{id}/rates", tag = "admin partners",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The partner id", pattern = r"^[0-9]{1,39}$")),
    request_body = PartnerRateBody,
    responses((status = 201, description = "The partner with the new rate", body = AdminPartner)))]
async fn add_rate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<AdminPartner>), Problem> {
    let id = parse_id_text("partner_id", &id)?;
    let body: PartnerRateBody = json_body(body)?;
    let view = platform(&state)?
        .add_rate(id, body.rate_num, body.rate_den, body.effective_from)
        .await?;
    Ok((StatusCode::CREATED, Json(admin_partner(&view))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PartnerPaymentBody {
    /// The bank's transaction reference: one payment, however often it is recorded.
    reference: String,
    amount: u64,
}

/// Records a partner's payment for the MVP issued against it.
///
/// Needs `partners.settle`.
#[utoipa::path(post, path = "/admin/v1/partners/{id}/payments", tag = "admin partners",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The partner id", pattern = r"^[0-9]{1,39}$")),
    request_body = PartnerPaymentBody,
    responses((status = 201, description = "The partner with the payment counted", body = AdminPartner)))]
async fn record_payment(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<AdminPartner>), Problem> {
    let id = parse_id_text("partner_id", &id)?;
    let body: PartnerPaymentBody = json_body(body)?;
    let view = platform(&state)?
        .record_partner_payment(id, &body.reference, body.amount)
        .await?;
    Ok((StatusCode::CREATED, Json(admin_partner(&view))))
}

/// Records a prepaid partner's purchase of MVP for its members (points replacement).
///
/// Once per `reference`. Needs `partners.settle`.
#[utoipa::path(post, path = "/admin/v1/partners/{id}/prepayments", tag = "admin partners",
    operation_id = "admin_record_partner_prepayment",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The partner id", pattern = r"^[0-9]{1,39}$")),
    request_body = PartnerPaymentBody,
    responses((status = 201, description = "The partner with its prepaid MVP", body = AdminPartner)))]
async fn record_prepayment(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<AdminPartner>), Problem> {
    let id = parse_id_text("partner_id", &id)?;
    let body: PartnerPaymentBody = json_body(body)?;
    let view = platform(&state)?
        .record_partner_prepayment(id, &body.reference, body.amount)
        .await?;
    Ok((StatusCode::CREATED, Json(admin_partner(&view))))
}

/// The period `[from, to)` in Unix seconds; defaults: everything up to now.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReconciliationBody {
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
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportQuery {
    /// Unix seconds, inclusive; default 0.
    from: Option<u64>,
    /// Unix seconds, exclusive; default now.
    to: Option<u64>,
    /// Payments and settlements only.
    merchant_id: Option<String>,
    /// Payments and settlements only.
    brand: Option<String>,
    /// Exchanges only.
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

/// The media type of the CSV reports.
const TEXT_CSV: &str = "text/csv; charset=utf-8";

/// A CSV answer (whole, or a stream), downloaded as the `disposition` names it.
pub(crate) fn csv_response(disposition: &'static str, csv: impl IntoResponse) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, TEXT_CSV),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        csv,
    )
}

#[derive(Serialize, ToSchema)]
struct ReconciliationMismatch {
    exchange_id: String,
    /// Our status of the exchange.
    ours: String,
    /// The partner's.
    theirs: String,
}

#[derive(Serialize, ToSchema)]
struct ReconciliationAnswer {
    /// The id it is kept under (`GET /admin/v1/partners/{id}/reconciliations`).
    reconciliation_id: String,
    /// When it ran.
    at: String,
    partner_id: String,
    /// Unix seconds.
    from: u64,
    to: u64,
    checked: u64,
    matched: u64,
    /// Exchanges the partner did not answer about.
    unreachable: u64,
    mismatches: Vec<ReconciliationMismatch>,
}

/// Reconciles a partner's exchanges of a period with the partner's record.
///
/// Needs `partners.settle`.
#[utoipa::path(post, path = "/admin/v1/partners/{id}/reconciliation", tag = "admin partners",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The partner id", pattern = r"^[0-9]{1,39}$")),
    request_body = ReconciliationBody,
    responses((status = 200, description = "What matched and what did not", body = ReconciliationAnswer)))]
async fn reconcile(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<ReconciliationAnswer>, Problem> {
    let id = parse_id_text("partner_id", &id)?;
    let body: ReconciliationBody = json_body(body)?;
    let (from, to) = period(body.from, body.to)?;
    let report = platform(&state)?.reconcile_partner(id, from, to).await?;
    let mismatches = report
        .mismatches
        .iter()
        .map(|(id, ours, theirs)| ReconciliationMismatch {
            exchange_id: id.to_string(),
            ours: ours.clone(),
            theirs: theirs.clone(),
        })
        .collect();
    Ok(Json(ReconciliationAnswer {
        reconciliation_id: report.id.to_string(),
        at: rfc3339(report.at_s),
        partner_id: id.to_string(),
        from,
        to,
        checked: report.checked,
        matched: report.matched,
        unreachable: report.unreachable,
        mismatches,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ExchangesQuery {
    /// `requested`, `completed`, `failed` or `reversed`; all when absent.
    status: Option<String>,
    /// How many exchanges at most, newest first.
    limit: Option<usize>,
    /// `next_cursor` of the page before; absent for the first page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct AdminExchanges {
    /// Each with its `member_id`.
    exchanges: Vec<ExchangeAnswer>,
    /// How many exchanges are in each status.
    counts: BTreeMap<String, u64>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// The latest exchanges, and how many are in each status.
///
/// Needs `exchanges.read`.
#[utoipa::path(get, path = "/admin/v1/exchanges", tag = "admin exchanges",
    security(("operator" = [])),
    params(ExchangesQuery),
    responses((status = 200, description = "Exchanges and counts", body = AdminExchanges)))]
async fn list_exchanges(
    State(state): State<AppState>,
    query: Result<Query<ExchangesQuery>, QueryRejection>,
) -> Result<Json<AdminExchanges>, Problem> {
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
    let page_max = platform::exchange::EXCHANGES_PAGE_MAX;
    let limit = shapes::page_limit(query.limit, page_max, page_max)?;
    let before = query
        .cursor
        .as_deref()
        .map(shapes::time_cursor)
        .transpose()?;
    let list = platform.exchanges_before(status, before, limit).await?;
    let next_cursor = (list.len() == limit)
        .then(|| list.last())
        .flatten()
        .map(|last| shapes::time_cursor_text(last.created_at_s, last.id));
    let counts = platform
        .exchange_counts()
        .await?
        .iter()
        .map(|(status, count)| (status.as_str().to_string(), *count))
        .collect();
    let exchanges = list
        .iter()
        .map(|record| {
            let mut answer = ExchangeAnswer::of(record);
            answer.member_id = Some(record.member_id.to_string());
            answer
        })
        .collect();
    Ok(Json(AdminExchanges {
        exchanges,
        counts,
        next_cursor,
    }))
}

/// One partner's line of the exchange report.
#[derive(Serialize, ToSchema)]
struct ExchangeReportLine {
    partner_id: String,
    partner_name: String,
    /// Completed exchanges.
    exchanges: u64,
    mileage: u64,
    mvp_issued: u64,
}

#[derive(Serialize, ToSchema)]
struct ExchangeReportAnswer {
    from: u64,
    to: u64,
    partners: Vec<ExchangeReportLine>,
}

/// Completed exchanges per partner in a period (the partner settlement report).
///
/// Needs `exchanges.read`.
#[utoipa::path(get, path = "/admin/v1/reports/exchanges", tag = "admin reports",
    security(("operator" = [])),
    params(ReportQuery),
    responses((status = 200, description = "The report", body = ExchangeReportAnswer)))]
async fn exchange_report(
    State(state): State<AppState>,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Json<ExchangeReportAnswer>, Problem> {
    let Query(query) = query?;
    let ReportFilter { from, to, .. } = query.filter(ReportOf::Partners)?;
    let lines = platform(&state)?.partner_settlement(from, to).await?;
    let partners = lines
        .iter()
        .map(|line| ExchangeReportLine {
            partner_id: line.partner_id.to_string(),
            partner_name: line.partner_name.clone(),
            exchanges: line.exchanges,
            mileage: saturating_u64(line.mileage),
            mvp_issued: saturating_u64(line.mvp),
        })
        .collect();
    Ok(Json(ExchangeReportAnswer { from, to, partners }))
}

/// The completed exchanges of a period as CSV.
///
/// Needs `reports.read`.
#[utoipa::path(get, path = "/admin/v1/reports/exchanges.csv", tag = "admin reports",
    security(("operator" = [])),
    params(ReportQuery),
    responses((status = 200, description = "exchanges.csv, one line per exchange", body = String, content_type = "text/csv")))]
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct MemberQuery {
    /// The member's phone, in any format members type (`010-1234-5678`, `+8210…`).
    phone: String,
}

/// A member as staff see them.
#[derive(Serialize, ToSchema)]
struct StaffMemberAnswer {
    member_id: String,
    name: String,
    phone: String,
    /// `active` or `withdrawn`.
    status: &'static str,
    /// Locked by an operator or by wrong PINs: no login, payment or spending.
    locked: bool,
    created_at: String,
    /// MVP the member may spend, and MVP held by authorizations.
    available: u64,
    pending: u64,
}

/// Finds the member with a phone, through the phone's blind index (phones are stored
/// sealed; no list of members is ever read).
///
/// Needs `members.read`.
#[utoipa::path(get, path = "/admin/v1/members", operation_id = "find_member", tag = "admin members",
    security(("operator" = [])),
    params(MemberQuery),
    responses(
        (status = 200, description = "The member", body = StaffMemberAnswer),
        (status = 404, description = "No member has this phone", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn find_member(
    State(state): State<AppState>,
    query: Result<Query<MemberQuery>, QueryRejection>,
) -> Result<Json<StaffMemberAnswer>, Problem> {
    let Query(query) = query?;
    let platform = platform(&state)?;
    let member =
        platform
            .member_by_phone(&query.phone)
            .await?
            .ok_or(platform::PlatformError::NotFound(
                platform::error::Entity::Member,
            ))?;
    let balance = platform.balance(member.id).await?;
    Ok(Json(StaffMemberAnswer {
        member_id: member.id.to_string(),
        name: member.name,
        phone: member.phone,
        status: match member.status {
            platform::domain::MemberStatus::Active => "active",
            platform::domain::MemberStatus::Withdrawn => "withdrawn",
        },
        locked: member.locked,
        created_at: rfc3339(member.created_at_s),
        available: balance.available,
        pending: balance.pending,
    }))
}

/// A line of a member's history, as staff see it.
#[derive(Serialize, ToSchema)]
struct StaffHistoryLine {
    transfer_id: String,
    at: String,
    /// Why the value moved: `exchange`, `payment`, `refund`, `voucher_purchase`, ...
    reason: &'static str,
    /// MVP, in or out of the wallet.
    amount: shapes::SignedAmount,
    pending: bool,
}

#[derive(Serialize, ToSchema)]
struct StaffHistoryAnswer {
    transactions: Vec<StaffHistoryLine>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// A member's history, newest first (what the member sees in the app).
///
/// Needs `members.read`.
#[utoipa::path(get, path = "/admin/v1/members/{id}/transactions", tag = "admin members",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The member id", pattern = r"^[0-9]{1,39}$"), shapes::HistoryQuery),
    responses((status = 200, description = "A page of history", body = StaffHistoryAnswer)))]
async fn member_history(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<shapes::HistoryQuery>, QueryRejection>,
) -> Result<Json<StaffHistoryAnswer>, Problem> {
    let member_id = parse_id_text("member_id", &id)?;
    let Query(query) = query?;
    let page = query.page()?;
    let limit = page.limit;
    let platform = platform(&state)?;
    platform.member(member_id).await?;
    let lines = platform.transactions(member_id, page).await?;
    let next_cursor = if lines.len() == limit {
        lines.last().map(|line| line.timestamp_ns.to_string())
    } else {
        None
    };
    let transactions = lines
        .iter()
        .map(|line| StaffHistoryLine {
            transfer_id: line.transfer_id.to_string(),
            at: rfc3339(line.timestamp_ns / 1_000_000_000),
            reason: line.reason,
            amount: shapes::SignedAmount {
                amount: line.amount,
                positive: line.incoming,
            },
            pending: line.pending,
        })
        .collect();
    Ok(Json(StaffHistoryAnswer {
        transactions,
        next_cursor,
    }))
}

/// Lifts an operator's lock and forgets the phone's wrong PINs.
///
/// Needs `members.unlock`.
#[utoipa::path(post, path = "/admin/v1/members/{id}/unlock", tag = "admin members",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The member id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 204, description = "The member is unlocked")))]
async fn unlock_member(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let id = parse_id_text("member_id", &id)?;
    platform(&state)?.unlock_member(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Locks a member (e.g. a reported theft): no login or payment, every session ends.
///
/// Needs `members.lock`.
#[utoipa::path(post, path = "/admin/v1/members/{id}/lock", tag = "admin members",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The member id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 204, description = "The member is locked")))]
async fn lock_member(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let id = parse_id_text("member_id", &id)?;
    platform(&state)?.lock_member(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct OutboxQuery {
    /// Only the messages to this phone.
    phone: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct SmsOutboxMessage {
    sequence: u64,
    phone: String,
    text: String,
    sent_at: String,
}

#[derive(Serialize, ToSchema)]
struct SmsOutbox {
    messages: Vec<SmsOutboxMessage>,
}

/// The dev SMS outbox: the messages that would have been sent.
///
/// Needs `sms.read`.
#[utoipa::path(get, path = "/admin/v1/sms-outbox", tag = "admin dev",
    security(("operator" = [])),
    params(OutboxQuery),
    responses(
        (status = 200, description = "The messages, newest first", body = SmsOutbox),
        (status = 404, description = "The outbox is off: a real SMS gateway is configured", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn sms_outbox(
    State(state): State<AppState>,
    query: Result<Query<OutboxQuery>, QueryRejection>,
) -> Result<Json<SmsOutbox>, Problem> {
    let Query(query) = query?;
    let outbox = state.outbox.as_ref().ok_or_else(|| {
        Problem::not_found("the dev SMS outbox is off: a real SMS gateway is configured")
    })?;
    let phone = match &query.phone {
        Some(text) => Some(platform::members::normalize_phone(text)?),
        None => None,
    };
    let messages = outbox
        .messages(phone.as_deref())
        .into_iter()
        .map(|m| SmsOutboxMessage {
            sequence: m.sequence,
            sent_at: rfc3339(m.sent_at_s),
            phone: m.phone,
            text: m.text,
        })
        .collect();
    Ok(Json(SmsOutbox { messages }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use axum::http::Method;
    use serde_json::Value;
    use utoipa_axum::router::OpenApiRouter;

    use crate::AppState;
    use crate::access::{Requirement, requirement};

    /// The operator, partner, VAN and merchant portal routes as the document describes
    /// them: `(method, path, operation)`.
    fn operations() -> Vec<(String, String, Value)> {
        let routers: [OpenApiRouter<AppState>; 12] = [
            super::routes(),
            crate::health_api::routes(),
            crate::merchants_api::routes(),
            crate::merchant_portal_api::routes(),
            crate::partner_portal_api::routes(),
            crate::partner_api::routes(),
            crate::van_api::routes(),
            crate::escrow_api::admin_routes(),
            crate::escrow_api::game_routes(),
            crate::promotions_api::routes(),
            crate::creators_api::admin_routes(),
            crate::creators_api::media_routes(),
        ];
        let mut operations = Vec::new();
        for router in routers {
            let document = serde_json::to_value(router.split_for_parts().1).unwrap();
            for (path, item) in document["paths"].as_object().unwrap() {
                for (method, operation) in item.as_object().unwrap() {
                    operations.push((method.to_uppercase(), path.clone(), operation.clone()));
                }
            }
        }
        operations
    }

    #[test]
    fn every_route_is_documented_with_its_answer_and_credentials() {
        let operations = operations();
        assert_eq!(
            operations.len(),
            16 + 4 + 14 + 11 + 7 + 1 + 5 + 5 + 3 + 5 + 6 + 4,
            "every route once"
        );
        for (method, path, operation) in &operations {
            let at = format!("{method} {path}");
            let summary = operation["summary"].as_str().unwrap_or_default();
            assert!(!summary.is_empty(), "{at}: a summary");
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|status| status.starts_with('2')),
                "{at}: a success answer"
            );
            for name in path
                .split('{')
                .skip(1)
                .filter_map(|rest| rest.split('}').next())
            {
                let named = operation["parameters"]
                    .as_array()
                    .is_some_and(|parameters| {
                        parameters
                            .iter()
                            .any(|p| p["in"] == "path" && p["name"] == name)
                    });
                assert!(named, "{at}: path parameter {name}");
            }
            let scheme = if path.starts_with("/admin/") {
                let method = Method::from_bytes(method.as_bytes()).unwrap();
                let needs = requirement(&method, path);
                assert!(needs.is_some(), "{at}: in access::ADMIN_ROUTES");
                if let Some(Requirement::Permission(permission)) = needs {
                    let description = operation["description"].as_str().unwrap_or_default();
                    let named = format!("`{}`", permission.name());
                    assert!(description.contains(&named), "{at}: names {named}");
                }
                crate::openapi::OPERATOR
            } else if path.starts_with("/partner/") {
                crate::openapi::PARTNER
            } else if path == "/merchant/v1/sessions" || path == "/partner-portal/v1/sessions" {
                // Logging in: the one portal route without a session.
                assert_eq!(operation["security"], Value::Null, "{at}: public");
                continue;
            } else if path.starts_with("/merchant/") {
                crate::openapi::MERCHANT
            } else if path.starts_with("/partner-portal/") {
                crate::openapi::PARTNER_PORTAL
            } else if path.starts_with("/game/") {
                crate::openapi::GAME
            } else if path.starts_with("/media/") {
                crate::openapi::MEDIA
            } else {
                assert!(path.starts_with("/van/"), "{at}: an expected prefix");
                crate::openapi::TERMINAL
            };
            assert_eq!(
                operation["security"],
                serde_json::json!([{ scheme: [] }]),
                "{at}: signed or authenticated"
            );
        }
    }

    /// Operation ids are unique and every schema an answer or a body names exists.
    #[test]
    fn the_document_is_consistent() {
        let document = serde_json::to_value(crate::document()).unwrap();
        let schemas = document["components"]["schemas"].as_object().unwrap();
        let mut refs = Vec::new();
        collect_refs(&document, &mut refs);
        for reference in refs {
            let name = reference.strip_prefix("#/components/schemas/").unwrap();
            assert!(schemas.contains_key(name), "{reference} resolves");
        }
        let mut ids = BTreeSet::new();
        for item in document["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                if let Some(id) = operation["operationId"].as_str() {
                    assert!(ids.insert(id.to_string()), "operationId {id} once");
                }
            }
        }
    }

    fn collect_refs(value: &Value, refs: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    refs.push(reference.clone());
                }
                map.values().for_each(|value| collect_refs(value, refs));
            }
            Value::Array(items) => items.iter().for_each(|value| collect_refs(value, refs)),
            _ => {}
        }
    }
}
