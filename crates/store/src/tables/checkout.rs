//! The checkout context's tables (TT-7, TT-12, TT-13; seed 002 §3.4, §3.9): payment intents
//! a merchant's shop or till creates and a member approves, the merchant's webhook
//! endpoint, and the events owed to it.
//!
//! ```sql
//! checkout_intents (id 16-byte id, merchant_id,
//!   terminal_id (the key that created it), order_id (the merchant's, unique per merchant),
//!   amount > 0 (MVP), capture_manual 0 | 1, return_url, description, status 'open' |
//!   'approved' | 'canceled', member_id (who approved it), authorization_id (the payment
//!   that approved it), attempts (declined approvals so far), request_digest, created_at_s,
//!   expires_at_s, finished_at_s)
//! webhook_endpoints (merchant_id, url, secret_sealed (AEAD), created_at_s, updated_at_s)
//! webhook_events (id, merchant_id, kind, intent_id, payload (the JSON body, as sent),
//!   status 'pending' | 'delivered' | 'failed', attempts, next_attempt_at_ms, created_at_s,
//!   delivered_at_s, last_status_code, last_error)
//! ```
//!
//! Indexes, each for the queries named:
//! - `checkout_intents_by_order` (`merchant_id, order_id`, unique): a retried creation
//!   finds its intent ([`intent_by_order`]);
//! - `checkout_intents_by_merchant` (`merchant_id, created_at_s`): the merchant's list;
//! - `webhook_events_due` (`next_attempt_at_ms`) where pending: what the delivery sends now
//!   ([`due_events`]);
//! - `webhook_events_by_merchant` (`merchant_id, created_at_s`): the merchant's events.

use crate::StoreError;
use crate::tables::sql::{self, Columns, Value};
use crate::tables::{Row, TableRead, TableTx};

macro_rules! tables {
    ($without_rowid:literal) => {
        concat!(
            "CREATE TABLE checkout_intents (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                merchant_id bytea NOT NULL CHECK (length(merchant_id) = 16),
                terminal_id bytea NOT NULL CHECK (length(terminal_id) = 16),
                order_id text NOT NULL,
                amount bigint NOT NULL CHECK (amount > 0),
                capture_manual bigint NOT NULL CHECK (capture_manual IN (0, 1)),
                return_url text NOT NULL,
                description text NOT NULL,
                status text NOT NULL CHECK (status IN ('open', 'approved', 'canceled')),
                member_id bytea CHECK (member_id IS NULL OR length(member_id) = 16),
                authorization_id bytea
                    CHECK (authorization_id IS NULL OR length(authorization_id) = 16),
                attempts bigint NOT NULL CHECK (attempts >= 0),
                request_digest text NOT NULL,
                created_at_s bigint NOT NULL,
                expires_at_s bigint NOT NULL,
                finished_at_s bigint
            )",
            $without_rowid,
            ";
            CREATE UNIQUE INDEX checkout_intents_by_order ON checkout_intents (merchant_id, order_id);
            CREATE INDEX checkout_intents_by_merchant ON checkout_intents (merchant_id, created_at_s);
            CREATE TABLE webhook_endpoints (
                merchant_id bytea PRIMARY KEY CHECK (length(merchant_id) = 16),
                url text NOT NULL,
                secret_sealed bytea NOT NULL,
                created_at_s bigint NOT NULL,
                updated_at_s bigint NOT NULL
            )",
            $without_rowid,
            ";
            CREATE TABLE webhook_events (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                merchant_id bytea NOT NULL CHECK (length(merchant_id) = 16),
                kind text NOT NULL,
                intent_id bytea NOT NULL CHECK (length(intent_id) = 16),
                payload text NOT NULL,
                status text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
                attempts bigint NOT NULL CHECK (attempts >= 0),
                next_attempt_at_ms bigint NOT NULL,
                created_at_s bigint NOT NULL,
                delivered_at_s bigint,
                last_status_code bigint,
                last_error text
            )",
            $without_rowid,
            ";
            CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at_ms)
                WHERE status = 'pending';
            CREATE INDEX webhook_events_by_merchant ON webhook_events (merchant_id, created_at_s);"
        )
    };
}

/// The tables on SQLite (migration 29).
pub(crate) const SQLITE_TABLES: &str = tables!(" WITHOUT ROWID");
/// The tables on PostgreSQL (migration 29).
pub(crate) const POSTGRES_TABLES: &str = tables!("");

