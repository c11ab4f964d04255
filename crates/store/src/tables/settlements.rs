//! The settlement runs with merchants and their lines: a run settles every captured payment
//! and every refund up to its cut-off (`until_s`), with one line per merchant it paid.
//!
//! ```sql
//! settlement_runs (id 16-byte id (time-ordered), until_s (the cut-off: every payment
//!   captured and refund made up to it), status 'pending' | 'settled' | 'paid',
//!   created_at_s, paid_at_s or NULL (when the operator confirmed the payout))
//! settlement_lines (settlement_id, merchant_id 16-byte ids, captured, refunded integers
//!   >= 0 (what the run took of the merchant), gross = captured - refunded >= 0,
//!   fee_bps 0 ..= 10000 (the merchant's fee rate, in basis points), fee >= 0 (the
//!   platform's), net >= 0 (what the merchant is paid))
//! ```
//!
//! A run is `pending` from the moment it is recorded (its items marked as taken, through
//! `settlement_id` of the payments tables) until the ledger moved every line (`settled`);
//! it is `paid` once the operator confirmed the KRW payout. A run's lines are written whole
//! with it ([`SettlementWrite::Run`]), one per merchant: a merchant twice in a run is
//! refused. A change of status writes the run's row alone ([`SettlementWrite::Status`]),
//! however many lines the run has.
//!
//! Indexes, each for the queries named:
//! - `settlement_runs_by_until` (`until_s`), unique: one run per cut-off, so a retried run
//!   finds the run already recorded instead of settling twice ([`run_by_until`]);
//! - `settlement_runs_pending` (`id` where pending): start finishes the runs left under way
//!   ([`pending_runs`]), in time that depends on open work, not on history;
//! - `settlement_runs_by_time` (`created_at_s, id`): the operators' list of runs, newest
//!   first ([`runs_page`]);
//! - `settlement_lines` is keyed by (`settlement_id, merchant_id`): a run's lines are one
//!   range of it, read in merchant order with one query per run ([`run`]);
//! - `settlement_lines_by_merchant` (`merchant_id, settlement_id`): a merchant's
//!   statements, newest run first ([`merchant_lines`]; run ids are time-ordered).
//!
//! Written once for both SQL backends through [`crate::tables::sql`]; the column types are
//! PostgreSQL's names (`bytea`, `bigint`, `text`), which SQLite reads as BLOB-like, INTEGER
//! and TEXT. Keyset cursors compare row values (`(created_at_s, id) < (?, ?)`), which both
//! backends read as the index's order.

use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::tables::sql::{self, Columns, Value};
use crate::tables::{Row, TableRead, TableTx};

/// Most rows one page answers.
pub const SETTLEMENTS_PAGE_MAX: usize = 1000;

macro_rules! tables {
    ($without_rowid:literal) => {
        concat!(
            "CREATE TABLE settlement_runs (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                until_s bigint NOT NULL,
                status text NOT NULL CHECK (status IN ('pending', 'settled', 'paid')),
                created_at_s bigint NOT NULL,
                paid_at_s bigint
            )",
            $without_rowid,
            ";
            CREATE UNIQUE INDEX settlement_runs_by_until ON settlement_runs (until_s);
            CREATE INDEX settlement_runs_pending ON settlement_runs (id)
                WHERE status = 'pending';
            CREATE INDEX settlement_runs_by_time ON settlement_runs (created_at_s, id);
            CREATE TABLE settlement_lines (
                settlement_id bytea NOT NULL CHECK (length(settlement_id) = 16),
                merchant_id bytea NOT NULL CHECK (length(merchant_id) = 16),
                captured bigint NOT NULL CHECK (captured >= 0),
                refunded bigint NOT NULL CHECK (refunded >= 0),
                gross bigint NOT NULL CHECK (gross >= 0),
                fee_bps bigint NOT NULL CHECK (fee_bps BETWEEN 0 AND 10000),
                fee bigint NOT NULL CHECK (fee >= 0),
                net bigint NOT NULL CHECK (net >= 0),
                PRIMARY KEY (settlement_id, merchant_id)
            )",
            $without_rowid,
            ";
            CREATE INDEX settlement_lines_by_merchant
                ON settlement_lines (merchant_id, settlement_id);"
        )
    };
}

