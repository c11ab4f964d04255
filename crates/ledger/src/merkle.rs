//! The append-only Merkle log of transfers, as specified by RFC 6962 §2.1 / RFC 9162 §2.1.
//!
//! Following the RFC exactly (leaf prefix 0x00, node prefix 0x01, split at the largest power
//! of two below the size, SHA-256 of nothing for the empty tree) is what lets anyone check
//! our proofs with an off-the-shelf Certificate Transparency verifier, and lets us check
//! ourselves against published test vectors.
//!
//! [`MerkleLog`] keeps every complete subtree it has ever formed: `levels[0]` holds the leaf
//! hashes and `levels[k][i]` the hash of the perfect subtree of `2^k` leaves starting at
//! leaf `i * 2^k`. Appending a leaf hashes one node per pair it completes (amortized one per
//! leaf), and the root, an inclusion proof or a consistency proof at any past size is made
//! of at most `log2(n)` stored subtrees combined with at most `log2(n)` hashes each.
//!
//! A server does not keep every level: it keeps a [`MerkleFrontier`] (the `O(log n)` peaks),
//! stores the interior nodes at [`STORED_NODE_LEVEL_MIN`] and above as they complete, and
//! recomputes lower subtrees from their leaves; [`inclusion_proof_from`],
//! [`consistency_proof_from`] and [`root_from`] build proofs from any such source.
//!
//! [`verify_inclusion`] and [`verify_consistency`] follow RFC 9162 §2.1.3.2 and §2.1.4.2
//! step by step, so that they can be audited against the text.

use sha2::{Digest, Sha256};

use crate::types::Hash;

/// The hash of a leaf: SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([0x00])
        .chain_update(data)
        .finalize()
        .into()
}

/// The hash of an interior node: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut input = [0u8; 65];
    input[0] = 0x01;
    input[1..33].copy_from_slice(left);
    input[33..].copy_from_slice(right);
    Sha256::digest(input).into()
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Why a proof was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    #[error("leaf index {index} is not below tree size {tree_size}")]
    IndexOutOfRange { index: u64, tree_size: u64 },
    #[error("tree sizes {size1} and {size2} do not satisfy 0 < size1 <= size2")]
    InvalidSizes { size1: u64, size2: u64 },
    #[error("the proof has the wrong number of hashes for these tree sizes")]
    WrongProofLength,
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
}

/// An in-memory, append-only RFC 6962 Merkle log of leaf hashes.
#[derive(Clone, Debug)]
pub struct MerkleLog {
    /// `levels[k][i]`: hash of the perfect subtree of `2^k` leaves starting at `i * 2^k`.
    levels: Vec<Vec<Hash>>,
}

impl Default for MerkleLog {
    fn default() -> Self {
        MerkleLog::new()
    }
}

impl MerkleLog {
    /// An empty log.
    pub fn new() -> Self {
        MerkleLog {
            levels: vec![Vec::new()],
        }
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf_hash: Hash) {
        self.extend(std::slice::from_ref(&leaf_hash));
    }

    /// Appends leaf hashes in order, hashing each newly completed pair once.
    pub fn extend(&mut self, leaf_hashes: &[Hash]) {
        self.levels[0].extend_from_slice(leaf_hashes);
        let mut level = 0;
        while self.complete_pairs(level) {
            level += 1;
        }
    }

    /// Hashes the pairs of `level` that have no parent yet; false if there were none.
    fn complete_pairs(&mut self, level: usize) -> bool {
        if self.levels.len() == level + 1 {
            self.levels.push(Vec::new());
        }
        let (lower, upper) = self.levels.split_at_mut(level + 1);
        let (children, parents) = (&lower[level], &mut upper[0]);
        let complete = children.len() / 2;
        if parents.len() == complete {
            return false;
        }
        parents.reserve(complete - parents.len());
        for pair in children[2 * parents.len()..2 * complete].chunks_exact(2) {
            parents.push(node_hash(&pair[0], &pair[1]));
        }
        true
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// The leaf hash at `index`, if there is one.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        let index = usize::try_from(index).ok()?;
        self.levels[0].get(index).copied()
    }

    /// The root at the current size.
    pub fn root(&self) -> Hash {
        self.root_at(self.size())
            .expect("the log holds its own size")
    }

    /// The root the log had when it held `size` leaves; `None` if `size > self.size()`.
    pub fn root_at(&self, size: u64) -> Option<Hash> {
        (size <= self.size()).then(|| infallible(root_from(&mut self.subtrees(), size)))
    }

