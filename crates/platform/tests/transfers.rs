//! P2P transfers through the platform's API on a real store (SQLite files, or PostgreSQL
//! with `MILEVERSE_TEST_PLATFORM_BACKEND=postgres`): the daily limit at its maximum, a held
//! transfer returned at its deadline (and never claimed after), requests cancelled, names
//! masked; every movement a ledger transfer whose reference is the P2P transfer.

mod support;

use ledger::types::AccountId;
use platform::PlatformConfig;
use platform::PlatformError;
use platform::chart;
use platform::members::HistoryPage;
use platform::transfers::error::TransferError;
use platform::transfers::{
    DAILY_SENT_MVP_MAX, Recipient, SendRequest, TRANSFER_MVP_MAX, mask_name,
};
use store::tables::transfers::{RequestStatus, TransferStatus};
use support::{PIN, World};

fn to_phone(sender_id: u128, phone: &str, amount: u64) -> SendRequest {
    SendRequest {
        sender_id,
        to: Recipient::Phone(phone.to_string()),
        asset: platform::assets::MVP,
        receive_asset: platform::assets::MVP,
        amount,
        memo: String::new(),
        idempotency_key: None,
        pin: Some(PIN.to_string()),
    }
}

async fn available(world: &World, member_id: u128) -> u64 {
    world.platform().balance(member_id).await.unwrap().available
}

#[test]
fn names_are_masked_but_their_ends() {
    let cases = [
        ("", ""),
        ("K", "*"),
        ("Al", "A*"),
        ("김민수", "김*수"),
        ("Kim Alice", "K*******e"),
        ("남궁민", "남*민"),
    ];
    for (name, masked) in cases {
        assert_eq!(mask_name(name), masked, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_limit_holds_at_its_maximum_and_resets_with_the_day() {
    let mut world = World::with_funding().await;
    let alice = world.member().await;
    let bob = world.member().await;
    world.fund(alice.id, DAILY_SENT_MVP_MAX + 10).await;
    let platform = world.platform().clone();
    let mut sent = 0;
    while sent < DAILY_SENT_MVP_MAX {
        let amount = TRANSFER_MVP_MAX.min(DAILY_SENT_MVP_MAX - sent);
        let request = to_phone(alice.id, &bob.phone, amount);
        platform.send_transfer_once(request).await.unwrap();
        sent += amount;
    }
    // At the maximum: one more MVP is refused and nothing moves.
    let refused = platform
        .send_transfer_once(to_phone(alice.id, &bob.phone, 1))
        .await;
    assert_eq!(
        refused,
        Err(PlatformError::Transfer(TransferError::DailyLimit {
            remaining_mvp: 0
        }))
    );
    assert_eq!(available(&world, alice.id).await, 10);
    assert_eq!(available(&world, bob.id).await, DAILY_SENT_MVP_MAX);
    // After a restart the day's total is read from the table: still refused.
    drop(platform);
    world.restart().await;
    let platform = world.platform().clone();
    let refused = platform
        .send_transfer_once(to_phone(alice.id, &bob.phone, 1))
        .await;
    assert_eq!(
        refused,
        Err(PlatformError::Transfer(TransferError::DailyLimit {
            remaining_mvp: 0
        }))
    );
    // Every movement is a transfer line whose reference is its P2P transfer.
    let page = HistoryPage {
        limit: 10,
        code: Some(chart::transfer_code::TRANSFER),
        ..HistoryPage::default()
    };
    let lines = platform.transactions(bob.id, page).await.unwrap();
    assert_eq!(lines.len(), 3);
    for line in lines {
        let record = platform.p2p_transfer(bob.id, line.reference).await.unwrap();
        assert_eq!(
            (record.amount, record.sender_id),
            (line.amount as u64, alice.id)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_transfer_returns_at_its_deadline_and_is_never_claimed_after() {
    let config = PlatformConfig {
        transfer_hold_s: 0,
        ..PlatformConfig::default()
    };
    let mut world = World::with_funding_config(config).await;
    let alice = world.member().await;
    world.fund(alice.id, 1_000).await;
    let platform = world.platform().clone();
    let phone = "+821099990001";
    let held = platform
        .send_transfer_once(to_phone(alice.id, phone, 400))
        .await
        .unwrap()
        .value;
    assert_eq!(held.status, TransferStatus::Held);
    assert_eq!(available(&world, alice.id).await, 600);
    let holds = world
        .platform()
        .ledger
        .lookup_accounts(vec![chart::P2P_HOLDS_ACCOUNT])
        .await
        .unwrap();
    assert_eq!(holds[0].credits_posted - holds[0].debits_posted, 400);
    // Past the deadline (zero here) the sweep returns it, once.
    assert_eq!(platform.return_expired_transfers().await.unwrap(), 1);
    assert_eq!(platform.return_expired_transfers().await.unwrap(), 0);
    assert_eq!(available(&world, alice.id).await, 1_000);
    let returned = platform.p2p_transfer(alice.id, held.id).await.unwrap();
    assert_eq!(returned.status, TransferStatus::Returned);
    // The phone's member joins later: nothing is left to claim, and a restart changes
    // nothing.
    drop(platform);
    world.restart().await;
    let platform = world.platform().clone();
    assert_eq!(platform.return_expired_transfers().await.unwrap(), 0);
    assert_eq!(available(&world, alice.id).await, 1_000);
    let holds = platform
        .ledger
        .lookup_accounts(vec![AccountId(chart::P2P_HOLDS_ACCOUNT.0)])
        .await
        .unwrap();
    assert_eq!(holds[0].credits_posted, holds[0].debits_posted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_request_cannot_be_paid_and_requests_are_capped_per_day() {
    let mut world = World::with_funding().await;
    let alice = world.member().await;
    let bob = world.member().await;
    world.fund(bob.id, 1_000).await;
    let platform = world.platform().clone();
    let asked = platform
        .request_money(alice.id, 250, "movie")
        .await
        .unwrap();
    assert_eq!(
        (asked.status, asked.memo.as_str()),
        (RequestStatus::Open, "movie")
    );
    let cancelled = platform
        .cancel_money_request(alice.id, asked.id)
        .await
        .unwrap();
    assert_eq!(cancelled.status, RequestStatus::Cancelled);
    // Someone else's request is not found for cancelling.
    let other = platform.cancel_money_request(bob.id, asked.id).await;
    assert!(
        matches!(other, Err(PlatformError::NotFound(_))),
        "{other:?}"
    );
    let pay = SendRequest {
        to: Recipient::Request(asked.id),
        ..to_phone(bob.id, "", 250)
    };
    let refused = platform.send_transfer_once(pay).await;
    assert_eq!(
        refused,
        Err(PlatformError::Transfer(TransferError::RequestClosed(
            "cancelled"
        )))
    );
    assert_eq!(available(&world, bob.id).await, 1_000);
    for _ in 1..platform::transfers::REQUESTS_PER_DAY_MAX {
        platform.request_money(alice.id, 1, "").await.unwrap();
    }
    let capped = platform.request_money(alice.id, 1, "").await;
    assert_eq!(
        capped,
        Err(PlatformError::Transfer(TransferError::TooManyRequests(
            platform::transfers::REQUESTS_PER_DAY_MAX
        )))
    );
}
