//! Gift vouchers (giftcon, MV-4): an operator-managed catalogue of a merchant brand's
//! vouchers, bought by members with MVP and redeemed once at that brand's tills through the
//! VAN API (the voucher code goes where a pay code would).
//!
//! ```text
//!  buy ──► pending (durable, code sealed) ──ledger──► active ──till──► redeemed
//!             └─ failed (balance short)                 │  ▲           │
//!                                                        │  └─ till refund / network cancel
//!                                                        └─ member cancel ──► cancelling ──► cancelled
//! ```
//!
//! - Money: buying moves the price member → VOUCHERS (a credit-normal system account that
//!   never goes below zero), with the voucher's id as the transfer id. Redeeming moves the
//!   price VOUCHERS → the merchant's payable (the authorization's transfer), so the merchant
//!   is settled what the member paid: a price below the face value is the brand's discount.
//!   A till refund moves it back and the voucher is usable again. So the VOUCHERS balance is
//!   always the price of the vouchers bought and neither redeemed nor cancelled.
//! - A voucher code is 16 digits: the routing prefix `92`, 13 random digits and a Luhn
//!   check digit (typos are caught at the till). It is a bearer secret: sealed at rest,
//!   found through a keyed blind index, shown only to its owner. Wrong codes are counted per
//!   terminal; past [`VOUCHER_GUESSES_MAX`] in [`VOUCHER_GUESS_WINDOW_S`] the terminal's
//!   voucher redemptions are declined `too_many_attempts` until the window passes.
//! - A member may cancel an unused voucher within [`CANCEL_WINDOW_S`] of buying it (the
//!   whole price back) or once it has expired ([`EXPIRED_REFUND_PERCENT`] % back, the rest to
//!   platform fees: the Korean fair-trade standard terms for mobile vouchers). The voucher is
//!   `cancelling` (durable) before value moves, so a till cannot redeem it meanwhile.

use crate::error::Entity;
use std::collections::{BTreeSet, HashMap};

use ledger::types::{AccountId, CreateTransferResult, Transfer, TransferFlags, TransferId};
use serde::{Deserialize, Serialize};
use store::records::RecordWrite;
use tokio::sync::watch;

use crate::authorization::VoucherUse;
use crate::chart::{self, transfer_code};
use crate::domain::{self, State, id_key};
use crate::error::{PlatformError, invalid};
use crate::members::{MemberGate, MemberStatus};
use crate::persist::record_rows;
use crate::service::{Committing, Platform};
use crate::van::{self, DeclineReason};
use ports::time::now_s;

pub const KIND_VOUCHER_PRODUCT: &str = "voucher_product";
pub const KIND_VOUCHER: &str = "voucher";

