//! The older layout's partners (JSON records): each maps to its row (the partner with its
//! rates), moved into the tables at the first start of this version (see `crate::legacy`).
//! The row's serde form is the record's JSON, so a record decodes straight into it.

use store::records::Record;
use store::tables::RowRef;
use store::tables::partners::PartnerWrite;

use crate::domain::row;
use crate::domain::{DecodeError, decode};

pub const KIND_PARTNER: &str = "partner";

/// The row that replaces an older record of this context's kind.
pub(crate) fn legacy_row(record: &Record) -> Result<Option<Vec<RowRef>>, DecodeError> {
    if record.kind != KIND_PARTNER {
        return Ok(None);
    }
    Ok(row(PartnerWrite::Partner(decode(record)?)))
}
