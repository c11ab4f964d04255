//! The merchants context's tables (`store::tables::merchants`) on every backend: merchants
//! and terminals written in the ledger's transaction read back as written (every column, at
//! its edges) and are replaced by their id; the fee plan is checked (0 and 10,000 basis
//! points taken, 10,001 refused, and the failing append writes none of its rows); the
//! merchants' list is in (brand, name, id) order by the bytes of brand and name (mixed case
//! and Korean text alike on every backend) and its keyset pages walk every row once; a
//! terminal is found by its key, and a key used twice is refused; a merchant's terminals
//! and their count leave other merchants' out; every page stops at its maximum. The rows'
//! serde form is the platform's JSON (its records decode into the rows). The PostgreSQL
//! variants need `MILEVERSE_TEST_DATABASE_URL` (see `suite.rs`).

mod common;

use common::Dice;

use store::Store;
use store::tables::TableRead;
use store::tables::merchants::{self, MERCHANTS_PAGE_MAX, MerchantRow, MerchantWrite, TerminalRow};

fn write(s: &mut dyn Store, writes: Vec<MerchantWrite>) {
    common::append_rows(s, writes).unwrap();
}

/// Appends the writes, which must fail (and so write nothing).
fn refused(s: &mut dyn Store, writes: Vec<MerchantWrite>) {
    assert!(common::append_rows(s, writes).is_err());
}

fn merchant(id: u128, brand: &str, name: &str) -> MerchantRow {
    MerchantRow {
        id,
        name: name.into(),
        brand: brand.into(),
        fee_bps: 250,
        enabled: true,
        created_at_s: 1_700_000_000,
    }
}

/// A terminal whose key is its id in 32 hex digits (as the platform makes them).
fn terminal(id: u128, merchant_id: u128) -> TerminalRow {
    TerminalRow {
        id,
        merchant_id,
        key_id: format!("{id:032x}"),
        secret_sealed: vec![0x5E; 60],
        enabled: true,
        created_at_s: 1_700_000_000,
    }
}

fn ids_of<T>(rows: &[T], id: impl Fn(&T) -> u128) -> Vec<u128> {
    rows.iter().map(id).collect()
}

