//! The payments context's tables: authorizations at the till and their cancels.
//!
//! ```sql
//! authorizations (
//!   id              16-byte big-endian id (also the sale's or hold's ledger transfer id)
//!   merchant_id, terminal_id, member_id   16-byte ids (member all zeros: no member)
//!   van_tx_id       text, unique per merchant: the till's idempotency key
//!   request_digest  text, hex SHA-256 of the request (NULL for a network cancel's tombstone)
//!   amount, approved_amount, captured_amount, refunded_amount   MVP, integers >= 0
//!   capture, allow_partial, network_cancelled                    0 / 1
//!   status          'pending' | 'declined' | 'authorized' | 'captured' | 'voided'
//!   decline_reason  text or NULL
//!   created_at_s, captured_at_s (NULL until captured)            Unix seconds
//!   settlement_id   16-byte id of the settlement run that took it, or NULL
//!   voucher_id      16-byte id of the gift voucher it was paid with, or NULL
//! )
//! authorization_cancels (authorization_id, key, requested_amount, kind 'void' | 'refund',
//!   amount, transfer_id, status 'pending' | 'done' | 'failed', created_at_s, settlement_id)
//! ```
//!
//! Indexes: `(member_id, created_at_s)` and `(created_at_s, id)` (migration 7) for a
//! member's day and the payments report; `(merchant_id, van_tx_id)` unique (a till's retry finds its authorization);
//! `(merchant_id, created_at_s, id)` for a merchant's payments page by page; `(status, id)`
//! where the status is `pending` (start finds unfinished work, not history); and
//! `(merchant_id, captured_at_s, id)` where captured and not settled (a settlement run
//! reads its payments in chunks). On SQLite ids and timestamps are BLOB and INTEGER; on
//! PostgreSQL `bytea` and `bigint`, so an operator can answer questions with SQL, e.g.
//! `SELECT status, count(*), sum(captured_amount) FROM authorizations GROUP BY status`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::tables::{MemoryTables, Row, TableRead, TableTx};

pub mod reports;
pub use reports::cancel_by_key;
pub mod settlement;
pub use settlement::{
    MerchantSums, SETTLEMENT_CHUNK_MAX, SettlementMark, has_unsettled, settled_sums, unsettled_sums,
};

/// Most rows one page of a payments query returns.
pub const PAYMENTS_PAGE_MAX: usize = 1000;

const AUTHORIZATIONS: &str = "authorizations";

/// The columns of `authorizations`, in the order both backends write and read them.
const COLUMNS: &str = "id, merchant_id, terminal_id, member_id, van_tx_id, request_digest,
    amount, capture, allow_partial, status, decline_reason, approved_amount, captured_amount,
    refunded_amount, network_cancelled, created_at_s, captured_at_s, settlement_id, voucher_id";
const CANCELS: &str = "authorization_cancels";

/// The tables on SQLite (one migration of `sqlite::MIGRATIONS`).
pub(crate) const SQLITE_TABLES: &str = "CREATE TABLE authorizations (
        id BLOB PRIMARY KEY CHECK (length(id) = 16),
        merchant_id BLOB NOT NULL,
        terminal_id BLOB NOT NULL,
        member_id BLOB NOT NULL,
        van_tx_id TEXT NOT NULL,
        request_digest TEXT,
        amount INTEGER NOT NULL CHECK (amount >= 0),
        capture INTEGER NOT NULL CHECK (capture IN (0, 1)),
        allow_partial INTEGER NOT NULL CHECK (allow_partial IN (0, 1)),
        status TEXT NOT NULL
            CHECK (status IN ('pending', 'declined', 'authorized', 'captured', 'voided')),
        decline_reason TEXT,
        approved_amount INTEGER NOT NULL CHECK (approved_amount >= 0),
        captured_amount INTEGER NOT NULL CHECK (captured_amount >= 0),
        refunded_amount INTEGER NOT NULL CHECK (refunded_amount >= 0),
        network_cancelled INTEGER NOT NULL CHECK (network_cancelled IN (0, 1)),
        created_at_s INTEGER NOT NULL,
        captured_at_s INTEGER,
        settlement_id BLOB,
        voucher_id BLOB
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX authorizations_by_van_tx ON authorizations (merchant_id, van_tx_id);
    CREATE INDEX authorizations_by_merchant ON authorizations (merchant_id, created_at_s, id);
    CREATE INDEX authorizations_open ON authorizations (status, id) WHERE status = 'pending';
    CREATE INDEX authorizations_unsettled ON authorizations (merchant_id, captured_at_s, id)
        WHERE status = 'captured' AND settlement_id IS NULL;
    CREATE TABLE authorization_cancels (
        authorization_id BLOB NOT NULL,
        key TEXT NOT NULL,
        requested_amount INTEGER,
        kind TEXT NOT NULL CHECK (kind IN ('void', 'refund')),
        amount INTEGER NOT NULL CHECK (amount >= 0),
        transfer_id BLOB NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
        created_at_s INTEGER NOT NULL,
        settlement_id BLOB,
        PRIMARY KEY (authorization_id, key)
    ) WITHOUT ROWID;";

