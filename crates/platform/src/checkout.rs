//! Checkout (TT-7, TT-12, TT-13; seed 002 §3.4, §3.9): online payments and the till's QR.
//! A merchant's shop (or till) creates a payment intent with its terminal key; a member
//! approves it in the app; the merchant reads, captures, cancels and refunds it, and hears of
//! each change by a signed webhook (`checkout::webhooks`). docs/checkout.md.
//!
//! ```text
//!  create ──► open ──approve (PIN)──► approved: the authorization says the rest
//!              │  └─ declined: still open (another try, at most APPROVAL_ATTEMPTS_MAX)
//!              ├──cancel──► canceled          approved ─(manual)─ capture ─► succeeded
//!              └──(ttl)───► expired                     ─(manual)─ cancel ──► canceled
//!                                                        succeeded ─refund─► (refunded)
//! ```
//!
//! - An intent is paid by a payment of the payments context: an authorization at the
//!   intent's terminal whose `van_tx_id` is checkout's (`checkout:<intent>.<attempt>`), paid
//!   from the approving member's wallet. So the money moves exactly as at the till (one
//!   ledger transfer, a hold when `capture_manual`), counts against the same daily limit,
//!   and is settled in the same settlement runs with the merchant's fee.
//! - The intent's own rows and its webhook events are written in the same commit as the
//!   payment's (the `PaymentFollower` below): an approval, a capture, a cancel or a refund
//!   and the event that tells the merchant are durable together or not at all, whether the
//!   step came through `/checkout/v1` or a till's VAN call.
//! - Creating an intent is idempotent on the merchant's `order_id` (the same request again
//!   answers the same intent; another request under it is refused).

pub mod error;
pub mod webhooks;

use std::sync::Arc;

use sha2::{Digest, Sha256};
use store::tables::RowRef;
use store::tables::checkout::{self as tables, CheckoutWrite, IntentRow, IntentStatus};

pub use error::CheckoutError;
pub use webhooks::{WebhookEndpoint, spawn_webhook_delivery};

use crate::authorization::{AuthorizationRecord, AuthorizationStatus, DeclineReason};
use crate::claims::{ClaimDetails, Claims};
use crate::error::{Entity, PlatformError, invalid};
use crate::payments::{Follow, FollowRows, PaymentFollower, PaymentStep};
use crate::service::Platform;
use crate::van::{AuthorizationRequest, CHECKOUT_VAN_TX_PREFIX, PayWith};
use ports::time::now_s;

/// How long an intent waits for a member's approval by default (15 minutes, as card
/// checkouts do).
pub const INTENT_TTL_S: u64 = 15 * 60;
/// Longest `intent_ttl_s` a server may be configured with (a day).
pub const INTENT_TTL_S_MAX: u64 = 86_400;
/// `order_id`s are 1 to this many bytes of `[0-9A-Za-z_.:-]`.
pub const ORDER_ID_BYTES_MAX: usize = 64;
/// Longest `return_url`.
pub const RETURN_URL_BYTES_MAX: usize = 512;
/// Longest description shown to the member.
pub const DESCRIPTION_CHARS_MAX: usize = 100;
/// Declined approvals an intent takes before it refuses more (a member short of MVP may
/// top up and try again, but not forever).
pub const APPROVAL_ATTEMPTS_MAX: u32 = 10;
/// Operations on intents under way at once; more answer 503.
pub const INTENT_CLAIMS_MAX: usize = 65_536;
/// Longest a second request on one intent waits for the first.
pub const INTENT_WAIT_MS: u64 = 10_000;

/// Checkout's settings.
#[derive(Clone, Debug)]
pub struct CheckoutConfig {
    /// How long an intent waits for approval.
    pub intent_ttl_s: u64,
    /// The unit of the webhook retry schedule (`webhooks::RETRY_SCHEDULE`): 1,000 ms makes
    /// it seconds, as served; tests shrink it.
    pub retry_unit_ms: u64,
    /// How often the delivery looks for due events.
    pub delivery_poll_ms: u64,
}

impl Default for CheckoutConfig {
    fn default() -> Self {
        CheckoutConfig {
            intent_ttl_s: INTENT_TTL_S,
            retry_unit_ms: 1_000,
            delivery_poll_ms: 1_000,
        }
    }
}