fn an_empty_table_answers_nothing(s: &mut dyn Store) {
    let mut read = s.tables().unwrap();
    let read = &mut read;
    assert_eq!(merchants::merchant(read, 1).unwrap(), None);
    assert!(
        merchants::merchants_page(read, None, 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(merchants::merchant_count(read).unwrap(), 0);
    assert_eq!(merchants::terminal(read, 1).unwrap(), None);
    assert_eq!(merchants::terminal_by_key(read, "k").unwrap(), None);
    assert!(merchants::terminals_of(read, 1, 10).unwrap().is_empty());
    assert_eq!(merchants::terminal_count_of(read, 1).unwrap(), 0);
    assert!(
        merchants::terminals_page(read, None, 10)
            .unwrap()
            .is_empty()
    );
}

fn merchants_read_back_and_are_replaced(s: &mut dyn Store) {
    let plain = merchant(7, "GS25", "강남역점");
    let edges = MerchantRow {
        id: u128::MAX,
        name: "N".repeat(100),
        brand: "브".repeat(100),
        fee_bps: 10_000,
        enabled: false,
        created_at_s: (1 << 63) - 1,
    };
    let zero = MerchantRow {
        id: 0,
        name: String::new(),
        brand: String::new(),
        fee_bps: 0,
        enabled: true,
        created_at_s: 0,
    };
    let rows = [plain.clone(), edges.clone(), zero.clone()];
    write(
        s,
        rows.iter().cloned().map(MerchantWrite::Merchant).collect(),
    );
    let mut read = s.tables().unwrap();
    for row in &rows {
        let found = merchants::merchant(&mut read, row.id).unwrap();
        assert_eq!(found.as_ref(), Some(row));
    }
    assert_eq!(merchants::merchant(&mut read, 8).unwrap(), None);
    assert_eq!(merchants::merchant_count(&mut read).unwrap(), 3);
    drop(read);

    // A replace changes every column but the id.
    let changed = MerchantRow {
        id: 7,
        name: "역삼점".into(),
        brand: "CU".into(),
        fee_bps: 1,
        enabled: false,
        created_at_s: 1_800_000_000,
    };
    write(s, vec![MerchantWrite::Merchant(changed.clone())]);
    let mut read = s.tables().unwrap();
    let read = &mut read;
    assert_eq!(merchants::merchant(read, 7).unwrap(), Some(changed.clone()));
    assert_eq!(merchants::merchant(read, u128::MAX).unwrap(), Some(edges));
    assert_eq!(merchants::merchant(read, 0).unwrap(), Some(zero.clone()));
    assert_eq!(merchants::merchant_count(read).unwrap(), 3);
    // The list follows the new brand and name.
    let page = merchants::merchants_page(read, None, 10).unwrap();
    assert_eq!(ids_of(&page, |row| row.id), vec![0, 7, u128::MAX]);
    assert_eq!(page[1], changed);
}

fn fees_are_checked(s: &mut dyn Store) {
    let mut none = merchant(1, "B", "none");
    none.fee_bps = 0;
    let mut all = merchant(2, "B", "all");
    all.fee_bps = 10_000;
    write(
        s,
        vec![
            MerchantWrite::Merchant(none.clone()),
            MerchantWrite::Merchant(all.clone()),
        ],
    );
    let mut read = s.tables().unwrap();
    assert_eq!(
        merchants::merchant(&mut read, 1).unwrap(),
        Some(none.clone())
    );
    assert_eq!(
        merchants::merchant(&mut read, 2).unwrap(),
        Some(all.clone())
    );
    drop(read);

    // 10,001 basis points is refused, and the rows before it in the append go with it.
    let mut over = merchant(3, "B", "over");
    over.fee_bps = 10_001;
    let mut raised = none.clone();
    raised.fee_bps = 500;
    refused(
        s,
        vec![
            MerchantWrite::Merchant(merchant(4, "B", "other")),
            MerchantWrite::Terminal(terminal(40, 4)),
            MerchantWrite::Merchant(raised),
            MerchantWrite::Merchant(over),
        ],
    );
    // So is the largest u32, and a replace of a merchant with too high a fee.
    let mut most = merchant(5, "B", "most");
    most.fee_bps = u32::MAX;
    refused(s, vec![MerchantWrite::Merchant(most)]);
    let mut all_over = all.clone();
    all_over.fee_bps = 10_001;
    refused(s, vec![MerchantWrite::Merchant(all_over)]);
    // A time of 2^63 or more is refused before it is written.
    let mut late = merchant(6, "B", "late");
    late.created_at_s = 1 << 63;
    refused(s, vec![MerchantWrite::Merchant(late)]);

    let mut read = s.tables().unwrap();
    let read = &mut read;
    for id in [3, 4, 5, 6] {
        assert_eq!(merchants::merchant(read, id).unwrap(), None);
    }
    assert_eq!(merchants::terminal(read, 40).unwrap(), None);
    assert_eq!(merchants::merchant(read, 1).unwrap(), Some(none));
    assert_eq!(merchants::merchant(read, 2).unwrap(), Some(all));
    assert_eq!(merchants::merchant_count(read).unwrap(), 2);
}

/// Brands and names in mixed case, with Korean and accented text, empty ones, and ties of
/// brand and name that only the id breaks.
fn listed_merchants() -> Vec<MerchantRow> {
    let names = [
        ("GS25", "강남역점"),
        ("GS25", "Gangnam"),
        ("GS25", "gangnam"),
        ("gs25", "강남역점"),
        ("CU", "역삼점"),
        ("CU", "역삼점"),
        ("CU", "Yeoksam"),
        ("cu", "a"),
        ("이마트24", "서초점"),
        ("이마트24", "서초"),
        ("이마트24", "Seocho"),
        ("스타벅스", "종로점"),
        ("Émart", "Z"),
        ("Zebra", "ä"),
        ("Zebra", "z"),
        ("Zebra", "Z"),
        ("", ""),
        ("", "a"),
        ("a", ""),
        ("GS", "25"),
        ("GS25 ", "space"),
    ];
    let mut rows = Vec::new();
    for (index, (brand, name)) in names.into_iter().enumerate() {
        // Ids over the whole 128 bits, so their bytes, not their lengths, order them.
        let index = index as u128;
        let id = index.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835) ^ index;
        rows.push(merchant(id, brand, name));
    }
    let ids: std::collections::BTreeSet<u128> = rows.iter().map(|row| row.id).collect();
    assert_eq!(ids.len(), rows.len());
    // A second row of a brand and name already there.
    rows.push(merchant(1, "CU", "역삼점"));
    rows.push(merchant(u128::MAX, "CU", "역삼점"));
    rows
}

/// The list's order: brand, then name (by their UTF-8 bytes, which is how Rust's `str`
/// compares), then id.
fn sorted(mut rows: Vec<MerchantRow>) -> Vec<MerchantRow> {
    rows.sort_by(|a, b| (&a.brand, &a.name, a.id).cmp(&(&b.brand, &b.name, b.id)));
    rows
}

fn cursor_of(row: &MerchantRow) -> (String, String, u128) {
    (row.brand.clone(), row.name.clone(), row.id)
}

/// Most rows a walk takes before it is deemed not to end (a cursor that repeats a row).
const WALK_MAX: usize = 10_000;

/// Every merchant `merchants_page` answers, page by page; asserts each page's bound and
/// that the walk ends.
fn walk_merchants(read: &mut TableRead<'_>, page_size: usize) -> Vec<MerchantRow> {
    let mut walked = Vec::new();
    let mut cursor = None;
    loop {
        let rows = merchants::merchants_page(read, cursor, page_size).unwrap();
        assert!(rows.len() <= page_size);
        let Some(last) = rows.last() else {
            return walked;
        };
        cursor = Some(cursor_of(last));
        walked.extend(rows);
        assert!(walked.len() <= WALK_MAX, "the walk does not end");
    }
}

fn merchants_are_listed_by_brand_name_and_id(s: &mut dyn Store) {
    let rows = listed_merchants();
    write(
        s,
        rows.iter().cloned().map(MerchantWrite::Merchant).collect(),
    );
    let expected = sorted(rows.clone());
    let mut read = s.tables().unwrap();
    let read = &mut read;
    assert_eq!(merchants::merchant_count(read).unwrap(), rows.len() as u64);
    for page_size in [1, 2, 5, MERCHANTS_PAGE_MAX] {
        let walked = walk_merchants(read, page_size);
        assert_eq!(walked, expected, "pages of {page_size}");
    }

    // The order spelled out: empty text first, upper case before lower case, then accented
    // and Korean text (by their UTF-8 bytes: 'É' is C3 89, Korean EA..ED); a brand's
    // trailing space sorts it after the brand without it.
    let pairs: Vec<(&str, &str)> = expected
        .iter()
        .map(|row| (row.brand.as_str(), row.name.as_str()))
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("", ""),
            ("", "a"),
            ("CU", "Yeoksam"),
            ("CU", "역삼점"),
            ("CU", "역삼점"),
            ("CU", "역삼점"),
            ("CU", "역삼점"),
            ("GS", "25"),
            ("GS25", "Gangnam"),
            ("GS25", "gangnam"),
            ("GS25", "강남역점"),
            ("GS25 ", "space"),
            ("Zebra", "Z"),
            ("Zebra", "z"),
            ("Zebra", "ä"),
            ("a", ""),
            ("cu", "a"),
            ("gs25", "강남역점"),
            ("Émart", "Z"),
            ("스타벅스", "종로점"),
            ("이마트24", "Seocho"),
            ("이마트24", "서초"),
            ("이마트24", "서초점"),
        ]
    );
    // The ties of ("CU", "역삼점") are in id order, 1 first and u128::MAX last.
    let tied: Vec<u128> = expected
        .iter()
        .filter(|row| row.brand == "CU" && row.name == "역삼점")
        .map(|row| row.id)
        .collect();
    assert_eq!(tied.len(), 4);
    assert_eq!(tied[0], 1);
    assert_eq!(tied[3], u128::MAX);
    assert!(tied.windows(2).all(|pair| pair[0] < pair[1]));

    // A cursor need not be a row: it starts strictly after its place in the order.
    let after = |brand: &str, name: &str, id: u128| (brand.to_string(), name.to_string(), id);
    for cursor in [
        after("", "", 0),
        after("CU", "역삼점", 0),
        after("CU", "역삼점", 1),
        after("CU", "역삼점", u128::MAX),
        after("GS25", "", u128::MAX),
        after("GS25", "gangnam", 5),
        after("Zebra", "zz", 0),
        after("b", "", 0),
        after("이마트24", "서초", u128::MAX),
        after("이마트24", "서초점", u128::MAX),
        after("\u{10FFFF}", "", 0),
    ] {
        let page = merchants::merchants_page(read, Some(cursor.clone()), 100).unwrap();
        let naive: Vec<MerchantRow> = expected
            .iter()
            .filter(|row| (&row.brand, &row.name, row.id) > (&cursor.0, &cursor.1, cursor.2))
            .cloned()
            .collect();
        assert_eq!(page, naive, "after {cursor:?}");
    }
    assert!(merchants::merchants_page(read, None, 0).unwrap().is_empty());
}

