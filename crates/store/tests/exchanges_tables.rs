//! The exchange context's tables (`store::tables::exchanges`) on every backend: rows written
//! in the ledger's transaction read back as written; every query matches a naive model of
//! the rows (pages walk every row once, in order; usage sums, counts, open exchanges);
//! a removed link's ref may be linked again; a failing append writes none of its rows; pages
//! stop at their maximum. The PostgreSQL variants need `MILEVERSE_TEST_DATABASE_URL` (see
//! `suite.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

mod common;

use common::Dice;

use store::Store;
use store::tables::exchanges::{
    self, EXCHANGES_PAGE_MAX, ExchangeRow, ExchangeStatus, ExchangeWrite, LinkRow, LinkStatus,
};
use store::tables::partners::RateRow;
use store::tables::{RowRef, TableRead};

fn write(s: &mut dyn Store, writes: Vec<ExchangeWrite>) {
    common::append_rows(s, writes).unwrap();
}

fn link(id: u128, member_id: u128, partner_id: u128, member_ref: &str) -> LinkRow {
    LinkRow {
        id,
        member_id,
        partner_id,
        member_ref: member_ref.to_string(),
        created_at_s: 1_700_000_000 + (id % 1000) as u64,
        removed: false,
        status: LinkStatus::Active,
        state_hash: None,
        verifier_sealed: None,
        expires_at_s: None,
        proven_at_s: Some(1_700_000_500),
    }
}

/// An attempt waiting for the partner's proof.
fn pending(id: u128, member_id: u128, partner_id: u128, member_ref: &str) -> LinkRow {
    LinkRow {
        status: LinkStatus::PendingProof,
        state_hash: Some(vec![id as u8; 32]),
        verifier_sealed: Some(vec![7; 60]),
        expires_at_s: Some(1_700_000_600),
        proven_at_s: None,
        ..link(id, member_id, partner_id, member_ref)
    }
}

fn exchange(id: u128, member_id: u128, partner_id: u128) -> ExchangeRow {
    ExchangeRow {
        id,
        member_id,
        partner_id,
        link_id: id ^ 0xAB,
        member_ref: format!("ref-{member_id}-{partner_id}"),
        mileage: 1_000,
        mvp: 900,
        rate: RateRow {
            effective_from_s: 1_600_000_000,
            num: 9,
            den: 10,
        },
        status: ExchangeStatus::Requested,
        failure: None,
        idempotency_key: None,
        created_at_s: 1_000,
        finished_at_s: None,
        cancel_pending: false,
    }
}

const MEMBERS: u128 = 5;
const PARTNERS: u128 = 3;

/// Exchanges with every status, ties of time, keys and cancels, over a few members and
/// partners; ids spread over the whole 128 bits (so byte order, not length, sorts them).
fn random_exchanges(dice: &mut Dice, count: u128) -> BTreeMap<u128, ExchangeRow> {
    let mut model = BTreeMap::new();
    for index in 1..=count {
        let id = u128::from(dice.roll(u64::MAX)) << 64 | index;
        let member_id = u128::from(dice.roll(MEMBERS as u64)) + 1;
        let partner_id = (u128::from(dice.roll(PARTNERS as u64)) + 1) << 120;
        let mut row = exchange(id, member_id, partner_id);
        row.status = ExchangeStatus::ALL[dice.roll(4) as usize];
        row.created_at_s = 1_000 + dice.roll(40) * 10;
        row.mileage = dice.roll(1_000_000);
        row.mvp = dice.roll(1_000_000);
        if row.status.is_final() {
            row.finished_at_s = Some(row.created_at_s + dice.roll(30));
        }
        if row.status == ExchangeStatus::Failed {
            row.failure = Some(format!("partner said no ({index})"));
        }
        if dice.roll(3) == 0 {
            row.idempotency_key = Some(format!("key-{index}"));
        }
        row.cancel_pending = dice.roll(5) == 0;
        model.insert(id, row);
    }
    model
}

/// Most rows a walk takes before it is deemed not to end (a cursor that repeats a row).
const WALK_MAX: usize = 10_000;