/// Products in the catalogue (enabled or not).
pub const PRODUCTS_MAX: usize = 10_000;
pub const PRODUCT_NAME_CHARS_MAX: usize = 100;
/// A voucher pays at most what one authorization may.
pub const FACE_VALUE_MAX: u64 = van::AUTHORIZATION_AMOUNT_MAX;
pub const VALIDITY_DAYS_DEFAULT: u32 = 365;
pub const VALIDITY_DAYS_MAX: u32 = 5 * 365;
/// Vouchers a member may hold unused (active) at once.
pub const ACTIVE_VOUCHERS_PER_MEMBER_MAX: usize = 100;
/// Vouchers one listing returns (newest first).
pub const VOUCHER_PAGE_MAX: usize = 100;
/// A member may cancel an unused voucher this long after buying it, for its whole price.
pub const CANCEL_WINDOW_S: u64 = 7 * 86_400;
/// Share of the price refunded when an expired, unused voucher is cancelled.
pub const EXPIRED_REFUND_PERCENT: u64 = 90;
pub const VOUCHER_CODE_PREFIX: &str = "92";
pub const VOUCHER_CODE_DIGITS: usize = 16;
/// Wrong voucher codes one terminal may present per window.
pub const VOUCHER_GUESSES_MAX: usize = 10;
pub const VOUCHER_GUESS_WINDOW_S: u64 = 300;
/// Longest a repeated purchase waits for the first one's outcome.
pub const PURCHASE_WAIT_MS: u64 = 10_000;
pub const IDEMPOTENCY_KEY_BYTES_MAX: usize = 128;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRecord {
    pub id: u128,
    /// Redeemable at the merchants of this brand.
    pub brand: String,
    pub name: String,
    /// What the voucher pays at the till (KRW = MVP).
    pub face_value: u64,
    /// What a member pays for it, in MVP (at most the face value).
    pub price: u64,
    pub validity_days: u32,
    pub enabled: bool,
    pub created_at_s: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoucherStatus {
    /// Durable, the purchase's transfer not yet answered.
    Pending,
    Active,
    Redeemed,
    /// A member's cancel under way (durable before its refund moves).
    Cancelling,
    Cancelled,
    /// The purchase did not go through (`failure` says why).
    Failed,
}

impl VoucherStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VoucherStatus::Pending => "pending",
            VoucherStatus::Active => "active",
            VoucherStatus::Redeemed => "redeemed",
            VoucherStatus::Cancelling => "cancelling",
            VoucherStatus::Cancelled => "cancelled",
            VoucherStatus::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoucherRecord {
    /// Time-ordered; also the id of the purchase's ledger transfer.
    pub id: u128,
    pub product_id: u128,
    pub member_id: u128,
    pub brand: String,
    pub name: String,
    pub face_value: u64,
    pub price: u64,
    #[serde(with = "hex::serde")]
    pub code_sealed: Vec<u8>,
    #[serde(with = "hex::serde")]
    pub code_index: [u8; 32],
    pub status: VoucherStatus,
    pub failure: Option<String>,
    pub idempotency_key: Option<String>,
    pub purchased_at_s: u64,
    pub expires_at_s: u64,
    /// The authorization that redeemed it (while redeemed).
    pub authorization_id: Option<u128>,
    pub redeemed_at_s: Option<u64>,
    /// A member's cancel: MVP given back and kept as a fee.
    pub refund: u64,
    pub fee: u64,
    pub cancelled_at_s: Option<u64>,
}

impl VoucherRecord {
    pub fn expired(&self, now_s: u64) -> bool {
        now_s >= self.expires_at_s
    }

    /// What the member sees: an active voucher past its date is `expired`.
    pub fn shown_status(&self, now_s: u64) -> &'static str {
        if self.status == VoucherStatus::Active && self.expired(now_s) {
            "expired"
        } else {
            self.status.as_str()
        }
    }
}

pub struct VoucherState {
    pub products: HashMap<u128, ProductRecord>,
    pub vouchers: HashMap<u128, VoucherRecord>,
    pub by_code: HashMap<[u8; 32], u128>,
    /// Per member, voucher ids (time-ordered: oldest first).
    pub by_member: HashMap<u128, BTreeSet<u128>>,
    pub by_key: HashMap<(u128, String), u128>,
    /// Wrong codes per terminal (Unix seconds); memory only.
    pub guesses: HashMap<u128, Vec<u64>>,
    /// Bumped whenever a voucher changes, for repeated purchases that wait for one.
    pub outcomes: watch::Sender<u64>,
}

impl Default for VoucherState {
    fn default() -> Self {
        VoucherState {
            products: HashMap::new(),
            vouchers: HashMap::new(),
            by_code: HashMap::new(),
            by_member: HashMap::new(),
            by_key: HashMap::new(),
            guesses: HashMap::new(),
            outcomes: watch::Sender::new(0),
        }
    }
}

impl VoucherState {
    pub fn insert(&mut self, voucher: VoucherRecord) {
        if !self.vouchers.contains_key(&voucher.id) {
            self.by_member
                .entry(voucher.member_id)
                .or_default()
                .insert(voucher.id);
            self.by_code.insert(voucher.code_index, voucher.id);
            if let Some(key) = &voucher.idempotency_key {
                self.by_key
                    .insert((voucher.member_id, key.clone()), voucher.id);
            }
        }
        self.vouchers.insert(voucher.id, voucher);
        self.outcomes.send_modify(|count| *count += 1);
    }

    fn active_count(&self, member_id: u128) -> usize {
        self.by_member.get(&member_id).map_or(0, |ids| {
            ids.iter()
                .filter(|id| self.vouchers[*id].status == VoucherStatus::Active)
                .count()
        })
    }

    /// Counts a wrong code; true while the terminal is within its guesses.
    fn guesses_left(&mut self, terminal_id: u128, now_s: u64) -> bool {
        let times = self.guesses.entry(terminal_id).or_default();
        times.retain(|&at| at + VOUCHER_GUESS_WINDOW_S > now_s);
        times.len() < VOUCHER_GUESSES_MAX
    }

    fn record_guess(&mut self, terminal_id: u128, now_s: u64) {
        self.guesses.entry(terminal_id).or_default().push(now_s);
    }
}

/// Whether a presented code is a voucher code (by its shape), not a pay code.
pub fn is_voucher_code(code: &str) -> bool {
    code.len() == VOUCHER_CODE_DIGITS
        && code.starts_with(VOUCHER_CODE_PREFIX)
        && code.bytes().all(|b| b.is_ascii_digit())
}