/// The tables on SQLite (migration 15).
pub(crate) const SQLITE_TABLES: &str = tables!(" WITHOUT ROWID");
/// The tables on PostgreSQL (migration 15).
pub(crate) const POSTGRES_TABLES: &str = tables!("");

/// Where a run is (the names are the `status` column's values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettlementStatus {
    /// Recorded; its ledger transfers may not all be made yet.
    Pending,
    /// The ledger moved every line.
    Settled,
    /// The operator confirmed the KRW payout.
    Paid,
}

impl SettlementStatus {
    /// Every status.
    pub const ALL: [SettlementStatus; 3] = [
        SettlementStatus::Pending,
        SettlementStatus::Settled,
        SettlementStatus::Paid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SettlementStatus::Pending => "pending",
            SettlementStatus::Settled => "settled",
            SettlementStatus::Paid => "paid",
        }
    }

    /// The status with this name, if it is one.
    pub fn parse(text: &str) -> Option<SettlementStatus> {
        SettlementStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
    }

    fn read(text: &str) -> Result<SettlementStatus, StoreError> {
        SettlementStatus::parse(text).ok_or_else(|| sql::corrupt("a settlement status"))
    }
}

/// One merchant's line of a run, as `settlement_lines` holds it (and as the platform's
/// records held it: the serde form is theirs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementLine {
    pub merchant_id: u128,
    /// The merchant's payments captured in the run.
    pub captured: u64,
    /// The merchant's refunds in the run.
    pub refunded: u64,
    /// Captured − refunded.
    pub gross: u64,
    /// The merchant's fee rate, in basis points (at most 10,000).
    pub fee_bps: u32,
    /// The platform's fee: gross × fee_bps / 10,000, rounded down.
    pub fee: u64,
    /// What the merchant is paid: gross − fee.
    pub net: u64,
}

/// A run with its lines (a row of `settlement_runs` and its rows of `settlement_lines`). Its
/// serde form is the platform's records' (old records decode straight into it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementRun {
    /// Time-ordered.
    pub id: u128,
    /// The cut-off: the run took every payment captured and refund made up to it.
    pub until_s: u64,
    pub status: SettlementStatus,
    /// One per merchant (by merchant id, as read).
    pub lines: Vec<SettlementLine>,
    pub created_at_s: u64,
    /// When the operator confirmed the payout.
    pub paid_at_s: Option<u64>,
}

/// A change to the settlement tables, written in the ledger's transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettlementWrite {
    /// Inserts or replaces the run (by id) and its lines: lines of the run not in `lines` are
    /// deleted, the others inserted or replaced (a run's lines are written whole). A
    /// merchant twice in `lines` is refused.
    Run(SettlementRun),
    /// Sets the status (and `paid_at_s`) of a run without rewriting its lines; a run that is
    /// not there is left so (nothing is written).
    Status {
        id: u128,
        status: SettlementStatus,
        paid_at_s: Option<u64>,
    },
}

/// The columns of `settlement_runs` in the order [`run_of`] reads them.
const RUN_COLUMNS: &str = "id, until_s, status, created_at_s, paid_at_s";

/// The columns of `settlement_lines` in the order [`line_of`] reads them.
const LINE_COLUMNS: &str = "merchant_id, captured, refunded, gross, fee_bps, fee, net";

impl Row for SettlementWrite {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        match self {
            SettlementWrite::Run(run) => write_run(tx, run),
            SettlementWrite::Status {
                id,
                status,
                paid_at_s,
            } => {
                sql::execute(
                    tx,
                    "UPDATE settlement_runs SET status = ?2, paid_at_s = ?3 WHERE id = ?1",
                    &[
                        Value::id(*id),
                        Value::text(status.as_str()),
                        Value::opt_uint(*paid_at_s)?,
                    ],
                )?;
                Ok(())
            }
        }
    }
}

