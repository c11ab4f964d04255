//! Start from a snapshot: the same ledger as a replay from the first block, on memory and on
//! SQLite, with a cache small enough that most lookups go to the store; and every snapshot
//! that does not check out (tampered state, foreign signature, a block the chain does not
//! have) is refused like a bad block.

use journal::replay::{ReplayError, ReplayOptions, replay_store};
use journal::sequencer::OpenError;
use journal::{LedgerConfig, LedgerService};
use ledger::checkpoint::OperatorKey;
use ledger::engine::{EngineConfig, EngineState};
use ledger::types::{
    Account, AccountId, CreateTransferResult, Transfer, TransferFlags, TransferId,
};
use store::Store;
use store::memory::MemoryStore;

const ACCOUNTS: u128 = 40;
const MISSING_ACCOUNT: u128 = 9_999;

fn key() -> OperatorKey {
    OperatorKey::from_seed([5; 32])
}

/// Small enough that the cache evicts and the filter errs all the time.
fn small_engine() -> EngineConfig {
    EngineConfig {
        transfers_cached_max: 4,
        id_filter_bytes: 64,
    }
}

fn config() -> LedgerConfig {
    LedgerConfig {
        engine: small_engine(),
        snapshot_interval_transfers: 25,
        snapshot_interval_blocks: 1_000,
        ..LedgerConfig::default()
    }
}

fn account(id: u128) -> Account {
    Account {
        id: AccountId(id),
        ledger: 1,
        code: 1,
        ..Account::default()
    }
}

fn transfer(id: u128, debit: u128, credit: u128, amount: u128, flags: TransferFlags) -> Transfer {
    Transfer {
        id: TransferId(id),
        debit_account_id: AccountId(debit),
        credit_account_id: AccountId(credit),
        amount,
        ledger: 1,
        code: 1,
        flags,
        ..Transfer::default()
    }
}

/// A history with plain, pending, posted and voided transfers and retries of old ids,
/// in `rounds` blocks of a few requests each. Returns every result.
async fn run_history(
    ledger: &LedgerService,
    first_id: u128,
    rounds: u128,
) -> Vec<CreateTransferResult> {
    let mut results = Vec::new();
    for round in 0..rounds {
        let base = first_id + round * 10;
        let debit = round % ACCOUNTS + 1;
        let credit = (round * 7 + 3) % ACCOUNTS + 1;
        let credit = if credit == debit {
            credit % ACCOUNTS + 1
        } else {
            credit
        };
        let mut batch = vec![
            transfer(base, debit, credit, 5, TransferFlags::empty()),
            transfer(base + 1, credit, debit, 3, TransferFlags::PENDING),
            transfer(base + 2, debit, credit, 2, TransferFlags::PENDING),
        ];
        if round > 0 {
            // Resolve the previous round's pendings, and retry an old id (must be `exists`).
            let previous = base - 10;
            let mut post = transfer(base + 3, 0, 0, 0, TransferFlags::POST_PENDING_TRANSFER);
            post.pending_id = TransferId(previous + 1);
            let mut void = transfer(base + 4, 0, 0, 0, TransferFlags::VOID_PENDING_TRANSFER);
            void.pending_id = TransferId(previous + 2);
            batch.push(post);
            batch.push(void);
            batch.push(transfer(first_id, 1, 4, 5, TransferFlags::empty()));
            // The previous round's failed id is spent: `id_already_failed`.
            batch.push(transfer(previous + 5, 1, 2, 1, TransferFlags::empty()));
        }
        // A transient failure (no such account): its id is spent for good.
        batch.push(transfer(
            base + 5,
            1,
            MISSING_ACCOUNT,
            1,
            TransferFlags::empty(),
        ));
        results.extend(ledger.create_transfers(batch).await.expect("transfers"));
    }
    results
}

