//! Conformance of the Merkle log with RFC 6962 / RFC 9162.
//!
//! Published Certificate Transparency vectors pin the hashing; a deliberately naive recursive
//! transcription of RFC 6962 §2.1 (`MTH`, `PATH`, `PROOF`) pins the proof shapes for every
//! small tree; tampering and property tests pin the verifiers.

use std::collections::BTreeMap;

use ledger::merkle::{
    MerkleFrontier, MerkleLog, MerkleNode, ProofError, STORED_NODE_LEVEL_MIN,
    consistency_proof_from, empty_root, inclusion_proof_from, leaf_hash, node_hash, perfect_root,
    root_from, verify_consistency, verify_inclusion,
};
use ledger::types::Hash;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// The test leaves of certificate-transparency / transparency-dev (`testonly`).
const LEAF_DATA: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// Their roots for tree sizes 0 to 8.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// Published inclusion proofs: (leaf index, tree size, path).
const INCLUSION_PROOFS: [(u64, u64, &[&str]); 2] = [
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

/// Published consistency proofs: (first size, second size, proof).
const CONSISTENCY_PROOFS: [(u64, u64, &[&str]); 3] = [
    (
        2,
        8,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// Largest tree compared exhaustively with the reference.
const REFERENCE_SIZE: u64 = 70;

/// Largest tree whose proofs get every single byte flipped.
const EXHAUSTIVE_TAMPER_SIZE: u64 = 24;

fn decode(text: &str) -> Hash {
    hex::decode(text).unwrap().try_into().unwrap()
}

fn decode_all(texts: &[&str]) -> Vec<Hash> {
    texts.iter().map(|text| decode(text)).collect()
}

fn published_log() -> MerkleLog {
    let mut log = MerkleLog::new();
    for data in LEAF_DATA {
        log.push(leaf_hash(&hex::decode(data).unwrap()));
    }
    log
}

/// Distinct leaf hashes, different for each `seed`.
fn synthetic_leaves(count: u64, seed: u64) -> Vec<Hash> {
    (0..count)
        .map(|index| reference::leaf(&[seed.to_be_bytes(), index.to_be_bytes()].concat()))
        .collect()
}

fn log_of(leaves: &[Hash]) -> MerkleLog {
    let mut log = MerkleLog::new();
    log.extend(leaves);
    log
}

fn flipped(hash: &Hash, byte: usize) -> Hash {
    let mut copy = *hash;
    copy[byte] ^= 0x01;
    copy
}

/// RFC 6962 §2.1 transcribed as literally as possible, over leaf hashes, with its own hashing.
mod reference {
    use super::*;

    pub fn leaf(data: &[u8]) -> Hash {
        Sha256::digest([&[0x00], data].concat()).into()
    }

    fn node(left: &Hash, right: &Hash) -> Hash {
        Sha256::digest([&[0x01][..], left, right].concat()).into()
    }

    /// The largest power of two smaller than `n`.
    fn split(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// MTH(D[n]).
    pub fn root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => Sha256::digest(b"").into(),
            1 => leaves[0],
            n => {
                let k = split(n);
                node(&root(&leaves[..k]), &root(&leaves[k..]))
            }
        }
    }

    /// PATH(m, D[n]).
    pub fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        let n = leaves.len();
        if n == 1 {
            return Vec::new();
        }
        let k = split(n);
        if m < k {
            let mut proof = path(m, &leaves[..k]);
            proof.push(root(&leaves[k..]));
            proof
        } else {
            let mut proof = path(m - k, &leaves[k..]);
            proof.push(root(&leaves[..k]));
            proof
        }
    }

    /// PROOF(m, D[n]).
    pub fn proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        subproof(m, leaves, true)
    }

    /// SUBPROOF(m, D[n], b).
    fn subproof(m: usize, leaves: &[Hash], complete: bool) -> Vec<Hash> {
        let n = leaves.len();
        if m == n {
            return if complete {
                Vec::new()
            } else {
                vec![root(leaves)]
            };
        }
        let k = split(n);
        if m <= k {
            let mut proof = subproof(m, &leaves[..k], complete);
            proof.push(root(&leaves[k..]));
            proof
        } else {
            let mut proof = subproof(m - k, &leaves[k..], false);
            proof.push(root(&leaves[..k]));
            proof
        }
    }
}

