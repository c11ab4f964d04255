//! The partner portal (`/partner`): a partner's staff log in and see their terms (rate,
//! unit, limits, credit line), what the partner owes and has paid for the MVP issued against
//! its mileage, the reconciliations of its exchanges with its own record, its exchanges of
//! the last 30 days a page at a time, and download the statement of completed exchanges. Every page calls `/partner-portal/v1` with the user's
//! own session.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::WebState;
use crate::api::Call;
use crate::browser::Browser;
use crate::pages::{Frame, NavLink, grouped, html, when};
use crate::portal::{self, LoginForm, Portal};

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/partner", get(home))
        .route("/partner/login", get(login_page).post(log_in))
        .route("/partner/logout", post(log_out))
        .route("/partner/statement.csv", get(statement))
        .route("/partner/exchanges", get(exchanges))
}

const PORTAL: &Portal = &portal::PARTNER;

fn frame(state: &WebState, browser: &Browser, section: &str) -> Frame {
    let t = browser.lang.text();
    let mut frame = PORTAL.frame(state, browser, t.partner_portal);
    if browser.partner.is_none() {
        return frame;
    }
    frame.nav = [
        ("home", "/partner", t.home),
        ("exchanges", "/partner/exchanges", t.portal_exchanges),
    ]
    .into_iter()
    .map(|(name, href, label)| NavLink {
        href,
        label,
        current: name == section,
    })
    .collect();
    frame
}

async fn login_page(State(state): State<WebState>, browser: Browser) -> Response {
    PORTAL.login_form(&state, &browser, String::new(), None)
}

async fn log_in(
    State(state): State<WebState>,
    browser: Browser,
    Form(form): Form<LoginForm>,
) -> Response {
    PORTAL.log_in(&state, &browser, form).await
}

async fn log_out(State(state): State<WebState>, browser: Browser) -> Response {
    PORTAL.log_out(&state, &browser).await
}

#[derive(Deserialize)]
struct Me {
    name: String,
    rate_num: Option<u64>,
    rate_den: Option<u64>,
    minimum_unit: u64,
    daily_limit: u64,
    monthly_limit: u64,
    credit_line: u64,
    issued_mvp: String,
    paid_mvp: String,
    outstanding_mvp: String,
    reserved_mvp: String,
}

#[derive(Template)]
#[template(path = "partner_home.html")]
struct HomePage {
    frame: Frame,
    name: String,
    rate: String,
    minimum_unit: String,
    daily_limit: String,
    monthly_limit: String,
    credit_line: String,
    issued: String,
    paid: String,
    outstanding: String,
    reserved: String,
    reconciliations: Vec<ReconciliationView>,
}

#[derive(Deserialize)]
struct Reconciliations {
    reconciliations: Vec<Reconciliation>,
}

#[derive(Deserialize)]
struct Reconciliation {
    at: String,
    from: u64,
    to: u64,
    checked: u64,
    matched: u64,
    unreachable: u64,
    mismatch_count: u64,
    mismatches: Vec<Mismatch>,
}

#[derive(Deserialize)]
struct Mismatch {
    exchange_id: String,
    ours: String,
    theirs: String,
}

/// A reconciliation as the home page lists it.
struct ReconciliationView {
    at: String,
    /// The exchanges' period, as KST dates.
    period: String,
    checked: String,
    matched: String,
    unreachable: String,
    mismatch_count: String,
    /// `(exchange id, ours, theirs)`, the first few.
    mismatches: Vec<(String, String, String)>,
}

/// Reconciliations the home page lists (the newest).
const RECONCILIATIONS_SHOWN: usize = 10;
/// Mismatches shown per reconciliation (the API keeps the first 100).
const MISMATCHES_SHOWN: usize = 5;

fn reconciliation_view(r: Reconciliation) -> ReconciliationView {
    let date = |unix_s: u64| ports::time::rfc3339(unix_s + 9 * 3600)[..10].to_string();
    ReconciliationView {
        at: when(&r.at),
        period: format!("{} – {}", date(r.from), date(r.to.saturating_sub(1))),
        checked: grouped(r.checked),
        matched: grouped(r.matched),
        unreachable: grouped(r.unreachable),
        mismatch_count: grouped(r.mismatch_count),
        mismatches: r
            .mismatches
            .into_iter()
            .take(MISMATCHES_SHOWN)
            .map(|m| (m.exchange_id, m.ours, m.theirs))
            .collect(),
    }
}

/// Digits grouped by thousands (the figures arrive as text: u128).
fn grouped_text(digits: &str) -> String {
    digits
        .parse::<u128>()
        .map_or_else(|_| digits.to_string(), grouped)
}

