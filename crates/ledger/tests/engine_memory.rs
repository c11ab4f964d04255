//! The engine's memory bound: a cache of transfers limited by configuration, open pending
//! transfers always in memory, everything else read from the store (here a
//! `TransferArchive`) before a block runs; and snapshots (`state` / `restore`).
//!
//! The model test (`engine_model.rs`) runs random scenarios with a tiny cache; these cases
//! pin the rules one at a time: what eviction may drop and when, what a lookup that skipped
//! the store does, and which states `restore` refuses.

use ledger::archive::TransferArchive;
use ledger::engine::{
    BlockEffects, Engine, EngineConfig, EngineState, FailedTransfer, PendingStatus, RestoreError,
    StoredTransfer,
};
use ledger::id_filter::IdFilter;
use ledger::types::{
    Account, AccountFlags, AccountId, CreateTransferResult as TransferCode, Transfer,
    TransferFlags, TransferId,
};

const START: u64 = 1_700_000_000_000_000_000;
const SECOND: u64 = 1_000_000_000;
const ACCOUNTS: u128 = 4;

/// Four transfers in memory beyond the open pending ones; the smallest filter.
const SMALL: EngineConfig = EngineConfig {
    transfers_cached_max: 4,
    id_filter_bytes: 64,
};

/// Nothing in memory beyond the open pending transfers once evicted.
const NONE_CACHED: EngineConfig = EngineConfig {
    transfers_cached_max: 0,
    id_filter_bytes: 64,
};

fn transfer(id: u128, debit: u128, credit: u128, amount: u128) -> Transfer {
    Transfer {
        id: TransferId(id),
        debit_account_id: AccountId(debit),
        credit_account_id: AccountId(credit),
        amount,
        ledger: 1,
        code: 1,
        ..Transfer::default()
    }
}

fn pending(id: u128, debit: u128, credit: u128, amount: u128) -> Transfer {
    Transfer {
        flags: TransferFlags::PENDING,
        ..transfer(id, debit, credit, amount)
    }
}

fn post(id: u128, pending_id: u128) -> Transfer {
    Transfer {
        id: TransferId(id),
        pending_id: TransferId(pending_id),
        flags: TransferFlags::POST_PENDING_TRANSFER,
        ..Transfer::default()
    }
}

/// An engine and the store it evicts to: every block is recorded as it ends.
struct Ledger {
    engine: Engine,
    store: TransferArchive,
    /// Every block's effects, the accounts block first.
    blocks: Vec<BlockEffects>,
    now: u64,
}

impl Ledger {
    /// Accounts 1..=4 on ledger 1, created in the first block.
    fn new(config: EngineConfig) -> Ledger {
        let mut engine = Engine::with_config(config);
        engine.begin_block(START);
        let accounts: Vec<Account> = (1..=ACCOUNTS)
            .map(|id| Account {
                id: AccountId(id),
                ledger: 1,
                code: 1,
                ..Account::default()
            })
            .collect();
        assert!(
            engine
                .create_accounts(&accounts)
                .iter()
                .all(|result| result.is_ok())
        );
        Ledger {
            blocks: vec![engine.end_block()],
            engine,
            store: TransferArchive::new(),
            now: START,
        }
    }

    /// Reads the store for `transfers`, then runs them in one block a second later.
    fn block(&mut self, transfers: &[Transfer]) -> (Vec<TransferCode>, BlockEffects) {
        self.store.prefetch(&mut self.engine, transfers);
        self.run(transfers)
    }

    /// Runs `transfers` in one block without reading the store first.
    fn run(&mut self, transfers: &[Transfer]) -> (Vec<TransferCode>, BlockEffects) {
        self.now += SECOND;
        self.engine.begin_block(self.now);
        let results = self.engine.create_transfers(transfers);
        let effects = self.engine.end_block();
        self.store.record(&effects);
        self.blocks.push(effects.clone());
        (results, effects)
    }

    /// A block in which every transfer must commit.
    fn commit(&mut self, transfers: &[Transfer]) -> BlockEffects {
        let (results, effects) = self.block(transfers);
        assert!(results.iter().all(|result| result.is_ok()), "{results:?}");
        effects
    }

    /// Evicts all it may: every block so far is in the store.
    fn evict_all(&mut self) {
        self.engine.evict(self.engine.block_number());
    }

    fn in_memory(&self, id: u128) -> bool {
        self.engine.transfer(TransferId(id)).is_some()
    }
}

/// Ten regular transfers from `first` on, between accounts 1 and 2.
fn regular(first: u128) -> Vec<Transfer> {
    (first..first + 10)
        .map(|id| transfer(id, 1, 2, 1))
        .collect()
}

