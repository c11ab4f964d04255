//! The console's creator reward pools (`/console/creators`; docs/creators.md): every pool
//! with what it was funded, has left and paid (`GET /admin/v1/creator-pools`), a funding form
//! for a platform's month from ad revenue (`POST /admin/v1/creator-pools`), a distribute
//! button per funded pool (`POST /admin/v1/creator-pools/{id}/distribution`), and a form
//! registering a content platform whose key and secret are shown once
//! (`POST /admin/v1/media-platforms`). The forms are shown to roles holding
//! `creators.write`; the API decides either way.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::{Failure, Me, failure, frame, me};
use crate::WebState;
use crate::api::Call;
use crate::browser::Browser;
use crate::pages::{api_id, grouped, html};

#[derive(Deserialize)]
struct PoolLine {
    pool_id: String,
    media_platform: String,
    period: String,
    status: String,
    funded_mvp: u64,
    remaining_mvp: u64,
    distributed_mvp: u64,
}

#[derive(Deserialize)]
struct PoolsAnswer {
    pools: Vec<PoolLine>,
}

#[derive(Deserialize)]
struct PlatformLine {
    media_platform_id: String,
    name: String,
}

#[derive(Deserialize)]
struct PlatformsAnswer {
    media_platforms: Vec<PlatformLine>,
}

#[derive(Deserialize)]
struct PlatformGrant {
    key_id: String,
    secret: String,
}

/// A row of the table, in words for people.
struct PoolRow {
    id: String,
    platform: String,
    period: String,
    status: String,
    funded: String,
    remaining: String,
    distributed: String,
    may_distribute: bool,
}

#[derive(Template)]
#[template(path = "console_creators.html")]
struct CreatorsPage {
    frame: crate::pages::Frame,
    rows: Vec<PoolRow>,
    /// `(id, name)`.
    platforms: Vec<(String, String)>,
    may_write: bool,
    /// A platform just registered: its key id and secret, shown this once.
    grant: Option<(String, String)>,
}

fn row_of(line: PoolLine) -> PoolRow {
    PoolRow {
        may_distribute: line.status == "funded" && line.remaining_mvp > 0,
        id: line.pool_id,
        platform: line.media_platform,
        period: line.period,
        status: line.status,
        funded: grouped(line.funded_mvp),
        remaining: grouped(line.remaining_mvp),
        distributed: grouped(line.distributed_mvp),
    }
}

#[derive(Deserialize)]
pub(super) struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

/// `GET /console/creators?done=`.
pub(super) async fn creators(
    State(state): State<WebState>,
    browser: Browser,
    Query(query): Query<DoneQuery>,
) -> Response {
    let done = query.done.is_some();
    console_page!(state, browser, |me| page(
        &state, &browser, &me, done, None, None
    ))
}

async fn page(
    state: &WebState,
    browser: &Browser,
    me: &Me,
    done: bool,
    error: Option<String>,
    grant: Option<(String, String)>,
) -> Result<Response, Failure> {
    let t = browser.lang.text();
    let operator = browser.operator();
    let pools: PoolsAnswer = state
        .api
        .json(&operator, Call::get("/admin/v1/creator-pools"))
        .await?;
    let platforms: PlatformsAnswer = state
        .api
        .json(&operator, Call::get("/admin/v1/media-platforms"))
        .await?;
    let page = CreatorsPage {
        frame: frame(state, browser, me, "creators", t.creators_section)
            .notice(done.then(|| t.creators_done.to_string()))
            .error(error),
        rows: pools.pools.into_iter().map(row_of).collect(),
        platforms: platforms
            .media_platforms
            .into_iter()
            .map(|p| (p.media_platform_id, p.name))
            .collect(),
        may_write: me.may("creators.write"),
        grant,
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
        Ok(_) => Ok(Redirect::to("/console/creators?done=1").into_response()),
        Err(problem) if problem.about_the_form() => {
            page(state, browser, me, false, Some(problem.message()), None).await
        }
        Err(problem) => Err(problem.into()),
    }
}

#[derive(Deserialize)]
pub(super) struct FundForm {
    #[serde(default)]
    media_platform_id: String,
    #[serde(default)]
    period: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reference: String,
}

/// `POST /console/creators` ("Fund"): ad revenue into the platform's pool of the month.
pub(super) async fn fund(
    State(state): State<WebState>,
    browser: Browser,
    Form(form): Form<FundForm>,
) -> Response {
    console_page!(state, browser, |me| async {
        let amount = form.amount.trim().parse::<u64>().unwrap_or(0);
        let body = json!({"media_platform_id": form.media_platform_id.trim(),
            "period": form.period.trim(), "amount": amount, "reference": form.reference.trim()});
        let call = Call::post("/admin/v1/creator-pools", &body);
        submit(&state, &browser, &me, call).await
    })
}

/// `POST /console/creators/{id}/distribution`.
pub(super) async fn distribute(
    State(state): State<WebState>,
    browser: Browser,
    Path(id): Path<String>,
) -> Response {
    console_page!(state, browser, |me| async {
        // The API checks the body's id; a path takes only an id.
        let Some(id) = api_id(&id) else {
            return Ok((axum::http::StatusCode::NOT_FOUND, "no such pool").into_response());
        };
        let path = format!("/admin/v1/creator-pools/{id}/distribution");
        submit(&state, &browser, &me, Call::post(path, &json!({}))).await
    })
}

#[derive(Deserialize)]
pub(super) struct PlatformForm {
    #[serde(default)]
    name: String,
}

/// `POST /console/creators/platforms`: a new content platform; the page shows its key and
/// secret once.
pub(super) async fn register(
    State(state): State<WebState>,
    browser: Browser,
    Form(form): Form<PlatformForm>,
) -> Response {
    console_page!(state, browser, |me| async {
        let body = json!({"name": form.name.trim()});
        let call = Call::post("/admin/v1/media-platforms", &body);
        match state
            .api
            .json::<PlatformGrant>(&browser.operator(), call)
            .await
        {
            Ok(grant) => {
                let grant = Some((grant.key_id, grant.secret));
                page(&state, &browser, &me, true, None, grant).await
            }
            Err(problem) if problem.about_the_form() => {
                page(&state, &browser, &me, false, Some(problem.message()), None).await
            }
            Err(problem) => Err(problem.into()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_funded_pool_with_money_left_may_be_distributed() {
        let line = |status: &str, remaining_mvp: u64| PoolLine {
            pool_id: "9".into(),
            media_platform: "TongTube".into(),
            period: "2026-12".into(),
            status: status.into(),
            funded_mvp: 10_000,
            remaining_mvp,
            distributed_mvp: 10_000 - remaining_mvp,
        };
        assert!(row_of(line("funded", 10_000)).may_distribute);
        assert!(!row_of(line("funded", 0)).may_distribute);
        let paid = row_of(line("distributed", 0));
        assert!(!paid.may_distribute);
        assert_eq!(paid.distributed, "10,000");
    }
}
