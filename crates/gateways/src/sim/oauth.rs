//! The simulator's authorization server: the partner's half of the ownership step
//! (OAuth 2.0 authorization code, RFC 6749 §4.1, with PKCE S256, RFC 7636).
//!
//! - `GET /oauth/authorize?…` checks the request and shows a small login form (member
//!   number, filled from `login_hint`, and password). A request without a usable
//!   `client_id` or `redirect_uri` is refused on the page itself and never redirected
//!   (RFC 6749 §4.1.2.1: the redirect URI cannot be trusted); any other fault is
//!   redirected to `redirect_uri?error=…&state=…`.
//! - `POST /oauth/authorize?…` (the form posts to the page's own URL, query included)
//!   checks the same request and the credentials, and answers `302` to
//!   `redirect_uri?code=…&state=…`; "Cancel" answers `error=access_denied`. Wrong
//!   credentials show the form again (`401`).
//! - `POST /partner/v1/oauth/token` (signed like every protocol call) redeems a code once:
//!   the code is gone at its first redemption, right or wrong, and it answers only if the
//!   code is known and not expired, and was issued to this `client_id`, this
//!   `redirect_uri` and the challenge of this `code_verifier` (RFC 7636 §4.6). The answer
//!   is the member ref the member signed in as, in canonical form ([`canonical_ref`]:
//!   upper case), with its mileage.
//!
//! Every member's password is [`SimConfig::member_password`](super::SimConfig) until the
//! control surface gives it one of its own (`PUT /sim/v1/members/{ref}/password`).
//! Passwords and codes are compared in constant time.

use std::collections::HashMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::protocol::{self, Form, FormError, TokenAnswer, oauth};

/// How long an authorization code can be redeemed by default (RFC 6749 §4.1.2
/// recommends at most 10 minutes; a browser hands it over within seconds).
pub const CODE_EXPIRY_S: u64 = 60;
/// Codes issued and not yet redeemed, at most; past it the login answers 503.
pub const CODES_MAX: usize = 100_000;
/// Every member's password unless the control surface set one of its own.
pub const DEFAULT_MEMBER_PASSWORD: &str = "partner-pass";
/// Longest password the control surface sets.
pub const PASSWORD_BYTES_MAX: usize = 128;

/// Whether a password can be a member's own: 1 to [`PASSWORD_BYTES_MAX`] bytes.
pub fn password_is_valid(password: &str) -> bool {
    !password.is_empty() && password.len() <= PASSWORD_BYTES_MAX
}

/// The simulator's canonical form of a member ref: upper case, so `abc` and `ABC` are one
/// membership.
pub fn canonical_ref(member_ref: &str) -> String {
    member_ref.to_ascii_uppercase()
}

/// An authorization request that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizeParams {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub code_challenge: String,
    pub login_hint: Option<String>,
}

/// Why an authorization request is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizeRefusal {
    /// The client or the redirect URI is missing, repeated or not usable: shown on the
    /// page, never redirected.
    Shown(String),
    /// Sent back to the client: `redirect_uri?error=…&state=…`.
    Redirected {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
    },
}

