//! The queries of [`crate::query`] on PostgreSQL. Each is one statement (the planner picks
//! among migration 4's indexes; a partial index's `WHERE` is repeated in the query so that it
//! qualifies); those that overlay the balance log read it in the same repeatable-read
//! snapshot as the rows.

use ledger::types::{Account, AccountBalance, AccountId, Transfer};
use postgres::types::ToSql;
use postgres::{Client, GenericClient, IsolationLevel, Row};

use crate::StoreError;
use crate::codec::{self, u64_col, u64_to_sql, u128_col};
use crate::postgres::{
    ACCOUNT_COLUMNS, TRANSFER_COLUMNS, account_from_row, blob, int, row_height, transfer_from_row,
};
use crate::query::{AccountFilter, Column, Condition, LogOverlay, QueryFilter, Value, Window};

type Param = Box<dyn ToSql + Sync>;

/// A statement's text and its parameters, numbered as they are pushed.
#[derive(Default)]
struct Sql {
    text: String,
    params: Vec<Param>,
}

impl Sql {
    fn new(text: impl Into<String>) -> Sql {
        Sql {
            text: text.into(),
            params: Vec::new(),
        }
    }

    /// Adds `value` as the next parameter and returns its placeholder.
    fn bind(&mut self, value: Param) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }

    fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    /// ` AND {prefix}column = $n` for each condition, and ` AND column <> 0` for a column
    /// with a partial index (so that the index qualifies).
    fn conditions(&mut self, prefix: &str, conditions: &[Condition]) {
        let text = self.bind_conditions(prefix, conditions);
        self.text.push_str(&text);
    }

    /// The text [`Sql::conditions`] would add, its parameters bound.
    fn bind_conditions(&mut self, prefix: &str, conditions: &[Condition]) -> String {
        let mut text = String::new();
        for c in conditions {
            let p = self.bind(value(c.value));
            text.push_str(&format!(" AND {prefix}{} = {p}", c.column.name()));
            if c.column.partial() {
                text.push_str(&format!(
                    " AND {prefix}{} <> {}",
                    c.column.name(),
                    zero(c.column)
                ));
            }
        }
        text
    }

    /// ` AND {column} >= $a AND {column} <= $b`; the placeholders are bound once and may be
    /// reused.
    fn range(&mut self, column: &str, w: &Window) -> (String, String) {
        let lo = self.bind(Box::new(u64_to_sql(w.min)));
        let hi = self.bind(Box::new(u64_to_sql(w.max)));
        self.text
            .push_str(&format!(" AND {column} >= {lo} AND {column} <= {hi}"));
        (lo, hi)
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params.iter().map(|p| p.as_ref()).collect()
    }
}

/// Column types: `user_data_32` and `ledger` are `bigint`, `code` is `integer`.
fn value(v: Value) -> Param {
    match v {
        Value::U128(v) => Box::new(v.to_be_bytes().to_vec()),
        Value::U64(v) => Box::new(u64_to_sql(v)),
        Value::U32(v) => Box::new(i64::from(v)),
        Value::U16(v) => Box::new(i32::from(v)),
    }
}

/// The zero of a column as migration 4 writes it in its partial indexes.
fn zero(column: Column) -> &'static str {
    match column {
        Column::UserData128 => "'\\x00000000000000000000000000000000'::bytea",
        _ => "0",
    }
}

fn id_param(id: u128) -> Param {
    Box::new(id.to_be_bytes().to_vec())
}

fn transfers(rows: &[Row]) -> Result<Vec<Transfer>, StoreError> {
    rows.iter()
        .map(|row| transfer_from_row(row, row_height(row)))
        .collect()
}

pub(crate) fn account_transfers(
    client: &mut Client,
    filter: &AccountFilter,
) -> Result<Vec<Transfer>, StoreError> {
    let Some(w) = filter.window() else {
        return Ok(Vec::new());
    };
    let mut sql = Sql::default();
    let account = sql.bind(id_param(filter.account_id.0));
    let lo = sql.bind(Box::new(u64_to_sql(w.min)));
    let hi = sql.bind(Box::new(u64_to_sql(w.max)));
    let limit = sql.bind(Box::new(w.limit as i64));
    let conditions = sql.bind_conditions("", &filter.conditions());
    let order = w.order();
    // Each side walks its index in order and stops at `limit`; a transfer never debits and
    // credits the same account, so the sides are disjoint.
    let side = |column: &str| {
        format!(
            "(SELECT {TRANSFER_COLUMNS} FROM transfers WHERE {column}_account_id = {account}
                AND timestamp >= {lo} AND timestamp <= {hi}{conditions}
              ORDER BY timestamp {order} LIMIT {limit})"
        )
    };
    let sides: Vec<String> = [("debit", filter.debits), ("credit", filter.credits)]
        .into_iter()
        .filter(|(_, wanted)| *wanted)
        .map(|(column, _)| side(column))
        .collect();
    if let [one] = &sides[..] {
        sql.push(one);
    } else {
        sql.push(&format!(
            "{} ORDER BY timestamp {order} LIMIT {limit}",
            sides.join(" UNION ALL ")
        ));
    }
    let rows = client.query(&sql.text, &sql.params())?;
    transfers(&rows)
}

