//! The exchange context's row writes (`store::tables::exchanges`), and the move of the older layout's `link` and `exchange` JSON records into those tables at
//! the first start of this build.

use std::sync::Arc;

use store::records::Record;
use store::tables::RowRef;
use store::tables::exchanges::{ExchangeRow, ExchangeWrite, LinkRow, LinkStatus};

use crate::domain::{DecodeError, decode};

pub(crate) const KIND_LINK: &str = "link";
pub(crate) const KIND_EXCHANGE: &str = "exchange";

/// An exchange's row write, as the pipeline carries it.
pub(crate) fn exchange_write(record: &ExchangeRow) -> RowRef {
    Arc::new(ExchangeWrite::Exchange(record.clone()))
}

/// The row that replaces an older record of this context's kinds (a link, an exchange).
pub(crate) fn legacy_rows(record: &Record) -> Result<Option<Vec<RowRef>>, DecodeError> {
    let write = match record.kind.as_str() {
        KIND_LINK => ExchangeWrite::Link(unproven(decode(record)?)),
        KIND_EXCHANGE => ExchangeWrite::Exchange(decode(record)?),
        _ => return Ok(None),
    };
    Ok(Some(vec![Arc::new(write) as RowRef]))
}

/// A link of the older layout was made without the partner's proof: it comes in unproven,
/// whatever its record says.
fn unproven(link: LinkRow) -> LinkRow {
    LinkRow {
        status: LinkStatus::Unproven,
        state_hash: None,
        verifier_sealed: None,
        expires_at_s: None,
        proven_at_s: None,
        ..link
    }
}
