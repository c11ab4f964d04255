//! The token economy view (MV-11): MVP issued and outstanding against the MVC supply, the
//! conversions between them, the rewards claimed, and how far MVP issuance is from the
//! seed's mark of 30,000,000,000 MVP (ten times the 3,000,000,000 MVC cap: past it, the
//! seed expects MVC to gain on MVP).

use ledger::types::AccountId;

use crate::Platform;
use crate::chart;
use crate::conversion::ConversionStatus;
use crate::error::PlatformError;
use ports::chain::TokenFigures;

/// The seed's mark for MVP issued (seed 000, section 5-3).
pub const MVP_MARK: u64 = 30_000_000_000;
/// The MVC cap, in whole MVC.
pub const MVC_CAP: u64 = 3_000_000_000;
/// Accounts read from the ledger per lookup while summing wallets.
const LOOKUP_BATCH_MAX: usize = 8_190;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenEconomy {
    /// MVP ever credited to members by exchanges (issued against partners' mileage).
    pub mvp_issued: u128,
    /// MVP members hold now (posted balances, holds included).
    pub mvp_outstanding: u128,
    /// MVP converted to MVC (completed conversions) and held by conversions in flight.
    pub mvp_converted: u128,
    pub mvp_converting: u128,
    /// MVC released for completed conversions, in wei.
    pub mvc_converted_wei: u128,
    pub conversions_completed: u64,
    pub conversions_failed: u64,
    pub conversions_open: u64,
    /// Issued MVP as a share of the mark, in basis points (10,000 = the mark reached).
    pub mvp_mark_bps: u64,
    /// MVC figures from the chain; `None` without a chain, or when it cannot be read
    /// (`chain_error` says why).
    pub chain: Option<TokenFigures>,
    pub chain_error: Option<String>,
}

impl Platform {
    /// The token economy now. Sums every member wallet and every conversion (O(members +
    /// conversions), a page at a time).
    pub async fn token_economy(&self) -> Result<TokenEconomy, PlatformError> {
        self.settle_reads().await?;
        let mut economy = TokenEconomy {
            mvp_issued: self.exchanges.issued_mvp(),
            ..TokenEconomy::default()
        };
        self.each_conversion(|conversion| {
            let mvp = u128::from(conversion.mvp);
            match conversion.status {
                ConversionStatus::Completed => {
                    economy.conversions_completed += 1;
                    economy.mvp_converted += mvp;
                    economy.mvc_converted_wei += conversion.mvc_wei;
                }
                ConversionStatus::Failed => economy.conversions_failed += 1,
                ConversionStatus::Requested => {
                    economy.conversions_open += 1;
                    economy.mvp_converting += mvp;
                }
            }
        })
        .await?;
        economy.mvp_outstanding = self.sum_wallets().await?;
        let mark_bps = economy.mvp_issued * 10_000 / u128::from(MVP_MARK);
        economy.mvp_mark_bps = u64::try_from(mark_bps).unwrap_or(u64::MAX);
        if let Some(chain) = &self.chain {
            match chain.token_figures().await {
                Ok(figures) => economy.chain = Some(figures),
                Err(error) => economy.chain_error = Some(error.to_string()),
            }
        }
        Ok(economy)
    }

    /// Walks the members table a page at a time (bounded memory, time O(members)).
    async fn sum_wallets(&self) -> Result<u128, PlatformError> {
        let mut total: u128 = 0;
        let mut after = None;
        loop {
            let page = self.member_ids_after(after).await?;
            let Some(&last) = page.last() else {
                return Ok(total);
            };
            after = Some(last);
            for batch in page.chunks(LOOKUP_BATCH_MAX) {
                let ids = batch.iter().map(|id| AccountId(*id)).collect();
                let accounts = self.ledger.lookup_accounts(ids).await?;
                total += accounts
                    .iter()
                    .filter(|account| account.code == chart::account_code::MEMBER_WALLET)
                    .map(|account| account.credits_posted.saturating_sub(account.debits_posted))
                    .sum::<u128>();
            }
        }
    }
}
