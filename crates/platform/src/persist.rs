//! The record queue: hands domain record writes (and operations that move value with
//! them) to the ledger's writer in the order the state changed.
//!
//! Records live in the ledger's own database (`store::tables::records`) and are written by
//! the ledger's writer, in the same transactions as the blocks. Domain operations change
//! the in-memory state under its lock and queue their writes with [`RecordWriter::enqueue`]
//! (or a ledger request with [`RecordWriter::enqueue_job`]) before they release the lock,
//! so the writes reach the ledger in the order the state changed. One thread hands
//! everything queued to the ledger (writes of several operations as one request, at most
//! `ROWS_PER_REQUEST_MAX` rows each) and does not wait for the commits: their answers
//! arrive in order and advance the durable sequence number. Callers wait with
//! [`RecordWriter::durable`] before they answer: nothing is acknowledged before it is on
//! disk, and a read waits for the writes it saw.
//!
//! A failed write stops the queue for good (fail-stop, like the ledger): memory may be
//! ahead of the disk, and only a restart, which reloads the disk, is safe.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use journal::sequencer::ROWS_PER_REQUEST_MAX;
use journal::{LedgerError, LedgerService};
use store::records::RecordWrite;
use store::tables::RowRef;
use store::tables::records::RecordRow;
use tokio::sync::watch;

/// Writes waiting for the ledger; past it the platform stops writing (fail-stop) and
/// answers 503, rather than queue without bound.
pub const RECORD_QUEUE_WRITES_MAX: usize = 200_000;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PersistError {
    #[error("the record store failed and the platform stopped writing: {0}")]
    Failed(String),
    #[error("too many record writes are waiting")]
    QueueFull,
    /// A write the store would refuse (a bug in the caller): nothing was queued.
    #[error("a record write is invalid: {0}")]
    Invalid(String),
}

/// Tells the queue that a job's request is durable (`Ok`) or failed.
pub(crate) type JobDone = Box<dyn FnOnce(Result<(), LedgerError>) + Send>;
/// A ledger request queued in order with the record writes: it submits itself (with
/// [`LedgerService::submit_recorded_blocking`]) and calls [`JobDone`] from its answer.
pub(crate) type LedgerJob =
    Box<dyn FnOnce(&LedgerService, JobDone) -> Result<(), LedgerError> + Send>;

enum Entry {
    Writes(Vec<RecordWrite>),
    Job(LedgerJob),
}

#[derive(Default)]
struct Queue {
    /// Entries with the sequence number each completes.
    entries: Vec<(Entry, u64)>,
    writes: usize,
    /// Sequence number of the last enqueued entry.
    enqueued: u64,
    stopping: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Progress {
    durable: u64,
    failed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    failure: Mutex<Option<String>>,
    progress: watch::Sender<Progress>,
}

impl Shared {
    fn fail(&self, reason: String) {
        tracing::error!(%reason, "record write failed; the platform stops writing");
        self.failure
            .lock()
            .expect("failure lock")
            .get_or_insert(reason);
        self.progress.send_modify(|p| p.failed = true);
        self.wake.notify_one();
    }

