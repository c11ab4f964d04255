//! One suite of store behaviours, run against every backend: `memory::*`, `sqlite::*` and
//! `postgres::*`. The PostgreSQL variants need `MILEVERSE_TEST_DATABASE_URL` (start a server
//! with `eval "$(bash scripts/pg.sh env)"`); without it they fail. Each of them works in a
//! fresh schema of its own, dropped at the end.

use std::sync::Arc;

mod common;

use common::{PgFixture, SqliteFixture, database_tls, database_url};
use ledger::engine::{PendingStatus, StoredTransfer};
use ledger::merkle::MerkleNode;
use ledger::types::{
    Account, AccountBalance, AccountFlags, AccountId, BlockHeader, CreateTransferResult, Hash,
    Transfer, TransferFlags, TransferId,
};
use store::memory::{FaultPlan, MemoryStore};
use store::naive::NaivePostgresLedger;
use store::postgres::{BulkMode, PostgresStore};
use store::sqlite::SqliteStore;
use store::tables::{ROWS_PER_APPEND_MAX, Row, RowRef, TableRead, TableTx};
use store::{
    BlockRecord, BlockWrite, LEAF_RANGE_MAX, LOOKUP_IDS_MAX, SnapshotRecord, Store, StoreError,
    StoreMeta,
};

// ---------------------------------------------------------------------------------------------
// Data

fn h32(seed: u64, tag: u8) -> [u8; 32] {
    let mut out = [tag; 32];
    out[..8].copy_from_slice(&seed.to_be_bytes());
    out
}

fn account(id: u128, timestamp: u64) -> Account {
    Account {
        id: AccountId(id),
        user_data_128: id.wrapping_mul(7),
        user_data_64: timestamp ^ 0xdead_beef,
        user_data_32: id as u32,
        ledger: 1,
        code: 10,
        flags: AccountFlags::empty(),
        timestamp,
        ..Account::default()
    }
}

fn transfer(id: u128, debit: u128, credit: u128, amount: u128, timestamp: u64) -> Transfer {
    Transfer {
        id: TransferId(id),
        debit_account_id: AccountId(debit),
        credit_account_id: AccountId(credit),
        amount,
        pending_id: TransferId(0),
        user_data_128: id << 64 | 3,
        user_data_64: timestamp / 3,
        user_data_32: (id % 1000) as u32,
        timeout: 0,
        ledger: 1,
        code: 20,
        flags: TransferFlags::empty(),
        timestamp,
    }
}

/// Makes consecutive blocks with consistent heights and log sizes.
#[derive(Default, Clone)]
struct Chain {
    height: u64,
    tree_size: u64,
}

impl Chain {
    /// The next block; created accounts are also in `accounts_changed`.
    fn block(&mut self, accounts: Vec<Account>, transfers: Vec<Transfer>) -> BlockWrite {
        let height = self.height;
        self.height += 1;
        self.tree_size += transfers.len() as u64;
        let mut signature = [0u8; 64];
        signature[..8].copy_from_slice(&height.to_le_bytes());
        signature[63] = 0xfe;
        BlockWrite {
            block: BlockRecord {
                header: BlockHeader {
                    height,
                    previous_hash: if height == 0 {
                        [0; 32]
                    } else {
                        h32(height - 1, 0xaa)
                    },
                    timestamp: 1_700_000_000_000_000_000 + height,
                    account_count: accounts.len() as u32,
                    transfer_count: transfers.len() as u32,
                    accounts_digest: h32(height, 0xdd),
                    tree_size: self.tree_size,
                    merkle_root: h32(height, 0x77),
                },
                hash: h32(height, 0xaa),
                signature,
                accounts: accounts.clone(),
                transfers,
            },
            accounts_changed: accounts,
            ..BlockWrite::default()
        }
    }
}

fn meta(byte: u8) -> StoreMeta {
    StoreMeta {
        operator_public_key: [byte; 32],
    }
}

fn records(writes: &[BlockWrite]) -> Vec<BlockRecord> {
    writes.iter().map(|w| w.block.clone()).collect()
}

fn read_all(s: &mut dyn Store) -> Vec<BlockRecord> {
    s.read_blocks(0, usize::MAX).unwrap()
}

