//! The merchant portal (`/merchant`): a merchant's staff log in and see their stores (one,
//! or every store of their brand), each store's payments, and the settlement runs with
//! their payouts, downloadable as CSV, and each store's terminals (tills' keys): a new one,
//! whose secret the page shows once, and disabling or enabling one. Every page calls
//! `/merchant/v1` with the user's own session; what the user may not see, the API answers
//! "not found".

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::WebState;
use crate::api::{ApiProblem, Call, Caller};
use crate::browser::Browser;
use crate::pages::{Frame, NavLink, grouped, html, when};
use crate::portal::{self, LoginForm, Portal};
use crate::text::Text;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/merchant", get(payments))
        .route("/merchant/login", get(login_page).post(log_in))
        .route("/merchant/logout", post(log_out))
        .route("/merchant/settlements", get(settlements))
        .route("/merchant/settlements.csv", get(settlements_csv))
        .route("/merchant/terminals", get(terminals).post(create_terminal))
        .route("/merchant/terminals/{id}/disable", post(disable_terminal))
        .route("/merchant/terminals/{id}/enable", post(enable_terminal))
}

const PORTAL: &Portal = &portal::MERCHANT;

fn caller(browser: &Browser) -> Caller {
    PORTAL.caller(browser)
}

fn frame(state: &WebState, browser: &Browser, section: &str, title: &str) -> Frame {
    let mut frame = PORTAL.frame(state, browser, title);
    if browser.merchant.is_none() {
        return frame;
    }
    let t: &Text = frame.t;
    frame.nav = [
        ("payments", "/merchant", t.payments),
        ("settlements", "/merchant/settlements", t.settlements),
        ("terminals", "/merchant/terminals", t.terminals),
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

fn failure(state: &WebState, browser: &Browser, problem: ApiProblem) -> Response {
    PORTAL.failure(state, browser, problem)
}

#[derive(Deserialize)]
struct Me {
    display_name: String,
    brand: Option<String>,
    stores: Vec<Store>,
}

#[derive(Deserialize)]
struct Store {
    merchant_id: String,
    name: String,
}

#[derive(Deserialize)]
struct PaymentsAnswer {
    payments: Vec<Payment>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct Payment {
    authorization_id: String,
    status: String,
    approval_no: Option<String>,
    amount: u64,
    captured_amount: u64,
    refunded_amount: u64,
    created_at: String,
}

struct PaymentView {
    at: String,
    status: String,
    approval_no: String,
    amount: String,
    captured: String,
    refunded: String,
    authorization_id: String,
}

#[derive(Template)]
#[template(path = "merchant_payments.html")]
struct PaymentsPage {
    frame: Frame,
    who: String,
    stores: Vec<(String, String, bool)>,
    store_name: String,
    payments: Vec<PaymentView>,
    next_href: Option<String>,
}

#[derive(Deserialize)]
struct PaymentsQuery {
    #[serde(default)]
    store: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

/// How far back the payments page looks.
const PAYMENTS_DAYS: u64 = 90;
/// Payments per page.
const PAYMENTS_PAGE: usize = 50;

/// `GET /merchant?store=&cursor=`: the stores, and one store's payments.
async fn payments(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<PaymentsQuery>,
) -> Response {
    match payments_page(&state, &browser, query).await {
        Ok(response) => response,
        Err(problem) => failure(&state, &browser, problem),
    }
}

async fn payments_page(
    state: &WebState,
    browser: &Browser,
    query: PaymentsQuery,
) -> Result<Response, ApiProblem> {
    let t = browser.lang.text();
    if browser.merchant.is_none() {
        return Err(signed_out());
    }
    let me: Me = state
        .api
        .json(&caller(browser), Call::get("/merchant/v1/me"))
        .await?;
    let store = query
        .store
        .as_deref()
        .and_then(|id| me.stores.iter().find(|store| store.merchant_id == id))
        .or(me.stores.first());
    let Some(store) = store else {
        return Err(signed_out());
    };
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let from = now_s.saturating_sub(PAYMENTS_DAYS * 86_400);
    let mut path = format!(
        "/merchant/v1/payments?merchant_id={}&from={from}&limit={PAYMENTS_PAGE}",
        store.merchant_id
    );
    let cursor = query
        .cursor
        .filter(|cursor| cursor.bytes().all(|b| b.is_ascii_digit() || b == b':'));
    if let Some(cursor) = &cursor {
        path.push_str("&cursor=");
        path.push_str(cursor);
    }
    let answer: PaymentsAnswer = state.api.json(&caller(browser), Call::get(path)).await?;
    let payments = answer
        .payments
        .iter()
        .map(|payment| PaymentView {
            at: when(&payment.created_at),
            status: payment.status.clone(),
            approval_no: payment.approval_no.clone().unwrap_or_default(),
            amount: grouped(payment.amount),
            captured: grouped(payment.captured_amount),
            refunded: grouped(payment.refunded_amount),
            authorization_id: payment.authorization_id.clone(),
        })
        .collect();
    let next_href = answer
        .next_cursor
        .map(|cursor| format!("/merchant?store={}&cursor={cursor}", store.merchant_id));
    let who = match &me.brand {
        Some(brand) => format!("{} · {brand}", me.display_name),
        None => me.display_name.clone(),
    };
    let page = PaymentsPage {
        frame: frame(state, browser, "payments", t.payments),
        who,
        stores: me
            .stores
            .iter()
            .map(|s| {
                (
                    s.merchant_id.clone(),
                    s.name.clone(),
                    s.merchant_id == store.merchant_id,
                )
            })
            .collect(),
        store_name: store.name.clone(),
        payments,
        next_href,
    };
    Ok(html(&page))
}

fn signed_out() -> ApiProblem {
    ApiProblem {
        slug: "unauthorized".into(),
        title: "Not signed in".into(),
        detail: None,
        status: StatusCode::UNAUTHORIZED.as_u16(),
    }
}

#[derive(Deserialize)]
struct SettlementsAnswer {
    settlements: Vec<Settlement>,
}

#[derive(Deserialize)]
struct Settlement {
    until: String,
    status: String,
    paid_at: Option<String>,
    lines: Vec<SettlementLine>,
}

#[derive(Deserialize)]
struct SettlementLine {
    merchant_id: String,
    gross: u64,
    fee: u64,
    net: u64,
}

struct RunView {
    until: String,
    status: String,
    paid_at: String,
    lines: Vec<(String, String, String, String)>,
}

#[derive(Template)]
#[template(path = "merchant_settlements.html")]
struct SettlementsPage {
    frame: Frame,
    runs: Vec<RunView>,
}

async fn settlements(State(state): State<WebState>, browser: Browser) -> Response {
    match settlements_page(&state, &browser).await {
        Ok(response) => response,
        Err(problem) => failure(&state, &browser, problem),
    }
}

async fn settlements_page(state: &WebState, browser: &Browser) -> Result<Response, ApiProblem> {
    let t = browser.lang.text();
    if browser.merchant.is_none() {
        return Err(signed_out());
    }
    let me: Me = state
        .api
        .json(&caller(browser), Call::get("/merchant/v1/me"))
        .await?;
    let call = Call::get("/merchant/v1/settlements");
    let answer: SettlementsAnswer = state.api.json(&caller(browser), call).await?;
    let name_of = |id: &str| {
        me.stores
            .iter()
            .find(|store| store.merchant_id == id)
            .map_or_else(|| id.to_string(), |store| store.name.clone())
    };
    let runs = answer
        .settlements
        .iter()
        .rev()
        .map(|run| RunView {
            until: when(&run.until),
            status: run.status.clone(),
            paid_at: run.paid_at.as_deref().map(when).unwrap_or_default(),
            lines: run
                .lines
                .iter()
                .map(|line| {
                    let name = name_of(&line.merchant_id);
                    (
                        name,
                        grouped(line.gross),
                        grouped(line.fee),
                        grouped(line.net),
                    )
                })
                .collect(),
        })
        .collect();
    let page = SettlementsPage {
        frame: frame(state, browser, "settlements", t.settlements),
        runs,
    };
    Ok(html(&page))
}

/// `GET /merchant/settlements.csv`: the API's CSV, downloaded with the user's session.
async fn settlements_csv(State(state): State<WebState>, browser: Browser) -> Response {
    let disposition = "attachment; filename=\"settlements.csv\"";
    PORTAL
        .csv(&state, &browser, "/settlements.csv", disposition)
        .await
}

#[derive(Deserialize)]
struct StoreQuery {
    #[serde(default)]
    store: Option<String>,
}

#[derive(Deserialize)]
struct TerminalsAnswer {
    terminals: Vec<Terminal>,
}

#[derive(Deserialize)]
struct Terminal {
    terminal_id: String,
    key_id: String,
    enabled: bool,
    created_at: String,
}

struct TerminalView {
    terminal_id: String,
    key_id: String,
    enabled: bool,
    created: String,
}

#[derive(Template)]
#[template(path = "merchant_terminals.html")]
struct TerminalsPage {
    frame: Frame,
    stores: Vec<(String, String, bool)>,
    store_id: String,
    store_name: String,
    terminals: Vec<TerminalView>,
}

/// An id as the pages pass it on (in a link, a form or the API's path): digits only.
fn digits(text: &str) -> Option<String> {
    crate::pages::api_id(text).map(str::to_string)
}

/// `GET /merchant/terminals?store=`: the stores, and one store's terminals with the forms
/// that create, disable and enable them.
async fn terminals(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<StoreQuery>,
) -> Response {
    match terminals_page(&state, &browser, query.store.as_deref()).await {
        Ok(response) => response,
        Err(problem) => failure(&state, &browser, problem),
    }
}

async fn terminals_page(
    state: &WebState,
    browser: &Browser,
    store: Option<&str>,
) -> Result<Response, ApiProblem> {
    let t = browser.lang.text();
    if browser.merchant.is_none() {
        return Err(signed_out());
    }
    let me: Me = state
        .api
        .json(&caller(browser), Call::get("/merchant/v1/me"))
        .await?;
    let store = store
        .and_then(|id| me.stores.iter().find(|store| store.merchant_id == id))
        .or(me.stores.first());
    let Some(store) = store else {
        return Err(signed_out());
    };
    let path = format!("/merchant/v1/terminals?merchant_id={}", store.merchant_id);
    let answer: TerminalsAnswer = state.api.json(&caller(browser), Call::get(path)).await?;
    let terminals = answer
        .terminals
        .into_iter()
        .map(|terminal| TerminalView {
            terminal_id: terminal.terminal_id,
            key_id: terminal.key_id,
            enabled: terminal.enabled,
            created: when(&terminal.created_at),
        })
        .collect();
    let page = TerminalsPage {
        frame: frame(state, browser, "terminals", t.terminals),
        stores: me
            .stores
            .iter()
            .map(|s| {
                (
                    s.merchant_id.clone(),
                    s.name.clone(),
                    s.merchant_id == store.merchant_id,
                )
            })
            .collect(),
        store_id: store.merchant_id.clone(),
        store_name: store.name.clone(),
        terminals,
    };
    Ok(html(&page))
}

/// The form of a terminal's buttons: the store whose page to go back to.
#[derive(Deserialize)]
struct StoreForm {
    #[serde(default)]
    store: String,
}

#[derive(Deserialize)]
struct TerminalCreated {
    terminal_id: String,
    key_id: String,
    secret: String,
}

#[derive(Template)]
#[template(path = "merchant_terminal_created.html")]
struct TerminalCreatedPage {
    frame: Frame,
    store_id: String,
    terminal_id: String,
    key_id: String,
    secret: String,
}

/// `POST /merchant/terminals` (`store`): a new terminal of the store; the page shows its
/// secret this once (the answer is never cached, as no page is).
async fn create_terminal(
    State(state): State<WebState>,
    browser: Browser,
    Form(form): Form<StoreForm>,
) -> Response {
    let t = browser.lang.text();
    if browser.merchant.is_none() {
        return failure(&state, &browser, signed_out());
    }
    let Some(store) = digits(&form.store) else {
        return failure(
            &state,
            &browser,
            not_found("unknown-merchant", "Unknown merchant"),
        );
    };
    let body = serde_json::json!({ "merchant_id": store });
    let call = Call::post("/merchant/v1/terminals", &body);
    let created: TerminalCreated = match state.api.json(&caller(&browser), call).await {
        Ok(created) => created,
        Err(problem) => return failure(&state, &browser, problem),
    };
    let page = TerminalCreatedPage {
        frame: frame(&state, &browser, "terminals", t.portal_terminal_created),
        store_id: store,
        terminal_id: created.terminal_id,
        key_id: created.key_id,
        secret: created.secret,
    };
    (StatusCode::CREATED, html(&page)).into_response()
}

async fn disable_terminal(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
    Form(form): Form<StoreForm>,
) -> Response {
    change_terminal(&state, &browser, &id, &form, "disable").await
}

async fn enable_terminal(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
    Form(form): Form<StoreForm>,
) -> Response {
    change_terminal(&state, &browser, &id, &form, "enable").await
}

/// Disables or enables a terminal through the API, then back to its store's terminals.
async fn change_terminal(
    state: &WebState,
    browser: &Browser,
    id: &str,
    form: &StoreForm,
    verb: &str,
) -> Response {
    if browser.merchant.is_none() {
        return failure(state, browser, signed_out());
    }
    let Some(id) = digits(id) else {
        return failure(
            state,
            browser,
            not_found("unknown-terminal", "Unknown terminal"),
        );
    };
    let call = Call::post(
        format!("/merchant/v1/terminals/{id}/{verb}"),
        &serde_json::json!({}),
    );
    if let Err(problem) = state.api.send(&caller(browser), call).await {
        return failure(state, browser, problem);
    }
    let back = match digits(&form.store) {
        Some(store) => format!("/merchant/terminals?store={store}"),
        None => "/merchant/terminals".to_string(),
    };
    Redirect::to(&back).into_response()
}

/// What a form whose id is not one gets: the "not found" the API answers for an id it
/// does not know.
fn not_found(slug: &str, title: &str) -> ApiProblem {
    ApiProblem {
        slug: slug.into(),
        title: title.into(),
        detail: None,
        status: StatusCode::NOT_FOUND.as_u16(),
    }
}
