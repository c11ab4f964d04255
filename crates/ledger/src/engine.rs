//! The double-entry state machine, with TigerBeetle's semantics (as of its 0.16 releases;
//! `docs/ledger.md` lists where it differs, and why).
//!
//! # Model
//!
//! The engine holds accounts (four balances each: debits/credits, pending/posted) and an
//! append-only list of transfers. Every transfer debits one account and credits another of
//! the same ledger by the same amount, so per ledger the sum of all debits always equals the
//! sum of all credits, for pending and for posted balances alike. The engine keeps running
//! per-ledger totals of the four balances and asserts that equality after every batch.
//! Amounts may be zero.
//!
//! Work happens in *blocks*: `begin_block(now)`, any number of `create_accounts` /
//! `create_transfers` batches, `end_block()`, which hands back what the block changed
//! ([`BlockEffects`]). The journal records those effects; [`Engine::replay_block`] feeds them
//! back through the same code path to rebuild (and so verify) the state.
//!
//! # Time
//!
//! The engine never reads a clock. A block starts at `max(now, last_timestamp + 1)`; every
//! event that succeeds takes the clock's current value as its timestamp and advances it by one.
//! Failed events (and the events of a linked chain that failed) take no timestamp, so replaying
//! only the committed events reproduces every timestamp exactly.
//!
//! Events flagged `imported` (a whole batch or none of it) carry their own past timestamp
//! instead, for migrating an existing ledger: between 1 and 2^63 - 1, before the clock, after
//! every transfer (and, for an account, after every account and every transfer), never an
//! account's; an imported transfer is younger than its accounts and has no timeout. They
//! leave the clock alone. Timestamps are thus unique across accounts and transfers, and
//! increase with commit order within each kind.
//!
//! # Two-phase transfers
//!
//! A `pending` transfer reserves its amount in `debits_pending` / `credits_pending`. It is
//! resolved at most once: posted (all or part of it; the rest is released), voided (all of it
//! released), or expired: at the start of each block every pending transfer whose
//! `expires_at = timestamp + timeout * 1e9` is at or before the block timestamp is released,
//! in `(expires_at, id)` order. A pending transfer that comes due during a block, before the
//! next sweep, already refuses to be posted or voided (`pending_transfer_expired`). A post's
//! amount `u128::MAX` means the whole pending amount (0 posts nothing); a void's 0 means it
//! too.
//!
//! `closing_debit` / `closing_credit` (pending only, usually of amount 0) close an account; a
//! closed account refuses every transfer except the void of a pending transfer. Voiding or
//! expiring the closing transfer reopens the account; a closing transfer can never be posted,
//! since its account is closed.
//!
//! # Linked chains
//!
//! Events flagged `linked` form a chain with the events after them up to the first one without
//! the flag; the chain succeeds or fails as a whole. While a chain is open every mutation of
//! existing state is recorded in an undo log, and appends (new accounts, new transfers, block
//! effects) are rolled back by truncating to the lengths saved when the chain opened. Events
//! outside chains are fully validated before anything changes, so they need no undo log.
//!
//! # Failed ids
//!
//! A transfer refused with a transient result ([`CreateTransferResult::is_transient`]: the
//! outcome depended on the state at the time) spends its id: a retry answers
//! `id_already_failed`, so retrying never turns a refusal into a movement. The failure
//! outlives a chain's rollback. Failed ids go into the id filter and the transfer cache like
//! committed ones, and into [`BlockEffects::failed`] for the store; they are not journaled.
//!
//! # Precedence
//!
//! Checks run in the order of the result enums' variants, which is TigerBeetle's precedence:
//! the batch-level checks (chain, imported, timestamp), the request's own flags and id, then
//! at once the duplicate-id check (`exists*`, `id_already_failed`), so that a retry answers
//! `exists` whatever the request or the ledger's state, then the remaining rules.
//!
//! # Determinism
//!
//! Hash maps only answer lookups by id; nothing that reaches the output iterates one. Output
//! order comes from vectors (commit order) and the ordered expiry index.
//!
//! # Choices where the rules leave room (TigerBeetle's behaviour unless said otherwise)
//!
//! - A void asking for more than the pending amount gets `exceeds_pending_transfer_amount`
//!   (that code precedes `pending_transfer_has_different_amount`); any other amount but 0 or
//!   the pending amount gets `pending_transfer_has_different_amount`.
//! - A post/void inherits user data from the pending transfer where the request leaves it zero.
//! - `exists` compares what the client would send: a balancing retry matches when its amount
//!   is at least the amount moved; a post/void retry matches with zero (inherited) fields and
//!   with `u128::MAX` (post) or 0 (void) when the whole amount was moved. Accounts are
//!   compared with the flags they were created with (not with `closed` as it is now: ours).
//! - `linked` is part of the stored flags, so a retry with different chaining differs.
//! - Expiry consumes no timestamp and adds no history entry (it is no transfer); the accounts
//!   it changes are listed in `touched` (ours).

use std::collections::BTreeSet;

use crate::id_filter::IdFilter;
use crate::transfer_cache::{Lookup, Slot, TransferCache};
use crate::types::{
    Account, AccountBalance, AccountFlags, AccountId, CreateAccountResult, CreateTransferResult,
    Transfer, TransferFlags, TransferId,
};

type AccountCode = CreateAccountResult;
type TransferCode = CreateTransferResult;

const NANOSECONDS_PER_SECOND: u64 = 1_000_000_000;

/// The largest timestamp an imported event may carry: 2^63 - 1, TigerBeetle's range (its
/// storage keeps the top bit for itself; ours stores timestamps as signed 64-bit integers).
pub const IMPORTED_TIMESTAMP_MAX: u64 = (1 << 63) - 1;

/// Returns `Err(code)` from the enclosing function when `condition` holds. Checks stay lazy
/// and in precedence order, without building arrays on the hot path.
macro_rules! refuse {
    ($condition:expr, $code:expr) => {
        if $condition {
            return Err($code);
        }
    };
}

/// Random hash seeds resist ids chosen to collide; they never reach the output, because no map
/// is iterated for anything observable.
type IdMap<Value> = foldhash::HashMap<u128, Value>;

/// A pending transfer's place in the expiry index: `(expires_at, id)`, the order of expiry.
type ExpiryKey = (u64, u128);

/// Default for [`EngineConfig::transfers_cached_max`]: 262,144 transfers, about 50 MiB.
pub const TRANSFERS_CACHED_MAX_DEFAULT: usize = 1 << 18;

/// Default for [`EngineConfig::id_filter_bytes`]: 32 MiB, about 1% false positives at
/// 25,000,000 transfer ids.
pub const ID_FILTER_BYTES_DEFAULT: usize = 32 << 20;

/// What the engine may hold in memory besides accounts and open pending transfers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Most transfers (and failed ids) kept in memory beyond the open pending ones, once the
    /// store has them.
    pub transfers_cached_max: usize,
    /// Size of the filter that spares new transfer ids a store lookup.
    pub id_filter_bytes: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            transfers_cached_max: TRANSFERS_CACHED_MAX_DEFAULT,
            id_filter_bytes: ID_FILTER_BYTES_DEFAULT,
        }
    }
}

/// A committed transfer as the store keeps it: with its pending status (for pending
/// transfers) and its place in the Merkle log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredTransfer {
    pub transfer: Transfer,
    pub status: Option<PendingStatus>,
    pub leaf_index: u64,
}

/// What one block changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockEffects {
    /// The block's start clock.
    pub timestamp: u64,
    /// Accounts created in the block, in order, as stored (timestamp set, zero balances).
    pub accounts: Vec<Account>,
    /// Transfers committed, in commit order, as stored: timestamp set, the fields of a
    /// post/void filled in from its pending transfer, amounts as actually moved.
    pub transfers: Vec<Transfer>,
    /// Transfers refused with a transient result, in the order they failed: their ids can
    /// never be used again. Not part of the journal (nothing moved); the store keeps them
    /// with the block, and recovery hands them back ([`Engine::replay_block_with_failed`]).
    pub failed: Vec<FailedTransfer>,
    /// Pending transfers expired at block start, in `(expires_at, id)` order.
    pub expired: Vec<TransferId>,
    /// Accounts created, and accounts that a committed transfer or an expiry involved (their
    /// balances or flags may have changed), in first-touch order.
    pub touched: Vec<AccountId>,
    /// Balances after each committed transfer, for accounts with the `history` flag.
    pub history: Vec<AccountBalance>,
}

/// A transfer refused with a transient result (see
/// [`CreateTransferResult::is_transient`]): TigerBeetle's orphaned id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailedTransfer {
    pub id: TransferId,
    pub result: CreateTransferResult,
}

/// Where a pending transfer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PendingStatus {
    Pending,
    Posted,
    Voided,
    Expired,
}

/// Why a recorded block could not be replayed. After one, the engine's state no longer matches
/// the journal and should be discarded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReplayError {
    #[error("block timestamp {expected} cannot be reproduced: the engine would start at {got}")]
    TimestampMismatch { expected: u64, got: u64 },
    #[error("recorded account {index} was rejected on replay: {result}")]
    AccountRejected {
        index: usize,
        result: CreateAccountResult,
    },
    #[error("recorded transfer {index} was rejected on replay: {result}")]
    TransferRejected {
        index: usize,
        result: CreateTransferResult,
    },
    #[error("recorded account {index} differs from the one replay produced")]
    AccountDiffers { index: usize },
    #[error("recorded transfer {index} differs from the one replay produced")]
    TransferDiffers { index: usize },
    #[error("recorded failure {index} is no transient failure of an unused transfer id")]
    FailureRejected { index: usize },
}

/// The mutable part of an account: what transfers change and the undo log restores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Balances {
    debits_pending: u128,
    debits_posted: u128,
    credits_pending: u128,
    credits_posted: u128,
    flags: AccountFlags,
}

impl Balances {
    fn of(account: &Account) -> Balances {
        Balances {
            debits_pending: account.debits_pending,
            debits_posted: account.debits_posted,
            credits_pending: account.credits_pending,
            credits_posted: account.credits_posted,
            flags: account.flags,
        }
    }

    fn store(self, account: &mut Account) {
        account.debits_pending = self.debits_pending;
        account.debits_posted = self.debits_posted;
        account.credits_pending = self.credits_pending;
        account.credits_posted = self.credits_posted;
        account.flags = self.flags;
    }
}

/// Running sums of the four balances over all accounts of one ledger.
///
/// Wrapping arithmetic: the sum over many accounts may exceed `u128` although no single
/// balance does; equality modulo 2^128 still catches any one-sided change.
#[derive(Clone, Copy, Debug, Default)]
struct LedgerTotals {
    ledger: u32,
    debits_pending: u128,
    debits_posted: u128,
    credits_pending: u128,
    credits_posted: u128,
}

