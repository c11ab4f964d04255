//! The pay screen: the member's current pay code as a barcode and a QR code, renewed before
//! it expires, and "paid" the moment the till's payment is on the member's history. The
//! browser is enrolled for pay codes the first time, without the member seeing a device
//! handle.

use askama::Template;
use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{balance, newest_ns, transactions};
use crate::WebState;
use crate::api::{ApiProblem, Call};
use crate::browser::Browser;
use crate::pages::{Frame, PageError, grouped, html};

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/app/pay", get(pay_page))
        .route("/app/pay/code", get(code_fragment))
        .route("/app/pay/status", get(status))
}

/// A code as the page draws it.
struct CodeView {
    code: String,
    spaced: String,
    barcode_svg: String,
    qr_svg: String,
    remaining_s: u64,
    renews_in: &'static str,
    seconds: &'static str,
}

#[derive(Template)]
#[template(path = "pay.html")]
struct PayPage {
    frame: Frame,
    since_ns: u64,
    code: CodeView,
}

#[derive(Template)]
#[template(path = "paycode.html")]
struct CodeFragment {
    code: CodeView,
}

#[derive(Deserialize)]
struct PaycodeAnswer {
    code: String,
    expires_at_s: u64,
}

async fn issue(state: &WebState, browser: &Browser) -> Result<PaycodeAnswer, ApiProblem> {
    let call = Call::post("/v1/paycodes", &json!({}));
    state.api.json(&browser.caller(), call).await
}

#[derive(Deserialize)]
struct DeviceAnswer {
    device_id: String,
}

/// The name this app registers its device under (the member sees it in their devices).
const DEVICE_NAME: &str = "Mileverse web app";

/// Registers this app as one of the member's devices and enrolls it for pay codes (the
/// app asks the server for each code, so the secret the enrollment answers is not kept).
async fn enroll(state: &WebState, browser: &Browser) -> Result<(), PageError> {
    let body = json!({ "name": DEVICE_NAME, "platform": "web" });
    let call = Call::post("/v1/me/devices", &body);
    let device: DeviceAnswer = state.api.json(&browser.caller(), call).await?;
    let body = json!({ "device_id": device.device_id });
    let call = Call::post("/v1/me/paycode-devices", &body);
    state.api.send(&browser.caller(), call).await?;
    Ok(())
}

/// 20 digits in groups of four, as people read them out.
fn spaced(code: &str) -> String {
    let chunks: Vec<&str> = code
        .as_bytes()
        .chunks(4)
        .map(|chunk| std::str::from_utf8(chunk).unwrap_or(""))
        .collect();
    chunks.join(" ")
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// The member's current code, drawn; enrolls this member's device first if none is.
async fn current_code(state: &WebState, browser: &Browser) -> Result<CodeView, PageError> {
    let issued = match issue(state, browser).await {
        Err(problem) if problem.slug == "unknown-paycode-device" => {
            enroll(state, browser).await?;
            issue(state, browser).await?
        }
        other => other?,
    };
    let code = issued.code;
    let draw = |kind: &str| Call::get(format!("/v1/paycodes/{code}/{kind}.svg"));
    let barcode = state.api.send(&browser.caller(), draw("barcode")).await?;
    let qr = state.api.send(&browser.caller(), draw("qr")).await?;
    let t = browser.lang.text();
    Ok(CodeView {
        spaced: spaced(&code),
        barcode_svg: String::from_utf8_lossy(&barcode.body).into_owned(),
        qr_svg: String::from_utf8_lossy(&qr.body).into_owned(),
        remaining_s: issued.expires_at_s.saturating_sub(now_s()),
        renews_in: t.pay_expires_in,
        seconds: t.seconds,
        code,
    })
}

/// `GET /app/pay`.
async fn pay_page(State(state): State<WebState>, browser: Browser) -> Result<Response, PageError> {
    let since_ns = newest_ns(&state, &browser).await?;
    let code = current_code(&state, &browser).await?;
    let t = browser.lang.text();
    let page = PayPage {
        frame: Frame::new(&state, &browser, t.pay).tab("pay"),
        since_ns,
        code,
    };
    Ok(html(&page))
}

/// `GET /app/pay/code`: a new code, as the fragment the page swaps in.
async fn code_fragment(
    State(state): State<WebState>,
    browser: Browser,
) -> Result<Response, PageError> {
    let code = current_code(&state, &browser).await?;
    Ok(html(&CodeFragment { code }))
}

#[derive(Deserialize)]
struct StatusQuery {
    since_ns: u64,
}

/// Whether a payment came after `since_ns`, for the pay screen's poll.
#[derive(Serialize)]
struct PayStatus {
    paid: bool,
    /// The payment's amount and the balance after, written for people.
    amount: Option<String>,
    balance: Option<String>,
}

/// Lines of history the poll looks at (a till makes one payment per code).
const STATUS_LINES: usize = 5;

/// `GET /app/pay/status?since_ns=`: the newest payment after `since_ns`, if any.
async fn status(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<StatusQuery>,
) -> Result<Response, PageError> {
    let page = transactions(&state, &browser, STATUS_LINES, None).await?;
    let payment = page.transactions.iter().find(|line| {
        line.reason == "payment"
            && !line.amount.positive
            && line
                .timestamp_ns
                .parse::<u64>()
                .is_ok_and(|ns| ns > query.since_ns)
    });
    let Some(payment) = payment else {
        let answer = PayStatus {
            paid: false,
            amount: None,
            balance: None,
        };
        return Ok(Json(answer).into_response());
    };
    let (available, _) = balance(&state, &browser).await?;
    let answer = PayStatus {
        paid: true,
        amount: Some(grouped(payment.amount.amount)),
        balance: Some(grouped(available)),
    };
    Ok(Json(answer).into_response())
}

#[cfg(test)]
mod tests {
    use super::spaced;

    #[test]
    fn codes_read_in_groups_of_four() {
        assert_eq!(spaced("12345678901234567890"), "1234 5678 9012 3456 7890");
        assert_eq!(spaced("123456"), "1234 56");
        assert_eq!(spaced(""), "");
    }
}
