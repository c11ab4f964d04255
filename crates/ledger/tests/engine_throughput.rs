//! Engine throughput on full batches (8,190 events), checked for correctness.
//!
//! `cargo test --release -p ledger --test engine_throughput -- --nocapture` prints the rate;
//! the benchmark target for the whole service is 1,000,000 transfers/s on 2 cores, so the
//! engine alone should stay well under 500 ns per transfer.

use std::time::Instant;

use ledger::archive::TransferArchive;
use ledger::engine::{Engine, EngineConfig};
use ledger::types::{
    Account, AccountFlags, AccountId, CreateTransferResult as TransferCode, Transfer,
    TransferFlags, TransferId,
};

const BATCH: usize = 8_190;
const BATCHES: usize = 40;
const ACCOUNTS: u128 = 10_000;
const SECOND: u64 = 1_000_000_000;

/// A small deterministic generator (xorshift64*), so the workload is the same on every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn account(&mut self) -> u128 {
        1 + u128::from(self.next()) % ACCOUNTS
    }
}

/// Regular transfers between random accounts; every 16th is a pending transfer that the next
/// batch posts (half of it) or voids.
fn batch(random: &mut Random, first_id: u128, pendings: &mut Vec<(u128, bool)>) -> Vec<Transfer> {
    let mut transfers = Vec::with_capacity(BATCH);
    for (pending_id, post) in pendings.drain(..) {
        let flags = if post {
            TransferFlags::POST_PENDING_TRANSFER
        } else {
            TransferFlags::VOID_PENDING_TRANSFER
        };
        let id = TransferId(first_id + transfers.len() as u128);
        let amount = if post { 1 } else { 0 };
        transfers.push(Transfer {
            id,
            pending_id: TransferId(pending_id),
            amount,
            flags,
            ..Transfer::default()
        });
    }
    while transfers.len() < BATCH {
        let id = first_id + transfers.len() as u128;
        let debit = random.account();
        let credit = 1 + debit % ACCOUNTS;
        let pending = id & 15 == 0;
        if pending {
            pendings.push((id, id & 31 == 0));
        }
        transfers.push(Transfer {
            id: TransferId(id),
            debit_account_id: AccountId(debit),
            credit_account_id: AccountId(credit),
            amount: 2,
            timeout: if pending { 3600 } else { 0 },
            ledger: 1,
            code: 1,
            flags: if pending {
                TransferFlags::PENDING
            } else {
                TransferFlags::empty()
            },
            ..Transfer::default()
        });
    }
    transfers
}

fn open_accounts(engine: &mut Engine) {
    let accounts: Vec<Account> = (1..=ACCOUNTS)
        .map(|id| Account {
            id: AccountId(id),
            ledger: 1,
            code: 1,
            flags: AccountFlags::empty(),
            ..Account::default()
        })
        .collect();
    engine.begin_block(SECOND);
    assert!(
        engine
            .create_accounts(&accounts)
            .iter()
            .all(|result| result.is_ok())
    );
    engine.end_block();
}

/// The workload's batches, and the pending transfers the last one leaves open.
fn workload() -> (Vec<Vec<Transfer>>, Vec<(u128, bool)>) {
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let mut pendings = Vec::new();
    let batches = (0..BATCHES)
        .map(|index| batch(&mut random, 1 + (index * BATCH) as u128, &mut pendings))
        .collect();
    (batches, pendings)
}

#[test]
fn full_batches_commit_and_balance() {
    let mut engine = Engine::new();
    open_accounts(&mut engine);
    let (batches, _) = workload();
    let started = Instant::now();
    let mut committed = 0;
    for (index, transfers) in batches.iter().enumerate() {
        engine.begin_block(2 * SECOND + index as u64);
        let results = engine.create_transfers(transfers);
        committed += engine.end_block().transfers.len();
        assert!(results.iter().all(|result| result.is_ok()), "batch {index}");
    }
    let elapsed = started.elapsed();
    assert_eq!(committed, BATCHES * BATCH);
    println!(
        "{committed} transfers in {elapsed:?}: {:.0} ns/transfer, {:.2} M transfers/s",
        elapsed.as_nanos() as f64 / committed as f64,
        committed as f64 / elapsed.as_secs_f64() / 1e6
    );

    // Every regular transfer moves 2; posts move 1 of a pending 2; voids and still-open
    // pending transfers move nothing to posted.
    let (mut debits_posted, mut credits_posted, mut debits_pending) = (0u128, 0u128, 0u128);
    for id in 1..=ACCOUNTS {
        let account = engine.account(AccountId(id)).unwrap();
        debits_posted += account.debits_posted;
        credits_posted += account.credits_posted;
        debits_pending += account.debits_pending;
    }
    let (mut expected_posted, mut expected_pending) = (0u128, 0u128);
    for transfer in batches.iter().flatten() {
        let flags = transfer.flags;
        if flags.contains(TransferFlags::POST_PENDING_TRANSFER) {
            expected_posted += 1;
            expected_pending -= 2;
        } else if flags.contains(TransferFlags::VOID_PENDING_TRANSFER) {
            expected_pending -= 2;
        } else if flags.contains(TransferFlags::PENDING) {
            expected_pending += 2;
        } else {
            expected_posted += 2;
        }
    }
    assert_eq!(
        (debits_posted, credits_posted),
        (expected_posted, expected_posted)
    );
    assert_eq!(debits_pending, expected_pending);
}

/// Retried in each block: the start of the batch three blocks back (posts and voids of its
/// predecessor's pending transfers), long evicted by then.
const RETRIES: usize = 64;
const RETRY_DISTANCE: usize = 3;

/// The same workload with a cache of one batch: memory stays within the limit whatever the
/// history, and retries of evicted transfers still answer `exists` through the store.
#[test]
fn full_batches_stay_within_the_cache_limit() {
    let config = EngineConfig {
        transfers_cached_max: BATCH,
        id_filter_bytes: 1 << 20,
    };
    let mut engine = Engine::with_config(config);
    open_accounts(&mut engine);
    let mut store = TransferArchive::new();
    let (batches, open) = workload();
    for (index, transfers) in batches.iter().enumerate() {
        engine.evict(engine.block_number());
        assert!(engine.cached_transfer_count() <= BATCH, "batch {index}");
        let retries = match index.checked_sub(RETRY_DISTANCE) {
            Some(earlier) => &batches[earlier][..RETRIES],
            None => &[][..],
        };
        let events = [retries, transfers].concat();
        store.prefetch(&mut engine, &events);
        engine.begin_block(2 * SECOND + index as u64);
        let results = engine.create_transfers(&events);
        store.record(&engine.end_block());
        let (retried, created) = results.split_at(retries.len());
        assert!(
            retried.iter().all(|result| *result == TransferCode::Exists),
            "batch {index}"
        );
        assert!(created.iter().all(|result| result.is_ok()), "batch {index}");
    }
    assert_eq!(store.len(), (BATCHES * BATCH) as u64);
    assert_eq!(engine.open_pending_count(), open.len());
}
