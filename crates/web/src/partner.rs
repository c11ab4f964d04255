//! The partner portal (`/partner`): a partner's staff log in and see their terms (rate,
//! unit, limits, credit line), what the partner owes and has paid for the MVP issued against
//! its mileage, and download the statement of completed exchanges. Every page calls
//! `/partner-portal/v1` with the user's own session.

use askama::Template;
use axum::Router;
use axum::extract::{Form, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::WebState;
use crate::api::Call;
use crate::browser::Browser;
use crate::pages::{Frame, grouped, html};
use crate::portal::{self, LoginForm, Portal};

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/partner", get(home))
        .route("/partner/login", get(login_page).post(log_in))
        .route("/partner/logout", post(log_out))
        .route("/partner/statement.csv", get(statement))
}

const PORTAL: &Portal = &portal::PARTNER;

fn frame(state: &WebState, browser: &Browser) -> Frame {
    PORTAL.frame(state, browser, browser.lang.text().partner_portal)
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
    let rate = match (me.rate_num, me.rate_den) {
        (Some(num), Some(den)) => format!("{} : {}", grouped(den), grouped(num)),
        _ => "-".to_string(),
    };
    let page = HomePage {
        frame: frame(&state, &browser),
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
