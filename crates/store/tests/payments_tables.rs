//! The payments context's tables (`store::tables::payments`) on every backend: rows written
//! in the ledger's transaction read back field for field, and each query answers what a
//! naive filter over the written rows answers. The PostgreSQL variants need
//! `MILEVERSE_TEST_DATABASE_URL` (see `suite.rs`).

use std::sync::Arc;

mod common;

use store::Store;
use store::tables::RowRef;
use store::tables::payments::{
    AuthorizationFilter, AuthorizationRow, AuthorizationStatus, CancelKind, CancelRow,
    CancelStatus, PAYMENTS_PAGE_MAX, authorization, authorization_by_van_tx, authorizations_page,
    cancels, open_authorizations,
};

fn authorization_row(id: u128, merchant_id: u128, created_at_s: u64) -> AuthorizationRow {
    let status = AuthorizationStatus::ALL[(id % 5) as usize];
    AuthorizationRow {
        id,
        merchant_id,
        terminal_id: merchant_id * 10 + 1,
        member_id: id % 7,
        van_tx_id: format!("tx-{id}"),
        request_digest: (!id.is_multiple_of(3)).then(|| format!("{id:064x}")),
        amount: 1_000 + id as u64,
        capture: id.is_multiple_of(2),
        allow_partial: id.is_multiple_of(4),
        status,
        decline_reason: (status == AuthorizationStatus::Declined).then(|| "used_code".into()),
        approved_amount: 900,
        captured_amount: 800,
        refunded_amount: 100,
        network_cancelled: id.is_multiple_of(11),
        created_at_s,
        captured_at_s: (status == AuthorizationStatus::Captured).then_some(created_at_s + 5),
        settlement_id: (id.is_multiple_of(6)).then_some(u128::MAX - id),
        voucher_id: (id.is_multiple_of(8)).then_some(id << 64),
    }
}

fn rows(rows: &[AuthorizationRow]) -> Vec<RowRef> {
    rows.iter()
        .map(|row| Arc::new(row.clone()) as RowRef)
        .collect()
}

/// 60 authorizations of two merchants; times repeat, so pages must order by (time, id).
fn seeded() -> Vec<AuthorizationRow> {
    (1..=60u128)
        .map(|id| authorization_row(id, 1 + id % 2, 1_000 + (id as u64 % 9) * 10))
        .collect()
}

fn round_trip_and_lookups(s: &mut dyn Store) {
    let seeded = seeded();
    s.append_with_rows(&[], &rows(&seeded)).unwrap();
    let mut read = s.tables().unwrap();
    for row in &seeded {
        assert_eq!(
            authorization(&mut read, row.id).unwrap().as_ref(),
            Some(row)
        );
        let by_van_tx = authorization_by_van_tx(&mut read, row.merchant_id, &row.van_tx_id);
        assert_eq!(by_van_tx.unwrap().as_ref(), Some(row));
    }
    assert_eq!(authorization(&mut read, 999).unwrap(), None);
    let other_merchant = authorization_by_van_tx(&mut read, 3, &seeded[0].van_tx_id);
    assert_eq!(other_merchant.unwrap(), None);
    drop(read);

    // A later write of the same id replaces the row (a status change).
    let mut captured = seeded[0].clone();
    captured.status = AuthorizationStatus::Captured;
    captured.captured_at_s = Some(9_999);
    captured.settlement_id = None;
    s.append_with_rows(&[], &rows(std::slice::from_ref(&captured)))
        .unwrap();
    let mut read = s.tables().unwrap();
    assert_eq!(
        authorization(&mut read, captured.id).unwrap(),
        Some(captured)
    );
}

/// Every (merchant, status, window, page size) walked page by page equals the naive filter.
fn pages_equal_the_naive_filter(s: &mut dyn Store) {
    let seeded = seeded();
    s.append_with_rows(&[], &rows(&seeded)).unwrap();
    let statuses = [
        None,
        Some(AuthorizationStatus::Captured),
        Some(AuthorizationStatus::Pending),
    ];
    for merchant_id in [1, 2, 3] {
        for status in statuses {
            for (from_s, to_s) in [(0, u64::MAX), (1_020, 1_060), (1_080, 1_081)] {
                for limit in [1, 3, 7, PAYMENTS_PAGE_MAX] {
                    let mut expected: Vec<&AuthorizationRow> = seeded
                        .iter()
                        .filter(|row| row.merchant_id == merchant_id)
                        .filter(|row| status.is_none_or(|status| row.status == status))
                        .filter(|row| row.created_at_s >= from_s && row.created_at_s < to_s)
                        .collect();
                    expected.sort_unstable_by_key(|row| (row.created_at_s, row.id));
                    let mut walked = Vec::new();
                    let mut after = None;
                    loop {
                        let filter = AuthorizationFilter {
                            merchant_id,
                            status,
                            from_s,
                            to_s,
                            after,
                            limit,
                        };
                        let page = authorizations_page(&mut s.tables().unwrap(), &filter).unwrap();
                        assert!(page.len() <= limit);
                        let Some(last) = page.last() else { break };
                        after = Some((last.created_at_s, last.id));
                        let full = page.len() == limit;
                        walked.extend(page);
                        if !full {
                            break;
                        }
                    }
                    let walked: Vec<&AuthorizationRow> = walked.iter().collect();
                    assert_eq!(
                        walked, expected,
                        "{merchant_id} {status:?} {from_s} {limit}"
                    );
                }
            }
        }
    }
    for limit in [0, PAYMENTS_PAGE_MAX + 1] {
        let filter = AuthorizationFilter {
            merchant_id: 1,
            status: None,
            from_s: 0,
            to_s: u64::MAX,
            after: None,
            limit,
        };
        assert!(authorizations_page(&mut s.tables().unwrap(), &filter).is_err());
    }
}

