//! The pages' static files, embedded in the binary (nothing is fetched from another
//! origin, and the binary is the whole app).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Name, media type and bytes of every asset.
pub const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/app.css"),
    ),
    (
        "pay.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/pay.js"),
    ),
    (
        "till.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/till.js"),
    ),
    (
        "leave.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/leave.js"),
    ),
    (
        "verify.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/verify.js"),
    ),
    (
        "register.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/register.js"),
    ),
    (
        "offline.html",
        "text/html; charset=utf-8",
        include_bytes!("../assets/offline.html"),
    ),
    (
        "app.webmanifest",
        "application/manifest+json",
        include_bytes!("../assets/app.webmanifest"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../assets/icon.svg"),
    ),
];

/// How long a browser may keep an asset without asking (an hour: a new build's assets
/// reach browsers within the hour, without names that change per build).
const ASSET_MAX_AGE_S: u32 = 3600;

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/assets/{name}", get(asset))
        .route("/app/sw.js", get(service_worker))
}

/// The member app's service worker, at `/app/sw.js`; `Service-Worker-Allowed` lets its
/// scope be `/app` itself, not only what is under `/app/`. Never kept by the browser's HTTP
/// cache: a new build's worker replaces the old at once.
async fn service_worker() -> Response {
    let mut response = include_bytes!("../assets/sw.js").as_slice().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("service-worker-allowed", HeaderValue::from_static("/app"));
    response
}

async fn asset(Path(name): Path<String>) -> Response {
    let Some((_, media_type, bytes)) = ASSETS.iter().find(|(known, _, _)| *known == name) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let cache = format!("public, max-age={ASSET_MAX_AGE_S}");
    let mut response = (*bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_str(&cache).expect("digits are a header value"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
