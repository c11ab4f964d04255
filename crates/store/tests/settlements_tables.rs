//! The settlement tables (`store::tables::settlements`) on every backend: a run and its
//! lines written in the ledger's transaction read back as written, by id and by cut-off
//! (lines by merchant id, every column to its edges); a rewrite of a run replaces its lines
//! whole; a change of status keeps them; a second run of a cut-off, a fee rate above
//! 10,000 basis points or a merchant twice in a run is refused and the failing append
//! writes none of its rows; pending runs, the runs newest first and a merchant's lines match
//! a naive model of the rows (pages walk every row once, in order) and stop at their
//! maximum. The run's serde form is the platform's JSON (old records decode into it). The
//! PostgreSQL variants need `MILEVERSE_TEST_DATABASE_URL` (see `suite.rs`).

use std::collections::BTreeMap;

mod common;

use common::Dice;

use store::Store;
use store::tables::TableRead;
use store::tables::settlements::{
    self, SETTLEMENTS_PAGE_MAX, SettlementLine, SettlementRun, SettlementStatus, SettlementWrite,
};

fn write(s: &mut dyn Store, writes: Vec<SettlementWrite>) {
    common::append_rows(s, writes).unwrap();
}

/// Appends the writes, which must be refused.
fn refused(s: &mut dyn Store, writes: Vec<SettlementWrite>) {
    assert!(common::append_rows(s, writes).is_err());
}

/// A consistent line: gross = captured − refunded, fee rounded down, net = gross − fee.
fn line(merchant_id: u128, captured: u64, refunded: u64, fee_bps: u32) -> SettlementLine {
    let gross = captured - refunded;
    let fee = gross * u64::from(fee_bps) / 10_000;
    SettlementLine {
        merchant_id,
        captured,
        refunded,
        gross,
        fee_bps,
        fee,
        net: gross - fee,
    }
}

fn run(id: u128, until_s: u64, lines: Vec<SettlementLine>) -> SettlementRun {
    SettlementRun {
        id,
        until_s,
        status: SettlementStatus::Pending,
        lines,
        created_at_s: until_s + 10,
        paid_at_s: None,
    }
}

fn an_empty_table_answers_nothing(s: &mut dyn Store) {
    let mut read = s.tables().unwrap();
    let read = &mut read;
    assert_eq!(settlements::run(read, 1).unwrap(), None);
    assert_eq!(settlements::run_by_until(read, 100).unwrap(), None);
    assert_eq!(settlements::run_by_until(read, u64::MAX).unwrap(), None);
    assert!(
        settlements::pending_runs(read, None, 10)
            .unwrap()
            .is_empty()
    );
    assert!(settlements::runs_page(read, None, 10).unwrap().is_empty());
    assert!(
        settlements::merchant_lines(read, 1, None, 10)
            .unwrap()
            .is_empty()
    );
}

fn a_run_reads_back_by_id_and_by_until(s: &mut dyn Store) {
    // Lines written out of merchant order, read back in it; every column to its edges.
    let lines = vec![
        SettlementLine {
            merchant_id: u128::MAX,
            captured: (1 << 63) - 1,
            refunded: (1 << 63) - 1,
            gross: (1 << 63) - 1,
            fee_bps: 10_000,
            fee: (1 << 63) - 1,
            net: (1 << 63) - 1,
        },
        line(7, 1_000_000, 250_000, 250),
        SettlementLine {
            merchant_id: 0,
            captured: 0,
            refunded: 0,
            gross: 0,
            fee_bps: 0,
            fee: 0,
            net: 0,
        },
    ];
    let mut first = run(1 << 100 | 5, 1_700_000_000, lines.clone());
    first.status = SettlementStatus::Paid;
    first.paid_at_s = Some((1 << 63) - 1);
    first.created_at_s = (1 << 63) - 1;
    let other = run(3, 1_700_086_400, vec![line(7, 10, 1, 100)]);
    write(
        s,
        vec![
            SettlementWrite::Run(first.clone()),
            SettlementWrite::Run(other.clone()),
        ],
    );

    let mut expected = first.clone();
    expected.lines.sort_by_key(|line| line.merchant_id);
    assert_eq!(expected.lines[0].merchant_id, 0);
    let mut read = s.tables().unwrap();
    let read = &mut read;
    assert_eq!(
        settlements::run(read, first.id).unwrap(),
        Some(expected.clone())
    );
    assert_eq!(
        settlements::run_by_until(read, 1_700_000_000).unwrap(),
        Some(expected)
    );
    assert_eq!(settlements::run(read, 3).unwrap(), Some(other.clone()));
    assert_eq!(
        settlements::run_by_until(read, 1_700_086_400).unwrap(),
        Some(other)
    );
    assert_eq!(settlements::run(read, 4).unwrap(), None);
    assert_eq!(
        settlements::run_by_until(read, 1_700_000_001).unwrap(),
        None
    );
    assert_eq!(settlements::run_by_until(read, 1 << 63).unwrap(), None);
}