#[test]
fn hashing_primitives_match_rfc_6962() {
    assert_eq!(empty_root(), decode(ROOTS[0]));
    assert_eq!(leaf_hash(b""), decode(ROOTS[1]));
    let first = leaf_hash(b"");
    let second = leaf_hash(&[0x00]);
    assert_eq!(node_hash(&first, &second), decode(ROOTS[2]));
    assert_ne!(node_hash(&second, &first), decode(ROOTS[2]));
    assert_eq!(leaf_hash(b"abc"), reference::leaf(b"abc"));
}

#[test]
fn published_roots_for_every_size() {
    let mut log = MerkleLog::new();
    assert_eq!(log.root(), decode(ROOTS[0]));
    for (size, data) in LEAF_DATA.iter().enumerate() {
        log.push(leaf_hash(&hex::decode(data).unwrap()));
        assert_eq!(log.size(), size as u64 + 1);
        assert_eq!(log.root(), decode(ROOTS[size + 1]), "size {}", size + 1);
    }
    for (size, root) in ROOTS.iter().enumerate() {
        assert_eq!(log.root_at(size as u64), Some(decode(root)), "size {size}");
    }
    assert_eq!(log.root_at(9), None);
}

#[test]
fn published_inclusion_proofs() {
    let log = published_log();
    for (index, size, path) in INCLUSION_PROOFS {
        let expected = decode_all(path);
        assert_eq!(log.inclusion_proof(index, size), Some(expected.clone()));
        let leaf = log.leaf(index).unwrap();
        let root = decode(ROOTS[size as usize]);
        assert_eq!(
            verify_inclusion(&leaf, index, size, &expected, &root),
            Ok(())
        );
    }
}

#[test]
fn published_consistency_proofs() {
    let log = published_log();
    for (size1, size2, path) in CONSISTENCY_PROOFS {
        let expected = decode_all(path);
        assert_eq!(log.consistency_proof(size1, size2), Some(expected.clone()));
        let root1 = decode(ROOTS[size1 as usize]);
        let root2 = decode(ROOTS[size2 as usize]);
        assert_eq!(
            verify_consistency(size1, size2, &expected, &root1, &root2),
            Ok(())
        );
    }
}

#[test]
fn roots_match_the_reference_while_growing() {
    let leaves = synthetic_leaves(REFERENCE_SIZE, 1);
    let mut log = MerkleLog::new();
    for (count, leaf) in leaves.iter().enumerate() {
        log.push(*leaf);
        assert_eq!(
            log.root(),
            reference::root(&leaves[..=count]),
            "size {}",
            count + 1
        );
    }
    for size in 0..=REFERENCE_SIZE {
        let expected = reference::root(&leaves[..size as usize]);
        assert_eq!(log.root_at(size), Some(expected), "size {size}");
    }
}

#[test]
fn inclusion_proofs_match_the_reference_and_verify() {
    let leaves = synthetic_leaves(REFERENCE_SIZE, 2);
    let log = log_of(&leaves);
    for size in 1..=REFERENCE_SIZE {
        let prefix = &leaves[..size as usize];
        let root = reference::root(prefix);
        for index in 0..size {
            let proof = log.inclusion_proof(index, size).unwrap();
            assert_eq!(
                proof,
                reference::path(index as usize, prefix),
                "{index} in {size}"
            );
            let leaf = leaves[index as usize];
            assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));
        }
    }
}

#[test]
fn consistency_proofs_match_the_reference_and_verify() {
    let leaves = synthetic_leaves(REFERENCE_SIZE, 3);
    let log = log_of(&leaves);
    for size2 in 1..=REFERENCE_SIZE {
        let root2 = reference::root(&leaves[..size2 as usize]);
        for size1 in 1..=size2 {
            let proof = log.consistency_proof(size1, size2).unwrap();
            let expected = reference::proof(size1 as usize, &leaves[..size2 as usize]);
            assert_eq!(proof, expected, "{size1} to {size2}");
            let root1 = reference::root(&leaves[..size1 as usize]);
            assert_eq!(
                verify_consistency(size1, size2, &proof, &root1, &root2),
                Ok(()),
                "{size1} to {size2}"
            );
        }
    }
}