/// The tables on PostgreSQL (one migration of `postgres::MIGRATIONS`).
pub(crate) const POSTGRES_TABLES: &str = "CREATE TABLE authorizations (
        id bytea PRIMARY KEY CHECK (length(id) = 16),
        merchant_id bytea NOT NULL,
        terminal_id bytea NOT NULL,
        member_id bytea NOT NULL,
        van_tx_id text NOT NULL,
        request_digest text,
        amount bigint NOT NULL CHECK (amount >= 0),
        capture boolean NOT NULL,
        allow_partial boolean NOT NULL,
        status text NOT NULL
            CHECK (status IN ('pending', 'declined', 'authorized', 'captured', 'voided')),
        decline_reason text,
        approved_amount bigint NOT NULL CHECK (approved_amount >= 0),
        captured_amount bigint NOT NULL CHECK (captured_amount >= 0),
        refunded_amount bigint NOT NULL CHECK (refunded_amount >= 0),
        network_cancelled boolean NOT NULL,
        created_at_s bigint NOT NULL,
        captured_at_s bigint,
        settlement_id bytea,
        voucher_id bytea
    );
    CREATE UNIQUE INDEX authorizations_by_van_tx ON authorizations (merchant_id, van_tx_id);
    CREATE INDEX authorizations_by_merchant ON authorizations (merchant_id, created_at_s, id);
    CREATE INDEX authorizations_open ON authorizations (status, id) WHERE status = 'pending';
    CREATE INDEX authorizations_unsettled ON authorizations (merchant_id, captured_at_s, id)
        WHERE status = 'captured' AND settlement_id IS NULL;
    CREATE TABLE authorization_cancels (
        authorization_id bytea NOT NULL,
        key text NOT NULL,
        requested_amount bigint,
        kind text NOT NULL CHECK (kind IN ('void', 'refund')),
        amount bigint NOT NULL CHECK (amount >= 0),
        transfer_id bytea NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
        created_at_s bigint NOT NULL,
        settlement_id bytea,
        PRIMARY KEY (authorization_id, key)
    );";

/// Migration 7 (both backends): a member's authorizations by time (the daily limit counts
/// a member's day), and everyone's by time (the payments report pages through them).
pub(crate) const INDEXES_BY_MEMBER_AND_TIME: &str =
    "CREATE INDEX authorizations_by_member ON authorizations (member_id, created_at_s);
    CREATE INDEX authorizations_by_time ON authorizations (created_at_s, id);
    CREATE INDEX authorization_cancels_by_key ON authorization_cancels (key);";

/// Where an authorization stands (the names are the `status` column's values, and the
/// API's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizationStatus {
    /// Durable, the ledger not yet asked or its answer not yet recorded.
    Pending,
    Declined,
    /// Held (a pending transfer), waiting for its capture.
    Authorized,
    Captured,
    Voided,
}

impl AuthorizationStatus {
    pub const ALL: [AuthorizationStatus; 5] = [
        AuthorizationStatus::Pending,
        AuthorizationStatus::Declined,
        AuthorizationStatus::Authorized,
        AuthorizationStatus::Captured,
        AuthorizationStatus::Voided,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthorizationStatus::Pending => "pending",
            AuthorizationStatus::Declined => "declined",
            AuthorizationStatus::Authorized => "authorized",
            AuthorizationStatus::Captured => "captured",
            AuthorizationStatus::Voided => "voided",
        }
    }

    pub fn parse(text: &str) -> Option<AuthorizationStatus> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

/// One authorization, as its table holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationRow {
    pub id: u128,
    pub merchant_id: u128,
    pub terminal_id: u128,
    pub member_id: u128,
    pub van_tx_id: String,
    pub request_digest: Option<String>,
    pub amount: u64,
    pub capture: bool,
    pub allow_partial: bool,
    pub status: AuthorizationStatus,
    pub decline_reason: Option<String>,
    pub approved_amount: u64,
    pub captured_amount: u64,
    pub refunded_amount: u64,
    pub network_cancelled: bool,
    pub created_at_s: u64,
    pub captured_at_s: Option<u64>,
    pub settlement_id: Option<u128>,
    pub voucher_id: Option<u128>,
}

