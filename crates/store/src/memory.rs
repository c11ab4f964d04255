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

use ledger::types::{Account, AccountBalance, AccountId};

use crate::codec::{self, Tip};
use crate::{BlockRecord, BlockWrite, Store, StoreError, StoreMeta};

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
    faults: FaultPlan,
    append_calls: u64,
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

    fn append(&mut self, writes: &[BlockWrite]) -> Result<(), StoreError> {
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
            inner.blocks.push(w.block.clone());
        }
        if fault == Some(FaultPoint::AfterWrite) {
            return Err(StoreError::Injected("append failed after writing"));
        }
        Ok(())
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
        Ok(inner.blocks[from..to].to_vec())
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
}