#[test]
fn requests_beyond_the_log_are_refused() {
    let log = log_of(&synthetic_leaves(5, 4));
    assert_eq!(log.leaf(5), None);
    assert_eq!(log.leaf(u64::MAX), None);
    assert_eq!(log.root_at(6), None);
    assert_eq!(log.inclusion_proof(5, 5), None);
    assert_eq!(log.inclusion_proof(0, 6), None);
    assert_eq!(log.inclusion_proof(0, 0), None);
    assert_eq!(log.consistency_proof(0, 5), None);
    assert_eq!(log.consistency_proof(4, 3), None);
    assert_eq!(log.consistency_proof(5, 6), None);
    assert_eq!(log.consistency_proof(5, 5), Some(Vec::new()));
    assert_eq!(MerkleLog::new().root(), empty_root());
    assert_eq!(MerkleLog::default().size(), 0);
}

#[test]
fn verifiers_refuse_impossible_sizes() {
    let hash = leaf_hash(b"x");
    let refused = verify_inclusion(&hash, 3, 3, &[], &hash);
    assert_eq!(
        refused,
        Err(ProofError::IndexOutOfRange {
            index: 3,
            tree_size: 3
        })
    );
    let refused = verify_inclusion(&hash, 0, 0, &[], &empty_root());
    assert_eq!(
        refused,
        Err(ProofError::IndexOutOfRange {
            index: 0,
            tree_size: 0
        })
    );
    let empty = empty_root();
    let refused = verify_consistency(0, 4, &[], &empty, &hash);
    assert_eq!(
        refused,
        Err(ProofError::InvalidSizes { size1: 0, size2: 4 })
    );
    let refused = verify_consistency(5, 4, &[hash], &hash, &hash);
    assert_eq!(
        refused,
        Err(ProofError::InvalidSizes { size1: 5, size2: 4 })
    );
}

#[test]
fn equal_sizes_need_an_empty_proof_and_equal_roots() {
    let first = leaf_hash(b"a");
    let second = leaf_hash(b"b");
    assert_eq!(verify_consistency(4, 4, &[], &first, &first), Ok(()));
    let refused = verify_consistency(4, 4, &[], &first, &second);
    assert_eq!(refused, Err(ProofError::RootMismatch));
    let refused = verify_consistency(4, 4, &[first], &first, &first);
    assert_eq!(refused, Err(ProofError::WrongProofLength));
    let refused = verify_consistency(1, 2, &[], &first, &second);
    assert_eq!(refused, Err(ProofError::WrongProofLength));
}

/// Every way of spoiling an inclusion proof, checked on one (index, size) pair.
fn assert_inclusion_tamper_fails(log: &MerkleLog, other: &MerkleLog, index: u64, size: u64) {
    let proof = log.inclusion_proof(index, size).unwrap();
    let leaf = log.leaf(index).unwrap();
    let root = log.root_at(size).unwrap();
    let rejects = |leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash| {
        let result = verify_inclusion(leaf, index, size, proof, root);
        assert!(
            result.is_err(),
            "accepted tampered proof of {index} in {size}"
        );
    };
    let exhaustive = size <= EXHAUSTIVE_TAMPER_SIZE;
    for position in 0..proof.len() {
        for byte in bytes_to_flip(exhaustive, position) {
            let mut tampered = proof.clone();
            tampered[position] = flipped(&tampered[position], byte);
            rejects(&leaf, index, size, &tampered, &root);
        }
    }
    for byte in bytes_to_flip(exhaustive, index as usize) {
        rejects(&flipped(&leaf, byte), index, size, &proof, &root);
        rejects(&leaf, index, size, &proof, &flipped(&root, byte));
    }
    for wrong in (0..size).filter(|&wrong| wrong != index) {
        rejects(&leaf, wrong, size, &proof, &root);
    }
    for wrong in (1..=log.size()).filter(|&wrong| wrong != size) {
        rejects(&leaf, index, wrong, &proof, &log.root_at(wrong).unwrap());
    }
    rejects(&leaf, index, size, &proof, &other.root_at(size).unwrap());
    if size > 1 {
        let neighbour = log.leaf((index + 1) % size).unwrap();
        rejects(&neighbour, index, size, &proof, &root);
    }
    assert_resized_proofs_fail(&proof, |tampered| {
        rejects(&leaf, index, size, tampered, &root)
    });
}