/// What a cancel does (the names are the `kind` column's values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelKind {
    Void,
    Refund,
}

/// Where a cancel stands (the names are the `status` column's values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelStatus {
    Pending,
    Done,
    Failed,
}

impl CancelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CancelKind::Void => "void",
            CancelKind::Refund => "refund",
        }
    }

    pub fn parse(text: &str) -> Option<CancelKind> {
        [CancelKind::Void, CancelKind::Refund]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

impl CancelStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CancelStatus::Pending => "pending",
            CancelStatus::Done => "done",
            CancelStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<CancelStatus> {
        [
            CancelStatus::Pending,
            CancelStatus::Done,
            CancelStatus::Failed,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// One cancel of an authorization: a void of its hold or a refund of (part of) its capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelRow {
    pub authorization_id: u128,
    /// The cancel's own `van_tx_id` (or the network cancel's key).
    pub key: String,
    /// What the request asked for (`None`: all).
    pub requested_amount: Option<u64>,
    pub kind: CancelKind,
    pub amount: u64,
    pub transfer_id: u128,
    pub status: CancelStatus,
    pub created_at_s: u64,
    /// The settlement run that netted this refund.
    pub settlement_id: Option<u128>,
}

/// What a payments page asks for: one merchant's authorizations created in
/// `[from_s, to_s)`, optionally of one status, oldest first, after a keyset cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthorizationFilter {
    pub merchant_id: u128,
    pub status: Option<AuthorizationStatus>,
    pub from_s: u64,
    pub to_s: u64,
    /// The last `(created_at_s, id)` of the previous page.
    pub after: Option<(u64, u128)>,
    /// At most [`PAYMENTS_PAGE_MAX`].
    pub limit: usize,
}

/// The keyset cursor of a page in column form: `(created_at_s, id)` of the last row seen,
/// or `(0, empty)`, which every row follows (an empty blob sorts before every id).
fn cursor(filter: &AuthorizationFilter) -> (u64, Vec<u8>) {
    filter.after.map_or((0, Vec::new()), |(after_s, id)| {
        (after_s, id_bytes(id).to_vec())
    })
}

fn id_bytes(id: u128) -> [u8; 16] {
    id.to_be_bytes()
}

fn id_from(bytes: &[u8]) -> Result<u128, StoreError> {
    let bytes: [u8; 16] = bytes
        .try_into()
        .map_err(|_| corrupt("an id is not 16 bytes"))?;
    Ok(u128::from_be_bytes(bytes))
}

fn corrupt(reason: &str) -> StoreError {
    StoreError::Corrupt {
        height: 0,
        reason: format!("payments: {reason}"),
    }
}

/// u64 in a signed 64-bit column: amounts and times stay below 2^63.
fn int(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| corrupt("a value above 2^63"))
}

/// An upper bound in a signed 64-bit column: beyond 2^63 - 1 means "no bound".
fn int_saturating(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn uint(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt("a negative amount or time"))
}

impl Row for AuthorizationRow {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        match tx {
            TableTx::Sqlite(conn) => sqlite::write(conn, self),
            TableTx::Postgres(tx) => postgres::write(tx, self),
            TableTx::Memory(writes) => {
                let key = id_bytes(self.id).to_vec();
                writes.put(AUTHORIZATIONS, key, Arc::new(self.clone()));
                Ok(())
            }
        }
    }
}

impl Row for CancelRow {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        match tx {
            TableTx::Sqlite(conn) => sqlite::write_cancel(conn, self),
            TableTx::Postgres(tx) => postgres::write_cancel(tx, self),
            TableTx::Memory(writes) => {
                let mut key = id_bytes(self.authorization_id).to_vec();
                key.extend_from_slice(self.key.as_bytes());
                writes.put(CANCELS, key, Arc::new(self.clone()));
                Ok(())
            }
        }
    }
}