async fn home(State(state): State<WebState>, browser: Browser) -> Response {
    if browser.partner.is_none() {
        return Redirect::to("/partner/login").into_response();
    }
    let me: Me = match state
        .api
        .json(&PORTAL.caller(&browser), Call::get("/partner-portal/v1/me"))
        .await
    {
        Ok(me) => me,
        Err(problem) => return PORTAL.failure(&state, &browser, problem),
    };
    let path = format!("/partner-portal/v1/reconciliations?limit={RECONCILIATIONS_SHOWN}");
    let kept: Reconciliations = match state
        .api
        .json(&PORTAL.caller(&browser), Call::get(path))
        .await
    {
        Ok(kept) => kept,
        Err(problem) => return PORTAL.failure(&state, &browser, problem),
    };
    let rate = match (me.rate_num, me.rate_den) {
        (Some(num), Some(den)) => format!("{} : {}", grouped(den), grouped(num)),
        _ => "-".to_string(),
    };
    let page = HomePage {
        frame: frame(&state, &browser, "home"),
        name: me.name,
        rate,
        minimum_unit: grouped(me.minimum_unit),
        daily_limit: grouped(me.daily_limit),
        monthly_limit: grouped(me.monthly_limit),
        credit_line: grouped(me.credit_line),
        issued: grouped_text(&me.issued_mvp),
        paid: grouped_text(&me.paid_mvp),
        outstanding: grouped_text(&me.outstanding_mvp),
        reserved: grouped_text(&me.reserved_mvp),
        reconciliations: kept
            .reconciliations
            .into_iter()
            .map(reconciliation_view)
            .collect(),
    };
    html(&page)
}

/// `GET /partner/statement.csv`: the API's statement, downloaded with the user's session.
async fn statement(State(state): State<WebState>, browser: Browser) -> Response {
    let disposition = "attachment; filename=\"statement.csv\"";
    PORTAL
        .csv(&state, &browser, "/statement.csv", disposition)
        .await
}

#[derive(Deserialize)]
struct ExchangesQuery {
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Deserialize)]
struct ExchangesAnswer {
    exchanges: Vec<Exchange>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct Exchange {
    exchange_id: String,
    reference: String,
    partner_member_ref: String,
    status: String,
    mileage: u64,
    mvp: u64,
    created_at: String,
}

struct ExchangeView {
    exchange_id: String,
    at: String,
    reference: String,
    member_ref: String,
    status: String,
    mileage: String,
    mvp: String,
}

#[derive(Template)]
#[template(path = "partner_exchanges.html")]
struct ExchangesPage {
    frame: Frame,
    exchanges: Vec<ExchangeView>,
    next_href: Option<String>,
}

/// Exchanges per page of `/partner/exchanges`.
const EXCHANGES_PAGE: usize = 50;

/// `GET /partner/exchanges?cursor=`: the partner's exchanges of the last 30 days (the
/// API's default period), oldest first, a page at a time.
async fn exchanges(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<ExchangesQuery>,
) -> Response {
    if browser.partner.is_none() {
        return Redirect::to("/partner/login").into_response();
    }
    let mut path = format!("/partner-portal/v1/exchanges?limit={EXCHANGES_PAGE}");
    // A cursor is `<time>.<id>`, digits and a dot: nothing else goes into the API's query.
    let cursor = query
        .cursor
        .filter(|cursor| cursor.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
    if let Some(cursor) = &cursor {
        path.push_str("&cursor=");
        path.push_str(cursor);
    }
    let answer: ExchangesAnswer = match state
        .api
        .json(&PORTAL.caller(&browser), Call::get(path))
        .await
    {
        Ok(answer) => answer,
        Err(problem) => return PORTAL.failure(&state, &browser, problem),
    };
    let exchanges = answer
        .exchanges
        .into_iter()
        .map(|exchange| ExchangeView {
            exchange_id: exchange.exchange_id,
            at: when(&exchange.created_at),
            reference: exchange.reference,
            member_ref: exchange.partner_member_ref,
            status: exchange.status,
            mileage: grouped(exchange.mileage),
            mvp: grouped(exchange.mvp),
        })
        .collect();
    let next_href = answer
        .next_cursor
        .filter(|cursor| cursor.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
        .map(|cursor| format!("/partner/exchanges?cursor={cursor}"));
    let page = ExchangesPage {
        frame: frame(&state, &browser, "exchanges"),
        exchanges,
        next_href,
    };
    html(&page)
}
