//! The console's disputes (`/console/disputes`): escrowed trades waiting for an operator,
//! oldest first, with both legs, the parties' ids, the dispute's text and evidence
//! (`GET /admin/v1/disputes`, `disputes.read`), and per dispute the Release and Refund
//! buttons with a note (`POST /admin/v1/disputes/{id}/resolution`), shown to roles holding
//! `disputes.resolve`; the API decides either way.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::{Failure, Me, failure, frame, me};
use crate::WebState;
use crate::api::Call;
use crate::browser::Browser;
use crate::member::trades::{TradeAnswer, TradeView, trade_view};
use crate::pages::{Frame, html};

#[derive(Deserialize)]
pub(super) struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

/// Disputes per page.
const DISPUTES_PAGE: usize = 50;

#[derive(Deserialize)]
struct DisputeLine {
    dispute_id: String,
    seller_id: String,
    buyer_id: Option<String>,
    trade: TradeAnswer,
}

#[derive(Deserialize)]
struct DisputeQueue {
    disputes: Vec<DisputeLine>,
}

/// A dispute as the page shows it.
struct DisputeRow {
    dispute_id: String,
    seller_id: String,
    buyer_id: String,
    trade: TradeView,
}

#[derive(Template)]
#[template(path = "console_disputes.html")]
struct DisputesPage {
    frame: Frame,
    disputes: Vec<DisputeRow>,
    may_resolve: bool,
}

/// `GET /console/disputes?done=`.
pub(super) async fn disputes(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<DoneQuery>,
) -> Response {
    console_page!(state, browser, |me| disputes_page(
        &state,
        &browser,
        &me,
        query.done.as_deref(),
        None
    ))
}

async fn disputes_page(
    state: &WebState,
    browser: &Browser,
    me: &Me,
    done: Option<&str>,
    error: Option<String>,
) -> Result<Response, Failure> {
    let t = browser.lang.text();
    let call = Call::get(format!("/admin/v1/disputes?limit={DISPUTES_PAGE}"));
    let answer: DisputeQueue = state.api.json(&browser.operator(), call).await?;
    let notice = (done == Some("resolved")).then(|| t.disputes_resolved.to_string());
    let page = DisputesPage {
        frame: frame(state, browser, me, "disputes", t.disputes_section)
            .notice(notice)
            .error(error),
        disputes: answer
            .disputes
            .into_iter()
            .filter(|line| is_id(&line.dispute_id))
            .map(|line| DisputeRow {
                dispute_id: line.dispute_id,
                seller_id: line.seller_id,
                buyer_id: line.buyer_id.unwrap_or_default(),
                trade: trade_view(line.trade, t),
            })
            .collect(),
        may_resolve: me.may("disputes.resolve"),
    };
    Ok(html(&page))
}

/// Whether `text` is an id of the API (1 to 39 digits).
fn is_id(text: &str) -> bool {
    crate::pages::api_id(text).is_some()
}

#[derive(Deserialize)]
pub(super) struct ResolutionForm {
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    note: String,
}

/// `POST /console/disputes/{id}/resolution`: release or refund (`disputes.resolve`).
pub(super) async fn resolve(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
    Form(form): Form<ResolutionForm>,
) -> Response {
    console_page!(state, browser, |me| async {
        if !is_id(&id) {
            return Ok((axum::http::StatusCode::NOT_FOUND, "no such dispute").into_response());
        }
        let body = json!({ "outcome": form.outcome, "note": form.note.trim() });
        let call = Call::post(format!("/admin/v1/disputes/{id}/resolution"), &body);
        match state.api.send(&browser.operator(), call).await {
            Ok(_) => Ok(Redirect::to("/console/disputes?done=resolved").into_response()),
            Err(problem) if problem.about_the_form() => {
                disputes_page(&state, &browser, &me, None, Some(problem.message())).await
            }
            Err(problem) => Err(problem.into()),
        }
    })
}