/// The cancels of an authorization, by key (at most `CANCELS_PER_AUTHORIZATION_MAX` of the
/// payments context exist).
pub fn cancels(
    read: &mut TableRead<'_>,
    authorization_id: u128,
) -> Result<Vec<CancelRow>, StoreError> {
    match read {
        TableRead::Sqlite(conn) => sqlite::cancels(conn, authorization_id),
        TableRead::Postgres(client) => postgres::cancels(client, authorization_id),
        TableRead::Memory(tables) => Ok(tables
            .rows::<CancelRow>(CANCELS)
            .map(|(_, row)| row)
            .filter(|row| row.authorization_id == authorization_id)
            .cloned()
            .collect()),
    }
}

/// The authorization with this id.
pub fn authorization(
    read: &mut TableRead<'_>,
    id: u128,
) -> Result<Option<AuthorizationRow>, StoreError> {
    match read {
        TableRead::Sqlite(conn) => sqlite::by_id(conn, id),
        TableRead::Postgres(client) => postgres::by_id(client, id),
        TableRead::Memory(tables) => Ok(memory_rows(tables).find(|row| row.id == id).cloned()),
    }
}

/// The merchant's authorization under the till's `van_tx_id`.
pub fn authorization_by_van_tx(
    read: &mut TableRead<'_>,
    merchant_id: u128,
    van_tx_id: &str,
) -> Result<Option<AuthorizationRow>, StoreError> {
    match read {
        TableRead::Sqlite(conn) => sqlite::by_van_tx(conn, merchant_id, van_tx_id),
        TableRead::Postgres(client) => postgres::by_van_tx(client, merchant_id, van_tx_id),
        TableRead::Memory(tables) => Ok(memory_rows(tables)
            .find(|row| row.merchant_id == merchant_id && row.van_tx_id == van_tx_id)
            .cloned()),
    }
}

/// One page of a merchant's authorizations (see [`AuthorizationFilter`]); an empty page
/// for a limit of 0 or above [`PAYMENTS_PAGE_MAX`] is refused as invalid input.
pub fn authorizations_page(
    read: &mut TableRead<'_>,
    filter: &AuthorizationFilter,
) -> Result<Vec<AuthorizationRow>, StoreError> {
    if filter.limit == 0 || filter.limit > PAYMENTS_PAGE_MAX {
        return Err(StoreError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("a page is 1 to {PAYMENTS_PAGE_MAX} rows"),
        )));
    }
    match read {
        TableRead::Sqlite(conn) => sqlite::page(conn, filter),
        TableRead::Postgres(client) => postgres::page(client, filter),
        TableRead::Memory(tables) => Ok(memory_page(tables, filter)),
    }
}

/// Authorizations still `pending` (work a crash may have cut short), by id, after
/// `after_id`: what start resumes, in time that depends on open work, not on history.
pub fn open_authorizations(
    read: &mut TableRead<'_>,
    after_id: Option<u128>,
    limit: usize,
) -> Result<Vec<AuthorizationRow>, StoreError> {
    let limit = limit.min(PAYMENTS_PAGE_MAX);
    match read {
        TableRead::Sqlite(conn) => sqlite::open(conn, after_id, limit),
        TableRead::Postgres(client) => postgres::open(client, after_id, limit),
        TableRead::Memory(tables) => {
            let mut open: Vec<AuthorizationRow> = memory_rows(tables)
                .filter(|row| row.status == AuthorizationStatus::Pending)
                .filter(|row| after_id.is_none_or(|after| row.id > after))
                .cloned()
                .collect();
            open.sort_unstable_by_key(|row| row.id);
            open.truncate(limit);
            Ok(open)
        }
    }
}

pub(crate) fn memory_rows(tables: &MemoryTables) -> impl Iterator<Item = &AuthorizationRow> {
    tables
        .rows::<AuthorizationRow>(AUTHORIZATIONS)
        .map(|(_, row)| row)
}

fn memory_page(tables: &MemoryTables, filter: &AuthorizationFilter) -> Vec<AuthorizationRow> {
    let mut page: Vec<AuthorizationRow> = memory_rows(tables)
        .filter(|row| row.merchant_id == filter.merchant_id)
        .filter(|row| row.created_at_s >= filter.from_s && row.created_at_s < filter.to_s)
        .filter(|row| filter.status.is_none_or(|status| row.status == status))
        .filter(|row| {
            filter
                .after
                .is_none_or(|after| (row.created_at_s, row.id) > after)
        })
        .cloned()
        .collect();
    page.sort_unstable_by_key(|row| (row.created_at_s, row.id));
    page.truncate(filter.limit);
    page
}

pub(super) mod sqlite {
    use rusqlite::{Connection, OptionalExtension, Row as SqlRow, params};

