//! The vouchers context's tables (`store::tables::vouchers`) on every backend: products and
//! vouchers written in the ledger's transaction read back as written (every column, set or
//! not) and are replaced by id; the catalogue comes in (brand, name, id) order; every
//! voucher query matches a naive model of the rows (pages walk every row once, in order;
//! active counts; open vouchers); a code or a member's key used twice is refused and the
//! failing append writes none of its rows; pages stop at their maximum. A voucher's serde
//! form is the platform's JSON. The PostgreSQL variants need `MILEVERSE_TEST_DATABASE_URL`
//! (see `suite.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

mod common;

use common::Dice;

use store::Store;
use store::tables::vouchers::{
    self, ProductRow, VOUCHERS_PAGE_MAX, VoucherRow, VoucherStatus, VoucherWrite,
};
use store::tables::{RowRef, TableRead};

fn write(s: &mut dyn Store, writes: Vec<VoucherWrite>) {
    common::append_rows(s, writes).unwrap();
}

fn product(id: u128, brand: &str, name: &str) -> ProductRow {
    ProductRow {
        id,
        brand: brand.to_string(),
        name: name.to_string(),
        face_value: 10_000,
        price: 9_500,
        validity_days: 365,
        enabled: true,
        created_at_s: 1_700_000_000 + (id % 1000) as u64,
    }
}

/// A code index of the voucher's own (unique per id).
fn code_of(id: u128) -> [u8; 32] {
    let mut code = [0; 32];
    code[..16].copy_from_slice(&id.to_be_bytes());
    code[16..].copy_from_slice(&(!id).to_be_bytes());
    code
}

fn voucher(id: u128, member_id: u128) -> VoucherRow {
    VoucherRow {
        id,
        product_id: 7 << 120 | 7,
        member_id,
        brand: "Starbucks".to_string(),
        name: "Americano T".to_string(),
        face_value: 4_500,
        price: 4_300,
        code_sealed: vec![0xA5, 0, 1, 2, 3, (id % 251) as u8],
        code_index: code_of(id),
        status: VoucherStatus::Active,
        failure: None,
        idempotency_key: None,
        purchased_at_s: 1_700_000_000,
        expires_at_s: 1_700_000_000 + 365 * 86_400,
        authorization_id: None,
        redeemed_at_s: None,
        refund: 0,
        fee: 0,
        cancelled_at_s: None,
    }
}

