//! The older layout's settlement runs (JSON records), moved into their tables at the first
//! start of this version. The run's serde form is the record's JSON, so a record decodes
//! straight into its row.

use std::sync::Arc;

use store::records::Record;
use store::tables::RowRef;
use store::tables::settlements::SettlementWrite;

use crate::domain::{DecodeError, decode};
use crate::error::PlatformError;
use crate::service::Platform;

pub const KIND_SETTLEMENT: &str = "settlement";

/// The older layout's runs found at load, each with its table write.
#[derive(Default)]
pub(crate) struct LegacySettlements {
    records: Vec<(Record, SettlementWrite)>,
}

impl LegacySettlements {
    /// Keeps a record of this context's kind; answers false for other kinds.
    pub(crate) fn load(&mut self, record: &Record) -> Result<bool, DecodeError> {
        if record.kind != KIND_SETTLEMENT {
            return Ok(false);
        }
        let write = SettlementWrite::Run(decode(record)?);
        self.records.push((record.clone(), write));
        Ok(true)
    }
}

impl Platform {
    /// Moves the older layout's runs into their tables, each record's rows and its deletion
    /// in one commit with others (at start, before any request). A run's lines are rows of
    /// their own; a record holds at most one line per merchant.
    pub(crate) async fn import_settlement_records(&self) -> Result<(), PlatformError> {
        let legacy = std::mem::take(&mut self.lock().legacy_settlements);
        if legacy.records.is_empty() {
            return Ok(());
        }
        tracing::info!(
            records = legacy.records.len(),
            "moving settlement runs into their tables"
        );
        let records = legacy
            .records
            .into_iter()
            .map(|(record, write)| (record, vec![Arc::new(write) as RowRef]))
            .collect();
        crate::persist::import_legacy(&self.ledger, records).await?;
        Ok(())
    }
}
