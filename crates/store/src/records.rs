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

use crate::StoreError;

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
