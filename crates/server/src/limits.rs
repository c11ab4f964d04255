//! Abuse limits at the door (issue 13 item 7): the per-IP limits, counted before a route
//! runs. The per-member limit is counted where a session is checked
//! (`members_api::member`), the per-terminal one where a VAN request's signature is
//! (`van_api`), the per-phone ones in the members context's tables (codes an hour, delays
//! after wrong PINs). The counters are the platform's (`platform::limits`).
//!
//! The address is the TCP peer's: behind a reverse proxy every request would share the
//! proxy's, so the platform is meant to terminate TLS itself (`serve --tls-cert`).

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use platform::limits::{
    LOGINS_PER_IP, PUBLIC_REQUESTS_PER_IP, RateLimit, SIGN_UPS_PER_IP, VERIFICATIONS_PER_IP,
};

use crate::AppState;
use crate::access::PeerAddr;
use crate::problem::Problem;

/// The per-IP limits a request counts against: every request without credentials, and the
/// costly public routes on top.
fn limits_of(method: &Method, path: &str, credentials: bool) -> Vec<RateLimit> {
    let mut limits = Vec::with_capacity(2);
    if !credentials {
        limits.push(PUBLIC_REQUESTS_PER_IP);
    }
    if *method == Method::POST {
        match path {
            "/v1/verifications" => limits.push(VERIFICATIONS_PER_IP),
            "/v1/members" => limits.push(SIGN_UPS_PER_IP),
            "/v1/sessions"
            | "/admin/v1/sessions"
            | "/merchant/v1/sessions"
            | "/partner-portal/v1/sessions" => limits.push(LOGINS_PER_IP),
            _ => {}
        }
    }
    limits
}

/// Whether the request names credentials: a bearer token, or a signature (the VAN and
/// partner routes, whose callers send many members' or terminals' requests from one
/// address and are limited per terminal or by their signatures).
fn has_credentials(request: &Request) -> bool {
    let headers = request.headers();
    headers.contains_key(header::AUTHORIZATION) || headers.contains_key("x-mileverse-signature")
}

/// The middleware (a route layer, so the matched path is known).
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (Some(platform), Some(peer)) = (
        state.platform.as_ref(),
        request.extensions().get::<ConnectInfo<PeerAddr>>(),
    ) else {
        return next.run(request).await;
    };
    let address = match peer.0.0.ip() {
        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        std::net::IpAddr::V6(v6) => v6.octets(),
    };
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("", MatchedPath::as_str);
    for limit in limits_of(request.method(), path, has_credentials(&request)) {
        if let Err(error) = platform.rate_limit(limit, &address) {
            return Problem::from(error).into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_routes_count_twice_and_credentials_once_or_not() {
        let names = |method: Method, path: &str, credentials: bool| -> Vec<&str> {
            limits_of(&method, path, credentials)
                .into_iter()
                .map(|limit| limit.name)
                .collect()
        };
        let cases: &[(Method, &str, bool, &[&str])] = &[
            (
                Method::POST,
                "/v1/verifications",
                false,
                &["public-requests-per-ip", "verifications-per-ip"],
            ),
            (
                Method::POST,
                "/v1/members",
                false,
                &["public-requests-per-ip", "sign-ups-per-ip"],
            ),
            (
                Method::POST,
                "/admin/v1/sessions",
                false,
                &["public-requests-per-ip", "logins-per-ip"],
            ),
            (
                Method::GET,
                "/v1/partners",
                false,
                &["public-requests-per-ip"],
            ),
            (Method::GET, "/v1/me", true, &[]),
            (Method::POST, "/van/v1/authorizations", true, &[]),
        ];
        for (method, path, credentials, expected) in cases {
            assert_eq!(
                names(method.clone(), path, *credentials),
                *expected,
                "{method} {path}"
            );
        }
    }
}
