//! What every page shares: the frame around its content, rendering, errors, and numbers
//! written for people.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::WebState;
use crate::api::ApiProblem;
use crate::browser::{self, Browser};
use crate::text::Text;

/// The frame of a page: its language, title, messages and the form token.
pub struct Frame {
    pub t: &'static Text,
    pub lang: &'static str,
    pub other_lang: &'static str,
    pub title: String,
    /// The CSRF token every form of the page carries.
    pub csrf: String,
    /// Where the header's logout form posts, when someone is signed in.
    pub logout: Option<&'static str>,
    /// Where the brand in the header leads.
    pub home: &'static str,
    /// The navigation: the member app's tabs, or the console's sections.
    pub nav: Vec<NavLink>,
    /// `tabs` (the member app's bottom bar) or `sections` (the console's).
    pub nav_class: &'static str,
    pub notice: Option<String>,
    pub error: Option<String>,
}

/// A link of the navigation.
pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// The member app's tabs: href, and the label of each.
fn member_tabs(t: &Text) -> [(&'static str, &'static str, &'static str); 4] {
    [
        ("home", "/app", t.home),
        ("pay", "/app/pay", t.pay),
        ("links", "/app/links", t.memberships),
        ("history", "/app/history", t.history),
    ]
}

impl Frame {
    pub fn new(state: &WebState, browser: &Browser, title: impl Into<String>) -> Frame {
        Frame {
            t: browser.lang.text(),
            lang: browser.lang.code(),
            other_lang: browser.lang.other().code(),
            title: title.into(),
            csrf: state.csrf.token(&browser.browser_id),
            logout: browser.session.is_some().then_some("/app/logout"),
            home: "/app",
            nav: Vec::new(),
            nav_class: "tabs",
            notice: None,
            error: None,
        }
    }

    /// The member app's frame, with `tab` current; tabs only for a signed-in member.
    pub fn tab(mut self, tab: &'static str) -> Frame {
        if self.logout.is_some() {
            self.nav = member_tabs(self.t)
                .into_iter()
                .map(|(name, href, label)| NavLink {
                    href,
                    label,
                    current: name == tab,
                })
                .collect();
        }
        self
    }

    pub fn error(mut self, error: Option<String>) -> Frame {
        self.error = error;
        self
    }

    pub fn notice(mut self, notice: Option<String>) -> Frame {
        self.notice = notice;
        self
    }
}

/// A page as HTML; a template that fails to render is a bug, answered as a plain 500.
pub fn html<T: Template>(page: &T) -> Response {
    match page.render() {
        Ok(text) => Html(text).into_response(),
        Err(error) => {
            tracing::error!(%error, "a page does not render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be drawn",
            )
                .into_response()
        }
    }
}

/// The page of a refused form (no template frame: it may be shown with no session).
#[derive(Template)]
#[template(path = "refusal.html")]
pub struct Refusal {
    pub message: &'static str,
}

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The browser has no session, or the API no longer accepts it.
    #[error("not signed in")]
    SignedOut,
    /// The API refused or failed.
    #[error("{}", .0.message())]
    Api(ApiProblem),
}

impl From<ApiProblem> for PageError {
    fn from(problem: ApiProblem) -> PageError {
        // A wrong PIN is a 401 too, but a refusal of the PIN, not of the session: the page
        // shows it and asks again, the member stays signed in.
        if problem.status == StatusCode::UNAUTHORIZED.as_u16() && problem.slug != "wrong-pin" {
            return PageError::SignedOut;
        }
        PageError::Api(problem)
    }
}

/// `text` if it is an id of the API (1 to 39 digits): the one check of an id a page puts
/// into an API path, a link or a form.
pub fn api_id(text: &str) -> Option<&str> {
    let id = !text.is_empty() && text.len() <= 39 && text.bytes().all(|b| b.is_ascii_digit());
    id.then_some(text)
}