#[test]
fn eviction_brings_the_cache_down_to_its_limit() {
    let mut ledger = Ledger::new(SMALL);
    let mut committed = 0;
    for block in 0..8u128 {
        let mut transfers = regular(100 * block + 1);
        transfers.push(pending(100 * block + 50, 3, 4, 1));
        committed += ledger.commit(&transfers).transfers.len();
        ledger.evict_all();
        assert!(ledger.engine.cached_transfer_count() <= SMALL.transfers_cached_max);
        assert_eq!(ledger.engine.open_pending_count(), block as usize + 1);
    }
    assert_eq!(committed, 88);
    // First in, first out: what stays is what was committed last.
    assert!((707..=710).all(|id| ledger.in_memory(id)));
    assert!(!ledger.in_memory(706) && !ledger.in_memory(1));
}

#[test]
fn open_pending_transfers_are_never_evicted() {
    let mut ledger = Ledger::new(NONE_CACHED);
    let pendings = [
        pending(1, 1, 2, 5),
        pending(2, 2, 3, 5),
        pending(3, 3, 4, 5),
    ];
    ledger.commit(&pendings);
    for block in 1..=5 {
        ledger.commit(&regular(100 * block));
        ledger.evict_all();
    }
    assert_eq!(ledger.engine.cached_transfer_count(), 0);
    assert_eq!(ledger.engine.open_pending_count(), 3);
    for id in 1..=3 {
        let status = ledger.engine.pending_status(TransferId(id));
        assert_eq!(status, Some(PendingStatus::Pending), "pending {id}");
    }
    // A post finds its pending transfer in memory: the store is not asked for it.
    let mut keys = Vec::new();
    ledger.engine.prefetch_keys(&[post(10, 2)], &mut keys);
    assert!(!keys.contains(&TransferId(2)), "{keys:?}");
    ledger.commit(&[post(10, 2)]);
    assert_eq!(ledger.engine.open_pending_count(), 2);
    ledger.evict_all();
    assert!(
        !ledger.in_memory(2),
        "a resolved pending transfer may go once durable"
    );
}

#[test]
fn entries_of_blocks_not_yet_durable_stay_in_memory() {
    let mut ledger = Ledger::new(SMALL);
    ledger.commit(&[pending(1, 1, 2, 5)]);
    let durable = ledger.engine.block_number();
    ledger.commit(&regular(100));
    ledger.commit(&[post(2, 1)]);
    ledger.commit(&regular(200));
    ledger.engine.evict(durable);
    // Nothing after `durable` may go, however far beyond its limit the cache is.
    assert_eq!(ledger.engine.cached_transfer_count(), 22);
    assert!((100..110).chain(200..210).all(|id| ledger.in_memory(id)));
    let resolved = ledger.engine.pending_status(TransferId(1));
    assert_eq!(
        resolved,
        Some(PendingStatus::Posted),
        "its resolution is not durable"
    );
    ledger.engine.evict(durable + 1);
    assert!(!ledger.in_memory(100), "durable now");
    assert!(ledger.in_memory(1) && ledger.in_memory(2) && ledger.in_memory(200));
    ledger.evict_all();
    assert_eq!(
        ledger.engine.cached_transfer_count(),
        SMALL.transfers_cached_max
    );
}

#[test]
#[should_panic(expected = "without being prefetched")]
fn a_retry_of_an_evicted_id_without_prefetch_panics() {
    let mut ledger = Ledger::new(NONE_CACHED);
    ledger.commit(&[transfer(10, 1, 2, 5)]);
    ledger.evict_all();
    // Answering "not found" here would commit transfer 10 twice.
    ledger.run(&[transfer(10, 1, 2, 5)]);
}

#[test]
#[should_panic(expected = "without being prefetched")]
fn a_post_of_an_evicted_pending_without_prefetch_panics() {
    let mut ledger = Ledger::new(NONE_CACHED);
    ledger.commit(&[pending(10, 1, 2, 5)]);
    ledger.commit(&[post(11, 10)]);
    ledger.evict_all();
    ledger.run(&[post(12, 10)]);
}

/// Transfers whose retries are checked after eviction: a regular transfer, a pending one
/// and its post.
fn history_to_retry() -> Vec<Transfer> {
    vec![transfer(10, 1, 2, 5), pending(11, 2, 3, 7), post(12, 11)]
}

