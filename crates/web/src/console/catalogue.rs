//! The console's catalogue pages: partners (terms and what each owes), and merchants by
//! brand with each store's terminals.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
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
    name: String,
    enabled: bool,
    rate_num: Option<u64>,
    rate_den: Option<u64>,
    credit_line: u64,
    issued_mvp: u64,
    paid_mvp: u64,
    outstanding_mvp: u64,
}

struct PartnerView {
    name: String,
    enabled: bool,
    rate: String,
    credit_line: String,
    issued: String,
    paid: String,
    outstanding: String,
}

#[derive(Template)]
#[template(path = "console_partners.html")]
struct PartnersPage {
    frame: Frame,
    partners: Vec<PartnerView>,
}

/// `GET /console/partners` (`partners.read`).
pub(super) async fn partners(State(state): State<WebState>, browser: Browser) -> Response {
    console_page!(state, browser, |me| partners_page(&state, &browser, &me))
}

async fn partners_page(state: &WebState, browser: &Browser, me: &Me) -> Result<Response, Failure> {
    let t = browser.lang.text();
    let answer: Partners = state
        .api
        .json(&browser.operator(), Call::get("/admin/v1/partners"))
        .await?;
    let partners = answer
        .partners
        .into_iter()
        .map(|partner| PartnerView {
            rate: match (partner.rate_num, partner.rate_den) {
                (Some(num), Some(den)) => format!("{} : {}", grouped(den), grouped(num)),
                _ => "-".to_string(),
            },
            name: partner.name,
            enabled: partner.enabled,
            credit_line: grouped(partner.credit_line),
            issued: grouped(partner.issued_mvp),
            paid: grouped(partner.paid_mvp),
            outstanding: grouped(partner.outstanding_mvp),
        })
        .collect();
    let page = PartnersPage {
        frame: frame(state, browser, me, "partners", t.partners_section),
        partners,
    };
    Ok(html(&page))
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
