//! Gift vouchers (giftcon, MV-4): an operator-managed catalogue of a merchant brand's
//! vouchers, bought by members with MVP and redeemed once at that brand's tills through the
//! VAN API (the voucher code goes where a pay code would).
//!
//! ```text
//!  buy ──(one commit: payment + row)──► active ──till──► redeemed
//!   └─ failed (balance short)             │  ▲              │
//!                                         │  └── till refund / network cancel / decline
//!                                         └─ member cancel (one commit: refund + row) ──► cancelled
//! ```
//!
//! - State: the catalogue and the vouchers live in their tables (`store::tables::vouchers`);
//!   every read is a query. Memory keeps only bounded working sets ([`Vouchers`]): the
//!   claims of operations under way (one purchase per member, one change per voucher) and
//!   the wrong codes per terminal of the current window.
//! - One commit per operation: a purchase's payment and its voucher row, a cancel's refund
//!   and the row, a redemption's payment and the row (with the authorization's rows) are
//!   each one store transaction. Rows of status `pending` and `cancelling` come only from
//!   the older layout, where the row and its transfer were two commits; start finishes
//!   them from the ledger.
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
//!   voucher redemptions are declined `too_many_attempts` until the window passes. The
//!   counts are the abuse limits' (`limits::VOUCHER_GUESSES_PER_TERMINAL`), which survive
//!   a restart.
//! - A member may cancel an unused voucher within [`CANCEL_WINDOW_S`] of buying it (the
//!   whole price back) or once it has expired ([`EXPIRED_REFUND_PERCENT`] % back, the rest to
//!   platform fees: the Korean fair-trade standard terms for mobile vouchers).
//!
//! Claims: a till's request holds its payment claim (`payments`) before it claims the
//! voucher, never the other way; a member's cancel claims the voucher only.

pub mod error;
pub use error::VoucherError;
mod buying;
mod legacy;
mod redeeming;

use std::sync::Arc;

use store::tables::RowRef;
use store::tables::vouchers::{self as tables, VoucherWrite};

use crate::authorization;
use crate::chart;
use crate::claims::{ClaimDetails, Claims};
use crate::error::{Entity, PlatformError, invalid};
use crate::service::Platform;
use ports::time::now_s;

pub use buying::PurchaseRequest;
pub(crate) use legacy::legacy_row;
pub(crate) use redeeming::{PresentedVoucher, RedeemAt, released_row, voucher_use};
pub use store::tables::vouchers::{
    ProductRow as ProductRecord, VoucherRow as VoucherRecord, VoucherStatus,
};

pub const KIND_VOUCHER_PRODUCT: &str = "voucher_product";
pub const KIND_VOUCHER: &str = "voucher";

/// Products in the catalogue (enabled or not).
pub const PRODUCTS_MAX: usize = 10_000;
pub const PRODUCT_NAME_CHARS_MAX: usize = 100;
/// A voucher pays at most what one authorization may.
pub const FACE_VALUE_MAX: u64 = authorization::AUTHORIZATION_AMOUNT_MAX;
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
pub const VOUCHER_GUESSES_MAX: u32 = 10;
pub const VOUCHER_GUESS_WINDOW_S: u64 = 300;
/// Longest a repeated purchase, or a change of a voucher, waits for the one under way.
pub const PURCHASE_WAIT_MS: u64 = 10_000;
/// Operations on vouchers under way at once (purchases and changes); more answer 503.
pub const VOUCHER_CLAIMS_MAX: usize = 65_536;

/// The vouchers context's working set: claims and the wrong codes of the window.
pub struct Vouchers {
    /// One purchase per member at a time: a retry with the same key waits for the first
    /// one, then finds its row.
    purchases: Claims<u128>,
    /// One change per voucher at a time: a cancel, a redemption, a release by a refund.
    changes: Claims<u128>,
    /// One change of the catalogue at a time (its size is checked before an insert).
    catalogue: tokio::sync::Mutex<()>,
}

impl Default for Vouchers {
    fn default() -> Self {
        let claims = |wait| {
            Claims::new(
                VOUCHER_CLAIMS_MAX,
                PURCHASE_WAIT_MS,
                ClaimDetails {
                    full: "too many voucher operations under way; retry",
                    wait,
                },
            )
        };
        Vouchers {
            purchases: claims("the member's first purchase has not finished"),
            changes: claims("another request for this voucher has not finished"),
            catalogue: tokio::sync::Mutex::new(()),
        }
    }
}

impl Vouchers {}

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
    u8::try_from((10 - sum % 10) % 10).expect("a digit")
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

/// A voucher's row write, as the pipeline carries it.
pub(crate) fn voucher_row(voucher: &VoucherRecord) -> RowRef {
    Arc::new(VoucherWrite::Voucher(voucher.clone()))
}

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
        let _catalogue = self.vouchers.catalogue.lock().await;
        let count = self.ledger.tables(tables::product_count).await?;
        if count >= PRODUCTS_MAX as u64 {
            let detail = format!("the catalogue holds at most {PRODUCTS_MAX} products");
            return Err(PlatformError::Voucher(VoucherError::State(detail)));
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
        self.write_product(&record).await?;
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
        let _catalogue = self.vouchers.catalogue.lock().await;
        let mut record = self
            .ledger
            .tables(move |read| tables::product(read, id))
            .await?
            .ok_or(PlatformError::NotFound(Entity::Product))?;
        if let Some(price) = change.price {
            check_price(price, record.face_value)?;
            record.price = price;
        }
        record.name = change.name.unwrap_or(record.name);
        record.enabled = change.enabled.unwrap_or(record.enabled);
        self.write_product(&record).await?;
        Ok(record)
    }

    async fn write_product(&self, record: &ProductRecord) -> Result<(), PlatformError> {
        let row: RowRef = Arc::new(VoucherWrite::Product(record.clone()));
        Ok(self.ledger.record(vec![row]).await?)
    }

    /// The catalogue, by brand then name; `enabled_only` for what members may buy.
    pub async fn products(&self, enabled_only: bool) -> Result<Vec<ProductRecord>, PlatformError> {
        Ok(self
            .ledger
            .tables(move |read| tables::products(read, enabled_only))
            .await?)
    }

    /// A member's vouchers, newest first, at most [`VOUCHER_PAGE_MAX`], older than `before`.
    pub async fn vouchers(
        &self,
        member_id: u128,
        before: Option<u128>,
    ) -> Result<Vec<VoucherRecord>, PlatformError> {
        Ok(self
            .ledger
            .tables(move |read| tables::member_vouchers(read, member_id, before, VOUCHER_PAGE_MAX))
            .await?)
    }

    /// One of the member's vouchers.
    pub async fn voucher(&self, member_id: u128, id: u128) -> Result<VoucherRecord, PlatformError> {
        self.stored_voucher(id)
            .await?
            .filter(|v| v.member_id == member_id)
            .ok_or(PlatformError::NotFound(Entity::Voucher))
    }

    /// The voucher with this id, as committed.
    async fn stored_voucher(&self, id: u128) -> Result<Option<VoucherRecord>, PlatformError> {
        Ok(self
            .ledger
            .tables(move |read| tables::voucher(read, id))
            .await?)
    }

    /// The voucher's code, for its owner's app.
    pub fn voucher_code(&self, voucher: &VoucherRecord) -> Result<String, PlatformError> {
        self.keys
            .open_string(&voucher.code_sealed, &code_context(voucher.id))
            .map_err(|_| PlatformError::Unavailable("a voucher code does not open".into()))
    }
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
}