fn merchants_match_a_naive_model(s: &mut dyn Store) {
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
    let brands = ["CU", "cu", "GS25", "이마트24", "Émart", "B"];
    let names = ["a", "A", "강남", "강남점", "Z", ""];
    let mut model = std::collections::BTreeMap::new();
    for index in 1..=300u128 {
        let id = u128::from(dice.roll(u64::MAX)) << 64 | index;
        let brand = brands[dice.roll(brands.len() as u64) as usize];
        let name = names[dice.roll(names.len() as u64) as usize];
        let mut row = merchant(id, brand, name);
        row.fee_bps = dice.roll(10_001) as u32;
        row.enabled = dice.roll(2) == 0;
        row.created_at_s = dice.roll(1 << 40);
        model.insert(id, row);
    }
    write(
        s,
        model
            .values()
            .cloned()
            .map(MerchantWrite::Merchant)
            .collect(),
    );
    // Some move to another brand or name.
    let mut changes = Vec::new();
    for row in model.values_mut() {
        if dice.roll(4) == 0 {
            row.brand = brands[dice.roll(brands.len() as u64) as usize].into();
            row.name = format!("{} {}", row.name, dice.roll(3));
            changes.push(MerchantWrite::Merchant(row.clone()));
        }
    }
    assert!(!changes.is_empty());
    write(s, changes);

    let expected = sorted(model.values().cloned().collect());
    let mut read = s.tables().unwrap();
    let read = &mut read;
    for (id, row) in &model {
        assert_eq!(merchants::merchant(read, *id).unwrap().as_ref(), Some(row));
    }
    assert_eq!(merchants::merchant_count(read).unwrap(), 300);
    for page_size in [1, 7, 64, MERCHANTS_PAGE_MAX] {
        assert_eq!(
            walk_merchants(read, page_size),
            expected,
            "pages of {page_size}"
        );
    }
}

