//! The merchants context's tables: the merchants (the stores of a brand, each with its fee
//! plan) and their terminals (the tills that sign VAN requests with a key of their own).
//!
//! ```sql
//! merchants (id 16-byte id (also its payable account's id), name text, brand text,
//!   fee_bps integer 0 ..= 10000 (the fee on its payments, in basis points),
//!   enabled 0 | 1, created_at_s)
//! terminals (id, merchant_id 16-byte ids, key_id text (the key a request names),
//!   secret_sealed (the signing secret, AEAD ciphertext), enabled 0 | 1, created_at_s)
//! ```
//!
//! A merchant's id is also the id of its merchant payable account in the ledger: what the
//! platform owes it for the payments taken at its tills. Its fee plan is in basis points, at
//! most 10,000 (100 %), which the table checks. A terminal signs each VAN request with its
//! secret and names itself by `key_id`, sent in a header. The secret is a credential: it is
//! never stored in the clear; the platform seals it with the data key (`secret_sealed`) and
//! opens it in memory only.
//!
//! Indexes, each for the queries named:
//! - `merchants_by_brand` (`brand, name, id`): a brand's stores, and the operators' list of
//!   merchants in its order, page by page ([`merchants_page`]);
//! - `terminals_by_key` (`key_id`), unique: the VAN route finds the terminal that signed a
//!   request ([`terminal_by_key`]); unique, because two terminals with one key could not be
//!   told apart;
//! - `terminals_by_merchant` (`merchant_id, created_at_s, id`): a merchant's terminals,
//!   oldest first ([`terminals_of`]), and how many it has ([`terminal_count_of`], checked
//!   against the platform's limit whenever a terminal is added).
//!
//! Every terminal by id ([`terminals_page`], the primary key) is how start opens the
//! secrets, page by page.
//!
//! `brand` and `name` of `merchants` compare by their UTF-8 bytes on both backends
//! (SQLite's `BINARY` collation; `COLLATE "C"` on PostgreSQL, whatever the database's
//! locale), so the list's order, and the cursor that pages through it, are the same
//! everywhere.
//!
//! Written once for both SQL backends through [`crate::tables::sql`]; the column types are
//! PostgreSQL's names (`bytea`, `bigint`, `text`), which SQLite reads as BLOB-like, INTEGER
//! and TEXT. Keyset cursors compare row values (`(brand, name, id) > (?, ?, ?)`), which both
//! backends read as the index's order.

use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::tables::sql::{self, Columns, Value};
use crate::tables::{Row, TableRead, TableTx};

/// Most rows one page answers.
pub const MERCHANTS_PAGE_MAX: usize = 1000;

macro_rules! tables {
    ($without_rowid:literal, $bytewise:literal) => {
        concat!(
            "CREATE TABLE merchants (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                name text",
            $bytewise,
            " NOT NULL,
                brand text",
            $bytewise,
            " NOT NULL,
                fee_bps bigint NOT NULL CHECK (fee_bps BETWEEN 0 AND 10000),
                enabled bigint NOT NULL CHECK (enabled IN (0, 1)),
                created_at_s bigint NOT NULL
            )",
            $without_rowid,
            ";
            CREATE INDEX merchants_by_brand ON merchants (brand, name, id);
            CREATE TABLE terminals (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                merchant_id bytea NOT NULL CHECK (length(merchant_id) = 16),
                key_id text NOT NULL,
                secret_sealed bytea NOT NULL,
                enabled bigint NOT NULL CHECK (enabled IN (0, 1)),
                created_at_s bigint NOT NULL
            )",
            $without_rowid,
            ";
            CREATE UNIQUE INDEX terminals_by_key ON terminals (key_id);
            CREATE INDEX terminals_by_merchant ON terminals (merchant_id, created_at_s, id);"
        )
    };
}

/// The tables on SQLite (migration 14).
pub(crate) const SQLITE_TABLES: &str = tables!(" WITHOUT ROWID", "");
/// The tables on PostgreSQL (migration 14).
pub(crate) const POSTGRES_TABLES: &str = tables!("", " COLLATE \"C\"");

/// A merchant, as `merchants` holds it (and as the platform's records held it: the serde
/// form is theirs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantRow {
    /// Also the id of its merchant payable account.
    pub id: u128,
    pub name: String,
    pub brand: String,
    /// The fee on its payments, in basis points (at most 10,000).
    pub fee_bps: u32,
    pub enabled: bool,
    pub created_at_s: u64,
}