    /// RFC 6962 §2.1.1 `PATH(index, D[size])`: the audit path of leaf `index` in the tree of
    /// the first `size` leaves, ordered from the leaf's sibling up to the root's child.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Option<Vec<Hash>> {
        if size > self.size() {
            return None;
        }
        inclusion_proof_from(&mut self.subtrees(), index, size).map(infallible)
    }

    /// RFC 6962 §2.1.2 `PROOF(size1, D[size2])`; empty when the sizes are equal.
    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Option<Vec<Hash>> {
        if size2 > self.size() {
            return None;
        }
        consistency_proof_from(&mut self.subtrees(), size1, size2).map(infallible)
    }

    /// Drops every leaf from `size` on (nothing happens if the log is not larger).
    pub fn truncate(&mut self, size: u64) {
        if size >= self.size() {
            return;
        }
        for (level, hashes) in self.levels.iter_mut().enumerate() {
            hashes.truncate(size.checked_shr(level as u32).unwrap_or(0) as usize);
        }
    }

    /// The frontier of the log at its current size.
    pub fn frontier(&self) -> MerkleFrontier {
        let size = self.size();
        let mut peaks = Vec::new();
        let mut start = 0;
        for level in (0..u64::BITS).rev() {
            let width = 1u64 << level;
            if size & width != 0 {
                peaks.push(self.perfect(start, width));
                start += width;
            }
        }
        MerkleFrontier { size, peaks }
    }

    /// The stored perfect subtrees, as a source for the proof functions.
    fn subtrees(&self) -> impl FnMut(u64, u64) -> Result<Hash, std::convert::Infallible> + '_ {
        |start, width| Ok(self.perfect(start, width))
    }

    /// The stored perfect subtree of `width` (a power of two) leaves starting at `start`.
    fn perfect(&self, start: u64, width: u64) -> Hash {
        let level = width.trailing_zeros() as usize;
        debug_assert!(start & (width - 1) == 0, "unaligned subtree");
        self.levels[level][(start >> level) as usize]
    }
}

fn infallible<T>(result: Result<T, std::convert::Infallible>) -> T {
    match result {
        Ok(value) => value,
        Err(never) => match never {},
    }
}

/// Lowest level of the interior nodes a durable log stores: a perfect subtree of fewer than
/// `2^STORED_NODE_LEVEL_MIN` leaves is recomputed from its leaves (at most 128 leaf hashes),
/// so the store keeps about one node per 128 transfers instead of one per transfer.
pub const STORED_NODE_LEVEL_MIN: u32 = 8;

/// A complete interior node: the root of the perfect subtree of `2^level` leaves starting at
/// leaf `index * 2^level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MerkleNode {
    pub level: u32,
    pub index: u64,
    pub hash: Hash,
}

/// The right edge of a Merkle log: the roots of the perfect subtrees that make up its size
/// (one per set bit, largest first), `O(log n)` hashes. Enough to append leaves and to know
/// the root; proofs need the interior nodes, which the appends hand out as they complete.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MerkleFrontier {
    size: u64,
    peaks: Vec<Hash>,
}

impl MerkleFrontier {
    pub fn new() -> MerkleFrontier {
        MerkleFrontier::default()
    }

    /// A frontier from its size and peaks (largest first); `None` unless there is one peak
    /// per set bit of `size`.
    pub fn from_parts(size: u64, peaks: Vec<Hash>) -> Option<MerkleFrontier> {
        (peaks.len() == size.count_ones() as usize).then_some(MerkleFrontier { size, peaks })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The peaks, largest subtree first.
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// Appends leaf hashes; every interior node they complete at level
    /// [`STORED_NODE_LEVEL_MIN`] or above is pushed to `completed`, in completion order.
    pub fn extend(&mut self, leaf_hashes: &[Hash], completed: &mut Vec<MerkleNode>) {
        for leaf in leaf_hashes {
            let mut hash = *leaf;
            let mut level = 0u32;
            let mut lower_bits = self.size;
            let new_size = self.size + 1;
            while lower_bits & 1 == 1 {
                let left = self.peaks.pop().expect("one peak per set bit");
                hash = node_hash(&left, &hash);
                level += 1;
                lower_bits >>= 1;
                if level >= STORED_NODE_LEVEL_MIN {
                    let index = (new_size >> level) - 1;
                    completed.push(MerkleNode { level, index, hash });
                }
            }
            self.peaks.push(hash);
            self.size = new_size;
        }
    }

    /// The root at the current size (RFC 6962 `MTH`).
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(last) = peaks.next() else {
            return empty_root();
        };
        peaks.fold(*last, |root, peak| node_hash(peak, &root))
    }
}

/// `MTH(D[0:size])` from a source of perfect subtrees: `perfect(start, width)` answers the
/// root of the `width` (a power of two) leaves from `start`.
pub fn root_from<E>(
    perfect: &mut impl FnMut(u64, u64) -> Result<Hash, E>,
    size: u64,
) -> Result<Hash, E> {
    subtree_root(perfect, 0, size)
}