fn merchant_pages_stop_at_their_maximum(s: &mut dyn Store) {
    let total = MERCHANTS_PAGE_MAX as u128 + 1;
    let writes = (1..=total)
        .map(|id| MerchantWrite::Merchant(merchant(id, "B", &format!("{id:05}"))))
        .collect();
    write(s, writes);
    let mut read = s.tables().unwrap();
    let read = &mut read;
    assert_eq!(merchants::merchant_count(read).unwrap(), total as u64);
    let max = MERCHANTS_PAGE_MAX;
    for limit in [max, max + 1, usize::MAX] {
        let page = merchants::merchants_page(read, None, limit).unwrap();
        assert_eq!(page.len(), max, "a page of {limit}");
        assert_eq!(page.first().unwrap().id, 1);
        assert_eq!(page.last().unwrap().id, total - 1);
    }
    // The rest after a full page.
    let last = merchant(total - 1, "B", &format!("{:05}", total - 1));
    let rest = merchants::merchants_page(read, Some(cursor_of(&last)), max).unwrap();
    assert_eq!(ids_of(&rest, |row| row.id), vec![total]);
}

fn terminals_read_back_by_id_and_key(s: &mut dyn Store) {
    let mut plain = terminal(1, 7);
    plain.key_id = "00000000000000000000000000abcdef".into();
    let edges = TerminalRow {
        id: u128::MAX,
        merchant_id: u128::MAX,
        key_id: "f".repeat(32),
        secret_sealed: vec![0xFF; 1_000],
        enabled: false,
        created_at_s: (1 << 63) - 1,
    };
    let zero = TerminalRow {
        id: 0,
        merchant_id: 0,
        key_id: String::new(),
        secret_sealed: Vec::new(),
        enabled: true,
        created_at_s: 0,
    };
    let rows = [plain.clone(), edges.clone(), zero.clone()];
    write(
        s,
        rows.iter().cloned().map(MerchantWrite::Terminal).collect(),
    );
    let mut read = s.tables().unwrap();
    for row in &rows {
        let found = merchants::terminal(&mut read, row.id).unwrap();
        assert_eq!(found.as_ref(), Some(row));
        let found = merchants::terminal_by_key(&mut read, &row.key_id).unwrap();
        assert_eq!(found.as_ref(), Some(row));
    }
    assert_eq!(merchants::terminal(&mut read, 2).unwrap(), None);
    // A key is found as it is written: not in another case, nor as a prefix.
    let upper = plain.key_id.to_uppercase();
    assert_eq!(merchants::terminal_by_key(&mut read, &upper).unwrap(), None);
    let prefix = &edges.key_id[..31];
    assert_eq!(merchants::terminal_by_key(&mut read, prefix).unwrap(), None);
    drop(read);

    // A replace changes every column but the id: the old key finds nothing any more.
    let changed = TerminalRow {
        id: 1,
        merchant_id: 8,
        key_id: "0123456789abcdef0123456789abcdef".into(),
        secret_sealed: vec![1, 2, 3],
        enabled: false,
        created_at_s: 1_800_000_000,
    };
    write(s, vec![MerchantWrite::Terminal(changed.clone())]);
    let mut read = s.tables().unwrap();
    let read = &mut read;
    assert_eq!(merchants::terminal(read, 1).unwrap(), Some(changed.clone()));
    assert_eq!(
        merchants::terminal_by_key(read, &changed.key_id).unwrap(),
        Some(changed.clone())
    );
    assert_eq!(
        merchants::terminal_by_key(read, &plain.key_id).unwrap(),
        None
    );
    assert_eq!(merchants::terminal_count_of(read, 7).unwrap(), 0);
    assert_eq!(merchants::terminal_count_of(read, 8).unwrap(), 1);
    assert_eq!(merchants::terminal(read, u128::MAX).unwrap(), Some(edges));
    assert_eq!(merchants::terminal(read, 0).unwrap(), Some(zero));
}

