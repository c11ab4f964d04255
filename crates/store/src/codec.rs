//! What every backend shares: column encodings, the checks an append makes before it writes,
//! the plan of account rows it writes, and the checks `read_blocks` makes on what it reads.
//!
//! Encodings (SQLite and PostgreSQL alike):
//! - `u128` (ids, amounts, balances, `user_data_128`): 16-byte big-endian BLOB / `bytea`, so
//!   byte order is numeric order (`ORDER BY id` is id order).
//! - `u64` (heights, timestamps, tree sizes, `user_data_64`, sequence numbers): the 64-bit
//!   two's-complement bit pattern as a signed INTEGER / `bigint` (`v as i64`, read back with
//!   `v as u64`). Values above `i64::MAX` therefore look negative to SQL; the store only
//!   compares heights and sequence numbers in SQL, and those never get near 2^63.
//! - `u32` and `u16`: plain INTEGER (SQLite) / `bigint` and `integer` (PostgreSQL): lossless.

use std::collections::HashSet;
use std::ops::Range;

use ledger::types::{Account, AccountFlags, AccountId, BlockHeader};

use crate::{BlockRecord, BlockWrite, StoreError};

pub(crate) fn u64_to_sql(v: u64) -> i64 {
    v as i64
}

pub(crate) fn u64_from_sql(v: i64) -> u64 {
    v as u64
}

pub(crate) fn corrupt(height: u64, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        height,
        reason: reason.into(),
    }
}

/// A write the store refuses before writing anything (a bug in the caller): reported as
/// `Corrupt` naming the block, since storing it would make a block that cannot be handed back
/// as it was given.
pub(crate) fn refuse(height: u64, reason: impl std::fmt::Display) -> StoreError {
    corrupt(height, format!("refusing to store block: {reason}"))
}

/// A fixed-length blob, or `Corrupt` naming `height` and the column.
pub(crate) fn fixed<const N: usize>(
    bytes: Option<&[u8]>,
    height: u64,
    what: &str,
) -> Result<[u8; N], StoreError> {
    match bytes {
        Some(b) => b.try_into().map_err(|_| {
            corrupt(
                height,
                format!("{what}: expected {N} bytes, found {}", b.len()),
            )
        }),
        None => Err(corrupt(height, format!("{what}: missing or not a blob"))),
    }
}

pub(crate) fn u128_col(bytes: Option<&[u8]>, height: u64, what: &str) -> Result<u128, StoreError> {
    fixed::<16>(bytes, height, what).map(u128::from_be_bytes)
}

pub(crate) fn u64_col(v: Option<i64>, height: u64, what: &str) -> Result<u64, StoreError> {
    v.map(u64_from_sql)
        .ok_or_else(|| corrupt(height, format!("{what}: missing or not an integer")))
}

pub(crate) fn u32_col(v: Option<i64>, height: u64, what: &str) -> Result<u32, StoreError> {
    let v = v.ok_or_else(|| corrupt(height, format!("{what}: missing or not an integer")))?;
    u32::try_from(v).map_err(|_| corrupt(height, format!("{what}: {v} is out of range for u32")))
}

pub(crate) fn u16_col(v: Option<i64>, height: u64, what: &str) -> Result<u16, StoreError> {
    let v = v.ok_or_else(|| corrupt(height, format!("{what}: missing or not an integer")))?;
    u16::try_from(v).map_err(|_| corrupt(height, format!("{what}: {v} is out of range for u16")))
}

/// The end of the stored chain.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Tip {
    /// The next height.
    pub next_height: u64,
    /// Transfers stored (the Merkle log's size): the next transfer's `seq`.
    pub tree_size: u64,
    /// Accounts created so far: the next account's `seq`.
    pub accounts: u64,
}

/// Checks a batch before anything is written. Heights must continue the chain
/// ([`StoreError::OutOfOrder`]); each body must match its header, the log's size must grow by
/// each block's transfer count, and created accounts must have zero balances (see [`refuse`]).
pub(crate) fn validate(tip: Tip, writes: &[BlockWrite]) -> Result<(), StoreError> {
    let mut tree_size = tip.tree_size;
    for (expected, w) in (tip.next_height..).zip(writes) {
        let h: &BlockHeader = &w.block.header;
        if h.height != expected {
            return Err(StoreError::OutOfOrder {
                expected,
                got: h.height,
            });
        }
        if w.block.transfers.len() != h.transfer_count as usize {
            return Err(refuse(
                h.height,
                format!(
                    "header says {} transfers, body has {}",
                    h.transfer_count,
                    w.block.transfers.len()
                ),
            ));
        }
        if w.block.accounts.len() != h.account_count as usize {
            return Err(refuse(
                h.height,
                format!(
                    "header says {} accounts, body has {}",
                    h.account_count,
                    w.block.accounts.len()
                ),
            ));
        }
        if tree_size.checked_add(u64::from(h.transfer_count)) != Some(h.tree_size) {
            return Err(refuse(
                h.height,
                format!(
                    "tree_size {} does not follow the stored log size {} plus {} transfers",
                    h.tree_size, tree_size, h.transfer_count
                ),
            ));
        }
        if let Some(a) = w.block.accounts.iter().find(|a| {
            a.debits_pending != 0
                || a.debits_posted != 0
                || a.credits_pending != 0
                || a.credits_posted != 0
        }) {
            return Err(refuse(
                h.height,
                format!("created account {} has non-zero balances", a.id),
            ));
        }
        tree_size = h.tree_size;
    }
    Ok(())
}