/// Three blocks: accounts 1..=4 in block 0, transfers in blocks 1 and 2 (3 and 4 of them).
fn three_blocks() -> Vec<BlockWrite> {
    let mut c = Chain::default();
    vec![
        c.block(
            (1..=4).map(|i| account(i, 100 + i as u64)).collect(),
            vec![],
        ),
        c.block(
            vec![],
            (0..3)
                .map(|i| transfer(1000 + i, 1, 2, 5, 200 + i as u64))
                .collect(),
        ),
        c.block(
            vec![],
            (0..4)
                .map(|i| transfer(2000 + i, 3, 4, 7, 300 + i as u64))
                .collect(),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Behaviours every backend must have

fn init_pins_the_key(s: &mut dyn Store) {
    assert_eq!(s.init(&meta(1)).unwrap(), meta(1));
    assert_eq!(
        s.init(&meta(2)).unwrap(),
        meta(1),
        "second init must return the pinned key"
    );
    assert_eq!(s.init(&meta(1)).unwrap(), meta(1));
    assert_eq!(s.block_count().unwrap(), 0);
    assert!(read_all(s).is_empty());
    assert!(s.accounts().unwrap().is_empty());
}

fn round_trip_all_fields(s: &mut dyn Store) {
    s.init(&meta(9)).unwrap();
    let big = (1u128 << 64) + 12345;
    let ids = [u128::MAX - 1, 1, 256, 1 << 64, big];
    let mut accounts: Vec<Account> = ids
        .iter()
        .enumerate()
        .map(|(i, &id)| account(id, 10 + i as u64))
        .collect();
    accounts[0].user_data_128 = u128::MAX;
    accounts[0].user_data_64 = u64::MAX;
    accounts[0].user_data_32 = u32::MAX;
    accounts[0].ledger = u32::MAX;
    accounts[0].code = u16::MAX;
    accounts[0].timestamp = u64::MAX;
    accounts[1].flags = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags::HISTORY;
    accounts[2].flags = AccountFlags(u16::MAX);
    accounts[3].user_data_64 = i64::MAX as u64 + 1;

    let mut t0 = transfer(u128::MAX - 1, ids[0], ids[1], u128::MAX, u64::MAX);
    t0.pending_id = TransferId(big);
    t0.user_data_128 = u128::MAX;
    t0.user_data_64 = u64::MAX;
    t0.user_data_32 = u32::MAX;
    t0.timeout = u32::MAX;
    t0.ledger = u32::MAX;
    t0.code = u16::MAX;
    t0.flags = TransferFlags(u16::MAX);
    let mut t1 = transfer(big, ids[3], ids[4], big, i64::MAX as u64 + 7);
    t1.flags = TransferFlags::PENDING;
    t1.timeout = 60;
    let t2 = transfer(1, ids[4], ids[3], 1, 0);

    let mut c = Chain::default();
    // The pending transfer comes before t0, which (every flag set) posts and voids it.
    let mut w = c.block(accounts.clone(), vec![t1, t0, t2]);
    w.block.header.timestamp = u64::MAX;
    w.block.signature = [0xff; 64];
    // Current rows: balances at the extremes, and a flag changed since creation.
    for (i, a) in w.accounts_changed.iter_mut().enumerate() {
        a.debits_pending = u128::MAX - i as u128;
        a.debits_posted = big + i as u128;
        a.credits_pending = 1 << 127;
        a.credits_posted = u64::MAX as u128 + 1;
    }
    w.accounts_changed[1].flags = accounts[1].flags | AccountFlags::CLOSED;
    w.history = vec![AccountBalance {
        account_id: AccountId(ids[1]),
        timestamp: u64::MAX - 5,
        debits_pending: u128::MAX,
        debits_posted: big,
        credits_pending: 0,
        credits_posted: 1 << 100,
    }];
    s.append(std::slice::from_ref(&w)).unwrap();

    assert_eq!(s.block_count().unwrap(), 1);
    let back = read_all(s);
    assert_eq!(
        back,
        vec![w.block.clone()],
        "block body must come back exactly, creation flags included"
    );
    let mut expect = w.accounts_changed.clone();
    expect.sort_by_key(|a| a.id);
    assert_eq!(
        s.accounts().unwrap(),
        expect,
        "accounts in numeric id order with current balances and flags"
    );
    assert_eq!(s.account_history(AccountId(ids[1])).unwrap(), w.history);
    // Looked up by id: t0 is pending itself (its own status is not resolved), t2 is plain.
    let found = lookup_sorted(s, &[t0.id.0, t2.id.0]);
    assert_eq!(
        found,
        vec![
            stored(t2, None, 2),
            stored(t0, Some(PendingStatus::Pending), 1)
        ]
    );
    assert_eq!(s.transfers_by_leaf(0, 3).unwrap(), w.block.transfers);
    assert_eq!(s.init(&meta(3)).unwrap(), meta(9));
}

fn many_blocks_and_paging(s: &mut dyn Store) {
    s.init(&meta(1)).unwrap();
    let mut c = Chain::default();
    let mut writes = Vec::new();
    let mut next_account = 1u128;
    let mut next_transfer = 1u128;
    for h in 0..25u64 {
        let accounts: Vec<Account> = (0..h % 3)
            .map(|_| {
                next_account += 1;
                account(next_account, h * 10)
            })
            .collect();
        let transfers: Vec<Transfer> = (0..(h * 7) % 5)
            .map(|i| {
                next_transfer += 1;
                transfer(next_transfer, 1, 2, h as u128 + 1, h * 10 + i)
            })
            .collect();
        writes.push(c.block(accounts, transfers));
    }
    // Appends of 1, 3 and 5 blocks at a time.
    let mut at = 0;
    for n in [1, 3, 5].iter().cycle() {
        if at == writes.len() {
            break;
        }
        let end = (at + n).min(writes.len());
        s.append(&writes[at..end]).unwrap();
        at = end;
        assert_eq!(s.block_count().unwrap(), at as u64);
    }
    let all = records(&writes);
    assert_eq!(read_all(s), all);
    for page in [1usize, 4, 7, 25, 100] {
        let mut got = Vec::new();
        let mut from = 0u64;
        loop {
            let batch = s.read_blocks(from, page).unwrap();
            assert!(batch.len() <= page);
            from += batch.len() as u64;
            let done = batch.len() < page;
            got.extend(batch);
            if done {
                break;
            }
        }
        assert_eq!(got, all, "paging by {page}");
    }
    assert_eq!(s.read_blocks(20, 100).unwrap(), all[20..].to_vec());
    assert_eq!(s.read_blocks(7, 3).unwrap(), all[7..10].to_vec());
    assert!(s.read_blocks(25, 10).unwrap().is_empty());
    assert!(s.read_blocks(1000, 10).unwrap().is_empty());
    assert!(s.read_blocks(3, 0).unwrap().is_empty());
}

fn account_upserts_overwrite(s: &mut dyn Store) {
    let mut c = Chain::default();
    let created = vec![account(5, 1), account(6, 2), account(7, 3)];
    s.append(&[c.block(created.clone(), vec![])]).unwrap();

    let mut a5 = created[0];
    a5.debits_posted = 10;
    a5.flags = AccountFlags::CLOSED;
    let mut b1 = c.block(vec![], vec![transfer(1, 5, 6, 10, 10)]);
    let mut a6 = created[1];
    a6.credits_posted = 10;
    b1.accounts_changed = vec![a5, a6];
    s.append(&[b1]).unwrap();
    assert_eq!(s.accounts().unwrap(), vec![a5, a6, created[2]]);

    // Two blocks in one append both change account 5: the later one wins.
    let mut b2 = c.block(vec![account(4, 20)], vec![transfer(2, 5, 7, 1, 20)]);
    let mut a5b = a5;
    a5b.debits_posted = 11;
    a5b.flags = AccountFlags::empty();
    let mut a7 = created[2];
    a7.credits_posted = 1;
    b2.accounts_changed = vec![a5b, a7, account(4, 20)];
    let mut b3 = c.block(vec![], vec![transfer(3, 5, 7, u64::MAX as u128, 30)]);
    let mut a5c = a5b;
    a5c.debits_posted = 11 + u64::MAX as u128;
    let mut a7c = a7;
    a7c.credits_posted = 1 + u64::MAX as u128;
    b3.accounts_changed = vec![a7c, a5c];
    let mut a4 = account(4, 20);
    a4.debits_pending = 3;
    b3.accounts_changed.push(a4);
    s.append(&[b2.clone(), b3]).unwrap();
    assert_eq!(s.accounts().unwrap(), vec![a4, a5c, a6, a7c]);
    // The block that created account 4 still shows it as created (zero balances).
    assert_eq!(
        s.read_blocks(2, 1).unwrap()[0].accounts,
        vec![account(4, 20)]
    );
}

/// Many small appends of balance changes (more than PostgreSQL's balance log holds before
/// it folds into the balance table), then one append that creates an account: the stored
/// balances are the latest at every point.
fn many_small_appends_keep_the_latest_balances(s: &mut dyn Store) {
    let mut c = Chain::default();
    let mut accounts = vec![account(1, 1), account(2, 2), account(3, 3)];
    s.append(&[c.block(accounts.clone(), vec![])]).unwrap();
    let appends = store::postgres::BALANCE_LOG_ROWS_MAX as u128 + 5;
    for n in 1..=appends {
        let (debit, credit) = ((n % 3) as usize, ((n + 1) % 3) as usize);
        let mut block = c.block(
            vec![],
            vec![transfer(
                n,
                debit as u128 + 1,
                credit as u128 + 1,
                n,
                10 + n as u64,
            )],
        );
        accounts[debit].debits_posted += n;
        accounts[credit].credits_posted += n;
        block.accounts_changed = vec![accounts[debit], accounts[credit]];
        s.append(&[block]).unwrap();
        if n % 500 == 0 || n == appends {
            assert_eq!(s.accounts().unwrap(), accounts, "after {n} appends");
        }
    }
    let mut last = c.block(
        vec![account(9, 9_000)],
        vec![transfer(90_000, 1, 9, 7, 9_000)],
    );
    accounts[0].debits_posted += 7;
    let mut created = account(9, 9_000);
    created.credits_posted = 7;
    last.accounts_changed = vec![accounts[0], created];
    s.append(&[last]).unwrap();
    accounts.push(created);
    assert_eq!(s.accounts().unwrap(), accounts);
    assert_eq!(s.block_count().unwrap(), appends as u64 + 2);
}

fn history_is_kept_in_order(s: &mut dyn Store) {
    let mut c = Chain::default();
    let mut a = account(1, 1);
    a.flags = AccountFlags::HISTORY;
    s.append(&[c.block(vec![a, account(2, 2)], vec![])])
        .unwrap();
    let snap = |ts: u64, v: u128| AccountBalance {
        account_id: AccountId(1),
        timestamp: ts,
        debits_pending: 0,
        debits_posted: v,
        credits_pending: v * 2,
        credits_posted: u128::MAX - v,
    };
    let mut expect = Vec::new();
    for round in 0..3u64 {
        let mut w1 = c.block(
            vec![],
            vec![transfer(10 + round as u128, 1, 2, 1, 100 + round)],
        );
        w1.history = vec![
            snap(100 + round * 10, round as u128),
            snap(101 + round * 10, round as u128 + 1),
        ];
        let mut w2 = c.block(vec![], vec![]);
        w2.history = vec![snap(105 + round * 10, round as u128 + 2)];
        expect.extend(w1.history.iter().copied());
        expect.extend(w2.history.iter().copied());
        s.append(&[w1, w2]).unwrap();
    }
    assert_eq!(s.account_history(AccountId(1)).unwrap(), expect);
    assert!(s.account_history(AccountId(2)).unwrap().is_empty());
    assert!(s.account_history(AccountId(99)).unwrap().is_empty());
}

fn out_of_order_append_is_rejected(s: &mut dyn Store) {
    let blocks = three_blocks();
    s.append(&blocks[..1]).unwrap();
    let before = (read_all(s), s.accounts().unwrap());

    match s.append(&blocks[2..3]) {
        Err(StoreError::OutOfOrder {
            expected: 1,
            got: 2,
        }) => {}
        other => panic!("expected OutOfOrder 1/2, got {other:?}"),
    }
    match s.append(&blocks[..1]) {
        Err(StoreError::OutOfOrder {
            expected: 1,
            got: 0,
        }) => {}
        other => panic!("expected OutOfOrder 1/0, got {other:?}"),
    }
    // A batch whose first block fits but the second skips a height writes nothing.
    let mut c = Chain {
        height: 1,
        tree_size: 0,
    };
    let mut b1 = c.block(vec![account(50, 1)], vec![transfer(500, 1, 2, 3, 4)]);
    b1.history = vec![AccountBalance {
        account_id: AccountId(1),
        ..AccountBalance::default()
    }];
    let _skipped = c.block(vec![], vec![]);
    let b3 = c.block(vec![], vec![transfer(501, 1, 2, 3, 4)]);
    match s.append(&[b1, b3]) {
        Err(StoreError::OutOfOrder {
            expected: 2,
            got: 3,
        }) => {}
        other => panic!("expected OutOfOrder 2/3, got {other:?}"),
    }
    // A block whose log size does not follow is refused too.
    let mut bad = blocks[1].clone();
    bad.block.header.tree_size += 1;
    assert!(matches!(
        s.append(&[bad]),
        Err(StoreError::Corrupt { height: 1, .. })
    ));
    // So is a body that does not match its header.
    let mut bad = blocks[1].clone();
    bad.block.transfers.pop();
    assert!(matches!(
        s.append(&[bad]),
        Err(StoreError::Corrupt { height: 1, .. })
    ));

    assert_eq!(s.block_count().unwrap(), 1);
    assert_eq!((read_all(s), s.accounts().unwrap()), before);
    assert!(s.account_history(AccountId(1)).unwrap().is_empty());
    // The chain goes on normally afterwards.
    s.append(&blocks[1..]).unwrap();
    assert_eq!(read_all(s), records(&blocks));
}

fn failed_batch_leaves_nothing(s: &mut dyn Store) {
    let blocks = three_blocks();
    s.append(&blocks[..1]).unwrap();
    let before = (read_all(s), s.accounts().unwrap());

    // Block 1 is fine; block 2 creates account 3, which exists: the database refuses the
    // second block after the first was written inside the same transaction.
    let mut c = Chain {
        height: 1,
        tree_size: 0,
    };
    let mut b1 = c.block(
        vec![account(60, 60)],
        vec![
            transfer(600, 1, 2, 9, 61),
            transfer(601, 2, 1, 9, 62),
            pending(603, 1, 2, 4, 63),
        ],
    );
    b1.merkle_nodes = vec![node(8, 0)];
    let mut a1 = account(1, 101);
    a1.debits_posted = 9;
    a1.credits_posted = 9;
    b1.accounts_changed.push(a1);
    b1.history = vec![AccountBalance {
        account_id: AccountId(1),
        timestamp: 61,
        ..AccountBalance::default()
    }];
    let mut b2 = c.block(
        vec![account(3, 103)],
        vec![
            transfer(602, 1, 2, 1, 64),
            resolve(604, 603, TransferFlags::POST_PENDING_TRANSFER, 65),
        ],
    );
    b2.merkle_nodes = vec![node(8, 1)];
    assert!(
        s.append(&[b1.clone(), b2]).is_err(),
        "an existing account id must be refused"
    );

    assert_eq!(s.block_count().unwrap(), 1);
    assert_eq!(
        (read_all(s), s.accounts().unwrap()),
        before,
        "nothing of the first block may remain"
    );
    assert!(s.account_history(AccountId(1)).unwrap().is_empty());
    assert!(
        s.lookup_transfers(&ids(&[600, 603, 604]))
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.merkle_node(8, 0).unwrap(), None);
    assert!(s.transfers_by_leaf(0, 10).unwrap().is_empty());
    // Nothing half-written blocks the retry of the good block.
    s.append(std::slice::from_ref(&b1)).unwrap();
    assert_eq!(s.read_blocks(1, 5).unwrap(), vec![b1.block.clone()]);
    assert_eq!(s.account_history(AccountId(1)).unwrap(), b1.history);
    assert_eq!(s.merkle_node(8, 0).unwrap(), Some(node(8, 0).hash));
    assert_eq!(s.merkle_node(8, 1).unwrap(), None);
    let found = s.lookup_transfers(&ids(&[603, 604])).unwrap();
    assert_eq!(
        found,
        vec![stored(
            b1.block.transfers[2],
            Some(PendingStatus::Pending),
            2
        )],
        "the failed block's post left no status behind"
    );
}

fn changed_account_must_exist(s: &mut dyn Store) {
    let blocks = three_blocks();
    s.append(&blocks[..1]).unwrap();
    let mut w = blocks[1].clone();
    let mut a1 = account(1, 101);
    a1.debits_posted = 15;
    w.accounts_changed = vec![a1, account(99, 1)];
    match s.append(&[w]) {
        Err(StoreError::Corrupt { height: 1, reason }) => {
            assert!(reason.contains("99"), "{reason}")
        }
        other => panic!("expected a refusal naming block 1, got {other:?}"),
    }
    assert_eq!(s.block_count().unwrap(), 1);
    assert_eq!(s.accounts().unwrap(), blocks[0].block.accounts);
    s.append(&blocks[1..]).unwrap();
    assert_eq!(read_all(s), records(&blocks));
}

/// A block at the engine's limit: 8,190 transfers, with every touched account changed.
fn block_of_8190_transfers(s: &mut dyn Store) {
    const ACCOUNTS: u128 = 1000;
    let mut c = Chain::default();
    let accounts: Vec<Account> = (1..=ACCOUNTS).map(|i| account(i, i as u64)).collect();
    s.append(&[c.block(accounts.clone(), vec![])]).unwrap();

    let mut balances = accounts.clone();
    let transfers: Vec<Transfer> = (0..8190u128)
        .map(|i| {
            let (d, cr) = ((i * 7) % ACCOUNTS, (i * 13 + 1) % ACCOUNTS);
            let cr = if cr == d { (cr + 1) % ACCOUNTS } else { cr };
            let amount = (i << 70) | (i + 1);
            balances[d as usize].debits_posted += amount;
            balances[cr as usize].credits_posted += amount;
            transfer(i + 1, d + 1, cr + 1, amount, 10_000 + i as u64)
        })
        .collect();
    let mut w = c.block(vec![], transfers);
    w.accounts_changed = balances.clone();
    s.append(std::slice::from_ref(&w)).unwrap();

    let back = s.read_blocks(1, 10).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].transfers.len(), 8190);
    assert_eq!(back[0], w.block);
    assert_eq!(s.accounts().unwrap(), balances);
}

// ---------------------------------------------------------------------------------------------
// Lookups, Merkle nodes, readers and snapshots

fn pending(id: u128, debit: u128, credit: u128, amount: u128, timestamp: u64) -> Transfer {
    let mut t = transfer(id, debit, credit, amount, timestamp);
    t.flags = TransferFlags::PENDING;
    t.timeout = 60;
    t
}

/// A post or void (`flag`) of pending transfer `pending_id`.
fn resolve(id: u128, pending_id: u128, flag: TransferFlags, timestamp: u64) -> Transfer {
    let mut t = transfer(id, 1, 2, 0, timestamp);
    t.pending_id = TransferId(pending_id);
    t.flags = flag;
    t
}

fn ids(ids: &[u128]) -> Vec<TransferId> {
    ids.iter().map(|&id| TransferId(id)).collect()
}

fn stored(transfer: Transfer, status: Option<PendingStatus>, leaf_index: u64) -> StoredTransfer {
    StoredTransfer {
        transfer,
        status,
        leaf_index,
    }
}

/// `lookup_transfers` in id order (it does not keep the order asked).
fn lookup_sorted(s: &mut dyn Store, ask: &[u128]) -> Vec<StoredTransfer> {
    let mut found = s.lookup_transfers(&ids(ask)).unwrap();
    found.sort_by_key(|t| t.transfer.id);
    found
}

fn node(level: u32, index: u64) -> MerkleNode {
    let mut hash: Hash = h32(index, 0x4e);
    hash[31] = level as u8;
    MerkleNode { level, index, hash }
}

/// `n` plain transfers with ids and timestamps from `first` on, between accounts 1..=4.
fn fillers(first: u128, n: u128) -> Vec<Transfer> {
    (first..first + n)
        .map(|id| transfer(id, id % 4 + 1, (id + 1) % 4 + 1, id, id as u64))
        .collect()
}

/// Statuses through every write shape of the PostgreSQL backend: a block creating accounts,
/// small appends of plain transfers (one statement), a block of more than 512 transfers
/// (COPY), an append of nothing but an expiry, and accounts created beside an expiry.
fn lookup_transfers_and_statuses(s: &mut dyn Store) {
    let mut c = Chain::default();
    let accounts: Vec<Account> = (1..=4).map(|i| account(i, i as u64)).collect();
    s.append(&[c.block(accounts, vec![])]).unwrap();
    assert!(lookup_sorted(s, &[10, 11]).is_empty(), "nothing stored yet");

    let b1 = c.block(
        vec![],
        vec![
            transfer(10, 1, 2, 5, 100),
            pending(11, 1, 2, 6, 101),
            pending(12, 2, 3, 7, 102),
            pending(13, 3, 4, 8, 103),
            pending(14, 4, 1, 9, 104),
            pending(15, 1, 3, 10, 105),
        ],
    );
    s.append(std::slice::from_ref(&b1)).unwrap();
    let t = &b1.block.transfers;
    let mut expect: Vec<StoredTransfer> = vec![stored(t[0], None, 0)];
    for (i, &p) in t[1..].iter().enumerate() {
        expect.push(stored(p, Some(PendingStatus::Pending), i as u64 + 1));
    }
    assert_eq!(lookup_sorted(s, &[15, 99, 10, 11, 12, 13, 14, 0]), expect);
    assert_eq!(
        s.lookup_transfers(&ids(&[12])).unwrap(),
        vec![expect[2]],
        "one id"
    );
    assert!(s.lookup_transfers(&[]).unwrap().is_empty());
    assert!(lookup_sorted(s, &[9, 16, u128::MAX]).is_empty());

    // Posted in a small append.
    let b2 = c.block(
        vec![],
        vec![resolve(21, 11, TransferFlags::POST_PENDING_TRANSFER, 200)],
    );
    s.append(std::slice::from_ref(&b2)).unwrap();
    let post = stored(b2.block.transfers[0], None, 6);
    assert_eq!(
        lookup_sorted(s, &[11, 21]),
        vec![stored(t[1], Some(PendingStatus::Posted), 1), post]
    );

    // Voided in a block of 601 transfers.
    let mut body = vec![resolve(31, 12, TransferFlags::VOID_PENDING_TRANSFER, 300)];
    body.extend(fillers(1000, 600));
    let b3 = c.block(vec![], body);
    s.append(std::slice::from_ref(&b3)).unwrap();
    let void = stored(b3.block.transfers[0], None, 7);
    let last_filler = stored(b3.block.transfers[600], None, 607);
    assert_eq!(
        lookup_sorted(s, &[12, 31, 1599, 1600]),
        vec![
            stored(t[2], Some(PendingStatus::Voided), 2),
            void,
            last_filler
        ]
    );

    // Expired at the start of a block without transfers.
    let mut b4 = c.block(vec![], vec![]);
    b4.expired = ids(&[13]);
    s.append(&[b4]).unwrap();
    assert_eq!(
        lookup_sorted(s, &[13, 14]),
        vec![
            stored(t[3], Some(PendingStatus::Expired), 3),
            stored(t[4], Some(PendingStatus::Pending), 4)
        ]
    );

    // An expiry and a void in a block that also creates an account.
    let mut b5 = c.block(
        vec![account(5, 500)],
        vec![resolve(51, 15, TransferFlags::VOID_PENDING_TRANSFER, 500)],
    );
    b5.expired = ids(&[14]);
    s.append(std::slice::from_ref(&b5)).unwrap();

    let all = lookup_sorted(s, &[10, 11, 12, 13, 14, 15, 21, 31, 51, 1000, 1599, 7]);
    assert_eq!(
        all.iter()
            .map(|t| (t.transfer.id.0, t.status))
            .collect::<Vec<_>>(),
        vec![
            (10, None),
            (11, Some(PendingStatus::Posted)),
            (12, Some(PendingStatus::Voided)),
            (13, Some(PendingStatus::Expired)),
            (14, Some(PendingStatus::Expired)),
            (15, Some(PendingStatus::Voided)),
            (21, None),
            (31, None),
            (51, None),
            (1000, None),
            (1599, None),
        ]
    );
    assert_eq!(all[8], stored(b5.block.transfers[0], None, 608));
    assert_eq!(all[9], stored(b3.block.transfers[1], None, 8));
    // Every transfer is where the log puts it.
    let log = s.transfers_by_leaf(0, 1000).unwrap();
    assert_eq!(log.len(), 609);
    for found in &all {
        assert_eq!(log[found.leaf_index as usize], found.transfer);
    }
}

fn transfers_by_leaf_ranges(s: &mut dyn Store) {
    assert!(s.transfers_by_leaf(0, 10).unwrap().is_empty(), "empty log");
    let mut blocks = three_blocks();
    let mut c = Chain {
        height: 3,
        tree_size: 7,
    };
    blocks.push(c.block(vec![], vec![]));
    blocks.push(c.block(vec![], vec![transfer(3000, 1, 4, 1, 400)]));
    s.append(&blocks).unwrap();
    let log: Vec<Transfer> = blocks
        .iter()
        .flat_map(|w| w.block.transfers.clone())
        .collect();
    assert_eq!(log.len(), 8);
    assert_eq!(s.transfers_by_leaf(0, 8).unwrap(), log);
    assert_eq!(
        s.transfers_by_leaf(2, 5).unwrap(),
        log[2..5],
        "across blocks"
    );
    assert_eq!(
        s.transfers_by_leaf(6, 8).unwrap(),
        log[6..8],
        "across an empty block"
    );
    assert_eq!(s.transfers_by_leaf(3, 4).unwrap(), log[3..4]);
    assert_eq!(
        s.transfers_by_leaf(5, 100).unwrap(),
        log[5..],
        "past the end"
    );
    assert_eq!(s.transfers_by_leaf(0, u64::MAX).unwrap(), log);
    assert!(s.transfers_by_leaf(8, 9).unwrap().is_empty());
    assert!(s.transfers_by_leaf(3, 3).unwrap().is_empty());
    assert!(s.transfers_by_leaf(5, 2).unwrap().is_empty());
    assert!(s.transfers_by_leaf(1000, 2000).unwrap().is_empty());
}

/// More than `LEAF_RANGE_MAX` transfers (9 blocks of 8,190): a lookup of `LOOKUP_IDS_MAX`
/// ids and leaf ranges at the cap.
fn lookups_at_their_limits(s: &mut dyn Store) {
    let mut c = Chain::default();
    let accounts: Vec<Account> = (1..=4).map(|i| account(i, i as u64)).collect();
    s.append(&[c.block(accounts, vec![])]).unwrap();
    const PER_BLOCK: u128 = 8190;
    let mut log = Vec::new();
    for b in 0..9 {
        let w = c.block(vec![], fillers(1 + b * PER_BLOCK, PER_BLOCK));
        log.extend_from_slice(&w.block.transfers);
        s.append(&[w]).unwrap();
    }
    let total = log.len() as u64;
    assert!(total > LEAF_RANGE_MAX);

    // Transfer `id` is leaf `id - 1`. Every 4th transfer, and every 100th id asked is missing.
    let ask: Vec<u128> = (0..LOOKUP_IDS_MAX as u128)
        .map(|k| {
            if k % 100 == 99 {
                1 << 100 | k
            } else {
                4 * k + 1
            }
        })
        .collect();
    assert_eq!(ask.len(), LOOKUP_IDS_MAX);
    let found = lookup_sorted(s, &ask);
    let expect: Vec<StoredTransfer> = ask
        .iter()
        .filter(|&&id| id < 1 << 100)
        .map(|&id| stored(log[id as usize - 1], None, id as u64 - 1))
        .collect();
    assert_eq!(found.len(), expect.len());
    assert!(found == expect, "lookup of {LOOKUP_IDS_MAX} ids");

    let max = LEAF_RANGE_MAX as usize;
    let range = |s: &mut dyn Store, from: u64, to: u64| s.transfers_by_leaf(from, to).unwrap();
    let got = range(s, 0, LEAF_RANGE_MAX);
    assert!(got.len() == max && got[..] == log[..max], "exactly the cap");
    let got = range(s, 0, LEAF_RANGE_MAX + 100);
    assert!(got.len() == max && got[..] == log[..max], "capped from 0");
    let got = range(s, 8000, u64::MAX);
    assert!(
        got.len() == max && got[..] == log[8000..8000 + max],
        "capped from 8000"
    );
    let got = range(s, total - 10, total + LEAF_RANGE_MAX);
    assert_eq!(got, log[log.len() - 10..], "the end of a long log");
    let got = range(s, 8185, 8195);
    assert_eq!(got, log[8185..8195], "across a block boundary");
    assert!(range(s, total, total + 1).is_empty());
}

fn merkle_nodes_round_trip(s: &mut dyn Store) {
    assert_eq!(s.merkle_node(8, 0).unwrap(), None);
    let mut c = Chain::default();
    let mut b0 = c.block((1..=4).map(|i| account(i, i as u64)).collect(), vec![]);
    b0.merkle_nodes = vec![node(8, 0)];
    // Small appends, two blocks in one append.
    let mut b1 = c.block(vec![], fillers(1, 3));
    b1.merkle_nodes = vec![node(8, 1), node(9, 0)];
    let mut b2 = c.block(vec![], fillers(4, 2));
    b2.merkle_nodes = vec![node(10, 0)];
    // A block of 600 transfers.
    let mut b3 = c.block(vec![], fillers(6, 600));
    let deepest = (1u64 << 56) - 1;
    b3.merkle_nodes = vec![node(8, 2), node(63, 1), node(8, deepest), node(64, 0)];
    s.append(&[b0.clone()]).unwrap();
    s.append(&[b1.clone(), b2.clone()]).unwrap();
    s.append(&[b3.clone()]).unwrap();
    for w in [&b0, &b1, &b2, &b3] {
        for n in &w.merkle_nodes {
            assert_eq!(
                s.merkle_node(n.level, n.index).unwrap(),
                Some(n.hash),
                "{n:?}"
            );
        }
    }
    for (level, index) in [
        (8, 3),
        (9, 1),
        (0, 0),
        (7, 0),
        (11, 0),
        (u32::MAX, 0),
        (8, u64::MAX),
    ] {
        assert_eq!(
            s.merkle_node(level, index).unwrap(),
            None,
            "({level}, {index})"
        );
    }
}

fn transfers_at_timestamps(s: &mut dyn Store) {
    assert!(s.transfers_at(&[200]).unwrap().is_empty(), "empty log");
    let blocks = three_blocks();
    s.append(&blocks).unwrap();
    let t1 = &blocks[1].block.transfers;
    let t2 = &blocks[2].block.transfers;
    assert_eq!(s.transfers_at(&[201]).unwrap(), vec![t1[1]]);
    assert_eq!(
        s.transfers_at(&[303, 200, 999, 202, 303, 0, 250]).unwrap(),
        vec![t1[0], t1[2], t2[3]],
        "found ones in log order, once each"
    );
    assert!(s.transfers_at(&[]).unwrap().is_empty());
    assert!(s.transfers_at(&[1, 199, 203, u64::MAX]).unwrap().is_empty());
    let all: Vec<u64> = (0..400).rev().collect();
    assert_eq!(
        s.transfers_at(&all).unwrap(),
        t1.iter().chain(t2).copied().collect::<Vec<_>>()
    );
}

fn snapshot(height: u64, state: Vec<u8>) -> SnapshotRecord {
    let mut signature = [height as u8; 64];
    signature[0] = 0x51;
    SnapshotRecord {
        height,
        block_hash: h32(height, 0xaa),
        digest: h32(height, 0x5d),
        signature,
        state,
    }
}

fn header(s: &SnapshotRecord) -> SnapshotRecord {
    SnapshotRecord {
        state: Vec::new(),
        ..s.clone()
    }
}

/// `len` bytes that repeat nowhere near a chunk's length.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn snapshots_keep_the_newest_two(s: &mut dyn Store) {
    assert_eq!(s.latest_snapshot().unwrap(), None);
    assert!(s.snapshot_headers().unwrap().is_empty());
    let mut blocks = three_blocks();
    let mut c = Chain {
        height: 3,
        tree_size: 7,
    };
    blocks.push(c.block(vec![], vec![]));
    blocks.push(c.block(vec![], vec![]));
    s.append(&blocks).unwrap();

    let small: Vec<SnapshotRecord> = (0..3)
        .map(|h| snapshot(h, noise(1000 + h as usize, h + 1)))
        .collect();
    for snap in &small {
        s.write_snapshot(snap).unwrap();
        assert_eq!(s.latest_snapshot().unwrap().as_ref(), Some(snap));
    }
    assert_eq!(
        s.snapshot_headers().unwrap(),
        small.iter().map(header).collect::<Vec<_>>()
    );

    // More than two chunks of 4 MiB, then exactly one.
    let big = snapshot(3, noise((8 << 20) + 12_345, 99));
    s.write_snapshot(&big).unwrap();
    let back = s.latest_snapshot().unwrap().expect("a snapshot");
    assert_eq!(header(&back), header(&big));
    assert!(
        back.state == big.state,
        "a multi-chunk state comes back whole"
    );
    let exact = snapshot(4, noise(4 << 20, 7));
    s.write_snapshot(&exact).unwrap();
    let back = s.latest_snapshot().unwrap().expect("a snapshot");
    assert!(
        back == exact,
        "a state of exactly one chunk comes back whole"
    );

    let mut all = small.clone();
    all.extend([big, exact]);
    assert_eq!(
        s.snapshot_headers().unwrap(),
        all.iter().map(header).collect::<Vec<_>>(),
        "every header is kept, oldest first, without state"
    );
    assert_eq!(s.block_count().unwrap(), 5, "snapshots leave blocks alone");
}

