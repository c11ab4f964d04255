//! The older layout's merchants and terminals (JSON records), moved into their tables at
//! the first start of this version. The rows' serde form is the records' JSON, so a record
//! decodes straight into its row.

use std::sync::Arc;

use store::records::Record;
use store::tables::RowRef;
use store::tables::merchants::MerchantWrite;

use crate::domain::{DecodeError, decode};
use crate::error::PlatformError;
use crate::service::Platform;

pub const KIND_MERCHANT: &str = "merchant";
pub const KIND_TERMINAL: &str = "terminal";

/// The older layout's records of this context found at load, each with its table write.
#[derive(Default)]
pub(crate) struct LegacyMerchants {
    records: Vec<(Record, MerchantWrite)>,
}

impl LegacyMerchants {
    /// Keeps a record of this context's kinds; answers false for other kinds.
    pub(crate) fn load(&mut self, record: &Record) -> Result<bool, DecodeError> {
        let write = match record.kind.as_str() {
            KIND_MERCHANT => MerchantWrite::Merchant(decode(record)?),
            KIND_TERMINAL => MerchantWrite::Terminal(decode(record)?),
            _ => return Ok(false),
        };
        self.records.push((record.clone(), write));
        Ok(true)
    }
}

impl Platform {
    /// Moves the older layout's merchants and terminals into their tables, each record's
    /// row and its deletion in one commit with others (at start, before any request).
    pub(crate) async fn import_merchant_records(&self) -> Result<(), PlatformError> {
        let legacy = std::mem::take(&mut self.lock().legacy_merchants);
        if legacy.records.is_empty() {
            return Ok(());
        }
        tracing::info!(
            records = legacy.records.len(),
            "moving merchants and terminals into their tables"
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
