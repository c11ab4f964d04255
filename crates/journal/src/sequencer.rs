//! The single writer: batching, execution, journaling and group commit.
//!
//! Three threads form a pipeline. The *sequencer* thread owns the [`Engine`]: it takes every
//! request waiting in the queue (up to [`LedgerConfig::block_events_max`] events) and
//! executes them as one block. The *journal* thread appends the block's committed transfers
//! to the Merkle log, builds the header that links it to the previous block, and signs its
//! checkpoint. The *writer* thread owns the [`Store`]: it takes every block waiting for it
//! and writes them in one database transaction, then publishes the new checkpoint and
//! answers the requests. While the writer waits on fsync and the journal hashes, the
//! sequencer already executes the next block, and requests that arrive meanwhile pile up
//! into bigger blocks: the busier the ledger, the bigger the group commit.
//!
//! Nothing is acknowledged before its block is durable. Reads ([`LedgerService::read`]) go
//! through the same pipeline, so what a read returns is durable too (linearizable).
//! If the store fails, the service stops (fail-stop): the engine may be ahead of the disk,
//! and only a restart, which replays the store, brings them back together.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ledger::block::{accounts_digest, block_hash, transfer_leaf_hash, transfer_leaf_hashes};
use ledger::checkpoint::{Checkpoint, OperatorKey};
use ledger::engine::{BlockEffects, Engine, EngineConfig, EngineState, StoredTransfer};
use ledger::merkle::{MerkleFrontier, consistency_proof_from, inclusion_proof_from, root_from};
use ledger::types::{
    Account, AccountBalance, AccountId, BlockHeader, CreateAccountResult, CreateTransferResult,
    Hash, Transfer, TransferId,
};
use store::tables::{RowRef, TableRead};
use store::{BlockRecord, BlockWrite, Store, StoreError, StoreMeta};
use tokio::sync::{mpsc, oneshot};

use crate::readers::{StoreReaders, perfect_subtree};
use crate::replay::{ReplayError, ReplayOptions, replay_store, verify_store};
use crate::snapshot::Snapshot;

/// Most events (accounts or transfers) in one request, and in one block.
pub const BATCH_EVENTS_MAX: usize = 8190;

/// Whether blocks are hashed into the journal. `Off` exists only to measure the journal's
/// cost in benchmarks: a store written with it off does not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JournalMode {
    On,
    Off,
}

#[derive(Clone, Copy, Debug)]
pub struct LedgerConfig {
    /// Most events per request and per block.
    pub block_events_max: usize,
    /// Requests waiting for the sequencer before senders wait (backpressure).
    pub request_queue_max: usize,
    /// Blocks executed but not yet durable (the pipeline's depth).
    pub commit_queue_max: usize,
    /// How often an idle sequencer starts an empty block so pending timeouts expire.
    pub idle_tick_ms: u64,
    /// Longest the writer waits for requests already in flight to join its transaction
    /// (group commit, like PostgreSQL's `commit_delay`). It waits only while more requests
    /// are in flight than its group holds and the group is smaller than a full block.
    pub group_commit_wait_us: u64,
    pub journal: JournalMode,
    /// What the engine holds in memory (transfer cache, id filter).
    pub engine: EngineConfig,
    /// A snapshot is taken after a block once this many transfers were committed since the
    /// last one (or [`LedgerConfig::snapshot_interval_blocks`] blocks): start replays at most
    /// about this many. Zero turns snapshots off.
    pub snapshot_interval_transfers: u64,
    pub snapshot_interval_blocks: u64,
}

/// Default of [`LedgerConfig::snapshot_interval_transfers`].
pub const SNAPSHOT_INTERVAL_TRANSFERS_DEFAULT: u64 = 500_000;
/// Default of [`LedgerConfig::snapshot_interval_blocks`].
pub const SNAPSHOT_INTERVAL_BLOCKS_DEFAULT: u64 = 20_000;

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            block_events_max: BATCH_EVENTS_MAX,
            request_queue_max: 4096,
            commit_queue_max: 4,
            idle_tick_ms: 1000,
            group_commit_wait_us: 500,
            journal: JournalMode::On,
            engine: EngineConfig::default(),
            snapshot_interval_transfers: SNAPSHOT_INTERVAL_TRANSFERS_DEFAULT,
            snapshot_interval_blocks: SNAPSHOT_INTERVAL_BLOCKS_DEFAULT,
        }
    }
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum LedgerError {
    #[error("a batch holds {len} events; the maximum is {max}")]
    BatchTooLarge { len: usize, max: usize },
    #[error("the ledger is unavailable: {0}")]
    Unavailable(String),
    /// The request queue is full: nothing was submitted; retry.
    #[error("the ledger is busy: too many requests are waiting; retry")]
    Busy,
    #[error("proof range invalid: {0}")]
    ProofRange(String),
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error(
        "the operator key does not match the key this store was created with (store pins {pinned})"
    )]
    KeyMismatch { pinned: String },
}

/// A checkpoint with the operator's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    pub signature: [u8; 64],
    pub public_key: [u8; 32],
}

/// A committed transfer with its place in the log and the proof that it is there.
#[derive(Clone, Debug)]
pub struct InclusionProof {
    pub transfer: Transfer,
    pub leaf_index: u64,
    pub leaf_hash: Hash,
    pub proof: Vec<Hash>,
    pub checkpoint: SignedCheckpoint,
}

#[derive(Clone, Debug)]
pub struct ConsistencyProof {
    pub from_size: u64,
    pub to_size: u64,
    pub from_root: Hash,
    pub to_root: Hash,
    pub proof: Vec<Hash>,
}

/// Counters for `/metrics`.
#[derive(Clone, Copy, Debug, Default)]
pub struct MetricsSnapshot {
    pub requests: u64,
    pub accounts_created: u64,
    pub transfers_committed: u64,
    pub blocks_written: u64,
    pub store_appends: u64,
    pub store_append_micros: u64,
    pub block_height: u64,
    pub tree_size: u64,
    /// Requests submitted and not answered yet (queued, executing or being written).
    pub requests_in_flight: u64,
    /// Requests waiting in the queue for the sequencer (at most
    /// [`LedgerConfig::request_queue_max`]).
    pub request_queue_depth: u64,
}

#[derive(Default)]
struct Metrics {
    requests: AtomicU64,
    accounts_created: AtomicU64,
    transfers_committed: AtomicU64,
    blocks_written: AtomicU64,
    store_appends: AtomicU64,
    store_append_micros: AtomicU64,
}