fn a_rewrite_replaces_the_lines(s: &mut dyn Store) {
    let first = run(
        9,
        1_000,
        vec![
            line(1, 100, 0, 250),
            line(2, 200, 50, 300),
            line(3, 5, 5, 0),
        ],
    );
    let neighbour = run(10, 2_000, vec![line(1, 7, 0, 250), line(3, 8, 0, 0)]);
    write(
        s,
        vec![
            SettlementWrite::Run(first.clone()),
            SettlementWrite::Run(neighbour.clone()),
        ],
    );
    assert_eq!(
        settlements::run(&mut s.tables().unwrap(), 9).unwrap(),
        Some(first)
    );

    // Two lines changed, the third gone; the run's row changes too (its id kept).
    let mut again = run(9, 1_500, vec![line(3, 60, 10, 500), line(1, 120, 20, 250)]);
    again.status = SettlementStatus::Settled;
    again.created_at_s = 77;
    write(s, vec![SettlementWrite::Run(again.clone())]);
    let mut expected = again.clone();
    expected.lines.sort_by_key(|line| line.merchant_id);
    let mut read = s.tables().unwrap();
    let read = &mut read;
    assert_eq!(settlements::run(read, 9).unwrap(), Some(expected.clone()));
    assert_eq!(
        settlements::run_by_until(read, 1_500).unwrap(),
        Some(expected)
    );
    // The old cut-off is free again; the other run's lines are untouched.
    assert_eq!(settlements::run_by_until(read, 1_000).unwrap(), None);
    assert_eq!(settlements::run(read, 10).unwrap(), Some(neighbour));
    let of_two = settlements::merchant_lines(read, 2, None, 10).unwrap();
    assert!(of_two.is_empty(), "{of_two:?}");
    let of_three: Vec<(u128, SettlementLine)> = settlements::merchant_lines(read, 3, None, 10)
        .unwrap()
        .into_iter()
        .map(|(id, _, _, line)| (id, line))
        .collect();
    assert_eq!(
        of_three,
        vec![(10, line(3, 8, 0, 0)), (9, line(3, 60, 10, 500))]
    );
}

fn a_status_change_keeps_the_lines(s: &mut dyn Store) {
    let lines = vec![
        line(1, 100, 0, 250),
        line(2, 200, 50, 300),
        line(3, 5, 5, 0),
    ];
    let pending = run(4, 1_000, lines);
    write(s, vec![SettlementWrite::Run(pending.clone())]);
    let pending_ids = |s: &mut dyn Store| -> Vec<u128> {
        let runs = settlements::pending_runs(&mut s.tables().unwrap(), None, 10).unwrap();
        runs.iter().map(|run| run.id).collect()
    };
    assert_eq!(pending_ids(s), vec![4]);

    write(
        s,
        vec![SettlementWrite::Status {
            id: 4,
            status: SettlementStatus::Settled,
            paid_at_s: None,
        }],
    );
    let mut settled = pending.clone();
    settled.status = SettlementStatus::Settled;
    assert_eq!(
        settlements::run(&mut s.tables().unwrap(), 4).unwrap(),
        Some(settled.clone())
    );
    assert!(pending_ids(s).is_empty());

    write(
        s,
        vec![SettlementWrite::Status {
            id: 4,
            status: SettlementStatus::Paid,
            paid_at_s: Some(5_000),
        }],
    );
    let mut paid = settled;
    paid.status = SettlementStatus::Paid;
    paid.paid_at_s = Some(5_000);
    let mut read = s.tables().unwrap();
    assert_eq!(settlements::run(&mut read, 4).unwrap(), Some(paid.clone()));
    let statuses: Vec<SettlementStatus> = settlements::merchant_lines(&mut read, 2, None, 10)
        .unwrap()
        .into_iter()
        .map(|(_, _, status, _)| status)
        .collect();
    assert_eq!(statuses, vec![SettlementStatus::Paid]);
    drop(read);

    // Back to pending, paid_at_s unset; a run that is not there is left so.
    write(
        s,
        vec![
            SettlementWrite::Status {
                id: 4,
                status: SettlementStatus::Pending,
                paid_at_s: None,
            },
            SettlementWrite::Status {
                id: 5,
                status: SettlementStatus::Paid,
                paid_at_s: Some(1),
            },
        ],
    );
    assert_eq!(
        settlements::run(&mut s.tables().unwrap(), 4).unwrap(),
        Some(pending)
    );
    assert_eq!(settlements::run(&mut s.tables().unwrap(), 5).unwrap(), None);
    assert_eq!(pending_ids(s), vec![4]);
    // A time of 2^63 or more is refused before it is written.
    refused(
        s,
        vec![SettlementWrite::Status {
            id: 4,
            status: SettlementStatus::Paid,
            paid_at_s: Some(1 << 63),
        }],
    );
    assert_eq!(pending_ids(s), vec![4]);
}

