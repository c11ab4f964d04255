//! TigerBeetle's queries over the stored ledger: `get_account_transfers`,
//! `get_account_balances`, `query_accounts`, `query_transfers` and a batch `lookup_accounts`,
//! answered from the store's indexes ([`crate::Store::account_transfers`] and the methods
//! after it), so the engine's memory is never scanned.
//!
//! # Semantics (TigerBeetle's `AccountFilter` and `QueryFilter`)
//!
//! - A zero field (`user_data_*`, `ledger`, `code`) matches anything; the non-zero fields are
//!   intersected (AND).
//! - `timestamp_min` and `timestamp_max` are inclusive; zero leaves that end open. Both must be
//!   at most [`TIMESTAMP_MAX`] (2^63 - 1; stored timestamps are `i64`s), and `timestamp_min`
//!   must not exceed a non-zero `timestamp_max`.
//! - `limit` must be 1 to [`QUERY_LIMIT_MAX`] (8,190, TigerBeetle's batch). A larger limit is
//!   refused, not capped: a capped answer would be shorter than asked and read as "no more".
//! - Results are ordered by timestamp, oldest first, or newest first with `reversed`. Pages
//!   are walked by moving `timestamp_min` past the last result (or `timestamp_max` before it
//!   when reversed).
//! - An [`AccountFilter`] needs an `account_id` other than 0 and 2^128 - 1 and at least one of
//!   `debits` (transfers debiting the account) and `credits` (crediting it).
//! - `get_account_balances` answers the balances a `history` account had after each
//!   transfer that matches the filter (the transfer's fields, not the account's); accounts
//!   without `history` have none. Expiry of a pending transfer adds no entry.
//! - An invalid filter answers nothing (TigerBeetle's "if any constraint is violated, return
//!   nothing"). [`AccountFilter::check`] and [`QueryFilter::check`] say what is wrong, for
//!   callers that report it (the HTTP layer answers 400).
//!
//! # Indexes (migration 4 of the SQL backends) and what they cost
//!
//! Every index on `transfers` is one more b-tree insert per committed transfer, inside the
//! commit; so `transfers` gets only what the account queries need and what a platform
//! query uses, and the rest is served by one index plus a filter that stops at `limit`
//! matches:
//!
//! | index | serves | write cost |
//! |---|---|---|
//! | PostgreSQL `transfers_by_debit (debit_account_id, timestamp)`, `transfers_by_credit (credit_account_id, timestamp)`; SQLite `transfer_accounts (run, account_id, side, timestamp, seq)` | account transfers, each side | PostgreSQL: a random insert per transfer and side. SQLite: written in runs of 8,192 transfers, sorted, appended after the last run (no random page per transfer); a query reads each run that meets its timestamps and the unindexed tail (at most one run) |
//! | `transfers_by_code (code, timestamp)` | `code` | few codes: inserts at the end of each code's range |
//! | `transfers_by_user_data_{128,64,32} (field, timestamp) WHERE field <> 0` | that field | only transfers that set it (partial) |
//!
//! On SQLite, `query_transfers` drives the most selective filtered field's index
//! (`user_data_128`, then `_64`, `_32`, then `code`), else the timestamp index (named with
//! `INDEXED BY`; PostgreSQL's planner picks among the same), and checks the other fields on
//! the rows it walks, in timestamp order, until `limit` match: `ledger` has no index of its own
//! (a handful of ledgers; one, MVP, holds nearly every transfer), so a query by `ledger`
//! alone on a rare ledger walks the transfers in the timestamp range. An account's transfers
//! filtered by `user_data_*` or `code` walk that account's transfers in the range.
//!
//! Accounts are written once (balances change in `balance_log` and in place, touching no
//! index), so they get one index per filterable field: `timestamp`, `(ledger, timestamp)`,
//! `(code, timestamp)` and the three partial `user_data` ones. Balance history is indexed by
//! `(account_id, timestamp)`, replacing the index by `account_id` alone.
//!
//! Measured with `examples/append_bench.rs` (blocks of 8,190 transfers between random
//! accounts of 100,000, on 2 shared cores; figures in `docs/ledger.md`, "Queries"): the
//! indexes every transfer pays halve SQLite's full-block append throughput, nearly all of
//! it the two account indexes (random keys: a full block dirties most of their pages;
//! `code` alone costs about 4%), and cost PostgreSQL about 30%. Commits of a few transfers
//! add two or three index pages each, next to the fsync that dominates them (not measured).
//!
//! The memory backend has no indexes: it scans, for tests and benchmarks only.

