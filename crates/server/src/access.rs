//! Who may call which admin route, and the audit trail of every call.
//!
//! Every `/admin` route is named in [`ADMIN_ROUTES`] with what it needs: nothing (logging
//! in), any authenticated identity, or one permission (`platform::operators::Permission`).
//! [`guard`] runs in front of every route: it authenticates the bearer token (a session, an
//! API key or the bootstrap token), checks the permission, hands the [`Actor`] to the
//! handler as a request extension, and writes the audit log:
//! - a read: one `read` entry after it ran;
//! - a change: an `intent` entry, durable BEFORE the handler runs (so a crash can never
//!   leave a change without a trail), then an `outcome` entry with the status, the state
//!   before (where the handler names it, [`AuditBefore`]) and the answer;
//! - a refusal for want of a permission: a `denied` entry; nothing runs.
//!
//! An admin route missing from the table is refused (default deny), and a test checks that
//! the table and the router name the same routes.

use std::net::SocketAddr;

use axum::body::{Body, to_bytes};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::IncomingStream;
use platform::audit::{AuditKind, AuditRecord, detail_of};
use platform::operators::{Actor, OperatorError, Permission};

use crate::problem::Problem;
use crate::{AppState, REQUEST_BODY_BYTES_MAX};

/// The largest login body read (a login, a password and a code).
pub const LOGIN_BODY_BYTES_MAX: usize = 4 * 1024;

/// What a route needs of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// No credential (logging in).
    Public,
    /// Any authenticated identity (its own session, keys and identity).
    Authenticated,
    Permission(Permission),
}

use Permission as P;
use Requirement::{Authenticated, Public};

const fn needs(permission: Permission) -> Requirement {
    Requirement::Permission(permission)
}

