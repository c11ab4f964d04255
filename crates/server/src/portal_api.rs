//! What the merchant and partner portals' APIs share: logging in and out. Each portal has
//! its own routes (`merchant_portal_api`, `partner_portal_api`, so each is documented and
//! limited on its own path); their sessions are one kind (`platform::portal`), and each
//! portal refuses the other's (`wrong-portal`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use ports::time::rfc3339;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::access::bearer;
use crate::ledger_api::Body;
use crate::members_api::{json_body, platform};
use crate::problem::Problem;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PortalLogInBody {
    login: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct PortalSessionAnswer {
    /// `Authorization: Bearer <token>` on the portal's other routes.
    token: String,
    expires_at: String,
}

/// Logs a portal user in (either portal's `POST …/sessions`).
pub(crate) async fn log_in(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<PortalSessionAnswer>), Problem> {
    let body: PortalLogInBody = json_body(body)?;
    let session = platform(&state)?
        .log_in_portal_user(&body.login, &body.password)
        .await?;
    let answer = PortalSessionAnswer {
        token: session.token,
        expires_at: rfc3339(session.expires_at_s),
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

/// Ends the session of the token sent (either portal's `DELETE …/sessions/current`).
pub(crate) async fn log_out(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    let token = bearer(&headers).ok_or_else(Problem::unauthorized)?;
    platform(&state)?.log_out_portal_user(token).await?;
    Ok(StatusCode::NO_CONTENT)
}
