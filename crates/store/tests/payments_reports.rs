//! The payments context's reads across merchants and the settlement's marking
//! (`store::tables::payments::{reports, settlement}`), and the platform's keyed records in
//! the ledger's transaction (`store::tables::records`), on every backend, each against a
//! naive computation over the rows written. The PostgreSQL variants need
//! `MILEVERSE_TEST_DATABASE_URL` (see `suite.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

mod common;

use store::Store;
use store::records::{Record, RecordWrite};
use store::tables::RowRef;
use store::tables::payments::reports::{approved_page, counted, member_paid_since};
use store::tables::payments::{
    AuthorizationRow, AuthorizationStatus, CancelKind, CancelRow, CancelStatus, MerchantSums,
    PAYMENTS_PAGE_MAX, SettlementMark, cancel_by_key, has_unsettled, settled_sums, unsettled_sums,
};
use store::tables::records::{RecordRow, is_empty, load};
use store::tables::volume::{
    DayTotal, PartyTotal, Period, TOP_MAX, payments_by_day, top_merchants,
};

const MERCHANTS: u128 = 3;

/// 300 authorizations of three merchants and five members, every status, times repeating;
/// every fourth captured one refunded in part, once done and once failed.
fn seeded() -> (Vec<AuthorizationRow>, Vec<CancelRow>) {
    let mut authorizations = Vec::new();
    let mut cancels = Vec::new();
    for id in 1..=300u128 {
        let status = AuthorizationStatus::ALL[(id % 5) as usize];
        let at_s = 1_000 + (id as u64 % 17) * 10;
        let amount = 1_000 + id as u64 * 3;
        authorizations.push(AuthorizationRow {
            id,
            merchant_id: 1 + id % MERCHANTS,
            terminal_id: 7,
            member_id: 1 + id % 5,
            van_tx_id: format!("tx-{id}"),
            request_digest: None,
            amount,
            capture: true,
            allow_partial: false,
            status,
            decline_reason: None,
            approved_amount: amount - 10,
            captured_amount: amount - 20,
            refunded_amount: 0,
            network_cancelled: false,
            created_at_s: at_s,
            captured_at_s: (status == AuthorizationStatus::Captured).then_some(at_s + 3),
            settlement_id: None,
            voucher_id: id.is_multiple_of(13).then_some(id << 64),
        });
        if status == AuthorizationStatus::Captured && id.is_multiple_of(4) {
            for (key, status) in [("r-1", CancelStatus::Done), ("r-2", CancelStatus::Failed)] {
                cancels.push(CancelRow {
                    authorization_id: id,
                    key: format!("{key}-{id}"),
                    requested_amount: Some(100),
                    kind: CancelKind::Refund,
                    amount: 100,
                    transfer_id: id << 8,
                    status,
                    created_at_s: at_s + 5,
                    settlement_id: None,
                });
            }
        }
    }
    (authorizations, cancels)
}

fn write(s: &mut dyn Store, authorizations: &[AuthorizationRow], cancels: &[CancelRow]) {
    let mut rows: Vec<RowRef> = Vec::new();
    rows.extend(
        authorizations
            .iter()
            .map(|row| Arc::new(row.clone()) as RowRef),
    );
    rows.extend(cancels.iter().map(|row| Arc::new(row.clone()) as RowRef));
    s.append_with_rows(&[], &rows).unwrap();
}

/// The naive sums of the items up to `until_s` that no run took.
fn naive_open(
    authorizations: &[AuthorizationRow],
    cancels: &[CancelRow],
    until_s: u64,
) -> Vec<MerchantSums> {
    let mut sums: BTreeMap<u128, MerchantSums> = BTreeMap::new();
    for row in authorizations {
        let open = row.status == AuthorizationStatus::Captured
            && row.captured_at_s.is_some_and(|at| at <= until_s);
        if open {
            let entry = sums.entry(row.merchant_id).or_default();
            entry.merchant_id = row.merchant_id;
            entry.captured += row.captured_amount;
        }
    }
    for cancel in cancels {
        let done = cancel.status == CancelStatus::Done && cancel.created_at_s <= until_s;
        if done {
            let merchant_id = authorizations[cancel.authorization_id as usize - 1].merchant_id;
            let entry = sums.entry(merchant_id).or_default();
            entry.merchant_id = merchant_id;
            entry.refunded += cancel.amount;
        }
    }
    sums.into_values().collect()
}