/// Every row a paged query answers, page by page; asserts each page's bound and that the
/// walk ends.
fn walk<C: Copy>(
    page_size: usize,
    cursor_of: impl Fn(&ExchangeRow) -> C,
    mut page: impl FnMut(Option<C>, usize) -> Vec<ExchangeRow>,
) -> Vec<ExchangeRow> {
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

fn created(row: &ExchangeRow) -> (u64, u128) {
    (row.created_at_s, row.id)
}

fn finished(row: &ExchangeRow) -> (u64, u128) {
    (row.finished_at_s.unwrap(), row.id)
}

fn sorted_by<K: Ord>(
    model: &BTreeMap<u128, ExchangeRow>,
    keep: impl Fn(&ExchangeRow) -> bool,
    key: impl Fn(&ExchangeRow) -> K,
) -> Vec<ExchangeRow> {
    let mut rows: Vec<ExchangeRow> = model.values().filter(|row| keep(row)).cloned().collect();
    rows.sort_by_key(|row| key(row));
    rows
}

/// Checks every query of `exchanges` against the model.
fn check_exchanges(read: &mut TableRead<'_>, model: &BTreeMap<u128, ExchangeRow>) {
    for (id, row) in model {
        assert_eq!(exchanges::exchange(read, *id).unwrap().as_ref(), Some(row));
        if let Some(key) = &row.idempotency_key {
            let found = exchanges::exchange_by_key(read, row.member_id, key).unwrap();
            assert_eq!(found.as_ref(), Some(row));
            let other = exchanges::exchange_by_key(read, row.member_id + 100, key).unwrap();
            assert_eq!(other, None);
        }
    }
    assert_eq!(exchanges::exchange(read, 12345).unwrap(), None);
    check_counts_and_usage(read, model);
    check_id_pages(read, model);
    check_newest_first(read, model);
    check_completed(read, model);
    check_partner_final(read, model);
}

fn check_counts_and_usage(read: &mut TableRead<'_>, model: &BTreeMap<u128, ExchangeRow>) {
    let counts = ExchangeStatus::ALL.map(|status| {
        let count = model.values().filter(|row| row.status == status).count();
        (status, count as u64)
    });
    assert_eq!(exchanges::status_counts(read).unwrap(), counts);
    for member_id in 1..=MEMBERS + 1 {
        let open = model
            .values()
            .any(|row| row.member_id == member_id && row.status == ExchangeStatus::Requested);
        assert_eq!(exchanges::member_has_open(read, member_id).unwrap(), open);
        for partner_id in (1..=PARTNERS + 1).map(|partner| partner << 120) {
            for since_s in [0, 1_000, 1_005, 1_200, 1_390, 1_391, 5_000] {
                let naive = usage_of(model, member_id, partner_id, since_s, &[]);
                // Paired with a later and an earlier time: each sum stands on its own.
                let usage = exchanges::member_usage_since(
                    read,
                    member_id,
                    partner_id,
                    [since_s, 1_391],
                    &[],
                )
                .unwrap();
                assert_eq!(usage[0], naive, "member {member_id} since {since_s}");
                let since_later = usage_of(model, member_id, partner_id, 1_391, &[]);
                assert_eq!(usage[1], since_later, "member {member_id} since 1391");
                // Rows left out by id, at most USAGE_EXCLUDED_MAX of them.
                let left_out: Vec<u128> = model
                    .values()
                    .filter(|row| row.member_id == member_id)
                    .map(|row| row.id)
                    .step_by(2)
                    .collect();
                let excluded = &left_out[..left_out.len().min(exchanges::USAGE_EXCLUDED_MAX)];
                let naive_rest = usage_of(model, member_id, partner_id, since_s, excluded);
                let rest = exchanges::member_usage_since(
                    read,
                    member_id,
                    partner_id,
                    [1_000, since_s],
                    &left_out,
                )
                .unwrap();
                assert_eq!(
                    rest[1], naive_rest,
                    "member {member_id} since {since_s}, excluding"
                );
                let since_earlier = usage_of(model, member_id, partner_id, 1_000, excluded);
                assert_eq!(
                    rest[0], since_earlier,
                    "member {member_id} since 1000, excluding"
                );
            }
        }
    }
}

/// The naive sum [`exchanges::member_usage_since`] answers for one time.
fn usage_of(
    model: &BTreeMap<u128, ExchangeRow>,
    member_id: u128,
    partner_id: u128,
    since_s: u64,
    excluded: &[u128],
) -> u64 {
    model
        .values()
        .filter(|row| row.member_id == member_id && row.partner_id == partner_id)
        .filter(|row| row.created_at_s >= since_s && !excluded.contains(&row.id))
        .filter(|row| {
            matches!(
                row.status,
                ExchangeStatus::Requested | ExchangeStatus::Completed
            )
        })
        .map(|row| row.mvp)
        .sum()
}

fn check_id_pages(read: &mut TableRead<'_>, model: &BTreeMap<u128, ExchangeRow>) {
    let open = sorted_by(
        model,
        |row| row.status == ExchangeStatus::Requested,
        |row| row.id,
    );
    let cancels = sorted_by(model, |row| row.cancel_pending, |row| row.id);
    for page_size in [1, 7, EXCHANGES_PAGE_MAX] {
        let walked = walk(
            page_size,
            |row| row.id,
            |after, limit| exchanges::open_exchanges(read, after, limit).unwrap(),
        );
        assert_eq!(walked, open);
        let walked = walk(
            page_size,
            |row| row.id,
            |after, limit| exchanges::cancels_pending(read, after, limit).unwrap(),
        );
        assert_eq!(walked, cancels);
    }
}

fn check_newest_first(read: &mut TableRead<'_>, model: &BTreeMap<u128, ExchangeRow>) {
    let filters = ExchangeStatus::ALL.map(Some);
    for status in filters.into_iter().chain([None]) {
        let mut expected = sorted_by(
            model,
            |row| status.is_none_or(|status| row.status == status),
            created,
        );
        expected.reverse();
        for page_size in [1, 6, EXCHANGES_PAGE_MAX] {
            let walked = walk(page_size, created, |before, limit| {
                exchanges::exchanges_page(read, status, before, limit).unwrap()
            });
            assert_eq!(walked, expected, "status {status:?}, pages of {page_size}");
        }
    }
}

/// Windows `[from_s, to_s)` to page through: fixed ones, and ones that begin or end
/// exactly at a time the rows have (so an end taken as inclusive, or a start as exclusive,
/// shows).
fn windows(times: impl Iterator<Item = u64>) -> Vec<(u64, u64)> {
    let mut windows = vec![(0, 10_000), (1_100, 1_250), (1_200, 1_200), (1_200, 1_201)];
    for time_s in times.step_by(17).take(6) {
        windows.extend([(time_s, time_s + 1), (0, time_s), (time_s, time_s + 45)]);
    }
    windows
}

fn check_completed(read: &mut TableRead<'_>, model: &BTreeMap<u128, ExchangeRow>) {
    let partners = (1..=PARTNERS + 1).map(|partner| Some(partner << 120));
    let completed = model
        .values()
        .filter(|row| row.status == ExchangeStatus::Completed);
    let windows = windows(completed.map(|row| row.finished_at_s.unwrap()));
    for partner_id in partners.chain([None]) {
        for &(from_s, to_s) in &windows {
            let expected = sorted_by(
                model,
                |row| {
                    row.status == ExchangeStatus::Completed
                        && partner_id.is_none_or(|partner| row.partner_id == partner)
                        && (from_s..to_s).contains(&row.finished_at_s.unwrap())
                },
                finished,
            );
            for page_size in [1, 5, EXCHANGES_PAGE_MAX] {
                let walked = walk(page_size, finished, |after, limit| {
                    exchanges::completed_page(read, from_s, to_s, partner_id, after, limit).unwrap()
                });
                assert_eq!(
                    walked, expected,
                    "partner {partner_id:?} [{from_s}, {to_s})"
                );
            }
        }
    }
}

fn check_partner_final(read: &mut TableRead<'_>, model: &BTreeMap<u128, ExchangeRow>) {
    let windows = windows(model.values().map(|row| row.created_at_s));
    for partner_id in (1..=PARTNERS + 1).map(|partner| partner << 120) {
        for &(from_s, to_s) in &windows {
            let expected = sorted_by(
                model,
                |row| {
                    row.partner_id == partner_id
                        && row.status.is_final()
                        && (from_s..to_s).contains(&row.created_at_s)
                },
                created,
            );
            for page_size in [1, 5, EXCHANGES_PAGE_MAX] {
                let walked = walk(page_size, created, |after, limit| {
                    exchanges::partner_final_page(read, partner_id, from_s, to_s, after, limit)
                        .unwrap()
                });
                assert_eq!(walked, expected, "partner {partner_id} [{from_s}, {to_s})");
            }
        }
    }
}

fn exchanges_match_a_naive_model(s: &mut dyn Store) {
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
    let mut model = random_exchanges(&mut dice, 300);
    let writes = model.values().cloned().map(ExchangeWrite::Exchange);
    write(s, writes.collect());
    check_exchanges(&mut s.tables().unwrap(), &model);

    // Sagas move on: each replace changes columns but the id (a requested exchange
    // completes or fails, a completed one is reversed, a cancel is acknowledged).
    let mut changes = Vec::new();
    let moved: Vec<u128> = model
        .keys()
        .copied()
        .filter(|_| dice.roll(2) == 0)
        .collect();
    for id in moved {
        let row = model.get_mut(&id).unwrap();
        row.status = match row.status {
            ExchangeStatus::Requested if dice.roll(2) == 0 => ExchangeStatus::Completed,
            ExchangeStatus::Requested => ExchangeStatus::Failed,
            ExchangeStatus::Completed => ExchangeStatus::Reversed,
            other => other,
        };
        row.finished_at_s = Some(row.created_at_s + dice.roll(30));
        row.failure = (row.status == ExchangeStatus::Failed).then(|| "timed out".to_string());
        row.cancel_pending = !row.cancel_pending;
        row.idempotency_key = None;
        row.mvp += 1;
        changes.push(ExchangeWrite::Exchange(row.clone()));
    }
    assert!(!changes.is_empty());
    write(s, changes);
    check_exchanges(&mut s.tables().unwrap(), &model);
}

fn an_empty_table_answers_nothing(s: &mut dyn Store) {
    check_exchanges(&mut s.tables().unwrap(), &BTreeMap::new());
    let mut read = s.tables().unwrap();
    assert_eq!(exchanges::link(&mut read, 1).unwrap(), None);
    assert_eq!(
        exchanges::active_link_by_ref(&mut read, 1, "a").unwrap(),
        None
    );
    assert!(exchanges::links_of(&mut read, 1).unwrap().is_empty());
}

fn links_read_back_and_release(s: &mut dyn Store) {
    let mut model = BTreeMap::new();
    for id in 1..=30u128 {
        let member_id = id % 4 + 1;
        let partner_id = (id % 3 + 1) << 120;
        let mut row = link(id << 64 | id, member_id, partner_id, &format!("M{id:05}"));
        if id % 3 == 0 {
            row = pending(row.id, member_id, partner_id, &row.member_ref);
        }
        if id % 5 == 0 {
            row.status = LinkStatus::Unproven;
        }
        row.created_at_s = 1_000 + (id % 5) as u64;
        row.removed = id % 7 == 0;
        model.insert(row.id, row);
    }
    write(
        s,
        model.values().cloned().map(ExchangeWrite::Link).collect(),
    );
    check_links(&mut s.tables().unwrap(), &model);

    // A replace changes every column but the id.
    let mut changed = model[&(5 << 64 | 5)].clone();
    changed.member_ref = "N00005".into();
    changed.created_at_s = 7;
    changed.member_id = 9;
    changed.status = LinkStatus::PendingProof;
    changed.state_hash = Some(vec![1; 32]);
    changed.verifier_sealed = Some(vec![2; 70]);
    changed.expires_at_s = Some(99);
    changed.proven_at_s = None;
    model.insert(changed.id, changed.clone());
    write(s, vec![ExchangeWrite::Link(changed)]);
    check_links(&mut s.tables().unwrap(), &model);

    // A withdrawal releases every link of its member, and only theirs.
    write(s, vec![ExchangeWrite::ReleaseLinksOf(2)]);
    for row in model
        .values_mut()
        .filter(|row| row.member_id == 2 && !row.removed)
    {
        row.removed = true;
        // An attempt's secrets go with it.
        row.state_hash = None;
        row.verifier_sealed = None;
    }
    check_links(&mut s.tables().unwrap(), &model);
    assert!(
        exchanges::links_of(&mut s.tables().unwrap(), 2)
            .unwrap()
            .is_empty()
    );
}

fn check_links(read: &mut TableRead<'_>, model: &BTreeMap<u128, LinkRow>) {
    for (id, row) in model {
        assert_eq!(exchanges::link(read, *id).unwrap().as_ref(), Some(row));
        let by_ref = exchanges::active_link_by_ref(read, row.partner_id, &row.member_ref);
        let active = model.values().find(|other| {
            !other.removed
                && other.status == LinkStatus::Active
                && other.partner_id == row.partner_id
                && other.member_ref == row.member_ref
        });
        assert_eq!(by_ref.unwrap().as_ref(), active);
    }
    for member_id in 0..=10 {
        let mut expected: Vec<&LinkRow> = model
            .values()
            .filter(|row| row.member_id == member_id && !row.removed)
            .collect();
        expected.sort_by_key(|row| (row.created_at_s, row.id));
        let found = exchanges::links_of(read, member_id).unwrap();
        assert_eq!(found.iter().collect::<Vec<_>>(), expected);
    }
}

fn a_removed_links_ref_may_be_linked_again(s: &mut dyn Store) {
    let partner = 1 << 120;
    write(s, vec![ExchangeWrite::Link(link(1, 10, partner, "R1"))]);
    // A second active link of the ref is refused.
    let rows: Vec<RowRef> = vec![Arc::new(ExchangeWrite::Link(link(2, 11, partner, "R1")))];
    assert!(s.append_with_rows(&[], &rows).is_err());
    // The same ref at another partner is another membership.
    write(s, vec![ExchangeWrite::Link(link(3, 11, 2 << 120, "R1"))]);
    write(s, vec![ExchangeWrite::ReleaseLinksOf(10)]);
    write(s, vec![ExchangeWrite::Link(link(2, 11, partner, "R1"))]);
    let mut read = s.tables().unwrap();
    let found = exchanges::active_link_by_ref(&mut read, partner, "R1").unwrap();
    assert_eq!(found.map(|row| row.id), Some(2));
    assert!(exchanges::link(&mut read, 1).unwrap().unwrap().removed);
    let mine: Vec<u128> = exchanges::links_of(&mut read, 11)
        .unwrap()
        .iter()
        .map(|row| row.id)
        .collect();
    assert_eq!(mine, vec![2, 3]);
    drop(read);
    // Unlinking by a replace also frees the ref.
    let mut removed = link(2, 11, partner, "R1");
    removed.removed = true;
    write(
        s,
        vec![
            ExchangeWrite::Link(removed),
            ExchangeWrite::Link(link(4, 12, partner, "R1")),
        ],
    );
    let mut read = s.tables().unwrap();
    let found = exchanges::active_link_by_ref(&mut read, partner, "R1").unwrap();
    assert_eq!(found.map(|row| row.id), Some(4));
}

fn only_an_active_link_holds_a_ref(s: &mut dyn Store) {
    let partner = 1 << 120;
    // Attempts and unproven links of one ref, of several members, live side by side.
    let mut unproven = link(5, 13, partner, "R2");
    unproven.status = LinkStatus::Unproven;
    unproven.proven_at_s = None;
    write(
        s,
        vec![
            ExchangeWrite::Link(pending(1, 10, partner, "R2")),
            ExchangeWrite::Link(pending(2, 11, partner, "R2")),
            ExchangeWrite::Link(unproven),
        ],
    );
    let mut read = s.tables().unwrap();
    assert_eq!(
        exchanges::active_link_by_ref(&mut read, partner, "R2").unwrap(),
        None
    );
    drop(read);
    // One becomes active: it holds the ref, and a second active one is refused.
    let mut proven = pending(1, 10, partner, "R2");
    proven.status = LinkStatus::Active;
    write(s, vec![ExchangeWrite::Link(proven)]);
    let mut second = pending(2, 11, partner, "R2");
    second.status = LinkStatus::Active;
    let rows: Vec<RowRef> = vec![Arc::new(ExchangeWrite::Link(second))];
    assert!(s.append_with_rows(&[], &rows).is_err());
    let mut read = s.tables().unwrap();
    let found = exchanges::active_link_by_ref(&mut read, partner, "R2").unwrap();
    assert_eq!(found.map(|row| row.id), Some(1));
}

fn a_failing_append_writes_none_of_its_rows(s: &mut dyn Store) {
    let mut first = exchange(1, 1, 1);
    first.idempotency_key = Some("k".into());
    write(s, vec![ExchangeWrite::Exchange(first.clone())]);
    // The member's key again: the unique index refuses the second exchange, and the rows
    // before it in the same append go with it.
    let mut again = exchange(3, 1, 1);
    again.idempotency_key = Some("k".into());
    let rows: Vec<RowRef> = vec![
        Arc::new(ExchangeWrite::Link(link(9, 1, 1, "L"))),
        Arc::new(ExchangeWrite::ReleaseLinksOf(1)),
        Arc::new(ExchangeWrite::Exchange(exchange(2, 1, 1))),
        Arc::new(ExchangeWrite::Exchange(again)),
    ];
    assert!(s.append_with_rows(&[], &rows).is_err());
    // An amount of 2^63 or more is refused before it is written.
    let mut huge = exchange(4, 1, 1);
    huge.mvp = 1 << 63;
    let rows: Vec<RowRef> = vec![
        Arc::new(ExchangeWrite::Exchange(exchange(5, 2, 1))),
        Arc::new(ExchangeWrite::Exchange(huge)),
    ];
    assert!(s.append_with_rows(&[], &rows).is_err());
    // Another member may use the same key.
    let mut other = exchange(6, 2, 1);
    other.idempotency_key = Some("k".into());
    write(s, vec![ExchangeWrite::Exchange(other.clone())]);

    let mut read = s.tables().unwrap();
    for id in [2, 3, 4, 5] {
        assert_eq!(exchanges::exchange(&mut read, id).unwrap(), None);
    }
    assert_eq!(exchanges::link(&mut read, 9).unwrap(), None);
    assert_eq!(
        exchanges::exchange_by_key(&mut read, 1, "k").unwrap(),
        Some(first)
    );
    assert_eq!(
        exchanges::exchange_by_key(&mut read, 2, "k").unwrap(),
        Some(other)
    );
    let counts = exchanges::status_counts(&mut read).unwrap();
    assert_eq!(counts[0], (ExchangeStatus::Requested, 2));
    assert_eq!(counts[1..].iter().map(|(_, n)| n).sum::<u64>(), 0);
}

fn pages_stop_at_their_maximum(s: &mut dyn Store) {
    let total = EXCHANGES_PAGE_MAX as u128 + 5;
    let mut writes = Vec::new();
    for id in 1..=total {
        let mut row = exchange(id, 1, 1);
        row.cancel_pending = true;
        writes.push(ExchangeWrite::Exchange(row.clone()));
        row.id += total;
        row.status = ExchangeStatus::Completed;
        row.finished_at_s = Some(2_000);
        writes.push(ExchangeWrite::Exchange(row));
    }
    write(s, writes);
    let mut read = s.tables().unwrap();
    let read = &mut read;
    let max = EXCHANGES_PAGE_MAX;
    assert_eq!(
        exchanges::open_exchanges(read, None, usize::MAX)
            .unwrap()
            .len(),
        max
    );
    assert_eq!(
        exchanges::cancels_pending(read, None, max + 1)
            .unwrap()
            .len(),
        max
    );
    let completed = exchanges::completed_page(read, 0, 5_000, None, None, usize::MAX).unwrap();
    assert_eq!(completed.len(), max);
    let partner = exchanges::partner_final_page(read, 1, 0, 5_000, None, usize::MAX).unwrap();
    assert_eq!(partner.len(), max);
    assert_eq!(
        exchanges::exchanges_page(read, None, None, max)
            .unwrap()
            .len(),
        max
    );
    for limit in [0, max + 1, usize::MAX] {
        let refused = exchanges::exchanges_page(read, None, None, limit);
        assert!(refused.is_err(), "a page of {limit}");
    }
    assert!(exchanges::open_exchanges(read, None, 0).unwrap().is_empty());
    // The rest after a full page.
    let last = exchanges::open_exchanges(read, None, max)
        .unwrap()
        .last()
        .unwrap()
        .id;
    assert_eq!(
        exchanges::open_exchanges(read, Some(last), max)
            .unwrap()
            .len(),
        5
    );
    let last = completed.last().map(finished);
    let rest = exchanges::completed_page(read, 0, 5_000, Some(1), last, max).unwrap();
    assert_eq!(rest.len(), 5);
    assert_eq!(rest.last().unwrap().id, 2 * total);
}

for_each_backend!(
    exchanges_match_a_naive_model,
    an_empty_table_answers_nothing,
    links_read_back_and_release,
    a_removed_links_ref_may_be_linked_again,
    only_an_active_link_holds_a_ref,
    a_failing_append_writes_none_of_its_rows,
    pages_stop_at_their_maximum,
);

/// `partner_links` as migration 9 made it, with one link of that time, for the
/// migration tests below.
const LINKS_BEFORE_MIGRATION_19: &str = "
    DROP TABLE partner_links;
    CREATE TABLE partner_links (
        id bytea PRIMARY KEY CHECK (length(id) = 16),
        member_id bytea NOT NULL CHECK (length(member_id) = 16),
        partner_id bytea NOT NULL CHECK (length(partner_id) = 16),
        member_ref text NOT NULL,
        created_at_s bigint NOT NULL,
        removed bigint NOT NULL CHECK (removed IN (0, 1))
    );
    CREATE UNIQUE INDEX partner_links_by_ref ON partner_links (partner_id, member_ref)
        WHERE removed = 0;
    CREATE INDEX partner_links_by_member ON partner_links (member_id);
    INSERT INTO partner_links VALUES (
        '\\x00000000000000000000000000000001'::bytea,
        '\\x00000000000000000000000000000002'::bytea,
        '\\x00000000000000000000000000000003'::bytea, 'abc', 1000, 0);";

/// What migration 19 must make of the link above: the same link, unproven.
fn check_migrated_link(read: &mut TableRead<'_>) {
    let found = exchanges::link(read, 1).unwrap().expect("the link stays");
    assert_eq!(found.status, LinkStatus::Unproven);
    assert_eq!((found.member_id, found.partner_id), (2, 3));
    assert_eq!(found.member_ref, "abc");
    assert_eq!(
        (found.state_hash, found.expires_at_s, found.proven_at_s),
        (None, None, None)
    );
    assert_eq!(exchanges::active_link_by_ref(read, 3, "abc").unwrap(), None);
}

/// A link made before migration 19 (without the partner's proof) is unproven after it.
#[test]
fn sqlite_migration_19_marks_older_links_unproven() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("old.db");
    {
        let mut s = store::sqlite::SqliteStore::open(&path).unwrap();
        // SQLite spells a blob literal X'..'; the rest is the same text.
        let old = LINKS_BEFORE_MIGRATION_19
            .replace("'\\x", "X'")
            .replace("'::bytea", "'");
        s.connection()
            .execute_batch(&format!(
                "{old}; {}; PRAGMA user_version = 18;",
                common::UNDO_MIGRATIONS_AFTER_19
            ))
            .unwrap();
    }
    let mut s = store::sqlite::SqliteStore::open(&path).unwrap();
    check_migrated_link(&mut s.tables().unwrap());
    // The ref is free for a proven link.
    write(&mut s, vec![ExchangeWrite::Link(link(9, 4, 3, "ABC"))]);
}