/// Most rows one page of a checkout query answers.
pub const CHECKOUT_PAGE_MAX: usize = 100;

/// Where a payment intent stands in its own table (what its payment did since is the
/// authorization's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntentStatus {
    /// Waiting for a member's approval until `expires_at_s`.
    Open,
    /// A member approved it: the authorization with the intent's id says the rest.
    Approved,
    /// The merchant canceled it before anyone approved it.
    Canceled,
}

impl IntentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IntentStatus::Open => "open",
            IntentStatus::Approved => "approved",
            IntentStatus::Canceled => "canceled",
        }
    }

    pub fn parse(text: &str) -> Option<IntentStatus> {
        [
            IntentStatus::Open,
            IntentStatus::Approved,
            IntentStatus::Canceled,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// A payment intent, as `checkout_intents` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntentRow {
    pub id: u128,
    pub merchant_id: u128,
    pub terminal_id: u128,
    pub order_id: String,
    pub amount: u64,
    pub capture_manual: bool,
    pub return_url: String,
    pub description: String,
    pub status: IntentStatus,
    pub member_id: Option<u128>,
    /// The authorization that paid it (its `van_tx_id` is checkout's, see `platform::van`).
    pub authorization_id: Option<u128>,
    /// Approvals declined so far (each an authorization of its own).
    pub attempts: u32,
    /// Hex SHA-256 of what the merchant asked, to tell a retry from another request.
    pub request_digest: String,
    pub created_at_s: u64,
    pub expires_at_s: u64,
    pub finished_at_s: Option<u64>,
}

/// A merchant's webhook endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointRow {
    pub merchant_id: u128,
    pub url: String,
    pub secret_sealed: Vec<u8>,
    pub created_at_s: u64,
    pub updated_at_s: u64,
}

/// Where a webhook event stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventStatus {
    /// Not acknowledged yet: sent again at `next_attempt_at_ms`.
    Pending,
    /// The merchant answered 2xx.
    Delivered,
    /// Every attempt of the schedule failed; the merchant may ask for it again.
    Failed,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Pending => "pending",
            EventStatus::Delivered => "delivered",
            EventStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<EventStatus> {
        [
            EventStatus::Pending,
            EventStatus::Delivered,
            EventStatus::Failed,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// A webhook event, as `webhook_events` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRow {
    pub id: u128,
    pub merchant_id: u128,
    pub kind: String,
    pub intent_id: u128,
    /// The JSON body, exactly as every attempt sends it.
    pub payload: String,
    pub status: EventStatus,
    pub attempts: u32,
    pub next_attempt_at_ms: u64,
    pub created_at_s: u64,
    pub delivered_at_s: Option<u64>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
}

/// A change to the checkout tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckoutWrite {
    /// Inserts or replaces the intent (by id).
    Intent(IntentRow),
    /// Inserts or replaces the merchant's endpoint.
    Endpoint(EndpointRow),
    /// Inserts or replaces the event (by id).
    Event(EventRow),
}

impl Row for CheckoutWrite {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        match self {
            CheckoutWrite::Intent(row) => write_intent(tx, row),
            CheckoutWrite::Endpoint(row) => write_endpoint(tx, row),
            CheckoutWrite::Event(row) => write_event(tx, row),
        }
    }
}

const INTENT_COLUMNS: &str = "id, merchant_id, terminal_id, order_id, amount, capture_manual,
    return_url, description, status, member_id, authorization_id, attempts, request_digest,
    created_at_s, expires_at_s, finished_at_s";

fn write_intent(tx: &mut TableTx<'_, '_>, row: &IntentRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO checkout_intents ({INTENT_COLUMNS})
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
        ON CONFLICT (id) DO UPDATE SET status = excluded.status,
            member_id = excluded.member_id, authorization_id = excluded.authorization_id,
            attempts = excluded.attempts, finished_at_s = excluded.finished_at_s"
    );
    let params = [
        Value::id(row.id),
        Value::id(row.merchant_id),
        Value::id(row.terminal_id),
        Value::text(&row.order_id),
        Value::uint(row.amount)?,
        Value::flag(row.capture_manual),
        Value::text(&row.return_url),
        Value::text(&row.description),
        Value::text(row.status.as_str()),
        Value::opt_id(row.member_id),
        Value::opt_id(row.authorization_id),
        Value::uint(u64::from(row.attempts))?,
        Value::text(&row.request_digest),
        Value::uint(row.created_at_s)?,
        Value::uint(row.expires_at_s)?,
        Value::opt_uint(row.finished_at_s)?,
    ];
    sql::execute(tx, &sql, &params)?;
    Ok(())
}

