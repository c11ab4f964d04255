//! One suite of record-store behaviours, run against every backend: `memory::*`, `sqlite::*`
//! and `postgres::*`. The PostgreSQL variants need `MILEVERSE_TEST_DATABASE_URL` (start a
//! server with `eval "$(bash scripts/pg.sh env)"`); without it they fail. Each of them works
//! in a fresh schema of its own, dropped at the end.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use store::StoreError;
use store::records::{
    MemoryRecords, PostgresRecords, RECORD_KEY_BYTES_MAX, RECORD_KIND_BYTES_MAX,
    RECORD_VALUE_BYTES_MAX, Record, RecordFaults, RecordStore, RecordWrite, SqliteRecords,
};

// ---------------------------------------------------------------------------------------------
// Data

fn rec(kind: &str, key: &[u8], value: &[u8]) -> Record {
    Record {
        kind: kind.to_owned(),
        key: key.to_vec(),
        value: value.to_vec(),
    }
}

fn put(kind: &str, key: &[u8], value: &[u8]) -> RecordWrite {
    RecordWrite::Put(rec(kind, key, value))
}

fn del(kind: &str, key: &[u8]) -> RecordWrite {
    RecordWrite::Delete {
        kind: kind.to_owned(),
        key: key.to_vec(),
    }
}

/// Fails unless `result` is the validation error (`Io` of kind `InvalidInput`).
fn assert_invalid(result: Result<(), StoreError>, what: &str) {
    match result {
        Err(StoreError::Io(e)) if e.kind() == ErrorKind::InvalidInput => {}
        other => panic!("{what}: expected an InvalidInput error, got {other:?}"),
    }
}

/// A test's view of one backend: the store, and a way to "restart" on the same data.
trait Backend {
    fn store(&mut self) -> &mut dyn RecordStore;
    /// Drops the store and opens the same data again (reopens the file, reconnects).
    fn reopen(&mut self);
}

// ---------------------------------------------------------------------------------------------
// Behaviours every backend must have

fn empty_load(b: &mut dyn Backend) {
    assert_eq!(b.store().load().unwrap(), vec![]);
    b.store().apply(&[]).unwrap();
    assert_eq!(b.store().load().unwrap(), vec![]);
}

fn put_replace_delete(b: &mut dyn Backend) {
    let s = b.store();
    s.apply(&[put("member", b"m1", b"one"), put("member", b"m2", b"two")])
        .unwrap();
    assert_eq!(
        s.load().unwrap(),
        vec![rec("member", b"m1", b"one"), rec("member", b"m2", b"two")]
    );
    // Replace one, leave the other.
    s.apply(&[put("member", b"m1", b"uno")]).unwrap();
    assert_eq!(
        s.load().unwrap(),
        vec![rec("member", b"m1", b"uno"), rec("member", b"m2", b"two")]
    );
    // The same key under another kind is another record.
    s.apply(&[put("partner", b"m1", b"p")]).unwrap();
    assert_eq!(s.load().unwrap().len(), 3);
    // Delete one; deleting an absent record is no error.
    s.apply(&[
        del("member", b"m1"),
        del("member", b"absent"),
        del("nokind", b"x"),
    ])
    .unwrap();
    assert_eq!(
        s.load().unwrap(),
        vec![rec("member", b"m2", b"two"), rec("partner", b"m1", b"p")]
    );
    // Empty keys and empty values are records like any other.
    s.apply(&[put("session", b"", b""), put("session", b"k", b"")])
        .unwrap();
    assert_eq!(
        s.load().unwrap()[2..],
        [rec("session", b"", b""), rec("session", b"k", b"")]
    );
    s.apply(&[del("session", b"")]).unwrap();
    assert_eq!(s.load().unwrap().len(), 3);
    // An empty batch changes nothing.
    s.apply(&[]).unwrap();
    assert_eq!(s.load().unwrap().len(), 3);
}

