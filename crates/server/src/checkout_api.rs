//! Checkout over HTTP (issue 15 item 4, docs/checkout.md): merchants' payment intents under
//! `/checkout/v1`, signed with a terminal key exactly like the VAN API (`van_api::Signed`),
//! and the member's side under `/v1/checkout`: read an intent, approve it, and the QR a till
//! shows for it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use platform::checkout::{Intent, IntentRequest, WebhookEndpoint};
use ports::time::{now_s, rfc3339};
use serde::{Deserialize, Serialize};
use store::tables::checkout::{CHECKOUT_PAGE_MAX, EventRow};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::ledger_api::Body;
use crate::members_api::{idempotency_key, json_body, member, parse_id_text, platform};
use crate::openapi;
use crate::problem::Problem;
use crate::shapes::{page_limit, time_cursor, time_cursor_text};
use crate::van_api::{PathId, Signed, SignedHeaders, VanInput};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_intent))
        .routes(routes!(merchant_intent))
        .routes(routes!(capture_intent))
        .routes(routes!(cancel_intent))
        .routes(routes!(refund_intent))
        .routes(routes!(set_endpoint, endpoint))
        .routes(routes!(events))
        .routes(routes!(resend_event))
        .routes(routes!(member_intent))
        .routes(routes!(approve_intent))
        .routes(routes!(intent_qr))
}

/// The intent of `/checkout/v1/intents/{id}/…` (and the event of `…/events/{id}/…`).
pub(crate) struct PathTarget(u128);

