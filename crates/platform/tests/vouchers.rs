//! Gift vouchers through the public platform API, on a real ledger and record store (SQLite
//! files): purchases, redemptions and cancels cut short by a dying ledger disk and resolved
//! at the next start; expiry at the till and the expired voucher's 90 % refund; and the
//! limits at their maximum (unused vouchers per member, the page, the catalogue).

mod support;

use ledger::types::AccountId;
use platform::PlatformError;
use platform::chart;
use platform::merchants::NewMerchant;
use platform::van::{AuthorizationRequest, AuthorizationStatus, DeclineReason};
use platform::vouchers::VoucherError;
use platform::vouchers::{
    ACTIVE_VOUCHERS_PER_MEMBER_MAX, KIND_VOUCHER, NewProduct, PRODUCTS_MAX, PurchaseRequest,
    VOUCHER_PAGE_MAX, VoucherRecord, VoucherStatus,
};
use ports::time::now_s;
use store::memory::FaultPoint;
use store::records::{Record, RecordWrite};
use support::World;

const BRAND: &str = "Blue Cup";
const FACE_VALUE: u64 = 4_500;
const PRICE: u64 = 4_000;

/// A world with a funded member, a product of [`BRAND`] and a till of that brand.
struct Shop {
    world: World,
    member_id: u128,
    product_id: u128,
    terminal_id: u128,
}

impl Shop {
    async fn open(balance: u64) -> Shop {
        let mut world = World::with_funding().await;
        let member_id = world.member().await.id;
        if balance > 0 {
            world.fund(member_id, balance).await;
        }
        let platform = world.platform();
        let product = NewProduct {
            brand: BRAND.into(),
            name: "Americano".into(),
            face_value: FACE_VALUE,
            price: PRICE,
            validity_days: Some(30),
        };
        let product_id = platform.create_product(product).await.unwrap().id;
        let merchant = NewMerchant {
            name: "Seongsu".into(),
            brand: BRAND.into(),
            fee_bps: 0,
        };
        let merchant_id = platform.create_merchant(merchant).await.unwrap();
        let terminal_id = platform
            .create_terminal(merchant_id)
            .await
            .unwrap()
            .terminal_id;
        Shop {
            world,
            member_id,
            product_id,
            terminal_id,
        }
    }

    async fn buy(&self, key: &str) -> Result<VoucherRecord, PlatformError> {
        let request = PurchaseRequest {
            member_id: self.member_id,
            product_id: self.product_id,
            idempotency_key: Some(key.into()),
            pin: None,
        };
        self.world.platform().buy_voucher(request).await
    }

    async fn voucher(&self, id: u128) -> VoucherRecord {
        self.world
            .platform()
            .voucher(self.member_id, id)
            .await
            .unwrap()
    }

    async fn redeem(&self, voucher: &VoucherRecord, van_tx_id: &str) -> AuthorizationRequest {
        let code = self.world.platform().voucher_code(voucher).unwrap();
        AuthorizationRequest {
            pay_code: code,
            amount: FACE_VALUE,
            van_tx_id: van_tx_id.into(),
            capture: true,
            allow_partial: false,
        }
    }

    /// Posted credits − debits of an account.
    async fn posted(&self, id: AccountId) -> i128 {
        let accounts = self.world.ledger.lookup_accounts(vec![id]).await.unwrap();
        let account = &accounts[0];
        account.credits_posted as i128 - account.debits_posted as i128
    }

    async fn wallet(&self) -> i128 {
        self.posted(AccountId(self.member_id)).await
    }

    async fn vouchers_account(&self) -> i128 {
        self.posted(chart::VOUCHERS_ACCOUNT).await
    }