fn load_is_in_kind_then_bytewise_key_order(b: &mut dyn Backend) {
    // Bytewise, not by a locale: "B" < "a" < "ab" < "b" < "z" < "é" (0xC3 0xA9).
    let kinds = ["é", "b", "z", "a", "B", "ab"];
    // Bytewise, unsigned, a prefix before its extensions.
    let keys: [&[u8]; 11] = [
        &[0xff, 0x00],
        &[0x80],
        &[],
        &[0x00, 0x00],
        &[0xff],
        &[0x7f],
        &[0x00],
        &[0x01],
        &[0x00, 0xff],
        &[0xff, 0xff, 0xff],
        &[0x01, 0x00],
    ];
    let mut expected = Vec::new();
    for kind in kinds {
        // Several batches, each in a scrambled order.
        let batch: Vec<RecordWrite> = keys
            .iter()
            .map(|key| {
                let value = [kind.as_bytes(), b"/", key].concat();
                expected.push(rec(kind, key, &value));
                put(kind, key, &value)
            })
            .collect();
        b.store().apply(&batch).unwrap();
    }
    expected.sort_by(|x, y| (x.kind.as_bytes(), &x.key).cmp(&(y.kind.as_bytes(), &y.key)));
    let kinds_sorted: Vec<&str> = expected
        .iter()
        .map(|r| r.kind.as_str())
        .step_by(keys.len())
        .collect();
    assert_eq!(kinds_sorted, ["B", "a", "ab", "b", "z", "é"]);
    assert_eq!(expected[0].key, Vec::<u8>::new());
    assert_eq!(expected[1].key, vec![0x00]);
    assert_eq!(expected[10].key, vec![0xff, 0xff, 0xff]);
    assert_eq!(b.store().load().unwrap(), expected);
    b.reopen();
    assert_eq!(b.store().load().unwrap(), expected);
}

fn later_write_wins_within_a_batch(b: &mut dyn Backend) {
    let s = b.store();
    s.apply(&[put("k", b"stored", b"old"), put("k", b"doomed", b"old")])
        .unwrap();
    s.apply(&[
        // put, put: the second value.
        put("k", b"pp", b"first"),
        put("k", b"pp", b"second"),
        // put, delete: gone.
        put("k", b"pd", b"first"),
        del("k", b"pd"),
        // delete, put: present.
        del("k", b"dp"),
        put("k", b"dp", b"after"),
        // put, delete, put: the last put.
        put("k", b"pdp", b"1"),
        del("k", b"pdp"),
        put("k", b"pdp", b"3"),
        // delete, put, delete of a stored record: gone.
        del("k", b"doomed"),
        put("k", b"doomed", b"again"),
        del("k", b"doomed"),
        // put, put of a stored record: the last value.
        put("k", b"stored", b"new"),
        put("k", b"stored", b"newer"),
    ])
    .unwrap();
    assert_eq!(
        s.load().unwrap(),
        vec![
            rec("k", b"dp", b"after"),
            rec("k", b"pdp", b"3"),
            rec("k", b"pp", b"second"),
            rec("k", b"stored", b"newer"),
        ]
    );
}

fn a_batch_with_one_bad_write_writes_nothing(b: &mut dyn Backend) {
    let s = b.store();
    s.apply(&[put("member", b"a", b"1"), put("member", b"b", b"2")])
        .unwrap();
    let before = s.load().unwrap();
    let too_long_key = vec![7u8; RECORD_KEY_BYTES_MAX + 1];
    let too_big_value = vec![7u8; RECORD_VALUE_BYTES_MAX + 1];
    let too_long_kind = "k".repeat(RECORD_KIND_BYTES_MAX + 1);
    let bad: [(&str, RecordWrite); 6] = [
        ("an empty kind", put("", b"x", b"v")),
        ("a kind too long", put(&too_long_kind, b"x", b"v")),
        ("a kind with NUL", put("mem\0ber", b"x", b"v")),
        ("a key too long", put("member", &too_long_key, b"v")),
        ("a value too big", put("member", b"x", &too_big_value)),
        ("a delete with a key too long", del("member", &too_long_key)),
    ];
    for (what, bad) in bad {
        for at in [0, 2, 4] {
            let mut batch = vec![
                put("member", b"a", b"changed"),
                del("member", b"b"),
                put("member", b"c", b"new"),
                put("other", b"d", b"new"),
            ];
            batch.insert(at, bad.clone());
            assert_invalid(s.apply(&batch), &format!("{what} at {at}"));
            assert_eq!(s.load().unwrap(), before, "{what} at {at} wrote something");
        }
    }
    // The store still works.
    s.apply(&[put("member", b"c", b"3")]).unwrap();
    assert_eq!(s.load().unwrap().len(), 3);
}

