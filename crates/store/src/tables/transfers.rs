//! The P2P context's tables (TT-1, TT-6; seed 002 §3.1.3, §3.3): members sending value to
//! each other by phone number, and the money requests a friend pays.
//!
//! ```sql
//! p2p_transfers (id 16-byte id (also the ledger transfer id of the send), sender_id,
//!   receiver_id (NULL while held for a phone that is not a member's), phone_index (the
//!   receiver's phone's blind index), request_id (the money request it paid, or NULL),
//!   amount > 0, memo_sealed (AES-256-GCM; empty memo: empty), status 'completed' | 'held'
//!   | 'claimed' | 'returned', idempotency_key, created_at_s, expires_at_s (held: when it
//!   returns), finished_at_s)
//! p2p_requests (id 16-byte id, requester_id, amount > 0, memo_sealed, status 'open' |
//!   'paid' | 'cancelled', transfer_id (the transfer that paid it), created_at_s,
//!   expires_at_s)
//! ```
//!
//! Indexes, each for the queries named:
//! - `p2p_transfers_by_key` (`sender_id, idempotency_key`, unique): a retry finds its send;
//! - `p2p_transfers_sent` (`sender_id, created_at_s`): what a member sent today (the daily
//!   limit, [`sent_since`]) and a member's sent list;
//! - `p2p_transfers_received` (`receiver_id, created_at_s`): a member's received list;
//! - `p2p_transfers_held_for` (`phone_index`) where held: what waits for a new member;
//! - `p2p_transfers_held_until` (`expires_at_s`) where held: what returns now;
//! - `p2p_requests_by_requester` (`requester_id, created_at_s`).

use crate::StoreError;
use crate::tables::sql::{self, Columns, Value};
use crate::tables::{Row, TableRead, TableTx};

macro_rules! tables {
    ($without_rowid:literal) => {
        concat!(
            "CREATE TABLE p2p_transfers (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                sender_id bytea NOT NULL CHECK (length(sender_id) = 16),
                receiver_id bytea CHECK (receiver_id IS NULL OR length(receiver_id) = 16),
                phone_index bytea NOT NULL,
                request_id bytea CHECK (request_id IS NULL OR length(request_id) = 16),
                amount bigint NOT NULL CHECK (amount > 0),
                memo_sealed bytea NOT NULL,
                status text NOT NULL
                    CHECK (status IN ('completed', 'held', 'claimed', 'returned')),
                idempotency_key text,
                created_at_s bigint NOT NULL,
                expires_at_s bigint,
                finished_at_s bigint
            )",
            $without_rowid,
            ";
            CREATE UNIQUE INDEX p2p_transfers_by_key ON p2p_transfers (sender_id, idempotency_key)
                WHERE idempotency_key IS NOT NULL;
            CREATE INDEX p2p_transfers_sent ON p2p_transfers (sender_id, created_at_s);
            CREATE INDEX p2p_transfers_received ON p2p_transfers (receiver_id, created_at_s);
            CREATE INDEX p2p_transfers_held_for ON p2p_transfers (phone_index)
                WHERE status = 'held';
            CREATE INDEX p2p_transfers_held_until ON p2p_transfers (expires_at_s)
                WHERE status = 'held';
            CREATE TABLE p2p_requests (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                requester_id bytea NOT NULL CHECK (length(requester_id) = 16),
                amount bigint NOT NULL CHECK (amount > 0),
                memo_sealed bytea NOT NULL,
                status text NOT NULL CHECK (status IN ('open', 'paid', 'cancelled')),
                transfer_id bytea CHECK (transfer_id IS NULL OR length(transfer_id) = 16),
                created_at_s bigint NOT NULL,
                expires_at_s bigint NOT NULL
            )",
            $without_rowid,
            ";
            CREATE INDEX p2p_requests_by_requester ON p2p_requests (requester_id, created_at_s);"
        )
    };
}

/// The tables on SQLite (migration 26).
pub(crate) const SQLITE_TABLES: &str = tables!(" WITHOUT ROWID");
/// The tables on PostgreSQL (migration 26).
pub(crate) const POSTGRES_TABLES: &str = tables!("");

