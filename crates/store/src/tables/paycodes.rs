//! The pay codes' tables: the devices enrolled for pay codes, and the codes already used.
//!
//! A member's phone shows a 20-digit code: the routing prefix, the device's 10-digit
//! handle and the 8-digit TOTP (30-second steps) of the secret enrolled for that device.
//!
//! ```sql
//! paycode_devices (handle 0 to 9,999,999,999 (the code's 10 digits), member_id, device_id
//!   16-byte ids (the member's device the secret was given to), secret_sealed (the TOTP
//!   secret, sealed by the platform with the data key), enrolled_at_s)
//! used_paycodes (handle, step (the TOTP's 30-second step) integers >= 0, member_id 16-byte
//!   id, used_at_s)
//! ```
//!
//! A device is found by its handle ([`device`]: every code at the till names one). A
//! member's device has at most one handle: `paycode_devices_by_device` (`member_id,
//! device_id`), unique, finds a device's enrollment ([`device_of`]) and a member's devices
//! ([`devices_of`]), and removes them all on withdrawal ([`PaycodeWrite::RemoveDevicesOf`]).
//! Enrolling a device again under a new handle removes its old handle first, in the same
//! append ([`PaycodeWrite::RemoveDevice`], then [`PaycodeWrite::Device`]).
//!
//! A used code is kept as its (handle, step), the primary key: a code is good once, and a
//! restart must not make a used code good again, so the check ([`is_used`]) reads what was
//! written in the ledger's transaction, not only what the platform holds in memory. Only the
//! codes of the last few steps can be accepted at all (an older code is refused as expired,
//! whether it was used or not), so rows older than that are purged
//! ([`PaycodeWrite::PurgeUsed`]): the table stays as small as the traffic of a few minutes.
//! `used_paycodes_by_time` (`used_at_s, handle, step`) serves both the purge and the start,
//! which reloads the codes used in the live window ([`used_since`], by keyset pages).
//!
//! Written once for both SQL backends through [`crate::tables::sql`]; the column types are
//! PostgreSQL's names (`bytea`, `bigint`, `text`), which SQLite reads as BLOB-like, INTEGER
//! and TEXT. Handles and steps are u64s in signed 64-bit columns: a value above 2^63 - 1 is
//! refused when written, and looked up it is found nowhere.

use crate::StoreError;
use crate::tables::sql::{self, Columns, Value};
use crate::tables::{Row, TableRead, TableTx};

/// Most rows one page of a used-codes query answers.
pub const USED_PAGE_MAX: usize = 10_000;

macro_rules! tables {
    ($without_rowid:literal) => {
        concat!(
            "CREATE TABLE paycode_devices (
                handle bigint PRIMARY KEY CHECK (handle >= 0 AND handle < 10000000000),
                member_id bytea NOT NULL CHECK (length(member_id) = 16),
                device_id bytea NOT NULL CHECK (length(device_id) = 16),
                secret_sealed bytea NOT NULL,
                enrolled_at_s bigint NOT NULL
            )",
            $without_rowid,
            ";
            CREATE UNIQUE INDEX paycode_devices_by_device
                ON paycode_devices (member_id, device_id);
            CREATE TABLE used_paycodes (
                handle bigint NOT NULL,
                step bigint NOT NULL CHECK (step >= 0),
                member_id bytea NOT NULL CHECK (length(member_id) = 16),
                used_at_s bigint NOT NULL,
                PRIMARY KEY (handle, step)
            )",
            $without_rowid,
            ";
            CREATE INDEX used_paycodes_by_time ON used_paycodes (used_at_s, handle, step);"
        )
    };
}

/// The tables on SQLite (migration 11).
pub(crate) const SQLITE_TABLES: &str = tables!(" WITHOUT ROWID");
/// The tables on PostgreSQL (migration 11).
pub(crate) const POSTGRES_TABLES: &str = tables!("");