#[test]
fn postgres_migration_19_marks_older_links_unproven() {
    let mut fixture = common::PgFixture::new("links_migration_19");
    let old = format!(
        "{LINKS_BEFORE_MIGRATION_19}; {}; DELETE FROM schema_migrations WHERE version >= 19;",
        common::UNDO_MIGRATIONS_AFTER_19
    );
    fixture.store.client().batch_execute(&old).unwrap();
    let reopened = store::postgres::PostgresStore::connect_schema(
        &common::database_url(),
        &fixture.schema,
        &common::database_tls(),
    );
    let mut s = reopened.unwrap();
    check_migrated_link(&mut s.tables().unwrap());
    write(&mut s, vec![ExchangeWrite::Link(link(9, 4, 3, "ABC"))]);
}

#[test]
fn link_statuses_name_themselves() {
    let names: Vec<&str> = LinkStatus::ALL
        .iter()
        .map(|status| status.as_str())
        .collect();
    assert_eq!(names, ["pending_proof", "active", "unproven"]);
    assert_eq!(
        LinkStatus::default(),
        LinkStatus::Unproven,
        "older records are unproven"
    );
}

#[test]
fn statuses_name_themselves() {
    for status in ExchangeStatus::ALL {
        assert_eq!(ExchangeStatus::parse(status.as_str()), Some(status));
        assert_eq!(status.is_final(), status != ExchangeStatus::Requested);
    }
    assert_eq!(ExchangeStatus::parse("Requested"), None);
    assert_eq!(ExchangeStatus::parse(""), None);
}
