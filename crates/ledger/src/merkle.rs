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
        self.subtree_root(0, self.size())
    }

    /// The root the log had when it held `size` leaves; `None` if `size > self.size()`.
    pub fn root_at(&self, size: u64) -> Option<Hash> {
        (size <= self.size()).then(|| self.subtree_root(0, size))
    }

    /// RFC 6962 §2.1.1 `PATH(index, D[size])`: the audit path of leaf `index` in the tree of
    /// the first `size` leaves, ordered from the leaf's sibling up to the root's child.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Option<Vec<Hash>> {
        if index >= size || size > self.size() {
            return None;
        }
        let mut proof = Vec::with_capacity(proof_capacity(size));
        self.path(index, 0, size, &mut proof);
        Some(proof)
    }

    /// RFC 6962 §2.1.2 `PROOF(size1, D[size2])`; empty when the sizes are equal.
    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Option<Vec<Hash>> {
        if size1 == 0 || size1 > size2 || size2 > self.size() {
            return None;
        }
        let mut proof = Vec::with_capacity(proof_capacity(size2) + 1);
        self.subproof(size1, 0, size2, true, &mut proof);
        Some(proof)
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

    /// `PATH(index, D[start:end])`, appended to `proof` (RFC 6962 §2.1.1).
    fn path(&self, index: u64, start: u64, end: u64, proof: &mut Vec<Hash>) {
        if end - start == 1 {
            return;
        }
        let middle = start + split(end - start);
        if index < middle {
            self.path(index, start, middle, proof);
            proof.push(self.subtree_root(middle, end));
        } else {
            self.path(index, middle, end, proof);
            proof.push(self.subtree_root(start, middle));
        }
    }

    /// `SUBPROOF(old_end - start, D[start:end], complete)`, appended to `proof`
    /// (RFC 6962 §2.1.2); `complete` says whether `D[start:old_end]` is a subtree whose
    /// root the verifier already knows.
    fn subproof(&self, old_end: u64, start: u64, end: u64, complete: bool, proof: &mut Vec<Hash>) {
        if old_end == end {
            if !complete {
                proof.push(self.subtree_root(start, end));
            }
            return;
        }
        let middle = start + split(end - start);
        if old_end <= middle {
            self.subproof(old_end, start, middle, complete, proof);
            proof.push(self.subtree_root(middle, end));
        } else {
            self.subproof(old_end, middle, end, false, proof);
            proof.push(self.subtree_root(start, middle));
        }
    }

    /// `MTH(D[start:end])` for a range that RFC 6962's recursion produces: `start` is a
    /// multiple of the largest power of two not above `end - start`. Such a range is a run of
    /// perfect subtrees of decreasing size, combined from the right.
    fn subtree_root(&self, start: u64, end: u64) -> Hash {
        if start == end {
            return empty_root();
        }
        let width = lowest_bit(end - start);
        let mut right = end - width;
        let mut root = self.perfect(right, width);
        while right > start {
            let width = lowest_bit(right - start);
            right -= width;
            root = node_hash(&self.perfect(right, width), &root);
        }
        root
    }

    /// The stored perfect subtree of `width` (a power of two) leaves starting at `start`.
    fn perfect(&self, start: u64, width: u64) -> Hash {
        let level = width.trailing_zeros() as usize;
        debug_assert!(start & (width - 1) == 0, "unaligned subtree");
        self.levels[level][(start >> level) as usize]
    }
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
