//! The pages' client of the HTTP API, in process: a request built as any client would build
//! it, sent through the API's router (its layers included: limits, access, observability),
//! and its answer parsed. Nothing goes around the API.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use server::access::PeerAddr;
use tower::ServiceExt as _;

/// Largest answer a page reads (a page of a list, a proof, a drawn code).
pub const ANSWER_BYTES_MAX: usize = 4 * 1024 * 1024;

/// The API's router, called in process.
#[derive(Clone)]
pub struct Api {
    router: Router,
}

/// Who calls: the browser's address (the API's per-IP limits count it) and the session
/// token, if any.
#[derive(Clone, Default)]
pub struct Caller {
    pub peer: Option<ConnectInfo<PeerAddr>>,
    pub bearer: Option<String>,
}

/// A problem the API answered (RFC 9457), as a page shows it.
#[derive(Clone, Debug, Deserialize)]
pub struct ApiProblem {
    /// The stable type's slug (`urn:mileverse:problem:<slug>`).
    #[serde(rename = "type", deserialize_with = "slug_of")]
    pub slug: String,
    pub title: String,
    #[serde(default)]
    pub detail: Option<String>,
    pub status: u16,
}

fn slug_of<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let uri = String::deserialize(deserializer)?;
    Ok(uri
        .rsplit([':', '/'])
        .next()
        .unwrap_or_default()
        .to_string())
}

impl ApiProblem {
    /// Whether the refusal is about what was typed or asked for (a page shows it beside its
    /// form), rather than about who asks (the console's refusal page).
    pub fn about_the_form(&self) -> bool {
        matches!(self.status, 400 | 404 | 409 | 422)
    }

    /// What a person reads: the detail when there is one, else the title.
    pub fn message(&self) -> String {
        match &self.detail {
            Some(detail) if !detail.is_empty() => format!("{}: {detail}", self.title),
            _ => self.title.clone(),
        }
    }

    fn unreadable(status: StatusCode) -> ApiProblem {
        ApiProblem {
            slug: "unavailable".into(),
            title: "The service did not answer as expected".into(),
            detail: None,
            status: status.as_u16(),
        }
    }
}

/// One request to the API.
pub struct Call {
    method: Method,
    path: String,
    body: Option<Vec<u8>>,
    idempotency_key: Option<String>,
    /// Headers of the caller's own (a terminal's signature).
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// Most headers a call adds of its own (a signature's three, with room to spare).
const CALL_HEADERS_MAX: usize = 8;

/// A merchant's terminal key, as it signs requests to `/checkout/v1` and `/van/v1`.
#[derive(Clone)]
pub struct TerminalKey {
    /// `X-Mileverse-Key`.
    pub key_id: String,
    pub secret: String,
}

impl Call {
    pub fn get(path: impl Into<String>) -> Call {
        Call {
            method: Method::GET,
            path: path.into(),
            body: None,
            idempotency_key: None,
            headers: Vec::new(),
        }
    }

    pub fn post(path: impl Into<String>, body: &serde_json::Value) -> Call {
        Call {
            method: Method::POST,
            path: path.into(),
            body: Some(serde_json::to_vec(body).expect("JSON values serialize")),
            idempotency_key: None,
            headers: Vec::new(),
        }
    }

    pub fn put(path: impl Into<String>, body: &serde_json::Value) -> Call {
        Call {
            method: Method::PUT,
            ..Call::post(path, body)
        }
    }

    pub fn delete(path: impl Into<String>) -> Call {
        Call {
            method: Method::DELETE,
            path: path.into(),
            body: None,
            idempotency_key: None,
            headers: Vec::new(),
        }
    }

    pub fn idempotency_key(mut self, key: &str) -> Call {
        self.idempotency_key = Some(key.to_string());
        self
    }

    /// Adds a header of the caller's own; past [`CALL_HEADERS_MAX`] a header is a bug and
    /// is dropped (logged), never an unbounded list.
    pub fn header(mut self, name: &'static str, value: HeaderValue) -> Call {
        if self.headers.len() >= CALL_HEADERS_MAX {
            tracing::error!(name, "a call has too many headers of its own");
            return self;
        }
        self.headers.push((HeaderName::from_static(name), value));
        self
    }

    /// Signs the call as `terminal` does at `timestamp_s` (the VAN scheme: HMAC-SHA-256 of
    /// the timestamp, method, path with query and body, `ports::signing::van_signature`).
    pub fn signed_by(self, terminal: &TerminalKey, timestamp_s: u64) -> Call {
        let body = self.body.as_deref().unwrap_or_default();
        let signature = ports::signing::van_signature(
            terminal.secret.as_bytes(),
            timestamp_s,
            self.method.as_str(),
            &self.path,
            body,
        );
        let texts = [
            ("x-mileverse-key", terminal.key_id.clone()),
            ("x-mileverse-timestamp", timestamp_s.to_string()),
            ("x-mileverse-signature", signature),
        ];
        texts.into_iter().fold(self, |call, (name, text)| {
            match HeaderValue::from_str(&text) {
                Ok(value) => call.header(name, value),
                // A key id that is no header value cannot sign: the API refuses the call.
                Err(_) => call,
            }
        })
    }
}

/// A successful answer: its status and body.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Api {
    pub fn new(router: Router) -> Api {
        Api { router }
    }

    /// Sends `call` as `caller`; a 2xx answer, or the problem the API answered.
    pub async fn send(&self, caller: &Caller, call: Call) -> Result<Answer, ApiProblem> {
        let mut request = Request::builder()
            .method(call.method)
            .uri(&call.path)
            .body(Body::from(call.body.clone().unwrap_or_default()))
            .expect("a request of a path and bytes builds");
        let headers = request.headers_mut();
        if call.body.is_some() {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        if let Some(token) = &caller.bearer {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| ApiProblem::unreadable(StatusCode::UNAUTHORIZED))?;
            headers.insert(header::AUTHORIZATION, value);
        }
        if let Some(key) = &call.idempotency_key {
            let value = HeaderValue::from_str(key)
                .map_err(|_| ApiProblem::unreadable(StatusCode::BAD_REQUEST))?;
            headers.insert("idempotency-key", value);
        }
        for (name, value) in &call.headers {
            headers.insert(name.clone(), value.clone());
        }
        if let Some(peer) = caller.peer {
            request.extensions_mut().insert(peer);
        }
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let body = http_body_util::Limited::new(response.into_body(), ANSWER_BYTES_MAX)
            .collect()
            .await
            .map_err(|_| ApiProblem::unreadable(status))?
            .to_bytes();
        if status.is_success() {
            return Ok(Answer { status, body });
        }
        Err(serde_json::from_slice(&body).unwrap_or_else(|_| ApiProblem::unreadable(status)))
    }

    /// Sends `call` and parses its JSON answer.
    pub async fn json<T: DeserializeOwned>(
        &self,
        caller: &Caller,
        call: Call,
    ) -> Result<T, ApiProblem> {
        let answer = self.send(caller, call).await?;
        serde_json::from_slice(&answer.body).map_err(|error| {
            tracing::error!(%error, "an API answer does not parse as the page expects");
            ApiProblem::unreadable(answer.status)
        })
    }
}
