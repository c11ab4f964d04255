//! [`HttpSmsGateway`]: sends text messages through a generic JSON-over-HTTP SMS provider.
//!
//! The provider API this adapter expects (most providers offer this shape or can be fronted
//! by a small relay that does):
//!
//! ```text
//! POST {url}
//! Content-Type: application/json
//! Authorization: Bearer {api_key}        (only when an API key is configured)
//!
//! {"to": "+821012345678", "text": "Your Mileverse code is 123456"}
//! ```
//!
//! - any `2xx`: accepted for delivery (the body is ignored);
//! - `4xx`: refused — the message is wrong (bad number, text too long, bad key) and sending
//!   it again will not help: [`SmsError::Refused`] with the answer body, cut to 200
//!   characters;
//! - `5xx`, other statuses, no answer within `timeout_ms`, connection errors:
//!   [`SmsError::Unavailable`] — the provider may or may not have taken the message.
//!
//! `phone` must be E.164 (`+` and 8 to 15 digits); anything else is refused here without a
//! call. Redirects are not followed. The adapter never retries.

use std::time::Duration;

use ports::gateway::{BoxFuture, SmsError, SmsGateway};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::Serialize;

/// Longest part of a refusal's body kept in [`SmsError::Refused`], in characters.
pub const REFUSAL_TEXT_CHARS_MAX: usize = 200;

/// Where and how to reach the SMS provider.
#[derive(Clone, PartialEq, Eq)]
pub struct SmsGatewayConfig {
    /// The provider's send endpoint, e.g. `https://sms.example.com/v1/messages` (only plain
    /// `http://` is supported by this build).
    pub url: String,
    /// Sent as `Authorization: Bearer <api_key>` when set.
    pub api_key: Option<String>,
    /// Whole-call deadline.
    pub timeout_ms: u64,
}

impl std::fmt::Debug for SmsGatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsGatewayConfig")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// [`SmsGateway`] over HTTP.
#[derive(Debug)]
pub struct HttpSmsGateway {
    config: SmsGatewayConfig,
    client: reqwest::Client,
}

#[derive(Serialize)]
struct Message<'a> {
    to: &'a str,
    text: &'a str,
}

/// Whether `phone` looks like E.164: `+` then 8 to 15 digits.
pub fn phone_is_e164(phone: &str) -> bool {
    phone.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

fn truncated(text: &str) -> String {
    text.chars().take(REFUSAL_TEXT_CHARS_MAX).collect()
}

impl HttpSmsGateway {
    /// A gateway to `config.url` (http or https; `tls` says whom an https one may be).
    pub fn new(config: SmsGatewayConfig, tls: &tls::ClientTls) -> HttpSmsGateway {
        let client = tls
            .reqwest_builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            // A ready rustls configuration, no proxies, no custom resolver: nothing can fail.
            .expect("an HTTP client with a preconfigured TLS and no proxies always builds");
        HttpSmsGateway { config, client }
    }

    async fn send_message(&self, phone: &str, text: &str) -> Result<(), SmsError> {
        if !phone_is_e164(phone) {
            return Err(SmsError::Refused(format!(
                "not an E.164 phone number: {}",
                truncated(phone)
            )));
        }
        let body = serde_json::to_vec(&Message { to: phone, text })
            .map_err(|error| SmsError::Refused(error.to_string()))?;
        let mut request = self
            .client
            .post(&self.config.url)
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(api_key) = &self.config.api_key {
            request = request.header(AUTHORIZATION, format!("Bearer {api_key}"));
        }
        let response = request.send().await.map_err(unavailable)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status.is_client_error() {
            let text = response.text().await.unwrap_or_default();
            let text = if text.trim().is_empty() {
                format!("HTTP {}", status.as_u16())
            } else {
                truncated(&text)
            };
            return Err(SmsError::Refused(text));
        }
        Err(SmsError::Unavailable(format!(
            "the SMS gateway answered HTTP {}",
            status.as_u16()
        )))
    }
}

fn unavailable(error: reqwest::Error) -> SmsError {
    if error.is_timeout() {
        return SmsError::Unavailable("the SMS gateway did not answer in time".into());
    }
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    SmsError::Unavailable(message)
}

impl SmsGateway for HttpSmsGateway {
    fn send<'a>(&'a self, phone: &'a str, text: &'a str) -> BoxFuture<'a, Result<(), SmsError>> {
        Box::pin(self.send_message(phone, text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers() {
        assert!(phone_is_e164("+821012345678"));
        assert!(phone_is_e164("+12025550123"));
        assert!(!phone_is_e164("821012345678"));
        assert!(!phone_is_e164("+82 10 1234 5678"));
        assert!(!phone_is_e164("+1234567"));
        assert!(!phone_is_e164("+1234567890123456"));
    }

    #[test]
    fn refusals_are_cut_on_character_boundaries() {
        let long = "가".repeat(300);
        assert_eq!(truncated(&long).chars().count(), REFUSAL_TEXT_CHARS_MAX);
        assert_eq!(truncated("short"), "short");
    }
}
