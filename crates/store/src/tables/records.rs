//! The platform's keyed records (`crate::records`), kept in the ledger's own database and
//! written by the ledger's writer, in the same transaction as the blocks.
//!
//! ```sql
//! records (kind text, key bytes, value bytes, PRIMARY KEY (kind, key))
//! ```
//!
//! Before, the records lived in a database of their own (`records.db` beside the ledger on
//! SQLite) with a writer of their own, so an operation that moved value and changed a
//! record made two commits and needed a recovery saga for the gap between them. Now a
//! record write is a [`RecordRow`] like any domain row: an operation's records and its
//! transfers are one commit. The same rules as [`crate::records`] hold (kinds compared
//! bytewise, a later write to the same key wins). On PostgreSQL this is the very table
//! [`crate::records::PostgresRecords`] made in the same schema, so a database from before
//! keeps its records where they are; a SQLite `records.db` is imported once (see
//! `platform::import_records`).

use std::sync::Arc;

use crate::StoreError;
use crate::records::{Record, RecordWrite};
use crate::tables::{MemoryTables, Row, TableRead, TableTx};

const RECORDS: &str = "records";

/// The table on SQLite (a migration of the ledger's schema).
pub(crate) const SQLITE_TABLE: &str = "CREATE TABLE records (
        kind TEXT NOT NULL,
        key BLOB NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (kind, key)
    ) WITHOUT ROWID;";

/// The table on PostgreSQL: the same as `PostgresRecords` makes, which may have made it
/// already in this schema.
pub(crate) const POSTGRES_TABLE: &str = "CREATE TABLE IF NOT EXISTS records (
        kind text COLLATE \"C\" NOT NULL,
        key bytea NOT NULL,
        value bytea NOT NULL,
        PRIMARY KEY (kind, key)
    );";

/// One record write, as a row of the ledger's transaction. Check it with
/// [`crate::records::validate`] before it is queued: a bad row fails the whole append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordRow(pub RecordWrite);

/// The memory backend's key: the kind's bytes, a NUL (never inside a kind), the key; so
/// the map's order is the kind's bytewise order, then the key's.
fn memory_key(kind: &str, key: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(kind.len() + 1 + key.len());
    bytes.extend_from_slice(kind.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(key);
    bytes
}

impl Row for RecordRow {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        crate::records::validate(std::slice::from_ref(&self.0))?;
        match (tx, &self.0) {
            (TableTx::Sqlite(conn), RecordWrite::Put(record)) => {
                let mut st = conn.prepare_cached(
                    "INSERT INTO records (kind, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value",
                )?;
                st.execute(rusqlite::params![record.kind, record.key, record.value])?;
            }
            (TableTx::Sqlite(conn), RecordWrite::Delete { kind, key }) => {
                let mut st =
                    conn.prepare_cached("DELETE FROM records WHERE kind = ?1 AND key = ?2")?;
                st.execute(rusqlite::params![kind, key])?;
            }
            (TableTx::Postgres(tx), RecordWrite::Put(record)) => {
                tx.execute(
                    "INSERT INTO records (kind, key, value) VALUES ($1, $2, $3)
                     ON CONFLICT (kind, key) DO UPDATE SET value = EXCLUDED.value",
                    &[&record.kind, &record.key, &record.value],
                )?;
            }
            (TableTx::Postgres(tx), RecordWrite::Delete { kind, key }) => {
                tx.execute(
                    "DELETE FROM records WHERE kind = $1 AND key = $2",
                    &[kind, key],
                )?;
            }
            (TableTx::Memory(writes), RecordWrite::Put(record)) => {
                let key = memory_key(&record.kind, &record.key);
                writes.put(RECORDS, key, Arc::new(record.clone()));
            }
            (TableTx::Memory(writes), RecordWrite::Delete { kind, key }) => {
                writes.delete(RECORDS, memory_key(kind, key));
            }
        }
        Ok(())
    }
}

/// Every record, ordered by kind, then key (bytewise), as [`crate::records::RecordStore`]
/// loads them.
pub fn load(read: &mut TableRead<'_>) -> Result<Vec<Record>, StoreError> {
    match read {
        TableRead::Sqlite(conn) => {
            let mut st = conn.prepare("SELECT kind, key, value FROM records ORDER BY kind, key")?;
            let mut rows = st.query([])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(Record {
                    kind: row.get(0)?,
                    key: row.get(1)?,
                    value: row.get(2)?,
                });
            }
            Ok(out)
        }
        TableRead::Postgres(client) => {
            let rows = client.query(
                "SELECT kind, key, value FROM records ORDER BY kind, key",
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|row| Record {
                    kind: row.get(0),
                    key: row.get(1),
                    value: row.get(2),
                })
                .collect())
        }
        TableRead::Memory(tables) => Ok(memory_records(tables).cloned().collect()),
    }
}

/// Whether the table holds no record (a database that may still have to import some).
pub fn is_empty(read: &mut TableRead<'_>) -> Result<bool, StoreError> {
    match read {
        TableRead::Sqlite(conn) => {
            let any: Option<i64> = conn
                .query_row("SELECT 1 FROM records LIMIT 1", [], |row| row.get(0))
                .map(Some)
                .or_else(|error| match error {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    other => Err(other),
                })?;
            Ok(any.is_none())
        }
        TableRead::Postgres(client) => Ok(client
            .query_opt("SELECT 1 FROM records LIMIT 1", &[])?
            .is_none()),
        TableRead::Memory(tables) => Ok(memory_records(tables).next().is_none()),
    }
}

fn memory_records<'a>(tables: &'a MemoryTables) -> impl Iterator<Item = &'a Record> + 'a {
    tables.rows::<Record>(RECORDS).map(|(_, record)| record)
}
