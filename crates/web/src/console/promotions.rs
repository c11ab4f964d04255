//! The console's promotions (`/console/promotions`): every promotion with what it gave, took
//! back and has left (`GET /admin/v1/promotions`), a form for a new cashback or sign-up
//! bonus (`POST /admin/v1/promotions`), and per promotion a funding form and an end button.
//! The forms are shown to roles holding `ads.write`; the API decides either way.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Failure, Me, failure, frame, me};
use crate::WebState;
use crate::api::Call;
use crate::browser::Browser;
use crate::pages::{Frame, api_id, grouped, html};

/// A promotion as the API answers it.
#[derive(Deserialize)]
struct PromotionLine {
    promotion_id: String,
    name: String,
    kind: String,
    amount: u64,
    rate_bps: u32,
    wallets_max: u64,
    brand: Option<String>,
    merchant_id: Option<String>,
    starts_at: String,
    ends_at: String,
    status: String,
    funded_mvp: u64,
    remaining_mvp: u64,
    signups: u64,
    signup_mvp: u64,
    cashback_mvp: u64,
    clawback_mvp: u64,
    trading_reward_mvp: u64,
}

#[derive(Deserialize)]
struct PromotionsAnswer {
    promotions: Vec<PromotionLine>,
}

/// A row of the table, in words for people.
struct PromotionRow {
    id: String,
    name: String,
    rule: String,
    period: String,
    active: bool,
    funded: String,
    remaining: String,
    granted: String,
    clawed_back: String,
}

#[derive(Template)]
#[template(path = "console_promotions.html")]
struct PromotionsPage {
    frame: Frame,
    rows: Vec<PromotionRow>,
    may_write: bool,
}

fn row_of(line: &PromotionLine) -> PromotionRow {
    let rule = match line.kind.as_str() {
        "cashback" => {
            let place = line
                .brand
                .clone()
                .or_else(|| line.merchant_id.clone())
                .unwrap_or_default();
            format!("cashback {} bps · {place}", line.rate_bps)
        }
        "trading_reward" => format!("trading reward {} bps of each conversion", line.rate_bps),
        _ => format!(
            "sign-up {} MVP × {} ({} so far)",
            grouped(line.amount),
            grouped(line.wallets_max),
            grouped(line.signups)
        ),
    };
    PromotionRow {
        id: line.promotion_id.clone(),
        name: line.name.clone(),
        rule,
        period: format!("{} – {}", line.starts_at, line.ends_at),
        active: line.status == "active",
        funded: grouped(line.funded_mvp),
        remaining: grouped(line.remaining_mvp),
        granted: grouped(
            u128::from(line.signup_mvp)
                + u128::from(line.cashback_mvp)
                + u128::from(line.trading_reward_mvp),
        ),
        clawed_back: grouped(line.clawback_mvp),
    }
}

#[derive(Deserialize)]
pub(super) struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

/// `GET /console/promotions?done=`.
pub(super) async fn promotions(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<DoneQuery>,
) -> Response {
    let done = query.done.is_some();
    console_page!(state, browser, |me| page(&state, &browser, &me, done, None))
}

async fn page(
    state: &WebState,
    browser: &Browser,
    me: &Me,
    done: bool,
    error: Option<String>,
) -> Result<Response, Failure> {
    let t = browser.lang.text();
    let answer: PromotionsAnswer = state
        .api
        .json(&browser.operator(), Call::get("/admin/v1/promotions"))
        .await?;
    let page = PromotionsPage {
        frame: frame(state, browser, me, "promotions", t.promotions_section)
            .notice(done.then(|| t.promotions_done.to_string()))
            .error(error),
        rows: answer.promotions.iter().map(row_of).collect(),
        may_write: me.may("ads.write"),
    };
    Ok(html(&page))
}