use std::collections::HashMap;

use ledger::types::{Account, AccountId, Transfer};

use crate::StoreError;
use crate::codec::{LOGGED_BALANCE_LEN, LoggedBalance, corrupt};

/// Most results one query answers (TigerBeetle's batch of 8,190 events).
pub const QUERY_LIMIT_MAX: u32 = 8190;

/// Largest timestamp a filter may name: 2^63 - 1 (stored timestamps are `i64`s, and
/// TigerBeetle's timestamps are below 2^63 too).
pub const TIMESTAMP_MAX: u64 = i64::MAX as u64;

/// What [`crate::Store::account_transfers`] and [`crate::Store::account_balances`] return:
/// TigerBeetle's `AccountFilter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountFilter {
    pub account_id: AccountId,
    /// Transfers with this `user_data_128` (0: any).
    pub user_data_128: u128,
    /// Transfers with this `user_data_64` (0: any).
    pub user_data_64: u64,
    /// Transfers with this `user_data_32` (0: any).
    pub user_data_32: u32,
    /// Transfers with this `code` (0: any).
    pub code: u16,
    /// Inclusive lower bound of the transfer's timestamp (0: none).
    pub timestamp_min: u64,
    /// Inclusive upper bound of the transfer's timestamp (0: none).
    pub timestamp_max: u64,
    /// Most results, 1 to [`QUERY_LIMIT_MAX`].
    pub limit: u32,
    /// Include transfers that debit the account.
    pub debits: bool,
    /// Include transfers that credit the account.
    pub credits: bool,
    /// Newest first.
    pub reversed: bool,
}

impl AccountFilter {
    /// Every transfer of `account_id`, both sides, oldest first, a full page.
    pub fn new(account_id: AccountId) -> AccountFilter {
        AccountFilter {
            account_id,
            user_data_128: 0,
            user_data_64: 0,
            user_data_32: 0,
            code: 0,
            timestamp_min: 0,
            timestamp_max: 0,
            limit: QUERY_LIMIT_MAX,
            debits: true,
            credits: true,
            reversed: false,
        }
    }

    /// Every constraint the filter breaks (empty: valid).
    pub fn check(&self) -> Result<(), Vec<FilterError>> {
        let mut errors = Vec::new();
        if self.account_id.0 == 0 || self.account_id.0 == u128::MAX {
            errors.push(FilterError::new("account_id", "must not be 0 or 2^128-1"));
        }
        if !self.debits && !self.credits {
            errors.push(FilterError::new(
                "flags",
                "must include debits, credits or both",
            ));
        }
        check_common(
            self.timestamp_min,
            self.timestamp_max,
            self.limit,
            &mut errors,
        );
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The timestamps, limit and order to answer, or `None` if the filter is invalid.
    pub(crate) fn window(&self) -> Option<Window> {
        self.check().ok()?;
        Some(Window::new(
            self.timestamp_min,
            self.timestamp_max,
            self.limit,
            self.reversed,
        ))
    }

    /// Whether `transfer` is one this filter asks for (side, fields and timestamps; the
    /// filter is assumed valid).
    pub fn matches(&self, transfer: &Transfer) -> bool {
        let side = (self.debits && transfer.debit_account_id == self.account_id)
            || (self.credits && transfer.credit_account_id == self.account_id);
        side && self.matches_fields(transfer)
            && in_range(transfer.timestamp, self.timestamp_min, self.timestamp_max)
    }

    /// The `user_data_*` and `code` conditions alone.
    pub(crate) fn matches_fields(&self, transfer: &Transfer) -> bool {
        field(self.user_data_128, transfer.user_data_128)
            && field(self.user_data_64, transfer.user_data_64)
            && field(self.user_data_32, transfer.user_data_32)
            && field(self.code, transfer.code)
    }

    /// Whether only some of the account's transfers qualify beyond the timestamps: one side
    /// only, or a field condition (balances then need the transfer behind each entry).
    pub(crate) fn needs_transfers(&self) -> bool {
        !(self.debits && self.credits)
            || self.user_data_128 != 0
            || self.user_data_64 != 0
            || self.user_data_32 != 0
            || self.code != 0
    }

    /// The equality conditions on transfer columns (zero fields left out).
    pub(crate) fn conditions(&self) -> Vec<Condition> {
        let mut out = Vec::new();
        push_user_data(
            &mut out,
            self.user_data_128,
            self.user_data_64,
            self.user_data_32,
        );
        if self.code != 0 {
            out.push(Condition::new(Column::Code, Value::U16(self.code)));
        }
        out
    }
}

/// What [`crate::Store::query_accounts`] and [`crate::Store::query_transfers`] take:
/// TigerBeetle's `QueryFilter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryFilter {
    /// Rows with this `user_data_128` (0: any).
    pub user_data_128: u128,
    /// Rows with this `user_data_64` (0: any).
    pub user_data_64: u64,
    /// Rows with this `user_data_32` (0: any).
    pub user_data_32: u32,
    /// Rows of this ledger (0: any).
    pub ledger: u32,
    /// Rows with this `code` (0: any).
    pub code: u16,
    /// Inclusive lower bound of the row's timestamp (0: none).
    pub timestamp_min: u64,
    /// Inclusive upper bound of the row's timestamp (0: none).
    pub timestamp_max: u64,
    /// Most results, 1 to [`QUERY_LIMIT_MAX`].
    pub limit: u32,
    /// Newest first.
    pub reversed: bool,
}

