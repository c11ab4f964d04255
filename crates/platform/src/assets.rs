//! Several assets at market price (issue 15 item 2; MISSION TT-1, TT-6, TT-14, MV-14): the
//! TongTong coin (TTC) beside MVP, and custodial balances of other coins, each on its own
//! ledger; prices in KRW from operators or a price feed; conversions quoted with a spread
//! and an expiry and executed as linked transfers through the platform's treasury, all or
//! nothing.
//!
//! The money:
//! - each asset has a treasury account (the platform's inventory, never below zero) and a
//!   reserve account (where units come from: TTC's issue, or coins the operator deposited
//!   at the custodian; it goes negative by what was put into circulation);
//! - TTC's whole supply, 10,000,000,000 TTC, is issued into its treasury once, at the first
//!   start (a transfer with a fixed id: `exists` at every later start);
//! - a member's wallet of an asset other than MVP has an id derived from the member and the
//!   ledger ([`wallet_id`]), created the first time value arrives;
//! - a conversion moves `from_amount` from the member's wallet to the `from` treasury and
//!   `to_amount` from the `to` treasury to the member's wallet: two linked transfers (both
//!   or neither) whose ids derive from the quote, so a quote converts once.
//!
//! Prices: MVP is 1 KRW by definition; every other asset's latest price is a row of
//! `asset_prices`, set by an operator or refreshed from the feed. A quote fixes both
//! prices, the spread and the amounts for [`QUOTE_TTL_S`].

pub mod error;

use std::sync::Arc;

use ledger::types::{Account, AccountFlags, AccountId, CreateTransferResult, Transfer};
use ledger::types::{TransferFlags, TransferId};
use ports::prices::Decimal;
use sha2::{Digest, Sha256};
use store::tables::RowRef;
use store::tables::assets::{self as tables, AssetWrite, PriceRow, QuoteRow};

use crate::authorization::derived_transfer_id;
use crate::chart::{self, account_code, transfer_code};
use crate::claims::{ClaimDetails, Claims};
use crate::error::{Entity, PlatformError, invalid};
use crate::service::Platform;
use error::AssetError;
use ports::time::{kst_day_start_s, now_s};

/// The assets context's claims: one conversion per member at a time.
pub struct Assets {
    converting: Claims<u128>,
}

impl Default for Assets {
    fn default() -> Self {
        Assets {
            converting: Claims::new(
                CONVERTING_CLAIMS_MAX,
                CONVERTING_WAIT_MS,
                ClaimDetails {
                    full: "too many conversions at once; retry",
                    wait: "another conversion of this member is under way",
                },
            ),
        }
    }
}

const CONVERTING_CLAIMS_MAX: usize = 65_536;
const CONVERTING_WAIT_MS: u64 = 5_000;

/// An asset the platform holds balances of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Asset {
    pub symbol: &'static str,
    pub ledger: u32,
    /// Places of the smallest unit: amounts are integers of `10^-decimals` of a unit.
    pub decimals: u32,
    /// What it is, for the app.
    pub kind: AssetKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssetKind {
    /// The platform's point (1 KRW).
    Point,
    /// The platform's own coin.
    Coin,
    /// A coin the platform holds at a custodian for its members.
    Custodial,
}

impl AssetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AssetKind::Point => "point",
            AssetKind::Coin => "coin",
            AssetKind::Custodial => "custodial",
        }
    }
}

pub const MVP: Asset = Asset {
    symbol: "MVP",
    ledger: chart::LEDGER_MVP,
    decimals: 0,
    kind: AssetKind::Point,
};
pub const TTC: Asset = Asset {
    symbol: "TTC",
    ledger: 3,
    decimals: 4,
    kind: AssetKind::Coin,
};
pub const BTC: Asset = Asset {
    symbol: "BTC",
    ledger: 4,
    decimals: 8,
    kind: AssetKind::Custodial,
};
pub const ETH: Asset = Asset {
    symbol: "ETH",
    ledger: 5,
    decimals: 9,
    kind: AssetKind::Custodial,
};
pub const USDT: Asset = Asset {
    symbol: "USDT",
    ledger: 6,
    decimals: 6,
    kind: AssetKind::Custodial,
};
/// Every asset, MVP first.
pub const ASSETS: [Asset; 5] = [MVP, TTC, BTC, ETH, USDT];