    use super::{
        AuthorizationFilter, AuthorizationRow, AuthorizationStatus, COLUMNS, CancelKind, CancelRow,
        CancelStatus, corrupt, cursor, id_bytes, id_from, int, int_saturating, uint,
    };
    use crate::StoreError;

    /// Every column but the id, from the row that clashed on it.
    const UPDATE: &str = "merchant_id = excluded.merchant_id,
        terminal_id = excluded.terminal_id, member_id = excluded.member_id,
        van_tx_id = excluded.van_tx_id, request_digest = excluded.request_digest,
        amount = excluded.amount, capture = excluded.capture,
        allow_partial = excluded.allow_partial, status = excluded.status,
        decline_reason = excluded.decline_reason, approved_amount = excluded.approved_amount,
        captured_amount = excluded.captured_amount, refunded_amount = excluded.refunded_amount,
        network_cancelled = excluded.network_cancelled, created_at_s = excluded.created_at_s,
        captured_at_s = excluded.captured_at_s, settlement_id = excluded.settlement_id,
        voucher_id = excluded.voucher_id";

    pub(super) fn write(conn: &Connection, row: &AuthorizationRow) -> Result<(), StoreError> {
        // An upsert on the id only: `INSERT OR REPLACE` would also "resolve" a clash on
        // (merchant_id, van_tx_id) by deleting the other authorization.
        let sql = format!(
            "INSERT INTO authorizations ({COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     ?17, ?18, ?19)
             ON CONFLICT (id) DO UPDATE SET {UPDATE}"
        );
        let mut statement = conn.prepare_cached(&sql)?;
        statement.execute(params![
            id_bytes(row.id),
            id_bytes(row.merchant_id),
            id_bytes(row.terminal_id),
            id_bytes(row.member_id),
            row.van_tx_id,
            row.request_digest,
            int(row.amount)?,
            row.capture,
            row.allow_partial,
            row.status.as_str(),
            row.decline_reason,
            int(row.approved_amount)?,
            int(row.captured_amount)?,
            int(row.refunded_amount)?,
            row.network_cancelled,
            int(row.created_at_s)?,
            row.captured_at_s.map(int).transpose()?,
            row.settlement_id.map(id_bytes),
            row.voucher_id.map(id_bytes),
        ])?;
        Ok(())
    }

    pub(super) fn from_row(row: &SqlRow<'_>) -> Result<AuthorizationRow, StoreError> {
        let id =
            |index: usize| -> Result<u128, StoreError> { id_from(&row.get::<_, Vec<u8>>(index)?) };
        let optional_id = |index: usize| -> Result<Option<u128>, StoreError> {
            let bytes: Option<Vec<u8>> = row.get(index)?;
            bytes.as_deref().map(id_from).transpose()
        };
        let amount = |index: usize| -> Result<u64, StoreError> { uint(row.get(index)?) };
        let status: String = row.get(9)?;
        Ok(AuthorizationRow {
            id: id(0)?,
            merchant_id: id(1)?,
            terminal_id: id(2)?,
            member_id: id(3)?,
            van_tx_id: row.get(4)?,
            request_digest: row.get(5)?,
            amount: amount(6)?,
            capture: row.get(7)?,
            allow_partial: row.get(8)?,
            status: AuthorizationStatus::parse(&status).ok_or_else(|| corrupt("a status"))?,
            decline_reason: row.get(10)?,
            approved_amount: amount(11)?,
            captured_amount: amount(12)?,
            refunded_amount: amount(13)?,
            network_cancelled: row.get(14)?,
            created_at_s: amount(15)?,
            captured_at_s: row.get::<_, Option<i64>>(16)?.map(uint).transpose()?,
            settlement_id: optional_id(17)?,
            voucher_id: optional_id(18)?,
        })
    }

