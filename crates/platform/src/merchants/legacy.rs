//! The older layout's merchants and terminals (JSON records): each maps to its row, moved
//! into the tables at the first start of this version (see `crate::legacy`). The rows'
//! serde form is the records' JSON, so a record decodes straight into its row.

use store::records::Record;
use store::tables::RowRef;
use store::tables::merchants::MerchantWrite;

use crate::domain::row;
use crate::domain::{DecodeError, decode};

pub const KIND_MERCHANT: &str = "merchant";
pub const KIND_TERMINAL: &str = "terminal";

/// The row that replaces an older record of this context's kinds.
pub(crate) fn legacy_row(record: &Record) -> Result<Option<Vec<RowRef>>, DecodeError> {
    let write = match record.kind.as_str() {
        KIND_MERCHANT => MerchantWrite::Merchant(decode(record)?),
        KIND_TERMINAL => MerchantWrite::Terminal(decode(record)?),
        _ => return Ok(None),
    };
    Ok(row(write))
}
