//! Checkout in the member app (the API is `server::checkout_api`): `/app/checkout/{id}`,
//! the page a shop sends the member to (its `pay_url`, or the QR code a till shows).
//!
//! It shows who asks (the merchant's name), how much, for what and the intent's status;
//! while the intent waits for approval, a PIN field and "Pay". The PIN is always asked on
//! the page and always sent: the API needs it only above its threshold, and a page that
//! asked only after a `pin-required` refusal would take two presses for a large payment.
//! Approved, the page shows the approval number and leads back to the shop's `return_url`
//! (an http(s) URL the API checked when the shop made the intent).
//!
//! Opened signed out, it leads to the login, which comes back to it. A refusal (a wrong
//! PIN, a declined payment, an intent that expired meanwhile) comes back on the page with
//! the API's title and detail; nothing moves.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use super::transfers::{digits, refusal};
use crate::WebState;
use crate::api::{ApiProblem, Call};
use crate::browser::Browser;
use crate::pages::{Frame, PageError, grouped, html, when};
use crate::text::Text;

pub fn routes() -> Router<WebState> {
    Router::new().route("/app/checkout/{id}", get(checkout_page).post(approve))
}

/// A payment intent, as `/v1/checkout/intents/{id}` answers it.
#[derive(Deserialize)]
struct IntentAnswer {
    merchant_name: String,
    amount: u64,
    description: String,
    status: String,
    return_url: String,
    expires_at: String,
    approval_no: Option<String>,
}

/// The intent's status, in words, and whether the member has approved it.
fn status_text(status: &str, t: &Text) -> (&'static str, bool) {
    match status {
        "requires_approval" => (t.checkout_status_requires_approval, false),
        "requires_capture" => (t.checkout_status_requires_capture, true),
        "succeeded" => (t.checkout_status_succeeded, true),
        "expired" => (t.checkout_status_expired, false),
        "canceled" => (t.checkout_status_canceled, false),
        _ => (t.reason_other, false),
    }
}

/// `url` if a link may lead there: http(s) only. The API checked it when the shop made the
/// intent; checked again because a page must never draw a `javascript:` link.
fn web_link(url: &str) -> Option<String> {
    let web = url.starts_with("https://") || url.starts_with("http://");
    web.then(|| url.to_string())
}

#[derive(Template)]
#[template(path = "member_checkout.html")]
struct CheckoutPage {
    frame: Frame,
    intent_id: String,
    merchant: String,
    amount: String,
    description: String,
    status: String,
    status_text: &'static str,
    expires: String,
    /// Waiting for the member: the PIN field and "Pay".
    open: bool,
    approval_no: Option<String>,
    return_url: Option<String>,
}

/// What the page shows besides what it reads.
#[derive(Default)]
struct Shown {
    notice: Option<String>,
    error: Option<String>,
}

fn page_of(
    state: &WebState,
    browser: &Browser,
    id: &str,
    intent: IntentAnswer,
    shown: Shown,
) -> Response {
    let t = browser.lang.text();
    let (status_text, approved) = status_text(&intent.status, t);
    let page = CheckoutPage {
        frame: Frame::new(state, browser, t.checkout_title)
            .tab("pay")
            .notice(shown.notice)
            .error(shown.error),
        intent_id: id.to_string(),
        merchant: intent.merchant_name,
        amount: grouped(intent.amount),
        description: intent.description,
        open: intent.status == "requires_approval",
        status: intent.status,
        status_text,
        expires: when(&intent.expires_at),
        approval_no: intent.approval_no.filter(|_| approved),
        return_url: web_link(&intent.return_url),
    };
    html(&page)
}

/// The intent's page, read from the API.
async fn render(
    state: &WebState,
    browser: &Browser,
    id: &str,
    shown: Shown,
) -> Result<Response, PageError> {
    let call = Call::get(format!("/v1/checkout/intents/{id}"));
    let intent: IntentAnswer = state.api.json(&browser.caller(), call).await?;
    Ok(page_of(state, browser, id, intent, shown))
}

#[derive(Deserialize)]
struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

/// `GET /app/checkout/{id}?done=`: the intent a shop sent the member to; signed out, the
/// login page, which comes back here.
async fn checkout_page(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let Some(id) = digits(&id) else {
        return Ok(super::not_found(&state, &browser));
    };
    let t = browser.lang.text();
    let shown = Shown {
        notice: (query.done.as_deref() == Some("paid")).then(|| t.checkout_paid_notice.into()),
        error: None,
    };
    match render(&state, &browser, id, shown).await {
        Err(PageError::SignedOut) => Ok(super::log_in_first(&format!("/app/checkout/{id}"))),
        drawn => drawn,
    }
}

#[derive(Deserialize)]
struct ApproveForm {
    #[serde(default)]
    pin: String,
}

/// What a person reads for a refusal of the approval: the API's words, but a balance too
/// small said plainly (the commonest decline, and the one the member can fix).
fn refusal_text(problem: &ApiProblem, t: &Text) -> String {
    let short = problem
        .detail
        .as_deref()
        .is_some_and(|detail| detail.contains("insufficient_balance"));
    if problem.slug == "payment-declined" && short {
        return t.checkout_declined_balance.to_string();
    }
    problem.message()
}

/// `POST /app/checkout/{id}`: approves the intent with the PIN typed (sent whenever typed);
/// approved, the page again saying so (a redirect: a reload asks nothing twice); refused,
/// the page with the API's problem.
async fn approve(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
    Form(form): Form<ApproveForm>,
) -> Result<Response, PageError> {
    let Some(id) = digits(&id) else {
        return Ok(super::not_found(&state, &browser));
    };
    let pin = form.pin.trim();
    let body = if pin.is_empty() {
        json!({})
    } else {
        json!({ "pin": pin })
    };
    let call = Call::post(format!("/v1/checkout/intents/{id}/approval"), &body);
    let problem = match state.api.send(&browser.caller(), call).await {
        Ok(_) => {
            let done = format!("/app/checkout/{id}?done=paid");
            return Ok(Redirect::to(&done).into_response());
        }
        Err(problem) => refusal(problem)?,
    };
    let t = browser.lang.text();
    let shown = Shown {
        notice: None,
        error: Some(refusal_text(&problem, t)),
    };
    render(&state, &browser, id, shown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_links_lead_back_to_the_shop() {
        assert!(web_link("https://shop.example/orders/1").is_some());
        assert!(web_link("http://127.0.0.1:8080/shop/orders/1").is_some());
        for bad in ["javascript:alert(1)", "data:text/html,x", "//evil", ""] {
            assert_eq!(web_link(bad), None, "{bad}");
        }
    }
}
