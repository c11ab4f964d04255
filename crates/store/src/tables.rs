//! Domain tables: rows the business writes in the ledger's own database transaction.
//!
//! A local operation of the business (an authorization at the till, a voucher, a
//! settlement step) is one durable commit: its records and its ledger transfers are written
//! by the one writer, in the same transaction as the block that holds the transfers
//! ([`crate::Store::append_with_rows`]). Either both are durable or neither is, so nothing
//! is left to reconcile after a crash.
//!
//! Each domain table has a row type, defined in a module of this crate next to its SQL for
//! both backends (only this crate knows SQL); a row implements [`Row`] by writing itself
//! into the open transaction ([`TableTx`]). Reads go through [`crate::Store::tables`], which
//! hands a table module the backend's connection ([`TableRead`]) to run its queries on.
//! The memory backend keeps every table as a sorted map of encoded key to the row itself
//! ([`MemoryTables`]); its queries filter and sort in memory, enough for tests and
//! benchmarks.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::StoreError;

pub mod ads;
pub mod anchoring;
pub mod assets;
pub mod audit;
pub mod checkout;
pub mod conversions;
pub mod creators;
pub mod escrow;
pub mod exchanges;
pub mod health;
pub mod idempotency;
pub mod limits;
pub mod members;
pub mod merchants;
pub mod operators;
pub mod partners;
pub mod paycodes;
pub mod payments;
pub mod portal_users;
pub mod promotions;
pub mod records;
pub mod settlements;
pub mod sql;
pub mod transfers;
pub mod vans;
pub mod volume;
pub mod vouchers;

/// Most rows one store transaction writes beside its blocks. The writer groups the rows of
/// every request in its group; a group holds at most a few thousand requests, each with a
/// handful of rows, so this bound is never met by a correct caller. An append over it is
/// refused (nothing is written).
pub const ROWS_PER_APPEND_MAX: usize = 1 << 20;

/// Where a row is written: the transaction a backend has open for the append.
pub enum TableTx<'a, 'b> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(&'a mut postgres::Transaction<'b>),
    Memory(&'a mut MemoryWrites<'b>),
}

