//! The operators' health routes: the daily volume report behind the console's charts,
//! verifications of the ledger run by the server, and the reconciliations kept per partner.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use platform::health::{VOLUME_DAYS_MAX, Volume};
use ports::time::{KST_OFFSET_S, rfc3339};
use serde::{Deserialize, Serialize};
use store::tables::health::{RECONCILIATIONS_PAGE_MAX, ReconciliationRow, VerificationRow};
use store::tables::volume::DayTotal;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::members_api::{parse_id_text, platform};
use crate::openapi;
use crate::problem::Problem;
use crate::shapes::{PageQuery, page_limit};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(volume))
        .routes(routes!(verify))
        .routes(routes!(latest_verification))
        .routes(routes!(reconciliations))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct VolumeQuery {
    /// Unix seconds, inclusive.
    from: u64,
    /// Unix seconds, exclusive; at most 93 days after `from`.
    to: u64,
}

#[derive(Serialize, ToSchema)]
struct DayAnswer {
    /// The KST calendar day, `YYYY-MM-DD`.
    date: String,
    /// Exchanges completed that day and the MVP they issued.
    exchanges: u64,
    exchanged_mvp: u64,
    /// Payments approved that day (held or captured), what they paid, and what of them
    /// was refunded since.
    payments: u64,
    paid_mvp: u64,
    refunded_mvp: u64,
}

#[derive(Serialize, ToSchema)]
struct TopPartner {
    partner_id: String,
    name: String,
    exchanges: u64,
    mvp_issued: u64,
}

#[derive(Serialize, ToSchema)]
struct TopMerchant {
    merchant_id: String,
    name: String,
    brand: String,
    payments: u64,
    paid_mvp: u64,
}

#[derive(Serialize, ToSchema)]
struct VolumeAnswer {
    from: u64,
    to: u64,
    /// Every KST day the period touches, oldest first, days without activity included.
    days: Vec<DayAnswer>,
    /// The partners that issued the most MVP, most first (at most 5).
    top_partners: Vec<TopPartner>,
    /// The stores paid the most, most first (at most 5).
    top_merchants: Vec<TopMerchant>,
}

/// Exchange and payment volume per KST day of a period, and the largest partners and
/// stores (the console's dashboard charts). Reused for a minute per period.
///
/// Needs `reports.read`.
#[utoipa::path(get, path = "/admin/v1/reports/volume", operation_id = "volume_report", tag = "admin reports",
    security(("operator" = [])),
    params(VolumeQuery),
    responses((status = 200, description = "The period's totals", body = VolumeAnswer)))]
async fn volume(
    State(state): State<AppState>,
    query: Result<Query<VolumeQuery>, QueryRejection>,
) -> Result<Json<VolumeAnswer>, Problem> {
    let Query(query) = query?;
    let (from, to) = (query.from, query.to);
    let totals = platform(&state)?.volume(from, to).await?;
    Ok(Json(volume_answer(from, to, &totals)))
}

const DAY_S: u64 = 86_400;

fn volume_answer(from: u64, to: u64, totals: &Volume) -> VolumeAnswer {
    let first = (from + KST_OFFSET_S) / DAY_S;
    let last = (to - 1 + KST_OFFSET_S) / DAY_S;
    debug_assert!(last - first <= VOLUME_DAYS_MAX);
    let of = |totals: &[DayTotal], day| totals.iter().find(|t| t.day == day).copied();
    let days = (first..=last)
        .map(|day| {
            let exchanged = of(&totals.exchanges, day).unwrap_or_default();
            let paid = of(&totals.payments, day).unwrap_or_default();
            DayAnswer {
                // Noon UTC of the KST day is inside it: its date is the day's.
                date: rfc3339(day * DAY_S + DAY_S / 2)[..10].to_string(),
                exchanges: exchanged.count,
                exchanged_mvp: exchanged.amount,
                payments: paid.count,
                paid_mvp: paid.amount,
                refunded_mvp: paid.refunded,
            }
        })
        .collect();
    let top_partners = totals
        .top_partners
        .iter()
        .map(|(total, name)| TopPartner {
            partner_id: total.id.to_string(),
            name: name.clone(),
            exchanges: total.count,
            mvp_issued: total.amount,
        })
        .collect();
    let top_merchants = totals
        .top_merchants
        .iter()
        .map(|(total, name, brand)| TopMerchant {
            merchant_id: total.id.to_string(),
            name: name.clone(),
            brand: brand.clone(),
            payments: total.count,
            paid_mvp: total.amount,
        })
        .collect();
    VolumeAnswer {
        from,
        to,
        days,
        top_partners,
        top_merchants,
    }
}

#[derive(Serialize, ToSchema)]
struct LedgerVerificationAnswer {
    verification_id: String,
    at: String,
    /// Whether every block, signature, root and balance checked out.
    ok: bool,
    block_count: u64,
    tree_size: u64,
    /// The last block's Merkle root (hex); null for an empty ledger or a failure.
    root: Option<String>,
    duration_ms: u64,
    /// Why it failed; empty when it did not.
    message: String,
}

