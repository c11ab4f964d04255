//! The pay codes' tables (`store::tables::paycodes`) on every backend: devices written in
//! the ledger's transaction read back by handle, by (member, device) and by member, in
//! order; a replace by handle, a removal by handle and by member; the highest handle round
//! trips and out-of-range ones are refused; a used code is used once, recording it again
//! does not fail, and a purge removes only older codes; pages of used codes walk every row
//! once, in order, and stop at their maximum; a failing append writes none of its rows. The
//! PostgreSQL variants need `MILEVERSE_TEST_DATABASE_URL` (see `suite.rs`).

use std::collections::BTreeMap;

mod common;

use common::Dice;

use store::Store;
use store::tables::paycodes::{self, DeviceRow, PaycodeWrite, USED_PAGE_MAX, UsedRow};
use store::tables::{ROWS_PER_APPEND_MAX, TableRead};

fn write(s: &mut dyn Store, writes: Vec<PaycodeWrite>) {
    common::append_rows(s, writes).unwrap();
}

fn refused(s: &mut dyn Store, writes: Vec<PaycodeWrite>) {
    assert!(common::append_rows(s, writes).is_err());
}

/// The highest handle a code's 10 digits can name.
const HANDLE_MAX: u64 = 9_999_999_999;

fn device(handle: u64, member_id: u128, device_id: u128) -> DeviceRow {
    DeviceRow {
        handle,
        member_id,
        device_id,
        secret_sealed: format!("sealed-{handle}").into_bytes(),
        enrolled_at_s: 1_700_000_000 + handle % 1000,
    }
}

fn used(handle: u64, step: u64, used_at_s: u64) -> UsedRow {
    UsedRow {
        handle,
        step,
        member_id: u128::from(handle) << 64 | 7,
        used_at_s,
    }
}

/// Every device query against a model of the rows, by handle.
fn check_devices(read: &mut TableRead<'_>, model: &BTreeMap<u64, DeviceRow>) {
    for (handle, row) in model {
        assert_eq!(paycodes::device(read, *handle).unwrap().as_ref(), Some(row));
        let found = paycodes::device_of(read, row.member_id, row.device_id).unwrap();
        assert_eq!(found.as_ref(), Some(row));
    }
    let members: Vec<u128> = model.values().map(|row| row.member_id).collect();
    for member_id in members.into_iter().chain([0, 1, u128::MAX]) {
        let mut expected: Vec<&DeviceRow> = model
            .values()
            .filter(|row| row.member_id == member_id)
            .collect();
        expected.sort_by_key(|row| (row.enrolled_at_s, row.handle));
        let found = paycodes::devices_of(read, member_id).unwrap();
        assert_eq!(found.iter().collect::<Vec<_>>(), expected, "{member_id}");
    }
    let count = paycodes::device_count(read).unwrap();
    assert_eq!(count, model.len() as u64);
}

fn devices_read_back_and_replace(s: &mut dyn Store) {
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
    let mut model = BTreeMap::new();
    for index in 1..=60u128 {
        // Ids over the whole 128 bits; a few members with several devices each.
        let member_id = (u128::from(dice.roll(6)) + 1) << 120 | 1;
        let device_id = u128::from(dice.roll(u64::MAX)) << 64 | index;
        let handle = dice.roll(HANDLE_MAX + 1);
        let mut row = device(handle, member_id, device_id);
        // Ties of enrollment time: the handle orders them.
        row.enrolled_at_s = 1_000 + dice.roll(5);
        model.insert(handle, row);
    }
    write(
        s,
        model.values().cloned().map(PaycodeWrite::Device).collect(),
    );
    check_devices(&mut s.tables().unwrap(), &model);

    // A replace by handle changes every column but the handle (the member's other device,
    // a new secret, a new time).
    let handle = *model.keys().nth(3).unwrap();
    let mut changed = model[&handle].clone();
    changed.member_id = 42;
    changed.device_id = 43;
    changed.secret_sealed = vec![0xAA; 60];
    changed.enrolled_at_s = 2_000;
    let old = model.insert(handle, changed.clone()).unwrap();
    write(s, vec![PaycodeWrite::Device(changed)]);
    check_devices(&mut s.tables().unwrap(), &model);
    let mut read = s.tables().unwrap();
    let gone = paycodes::device_of(&mut read, old.member_id, old.device_id).unwrap();
    assert_eq!(gone, None);
}

