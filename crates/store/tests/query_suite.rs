//! TigerBeetle's queries (`store::query`) on every backend: `memory::*`, `sqlite::*` and
//! `postgres::*` (the last need `MILEVERSE_TEST_DATABASE_URL`: `eval "$(bash scripts/pg.sh
//! env)"`). Each backend answers a table of filters, and a sweep of filter combinations, as a
//! plain oracle written here does; page walks, limits at the maximum and invalid filters
//! too. On PostgreSQL, the queries must not scan a table (`seq_scan` counters).

mod common;

use common::{PgFixture, SqliteFixture};

use ledger::types::{
    Account, AccountBalance, AccountFlags, AccountId, BlockHeader, Transfer, TransferId,
};
use store::postgres::PostgresStore;
use store::query::{AccountFilter, QUERY_LIMIT_MAX, QueryFilter, TIMESTAMP_MAX};
use store::sqlite::SqliteStore;
use store::{BlockRecord, BlockWrite, Store, StoreMeta};

// ---------------------------------------------------------------------------------------------
// Data: accounts and transfers with every filterable field varied, written the way the
// engine writes them (current rows of changed accounts, history of `history` accounts).

/// An id with the high bit set: byte order must be numeric order.
const HIGH: u128 = (1 << 127) + 9;

fn account(id: u128, ledger: u32, code: u16, ud: (u128, u64, u32), history: bool) -> Account {
    Account {
        id: AccountId(id),
        user_data_128: ud.0,
        user_data_64: ud.1,
        user_data_32: ud.2,
        ledger,
        code,
        flags: if history {
            AccountFlags::HISTORY
        } else {
            AccountFlags::empty()
        },
        ..Account::default()
    }
}

/// The accounts, in creation order (timestamps are set when they are written).
fn accounts() -> Vec<Account> {
    vec![
        account(1, 1, 10, (0xaa, 5, 7), true),
        account(2, 1, 10, (0, 0, 0), false),
        account(3, 1, 20, (0xaa, 6, 0), true),
        account(4, 2, 20, (0xbb, 5, 7), false),
        account(5, 2, 10, (0, u64::MAX, 0), false),
        account(HIGH, 1, 30, (u128::MAX, u64::MAX, u32::MAX), false),
        // Created in a later block.
        account(7, 1, 10, (0xaa, 0, 7), false),
        account(8, 2, 30, (0, 5, u32::MAX), true),
    ]
}

/// Pairs of accounts of the same ledger, debit first.
const PAIRS: &[(u128, u128)] = &[
    (1, 2),
    (2, 3),
    (3, 1),
    (HIGH, 1),
    (2, HIGH),
    (4, 5),
    (5, 4),
    (7, 1),
    (8, 4),
    (5, 8),
];

const UD128: [u128; 4] = [0, 0xaa, 0xbb, u128::MAX];
const UD64: [u64; 4] = [0, 5, 6, u64::MAX];
const UD32: [u32; 3] = [0, 7, u32::MAX];
const CODES: [u16; 3] = [1, 2, 3];

/// The `i`th transfer of the data set (its timestamp is set when it is written).
fn nth_transfer(i: usize) -> Transfer {
    let (debit, credit) = PAIRS[i % PAIRS.len()];
    let ledger = if [4, 5, 8].contains(&debit) { 2 } else { 1 };
    Transfer {
        id: TransferId(10_000 + i as u128),
        debit_account_id: AccountId(debit),
        credit_account_id: AccountId(credit),
        amount: 1 + i as u128,
        user_data_128: UD128[i % 4],
        user_data_64: UD64[(i / 4) % 4],
        user_data_32: UD32[i % 3],
        ledger,
        code: CODES[(i / 2) % 3],
        ..Transfer::default()
    }
}

/// What was written: the oracle's view.
#[derive(Default)]
struct Data {
    accounts: Vec<Account>,
    transfers: Vec<Transfer>,
    history: Vec<AccountBalance>,
}

impl Data {
    fn account(&self, id: u128) -> &Account {
        self.accounts.iter().find(|a| a.id.0 == id).expect("known")
    }
}

/// Writes blocks with consecutive heights, keeping the oracle's view.
struct Writer {
    height: u64,
    tree_size: u64,
    clock: u64,
    data: Data,
}

impl Writer {
    fn new() -> Writer {
        Writer {
            height: 0,
            tree_size: 0,
            clock: 1_000,
            data: Data::default(),
        }
    }

