//! The queries of [`crate::query`] on SQLite: each statement names the index it walks
//! (`INDEXED BY`), so a plan that would scan a table is an error, never a slow answer.
//! Every query runs in one read transaction: the rows and the balance log it overlays come
//! from the same snapshot.

use ledger::types::{Account, AccountBalance, AccountId, Transfer};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Row, TransactionBehavior, params_from_iter};

use crate::StoreError;
use crate::codec::{self, u64_col, u64_to_sql, u128_col};
use crate::query::{
    AccountFilter, Column, Condition, LogOverlay, QueryFilter, Value, Window, driver, index_name,
};
use crate::sqlite::{ACCOUNT_COLUMNS, TRANSFER_COLUMNS, account_from_row, blob, int};

/// Ids per `IN (...)` lookup of accounts; shorter lists are padded with their first id.
const IDS_PER_LOOKUP: usize = 64;

/// A statement's text and its parameters, numbered as they are pushed.
#[derive(Default)]
struct Sql {
    text: String,
    params: Vec<SqlValue>,
}

impl Sql {
    fn new(text: impl Into<String>) -> Sql {
        Sql {
            text: text.into(),
            params: Vec::new(),
        }
    }

    /// Adds `value` as the next parameter and returns its placeholder.
    fn bind(&mut self, value: SqlValue) -> String {
        self.params.push(value);
        format!("?{}", self.params.len())
    }

    fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    /// ` AND {prefix}column = ?` for each condition, and for a column with a partial index
    /// also ` AND column != 0` (the planner uses the index only if the query implies its
    /// `WHERE`).
    fn conditions(&mut self, prefix: &str, conditions: &[Condition]) {
        for c in conditions {
            let p = self.bind(value(c.value));
            self.text
                .push_str(&format!(" AND {prefix}{} = {p}", c.column.name()));
            if c.column.partial() {
                self.text.push_str(&format!(
                    " AND {prefix}{} != {}",
                    c.column.name(),
                    zero(c.column)
                ));
            }
        }
    }

    /// ` AND {column} >= ? AND {column} <= ?` for the window's timestamps.
    fn range(&mut self, column: &str, w: &Window) {
        let (lo, hi) = (
            self.bind(SqlValue::Integer(u64_to_sql(w.min))),
            self.bind(SqlValue::Integer(u64_to_sql(w.max))),
        );
        self.text
            .push_str(&format!(" AND {column} >= {lo} AND {column} <= {hi}"));
    }

    /// ` ORDER BY {column} ASC|DESC LIMIT ?`.
    fn order_limit(&mut self, column: &str, w: &Window) {
        let limit = self.bind(SqlValue::Integer(w.limit as i64));
        self.text
            .push_str(&format!(" ORDER BY {column} {} LIMIT {limit}", w.order()));
    }
}

fn value(v: Value) -> SqlValue {
    match v {
        Value::U128(v) => SqlValue::Blob(v.to_be_bytes().to_vec()),
        Value::U64(v) => SqlValue::Integer(u64_to_sql(v)),
        Value::U32(v) => SqlValue::Integer(v.into()),
        Value::U16(v) => SqlValue::Integer(v.into()),
    }
}

/// The zero of a column as migration 4 writes it in its partial indexes.
fn zero(column: Column) -> &'static str {
    match column {
        Column::UserData128 => "x'00000000000000000000000000000000'",
        _ => "0",
    }
}

fn id_value(id: u128) -> SqlValue {
    SqlValue::Blob(id.to_be_bytes().to_vec())
}

/// Runs `sql` and decodes each row with `decode`.
fn select<T>(
    conn: &Connection,
    sql: &Sql,
    mut decode: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut st = conn.prepare_cached(&sql.text)?;
    let mut rows = st.query(params_from_iter(sql.params.iter()))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode(row)?);
    }
    Ok(out)
}

fn transfer(row: &Row<'_>) -> Result<Transfer, StoreError> {
    let h = int(row, 1).map_or(0, codec::u64_from_sql);
    Ok(crate::sqlite::transfer_from_row(row, 0, h)?.1)
}

pub(crate) fn account_transfers(
    conn: &mut Connection,
    filter: &AccountFilter,
) -> Result<Vec<Transfer>, StoreError> {
    let Some(w) = filter.window() else {
        return Ok(Vec::new());
    };
    let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
    let debits = if filter.debits {
        account_side(&tx, filter, &w, Side::Debit)?
    } else {
        Vec::new()
    };
    let credits = if filter.credits {
        account_side(&tx, filter, &w, Side::Credit)?
    } else {
        Vec::new()
    };
    // A transfer never debits and credits the same account: the two lists are disjoint.
    Ok(w.merge(debits, credits, |t| t.timestamp))
}

#[derive(Clone, Copy)]
enum Side {
    Debit = 0,
    Credit = 1,
}

