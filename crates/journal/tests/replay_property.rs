//! Property: whatever mix of requests the ledger service accepts, concurrently, its store
//! replays to the same state, with every block hash, Merkle root and signature recomputed
//! identically (determinism of the whole journal, not only of the engine).

use std::sync::Arc;

use journal::replay::{ReplayOptions, replay_store};
use journal::{LedgerConfig, LedgerService};
use ledger::checkpoint::OperatorKey;
use ledger::types::{Account, AccountFlags, AccountId, Transfer, TransferFlags, TransferId};
use proptest::prelude::*;
use store::memory::MemoryStore;

const ACCOUNTS: u128 = 7;

fn accounts() -> Vec<Account> {
    (1..=ACCOUNTS)
        .map(|id| Account {
            id: AccountId(id),
            ledger: if id == ACCOUNTS { 2 } else { 1 },
            code: 1,
            flags: if id % 3 == 0 {
                AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS
            } else {
                AccountFlags::empty()
            },
            ..Account::default()
        })
        .collect()
}

fn transfer_strategy() -> impl Strategy<Value = Transfer> {
    let flags = prop_oneof![
        4 => Just(TransferFlags::empty()),
        2 => Just(TransferFlags::PENDING),
        1 => Just(TransferFlags::POST_PENDING_TRANSFER),
        1 => Just(TransferFlags::VOID_PENDING_TRANSFER),
        1 => Just(TransferFlags::LINKED),
        1 => Just(TransferFlags::BALANCING_DEBIT),
    ];
    (
        1..60u128,
        1..=ACCOUNTS,
        1..=ACCOUNTS,
        0..120u128,
        flags,
        1..60u128,
        0..2u32,
    )
        .prop_map(|(id, debit, credit, amount, flags, pending, timeout)| {
            let resolves = flags.contains(TransferFlags::POST_PENDING_TRANSFER)
                || flags.contains(TransferFlags::VOID_PENDING_TRANSFER);
            Transfer {
                id: TransferId(id),
                debit_account_id: AccountId(debit),
                credit_account_id: AccountId(credit),
                amount,
                pending_id: TransferId(if resolves { pending } else { 0 }),
                timeout: if flags.contains(TransferFlags::PENDING) {
                    timeout
                } else {
                    0
                },
                ledger: 1,
                code: 1,
                flags,
                ..Transfer::default()
            }
        })
}

/// Rounds of requests; the requests of one round are sent at once.
fn rounds_strategy() -> impl Strategy<Value = Vec<Vec<Vec<Transfer>>>> {
    prop::collection::vec(
        prop::collection::vec(prop::collection::vec(transfer_strategy(), 1..6), 1..4),
        1..8,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_store_replays_to_the_live_state(rounds in rounds_strategy()) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let store = MemoryStore::new();
        let key = OperatorKey::from_seed([3; 32]);
        let public_key = key.public_key();
        let ledger = Arc::new(LedgerService::open(Box::new(store.clone()), key, LedgerConfig::default()).unwrap());
        let (live_accounts, live_transfers) = runtime.block_on(async {
            ledger.create_accounts(accounts()).await.unwrap();
            for round in rounds {
                let tasks: Vec<_> = round
                    .into_iter()
                    .map(|request| {
                        let ledger = ledger.clone();
                        tokio::spawn(async move { ledger.create_transfers(request).await.unwrap() })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
            }
            let ids = (1..=ACCOUNTS).map(AccountId).collect();
            let live_accounts = ledger.lookup_accounts(ids).await.unwrap();
            let live_transfers = ledger.read(|engine| engine.transfer_count()).await.unwrap();
            (live_accounts, live_transfers)
        });
        let checkpoint = ledger.checkpoint().expect("a block was written");
        drop(runtime);
        Arc::try_unwrap(ledger).ok().expect("one handle").shutdown();

        let mut stored = store.clone();
        let replayed = replay_store(&mut stored, ReplayOptions { operator_public_key: Some(public_key), ..ReplayOptions::default() })
            .expect("the store replays: every hash, root, signature and balance recomputed");
        let (header, hash, signature) = replayed.head.expect("head");
        prop_assert_eq!(hash, checkpoint.checkpoint.block_hash);
        prop_assert_eq!(header.merkle_root, checkpoint.checkpoint.root);
        prop_assert_eq!(signature, checkpoint.signature);
        prop_assert_eq!(replayed.engine.transfer_count(), live_transfers);
        for account in live_accounts {
            prop_assert_eq!(replayed.engine.account(account.id), Some(&account));
        }
    }
}
