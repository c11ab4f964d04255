//! Records held in memory, for tests, with fault injection.
//!
//! A [`MemoryRecords`] is a handle, like [`crate::memory::MemoryStore`]: clones share the
//! same records and fault plan, so a test can keep a clone, hand the other to the code under
//! test, and later "restart" on the same data, count `apply` calls, or arm new faults.
//!
//! ```
//! use store::records::{MemoryRecords, RecordFaults};
//! // The 2nd apply fails with `StoreError::Injected` and writes nothing.
//! let records = MemoryRecords::with_faults(RecordFaults::new().fail_apply(2));
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Record, RecordStore, RecordWrite, validate};
use crate::StoreError;
use crate::memory::FaultPoint;

/// Which operations of a [`MemoryRecords`] fail. Apply calls are counted from 1 and every
/// call counts, failed or not (see [`MemoryRecords::apply_calls`]).
#[derive(Clone, Debug, Default)]
pub struct RecordFaults {
    applies: BTreeMap<u64, FaultPoint>,
    applies_from: Option<u64>,
    loads: bool,
}

impl RecordFaults {
    /// No faults.
    pub fn new() -> RecordFaults {
        RecordFaults::default()
    }

    /// The `n`th apply call (1-based) fails with [`StoreError::Injected`], writing nothing
    /// (a failed transaction).
    pub fn fail_apply(mut self, n: u64) -> RecordFaults {
        self.applies.insert(n, FaultPoint::BeforeWrite);
        self
    }

    /// The `n`th apply call writes its batch, then fails with [`StoreError::Injected`] (a
    /// commit whose acknowledgement was lost).
    pub fn fail_apply_after_write(mut self, n: u64) -> RecordFaults {
        self.applies.insert(n, FaultPoint::AfterWrite);
        self
    }

    /// Every apply call from the `n`th on fails, writing nothing (a dead disk).
    pub fn fail_applies_from(mut self, n: u64) -> RecordFaults {
        self.applies_from = Some(n);
        self
    }

    /// Every `load` fails.
    pub fn fail_loads(mut self) -> RecordFaults {
        self.loads = true;
        self
    }

    fn apply_fault(&self, call: u64) -> Option<FaultPoint> {
        if let Some(p) = self.applies.get(&call) {
            return Some(*p);
        }
        match self.applies_from {
            Some(from) if call >= from => Some(FaultPoint::BeforeWrite),
            _ => None,
        }
    }
}

#[derive(Default)]
struct Inner {
    /// `(kind, key) -> value`; the tuple order is the order of `load`.
    records: BTreeMap<(String, Vec<u8>), Vec<u8>>,
    faults: RecordFaults,
    apply_calls: u64,
}

/// Records held in memory; clones share them (see the module docs).
#[derive(Clone, Default)]
pub struct MemoryRecords {
    inner: Arc<Mutex<Inner>>,
}

impl MemoryRecords {
    /// An empty store without faults.
    pub fn new() -> MemoryRecords {
        MemoryRecords::default()
    }

    /// An empty store that fails as `faults` says.
    pub fn with_faults(faults: RecordFaults) -> MemoryRecords {
        let records = MemoryRecords::new();
        records.set_faults(faults);
        records
    }

    /// Replaces the fault plan (for this handle and all its clones). Apply calls keep
    /// counting from where they were.
    pub fn set_faults(&self, faults: RecordFaults) {
        self.lock().faults = faults;
    }

    /// How many times `apply` was called so far, failed calls included.
    pub fn apply_calls(&self) -> u64 {
        self.lock().apply_calls
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking test thread must not poison the store for the others.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl RecordStore for MemoryRecords {
    fn load(&mut self) -> Result<Vec<Record>, StoreError> {
        let inner = self.lock();
        if inner.faults.loads {
            return Err(StoreError::Injected("load failed"));
        }
        Ok(inner
            .records
            .iter()
            .map(|((kind, key), value)| Record {
                kind: kind.clone(),
                key: key.clone(),
                value: value.clone(),
            })
            .collect())
    }

    fn apply(&mut self, writes: &[RecordWrite]) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.apply_calls += 1;
        let fault = inner.faults.apply_fault(inner.apply_calls);
        if fault == Some(FaultPoint::BeforeWrite) {
            return Err(StoreError::Injected("apply failed before writing"));
        }
        validate(writes)?;
        for w in writes {
            match w {
                RecordWrite::Put(r) => {
                    inner
                        .records
                        .insert((r.kind.clone(), r.key.clone()), r.value.clone());
                }
                RecordWrite::Delete { kind, key } => {
                    inner.records.remove(&(kind.clone(), key.clone()));
                }
            }
        }
        if fault == Some(FaultPoint::AfterWrite) {
            return Err(StoreError::Injected("apply failed after writing"));
        }
        Ok(())
    }
}