/// Opens the ledger (outside the runtime: a synchronous PostgreSQL client must not be used
/// inside one), runs the history, and shuts the ledger down.
fn open_and_run(
    runtime: &tokio::runtime::Runtime,
    store: Box<dyn Store>,
    first_id: u128,
    rounds: u128,
) -> Vec<CreateTransferResult> {
    let ledger = LedgerService::open(store, key(), config()).expect("open");
    let results = runtime.block_on(async {
        let accounts = (1..=ACCOUNTS).map(account).collect();
        ledger.create_accounts(accounts).await.expect("accounts");
        run_history(&ledger, first_id, rounds).await
    });
    ledger.shutdown();
    results
}

/// The state without the id filter, whose size is configuration.
fn comparable(
    state: EngineState,
) -> (
    Vec<ledger::engine::AccountState>,
    Vec<ledger::engine::StoredTransfer>,
    u64,
    u64,
) {
    (
        state.accounts,
        state.open_pending,
        state.transfer_count,
        state.last_timestamp,
    )
}

fn check_start_from_snapshot(reopen: impl Fn() -> Box<dyn Store>) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let first = open_and_run(&runtime, reopen(), 1_000, 30);
    assert!(first.iter().all(|result| matches!(
        result,
        CreateTransferResult::Ok
            | CreateTransferResult::Exists
            | CreateTransferResult::CreditAccountNotFound
            | CreateTransferResult::IdAlreadyFailed
    )));
    let failed =
        |results: &[CreateTransferResult], code| results.iter().filter(|r| **r == code).count();
    assert_eq!(
        failed(&first, CreateTransferResult::CreditAccountNotFound),
        30
    );
    assert_eq!(failed(&first, CreateTransferResult::IdAlreadyFailed), 29);
    let headers = reopen().snapshot_headers().unwrap();
    assert!(
        !headers.is_empty(),
        "snapshots were written: {}",
        headers.len()
    );

    // From the snapshot (bounded engine) and from genesis (everything in memory): one state.
    let bounded = ReplayOptions {
        engine: Some(small_engine()),
        ..ReplayOptions::default()
    };
    let from_snapshot = replay_store(reopen().as_mut(), bounded).expect("start from snapshot");
    let from_genesis = replay_store(reopen().as_mut(), ReplayOptions::default()).expect("genesis");
    assert!(from_snapshot.engine.block_number() < from_genesis.engine.block_number());
    assert_eq!(from_snapshot.head, from_genesis.head);
    assert_eq!(from_snapshot.frontier, from_genesis.log.frontier());
    assert_eq!(
        comparable(from_snapshot.engine.state()),
        comparable(from_genesis.engine.state())
    );

    // Going on from the snapshot: retries still answer `exists`, old pendings resolve.
    let more = open_and_run(&runtime, reopen(), 5_000, 10);
    let expected = runtime.block_on(async {
        let fresh = MemoryStore::new();
        let ledger = LedgerService::open(Box::new(fresh), key(), LedgerConfig::default()).unwrap();
        ledger
            .create_accounts((1..=ACCOUNTS).map(account).collect())
            .await
            .unwrap();
        let all = run_history(&ledger, 1_000, 30).await;
        assert_eq!(
            all, first,
            "the same history answers the same with any cache"
        );
        let more = run_history(&ledger, 5_000, 10).await;
        ledger.shutdown();
        more
    });
    assert_eq!(more, expected);
    // After every restart, an id that failed long ago is still spent.
    let ledger = LedgerService::open(reopen(), key(), config()).expect("open");
    let retried = runtime.block_on(ledger.create_transfers(vec![transfer(
        1_005,
        1,
        2,
        1,
        TransferFlags::empty(),
    )]));
    ledger.shutdown();
    assert_eq!(
        retried.unwrap(),
        vec![CreateTransferResult::IdAlreadyFailed]
    );
    // And the whole store still replays and checks out from genesis.
    let options = ReplayOptions {
        operator_public_key: Some(key().public_key()),
        ..ReplayOptions::default()
    };
    replay_store(reopen().as_mut(), options).expect("the store verifies from genesis");
}