/// The API's refusal, to be shown on the page; a session the API no longer knows signs the
/// browser out (`Err`).
pub fn refusal(problem: ApiProblem) -> Result<ApiProblem, PageError> {
    match PageError::from(problem) {
        PageError::Api(problem) => Ok(problem),
        signed_out => Err(signed_out),
    }
}

/// Whether the API asks for the PIN (again) after this refusal.
pub fn asks_pin(problem: &ApiProblem) -> bool {
    matches!(problem.slug.as_str(), "pin-required" | "wrong-pin")
}

#[derive(Template)]
#[template(path = "problem.html")]
struct ProblemPage {
    frame: Frame,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::SignedOut => {
                let mut response = Redirect::to("/app/login").into_response();
                browser::set(&mut response, &browser::removal(browser::SESSION_COOKIE));
                response
            }
            PageError::Api(problem) => {
                let status =
                    StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_GATEWAY);
                // A frame without the browser: the message only, in both languages' frame.
                let frame = Frame {
                    t: &crate::text::EN,
                    lang: "en",
                    other_lang: "ko",
                    title: problem.title.clone(),
                    csrf: String::new(),
                    logout: None,
                    home: "/app",
                    nav: Vec::new(),
                    nav_class: "tabs",
                    notice: None,
                    error: Some(problem.message()),
                };
                (status, html(&ProblemPage { frame })).into_response()
            }
        }
    }
}

/// A CSV the API answered, handed to the browser as a download named by `disposition`.
pub fn csv_download(body: axum::body::Bytes, disposition: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        axum::http::header::CONTENT_DISPOSITION,
        axum::http::HeaderValue::from_static(disposition),
    );
    response
}

/// `GET /`: the member app.
pub async fn root() -> Redirect {
    Redirect::to("/app")
}

/// `1234567` as `1,234,567`.
pub fn grouped(value: impl Into<u128>) -> String {
    let value: u128 = value.into();
    let digits = value.to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

/// An RFC 3339 time as a person reads it: `2026-12-07 13:05` (UTC as the API gives it).
pub fn when(rfc3339: &str) -> String {
    let text = rfc3339.replacen('T', " ", 1);
    text.get(..16).unwrap_or(&text).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(status: u16, slug: &str) -> ApiProblem {
        ApiProblem {
            slug: slug.to_string(),
            title: "refused".to_string(),
            detail: None,
            status,
        }
    }

    #[test]
    fn ids_are_one_to_39_digits() {
        let longest = "9".repeat(39);
        for (text, id) in [("1", true), (longest.as_str(), true), ("", false)] {
            assert_eq!(api_id(text).is_some(), id, "{text}");
        }
        for text in ["9".repeat(40), "12a3".into(), "../1".into(), "１".into()] {
            assert_eq!(api_id(&text), None, "{text}");
        }
    }

    #[test]
    fn a_wrong_pin_is_a_refusal_and_a_lost_session_signs_out() {
        let cases = [
            (401, "wrong-pin", true, true),
            (401, "unauthorized", false, false),
            (422, "pin-required", true, true),
            (422, "insufficient-balance", true, false),
        ];
        for (status, slug, shown, asks) in cases {
            let answer = refusal(problem(status, slug));
            assert_eq!(answer.is_ok(), shown, "{status} {slug}");
            assert_eq!(asks_pin(&problem(status, slug)), asks, "{status} {slug}");
        }
    }

    #[test]
    fn numbers_are_grouped_by_thousands() {
        let cases: [(u128, &str); 6] = [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (123_456, "123,456"),
            (1_234_567, "1,234,567"),
            (u64::MAX.into(), "18,446,744,073,709,551,615"),
        ];
        for (value, text) in cases {
            assert_eq!(grouped(value), text);
        }
    }

    #[test]
    fn times_are_cut_to_the_minute() {
        assert_eq!(when("2026-12-07T13:05:09Z"), "2026-12-07 13:05");
        assert_eq!(when("short"), "short");
    }
}