/// TTC's whole supply (seed 002 §4): 10,000,000,000 TTC, in its smallest unit.
pub const TTC_SUPPLY_UNITS: u64 = 10_000_000_000 * 10_000;
/// TTC's price at issue (seed 002 §4), until an operator sets another.
pub const TTC_ISSUE_PRICE_KRW: &str = "100";
/// How long a quote holds (the default of `PlatformConfig::asset_quote_ttl_s`).
pub const QUOTE_TTL_S: u64 = 30;
/// The spread a conversion keeps, in basis points of what it gives.
pub const SPREAD_BPS: u64 = 100;
/// How often the feed's prices are asked for.
pub const PRICE_REFRESH_INTERVAL_MS: u64 = 10_000;
/// A feed's price older than this is not quoted at (the feed stopped answering): a quote
/// is refused rather than made at a price the market left.
pub const FEED_PRICE_STALE_S: u64 = 120;

/// Asks the price feed for the custodial coins' prices every
/// [`PRICE_REFRESH_INTERVAL_MS`] and keeps them (`source` `feed`); without a feed, does
/// nothing. Ends when the platform is dropped.
pub(crate) fn spawn_price_refresher(platform: &Arc<Platform>) {
    if platform.price_feed.is_none() {
        return;
    }
    let weak = Arc::downgrade(platform);
    tokio::spawn(async move {
        loop {
            let Some(platform) = weak.upgrade() else {
                return;
            };
            if let Err(error) = platform.refresh_prices().await {
                tracing::warn!(%error, "prices not refreshed");
            }
            drop(platform);
            tokio::time::sleep(std::time::Duration::from_millis(PRICE_REFRESH_INTERVAL_MS)).await;
        }
    });
}

/// Largest amount of a quote, either side, in an asset's smallest unit (10^15: a
/// billion won in MVP, ten million BTC in satoshis): every amount stays far below the
/// 2^63 of a table's integer column.
pub const AMOUNT_UNITS_MAX: u64 = 1_000_000_000_000_000;
/// Longest custodian reference of a deposit.
pub const DEPOSIT_REFERENCE_BYTES_MAX: usize = 100;
/// Quotes one member asks for per KST day.
pub const QUOTES_PER_DAY_MAX: u64 = 1_000;

/// The asset named `symbol` (exactly, upper case).
pub fn asset(symbol: &str) -> Result<Asset, PlatformError> {
    ASSETS
        .into_iter()
        .find(|asset| asset.symbol == symbol)
        .ok_or_else(|| invalid("asset", "MVP, TTC, BTC, ETH or USDT"))
}