/// Parses and checks the query of `/oauth/authorize` (without the `?`).
pub fn parse_authorize_query(query: &[u8]) -> Result<AuthorizeParams, AuthorizeRefusal> {
    let shown = |error: FormError| AuthorizeRefusal::Shown(error.to_string());
    let form = Form::parse(query).map_err(shown)?;
    let client_id = form.required("client_id").map_err(shown)?.to_string();
    let redirect_uri = form.required("redirect_uri").map_err(shown)?.to_string();
    if !redirect_uri_is_usable(&redirect_uri) {
        let detail = "redirect_uri must be an absolute http(s) URI without a fragment";
        return Err(AuthorizeRefusal::Shown(detail.into()));
    }
    // From here on faults go back to the client, with its state when it is readable.
    let state = form.optional("state").ok().flatten().map(str::to_string);
    let redirected = |error: &'static str| AuthorizeRefusal::Redirected {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error,
    };
    let invalid = |_: FormError| redirected(oauth::INVALID_REQUEST);
    form.optional("state").map_err(invalid)?;
    if form.required("response_type").map_err(invalid)? != oauth::RESPONSE_TYPE_CODE {
        return Err(redirected(oauth::UNSUPPORTED_RESPONSE_TYPE));
    }
    let code_challenge = form.required("code_challenge").map_err(invalid)?;
    let method = form.required("code_challenge_method").map_err(invalid)?;
    if method != ports::pkce::METHOD_S256 || !ports::pkce::challenge_is_valid(code_challenge) {
        return Err(redirected(oauth::INVALID_REQUEST));
    }
    let login_hint = form.optional("login_hint").map_err(invalid)?;
    Ok(AuthorizeParams {
        code_challenge: code_challenge.to_string(),
        login_hint: login_hint.map(str::to_string),
        client_id,
        redirect_uri,
        state,
    })
}

/// Whether `uri` can take the browser back: an absolute `http` or `https` URI with a host
/// and no fragment (RFC 6749 §3.1.2).
fn redirect_uri_is_usable(uri: &str) -> bool {
    match reqwest::Url::parse(uri) {
        Ok(url) => {
            matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some()
                && url.fragment().is_none()
        }
        Err(_) => false,
    }
}

/// The login form's fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginForm {
    pub member_ref: String,
    pub password: String,
    /// "Cancel" was pressed: the member refuses.
    pub denied: bool,
}

/// Parses the login form's body. A denial needs no credentials.
pub fn parse_login_form(body: &[u8]) -> Result<LoginForm, FormError> {
    let form = Form::parse(body)?;
    if form.optional("decision")? == Some("deny") {
        return Ok(LoginForm {
            member_ref: String::new(),
            password: String::new(),
            denied: true,
        });
    }
    Ok(LoginForm {
        member_ref: form.required("member_ref")?.to_string(),
        password: form.required("password")?.to_string(),
        denied: false,
    })
}

/// A code issued and not yet redeemed, with everything it is bound to.
#[derive(Clone, Debug)]
struct IssuedCode {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    /// Canonical.
    member_ref: String,
    expires_at_s: u64,
}

/// The authorization server's state: codes not yet redeemed and members' own passwords.
#[derive(Default)]
pub(super) struct Authorizations {
    codes: HashMap<String, IssuedCode>,
    /// Canonical member ref → its own password.
    passwords: HashMap<String, String>,
}

/// What a redemption found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Redeemed {
    /// The canonical member ref the code was issued for.
    Member(String),
    Refused(&'static str),
}

impl Authorizations {
    /// Whether `password` is the member's (compared in constant time).
    pub(super) fn password_matches(&self, canonical: &str, password: &str, default: &str) -> bool {
        let expected = self
            .passwords
            .get(canonical)
            .map_or(default, String::as_str);
        bool::from(expected.as_bytes().ct_eq(password.as_bytes()))
    }

    pub(super) fn set_password(&mut self, canonical: String, password: String) {
        self.passwords.insert(canonical, password);
    }

