//! The conversion context's tables: the Ethereum addresses members proved are theirs, the
//! MVP → MVC conversions (a member's MVP converted into the ERC-20 token MVC, released by
//! the bridge contract to the member's address), and the operator's conversion settings.
//!
//! ```sql
//! wallet_addresses (member_id 16-byte id, address 20-byte Ethereum address,
//!   proved_at_s (when the member's signature proved it theirs))
//! conversions (id, member_id 16-byte ids, address 20 bytes (where the MVC goes),
//!   mvp integer >= 1 (the MVP converted), mvc_wei 16-byte u128 (the MVC released, in wei),
//!   mvp_per_mvc integer >= 1 (the rate the conversion used),
//!   status 'requested' | 'completed' | 'failed', failure text or NULL,
//!   idempotency_key text or NULL, created_at_s, finished_at_s (NULL until final),
//!   tx_hash text or NULL (the release's transaction), block_number or NULL (its block))
//! conversion_settings (id = 1, mvp_per_mvc >= 1, minimum_mvp >= 0,
//!   daily_limit_mvp >= 0 (a member's MVP per day), enabled 0 | 1)
//! ```
//!
//! A member has one address at a time (`wallet_addresses` is keyed by member): proving
//! another replaces it. A conversion keeps the address and the rate it was made with, so a
//! later change of either never changes a conversion already made. Its status is
//! `requested` from the moment it is durable (before any MVP is held) until the saga ends
//! `completed` (the MVC released and confirmed, the MVP hold posted) or `failed` (nothing
//! released, ever; the hold voided). `conversion_settings` holds at most one row (its id is
//! 1, checked): until the operator sets them, the platform uses its defaults.
//!
//! `mvc_wei` is a u128 (MVC has 18 decimals, so a large conversion is beyond 2^63 wei):
//! it is written as ids are, 16 bytes big-endian ([`Value::id`], read by [`Columns::id`]),
//! which sorts like the number. No query sums it: totals of MVC are the platform's to
//! compute in u128, never SQL's.
//!
//! Indexes of `conversions`, each for the queries named:
//! - `conversions_by_key` (`member_id, idempotency_key` where a key is set), unique: a
//!   client's retried conversion finds its conversion instead of converting twice
//!   ([`conversion_by_key`]);
//! - `conversions_by_member` (`member_id, created_at_s, status, mvp`): the MVP a member
//!   converted since a time ([`member_converted_since`]), read from the index alone: every
//!   conversion request sums its member's day against the daily limit;
//! - `conversions_open` (`id` where requested): start and the resolver find the sagas not
//!   finished ([`open_conversions`]), in time that depends on open work, not on history;
//! - `conversions_by_time` (`created_at_s, id`): the operators' list, newest first
//!   ([`conversions_page`]).
//!
//! Written once for both SQL backends through [`crate::tables::sql`]; the column types are
//! PostgreSQL's names (`bytea`, `bigint`, `text`), which SQLite reads as BLOB-like, INTEGER
//! and TEXT. Keyset cursors compare row values (`(created_at_s, id) < (?, ?)`), which both
//! backends read as the index's order.

use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::tables::sql::{self, Columns, Value};
use crate::tables::{Row, TableRead, TableTx};

/// Most rows one page of a conversions query answers.
pub const CONVERSIONS_PAGE_MAX: usize = 1000;

