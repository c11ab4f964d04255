//! P2P transfers in the member app (issue 15 item 1; the API is `server::transfers_api`):
//! sending MVP to a phone number, the member's transfers, asking for money with a link,
//! and paying (or, for its requester, cancelling) a request opened from its link.
//!
//! - `/app/send`: phone, amount and memo; "Next" shows the recipient's masked name as the
//!   API gives it (`GET /v1/transfer-recipients`, limited per member), or says the phone is
//!   not a member's yet (the MVP then waits 7 days for them to join, then comes back); the
//!   confirmation sends `POST /v1/transfers` under the `Idempotency-Key` the confirm page
//!   made (a second press is the same transfer), with the PIN when the API asks for it, and
//!   leads to the transfer's page (`/app/transfers/{id}`).
//! - `/app/transfers`: sent and received, newest first, a page at a time.
//! - `/app/request`: amount and memo make a request (`POST /v1/transfer-requests`); its page
//!   shows the link to share (and its QR code when the link is short enough to draw).
//! - `/app/pay-request/{id}`: who asks (masked), amount, memo, status; while it is open,
//!   "Pay", or for its requester the link, its QR code and "Cancel" instead. The API's
//!   answer says whether the caller made it (`mine`), on any browser; the API still decides
//!   (it refuses a payment to oneself and another member's cancel): the buttons only choose
//!   what to offer. Opened signed out, it leads to the login, which comes back to it.
//!
//! A refusal comes back on the page it was made from with the API's title and detail;
//! nothing moves. A wrong PIN (`wrong-pin`, a 401 like a lost session) is a refusal, not a
//! sign-out.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use platform::transfers::{MEMO_CHARS_MAX, TRANSFER_MVP_MAX};
use serde::Deserialize;
use serde_json::json;

use crate::WebState;
use crate::api::Call;
use crate::browser::Browser;
use crate::pages::{Frame, PageError, grouped, html, when};
use crate::text::Text;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/app/send", get(send_page).post(check))
        .route("/app/send/confirm", post(send))
        .route("/app/transfers", get(transfers_page))
        .route("/app/transfers/{id}", get(transfer_page))
        .route("/app/request", get(request_page).post(make_request))
        .route("/app/pay-request/{id}", get(pay_request_page))
        .route("/app/pay-request/{id}/pay", post(pay_request))
        .route("/app/pay-request/{id}/cancel", post(cancel_request))
}

/// Transfers per page of `/app/transfers`.
const TRANSFERS_PAGE: usize = 20;

/// One transfer, as `/v1/transfers` answers it.
#[derive(Deserialize)]
struct TransferAnswer {
    transfer_id: String,
    status: String,
    direction: String,
    amount: u64,
    memo: String,
    counterparty_name_masked: Option<String>,
    created_at: String,
    expires_at: Option<String>,
    finished_at: Option<String>,
}

#[derive(Deserialize)]
struct TransfersAnswer {
    transfers: Vec<TransferAnswer>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct RecipientAnswer {
    member: bool,
    name_masked: Option<String>,
}

/// A money request, as `/v1/transfer-requests` answers it.
#[derive(Deserialize)]
struct RequestAnswer {
    request_id: String,
    requester_name_masked: String,
    amount: u64,
    memo: String,
    status: String,
    transfer_id: Option<String>,
    expires_at: String,
    pay_url: String,
    /// Whether the caller made it (the requester may cancel; others may pay).
    mine: bool,
}

pub(super) use crate::pages::api_id as digits;

pub(super) use crate::pages::{asks_pin as pin_asked, refusal};

/// A new `Idempotency-Key`, made when a page that moves value is drawn.
pub(super) fn new_key() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// An amount typed in a form: a whole number of MVP, at least 1.
fn typed_amount(text: &str) -> Option<u64> {
    text.trim().parse::<u64>().ok().filter(|amount| *amount > 0)
}

/// A transfer's status, in words.
fn status_text(status: &str, t: &Text) -> &'static str {
    match status {
        "completed" => t.p2p_status_completed,
        "held" => t.p2p_status_held,
        "claimed" => t.p2p_status_claimed,
        "returned" => t.p2p_status_returned,
        _ => t.reason_other,
    }
}