    fn answered(&self, sequence: u64, answer: Result<(), LedgerError>) {
        match answer {
            Ok(()) => self
                .progress
                .send_modify(|p| p.durable = p.durable.max(sequence)),
            Err(error) => self.fail(error.to_string()),
        }
    }
}

pub struct RecordWriter {
    shared: Arc<Shared>,
    progress: watch::Receiver<Progress>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl RecordWriter {
    pub fn start(ledger: Arc<LedgerService>) -> RecordWriter {
        let (sender, progress) = watch::channel(Progress {
            durable: 0,
            failed: false,
        });
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            failure: Mutex::new(None),
            progress: sender,
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("record-queue".into())
            .spawn(move || forward_loop(&ledger, &thread_shared))
            .expect("spawn record queue");
        RecordWriter {
            shared,
            progress,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Queues writes; returns the sequence number to wait for. Never blocks on IO.
    pub fn enqueue(&self, writes: Vec<RecordWrite>) -> Result<u64, PersistError> {
        store::records::validate(&writes).map_err(|e| PersistError::Invalid(e.to_string()))?;
        if writes.is_empty() {
            return Ok(self.enqueued());
        }
        let count = writes.len();
        self.push(Entry::Writes(writes), count)
    }

    /// Queues a ledger request in order with the writes; returns its sequence number.
    pub(crate) fn enqueue_job(&self, job: LedgerJob) -> Result<u64, PersistError> {
        self.push(Entry::Job(job), 1)
    }

    fn push(&self, entry: Entry, writes: usize) -> Result<u64, PersistError> {
        self.check()?;
        let mut queue = self.shared.queue.lock().expect("record queue lock");
        if queue.writes + writes > RECORD_QUEUE_WRITES_MAX {
            // Callers change memory before they queue; refusing the writes would leave memory
            // ahead of the disk. A disk this far behind is a failure: stop, like a failed write.
            drop(queue);
            self.shared
                .fail("the record queue is full: the store cannot keep up".into());
            return Err(PersistError::QueueFull);
        }
        queue.writes += writes;
        queue.enqueued += 1;
        let sequence = queue.enqueued;
        queue.entries.push((entry, sequence));
        self.shared.wake.notify_one();
        Ok(sequence)
    }

    /// The sequence number of everything enqueued so far.
    pub fn enqueued(&self) -> u64 {
        self.shared
            .queue
            .lock()
            .expect("record queue lock")
            .enqueued
    }

    /// Waits until every write up to `sequence` is durable.
    pub async fn durable(&self, sequence: u64) -> Result<(), PersistError> {
        let mut progress = self.progress.clone();
        let reached = progress
            .wait_for(|p| p.durable >= sequence || p.failed)
            .await
            .map(|p| *p);
        match reached {
            Ok(p) if p.durable >= sequence => Ok(()),
            _ => Err(self.failed_error()),
        }
    }

    pub fn failure(&self) -> Option<String> {
        self.shared.failure.lock().expect("failure lock").clone()
    }

    fn check(&self) -> Result<(), PersistError> {
        match self.failure() {
            Some(reason) => Err(PersistError::Failed(reason)),
            None => Ok(()),
        }
    }

    fn failed_error(&self) -> PersistError {
        PersistError::Failed(self.failure().unwrap_or_else(|| "writer stopped".into()))
    }

    /// Hands over what is queued, then stops the thread.
    pub fn shutdown(&self) {
        {
            let mut queue = self.shared.queue.lock().expect("record queue lock");
            queue.stopping = true;
            self.shared.wake.notify_one();
        }
        if let Some(thread) = self.thread.lock().expect("thread lock").take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RecordWriter {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn forward_loop(ledger: &LedgerService, shared: &Arc<Shared>) {
    loop {
        let entries = {
            let mut queue = shared.queue.lock().expect("record queue lock");
            while queue.entries.is_empty() && !queue.stopping {
                queue = shared.wake.wait(queue).expect("record queue lock");
            }
            if queue.entries.is_empty() {
                return;
            }
            queue.writes = 0;
            std::mem::take(&mut queue.entries)
        };
        if shared.failure.lock().expect("failure lock").is_some() {
            return;
        }
        if let Err(error) = forward(ledger, shared, entries) {
            shared.fail(error.to_string());
            return;
        }
    }
}

/// Submits entries in order: runs of writes as requests of at most
/// `ROWS_PER_REQUEST_MAX` rows, jobs as themselves.
fn forward(
    ledger: &LedgerService,
    shared: &Arc<Shared>,
    entries: Vec<(Entry, u64)>,
) -> Result<(), LedgerError> {
    let mut rows: Vec<RowRef> = Vec::new();
    let mut last = 0;
    for (entry, sequence) in entries {
        match entry {
            Entry::Writes(writes) => {
                for write in writes {
                    if rows.len() == ROWS_PER_REQUEST_MAX {
                        submit_rows(ledger, shared, std::mem::take(&mut rows), last)?;
                    }
                    rows.push(Arc::new(RecordRow(write)));
                }
                last = sequence;
            }
            Entry::Job(job) => {
                if !rows.is_empty() {
                    submit_rows(ledger, shared, std::mem::take(&mut rows), last)?;
                }
                let done_shared = shared.clone();
                job(
                    ledger,
                    Box::new(move |answer| done_shared.answered(sequence, answer)),
                )?;
            }
        }
    }
    if !rows.is_empty() {
        submit_rows(ledger, shared, rows, last)?;
    }
    Ok(())
}

/// Submits rows alone; their answer marks everything up to `sequence` durable (a split
/// entry's first part marks the entry before it, which it follows).
fn submit_rows(
    ledger: &LedgerService,
    shared: &Arc<Shared>,
    rows: Vec<RowRef>,
    sequence: u64,
) -> Result<(), LedgerError> {
    let shared = shared.clone();
    ledger.submit_recorded_blocking(
        Vec::new(),
        move |_| (rows, ()),
        move |answer| shared.answered(sequence, answer),
    )
}

/// Record writes as rows of the ledger's transaction.
pub(crate) fn record_rows(writes: impl IntoIterator<Item = RecordWrite>) -> Vec<RowRef> {
    writes
        .into_iter()
        .map(|write| Arc::new(RecordRow(write)) as RowRef)
        .collect()
}

/// Moves records of the older layout into their context's tables: each record's rows and
/// its deletion from `records` in the same commit, as many records a commit as fit in one
/// request's rows (at start, before any request, so nothing else writes them meanwhile).
pub(crate) async fn import_legacy(
    ledger: &LedgerService,
    records: Vec<(store::records::Record, Vec<RowRef>)>,
) -> Result<(), LedgerError> {
    let mut rows: Vec<RowRef> = Vec::new();
    for (record, table_rows) in records {
        assert!(
            table_rows.len() < ROWS_PER_REQUEST_MAX,
            "a record of the older layout makes at most a few rows"
        );
        if rows.len() + table_rows.len() + 1 > ROWS_PER_REQUEST_MAX {
            ledger.record(std::mem::take(&mut rows)).await?;
        }
        rows.extend(table_rows);
        rows.extend(record_rows([RecordWrite::Delete {
            kind: record.kind,
            key: record.key,
        }]));
    }
    if !rows.is_empty() {
        ledger.record(rows).await?;
    }
    Ok(())
}