/// The run's row, then its lines: those it had are deleted and `lines` inserted, so the
/// rows are exactly the run's `lines` (in one transaction, never seen half written).
fn write_run(tx: &mut TableTx<'_, '_>, run: &SettlementRun) -> Result<(), StoreError> {
    sql::execute(
        tx,
        "INSERT INTO settlement_runs (id, until_s, status, created_at_s, paid_at_s)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (id) DO UPDATE SET until_s = excluded.until_s, status = excluded.status,
            created_at_s = excluded.created_at_s, paid_at_s = excluded.paid_at_s",
        &[
            Value::id(run.id),
            Value::uint(run.until_s)?,
            Value::text(run.status.as_str()),
            Value::uint(run.created_at_s)?,
            Value::opt_uint(run.paid_at_s)?,
        ],
    )?;
    sql::execute(
        tx,
        "DELETE FROM settlement_lines WHERE settlement_id = ?1",
        &[Value::id(run.id)],
    )?;
    for line in &run.lines {
        sql::execute(
            tx,
            "INSERT INTO settlement_lines (settlement_id, merchant_id, captured, refunded,
                gross, fee_bps, fee, net)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            &[
                Value::id(run.id),
                Value::id(line.merchant_id),
                Value::uint(line.captured)?,
                Value::uint(line.refunded)?,
                Value::uint(line.gross)?,
                Value::uint(u64::from(line.fee_bps))?,
                Value::uint(line.fee)?,
                Value::uint(line.net)?,
            ],
        )?;
    }
    Ok(())
}

/// A run's row, without its lines yet.
fn run_of(mut columns: Columns) -> Result<SettlementRun, StoreError> {
    Ok(SettlementRun {
        id: columns.id()?,
        until_s: columns.uint()?,
        status: SettlementStatus::read(&columns.text()?)?,
        lines: Vec::new(),
        created_at_s: columns.uint()?,
        paid_at_s: columns.opt_uint()?,
    })
}

fn line_of(columns: &mut Columns) -> Result<SettlementLine, StoreError> {
    Ok(SettlementLine {
        merchant_id: columns.id()?,
        captured: columns.uint()?,
        refunded: columns.uint()?,
        gross: columns.uint()?,
        fee_bps: columns.u32()?,
        fee: columns.uint()?,
        net: columns.uint()?,
    })
}

/// The run's lines, by merchant id (one query, however many).
fn lines_of(read: &mut TableRead<'_>, id: u128) -> Result<Vec<SettlementLine>, StoreError> {
    let sql = format!(
        "SELECT {LINE_COLUMNS} FROM settlement_lines WHERE settlement_id = ?1
         ORDER BY merchant_id"
    );
    sql::query(read, &sql, &[Value::id(id)])?
        .into_iter()
        .map(|mut columns| line_of(&mut columns))
        .collect()
}

/// The runs of these rows, each with its lines.
fn runs_with_lines(
    read: &mut TableRead<'_>,
    rows: Vec<Columns>,
) -> Result<Vec<SettlementRun>, StoreError> {
    let mut runs = Vec::with_capacity(rows.len());
    for columns in rows {
        let mut run = run_of(columns)?;
        run.lines = lines_of(read, run.id)?;
        runs.push(run);
    }
    Ok(runs)
}

/// The one run of a query for one row, with its lines.
fn one_run(
    read: &mut TableRead<'_>,
    sql: &str,
    params: &[Value],
) -> Result<Option<SettlementRun>, StoreError> {
    let rows = sql::query(read, sql, params)?;
    Ok(runs_with_lines(read, rows)?.into_iter().next())
}

/// The run with its lines (lines by merchant id).
pub fn run(read: &mut TableRead<'_>, id: u128) -> Result<Option<SettlementRun>, StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM settlement_runs WHERE id = ?1");
    one_run(read, &sql, &[Value::id(id)])
}

