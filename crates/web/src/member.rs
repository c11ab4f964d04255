//! The member app (`/app`): sign-up and login, home, memberships and exchange, the pay
//! screen, history and the inclusion check. Each handler reads or acts through the HTTP
//! API (`crate::api`) with the browser's session, and renders the answer.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::WebState;
use crate::api::{ApiProblem, Call};
use crate::browser::{self, Browser};
use crate::pages::{Frame, PageError, grouped, html, when};
use crate::text::{Lang, Text};

pub(crate) mod assets;
mod checkout;
mod creators;
mod pay;
mod proof;
pub(crate) mod trades;
mod transfers;
mod vouchers;
mod wallet;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/app", get(home))
        .route("/app/lang/{code}", get(switch_language))
        .route("/app/sign-up", get(sign_up_page).post(sign_up))
        .route("/app/sign-up/phone", post(sign_up_phone))
        .route("/app/login", get(login_page).post(log_in))
        .route("/app/login/code", post(log_in_with_code))
        .route("/app/logout", post(log_out))
        .route("/app/links", get(links_page).post(start_link))
        .route(platform_callback_path(), get(link_callback))
        .route("/app/exchange", get(exchange_page).post(exchange))
        .route("/app/history", get(history))
        .route("/app/ads/{view_id}", get(ad_click))
        .merge(assets::routes())
        .merge(checkout::routes())
        .merge(pay::routes())
        .merge(proof::routes())
        .merge(trades::routes())
        .merge(creators::routes())
        .merge(transfers::routes())
        .merge(vouchers::routes())
        .merge(wallet::routes())
}

/// Where the partner sends the member back after the ownership step (the platform names
/// it in the redirect URI it registers with partners).
fn platform_callback_path() -> &'static str {
    "/app/partner-links/callback"
}

#[derive(Template)]
#[template(path = "welcome.html")]
struct Welcome {
    frame: Frame,
}

#[derive(Template)]
#[template(path = "phone.html")]
struct PhonePage {
    frame: Frame,
    action: String,
    phone: String,
    with_pin: bool,
    submit: &'static str,
}

#[derive(Template)]
#[template(path = "code.html")]
struct CodePage {
    frame: Frame,
    action: String,
    explain: &'static str,
    phone: String,
    verification_id: String,
    demo_code: Option<String>,
    with_name: bool,
    submit: &'static str,
}

#[derive(Deserialize)]
struct LangQuery {
    #[serde(default)]
    back: Option<String>,
}

/// Where a language switch may lead back to: the homes of the app's areas only (never a
/// URL a link could choose: no open redirect).
const LANGUAGE_BACK: [&str; 6] = [
    "/app",
    "/till",
    "/console",
    "/merchant",
    "/partner",
    "/shop",
];

/// `GET /app/lang/{code}?back=`: remembers the language (not a secret, not a change of any
/// record: a GET) and goes back to the area's home.
async fn switch_language(Path(code): Path<String>, Query(query): Query<LangQuery>) -> Response {
    let lang = Lang::parse(&code).unwrap_or(Lang::Ko);
    let back = query
        .back
        .as_deref()
        .and_then(|back| LANGUAGE_BACK.into_iter().find(|home| *home == back))
        .unwrap_or("/app");
    let mut response = Redirect::to(back).into_response();
    let cookie = cookie::Cookie::build((browser::LANG_COOKIE, lang.code()))
        .path("/")
        .secure(true)
        .same_site(cookie::SameSite::Lax)
        .max_age(cookie::time::Duration::days(365))
        .build();
    browser::set(&mut response, &cookie);
    response
}

#[derive(Default, Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: Option<String>,
}

/// Longest page a login comes back to.
const NEXT_BYTES_MAX: usize = 512;

/// `next` if it is a page of the member app to come back to after the login: a local path
/// under `/app/` of visible ASCII, without `//`, `\` or `..` (so no scheme, no other host,
/// no way out of the app). Anything else is ignored: no open redirect.
fn local_next(next: Option<&str>) -> Option<&str> {
    next.filter(|next| {
        next.len() <= NEXT_BYTES_MAX
            && next.starts_with("/app/")
            && !next.contains("//")
            && !next.contains('\\')
            && !next.contains("..")
            && next.bytes().all(|b| b.is_ascii_graphic())
    })
}