/// A run's marking, chunk by chunk (chunks of 7, so every merchant takes several), takes
/// exactly the open items; a second run up to the same time finds nothing.
fn settlement_marks_like_the_naive_sums(s: &mut dyn Store) {
    let (authorizations, cancels) = seeded();
    write(s, &authorizations, &cancels);
    let until_s = 1_100;
    let expected = naive_open(&authorizations, &cancels, until_s);
    assert!(expected.len() as u128 == MERCHANTS && expected.iter().all(|m| m.refunded > 0));
    assert_eq!(
        unsettled_sums(&mut s.tables().unwrap(), until_s).unwrap(),
        expected
    );
    let run_id = 77;
    for merchant in &expected {
        let mut chunks = 0;
        while has_unsettled(&mut s.tables().unwrap(), merchant.merchant_id, until_s).unwrap() {
            let mark = SettlementMark {
                run_id,
                merchant_id: merchant.merchant_id,
                until_s,
                chunk: 7,
            };
            s.append_with_rows(&[], &[Arc::new(mark) as RowRef])
                .unwrap();
            chunks += 1;
            assert!(chunks < 100, "marking never ends");
        }
        assert!(chunks > 1, "several chunks per merchant");
    }
    assert_eq!(
        settled_sums(&mut s.tables().unwrap(), run_id).unwrap(),
        expected
    );
    assert!(
        unsettled_sums(&mut s.tables().unwrap(), until_s)
            .unwrap()
            .is_empty()
    );
    // Later items stay for a later run.
    let later = naive_open(&authorizations, &cancels, u64::MAX);
    let left = unsettled_sums(&mut s.tables().unwrap(), u64::MAX).unwrap();
    let left_total: u64 = left.iter().map(|m| m.captured).sum();
    let later_total: u64 = later.iter().map(|m| m.captured).sum();
    let taken_total: u64 = expected.iter().map(|m| m.captured).sum();
    assert_eq!(left_total, later_total - taken_total);
}

/// A member's day, every approved payment page by page, and cancels by key.
fn reports_equal_the_naive_filters(s: &mut dyn Store) {
    let (authorizations, cancels) = seeded();
    write(s, &authorizations, &cancels);
    let mut read = s.tables().unwrap();
    for member_id in 1..=5 {
        for from_s in [0, 1_050, 1_160, 5_000, u64::MAX] {
            let naive: u64 = authorizations
                .iter()
                .filter(|row| row.member_id == member_id && row.created_at_s >= from_s)
                .map(counted)
                .sum();
            assert_eq!(
                member_paid_since(&mut read, member_id, from_s).unwrap(),
                naive
            );
        }
    }
    let mut naive: Vec<&AuthorizationRow> = authorizations
        .iter()
        .filter(|row| {
            matches!(
                row.status,
                AuthorizationStatus::Authorized
                    | AuthorizationStatus::Captured
                    | AuthorizationStatus::Voided
            )
        })
        .collect();
    naive.sort_by_key(|row| (row.created_at_s, row.id));
    for limit in [1, 7, PAYMENTS_PAGE_MAX] {
        let mut after = None;
        let mut seen = Vec::new();
        loop {
            let page = approved_page(&mut read, after, limit).unwrap();
            assert!(page.len() <= limit);
            let Some(last) = page.last() else { break };
            after = Some((last.created_at_s, last.id));
            seen.extend(page);
        }
        let naive: Vec<AuthorizationRow> = naive.iter().map(|row| (*row).clone()).collect();
        assert_eq!(seen, naive, "limit {limit}");
    }
    let cancel = &cancels[0];
    let merchant_id = authorizations[cancel.authorization_id as usize - 1].merchant_id;
    let found = cancel_by_key(&mut read, merchant_id, &cancel.key).unwrap();
    assert_eq!(found, Some(cancel.authorization_id));
    let other = merchant_id % MERCHANTS + 1;
    assert_eq!(cancel_by_key(&mut read, other, &cancel.key).unwrap(), None);
}

