//! What a page knows of the browser: its cookies, its language and its address; and the
//! CSRF protection of every form.
//!
//! Cookies carry the `__Host-` prefix (the browser keeps them for this origin only, set
//! over a secure connection, for the whole path, and no other host can plant one) and are
//! `HttpOnly` and `Secure`. Browsers count `http://127.0.0.1` and `http://localhost` as
//! secure, so a developer's plain-HTTP server works; anything else must serve TLS.
//!
//! CSRF: each browser gets a random id in a `SameSite=Strict` cookie; every form carries
//! `csrf`, the HMAC of that id under a key of this process. [`csrf_guard`] refuses any
//! POST whose token does not match before a handler runs, so no form can forget it. A
//! restart makes a new key: a form left open across a restart is refused once, and the
//! page it is on, reloaded, works again.

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cookie::{Cookie, SameSite};
use hmac::{Hmac, Mac};
use server::access::PeerAddr;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::WebState;
use crate::api::Caller;
use crate::text::Lang;

/// The browser's random id, which CSRF tokens are bound to.
pub const BROWSER_COOKIE: &str = "__Host-mv-browser";
/// The member's API session token.
pub const SESSION_COOKIE: &str = "__Host-mv-session";
/// The token of the device this browser is, proven by SMS once (sent with every login).
pub const DEVICE_COOKIE: &str = "__Host-mv-device";
/// An operator's console session token (`SameSite=Strict`: the console is never entered
/// from another site).
pub const CONSOLE_COOKIE: &str = "__Host-mv-console";
/// A merchant user's portal session token (`SameSite=Strict`).
pub const MERCHANT_COOKIE: &str = "__Host-mv-merchant";
/// A partner portal user's session token (`SameSite=Strict`).
pub const PARTNER_COOKIE: &str = "__Host-mv-partner";
/// A link attempt waiting for the partner's redirect back.
pub const LINK_COOKIE: &str = "__Host-mv-link";
/// The language chosen (not a secret).
pub const LANG_COOKIE: &str = "mv-lang";
/// The form field of the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
/// Largest form body: the forms are a few short fields.
pub const FORM_BYTES_MAX: usize = 16 * 1024;
/// How long a device stays trusted by this browser (a year, in seconds).
const DEVICE_COOKIE_AGE_S: i64 = 365 * 24 * 3600;
/// Hex digits of a browser id (128 bits).
const BROWSER_ID_HEX_LEN: usize = 32;

/// The key CSRF tokens are made with (random per process).
#[derive(Clone)]
pub struct CsrfKey([u8; 32]);

impl CsrfKey {
    pub fn random() -> CsrfKey {
        CsrfKey(rand::random())
    }

    /// The token of the browser `id`.
    pub fn token(&self, browser_id: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(b"mileverse/web/csrf/");
        mac.update(browser_id.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn accepts(&self, browser_id: &str, token: &str) -> bool {
        let expected = self.token(browser_id);
        expected.as_bytes().ct_eq(token.as_bytes()).into()
    }
}

/// The cookies and facts of one request that pages use.
#[derive(Clone)]
pub struct Browser {
    pub lang: Lang,
    pub browser_id: String,
    pub session: Option<String>,
    pub device: Option<String>,
    pub link: Option<String>,
    pub console: Option<String>,
    pub merchant: Option<String>,
    pub partner: Option<String>,
    pub peer: Option<ConnectInfo<PeerAddr>>,
}

impl Browser {
    /// The API caller this browser is: its address, and its session when `signed_in`.
    pub fn caller(&self) -> Caller {
        Caller {
            peer: self.peer,
            bearer: self.session.clone(),
        }
    }

    /// The operator this browser is signed in as, for the console's calls.
    pub fn operator(&self) -> Caller {
        Caller {
            peer: self.peer,
            bearer: self.console.clone(),
        }
    }

    /// The caller without the session (sign-up and login).
    pub fn anonymous(&self) -> Caller {
        Caller {
            peer: self.peer,
            bearer: None,
        }
    }
}

fn cookie_value(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name && !cookie.value().is_empty())
        .map(|cookie| cookie.value().to_string())
}

impl<S: Send + Sync> FromRequestParts<S> for Browser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Browser, Self::Rejection> {
        let accept_language = parts
            .headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|value| value.to_str().ok());
        let lang = Lang::choose(cookie_value(parts, LANG_COOKIE).as_deref(), accept_language);
        Ok(Browser {
            lang,
            browser_id: cookie_value(parts, BROWSER_COOKIE).unwrap_or_default(),
            session: cookie_value(parts, SESSION_COOKIE),
            device: cookie_value(parts, DEVICE_COOKIE),
            link: cookie_value(parts, LINK_COOKIE),
            console: cookie_value(parts, CONSOLE_COOKIE),
            merchant: cookie_value(parts, MERCHANT_COOKIE),
            partner: cookie_value(parts, PARTNER_COOKIE),
            peer: parts.extensions.get::<ConnectInfo<PeerAddr>>().copied(),
        })
    }
}