impl PathId for PathTarget {
    fn from_path(id: Option<&str>) -> Result<PathTarget, Problem> {
        parse_id_text("id", id.unwrap_or_default()).map(PathTarget)
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct IntentBody {
    /// The merchant's order id: 1 to 64 of `[0-9A-Za-z_.:-]`; the same order id with the
    /// same body answers the same intent.
    order_id: String,
    /// MVP, 1 to 2,000,000.
    amount: u64,
    /// Where the app sends the member after approving (http or https, at most 512 bytes).
    return_url: String,
    /// Shown to the member (at most 100 characters).
    #[serde(default)]
    description: String,
    /// `automatic` (the default: captured on approval) or `manual` (held on approval, then
    /// captured or canceled by the merchant within 7 days).
    #[serde(default)]
    capture_method: CaptureMethod,
}

#[derive(Clone, Copy, Default, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum CaptureMethod {
    #[default]
    Automatic,
    Manual,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct IntentCaptureBody {
    /// What to capture, at most the held amount (the rest is released); absent: all.
    amount: Option<u64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EmptyBody {}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct IntentRefundBody {
    /// What to refund; absent: all that is left.
    amount: Option<u64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EndpointBody {
    /// The merchant's receiver (http or https, at most 512 bytes).
    url: String,
}

#[derive(Deserialize, ToSchema, IntoParams)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    /// `next_cursor` of the page before.
    cursor: Option<String>,
    /// 1 to 100 (default 20).
    limit: Option<usize>,
}

impl VanInput for IntentBody {}
impl VanInput for IntentCaptureBody {}
impl VanInput for EmptyBody {}
impl VanInput for IntentRefundBody {}
impl VanInput for EndpointBody {}
impl VanInput for EventsQuery {}

#[derive(Serialize, ToSchema)]
struct IntentAnswer {
    intent_id: String,
    order_id: String,
    amount: u64,
    /// `requires_approval`, `expired`, `canceled`, `requires_capture` or `succeeded`.
    status: &'static str,
    capture_method: CaptureMethod,
    captured_amount: u64,
    refunded_amount: u64,
    /// The 8 digits of the approval, once approved.
    approval_no: Option<String>,
    /// The member app's page that approves it: the shop links to it, the till shows it as
    /// a QR code (`qr_svg_url`).
    pay_url: String,
    qr_svg_url: String,
    return_url: String,
    description: String,
    created_at: String,
    expires_at: String,
}

fn intent_answer(state: &AppState, intent: &Intent) -> Result<IntentAnswer, Problem> {
    let base = platform(state)?.config.public_url.clone();
    let row = &intent.row;
    Ok(IntentAnswer {
        intent_id: row.id.to_string(),
        order_id: row.order_id.clone(),
        amount: row.amount,
        status: intent.state(now_s()).as_str(),
        capture_method: if row.capture_manual {
            CaptureMethod::Manual
        } else {
            CaptureMethod::Automatic
        },
        captured_amount: intent.captured_amount(),
        refunded_amount: intent.refunded_amount(),
        approval_no: intent.payment.as_ref().and_then(|p| p.approval_no()),
        pay_url: format!("{base}/app/checkout/{}", row.id),
        qr_svg_url: format!("{base}/v1/checkout/intents/{}/qr.svg", row.id),
        return_url: row.return_url.clone(),
        description: row.description.clone(),
        created_at: rfc3339(row.created_at_s),
        expires_at: rfc3339(row.expires_at_s),
    })
}

/// Creates a payment intent for an order (or answers the one this order id made).
#[utoipa::path(post, path = "/checkout/v1/intents", operation_id = "checkout_create_intent", tag = "checkout",
    security(("terminal_signature" = [])),
    params(SignedHeaders),
    request_body = IntentBody,
    responses(
        (status = 201, description = "The new intent: send the member to `pay_url` (or show its QR)", body = IntentAnswer),
        (status = 200, description = "The intent this order id made before", body = IntentAnswer),
        (status = 409, description = "The order id was used for another request (`order-id-conflict`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn create_intent(
    State(state): State<AppState>,
    call: Signed<IntentBody>,
) -> Result<Response, Problem> {
    let body = call.input;
    let request = IntentRequest {
        order_id: body.order_id,
        amount: body.amount,
        return_url: body.return_url,
        description: body.description,
        capture_manual: body.capture_method == CaptureMethod::Manual,
    };
    let intent = platform(&state)?
        .create_intent(call.terminal.terminal_id, request)
        .await?;
    // New when made within this call's second: a retry later answers 200.
    let status = if intent.row.created_at_s >= now_s().saturating_sub(1)
        && intent.payment.is_none()
        && !call.retransmission
    {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(intent_answer(&state, &intent)?)).into_response())
}

/// A payment intent of the signing terminal's merchant.
#[utoipa::path(get, path = "/checkout/v1/intents/{id}", operation_id = "checkout_merchant_intent", tag = "checkout",
    security(("terminal_signature" = [])),
    params(("id" = String, Path, description = "The intent id", pattern = r"^[0-9]{1,39}$"), SignedHeaders),
    responses((status = 200, description = "The intent", body = IntentAnswer)))]
async fn merchant_intent(
    State(state): State<AppState>,
    call: Signed<EmptyBody, PathTarget>,
) -> Result<Json<IntentAnswer>, Problem> {
    let intent = platform(&state)?
        .merchant_intent(call.terminal.terminal_id, call.id.0)
        .await?;
    Ok(Json(intent_answer(&state, &intent)?))
}

/// Captures an intent approved as a hold (`capture_method: manual`).
#[utoipa::path(post, path = "/checkout/v1/intents/{id}/capture", operation_id = "checkout_capture_intent", tag = "checkout",
    security(("terminal_signature" = [])),
    params(("id" = String, Path, description = "The intent id", pattern = r"^[0-9]{1,39}$"), SignedHeaders),
    request_body = IntentCaptureBody,
    responses((status = 200, description = "The captured intent", body = IntentAnswer),
        (status = 409, description = "Not held (`payment-intent-state`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn capture_intent(
    State(state): State<AppState>,
    call: Signed<IntentCaptureBody, PathTarget>,
) -> Result<Json<IntentAnswer>, Problem> {
    let intent = platform(&state)?
        .capture_intent(call.terminal.terminal_id, call.id.0, call.input.amount)
        .await?;
    Ok(Json(intent_answer(&state, &intent)?))
}

/// Cancels an intent: before approval it closes; held, the hold is released.
#[utoipa::path(post, path = "/checkout/v1/intents/{id}/cancel", operation_id = "checkout_cancel_intent", tag = "checkout",
    security(("terminal_signature" = [])),
    params(("id" = String, Path, description = "The intent id", pattern = r"^[0-9]{1,39}$"), SignedHeaders),
    request_body = EmptyBody,
    responses((status = 200, description = "The canceled intent", body = IntentAnswer),
        (status = 409, description = "Captured: refund it (`payment-intent-state`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn cancel_intent(
    State(state): State<AppState>,
    call: Signed<EmptyBody, PathTarget>,
) -> Result<Json<IntentAnswer>, Problem> {
    let intent = platform(&state)?
        .cancel_intent(call.terminal.terminal_id, call.id.0)
        .await?;
    Ok(Json(intent_answer(&state, &intent)?))
}

/// Refunds (part of) a captured intent, once per `Idempotency-Key`.
#[utoipa::path(post, path = "/checkout/v1/intents/{id}/refunds", operation_id = "checkout_refund_intent", tag = "checkout",
    security(("terminal_signature" = [])),
    params(("id" = String, Path, description = "The intent id", pattern = r"^[0-9]{1,39}$"), SignedHeaders,
        ("Idempotency-Key" = String, Header, description = "The refund's own id: the same key is the same refund")),
    request_body = IntentRefundBody,
    responses((status = 200, description = "The intent with `refunded_amount`", body = IntentAnswer),
        (status = 409, description = "Not captured (`payment-intent-state`), or the merchant's payable cannot cover it (`merchant-payable-insufficient`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn refund_intent(
    State(state): State<AppState>,
    headers: HeaderMap,
    call: Signed<IntentRefundBody, PathTarget>,
) -> Result<Json<IntentAnswer>, Problem> {
    let key = required_key(&headers)?;
    let intent = platform(&state)?
        .refund_intent(
            call.terminal.terminal_id,
            call.id.0,
            call.input.amount,
            &key,
        )
        .await?;
    Ok(Json(intent_answer(&state, &intent)?))
}

fn required_key(headers: &HeaderMap) -> Result<String, Problem> {
    let key = idempotency_key(headers)?.ok_or_else(|| {
        Problem::from(platform::error::invalid(
            "Idempotency-Key",
            "a refund needs its own key",
        ))
    })?;
    platform::idempotency::check_key(&key)?;
    Ok(key)
}

#[derive(Serialize, ToSchema)]
struct EndpointAnswer {
    url: String,
    /// The signing secret, shown only when the endpoint is set: verify
    /// `Mileverse-Signature` with it.
    secret: Option<String>,
    updated_at: String,
}

fn endpoint_answer(endpoint: WebhookEndpoint) -> EndpointAnswer {
    EndpointAnswer {
        url: endpoint.url,
        secret: endpoint.secret,
        updated_at: rfc3339(endpoint.updated_at_s),
    }
}

/// Sets the merchant's webhook endpoint, with a new signing secret (the old one stops).
#[utoipa::path(put, path = "/checkout/v1/webhook-endpoint", operation_id = "checkout_set_webhook_endpoint", tag = "checkout",
    security(("terminal_signature" = [])),
    params(SignedHeaders),
    request_body = EndpointBody,
    responses((status = 200, description = "The endpoint and its secret, shown this once", body = EndpointAnswer)))]
async fn set_endpoint(
    State(state): State<AppState>,
    call: Signed<EndpointBody>,
) -> Result<Json<EndpointAnswer>, Problem> {
    let endpoint = platform(&state)?
        .set_webhook_endpoint(call.terminal.terminal_id, &call.input.url)
        .await?;
    Ok(Json(endpoint_answer(endpoint)))
}

/// The merchant's webhook endpoint (without its secret).
#[utoipa::path(get, path = "/checkout/v1/webhook-endpoint", operation_id = "checkout_webhook_endpoint", tag = "checkout",
    security(("terminal_signature" = [])),
    params(SignedHeaders),
    responses((status = 200, description = "The endpoint", body = EndpointAnswer),
        (status = 404, description = "None set (`no-webhook-endpoint`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn endpoint(
    State(state): State<AppState>,
    call: Signed<EmptyBody>,
) -> Result<Json<EndpointAnswer>, Problem> {
    let endpoint = platform(&state)?
        .webhook_endpoint(call.terminal.terminal_id)
        .await?;
    Ok(Json(endpoint_answer(endpoint)))
}

#[derive(Serialize, ToSchema)]
struct WebhookEventAnswer {
    event_id: String,
    /// `payment_intent.succeeded`, `.authorized`, `.payment_failed`, `.canceled`, `.refunded`.
    #[serde(rename = "type")]
    kind: String,
    intent_id: String,
    /// `pending` (retried on its schedule), `delivered` or `failed` (every attempt failed).
    delivery: &'static str,
    attempts: u32,
    last_status_code: Option<u16>,
    last_error: Option<String>,
    /// The body every attempt sends, as JSON text.
    payload: String,
    created_at: String,
    delivered_at: Option<String>,
}

fn event_answer(event: &EventRow) -> WebhookEventAnswer {
    WebhookEventAnswer {
        event_id: event.id.to_string(),
        kind: event.kind.clone(),
        intent_id: event.intent_id.to_string(),
        delivery: event.status.as_str(),
        attempts: event.attempts,
        last_status_code: event.last_status_code,
        last_error: event.last_error.clone(),
        payload: event.payload.clone(),
        created_at: rfc3339(event.created_at_s),
        delivered_at: event.delivered_at_s.map(rfc3339),
    }
}

#[derive(Serialize, ToSchema)]
struct WebhookEventsPage {
    events: Vec<WebhookEventAnswer>,
    next_cursor: Option<String>,
}

/// The merchant's webhook events and how their delivery went, newest first.
#[utoipa::path(get, path = "/checkout/v1/events", operation_id = "checkout_events", tag = "checkout",
    security(("terminal_signature" = [])),
    params(EventsQuery, SignedHeaders),
    responses((status = 200, description = "A page of events", body = WebhookEventsPage)))]
async fn events(
    State(state): State<AppState>,
    call: Signed<EventsQuery>,
) -> Result<Json<WebhookEventsPage>, Problem> {
    let limit = page_limit(call.input.limit, 20, CHECKOUT_PAGE_MAX)?;
    let before = call.input.cursor.as_deref().map(time_cursor).transpose()?;
    let rows = platform(&state)?
        .webhook_events(call.terminal.terminal_id, before, limit)
        .await?;
    let next_cursor = (rows.len() == limit)
        .then(|| {
            rows.last()
                .map(|row| time_cursor_text(row.created_at_s, row.id))
        })
        .flatten();
    Ok(Json(WebhookEventsPage {
        events: rows.iter().map(event_answer).collect(),
        next_cursor,
    }))
}

/// Sends an event again from a fresh schedule (after its attempts failed).
#[utoipa::path(post, path = "/checkout/v1/events/{id}/resend", operation_id = "checkout_resend_event", tag = "checkout",
    security(("terminal_signature" = [])),
    params(("id" = String, Path, description = "The event id", pattern = r"^[0-9]{1,39}$"), SignedHeaders),
    request_body = EmptyBody,
    responses((status = 200, description = "The event, pending again", body = WebhookEventAnswer)))]
