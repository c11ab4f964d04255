//! The older layout's wallet addresses, conversions and settings (JSON records), moved into
//! their tables at the first start of this version. The rows' serde form is the records'
//! JSON, so a record decodes straight into its row.

use std::sync::Arc;

use store::records::Record;
use store::tables::RowRef;
use store::tables::conversions::ConversionWrite;

use crate::domain::{DecodeError, decode};
use crate::error::PlatformError;
use crate::service::Platform;

pub const KIND_WALLET_ADDRESS: &str = "wallet_address";
pub const KIND_CONVERSION: &str = "conversion";
pub const KIND_CONVERSION_SETTINGS: &str = "conversion_settings";

/// The older layout's records of this context found at load, each with its table write.
#[derive(Default)]
pub(crate) struct LegacyConversions {
    records: Vec<(Record, ConversionWrite)>,
}

impl LegacyConversions {
    /// Keeps a record of this context's kinds; answers false for other kinds.
    pub(crate) fn load(&mut self, record: &Record) -> Result<bool, DecodeError> {
        let write = match record.kind.as_str() {
            KIND_WALLET_ADDRESS => ConversionWrite::Address(decode(record)?),
            KIND_CONVERSION => ConversionWrite::Conversion(decode(record)?),
            KIND_CONVERSION_SETTINGS => ConversionWrite::Settings(decode(record)?),
            _ => return Ok(false),
        };
        self.records.push((record.clone(), write));
        Ok(true)
    }
}

impl Platform {
    /// Moves the older layout's addresses, conversions and settings into their tables,
    /// each record's row and its deletion in one commit with others (at start, before any
    /// request).
    pub(crate) async fn import_conversion_records(&self) -> Result<(), PlatformError> {
        let legacy = std::mem::take(&mut self.lock().legacy_conversions);
        if legacy.records.is_empty() {
            return Ok(());
        }
        tracing::info!(
            records = legacy.records.len(),
            "moving wallet addresses and conversions into their tables"
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