impl LedgerTotals {
    fn replace(&mut self, old: &Balances, new: &Balances) {
        let update = |total: u128, old: u128, new: u128| total.wrapping_sub(old).wrapping_add(new);
        self.debits_pending = update(self.debits_pending, old.debits_pending, new.debits_pending);
        self.debits_posted = update(self.debits_posted, old.debits_posted, new.debits_posted);
        self.credits_pending = update(
            self.credits_pending,
            old.credits_pending,
            new.credits_pending,
        );
        self.credits_posted = update(self.credits_posted, old.credits_posted, new.credits_posted);
    }

    fn is_balanced(&self) -> bool {
        self.debits_pending == self.credits_pending && self.debits_posted == self.credits_posted
    }
}

struct AccountSlot {
    account: Account,
    /// The flags as created: `closed` changes over the account's life, yet a retried
    /// `create_accounts` must still answer `exists`.
    created_flags: AccountFlags,
    /// Position of the account's ledger in `Engine::ledgers` (u32 keeps the slot small).
    ledger: u32,
    /// Number of the block in which the account was last added to `BlockEffects::touched`.
    touched_in_block: u64,
}

/// What a post or void moves, when, and between which accounts (their positions).
#[derive(Clone, Copy)]
struct Resolution {
    amount: u128,
    timestamp: u64,
    accounts: [usize; 2],
}

/// One change to existing state made inside a linked chain, with what to restore.
enum Undo {
    Balances {
        account: usize,
        previous: Balances,
    },
    /// A pending transfer was resolved; `block` is its slot's block before.
    Resolved {
        id: u128,
        block: u64,
    },
    ExpiryAdded(ExpiryKey),
    ExpiryRemoved(ExpiryKey),
}

/// Lengths of the append-only collections and the clock when a linked chain opened.
/// (`BlockEffects::failed` is left out on purpose: a failure outlives its chain.)
#[derive(Clone, Copy)]
struct Checkpoint {
    clock: u64,
    last_timestamp: u64,
    last_transfer_timestamp: u64,
    accounts: usize,
    transfers: u64,
    queue: usize,
    created: usize,
    committed: usize,
    touched: usize,
    history: usize,
}

/// What the batch loop reads of an event, for both kinds of batch.
trait BatchEvent {
    fn id(&self) -> u128;
    fn linked(&self) -> bool;
    fn imported(&self) -> bool;
    fn timestamp(&self) -> u64;
}

impl BatchEvent for Account {
    fn id(&self) -> u128 {
        self.id.0
    }
    fn linked(&self) -> bool {
        self.flags.contains(AccountFlags::LINKED)
    }
    fn imported(&self) -> bool {
        self.flags.contains(AccountFlags::IMPORTED)
    }
    fn timestamp(&self) -> u64 {
        self.timestamp
    }
}

impl BatchEvent for Transfer {
    fn id(&self) -> u128 {
        self.id.0
    }
    fn linked(&self) -> bool {
        self.flags.contains(TransferFlags::LINKED)
    }
    fn imported(&self) -> bool {
        self.flags.contains(TransferFlags::IMPORTED)
    }
    fn timestamp(&self) -> u64 {
        self.timestamp
    }
}

/// Result codes the batch loop itself produces, for both kinds of batch.
trait BatchResult: Copy + Eq {
    const OK: Self;
    const LINKED_EVENT_FAILED: Self;
    const LINKED_EVENT_CHAIN_OPEN: Self;
    const IMPORTED_EVENT_EXPECTED: Self;
    const IMPORTED_EVENT_NOT_EXPECTED: Self;
    const TIMESTAMP_MUST_BE_ZERO: Self;
    const IMPORTED_EVENT_TIMESTAMP_OUT_OF_RANGE: Self;
    const IMPORTED_EVENT_TIMESTAMP_MUST_NOT_ADVANCE: Self;

    /// The result as a transfer's transient failure, if it is one.
    fn transient_failure(self) -> Option<CreateTransferResult>;
}

impl BatchResult for CreateAccountResult {
    const OK: Self = AccountCode::Ok;
    const LINKED_EVENT_FAILED: Self = AccountCode::LinkedEventFailed;
    const LINKED_EVENT_CHAIN_OPEN: Self = AccountCode::LinkedEventChainOpen;
    const IMPORTED_EVENT_EXPECTED: Self = AccountCode::ImportedEventExpected;
    const IMPORTED_EVENT_NOT_EXPECTED: Self = AccountCode::ImportedEventNotExpected;
    const TIMESTAMP_MUST_BE_ZERO: Self = AccountCode::TimestampMustBeZero;
    const IMPORTED_EVENT_TIMESTAMP_OUT_OF_RANGE: Self =
        AccountCode::ImportedEventTimestampOutOfRange;
    const IMPORTED_EVENT_TIMESTAMP_MUST_NOT_ADVANCE: Self =
        AccountCode::ImportedEventTimestampMustNotAdvance;

    /// Account results depend on the request alone (TigerBeetle: none is transient).
    fn transient_failure(self) -> Option<CreateTransferResult> {
        None
    }
}

impl BatchResult for CreateTransferResult {
    const OK: Self = TransferCode::Ok;
    const LINKED_EVENT_FAILED: Self = TransferCode::LinkedEventFailed;
    const LINKED_EVENT_CHAIN_OPEN: Self = TransferCode::LinkedEventChainOpen;
    const IMPORTED_EVENT_EXPECTED: Self = TransferCode::ImportedEventExpected;
    const IMPORTED_EVENT_NOT_EXPECTED: Self = TransferCode::ImportedEventNotExpected;
    const TIMESTAMP_MUST_BE_ZERO: Self = TransferCode::TimestampMustBeZero;
    const IMPORTED_EVENT_TIMESTAMP_OUT_OF_RANGE: Self =
        TransferCode::ImportedEventTimestampOutOfRange;
    const IMPORTED_EVENT_TIMESTAMP_MUST_NOT_ADVANCE: Self =
        TransferCode::ImportedEventTimestampMustNotAdvance;

    fn transient_failure(self) -> Option<CreateTransferResult> {
        self.is_transient().then_some(self)
    }
}

/// The ledger state machine. See the module documentation.
pub struct Engine {
    accounts: Vec<AccountSlot>,
    account_positions: IdMap<usize>,
    /// Open pending transfers and a bounded cache of others (see `transfer_cache`).
    transfers: TransferCache,
    /// Transfers committed so far: the next transfer's leaf index in the Merkle log.
    transfer_count: u64,
    /// Unresolved pending transfers that have a timeout.
    expiry: BTreeSet<ExpiryKey>,
    ledgers: Vec<LedgerTotals>,
    ledger_positions: foldhash::HashMap<u32, u32>,
    /// Open linked chain, if any; the undo log is recorded only while there is one.
    chain: Option<Checkpoint>,
    undo: Vec<Undo>,
    effects: BlockEffects,
    block_open: bool,
    /// Counts blocks from 1, so that 0 in `AccountSlot::touched_in_block` means "not yet".
    block_number: u64,
    /// Timestamp the next successful event takes.
    clock: u64,
    /// Largest timestamp used so far: the last event's or the current block's. Imported
    /// events lie before the clock, so they never raise it.
    last_timestamp: u64,
    /// Timestamp of the last committed transfer (0 before the first): transfer timestamps
    /// increase with commit order, imported ones included.
    last_transfer_timestamp: u64,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Engine")
            .field("accounts", &self.accounts.len())
            .field("transfers", &self.transfer_count)
            .field("block_open", &self.block_open)
            .field("last_timestamp", &self.last_timestamp)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with the default [`EngineConfig`].
    pub fn new() -> Engine {
        Engine::with_config(EngineConfig::default())
    }

    pub fn with_config(config: EngineConfig) -> Engine {
        let filter = IdFilter::new(config.id_filter_bytes);
        Engine {
            accounts: Vec::new(),
            account_positions: IdMap::default(),
            transfers: TransferCache::new(config.transfers_cached_max, filter),
            transfer_count: 0,
            expiry: BTreeSet::new(),
            ledgers: Vec::new(),
            ledger_positions: foldhash::HashMap::default(),
            chain: None,
            undo: Vec::new(),
            effects: BlockEffects::default(),
            block_open: false,
            block_number: 0,
            clock: 0,
            last_timestamp: 0,
            last_transfer_timestamp: 0,
        }
    }

    /// Starts a block: the clock becomes `max(now_ns, last_timestamp + 1)`, then every pending
    /// transfer with `expires_at <= clock` expires. Returns the block timestamp.
    ///
    /// # Panics
    ///
    /// If a block is already open, or if the clock would pass `u64::MAX` (year 2554): both are
    /// bugs in the caller, which owns the clock.
    pub fn begin_block(&mut self, now_ns: u64) -> u64 {
        assert!(!self.block_open, "begin_block: a block is already open");
        let timestamp = self.next_block_timestamp(now_ns);
        self.block_open = true;
        self.block_number += 1;
        self.clock = timestamp;
        self.last_timestamp = timestamp;
        self.effects = BlockEffects {
            timestamp,
            ..BlockEffects::default()
        };
        self.expire_due();
        self.assert_ledgers_balanced();
        timestamp
    }

    /// Creates accounts; one result per input, in order. Must be called inside a block.
    pub fn create_accounts(&mut self, accounts: &[Account]) -> Vec<CreateAccountResult> {
        self.accounts.reserve(accounts.len());
        self.execute_batch(accounts, Self::create_account)
    }

    /// Creates transfers; one result per input, in order. Must be called inside a block.
    pub fn create_transfers(&mut self, transfers: &[Transfer]) -> Vec<CreateTransferResult> {
        self.effects.transfers.reserve(transfers.len());
        self.execute_batch(transfers, Self::create_transfer)
    }

    /// Closes the block and returns what it changed.
    ///
    /// Panics if no block is open (a bug in the caller).
    pub fn end_block(&mut self) -> BlockEffects {
        assert!(self.block_open, "end_block: no block is open");
        debug_assert!(self.chain.is_none());
        self.block_open = false;
        self.assert_ledgers_balanced();
        let failed = self.effects.failed.iter().map(|failure| failure.id.0);
        self.transfers.end_block(&self.effects.transfers, failed);
        std::mem::take(&mut self.effects)
    }