    /// Rewrites a stored voucher as the platform would never do (dates moved back), then
    /// restarts the platform so that it loads the record.
    async fn rewrite(&mut self, id: u128, change: impl FnOnce(&mut VoucherRecord)) {
        let mut voucher = self.voucher(id).await;
        change(&mut voucher);
        let record = Record {
            kind: KIND_VOUCHER.into(),
            key: id.to_be_bytes().to_vec(),
            value: serde_json::to_vec(&voucher).unwrap(),
        };
        self.world
            .write_records(vec![RecordWrite::Put(record)])
            .await;
        self.world.restart().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_cut_short_is_one_commit_or_nothing() {
    let mut shop = Shop::open(10_000).await;
    // The purchase's commit never reached the disk: no voucher, nothing was paid.
    shop.world.fail_ledger_appends(FaultPoint::BeforeWrite);
    assert!(shop.buy("lost").await.is_err());
    shop.world.crash_and_reopen().await;
    let platform = shop.world.platform();
    let listed = platform.vouchers(shop.member_id, None).await.unwrap();
    assert!(listed.is_empty(), "{listed:?}");
    assert_eq!(shop.wallet().await, 10_000);
    // The transfer is on disk but its answer was lost: the voucher is active, paid once.
    shop.world.fail_ledger_appends(FaultPoint::AfterWrite);
    assert!(shop.buy("kept").await.is_err());
    shop.world.crash_and_reopen().await;
    let again = shop.buy("kept").await.unwrap();
    assert_eq!(again.status, VoucherStatus::Active);
    assert_eq!(shop.wallet().await, 6_000);
    assert_eq!(shop.vouchers_account().await, 4_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redemption_or_cancel_cut_short_is_one_commit_or_nothing() {
    let mut shop = Shop::open(10_000).await;
    let voucher = shop.buy("one").await.unwrap();
    // The redemption's commit never reached the disk: nothing of it is there after the
    // restart (the voucher good, its price still held), and the till's retry is a first
    // request; it is not answered here, so that the voucher stays unused for the cancel.
    shop.world.fail_ledger_appends(FaultPoint::BeforeWrite);
    let request = shop.redeem(&voucher, "till-1").await;
    let platform = shop.world.platform().clone();
    assert!(platform.authorize(shop.terminal_id, request).await.is_err());
    drop(platform);
    shop.world.crash_and_reopen().await;
    assert_eq!(shop.voucher(voucher.id).await.status, VoucherStatus::Active);
    assert_eq!(shop.vouchers_account().await, 4_000);
    let missing = shop
        .world
        .platform()
        .van_transaction(shop.terminal_id, "till-1")
        .await;
    assert!(
        matches!(missing, Err(PlatformError::NotFound(_))),
        "{missing:?}"
    );
    // A member's cancel whose refund reached the disk: cancelled at start, refunded once.
    shop.world.fail_ledger_appends(FaultPoint::AfterWrite);
    let platform = shop.world.platform().clone();
    assert!(
        platform
            .cancel_voucher(shop.member_id, voucher.id)
            .await
            .is_err()
    );
    drop(platform);
    shop.world.crash_and_reopen().await;
    let cancelled = shop.voucher(voucher.id).await;
    assert_eq!(
        (cancelled.status, cancelled.refund),
        (VoucherStatus::Cancelled, PRICE)
    );
    assert_eq!(shop.wallet().await, 10_000);
    assert_eq!(shop.vouchers_account().await, 0);
    // A redemption whose transfer reached the disk: captured at start, the voucher used.
    let voucher = shop.buy("two").await.unwrap();
    shop.world.fail_ledger_appends(FaultPoint::AfterWrite);
    let request = shop.redeem(&voucher, "till-2").await;
    let platform = shop.world.platform().clone();
    assert!(platform.authorize(shop.terminal_id, request).await.is_err());
    drop(platform);
    shop.world.crash_and_reopen().await;
    let request = shop.redeem(&voucher, "till-2").await;
    let paid = shop
        .world
        .platform()
        .authorize(shop.terminal_id, request)
        .await;
    let paid = paid.unwrap();
    assert_eq!(paid.status, AuthorizationStatus::Captured);
    assert_eq!(
        (paid.approved_amount, paid.captured_amount),
        (FACE_VALUE, PRICE)
    );
    assert_eq!(
        shop.voucher(voucher.id).await.status,
        VoucherStatus::Redeemed
    );
    assert_eq!(shop.vouchers_account().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_voucher_is_declined_and_cancelled_for_90_percent() {
    let mut shop = Shop::open(10_000).await;
    let late = shop.buy("late").await.unwrap();
    let expired = shop.buy("expired").await.unwrap();
    // Bought 8 days ago: past the 7-day window, not yet expired.
    let eight_days_ago = now_s() - 8 * 86_400;
    shop.rewrite(late.id, |v| v.purchased_at_s = eight_days_ago)
        .await;
    let refused = shop
        .world
        .platform()
        .cancel_voucher(shop.member_id, late.id)
        .await;
    assert!(
        matches!(refused, Err(PlatformError::Voucher(VoucherError::State(_)))),
        "{refused:?}"
    );
    shop.rewrite(expired.id, |v| v.expires_at_s = now_s() - 1)
        .await;
    let request = shop.redeem(&expired, "till-1").await;
    let declined = shop
        .world
        .platform()
        .authorize(shop.terminal_id, request)
        .await;
    assert_eq!(
        declined.unwrap().decline_reason,
        Some(DeclineReason::ExpiredCode)
    );
    let cancelled = shop
        .world
        .platform()
        .cancel_voucher(shop.member_id, expired.id)
        .await
        .unwrap();
    assert_eq!((cancelled.refund, cancelled.fee), (3_600, 400));
    assert_eq!(shop.wallet().await, 10_000 - 2 * 4_000 + 3_600);
    assert_eq!(shop.posted(chart::PLATFORM_FEES_ACCOUNT).await, 400);
    assert_eq!(shop.vouchers_account().await, 4_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unused_vouchers_and_the_page_stop_at_their_maximum() {
    let max = ACTIVE_VOUCHERS_PER_MEMBER_MAX;
    let shop = Shop::open(PRICE * (max as u64 + 1)).await;
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..max {
        let platform = shop.world.platform().clone();
        let request = PurchaseRequest {
            member_id: shop.member_id,
            product_id: shop.product_id,
            idempotency_key: Some(format!("bulk-{index}")),
            pin: None,
        };
        tasks.spawn(async move { platform.buy_voucher(request).await });
    }
    while let Some(bought) = tasks.join_next().await {
        assert_eq!(bought.unwrap().unwrap().status, VoucherStatus::Active);
    }
    let over = shop.buy("one-too-many").await;
    assert!(
        matches!(over, Err(PlatformError::Voucher(VoucherError::State(_)))),
        "{over:?}"
    );
    // One cancelled makes room for one more: 101 vouchers, a page of 100 and a page of 1.
    let platform = shop.world.platform();
    let first = platform.vouchers(shop.member_id, None).await.unwrap();
    platform
        .cancel_voucher(shop.member_id, first[0].id)
        .await
        .unwrap();
    let newest = shop.buy("one-more").await.unwrap();
    let page = platform.vouchers(shop.member_id, None).await.unwrap();
    assert_eq!(page.len(), VOUCHER_PAGE_MAX);
    assert_eq!(page[0].id, newest.id);
    assert!(page.windows(2).all(|pair| pair[0].id > pair[1].id));
    let rest = platform
        .vouchers(shop.member_id, Some(page[VOUCHER_PAGE_MAX - 1].id))
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    // 101 bought, 1 cancelled: one price is left of 101.
    assert_eq!(shop.wallet().await, i128::from(PRICE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogue_holds_its_maximum_and_refuses_one_more() {
    let shop = Shop::open(0).await;
    let mut tasks = tokio::task::JoinSet::new();
    // One product exists already (the shop's).
    for index in 1..PRODUCTS_MAX {
        let platform = shop.world.platform().clone();
        let product = NewProduct {
            brand: BRAND.into(),
            name: format!("Voucher {index}"),
            face_value: 1_000,
            price: 1_000,
            validity_days: None,
        };
        tasks.spawn(async move { platform.create_product(product).await });
    }
    while let Some(created) = tasks.join_next().await {
        created.unwrap().unwrap();
    }
    let platform = shop.world.platform();
    assert_eq!(platform.products(false).await.unwrap().len(), PRODUCTS_MAX);
    let one_more = NewProduct {
        brand: BRAND.into(),
        name: "One more".into(),
        face_value: 1_000,
        price: 1_000,
        validity_days: None,
    };
    let refused = platform.create_product(one_more).await;
    assert!(
        matches!(refused, Err(PlatformError::Voucher(VoucherError::State(_)))),
        "{refused:?}"
    );
    let bad_price = NewProduct {
        brand: BRAND.into(),
        name: "Dear".into(),
        face_value: 1_000,
        price: 1_001,
        validity_days: None,
    };
    let refused = platform.create_product(bad_price).await;
    assert!(matches!(
        refused,
        Err(PlatformError::Invalid { field: "price", .. })
    ));
}