/// Retries of `history_to_retry` and a new transfer.
fn retries() -> Vec<Transfer> {
    vec![
        transfer(10, 1, 2, 5),
        transfer(10, 1, 2, 6),
        post(12, 11),
        post(13, 11),
        Transfer {
            flags: TransferFlags::VOID_PENDING_TRANSFER,
            ..post(14, 11)
        },
        transfer(15, 1, 2, 1),
    ]
}

#[test]
fn duplicates_are_found_in_the_store_after_eviction() {
    let mut ledger = Ledger::new(NONE_CACHED);
    ledger.commit(&history_to_retry());
    ledger.evict_all();
    assert_eq!(ledger.engine.cached_transfer_count(), 0);
    let (results, effects) = ledger.block(&retries());
    assert_eq!(
        results,
        vec![
            TransferCode::Exists,
            TransferCode::ExistsWithDifferentAmount,
            TransferCode::Exists,
            TransferCode::PendingTransferAlreadyPosted,
            TransferCode::PendingTransferAlreadyPosted,
            TransferCode::Ok,
        ]
    );
    // The same answers as an engine that never forgot anything.
    let mut complete = Ledger::new(EngineConfig::default());
    complete.commit(&history_to_retry());
    let (expected, expected_effects) = complete.block(&retries());
    assert_eq!(results, expected);
    assert_eq!(effects, expected_effects);
    assert_eq!(
        ledger.engine.state().accounts,
        complete.engine.state().accounts
    );
}

#[test]
fn evicting_after_a_prefetch_keeps_what_the_store_found() {
    let mut ledger = Ledger::new(NONE_CACHED);
    ledger.commit(&[transfer(10, 1, 2, 5)]);
    ledger.evict_all();
    let retry = [transfer(10, 1, 2, 5)];
    ledger.store.prefetch(&mut ledger.engine, &retry);
    assert!(ledger.in_memory(10), "read from the store");
    // An evict between the prefetch and the block must not turn "found" into "not found".
    ledger.evict_all();
    assert!(ledger.in_memory(10));
    let (results, _) = ledger.run(&retry);
    assert_eq!(results, vec![TransferCode::Exists]);
    ledger.evict_all();
    assert!(!ledger.in_memory(10), "free again once its block ended");
}

#[test]
fn prefetch_keys_name_each_id_the_store_must_answer_once() {
    let mut ledger = Ledger::new(NONE_CACHED);
    ledger.commit(&[transfer(10, 1, 2, 5), pending(11, 2, 3, 7)]);
    ledger.evict_all();
    ledger.commit(&[transfer(13, 1, 2, 5)]);
    let batch = [
        transfer(10, 1, 2, 5),
        transfer(10, 1, 2, 5),
        post(10, 11),
        post(20, 11),
        transfer(13, 1, 2, 5),
    ];
    let mut keys = vec![TransferId(7)];
    ledger.engine.prefetch_keys(&batch, &mut keys);
    // 7 was there before; 11 is open (in memory), 13 is cached; 20 is certainly new unless
    // the filter's false positive, which may be asked for.
    keys.retain(|id| *id != TransferId(20));
    assert_eq!(keys, vec![TransferId(7), TransferId(10)]);
}

#[test]
fn a_store_ahead_of_the_engine_answers_only_what_it_has_reached() {
    let mut original = Ledger::new(SMALL);
    for block in 1..=3 {
        original.commit(&regular(100 * block));
    }
    // A follower that replayed two blocks restarts from its state with a filter that says
    // "maybe" to every id, then replays the rest reading the store of all blocks.
    let mut follower = Engine::with_config(SMALL);
    let (replayed, ahead) = original.blocks.split_at(2);
    for block in replayed {
        let result = follower.replay_block(block.timestamp, &block.accounts, &block.transfers);
        assert_eq!(result.as_ref(), Ok(block));
    }
    let mut follower = Engine::restore(SMALL, saturated(follower.state())).unwrap();
    for block in ahead {
        let mut keys = Vec::new();
        follower.prefetch_keys(&block.transfers, &mut keys);
        let found = original.store.lookup(&keys);
        // The store holds the very transfers the block is about to commit.
        assert_eq!(found.len(), block.transfers.len());
        assert!(
            found
                .iter()
                .all(|stored| stored.leaf_index >= follower.transfer_count())
        );
        follower.prefetched(&keys, &found);
        let result = follower.replay_block(block.timestamp, &block.accounts, &block.transfers);
        assert_eq!(result.as_ref(), Ok(block));
    }
}

/// The state with every bit of its id filter set.
fn saturated(mut state: EngineState) -> EngineState {
    let words = vec![u64::MAX; state.id_filter.words().len()];
    state.id_filter = IdFilter::from_words(words, state.transfer_count).unwrap();
    state
}