macro_rules! tables {
    ($without_rowid:literal) => {
        concat!(
            "CREATE TABLE wallet_addresses (
                member_id bytea PRIMARY KEY CHECK (length(member_id) = 16),
                address bytea NOT NULL CHECK (length(address) = 20),
                proved_at_s bigint NOT NULL
            )",
            $without_rowid,
            ";
            CREATE TABLE conversions (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                member_id bytea NOT NULL CHECK (length(member_id) = 16),
                address bytea NOT NULL CHECK (length(address) = 20),
                mvp bigint NOT NULL CHECK (mvp >= 1),
                mvc_wei bytea NOT NULL CHECK (length(mvc_wei) = 16),
                mvp_per_mvc bigint NOT NULL CHECK (mvp_per_mvc >= 1),
                status text NOT NULL CHECK (status IN ('requested', 'completed', 'failed')),
                failure text,
                idempotency_key text,
                created_at_s bigint NOT NULL,
                finished_at_s bigint,
                tx_hash text,
                block_number bigint
            )",
            $without_rowid,
            ";
            CREATE UNIQUE INDEX conversions_by_key ON conversions (member_id, idempotency_key)
                WHERE idempotency_key IS NOT NULL;
            CREATE INDEX conversions_by_member
                ON conversions (member_id, created_at_s, status, mvp);
            CREATE INDEX conversions_open ON conversions (id) WHERE status = 'requested';
            CREATE INDEX conversions_by_time ON conversions (created_at_s, id);
            CREATE TABLE conversion_settings (
                id bigint PRIMARY KEY CHECK (id = 1),
                mvp_per_mvc bigint NOT NULL CHECK (mvp_per_mvc >= 1),
                minimum_mvp bigint NOT NULL CHECK (minimum_mvp >= 0),
                daily_limit_mvp bigint NOT NULL CHECK (daily_limit_mvp >= 0),
                enabled bigint NOT NULL CHECK (enabled IN (0, 1))
            )",
            $without_rowid,
            ";"
        )
    };
}

/// The tables on SQLite (migration 12).
pub(crate) const SQLITE_TABLES: &str = tables!(" WITHOUT ROWID");
/// The tables on PostgreSQL (migration 12).
pub(crate) const POSTGRES_TABLES: &str = tables!("");

/// Where a conversion is in its saga (the names are the `status` column's values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversionStatus {
    /// Durable; the MVP may be held and the MVC on its way.
    Requested,
    /// The MVC was released and confirmed; the MVP hold is posted.
    Completed,
    /// Nothing was released, and never will be; the hold (if any) is voided.
    Failed,
}

impl ConversionStatus {
    /// Every status.
    pub const ALL: [ConversionStatus; 3] = [
        ConversionStatus::Requested,
        ConversionStatus::Completed,
        ConversionStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConversionStatus::Requested => "requested",
            ConversionStatus::Completed => "completed",
            ConversionStatus::Failed => "failed",
        }
    }

    /// The status with this name, if it is one.
    pub fn parse(text: &str) -> Option<ConversionStatus> {
        ConversionStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
    }

    fn read(text: &str) -> Result<ConversionStatus, StoreError> {
        ConversionStatus::parse(text).ok_or_else(|| sql::corrupt("a conversion status"))
    }
}

/// A member's Ethereum address, proved by their signature, as `wallet_addresses` holds it
/// (and as the platform's records held it: the serde form is theirs, the address in hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletAddressRow {
    pub member_id: u128,
    #[serde(with = "hex::serde")]
    pub address: [u8; 20],
    pub proved_at_s: u64,
}

/// A conversion of MVP into MVC, as `conversions` holds it (and as the platform's records
/// held it: the serde form is theirs, the address in hex; records from before the release's
/// transaction was kept have no `tx_hash` nor `block_number`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversionRow {
    /// Time-ordered; also the id of the MVP hold's ledger transfer.
    pub id: u128,
    pub member_id: u128,
    /// Where the MVC goes.
    #[serde(with = "hex::serde")]
    pub address: [u8; 20],
    /// The MVP converted.
    pub mvp: u64,
    /// The MVC released, in wei (10^-18 MVC).
    pub mvc_wei: u128,
    /// The rate the conversion used: MVP per MVC.
    pub mvp_per_mvc: u64,
    pub status: ConversionStatus,
    pub failure: Option<String>,
    pub idempotency_key: Option<String>,
    pub created_at_s: u64,
    pub finished_at_s: Option<u64>,
    /// The release's transaction.
    #[serde(default)]
    pub tx_hash: Option<String>,
    /// The block the release was mined in.
    #[serde(default)]
    pub block_number: Option<u64>,
}

