//! The promotions tables (`store::tables::promotions`) on every backend: every kind of
//! promotion and grant reads back as written and is counted in its promotion's totals, and
//! migration 34 (trading rewards, a new kind: on SQLite the tables are made again) keeps
//! every row it finds. The PostgreSQL variants need `MILEVERSE_TEST_DATABASE_URL` (see
//! `suite.rs`).

mod common;

use store::Store;
use store::tables::promotions::{
    self, GrantKind, GrantRow, PromotionKind, PromotionRow, PromotionTotals, PromotionWrite,
};

fn promotion(id: u128, kind: PromotionKind) -> PromotionRow {
    PromotionRow {
        id,
        name: format!("Promotion {id}"),
        kind,
        amount: 0,
        rate_bps: 100,
        wallets_max: 0,
        merchant_id: None,
        brand: (kind == PromotionKind::Cashback).then(|| "Blue Cup".to_string()),
        starts_at_s: 1_000,
        ends_at_s: 2_000,
        ended: false,
        created_at_s: 1_000,
    }
}

fn grant(transfer_id: u128, promotion_id: u128, kind: GrantKind, amount: u64) -> GrantRow {
    GrantRow {
        transfer_id,
        promotion_id,
        member_id: 7,
        authorization_id: (kind != GrantKind::TradingReward).then_some(9),
        kind,
        amount,
        created_at_s: 1_500,
    }
}

/// Two promotions, a cashback taken back in part and two trading rewards.
fn write_every_kind(s: &mut dyn Store) {
    let writes = vec![
        PromotionWrite::Promotion(promotion(1, PromotionKind::Cashback)),
        PromotionWrite::Promotion(promotion(2, PromotionKind::TradingReward)),
        PromotionWrite::Grant(grant(10, 1, GrantKind::Cashback, 300)),
        PromotionWrite::Grant(grant(11, 1, GrantKind::Clawback, 120)),
        PromotionWrite::Grant(grant(12, 2, GrantKind::TradingReward, 40)),
        PromotionWrite::Grant(grant(13, 2, GrantKind::TradingReward, 2)),
    ];
    common::append_rows(s, writes).unwrap();
}

fn check_every_kind(s: &mut dyn Store) {
    let mut read = s.tables().unwrap();
    let read = &mut read;
    for (id, kind) in [
        (1, PromotionKind::Cashback),
        (2, PromotionKind::TradingReward),
    ] {
        let found = promotions::promotion(read, id).unwrap();
        assert_eq!(found, Some(promotion(id, kind)));
    }
    let cashback = PromotionTotals {
        cashback_mvp: 300,
        clawback_mvp: 120,
        ..PromotionTotals::default()
    };
    assert_eq!(promotions::promotion_totals(read, 1).unwrap(), cashback);
    let trading = PromotionTotals {
        trading_reward_mvp: 42,
        ..PromotionTotals::default()
    };
    assert_eq!(promotions::promotion_totals(read, 2).unwrap(), trading);
    let kinds: Vec<GrantKind> = promotions::payment_grants(read, 9)
        .unwrap()
        .iter()
        .map(|grant| grant.kind)
        .collect();
    assert_eq!(kinds.len(), 2, "the cashback and its clawback: {kinds:?}");
}

fn every_kind_reads_back_and_counts(s: &mut dyn Store) {
    write_every_kind(s);
    check_every_kind(s);
}

for_each_backend!(every_kind_reads_back_and_counts);

#[test]
fn kinds_name_themselves() {
    for kind in [
        PromotionKind::SignupBonus,
        PromotionKind::Cashback,
        PromotionKind::TradingReward,
    ] {
        assert_eq!(PromotionKind::parse(kind.as_str()), Some(kind));
    }
    for kind in [
        GrantKind::SignupBonus,
        GrantKind::Cashback,
        GrantKind::Clawback,
        GrantKind::TradingReward,
    ] {
        assert_eq!(GrantKind::parse(kind.as_str()), Some(kind));
    }
    assert_eq!(PromotionKind::parse("clawback"), None);
}

/// Migration 34 run over tables that hold rows keeps them all (on SQLite it makes the
/// tables again; running it again over its own tables is the same as over migration 30's,
/// which differ only in their checks).
#[test]
fn sqlite_migration_34_keeps_every_row() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("old.db");
    {
        let mut s = store::sqlite::SqliteStore::open(&path).unwrap();
        write_every_kind(&mut s);
        s.connection()
            .execute_batch("PRAGMA user_version = 33;")
            .unwrap();
    }
    let mut s = store::sqlite::SqliteStore::open(&path).unwrap();
    check_every_kind(&mut s);
}

#[test]
fn postgres_migration_34_keeps_every_row() {
    let mut fixture = common::PgFixture::new("promotions_migration_34");
    write_every_kind(&mut fixture.store);
    fixture
        .store
        .client()
        .batch_execute("DELETE FROM schema_migrations WHERE version >= 34;")
        .unwrap();
    let reopened = store::postgres::PostgresStore::connect_schema(
        &common::database_url(),
        &fixture.schema,
        &common::database_tls(),
    );
    check_every_kind(&mut reopened.unwrap());
}
