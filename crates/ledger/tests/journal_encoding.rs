//! The journal's canonical encodings, hashes and signed checkpoints.
//!
//! Encodings must be injective (decode is their inverse), laid out exactly as documented,
//! and every hashed or signed field must actually move the hash or break the signature.

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use ledger::block::{
    ACCOUNTS_TAG, accounts_digest, block_hash, transfer_leaf_hash, transfer_leaf_hashes,
};
use ledger::checkpoint::{
    CHECKPOINT_ENCODED_LEN, Checkpoint, CheckpointError, OperatorKey, verify_checkpoint,
};
use ledger::encoding::{
    ACCOUNT_ENCODED_LEN, HEADER_ENCODED_LEN, TRANSFER_ENCODED_LEN, decode_account, decode_header,
    decode_transfer, encode_account, encode_header, encode_transfer,
};
use ledger::merkle::leaf_hash;
use ledger::types::{
    Account, AccountFlags, AccountId, BlockHeader, Hash, Transfer, TransferFlags, TransferId,
};
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// RFC 8032 §7.1, TEST 1 (empty message).
const RFC8032_SECRET: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const RFC8032_SIGNATURE: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

fn sample_transfer() -> Transfer {
    Transfer {
        id: TransferId(1),
        debit_account_id: AccountId(2),
        credit_account_id: AccountId(3),
        amount: 4,
        pending_id: TransferId(5),
        user_data_128: 6,
        user_data_64: 7,
        user_data_32: 8,
        timeout: 9,
        ledger: 10,
        code: 11,
        flags: TransferFlags(12),
        timestamp: 13,
    }
}

fn sample_account() -> Account {
    Account {
        id: AccountId(21),
        debits_pending: 22,
        debits_posted: 23,
        credits_pending: 24,
        credits_posted: 25,
        user_data_128: 26,
        user_data_64: 27,
        user_data_32: 28,
        ledger: 29,
        code: 30,
        flags: AccountFlags(31),
        timestamp: 32,
    }
}

fn sample_header() -> BlockHeader {
    BlockHeader {
        height: 41,
        previous_hash: [42; 32],
        timestamp: 43,
        account_count: 44,
        transfer_count: 45,
        accounts_digest: [46; 32],
        tree_size: 47,
        merkle_root: [48; 32],
    }
}

fn sample_checkpoint() -> Checkpoint {
    Checkpoint {
        block_height: 51,
        block_hash: [52; 32],
        tree_size: 53,
        root: [54; 32],
        timestamp: 55,
    }
}

fn operator() -> OperatorKey {
    OperatorKey::from_seed([7; 32])
}

/// A domain tag as the encodings write it: length byte, then ASCII.
fn tag(text: &str) -> Vec<u8> {
    [&[text.len() as u8][..], text.as_bytes()].concat()
}

/// Each variant differs from the base value in exactly one field.
fn transfer_variants() -> Vec<Transfer> {
    let base = sample_transfer();
    let edits: [fn(&mut Transfer); 13] = [
        |t| t.id.0 ^= 1 << 127,
        |t| t.debit_account_id.0 += 1,
        |t| t.credit_account_id.0 += 1,
        |t| t.amount += 1,
        |t| t.pending_id.0 += 1,
        |t| t.user_data_128 += 1,
        |t| t.user_data_64 += 1,
        |t| t.user_data_32 += 1,
        |t| t.timeout += 1,
        |t| t.ledger += 1,
        |t| t.code += 1,
        |t| t.flags.0 += 1,
        |t| t.timestamp += 1,
    ];
    let mut variants = vec![base];
    for edit in edits {
        let mut variant = base;
        edit(&mut variant);
        variants.push(variant);
    }
    variants
}

/// Each variant differs from the base value in exactly one identity field.
fn account_variants() -> Vec<Account> {
    let base = sample_account();
    let edits: [fn(&mut Account); 8] = [
        |a| a.id.0 += 1,
        |a| a.user_data_128 += 1,
        |a| a.user_data_64 += 1,
        |a| a.user_data_32 += 1,
        |a| a.ledger += 1,
        |a| a.code += 1,
        |a| a.flags.0 += 1,
        |a| a.timestamp += 1,
    ];
    let mut variants = vec![base];
    for edit in edits {
        let mut variant = base;
        edit(&mut variant);
        variants.push(variant);
    }
    variants
}