impl ConversionRow {
    /// The id the bridge contract knows the conversion by: the conversion id, left-padded to
    /// 32 bytes.
    pub fn bridge_id(&self) -> [u8; 32] {
        let mut id = [0u8; 32];
        id[16..].copy_from_slice(&self.id.to_be_bytes());
        id
    }
}

/// The operator's conversion terms, as `conversion_settings` holds them (its one row).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsRow {
    /// MVP given for one MVC.
    pub mvp_per_mvc: u64,
    /// Smallest conversion, in MVP.
    pub minimum_mvp: u64,
    /// Most MVP one member converts per day.
    pub daily_limit_mvp: u64,
    pub enabled: bool,
}

/// A change to the conversion context's tables, written in the ledger's transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConversionWrite {
    /// Inserts or replaces the member's address (by member).
    Address(WalletAddressRow),
    /// Inserts or replaces the conversion (by id).
    Conversion(ConversionRow),
    /// Inserts or replaces the settings (the one row).
    Settings(SettingsRow),
}

const ADDRESS_COLUMNS: &str = "member_id, address, proved_at_s";

/// The columns of `conversions` in the order [`conversion_of`] reads them.
const CONVERSION_COLUMNS: &str = "id, member_id, address, mvp, mvc_wei, mvp_per_mvc, status,
    failure, idempotency_key, created_at_s, finished_at_s, tx_hash, block_number";

const SETTINGS_COLUMNS: &str = "mvp_per_mvc, minimum_mvp, daily_limit_mvp, enabled";

impl Row for ConversionWrite {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        let (statement, params) = match self {
            ConversionWrite::Address(row) => address_statement(row)?,
            ConversionWrite::Conversion(row) => conversion_statement(row)?,
            ConversionWrite::Settings(row) => settings_statement(row)?,
        };
        sql::execute(tx, statement, &params)?;
        Ok(())
    }
}

fn address_statement(row: &WalletAddressRow) -> Result<(&'static str, Vec<Value>), StoreError> {
    Ok((
        "INSERT INTO wallet_addresses (member_id, address, proved_at_s) VALUES (?1, ?2, ?3)
         ON CONFLICT (member_id) DO UPDATE SET address = excluded.address,
            proved_at_s = excluded.proved_at_s",
        vec![
            Value::id(row.member_id),
            Value::bytes(&row.address),
            Value::uint(row.proved_at_s)?,
        ],
    ))
}

fn conversion_statement(row: &ConversionRow) -> Result<(&'static str, Vec<Value>), StoreError> {
    Ok((
        "INSERT INTO conversions (id, member_id, address, mvp, mvc_wei, mvp_per_mvc, status,
            failure, idempotency_key, created_at_s, finished_at_s, tx_hash, block_number)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (id) DO UPDATE SET member_id = excluded.member_id,
            address = excluded.address, mvp = excluded.mvp, mvc_wei = excluded.mvc_wei,
            mvp_per_mvc = excluded.mvp_per_mvc, status = excluded.status,
            failure = excluded.failure, idempotency_key = excluded.idempotency_key,
            created_at_s = excluded.created_at_s, finished_at_s = excluded.finished_at_s,
            tx_hash = excluded.tx_hash, block_number = excluded.block_number",
        vec![
            Value::id(row.id),
            Value::id(row.member_id),
            Value::bytes(&row.address),
            Value::uint(row.mvp)?,
            Value::id(row.mvc_wei),
            Value::uint(row.mvp_per_mvc)?,
            Value::text(row.status.as_str()),
            Value::opt_text(row.failure.as_deref()),
            Value::opt_text(row.idempotency_key.as_deref()),
            Value::uint(row.created_at_s)?,
            Value::opt_uint(row.finished_at_s)?,
            Value::opt_text(row.tx_hash.as_deref()),
            Value::opt_uint(row.block_number)?,
        ],
    ))
}