/// The member's wallet of `asset`: the member's own id for MVP, an id derived from the
/// member and the ledger for the others (high bit clear, like members' ids).
pub fn wallet_id(member_id: u128, asset: Asset) -> AccountId {
    if asset.ledger == chart::LEDGER_MVP {
        return AccountId(member_id);
    }
    let digest = Sha256::new()
        .chain_update(b"mileverse/wallet/")
        .chain_update(member_id.to_be_bytes())
        .chain_update(asset.ledger.to_be_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    AccountId(u128::from_be_bytes(bytes) & !chart::SYSTEM_ACCOUNT_BASE)
}

/// The member's wallet account of `asset`.
pub fn wallet(member_id: u128, asset: Asset) -> Account {
    Account {
        id: wallet_id(member_id, asset),
        ledger: asset.ledger,
        code: account_code::MEMBER_WALLET,
        flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS.union(AccountFlags::HISTORY),
        ..Account::default()
    }
}

/// The platform's inventory of `asset` (never below zero).
pub fn treasury_id(asset: Asset) -> AccountId {
    AccountId(
        chart::SYSTEM_ACCOUNT_BASE
            | (u128::from(account_code::TREASURY) << 16)
            | u128::from(asset.ledger),
    )
}

/// Where `asset`'s units come from (negative by what circulates).
pub fn reserve_id(asset: Asset) -> AccountId {
    AccountId(
        chart::SYSTEM_ACCOUNT_BASE
            | (u128::from(account_code::RESERVE) << 16)
            | u128::from(asset.ledger),
    )
}

fn system_accounts() -> Vec<Account> {
    let mut accounts = Vec::new();
    for asset in ASSETS {
        accounts.push(Account {
            id: treasury_id(asset),
            ledger: asset.ledger,
            code: account_code::TREASURY,
            flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            ..Account::default()
        });
        if asset.kind != AssetKind::Point {
            accounts.push(Account {
                id: reserve_id(asset),
                ledger: asset.ledger,
                code: account_code::RESERVE,
                flags: AccountFlags::empty(),
                ..Account::default()
            });
            // P2P transfers of this asset held for a phone (MVP's is a system account).
            accounts.push(Account {
                id: crate::transfers::holds_id(asset),
                ledger: asset.ledger,
                code: account_code::P2P_HOLDS,
                flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
                ..Account::default()
            });
        }
    }
    // Created with the assets' so that a start still takes one batch of accounts.
    accounts.extend(crate::escrow::escrow_accounts());
    accounts
}

/// TTC's issue into its treasury: one transfer with a fixed id.
fn ttc_issue() -> Transfer {
    Transfer {
        id: TransferId(derived_transfer_id("ttc-issue", 0, "")),
        debit_account_id: reserve_id(TTC),
        credit_account_id: treasury_id(TTC),
        amount: u128::from(TTC_SUPPLY_UNITS),
        ledger: TTC.ledger,
        code: transfer_code::ASSET_ISSUE,
        ..Transfer::default()
    }
}

/// A price: MVP's is 1 KRW; the others' from `asset_prices`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Price {
    pub asset: Asset,
    pub krw_per_unit: Decimal,
    /// `fixed` (MVP), `operator` or `feed`.
    pub source: String,
    pub observed_at_s: u64,
}

/// A quote, as the member sees it.
pub type Quote = QuoteRow;

/// What a conversion did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Converted {
    pub quote: QuoteRow,
    /// The ids of the two ledger transfers (in, out).
    pub transfer_ids: [u128; 2],
}

/// `amount` of `from` priced at `from_price`, in `to` priced at `to_price`, less the
/// spread: rounded down (the platform never gives more than the price says). `None` when
/// the arithmetic would overflow.
pub fn converted_amount(
    amount: u64,
    (from, from_price): (Asset, Decimal),
    (to, to_price): (Asset, Decimal),
    spread_bps: u64,
) -> Option<u64> {
    // amount × fp / 10^fs / 10^fd = KRW; × 10^td × 10^ts / tp = to units; × (1 − spread).
    let numerator = u128::from(amount)
        .checked_mul(from_price.mantissa)?
        .checked_mul(10u128.checked_pow(to.decimals)?)?
        .checked_mul(10u128.checked_pow(to_price.scale)?)?
        .checked_mul(u128::from(10_000u64.checked_sub(spread_bps)?))?;
    let denominator = 10u128
        .checked_pow(from_price.scale)?
        .checked_mul(10u128.checked_pow(from.decimals)?)?
        .checked_mul(to_price.mantissa)?
        .checked_mul(10_000)?;
    if denominator == 0 {
        return None;
    }
    u64::try_from(numerator / denominator).ok()
}