/// State shared between the service handle and its two threads.
struct Shared {
    /// Engine block number of the last block durable in the store: the sequencer's cache
    /// may forget what was changed at or before it.
    durable_block: AtomicU64,
    checkpoint: RwLock<Option<SignedCheckpoint>>,
    failure: Mutex<Option<String>>,
    public_key: [u8; 32],
    metrics: Metrics,
    /// Requests submitted and not yet answered (each request gets exactly one reply).
    in_flight: AtomicU64,
}

impl Shared {
    fn failure(&self) -> Option<LedgerError> {
        let failure = self.failure.lock().expect("failure lock");
        failure
            .as_ref()
            .map(|reason| LedgerError::Unavailable(reason.clone()))
    }

    fn fail(&self, reason: String) {
        tracing::error!(%reason, "ledger stopped: store write failed");
        *self.failure.lock().expect("failure lock") = Some(reason);
    }
}

/// Answers one request once its block is durable (`None`) or failed (`Some`).
type Reply = Box<dyn FnOnce(Option<LedgerError>) + Send>;
/// A read executed by the sequencer against the engine, answered after durability.
type ReadJob = Box<dyn FnOnce(&Engine) -> Reply + Send>;
/// What becomes of a request's transfer results: the domain rows to write in the same
/// store transaction as their block, and the answer (or, if the ledger failed, only the
/// answer).
type TransferJob = Box<
    dyn for<'a> FnOnce(Result<TransferOutcome<'a>, LedgerError>) -> (Vec<RowRef>, Reply) + Send,
>;

/// What a request's transfers did, as the rows recorded with them see it: one result per
/// transfer, and the engine right after them (to read what a balancing transfer moved).
pub struct TransferOutcome<'a> {
    pub results: &'a [CreateTransferResult],
    engine: &'a Engine,
}

impl TransferOutcome<'_> {
    /// A transfer as the engine holds it right after the request's (one it just created
    /// is always there: the cache evicts only what is durable).
    pub fn transfer(&self, id: TransferId) -> Option<&Transfer> {
        self.engine.transfer(id)
    }
}

/// Most rows one request may write beside its transfers: a request's records, never a
/// report. More is a bug in the caller; the sequencer stops rather than lose them.
pub const ROWS_PER_REQUEST_MAX: usize = 1024;

/// Most requests in one block. With [`ROWS_PER_REQUEST_MAX`], a block's rows fill at most
/// half of one store transaction's [`store::tables::ROWS_PER_APPEND_MAX`]; the writer stops
/// adding blocks to a transaction once the other half is reached, so no append is ever
/// over the limit.
pub const BLOCK_REQUESTS_MAX: usize = store::tables::ROWS_PER_APPEND_MAX / 2 / ROWS_PER_REQUEST_MAX;

/// Once a store transaction holds this many rows, the writer adds no more blocks to it.
const GROUP_ROWS_SOFT_MAX: usize = store::tables::ROWS_PER_APPEND_MAX / 2;

enum Request {
    CreateAccounts(
        Vec<Account>,
        oneshot::Sender<Result<Vec<CreateAccountResult>, LedgerError>>,
    ),
    CreateTransfers(Vec<Transfer>, TransferJob),
    Read(ReadJob),
}

impl Request {
    fn event_count(&self) -> usize {
        match self {
            Request::CreateAccounts(accounts, _) => accounts.len(),
            Request::CreateTransfers(transfers, _) => transfers.len(),
            Request::Read(_) => 0,
        }
    }
}

/// One executed block (effects and the rows it changed), or only reads, on its way to the
/// journal thread.
struct Executed {
    block: Option<(BlockEffects, Vec<Account>)>,
    /// Domain rows of the requests executed, written in the same store transaction.
    rows: Vec<RowRef>,
    /// The engine's state after the block, when a snapshot is due.
    snapshot: Option<Box<(EngineState, u64)>>,
    replies: Vec<Reply>,
    /// The engine's block number when this was executed.
    engine_block: u64,
}

/// One journaled block (or only reads) on its way to the writer.
struct Commit {
    write: Option<BlockWrite>,
    rows: Vec<RowRef>,
    snapshot: Option<Box<Snapshot>>,
    replies: Vec<Reply>,
    engine_block: u64,
}

/// Handle to the running ledger. Cheap to share behind an `Arc`; dropping the last handle
/// stops both threads after the blocks in flight are written.
/// What a [`LedgerService::verify`] that succeeded covered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    pub block_count: u64,
    pub tree_size: u64,
    /// The last block's Merkle root (none in an empty ledger).
    pub root: Option<Hash>,
}

pub struct LedgerService {
    requests: mpsc::Sender<Request>,
    shared: Arc<Shared>,
    config: LedgerConfig,
    threads: Mutex<Vec<JoinHandle<()>>>,
    readers: Arc<StoreReaders>,
}