/// Sends `call` and comes back to the page: with a notice, or the refusal shown.
async fn submit(
    state: &WebState,
    browser: &Browser,
    me: &Me,
    call: Call,
) -> Result<Response, Failure> {
    match state.api.send(&browser.operator(), call).await {
        Ok(_) => Ok(Redirect::to("/console/promotions?done=1").into_response()),
        Err(problem) if problem.about_the_form() => {
            page(state, browser, me, false, Some(problem.message())).await
        }
        Err(problem) => Err(problem.into()),
    }
}

#[derive(Deserialize)]
pub(super) struct NewForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    brand: String,
    #[serde(default)]
    wallets_max: String,
    #[serde(default)]
    days: String,
}

/// The body of a new promotion from the form: `value` is the rate in bps for a cashback
/// and a trading reward, the MVP per wallet for a sign-up bonus; it starts now and lasts
/// `days`.
fn new_body(form: &NewForm, now_s: u64) -> Value {
    let number = |text: &str| text.trim().parse::<u64>().unwrap_or(0);
    let days = number(&form.days).clamp(1, 366);
    let mut body = json!({
        "name": form.name.trim(),
        "kind": form.kind,
        "starts_at": ports::time::rfc3339(now_s),
        "ends_at": ports::time::rfc3339(now_s + days * 86_400),
    });
    if form.kind == "cashback" {
        body["rate_bps"] = json!(number(&form.value));
        body["brand"] = json!(form.brand.trim());
    } else if form.kind == "trading_reward" {
        body["rate_bps"] = json!(number(&form.value));
    } else {
        body["amount"] = json!(number(&form.value));
        body["wallets_max"] = json!(number(&form.wallets_max));
    }
    body
}

/// `POST /console/promotions`: a new promotion (`ads.write`).
pub(super) async fn create(
    State(state): State<WebState>,
    browser: Browser,
    Form(form): Form<NewForm>,
) -> Response {
    console_page!(state, browser, |me| async {
        let body = new_body(&form, ports::time::now_s());
        submit(
            &state,
            &browser,
            &me,
            Call::post("/admin/v1/promotions", &body),
        )
        .await
    })
}

#[derive(Deserialize)]
pub(super) struct FundForm {
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reference: String,
}

/// `POST /console/promotions/{id}/fundings`: marketing money into the budget (`ads.write`).
pub(super) async fn fund(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
    Form(form): Form<FundForm>,
) -> Response {
    console_page!(state, browser, |me| async {
        let Some(id) = api_id(&id) else {
            return Ok(no_such_promotion());
        };
        let amount = form.amount.trim().parse::<u64>().unwrap_or(0);
        let body = json!({"amount": amount, "reference": form.reference.trim()});
        let path = format!("/admin/v1/promotions/{id}/fundings");
        submit(&state, &browser, &me, Call::post(path, &body)).await
    })
}

/// `POST /console/promotions/{id}/end` (`ads.write`).
pub(super) async fn end(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
) -> Response {
    console_page!(state, browser, |me| async {
        let Some(id) = api_id(&id) else {
            return Ok(no_such_promotion());
        };
        let path = format!("/admin/v1/promotions/{id}/end");
        submit(&state, &browser, &me, Call::post(path, &json!({}))).await
    })
}

/// The answer to a form posted for something that is not an id.
fn no_such_promotion() -> Response {
    (axum::http::StatusCode::NOT_FOUND, "no such promotion").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_becomes_the_api_body() {
        let form = NewForm {
            name: " Blue Cup 5 % ".into(),
            kind: "cashback".into(),
            value: "500".into(),
            brand: "Blue Cup".into(),
            wallets_max: String::new(),
            days: "999".into(),
        };
        let body = new_body(&form, 1_000);
        assert_eq!(body["rate_bps"], 500);
        assert_eq!(body["brand"], "Blue Cup");
        assert_eq!(body["name"], "Blue Cup 5 %");
        assert_eq!(body["ends_at"], ports::time::rfc3339(1_000 + 366 * 86_400));
        let trading = NewForm {
            kind: "trading_reward".into(),
            value: "25".into(),
            ..form
        };
        let body = new_body(&trading, 1_000);
        assert_eq!(
            (body["rate_bps"].as_u64(), body.get("brand")),
            (Some(25), None)
        );
    }
}