fn limits_are_exact(b: &mut dyn Backend) {
    let s = b.store();
    let kind_max = "k".repeat(RECORD_KIND_BYTES_MAX);
    let key_max = vec![0xabu8; RECORD_KEY_BYTES_MAX];
    let value_max: Vec<u8> = (0..RECORD_VALUE_BYTES_MAX).map(|i| i as u8).collect();
    // Lengths are in bytes: 16 two-byte characters fill a kind exactly.
    let kind_max_utf8 = "é".repeat(RECORD_KIND_BYTES_MAX / 2);
    assert_eq!(kind_max_utf8.len(), RECORD_KIND_BYTES_MAX);
    s.apply(&[put(&kind_max, b"x", b"kind at max")]).unwrap();
    s.apply(&[put(&kind_max_utf8, b"x", b"utf-8 kind at max")])
        .unwrap();
    s.apply(&[put("k", &key_max, b"key at max")]).unwrap();
    s.apply(&[put("v", b"x", &value_max)]).unwrap();
    s.apply(&[put(&kind_max, &key_max, &value_max)]).unwrap();

    let kind_over = "k".repeat(RECORD_KIND_BYTES_MAX + 1);
    let kind_over_utf8 = format!("{kind_max_utf8}a");
    let mut key_over = key_max.clone();
    key_over.push(0);
    let mut value_over = value_max.clone();
    value_over.push(0);
    assert_invalid(s.apply(&[put(&kind_over, b"x", b"v")]), "kind max+1");
    assert_invalid(
        s.apply(&[put(&kind_over_utf8, b"x", b"v")]),
        "utf-8 kind max+1",
    );
    assert_invalid(s.apply(&[put("k", &key_over, b"v")]), "key max+1");
    assert_invalid(s.apply(&[del("k", &key_over)]), "deleted key max+1");
    assert_invalid(s.apply(&[put("v", b"y", &value_over)]), "value max+1");
    assert_invalid(s.apply(&[put("", b"x", b"v")]), "empty kind");
    assert_invalid(s.apply(&[del("", b"x")]), "deleted empty kind");

    let mut expected = vec![
        rec(&kind_max, b"x", b"kind at max"),
        rec(&kind_max, &key_max, &value_max),
        rec("k", &key_max, b"key at max"),
        rec("v", b"x", &value_max),
        rec(&kind_max_utf8, b"x", b"utf-8 kind at max"),
    ];
    expected.sort_by(|x, y| (x.kind.as_bytes(), &x.key).cmp(&(y.kind.as_bytes(), &y.key)));
    assert_eq!(s.load().unwrap(), expected);
    b.reopen();
    assert_eq!(b.store().load().unwrap(), expected);
}

fn durable_across_reopen(b: &mut dyn Backend) {
    b.store()
        .apply(&[
            put("member", b"m1", b"one"),
            put("member", b"m2", b"two"),
            put("exchange", &[0, 1, 2], &[0xff; 100]),
        ])
        .unwrap();
    b.reopen();
    let expected = vec![
        rec("exchange", &[0, 1, 2], &[0xff; 100]),
        rec("member", b"m1", b"one"),
        rec("member", b"m2", b"two"),
    ];
    assert_eq!(b.store().load().unwrap(), expected);
    // Writes after the restart stay too, deletes included.
    b.store()
        .apply(&[del("member", b"m1"), put("member", b"m3", b"three")])
        .unwrap();
    b.reopen();
    assert_eq!(
        b.store().load().unwrap(),
        vec![
            rec("exchange", &[0, 1, 2], &[0xff; 100]),
            rec("member", b"m2", b"two"),
            rec("member", b"m3", b"three"),
        ]
    );
}