fn intent_of(mut columns: Columns) -> Result<IntentRow, StoreError> {
    Ok(IntentRow {
        id: columns.id()?,
        merchant_id: columns.id()?,
        terminal_id: columns.id()?,
        order_id: columns.text()?,
        amount: columns.uint()?,
        capture_manual: columns.flag()?,
        return_url: columns.text()?,
        description: columns.text()?,
        status: IntentStatus::parse(&columns.text()?)
            .ok_or_else(|| sql::corrupt("a payment intent's status"))?,
        member_id: columns.opt_id()?,
        authorization_id: columns.opt_id()?,
        attempts: columns.u32()?,
        request_digest: columns.text()?,
        created_at_s: columns.uint()?,
        expires_at_s: columns.uint()?,
        finished_at_s: columns.opt_uint()?,
    })
}

fn write_endpoint(tx: &mut TableTx<'_, '_>, row: &EndpointRow) -> Result<(), StoreError> {
    let sql = "INSERT INTO webhook_endpoints
            (merchant_id, url, secret_sealed, created_at_s, updated_at_s)
            VALUES (?1, ?2, ?3, ?4, ?5)
        ON CONFLICT (merchant_id) DO UPDATE SET url = excluded.url,
            secret_sealed = excluded.secret_sealed, updated_at_s = excluded.updated_at_s";
    let params = [
        Value::id(row.merchant_id),
        Value::text(&row.url),
        Value::bytes(&row.secret_sealed),
        Value::uint(row.created_at_s)?,
        Value::uint(row.updated_at_s)?,
    ];
    sql::execute(tx, sql, &params)?;
    Ok(())
}

const EVENT_COLUMNS: &str = "id, merchant_id, kind, intent_id, payload, status, attempts,
    next_attempt_at_ms, created_at_s, delivered_at_s, last_status_code, last_error";

fn write_event(tx: &mut TableTx<'_, '_>, row: &EventRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO webhook_events ({EVENT_COLUMNS})
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
        ON CONFLICT (id) DO UPDATE SET status = excluded.status,
            attempts = excluded.attempts, next_attempt_at_ms = excluded.next_attempt_at_ms,
            delivered_at_s = excluded.delivered_at_s,
            last_status_code = excluded.last_status_code, last_error = excluded.last_error"
    );
    let params = [
        Value::id(row.id),
        Value::id(row.merchant_id),
        Value::text(&row.kind),
        Value::id(row.intent_id),
        Value::text(&row.payload),
        Value::text(row.status.as_str()),
        Value::uint(u64::from(row.attempts))?,
        Value::uint(row.next_attempt_at_ms)?,
        Value::uint(row.created_at_s)?,
        Value::opt_uint(row.delivered_at_s)?,
        Value::opt_uint(row.last_status_code.map(u64::from))?,
        Value::opt_text(row.last_error.as_deref()),
    ];
    sql::execute(tx, &sql, &params)?;
    Ok(())
}

fn event_of(mut columns: Columns) -> Result<EventRow, StoreError> {
    Ok(EventRow {
        id: columns.id()?,
        merchant_id: columns.id()?,
        kind: columns.text()?,
        intent_id: columns.id()?,
        payload: columns.text()?,
        status: EventStatus::parse(&columns.text()?)
            .ok_or_else(|| sql::corrupt("a webhook event's status"))?,
        attempts: columns.u32()?,
        next_attempt_at_ms: columns.uint()?,
        created_at_s: columns.uint()?,
        delivered_at_s: columns.opt_uint()?,
        last_status_code: columns
            .opt_uint()?
            .map(|code| u16::try_from(code).map_err(|_| sql::corrupt("a status code")))
            .transpose()?,
        last_error: columns.opt_text()?,
    })
}