    /// One block creating `created` and committing `transfers` (timestamps 10 ns apart, so
    /// that range bounds can fall between them).
    fn block(
        &mut self,
        s: &mut dyn Store,
        created: Vec<Account>,
        transfers: Vec<Transfer>,
    ) -> Vec<Transfer> {
        let mut changed: Vec<u128> = Vec::new();
        let mut block_accounts = Vec::new();
        for mut a in created {
            self.clock += 10;
            a.timestamp = self.clock;
            block_accounts.push(a);
            self.data.accounts.push(a);
            changed.push(a.id.0);
        }
        let mut history = Vec::new();
        let mut committed = Vec::new();
        for mut t in transfers {
            self.clock += 10;
            t.timestamp = self.clock;
            for (id, debit) in [(t.debit_account_id, true), (t.credit_account_id, false)] {
                let a = self
                    .data
                    .accounts
                    .iter_mut()
                    .find(|a| a.id == id)
                    .expect("account exists");
                if debit {
                    a.debits_posted += t.amount;
                } else {
                    a.credits_posted += t.amount;
                }
                if a.flags.contains(AccountFlags::HISTORY) {
                    history.push(AccountBalance {
                        account_id: id,
                        timestamp: t.timestamp,
                        debits_pending: a.debits_pending,
                        debits_posted: a.debits_posted,
                        credits_pending: a.credits_pending,
                        credits_posted: a.credits_posted,
                    });
                }
                if !changed.contains(&id.0) {
                    changed.push(id.0);
                }
            }
            committed.push(t);
        }
        self.data.transfers.extend(&committed);
        self.data.history.extend(&history);
        let accounts_changed = changed.iter().map(|&id| *self.data.account(id)).collect();
        let height = self.height;
        self.height += 1;
        self.tree_size += committed.len() as u64;
        let write = BlockWrite {
            block: BlockRecord {
                header: BlockHeader {
                    height,
                    timestamp: self.clock,
                    account_count: block_accounts.len() as u32,
                    transfer_count: committed.len() as u32,
                    tree_size: self.tree_size,
                    ..BlockHeader::default()
                },
                accounts: block_accounts,
                transfers: committed.clone(),
                ..BlockRecord::default()
            },
            accounts_changed,
            history,
            ..BlockWrite::default()
        };
        s.append(&[write]).unwrap();
        committed
    }
}

/// The data set: 8 accounts in two blocks, 60 transfers in blocks of 1 to 13; the last
/// blocks touch no `history` account (so that PostgreSQL's balances end in its balance log,
/// as SQLite's do).
fn write_data(s: &mut dyn Store) -> Data {
    write_data_with(s).data
}

/// [`write_data`], with the writer to go on.
fn write_data_with(s: &mut dyn Store) -> Writer {
    s.init(&StoreMeta {
        operator_public_key: [1; 32],
    })
    .unwrap();
    let mut w = Writer::new();
    let all = accounts();
    w.block(s, all[..6].to_vec(), Vec::new());
    w.block(s, all[6..].to_vec(), Vec::new());
    let mut next = 0;
    for size in [1, 5, 13, 2, 9] {
        w.block(
            s,
            Vec::new(),
            (next..next + size).map(nth_transfer).collect(),
        );
        next += size;
    }
    while next < 56 {
        let size = (56 - next).min(7);
        w.block(
            s,
            Vec::new(),
            (next..next + size).map(nth_transfer).collect(),
        );
        next += size;
    }
    // Plain transfers between accounts without history, in small appends.
    for i in 0..4u128 {
        let mut t = nth_transfer(4); // 2 -> HIGH
        t.id = TransferId(20_000 + i);
        w.block(s, Vec::new(), vec![t]);
    }
    w
}

// ---------------------------------------------------------------------------------------------
// The oracle: TigerBeetle's semantics, written plainly.

fn field<T: PartialEq + Default>(wanted: T, value: T) -> bool {
    wanted == T::default() || wanted == value
}

fn in_range(ts: u64, min: u64, max: u64) -> bool {
    ts >= min && (max == 0 || ts <= max)
}

fn valid_range(min: u64, max: u64, limit: u32) -> bool {
    min < 1 << 63 && max < 1 << 63 && (max == 0 || min <= max) && (1..=8190).contains(&limit)
}

fn account_filter_valid(f: &AccountFilter) -> bool {
    f.account_id.0 != 0
        && f.account_id.0 != u128::MAX
        && (f.debits || f.credits)
        && valid_range(f.timestamp_min, f.timestamp_max, f.limit)
}

fn page<T>(mut found: Vec<T>, ts: impl Fn(&T) -> u64, reversed: bool, limit: u32) -> Vec<T> {
    found.sort_by_key(|x| ts(x));
    if reversed {
        found.reverse();
    }
    found.truncate(limit as usize);
    found
}

fn transfer_matches_account_filter(f: &AccountFilter, t: &Transfer) -> bool {
    ((f.debits && t.debit_account_id == f.account_id)
        || (f.credits && t.credit_account_id == f.account_id))
        && field(f.user_data_128, t.user_data_128)
        && field(f.user_data_64, t.user_data_64)
        && field(f.user_data_32, t.user_data_32)
        && field(f.code, t.code)
        && in_range(t.timestamp, f.timestamp_min, f.timestamp_max)
}

fn expect_account_transfers(d: &Data, f: &AccountFilter) -> Vec<Transfer> {
    if !account_filter_valid(f) {
        return Vec::new();
    }
    let found = d
        .transfers
        .iter()
        .filter(|t| transfer_matches_account_filter(f, t))
        .copied()
        .collect();
    page(found, |t| t.timestamp, f.reversed, f.limit)
}

fn expect_account_balances(d: &Data, f: &AccountFilter) -> Vec<AccountBalance> {
    if !account_filter_valid(f) {
        return Vec::new();
    }
    let found = d
        .history
        .iter()
        .filter(|b| b.account_id == f.account_id)
        .filter(|b| {
            let t = d.transfers.iter().find(|t| t.timestamp == b.timestamp);
            t.is_some_and(|t| transfer_matches_account_filter(f, t))
        })
        .copied()
        .collect();
    page(found, |b| b.timestamp, f.reversed, f.limit)
}

fn query_matches(f: &QueryFilter, fields: (u128, u64, u32, u32, u16), ts: u64) -> bool {
    field(f.user_data_128, fields.0)
        && field(f.user_data_64, fields.1)
        && field(f.user_data_32, fields.2)
        && field(f.ledger, fields.3)
        && field(f.code, fields.4)
        && in_range(ts, f.timestamp_min, f.timestamp_max)
}