fn reader_sees_later_appends(s: &mut dyn Store) {
    s.init(&meta(7)).unwrap();
    let blocks = three_blocks();
    s.append(&blocks[..1]).unwrap();
    let mut r = s.reader().unwrap();
    assert_eq!(r.meta().unwrap(), Some(meta(7)));
    assert_eq!(r.block_count().unwrap(), 1);
    assert!(r.lookup_transfers(&ids(&[1000])).unwrap().is_empty());

    // Appended by the writer after the reader was opened.
    let mut more = blocks[1..].to_vec();
    more[0].merkle_nodes = vec![node(8, 0)];
    s.append(&more[..1]).unwrap();
    s.append(&more[1..]).unwrap();
    let mut c = Chain {
        height: 3,
        tree_size: 7,
    };
    let b3 = c.block(vec![], vec![pending(3000, 1, 2, 5, 400)]);
    let mut b4 = c.block(
        vec![],
        vec![resolve(
            4000,
            3000,
            TransferFlags::POST_PENDING_TRANSFER,
            500,
        )],
    );
    b4.expired = Vec::new();
    s.append(&[b3.clone(), b4]).unwrap();

    assert_eq!(r.block_count().unwrap(), 5);
    assert_eq!(r.read_blocks(0, 3).unwrap(), records(&blocks));
    assert_eq!(
        lookup_sorted(&mut *r, &[1002, 3000]),
        vec![
            stored(blocks[1].block.transfers[2], None, 2),
            stored(b3.block.transfers[0], Some(PendingStatus::Posted), 7),
        ]
    );
    assert_eq!(
        r.transfers_by_leaf(2, 4).unwrap(),
        vec![blocks[1].block.transfers[2], blocks[2].block.transfers[0]]
    );
    assert_eq!(r.transfers_at(&[400]).unwrap(), b3.block.transfers);
    assert_eq!(r.merkle_node(8, 0).unwrap(), Some(node(8, 0).hash));
    assert_eq!(r.accounts().unwrap(), s.accounts().unwrap());

    // Snapshots written on either side are seen on the other.
    let first = snapshot(2, noise(100, 1));
    s.write_snapshot(&first).unwrap();
    assert_eq!(r.latest_snapshot().unwrap(), Some(first.clone()));
    let second = snapshot(4, noise(200, 2));
    r.write_snapshot(&second).unwrap();
    assert_eq!(s.latest_snapshot().unwrap(), Some(second.clone()));
    assert_eq!(
        s.snapshot_headers().unwrap(),
        vec![header(&first), header(&second)]
    );
    // A second reader, and a reader of a reader, see the same.
    let mut r2 = r.reader().unwrap();
    assert_eq!(r2.block_count().unwrap(), 5);
    assert_eq!(r2.latest_snapshot().unwrap(), Some(second));
}