/// `path` with `?next=` when there is a page to come back to.
fn with_next(path: &str, next: Option<&str>) -> String {
    match local_next(next) {
        Some(next) => {
            let query = serde_urlencoded::to_string([("next", next)]).expect("a pair encodes");
            format!("{path}?{query}")
        }
        None => path.to_string(),
    }
}

/// The login page (the session cookie removed, as any signed-out page does), which comes
/// back to `next`, a page of the member app, once signed in.
fn log_in_first(next: &str) -> Response {
    let mut response = Redirect::to(&with_next("/app/login", Some(next))).into_response();
    browser::set(&mut response, &browser::removal(browser::SESSION_COOKIE));
    response
}

/// The sign-up form, or the login form (`login`) that comes back to `next` once signed in.
fn phone_page(
    state: &WebState,
    browser: &Browser,
    login: bool,
    next: Option<&str>,
    error: Option<String>,
) -> Response {
    let t = browser.lang.text();
    let page = PhonePage {
        frame: Frame::new(state, browser, if login { t.log_in } else { t.sign_up }).error(error),
        action: if login {
            with_next("/app/login", next)
        } else {
            "/app/sign-up/phone".to_string()
        },
        phone: String::new(),
        with_pin: login,
        submit: if login { t.log_in } else { t.send_code },
    };
    html(&page)
}

async fn sign_up_page(State(state): State<WebState>, browser: Browser) -> Response {
    phone_page(&state, &browser, false, None, None)
}

/// `GET /app/login?next=`: the login form, which comes back to `next` (a page of the member
/// app) once signed in.
async fn login_page(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<NextQuery>,
) -> Response {
    phone_page(&state, &browser, true, query.next.as_deref(), None)
}

#[derive(Deserialize)]
struct PhoneForm {
    phone: String,
}

#[derive(Deserialize)]
struct VerificationAnswer {
    verification_id: String,
}

/// Asks the API to send a code to `phone`; the verification's id.
async fn send_code(state: &WebState, browser: &Browser, phone: &str) -> Result<String, ApiProblem> {
    let call = Call::post("/v1/verifications", &json!({ "phone": phone }));
    let answer: VerificationAnswer = state.api.json(&browser.anonymous(), call).await?;
    Ok(answer.verification_id)
}

/// The code the dev outbox holds for `phone`, on a demo server only.
fn demo_code(state: &WebState, phone: &str) -> Option<String> {
    let outbox = state.config.demo_outbox.as_ref()?;
    let phone = platform::members::normalize_phone(phone).ok()?;
    // Newest first: the code just sent. Its text ends with the code.
    let message = outbox.messages(Some(&phone)).into_iter().next()?;
    let code = message.text.split_whitespace().last()?;
    code.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| code.to_string())
}

/// The code form of a sign-up, or of a login (`!sign_up`) that comes back to `next`.
fn code_page(
    state: &WebState,
    browser: &Browser,
    phone: &str,
    verification_id: String,
    sign_up: bool,
    next: Option<&str>,
    error: Option<String>,
) -> Response {
    let t = browser.lang.text();
    let page = CodePage {
        frame: Frame::new(state, browser, if sign_up { t.sign_up } else { t.log_in }).error(error),
        action: if sign_up {
            "/app/sign-up".to_string()
        } else {
            with_next("/app/login/code", next)
        },
        explain: if sign_up { t.code_sent } else { t.new_device },
        phone: phone.to_string(),
        verification_id,
        demo_code: demo_code(state, phone),
        with_name: sign_up,
        submit: if sign_up { t.create_account } else { t.confirm },
    };
    html(&page)
}

/// `POST /app/sign-up/phone`: sends the code, then asks for it with a name and a PIN.
async fn sign_up_phone(
    State(state): State<WebState>,
    browser: Browser,
    Form(form): Form<PhoneForm>,
) -> Response {
    match send_code(&state, &browser, &form.phone).await {
        Ok(id) => code_page(&state, &browser, &form.phone, id, true, None, None),
        Err(problem) => phone_page(&state, &browser, false, None, Some(problem.message())),
    }
}