/// The intent with this id.
pub fn intent(read: &mut TableRead<'_>, id: u128) -> Result<Option<IntentRow>, StoreError> {
    let sql = format!("SELECT {INTENT_COLUMNS} FROM checkout_intents WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(intent_of)
        .transpose()
}

/// The merchant's intent for `order_id`.
pub fn intent_by_order(
    read: &mut TableRead<'_>,
    merchant_id: u128,
    order_id: &str,
) -> Result<Option<IntentRow>, StoreError> {
    let sql = format!(
        "SELECT {INTENT_COLUMNS} FROM checkout_intents WHERE merchant_id = ?1 AND order_id = ?2"
    );
    sql::query_one(read, &sql, &[Value::id(merchant_id), Value::text(order_id)])?
        .map(intent_of)
        .transpose()
}

/// The merchant's intents, newest first, strictly before the cursor `(created_at_s, id)`,
/// at most `limit` (capped at [`CHECKOUT_PAGE_MAX`]).
pub fn merchant_intents_page(
    read: &mut TableRead<'_>,
    merchant_id: u128,
    before: Option<(u64, u128)>,
    limit: usize,
) -> Result<Vec<IntentRow>, StoreError> {
    let sql = format!(
        "SELECT {INTENT_COLUMNS} FROM checkout_intents
        WHERE merchant_id = ?1 AND (created_at_s, id) < (?2, ?3)
        ORDER BY created_at_s DESC, id DESC LIMIT ?4"
    );
    let (time_s, id) = cursor(before);
    let params = [
        Value::id(merchant_id),
        time_s,
        id,
        sql::limit(limit, CHECKOUT_PAGE_MAX),
    ];
    sql::query(read, &sql, &params)?
        .into_iter()
        .map(intent_of)
        .collect()
}

fn cursor(before: Option<(u64, u128)>) -> (Value, Value) {
    match before {
        Some((time_s, id)) => (Value::bound(time_s), Value::id(id)),
        None => (Value::Int(i64::MAX), sql::before_id(None)),
    }
}

/// The merchant's webhook endpoint.
pub fn endpoint(
    read: &mut TableRead<'_>,
    merchant_id: u128,
) -> Result<Option<EndpointRow>, StoreError> {
    let sql = "SELECT merchant_id, url, secret_sealed, created_at_s, updated_at_s
        FROM webhook_endpoints WHERE merchant_id = ?1";
    let Some(mut columns) = sql::query_one(read, sql, &[Value::id(merchant_id)])? else {
        return Ok(None);
    };
    Ok(Some(EndpointRow {
        merchant_id: columns.id()?,
        url: columns.text()?,
        secret_sealed: columns.bytes()?,
        created_at_s: columns.uint()?,
        updated_at_s: columns.uint()?,
    }))
}

/// The event with this id.
pub fn event(read: &mut TableRead<'_>, id: u128) -> Result<Option<EventRow>, StoreError> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM webhook_events WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(event_of)
        .transpose()
}

/// Pending events due at `now_ms`, the longest waiting first, at most `limit` (capped at
/// [`CHECKOUT_PAGE_MAX`]), through `webhook_events_due`.
pub fn due_events(
    read: &mut TableRead<'_>,
    now_ms: u64,
    limit: usize,
) -> Result<Vec<EventRow>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM webhook_events
        WHERE status = 'pending' AND next_attempt_at_ms <= ?1
        ORDER BY next_attempt_at_ms, id LIMIT ?2"
    );
    let params = [Value::bound(now_ms), sql::limit(limit, CHECKOUT_PAGE_MAX)];
    sql::query(read, &sql, &params)?
        .into_iter()
        .map(event_of)
        .collect()
}

/// When the next pending event is due, if any is pending.
pub fn next_due_ms(read: &mut TableRead<'_>) -> Result<Option<u64>, StoreError> {
    let sql = "SELECT next_attempt_at_ms FROM webhook_events WHERE status = 'pending'
        ORDER BY next_attempt_at_ms LIMIT 1";
    match sql::query_one(read, sql, &[])? {
        Some(mut columns) => Ok(Some(columns.uint()?)),
        None => Ok(None),
    }
}

/// The merchant's events, newest first, strictly before the cursor, at most `limit`
/// (capped at [`CHECKOUT_PAGE_MAX`]); of one intent when `intent_id` is given.
pub fn merchant_events_page(
    read: &mut TableRead<'_>,
    merchant_id: u128,
    before: Option<(u64, u128)>,
    limit: usize,
) -> Result<Vec<EventRow>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM webhook_events
        WHERE merchant_id = ?1 AND (created_at_s, id) < (?2, ?3)
        ORDER BY created_at_s DESC, id DESC LIMIT ?4"
    );
    let (time_s, id) = cursor(before);
    let params = [
        Value::id(merchant_id),
        time_s,
        id,
        sql::limit(limit, CHECKOUT_PAGE_MAX),
    ];
    sql::query(read, &sql, &params)?
        .into_iter()
        .map(event_of)
        .collect()
}