// Domain rows (`store::tables`): a table of notes the tests create themselves.

#[derive(Debug)]
struct Note {
    id: i64,
    text: String,
    fail: bool,
}

fn note(id: i64, text: &str) -> RowRef {
    Arc::new(Note {
        id,
        text: text.to_owned(),
        fail: false,
    })
}

fn failing_note(id: i64) -> RowRef {
    Arc::new(Note {
        id,
        text: String::new(),
        fail: true,
    })
}

impl Row for Note {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        if self.fail {
            return Err(StoreError::Injected("row refused"));
        }
        match tx {
            TableTx::Sqlite(conn) => {
                conn.execute(
                    "INSERT OR REPLACE INTO test_notes (id, text) VALUES (?1, ?2)",
                    rusqlite::params![self.id, self.text],
                )?;
            }
            TableTx::Postgres(tx) => {
                tx.execute(
                    "INSERT INTO test_notes (id, text) VALUES ($1, $2)
                     ON CONFLICT (id) DO UPDATE SET text = EXCLUDED.text",
                    &[&self.id, &self.text],
                )?;
            }
            TableTx::Memory(writes) => writes.put(
                "test_notes",
                self.id.to_be_bytes().to_vec(),
                Arc::new(self.text.clone()),
            ),
        }
        Ok(())
    }
}

