//! The exchange context's records as their table rows (`store::tables::exchanges`), and
//! the move of the older layout's `link` and `exchange` JSON records into those tables at
//! the first start of this build.

use std::sync::Arc;

use store::records::Record;
use store::tables::RowRef;
use store::tables::exchanges::{ExchangeRow, ExchangeWrite, LinkRow};

use crate::domain::{DecodeError, ExchangeRecord, LinkRecord, Rate, decode};

pub(crate) const KIND_LINK: &str = "link";
pub(crate) const KIND_EXCHANGE: &str = "exchange";

pub(crate) fn exchange_row(record: &ExchangeRecord) -> ExchangeRow {
    ExchangeRow {
        id: record.id,
        member_id: record.member_id,
        partner_id: record.partner_id,
        link_id: record.link_id,
        member_ref: record.member_ref.clone(),
        mileage: record.mileage,
        mvp: record.mvp,
        rate_effective_from_s: record.rate.effective_from_s,
        rate_num: record.rate.num,
        rate_den: record.rate.den,
        status: record.status,
        failure: record.failure.clone(),
        idempotency_key: record.idempotency_key.clone(),
        created_at_s: record.created_at_s,
        finished_at_s: record.finished_at_s,
        cancel_pending: record.cancel_pending,
    }
}

/// An exchange's row as the platform's record (the rate as one value, the reference).
pub fn exchange_record(row: ExchangeRow) -> ExchangeRecord {
    ExchangeRecord {
        id: row.id,
        member_id: row.member_id,
        partner_id: row.partner_id,
        link_id: row.link_id,
        member_ref: row.member_ref,
        mileage: row.mileage,
        mvp: row.mvp,
        rate: Rate {
            effective_from_s: row.rate_effective_from_s,
            num: row.rate_num,
            den: row.rate_den,
        },
        status: row.status,
        failure: row.failure,
        idempotency_key: row.idempotency_key,
        created_at_s: row.created_at_s,
        finished_at_s: row.finished_at_s,
        cancel_pending: row.cancel_pending,
    }
}

pub(crate) fn link_row(link: &LinkRecord) -> LinkRow {
    LinkRow {
        id: link.id,
        member_id: link.member_id,
        partner_id: link.partner_id,
        member_ref: link.member_ref.clone(),
        created_at_s: link.created_at_s,
        removed: link.removed,
    }
}

pub(crate) fn link_record(row: LinkRow) -> LinkRecord {
    LinkRecord {
        id: row.id,
        member_id: row.member_id,
        partner_id: row.partner_id,
        member_ref: row.member_ref,
        created_at_s: row.created_at_s,
        removed: row.removed,
    }
}

/// An exchange's row write, as the pipeline carries it.
pub(crate) fn exchange_write(record: &ExchangeRecord) -> RowRef {
    Arc::new(ExchangeWrite::Exchange(exchange_row(record)))
}

/// The row that replaces an older record of this context's kinds (a link, an exchange).
pub(crate) fn legacy_rows(record: &Record) -> Result<Option<Vec<RowRef>>, DecodeError> {
    let write = match record.kind.as_str() {
        KIND_LINK => ExchangeWrite::Link(link_row(&decode(record)?)),
        KIND_EXCHANGE => ExchangeWrite::Exchange(exchange_row(&decode(record)?)),
        _ => return Ok(None),
    };
    Ok(Some(vec![Arc::new(write) as RowRef]))
}