/// Migration 28 (both backends): transfers in any asset, received in another. `asset` and
/// `amount` are what left the sender; `receive_asset` and `received_amount` what reached
/// the receiver (the same for a transfer in one asset); `value_mvp` is what it was worth in
/// MVP when sent (the daily limit sums it). Older rows were MVP to MVP.
pub(crate) const ASSETS_MIGRATION: &str =
    "ALTER TABLE p2p_transfers ADD COLUMN asset text NOT NULL DEFAULT 'MVP';
    ALTER TABLE p2p_transfers ADD COLUMN receive_asset text NOT NULL DEFAULT 'MVP';
    ALTER TABLE p2p_transfers ADD COLUMN received_amount bigint NOT NULL DEFAULT 0;
    ALTER TABLE p2p_transfers ADD COLUMN value_mvp bigint NOT NULL DEFAULT 0;
    UPDATE p2p_transfers SET received_amount = amount, value_mvp = amount;";

/// Most rows one page of a P2P query answers.
pub const TRANSFERS_PAGE_MAX: usize = 100;

/// Where a P2P transfer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransferStatus {
    /// Moved from the sender to the receiver's wallet (final).
    Completed,
    /// Moved from the sender to the holds account: the phone is not a member's yet.
    Held,
    /// Held, then moved to the member who joined with the phone (final).
    Claimed,
    /// Held, then moved back to the sender at the deadline (final).
    Returned,
}

impl TransferStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferStatus::Completed => "completed",
            TransferStatus::Held => "held",
            TransferStatus::Claimed => "claimed",
            TransferStatus::Returned => "returned",
        }
    }

    pub fn parse(text: &str) -> Option<TransferStatus> {
        [
            TransferStatus::Completed,
            TransferStatus::Held,
            TransferStatus::Claimed,
            TransferStatus::Returned,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// A P2P transfer, as `p2p_transfers` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRow {
    pub id: u128,
    pub sender_id: u128,
    pub receiver_id: Option<u128>,
    pub phone_index: Vec<u8>,
    pub request_id: Option<u128>,
    pub amount: u64,
    pub memo_sealed: Vec<u8>,
    pub status: TransferStatus,
    pub idempotency_key: Option<String>,
    pub created_at_s: u64,
    pub expires_at_s: Option<u64>,
    pub finished_at_s: Option<u64>,
    /// The asset that left the sender (`amount` is in its smallest unit).
    pub asset: String,
    /// The asset that reached the receiver, and how much of it.
    pub receive_asset: String,
    pub received_amount: u64,
    /// What it was worth in MVP when sent.
    pub value_mvp: u64,
}

/// Where a money request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestStatus {
    Open,
    Paid,
    Cancelled,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Open => "open",
            RequestStatus::Paid => "paid",
            RequestStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<RequestStatus> {
        [
            RequestStatus::Open,
            RequestStatus::Paid,
            RequestStatus::Cancelled,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// A money request, as `p2p_requests` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRow {
    pub id: u128,
    pub requester_id: u128,
    pub amount: u64,
    pub memo_sealed: Vec<u8>,
    pub status: RequestStatus,
    pub transfer_id: Option<u128>,
    pub created_at_s: u64,
    pub expires_at_s: u64,
}

/// A change to the P2P tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferWrite {
    /// Inserts or replaces the transfer (by id).
    Transfer(TransferRow),
    /// Inserts or replaces the request (by id).
    Request(RequestRow),
}

impl Row for TransferWrite {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        match self {
            TransferWrite::Transfer(row) => write_transfer(tx, row),
            TransferWrite::Request(row) => write_request(tx, row),
        }
    }
}

const TRANSFER_COLUMNS: &str = "id, sender_id, receiver_id, phone_index, request_id, amount,
    memo_sealed, status, idempotency_key, created_at_s, expires_at_s, finished_at_s, asset,
    receive_asset, received_amount, value_mvp";