    /// Appends to `keys` the ids that `transfers` may look up and that only the store can
    /// answer (not in memory, and maybe committed or failed: the id filter could not rule
    /// them out). The caller reads them from the store and hands what it found to
    /// [`Engine::prefetched`] and [`Engine::prefetched_failed`] before executing the
    /// transfers in the current block. Empty while memory holds every committed transfer and
    /// every failed id.
    pub fn prefetch_keys(&self, transfers: &[Transfer], keys: &mut Vec<TransferId>) {
        self.transfers.prefetch_keys(transfers, keys);
    }

    /// The store's answer to [`Engine::prefetch_keys`]: `found` holds the transfers that
    /// exist among `asked`. Valid until the block ends.
    pub fn prefetched(&mut self, asked: &[TransferId], found: &[StoredTransfer]) {
        self.transfers.prefetched(asked, found, self.transfer_count);
    }

    /// The rest of the store's answer to [`Engine::prefetch_keys`]: `failed` holds the ids
    /// among those asked that the store recorded as failed (see [`BlockEffects::failed`]).
    /// Without it, a retry of a failure the cache has let go would run again.
    pub fn prefetched_failed(&mut self, failed: &[TransferId]) {
        self.transfers.prefetched_failed(failed);
    }

    /// Frees cached transfers and failed ids beyond [`EngineConfig::transfers_cached_max`]
    /// whose last change is durable: made in engine block `durable_block` (see
    /// [`Engine::block_number`]) or before. Called between blocks, before
    /// [`Engine::prefetch_keys`]: what the store answered for the coming block stays, but an
    /// id that was in memory when the keys were taken was not asked for, and looking it up
    /// after it is freed panics.
    pub fn evict(&mut self, durable_block: u64) {
        assert!(!self.block_open, "evict: a block is open");
        self.transfers.evict(durable_block);
    }

    /// The number of the last block begun (from 1; 0 before the first).
    pub fn block_number(&self) -> u64 {
        self.block_number
    }

    /// Open pending transfers (in memory by design).
    pub fn open_pending_count(&self) -> usize {
        self.transfers.open_count()
    }

    /// Transfers cached in memory beyond the open pending ones, and failed ids.
    pub fn cached_transfer_count(&self) -> usize {
        self.transfers.recent_count()
    }

    pub fn account(&self, id: AccountId) -> Option<&Account> {
        let position = *self.account_positions.get(&id.0)?;
        Some(&self.accounts[position].account)
    }

    /// A transfer held in memory: open pending, or cached. Older transfers are in the store.
    pub fn transfer(&self, id: TransferId) -> Option<&Transfer> {
        Some(&self.transfers.in_memory(id.0)?.transfer)
    }

    /// A transfer held in memory, with its status and leaf index (see [`Engine::transfer`]).
    pub fn stored_transfer(&self, id: TransferId) -> Option<StoredTransfer> {
        Some(self.transfers.in_memory(id.0)?.stored())
    }

    /// The status of a pending transfer held in memory; `None` for ids not in memory and for
    /// transfers that are not pending. A pending transfer that came due during the current
    /// block stays `Pending` until the next block's sweep expires it (it already refuses post
    /// and void).
    pub fn pending_status(&self, id: TransferId) -> Option<PendingStatus> {
        self.transfers.in_memory(id.0)?.status
    }

    /// Every open pending transfer, in no particular order (for snapshots).
    pub fn open_pending(&self) -> Vec<StoredTransfer> {
        self.transfers.open_pending().map(Slot::stored).collect()
    }

    /// The id filter (for snapshots).
    pub fn id_filter(&self) -> &IdFilter {
        self.transfers.filter()
    }

    pub fn transfer_count(&self) -> u64 {
        self.transfer_count
    }

    pub fn account_count(&self) -> u64 {
        self.accounts.len() as u64
    }

    /// The largest timestamp used so far: the last committed event's or the last block's.
    pub fn last_timestamp(&self) -> u64 {
        self.last_timestamp
    }

    /// The timestamp of the last committed transfer (0 before the first). An imported
    /// transfer must come after it; a snapshot keeps it beside [`EngineState`] (see
    /// [`Engine::restore_with_last_transfer_timestamp`]).
    pub fn last_transfer_timestamp(&self) -> u64 {
        self.last_transfer_timestamp
    }

    /// Replays a recorded block through the same code path as live traffic and checks that it
    /// produces exactly the recorded records. The same as
    /// [`Engine::replay_block_with_failed`] with no failures.
    pub fn replay_block(
        &mut self,
        timestamp: u64,
        accounts: &[Account],
        transfers: &[Transfer],
    ) -> Result<BlockEffects, ReplayError> {
        self.replay_block_with_failed(timestamp, accounts, transfers, &[])
    }

    /// Replays a recorded block, then remembers the ids that failed in it (the block's
    /// [`BlockEffects::failed`], as the store kept them), as the live engine did.
    ///
    /// Accounts and transfers are interleaved as they were committed (see
    /// `replay_events`), so a block whose account and transfer batches were interleaved
    /// replays faithfully. The failures come last: no committed event of a block names a
    /// transfer id that failed in it (its own id or its `pending_id`), so their place among
    /// the events changes nothing. On error the block is closed and the engine should be
    /// discarded.
    pub fn replay_block_with_failed(
        &mut self,
        timestamp: u64,
        accounts: &[Account],
        transfers: &[Transfer],
        failed: &[FailedTransfer],
    ) -> Result<BlockEffects, ReplayError> {
        assert!(!self.block_open, "replay_block: a block is already open");
        let got = self.next_block_timestamp(timestamp);
        if got != timestamp {
            return Err(ReplayError::TimestampMismatch {
                expected: timestamp,
                got,
            });
        }
        self.begin_block(timestamp);
        let replayed = self
            .replay_events(accounts, transfers)
            .and_then(|()| self.replay_failures(failed));
        let effects = self.end_block();
        replayed.map(|()| effects)
    }
}

/// An account as a snapshot keeps it: current balances and flags, and the flags it was
/// created with (a retried `create_accounts` is compared with those).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountState {
    pub account: Account,
    pub created_flags: AccountFlags,
}

/// Everything the engine needs to go on from the end of a block, without its history:
/// what a snapshot stores (with [`Engine::last_transfer_timestamp`] beside it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineState {
    /// Every account, in creation order (which is timestamp order).
    pub accounts: Vec<AccountState>,
    /// Open pending transfers, in leaf order.
    pub open_pending: Vec<StoredTransfer>,
    /// Every committed transfer id and every failed id: its count is at least
    /// `transfer_count`.
    pub id_filter: IdFilter,
    pub transfer_count: u64,
    pub last_timestamp: u64,
}

/// Why an [`EngineState`] cannot be the state of any ledger.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RestoreError {
    #[error("account {0} appears twice")]
    DuplicateAccount(u128),
    #[error("account {0} breaks its balance limits")]
    AccountGuard(u128),
    #[error("ledger {0} is out of balance")]
    Unbalanced(u32),
    #[error("pending transfer {0} is not an open pending transfer of known accounts")]
    BadPending(u128),
    #[error("account {0}: pending balances differ from the open pending transfers")]
    PendingMismatch(u128),
    #[error("a timestamp or leaf index lies beyond the state's own clock or log size")]
    BeyondState,
    #[error("pending transfer {0} is missing from the id filter")]
    NotInFilter(u128),
    #[error("account {0} is not younger than the account before it")]
    AccountOutOfOrder(u128),
}

impl Engine {
    /// A copy of the state at the end of the last block (no block may be open).
    pub fn state(&self) -> EngineState {
        assert!(!self.block_open, "state: a block is open");
        let accounts = self
            .accounts
            .iter()
            .map(|slot| AccountState {
                account: slot.account,
                created_flags: slot.created_flags,
            })
            .collect();
        let mut open_pending = self.open_pending();
        open_pending.sort_unstable_by_key(|stored| stored.leaf_index);
        EngineState {
            accounts,
            open_pending,
            id_filter: self.transfers.filter().clone(),
            transfer_count: self.transfer_count,
            last_timestamp: self.last_timestamp,
        }
    }

    /// [`Engine::restore_with_last_transfer_timestamp`] without the last transfer's
    /// timestamp, for snapshots that do not keep it: the state's `last_timestamp` stands in
    /// for it. That bound is never below the true one, so no imported transfer is accepted
    /// that should not be; but imported transfers dated between the two are refused
    /// (`imported_event_timestamp_must_not_regress`), also when replaying blocks after the
    /// snapshot.
    pub fn restore(config: EngineConfig, state: EngineState) -> Result<Engine, RestoreError> {
        let last_transfer_timestamp = state.last_timestamp;
        Engine::restore_with_last_transfer_timestamp(config, state, last_transfer_timestamp)
    }

    /// An engine that goes on from `state` and [`Engine::last_transfer_timestamp`], after
    /// checking that they could be a ledger's: unique accounts within their limits, created
    /// in timestamp order, balanced ledgers, open pending transfers that could have been
    /// committed (once each, in leaf order, between accounts of their ledger, known to the id
    /// filter, not after the last transfer), and pending balances that are exactly theirs.
    pub fn restore_with_last_transfer_timestamp(
        config: EngineConfig,
        state: EngineState,
        last_transfer_timestamp: u64,
    ) -> Result<Engine, RestoreError> {
        // The filter holds every committed id, and the ids that failed: at least the log.
        let beyond = last_transfer_timestamp > state.last_timestamp;
        if state.id_filter.inserted() < state.transfer_count || beyond {
            return Err(RestoreError::BeyondState);
        }
        let mut engine = Engine::with_config(EngineConfig {
            id_filter_bytes: 0,
            ..config
        });
        engine.transfers = TransferCache::new(config.transfers_cached_max, state.id_filter);
        engine.transfer_count = state.transfer_count;
        engine.last_timestamp = state.last_timestamp;
        engine.last_transfer_timestamp = last_transfer_timestamp;
        let reserved = engine.restore_pending(&state.open_pending)?;
        for entry in &state.accounts {
            engine.restore_account(entry, &reserved)?;
        }
        // In state order, not the map's, so that the same state always names the same id.
        for stored in &state.open_pending {
            engine.check_pending_accounts(&stored.transfer)?;
        }
        if let Some(totals) = engine.ledgers.iter().find(|totals| !totals.is_balanced()) {
            return Err(RestoreError::Unbalanced(totals.ledger));
        }
        let open = state
            .open_pending
            .iter()
            .map(|stored| Slot::new(stored.transfer, stored.status, stored.leaf_index, 0));
        engine.transfers.restore(open.collect());
        Ok(engine)
    }

