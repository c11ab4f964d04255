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
use ledger::engine::{BlockEffects, Engine};
use ledger::merkle::MerkleLog;
use ledger::types::{
    Account, AccountId, BlockHeader, CreateAccountResult, CreateTransferResult, Hash, Transfer,
    TransferId,
};
use store::{BlockRecord, BlockWrite, Store, StoreError, StoreMeta};
use tokio::sync::{mpsc, oneshot};

use crate::replay::{ReplayError, ReplayOptions, replay_store};

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
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            block_events_max: BATCH_EVENTS_MAX,
            request_queue_max: 4096,
            commit_queue_max: 4,
            idle_tick_ms: 1000,
            group_commit_wait_us: 500,
            journal: JournalMode::On,
        }
    }
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum LedgerError {
    #[error("a batch holds {len} events; the maximum is {max}")]
    BatchTooLarge { len: usize, max: usize },
    #[error("the ledger is unavailable: {0}")]
    Unavailable(String),
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
    log: RwLock<MerkleLog>,
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

enum Request {
    CreateAccounts(
        Vec<Account>,
        oneshot::Sender<Result<Vec<CreateAccountResult>, LedgerError>>,
    ),
    CreateTransfers(
        Vec<Transfer>,
        oneshot::Sender<Result<Vec<CreateTransferResult>, LedgerError>>,
    ),
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
    replies: Vec<Reply>,
}

/// One journaled block (or only reads) on its way to the writer.
struct Commit {
    write: Option<BlockWrite>,
    replies: Vec<Reply>,
}

/// Handle to the running ledger. Cheap to share behind an `Arc`; dropping the last handle
/// stops both threads after the blocks in flight are written.
pub struct LedgerService {
    requests: mpsc::Sender<Request>,
    shared: Arc<Shared>,
    config: LedgerConfig,
    threads: Mutex<Vec<JoinHandle<()>>>,
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
            },
        )?;
        let checkpoint = replayed
            .head
            .map(|(header, hash, signature)| SignedCheckpoint {
                checkpoint: Checkpoint::of_block(&header, &hash),
                signature,
                public_key,
            });
        let shared = Arc::new(Shared {
            log: RwLock::new(replayed.log),
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
        let sequencer = Sequencer {
            engine: replayed.engine,
            config,
            shared: shared.clone(),
        };
        let signer = (config.journal == JournalMode::On).then_some(key);
        let journal = Journal {
            mode: config.journal,
            shared: shared.clone(),
            next_height: head.map_or(0, |(height, _)| height),
            previous_hash: head.map_or([0; 32], |(_, hash)| hash),
            tree_size: shared.log.read().expect("log lock").size(),
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
                run_writer(store, writer_shared, commit_receiver, group, signer)
            }),
        ];
        Ok(LedgerService {
            requests: request_sender,
            shared,
            config,
            threads: Mutex::new(threads),
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
        self.check_batch(transfers.len())?;
        if transfers.is_empty() {
            return Ok(Vec::new());
        }
        let (sender, receiver) = oneshot::channel();
        self.submit(Request::CreateTransfers(transfers, sender))
            .await?;
        receiver.await.map_err(|_| self.gone())?
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

    pub async fn lookup_transfers(
        &self,
        ids: Vec<TransferId>,
    ) -> Result<Vec<Transfer>, LedgerError> {
        self.check_batch(ids.len())?;
        self.read(move |engine| {
            ids.iter()
                .filter_map(|id| engine.transfer(*id).copied())
                .collect()
        })
        .await
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
        let found = self
            .read(move |engine| {
                engine
                    .transfer(id)
                    .copied()
                    .zip(engine.transfer_position(id))
            })
            .await?;
        let Some((transfer, leaf_index)) = found else {
            return Ok(None);
        };
        // The read was answered after its block was durable, so the checkpoint covers it.
        let checkpoint = self.checkpoint().ok_or_else(|| self.gone())?;
        let tree_size = checkpoint.checkpoint.tree_size;
        let log = self.shared.log.read().expect("log lock");
        let proof = log.inclusion_proof(leaf_index, tree_size).ok_or_else(|| {
            LedgerError::ProofRange(format!("leaf {leaf_index} not in tree of {tree_size}"))
        })?;
        let leaf_hash = transfer_leaf_hash(&transfer);
        Ok(Some(InclusionProof {
            transfer,
            leaf_index,
            leaf_hash,
            proof,
            checkpoint,
        }))
    }

    /// Proves that the log at `from_size` is a prefix of the log at `to_size`; both must be
    /// at most the latest checkpoint's size.
    pub fn consistency_proof(
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
        let log = self.shared.log.read().expect("log lock");
        let missing = || LedgerError::ProofRange("size beyond the log".into());
        let proof = log
            .consistency_proof(from_size, to_size)
            .ok_or_else(missing)?;
        let from_root = log.root_at(from_size).ok_or_else(missing)?;
        let to_root = log.root_at(to_size).ok_or_else(missing)?;
        Ok(ConsistencyProof {
            from_size,
            to_size,
            from_root,
            to_root,
            proof,
        })
    }

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

/// The sequencer thread's state: the engine.
struct Sequencer {
    engine: Engine,
    config: LedgerConfig,
    shared: Arc<Shared>,
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
                    Ok(None) => return,
                    Err(_elapsed) => None,
                },
            };
            let batch = self.gather(first, &mut requests, &mut carry);
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
        while let Ok(request) = requests.try_recv() {
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
        if let Some(failure) = self.shared.failure() {
            let replies = batch
                .into_iter()
                .map(|request| fail_reply(request, failure.clone()));
            return Executed {
                block: None,
                replies: replies.collect(),
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
        for (events, sender) in transfers {
            replies.push(result_reply(sender, self.engine.create_transfers(&events)));
        }
        for job in reads {
            replies.push(job(&self.engine));
        }
        let effects = self.engine.end_block();
        let changed = !(effects.accounts.is_empty()
            && effects.transfers.is_empty()
            && effects.touched.is_empty());
        let block = changed.then(|| {
            let accounts_changed = effects
                .touched
                .iter()
                .map(|id| *self.engine.account(*id).expect("a touched account exists"))
                .collect();
            (effects, accounts_changed)
        });
        Executed { block, replies }
    }
}

/// The journal thread's state: the head of the chain. It runs beside the sequencer, so
/// hashing block N overlaps executing block N+1.
struct Journal {
    mode: JournalMode,
    shared: Arc<Shared>,
    next_height: u64,
    previous_hash: Hash,
    tree_size: u64,
    leaf_hashes: Vec<Hash>,
}

impl Journal {
    fn run(
        mut self,
        executed: std_mpsc::Receiver<Executed>,
        commits: std_mpsc::SyncSender<Commit>,
    ) {
        while let Ok(Executed { block, replies }) = executed.recv() {
            let write = block
                .map(|(effects, accounts_changed)| self.build_block(effects, accounts_changed));
            if commits.send(Commit { write, replies }).is_err() {
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
        if journal {
            self.leaf_hashes.clear();
            transfer_leaf_hashes(&effects.transfers, &mut self.leaf_hashes);
            let mut log = self.shared.log.write().expect("log lock");
            log.extend(&self.leaf_hashes);
            assert_eq!(
                log.size(),
                self.tree_size,
                "the log holds every committed transfer"
            );
            merkle_root = log.root();
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
        }
    }
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
        Request::CreateTransfers(_, sender) => {
            let _ = sender.send(Err(failure));
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
) {
    while let Ok(first) = commits.recv() {
        let (mut writes, replies) = gather_group(first, &commits, &shared, group);
        if let (Some(key), Some(last)) = (&signer, writes.last_mut()) {
            let block = &mut last.block;
            block.signature = key.sign(&Checkpoint::of_block(&block.header, &block.hash));
        }
        let failure = write_blocks(store.as_mut(), &shared, &writes);
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
) -> (Vec<BlockWrite>, Vec<Reply>) {
    let deadline = Instant::now() + group.wait_max;
    let mut writes = Vec::new();
    let mut replies = Vec::new();
    let mut events = 0;
    let mut next = Some(first);
    while let Some(commit) = next {
        events += commit
            .write
            .as_ref()
            .map_or(0, |w| w.block.transfers.len() + w.block.accounts.len());
        writes.extend(commit.write);
        replies.extend(commit.replies);
        next = commits.try_recv().ok();
        let waiting_for_more = (replies.len() as u64) < shared.in_flight.load(Ordering::Relaxed)
            && events < group.events_max;
        if next.is_none() && waiting_for_more {
            let remaining = deadline.saturating_duration_since(Instant::now());
            next = commits.recv_timeout(remaining).ok();
        }
    }
    (writes, replies)
}

fn write_blocks(
    store: &mut dyn Store,
    shared: &Shared,
    writes: &[BlockWrite],
) -> Option<LedgerError> {
    if let Some(failure) = shared.failure() {
        return Some(failure);
    }
    if writes.is_empty() {
        return None;
    }
    let started = Instant::now();
    if let Err(error) = store.append(writes) {
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
    let last = &writes.last().expect("non-empty").block;
    let checkpoint = SignedCheckpoint {
        checkpoint: Checkpoint::of_block(&last.header, &last.hash),
        signature: last.signature,
        public_key: shared.public_key,
    };
    *shared.checkpoint.write().expect("checkpoint lock") = Some(checkpoint);
    None
}