/// Every admin route: method, path as the router names it, what it needs.
pub const ADMIN_ROUTES: &[(&str, &str, Requirement)] = &[
    ("POST", "/admin/v1/sessions", Public),
    ("DELETE", "/admin/v1/sessions/current", Authenticated),
    ("GET", "/admin/v1/me", Authenticated),
    ("POST", "/admin/v1/me/password", Authenticated),
    ("GET", "/admin/v1/permissions", Authenticated),
    ("GET", "/admin/v1/api-keys", Authenticated),
    ("POST", "/admin/v1/api-keys", Authenticated),
    ("DELETE", "/admin/v1/api-keys/{id}", Authenticated),
    ("GET", "/admin/v1/operators", needs(P::OperatorsRead)),
    ("POST", "/admin/v1/operators", needs(P::OperatorsManage)),
    (
        "PATCH",
        "/admin/v1/operators/{id}",
        needs(P::OperatorsManage),
    ),
    ("GET", "/admin/v1/audit-log", needs(P::AuditRead)),
    ("POST", "/admin/v1/ledger/accounts", needs(P::LedgerWrite)),
    ("POST", "/admin/v1/ledger/transfers", needs(P::LedgerWrite)),
    ("GET", "/admin/v1/ledger/accounts", needs(P::LedgerRead)),
    ("GET", "/admin/v1/ledger/transfers", needs(P::LedgerRead)),
    (
        "GET",
        "/admin/v1/ledger/accounts/{id}",
        needs(P::LedgerRead),
    ),
    (
        "GET",
        "/admin/v1/ledger/transfers/{id}",
        needs(P::LedgerRead),
    ),
    (
        "GET",
        "/admin/v1/ledger/accounts/{id}/transfers",
        needs(P::LedgerRead),
    ),
    (
        "GET",
        "/admin/v1/ledger/accounts/{id}/balances",
        needs(P::LedgerRead),
    ),
    (
        "POST",
        "/admin/v1/ledger/accounts/lookup",
        needs(P::LedgerRead),
    ),
    (
        "POST",
        "/admin/v1/ledger/verifications",
        needs(P::LedgerRead),
    ),
    (
        "GET",
        "/admin/v1/ledger/verifications/latest",
        needs(P::LedgerRead),
    ),
    (
        "GET",
        "/admin/v1/partners/{id}/reconciliations",
        needs(P::PartnersRead),
    ),
    ("GET", "/admin/v1/reports/volume", needs(P::ReportsRead)),
    (
        "PUT",
        "/admin/v1/prices/{asset}",
        needs(P::ConversionsWrite),
    ),
    (
        "POST",
        "/admin/v1/treasury/deposits",
        needs(P::ConversionsWrite),
    ),
    ("POST", "/admin/v1/promotions", needs(P::AdsWrite)),
    ("GET", "/admin/v1/promotions", needs(P::AdsRead)),
    ("GET", "/admin/v1/promotions/{id}", needs(P::AdsRead)),
    (
        "POST",
        "/admin/v1/promotions/{id}/fundings",
        needs(P::AdsWrite),
    ),
    ("POST", "/admin/v1/promotions/{id}/end", needs(P::AdsWrite)),
    ("GET", "/admin/v1/disputes", needs(P::DisputesRead)),
    (
        "POST",
        "/admin/v1/disputes/{id}/resolution",
        needs(P::DisputesResolve),
    ),
    ("POST", "/admin/v1/games", needs(P::GamesWrite)),
    ("POST", "/admin/v1/media-platforms", needs(P::CreatorsWrite)),
    ("GET", "/admin/v1/media-platforms", needs(P::CreatorsRead)),
    ("POST", "/admin/v1/creator-pools", needs(P::CreatorsWrite)),
    ("GET", "/admin/v1/creator-pools", needs(P::CreatorsRead)),
    (
        "GET",
        "/admin/v1/creator-pools/{id}",
        needs(P::CreatorsRead),
    ),
    (
        "POST",
        "/admin/v1/creator-pools/{id}/distribution",
        needs(P::CreatorsWrite),
    ),
    (
        "POST",
        "/admin/v1/games/{id}/fundings",
        needs(P::GamesWrite),
    ),
    ("POST", "/admin/v1/games/{id}/key", needs(P::GamesWrite)),
    (
        "POST",
        "/admin/v1/ledger/transfers/lookup",
        needs(P::LedgerRead),
    ),
    ("GET", "/admin/v1/partners", needs(P::PartnersRead)),
    ("POST", "/admin/v1/partners", needs(P::PartnersWrite)),
    ("GET", "/admin/v1/partners/{id}", needs(P::PartnersRead)),
    ("PATCH", "/admin/v1/partners/{id}", needs(P::PartnersWrite)),
    (
        "POST",
        "/admin/v1/partners/{id}/rates",
        needs(P::PartnersWrite),
    ),
    (
        "POST",
        "/admin/v1/partners/{id}/payments",
        needs(P::PartnersSettle),
    ),
    (
        "POST",
        "/admin/v1/partners/{id}/prepayments",
        needs(P::PartnersSettle),
    ),
    (
        "POST",
        "/admin/v1/partners/{id}/reconciliation",
        needs(P::PartnersSettle),
    ),
    ("GET", "/admin/v1/exchanges", needs(P::ExchangesRead)),
    (
        "GET",
        "/admin/v1/reports/exchanges",
        needs(P::ExchangesRead),
    ),
    (
        "GET",
        "/admin/v1/reports/exchanges.csv",
        needs(P::ReportsRead),
    ),
    (
        "POST",
        "/admin/v1/members/{id}/unlock",
        needs(P::MembersUnlock),
    ),
    ("POST", "/admin/v1/members/{id}/lock", needs(P::MembersLock)),
    ("GET", "/admin/v1/members", needs(P::MembersRead)),
    (
        "GET",
        "/admin/v1/members/{id}/transactions",
        needs(P::MembersRead),
    ),
    ("POST", "/admin/v1/ad-campaigns", needs(P::AdsWrite)),
    ("POST", "/admin/v1/partner-users", needs(P::PartnersWrite)),
    ("GET", "/admin/v1/ad-campaigns", needs(P::AdsRead)),
    ("GET", "/admin/v1/ad-campaigns/{id}", needs(P::AdsRead)),
    ("POST", "/admin/v1/merchant-users", needs(P::MerchantsWrite)),
    ("GET", "/admin/v1/sms-outbox", needs(P::SmsRead)),
    (
        "GET",
        "/admin/v1/conversion-settings",
        needs(P::ConversionsRead),
    ),
    (
        "PUT",
        "/admin/v1/conversion-settings",
        needs(P::ConversionsWrite),
    ),
    ("GET", "/admin/v1/conversions", needs(P::ConversionsRead)),
    ("GET", "/admin/v1/merchants", needs(P::MerchantsRead)),
    ("POST", "/admin/v1/merchants", needs(P::MerchantsWrite)),
    ("GET", "/admin/v1/merchants/{id}", needs(P::MerchantsRead)),
    (
        "PATCH",
        "/admin/v1/merchants/{id}",
        needs(P::MerchantsWrite),
    ),
    (
        "GET",
        "/admin/v1/merchants/{id}/terminals",
        needs(P::MerchantsRead),
    ),
    (
        "POST",
        "/admin/v1/merchants/{id}/terminals",
        needs(P::MerchantsWrite),
    ),
    ("POST", "/admin/v1/vans", needs(P::MerchantsWrite)),
    (
        "PUT",
        "/admin/v1/merchants/{id}/van",
        needs(P::MerchantsWrite),
    ),
    (
        "PATCH",
        "/admin/v1/merchants/{id}/terminals/{terminal_id}",
        needs(P::MerchantsWrite),
    ),
    ("GET", "/admin/v1/settlements", needs(P::SettlementsRead)),
    ("POST", "/admin/v1/settlements", needs(P::SettlementsWrite)),
    (
        "POST",
        "/admin/v1/settlements/{id}/paid",
        needs(P::SettlementsWrite),
    ),
    (
        "GET",
        "/admin/v1/reports/payments.csv",
        needs(P::ReportsRead),
    ),
    (
        "GET",
        "/admin/v1/reports/settlements.csv",
        needs(P::ReportsRead),
    ),
    ("GET", "/admin/v1/voucher-products", needs(P::VouchersRead)),
    (
        "POST",
        "/admin/v1/voucher-products",
        needs(P::VouchersWrite),
    ),
    (
        "PATCH",
        "/admin/v1/voucher-products/{id}",
        needs(P::VouchersWrite),
    ),
];

