//! The console's catalogue pages: partners (terms and what each owes), and merchants by
//! brand with each store's terminals.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Failure, Me, failure, frame, me};
use crate::WebState;
use crate::api::Call;
use crate::browser::Browser;
use crate::pages::{Frame, grouped, html, when};

#[derive(Deserialize)]
struct Partners {
    partners: Vec<Partner>,
}

#[derive(Deserialize)]
struct Partner {
    partner_id: String,
    name: String,
    enabled: bool,
    rate_num: Option<u64>,
    rate_den: Option<u64>,
    credit_line: u64,
    issued_mvp: u64,
    paid_mvp: u64,
    outstanding_mvp: u64,
    /// A prepaid partner's MVP (points replacement); null for one on credit.
    prepaid: Option<Prepaid>,
}

#[derive(Deserialize)]
struct Prepaid {
    available_mvp: u64,
}

struct PartnerView {
    partner_id: String,
    /// The newest reconciliation: `(when, matched of checked, problems)`; problems are
    /// mismatches and exchanges the partner did not answer about.
    reconciled: Option<(String, String, u64)>,
    name: String,
    enabled: bool,
    rate: String,
    credit_line: String,
    /// What a prepaid partner has left for its members' exchanges.
    prepaid_left: Option<String>,
    issued: String,
    paid: String,
    outstanding: String,
}

#[derive(Template)]
#[template(path = "console_partners.html")]
struct PartnersPage {
    frame: Frame,
    partners: Vec<PartnerView>,
    may_reconcile: bool,
}

#[derive(Deserialize)]
struct Reconciliations {
    reconciliations: Vec<Reconciliation>,
}

#[derive(Deserialize)]
struct Reconciliation {
    at: String,
    checked: u64,
    matched: u64,
    unreachable: u64,
    mismatch_count: u64,
}

/// Partners whose newest reconciliation the page reads (one API call each).
const RECONCILED_PARTNERS_MAX: usize = 50;
/// The period a reconciliation from the console covers: the last 7 days.
const RECONCILE_PERIOD_S: u64 = 7 * 86_400;

#[derive(Deserialize)]
pub(super) struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

/// `GET /console/partners` (`partners.read`).
pub(super) async fn partners(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<DoneQuery>,
) -> Response {
    let done = query.done.is_some();
    console_page!(state, browser, |me| partners_page(
        &state, &browser, &me, done
    ))
}

async fn partners_page(
    state: &WebState,
    browser: &Browser,
    me: &Me,
    done: bool,
) -> Result<Response, Failure> {
    let t = browser.lang.text();
    let answer: Partners = state
        .api
        .json(&browser.operator(), Call::get("/admin/v1/partners"))
        .await?;
    let mut partners = Vec::with_capacity(answer.partners.len());
    for (index, partner) in answer.partners.into_iter().enumerate() {
        let reconciled = if index < RECONCILED_PARTNERS_MAX {
            newest_reconciliation(state, browser, &partner.partner_id).await?
        } else {
            None
        };
        partners.push(PartnerView {
            rate: match (partner.rate_num, partner.rate_den) {
                (Some(num), Some(den)) => format!("{} : {}", grouped(den), grouped(num)),
                _ => "-".to_string(),
            },
            partner_id: partner.partner_id,
            reconciled,
            name: partner.name,
            enabled: partner.enabled,
            credit_line: grouped(partner.credit_line),
            prepaid_left: partner
                .prepaid
                .map(|prepaid| grouped(prepaid.available_mvp)),
            issued: grouped(partner.issued_mvp),
            paid: grouped(partner.paid_mvp),
            outstanding: grouped(partner.outstanding_mvp),
        });
    }
    let page = PartnersPage {
        frame: frame(state, browser, me, "partners", t.partners_section)
            .notice(done.then(|| t.reconciled.to_string())),
        partners,
        may_reconcile: me.may("partners.settle"),
    };
    Ok(html(&page))
}

async fn newest_reconciliation(
    state: &WebState,
    browser: &Browser,
    partner_id: &str,
) -> Result<Option<(String, String, u64)>, Failure> {
    let path = format!("/admin/v1/partners/{partner_id}/reconciliations?limit=1");
    let page: Reconciliations = state.api.json(&browser.operator(), Call::get(path)).await?;
    Ok(page.reconciliations.into_iter().next().map(|r| {
        let share = format!("{} / {}", grouped(r.matched), grouped(r.checked));
        (when(&r.at), share, r.mismatch_count + r.unreachable)
    }))
}

