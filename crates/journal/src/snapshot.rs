//! Snapshots of the engine: what start loads instead of replaying the journal from its first
//! block.
//!
//! A snapshot is the engine's state after block `height` ([`ledger::engine::EngineState`]:
//! accounts, open pending transfers, the id filter, counters) and the Merkle frontier, bound
//! to that block's hash. Its header (height, block hash, SHA-256 of the encoded state) is
//! signed by the operator key, so a snapshot changed in the database, or one from another
//! chain, is refused at start like a bad block: the signature, the digest, the block it
//! names, the frontier against that block's root, and the state's own consistency
//! (`Engine::restore`) must all check out. `mileverse verify` replays from genesis and
//! compares the state it reaches at each snapshot's height with the snapshot's digest.
//!
//! The encoding is fixed-width big-endian, fields in a fixed order (no maps are iterated),
//! so one state always encodes to the same bytes.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use ledger::checkpoint::OperatorKey;
use ledger::encoding::{self, ACCOUNT_ENCODED_LEN, TRANSFER_ENCODED_LEN};
use ledger::engine::{AccountState, EngineState, PendingStatus, StoredTransfer};
use ledger::id_filter::IdFilter;
use ledger::merkle::MerkleFrontier;
use ledger::types::{Account, AccountFlags, Hash};
use sha2::{Digest, Sha256};
use store::SnapshotRecord;

const MAGIC: &[u8; 8] = b"MVSNAP01";
const SIGNING_TAG: &[u8] = b"mileverse/snapshot/v1";