/// Each variant differs from the base header in one field (hash fields: first or last byte).
fn header_variants() -> Vec<BlockHeader> {
    let base = sample_header();
    let edits: [fn(&mut BlockHeader); 11] = [
        |h| h.height += 1,
        |h| h.previous_hash[0] ^= 1,
        |h| h.previous_hash[31] ^= 1,
        |h| h.timestamp += 1,
        |h| h.account_count += 1,
        |h| h.transfer_count += 1,
        |h| h.accounts_digest[0] ^= 1,
        |h| h.accounts_digest[31] ^= 1,
        |h| h.tree_size += 1,
        |h| h.merkle_root[0] ^= 1,
        |h| h.merkle_root[31] ^= 1,
    ];
    let mut variants = vec![base];
    for edit in edits {
        let mut variant = base;
        edit(&mut variant);
        variants.push(variant);
    }
    variants
}

/// Each variant differs from the base checkpoint in one field.
fn checkpoint_variants() -> Vec<Checkpoint> {
    let base = sample_checkpoint();
    let edits: [fn(&mut Checkpoint); 7] = [
        |c| c.block_height += 1,
        |c| c.block_hash[0] ^= 1,
        |c| c.block_hash[31] ^= 1,
        |c| c.tree_size += 1,
        |c| c.root[0] ^= 1,
        |c| c.root[31] ^= 1,
        |c| c.timestamp += 1,
    ];
    edits
        .iter()
        .map(|edit| {
            let mut variant = base;
            edit(&mut variant);
            variant
        })
        .collect()
}

fn all_distinct<T: std::hash::Hash + Eq>(values: impl IntoIterator<Item = T>) -> bool {
    let mut seen = HashSet::new();
    values.into_iter().all(|value| seen.insert(value))
}

fn transfer_strategy() -> impl Strategy<Value = Transfer> {
    (
        (any::<u128>(), any::<u128>(), any::<u128>(), any::<u128>()),
        (any::<u128>(), any::<u128>(), any::<u64>(), any::<u32>()),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u16>(),
            any::<u16>(),
            any::<u64>(),
        ),
    )
        .prop_map(|(ids, data, rest)| Transfer {
            id: TransferId(ids.0),
            debit_account_id: AccountId(ids.1),
            credit_account_id: AccountId(ids.2),
            amount: ids.3,
            pending_id: TransferId(data.0),
            user_data_128: data.1,
            user_data_64: data.2,
            user_data_32: data.3,
            timeout: rest.0,
            ledger: rest.1,
            code: rest.2,
            flags: TransferFlags(rest.3),
            timestamp: rest.4,
        })
}

fn account_strategy() -> impl Strategy<Value = Account> {
    (
        (any::<u128>(), any::<u128>(), any::<u128>(), any::<u128>()),
        (any::<u128>(), any::<u128>(), any::<u64>(), any::<u32>()),
        (any::<u32>(), any::<u16>(), any::<u16>(), any::<u64>()),
    )
        .prop_map(|(balances, data, rest)| Account {
            id: AccountId(data.0),
            debits_pending: balances.0,
            debits_posted: balances.1,
            credits_pending: balances.2,
            credits_posted: balances.3,
            user_data_128: data.1,
            user_data_64: data.2,
            user_data_32: data.3,
            ledger: rest.0,
            code: rest.1,
            flags: AccountFlags(rest.2),
            timestamp: rest.3,
        })
}

fn without_balances(account: Account) -> Account {
    Account {
        debits_pending: 0,
        debits_posted: 0,
        credits_pending: 0,
        credits_posted: 0,
        ..account
    }
}

