//! Settlement's reads and writes on the payments tables: what no run took yet, summed per
//! merchant; a run marking its items in chunks; what a run took, summed per merchant.
//!
//! A run's items are the captured authorizations (`captured_at_s <= until_s`) and the done
//! refunds (`created_at_s <= until_s`) with no `settlement_id`. Marking sets their
//! `settlement_id` to the run, at most [`SETTLEMENT_CHUNK_MAX`] authorizations (and as many
//! refunds) per [`SettlementMark`] row, through the `authorizations_unsettled` index; each
//! chunk is its own commit, so a run over any number of payments never holds more than a
//! chunk in one transaction, and a crash leaves a run that marking again finishes (marking
//! takes only what no run took).

use std::sync::Arc;

use super::{AuthorizationRow, CANCELS, CancelRow, memory_rows};
use super::{
    AuthorizationStatus, CancelKind, CancelStatus, id_bytes, id_from, int_saturating, uint,
};
use crate::StoreError;
use crate::tables::{MemoryTables, Row, TableRead, TableTx};

/// Most authorizations (and, apart, refunds) one [`SettlementMark`] marks.
pub const SETTLEMENT_CHUNK_MAX: u32 = 10_000;

/// Per merchant: the captured amount and the refunded amount of items a run would take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MerchantSums {
    pub merchant_id: u128,
    pub captured: u64,
    pub refunded: u64,
}

/// Marks (up to a chunk of) the open items of one merchant up to `until_s` as taken by
/// `run_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettlementMark {
    pub run_id: u128,
    pub merchant_id: u128,
    pub until_s: u64,
    pub chunk: u32,
}

const SQLITE_MARK: &str = "UPDATE authorizations SET settlement_id = ?1 WHERE id IN (
        SELECT id FROM authorizations INDEXED BY authorizations_unsettled
        WHERE merchant_id = ?2 AND status = 'captured' AND settlement_id IS NULL
          AND captured_at_s <= ?3
        ORDER BY captured_at_s, id LIMIT ?4)";
const SQLITE_MARK_REFUNDS: &str = "UPDATE authorization_cancels SET settlement_id = ?1
    WHERE (authorization_id, key) IN (
        SELECT c.authorization_id, c.key FROM authorization_cancels c
        JOIN authorizations a ON a.id = c.authorization_id
        WHERE a.merchant_id = ?2 AND c.kind = 'refund' AND c.status = 'done'
          AND c.settlement_id IS NULL AND c.created_at_s <= ?3 LIMIT ?4)";
const POSTGRES_MARK: &str = "UPDATE authorizations SET settlement_id = $1 WHERE id IN (
        SELECT id FROM authorizations
        WHERE merchant_id = $2 AND status = 'captured' AND settlement_id IS NULL
          AND captured_at_s <= $3
        ORDER BY captured_at_s, id LIMIT $4)";
const POSTGRES_MARK_REFUNDS: &str = "UPDATE authorization_cancels SET settlement_id = $1
    WHERE (authorization_id, key) IN (
        SELECT c.authorization_id, c.key FROM authorization_cancels c
        JOIN authorizations a ON a.id = c.authorization_id
        WHERE a.merchant_id = $2 AND c.kind = 'refund' AND c.status = 'done'
          AND c.settlement_id IS NULL AND c.created_at_s <= $3 LIMIT $4)";

impl Row for SettlementMark {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        let run = id_bytes(self.run_id);
        let merchant = id_bytes(self.merchant_id);
        // An upper bound: past 2^63 - 1 it bounds nothing.
        let until = int_saturating(self.until_s);
        match tx {
            TableTx::Sqlite(conn) => {
                let params = rusqlite::params![run, merchant, until, self.chunk];
                conn.prepare_cached(SQLITE_MARK)?.execute(params)?;
                conn.prepare_cached(SQLITE_MARK_REFUNDS)?.execute(params)?;
            }
            TableTx::Postgres(tx) => {
                let chunk = i64::from(self.chunk);
                let params: [&(dyn postgres::types::ToSql + Sync); 4] =
                    [&run.as_slice(), &merchant.as_slice(), &until, &chunk];
                tx.execute(POSTGRES_MARK, &params)?;
                tx.execute(POSTGRES_MARK_REFUNDS, &params)?;
            }
            TableTx::Memory(writes) => {
                for row in self.memory_marked(writes.tables()) {
                    row.write(&mut TableTx::Memory(writes))?;
                }
            }
        }
        Ok(())
    }
}

