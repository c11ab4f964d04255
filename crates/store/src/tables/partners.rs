//! The partner catalogue: the companies whose mileage members exchange into MVP (an
//! airline, a card company), with their limits and their dated exchange rates.
//!
//! ```sql
//! partners (id 16-byte id, name text, api_base_url text (the base URL of its API),
//!   secret_sealed (the shared secret, AEAD ciphertext), minimum_unit >= 1 (the smallest
//!   amount of mileage exchanged, and what an amount must be a multiple of), daily_limit,
//!   monthly_limit >= 0 (the most MVP a member may take in a day, a month), credit_line >= 0
//!   (the most MVP the platform credits ahead of the partner's payment), enabled 0 | 1,
//!   created_at_s, prepaid 0 | 1 (migration 33: the partner bought its MVP up front, so its
//!   members' exchanges are paid from its prepaid account, never beyond it))
//! partner_rates (partner_id 16-byte id, effective_from_s (from when it applies),
//!   num >= 1, den >= 1 (MVP = mileage × num / den))
//! ```
//!
//! A partner signs the requests it sends and checks those it is sent with a secret shared
//! with the platform. The secret is a credential: it is never stored in the clear; the
//! platform seals it with the data key (`secret_sealed`) and opens it in memory only.
//!
//! A rate applies from its `effective_from_s` on, until the next rate of the partner: the
//! rate in force at a time is the last one that took effect at or before it
//! ([`PartnerRow::rate_at`]). A partner's rates are written whole with it
//! ([`PartnerWrite::Partner`]): the rates it had and that are not among them are deleted.
//! Two rates of a partner from the same time are refused (the key); the platform keeps them
//! strictly increasing, and at most [`RATES_PER_PARTNER_MAX`] of them, which the write
//! checks too (a partner with more is refused), so a read always answers every rate.
//!
//! The limits and the credit line are unsigned in the row and `bigint` in the table, like
//! every amount here: a value above 2^63 − 1 cannot be stored, and a write of one is
//! refused (nothing of its append is written). So "no limit" is written as a large limit
//! (2^63 − 1 at most), never as `u64::MAX`.
//!
//! Keys, each for the queries named:
//! - `partners` by `id`: one partner ([`partner`]), the operators' list and start's load of
//!   every partner, page by page ([`partners_page`]), and how many there are
//!   ([`partner_count`]);
//! - `partner_rates` by (`partner_id, effective_from_s`): a partner's rates in date order
//!   are one range of it, read with one query per partner.
//!
//! `name` compares by its UTF-8 bytes on both backends (SQLite's `BINARY` collation;
//! `COLLATE "C"` on PostgreSQL, whatever the database's locale), like the merchants' names.
//!
//! Written once for both SQL backends through [`crate::tables::sql`]; the column types are
//! PostgreSQL's names (`bytea`, `bigint`, `text`), which SQLite reads as BLOB-like, INTEGER
//! and TEXT. The keyset cursor of the pages is the id (`id > ?`).

use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::tables::sql::{self, Columns, Value};
use crate::tables::{Row, TableRead, TableTx};

/// Most partners one page answers.
pub const PARTNERS_PAGE_MAX: usize = 1000;

/// Most rates read for one partner (the platform allows 1,000); a partner with more is
/// refused when it is written.
pub const RATES_PER_PARTNER_MAX: usize = 1000;

macro_rules! tables {
    ($without_rowid:literal, $bytewise:literal) => {
        concat!(
            "CREATE TABLE partners (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                name text",
            $bytewise,
            " NOT NULL,
                api_base_url text NOT NULL,
                secret_sealed bytea NOT NULL,
                minimum_unit bigint NOT NULL CHECK (minimum_unit >= 1),
                daily_limit bigint NOT NULL CHECK (daily_limit >= 0),
                monthly_limit bigint NOT NULL CHECK (monthly_limit >= 0),
                credit_line bigint NOT NULL CHECK (credit_line >= 0),
                enabled bigint NOT NULL CHECK (enabled IN (0, 1)),
                created_at_s bigint NOT NULL
            )",
            $without_rowid,
            ";
            CREATE TABLE partner_rates (
                partner_id bytea NOT NULL CHECK (length(partner_id) = 16),
                effective_from_s bigint NOT NULL,
                num bigint NOT NULL CHECK (num >= 1),
                den bigint NOT NULL CHECK (den >= 1),
                PRIMARY KEY (partner_id, effective_from_s)
            )",
            $without_rowid,
            ";"
        )
    };
}