proptest! {
    #[test]
    fn headers_round_trip(
        numbers in any::<[u64; 3]>(),
        counts in any::<[u32; 2]>(),
        hashes in any::<[[u8; 32]; 3]>(),
    ) {
        let header = BlockHeader {
            height: numbers[0],
            previous_hash: hashes[0],
            timestamp: numbers[1],
            account_count: counts[0],
            transfer_count: counts[1],
            accounts_digest: hashes[1],
            tree_size: numbers[2],
            merkle_root: hashes[2],
        };
        let bytes = encode_header(&header);
        prop_assert_eq!(decode_header(&bytes), Some(header));
        prop_assert_eq!(decode_header(&bytes[1..]), None);
    }

    #[test]
    fn transfers_round_trip(transfer in transfer_strategy()) {
        let bytes = encode_transfer(&transfer);
        prop_assert_eq!(decode_transfer(&bytes), Some(transfer));
    }

    #[test]
    fn accounts_round_trip_without_balances(account in account_strategy()) {
        let bytes = encode_account(&account);
        prop_assert_eq!(decode_account(&bytes), Some(without_balances(account)));
        prop_assert_eq!(bytes, encode_account(&without_balances(account)));
    }

    #[test]
    fn different_transfers_encode_differently(a in transfer_strategy(), b in transfer_strategy()) {
        prop_assert_eq!(a == b, encode_transfer(&a) == encode_transfer(&b));
        prop_assert_eq!(a == b, transfer_leaf_hash(&a) == transfer_leaf_hash(&b));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Some(transfer) = decode_transfer(&bytes) {
            prop_assert_eq!(&encode_transfer(&transfer)[..], &bytes[..]);
        }
        if let Some(account) = decode_account(&bytes) {
            prop_assert_eq!(&encode_account(&account)[..], &bytes[..]);
        }
    }

    #[test]
    fn altered_encodings_decode_only_to_what_they_encode(
        transfer in transfer_strategy(),
        position in 0..TRANSFER_ENCODED_LEN,
        byte: u8,
    ) {
        let mut bytes = encode_transfer(&transfer);
        bytes[position] = byte;
        match decode_transfer(&bytes) {
            Some(decoded) => prop_assert_eq!(encode_transfer(&decoded), bytes),
            None => prop_assert!(position < 22, "only the tag can be refused"),
        }
    }
}

#[test]
fn transfer_layout_is_tag_then_big_endian_fields() {
    let t = sample_transfer();
    let expected = [
        tag("mileverse/transfer/v1"),
        t.id.0.to_be_bytes().to_vec(),
        t.debit_account_id.0.to_be_bytes().to_vec(),
        t.credit_account_id.0.to_be_bytes().to_vec(),
        t.amount.to_be_bytes().to_vec(),
        t.pending_id.0.to_be_bytes().to_vec(),
        t.user_data_128.to_be_bytes().to_vec(),
        t.user_data_64.to_be_bytes().to_vec(),
        t.user_data_32.to_be_bytes().to_vec(),
        t.timeout.to_be_bytes().to_vec(),
        t.ledger.to_be_bytes().to_vec(),
        t.code.to_be_bytes().to_vec(),
        t.flags.0.to_be_bytes().to_vec(),
        t.timestamp.to_be_bytes().to_vec(),
    ]
    .concat();
    assert_eq!(TRANSFER_ENCODED_LEN, 150);
    assert_eq!(encode_transfer(&t).to_vec(), expected);
}

#[test]
fn account_layout_is_tag_then_identity_fields() {
    let a = sample_account();
    let expected = [
        tag("mileverse/account/v1"),
        a.id.0.to_be_bytes().to_vec(),
        a.user_data_128.to_be_bytes().to_vec(),
        a.user_data_64.to_be_bytes().to_vec(),
        a.user_data_32.to_be_bytes().to_vec(),
        a.ledger.to_be_bytes().to_vec(),
        a.code.to_be_bytes().to_vec(),
        a.flags.0.to_be_bytes().to_vec(),
        a.timestamp.to_be_bytes().to_vec(),
    ]
    .concat();
    assert_eq!(ACCOUNT_ENCODED_LEN, 81);
    assert_eq!(encode_account(&a).to_vec(), expected);
}