impl Platform {
    /// Creates the assets' treasury and reserve accounts, issues TTC's supply once, and
    /// sets TTC's issue price when no price was ever set (the first start).
    pub(crate) async fn start_assets(&self) -> Result<(), PlatformError> {
        let results = self.ledger.create_accounts(system_accounts()).await?;
        for result in results {
            let code = result.as_str();
            if code != "ok" && code != "exists" {
                return Err(PlatformError::Unavailable(format!(
                    "cannot create the assets' accounts: {code}"
                )));
            }
        }
        let issued = self.ledger.create_transfers(vec![ttc_issue()]).await?;
        if !matches!(
            issued[0],
            CreateTransferResult::Ok | CreateTransferResult::Exists
        ) {
            let code = issued[0].as_str();
            return Err(PlatformError::Unavailable(format!(
                "TTC not issued: {code}"
            )));
        }
        let prices = self.ledger.tables(tables::prices).await?;
        if !prices.iter().any(|row| row.asset == TTC.symbol) {
            let issue = Decimal::parse(TTC_ISSUE_PRICE_KRW).expect("a decimal");
            self.set_price(TTC, issue, "operator").await?;
        }
        Ok(())
    }

    /// Every asset's price (assets without one are absent).
    pub async fn prices(&self) -> Result<Vec<Price>, PlatformError> {
        let rows = self.ledger.tables(tables::prices).await?;
        let mut prices = vec![Price {
            asset: MVP,
            krw_per_unit: Decimal {
                mantissa: 1,
                scale: 0,
            },
            source: "fixed".to_string(),
            observed_at_s: now_s(),
        }];
        for row in rows {
            let (Ok(asset), Some(krw_per_unit)) =
                (asset(&row.asset), Decimal::parse(&row.krw_per_unit))
            else {
                continue;
            };
            prices.push(Price {
                asset,
                krw_per_unit,
                source: row.source,
                observed_at_s: row.observed_at_s,
            });
        }
        Ok(prices)
    }

    /// Asks the feed for the custodial coins' prices and keeps those it answered, in one
    /// commit; answers how many.
    pub async fn refresh_prices(&self) -> Result<usize, PlatformError> {
        let Some(feed) = &self.price_feed else {
            return Ok(0);
        };
        let symbols: Vec<String> = ASSETS
            .iter()
            .filter(|asset| asset.kind == AssetKind::Custodial)
            .map(|asset| asset.symbol.to_string())
            .collect();
        let prices = feed
            .prices(&symbols)
            .await
            .map_err(|error| PlatformError::Unavailable(error.to_string()))?;
        let now = now_s();
        let rows: Vec<AssetWrite> = prices
            .into_iter()
            .filter(|price| symbols.contains(&price.asset) && !price.krw_per_unit.is_zero())
            .map(|price| {
                AssetWrite::Price(PriceRow {
                    asset: price.asset,
                    krw_per_unit: price.krw_per_unit.to_string(),
                    source: "feed".to_string(),
                    observed_at_s: price.observed_at_s.min(now),
                })
            })
            .collect();
        let count = rows.len();
        if count > 0 {
            self.commit_asset_rows(rows).await?;
        }
        Ok(count)
    }

    /// The prices that may be quoted at: every price but a feed's the feed stopped
    /// refreshing ([`FEED_PRICE_STALE_S`]).
    pub async fn fresh_prices(&self) -> Result<Vec<Price>, PlatformError> {
        let now = now_s();
        let mut prices = self.prices().await?;
        prices.retain(|price| {
            price.source != "feed" || now.saturating_sub(price.observed_at_s) <= FEED_PRICE_STALE_S
        });
        Ok(prices)
    }

    /// Creates the member's wallet of `asset` if it does not exist (MVP's always does).
    pub(crate) async fn open_wallet(
        &self,
        member_id: u128,
        asset: Asset,
    ) -> Result<(), PlatformError> {
        if asset == MVP {
            return Ok(());
        }
        let created = self
            .ledger
            .create_accounts(vec![wallet(member_id, asset)])
            .await?;
        match created[0].as_str() {
            "ok" | "exists" => Ok(()),
            code => Err(PlatformError::Unavailable(format!(
                "wallet not created: {code}"
            ))),
        }
    }