fn verification_answer(row: &VerificationRow) -> LedgerVerificationAnswer {
    LedgerVerificationAnswer {
        verification_id: row.id.to_string(),
        at: rfc3339(row.at_s),
        ok: row.ok,
        block_count: row.block_count,
        tree_size: row.tree_size,
        root: row.root.map(hex::encode),
        duration_ms: row.duration_ms,
        message: row.message.clone(),
    }
}

/// Verifies the stored ledger from its first block, as `mileverse verify` does (the hash
/// chain, every operator signature, the Merkle roots, every transfer re-executed, the
/// stored balances), and keeps the outcome. Takes time in proportion to history; one runs
/// at a time (429 while one runs).
///
/// Needs `ledger.read`.
#[utoipa::path(post, path = "/admin/v1/ledger/verifications", operation_id = "verify_ledger", tag = "admin ledger",
    security(("operator" = [])),
    responses((status = 201, description = "The outcome, kept (a ledger that does not verify answers 201 with ok false)", body = LedgerVerificationAnswer)))]
async fn verify(
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<LedgerVerificationAnswer>), Problem> {
    let row = platform(&state)?.verify_ledger().await?;
    Ok((StatusCode::CREATED, Json(verification_answer(&row))))
}

/// The newest verification the server ran.
///
/// Needs `ledger.read`.
#[utoipa::path(get, path = "/admin/v1/ledger/verifications/latest", operation_id = "latest_ledger_verification", tag = "admin ledger",
    security(("operator" = [])),
    responses(
        (status = 200, description = "The newest verification", body = LedgerVerificationAnswer),
        (status = 404, description = "None ran yet", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn latest_verification(
    State(state): State<AppState>,
) -> Result<Json<LedgerVerificationAnswer>, Problem> {
    let row = platform(&state)?.latest_verification().await?;
    let row = row.ok_or(platform::error::PlatformError::NotFound(
        platform::error::Entity::Verification,
    ))?;
    Ok(Json(verification_answer(&row)))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct MismatchAnswer {
    exchange_id: String,
    /// Our status of the exchange.
    ours: String,
    /// The partner's.
    theirs: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ReconciliationRecord {
    reconciliation_id: String,
    partner_id: String,
    /// When it ran.
    at: String,
    /// The period of exchanges compared, Unix seconds `[from, to)`.
    from: u64,
    to: u64,
    checked: u64,
    matched: u64,
    /// Exchanges the partner did not answer about.
    unreachable: u64,
    mismatch_count: u64,
    /// The first 100 mismatches.
    mismatches: Vec<MismatchAnswer>,
}

pub(crate) fn reconciliation_record(row: &ReconciliationRow) -> ReconciliationRecord {
    ReconciliationRecord {
        reconciliation_id: row.id.to_string(),
        partner_id: row.partner_id.to_string(),
        at: rfc3339(row.at_s),
        from: row.from_s,
        to: row.to_s,
        checked: row.checked,
        matched: row.matched,
        unreachable: row.unreachable,
        mismatch_count: row.mismatch_count,
        mismatches: row
            .mismatches
            .iter()
            .map(|(id, ours, theirs)| MismatchAnswer {
                exchange_id: id.to_string(),
                ours: ours.clone(),
                theirs: theirs.clone(),
            })
            .collect(),
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ReconciliationPage {
    reconciliations: Vec<ReconciliationRecord>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// Reconciliations listed by default on one page.
const RECONCILIATIONS_PAGE_DEFAULT: usize = 20;

/// One page of a partner's reconciliations, newest first (shared with the partner portal).
pub(crate) async fn reconciliation_page(
    state: &AppState,
    partner_id: u128,
    page: PageQuery,
) -> Result<ReconciliationPage, Problem> {
    let limit = page_limit(
        page.limit,
        RECONCILIATIONS_PAGE_DEFAULT,
        RECONCILIATIONS_PAGE_MAX,
    )?;
    let before = page
        .cursor
        .as_deref()
        .map(|cursor| parse_id_text("cursor", cursor))
        .transpose()?;
    let rows = platform(state)?
        .reconciliations(partner_id, before, limit)
        .await?;
    let next_cursor = match rows.last() {
        Some(last) if rows.len() == limit => Some(last.id.to_string()),
        _ => None,
    };
    Ok(ReconciliationPage {
        reconciliations: rows.iter().map(reconciliation_record).collect(),
        next_cursor,
    })
}

/// A partner's kept reconciliations, newest first (the newest 1,000 are kept).
///
/// Needs `partners.read`.
#[utoipa::path(get, path = "/admin/v1/partners/{id}/reconciliations", operation_id = "partner_reconciliations", tag = "admin partners",
    security(("operator" = [])),
    params(("id" = String, Path, description = "The partner id", pattern = r"^[0-9]{1,39}$"),
        PageQuery),
    responses((status = 200, description = "One page", body = ReconciliationPage)))]
async fn reconciliations(
    State(state): State<AppState>,
    Path(id): Path<String>,
    page: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<ReconciliationPage>, Problem> {
    let id = parse_id_text("partner_id", &id)?;
    let Query(page) = page?;
    platform(&state)?.partner(id).await?;
    Ok(Json(reconciliation_page(&state, id, page).await?))
}