/// The Luhn check digit of `digits`.
pub fn luhn_digit(digits: &str) -> u8 {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(index, byte)| {
            let digit = u32::from(byte - b'0');
            if index % 2 == 0 {
                let doubled = digit * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                digit
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

pub fn luhn_valid(code: &str) -> bool {
    let (body, check) = code.split_at(code.len() - 1);
    check.as_bytes()[0] - b'0' == luhn_digit(body)
}

fn new_voucher_code() -> String {
    let mut rng = rand::thread_rng();
    let mut body = String::from(VOUCHER_CODE_PREFIX);
    while body.len() < VOUCHER_CODE_DIGITS - 1 {
        body.push(char::from(b'0' + rand::Rng::gen_range(&mut rng, 0..10u8)));
    }
    let check = luhn_digit(&body);
    body.push(char::from(b'0' + check));
    body
}

fn code_context(voucher_id: u128) -> Vec<u8> {
    format!("voucher/{voucher_id}/code").into_bytes()
}

const CODE_INDEX_KIND: &[u8] = b"voucher-code";

#[derive(Clone, Debug, Default)]
pub struct NewProduct {
    pub brand: String,
    pub name: String,
    pub face_value: u64,
    pub price: u64,
    /// `None`: [`VALIDITY_DAYS_DEFAULT`].
    pub validity_days: Option<u32>,
}

/// A change to a product; `None` leaves a field alone. Vouchers already bought keep the
/// price and dates they were bought with.
#[derive(Clone, Debug, Default)]
pub struct ProductChange {
    pub name: Option<String>,
    pub price: Option<u64>,
    pub enabled: Option<bool>,
}

fn check_text(field: &'static str, text: &str, chars_max: usize) -> Result<(), PlatformError> {
    let count = text.chars().count();
    if count == 0 || count > chars_max || text.trim() != text {
        let detail = format!("1 to {chars_max} characters, no leading or trailing space");
        return Err(invalid(field, detail));
    }
    Ok(())
}

fn check_price(price: u64, face_value: u64) -> Result<(), PlatformError> {
    if price == 0 || price > face_value {
        return Err(invalid(
            "price",
            format!("1 to the face value {face_value}"),
        ));
    }
    Ok(())
}

fn check_new_product(product: &NewProduct) -> Result<u32, PlatformError> {
    check_text("brand", &product.brand, crate::merchants::BRAND_CHARS_MAX)?;
    check_text("name", &product.name, PRODUCT_NAME_CHARS_MAX)?;
    if product.face_value == 0 || product.face_value > FACE_VALUE_MAX {
        return Err(invalid("face_value", format!("1 to {FACE_VALUE_MAX}")));
    }
    check_price(product.price, product.face_value)?;
    let days = product.validity_days.unwrap_or(VALIDITY_DAYS_DEFAULT);
    if days == 0 || days > VALIDITY_DAYS_MAX {
        return Err(invalid(
            "validity_days",
            format!("1 to {VALIDITY_DAYS_MAX}"),
        ));
    }
    Ok(days)
}

impl Platform {
    /// Adds a product to the catalogue (enabled).
    pub async fn create_product(
        &self,
        product: NewProduct,
    ) -> Result<ProductRecord, PlatformError> {
        let validity_days = check_new_product(&product)?;
        let (record, sequence) = {
            let mut state = self.lock();
            if state.vouchers.products.len() >= PRODUCTS_MAX {
                let detail = format!("the catalogue holds at most {PRODUCTS_MAX} products");
                return Err(PlatformError::VoucherState(detail));
            }
            let record = ProductRecord {
                id: chart::new_id(),
                brand: product.brand,
                name: product.name,
                face_value: product.face_value,
                price: product.price,
                validity_days,
                enabled: true,
                created_at_s: now_s(),
            };
            let sequence = self.queue(vec![product_write(&record)])?;
            state.vouchers.products.insert(record.id, record.clone());
            (record, sequence)
        };
        self.durable(sequence).await?;
        Ok(record)
    }

    pub async fn change_product(
        &self,
        id: u128,
        change: ProductChange,
    ) -> Result<ProductRecord, PlatformError> {
        if let Some(name) = &change.name {
            check_text("name", name, PRODUCT_NAME_CHARS_MAX)?;
        }
        let (record, sequence) = {
            let mut state = self.lock();
            let mut record = state
                .vouchers
                .products
                .get(&id)
                .cloned()
                .ok_or(PlatformError::NotFound(Entity::Product))?;
            if let Some(price) = change.price {
                check_price(price, record.face_value)?;
                record.price = price;
            }
            record.name = change.name.unwrap_or(record.name);
            record.enabled = change.enabled.unwrap_or(record.enabled);
            let sequence = self.queue(vec![product_write(&record)])?;
            state.vouchers.products.insert(id, record.clone());
            (record, sequence)
        };
        self.durable(sequence).await?;
        Ok(record)
    }

    /// The catalogue, by brand then name; `enabled_only` for what members may buy.
    pub async fn products(&self, enabled_only: bool) -> Result<Vec<ProductRecord>, PlatformError> {
        self.settle_reads().await?;
        let state = self.lock();
        let mut products: Vec<ProductRecord> = state
            .vouchers
            .products
            .values()
            .filter(|p| p.enabled || !enabled_only)
            .cloned()
            .collect();
        products.sort_by(|a, b| (&a.brand, &a.name, a.id).cmp(&(&b.brand, &b.name, b.id)));
        Ok(products)
    }

    /// A member's vouchers, newest first, at most [`VOUCHER_PAGE_MAX`], older than `before`.
    pub async fn vouchers(
        &self,
        member_id: u128,
        before: Option<u128>,
    ) -> Result<Vec<VoucherRecord>, PlatformError> {
        self.settle_reads().await?;
        let state = self.lock();
        let Some(ids) = state.vouchers.by_member.get(&member_id) else {
            return Ok(Vec::new());
        };
        Ok(ids
            .range(..before.unwrap_or(u128::MAX))
            .rev()
            .take(VOUCHER_PAGE_MAX)
            .map(|id| state.vouchers.vouchers[id].clone())
            .collect())
    }

    /// One of the member's vouchers.
    pub async fn voucher(&self, member_id: u128, id: u128) -> Result<VoucherRecord, PlatformError> {
        self.settle_reads().await?;
        self.lock()
            .vouchers
            .vouchers
            .get(&id)
            .filter(|v| v.member_id == member_id)
            .cloned()
            .ok_or(PlatformError::NotFound(Entity::Voucher))
    }

    /// The voucher's code, for its owner's app.
    pub fn voucher_code(&self, voucher: &VoucherRecord) -> Result<String, PlatformError> {
        self.keys
            .open_string(&voucher.code_sealed, &code_context(voucher.id))
            .map_err(|_| PlatformError::Unavailable("a voucher code does not open".into()))
    }
}

fn product_write(record: &ProductRecord) -> RecordWrite {
    domain::put(KIND_VOUCHER_PRODUCT, &id_key(record.id), record)
}

pub(crate) fn voucher_write(record: &VoucherRecord) -> RecordWrite {
    domain::put(KIND_VOUCHER, &id_key(record.id), record)
}

pub struct PurchaseRequest {
    pub member_id: u128,
    pub product_id: u128,
    pub idempotency_key: Option<String>,
}

enum PurchaseBegun {
    Existing(u128),
    Started(Committing<VoucherRecord>),
}

fn purchase_transfer(voucher: &VoucherRecord) -> Transfer {
    Transfer {
        id: TransferId(voucher.id),
        debit_account_id: AccountId(voucher.member_id),
        credit_account_id: chart::VOUCHERS_ACCOUNT,
        amount: u128::from(voucher.price),
        user_data_128: voucher.id,
        ledger: chart::LEDGER_MVP,
        code: transfer_code::VOUCHER_PURCHASE,
        ..Transfer::default()
    }
}

impl Platform {
    /// Buys a voucher with MVP; a known `Idempotency-Key` answers the first purchase.
    pub async fn buy_voucher(
        &self,
        request: PurchaseRequest,
    ) -> Result<VoucherRecord, PlatformError> {
        if let Some(key) = &request.idempotency_key
            && (key.is_empty() || key.len() > IDEMPOTENCY_KEY_BYTES_MAX)
        {
            let detail = format!("1 to {IDEMPOTENCY_KEY_BYTES_MAX} bytes");
            return Err(invalid("Idempotency-Key", detail));
        }
        let buyer = self.member_gate(request.member_id).await?;
        let begun = {
            let mut state = self.lock();
            self.begin_purchase(&mut state, &request, buyer.as_ref())?
        };
        let voucher = match begun {
            PurchaseBegun::Existing(id) => self.settled_voucher(id).await?,
            PurchaseBegun::Started(committing) => {
                let voucher = committing.done().await?;
                self.lock().vouchers.insert(voucher.clone());
                voucher
            }
        };
        match (voucher.status, voucher.failure.as_deref()) {
            (VoucherStatus::Failed, Some("insufficient_balance")) => {
                Err(PlatformError::InsufficientBalance)
            }
            (VoucherStatus::Failed, _) => Err(PlatformError::Unavailable(
                "the purchase could not be made; nothing was charged".into(),
            )),
            _ => Ok(voucher),
        }
    }

    fn begin_purchase(
        &self,
        state: &mut State,
        request: &PurchaseRequest,
        buyer: Option<&MemberGate>,
    ) -> Result<PurchaseBegun, PlatformError> {
        let member_id = request.member_id;
        if let Some(key) = &request.idempotency_key
            && let Some(id) = state.vouchers.by_key.get(&(member_id, key.clone()))
        {
            if state.vouchers.vouchers[id].product_id != request.product_id {
                return Err(PlatformError::IdempotencyConflict);
            }
            return Ok(PurchaseBegun::Existing(*id));
        }
        let member = buyer.ok_or(PlatformError::NotFound(Entity::Member))?;
        if member.status != MemberStatus::Active || self.members.is_withdrawing(member_id) {
            return Err(PlatformError::Withdrawn);
        }
        let product = state
            .vouchers
            .products
            .get(&request.product_id)
            .filter(|p| p.enabled)
            .ok_or(PlatformError::NotFound(Entity::Product))?;
        if state.vouchers.active_count(member_id) >= ACTIVE_VOUCHERS_PER_MEMBER_MAX {
            let detail = format!("at most {ACTIVE_VOUCHERS_PER_MEMBER_MAX} unused vouchers");
            return Err(PlatformError::VoucherState(detail));
        }
        let voucher = self.new_voucher(state, product.clone(), request);
        // Pending in memory only (a repeated request waits for it): the voucher's record is
        // written with its payment, in one commit, as the ledger's answer makes it.
        state.vouchers.insert(voucher.clone());
        let transfers = vec![purchase_transfer(&voucher)];
        let committing = self.enqueue_commit(transfers, move |outcome| {
            let mut voucher = voucher;
            let judged = purchase_outcome(voucher.id, outcome.results[0]);
            finish_purchase(&mut voucher, judged);
            (record_rows([voucher_write(&voucher)]), voucher)
        })?;
        Ok(PurchaseBegun::Started(committing))
    }

    fn new_voucher(
        &self,
        state: &State,
        product: ProductRecord,
        request: &PurchaseRequest,
    ) -> VoucherRecord {
        let id = van::new_authorization_id();
        let (code, code_index) = loop {
            let code = new_voucher_code();
            let index = self.keys.blind_index(CODE_INDEX_KIND, code.as_bytes());
            if !state.vouchers.by_code.contains_key(&index) {
                break (code, index);
            }
        };
        let now = now_s();
        VoucherRecord {
            id,
            product_id: product.id,
            member_id: request.member_id,
            brand: product.brand,
            name: product.name,
            face_value: product.face_value,
            price: product.price,
            code_sealed: self.keys.seal(code.as_bytes(), &code_context(id)),
            code_index,
            status: VoucherStatus::Pending,
            failure: None,
            idempotency_key: request.idempotency_key.clone(),
            purchased_at_s: now,
            expires_at_s: now + u64::from(product.validity_days) * 86_400,
            authorization_id: None,
            redeemed_at_s: None,
            refund: 0,
            fee: 0,
            cancelled_at_s: None,
        }
    }

    /// Records a changed voucher and waits until it is durable.
    async fn store_voucher(
        &self,
        id: u128,
        change: impl FnOnce(&mut VoucherRecord),
    ) -> Result<VoucherRecord, PlatformError> {
        let (voucher, sequence) = {
            let mut state = self.lock();
            let mut voucher = state
                .vouchers
                .vouchers
                .get(&id)
                .cloned()
                .ok_or(PlatformError::NotFound(Entity::Voucher))?;
            change(&mut voucher);
            let sequence = self.queue(vec![voucher_write(&voucher)])?;
            state.vouchers.insert(voucher.clone());
            (voucher, sequence)
        };
        self.durable(sequence).await?;
        Ok(voucher)
    }

    /// Waits until the voucher's purchase or cancel is no longer under way.
    async fn settled_voucher(&self, id: u128) -> Result<VoucherRecord, PlatformError> {
        let busy = "the first request for this voucher has not finished";
        self.settled_record(PURCHASE_WAIT_MS, busy, |state| {
            let voucher = &state.vouchers.vouchers[&id];
            Ok(match voucher.status {
                VoucherStatus::Pending | VoucherStatus::Cancelling => {
                    Err(state.vouchers.outcomes.subscribe())
                }
                _ => Ok(voucher.clone()),
            })
        })
        .await
    }
}

/// What the ledger's answer to a purchase's payment means.
fn purchase_outcome(voucher_id: u128, result: CreateTransferResult) -> Result<(), &'static str> {
    match result {
        CreateTransferResult::Ok | CreateTransferResult::Exists => Ok(()),
        // `id_already_failed`: a retry of a purchase the ledger refused for the balance.
        CreateTransferResult::ExceedsCredits | CreateTransferResult::IdAlreadyFailed => {
            Err("insufficient_balance")
        }
        other => {
            tracing::warn!(voucher = voucher_id, result = %other, "voucher purchase refused");
            Err("system_error")
        }
    }
}

fn finish_purchase(voucher: &mut VoucherRecord, outcome: Result<(), &str>) {
    if voucher.status != VoucherStatus::Pending {
        return;
    }
    match outcome {
        Ok(()) => voucher.status = VoucherStatus::Active,
        Err(reason) => {
            voucher.status = VoucherStatus::Failed;
            voucher.failure = Some(reason.to_string());
        }
    }
}

/// The refund (and fee) of a member's cancel: derived ids, so a retry finds them.
fn cancel_transfers(voucher: &VoucherRecord) -> Vec<Transfer> {
    let refund = Transfer {
        id: TransferId(van::derived_transfer_id("voucher-refund", voucher.id, "")),
        debit_account_id: chart::VOUCHERS_ACCOUNT,
        credit_account_id: AccountId(voucher.member_id),
        amount: u128::from(voucher.refund),
        user_data_128: voucher.id,
        ledger: chart::LEDGER_MVP,
        code: transfer_code::VOUCHER_REFUND,
        ..Transfer::default()
    };
    if voucher.fee == 0 {
        return vec![refund];
    }
    let fee = Transfer {
        id: TransferId(van::derived_transfer_id("voucher-fee", voucher.id, "")),
        debit_account_id: chart::VOUCHERS_ACCOUNT,
        credit_account_id: chart::PLATFORM_FEES_ACCOUNT,
        amount: u128::from(voucher.fee),
        user_data_128: voucher.id,
        ledger: chart::LEDGER_MVP,
        code: transfer_code::FEE,
        ..Transfer::default()
    };
    let refund = Transfer {
        flags: TransferFlags::LINKED,
        ..refund
    };
    vec![refund, fee]
}

/// How much of an unused voucher's price a cancel now gives back: `(refund, fee)`.
fn cancel_terms(voucher: &VoucherRecord, now_s: u64) -> Result<(u64, u64), PlatformError> {
    if voucher.expired(now_s) {
        let refund = voucher.price * EXPIRED_REFUND_PERCENT / 100;
        return Ok((refund, voucher.price - refund));
    }
    if now_s < voucher.purchased_at_s + CANCEL_WINDOW_S {
        return Ok((voucher.price, 0));
    }
    Err(PlatformError::VoucherState(format!(
        "a voucher is cancelled within {} days of purchase, or after it expires ({} % back)",
        CANCEL_WINDOW_S / 86_400,
        EXPIRED_REFUND_PERCENT
    )))
}

impl Platform {
    /// Cancels a member's unused voucher; cancelling a cancelled one answers it again.
    pub async fn cancel_voucher(
        &self,
        member_id: u128,
        id: u128,
    ) -> Result<VoucherRecord, PlatformError> {
        let begun = {
            let mut state = self.lock();
            let voucher = state
                .vouchers
                .vouchers
                .get(&id)
                .filter(|v| v.member_id == member_id)
                .cloned()
                .ok_or(PlatformError::NotFound(Entity::Voucher))?;
            match voucher.status {
                VoucherStatus::Active => Some(self.begin_cancel(&mut state, voucher)?),
                VoucherStatus::Cancelled => return Ok(voucher),
                VoucherStatus::Cancelling => None,
                other => {
                    let detail = format!("a {} voucher cannot be cancelled", other.as_str());
                    return Err(PlatformError::VoucherState(detail));
                }
            }
        };
        let Some(committing) = begun else {
            // Another request is cancelling it: answer as that one ends.
            return self.settled_voucher(id).await;
        };
        let voucher = committing.done().await?;
        self.lock().vouchers.insert(voucher.clone());
        if voucher.status == VoucherStatus::Cancelled {
            Ok(voucher)
        } else {
            Err(PlatformError::Unavailable(
                "the refund could not be made".into(),
            ))
        }
    }

    /// Marks the voucher cancelling in memory (a till cannot redeem it meanwhile) and
    /// queues its refund with its record, as the ledger's answer makes it, in one commit.
    fn begin_cancel(
        &self,
        state: &mut State,
        voucher: VoucherRecord,
    ) -> Result<Committing<VoucherRecord>, PlatformError> {
        let now = now_s();
        let (refund, fee) = cancel_terms(&voucher, now)?;
        let mut changed = voucher;
        changed.status = VoucherStatus::Cancelling;
        (changed.refund, changed.fee) = (refund, fee);
        changed.cancelled_at_s = Some(now);
        state.vouchers.insert(changed.clone());
        let transfers = cancel_transfers(&changed);
        self.enqueue_commit(transfers, move |outcome| {
            let done = outcome
                .results
                .iter()
                .all(|r| matches!(r, CreateTransferResult::Ok | CreateTransferResult::Exists));
            if !done {
                tracing::warn!(voucher = changed.id, results = ?outcome.results, "voucher refund refused");
            }
            let mut voucher = changed;
            finish_cancel(&mut voucher, done);
            (record_rows([voucher_write(&voucher)]), voucher)
        })
    }

    /// At start: finishes purchases and cancels a crash cut short, from the ledger.
    pub(crate) async fn resolve_interrupted_vouchers(&self) -> Result<(), PlatformError> {
        let open: Vec<VoucherRecord> = self
            .lock()
            .vouchers
            .vouchers
            .values()
            .filter(|v| matches!(v.status, VoucherStatus::Pending | VoucherStatus::Cancelling))
            .cloned()
            .collect();
        for voucher in open {
            let id = match voucher.status {
                VoucherStatus::Pending => voucher.id,
                _ => cancel_transfers(&voucher)[0].id.0,
            };
            let found = !self
                .ledger
                .lookup_transfers(vec![TransferId(id)])
                .await?
                .is_empty();
            self.store_voucher(voucher.id, |v| match v.status {
                VoucherStatus::Pending => {
                    finish_purchase(v, if found { Ok(()) } else { Err("system_error") })
                }
                _ => finish_cancel(v, found),
            })
            .await?;
        }
        Ok(())
    }
}

fn finish_cancel(voucher: &mut VoucherRecord, done: bool) {
    if voucher.status != VoucherStatus::Cancelling {
        return;
    }
    if done {
        voucher.status = VoucherStatus::Cancelled;
    } else {
        voucher.status = VoucherStatus::Active;
        (voucher.refund, voucher.fee, voucher.cancelled_at_s) = (0, 0, None);
    }
}

/// Where and when a voucher code is presented.
pub(crate) struct RedeemAt<'a> {
    pub terminal_id: u128,
    /// The brand of the terminal's merchant (a voucher is good at its brand only).
    pub brand: &'a str,
    pub authorization_id: u128,
    pub now_s: u64,
    /// The gate of the voucher's owner, read before the lock (a locked owner's voucher is
    /// refused).
    pub owner: Option<&'a MemberGate>,
}

impl State {
    /// The owner of the voucher with this code, without checking it.
    pub(crate) fn voucher_owner(&self, keys: &crate::crypto::DataKeys, code: &str) -> Option<u128> {
        let index = keys.blind_index(CODE_INDEX_KIND, code.as_bytes());
        let id = self.vouchers.by_code.get(&index)?;
        Some(self.vouchers.vouchers.get(id)?.member_id)
    }
}

/// What a till presenting a voucher code is told.
pub(crate) struct Redeemed {
    pub member_id: u128,
    pub voucher: VoucherUse,
    pub write: RecordWrite,
}

impl Platform {
    /// Redeems a voucher code for `authorization_id` at a merchant of `brand` (the caller
    /// holds the lock and records the authorization in the same queue group).
    pub(crate) fn redeem_voucher(
        &self,
        state: &mut State,
        code: &str,
        at: RedeemAt<'_>,
    ) -> Result<Redeemed, DeclineReason> {
        let RedeemAt {
            terminal_id,
            brand,
            authorization_id,
            now_s,
            owner,
        } = at;
        let vouchers = &mut state.vouchers;
        if !vouchers.guesses_left(terminal_id, now_s) {
            return Err(DeclineReason::TooManyAttempts);
        }
        let index = self.keys.blind_index(CODE_INDEX_KIND, code.as_bytes());
        let found = luhn_valid(code)
            .then(|| vouchers.by_code.get(&index).copied())
            .flatten();
        let Some(id) = found else {
            vouchers.record_guess(terminal_id, now_s);
            return Err(DeclineReason::InvalidCode);
        };
        let voucher = &vouchers.vouchers[&id];
        match voucher.status {
            VoucherStatus::Active => {}
            VoucherStatus::Redeemed => return Err(DeclineReason::UsedCode),
            _ => return Err(DeclineReason::InvalidCode),
        }
        if voucher.expired(now_s) {
            return Err(DeclineReason::ExpiredCode);
        }
        if voucher.brand != brand {
            return Err(DeclineReason::VoucherNotAccepted);
        }
        let owner = owner.filter(|owner| owner.member_id == voucher.member_id);
        if owner.is_some_and(|owner| owner.locked) {
            return Err(DeclineReason::MemberLocked);
        }
        let mut voucher = state.vouchers.vouchers[&id].clone();
        voucher.status = VoucherStatus::Redeemed;
        voucher.authorization_id = Some(authorization_id);
        voucher.redeemed_at_s = Some(now_s);
        let redeemed = Redeemed {
            member_id: voucher.member_id,
            voucher: VoucherUse {
                voucher_id: id,
                face_value: voucher.face_value,
                price: voucher.price,
            },
            write: voucher_write(&voucher),
        };
        state.vouchers.insert(voucher);
        Ok(redeemed)
    }
}

/// Keeps a voucher in step with the authorization that redeemed it: usable again once the
/// authorization holds no value (declined, or refunded whole). The write, if it changed.
/// Makes the memory's voucher of an authorization usable again once the authorization
/// released it (its record was written with the authorization's commit: see
/// [`voucher_release_write`]).
pub(crate) fn sync_redemption(state: &mut State, authorization: &van::AuthorizationRecord) {
    let Some(used) = authorization.voucher else {
        return;
    };
    if !authorization.releases_voucher() {
        return;
    }
    if let Some(voucher) = released(state, used.voucher_id, authorization.id) {
        state.vouchers.insert(voucher);
    }
}

/// The record of a voucher redeemed by `authorization_id`, usable again: what a step that
/// releases it writes in its commit.
pub(crate) fn voucher_release_write(
    state: &State,
    voucher_id: u128,
    authorization_id: u128,
) -> Option<RecordWrite> {
    released(state, voucher_id, authorization_id).map(|voucher| voucher_write(&voucher))
}

fn released(state: &State, voucher_id: u128, authorization_id: u128) -> Option<VoucherRecord> {
    let voucher = state.vouchers.vouchers.get(&voucher_id)?;
    if voucher.status != VoucherStatus::Redeemed
        || voucher.authorization_id != Some(authorization_id)
    {
        return None;
    }
    let mut voucher = voucher.clone();
    voucher.status = VoucherStatus::Active;
    voucher.authorization_id = None;
    voucher.redeemed_at_s = None;
    Some(voucher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_digits_match_known_numbers() {
        // Well-known valid Luhn numbers (test card numbers and the ISO/IEC 7812 example).
        for number in ["79927398713", "4111111111111111", "5555555555554444"] {
            assert!(luhn_valid(number), "{number}");
        }
        assert!(!luhn_valid("79927398710"));
        assert_eq!(luhn_digit("7992739871"), 3);
    }

    #[test]
    fn new_codes_are_voucher_codes_and_catch_one_wrong_digit() {
        for _ in 0..200 {
            let code = new_voucher_code();
            assert!(is_voucher_code(&code), "{code}");
            assert!(luhn_valid(&code));
            let mut wrong = code.clone().into_bytes();
            wrong[7] = b'0' + (wrong[7] - b'0' + 1) % 10;
            assert!(!luhn_valid(std::str::from_utf8(&wrong).unwrap()));
        }
        assert!(!is_voucher_code("91234567890123456789"));
        assert!(!is_voucher_code("921234567890123"));
        assert!(!is_voucher_code("92a4567890123456"));
    }

    #[test]
    fn guesses_are_counted_per_terminal_up_to_the_maximum() {
        let mut state = VoucherState::default();
        for _ in 0..VOUCHER_GUESSES_MAX {
            assert!(state.guesses_left(1, 1_000));
            state.record_guess(1, 1_000);
        }
        assert!(!state.guesses_left(1, 1_000));
        assert!(state.guesses_left(2, 1_000));
        assert!(!state.guesses_left(1, 1_000 + VOUCHER_GUESS_WINDOW_S - 1));
        assert!(state.guesses_left(1, 1_000 + VOUCHER_GUESS_WINDOW_S));
    }
}