fn ten_thousand_puts_in_one_apply(b: &mut dyn Backend) {
    const N: u32 = 10_000;
    // Keys written in a scrambled order; values of varied lengths.
    let key = |i: u32| i.wrapping_mul(2_654_435_761).to_be_bytes();
    let value = |i: u32, round: u8| vec![round; (i % 97) as usize];
    let batch: Vec<RecordWrite> = (0..N).map(|i| put("link", &key(i), &value(i, 1))).collect();
    b.store().apply(&batch).unwrap();
    let mut expected: Vec<Record> = (0..N).map(|i| rec("link", &key(i), &value(i, 1))).collect();
    expected.sort_by(|x, y| x.key.cmp(&y.key));
    let loaded = b.store().load().unwrap();
    assert_eq!(loaded.len(), N as usize);
    assert_eq!(loaded, expected);

    // A second batch of 10,000: replaces the even ones, deletes every third.
    let mut batch = Vec::new();
    for i in 0..N {
        if i % 3 == 0 {
            batch.push(del("link", &key(i)));
        } else if i % 2 == 0 {
            batch.push(put("link", &key(i), &value(i, 2)));
        }
    }
    b.store().apply(&batch).unwrap();
    b.reopen();
    let mut expected: Vec<Record> = (0..N)
        .filter(|i| i % 3 != 0)
        .map(|i| rec("link", &key(i), &value(i, if i % 2 == 0 { 2 } else { 1 })))
        .collect();
    expected.sort_by(|x, y| x.key.cmp(&y.key));
    assert_eq!(b.store().load().unwrap(), expected);
}

fn large_values_in_one_apply(b: &mut dyn Backend) {
    // More than 64 MiB in one batch (PostgreSQL sends it in more than one statement).
    const N: u8 = 66;
    let value = |i: u8| -> Vec<u8> {
        (0..RECORD_VALUE_BYTES_MAX)
            .map(|j| (j as u8).wrapping_mul(31) ^ i)
            .collect()
    };
    let mut batch: Vec<RecordWrite> = (0..N).map(|i| put("blob", &[i], &value(i))).collect();
    // Later writes to keys that sit in the first and in the last statement.
    batch.push(del("blob", &[0]));
    batch.push(put("blob", &[N - 1], b"small"));
    b.store().apply(&batch).unwrap();
    let loaded = b.store().load().unwrap();
    assert_eq!(loaded.len(), N as usize - 1);
    for (r, i) in loaded.iter().zip(1..N) {
        assert_eq!(r.key, [i]);
        if i == N - 1 {
            assert_eq!(r.value, b"small");
        } else {
            assert!(r.value == value(i), "value {i} differs");
        }
    }
}

type Model = BTreeMap<(String, Vec<u8>), Vec<u8>>;

fn model_records(model: &Model) -> Vec<Record> {
    model
        .iter()
        .map(|((kind, key), value)| rec(kind, key, value))
        .collect()
}