fn expect_query_transfers(d: &Data, f: &QueryFilter) -> Vec<Transfer> {
    if !valid_range(f.timestamp_min, f.timestamp_max, f.limit) {
        return Vec::new();
    }
    let found = d
        .transfers
        .iter()
        .filter(|t| {
            let fields = (
                t.user_data_128,
                t.user_data_64,
                t.user_data_32,
                t.ledger,
                t.code,
            );
            query_matches(f, fields, t.timestamp)
        })
        .copied()
        .collect();
    page(found, |t| t.timestamp, f.reversed, f.limit)
}

fn expect_query_accounts(d: &Data, f: &QueryFilter) -> Vec<Account> {
    if !valid_range(f.timestamp_min, f.timestamp_max, f.limit) {
        return Vec::new();
    }
    let found = d
        .accounts
        .iter()
        .filter(|a| {
            let fields = (
                a.user_data_128,
                a.user_data_64,
                a.user_data_32,
                a.ledger,
                a.code,
            );
            query_matches(f, fields, a.timestamp)
        })
        .copied()
        .collect();
    page(found, |a| a.timestamp, f.reversed, f.limit)
}

fn ids(transfers: &[Transfer]) -> Vec<u128> {
    transfers.iter().map(|t| t.id.0).collect()
}

fn account_ids(accounts: &[Account]) -> Vec<u128> {
    accounts.iter().map(|a| a.id.0).collect()
}

// ---------------------------------------------------------------------------------------------
// Behaviours every backend must have

fn af(account: u128) -> AccountFilter {
    AccountFilter::new(AccountId(account))
}

/// One case per filter field (and flag), each checked against the oracle and, where the
/// answer is easy to see, against a hand-written one.
fn account_transfers_by_each_field(s: &mut dyn Store) {
    let d = write_data(s);
    let a1 = d
        .transfers
        .iter()
        .filter(|t| t.debit_account_id.0 == 1 || t.credit_account_id.0 == 1);
    let all_of_1: Vec<u128> = a1.map(|t| t.id.0).collect();
    assert!(all_of_1.len() > 10, "the data set gives account 1 enough");
    assert_eq!(ids(&s.account_transfers(&af(1)).unwrap()), all_of_1);
    let debits_of_1: Vec<u128> = d
        .transfers
        .iter()
        .filter(|t| t.debit_account_id.0 == 1)
        .map(|t| t.id.0)
        .collect();
    let only_debits = AccountFilter {
        credits: false,
        ..af(1)
    };
    assert_eq!(
        ids(&s.account_transfers(&only_debits).unwrap()),
        debits_of_1
    );

    let t = d.transfers[20];
    #[rustfmt::skip]
    let cases: Vec<(&str, AccountFilter)> = vec![
        ("everything", af(1)),
        ("high-bit id", af(HIGH)),
        ("debits", only_debits),
        ("credits", AccountFilter { debits: false, ..af(1) }),
        ("user_data_128", AccountFilter { user_data_128: 0xaa, ..af(1) }),
        ("user_data_128 max", AccountFilter { user_data_128: u128::MAX, ..af(2) }),
        ("user_data_64", AccountFilter { user_data_64: 5, ..af(1) }),
        ("user_data_64 above i64", AccountFilter { user_data_64: u64::MAX, ..af(2) }),
        ("user_data_32", AccountFilter { user_data_32: 7, ..af(1) }),
        ("user_data_32 max", AccountFilter { user_data_32: u32::MAX, ..af(HIGH) }),
        ("code", AccountFilter { code: 2, ..af(1) }),
        ("code and user data", AccountFilter { code: 3, user_data_32: 7, ..af(2) }),
        ("no such code", AccountFilter { code: 99, ..af(1) }),
        ("reversed", AccountFilter { reversed: true, ..af(1) }),
        ("reversed debits", AccountFilter { reversed: true, credits: false, ..af(2) }),
        ("limit 1", AccountFilter { limit: 1, ..af(1) }),
        ("limit 1 reversed", AccountFilter { limit: 1, reversed: true, ..af(1) }),
        ("limit 3 debits", AccountFilter { limit: 3, credits: false, ..af(2) }),
        ("from a timestamp", AccountFilter { timestamp_min: t.timestamp, ..af(1) }),
        ("up to a timestamp", AccountFilter { timestamp_max: t.timestamp, ..af(1) }),
        ("one timestamp", AccountFilter { timestamp_min: t.timestamp, timestamp_max: t.timestamp, ..af(t.debit_account_id.0) }),
        ("between timestamps", AccountFilter { timestamp_min: t.timestamp + 1, timestamp_max: t.timestamp + 9, ..af(t.debit_account_id.0) }),
        ("range reversed limited", AccountFilter { timestamp_min: 1500, timestamp_max: 1900, reversed: true, limit: 2, ..af(2) }),
        ("range at the maximum", AccountFilter { timestamp_max: TIMESTAMP_MAX, ..af(1) }),
        ("account without transfers", af(424242)),
    ];
    for (name, filter) in &cases {
        let got = s.account_transfers(filter).unwrap();
        assert_eq!(got, expect_account_transfers(&d, filter), "{name}");
    }
    let one = AccountFilter {
        timestamp_min: t.timestamp,
        timestamp_max: t.timestamp,
        ..af(t.debit_account_id.0)
    };
    assert_eq!(s.account_transfers(&one).unwrap(), vec![t]);
    let reversed = s
        .account_transfers(&AccountFilter {
            reversed: true,
            ..af(1)
        })
        .unwrap();
    let mut back = all_of_1.clone();
    back.reverse();
    assert_eq!(ids(&reversed), back);
}