/// Every way of spoiling a consistency proof, checked on one (size1, size2) pair.
fn assert_consistency_tamper_fails(log: &MerkleLog, other: &MerkleLog, size1: u64, size2: u64) {
    let proof = log.consistency_proof(size1, size2).unwrap();
    let root1 = log.root_at(size1).unwrap();
    let root2 = log.root_at(size2).unwrap();
    let rejects = |size1: u64, size2: u64, proof: &[Hash], root1: &Hash, root2: &Hash| {
        let result = verify_consistency(size1, size2, proof, root1, root2);
        assert!(
            result.is_err(),
            "accepted tampered proof of {size1} to {size2}"
        );
    };
    let exhaustive = size2 <= EXHAUSTIVE_TAMPER_SIZE;
    for position in 0..proof.len() {
        for byte in bytes_to_flip(exhaustive, position) {
            let mut tampered = proof.clone();
            tampered[position] = flipped(&tampered[position], byte);
            rejects(size1, size2, &tampered, &root1, &root2);
        }
    }
    for byte in bytes_to_flip(exhaustive, size1 as usize) {
        rejects(size1, size2, &proof, &flipped(&root1, byte), &root2);
        rejects(size1, size2, &proof, &root1, &flipped(&root2, byte));
    }
    for wrong in (1..=size2).filter(|&wrong| wrong != size1) {
        rejects(wrong, size2, &proof, &log.root_at(wrong).unwrap(), &root2);
    }
    for wrong in (size1..=log.size()).filter(|&wrong| wrong != size2) {
        rejects(size1, wrong, &proof, &root1, &log.root_at(wrong).unwrap());
    }
    rejects(size1, size2, &proof, &other.root_at(size1).unwrap(), &root2);
    rejects(size1, size2, &proof, &root1, &other.root_at(size2).unwrap());
    if size1 < size2 {
        assert_resized_proofs_fail(&proof, |tampered| {
            rejects(size1, size2, tampered, &root1, &root2)
        });
    }
}

/// Byte positions to flip in one hash: all of them, or one that moves with `salt`.
fn bytes_to_flip(exhaustive: bool, salt: usize) -> Vec<usize> {
    if exhaustive {
        (0..32).collect()
    } else {
        vec![(salt * 7 + 3) % 32]
    }
}

/// Calls `rejects` on the proof with a hash dropped or added at either end.
fn assert_resized_proofs_fail(proof: &[Hash], rejects: impl Fn(&[Hash])) {
    let extra = leaf_hash(b"extra");
    if let Some((_, tail)) = proof.split_first() {
        rejects(tail);
        rejects(&proof[..proof.len() - 1]);
        rejects(&[proof, &[proof[proof.len() - 1]]].concat());
    }
    rejects(&[proof, &[extra]].concat());
    rejects(&[&[extra][..], proof].concat());
}

#[test]
fn tampered_inclusion_proofs_are_rejected() {
    let log = log_of(&synthetic_leaves(REFERENCE_SIZE, 5));
    let mut other_leaves = synthetic_leaves(REFERENCE_SIZE, 5);
    other_leaves[0] = leaf_hash(b"forged");
    let other = log_of(&other_leaves);
    for size in 1..=REFERENCE_SIZE {
        for index in 0..size {
            assert_inclusion_tamper_fails(&log, &other, index, size);
        }
    }
}

