//! The member's browser at the simulator's login page, for tests, benchmarks and the
//! walkthrough: follows an `authorize_url`, fills the form, and reads where the partner
//! sends the browser back. It speaks to any partner whose login page takes the form fields
//! `member_ref` and `password` posted to the page's own URL, as the simulator's does.

use reqwest::StatusCode;
use reqwest::header::LOCATION;

/// Where the partner sent the browser back after the login form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Callback {
    /// The whole `Location`.
    pub location: String,
    /// `code`, when the partner granted one.
    pub code: Option<String>,
    /// `state`, as the partner echoed it.
    pub state: Option<String>,
    /// `error`, when the partner refused (RFC 6749 §4.1.2.1).
    pub error: Option<String>,
}

/// Why the browser did not get back to the client.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("cannot reach the partner: {0}")]
    Transport(#[from] reqwest::Error),
    /// The page or the form answered this status instead of a redirect (e.g. `401` for
    /// wrong credentials), with its body.
    #[error("the partner answered {status} instead of a redirect: {body}")]
    NoRedirect { status: StatusCode, body: String },
    #[error("the redirect is not a URL: {0}")]
    BadLocation(String),
}

/// A client that never follows redirects: the redirect is what we want to read.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("an HTTP client without TLS or proxies always builds")
}

/// Opens `authorize_url` (the page must show the form), posts the credentials to the same
/// URL, and reads the `302`'s `Location`.
pub async fn sign_in(
    http: &reqwest::Client,
    authorize_url: &str,
    member_ref: &str,
    password: &str,
) -> Result<Callback, BrowserError> {
    let page = http.get(authorize_url).send().await?;
    if page.status() != StatusCode::OK {
        return redirect_of(page).await;
    }
    let form = [
        ("member_ref", member_ref),
        ("password", password),
        ("decision", "allow"),
    ];
    let answer = http.post(authorize_url).form(&form).send().await?;
    redirect_of(answer).await
}

async fn redirect_of(response: reqwest::Response) -> Result<Callback, BrowserError> {
    let status = response.status();
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let Some(location) = location.filter(|_| status == StatusCode::FOUND) else {
        let body = response.text().await.unwrap_or_default();
        return Err(BrowserError::NoRedirect { status, body });
    };
    let url =
        reqwest::Url::parse(&location).map_err(|_| BrowserError::BadLocation(location.clone()))?;
    let find = |name: &str| {
        url.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    Ok(Callback {
        code: find("code"),
        state: find("state"),
        error: find("error"),
        location,
    })
}