/// The checkout context's working set: claims, and the rows of the intents being approved
/// (intents live in their table).
pub struct Checkout {
    /// One operation per intent (and per merchant's order id) at a time.
    intents: Claims<Claimed>,
    /// Each intent being approved, as its approval read it under its claim (every write of
    /// an intent holds that claim, so the row cannot change meanwhile): the payment's
    /// follower takes it from here instead of reading the table again. One entry per
    /// claimed intent, so at most [`INTENT_CLAIMS_MAX`].
    approving: std::sync::Mutex<std::collections::HashMap<u128, IntentRow>>,
    /// One delivery round at a time: an event is never sent twice at once.
    pub(crate) delivering: tokio::sync::Mutex<()>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Claimed {
    Intent(u128),
    Order(u128, String),
}

impl Default for Checkout {
    fn default() -> Self {
        Checkout {
            approving: std::sync::Mutex::default(),
            intents: Claims::new(
                INTENT_CLAIMS_MAX,
                INTENT_WAIT_MS,
                ClaimDetails {
                    full: "too many payment intents being changed; retry",
                    wait: "another request on this payment intent is under way",
                },
            ),
            delivering: tokio::sync::Mutex::new(()),
        }
    }
}

/// What a merchant asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntentRequest {
    pub order_id: String,
    /// MVP, 1 to the till's maximum (`authorization::AUTHORIZATION_AMOUNT_MAX`).
    pub amount: u64,
    /// Where the app sends the member after approving (http or https).
    pub return_url: String,
    pub description: String,
    /// Hold on approval, capture later (like `capture: false` at the till).
    pub capture_manual: bool,
}

impl IntentRequest {
    fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"mileverse/checkout/intent/");
        hasher.update(self.amount.to_be_bytes());
        hasher.update([u8::from(self.capture_manual)]);
        for text in [&self.order_id, &self.return_url, &self.description] {
            hasher.update((text.len() as u64).to_be_bytes());
            hasher.update(text.as_bytes());
        }
        hex::encode(hasher.finalize())
    }

    fn check(&self) -> Result<(), PlatformError> {
        check_order_id(&self.order_id)?;
        let amount_max = crate::authorization::AUTHORIZATION_AMOUNT_MAX;
        if self.amount == 0 || self.amount > amount_max {
            return Err(invalid("amount", format!("1 to {amount_max} MVP")));
        }
        check_return_url(&self.return_url)?;
        let description = &self.description;
        if description.chars().count() > DESCRIPTION_CHARS_MAX
            || description.chars().any(char::is_control)
        {
            let detail = format!("at most {DESCRIPTION_CHARS_MAX} characters, no control ones");
            return Err(invalid("description", detail));
        }
        Ok(())
    }
}

fn check_order_id(order_id: &str) -> Result<(), PlatformError> {
    let ok = !order_id.is_empty()
        && order_id.len() <= ORDER_ID_BYTES_MAX
        && order_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        let detail = format!("1 to {ORDER_ID_BYTES_MAX} of A-Z a-z 0-9 - _ . :");
        Err(invalid("order_id", detail))
    }
}

/// An absolute http(s) URL without spaces or control characters, at most
/// [`RETURN_URL_BYTES_MAX`] bytes (the app links to it; it is never fetched).
pub(crate) fn check_return_url(url: &str) -> Result<(), PlatformError> {
    check_url("return_url", url)
}

pub(crate) fn check_url(field: &'static str, url: &str) -> Result<(), PlatformError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let ok = url.len() <= RETURN_URL_BYTES_MAX
        && rest.is_some_and(|rest| {
            !rest.is_empty() && !rest.starts_with('/') && rest.bytes().all(|b| b.is_ascii_graphic())
        });
    if ok {
        Ok(())
    } else {
        let detail = format!("an http(s) URL of at most {RETURN_URL_BYTES_MAX} bytes");
        Err(invalid(field, detail))
    }
}

/// Where an intent stands, as merchants and members see it (Stripe's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntentState {
    RequiresApproval,
    Expired,
    Canceled,
    /// Approved as a hold (`capture_manual`): the merchant captures or cancels it.
    RequiresCapture,
    Succeeded,
}

impl IntentState {
    pub fn as_str(self) -> &'static str {
        match self {
            IntentState::RequiresApproval => "requires_approval",
            IntentState::Expired => "expired",
            IntentState::Canceled => "canceled",
            IntentState::RequiresCapture => "requires_capture",
            IntentState::Succeeded => "succeeded",
        }
    }
}

