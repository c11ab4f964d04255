//! Creators in the member app (issue 15 item 5; the API is `server::creators_api`,
//! docs/creators.md): browsing and searching creators, a creator's page with their
//! platform and contents, and tipping them.
//!
//! - `/app/creators?q=&cursor=`: a search form and the creators a page at a time
//!   (`GET /v1/creators`).
//! - `/app/creators/{id}`: the creator, their newest contents, and the tip form: an amount,
//!   a message and the PIN (asked above the platform's threshold), sent
//!   (`POST /app/creators/{id}/tips`) as `POST /v1/creators/{id}/tips` under the
//!   `Idempotency-Key` the form was drawn with, so a second press is the same tip. A refusal
//!   comes back on the page with the API's title and detail (and a new key when nothing
//!   moved).

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::transfers::{digits, new_key, refusal};
use crate::WebState;
use crate::api::Call;
use crate::browser::Browser;
use crate::pages::{Frame, PageError, grouped, html, when};

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/app/creators", get(creators_page))
        .route("/app/creators/{id}", get(creator_page))
        .route("/app/creators/{id}/tips", post(tip))
}

/// Creators per page of `/app/creators`.
const CREATORS_PAGE: usize = 20;
/// Longest search text kept.
const SEARCH_CHARS_MAX: usize = 100;

#[derive(Deserialize)]
struct ContentAnswer {
    title: String,
    created_at: String,
}

#[derive(Deserialize)]
struct CreatorAnswer {
    creator_id: String,
    name: String,
    platform: String,
    contents: Vec<ContentAnswer>,
}

#[derive(Deserialize)]
struct CreatorsAnswer {
    creators: Vec<CreatorAnswer>,
    next_cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "member_creators.html")]
struct CreatorsPage {
    frame: Frame,
    search: String,
    /// `(id, name, platform)`.
    creators: Vec<(String, String, String)>,
    next_href: Option<String>,
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

/// Percent-encodes `text` for a query string (everything but unreserved ASCII).
fn query_text(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// `GET /app/creators?q=&cursor=`: the search form and a page of creators.
async fn creators_page(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let search: String = query
        .q
        .unwrap_or_default()
        .trim()
        .chars()
        .take(SEARCH_CHARS_MAX)
        .collect();
    let mut path = format!("/v1/creators?limit={CREATORS_PAGE}");
    if !search.is_empty() {
        path.push_str(&format!("&q={}", query_text(&search)));
    }
    if let Some(cursor) = query.cursor.filter(|c| !c.is_empty() && c.len() <= 200) {
        path.push_str(&format!("&cursor={}", query_text(&cursor)));
    }
    let fetched: Result<CreatorsAnswer, PageError> = state
        .api
        .json(&browser.caller(), Call::get(path))
        .await
        .map_err(PageError::from);
    let answer = match fetched {
        Err(PageError::SignedOut) => return Ok(super::log_in_first("/app/creators")),
        answer => answer?,
    };
    let next_href = answer.next_cursor.map(|cursor| {
        format!(
            "/app/creators?q={}&cursor={}",
            query_text(&search),
            query_text(&cursor)
        )
    });
    let page = CreatorsPage {
        frame: Frame::new(&state, &browser, t.creators_title).tab("home"),
        search,
        creators: answer
            .creators
            .into_iter()
            .map(|c| (c.creator_id, c.name, c.platform))
            .collect(),
        next_href,
    };
    Ok(html(&page))
}

#[derive(Template)]
#[template(path = "member_creator.html")]
struct CreatorPage {
    frame: Frame,
    creator_id: String,
    name: String,
    platform: String,
    /// `(title, when)`.
    contents: Vec<(String, String)>,
    amount: String,
    memo: String,
    idempotency_key: String,
}

/// What the tip form sends, and shows again after a refusal.
#[derive(Default, Deserialize)]
struct TipForm {
    #[serde(default)]
    amount: String,
    #[serde(default)]
    memo: String,
    #[serde(default)]
    pin: String,
    #[serde(default)]
    idempotency_key: String,
}

/// The creator's page with the tip form (what was typed, a notice or the API's refusal).
async fn render_creator(
    state: &WebState,
    browser: &Browser,
    id: &str,
    typed: &TipForm,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let t = browser.lang.text();
    let call = Call::get(format!("/v1/creators/{id}"));
    let answer: CreatorAnswer = state.api.json(&browser.caller(), call).await?;
    let page = CreatorPage {
        frame: Frame::new(state, browser, t.creators_one)
            .tab("home")
            .notice(notice)
            .error(error),
        creator_id: answer.creator_id,
        name: answer.name,
        platform: answer.platform,
        contents: answer
            .contents
            .into_iter()
            .map(|content| (content.title, when(&content.created_at)))
            .collect(),
        amount: typed.amount.trim().to_string(),
        memo: typed.memo.clone(),
        idempotency_key: match typed.idempotency_key.is_empty() {
            true => new_key(),
            false => typed.idempotency_key.clone(),
        },
    };
    Ok(html(&page))
}

#[derive(Deserialize)]
struct DoneQuery {
    #[serde(default)]
    tipped: Option<u64>,
}

/// `GET /app/creators/{id}?tipped=`: the creator; signed out, the login page, which comes
/// back.
async fn creator_page(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let Some(id) = digits(&id) else {
        return Ok(super::not_found(&state, &browser));
    };
    let t = browser.lang.text();
    let notice = query
        .tipped
        .map(|amount| format!("{} ({} MVP)", t.creators_tipped_notice, grouped(amount)));
    let drawn = render_creator(&state, &browser, id, &TipForm::default(), notice, None).await;
    match drawn {
        Err(PageError::SignedOut) => Ok(super::log_in_first(&format!("/app/creators/{id}"))),
        drawn => drawn,
    }
}

/// `POST /app/creators/{id}/tips`: the tip under the form's key, then the creator's page
/// saying so; the page again with the API's refusal.
async fn tip(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
    Form(mut form): Form<TipForm>,
) -> Result<Response, PageError> {
    let Some(id) = digits(&id) else {
        return Ok(super::not_found(&state, &browser));
    };
    let t = browser.lang.text();
    let Some(amount) = form.amount.trim().parse::<u64>().ok().filter(|a| *a > 0) else {
        let error = Some(t.creators_amount_invalid.to_string());
        return render_creator(&state, &browser, id, &form, None, error).await;
    };
    let mut body = json!({"amount": amount, "memo": form.memo.trim()});
    if !form.pin.is_empty() {
        body["pin"] = json!(form.pin);
    }
    if form.idempotency_key.is_empty() {
        form.idempotency_key = new_key();
    }
    let call =
        Call::post(format!("/v1/creators/{id}/tips"), &body).idempotency_key(&form.idempotency_key);
    match state.api.send(&browser.caller(), call).await {
        Ok(_) => {
            let to = format!("/app/creators/{id}?tipped={amount}");
            Ok(Redirect::to(&to).into_response())
        }
        Err(problem) => {
            let problem = refusal(problem)?;
            if problem.status < 500 {
                form.idempotency_key = new_key();
            }
            let error = Some(problem.message());
            render_creator(&state, &browser, id, &form, None, error).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_is_encoded_for_the_query() {
        assert_eq!(query_text("Kim's kitchen"), "Kim%27s%20kitchen");
        assert_eq!(query_text("42.Kim"), "42.Kim");
        assert_eq!(query_text("&limit=100"), "%26limit%3D100");
    }
}
