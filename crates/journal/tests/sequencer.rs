//! The ledger service end to end on the memory store, with storage faults injected:
//! fail-stop on a failed write, recovery of everything acknowledged, group commit under
//! concurrency, pending expiry on the idle tick, and the limits.

use std::sync::Arc;
use std::time::Duration;

use journal::replay::{ReplayOptions, replay_store};
use journal::sequencer::{BATCH_EVENTS_MAX, OpenError};
use journal::{LedgerConfig, LedgerError, LedgerService};
use ledger::checkpoint::OperatorKey;
use ledger::engine::PendingStatus;
use ledger::types::{
    Account, AccountId, CreateTransferResult, Transfer, TransferFlags, TransferId,
};
use store::Store;
use store::memory::{FaultPlan, MemoryStore};

fn key() -> OperatorKey {
    OperatorKey::from_seed([9; 32])
}

fn open(store: &MemoryStore, config: LedgerConfig) -> LedgerService {
    LedgerService::open(Box::new(store.clone()), key(), config).expect("open")
}

fn account(id: u128) -> Account {
    Account {
        id: AccountId(id),
        ledger: 1,
        code: 1,
        ..Account::default()
    }
}

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

async fn balances(ledger: &LedgerService, id: u128) -> (u128, u128) {
    let found = ledger
        .lookup_accounts(vec![AccountId(id)])
        .await
        .expect("lookup");
    (found[0].debits_posted, found[0].credits_posted)
}