fn a_key_used_twice_is_refused(s: &mut dyn Store) {
    let first = terminal(1, 7);
    write(s, vec![MerchantWrite::Terminal(first.clone())]);

    // Another terminal with the same key: the unique index refuses it, and the rows before
    // it in the same append go with it.
    let mut same_key = terminal(2, 8);
    same_key.key_id = first.key_id.clone();
    refused(
        s,
        vec![
            MerchantWrite::Merchant(merchant(8, "B", "n")),
            MerchantWrite::Terminal(terminal(3, 8)),
            MerchantWrite::Terminal(same_key.clone()),
        ],
    );
    // A time of 2^63 or more is refused before it is written.
    let mut late = terminal(4, 7);
    late.created_at_s = 1 << 63;
    refused(s, vec![MerchantWrite::Terminal(late)]);
    // Two new terminals with one key in one append: refused too.
    let mut twin = terminal(6, 7);
    twin.key_id = terminal(5, 7).key_id;
    refused(
        s,
        vec![
            MerchantWrite::Terminal(terminal(5, 7)),
            MerchantWrite::Terminal(twin),
        ],
    );

    let mut tables = s.tables().unwrap();
    let read = &mut tables;
    assert_eq!(merchants::merchant(read, 8).unwrap(), None);
    for id in [2, 3, 4, 5, 6] {
        assert_eq!(merchants::terminal(read, id).unwrap(), None);
    }
    assert_eq!(
        merchants::terminal_by_key(read, &first.key_id).unwrap(),
        Some(first.clone())
    );
    assert_eq!(merchants::terminal_count_of(read, 7).unwrap(), 1);
    assert_eq!(merchants::terminal_count_of(read, 8).unwrap(), 0);
    drop(tables);

    // The key moves to another terminal once its terminal gives it up (in one append:
    // statements run in order, so the first frees the key before the second takes it).
    let mut rekeyed = first.clone();
    rekeyed.key_id = "a".repeat(32);
    let mut taker = terminal(2, 8);
    taker.key_id = first.key_id.clone();
    write(
        s,
        vec![
            MerchantWrite::Terminal(rekeyed.clone()),
            MerchantWrite::Terminal(taker.clone()),
        ],
    );
    let mut read = s.tables().unwrap();
    let read = &mut read;
    assert_eq!(
        merchants::terminal_by_key(read, &first.key_id).unwrap(),
        Some(taker)
    );
    assert_eq!(
        merchants::terminal_by_key(read, &"a".repeat(32)).unwrap(),
        Some(rekeyed)
    );
}