/// `POST /console/partners/{id}/reconciliation` (`partners.settle`): reconciles the last
/// 7 days with the partner's record.
pub(super) async fn reconcile(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
) -> Response {
    console_page!(state, browser, |me| async {
        if id.is_empty() || id.len() > 39 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Ok((StatusCode::NOT_FOUND, "no such partner").into_response());
        }
        let now_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let from = now_s.saturating_sub(RECONCILE_PERIOD_S);
        let body = serde_json::json!({ "from": from, "to": now_s + 1 });
        let call = Call::post(format!("/admin/v1/partners/{id}/reconciliation"), &body);
        state.api.send(&browser.operator(), call).await?;
        Ok(Redirect::to("/console/partners?done=reconciled").into_response())
    })
}

#[derive(Deserialize)]
struct Merchants {
    merchants: Vec<Merchant>,
}

#[derive(Deserialize)]
struct Merchant {
    merchant_id: String,
    name: String,
    brand: String,
    fee_bps: u32,
    enabled: bool,
}

#[derive(Deserialize)]
struct Terminals {
    terminals: Vec<Terminal>,
}

#[derive(Deserialize)]
struct Terminal {
    terminal_id: String,
    enabled: bool,
    created_at: String,
}

struct StoreView {
    merchant_id: String,
    name: String,
    brand: String,
    fee: String,
    enabled: bool,
}

#[derive(Template)]
#[template(path = "console_merchants.html")]
struct MerchantsPage {
    frame: Frame,
    stores: Vec<StoreView>,
}

/// `GET /console/merchants` (`merchants.read`): every store, by brand.
pub(super) async fn merchants(State(state): State<WebState>, browser: Browser) -> Response {
    console_page!(state, browser, |me| merchants_page(&state, &browser, &me))
}

/// A fee in basis points as a percentage: `250` as `2.50%`.
fn percent(bps: u32) -> String {
    format!("{}.{:02}%", bps / 100, bps % 100)
}

async fn merchants_page(state: &WebState, browser: &Browser, me: &Me) -> Result<Response, Failure> {
    let t = browser.lang.text();
    let answer: Merchants = state
        .api
        .json(&browser.operator(), Call::get("/admin/v1/merchants"))
        .await?;
    let mut stores: Vec<StoreView> = answer
        .merchants
        .into_iter()
        .map(|merchant| StoreView {
            merchant_id: merchant.merchant_id,
            name: merchant.name,
            brand: merchant.brand,
            fee: percent(merchant.fee_bps),
            enabled: merchant.enabled,
        })
        .collect();
    stores.sort_by(|a, b| (&a.brand, &a.name).cmp(&(&b.brand, &b.name)));
    let page = MerchantsPage {
        frame: frame(state, browser, me, "merchants", t.merchants_section),
        stores,
    };
    Ok(html(&page))
}

#[derive(Template)]
#[template(path = "console_terminals.html")]
struct TerminalsPage {
    frame: Frame,
    terminals: Vec<(String, bool, String)>,
}

/// `GET /console/merchants/{id}`: a store's terminals.
pub(super) async fn terminals(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
) -> Response {
    console_page!(state, browser, |me| async {
        if id.is_empty() || id.len() > 39 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Ok((StatusCode::NOT_FOUND, "no such merchant").into_response());
        }
        let t = browser.lang.text();
        let call = Call::get(format!("/admin/v1/merchants/{id}/terminals"));
        let answer: Terminals = state.api.json(&browser.operator(), call).await?;
        let terminals = answer
            .terminals
            .into_iter()
            .map(|terminal| {
                (
                    terminal.terminal_id,
                    terminal.enabled,
                    when(&terminal.created_at),
                )
            })
            .collect();
        let page = TerminalsPage {
            frame: frame(&state, &browser, &me, "merchants", t.terminals),
            terminals,
        };
        Ok(html(&page))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn fees_read_as_percentages() {
        assert_eq!(super::percent(250), "2.50%");
        assert_eq!(super::percent(5), "0.05%");
        assert_eq!(super::percent(10_000), "100.00%");
    }
}
