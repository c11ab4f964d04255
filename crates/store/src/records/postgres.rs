//! Records in a PostgreSQL database (sync `postgres` client), beside the ledger's tables.
//!
//! # Schema (migrations recorded in `records_migrations`)
//! - `records(kind text COLLATE "C", key bytea, value bytea, PRIMARY KEY (kind, key))`. The
//!   `"C"` collation makes `kind` compare by its UTF-8 bytes whatever the database's locale,
//!   so the primary-key index is already in the bytewise order [`RecordStore::load`]
//!   promises (`bytea` always compares bytewise).
//!
//! The migrations are recorded apart from the ledger's `schema_migrations`, so the records
//! can share the ledger's schema (or live in any other) without either store knowing the
//! other's versions.
//!
//! # Writes
//! `apply` is one transaction: the batch reduced to its last write per (kind, key), then one
//! `INSERT ... SELECT FROM unnest(...) ON CONFLICT (kind, key) DO UPDATE` for the puts (one
//! per [`PUT_BYTES_PER_STATEMENT`] of data) and one `DELETE ... WHERE (kind, key) IN (SELECT
//! FROM unnest(...))` for the deletes. Reducing first is what makes one statement correct: an
//! upsert may not touch the same row twice, and a put and a delete of one key in two
//! statements would otherwise depend on their order. The connection sets
//! `synchronous_commit = on`, so the commit waits for the WAL flush whatever the server's
//! default.

use ::postgres::{Client, Statement};

use super::{Record, RecordStore, RecordWrite, last_writes, validate};
use crate::StoreError;
use crate::postgres::{PostgresTls, quote_ident};

/// Schema migrations, applied in order; `records_migrations` records which ran.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    "CREATE TABLE records (
        kind text COLLATE \"C\" NOT NULL,
        key bytea NOT NULL,
        value bytea NOT NULL,
        PRIMARY KEY (kind, key)
    );",
];

/// Any constant: serialises record migrations of all schemas in a database.
const MIGRATION_LOCK: i64 = 0x6d69_6c65_7265_6373;

/// Keys and values sent in one upsert statement, at most (a larger batch takes several, in
/// the same transaction). Keeps each bind message far below PostgreSQL's 1 GiB limit on a
/// parameter, whatever the batch.
const PUT_BYTES_PER_STATEMENT: usize = 64 * 1024 * 1024;

struct Statements {
    load: Statement,
    upsert: Statement,
    delete: Statement,
}

/// A [`RecordStore`] in a PostgreSQL database.
pub struct PostgresRecords {
    client: Client,
    st: Statements,
    schema: Option<String>,
}

impl PostgresRecords {
    /// Connects to `url` (`postgres://user:password@host:port/db` or a key-value string; its
    /// `sslmode` decides on TLS, as for [`crate::postgres::PostgresStore`]) and brings the
    /// `records` table in the connection's `search_path` up to date.
    pub fn connect(url: &str, tls: &PostgresTls) -> Result<PostgresRecords, StoreError> {
        let client = Client::connect(url, tls.clone())?;
        PostgresRecords::with_client(client, None)
    }

    /// Like [`connect`](Self::connect), but keeps the table in `schema` (created if missing),
    /// for instance the schema of the ledger's [`crate::postgres::PostgresStore`].
    pub fn connect_schema(
        url: &str,
        schema: &str,
        tls: &PostgresTls,
    ) -> Result<PostgresRecords, StoreError> {
        let client = Client::connect(url, tls.clone())?;
        PostgresRecords::with_client(client, Some(schema))
    }

    /// Uses an existing connection, optionally switching it to `schema` (created if missing).
    pub fn with_client(
        mut client: Client,
        schema: Option<&str>,
    ) -> Result<PostgresRecords, StoreError> {
        if let Some(schema) = schema {
            let q = quote_ident(schema);
            client.batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {q}; SET search_path TO {q}"
            ))?;
        }
        client.batch_execute("SET synchronous_commit = on")?;
        migrate(&mut client)?;
        let st = Statements {
            load: client.prepare("SELECT kind, key, value FROM records ORDER BY kind, key")?,
            upsert: client.prepare(
                "INSERT INTO records (kind, key, value)
                 SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[])
                 ON CONFLICT (kind, key) DO UPDATE SET value = EXCLUDED.value",
            )?,
            delete: client.prepare(
                "DELETE FROM records
                 WHERE (kind, key) IN (SELECT * FROM unnest($1::text[], $2::bytea[]))",
            )?,
        };
        Ok(PostgresRecords {
            client,
            st,
            schema: schema.map(str::to_owned),
        })
    }

    /// The schema given to [`connect_schema`](Self::connect_schema), if any.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The underlying connection, for inspection and for tests that damage the database.
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    crate::postgres::run_migrations(client, MIGRATION_LOCK, "records_migrations", MIGRATIONS)
}

/// Column arrays for one `unnest` statement.
#[derive(Default)]
struct Columns<'a> {
    kinds: Vec<&'a str>,
    keys: Vec<&'a [u8]>,
    values: Vec<&'a [u8]>,
    bytes: usize,
}

impl<'a> Columns<'a> {
    fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }
}

impl RecordStore for PostgresRecords {
    fn load(&mut self) -> Result<Vec<Record>, StoreError> {
        let rows = self.client.query(&self.st.load, &[])?;
        rows.iter()
            .map(|row| {
                Ok(Record {
                    kind: row.try_get(0)?,
                    key: row.try_get(1)?,
                    value: row.try_get(2)?,
                })
            })
            .collect()
    }

    fn apply(&mut self, writes: &[RecordWrite]) -> Result<(), StoreError> {
        validate(writes)?;
        if writes.is_empty() {
            return Ok(());
        }
        let mut puts = vec![Columns::default()];
        let mut deletes = Columns::default();
        for ((kind, key), value) in last_writes(writes) {
            match value {
                Some(value) => {
                    let size = kind.len() + key.len() + value.len();
                    let last = puts.last_mut().expect("never empty");
                    let chunk = if !last.is_empty() && last.bytes + size > PUT_BYTES_PER_STATEMENT {
                        puts.push(Columns::default());
                        puts.last_mut().expect("just pushed")
                    } else {
                        last
                    };
                    chunk.kinds.push(kind);
                    chunk.keys.push(key);
                    chunk.values.push(value);
                    chunk.bytes += size;
                }
                None => {
                    deletes.kinds.push(kind);
                    deletes.keys.push(key);
                }
            }
        }
        // Dropping `tx` on any error below rolls everything back.
        let mut tx = self.client.transaction()?;
        for chunk in puts.iter().filter(|c| !c.is_empty()) {
            tx.execute(&self.st.upsert, &[&chunk.kinds, &chunk.keys, &chunk.values])?;
        }
        if !deletes.is_empty() {
            tx.execute(&self.st.delete, &[&deletes.kinds, &deletes.keys])?;
        }
        tx.commit()?;
        Ok(())
    }
}
