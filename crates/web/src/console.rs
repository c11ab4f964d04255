//! The operator console (`/console`): login with password and authenticator code, a
//! dashboard with charts, members found by phone (locked and unlocked), settlement runs
//! (made, reviewed, marked paid, downloaded), the audit log and the ledger's health.
//!
//! Each page calls the admin API with the operator's own session, so each role sees exactly
//! what the API lets it: the sections shown follow `GET /admin/v1/me`'s permissions, and a
//! page the role may not read is the API's 403, shown as such.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::WebState;
use crate::api::{ApiProblem, Call};
use crate::browser::{self, Browser};
use crate::chart;
use crate::pages::{Frame, NavLink, grouped, html, when};
use crate::text::Text;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/console", get(dashboard))
        .route("/console/login", get(login_page).post(log_in))
        .route("/console/logout", post(log_out))
        .route("/console/members", get(members))
        .route("/console/members/{id}/{action}", post(member_action))
        .route(
            "/console/settlements",
            get(settlements).post(run_settlement),
        )
        .route("/console/settlements/{id}/paid", post(settlement_paid))
        .route("/console/settlements.csv", get(settlements_csv))
        .route("/console/reports/{name}", get(report_csv))
        .route("/console/audit", get(audit))
        .route("/console/ledger/verifications", post(verify_ledger))
        .route("/console/ads", get(ads).post(create_campaign))
        .route("/console/partners", get(catalogue::partners))
        .route(
            "/console/partners/{id}/reconciliation",
            post(catalogue::reconcile),
        )
        .route("/console/merchants", get(catalogue::merchants))
        .route("/console/merchants/{id}", get(catalogue::terminals))
        .route("/console/disputes", get(disputes::disputes))
        .route("/console/disputes/{id}/resolution", post(disputes::resolve))
        .route("/console/prices", get(prices::prices))
        .route(
            "/console/promotions",
            get(promotions::promotions).post(promotions::create),
        )
        .route("/console/promotions/{id}/fundings", post(promotions::fund))
        .route("/console/promotions/{id}/end", post(promotions::end))
        .route(
            "/console/creators",
            get(creators::creators).post(creators::fund),
        )
        .route("/console/creators/platforms", post(creators::register))
        .route(
            "/console/creators/{id}/distribution",
            post(creators::distribute),
        )
        .route("/console/prices/deposits", post(prices::deposit))
        .route("/console/prices/{asset}", post(prices::set_price))
}

/// Who is signed in, as `GET /admin/v1/me` answers.
#[derive(Deserialize)]
struct Me {
    name: String,
    role: String,
    permissions: Vec<String>,
}

impl Me {
    fn may(&self, permission: &str) -> bool {
        self.permissions.iter().any(|held| held == permission)
    }
}

/// A section: name, href, label, and the permissions that show it, any one of them,
/// separated by spaces (`None`: everyone).
type Section = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
);

fn sections(t: &Text) -> [Section; 11] {
    [
        ("dashboard", "/console", t.dashboard, None),
        (
            "members",
            "/console/members",
            t.members_section,
            Some("members.read"),
        ),
        (
            "partners",
            "/console/partners",
            t.partners_section,
            Some("partners.read"),
        ),
        (
            "merchants",
            "/console/merchants",
            t.merchants_section,
            Some("merchants.read"),
        ),
        (
            "settlements",
            "/console/settlements",
            t.settlements,
            Some("settlements.read"),
        ),
        ("ads", "/console/ads", t.ads, Some("ads.read")),
        (
            "promotions",
            "/console/promotions",
            t.promotions_section,
            Some("ads.read"),
        ),
        (
            "creators",
            "/console/creators",
            t.creators_section,
            Some("creators.read"),
        ),
        (
            "prices",
            "/console/prices",
            t.asset_prices,
            Some("conversions.read conversions.write"),
        ),
        (
            "disputes",
            "/console/disputes",
            t.disputes_section,
            Some("disputes.read"),
        ),
        ("audit", "/console/audit", t.audit_log, Some("audit.read")),
    ]
}

/// The console's frame for `me`, with `section` current.
fn frame(state: &WebState, browser: &Browser, me: &Me, section: &str, title: &str) -> Frame {
    let mut frame = Frame::new(state, browser, title);
    frame.home = "/console";
    frame.logout = Some("/console/logout");
    frame.nav_class = "sections";
    frame.nav = sections(frame.t)
        .into_iter()
        .filter(|(_, _, _, needs)| {
            needs.is_none_or(|needs| needs.split(' ').any(|permission| me.may(permission)))
        })
        .map(|(name, href, label, _)| NavLink {
            href,
            label,
            current: name == section,
        })
        .collect();
    frame
}