#[test]
fn tampered_consistency_proofs_are_rejected() {
    let log = log_of(&synthetic_leaves(REFERENCE_SIZE, 6));
    let mut other_leaves = synthetic_leaves(REFERENCE_SIZE, 6);
    other_leaves[0] = leaf_hash(b"forged");
    let other = log_of(&other_leaves);
    for size2 in 1..=REFERENCE_SIZE {
        for size1 in 1..=size2 {
            assert_consistency_tamper_fails(&log, &other, size1, size2);
        }
    }
}

#[test]
fn truncate_then_extend_equals_a_fresh_log() {
    let leaves = synthetic_leaves(40, 7);
    let replacement = synthetic_leaves(40, 8);
    for keep in 0..=40 {
        let mut log = log_of(&leaves);
        log.truncate(keep);
        assert_eq!(log.size(), keep);
        assert_eq!(log.root(), reference::root(&leaves[..keep as usize]));
        log.extend(&replacement[keep as usize..]);
        let expected = [&leaves[..keep as usize], &replacement[keep as usize..]].concat();
        assert_eq!(log.root(), reference::root(&expected), "kept {keep}");
        assert_eq!(
            log.inclusion_proof(0, 40),
            Some(reference::path(0, &expected))
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_trees_prove_and_verify(
        size in 1u64..3000,
        index_seed: u64,
        size1_seed: u64,
        chunks in proptest::collection::vec(1usize..300, 1..20),
    ) {
        let leaves = synthetic_leaves(size, size);
        let mut log = MerkleLog::new();
        let mut rest = &leaves[..];
        for chunk in chunks.iter().cycle() {
            let (head, tail) = rest.split_at((*chunk).min(rest.len()));
            if head.len() == 1 { log.push(head[0]) } else { log.extend(head) }
            rest = tail;
            if rest.is_empty() { break; }
        }
        let index = index_seed % size;
        let size1 = 1 + size1_seed % size;
        let root = reference::root(&leaves);
        let root1 = reference::root(&leaves[..size1 as usize]);
        prop_assert_eq!(log.root(), root);
        prop_assert_eq!(log.root_at(size1), Some(root1));

        let path = log.inclusion_proof(index, size).unwrap();
        prop_assert_eq!(&path, &reference::path(index as usize, &leaves));
        prop_assert_eq!(verify_inclusion(&leaves[index as usize], index, size, &path, &root), Ok(()));

        let old_index = index % size1;
        let old_path = log.inclusion_proof(old_index, size1).unwrap();
        let leaf = &leaves[old_index as usize];
        prop_assert_eq!(verify_inclusion(leaf, old_index, size1, &old_path, &root1), Ok(()));

        let proof = log.consistency_proof(size1, size).unwrap();
        prop_assert_eq!(&proof, &reference::proof(size1 as usize, &leaves));
        prop_assert_eq!(verify_consistency(size1, size, &proof, &root1, &root), Ok(()));
        if let Some(first) = proof.first() {
            let mut tampered = proof.clone();
            tampered[0] = flipped(first, (index_seed % 32) as usize);
            prop_assert!(verify_consistency(size1, size, &tampered, &root1, &root).is_err());
        }
    }
}

/// What a server keeps instead of a `MerkleLog`: the leaves and the interior nodes its
/// frontier handed out (levels `STORED_NODE_LEVEL_MIN` and up); lower subtrees are
/// recomputed from their leaves.
#[derive(Default)]
struct StoredNodes {
    leaves: Vec<Hash>,
    nodes: BTreeMap<(u32, u64), Hash>,
}

/// A perfect subtree the store should hold but does not.
#[derive(Debug, PartialEq)]
struct Missing {
    level: u32,
    index: u64,
}

impl StoredNodes {
    fn perfect(&self, start: u64, width: u64) -> Result<Hash, Missing> {
        let level = width.trailing_zeros();
        if level < STORED_NODE_LEVEL_MIN {
            return Ok(perfect_root(
                &self.leaves[start as usize..(start + width) as usize],
            ));
        }
        let index = start >> level;
        let node = self.nodes.get(&(level, index)).copied();
        node.ok_or(Missing { level, index })
    }

    fn source(&self) -> impl FnMut(u64, u64) -> Result<Hash, Missing> + '_ {
        |start, width| self.perfect(start, width)
    }
}

/// Every perfect subtree of level `STORED_NODE_LEVEL_MIN` or above within `size` leaves,
/// in the order appends complete them: by the leaf that completes it, lower level first.
fn stored_subtrees(size: u64) -> Vec<(u32, u64)> {
    let mut subtrees: Vec<(u32, u64)> = (STORED_NODE_LEVEL_MIN..u64::BITS)
        .flat_map(|level| (0..size >> level).map(move |index| (level, index)))
        .collect();
    subtrees.sort_by_key(|&(level, index)| ((index + 1) << level, level));
    subtrees
}

#[test]
fn frontier_parts_need_one_peak_per_set_bit() {
    let leaves = synthetic_leaves(13, 3);
    let frontier = log_of(&leaves).frontier();
    assert_eq!(frontier.peaks().len(), 3, "13 = 8 + 4 + 1");
    let peaks = frontier.peaks().to_vec();
    assert_eq!(
        MerkleFrontier::from_parts(13, peaks.clone()),
        Some(frontier)
    );
    assert_eq!(MerkleFrontier::from_parts(12, peaks.clone()), None);
    assert_eq!(MerkleFrontier::from_parts(13, peaks[..2].to_vec()), None);
    assert_eq!(MerkleFrontier::new().root(), empty_root());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// A frontier fed in random chunks (and rebuilt from its parts after each) agrees with a
    /// `MerkleLog` of the same leaves: same frontier and root at every size, every stored
    /// subtree handed out once with the log's hash, and proofs built from those nodes plus
    /// the leaves equal to the log's.
    #[test]
    fn frontiers_agree_with_the_log(
        size in 1u64..3000,
        index_seed: u64,
        size1_seed: u64,
        chunks in proptest::collection::vec(1usize..600, 1..12),
    ) {
        let leaves = synthetic_leaves(size, size ^ 0x5eed);
        let mut log = MerkleLog::new();
        let mut frontier = MerkleFrontier::new();
        let mut completed: Vec<MerkleNode> = Vec::new();
        let mut rest = &leaves[..];
        for chunk in chunks.iter().cycle() {
            let (head, tail) = rest.split_at((*chunk).min(rest.len()));
            log.extend(head);
            frontier.extend(head, &mut completed);
            prop_assert_eq!(&frontier, &log.frontier());
            prop_assert_eq!(frontier.root(), log.root());
            let parts = MerkleFrontier::from_parts(frontier.size(), frontier.peaks().to_vec());
            frontier = parts.expect("a frontier's own parts");
            rest = tail;
            if rest.is_empty() { break; }
        }
        prop_assert_eq!(frontier.size(), size);

        let handed_out: Vec<(u32, u64)> =
            completed.iter().map(|node| (node.level, node.index)).collect();
        prop_assert_eq!(handed_out, stored_subtrees(size));
        for node in &completed {
            let start = (node.index << node.level) as usize;
            let subtree = &leaves[start..start + (1 << node.level)];
            prop_assert_eq!(node.hash, log_of(subtree).root(), "node {:?}", node);
        }

        let stored = StoredNodes {
            leaves: leaves.clone(),
            nodes: completed.iter().map(|node| ((node.level, node.index), node.hash)).collect(),
        };
        let index = index_seed % size;
        let size1 = 1 + size1_seed % size;
        for tree_size in [size1, size] {
            let root = root_from(&mut stored.source(), tree_size);
            prop_assert_eq!(root, Ok(log.root_at(tree_size).unwrap()));
            let leaf = index % tree_size;
            let path = inclusion_proof_from(&mut stored.source(), leaf, tree_size);
            prop_assert_eq!(path, log.inclusion_proof(leaf, tree_size).map(Ok));
        }
        let proof = consistency_proof_from(&mut stored.source(), size1, size);
        prop_assert_eq!(proof, log.consistency_proof(size1, size).map(Ok));
        prop_assert!(inclusion_proof_from(&mut stored.source(), size, size).is_none());
    }
}