fn create_notes(s: &mut dyn Store) {
    let sql = "CREATE TABLE IF NOT EXISTS test_notes (id BIGINT PRIMARY KEY, text TEXT NOT NULL)";
    match s.tables().unwrap() {
        TableRead::Sqlite(conn) => conn.execute_batch(sql).unwrap(),
        TableRead::Postgres(client) => client.batch_execute(sql).unwrap(),
        TableRead::Memory(_) => {}
    }
}

fn notes(s: &mut dyn Store) -> Vec<(i64, String)> {
    let sql = "SELECT id, text FROM test_notes ORDER BY id";
    match s.tables().unwrap() {
        TableRead::Sqlite(conn) => {
            let mut statement = conn.prepare(sql).unwrap();
            let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)));
            rows.unwrap().map(Result::unwrap).collect()
        }
        TableRead::Postgres(client) => {
            let rows = client.query(sql, &[]).unwrap();
            rows.iter().map(|row| (row.get(0), row.get(1))).collect()
        }
        TableRead::Memory(tables) => tables
            .rows::<String>("test_notes")
            .map(|(key, text)| (i64::from_be_bytes(key.try_into().unwrap()), text.clone()))
            .collect(),
    }
}

fn owned(notes: &[(i64, &str)]) -> Vec<(i64, String)> {
    notes
        .iter()
        .map(|(id, text)| (*id, text.to_string()))
        .collect()
}