#[derive(Deserialize)]
struct SignUpForm {
    phone: String,
    verification_id: String,
    code: String,
    name: String,
    pin: String,
}

#[derive(Deserialize)]
struct SignUpAnswer {
    device_token: String,
}

#[derive(Deserialize)]
struct SessionAnswer {
    token: String,
    #[serde(default)]
    device_token: Option<String>,
}

/// `POST /app/sign-up`: the member, then a session from this (now trusted) browser.
async fn sign_up(
    State(state): State<WebState>,
    browser: Browser,
    Form(form): Form<SignUpForm>,
) -> Response {
    let body = json!({
        "verification_id": form.verification_id,
        "code": form.code,
        "name": form.name,
        "pin": form.pin,
    });
    let call = Call::post("/v1/members", &body);
    let signed_up: Result<SignUpAnswer, _> = state.api.json(&browser.anonymous(), call).await;
    let device_token = match signed_up {
        Ok(answer) => answer.device_token,
        Err(problem) => {
            let id = form.verification_id.clone();
            let error = Some(problem.message());
            return code_page(&state, &browser, &form.phone, id, true, None, error);
        }
    };
    let body = json!({ "phone": form.phone, "pin": form.pin, "device_token": device_token });
    let call = Call::post("/v1/sessions", &body);
    match state
        .api
        .json::<SessionAnswer>(&browser.anonymous(), call)
        .await
    {
        Ok(session) => signed_in(session, Some(device_token), None),
        Err(problem) => phone_page(&state, &browser, true, None, Some(problem.message())),
    }
}

/// Home, or `next` when it is a page of the member app, with the session's cookie (and the
/// device's, when one was proven).
fn signed_in(session: SessionAnswer, device_token: Option<String>, next: Option<&str>) -> Response {
    let mut response = Redirect::to(local_next(next).unwrap_or("/app")).into_response();
    browser::set(&mut response, &browser::session_cookie(session.token));
    if let Some(device) = session.device_token.or(device_token) {
        browser::set(&mut response, &browser::device_cookie(device));
    }
    response
}

#[derive(Deserialize)]
struct LogInForm {
    phone: String,
    pin: String,
}

/// `POST /app/login?next=`: a session from a trusted browser; from a new one, a code by SMS
/// first (the API's `device-unverified`). Signed in, to `next` when it is a page of the
/// member app, else home.
async fn log_in(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<NextQuery>,
    Form(form): Form<LogInForm>,
) -> Response {
    let next = query.next.as_deref();
    let mut body = json!({ "phone": form.phone, "pin": form.pin });
    if let Some(device) = &browser.device {
        body["device_token"] = json!(device);
    }
    let call = Call::post("/v1/sessions", &body);
    let problem = match state
        .api
        .json::<SessionAnswer>(&browser.anonymous(), call)
        .await
    {
        Ok(session) => return signed_in(session, None, next),
        Err(problem) => problem,
    };
    if problem.slug != "device-unverified" {
        return phone_page(&state, &browser, true, next, Some(problem.message()));
    }
    match send_code(&state, &browser, &form.phone).await {
        Ok(id) => code_page(&state, &browser, &form.phone, id, false, next, None),
        Err(problem) => phone_page(&state, &browser, true, next, Some(problem.message())),
    }
}

#[derive(Deserialize)]
struct CodeLogInForm {
    phone: String,
    verification_id: String,
    code: String,
    pin: String,
}

/// `POST /app/login/code?next=`: a session that proves this browser by the SMS code.
async fn log_in_with_code(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<NextQuery>,
    Form(form): Form<CodeLogInForm>,
) -> Response {
    let next = query.next.as_deref();
    let body = json!({
        "phone": form.phone,
        "pin": form.pin,
        "verification_id": form.verification_id,
        "code": form.code,
    });
    let call = Call::post("/v1/sessions", &body);
    match state
        .api
        .json::<SessionAnswer>(&browser.anonymous(), call)
        .await
    {
        Ok(session) => signed_in(session, None, next),
        Err(problem) => {
            let id = form.verification_id.clone();
            code_page(
                &state,
                &browser,
                &form.phone,
                id,
                false,
                next,
                Some(problem.message()),
            )
        }
    }
}

