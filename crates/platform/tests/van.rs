//! Paying at the till through the public platform API, on a real ledger and record store
//! (SQLite files): sales, holds, captures, partial refunds, voids, partial approvals, every
//! decline moving nothing, idempotency on `van_tx_id` (also 32 times at once), two tills
//! racing for one balance, network cancels (before and after the original), and a restart.
//!
//! Pay codes come from the pay code module (enrolled devices; the app's offline codes).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger::checkpoint::OperatorKey;
use ledger::types::{Account, AccountId, Transfer, TransferId};
use platform::chart;
use platform::crypto::DataKeys;
use platform::gateway::{
    BoxFuture, DebitOutcome, DebitRequest, DebitStatus, PartnerCallError, PartnerEndpoint,
    PartnerGateway,
};
use platform::merchants::{MerchantChange, NewMerchant};
use platform::paycode::ROUTING_PREFIX;
use platform::sms::DevOutbox;
use platform::time::now_s;
use platform::totp::{self, STEP_S, totp};
use platform::van::{
    AUTHORIZATION_AMOUNT_MAX, AuthorizationRecord, AuthorizationRequest, AuthorizationStatus,
    DeclineReason,
};
use platform::{
    LedgerConfig, LedgerService, Platform, PlatformConfig, PlatformError, PlatformParts,
};
use store::records::SqliteRecords;
use store::sqlite::SqliteStore;

const MASTER_KEY: [u8; 32] = [7; 32];
const WAIT_MAX: Duration = Duration::from_secs(10);
/// The test's own funding account (MVP comes from here into wallets).
const FUNDING_ACCOUNT: u128 = 77;

struct NoPartner;

impl PartnerGateway for NoPartner {
    fn balance<'a>(
        &'a self,
        _: &'a PartnerEndpoint,
        _: &'a str,
    ) -> BoxFuture<'a, Result<u64, PartnerCallError>> {
        Box::pin(async { Err(PartnerCallError::Status(503)) })
    }
    fn debit<'a>(
        &'a self,
        _: &'a PartnerEndpoint,
        _: &'a DebitRequest,
    ) -> BoxFuture<'a, Result<DebitOutcome, PartnerCallError>> {
        Box::pin(async { Err(PartnerCallError::Status(503)) })
    }
    fn cancel<'a>(
        &'a self,
        _: &'a PartnerEndpoint,
        _: &'a str,
    ) -> BoxFuture<'a, Result<(), PartnerCallError>> {
        Box::pin(async { Err(PartnerCallError::Status(503)) })
    }
    fn status<'a>(
        &'a self,
        _: &'a PartnerEndpoint,
        _: &'a str,
    ) -> BoxFuture<'a, Result<DebitStatus, PartnerCallError>> {
        Box::pin(async { Err(PartnerCallError::Status(503)) })
    }
}

/// A member enrolled for pay codes: the app's handle and secret.
struct Payer {
    member_id: u128,
    phone: String,
    devices: Vec<(String, Vec<u8>)>,
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

struct World {
    _directory: tempfile::TempDir,
    records_path: PathBuf,
    ledger: Arc<LedgerService>,
    outbox: Arc<DevOutbox>,
    platform: Option<Arc<Platform>>,
    phones: u32,
}

impl World {
    async fn new() -> World {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let store = SqliteStore::open(&directory.path().join("ledger.db")).expect("ledger store");
        let ledger = LedgerService::open(
            Box::new(store),
            OperatorKey::from_seed([9; 32]),
            LedgerConfig::default(),
        )
        .expect("open the ledger");
        let mut world = World {
            records_path: directory.path().join("records.db"),
            _directory: directory,
            ledger: Arc::new(ledger),
            outbox: Arc::new(DevOutbox::new()),
            platform: None,
            phones: 0,
        };
        world.open().await;
        let funding = Account {
            id: AccountId(FUNDING_ACCOUNT),
            ledger: chart::LEDGER_MVP,
            code: 999,
            ..Account::default()
        };
        let results = world.ledger.create_accounts(vec![funding]).await.unwrap();
        assert!(results[0].is_ok());
        world
    }

    async fn open(&mut self) {
        let records = SqliteRecords::open(&self.records_path).expect("records");
        let parts = PlatformParts {
            records: Box::new(records),
            keys: DataKeys::from_master(&MASTER_KEY),
            partner_gateway: Arc::new(NoPartner),
            sms: self.outbox.clone(),
            chain: None,
        };
        let platform = Platform::open(PlatformConfig::default(), self.ledger.clone(), parts)
            .expect("open the platform");
        platform.start().await.expect("start");
        self.platform = Some(platform);
    }

