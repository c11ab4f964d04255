//! The web app: the member app (`/app`), the till (`/till`), and the pages of merchants,
//! partners and operators, served by `mileverse serve` beside the HTTP API.
//!
//! Pages are rendered on the server (askama templates, escaped by default) and call the
//! HTTP API **in process**: every read and every action of a page is a request to the same
//! router that serves `/v1` and `/admin/v1` ([`api::Api`]), with the caller's address, so
//! a page can do nothing the API does not offer, and the API's checks, limits, idempotency
//! and audit apply to pages as they do to any client. What a page needs and the API lacks
//! is added to the API (and so to `/openapi.json`) first.
//!
//! The browser holds the API's session token in an `HttpOnly` cookie; JavaScript never sees
//! it. Every form carries a CSRF token bound to the browser ([`browser`]), checked before a
//! handler runs; every page leaves with a strict Content-Security-Policy (no inline script,
//! nothing from another origin). The little JavaScript there is (the pay screen's refresh,
//! the till's signed requests, the inclusion proof checked with WebCrypto) is in
//! `assets/`, embedded in the binary.

pub mod api;
pub mod assets;
pub mod browser;
pub mod chart;
pub mod console;
pub mod member;
pub mod merchant;
pub mod pages;
pub mod partner;
pub mod portal;
pub mod shop;
pub mod text;
pub mod till;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;

/// How the pages are served.
#[derive(Clone, Default)]
pub struct WebConfig {
    /// The dev SMS outbox when `serve --demo` runs without an SMS gateway: the sign-up and
    /// login pages then show the code that was "sent" (a demo on one's own machine only).
    pub demo_outbox: Option<Arc<ports::sms::DevOutbox>>,
    /// The demo's operators (`serve --demo`): the console's login page shows their current
    /// authenticator codes. Empty on any other server.
    pub demo_operators: Vec<DemoOperator>,
    /// The demo shop's terminal (`serve --demo`): `/shop` sells with it through
    /// `/checkout/v1`. None on any other server, where `/shop` is not found.
    pub demo_shop: Option<DemoShop>,
}

/// The terminal of the demo shop `serve --demo` made (a fresh one each start).
#[derive(Clone)]
pub struct DemoShop {
    pub terminal_id: u128,
    /// `X-Mileverse-Key` of its signed requests.
    pub key_id: String,
    pub secret: String,
    /// The server's public URL (`scheme://host[:port]`, no trailing `/`), the API's own:
    /// the shop's return URLs are under it, and the API answers `pay_url` under it.
    pub public_url: String,
}

impl DemoShop {
    /// The key its requests are signed with.
    pub fn key(&self) -> api::TerminalKey {
        api::TerminalKey {
            key_id: self.key_id.clone(),
            secret: self.secret.clone(),
        }
    }
}

/// An operator `serve --demo` made, with its authenticator secret.
#[derive(Clone)]
pub struct DemoOperator {
    pub login: String,
    pub totp_secret: Vec<u8>,
}

/// What every page handler reaches.
#[derive(Clone)]
pub struct WebState {
    pub api: api::Api,
    pub csrf: browser::CsrfKey,
    pub config: Arc<WebConfig>,
}

/// The Content-Security-Policy of every page: scripts, styles, images and connections from
/// this origin only, no inline script or style, no frames, forms that post only here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; manifest-src 'self'; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The app: the pages, with `api` (the router of the HTTP API) behind them for every other
/// path, served and called in process.
pub fn router(api: Router, config: WebConfig) -> Router {
    let state = WebState {
        api: api::Api::new(api.clone()),
        csrf: browser::CsrfKey::random(),
        config: Arc::new(config),
    };
    let mut pages = Router::new()
        .route("/", get(pages::root))
        .merge(member::routes())
        .merge(console::routes())
        .merge(merchant::routes())
        .merge(partner::routes())
        .merge(till::routes());
    // The demo shop exists on a demo server only: elsewhere its paths are no page at all.
    if state.config.demo_shop.is_some() {
        pages = pages.merge(shop::routes());
    }
    let pages = pages
        // Outermost first in the list below runs last: the CSRF check sees the browser's
        // cookie, which `browser::ensure_cookie` has made sure exists.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            browser::csrf_guard,
        ))
        .layer(axum::middleware::from_fn(browser::ensure_cookie))
        .layer(axum::middleware::from_fn(page_headers))
        .with_state(state);
    Router::new()
        .merge(pages)
        .merge(assets::routes())
        .fallback_service(api)
}

/// The headers of every page: the policy, no caching (pages show balances and codes), no
/// framing, no referrer to other origins.
async fn page_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}
