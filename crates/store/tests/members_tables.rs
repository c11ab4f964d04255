//! The members context's tables (`store::tables::members`) on every backend: rows written
//! in the ledger's transaction read back as written, the active phone index finds one
//! member, sessions carry their member's state, counts and pages match a naive model,
//! purges stop at their batch, and a failing append writes none of its rows. The
//! PostgreSQL variants need `MILEVERSE_TEST_DATABASE_URL` (see `suite.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

mod common;

use store::Store;
use store::tables::RowRef;
use store::tables::members::{
    self, DeviceRow, LOGIN_DEVICES_PER_MEMBER_MAX, LoginDeviceRow, LoginGuardRow,
    MEMBER_IDS_PAGE_MAX, MemberRow, MemberStatus, MemberWrite, PURGE_BATCH_MAX, SessionRow,
    VerificationRow,
};

fn write(s: &mut dyn Store, writes: Vec<MemberWrite>) {
    common::append_rows(s, writes).unwrap();
}

fn member(id: u128, phone: u8) -> MemberRow {
    MemberRow {
        id,
        phone_index: [phone; 32],
        phone_sealed: vec![phone, 1, 2],
        name_sealed: vec![9; 40],
        pin_hash: format!("$argon2id$v=19$m=19456,t=2,p=1${id}"),
        status: MemberStatus::Active,
        locked: false,
        created_at_s: 1_700_000_000 + id as u64,
        withdrawn_at_s: None,
        payout_sealed: Vec::new(),
        payout_amount: 0,
    }
}

fn members_read_back_as_written(s: &mut dyn Store) {
    let mut model = BTreeMap::new();
    let mut writes = Vec::new();
    for id in 1..=50u128 {
        let mut row = member(id << 100 | id, id as u8);
        if id % 7 == 0 {
            row.status = MemberStatus::Withdrawn;
            row.withdrawn_at_s = Some(1_800_000_000);
            row.payout_sealed = vec![1; 30];
            row.payout_amount = u64::MAX >> 1;
        }
        row.locked = id % 5 == 0;
        model.insert(row.id, row.clone());
        writes.push(MemberWrite::Member(row));
    }
    write(s, writes);
    // A replace changes every column but the id.
    let mut changed = model[&(3 << 100 | 3)].clone();
    changed.name_sealed = vec![4; 8];
    changed.locked = true;
    model.insert(changed.id, changed.clone());
    write(s, vec![MemberWrite::Member(changed)]);

    let mut read = s.tables().unwrap();
    for (id, row) in &model {
        assert_eq!(members::member(&mut read, *id).unwrap().as_ref(), Some(row));
        let by_phone = members::member_by_phone(&mut read, &row.phone_index).unwrap();
        let active = row.status == MemberStatus::Active;
        assert_eq!(by_phone.as_ref(), active.then_some(row));
    }
    assert_eq!(members::member(&mut read, 12345).unwrap(), None);
    let withdrawn = model
        .values()
        .filter(|row| row.status == MemberStatus::Withdrawn)
        .count() as u64;
    assert_eq!(
        members::member_counts(&mut read).unwrap(),
        (model.len() as u64, withdrawn)
    );
    // Pages walk every id once, in order.
    let mut walked = Vec::new();
    let mut after = None;
    loop {
        let page = members::member_ids(&mut read, after, 7).unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 7);
        after = page.last().copied();
        walked.extend(page);
    }
    assert_eq!(walked, model.keys().copied().collect::<Vec<_>>());
    let all = members::member_ids(&mut read, None, usize::MAX).unwrap();
    assert_eq!(all.len(), model.len().min(MEMBER_IDS_PAGE_MAX));
}

fn a_withdrawn_phone_may_belong_to_a_new_member(s: &mut dyn Store) {
    let mut old = member(1, 42);
    old.status = MemberStatus::Withdrawn;
    write(s, vec![MemberWrite::Member(old)]);
    write(s, vec![MemberWrite::Member(member(2, 42))]);
    let mut read = s.tables().unwrap();
    let found = members::member_by_phone(&mut read, &[42; 32]).unwrap();
    assert_eq!(found.map(|row| row.id), Some(2));
}

