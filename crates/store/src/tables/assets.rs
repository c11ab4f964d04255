//! The assets context's tables (issue 15 item 2, TT-1, TT-6, TT-14): the latest price of
//! each asset and the conversion quotes members asked for.
//!
//! ```sql
//! asset_prices (asset text primary key, krw_per_unit text (an exact decimal),
//!   source 'operator' | 'feed', observed_at_s)
//! asset_quotes (id 16-byte id, member_id, from_asset, to_asset, from_amount > 0,
//!   to_amount > 0, from_price, to_price (the decimals it was priced at), spread_bps,
//!   status 'open' | 'used', created_at_s, expires_at_s, used_at_s)
//! ```
//!
//! Indexes: `asset_quotes_by_member` (`member_id, created_at_s`): a member's quotes of the
//! day (a cap). A quote is used once: the conversion's ledger transfers have ids derived
//! from its id, and its row turns `used` in the same commit.

use crate::StoreError;
use crate::tables::sql::{self, Columns, Value};
use crate::tables::{Row, TableRead, TableTx};

macro_rules! tables {
    ($without_rowid:literal) => {
        concat!(
            "CREATE TABLE asset_prices (
                asset text PRIMARY KEY,
                krw_per_unit text NOT NULL,
                source text NOT NULL CHECK (source IN ('operator', 'feed')),
                observed_at_s bigint NOT NULL
            )",
            $without_rowid,
            ";
            CREATE TABLE asset_quotes (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                member_id bytea NOT NULL CHECK (length(member_id) = 16),
                from_asset text NOT NULL,
                to_asset text NOT NULL,
                from_amount bigint NOT NULL CHECK (from_amount > 0),
                to_amount bigint NOT NULL CHECK (to_amount > 0),
                from_price text NOT NULL,
                to_price text NOT NULL,
                spread_bps bigint NOT NULL,
                status text NOT NULL CHECK (status IN ('open', 'used')),
                created_at_s bigint NOT NULL,
                expires_at_s bigint NOT NULL,
                used_at_s bigint
            )",
            $without_rowid,
            ";
            CREATE INDEX asset_quotes_by_member ON asset_quotes (member_id, created_at_s);"
        )
    };
}

/// The tables on SQLite (migration 27).
pub(crate) const SQLITE_TABLES: &str = tables!(" WITHOUT ROWID");
/// The tables on PostgreSQL (migration 27).
pub(crate) const POSTGRES_TABLES: &str = tables!("");

/// An asset's latest price, as `asset_prices` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceRow {
    pub asset: String,
    /// KRW for one whole unit, an exact decimal in plain notation.
    pub krw_per_unit: String,
    /// `operator` or `feed`.
    pub source: String,
    pub observed_at_s: u64,
}

/// A conversion quote, as `asset_quotes` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteRow {
    pub id: u128,
    pub member_id: u128,
    pub from_asset: String,
    pub to_asset: String,
    pub from_amount: u64,
    pub to_amount: u64,
    pub from_price: String,
    pub to_price: String,
    pub spread_bps: u64,
    /// `open` or `used`.
    pub used: bool,
    pub created_at_s: u64,
    pub expires_at_s: u64,
    pub used_at_s: Option<u64>,
}

/// A change to the assets tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AssetWrite {
    /// Inserts or replaces the asset's price.
    Price(PriceRow),
    /// Inserts or replaces the quote (by id).
    Quote(QuoteRow),
}

impl Row for AssetWrite {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        match self {
            AssetWrite::Price(row) => {
                let sql = "INSERT INTO asset_prices (asset, krw_per_unit, source, observed_at_s)
                    VALUES (?1, ?2, ?3, ?4)
                    ON CONFLICT (asset) DO UPDATE SET krw_per_unit = excluded.krw_per_unit,
                        source = excluded.source, observed_at_s = excluded.observed_at_s";
                let params = [
                    Value::text(&row.asset),
                    Value::text(&row.krw_per_unit),
                    Value::text(&row.source),
                    Value::uint(row.observed_at_s)?,
                ];
                sql::execute(tx, sql, &params)?;
            }
            AssetWrite::Quote(row) => write_quote(tx, row)?,
        }
        Ok(())
    }
}

const QUOTE_COLUMNS: &str = "id, member_id, from_asset, to_asset, from_amount, to_amount,
    from_price, to_price, spread_bps, status, created_at_s, expires_at_s, used_at_s";

fn write_quote(tx: &mut TableTx<'_, '_>, row: &QuoteRow) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO asset_quotes ({QUOTE_COLUMNS})
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
        ON CONFLICT (id) DO UPDATE SET status = excluded.status, used_at_s = excluded.used_at_s"
    );
    let params = [
        Value::id(row.id),
        Value::id(row.member_id),
        Value::text(&row.from_asset),
        Value::text(&row.to_asset),
        Value::uint(row.from_amount)?,
        Value::uint(row.to_amount)?,
        Value::text(&row.from_price),
        Value::text(&row.to_price),
        Value::uint(row.spread_bps)?,
        Value::text(if row.used { "used" } else { "open" }),
        Value::uint(row.created_at_s)?,
        Value::uint(row.expires_at_s)?,
        Value::opt_uint(row.used_at_s)?,
    ];
    sql::execute(tx, &sql, &params)?;
    Ok(())
}

fn quote_of(mut columns: Columns) -> Result<QuoteRow, StoreError> {
    Ok(QuoteRow {
        id: columns.id()?,
        member_id: columns.id()?,
        from_asset: columns.text()?,
        to_asset: columns.text()?,
        from_amount: columns.uint()?,
        to_amount: columns.uint()?,
        from_price: columns.text()?,
        to_price: columns.text()?,
        spread_bps: columns.uint()?,
        used: match columns.text()?.as_str() {
            "open" => false,
            "used" => true,
            _ => return Err(sql::corrupt("a quote's status")),
        },
        created_at_s: columns.uint()?,
        expires_at_s: columns.uint()?,
        used_at_s: columns.opt_uint()?,
    })
}

/// Every asset's latest price.
pub fn prices(read: &mut TableRead<'_>) -> Result<Vec<PriceRow>, StoreError> {
    let sql = "SELECT asset, krw_per_unit, source, observed_at_s FROM asset_prices ORDER BY asset";
    sql::query(read, sql, &[])?
        .into_iter()
        .map(|mut columns| {
            Ok(PriceRow {
                asset: columns.text()?,
                krw_per_unit: columns.text()?,
                source: columns.text()?,
                observed_at_s: columns.uint()?,
            })
        })
        .collect()
}

/// The quote with this id.
pub fn quote(read: &mut TableRead<'_>, id: u128) -> Result<Option<QuoteRow>, StoreError> {
    let sql = format!("SELECT {QUOTE_COLUMNS} FROM asset_quotes WHERE id = ?1");
    sql::query_one(read, &sql, &[Value::id(id)])?
        .map(quote_of)
        .transpose()
}

/// How many quotes the member asked for since `since_s`.
pub fn quotes_since(
    read: &mut TableRead<'_>,
    member_id: u128,
    since_s: u64,
) -> Result<u64, StoreError> {
    let sql = "SELECT count(*) FROM asset_quotes WHERE member_id = ?1 AND created_at_s >= ?2";
    match sql::query_one(read, sql, &[Value::id(member_id), Value::bound(since_s)])? {
        Some(mut columns) => columns.uint(),
        None => Ok(0),
    }
}