/// `POST /app/logout`: ends the session at the API and forgets it.
async fn log_out(State(state): State<WebState>, browser: Browser) -> Response {
    if browser.session.is_some() {
        // Gone already or not: the cookie goes either way.
        let _ = state
            .api
            .send(&browser.caller(), Call::delete("/v1/sessions/current"))
            .await;
    }
    let mut response = Redirect::to("/app").into_response();
    browser::set(&mut response, &browser::removal(browser::SESSION_COOKIE));
    response
}

#[derive(Deserialize)]
struct BalancesAnswer {
    balances: Vec<BalanceLine>,
}

#[derive(Deserialize)]
struct BalanceLine {
    asset: String,
    /// Places of the asset's smallest unit (the API names them; an older answer did not).
    #[serde(default)]
    decimals: Option<u32>,
    available: u64,
    pending: u64,
}

/// The member's balances of every asset, MVP first, as the API answers them.
async fn balance_lines(state: &WebState, browser: &Browser) -> Result<Vec<BalanceLine>, PageError> {
    let answer: BalancesAnswer = state
        .api
        .json(&browser.caller(), Call::get("/v1/me/balances"))
        .await?;
    Ok(answer.balances)
}

/// The MVP of `lines` (available, on hold).
fn mvp_of(lines: &[BalanceLine]) -> (u64, u64) {
    let line = lines.iter().find(|line| line.asset == "MVP");
    line.map_or((0, 0), |line| (line.available, line.pending))
}

/// The member's MVP balance (available, on hold).
async fn balance(state: &WebState, browser: &Browser) -> Result<(u64, u64), PageError> {
    Ok(mvp_of(&balance_lines(state, browser).await?))
}

#[derive(Deserialize)]
struct LinksAnswer {
    links: Vec<LinkLine>,
}

#[derive(Deserialize)]
struct LinkLine {
    link_id: String,
    partner_id: String,
    partner_name: String,
    partner_member_ref: String,
    status: String,
    balance: Option<u64>,
}

/// A membership as the pages show it.
struct LinkView {
    link_id: String,
    partner_name: String,
    member_ref: String,
    status: String,
    active: bool,
    mileage: Option<String>,
}

async fn links(state: &WebState, browser: &Browser) -> Result<Vec<LinkLine>, PageError> {
    let answer: LinksAnswer = state
        .api
        .json(&browser.caller(), Call::get("/v1/me/partner-links"))
        .await?;
    Ok(answer.links)
}

fn link_view(line: &LinkLine, t: &Text) -> LinkView {
    LinkView {
        link_id: line.link_id.clone(),
        partner_name: line.partner_name.clone(),
        member_ref: line.partner_member_ref.clone(),
        status: match line.balance {
            Some(_) => line.status.clone(),
            None if line.status == "active" => t.mileage_unknown.to_string(),
            None => line.status.replace('_', " "),
        },
        active: line.status == "active",
        mileage: line.balance.map(grouped),
    }
}

#[derive(Deserialize)]
struct TransactionsAnswer {
    transactions: Vec<TransactionLine>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct TransactionLine {
    transfer_id: String,
    at: String,
    timestamp_ns: String,
    reason: String,
    amount: SignedAmount,
    pending: bool,
}

/// An amount with its sign, as the API writes it: a JSON integer, or past 2^53 a decimal
/// string, negative when the amount left the account.
struct SignedAmount {
    amount: u128,
    positive: bool,
}

impl<'de> Deserialize<'de> for SignedAmount {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::Number(number) => number.to_string(),
            serde_json::Value::String(text) => text,
            _ => return Err(serde::de::Error::custom("an amount is a number or digits")),
        };
        let (positive, digits) = match text.strip_prefix('-') {
            Some(digits) => (false, digits),
            None => (true, text.as_str()),
        };
        let amount = digits.parse::<u128>().map_err(serde::de::Error::custom)?;
        Ok(SignedAmount { amount, positive })
    }
}