/// A state with open pending transfers, one of them with a timeout and one closing its
/// debit account, and a posted balance: what the tampering below starts from.
fn sample_state() -> EngineState {
    let mut ledger = Ledger::new(SMALL);
    let expiring = Transfer {
        timeout: 3600,
        ..pending(21, 3, 4, 4)
    };
    let closing = Transfer {
        flags: TransferFlags::PENDING | TransferFlags::CLOSING_DEBIT,
        ..pending(22, 2, 1, 3)
    };
    ledger.commit(&[
        transfer(10, 1, 2, 5),
        pending(20, 1, 3, 7),
        expiring,
        closing,
    ]);
    ledger.engine.state()
}

fn restore(state: EngineState) -> Result<Engine, RestoreError> {
    Engine::restore(SMALL, state)
}

fn account_mut(state: &mut EngineState, id: u128) -> &mut Account {
    let entry = state
        .accounts
        .iter_mut()
        .find(|entry| entry.account.id.0 == id);
    &mut entry.expect("an account of the sample").account
}

fn pending_mut(state: &mut EngineState, id: u128) -> &mut StoredTransfer {
    let stored = state
        .open_pending
        .iter_mut()
        .find(|stored| stored.transfer.id.0 == id);
    stored.expect("a pending transfer of the sample")
}

#[test]
fn a_state_restores_to_the_same_state() {
    let state = sample_state();
    assert_eq!(state.open_pending.len(), 3);
    let engine = restore(state.clone()).expect("the engine's own state");
    assert_eq!(engine.state(), state);
    assert_eq!(engine.open_pending_count(), 3);
    assert_eq!(engine.cached_transfer_count(), 0);
}

/// Each case changes one thing in a valid state; `restore` must name what is wrong.
#[test]
fn restore_refuses_states_no_ledger_could_reach() {
    type Tamper = fn(&mut EngineState);
    let cases: [(&str, Tamper, RestoreError); 16] = [
        (
            "a posted balance changed",
            |state| account_mut(state, 2).credits_posted += 1,
            RestoreError::Unbalanced(1),
        ),
        (
            "a pending balance changed on both sides",
            |state| {
                account_mut(state, 1).debits_pending += 1;
                account_mut(state, 3).credits_pending += 1;
            },
            RestoreError::PendingMismatch(1),
        ),
        (
            "an account twice",
            |state| state.accounts.push(state.accounts[0]),
            RestoreError::DuplicateAccount(1),
        ),
        (
            "an account beyond its limit",
            |state| {
                let account = account_mut(state, 1);
                account.flags = account.flags | AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS;
            },
            RestoreError::AccountGuard(1),
        ),
        (
            "an account created after the state's clock",
            |state| account_mut(state, 4).timestamp = state.last_timestamp + 1,
            RestoreError::BeyondState,
        ),
        (
            "a pending transfer of accounts that do not exist",
            |state| {
                let pending = pending_mut(state, 20);
                pending.transfer.debit_account_id = AccountId(98);
                pending.transfer.credit_account_id = AccountId(99);
                account_mut(state, 1).debits_pending = 0;
                account_mut(state, 3).credits_pending = 0;
            },
            RestoreError::BadPending(20),
        ),
        (
            "a pending transfer on another ledger than its accounts",
            |state| pending_mut(state, 20).transfer.ledger = 2,
            RestoreError::BadPending(20),
        ),
        (
            "a closing pending transfer whose account is open",
            |state| {
                let account = account_mut(state, 2);
                account.flags = account.flags.without(AccountFlags::CLOSED);
            },
            RestoreError::BadPending(22),
        ),
        (
            "a pending transfer twice, its amount reserved twice",
            |state| {
                state.open_pending.push(state.open_pending[0]);
                account_mut(state, 1).debits_pending += 7;
                account_mut(state, 3).credits_pending += 7;
            },
            RestoreError::BadPending(20),
        ),
        (
            "a resolved transfer among the open ones",
            |state| pending_mut(state, 20).status = Some(PendingStatus::Posted),
            RestoreError::BadPending(20),
        ),
        (
            "a pending transfer whose expiry overflows the clock",
            |state| {
                state.last_timestamp = u64::MAX;
                let pending = pending_mut(state, 21);
                pending.transfer.timestamp = u64::MAX - 1;
            },
            RestoreError::BadPending(21),
        ),
        (
            "a pending transfer beyond the log",
            |state| pending_mut(state, 22).leaf_index = state.transfer_count,
            RestoreError::BeyondState,
        ),
        (
            "a pending transfer after the state's clock",
            |state| pending_mut(state, 22).transfer.timestamp = state.last_timestamp + 1,
            RestoreError::BeyondState,
        ),
        (
            "a filter that counts fewer ids than the log (more is fine: failed ids)",
            |state| {
                let words = state.id_filter.words().to_vec();
                let inserted = state.transfer_count - 1;
                state.id_filter = IdFilter::from_words(words, inserted).unwrap();
            },
            RestoreError::BeyondState,
        ),
        (
            "accounts out of timestamp order",
            |state| state.accounts.swap(1, 2),
            RestoreError::AccountOutOfOrder(2),
        ),
        (
            "a filter that lacks an open pending transfer",
            |state| {
                let words = vec![0; state.id_filter.words().len()];
                let inserted = state.transfer_count;
                state.id_filter = IdFilter::from_words(words, inserted).unwrap();
            },
            RestoreError::NotInFilter(20),
        ),
    ];
    for (name, tamper, expected) in cases {
        let mut state = sample_state();
        tamper(&mut state);
        assert_eq!(restore(state).err(), Some(expected), "{name}");
    }
}