fn a_failing_append_writes_none_of_its_rows(s: &mut dyn Store) {
    write(s, vec![MemberWrite::Member(member(1, 1))]);
    // Two active members with one phone: the unique index refuses the second, and the
    // first row of the same append goes with it.
    let rows: Vec<RowRef> = vec![
        Arc::new(MemberWrite::Member(member(2, 2))),
        Arc::new(MemberWrite::Member(member(3, 1))),
    ];
    assert!(s.append_with_rows(&[], &rows).is_err());
    let mut read = s.tables().unwrap();
    assert_eq!(members::member(&mut read, 2).unwrap(), None);
    assert_eq!(members::member(&mut read, 3).unwrap(), None);
    assert_eq!(members::member_counts(&mut read).unwrap(), (1, 0));
}

fn devices_and_sessions_follow_their_member(s: &mut dyn Store) {
    let device = |member_id: u128, id: u128| DeviceRow {
        member_id,
        id,
        name_sealed: vec![id as u8; 20],
        platform: "ios".into(),
        created_at_s: 100 + id as u64,
    };
    let session = |hash: u8, member_id: u128, expires_at_s: u64| SessionRow {
        token_hash: [hash; 32],
        id: u128::from(hash),
        member_id,
        created_at_s: 10,
        expires_at_s,
    };
    write(
        s,
        vec![
            MemberWrite::Member(member(1, 1)),
            MemberWrite::Member(member(2, 2)),
            MemberWrite::Device(device(1, 3)),
            MemberWrite::Device(device(1, 2)),
            MemberWrite::Device(device(2, 9)),
            MemberWrite::Session(session(1, 1, 500)),
            MemberWrite::Session(session(2, 1, 600)),
            MemberWrite::Session(session(3, 2, 700)),
        ],
    );
    let mut read = s.tables().unwrap();
    let ids: Vec<u128> = members::devices(&mut read, 1)
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(ids, vec![2, 3]);
    let gate = members::session(&mut read, &[2; 32]).unwrap().unwrap();
    assert_eq!((gate.member_id, gate.expires_at_s), (1, 600));
    assert_eq!((gate.status, gate.locked), (MemberStatus::Active, false));
    drop(read);

    let mut locked = member(1, 1);
    locked.locked = true;
    write(
        s,
        vec![
            MemberWrite::Member(locked),
            MemberWrite::RemoveSessionsOf(1),
            MemberWrite::RemoveDevice {
                member_id: 1,
                id: 2,
            },
            MemberWrite::RemoveDevicesOf(2),
        ],
    );
    let mut read = s.tables().unwrap();
    assert_eq!(members::session(&mut read, &[1; 32]).unwrap(), None);
    assert_eq!(members::session(&mut read, &[2; 32]).unwrap(), None);
    assert!(members::session(&mut read, &[3; 32]).unwrap().is_some());
    assert_eq!(members::devices(&mut read, 1).unwrap().len(), 1);
    assert!(members::devices(&mut read, 2).unwrap().is_empty());
    drop(read);
    write(s, vec![MemberWrite::RemoveSession([3; 32])]);
    assert_eq!(
        members::session(&mut s.tables().unwrap(), &[3; 32]).unwrap(),
        None
    );
}