/// An intent with its merchant's name and its payment (once approved).
#[derive(Clone, Debug)]
pub struct Intent {
    pub row: IntentRow,
    pub merchant_name: String,
    pub payment: Option<AuthorizationRecord>,
}

impl Intent {
    pub fn state(&self, now_s: u64) -> IntentState {
        intent_state(&self.row, self.payment.as_ref(), now_s)
    }

    pub fn captured_amount(&self) -> u64 {
        self.payment.as_ref().map_or(0, |p| p.captured_amount)
    }

    pub fn refunded_amount(&self) -> u64 {
        self.payment.as_ref().map_or(0, |p| p.refunded_amount)
    }
}

fn intent_state(row: &IntentRow, payment: Option<&AuthorizationRecord>, now_s: u64) -> IntentState {
    match (row.status, payment.map(|p| p.status)) {
        (IntentStatus::Open, _) if now_s >= row.expires_at_s => IntentState::Expired,
        (IntentStatus::Open, _) => IntentState::RequiresApproval,
        (IntentStatus::Canceled, _) => IntentState::Canceled,
        (IntentStatus::Approved, Some(AuthorizationStatus::Authorized)) => {
            IntentState::RequiresCapture
        }
        (IntentStatus::Approved, Some(AuthorizationStatus::Captured)) => IntentState::Succeeded,
        (IntentStatus::Approved, _) => IntentState::Canceled,
    }
}

/// The `van_tx_id` of an intent's `attempt`-th approval.
fn approval_van_tx_id(intent_id: u128, attempt: u32) -> String {
    format!("{CHECKOUT_VAN_TX_PREFIX}{intent_id:032x}.{attempt}")
}

/// The intent a checkout `van_tx_id` belongs to.
fn intent_of_van_tx_id(van_tx_id: &str) -> Option<u128> {
    let rest = van_tx_id.strip_prefix(CHECKOUT_VAN_TX_PREFIX)?;
    let hex = rest.get(..32)?;
    u128::from_str_radix(hex, 16).ok()
}

/// The key of a refund of an intent under the merchant's idempotency key.
fn refund_key(intent_id: u128, key: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"mileverse/checkout/refund/");
    hasher.update(intent_id.to_be_bytes());
    hasher.update(key.as_bytes());
    let digest = hex::encode(&hasher.finalize()[..16]);
    format!("{CHECKOUT_VAN_TX_PREFIX}r.{digest}")
}

fn declined(reason: DeclineReason) -> PlatformError {
    CheckoutError::Declined(reason.as_str()).into()
}

impl Platform {
    /// Creates a payment intent at `terminal_id` (whose signature the caller checked), or
    /// answers the one the same request made before.
    pub async fn create_intent(
        &self,
        terminal_id: u128,
        request: IntentRequest,
    ) -> Result<Intent, PlatformError> {
        request.check()?;
        let terminal = self.terminal_by_id(terminal_id).await?;
        let merchant_id = terminal.merchant_id;
        let claimed = Claimed::Order(merchant_id, request.order_id.clone());
        let _claim = self.checkout.intents.claim(claimed).await?;
        let digest = request.digest();
        let order_id = request.order_id.clone();
        let known = self
            .ledger
            .tables(move |read| tables::intent_by_order(read, merchant_id, &order_id))
            .await?;
        if let Some(known) = known {
            if known.request_digest != digest {
                return Err(CheckoutError::OrderConflict.into());
            }
            return self.intent_of(known).await;
        }
        let now = now_s();
        let row = IntentRow {
            id: crate::chart::new_id(),
            merchant_id,
            terminal_id,
            order_id: request.order_id,
            amount: request.amount,
            capture_manual: request.capture_manual,
            return_url: request.return_url,
            description: request.description,
            status: IntentStatus::Open,
            member_id: None,
            authorization_id: None,
            attempts: 0,
            request_digest: digest,
            created_at_s: now,
            expires_at_s: now.saturating_add(self.config.checkout.intent_ttl_s),
            finished_at_s: None,
        };
        self.commit_intent_rows(vec![CheckoutWrite::Intent(row.clone())])
            .await?;
        self.intent_of(row).await
    }

    /// The intent `id` of the terminal's merchant.
    pub async fn merchant_intent(
        &self,
        terminal_id: u128,
        id: u128,
    ) -> Result<Intent, PlatformError> {
        let row = self.merchant_intent_row(terminal_id, id).await?;
        self.intent_of(row).await
    }