    fn query(
        conn: &Connection,
        sql: &str,
        parameters: impl rusqlite::Params,
    ) -> Result<Vec<AuthorizationRow>, StoreError> {
        let mut statement = conn.prepare_cached(sql)?;
        let mut rows = statement.query(parameters)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(from_row(row)?);
        }
        Ok(out)
    }

    pub(super) fn by_id(
        conn: &Connection,
        id: u128,
    ) -> Result<Option<AuthorizationRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM authorizations WHERE id = ?1");
        let mut statement = conn.prepare_cached(&sql)?;
        let found = statement
            .query_row(params![id_bytes(id)], |row| Ok(from_row(row)))
            .optional()?;
        found.transpose()
    }

    pub(super) fn by_van_tx(
        conn: &Connection,
        merchant_id: u128,
        van_tx_id: &str,
    ) -> Result<Option<AuthorizationRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM authorizations WHERE merchant_id = ?1 AND van_tx_id = ?2"
        );
        let found = query(conn, &sql, params![id_bytes(merchant_id), van_tx_id])?;
        Ok(found.into_iter().next())
    }

    pub(super) fn page(
        conn: &Connection,
        filter: &AuthorizationFilter,
    ) -> Result<Vec<AuthorizationRow>, StoreError> {
        let (after_s, after_id) = cursor(filter);
        let sql = format!(
            "SELECT {COLUMNS} FROM authorizations
             WHERE merchant_id = ?1 AND created_at_s >= ?2 AND created_at_s < ?3
               AND (?4 IS NULL OR status = ?4)
               AND (created_at_s, id) > (?5, ?6)
             ORDER BY created_at_s, id LIMIT ?7"
        );
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        query(
            conn,
            &sql,
            params![
                id_bytes(filter.merchant_id),
                int(filter.from_s)?,
                int_saturating(filter.to_s),
                filter.status.map(AuthorizationStatus::as_str),
                int(after_s)?,
                after_id,
                limit
            ],
        )
    }

    pub(super) fn write_cancel(conn: &Connection, row: &CancelRow) -> Result<(), StoreError> {
        let mut statement = conn.prepare_cached(
            "INSERT OR REPLACE INTO authorization_cancels (authorization_id, key,
                requested_amount, kind, amount, transfer_id, status, created_at_s, settlement_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        statement.execute(params![
            id_bytes(row.authorization_id),
            row.key,
            row.requested_amount.map(int).transpose()?,
            row.kind.as_str(),
            int(row.amount)?,
            id_bytes(row.transfer_id),
            row.status.as_str(),
            int(row.created_at_s)?,
            row.settlement_id.map(id_bytes),
        ])?;
        Ok(())
    }

    pub(super) fn cancels(conn: &Connection, id: u128) -> Result<Vec<CancelRow>, StoreError> {
        let mut statement = conn.prepare_cached(
            "SELECT authorization_id, key, requested_amount, kind, amount, transfer_id, status,
                created_at_s, settlement_id
             FROM authorization_cancels WHERE authorization_id = ?1 ORDER BY key",
        )?;
        let mut rows = statement.query(params![id_bytes(id)])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let kind: String = row.get(3)?;
            let status: String = row.get(6)?;
            let settlement: Option<Vec<u8>> = row.get(8)?;
            out.push(CancelRow {
                authorization_id: id_from(&row.get::<_, Vec<u8>>(0)?)?,
                key: row.get(1)?,
                requested_amount: row.get::<_, Option<i64>>(2)?.map(uint).transpose()?,
                kind: CancelKind::parse(&kind).ok_or_else(|| corrupt("a cancel kind"))?,
                amount: uint(row.get(4)?)?,
                transfer_id: id_from(&row.get::<_, Vec<u8>>(5)?)?,
                status: CancelStatus::parse(&status).ok_or_else(|| corrupt("a cancel status"))?,
                created_at_s: uint(row.get(7)?)?,
                settlement_id: settlement.as_deref().map(id_from).transpose()?,
            });
        }
        Ok(out)
    }

    pub(super) fn open(
        conn: &Connection,
        after_id: Option<u128>,
        limit: usize,
    ) -> Result<Vec<AuthorizationRow>, StoreError> {
        let after = after_id.map_or_else(Vec::new, |id| id_bytes(id).to_vec());
        let sql = format!(
            "SELECT {COLUMNS} FROM authorizations
             WHERE status = 'pending' AND id > ?1 ORDER BY id LIMIT ?2"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        query(conn, &sql, params![after, limit])
    }
}

pub(super) mod postgres {
    use postgres::types::ToSql;
    use postgres::{Client, GenericClient, Transaction};

    use super::{
        AuthorizationFilter, AuthorizationRow, AuthorizationStatus, COLUMNS, CancelKind, CancelRow,
        CancelStatus, corrupt, cursor, id_bytes, id_from, int, int_saturating, uint,
    };
    use crate::StoreError;