/// A device enrolled for pay codes, as `paycode_devices` holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRow {
    /// The code's 10 digits that name the device (below 10^10).
    pub handle: u64,
    pub member_id: u128,
    /// The member's device the secret was given to.
    pub device_id: u128,
    /// The TOTP secret, sealed with the data key.
    pub secret_sealed: Vec<u8>,
    pub enrolled_at_s: u64,
}

/// A used code, as `used_paycodes` holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsedRow {
    pub handle: u64,
    /// The TOTP's 30-second step the code was of.
    pub step: u64,
    pub member_id: u128,
    pub used_at_s: u64,
}

/// A change to the pay codes' tables, written in the ledger's transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaycodeWrite {
    /// Inserts or replaces the device (by handle).
    Device(DeviceRow),
    /// Removes the device with this handle, if there is one.
    RemoveDevice(u64),
    /// Removes every device of the member (withdrawal).
    RemoveDevicesOf(u128),
    /// Records a used code (insert; an existing (handle, step) is left as it is: ON CONFLICT
    /// DO NOTHING).
    Used(UsedRow),
    /// Deletes used codes with used_at_s < before_s (no code that old can be accepted again).
    PurgeUsed { before_s: u64 },
}

const DEVICE_COLUMNS: &str = "handle, member_id, device_id, secret_sealed, enrolled_at_s";

const USED_COLUMNS: &str = "handle, step, member_id, used_at_s";

impl Row for PaycodeWrite {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        let (statement, params) = self.statement()?;
        sql::execute(tx, statement, &params)?;
        Ok(())
    }
}

impl PaycodeWrite {
    fn statement(&self) -> Result<(&'static str, Vec<Value>), StoreError> {
        Ok(match self {
            PaycodeWrite::Device(row) => (
                "INSERT INTO paycode_devices (handle, member_id, device_id, secret_sealed,
                    enrolled_at_s) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (handle) DO UPDATE SET member_id = excluded.member_id,
                    device_id = excluded.device_id, secret_sealed = excluded.secret_sealed,
                    enrolled_at_s = excluded.enrolled_at_s",
                vec![
                    Value::uint(row.handle)?,
                    Value::id(row.member_id),
                    Value::id(row.device_id),
                    Value::bytes(&row.secret_sealed),
                    Value::uint(row.enrolled_at_s)?,
                ],
            ),
            PaycodeWrite::RemoveDevice(handle) => (
                "DELETE FROM paycode_devices WHERE handle = ?1",
                vec![Value::uint(*handle)?],
            ),
            PaycodeWrite::RemoveDevicesOf(member_id) => (
                "DELETE FROM paycode_devices WHERE member_id = ?1",
                vec![Value::id(*member_id)],
            ),
            PaycodeWrite::Used(row) => (
                "INSERT INTO used_paycodes (handle, step, member_id, used_at_s)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (handle, step) DO NOTHING",
                vec![
                    Value::uint(row.handle)?,
                    Value::uint(row.step)?,
                    Value::id(row.member_id),
                    Value::uint(row.used_at_s)?,
                ],
            ),
            // Beyond 2^63 - 1 every row is older: the bound saturates.
            PaycodeWrite::PurgeUsed { before_s } => (
                "DELETE FROM used_paycodes WHERE used_at_s < ?1",
                vec![Value::bound(*before_s)],
            ),
        })
    }
}

fn device_row(mut columns: Columns) -> Result<DeviceRow, StoreError> {
    Ok(DeviceRow {
        handle: columns.uint()?,
        member_id: columns.id()?,
        device_id: columns.id()?,
        secret_sealed: columns.bytes()?,
        enrolled_at_s: columns.uint()?,
    })
}

fn used_row(mut columns: Columns) -> Result<UsedRow, StoreError> {
    Ok(UsedRow {
        handle: columns.uint()?,
        step: columns.uint()?,
        member_id: columns.id()?,
        used_at_s: columns.uint()?,
    })
}

