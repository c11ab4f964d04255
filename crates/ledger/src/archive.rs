//! Every committed transfer and every failed transfer id in memory, answering the engine's
//! prefetches as a store does.
//!
//! For what has no store of its own: tests that run the engine with a small cache, and
//! followers that replay a journal from its first block. It grows with history by design;
//! a server keeps transfers in its store instead.

use crate::engine::{BlockEffects, Engine, FailedTransfer, PendingStatus, StoredTransfer};
use crate::types::{Transfer, TransferFlags, TransferId};

type IdMap<Value> = foldhash::HashMap<u128, Value>;

/// Transfers per chunk of the log: chunks never move once allocated, so growing the
/// archive copies nothing (a `Vec` of every transfer would copy all of them at each
/// doubling).
const CHUNK_TRANSFERS: usize = 1 << 16;
const CHUNK_TRANSFERS_U64: u64 = 1 << 16;

/// The chunk holding `leaf_index`, and its position there.
fn chunk_position(leaf_index: u64) -> Option<(usize, usize)> {
    let chunk = usize::try_from(leaf_index / CHUNK_TRANSFERS_U64).ok()?;
    let position = usize::try_from(leaf_index % CHUNK_TRANSFERS_U64).ok()?;
    Some((chunk, position))
}

/// The leaf index of the first transfer in `chunk`.
fn chunk_start(chunk: usize) -> u64 {
    u64::try_from(chunk).map_or(u64::MAX, |chunk| chunk.saturating_mul(CHUNK_TRANSFERS_U64))
}

