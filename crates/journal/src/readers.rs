//! Store connections for reads beside the ledger's writer: transfer lookups that miss the
//! engine's cache, Merkle proofs, history. A bounded pool ([`READERS_MAX`]) of connections
//! made with [`store::Store::reader`]; callers run on blocking threads.

use std::sync::{Condvar, Mutex};

use ledger::block::transfer_leaf_hash;
use ledger::merkle::{STORED_NODE_LEVEL_MIN, perfect_root};
use ledger::types::Hash;
use store::{Store, StoreError};

/// Most reader connections open at once; more callers wait for one to be free.
pub const READERS_MAX: usize = 8;

pub struct StoreReaders {
    /// Makes new connections (itself a reader, never lent out).
    factory: Mutex<Box<dyn Store>>,
    idle: Mutex<Vec<Box<dyn Store>>>,
    open: Mutex<usize>,
    freed: Condvar,
}

impl StoreReaders {
    pub fn new(factory: Box<dyn Store>) -> StoreReaders {
        StoreReaders {
            factory: Mutex::new(factory),
            idle: Mutex::new(Vec::new()),
            open: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// Runs `read` on a free connection (blocking: call from a blocking thread).
    pub fn with<T>(
        &self,
        read: impl FnOnce(&mut dyn Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut connection = self.take()?;
        let result = read(connection.as_mut());
        // A connection that failed may be broken: drop it rather than lend it again.
        if result.is_ok() {
            self.idle.lock().expect("readers lock").push(connection);
        } else {
            *self.open.lock().expect("readers lock") -= 1;
        }
        self.freed.notify_one();
        result
    }

    /// Runs `read` on an idle connection if one is free right now, without waiting or
    /// opening one; `None` if none is.
    pub fn try_with_idle<T>(
        &self,
        read: impl FnOnce(&mut dyn Store) -> Result<T, StoreError>,
    ) -> Option<Result<T, StoreError>> {
        let mut connection = self.idle.lock().expect("readers lock").pop()?;
        let result = read(connection.as_mut());
        if result.is_ok() {
            self.idle.lock().expect("readers lock").push(connection);
        } else {
            *self.open.lock().expect("readers lock") -= 1;
        }
        self.freed.notify_one();
        Some(result)
    }

    fn take(&self) -> Result<Box<dyn Store>, StoreError> {
        let mut open = self.open.lock().expect("readers lock");
        loop {
            if let Some(connection) = self.idle.lock().expect("readers lock").pop() {
                return Ok(connection);
            }
            if *open < READERS_MAX {
                *open += 1;
                drop(open);
                let made = self.factory.lock().expect("readers lock").reader();
                if made.is_err() {
                    *self.open.lock().expect("readers lock") -= 1;
                }
                return made;
            }
            open = self.freed.wait(open).expect("readers lock");
        }
    }
}

impl Drop for StoreReaders {
    /// Closes the connections on a thread of their own: a synchronous PostgreSQL client
    /// must not be dropped on an async runtime's thread, which is where the last handle to
    /// the ledger often goes.
    fn drop(&mut self) {
        let factory = std::mem::replace(
            self.factory.get_mut().expect("readers lock"),
            Box::new(store::memory::MemoryStore::new()),
        );
        let idle = std::mem::take(self.idle.get_mut().expect("readers lock"));
        let closing = std::thread::Builder::new()
            .name("store-readers-close".into())
            .spawn(move || drop((factory, idle)));
        if let Ok(closing) = closing {
            let _ = closing.join();
        }
    }
}

/// The root of the perfect subtree of `width` leaves from `start`, from the store: a stored
/// node at level [`STORED_NODE_LEVEL_MIN`] and above, else recomputed from the transfers.
/// The subtree must lie within the durable log.
pub fn perfect_subtree(store: &mut dyn Store, start: u64, width: u64) -> Result<Hash, StoreError> {
    let level = width.trailing_zeros();
    if level >= STORED_NODE_LEVEL_MIN {
        let index = start >> level;
        return store
            .merkle_node(level, index)?
            .ok_or_else(|| StoreError::Corrupt {
                height: 0,
                reason: format!("merkle node at level {level}, index {index} is missing"),
            });
    }
    let transfers = store.transfers_by_leaf(start, start + width)?;
    if transfers.len() as u64 != width {
        return Err(StoreError::Corrupt {
            height: 0,
            reason: format!("transfers {start}..{} are missing", start + width),
        });
    }
    let leaves: Vec<Hash> = transfers.iter().map(transfer_leaf_hash).collect();
    Ok(perfect_root(&leaves))
}