#[test]
fn start_from_a_snapshot_equals_start_from_genesis_on_memory() {
    let store = MemoryStore::new();
    check_start_from_snapshot(|| Box::new(store.clone()));
}

#[test]
fn start_from_a_snapshot_equals_start_from_genesis_on_sqlite() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("ledger.db");
    check_start_from_snapshot(|| Box::new(store::sqlite::SqliteStore::open(&path).unwrap()));
}

fn refused(store: &MemoryStore) -> String {
    match LedgerService::open(Box::new(store.clone()), key(), config()) {
        Err(OpenError::Replay(error @ ReplayError::BadSnapshot { .. })) => error.to_string(),
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("a bad snapshot was accepted"),
    }
}

#[test]
fn a_snapshot_that_does_not_check_out_is_refused() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = MemoryStore::new();
    open_and_run(&runtime, Box::new(store.clone()), 1_000, 12);
    let good = store
        .clone()
        .latest_snapshot()
        .unwrap()
        .expect("a snapshot");

    // A changed state no longer matches its digest.
    let mut tampered = good.clone();
    let last = tampered.state.len() - 200;
    tampered.state[last] ^= 1;
    store.clone().write_snapshot(&tampered).unwrap();
    assert!(refused(&store).contains("digest"));

    // Re-digested and signed with another key: the signature fails.
    let decoded = journal::snapshot::decode(&good.state).unwrap();
    let foreign = journal::snapshot::seal(&decoded, &OperatorKey::from_seed([6; 32]));
    store.clone().write_snapshot(&foreign).unwrap();
    assert!(refused(&store).contains("signature"));

    // Correctly signed, but of a block this chain does not have at that height.
    let mut stale = decoded.clone();
    stale.block_hash = [0xAB; 32];
    store
        .clone()
        .write_snapshot(&journal::snapshot::seal(&stale, &key()))
        .unwrap();
    assert!(refused(&store).contains("another block"));

    // Correctly signed and bound, but a balance was changed before sealing.
    let mut unbalanced = decoded.clone();
    unbalanced.state.accounts[0].account.credits_posted += 1;
    store
        .clone()
        .write_snapshot(&journal::snapshot::seal(&unbalanced, &key()))
        .unwrap();
    assert!(refused(&store).contains("balance"));

    // Beyond the chain's head.
    let mut ahead = decoded;
    ahead.height += 1_000;
    store
        .clone()
        .write_snapshot(&journal::snapshot::seal(&ahead, &key()))
        .unwrap();
    assert!(refused(&store).contains("no block"));

    // The good one again: start works.
    store.clone().write_snapshot(&good).unwrap();
    LedgerService::open(Box::new(store.clone()), key(), config()).expect("a good snapshot");
}

#[test]
fn snapshot_encoding_round_trips() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = MemoryStore::new();
    open_and_run(&runtime, Box::new(store.clone()), 1_000, 8);
    let record = store
        .clone()
        .latest_snapshot()
        .unwrap()
        .expect("a snapshot");
    let decoded = journal::snapshot::decode(&record.state).unwrap();
    assert_eq!(journal::snapshot::encode(&decoded), record.state);
    for cut in [0, 8, record.state.len() / 2, record.state.len() - 1] {
        assert!(journal::snapshot::decode(&record.state[..cut]).is_err());
    }
}

