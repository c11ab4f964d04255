//! The operators' health records: each verification of the ledger the server ran, and each
//! reconciliation with a partner's own record.
//!
//! ```sql
//! ledger_verifications (id 16-byte id, at_s, ok 0 | 1, block_count, tree_size,
//!   root 32 bytes or NULL (an empty ledger), duration_ms, message (empty when ok))
//! partner_reconciliations (id 16-byte id, partner_id, from_s, to_s, at_s, checked,
//!   matched, unreachable, mismatch_count, mismatches (JSON: at most
//!   MISMATCHES_KEPT_MAX of them, each [exchange id, ours, theirs]))
//! ```
//!
//! Both are kept bounded: a verification or reconciliation deletes, in its own commit, the
//! rows beyond the newest [`VERIFICATIONS_KEPT_MAX`] (per ledger) or
//! [`RECONCILIATIONS_KEPT_MAX`] (per partner).
//!
//! Ids are `platform::chart::new_id`s, which grow with time, so a partner's reconciliations
//! are paged by id. Indexes: `ledger_verifications_by_time` (`at_s, id`) for the latest;
//! `partner_reconciliations_by_partner` (`partner_id, id`) for a partner's newest.

use crate::StoreError;
use crate::tables::sql::{self, Columns, Value};
use crate::tables::{Row, TableRead, TableTx};

macro_rules! tables {
    ($without_rowid:literal) => {
        concat!(
            "CREATE TABLE ledger_verifications (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                at_s bigint NOT NULL,
                ok bigint NOT NULL CHECK (ok IN (0, 1)),
                block_count bigint NOT NULL,
                tree_size bigint NOT NULL,
                root bytea CHECK (root IS NULL OR length(root) = 32),
                duration_ms bigint NOT NULL,
                message text NOT NULL
            )",
            $without_rowid,
            ";
            CREATE INDEX ledger_verifications_by_time ON ledger_verifications (at_s, id);
            CREATE TABLE partner_reconciliations (
                id bytea PRIMARY KEY CHECK (length(id) = 16),
                partner_id bytea NOT NULL CHECK (length(partner_id) = 16),
                from_s bigint NOT NULL,
                to_s bigint NOT NULL,
                at_s bigint NOT NULL,
                checked bigint NOT NULL,
                matched bigint NOT NULL,
                unreachable bigint NOT NULL,
                mismatch_count bigint NOT NULL,
                mismatches text NOT NULL
            )",
            $without_rowid,
            ";
            CREATE INDEX partner_reconciliations_by_partner
                ON partner_reconciliations (partner_id, id);"
        )
    };
}

/// The tables on SQLite (migration 25).
pub(crate) const SQLITE_TABLES: &str = tables!(" WITHOUT ROWID");
/// The tables on PostgreSQL (migration 25).
pub(crate) const POSTGRES_TABLES: &str = tables!("");

/// Verifications kept (the newest).
pub const VERIFICATIONS_KEPT_MAX: u64 = 1_000;
/// Reconciliations kept per partner (the newest).
pub const RECONCILIATIONS_KEPT_MAX: u64 = 1_000;
/// Mismatches one reconciliation keeps (the first ones found; `mismatch_count` counts all).
pub const MISMATCHES_KEPT_MAX: usize = 100;
/// Reconciliations one page answers at most.
pub const RECONCILIATIONS_PAGE_MAX: usize = 100;

/// One verification of the ledger: its whole log replayed and every signature checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerificationRow {
    pub id: u128,
    pub at_s: u64,
    pub ok: bool,
    pub block_count: u64,
    pub tree_size: u64,
    pub root: Option<[u8; 32]>,
    pub duration_ms: u64,
    /// Why it failed (empty when it did not).
    pub message: String,
}

/// One exchange on which the partner's record and ours differ: `(exchange id, our status,
/// theirs)`.
pub type Mismatch = (u128, String, String);

/// One reconciliation of a partner's exchanges of `[from_s, to_s)` with its record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReconciliationRow {
    pub id: u128,
    pub partner_id: u128,
    pub from_s: u64,
    pub to_s: u64,
    pub at_s: u64,
    pub checked: u64,
    pub matched: u64,
    pub unreachable: u64,
    pub mismatch_count: u64,
    /// The first [`MISMATCHES_KEPT_MAX`] mismatches.
    pub mismatches: Vec<Mismatch>,
}

/// A change to the health tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthWrite {
    Verification(VerificationRow),
    Reconciliation(ReconciliationRow),
}

impl Row for HealthWrite {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        match self {
            HealthWrite::Verification(row) => write_verification(tx, row),
            HealthWrite::Reconciliation(row) => write_reconciliation(tx, row),
        }
    }
}