fn verifications_count_by_phone_and_purge_in_batches(s: &mut dyn Store) {
    let verification = |id: u128, phone: u8, created_at_s: u64| VerificationRow {
        id,
        phone_index: [phone; 32],
        phone_sealed: vec![1; 30],
        code_hash: [id as u8; 32],
        created_at_s,
        expires_at_s: created_at_s + 300,
        attempts: 0,
        used: false,
    };
    let total = PURGE_BATCH_MAX + 5;
    let mut writes = Vec::new();
    for id in 1..=u128::from(total) {
        writes.push(MemberWrite::Verification(verification(
            id,
            1,
            1_000 + id as u64,
        )));
    }
    writes.push(MemberWrite::Verification(verification(1 << 64, 2, 5_000)));
    write(s, writes);
    let mut spent = verification(1 << 64, 2, 5_000);
    spent.attempts = 3;
    spent.used = true;
    write(s, vec![MemberWrite::Verification(spent.clone())]);

    let mut read = s.tables().unwrap();
    assert_eq!(
        members::verification(&mut read, 1 << 64).unwrap(),
        Some(spent)
    );
    assert_eq!(
        members::verifications_since(&mut read, &[1; 32], 0).unwrap(),
        total
    );
    assert_eq!(
        members::verifications_since(&mut read, &[1; 32], 1_006).unwrap(),
        total - 5
    );
    assert_eq!(
        members::verifications_since(&mut read, &[2; 32], 5_001).unwrap(),
        0
    );
    drop(read);

    // Every phone-1 verification is expired and old enough; one purge takes a batch.
    let purge = MemberWrite::Purge {
        now_s: 10_000,
        verifications_before_s: 4_000,
        guards_before_s: 0,
    };
    write(s, vec![purge.clone()]);
    let mut read = s.tables().unwrap();
    assert_eq!(
        members::verifications_since(&mut read, &[1; 32], 0).unwrap(),
        5
    );
    drop(read);
    write(s, vec![purge]);
    let mut read = s.tables().unwrap();
    assert_eq!(
        members::verifications_since(&mut read, &[1; 32], 0).unwrap(),
        0
    );
    // Phone 2's is newer than the cut: kept, and not due at this cut.
    assert!(members::verification(&mut read, 1 << 64).unwrap().is_some());
    assert!(!members::purge_due(&mut read, 10_000, 4_000, 0).unwrap());
    assert!(members::purge_due(&mut read, 10_000, 6_000, 0).unwrap());
}

fn expired_sessions_purge_in_batches(s: &mut dyn Store) {
    let mut writes = vec![MemberWrite::Member(member(1, 1))];
    let total = PURGE_BATCH_MAX + 3;
    for index in 0..total {
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&index.to_be_bytes());
        writes.push(MemberWrite::Session(SessionRow {
            token_hash: hash,
            id: u128::from(index),
            member_id: 1,
            created_at_s: 1,
            expires_at_s: if index == 0 { 50_000 } else { 2 },
        }));
    }
    write(s, writes);
    let mut read = s.tables().unwrap();
    assert!(
        !members::purge_due(&mut read, 1, 0, 0).unwrap(),
        "nothing expired yet"
    );
    assert!(members::purge_due(&mut read, 10, 0, 0).unwrap());
    drop(read);
    let purge = MemberWrite::Purge {
        now_s: 10,
        verifications_before_s: 0,
        guards_before_s: 0,
    };
    write(s, vec![purge.clone()]);
    write(s, vec![purge]);
    let mut read = s.tables().unwrap();
    assert!(
        !members::purge_due(&mut read, 10, 0, 0).unwrap(),
        "all purged: an idle platform commits no purge"
    );
    assert!(members::purge_due(&mut read, 50_000, 0, 0).unwrap());
    let mut kept = [0u8; 32];
    kept[..8].copy_from_slice(&0u64.to_be_bytes());
    assert!(members::session(&mut read, &kept).unwrap().is_some());
    let mut gone = [0u8; 32];
    gone[..8].copy_from_slice(&(total - 1).to_be_bytes());
    assert_eq!(members::session(&mut read, &gone).unwrap(), None);
}