fn an_empty_table_answers_nothing(s: &mut dyn Store) {
    let mut read = s.tables().unwrap();
    let read = &mut read;
    assert_eq!(vouchers::product(read, 1).unwrap(), None);
    assert!(vouchers::products(read, false).unwrap().is_empty());
    assert!(vouchers::products(read, true).unwrap().is_empty());
    assert_eq!(vouchers::product_count(read).unwrap(), 0);
    assert_eq!(vouchers::voucher(read, 1).unwrap(), None);
    assert_eq!(vouchers::voucher_by_code(read, code_of(1)).unwrap(), None);
    assert_eq!(vouchers::voucher_by_key(read, 1, "k").unwrap(), None);
    assert!(
        vouchers::member_vouchers(read, 1, None, 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(vouchers::active_count(read, 1).unwrap(), 0);
    assert!(vouchers::open_vouchers(read, None, 10).unwrap().is_empty());
}

/// Checks every product query against the model.
fn check_products(read: &mut TableRead<'_>, model: &BTreeMap<u128, ProductRow>) {
    for (id, row) in model {
        assert_eq!(vouchers::product(read, *id).unwrap().as_ref(), Some(row));
    }
    assert_eq!(vouchers::product(read, 12345).unwrap(), None);
    assert_eq!(vouchers::product_count(read).unwrap(), model.len() as u64);
    let mut all: Vec<ProductRow> = model.values().cloned().collect();
    all.sort_by(|a, b| (&a.brand, &a.name, a.id).cmp(&(&b.brand, &b.name, b.id)));
    assert_eq!(vouchers::products(read, false).unwrap(), all);
    let enabled: Vec<ProductRow> = all.into_iter().filter(|row| row.enabled).collect();
    assert_eq!(vouchers::products(read, true).unwrap(), enabled);
}

fn products_read_back_in_catalogue_order(s: &mut dyn Store) {
    // Brands and names that sort differently by a locale than by their bytes ("B" < "a" <
    // "é"), ties of (brand, name) that only the id breaks, ids over the whole 128 bits.
    let brands = ["a", "B", "CU", "GS25", "Starbucks", "é", "ab"];
    let names = ["Americano", "americano", "Latte", "Ä", "10,000 won"];
    let mut dice = Dice(0x2545_F491_4F6C_DD1D);
    let mut model = BTreeMap::new();
    for index in 1..=60u128 {
        let id = u128::from(dice.roll(u64::MAX)) << 64 | index;
        let brand = brands[dice.roll(brands.len() as u64) as usize];
        let name = names[dice.roll(names.len() as u64) as usize];
        let mut row = product(id, brand, name);
        row.enabled = dice.roll(3) != 0;
        row.face_value = 1 + dice.roll(500_000);
        row.price = 1 + dice.roll(row.face_value);
        row.validity_days = 1 + dice.roll(5 * 365) as u32;
        model.insert(id, row);
    }
    write(
        s,
        model.values().cloned().map(VoucherWrite::Product).collect(),
    );
    check_products(&mut s.tables().unwrap(), &model);

    // A replace changes every column but the id (and so the product's place).
    let id = *model.keys().nth(10).unwrap();
    let changed = ProductRow {
        id,
        brand: "0 first".into(),
        name: "renamed".into(),
        face_value: 50_000,
        price: 50_000,
        validity_days: u32::MAX,
        enabled: !model[&id].enabled,
        created_at_s: 5,
    };
    model.insert(id, changed.clone());
    write(s, vec![VoucherWrite::Product(changed.clone())]);
    check_products(&mut s.tables().unwrap(), &model);
    let mut read = s.tables().unwrap();
    let all = vouchers::products(&mut read, false).unwrap();
    assert_eq!(all.first(), Some(&changed));
}

fn vouchers_read_back_as_written(s: &mut dyn Store) {
    let bare = voucher(1 << 100 | 1, 5);
    let full = VoucherRow {
        id: u128::MAX - 1,
        product_id: 1 << 127,
        member_id: u128::MAX,
        brand: "이디야".into(),
        name: "Café latte (L)".into(),
        face_value: (1 << 63) - 1,
        price: 0,
        code_sealed: Vec::new(),
        code_index: [0xFF; 32],
        status: VoucherStatus::Redeemed,
        failure: Some("none, but kept".into()),
        idempotency_key: Some("purchase-2026-0001".into()),
        purchased_at_s: 0,
        expires_at_s: (1 << 63) - 1,
        authorization_id: Some(u128::MAX - 7),
        redeemed_at_s: Some(1_700_000_100),
        refund: 4_000,
        fee: 300,
        cancelled_at_s: Some(1_700_000_200),
    };
    let mut tiny = voucher(2, 5);
    tiny.authorization_id = Some(0);
    tiny.redeemed_at_s = Some(0);
    tiny.cancelled_at_s = Some(0);
    tiny.failure = Some(String::new());
    tiny.idempotency_key = Some(String::new());
    tiny.code_index = [0; 32];
    let rows = [bare, full, tiny];
    write(s, rows.iter().cloned().map(VoucherWrite::Voucher).collect());
    let mut read = s.tables().unwrap();
    for row in &rows {
        let found = vouchers::voucher(&mut read, row.id).unwrap();
        assert_eq!(found.as_ref(), Some(row));
        let found = vouchers::voucher_by_code(&mut read, row.code_index).unwrap();
        assert_eq!(found.as_ref(), Some(row));
    }
    drop(read);

    // A replace changes every column but the id: the voucher is redeemed, its code and its
    // key are another's now (the old ones find nothing).
    let mut changed = rows[0].clone();
    changed.product_id = 9;
    changed.member_id = 6;
    changed.brand = "CU".into();
    changed.name = "Banana milk".into();
    changed.face_value = 1_700;
    changed.price = 1_500;
    changed.code_sealed = vec![1; 60];
    changed.code_index = [0x42; 32];
    changed.status = VoucherStatus::Redeemed;
    changed.failure = Some("kept".into());
    changed.idempotency_key = Some("again".into());
    changed.purchased_at_s = 10;
    changed.expires_at_s = 20;
    changed.authorization_id = Some(77 << 64 | 77);
    changed.redeemed_at_s = Some(15);
    changed.refund = 1;
    changed.fee = 2;
    changed.cancelled_at_s = Some(16);
    write(s, vec![VoucherWrite::Voucher(changed.clone())]);
    let mut tables = s.tables().unwrap();
    let read = &mut tables;
    assert_eq!(
        vouchers::voucher(read, changed.id).unwrap(),
        Some(changed.clone())
    );
    assert_eq!(
        vouchers::voucher_by_code(read, [0x42; 32]).unwrap(),
        Some(changed.clone())
    );
    assert_eq!(
        vouchers::voucher_by_code(read, rows[0].code_index).unwrap(),
        None
    );
    assert_eq!(
        vouchers::voucher_by_key(read, 6, "again").unwrap(),
        Some(changed.clone())
    );
    assert_eq!(vouchers::active_count(read, 5).unwrap(), 1);
    assert_eq!(vouchers::active_count(read, 6).unwrap(), 0);
    let ids: Vec<u128> = vouchers::member_vouchers(read, 5, None, 10)
        .unwrap()
        .iter()
        .map(|row| row.id)
        .collect();
    assert_eq!(ids, vec![2]);
    drop(tables);
    // And back: the optional columns unset again.
    let mut back = changed;
    back.status = VoucherStatus::Active;
    back.failure = None;
    back.idempotency_key = None;
    back.authorization_id = None;
    back.redeemed_at_s = None;
    back.cancelled_at_s = None;
    write(s, vec![VoucherWrite::Voucher(back.clone())]);
    let mut read = s.tables().unwrap();
    assert_eq!(vouchers::voucher(&mut read, back.id).unwrap(), Some(back));
    assert_eq!(
        vouchers::voucher_by_key(&mut read, 6, "again").unwrap(),
        None
    );
    assert_eq!(vouchers::active_count(&mut read, 6).unwrap(), 1);
}

const MEMBERS: u128 = 5;

/// Vouchers of every status over a few members, some with keys (a key repeated across
/// members); ids spread over the whole 128 bits (so byte order, not length, sorts them).
fn random_vouchers(dice: &mut Dice, count: u128) -> BTreeMap<u128, VoucherRow> {
    let mut model = BTreeMap::new();
    for index in 1..=count {
        let id = u128::from(dice.roll(u64::MAX)) << 64 | index;
        let member_id = u128::from(dice.roll(MEMBERS as u64)) + 1;
        let mut row = voucher(id, member_id);
        row.status = VoucherStatus::ALL[dice.roll(6) as usize];
        row.price = dice.roll(row.face_value + 1);
        if row.status == VoucherStatus::Failed {
            row.failure = Some(format!("balance short ({index})"));
        }
        if row.status == VoucherStatus::Redeemed {
            row.authorization_id = Some(id ^ 0xAB);
            row.redeemed_at_s = Some(row.purchased_at_s + dice.roll(1_000));
        }
        if row.status == VoucherStatus::Cancelled {
            row.refund = dice.roll(row.price + 1);
            row.fee = row.price - row.refund;
            row.cancelled_at_s = Some(row.purchased_at_s + dice.roll(1_000));
        }
        if dice.roll(3) == 0 {
            row.idempotency_key = Some(format!("key-{}", index % 40));
        }
        model.insert(id, row);
    }
    // A key is unique per member: keep the first voucher's.
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

/// Every row a paged query answers, page by page (the cursor is the last row's id);
/// asserts each page's bound and that the walk ends.
fn walk(
    page_size: usize,
    mut page: impl FnMut(Option<u128>, usize) -> Vec<VoucherRow>,
) -> Vec<VoucherRow> {
    let mut walked = Vec::new();
    let mut cursor = None;
    loop {
        let rows = page(cursor, page_size);
        assert!(rows.len() <= page_size);
        let Some(last) = rows.last() else {
            return walked;
        };
        cursor = Some(last.id);
        walked.extend(rows);
        assert!(walked.len() <= WALK_MAX, "the walk does not end");
    }
}

/// Checks every voucher query against the model.
fn check_vouchers(read: &mut TableRead<'_>, model: &BTreeMap<u128, VoucherRow>) {
    for (id, row) in model {
        assert_eq!(vouchers::voucher(read, *id).unwrap().as_ref(), Some(row));
        let by_code = vouchers::voucher_by_code(read, row.code_index).unwrap();
        assert_eq!(by_code.as_ref(), Some(row));
        if let Some(key) = &row.idempotency_key {
            let found = vouchers::voucher_by_key(read, row.member_id, key).unwrap();
            assert_eq!(found.as_ref(), Some(row));
            let other = vouchers::voucher_by_key(read, row.member_id + 100, key).unwrap();
            assert_eq!(other, None);
        }
    }
    assert_eq!(vouchers::voucher(read, 12345).unwrap(), None);
    assert_eq!(vouchers::voucher_by_code(read, [7; 32]).unwrap(), None);
    for member_id in 1..=MEMBERS + 1 {
        let mine = model.values().filter(|row| row.member_id == member_id);
        let active = mine
            .clone()
            .filter(|row| row.status == VoucherStatus::Active)
            .count();
        assert_eq!(
            vouchers::active_count(read, member_id).unwrap(),
            active as u64
        );
        let mut newest_first: Vec<VoucherRow> = mine.cloned().collect();
        newest_first.reverse();
        for page_size in [1, 7, VOUCHERS_PAGE_MAX] {
            let walked = walk(page_size, |before, limit| {
                vouchers::member_vouchers(read, member_id, before, limit).unwrap()
            });
            assert_eq!(
                walked, newest_first,
                "member {member_id}, pages of {page_size}"
            );
        }
    }
    let open: Vec<VoucherRow> = model
        .values()
        .filter(|row| {
            matches!(
                row.status,
                VoucherStatus::Pending | VoucherStatus::Cancelling
            )
        })
        .cloned()
        .collect();
    for page_size in [1, 6, VOUCHERS_PAGE_MAX] {
        let walked = walk(page_size, |after, limit| {
            vouchers::open_vouchers(read, after, limit).unwrap()
        });
        assert_eq!(walked, open, "pages of {page_size}");
    }
}

fn vouchers_match_a_naive_model(s: &mut dyn Store) {
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
    let mut model = random_vouchers(&mut dice, 300);
    let writes = model.values().cloned().map(VoucherWrite::Voucher);
    write(s, writes.collect());
    check_vouchers(&mut s.tables().unwrap(), &model);

    // Vouchers move on: pending ones go active or fail, active ones are redeemed or a
    // cancel begins, cancelling ones are cancelled; a till's refund makes a redeemed one
    // active again.
    let mut changes = Vec::new();
    let moved: Vec<u128> = model
        .keys()
        .copied()
        .filter(|_| dice.roll(2) == 0)
        .collect();
    for id in moved {
        let row = model.get_mut(&id).unwrap();
        row.status = match row.status {
            VoucherStatus::Pending if dice.roll(2) == 0 => VoucherStatus::Active,
            VoucherStatus::Pending => VoucherStatus::Failed,
            VoucherStatus::Active if dice.roll(2) == 0 => VoucherStatus::Redeemed,
            VoucherStatus::Active => VoucherStatus::Cancelling,
            VoucherStatus::Cancelling => VoucherStatus::Cancelled,
            VoucherStatus::Redeemed => VoucherStatus::Active,
            other => other,
        };
        row.authorization_id = (row.status == VoucherStatus::Redeemed).then_some(id ^ 0xCD);
        row.idempotency_key = None;
        changes.push(VoucherWrite::Voucher(row.clone()));
    }
    assert!(!changes.is_empty());
    write(s, changes);
    check_vouchers(&mut s.tables().unwrap(), &model);
}

fn a_code_or_key_used_twice_is_refused(s: &mut dyn Store) {
    let mut first = voucher(1, 1);
    first.idempotency_key = Some("k".into());
    write(s, vec![VoucherWrite::Voucher(first.clone())]);

    // Another voucher with the first one's code: the unique index refuses it, and the rows
    // before it in the same append go with it.
    let mut same_code = voucher(3, 2);
    same_code.code_index = first.code_index;
    let rows: Vec<RowRef> = vec![
        Arc::new(VoucherWrite::Product(product(9, "CU", "Milk"))),
        Arc::new(VoucherWrite::Voucher(voucher(2, 1))),
        Arc::new(VoucherWrite::Voucher(same_code)),
    ];
    assert!(s.append_with_rows(&[], &rows).is_err());
    // The member's key again.
    let mut same_key = voucher(4, 1);
    same_key.idempotency_key = Some("k".into());
    let rows: Vec<RowRef> = vec![
        Arc::new(VoucherWrite::Voucher(voucher(5, 1))),
        Arc::new(VoucherWrite::Voucher(same_key)),
    ];
    assert!(s.append_with_rows(&[], &rows).is_err());
    // The checks of the columns: a product priced above its face value.
    let mut dear = product(6, "CU", "Dear");
    dear.price = dear.face_value + 1;
    let rows: Vec<RowRef> = vec![Arc::new(VoucherWrite::Product(dear))];
    assert!(s.append_with_rows(&[], &rows).is_err());
    // An amount of 2^63 or more is refused before it is written.
    let mut huge = voucher(7, 1);
    huge.face_value = 1 << 63;
    let rows: Vec<RowRef> = vec![Arc::new(VoucherWrite::Voucher(huge))];
    assert!(s.append_with_rows(&[], &rows).is_err());
    // Another member may use the same key.
    let mut other = voucher(8, 2);
    other.idempotency_key = Some("k".into());
    write(s, vec![VoucherWrite::Voucher(other.clone())]);

    let mut read = s.tables().unwrap();
    let read = &mut read;
    for id in [2, 3, 4, 5, 7] {
        assert_eq!(vouchers::voucher(read, id).unwrap(), None);
    }
    assert_eq!(vouchers::product(read, 9).unwrap(), None);
    assert_eq!(vouchers::product(read, 6).unwrap(), None);
    assert_eq!(vouchers::product_count(read).unwrap(), 0);
    assert_eq!(
        vouchers::voucher_by_code(read, first.code_index).unwrap(),
        Some(first.clone())
    );
    assert_eq!(vouchers::voucher_by_key(read, 1, "k").unwrap(), Some(first));
    assert_eq!(vouchers::voucher_by_key(read, 2, "k").unwrap(), Some(other));
    assert_eq!(vouchers::active_count(read, 1).unwrap(), 1);
    assert_eq!(vouchers::active_count(read, 2).unwrap(), 1);
}

fn pages_stop_at_their_maximum(s: &mut dyn Store) {
    let total = VOUCHERS_PAGE_MAX as u128 + 1;
    let mut writes = Vec::new();
    for id in 1..=total {
        let mut row = voucher(id, 1);
        row.status = if id % 2 == 0 {
            VoucherStatus::Pending
        } else {
            VoucherStatus::Cancelling
        };
        writes.push(VoucherWrite::Voucher(row));
    }
    write(s, writes);
    let mut read = s.tables().unwrap();
    let read = &mut read;
    let max = VOUCHERS_PAGE_MAX;
    for limit in [max, max + 1, usize::MAX] {
        let page = vouchers::member_vouchers(read, 1, None, limit).unwrap();
        assert_eq!(page.len(), max, "a page of {limit}");
        assert_eq!(page.first().unwrap().id, total);
        assert_eq!(page.last().unwrap().id, 2);
        let page = vouchers::open_vouchers(read, None, limit).unwrap();
        assert_eq!(page.len(), max, "a page of {limit}");
        assert_eq!(page.last().unwrap().id, total - 1);
    }
    assert!(
        vouchers::member_vouchers(read, 1, None, 0)
            .unwrap()
            .is_empty()
    );
    assert!(vouchers::open_vouchers(read, None, 0).unwrap().is_empty());
    // The rest after a full page.
    let rest = vouchers::member_vouchers(read, 1, Some(2), max).unwrap();
    assert_eq!(rest.iter().map(|row| row.id).collect::<Vec<_>>(), vec![1]);
    let rest = vouchers::open_vouchers(read, Some(total - 1), max).unwrap();
    assert_eq!(
        rest.iter().map(|row| row.id).collect::<Vec<_>>(),
        vec![total]
    );
    assert_eq!(vouchers::active_count(read, 1).unwrap(), 0);
}

for_each_backend!(
    an_empty_table_answers_nothing,
    products_read_back_in_catalogue_order,
    vouchers_read_back_as_written,
    vouchers_match_a_naive_model,
    a_code_or_key_used_twice_is_refused,
    pages_stop_at_their_maximum,
);

#[test]
fn statuses_name_themselves() {
    let names = [
        "pending",
        "active",
        "redeemed",
        "cancelling",
        "cancelled",
        "failed",
    ];
    for (status, name) in VoucherStatus::ALL.into_iter().zip(names) {
        assert_eq!(status.as_str(), name);
        assert_eq!(VoucherStatus::parse(name), Some(status));
        let json = serde_json::to_string(&status).unwrap();
        assert_eq!(json, format!("\"{name}\""));
    }
    assert_eq!(VoucherStatus::parse("Active"), None);
    assert_eq!(VoucherStatus::parse("expired"), None);
    assert_eq!(VoucherStatus::parse(""), None);
}

#[test]
fn an_active_voucher_past_its_date_shows_expired() {
    let mut row = voucher(1, 1);
    let end = row.expires_at_s;
    assert!(!row.expired(end - 1));
    assert!(row.expired(end));
    assert_eq!(row.shown_status(end - 1), "active");
    assert_eq!(row.shown_status(end), "expired");
    for status in VoucherStatus::ALL {
        row.status = status;
        if status != VoucherStatus::Active {
            assert_eq!(row.shown_status(end + 1), status.as_str());
        }
    }
}

#[test]
fn a_voucher_round_trips_through_the_platforms_json() {
    let mut row = voucher(3 << 100 | 9, u128::MAX);
    row.authorization_id = Some(u128::MAX - 1);
    row.idempotency_key = Some("k-1".into());
    let json = serde_json::to_string(&row).unwrap();
    assert_eq!(serde_json::from_str::<VoucherRow>(&json).unwrap(), row);
    let hex_index: String = row.code_index.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex_index.len(), 64);
    assert!(
        json.contains(&format!("\"code_index\":\"{hex_index}\"")),
        "{json}"
    );
    row.code_sealed = vec![0xA5, 0x00, 0x0F, 0xF0];
    let json = serde_json::to_string(&row).unwrap();
    assert!(json.contains("\"code_sealed\":\"a5000ff0\""), "{json}");
    assert!(json.contains("\"status\":\"active\""), "{json}");

    // A record as the platform wrote it decodes into the row.
    let record = format!(
        "{{\"id\":5,\"product_id\":6,\"member_id\":7,\"brand\":\"GS25\",\"name\":\"Coffee\",\
         \"face_value\":2000,\"price\":1800,\"code_sealed\":\"00ff\",\"code_index\":\"{}\",\
         \"status\":\"cancelling\",\"failure\":null,\"idempotency_key\":null,\
         \"purchased_at_s\":10,\"expires_at_s\":20,\"authorization_id\":null,\
         \"redeemed_at_s\":null,\"refund\":0,\"fee\":0,\"cancelled_at_s\":null}}",
        "ab".repeat(32)
    );
    let decoded: VoucherRow = serde_json::from_str(&record).unwrap();
    assert_eq!(decoded.code_sealed, vec![0x00, 0xFF]);
    assert_eq!(decoded.code_index, [0xAB; 32]);
    assert_eq!(decoded.status, VoucherStatus::Cancelling);
    assert_eq!(decoded.authorization_id, None);
    assert_eq!(
        serde_json::to_value(&decoded).unwrap(),
        serde_json::from_str::<serde_json::Value>(&record).unwrap()
    );

    let product = product(1 << 120, "CU", "Milk");
    let json = serde_json::to_string(&product).unwrap();
    assert_eq!(serde_json::from_str::<ProductRow>(&json).unwrap(), product);
    assert!(json.contains("\"enabled\":true"), "{json}");
}
