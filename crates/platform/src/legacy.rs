//! The older layout's records (keyed JSON in `records`) of the contexts that now have
//! tables: found at load, and moved into those tables at the first start of this version
//! (each record's rows and its deletion in one commit, as many records a commit as fit in
//! one request's rows). A context says which of its records map to which row
//! ([`RowOfRecord`]); the rows' serde form is the records' JSON, so most decode straight
//! into their row.

use std::sync::Arc;

use store::records::Record;
use store::tables::{Row, RowRef};

use crate::domain::DecodeError;
use crate::error::PlatformError;
use crate::service::Platform;

/// A context's mapping of an older record to the row that replaces it: `None` for a
/// record of another context's kind.
pub(crate) type RowOfRecord = fn(&Record) -> Result<Option<RowRef>, DecodeError>;

/// Every context whose records move this way, in the order they are tried.
const CONTEXTS: [RowOfRecord; 7] = [
    crate::partners::legacy_row,
    crate::merchants::legacy_row,
    crate::vouchers::legacy_row,
    crate::paycode::legacy_row,
    crate::conversion::legacy_row,
    crate::anchoring::legacy_row,
    crate::settlement::legacy_row,
];

/// A row as [`RowOfRecord`] answers it.
pub(crate) fn row(write: impl Row + 'static) -> Option<RowRef> {
    Some(Arc::new(write))
}

/// The older layout's records found at load, each with the rows that replace it.
#[derive(Default)]
pub(crate) struct LegacyRows {
    records: Vec<(Record, Vec<RowRef>)>,
}

impl LegacyRows {
    /// Keeps `record` if a context maps it to a row; answers false for other kinds.
    pub(crate) fn load(&mut self, record: &Record) -> Result<bool, DecodeError> {
        for row_of in CONTEXTS {
            if let Some(row) = row_of(record)? {
                self.records.push((record.clone(), vec![row]));
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
        let legacy = std::mem::take(&mut self.lock().legacy_rows);
        if legacy.records.is_empty() {
            return Ok(());
        }
        tracing::info!(
            records = legacy.records.len(),
            "moving records of the older layout into their tables"
        );
        crate::persist::import_legacy(&self.ledger, legacy.records).await?;
        Ok(())
    }
}