/// A line of history as the pages show it.
struct Line {
    transfer_id: String,
    at: String,
    reason: &'static str,
    amount: String,
    incoming: bool,
    pending: bool,
}

/// The reasons the history filter offers, with their names.
fn reason_name(reason: &str, t: &Text) -> &'static str {
    match reason {
        "exchange" => t.reason_exchange,
        "payment" => t.reason_payment,
        "refund" => t.reason_refund,
        "voucher_purchase" | "voucher_refund" => t.reason_voucher,
        "transfer" => t.reason_transfer,
        "conversion" => t.reason_conversion,
        "bonus" => t.reason_bonus,
        "cashback" => t.reason_cashback,
        "cashback_clawback" => t.reason_clawback,
        "tip" => t.reason_tip,
        "tip_fee" => t.reason_tip_fee,
        "creator_reward" => t.reason_creator_reward,
        "trading_reward" => t.reason_trading_reward,
        _ => t.reason_other,
    }
}

fn line_view(line: &TransactionLine, t: &Text) -> Line {
    Line {
        transfer_id: line.transfer_id.clone(),
        at: when(&line.at),
        reason: reason_name(&line.reason, t),
        amount: grouped(line.amount.amount),
        incoming: line.amount.positive,
        pending: line.pending,
    }
}

async fn transactions(
    state: &WebState,
    browser: &Browser,
    limit: usize,
    cursor: Option<&str>,
) -> Result<TransactionsAnswer, PageError> {
    reason_transactions(state, browser, limit, cursor, "").await
}

/// A page of history, only lines of `reason` unless it is empty (the API filters).
async fn reason_transactions(
    state: &WebState,
    browser: &Browser,
    limit: usize,
    cursor: Option<&str>,
    reason: &str,
) -> Result<TransactionsAnswer, PageError> {
    let mut path = format!("/v1/me/transactions?limit={limit}");
    if let Some(cursor) = cursor.filter(|cursor| cursor.bytes().all(|b| b.is_ascii_digit())) {
        path.push_str("&cursor=");
        path.push_str(cursor);
    }
    if !reason.is_empty() {
        path.push_str("&reason=");
        path.push_str(reason);
    }
    Ok(state.api.json(&browser.caller(), Call::get(path)).await?)
}

/// An ad served on the home page.
#[derive(Deserialize)]
struct AdAnswer {
    ad: Option<ServedAd>,
}

#[derive(Deserialize)]
struct ServedAd {
    view_id: String,
    headline: String,
    body: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    frame: Frame,
    ad: Option<ServedAd>,
    available: String,
    pending: String,
    has_pending: bool,
    /// The other assets the member holds (above zero), MVP being shown above them.
    holdings: Vec<assets::Holding>,
    links: Vec<LinkView>,
    lines: Vec<Line>,
}

/// Lines of history on the home page.
const HOME_LINES: usize = 5;

#[derive(Deserialize)]
struct HomeQuery {
    #[serde(default)]
    done: Option<String>,
}

/// `GET /app`: the welcome page, or the member's home.
async fn home(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<HomeQuery>,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    if browser.session.is_none() {
        let frame = Frame::new(&state, &browser, "Mileverse");
        return Ok(html(&Welcome { frame }));
    }
    let balances = balance_lines(&state, &browser).await?;
    let (available, pending) = mvp_of(&balances);
    let holdings = assets::holdings(&balances, &[])
        .into_iter()
        .filter(|holding| holding.asset != "MVP")
        .collect();
    let links = links(&state, &browser).await?;
    let history = transactions(&state, &browser, HOME_LINES, None).await?;
    // An ad is a bonus: a failure to serve one never fails the home page.
    let ad = state
        .api
        .json::<AdAnswer>(&browser.caller(), Call::get("/v1/me/ads?placement=home"))
        .await
        .ok()
        .and_then(|answer| answer.ad);
    let notice = match query.done.as_deref() {
        Some("linked") => Some(t.linked.to_string()),
        Some("exchanged") => Some(t.exchange_done.to_string()),
        _ => None,
    };
    let page = Home {
        frame: Frame::new(&state, &browser, t.home)
            .tab("home")
            .notice(notice),
        ad,
        available: grouped(available),
        pending: grouped(pending),
        has_pending: pending > 0,
        holdings,
        links: links.iter().map(|line| link_view(line, t)).collect(),
        lines: history
            .transactions
            .iter()
            .map(|line| line_view(line, t))
            .collect(),
    };
    Ok(html(&page))
}

