//! An in-memory [`Store`] for benchmarks and tests, with fault injection.
//!
//! A [`MemoryStore`] is a handle: clones share the same blocks, accounts and fault plan. A
//! test can keep a clone, hand the other to the code under test, and later "restart" on the
//! same data (as if the process died and reopened a durable store), inspect how many appends
//! were tried, or arm a new [`FaultPlan`] while the code under test is running.
//!
//! ```
//! use store::memory::{FaultPlan, MemoryStore};
//! // The 2nd append fails with `StoreError::Injected` and writes nothing.
//! let store = MemoryStore::with_faults(FaultPlan::new().fail_append(2));
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use ledger::archive::TransferArchive;

use crate::tables::{MemoryTables, MemoryWrites, RowRef, TableRead, TableTx};
use ledger::engine::{FailedTransfer, StoredTransfer};
use ledger::types::{Account, AccountBalance, AccountId, Hash, Transfer, TransferId};

use crate::codec::{self, Tip};
use crate::{BlockRecord, BlockWrite, SnapshotRecord, Store, StoreError, StoreMeta};

/// Where an injected append fault strikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultPoint {
    /// The append fails and writes nothing (a failed transaction).
    BeforeWrite,
    /// The append writes everything, then reports failure (a commit whose acknowledgement
    /// was lost): the caller cannot tell from the error whether the blocks are durable.
    AfterWrite,
}

/// Which operations of a [`MemoryStore`] fail. Append calls are counted from 1 and every call
/// counts, failed or not (see [`MemoryStore::append_calls`]).
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    appends: BTreeMap<u64, FaultPoint>,
    appends_from: Option<(u64, FaultPoint)>,
    reads: bool,
}

impl FaultPlan {
    /// No faults.
    pub fn new() -> FaultPlan {
        FaultPlan::default()
    }

    /// The `n`th append call (1-based) fails with [`StoreError::Injected`], writing nothing.
    pub fn fail_append(mut self, n: u64) -> FaultPlan {
        self.appends.insert(n, FaultPoint::BeforeWrite);
        self
    }

    /// The `n`th append call writes its blocks and then fails with [`StoreError::Injected`].
    pub fn fail_append_after_write(mut self, n: u64) -> FaultPlan {
        self.appends.insert(n, FaultPoint::AfterWrite);
        self
    }

    /// Every append call from the `n`th on fails, writing nothing (a dead disk).
    pub fn fail_appends_from(mut self, n: u64) -> FaultPlan {
        self.appends_from = Some((n, FaultPoint::BeforeWrite));
        self
    }

    /// Every read (`block_count`, `read_blocks`, `accounts`, `account_history`) fails.
    pub fn fail_reads(mut self) -> FaultPlan {
        self.reads = true;
        self
    }

    fn append_fault(&self, call: u64) -> Option<FaultPoint> {
        if let Some(p) = self.appends.get(&call) {
            return Some(*p);
        }
        match self.appends_from {
            Some((from, p)) if call >= from => Some(p),
            _ => None,
        }
    }
}

#[derive(Default)]
struct Inner {
    meta: Option<StoreMeta>,
    blocks: Vec<BlockRecord>,
    accounts: foldhash::HashMap<AccountId, Account>,
    history: HashMap<AccountId, Vec<AccountBalance>>,
    transfers: TransferArchive,
    merkle_nodes: HashMap<(u32, u64), Hash>,
    snapshots: Vec<SnapshotRecord>,
    /// Every failed transfer with its block's height, in order.
    failed: Vec<(u64, FailedTransfer)>,
    faults: FaultPlan,
    append_calls: u64,
    tables: MemoryTables,
}

/// The memory backend's domain tables, locked for reading (see [`Store::tables`]).
pub struct TablesGuard<'a>(MutexGuard<'a, Inner>);

impl std::ops::Deref for TablesGuard<'_> {
    type Target = MemoryTables;

    fn deref(&self) -> &MemoryTables {
        &self.0.tables
    }
}