fn a_second_run_of_a_cut_off_is_refused(s: &mut dyn Store) {
    let first = run(1, 1_000, vec![line(1, 100, 0, 250)]);
    write(s, vec![SettlementWrite::Run(first.clone())]);

    // The same cut-off under another id: the unique index refuses it, and the rows before
    // it in the same append (a run of another cut-off, a status) go with it.
    let elsewhere = run(2, 2_000, vec![line(2, 10, 0, 0)]);
    let same_until = run(3, 1_000, vec![line(1, 50, 0, 250), line(3, 60, 0, 250)]);
    refused(
        s,
        vec![
            SettlementWrite::Run(elsewhere),
            SettlementWrite::Status {
                id: 1,
                status: SettlementStatus::Settled,
                paid_at_s: None,
            },
            SettlementWrite::Run(same_until),
        ],
    );
    let mut read = s.tables().unwrap();
    let read = &mut read;
    assert_eq!(settlements::run(read, 1).unwrap(), Some(first.clone()));
    assert_eq!(settlements::run(read, 2).unwrap(), None);
    assert_eq!(settlements::run(read, 3).unwrap(), None);
    assert_eq!(settlements::run_by_until(read, 1_000).unwrap(), Some(first));
    assert_eq!(settlements::run_by_until(read, 2_000).unwrap(), None);
    for merchant_id in [2, 3] {
        let lines = settlements::merchant_lines(read, merchant_id, None, 10).unwrap();
        assert!(lines.is_empty(), "{lines:?}");
    }
    let lines = settlements::merchant_lines(read, 1, None, 10).unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(settlements::runs_page(read, None, 10).unwrap().len(), 1);
}

fn a_run_with_no_lines(s: &mut dyn Store) {
    let empty = run(1, 1_000, Vec::new());
    write(s, vec![SettlementWrite::Run(empty.clone())]);
    let mut read = s.tables().unwrap();
    assert_eq!(settlements::run(&mut read, 1).unwrap(), Some(empty.clone()));
    assert_eq!(
        settlements::run_by_until(&mut read, 1_000).unwrap(),
        Some(empty.clone())
    );
    assert_eq!(
        settlements::pending_runs(&mut read, None, 10).unwrap(),
        vec![empty.clone()]
    );
    assert_eq!(
        settlements::runs_page(&mut read, None, 10).unwrap(),
        vec![empty]
    );
    drop(read);

    // A run with lines rewritten with none: its lines are gone.
    write(
        s,
        vec![SettlementWrite::Run(run(2, 2_000, vec![line(5, 1, 0, 0)]))],
    );
    write(s, vec![SettlementWrite::Run(run(2, 2_000, Vec::new()))]);
    let mut read = s.tables().unwrap();
    assert!(
        settlements::run(&mut read, 2)
            .unwrap()
            .unwrap()
            .lines
            .is_empty()
    );
    assert!(
        settlements::merchant_lines(&mut read, 5, None, 10)
            .unwrap()
            .is_empty()
    );
}