impl Default for QueryFilter {
    /// Everything, oldest first, a full page.
    fn default() -> QueryFilter {
        QueryFilter {
            user_data_128: 0,
            user_data_64: 0,
            user_data_32: 0,
            ledger: 0,
            code: 0,
            timestamp_min: 0,
            timestamp_max: 0,
            limit: QUERY_LIMIT_MAX,
            reversed: false,
        }
    }
}

impl QueryFilter {
    /// Every constraint the filter breaks (empty: valid).
    pub fn check(&self) -> Result<(), Vec<FilterError>> {
        let mut errors = Vec::new();
        check_common(
            self.timestamp_min,
            self.timestamp_max,
            self.limit,
            &mut errors,
        );
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The timestamps, limit and order to answer, or `None` if the filter is invalid.
    pub(crate) fn window(&self) -> Option<Window> {
        self.check().ok()?;
        Some(Window::new(
            self.timestamp_min,
            self.timestamp_max,
            self.limit,
            self.reversed,
        ))
    }

    /// Whether `transfer` matches (the filter is assumed valid).
    pub fn matches_transfer(&self, transfer: &Transfer) -> bool {
        self.matches(
            [
                transfer.user_data_128,
                transfer.user_data_64.into(),
                transfer.user_data_32.into(),
                transfer.ledger.into(),
                transfer.code.into(),
            ],
            transfer.timestamp,
        )
    }

    /// Whether `account` matches (the filter is assumed valid).
    pub fn matches_account(&self, account: &Account) -> bool {
        self.matches(
            [
                account.user_data_128,
                account.user_data_64.into(),
                account.user_data_32.into(),
                account.ledger.into(),
                account.code.into(),
            ],
            account.timestamp,
        )
    }

    fn matches(&self, fields: [u128; 5], timestamp: u64) -> bool {
        let wanted = [
            self.user_data_128,
            self.user_data_64.into(),
            self.user_data_32.into(),
            self.ledger.into(),
            self.code.into(),
        ];
        wanted.iter().zip(fields).all(|(&w, f)| field(w, f))
            && in_range(timestamp, self.timestamp_min, self.timestamp_max)
    }

    /// The equality conditions (zero fields left out), the one to drive the query first:
    /// `user_data_128`, `_64`, `_32`, then `code`, then `ledger` (the order of selectivity
    /// the indexes assume). Empty: the timestamp index drives.
    pub(crate) fn conditions(&self) -> Vec<Condition> {
        let mut out = Vec::new();
        push_user_data(
            &mut out,
            self.user_data_128,
            self.user_data_64,
            self.user_data_32,
        );
        if self.code != 0 {
            out.push(Condition::new(Column::Code, Value::U16(self.code)));
        }
        if self.ledger != 0 {
            out.push(Condition::new(Column::Ledger, Value::U32(self.ledger)));
        }
        out
    }
}

/// One broken constraint of a filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    /// The filter field, as TigerBeetle names it.
    pub field: &'static str,
    pub detail: String,
}

impl FilterError {
    fn new(field: &'static str, detail: impl Into<String>) -> FilterError {
        FilterError {
            field,
            detail: detail.into(),
        }
    }
}

fn check_common(min: u64, max: u64, limit: u32, errors: &mut Vec<FilterError>) {
    if min > TIMESTAMP_MAX {
        errors.push(FilterError::new(
            "timestamp_min",
            format!("must be at most {TIMESTAMP_MAX} (2^63-1)"),
        ));
    }
    if max > TIMESTAMP_MAX {
        errors.push(FilterError::new(
            "timestamp_max",
            format!("must be at most {TIMESTAMP_MAX} (2^63-1)"),
        ));
    }
    if max != 0 && min > max {
        errors.push(FilterError::new(
            "timestamp_min",
            "must not exceed timestamp_max",
        ));
    }
    if limit == 0 || limit > QUERY_LIMIT_MAX {
        errors.push(FilterError::new(
            "limit",
            format!("must be 1 to {QUERY_LIMIT_MAX}"),
        ));
    }
}