/// Wrong-PIN counts are per phone, member or not, replaced in place, cleared, and purged
/// in batches once old.
fn login_guards_count_per_phone_and_purge_in_batches(s: &mut dyn Store) {
    let total = PURGE_BATCH_MAX + 2;
    let mut writes = Vec::new();
    for index in 0..total {
        let mut phone_index = [7u8; 32];
        phone_index[..8].copy_from_slice(&index.to_be_bytes());
        writes.push(MemberWrite::LoginGuard(LoginGuardRow {
            phone_index,
            failures: 1,
            last_failed_at_s: if index == 0 { 9_000 } else { 100 },
        }));
    }
    write(s, writes);
    let mut first = [7u8; 32];
    first[..8].copy_from_slice(&0u64.to_be_bytes());
    let replaced = LoginGuardRow {
        phone_index: first,
        failures: u32::MAX >> 1,
        last_failed_at_s: 9_500,
    };
    write(s, vec![MemberWrite::LoginGuard(replaced)]);
    let mut read = s.tables().unwrap();
    assert_eq!(
        members::login_guard(&mut read, &first).unwrap(),
        Some(replaced)
    );
    assert!(!members::purge_due(&mut read, 0, 0, 100).unwrap());
    assert!(members::purge_due(&mut read, 0, 0, 101).unwrap());
    drop(read);
    let purge = MemberWrite::Purge {
        now_s: 0,
        verifications_before_s: 0,
        guards_before_s: 1_000,
    };
    write(s, vec![purge.clone()]);
    let mut read = s.tables().unwrap();
    assert!(
        members::purge_due(&mut read, 0, 0, 1_000).unwrap(),
        "a batch at most"
    );
    drop(read);
    write(s, vec![purge]);
    let mut read = s.tables().unwrap();
    assert!(!members::purge_due(&mut read, 0, 0, 1_000).unwrap());
    assert_eq!(
        members::login_guard(&mut read, &first).unwrap(),
        Some(replaced)
    );
    drop(read);
    write(s, vec![MemberWrite::RemoveLoginGuard(first)]);
    let mut read = s.tables().unwrap();
    assert_eq!(members::login_guard(&mut read, &first).unwrap(), None);
}

/// A member keeps at most `LOGIN_DEVICES_PER_MEMBER_MAX` proven devices: one more forgets
/// the least recently used; using one keeps it; another member's are untouched.
fn login_devices_keep_the_most_recently_used(s: &mut dyn Store) {
    let device = |member_id: u128, index: u64, used_at_s: u64| {
        let mut token_hash = [member_id as u8; 32];
        token_hash[..8].copy_from_slice(&index.to_be_bytes());
        LoginDeviceRow {
            token_hash,
            member_id,
            created_at_s: index,
            last_used_at_s: used_at_s,
        }
    };
    let mut writes = vec![MemberWrite::LoginDevice(device(2, 0, 1))];
    for index in 0..LOGIN_DEVICES_PER_MEMBER_MAX {
        writes.push(MemberWrite::LoginDevice(device(1, index, 100 + index)));
    }
    write(s, writes);
    let mut read = s.tables().unwrap();
    assert_eq!(
        members::login_device_count(&mut read, 1).unwrap(),
        LOGIN_DEVICES_PER_MEMBER_MAX
    );
    drop(read);
    // The oldest is used again, so the second oldest goes when one more comes.
    let used = device(1, 0, 1_000);
    write(s, vec![MemberWrite::LoginDevice(used)]);
    let newest = device(1, LOGIN_DEVICES_PER_MEMBER_MAX, 2_000);
    write(s, vec![MemberWrite::LoginDevice(newest)]);
    let mut read = s.tables().unwrap();
    assert_eq!(
        members::login_device_count(&mut read, 1).unwrap(),
        LOGIN_DEVICES_PER_MEMBER_MAX
    );
    let found = |read: &mut store::tables::TableRead<'_>, row: &LoginDeviceRow| {
        members::login_device(read, &row.token_hash).unwrap()
    };
    assert_eq!(found(&mut read, &used), Some(used));
    assert_eq!(found(&mut read, &newest), Some(newest));
    assert_eq!(found(&mut read, &device(1, 1, 101)), None);
    assert_eq!(members::login_device_count(&mut read, 2).unwrap(), 1);
    drop(read);
    write(s, vec![MemberWrite::RemoveLoginDevicesOf(1)]);
    let mut read = s.tables().unwrap();
    assert_eq!(members::login_device_count(&mut read, 1).unwrap(), 0);
    assert_eq!(members::login_device_count(&mut read, 2).unwrap(), 1);
}

for_each_backend!(
    members_read_back_as_written,
    a_withdrawn_phone_may_belong_to_a_new_member,
    a_failing_append_writes_none_of_its_rows,
    devices_and_sessions_follow_their_member,
    verifications_count_by_phone_and_purge_in_batches,
    expired_sessions_purge_in_batches,
    login_guards_count_per_phone_and_purge_in_batches,
    login_devices_keep_the_most_recently_used,
);