    pub(super) fn write(
        tx: &mut Transaction<'_>,
        row: &AuthorizationRow,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO authorizations ({COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                     $17, $18, $19)
             ON CONFLICT (id) DO UPDATE SET
               merchant_id = EXCLUDED.merchant_id, terminal_id = EXCLUDED.terminal_id,
               member_id = EXCLUDED.member_id, van_tx_id = EXCLUDED.van_tx_id,
               request_digest = EXCLUDED.request_digest, amount = EXCLUDED.amount,
               capture = EXCLUDED.capture, allow_partial = EXCLUDED.allow_partial,
               status = EXCLUDED.status, decline_reason = EXCLUDED.decline_reason,
               approved_amount = EXCLUDED.approved_amount,
               captured_amount = EXCLUDED.captured_amount,
               refunded_amount = EXCLUDED.refunded_amount,
               network_cancelled = EXCLUDED.network_cancelled,
               created_at_s = EXCLUDED.created_at_s, captured_at_s = EXCLUDED.captured_at_s,
               settlement_id = EXCLUDED.settlement_id, voucher_id = EXCLUDED.voucher_id"
        );
        let ids = [row.id, row.merchant_id, row.terminal_id, row.member_id].map(id_bytes);
        let [id, merchant_id, terminal_id, member_id] = ids.each_ref().map(|id| id.as_slice());
        let settlement_id = row.settlement_id.map(id_bytes);
        let voucher_id = row.voucher_id.map(id_bytes);
        let settlement_id = settlement_id.as_ref().map(|id| id.as_slice());
        let voucher_id = voucher_id.as_ref().map(|id| id.as_slice());
        let amount = int(row.amount)?;
        let approved = int(row.approved_amount)?;
        let captured = int(row.captured_amount)?;
        let refunded = int(row.refunded_amount)?;
        let created_at_s = int(row.created_at_s)?;
        let captured_at_s = row.captured_at_s.map(int).transpose()?;
        let status = row.status.as_str();
        let parameters: [&(dyn ToSql + Sync); 19] = [
            &id,
            &merchant_id,
            &terminal_id,
            &member_id,
            &row.van_tx_id,
            &row.request_digest,
            &amount,
            &row.capture,
            &row.allow_partial,
            &status,
            &row.decline_reason,
            &approved,
            &captured,
            &refunded,
            &row.network_cancelled,
            &created_at_s,
            &captured_at_s,
            &settlement_id,
            &voucher_id,
        ];
        // Prepared on each call: one round trip more than a cached statement, fine for
        // the rate of authorizations; a statement cache is for when this shows.
        tx.execute(sql.as_str(), &parameters)?;
        Ok(())
    }

    pub(super) fn from_row(row: &postgres::Row) -> Result<AuthorizationRow, StoreError> {
        let id = |index: usize| -> Result<u128, StoreError> { id_from(row.try_get(index)?) };
        let optional_id = |index: usize| -> Result<Option<u128>, StoreError> {
            let bytes: Option<&[u8]> = row.try_get(index)?;
            bytes.map(id_from).transpose()
        };
        let amount = |index: usize| -> Result<u64, StoreError> { uint(row.try_get(index)?) };
        let status: &str = row.try_get(9)?;
        Ok(AuthorizationRow {
            id: id(0)?,
            merchant_id: id(1)?,
            terminal_id: id(2)?,
            member_id: id(3)?,
            van_tx_id: row.try_get(4)?,
            request_digest: row.try_get(5)?,
            amount: amount(6)?,
            capture: row.try_get(7)?,
            allow_partial: row.try_get(8)?,
            status: AuthorizationStatus::parse(status).ok_or_else(|| corrupt("a status"))?,
            decline_reason: row.try_get(10)?,
            approved_amount: amount(11)?,
            captured_amount: amount(12)?,
            refunded_amount: amount(13)?,
            network_cancelled: row.try_get(14)?,
            created_at_s: amount(15)?,
            captured_at_s: row.try_get::<_, Option<i64>>(16)?.map(uint).transpose()?,
            settlement_id: optional_id(17)?,
            voucher_id: optional_id(18)?,
        })
    }

    fn query(
        client: &mut impl GenericClient,
        sql: &str,
        parameters: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<AuthorizationRow>, StoreError> {
        let rows = client.query(sql, parameters)?;
        rows.iter().map(from_row).collect()
    }

    pub(super) fn by_id(
        client: &mut Client,
        id: u128,
    ) -> Result<Option<AuthorizationRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM authorizations WHERE id = $1");
        let id = id_bytes(id);
        let found = query(client, &sql, &[&id.as_slice()])?;
        Ok(found.into_iter().next())
    }