#[test]
fn header_layout_is_tag_then_big_endian_fields() {
    let h = sample_header();
    let expected = [
        tag("mileverse/block/v1"),
        h.height.to_be_bytes().to_vec(),
        h.previous_hash.to_vec(),
        h.timestamp.to_be_bytes().to_vec(),
        h.account_count.to_be_bytes().to_vec(),
        h.transfer_count.to_be_bytes().to_vec(),
        h.accounts_digest.to_vec(),
        h.tree_size.to_be_bytes().to_vec(),
        h.merkle_root.to_vec(),
    ]
    .concat();
    assert_eq!(HEADER_ENCODED_LEN, 147);
    assert_eq!(encode_header(&h), expected);
    assert_eq!(block_hash(&h), <Hash>::from(Sha256::digest(&expected)));
}

#[test]
fn checkpoint_layout_is_tag_then_big_endian_fields() {
    let c = sample_checkpoint();
    let expected = [
        tag("mileverse/checkpoint/v1"),
        c.block_height.to_be_bytes().to_vec(),
        c.block_hash.to_vec(),
        c.tree_size.to_be_bytes().to_vec(),
        c.root.to_vec(),
        c.timestamp.to_be_bytes().to_vec(),
    ]
    .concat();
    assert_eq!(CHECKPOINT_ENCODED_LEN, 112);
    assert_eq!(c.signed_bytes(), expected);
}

#[test]
fn decoders_refuse_anything_but_their_own_encoding() {
    let transfer = encode_transfer(&sample_transfer());
    let account = encode_account(&sample_account());
    assert_eq!(decode_transfer(&transfer[..TRANSFER_ENCODED_LEN - 1]), None);
    assert_eq!(decode_transfer(&[&transfer[..], &[0]].concat()), None);
    assert_eq!(decode_account(&account[..ACCOUNT_ENCODED_LEN - 1]), None);
    assert_eq!(decode_account(&[&account[..], &[0]].concat()), None);
    assert_eq!(decode_transfer(&account), None);
    assert_eq!(decode_account(&transfer), None);
    assert_eq!(decode_transfer(&[]), None);
    for byte in 0..22 {
        let mut tampered = transfer;
        tampered[byte] ^= 0x20;
        assert_eq!(decode_transfer(&tampered), None, "tag byte {byte}");
    }
    for byte in 0..21 {
        let mut tampered = account;
        tampered[byte] ^= 0x20;
        assert_eq!(decode_account(&tampered), None, "tag byte {byte}");
    }
}

#[test]
fn every_transfer_field_changes_encoding_and_leaf() {
    let variants = transfer_variants();
    assert!(all_distinct(variants.iter().map(encode_transfer)));
    assert!(all_distinct(variants.iter().map(transfer_leaf_hash)));
}

#[test]
fn every_account_identity_field_changes_encoding_and_digest() {
    let variants = account_variants();
    assert!(all_distinct(variants.iter().map(encode_account)));
    let digests = variants
        .iter()
        .map(|a| accounts_digest(std::slice::from_ref(a)));
    assert!(all_distinct(digests));
}

#[test]
fn every_header_field_changes_the_block_hash() {
    let variants = header_variants();
    assert!(all_distinct(variants.iter().map(encode_header)));
    assert!(all_distinct(variants.iter().map(block_hash)));
}

#[test]
fn transfer_leaves_are_rfc_6962_leaves_of_the_encoding() {
    let transfers = transfer_variants();
    let first = &transfers[0];
    assert_eq!(
        transfer_leaf_hash(first),
        leaf_hash(&encode_transfer(first))
    );
    let mut prefixed = vec![0x00];
    prefixed.extend_from_slice(&encode_transfer(first));
    assert_eq!(
        transfer_leaf_hash(first),
        <Hash>::from(Sha256::digest(&prefixed))
    );

    let mut out = vec![[9; 32]];
    transfer_leaf_hashes(&transfers, &mut out);
    assert_eq!(out.len(), transfers.len() + 1);
    assert_eq!(out[0], [9; 32], "existing hashes are kept");
    for (hash, transfer) in out[1..].iter().zip(&transfers) {
        assert_eq!(*hash, transfer_leaf_hash(transfer));
    }
}

