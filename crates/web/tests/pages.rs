//! The pages' protections, through the real router: the cookie every browser gets, the
//! policy every page carries, and the CSRF check every form passes before its handler.
//! The API behind the pages is a router that answers 404 (these pages call none of it).

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

fn app() -> Router {
    let api = Router::new().fallback(|| async { (StatusCode::NOT_FOUND, "api") });
    web::router(api, web::WebConfig::default())
}

/// Sends `request` to `app` (one app per test: its CSRF key is its own).
async fn send(app: &Router, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::empty()).unwrap()
}

fn post_form(path: &str, cookie: Option<&str>, form: &str) -> Request<Body> {
    let mut request =
        Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::from(form.to_string())).unwrap()
}

/// The browser cookie a first visit sets, and the CSRF token its page carries.
async fn first_visit(app: &Router) -> (String, String) {
    let (status, headers, body) = send(app, get("/app/sign-up", None)).await;
    assert_eq!(status, StatusCode::OK);
    let set_cookie = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().to_string())
        .find(|value| value.starts_with("__Host-mv-browser="))
        .expect("a first visit gets the browser cookie");
    for part in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(part), "{set_cookie} lacks {part}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let marker = "name=\"csrf\" value=\"";
    let start = body
        .find(marker)
        .expect("the page has a form with its token")
        + marker.len();
    let token = body[start..start + 64].to_string();
    (cookie, token)
}

#[tokio::test]
async fn every_page_carries_the_policy_and_no_cache() {
    let app = app();
    let (status, headers, body) = send(&app, get("/app", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_SECURITY_POLICY],
        web::CONTENT_SECURITY_POLICY
    );
    assert!(web::CONTENT_SECURITY_POLICY.contains("script-src 'self';"));
    assert!(!web::CONTENT_SECURITY_POLICY.contains("unsafe"));
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    assert!(!body.contains("<script>"), "no inline script");
    assert!(!body.contains("style="), "no inline style");
}

#[tokio::test]
async fn a_form_without_its_token_is_refused_before_its_handler() {
    let app = app();
    let (cookie, token) = first_visit(&app).await;
    let cases = [
        (Some(cookie.as_str()), String::new(), StatusCode::FORBIDDEN),
        (
            Some(cookie.as_str()),
            "csrf=".to_string(),
            StatusCode::FORBIDDEN,
        ),
        (
            Some(cookie.as_str()),
            format!("csrf={}", "0".repeat(64)),
            StatusCode::FORBIDDEN,
        ),
        // Another browser's token: bound to the cookie, not only to this process.
        (
            Some("__Host-mv-browser=00000000000000000000000000000000"),
            format!("csrf={token}"),
            StatusCode::FORBIDDEN,
        ),
        (None, format!("csrf={token}"), StatusCode::FORBIDDEN),
        // The right token: the handler runs (logging out of no session goes home).
        (
            Some(cookie.as_str()),
            format!("csrf={token}"),
            StatusCode::SEE_OTHER,
        ),
    ];
    for (cookie, form, expected) in cases {
        let (status, _, _) = send(&app, post_form("/app/logout", cookie, &form)).await;
        assert_eq!(status, expected, "{cookie:?} {form}");
    }
}

#[tokio::test]
async fn a_form_at_its_size_limit_is_read_and_one_past_it_refused() {
    let app = app();
    let (cookie, token) = first_visit(&app).await;
    let head = format!("csrf={token}&pad=");
    let fits = format!(
        "{head}{}",
        "a".repeat(web::browser::FORM_BYTES_MAX - head.len())
    );
    let (status, _, _) = send(&app, post_form("/app/logout", Some(&cookie), &fits)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let over = format!("{fits}a");
    let (status, _, _) = send(&app, post_form("/app/logout", Some(&cookie), &over)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn assets_are_embedded_and_other_paths_reach_the_api() {
    let app = app();
    for (name, media_type, _) in web::assets::ASSETS {
        let (status, headers, body) = send(&app, get(&format!("/assets/{name}"), None)).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert_eq!(headers[header::CONTENT_TYPE], *media_type);
        assert!(!body.is_empty());
    }
    let (status, _, _) = send(&app, get("/assets/nothing.js", None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = send(&app, get("/v1/anything", None)).await;
    assert_eq!((status, body.as_str()), (StatusCode::NOT_FOUND, "api"));
}

#[tokio::test]
async fn pages_speak_the_chosen_language() {
    let app = app();
    let korean = get("/app", None);
    let (_, _, body) = send(&app, korean).await;
    assert!(body.contains("<html lang=\"ko\">") && body.contains("가입하기"));
    let english = Request::get("/app")
        .header(header::ACCEPT_LANGUAGE, "en-US,en;q=0.9")
        .body(Body::empty())
        .unwrap();
    let (_, _, body) = send(&app, english).await;
    assert!(body.contains("<html lang=\"en\">") && body.contains("Sign up"));
    let chosen = get("/app", Some("mv-lang=en"));
    let (_, _, body) = send(&app, chosen).await;
    assert!(body.contains("Sign up"));
}
