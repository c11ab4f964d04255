//! Records in a SQLite file of their own (bundled SQLite), WAL, `synchronous=FULL`.
//!
//! # Schema (version 1, kept in `PRAGMA user_version`)
//! - `records(kind TEXT, key BLOB, value BLOB, PRIMARY KEY (kind, key)) WITHOUT ROWID`: the
//!   table is its primary-key b-tree, so `load` reads it front to back in (kind, key) order.
//!   `TEXT` compares with SQLite's `BINARY` collation (memcmp of the UTF-8 bytes) and `BLOB`
//!   by memcmp, which is the bytewise order [`RecordStore::load`] promises.
//!
//! # Writes
//! `apply` is one `BEGIN IMMEDIATE ... COMMIT`: the batch reduced to its last write per
//! (kind, key), then one cached `INSERT ... ON CONFLICT DO UPDATE` or `DELETE` per record, in
//! key order. In WAL mode with `synchronous=FULL` the commit fsyncs the WAL before it
//! returns.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, TransactionBehavior, params};

use super::{Record, RecordStore, RecordWrite, last_writes, validate};
use crate::StoreError;
use crate::codec::corrupt;

/// Schema migrations; `PRAGMA user_version` is the number applied.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    "CREATE TABLE records (
        kind TEXT NOT NULL,
        key BLOB NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (kind, key)
    ) WITHOUT ROWID;",
];

const UPSERT: &str = "INSERT INTO records (kind, key, value) VALUES (?1, ?2, ?3)
    ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value";
const DELETE: &str = "DELETE FROM records WHERE kind = ?1 AND key = ?2";

/// A [`RecordStore`] in one SQLite database file.
pub struct SqliteRecords {
    conn: Connection,
    path: PathBuf,
}

impl SqliteRecords {
    /// Opens (creating if missing) the records database at `path` (its own file, not the
    /// ledger's), switches it to WAL with `synchronous=FULL`, and brings its schema up to
    /// date.
    pub fn open(path: &Path) -> Result<SqliteRecords, StoreError> {
        let mut conn = crate::sqlite::open_durable(path)?;
        migrate(&mut conn, path)?;
        Ok(SqliteRecords {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying connection, for inspection and for tests that damage the database.
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if !(0..=known).contains(&version) {
        return Err(corrupt(
            0,
            format!(
                "{}: records schema version {version} is not one this build knows (up to {known})",
                path.display()
            ),
        ));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

impl RecordStore for SqliteRecords {
    fn load(&mut self) -> Result<Vec<Record>, StoreError> {
        // The same table and order as the records in the ledger's database.
        crate::tables::records::load(&mut crate::tables::TableRead::Sqlite(&self.conn))
    }

    fn apply(&mut self, writes: &[RecordWrite]) -> Result<(), StoreError> {
        validate(writes)?;
        if writes.is_empty() {
            return Ok(());
        }
        // Dropping `tx` on any error below rolls everything back.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut upsert = tx.prepare_cached(UPSERT)?;
            let mut delete = tx.prepare_cached(DELETE)?;
            for ((kind, key), value) in last_writes(writes) {
                match value {
                    Some(value) => upsert.execute(params![kind, key, value])?,
                    None => delete.execute(params![kind, key])?,
                };
            }
        }
        tx.commit()?;
        Ok(())
    }
}
