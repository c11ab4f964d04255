//! The anchoring tables (`store::tables::anchoring`) on every backend: co-signatures written
//! in the ledger's transaction read back by checkpoint (by signer, another checkpoint's
//! left out) and are replaced by (checkpoint, signer); the walk from a height comes in
//! primary-key order, page by page, and matches a naive model; the purge removes only the
//! heights below its own; anchorings read back as written (every column, set or not), a
//! second one with the same index leaves the first; the latest, the pages newest first and
//! the count match a model; pages stop at their maximum. The rows' serde form is the JSON
//! the platform's records had. The PostgreSQL variants need `MILEVERSE_TEST_DATABASE_URL`
//! (see `suite.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

mod common;

use common::Dice;

use store::Store;
use store::tables::anchoring::{
    self, ANCHORING_PAGE_MAX, AnchoringRow, AnchoringWrite, CosignatureRow,
};
use store::tables::{RowRef, TableRead};

fn write(s: &mut dyn Store, writes: Vec<AnchoringWrite>) {
    common::append_rows(s, writes).unwrap();
}

/// A root of the checkpoint's own.
fn root_of(height: u64, tree_size: u64) -> [u8; 32] {
    let mut root = [0; 32];
    root[..8].copy_from_slice(&height.to_be_bytes());
    root[8..16].copy_from_slice(&tree_size.to_be_bytes());
    root[16..24].copy_from_slice(&(!height).to_be_bytes());
    root
}

fn signer(n: u8) -> [u8; 20] {
    let mut signer = [n; 20];
    signer[0] = 0xA0 ^ n;
    signer
}

fn cosignature(height: u64, tree_size: u64, root: [u8; 32], signer: [u8; 20]) -> CosignatureRow {
    let mut signature = [0; 65];
    signature[..20].copy_from_slice(&signer);
    signature[20..52].copy_from_slice(&root);
    signature[64] = 27 + (height % 2) as u8;
    CosignatureRow {
        height,
        tree_size,
        root,
        signer,
        signature,
        received_at_s: 1_700_000_000 + height % 1_000,
    }
}

fn anchored(index: u64) -> AnchoringRow {
    let height = 100 * index + 7;
    let tree_size = 1_000 * index + 3;
    AnchoringRow {
        index,
        height,
        tree_size,
        root: root_of(height, tree_size),
        anchored_at_s: 1_700_000_000 + index * 1_200,
        tx_hash: Some([index as u8; 32]),
        block_number: Some(20_000_000 + index),
        gas_used: Some(61_000 + index),
    }
}