    /// Checks each open pending transfer on its own, indexes its expiry, and sums what they
    /// reserve per account: `(debits_pending, credits_pending)`.
    fn restore_pending(
        &mut self,
        open_pending: &[StoredTransfer],
    ) -> Result<IdMap<(u128, u128)>, RestoreError> {
        let mut reserved: IdMap<(u128, u128)> = IdMap::default();
        let mut seen: foldhash::HashSet<u128> = foldhash::HashSet::default();
        let mut previous_leaf = None;
        for stored in open_pending {
            let transfer = &stored.transfer;
            let id = transfer.id.0;
            // Each transfer once, at its own leaf: a second copy would reserve twice.
            let in_order = previous_leaf.is_none_or(|previous| stored.leaf_index > previous);
            if !is_open_pending_record(stored) || !in_order || !seen.insert(id) {
                return Err(RestoreError::BadPending(id));
            }
            previous_leaf = Some(stored.leaf_index);
            let late = transfer.timestamp > self.last_transfer_timestamp;
            if stored.leaf_index >= self.transfer_count || late {
                return Err(RestoreError::BeyondState);
            }
            // Otherwise, once resolved and evicted, a retry of its id would look new.
            if !self.transfers.filter().may_contain(id) {
                return Err(RestoreError::NotInFilter(id));
            }
            self.reserve(transfer, &mut reserved)?;
        }
        Ok(reserved)
    }

    /// Adds a pending transfer's amount to what its accounts have reserved, and its expiry
    /// to the index.
    fn reserve(
        &mut self,
        transfer: &Transfer,
        reserved: &mut IdMap<(u128, u128)>,
    ) -> Result<(), RestoreError> {
        let id = transfer.id.0;
        let debit = reserved.entry(transfer.debit_account_id.0).or_default();
        debit.0 = debit
            .0
            .checked_add(transfer.amount)
            .ok_or(RestoreError::BadPending(id))?;
        let credit = reserved.entry(transfer.credit_account_id.0).or_default();
        credit.1 = credit
            .1
            .checked_add(transfer.amount)
            .ok_or(RestoreError::BadPending(id))?;
        if transfer.timeout != 0 {
            let timeout = u64::from(transfer.timeout) * NANOSECONDS_PER_SECOND;
            let due = transfer.timestamp.checked_add(timeout);
            self.expiry
                .insert((due.ok_or(RestoreError::BadPending(id))?, id));
        }
        Ok(())
    }

    /// A pending transfer's accounts exist, share its ledger, and are closed if it closes
    /// them (a void or expiry reopens them).
    fn check_pending_accounts(&self, pending: &Transfer) -> Result<(), RestoreError> {
        let id = pending.id.0;
        let debit = self.account(pending.debit_account_id);
        let credit = self.account(pending.credit_account_id);
        let (Some(debit), Some(credit)) = (debit, credit) else {
            return Err(RestoreError::BadPending(id));
        };
        let closed = |account: &Account| account.flags.contains(AccountFlags::CLOSED);
        let flags = pending.flags;
        let fits = debit.ledger == pending.ledger
            && credit.ledger == pending.ledger
            && (!flags.contains(TransferFlags::CLOSING_DEBIT) || closed(debit))
            && (!flags.contains(TransferFlags::CLOSING_CREDIT) || closed(credit));
        if !fits {
            return Err(RestoreError::BadPending(id));
        }
        Ok(())
    }

    fn restore_account(
        &mut self,
        entry: &AccountState,
        reserved: &IdMap<(u128, u128)>,
    ) -> Result<(), RestoreError> {
        let account = entry.account;
        let id = account.id.0;
        if self.account_positions.contains_key(&id) {
            return Err(RestoreError::DuplicateAccount(id));
        }
        if !guards_hold(&account) {
            return Err(RestoreError::AccountGuard(id));
        }
        if account.timestamp > self.last_timestamp {
            return Err(RestoreError::BeyondState);
        }
        // Imported accounts rely on it: account timestamps increase with creation order.
        if account.timestamp <= self.last_account_timestamp() {
            return Err(RestoreError::AccountOutOfOrder(id));
        }
        let (debits, credits) = reserved.get(&id).copied().unwrap_or_default();
        if (debits, credits) != (account.debits_pending, account.credits_pending) {
            return Err(RestoreError::PendingMismatch(id));
        }
        let ledger = self.ledger_position(account.ledger);
        let zero = Balances::of(&Account::default());
        self.ledgers[ledger as usize].replace(&zero, &Balances::of(&account));
        self.account_positions.insert(id, self.accounts.len());
        self.accounts.push(AccountSlot {
            account,
            created_flags: entry.created_flags,
            ledger,
            touched_in_block: 0,
        });
        Ok(())
    }
}

// Batches and linked chains.
impl Engine {
    fn execute_batch<Event: BatchEvent, Outcome: BatchResult>(
        &mut self,
        events: &[Event],
        mut create: impl FnMut(&mut Self, &Event) -> Outcome,
    ) -> Vec<Outcome> {
        assert!(
            self.block_open,
            "create_accounts/create_transfers outside a block"
        );
        let mut results: Vec<Outcome> = Vec::with_capacity(events.len());
        let mut chain_start: Option<usize> = None;
        let mut chain_broken = false;
        // The first event decides whether the whole batch imports (TigerBeetle's rule).
        let batch_imported = events.first().is_some_and(BatchEvent::imported);
        for (index, event) in events.iter().enumerate() {
            let is_linked = event.linked();
            if is_linked && chain_start.is_none() {
                chain_start = Some(index);
                self.open_chain();
            }
            let result = if is_linked && index + 1 == events.len() {
                // The batch ends before the chain does. As in TigerBeetle, this code wins over
                // `linked_event_failed`, even when the chain already broke.
                Outcome::LINKED_EVENT_CHAIN_OPEN
            } else if chain_broken {
                Outcome::LINKED_EVENT_FAILED
            } else {
                match self.check_event_time(event, batch_imported) {
                    Ok(()) => create(self, event),
                    Err(code) => code,
                }
            };
            // The first failure inside a chain undoes the chain's earlier events.
            let breaks_chain = result != Outcome::OK && !chain_broken;
            if let (Some(start), true) = (chain_start, breaks_chain) {
                chain_broken = true;
                self.rollback_chain();
                results[start..index].fill(Outcome::LINKED_EVENT_FAILED);
            }
            // After the rollback, which must not take it back: the id stays spent.
            if let Some(failure) = result.transient_failure() {
                self.record_failure(TransferId(event.id()), failure);
            }
            results.push(result);
            if !is_linked && chain_start.is_some() {
                if !chain_broken {
                    self.close_chain();
                }
                chain_start = None;
                chain_broken = false;
            }
        }
        debug_assert!(self.chain.is_none());
        self.assert_ledgers_balanced();
        results
    }

    /// The batch-level checks of an event's timestamp, made before the event's own: an
    /// imported batch gives past timestamps that lie before the clock, any other gives none.
    fn check_event_time<Outcome: BatchResult>(
        &self,
        event: &impl BatchEvent,
        batch_imported: bool,
    ) -> Result<(), Outcome> {
        let imported = event.imported();
        if imported != batch_imported {
            return Err(if imported {
                Outcome::IMPORTED_EVENT_NOT_EXPECTED
            } else {
                Outcome::IMPORTED_EVENT_EXPECTED
            });
        }
        let timestamp = event.timestamp();
        if !imported {
            refuse!(timestamp != 0, Outcome::TIMESTAMP_MUST_BE_ZERO);
            return Ok(());
        }
        refuse!(
            timestamp == 0 || timestamp > IMPORTED_TIMESTAMP_MAX,
            Outcome::IMPORTED_EVENT_TIMESTAMP_OUT_OF_RANGE
        );
        // The clock is the timestamp the next event that is not imported would take.
        refuse!(
            timestamp >= self.clock,
            Outcome::IMPORTED_EVENT_TIMESTAMP_MUST_NOT_ADVANCE
        );
        Ok(())
    }

    /// Remembers a transient failure: the id can never be used again.
    fn record_failure(&mut self, id: TransferId, result: CreateTransferResult) {
        debug_assert!(self.chain.is_none() && result.is_transient());
        self.transfers.insert_failed(id.0, self.block_number);
        self.effects.failed.push(FailedTransfer { id, result });
    }

    fn open_chain(&mut self) {
        debug_assert!(self.chain.is_none() && self.undo.is_empty());
        self.chain = Some(Checkpoint {
            clock: self.clock,
            last_timestamp: self.last_timestamp,
            last_transfer_timestamp: self.last_transfer_timestamp,
            accounts: self.accounts.len(),
            transfers: self.transfer_count,
            queue: self.transfers.queue_len(),
            created: self.effects.accounts.len(),
            committed: self.effects.transfers.len(),
            touched: self.effects.touched.len(),
            history: self.effects.history.len(),
        });
    }

    fn close_chain(&mut self) {
        self.chain = None;
        self.undo.clear();
    }

    /// Undoes everything since the chain opened, newest first, and closes the chain.
    fn rollback_chain(&mut self) {
        let checkpoint = self.chain.take().expect("rollback_chain: no chain is open");
        while let Some(entry) = self.undo.pop() {
            match entry {
                Undo::Balances { account, previous } => self.restore_balances(account, previous),
                Undo::Resolved { id, block } => self.transfers.unresolve(id, block),
                Undo::ExpiryAdded(key) => {
                    let removed = self.expiry.remove(&key);
                    debug_assert!(removed);
                }
                Undo::ExpiryRemoved(key) => {
                    let added = self.expiry.insert(key);
                    debug_assert!(added);
                }
            }
        }
        self.discard_appends(&checkpoint);
        self.clock = checkpoint.clock;
        self.last_timestamp = checkpoint.last_timestamp;
        self.last_transfer_timestamp = checkpoint.last_transfer_timestamp;
    }

    /// Truncates the append-only collections back to a checkpoint.
    fn discard_appends(&mut self, checkpoint: &Checkpoint) {
        self.effects.history.truncate(checkpoint.history);
        for id in self.effects.touched.drain(checkpoint.touched..) {
            let position = self.account_positions[&id.0];
            self.accounts[position].touched_in_block = 0;
        }
        for transfer in &self.effects.transfers[checkpoint.committed..] {
            self.transfers.remove(transfer.id.0);
        }
        self.transfers.truncate_queue(checkpoint.queue);
        self.transfer_count = checkpoint.transfers;
        for slot in self.accounts.drain(checkpoint.accounts..) {
            self.account_positions.remove(&slot.account.id.0);
        }
        self.effects.accounts.truncate(checkpoint.created);
        self.effects.transfers.truncate(checkpoint.committed);
    }
}

// Accounts.
impl Engine {
    fn create_account(&mut self, account: &Account) -> CreateAccountResult {
        match self.try_create_account(account) {
            Ok(()) => AccountCode::Ok,
            Err(code) => code,
        }
    }