/// Why a console page is not shown: no session (to the login page), or the API's refusal
/// (shown in the console's frame, with the API's status).
enum Failure {
    SignedOut,
    Refused(ApiProblem),
}

impl From<ApiProblem> for Failure {
    fn from(problem: ApiProblem) -> Failure {
        if problem.status == StatusCode::UNAUTHORIZED.as_u16() {
            Failure::SignedOut
        } else {
            Failure::Refused(problem)
        }
    }
}

#[derive(Template)]
#[template(path = "console_refused.html")]
struct RefusedPage {
    frame: Frame,
}

/// Renders a failure for `browser` (signed in as `me`, when known).
fn failure(state: &WebState, browser: &Browser, me: Option<&Me>, failure: Failure) -> Response {
    let problem = match failure {
        Failure::SignedOut => {
            let mut response = Redirect::to("/console/login").into_response();
            browser::set(&mut response, &browser::removal(browser::CONSOLE_COOKIE));
            return response;
        }
        Failure::Refused(problem) => problem,
    };
    let t = browser.lang.text();
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let message = if status == StatusCode::FORBIDDEN {
        format!("{} ({})", t.forbidden, problem.message())
    } else {
        problem.message()
    };
    let anonymous = Me {
        name: String::new(),
        role: String::new(),
        permissions: Vec::new(),
    };
    let me = me.unwrap_or(&anonymous);
    let page = RefusedPage {
        frame: frame(state, browser, me, "", t.console).error(Some(message)),
    };
    (status, html(&page)).into_response()
}

/// The signed-in operator, or the failure to show.
async fn me(state: &WebState, browser: &Browser) -> Result<Me, Failure> {
    if browser.console.is_none() {
        return Err(Failure::SignedOut);
    }
    Ok(state
        .api
        .json(&browser.operator(), Call::get("/admin/v1/me"))
        .await?)
}

/// Runs a console page: the operator first, then `page`; any failure rendered.
macro_rules! console_page {
    ($state:expr, $browser:expr, |$me:ident| $page:expr) => {{
        let state = &$state;
        let browser = &$browser;
        match me(state, browser).await {
            Err(error) => failure(state, browser, None, error),
            Ok($me) => match $page.await {
                Ok(response) => response,
                Err(error) => failure(state, browser, Some(&$me), error),
            },
        }
    }};
}

// After the macro: the catalogue's and the prices' pages use it.
mod catalogue;
mod creators;
mod disputes;
mod prices;
mod promotions;

#[derive(Template)]
#[template(path = "console_login.html")]
struct LoginPage {
    frame: Frame,
    login: String,
    demo_codes: Vec<(String, String)>,
}

/// The demo operators' current authenticator codes (a demo server only).
fn demo_codes(state: &WebState) -> Vec<(String, String)> {
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let step = platform::totp::step_of(now_s);
    state
        .config
        .demo_operators
        .iter()
        .map(|operator| {
            let code = platform::totp::authenticator_code_at_step(&operator.totp_secret, step);
            let code = platform::totp::format_authenticator_code(code);
            (operator.login.clone(), code)
        })
        .collect()
}

fn login_form(
    state: &WebState,
    browser: &Browser,
    login: String,
    error: Option<String>,
) -> Response {
    let t = browser.lang.text();
    let mut frame = Frame::new(state, browser, t.console).error(error);
    frame.home = "/console";
    frame.logout = None;
    html(&LoginPage {
        frame,
        login,
        demo_codes: demo_codes(state),
    })
}

async fn login_page(State(state): State<WebState>, browser: Browser) -> Response {
    login_form(&state, &browser, String::new(), None)
}

#[derive(Deserialize)]
struct LoginForm {
    login: String,
    password: String,
    totp_code: String,
}

#[derive(Deserialize)]
struct SessionAnswer {
    token: String,
}

