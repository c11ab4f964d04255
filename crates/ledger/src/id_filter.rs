//! A blocked Bloom filter over transfer ids: "certainly new" or "maybe seen".
//!
//! The engine keeps only a bounded cache of transfers in memory; every other transfer lives
//! in the store. Before a batch runs, each id the batch needs that is not in memory is
//! looked up in the store (prefetch). This filter lets a new id, the common case, skip that
//! lookup: if the filter says "certainly new", no transfer with the id was ever committed.
//!
//! Blocked: all of an id's bits fall in one 64-byte block (one cache line), so a probe costs
//! one cache miss, not one per bit; the false-positive rate is a little above a classic
//! Bloom filter's of the same size (Putze, Sanders, Singler, "Cache-, Hash- and
//! Space-Efficient Bloom Filters", 2007). The hash is fixed (no random seed) so that the
//! same ids always set the same bits: replay rebuilds the filter exactly, and a snapshot's
//! filter can be compared with a replayed one. Ids are chosen by clients, so a client can
//! aim ids at one block; that only makes its own ids cost a store lookup (never a wrong
//! answer, since "maybe" is always checked against the store).
//!
//! The size is fixed at creation (a named configuration value), so memory does not grow with
//! history; the false-positive rate does, slowly: with 8 bits per block, about 1% at 10 bits
//! per id and about 10% at 5 bits per id.

/// Bytes of one block: one cache line.
const BLOCK_BYTES: usize = 64;
const BLOCK_WORDS: usize = BLOCK_BYTES / 8;
/// Bits set per id, all in one block.
const BITS_PER_ID: u32 = 8;

/// Smallest filter: one block.
pub const ID_FILTER_BYTES_MIN: usize = BLOCK_BYTES;
/// Largest filter: 4 GiB (block indexes are taken from 32 bits of the hash).
pub const ID_FILTER_BYTES_MAX: usize = 1 << 32;

#[derive(Clone, PartialEq, Eq)]
pub struct IdFilter {
    words: Vec<u64>,
    /// Number of blocks, a power of two, so a block index is a mask of the hash.
    block_mask: u64,
    inserted: u64,
}

impl std::fmt::Debug for IdFilter {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("IdFilter")
            .field("bytes", &self.bytes())
            .field("inserted", &self.inserted)
            .finish()
    }
}

impl IdFilter {
    /// An empty filter of `bytes` rounded down to a power of two, within
    /// [`ID_FILTER_BYTES_MIN`], [`ID_FILTER_BYTES_MAX`].
    pub fn new(bytes: usize) -> IdFilter {
        let bytes = bytes.clamp(ID_FILTER_BYTES_MIN, ID_FILTER_BYTES_MAX);
        let bytes = 1usize << (usize::BITS - 1 - bytes.leading_zeros());
        let blocks = bytes / BLOCK_BYTES;
        IdFilter {
            words: vec![0; blocks * BLOCK_WORDS],
            block_mask: blocks as u64 - 1,
            inserted: 0,
        }
    }

    /// Rebuilds a filter from the words of [`IdFilter::words`] and its insert count; `None`
    /// if the length is not a power-of-two number of blocks.
    pub fn from_words(words: Vec<u64>, inserted: u64) -> Option<IdFilter> {
        let blocks = words.len() / BLOCK_WORDS;
        let valid = words.len().is_multiple_of(BLOCK_WORDS) && blocks.is_power_of_two();
        valid.then(|| IdFilter {
            words,
            block_mask: blocks as u64 - 1,
            inserted,
        })
    }

    pub fn bytes(&self) -> usize {
        self.words.len() * 8
    }

    /// Ids inserted so far (duplicates counted): what the false-positive rate depends on.
    pub fn inserted(&self) -> u64 {
        self.inserted
    }

    /// The filter's bits, for snapshots.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    pub fn insert(&mut self, id: u128) {
        let (block, masks) = self.probe(id);
        for (word, mask) in self.words[block..block + BLOCK_WORDS].iter_mut().zip(masks) {
            *word |= mask;
        }
        self.inserted += 1;
    }

    /// False means no inserted id equals `id`; true means one may.
    pub fn may_contain(&self, id: u128) -> bool {
        let (block, masks) = self.probe(id);
        self.words[block..block + BLOCK_WORDS]
            .iter()
            .zip(masks)
            .all(|(word, mask)| word & mask == mask)
    }

    /// The first word of the id's block and the bits to set in each of its words.
    fn probe(&self, id: u128) -> (usize, [u64; BLOCK_WORDS]) {
        let low = id as u64;
        let high = (id >> 64) as u64;
        let first = mix(low ^ high.rotate_left(32));
        let second = mix(high ^ low.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15);
        let block = (first & self.block_mask) as usize * BLOCK_WORDS;
        let mut masks = [0u64; BLOCK_WORDS];
        // Eight 9-bit positions (3 bits: word, 6 bits: bit) from the second hash and the high
        // half of the first (72 bits in all).
        let mut bits = second;
        let mut extra = first >> 32;
        for index in 0..BITS_PER_ID {
            let position = if index < 7 {
                let position = bits & 0x1ff;
                bits >>= 9;
                position
            } else {
                let position = extra & 0x1ff;
                extra >>= 9;
                position
            };
            masks[(position >> 6) as usize] |= 1 << (position & 63);
        }
        (block, masks)
    }
}

/// MurmurHash3's 64-bit finalizer: every input bit affects every output bit.
fn mix(mut value: u64) -> u64 {
    value ^= value >> 33;
    value = value.wrapping_mul(0xff51_afd7_ed55_8ccd);
    value ^= value >> 33;
    value = value.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    value ^ (value >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_ids_are_always_found() {
        let mut filter = IdFilter::new(4096);
        for id in 1..=5_000u128 {
            filter.insert(id * 0x1_0000_0001);
        }
        assert!((1..=5_000u128).all(|id| filter.may_contain(id * 0x1_0000_0001)));
    }

    #[test]
    fn false_positives_stay_near_the_design_rate() {
        // 1 MiB = 8,388,608 bits; 838,860 ids = 10 bits per id: about 1% expected.
        let mut filter = IdFilter::new(1 << 20);
        let ids = 838_860u128;
        for id in 0..ids {
            filter.insert(id << 64 | id);
        }
        let probes = 200_000u128;
        let hits = (ids..ids + probes)
            .filter(|id| filter.may_contain(id << 64 | id))
            .count();
        let rate = hits as f64 / probes as f64;
        assert!(rate < 0.02, "false-positive rate {rate}");
    }

    #[test]
    fn sizes_are_clamped_and_rounded_to_a_power_of_two() {
        assert_eq!(IdFilter::new(0).bytes(), ID_FILTER_BYTES_MIN);
        assert_eq!(IdFilter::new(1000).bytes(), 512);
        assert_eq!(IdFilter::new(1 << 20).bytes(), 1 << 20);
    }

    #[test]
    fn words_round_trip() {
        let mut filter = IdFilter::new(1024);
        filter.insert(7);
        let copy = IdFilter::from_words(filter.words().to_vec(), filter.inserted()).unwrap();
        assert_eq!(copy, filter);
        assert!(IdFilter::from_words(vec![0; 24], 0).is_none());
    }
}