/// What a snapshot holds, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub height: u64,
    pub block_hash: Hash,
    pub state: EngineState,
    /// The timestamp of the last committed transfer: an imported transfer must come after
    /// it, and the state alone does not say it.
    pub last_transfer_timestamp: u64,
    pub frontier: MerkleFrontier,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnapshotError {
    #[error("the snapshot's signature does not verify with the operator key")]
    BadSignature,
    #[error("the snapshot's state does not match its digest")]
    BadDigest,
    #[error("the snapshot cannot be decoded: {0}")]
    Malformed(&'static str),
}

/// Encodes, digests and signs a snapshot.
pub fn seal(snapshot: &Snapshot, key: &OperatorKey) -> SnapshotRecord {
    let state = encode(snapshot);
    let digest: Hash = Sha256::digest(&state).into();
    let signing = SigningKey::from_bytes(&key.seed());
    let message = signed_message(snapshot.height, &snapshot.block_hash, &digest);
    SnapshotRecord {
        height: snapshot.height,
        block_hash: snapshot.block_hash,
        digest,
        signature: signing.sign(&message).to_bytes(),
        state,
    }
}

/// Checks a stored snapshot's signature and digest, then decodes it. The caller checks it
/// against the chain (the block hash, the frontier's root) and restores the engine.
pub fn open(record: &SnapshotRecord, public_key: &[u8; 32]) -> Result<Snapshot, SnapshotError> {
    verify_header(record, public_key)?;
    let digest: Hash = Sha256::digest(&record.state).into();
    if digest != record.digest {
        return Err(SnapshotError::BadDigest);
    }
    let snapshot = decode(&record.state)?;
    if snapshot.height != record.height || snapshot.block_hash != record.block_hash {
        return Err(SnapshotError::Malformed("header and state disagree"));
    }
    Ok(snapshot)
}

/// Checks the operator's signature over a snapshot's header (height, block hash, digest).
pub fn verify_header(record: &SnapshotRecord, public_key: &[u8; 32]) -> Result<(), SnapshotError> {
    let key = VerifyingKey::from_bytes(public_key).map_err(|_| SnapshotError::BadSignature)?;
    let message = signed_message(record.height, &record.block_hash, &record.digest);
    let signature = ed25519_dalek::Signature::from_bytes(&record.signature);
    key.verify_strict(&message, &signature)
        .map_err(|_| SnapshotError::BadSignature)
}

/// The digest a snapshot of this state would carry (what `verify` compares).
pub fn digest(snapshot: &Snapshot) -> Hash {
    Sha256::digest(encode(snapshot)).into()
}

fn signed_message(height: u64, block_hash: &Hash, digest: &Hash) -> Vec<u8> {
    let mut message = Vec::with_capacity(8 + SIGNING_TAG.len() + 72);
    message.extend_from_slice(&(SIGNING_TAG.len() as u64).to_be_bytes());
    message.extend_from_slice(SIGNING_TAG);
    message.extend_from_slice(&height.to_be_bytes());
    message.extend_from_slice(block_hash);
    message.extend_from_slice(digest);
    message
}

/// Bytes per encoded account: the journal's canonical account encoding (with the flags it
/// was created with), then the four balances and the current flags.
const ACCOUNT_BYTES: usize = ACCOUNT_ENCODED_LEN + 4 * 16 + 2;
/// Bytes per open pending transfer: the journal's transfer encoding, then its leaf index.
const PENDING_BYTES: usize = TRANSFER_ENCODED_LEN + 8;

pub fn encode(snapshot: &Snapshot) -> Vec<u8> {
    let state = &snapshot.state;
    let filter = state.id_filter.words();
    let capacity = 128
        + snapshot.frontier.peaks().len() * 32
        + filter.len() * 8
        + state.accounts.len() * ACCOUNT_BYTES
        + state.open_pending.len() * PENDING_BYTES;
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&snapshot.height.to_be_bytes());
    out.extend_from_slice(&snapshot.block_hash);
    out.extend_from_slice(&state.transfer_count.to_be_bytes());
    out.extend_from_slice(&state.last_timestamp.to_be_bytes());
    out.extend_from_slice(&snapshot.last_transfer_timestamp.to_be_bytes());
    out.extend_from_slice(&snapshot.frontier.size().to_be_bytes());
    for peak in snapshot.frontier.peaks() {
        out.extend_from_slice(peak);
    }
    out.extend_from_slice(&state.id_filter.inserted().to_be_bytes());
    out.extend_from_slice(&(filter.len() as u64).to_be_bytes());
    for word in filter {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend_from_slice(&(state.accounts.len() as u64).to_be_bytes());
    for entry in &state.accounts {
        encode_account(&entry.account, entry.created_flags, &mut out);
    }
    out.extend_from_slice(&(state.open_pending.len() as u64).to_be_bytes());
    for stored in &state.open_pending {
        out.extend_from_slice(&encoding::encode_transfer(&stored.transfer));
        out.extend_from_slice(&stored.leaf_index.to_be_bytes());
    }
    out
}

fn encode_account(account: &Account, created_flags: AccountFlags, out: &mut Vec<u8>) {
    out.extend_from_slice(&encoding::encode_account(&Account {
        flags: created_flags,
        ..*account
    }));
    for balance in [
        account.debits_pending,
        account.debits_posted,
        account.credits_pending,
        account.credits_posted,
    ] {
        out.extend_from_slice(&balance.to_be_bytes());
    }
    out.extend_from_slice(&account.flags.bits().to_be_bytes());
}

/// A cursor over encoded bytes; every read fails cleanly past the end.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], SnapshotError> {
        if self.bytes.len() < len {
            return Err(SnapshotError::Malformed("truncated"));
        }
        let (head, tail) = self.bytes.split_at(len);
        self.bytes = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        Ok(self.take(N)?.try_into().expect("length taken"))
    }

    fn u128(&mut self) -> Result<u128, SnapshotError> {
        Ok(u128::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn u16(&mut self) -> Result<u16, SnapshotError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// A count of items of `item_bytes` each, refused if the rest cannot hold them.
    fn count(&mut self, item_bytes: usize) -> Result<usize, SnapshotError> {
        let count = usize::try_from(self.u64()?).map_err(|_| SnapshotError::Malformed("count"))?;
        if count.saturating_mul(item_bytes) > self.bytes.len() {
            return Err(SnapshotError::Malformed("count beyond the end"));
        }
        Ok(count)
    }
}

pub fn decode(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
    let mut reader = Reader { bytes };
    if reader.take(MAGIC.len())? != MAGIC {
        return Err(SnapshotError::Malformed("not a snapshot of this version"));
    }
    let height = reader.u64()?;
    let block_hash = reader.array()?;
    let transfer_count = reader.u64()?;
    let last_timestamp = reader.u64()?;
    let last_transfer_timestamp = reader.u64()?;
    let frontier_size = reader.u64()?;
    let peaks = (0..frontier_size.count_ones())
        .map(|_| reader.array())
        .collect::<Result<Vec<Hash>, _>>()?;
    let frontier = MerkleFrontier::from_parts(frontier_size, peaks).expect("one peak per bit");
    let inserted = reader.u64()?;
    let words = reader.count(8)?;
    let words = (0..words)
        .map(|_| reader.u64())
        .collect::<Result<Vec<_>, _>>()?;
    let id_filter =
        IdFilter::from_words(words, inserted).ok_or(SnapshotError::Malformed("filter size"))?;
    let accounts = reader.count(ACCOUNT_BYTES)?;
    let accounts = (0..accounts)
        .map(|_| decode_account(&mut reader))
        .collect::<Result<Vec<_>, _>>()?;
    let pending = reader.count(PENDING_BYTES)?;
    let open_pending = (0..pending)
        .map(|_| decode_pending(&mut reader))
        .collect::<Result<Vec<_>, _>>()?;
    if !reader.bytes.is_empty() {
        return Err(SnapshotError::Malformed("bytes after the end"));
    }
    let state = EngineState {
        accounts,
        open_pending,
        id_filter,
        transfer_count,
        last_timestamp,
    };
    Ok(Snapshot {
        height,
        block_hash,
        state,
        last_transfer_timestamp,
        frontier,
    })
}

fn decode_account(reader: &mut Reader<'_>) -> Result<AccountState, SnapshotError> {
    let created = encoding::decode_account(reader.take(ACCOUNT_ENCODED_LEN)?)
        .ok_or(SnapshotError::Malformed("account"))?;
    let account = Account {
        debits_pending: reader.u128()?,
        debits_posted: reader.u128()?,
        credits_pending: reader.u128()?,
        credits_posted: reader.u128()?,
        flags: AccountFlags(reader.u16()?),
        ..created
    };
    Ok(AccountState {
        account,
        created_flags: created.flags,
    })
}

fn decode_pending(reader: &mut Reader<'_>) -> Result<StoredTransfer, SnapshotError> {
    let transfer = encoding::decode_transfer(reader.take(TRANSFER_ENCODED_LEN)?)
        .ok_or(SnapshotError::Malformed("pending transfer"))?;
    Ok(StoredTransfer {
        transfer,
        status: Some(PendingStatus::Pending),
        leaf_index: reader.u64()?,
    })
}