/// Rows are written in the same transaction as the blocks they come with: a row that fails
/// takes the blocks with it, and blocks that fail take their rows. Rows alone are a
/// transaction too, and an append over the row limit writes nothing.
fn rows_commit_with_their_blocks(s: &mut dyn Store) {
    s.init(&meta(1)).unwrap();
    create_notes(s);
    let blocks = three_blocks();
    s.append_with_rows(&blocks[..1], &[note(1, "one")]).unwrap();
    assert_eq!(s.block_count().unwrap(), 1);
    assert_eq!(notes(s), owned(&[(1, "one")]));

    let refused = s.append_with_rows(&blocks[1..], &[note(2, "two"), failing_note(3)]);
    assert!(refused.is_err(), "a failing row fails the append");
    assert_eq!(
        s.block_count().unwrap(),
        1,
        "and its blocks are not written"
    );
    assert_eq!(notes(s), owned(&[(1, "one")]), "nor its other rows");

    // Blocks that do not continue the chain take their rows with them.
    let refused = s.append_with_rows(&blocks[2..], &[note(4, "four")]);
    assert!(refused.is_err());
    assert_eq!(notes(s), owned(&[(1, "one")]));

    let rows = [note(2, "two"), note(1, "uno")];
    s.append_with_rows(&blocks[1..], &rows).unwrap();
    assert_eq!(read_all(s), records(&blocks));
    assert_eq!(
        notes(s),
        owned(&[(1, "uno"), (2, "two")]),
        "the last write wins"
    );

    s.append_with_rows(&[], &[note(3, "three")]).unwrap();
    assert_eq!(s.block_count().unwrap(), 3, "rows alone add no block");
    assert_eq!(notes(s), owned(&[(1, "uno"), (2, "two"), (3, "three")]));

    let over = ROWS_PER_APPEND_MAX + 1;
    let too_many: Vec<RowRef> = (0..over).map(|i| note(10 + i as i64, "x")).collect();
    assert!(s.append_with_rows(&[], &too_many).is_err());
    assert_eq!(notes(s).len(), 3, "an append over the limit writes nothing");
}

/// The memory backend takes exactly [`ROWS_PER_APPEND_MAX`] rows in one append (the SQL
/// backends share the check, and a million single-row inserts would only slow the suite).
#[test]
fn memory_rows_at_the_limit() {
    let mut s = store::memory::MemoryStore::new();
    s.init(&meta(1)).unwrap();
    let rows: Vec<RowRef> = (0..ROWS_PER_APPEND_MAX)
        .map(|i| note(i as i64, ""))
        .collect();
    s.append_with_rows(&[], &rows).unwrap();
    assert_eq!(notes(&mut s).len(), ROWS_PER_APPEND_MAX);
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
    init_pins_the_key,
    round_trip_all_fields,
    many_blocks_and_paging,
    account_upserts_overwrite,
    many_small_appends_keep_the_latest_balances,
    history_is_kept_in_order,
    out_of_order_append_is_rejected,
    failed_batch_leaves_nothing,
    changed_account_must_exist,
    block_of_8190_transfers,
    lookup_transfers_and_statuses,
    transfers_by_leaf_ranges,
    lookups_at_their_limits,
    merkle_nodes_round_trip,
    transfers_at_timestamps,
    snapshots_keep_the_newest_two,
    reader_sees_later_appends,
    rows_commit_with_their_blocks,
);

// ---------------------------------------------------------------------------------------------
// Fixtures

// ---------------------------------------------------------------------------------------------
// Backend-specific behaviours