/// What the route `path` (as the router names it) needs for `method`; `None`: not in the
/// table (refused).
pub fn requirement(method: &Method, path: &str) -> Option<Requirement> {
    ADMIN_ROUTES
        .iter()
        .find(|(m, p, _)| *p == path && *m == method.as_str())
        .map(|(_, _, requirement)| *requirement)
}

/// The state a change found, as its handler names it (put in the response's extensions);
/// the audit entry of the outcome records it as `before`.
#[derive(Clone, Debug)]
pub struct AuditBefore(pub serde_json::Value);

/// The bearer token of a request.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// The peer address of a connection, plain or TLS (`ConnectInfo<PeerAddr>`).
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, tokio::net::TcpListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, tokio::net::TcpListener>) -> PeerAddr {
        PeerAddr(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, tls::TlsListener<tokio::net::TcpListener>>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, tls::TlsListener<tokio::net::TcpListener>>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

/// The peer address of a request, as the audit log records it.
pub fn source_of(request: &Request) -> String {
    request
        .extensions()
        .get::<ConnectInfo<PeerAddr>>()
        .map_or_else(String::new, |info| info.0.0.to_string())
}

/// The middleware in front of every route (see the module's documentation).
pub async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(path) = request
        .extensions()
        .get::<MatchedPath>()
        .map(|matched| matched.as_str().to_string())
        .filter(|path| path.starts_with("/admin/"))
    else {
        return next.run(request).await;
    };
    let method = request.method().clone();
    let Some(requirement) = requirement(&method, &path) else {
        tracing::error!(%method, %path, "admin route without a requirement: refused");
        return Problem::from(OperatorError::Forbidden("(none defined)")).into_response();
    };
    if requirement == Public {
        return next.run(request).await;
    }
    let actor = match bearer(request.headers()) {
        Some(token) => state.operators.authenticate(token).await,
        None => Err(OperatorError::Unauthenticated),
    };
    let actor = match actor {
        Ok(actor) => actor,
        Err(error) => return Problem::from(error).into_response(),
    };
    let record = AuditRecord {
        actor: actor.name(),
        role: actor.role_name().to_string(),
        action: format!("{method} {path}"),
        target: request.uri().path().to_string(),
        source: source_of(&request),
        ..AuditRecord::default()
    };
    if let Requirement::Permission(permission) = requirement
        && let Err(refusal) = actor.may(permission)
    {
        if let Err(error) = audit(&state, AuditKind::Denied, &record).await {
            return error.into_response();
        }
        return Problem::from(refusal).into_response();
    }
    request.extensions_mut().insert::<Actor>(actor);
    if method == Method::GET || method == Method::HEAD {
        let response = next.run(request).await;
        let record = AuditRecord {
            status: Some(response.status().as_u16()),
            ..record
        };
        if let Err(error) = audit(&state, AuditKind::Read, &record).await {
            return error.into_response();
        }
        return response;
    }
    audited_change(&state, record, request, next).await
}

/// A change: its intent durable first, then the handler, then its outcome.
async fn audited_change(
    state: &AppState,
    record: AuditRecord,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, REQUEST_BODY_BYTES_MAX).await else {
        return Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "The body is too large",
            format!("at most {REQUEST_BODY_BYTES_MAX} bytes"),
        )
        .into_response();
    };
    let intent = AuditRecord {
        request: detail_of(&body),
        ..record.clone()
    };
    let intent_seq = match audit(state, AuditKind::Intent, &intent).await {
        Ok(seq) => seq,
        Err(error) => return error.into_response(),
    };
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let (parts, body) = response.into_parts();
    // Admin answers to changes are small JSON documents; a body that fails to arrive is
    // recorded as empty, and the client sees the failure too.
    let body = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let outcome = AuditRecord {
        status: Some(parts.status.as_u16()),
        before: parts.extensions.get::<AuditBefore>().map(|b| b.0.clone()),
        after: detail_of(&body),
        intent_seq,
        ..record
    };
    if let Err(error) = audit(state, AuditKind::Outcome, &outcome).await {
        // The change ran and its intent is on the trail; its outcome is not. Say so loudly:
        // an auditor sees an intent without an outcome.
        tracing::error!(?error, "audit outcome not written");
    }
    Response::from_parts(parts, Body::from(body))
}

/// Appends an entry, if this server keeps an audit log; answers its number.
async fn audit(
    state: &AppState,
    kind: AuditKind,
    record: &AuditRecord,
) -> Result<Option<u64>, Problem> {
    match &state.audit {
        Some(log) => Ok(Some(log.append(kind, record).await?)),
        None => Ok(None),
    }
}
