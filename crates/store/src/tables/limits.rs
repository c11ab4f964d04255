//! The abuse limits' counters: how many requests a key made in its current window, so a
//! restart does not hand an abuser a fresh allowance.
//!
//! ```sql
//! rate_counters (key 32 bytes (a keyed hash of the limit's name and its subject: an IP, a
//!   member, a terminal; never the subject itself), window_end_s, count)
//! ```
//!
//! Indexes: the primary key (a counter's upsert) and `rate_counters_by_end` (the live
//! counters loaded at start, newest windows first, and the purge of ended ones).

use crate::StoreError;
use crate::tables::sql::{self, Value};
use crate::tables::{Row, TableRead, TableTx};

/// Ended counters one purge deletes.
pub const RATE_PURGE_BATCH_MAX: u64 = 1000;

macro_rules! tables {
    ($without_rowid:literal) => {
        concat!(
            "CREATE TABLE rate_counters (
                key bytea PRIMARY KEY CHECK (length(key) = 32),
                window_end_s bigint NOT NULL,
                count bigint NOT NULL CHECK (count > 0)
            )",
            $without_rowid,
            ";
            CREATE INDEX rate_counters_by_end ON rate_counters (window_end_s);"
        )
    };
}

/// The table on SQLite (migration 21).
pub(crate) const SQLITE_TABLES: &str = tables!(" WITHOUT ROWID");
/// The table on PostgreSQL (migration 21).
pub(crate) const POSTGRES_TABLES: &str = tables!("");

/// One key's count in the window ending at `window_end_s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateCounterRow {
    pub key: [u8; 32],
    pub window_end_s: u64,
    pub count: u32,
}

/// A change to `rate_counters`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RateWrite {
    /// Inserts or replaces the counter.
    Counter(RateCounterRow),
    /// Deletes at most [`RATE_PURGE_BATCH_MAX`] counters whose window ended by `now_s`.
    PurgeEnded { now_s: u64 },
}

impl Row for RateWrite {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        match self {
            RateWrite::Counter(row) => {
                let sql = "INSERT INTO rate_counters (key, window_end_s, count)
                    VALUES (?1, ?2, ?3)
                    ON CONFLICT (key) DO UPDATE SET window_end_s = excluded.window_end_s,
                        count = excluded.count";
                let params = [
                    Value::bytes(&row.key),
                    Value::uint(row.window_end_s)?,
                    Value::Int(i64::from(row.count)),
                ];
                sql::execute(tx, sql, &params)?;
            }
            RateWrite::PurgeEnded { now_s } => {
                let sql = "DELETE FROM rate_counters WHERE key IN (SELECT key FROM rate_counters
                    WHERE window_end_s <= ?1 LIMIT ?2)";
                let batch = Value::uint(RATE_PURGE_BATCH_MAX)?;
                sql::execute(tx, sql, &[Value::uint(*now_s)?, batch])?;
            }
        }
        Ok(())
    }
}

/// The counters whose window is still open at `now_s`, newest windows first, at most
/// `limit`.
pub fn live_counters(
    read: &mut TableRead<'_>,
    now_s: u64,
    limit: usize,
) -> Result<Vec<RateCounterRow>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sql = "SELECT key, window_end_s, count FROM rate_counters WHERE window_end_s > ?1
        ORDER BY window_end_s DESC LIMIT ?2";
    sql::query(read, sql, &[Value::bound(now_s), Value::Int(limit)])?
        .into_iter()
        .map(|mut columns| {
            Ok(RateCounterRow {
                key: columns.hash()?,
                window_end_s: columns.uint()?,
                count: columns.u32()?,
            })
        })
        .collect()
}

/// Whether a [`RateWrite::PurgeEnded`] at `now_s` would delete anything.
pub fn purge_due(read: &mut TableRead<'_>, now_s: u64) -> Result<bool, StoreError> {
    let sql = "SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM rate_counters
        WHERE window_end_s <= ?1) THEN 1 ELSE 0 END AS BIGINT)";
    match sql::query_one(read, sql, &[Value::bound(now_s)])? {
        Some(mut columns) => columns.flag(),
        None => Ok(false),
    }
}
