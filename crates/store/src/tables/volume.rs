//! Totals across the exchanges and payments tables for the operators' dashboard: volume
//! per calendar day and the largest partners and merchants of a period. Reads only; this
//! module owns no table.
//!
//! Each total is one `GROUP BY` over an index on time (`exchanges_completed` on
//! `finished_at_s`, `authorizations_by_time` on `created_at_s`), so it reads the rows of the
//! period, never the whole history, and answers at most one row per day or [`TOP_MAX`]
//! rows. Sums are `CAST(sum(...) AS BIGINT)` (PostgreSQL's `sum(bigint)` is `numeric`); a
//! day's sum stays below 2^63 because every amount is (exchanges and payments have limits
//! far below 2^63 / a day's row count).
//!
//! Days are counted from 1970-01-01 in the caller's time zone: the caller passes its
//! offset from UTC (the platform's business day is KST, UTC+9).

use crate::StoreError;
use crate::tables::TableRead;
use crate::tables::payments::{AuthorizationRow, AuthorizationStatus, memory_rows};
use crate::tables::sql::{self, Value};

/// Most rows a "top" list answers.
pub const TOP_MAX: usize = 20;
/// Most days one period may span (a quarter and a day).
pub const DAYS_MAX: u64 = 93;
const DAY_S: u64 = 86_400;

/// A period `[from_s, to_s)` and the time zone its days are counted in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub from_s: u64,
    pub to_s: u64,
    /// Seconds east of UTC (KST: 32,400).
    pub offset_s: u64,
}

/// The total of one day: `day` is days since 1970-01-01 in the period's zone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DayTotal {
    pub day: u64,
    pub count: u64,
    pub amount: u64,
    /// Payments only: what was refunded of that day's payments (so far).
    pub refunded: u64,
}

/// The total of one partner or merchant in a period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartyTotal {
    pub id: u128,
    pub count: u64,
    pub amount: u64,
}

/// What a payment adds to the volume: the approved amount of a hold, the captured amount
/// of a sale (a voucher's sale counts: the merchant sold that much).
const PAID: &str = "CASE status WHEN 'authorized' THEN approved_amount ELSE captured_amount END";

/// MVP issued by completed exchanges, per day they completed.
pub fn exchanges_by_day(
    read: &mut TableRead<'_>,
    period: Period,
) -> Result<Vec<DayTotal>, StoreError> {
    let sql = "SELECT (finished_at_s + ?3) / 86400, count(*), CAST(sum(mvp) AS BIGINT)
        FROM exchanges
        WHERE status = 'completed' AND finished_at_s >= ?1 AND finished_at_s < ?2
        GROUP BY 1 ORDER BY 1";
    let rows = sql::query(read, sql, &period_params(period))?;
    rows.into_iter()
        .map(|mut columns| {
            Ok(DayTotal {
                day: columns.uint()?,
                count: columns.uint()?,
                amount: columns.uint()?,
                refunded: 0,
            })
        })
        .collect()
}

/// The partners that issued the most MVP in the period, most first (ties by id).
pub fn top_partners(
    read: &mut TableRead<'_>,
    period: Period,
    limit: usize,
) -> Result<Vec<PartyTotal>, StoreError> {
    let sql = "SELECT partner_id, count(*), CAST(sum(mvp) AS BIGINT) AS issued
        FROM exchanges
        WHERE status = 'completed' AND finished_at_s >= ?1 AND finished_at_s < ?2
        GROUP BY partner_id ORDER BY issued DESC, partner_id LIMIT ?3";
    party_totals(sql::query(read, sql, &top_params(period, limit))?)
}

/// Approved payments (held or captured), per day they were made.
pub fn payments_by_day(
    read: &mut TableRead<'_>,
    period: Period,
) -> Result<Vec<DayTotal>, StoreError> {
    if let TableRead::Memory(tables) = read {
        return Ok(memory_days(paid_rows(memory_rows(tables), period), period));
    }
    let sql = format!(
        "SELECT (created_at_s + ?3) / 86400, count(*), CAST(sum({PAID}) AS BIGINT),
            CAST(sum(refunded_amount) AS BIGINT)
        FROM authorizations
        WHERE created_at_s >= ?1 AND created_at_s < ?2 AND status IN ('authorized', 'captured')
        GROUP BY 1 ORDER BY 1"
    );
    let rows = sql::query(read, &sql, &period_params(period))?;
    rows.into_iter()
        .map(|mut columns| {
            Ok(DayTotal {
                day: columns.uint()?,
                count: columns.uint()?,
                amount: columns.uint()?,
                refunded: columns.uint()?,
            })
        })
        .collect()
}