fn field<T: PartialEq + Default>(wanted: T, value: T) -> bool {
    wanted == T::default() || wanted == value
}

fn in_range(timestamp: u64, min: u64, max: u64) -> bool {
    let max = if max == 0 { TIMESTAMP_MAX } else { max };
    timestamp >= min && timestamp <= max
}

fn push_user_data(out: &mut Vec<Condition>, ud128: u128, ud64: u64, ud32: u32) {
    if ud128 != 0 {
        out.push(Condition::new(Column::UserData128, Value::U128(ud128)));
    }
    if ud64 != 0 {
        out.push(Condition::new(Column::UserData64, Value::U64(ud64)));
    }
    if ud32 != 0 {
        out.push(Condition::new(Column::UserData32, Value::U32(ud32)));
    }
}

/// The inclusive timestamp range, limit and order of a valid filter.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    /// At least 0 (no stored timestamp is 0).
    pub min: u64,
    /// At most [`TIMESTAMP_MAX`].
    pub max: u64,
    pub limit: usize,
    pub reversed: bool,
}

impl Window {
    fn new(min: u64, max: u64, limit: u32, reversed: bool) -> Window {
        Window {
            min,
            max: if max == 0 { TIMESTAMP_MAX } else { max },
            limit: limit as usize,
            reversed,
        }
    }

    /// `ASC` or `DESC`.
    pub fn order(&self) -> &'static str {
        if self.reversed { "DESC" } else { "ASC" }
    }

    /// Merges two lists each already in this window's order (and each at most `limit`
    /// long), keeping the order and `limit` items.
    pub fn merge<T>(&self, left: Vec<T>, right: Vec<T>, timestamp: impl Fn(&T) -> u64) -> Vec<T> {
        let mut out = Vec::with_capacity(self.limit.min(left.len() + right.len()));
        let (mut left, mut right) = (left.into_iter().peekable(), right.into_iter().peekable());
        while out.len() < self.limit {
            let take_left = match (left.peek(), right.peek()) {
                (Some(l), Some(r)) => (timestamp(l) < timestamp(r)) != self.reversed,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let next = if take_left { left.next() } else { right.next() };
            out.extend(next);
        }
        out
    }
}

/// A filterable column of `transfers` or `accounts`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Column {
    UserData128,
    UserData64,
    UserData32,
    Code,
    Ledger,
}

impl Column {
    pub fn name(self) -> &'static str {
        match self {
            Column::UserData128 => "user_data_128",
            Column::UserData64 => "user_data_64",
            Column::UserData32 => "user_data_32",
            Column::Code => "code",
            Column::Ledger => "ledger",
        }
    }

    /// Whether the column's index is partial (`WHERE column <> 0`): the query must then
    /// say `column <> 0` too, or the planner may not use it.
    pub fn partial(self) -> bool {
        matches!(
            self,
            Column::UserData128 | Column::UserData64 | Column::UserData32
        )
    }
}

/// A filter value, typed for binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    U128(u128),
    U64(u64),
    U32(u32),
    U16(u16),
}

/// `column = value`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Condition {
    pub column: Column,
    pub value: Value,
}

impl Condition {
    fn new(column: Column, value: Value) -> Condition {
        Condition { column, value }
    }
}

/// The suffix of the index on `table` that `column` drives, as migration 4 names it:
/// `transfers_by_code`, `accounts_by_user_data_128`, ... (`transfers` has none for
/// `ledger`).
pub(crate) fn index_name(table: &str, column: Column) -> Option<String> {
    if table == "transfers" && column == Column::Ledger {
        return None;
    }
    Some(format!("{table}_by_{}", column.name()))
}

/// The column whose index drives a query over `table` with `conditions`: the first that
/// has one.
pub(crate) fn driver(table: &str, conditions: &[Condition]) -> Option<Column> {
    conditions
        .iter()
        .map(|c| c.column)
        .find(|&column| index_name(table, column).is_some())
}

/// The current balances of some accounts, from the balance log's rows fed in height order:
/// the latest entry of each wanted account seq.
pub(crate) struct LogOverlay {
    wanted: std::collections::HashSet<i64>,
    latest: HashMap<i64, LoggedBalance>,
}