/// The tables on SQLite (migration 16).
pub(crate) const SQLITE_TABLES: &str = tables!(" WITHOUT ROWID", "");
/// The tables on PostgreSQL (migration 16).
pub(crate) const POSTGRES_TABLES: &str = tables!("", " COLLATE \"C\"");

/// Migration 33 on both backends: prepaid partners (points replacement, TT-11). Every
/// partner before it worked on credit.
pub(crate) const PREPAID_MIGRATION: &str =
    "ALTER TABLE partners ADD COLUMN prepaid bigint NOT NULL DEFAULT 0 CHECK (prepaid IN (0, 1));";

/// An exchange rate that applies from `effective_from_s` on: MVP = mileage × num / den. A
/// row of `partner_rates` (and the platform's rate: the serde form is its).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateRow {
    pub effective_from_s: u64,
    /// At least 1.
    pub num: u64,
    /// At least 1.
    pub den: u64,
}

/// A partner with its rates (a row of `partners` and its rows of `partner_rates`). Its
/// serde form is the platform's records' (old records decode straight into it), the sealed
/// secret in hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerRow {
    pub id: u128,
    pub name: String,
    /// The base URL of the partner's API.
    pub api_base_url: String,
    /// The shared secret that signs requests both ways, sealed with the data key (AEAD
    /// ciphertext).
    #[serde(with = "hex::serde")]
    pub secret_sealed: Vec<u8>,
    /// Oldest first (by `effective_from_s`, as read).
    pub rates: Vec<RateRow>,
    /// The smallest amount of mileage exchanged (at least 1).
    pub minimum_unit: u64,
    /// The most MVP a member may take from this partner in a day (at most 2^63 − 1).
    pub daily_limit: u64,
    /// The most MVP a member may take from this partner in a month (at most 2^63 − 1).
    pub monthly_limit: u64,
    /// The most MVP the platform credits ahead of the partner's payment (at most
    /// 2^63 − 1).
    pub credit_line: u64,
    pub enabled: bool,
    pub created_at_s: u64,
    /// The partner bought its MVP up front (points replacement): exchanges are paid from
    /// its prepaid account, not on credit. Chosen at registration.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prepaid: bool,
}

impl PartnerRow {
    /// The rate in force at `at_s`: the last with `effective_from_s <= at_s` (none before
    /// the first rate, or without rates).
    pub fn rate_at(&self, at_s: u64) -> Option<RateRow> {
        self.rates
            .iter()
            .rev()
            .find(|rate| rate.effective_from_s <= at_s)
            .copied()
    }
}

/// A change to the partner catalogue, written in the ledger's transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartnerWrite {
    /// Inserts or replaces the partner (by id) and its rates, written whole: rates of the
    /// partner not in `rates` are deleted, the others inserted or replaced. Two rates from
    /// the same time, more than [`RATES_PER_PARTNER_MAX`] rates, a value the table's checks
    /// refuse (a `num`, `den` or `minimum_unit` of 0) or one above 2^63 − 1 fail the whole
    /// append.
    Partner(PartnerRow),
}

/// The columns of `partners` in the order [`partner_of`] reads them.
const PARTNER_COLUMNS: &str = "id, name, api_base_url, secret_sealed, minimum_unit, \
     daily_limit, monthly_limit, credit_line, enabled, created_at_s, prepaid";

impl Row for PartnerWrite {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        match self {
            PartnerWrite::Partner(row) => write_partner(tx, row),
        }
    }
}

/// The partner's row, then its rates: those it had are deleted and `rates` inserted, so
/// the rows are exactly the partner's `rates` (in one transaction, never seen half written).
fn write_partner(tx: &mut TableTx<'_, '_>, row: &PartnerRow) -> Result<(), StoreError> {
    if row.rates.len() > RATES_PER_PARTNER_MAX {
        return Err(StoreError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "a partner with {} rates, more than {RATES_PER_PARTNER_MAX}",
                row.rates.len()
            ),
        )));
    }
    sql::execute(
        tx,
        "INSERT INTO partners (id, name, api_base_url, secret_sealed, minimum_unit,
            daily_limit, monthly_limit, credit_line, enabled, created_at_s, prepaid)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name,
            api_base_url = excluded.api_base_url, secret_sealed = excluded.secret_sealed,
            minimum_unit = excluded.minimum_unit, daily_limit = excluded.daily_limit,
            monthly_limit = excluded.monthly_limit, credit_line = excluded.credit_line,
            enabled = excluded.enabled, created_at_s = excluded.created_at_s,
            prepaid = excluded.prepaid",
        &[
            Value::id(row.id),
            Value::text(&row.name),
            Value::text(&row.api_base_url),
            Value::bytes(&row.secret_sealed),
            Value::uint(row.minimum_unit)?,
            Value::uint(row.daily_limit)?,
            Value::uint(row.monthly_limit)?,
            Value::uint(row.credit_line)?,
            Value::flag(row.enabled),
            Value::uint(row.created_at_s)?,
            Value::flag(row.prepaid),
        ],
    )?;
    sql::execute(
        tx,
        "DELETE FROM partner_rates WHERE partner_id = ?1",
        &[Value::id(row.id)],
    )?;
    for rate in &row.rates {
        sql::execute(
            tx,
            "INSERT INTO partner_rates (partner_id, effective_from_s, num, den)
             VALUES (?1, ?2, ?3, ?4)",
            &[
                Value::id(row.id),
                Value::uint(rate.effective_from_s)?,
                Value::uint(rate.num)?,
                Value::uint(rate.den)?,
            ],
        )?;
    }
    Ok(())
}