fn devices_of_orders_by_enrollment_then_handle(s: &mut dyn Store) {
    let member = 5 << 100;
    let mut rows = [
        device(30, member, 1),
        device(10, member, 2),
        device(20, member, 3),
        device(5, member, 4),
        device(40, 6 << 100, 5),
    ];
    rows[0].enrolled_at_s = 100;
    rows[1].enrolled_at_s = 200;
    rows[2].enrolled_at_s = 100;
    rows[3].enrolled_at_s = 300;
    write(s, rows.iter().cloned().map(PaycodeWrite::Device).collect());
    let mut read = s.tables().unwrap();
    let handles: Vec<u64> = paycodes::devices_of(&mut read, member)
        .unwrap()
        .iter()
        .map(|row| row.handle)
        .collect();
    assert_eq!(handles, vec![20, 30, 10, 5]);
}

fn devices_are_removed_by_handle_and_by_member(s: &mut dyn Store) {
    let mut model = BTreeMap::new();
    for handle in 1..=12u64 {
        let member_id = u128::from(handle % 3) + 1;
        model.insert(handle, device(handle, member_id, u128::from(handle)));
    }
    write(
        s,
        model.values().cloned().map(PaycodeWrite::Device).collect(),
    );
    check_devices(&mut s.tables().unwrap(), &model);

    // By handle: that device only; an unknown handle removes nothing.
    write(
        s,
        vec![
            PaycodeWrite::RemoveDevice(4),
            PaycodeWrite::RemoveDevice(HANDLE_MAX),
        ],
    );
    model.remove(&4);
    check_devices(&mut s.tables().unwrap(), &model);
    assert_eq!(paycodes::device(&mut s.tables().unwrap(), 4).unwrap(), None);

    // A withdrawal: every device of the member, and only theirs.
    write(s, vec![PaycodeWrite::RemoveDevicesOf(2)]);
    model.retain(|_, row| row.member_id != 2);
    assert_eq!(model.len(), 8);
    check_devices(&mut s.tables().unwrap(), &model);
    let mut read = s.tables().unwrap();
    assert!(paycodes::devices_of(&mut read, 2).unwrap().is_empty());
    assert_eq!(paycodes::devices_of(&mut read, 1).unwrap().len(), 4);
    assert_eq!(paycodes::devices_of(&mut read, 3).unwrap().len(), 4);
}

fn a_device_moves_to_a_new_handle(s: &mut dyn Store) {
    write(s, vec![PaycodeWrite::Device(device(111, 1, 1))]);
    // The same device under a second handle is refused: one handle per device.
    refused(s, vec![PaycodeWrite::Device(device(222, 1, 1))]);
    assert_eq!(
        paycodes::device(&mut s.tables().unwrap(), 222).unwrap(),
        None
    );
    // Removing the old handle first, in the same append, moves it.
    write(
        s,
        vec![
            PaycodeWrite::RemoveDevice(111),
            PaycodeWrite::Device(device(222, 1, 1)),
        ],
    );
    let mut read = s.tables().unwrap();
    assert_eq!(paycodes::device(&mut read, 111).unwrap(), None);
    let found = paycodes::device_of(&mut read, 1, 1).unwrap();
    assert_eq!(found, Some(device(222, 1, 1)));
    assert_eq!(paycodes::device_count(&mut read).unwrap(), 1);
}

fn handles_round_trip_up_to_ten_digits(s: &mut dyn Store) {
    let mut highest = device(HANDLE_MAX, u128::MAX, u128::MAX - 1);
    highest.enrolled_at_s = i64::MAX as u64;
    highest.secret_sealed = vec![0; 256];
    let lowest = device(0, 0, 0);
    write(
        s,
        vec![
            PaycodeWrite::Device(highest.clone()),
            PaycodeWrite::Device(lowest.clone()),
        ],
    );
    let mut read = s.tables().unwrap();
    assert_eq!(
        paycodes::device(&mut read, HANDLE_MAX).unwrap(),
        Some(highest.clone())
    );
    assert_eq!(paycodes::device(&mut read, 0).unwrap(), Some(lowest));
    let found = paycodes::device_of(&mut read, u128::MAX, u128::MAX - 1).unwrap();
    assert_eq!(found, Some(highest));
    // A handle no row can have is found nowhere.
    for handle in [HANDLE_MAX + 1, i64::MAX as u64, 1 << 63, u64::MAX] {
        assert_eq!(paycodes::device(&mut read, handle).unwrap(), None);
        assert!(!paycodes::is_used(&mut read, handle, 1).unwrap());
    }
    assert!(!paycodes::is_used(&mut read, 1, u64::MAX).unwrap());
    drop(read);

    // An eleven-digit handle, one of 2^63 or more and a time of 2^63 are refused, and the
    // rows before them in the same append go with them.
    for bad in [
        device(HANDLE_MAX + 1, 9, 9),
        device(1 << 63, 9, 9),
        DeviceRow {
            enrolled_at_s: 1 << 63,
            ..device(77, 9, 9)
        },
    ] {
        refused(
            s,
            vec![
                PaycodeWrite::Device(device(55, 8, 8)),
                PaycodeWrite::Used(used(55, 1, 1_000)),
                PaycodeWrite::Device(bad),
            ],
        );
    }
    refused(s, vec![PaycodeWrite::Used(used(1 << 63, 1, 1_000))]);
    refused(s, vec![PaycodeWrite::Used(used(1, 1 << 63, 1_000))]);
    refused(s, vec![PaycodeWrite::RemoveDevice(u64::MAX)]);
    let mut read = s.tables().unwrap();
    assert_eq!(paycodes::device(&mut read, 55).unwrap(), None);
    assert!(!paycodes::is_used(&mut read, 55, 1).unwrap());
    assert_eq!(paycodes::device_count(&mut read).unwrap(), 2);
}

