//! The escrow timeout sweep (a housekeeping chore): open offers and taken trades past
//! their deadline get each lock voided and end `expired`, at most
//! [`TRADES_PER_SWEEP_MAX`] per run. Each trade is one commit under its claim, read again
//! under it: a trade a step changed meanwhile (taken, completed, disputed) is left alone,
//! and a trade voided once is `expired`, so it is never voided twice (the void's id is
//! derived from the trade besides). A disputed trade is not due: its locks sit posted in
//! escrow for the operator.

use store::tables::escrow::{self as tables, TradeStatus};

use crate::error::PlatformError;
use crate::service::Platform;
use ports::time::now_s;

/// Trades expired per sweep; the next sweep takes the rest.
pub const TRADES_PER_SWEEP_MAX: usize = 100;

impl Platform {
    /// Voids the locks of trades past their deadline; answers how many expired.
    pub async fn expire_due_trades(&self) -> Result<u64, PlatformError> {
        let now = now_s();
        let due = self
            .ledger
            .tables(move |read| tables::due_trades(read, now, TRADES_PER_SWEEP_MAX))
            .await?;
        let mut expired = 0;
        for found in due {
            let _claim = self.escrow.trades.claim(found.id).await?;
            let trade = self.trade_row(found.id).await?;
            let open = matches!(trade.status, TradeStatus::Open | TradeStatus::Taken);
            if !open || trade.deadline_s > now_s() {
                continue;
            }
            self.void_trade(trade, TradeStatus::Expired).await?;
            expired += 1;
        }
        Ok(expired)
    }
}
