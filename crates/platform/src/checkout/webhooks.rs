//! Checkout's webhooks: each merchant's endpoint, the events owed to it, and their
//! delivery (docs/checkout.md).
//!
//! - An event is a row written in the same commit as the change it tells of (see
//!   `checkout`), so no acknowledged change lacks its event and no event tells of a change
//!   that did not happen. Its id is fixed at that commit and sent with every attempt
//!   (`Mileverse-Event-Id`), its body too (byte for byte), signed Stripe's way
//!   (`ports::webhook`).
//! - One delivery round runs at a time (`Checkout::delivering`): it reads the due events (at
//!   most [`DELIVERY_BATCH_MAX`], through `webhook_events_due`), sends at most
//!   [`DELIVERIES_IN_FLIGHT_MAX`] at once, and commits what each attempt got before the next
//!   round reads again. So an event is never in two attempts at once, and an acknowledged
//!   one is never sent again; only a crash between the receiver's 2xx and that commit can
//!   send one twice, with the same id.
//! - A failed attempt is retried on [`RETRY_SCHEDULE`] (in `retry_unit_ms` units: seconds as
//!   served), about 3.9 days in all, then the event is `failed`; the merchant can ask for it
//!   again (`resend_event`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ports::time::{now_ms, now_s, rfc3339};
use ports::webhook::{Delivery, DeliveryError};
use store::tables::checkout::{self as tables, CheckoutWrite, EndpointRow, EventRow, EventStatus};
use store::tables::checkout::{IntentRow, IntentStatus};

use super::CheckoutError;
use crate::authorization::{AuthorizationRecord, AuthorizationStatus};
use crate::error::{Entity, PlatformError};
use crate::service::Platform;

/// The waits after each failed attempt, in the configured unit (seconds as served): 10 s,
/// 1 min, 5 min, 30 min, 1 h, 3 h, 6 h, 12 h, then a day three times.
pub const RETRY_SCHEDULE: [u64; 11] = [
    10, 60, 300, 1_800, 3_600, 10_800, 21_600, 43_200, 86_400, 86_400, 86_400,
];
/// Attempts of one event: the first and one per wait of the schedule.
pub const ATTEMPTS_MAX: u32 = RETRY_SCHEDULE.len() as u32 + 1;
/// Events one delivery round reads.
pub const DELIVERY_BATCH_MAX: usize = 32;
/// Deliveries in flight at once.
pub const DELIVERIES_IN_FLIGHT_MAX: usize = 8;
/// Longest error text kept on an event.
const ERROR_TEXT_CHARS_MAX: usize = 200;
/// Random bytes of an endpoint's signing secret (shown once as `whsec_` and 64 hex digits).
const SECRET_BYTES: usize = 32;

/// A merchant's endpoint as the merchant sees it; the secret only when just made.
#[derive(Clone, Debug)]
pub struct WebhookEndpoint {
    pub url: String,
    pub secret: Option<String>,
    pub updated_at_s: u64,
}

fn endpoint_context(merchant_id: u128) -> Vec<u8> {
    format!("webhook-endpoint/{merchant_id}/secret").into_bytes()
}

/// The event a payment's change makes, if it makes one.
pub(crate) fn event_kind(
    before: &AuthorizationRecord,
    after: &AuthorizationRecord,
) -> Option<&'static str> {
    use AuthorizationStatus as S;
    match (before.status, after.status) {
        (S::Pending, S::Captured) | (S::Authorized, S::Captured) => {
            Some("payment_intent.succeeded")
        }
        (S::Pending, S::Authorized) => Some("payment_intent.authorized"),
        (S::Pending, S::Declined) => Some("payment_intent.payment_failed"),
        (S::Authorized, S::Voided) => Some("payment_intent.canceled"),
        _ if after.refunded_amount > before.refunded_amount => Some("payment_intent.refunded"),
        _ => None,
    }
}

/// The status an event reports for the intent, from its payment as the change left it.
fn reported_status(intent: &IntentRow, payment: Option<&AuthorizationRecord>) -> &'static str {
    match (intent.status, payment.map(|p| p.status)) {
        (IntentStatus::Canceled, _) => "canceled",
        (_, Some(AuthorizationStatus::Captured)) => "succeeded",
        (_, Some(AuthorizationStatus::Authorized)) => "requires_capture",
        (_, Some(AuthorizationStatus::Voided)) => "canceled",
        _ => "requires_approval",
    }
}