fn settings_statement(row: &SettingsRow) -> Result<(&'static str, Vec<Value>), StoreError> {
    Ok((
        "INSERT INTO conversion_settings (id, mvp_per_mvc, minimum_mvp, daily_limit_mvp,
            enabled)
         VALUES (1, ?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET mvp_per_mvc = excluded.mvp_per_mvc,
            minimum_mvp = excluded.minimum_mvp, daily_limit_mvp = excluded.daily_limit_mvp,
            enabled = excluded.enabled",
        vec![
            Value::uint(row.mvp_per_mvc)?,
            Value::uint(row.minimum_mvp)?,
            Value::uint(row.daily_limit_mvp)?,
            Value::flag(row.enabled),
        ],
    ))
}

/// A 20-byte Ethereum address column.
fn address_column(columns: &mut Columns) -> Result<[u8; 20], StoreError> {
    columns
        .bytes()?
        .try_into()
        .map_err(|_| sql::corrupt("an address is not 20 bytes"))
}

fn address_of(mut columns: Columns) -> Result<WalletAddressRow, StoreError> {
    Ok(WalletAddressRow {
        member_id: columns.id()?,
        address: address_column(&mut columns)?,
        proved_at_s: columns.uint()?,
    })
}

fn conversion_of(mut columns: Columns) -> Result<ConversionRow, StoreError> {
    Ok(ConversionRow {
        id: columns.id()?,
        member_id: columns.id()?,
        address: address_column(&mut columns)?,
        mvp: columns.uint()?,
        mvc_wei: columns.id()?,
        mvp_per_mvc: columns.uint()?,
        status: ConversionStatus::read(&columns.text()?)?,
        failure: columns.opt_text()?,
        idempotency_key: columns.opt_text()?,
        created_at_s: columns.uint()?,
        finished_at_s: columns.opt_uint()?,
        tx_hash: columns.opt_text()?,
        block_number: columns.opt_uint()?,
    })
}

fn settings_of(mut columns: Columns) -> Result<SettingsRow, StoreError> {
    Ok(SettingsRow {
        mvp_per_mvc: columns.uint()?,
        minimum_mvp: columns.uint()?,
        daily_limit_mvp: columns.uint()?,
        enabled: columns.flag()?,
    })
}

fn conversions_of(rows: Vec<Columns>) -> Result<Vec<ConversionRow>, StoreError> {
    rows.into_iter().map(conversion_of).collect()
}

/// The member's proved address.
pub fn address(
    read: &mut TableRead<'_>,
    member_id: u128,
) -> Result<Option<WalletAddressRow>, StoreError> {
    let sql = format!("SELECT {ADDRESS_COLUMNS} FROM wallet_addresses WHERE member_id = ?1");
    sql::query_one(read, &sql, &[Value::id(member_id)])?
        .map(address_of)
        .transpose()
}

