//! Escrowed trades through the platform's API on a real store (SQLite files, or PostgreSQL
//! with `MILEVERSE_TEST_PLATFORM_BACKEND=postgres`): both legs move at once and survive a
//! restart, escrow holds nothing after; the sweep voids the locks of a trade past its
//! deadline once and leaves a disputed one frozen; the cap on open offers at its maximum;
//! a game company's credit happens once per credit_id.

mod support;

use platform::PlatformConfig;
use platform::PlatformError;
use platform::assets::{MVP, TTC};
use platform::escrow::error::EscrowError;
use platform::escrow::games::{CreditKind, CreditRequest};
use platform::escrow::{Goods, OPEN_OFFERS_PER_MEMBER_MAX, OfferRequest, Step, escrow_id};
use store::tables::escrow::TradeStatus;
use support::{Member, World};

/// (available, pending) of `asset`.
async fn holding(world: &World, member_id: u128, asset: platform::assets::Asset) -> (u64, u64) {
    let balances = world.platform().asset_balances(member_id).await.unwrap();
    let (_, balance) = balances
        .into_iter()
        .find(|(found, _)| *found == asset)
        .expect("the asset");
    (balance.available, balance.pending)
}

/// A game company credits `units` TTC to `member` (funded from the treasury first).
async fn ttc(world: &World, member: &Member, units: u64) {
    let platform = world.platform();
    let grant = platform.register_game("Tetra Games").await.unwrap();
    let reference = format!("po-{}", member.id);
    platform
        .fund_game(grant.game_id, units, &reference)
        .await
        .unwrap();
    let credit = CreditRequest {
        game_id: grant.game_id,
        member_phone: member.phone.clone(),
        amount: units,
        kind: CreditKind::Reward,
        credit_id: "welcome".into(),
    };
    let first = platform.credit_member(credit.clone()).await.unwrap();
    let again = platform.credit_member(credit.clone()).await.unwrap();
    assert!(!first.replayed && again.replayed);
    let other = CreditRequest {
        amount: 1,
        ..credit
    };
    assert_eq!(
        platform.credit_member(other).await.unwrap_err(),
        PlatformError::Escrow(EscrowError::CreditConflict)
    );
}

fn offer(seller_id: u128, units: u64, price: u64) -> OfferRequest {
    OfferRequest {
        seller_id,
        goods: Goods::Asset(TTC, units),
        price_asset: MVP,
        price,
        on_platform: true,
        idempotency_key: None,
    }
}