#[test]
fn verify_checks_every_snapshot_against_its_replay() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = MemoryStore::new();
    open_and_run(&runtime, Box::new(store.clone()), 1_000, 12);
    let audit = ReplayOptions {
        operator_public_key: Some(key().public_key()),
        ..ReplayOptions::default()
    };
    replay_store(&mut store.clone(), audit).expect("every snapshot matches its replay");

    // A correctly signed snapshot of the right block whose state is not the replay's.
    let good = store
        .clone()
        .latest_snapshot()
        .unwrap()
        .expect("a snapshot");
    let mut forged = journal::snapshot::decode(&good.state).unwrap();
    forged.state.accounts[0].account.user_data_64 += 1;
    store
        .clone()
        .write_snapshot(&journal::snapshot::seal(&forged, &key()))
        .unwrap();
    match replay_store(&mut store.clone(), audit) {
        Err(ReplayError::BadSnapshot { height, reason }) => {
            assert_eq!(height, good.height);
            assert!(reason.contains("differs"), "{reason}");
        }
        other => panic!("a forged snapshot passed verify: {:?}", other.err()),
    }
}

#[test]
fn start_from_a_snapshot_equals_start_from_genesis_on_postgres() {
    let url = std::env::var("MILEVERSE_TEST_DATABASE_URL").expect(
        "MILEVERSE_TEST_DATABASE_URL is not set: run `bash scripts/test.sh` (it starts PostgreSQL)",
    );
    let schema = format!("snapshots_{}", std::process::id());
    let pg_tls = tls::test_pki::test_database_tls().postgres();
    let open = || {
        store::postgres::PostgresStore::connect_schema(&url, &schema, &pg_tls).expect("postgres")
    };
    check_start_from_snapshot(|| Box::new(open()));
    let quoted = format!("DROP SCHEMA \"{schema}\" CASCADE");
    open()
        .client()
        .batch_execute(&quoted)
        .expect("drop the test schema");
}

/// A block whose only effect is a failed id is written, so the id stays spent after a
/// restart; and a clean shutdown leaves a snapshot of the head, so the next start replays
/// no block.
#[test]
fn failures_alone_are_kept_and_shutdown_snapshots_the_head() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = MemoryStore::new();
    open_and_run(&runtime, Box::new(store.clone()), 1_000, 3);
    let ledger = LedgerService::open(Box::new(store.clone()), key(), config()).expect("open");
    let alone = transfer(77_777, 1, MISSING_ACCOUNT, 1, TransferFlags::empty());
    let first = runtime.block_on(ledger.create_transfers(vec![alone]));
    assert_eq!(
        first.unwrap(),
        vec![CreateTransferResult::CreditAccountNotFound]
    );
    ledger.shutdown();
    let head = store.clone().block_count().unwrap() - 1;
    let latest = store
        .clone()
        .latest_snapshot()
        .unwrap()
        .expect("a snapshot");
    assert_eq!(latest.height, head, "the shutdown snapshot is of the head");
    let bounded = ReplayOptions {
        engine: Some(small_engine()),
        ..ReplayOptions::default()
    };
    let started = replay_store(&mut store.clone(), bounded).expect("start");
    assert_eq!(
        started.engine.block_number(),
        0,
        "no block replayed after the snapshot"
    );
    let audit = ReplayOptions {
        operator_public_key: Some(key().public_key()),
        ..ReplayOptions::default()
    };
    replay_store(&mut store.clone(), audit).expect("every snapshot matches its replay");
    let ledger = LedgerService::open(Box::new(store.clone()), key(), config()).expect("reopen");
    let retried = runtime.block_on(ledger.create_transfers(vec![alone]));
    ledger.shutdown();
    assert_eq!(
        retried.unwrap(),
        vec![CreateTransferResult::IdAlreadyFailed]
    );
}

