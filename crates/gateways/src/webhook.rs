//! [`HttpWebhookSender`]: delivers checkout's webhook events to merchants' endpoints.
//!
//! ```text
//! POST {endpoint url}
//! Content-Type: application/json
//! Mileverse-Event-Id: {event id}          (the same on every attempt: dedupe on it)
//! Mileverse-Signature: t={unix s},v1={hex HMAC-SHA256(secret, "{t}.{body}")}
//!
//! {"id": "...", "type": "payment_intent.succeeded", "created": "...", "data": {...}}
//! ```
//!
//! Any 2xx acknowledges the event; anything else (another status, no answer within the
//! deadline, a refused connection) is a failed attempt the platform retries on its
//! schedule. Redirects are not followed (a redirect is an answer that is not 2xx), no
//! proxy is used, and the answer's body is never read: a receiver cannot make the
//! platform buffer anything.

pub mod sim;

use std::time::Duration;

use ports::gateway::BoxFuture;
use ports::webhook::{Delivery, DeliveryError, EVENT_ID_HEADER, SIGNATURE_HEADER, WebhookSender};
use reqwest::header::CONTENT_TYPE;

/// Whole-attempt deadline: a receiver should acknowledge first and work after.
pub const DELIVERY_TIMEOUT_MS: u64 = 10_000;

/// [`WebhookSender`] over HTTP(S).
#[derive(Debug)]
pub struct HttpWebhookSender {
    client: reqwest::Client,
}

impl HttpWebhookSender {
    /// A sender whose https deliveries trust what `tls` trusts, each bounded by `timeout_ms`.
    pub fn new(tls: &tls::ClientTls, timeout_ms: u64) -> HttpWebhookSender {
        let client = tls
            .reqwest_builder()
            .timeout(Duration::from_millis(timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            // A ready rustls configuration, no proxies, no custom resolver: nothing can fail.
            .expect("an HTTP client with a preconfigured TLS and no proxies always builds");
        HttpWebhookSender { client }
    }

    async fn send(&self, delivery: &Delivery) -> Result<u16, DeliveryError> {
        let response = self
            .client
            .post(&delivery.url)
            .header(CONTENT_TYPE, "application/json")
            .header(EVENT_ID_HEADER, &delivery.event_id)
            .header(SIGNATURE_HEADER, &delivery.signature)
            .body(delivery.body.clone())
            .send()
            .await
            .map_err(|error| {
                let reason = if error.is_timeout() {
                    "no answer in time".to_string()
                } else if error.is_connect() {
                    "cannot connect".to_string()
                } else {
                    "the exchange failed".to_string()
                };
                DeliveryError::Unreachable(reason)
            })?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            Ok(status)
        } else {
            Err(DeliveryError::Status(status))
        }
    }
}

impl WebhookSender for HttpWebhookSender {
    fn deliver<'a>(&'a self, delivery: &'a Delivery) -> BoxFuture<'a, Result<u16, DeliveryError>> {
        Box::pin(self.send(delivery))
    }
}