/// A transfer as the pages show it.
struct TransferView {
    transfer_id: String,
    sent: bool,
    direction_text: &'static str,
    status: String,
    status_text: &'static str,
    amount: String,
    memo: String,
    /// The other member's masked name, or "not a member yet" while held.
    counterparty: String,
    at: String,
    expires: Option<String>,
    finished: Option<String>,
}

fn transfer_view(answer: TransferAnswer, t: &Text) -> TransferView {
    let sent = answer.direction == "sent";
    TransferView {
        sent,
        direction_text: if sent { t.p2p_sent } else { t.p2p_received },
        status_text: status_text(&answer.status, t),
        counterparty: answer
            .counterparty_name_masked
            .unwrap_or_else(|| t.p2p_someone_new.to_string()),
        amount: grouped(answer.amount),
        at: when(&answer.created_at),
        expires: (answer.status == "held")
            .then_some(answer.expires_at)
            .flatten()
            .as_deref()
            .map(when),
        finished: answer.finished_at.as_deref().map(when),
        transfer_id: answer.transfer_id,
        status: answer.status,
        memo: answer.memo,
    }
}

#[derive(Template)]
#[template(path = "member_send.html")]
struct SendPage {
    frame: Frame,
    available: String,
    phone: String,
    amount: String,
    memo: String,
    amount_max: u64,
    memo_max: usize,
}

async fn send_form(
    state: &WebState,
    browser: &Browser,
    typed: &SendForm,
    error: Option<String>,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let (available, _) = super::balance(state, browser).await?;
    let page = SendPage {
        frame: Frame::new(state, browser, t.p2p_send_title)
            .tab("home")
            .error(error),
        available: grouped(available),
        phone: typed.phone.trim().to_string(),
        amount: typed.amount.trim().to_string(),
        memo: typed.memo.clone(),
        amount_max: TRANSFER_MVP_MAX,
        memo_max: MEMO_CHARS_MAX,
    };
    Ok(html(&page))
}

/// `GET /app/send`: the form, with the MVP the member has.
async fn send_page(State(state): State<WebState>, browser: Browser) -> Result<Response, PageError> {
    send_form(&state, &browser, &SendForm::default(), None).await
}

#[derive(Default, Deserialize)]
struct SendForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    memo: String,
}

#[derive(Template)]
#[template(path = "member_send_confirm.html")]
struct ConfirmPage {
    frame: Frame,
    phone: String,
    amount: String,
    amount_raw: u64,
    memo: String,
    /// The receiver's masked name; none: the phone is not a member's yet.
    recipient: Option<String>,
    idempotency_key: String,
    pin_asked: bool,
}

/// What the confirm page sends, and shows again after a refusal.
#[derive(Deserialize)]
struct ConfirmForm {
    phone: String,
    amount: String,
    #[serde(default)]
    memo: String,
    /// The masked name the confirm page showed (empty: not a member yet).
    #[serde(default)]
    recipient: String,
    idempotency_key: String,
    #[serde(default)]
    pin: Option<String>,
}

fn confirm_page(
    state: &WebState,
    browser: &Browser,
    form: &ConfirmForm,
    amount: u64,
    error: Option<String>,
    pin_asked: bool,
) -> Response {
    let t = browser.lang.text();
    let page = ConfirmPage {
        frame: Frame::new(state, browser, t.p2p_confirm_title)
            .tab("home")
            .error(error),
        phone: form.phone.clone(),
        amount: grouped(amount),
        amount_raw: amount,
        memo: form.memo.clone(),
        recipient: (!form.recipient.is_empty()).then(|| form.recipient.clone()),
        idempotency_key: form.idempotency_key.clone(),
        pin_asked,
    };
    html(&page)
}

