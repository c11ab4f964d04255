//! The operators' health records (`store::tables::health`) and the exchanges' daily volume
//! (`store::tables::volume`) on both SQL backends: verifications keep the newest
//! `VERIFICATIONS_KEPT_MAX`, reconciliations the newest `RECONCILIATIONS_KEPT_MAX` per
//! partner with their mismatches, pages walk newest first; exchange totals equal a naive
//! fold. The PostgreSQL variants need `MILEVERSE_TEST_DATABASE_URL` (see `suite.rs`).

use std::sync::Arc;

mod common;

use store::Store;
use store::tables::RowRef;
use store::tables::health::{
    HealthWrite, MISMATCHES_KEPT_MAX, RECONCILIATIONS_KEPT_MAX, RECONCILIATIONS_PAGE_MAX,
    ReconciliationRow, VERIFICATIONS_KEPT_MAX, VerificationRow, latest_verification,
    reconciliations_page,
};

fn verification(id: u128, at_s: u64, ok: bool) -> VerificationRow {
    VerificationRow {
        id,
        at_s,
        ok,
        block_count: id as u64,
        tree_size: 2 * id as u64,
        root: ok.then_some([id as u8; 32]),
        duration_ms: 5,
        message: if ok {
            String::new()
        } else {
            "block 3 is bad".into()
        },
    }
}

fn reconciliation(id: u128, partner_id: u128, mismatches: usize) -> ReconciliationRow {
    ReconciliationRow {
        id,
        partner_id,
        from_s: 1_000,
        to_s: 2_000,
        at_s: 3_000 + id as u64,
        checked: 10,
        matched: 10 - mismatches.min(10) as u64,
        unreachable: 0,
        mismatch_count: mismatches as u64,
        mismatches: (0..mismatches)
            .map(|n| {
                (
                    n as u128 + 1,
                    "completed".to_string(),
                    "NotFound \"x\",y".to_string(),
                )
            })
            .collect(),
    }
}

fn append(s: &mut dyn Store, writes: Vec<HealthWrite>) {
    let rows: Vec<RowRef> = writes.into_iter().map(|w| Arc::new(w) as RowRef).collect();
    s.append_with_rows(&[], &rows).unwrap();
}

/// The newest verification wins; past the maximum the oldest go, in the commit that adds.
fn verifications_keep_the_newest(s: &mut dyn Store) {
    assert_eq!(latest_verification(&mut s.tables().unwrap()).unwrap(), None);
    let total = VERIFICATIONS_KEPT_MAX as u128 + 3;
    let writes = (1..=total)
        .map(|id| {
            HealthWrite::Verification(verification(id, 100 + id as u64, id.is_multiple_of(2)))
        })
        .collect();
    append(s, writes);
    let latest = latest_verification(&mut s.tables().unwrap()).unwrap();
    assert_eq!(
        latest,
        Some(verification(
            total,
            100 + total as u64,
            total.is_multiple_of(2)
        ))
    );
    let count = {
        let mut read = s.tables().unwrap();
        let rows =
            store::tables::sql::query(&mut read, "SELECT count(*) FROM ledger_verifications", &[])
                .unwrap();
        rows.into_iter().next().unwrap().uint().unwrap()
    };
    assert_eq!(count, VERIFICATIONS_KEPT_MAX);
}

/// A partner's reconciliations page newest first, keep their mismatches (the first
/// `MISMATCHES_KEPT_MAX`), stay the partner's own, and the oldest go past the maximum.
fn reconciliations_page_newest_first_per_partner(s: &mut dyn Store) {
    let (alpha, beta) = (10, 20);
    let total = RECONCILIATIONS_KEPT_MAX as u128 + 2;
    let mut writes: Vec<HealthWrite> = (1..=total)
        .map(|id| HealthWrite::Reconciliation(reconciliation(id, alpha, (id % 3) as usize)))
        .collect();
    writes.push(HealthWrite::Reconciliation(reconciliation(
        total + 1,
        beta,
        MISMATCHES_KEPT_MAX + 5,
    )));
    append(s, writes);
    let mut read = s.tables().unwrap();
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page =
            reconciliations_page(&mut read, alpha, before, RECONCILIATIONS_PAGE_MAX).unwrap();
        assert!(page.len() <= RECONCILIATIONS_PAGE_MAX);
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        seen.extend(page);
    }
    let expected: Vec<ReconciliationRow> = (3..=total)
        .rev()
        .map(|id| reconciliation(id, alpha, (id % 3) as usize))
        .collect();
    assert_eq!(seen, expected);
    let theirs = reconciliations_page(&mut read, beta, None, 5).unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].mismatch_count, MISMATCHES_KEPT_MAX as u64 + 5);
    assert_eq!(theirs[0].mismatches.len(), MISMATCHES_KEPT_MAX);
    assert_eq!(
        theirs[0].mismatches[0],
        (1, "completed".into(), "NotFound \"x\",y".into())
    );
}

for_sql_backends!(
    verifications_keep_the_newest,
    reconciliations_page_newest_first_per_partner,
);