/// Open items up to `until_s`, summed per merchant, in merchant order.
pub fn unsettled_sums(
    read: &mut TableRead<'_>,
    until_s: u64,
) -> Result<Vec<MerchantSums>, StoreError> {
    sums(read, Taken::Open(until_s))
}

/// What run `run_id` took, summed per merchant, in merchant order.
pub fn settled_sums(
    read: &mut TableRead<'_>,
    run_id: u128,
) -> Result<Vec<MerchantSums>, StoreError> {
    sums(read, Taken::Run(run_id))
}

#[derive(Clone, Copy)]
enum Taken {
    Open(u64),
    Run(u128),
}

fn sums(read: &mut TableRead<'_>, taken: Taken) -> Result<Vec<MerchantSums>, StoreError> {
    let (captured_where, refunded_where) = match taken {
        Taken::Open(_) => (
            "status = 'captured' AND settlement_id IS NULL AND captured_at_s <= {P1}",
            "c.settlement_id IS NULL AND c.created_at_s <= {P1}",
        ),
        Taken::Run(_) => ("settlement_id = {P1}", "c.settlement_id = {P1}"),
    };
    let sql = format!(
        "SELECT merchant_id, SUM(captured), SUM(refunded) FROM (
           SELECT merchant_id, captured_amount AS captured, 0 AS refunded FROM authorizations
           WHERE {captured_where}
           UNION ALL
           SELECT a.merchant_id, 0, c.amount FROM authorization_cancels c
           JOIN authorizations a ON a.id = c.authorization_id
           WHERE c.kind = 'refund' AND c.status = 'done' AND {refunded_where}
         ) items GROUP BY merchant_id ORDER BY merchant_id"
    );
    match read {
        TableRead::Sqlite(conn) => {
            let sql = sql.replace("{P1}", "?1");
            let mut st = conn.prepare(&sql)?;
            let mut rows = match taken {
                Taken::Open(until_s) => st.query([int_saturating(until_s)])?,
                Taken::Run(run_id) => st.query([id_bytes(run_id)])?,
            };
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let merchant: Vec<u8> = row.get(0)?;
                out.push(MerchantSums {
                    merchant_id: id_from(&merchant)?,
                    captured: uint(row.get(1)?)?,
                    refunded: uint(row.get(2)?)?,
                });
            }
            Ok(out)
        }
        TableRead::Postgres(client) => {
            let sql = sql.replace("{P1}", "$1").replace(
                "SUM(captured), SUM(refunded)",
                "SUM(captured)::bigint, SUM(refunded)::bigint",
            );
            let rows = match taken {
                Taken::Open(until_s) => client.query(&sql, &[&int_saturating(until_s)])?,
                Taken::Run(run_id) => client.query(&sql, &[&id_bytes(run_id).as_slice()])?,
            };
            rows.iter()
                .map(|row| {
                    let merchant: Vec<u8> = row.get(0);
                    Ok(MerchantSums {
                        merchant_id: id_from(&merchant)?,
                        captured: uint(row.get(1))?,
                        refunded: uint(row.get(2))?,
                    })
                })
                .collect()
        }
        TableRead::Memory(tables) => Ok(memory_sums(tables, taken)),
    }
}