#[test]
fn accounts_digest_commits_to_count_order_and_identity_only() {
    let empty = [tag(ACCOUNTS_TAG), 0u64.to_be_bytes().to_vec()].concat();
    assert_eq!(accounts_digest(&[]), <Hash>::from(Sha256::digest(&empty)));

    let a = sample_account();
    let b = account_variants()[1];
    let one = [
        tag(ACCOUNTS_TAG),
        1u64.to_be_bytes().to_vec(),
        encode_account(&a).to_vec(),
    ];
    assert_eq!(
        accounts_digest(&[a]),
        <Hash>::from(Sha256::digest(one.concat()))
    );
    assert_ne!(accounts_digest(&[a, b]), accounts_digest(&[b, a]));
    assert_ne!(accounts_digest(&[a]), accounts_digest(&[a, a]));
    assert_eq!(
        accounts_digest(&[a]),
        accounts_digest(&[without_balances(a)])
    );
}

#[test]
fn checkpoint_of_block_takes_the_tree_head() {
    let header = sample_header();
    let hash = block_hash(&header);
    let checkpoint = Checkpoint::of_block(&header, &hash);
    let expected = Checkpoint {
        block_height: header.height,
        block_hash: hash,
        tree_size: header.tree_size,
        root: header.merkle_root,
        timestamp: header.timestamp,
    };
    assert_eq!(checkpoint, expected);
}

#[test]
fn signed_checkpoints_verify() {
    let key = operator();
    let checkpoint = sample_checkpoint();
    let signature = key.sign(&checkpoint);
    assert_eq!(
        signature,
        key.sign(&checkpoint),
        "Ed25519 signing is deterministic"
    );
    assert_eq!(
        verify_checkpoint(&key.public_key(), &checkpoint, &signature),
        Ok(())
    );

    let restored = OperatorKey::from_seed(key.seed());
    assert_eq!(restored.public_key(), key.public_key());
    assert_eq!(restored.sign(&checkpoint), signature);

    let public = VerifyingKey::from_bytes(&key.public_key()).unwrap();
    let parsed = ed25519_dalek::Signature::from_bytes(&signature);
    assert!(public.verify(&checkpoint.signed_bytes(), &parsed).is_ok());
    assert!(!format!("{key:?}").contains(&format!("{:?}", key.seed())));
}

#[test]
fn tampered_checkpoints_fail() {
    let key = operator();
    let checkpoint = sample_checkpoint();
    let signature = key.sign(&checkpoint);
    let public = key.public_key();
    for tampered in checkpoint_variants() {
        let result = verify_checkpoint(&public, &tampered, &signature);
        assert_eq!(result, Err(CheckpointError::BadSignature), "{tampered:?}");
    }
    for byte in 0..64 {
        let mut tampered = signature;
        tampered[byte] ^= 0x01;
        let result = verify_checkpoint(&public, &checkpoint, &tampered);
        assert_eq!(
            result,
            Err(CheckpointError::BadSignature),
            "signature byte {byte}"
        );
    }
}

#[test]
fn wrong_or_invalid_keys_fail() {
    let checkpoint = sample_checkpoint();
    let signature = operator().sign(&checkpoint);
    let other = OperatorKey::from_seed([8; 32]).public_key();
    let result = verify_checkpoint(&other, &checkpoint, &signature);
    assert_eq!(result, Err(CheckpointError::BadSignature));

    let mut off_curve = [0u8; 32];
    off_curve[0] = 2;
    let result = verify_checkpoint(&off_curve, &checkpoint, &signature);
    assert_eq!(result, Err(CheckpointError::BadPublicKey));

    let mut identity = [0u8; 32];
    identity[0] = 1;
    let result = verify_checkpoint(&identity, &checkpoint, &signature);
    assert_eq!(result, Err(CheckpointError::BadPublicKey));
}

#[test]
fn ed25519_matches_rfc_8032_test_1() {
    let seed: [u8; 32] = hex::decode(RFC8032_SECRET).unwrap().try_into().unwrap();
    let key = OperatorKey::from_seed(seed);
    assert_eq!(hex::encode(key.public_key()), RFC8032_PUBLIC);
    assert_eq!(key.seed(), seed);
    let signature = SigningKey::from_bytes(&key.seed()).sign(b"");
    assert_eq!(hex::encode(signature.to_bytes()), RFC8032_SIGNATURE);
}
