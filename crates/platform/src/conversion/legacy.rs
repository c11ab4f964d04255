//! The older layout's wallet addresses, conversions and settings (JSON records): each maps
//! to its row, moved into the tables at the first start of this version (see
//! `crate::legacy`). The rows' serde form is the records' JSON, so a record decodes
//! straight into its row.

use store::records::Record;
use store::tables::RowRef;
use store::tables::conversions::ConversionWrite;

use crate::domain::row;
use crate::domain::{DecodeError, decode};

pub const KIND_WALLET_ADDRESS: &str = "wallet_address";
pub const KIND_CONVERSION: &str = "conversion";
pub const KIND_CONVERSION_SETTINGS: &str = "conversion_settings";

/// The row that replaces an older record of this context's kinds.
pub(crate) fn legacy_row(record: &Record) -> Result<Option<Vec<RowRef>>, DecodeError> {
    let write = match record.kind.as_str() {
        KIND_WALLET_ADDRESS => ConversionWrite::Address(decode(record)?),
        KIND_CONVERSION => ConversionWrite::Conversion(decode(record)?),
        KIND_CONVERSION_SETTINGS => ConversionWrite::Settings(decode(record)?),
        _ => return Ok(None),
    };
    Ok(row(write))
}
