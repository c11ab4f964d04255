//! The older layout's products and vouchers (JSON records): each maps to its row, moved
//! into the tables at the first start of this version (see `crate::legacy`). The rows'
//! serde form is the records' JSON, so a record decodes straight into its row.

use store::records::Record;
use store::tables::RowRef;
use store::tables::vouchers::VoucherWrite;

use crate::domain::row;
use crate::domain::{DecodeError, decode};

/// The row that replaces an older record of this context's kinds.
pub(crate) fn legacy_row(record: &Record) -> Result<Option<Vec<RowRef>>, DecodeError> {
    let write = match record.kind.as_str() {
        super::KIND_VOUCHER_PRODUCT => VoucherWrite::Product(decode(record)?),
        super::KIND_VOUCHER => VoucherWrite::Voucher(decode(record)?),
        _ => return Ok(None),
    };
    Ok(row(write))
}
