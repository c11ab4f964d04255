//! What every answer and every request body of the HTTP surface obey, whatever the route
//! (issue 13 item 8): problem+json for unknown routes (404) and methods (405), 415 for a
//! body that is not JSON, and the headers that keep answers out of caches and browsers'
//! guesses (`Cache-Control: no-store`: tokens, secrets, balances and pay codes travel in
//! answers; `X-Content-Type-Options: nosniff`).

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::problem::Problem;

/// The slug of a path no route serves (distinct from a handler's `not-found`, which names a
/// missing record of a route that exists).
pub const NO_ROUTE_SLUG: &str = "no-such-route";
/// The slug of a method the path's route does not take.
pub const NO_METHOD_SLUG: &str = "method-not-allowed";

/// The fallback of the router: no route has this path.
pub async fn no_route() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        NO_ROUTE_SLUG,
        "No such route",
        "no route has this path; see /openapi.json or the docs",
    )
}

/// The fallback of a route's methods.
pub async fn no_method() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        NO_METHOD_SLUG,
        "Method not allowed",
        "this route does not take this method; the Allow header lists those it takes",
    )
}

/// Whether a content type is JSON (`application/json` or `application/*+json`, any
/// parameters).
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Whether the request carries a body (a length above zero, or a chunked one).
fn has_body(request: &Request) -> bool {
    let headers = request.headers();
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    match length {
        Some(length) => length > 0,
        None => headers.contains_key(header::TRANSFER_ENCODING),
    }
}

/// The route layer closest to the handlers (after the credentials are checked, so a caller
/// without them learns nothing of a route): refuses a non-JSON body before it is read.
pub async fn json_only(request: Request, next: Next) -> Response {
    let takes_body = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if takes_body && has_body(&request) {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        if !is_json(content_type) {
            let problem = Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "The body must be JSON",
                "send Content-Type: application/json",
            );
            return problem.into_response();
        }
    }
    next.run(request).await
}

/// The outermost layer: every answer, the router's own refusals included, leaves with the
/// headers.
pub async fn secure_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::is_json;

    #[test]
    fn json_content_types() {
        for yes in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/merge-patch+json",
            "application/problem+json",
        ] {
            assert!(is_json(yes), "{yes}");
        }
        for no in [
            "",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonx",
            "text/json",
        ] {
            assert!(!is_json(no), "{no}");
        }
    }
}