    /// The intent `id`, as the member about to approve it sees it (its id is the secret a
    /// shop's link or a till's QR carries).
    pub async fn member_intent(&self, id: u128) -> Result<Intent, PlatformError> {
        let row = self.intent_row(id).await?;
        self.intent_of(row).await
    }

    /// The member approves intent `id` (the PIN again above the platform's threshold): its
    /// payment is authorized from their wallet, and captured unless `capture_manual`.
    pub async fn approve_intent(
        &self,
        member_id: u128,
        id: u128,
        pin: Option<&str>,
    ) -> Result<Intent, PlatformError> {
        let _claim = self.checkout.intents.claim(Claimed::Intent(id)).await?;
        let row = self.intent_row(id).await?;
        match row.status {
            IntentStatus::Open if now_s() < row.expires_at_s => {}
            IntentStatus::Open => return Err(CheckoutError::IntentExpired.into()),
            IntentStatus::Canceled => return Err(CheckoutError::IntentState("was canceled").into()),
            IntentStatus::Approved => {
                return Err(CheckoutError::IntentState("was approved already").into());
            }
        }
        if row.attempts >= APPROVAL_ATTEMPTS_MAX {
            return Err(CheckoutError::TooManyAttempts(APPROVAL_ATTEMPTS_MAX).into());
        }
        self.member_gate(member_id)
            .await?
            .ok_or(PlatformError::NotFound(Entity::Member))?
            .check_may_pay()?;
        self.confirm_spend(member_id, u128::from(row.amount), pin)
            .await?;
        let request = AuthorizationRequest {
            pay_code: String::new(),
            amount: row.amount,
            van_tx_id: approval_van_tx_id(id, row.attempts),
            capture: !row.capture_manual,
            allow_partial: false,
        };
        let approving = Approving::new(&self.checkout, row.clone());
        let payment = self
            .authorize_as(row.terminal_id, request, PayWith::Member(member_id))
            .await?;
        drop(approving);
        if let Some(reason) = payment.decline_reason {
            return Err(declined(reason));
        }
        // As the payment's commit wrote it (`follow_rows`): no need to read it back.
        let mut row = row;
        row.status = IntentStatus::Approved;
        row.member_id = Some(payment.member_id);
        row.authorization_id = Some(payment.id);
        let merchant_name = self
            .merchant_gate(row.merchant_id)
            .await?
            .map(|merchant| merchant.name)
            .unwrap_or_default();
        Ok(Intent {
            row,
            merchant_name,
            payment: Some(payment),
        })
    }

    /// Captures `amount` (all when `None`) of an intent approved as a hold.
    pub async fn capture_intent(
        &self,
        terminal_id: u128,
        id: u128,
        amount: Option<u64>,
    ) -> Result<Intent, PlatformError> {
        let _claim = self.checkout.intents.claim(Claimed::Intent(id)).await?;
        let (row, payment) = self.approved_intent(terminal_id, id).await?;
        let amount = amount.unwrap_or(payment.approved_amount);
        self.capture(terminal_id, payment.id, amount).await?;
        self.intent_of(row).await
    }

    /// Cancels an intent: before approval it closes; approved as a hold, the hold is voided.
    /// A captured payment is refunded instead (`refund_intent`).
    pub async fn cancel_intent(
        &self,
        terminal_id: u128,
        id: u128,
    ) -> Result<Intent, PlatformError> {
        let _claim = self.checkout.intents.claim(Claimed::Intent(id)).await?;
        let row = self.merchant_intent_row(terminal_id, id).await?;
        match row.status {
            IntentStatus::Canceled => return self.intent_of(row).await,
            IntentStatus::Open => return self.cancel_open_intent(row).await,
            IntentStatus::Approved => {}
        }
        let (row, payment) = self.approved_intent(terminal_id, id).await?;
        match payment.status {
            AuthorizationStatus::Voided => {}
            AuthorizationStatus::Authorized => {
                let key = format!("{CHECKOUT_VAN_TX_PREFIX}{id:032x}.void");
                self.cancel_keyed(terminal_id, payment.id, None, &key)
                    .await?;
            }
            _ => return Err(CheckoutError::IntentState("was captured: refund it").into()),
        }
        self.intent_of(row).await
    }