/// A handle or step looked up: `None` above 2^63 - 1, where no row can be.
fn key(value: u64) -> Option<Value> {
    Value::uint(value).ok()
}

/// The device with this handle.
pub fn device(read: &mut TableRead<'_>, handle: u64) -> Result<Option<DeviceRow>, StoreError> {
    let Some(handle) = key(handle) else {
        return Ok(None);
    };
    let sql = format!("SELECT {DEVICE_COLUMNS} FROM paycode_devices WHERE handle = ?1");
    sql::query_one(read, &sql, &[handle])?
        .map(device_row)
        .transpose()
}

/// The enrollment of the member's device.
pub fn device_of(
    read: &mut TableRead<'_>,
    member_id: u128,
    device_id: u128,
) -> Result<Option<DeviceRow>, StoreError> {
    let sql = format!(
        "SELECT {DEVICE_COLUMNS} FROM paycode_devices WHERE member_id = ?1 AND device_id = ?2"
    );
    let params = [Value::id(member_id), Value::id(device_id)];
    sql::query_one(read, &sql, &params)?
        .map(device_row)
        .transpose()
}

/// The member's devices, by enrolled_at_s then handle (a member has a handful).
pub fn devices_of(read: &mut TableRead<'_>, member_id: u128) -> Result<Vec<DeviceRow>, StoreError> {
    let sql = format!(
        "SELECT {DEVICE_COLUMNS} FROM paycode_devices WHERE member_id = ?1
         ORDER BY enrolled_at_s, handle"
    );
    sql::query(read, &sql, &[Value::id(member_id)])?
        .into_iter()
        .map(device_row)
        .collect()
}

/// Whether the code of this handle and step was used (and not purged since).
pub fn is_used(read: &mut TableRead<'_>, handle: u64, step: u64) -> Result<bool, StoreError> {
    let (Some(handle), Some(step)) = (key(handle), key(step)) else {
        return Ok(false);
    };
    let sql = "SELECT handle FROM used_paycodes WHERE handle = ?1 AND step = ?2";
    Ok(sql::query_one(read, sql, &[handle, step])?.is_some())
}

/// Used codes with used_at_s >= since_s, in (used_at_s, handle, step) order strictly after
/// `after` (None: from the first), at most `limit` (capped at USED_PAGE_MAX).
///
/// The cursor is the last row of the page before; one above 2^63 - 1 in any part (which no
/// row answers) is refused.
pub fn used_since(
    read: &mut TableRead<'_>,
    since_s: u64,
    after: Option<(u64, u64, u64)>,
    limit: usize,
) -> Result<Vec<UsedRow>, StoreError> {
    let sql = format!(
        "SELECT {USED_COLUMNS} FROM used_paycodes
         WHERE used_at_s >= ?1 AND (used_at_s, handle, step) > (?2, ?3, ?4)
         ORDER BY used_at_s, handle, step LIMIT ?5"
    );
    // None: below every row (times, handles and steps are >= 0).
    let [time_s, handle, step] = match after {
        Some((time_s, handle, step)) => [
            Value::uint(time_s)?,
            Value::uint(handle)?,
            Value::uint(step)?,
        ],
        None => [Value::Int(-1), Value::Int(-1), Value::Int(-1)],
    };
    let params = [
        Value::bound(since_s),
        time_s,
        handle,
        step,
        sql::limit(limit, USED_PAGE_MAX),
    ];
    sql::query(read, &sql, &params)?
        .into_iter()
        .map(used_row)
        .collect()
}

/// How many devices are enrolled (for metrics).
pub fn device_count(read: &mut TableRead<'_>) -> Result<u64, StoreError> {
    let sql = "SELECT CAST(count(*) AS BIGINT) FROM paycode_devices";
    match sql::query_one(read, sql, &[])? {
        Some(mut columns) => columns.uint(),
        None => Ok(0),
    }
}