/// Blocks, accounts and history held in memory; clones share them (see the module docs).
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

impl MemoryStore {
    /// An empty store without faults.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// An empty store that fails as `plan` says.
    pub fn with_faults(plan: FaultPlan) -> MemoryStore {
        let store = MemoryStore::new();
        store.set_faults(plan);
        store
    }

    /// Replaces the fault plan (for this handle and all its clones). Append calls keep
    /// counting from where they were.
    pub fn set_faults(&self, plan: FaultPlan) {
        self.lock().faults = plan;
    }

    /// How many times `append` was called so far, failed calls included.
    pub fn append_calls(&self) -> u64 {
        self.lock().append_calls
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking test thread must not poison the store for the others.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read_guard(&self) -> Result<MutexGuard<'_, Inner>, StoreError> {
        let inner = self.lock();
        if inner.faults.reads {
            return Err(StoreError::Injected("read failed"));
        }
        Ok(inner)
    }
}

/// Refuses, before anything changes, an account created twice or a changed account that
/// was never created (checked block by block, as the blocks would apply).
fn check_accounts(
    stored: &foldhash::HashMap<AccountId, Account>,
    writes: &[BlockWrite],
) -> Result<(), StoreError> {
    let mut created_now = foldhash::HashSet::default();
    for w in writes {
        let height = w.block.header.height;
        for created in &w.block.accounts {
            if stored.contains_key(&created.id) || !created_now.insert(created.id) {
                return Err(codec::refuse(
                    height,
                    format!("account {} exists", created.id),
                ));
            }
        }
        for changed in &w.accounts_changed {
            if !stored.contains_key(&changed.id) && !created_now.contains(&changed.id) {
                return Err(codec::unknown_account(height, changed.id));
            }
        }
    }
    Ok(())
}

impl Store for MemoryStore {
    fn init(&mut self, meta: &StoreMeta) -> Result<StoreMeta, StoreError> {
        let mut inner = self.lock();
        Ok(inner.meta.get_or_insert_with(|| meta.clone()).clone())
    }

    fn meta(&mut self) -> Result<Option<StoreMeta>, StoreError> {
        Ok(self.lock().meta.clone())
    }

    fn append_with_rows(
        &mut self,
        writes: &[BlockWrite],
        rows: &[RowRef],
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.append_calls += 1;
        let fault = inner.faults.append_fault(inner.append_calls);
        if fault == Some(FaultPoint::BeforeWrite) {
            return Err(StoreError::Injected("append failed before writing"));
        }
        let tip = Tip {
            next_height: inner.blocks.len() as u64,
            tree_size: inner.blocks.last().map_or(0, |b| b.header.tree_size),
            accounts: 0,
        };
        codec::validate(tip, writes)?;
        check_accounts(&inner.accounts, writes)?;
        crate::tables::check_row_count(rows)?;
        // Rows are gathered first and applied with the blocks: a row that fails to write
        // leaves the store as it was.
        inner.tables.begin()?;
        let mut row_writes = MemoryWrites::new(&inner.tables);
        let written = rows
            .iter()
            .try_for_each(|row| row.write(&mut TableTx::Memory(&mut row_writes)));
        if let Err(error) = written {
            inner.tables.end(false)?;
            return Err(error);
        }
        let row_writes = row_writes.into_writes();
        for w in writes {
            for created in &w.block.accounts {
                inner.accounts.insert(created.id, *created);
            }
            for changed in &w.accounts_changed {
                inner.accounts.insert(changed.id, *changed);
            }
        }
        for w in writes {
            for b in &w.history {
                inner.history.entry(b.account_id).or_default().push(*b);
            }
            for node in &w.merkle_nodes {
                inner
                    .merkle_nodes
                    .insert((node.level, node.index), node.hash);
            }
            inner.transfers.record_parts(&w.block.transfers, &w.expired);
            inner.transfers.record_failed(&w.failed);
            let height = w.block.header.height;
            inner
                .failed
                .extend(w.failed.iter().map(|failed| (height, *failed)));
            // The transfers live once, in the archive; `read_blocks` puts them back.
            inner.blocks.push(BlockRecord {
                header: w.block.header,
                hash: w.block.hash,
                signature: w.block.signature,
                accounts: w.block.accounts.clone(),
                transfers: Vec::new(),
            });
        }
        inner.tables.apply(row_writes);
        inner.tables.end(true)?;
        if fault == Some(FaultPoint::AfterWrite) {
            return Err(StoreError::Injected("append failed after writing"));
        }
        Ok(())
    }