/// A `__Host-` cookie: `Secure`, `HttpOnly`, path `/`, no domain.
pub fn host_cookie(name: &'static str, value: String, same_site: SameSite) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(same_site)
        .build()
}

/// The member's session cookie. `Lax`, not `Strict`: the partner's login page sends the
/// member back here with a top-level GET, which must arrive signed in; every change is a
/// POST with its CSRF token.
pub fn session_cookie(token: String) -> Cookie<'static> {
    host_cookie(SESSION_COOKIE, token, SameSite::Lax)
}

pub fn device_cookie(token: String) -> Cookie<'static> {
    let mut cookie = host_cookie(DEVICE_COOKIE, token, SameSite::Strict);
    cookie.set_max_age(cookie::time::Duration::seconds(DEVICE_COOKIE_AGE_S));
    cookie
}

pub fn link_cookie(link_id: String) -> Cookie<'static> {
    host_cookie(LINK_COOKIE, link_id, SameSite::Lax)
}

/// A cookie that removes `name`.
pub fn removal(name: &'static str) -> Cookie<'static> {
    let mut cookie = host_cookie(name, String::new(), SameSite::Lax);
    cookie.make_removal();
    cookie
}

/// Adds `cookie` to `response`.
pub fn set(response: &mut Response, cookie: &Cookie<'_>) {
    let value = HeaderValue::from_str(&cookie.to_string())
        .expect("a cookie of visible ASCII is a header value");
    response.headers_mut().append(header::SET_COOKIE, value);
}

/// Gives a browser without an id one: in this request (so the page's forms carry a token
/// for it) and in a cookie of the answer.
pub async fn ensure_cookie(mut request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let known = cookie_value(&parts, BROWSER_COOKIE).is_some_and(|id| {
        id.len() == BROWSER_ID_HEX_LEN && id.bytes().all(|b| b.is_ascii_hexdigit())
    });
    if known {
        request = Request::from_parts(parts, body);
        return next.run(request).await;
    }
    let id = hex::encode(rand::random::<[u8; BROWSER_ID_HEX_LEN / 2]>());
    let fresh = format!("{BROWSER_COOKIE}={id}");
    parts.headers.append(
        header::COOKIE,
        HeaderValue::from_str(&fresh).expect("hex is a header value"),
    );
    request = Request::from_parts(parts, body);
    let mut response = next.run(request).await;
    set(
        &mut response,
        &host_cookie(BROWSER_COOKIE, id, SameSite::Strict),
    );
    response
}

/// Refuses a POST whose form lacks this browser's CSRF token (or is no form), before any
/// handler sees it.
pub async fn csrf_guard(State(state): State<WebState>, request: Request, next: Next) -> Response {
    if request.method() == Method::GET || request.method() == Method::HEAD {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, FORM_BYTES_MAX).await else {
        return refused(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.");
    };
    let browser = match Browser::from_request_parts(&mut parts, &()).await {
        Ok(browser) => browser,
        Err(never) => match never {},
    };
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    let token = fields
        .iter()
        .find(|(name, _)| name == CSRF_FIELD)
        .map(|(_, value)| value.as_str());
    let fresh = token.is_some_and(|token| state.csrf.accepts(&browser.browser_id, token));
    if !fresh {
        return refused(
            StatusCode::FORBIDDEN,
            "This form has expired or did not come from this site. Reload the page and try again.",
        );
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn refused(status: StatusCode, message: &'static str) -> Response {
    let page = crate::pages::Refusal { message };
    (status, crate::pages::html(&page)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_bound_to_its_browser_and_key() {
        let key = CsrfKey::random();
        let token = key.token("a");
        assert!(key.accepts("a", &token));
        assert!(!key.accepts("b", &token));
        assert!(!CsrfKey::random().accepts("a", &token));
        assert!(!key.accepts("a", ""));
        assert!(!key.accepts("a", &token[..token.len() - 1]));
    }

    #[test]
    fn cookies_are_host_only_secure_and_hidden_from_scripts() {
        let text = session_cookie("t".into()).to_string();
        for part in [
            "__Host-mv-session=t",
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/",
        ] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
        assert!(!text.contains("Domain"));
        let device = device_cookie("d".into()).to_string();
        assert!(device.contains("SameSite=Strict") && device.contains("Max-Age="));
    }
}