#[derive(Clone, Debug, Default)]
pub struct TransferArchive {
    /// Every committed transfer in log order, in chunks of [`CHUNK_TRANSFERS`]; a
    /// transfer's position is its leaf index.
    chunks: Vec<Vec<Transfer>>,
    /// Id to leaf index: 24 bytes an entry, where a map of whole transfers would rehash
    /// 160 bytes an entry as it grows.
    leaves: IdMap<u64>,
    /// The status of every pending transfer (the others have none).
    statuses: IdMap<PendingStatus>,
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
        self.leaves.reserve(transfers.len());
        for transfer in transfers {
            let flags = transfer.flags;
            if flags.contains(TransferFlags::PENDING) {
                self.statuses.insert(transfer.id.0, PendingStatus::Pending);
            }
            if flags.contains(TransferFlags::POST_PENDING_TRANSFER) {
                self.set_status(transfer.pending_id.0, PendingStatus::Posted);
            }
            if flags.contains(TransferFlags::VOID_PENDING_TRANSFER) {
                self.set_status(transfer.pending_id.0, PendingStatus::Voided);
            }
            self.push(transfer);
        }
    }

    fn push(&mut self, transfer: &Transfer) {
        let chunk_full = self
            .chunks
            .last()
            .is_none_or(|chunk| chunk.len() == CHUNK_TRANSFERS);
        if chunk_full {
            self.chunks.push(Vec::with_capacity(CHUNK_TRANSFERS));
        }
        let chunk = self.chunks.last_mut().expect("a chunk with room");
        chunk.push(*transfer);
        self.leaves.insert(transfer.id.0, self.count);
        self.count += 1;
    }

    /// Sets a pending transfer's final status; an id never recorded (a block no engine
    /// produced) is left alone, as a store keeps a status row nothing reads.
    fn set_status(&mut self, id: u128, status: PendingStatus) {
        if let Some(stored) = self.statuses.get_mut(&id) {
            *stored = status;
        }
    }

    /// The transfer at `leaf_index` in the log.
    pub fn at_leaf(&self, leaf_index: u64) -> Option<&Transfer> {
        let (chunk, position) = chunk_position(leaf_index)?;
        self.chunks.get(chunk)?.get(position)
    }

    /// The transfers at leaf indexes `from..to` (clamped to the log), in log order.
    pub fn leaves(&self, from: u64, to: u64) -> impl DoubleEndedIterator<Item = &Transfer> {
        let to = to.min(self.count);
        let from = from.min(to);
        // The chunks holding leaves `from..to`: none when the range is empty.
        let (first, last) = match (chunk_position(from), chunk_position(to.saturating_sub(1))) {
            (Some((first, _)), Some((last, _))) if from < to => (first, last + 1),
            _ => (0, 0),
        };
        let chunks = self.chunks[first..last].iter().zip(first..last);
        chunks.flat_map(move |(transfers, chunk)| {
            let start = chunk_start(chunk);
            let begin = usize::try_from(from.saturating_sub(start)).unwrap_or(usize::MAX);
            let end = usize::try_from(to - start).unwrap_or(usize::MAX);
            &transfers[begin.min(transfers.len())..end.min(transfers.len())]
        })
    }

    /// The transfer committed at `timestamp`: log order is timestamp order.
    pub fn at_timestamp(&self, timestamp: u64) -> Option<&Transfer> {
        let (mut low, mut high) = (0, self.count);
        while low < high {
            let middle = low + (high - low) / 2;
            let transfer = self.at_leaf(middle)?;
            match transfer.timestamp.cmp(&timestamp) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return Some(transfer),
            }
        }
        None
    }

    pub fn get(&self, id: TransferId) -> Option<StoredTransfer> {
        let leaf_index = *self.leaves.get(&id.0)?;
        Some(StoredTransfer {
            transfer: *self.at_leaf(leaf_index)?,
            status: self.statuses.get(&id.0).copied(),
            leaf_index,
        })
    }

    /// The transfers among `ids` that exist.
    pub fn lookup(&self, ids: &[TransferId]) -> Vec<StoredTransfer> {
        ids.iter().filter_map(|id| self.get(*id)).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn transfers(count: u64) -> Vec<Transfer> {
        (0..count)
            .map(|index| Transfer {
                id: TransferId(u128::from(index) + 1),
                timestamp: index * 2 + 10,
                ..Transfer::default()
            })
            .collect()
    }

    /// Ranges that start, end and cross chunk boundaries read the log in order.
    #[test]
    fn leaves_across_chunks() {
        let count = CHUNK_TRANSFERS_U64 * 2 + 5;
        let all = transfers(count);
        let mut archive = TransferArchive::new();
        archive.record_parts(&all, &[]);
        assert_eq!(archive.len(), count);
        let edges = [
            0,
            1,
            CHUNK_TRANSFERS_U64 - 1,
            CHUNK_TRANSFERS_U64,
            count - 1,
            count,
        ];
        for from in edges {
            for to in edges.iter().copied().chain([count + 7, u64::MAX]) {
                let read: Vec<u64> = archive.leaves(from, to).map(|t| t.timestamp).collect();
                let expected: Vec<u64> = all
                    .iter()
                    .take(usize::try_from(to.min(count)).unwrap())
                    .skip(usize::try_from(from).unwrap())
                    .map(|t| t.timestamp)
                    .collect();
                assert_eq!(read, expected, "leaves {from}..{to}");
                let reversed: Vec<u64> = archive
                    .leaves(from, to)
                    .rev()
                    .map(|t| t.timestamp)
                    .collect();
                assert_eq!(reversed, expected.into_iter().rev().collect::<Vec<_>>());
            }
        }
        for leaf in edges {
            let found = archive.at_leaf(leaf).map(|t| t.id);
            assert_eq!(found, all.get(usize::try_from(leaf).unwrap()).map(|t| t.id));
            let Some(transfer) = all.get(usize::try_from(leaf).unwrap()) else {
                continue;
            };
            assert_eq!(archive.at_timestamp(transfer.timestamp), Some(transfer));
            assert_eq!(archive.at_timestamp(transfer.timestamp + 1), None);
            assert_eq!(archive.get(transfer.id).map(|s| s.leaf_index), Some(leaf));
        }
        assert_eq!(archive.at_timestamp(0), None);
    }

    /// A pending transfer's status follows its post, void or expiry; others have none.
    #[test]
    fn statuses_follow_resolution() {
        let mut all = transfers(4);
        all[0].flags = TransferFlags::PENDING;
        all[1].flags = TransferFlags::PENDING;
        all[2].flags = TransferFlags::POST_PENDING_TRANSFER;
        all[2].pending_id = all[0].id;
        let mut archive = TransferArchive::new();
        archive.record_parts(&all, &[]);
        archive.record_parts(&[], &[all[1].id]);
        let status = |index: usize| archive.get(all[index].id).and_then(|s| s.status);
        assert_eq!(status(0), Some(PendingStatus::Posted));
        assert_eq!(status(1), Some(PendingStatus::Expired));
        assert_eq!(status(2), None);
        assert_eq!(status(3), None);
    }
}