    fn try_create_account(&mut self, account: &Account) -> Result<(), AccountCode> {
        validate_account_header(account)?;
        // Right after the id checks (TigerBeetle's order): a retry is answered `exists*`
        // before any rule about the rest of the request is applied.
        if let Some(&position) = self.account_positions.get(&account.id.0) {
            return Err(account_exists(account, &self.accounts[position]));
        }
        validate_account(account)?;
        let timestamp = self.account_timestamp(account)?;
        self.insert_account(account, timestamp);
        Ok(())
    }

    /// The new account's timestamp: the clock's, or the imported one if it comes after
    /// every account and every transfer. TigerBeetle asks only that no transfer has that very
    /// timestamp; ours is stricter because that check would need a store lookup by
    /// timestamp, and because it keeps the commit order recoverable on replay (see
    /// `replay_events`).
    fn account_timestamp(&self, account: &Account) -> Result<u64, AccountCode> {
        if !account.flags.contains(AccountFlags::IMPORTED) {
            return Ok(self.clock);
        }
        let latest = self
            .last_account_timestamp()
            .max(self.last_transfer_timestamp);
        refuse!(
            account.timestamp <= latest,
            AccountCode::ImportedEventTimestampMustNotRegress
        );
        Ok(account.timestamp)
    }

    /// The youngest account's timestamp (0 before the first): account timestamps increase
    /// with creation order, imported ones included.
    fn last_account_timestamp(&self) -> u64 {
        self.accounts
            .last()
            .map_or(0, |slot| slot.account.timestamp)
    }

    /// Whether an account was created at exactly `timestamp` (accounts are in timestamp
    /// order, so a binary search tells).
    fn is_account_timestamp(&self, timestamp: u64) -> bool {
        self.accounts
            .binary_search_by_key(&timestamp, |slot| slot.account.timestamp)
            .is_ok()
    }

    fn insert_account(&mut self, account: &Account, timestamp: u64) {
        let record = Account {
            timestamp,
            ..*account
        };
        let ledger = self.ledger_position(record.ledger);
        let position = self.accounts.len();
        self.accounts.push(AccountSlot {
            account: record,
            created_flags: record.flags,
            ledger,
            touched_in_block: self.block_number,
        });
        self.account_positions.insert(record.id.0, position);
        self.effects.accounts.push(record);
        self.effects.touched.push(record.id);
        self.used_timestamp(timestamp);
    }

    fn ledger_position(&mut self, ledger: u32) -> u32 {
        let ledgers = &mut self.ledgers;
        *self.ledger_positions.entry(ledger).or_insert_with(|| {
            ledgers.push(LedgerTotals {
                ledger,
                ..LedgerTotals::default()
            });
            // At most one entry per distinct u32 ledger number, so this always fits.
            u32::try_from(ledgers.len() - 1).expect("fewer than 2^32 ledgers")
        })
    }

    fn account_position(&self, id: AccountId) -> Option<usize> {
        self.account_positions.get(&id.0).copied()
    }

    /// Replaces an account's balances and flags, keeping the ledger totals, the undo log and
    /// the block's touched list up to date.
    fn write_balances(&mut self, position: usize, balances: Balances) {
        let slot = &mut self.accounts[position];
        let previous = Balances::of(&slot.account);
        if self.chain.is_some() {
            self.undo.push(Undo::Balances {
                account: position,
                previous,
            });
        }
        self.ledgers[slot.ledger as usize].replace(&previous, &balances);
        balances.store(&mut slot.account);
        debug_assert!(
            guards_hold(&slot.account),
            "guard violated: {:?}",
            slot.account
        );
        if slot.touched_in_block != self.block_number {
            slot.touched_in_block = self.block_number;
            self.effects.touched.push(slot.account.id);
        }
    }

    fn restore_balances(&mut self, position: usize, previous: Balances) {
        let slot = &mut self.accounts[position];
        let current = Balances::of(&slot.account);
        self.ledgers[slot.ledger as usize].replace(&current, &previous);
        previous.store(&mut slot.account);
    }

    fn record_history(&mut self, position: usize, timestamp: u64) {
        let account = &self.accounts[position].account;
        if !account.flags.contains(AccountFlags::HISTORY) {
            return;
        }
        let balance = AccountBalance {
            account_id: account.id,
            timestamp,
            debits_pending: account.debits_pending,
            debits_posted: account.debits_posted,
            credits_pending: account.credits_pending,
            credits_posted: account.credits_posted,
        };
        self.effects.history.push(balance);
    }

    fn assert_ledgers_balanced(&self) {
        for totals in &self.ledgers {
            assert!(
                totals.is_balanced(),
                "ledger {} is out of balance: {totals:?}",
                totals.ledger
            );
        }
    }
}

// Transfers.
impl Engine {
    fn create_transfer(&mut self, transfer: &Transfer) -> CreateTransferResult {
        match self.try_create_transfer(transfer) {
            Ok(()) => TransferCode::Ok,
            Err(code) => code,
        }
    }

    fn try_create_transfer(&mut self, transfer: &Transfer) -> Result<(), TransferCode> {
        validate_transfer_header(transfer)?;
        // Right after the id checks (TigerBeetle's order): a retry answers `exists` whatever
        // the balances, the pending transfer or the accounts are now, and a retry of a
        // transient failure answers `id_already_failed` whatever it asks.
        match self.transfers.lookup(transfer.id.0) {
            Lookup::Committed(existing) => {
                let existing = existing.transfer;
                return Err(self.transfer_exists(transfer, &existing));
            }
            Lookup::Failed => return Err(TransferCode::IdAlreadyFailed),
            Lookup::Unused => {}
        }
        if resolves_pending(transfer.flags) {
            self.resolve_pending_transfer(transfer)
        } else {
            self.create_new_transfer(transfer)
        }
    }

    /// `exists` or the first `exists_with_different_*` for a retry of `existing`.
    fn transfer_exists(&self, transfer: &Transfer, existing: &Transfer) -> TransferCode {
        if let Err(code) = compare_exists_header(transfer, existing) {
            return code;
        }
        if !resolves_pending(transfer.flags) {
            return new_transfer_exists(transfer, existing);
        }
        // Same flags and pending id as `existing`, a committed post or void: its pending
        // transfer is committed too, and was prefetched with the request's `pending_id`.
        let pending = self
            .transfers
            .get(transfer.pending_id.0)
            .expect("the pending transfer of a committed post or void")
            .transfer;
        resolution_exists(transfer, existing, &pending)
    }

    /// A single-phase, pending or balancing transfer.
    fn create_new_transfer(&mut self, transfer: &Transfer) -> Result<(), TransferCode> {
        validate_new_transfer(transfer)?;
        let debit = self
            .account_position(transfer.debit_account_id)
            .ok_or(TransferCode::DebitAccountNotFound)?;
        let credit = self
            .account_position(transfer.credit_account_id)
            .ok_or(TransferCode::CreditAccountNotFound)?;
        let debit_account = &self.accounts[debit].account;
        let credit_account = &self.accounts[credit].account;
        if debit_account.ledger != credit_account.ledger {
            return Err(TransferCode::AccountsMustHaveTheSameLedger);
        }
        if transfer.ledger != debit_account.ledger {
            return Err(TransferCode::TransferMustHaveTheSameLedgerAsAccounts);
        }
        let timestamp = self.transfer_timestamp(transfer)?;
        check_imported_accounts(transfer, debit_account, credit_account)?;
        check_accounts_open(debit_account, credit_account)?;
        let amount = balancing_amount(transfer, debit_account, credit_account);
        check_new_transfer_limits(transfer, amount, debit_account, credit_account, timestamp)?;
        self.apply_new_transfer(transfer, amount, timestamp, [debit, credit]);
        Ok(())
    }

    /// The transfer's timestamp: the clock's, or the imported one if it comes after every
    /// transfer and is no account's.
    fn transfer_timestamp(&self, transfer: &Transfer) -> Result<u64, TransferCode> {
        if !transfer.flags.contains(TransferFlags::IMPORTED) {
            return Ok(self.clock);
        }
        let timestamp = transfer.timestamp;
        refuse!(
            timestamp <= self.last_transfer_timestamp || self.is_account_timestamp(timestamp),
            TransferCode::ImportedEventTimestampMustNotRegress
        );
        Ok(timestamp)
    }

    fn apply_new_transfer(
        &mut self,
        transfer: &Transfer,
        amount: u128,
        timestamp: u64,
        [debit, credit]: [usize; 2],
    ) {
        let record = Transfer {
            amount,
            timestamp,
            ..*transfer
        };
        let flags = record.flags;
        let pending = flags.contains(TransferFlags::PENDING);
        let mut debit_balances = Balances::of(&self.accounts[debit].account);
        let mut credit_balances = Balances::of(&self.accounts[credit].account);
        if pending {
            debit_balances.debits_pending += amount;
            credit_balances.credits_pending += amount;
        } else {
            debit_balances.debits_posted += amount;
            credit_balances.credits_posted += amount;
        }
        if flags.contains(TransferFlags::CLOSING_DEBIT) {
            debit_balances.flags = debit_balances.flags.union(AccountFlags::CLOSED);
        }
        if flags.contains(TransferFlags::CLOSING_CREDIT) {
            credit_balances.flags = credit_balances.flags.union(AccountFlags::CLOSED);
        }
        self.write_balances(debit, debit_balances);
        self.write_balances(credit, credit_balances);
        if pending && record.timeout != 0 {
            self.add_expiry((expires_at(&record), record.id.0));
        }
        let status = pending.then_some(PendingStatus::Pending);
        self.commit_transfer(record, status, debit, credit);
    }

    /// A `post_pending_transfer` or `void_pending_transfer`.
    fn resolve_pending_transfer(&mut self, transfer: &Transfer) -> Result<(), TransferCode> {
        validate_resolution(transfer)?;
        let pending_slot = *self
            .transfers
            .get(transfer.pending_id.0)
            .ok_or(TransferCode::PendingTransferNotFound)?;
        let pending = pending_slot.transfer;
        if !pending.flags.contains(TransferFlags::PENDING) {
            return Err(TransferCode::PendingTransferNotPending);
        }
        check_against_pending(transfer, &pending)?;
        let amount = resolution_amount(transfer, &pending)?;
        self.check_pending_open(pending_slot.status, &pending)?;
        let timestamp = self.transfer_timestamp(transfer)?;
        let debit = self
            .account_position(pending.debit_account_id)
            .expect("pending's debit account");
        let credit = self
            .account_position(pending.credit_account_id)
            .expect("pending's credit account");
        // The only movement a closed account allows is voiding a pending transfer.
        if transfer
            .flags
            .contains(TransferFlags::POST_PENDING_TRANSFER)
        {
            check_accounts_open(
                &self.accounts[debit].account,
                &self.accounts[credit].account,
            )?;
        }
        let resolution = Resolution {
            amount,
            timestamp,
            accounts: [debit, credit],
        };
        self.apply_resolution(transfer, &pending, resolution);
        Ok(())
    }