    /// Sets an asset's price (an operator's, or the feed's); MVP's is fixed.
    pub async fn set_price(
        &self,
        asset: Asset,
        krw_per_unit: Decimal,
        source: &str,
    ) -> Result<Price, PlatformError> {
        if asset.kind == AssetKind::Point {
            return Err(invalid("asset", "MVP is 1 KRW by definition"));
        }
        if krw_per_unit.is_zero() {
            return Err(invalid("krw_per_unit", "above zero"));
        }
        let row = PriceRow {
            asset: asset.symbol.to_string(),
            krw_per_unit: krw_per_unit.to_string(),
            source: source.to_string(),
            observed_at_s: now_s(),
        };
        self.commit_asset_rows(vec![AssetWrite::Price(row.clone())])
            .await?;
        Ok(Price {
            asset,
            krw_per_unit,
            source: row.source,
            observed_at_s: row.observed_at_s,
        })
    }

    /// A quote for converting `amount` of `from` into `to`, good for [`QUOTE_TTL_S`].
    pub async fn quote_conversion(
        &self,
        member_id: u128,
        from: Asset,
        to: Asset,
        amount: u64,
    ) -> Result<QuoteRow, PlatformError> {
        if from == to {
            return Err(invalid("to_asset", "another asset than from_asset"));
        }
        if !(1..=AMOUNT_UNITS_MAX).contains(&amount) {
            return Err(invalid("amount", format!("1 to {AMOUNT_UNITS_MAX}")));
        }
        let gate = self.member_gate(member_id).await?;
        gate.ok_or(PlatformError::NotFound(Entity::Member))?
            .check_may_pay()?;
        let now = now_s();
        let today_s = kst_day_start_s(now);
        let asked = self
            .ledger
            .tables(move |read| tables::quotes_since(read, member_id, today_s))
            .await?;
        if asked >= QUOTES_PER_DAY_MAX {
            return Err(AssetError::TooManyQuotes(QUOTES_PER_DAY_MAX).into());
        }
        let prices = self.fresh_prices().await?;
        let price_of = |asset: Asset| {
            prices
                .iter()
                .find(|price| price.asset == asset)
                .map(|price| price.krw_per_unit)
                .ok_or(AssetError::NoPrice(asset.symbol))
        };
        let (from_price, to_price) = (price_of(from)?, price_of(to)?);
        let to_amount = converted_amount(amount, (from, from_price), (to, to_price), SPREAD_BPS)
            .filter(|to_amount| *to_amount <= AMOUNT_UNITS_MAX)
            .ok_or_else(|| invalid("amount", "too large to convert"))?;
        if to_amount == 0 {
            return Err(AssetError::TooSmall.into());
        }
        let quote = QuoteRow {
            id: chart::new_id(),
            member_id,
            from_asset: from.symbol.to_string(),
            to_asset: to.symbol.to_string(),
            from_amount: amount,
            to_amount,
            from_price: from_price.to_string(),
            to_price: to_price.to_string(),
            spread_bps: SPREAD_BPS,
            used: false,
            created_at_s: now,
            expires_at_s: now + self.config.asset_quote_ttl_s,
            used_at_s: None,
        };
        self.commit_asset_rows(vec![AssetWrite::Quote(quote.clone())])
            .await?;
        Ok(quote)
    }