    /// Refunds `amount` (all that is left when `None`) of a captured intent, once per
    /// merchant's `key` (the `Idempotency-Key`).
    pub async fn refund_intent(
        &self,
        terminal_id: u128,
        id: u128,
        amount: Option<u64>,
        key: &str,
    ) -> Result<Intent, PlatformError> {
        let _claim = self.checkout.intents.claim(Claimed::Intent(id)).await?;
        let (row, payment) = self.approved_intent(terminal_id, id).await?;
        if payment.status != AuthorizationStatus::Captured {
            return Err(CheckoutError::IntentState("is not captured").into());
        }
        let cancel_key = refund_key(id, key);
        self.cancel_keyed(terminal_id, payment.id, amount, &cancel_key)
            .await?;
        self.intent_of(row).await
    }

    async fn cancel_open_intent(&self, mut row: IntentRow) -> Result<Intent, PlatformError> {
        let now = now_s();
        row.status = IntentStatus::Canceled;
        row.finished_at_s = Some(now);
        let event = webhooks::intent_event("payment_intent.canceled", &row, None, now);
        let writes = vec![
            CheckoutWrite::Intent(row.clone()),
            CheckoutWrite::Event(event),
        ];
        self.commit_intent_rows(writes).await?;
        self.intent_of(row).await
    }

    /// An approved intent of the terminal's merchant and its payment.
    async fn approved_intent(
        &self,
        terminal_id: u128,
        id: u128,
    ) -> Result<(IntentRow, AuthorizationRecord), PlatformError> {
        let row = self.merchant_intent_row(terminal_id, id).await?;
        let payment = match (row.status, row.authorization_id) {
            (IntentStatus::Approved, Some(payment_id)) => {
                self.settled_authorization(payment_id).await?
            }
            _ => return Err(CheckoutError::IntentState("is not approved").into()),
        };
        Ok((row, payment))
    }

    async fn intent_row(&self, id: u128) -> Result<IntentRow, PlatformError> {
        self.ledger
            .tables(move |read| tables::intent(read, id))
            .await?
            .ok_or(PlatformError::NotFound(Entity::PaymentIntent))
    }

    async fn merchant_intent_row(
        &self,
        terminal_id: u128,
        id: u128,
    ) -> Result<IntentRow, PlatformError> {
        let merchant_id = self.terminal_merchant(terminal_id).await?;
        let row = self.intent_row(id).await?;
        if row.merchant_id != merchant_id {
            return Err(PlatformError::NotFound(Entity::PaymentIntent));
        }
        Ok(row)
    }

    async fn intent_of(&self, row: IntentRow) -> Result<Intent, PlatformError> {
        let merchant_name = self
            .merchant_gate(row.merchant_id)
            .await?
            .map(|merchant| merchant.name)
            .unwrap_or_default();
        let payment = match row.authorization_id {
            Some(payment_id) => self.stored_authorization(payment_id).await?,
            None => None,
        };
        Ok(Intent {
            row,
            merchant_name,
            payment,
        })
    }

    /// Commits checkout rows without a transfer.
    pub(crate) async fn commit_intent_rows(
        &self,
        writes: Vec<CheckoutWrite>,
    ) -> Result<(), PlatformError> {
        let rows: Vec<RowRef> = writes
            .into_iter()
            .map(|write| Arc::new(write) as RowRef)
            .collect();
        self.enqueue_commit(Vec::new(), move |_| (rows, ()))?
            .done()
            .await
    }
}

/// An intent's row in [`Checkout::approving`] while its approval runs (removed however the
/// approval ends).
struct Approving<'a> {
    checkout: &'a Checkout,
    id: u128,
}

impl<'a> Approving<'a> {
    fn new(checkout: &'a Checkout, row: IntentRow) -> Approving<'a> {
        let id = row.id;
        let mut approving = checkout.approving.lock().expect("approving lock");
        assert!(
            approving.len() < INTENT_CLAIMS_MAX,
            "one entry per claimed intent"
        );
        approving.insert(id, row);
        Approving { checkout, id }
    }
}

impl Drop for Approving<'_> {
    fn drop(&mut self) {
        let mut approving = self.checkout.approving.lock().expect("approving lock");
        approving.remove(&self.id);
    }
}

/// Checkout follows the payments whose `van_tx_id` is its own: it writes the intent's
/// approval and the webhook event of each change in the payment's commit.
pub(crate) struct CheckoutFollower;