fn a_used_code_is_used(s: &mut dyn Store) {
    let first = used(HANDLE_MAX, 56_666_666, 1_700_000_000);
    write(s, vec![PaycodeWrite::Used(first)]);
    let mut read = s.tables().unwrap();
    assert!(paycodes::is_used(&mut read, HANDLE_MAX, 56_666_666).unwrap());
    assert!(!paycodes::is_used(&mut read, HANDLE_MAX, 56_666_667).unwrap());
    assert!(!paycodes::is_used(&mut read, HANDLE_MAX, 56_666_665).unwrap());
    assert!(!paycodes::is_used(&mut read, HANDLE_MAX - 1, 56_666_666).unwrap());
    drop(read);

    // The same code again, in one append and in the next: neither fails, and the first row
    // stays as it was.
    let mut again = first;
    again.member_id = 99;
    again.used_at_s += 10;
    write(
        s,
        vec![
            PaycodeWrite::Used(again),
            PaycodeWrite::Used(again),
            PaycodeWrite::Used(used(1, 0, 1_700_000_001)),
        ],
    );
    write(s, vec![PaycodeWrite::Used(again)]);
    let mut read = s.tables().unwrap();
    let all = paycodes::used_since(&mut read, 0, None, USED_PAGE_MAX).unwrap();
    assert_eq!(all, vec![first, used(1, 0, 1_700_000_001)]);
    assert!(paycodes::is_used(&mut read, 1, 0).unwrap());
}

fn a_purge_removes_only_older_codes(s: &mut dyn Store) {
    let rows: Vec<UsedRow> = (0..40u64)
        .map(|index| used(index % 7, index, 1_000 + index / 2))
        .collect();
    write(s, rows.iter().copied().map(PaycodeWrite::Used).collect());
    let mut left = rows.clone();
    for before_s in [0, 1_000, 1_001, 1_010, 1_010, 1_019, 1_020] {
        write(s, vec![PaycodeWrite::PurgeUsed { before_s }]);
        left.retain(|row| row.used_at_s >= before_s);
        let mut read = s.tables().unwrap();
        let found = paycodes::used_since(&mut read, 0, None, USED_PAGE_MAX).unwrap();
        assert_eq!(found.len(), left.len(), "before {before_s}");
        for row in &rows {
            let kept = row.used_at_s >= before_s;
            assert_eq!(
                paycodes::is_used(&mut read, row.handle, row.step).unwrap(),
                kept
            );
        }
    }
    assert!(left.is_empty());
    // A purged code may be recorded again (the platform refuses it as expired first).
    write(s, vec![PaycodeWrite::Used(rows[0])]);
    assert!(paycodes::is_used(&mut s.tables().unwrap(), rows[0].handle, rows[0].step).unwrap());
    // A bound beyond 2^63 - 1 removes every row.
    write(s, vec![PaycodeWrite::PurgeUsed { before_s: u64::MAX }]);
    let mut read = s.tables().unwrap();
    assert!(
        paycodes::used_since(&mut read, 0, None, 1)
            .unwrap()
            .is_empty()
    );
}

fn cursor(row: &UsedRow) -> (u64, u64, u64) {
    (row.used_at_s, row.handle, row.step)
}

/// Every row `used_since` answers from `since_s`, page by page; asserts each page's bound
/// and that the walk ends.
fn walk(read: &mut TableRead<'_>, since_s: u64, page_size: usize) -> Vec<UsedRow> {
    let mut walked = Vec::new();
    let mut after = None;
    loop {
        let rows = paycodes::used_since(read, since_s, after, page_size).unwrap();
        assert!(rows.len() <= page_size);
        let Some(last) = rows.last() else {
            return walked;
        };
        after = Some(cursor(last));
        walked.extend(rows);
        assert!(walked.len() <= 10_000, "the walk does not end");
    }
}