#[derive(Deserialize)]
struct PartnersAnswer {
    partners: Vec<PartnerLine>,
}

#[derive(Deserialize)]
struct PartnerLine {
    partner_id: String,
    name: String,
    rate_num: Option<u64>,
    rate_den: Option<u64>,
    minimum_unit: u64,
}

#[derive(Template)]
#[template(path = "links.html")]
struct LinksPage {
    frame: Frame,
    links: Vec<LinkView>,
    partners: Vec<PartnerLine>,
}

async fn links_page_with(
    state: &WebState,
    browser: &Browser,
    error: Option<String>,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let lines = links(state, browser).await?;
    let partners: PartnersAnswer = state
        .api
        .json(&browser.caller(), Call::get("/v1/partners"))
        .await?;
    let page = LinksPage {
        frame: Frame::new(state, browser, t.memberships)
            .tab("links")
            .error(error),
        links: lines.iter().map(|line| link_view(line, t)).collect(),
        partners: partners.partners,
    };
    Ok(html(&page))
}

/// `GET /app/links`: the memberships, and the form that links one more.
async fn links_page(
    State(state): State<WebState>,
    browser: Browser,
) -> Result<Response, PageError> {
    links_page_with(&state, &browser, None).await
}

#[derive(Deserialize)]
struct LinkForm {
    partner_id: String,
    partner_member_ref: String,
}

#[derive(Deserialize)]
struct LinkAttempt {
    link_id: String,
    authorize_url: String,
}

/// `POST /app/links`: starts the link and sends the member to the partner to prove it.
async fn start_link(
    State(state): State<WebState>,
    browser: Browser,
    Form(form): Form<LinkForm>,
) -> Result<Response, PageError> {
    let body = json!({
        "partner_id": form.partner_id,
        "partner_member_ref": form.partner_member_ref,
    });
    let call = Call::post("/v1/me/partner-links", &body);
    let attempt: LinkAttempt = match state.api.json(&browser.caller(), call).await {
        Ok(attempt) => attempt,
        Err(problem) => {
            let error = PageError::from(problem);
            let PageError::Api(problem) = error else {
                return Ok(error.into_response());
            };
            return links_page_with(&state, &browser, Some(problem.message())).await;
        }
    };
    // The partner's page, by a page that follows its link: the policy's `form-action
    // 'self'` keeps a form's redirect on this site.
    let t = browser.lang.text();
    let page = LeavePage {
        frame: Frame::new(&state, &browser, t.continue_to_partner).tab("links"),
        url: attempt.authorize_url,
    };
    let mut response = html(&page);
    browser::set(&mut response, &browser::link_cookie(attempt.link_id));
    Ok(response)
}

#[derive(Template)]
#[template(path = "leave.html")]
struct LeavePage {
    frame: Frame,
    url: String,
}

#[derive(Deserialize)]
struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

/// `GET /app/partner-links/callback`: the partner sent the member back; the proof goes to
/// the API, which checks it against the attempt.
async fn link_callback(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let (Some(link_id), Some(proof_state), Some(code)) = (&browser.link, query.state, query.code)
    else {
        let error = query.error.unwrap_or_else(|| t.refused.to_string());
        return links_page_with(&state, &browser, Some(error)).await;
    };
    if !link_id.bytes().all(|b| b.is_ascii_digit()) {
        return links_page_with(&state, &browser, Some(t.refused.to_string())).await;
    }
    let body = json!({ "state": proof_state, "code": code });
    let call = Call::post(format!("/v1/me/partner-links/{link_id}/proof"), &body);
    let proven = state.api.send(&browser.caller(), call).await;
    let mut response = match proven {
        Ok(_) => Redirect::to("/app?done=linked").into_response(),
        Err(problem) => match PageError::from(problem) {
            PageError::Api(problem) => {
                links_page_with(&state, &browser, Some(problem.message())).await?
            }
            signed_out => signed_out.into_response(),
        },
    };
    browser::set(&mut response, &browser::removal(browser::LINK_COOKIE));
    Ok(response)
}