fn an_empty_table_answers_nothing(s: &mut dyn Store) {
    let mut read = s.tables().unwrap();
    let read = &mut read;
    assert!(
        anchoring::cosignatures(read, 1, 1, root_of(1, 1))
            .unwrap()
            .is_empty()
    );
    assert!(
        anchoring::cosignatures_from(read, 0, None, 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(anchoring::latest_anchoring(read).unwrap(), None);
    assert_eq!(anchoring::anchoring(read, 0).unwrap(), None);
    assert!(
        anchoring::anchorings_page(read, None, 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(anchoring::anchoring_count(read).unwrap(), 0);
}

fn cosignatures_of_a_checkpoint_read_back_by_signer(s: &mut dyn Store) {
    let root = root_of(10, 200);
    // Two signers of the checkpoint, written in reverse signer order; the same signer at
    // another checkpoint of the same height (another size, then another root), and at
    // the next height.
    let second = cosignature(10, 200, root, signer(9));
    let first = cosignature(10, 200, root, signer(2));
    let other_size = cosignature(10, 201, root, signer(2));
    let other_root = cosignature(10, 200, [0xEE; 32], signer(2));
    let next = cosignature(11, 200, root, signer(2));
    write(
        s,
        vec![
            AnchoringWrite::Cosignature(second.clone()),
            AnchoringWrite::Cosignature(first.clone()),
            AnchoringWrite::Cosignature(other_size.clone()),
            AnchoringWrite::Cosignature(other_root.clone()),
            AnchoringWrite::Cosignature(next.clone()),
        ],
    );
    let mut read = s.tables().unwrap();
    let read = &mut read;
    assert_eq!(
        anchoring::cosignatures(read, 10, 200, root).unwrap(),
        vec![first.clone(), second.clone()]
    );
    assert_eq!(
        anchoring::cosignatures(read, 10, 201, root).unwrap(),
        vec![other_size]
    );
    assert_eq!(
        anchoring::cosignatures(read, 10, 200, [0xEE; 32]).unwrap(),
        vec![other_root]
    );
    assert_eq!(
        anchoring::cosignatures(read, 11, 200, root).unwrap(),
        vec![next]
    );
    assert!(
        anchoring::cosignatures(read, 12, 200, root)
            .unwrap()
            .is_empty()
    );
    // Looked up beyond 2^63 - 1: found nowhere.
    assert!(
        anchoring::cosignatures(read, u64::MAX, 200, root)
            .unwrap()
            .is_empty()
    );
    assert!(
        anchoring::cosignatures(read, 10, u64::MAX, root)
            .unwrap()
            .is_empty()
    );
}

fn a_cosignature_is_replaced_by_checkpoint_and_signer(s: &mut dyn Store) {
    let root = root_of(5, 50);
    let kept = cosignature(5, 50, root, signer(1));
    let before = cosignature(5, 50, root, signer(3));
    write(
        s,
        vec![
            AnchoringWrite::Cosignature(kept.clone()),
            AnchoringWrite::Cosignature(before),
        ],
    );
    // The witness signs the same checkpoint again: a new signature, a new time.
    let mut again = cosignature(5, 50, root, signer(3));
    again.signature = [0x5A; 65];
    again.received_at_s = 1_800_000_000;
    write(s, vec![AnchoringWrite::Cosignature(again.clone())]);
    let mut read = s.tables().unwrap();
    assert_eq!(
        anchoring::cosignatures(&mut read, 5, 50, root).unwrap(),
        vec![kept, again]
    );
    let all = anchoring::cosignatures_from(&mut read, 0, None, 10).unwrap();
    assert_eq!(all.len(), 2);
}

/// The primary key of a co-signature, as a cursor.
type Cursor = (u64, u64, [u8; 32], [u8; 20]);

fn cursor_of(row: &CosignatureRow) -> Cursor {
    (row.height, row.tree_size, row.root, row.signer)
}

/// Most rows a walk takes before it is deemed not to end (a cursor that repeats a row).
const WALK_MAX: usize = 10_000;

/// Every co-signature from `height` on, page by page (the cursor is the last row's key);
/// asserts each page's bound and that the walk ends.
fn walk(read: &mut TableRead<'_>, height: u64, page_size: usize) -> Vec<CosignatureRow> {
    let mut walked = Vec::new();
    let mut cursor = None;
    loop {
        let rows = anchoring::cosignatures_from(read, height, cursor, page_size).unwrap();
        assert!(rows.len() <= page_size);
        let Some(last) = rows.last() else {
            return walked;
        };
        cursor = Some(cursor_of(last));
        walked.extend(rows);
        assert!(walked.len() <= WALK_MAX, "the walk does not end");
    }
}

/// Checks the co-signature queries against the model (keyed by the primary key).
fn check_cosignatures(read: &mut TableRead<'_>, model: &BTreeMap<Cursor, CosignatureRow>) {
    let checkpoints: std::collections::BTreeSet<(u64, u64, [u8; 32])> = model
        .keys()
        .map(|(height, size, root, _)| (*height, *size, *root))
        .collect();
    for (height, tree_size, root) in &checkpoints {
        let expected: Vec<CosignatureRow> = model
            .values()
            .filter(|row| (row.height, row.tree_size, row.root) == (*height, *tree_size, *root))
            .cloned()
            .collect();
        assert_eq!(
            anchoring::cosignatures(read, *height, *tree_size, *root).unwrap(),
            expected
        );
    }
    let heights: Vec<u64> = model.keys().map(|key| key.0).collect();
    let mut from = vec![0, 1, u64::MAX];
    from.extend(heights.iter().step_by(7).copied());
    from.extend(heights.iter().step_by(11).map(|height| height + 1));
    for height in from {
        let expected: Vec<CosignatureRow> = model
            .values()
            .filter(|row| row.height >= height)
            .cloned()
            .collect();
        for page_size in [1, 7, ANCHORING_PAGE_MAX] {
            assert_eq!(
                walk(read, height, page_size),
                expected,
                "from {height}, pages of {page_size}"
            );
        }
    }
}

fn cosignatures_match_a_naive_model(s: &mut dyn Store) {
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15);
    let mut model = BTreeMap::new();
    // A few heights, a few checkpoints per height (sizes and roots that sort in another
    // order than they were made), a few signers each.
    for _ in 0..200 {
        let height = 1 + dice.roll(30);
        let tree_size = 10 * height + dice.roll(3);
        let mut root = root_of(height, tree_size);
        root[0] = dice.roll(3) as u8 * 0x70;
        let row = cosignature(height, tree_size, root, signer(dice.roll(6) as u8));
        model.insert(cursor_of(&row), row);
    }
    write(
        s,
        model
            .values()
            .cloned()
            .map(AnchoringWrite::Cosignature)
            .collect(),
    );
    check_cosignatures(&mut s.tables().unwrap(), &model);

    // A cursor with a size or a height beyond 2^63 - 1 (which no row has) is past every
    // row of its height.
    let mut read = s.tables().unwrap();
    let (height, ..) = *model.keys().next().unwrap();
    let past: Vec<CosignatureRow> = model
        .values()
        .filter(|row| row.height > height)
        .cloned()
        .collect();
    let after = Some((height, u64::MAX, [0xFF; 32], [0xFF; 20]));
    let page = anchoring::cosignatures_from(&mut read, 0, after, ANCHORING_PAGE_MAX).unwrap();
    assert_eq!(page, past);
    let after = Some((u64::MAX, 0, [0; 32], [0; 20]));
    let page = anchoring::cosignatures_from(&mut read, 0, after, ANCHORING_PAGE_MAX).unwrap();
    assert!(page.is_empty());
    drop(read);

    // Purges: below a height in the middle, then again below a lower one (nothing more
    // goes), then below a height no row has.
    for below in [12, 5, 12, 0, 31] {
        write(
            s,
            vec![AnchoringWrite::PurgeCosignaturesBelow { height: below }],
        );
        model.retain(|key, _| key.0 >= below);
        check_cosignatures(&mut s.tables().unwrap(), &model);
    }
    assert!(model.is_empty());
}

fn the_purge_removes_only_lower_heights(s: &mut dyn Store) {
    let rows: Vec<CosignatureRow> = [0, 1, 9, 10, 10, 11, (1 << 63) - 1]
        .into_iter()
        .enumerate()
        .map(|(n, height)| cosignature(height, 4, root_of(height, 4), signer(n as u8)))
        .collect();
    write(
        s,
        rows.iter()
            .cloned()
            .map(AnchoringWrite::Cosignature)
            .collect(),
    );
    let heights = |s: &mut dyn Store| -> Vec<u64> {
        let mut read = s.tables().unwrap();
        anchoring::cosignatures_from(&mut read, 0, None, ANCHORING_PAGE_MAX)
            .unwrap()
            .iter()
            .map(|row| row.height)
            .collect()
    };
    write(
        s,
        vec![AnchoringWrite::PurgeCosignaturesBelow { height: 0 }],
    );
    assert_eq!(heights(s), vec![0, 1, 9, 10, 10, 11, (1 << 63) - 1]);
    write(
        s,
        vec![AnchoringWrite::PurgeCosignaturesBelow { height: 10 }],
    );
    assert_eq!(heights(s), vec![10, 10, 11, (1 << 63) - 1]);
    let mut read = s.tables().unwrap();
    assert_eq!(
        anchoring::cosignatures(&mut read, 10, 4, root_of(10, 4))
            .unwrap()
            .len(),
        2
    );
    drop(read);
    write(
        s,
        vec![AnchoringWrite::PurgeCosignaturesBelow {
            height: (1 << 63) - 1,
        }],
    );
    assert_eq!(heights(s), vec![(1 << 63) - 1]);
    // Beyond 2^63 - 1, every row is below.
    write(
        s,
        vec![AnchoringWrite::PurgeCosignaturesBelow { height: u64::MAX }],
    );
    assert!(heights(s).is_empty());
}

fn anchorings_read_back_as_written(s: &mut dyn Store) {
    let full = anchored(3);
    let bare = AnchoringRow {
        index: 0,
        height: 0,
        tree_size: 0,
        root: [0; 32],
        anchored_at_s: 0,
        tx_hash: None,
        block_number: None,
        gas_used: None,
    };
    let largest = AnchoringRow {
        index: (1 << 63) - 1,
        height: (1 << 63) - 1,
        tree_size: (1 << 63) - 1,
        root: [0xFF; 32],
        anchored_at_s: (1 << 63) - 1,
        tx_hash: Some([0xFF; 32]),
        block_number: Some((1 << 63) - 1),
        gas_used: Some(0),
    };
    let mut partly = anchored(7);
    partly.tx_hash = None;
    partly.gas_used = None;
    let rows = [full, bare, largest, partly];
    write(
        s,
        rows.iter()
            .cloned()
            .map(AnchoringWrite::Anchoring)
            .collect(),
    );
    let mut read = s.tables().unwrap();
    for row in &rows {
        let found = anchoring::anchoring(&mut read, row.index).unwrap();
        assert_eq!(found.as_ref(), Some(row));
    }
    assert_eq!(anchoring::anchoring(&mut read, 1).unwrap(), None);
    assert_eq!(anchoring::anchoring(&mut read, u64::MAX).unwrap(), None);
    assert_eq!(
        anchoring::latest_anchoring(&mut read).unwrap().as_ref(),
        Some(&rows[2])
    );
    assert_eq!(anchoring::anchoring_count(&mut read).unwrap(), 4);
    drop(read);

    // A value of 2^63 or more is refused before it is written, and the append's other rows
    // go with it.
    let mut huge = anchored(9);
    huge.block_number = Some(1 << 63);
    let rows: Vec<RowRef> = vec![
        Arc::new(AnchoringWrite::Anchoring(anchored(8))),
        Arc::new(AnchoringWrite::Anchoring(huge)),
    ];
    assert!(s.append_with_rows(&[], &rows).is_err());
    let mut read = s.tables().unwrap();
    assert_eq!(anchoring::anchoring(&mut read, 8).unwrap(), None);
    assert_eq!(anchoring::anchoring(&mut read, 9).unwrap(), None);
    assert_eq!(anchoring::anchoring_count(&mut read).unwrap(), 4);
}

fn a_second_anchoring_with_the_same_index_leaves_the_first(s: &mut dyn Store) {
    let first = anchored(4);
    write(s, vec![AnchoringWrite::Anchoring(first.clone())]);
    // Read back from the contract at start: no transaction known, another time.
    let again = AnchoringRow {
        anchored_at_s: first.anchored_at_s + 60,
        tx_hash: None,
        block_number: None,
        gas_used: None,
        ..first.clone()
    };
    // And one that differs in everything but the index, in the same append as a new one.
    let mut other = anchored(4);
    other.height += 1;
    other.tree_size += 1;
    other.root = [0x11; 32];
    other.tx_hash = Some([0x22; 32]);
    write(
        s,
        vec![
            AnchoringWrite::Anchoring(again),
            AnchoringWrite::Anchoring(other),
            AnchoringWrite::Anchoring(anchored(5)),
        ],
    );
    let mut read = s.tables().unwrap();
    assert_eq!(anchoring::anchoring(&mut read, 4).unwrap(), Some(first));
    assert_eq!(
        anchoring::anchoring(&mut read, 5).unwrap(),
        Some(anchored(5))
    );
    assert_eq!(anchoring::anchoring_count(&mut read).unwrap(), 2);
}

/// Every anchoring, page by page newest first (the cursor is the last row's index).
fn walk_anchorings(read: &mut TableRead<'_>, page_size: usize) -> Vec<AnchoringRow> {
    let mut walked = Vec::new();
    let mut before = None;
    loop {
        let rows = anchoring::anchorings_page(read, before, page_size).unwrap();
        assert!(rows.len() <= page_size);
        let Some(last) = rows.last() else {
            return walked;
        };
        before = Some(last.index);
        walked.extend(rows);
        assert!(walked.len() <= WALK_MAX, "the walk does not end");
    }
}

fn anchorings_match_a_naive_model(s: &mut dyn Store) {
    let mut dice = Dice(0x2545_F491_4F6C_DD1D);
    let mut model = BTreeMap::new();
    // Indexes with gaps (the contract's list read in part), over a wide range.
    for _ in 0..150 {
        let index = dice.roll(400) * (1 + dice.roll(3) * 1_000_000);
        let mut row = anchored(index);
        if dice.roll(3) == 0 {
            row.tx_hash = None;
            row.block_number = None;
            row.gas_used = None;
        }
        model.insert(index, row);
    }
    // Written in a few appends, in no particular order.
    let mut writes: Vec<AnchoringWrite> = model
        .values()
        .cloned()
        .map(AnchoringWrite::Anchoring)
        .collect();
    writes.reverse();
    for chunk in writes.chunks(40) {
        write(s, chunk.to_vec());
    }
    let mut read = s.tables().unwrap();
    let read = &mut read;
    assert_eq!(
        anchoring::anchoring_count(read).unwrap(),
        model.len() as u64
    );
    assert_eq!(
        anchoring::latest_anchoring(read).unwrap().as_ref(),
        model.values().next_back()
    );
    for (index, row) in &model {
        assert_eq!(
            anchoring::anchoring(read, *index).unwrap().as_ref(),
            Some(row)
        );
    }
    let newest_first: Vec<AnchoringRow> = model.values().rev().cloned().collect();
    for page_size in [1, 9, ANCHORING_PAGE_MAX] {
        assert_eq!(
            walk_anchorings(read, page_size),
            newest_first,
            "pages of {page_size}"
        );
    }
    // A cursor between rows, and one beyond 2^63 - 1 (every index is below it).
    for before in [0, 1, 500, 1_000_000, 2_500_000, u64::MAX] {
        let expected: Vec<AnchoringRow> = model
            .range(..before)
            .rev()
            .take(20)
            .map(|(_, row)| row.clone())
            .collect();
        assert_eq!(
            anchoring::anchorings_page(read, Some(before), 20).unwrap(),
            expected,
            "before {before}"
        );
    }
}

fn pages_stop_at_their_maximum(s: &mut dyn Store) {
    let total = ANCHORING_PAGE_MAX as u64 + 1;
    let root = root_of(3, 3);
    let mut writes = Vec::new();
    for n in 0..total {
        // One checkpoint with many signers (their addresses in big-endian order of n).
        let mut signer = [0; 20];
        signer[12..].copy_from_slice(&n.to_be_bytes());
        writes.push(AnchoringWrite::Cosignature(cosignature(3, 3, root, signer)));
        writes.push(AnchoringWrite::Anchoring(anchored(n + 1)));
    }
    write(s, writes);
    let mut read = s.tables().unwrap();
    let read = &mut read;
    let max = ANCHORING_PAGE_MAX;
    for limit in [max, max + 1, usize::MAX] {
        let page = anchoring::cosignatures_from(read, 0, None, limit).unwrap();
        assert_eq!(page.len(), max, "a page of {limit}");
        assert_eq!(page.last().unwrap().signer[12..], (total - 2).to_be_bytes());
        let page = anchoring::anchorings_page(read, None, limit).unwrap();
        assert_eq!(page.len(), max, "a page of {limit}");
        assert_eq!(page.first().unwrap().index, total);
        assert_eq!(page.last().unwrap().index, 2);
    }
    assert!(
        anchoring::cosignatures_from(read, 0, None, 0)
            .unwrap()
            .is_empty()
    );
    assert!(
        anchoring::anchorings_page(read, None, 0)
            .unwrap()
            .is_empty()
    );
    // The rest after a full page.
    let page = anchoring::cosignatures_from(read, 0, None, max).unwrap();
    let rest =
        anchoring::cosignatures_from(read, 0, Some(cursor_of(page.last().unwrap())), max).unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].signer[12..], (total - 1).to_be_bytes());
    let rest = anchoring::anchorings_page(read, Some(2), max).unwrap();
    assert_eq!(rest, vec![anchored(1)]);
    // A checkpoint's co-signatures are not paged: all of them.
    assert_eq!(
        anchoring::cosignatures(read, 3, 3, root).unwrap().len(),
        total as usize
    );
    assert_eq!(anchoring::anchoring_count(read).unwrap(), total);
}

for_each_backend!(
    an_empty_table_answers_nothing,
    cosignatures_of_a_checkpoint_read_back_by_signer,
    a_cosignature_is_replaced_by_checkpoint_and_signer,
    cosignatures_match_a_naive_model,
    the_purge_removes_only_lower_heights,
    anchorings_read_back_as_written,
    a_second_anchoring_with_the_same_index_leaves_the_first,
    anchorings_match_a_naive_model,
    pages_stop_at_their_maximum,
);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[test]
fn a_cosignature_round_trips_through_the_platforms_json() {
    let row = cosignature(10, 20, root_of(10, 20), signer(4));
    let json = serde_json::to_string(&row).unwrap();
    assert_eq!(serde_json::from_str::<CosignatureRow>(&json).unwrap(), row);
    assert!(
        json.contains(&format!("\"root\":\"{}\"", hex(&row.root))),
        "{json}"
    );
    assert!(
        json.contains(&format!("\"signer\":\"{}\"", hex(&row.signer))),
        "{json}"
    );
    assert!(
        json.contains(&format!("\"signature\":\"{}\"", hex(&row.signature))),
        "{json}"
    );

    // A record as the platform wrote it decodes into the row (a 130-digit signature).
    let record = format!(
        "{{\"height\":10,\"tree_size\":20,\"root\":\"{}\",\"signer\":\"{}\",\
         \"signature\":\"{}\",\"received_at_s\":1700000000}}",
        "ab".repeat(32),
        "12".repeat(20),
        "cd".repeat(64) + "1b"
    );
    let decoded: CosignatureRow = serde_json::from_str(&record).unwrap();
    assert_eq!(decoded.root, [0xAB; 32]);
    assert_eq!(decoded.signer, [0x12; 20]);
    assert_eq!(decoded.signature[..64], [0xCD; 64]);
    assert_eq!(decoded.signature[64], 0x1B);
    assert_eq!(decoded.received_at_s, 1_700_000_000);
    assert_eq!(
        serde_json::to_value(&decoded).unwrap(),
        serde_json::from_str::<serde_json::Value>(&record).unwrap()
    );
    // Upper-case digits decode too; a signature of another length does not.
    let upper = record.replace(&"cd".repeat(64), &"CD".repeat(64));
    assert_eq!(
        serde_json::from_str::<CosignatureRow>(&upper).unwrap(),
        decoded
    );
    let short = record.replace(&("cd".repeat(64) + "1b"), &"cd".repeat(64));
    assert!(serde_json::from_str::<CosignatureRow>(&short).is_err());
}

#[test]
fn an_anchoring_round_trips_through_the_platforms_json() {
    for row in [anchored(3), {
        let mut bare = anchored(0);
        bare.tx_hash = None;
        bare.block_number = None;
        bare.gas_used = None;
        bare
    }] {
        let json = serde_json::to_string(&row).unwrap();
        assert_eq!(serde_json::from_str::<AnchoringRow>(&json).unwrap(), row);
        assert!(json.contains(&format!("\"index\":{}", row.index)), "{json}");
        match row.tx_hash {
            Some(hash) => assert!(json.contains(&format!("\"tx_hash\":\"{}\"", hex(&hash)))),
            None => assert!(json.contains("\"tx_hash\":null"), "{json}"),
        }
    }

    // Records as the platform wrote them: the transaction unknown (null), then from before
    // it had the field at all, then known.
    let root = "0f".repeat(32);
    let record = format!(
        "{{\"index\":3,\"height\":10,\"tree_size\":20,\"root\":\"{root}\",\"anchored_at_s\":5,\
         \"tx_hash\":null,\"block_number\":null,\"gas_used\":null}}"
    );
    let expected = AnchoringRow {
        index: 3,
        height: 10,
        tree_size: 20,
        root: [0x0F; 32],
        anchored_at_s: 5,
        tx_hash: None,
        block_number: None,
        gas_used: None,
    };
    let decoded: AnchoringRow = serde_json::from_str(&record).unwrap();
    assert_eq!(decoded, expected);
    assert_eq!(
        serde_json::to_value(&decoded).unwrap(),
        serde_json::from_str::<serde_json::Value>(&record).unwrap()
    );
    let without = format!(
        "{{\"index\":3,\"height\":10,\"tree_size\":20,\"root\":\"{root}\",\"anchored_at_s\":5,\
         \"block_number\":null,\"gas_used\":null}}"
    );
    assert_eq!(
        serde_json::from_str::<AnchoringRow>(&without).unwrap(),
        expected
    );
    let known = format!(
        "{{\"index\":3,\"height\":10,\"tree_size\":20,\"root\":\"{root}\",\"anchored_at_s\":5,\
         \"tx_hash\":\"{}\",\"block_number\":19000000,\"gas_used\":60123}}",
        "e1".repeat(32)
    );
    let decoded: AnchoringRow = serde_json::from_str(&known).unwrap();
    assert_eq!(decoded.tx_hash, Some([0xE1; 32]));
    assert_eq!(decoded.block_number, Some(19_000_000));
    assert_eq!(decoded.gas_used, Some(60_123));
    assert_eq!(
        serde_json::to_value(&decoded).unwrap(),
        serde_json::from_str::<serde_json::Value>(&known).unwrap()
    );
    // A hash of another length is refused.
    let short = known.replace(&"e1".repeat(32), &"e1".repeat(31));
    assert!(serde_json::from_str::<AnchoringRow>(&short).is_err());
}
