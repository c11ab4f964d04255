//! The partner catalogue (`store::tables::partners`) on every backend: a partner and its
//! rates written in the ledger's transaction read back as written (every column at its
//! edges, rates oldest first, with none as with three or with the most a partner may have);
//! a rewrite replaces the partner's row and its rates whole and leaves other partners'
//! alone; the rate in force at a time is the last that took effect at or before it; a rate
//! of 0 (num or den), a minimum unit of 0, two rates from one time, too many rates or a
//! value above 2^63 − 1 are refused and the failing append writes none of its rows; the
//! pages walk every partner once, in id order, match a naive model and stop at their
//! maximum, and the count follows. The row's serde form is the platform's JSON (old records
//! decode into it, and write back the same). The PostgreSQL variants need
//! `MILEVERSE_TEST_DATABASE_URL` (see `suite.rs`).

use std::collections::BTreeMap;

mod common;

use common::Dice;

use store::Store;
use store::tables::partners::{
    self, PARTNERS_PAGE_MAX, PartnerRow, PartnerWrite, RATES_PER_PARTNER_MAX, RateRow,
};
use store::tables::{ROWS_PER_APPEND_MAX, TableRead};

fn write(s: &mut dyn Store, rows: Vec<PartnerRow>) {
    let writes: Vec<PartnerWrite> = rows.into_iter().map(PartnerWrite::Partner).collect();
    common::append_rows(s, writes).unwrap();
}

/// Appends the partners, which must be refused (and so write nothing).
fn refused(s: &mut dyn Store, rows: Vec<PartnerRow>) {
    let writes: Vec<PartnerWrite> = rows.into_iter().map(PartnerWrite::Partner).collect();
    assert!(common::append_rows(s, writes).is_err());
}

fn rate(effective_from_s: u64, num: u64, den: u64) -> RateRow {
    RateRow {
        effective_from_s,
        num,
        den,
    }
}

/// A partner with the platform's default limits.
fn partner(id: u128, rates: Vec<RateRow>) -> PartnerRow {
    PartnerRow {
        id,
        name: format!("Partner {id}"),
        api_base_url: "https://api.example.com/mileverse/".into(),
        secret_sealed: vec![0x5E; 60],
        rates,
        minimum_unit: 1,
        daily_limit: 1_000_000,
        monthly_limit: 10_000_000,
        credit_line: 10_000_000_000,
        enabled: true,
        created_at_s: 1_700_000_000,
        prepaid: false,
    }
}

fn found(s: &mut dyn Store, id: u128) -> Option<PartnerRow> {
    partners::partner(&mut s.tables().unwrap(), id).unwrap()
}

fn count(s: &mut dyn Store) -> u64 {
    partners::partner_count(&mut s.tables().unwrap()).unwrap()
}