fn terminals_of_a_merchant(s: &mut dyn Store) {
    let mut dice = Dice(0x2545_F491_4F6C_DD1D);
    let mut model: Vec<TerminalRow> = Vec::new();
    for index in 1..=200u128 {
        let id = u128::from(dice.roll(u64::MAX)) << 64 | index;
        let merchant_id = u128::from(dice.roll(4)) + 1;
        let mut row = terminal(id, merchant_id);
        // Few times, so ties of time that only the id breaks.
        row.created_at_s = 1_000 + dice.roll(20);
        row.enabled = dice.roll(3) != 0;
        model.push(row);
    }
    // A merchant whose id sorts next to theirs (its terminals are not theirs).
    model.push(terminal(u128::MAX, u128::MAX));
    model.push(terminal(1 << 127, 5));
    write(
        s,
        model.iter().cloned().map(MerchantWrite::Terminal).collect(),
    );

    let mut read = s.tables().unwrap();
    let read = &mut read;
    for merchant_id in [0, 1, 2, 3, 4, 5, 6, u128::MAX] {
        let mut naive: Vec<TerminalRow> = model
            .iter()
            .filter(|row| row.merchant_id == merchant_id)
            .cloned()
            .collect();
        naive.sort_by_key(|row| (row.created_at_s, row.id));
        let found = merchants::terminals_of(read, merchant_id, MERCHANTS_PAGE_MAX).unwrap();
        assert_eq!(found, naive, "merchant {merchant_id}");
        let count = merchants::terminal_count_of(read, merchant_id).unwrap();
        assert_eq!(count, naive.len() as u64, "merchant {merchant_id}");
        // A smaller limit answers the first ones.
        let first = merchants::terminals_of(read, merchant_id, 3).unwrap();
        assert_eq!(first, naive[..naive.len().min(3)], "merchant {merchant_id}");
        assert!(
            merchants::terminals_of(read, merchant_id, 0)
                .unwrap()
                .is_empty()
        );
    }
    for row in &model {
        let found = merchants::terminal_by_key(read, &row.key_id).unwrap();
        assert_eq!(found.as_ref(), Some(row));
    }

    // Every terminal, page by page, by id.
    let mut by_id = model.clone();
    by_id.sort_by_key(|row| row.id);
    for page_size in [1, 7, MERCHANTS_PAGE_MAX] {
        let mut walked = Vec::new();
        let mut cursor = None;
        loop {
            let rows = merchants::terminals_page(read, cursor, page_size).unwrap();
            assert!(rows.len() <= page_size);
            let Some(last) = rows.last() else { break };
            cursor = Some(last.id);
            walked.extend(rows);
            assert!(walked.len() <= WALK_MAX, "the walk does not end");
        }
        assert_eq!(walked, by_id, "pages of {page_size}");
    }
    assert!(merchants::terminals_page(read, None, 0).unwrap().is_empty());
    assert!(
        merchants::terminals_page(read, Some(u128::MAX), 10)
            .unwrap()
            .is_empty()
    );
    let after_zero = merchants::terminals_page(read, Some(0), 1).unwrap();
    assert_eq!(after_zero, by_id[..1]);
}

