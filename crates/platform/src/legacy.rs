//! The older layout's records (keyed JSON in `records`) of the contexts that now have
//! tables: found at load, and moved into those tables at the first start of this version
//! (each record's rows and its deletion in one commit, as many records a commit as fit in
//! one request's rows). A context says which of its records map to which rows
//! ([`RowsOfRecord`]); the rows' serde form is mostly the records' JSON, so most decode
//! straight into their row. Authorizations are the one exception: a crash could have cut
//! one short in the older layout, so `payments` finishes each from the ledger first.

use journal::LedgerError;
use journal::LedgerService;
use journal::sequencer::ROWS_PER_REQUEST_MAX;
use store::records::RecordWrite;

use store::records::Record;
use store::tables::RowRef;

use crate::domain::{DecodeError, RowsOfRecord, record_rows};
use crate::error::PlatformError;
use crate::service::Platform;

/// Every context whose records move this way, in the order they are tried.
const CONTEXTS: [RowsOfRecord; 9] = [
    crate::members::legacy_rows,
    crate::exchange::legacy_rows,
    crate::partners::legacy_row,
    crate::merchants::legacy_row,
    crate::vouchers::legacy_row,
    crate::paycode::legacy_row,
    crate::conversion::legacy_row,
    crate::anchoring::legacy_row,
    crate::settlement::legacy_row,
];

/// What start moves out of the older layout, found at load.
#[derive(Default)]
pub(crate) struct Legacy {
    pub rows: LegacyRows,
    /// Authorizations, each finished from the ledger before its rows are written.
    pub authorizations: Vec<crate::authorization::AuthorizationRecord>,
}

impl Legacy {
    /// Sorts the records found at load; a kind no context knows is refused.
    pub(crate) fn load(records: &[Record]) -> Result<Legacy, DecodeError> {
        let mut legacy = Legacy::default();
        for record in records {
            if legacy.rows.load(record)? {
                continue;
            }
            if record.kind == crate::authorization::KIND_AUTHORIZATION {
                legacy.authorizations.push(crate::domain::decode(record)?);
                continue;
            }
            return Err(DecodeError {
                kind: record.kind.clone(),
                key: hex::encode(&record.key),
                reason: "unknown record kind".into(),
            });
        }
        Ok(legacy)
    }
}

/// The older layout's records found at load, each with the rows that replace it.
#[derive(Default)]
pub(crate) struct LegacyRows {
    records: Vec<(Record, Vec<RowRef>)>,
}

impl LegacyRows {
    /// Keeps `record` if a context maps it to a row; answers false for other kinds.
    pub(crate) fn load(&mut self, record: &Record) -> Result<bool, DecodeError> {
        for rows_of in CONTEXTS {
            if let Some(rows) = rows_of(record)? {
                self.records.push((record.clone(), rows));
                return Ok(true);
            }
        }
        Ok(false)
    }
}

impl Platform {
    /// Moves the older layout's records found at load into their tables (at start, before
    /// any request, so nothing else writes them meanwhile).
    pub(crate) async fn import_legacy_rows(&self) -> Result<(), PlatformError> {
        let legacy = std::mem::take(&mut self.legacy().rows);
        if legacy.records.is_empty() {
            return Ok(());
        }
        tracing::info!(
            records = legacy.records.len(),
            "moving records of the older layout into their tables"
        );
        import_legacy(&self.ledger, legacy.records).await?;
        Ok(())
    }
}

/// Moves records of the older layout into their context's tables: each record's rows and
/// its deletion from `records` in the same commit, as many records a commit as fit in one
/// request's rows (at start, before any request, so nothing else writes them meanwhile).
pub(crate) async fn import_legacy(
    ledger: &LedgerService,
    records: Vec<(store::records::Record, Vec<RowRef>)>,
) -> Result<(), LedgerError> {
    let mut rows: Vec<RowRef> = Vec::new();
    for (record, table_rows) in records {
        assert!(
            table_rows.len() < ROWS_PER_REQUEST_MAX,
            "a record of the older layout makes at most a few rows"
        );
        if rows.len() + table_rows.len() + 1 > ROWS_PER_REQUEST_MAX {
            ledger.record(std::mem::take(&mut rows)).await?;
        }
        rows.extend(table_rows);
        rows.extend(record_rows([RecordWrite::Delete {
            kind: record.kind,
            key: record.key,
        }]));
    }
    if !rows.is_empty() {
        ledger.record(rows).await?;
    }
    Ok(())
}