fn write_transfer(tx: &mut TableTx<'_, '_>, row: &TransferRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO p2p_transfers ({TRANSFER_COLUMNS})
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
        ON CONFLICT (id) DO UPDATE SET receiver_id = excluded.receiver_id,
            status = excluded.status, finished_at_s = excluded.finished_at_s"
    );
    let params = [
        Value::id(row.id),
        Value::id(row.sender_id),
        Value::opt_id(row.receiver_id),
        Value::bytes(&row.phone_index),
        Value::opt_id(row.request_id),
        Value::uint(row.amount)?,
        Value::bytes(&row.memo_sealed),
        Value::text(row.status.as_str()),
        Value::opt_text(row.idempotency_key.as_deref()),
        Value::uint(row.created_at_s)?,
        Value::opt_uint(row.expires_at_s)?,
        Value::opt_uint(row.finished_at_s)?,
        Value::text(&row.asset),
        Value::text(&row.receive_asset),
        Value::uint(row.received_amount)?,
        Value::uint(row.value_mvp)?,
    ];
    sql::execute(tx, &sql, &params)?;
    Ok(())
}

fn transfer_of(mut columns: Columns) -> Result<TransferRow, StoreError> {
    Ok(TransferRow {
        id: columns.id()?,
        sender_id: columns.id()?,
        receiver_id: columns.opt_id()?,
        phone_index: columns.bytes()?,
        request_id: columns.opt_id()?,
        amount: columns.uint()?,
        memo_sealed: columns.bytes()?,
        status: TransferStatus::parse(&columns.text()?)
            .ok_or_else(|| sql::corrupt("a P2P transfer's status"))?,
        idempotency_key: columns.opt_text()?,
        created_at_s: columns.uint()?,
        expires_at_s: columns.opt_uint()?,
        finished_at_s: columns.opt_uint()?,
        asset: columns.text()?,
        receive_asset: columns.text()?,
        received_amount: columns.uint()?,
        value_mvp: columns.uint()?,
    })
}

fn transfers_of(rows: Vec<Columns>) -> Result<Vec<TransferRow>, StoreError> {
    rows.into_iter().map(transfer_of).collect()
}

const REQUEST_COLUMNS: &str =
    "id, requester_id, amount, memo_sealed, status, transfer_id, created_at_s, expires_at_s";