    /// Converts at a quote of the member's, once: both transfers or neither. A quote used
    /// already answers what it did; an expired one is refused.
    pub async fn convert_at_quote(
        &self,
        member_id: u128,
        quote_id: u128,
    ) -> Result<Converted, PlatformError> {
        let _claim = self.assets.converting.claim(member_id).await?;
        let quote = self
            .ledger
            .tables(move |read| tables::quote(read, quote_id))
            .await?
            .filter(|quote| quote.member_id == member_id)
            .ok_or(PlatformError::NotFound(Entity::Quote))?;
        let transfers = conversion_transfers(&quote)?;
        let ids = [transfers[0].id.0, transfers[1].id.0];
        if quote.used {
            return Ok(Converted {
                quote,
                transfer_ids: ids,
            });
        }
        if quote.expires_at_s <= now_s() {
            return Err(AssetError::QuoteExpired.into());
        }
        self.open_wallet(member_id, asset(&quote.to_asset)?).await?;
        let reward = self.trading_reward(&quote).await?;
        let mut transfers = transfers;
        if let Some(reward) = &reward {
            // The reward goes with the conversion or not at all (and it never refuses it:
            // it is balancing).
            transfers[1].flags = transfers[1].flags | TransferFlags::LINKED;
            transfers.push(reward.transfer);
        }
        let used = QuoteRow {
            used: true,
            used_at_s: Some(now_s()),
            ..quote
        };
        let mut rows = vec![Arc::new(AssetWrite::Quote(used.clone())) as RowRef];
        let committing = self.members.unless_withdrawing(member_id, || {
            self.enqueue_commit(transfers, move |outcome| {
                match (outcome.results[0], outcome.results[1]) {
                    (CreateTransferResult::Ok, CreateTransferResult::Ok) => {
                        if let Some(reward) = &reward {
                            let moved = outcome
                                .transfer(reward.transfer.id)
                                .map_or(0, |transfer| transfer.amount);
                            rows.extend(reward.grant(moved));
                        }
                        (rows, Ok(()))
                    }
                    (CreateTransferResult::ExceedsCredits, _) => {
                        (Vec::new(), Err(AssetError::InsufficientBalance))
                    }
                    (_, CreateTransferResult::ExceedsCredits) => {
                        (Vec::new(), Err(AssetError::TreasuryShort))
                    }
                    (first, second) => {
                        tracing::error!(%first, %second, "a conversion refused");
                        (Vec::new(), Err(AssetError::TreasuryShort))
                    }
                }
            })
        })?;
        committing.done().await??;
        Ok(Converted {
            quote: used,
            transfer_ids: ids,
        })
    }

    /// The member's balance of every asset (zero where no wallet exists yet).
    pub async fn asset_balances(
        &self,
        member_id: u128,
    ) -> Result<Vec<(Asset, crate::members::Balance)>, PlatformError> {
        let ids = ASSETS
            .iter()
            .map(|asset| wallet_id(member_id, *asset))
            .collect();
        let accounts = self.ledger.lookup_accounts(ids).await?;
        Ok(ASSETS
            .iter()
            .map(|asset| {
                let id = wallet_id(member_id, *asset);
                let balance = accounts
                    .iter()
                    .find(|account| account.id == id)
                    .map(crate::members::Balance::of)
                    .unwrap_or_default();
                (*asset, balance)
            })
            .collect())
    }

    /// Records coins deposited at the custodian into the treasury (reserve → treasury),
    /// once per `reference`; answers the transfer's id.
    pub async fn deposit_to_treasury(
        &self,
        asset: Asset,
        amount: u64,
        reference: &str,
    ) -> Result<u128, PlatformError> {
        if asset.kind != AssetKind::Custodial {
            return Err(invalid("asset", "BTC, ETH or USDT (a custodial coin)"));
        }
        if !(1..=AMOUNT_UNITS_MAX).contains(&amount) {
            return Err(invalid("amount", format!("1 to {AMOUNT_UNITS_MAX}")));
        }
        let reference_ok = !reference.is_empty()
            && reference.len() <= DEPOSIT_REFERENCE_BYTES_MAX
            && reference.bytes().all(|byte| byte.is_ascii_graphic());
        if !reference_ok {
            let detail = format!("1 to {DEPOSIT_REFERENCE_BYTES_MAX} visible ASCII characters");
            return Err(invalid("reference", detail));
        }
        let transfer = Transfer {
            id: TransferId(derived_transfer_id(
                "asset-deposit",
                u128::from(asset.ledger),
                reference,
            )),
            debit_account_id: reserve_id(asset),
            credit_account_id: treasury_id(asset),
            amount: u128::from(amount),
            ledger: asset.ledger,
            code: transfer_code::ASSET_ISSUE,
            ..Transfer::default()
        };
        let id = transfer.id.0;
        let result = self.ledger.create_transfers(vec![transfer]).await?;
        match result[0] {
            CreateTransferResult::Ok | CreateTransferResult::Exists => Ok(id),
            other => Err(invalid(
                "reference",
                format!("used already for another deposit ({})", other.as_str()),
            )),
        }
    }

