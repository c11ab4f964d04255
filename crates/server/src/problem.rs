//! Problem details (RFC 9457): the one error type of the HTTP surface.
//!
//! `type` is a stable URN per kind of problem (`urn:mileverse:problem:<slug>`), so clients
//! can branch on it; `detail` is for people. Internal errors are logged, not returned.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use platform::LedgerError;
use serde::Serialize;

/// One invalid field of one item in a batch.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct FieldError {
    /// Index of the item in the batch, if the error is about an item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    pub field: String,
    pub detail: String,
}

#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub slug: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

impl Problem {
    pub fn new(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Problem {
            status,
            slug,
            title,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            "The body is not valid JSON of the expected shape",
            detail,
        )
    }

    pub fn invalid_items(errors: Vec<FieldError>) -> Self {
        let detail = format!("{} invalid field(s); nothing was changed", errors.len());
        let mut problem = Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-fields",
            "Some items are invalid",
            detail,
        );
        problem.errors = errors;
        problem
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn unauthorized() -> Self {
        let detail = "send Authorization: Bearer <admin token>";
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Missing or wrong credentials",
            detail,
        )
    }
}

impl From<LedgerError> for Problem {
    fn from(error: LedgerError) -> Self {
        match error {
            LedgerError::BatchTooLarge { .. } => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "batch-too-large",
                "The batch holds too many items",
                error.to_string(),
            ),
            LedgerError::ProofRange(detail) => Problem::new(
                StatusCode::BAD_REQUEST,
                "proof-range",
                "The proof range is invalid",
                detail,
            ),
            LedgerError::Unavailable(reason) => {
                tracing::error!(%reason, "ledger unavailable");
                let detail = "the ledger is not accepting requests; retry later";
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Service unavailable",
                    detail,
                )
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = ProblemBody {
            kind: format!("urn:mileverse:problem:{}", self.slug),
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            errors: &self.errors,
        };
        let mut response = (self.status, Json(body)).into_response();
        let content_type = header::HeaderValue::from_static("application/problem+json");
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
        response
    }
}