/// `POST /app/send` ("Next"): who the phone is (masked), then the page that confirms the
/// send with a key of its own; the form again with the API's problem.
async fn check(
    State(state): State<WebState>,
    browser: Browser,
    Form(form): Form<SendForm>,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let Some(amount) = typed_amount(&form.amount) else {
        let error = Some(t.p2p_amount_invalid.to_string());
        return send_form(&state, &browser, &form, error).await;
    };
    let phone = form.phone.trim().to_string();
    let query =
        serde_urlencoded::to_string([("phone", &phone)]).expect("a pair of strings encodes");
    let call = Call::get(format!("/v1/transfer-recipients?{query}"));
    let recipient = match state
        .api
        .json::<RecipientAnswer>(&browser.caller(), call)
        .await
    {
        Ok(answer) => answer,
        Err(problem) => {
            let problem = refusal(problem)?;
            return send_form(&state, &browser, &form, Some(problem.message())).await;
        }
    };
    let confirm = ConfirmForm {
        phone,
        amount: amount.to_string(),
        memo: form.memo,
        recipient: match recipient {
            RecipientAnswer {
                member: true,
                name_masked: Some(name),
            } => name,
            _ => String::new(),
        },
        idempotency_key: new_key(),
        pin: None,
    };
    Ok(confirm_page(
        &state, &browser, &confirm, amount, None, false,
    ))
}

/// `POST /app/send/confirm`: the send, under the key the confirm page made (a second press
/// is the same transfer); the confirm page again on a refusal, with the PIN field when the
/// API asks for it.
async fn send(
    State(state): State<WebState>,
    browser: Browser,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let Some(amount) = typed_amount(&form.amount) else {
        let typed = SendForm {
            phone: form.phone,
            amount: form.amount,
            memo: form.memo,
        };
        let error = Some(t.p2p_amount_invalid.to_string());
        return send_form(&state, &browser, &typed, error).await;
    };
    let mut body = json!({ "to_phone": form.phone, "amount": amount, "memo": form.memo });
    if let Some(pin) = form.pin.as_deref().filter(|pin| !pin.is_empty()) {
        body["pin"] = json!(pin);
    }
    let call = Call::post("/v1/transfers", &body).idempotency_key(&form.idempotency_key);
    match state
        .api
        .json::<TransferAnswer>(&browser.caller(), call)
        .await
    {
        Ok(sent) => Ok(to_transfer(&sent.transfer_id)),
        Err(problem) => {
            let problem = refusal(problem)?;
            let asked = pin_asked(&problem);
            let error = Some(problem.message());
            Ok(confirm_page(&state, &browser, &form, amount, error, asked))
        }
    }
}

/// To the transfer's page, saying it was sent.
fn to_transfer(id: &str) -> Response {
    match digits(id) {
        Some(id) => Redirect::to(&format!("/app/transfers/{id}?done=sent")).into_response(),
        None => Redirect::to("/app/transfers").into_response(),
    }
}

#[derive(Template)]
#[template(path = "member_transfer.html")]
struct TransferPage {
    frame: Frame,
    transfer: TransferView,
}

#[derive(Deserialize)]
struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

/// `GET /app/transfers/{id}`: one transfer, sent or received.
async fn transfer_page(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let Some(id) = digits(&id) else {
        return Ok(super::not_found(&state, &browser));
    };
    let t = browser.lang.text();
    let call = Call::get(format!("/v1/transfers/{id}"));
    let answer: TransferAnswer = state.api.json(&browser.caller(), call).await?;
    let notice = (query.done.as_deref() == Some("sent")).then(|| t.p2p_sent_notice.to_string());
    let page = TransferPage {
        frame: Frame::new(&state, &browser, t.p2p_transfer)
            .tab("home")
            .notice(notice),
        transfer: transfer_view(answer, t),
    };
    Ok(html(&page))
}

#[derive(Template)]
#[template(path = "member_transfers.html")]
struct TransfersPage {
    frame: Frame,
    transfers: Vec<TransferView>,
    next_href: Option<String>,
}

#[derive(Deserialize)]
struct CursorQuery {
    #[serde(default)]
    cursor: Option<String>,
}