    fn platform(&self) -> &Arc<Platform> {
        self.platform.as_ref().expect("a running platform")
    }

    async fn restart(&mut self) {
        let old = self.platform.take().expect("a running platform");
        old.shutdown();
        let gone = Arc::downgrade(&old);
        drop(old);
        let deadline = Instant::now() + WAIT_MAX;
        while gone.strong_count() > 0 {
            assert!(Instant::now() < deadline, "the old platform did not stop");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.open().await;
    }

    /// A member with `devices` devices enrolled for pay codes and `balance` MVP.
    async fn payer(&mut self, balance: u64, devices: usize) -> Payer {
        self.phones += 1;
        let phone = format!("+82105555{:04}", self.phones);
        let platform = self.platform().clone();
        let verification = platform.request_verification(&phone).await.unwrap();
        let messages = self.outbox.messages(Some(&phone));
        let code = messages[0]
            .text
            .strip_prefix("[Mileverse] verification code ")
            .expect("a verification text")
            .to_string();
        let member_id = platform
            .sign_up(verification, &code, "Kim Payer", "135790")
            .await
            .unwrap();
        let mut enrolled = Vec::new();
        for _ in 0..devices {
            let device = platform
                .register_device(member_id, "Phone", "android")
                .await
                .unwrap();
            let enrollment = platform
                .enroll_paycode_device(member_id, device.id)
                .await
                .unwrap();
            enrolled.push((enrollment.device_handle, enrollment.secret));
        }
        if balance > 0 {
            self.fund(member_id, balance).await;
        }
        Payer {
            member_id,
            phone,
            devices: enrolled,
        }
    }

    async fn fund(&self, member_id: u128, amount: u64) {
        let transfer = Transfer {
            id: TransferId(chart::new_id()),
            debit_account_id: AccountId(FUNDING_ACCOUNT),
            credit_account_id: AccountId(member_id),
            amount: u128::from(amount),
            ledger: chart::LEDGER_MVP,
            code: chart::transfer_code::BONUS,
            ..Transfer::default()
        };
        let results = self.ledger.create_transfers(vec![transfer]).await.unwrap();
        assert!(results[0].is_ok(), "{:?}", results[0]);
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
    let mut world = World::new().await;
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
    assert_eq!(other, Err(PlatformError::VanTxConflict));
    // The ledger keeps the movement's reason and reference.
    let lines = world
        .platform()
        .transactions(payer.member_id, None, 10)
        .await
        .unwrap();
    assert_eq!(lines[0].reason, "payment");
    assert_eq!(lines[0].amount, -3_000);
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
    let mut world = World::new().await;
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
    assert_eq!(conflict, Err(PlatformError::VanTxConflict));
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
        Err(PlatformError::AuthorizationState(_))
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
    let mut world = World::new().await;
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
    assert!(matches!(capture, Err(PlatformError::AuthorizationState(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decline_moves_nothing_and_is_answered_again() {
    let mut world = World::new().await;
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
    for _ in 0..5 {
        let _ = platform.log_in(&payer.phone, "246802").await;
    }
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
    let mut world = World::new().await;
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
    let mut world = World::new().await;
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
    let mut world = World::new().await;
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
    let mut world = World::new().await;
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
    let mut world = World::new().await;
    let payer = world.payer(10_000, 1).await;
    let (_, ours) = world.merchant(1).await;
    let (_, theirs) = world.merchant(1).await;
    let sale = world
        .authorize(ours[0], &payer.code(0, 0), 1_000, "mine", true)
        .await
        .unwrap();
    let platform = world.platform().clone();
    let status = platform.van_transaction(theirs[0], "mine").await;
    assert_eq!(status, Err(PlatformError::NotFound("transaction")));
    let refund = platform.cancel(theirs[0], sale.id, None, "steal").await;
    assert_eq!(refund, Err(PlatformError::NotFound("authorization")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settlement_nets_refunds_takes_the_fee_and_is_idempotent_per_cut_off() {
    use platform::settlement::SettlementStatus;
    let mut world = World::new().await;
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
    assert_eq!(late, Err(PlatformError::MerchantPayableInsufficient));
    assert_eq!(world.available(payer.member_id).await, (41_000, 0));
    drop(platform);
    world.restart().await;
    let runs = world.platform().settlements().await.unwrap();
    assert_eq!(runs, vec![paid]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_limit_allows_its_maximum_and_declines_past_it() {
    use platform::van::MEMBER_DAILY_PAYMENT_LIMIT;
    let mut world = World::new().await;
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