/// A new event of `kind` about `intent` (and its payment as the change left it): its row
/// with the body every attempt sends.
pub(crate) fn intent_event(
    kind: &str,
    intent: &IntentRow,
    payment: Option<&AuthorizationRecord>,
    now_s: u64,
) -> EventRow {
    let id = crate::chart::new_id();
    let data = serde_json::json!({
        "intent_id": intent.id.to_string(),
        "order_id": intent.order_id,
        "amount": intent.amount,
        "status": reported_status(intent, payment),
        "captured_amount": payment.map_or(0, |p| p.captured_amount),
        "refunded_amount": payment.map_or(0, |p| p.refunded_amount),
        "decline_reason": payment.and_then(|p| p.decline_reason).map(|r| r.as_str()),
        "approval_no": payment.and_then(AuthorizationRecord::approval_no),
    });
    let body = serde_json::json!({
        "id": id.to_string(),
        "type": kind,
        "created": rfc3339(now_s),
        "data": data,
    });
    EventRow {
        id,
        merchant_id: intent.merchant_id,
        kind: kind.to_string(),
        intent_id: intent.id,
        payload: body.to_string(),
        status: EventStatus::Pending,
        attempts: 0,
        next_attempt_at_ms: now_s.saturating_mul(1_000),
        created_at_s: now_s,
        delivered_at_s: None,
        last_status_code: None,
        last_error: None,
    }
}

impl Platform {
    /// Sets the terminal's merchant's endpoint to `url`, with a new signing secret (shown
    /// this once).
    pub async fn set_webhook_endpoint(
        &self,
        terminal_id: u128,
        url: &str,
    ) -> Result<WebhookEndpoint, PlatformError> {
        super::check_url("url", url)?;
        let merchant_id = self.terminal_merchant(terminal_id).await?;
        let secret = format!(
            "whsec_{}",
            hex::encode(rand::random::<[u8; SECRET_BYTES]>())
        );
        let known = self.endpoint_row(merchant_id).await?;
        let now = now_s();
        let row = EndpointRow {
            merchant_id,
            url: url.to_string(),
            secret_sealed: self
                .keys
                .seal(secret.as_bytes(), &endpoint_context(merchant_id)),
            created_at_s: known.map_or(now, |known| known.created_at_s),
            updated_at_s: now,
        };
        self.commit_intent_rows(vec![CheckoutWrite::Endpoint(row)])
            .await?;
        Ok(WebhookEndpoint {
            url: url.to_string(),
            secret: Some(secret),
            updated_at_s: now,
        })
    }

    /// The terminal's merchant's endpoint (without its secret).
    pub async fn webhook_endpoint(
        &self,
        terminal_id: u128,
    ) -> Result<WebhookEndpoint, PlatformError> {
        let merchant_id = self.terminal_merchant(terminal_id).await?;
        let row = self
            .endpoint_row(merchant_id)
            .await?
            .ok_or(CheckoutError::NoEndpoint)?;
        Ok(WebhookEndpoint {
            url: row.url,
            secret: None,
            updated_at_s: row.updated_at_s,
        })
    }

    /// The terminal's merchant's events, newest first, a page at a time.
    pub async fn webhook_events(
        &self,
        terminal_id: u128,
        before: Option<(u64, u128)>,
        limit: usize,
    ) -> Result<Vec<EventRow>, PlatformError> {
        let merchant_id = self.terminal_merchant(terminal_id).await?;
        Ok(self
            .ledger
            .tables(move |read| tables::merchant_events_page(read, merchant_id, before, limit))
            .await?)
    }

    /// Sends a failed (or delivered) event again, from a fresh schedule.
    pub async fn resend_event(
        &self,
        terminal_id: u128,
        event_id: u128,
    ) -> Result<EventRow, PlatformError> {
        let merchant_id = self.terminal_merchant(terminal_id).await?;
        let _round = self.checkout.delivering.lock().await;
        let mut event = self
            .ledger
            .tables(move |read| tables::event(read, event_id))
            .await?
            .filter(|event| event.merchant_id == merchant_id)
            .ok_or(PlatformError::NotFound(Entity::WebhookEvent))?;
        event.status = EventStatus::Pending;
        event.attempts = 0;
        event.next_attempt_at_ms = now_ms();
        self.commit_intent_rows(vec![CheckoutWrite::Event(event.clone())])
            .await?;
        Ok(event)
    }

    async fn endpoint_row(&self, merchant_id: u128) -> Result<Option<EndpointRow>, PlatformError> {
        Ok(self
            .ledger
            .tables(move |read| tables::endpoint(read, merchant_id))
            .await?)
    }

