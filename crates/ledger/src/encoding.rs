//! Canonical byte encodings of everything the journal hashes or signs.
//!
//! A hash commits to bytes, not to values, so every value that is hashed needs exactly one
//! byte form, and two different kinds of value must never share one. Each encoding therefore
//! starts with a domain tag, written as one length byte followed by the tag's ASCII bytes
//! (for example `"mileverse/transfer/v1"`), and then every field in declaration order,
//! fixed-width and big-endian (`u128` as 16 bytes, `u64` as 8, hashes as their 32 bytes).
//! Nothing is joined with separators and nothing has a variable length, so an encoding can be
//! split back into its fields in only one way; [`decode_transfer`] and [`decode_account`]
//! are the inverses that prove it.
//!
//! Layouts (offsets in bytes):
//!
//! - transfer, [`TRANSFER_ENCODED_LEN`] = 150: tag `mileverse/transfer/v1` (22), `id` (16),
//!   `debit_account_id` (16), `credit_account_id` (16), `amount` (16), `pending_id` (16),
//!   `user_data_128` (16), `user_data_64` (8), `user_data_32` (4), `timeout` (4),
//!   `ledger` (4), `code` (2), `flags` (2), `timestamp` (8).
//! - account, [`ACCOUNT_ENCODED_LEN`] = 81: tag `mileverse/account/v1` (21), `id` (16),
//!   `user_data_128` (16), `user_data_64` (8), `user_data_32` (4), `ledger` (4), `code` (2),
//!   `flags` (2), `timestamp` (8). Balances are left out: an account is hashed once, when it
//!   is created, and its balances follow from the transfers in the log.
//! - block header, [`HEADER_ENCODED_LEN`] = 147: tag `mileverse/block/v1` (19), `height` (8),
//!   `previous_hash` (32), `timestamp` (8), `account_count` (4), `transfer_count` (4),
//!   `accounts_digest` (32), `tree_size` (8), `merkle_root` (32).

use crate::types::{
    Account, AccountFlags, AccountId, BlockHeader, Hash, Transfer, TransferFlags, TransferId,
};

/// Domain tag of a transfer encoding.
pub const TRANSFER_TAG: &str = "mileverse/transfer/v1";
/// Domain tag of an account encoding.
pub const ACCOUNT_TAG: &str = "mileverse/account/v1";
/// Domain tag of a block header encoding.
pub const HEADER_TAG: &str = "mileverse/block/v1";

/// Bytes taken by a domain tag: its length byte and its ASCII bytes.
pub const fn tagged_len(tag: &str) -> usize {
    assert!(
        tag.len() <= u8::MAX as usize,
        "a domain tag is at most 255 bytes"
    );
    1 + tag.len()
}

/// Length of [`encode_transfer`]'s output.
pub const TRANSFER_ENCODED_LEN: usize = tagged_len(TRANSFER_TAG) + 6 * 16 + 8 + 3 * 4 + 2 * 2 + 8;
/// Length of [`encode_account`]'s output.
pub const ACCOUNT_ENCODED_LEN: usize = tagged_len(ACCOUNT_TAG) + 2 * 16 + 8 + 2 * 4 + 2 * 2 + 8;
/// Length of [`encode_header`]'s output.
pub const HEADER_ENCODED_LEN: usize = tagged_len(HEADER_TAG) + 3 * 8 + 3 * 32 + 2 * 4;

/// Encodes a transfer: tag, then every field in declaration order.
pub fn encode_transfer(transfer: &Transfer) -> [u8; TRANSFER_ENCODED_LEN] {
    let mut bytes = [0u8; TRANSFER_ENCODED_LEN];
    let mut writer = Writer::new(&mut bytes);
    writer.tag(TRANSFER_TAG);
    writer.u128(transfer.id.0);
    writer.u128(transfer.debit_account_id.0);
    writer.u128(transfer.credit_account_id.0);
    writer.u128(transfer.amount);
    writer.u128(transfer.pending_id.0);
    writer.u128(transfer.user_data_128);
    writer.u64(transfer.user_data_64);
    writer.u32(transfer.user_data_32);
    writer.u32(transfer.timeout);
    writer.u32(transfer.ledger);
    writer.u16(transfer.code);
    writer.u16(transfer.flags.0);
    writer.u64(transfer.timestamp);
    writer.finish();
    bytes
}

/// Encodes an account's identity fields and creation timestamp (not its balances).
pub fn encode_account(account: &Account) -> [u8; ACCOUNT_ENCODED_LEN] {
    let mut bytes = [0u8; ACCOUNT_ENCODED_LEN];
    let mut writer = Writer::new(&mut bytes);
    writer.tag(ACCOUNT_TAG);
    writer.u128(account.id.0);
    writer.u128(account.user_data_128);
    writer.u64(account.user_data_64);
    writer.u32(account.user_data_32);
    writer.u32(account.ledger);
    writer.u16(account.code);
    writer.u16(account.flags.0);
    writer.u64(account.timestamp);
    writer.finish();
    bytes
}

