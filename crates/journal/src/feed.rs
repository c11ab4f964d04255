//! The block feed: durable blocks read back from the store, for followers (witness nodes,
//! auditors) that replay the journal themselves.
//!
//! The feed has its own store connection on its own thread, so followers never wait for
//! the ledger's writer, and they see only blocks that are durable. Requests beyond
//! [`FEED_QUEUE_MAX`] waiting are refused (the caller answers 503) rather than queued
//! without bound.

use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use store::{BlockRecord, Store};
use tokio::sync::oneshot;

/// Most blocks in one page of the feed.
pub const FEED_PAGE_BLOCKS_MAX: usize = 64;
/// Most page requests waiting for the feed's thread.
pub const FEED_QUEUE_MAX: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    #[error("the block feed is busy; retry later")]
    Busy,
    #[error("the block feed cannot read the store: {0}")]
    Store(String),
}

struct Page {
    from_height: u64,
    limit: usize,
    reply: oneshot::Sender<Result<Vec<BlockRecord>, FeedError>>,
}

pub struct BlockFeed {
    requests: Mutex<Option<SyncSender<Page>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl BlockFeed {
    /// Serves pages from `store` (a second connection to the ledger's store).
    pub fn start(store: Box<dyn Store>) -> Arc<BlockFeed> {
        let (sender, receiver) = mpsc::sync_channel::<Page>(FEED_QUEUE_MAX);
        let thread = std::thread::Builder::new()
            .name("block-feed".into())
            .spawn(move || {
                let mut store = store;
                for page in receiver {
                    let limit = page.limit.clamp(1, FEED_PAGE_BLOCKS_MAX);
                    let blocks = store
                        .read_blocks(page.from_height, limit)
                        .map_err(|error| FeedError::Store(error.to_string()));
                    let _ = page.reply.send(blocks);
                }
            })
            .expect("spawn the block feed");
        Arc::new(BlockFeed {
            requests: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Up to `limit` (at most [`FEED_PAGE_BLOCKS_MAX`]) durable blocks from `from_height` on,
    /// in height order; fewer means the end of the journal was reached.
    pub async fn blocks(
        &self,
        from_height: u64,
        limit: usize,
    ) -> Result<Vec<BlockRecord>, FeedError> {
        let (reply, answer) = oneshot::channel();
        let page = Page {
            from_height,
            limit,
            reply,
        };
        {
            let requests = self.requests.lock().expect("feed lock");
            let sender = requests.as_ref().ok_or(FeedError::Busy)?;
            match sender.try_send(page) {
                Ok(()) => {}
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    return Err(FeedError::Busy);
                }
            }
        }
        answer.await.map_err(|_| FeedError::Busy)?
    }

    /// Stops the feed's thread after the pages already asked for.
    pub fn shutdown(&self) {
        self.requests.lock().expect("feed lock").take();
        if let Some(thread) = self.thread.lock().expect("feed lock").take() {
            let _ = thread.join();
        }
    }
}

impl Drop for BlockFeed {
    fn drop(&mut self) {
        self.shutdown();
    }
}
