//! Paying at the till through the public platform API, on a real ledger and record store
//! (SQLite files): sales, holds, captures, partial refunds, voids, partial approvals, every
//! decline moving nothing, idempotency on `van_tx_id` (also 32 times at once), two tills
//! racing for one balance, network cancels (before and after the original), and a restart.
//!
//! Pay codes come from the pay code module (enrolled devices; the app's offline codes).

mod support;

use platform::error::Entity;
use platform::payments::PaymentError;
use store::memory::FaultPoint;
use support::World;

use platform::PlatformError;
use platform::chart;
use platform::merchants::{MerchantChange, NewMerchant};
use platform::paycode::ROUTING_PREFIX;
use platform::totp::{self, STEP_S, totp};
use platform::van::{
    AUTHORIZATION_AMOUNT_MAX, AuthorizationRecord, AuthorizationRequest, AuthorizationStatus,
    DeclineReason,
};
use ports::time::now_s;

/// A member enrolled for pay codes: the app's handle and secret.
struct Payer {
    member_id: u128,
    devices: Vec<(String, Vec<u8>)>,
    /// The member's device ids, in the order of `devices`.
    device_ids: Vec<u128>,
}

impl Payer {
    /// The code device `device` shows `offset_steps` steps from now.
    fn code(&self, device: usize, offset_steps: i64) -> String {
        let (handle, secret) = &self.devices[device];
        let at = now_s().saturating_add_signed(offset_steps * STEP_S as i64);
        format!(
            "{ROUTING_PREFIX}{handle}{}",
            totp::format_code(totp(secret, at))
        )
    }
}

/// Payers and tills on the shared world (SQLite files, no partner).
impl World {
    /// A member with `devices` devices enrolled for pay codes and `balance` MVP.
    async fn payer(&mut self, balance: u64, devices: usize) -> Payer {
        let member = self.member().await;
        let mut enrolled = Vec::new();
        let mut device_ids = Vec::new();
        for _ in 0..devices {
            let device = self.enrolled_device(member.id).await;
            device_ids.push(device.device_id);
            enrolled.push((device.handle, device.secret));
        }
        if balance > 0 {
            self.fund(member.id, balance).await;
        }
        Payer {
            member_id: member.id,
            devices: enrolled,
            device_ids,
        }
    }

    /// A merchant with `terminals` terminals: (merchant, terminal ids).
    async fn merchant(&self, terminals: usize) -> (u128, Vec<u128>) {
        let platform = self.platform();
        let merchant_id = platform
            .create_merchant(NewMerchant {
                name: "Gangnam store".into(),
                brand: "Coffee Bean".into(),
                fee_bps: 250,
            })
            .await
            .unwrap();
        let mut ids = Vec::new();
        for _ in 0..terminals {
            ids.push(
                platform
                    .create_terminal(merchant_id)
                    .await
                    .unwrap()
                    .terminal_id,
            );
        }
        (merchant_id, ids)
    }

    async fn available(&self, member_id: u128) -> (u64, u64) {
        let balance = self.platform().balance(member_id).await.unwrap();
        (balance.available, balance.pending)
    }

    async fn payable(&self, merchant_id: u128) -> u64 {
        self.platform().merchant_payable(merchant_id).await.unwrap()
    }

    async fn authorize(
        &self,
        terminal_id: u128,
        code: &str,
        amount: u64,
        van_tx_id: &str,
        capture: bool,
    ) -> Result<AuthorizationRecord, PlatformError> {
        self.platform()
            .authorize(terminal_id, request(code, amount, van_tx_id, capture))
            .await
    }
}

fn request(code: &str, amount: u64, van_tx_id: &str, capture: bool) -> AuthorizationRequest {
    AuthorizationRequest {
        pay_code: code.to_string(),
        amount,
        van_tx_id: van_tx_id.to_string(),
        capture,
        allow_partial: false,
    }
}