#[test]
fn sqlite_reopen_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested.db");
    let blocks = three_blocks();
    {
        let mut s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.init(&meta(4)).unwrap(), meta(4));
        s.append(&blocks[..2]).unwrap();
        let mut w = blocks[2].clone();
        let mut a3 = account(3, 103);
        a3.debits_posted = 28;
        w.accounts_changed = vec![a3];
        w.history = vec![AccountBalance {
            account_id: AccountId(3),
            timestamp: 303,
            debits_posted: 28,
            ..Default::default()
        }];
        s.append(&[w]).unwrap();
    }
    let mut s = SqliteStore::open(&path).unwrap();
    assert_eq!(
        s.init(&meta(5)).unwrap(),
        meta(4),
        "the key pinned before the restart stays"
    );
    assert_eq!(s.block_count().unwrap(), 3);
    assert_eq!(read_all(&mut s), records(&blocks));
    let accounts = s.accounts().unwrap();
    assert_eq!(accounts.len(), 4);
    assert_eq!(accounts[2].debits_posted, 28);
    assert_eq!(s.account_history(AccountId(3)).unwrap().len(), 1);
    let mode: String = s
        .connection()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = s
        .connection()
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "synchronous=FULL");
}

#[test]
fn sqlite_refuses_a_newer_schema() {
    let t = SqliteFixture::new();
    let path = t.dir.path().join("ledger.db");
    drop(t.store);
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    assert!(matches!(
        SqliteStore::open(&path),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn sqlite_garbage_file_is_a_sqlite_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.db");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    assert!(matches!(
        SqliteStore::open(&path),
        Err(StoreError::Sqlite(_))
    ));
}

/// Damage that `read_blocks` must report as `Corrupt` naming the block.
const DAMAGE: &[(&str, &str, &str, u64)] = &[
    // (what, SQLite statement, PostgreSQL statement, height named)
    (
        "a deleted transfer row",
        "DELETE FROM transfers WHERE seq = 4",
        "DELETE FROM transfers WHERE seq = 4",
        2,
    ),
    (
        "the last transfer of a block deleted",
        "DELETE FROM transfers WHERE seq = 2",
        "DELETE FROM transfers WHERE seq = 2",
        1,
    ),
    (
        "a short hash",
        "UPDATE blocks SET hash = substr(hash, 1, 31) WHERE height = 2",
        "UPDATE blocks SET hash = substring(hash from 1 for 31) WHERE height = 2",
        2,
    ),
    (
        "a 2-byte amount",
        "UPDATE transfers SET amount = x'0000' WHERE seq = 1",
        "UPDATE transfers SET amount = '\\x0000'::bytea WHERE seq = 1",
        1,
    ),
    (
        "a missing block",
        "DELETE FROM blocks WHERE height = 1",
        "DELETE FROM blocks WHERE height = 1",
        1,
    ),
    (
        "a deleted created account",
        "DELETE FROM accounts WHERE id = x'00000000000000000000000000000003'",
        "DELETE FROM accounts WHERE id = '\\x00000000000000000000000000000003'::bytea",
        0,
    ),
    (
        "an account moved to another block",
        "UPDATE accounts SET block_height = 1 WHERE seq = 3",
        "UPDATE accounts SET block_height = 1 WHERE seq = 3",
        0,
    ),
    (
        "a transfer moved to another block",
        "UPDATE transfers SET block_height = 2 WHERE seq = 0",
        "UPDATE transfers SET block_height = 2 WHERE seq = 0",
        1,
    ),
];

fn expect_corrupt(s: &mut dyn Store, what: &str, height: u64) {
    match s.read_blocks(0, 10) {
        Err(StoreError::Corrupt { height: h, reason }) => {
            assert_eq!(h, height, "{what}: wrong block named ({reason})");
        }
        other => panic!("{what}: expected Corrupt at {height}, got {other:?}"),
    }
    // Blocks before the damage still read.
    assert_eq!(
        s.read_blocks(0, height as usize).unwrap().len(),
        height as usize,
        "{what}"
    );
}

#[test]
fn sqlite_corruption_names_the_block() {
    for (what, sql, _, height) in DAMAGE {
        let mut t = SqliteFixture::new();
        t.store.append(&three_blocks()).unwrap();
        assert_eq!(read_all(&mut t.store).len(), 3);
        t.store.connection().execute_batch(sql).unwrap();
        expect_corrupt(&mut t.store, what, *height);
    }
}

#[test]
fn postgres_corruption_names_the_block() {
    for (i, (what, _, sql, height)) in DAMAGE.iter().enumerate() {
        let mut t = PgFixture::new(&format!("corrupt{i}"));
        t.store.append(&three_blocks()).unwrap();
        assert_eq!(read_all(&mut t.store).len(), 3);
        t.store.client().batch_execute(sql).unwrap();
        expect_corrupt(&mut t.store, what, *height);
    }
}

#[test]
fn postgres_unnest_bulk_mode_round_trips() {
    let mut t = PgFixture::new("unnest");
    t.store.set_bulk_mode(BulkMode::Unnest);
    let blocks = three_blocks();
    t.store.append(&blocks).unwrap();
    assert_eq!(read_all(&mut t.store), records(&blocks));
}

#[test]
fn postgres_unnest_bulk_mode_writes_statuses_and_nodes() {
    let mut t = PgFixture::new("unnest_side");
    t.store.set_bulk_mode(BulkMode::Unnest);
    lookup_transfers_and_statuses(&mut t.store);
    let mut t = PgFixture::new("unnest_nodes");
    t.store.set_bulk_mode(BulkMode::Unnest);
    merkle_nodes_round_trip(&mut t.store);
}

#[test]
fn postgres_snapshots_keep_chunks_of_the_newest_two() {
    let mut t = PgFixture::new("snap_chunks");
    snapshots_keep_the_newest_two(&mut t.store);
    let rows = t
        .store
        .client()
        .query(
            "SELECT height, count(*), sum(length(bytes))::int8 FROM snapshot_chunks
             GROUP BY height ORDER BY height",
            &[],
        )
        .unwrap();
    let chunks: Vec<(i64, i64, i64)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        chunks,
        vec![(3, 3, (8 << 20) + 12_345), (4, 1, 4 << 20)],
        "only the newest two snapshots keep their state, in chunks of 4 MiB"
    );
    let headers: i64 = t
        .store
        .client()
        .query_one("SELECT count(*) FROM snapshots", &[])
        .unwrap()
        .get(0);
    assert_eq!(headers, 5);
}