#[derive(Template)]
#[template(path = "exchange.html")]
struct ExchangePage {
    frame: Frame,
    link_id: String,
    partner_name: String,
    member_ref: String,
    mileage: Option<String>,
    rate: String,
    minimum_unit: String,
    minimum_unit_raw: u64,
    quote: Option<QuoteView>,
}

struct QuoteView {
    mvp: String,
    mileage: String,
    mileage_raw: u64,
    idempotency_key: String,
}

#[derive(Deserialize)]
struct ExchangeQuery {
    link: String,
    #[serde(default)]
    mileage: Option<u64>,
}

#[derive(Deserialize)]
struct QuoteAnswer {
    mvp: u64,
    mileage: u64,
}

/// `GET /app/exchange?link=&mileage=`: the form, or (with `mileage`) the API's quote and
/// the button that confirms it.
async fn exchange_page(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<ExchangeQuery>,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let lines = links(&state, &browser).await?;
    let Some(line) = lines.iter().find(|line| line.link_id == query.link) else {
        return links_page_with(&state, &browser, Some(t.not_found.to_string())).await;
    };
    let partners: PartnersAnswer = state
        .api
        .json(&browser.caller(), Call::get("/v1/partners"))
        .await?;
    let partner = partners
        .partners
        .iter()
        .find(|partner| partner.partner_id == line.partner_id);
    let (rate, unit) = match partner {
        Some(PartnerLine {
            rate_num: Some(num),
            rate_den: Some(den),
            minimum_unit,
            ..
        }) => (
            format!("{} : {}", grouped(*den), grouped(*num)),
            *minimum_unit,
        ),
        Some(partner) => ("-".to_string(), partner.minimum_unit),
        None => ("-".to_string(), 1),
    };
    let mut error = None;
    let mut quote = None;
    if let Some(mileage) = query.mileage {
        let path = format!(
            "/v1/exchange-quote?link_id={}&mileage={mileage}",
            line.link_id
        );
        match state
            .api
            .json::<QuoteAnswer>(&browser.caller(), Call::get(path))
            .await
        {
            Ok(answer) => {
                quote = Some(QuoteView {
                    mvp: grouped(answer.mvp),
                    mileage: grouped(answer.mileage),
                    mileage_raw: answer.mileage,
                    idempotency_key: hex::encode(rand::random::<[u8; 16]>()),
                });
            }
            Err(problem) => match PageError::from(problem) {
                PageError::Api(problem) => error = Some(problem.message()),
                signed_out => return Err(signed_out),
            },
        }
    }
    let page = ExchangePage {
        frame: Frame::new(&state, &browser, t.exchange_to_mvp)
            .tab("links")
            .error(error),
        link_id: line.link_id.clone(),
        partner_name: line.partner_name.clone(),
        member_ref: line.partner_member_ref.clone(),
        mileage: line.balance.map(grouped),
        rate,
        minimum_unit: grouped(unit),
        minimum_unit_raw: unit.max(1),
        quote,
    };
    Ok(html(&page))
}

#[derive(Deserialize)]
struct ExchangeForm {
    link_id: String,
    mileage: u64,
    idempotency_key: String,
}

#[derive(Deserialize)]
struct ExchangeAnswer {
    status: String,
    mvp: u64,
}

#[derive(Template)]
#[template(path = "done.html")]
struct DonePage {
    frame: Frame,
    lines: Vec<String>,
    next_href: &'static str,
    next_label: &'static str,
}