    async fn commit_asset_rows(&self, writes: Vec<AssetWrite>) -> Result<(), PlatformError> {
        let rows: Vec<RowRef> = writes
            .into_iter()
            .map(|write| Arc::new(write) as RowRef)
            .collect();
        self.enqueue_commit(Vec::new(), move |_| (rows, ()))?
            .done()
            .await
    }
}

/// The quote's two linked transfers: the member's `from` into the treasury, the
/// treasury's `to` to the member.
fn conversion_transfers(quote: &QuoteRow) -> Result<Vec<Transfer>, PlatformError> {
    let (from, to) = (asset(&quote.from_asset)?, asset(&quote.to_asset)?);
    let inbound = Transfer {
        id: TransferId(derived_transfer_id("asset-in", quote.id, "")),
        debit_account_id: wallet_id(quote.member_id, from),
        credit_account_id: treasury_id(from),
        amount: u128::from(quote.from_amount),
        user_data_128: quote.id,
        ledger: from.ledger,
        code: transfer_code::ASSET_CONVERSION,
        flags: TransferFlags::LINKED,
        ..Transfer::default()
    };
    let outbound = Transfer {
        id: TransferId(derived_transfer_id("asset-out", quote.id, "")),
        debit_account_id: treasury_id(to),
        credit_account_id: wallet_id(quote.member_id, to),
        amount: u128::from(quote.to_amount),
        user_data_128: quote.id,
        ledger: to.ledger,
        code: transfer_code::ASSET_CONVERSION,
        ..Transfer::default()
    };
    Ok(vec![inbound, outbound])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(text: &str) -> Decimal {
        Decimal::parse(text).unwrap()
    }

    #[test]
    fn conversions_round_down_after_the_spread() {
        // 10,000 MVP into TTC at 100 KRW: 100 TTC = 1,000,000 units, less 1 %.
        let ttc = converted_amount(10_000, (MVP, price("1")), (TTC, price("100")), 100);
        assert_eq!(ttc, Some(990_000));
        // 1 TTC (10,000 units) back into MVP: 100 MVP less 1 %.
        let mvp = converted_amount(10_000, (TTC, price("100")), (MVP, price("1")), 100);
        assert_eq!(mvp, Some(99));
        // 1,000,000 MVP into BTC at 143,250,000.5 KRW: 0.0069808 BTC, in satoshis.
        let sats = converted_amount(1_000_000, (MVP, price("1")), (BTC, price("143250000.5")), 0);
        assert_eq!(sats, Some(698_080));
        // No spread, no rounding: 1 MVP into 1 MVP-priced asset is 1.
        assert_eq!(
            converted_amount(1, (MVP, price("1")), (TTC, price("0.0001")), 0),
            Some(10_000 * 10_000)
        );
        // Too small to give a unit, and too large to compute.
        assert_eq!(
            converted_amount(1, (MVP, price("1")), (BTC, price("143250000")), 0),
            Some(0)
        );
        assert_eq!(
            converted_amount(
                u64::MAX,
                (BTC, price("99999999999999999999")),
                (ETH, price("0.000000000000000001")),
                0
            ),
            None
        );
        // A zero price is never divided by.
        assert_eq!(
            converted_amount(1, (MVP, price("1")), (TTC, price("0")), 0),
            None
        );
    }

    #[test]
    fn wallets_of_other_assets_are_distinct_member_ids() {
        let member = chart::new_id();
        let ids: Vec<AccountId> = ASSETS
            .iter()
            .map(|asset| wallet_id(member, *asset))
            .collect();
        assert_eq!(ids[0], AccountId(member));
        for (index, id) in ids.iter().enumerate() {
            assert_eq!(id.0 & chart::SYSTEM_ACCOUNT_BASE, 0);
            assert!(ids[index + 1..].iter().all(|other| other != id));
        }
        assert_eq!(wallet_id(member, TTC), wallet_id(member, TTC));
    }
}