/// `GET /app/transfers?cursor=`: the member's transfers, newest first.
async fn transfers_page(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<CursorQuery>,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let mut path = format!("/v1/me/transfers?limit={TRANSFERS_PAGE}");
    // A cursor is `<time>.<id>`, digits and a dot: nothing else goes into the API's query.
    if let Some(cursor) = query.cursor.filter(|cursor| {
        !cursor.is_empty() && cursor.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    }) {
        path.push_str("&cursor=");
        path.push_str(&cursor);
    }
    let answer: TransfersAnswer = state.api.json(&browser.caller(), Call::get(path)).await?;
    let next_href = answer
        .next_cursor
        .filter(|cursor| cursor.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
        .map(|cursor| format!("/app/transfers?cursor={cursor}"));
    let page = TransfersPage {
        frame: Frame::new(&state, &browser, t.p2p_transfers).tab("home"),
        transfers: answer
            .transfers
            .into_iter()
            .map(|answer| transfer_view(answer, t))
            .collect(),
        next_href,
    };
    Ok(html(&page))
}

#[derive(Template)]
#[template(path = "member_request.html")]
struct RequestPage {
    frame: Frame,
    amount: String,
    memo: String,
    amount_max: u64,
    memo_max: usize,
}

#[derive(Default, Deserialize)]
struct RequestForm {
    #[serde(default)]
    amount: String,
    #[serde(default)]
    memo: String,
}

fn request_form(
    state: &WebState,
    browser: &Browser,
    typed: &RequestForm,
    error: Option<String>,
) -> Response {
    let t = browser.lang.text();
    let page = RequestPage {
        frame: Frame::new(state, browser, t.p2p_request)
            .tab("home")
            .error(error),
        amount: typed.amount.trim().to_string(),
        memo: typed.memo.clone(),
        amount_max: TRANSFER_MVP_MAX,
        memo_max: MEMO_CHARS_MAX,
    };
    html(&page)
}

/// `GET /app/request`: the form that asks for money (signed-in members only).
async fn request_page(
    State(state): State<WebState>,
    browser: Browser,
) -> Result<Response, PageError> {
    if browser.session.is_none() {
        return Err(PageError::SignedOut);
    }
    Ok(request_form(
        &state,
        &browser,
        &RequestForm::default(),
        None,
    ))
}

/// `POST /app/request`: makes the request and shows its page with the link to share.
async fn make_request(
    State(state): State<WebState>,
    browser: Browser,
    Form(form): Form<RequestForm>,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let Some(amount) = typed_amount(&form.amount) else {
        let error = Some(t.p2p_amount_invalid.to_string());
        return Ok(request_form(&state, &browser, &form, error));
    };
    let body = json!({ "amount": amount, "memo": form.memo });
    let call = Call::post("/v1/transfer-requests", &body);
    let made = match state
        .api
        .json::<RequestAnswer>(&browser.caller(), call)
        .await
    {
        Ok(made) => made,
        Err(problem) => {
            let problem = refusal(problem)?;
            return Ok(request_form(
                &state,
                &browser,
                &form,
                Some(problem.message()),
            ));
        }
    };
    let Some(id) = digits(&made.request_id) else {
        return Ok(Redirect::to("/app/transfers").into_response());
    };
    Ok(Redirect::to(&format!("/app/pay-request/{id}?done=made")).into_response())
}

#[derive(Template)]
#[template(path = "member_request_pay.html")]
struct PayRequestPage {
    frame: Frame,
    request_id: String,
    requester: String,
    amount: String,
    amount_raw: u64,
    memo: String,
    /// `open`, `paid`, `cancelled` or `expired` (open past its deadline).
    status: &'static str,
    status_text: &'static str,
    expires: String,
    open: bool,
    /// The member made it: the link to share and "Cancel", never "Pay".
    mine: bool,
    pay_url: String,
    qr_svg: Option<String>,
    transfer_id: Option<String>,
    idempotency_key: String,
    pin_asked: bool,
}

/// What the request's page shows besides what it reads.
#[derive(Default)]
struct Shown {
    notice: Option<String>,
    error: Option<String>,
    pin_asked: bool,
    /// The key of the payment tried (kept: a retry is the same payment).
    idempotency_key: Option<String>,
}

/// The request's page.
async fn render_request(
    state: &WebState,
    browser: &Browser,
    id: &str,
    shown: Shown,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let call = Call::get(format!("/v1/transfer-requests/{id}"));
    let request: RequestAnswer = state.api.json(&browser.caller(), call).await?;
    let expired =
        request.expires_at.as_str() <= ports::time::rfc3339(ports::time::now_s()).as_str();
    let (status, status_text) = match request.status.as_str() {
        "open" if expired => ("expired", t.p2p_request_expired),
        "open" => ("open", t.p2p_request_open),
        "paid" => ("paid", t.p2p_request_paid),
        "cancelled" => ("cancelled", t.p2p_request_cancelled),
        _ => ("other", t.reason_other),
    };
    let mine = request.mine;
    let open = status == "open";
    let qr_svg = (mine && open)
        .then(|| server::codes_svg::qr_svg(&request.pay_url))
        .flatten();
    let page = PayRequestPage {
        frame: Frame::new(state, browser, t.p2p_money_request)
            .tab("home")
            .notice(shown.notice)
            .error(shown.error),
        request_id: id.to_string(),
        requester: request.requester_name_masked,
        amount: grouped(request.amount),
        amount_raw: request.amount,
        memo: request.memo,
        status,
        status_text,
        expires: when(&request.expires_at),
        open,
        mine,
        pay_url: request.pay_url,
        qr_svg,
        transfer_id: request.transfer_id.filter(|id| digits(id).is_some()),
        idempotency_key: shown.idempotency_key.unwrap_or_else(new_key),
        pin_asked: shown.pin_asked,
    };
    Ok(html(&page))
}

/// `GET /app/pay-request/{id}?done=`: a money request, opened from its link; signed out,
/// the login page, which comes back here.
async fn pay_request_page(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let Some(id) = digits(&id) else {
        return Ok(super::not_found(&state, &browser));
    };
    let t = browser.lang.text();
    let notice = match query.done.as_deref() {
        Some("made") => Some(t.p2p_request_made.to_string()),
        Some("cancelled") => Some(t.p2p_cancelled_notice.to_string()),
        _ => None,
    };
    let shown = Shown {
        notice,
        ..Shown::default()
    };
    match render_request(&state, &browser, id, shown).await {
        Err(PageError::SignedOut) => Ok(super::log_in_first(&format!("/app/pay-request/{id}"))),
        drawn => drawn,
    }
}

#[derive(Deserialize)]
struct PayForm {
    amount: u64,
    idempotency_key: String,
    #[serde(default)]
    pin: Option<String>,
}

/// `POST /app/pay-request/{id}/pay`: pays the request (exactly its amount) under the key
/// its page made; the page again on a refusal, with the PIN field when the API asks (a
/// payment to oneself is refused by the API too).
async fn pay_request(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
    Form(form): Form<PayForm>,
) -> Result<Response, PageError> {
    let Some(id) = digits(&id) else {
        return Ok(super::not_found(&state, &browser));
    };
    let mut body = json!({ "request_id": id, "amount": form.amount });
    if let Some(pin) = form.pin.as_deref().filter(|pin| !pin.is_empty()) {
        body["pin"] = json!(pin);
    }
    let call = Call::post("/v1/transfers", &body).idempotency_key(&form.idempotency_key);
    let problem = match state
        .api
        .json::<TransferAnswer>(&browser.caller(), call)
        .await
    {
        Ok(paid) => return Ok(to_transfer(&paid.transfer_id)),
        Err(problem) => refusal(problem)?,
    };
    let shown = Shown {
        error: Some(problem.message()),
        pin_asked: pin_asked(&problem),
        idempotency_key: Some(form.idempotency_key),
        ..Shown::default()
    };
    render_request(&state, &browser, id, shown).await
}

/// `POST /app/pay-request/{id}/cancel`: the requester cancels their open request.
async fn cancel_request(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let Some(id) = digits(&id) else {
        return Ok(super::not_found(&state, &browser));
    };
    let call = Call::post(format!("/v1/transfer-requests/{id}/cancel"), &json!({}));
    match state.api.send(&browser.caller(), call).await {
        Ok(_) => Ok(Redirect::to(&format!("/app/pay-request/{id}?done=cancelled")).into_response()),
        Err(problem) => {
            let shown = Shown {
                error: Some(refusal(problem)?.message()),
                ..Shown::default()
            };
            render_request(&state, &browser, id, shown).await
        }
    }
}