/// `POST /app/exchange`: the exchange, under the key the quote page made (a second press
/// of the button is the same exchange, answered again).
async fn exchange(
    State(state): State<WebState>,
    browser: Browser,
    Form(form): Form<ExchangeForm>,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let body = json!({ "link_id": form.link_id, "mileage": form.mileage });
    let call = Call::post("/v1/exchanges", &body).idempotency_key(&form.idempotency_key);
    let answer: ExchangeAnswer = state.api.json(&browser.caller(), call).await?;
    let lines = match answer.status.as_str() {
        "completed" => return Ok(Redirect::to("/app?done=exchanged").into_response()),
        "requested" => vec![t.exchange_waiting.to_string()],
        other => vec![format!("{}: {other}", t.exchange)],
    };
    let lines = [
        lines,
        vec![format!("{} {} {}", t.you_get, grouped(answer.mvp), t.won)],
    ]
    .concat();
    let page = DonePage {
        frame: Frame::new(&state, &browser, t.exchange).tab("links"),
        lines,
        next_href: "/app",
        next_label: t.back_home,
    };
    Ok(html(&page))
}

#[derive(Deserialize)]
struct ClickAnswer {
    link_url: String,
}

/// `GET /app/ads/{view_id}`: the click on an ad (billed once per view by the API), then
/// where the ad leads. A GET, as every ad link is: the view id is the member's own and
/// random, and a second click of it bills nothing.
async fn ad_click(
    State(state): State<WebState>,
    browser: Browser,
    Path(view_id): Path<String>,
) -> Result<Response, PageError> {
    if view_id.is_empty() || view_id.len() > 39 || !view_id.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(not_found(&state, &browser));
    }
    let call = Call::post(format!("/v1/me/ad-views/{view_id}/click"), &json!({}));
    let answer: ClickAnswer = state.api.json(&browser.caller(), call).await?;
    Ok(Redirect::to(&answer.link_url).into_response())
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    frame: Frame,
    reasons: Vec<(&'static str, &'static str)>,
    reason: String,
    lines: Vec<Line>,
    next_href: Option<String>,
}

#[derive(Deserialize)]
struct HistoryQuery {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

/// Lines of history per page.
const HISTORY_PAGE_LINES: usize = 50;

/// `GET /app/history?reason=&cursor=`: a page of history, of one reason when chosen (the
/// API filters, so a page is full whatever the reason).
async fn history(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<HistoryQuery>,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let reasons = vec![
        ("", t.all_reasons),
        ("exchange", t.reason_exchange),
        ("payment", t.reason_payment),
        ("refund", t.reason_refund),
        ("voucher_purchase", t.reason_voucher),
        ("transfer", t.reason_transfer),
        ("conversion", t.reason_conversion),
        ("cashback", t.reason_cashback),
        ("cashback_clawback", t.reason_clawback),
        ("tip", t.reason_tip),
        ("creator_reward", t.reason_creator_reward),
        ("trading_reward", t.reason_trading_reward),
    ];
    // Only a reason of the list is kept (it goes back into the next page's link).
    let reason = query
        .reason
        .filter(|reason| reasons.iter().any(|(code, _)| code == reason))
        .unwrap_or_default();
    let page = reason_transactions(
        &state,
        &browser,
        HISTORY_PAGE_LINES,
        query.cursor.as_deref(),
        &reason,
    )
    .await?;
    let lines = page
        .transactions
        .iter()
        .map(|line| line_view(line, t))
        .collect();
    let reason_query = if reason.is_empty() {
        String::new()
    } else {
        format!("&reason={reason}")
    };
    let next_href = page
        .next_cursor
        .map(|cursor| format!("/app/history?cursor={cursor}{reason_query}"));
    let page = HistoryPage {
        frame: Frame::new(&state, &browser, t.history).tab("history"),
        reasons,
        reason,
        lines,
        next_href,
    };
    Ok(html(&page))
}

/// The newest line's engine time (ns), or 0: where the pay screen starts looking for the
/// payment.
async fn newest_ns(state: &WebState, browser: &Browser) -> Result<u64, PageError> {
    let page = transactions(state, browser, 1, None).await?;
    Ok(page
        .transactions
        .first()
        .and_then(|line| line.timestamp_ns.parse().ok())
        .unwrap_or(0))
}

/// A 404 page in the member's language.
fn not_found(state: &WebState, browser: &Browser) -> Response {
    let t = browser.lang.text();
    let page = DonePage {
        frame: Frame::new(state, browser, t.not_found),
        lines: Vec::new(),
        next_href: "/app",
        next_label: t.back_home,
    };
    (axum::http::StatusCode::NOT_FOUND, html(&page)).into_response()
}