/// The run of this cut-off (there is at most one), with its lines.
pub fn run_by_until(
    read: &mut TableRead<'_>,
    until_s: u64,
) -> Result<Option<SettlementRun>, StoreError> {
    // No run has a cut-off of 2^63 or more (it could not be written).
    let Ok(until_s) = i64::try_from(until_s) else {
        return Ok(None);
    };
    let sql = format!("SELECT {RUN_COLUMNS} FROM settlement_runs WHERE until_s = ?1");
    one_run(read, &sql, &[Value::Int(until_s)])
}

/// Runs still pending, with their lines, by id, ids after `after` (`None`: from the start),
/// at most `limit` (capped at [`SETTLEMENTS_PAGE_MAX`]): what start finishes.
pub fn pending_runs(
    read: &mut TableRead<'_>,
    after: Option<u128>,
    limit: usize,
) -> Result<Vec<SettlementRun>, StoreError> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM settlement_runs WHERE status = 'pending' AND id > ?1
         ORDER BY id LIMIT ?2"
    );
    // No cursor: an empty blob sorts before every id.
    let after = sql::after_id(after);
    let rows = sql::query(
        read,
        &sql,
        &[after, sql::limit(limit, SETTLEMENTS_PAGE_MAX)],
    )?;
    runs_with_lines(read, rows)
}

/// Runs newest first ((`created_at_s`, id) descending), strictly before the cursor `before`
/// (`None`: from the newest), at most `limit` (capped at [`SETTLEMENTS_PAGE_MAX`]), each
/// with its lines.
pub fn runs_page(
    read: &mut TableRead<'_>,
    before: Option<(u64, u128)>,
    limit: usize,
) -> Result<Vec<SettlementRun>, StoreError> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM settlement_runs WHERE (created_at_s, id) < (?1, ?2)
         ORDER BY created_at_s DESC, id DESC LIMIT ?3"
    );
    // No cursor: above every row (times are at most 2^63 - 1, and 17 bytes of 0xFF sort
    // after every 16-byte id).
    let [time_s, id] = match before {
        Some((time_s, id)) => [Value::uint(time_s)?, Value::id(id)],
        None => [Value::Int(i64::MAX), Value::Blob(vec![0xFF; 17])],
    };
    let rows = sql::query(
        read,
        &sql,
        &[time_s, id, sql::limit(limit, SETTLEMENTS_PAGE_MAX)],
    )?;
    runs_with_lines(read, rows)
}

/// A merchant's lines, newest run first (settlement id descending; run ids grow with time),
/// each with its run's id, `until_s` and status: (run id, until_s, status, line). Run ids
/// below `before` (`None`: from the newest), at most `limit` (capped at
/// [`SETTLEMENTS_PAGE_MAX`]).
pub fn merchant_lines(
    read: &mut TableRead<'_>,
    merchant_id: u128,
    before: Option<u128>,
    limit: usize,
) -> Result<Vec<(u128, u64, SettlementStatus, SettlementLine)>, StoreError> {
    let sql = "SELECT r.id, r.until_s, r.status, l.merchant_id, l.captured, l.refunded,
            l.gross, l.fee_bps, l.fee, l.net
         FROM settlement_lines l JOIN settlement_runs r ON r.id = l.settlement_id
         WHERE l.merchant_id = ?1 AND l.settlement_id < ?2
         ORDER BY l.settlement_id DESC LIMIT ?3";
    // No cursor: 17 bytes of 0xFF sort after every 16-byte id.
    let before = sql::before_id(before);
    let params = [
        Value::id(merchant_id),
        before,
        sql::limit(limit, SETTLEMENTS_PAGE_MAX),
    ];
    sql::query(read, sql, &params)?
        .into_iter()
        .map(|mut columns| {
            let id = columns.id()?;
            let until_s = columns.uint()?;
            let status = SettlementStatus::read(&columns.text()?)?;
            Ok((id, until_s, status, line_of(&mut columns)?))
        })
        .collect()
}