    /// Issues a code bound to the request and the member; `None` when [`CODES_MAX`] codes
    /// are live.
    pub(super) fn issue(
        &mut self,
        params: &AuthorizeParams,
        canonical: String,
        now_s: u64,
        expiry_s: u64,
    ) -> Option<String> {
        if self.codes.len() >= CODES_MAX {
            self.codes.retain(|_, code| code.expires_at_s > now_s);
            if self.codes.len() >= CODES_MAX {
                return None;
            }
        }
        let mut random = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut random);
        let code = ports::pkce::new_verifier(&random);
        let issued = IssuedCode {
            client_id: params.client_id.clone(),
            redirect_uri: params.redirect_uri.clone(),
            code_challenge: params.code_challenge.clone(),
            member_ref: canonical,
            expires_at_s: now_s.saturating_add(expiry_s),
        };
        self.codes.insert(code.clone(), issued);
        Some(code)
    }

    /// Redeems a code once (it is gone whatever the outcome), for the client that signed
    /// the request (`client_key`, its `X-Mileverse-Key`).
    pub(super) fn redeem(&mut self, client_key: &str, body: &[u8], now_s: u64) -> Redeemed {
        let Ok(request) = protocol::parse_token_request(body) else {
            return Redeemed::Refused(oauth::INVALID_REQUEST);
        };
        if request.grant_type != oauth::GRANT_TYPE_AUTHORIZATION_CODE {
            return Redeemed::Refused(oauth::UNSUPPORTED_GRANT_TYPE);
        }
        if request.client_id != client_key {
            return Redeemed::Refused(oauth::INVALID_CLIENT);
        }
        let Some(issued) = self.codes.remove(&request.code) else {
            return Redeemed::Refused(oauth::INVALID_GRANT);
        };
        let bound = issued.expires_at_s > now_s
            && issued.client_id == request.client_id
            && issued.redirect_uri == request.redirect_uri
            && ports::pkce::verifier_matches(&request.code_verifier, &issued.code_challenge);
        if bound {
            Redeemed::Member(issued.member_ref)
        } else {
            Redeemed::Refused(oauth::INVALID_GRANT)
        }
    }
}