fn an_empty_table_answers_nothing(s: &mut dyn Store) {
    let mut read = s.tables().unwrap();
    let read = &mut read;
    assert_eq!(partners::partner(read, 1).unwrap(), None);
    assert!(partners::partners_page(read, None, 10).unwrap().is_empty());
    assert!(
        partners::partners_page(read, Some(0), 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(partners::partner_count(read).unwrap(), 0);
}

fn a_partner_with_three_rates_reads_back(s: &mut dyn Store) {
    let sky = partner(
        5,
        vec![
            rate(0, 1, 1),
            rate(1_700_000_000, 3, 2),
            rate(1_800_000_000, 7, 10),
        ],
    );
    // Every column to its edges: the largest id, long and Korean text, a secret with every
    // byte, the largest stored amounts and time, disabled.
    let edges = PartnerRow {
        id: u128::MAX,
        name: "대한항공 ".repeat(50),
        api_base_url: format!("https://{}.example/", "a".repeat(200)),
        secret_sealed: (0..=255).collect(),
        rates: vec![
            rate(0, 1, (1 << 63) - 1),
            rate((1 << 63) - 2, (1 << 63) - 1, 1),
            rate((1 << 63) - 1, 1, 1),
        ],
        minimum_unit: (1 << 63) - 1,
        daily_limit: 0,
        monthly_limit: (1 << 63) - 1,
        credit_line: 0,
        enabled: false,
        created_at_s: (1 << 63) - 1,
        prepaid: true,
    };
    let zero = PartnerRow {
        id: 0,
        name: String::new(),
        api_base_url: String::new(),
        secret_sealed: Vec::new(),
        rates: vec![rate(0, 1, 1)],
        minimum_unit: 1,
        daily_limit: 0,
        monthly_limit: 0,
        credit_line: 0,
        enabled: true,
        created_at_s: 0,
        prepaid: false,
    };
    let rows = [sky.clone(), edges.clone(), zero.clone()];
    write(s, rows.to_vec());
    let mut read = s.tables().unwrap();
    let read = &mut read;
    for row in &rows {
        assert_eq!(partners::partner(read, row.id).unwrap().as_ref(), Some(row));
    }
    assert_eq!(partners::partner(read, 4).unwrap(), None);
    assert_eq!(partners::partner(read, 6).unwrap(), None);
    assert_eq!(partners::partner_count(read).unwrap(), 3);
    assert_eq!(
        partners::partners_page(read, None, 10).unwrap(),
        vec![zero, sky, edges]
    );
}

fn a_rewrite_replaces_the_partner_and_its_rates(s: &mut dyn Store) {
    let first = partner(9, vec![rate(100, 1, 1), rate(200, 2, 1), rate(300, 3, 1)]);
    let neighbour = partner(10, vec![rate(100, 5, 1), rate(200, 6, 1)]);
    write(s, vec![first.clone(), neighbour.clone()]);
    assert_eq!(found(s, 9), Some(first));

    // The rate from 200 changed, the one from 300 gone, one from 400 added; every column
    // of the partner's row changes too (its id kept).
    let again = PartnerRow {
        id: 9,
        name: "Renamed".into(),
        api_base_url: "http://127.0.0.1:9/".into(),
        secret_sealed: vec![1, 2, 3],
        rates: vec![rate(100, 1, 1), rate(200, 9, 4), rate(400, 4, 1)],
        minimum_unit: 100,
        daily_limit: 5,
        monthly_limit: 50,
        credit_line: 500,
        enabled: false,
        created_at_s: 77,
        prepaid: true,
    };
    write(s, vec![again.clone()]);
    assert_eq!(found(s, 9), Some(again.clone()));
    assert_eq!(found(s, 10), Some(neighbour.clone()));
    assert_eq!(count(s), 2);

    // Written again unchanged: the same rows.
    write(s, vec![again.clone()]);
    assert_eq!(found(s, 9), Some(again));
    assert_eq!(found(s, 10), Some(neighbour));
    assert_eq!(count(s), 2);
}

fn a_partner_without_rates(s: &mut dyn Store) {
    let bare = partner(1, Vec::new());
    write(s, vec![bare.clone()]);
    assert_eq!(found(s, 1), Some(bare.clone()));
    assert_eq!(found(s, 1).unwrap().rate_at(u64::MAX), None);
    assert_eq!(
        partners::partners_page(&mut s.tables().unwrap(), None, 10).unwrap(),
        vec![bare]
    );

    // A partner with rates rewritten with none: its rates are gone, its neighbour's kept.
    let other = partner(3, vec![rate(0, 1, 1)]);
    write(
        s,
        vec![
            partner(2, vec![rate(0, 1, 1), rate(5, 2, 1)]),
            other.clone(),
        ],
    );
    write(s, vec![partner(2, Vec::new())]);
    assert_eq!(found(s, 2), Some(partner(2, Vec::new())));
    assert_eq!(found(s, 3), Some(other));
    assert_eq!(count(s), 3);
}

fn the_rate_in_force_is_the_last_that_took_effect(s: &mut dyn Store) {
    write(
        s,
        vec![partner(
            1,
            vec![rate(1_000, 1, 1), rate(2_000, 3, 2), rate(3_000, 2, 1)],
        )],
    );
    // Read back from the table, so the rates are as a read answers them.
    let row = found(s, 1).unwrap();
    // Before the first rate: none.
    assert_eq!(row.rate_at(0), None);
    assert_eq!(row.rate_at(999), None);
    // At each effective date, that rate; between two, the earlier one.
    assert_eq!(row.rate_at(1_000), Some(rate(1_000, 1, 1)));
    assert_eq!(row.rate_at(1_001), Some(rate(1_000, 1, 1)));
    assert_eq!(row.rate_at(1_999), Some(rate(1_000, 1, 1)));
    assert_eq!(row.rate_at(2_000), Some(rate(2_000, 3, 2)));
    assert_eq!(row.rate_at(2_500), Some(rate(2_000, 3, 2)));
    assert_eq!(row.rate_at(3_000), Some(rate(3_000, 2, 1)));
    // After the last: the last, for ever.
    assert_eq!(row.rate_at(u64::MAX), Some(rate(3_000, 2, 1)));

    // Rates written out of date order read back in it (and so answer the same).
    write(
        s,
        vec![partner(
            2,
            vec![rate(3_000, 2, 1), rate(1_000, 1, 1), rate(2_000, 3, 2)],
        )],
    );
    let row_2 = found(s, 2).unwrap();
    assert_eq!(row_2.rates, row.rates);
    for at_s in [0, 1_000, 1_500, 2_000, 2_999, 3_000, u64::MAX] {
        assert_eq!(row_2.rate_at(at_s), row.rate_at(at_s), "at {at_s}");
    }
    // One rate from 0: in force from the start.
    write(s, vec![partner(3, vec![rate(0, 7, 3)])]);
    let row_3 = found(s, 3).unwrap();
    assert_eq!(row_3.rate_at(0), Some(rate(0, 7, 3)));
    assert_eq!(row_3.rate_at(u64::MAX), Some(rate(0, 7, 3)));
}

fn bad_rates_and_limits_are_refused(s: &mut dyn Store) {
    let kept = partner(1, vec![rate(0, 1, 1), rate(100, 2, 1)]);
    write(s, vec![kept.clone()]);

    // A num of 0: the append fails, and the rows before it in the same append (a new
    // partner, a rewrite of the kept one) go with it.
    let mut changed = kept.clone();
    changed.name = "changed".into();
    changed.rates = vec![rate(50, 5, 1)];
    refused(
        s,
        vec![
            partner(2, vec![rate(0, 1, 1)]),
            changed,
            partner(3, vec![rate(0, 1, 1), rate(10, 0, 1)]),
        ],
    );
    // A den of 0, a minimum unit of 0.
    refused(s, vec![partner(4, vec![rate(0, 1, 0)])]);
    let mut no_unit = partner(5, vec![rate(0, 1, 1)]);
    no_unit.minimum_unit = 0;
    refused(s, vec![no_unit]);
    // Two rates from the same time.
    refused(s, vec![partner(6, vec![rate(10, 1, 1), rate(10, 2, 1)])]);
    // A rewrite of the kept partner with a bad rate leaves its rates as they were.
    let mut bad_rewrite = kept.clone();
    bad_rewrite.rates = vec![rate(0, 1, 1), rate(100, 0, 1)];
    refused(s, vec![bad_rewrite]);

    let mut read = s.tables().unwrap();
    let read = &mut read;
    for id in 2..=6 {
        assert_eq!(partners::partner(read, id).unwrap(), None, "partner {id}");
    }
    assert_eq!(partners::partner(read, 1).unwrap(), Some(kept));
    assert_eq!(partners::partner_count(read).unwrap(), 1);
}

fn limits_are_stored_up_to_the_largest_bigint(s: &mut dyn Store) {
    // 2^63 − 1 in every amount, time and rate column: stored and read back.
    let mut most = partner(
        1,
        vec![rate(i64::MAX as u64, i64::MAX as u64, i64::MAX as u64)],
    );
    most.minimum_unit = i64::MAX as u64;
    most.daily_limit = i64::MAX as u64;
    most.monthly_limit = i64::MAX as u64;
    most.credit_line = i64::MAX as u64;
    most.created_at_s = i64::MAX as u64;
    write(s, vec![most.clone()]);
    assert_eq!(found(s, 1), Some(most.clone()));

    // u64::MAX (and 2^63) in any of them is refused before it is written: "no limit" is
    // not u64::MAX here.
    let above: [fn(&mut PartnerRow); 9] = [
        |row| row.minimum_unit = u64::MAX,
        |row| row.daily_limit = u64::MAX,
        |row| row.monthly_limit = u64::MAX,
        |row| row.credit_line = u64::MAX,
        |row| row.credit_line = 1 << 63,
        |row| row.created_at_s = u64::MAX,
        |row| row.rates[0].effective_from_s = u64::MAX,
        |row| row.rates[0].num = u64::MAX,
        |row| row.rates[0].den = 1 << 63,
    ];
    for (index, change) in above.iter().enumerate() {
        let mut new = partner(2, vec![rate(0, 1, 1)]);
        change(&mut new);
        let mut rewrite = most.clone();
        rewrite.name = format!("rewrite {index}");
        change(&mut rewrite);
        refused(s, vec![new]);
        refused(s, vec![rewrite]);
    }
    assert_eq!(found(s, 2), None);
    assert_eq!(found(s, 1), Some(most));
    assert_eq!(count(s), 1);
}

fn the_most_rates_read_back_whole(s: &mut dyn Store) {
    // RATES_PER_PARTNER_MAX rates, a day apart: written and read back whole, in order.
    let rates: Vec<RateRow> = (0..RATES_PER_PARTNER_MAX as u64)
        .map(|day| rate(day * 86_400, day + 1, 1_000))
        .collect();
    let full = partner(1, rates);
    write(s, vec![full.clone()]);
    assert_eq!(found(s, 1), Some(full.clone()));
    assert_eq!(
        partners::partners_page(&mut s.tables().unwrap(), None, 10).unwrap(),
        vec![full.clone()]
    );

    // One more is refused, new or as a rewrite, and nothing of it is written.
    let mut over = full.clone();
    over.rates.push(rate(u64::from(u32::MAX), 1, 1));
    refused(s, vec![over.clone()]);
    over.id = 2;
    refused(s, vec![over]);
    assert_eq!(found(s, 1), Some(full));
    assert_eq!(found(s, 2), None);
}

/// Partners with ids spread over the whole 128 bits (so byte order, not length, sorts
/// them), each with up to 5 rates, strictly increasing.
fn random_partners(dice: &mut Dice, count: u64) -> BTreeMap<u128, PartnerRow> {
    let mut model = BTreeMap::new();
    for index in 1..=count {
        let id = u128::from(index) << 120 | u128::from(dice.roll(u64::MAX));
        model.insert(id, random_partner(dice, id));
    }
    model
}

fn random_partner(dice: &mut Dice, id: u128) -> PartnerRow {
    let mut from_s = dice.roll(1_000);
    let mut rates = Vec::new();
    for _ in 0..dice.roll(6) {
        rates.push(rate(from_s, 1 + dice.roll(100), 1 + dice.roll(100)));
        from_s += 1 + dice.roll(1_000);
    }
    let mut row = partner(id, rates);
    row.minimum_unit = 1 + dice.roll(1_000);
    row.daily_limit = dice.roll(1 << 40);
    row.enabled = dice.roll(2) == 0;
    row.prepaid = dice.roll(2) == 0;
    row
}

/// Most rows a walk takes before it is deemed not to end (a cursor that repeats a row).
const WALK_MAX: usize = 10_000;

/// Every partner the pages answer, page by page; asserts each page's bound and that the
/// walk ends.
fn walk(read: &mut TableRead<'_>, page_size: usize) -> Vec<PartnerRow> {
    let mut walked: Vec<PartnerRow> = Vec::new();
    loop {
        let after = walked.last().map(|row| row.id);
        let rows = partners::partners_page(read, after, page_size).unwrap();
        assert!(rows.len() <= page_size);
        if rows.is_empty() {
            return walked;
        }
        walked.extend(rows);
        assert!(walked.len() <= WALK_MAX, "the walk does not end");
    }
}

fn check_partners(read: &mut TableRead<'_>, model: &BTreeMap<u128, PartnerRow>) {
    for (id, row) in model {
        assert_eq!(partners::partner(read, *id).unwrap().as_ref(), Some(row));
    }
    let all: Vec<PartnerRow> = model.values().cloned().collect();
    for page_size in [1, 7, PARTNERS_PAGE_MAX] {
        assert_eq!(walk(read, page_size), all, "pages of {page_size}");
    }
    assert_eq!(partners::partner_count(read).unwrap(), model.len() as u64);
}

fn partners_match_a_naive_model(s: &mut dyn Store) {
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
    let mut model = random_partners(&mut dice, 60);
    assert!(model.values().any(|row| row.rates.is_empty()));
    assert!(model.values().any(|row| row.rates.len() == 5));
    write(s, model.values().cloned().collect());
    check_partners(&mut s.tables().unwrap(), &model);

    // Some partners are written again whole (other rates, other limits), some are added.
    let mut changes = Vec::new();
    let ids: Vec<u128> = model.keys().copied().collect();
    for id in ids {
        if dice.roll(3) == 0 {
            let row = random_partner(&mut dice, id);
            model.insert(id, row.clone());
            changes.push(row);
        }
    }
    for index in 0..5u128 {
        let id = index << 64 | 7;
        let row = random_partner(&mut dice, id);
        model.insert(id, row.clone());
        changes.push(row);
    }
    write(s, changes);
    check_partners(&mut s.tables().unwrap(), &model);
}

fn pages_stop_at_their_maximum(s: &mut dyn Store) {
    let total = PARTNERS_PAGE_MAX as u128 + 1;
    // One append holds them all.
    const { assert!(PARTNERS_PAGE_MAX < ROWS_PER_APPEND_MAX) };
    let rows: Vec<PartnerRow> = (1..=total)
        .map(|id| partner(id, vec![rate(0, 1, 1), rate(id as u64, 2, 1)]))
        .collect();
    write(s, rows);
    let mut read = s.tables().unwrap();
    let read = &mut read;
    assert_eq!(partners::partner_count(read).unwrap(), total as u64);
    let max = PARTNERS_PAGE_MAX;
    for limit in [max, max + 1, usize::MAX] {
        let page = partners::partners_page(read, None, limit).unwrap();
        assert_eq!(page.len(), max, "a page of {limit}");
        assert_eq!(page.first().unwrap().id, 1);
        assert_eq!(page.last().unwrap().id, total - 1);
        assert!(page.iter().all(|row| row.rates.len() == 2));
        assert_eq!(page[41], partner(42, vec![rate(0, 1, 1), rate(42, 2, 1)]));
    }
    assert!(partners::partners_page(read, None, 0).unwrap().is_empty());
    // The rest after a full page; nothing after the last.
    let rest = partners::partners_page(read, Some(total - 1), max).unwrap();
    assert_eq!(
        rest.iter().map(|row| row.id).collect::<Vec<_>>(),
        vec![total]
    );
    assert!(
        partners::partners_page(read, Some(total), max)
            .unwrap()
            .is_empty()
    );
    // A cursor between ids.
    let page = partners::partners_page(read, Some(0), 2).unwrap();
    assert_eq!(
        page.iter().map(|row| row.id).collect::<Vec<_>>(),
        vec![1, 2]
    );
    let page = partners::partners_page(read, Some(u128::MAX), 2).unwrap();
    assert!(page.is_empty());
}

/// A record as the platform wrote it.
const OLD_RECORD: &str = "{\"id\":5,\"name\":\"Sky\",\"api_base_url\":\"http://127.0.0.1:9/\",\
                          \"secret_sealed\":\"00ff\",\"rates\":[{\"effective_from_s\":0,\
                          \"num\":1,\"den\":1}],\"minimum_unit\":1,\"daily_limit\":1000000,\
                          \"monthly_limit\":10000000,\"credit_line\":10000000000,\
                          \"enabled\":true,\"created_at_s\":1}";

fn partners_round_trip_through_the_platforms_json(s: &mut dyn Store) {
    // The old shape decodes into the row, and is written back the same.
    let decoded: PartnerRow = serde_json::from_str(OLD_RECORD).unwrap();
    let expected = PartnerRow {
        id: 5,
        name: "Sky".into(),
        api_base_url: "http://127.0.0.1:9/".into(),
        secret_sealed: vec![0x00, 0xFF],
        rates: vec![rate(0, 1, 1)],
        minimum_unit: 1,
        daily_limit: 1_000_000,
        monthly_limit: 10_000_000,
        credit_line: 10_000_000_000,
        enabled: true,
        created_at_s: 1,
        prepaid: false,
    };
    assert_eq!(decoded, expected);
    assert_eq!(serde_json::to_string(&decoded).unwrap(), OLD_RECORD);

    // Through the table and back to the same JSON (as the first start moves a record).
    write(s, vec![decoded]);
    let read_back = found(s, 5).unwrap();
    assert_eq!(read_back, expected);
    assert_eq!(serde_json::to_string(&read_back).unwrap(), OLD_RECORD);

    // A full row round-trips through serde_json: the id beyond 64 bits, the secret in hex.
    let mut full = partner(
        u128::MAX - 1,
        vec![rate(0, 1, 1), rate(1_700_000_000, 3, 2)],
    );
    full.secret_sealed = (0..=255).collect();
    full.enabled = false;
    let json = serde_json::to_string(&full).unwrap();
    assert!(
        json.contains(&format!("\"id\":{}", u128::MAX - 1)),
        "{json}"
    );
    let hex: String = (0..=255u8).map(|byte| format!("{byte:02x}")).collect();
    assert!(
        json.contains(&format!("\"secret_sealed\":\"{hex}\"")),
        "{json}"
    );
    assert_eq!(serde_json::from_str::<PartnerRow>(&json).unwrap(), full);
    let rate_json = serde_json::to_string(&rate(7, 3, 2)).unwrap();
    assert_eq!(rate_json, "{\"effective_from_s\":7,\"num\":3,\"den\":2}");
    write(s, vec![full.clone()]);
    let read_back = found(s, u128::MAX - 1).unwrap();
    assert_eq!(serde_json::to_string(&read_back).unwrap(), json);
}

for_each_backend!(
    an_empty_table_answers_nothing,
    a_partner_with_three_rates_reads_back,
    a_rewrite_replaces_the_partner_and_its_rates,
    a_partner_without_rates,
    the_rate_in_force_is_the_last_that_took_effect,
    bad_rates_and_limits_are_refused,
    limits_are_stored_up_to_the_largest_bigint,
    the_most_rates_read_back_whole,
    partners_match_a_naive_model,
    pages_stop_at_their_maximum,
    partners_round_trip_through_the_platforms_json,
);