fn assert_declined(record: &AuthorizationRecord, reason: DeclineReason) {
    assert_eq!(record.status, AuthorizationStatus::Declined, "{record:?}");
    assert_eq!(record.decline_reason, Some(reason), "{record:?}");
    assert_eq!(record.approval_no(), None);
    assert_eq!(record.approved_amount, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_moves_value_once_and_a_retry_gets_the_same_answer() {
    let mut world = World::with_funding().await;
    let payer = world.payer(10_000, 1).await;
    let (merchant, terminals) = world.merchant(1).await;
    let code = payer.code(0, 0);
    let sale = world
        .authorize(terminals[0], &code, 3_000, "sale-1", true)
        .await
        .unwrap();
    assert_eq!(sale.status, AuthorizationStatus::Captured);
    assert_eq!((sale.approved_amount, sale.captured_amount), (3_000, 3_000));
    assert_eq!(sale.approval_no().unwrap().len(), 8);
    assert_eq!(world.available(payer.member_id).await, (7_000, 0));
    assert_eq!(world.payable(merchant).await, 3_000);
    let again = world
        .authorize(terminals[0], &code, 3_000, "sale-1", true)
        .await
        .unwrap();
    assert_eq!(again, sale);
    assert_eq!(world.available(payer.member_id).await, (7_000, 0));
    let other = world
        .authorize(terminals[0], &code, 3_001, "sale-1", true)
        .await;
    assert_eq!(
        other,
        Err(PlatformError::Payment(PaymentError::VanTxConflict))
    );
    // The ledger keeps the movement's reason and reference.
    let lines = world
        .platform()
        .transactions(
            payer.member_id,
            platform::members::HistoryPage {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(lines[0].reason, "payment");
    assert_eq!((lines[0].amount, lines[0].incoming), (3_000, false));
    assert_eq!(lines[0].reference, sale.id);
    // A restart knows the answer too.
    world.restart().await;
    let status = world
        .platform()
        .van_transaction(terminals[0], "sale-1")
        .await
        .unwrap();
    assert_eq!(status, sale);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_is_captured_in_part_then_refunded_in_parts() {
    let mut world = World::with_funding().await;
    let payer = world.payer(10_000, 1).await;
    let (merchant, terminals) = world.merchant(1).await;
    let terminal = terminals[0];
    let hold = world
        .authorize(terminal, &payer.code(0, 0), 5_000, "hold-1", false)
        .await
        .unwrap();
    assert_eq!(hold.status, AuthorizationStatus::Authorized);
    assert_eq!(world.available(payer.member_id).await, (5_000, 5_000));
    assert_eq!(world.payable(merchant).await, 0);
    let platform = world.platform().clone();
    let too_much = platform.capture(terminal, hold.id, 5_001).await;
    assert!(matches!(too_much, Err(PlatformError::Invalid { .. })));
    let captured = platform.capture(terminal, hold.id, 4_000).await.unwrap();
    assert_eq!(captured.status, AuthorizationStatus::Captured);
    assert_eq!(captured.captured_amount, 4_000);
    assert_eq!(world.available(payer.member_id).await, (6_000, 0));
    assert_eq!(world.payable(merchant).await, 4_000);
    // The same capture again is the same capture.
    assert_eq!(
        platform.capture(terminal, hold.id, 4_000).await,
        Ok(captured)
    );
    let refund = platform
        .cancel(terminal, hold.id, Some(1_500), "refund-1")
        .await
        .unwrap();
    assert_eq!(refund.refunded_amount, 1_500);
    assert_eq!(world.available(payer.member_id).await, (7_500, 0));
    assert_eq!(world.payable(merchant).await, 2_500);
    let again = platform
        .cancel(terminal, hold.id, Some(1_500), "refund-1")
        .await
        .unwrap();
    assert_eq!(again.refunded_amount, 1_500);
    let conflict = platform
        .cancel(terminal, hold.id, Some(1_000), "refund-1")
        .await;
    assert_eq!(
        conflict,
        Err(PlatformError::Payment(PaymentError::VanTxConflict))
    );
    let over = platform
        .cancel(terminal, hold.id, Some(2_501), "refund-2")
        .await;
    assert!(matches!(over, Err(PlatformError::Invalid { .. })));
    let rest = platform
        .cancel(terminal, hold.id, None, "refund-3")
        .await
        .unwrap();
    assert_eq!(rest.refunded_amount, 4_000);
    assert_eq!(world.available(payer.member_id).await, (10_000, 0));
    assert_eq!(world.payable(merchant).await, 0);
    let nothing_left = platform.cancel(terminal, hold.id, None, "refund-4").await;
    assert!(matches!(
        nothing_left,
        Err(PlatformError::Payment(PaymentError::AuthorizationState(_)))
    ));
    drop(platform);
    world.restart().await;
    let status = world
        .platform()
        .van_transaction(terminal, "refund-3")
        .await
        .unwrap();
    assert_eq!(status.refunded_amount, 4_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_before_capture_voids_the_hold() {
    let mut world = World::with_funding().await;
    let payer = world.payer(10_000, 1).await;
    let (_, terminals) = world.merchant(1).await;
    let hold = world
        .authorize(terminals[0], &payer.code(0, 0), 2_000, "hold-v", false)
        .await
        .unwrap();
    let platform = world.platform().clone();
    let partial = platform
        .cancel(terminals[0], hold.id, Some(1), "void-1")
        .await;
    assert!(matches!(partial, Err(PlatformError::Invalid { .. })));
    let voided = platform
        .cancel(terminals[0], hold.id, None, "void-1")
        .await
        .unwrap();
    assert_eq!(voided.status, AuthorizationStatus::Voided);
    assert_eq!(world.available(payer.member_id).await, (10_000, 0));
    let capture = platform.capture(terminals[0], hold.id, 2_000).await;
    assert!(matches!(
        capture,
        Err(PlatformError::Payment(PaymentError::AuthorizationState(_)))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decline_moves_nothing_and_is_answered_again() {
    let mut world = World::with_funding().await;
    let payer = world.payer(AUTHORIZATION_AMOUNT_MAX, 3).await;
    let (merchant, terminals) = world.merchant(1).await;
    let terminal = terminals[0];
    let platform = world.platform().clone();
    let cases: Vec<(String, u64, DeclineReason)> = vec![
        (
            payer.code(0, 0),
            AUTHORIZATION_AMOUNT_MAX + 1,
            DeclineReason::LimitExceeded,
        ),
        (
            "91000000000012345678".into(),
            1_000,
            DeclineReason::InvalidCode,
        ),
        ("not a code".into(), 1_000, DeclineReason::InvalidCode),
        (payer.code(1, -5), 1_000, DeclineReason::ExpiredCode),
    ];
    for (index, (code, amount, reason)) in cases.iter().enumerate() {
        let van_tx_id = format!("decline-{index}");
        let record = world
            .authorize(terminal, code, *amount, &van_tx_id, true)
            .await
            .unwrap();
        assert_declined(&record, *reason);
        let again = world
            .authorize(terminal, code, *amount, &van_tx_id, true)
            .await
            .unwrap();
        assert_eq!(again, record);
    }
    // Insufficient balance: the code is used up by the declined attempt.
    let code = payer.code(2, 0);
    let short = world
        .authorize(terminal, &code, AUTHORIZATION_AMOUNT_MAX, "short-1", true)
        .await
        .unwrap();
    assert_eq!(
        short.status,
        AuthorizationStatus::Captured,
        "the maximum itself is allowed"
    );
    let broke = world
        .authorize(terminal, &payer.code(0, 0), 1, "short-2", true)
        .await
        .unwrap();
    assert_declined(&broke, DeclineReason::InsufficientBalance);
    let used = world
        .authorize(terminal, &code, 1, "used-1", true)
        .await
        .unwrap();
    assert_declined(&used, DeclineReason::UsedCode);
    // A disabled merchant declines (and the code is not used up).
    world.fund(payer.member_id, 5_000).await;
    let change = MerchantChange {
        enabled: Some(false),
        ..MerchantChange::default()
    };
    platform.change_merchant(merchant, change).await.unwrap();
    let code = payer.code(1, 0);
    let disabled = world
        .authorize(terminal, &code, 100, "off-1", true)
        .await
        .unwrap();
    assert_declined(&disabled, DeclineReason::MerchantDisabled);
    let change = MerchantChange {
        enabled: Some(true),
        ..MerchantChange::default()
    };
    platform.change_merchant(merchant, change).await.unwrap();
    // A locked member declines.
    platform.lock_member(payer.member_id).await.expect("lock");
    let locked = world
        .authorize(terminal, &code, 100, "locked-1", true)
        .await
        .unwrap();
    assert_declined(&locked, DeclineReason::MemberLocked);
    assert_eq!(world.available(payer.member_id).await, (5_000, 0));
    assert_eq!(world.payable(merchant).await, AUTHORIZATION_AMOUNT_MAX);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_approval_takes_what_the_wallet_holds() {
    let mut world = World::with_funding().await;
    let payer = world.payer(3_000, 1).await;
    let (merchant, terminals) = world.merchant(1).await;
    let mut partial = request(&payer.code(0, 0), 5_000, "partial-1", true);
    partial.allow_partial = true;
    let record = world
        .platform()
        .authorize(terminals[0], partial)
        .await
        .unwrap();
    assert_eq!(record.status, AuthorizationStatus::Captured);
    assert_eq!(record.approved_amount, 3_000);
    assert_eq!(record.paid_other(), 2_000);
    assert_eq!(world.available(payer.member_id).await, (0, 0));
    assert_eq!(world.payable(merchant).await, 3_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_van_tx_id_32_times_at_once_charges_once() {
    let mut world = World::with_funding().await;
    let payer = world.payer(10_000, 1).await;
    let (merchant, terminals) = world.merchant(1).await;
    let code = payer.code(0, 0);
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let platform = world.platform().clone();
        let request = request(&code, 1_000, "burst-1", true);
        let terminal = terminals[0];
        tasks.push(tokio::spawn(async move {
            platform.authorize(terminal, request).await
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap().unwrap());
    }
    assert!(answers.iter().all(|answer| *answer == answers[0]));
    assert_eq!(answers[0].status, AuthorizationStatus::Captured);
    assert_eq!(world.available(payer.member_id).await, (9_000, 0));
    assert_eq!(world.payable(merchant).await, 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tills_racing_for_one_balance_never_overdraw_it() {
    let mut world = World::with_funding().await;
    let payer = world.payer(10_000, 2).await;
    let (merchant, terminals) = world.merchant(2).await;
    let codes = [payer.code(0, 0), payer.code(1, 0)];
    let mut tasks = Vec::new();
    for (index, code) in codes.iter().enumerate() {
        let platform = world.platform().clone();
        let request = request(code, 6_000, &format!("race-{index}"), index == 0);
        let terminal = terminals[index];
        tasks.push(tokio::spawn(async move {
            platform.authorize(terminal, request).await
        }));
    }
    let mut approved = 0;
    for task in tasks {
        let record = task.await.unwrap().unwrap();
        if record.approved() {
            approved += 1;
        } else {
            assert_declined(&record, DeclineReason::InsufficientBalance);
        }
    }
    assert_eq!(approved, 1);
    let (available, pending) = world.available(payer.member_id).await;
    assert_eq!(available, 4_000);
    assert_eq!(world.payable(merchant).await + pending, 6_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_cancel_undoes_a_sale_and_tombstones_a_lost_request() {
    let mut world = World::with_funding().await;
    let payer = world.payer(10_000, 2).await;
    let (merchant, terminals) = world.merchant(1).await;
    let terminal = terminals[0];
    // The answer was lost: the till cancels what it sent.
    world
        .authorize(terminal, &payer.code(0, 0), 4_000, "lost-answer", true)
        .await
        .unwrap();
    let platform = world.platform().clone();
    let undone = platform
        .network_cancel(terminal, "lost-answer")
        .await
        .unwrap();
    assert!(undone.network_cancelled);
    assert_eq!(undone.refunded_amount, 4_000);
    assert_eq!(world.available(payer.member_id).await, (10_000, 0));
    assert_eq!(world.payable(merchant).await, 0);
    let twice = platform
        .network_cancel(terminal, "lost-answer")
        .await
        .unwrap();
    assert_eq!(twice.refunded_amount, 4_000);
    assert_eq!(world.available(payer.member_id).await, (10_000, 0));
    // The request was lost: the cancel comes first, the late original is declined.
    let tombstone = platform
        .network_cancel(terminal, "lost-request")
        .await
        .unwrap();
    assert_declined(&tombstone, DeclineReason::Cancelled);
    let late = world
        .authorize(terminal, &payer.code(1, 0), 4_000, "lost-request", true)
        .await
        .unwrap();
    assert_declined(&late, DeclineReason::Cancelled);
    assert_eq!(world.available(payer.member_id).await, (10_000, 0));
    // A hold is voided.
    let hold = world
        .authorize(terminal, &payer.code(0, 1), 1_000, "lost-hold", false)
        .await
        .unwrap();
    assert_eq!(hold.status, AuthorizationStatus::Authorized);
    let voided = platform
        .network_cancel(terminal, "lost-hold")
        .await
        .unwrap();
    assert_eq!(voided.status, AuthorizationStatus::Voided);
    assert_eq!(world.available(payer.member_id).await, (10_000, 0));
    drop(platform);
    world.restart().await;
    let status = world
        .platform()
        .van_transaction(terminal, "lost-request")
        .await
        .unwrap();
    assert_declined(&status, DeclineReason::Cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_merchants_terminal_sees_nothing() {
    let mut world = World::with_funding().await;
    let payer = world.payer(10_000, 1).await;
    let (_, ours) = world.merchant(1).await;
    let (_, theirs) = world.merchant(1).await;
    let sale = world
        .authorize(ours[0], &payer.code(0, 0), 1_000, "mine", true)
        .await
        .unwrap();
    let platform = world.platform().clone();
    let status = platform.van_transaction(theirs[0], "mine").await;
    assert_eq!(status, Err(PlatformError::NotFound(Entity::Transaction)));
    let refund = platform.cancel(theirs[0], sale.id, None, "steal").await;
    assert_eq!(refund, Err(PlatformError::NotFound(Entity::Authorization)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settlement_nets_refunds_takes_the_fee_and_is_idempotent_per_cut_off() {
    use platform::settlement::SettlementStatus;
    let mut world = World::with_funding().await;
    let payer = world.payer(50_000, 2).await;
    let (merchant, terminals) = world.merchant(1).await;
    let terminal = terminals[0];
    let platform = world.platform().clone();
    let sale = world
        .authorize(terminal, &payer.code(0, 0), 10_000, "s-1", true)
        .await
        .unwrap();
    platform
        .cancel(terminal, sale.id, Some(1_000), "s-1-refund")
        .await
        .unwrap();
    let until = now_s();
    let run = platform.settle(until).await.unwrap();
    assert_eq!(run.status, SettlementStatus::Settled);
    assert_eq!(run.lines.len(), 1);
    let line = &run.lines[0];
    assert_eq!(line.merchant_id, merchant);
    assert_eq!(
        (line.captured, line.refunded, line.gross),
        (10_000, 1_000, 9_000)
    );
    assert_eq!((line.fee, line.net), (225, 8_775));
    assert_eq!(world.payable(merchant).await, 0);
    let accounts = world
        .ledger
        .lookup_accounts(vec![
            chart::SETTLEMENT_CLEARING_ACCOUNT,
            chart::PLATFORM_FEES_ACCOUNT,
        ])
        .await
        .unwrap();
    assert_eq!(accounts[0].credits_posted, 8_775);
    assert_eq!(accounts[1].credits_posted, 225);
    // The same cut-off is the same run; nothing moves twice.
    assert_eq!(platform.settle(until).await.unwrap(), run);
    let paid = platform.settlement_paid(run.id).await.unwrap();
    assert_eq!(paid.status, SettlementStatus::Paid);
    // A refund after settlement finds an empty payable.
    let late = platform
        .cancel(terminal, sale.id, Some(500), "s-1-late")
        .await;
    assert_eq!(
        late,
        Err(PlatformError::Payment(
            PaymentError::MerchantPayableInsufficient
        ))
    );
    assert_eq!(world.available(payer.member_id).await, (41_000, 0));
    drop(platform);
    world.restart().await;
    let runs = world.platform().settlements().await.unwrap();
    assert_eq!(runs, vec![paid]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_limit_allows_its_maximum_and_declines_past_it() {
    use platform::van::MEMBER_DAILY_PAYMENT_LIMIT;
    let mut world = World::with_funding().await;
    let payer = world.payer(MEMBER_DAILY_PAYMENT_LIMIT + 1_000, 3).await;
    let (_, terminals) = world.merchant(1).await;
    let sales = MEMBER_DAILY_PAYMENT_LIMIT / AUTHORIZATION_AMOUNT_MAX;
    let codes: Vec<String> = (0..3)
        .flat_map(|device| [0, 1].map(|offset| payer.code(device, offset)))
        .collect();
    for (index, code) in codes.iter().take(sales as usize).enumerate() {
        let record = world
            .authorize(
                terminals[0],
                code,
                AUTHORIZATION_AMOUNT_MAX,
                &format!("day-{index}"),
                true,
            )
            .await
            .unwrap();
        assert_eq!(record.status, AuthorizationStatus::Captured, "sale {index}");
    }
    let past = world
        .authorize(terminals[0], &codes[sales as usize], 1, "day-past", true)
        .await
        .unwrap();
    assert_declined(&past, DeclineReason::LimitExceeded);
    assert_eq!(world.available(payer.member_id).await, (1_000, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_takes_exactly_the_most_refunds_and_the_next_moves_nothing() {
    use platform::van::CANCELS_PER_AUTHORIZATION_MAX;
    let mut world = World::with_funding().await;
    let payer = world.payer(10_000, 1).await;
    let (merchant, terminals) = world.merchant(1).await;
    let terminal = terminals[0];
    let sale = world
        .authorize(terminal, &payer.code(0, 0), 1_000, "many-refunds", true)
        .await
        .unwrap();
    assert_eq!(sale.status, AuthorizationStatus::Captured);
    let platform = world.platform().clone();
    for index in 0..CANCELS_PER_AUTHORIZATION_MAX {
        let refund = platform
            .cancel(terminal, sale.id, Some(1), &format!("refund-{index}"))
            .await
            .unwrap();
        assert_eq!(refund.refunded_amount, index as u64 + 1);
    }
    let refunds = CANCELS_PER_AUTHORIZATION_MAX as u64;
    let expected_member = (10_000 - 1_000 + refunds, 0);
    assert_eq!(world.available(payer.member_id).await, expected_member);
    assert_eq!(world.payable(merchant).await, 1_000 - refunds);
    let past = platform
        .cancel(terminal, sale.id, Some(1), "refund-past")
        .await;
    assert!(
        matches!(&past, Err(PlatformError::Payment(PaymentError::AuthorizationState(detail))) if detail.contains("at most 100 cancels")),
        "{past:?}"
    );
    let record = platform
        .van_transaction(terminal, "many-refunds")
        .await
        .unwrap();
    assert_eq!(record.cancels.len(), CANCELS_PER_AUTHORIZATION_MAX);
    assert_eq!(record.refunded_amount, refunds);
    assert_eq!(world.available(payer.member_id).await, expected_member);
    assert_eq!(world.payable(merchant).await, 1_000 - refunds);
    assert_eq!(
        platform.van_transaction(terminal, "refund-past").await,
        Err(PlatformError::NotFound(Entity::Transaction)),
        "the refused cancel left no trace"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merchant_gets_exactly_the_most_terminals() {
    use platform::merchants::TERMINALS_PER_MERCHANT_MAX;
    let world = World::with_funding().await;
    let (merchant, _) = world.merchant(0).await;
    // Concurrently, so that group commit keeps the 1,000 durable writes quick; the limit
    // is checked under the state lock, so the race cannot pass it either.
    let mut tasks = Vec::new();
    for _ in 0..TERMINALS_PER_MERCHANT_MAX {
        let platform = world.platform().clone();
        tasks.push(tokio::spawn(async move {
            platform.create_terminal(merchant).await
        }));
    }
    for task in tasks {
        task.await.unwrap().expect("a terminal within the maximum");
    }
    let platform = world.platform();
    let past = platform.create_terminal(merchant).await;
    match past {
        Err(PlatformError::Invalid { field, detail }) => {
            assert_eq!(field, "terminals");
            assert_eq!(detail, "at most 1000 terminals per merchant");
        }
        other => panic!("the 1,001st terminal was not refused: {other:?}"),
    }
    let terminals = platform.terminals(merchant).await.unwrap();
    assert_eq!(terminals.len(), TERMINALS_PER_MERCHANT_MAX);
    // The maximum is per merchant: another one still gets its first terminal.
    let (_, others) = world.merchant(1).await;
    assert_eq!(others.len(), 1);
}

/// A crash after the authorization's one commit is on disk, before its answer: the ledger
/// store takes the payment with its rows and then fails (the acknowledgement is lost).
/// After the restart the sale is there as it was committed, and the retry gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_cut_short_after_its_transfer_is_captured_at_the_next_open() {
    let mut world = World::with_funding().await;
    let payer = world.payer(10_000, 1).await;
    let (merchant, terminals) = world.merchant(1).await;
    world.fail_ledger_appends(FaultPoint::AfterWrite);
    let cut = world
        .authorize(terminals[0], &payer.code(0, 0), 3_000, "cut-after", true)
        .await;
    assert!(matches!(cut, Err(PlatformError::Unavailable(_))), "{cut:?}");
    assert!(world.platform().failure().is_some(), "the ledger stopped");
    world.crash_and_reopen().await;
    let platform = world.platform().clone();
    let sale = platform
        .van_transaction(terminals[0], "cut-after")
        .await
        .unwrap();
    assert_eq!(sale.status, AuthorizationStatus::Captured, "{sale:?}");
    assert_eq!((sale.approved_amount, sale.captured_amount), (3_000, 3_000));
    assert!(sale.approval_no().is_some());
    assert_eq!(world.available(payer.member_id).await, (7_000, 0));
    assert_eq!(world.payable(merchant).await, 3_000);
    // The till's retry gets the resolved answer; nothing moves again.
    let retry = world
        .authorize(terminals[0], &payer.code(0, 0), 3_000, "cut-after", true)
        .await
        .unwrap();
    assert_eq!(retry, sale);
    assert_eq!(world.available(payer.member_id).await, (7_000, 0));
}

/// A crash before the authorization's one commit (its rows, the pay code's use and its
/// payment) reaches the disk: nothing of it is there after the restart: no authorization,
/// the wallet whole, the pay code unused. The till's retry (same code, same `van_tx_id`)
/// is then a first request: approved once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_cut_short_before_its_commit_leaves_nothing_and_the_retry_pays_once() {
    let mut world = World::with_funding().await;
    let payer = world.payer(10_000, 1).await;
    let (merchant, terminals) = world.merchant(1).await;
    let code = payer.code(0, 0);
    world.fail_ledger_appends(FaultPoint::BeforeWrite);
    let cut = world
        .authorize(terminals[0], &code, 3_000, "cut-before", true)
        .await;
    assert!(matches!(cut, Err(PlatformError::Unavailable(_))), "{cut:?}");
    world.crash_and_reopen().await;
    let platform = world.platform().clone();
    let missing = platform.van_transaction(terminals[0], "cut-before").await;
    assert!(
        matches!(missing, Err(PlatformError::NotFound(_))),
        "{missing:?}"
    );
    assert_eq!(world.available(payer.member_id).await, (10_000, 0));
    assert_eq!(world.payable(merchant).await, 0);
    let retry = world
        .authorize(terminals[0], &code, 3_000, "cut-before", true)
        .await
        .unwrap();
    assert_eq!(retry.status, AuthorizationStatus::Captured, "{retry:?}");
    assert_eq!(world.available(payer.member_id).await, (7_000, 0));
    assert_eq!(world.payable(merchant).await, 3_000);
    let again = world
        .authorize(terminals[0], &code, 3_000, "cut-before", true)
        .await
        .unwrap();
    assert_eq!(again, retry, "a second retry gets the same answer");
    let reuse = world
        .authorize(terminals[0], &code, 3_000, "cut-before-again", true)
        .await
        .unwrap();
    assert_declined(&reuse, DeclineReason::UsedCode);
    assert_eq!(world.available(payer.member_id).await, (7_000, 0));
}

/// A database of the older layout: the records in a file of their own, with an
/// authorization a crash left pending after its payment. The first open moves every record
/// into the ledger's database, and the authorization into its tables as the ledger says it
/// ended; a second open moves nothing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_the_older_layout_move_into_the_ledger_at_the_first_open() {
    let mut world = World::with_funding().await;
    let payer = world.payer(10_000, 1).await;
    let (merchant, terminals) = world.merchant(1).await;
    // The payment of the old authorization, as its first half made it before the crash.
    let id = platform::van::new_authorization_id();
    let payment = ledger::types::Transfer {
        id: ledger::types::TransferId(id),
        debit_account_id: ledger::types::AccountId(payer.member_id),
        credit_account_id: ledger::types::AccountId(merchant),
        amount: 2_500,
        user_data_128: id,
        ledger: chart::LEDGER_MVP,
        code: chart::transfer_code::PAYMENT,
        ..ledger::types::Transfer::default()
    };
    let results = world.ledger.create_transfers(vec![payment]).await.unwrap();
    assert!(results[0].is_ok());
    let pending = AuthorizationRecord {
        id,
        merchant_id: merchant,
        terminal_id: terminals[0],
        member_id: payer.member_id,
        van_tx_id: "old-1".into(),
        request_digest: Some("00".into()),
        amount: 2_500,
        capture: true,
        allow_partial: false,
        status: AuthorizationStatus::Pending,
        decline_reason: None,
        approved_amount: 0,
        captured_amount: 0,
        refunded_amount: 0,
        network_cancelled: false,
        cancels: Vec::new(),
        created_at_s: now_s(),
        captured_at_s: None,
        settlement_id: None,
        voucher: None,
    };
    // The older layout: every record in records.db, none in the ledger's database.
    let mut records = world.stored_records().await;
    records.push(store::records::Record {
        kind: platform::van::KIND_AUTHORIZATION.into(),
        key: id.to_be_bytes().to_vec(),
        value: serde_json::to_vec(&pending).unwrap(),
    });
    let directory = tempfile::tempdir().unwrap();
    let mut legacy =
        store::records::SqliteRecords::open(&directory.path().join("records.db")).unwrap();
    let puts: Vec<_> = records
        .iter()
        .cloned()
        .map(store::records::RecordWrite::Put)
        .collect();
    store::records::RecordStore::apply(&mut legacy, &puts).unwrap();
    let deletes = records
        .iter()
        .map(|r| store::records::RecordWrite::Delete {
            kind: r.kind.clone(),
            key: r.key.clone(),
        })
        .collect();
    world.write_records(deletes).await;
    assert!(world.stored_records().await.is_empty());

    world.restart_with_legacy(Box::new(legacy)).await;
    let imported = world
        .platform()
        .van_transaction(terminals[0], "old-1")
        .await
        .unwrap();
    assert_eq!(
        imported.status,
        AuthorizationStatus::Captured,
        "{imported:?}"
    );
    assert_eq!(
        (imported.approved_amount, imported.captured_amount),
        (2_500, 2_500)
    );
    let stored = world.stored_records().await;
    assert_eq!(
        stored.len(),
        records.len() - 1,
        "every record but the authorization"
    );
    assert!(
        stored
            .iter()
            .all(|r| r.kind != platform::van::KIND_AUTHORIZATION)
    );
    // The member and the merchant came along: the member still pays at the till.
    let sale = world
        .authorize(terminals[0], &payer.code(0, 0), 1_000, "new-1", true)
        .await
        .unwrap();
    assert_eq!(sale.status, AuthorizationStatus::Captured);
    assert_eq!(world.available(payer.member_id).await, (6_500, 0));
    // A second open with the old file imports nothing (the ledger holds records now).
    let before = world.stored_records().await;
    let legacy = store::records::SqliteRecords::open(&directory.path().join("records.db")).unwrap();
    world.restart_with_legacy(Box::new(legacy)).await;
    assert_eq!(world.stored_records().await, before);
}

/// The till reads a member's gate (may pay, devices) from a cache; every change of the
/// member reaches the till at once: a lock declines the next payment, an unlock lets it
/// through, a removed device's codes stop working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_of_the_member_reaches_the_till_at_once() {
    let mut world = World::with_funding().await;
    // Two devices: a device's code pays once per 30-second step, and the window is short.
    let payer = world.payer(10_000, 2).await;
    let (_, terminals) = world.merchant(1).await;
    let platform = world.platform().clone();
    let till = terminals[0];
    let first = world
        .authorize(till, &payer.code(0, 0), 100, "gate-1", true)
        .await;
    assert_eq!(first.unwrap().status, AuthorizationStatus::Captured);
    platform.lock_member(payer.member_id).await.expect("lock");
    let locked = world
        .authorize(till, &payer.code(0, 1), 100, "gate-2", true)
        .await;
    assert_declined(&locked.unwrap(), DeclineReason::MemberLocked);
    platform.unlock_member(payer.member_id).await.unwrap();
    let unlocked = world
        .authorize(till, &payer.code(1, 0), 100, "gate-3", true)
        .await;
    assert_eq!(unlocked.unwrap().status, AuthorizationStatus::Captured);
    platform
        .remove_device(payer.member_id, payer.device_ids[1])
        .await
        .unwrap();
    let removed = world
        .authorize(till, &payer.code(1, 1), 100, "gate-4", true)
        .await;
    assert_declined(&removed.unwrap(), DeclineReason::InvalidCode);
    assert_eq!(world.available(payer.member_id).await, (9_800, 0));
}

/// The merchant portal's people (issue 14): a brand's user sees every store of the brand
/// and nothing of another brand; a store's user sees that store; wrong passwords are
/// refused alike and then delayed; a session ends at logout and survives a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchant_users_see_their_stores_and_nothing_else() {
    use platform::portal::{NewPortalUser, PortalError, StorePaymentsPage};
    use store::tables::portal_users::PortalScope;

    let mut world = World::with_funding().await;
    let payer = world.payer(10_000, 1).await;
    let platform = world.platform().clone();
    let store = |name: &str, brand: &str| NewMerchant {
        name: name.into(),
        brand: brand.into(),
        fee_bps: 250,
    };
    let gangnam = platform
        .create_merchant(store("Gangnam", "Blue Cup"))
        .await
        .unwrap();
    let seongsu = platform
        .create_merchant(store("Seongsu", "Blue Cup"))
        .await
        .unwrap();
    let other = platform
        .create_merchant(store("Jongno", "Red Cup"))
        .await
        .unwrap();
    let gangnam_till = platform.create_terminal(gangnam).await.unwrap().terminal_id;
    let other_till = platform.create_terminal(other).await.unwrap().terminal_id;
    let sale = world
        .authorize(gangnam_till, &payer.code(0, 0), 1_000, "g-1", true)
        .await
        .unwrap();
    world
        .authorize(other_till, &payer.code(0, 1), 2_000, "o-1", true)
        .await
        .unwrap();

    let user = |login: &str, scope: PortalScope| NewPortalUser {
        login: login.into(),
        display_name: "Staff".into(),
        scope,
        password: "correct horse battery".into(),
    };
    let brand = PortalScope::Brand("Blue Cup".into());
    platform
        .create_portal_user(user("blue", brand.clone()))
        .await
        .unwrap();
    let one_store = PortalScope::Merchant(seongsu);
    platform
        .create_portal_user(user("seongsu", one_store))
        .await
        .unwrap();
    // Refusals: a taken login, a store or a brand that does not exist, a short password.
    let refusals = [
        user("BLUE", brand.clone()),
        user("x", PortalScope::Merchant(12345)),
        user("y", PortalScope::Brand("No Such Brand".into())),
        NewPortalUser {
            password: "short".into(),
            ..user("z", brand.clone())
        },
    ];
    let expected = ["login-taken", "not-found", "invalid", "invalid"];
    for (new, expected) in refusals.into_iter().zip(expected) {
        let error = platform.create_portal_user(new).await.unwrap_err();
        let kind = match error {
            PlatformError::Portal(PortalError::LoginTaken) => "login-taken",
            PlatformError::NotFound(Entity::Merchant) => "not-found",
            PlatformError::Invalid { .. } => "invalid",
            other => panic!("{other:?}"),
        };
        assert_eq!(kind, expected);
    }

    let session = platform
        .log_in_portal_user("Blue", "correct horse battery")
        .await
        .unwrap();
    let blue = platform
        .authenticate_portal_user(&session.token)
        .await
        .unwrap();
    let mut seen: Vec<u128> = blue.merchant_ids().collect();
    seen.sort_unstable();
    let mut expected = vec![gangnam, seongsu];
    expected.sort_unstable();
    assert_eq!(seen, expected);
    let page = |merchant_id| StorePaymentsPage {
        merchant_id,
        from_s: 0,
        to_s: now_s() + 1,
        after: None,
        limit: 100,
    };
    let payments = platform.store_payments(&blue, page(gangnam)).await.unwrap();
    assert_eq!(payments.len(), 1);
    assert_eq!(
        (payments[0].id, payments[0].captured_amount),
        (sale.id, 1_000)
    );
    let unseen = platform
        .store_payments(&blue, page(other))
        .await
        .unwrap_err();
    assert!(
        matches!(unseen, PlatformError::NotFound(Entity::Merchant)),
        "{unseen:?}"
    );

    let store_session = platform
        .log_in_portal_user("seongsu", "correct horse battery")
        .await
        .unwrap();
    let seongsu_user = platform
        .authenticate_portal_user(&store_session.token)
        .await
        .unwrap();
    assert_eq!(
        seongsu_user.merchant_ids().collect::<Vec<_>>(),
        vec![seongsu]
    );
    let unseen = platform
        .store_payments(&seongsu_user, page(gangnam))
        .await
        .unwrap_err();
    assert!(
        matches!(unseen, PlatformError::NotFound(Entity::Merchant)),
        "{unseen:?}"
    );

    // A settlement: each user reads the lines of their own stores only.
    // A cut-off may not be in the future: the next second takes this second's payments.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    platform.settle(now_s()).await.unwrap();
    let runs = platform.store_settlements(&blue).await.unwrap();
    let lines: Vec<(u128, u64)> = runs
        .iter()
        .flat_map(|run| run.lines.iter().map(|line| (line.merchant_id, line.gross)))
        .collect();
    assert_eq!(lines, vec![(gangnam, 1_000)]);
    assert!(
        platform
            .store_settlements(&seongsu_user)
            .await
            .unwrap()
            .is_empty()
    );

    // Wrong passwords and unknown logins are refused alike; then the login waits.
    let unknown = platform
        .log_in_portal_user("nobody", "whatever it is")
        .await;
    assert!(matches!(
        unknown,
        Err(PlatformError::Portal(PortalError::BadCredentials))
    ));
    let mut refused = 0;
    let locked = loop {
        match platform
            .log_in_portal_user("seongsu", "wrong password!")
            .await
        {
            Err(PlatformError::Portal(PortalError::BadCredentials)) => refused += 1,
            Err(PlatformError::Portal(PortalError::LockedOut { retry_after_s })) => {
                break retry_after_s;
            }
            other => panic!("{other:?}"),
        }
        assert!(refused <= 10, "the login never waits");
    };
    assert!(locked > 0);
    let right_but_early = platform
        .log_in_portal_user("seongsu", "correct horse battery")
        .await;
    assert!(matches!(
        right_but_early,
        Err(PlatformError::Portal(PortalError::LockedOut { .. }))
    ));

    // Sessions live in the store: one survives a restart, and logout ends it.
    drop(platform);
    world.restart().await;
    let platform = world.platform().clone();
    platform
        .authenticate_portal_user(&session.token)
        .await
        .unwrap();
    platform.log_out_portal_user(&session.token).await.unwrap();
    let ended = platform.authenticate_portal_user(&session.token).await;
    assert!(matches!(
        ended,
        Err(PlatformError::Portal(PortalError::SessionExpired))
    ));
    let forged = platform.authenticate_portal_user("mvp_00").await;
    assert!(matches!(
        forged,
        Err(PlatformError::Portal(PortalError::SessionExpired))
    ));
}
