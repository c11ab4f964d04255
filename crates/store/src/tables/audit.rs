//! The audit log's table: every operator action, append-only and hash-linked.
//!
//! ```sql
//! audit_log (seq bigint (1, 2, 3, ... without gaps), at_ms, actor text, kind text,
//!   entry text (the entry's JSON, exactly the bytes hashed),
//!   previous_hash 32 bytes (the hash of entry seq - 1; zeros for the first),
//!   hash 32 bytes (SHA-256 of previous_hash || entry),
//!   transfer_id 16 bytes (the ledger transfer that commits the hash to the Merkle log))
//! ```
//!
//! The table is written only by inserts: no statement of this crate updates or deletes a
//! row of it. An entry is written in the same store transaction as its ledger transfer, so
//! the entry and its commitment in the verifiable log are durable together.
//!
//! Indexes, each for the queries named:
//! - the primary key (`seq`): the log page by page ([`entries_page`]) and its head
//!   ([`last_entry`]);
//! - `audit_log_by_actor` (`actor, seq`): what one identity did ([`entries_of_actor`]).

use crate::StoreError;
use crate::tables::sql::{self, Columns, Value};
use crate::tables::{Row, TableRead, TableTx};

/// Most rows one page answers.
pub const AUDIT_PAGE_MAX: usize = 1000;

macro_rules! tables {
    ($without_rowid:literal, $bytewise:literal) => {
        concat!(
            "CREATE TABLE audit_log (
                seq bigint PRIMARY KEY CHECK (seq > 0),
                at_ms bigint NOT NULL,
                actor text",
            $bytewise,
            " NOT NULL,
                kind text NOT NULL,
                entry text NOT NULL,
                previous_hash bytea NOT NULL CHECK (length(previous_hash) = 32),
                hash bytea NOT NULL CHECK (length(hash) = 32),
                transfer_id bytea NOT NULL CHECK (length(transfer_id) = 16)
            )",
            $without_rowid,
            ";
            CREATE INDEX audit_log_by_actor ON audit_log (actor, seq);"
        )
    };
}

/// The table on SQLite (migration 18).
pub(crate) const SQLITE_TABLES: &str = tables!(" WITHOUT ROWID", "");
/// The table on PostgreSQL (migration 18).
pub(crate) const POSTGRES_TABLES: &str = tables!("", " COLLATE \"C\"");

/// An entry of the audit log, as `audit_log` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    pub seq: u64,
    pub at_ms: u64,
    pub actor: String,
    pub kind: String,
    /// The entry's JSON: the bytes hashed.
    pub entry: String,
    pub previous_hash: [u8; 32],
    pub hash: [u8; 32],
    pub transfer_id: u128,
}

/// Appends an entry (an insert only: a second entry with one `seq` fails the append).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditWrite(pub AuditRow);

const COLUMNS: &str = "seq, at_ms, actor, kind, entry, previous_hash, hash, transfer_id";

impl Row for AuditWrite {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        let row = &self.0;
        let params = [
            Value::uint(row.seq)?,
            Value::uint(row.at_ms)?,
            Value::text(&row.actor),
            Value::text(&row.kind),
            Value::text(&row.entry),
            Value::bytes(&row.previous_hash),
            Value::bytes(&row.hash),
            Value::id(row.transfer_id),
        ];
        sql::execute(
            tx,
            "INSERT INTO audit_log (seq, at_ms, actor, kind, entry, previous_hash, hash,
                transfer_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            &params,
        )?;
        Ok(())
    }
}

fn entry_of(mut columns: Columns) -> Result<AuditRow, StoreError> {
    Ok(AuditRow {
        seq: columns.uint()?,
        at_ms: columns.uint()?,
        actor: columns.text()?,
        kind: columns.text()?,
        entry: columns.text()?,
        previous_hash: columns.hash()?,
        hash: columns.hash()?,
        transfer_id: columns.id()?,
    })
}

fn entries_of(rows: Vec<Columns>) -> Result<Vec<AuditRow>, StoreError> {
    rows.into_iter().map(entry_of).collect()
}

/// The last entry (the head of the chain), if any.
pub fn last_entry(read: &mut TableRead<'_>) -> Result<Option<AuditRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT 1");
    sql::query_one(read, &sql, &[])?.map(entry_of).transpose()
}

/// Entries with `seq` strictly above `after`, in order, at most `limit` (capped at
/// [`AUDIT_PAGE_MAX`]).
pub fn entries_page(
    read: &mut TableRead<'_>,
    after: u64,
    limit: usize,
) -> Result<Vec<AuditRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2");
    entries_of(sql::query(
        read,
        &sql,
        &[Value::bound(after), sql::limit(limit, AUDIT_PAGE_MAX)],
    )?)
}

/// The entries of one actor with `seq` strictly above `after`, in order, at most `limit`
/// (capped at [`AUDIT_PAGE_MAX`]).
pub fn entries_of_actor(
    read: &mut TableRead<'_>,
    actor: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<AuditRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_log WHERE actor = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
    );
    let params = [
        Value::text(actor),
        Value::bound(after),
        sql::limit(limit, AUDIT_PAGE_MAX),
    ];
    entries_of(sql::query(read, &sql, &params)?)
}