fn write_request(tx: &mut TableTx<'_, '_>, row: &RequestRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO p2p_requests ({REQUEST_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
        ON CONFLICT (id) DO UPDATE SET status = excluded.status,
            transfer_id = excluded.transfer_id"
    );
    let params = [
        Value::id(row.id),
        Value::id(row.requester_id),
        Value::uint(row.amount)?,
        Value::bytes(&row.memo_sealed),
        Value::text(row.status.as_str()),
        Value::opt_id(row.transfer_id),
        Value::uint(row.created_at_s)?,
        Value::uint(row.expires_at_s)?,
    ];
    sql::execute(tx, &sql, &params)?;
    Ok(())
}

fn request_of(mut columns: Columns) -> Result<RequestRow, StoreError> {
    Ok(RequestRow {
        id: columns.id()?,
        requester_id: columns.id()?,
        amount: columns.uint()?,
        memo_sealed: columns.bytes()?,
        status: RequestStatus::parse(&columns.text()?)
            .ok_or_else(|| sql::corrupt("a money request's status"))?,
        transfer_id: columns.opt_id()?,
        created_at_s: columns.uint()?,
        expires_at_s: columns.uint()?,
    })
}

/// The transfer with this id.
pub fn transfer(read: &mut TableRead<'_>, id: u128) -> Result<Option<TransferRow>, StoreError> {
    let sql = format!("SELECT {TRANSFER_COLUMNS} FROM p2p_transfers WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(transfer_of)
        .transpose()
}

/// The sender's transfer under an `Idempotency-Key`.
pub fn transfer_by_key(
    read: &mut TableRead<'_>,
    sender_id: u128,
    key: &str,
) -> Result<Option<TransferRow>, StoreError> {
    let sql = format!(
        "SELECT {TRANSFER_COLUMNS} FROM p2p_transfers WHERE sender_id = ?1 AND idempotency_key = ?2"
    );
    sql::query_one(read, &sql, &[Value::id(sender_id), Value::text(key)])?
        .map(transfer_of)
        .transpose()
}

/// What the sender sent since `since_s`, in MVP value (every status: a held transfer left
/// the wallet too), through `p2p_transfers_sent`.
pub fn sent_since(
    read: &mut TableRead<'_>,
    sender_id: u128,
    since_s: u64,
) -> Result<u64, StoreError> {
    let sql = "SELECT CAST(COALESCE(sum(value_mvp), 0) AS BIGINT) FROM p2p_transfers
        WHERE sender_id = ?1 AND created_at_s >= ?2";
    match sql::query_one(read, sql, &[Value::id(sender_id), Value::bound(since_s)])? {
        Some(mut columns) => columns.uint(),
        None => Ok(0),
    }
}

/// Held transfers for the phone with this blind index, oldest first, at most `limit`.
pub fn held_for(
    read: &mut TableRead<'_>,
    phone_index: &[u8],
    limit: usize,
) -> Result<Vec<TransferRow>, StoreError> {
    let sql = format!(
        "SELECT {TRANSFER_COLUMNS} FROM p2p_transfers
        WHERE phone_index = ?1 AND status = 'held' ORDER BY created_at_s, id LIMIT ?2"
    );
    let params = [
        Value::bytes(phone_index),
        sql::limit(limit, TRANSFERS_PAGE_MAX),
    ];
    transfers_of(sql::query(read, &sql, &params)?)
}

/// Held transfers whose deadline is at or before `now_s`, the earliest first, at most
/// `limit`.
pub fn held_expired(
    read: &mut TableRead<'_>,
    now_s: u64,
    limit: usize,
) -> Result<Vec<TransferRow>, StoreError> {
    let sql = format!(
        "SELECT {TRANSFER_COLUMNS} FROM p2p_transfers
        WHERE status = 'held' AND expires_at_s <= ?1 ORDER BY expires_at_s, id LIMIT ?2"
    );
    let params = [Value::bound(now_s), sql::limit(limit, TRANSFERS_PAGE_MAX)];
    transfers_of(sql::query(read, &sql, &params)?)
}

/// A member's transfers, sent and received, newest first, strictly before the cursor
/// `(created_at_s, id)`, at most `limit` (capped at [`TRANSFERS_PAGE_MAX`]).
pub fn member_transfers_page(
    read: &mut TableRead<'_>,
    member_id: u128,
    before: Option<(u64, u128)>,
    limit: usize,
) -> Result<Vec<TransferRow>, StoreError> {
    // Each side through its own index, merged: at most `limit` of each are read.
    let sql = format!(
        "SELECT {TRANSFER_COLUMNS} FROM (
            SELECT * FROM (SELECT {TRANSFER_COLUMNS} FROM p2p_transfers
                WHERE sender_id = ?1 AND (created_at_s, id) < (?2, ?3)
                ORDER BY created_at_s DESC, id DESC LIMIT ?4) AS sent
            UNION
            SELECT * FROM (SELECT {TRANSFER_COLUMNS} FROM p2p_transfers
                WHERE receiver_id = ?1 AND (created_at_s, id) < (?2, ?3)
                ORDER BY created_at_s DESC, id DESC LIMIT ?4) AS received
        ) AS both_sides ORDER BY created_at_s DESC, id DESC LIMIT ?4"
    );
    let (time_s, id) = match before {
        Some((time_s, id)) => (Value::bound(time_s), Value::id(id)),
        None => (Value::Int(i64::MAX), sql::before_id(None)),
    };
    let params = [
        Value::id(member_id),
        time_s,
        id,
        sql::limit(limit, TRANSFERS_PAGE_MAX),
    ];
    transfers_of(sql::query(read, &sql, &params)?)
}

/// The request with this id.
pub fn request(read: &mut TableRead<'_>, id: u128) -> Result<Option<RequestRow>, StoreError> {
    let sql = format!("SELECT {REQUEST_COLUMNS} FROM p2p_requests WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(request_of)
        .transpose()
}

/// How many requests the member made since `since_s` (a daily cap).
pub fn requests_since(
    read: &mut TableRead<'_>,
    requester_id: u128,
    since_s: u64,
) -> Result<u64, StoreError> {
    let sql = "SELECT count(*) FROM p2p_requests WHERE requester_id = ?1 AND created_at_s >= ?2";
    match sql::query_one(read, sql, &[Value::id(requester_id), Value::bound(since_s)])? {
        Some(mut columns) => columns.uint(),
        None => Ok(0),
    }
}