/// A partner's row, without its rates yet.
fn partner_of(mut columns: Columns) -> Result<PartnerRow, StoreError> {
    Ok(PartnerRow {
        id: columns.id()?,
        name: columns.text()?,
        api_base_url: columns.text()?,
        secret_sealed: columns.bytes()?,
        rates: Vec::new(),
        minimum_unit: columns.uint()?,
        daily_limit: columns.uint()?,
        monthly_limit: columns.uint()?,
        credit_line: columns.uint()?,
        enabled: columns.flag()?,
        created_at_s: columns.uint()?,
        prepaid: columns.flag()?,
    })
}

fn rate_of(mut columns: Columns) -> Result<RateRow, StoreError> {
    Ok(RateRow {
        effective_from_s: columns.uint()?,
        num: columns.uint()?,
        den: columns.uint()?,
    })
}

/// The partner's rates, oldest first (one query). More than [`RATES_PER_PARTNER_MAX`] is
/// never written, so finding more is a corrupt table (not a list cut short in silence,
/// which would answer an old rate as the one in force).
fn rates_of(read: &mut TableRead<'_>, partner_id: u128) -> Result<Vec<RateRow>, StoreError> {
    let limit = i64::try_from(RATES_PER_PARTNER_MAX + 1).expect("the limit fits");
    let rows = sql::query(
        read,
        "SELECT effective_from_s, num, den FROM partner_rates WHERE partner_id = ?1
         ORDER BY effective_from_s LIMIT ?2",
        &[Value::id(partner_id), Value::Int(limit)],
    )?;
    if rows.len() > RATES_PER_PARTNER_MAX {
        return Err(sql::corrupt(&format!(
            "a partner with more than {RATES_PER_PARTNER_MAX} rates"
        )));
    }
    rows.into_iter().map(rate_of).collect()
}

/// The partners of these rows, each with its rates.
fn partners_with_rates(
    read: &mut TableRead<'_>,
    rows: Vec<Columns>,
) -> Result<Vec<PartnerRow>, StoreError> {
    let mut partners = Vec::with_capacity(rows.len());
    for columns in rows {
        let mut partner = partner_of(columns)?;
        partner.rates = rates_of(read, partner.id)?;
        partners.push(partner);
    }
    Ok(partners)
}

/// The partner with its rates (oldest first).
pub fn partner(read: &mut TableRead<'_>, id: u128) -> Result<Option<PartnerRow>, StoreError> {
    let sql = format!("SELECT {PARTNER_COLUMNS} FROM partners WHERE id = ?1");
    let rows = sql::query(read, &sql, &[Value::id(id)])?;
    Ok(partners_with_rates(read, rows)?.into_iter().next())
}

/// Partners by id, ids after `after` (`None`: from the first), at most `limit` (capped at
/// [`PARTNERS_PAGE_MAX`]), each with its rates (oldest first).
pub fn partners_page(
    read: &mut TableRead<'_>,
    after: Option<u128>,
    limit: usize,
) -> Result<Vec<PartnerRow>, StoreError> {
    let sql = format!("SELECT {PARTNER_COLUMNS} FROM partners WHERE id > ?1 ORDER BY id LIMIT ?2");
    // No cursor: an empty blob sorts before every id.
    let after = sql::after_id(after);
    let rows = sql::query(read, &sql, &[after, sql::limit(limit, PARTNERS_PAGE_MAX)])?;
    partners_with_rates(read, rows)
}

/// How many partners there are (enabled or not).
pub fn partner_count(read: &mut TableRead<'_>) -> Result<u64, StoreError> {
    match sql::query_one(read, "SELECT CAST(count(*) AS BIGINT) FROM partners", &[])? {
        Some(mut columns) => columns.uint(),
        None => Ok(0),
    }
}