/// `302` to the client's redirect URI with `pairs` added to its query (RFC 6749 §4.1.2).
pub(super) fn redirect(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let Ok(mut url) = reqwest::Url::parse(redirect_uri) else {
        return page(StatusCode::BAD_REQUEST, "unusable redirect_uri", None);
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
    }
    let Ok(location) = HeaderValue::from_str(url.as_str()) else {
        return page(StatusCode::BAD_REQUEST, "unusable redirect_uri", None);
    };
    let mut response = StatusCode::FOUND.into_response();
    response.headers_mut().insert(header::LOCATION, location);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The redirect of a refusal the client should hear of.
pub(super) fn refused(refusal: AuthorizeRefusal) -> Response {
    match refusal {
        AuthorizeRefusal::Shown(detail) => page(StatusCode::BAD_REQUEST, &detail, None),
        AuthorizeRefusal::Redirected {
            redirect_uri,
            state,
            error,
        } => {
            let mut pairs = vec![("error", error)];
            if let Some(state) = state.as_deref() {
                pairs.push(("state", state));
            }
            redirect(&redirect_uri, &pairs)
        }
    }
}

/// The login page: a message (an error, or none) and, for a usable request, the form.
pub(super) fn page(status: StatusCode, message: &str, form: Option<(&str, &str)>) -> Response {
    let message = if message.is_empty() {
        String::new()
    } else {
        format!("<p role=\"alert\">{}</p>", escape(message))
    };
    let form = form.map_or(String::new(), |(client_id, hint)| {
        format!(
            "<p>Mileverse (client {client}) asks to link your membership.</p>\
             <form method=\"post\">\
             <p><label>Member number <input name=\"member_ref\" value=\"{hint}\" \
             autocomplete=\"username\" required></label></p>\
             <p><label>Password <input name=\"password\" type=\"password\" \
             autocomplete=\"current-password\"></label></p>\
             <p><button name=\"decision\" value=\"allow\">Sign in and allow</button> \
             <button name=\"decision\" value=\"deny\" formnovalidate>Cancel</button></p>\
             </form>",
            client = escape(client_id),
            hint = escape(hint),
        )
    });
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Sign in - partner simulator</title></head><body>\
         <h1>Sign in to your partner membership</h1>{message}{form}</body></html>"
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // A login page must not be framed (clickjacking) nor run anything.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// HTML text escaping for element content and double-quoted attributes.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// The token endpoint's answer for a redemption: `200` with the membership, or `400`
/// with the OAuth error code (RFC 6749 §5.2; `invalid_client` too, since `401` is the
/// protocol's unsigned refusal of a signature).
pub(super) fn token_reply(redeemed: Redeemed, mileage: u64) -> (StatusCode, Vec<u8>) {
    let body = match redeemed {
        Redeemed::Member(member_ref) => {
            let answer = TokenAnswer {
                member_ref,
                mileage: Some(mileage),
            };
            return (
                StatusCode::OK,
                serde_json::to_vec(&answer).expect("serializes"),
            );
        }
        Redeemed::Refused(code) => protocol::ErrorAnswer {
            error: code.to_string(),
        },
    };
    (
        StatusCode::BAD_REQUEST,
        serde_json::to_vec(&body).expect("serializes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Vec<u8> {
        serde_urlencoded::to_string(pairs).unwrap().into_bytes()
    }

    fn good() -> Vec<(&'static str, String)> {
        vec![
            ("response_type", "code".into()),
            ("client_id", "17".into()),
            (
                "redirect_uri",
                "http://127.0.0.1:8080/app/partner-links/callback".into(),
            ),
            ("state", "s-1".into()),
            (
                "code_challenge",
                ports::pkce::challenge_s256(&"v".repeat(43)),
            ),
            ("code_challenge_method", "S256".into()),
            ("login_hint", "abc".into()),
        ]
    }

    /// A parameter replaced by a value, or removed (`None`).
    type Change<'a> = (&'static str, Option<&'a str>);

    fn with(change: &[Change]) -> Vec<u8> {
        let mut pairs = good();
        for (name, value) in change {
            pairs.retain(|(each, _)| each != name);
            if let Some(value) = value {
                pairs.push((name, value.to_string()));
            }
        }
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        query(&borrowed)
    }

    #[test]
    fn a_good_request_parses() {
        let params = parse_authorize_query(&with(&[])).unwrap();
        assert_eq!(params.client_id, "17");
        assert_eq!(params.state.as_deref(), Some("s-1"));
        assert_eq!(params.login_hint.as_deref(), Some("abc"));
    }

    #[test]
    fn no_client_or_redirect_uri_is_shown_not_redirected() {
        for change in [
            [("client_id", None)],
            [("redirect_uri", None)],
            [("redirect_uri", Some("javascript:alert(1)"))],
            [("redirect_uri", Some("http://host/cb#fragment"))],
            [("redirect_uri", Some("/relative"))],
        ] {
            let refusal = parse_authorize_query(&with(&change)).unwrap_err();
            assert!(matches!(refusal, AuthorizeRefusal::Shown(_)), "{change:?}");
        }
        let mut repeated = with(&[]);
        repeated.extend_from_slice(b"&client_id=18");
        assert!(matches!(
            parse_authorize_query(&repeated),
            Err(AuthorizeRefusal::Shown(_))
        ));
    }

    #[test]
    fn other_faults_go_back_to_the_client_with_the_state() {
        let cases: [(&[Change], &str); 5] = [
            (
                &[("response_type", Some("token"))],
                oauth::UNSUPPORTED_RESPONSE_TYPE,
            ),
            (&[("code_challenge", None)], oauth::INVALID_REQUEST),
            (
                &[("code_challenge_method", Some("plain"))],
                oauth::INVALID_REQUEST,
            ),
            (&[("code_challenge_method", None)], oauth::INVALID_REQUEST),
            (&[("code_challenge", Some("short"))], oauth::INVALID_REQUEST),
        ];
        for (change, expected) in cases {
            match parse_authorize_query(&with(change)) {
                Err(AuthorizeRefusal::Redirected { error, state, .. }) => {
                    assert_eq!(error, expected, "{change:?}");
                    assert_eq!(state.as_deref(), Some("s-1"));
                }
                other => panic!("{change:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_code_is_redeemed_once_with_its_verifier() {
        let verifier = "v".repeat(43);
        let params = parse_authorize_query(&with(&[])).unwrap();
        let mut book = Authorizations::default();
        let code = book
            .issue(&params, "ABC".into(), 1_000, CODE_EXPIRY_S)
            .unwrap();
        let body = |code: &str, verifier: &str| {
            protocol::TokenRequest {
                grant_type: "authorization_code".into(),
                code: code.into(),
                redirect_uri: params.redirect_uri.clone(),
                client_id: "17".into(),
                code_verifier: verifier.into(),
            }
            .to_form()
            .into_bytes()
        };
        assert_eq!(
            book.redeem("17", &body(&code, &verifier), 1_001),
            Redeemed::Member("ABC".into())
        );
        let again = book.redeem("17", &body(&code, &verifier), 1_001);
        assert_eq!(again, Redeemed::Refused(oauth::INVALID_GRANT));
        let wrong = book
            .issue(&params, "ABC".into(), 1_000, CODE_EXPIRY_S)
            .unwrap();
        let refused = book.redeem("17", &body(&wrong, &"w".repeat(43)), 1_001);
        assert_eq!(refused, Redeemed::Refused(oauth::INVALID_GRANT));
        // The wrong verifier burnt the code: the right one comes too late.
        let late = book.redeem("17", &body(&wrong, &verifier), 1_001);
        assert_eq!(late, Redeemed::Refused(oauth::INVALID_GRANT));
        let expired = book
            .issue(&params, "ABC".into(), 1_000, CODE_EXPIRY_S)
            .unwrap();
        let at = 1_000 + CODE_EXPIRY_S;
        let refused = book.redeem("17", &body(&expired, &verifier), at);
        assert_eq!(refused, Redeemed::Refused(oauth::INVALID_GRANT));
        let other_client = book
            .issue(&params, "ABC".into(), 1_000, CODE_EXPIRY_S)
            .unwrap();
        let refused = book.redeem("18", &body(&other_client, &verifier), 1_001);
        assert_eq!(refused, Redeemed::Refused(oauth::INVALID_CLIENT));
    }

    #[test]
    fn codes_are_bounded() {
        let params = parse_authorize_query(&with(&[])).unwrap();
        let mut book = Authorizations::default();
        for _ in 0..CODES_MAX {
            assert!(book.issue(&params, "A".into(), 10, 5).is_some());
        }
        assert!(
            book.issue(&params, "A".into(), 10, 5).is_none(),
            "at the limit"
        );
        // Once they expired, room is made.
        assert!(book.issue(&params, "A".into(), 15, 5).is_some());
    }

    #[test]
    fn passwords_are_bounded() {
        assert!(password_is_valid(&"p".repeat(PASSWORD_BYTES_MAX)));
        assert!(!password_is_valid(&"p".repeat(PASSWORD_BYTES_MAX + 1)));
        assert!(!password_is_valid(""));
    }

    #[test]
    fn codes_follow_the_rule_at_its_limit() {
        assert!(protocol::code_is_valid(
            &"c".repeat(protocol::CODE_BYTES_MAX)
        ));
        assert!(!protocol::code_is_valid(
            &"c".repeat(protocol::CODE_BYTES_MAX + 1)
        ));
        assert!(!protocol::code_is_valid(""));
        assert!(protocol::code_is_valid("a b~"));
        assert!(!protocol::code_is_valid("a\u{7f}"));
    }

    #[test]
    fn passwords_default_until_set() {
        let mut book = Authorizations::default();
        assert!(book.password_matches("ABC", "partner-pass", DEFAULT_MEMBER_PASSWORD));
        book.set_password("ABC".into(), "own".into());
        assert!(!book.password_matches("ABC", "partner-pass", DEFAULT_MEMBER_PASSWORD));
        assert!(book.password_matches("ABC", "own", DEFAULT_MEMBER_PASSWORD));
    }

    #[test]
    fn the_page_escapes_what_it_shows() {
        let response = page(StatusCode::OK, "<b>", Some(("1\"", "<script>")));
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
