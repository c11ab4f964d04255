//! Pay code routes (`/v1`, member auth): enroll a device for codes the app computes
//! offline, have the server issue a code, and draw a code as a Code 128 barcode or a QR code.
//! See docs/paycodes.md.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use platform::paycode::PaycodeDecline;
use platform::totp;
use ports::time::{now_s, rfc3339};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::codes_svg;
use crate::ledger_api::{Body, body_bytes};
use crate::members_api::{json_body, member, parse_id_text, platform};
use crate::openapi;
use crate::problem::Problem;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(enroll))
        .routes(routes!(issue))
        .routes(routes!(barcode))
        .routes(routes!(qr))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EnrollBody {
    /// One of the member's registered devices (`POST /v1/me/devices`).
    device_id: String,
}

/// A device's pay code secret, shown this once, with the parameters to compute codes
/// (TOTP, RFC 6238).
#[derive(Serialize, ToSchema)]
struct PaycodeEnrollmentAnswer {
    /// The device's place in every code it computes.
    device_handle: String,
    /// Base32 without padding, as authenticator apps take it.
    secret: String,
    /// The digits every pay code starts with.
    routing_prefix: &'static str,
    /// Digits of the one-time part.
    digits: u32,
    period_s: u64,
    /// `SHA256`.
    algorithm: &'static str,
}