/// The conversion with this id.
pub fn conversion(read: &mut TableRead<'_>, id: u128) -> Result<Option<ConversionRow>, StoreError> {
    let sql = format!("SELECT {CONVERSION_COLUMNS} FROM conversions WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(conversion_of)
        .transpose()
}

/// The member's conversion made under this idempotency key.
pub fn conversion_by_key(
    read: &mut TableRead<'_>,
    member_id: u128,
    key: &str,
) -> Result<Option<ConversionRow>, StoreError> {
    let sql = format!(
        "SELECT {CONVERSION_COLUMNS} FROM conversions WHERE member_id = ?1 AND idempotency_key = ?2"
    );
    let params = [Value::id(member_id), Value::text(key)];
    sql::query_one(read, &sql, &params)?
        .map(conversion_of)
        .transpose()
}

/// MVP of the member's conversions created at or after `since_s` that did not fail
/// (requested or completed: what counts against the daily limit), from
/// `conversions_by_member` alone. A sum beyond 2^63 - 1 is an error on both backends, never
/// a wrapped number.
pub fn member_converted_since(
    read: &mut TableRead<'_>,
    member_id: u128,
    since_s: u64,
) -> Result<u64, StoreError> {
    let sql = "SELECT CAST(coalesce(sum(mvp), 0) AS BIGINT) FROM conversions
        WHERE member_id = ?1 AND created_at_s >= ?2 AND status IN ('requested', 'completed')";
    let params = [Value::id(member_id), Value::bound(since_s)];
    match sql::query_one(read, sql, &params)? {
        Some(mut columns) => columns.uint(),
        None => Ok(0),
    }
}

/// Conversions still requested, by id, ids after `after` (`None`: from the start), at most
/// `limit` (capped at [`CONVERSIONS_PAGE_MAX`]): the sagas start and the resolver finish.
pub fn open_conversions(
    read: &mut TableRead<'_>,
    after: Option<u128>,
    limit: usize,
) -> Result<Vec<ConversionRow>, StoreError> {
    let sql = format!(
        "SELECT {CONVERSION_COLUMNS} FROM conversions WHERE status = 'requested' AND id > ?1
         ORDER BY id LIMIT ?2"
    );
    // No cursor: an empty blob sorts before every id.
    let after = sql::after_id(after);
    conversions_of(sql::query(
        read,
        &sql,
        &[after, sql::limit(limit, CONVERSIONS_PAGE_MAX)],
    )?)
}

/// Every conversion newest first ((`created_at_s`, id) descending), strictly before the
/// cursor `before` (`None`: from the newest), at most `limit` (capped at
/// [`CONVERSIONS_PAGE_MAX`]).
pub fn conversions_page(
    read: &mut TableRead<'_>,
    before: Option<(u64, u128)>,
    limit: usize,
) -> Result<Vec<ConversionRow>, StoreError> {
    let sql = format!(
        "SELECT {CONVERSION_COLUMNS} FROM conversions WHERE (created_at_s, id) < (?1, ?2)
         ORDER BY created_at_s DESC, id DESC LIMIT ?3"
    );
    // No cursor: above every row (times are at most 2^63 - 1, and 17 bytes of 0xFF sort
    // after every 16-byte id).
    let [time_s, id] = match before {
        Some((time_s, id)) => [Value::uint(time_s)?, Value::id(id)],
        None => [Value::Int(i64::MAX), Value::Blob(vec![0xFF; 17])],
    };
    conversions_of(sql::query(
        read,
        &sql,
        &[time_s, id, sql::limit(limit, CONVERSIONS_PAGE_MAX)],
    )?)
}

/// A member's conversions newest first, strictly before the cursor `before`, at most
/// `limit` (capped at [`CONVERSIONS_PAGE_MAX`]), through `conversions_by_member`.
pub fn member_conversions_page(
    read: &mut TableRead<'_>,
    member_id: u128,
    before: Option<(u64, u128)>,
    limit: usize,
) -> Result<Vec<ConversionRow>, StoreError> {
    let sql = format!(
        "SELECT {CONVERSION_COLUMNS} FROM conversions
         WHERE member_id = ?1 AND (created_at_s, id) < (?2, ?3)
         ORDER BY created_at_s DESC, id DESC LIMIT ?4"
    );
    let [time_s, id] = match before {
        Some((time_s, id)) => [Value::bound(time_s), Value::id(id)],
        None => [Value::Int(i64::MAX), Value::Blob(vec![0xFF; 17])],
    };
    let params = [
        Value::id(member_id),
        time_s,
        id,
        sql::limit(limit, CONVERSIONS_PAGE_MAX),
    ];
    conversions_of(sql::query(read, &sql, &params)?)
}

/// The settings row, if the operator ever set them.
pub fn settings(read: &mut TableRead<'_>) -> Result<Option<SettingsRow>, StoreError> {
    let sql = format!("SELECT {SETTINGS_COLUMNS} FROM conversion_settings WHERE id = 1");
    sql::query_one(read, &sql, &[])?
        .map(settings_of)
        .transpose()
}
