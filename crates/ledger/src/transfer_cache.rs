//! The transfers the engine holds in memory: every open pending transfer, and a bounded
//! cache of the others (recently committed, recently resolved, or prefetched from the
//! store), and of the ids that failed with a transient result (TigerBeetle's orphaned ids:
//! they can never be used again). Everything else lives in the store.
//!
//! The cache never forgets what the store does not have yet: an entry is evicted only once
//! the block that last changed it is durable (`evict(durable_block)`), so a lookup that
//! misses memory can always be answered by the store. Eviction is first in, first out, in
//! the order entries were last changed.
//!
//! Lookups that miss memory: while the cache holds every committed transfer (nothing was
//! ever evicted and the engine did not start from a snapshot), a miss means "no such
//! transfer". Otherwise an id that the [`IdFilter`] says may exist must have been
//! prefetched for this block; a lookup of one that was not is a bug in the caller, since
//! answering "not found" could commit a transfer twice, and debug builds panic on it.

use std::collections::VecDeque;

use crate::engine::{PendingStatus, StoredTransfer};
use crate::id_filter::IdFilter;
use crate::types::{Transfer, TransferFlags, TransferId};

type IdMap<Value> = foldhash::HashMap<u128, Value>;
type IdSet = foldhash::HashSet<u128>;

/// What an id names, as far as creating a transfer with it is concerned.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Lookup<'cache> {
    Committed(&'cache Slot),
    /// An earlier transfer with this id failed with a transient result.
    Failed,
    Unused,
}

/// One transfer in memory.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    pub transfer: Transfer,
    pub status: Option<PendingStatus>,
    pub leaf_index: u64,
    /// Engine block that last changed this transfer (committed or resolved it); 0 for
    /// transfers read from the store, which are durable.
    pub block: u64,
}

/// An entry of the eviction ring: a cached transfer, or an id that failed with a
/// transient result (then only `slot.transfer.id` and `slot.block` mean anything).
#[derive(Clone, Copy, Debug)]
struct Entry {
    slot: Slot,
    failed: bool,
}

impl Slot {
    pub fn new(
        transfer: Transfer,
        status: Option<PendingStatus>,
        leaf_index: u64,
        block: u64,
    ) -> Slot {
        Slot {
            transfer,
            status,
            leaf_index,
            block,
        }
    }

    pub fn stored(&self) -> StoredTransfer {
        StoredTransfer {
            transfer: self.transfer,
            status: self.status,
            leaf_index: self.leaf_index,
        }
    }
}

pub(crate) struct TransferCache {
    /// Pending transfers not yet posted, voided or expired: never evicted.
    open: IdMap<Slot>,
    /// Every other transfer in memory and every failed id, in the order they were last
    /// changed: eviction pops the front. Entry `ring[i]` has sequence number
    /// `ring_front + i`; an entry whose id maps to another sequence (or to none) is stale.
    ring: VecDeque<Entry>,
    ring_front: u64,
    /// Id of each transfer in `ring` to its sequence number. The map holds 24-byte
    /// entries, where a map of whole transfers would hold 176: small enough that inserting
    /// and evicting mostly hit the processor's cache.
    recent: IdMap<u64>,
    /// Id of each failed id in `ring` to its sequence number.
    failed: IdMap<u64>,
    /// With `failed`, at most this many entries once eviction has caught up.
    recent_max: usize,
    filter: IdFilter,
    /// Ids looked up in the store for the current block (found or not).
    prefetched: IdSet,
    /// True while memory holds every committed transfer (nothing evicted, no snapshot).
    complete: bool,
}

impl TransferCache {
    pub fn new(recent_max: usize, filter: IdFilter) -> TransferCache {
        TransferCache {
            open: IdMap::default(),
            ring: VecDeque::new(),
            ring_front: 0,
            recent: IdMap::default(),
            failed: IdMap::default(),
            recent_max,
            complete: filter.inserted() == 0,
            filter,
            prefetched: IdSet::default(),
        }
    }

    pub fn filter(&self) -> &IdFilter {
        &self.filter
    }

    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Entries that eviction may free: transfers other than the open pending ones, and
    /// failed ids.
    pub fn recent_count(&self) -> usize {
        self.recent.len() + self.failed.len()
    }

    pub fn open_pending(&self) -> impl Iterator<Item = &Slot> {
        self.open.values()
    }

    /// The transfer in memory, without asking whether the store may have it.
    pub fn in_memory(&self, id: u128) -> Option<&Slot> {
        if let Some(slot) = self.open.get(&id) {
            return Some(slot);
        }
        let sequence = *self.recent.get(&id)?;
        Some(&self.entry(sequence)?.slot)
    }