#[test]
fn postgres_lookups_use_the_indexes() {
    let mut t = PgFixture::new("plans");
    let blocks = three_blocks();
    t.store.append(&blocks).unwrap();
    let c = t.store.client();
    c.batch_execute("ANALYZE transfers; SET enable_seqscan = off")
        .unwrap();
    let plan = |c: &mut ::postgres::Client, sql: &str| -> String {
        let rows = c.query(&format!("EXPLAIN {sql}"), &[]).unwrap();
        rows.iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let by_id = plan(
        c,
        "SELECT t.seq FROM transfers AS t LEFT JOIN pending_status AS p ON p.id = t.id
         WHERE t.id = ANY(ARRAY['\\x000000000000000000000000000003e8'::bytea])",
    );
    assert!(by_id.contains("transfers_by_id"), "{by_id}");
    let by_ts = plan(
        c,
        "SELECT seq FROM transfers WHERE timestamp = ANY(ARRAY[200::int8])",
    );
    assert!(by_ts.contains("transfers_by_timestamp"), "{by_ts}");
}

#[test]
fn postgres_reader_needs_a_url() {
    let t = PgFixture::new("reader_url");
    let client = ::postgres::Client::connect(&database_url(), database_tls()).unwrap();
    let s = PostgresStore::with_client(client, Some(&t.schema)).unwrap();
    assert!(matches!(s.reader(), Err(StoreError::Io(_))));
    let mut r = t.store.reader().unwrap();
    assert_eq!(r.block_count().unwrap(), 0);
}

#[test]
fn postgres_schemas_are_separate() {
    let mut a = PgFixture::new("sep_a");
    let mut b = PgFixture::new("sep_b");
    a.store.init(&meta(1)).unwrap();
    a.store.append(&three_blocks()[..1]).unwrap();
    assert_eq!(b.store.init(&meta(2)).unwrap(), meta(2));
    assert_eq!(b.store.block_count().unwrap(), 0);
    assert_eq!(a.store.block_count().unwrap(), 1);
    // Reconnecting to the same schema finds the same data, balance log included.
    many_small_appends_keep_the_latest_balances(&mut b.store);
    let expected = b.store.accounts().unwrap();
    let mut reconnected =
        PostgresStore::connect_schema(&database_url(), &b.schema, &database_tls()).unwrap();
    assert_eq!(reconnected.accounts().unwrap(), expected);
    let mut again =
        PostgresStore::connect_schema(&database_url(), &a.schema, &database_tls()).unwrap();
    assert_eq!(again.init(&meta(3)).unwrap(), meta(1));
    assert_eq!(again.block_count().unwrap(), 1);
}

#[test]
fn memory_faults() {
    let blocks = three_blocks();
    let mut s =
        MemoryStore::with_faults(FaultPlan::new().fail_append(2).fail_append_after_write(3));
    let observer = s.clone();
    s.append(&blocks[..1]).unwrap();
    assert!(matches!(
        s.append(&blocks[1..2]),
        Err(StoreError::Injected(_))
    ));
    assert_eq!(observer.append_calls(), 2);
    assert_eq!(
        s.block_count().unwrap(),
        1,
        "a fault before the write writes nothing"
    );
    // The 3rd call writes, then reports failure.
    assert!(matches!(
        s.append(&blocks[1..2]),
        Err(StoreError::Injected(_))
    ));
    assert_eq!(s.block_count().unwrap(), 2);
    s.append(&blocks[2..]).unwrap();
    // Clones share the data: a "restarted" handle sees everything.
    let mut restarted = observer.clone();
    assert_eq!(read_all(&mut restarted), records(&blocks));

    observer.set_faults(FaultPlan::new().fail_appends_from(5).fail_reads());
    assert!(matches!(s.block_count(), Err(StoreError::Injected(_))));
    assert!(matches!(s.read_blocks(0, 1), Err(StoreError::Injected(_))));
    let mut c = Chain {
        height: 3,
        tree_size: 7,
    };
    let next = c.block(vec![], vec![]);
    assert!(matches!(
        s.append(std::slice::from_ref(&next)),
        Err(StoreError::Injected(_))
    ));
    assert!(matches!(
        s.append(std::slice::from_ref(&next)),
        Err(StoreError::Injected(_))
    ));
    observer.set_faults(FaultPlan::new());
    assert_eq!(s.block_count().unwrap(), 3);
    s.append(&[next]).unwrap();
    assert_eq!(observer.append_calls(), 7);
}

#[test]
fn open_by_spec() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spec.db");
    let mut s = store::open(&format!("sqlite:{}", path.display()), &database_tls()).unwrap();
    s.append(&three_blocks()).unwrap();
    drop(s);
    let mut s = store::open(path.to_str().unwrap(), &database_tls()).unwrap();
    assert_eq!(s.block_count().unwrap(), 3);
    let mut m = store::open("memory", &database_tls()).unwrap();
    assert_eq!(m.block_count().unwrap(), 0);
}

#[test]
fn naive_postgres_ledger() {
    let t = PgFixture::new("naive");
    let mut client = ::postgres::Client::connect(&database_url(), database_tls()).unwrap();
    client
        .batch_execute(&format!("SET search_path TO {}", t.schema))
        .unwrap();
    let mut limited = account(1, 1);
    limited.flags = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;
    limited.credits_posted = 100;
    let mut other_ledger = account(3, 3);
    other_ledger.ledger = 2;
    NaivePostgresLedger::setup(&mut client, &[limited, account(2, 2), other_ledger]).unwrap();
    let mut l = NaivePostgresLedger::new(client).unwrap();

    use CreateTransferResult as R;
    assert_eq!(l.transfer(&transfer(10, 1, 2, 60, 0)).unwrap(), R::Ok);
    assert_eq!(
        l.transfer(&transfer(11, 1, 2, 41, 0)).unwrap(),
        R::ExceedsCredits
    );
    assert_eq!(l.transfer(&transfer(10, 1, 2, 60, 0)).unwrap(), R::Exists);
    assert_eq!(l.transfer(&transfer(12, 1, 2, 40, 0)).unwrap(), R::Ok);
    assert_eq!(l.transfer(&transfer(13, 2, 1, 5, 0)).unwrap(), R::Ok);
    assert_eq!(
        l.transfer(&transfer(14, 9, 1, 5, 0)).unwrap(),
        R::DebitAccountNotFound
    );
    assert_eq!(
        l.transfer(&transfer(15, 1, 9, 5, 0)).unwrap(),
        R::CreditAccountNotFound
    );
    assert_eq!(
        l.transfer(&transfer(16, 2, 3, 5, 0)).unwrap(),
        R::AccountsMustHaveTheSameLedger
    );
    assert_eq!(
        l.transfer(&transfer(17, 2, 2, 5, 0)).unwrap(),
        R::AccountsMustBeDifferent
    );
    let mut pending = transfer(18, 2, 1, 7, 0);
    pending.flags = TransferFlags::PENDING;
    assert_eq!(l.transfer(&pending).unwrap(), R::Ok);

    let rows = l
        .client()
        .query(
            "SELECT debits_pending, debits_posted, credits_pending, credits_posted FROM naive_accounts ORDER BY id",
            &[],
        )
        .unwrap();
    let balances: Vec<(i64, i64, i64, i64)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        balances,
        vec![(0, 100, 7, 105), (7, 5, 0, 100), (0, 0, 0, 0)]
    );
    let n: i64 = l
        .client()
        .query_one("SELECT count(*) FROM naive_transfers", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 4, "refused transfers leave no row");
}

/// SQLite writes transfer ids to its id index in sorted batches of `IDS_DEFERRED_MAX`
/// (`DeferredIds`): lookups must find every id whether it is in the index or in the tail
/// the index does not cover yet, at the batch boundary, and after a restart mid-batch.
#[test]
fn sqlite_deferred_ids_are_always_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ids.db");
    let batch = store::sqlite::IDS_DEFERRED_MAX as u128;
    // Ids in an order unlike the log's, so the sorted batches interleave.
    let id_of = |n: u128| (n * 7919) % 100_003 + 1;
    let mut chain = Chain::default();
    let mut next = 0u128;
    let mut append = |s: &mut SqliteStore, count: u128| {
        let transfers = (next..next + count)
            .map(|n| transfer(id_of(n), 1, 2, 1, 10 + n as u64))
            .collect();
        next += count;
        s.append(&[chain.block(vec![], transfers)]).unwrap();
        next
    };
    let mut s = SqliteStore::open(&path).unwrap();
    s.init(&meta(1)).unwrap();
    // One short of a batch, then exactly at it, then halfway into the next.
    append(&mut s, batch - 1);
    append(&mut s, 1);
    let appended = append(&mut s, batch / 2);
    let expect_all = |s: &mut SqliteStore, upto: u128| {
        for start in (0..upto).step_by(997) {
            let asked: Vec<u128> = (start..(start + 40).min(upto)).map(id_of).collect();
            let found = lookup_sorted(s, &asked);
            assert_eq!(found.len(), asked.len(), "ids from {start} found");
            for stored in found {
                assert_eq!(id_of(u128::from(stored.leaf_index)), stored.transfer.id.0);
            }
        }
    };
    expect_all(&mut s, appended);
    let reader = s.reader().unwrap();
    drop(s);
    // After a restart the buffer is rebuilt from the tail; the next batch still indexes it.
    let mut s = SqliteStore::open(&path).unwrap();
    let appended = append(&mut s, batch);
    expect_all(&mut s, appended);
    let mut reader = reader;
    let last = ids(&[id_of(appended - 1)]);
    assert_eq!(reader.lookup_transfers(&last).unwrap().len(), 1);
    assert!(lookup_sorted(&mut s, &[200_000, 300_000]).is_empty());
}
