//! HTTP glue for Mileverse: routes, JSON shapes and problem+json errors.
//!
//! Only this crate knows HTTP. Handlers parse and check input, call the platform, and shape
//! the answer; no business rule lives here. Every error leaves through [`problem::Problem`]
//! (RFC 9457 problem details with a stable `type`), which never carries internal detail.
//! [`observability`] times and counts every request by route, gives it a request id, and
//! renders `GET /metrics`.

pub mod access;
pub mod admin_api;
pub mod ads_api;
pub mod assets_api;
pub mod chain_api;
pub mod checkout_api;
pub mod codes_svg;
pub mod creators_api;
pub mod escrow_api;
pub mod health_api;
pub mod http_policy;
pub mod json;
pub mod ledger_api;
pub mod ledger_query_api;
pub mod limits;
pub mod members_api;
pub mod merchant_portal_api;
pub mod merchants_api;
pub mod observability;
pub mod openapi;
pub mod operators_api;
pub mod partner_api;
pub mod partner_portal_api;
pub mod paycodes_api;
pub mod portal_api;
pub mod problem;
pub mod promotions_api;
pub mod shapes;
pub mod transfers_api;
pub mod van_api;
pub mod vouchers_api;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use journal::LedgerService;
use platform::Platform;
use platform::audit::AuditLog;
use platform::operators::{OperatorError, Operators, OperatorsConfig};
use ports::signing::ReplayGuard;
use ports::sms::DevOutbox;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Largest request body accepted: a full batch of 8,190 transfers in JSON with room to spare.
pub const REQUEST_BODY_BYTES_MAX: usize = 8 * 1024 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub ledger: Arc<LedgerService>,
    /// Members, partners, exchanges. `None` serves the raw ledger only (ledger tests);
    /// the business routes then answer 503.
    pub platform: Option<Arc<Platform>>,
    /// Who may call the `/admin` routes: operators, their keys, the bootstrap token.
    pub operators: Arc<Operators>,
    /// The operators' audit trail; `None` only on a ledger-only server (tests), which
    /// keeps none.
    pub audit: Option<Arc<AuditLog>>,
    /// The dev SMS outbox, when no real SMS gateway is configured.
    pub outbox: Option<Arc<DevOutbox>>,
    /// Nonces of signed partner requests seen within the replay window.
    pub replay_guard: Arc<ReplayGuard>,
    /// Durable blocks for followers (`GET /v1/ledger/blocks`); `None` turns the route off.
    pub feed: Option<Arc<journal::feed::BlockFeed>>,
}

impl AppState {
    /// A server for the raw ledger only, with `admin_token` as its bootstrap token and no
    /// audit log (tests and benchmarks).
    pub fn ledger_only(
        ledger: Arc<LedgerService>,
        admin_token: Option<&str>,
    ) -> Result<AppState, OperatorError> {
        let keys = platform::crypto::DataKeys::from_master(&rand::random());
        let operators = Operators::open(
            ledger.clone(),
            keys,
            OperatorsConfig::default(),
            admin_token,
        )?;
        Ok(AppState {
            ledger,
            platform: None,
            operators: Arc::new(operators),
            audit: None,
            outbox: None,
            replay_guard: Arc::new(ReplayGuard::new()),
            feed: None,
        })
    }
}

/// Every route with its entry in the OpenAPI document, before the layers every route
/// shares. Routes register only through `routes!`, so none escapes the document.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::frame())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(observability::metrics_handler))
        .routes(routes!(openapi_json))
        .merge(ledger_api::routes())
        .merge(ledger_query_api::routes())
        .merge(members_api::routes())
        .merge(admin_api::routes())
        .merge(partner_api::routes())
        .merge(chain_api::routes())
        .merge(merchants_api::routes())
        .merge(merchant_portal_api::routes())
        .merge(ads_api::routes())
        .merge(health_api::routes())
        .merge(transfers_api::routes())
        .merge(assets_api::routes())
        .merge(checkout_api::routes())
        .merge(promotions_api::routes())
        .merge(escrow_api::routes())
        .merge(escrow_api::admin_routes())
        .merge(escrow_api::game_routes())
        .merge(creators_api::routes())
        .merge(creators_api::admin_routes())
        .merge(creators_api::media_routes())
        .merge(partner_portal_api::routes())
        .merge(van_api::routes())
        .merge(paycodes_api::routes())
        .merge(vouchers_api::routes())
        .merge(operators_api::routes())
}

/// The OpenAPI 3.1 document of the whole HTTP surface (`GET /openapi.json`,
/// `mileverse openapi`).
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = api_routes().split_for_parts().1;
    openapi::finish(&mut document);
    document
}

/// The document as served: built once per process, from the code alone.
static DOCUMENT_JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    // Installed before the first request: what is recorded before the recorder exists is lost.
    observability::exporter();
    let (routes, mut document) = api_routes().split_for_parts();
    DOCUMENT_JSON.get_or_init(|| {
        openapi::finish(&mut document);
        document.to_json().expect("the OpenAPI document serializes")
    });
    routes
        .route_layer(axum::middleware::from_fn(http_policy::json_only))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::guard,
        ))
        // Outermost of the route layers: a limited request is refused before anything,
        // even its authentication, costs work.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::guard,
        ))
        .fallback(http_policy::no_route)
        .method_not_allowed_fallback(http_policy::no_method)
        .layer(axum::middleware::from_fn(http_policy::secure_headers))
        .layer(DefaultBodyLimit::max(REQUEST_BODY_BYTES_MAX))
        // `layer` (not `route_layer`) so the fallback is observed too; it runs after routing,
        // where the matched route's template is known.
        .layer(axum::middleware::from_fn(observability::observe))
        .with_state(state)
}

/// Serves on `listener` until `shutdown` resolves (then lets the open requests finish):
/// plain HTTP, or HTTPS with `tls`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<tls::ServerTls>,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_app(listener, tls, router(state), shutdown).await
}

/// [`serve`] of any app built on [`router`] (the web pages in front of it, say).
pub async fn serve_app(
    listener: tokio::net::TcpListener,
    tls: Option<tls::ServerTls>,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer address reaches the handlers (and the audit log) as `ConnectInfo`.
    let app = app.into_make_service_with_connect_info::<access::PeerAddr>();
    match tls {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        // The same `axum::serve` over a TLS listener (see `tls::TlsListener` for why not
        // axum-server or a loop of our own): HTTP/1.1 and h2 by ALPN, the same graceful
        // shutdown, each handshake bounded by the certificate's `handshake_timeout_ms`.
        Some(tls) => {
            axum::serve(tls.listener(listener)?, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process answers", body = String, content_type = "text/plain")))]
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the ledger accepts writes.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "The ledger accepts writes", body = String, content_type = "text/plain"),
    (status = 503, description = "Not ready, and why", body = String, content_type = "text/plain")))]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let failure = match &state.platform {
        Some(platform) => platform.failure(),
        None => state.ledger.failure().map(|failure| failure.to_string()),
    };
    match failure {
        None => (StatusCode::OK, "ready\n".to_string()),
        Some(failure) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {failure}\n"),
        ),
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json() -> impl IntoResponse {
    let document = DOCUMENT_JSON.get_or_init(|| {
        document()
            .to_json()
            .expect("the OpenAPI document serializes")
    });
    // Built once per process: every request answers the same bytes, never a copy.
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document.as_str(),
    )
}