/// A start that had to replay blocks after the latest snapshot (here: a store written with
/// snapshots off, as a crash leaves a tail) owes a snapshot: a clean shutdown writes one
/// even with no new traffic, so the next start replays nothing.
#[test]
fn a_start_that_replayed_blocks_snapshots_at_shutdown() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = MemoryStore::new();
    let without_snapshots = LedgerConfig {
        snapshot_interval_transfers: 0,
        ..config()
    };
    let ledger = LedgerService::open(Box::new(store.clone()), key(), without_snapshots)
        .expect("open without snapshots");
    runtime.block_on(async {
        let accounts = (1..=ACCOUNTS).map(account).collect();
        ledger.create_accounts(accounts).await.expect("accounts");
        run_history(&ledger, 1_000, 4).await
    });
    ledger.shutdown();
    assert!(store.clone().latest_snapshot().unwrap().is_none());
    let bounded = ReplayOptions {
        engine: Some(small_engine()),
        ..ReplayOptions::default()
    };
    let tail = replay_store(&mut store.clone(), bounded).expect("start from genesis");
    assert!(tail.tail_blocks > 0 && tail.tail_transfers > 0);

    let ledger = LedgerService::open(Box::new(store.clone()), key(), config()).expect("open");
    ledger.shutdown();
    let head = store.clone().block_count().unwrap() - 1;
    let latest = store.clone().latest_snapshot().unwrap();
    assert_eq!(latest.map(|snapshot| snapshot.height), Some(head));
    let started = replay_store(&mut store.clone(), bounded).expect("start from the snapshot");
    assert_eq!((started.tail_blocks, started.tail_transfers), (0, 0));
    assert_eq!(started.block_count, head + 1);
}

/// A start from a snapshot compares the stored balances of the accounts the replayed tail
/// moved; `verify` compares every one. A balance tampered with in the table is refused at
/// start if the tail moved its account, and by `verify` in any case.
#[test]
fn stored_balances_are_checked_where_the_replay_vouches_for_them() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("ledger.db");
    let open = || Box::new(store::sqlite::SqliteStore::open(&path).unwrap());
    open_and_run(&runtime, open(), 1_000, 6);
    // A tail after the shutdown snapshot, moving accounts 1 and 2 only.
    let without_snapshots = LedgerConfig {
        snapshot_interval_transfers: 0,
        ..config()
    };
    let ledger = LedgerService::open(open(), key(), without_snapshots).expect("open");
    let tail = vec![transfer(50_000, 1, 2, 1, TransferFlags::empty())];
    let results = runtime.block_on(ledger.create_transfers(tail)).unwrap();
    assert_eq!(results, vec![CreateTransferResult::Ok]);
    ledger.shutdown();

    let bounded = ReplayOptions {
        engine: Some(small_engine()),
        ..ReplayOptions::default()
    };
    let audit = ReplayOptions {
        operator_public_key: Some(key().public_key()),
        ..ReplayOptions::default()
    };
    // A column the balance log does not overlay: the row itself is what differs.
    let tamper = |id: u128, delta: i64| {
        let before = open().lookup_accounts(&[AccountId(id)]).unwrap();
        let connection = rusqlite::Connection::open(&path).unwrap();
        let swapped = connection
            .execute(
                "UPDATE accounts SET user_data_32 = user_data_32 + ?2
                 WHERE seq = (SELECT min(seq) FROM accounts) + ?1",
                [i64::try_from(id - 1).unwrap(), delta],
            )
            .unwrap();
        assert_eq!(swapped, 1);
        let after = open().lookup_accounts(&[AccountId(id)]).unwrap();
        assert_ne!(before, after, "account {id} was changed");
    };
    // Account 3 is not in the tail: start is fine, verify is not.
    tamper(3, 1);
    replay_store(open().as_mut(), bounded).expect("start checks the tail's accounts only");
    // (This table also holds the created accounts the blocks are read back with, so
    // verify meets the change first in the block that created the account.)
    let verified = replay_store(open().as_mut(), audit);
    assert!(verified.is_err(), "verify must refuse the changed account");
    tamper(3, -1);
    // Account 1 is in the tail: start refuses.
    tamper(1, 1);
    match replay_store(open().as_mut(), bounded) {
        Err(ReplayError::BadBalance { account_id: 1, .. }) => {}
        other => panic!("start must refuse account 1: {:?}", other.err()),
    }
}