/// Encodes a block header: tag, then every field in declaration order.
pub fn encode_header(header: &BlockHeader) -> Vec<u8> {
    let mut bytes = vec![0u8; HEADER_ENCODED_LEN];
    let mut writer = Writer::new(&mut bytes);
    writer.tag(HEADER_TAG);
    writer.u64(header.height);
    writer.hash(&header.previous_hash);
    writer.u64(header.timestamp);
    writer.u32(header.account_count);
    writer.u32(header.transfer_count);
    writer.hash(&header.accounts_digest);
    writer.u64(header.tree_size);
    writer.hash(&header.merkle_root);
    writer.finish();
    bytes
}

/// Decodes what [`encode_transfer`] wrote; `None` unless `bytes` is exactly such an encoding.
pub fn decode_transfer(bytes: &[u8]) -> Option<Transfer> {
    if bytes.len() != TRANSFER_ENCODED_LEN {
        return None;
    }
    let mut reader = Reader::new(bytes);
    reader.tag(TRANSFER_TAG)?;
    Some(Transfer {
        id: TransferId(reader.u128()?),
        debit_account_id: AccountId(reader.u128()?),
        credit_account_id: AccountId(reader.u128()?),
        amount: reader.u128()?,
        pending_id: TransferId(reader.u128()?),
        user_data_128: reader.u128()?,
        user_data_64: reader.u64()?,
        user_data_32: reader.u32()?,
        timeout: reader.u32()?,
        ledger: reader.u32()?,
        code: reader.u16()?,
        flags: TransferFlags(reader.u16()?),
        timestamp: reader.u64()?,
    })
}

/// Decodes what [`encode_account`] wrote; the balances come back as zero.
pub fn decode_account(bytes: &[u8]) -> Option<Account> {
    if bytes.len() != ACCOUNT_ENCODED_LEN {
        return None;
    }
    let mut reader = Reader::new(bytes);
    reader.tag(ACCOUNT_TAG)?;
    Some(Account {
        id: AccountId(reader.u128()?),
        user_data_128: reader.u128()?,
        user_data_64: reader.u64()?,
        user_data_32: reader.u32()?,
        ledger: reader.u32()?,
        code: reader.u16()?,
        flags: AccountFlags(reader.u16()?),
        timestamp: reader.u64()?,
        ..Account::default()
    })
}

/// Decodes what [`encode_header`] wrote; `None` unless `bytes` is exactly such an encoding.
pub fn decode_header(bytes: &[u8]) -> Option<BlockHeader> {
    if bytes.len() != HEADER_ENCODED_LEN {
        return None;
    }
    let mut reader = Reader::new(bytes);
    reader.tag(HEADER_TAG)?;
    Some(BlockHeader {
        height: reader.u64()?,
        previous_hash: reader.array()?,
        timestamp: reader.u64()?,
        account_count: reader.u32()?,
        transfer_count: reader.u32()?,
        accounts_digest: reader.array()?,
        tree_size: reader.u64()?,
        merkle_root: reader.array()?,
    })
}

/// Writes fields into a buffer of exactly the right size, front to back.
pub(crate) struct Writer<'a> {
    buffer: &'a mut [u8],
    position: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buffer: &'a mut [u8]) -> Self {
        Writer {
            buffer,
            position: 0,
        }
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        let end = self.position + bytes.len();
        self.buffer[self.position..end].copy_from_slice(bytes);
        self.position = end;
    }

    /// Writes a domain tag: its length as one byte, then its bytes.
    pub(crate) fn tag(&mut self, tag: &str) {
        debug_assert!(tag.is_ascii());
        self.bytes(&[tagged_len(tag) as u8 - 1]);
        self.bytes(tag.as_bytes());
    }

    pub(crate) fn u16(&mut self, value: u16) {
        self.bytes(&value.to_be_bytes());
    }

    pub(crate) fn u32(&mut self, value: u32) {
        self.bytes(&value.to_be_bytes());
    }

    pub(crate) fn u64(&mut self, value: u64) {
        self.bytes(&value.to_be_bytes());
    }

    pub(crate) fn u128(&mut self, value: u128) {
        self.bytes(&value.to_be_bytes());
    }

    pub(crate) fn hash(&mut self, hash: &Hash) {
        self.bytes(hash);
    }

    /// Checks that the layout filled the buffer exactly.
    pub(crate) fn finish(self) {
        debug_assert_eq!(self.position, self.buffer.len(), "encoding length mismatch");
    }
}

/// Reads fixed-width fields front to back; `None` once the input runs out.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.rest.split_first_chunk::<N>()?;
        self.rest = rest;
        Some(*head)
    }

    /// Consumes the domain tag, failing unless it is exactly `tag`.
    fn tag(&mut self, tag: &str) -> Option<()> {
        let [length] = self.array::<1>()?;
        let (head, rest) = self.rest.split_at_checked(usize::from(length))?;
        self.rest = rest;
        (head == tag.as_bytes()).then_some(())
    }

    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_be_bytes)
    }

    fn u128(&mut self) -> Option<u128> {
        self.array().map(u128::from_be_bytes)
    }
}