fn random_ops_match_a_model(b: &mut dyn Backend) {
    const SEED: u64 = 0x6d69_6c65_0001;
    const OPS: usize = 2_000;
    let mut rng = StdRng::seed_from_u64(SEED);
    let kinds = ["a", "b", "member", "Z", "é"];
    let key_bytes = [0x00u8, 0x01, 0x7f, 0x80, 0xfe, 0xff];
    let mut model = Model::new();
    let (mut ops, mut batches, mut refused) = (0, 0, 0);
    while ops < OPS {
        let n = rng.gen_range(0..=40);
        let mut batch = Vec::with_capacity(n + 1);
        for _ in 0..n {
            let kind = kinds[rng.gen_range(0..kinds.len())];
            let key: Vec<u8> = (0..rng.gen_range(0..=3))
                .map(|_| key_bytes[rng.gen_range(0..key_bytes.len())])
                .collect();
            if rng.gen_bool(0.65) {
                let value: Vec<u8> = (0..rng.gen_range(0..=48)).map(|_| rng.r#gen()).collect();
                batch.push(put(kind, &key, &value));
            } else {
                batch.push(del(kind, &key));
            }
        }
        ops += n.max(1);
        batches += 1;
        let bad = rng.gen_ratio(1, 10);
        if bad {
            let write = match rng.gen_range(0..3) {
                0 => put("", b"k", b"v"),
                1 => del("a", &[1; RECORD_KEY_BYTES_MAX + 1]),
                _ => put(&"x".repeat(RECORD_KIND_BYTES_MAX + 1), b"k", b"v"),
            };
            let at = rng.gen_range(0..=batch.len());
            batch.insert(at, write);
            assert_invalid(
                b.store().apply(&batch),
                &format!("seed {SEED:#x}, batch {batches}"),
            );
            refused += 1;
        } else {
            b.store().apply(&batch).unwrap();
            for w in &batch {
                match w {
                    RecordWrite::Put(r) => {
                        model.insert((r.kind.clone(), r.key.clone()), r.value.clone());
                    }
                    RecordWrite::Delete { kind, key } => {
                        model.remove(&(kind.clone(), key.clone()));
                    }
                }
            }
        }
        if batches % 16 == 0 {
            b.reopen();
        }
        assert_eq!(
            b.store().load().unwrap(),
            model_records(&model),
            "seed {SEED:#x}: the store differs from the model after batch {batches}"
        );
    }
    assert!(
        refused > 0 && !model.is_empty(),
        "the test exercised little"
    );
}

macro_rules! for_every_backend {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[test] fn $name() { super::$name(&mut super::MemoryFixture::new()); })*
        }
        mod sqlite {
            $(#[test] fn $name() { super::$name(&mut super::SqliteFixture::new()); })*
        }
        mod postgres {
            $(#[test] fn $name() { super::$name(&mut super::PgFixture::new(stringify!($name))); })*
        }
    };
}

for_every_backend!(
    empty_load,
    put_replace_delete,
    load_is_in_kind_then_bytewise_key_order,
    later_write_wins_within_a_batch,
    a_batch_with_one_bad_write_writes_nothing,
    limits_are_exact,
    durable_across_reopen,
    ten_thousand_puts_in_one_apply,
    large_values_in_one_apply,
    random_ops_match_a_model,
);

// ---------------------------------------------------------------------------------------------
// Fixtures

/// A memory store; "reopening" takes a fresh clone of the shared handle.
struct MemoryFixture {
    shared: MemoryRecords,
    store: MemoryRecords,
}

impl MemoryFixture {
    fn new() -> MemoryFixture {
        let shared = MemoryRecords::new();
        MemoryFixture {
            store: shared.clone(),
            shared,
        }
    }
}

impl Backend for MemoryFixture {
    fn store(&mut self) -> &mut dyn RecordStore {
        &mut self.store
    }

    fn reopen(&mut self) {
        self.store = self.shared.clone();
    }
}

struct SqliteFixture {
    store: Option<SqliteRecords>,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SqliteFixture {
    fn new() -> SqliteFixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.db");
        let store = SqliteRecords::open(&path).unwrap();
        SqliteFixture {
            store: Some(store),
            path,
            _dir: dir,
        }
    }
}

impl Backend for SqliteFixture {
    fn store(&mut self) -> &mut dyn RecordStore {
        self.store.as_mut().expect("open")
    }

    fn reopen(&mut self) {
        // Close the file first, then open it again.
        self.store = None;
        self.store = Some(SqliteRecords::open(&self.path).unwrap());
    }
}

fn database_url() -> String {
    std::env::var("MILEVERSE_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "MILEVERSE_TEST_DATABASE_URL is not set: the PostgreSQL tests need a server. Run \
             `eval \"$(bash scripts/pg.sh env)\"` (it starts one on 127.0.0.1) and run the tests again"
        )
    })
}

/// How the tests connect (see `common::database_tls`).
fn database_tls() -> store::postgres::PostgresTls {
    tls::test_pki::test_database_tls().postgres()
}

/// A store in a schema of its own, dropped when the test ends.
struct PgFixture {
    store: Option<PostgresRecords>,
    schema: String,
}