impl PaymentFollower for CheckoutFollower {
    fn follow<'a>(
        &'a self,
        platform: &'a Platform,
        record: &'a AuthorizationRecord,
        _step: PaymentStep,
    ) -> ports::gateway::BoxFuture<'a, Result<Option<Follow>, PlatformError>> {
        Box::pin(async move {
            let Some(intent_id) = intent_of_van_tx_id(&record.van_tx_id) else {
                return Ok(None);
            };
            let approving = platform
                .checkout
                .approving
                .lock()
                .expect("approving lock")
                .get(&intent_id)
                .cloned();
            let intent = match approving {
                Some(row) => Some(row),
                None => {
                    platform
                        .ledger
                        .tables(move |read| tables::intent(read, intent_id))
                        .await?
                }
            };
            let Some(intent) = intent else {
                return Ok(None);
            };
            let rows: FollowRows =
                Box::new(move |commit| follow_rows(intent, commit.before, commit.after));
            Ok(Some(Follow::rows(rows)))
        })
    }
}

/// The rows a payment's change adds: the intent approved (or its declined attempt
/// counted) on the first commit, and the event that tells the merchant.
fn follow_rows(
    mut intent: IntentRow,
    before: &AuthorizationRecord,
    after: &AuthorizationRecord,
) -> Vec<RowRef> {
    let now = now_s();
    let mut writes = Vec::new();
    if before.status == AuthorizationStatus::Pending {
        match after.status {
            AuthorizationStatus::Authorized | AuthorizationStatus::Captured => {
                assert_eq!(
                    intent.status,
                    IntentStatus::Open,
                    "an intent is approved once"
                );
                intent.status = IntentStatus::Approved;
                intent.member_id = Some(after.member_id);
                intent.authorization_id = Some(after.id);
                intent.finished_at_s = Some(now);
            }
            _ => intent.attempts = intent.attempts.saturating_add(1),
        }
        writes.push(CheckoutWrite::Intent(intent.clone()));
    }
    if let Some(kind) = webhooks::event_kind(before, after) {
        let event = webhooks::intent_event(kind, &intent, Some(after), now);
        writes.push(CheckoutWrite::Event(event));
    }
    writes
        .into_iter()
        .map(|write| Arc::new(write) as RowRef)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn van_tx_ids_name_their_intent_and_fit_the_till_maximum() {
        let id = u128::MAX >> 1;
        let van_tx_id = approval_van_tx_id(id, APPROVAL_ATTEMPTS_MAX);
        assert!(van_tx_id.len() <= crate::authorization::VAN_TX_ID_BYTES_MAX);
        assert!(crate::van::check_van_tx_id(&van_tx_id).is_ok());
        assert_eq!(intent_of_van_tx_id(&van_tx_id), Some(id));
        let refund = refund_key(id, &"k".repeat(255));
        assert!(crate::van::check_van_tx_id(&refund).is_ok());
        assert_ne!(refund_key(id, "a"), refund_key(id, "b"));
        assert_eq!(intent_of_van_tx_id("checkout:xyz"), None);
        assert_eq!(intent_of_van_tx_id("VAN-1"), None);
    }

    #[test]
    fn inputs_are_checked_at_their_maxima() {
        let request = |order_id: &str, amount: u64, url: &str, description: &str| IntentRequest {
            order_id: order_id.into(),
            amount,
            return_url: url.into(),
            description: description.into(),
            capture_manual: false,
        };
        let url_max = format!("https://{}", "a".repeat(RETURN_URL_BYTES_MAX - 8));
        let order_max = "o".repeat(ORDER_ID_BYTES_MAX);
        let text_max = "가".repeat(DESCRIPTION_CHARS_MAX);
        let amount_max = crate::authorization::AUTHORIZATION_AMOUNT_MAX;
        assert!(
            request(&order_max, amount_max, &url_max, &text_max)
                .check()
                .is_ok()
        );
        let refused = [
            request(&format!("{order_max}o"), 1, "https://a", ""),
            request("", 1, "https://a", ""),
            request("a b", 1, "https://a", ""),
            request("o", 0, "https://a", ""),
            request("o", amount_max + 1, "https://a", ""),
            request("o", 1, &format!("{url_max}a"), ""),
            request("o", 1, "javascript:alert(1)", ""),
            request("o", 1, "https://", ""),
            request("o", 1, "https:///x", ""),
            request("o", 1, "https://a b", ""),
            request("o", 1, "https://a", &format!("{text_max}가")),
            request("o", 1, "https://a", "a\nb"),
        ];
        for refused in refused {
            assert!(refused.check().is_err(), "{refused:?}");
        }
    }
}
