//! Partner-facing routes (`/partner/v1`): partners ask us about the exchanges we sent them,
//! for their side of the reconciliation. Requests and answers are signed exactly as in the
//! partner protocol (docs/partner-protocol.md), with the partner's shared secret:
//! `X-Mileverse-Key` = our partner id, `X-Mileverse-Timestamp`, `X-Mileverse-Nonce`,
//! `X-Mileverse-Signature`. A bad signature or a replayed nonce is refused before anything
//! is read.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use ports::signing::{self, SignedParts};
use ports::time::now_s;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::members_api::platform;
use crate::problem::Problem;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(exchange))
}

/// The raw bytes the signature covers (a `GET`'s are empty). Named so, the document does
/// not take them for a request body, which a `GET` has none of.
type SignedBytes = Bytes;

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok()
}

/// A signed request that passed the checks.
struct Verified {
    partner_id: u128,
    secret: Vec<u8>,
    nonce: String,
}

fn bad_signature(detail: &str) -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "bad-signature",
        "The request signature is not valid",
        detail,
    )
}

fn verify(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Verified, Problem> {
    let platform = platform(state)?;
    let (Some(key), Some(timestamp), Some(nonce), Some(signature)) = (
        header_text(headers, "x-mileverse-key"),
        header_text(headers, "x-mileverse-timestamp"),
        header_text(headers, "x-mileverse-nonce"),
        header_text(headers, "x-mileverse-signature"),
    ) else {
        return Err(bad_signature(
            "send X-Mileverse-Key, -Timestamp, -Nonce and -Signature",
        ));
    };
    let partner_id = crate::json::parse_id(key).ok_or_else(|| bad_signature("unknown key"))?;
    let secret = platform
        .partner_secret(partner_id)
        .ok_or_else(|| bad_signature("unknown key"))?;
    let timestamp_s: u64 = timestamp
        .parse()
        .map_err(|_| bad_signature("bad timestamp"))?;
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or(uri.path());
    let parts = SignedParts {
        timestamp_s,
        nonce,
        method: method.as_str(),
        path,
        body,
    };
    if !signing::verify_request(&secret, &parts, signature) {
        return Err(bad_signature("the signature does not match"));
    }
    state
        .replay_guard
        .admit(timestamp_s, nonce, now_s())
        .map_err(|error| match error {
            signing::ReplayError::Stale => Problem::new(
                StatusCode::UNAUTHORIZED,
                "stale-timestamp",
                "The request timestamp is too far from our clock",
                error.to_string(),
            ),
            signing::ReplayError::Replayed => Problem::new(
                StatusCode::UNAUTHORIZED,
                "replayed-request",
                "The request was refused as a replay",
                error.to_string(),
            ),
            signing::ReplayError::BadNonce => bad_signature("the nonce is malformed"),
            signing::ReplayError::Full => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
                "too many requests in the replay window; retry later",
            ),
        })?;
    Ok(Verified {
        partner_id,
        secret,
        nonce: nonce.to_string(),
    })
}

/// A signed answer to the verified request.
fn signed(
    verified: &Verified,
    method: &Method,
    uri: &Uri,
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
) -> Response {
    let timestamp_s = now_s();
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or(uri.path());
    let parts = SignedParts {
        timestamp_s,
        nonce: &verified.nonce,
        method: method.as_str(),
        path,
        body: &body,
    };
    let signature = signing::sign_response(&verified.secret, &parts, status.as_u16());
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert("x-mileverse-timestamp", HeaderValue::from(timestamp_s));
    headers.insert(
        "x-mileverse-signature",
        HeaderValue::from_str(&signature).expect("hex"),
    );
    response
}

/// One exchange we sent the partner, as we recorded it.
#[derive(Serialize, ToSchema)]
struct PartnerExchangeAnswer {
    /// The reference the partner received with the exchange.
    reference: String,
    /// `requested`, `completed`, `failed` or `reversed`.
    status: &'static str,
    /// The membership at the partner.
    partner_member_ref: String,
    mileage: u64,
    mvp: u64,
}

/// One of the partner's exchanges, for its side of the reconciliation.
///
/// The answer, problems included, is signed with the partner's secret
/// (`X-Mileverse-Timestamp`, `X-Mileverse-Signature`; docs/partner-protocol.md).
#[utoipa::path(get, path = "/partner/v1/exchanges/{reference}", tag = "partner API",
    operation_id = "partner_exchange",
    security(("partner_signature" = [])),
    params(
        ("reference" = String, Path, description = "The exchange's reference, as the partner received it"),
        ("X-Mileverse-Key" = String, Header, description = "Our partner id"),
        ("X-Mileverse-Timestamp" = String, Header, description = "Unix seconds"),
        ("X-Mileverse-Nonce" = String, Header, description = "Once per request within the replay window")),
    responses(
        (status = 200, description = "The exchange", body = PartnerExchangeAnswer,
            headers(
                ("X-Mileverse-Timestamp" = String, description = "Unix seconds of the answer"),
                ("X-Mileverse-Signature" = String, description = "The answer's signature")))))]
async fn exchange(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(reference): Path<String>,
    body: SignedBytes,
) -> Response {
    let verified = match verify(&state, &method, &uri, &headers, &body) {
        Ok(verified) => verified,
        Err(problem) => return problem.into_response(),
    };
    let found = match platform(&state) {
        Ok(platform) => platform
            .partner_exchange(verified.partner_id, &reference)
            .await
            .map_err(Problem::from),
        Err(problem) => Err(problem),
    };
    match found {
        Ok(record) => {
            let body = PartnerExchangeAnswer {
                reference: platform::exchange::reference(record.id),
                status: record.status.as_str(),
                partner_member_ref: record.member_ref,
                mileage: record.mileage,
                mvp: record.mvp,
            };
            let bytes = serde_json::to_vec(&body).expect("JSON");
            signed(
                &verified,
                &method,
                &uri,
                StatusCode::OK,
                "application/json",
                bytes,
            )
        }
        Err(problem) => signed(
            &verified,
            &method,
            &uri,
            problem.status,
            "application/problem+json",
            problem.body_bytes(),
        ),
    }
}