/// The merchants (stores) paid the most in the period, most first (ties by id).
pub fn top_merchants(
    read: &mut TableRead<'_>,
    period: Period,
    limit: usize,
) -> Result<Vec<PartyTotal>, StoreError> {
    let limit = limit.min(TOP_MAX);
    if let TableRead::Memory(tables) = read {
        return Ok(memory_top(paid_rows(memory_rows(tables), period), limit));
    }
    let sql = format!(
        "SELECT merchant_id, count(*), CAST(sum({PAID}) AS BIGINT) AS paid
        FROM authorizations
        WHERE created_at_s >= ?1 AND created_at_s < ?2 AND status IN ('authorized', 'captured')
        GROUP BY merchant_id ORDER BY paid DESC, merchant_id LIMIT ?3"
    );
    party_totals(sql::query(read, &sql, &top_params(period, limit))?)
}

/// `?1` from, `?2` to, `?3` the zone's offset.
fn period_params(period: Period) -> [Value; 3] {
    [
        Value::bound(period.from_s),
        Value::bound(period.to_s),
        Value::bound(period.offset_s),
    ]
}

/// `?1` from, `?2` to, `?3` the limit.
fn top_params(period: Period, limit: usize) -> [Value; 3] {
    [
        Value::bound(period.from_s),
        Value::bound(period.to_s),
        sql::limit(limit, TOP_MAX),
    ]
}

fn party_totals(rows: Vec<sql::Columns>) -> Result<Vec<PartyTotal>, StoreError> {
    rows.into_iter()
        .map(|mut columns| {
            Ok(PartyTotal {
                id: columns.id()?,
                count: columns.uint()?,
                amount: columns.uint()?,
            })
        })
        .collect()
}

/// The memory backend's payments (tests and benchmarks): the same totals by scanning.
fn paid_rows<'r>(
    rows: impl Iterator<Item = &'r AuthorizationRow>,
    period: Period,
) -> impl Iterator<Item = &'r AuthorizationRow> {
    rows.filter(move |row| {
        row.created_at_s >= period.from_s
            && row.created_at_s < period.to_s
            && matches!(
                row.status,
                AuthorizationStatus::Authorized | AuthorizationStatus::Captured
            )
    })
}

fn paid(row: &AuthorizationRow) -> u64 {
    match row.status {
        AuthorizationStatus::Authorized => row.approved_amount,
        _ => row.captured_amount,
    }
}

fn memory_days<'r>(
    rows: impl Iterator<Item = &'r AuthorizationRow>,
    period: Period,
) -> Vec<DayTotal> {
    let mut days = std::collections::BTreeMap::<u64, DayTotal>::new();
    for row in rows {
        let day = (row.created_at_s + period.offset_s) / DAY_S;
        let total = days.entry(day).or_insert(DayTotal {
            day,
            ..DayTotal::default()
        });
        total.count += 1;
        total.amount += paid(row);
        total.refunded += row.refunded_amount;
    }
    days.into_values().collect()
}

fn memory_top<'r>(
    rows: impl Iterator<Item = &'r AuthorizationRow>,
    limit: usize,
) -> Vec<PartyTotal> {
    let mut parties = std::collections::BTreeMap::<u128, PartyTotal>::new();
    for row in rows {
        let id = row.merchant_id;
        let total = parties.entry(id).or_insert(PartyTotal {
            id,
            count: 0,
            amount: 0,
        });
        total.count += 1;
        total.amount += paid(row);
    }
    let mut top: Vec<PartyTotal> = parties.into_values().collect();
    top.sort_by(|a, b| b.amount.cmp(&a.amount).then(a.id.cmp(&b.id)));
    top.truncate(limit);
    top
}