/// RFC 6962 §2.1.1 `PATH(index, D[size])` from a source of perfect subtrees; `None` if
/// `index >= size`.
pub fn inclusion_proof_from<E>(
    perfect: &mut impl FnMut(u64, u64) -> Result<Hash, E>,
    index: u64,
    size: u64,
) -> Option<Result<Vec<Hash>, E>> {
    if index >= size {
        return None;
    }
    let mut proof = Vec::with_capacity(proof_capacity(size));
    Some(path(perfect, index, 0, size, &mut proof).map(|()| proof))
}

/// RFC 6962 §2.1.2 `PROOF(size1, D[size2])` from a source of perfect subtrees; `None`
/// unless `0 < size1 <= size2`.
pub fn consistency_proof_from<E>(
    perfect: &mut impl FnMut(u64, u64) -> Result<Hash, E>,
    size1: u64,
    size2: u64,
) -> Option<Result<Vec<Hash>, E>> {
    if size1 == 0 || size1 > size2 {
        return None;
    }
    let mut proof = Vec::with_capacity(proof_capacity(size2) + 1);
    Some(subproof(perfect, size1, 0, size2, true, &mut proof).map(|()| proof))
}

/// The root of the perfect subtree over `leaves` (a power of two of them).
pub fn perfect_root(leaves: &[Hash]) -> Hash {
    assert!(leaves.len().is_power_of_two(), "a perfect subtree");
    let mut level: Vec<Hash> = leaves.to_vec();
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|pair| node_hash(&pair[0], &pair[1]))
            .collect();
    }
    level[0]
}

/// `PATH(index, D[start:end])`, appended to `proof` (RFC 6962 §2.1.1).
fn path<E>(
    perfect: &mut impl FnMut(u64, u64) -> Result<Hash, E>,
    index: u64,
    start: u64,
    end: u64,
    proof: &mut Vec<Hash>,
) -> Result<(), E> {
    if end - start == 1 {
        return Ok(());
    }
    let middle = start + split(end - start);
    if index < middle {
        path(perfect, index, start, middle, proof)?;
        proof.push(subtree_root(perfect, middle, end)?);
    } else {
        path(perfect, index, middle, end, proof)?;
        proof.push(subtree_root(perfect, start, middle)?);
    }
    Ok(())
}

/// `SUBPROOF(old_end - start, D[start:end], complete)`, appended to `proof`
/// (RFC 6962 §2.1.2); `complete` says whether `D[start:old_end]` is a subtree whose
/// root the verifier already knows.
fn subproof<E>(
    perfect: &mut impl FnMut(u64, u64) -> Result<Hash, E>,
    old_end: u64,
    start: u64,
    end: u64,
    complete: bool,
    proof: &mut Vec<Hash>,
) -> Result<(), E> {
    if old_end == end {
        if !complete {
            proof.push(subtree_root(perfect, start, end)?);
        }
        return Ok(());
    }
    let middle = start + split(end - start);
    if old_end <= middle {
        subproof(perfect, old_end, start, middle, complete, proof)?;
        proof.push(subtree_root(perfect, middle, end)?);
    } else {
        subproof(perfect, old_end, middle, end, false, proof)?;
        proof.push(subtree_root(perfect, start, middle)?);
    }
    Ok(())
}

/// `MTH(D[start:end])` for a range that RFC 6962's recursion produces: `start` is a
/// multiple of the largest power of two not above `end - start`. Such a range is a run of
/// perfect subtrees of decreasing size, combined from the right.
fn subtree_root<E>(
    perfect: &mut impl FnMut(u64, u64) -> Result<Hash, E>,
    start: u64,
    end: u64,
) -> Result<Hash, E> {
    if start == end {
        return Ok(empty_root());
    }
    let width = lowest_bit(end - start);
    let mut right = end - width;
    let mut root = perfect(right, width)?;
    while right > start {
        let width = lowest_bit(right - start);
        right -= width;
        root = node_hash(&perfect(right, width)?, &root);
    }
    Ok(root)
}

/// The largest power of two strictly below `size` (RFC 6962's split point); `size >= 2`.
fn split(size: u64) -> u64 {
    debug_assert!(size >= 2);
    1 << (63 - (size - 1).leading_zeros())
}

/// The lowest set bit of a nonzero value.
fn lowest_bit(value: u64) -> u64 {
    value & value.wrapping_neg()
}

/// An upper bound on the number of hashes in a proof for a tree of `size` leaves.
fn proof_capacity(size: u64) -> usize {
    (u64::BITS - size.leading_zeros()) as usize
}