fn account_transfers_sweep(s: &mut dyn Store) {
    let d = write_data(s);
    let mid = d.transfers[30].timestamp;
    let mut checked = 0;
    for account in [1, 2, 4, HIGH] {
        for (debits, credits) in [(true, true), (true, false), (false, true)] {
            for ud128 in [0, 0xaa] {
                for ud64 in [0, 5] {
                    for ud32 in [0, 7] {
                        for code in [0, 2] {
                            for (min, max) in [(0, 0), (mid, 0), (0, mid), (mid - 95, mid + 95)] {
                                for (limit, reversed) in [(8190, false), (2, true)] {
                                    let f = AccountFilter {
                                        account_id: AccountId(account),
                                        user_data_128: ud128,
                                        user_data_64: ud64,
                                        user_data_32: ud32,
                                        code,
                                        timestamp_min: min,
                                        timestamp_max: max,
                                        limit,
                                        debits,
                                        credits,
                                        reversed,
                                    };
                                    let got = s.account_transfers(&f).unwrap();
                                    assert_eq!(got, expect_account_transfers(&d, &f), "{f:?}");
                                    checked += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 4 * 3 * 16 * 4 * 2);
}

fn account_balances_follow_the_transfers(s: &mut dyn Store) {
    let d = write_data(s);
    let of_1: Vec<AccountBalance> = d
        .history
        .iter()
        .filter(|b| b.account_id.0 == 1)
        .copied()
        .collect();
    assert!(of_1.len() > 10);
    assert_eq!(s.account_balances(&af(1)).unwrap(), of_1);
    assert_eq!(
        s.account_balances(&af(2)).unwrap(),
        [],
        "no history flag: no balances"
    );
    let last = of_1.last().unwrap();
    let after_last = AccountFilter {
        limit: 1,
        reversed: true,
        ..af(1)
    };
    assert_eq!(s.account_balances(&after_last).unwrap(), [*last]);
    let t = d.transfers[25];
    #[rustfmt::skip]
    let cases: Vec<(&str, AccountFilter)> = vec![
        ("everything", af(3)),
        ("account 8 (ledger 2, created later)", af(8)),
        ("debits", AccountFilter { credits: false, ..af(1) }),
        ("credits", AccountFilter { debits: false, ..af(1) }),
        ("user_data_128", AccountFilter { user_data_128: 0xaa, ..af(1) }),
        ("user_data_64", AccountFilter { user_data_64: 6, ..af(1) }),
        ("user_data_64 above i64", AccountFilter { user_data_64: u64::MAX, ..af(3) }),
        ("user_data_32", AccountFilter { user_data_32: u32::MAX, ..af(3) }),
        ("code", AccountFilter { code: 1, ..af(1) }),
        ("code and side", AccountFilter { code: 3, debits: false, ..af(3) }),
        ("reversed", AccountFilter { reversed: true, ..af(1) }),
        ("limit", AccountFilter { limit: 4, ..af(1) }),
        ("reversed limit debits", AccountFilter { limit: 2, reversed: true, credits: false, ..af(1) }),
        ("from", AccountFilter { timestamp_min: t.timestamp, ..af(1) }),
        ("up to", AccountFilter { timestamp_max: t.timestamp, ..af(1) }),
        ("between", AccountFilter { timestamp_min: t.timestamp - 100, timestamp_max: t.timestamp + 100, ..af(3) }),
        ("unknown account", af(424242)),
    ];
    for (name, filter) in &cases {
        let got = s.account_balances(filter).unwrap();
        assert_eq!(got, expect_account_balances(&d, filter), "{name}");
    }
    for ud in UD128 {
        for code in [0, 1, 2, 3] {
            for (debits, credits) in [(true, true), (true, false), (false, true)] {
                for reversed in [false, true] {
                    let f = AccountFilter {
                        user_data_128: ud,
                        code,
                        debits,
                        credits,
                        reversed,
                        limit: 3,
                        ..af(1)
                    };
                    let got = s.account_balances(&f).unwrap();
                    assert_eq!(got, expect_account_balances(&d, &f), "{f:?}");
                }
            }
        }
    }
}

fn qf() -> QueryFilter {
    QueryFilter::default()
}

fn query_transfers_by_each_field(s: &mut dyn Store) {
    let d = write_data(s);
    assert_eq!(s.query_transfers(&qf()).unwrap(), d.transfers);
    let mut newest_first = d.transfers.clone();
    newest_first.reverse();
    let reversed = QueryFilter {
        reversed: true,
        ..qf()
    };
    assert_eq!(s.query_transfers(&reversed).unwrap(), newest_first);
    let t = d.transfers[33];
    #[rustfmt::skip]
    let cases: Vec<(&str, QueryFilter)> = vec![
        ("user_data_128", QueryFilter { user_data_128: 0xbb, ..qf() }),
        ("user_data_128 max", QueryFilter { user_data_128: u128::MAX, ..qf() }),
        ("user_data_64", QueryFilter { user_data_64: 6, ..qf() }),
        ("user_data_64 above i64", QueryFilter { user_data_64: u64::MAX, ..qf() }),
        ("user_data_32", QueryFilter { user_data_32: 7, ..qf() }),
        ("user_data_32 max", QueryFilter { user_data_32: u32::MAX, ..qf() }),
        ("ledger", QueryFilter { ledger: 2, ..qf() }),
        ("code", QueryFilter { code: 3, ..qf() }),
        ("ledger and code", QueryFilter { ledger: 1, code: 2, ..qf() }),
        ("every field", QueryFilter { user_data_128: t.user_data_128, user_data_64: t.user_data_64, user_data_32: t.user_data_32, ledger: t.ledger, code: t.code, ..qf() }),
        ("nothing matches", QueryFilter { ledger: 3, ..qf() }),
        ("limit", QueryFilter { limit: 5, ..qf() }),
        ("reversed limit by code", QueryFilter { limit: 2, reversed: true, code: 1, ..qf() }),
        ("one timestamp", QueryFilter { timestamp_min: t.timestamp, timestamp_max: t.timestamp, ..qf() }),
        ("between timestamps", QueryFilter { timestamp_min: t.timestamp + 1, timestamp_max: t.timestamp + 9, ..qf() }),
        ("from", QueryFilter { timestamp_min: t.timestamp, user_data_128: 0xaa, ..qf() }),
        ("up to, reversed", QueryFilter { timestamp_max: t.timestamp, reversed: true, ledger: 1, ..qf() }),
        ("up to the maximum", QueryFilter { timestamp_max: TIMESTAMP_MAX, code: 2, ..qf() }),
    ];
    for (name, filter) in &cases {
        let got = s.query_transfers(filter).unwrap();
        assert_eq!(got, expect_query_transfers(&d, filter), "{name}");
    }
    let one = QueryFilter {
        timestamp_min: t.timestamp,
        timestamp_max: t.timestamp,
        ..qf()
    };
    assert_eq!(s.query_transfers(&one).unwrap(), vec![t]);
}

fn query_sweep(s: &mut dyn Store) {
    let d = write_data(s);
    let mid = d.transfers[30].timestamp;
    let mut checked = 0;
    for ud128 in [0, 0xaa] {
        for ud64 in [0, u64::MAX] {
            for ud32 in [0, 7] {
                for ledger in [0, 1, 2] {
                    for code in [0, 10, 2] {
                        for (min, max) in [(0, 0), (mid, 0), (1_020, mid)] {
                            for (limit, reversed) in [(8190, false), (3, true), (1, false)] {
                                let f = QueryFilter {
                                    user_data_128: ud128,
                                    user_data_64: ud64,
                                    user_data_32: ud32,
                                    ledger,
                                    code,
                                    timestamp_min: min,
                                    timestamp_max: max,
                                    limit,
                                    reversed,
                                };
                                let got = s.query_transfers(&f).unwrap();
                                assert_eq!(got, expect_query_transfers(&d, &f), "{f:?}");
                                let got = s.query_accounts(&f).unwrap();
                                assert_eq!(got, expect_query_accounts(&d, &f), "{f:?}");
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 8 * 9 * 9);
}

fn query_accounts_with_current_balances(s: &mut dyn Store) {
    let d = write_data(s);
    let all = s.query_accounts(&qf()).unwrap();
    assert_eq!(all, d.accounts, "creation order, current balances");
    assert!(
        all.iter()
            .any(|a| a.debits_posted > 0 && a.credits_posted > 0),
        "balances moved"
    );
    let mut by_id = s.accounts().unwrap();
    by_id.sort_by_key(|a| a.timestamp);
    assert_eq!(all, by_id, "the same balances as Store::accounts");
    #[rustfmt::skip]
    let cases: Vec<(&str, QueryFilter, Vec<u128>)> = vec![
        ("user_data_128", QueryFilter { user_data_128: 0xaa, ..qf() }, vec![1, 3, 7]),
        ("user_data_128 max", QueryFilter { user_data_128: u128::MAX, ..qf() }, vec![HIGH]),
        ("user_data_64", QueryFilter { user_data_64: 5, ..qf() }, vec![1, 4, 8]),
        ("user_data_64 above i64", QueryFilter { user_data_64: u64::MAX, ..qf() }, vec![5, HIGH]),
        ("user_data_32", QueryFilter { user_data_32: 7, ..qf() }, vec![1, 4, 7]),
        ("ledger", QueryFilter { ledger: 2, ..qf() }, vec![4, 5, 8]),
        ("code", QueryFilter { code: 10, ..qf() }, vec![1, 2, 5, 7]),
        ("ledger and code", QueryFilter { ledger: 1, code: 10, ..qf() }, vec![1, 2, 7]),
        ("user data and ledger", QueryFilter { user_data_64: 5, ledger: 2, ..qf() }, vec![4, 8]),
        ("reversed", QueryFilter { reversed: true, code: 10, ..qf() }, vec![7, 5, 2, 1]),
        ("limit", QueryFilter { limit: 2, ..qf() }, vec![1, 2]),
        ("reversed limit", QueryFilter { limit: 3, reversed: true, ..qf() }, vec![8, 7, HIGH]),
        ("from", QueryFilter { timestamp_min: d.account(7).timestamp, ..qf() }, vec![7, 8]),
        ("up to", QueryFilter { timestamp_max: d.account(2).timestamp, ..qf() }, vec![1, 2]),
        ("one", QueryFilter { timestamp_min: d.account(3).timestamp, timestamp_max: d.account(3).timestamp, ..qf() }, vec![3]),
        ("between", QueryFilter { timestamp_min: d.account(3).timestamp + 1, timestamp_max: d.account(4).timestamp - 1, ..qf() }, vec![]),
    ];
    for (name, filter, expected) in &cases {
        let got = s.query_accounts(filter).unwrap();
        assert_eq!(got, expect_query_accounts(&d, filter), "{name}");
        assert_eq!(&account_ids(&got), expected, "{name}");
    }
}

fn lookup_accounts_in_order(s: &mut dyn Store) {
    let d = write_data(s);
    let asked = [HIGH, 424242, 1, 8, 1, 0, u128::MAX];
    let found = s.lookup_accounts(&asked.map(AccountId)).unwrap();
    assert_eq!(
        found,
        vec![
            *d.account(HIGH),
            *d.account(1),
            *d.account(8),
            *d.account(1)
        ],
        "in the order asked, repeats repeated, missing left out, current balances"
    );
    assert_eq!(s.lookup_accounts(&[]).unwrap(), []);
    // More ids than one SQL lookup takes.
    let many: Vec<AccountId> = (0..200u128).map(|i| AccountId(i % 10)).collect();
    let found = s.lookup_accounts(&many).unwrap();
    let expected: Vec<Account> = many
        .iter()
        .filter_map(|id| d.accounts.iter().find(|a| a.id == *id).copied())
        .collect();
    assert_eq!(found, expected);
}

/// Pages of 7, oldest first and newest first, add up to the whole answer.
fn pages_walk_the_whole_answer(s: &mut dyn Store) {
    let d = write_data(s);
    let whole = expect_query_transfers(&d, &qf());
    for reversed in [false, true] {
        let mut filter = QueryFilter {
            limit: 7,
            reversed,
            ..qf()
        };
        let mut walked: Vec<Transfer> = Vec::new();
        loop {
            let page = s.query_transfers(&filter).unwrap();
            walked.extend(&page);
            if page.len() < 7 {
                break;
            }
            let last = page.last().unwrap().timestamp;
            if reversed {
                filter.timestamp_max = last - 1;
            } else {
                filter.timestamp_min = last + 1;
            }
        }
        let mut expected = whole.clone();
        if reversed {
            expected.reverse();
        }
        assert_eq!(walked, expected, "reversed: {reversed}");
    }
    let mut filter = AccountFilter { limit: 3, ..af(2) };
    let mut walked: Vec<Transfer> = Vec::new();
    loop {
        let page = s.account_transfers(&filter).unwrap();
        walked.extend(&page);
        if page.len() < 3 {
            break;
        }
        filter.timestamp_min = page.last().unwrap().timestamp + 1;
    }
    assert_eq!(walked, expect_account_transfers(&d, &af(2)));
}

/// Filters TigerBeetle refuses answer nothing.
fn invalid_filters_answer_nothing(s: &mut dyn Store) {
    let d = write_data(s);
    let t = d.transfers[10];
    let bad_account_filters = [
        AccountFilter { limit: 0, ..af(1) },
        AccountFilter {
            limit: QUERY_LIMIT_MAX + 1,
            ..af(1)
        },
        AccountFilter {
            debits: false,
            credits: false,
            ..af(1)
        },
        af(0),
        af(u128::MAX),
        AccountFilter {
            timestamp_min: t.timestamp + 1,
            timestamp_max: t.timestamp,
            ..af(1)
        },
        AccountFilter {
            timestamp_min: TIMESTAMP_MAX + 1,
            ..af(1)
        },
        AccountFilter {
            timestamp_max: u64::MAX,
            ..af(1)
        },
    ];
    for f in &bad_account_filters {
        assert!(f.check().is_err(), "{f:?}");
        assert_eq!(s.account_transfers(f).unwrap(), [], "{f:?}");
        assert_eq!(s.account_balances(f).unwrap(), [], "{f:?}");
    }
    let bad_query_filters = [
        QueryFilter { limit: 0, ..qf() },
        QueryFilter {
            limit: QUERY_LIMIT_MAX + 1,
            ..qf()
        },
        QueryFilter {
            timestamp_min: 5,
            timestamp_max: 4,
            ..qf()
        },
        QueryFilter {
            timestamp_max: TIMESTAMP_MAX + 1,
            ..qf()
        },
        QueryFilter {
            timestamp_min: u64::MAX,
            ..qf()
        },
    ];
    for f in &bad_query_filters {
        assert!(f.check().is_err(), "{f:?}");
        assert_eq!(s.query_transfers(f).unwrap(), [], "{f:?}");
        assert_eq!(s.query_accounts(f).unwrap(), [], "{f:?}");
    }
}

/// `limit` = [`QUERY_LIMIT_MAX`] answers 8,190 items, and the next page the rest.
fn limits_at_the_maximum(s: &mut dyn Store) {
    s.init(&StoreMeta {
        operator_public_key: [1; 32],
    })
    .unwrap();
    let max = QUERY_LIMIT_MAX as usize;
    let mut w = Writer::new();
    let created: Vec<Account> = (1..=max as u128)
        .map(|id| account(id, 1, 10, (0, 0, 0), id == 1))
        .collect();
    w.block(s, created, Vec::new());
    let transfer = |i: usize| Transfer {
        id: TransferId(1_000_000 + i as u128),
        debit_account_id: AccountId(1),
        credit_account_id: AccountId(2 + (i % (max - 1)) as u128),
        amount: 1,
        user_data_128: 0xcc,
        ledger: 1,
        code: 4,
        ..Transfer::default()
    };
    w.block(s, Vec::new(), (0..max).map(transfer).collect());
    w.block(s, Vec::new(), (max..max + 5).map(transfer).collect());
    let d = w.data;

    let full = s.account_transfers(&af(1)).unwrap();
    assert_eq!(full.len(), max);
    assert_eq!(full, d.transfers[..max]);
    let rest = AccountFilter {
        timestamp_min: full.last().unwrap().timestamp + 1,
        ..af(1)
    };
    assert_eq!(s.account_transfers(&rest).unwrap(), d.transfers[max..]);
    let newest = AccountFilter {
        reversed: true,
        ..af(1)
    };
    let newest = s.account_transfers(&newest).unwrap();
    assert_eq!(newest.len(), max);
    assert_eq!(newest[0], d.transfers[max + 4]);
    assert_eq!(s.account_balances(&af(1)).unwrap().len(), max);

    let by_code = QueryFilter { code: 4, ..qf() };
    assert_eq!(s.query_transfers(&by_code).unwrap(), d.transfers[..max]);
    let by_user_data = QueryFilter {
        user_data_128: 0xcc,
        reversed: true,
        ..qf()
    };
    assert_eq!(s.query_transfers(&by_user_data).unwrap().len(), max);
    let accounts = s.query_accounts(&qf()).unwrap();
    assert_eq!(accounts.len(), max);
    assert_eq!(accounts, d.accounts);

    let ids: Vec<AccountId> = (1..=max as u128).map(AccountId).collect();
    assert_eq!(s.lookup_accounts(&ids).unwrap(), d.accounts);

    let over = AccountFilter {
        limit: QUERY_LIMIT_MAX + 1,
        ..af(1)
    };
    assert_eq!(s.account_transfers(&over).unwrap(), []);
}

macro_rules! for_every_backend {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[test] fn $name() { super::$name(&mut store::memory::MemoryStore::new()); })*
        }
        mod sqlite {
            $(#[test] fn $name() { let mut t = super::SqliteFixture::new(); super::$name(&mut t.store); })*
        }
        mod postgres {
            $(#[test] fn $name() { let mut t = super::PgFixture::new(stringify!($name)); super::$name(&mut t.store); })*
        }
    };
}

for_every_backend!(
    account_transfers_by_each_field,
    account_transfers_sweep,
    account_balances_follow_the_transfers,
    query_transfers_by_each_field,
    query_sweep,
    query_accounts_with_current_balances,
    lookup_accounts_in_order,
    pages_walk_the_whole_answer,
    invalid_filters_answer_nothing,
    limits_at_the_maximum,
);

// ---------------------------------------------------------------------------------------------
// Fixtures (as in suite.rs)

// ---------------------------------------------------------------------------------------------
// Backend-specific behaviours

/// Table scans and index walks of the store's own session, by table and index name.
/// Counters by table or index name.
type Counters = Vec<(String, i64)>;

fn pg_scans(c: &mut ::postgres::Client) -> (Counters, Counters) {
    // Publish this session's counters, then read them afresh.
    c.batch_execute("SELECT pg_stat_force_next_flush()")
        .unwrap();
    c.batch_execute("SELECT pg_stat_clear_snapshot()").unwrap();
    let tables = c
        .query(
            "SELECT relname::text, seq_scan FROM pg_stat_user_tables
             WHERE schemaname = current_schema() ORDER BY relname",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let indexes = c
        .query(
            "SELECT indexrelname::text, idx_scan FROM pg_stat_user_indexes
             WHERE schemaname = current_schema() ORDER BY indexrelname",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    (tables, indexes)
}

/// With sequential scans priced out, every query finds an index path (a table without one
/// would still be scanned, and counted), and each `query_transfers` walks the index of its
/// most selective field.
#[test]
fn postgres_queries_use_the_indexes() {
    let mut t = PgFixture::new("query_plans");
    // Enough rows that the planner's choices are the ones a real ledger gets.
    let mut w = write_data_with(&mut t.store);
    let many: Vec<Account> = (0..4000u128)
        .map(|i| account(100_000 + i, 3, 40, (0, 0, 0), false))
        .collect();
    w.block(&mut t.store, many, Vec::new());
    let filler = |i: u128| Transfer {
        id: TransferId(200_000 + i),
        debit_account_id: AccountId(100_000 + i % 4000),
        credit_account_id: AccountId(100_000 + (i + 1) % 4000),
        amount: 1,
        ledger: 3,
        code: 9,
        ..Transfer::default()
    };
    w.block(&mut t.store, Vec::new(), (0..8000).map(filler).collect());
    t.store
        .client()
        .batch_execute(
            "ANALYZE transfers; ANALYZE accounts; ANALYZE account_history;
             ANALYZE account_balances; SET enable_seqscan = off",
        )
        .unwrap();
    let (tables_before, _) = pg_scans(t.store.client());
    let walks = |t: &mut PgFixture, run: &dyn Fn(&mut PostgresStore)| -> Vec<String> {
        let (_, before) = pg_scans(t.store.client());
        run(&mut t.store);
        let (_, after) = pg_scans(t.store.client());
        after
            .iter()
            .zip(&before)
            .filter(|(a, b)| a.1 > b.1)
            .map(|(a, _)| a.0.clone())
            .collect()
    };
    #[rustfmt::skip]
    let cases: Vec<(QueryFilter, &str)> = vec![
        (QueryFilter { user_data_128: 0xaa, code: 2, ..qf() }, "transfers_by_user_data_128"),
        (QueryFilter { user_data_64: 5, ledger: 1, ..qf() }, "transfers_by_user_data_64"),
        (QueryFilter { user_data_32: 7, ..qf() }, "transfers_by_user_data_32"),
        (QueryFilter { code: 2, reversed: true, ..qf() }, "transfers_by_code"),
        (QueryFilter { timestamp_min: 1_500, ..qf() }, "transfers_by_timestamp"),
    ];
    for (filter, index) in cases {
        let used = walks(&mut t, &|s| {
            s.query_transfers(&filter).unwrap();
        });
        assert!(used.iter().any(|u| u == index), "{filter:?}: {used:?}");
    }
    let used = walks(&mut t, &|s| {
        s.account_transfers(&af(1)).unwrap();
    });
    assert!(
        used.contains(&"transfers_by_debit".into()) && used.contains(&"transfers_by_credit".into()),
        "{used:?}"
    );
    let used = walks(&mut t, &|s| {
        s.account_balances(&AccountFilter { code: 1, ..af(1) })
            .unwrap();
    });
    assert!(
        used.contains(&"account_history_by_account_timestamp".into()),
        "{used:?}"
    );
    let used = walks(&mut t, &|s| {
        s.query_accounts(&QueryFilter { ledger: 2, ..qf() })
            .unwrap();
    });
    assert!(used.contains(&"accounts_by_ledger".into()), "{used:?}");
    let used = walks(&mut t, &|s| {
        s.lookup_accounts(&[AccountId(1), AccountId(5)]).unwrap();
    });
    assert!(used.contains(&"accounts_id".into()), "{used:?}");
    let (tables_after, _) = pg_scans(t.store.client());
    for (before, after) in tables_before.iter().zip(&tables_after) {
        if [
            "transfers",
            "accounts",
            "account_history",
            "account_balances",
        ]
        .contains(&before.0.as_str())
        {
            assert_eq!(before, after, "no table scan");
        }
    }
}

/// A store at schema version 3 (before the queries) gets the indexes when opened, and its
/// existing rows are found through them.
#[test]
fn sqlite_migration_4_indexes_existing_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let d = {
        let mut s = SqliteStore::open(&path).unwrap();
        let d = write_data(&mut s);
        let c = s.connection();
        c.execute_batch(common::SQLITE_DROP_MIGRATION_8).unwrap();
        c.execute_batch(
            "DROP TABLE authorizations; DROP TABLE authorization_cancels; DROP TABLE records;
             DROP TABLE transfer_accounts; DROP TABLE transfer_account_runs;
             DROP INDEX transfers_by_code; DROP INDEX transfers_by_user_data_128;
             DROP INDEX transfers_by_user_data_64; DROP INDEX transfers_by_user_data_32;
             DROP INDEX accounts_by_timestamp; DROP INDEX accounts_by_ledger;
             DROP INDEX accounts_by_code; DROP INDEX accounts_by_user_data_128;
             DROP INDEX accounts_by_user_data_64; DROP INDEX accounts_by_user_data_32;
             DROP INDEX account_history_by_account_timestamp;
             CREATE INDEX account_history_by_account ON account_history (account_id);
             PRAGMA user_version = 3;",
        )
        .unwrap();
        d
    };
    let mut s = SqliteStore::open(&path).unwrap();
    let version: i64 = s
        .connection()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        version,
        store::sqlite::SCHEMA_VERSION,
        "migrated to the latest version"
    );
    assert_eq!(
        s.account_transfers(&af(1)).unwrap(),
        expect_account_transfers(&d, &af(1))
    );
    let by_code = QueryFilter { code: 2, ..qf() };
    assert_eq!(
        s.query_transfers(&by_code).unwrap(),
        expect_query_transfers(&d, &by_code)
    );
    assert_eq!(s.account_history(AccountId(1)).unwrap().len(), {
        d.history.iter().filter(|b| b.account_id.0 == 1).count()
    });
}

/// SQLite indexes account sides in runs of `IDS_DEFERRED_MAX` transfers plus an unindexed
/// tail: answers must be the oracle's across several runs and the tail, both orders, with
/// timestamp windows and limits that end inside a run, at a run's edge and in the tail.
#[test]
fn sqlite_account_runs_and_tail_answer_like_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(&dir.path().join("runs.db")).unwrap();
    let mut w = write_data_with(&mut s);
    let run = store::sqlite::IDS_DEFERRED_MAX;
    let total = 2 * run + run / 3;
    let mut next = 100;
    while next < total {
        let size = (total - next).min(997);
        w.block(
            &mut s,
            Vec::new(),
            (next..next + size).map(nth_transfer).collect(),
        );
        next += size;
    }
    let d = &w.data;
    let middle = d.transfers[d.transfers.len() / 2].timestamp;
    let late = d.transfers[d.transfers.len() - 50].timestamp;
    for account in [1, 2, 3] {
        for (limit, reversed) in [
            (8190, false),
            (8190, true),
            (700, false),
            (700, true),
            (3, true),
        ] {
            for (timestamp_min, timestamp_max) in [(0, 0), (middle, 0), (0, middle), (late, 0)] {
                let filter = AccountFilter {
                    limit,
                    reversed,
                    timestamp_min,
                    timestamp_max,
                    ..af(account)
                };
                assert_eq!(
                    s.account_transfers(&filter).unwrap(),
                    expect_account_transfers(d, &filter),
                    "{filter:?}"
                );
            }
        }
    }
}
