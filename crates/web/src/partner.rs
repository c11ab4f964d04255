//! The partner portal (`/partner`): a partner's staff log in and see their terms (rate,
//! unit, limits, credit line), what the partner owes and has paid for the MVP issued against
//! its mileage, and download the statement of completed exchanges. Every page calls
//! `/partner-portal/v1` with the user's own session.

use askama::Template;
use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::WebState;
use crate::api::{ApiProblem, Call, Caller};
use crate::browser::{self, Browser};
use crate::pages::{Frame, grouped, html};

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/partner", get(home))
        .route("/partner/login", get(login_page).post(log_in))
        .route("/partner/logout", post(log_out))
        .route("/partner/statement.csv", get(statement))
}

fn caller(browser: &Browser) -> Caller {
    Caller {
        peer: browser.peer,
        bearer: browser.partner.clone(),
    }
}

fn frame(state: &WebState, browser: &Browser, error: Option<String>) -> Frame {
    let t = browser.lang.text();
    let mut frame = Frame::new(state, browser, t.partner_portal).error(error);
    frame.home = "/partner";
    frame.logout = browser.partner.is_some().then_some("/partner/logout");
    frame.nav_class = "sections";
    frame
}

#[derive(Template)]
#[template(path = "partner_login.html")]
struct LoginPage {
    frame: Frame,
    login: String,
}

fn login_form(
    state: &WebState,
    browser: &Browser,
    login: String,
    error: Option<String>,
) -> Response {
    let mut frame = frame(state, browser, error);
    frame.logout = None;
    html(&LoginPage { frame, login })
}

async fn login_page(State(state): State<WebState>, browser: Browser) -> Response {
    login_form(&state, &browser, String::new(), None)
}

#[derive(Deserialize)]
struct LoginForm {
    login: String,
    password: String,
}

#[derive(Deserialize)]
struct SessionAnswer {
    token: String,
}

async fn log_in(
    State(state): State<WebState>,
    browser: Browser,
    Form(form): Form<LoginForm>,
) -> Response {
    let body = json!({ "login": form.login, "password": form.password });
    let call = Call::post("/partner-portal/v1/sessions", &body);
    match state
        .api
        .json::<SessionAnswer>(&browser.anonymous(), call)
        .await
    {
        Ok(session) => {
            let mut response = Redirect::to("/partner").into_response();
            let cookie = browser::host_cookie(
                browser::PARTNER_COOKIE,
                session.token,
                cookie::SameSite::Strict,
            );
            browser::set(&mut response, &cookie);
            response
        }
        Err(problem) => login_form(&state, &browser, form.login, Some(problem.message())),
    }
}

async fn log_out(State(state): State<WebState>, browser: Browser) -> Response {
    if browser.partner.is_some() {
        let call = Call::delete("/partner-portal/v1/sessions/current");
        let _ = state.api.send(&caller(&browser), call).await;
    }
    let mut response = Redirect::to("/partner/login").into_response();
    browser::set(&mut response, &browser::removal(browser::PARTNER_COOKIE));
    response
}

/// To the login page without a session; else the API's problem in the frame.
fn failure(state: &WebState, browser: &Browser, problem: ApiProblem) -> Response {
    if browser.partner.is_none() || problem.status == StatusCode::UNAUTHORIZED.as_u16() {
        let mut response = Redirect::to("/partner/login").into_response();
        browser::set(&mut response, &browser::removal(browser::PARTNER_COOKIE));
        return response;
    }
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let page = Refused {
        frame: frame(state, browser, Some(problem.message())),
    };
    (status, html(&page)).into_response()
}

#[derive(Template)]
#[template(path = "console_refused.html")]
struct Refused {
    frame: Frame,
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
        .json(&caller(&browser), Call::get("/partner-portal/v1/me"))
        .await
    {
        Ok(me) => me,
        Err(problem) => return failure(&state, &browser, problem),
    };
    let rate = match (me.rate_num, me.rate_den) {
        (Some(num), Some(den)) => format!("{} : {}", grouped(den), grouped(num)),
        _ => "-".to_string(),
    };
    let page = HomePage {
        frame: frame(&state, &browser, None),
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
    let call = Call::get("/partner-portal/v1/statement.csv");
    let answer = match state.api.send(&caller(&browser), call).await {
        Ok(answer) => answer,
        Err(problem) => return failure(&state, &browser, problem),
    };
    let mut response = answer.body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"statement.csv\""),
    );
    response
}