impl LedgerService {
    /// Opens the ledger on `store`: pins or checks the operator key, replays and checks
    /// every stored block, then starts the sequencer and writer threads.
    pub fn open(
        mut store: Box<dyn Store>,
        key: OperatorKey,
        config: LedgerConfig,
    ) -> Result<LedgerService, OpenError> {
        assert!(config.block_events_max >= 1 && config.block_events_max <= BATCH_EVENTS_MAX);
        let public_key = key.public_key();
        let pinned = store.init(&StoreMeta {
            operator_public_key: public_key,
        })?;
        if pinned.operator_public_key != public_key {
            let pinned = hex_string(&pinned.operator_public_key);
            return Err(OpenError::KeyMismatch { pinned });
        }
        let replayed = replay_store(
            store.as_mut(),
            ReplayOptions {
                operator_public_key: None,
                engine: Some(config.engine),
            },
        )?;
        let (store, [readers, prefetch_store, snapshot_store]) = open_readers(store)?;
        let readers = Arc::new(StoreReaders::new(readers));
        let checkpoint = replayed
            .head
            .map(|(header, hash, signature)| SignedCheckpoint {
                checkpoint: Checkpoint::of_block(&header, &hash),
                signature,
                public_key,
            });
        let shared = Arc::new(Shared {
            durable_block: AtomicU64::new(replayed.engine.block_number()),
            checkpoint: RwLock::new(checkpoint),
            failure: Mutex::new(None),
            public_key,
            metrics: Metrics::default(),
            in_flight: AtomicU64::new(0),
        });
        let (request_sender, request_receiver) = mpsc::channel(config.request_queue_max);
        let (commit_sender, commit_receiver) = std_mpsc::sync_channel(config.commit_queue_max);
        let head = replayed
            .head
            .map(|(header, hash, _)| (header.height + 1, hash));
        let (executed_sender, executed_receiver) = std_mpsc::sync_channel(config.commit_queue_max);
        let replayed_last_timestamp = replayed.engine.last_timestamp();
        let sequencer = Sequencer {
            engine: replayed.engine,
            config,
            shared: shared.clone(),
            store: prefetch_store,
            keys: Vec::new(),
            // A start that replayed blocks after the latest snapshot owes one: without it, a
            // clean shutdown with no new traffic would leave the next start the same replay.
            since_snapshot: (replayed.tail_transfers, replayed.tail_blocks),
            journaled_last_timestamp: replayed_last_timestamp,
        };
        let snapshot_key = (config.journal == JournalMode::On).then(|| key.clone());
        let signer = (config.journal == JournalMode::On).then_some(key);
        let snapshots_on = signer.is_some() && config.snapshot_interval_transfers > 0;
        let snapshot_store = snapshots_on.then_some(snapshot_store);
        let (snapshot_sender, snapshot_receiver) = std_mpsc::sync_channel(1);
        let journal = Journal {
            mode: config.journal,
            next_height: head.map_or(0, |(height, _)| height),
            previous_hash: head.map_or([0; 32], |(_, hash)| hash),
            tree_size: replayed.frontier.size(),
            frontier: replayed.frontier,
            leaf_hashes: Vec::new(),
        };
        let writer_shared = shared.clone();
        let group_commit_wait = Duration::from_micros(config.group_commit_wait_us);
        let block_events_max = config.block_events_max;
        let threads = vec![
            spawn("mileverse-sequencer", move || {
                sequencer.run(request_receiver, executed_sender)
            }),
            spawn("mileverse-journal", move || {
                journal.run(executed_receiver, commit_sender)
            }),
            spawn("mileverse-writer", move || {
                let group = GroupCommit {
                    wait_max: group_commit_wait,
                    events_max: block_events_max,
                };
                let snapshots = snapshots_on.then_some(snapshot_sender);
                run_writer(
                    store,
                    writer_shared,
                    commit_receiver,
                    group,
                    signer,
                    snapshots,
                )
            }),
        ];
        let mut threads = threads;
        if let (Some(snapshot_store), Some(key)) = (snapshot_store, snapshot_key) {
            threads.push(spawn("mileverse-snapshots", move || {
                run_snapshots(snapshot_store, key, snapshot_receiver)
            }));
        }
        Ok(LedgerService {
            requests: request_sender,
            shared,
            config,
            threads: Mutex::new(threads),
            readers,
        })
    }

    /// Creates accounts; one result per account, in order.
    pub async fn create_accounts(
        &self,
        accounts: Vec<Account>,
    ) -> Result<Vec<CreateAccountResult>, LedgerError> {
        self.check_batch(accounts.len())?;
        if accounts.is_empty() {
            return Ok(Vec::new());
        }
        let (sender, receiver) = oneshot::channel();
        self.submit(Request::CreateAccounts(accounts, sender))
            .await?;
        receiver.await.map_err(|_| self.gone())?
    }

    /// Creates transfers; one result per transfer, in order.
    pub async fn create_transfers(
        &self,
        transfers: Vec<Transfer>,
    ) -> Result<Vec<CreateTransferResult>, LedgerError> {
        if transfers.is_empty() {
            return Ok(Vec::new());
        }
        self.create_transfers_recorded(transfers, |executed| {
            (Vec::new(), executed.results.to_vec())
        })
        .await
    }

    /// Creates transfers and writes the domain rows that `record` derives from their
    /// results in the same store transaction as their block (see `store::tables`): the
    /// transfers and the rows are durable together, or neither is. Answers `record`'s value
    /// once they are durable. `record` runs on the sequencer thread, in order with every
    /// other request: it must be quick and must not block. At most
    /// [`ROWS_PER_REQUEST_MAX`] rows; no transfers at all writes the rows alone.
    pub async fn create_transfers_recorded<T, F>(
        &self,
        transfers: Vec<Transfer>,
        record: F,
    ) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&TransferOutcome<'_>) -> (Vec<RowRef>, T) + Send + 'static,
    {
        self.check_batch(transfers.len())?;
        let (sender, receiver) = oneshot::channel();
        let job = recorded_job(record, move |answer| {
            let _ = sender.send(answer);
        });
        self.submit(Request::CreateTransfers(transfers, job))
            .await?;
        receiver.await.map_err(|_| self.gone())?
    }

    /// [`LedgerService::create_transfers_recorded`] without waiting: hands the request over
    /// now, in the order of the calls, or refuses it when the request queue is full
    /// ([`LedgerConfig::request_queue_max`]); calls `answer` (on the ledger's writer thread)
    /// once the transfers and rows are durable, or failed. For callers that must order their
    /// commits under a lock of their own, where they cannot wait.
    pub fn try_submit_recorded<T, F, A>(
        &self,
        transfers: Vec<Transfer>,
        record: F,
        answer: A,
    ) -> Result<(), LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&TransferOutcome<'_>) -> (Vec<RowRef>, T) + Send + 'static,
        A: FnOnce(Result<T, LedgerError>) + Send + 'static,
    {
        let request = self.recorded_request(transfers, record, answer)?;
        let sent = self.requests.try_send(request);
        self.counted(&sent);
        match sent {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(LedgerError::Busy),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(self.gone()),
        }
    }

    /// [`LedgerService::create_transfers_recorded`] for a thread outside the async runtime
    /// that must hand its requests over in order (the move of an older records file at
    /// open): waits only for room in the request queue, and calls `answer` (on the ledger's
    /// writer thread) once the transfers and rows are durable, or failed. Never call it
    /// from a task.
    pub fn submit_recorded_blocking<T, F, A>(
        &self,
        transfers: Vec<Transfer>,
        record: F,
        answer: A,
    ) -> Result<(), LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&TransferOutcome<'_>) -> (Vec<RowRef>, T) + Send + 'static,
        A: FnOnce(Result<T, LedgerError>) + Send + 'static,
    {
        let request = self.recorded_request(transfers, record, answer)?;
        let sent = self.requests.blocking_send(request);
        self.counted(&sent);
        sent.map_err(|_| self.gone())
    }