async fn resend_event(
    State(state): State<AppState>,
    call: Signed<EmptyBody, PathTarget>,
) -> Result<Json<WebhookEventAnswer>, Problem> {
    let event = platform(&state)?
        .resend_event(call.terminal.terminal_id, call.id.0)
        .await?;
    Ok(Json(event_answer(&event)))
}

#[derive(Serialize, ToSchema)]
struct MemberIntentAnswer {
    intent_id: String,
    merchant_name: String,
    amount: u64,
    description: String,
    /// As the merchant sees it (`requires_approval` until approved).
    status: &'static str,
    /// Where to go after approving.
    return_url: String,
    expires_at: String,
    approval_no: Option<String>,
}

fn member_answer(intent: &Intent) -> MemberIntentAnswer {
    MemberIntentAnswer {
        intent_id: intent.row.id.to_string(),
        merchant_name: intent.merchant_name.clone(),
        amount: intent.row.amount,
        description: intent.row.description.clone(),
        status: intent.state(now_s()).as_str(),
        return_url: intent.row.return_url.clone(),
        expires_at: rfc3339(intent.row.expires_at_s),
        approval_no: intent.payment.as_ref().and_then(|p| p.approval_no()),
    }
}

/// A payment intent, as the member about to approve it sees it.
#[utoipa::path(get, path = "/v1/checkout/intents/{id}", operation_id = "checkout_member_intent", tag = "checkout",
    security(("member_session" = [])),
    params(("id" = String, Path, description = "The intent id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 200, description = "The intent", body = MemberIntentAnswer)))]
async fn member_intent(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<MemberIntentAnswer>, Problem> {
    member(&state, &headers).await?;
    let id = parse_id_text("id", &id)?;
    let intent = platform(&state)?.member_intent(id).await?;
    Ok(Json(member_answer(&intent)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ApprovalBody {
    /// The PIN again, above the platform's threshold (`pin-required` says when).
    pin: Option<String>,
}

/// Approves a payment intent: the amount leaves the member's wallet for the merchant.
#[utoipa::path(post, path = "/v1/checkout/intents/{id}/approval", operation_id = "checkout_approve_intent", tag = "checkout",
    security(("member_session" = [])),
    params(("id" = String, Path, description = "The intent id", pattern = r"^[0-9]{1,39}$")),
    request_body = ApprovalBody,
    responses((status = 200, description = "Approved: `succeeded` or `requires_capture`", body = MemberIntentAnswer),
        (status = 422, description = "Declined (`payment-declined` with `decline_reason`)", body = openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Expired, canceled or approved already", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn approve_intent(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<MemberIntentAnswer>, Problem> {
    let member_id = member(&state, &headers).await?;
    let id = parse_id_text("id", &id)?;
    let body: ApprovalBody = json_body(body)?;
    let intent = platform(&state)?
        .approve_intent(member_id, id, body.pin.as_deref())
        .await?;
    Ok(Json(member_answer(&intent)))
}

/// The QR code a till shows for an intent: the member scans it and approves in the app.
#[utoipa::path(get, path = "/v1/checkout/intents/{id}/qr.svg", operation_id = "checkout_intent_qr", tag = "checkout",
    params(("id" = String, Path, description = "The intent id", pattern = r"^[0-9]{1,39}$")),
    responses((status = 200, description = "An SVG QR code of the intent's `pay_url`", content_type = "image/svg+xml")))]
async fn intent_qr(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = parse_id_text("id", &id)?;
    let platform = platform(&state)?;
    let intent = platform.member_intent(id).await?;
    let url = format!(
        "{}/app/checkout/{}",
        platform.config.public_url, intent.row.id
    );
    let svg = crate::codes_svg::qr_svg(&url).ok_or_else(|| {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "unavailable",
            "Service unavailable",
            "the QR code could not be drawn",
        )
    })?;
    Ok(crate::codes_svg::svg_response(svg))
}