/// One account row created by the batch.
pub(crate) struct Created<'a> {
    pub height: u64,
    /// Its `seq`: the number of accounts created before it.
    pub seq: u64,
    /// Flags at creation (kept so the block's body can be handed back as created).
    pub created_flags: u16,
    /// The row to store: its latest state in the batch.
    pub row: &'a Account,
}

/// The account rows one append writes.
pub(crate) struct AccountPlan<'a> {
    /// Accounts created by the batch, in block and creation order, with their latest state.
    pub created: Vec<Created<'a>>,
    /// Latest rows of other changed accounts (the last write in the batch wins), in id order,
    /// with the height of the block that last changed them.
    pub updates: Vec<(u64, &'a Account)>,
    /// The `seq` of each block's first created account.
    pub first_account: Vec<u64>,
}

impl<'a> AccountPlan<'a> {
    /// Plans the rows of `writes` (already validated) after `tip`. Refuses an account created
    /// twice in the batch.
    pub fn new(tip: Tip, writes: &'a [BlockWrite]) -> Result<AccountPlan<'a>, StoreError> {
        // Latest state of each changed account: stable sort by id, keep the last of each run.
        let mut changed: Vec<(u64, &Account)> = writes
            .iter()
            .flat_map(|w| {
                w.accounts_changed
                    .iter()
                    .map(|a| (w.block.header.height, a))
            })
            .collect();
        changed.sort_by_key(|(_, a)| a.id);
        let mut latest: Vec<(u64, &Account)> = Vec::with_capacity(changed.len());
        for c in changed {
            match latest.last_mut() {
                Some(last) if last.1.id == c.1.id => *last = c,
                _ => latest.push(c),
            }
        }
        let find = |id: AccountId| {
            latest
                .binary_search_by_key(&id, |(_, a)| a.id)
                .ok()
                .map(|i| latest[i].1)
        };

        let mut created = Vec::new();
        let mut created_ids = HashSet::new();
        let mut first_account = Vec::with_capacity(writes.len());
        let mut seq = tip.accounts;
        for w in writes {
            first_account.push(seq);
            for a in &w.block.accounts {
                if !created_ids.insert(a.id) {
                    return Err(refuse(
                        w.block.header.height,
                        format!("account {} is created twice", a.id),
                    ));
                }
                created.push(Created {
                    height: w.block.header.height,
                    seq,
                    created_flags: a.flags.bits(),
                    row: find(a.id).unwrap_or(a),
                });
                seq += 1;
            }
        }
        let updates = if created_ids.is_empty() {
            latest
        } else {
            latest
                .into_iter()
                .filter(|(_, a)| !created_ids.contains(&a.id))
                .collect()
        };
        Ok(AccountPlan {
            created,
            updates,
            first_account,
        })
    }
}

/// The error for a changed account the store has no row for.
pub(crate) fn unknown_account(height: u64, id: AccountId) -> StoreError {
    refuse(
        height,
        format!("account {id} is changed but was never created"),
    )
}

/// The leaf-index range of each block's transfers, `[tree_size - transfer_count, tree_size)`,
/// checking that consecutive blocks' ranges meet.
pub(crate) fn transfer_ranges(blocks: &[BlockRecord]) -> Result<Vec<Range<u64>>, StoreError> {
    let mut out: Vec<Range<u64>> = Vec::with_capacity(blocks.len());
    for b in blocks {
        let h = &b.header;
        let start = h
            .tree_size
            .checked_sub(u64::from(h.transfer_count))
            .ok_or_else(|| {
                corrupt(
                    h.height,
                    format!(
                        "tree_size {} is smaller than transfer_count {}",
                        h.tree_size, h.transfer_count
                    ),
                )
            })?;
        if let Some(prev) = out.last()
            && prev.end != start
        {
            return Err(corrupt(
                h.height,
                format!(
                    "tree_size {} minus {} transfers does not meet the previous block's {}",
                    h.tree_size, h.transfer_count, prev.end
                ),
            ));
        }
        out.push(start..h.tree_size);
    }
    Ok(out)
}

/// The account-`seq` range of each block's created accounts, from the stored `first_account`
/// of each block, checking that consecutive blocks' ranges meet.
pub(crate) fn account_ranges(
    blocks: &[BlockRecord],
    first_account: &[u64],
) -> Result<Vec<Range<u64>>, StoreError> {
    let mut out: Vec<Range<u64>> = Vec::with_capacity(blocks.len());
    for (b, &start) in blocks.iter().zip(first_account) {
        let h = &b.header;
        if let Some(prev) = out.last()
            && prev.end != start
        {
            return Err(corrupt(
                h.height,
                format!(
                    "first account {start} does not follow the previous block's accounts (next is {})",
                    prev.end
                ),
            ));
        }
        let end = start
            .checked_add(u64::from(h.account_count))
            .ok_or_else(|| corrupt(h.height, format!("first account {start} is out of range")))?;
        out.push(start..end);
    }
    Ok(out)
}

/// Which part of a block a [`RangeFill`] fills.
pub(crate) trait Part {
    type Item;
    const NAME: &'static str;
    fn items(b: &mut BlockRecord) -> &mut Vec<Self::Item>;
}

pub(crate) struct Transfers;

impl Part for Transfers {
    type Item = ledger::types::Transfer;
    const NAME: &'static str = "transfer";
    fn items(b: &mut BlockRecord) -> &mut Vec<Self::Item> {
        &mut b.transfers
    }
}

pub(crate) struct Accounts;

impl Part for Accounts {
    type Item = Account;
    const NAME: &'static str = "created account";
    fn items(b: &mut BlockRecord) -> &mut Vec<Self::Item> {
        &mut b.accounts
    }
}

/// Distributes rows read in `seq` order into the blocks whose `seq` ranges hold them, checking
/// that every block gets exactly its rows: a missing, extra or misplaced row is `Corrupt`
/// naming the block.
pub(crate) struct RangeFill<'a, P: Part> {
    blocks: &'a mut [BlockRecord],
    ranges: &'a [Range<u64>],
    current: usize,
    part: std::marker::PhantomData<P>,
}