/// `POST /console/login`: an operator session (the API audits the attempt either way).
async fn log_in(
    State(state): State<WebState>,
    browser: Browser,
    Form(form): Form<LoginForm>,
) -> Response {
    let body = json!({
        "login": form.login,
        "password": form.password,
        "totp_code": form.totp_code,
    });
    let call = Call::post("/admin/v1/sessions", &body);
    match state
        .api
        .json::<SessionAnswer>(&browser.anonymous(), call)
        .await
    {
        Ok(session) => {
            let mut response = Redirect::to("/console").into_response();
            let cookie = browser::host_cookie(
                browser::CONSOLE_COOKIE,
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
    if browser.console.is_some() {
        let call = Call::delete("/admin/v1/sessions/current");
        let _ = state.api.send(&browser.operator(), call).await;
    }
    let mut response = Redirect::to("/console/login").into_response();
    browser::set(&mut response, &browser::removal(browser::CONSOLE_COOKIE));
    response
}

#[derive(Deserialize)]
struct Economy {
    mvp: MvpFigures,
    /// The token's figures, when the server has a chain.
    mvc: Option<MvcFigures>,
}

#[derive(Deserialize)]
struct MvcFigures {
    circulating_wei: String,
}

#[derive(Deserialize)]
struct MvpFigures {
    issued: String,
    outstanding: String,
    converted: String,
}

#[derive(Deserialize)]
struct Volume {
    days: Vec<VolumeDay>,
    top_partners: Vec<TopPartner>,
    top_merchants: Vec<TopMerchant>,
}

#[derive(Deserialize)]
struct VolumeDay {
    date: String,
    exchanged_mvp: u64,
    paid_mvp: u64,
}

#[derive(Deserialize)]
struct TopPartner {
    name: String,
    exchanges: u64,
    mvp_issued: u64,
}

#[derive(Deserialize)]
struct TopMerchant {
    name: String,
    brand: String,
    payments: u64,
    paid_mvp: u64,
}

#[derive(Deserialize)]
struct Verification {
    at: String,
    ok: bool,
    block_count: u64,
    tree_size: u64,
    root: Option<String>,
    message: String,
}

#[derive(Deserialize)]
struct Checkpoint {
    block_height: u64,
    tree_size: u64,
    root: String,
}

#[derive(Deserialize)]
struct Anchor {
    latest_anchored: Option<Anchored>,
}

#[derive(Deserialize)]
struct Anchored {
    tree_size: u64,
    anchored_at: String,
    tx_hash: Option<String>,
}

#[derive(Template)]
#[template(path = "console_dashboard.html")]
struct Dashboard {
    frame: Frame,
    operator: String,
    role: String,
    issued: String,
    outstanding: String,
    converted: String,
    /// MVP outstanding against MVP converted to MVC.
    supply_chart: String,
    mvc_circulating: Option<String>,
    charts: Option<VolumeCharts>,
    checkpoint: Option<String>,
    anchor: Option<String>,
    /// `None`: the role may not see the ledger's health.
    verification: Option<VerificationView>,
}

/// The dashboard's charts of the last 30 days (`reports.read`).
struct VolumeCharts {
    exchanges: String,
    payments: String,
    /// `(name, exchanges, MVP issued)`.
    partners: Vec<(String, String, String)>,
    /// `(store, brand, payments, MVP paid)`.
    merchants: Vec<(String, String, String, String)>,
}

/// The newest verification of the ledger, if any ran.
struct VerificationView {
    last: Option<(bool, String)>,
}

/// Decimal digits grouped by thousands (the economy's figures arrive as text: u128).
fn grouped_text(digits: &str) -> String {
    digits
        .parse::<u128>()
        .map_or_else(|_| digits.to_string(), grouped)
}

/// How many KST days the dashboard's charts show (today included).
const DASHBOARD_DAYS: u64 = 30;
const DAY_S: u64 = 86_400;
const KST_OFFSET_S: u64 = 9 * 3600;

async fn dashboard(State(state): State<WebState>, browser: Browser) -> Response {
    console_page!(state, browser, |me| dashboard_page(&state, &browser, &me))
}

async fn dashboard_page(state: &WebState, browser: &Browser, me: &Me) -> Result<Response, Failure> {
    let t = browser.lang.text();
    let caller = browser.operator();
    let economy: Economy = state
        .api
        .json(&caller, Call::get("/v1/token-economy"))
        .await?;
    let charts = if me.may("reports.read") {
        Some(volume_charts(state, browser).await?)
    } else {
        None
    };
    let checkpoint = state
        .api
        .json::<Checkpoint>(&caller, Call::get("/v1/ledger/checkpoint"))
        .await
        .ok()
        .map(|c| {
            format!(
                "#{} · {} · {}",
                c.block_height,
                grouped(c.tree_size),
                &c.root[..16.min(c.root.len())]
            )
        });
    let anchor = state
        .api
        .json::<Anchor>(&caller, Call::get("/v1/ledger/anchor"))
        .await
        .ok()
        .and_then(|anchor| anchor.latest_anchored)
        .map(|a| {
            let tx = a.tx_hash.unwrap_or_default();
            format!("{} · {} · {tx}", grouped(a.tree_size), when(&a.anchored_at))
        });
    let verification = if me.may("ledger.read") {
        Some(last_verification(state, browser).await?)
    } else {
        None
    };
    let supply = [
        (
            t.mvp_outstanding.to_string(),
            parse_u128(&economy.mvp.outstanding),
        ),
        (
            t.mvp_converted.to_string(),
            parse_u128(&economy.mvp.converted),
        ),
    ];
    let page = Dashboard {
        frame: frame(state, browser, me, "dashboard", t.dashboard),
        operator: me.name.clone(),
        role: me.role.clone(),
        issued: grouped_text(&economy.mvp.issued),
        outstanding: grouped_text(&economy.mvp.outstanding),
        converted: grouped_text(&economy.mvp.converted),
        supply_chart: chart::bars(t.outstanding_against_converted, &supply),
        mvc_circulating: economy.mvc.map(|mvc| whole_mvc(&mvc.circulating_wei)),
        charts,
        checkpoint,
        anchor,
        verification,
    };
    Ok(html(&page))
}

fn parse_u128(digits: &str) -> u128 {
    digits.parse().unwrap_or(0)
}

/// Whole MVC of a wei amount, grouped (the fraction is cut: a dashboard figure).
fn whole_mvc(wei: &str) -> String {
    grouped(parse_u128(wei) / 1_000_000_000_000_000_000)
}

/// The last 30 KST days, today included: `[from, to)` on day boundaries, so the API's
/// cache serves every dashboard opened the same minute.
fn dashboard_period(now_s: u64) -> (u64, u64) {
    let today = (now_s + KST_OFFSET_S) / DAY_S;
    let first = today + 1 - DASHBOARD_DAYS;
    (
        first * DAY_S - KST_OFFSET_S,
        (today + 1) * DAY_S - KST_OFFSET_S,
    )
}

async fn volume_charts(state: &WebState, browser: &Browser) -> Result<VolumeCharts, Failure> {
    let t = browser.lang.text();
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let (from, to) = dashboard_period(now_s);
    let path = format!("/admin/v1/reports/volume?from={from}&to={to}");
    let volume: Volume = state.api.json(&browser.operator(), Call::get(path)).await?;
    // `MM-DD` under the axis, every 5th day.
    let series = |value: fn(&VolumeDay) -> u64| -> Vec<(String, u128)> {
        let day = |d: &VolumeDay| d.date.get(5..).unwrap_or(&d.date).to_string();
        volume
            .days
            .iter()
            .map(|d| (day(d), u128::from(value(d))))
            .collect()
    };
    let partners = volume
        .top_partners
        .iter()
        .map(|p| (p.name.clone(), grouped(p.exchanges), grouped(p.mvp_issued)))
        .collect();
    let merchants = volume
        .top_merchants
        .iter()
        .map(|m| {
            let (payments, paid) = (grouped(m.payments), grouped(m.paid_mvp));
            (m.name.clone(), m.brand.clone(), payments, paid)
        })
        .collect();
    Ok(VolumeCharts {
        exchanges: chart::columns(t.exchanges_per_day, &series(|d| d.exchanged_mvp), 5),
        payments: chart::columns(t.payments_per_day, &series(|d| d.paid_mvp), 5),
        partners,
        merchants,
    })
}

async fn last_verification(
    state: &WebState,
    browser: &Browser,
) -> Result<VerificationView, Failure> {
    let t = browser.lang.text();
    let call = Call::get("/admin/v1/ledger/verifications/latest");
    let last = match state
        .api
        .json::<Verification>(&browser.operator(), call)
        .await
    {
        Ok(v) if v.ok => {
            let root = v
                .root
                .as_deref()
                .map_or("", |root| &root[..16.min(root.len())]);
            let text = format!(
                "{} · {} · {} {} · {} · {root}",
                t.verified_ok,
                when(&v.at),
                grouped(v.block_count),
                t.blocks,
                grouped(v.tree_size)
            );
            Some((true, text))
        }
        Ok(v) => Some((
            false,
            format!(
                "{} · {} · {}",
                t.ledger_verify_failed,
                when(&v.at),
                v.message
            ),
        )),
        Err(problem) if problem.status == 404 => None,
        Err(problem) => return Err(problem.into()),
    };
    Ok(VerificationView { last })
}

/// `POST /console/ledger/verifications`: verifies the whole ledger now (one at a time).
async fn verify_ledger(State(state): State<WebState>, browser: Browser) -> Response {
    console_page!(state, browser, |me| async {
        let call = Call::post("/admin/v1/ledger/verifications", &json!({}));
        state.api.send(&browser.operator(), call).await?;
        Ok(Redirect::to("/console").into_response())
    })
}

#[derive(Deserialize)]
struct MemberQuery {
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

#[derive(Deserialize)]
struct StaffMember {
    member_id: String,
    name: String,
    phone: String,
    status: String,
    locked: bool,
    created_at: String,
    available: u64,
    pending: u64,
}

struct MemberView {
    member_id: String,
    name: String,
    phone: String,
    status: String,
    locked: bool,
    created_at: String,
    available: String,
    pending: String,
}

#[derive(Deserialize)]
struct History {
    transactions: Vec<HistoryLine>,
}

#[derive(Deserialize)]
struct HistoryLine {
    at: String,
    reason: String,
    amount: serde_json::Value,
    pending: bool,
}

/// Lines of a member's history the members page shows.
const MEMBER_HISTORY_LINES: usize = 10;

#[derive(Template)]
#[template(path = "console_members.html")]
struct MembersPage {
    frame: Frame,
    phone: String,
    member: Option<MemberView>,
    /// `(when, reason, signed amount, pending)`.
    history: Vec<(String, String, String, bool)>,
    may_lock: bool,
    may_unlock: bool,
}

async fn members(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<MemberQuery>,
) -> Response {
    console_page!(state, browser, |me| members_page(
        &state, &browser, &me, query
    ))
}

async fn members_page(
    state: &WebState,
    browser: &Browser,
    me: &Me,
    query: MemberQuery,
) -> Result<Response, Failure> {
    let t = browser.lang.text();
    let phone = query.phone.unwrap_or_default();
    let mut error = None;
    let mut member = None;
    let mut history = Vec::new();
    if !phone.trim().is_empty() {
        let path = format!("/admin/v1/members?phone={}", query_text(&phone));
        match state
            .api
            .json::<StaffMember>(&browser.operator(), Call::get(path))
            .await
        {
            Ok(found) => {
                let path = format!(
                    "/admin/v1/members/{}/transactions?limit={MEMBER_HISTORY_LINES}",
                    found.member_id
                );
                let lines: History = state.api.json(&browser.operator(), Call::get(path)).await?;
                history = lines
                    .transactions
                    .into_iter()
                    .map(|line| {
                        let amount = signed_amount(&line.amount);
                        (when(&line.at), line.reason, amount, line.pending)
                    })
                    .collect();
                member = Some(MemberView {
                    member_id: found.member_id,
                    name: found.name,
                    phone: found.phone,
                    status: found.status,
                    locked: found.locked,
                    created_at: when(&found.created_at),
                    available: grouped(found.available),
                    pending: grouped(found.pending),
                });
            }
            Err(problem) if problem.status == 404 || problem.status == 400 => {
                error = Some(problem.message());
            }
            Err(problem) => return Err(problem.into()),
        }
    }
    let notice = match query.done.as_deref() {
        Some("lock") => Some(t.locked.to_string()),
        Some("unlock") => Some(t.active.to_string()),
        _ => None,
    };
    let page = MembersPage {
        frame: frame(state, browser, me, "members", t.members_section)
            .error(error)
            .notice(notice),
        phone,
        member,
        history,
        may_lock: me.may("members.lock"),
        may_unlock: me.may("members.unlock"),
    };
    Ok(html(&page))
}

/// A signed amount as the API writes it (a number, or digits past 2^53) with its sign and
/// thousands: `-1,200`, `+5,000`.
fn signed_amount(value: &serde_json::Value) -> String {
    let text = match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let (sign, digits) = match text.strip_prefix('-') {
        Some(digits) => ("−", digits),
        None => ("+", text.as_str()),
    };
    match digits.parse::<u128>() {
        Ok(amount) => format!("{sign}{}", grouped(amount)),
        Err(_) => text.clone(),
    }
}

/// `text` for a query string (form encoding).
fn query_text(text: &str) -> String {
    serde_urlencoded::to_string([("", text)])
        .map(|pair| pair.trim_start_matches('=').to_string())
        .unwrap_or_default()
}

#[derive(Deserialize)]
struct MemberActionForm {
    phone: String,
}

/// `POST /console/members/{id}/lock` or `…/unlock`.
async fn member_action(
    State(state): State<WebState>,
    browser: Browser,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<MemberActionForm>,
) -> Response {
    console_page!(state, browser, |me| async {
        let digits = !id.is_empty() && id.len() <= 39 && id.bytes().all(|b| b.is_ascii_digit());
        if !digits || !matches!(action.as_str(), "lock" | "unlock") {
            return Ok((StatusCode::NOT_FOUND, "no such member action").into_response());
        }
        let path = format!("/admin/v1/members/{id}/{action}");
        state
            .api
            .send(&browser.operator(), Call::post(path, &json!({})))
            .await?;
        let back = format!(
            "/console/members?phone={}&done={action}",
            query_text(&form.phone)
        );
        Ok(Redirect::to(&back).into_response())
    })
}

#[derive(Deserialize)]
struct Settlements {
    settlements: Vec<Settlement>,
}

#[derive(Deserialize)]
struct Settlement {
    settlement_id: String,
    until: String,
    status: String,
    lines: Vec<SettlementLine>,
}

#[derive(Deserialize)]
struct SettlementLine {
    merchant_id: String,
    gross: u64,
    fee: u64,
    net: u64,
}

#[derive(Deserialize)]
struct Merchants {
    merchants: Vec<Merchant>,
}

#[derive(Deserialize)]
struct Merchant {
    merchant_id: String,
    name: String,
}

struct SettlementView {
    settlement_id: String,
    until: String,
    status: String,
    payable: bool,
    lines: Vec<(String, String, String, String)>,
}

#[derive(Template)]
#[template(path = "console_settlements.html")]
struct SettlementsPage {
    frame: Frame,
    runs: Vec<SettlementView>,
    may_write: bool,
    may_download: bool,
}

/// Runs the settlements page shows (newest first).
const SETTLEMENTS_SHOWN_MAX: usize = 20;

#[derive(Deserialize)]
struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

async fn settlements(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<DoneQuery>,
) -> Response {
    console_page!(state, browser, |me| settlements_page(
        &state, &browser, &me, query
    ))
}

async fn settlements_page(
    state: &WebState,
    browser: &Browser,
    me: &Me,
    query: DoneQuery,
) -> Result<Response, Failure> {
    let t = browser.lang.text();
    let caller = browser.operator();
    let answer: Settlements = state
        .api
        .json(&caller, Call::get("/admin/v1/settlements"))
        .await?;
    let merchants: Merchants = state
        .api
        .json(&caller, Call::get("/admin/v1/merchants"))
        .await?;
    let name_of = |id: &str| {
        merchants
            .merchants
            .iter()
            .find(|merchant| merchant.merchant_id == id)
            .map_or_else(|| id.to_string(), |merchant| merchant.name.clone())
    };
    let runs = answer
        .settlements
        .iter()
        .rev()
        .take(SETTLEMENTS_SHOWN_MAX)
        .map(|run| SettlementView {
            settlement_id: run.settlement_id.clone(),
            until: when(&run.until),
            status: run.status.clone(),
            payable: run.status == "settled",
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
    let notice = (query.done.as_deref() == Some("settled")).then(|| t.settled.to_string());
    let page = SettlementsPage {
        frame: frame(state, browser, me, "settlements", t.settlements).notice(notice),
        runs,
        may_write: me.may("settlements.write"),
        may_download: me.may("reports.read"),
    };
    Ok(html(&page))
}

/// `POST /console/settlements`: a run up to now.
async fn run_settlement(State(state): State<WebState>, browser: Browser) -> Response {
    console_page!(state, browser, |me| async {
        let now_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let call = Call::post("/admin/v1/settlements", &json!({ "until": now_s }));
        state.api.send(&browser.operator(), call).await?;
        Ok(Redirect::to("/console/settlements?done=settled").into_response())
    })
}

/// `POST /console/settlements/{id}/paid`.
async fn settlement_paid(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
) -> Response {
    console_page!(state, browser, |me| async {
        if id.is_empty() || id.len() > 39 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Ok((StatusCode::NOT_FOUND, "no such settlement").into_response());
        }
        let call = Call::post(format!("/admin/v1/settlements/{id}/paid"), &json!({}));
        state.api.send(&browser.operator(), call).await?;
        Ok(Redirect::to("/console/settlements").into_response())
    })
}

/// `GET /console/settlements.csv`: the API's report, downloaded with the console's session.
async fn settlements_csv(State(state): State<WebState>, browser: Browser) -> Response {
    console_page!(state, browser, |me| async {
        let call = Call::get("/admin/v1/reports/settlements.csv");
        let answer = state.api.send(&browser.operator(), call).await?;
        let response =
            crate::pages::csv_download(answer.body, "attachment; filename=\"settlements.csv\"");
        Ok(response)
    })
}

/// `GET /console/reports/{payments,exchanges}.csv`: the API's report of the last 30 days,
/// downloaded with the console's session (`reports.read`).
async fn report_csv(
    State(state): State<WebState>,
    browser: Browser,
    Path(name): Path<String>,
) -> Response {
    console_page!(state, browser, |_me| async {
        let (path, disposition) = match name.as_str() {
            "payments.csv" => (
                "/admin/v1/reports/payments.csv",
                "attachment; filename=\"payments.csv\"",
            ),
            "exchanges.csv" => (
                "/admin/v1/reports/exchanges.csv",
                "attachment; filename=\"exchanges.csv\"",
            ),
            _ => return Ok((StatusCode::NOT_FOUND, "no such report").into_response()),
        };
        let now_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let from = now_s.saturating_sub(REPORT_DAYS * 86_400);
        let call = Call::get(format!("{path}?from={from}"));
        let answer = state.api.send(&browser.operator(), call).await?;
        Ok(crate::pages::csv_download(answer.body, disposition))
    })
}

/// How far back the console's report downloads go.
const REPORT_DAYS: u64 = 30;

#[derive(Deserialize)]
struct AuditLog {
    entries: Vec<AuditEntry>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct AuditEntry {
    seq: u64,
    at_ms: u64,
    actor: String,
    kind: String,
    entry: String,
}

struct AuditView {
    seq: u64,
    at: String,
    actor: String,
    kind: String,
    action: String,
}

#[derive(Template)]
#[template(path = "console_audit.html")]
struct AuditPage {
    frame: Frame,
    entries: Vec<AuditView>,
    next_href: Option<String>,
}

#[derive(Deserialize)]
struct CursorQuery {
    #[serde(default)]
    cursor: Option<String>,
}

/// Entries per page of the audit log.
const AUDIT_PAGE_ENTRIES: usize = 50;

async fn audit(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<CursorQuery>,
) -> Response {
    console_page!(state, browser, |me| audit_page(
        &state, &browser, &me, query
    ))
}

async fn audit_page(
    state: &WebState,
    browser: &Browser,
    me: &Me,
    query: CursorQuery,
) -> Result<Response, Failure> {
    let t = browser.lang.text();
    let mut path = format!("/admin/v1/audit-log?limit={AUDIT_PAGE_ENTRIES}");
    if let Some(cursor) = query
        .cursor
        .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
    {
        path.push_str("&cursor=");
        path.push_str(&cursor);
    }
    let log: AuditLog = state.api.json(&browser.operator(), Call::get(path)).await?;
    let entries = log
        .entries
        .into_iter()
        .map(|entry| {
            let detail: serde_json::Value = serde_json::from_str(&entry.entry).unwrap_or_default();
            let action = detail["action"].as_str().unwrap_or_default().to_string();
            AuditView {
                seq: entry.seq,
                at: ports::time::rfc3339(entry.at_ms / 1000),
                actor: entry.actor,
                kind: entry.kind,
                action,
            }
        })
        .map(|mut view| {
            view.at = when(&view.at);
            view
        })
        .collect();
    let page = AuditPage {
        frame: frame(state, browser, me, "audit", t.audit_log),
        entries,
        next_href: log
            .next_cursor
            .map(|cursor| format!("/console/audit?cursor={cursor}")),
    };
    Ok(html(&page))
}

#[derive(Deserialize)]
struct Campaigns {
    campaigns: Vec<Campaign>,
}

#[derive(Deserialize)]
struct Campaign {
    name: String,
    advertiser_kind: String,
    status: String,
    budget: u64,
    impressions: u64,
    clicks: u64,
    spent: u64,
    remaining: u64,
}

struct CampaignView {
    name: String,
    advertiser_kind: String,
    status: String,
    budget: String,
    impressions: String,
    clicks: String,
    spent: String,
    remaining: String,
}

#[derive(Deserialize)]
struct PartnerList {
    partners: Vec<PartnerItem>,
}

#[derive(Deserialize)]
struct PartnerItem {
    partner_id: String,
    name: String,
}

#[derive(Template)]
#[template(path = "console_ads.html")]
struct AdsPage {
    frame: Frame,
    campaigns: Vec<CampaignView>,
    /// `(value, label)`: `partner:<id>` or `merchant:<id>`.
    advertisers: Vec<(String, String)>,
    may_write: bool,
}

/// Campaigns the ads page lists (the newest).
const CAMPAIGNS_SHOWN: usize = 50;

async fn ads(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<DoneQuery>,
) -> Response {
    console_page!(state, browser, |me| ads_page(
        &state, &browser, &me, query.done, None
    ))
}

async fn ads_page(
    state: &WebState,
    browser: &Browser,
    me: &Me,
    done: Option<String>,
    error: Option<String>,
) -> Result<Response, Failure> {
    let t = browser.lang.text();
    let caller = browser.operator();
    let path = format!("/admin/v1/ad-campaigns?limit={CAMPAIGNS_SHOWN}");
    let answer: Campaigns = state.api.json(&caller, Call::get(path)).await?;
    let may_write = me.may("ads.write");
    let mut advertisers = Vec::new();
    if may_write {
        let partners: PartnerList = state
            .api
            .json(&caller, Call::get("/admin/v1/partners"))
            .await?;
        let merchants: Merchants = state
            .api
            .json(&caller, Call::get("/admin/v1/merchants"))
            .await?;
        for partner in partners.partners {
            advertisers.push((format!("partner:{}", partner.partner_id), partner.name));
        }
        for merchant in merchants.merchants {
            advertisers.push((format!("merchant:{}", merchant.merchant_id), merchant.name));
        }
    }
    let campaigns = answer
        .campaigns
        .iter()
        .map(|campaign| CampaignView {
            name: campaign.name.clone(),
            advertiser_kind: campaign.advertiser_kind.clone(),
            status: campaign.status.clone(),
            budget: grouped(campaign.budget),
            impressions: grouped(campaign.impressions),
            clicks: grouped(campaign.clicks),
            spent: grouped(campaign.spent),
            remaining: grouped(campaign.remaining),
        })
        .collect();
    let notice = (done.as_deref() == Some("created")).then(|| t.campaign_made.to_string());
    let page = AdsPage {
        frame: frame(state, browser, me, "ads", t.ads)
            .notice(notice)
            .error(error),
        campaigns,
        advertisers,
        may_write,
    };
    Ok(html(&page))
}

#[derive(Deserialize)]
struct CampaignForm {
    advertiser: String,
    name: String,
    headline: String,
    body: String,
    link_url: String,
    budget: u64,
    price_per_impression: u64,
    price_per_click: u64,
    frequency_cap: u64,
}

/// `POST /console/ads`: a campaign, funded from the advertiser's prepayment.
async fn create_campaign(
    State(state): State<WebState>,
    browser: Browser,
    Form(form): Form<CampaignForm>,
) -> Response {
    console_page!(state, browser, |me| async {
        let Some((kind, id)) = form.advertiser.split_once(':') else {
            return Ok((StatusCode::BAD_REQUEST, "no advertiser").into_response());
        };
        let body = json!({
            "advertiser_kind": kind,
            "advertiser_id": id,
            "name": form.name,
            "headline": form.headline,
            "body": form.body,
            "link_url": form.link_url,
            "budget": form.budget,
            "price_per_impression": form.price_per_impression,
            "price_per_click": form.price_per_click,
            "frequency_cap": form.frequency_cap,
        });
        let call = Call::post("/admin/v1/ad-campaigns", &body);
        match state.api.send(&browser.operator(), call).await {
            Ok(_) => Ok(Redirect::to("/console/ads?done=created").into_response()),
            Err(problem) if problem.status == 400 || problem.status == 404 => {
                ads_page(&state, &browser, &me, None, Some(problem.message())).await
            }
            Err(problem) => Err(problem.into()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_text_is_form_encoded() {
        assert_eq!(query_text("010-1234 5678"), "010-1234+5678");
        assert_eq!(query_text("+8210&x=1"), "%2B8210%26x%3D1");
        assert_eq!(grouped_text("1234567"), "1,234,567");
        assert_eq!(grouped_text("x"), "x");
        assert_eq!(signed_amount(&serde_json::json!(-1200)), "−1,200");
        assert_eq!(signed_amount(&serde_json::json!(5000)), "+5,000");
        assert_eq!(
            signed_amount(&serde_json::json!("-18446744073709551616")),
            "−18,446,744,073,709,551,616"
        );
    }
}