/// One side of an account's transfers, in the window's order, at most its limit.
///
/// The account index (`transfer_accounts`) is written in runs, one per batch of
/// `IDS_DEFERRED_MAX` transfers (see `sqlite::DeferredIds`): each run's rows are sorted by
/// account and time and append to the table, so indexing a transfer never dirties a page
/// at random. Runs follow the log, so time: they are read in the window's order, skipping
/// those outside its timestamps, and the tail not in a run yet (at most one batch) is read
/// by rowid range, newest of all.
fn account_side(
    tx: &Connection,
    filter: &AccountFilter,
    w: &Window,
    side: Side,
) -> Result<Vec<Transfer>, StoreError> {
    let conditions = filter.conditions();
    let column = match side {
        Side::Debit => "debit_account_id",
        Side::Credit => "credit_account_id",
    };
    let mut out = Vec::new();
    if w.reversed {
        out.extend(tail_side(tx, filter, w, column, &conditions)?);
    }
    for run in runs(tx, w)? {
        if out.len() >= w.limit {
            break;
        }
        let mut sql = Sql::new(format!(
            "SELECT {} FROM transfer_accounts AS a
             JOIN transfers ON transfers.seq = a.seq
             WHERE a.run = {} AND a.side = {} AND a.account_id = ",
            qualified_transfer_columns(),
            run,
            side as i64
        ));
        let p = sql.bind(id_value(filter.account_id.0));
        sql.push(&p);
        sql.range("a.timestamp", w);
        sql.conditions("transfers.", &conditions);
        let remaining = Window {
            limit: w.limit - out.len(),
            ..*w
        };
        sql.order_limit("a.timestamp", &remaining);
        out.extend(select(tx, &sql, transfer)?);
    }
    if !w.reversed && out.len() < w.limit {
        out.extend(tail_side(tx, filter, w, column, &conditions)?);
    }
    out.truncate(w.limit);
    Ok(out)
}

/// [`TRANSFER_COLUMNS`] named with their table, for joins.
fn qualified_transfer_columns() -> String {
    let columns = TRANSFER_COLUMNS
        .split(',')
        .map(|column| format!("transfers.{}", column.trim()));
    columns.collect::<Vec<_>>().join(", ")
}

/// The runs of `transfer_accounts` whose timestamps meet the window, in its order.
fn runs(tx: &Connection, w: &Window) -> Result<Vec<i64>, StoreError> {
    let mut sql = Sql::new("SELECT run FROM transfer_account_runs WHERE 1");
    let (lo, hi) = (
        sql.bind(SqlValue::Integer(u64_to_sql(w.min))),
        sql.bind(SqlValue::Integer(u64_to_sql(w.max))),
    );
    sql.push(&format!(
        " AND timestamp_max >= {lo} AND timestamp_min <= {hi} ORDER BY run {}",
        w.order()
    ));
    select(tx, &sql, |row| Ok(int(row, 0).unwrap_or(0)))
}

/// The matching transfers not in a run yet: after `ids_indexed_upto`, by rowid range.
fn tail_side(
    tx: &Connection,
    filter: &AccountFilter,
    w: &Window,
    column: &str,
    conditions: &[Condition],
) -> Result<Vec<Transfer>, StoreError> {
    let mut sql = Sql::new(format!(
        "SELECT {TRANSFER_COLUMNS} FROM transfers
         WHERE seq >= (SELECT value FROM meta WHERE key = 'ids_indexed_upto') AND {column} = "
    ));
    let p = sql.bind(id_value(filter.account_id.0));
    sql.push(&p);
    sql.range("timestamp", w);
    sql.conditions("", conditions);
    sql.order_limit("seq", w);
    select(tx, &sql, transfer)
}

pub(crate) fn account_balances(
    conn: &mut Connection,
    filter: &AccountFilter,
) -> Result<Vec<AccountBalance>, StoreError> {
    let Some(w) = filter.window() else {
        return Ok(Vec::new());
    };
    let mut sql = Sql::new(
        "SELECT h.account_id, h.timestamp, h.debits_pending, h.debits_posted, h.credits_pending,
            h.credits_posted, h.block_height
         FROM account_history AS h INDEXED BY account_history_by_account_timestamp",
    );
    if filter.needs_transfers() {
        // CROSS JOIN keeps `h` the outer loop: one transfer lookup per history entry.
        sql.push(
            " CROSS JOIN transfers AS t INDEXED BY transfers_by_timestamp
              ON t.timestamp = h.timestamp",
        );
    }
    let account = sql.bind(id_value(filter.account_id.0));
    sql.push(&format!(" WHERE h.account_id = {account}"));
    sql.range("h.timestamp", &w);
    if filter.needs_transfers() {
        if !filter.credits {
            sql.push(&format!(" AND t.debit_account_id = {account}"));
        }
        if !filter.debits {
            sql.push(&format!(" AND t.credit_account_id = {account}"));
        }
        sql.conditions("t.", &filter.conditions());
    }
    sql.order_limit("h.timestamp", &w);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
    select(&tx, &sql, |row| {
        let h = int(row, 6).map_or(0, codec::u64_from_sql);
        Ok(AccountBalance {
            account_id: AccountId(u128_col(blob(row, 0), h, "history account_id")?),
            timestamp: u64_col(int(row, 1), h, "history timestamp")?,
            debits_pending: u128_col(blob(row, 2), h, "history debits_pending")?,
            debits_posted: u128_col(blob(row, 3), h, "history debits_posted")?,
            credits_pending: u128_col(blob(row, 4), h, "history credits_pending")?,
            credits_posted: u128_col(blob(row, 5), h, "history credits_posted")?,
        })
    })
}