pub(crate) fn account_balances(
    client: &mut Client,
    filter: &AccountFilter,
) -> Result<Vec<AccountBalance>, StoreError> {
    let Some(w) = filter.window() else {
        return Ok(Vec::new());
    };
    let mut sql = Sql::new(
        "SELECT h.account_id, h.timestamp, h.debits_pending, h.debits_posted, h.credits_pending,
            h.credits_posted, h.block_height
         FROM account_history AS h",
    );
    if filter.needs_transfers() {
        sql.push(" JOIN transfers AS t ON t.timestamp = h.timestamp");
    }
    let account = sql.bind(id_param(filter.account_id.0));
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
    let limit = sql.bind(Box::new(w.limit as i64));
    sql.push(&format!(
        " ORDER BY h.timestamp {} LIMIT {limit}",
        w.order()
    ));
    let rows = client.query(&sql.text, &sql.params())?;
    rows.iter()
        .map(|row| {
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
        .collect()
}

pub(crate) fn query_transfers(
    client: &mut Client,
    filter: &QueryFilter,
) -> Result<Vec<Transfer>, StoreError> {
    let Some(w) = filter.window() else {
        return Ok(Vec::new());
    };
    let mut sql = Sql::new(format!(
        "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE TRUE"
    ));
    sql.range("timestamp", &w);
    sql.conditions("", &filter.conditions());
    let limit = sql.bind(Box::new(w.limit as i64));
    sql.push(&format!(" ORDER BY timestamp {} LIMIT {limit}", w.order()));
    let rows = client.query(&sql.text, &sql.params())?;
    transfers(&rows)
}

/// Accounts from rows of [`ACCOUNT_COLUMNS`], `a.block_height, a.seq`, with their current
/// balances: the rows overlaid with the balance log (read in the caller's snapshot).
fn with_current_balances(
    client: &mut impl GenericClient,
    rows: &[Row],
) -> Result<Vec<Account>, StoreError> {
    let mut accounts = Vec::with_capacity(rows.len());
    for row in rows {
        let height = int(row, 12).map_or(0, codec::u64_from_sql);
        let seq = int(row, 13).ok_or_else(|| codec::corrupt(height, "account seq is missing"))?;
        accounts.push((seq, account_from_row(row, height)?));
    }
    let mut overlay = LogOverlay::new(accounts.iter().map(|(seq, _)| *seq));
    if !overlay.is_empty() {
        let log = client.query(
            "SELECT height, balances FROM balance_log ORDER BY height",
            &[],
        )?;
        for row in &log {
            let height = int(row, 0).map_or(0, codec::u64_from_sql);
            overlay.add(height, blob(row, 1).unwrap_or_default())?;
        }
    }
    Ok(accounts
        .into_iter()
        .map(|(seq, mut account)| {
            overlay.apply(seq, &mut account);
            account
        })
        .collect())
}

/// Runs `sql` for account rows and overlays the balance log, in one read-only snapshot.
fn select_accounts(client: &mut Client, sql: &Sql) -> Result<Vec<Account>, StoreError> {
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let rows = tx.query(&sql.text, &sql.params())?;
    let accounts = with_current_balances(&mut tx, &rows)?;
    tx.commit()?;
    Ok(accounts)
}

pub(crate) fn query_accounts(
    client: &mut Client,
    filter: &QueryFilter,
) -> Result<Vec<Account>, StoreError> {
    let Some(w) = filter.window() else {
        return Ok(Vec::new());
    };
    let mut sql = Sql::new(format!(
        "SELECT {ACCOUNT_COLUMNS}, a.block_height, a.seq
         FROM accounts AS a LEFT JOIN account_balances AS b ON b.seq = a.seq WHERE TRUE"
    ));
    sql.range("a.timestamp", &w);
    sql.conditions("a.", &filter.conditions());
    let limit = sql.bind(Box::new(w.limit as i64));
    sql.push(&format!(
        " ORDER BY a.timestamp {} LIMIT {limit}",
        w.order()
    ));
    select_accounts(client, &sql)
}

pub(crate) fn lookup_accounts(
    client: &mut Client,
    ids: &[AccountId],
) -> Result<Vec<Account>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(format!(
        "SELECT {ACCOUNT_COLUMNS}, a.block_height, a.seq
         FROM accounts AS a LEFT JOIN account_balances AS b ON b.seq = a.seq
         WHERE a.id = ANY("
    ));
    let keys: Vec<Vec<u8>> = ids.iter().map(|id| id.0.to_be_bytes().to_vec()).collect();
    let p = sql.bind(Box::new(keys));
    sql.push(&format!("{p}::bytea[])"));
    let found = select_accounts(client, &sql)?;
    Ok(crate::query::in_order_of(ids, found))
}
