//! The older layout's pay code devices and used codes (JSON records), moved into their
//! tables at the first start of this version.

use std::sync::Arc;

use store::records::Record;
use store::tables::RowRef;
use store::tables::paycodes::{DeviceRow, PaycodeWrite, UsedRow};

use super::{PaycodeDeviceRecord, UsedPaycodeRecord, parse_handle};
use crate::domain::{DecodeError, decode};
use crate::error::PlatformError;
use crate::service::Platform;

pub const KIND_PAYCODE_DEVICE: &str = "paycode_device";
pub const KIND_USED_PAYCODE: &str = "used_paycode";

/// The older layout's devices and used codes found at load, each with its table write.
#[derive(Default)]
pub(crate) struct LegacyPaycodes {
    records: Vec<(Record, PaycodeWrite)>,
}

fn handle_of(record: &Record, text: &str) -> Result<u64, DecodeError> {
    parse_handle(text).ok_or_else(|| DecodeError {
        kind: record.kind.clone(),
        key: hex::encode(&record.key),
        reason: "the handle is not 10 digits".into(),
    })
}

impl LegacyPaycodes {
    /// Keeps a record of this context's kinds; answers false for other kinds.
    pub(crate) fn load(&mut self, record: &Record) -> Result<bool, DecodeError> {
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
            _ => return Ok(false),
        };
        self.records.push((record.clone(), write));
        Ok(true)
    }
}

impl Platform {
    /// Moves the older layout's devices and used codes into their tables, each record's
    /// row and its deletion in one commit with others (at start, before any request).
    pub(crate) async fn import_paycode_records(&self) -> Result<(), PlatformError> {
        let legacy = std::mem::take(&mut self.lock().legacy_paycodes);
        if legacy.records.is_empty() {
            return Ok(());
        }
        tracing::info!(
            records = legacy.records.len(),
            "moving pay code devices and used codes into their tables"
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