impl<'a, P: Part> RangeFill<'a, P> {
    pub fn new(blocks: &'a mut [BlockRecord], ranges: &'a [Range<u64>]) -> RangeFill<'a, P> {
        for (b, r) in blocks.iter_mut().zip(ranges) {
            P::items(b).reserve_exact((r.end - r.start) as usize);
        }
        RangeFill {
            blocks,
            ranges,
            current: 0,
            part: std::marker::PhantomData,
        }
    }

    /// The block a `seq` belongs to (for naming it in errors).
    pub fn height_for(&self, seq: Option<u64>) -> u64 {
        let i = match seq {
            Some(s) => self.ranges.partition_point(|r| r.end <= s),
            None => self.current,
        };
        self.blocks[i.min(self.blocks.len() - 1)].header.height
    }

    fn complete(&mut self, i: usize) -> Result<(), StoreError> {
        let want = self.ranges[i].end - self.ranges[i].start;
        let b = &mut self.blocks[i];
        let have = P::items(b).len() as u64;
        if have != want {
            return Err(corrupt(
                b.header.height,
                format!(
                    "{have} stored {}s, the header says {want} ({} {} is missing)",
                    P::NAME,
                    P::NAME,
                    self.ranges[i].start + have
                ),
            ));
        }
        Ok(())
    }

    pub fn push(&mut self, seq: u64, height: u64, item: P::Item) -> Result<(), StoreError> {
        while self.current < self.blocks.len() && seq >= self.ranges[self.current].end {
            self.complete(self.current)?;
            self.current += 1;
        }
        let Some(b) = self.blocks.get_mut(self.current) else {
            return Err(corrupt(
                height,
                format!("{} {seq} is outside the blocks read", P::NAME),
            ));
        };
        let expected = self.ranges[self.current].start + P::items(b).len() as u64;
        if seq != expected {
            return Err(corrupt(
                b.header.height,
                format!(
                    "{} {expected} is missing: fewer stored {}s than the header's count {}",
                    P::NAME,
                    P::NAME,
                    self.ranges[self.current].end - self.ranges[self.current].start
                ),
            ));
        }
        if height != b.header.height {
            return Err(corrupt(
                b.header.height,
                format!("{} {seq} is stored as part of block {height}", P::NAME),
            ));
        }
        P::items(b).push(item);
        Ok(())
    }

    pub fn finish(mut self) -> Result<(), StoreError> {
        for i in self.current..self.blocks.len() {
            self.complete(i)?;
        }
        Ok(())
    }
}