    /// One delivery round: the due events sent, and what each attempt got committed.
    /// Answers how many were due (a full batch: call again at once).
    pub async fn deliver_due_events(&self) -> Result<usize, PlatformError> {
        let _round = self.checkout.delivering.lock().await;
        let now = now_ms();
        let due = self
            .ledger
            .tables(move |read| tables::due_events(read, now, DELIVERY_BATCH_MAX))
            .await?;
        let count = due.len();
        if count == 0 {
            return Ok(0);
        }
        let mut endpoints: HashMap<u128, Option<(String, Vec<u8>)>> = HashMap::new();
        for event in &due {
            if let std::collections::hash_map::Entry::Vacant(entry) =
                endpoints.entry(event.merchant_id)
            {
                entry.insert(self.opened_endpoint(event.merchant_id).await?);
            }
        }
        let mut attempted = Vec::with_capacity(count);
        for chunk in due.chunks(DELIVERIES_IN_FLIGHT_MAX) {
            let attempts = chunk.iter().map(|event| {
                let endpoint = endpoints.get(&event.merchant_id).cloned().flatten();
                self.attempt(event, endpoint)
            });
            // Together: each attempt's time is its own receiver's, not the sum.
            attempted.extend(futures_util::future::join_all(attempts).await);
        }
        let writes = attempted.into_iter().map(CheckoutWrite::Event).collect();
        self.commit_intent_rows(writes).await?;
        Ok(count)
    }

    async fn opened_endpoint(
        &self,
        merchant_id: u128,
    ) -> Result<Option<(String, Vec<u8>)>, PlatformError> {
        let Some(row) = self.endpoint_row(merchant_id).await? else {
            return Ok(None);
        };
        let secret = self
            .keys
            .open(&row.secret_sealed, &endpoint_context(merchant_id))
            .map_err(|error| PlatformError::Unavailable(error.to_string()))?;
        Ok(Some((row.url, secret)))
    }

    /// One attempt of `event` to `endpoint` (none: the attempt fails without a call): the
    /// event as it went.
    async fn attempt(&self, event: &EventRow, endpoint: Option<(String, Vec<u8>)>) -> EventRow {
        let mut event = event.clone();
        let outcome = match endpoint {
            Some((url, secret)) => {
                let delivery = Delivery {
                    url,
                    event_id: event.id.to_string(),
                    signature: ports::webhook::signature_header(
                        &secret,
                        now_s(),
                        event.payload.as_bytes(),
                    ),
                    body: event.payload.clone(),
                };
                self.webhooks.deliver(&delivery).await
            }
            None => Err(DeliveryError::Unreachable("no endpoint set".into())),
        };
        event.attempts = event.attempts.saturating_add(1);
        match outcome {
            Ok(status) => {
                event.status = EventStatus::Delivered;
                event.delivered_at_s = Some(now_s());
                event.last_status_code = Some(status);
                event.last_error = None;
            }
            Err(error) => {
                if let DeliveryError::Status(status) = error {
                    event.last_status_code = Some(status);
                }
                event.last_error = Some(
                    error
                        .to_string()
                        .chars()
                        .take(ERROR_TEXT_CHARS_MAX)
                        .collect(),
                );
                self.schedule_event_retry(&mut event);
            }
        }
        event
    }

    fn schedule_event_retry(&self, event: &mut EventRow) {
        let index = usize::try_from(event.attempts).unwrap_or(usize::MAX) - 1;
        match RETRY_SCHEDULE.get(index) {
            Some(wait) => {
                let wait_ms = wait.saturating_mul(self.config.checkout.retry_unit_ms);
                event.next_attempt_at_ms = now_ms().saturating_add(wait_ms);
            }
            None => event.status = EventStatus::Failed,
        }
    }
}

/// Starts the delivery: a round every `delivery_poll_ms`, at once again after a full one.
pub fn spawn_webhook_delivery(platform: &Arc<Platform>) {
    let platform = Arc::downgrade(platform);
    tokio::spawn(async move {
        loop {
            let Some(live) = platform.upgrade() else {
                return;
            };
            let poll_ms = live.config.checkout.delivery_poll_ms;
            let full = match live.deliver_due_events().await {
                Ok(count) => count == DELIVERY_BATCH_MAX,
                Err(error) => {
                    tracing::warn!(%error, "webhook delivery round failed");
                    false
                }
            };
            drop(live);
            if !full {
                tokio::time::sleep(Duration::from_millis(poll_ms)).await;
            }
        }
    });
}
