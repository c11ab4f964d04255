//! Every committed transfer and every failed transfer id in memory, answering the engine's
//! prefetches as a store does.
//!
//! For what has no store of its own: tests that run the engine with a small cache, and
//! followers that replay a journal from its first block. It grows with history by design;
//! a server keeps transfers in its store instead.

use crate::engine::{BlockEffects, Engine, FailedTransfer, PendingStatus, StoredTransfer};
use crate::types::{Transfer, TransferFlags, TransferId};

type IdMap<Value> = foldhash::HashMap<u128, Value>;

#[derive(Clone, Debug, Default)]
pub struct TransferArchive {
    transfers: IdMap<StoredTransfer>,
    count: u64,
    /// Ids refused with a transient result: never usable again.
    failed: IdMap<FailedTransfer>,
}

impl TransferArchive {
    pub fn new() -> TransferArchive {
        TransferArchive::default()
    }

    /// Records what a block committed: its transfers (in log order), the pending transfers
    /// it resolved or expired, and the ids that failed in it.
    pub fn record(&mut self, effects: &BlockEffects) {
        self.record_parts(&effects.transfers, &effects.expired);
        self.record_failed(&effects.failed);
    }

    /// Records the ids that failed in a block (see [`BlockEffects::failed`]).
    pub fn record_failed(&mut self, failed: &[FailedTransfer]) {
        for failure in failed {
            self.failed.insert(failure.id.0, *failure);
        }
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

    /// The failure recorded for `id`, if a transfer with it failed.
    pub fn failure(&self, id: TransferId) -> Option<&FailedTransfer> {
        self.failed.get(&id.0)
    }

    /// The ids among `ids` that failed.
    pub fn lookup_failed(&self, ids: &[TransferId]) -> Vec<TransferId> {
        let failed = ids.iter().filter(|id| self.failed.contains_key(&id.0));
        failed.copied().collect()
    }

    /// Answers the engine's prefetch for `transfers` (call before executing them).
    pub fn prefetch(&self, engine: &mut Engine, transfers: &[Transfer]) {
        let mut keys = Vec::new();
        engine.prefetch_keys(transfers, &mut keys);
        let found = self.lookup(&keys);
        engine.prefetched(&keys, &found);
        engine.prefetched_failed(&self.lookup_failed(&keys));
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}