    fn check_pending_open(
        &self,
        status: Option<PendingStatus>,
        pending: &Transfer,
    ) -> Result<(), TransferCode> {
        match status {
            Some(PendingStatus::Pending) => {}
            Some(PendingStatus::Posted) => return Err(TransferCode::PendingTransferAlreadyPosted),
            Some(PendingStatus::Voided) => return Err(TransferCode::PendingTransferAlreadyVoided),
            Some(PendingStatus::Expired) => return Err(TransferCode::PendingTransferExpired),
            None => unreachable!("a transfer flagged pending has a pending status"),
        }
        // The sweep runs at block start only, so a pending transfer can come due mid-block.
        if pending.timeout != 0 && expires_at(pending) <= self.clock {
            return Err(TransferCode::PendingTransferExpired);
        }
        Ok(())
    }

    fn apply_resolution(
        &mut self,
        transfer: &Transfer,
        pending: &Transfer,
        resolution: Resolution,
    ) {
        let Resolution {
            amount,
            timestamp,
            accounts: [debit, credit],
        } = resolution;
        let post = transfer
            .flags
            .contains(TransferFlags::POST_PENDING_TRANSFER);
        let record = resolution_record(transfer, pending, amount, timestamp);
        let [mut debit_balances, mut credit_balances] =
            self.released_balances(pending, debit, credit);
        if post {
            // A closing pending transfer's account is closed, so it is never posted.
            debug_assert!(!closes_account(pending.flags));
            // Cannot overflow: pending + posted fit in u128 and amount <= the pending amount.
            debit_balances.debits_posted += amount;
            credit_balances.credits_posted += amount;
        }
        self.write_balances(debit, debit_balances);
        self.write_balances(credit, credit_balances);
        let status = if post {
            PendingStatus::Posted
        } else {
            PendingStatus::Voided
        };
        self.set_pending_status(pending.id.0, status);
        if pending.timeout != 0 {
            self.remove_expiry((expires_at(pending), pending.id.0));
        }
        self.commit_transfer(record, None, debit, credit);
    }

    /// The balances of a pending transfer's accounts with its reservation released and the
    /// accounts it closed reopened (void and expiry; a post adds the posted amount on top).
    fn released_balances(&self, pending: &Transfer, debit: usize, credit: usize) -> [Balances; 2] {
        let mut debit_balances = Balances::of(&self.accounts[debit].account);
        let mut credit_balances = Balances::of(&self.accounts[credit].account);
        debit_balances.debits_pending -= pending.amount;
        credit_balances.credits_pending -= pending.amount;
        if pending.flags.contains(TransferFlags::CLOSING_DEBIT) {
            debug_assert!(debit_balances.flags.contains(AccountFlags::CLOSED));
            debit_balances.flags = debit_balances.flags.without(AccountFlags::CLOSED);
        }
        if pending.flags.contains(TransferFlags::CLOSING_CREDIT) {
            debug_assert!(credit_balances.flags.contains(AccountFlags::CLOSED));
            credit_balances.flags = credit_balances.flags.without(AccountFlags::CLOSED);
        }
        [debit_balances, credit_balances]
    }

    fn commit_transfer(
        &mut self,
        record: Transfer,
        status: Option<PendingStatus>,
        debit: usize,
        credit: usize,
    ) {
        debug_assert!(record.timestamp > self.last_transfer_timestamp);
        let slot = Slot::new(record, status, self.transfer_count, self.block_number);
        self.transfers.insert(slot);
        self.transfer_count += 1;
        self.effects.transfers.push(record);
        self.record_history(debit, record.timestamp);
        self.record_history(credit, record.timestamp);
        self.last_transfer_timestamp = record.timestamp;
        self.used_timestamp(record.timestamp);
    }

    /// Releases every pending transfer due at the block's start, in `(expires_at, id)` order.
    fn expire_due(&mut self) {
        while let Some(&(due, id)) = self.expiry.first() {
            if due > self.clock {
                break;
            }
            self.expiry.pop_first();
            let pending = self
                .transfers
                .in_memory(id)
                .expect("an open pending transfer is in memory")
                .transfer;
            let debit = self
                .account_position(pending.debit_account_id)
                .expect("debit account");
            let credit = self
                .account_position(pending.credit_account_id)
                .expect("credit account");
            let [debit_balances, credit_balances] = self.released_balances(&pending, debit, credit);
            self.write_balances(debit, debit_balances);
            self.write_balances(credit, credit_balances);
            self.set_pending_status(id, PendingStatus::Expired);
            self.effects.expired.push(pending.id);
        }
    }

    fn set_pending_status(&mut self, id: u128, status: PendingStatus) {
        let block = self.transfers.resolve(id, status, self.block_number);
        if self.chain.is_some() {
            self.undo.push(Undo::Resolved { id, block });
        }
    }

    fn add_expiry(&mut self, key: ExpiryKey) {
        let added = self.expiry.insert(key);
        debug_assert!(added);
        if self.chain.is_some() {
            self.undo.push(Undo::ExpiryAdded(key));
        }
    }

    fn remove_expiry(&mut self, key: ExpiryKey) {
        let removed = self.expiry.remove(&key);
        debug_assert!(removed);
        if self.chain.is_some() {
            self.undo.push(Undo::ExpiryRemoved(key));
        }
    }

    /// Moves the clock past a timestamp an event just took. An imported timestamp lies
    /// before the clock (checked with the batch), so it leaves the clock alone.
    fn used_timestamp(&mut self, timestamp: u64) {
        if timestamp == self.clock {
            self.advance_clock();
        }
    }

    fn advance_clock(&mut self) {
        self.last_timestamp = self.clock;
        self.clock = self
            .clock
            .checked_add(1)
            .expect("the engine clock overflowed u64");
    }

    fn next_block_timestamp(&self, now_ns: u64) -> u64 {
        let after_last = self
            .last_timestamp
            .checked_add(1)
            .expect("the engine clock overflowed u64");
        now_ns.max(after_last)
    }
}

// Replay.
impl Engine {
    /// Replays runs of accounts and runs of transfers in the order they were committed.
    ///
    /// The journal keeps the two kinds apart, each in commit order; their interleaving
    /// follows from the timestamps. Events that are not imported take the clock, so their
    /// timestamps are their commit order. Imported ones lie before the clock; the rules on
    /// their timestamps make this merge safe: an account goes before a transfer chain unless
    /// its first timestamp comes after the chain's last. Every account a transfer names is
    /// older than the transfer, so it is created first; an imported account is younger than
    /// every transfer committed before it, so none of those goes after it; an imported
    /// transfer chain placed before an account committed earlier names no account that young.
    /// Chains stay whole, and each run is all imported or none, as a live batch is.
    fn replay_events(
        &mut self,
        accounts: &[Account],
        transfers: &[Transfer],
    ) -> Result<(), ReplayError> {
        let (mut account_index, mut transfer_index) = (0, 0);
        while account_index < accounts.len() || transfer_index < transfers.len() {
            // The next account chain goes by its first timestamp, a transfer chain by its last.
            let next_account = accounts.get(account_index).map(BatchEvent::timestamp);
            let next_transfer = (transfer_index < transfers.len())
                .then(|| transfers[chain_end(transfers, transfer_index) - 1].timestamp);
            let accounts_first = match (next_account, next_transfer) {
                (Some(account), Some(transfer)) => account < transfer,
                (account, _) => account.is_some(),
            };
            if accounts_first {
                let end = run_end(accounts, account_index, |chain| {
                    next_transfer.is_none_or(|transfer| chain[0].timestamp < transfer)
                });
                self.replay_accounts(account_index, &accounts[account_index..end])?;
                account_index = end;
            } else {
                let end = run_end(transfers, transfer_index, |chain| {
                    let last = chain[chain.len() - 1].timestamp;
                    next_account.is_none_or(|account| last < account)
                });
                self.replay_transfers(transfer_index, &transfers[transfer_index..end])?;
                transfer_index = end;
            }
        }
        Ok(())
    }

    fn replay_accounts(&mut self, offset: usize, recorded: &[Account]) -> Result<(), ReplayError> {
        let inputs: Vec<Account> = recorded
            .iter()
            .map(|account| Account {
                timestamp: requested_timestamp(account),
                ..*account
            })
            .collect();
        let results = self.create_accounts(&inputs);
        let produced =
            &self.effects.accounts[self.effects.accounts.len().saturating_sub(recorded.len())..];
        match first_divergence(&results, |result| result.is_ok(), produced, recorded) {
            Some(Divergence::Rejected(index, result)) => Err(ReplayError::AccountRejected {
                index: offset + index,
                result,
            }),
            Some(Divergence::Differs(index)) => Err(ReplayError::AccountDiffers {
                index: offset + index,
            }),
            None => Ok(()),
        }
    }

    fn replay_transfers(
        &mut self,
        offset: usize,
        recorded: &[Transfer],
    ) -> Result<(), ReplayError> {
        let inputs: Vec<Transfer> = recorded
            .iter()
            .map(|transfer| Transfer {
                timestamp: requested_timestamp(transfer),
                ..*transfer
            })
            .collect();
        let results = self.create_transfers(&inputs);
        let produced =
            &self.effects.transfers[self.effects.transfers.len().saturating_sub(recorded.len())..];
        match first_divergence(&results, |result| result.is_ok(), produced, recorded) {
            Some(Divergence::Rejected(index, result)) => Err(ReplayError::TransferRejected {
                index: offset + index,
                result,
            }),
            Some(Divergence::Differs(index)) => Err(ReplayError::TransferDiffers {
                index: offset + index,
            }),
            None => Ok(()),
        }
    }

    /// Remembers a replayed block's failures. Only what memory can tell is checked (a
    /// transient result, an id that memory holds no transfer or failure for): the store's
    /// word is all there is, since a failure is not journaled.
    fn replay_failures(&mut self, failed: &[FailedTransfer]) -> Result<(), ReplayError> {
        for (index, failure) in failed.iter().enumerate() {
            let id = failure.id.0;
            let valid = id != 0 && id != u128::MAX && failure.result.is_transient();
            let known = self.transfers.in_memory(id).is_some() || self.transfers.is_failed(id);
            if !valid || known {
                return Err(ReplayError::FailureRejected { index });
            }
            self.record_failure(failure.id, failure.result);
        }
        Ok(())
    }
}