#[test]
fn the_last_transfer_timestamp_must_fit_the_state() {
    let state = sample_state();
    let last = state.open_pending.last().unwrap().transfer.timestamp;
    let restore_at = |timestamp: u64| {
        Engine::restore_with_last_transfer_timestamp(SMALL, state.clone(), timestamp).err()
    };
    assert_eq!(restore_at(last), None);
    assert_eq!(restore_at(last - 1), Some(RestoreError::BeyondState));
    assert_eq!(
        restore_at(state.last_timestamp + 1),
        Some(RestoreError::BeyondState)
    );
    let engine = Engine::restore_with_last_transfer_timestamp(SMALL, state.clone(), last);
    assert_eq!(engine.unwrap().last_transfer_timestamp(), last);
    // Without it, the state's clock stands in: never too low.
    let engine = Engine::restore(SMALL, state.clone()).unwrap();
    assert_eq!(engine.last_transfer_timestamp(), state.last_timestamp);
}

/// Transfers that fail with a transient result, and a retry of each with what would now
/// succeed.
fn failing() -> [Transfer; 2] {
    [transfer(30, 1, 9, 1), post(31, 99)]
}

#[test]
fn failed_ids_are_found_in_the_store_after_eviction_and_restore() {
    let mut ledger = Ledger::new(NONE_CACHED);
    let (results, effects) = ledger.block(&failing());
    assert_eq!(
        results,
        vec![
            TransferCode::CreditAccountNotFound,
            TransferCode::PendingTransferNotFound
        ]
    );
    let failed: Vec<TransferId> = effects.failed.iter().map(|failure| failure.id).collect();
    assert_eq!(failed, vec![TransferId(30), TransferId(31)]);
    assert_eq!(
        ledger.store.failure(TransferId(30)),
        Some(&FailedTransfer {
            id: TransferId(30),
            result: TransferCode::CreditAccountNotFound
        })
    );
    ledger.commit(&regular(100));
    ledger.evict_all();
    assert_eq!(
        ledger.engine.cached_transfer_count(),
        0,
        "failures evicted too"
    );
    let retries = [transfer(30, 1, 2, 1), post(31, 100)];
    let mut keys = Vec::new();
    ledger.engine.prefetch_keys(&retries, &mut keys);
    assert!(keys.contains(&TransferId(30)) && keys.contains(&TransferId(31)));
    let (results, _) = ledger.block(&retries);
    assert_eq!(results, vec![TransferCode::IdAlreadyFailed; 2]);
    // A restart keeps them in the filter; the store answers for them.
    let mut restored = Ledger {
        engine: Engine::restore(NONE_CACHED, ledger.engine.state()).unwrap(),
        store: ledger.store.clone(),
        blocks: Vec::new(),
        now: ledger.now,
    };
    let (results, _) = restored.block(&retries);
    assert_eq!(results, vec![TransferCode::IdAlreadyFailed; 2]);
    // A replica that is handed the failures with each block reaches the same state.
    let mut replica = Engine::with_config(NONE_CACHED);
    for block in &ledger.blocks {
        replica.evict(replica.block_number());
        ledger.store.prefetch(&mut replica, &block.transfers);
        let result = replica.replay_block_with_failed(
            block.timestamp,
            &block.accounts,
            &block.transfers,
            &block.failed,
        );
        assert_eq!(result.as_ref(), Ok(block));
    }
    assert_eq!(replica.state(), ledger.engine.state());
}