    /// The request of [`LedgerService::create_transfers_recorded`] (checked, not sent).
    fn recorded_request<T, F, A>(
        &self,
        transfers: Vec<Transfer>,
        record: F,
        answer: A,
    ) -> Result<Request, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&TransferOutcome<'_>) -> (Vec<RowRef>, T) + Send + 'static,
        A: FnOnce(Result<T, LedgerError>) + Send + 'static,
    {
        self.check_batch(transfers.len())?;
        // Counted in flight before the writer can answer it; `counted` takes it back if
        // the request was not sent.
        self.shared.in_flight.fetch_add(1, Ordering::Relaxed);
        Ok(Request::CreateTransfers(
            transfers,
            recorded_job(record, answer),
        ))
    }

    /// Counts a request handed over, or takes back its place in flight if it was not.
    fn counted<E>(&self, sent: &Result<(), E>) {
        match sent {
            Ok(()) => self.shared.metrics.requests.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.shared.in_flight.fetch_sub(1, Ordering::Relaxed),
        };
    }

    /// Writes domain rows alone, in order with the ledger's blocks; answers once durable.
    pub async fn record(&self, rows: Vec<RowRef>) -> Result<(), LedgerError> {
        self.create_transfers_recorded(Vec::new(), move |_| (rows, ()))
            .await
    }

    /// Runs `read` on the engine in sequence with the writes, and answers once everything
    /// it could have observed is durable.
    pub async fn read<T, F>(&self, read: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&Engine) -> T + Send + 'static,
    {
        let (sender, receiver) = oneshot::channel();
        let job: ReadJob = Box::new(move |engine: &Engine| {
            let value = read(engine);
            Box::new(move |failure: Option<LedgerError>| {
                let _ = sender.send(failure.map_or(Ok(value), Err));
            })
        });
        self.submit(Request::Read(job)).await?;
        receiver.await.map_err(|_| self.gone())?
    }

    pub async fn lookup_accounts(&self, ids: Vec<AccountId>) -> Result<Vec<Account>, LedgerError> {
        self.check_batch(ids.len())?;
        self.read(move |engine| {
            ids.iter()
                .filter_map(|id| engine.account(*id).copied())
                .collect()
        })
        .await
    }

    /// Committed transfers with these ids, in the order asked, missing ones left out: from
    /// the engine's memory, else from the store once everything before is durable.
    pub async fn lookup_transfers(
        &self,
        ids: Vec<TransferId>,
    ) -> Result<Vec<Transfer>, LedgerError> {
        Ok(self
            .lookup_stored(ids)
            .await?
            .into_iter()
            .map(|stored| stored.transfer)
            .collect())
    }

    /// [`LedgerService::lookup_transfers`] with pending statuses and leaf indexes.
    pub async fn lookup_stored(
        &self,
        ids: Vec<TransferId>,
    ) -> Result<Vec<StoredTransfer>, LedgerError> {
        self.check_batch(ids.len())?;
        // Answered after every block before it is durable, so the store has what memory lacks.
        let (ids, in_memory) = self
            .read(move |engine| {
                let found: Vec<Option<StoredTransfer>> =
                    ids.iter().map(|id| engine.stored_transfer(*id)).collect();
                (ids, found)
            })
            .await?;
        let missing: Vec<TransferId> = ids
            .iter()
            .zip(&in_memory)
            .filter(|(_, found)| found.is_none())
            .map(|(id, _)| *id)
            .collect();
        let from_store = if missing.is_empty() {
            Vec::new()
        } else {
            self.with_reader(move |store| store.lookup_transfers(&missing))
                .await?
        };
        let by_id: std::collections::HashMap<u128, StoredTransfer> = from_store
            .into_iter()
            .map(|stored| (stored.transfer.id.0, stored))
            .collect();
        let ordered = ids
            .iter()
            .zip(in_memory)
            .filter_map(|(id, found)| found.or_else(|| by_id.get(&id.0).copied()));
        Ok(ordered.collect())
    }

    /// Balances of a `history` account after each transfer that touched it, oldest first.
    pub async fn account_history(&self, id: AccountId) -> Result<Vec<AccountBalance>, LedgerError> {
        // A barrier: everything executed before is durable when it answers.
        self.read(|_| ()).await?;
        self.with_reader(move |store| store.account_history(id))
            .await
    }

    /// The committed transfers with these timestamps, in log order (missing ones left out).
    pub async fn transfers_at(&self, timestamps: Vec<u64>) -> Result<Vec<Transfer>, LedgerError> {
        self.read(|_| ()).await?;
        self.with_reader(move |store| store.transfers_at(&timestamps))
            .await
    }