/// A merchant's terminal, as `terminals` holds it (and as the platform's records held it:
/// the serde form is theirs, the sealed secret in hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalRow {
    pub id: u128,
    pub merchant_id: u128,
    /// Named by the terminal's requests (sent as `X-Mileverse-Key`).
    pub key_id: String,
    /// The signing secret, sealed with the data key (AEAD ciphertext).
    #[serde(with = "hex::serde")]
    pub secret_sealed: Vec<u8>,
    pub enabled: bool,
    pub created_at_s: u64,
}

/// A change to the merchants context's tables, written in the ledger's transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MerchantWrite {
    /// Inserts or replaces the merchant (by id).
    Merchant(MerchantRow),
    /// Inserts or replaces the terminal (by id).
    Terminal(TerminalRow),
}

/// The columns of `merchants` in the order [`merchant_of`] reads them.
const MERCHANT_COLUMNS: &str = "id, name, brand, fee_bps, enabled, created_at_s";

/// The columns of `terminals` in the order [`terminal_of`] reads them.
const TERMINAL_COLUMNS: &str = "id, merchant_id, key_id, secret_sealed, enabled, created_at_s";

impl Row for MerchantWrite {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        let (statement, params) = match self {
            MerchantWrite::Merchant(row) => merchant_statement(row)?,
            MerchantWrite::Terminal(row) => terminal_statement(row)?,
        };
        sql::execute(tx, statement, &params)?;
        Ok(())
    }
}

fn merchant_statement(row: &MerchantRow) -> Result<(&'static str, Vec<Value>), StoreError> {
    Ok((
        "INSERT INTO merchants (id, name, brand, fee_bps, enabled, created_at_s)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, brand = excluded.brand,
            fee_bps = excluded.fee_bps, enabled = excluded.enabled,
            created_at_s = excluded.created_at_s",
        vec![
            Value::id(row.id),
            Value::text(&row.name),
            Value::text(&row.brand),
            Value::uint(u64::from(row.fee_bps))?,
            Value::flag(row.enabled),
            Value::uint(row.created_at_s)?,
        ],
    ))
}

fn terminal_statement(row: &TerminalRow) -> Result<(&'static str, Vec<Value>), StoreError> {
    Ok((
        "INSERT INTO terminals (id, merchant_id, key_id, secret_sealed, enabled, created_at_s)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET merchant_id = excluded.merchant_id,
            key_id = excluded.key_id, secret_sealed = excluded.secret_sealed,
            enabled = excluded.enabled, created_at_s = excluded.created_at_s",
        vec![
            Value::id(row.id),
            Value::id(row.merchant_id),
            Value::text(&row.key_id),
            Value::bytes(&row.secret_sealed),
            Value::flag(row.enabled),
            Value::uint(row.created_at_s)?,
        ],
    ))
}

fn merchant_of(mut columns: Columns) -> Result<MerchantRow, StoreError> {
    Ok(MerchantRow {
        id: columns.id()?,
        name: columns.text()?,
        brand: columns.text()?,
        fee_bps: columns.u32()?,
        enabled: columns.flag()?,
        created_at_s: columns.uint()?,
    })
}

fn terminal_of(mut columns: Columns) -> Result<TerminalRow, StoreError> {
    Ok(TerminalRow {
        id: columns.id()?,
        merchant_id: columns.id()?,
        key_id: columns.text()?,
        secret_sealed: columns.bytes()?,
        enabled: columns.flag()?,
        created_at_s: columns.uint()?,
    })
}

fn merchants_of(rows: Vec<Columns>) -> Result<Vec<MerchantRow>, StoreError> {
    rows.into_iter().map(merchant_of).collect()
}

fn terminals_of_rows(rows: Vec<Columns>) -> Result<Vec<TerminalRow>, StoreError> {
    rows.into_iter().map(terminal_of).collect()
}

/// The count a `count(*)` query answers (none: zero).
fn count(read: &mut TableRead<'_>, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
    match sql::query_one(read, sql, params)? {
        Some(mut columns) => columns.uint(),
        None => Ok(0),
    }
}

