//! The conversion context's tables (`store::tables::conversions`) on every backend: wallet
//! addresses, conversions and the settings written in the ledger's transaction read back as
//! written (every column, set or not; u128 amounts to `u128::MAX`) and are replaced by
//! their key; every conversion query matches a naive model of the rows (pages walk every
//! row once, in order; a member's converted MVP since a time; open conversions); a member's
//! key used twice is refused and the failing append writes none of its rows; pages stop at
//! their maximum. The rows' serde form is the platform's JSON (records from before
//! `tx_hash` and `block_number` decode too). The PostgreSQL variants need
//! `MILEVERSE_TEST_DATABASE_URL` (see `suite.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

mod common;

use common::Dice;

use store::Store;
use store::tables::conversions::{
    self, CONVERSIONS_PAGE_MAX, ConversionRow, ConversionStatus, ConversionWrite, SettingsRow,
    WalletAddressRow,
};
use store::tables::{RowRef, TableRead};

fn write(s: &mut dyn Store, writes: Vec<ConversionWrite>) {
    common::append_rows(s, writes).unwrap();
}

/// 10^30 wei: a trillion MVC, beyond 2^64 and far below 2^127.
const WEI_1E30: u128 = 1_000_000_000_000_000_000_000_000_000_000;

/// An address of the member's own (its bytes differ from one another).
fn address_of(member_id: u128) -> [u8; 20] {
    let mut address = [0; 20];
    address[..16].copy_from_slice(&member_id.to_be_bytes());
    address[16..].copy_from_slice(&[0xDE, 0xAD, 0xBE, 0xEF]);
    address
}

fn conversion(id: u128, member_id: u128) -> ConversionRow {
    ConversionRow {
        id,
        member_id,
        address: address_of(member_id),
        mvp: 1_000,
        mvc_wei: 100 * 1_000_000_000_000_000_000,
        mvp_per_mvc: 10,
        status: ConversionStatus::Requested,
        failure: None,
        idempotency_key: None,
        created_at_s: 1_700_000_000,
        finished_at_s: None,
        tx_hash: None,
        block_number: None,
    }
}