/// Bytes of one logged balance: seq (8), four balances (16 each), flags (2).
pub(crate) const LOGGED_BALANCE_LEN: usize = 8 + 4 * 16 + 2;

/// An account's balances and flags as the balance log keeps them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LoggedBalance {
    pub balances: [u128; 4],
    pub flags: u16,
}

impl LoggedBalance {
    pub(crate) fn of(account: &Account) -> LoggedBalance {
        let balances = [
            account.debits_pending,
            account.debits_posted,
            account.credits_pending,
            account.credits_posted,
        ];
        LoggedBalance {
            balances,
            flags: account.flags.bits(),
        }
    }

    pub(crate) fn encode(&self, seq: i64, out: &mut Vec<u8>) {
        out.extend_from_slice(&seq.to_be_bytes());
        for balance in self.balances {
            out.extend_from_slice(&balance.to_be_bytes());
        }
        out.extend_from_slice(&self.flags.to_be_bytes());
    }

    pub(crate) fn decode(bytes: &[u8]) -> (i64, LoggedBalance) {
        let seq = i64::from_be_bytes(bytes[0..8].try_into().expect("8 bytes"));
        let balance = |i: usize| {
            u128::from_be_bytes(bytes[8 + 16 * i..24 + 16 * i].try_into().expect("16 bytes"))
        };
        let flags = u16::from_be_bytes(bytes[72..74].try_into().expect("2 bytes"));
        (
            seq,
            LoggedBalance {
                balances: [balance(0), balance(1), balance(2), balance(3)],
                flags,
            },
        )
    }

    pub(crate) fn apply(&self, account: &mut Account) {
        let [
            debits_pending,
            debits_posted,
            credits_pending,
            credits_posted,
        ] = self.balances;
        account.debits_pending = debits_pending;
        account.debits_posted = debits_posted;
        account.credits_pending = credits_pending;
        account.credits_posted = credits_posted;
        account.flags = AccountFlags(self.flags);
    }
}

/// Adds the entries of one `balance_log` row to `latest` (later rows win), refusing a row
/// that does not hold whole entries.
pub(crate) fn decode_balance_log_row(
    height: u64,
    bytes: &[u8],
    latest: &mut std::collections::HashMap<i64, LoggedBalance>,
) -> Result<(), StoreError> {
    if !bytes.len().is_multiple_of(LOGGED_BALANCE_LEN) {
        return Err(corrupt(height, "balance log row has a partial entry"));
    }
    for entry in bytes.chunks_exact(LOGGED_BALANCE_LEN) {
        let (seq, balance) = LoggedBalance::decode(entry);
        latest.insert(seq, balance);
    }
    Ok(())
}

/// Pending statuses as stored (`pending_status.status`). A pending transfer without a row
/// is still pending.
pub(crate) const STATUS_POSTED: i64 = 2;
pub(crate) const STATUS_VOIDED: i64 = 3;
pub(crate) const STATUS_EXPIRED: i64 = 4;

/// The status a post or void gives its pending transfer; `None` for other transfers.
pub(crate) fn resolution_status(flags: ledger::types::TransferFlags) -> Option<i64> {
    use ledger::types::TransferFlags;
    if flags.contains(TransferFlags::POST_PENDING_TRANSFER) {
        Some(STATUS_POSTED)
    } else if flags.contains(TransferFlags::VOID_PENDING_TRANSFER) {
        Some(STATUS_VOIDED)
    } else {
        None
    }
}

/// A transfer's pending status from its flags and its stored status row (if any).
pub(crate) fn pending_status(
    flags: ledger::types::TransferFlags,
    stored: Option<i64>,
) -> Result<Option<ledger::engine::PendingStatus>, StoreError> {
    use ledger::engine::PendingStatus;
    if !flags.contains(ledger::types::TransferFlags::PENDING) {
        return Ok(None);
    }
    match stored {
        None => Ok(Some(PendingStatus::Pending)),
        Some(STATUS_POSTED) => Ok(Some(PendingStatus::Posted)),
        Some(STATUS_VOIDED) => Ok(Some(PendingStatus::Voided)),
        Some(STATUS_EXPIRED) => Ok(Some(PendingStatus::Expired)),
        Some(other) => Err(corrupt(0, format!("unknown pending status {other}"))),
    }
}

/// A failed transfer's result from its stored wire name.
pub(crate) fn transfer_result(
    name: &str,
) -> Result<ledger::types::CreateTransferResult, StoreError> {
    let all = ledger::types::CreateTransferResult::ALL.iter();
    let found = all.copied().find(|result| result.as_str() == name);
    found.ok_or_else(|| corrupt(0, format!("unknown transfer result {name:?}")))
}