fn memory_sums(tables: &MemoryTables, taken: Taken) -> Vec<MerchantSums> {
    let mut sums = std::collections::BTreeMap::<u128, MerchantSums>::new();
    let captured_taken = |row: &AuthorizationRow| match taken {
        Taken::Open(until_s) => {
            row.status == AuthorizationStatus::Captured
                && row.settlement_id.is_none()
                && row.captured_at_s.is_some_and(|at| at <= until_s)
        }
        Taken::Run(run) => row.settlement_id == Some(run),
    };
    let refund_taken = |cancel: &CancelRow| {
        cancel.kind == CancelKind::Refund
            && cancel.status == CancelStatus::Done
            && match taken {
                Taken::Open(until_s) => {
                    cancel.settlement_id.is_none() && cancel.created_at_s <= until_s
                }
                Taken::Run(run) => cancel.settlement_id == Some(run),
            }
    };
    let merchants: std::collections::HashMap<u128, u128> = memory_rows(tables)
        .map(|row| (row.id, row.merchant_id))
        .collect();
    for row in memory_rows(tables).filter(|row| captured_taken(row)) {
        let entry = sums.entry(row.merchant_id).or_default();
        entry.merchant_id = row.merchant_id;
        entry.captured += row.captured_amount;
    }
    let cancels = tables.rows::<CancelRow>(CANCELS).map(|(_, row)| row);
    for cancel in cancels.filter(|cancel| refund_taken(cancel)) {
        let Some(&merchant_id) = merchants.get(&cancel.authorization_id) else {
            continue;
        };
        let entry = sums.entry(merchant_id).or_default();
        entry.merchant_id = merchant_id;
        entry.refunded += cancel.amount;
    }
    sums.into_values().collect()
}

impl SettlementMark {
    /// The memory backend's marking: the rows the SQL backends' update changes, changed.
    fn memory_marked(&self, tables: &MemoryTables) -> Vec<crate::tables::RowRef> {
        let chunk = self.chunk as usize;
        let mut open: Vec<&AuthorizationRow> = memory_rows(tables)
            .filter(|row| row.merchant_id == self.merchant_id)
            .filter(|row| row.status == AuthorizationStatus::Captured)
            .filter(|row| row.settlement_id.is_none())
            .filter(|row| row.captured_at_s.is_some_and(|at| at <= self.until_s))
            .collect();
        open.sort_unstable_by_key(|row| (row.captured_at_s, row.id));
        let mut rows: Vec<crate::tables::RowRef> = Vec::new();
        for row in open.into_iter().take(chunk) {
            let mut marked = row.clone();
            marked.settlement_id = Some(self.run_id);
            rows.push(Arc::new(marked));
        }
        let merchant_of: std::collections::HashMap<u128, u128> = memory_rows(tables)
            .map(|row| (row.id, row.merchant_id))
            .collect();
        let refunds = tables
            .rows::<CancelRow>(CANCELS)
            .map(|(_, row)| row)
            .filter(|c| merchant_of.get(&c.authorization_id) == Some(&self.merchant_id))
            .filter(|c| c.kind == CancelKind::Refund && c.status == CancelStatus::Done)
            .filter(|c| c.settlement_id.is_none() && c.created_at_s <= self.until_s);
        for cancel in refunds.take(chunk) {
            let mut marked = cancel.clone();
            marked.settlement_id = Some(self.run_id);
            rows.push(Arc::new(marked));
        }
        rows
    }
}

/// Whether the merchant has an item up to `until_s` no run took (a capture through the
/// `authorizations_unsettled` index, or a done refund).
pub fn has_unsettled(
    read: &mut TableRead<'_>,
    merchant_id: u128,
    until_s: u64,
) -> Result<bool, StoreError> {
    let sql = "SELECT EXISTS (SELECT 1 FROM authorizations
            WHERE merchant_id = {M} AND status = 'captured' AND settlement_id IS NULL
              AND captured_at_s <= {U})
        OR EXISTS (SELECT 1 FROM authorization_cancels c
            JOIN authorizations a ON a.id = c.authorization_id
            WHERE a.merchant_id = {M} AND c.kind = 'refund' AND c.status = 'done'
              AND c.settlement_id IS NULL AND c.created_at_s <= {U})";
    let merchant = id_bytes(merchant_id);
    let until = int_saturating(until_s);
    match read {
        TableRead::Sqlite(conn) => {
            let sql = sql.replace("{M}", "?1").replace("{U}", "?2");
            let found: bool = conn
                .prepare_cached(&sql)?
                .query_row(rusqlite::params![merchant, until], |row| row.get(0))?;
            Ok(found)
        }
        TableRead::Postgres(client) => {
            let sql = sql.replace("{M}", "$1").replace("{U}", "$2");
            let row = client.query_one(&sql, &[&merchant.as_slice(), &until])?;
            Ok(row.get(0))
        }
        TableRead::Memory(tables) => {
            let mark = SettlementMark {
                run_id: 0,
                merchant_id,
                until_s,
                chunk: 1,
            };
            Ok(!mark.memory_marked(tables).is_empty())
        }
    }
}