fn open_work_and_cancels(s: &mut dyn Store) {
    let seeded = seeded();
    let cancel = |authorization_id: u128, key: &str, status: CancelStatus| CancelRow {
        authorization_id,
        key: key.into(),
        requested_amount: (key == "b").then_some(50),
        kind: if key == "a" {
            CancelKind::Void
        } else {
            CancelKind::Refund
        },
        amount: 50,
        transfer_id: authorization_id + 1_000,
        status,
        created_at_s: 2_000,
        settlement_id: (key == "b").then_some(7),
    };
    let mut all = rows(&seeded);
    let written = [
        cancel(5, "b", CancelStatus::Pending),
        cancel(5, "a", CancelStatus::Done),
    ];
    all.extend(written.iter().map(|row| Arc::new(row.clone()) as RowRef));
    // The pending refund finishes: a later write of the same key replaces it.
    let done = cancel(5, "b", CancelStatus::Done);
    all.push(Arc::new(done.clone()));
    s.append_with_rows(&[], &all).unwrap();
    let mut read = s.tables().unwrap();
    assert_eq!(
        cancels(&mut read, 5).unwrap(),
        vec![written[1].clone(), done]
    );
    assert_eq!(cancels(&mut read, 6).unwrap(), vec![]);

    let pending: Vec<u128> = seeded
        .iter()
        .filter(|row| row.status == AuthorizationStatus::Pending)
        .map(|row| row.id)
        .collect();
    let mut walked = Vec::new();
    let mut after = None;
    loop {
        let page = open_authorizations(&mut read, after, 4).unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        walked.extend(page.iter().map(|row| row.id));
    }
    assert_eq!(walked, pending);
}

/// SQL backends refuse a second authorization under a merchant's `van_tx_id`, and the
/// refusal takes the whole append with it.
fn van_tx_ids_are_unique_per_merchant(s: &mut dyn Store) {
    let first = authorization_row(1, 1, 1_000);
    s.append_with_rows(&[], &rows(std::slice::from_ref(&first)))
        .unwrap();
    let mut twin = authorization_row(2, 1, 1_000);
    twin.van_tx_id = first.van_tx_id.clone();
    let other = authorization_row(3, 1, 1_000);
    assert!(
        s.append_with_rows(&[], &rows(&[other.clone(), twin]))
            .is_err()
    );
    let mut read = s.tables().unwrap();
    assert_eq!(authorization(&mut read, other.id).unwrap(), None);
    assert_eq!(authorization(&mut read, 2).unwrap(), None);
}

mod memory {
    #[test]
    fn round_trip_and_lookups() {
        super::round_trip_and_lookups(&mut store::memory::MemoryStore::new());
    }
    #[test]
    fn pages_equal_the_naive_filter() {
        super::pages_equal_the_naive_filter(&mut store::memory::MemoryStore::new());
    }
    #[test]
    fn open_work_and_cancels() {
        super::open_work_and_cancels(&mut store::memory::MemoryStore::new());
    }
}

for_sql_backends!(
    round_trip_and_lookups,
    pages_equal_the_naive_filter,
    open_work_and_cancels,
    van_tx_ids_are_unique_per_merchant,
);

/// A store at schema version 4 (before the payments tables) gets them when opened, and
/// keeps what it had.
#[test]
fn sqlite_migration_5_adds_the_payments_tables() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("old.db");
    let meta = store::StoreMeta {
        operator_public_key: [3; 32],
    };
    {
        let mut s = store::sqlite::SqliteStore::open(&path).unwrap();
        s.init(&meta).unwrap();
        s.connection()
            .execute_batch(common::SQLITE_DROP_MIGRATION_8)
            .unwrap();
        s.connection()
            .execute_batch(
                "DROP TABLE authorizations; DROP TABLE authorization_cancels; DROP TABLE records;
                 PRAGMA user_version = 4;",
            )
            .unwrap();
    }
    let mut s = store::sqlite::SqliteStore::open(&path).unwrap();
    let version: i64 = s
        .connection()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, store::sqlite::SCHEMA_VERSION);
    assert_eq!(
        s.meta().unwrap(),
        Some(meta),
        "the store keeps its pinned key"
    );
    round_trip_and_lookups(&mut s);
}