impl PgFixture {
    fn new(test: &str) -> PgFixture {
        static N: AtomicU32 = AtomicU32::new(0);
        let schema = format!(
            "r_{}_{}_{}",
            test,
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let url = database_url();
        let mut admin = ::postgres::Client::connect(&url, database_tls()).unwrap_or_else(|e| {
            panic!("cannot connect to {url} (start it with scripts/pg.sh): {e}")
        });
        admin
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .unwrap();
        let store = PostgresRecords::connect_schema(&url, &schema, &database_tls()).unwrap();
        PgFixture {
            store: Some(store),
            schema,
        }
    }
}

impl Backend for PgFixture {
    fn store(&mut self) -> &mut dyn RecordStore {
        self.store.as_mut().expect("connected")
    }

    fn reopen(&mut self) {
        // Disconnect first, then connect again.
        self.store = None;
        self.store = Some(
            PostgresRecords::connect_schema(&database_url(), &self.schema, &database_tls())
                .unwrap(),
        );
    }
}

impl Drop for PgFixture {
    fn drop(&mut self) {
        self.store = None;
        if let Ok(mut c) = ::postgres::Client::connect(&database_url(), database_tls()) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Backend-specific behaviours

#[test]
fn memory_fault_plan() {
    let mut s =
        MemoryRecords::with_faults(RecordFaults::new().fail_apply(2).fail_apply_after_write(3));
    let observer = s.clone();
    s.apply(&[put("k", b"a", b"1")]).unwrap();
    // The 2nd call fails before writing: nothing of it is stored.
    assert!(matches!(
        s.apply(&[put("k", b"b", b"2"), del("k", b"a")]),
        Err(StoreError::Injected(_))
    ));
    assert_eq!(observer.apply_calls(), 2);
    assert_eq!(s.load().unwrap(), vec![rec("k", b"a", b"1")]);
    // The 3rd call writes, then reports failure (an acknowledgement lost).
    assert!(matches!(
        s.apply(&[put("k", b"b", b"2"), del("k", b"a")]),
        Err(StoreError::Injected(_))
    ));
    assert_eq!(s.load().unwrap(), vec![rec("k", b"b", b"2")]);
    // A refused batch is a call too, and writes nothing.
    assert_invalid(
        s.apply(&[put("k", b"c", b"3"), put("", b"", b"")]),
        "empty kind",
    );
    s.apply(&[put("k", b"c", b"3")]).unwrap();
    assert_eq!(observer.apply_calls(), 5);
    // Clones share the data: a "restarted" handle sees everything.
    let mut restarted = observer.clone();
    assert_eq!(
        restarted.load().unwrap(),
        vec![rec("k", b"b", b"2"), rec("k", b"c", b"3")]
    );

    // From the 7th call on every apply fails (a dead disk); loads fail too.
    observer.set_faults(RecordFaults::new().fail_applies_from(7).fail_loads());
    assert!(matches!(s.load(), Err(StoreError::Injected(_))));
    s.apply(&[put("k", b"d", b"4")]).unwrap();
    for _ in 0..3 {
        assert!(matches!(
            s.apply(&[put("k", b"e", b"5")]),
            Err(StoreError::Injected(_))
        ));
    }
    observer.set_faults(RecordFaults::new());
    assert_eq!(
        s.load().unwrap(),
        vec![
            rec("k", b"b", b"2"),
            rec("k", b"c", b"3"),
            rec("k", b"d", b"4")
        ]
    );
    s.apply(&[put("k", b"e", b"5")]).unwrap();
    assert_eq!(observer.apply_calls(), 10);
    assert_eq!(restarted.load().unwrap().len(), 4);
}

#[test]
fn sqlite_is_wal_and_synchronous_full() {
    let mut t = SqliteFixture::new();
    t.store().apply(&[put("k", b"a", b"1")]).unwrap();
    t.store = None;
    let conn = rusqlite::Connection::open(&t.path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1);
    let without_rowid: String = conn
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE name = 'records'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(without_rowid.contains("WITHOUT ROWID"), "{without_rowid}");
    drop(conn);
    // `synchronous` is per connection: ask the store's own.
    let mut s = SqliteRecords::open(&t.path).unwrap();
    assert_eq!(s.path(), t.path);
    let sync: i64 = s
        .connection()
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "synchronous=FULL");
}

#[test]
fn sqlite_refuses_a_newer_schema() {
    let mut t = SqliteFixture::new();
    t.store = None;
    rusqlite::Connection::open(&t.path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    assert!(matches!(
        SqliteRecords::open(&t.path),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn sqlite_garbage_file_is_a_sqlite_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.db");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    assert!(matches!(
        SqliteRecords::open(&path),
        Err(StoreError::Sqlite(_))
    ));
}

#[test]
fn open_records_by_spec() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.db");
    let mut s =
        store::records::open_records(&format!("sqlite:{}", path.display()), &database_tls())
            .unwrap();
    s.apply(&[put("k", b"a", b"1")]).unwrap();
    drop(s);
    let mut s = store::records::open_records(path.to_str().unwrap(), &database_tls()).unwrap();
    assert_eq!(s.load().unwrap(), vec![rec("k", b"a", b"1")]);
    let mut m = store::records::open_records("memory", &database_tls()).unwrap();
    assert_eq!(m.load().unwrap(), vec![]);
}

#[test]
fn postgres_open_records_by_url() {
    let mut t = PgFixture::new("by_url");
    t.store().apply(&[put("k", b"a", b"1")]).unwrap();
    // The schema chosen by the URL's `options`, as an operator would.
    let url = database_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    let spec = format!("{url}{sep}options=-c%20search_path%3D{}", t.schema);
    let mut s = store::records::open_records(&spec, &database_tls()).unwrap();
    assert_eq!(s.load().unwrap(), vec![rec("k", b"a", b"1")]);
    s.apply(&[put("k", b"b", b"2")]).unwrap();
    assert_eq!(t.store().load().unwrap().len(), 2);
}

#[test]
fn postgres_records_share_the_ledger_schema() {
    use store::Store;
    use store::postgres::PostgresStore;
    let mut t = PgFixture::new("shared");
    let meta = store::StoreMeta {
        operator_public_key: [9; 32],
    };
    // The ledger's migrations and the records' are recorded apart: either may come first.
    let mut ledger =
        PostgresStore::connect_schema(&database_url(), &t.schema, &database_tls()).unwrap();
    assert_eq!(ledger.init(&meta).unwrap(), meta);
    t.store().apply(&[put("member", b"m", b"v")]).unwrap();
    t.reopen();
    drop(ledger);
    let mut ledger =
        PostgresStore::connect_schema(&database_url(), &t.schema, &database_tls()).unwrap();
    assert_eq!(ledger.meta().unwrap(), Some(meta));
    assert_eq!(ledger.block_count().unwrap(), 0);
    assert_eq!(t.store().load().unwrap(), vec![rec("member", b"m", b"v")]);
}

#[test]
fn postgres_schemas_are_separate() {
    let mut a = PgFixture::new("sep_a");
    let mut b = PgFixture::new("sep_b");
    a.store().apply(&[put("k", b"a", b"1")]).unwrap();
    b.store().apply(&[put("k", b"b", b"2")]).unwrap();
    assert_eq!(a.store().load().unwrap(), vec![rec("k", b"a", b"1")]);
    assert_eq!(b.store().load().unwrap(), vec![rec("k", b"b", b"2")]);
    assert_eq!(a.store.as_ref().unwrap().schema(), Some(a.schema.as_str()));
}

#[test]
fn postgres_kind_is_ordered_bytewise_whatever_the_locale() {
    // The test database may well use the C locale, where any `text` orders bytewise; the
    // column's own collation is what keeps `load`'s order in any other database.
    let mut t = PgFixture::new("collation");
    let schema = t.schema.clone();
    let client = t.store.as_mut().unwrap().client();
    let collation: Option<String> = client
        .query_one(
            "SELECT collation_name FROM information_schema.columns
             WHERE table_schema = $1 AND table_name = 'records' AND column_name = 'kind'",
            &[&schema],
        )
        .unwrap()
        .get(0);
    assert_eq!(collation.as_deref(), Some("C"));
    let sync: String = client
        .query_one("SHOW synchronous_commit", &[])
        .unwrap()
        .get(0);
    assert_eq!(sync, "on");
}