    /// Runs `read` on a store reader on a blocking thread.
    pub(crate) async fn with_reader<T: Send + 'static>(
        &self,
        read: impl FnOnce(&mut dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, LedgerError> {
        let readers = self.readers.clone();
        let joined = tokio::task::spawn_blocking(move || readers.with(read)).await;
        let read = joined.map_err(|error| LedgerError::Unavailable(error.to_string()))?;
        read.map_err(|error| LedgerError::Unavailable(format!("store read failed: {error}")))
    }

    /// Runs a domain table query (`store::tables`) on a reader connection. Rows are only
    /// ever read from the store, where they appear once committed, and a request is
    /// answered only once its commit is durable: so the answer shows every row an answered
    /// request wrote, and nothing a crash could take back, without waiting for the writer
    /// (unlike the ledger's queries, whose engine runs ahead of the disk).
    ///
    /// On an embedded store (SQLite, memory) with an idle reader connection the query runs
    /// right here: a point query takes microseconds, less than handing it to a blocking
    /// thread and back. PostgreSQL's synchronous client must not run on the runtime's
    /// threads, so its queries always go to one.
    pub async fn tables<T: Send + 'static>(
        &self,
        read: impl FnOnce(&mut TableRead<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, LedgerError> {
        let mut read = Some(read);
        let inline = self.readers.try_with_idle(|store| {
            let mut tables = store.tables()?;
            if matches!(tables, TableRead::Postgres(_)) {
                return Ok(None);
            }
            let read = read.take().expect("the query runs once");
            read(&mut tables).map(Some)
        });
        match inline {
            Some(Ok(Some(value))) => return Ok(value),
            Some(Err(error)) => {
                return Err(LedgerError::Unavailable(format!(
                    "store read failed: {error}"
                )));
            }
            Some(Ok(None)) | None => {}
        }
        let read = read.take().expect("the query has not run");
        self.with_reader(move |store| read(&mut store.tables()?))
            .await
    }

    /// [`LedgerService::tables`] without the barrier, from a thread outside the runtime
    /// (opening the platform, before it sends anything).
    pub fn tables_blocking<T>(
        &self,
        read: impl FnOnce(&mut TableRead<'_>) -> Result<T, StoreError>,
    ) -> Result<T, LedgerError> {
        self.readers
            .with(move |store| read(&mut store.tables()?))
            .map_err(|error| LedgerError::Unavailable(format!("store read failed: {error}")))
    }

    /// Verifies the stored ledger from its first block on a reader connection
    /// ([`verify_store`]: the hash chain, every signature against this ledger's key, the
    /// Merkle roots, the transfers re-executed, the balances), with the engine's bounds of
    /// this ledger's configuration. `Ok(Err(..))` is a ledger that does not verify;
    /// `Err(..)` a store that could not be read. Takes a reader for as long as it runs
    /// (proportional to history): callers run one at a time.
    pub async fn verify(&self) -> Result<Result<Verified, String>, LedgerError> {
        let (public_key, engine) = (self.shared.public_key, self.config.engine);
        let readers = self.readers.clone();
        let joined = tokio::task::spawn_blocking(move || {
            readers.with(move |store| match verify_store(store, public_key, engine) {
                Ok(replayed) => Ok(Ok(Verified {
                    block_count: replayed.block_count,
                    tree_size: replayed.frontier.size(),
                    root: replayed.head.map(|(header, _, _)| header.merkle_root),
                })),
                // A store that cannot be read says nothing about the ledger; a corrupt one does.
                Err(ReplayError::Store(error)) if !matches!(error, StoreError::Corrupt { .. }) => {
                    Err(error)
                }
                Err(error) => Ok(Err(error.to_string())),
            })
        })
        .await;
        let verified = joined.map_err(|error| LedgerError::Unavailable(error.to_string()))?;
        verified.map_err(|error| LedgerError::Unavailable(format!("store read failed: {error}")))
    }

    /// The latest durable, signed checkpoint (none before the first block).
    pub fn checkpoint(&self) -> Option<SignedCheckpoint> {
        *self.shared.checkpoint.read().expect("checkpoint lock")
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.shared.public_key
    }

    /// Proves that transfer `id` is in the log at the latest checkpoint.
    pub async fn inclusion_proof(
        &self,
        id: TransferId,
    ) -> Result<Option<InclusionProof>, LedgerError> {
        let Some(stored) = self.lookup_stored(vec![id]).await?.pop() else {
            return Ok(None);
        };
        // The lookup was answered after its block was durable, so the checkpoint covers it.
        let checkpoint = self.checkpoint().ok_or_else(|| self.gone())?;
        let tree_size = checkpoint.checkpoint.tree_size;
        let leaf_index = stored.leaf_index;
        let proof = self
            .with_reader(move |store| {
                let mut perfect = |start, width| perfect_subtree(store, start, width);
                inclusion_proof_from(&mut perfect, leaf_index, tree_size).transpose()
            })
            .await?
            .ok_or_else(|| {
                LedgerError::ProofRange(format!("leaf {leaf_index} not in tree of {tree_size}"))
            })?;
        let transfer = stored.transfer;
        Ok(Some(InclusionProof {
            leaf_hash: transfer_leaf_hash(&transfer),
            transfer,
            leaf_index,
            proof,
            checkpoint,
        }))
    }

    /// Proves that the log at `from_size` is a prefix of the log at `to_size`; both must be
    /// at most the latest checkpoint's size.
    pub async fn consistency_proof(
        &self,
        from_size: u64,
        to_size: u64,
    ) -> Result<ConsistencyProof, LedgerError> {
        let durable = self.checkpoint().map_or(0, |c| c.checkpoint.tree_size);
        if from_size == 0 || from_size > to_size || to_size > durable {
            return Err(LedgerError::ProofRange(format!(
                "need 0 < from <= to <= {durable} (the checkpoint's tree size), got from={from_size} to={to_size}"
            )));
        }
        let (proof, from_root, to_root) = self
            .with_reader(move |store| {
                let mut perfect = |start, width| perfect_subtree(store, start, width);
                let proof = consistency_proof_from(&mut perfect, from_size, to_size)
                    .expect("sizes checked above")?;
                let from_root = root_from(&mut perfect, from_size)?;
                let to_root = root_from(&mut perfect, to_size)?;
                Ok((proof, from_root, to_root))
            })
            .await?;
        Ok(ConsistencyProof {
            from_size,
            to_size,
            from_root,
            to_root,
            proof,
        })
    }

    /// The counters and depths `/metrics` shows: atomics and the queue's length, no IO.
    pub fn metrics(&self) -> MetricsSnapshot {
        let metrics = &self.shared.metrics;
        let checkpoint = self.checkpoint();
        MetricsSnapshot {
            requests: metrics.requests.load(Ordering::Relaxed),
            accounts_created: metrics.accounts_created.load(Ordering::Relaxed),
            transfers_committed: metrics.transfers_committed.load(Ordering::Relaxed),
            blocks_written: metrics.blocks_written.load(Ordering::Relaxed),
            store_appends: metrics.store_appends.load(Ordering::Relaxed),
            store_append_micros: metrics.store_append_micros.load(Ordering::Relaxed),
            block_height: checkpoint.map_or(0, |c| c.checkpoint.block_height),
            tree_size: checkpoint.map_or(0, |c| c.checkpoint.tree_size),
            requests_in_flight: self.shared.in_flight.load(Ordering::Relaxed),
            request_queue_depth: (self.requests.max_capacity() - self.requests.capacity()) as u64,
        }
    }

    /// Why the service stopped, if it did (for readiness checks).
    pub fn failure(&self) -> Option<LedgerError> {
        self.shared.failure()
    }

    /// Stops accepting requests and waits until every block in flight is written.
    pub fn shutdown(self) {
        let LedgerService {
            requests, threads, ..
        } = self;
        drop(requests);
        for thread in threads.into_inner().expect("threads lock") {
            let _ = thread.join();
        }
    }

    fn check_batch(&self, len: usize) -> Result<(), LedgerError> {
        let max = self.config.block_events_max;
        if len > max {
            return Err(LedgerError::BatchTooLarge { len, max });
        }
        self.shared.failure().map_or(Ok(()), Err)
    }

    async fn submit(&self, request: Request) -> Result<(), LedgerError> {
        self.shared.metrics.requests.fetch_add(1, Ordering::Relaxed);
        self.shared.in_flight.fetch_add(1, Ordering::Relaxed);
        let sent = self.requests.send(request).await;
        if sent.is_err() {
            self.shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
        sent.map_err(|_| self.gone())
    }

    fn gone(&self) -> LedgerError {
        self.shared
            .failure()
            .unwrap_or_else(|| LedgerError::Unavailable("the ledger has stopped".into()))
    }
}

/// Reader connections: for reads, for the sequencer's prefetch, for snapshots.
type Readers = [Box<dyn Store>; 3];

/// Three more connections to the store (reads, prefetch, snapshots), made on a thread of
/// their own: a synchronous PostgreSQL client cannot connect from inside an async runtime,
/// and `open` may be called from one.
fn open_readers(store: Box<dyn Store>) -> Result<(Box<dyn Store>, Readers), StoreError> {
    let opening = std::thread::Builder::new()
        .name("store-readers-open".into())
        .spawn(move || {
            let readers = [store.reader()?, store.reader()?, store.reader()?];
            Ok((store, readers))
        })
        .map_err(StoreError::Io)?;
    opening.join().expect("opening store readers panicked")
}

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(body)
        .expect("spawn ledger thread")
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Nanoseconds since the Unix epoch: the engine's clock input. The engine itself keeps
/// timestamps strictly increasing, so a clock step backwards cannot reorder the journal.
fn now_ns() -> u64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX)
}

/// The sequencer thread's state: the engine, and a store connection for its prefetches.
struct Sequencer {
    engine: Engine,
    config: LedgerConfig,
    shared: Arc<Shared>,
    store: Box<dyn Store>,
    /// Reused buffer of the ids a block prefetches.
    keys: Vec<TransferId>,
    /// Transfers and blocks since the last snapshot.
    since_snapshot: (u64, u64),
    /// The engine's clock after the last journaled block.
    journaled_last_timestamp: u64,
}

impl Sequencer {
    fn run(
        mut self,
        mut requests: mpsc::Receiver<Request>,
        executed: std_mpsc::SyncSender<Executed>,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build();
        let runtime = runtime.expect("sequencer runtime");
        let tick = Duration::from_millis(self.config.idle_tick_ms);
        let mut carry: Option<Request> = None;
        loop {
            let first = match carry.take() {
                Some(request) => Some(request),
                None => match runtime
                    .block_on(async { tokio::time::timeout(tick, requests.recv()).await })
                {
                    Ok(Some(request)) => Some(request),
                    Ok(None) => {
                        self.snapshot_at_shutdown(&executed);
                        return;
                    }
                    Err(_elapsed) => None,
                },
            };
            let batch = self.gather(first, &mut requests, &mut carry);
            let durable_block = self.shared.durable_block.load(Ordering::Acquire);
            self.engine.evict(durable_block);
            let block = self.execute(batch);
            if (block.block.is_some() || !block.replies.is_empty()) && executed.send(block).is_err()
            {
                return;
            }
        }
    }

    /// Takes every waiting request that fits in one block.
    fn gather(
        &self,
        first: Option<Request>,
        requests: &mut mpsc::Receiver<Request>,
        carry: &mut Option<Request>,
    ) -> Vec<Request> {
        let Some(first) = first else {
            return Vec::new();
        };
        let mut events = first.event_count();
        let mut batch = vec![first];
        while batch.len() < BLOCK_REQUESTS_MAX
            && let Ok(request) = requests.try_recv()
        {
            if events + request.event_count() > self.config.block_events_max {
                *carry = Some(request);
                break;
            }
            events += request.event_count();
            batch.push(request);
        }
        batch
    }

    /// Executes one block: accounts first, then transfers, then reads. Requests in one block
    /// were all in flight at once, so any order among them is a valid linearization.
    fn execute(&mut self, batch: Vec<Request>) -> Executed {
        if let Err(error) = self.prefetch(&batch) {
            self.shared.fail(format!("store read failed: {error}"));
        }
        if let Some(failure) = self.shared.failure() {
            let replies = batch
                .into_iter()
                .map(|request| fail_reply(request, failure.clone()));
            return Executed {
                block: None,
                rows: Vec::new(),
                snapshot: None,
                replies: replies.collect(),
                engine_block: self.engine.block_number(),
            };
        }
        let mut accounts = Vec::new();
        let mut transfers = Vec::new();
        let mut reads = Vec::new();
        for request in batch {
            match request {
                Request::CreateAccounts(events, sender) => accounts.push((events, sender)),
                Request::CreateTransfers(events, sender) => transfers.push((events, sender)),
                Request::Read(job) => reads.push(job),
            }
        }
        self.engine.begin_block(now_ns());
        let mut replies: Vec<Reply> =
            Vec::with_capacity(accounts.len() + transfers.len() + reads.len());
        for (events, sender) in accounts {
            replies.push(result_reply(sender, self.engine.create_accounts(&events)));
        }
        let mut rows = Vec::new();
        for (events, job) in transfers {
            let results = self.engine.create_transfers(&events);
            let executed = TransferOutcome {
                results: &results,
                engine: &self.engine,
            };
            let (request_rows, reply) = job(Ok(executed));
            rows.extend(request_rows);
            replies.push(reply);
        }
        for job in reads {
            replies.push(job(&self.engine));
        }
        let effects = self.engine.end_block();
        // A block whose only effect is a failed id is journaled too: the store keeps failed
        // ids beside their block, so that they stay spent after a restart.
        let changed = !(effects.accounts.is_empty()
            && effects.transfers.is_empty()
            && effects.touched.is_empty()
            && effects.failed.is_empty());
        let block = changed.then(|| {
            let accounts_changed = effects
                .touched
                .iter()
                .map(|id| *self.engine.account(*id).expect("a touched account exists"))
                .collect();
            (effects, accounts_changed)
        });
        if block.is_some() {
            self.journaled_last_timestamp = self.engine.last_timestamp();
        }
        let snapshot = block
            .as_ref()
            .is_some_and(|(effects, _)| self.snapshot_due(effects.transfers.len() as u64))
            .then(|| Box::new((self.engine.state(), self.engine.last_transfer_timestamp())));
        Executed {
            block,
            rows,
            snapshot,
            replies,
            engine_block: self.engine.block_number(),
        }
    }

    /// On a clean shutdown, a snapshot of the state after the last block (unless one was
    /// just taken), so the next start replays nothing.
    fn snapshot_at_shutdown(&mut self, executed: &std_mpsc::SyncSender<Executed>) {
        let snapshots_on =
            self.config.journal == JournalMode::On && self.config.snapshot_interval_transfers > 0;
        if !snapshots_on || self.since_snapshot == (0, 0) || self.shared.failure().is_some() {
            return;
        }
        // Idle ticks run blocks that change nothing and are not journaled, yet move the
        // clock: the head's state has the clock of the last journaled block.
        let mut engine_state = self.engine.state();
        engine_state.last_timestamp = self.journaled_last_timestamp;
        let state = (engine_state, self.engine.last_transfer_timestamp());
        let _ = executed.send(Executed {
            block: None,
            rows: Vec::new(),
            snapshot: Some(Box::new(state)),
            replies: Vec::new(),
            engine_block: self.engine.block_number(),
        });
    }

    /// Counts a journaled block; true when a snapshot is due after it.
    fn snapshot_due(&mut self, transfers: u64) -> bool {
        let config = &self.config;
        if config.snapshot_interval_transfers == 0 {
            return false;
        }
        self.since_snapshot.0 += transfers;
        self.since_snapshot.1 += 1;
        let due = self.since_snapshot.0 >= config.snapshot_interval_transfers
            || self.since_snapshot.1 >= config.snapshot_interval_blocks;
        if due {
            self.since_snapshot = (0, 0);
        }
        due
    }

    /// Reads from the store every transfer the batch may look up that the engine does not
    /// hold (TigerBeetle's prefetch): execution itself then never waits on the disk.
    fn prefetch(&mut self, batch: &[Request]) -> Result<(), StoreError> {
        self.keys.clear();
        for request in batch {
            if let Request::CreateTransfers(transfers, _) = request {
                self.engine.prefetch_keys(transfers, &mut self.keys);
            }
        }
        crate::replay::answer_prefetch(&mut self.engine, self.store.as_mut(), &self.keys)
    }
}

/// The journal thread's state: the head of the chain. It runs beside the sequencer, so
/// hashing block N overlaps executing block N+1.
struct Journal {
    mode: JournalMode,
    next_height: u64,
    previous_hash: Hash,
    tree_size: u64,
    /// The Merkle log's right edge; interior nodes go to the store as they complete.
    frontier: MerkleFrontier,
    leaf_hashes: Vec<Hash>,
}

impl Journal {
    fn run(
        mut self,
        executed: std_mpsc::Receiver<Executed>,
        commits: std_mpsc::SyncSender<Commit>,
    ) {
        while let Ok(Executed {
            block,
            rows,
            snapshot,
            replies,
            engine_block,
        }) = executed.recv()
        {
            let write = block
                .map(|(effects, accounts_changed)| self.build_block(effects, accounts_changed));
            // After a block, of that block; at shutdown (no block), of the head.
            let head = match &write {
                Some(write) => Some((write.block.header.height, write.block.hash)),
                None => self
                    .next_height
                    .checked_sub(1)
                    .map(|h| (h, self.previous_hash)),
            };
            let snapshot = snapshot.zip(head).map(|(taken, (height, block_hash))| {
                let (state, last_transfer_timestamp) = *taken;
                Box::new(Snapshot {
                    height,
                    block_hash,
                    state,
                    last_transfer_timestamp,
                    frontier: self.frontier.clone(),
                })
            });
            let commit = Commit {
                write,
                rows,
                snapshot,
                replies,
                engine_block,
            };
            if commits.send(commit).is_err() {
                return;
            }
        }
    }

    /// Turns a block's effects into a journal block: leaf hashes into the Merkle log, the
    /// header, its hash and the signed checkpoint.
    fn build_block(&mut self, effects: BlockEffects, accounts_changed: Vec<Account>) -> BlockWrite {
        let journal = self.mode == JournalMode::On;
        self.tree_size += effects.transfers.len() as u64;
        let mut merkle_root = [0; 32];
        let mut merkle_nodes = Vec::new();
        if journal {
            self.leaf_hashes.clear();
            transfer_leaf_hashes(&effects.transfers, &mut self.leaf_hashes);
            self.frontier.extend(&self.leaf_hashes, &mut merkle_nodes);
            assert_eq!(
                self.frontier.size(),
                self.tree_size,
                "the log holds every committed transfer"
            );
            merkle_root = self.frontier.root();
        }
        let header = BlockHeader {
            height: self.next_height,
            previous_hash: self.previous_hash,
            timestamp: effects.timestamp,
            account_count: u32::try_from(effects.accounts.len()).expect("block account count"),
            transfer_count: u32::try_from(effects.transfers.len()).expect("block transfer count"),
            accounts_digest: if journal {
                accounts_digest(&effects.accounts)
            } else {
                [0; 32]
            },
            tree_size: self.tree_size,
            merkle_root,
        };
        let hash = block_hash(&header);
        // Signed by the writer if it ends up last in its store transaction (see `run_writer`).
        let signature = [0; 64];
        self.next_height += 1;
        self.previous_hash = hash;
        let block = BlockRecord {
            header,
            hash,
            signature,
            accounts: effects.accounts,
            transfers: effects.transfers,
        };
        BlockWrite {
            block,
            accounts_changed,
            history: effects.history,
            expired: effects.expired,
            merkle_nodes,
            failed: effects.failed,
        }
    }
}

/// The job of a recorded request: the rows `record` derives from what its transfers did,
/// and a reply that hands `answer` the value once durable (or the failure).
fn recorded_job<T, F, A>(record: F, answer: A) -> TransferJob
where
    T: Send + 'static,
    F: FnOnce(&TransferOutcome<'_>) -> (Vec<RowRef>, T) + Send + 'static,
    A: FnOnce(Result<T, LedgerError>) + Send + 'static,
{
    Box::new(move |executed| match executed {
        Ok(executed) => {
            let (rows, value) = record(&executed);
            assert!(
                rows.len() <= ROWS_PER_REQUEST_MAX,
                "{} rows for one request, more than {ROWS_PER_REQUEST_MAX}",
                rows.len()
            );
            let reply: Reply = Box::new(move |failure: Option<LedgerError>| {
                answer(failure.map_or(Ok(value), Err));
            });
            (rows, reply)
        }
        Err(failure) => {
            let reply: Reply = Box::new(move |_| answer(Err(failure)));
            (Vec::new(), reply)
        }
    })
}

fn result_reply<T: Send + 'static>(
    sender: oneshot::Sender<Result<T, LedgerError>>,
    value: T,
) -> Reply {
    Box::new(move |failure: Option<LedgerError>| {
        let _ = sender.send(failure.map_or(Ok(value), Err));
    })
}

fn fail_reply(request: Request, failure: LedgerError) -> Reply {
    Box::new(move |_| match request {
        Request::CreateAccounts(_, sender) => {
            let _ = sender.send(Err(failure));
        }
        Request::CreateTransfers(_, job) => {
            let (_, reply) = job(Err(failure.clone()));
            reply(Some(failure));
        }
        Request::Read(_) => {} // Dropping the job drops its sender: the reader sees `gone`.
    })
}

/// The writer thread: group commit of every block waiting, then the answers.
/// How the writer groups blocks into one store transaction.
#[derive(Clone, Copy)]
struct GroupCommit {
    wait_max: Duration,
    events_max: usize,
}

///
/// The operator signs the checkpoint of the last block of every store transaction: the head
/// that becomes durable and is published. The blocks before it in the transaction are bound
/// to it by their hash links, so one signature per transaction covers them (and signing is
/// the dearest part of the journal when blocks are small).
fn run_writer(
    mut store: Box<dyn Store>,
    shared: Arc<Shared>,
    commits: std_mpsc::Receiver<Commit>,
    group: GroupCommit,
    signer: Option<OperatorKey>,
    snapshots: Option<std_mpsc::SyncSender<Box<Snapshot>>>,
) {
    while let Ok(first) = commits.recv() {
        let Group {
            mut writes,
            rows,
            replies,
            engine_block,
            snapshot,
        } = gather_group(first, &commits, &shared, group);
        if let (Some(key), Some(last)) = (&signer, writes.last_mut()) {
            let block = &mut last.block;
            block.signature = key.sign(&Checkpoint::of_block(&block.header, &block.hash));
        }
        let failure = write_blocks(store.as_mut(), &shared, &writes, &rows);
        if failure.is_none() {
            shared
                .durable_block
                .fetch_max(engine_block, Ordering::Release);
            // Its block is durable now. A snapshot still being written makes this one wait
            // for the next interval rather than queue.
            if let (Some(sender), Some(snapshot)) = (&snapshots, snapshot) {
                if writes.is_empty() {
                    // The shutdown snapshot: worth waiting for.
                    let _ = sender.send(snapshot);
                } else {
                    let _ = sender.try_send(snapshot);
                }
            }
        }
        let answered = replies.len() as u64;
        for reply in replies {
            reply(failure.clone());
        }
        shared.in_flight.fetch_sub(answered, Ordering::Relaxed);
    }
}

/// Takes every block waiting; then, while requests in flight are not yet in the group and
/// the group is smaller than a block, waits a little for them: one transaction for all the
/// clients that are about to send is cheaper than two.
fn gather_group(
    first: Commit,
    commits: &std_mpsc::Receiver<Commit>,
    shared: &Shared,
    group: GroupCommit,
) -> Group {
    let deadline = Instant::now() + group.wait_max;
    let mut writes = Vec::new();
    let mut rows = Vec::new();
    let mut replies = Vec::new();
    let mut events = 0;
    let mut engine_block = 0;
    let mut snapshot = None;
    let mut next = Some(first);
    while let Some(commit) = next {
        engine_block = engine_block.max(commit.engine_block);
        snapshot = commit.snapshot.or(snapshot);
        events += commit
            .write
            .as_ref()
            .map_or(0, |w| w.block.transfers.len() + w.block.accounts.len());
        writes.extend(commit.write);
        rows.extend(commit.rows);
        replies.extend(commit.replies);
        if rows.len() >= GROUP_ROWS_SOFT_MAX {
            break;
        }
        next = commits.try_recv().ok();
        let waiting_for_more = (replies.len() as u64) < shared.in_flight.load(Ordering::Relaxed)
            && events < group.events_max;
        if next.is_none() && waiting_for_more {
            let remaining = deadline.saturating_duration_since(Instant::now());
            next = commits.recv_timeout(remaining).ok();
        }
    }
    Group {
        writes,
        rows,
        replies,
        engine_block,
        snapshot,
    }
}

/// What one store transaction writes and answers.
struct Group {
    writes: Vec<BlockWrite>,
    /// Domain rows of the group's requests, in the same transaction as its blocks.
    rows: Vec<RowRef>,
    replies: Vec<Reply>,
    /// The newest engine block in the group.
    engine_block: u64,
    /// The newest snapshot taken after one of the group's blocks.
    snapshot: Option<Box<Snapshot>>,
}

/// The snapshot thread: seals (encodes, digests, signs) each snapshot and writes it on its
/// own store connection, so neither the sequencer nor the writer waits for it.
fn run_snapshots(
    mut store: Box<dyn Store>,
    key: OperatorKey,
    snapshots: std_mpsc::Receiver<Box<Snapshot>>,
) {
    for snapshot in snapshots {
        let record = crate::snapshot::seal(&snapshot, &key);
        drop(snapshot);
        if let Err(error) = store.write_snapshot(&record) {
            // Start then replays from an older snapshot: slower, never wrong.
            tracing::warn!(%error, height = record.height, "snapshot not written");
        }
    }
}

fn write_blocks(
    store: &mut dyn Store,
    shared: &Shared,
    writes: &[BlockWrite],
    rows: &[RowRef],
) -> Option<LedgerError> {
    if let Some(failure) = shared.failure() {
        return Some(failure);
    }
    if writes.is_empty() && rows.is_empty() {
        return None;
    }
    let started = Instant::now();
    if let Err(error) = store.append_with_rows(writes, rows) {
        shared.fail(format!("store write failed: {error}"));
        return shared.failure();
    }
    let metrics = &shared.metrics;
    metrics.store_appends.fetch_add(1, Ordering::Relaxed);
    metrics
        .store_append_micros
        .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    metrics
        .blocks_written
        .fetch_add(writes.len() as u64, Ordering::Relaxed);
    for write in writes {
        metrics
            .accounts_created
            .fetch_add(write.block.accounts.len() as u64, Ordering::Relaxed);
        metrics
            .transfers_committed
            .fetch_add(write.block.transfers.len() as u64, Ordering::Relaxed);
    }
    // Rows alone leave the head where it was.
    let last = writes.last().map(|write| &write.block)?;
    let checkpoint = SignedCheckpoint {
        checkpoint: Checkpoint::of_block(&last.header, &last.hash),
        signature: last.signature,
        public_key: shared.public_key,
    };
    *shared.checkpoint.write().expect("checkpoint lock") = Some(checkpoint);
    None
}