fn the_columns_checks_refuse_bad_lines(s: &mut dyn Store) {
    // A fee rate of 10,000 basis points is the most; 10,001 is refused.
    let mut all = line(1, 100, 0, 10_000);
    assert_eq!(all.net, 0);
    write(
        s,
        vec![SettlementWrite::Run(run(1, 1_000, vec![all.clone()]))],
    );
    all.fee_bps = 10_001;
    refused(
        s,
        vec![SettlementWrite::Run(run(2, 2_000, vec![all.clone()]))],
    );
    all.fee_bps = u32::MAX;
    refused(s, vec![SettlementWrite::Run(run(3, 3_000, vec![all]))]);
    // A merchant twice in one run.
    refused(
        s,
        vec![SettlementWrite::Run(run(
            4,
            4_000,
            vec![line(1, 10, 0, 0), line(1, 20, 0, 0)],
        ))],
    );
    // An amount or a time of 2^63 or more is refused before it is written.
    refused(
        s,
        vec![SettlementWrite::Run(run(
            5,
            5_000,
            vec![line(1, 1 << 63, 0, 0)],
        ))],
    );
    refused(s, vec![SettlementWrite::Run(run(6, 1 << 63, Vec::new()))]);
    // A fee-rate rejection in a rewrite leaves the run's lines as they were.
    let mut bad = run(1, 1_000, vec![line(2, 100, 0, 250)]);
    bad.lines.push(SettlementLine {
        fee_bps: 10_001,
        ..line(3, 1, 0, 0)
    });
    refused(s, vec![SettlementWrite::Run(bad)]);

    let mut read = s.tables().unwrap();
    let read = &mut read;
    for id in 2..=6 {
        assert_eq!(settlements::run(read, id).unwrap(), None, "run {id}");
    }
    assert_eq!(
        settlements::run(read, 1).unwrap(),
        Some(run(1, 1_000, vec![line(1, 100, 0, 10_000)]))
    );
    assert!(
        settlements::merchant_lines(read, 2, None, 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(settlements::runs_page(read, None, 10).unwrap().len(), 1);
}

const MERCHANTS: u128 = 6;

/// Runs of every status, ids growing with their cut-offs (ids spread over the whole 128
/// bits so byte order, not length, sorts them), created at a few times (ties that only the
/// id breaks), each with lines of some of the merchants.
fn random_runs(dice: &mut Dice, count: u64) -> BTreeMap<u128, SettlementRun> {
    let mut model = BTreeMap::new();
    for index in 1..=count {
        let id = u128::from(index) << 120 | u128::from(dice.roll(u64::MAX));
        let mut lines = Vec::new();
        for merchant_id in 1..=MERCHANTS {
            if dice.roll(2) == 0 {
                let captured = dice.roll(1_000_000);
                let refunded = dice.roll(captured + 1);
                lines.push(line(
                    merchant_id,
                    captured,
                    refunded,
                    dice.roll(1_001) as u32,
                ));
            }
        }
        let mut row = run(id, 86_400 * index, lines);
        row.status = SettlementStatus::ALL[dice.roll(3) as usize];
        row.created_at_s = 1_000 + dice.roll(40);
        if row.status == SettlementStatus::Paid {
            row.paid_at_s = Some(row.created_at_s + 100);
        }
        model.insert(id, row);
    }
    model
}

/// Most rows a walk takes before it is deemed not to end (a cursor that repeats a row).
const WALK_MAX: usize = 10_000;

/// Every row a paged query answers, page by page; asserts each page's bound and that the
/// walk ends.
fn walk<T, C: Copy>(
    page_size: usize,
    cursor_of: impl Fn(&T) -> C,
    mut page: impl FnMut(Option<C>, usize) -> Vec<T>,
) -> Vec<T> {
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

type MerchantLine = (u128, u64, SettlementStatus, SettlementLine);

/// Checks every query against the model.
fn check_runs(read: &mut TableRead<'_>, model: &BTreeMap<u128, SettlementRun>) {
    for (id, row) in model {
        assert_eq!(settlements::run(read, *id).unwrap().as_ref(), Some(row));
        let by_until = settlements::run_by_until(read, row.until_s).unwrap();
        assert_eq!(by_until.as_ref(), Some(row));
    }
    let pending: Vec<SettlementRun> = model
        .values()
        .filter(|row| row.status == SettlementStatus::Pending)
        .cloned()
        .collect();
    let mut newest_first: Vec<SettlementRun> = model.values().cloned().collect();
    newest_first.sort_by_key(|row| (row.created_at_s, row.id));
    newest_first.reverse();
    for page_size in [1, 7, SETTLEMENTS_PAGE_MAX] {
        let walked = walk(
            page_size,
            |row: &SettlementRun| row.id,
            |after, limit| settlements::pending_runs(read, after, limit).unwrap(),
        );
        assert_eq!(walked, pending, "pending, pages of {page_size}");
        let walked = walk(
            page_size,
            |row: &SettlementRun| (row.created_at_s, row.id),
            |before, limit| settlements::runs_page(read, before, limit).unwrap(),
        );
        assert_eq!(walked, newest_first, "newest first, pages of {page_size}");
        for merchant_id in 0..=MERCHANTS + 1 {
            let naive: Vec<MerchantLine> = model
                .values()
                .rev()
                .flat_map(|row| {
                    let of_merchant = row.lines.iter().filter(|l| l.merchant_id == merchant_id);
                    of_merchant.map(|l| (row.id, row.until_s, row.status, l.clone()))
                })
                .collect();
            let walked = walk(
                page_size,
                |line: &MerchantLine| line.0,
                |before, limit| {
                    settlements::merchant_lines(read, merchant_id, before, limit).unwrap()
                },
            );
            assert_eq!(
                walked, naive,
                "merchant {merchant_id}, pages of {page_size}"
            );
        }
    }
}

fn runs_match_a_naive_model(s: &mut dyn Store) {
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
    let mut model = random_runs(&mut dice, 120);
    assert!(model.values().any(|row| row.lines.is_empty()));
    write(
        s,
        model.values().cloned().map(SettlementWrite::Run).collect(),
    );
    check_runs(&mut s.tables().unwrap(), &model);

    // Pending runs settle and settled ones are paid; some runs are written again whole.
    let mut changes = Vec::new();
    let ids: Vec<u128> = model.keys().copied().collect();
    for id in ids {
        let row = model.get_mut(&id).unwrap();
        match dice.roll(3) {
            0 => {
                row.status = match row.status {
                    SettlementStatus::Pending => SettlementStatus::Settled,
                    _ => SettlementStatus::Paid,
                };
                row.paid_at_s = (row.status == SettlementStatus::Paid).then_some(9_999);
                changes.push(SettlementWrite::Status {
                    id,
                    status: row.status,
                    paid_at_s: row.paid_at_s,
                });
            }
            1 => {
                row.lines.retain(|_| dice.roll(3) != 0);
                for line in &mut row.lines {
                    *line = self::line(line.merchant_id, line.captured + 1, 0, 7);
                }
                changes.push(SettlementWrite::Run(row.clone()));
            }
            _ => {}
        }
    }
    assert!(!changes.is_empty());
    write(s, changes);
    check_runs(&mut s.tables().unwrap(), &model);
}

fn pages_stop_at_their_maximum(s: &mut dyn Store) {
    let total = SETTLEMENTS_PAGE_MAX as u128 + 1;
    let mut writes = Vec::new();
    for id in 1..=total {
        let mut row = run(id, id as u64, vec![line(1, 10, 0, 100)]);
        row.created_at_s = 1_000 + (id / 2) as u64;
        writes.push(SettlementWrite::Run(row));
    }
    write(s, writes);
    let mut read = s.tables().unwrap();
    let read = &mut read;
    let max = SETTLEMENTS_PAGE_MAX;
    for limit in [max, max + 1, usize::MAX] {
        let page = settlements::pending_runs(read, None, limit).unwrap();
        assert_eq!(page.len(), max, "a page of {limit}");
        assert_eq!(page.first().unwrap().id, 1);
        assert_eq!(page.last().unwrap().id, total - 1);
        assert!(page.iter().all(|run| run.lines.len() == 1));
        let page = settlements::runs_page(read, None, limit).unwrap();
        assert_eq!(page.len(), max, "a page of {limit}");
        assert_eq!(page.first().unwrap().id, total);
        assert_eq!(page.last().unwrap().id, 2);
        let page = settlements::merchant_lines(read, 1, None, limit).unwrap();
        assert_eq!(page.len(), max, "a page of {limit}");
        assert_eq!(page.first().unwrap().0, total);
        assert_eq!(page.last().unwrap().0, 2);
    }
    assert!(settlements::pending_runs(read, None, 0).unwrap().is_empty());
    assert!(settlements::runs_page(read, None, 0).unwrap().is_empty());
    assert!(
        settlements::merchant_lines(read, 1, None, 0)
            .unwrap()
            .is_empty()
    );
    // The rest after a full page.
    let rest = settlements::pending_runs(read, Some(total - 1), max).unwrap();
    assert_eq!(
        rest.iter().map(|run| run.id).collect::<Vec<_>>(),
        vec![total]
    );
    let rest = settlements::runs_page(read, Some((1_001, 2)), max).unwrap();
    assert_eq!(rest.iter().map(|run| run.id).collect::<Vec<_>>(), vec![1]);
    let rest = settlements::merchant_lines(read, 1, Some(2), max).unwrap();
    assert_eq!(rest.iter().map(|line| line.0).collect::<Vec<_>>(), vec![1]);
}

fn a_run_of_many_lines(s: &mut dyn Store) {
    // One line per merchant, thousands of them: written whole and read back whole.
    let lines: Vec<SettlementLine> = (1..=3_000u128)
        .rev()
        .map(|merchant_id| line(merchant_id << 64 | 1, 1_000, 10, 250))
        .collect();
    let big = run(1, 1_000, lines);
    write(s, vec![SettlementWrite::Run(big.clone())]);
    let mut expected = big;
    expected.lines.reverse();
    let mut read = s.tables().unwrap();
    assert_eq!(settlements::run(&mut read, 1).unwrap(), Some(expected));
}

for_each_backend!(
    an_empty_table_answers_nothing,
    a_run_reads_back_by_id_and_by_until,
    a_rewrite_replaces_the_lines,
    a_status_change_keeps_the_lines,
    a_second_run_of_a_cut_off_is_refused,
    a_run_with_no_lines,
    the_columns_checks_refuse_bad_lines,
    runs_match_a_naive_model,
    pages_stop_at_their_maximum,
    a_run_of_many_lines,
);

#[test]
fn statuses_name_themselves() {
    let names = ["pending", "settled", "paid"];
    for (status, name) in SettlementStatus::ALL.into_iter().zip(names) {
        assert_eq!(status.as_str(), name);
        assert_eq!(SettlementStatus::parse(name), Some(status));
        let json = serde_json::to_string(&status).unwrap();
        assert_eq!(json, format!("\"{name}\""));
    }
    assert_eq!(SettlementStatus::parse("Pending"), None);
    assert_eq!(SettlementStatus::parse("failed"), None);
    assert_eq!(SettlementStatus::parse(""), None);
}

#[test]
fn runs_round_trip_through_the_platforms_json() {
    let mut full = run(
        3 << 100 | 9,
        1_700_000_000,
        vec![line(u128::MAX, 1_000, 100, 250), line(2, 10, 10, 0)],
    );
    full.status = SettlementStatus::Paid;
    full.paid_at_s = Some(1_700_100_000);
    let json = serde_json::to_string(&full).unwrap();
    assert_eq!(serde_json::from_str::<SettlementRun>(&json).unwrap(), full);
    assert!(json.contains("\"status\":\"paid\""), "{json}");
    assert!(
        json.contains(&format!("\"merchant_id\":{}", u128::MAX)),
        "{json}"
    );
    let empty = run(1, 2, Vec::new());
    let json = serde_json::to_string(&empty).unwrap();
    assert_eq!(
        json,
        "{\"id\":1,\"until_s\":2,\"status\":\"pending\",\"lines\":[],\"created_at_s\":12,\
         \"paid_at_s\":null}"
    );
    assert_eq!(serde_json::from_str::<SettlementRun>(&json).unwrap(), empty);

    // A record as the platform wrote it decodes into the run.
    let record = "{\"id\":1,\"until_s\":100,\"status\":\"settled\",\"lines\":[{\"merchant_id\":9,\
                  \"captured\":10,\"refunded\":1,\"gross\":9,\"fee_bps\":250,\"fee\":0,\
                  \"net\":9}],\"created_at_s\":50,\"paid_at_s\":null}";
    let decoded: SettlementRun = serde_json::from_str(record).unwrap();
    let expected = SettlementRun {
        id: 1,
        until_s: 100,
        status: SettlementStatus::Settled,
        lines: vec![SettlementLine {
            merchant_id: 9,
            captured: 10,
            refunded: 1,
            gross: 9,
            fee_bps: 250,
            fee: 0,
            net: 9,
        }],
        created_at_s: 50,
        paid_at_s: None,
    };
    assert_eq!(decoded, expected);
    // And is written back the same.
    assert_eq!(serde_json::to_string(&decoded).unwrap(), record);
}
