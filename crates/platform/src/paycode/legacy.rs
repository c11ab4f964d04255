//! The older layout's pay code devices and used codes (JSON records): each maps to its
//! row, moved into the tables at the first start of this version (see `crate::legacy`).

use store::records::Record;
use store::tables::RowRef;
use store::tables::paycodes::{DeviceRow, PaycodeWrite, UsedRow};

use super::{PaycodeDeviceRecord, UsedPaycodeRecord, parse_handle};
use crate::domain::row;
use crate::domain::{DecodeError, decode};

pub const KIND_PAYCODE_DEVICE: &str = "paycode_device";
pub const KIND_USED_PAYCODE: &str = "used_paycode";

fn handle_of(record: &Record, text: &str) -> Result<u64, DecodeError> {
    parse_handle(text).ok_or_else(|| DecodeError {
        kind: record.kind.clone(),
        key: hex::encode(&record.key),
        reason: "the handle is not 10 digits".into(),
    })
}

/// The row that replaces an older record of this context's kinds (the handle's 10 digits
/// as a number).
pub(crate) fn legacy_row(record: &Record) -> Result<Option<Vec<RowRef>>, DecodeError> {
    let write = match record.kind.as_str() {
        KIND_PAYCODE_DEVICE => {
            let device: PaycodeDeviceRecord = decode(record)?;
            PaycodeWrite::Device(DeviceRow {
                handle: handle_of(record, &device.handle)?,
                member_id: device.member_id,
                device_id: device.device_id,
                secret_sealed: device.secret_sealed,
                enrolled_at_s: device.enrolled_at_s,
            })
        }
        KIND_USED_PAYCODE => {
            let used: UsedPaycodeRecord = decode(record)?;
            PaycodeWrite::Used(UsedRow {
                handle: handle_of(record, &used.handle)?,
                step: used.step,
                member_id: used.member_id,
                used_at_s: used.used_at_s,
            })
        }
        _ => return Ok(None),
    };
    Ok(row(write))
}