/// Records written as rows load back in (kind, key) byte order, a later write of a key wins
/// and a delete removes it, as the record store's own rules say.
fn records_load_in_byte_order(s: &mut dyn Store) {
    assert!(is_empty(&mut s.tables().unwrap()).unwrap());
    let record = |kind: &str, key: &[u8], value: &[u8]| Record {
        kind: kind.into(),
        key: key.to_vec(),
        value: value.to_vec(),
    };
    let writes = [
        RecordWrite::Put(record("member", b"\x02", b"two")),
        RecordWrite::Put(record("member", b"\x01", b"one")),
        RecordWrite::Put(record("member", b"\x01\x00", b"longer")),
        RecordWrite::Put(record("memberx", b"", b"kind after")),
        RecordWrite::Put(record("link", b"\xff", b"gone")),
        RecordWrite::Put(record("member", b"\x02", b"two again")),
    ];
    let rows: Vec<RowRef> = writes
        .into_iter()
        .map(|write| Arc::new(RecordRow(write)) as RowRef)
        .collect();
    s.append_with_rows(&[], &rows).unwrap();
    let delete = RecordRow(RecordWrite::Delete {
        kind: "link".into(),
        key: b"\xff".to_vec(),
    });
    s.append_with_rows(&[], &[Arc::new(delete) as RowRef])
        .unwrap();
    let loaded = load(&mut s.tables().unwrap()).unwrap();
    let expected = vec![
        record("member", b"\x01", b"one"),
        record("member", b"\x01\x00", b"longer"),
        record("member", b"\x02", b"two again"),
        record("memberx", b"", b"kind after"),
    ];
    assert_eq!(loaded, expected);
    assert!(!is_empty(&mut s.tables().unwrap()).unwrap());
    // A write the records' rules refuse (an empty kind) fails the append: nothing written.
    let bad = RecordRow(RecordWrite::Put(record("", b"k", b"v")));
    let good = RecordRow(RecordWrite::Put(record("member", b"\x09", b"nine")));
    let refused = s.append_with_rows(&[], &[Arc::new(good) as RowRef, Arc::new(bad) as RowRef]);
    assert!(refused.is_err());
    assert_eq!(load(&mut s.tables().unwrap()).unwrap(), expected);
}

/// The dashboard's payment volume per day and its top stores, each equal to a naive fold
/// over the held and captured rows. The seeded times span 1,000 to 1,160 s: a zone offset of
/// 85,310 s puts a day boundary at 1,090 s, so the whole period spans two days.
fn payment_volume_equals_the_naive_fold(s: &mut dyn Store) {
    let (authorizations, cancels) = seeded();
    write(s, &authorizations, &cancels);
    let mut read = s.tables().unwrap();
    let paid = |row: &AuthorizationRow| match row.status {
        AuthorizationStatus::Authorized => row.approved_amount,
        _ => row.captured_amount,
    };
    for (from_s, to_s, offset_s) in [(0, u64::MAX, 85_310), (1_050, 1_120, 0), (5_000, 6_000, 0)] {
        let period = Period {
            from_s,
            to_s,
            offset_s,
        };
        let kept = authorizations.iter().filter(|row| {
            (from_s..to_s).contains(&row.created_at_s)
                && matches!(
                    row.status,
                    AuthorizationStatus::Authorized | AuthorizationStatus::Captured
                )
        });
        let mut days: BTreeMap<u64, DayTotal> = BTreeMap::new();
        let mut stores: BTreeMap<u128, PartyTotal> = BTreeMap::new();
        for row in kept {
            let day = (row.created_at_s + offset_s) / 86_400;
            let total = days.entry(day).or_insert(DayTotal {
                day,
                ..DayTotal::default()
            });
            total.count += 1;
            total.amount += paid(row);
            total.refunded += row.refunded_amount;
            let store = stores.entry(row.merchant_id).or_insert(PartyTotal {
                id: row.merchant_id,
                count: 0,
                amount: 0,
            });
            store.count += 1;
            store.amount += paid(row);
        }
        let naive_days: Vec<DayTotal> = days.into_values().collect();
        assert_eq!(
            payments_by_day(&mut read, period).unwrap(),
            naive_days,
            "{period:?}"
        );
        if from_s == 0 {
            assert_eq!(naive_days.len(), 2, "the offset splits the seeded times");
        }
        let mut naive_top: Vec<PartyTotal> = stores.into_values().collect();
        naive_top.sort_by(|a, b| b.amount.cmp(&a.amount).then(a.id.cmp(&b.id)));
        for limit in [1, 2, TOP_MAX] {
            let top = top_merchants(&mut read, period, limit).unwrap();
            assert_eq!(
                top,
                naive_top[..limit.min(naive_top.len())],
                "{period:?} {limit}"
            );
        }
    }
}

for_each_backend!(
    payment_volume_equals_the_naive_fold,
    settlement_marks_like_the_naive_sums,
    reports_equal_the_naive_filters,
    records_load_in_byte_order,
);