#[tokio::test]
async fn a_failed_write_stops_the_ledger_and_loses_nothing_acknowledged() {
    let store = MemoryStore::with_faults(FaultPlan::new().fail_append(6));
    let ledger = open(&store, LedgerConfig::default());
    ledger
        .create_accounts(vec![account(1), account(2)])
        .await
        .expect("accounts");
    let mut acknowledged = 0u128;
    let mut failure = None;
    for id in 100..120u128 {
        match ledger.create_transfers(vec![transfer(id, 1, 2, 10)]).await {
            Ok(results) => {
                assert_eq!(results, [CreateTransferResult::Ok]);
                acknowledged += 1;
            }
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    assert!(
        matches!(failure, Some(LedgerError::Unavailable(_))),
        "{failure:?}"
    );
    assert_eq!(acknowledged, 4, "appends 2..=5 succeeded, the 6th failed");
    assert!(ledger.failure().is_some(), "readiness reports the failure");
    let after = ledger.create_transfers(vec![transfer(500, 1, 2, 1)]).await;
    assert!(
        matches!(after, Err(LedgerError::Unavailable(_))),
        "fail-stop: {after:?}"
    );
    ledger.shutdown();

    store.set_faults(FaultPlan::new());
    let ledger = open(&store, LedgerConfig::default());
    assert_eq!(balances(&ledger, 1).await, (10 * acknowledged, 0));
    let lost = ledger
        .lookup_transfers(vec![TransferId(100 + acknowledged)])
        .await
        .expect("lookup");
    assert!(lost.is_empty(), "the refused write is not in the store");
    let results = ledger
        .create_transfers(vec![transfer(100 + acknowledged, 1, 2, 10)])
        .await
        .expect("retry");
    assert_eq!(
        results,
        [CreateTransferResult::Ok],
        "the client can retry the same id"
    );
}

#[tokio::test]
async fn a_write_that_landed_but_reported_failure_is_present_after_restart() {
    let store = MemoryStore::with_faults(FaultPlan::new().fail_append_after_write(3));
    let ledger = open(&store, LedgerConfig::default());
    ledger
        .create_accounts(vec![account(1), account(2)])
        .await
        .expect("accounts");
    assert_eq!(
        ledger.create_transfers(vec![transfer(7, 1, 2, 5)]).await,
        Ok(vec![CreateTransferResult::Ok])
    );
    let uncertain = ledger.create_transfers(vec![transfer(8, 1, 2, 6)]).await;
    assert!(matches!(uncertain, Err(LedgerError::Unavailable(_))));
    ledger.shutdown();
    store.set_faults(FaultPlan::new());
    let ledger = open(&store, LedgerConfig::default());
    let retried = ledger
        .create_transfers(vec![transfer(8, 1, 2, 6)])
        .await
        .expect("retry");
    assert_eq!(
        retried,
        [CreateTransferResult::Exists],
        "a retry of an uncertain request is idempotent"
    );
    assert_eq!(balances(&ledger, 2).await, (0, 11));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_share_group_commits() {
    const CLIENTS: u128 = 32;
    const PER_CLIENT: u128 = 40;
    let store = MemoryStore::new();
    let ledger = Arc::new(open(&store, LedgerConfig::default()));
    ledger
        .create_accounts((1..=CLIENTS + 1).map(account).collect())
        .await
        .expect("accounts");
    let before = ledger.metrics();
    let tasks: Vec<_> = (1..=CLIENTS)
        .map(|client| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                for index in 0..PER_CLIENT {
                    let id = client * 1000 + index;
                    let results = ledger
                        .create_transfers(vec![transfer(id, client, CLIENTS + 1, 1)])
                        .await;
                    assert_eq!(results, Ok(vec![CreateTransferResult::Ok]));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("client");
    }
    let after = ledger.metrics();
    let committed = after.transfers_committed - before.transfers_committed;
    assert_eq!(committed as u128, CLIENTS * PER_CLIENT);
    let appends = after.store_appends - before.store_appends;
    assert!(
        appends < committed,
        "{appends} store transactions for {committed} transfers: no group commit"
    );
    assert_eq!(
        balances(&ledger, CLIENTS + 1).await,
        (0, CLIENTS * PER_CLIENT)
    );
    for client in 1..=CLIENTS {
        assert_eq!(balances(&ledger, client).await, (PER_CLIENT, 0));
    }
}

#[tokio::test]
async fn pending_transfers_expire_on_the_idle_tick_and_replay_the_same() {
    let store = MemoryStore::new();
    let config = LedgerConfig {
        idle_tick_ms: 50,
        ..LedgerConfig::default()
    };
    let ledger = open(&store, config);
    ledger
        .create_accounts(vec![account(1), account(2)])
        .await
        .expect("accounts");
    let pending = Transfer {
        timeout: 1,
        flags: TransferFlags::PENDING,
        ..transfer(40, 1, 2, 25)
    };
    assert_eq!(
        ledger.create_transfers(vec![pending]).await,
        Ok(vec![CreateTransferResult::Ok])
    );
    let before = ledger.metrics().blocks_written;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(
        ledger.metrics().blocks_written > before,
        "the expiry was written without any request"
    );
    let status = ledger
        .read(|engine| engine.pending_status(TransferId(40)))
        .await
        .expect("read");
    assert_eq!(status, Some(PendingStatus::Expired));
    let found = ledger
        .lookup_accounts(vec![AccountId(1)])
        .await
        .expect("lookup");
    assert_eq!(found[0].debits_pending, 0, "the expired amount is released");
    ledger.shutdown();
    let mut reopened = store.clone();
    let replayed = replay_store(
        &mut reopened,
        ReplayOptions {
            operator_public_key: Some(key().public_key()),
            ..ReplayOptions::default()
        },
    )
    .expect("the store replays");
    assert_eq!(
        replayed.engine.pending_status(TransferId(40)),
        Some(PendingStatus::Expired)
    );
}

#[tokio::test]
async fn batches_at_the_limit_pass_and_over_it_are_refused() {
    let store = MemoryStore::new();
    let ledger = open(&store, LedgerConfig::default());
    ledger
        .create_accounts(vec![account(1), account(2)])
        .await
        .expect("accounts");
    let full: Vec<Transfer> = (0..BATCH_EVENTS_MAX as u128)
        .map(|i| transfer(10_000 + i, 1, 2, 1))
        .collect();
    let results = ledger.create_transfers(full).await.expect("a full batch");
    assert!(results.iter().all(|result| result.is_ok()));
    let over: Vec<Transfer> = (0..=BATCH_EVENTS_MAX as u128)
        .map(|i| transfer(50_000 + i, 1, 2, 1))
        .collect();
    let refused = ledger.create_transfers(over).await;
    assert_eq!(
        refused,
        Err(LedgerError::BatchTooLarge {
            len: BATCH_EVENTS_MAX + 1,
            max: BATCH_EVENTS_MAX
        })
    );
    assert_eq!(balances(&ledger, 2).await, (0, BATCH_EVENTS_MAX as u128));
}

#[tokio::test]
async fn another_operator_key_is_refused() {
    let store = MemoryStore::new();
    open(&store, LedgerConfig::default()).shutdown();
    let other = LedgerService::open(
        Box::new(store.clone()),
        OperatorKey::from_seed([1; 32]),
        LedgerConfig::default(),
    );
    assert!(matches!(other, Err(OpenError::KeyMismatch { .. })));
}

/// A note per transfer result, kept by the memory backend (the SQL backends' side of rows
/// is the store suite's `rows_commit_with_their_blocks`).
#[derive(Debug)]
struct ResultNote {
    id: u128,
    result: String,
}

impl store::tables::Row for ResultNote {
    fn write(&self, tx: &mut store::tables::TableTx<'_, '_>) -> Result<(), store::StoreError> {
        match tx {
            store::tables::TableTx::Memory(writes) => {
                let key = self.id.to_be_bytes().to_vec();
                writes.put(
                    "result_notes",
                    key,
                    std::sync::Arc::new(self.result.clone()),
                );
                Ok(())
            }
            _ => Err(store::StoreError::Injected("a memory-only test row")),
        }
    }
}

fn result_notes(store: &MemoryStore) -> Vec<(u128, String)> {
    let mut store = store.clone();
    let store::tables::TableRead::Memory(tables) = store.tables().unwrap() else {
        panic!("a memory store");
    };
    let notes = tables.rows::<String>("result_notes").map(|(key, result)| {
        let id = u128::from_be_bytes(key.try_into().unwrap());
        (id, result.clone())
    });
    notes.collect()
}

fn note_results(
    ids: Vec<u128>,
) -> impl FnOnce(&journal::TransferOutcome<'_>) -> (Vec<store::tables::RowRef>, usize) {
    move |outcome: &journal::TransferOutcome<'_>| {
        let results = outcome.results;
        let rows = ids.iter().zip(results).map(|(id, result)| {
            let note = ResultNote {
                id: *id,
                result: result.as_str().to_owned(),
            };
            std::sync::Arc::new(note) as store::tables::RowRef
        });
        (rows.collect(), results.len())
    }
}

/// Rows derived from a request's results are written in the same store transaction as the
/// block holding its transfers: after the answer both are durable; when the write fails
/// neither is, and the caller hears of the failure.
#[tokio::test]
async fn rows_are_durable_with_their_transfers_or_not_at_all() {
    let store = MemoryStore::new();
    let ledger = open(&store, LedgerConfig::default());
    ledger
        .create_accounts(vec![account(1), account(2)])
        .await
        .expect("accounts");
    let transfers = vec![transfer(10, 1, 2, 5), transfer(11, 1, 99, 5)];
    let answered = ledger
        .create_transfers_recorded(transfers, note_results(vec![10, 11]))
        .await
        .expect("recorded");
    assert_eq!(answered, 2);
    let expected = vec![
        (10, CreateTransferResult::Ok.as_str().to_owned()),
        (
            11,
            CreateTransferResult::CreditAccountNotFound
                .as_str()
                .to_owned(),
        ),
    ];
    assert_eq!(result_notes(&store), expected);
    let blocks = store.clone().block_count().unwrap();

    ledger
        .record(vec![std::sync::Arc::new(ResultNote {
            id: 12,
            result: "alone".into(),
        })])
        .await
        .expect("rows alone");
    assert_eq!(result_notes(&store).len(), 3);
    assert_eq!(
        store.clone().block_count().unwrap(),
        blocks,
        "rows alone add no block"
    );

    store.set_faults(FaultPlan::new().fail_appends_from(store.append_calls() + 1));
    let failed = ledger
        .create_transfers_recorded(vec![transfer(13, 1, 2, 5)], note_results(vec![13]))
        .await;
    assert!(failed.is_err(), "the caller hears of the failed write");
    assert_eq!(result_notes(&store).len(), 3, "no row without its block");
    assert_eq!(
        store.clone().block_count().unwrap(),
        blocks,
        "no block without its rows"
    );
    ledger.shutdown();
}

/// A block takes at most `BLOCK_REQUESTS_MAX` requests (what bounds the rows of one store
/// transaction), however many are waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_takes_at_most_its_request_limit() {
    use journal::sequencer::BLOCK_REQUESTS_MAX;
    let store = MemoryStore::new();
    let ledger = std::sync::Arc::new(open(&store, LedgerConfig::default()));
    ledger
        .create_accounts(vec![account(1), account(2)])
        .await
        .expect("accounts");
    let requests = 3 * BLOCK_REQUESTS_MAX as u128;
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..requests {
        let ledger = ledger.clone();
        tasks.spawn(async move {
            ledger
                .create_transfers(vec![transfer(1_000 + id, 1, 2, 1)])
                .await
        });
    }
    while let Some(joined) = tasks.join_next().await {
        assert_eq!(joined.unwrap().unwrap(), [CreateTransferResult::Ok]);
    }
    let blocks = store.clone().read_blocks(0, usize::MAX).unwrap();
    let per_block: Vec<usize> = blocks.iter().map(|block| block.transfers.len()).collect();
    assert!(
        per_block.iter().all(|count| *count <= BLOCK_REQUESTS_MAX),
        "{per_block:?}"
    );
    assert_eq!(per_block.iter().sum::<usize>() as u128, requests);
    std::sync::Arc::try_unwrap(ledger)
        .ok()
        .expect("one handle")
        .shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_request_queue_refuses_a_submission_that_cannot_wait_and_loses_none_taken() {
    let store = MemoryStore::new();
    let config = LedgerConfig {
        request_queue_max: 4,
        ..LedgerConfig::default()
    };
    let ledger = Arc::new(open(&store, config));
    ledger
        .create_accounts(vec![account(1), account(2)])
        .await
        .expect("accounts");
    // A read that holds the sequencer until released: nothing leaves the queue meanwhile.
    let (started, started_receiver) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let holding = {
        let ledger = ledger.clone();
        tokio::spawn(async move {
            ledger
                .read(move |_| {
                    started.send(()).expect("test waits");
                    released.recv().expect("test releases");
                })
                .await
        })
    };
    started_receiver.recv().expect("the read started");
    let (answers, answered) = std::sync::mpsc::channel();
    for id in 0..5u128 {
        let answers = answers.clone();
        let submitted = ledger.try_submit_recorded(
            vec![transfer(100 + id, 1, 2, 1)],
            |_| (Vec::new(), ()),
            move |answer| answers.send(answer).expect("test listens"),
        );
        if id < 4 {
            submitted.expect("room in the queue");
        } else {
            assert_eq!(submitted, Err(LedgerError::Busy), "the fifth finds it full");
        }
    }
    release.send(()).expect("the read waits");
    holding.await.expect("read task").expect("read");
    for _ in 0..4 {
        answered.recv().expect("answered").expect("durable");
    }
    assert_eq!(
        balances(&ledger, 1).await,
        (4, 0),
        "the four taken, not the fifth"
    );
}