fn write_verification(tx: &mut TableTx<'_, '_>, row: &VerificationRow) -> Result<(), StoreError> {
    let sql = "INSERT INTO ledger_verifications (id, at_s, ok, block_count, tree_size, root,
            duration_ms, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    let params = [
        Value::id(row.id),
        Value::uint(row.at_s)?,
        Value::flag(row.ok),
        Value::bound(row.block_count),
        Value::bound(row.tree_size),
        Value::opt_bytes(row.root.as_ref().map(|root| root.as_slice())),
        Value::bound(row.duration_ms),
        Value::text(&row.message),
    ];
    sql::execute(tx, sql, &params)?;
    // Keep the newest: the row at the limit's place bounds the rest.
    let sql = "DELETE FROM ledger_verifications WHERE (at_s, id) < (
            SELECT at_s, id FROM ledger_verifications ORDER BY at_s DESC, id DESC
            LIMIT 1 OFFSET ?1)";
    sql::execute(tx, sql, &[Value::bound(VERIFICATIONS_KEPT_MAX - 1)])?;
    Ok(())
}

fn write_reconciliation(
    tx: &mut TableTx<'_, '_>,
    row: &ReconciliationRow,
) -> Result<(), StoreError> {
    let sql = "INSERT INTO partner_reconciliations (id, partner_id, from_s, to_s, at_s,
            checked, matched, unreachable, mismatch_count, mismatches)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
    let kept = &row.mismatches[..row.mismatches.len().min(MISMATCHES_KEPT_MAX)];
    let mismatches: Vec<(String, &str, &str)> = kept
        .iter()
        .map(|(id, ours, theirs)| (id.to_string(), ours.as_str(), theirs.as_str()))
        .collect();
    let mismatches =
        serde_json::to_string(&mismatches).map_err(|_| sql::corrupt("mismatches not JSON"))?;
    let params = [
        Value::id(row.id),
        Value::id(row.partner_id),
        Value::uint(row.from_s)?,
        Value::uint(row.to_s)?,
        Value::uint(row.at_s)?,
        Value::bound(row.checked),
        Value::bound(row.matched),
        Value::bound(row.unreachable),
        Value::bound(row.mismatch_count),
        Value::Text(mismatches),
    ];
    sql::execute(tx, sql, &params)?;
    let sql = "DELETE FROM partner_reconciliations WHERE partner_id = ?1 AND id < (
            SELECT id FROM partner_reconciliations WHERE partner_id = ?1
            ORDER BY id DESC LIMIT 1 OFFSET ?2)";
    let params = [
        Value::id(row.partner_id),
        Value::bound(RECONCILIATIONS_KEPT_MAX - 1),
    ];
    sql::execute(tx, sql, &params)?;
    Ok(())
}

/// The newest verification, if the server ever ran one.
pub fn latest_verification(
    read: &mut TableRead<'_>,
) -> Result<Option<VerificationRow>, StoreError> {
    let sql = "SELECT id, at_s, ok, block_count, tree_size, root, duration_ms, message
        FROM ledger_verifications ORDER BY at_s DESC, id DESC LIMIT 1";
    let Some(mut columns) = sql::query_one(read, sql, &[])? else {
        return Ok(None);
    };
    Ok(Some(VerificationRow {
        id: columns.id()?,
        at_s: columns.uint()?,
        ok: columns.flag()?,
        block_count: columns.uint()?,
        tree_size: columns.uint()?,
        root: columns
            .opt_bytes()?
            .map(|root| root.try_into())
            .transpose()
            .map_err(|_| sql::corrupt("a root is not 32 bytes"))?,
        duration_ms: columns.uint()?,
        message: columns.text()?,
    }))
}

/// A partner's reconciliations, newest first, with ids below `before`, at most `limit`
/// (capped at [`RECONCILIATIONS_PAGE_MAX`]).
pub fn reconciliations_page(
    read: &mut TableRead<'_>,
    partner_id: u128,
    before: Option<u128>,
    limit: usize,
) -> Result<Vec<ReconciliationRow>, StoreError> {
    let sql = "SELECT id, partner_id, from_s, to_s, at_s, checked, matched, unreachable,
            mismatch_count, mismatches
        FROM partner_reconciliations WHERE partner_id = ?1 AND id < ?2
        ORDER BY id DESC LIMIT ?3";
    let params = [
        Value::id(partner_id),
        sql::before_id(before),
        sql::limit(limit, RECONCILIATIONS_PAGE_MAX),
    ];
    sql::query(read, sql, &params)?
        .into_iter()
        .map(reconciliation_of)
        .collect()
}

fn reconciliation_of(mut columns: Columns) -> Result<ReconciliationRow, StoreError> {
    let mut row = ReconciliationRow {
        id: columns.id()?,
        partner_id: columns.id()?,
        from_s: columns.uint()?,
        to_s: columns.uint()?,
        at_s: columns.uint()?,
        checked: columns.uint()?,
        matched: columns.uint()?,
        unreachable: columns.uint()?,
        mismatch_count: columns.uint()?,
        mismatches: Vec::new(),
    };
    let stored: Vec<(String, String, String)> = serde_json::from_str(&columns.text()?)
        .map_err(|_| sql::corrupt("mismatches are not JSON"))?;
    for (id, ours, theirs) in stored {
        let id = id
            .parse()
            .map_err(|_| sql::corrupt("a mismatch's exchange id"))?;
        row.mismatches.push((id, ours, theirs));
    }
    Ok(row)
}