/// Enrolls one of the member's devices for pay codes the app computes offline.
#[utoipa::path(post, path = "/v1/me/paycode-devices", tag = "pay codes",
    security(("member_session" = [])),
    request_body = EnrollBody,
    responses(
        (status = 201, description = "The device's secret, shown once", body = PaycodeEnrollmentAnswer),
        (status = 404, description = "No such device of the member's", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn enroll(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<PaycodeEnrollmentAnswer>), Problem> {
    let member_id = member(&state, &headers).await?;
    let body: EnrollBody = json_body(body)?;
    let device_id = parse_id_text("device_id", &body.device_id)?;
    let enrollment = platform(&state)?
        .enroll_paycode_device(member_id, device_id)
        .await?;
    let answer = PaycodeEnrollmentAnswer {
        device_handle: enrollment.device_handle,
        secret: totp::base32(&enrollment.secret),
        routing_prefix: enrollment.routing_prefix,
        digits: totp::DIGITS,
        period_s: totp::STEP_S,
        algorithm: "SHA256",
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct IssueBody {
    /// The enrolled device whose code to issue; the latest enrolled when absent.
    device_handle: Option<String>,
}

/// A pay code issued by the server.
#[derive(Serialize, ToSchema)]
struct PaycodeAnswer {
    /// 20 digits: the routing prefix, the device handle and the one-time part.
    code: String,
    expires_at: String,
    expires_at_s: u64,
}

/// Issues a pay code for one of the member's enrolled devices (the body is optional).
#[utoipa::path(post, path = "/v1/paycodes", tag = "pay codes",
    security(("member_session" = [])),
    request_body(content = Option<IssueBody>, description = "Optional; empty for the latest enrolled device"),
    responses(
        (status = 201, description = "A code, good until it expires or is used", body = PaycodeAnswer),
        (status = 404, description = "No pay code device enrolled (`unknown-paycode-device`)", body = openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Every code of the window is used (`paycode-used`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn issue(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<PaycodeAnswer>), Problem> {
    let member_id = member(&state, &headers).await?;
    let bytes = body_bytes(body)?;
    let body: IssueBody = if bytes.is_empty() {
        IssueBody::default()
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|error| Problem::malformed_json(error.to_string()))?
    };
    let (code, expires_at_s) = platform(&state)?
        .issue_paycode(member_id, body.device_handle.as_deref())
        .await?;
    let answer = PaycodeAnswer {
        code,
        expires_at: rfc3339(expires_at_s),
        expires_at_s,
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

/// Checks that the code is the caller's own and good now: a member must not be able to
/// render (and so read back) another member's code.
async fn own_code(state: &AppState, headers: &HeaderMap, code: &str) -> Result<(), Problem> {
    let member_id = member(state, headers).await?;
    platform(state)?
        .check_own_paycode(member_id, code, now_s())
        .await?;
    Ok(())
}

fn svg_response(svg: String) -> Response {
    let headers = [
        (header::CONTENT_TYPE, "image/svg+xml"),
        // A code is a credential for about a minute: no cache may keep it.
        (header::CACHE_CONTROL, "no-store"),
    ];
    (headers, svg).into_response()
}

fn undrawable() -> Problem {
    Problem::from(PaycodeDecline::Invalid)
}

/// Draws the member's own current pay code as a Code 128 barcode.
#[utoipa::path(get, path = "/v1/paycodes/{code}/barcode.svg", tag = "pay codes",
    security(("member_session" = [])),
    params(("code" = String, Path, description = "The pay code, the caller's own")),
    responses(
        (status = 200, description = "The barcode (`Cache-Control: no-store`)", body = String, content_type = "image/svg+xml"),
        (status = 409, description = "The code was used (`paycode-used`)", body = openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 410, description = "The code expired (`paycode-expired`)", body = openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Not a code that can be drawn (`paycode-invalid`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn barcode(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Result<Response, Problem> {
    own_code(&state, &headers, &code).await?;
    let svg = codes_svg::code128_svg(&code).ok_or_else(undrawable)?;
    Ok(svg_response(svg))
}

/// Draws the member's own current pay code as a QR code.
#[utoipa::path(get, path = "/v1/paycodes/{code}/qr.svg", tag = "pay codes",
    security(("member_session" = [])),
    params(("code" = String, Path, description = "The pay code, the caller's own")),
    responses(
        (status = 200, description = "The QR code (`Cache-Control: no-store`)", body = String, content_type = "image/svg+xml"),
        (status = 409, description = "The code was used (`paycode-used`)", body = openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 410, description = "The code expired (`paycode-expired`)", body = openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Not a code that can be drawn (`paycode-invalid`)", body = openapi::ProblemDoc, content_type = "application/problem+json")))]
async fn qr(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Result<Response, Problem> {
    own_code(&state, &headers, &code).await?;
    let svg = codes_svg::qr_svg(&code).ok_or_else(undrawable)?;
    Ok(svg_response(svg))
}

impl From<PaycodeDecline> for Problem {
    fn from(decline: PaycodeDecline) -> Self {
        Problem::from(platform::PlatformError::Paycode(decline))
    }
}

#[cfg(test)]
mod tests {
    //! The routes over HTTP on loopback, against a platform on in-memory stores.

    use std::sync::Arc;

    use journal::{LedgerConfig, LedgerService};
    use ledger::checkpoint::OperatorKey;
    use platform::crypto::DataKeys;
    use platform::{Platform, PlatformConfig, PlatformParts};
    use ports::sms::DevOutbox;
    use serde_json::{Value, json};

    use crate::AppState;

    /// No partner is needed here: every call fails as if the partner were down.
    use ports::gateway::NoPartners as NoPartner;

    struct Client {
        base: String,
        http: reqwest::Client,
        outbox: Arc<DevOutbox>,
    }

    impl Client {
        async fn start() -> Client {
            let ledger = LedgerService::open(
                Box::new(store::memory::MemoryStore::new()),
                OperatorKey::from_seed([9; 32]),
                LedgerConfig::default(),
            )
            .expect("ledger");
            let ledger = Arc::new(ledger);
            let outbox = Arc::new(DevOutbox::new());
            let parts = PlatformParts {
                legacy_records: None,
                keys: DataKeys::from_master(&[7; 32]),
                partner_gateway: Arc::new(NoPartner),
                sms: outbox.clone(),
                chain: None,
                price_feed: None,
                webhooks: std::sync::Arc::new(gateways::webhook::HttpWebhookSender::new(
                    &tls::ClientTls::system(),
                    gateways::webhook::DELIVERY_TIMEOUT_MS,
                )),
            };
            let platform =
                Platform::open(PlatformConfig::default(), ledger.clone(), parts).expect("open");
            platform.start().await.expect("start");
            let mut state = AppState::ledger_only(ledger, None).expect("state");
            state.platform = Some(platform);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let base = format!("http://{}", listener.local_addr().expect("address"));
            tokio::spawn(crate::serve(listener, None, state, std::future::pending()));
            let http = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(20))
                .build()
                .expect("client");
            Client { base, http, outbox }
        }

        async fn send(&self, request: reqwest::RequestBuilder) -> (u16, String, String) {
            let response = request.send().await.expect("answer");
            let status = response.status().as_u16();
            let kind = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            (status, kind, response.text().await.expect("body"))
        }

        async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
            let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let (status, _, text) = self.send(request).await;
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        }

        async fn get(&self, path: &str, token: &str) -> (u16, String, String) {
            let request = self
                .http
                .get(format!("{}{path}", self.base))
                .bearer_auth(token);
            self.send(request).await
        }

        /// Signs up a member, logs in and registers a device: (token, device id).
        async fn member(&self, phone: &str) -> (String, String) {
            let (_, verification) = self
                .post("/v1/verifications", None, json!({"phone": phone}))
                .await;
            let text = self.outbox.messages(Some(phone))[0].text.clone();
            let code = text.rsplit(' ').next().expect("a code").to_string();
            let body = json!({
                "verification_id": verification["verification_id"],
                "code": code,
                "name": "Park",
                "pin": "135790",
            });
            let (status, member) = self.post("/v1/members", None, body).await;
            assert_eq!(status, 201);
            let login = json!({"phone": phone, "pin": "135790",
                               "device_token": member["device_token"]});
            let (_, session) = self.post("/v1/sessions", None, login).await;
            let token = session["token"].as_str().expect("a token").to_string();
            let body = json!({"name": "Phone", "platform": "ios"});
            let (_, device) = self.post("/v1/me/devices", Some(&token), body).await;
            (
                token,
                device["device_id"].as_str().expect("device").to_string(),
            )
        }
    }

    #[test]
    fn every_route_is_documented() {
        crate::ledger_api::assert_routes_documented(super::routes());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn enroll_issue_and_draw_only_ones_own_code() {
        let client = Client::start().await;
        let (token, device_id) = client.member("+821055550001").await;
        let (status, problem) = client.post("/v1/paycodes", Some(&token), json!({})).await;
        assert_eq!(
            (status, problem["type"].as_str()),
            (404, Some("urn:mileverse:problem:unknown-paycode-device"))
        );
        let body = json!({"device_id": device_id});
        let (status, enrollment) = client
            .post("/v1/me/paycode-devices", Some(&token), body)
            .await;
        assert_eq!(status, 201, "{enrollment}");
        assert_eq!(enrollment["digits"], 8);
        assert_eq!(enrollment["period_s"], 30);
        assert_eq!(enrollment["algorithm"], "SHA256");
        assert_eq!(enrollment["routing_prefix"], "91");
        let secret = enrollment["secret"].as_str().expect("secret");
        assert_eq!(secret.len(), 52, "32 bytes in unpadded base32");
        let (status, issued) = client.post("/v1/paycodes", Some(&token), json!({})).await;
        assert_eq!(status, 201, "{issued}");
        let code = issued["code"].as_str().expect("code").to_string();
        assert_eq!(code.len(), 20);
        assert!(code.starts_with(&format!(
            "91{}",
            enrollment["device_handle"].as_str().unwrap()
        )));
        assert!(
            issued["expires_at"]
                .as_str()
                .expect("expiry")
                .ends_with('Z')
        );
        for route in ["barcode.svg", "qr.svg"] {
            let (status, kind, svg) = client
                .get(&format!("/v1/paycodes/{code}/{route}"), &token)
                .await;
            assert_eq!((status, kind.as_str()), (200, "image/svg+xml"), "{svg}");
            assert!(svg.starts_with("<svg"));
        }
        // Another member cannot draw it; nobody can draw a non-code.
        let (stranger, _) = client.member("+821055550002").await;
        let (status, _, _) = client
            .get(&format!("/v1/paycodes/{code}/barcode.svg"), &stranger)
            .await;
        assert_eq!(status, 404);
        let (status, _, _) = client.get("/v1/paycodes/12345/qr.svg", &token).await;
        assert_eq!(status, 404);
        let (status, _, _) = client
            .get(&format!("/v1/paycodes/{code}/qr.svg"), "nonsense")
            .await;
        assert_eq!(status, 401);
    }
}