fn terminal_pages_stop_at_their_maximum(s: &mut dyn Store) {
    // One merchant with one terminal over the maximum, all made in the same second but the
    // last; another merchant's terminal among them.
    let total = MERCHANTS_PAGE_MAX as u128 + 1;
    let mut writes = Vec::new();
    for id in 1..=total {
        let mut row = terminal(id, 9);
        row.created_at_s = if id == 1 { 2_000 } else { 1_000 };
        writes.push(MerchantWrite::Terminal(row));
    }
    writes.push(MerchantWrite::Terminal(terminal(total + 1, 10)));
    write(s, writes);
    let mut read = s.tables().unwrap();
    let read = &mut read;
    assert_eq!(merchants::terminal_count_of(read, 9).unwrap(), total as u64);
    assert_eq!(merchants::terminal_count_of(read, 10).unwrap(), 1);
    let max = MERCHANTS_PAGE_MAX;
    for limit in [max, max + 1, usize::MAX] {
        let page = merchants::terminals_of(read, 9, limit).unwrap();
        assert_eq!(page.len(), max, "a page of {limit}");
        // Time first, then id: terminal 1 is the newest, so it is left out.
        assert_eq!(page.first().unwrap().id, 2);
        assert_eq!(page.last().unwrap().id, total);
        let page = merchants::terminals_page(read, None, limit).unwrap();
        assert_eq!(page.len(), max, "a page of {limit}");
        assert_eq!(page.first().unwrap().id, 1);
        assert_eq!(page.last().unwrap().id, total - 1);
    }
    let rest = merchants::terminals_page(read, Some(total - 1), max).unwrap();
    assert_eq!(ids_of(&rest, |row| row.id), vec![total, total + 1]);
}

for_each_backend!(
    an_empty_table_answers_nothing,
    merchants_read_back_and_are_replaced,
    fees_are_checked,
    merchants_are_listed_by_brand_name_and_id,
    merchants_match_a_naive_model,
    merchant_pages_stop_at_their_maximum,
    terminals_read_back_by_id_and_key,
    a_key_used_twice_is_refused,
    terminals_of_a_merchant,
    terminal_pages_stop_at_their_maximum,
);

#[test]
fn rows_round_trip_through_the_platforms_json() {
    let row = MerchantRow {
        id: u128::MAX,
        name: "강남역점 \"1\"".into(),
        brand: "GS25".into(),
        fee_bps: 10_000,
        enabled: false,
        created_at_s: 1_700_000_000,
    };
    let json = serde_json::to_string(&row).unwrap();
    assert_eq!(serde_json::from_str::<MerchantRow>(&json).unwrap(), row);
    assert_eq!(
        json,
        format!(
            "{{\"id\":{},\"name\":\"강남역점 \\\"1\\\"\",\"brand\":\"GS25\",\
             \"fee_bps\":10000,\"enabled\":false,\"created_at_s\":1700000000}}",
            u128::MAX
        )
    );
    // A merchant as the platform wrote it.
    let record = "{\"id\":5,\"name\":\"역삼점\",\"brand\":\"CU\",\"fee_bps\":250,\
                  \"enabled\":true,\"created_at_s\":1}";
    assert_eq!(
        serde_json::from_str::<MerchantRow>(record).unwrap(),
        MerchantRow {
            id: 5,
            name: "역삼점".into(),
            brand: "CU".into(),
            fee_bps: 250,
            enabled: true,
            created_at_s: 1,
        }
    );

    let mut row = terminal(3 << 100 | 9, u128::MAX);
    row.secret_sealed = vec![0x00, 0x11, 0xAB, 0xFF];
    let json = serde_json::to_string(&row).unwrap();
    assert_eq!(serde_json::from_str::<TerminalRow>(&json).unwrap(), row);
    assert!(json.contains("\"secret_sealed\":\"0011abff\""), "{json}");
    assert!(
        json.contains(&format!("\"key_id\":\"{}\"", row.key_id)),
        "{json}"
    );
    // A terminal as the platform wrote it: the sealed secret in hex.
    let key_id = "0123456789abcdef0123456789abcdef";
    let record = format!(
        "{{\"id\":5,\"merchant_id\":7,\"key_id\":\"{key_id}\",\"secret_sealed\":\"00ff\",\
         \"enabled\":true,\"created_at_s\":1}}"
    );
    let decoded: TerminalRow = serde_json::from_str(&record).unwrap();
    assert_eq!(
        decoded,
        TerminalRow {
            id: 5,
            merchant_id: 7,
            key_id: key_id.into(),
            secret_sealed: vec![0x00, 0xFF],
            enabled: true,
            created_at_s: 1,
        }
    );
    assert_eq!(serde_json::to_string(&decoded).unwrap(), record);
    // A secret that is not hex does not decode.
    let bad = record.replace("\"00ff\"", "\"0g\"");
    assert!(serde_json::from_str::<TerminalRow>(&bad).is_err());
}