/// What the client sent as the timestamp of a recorded event: its own if imported, else 0.
fn requested_timestamp(event: &impl BatchEvent) -> u64 {
    if event.imported() {
        event.timestamp()
    } else {
        0
    }
}

/// The end (exclusive) of the linked chain that starts at `start`: the first event without
/// `linked`, or the last event.
fn chain_end<Event: BatchEvent>(events: &[Event], start: usize) -> usize {
    let mut end = start;
    while end + 1 < events.len() && events[end].linked() {
        end += 1;
    }
    end + 1
}

/// The end (exclusive) of the replay run that starts at `start`: whole chains, all imported
/// or none, while `goes_first` says the next chain comes before the other kind's; at least
/// one chain.
fn run_end<Event: BatchEvent>(
    events: &[Event],
    start: usize,
    goes_first: impl Fn(&[Event]) -> bool,
) -> usize {
    let imported = events[start].imported();
    let mut end = chain_end(events, start);
    while end < events.len() && events[end].imported() == imported {
        let next = chain_end(events, end);
        if !goes_first(&events[end..next]) {
            break;
        }
        end = next;
    }
    end
}

/// Where a replayed batch first parts from its record.
enum Divergence<R> {
    /// The event at this index was refused with this result.
    Rejected(usize, R),
    /// The event at this index was accepted but produced a different record.
    Differs(usize),
}

/// The first refused event, else the first produced record that differs from the recorded
/// one (a refused event produces no record, so refusals are looked for first).
fn first_divergence<R: Copy, T: PartialEq>(
    results: &[R],
    is_ok: impl Fn(R) -> bool,
    produced: &[T],
    recorded: &[T],
) -> Option<Divergence<R>> {
    if let Some(index) = results.iter().position(|result| !is_ok(*result)) {
        return Some(Divergence::Rejected(index, results[index]));
    }
    let index = produced
        .iter()
        .zip(recorded)
        .position(|(produced, recorded)| produced != recorded)?;
    Some(Divergence::Differs(index))
}

// Pure checks, in the precedence order of the result codes.

/// The checks before the duplicate-id check (the timestamp's were made with the batch).
fn validate_account_header(account: &Account) -> Result<(), AccountCode> {
    refuse!(account.flags.has_reserved(), AccountCode::ReservedFlag);
    refuse!(account.id.0 == 0, AccountCode::IdMustNotBeZero);
    refuse!(account.id.0 == u128::MAX, AccountCode::IdMustNotBeIntMax);
    Ok(())
}

/// The checks of a new account after the duplicate-id check.
fn validate_account(account: &Account) -> Result<(), AccountCode> {
    let flags = account.flags;
    let both_limits = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS
        .union(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS);
    refuse!(
        flags.contains(both_limits),
        AccountCode::FlagsAreMutuallyExclusive
    );
    refuse!(
        account.debits_pending != 0,
        AccountCode::DebitsPendingMustBeZero
    );
    refuse!(
        account.debits_posted != 0,
        AccountCode::DebitsPostedMustBeZero
    );
    refuse!(
        account.credits_pending != 0,
        AccountCode::CreditsPendingMustBeZero
    );
    refuse!(
        account.credits_posted != 0,
        AccountCode::CreditsPostedMustBeZero
    );
    refuse!(account.ledger == 0, AccountCode::LedgerMustNotBeZero);
    refuse!(account.code == 0, AccountCode::CodeMustNotBeZero);
    Ok(())
}

/// `Err(exists_with_different_*)` for the first field that differs; `Ok` means `exists`.
fn compare_account(account: &Account, slot: &AccountSlot) -> Result<(), AccountCode> {
    let existing = &slot.account;
    refuse!(
        account.flags != slot.created_flags,
        AccountCode::ExistsWithDifferentFlags
    );
    refuse!(
        account.user_data_128 != existing.user_data_128,
        AccountCode::ExistsWithDifferentUserData128
    );
    refuse!(
        account.user_data_64 != existing.user_data_64,
        AccountCode::ExistsWithDifferentUserData64
    );
    refuse!(
        account.user_data_32 != existing.user_data_32,
        AccountCode::ExistsWithDifferentUserData32
    );
    refuse!(
        account.ledger != existing.ledger,
        AccountCode::ExistsWithDifferentLedger
    );
    refuse!(
        account.code != existing.code,
        AccountCode::ExistsWithDifferentCode
    );
    Ok(())
}

fn account_exists(account: &Account, slot: &AccountSlot) -> AccountCode {
    compare_account(account, slot)
        .err()
        .unwrap_or(AccountCode::Exists)
}

/// Whether a stored transfer could be an open pending transfer the engine committed: the
/// checks `create_transfers` makes of a new pending transfer, plus its status.
fn is_open_pending_record(stored: &StoredTransfer) -> bool {
    let transfer = &stored.transfer;
    let flags = transfer.flags;
    let (debit, credit) = (transfer.debit_account_id.0, transfer.credit_account_id.0);
    let id_valid = |id: u128| id != 0 && id != u128::MAX;
    stored.status == Some(PendingStatus::Pending)
        && flags.contains(TransferFlags::PENDING)
        && !flags.has_reserved()
        && !resolves_pending(flags)
        && !(flags.contains(TransferFlags::IMPORTED) && transfer.timeout != 0)
        && id_valid(transfer.id.0)
        && id_valid(debit)
        && id_valid(credit)
        && debit != credit
        && transfer.pending_id.0 == 0
}

fn resolves_pending(flags: TransferFlags) -> bool {
    flags.contains(TransferFlags::POST_PENDING_TRANSFER)
        || flags.contains(TransferFlags::VOID_PENDING_TRANSFER)
}

fn closes_account(flags: TransferFlags) -> bool {
    flags.contains(TransferFlags::CLOSING_DEBIT) || flags.contains(TransferFlags::CLOSING_CREDIT)
}

fn balances_account(flags: TransferFlags) -> bool {
    flags.contains(TransferFlags::BALANCING_DEBIT)
        || flags.contains(TransferFlags::BALANCING_CREDIT)
}

/// The checks before the duplicate-id check (the timestamp's were made with the batch).
fn validate_transfer_header(transfer: &Transfer) -> Result<(), TransferCode> {
    refuse!(transfer.flags.has_reserved(), TransferCode::ReservedFlag);
    refuse!(transfer.id.0 == 0, TransferCode::IdMustNotBeZero);
    refuse!(transfer.id.0 == u128::MAX, TransferCode::IdMustNotBeIntMax);
    Ok(())
}

fn validate_new_transfer(transfer: &Transfer) -> Result<(), TransferCode> {
    let (debit, credit) = (transfer.debit_account_id.0, transfer.credit_account_id.0);
    let pending = transfer.flags.contains(TransferFlags::PENDING);
    refuse!(debit == 0, TransferCode::DebitAccountIdMustNotBeZero);
    refuse!(
        debit == u128::MAX,
        TransferCode::DebitAccountIdMustNotBeIntMax
    );
    refuse!(credit == 0, TransferCode::CreditAccountIdMustNotBeZero);
    refuse!(
        credit == u128::MAX,
        TransferCode::CreditAccountIdMustNotBeIntMax
    );
    refuse!(debit == credit, TransferCode::AccountsMustBeDifferent);
    refuse!(
        transfer.pending_id.0 != 0,
        TransferCode::PendingIdMustBeZero
    );
    refuse!(
        !pending && transfer.timeout != 0,
        TransferCode::TimeoutReservedForPendingTransfer
    );
    refuse!(
        !pending && closes_account(transfer.flags),
        TransferCode::ClosingTransferMustBePending
    );
    // No amount check: zero amounts are allowed (TigerBeetle since 0.16). A zero pending
    // transfer with `closing_*` is how an account is closed.
    refuse!(transfer.ledger == 0, TransferCode::LedgerMustNotBeZero);
    refuse!(transfer.code == 0, TransferCode::CodeMustNotBeZero);
    Ok(())
}

fn validate_resolution(transfer: &Transfer) -> Result<(), TransferCode> {
    let flags = transfer.flags;
    let both = TransferFlags::POST_PENDING_TRANSFER.union(TransferFlags::VOID_PENDING_TRANSFER);
    // A post or void takes its shape from the pending transfer: it cannot balance or close.
    let shaped = balances_account(flags) || closes_account(flags);
    refuse!(
        flags.contains(both) || flags.contains(TransferFlags::PENDING) || shaped,
        TransferCode::FlagsAreMutuallyExclusive
    );
    let pending_id = transfer.pending_id.0;
    refuse!(pending_id == 0, TransferCode::PendingIdMustNotBeZero);
    refuse!(
        pending_id == u128::MAX,
        TransferCode::PendingIdMustNotBeIntMax
    );
    refuse!(
        pending_id == transfer.id.0,
        TransferCode::PendingIdMustBeDifferent
    );
    refuse!(
        transfer.timeout != 0,
        TransferCode::TimeoutReservedForPendingTransfer
    );
    Ok(())
}

/// Whether a post/void leaves a field zero (inherit) or gives a different value.
fn differs(given: u128, expected: u128) -> bool {
    given != 0 && given != expected
}

/// A post or void may leave these fields zero (inherit) or must repeat the pending's.
fn check_against_pending(transfer: &Transfer, pending: &Transfer) -> Result<(), TransferCode> {
    refuse!(
        differs(transfer.debit_account_id.0, pending.debit_account_id.0),
        TransferCode::PendingTransferHasDifferentDebitAccountId
    );
    refuse!(
        differs(transfer.credit_account_id.0, pending.credit_account_id.0),
        TransferCode::PendingTransferHasDifferentCreditAccountId
    );
    refuse!(
        differs(transfer.ledger.into(), pending.ledger.into()),
        TransferCode::PendingTransferHasDifferentLedger
    );
    refuse!(
        differs(transfer.code.into(), pending.code.into()),
        TransferCode::PendingTransferHasDifferentCode
    );
    Ok(())
}

/// Whether a post/void's requested amount means "the whole pending amount": `u128::MAX`
/// for a post (0 posts nothing and releases everything), 0 for a void.
fn requests_whole_amount(transfer: &Transfer) -> bool {
    let post = transfer
        .flags
        .contains(TransferFlags::POST_PENDING_TRANSFER);
    let whole = if post { u128::MAX } else { 0 };
    transfer.amount == whole
}