fn used_codes_page_in_order(s: &mut dyn Store) {
    let mut dice = Dice(0x2545_F491_4F6C_DD1D);
    let mut model = BTreeMap::new();
    for _ in 0..400 {
        // Ties of time and of handle; a handle's steps in any order of time.
        let row = used(
            dice.roll(20) * 499_999_999,
            dice.roll(60),
            1_000 + dice.roll(30),
        );
        model.entry((row.handle, row.step)).or_insert(row);
    }
    let rows: Vec<UsedRow> = model.values().copied().collect();
    write(s, rows.iter().copied().map(PaycodeWrite::Used).collect());
    let mut read = s.tables().unwrap();
    for since_s in [0, 1_000, 1_015, 1_029, 1_030, u64::MAX] {
        let mut expected: Vec<UsedRow> = rows
            .iter()
            .copied()
            .filter(|row| row.used_at_s >= since_s)
            .collect();
        expected.sort_by_key(cursor);
        for page_size in [1, 7, 100, USED_PAGE_MAX] {
            assert_eq!(walk(&mut read, since_s, page_size), expected, "{since_s}");
        }
    }
    // A cursor of no row: strictly after it, whatever its parts.
    let after = Some((1_010, 1, 0));
    let found = paycodes::used_since(&mut read, 0, after, USED_PAGE_MAX).unwrap();
    let mut expected: Vec<UsedRow> = rows
        .iter()
        .copied()
        .filter(|row| cursor(row) > (1_010, 1, 0))
        .collect();
    expected.sort_by_key(cursor);
    assert!(!expected.is_empty() && expected.len() < rows.len());
    assert_eq!(found, expected);
    assert!(
        paycodes::used_since(&mut read, 0, None, 0)
            .unwrap()
            .is_empty()
    );
    // A cursor no row could be is refused.
    assert!(paycodes::used_since(&mut read, 0, Some((1 << 63, 0, 0)), 1).is_err());
}

fn pages_stop_at_their_maximum(s: &mut dyn Store) {
    const { assert!(USED_PAGE_MAX < ROWS_PER_APPEND_MAX) };
    let total = USED_PAGE_MAX as u64 + 1;
    let rows: Vec<PaycodeWrite> = (0..total)
        .map(|index| PaycodeWrite::Used(used(index % 100, index, 1_000 + index / 1_000)))
        .collect();
    write(s, rows);
    let mut read = s.tables().unwrap();
    let page = paycodes::used_since(&mut read, 0, None, usize::MAX).unwrap();
    assert_eq!(page.len(), USED_PAGE_MAX);
    let page = paycodes::used_since(&mut read, 0, None, USED_PAGE_MAX + 1).unwrap();
    assert_eq!(page.len(), USED_PAGE_MAX);
    // The rest after a full page.
    let after = page.last().map(cursor);
    let rest = paycodes::used_since(&mut read, 0, after, usize::MAX).unwrap();
    assert_eq!(rest.len(), 1);
    let highest = rest[0];
    assert_eq!(highest.used_at_s, 1_010);
    assert!(page.iter().all(|row| cursor(row) < cursor(&highest)));
}

fn an_empty_table_answers_nothing(s: &mut dyn Store) {
    let mut read = s.tables().unwrap();
    assert_eq!(paycodes::device(&mut read, 1).unwrap(), None);
    assert_eq!(paycodes::device_of(&mut read, 1, 1).unwrap(), None);
    assert!(paycodes::devices_of(&mut read, 1).unwrap().is_empty());
    assert!(!paycodes::is_used(&mut read, 1, 1).unwrap());
    let page = paycodes::used_since(&mut read, 0, None, USED_PAGE_MAX).unwrap();
    assert!(page.is_empty());
    assert_eq!(paycodes::device_count(&mut read).unwrap(), 0);
    drop(read);
    // Removals and a purge of nothing succeed.
    write(
        s,
        vec![
            PaycodeWrite::RemoveDevice(1),
            PaycodeWrite::RemoveDevicesOf(1),
            PaycodeWrite::PurgeUsed { before_s: 5_000 },
        ],
    );
}

for_each_backend!(
    devices_read_back_and_replace,
    devices_of_orders_by_enrollment_then_handle,
    devices_are_removed_by_handle_and_by_member,
    a_device_moves_to_a_new_handle,
    handles_round_trip_up_to_ten_digits,
    a_used_code_is_used,
    a_purge_removes_only_older_codes,
    used_codes_page_in_order,
    pages_stop_at_their_maximum,
    an_empty_table_answers_nothing,
);