/// Verifies an inclusion proof, following RFC 9162 §2.1.3.2 step by step.
///
/// The RFC's `fn` and `sn` are `node` (the index of the node being recomputed at the
/// current level) and `last` (the index of the last node at that level).
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    // 1. Compare leaf_index against tree_size. If leaf_index is greater than or equal to
    //    tree_size, then fail the proof verification.
    if index >= tree_size {
        return Err(ProofError::IndexOutOfRange { index, tree_size });
    }
    // 2. Set fn to leaf_index and sn to tree_size - 1.
    let mut node = index;
    let mut last = tree_size - 1;
    // 3. Set r to hash.
    let mut recomputed = *leaf_hash;
    // 4. For each value p in the inclusion_path array:
    for sibling in proof {
        // a. If sn is 0, then stop the iteration and fail the proof verification.
        if last == 0 {
            return Err(ProofError::WrongProofLength);
        }
        // b. If LSB(fn) is set, or if fn is equal to sn, then:
        if node & 1 == 1 || node == last {
            // i. Set r to HASH(0x01 || p || r).
            recomputed = node_hash(sibling, &recomputed);
            // ii. If LSB(fn) is not set, then right-shift both fn and sn equally until
            //     either LSB(fn) is set or fn is 0.
            while node & 1 == 0 && node != 0 {
                node >>= 1;
                last >>= 1;
            }
        } else {
            // Otherwise: i. Set r to HASH(0x01 || r || p).
            recomputed = node_hash(&recomputed, sibling);
        }
        // c. Finally, right-shift both fn and sn one time.
        node >>= 1;
        last >>= 1;
    }
    // 5. Compare sn to 0. Compare r against the root_hash. If sn is equal to 0 and r and
    //    the root_hash are equal, then the log has proven the inclusion of hash.
    if last != 0 {
        return Err(ProofError::WrongProofLength);
    }
    if recomputed != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies a consistency proof, following RFC 9162 §2.1.4.2 step by step.
///
/// The RFC defines the algorithm for `0 < size1 < size2`; for `size1 == size2` the only
/// valid proof is the empty one, with equal roots. The RFC's `fn` and `sn` are `first` and
/// `second` (the indices of the last node of each tree at the current level).
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Result<(), ProofError> {
    if size1 == 0 || size1 > size2 {
        return Err(ProofError::InvalidSizes { size1, size2 });
    }
    if size1 == size2 {
        return verify_same_size(proof, root1, root2);
    }
    // 1. If consistency_path is an empty array, stop and fail the proof verification.
    let Some((head, tail)) = proof.split_first() else {
        return Err(ProofError::WrongProofLength);
    };
    // 2. If first is an exact power of 2, then prepend first_hash to the consistency_path
    //    array. (`seed` is the array's first value and `rest` the values after it.)
    let (seed, rest) = if size1.is_power_of_two() {
        (root1, proof)
    } else {
        (head, tail)
    };
    // 3. Set fn to first - 1 and sn to second - 1.
    let mut first = size1 - 1;
    let mut second = size2 - 1;
    // 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set.
    while first & 1 == 1 {
        first >>= 1;
        second >>= 1;
    }
    // 5. Set both fr and sr to the first value in the consistency_path array.
    let mut first_root = *seed;
    let mut second_root = *seed;
    // 6. For each subsequent value c in the consistency_path array:
    for node in rest {
        // a. If sn is 0, then stop the iteration and fail the proof verification.
        if second == 0 {
            return Err(ProofError::WrongProofLength);
        }
        // b. If LSB(fn) is set, or if fn is equal to sn, then:
        if first & 1 == 1 || first == second {
            // i. Set fr to HASH(0x01 || c || fr).
            first_root = node_hash(node, &first_root);
            // ii. Set sr to HASH(0x01 || c || sr).
            second_root = node_hash(node, &second_root);
            // iii. If LSB(fn) is not set, then right-shift both fn and sn equally until
            //      either LSB(fn) is set or fn is 0.
            while first & 1 == 0 && first != 0 {
                first >>= 1;
                second >>= 1;
            }
        } else {
            // Otherwise: i. Set sr to HASH(0x01 || sr || c).
            second_root = node_hash(&second_root, node);
        }
        // c. Finally, right-shift both fn and sn one time.
        first >>= 1;
        second >>= 1;
    }
    // 7. Verify that fr equals first_hash, that sr equals second_hash, and that sn is 0.
    if second != 0 {
        return Err(ProofError::WrongProofLength);
    }
    if first_root != *root1 || second_root != *root2 {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// A tree is consistent with itself: the proof is empty and the roots are equal.
fn verify_same_size(proof: &[Hash], root1: &Hash, root2: &Hash) -> Result<(), ProofError> {
    if !proof.is_empty() {
        return Err(ProofError::WrongProofLength);
    }
    if root1 != root2 {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}