async fn escrow_holds(world: &World, ledger: u32) -> (u128, u128) {
    let accounts = world
        .platform()
        .ledger
        .lookup_accounts(vec![escrow_id(ledger)])
        .await
        .unwrap();
    let account = &accounts[0];
    (
        account.credits_posted - account.debits_posted,
        account.credits_pending,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_legs_move_at_once_across_a_restart_and_escrow_ends_empty() {
    let mut world = World::with_funding().await;
    let alice = world.member().await;
    let bob = world.member().await;
    ttc(&world, &alice, 50_000).await;
    world.fund(bob.id, 7_000).await;
    let platform = world.platform().clone();
    let trade = platform
        .offer_trade(offer(alice.id, 30_000, 6_000))
        .await
        .unwrap()
        .value;
    platform
        .trade_step(bob.id, trade.id, Step::Take)
        .await
        .unwrap();
    assert_eq!(escrow_holds(&world, TTC.ledger).await, (0, 30_000));
    assert_eq!(escrow_holds(&world, MVP.ledger).await, (0, 6_000));
    drop(platform);
    world.restart().await;
    let platform = world.platform().clone();
    let done = platform
        .trade_step(bob.id, trade.id, Step::Confirm)
        .await
        .unwrap();
    assert_eq!(done.trade.status, TradeStatus::Completed);
    assert_eq!(holding(&world, alice.id, TTC).await, (20_000, 0));
    assert_eq!(holding(&world, alice.id, MVP).await, (6_000, 0));
    assert_eq!(holding(&world, bob.id, TTC).await, (30_000, 0));
    assert_eq!(holding(&world, bob.id, MVP).await, (1_000, 0));
    assert_eq!(escrow_holds(&world, TTC.ledger).await, (0, 0));
    assert_eq!(escrow_holds(&world, MVP.ledger).await, (0, 0));
    let again = platform.trade_step(bob.id, trade.id, Step::Confirm).await;
    assert!(
        matches!(again, Err(PlatformError::Escrow(EscrowError::State { .. }))),
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_voids_a_late_trade_once_and_leaves_a_disputed_one() {
    let config = PlatformConfig {
        escrow_timeout_s: 1,
        ..PlatformConfig::default()
    };
    let mut world = World::with_funding_config(config).await;
    let alice = world.member().await;
    let bob = world.member().await;
    ttc(&world, &alice, 10_000).await;
    world.fund(bob.id, 1_000).await;
    let platform = world.platform().clone();
    let late = platform
        .offer_trade(offer(alice.id, 4_000, 300))
        .await
        .unwrap()
        .value;
    let quarrel = platform
        .offer_trade(offer(alice.id, 5_000, 400))
        .await
        .unwrap()
        .value;
    for id in [late.id, quarrel.id] {
        platform.trade_step(bob.id, id, Step::Take).await.unwrap();
    }
    platform
        .open_dispute(alice.id, quarrel.id, "not paid", "")
        .await
        .unwrap();
    assert_eq!(holding(&world, alice.id, TTC).await, (1_000, 4_000));
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    // The housekeeping ticker may have run it already: either way, once.
    platform.expire_due_trades().await.unwrap();
    assert_eq!(platform.expire_due_trades().await.unwrap(), 0);
    let expired = platform.trade_for(alice.id, late.id).await.unwrap();
    assert_eq!(expired.trade.status, TradeStatus::Expired);
    let frozen = platform.trade_for(alice.id, quarrel.id).await.unwrap();
    assert_eq!(frozen.trade.status, TradeStatus::Disputed);
    assert_eq!(frozen.dispute, Some(("not paid".into(), String::new())));
    assert_eq!(holding(&world, alice.id, TTC).await, (5_000, 0));
    assert_eq!(holding(&world, bob.id, MVP).await, (600, 0));
    assert_eq!(escrow_holds(&world, TTC.ledger).await, (5_000, 0));
    let released = platform
        .resolve_dispute(quarrel.id, true, "operator:test", "")
        .await
        .unwrap();
    assert_eq!(released.trade.status, TradeStatus::Released);
    assert_eq!(holding(&world, bob.id, TTC).await, (5_000, 0));
    assert_eq!(holding(&world, alice.id, MVP).await, (400, 0));
    assert_eq!(escrow_holds(&world, TTC.ledger).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_offers_are_capped_at_their_maximum() {
    let mut world = World::with_funding().await;
    let alice = world.member().await;
    let units = OPEN_OFFERS_PER_MEMBER_MAX + 1;
    ttc(&world, &alice, units).await;
    let platform = world.platform().clone();
    let mut offered = Vec::new();
    for _ in 0..OPEN_OFFERS_PER_MEMBER_MAX {
        let trade = platform.offer_trade(offer(alice.id, 1, 10)).await.unwrap();
        offered.push(trade.value.id);
    }
    let refused = platform.offer_trade(offer(alice.id, 1, 10)).await;
    assert_eq!(
        refused.unwrap_err(),
        PlatformError::Escrow(EscrowError::TooManyOffers(OPEN_OFFERS_PER_MEMBER_MAX))
    );
    assert_eq!(
        holding(&world, alice.id, TTC).await,
        (1, OPEN_OFFERS_PER_MEMBER_MAX)
    );
    platform
        .trade_step(alice.id, offered[0], Step::Cancel)
        .await
        .unwrap();
    platform.offer_trade(offer(alice.id, 1, 10)).await.unwrap();
    let page = platform
        .trades_page(alice.id, true, Some(TradeStatus::Open), None, 1_000)
        .await
        .unwrap();
    assert_eq!(
        page.len(),
        usize::try_from(OPEN_OFFERS_PER_MEMBER_MAX).unwrap()
    );
}