pub(crate) fn query_transfers(
    conn: &mut Connection,
    filter: &QueryFilter,
) -> Result<Vec<Transfer>, StoreError> {
    let Some(w) = filter.window() else {
        return Ok(Vec::new());
    };
    let conditions = filter.conditions();
    let index = driver("transfers", &conditions)
        .and_then(|column| index_name("transfers", column))
        .unwrap_or_else(|| "transfers_by_timestamp".into());
    let mut sql = Sql::new(format!(
        "SELECT {TRANSFER_COLUMNS} FROM transfers INDEXED BY {index} WHERE 1"
    ));
    sql.range("timestamp", &w);
    sql.conditions("", &conditions);
    sql.order_limit("timestamp", &w);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
    select(&tx, &sql, transfer)
}

/// An account row from [`ACCOUNT_COLUMNS`] followed by `block_height, seq`.
fn account_row(row: &Row<'_>) -> Result<(i64, Account), StoreError> {
    let height = int(row, 12).map_or(0, codec::u64_from_sql);
    let seq = int(row, 13).ok_or_else(|| codec::corrupt(height, "account seq is missing"))?;
    Ok((seq, account_from_row(row, height)?))
}

/// The accounts' current balances: the rows overlaid with the balance log (inside the
/// caller's read transaction).
fn with_current_balances(
    conn: &Connection,
    rows: Vec<(i64, Account)>,
) -> Result<Vec<Account>, StoreError> {
    let mut overlay = LogOverlay::new(rows.iter().map(|(seq, _)| *seq));
    if !overlay.is_empty() {
        let mut st =
            conn.prepare_cached("SELECT height, balances FROM balance_log ORDER BY height")?;
        let mut log = st.query([])?;
        while let Some(row) = log.next()? {
            let height = int(row, 0).map_or(0, codec::u64_from_sql);
            overlay.add(height, blob(row, 1).unwrap_or_default())?;
        }
    }
    Ok(rows
        .into_iter()
        .map(|(seq, mut account)| {
            overlay.apply(seq, &mut account);
            account
        })
        .collect())
}

pub(crate) fn query_accounts(
    conn: &mut Connection,
    filter: &QueryFilter,
) -> Result<Vec<Account>, StoreError> {
    let Some(w) = filter.window() else {
        return Ok(Vec::new());
    };
    let conditions = filter.conditions();
    let index = driver("accounts", &conditions)
        .and_then(|column| index_name("accounts", column))
        .unwrap_or_else(|| "accounts_by_timestamp".into());
    let mut sql = Sql::new(format!(
        "SELECT {ACCOUNT_COLUMNS}, block_height, seq FROM accounts INDEXED BY {index} WHERE 1"
    ));
    sql.range("timestamp", &w);
    sql.conditions("", &conditions);
    sql.order_limit("timestamp", &w);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
    let rows = select(&tx, &sql, account_row)?;
    with_current_balances(&tx, rows)
}

pub(crate) fn lookup_accounts(
    conn: &mut Connection,
    ids: &[AccountId],
) -> Result<Vec<Account>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
    let placeholders = vec!["?"; IDS_PER_LOOKUP].join(", ");
    let text = format!(
        "SELECT {ACCOUNT_COLUMNS}, block_height, seq FROM accounts INDEXED BY accounts_id
         WHERE id IN ({placeholders})"
    );
    let mut rows = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for chunk in ids.chunks(IDS_PER_LOOKUP) {
        let sql = Sql {
            text: text.clone(),
            params: (0..IDS_PER_LOOKUP)
                .map(|i| id_value(chunk.get(i).unwrap_or(&chunk[0]).0))
                .collect(),
        };
        for (seq, account) in select(&tx, &sql, account_row)? {
            // A repeated id (in this chunk or another) is read again: keep one row.
            if seen.insert(seq) {
                rows.push((seq, account));
            }
        }
    }
    let found = with_current_balances(&tx, rows)?;
    Ok(crate::query::in_order_of(ids, found))
}