/// The merchant with this id.
pub fn merchant(read: &mut TableRead<'_>, id: u128) -> Result<Option<MerchantRow>, StoreError> {
    let sql = format!("SELECT {MERCHANT_COLUMNS} FROM merchants WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(merchant_of)
        .transpose()
}

/// Merchants ordered by (brand, name, id), brand and name by their UTF-8 bytes, strictly
/// after the cursor `after` (`None`: from the first), at most `limit` (capped at
/// [`MERCHANTS_PAGE_MAX`]).
pub fn merchants_page(
    read: &mut TableRead<'_>,
    after: Option<(String, String, u128)>,
    limit: usize,
) -> Result<Vec<MerchantRow>, StoreError> {
    let sql = format!(
        "SELECT {MERCHANT_COLUMNS} FROM merchants WHERE (brand, name, id) > (?1, ?2, ?3)
         ORDER BY brand, name, id LIMIT ?4"
    );
    // No cursor: below every row (empty text sorts first, and an empty blob sorts before
    // every 16-byte id).
    let [brand, name, id] = match after {
        Some((brand, name, id)) => [Value::Text(brand), Value::Text(name), Value::id(id)],
        None => [
            Value::Text(String::new()),
            Value::Text(String::new()),
            Value::Blob(Vec::new()),
        ],
    };
    merchants_of(sql::query(
        read,
        &sql,
        &[brand, name, id, sql::limit(limit, MERCHANTS_PAGE_MAX)],
    )?)
}

/// How many merchants there are (enabled or not).
pub fn merchant_count(read: &mut TableRead<'_>) -> Result<u64, StoreError> {
    count(read, "SELECT CAST(count(*) AS BIGINT) FROM merchants", &[])
}

/// The terminal with this id.
pub fn terminal(read: &mut TableRead<'_>, id: u128) -> Result<Option<TerminalRow>, StoreError> {
    let sql = format!("SELECT {TERMINAL_COLUMNS} FROM terminals WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(terminal_of)
        .transpose()
}

/// The terminal whose requests name this key.
pub fn terminal_by_key(
    read: &mut TableRead<'_>,
    key_id: &str,
) -> Result<Option<TerminalRow>, StoreError> {
    let sql = format!("SELECT {TERMINAL_COLUMNS} FROM terminals WHERE key_id = ?1");
    sql::query_one(read, &sql, &[Value::text(key_id)])?
        .map(terminal_of)
        .transpose()
}

/// A merchant's terminals, oldest first ((`created_at_s`, id)), at most `limit` (capped at
/// [`MERCHANTS_PAGE_MAX`]; the platform allows a merchant no more terminals than that).
pub fn terminals_of(
    read: &mut TableRead<'_>,
    merchant_id: u128,
    limit: usize,
) -> Result<Vec<TerminalRow>, StoreError> {
    let sql = format!(
        "SELECT {TERMINAL_COLUMNS} FROM terminals WHERE merchant_id = ?1
         ORDER BY created_at_s, id LIMIT ?2"
    );
    let params = [
        Value::id(merchant_id),
        sql::limit(limit, MERCHANTS_PAGE_MAX),
    ];
    terminals_of_rows(sql::query(read, &sql, &params)?)
}

/// How many terminals the merchant has (enabled or not), through `terminals_by_merchant`.
pub fn terminal_count_of(read: &mut TableRead<'_>, merchant_id: u128) -> Result<u64, StoreError> {
    let sql = "SELECT CAST(count(*) AS BIGINT) FROM terminals WHERE merchant_id = ?1";
    count(read, sql, &[Value::id(merchant_id)])
}

/// Every terminal by id, ids after `after` (`None`: from the start), at most `limit`
/// (capped at [`MERCHANTS_PAGE_MAX`]): start opens their secrets page by page.
pub fn terminals_page(
    read: &mut TableRead<'_>,
    after: Option<u128>,
    limit: usize,
) -> Result<Vec<TerminalRow>, StoreError> {
    let sql =
        format!("SELECT {TERMINAL_COLUMNS} FROM terminals WHERE id > ?1 ORDER BY id LIMIT ?2");
    // No cursor: an empty blob sorts before every id.
    let after = sql::after_id(after);
    terminals_of_rows(sql::query(
        read,
        &sql,
        &[after, sql::limit(limit, MERCHANTS_PAGE_MAX)],
    )?)
}