/// The amount a post moves to posted, or a void releases.
fn resolution_amount(transfer: &Transfer, pending: &Transfer) -> Result<u128, TransferCode> {
    let void = transfer
        .flags
        .contains(TransferFlags::VOID_PENDING_TRANSFER);
    let amount = if requests_whole_amount(transfer) {
        pending.amount
    } else {
        transfer.amount
    };
    // TigerBeetle: more than the pending amount is `exceeds_pending_transfer_amount` for a void
    // too (that code precedes `pending_transfer_has_different_amount`).
    refuse!(
        amount > pending.amount,
        TransferCode::ExceedsPendingTransferAmount
    );
    refuse!(
        void && amount < pending.amount,
        TransferCode::PendingTransferHasDifferentAmount
    );
    Ok(amount)
}

/// Zero means "inherit from the pending transfer" for a post/void's optional fields.
fn inherit<Value: Default + PartialEq>(given: Value, from_pending: Value) -> Value {
    if given == Value::default() {
        from_pending
    } else {
        given
    }
}

/// The stored post/void: accounts, ledger and code from the pending transfer, user data from
/// the pending where the request leaves it zero (as TigerBeetle does), the amount moved.
fn resolution_record(
    transfer: &Transfer,
    pending: &Transfer,
    amount: u128,
    timestamp: u64,
) -> Transfer {
    Transfer {
        id: transfer.id,
        debit_account_id: pending.debit_account_id,
        credit_account_id: pending.credit_account_id,
        amount,
        pending_id: transfer.pending_id,
        user_data_128: inherit(transfer.user_data_128, pending.user_data_128),
        user_data_64: inherit(transfer.user_data_64, pending.user_data_64),
        user_data_32: inherit(transfer.user_data_32, pending.user_data_32),
        timeout: 0,
        ledger: pending.ledger,
        code: pending.code,
        flags: transfer.flags,
        timestamp,
    }
}

fn expires_at(pending: &Transfer) -> u64 {
    // Checked at creation (`overflows_timeout`), so this cannot overflow.
    pending.timestamp + u64::from(pending.timeout) * NANOSECONDS_PER_SECOND
}

/// How much more the account may be debited before debits exceed credits (saturating).
fn debit_headroom(account: &Account) -> u128 {
    let debits = account.debits_pending + account.debits_posted;
    account.credits_posted.saturating_sub(debits)
}

/// How much more the account may be credited before credits exceed debits (saturating).
fn credit_headroom(account: &Account) -> u128 {
    let credits = account.credits_pending + account.credits_posted;
    account.debits_posted.saturating_sub(credits)
}

/// The amount a new transfer moves: its own, or for balancing transfers at most what keeps
/// the balanced account(s) from going past zero (the request's amount is then an upper bound).
fn balancing_amount(transfer: &Transfer, debit: &Account, credit: &Account) -> u128 {
    let mut amount = transfer.amount;
    if transfer.flags.contains(TransferFlags::BALANCING_DEBIT) {
        amount = amount.min(debit_headroom(debit));
    }
    if transfer.flags.contains(TransferFlags::BALANCING_CREDIT) {
        amount = amount.min(credit_headroom(credit));
    }
    amount
}

fn debits_exceed_credits(account: &Account, amount: u128) -> bool {
    let limited = account
        .flags
        .contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS);
    limited && account.debits_pending + account.debits_posted + amount > account.credits_posted
}

fn credits_exceed_debits(account: &Account, amount: u128) -> bool {
    let limited = account
        .flags
        .contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS);
    limited && account.credits_pending + account.credits_posted + amount > account.debits_posted
}

fn guards_hold(account: &Account) -> bool {
    let debits = account.debits_pending.checked_add(account.debits_posted);
    let credits = account.credits_pending.checked_add(account.credits_posted);
    debits.is_some()
        && credits.is_some()
        && !debits_exceed_credits(account, 0)
        && !credits_exceed_debits(account, 0)
}

/// The rules only imported transfers have: younger than both accounts, and no timeout (no
/// expiry could be driven by a clock the transfer did not take).
fn check_imported_accounts(
    transfer: &Transfer,
    debit: &Account,
    credit: &Account,
) -> Result<(), TransferCode> {
    if !transfer.flags.contains(TransferFlags::IMPORTED) {
        return Ok(());
    }
    refuse!(
        transfer.timestamp <= debit.timestamp,
        TransferCode::ImportedEventTimestampMustPostdateDebitAccount
    );
    refuse!(
        transfer.timestamp <= credit.timestamp,
        TransferCode::ImportedEventTimestampMustPostdateCreditAccount
    );
    refuse!(
        transfer.timeout != 0,
        TransferCode::ImportedEventTimeoutMustBeZero
    );
    Ok(())
}

/// A closed account refuses every transfer but the void of a pending one.
fn check_accounts_open(debit: &Account, credit: &Account) -> Result<(), TransferCode> {
    refuse!(
        debit.flags.contains(AccountFlags::CLOSED),
        TransferCode::DebitAccountAlreadyClosed
    );
    refuse!(
        credit.flags.contains(AccountFlags::CLOSED),
        TransferCode::CreditAccountAlreadyClosed
    );
    Ok(())
}

/// Overflow, timeout and limit checks for a new transfer of `amount`.
fn check_new_transfer_limits(
    transfer: &Transfer,
    amount: u128,
    debit: &Account,
    credit: &Account,
    timestamp: u64,
) -> Result<(), TransferCode> {
    let overflows = |balance: u128| balance.checked_add(amount).is_none();
    let pending = transfer.flags.contains(TransferFlags::PENDING);
    let timeout = u64::from(transfer.timeout) * NANOSECONDS_PER_SECOND;
    refuse!(
        pending && overflows(debit.debits_pending),
        TransferCode::OverflowsDebitsPending
    );
    refuse!(
        pending && overflows(credit.credits_pending),
        TransferCode::OverflowsCreditsPending
    );
    refuse!(
        overflows(debit.debits_posted),
        TransferCode::OverflowsDebitsPosted
    );
    refuse!(
        overflows(credit.credits_posted),
        TransferCode::OverflowsCreditsPosted
    );
    // pending + posted never overflows: this very check keeps it so.
    refuse!(
        overflows(debit.debits_pending + debit.debits_posted),
        TransferCode::OverflowsDebits
    );
    refuse!(
        overflows(credit.credits_pending + credit.credits_posted),
        TransferCode::OverflowsCredits
    );
    refuse!(
        timestamp.checked_add(timeout).is_none(),
        TransferCode::OverflowsTimeout
    );
    // A balancing transfer with nothing left to move moves zero and succeeds.
    refuse!(
        debits_exceed_credits(debit, amount),
        TransferCode::ExceedsCredits
    );
    refuse!(
        credits_exceed_debits(credit, amount),
        TransferCode::ExceedsDebits
    );
    Ok(())
}

/// The fields compared first for any retry: the flags decide how the rest compares.
fn compare_exists_header(transfer: &Transfer, existing: &Transfer) -> Result<(), TransferCode> {
    refuse!(
        transfer.flags != existing.flags,
        TransferCode::ExistsWithDifferentFlags
    );
    refuse!(
        transfer.pending_id != existing.pending_id,
        TransferCode::ExistsWithDifferentPendingId
    );
    refuse!(
        transfer.timeout != existing.timeout,
        TransferCode::ExistsWithDifferentTimeout
    );
    Ok(())
}

/// `Err(exists_with_different_*)` for the first field after the header that differs; `Ok`
/// means `exists`.
fn compare_new_transfer(transfer: &Transfer, existing: &Transfer) -> Result<(), TransferCode> {
    // A balancing transfer's amount is an upper bound: a retry is the same request as long as
    // it would still allow the amount that was moved (TigerBeetle's rule).
    let amount_differs = if balances_account(transfer.flags) {
        transfer.amount < existing.amount
    } else {
        transfer.amount != existing.amount
    };
    refuse!(
        transfer.debit_account_id != existing.debit_account_id,
        TransferCode::ExistsWithDifferentDebitAccountId
    );
    refuse!(
        transfer.credit_account_id != existing.credit_account_id,
        TransferCode::ExistsWithDifferentCreditAccountId
    );
    refuse!(amount_differs, TransferCode::ExistsWithDifferentAmount);
    compare_common_fields(transfer, existing)
}

/// User data, ledger and code, compared exactly (the last fields of the exists order).
fn compare_common_fields(transfer: &Transfer, existing: &Transfer) -> Result<(), TransferCode> {
    refuse!(
        transfer.user_data_128 != existing.user_data_128,
        TransferCode::ExistsWithDifferentUserData128
    );
    refuse!(
        transfer.user_data_64 != existing.user_data_64,
        TransferCode::ExistsWithDifferentUserData64
    );
    refuse!(
        transfer.user_data_32 != existing.user_data_32,
        TransferCode::ExistsWithDifferentUserData32
    );
    refuse!(
        transfer.ledger != existing.ledger,
        TransferCode::ExistsWithDifferentLedger
    );
    refuse!(
        transfer.code != existing.code,
        TransferCode::ExistsWithDifferentCode
    );
    Ok(())
}

fn new_transfer_exists(transfer: &Transfer, existing: &Transfer) -> TransferCode {
    compare_new_transfer(transfer, existing)
        .err()
        .unwrap_or(TransferCode::Exists)
}

/// Compares a post/void with the stored one, after the header, as the client would have
/// sent it: zero fields inherit from the pending transfer, and "the whole amount"
/// (`u128::MAX` for a post, 0 for a void) matches a record that moved the whole pending
/// amount.
fn compare_resolution(
    transfer: &Transfer,
    existing: &Transfer,
    pending: &Transfer,
) -> Result<(), TransferCode> {
    let amount_differs = if requests_whole_amount(transfer) {
        existing.amount != pending.amount
    } else {
        transfer.amount != existing.amount
    };
    refuse!(
        differs(transfer.debit_account_id.0, existing.debit_account_id.0),
        TransferCode::ExistsWithDifferentDebitAccountId
    );
    refuse!(
        differs(transfer.credit_account_id.0, existing.credit_account_id.0),
        TransferCode::ExistsWithDifferentCreditAccountId
    );
    refuse!(amount_differs, TransferCode::ExistsWithDifferentAmount);
    // What the request would have stored: zero user data and ledger/code inherit.
    let requested = Transfer {
        user_data_128: inherit(transfer.user_data_128, pending.user_data_128),
        user_data_64: inherit(transfer.user_data_64, pending.user_data_64),
        user_data_32: inherit(transfer.user_data_32, pending.user_data_32),
        ledger: inherit(transfer.ledger, existing.ledger),
        code: inherit(transfer.code, existing.code),
        ..*transfer
    };
    compare_common_fields(&requested, existing)
}

fn resolution_exists(transfer: &Transfer, existing: &Transfer, pending: &Transfer) -> TransferCode {
    compare_resolution(transfer, existing, pending)
        .err()
        .unwrap_or(TransferCode::Exists)
}