fn an_empty_table_answers_nothing(s: &mut dyn Store) {
    let mut read = s.tables().unwrap();
    let read = &mut read;
    assert_eq!(conversions::address(read, 1).unwrap(), None);
    assert_eq!(conversions::conversion(read, 1).unwrap(), None);
    assert_eq!(conversions::conversion_by_key(read, 1, "k").unwrap(), None);
    assert_eq!(conversions::member_converted_since(read, 1, 0).unwrap(), 0);
    assert!(
        conversions::open_conversions(read, None, 10)
            .unwrap()
            .is_empty()
    );
    assert!(
        conversions::conversions_page(read, None, 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(conversions::settings(read).unwrap(), None);
}

fn addresses_read_back_and_are_replaced(s: &mut dyn Store) {
    let first = WalletAddressRow {
        member_id: 7,
        address: [0x11; 20],
        proved_at_s: 1_700_000_000,
    };
    let edges = WalletAddressRow {
        member_id: u128::MAX,
        address: [0xFF; 20],
        proved_at_s: (1 << 63) - 1,
    };
    let zero = WalletAddressRow {
        member_id: 0,
        address: [0; 20],
        proved_at_s: 0,
    };
    let rows = [first.clone(), edges.clone(), zero.clone()];
    write(
        s,
        rows.iter().cloned().map(ConversionWrite::Address).collect(),
    );
    let mut read = s.tables().unwrap();
    for row in &rows {
        let found = conversions::address(&mut read, row.member_id).unwrap();
        assert_eq!(found.as_ref(), Some(row));
    }
    assert_eq!(conversions::address(&mut read, 8).unwrap(), None);
    drop(read);

    // The member proves another address: it replaces the first (one address a member).
    let again = WalletAddressRow {
        member_id: 7,
        address: address_of(99),
        proved_at_s: 1_700_000_500,
    };
    write(s, vec![ConversionWrite::Address(again.clone())]);
    let mut read = s.tables().unwrap();
    assert_eq!(conversions::address(&mut read, 7).unwrap(), Some(again));
    assert_eq!(
        conversions::address(&mut read, u128::MAX).unwrap(),
        Some(edges)
    );
    assert_eq!(conversions::address(&mut read, 0).unwrap(), Some(zero));

    // A time of 2^63 or more is refused before it is written.
    let huge = WalletAddressRow {
        member_id: 9,
        address: [9; 20],
        proved_at_s: 1 << 63,
    };
    let rows: Vec<RowRef> = vec![Arc::new(ConversionWrite::Address(huge))];
    drop(read);
    assert!(s.append_with_rows(&[], &rows).is_err());
    assert_eq!(
        conversions::address(&mut s.tables().unwrap(), 9).unwrap(),
        None
    );
}

fn conversions_read_back_as_written(s: &mut dyn Store) {
    let bare = conversion(1 << 100 | 1, 5);
    let full = ConversionRow {
        id: u128::MAX,
        member_id: u128::MAX - 1,
        address: [0xFF; 20],
        mvp: (1 << 63) - 1,
        mvc_wei: u128::MAX,
        mvp_per_mvc: (1 << 63) - 1,
        status: ConversionStatus::Completed,
        failure: Some("none, but kept".into()),
        idempotency_key: Some("convert-2026-0001".into()),
        created_at_s: (1 << 63) - 1,
        finished_at_s: Some((1 << 63) - 1),
        tx_hash: Some(format!("0x{}", "ab".repeat(32))),
        block_number: Some((1 << 63) - 1),
    };
    let mut tiny = conversion(2, 0);
    tiny.address = [0; 20];
    tiny.mvp = 1;
    tiny.mvc_wei = 0;
    tiny.mvp_per_mvc = 1;
    tiny.status = ConversionStatus::Failed;
    tiny.failure = Some(String::new());
    tiny.idempotency_key = Some(String::new());
    tiny.created_at_s = 0;
    tiny.finished_at_s = Some(0);
    tiny.tx_hash = Some(String::new());
    tiny.block_number = Some(0);
    let mut big = conversion(3, 5);
    big.mvc_wei = WEI_1E30;
    big.address = [
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
    ];
    let rows = [bare, full, tiny, big];
    write(
        s,
        rows.iter()
            .cloned()
            .map(ConversionWrite::Conversion)
            .collect(),
    );
    let mut read = s.tables().unwrap();
    for row in &rows {
        let found = conversions::conversion(&mut read, row.id).unwrap();
        assert_eq!(found.as_ref(), Some(row));
    }
    let found = conversions::conversion(&mut read, 3).unwrap().unwrap();
    assert_eq!(found.mvc_wei, WEI_1E30);
    assert_eq!(found.address[19], 20);
    drop(read);

    // A replace changes every column but the id: the saga completes, with another key.
    let mut changed = rows[0].clone();
    changed.member_id = 6;
    changed.address = [0x42; 20];
    changed.mvp = 5_000;
    changed.mvc_wei = WEI_1E30 + 1;
    changed.mvp_per_mvc = 3;
    changed.status = ConversionStatus::Completed;
    changed.failure = Some("kept".into());
    changed.idempotency_key = Some("again".into());
    changed.created_at_s = 10;
    changed.finished_at_s = Some(20);
    changed.tx_hash = Some("0x01".into());
    changed.block_number = Some(19_000_000);
    write(s, vec![ConversionWrite::Conversion(changed.clone())]);
    let mut tables = s.tables().unwrap();
    let read = &mut tables;
    assert_eq!(
        conversions::conversion(read, changed.id).unwrap(),
        Some(changed.clone())
    );
    assert_eq!(
        conversions::conversion_by_key(read, 6, "again").unwrap(),
        Some(changed.clone())
    );
    assert_eq!(
        conversions::member_converted_since(read, 6, 0).unwrap(),
        5_000
    );
    assert_eq!(
        conversions::member_converted_since(read, 5, 0).unwrap(),
        1_000
    );
    let open: Vec<u128> = conversions::open_conversions(read, None, 10)
        .unwrap()
        .iter()
        .map(|row| row.id)
        .collect();
    assert_eq!(open, vec![3]);
    drop(tables);
    // And back: the optional columns unset again.
    let mut back = changed;
    back.status = ConversionStatus::Requested;
    back.failure = None;
    back.idempotency_key = None;
    back.finished_at_s = None;
    back.tx_hash = None;
    back.block_number = None;
    write(s, vec![ConversionWrite::Conversion(back.clone())]);
    let mut read = s.tables().unwrap();
    assert_eq!(
        conversions::conversion(&mut read, back.id).unwrap(),
        Some(back)
    );
    assert_eq!(
        conversions::conversion_by_key(&mut read, 6, "again").unwrap(),
        None
    );
}

const MEMBERS: u128 = 5;

/// Conversions of every status over a few members and a few times (ties of time that only
/// the id breaks), some with keys (a key repeated across members); ids spread over the
/// whole 128 bits (so byte order, not length, sorts them).
fn random_conversions(dice: &mut Dice, count: u128) -> BTreeMap<u128, ConversionRow> {
    let mut model = BTreeMap::new();
    for index in 1..=count {
        let id = u128::from(dice.roll(u64::MAX)) << 64 | index;
        let member_id = u128::from(dice.roll(MEMBERS as u64)) + 1;
        let mut row = conversion(id, member_id);
        row.status = ConversionStatus::ALL[dice.roll(3) as usize];
        row.mvp = 1 + dice.roll(100_000);
        row.mvp_per_mvc = 1 + dice.roll(20);
        row.mvc_wei = u128::from(row.mvp) * 1_000_000_000_000_000_000 / u128::from(row.mvp_per_mvc);
        row.created_at_s = 1_000 + dice.roll(400);
        if row.status != ConversionStatus::Requested {
            row.finished_at_s = Some(row.created_at_s + dice.roll(100));
        }
        if row.status == ConversionStatus::Failed {
            row.failure = Some(format!("bridge refused ({index})"));
        }
        if row.status == ConversionStatus::Completed {
            row.tx_hash = Some(format!("0x{index:064x}"));
            row.block_number = Some(19_000_000 + dice.roll(1_000));
        }
        if dice.roll(3) == 0 {
            row.idempotency_key = Some(format!("key-{}", index % 40));
        }
        model.insert(id, row);
    }
    // A key is unique per member: keep the first conversion's.
    let mut seen = std::collections::BTreeSet::new();
    for row in model.values_mut() {
        if let Some(key) = &row.idempotency_key
            && !seen.insert((row.member_id, key.clone()))
        {
            row.idempotency_key = None;
        }
    }
    model
}

/// Most rows a walk takes before it is deemed not to end (a cursor that repeats a row).
const WALK_MAX: usize = 10_000;

/// Every row a paged query answers, page by page; asserts each page's bound and that the
/// walk ends.
fn walk<C: Copy>(
    page_size: usize,
    cursor_of: impl Fn(&ConversionRow) -> C,
    mut page: impl FnMut(Option<C>, usize) -> Vec<ConversionRow>,
) -> Vec<ConversionRow> {
    let mut walked = Vec::new();
    let mut cursor = None;
    loop {
        let rows = page(cursor, page_size);
        assert!(rows.len() <= page_size);
        let Some(last) = rows.last() else {
            return walked;
        };
        cursor = Some(cursor_of(last));
        walked.extend(rows);
        assert!(walked.len() <= WALK_MAX, "the walk does not end");
    }
}

fn created(row: &ConversionRow) -> (u64, u128) {
    (row.created_at_s, row.id)
}

/// Checks every conversion query against the model.
fn check_conversions(read: &mut TableRead<'_>, model: &BTreeMap<u128, ConversionRow>) {
    for (id, row) in model {
        assert_eq!(
            conversions::conversion(read, *id).unwrap().as_ref(),
            Some(row)
        );
        if let Some(key) = &row.idempotency_key {
            let found = conversions::conversion_by_key(read, row.member_id, key).unwrap();
            assert_eq!(found.as_ref(), Some(row));
            // Another member's key is not this member's.
            let other = conversions::conversion_by_key(read, row.member_id + 100, key).unwrap();
            assert_eq!(other, None);
        }
    }
    assert_eq!(conversions::conversion(read, 12345).unwrap(), None);
    for member_id in 1..=MEMBERS + 1 {
        for since_s in [0, 1_000, 1_005, 1_200, 1_399, 1_400, 5_000, u64::MAX] {
            let naive: u64 = model
                .values()
                .filter(|row| row.member_id == member_id && row.created_at_s >= since_s)
                .filter(|row| row.status != ConversionStatus::Failed)
                .map(|row| row.mvp)
                .sum();
            let converted = conversions::member_converted_since(read, member_id, since_s).unwrap();
            assert_eq!(converted, naive, "member {member_id} since {since_s}");
        }
    }
    let open: Vec<ConversionRow> = model
        .values()
        .filter(|row| row.status == ConversionStatus::Requested)
        .cloned()
        .collect();
    let mut newest_first: Vec<ConversionRow> = model.values().cloned().collect();
    newest_first.sort_by_key(created);
    newest_first.reverse();
    for page_size in [1, 7, CONVERSIONS_PAGE_MAX] {
        let walked = walk(
            page_size,
            |row| row.id,
            |after, limit| conversions::open_conversions(read, after, limit).unwrap(),
        );
        assert_eq!(walked, open, "open, pages of {page_size}");
        let walked = walk(page_size, created, |before, limit| {
            conversions::conversions_page(read, before, limit).unwrap()
        });
        assert_eq!(walked, newest_first, "newest first, pages of {page_size}");
    }
}

fn conversions_match_a_naive_model(s: &mut dyn Store) {
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
    let mut model = random_conversions(&mut dice, 300);
    let writes = model.values().cloned().map(ConversionWrite::Conversion);
    write(s, writes.collect());
    check_conversions(&mut s.tables().unwrap(), &model);

    // Sagas end: requested ones complete or fail.
    let mut changes = Vec::new();
    let moved: Vec<u128> = model
        .keys()
        .copied()
        .filter(|_| dice.roll(2) == 0)
        .collect();
    for id in moved {
        let row = model.get_mut(&id).unwrap();
        if row.status != ConversionStatus::Requested {
            continue;
        }
        row.finished_at_s = Some(row.created_at_s + 60);
        if dice.roll(2) == 0 {
            row.status = ConversionStatus::Completed;
            row.tx_hash = Some(format!("0x{id:064x}"));
            row.block_number = Some(19_500_000);
        } else {
            row.status = ConversionStatus::Failed;
            row.failure = Some("bridge refused".into());
        }
        changes.push(ConversionWrite::Conversion(row.clone()));
    }
    assert!(!changes.is_empty());
    write(s, changes);
    check_conversions(&mut s.tables().unwrap(), &model);
}

fn a_members_converted_mvp_counts_what_did_not_fail(s: &mut dyn Store) {
    let mut rows = Vec::new();
    for (id, member_id, status, mvp, created_at_s) in [
        (1, 1, ConversionStatus::Requested, 100, 1_000),
        (2, 1, ConversionStatus::Completed, 20, 1_500),
        (3, 1, ConversionStatus::Failed, 4_000, 1_500),
        (4, 1, ConversionStatus::Completed, 3, 999),
        (5, 2, ConversionStatus::Completed, 50_000, 1_200),
    ] {
        let mut row = conversion(id, member_id);
        row.status = status;
        row.mvp = mvp;
        row.created_at_s = created_at_s;
        rows.push(ConversionWrite::Conversion(row));
    }
    write(s, rows);
    let mut read = s.tables().unwrap();
    let read = &mut read;
    assert_eq!(
        conversions::member_converted_since(read, 1, 0).unwrap(),
        123
    );
    assert_eq!(
        conversions::member_converted_since(read, 1, 999).unwrap(),
        123
    );
    assert_eq!(
        conversions::member_converted_since(read, 1, 1_000).unwrap(),
        120
    );
    assert_eq!(
        conversions::member_converted_since(read, 1, 1_001).unwrap(),
        20
    );
    assert_eq!(
        conversions::member_converted_since(read, 1, 1_501).unwrap(),
        0
    );
    assert_eq!(
        conversions::member_converted_since(read, 2, 0).unwrap(),
        50_000
    );
    assert_eq!(conversions::member_converted_since(read, 3, 0).unwrap(), 0);
}

fn a_sum_beyond_the_bigint_range_is_an_error(s: &mut dyn Store) {
    // Two conversions whose MVP together exceed 2^63 - 1: the sum fails, never wraps.
    let mut first = conversion(1, 1);
    first.mvp = (1 << 62) + 1;
    let mut second = conversion(2, 1);
    second.mvp = 1 << 62;
    write(
        s,
        vec![
            ConversionWrite::Conversion(first),
            ConversionWrite::Conversion(second),
        ],
    );
    let mut read = s.tables().unwrap();
    assert!(conversions::member_converted_since(&mut read, 1, 0).is_err());
}

fn settings_are_one_row(s: &mut dyn Store) {
    assert_eq!(
        conversions::settings(&mut s.tables().unwrap()).unwrap(),
        None
    );
    let first = SettingsRow {
        mvp_per_mvc: 10,
        minimum_mvp: 10,
        daily_limit_mvp: 1_000_000,
        enabled: true,
    };
    write(s, vec![ConversionWrite::Settings(first)]);
    assert_eq!(
        conversions::settings(&mut s.tables().unwrap()).unwrap(),
        Some(first)
    );
    let second = SettingsRow {
        mvp_per_mvc: 1,
        minimum_mvp: 0,
        daily_limit_mvp: 0,
        enabled: false,
    };
    write(s, vec![ConversionWrite::Settings(second)]);
    assert_eq!(
        conversions::settings(&mut s.tables().unwrap()).unwrap(),
        Some(second)
    );
    // A rate of 0 is refused by the table's check (and the settings stay as they were).
    let zero_rate = SettingsRow {
        mvp_per_mvc: 0,
        ..second
    };
    let rows: Vec<RowRef> = vec![Arc::new(ConversionWrite::Settings(zero_rate))];
    assert!(s.append_with_rows(&[], &rows).is_err());
    assert_eq!(
        conversions::settings(&mut s.tables().unwrap()).unwrap(),
        Some(second)
    );
}

fn a_key_used_twice_is_refused(s: &mut dyn Store) {
    let mut first = conversion(1, 1);
    first.idempotency_key = Some("k".into());
    write(s, vec![ConversionWrite::Conversion(first.clone())]);

    // The member's key again: the unique index refuses it, and the rows before it in the
    // same append go with it.
    let mut same_key = conversion(3, 1);
    same_key.idempotency_key = Some("k".into());
    let address = WalletAddressRow {
        member_id: 1,
        address: [7; 20],
        proved_at_s: 5,
    };
    let settings = SettingsRow {
        mvp_per_mvc: 10,
        minimum_mvp: 10,
        daily_limit_mvp: 100,
        enabled: true,
    };
    let rows: Vec<RowRef> = vec![
        Arc::new(ConversionWrite::Address(address)),
        Arc::new(ConversionWrite::Settings(settings)),
        Arc::new(ConversionWrite::Conversion(conversion(2, 1))),
        Arc::new(ConversionWrite::Conversion(same_key)),
    ];
    assert!(s.append_with_rows(&[], &rows).is_err());
    // The checks of the columns: no MVP, a rate of 0.
    let mut nothing = conversion(4, 1);
    nothing.mvp = 0;
    let rows: Vec<RowRef> = vec![Arc::new(ConversionWrite::Conversion(nothing))];
    assert!(s.append_with_rows(&[], &rows).is_err());
    let mut no_rate = conversion(5, 1);
    no_rate.mvp_per_mvc = 0;
    let rows: Vec<RowRef> = vec![Arc::new(ConversionWrite::Conversion(no_rate))];
    assert!(s.append_with_rows(&[], &rows).is_err());
    // An amount of 2^63 or more is refused before it is written.
    let mut huge = conversion(6, 1);
    huge.mvp = 1 << 63;
    let rows: Vec<RowRef> = vec![Arc::new(ConversionWrite::Conversion(huge))];
    assert!(s.append_with_rows(&[], &rows).is_err());
    // Another member may use the same key.
    let mut other = conversion(7, 2);
    other.idempotency_key = Some("k".into());
    write(s, vec![ConversionWrite::Conversion(other.clone())]);

    let mut read = s.tables().unwrap();
    let read = &mut read;
    for id in [2, 3, 4, 5, 6] {
        assert_eq!(conversions::conversion(read, id).unwrap(), None);
    }
    assert_eq!(conversions::address(read, 1).unwrap(), None);
    assert_eq!(conversions::settings(read).unwrap(), None);
    assert_eq!(
        conversions::conversion_by_key(read, 1, "k").unwrap(),
        Some(first)
    );
    assert_eq!(
        conversions::conversion_by_key(read, 2, "k").unwrap(),
        Some(other)
    );
    assert_eq!(
        conversions::member_converted_since(read, 1, 0).unwrap(),
        1_000
    );
}

fn pages_stop_at_their_maximum(s: &mut dyn Store) {
    let total = CONVERSIONS_PAGE_MAX as u128 + 1;
    let mut writes = Vec::new();
    for id in 1..=total {
        let mut row = conversion(id, 1 + id % 3);
        row.created_at_s = 1_000 + (id / 2) as u64;
        writes.push(ConversionWrite::Conversion(row));
    }
    write(s, writes);
    let mut read = s.tables().unwrap();
    let read = &mut read;
    let max = CONVERSIONS_PAGE_MAX;
    for limit in [max, max + 1, usize::MAX] {
        let page = conversions::open_conversions(read, None, limit).unwrap();
        assert_eq!(page.len(), max, "a page of {limit}");
        assert_eq!(page.first().unwrap().id, 1);
        assert_eq!(page.last().unwrap().id, total - 1);
        let page = conversions::conversions_page(read, None, limit).unwrap();
        assert_eq!(page.len(), max, "a page of {limit}");
        assert_eq!(page.first().unwrap().id, total);
        assert_eq!(page.last().unwrap().id, 2);
    }
    assert!(
        conversions::open_conversions(read, None, 0)
            .unwrap()
            .is_empty()
    );
    assert!(
        conversions::conversions_page(read, None, 0)
            .unwrap()
            .is_empty()
    );
    // The rest after a full page.
    let rest = conversions::open_conversions(read, Some(total - 1), max).unwrap();
    assert_eq!(
        rest.iter().map(|row| row.id).collect::<Vec<_>>(),
        vec![total]
    );
    let rest = conversions::conversions_page(read, Some((1_001, 2)), max).unwrap();
    assert_eq!(rest.iter().map(|row| row.id).collect::<Vec<_>>(), vec![1]);
}

for_each_backend!(
    an_empty_table_answers_nothing,
    addresses_read_back_and_are_replaced,
    conversions_read_back_as_written,
    conversions_match_a_naive_model,
    a_members_converted_mvp_counts_what_did_not_fail,
    a_sum_beyond_the_bigint_range_is_an_error,
    settings_are_one_row,
    a_key_used_twice_is_refused,
    pages_stop_at_their_maximum,
);

#[test]
fn statuses_name_themselves() {
    let names = ["requested", "completed", "failed"];
    for (status, name) in ConversionStatus::ALL.into_iter().zip(names) {
        assert_eq!(status.as_str(), name);
        assert_eq!(ConversionStatus::parse(name), Some(status));
        let json = serde_json::to_string(&status).unwrap();
        assert_eq!(json, format!("\"{name}\""));
    }
    assert_eq!(ConversionStatus::parse("Requested"), None);
    assert_eq!(ConversionStatus::parse("reversed"), None);
    assert_eq!(ConversionStatus::parse(""), None);
}

#[test]
fn the_bridge_id_is_the_id_left_padded() {
    let row = conversion(0x0102_0304_0506_0708_090A_0B0C_0D0E_0F10, 1);
    let bridge_id = row.bridge_id();
    assert_eq!(bridge_id[..16], [0; 16]);
    assert_eq!(
        bridge_id[16..],
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    );
    let mut highest = [0xFF; 32];
    highest[..16].copy_from_slice(&[0; 16]);
    assert_eq!(conversion(u128::MAX, 1).bridge_id(), highest);
    assert_eq!(conversion(0, 1).bridge_id(), [0; 32]);
}

#[test]
fn rows_round_trip_through_the_platforms_json() {
    let mut row = conversion(3 << 100 | 9, u128::MAX);
    row.mvc_wei = u128::MAX;
    row.idempotency_key = Some("k-1".into());
    row.tx_hash = Some("0xabc".into());
    row.block_number = Some(19_000_001);
    row.address = [
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE,
        0xFF, 0x01, 0x23, 0x45, 0x67,
    ];
    let json = serde_json::to_string(&row).unwrap();
    assert_eq!(serde_json::from_str::<ConversionRow>(&json).unwrap(), row);
    assert!(
        json.contains("\"address\":\"00112233445566778899aabbccddeeff01234567\""),
        "{json}"
    );
    assert!(json.contains("\"status\":\"requested\""), "{json}");
    assert!(
        json.contains(&format!("\"mvc_wei\":{}", u128::MAX)),
        "{json}"
    );
    let mut bare = row.clone();
    bare.tx_hash = None;
    bare.block_number = None;
    bare.mvc_wei = WEI_1E30;
    let json = serde_json::to_string(&bare).unwrap();
    assert_eq!(serde_json::from_str::<ConversionRow>(&json).unwrap(), bare);

    // A record as the platform wrote it before `tx_hash` and `block_number` decodes into
    // the row: both are None.
    let record = format!(
        "{{\"id\":5,\"member_id\":7,\"address\":\"{}\",\"mvp\":1000,\
         \"mvc_wei\":100000000000000000000,\"mvp_per_mvc\":10,\"status\":\"failed\",\
         \"failure\":\"bridge refused\",\"idempotency_key\":null,\"created_at_s\":10,\
         \"finished_at_s\":20}}",
        "ab".repeat(20)
    );
    let decoded: ConversionRow = serde_json::from_str(&record).unwrap();
    assert_eq!(
        decoded,
        ConversionRow {
            id: 5,
            member_id: 7,
            address: [0xAB; 20],
            mvp: 1_000,
            mvc_wei: 100 * 1_000_000_000_000_000_000,
            mvp_per_mvc: 10,
            status: ConversionStatus::Failed,
            failure: Some("bridge refused".into()),
            idempotency_key: None,
            created_at_s: 10,
            finished_at_s: Some(20),
            tx_hash: None,
            block_number: None,
        }
    );
    // An address that is not 20 bytes does not decode.
    let short = record.replace(&"ab".repeat(20), &"ab".repeat(19));
    assert!(serde_json::from_str::<ConversionRow>(&short).is_err());

    let address = WalletAddressRow {
        member_id: u128::MAX,
        address: [0x5A; 20],
        proved_at_s: 1_700_000_000,
    };
    let json = serde_json::to_string(&address).unwrap();
    assert_eq!(
        serde_json::from_str::<WalletAddressRow>(&json).unwrap(),
        address
    );
    let hex_address = "5a".repeat(20);
    assert_eq!(hex_address.len(), 40);
    assert!(
        json.contains(&format!("\"address\":\"{hex_address}\"")),
        "{json}"
    );
    let record = "{\"member_id\":3,\"address\":\"00000000000000000000000000000000000000ff\",\
                  \"proved_at_s\":42}";
    let decoded: WalletAddressRow = serde_json::from_str(record).unwrap();
    let mut expected = [0; 20];
    expected[19] = 0xFF;
    assert_eq!(
        decoded,
        WalletAddressRow {
            member_id: 3,
            address: expected,
            proved_at_s: 42,
        }
    );

    let settings = SettingsRow {
        mvp_per_mvc: 10,
        minimum_mvp: 10,
        daily_limit_mvp: 1_000_000,
        enabled: true,
    };
    let json = serde_json::to_string(&settings).unwrap();
    assert_eq!(
        json,
        "{\"mvp_per_mvc\":10,\"minimum_mvp\":10,\"daily_limit_mvp\":1000000,\"enabled\":true}"
    );
    assert_eq!(
        serde_json::from_str::<SettingsRow>(&json).unwrap(),
        settings
    );
}