    fn tables(&mut self) -> Result<TableRead<'_>, StoreError> {
        Ok(TableRead::Memory(TablesGuard(self.read_guard()?)))
    }

    fn block_count(&mut self) -> Result<u64, StoreError> {
        Ok(self.read_guard()?.blocks.len() as u64)
    }

    fn read_blocks(
        &mut self,
        from_height: u64,
        limit: usize,
    ) -> Result<Vec<BlockRecord>, StoreError> {
        let inner = self.read_guard()?;
        let from = usize::try_from(from_height)
            .unwrap_or(usize::MAX)
            .min(inner.blocks.len());
        let to = from.saturating_add(limit).min(inner.blocks.len());
        let with_transfers = inner.blocks[from..to].iter().map(|block| {
            let header = &block.header;
            let first = header.tree_size - u64::from(header.transfer_count);
            let transfers = inner.transfers.leaves(first, header.tree_size);
            BlockRecord {
                transfers: transfers.copied().collect(),
                accounts: block.accounts.clone(),
                ..*block
            }
        });
        Ok(with_transfers.collect())
    }

    fn accounts(&mut self) -> Result<Vec<Account>, StoreError> {
        let mut accounts: Vec<Account> = self.read_guard()?.accounts.values().copied().collect();
        accounts.sort_unstable_by_key(|account| account.id);
        Ok(accounts)
    }

    fn account_history(&mut self, id: AccountId) -> Result<Vec<AccountBalance>, StoreError> {
        Ok(self
            .read_guard()?
            .history
            .get(&id)
            .cloned()
            .unwrap_or_default())
    }

    fn reader(&self) -> Result<Box<dyn Store>, StoreError> {
        Ok(Box::new(self.clone()))
    }

    fn lookup_transfers(&mut self, ids: &[TransferId]) -> Result<Vec<StoredTransfer>, StoreError> {
        Ok(self.read_guard()?.transfers.lookup(ids))
    }

    fn transfers_by_leaf(&mut self, from: u64, to: u64) -> Result<Vec<Transfer>, StoreError> {
        let inner = self.read_guard()?;
        let to = to.min(from.saturating_add(crate::LEAF_RANGE_MAX));
        Ok(inner.transfers.leaves(from, to).copied().collect())
    }

    fn merkle_node(&mut self, level: u32, index: u64) -> Result<Option<Hash>, StoreError> {
        Ok(self
            .read_guard()?
            .merkle_nodes
            .get(&(level, index))
            .copied())
    }

    fn transfers_at(&mut self, timestamps: &[u64]) -> Result<Vec<Transfer>, StoreError> {
        let inner = self.read_guard()?;
        let found = timestamps.iter();
        let mut out: Vec<Transfer> = found
            .filter_map(|timestamp| inner.transfers.at_timestamp(*timestamp).copied())
            .collect();
        out.sort_unstable_by_key(|t| t.timestamp);
        out.dedup();
        Ok(out)
    }

    fn write_snapshot(&mut self, snapshot: &SnapshotRecord) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.snapshots.push(snapshot.clone());
        let keep_from = inner.snapshots.len().saturating_sub(2);
        for old in &mut inner.snapshots[..keep_from] {
            old.state = Vec::new();
        }
        Ok(())
    }

    fn latest_snapshot(&mut self) -> Result<Option<SnapshotRecord>, StoreError> {
        Ok(self.read_guard()?.snapshots.last().cloned())
    }

    fn snapshot_headers(&mut self) -> Result<Vec<SnapshotRecord>, StoreError> {
        let inner = self.read_guard()?;
        let headers = inner.snapshots.iter().map(|snapshot| SnapshotRecord {
            state: Vec::new(),
            ..snapshot.clone()
        });
        Ok(headers.collect())
    }

    fn lookup_failed(&mut self, ids: &[TransferId]) -> Result<Vec<TransferId>, StoreError> {
        Ok(self.read_guard()?.transfers.lookup_failed(ids))
    }

    fn failed_transfers(
        &mut self,
        from_height: u64,
        to_height: u64,
    ) -> Result<Vec<(u64, FailedTransfer)>, StoreError> {
        let inner = self.read_guard()?;
        let first = inner
            .failed
            .partition_point(|(height, _)| *height < from_height);
        let rest = inner.failed[first..].iter();
        Ok(rest
            .take_while(|(height, _)| *height < to_height)
            .copied()
            .collect())
    }

    // Queries: this backend has no indexes and scans (it serves tests and benchmarks).

    fn account_transfers(
        &mut self,
        filter: &crate::query::AccountFilter,
    ) -> Result<Vec<Transfer>, StoreError> {
        let inner = self.read_guard()?;
        let Some(w) = filter.window() else {
            return Ok(Vec::new());
        };
        let all = inner.transfers.leaves(0, u64::MAX);
        let matching = |t: &&Transfer| filter.matches(t);
        Ok(if w.reversed {
            all.rev().filter(matching).take(w.limit).copied().collect()
        } else {
            all.filter(matching).take(w.limit).copied().collect()
        })
    }

    fn account_balances(
        &mut self,
        filter: &crate::query::AccountFilter,
    ) -> Result<Vec<AccountBalance>, StoreError> {
        let inner = self.read_guard()?;
        let Some(w) = filter.window() else {
            return Ok(Vec::new());
        };
        let history = inner.history.get(&filter.account_id).map_or(&[][..], |h| h);
        // Each entry's transfer has its timestamp.
        let matching = |b: &&AccountBalance| {
            (inner.transfers.at_timestamp(b.timestamp)).is_some_and(|t| filter.matches(t))
        };
        Ok(if w.reversed {
            history
                .iter()
                .rev()
                .filter(matching)
                .take(w.limit)
                .copied()
                .collect()
        } else {
            history
                .iter()
                .filter(matching)
                .take(w.limit)
                .copied()
                .collect()
        })
    }

    fn query_accounts(
        &mut self,
        filter: &crate::query::QueryFilter,
    ) -> Result<Vec<Account>, StoreError> {
        let inner = self.read_guard()?;
        let Some(w) = filter.window() else {
            return Ok(Vec::new());
        };
        let mut found: Vec<Account> = inner
            .accounts
            .values()
            .filter(|a| filter.matches_account(a))
            .copied()
            .collect();
        found.sort_unstable_by_key(|a| a.timestamp);
        if w.reversed {
            found.reverse();
        }
        found.truncate(w.limit);
        Ok(found)
    }

    fn query_transfers(
        &mut self,
        filter: &crate::query::QueryFilter,
    ) -> Result<Vec<Transfer>, StoreError> {
        let inner = self.read_guard()?;
        let Some(w) = filter.window() else {
            return Ok(Vec::new());
        };
        let all = inner.transfers.leaves(0, u64::MAX);
        let matching = |t: &&Transfer| filter.matches_transfer(t);
        Ok(if w.reversed {
            all.rev().filter(matching).take(w.limit).copied().collect()
        } else {
            all.filter(matching).take(w.limit).copied().collect()
        })
    }

    fn lookup_accounts(&mut self, ids: &[AccountId]) -> Result<Vec<Account>, StoreError> {
        let inner = self.read_guard()?;
        Ok(ids
            .iter()
            .filter_map(|id| inner.accounts.get(id).copied())
            .collect())
    }
}
