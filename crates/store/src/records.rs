//! Durable keyed records: the home of the platform's domain state (members, partners,
//! links, exchanges, sessions, ...).
//!
//! The platform keeps its domain state in memory and writes every change through as whole
//! records, grouped into one transaction per group commit. A record is `(kind, key) → value`:
//! `kind` names the record type (`"member"`, `"exchange"`), `key` is its id in bytes and
//! `value` is the platform's encoding of it. The store never interprets values; personal
//! data in them is already encrypted by the platform.
//!
//! Three backends, one suite (`tests/records_suite.rs`): [`RecordStore`] on SQLite (its own
//! file beside the ledger, so the two writers never wait for each other's lock), PostgreSQL
//! (a `records` table in the ledger's schema) and memory (tests, with fault injection).
//! [`open_records`] picks one from a path or URL, as [`crate::open`] does for the ledger.
//!
//! - [`SqliteRecords`]: one SQLite file, WAL, `synchronous=FULL`; `records(kind, key, value)`
//!   `WITHOUT ROWID`, so the table is the primary-key b-tree and `load` reads it in order.
//! - [`PostgresRecords`]: `records(kind text COLLATE "C", key bytea, value bytea)`; an `apply`
//!   is one transaction of at most a few statements, whatever the number of writes (rows go
//!   as `unnest` arrays).
//! - [`MemoryRecords`]: a shared handle with a [`RecordFaults`] plan.
//!
//! # Rules every backend keeps
//! - Every write of a batch is checked ([`validate`]) before anything is written, so a batch
//!   with one bad write writes nothing and fails with [`StoreError::Io`] of kind
//!   [`std::io::ErrorKind::InvalidInput`]. A `kind` is 1 to [`RECORD_KIND_BYTES_MAX`] bytes
//!   of UTF-8 without NUL (PostgreSQL `text` cannot hold one); a key is 0 to
//!   [`RECORD_KEY_BYTES_MAX`] bytes and a value 0 to [`RECORD_VALUE_BYTES_MAX`] bytes, any
//!   bytes.
//! - The order of `load` is bytewise: `kind` by its UTF-8 bytes (not a locale's collation),
//!   then `key`, a shorter key before any longer key it is a prefix of.
//! - Within one batch the last write to a (kind, key) wins: the SQL backends first reduce the
//!   batch to that last write per (kind, key), so `Put` then `Delete` leaves nothing and
//!   `Delete` then `Put` leaves the put record.

use std::collections::BTreeMap;

use crate::StoreError;

mod memory;
mod postgres;
mod sqlite;

pub use memory::{MemoryRecords, RecordFaults};
pub use postgres::PostgresRecords;
pub use sqlite::SqliteRecords;

/// Longest `kind` name accepted, in bytes.
pub const RECORD_KIND_BYTES_MAX: usize = 32;
/// Longest key accepted, in bytes.
pub const RECORD_KEY_BYTES_MAX: usize = 256;
/// Largest value accepted, in bytes.
pub const RECORD_VALUE_BYTES_MAX: usize = 1024 * 1024;

/// One stored record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub kind: String,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// One change to the records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordWrite {
    /// Inserts or replaces the record with this kind and key.
    Put(Record),
    /// Removes the record if present (absent is not an error).
    Delete { kind: String, key: Vec<u8> },
}

/// Durable keyed records. Used from one thread at a time (the platform's record writer).
pub trait RecordStore: Send {
    /// Every record, ordered by kind, then key (bytewise).
    fn load(&mut self) -> Result<Vec<Record>, StoreError>;

    /// Applies `writes` in order, in ONE database transaction, durable on return: all or
    /// nothing. A later write to the same (kind, key) wins.
    fn apply(&mut self, writes: &[RecordWrite]) -> Result<(), StoreError>;
}

/// Opens a record store named by `spec`, as [`crate::open`] does: `memory` (a fresh
/// [`MemoryRecords`]), a `postgres://` or `postgresql://` URL ([`PostgresRecords::connect`]),
/// or else a SQLite file path, optionally prefixed with `sqlite:` ([`SqliteRecords::open`]).
/// `tls` is used for PostgreSQL only.
pub fn open_records(
    spec: &str,
    tls: &crate::postgres::PostgresTls,
) -> Result<Box<dyn RecordStore>, StoreError> {
    if spec == "memory" {
        Ok(Box::new(MemoryRecords::new()))
    } else if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        Ok(Box::new(PostgresRecords::connect(spec, tls)?))
    } else {
        let path = spec.strip_prefix("sqlite:").unwrap_or(spec);
        Ok(Box::new(SqliteRecords::open(std::path::Path::new(path))?))
    }
}

impl RecordWrite {
    /// The kind this write touches.
    pub fn kind(&self) -> &str {
        match self {
            RecordWrite::Put(r) => &r.kind,
            RecordWrite::Delete { kind, .. } => kind,
        }
    }

    /// The key this write touches.
    pub fn key(&self) -> &[u8] {
        match self {
            RecordWrite::Put(r) => &r.key,
            RecordWrite::Delete { key, .. } => key,
        }
    }
}

/// Checks every write of a batch against the limits (see the module docs); every backend
/// calls it before writing anything. The error is [`StoreError::Io`] of kind
/// [`std::io::ErrorKind::InvalidInput`], naming the first bad write by its index.
pub fn validate(writes: &[RecordWrite]) -> Result<(), StoreError> {
    for (i, w) in writes.iter().enumerate() {
        let kind = w.kind();
        if kind.is_empty() {
            return Err(invalid(i, "the kind is empty".to_owned()));
        }
        if kind.len() > RECORD_KIND_BYTES_MAX {
            return Err(invalid(
                i,
                format!(
                    "the kind is {} bytes, more than {RECORD_KIND_BYTES_MAX}",
                    kind.len()
                ),
            ));
        }
        if kind.contains('\0') {
            return Err(invalid(i, "the kind contains NUL".to_owned()));
        }
        if w.key().len() > RECORD_KEY_BYTES_MAX {
            return Err(invalid(
                i,
                format!(
                    "the key of kind {kind:?} is {} bytes, more than {RECORD_KEY_BYTES_MAX}",
                    w.key().len()
                ),
            ));
        }
        if let RecordWrite::Put(r) = w
            && r.value.len() > RECORD_VALUE_BYTES_MAX
        {
            return Err(invalid(
                i,
                format!(
                    "the value of kind {kind:?} is {} bytes, more than {RECORD_VALUE_BYTES_MAX}",
                    r.value.len()
                ),
            ));
        }
    }
    Ok(())
}

fn invalid(index: usize, what: String) -> StoreError {
    StoreError::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("record write {index}: {what}"),
    ))
}

/// A (kind, key) borrowed from a batch.
type RecordId<'a> = (&'a str, &'a [u8]);

/// The last write to each (kind, key) of `writes`, in (kind, key) order: `Some(value)` for a
/// put, `None` for a delete. Applying these in any order has the effect of applying `writes`
/// in order.
fn last_writes(writes: &[RecordWrite]) -> BTreeMap<RecordId<'_>, Option<&[u8]>> {
    let mut last = BTreeMap::new();
    for w in writes {
        let value = match w {
            RecordWrite::Put(r) => Some(r.value.as_slice()),
            RecordWrite::Delete { .. } => None,
        };
        last.insert((w.kind(), w.key()), value);
    }
    last
}