    pub(super) fn by_van_tx(
        client: &mut Client,
        merchant_id: u128,
        van_tx_id: &str,
    ) -> Result<Option<AuthorizationRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM authorizations WHERE merchant_id = $1 AND van_tx_id = $2"
        );
        let merchant_id = id_bytes(merchant_id);
        let found = query(client, &sql, &[&merchant_id.as_slice(), &van_tx_id])?;
        Ok(found.into_iter().next())
    }

    pub(super) fn page(
        client: &mut Client,
        filter: &AuthorizationFilter,
    ) -> Result<Vec<AuthorizationRow>, StoreError> {
        let (after_s, after_id) = cursor(filter);
        let sql = format!(
            "SELECT {COLUMNS} FROM authorizations
             WHERE merchant_id = $1 AND created_at_s >= $2 AND created_at_s < $3
               AND ($4::text IS NULL OR status = $4)
               AND (created_at_s, id) > ($5, $6)
             ORDER BY created_at_s, id LIMIT $7"
        );
        let merchant_id = id_bytes(filter.merchant_id);
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        let status = filter.status.map(AuthorizationStatus::as_str);
        query(
            client,
            &sql,
            &[
                &merchant_id.as_slice(),
                &int(filter.from_s)?,
                &int_saturating(filter.to_s),
                &status,
                &int(after_s)?,
                &after_id,
                &limit,
            ],
        )
    }

    pub(super) fn write_cancel(
        tx: &mut Transaction<'_>,
        row: &CancelRow,
    ) -> Result<(), StoreError> {
        let authorization_id = id_bytes(row.authorization_id);
        let transfer_id = id_bytes(row.transfer_id);
        let settlement_id = row.settlement_id.map(id_bytes);
        let settlement_id = settlement_id.as_ref().map(|id| id.as_slice());
        let requested = row.requested_amount.map(int).transpose()?;
        let (amount, created_at_s) = (int(row.amount)?, int(row.created_at_s)?);
        tx.execute(
            "INSERT INTO authorization_cancels (authorization_id, key, requested_amount, kind,
                amount, transfer_id, status, created_at_s, settlement_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (authorization_id, key) DO UPDATE SET
               requested_amount = EXCLUDED.requested_amount, kind = EXCLUDED.kind,
               amount = EXCLUDED.amount, transfer_id = EXCLUDED.transfer_id,
               status = EXCLUDED.status, created_at_s = EXCLUDED.created_at_s,
               settlement_id = EXCLUDED.settlement_id",
            &[
                &authorization_id.as_slice(),
                &row.key,
                &requested,
                &row.kind.as_str(),
                &amount,
                &transfer_id.as_slice(),
                &row.status.as_str(),
                &created_at_s,
                &settlement_id,
            ],
        )?;
        Ok(())
    }

    pub(super) fn cancels(client: &mut Client, id: u128) -> Result<Vec<CancelRow>, StoreError> {
        let id = id_bytes(id);
        let rows = client.query(
            "SELECT authorization_id, key, requested_amount, kind, amount, transfer_id, status,
                created_at_s, settlement_id
             FROM authorization_cancels WHERE authorization_id = $1 ORDER BY key",
            &[&id.as_slice()],
        )?;
        let cancel = |row: &postgres::Row| -> Result<CancelRow, StoreError> {
            let kind: &str = row.try_get(3)?;
            let status: &str = row.try_get(6)?;
            let settlement: Option<&[u8]> = row.try_get(8)?;
            Ok(CancelRow {
                authorization_id: id_from(row.try_get(0)?)?,
                key: row.try_get(1)?,
                requested_amount: row.try_get::<_, Option<i64>>(2)?.map(uint).transpose()?,
                kind: CancelKind::parse(kind).ok_or_else(|| corrupt("a cancel kind"))?,
                amount: uint(row.try_get(4)?)?,
                transfer_id: id_from(row.try_get(5)?)?,
                status: CancelStatus::parse(status).ok_or_else(|| corrupt("a cancel status"))?,
                created_at_s: uint(row.try_get(7)?)?,
                settlement_id: settlement.map(id_from).transpose()?,
            })
        };
        rows.iter().map(cancel).collect()
    }

    pub(super) fn open(
        client: &mut Client,
        after_id: Option<u128>,
        limit: usize,
    ) -> Result<Vec<AuthorizationRow>, StoreError> {
        let after = after_id.map_or_else(Vec::new, |id| id_bytes(id).to_vec());
        let sql = format!(
            "SELECT {COLUMNS} FROM authorizations
             WHERE status = 'pending' AND id > $1 ORDER BY id LIMIT $2"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        query(client, &sql, &[&after, &limit])
    }
}
