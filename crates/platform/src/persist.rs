//! The record writer: writes domain records through to the [`RecordStore`], grouped.
//!
//! Domain operations change the in-memory state under its lock and hand their record writes
//! to [`RecordWriter::enqueue`] before they release the lock, so the writes reach the store
//! in the order the state changed. One thread takes everything queued, applies it in one
//! database transaction (group commit), and then advances the durable sequence number.
//! Callers wait with [`RecordWriter::durable`] before they answer: nothing is acknowledged
//! before it is on disk, and a read waits for the writes it saw.
//!
//! A failed apply stops the writer for good (fail-stop, like the ledger): memory may be ahead
//! of the disk, and only a restart, which reloads the disk, is safe.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use store::StoreError;
use store::records::{RecordStore, RecordWrite};
use tokio::sync::watch;

/// Writes waiting for the writer; past it the platform stops writing (fail-stop) and answers
/// 503, rather than queue without bound.
pub const RECORD_QUEUE_WRITES_MAX: usize = 200_000;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PersistError {
    #[error("the record store failed and the platform stopped writing: {0}")]
    Failed(String),
    #[error("too many record writes are waiting")]
    QueueFull,
}

#[derive(Default)]
struct Queue {
    writes: Vec<RecordWrite>,
    /// Sequence number of the last enqueued group.
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
}

pub struct RecordWriter {
    shared: Arc<Shared>,
    progress: watch::Receiver<Progress>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl RecordWriter {
    pub fn start(store: Box<dyn RecordStore>) -> RecordWriter {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            failure: Mutex::new(None),
        });
        let (sender, progress) = watch::channel(Progress {
            durable: 0,
            failed: false,
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("record-writer".into())
            .spawn(move || write_loop(store, &thread_shared, &sender))
            .expect("spawn record writer");
        RecordWriter {
            shared,
            progress,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Queues writes; returns the sequence number to wait for. Never blocks on IO.
    pub fn enqueue(&self, writes: Vec<RecordWrite>) -> Result<u64, PersistError> {
        self.check()?;
        let mut queue = self.shared.queue.lock().expect("record queue lock");
        if queue.writes.len() + writes.len() > RECORD_QUEUE_WRITES_MAX {
            // Callers change memory before they queue; refusing the writes would leave memory
            // ahead of the disk. A disk this far behind is a failure: stop, like a failed write.
            *self.shared.failure.lock().expect("failure lock") =
                Some("the record queue is full: the store cannot keep up".into());
            self.shared.wake.notify_one();
            return Err(PersistError::QueueFull);
        }
        if !writes.is_empty() {
            queue.writes.extend(writes);
            queue.enqueued += 1;
            self.shared.wake.notify_one();
        }
        Ok(queue.enqueued)
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

    /// Writes what is queued, then stops the thread.
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

fn write_loop(
    mut store: Box<dyn RecordStore>,
    shared: &Shared,
    progress: &watch::Sender<Progress>,
) {
    loop {
        let (writes, sequence) = {
            let mut queue = shared.queue.lock().expect("record queue lock");
            while queue.writes.is_empty() && !queue.stopping {
                queue = shared.wake.wait(queue).expect("record queue lock");
            }
            if queue.writes.is_empty() {
                return;
            }
            (std::mem::take(&mut queue.writes), queue.enqueued)
        };
        if let Err(error) = apply(store.as_mut(), &writes) {
            tracing::error!(%error, "record store write failed; the platform stops writing");
            *shared.failure.lock().expect("failure lock") = Some(error.to_string());
            progress.send_modify(|p| p.failed = true);
            return;
        }
        progress.send_modify(|p| p.durable = sequence);
    }
}

fn apply(store: &mut dyn RecordStore, writes: &[RecordWrite]) -> Result<(), StoreError> {
    store.apply(writes)
}