    /// The ring entry with this sequence number.
    fn entry(&self, sequence: u64) -> Option<&Entry> {
        let position = usize::try_from(sequence.checked_sub(self.ring_front)?).ok()?;
        self.ring.get(position)
    }

    /// Appends to the ring; returns the entry's sequence number.
    fn push(&mut self, slot: Slot, failed: bool) -> u64 {
        let sequence = self.next_sequence();
        self.ring.push_back(Entry { slot, failed });
        sequence
    }

    fn next_sequence(&self) -> u64 {
        let length = u64::try_from(self.ring.len()).expect("a ring shorter than 2^64");
        self.ring_front + length
    }

    /// Whether memory holds `id` as a failed id.
    pub fn is_failed(&self, id: u128) -> bool {
        self.failed.contains_key(&id)
    }

    /// Whether memory knows what `id` names: a transfer or a failure.
    fn known(&self, id: u128) -> bool {
        self.in_memory(id).is_some() || self.failed.contains_key(&id)
    }

    /// What `id` names: a committed transfer, a failure, or nothing yet. See the module docs.
    pub fn lookup(&self, id: u128) -> Lookup<'_> {
        if let Some(slot) = self.in_memory(id) {
            return Lookup::Committed(slot);
        }
        if self.failed.contains_key(&id) {
            return Lookup::Failed;
        }
        // The prefetch contract: an id the filter cannot rule out was read from the store
        // for this block. Checking it costs a second filter probe (a cache miss) per
        // transfer on the hottest path, so it is checked in debug builds, where the model
        // tests run it with filters so small that nearly every id is "maybe".
        debug_assert!(
            self.complete || self.prefetched.contains(&id) || !self.filter.may_contain(id),
            "transfer {id} was looked up without being prefetched"
        );
        Lookup::Unused
    }

    /// The transfer, if one with this id was ever committed (a failed id names none).
    pub fn get(&self, id: u128) -> Option<&Slot> {
        match self.lookup(id) {
            Lookup::Committed(slot) => Some(slot),
            Lookup::Failed | Lookup::Unused => None,
        }
    }

    /// Whether the store must be asked for `id` before the next block runs.
    fn needs_fetch(&self, id: u128) -> bool {
        // The filter first: it rules out nearly every new id with one cache line, where
        // asking memory first would probe three hash maps that miss for a new id.
        !self.complete
            && id != 0
            && self.filter.may_contain(id)
            && !self.known(id)
            && !self.prefetched.contains(&id)
    }

    /// Appends to `keys` every id the transfers may look up that only the store can answer,
    /// each once.
    pub fn prefetch_keys(&self, transfers: &[Transfer], keys: &mut Vec<TransferId>) {
        if self.complete {
            return;
        }
        let mut wanted: Vec<u128> = transfers
            .iter()
            .flat_map(|transfer| [transfer.id.0, transfer.pending_id.0])
            .filter(|id| self.needs_fetch(*id))
            .collect();
        // Sorting, not a linear search per id: once the filter fills up, most of a full
        // batch's 16,380 ids may need the store, and a quadratic search would cost more
        // than executing the batch.
        wanted.sort_unstable();
        wanted.dedup();
        keys.extend(wanted.into_iter().map(TransferId));
    }

    /// Takes the store's answers for `asked`: the transfers found join the cache (as
    /// durable); the rest are known not to exist. A stored transfer at or beyond
    /// `transfer_count` was committed after the state this engine is at (a replay reading
    /// a longer store), so for this engine it does not exist yet.
    pub fn prefetched(
        &mut self,
        asked: &[TransferId],
        found: &[StoredTransfer],
        transfer_count: u64,
    ) {
        self.prefetched.extend(asked.iter().map(|id| id.0));
        for stored in found {
            let id = stored.transfer.id.0;
            let known = stored.leaf_index < transfer_count;
            // An open pending transfer is always in memory; the store calling one open that
            // memory does not hold is a store from another history: leave it out.
            let open = stored.status == Some(PendingStatus::Pending);
            debug_assert!(
                !(known && open),
                "a stored open pending transfer missing from memory"
            );
            if known && !open && self.in_memory(id).is_none() {
                let slot = Slot::new(stored.transfer, stored.status, stored.leaf_index, 0);
                self.insert_recent(slot);
            }
        }
    }

    /// The store's answer about failures: `failed` holds the ids among those asked that
    /// failed with a transient result (durable, so block 0).
    pub fn prefetched_failed(&mut self, failed: &[TransferId]) {
        for id in failed {
            if !self.known(id.0) {
                self.insert_failed(id.0, 0);
            }
        }
    }

    /// Forgets which ids were prefetched and adds the block's ids to the filter: called
    /// when a block ends.
    pub fn end_block(&mut self, committed: &[Transfer], failed: impl Iterator<Item = u128>) {
        self.prefetched.clear();
        for transfer in committed {
            self.filter.insert(transfer.id.0);
        }
        for id in failed {
            self.filter.insert(id);
        }
    }

    /// Remembers that a transfer with `id` failed with a transient result in `block`.
    pub fn insert_failed(&mut self, id: u128, block: u64) {
        let transfer = Transfer {
            id: TransferId(id),
            ..Transfer::default()
        };
        let sequence = self.push(Slot::new(transfer, None, 0, block), true);
        self.failed.insert(id, sequence);
    }

    /// Adds a transfer just committed.
    pub fn insert(&mut self, slot: Slot) {
        if slot.status == Some(PendingStatus::Pending) {
            let previous = self.open.insert(slot.transfer.id.0, slot);
            debug_assert!(previous.is_none());
        } else {
            self.insert_recent(slot);
        }
    }

    fn insert_recent(&mut self, slot: Slot) {
        let id = slot.transfer.id.0;
        let sequence = self.push(slot, false);
        self.recent.insert(id, sequence);
    }

    /// Moves an open pending transfer to its final status; returns its block before.
    pub fn resolve(&mut self, id: u128, status: PendingStatus, block: u64) -> u64 {
        let mut slot = self
            .open
            .remove(&id)
            .expect("resolve: an open pending transfer");
        assert_eq!(
            slot.status,
            Some(PendingStatus::Pending),
            "a pending transfer resolves once"
        );
        let previous_block = slot.block;
        slot.status = Some(status);
        slot.block = block;
        self.insert_recent(slot);
        previous_block
    }

    /// Undoes [`TransferCache::resolve`] (inside a linked chain that failed).
    pub fn unresolve(&mut self, id: u128, previous_block: u64) {
        let sequence = self
            .recent
            .remove(&id)
            .expect("unresolve: a resolved transfer");
        let mut slot = self
            .entry(sequence)
            .expect("a resolved transfer's entry")
            .slot;
        slot.status = Some(PendingStatus::Pending);
        slot.block = previous_block;
        self.open.insert(id, slot);
    }

    /// Forgets a transfer committed inside a linked chain that failed.
    pub fn remove(&mut self, id: u128) {
        let removed = self.open.remove(&id).is_some() || self.recent.remove(&id).is_some();
        debug_assert!(removed);
    }

    pub fn queue_len(&self) -> usize {
        self.ring.len()
    }

    /// Drops ring entries pushed after `len` (their ids were removed or moved back).
    pub fn truncate_queue(&mut self, len: usize) {
        self.ring.truncate(len);
    }

    /// Evicts the oldest cached transfers whose last change is durable (in a block at or
    /// below `durable_block`) until at most `recent_max` remain. Stops early at an entry
    /// that is not durable yet (the pipeline's depth bounds how many those can be), and at
    /// one prefetched for the coming block: forgetting it would turn the store's "found"
    /// into "not found" and let a retry commit twice.
    pub fn evict(&mut self, durable_block: u64) {
        while self.recent_count() > self.recent_max {
            let Some(entry) = self.ring.front() else {
                break;
            };
            let (id, block, failed) = (entry.slot.transfer.id.0, entry.slot.block, entry.failed);
            let map = if failed { &self.failed } else { &self.recent };
            let current = map.get(&id) == Some(&self.ring_front);
            if current && self.still_needed(id, block, durable_block) {
                break;
            }
            if current {
                let map = if failed {
                    &mut self.failed
                } else {
                    &mut self.recent
                };
                map.remove(&id);
                self.complete = false;
            }
            self.pop_front();
        }
        // Stale entries left at the front would keep the ring from shrinking.
        while let Some(entry) = self.ring.front() {
            let id = entry.slot.transfer.id.0;
            let map = if entry.failed {
                &self.failed
            } else {
                &self.recent
            };
            if map.get(&id) == Some(&self.ring_front) {
                break;
            }
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        self.ring.pop_front();
        self.ring_front += 1;
    }

    /// Whether the cached `id`, last changed in `block`, must stay: that change is not
    /// durable yet, or the id was prefetched for the coming block.
    fn still_needed(&self, id: u128, block: u64, durable_block: u64) -> bool {
        block > durable_block || self.prefetched.contains(&id)
    }

    /// Starts from a snapshot: the filter knows past ids (committed and failed), memory
    /// holds only `open`.
    pub fn restore(&mut self, open: Vec<Slot>) {
        self.complete = self.filter.inserted() == 0;
        for slot in open {
            assert!(slot.transfer.flags.contains(TransferFlags::PENDING));
            self.open.insert(slot.transfer.id.0, slot);
        }
    }
}
