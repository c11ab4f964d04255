//! Every committed transfer in memory, answering the engine's prefetches as a store does.
//!
//! For what has no store of its own: tests that run the engine with a small cache, and
//! followers that replay a journal from its first block. It grows with history by design;
//! a server keeps transfers in its store instead.

use crate::engine::{BlockEffects, Engine, PendingStatus, StoredTransfer};
use crate::types::{Transfer, TransferFlags, TransferId};

type IdMap<Value> = foldhash::HashMap<u128, Value>;

#[derive(Clone, Debug, Default)]
pub struct TransferArchive {
    transfers: IdMap<StoredTransfer>,
    count: u64,
}

impl TransferArchive {
    pub fn new() -> TransferArchive {
        TransferArchive::default()
    }

    /// Records what a block committed: its transfers (in log order) and the pending
    /// transfers it resolved or expired.
    pub fn record(&mut self, effects: &BlockEffects) {
        self.record_parts(&effects.transfers, &effects.expired);
    }

    /// [`TransferArchive::record`] from a block's committed transfers and expired ids.
    pub fn record_parts(&mut self, transfers: &[Transfer], expired: &[TransferId]) {
        for id in expired {
            self.set_status(id.0, PendingStatus::Expired);
        }
        self.transfers.reserve(transfers.len());
        for transfer in transfers {
            let flags = transfer.flags;
            let status = flags
                .contains(TransferFlags::PENDING)
                .then_some(PendingStatus::Pending);
            if flags.contains(TransferFlags::POST_PENDING_TRANSFER) {
                self.set_status(transfer.pending_id.0, PendingStatus::Posted);
            }
            if flags.contains(TransferFlags::VOID_PENDING_TRANSFER) {
                self.set_status(transfer.pending_id.0, PendingStatus::Voided);
            }
            let stored = StoredTransfer {
                transfer: *transfer,
                status,
                leaf_index: self.count,
            };
            self.transfers.insert(transfer.id.0, stored);
            self.count += 1;
        }
    }

    /// Sets a pending transfer's final status; an id never recorded (a block no engine
    /// produced) is left alone, as a store keeps a status row nothing reads.
    fn set_status(&mut self, id: u128, status: PendingStatus) {
        if let Some(stored) = self.transfers.get_mut(&id) {
            stored.status = Some(status);
        }
    }

    pub fn get(&self, id: TransferId) -> Option<&StoredTransfer> {
        self.transfers.get(&id.0)
    }

    /// The transfers among `ids` that exist.
    pub fn lookup(&self, ids: &[TransferId]) -> Vec<StoredTransfer> {
        ids.iter().filter_map(|id| self.get(*id).copied()).collect()
    }

    /// Answers the engine's prefetch for `transfers` (call before executing them).
    pub fn prefetch(&self, engine: &mut Engine, transfers: &[Transfer]) {
        let mut keys = Vec::new();
        engine.prefetch_keys(transfers, &mut keys);
        let found = self.lookup(&keys);
        engine.prefetched(&keys, &found);
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}