/// Where a table module runs its queries: a backend's connection (a reader's, usually).
pub enum TableRead<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(&'a mut postgres::Client),
    Memory(crate::memory::TablesGuard<'a>),
}

/// A row of a domain table, written in the ledger's transaction.
pub trait Row: std::fmt::Debug + Send + Sync {
    /// Writes the row (an insert, or a replace of the row with the same key). An error rolls
    /// the whole append back: blocks and every row.
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError>;
}

/// A row as the pipeline carries it from the request to the writer.
pub type RowRef = Arc<dyn Row>;

/// A row as the memory backend keeps it.
pub type MemoryRow = Arc<dyn Any + Send + Sync>;

/// The memory backend's tables: per table, encoded key to the row, in key order; and the
/// tables written through [`sql`] in an in-memory SQLite database with their SQLite
/// schema (so a query means the same on every backend).
#[derive(Debug)]
pub struct MemoryTables {
    tables: BTreeMap<&'static str, BTreeMap<Vec<u8>, MemoryRow>>,
    sql: rusqlite::Connection,
}

impl Default for MemoryTables {
    fn default() -> Self {
        let sql = rusqlite::Connection::open_in_memory().expect("an in-memory SQLite database");
        for schema in SQL_TABLES_SQLITE {
            sql.execute_batch(schema)
                .expect("the domain tables' SQLite schema is valid");
        }
        MemoryTables {
            tables: BTreeMap::new(),
            sql,
        }
    }
}

/// The SQLite schema of the tables written through [`sql`], for the memory backend.
const SQL_TABLES_SQLITE: &[&str] = &[
    members::SQLITE_TABLES,
    exchanges::SQLITE_TABLES,
    vouchers::SQLITE_TABLES,
    paycodes::SQLITE_TABLES,
    conversions::SQLITE_TABLES,
    anchoring::SQLITE_TABLES,
    merchants::SQLITE_TABLES,
    settlements::SQLITE_TABLES,
    partners::SQLITE_TABLES,
    operators::SQLITE_TABLES,
    audit::SQLITE_TABLES,
    exchanges::LINK_PROOF_MIGRATION,
    members::SQLITE_SAFETY_MIGRATION,
    limits::SQLITE_TABLES,
    vans::SQLITE_TABLES,
    transfers::SQLITE_TABLES,
    assets::SQLITE_TABLES,
    transfers::ASSETS_MIGRATION,
    checkout::SQLITE_TABLES,
    promotions::SQLITE_TABLES,
    escrow::SQLITE_TABLES,
    creators::SQLITE_TABLES,
    partners::PREPAID_MIGRATION,
    promotions::TRADING_REWARDS_MIGRATION_SQLITE,
];

impl MemoryTables {
    /// The in-memory database of the tables written through [`sql`].
    pub fn sql(&self) -> &rusqlite::Connection {
        &self.sql
    }

    /// Opens the transaction an append's rows are written in.
    pub(crate) fn begin(&self) -> Result<(), StoreError> {
        Ok(self.sql.execute_batch("BEGIN")?)
    }

    /// Ends the append's transaction: commits it, or rolls it back.
    pub(crate) fn end(&self, commit: bool) -> Result<(), StoreError> {
        Ok(self
            .sql
            .execute_batch(if commit { "COMMIT" } else { "ROLLBACK" })?)
    }

    /// The row of `table` under `key`, if it is a `T`.
    pub fn get<T: 'static>(&self, table: &str, key: &[u8]) -> Option<&T> {
        self.tables.get(table)?.get(key)?.downcast_ref()
    }

    /// The rows of `table` that are `T`s, in key order, with their keys.
    pub fn rows<T: 'static>(&self, table: &str) -> impl Iterator<Item = (&[u8], &T)> {
        let rows = self.tables.get(table).into_iter().flatten();
        rows.filter_map(|(key, row)| Some((key.as_slice(), row.downcast_ref::<T>()?)))
    }

    /// Applies writes gathered by [`MemoryWrites`], in order.
    pub(crate) fn apply(&mut self, writes: Vec<MemoryWrite>) {
        for write in writes {
            let table = self.tables.entry(write.table).or_default();
            match write.value {
                Some(value) => table.insert(write.key, value),
                None => table.remove(&write.key),
            };
        }
    }
}

/// Row writes of one memory append, applied only once the whole append checked out; with
/// the tables as they were before the append, for rows that read what they change (as an
/// SQL `UPDATE ... WHERE` does).
#[derive(Debug)]
pub struct MemoryWrites<'t> {
    writes: Vec<MemoryWrite>,
    tables: &'t MemoryTables,
}

#[derive(Debug)]
pub(crate) struct MemoryWrite {
    table: &'static str,
    key: Vec<u8>,
    /// `None` removes the row.
    value: Option<MemoryRow>,
}

impl<'t> MemoryWrites<'t> {
    pub(crate) fn new(tables: &'t MemoryTables) -> MemoryWrites<'t> {
        MemoryWrites {
            writes: Vec::new(),
            tables,
        }
    }

    /// The tables before this append.
    pub fn tables(&self) -> &'t MemoryTables {
        self.tables
    }

    pub(crate) fn into_writes(self) -> Vec<MemoryWrite> {
        self.writes
    }

    /// Inserts or replaces the row of `table` under `key`.
    pub fn put(&mut self, table: &'static str, key: Vec<u8>, value: MemoryRow) {
        let value = Some(value);
        self.writes.push(MemoryWrite { table, key, value });
    }

    /// Removes the row of `table` under `key`, if there is one.
    pub fn delete(&mut self, table: &'static str, key: Vec<u8>) {
        self.writes.push(MemoryWrite {
            table,
            key,
            value: None,
        });
    }
}

/// Refuses an append with more rows than [`ROWS_PER_APPEND_MAX`].
pub(crate) fn check_row_count(rows: &[RowRef]) -> Result<(), StoreError> {
    if rows.len() > ROWS_PER_APPEND_MAX {
        return Err(StoreError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{} rows in one append, more than {ROWS_PER_APPEND_MAX}",
                rows.len()
            ),
        )));
    }
    Ok(())
}