impl LogOverlay {
    pub fn new(seqs: impl IntoIterator<Item = i64>) -> LogOverlay {
        LogOverlay {
            wanted: seqs.into_iter().collect(),
            latest: HashMap::new(),
        }
    }

    /// Whether no account is wanted (the log need not be read).
    pub fn is_empty(&self) -> bool {
        self.wanted.is_empty()
    }

    /// Takes in one `balance_log` row.
    pub fn add(&mut self, height: u64, bytes: &[u8]) -> Result<(), StoreError> {
        if !bytes.len().is_multiple_of(LOGGED_BALANCE_LEN) {
            return Err(corrupt(height, "balance log row has a partial entry"));
        }
        for entry in bytes.chunks_exact(LOGGED_BALANCE_LEN) {
            let seq = i64::from_be_bytes(entry[0..8].try_into().expect("8 bytes"));
            if self.wanted.contains(&seq) {
                self.latest.insert(seq, LoggedBalance::decode(entry).1);
            }
        }
        Ok(())
    }

    /// Puts the logged balances (if any) of the account with `seq` into `account`.
    pub fn apply(&self, seq: i64, account: &mut Account) {
        if let Some(balance) = self.latest.get(&seq) {
            balance.apply(account);
        }
    }
}

/// `found` in the order of `ids` (repeats kept, missing ids left out).
pub(crate) fn in_order_of(ids: &[AccountId], found: Vec<Account>) -> Vec<Account> {
    let by_id: HashMap<AccountId, Account> = found.into_iter().map(|a| (a.id, a)).collect();
    ids.iter().filter_map(|id| by_id.get(id).copied()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_filter_constraints() {
        let ok = AccountFilter::new(AccountId(5));
        assert_eq!(ok.check(), Ok(()));
        let fields = |f: AccountFilter| -> Vec<&'static str> {
            f.check().unwrap_err().iter().map(|e| e.field).collect()
        };
        let bad = AccountFilter {
            account_id: AccountId(0),
            debits: false,
            credits: false,
            limit: 0,
            ..ok
        };
        assert_eq!(fields(bad), ["account_id", "flags", "limit"]);
        let bad = AccountFilter {
            account_id: AccountId(u128::MAX),
            timestamp_min: TIMESTAMP_MAX + 1,
            timestamp_max: 5,
            limit: QUERY_LIMIT_MAX + 1,
            ..ok
        };
        assert_eq!(
            fields(bad),
            ["account_id", "timestamp_min", "timestamp_min", "limit"]
        );
        let at_limits = AccountFilter {
            timestamp_min: TIMESTAMP_MAX,
            timestamp_max: TIMESTAMP_MAX,
            limit: QUERY_LIMIT_MAX,
            debits: false,
            ..ok
        };
        assert_eq!(at_limits.check(), Ok(()));
        assert!(at_limits.window().is_some());
        assert!(bad.window().is_none());
    }

    #[test]
    fn query_filter_constraints() {
        assert_eq!(QueryFilter::default().check(), Ok(()));
        let bad = QueryFilter {
            timestamp_max: u64::MAX,
            limit: 0,
            ..QueryFilter::default()
        };
        let fields: Vec<_> = bad.check().unwrap_err().iter().map(|e| e.field).collect();
        assert_eq!(fields, ["timestamp_max", "limit"]);
        let equal = QueryFilter {
            timestamp_min: 7,
            timestamp_max: 7,
            ..QueryFilter::default()
        };
        assert_eq!(equal.check(), Ok(()));
    }

    #[test]
    fn merge_keeps_order_and_limit() {
        let w = Window::new(0, 0, 3, false);
        assert_eq!(w.merge(vec![1, 4, 6], vec![2, 3], |&t| t), [1, 2, 3]);
        let w = Window::new(0, 0, 10, true);
        assert_eq!(w.merge(vec![6, 4, 1], vec![5, 2], |&t| t), [6, 5, 4, 2, 1]);
    }

    #[test]
    fn drivers_follow_selectivity() {
        let f = QueryFilter {
            ledger: 1,
            code: 2,
            user_data_64: 9,
            ..QueryFilter::default()
        };
        assert_eq!(
            driver("transfers", &f.conditions()),
            Some(Column::UserData64)
        );
        let f = QueryFilter {
            ledger: 1,
            ..QueryFilter::default()
        };
        assert_eq!(driver("transfers", &f.conditions()), None);
        assert_eq!(driver("accounts", &f.conditions()), Some(Column::Ledger));
    }
}
