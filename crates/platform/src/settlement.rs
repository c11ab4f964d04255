//! Settlement with merchants (MV-6): a run closes every merchant's captured payments and
//! refunds up to a cut-off that no earlier run took. Per merchant: gross = captured −
//! refunded in the run, fee = gross × fee_bps / 10,000 rounded down, net = gross − fee. The
//! ledger moves the net from the merchant payable to settlement clearing (paid out in KRW
//! out of band) and the fee to platform fees. A merchant whose refunds in the run exceed its
//! captures is left out of that run (its items wait for the next).
//!
//! The run is recorded (pending, with every item marked as taken) before its transfers;
//! their ids derive from the run and merchant, so finishing a run again (a retry, or the
//! restart) finds them instead of repeating them. The same cut-off again is the same run.
//!
//! Runs and their lines live in their tables (`store::tables::settlements`); memory keeps
//! nothing of them. One run operation at a time (`Settlements`): a run is planned, finished
//! or marked paid under that lock, which keeps "the same cut-off is the same run" true.

mod legacy;

use crate::payments::error::PaymentError;
use std::sync::Arc;

use ledger::types::{AccountId, CreateTransferResult, Transfer, TransferId};
use store::tables::RowRef;
use store::tables::settlements::{self as tables, SettlementWrite};

use crate::authorization::derived_transfer_id;
use crate::chart::{self, transfer_code};
use crate::error::{Entity, PlatformError, invalid};
use crate::service::Platform;
use ports::time::now_s;
use store::tables::payments::{self as payment_tables, settlement::MerchantSums};

pub use legacy::KIND_SETTLEMENT;
pub(crate) use legacy::legacy_row;
pub use store::tables::settlements::{
    SettlementLine, SettlementRun as SettlementRecord, SettlementStatus,
};

/// Runs listed at once (newest first, shown oldest first).
pub const SETTLEMENTS_LISTED_MAX: usize = tables::SETTLEMENTS_PAGE_MAX;
/// Pending runs read per page at start.
const PENDING_PAGE_MAX: usize = 64;

/// The settlement context's lock: one run operation at a time.
#[derive(Default)]
pub struct Settlements {
    runs: tokio::sync::Mutex<()>,
}

/// Fee of a gross amount, rounded down; never more than the gross (a rate above 100% is
/// refused when a merchant is created or changed, and capped here).
pub fn fee_of(gross: u64, fee_bps: u32) -> u64 {
    let fee = u128::from(gross) * u128::from(fee_bps.min(crate::merchants::FEE_BPS_MAX)) / 10_000;
    u64::try_from(fee).expect("a fee of at most 100% fits the gross")
}

fn net_transfer_id(settlement_id: u128, merchant_id: u128) -> u128 {
    derived_transfer_id("settlement-net", settlement_id, &merchant_id.to_string())
}

fn fee_transfer_id(settlement_id: u128, merchant_id: u128) -> u128 {
    derived_transfer_id("settlement-fee", settlement_id, &merchant_id.to_string())
}

/// A settlement line of a merchant's sums; `None` when nothing is owed (refunds at least
/// the captures: the items wait for a later run).
fn line_of(sums: &MerchantSums, fee_bps: u32) -> Option<SettlementLine> {
    let gross = sums
        .captured
        .checked_sub(sums.refunded)
        .filter(|gross| *gross > 0)?;
    let fee = fee_of(gross, fee_bps);
    Some(SettlementLine {
        merchant_id: sums.merchant_id,
        captured: sums.captured,
        refunded: sums.refunded,
        gross,
        fee_bps,
        fee,
        net: gross - fee,
    })
}

impl Platform {
    /// Closes every merchant's items up to `until_s` into one run (the same run for the
    /// same cut-off) and moves its value.
    pub async fn settle(&self, until_s: u64) -> Result<SettlementRecord, PlatformError> {
        if until_s > now_s() {
            return Err(invalid("until", "must not be in the future"));
        }
        let _runs = self.settlements.runs.lock().await;
        let known = self
            .ledger
            .tables(move |read| tables::run_by_until(read, until_s))
            .await?;
        let record = match known {
            Some(record) => record,
            None => self.plan_settlement(until_s).await?,
        };
        if record.status != SettlementStatus::Pending {
            return Ok(record);
        }
        self.finish_settlement(record).await
    }

    /// The fee rate of each merchant of `sums`, read (through the merchants' cache) before
    /// the lines are made.
    async fn lines_of(
        &self,
        run_id: u128,
        sums: &[MerchantSums],
    ) -> Result<Vec<SettlementLine>, PlatformError> {
        let mut lines = Vec::with_capacity(sums.len());
        for merchant_sums in sums {
            let merchant = self.merchant_gate(merchant_sums.merchant_id).await?;
            let fee_bps = merchant.map_or(0, |merchant| merchant.fee_bps);
            match line_of(merchant_sums, fee_bps) {
                Some(line) => lines.push(line),
                None => tracing::debug!(
                    merchant = merchant_sums.merchant_id,
                    run = run_id,
                    "nothing owed to the merchant in this run"
                ),
            }
        }
        Ok(lines)
    }

    /// Writes the run (with its lines) and waits until it is durable.
    async fn write_run(&self, record: &SettlementRecord) -> Result<(), PlatformError> {
        let row: RowRef = Arc::new(SettlementWrite::Run(record.clone()));
        Ok(self.ledger.record(vec![row]).await?)
    }

    /// Records a new run (pending) with the lines its open items make now: the merchants
    /// it will settle. Nothing is marked yet.
    async fn plan_settlement(&self, until_s: u64) -> Result<SettlementRecord, PlatformError> {
        let sums = self
            .ledger
            .tables(move |read| payment_tables::unsettled_sums(read, until_s))
            .await?;
        let id = chart::new_id();
        let record = SettlementRecord {
            id,
            until_s,
            status: SettlementStatus::Pending,
            lines: self.lines_of(id, &sums).await?,
            created_at_s: now_s(),
            paid_at_s: None,
        };
        self.write_run(&record).await?;
        Ok(record)
    }

    /// Marks the run's items of each of its merchants in chunks (each its own commit; a
    /// crash leaves the rest for the next try), computes the lines from what was marked,
    /// makes their transfers (found, not repeated, when made before) and records the run
    /// settled.
    async fn finish_settlement(
        &self,
        record: SettlementRecord,
    ) -> Result<SettlementRecord, PlatformError> {
        for line in &record.lines {
            self.mark_settlement_items(record.id, line.merchant_id, record.until_s)
                .await?;
        }
        let run_id = record.id;
        let sums = self
            .ledger
            .tables(move |read| payment_tables::settled_sums(read, run_id))
            .await?;
        let lines = self.lines_of(run_id, &sums).await?;
        if lines.len() < sums.len() {
            tracing::warn!(run = run_id, "refunds marked for a run exceed its captures");
        }
        self.move_settlement(run_id, &lines).await?;
        self.change_settlement(run_id, |run| {
            if run.status == SettlementStatus::Pending {
                run.lines = lines;
                run.status = SettlementStatus::Settled;
            }
            Ok(())
        })
        .await
    }

    async fn mark_settlement_items(
        &self,
        run_id: u128,
        merchant_id: u128,
        until_s: u64,
    ) -> Result<(), PlatformError> {
        loop {
            let unsettled = self
                .ledger
                .tables(move |read| payment_tables::has_unsettled(read, merchant_id, until_s))
                .await?;
            if !unsettled {
                return Ok(());
            }
            let mark = payment_tables::SettlementMark {
                run_id,
                merchant_id,
                until_s,
                chunk: payment_tables::SETTLEMENT_CHUNK_MAX,
            };
            self.ledger.record(vec![std::sync::Arc::new(mark)]).await?;
        }
    }

    async fn move_settlement(
        &self,
        run_id: u128,
        lines: &[SettlementLine],
    ) -> Result<(), PlatformError> {
        let mut transfers = Vec::new();
        for line in lines {
            let movements = [
                (
                    net_transfer_id(run_id, line.merchant_id),
                    chart::SETTLEMENT_CLEARING_ACCOUNT,
                    line.net,
                    transfer_code::SETTLEMENT,
                ),
                (
                    fee_transfer_id(run_id, line.merchant_id),
                    chart::PLATFORM_FEES_ACCOUNT,
                    line.fee,
                    transfer_code::FEE,
                ),
            ];
            for (id, credit, amount, code) in movements {
                if amount == 0 {
                    continue;
                }
                transfers.push(Transfer {
                    id: TransferId(id),
                    debit_account_id: AccountId(line.merchant_id),
                    credit_account_id: credit,
                    amount: u128::from(amount),
                    user_data_128: run_id,
                    ledger: chart::LEDGER_MVP,
                    code,
                    ..Transfer::default()
                });
            }
        }
        for chunk in transfers.chunks(journal::sequencer::BATCH_EVENTS_MAX) {
            let results = self.ledger.create_transfers(chunk.to_vec()).await?;
            let refused = results
                .iter()
                .find(|r| !matches!(r, CreateTransferResult::Ok | CreateTransferResult::Exists));
            if let Some(result) = refused {
                return Err(PlatformError::Unavailable(format!(
                    "settlement transfer refused: {result}; retry the run"
                )));
            }
        }
        Ok(())
    }

    async fn change_settlement(
        &self,
        id: u128,
        change: impl FnOnce(&mut SettlementRecord) -> Result<(), PlatformError>,
    ) -> Result<SettlementRecord, PlatformError> {
        let mut record = self
            .ledger
            .tables(move |read| tables::run(read, id))
            .await?
            .ok_or(PlatformError::NotFound(Entity::Settlement))?;
        change(&mut record)?;
        self.write_run(&record).await?;
        Ok(record)
    }

    /// The operator confirms the KRW payout of a settled run.
    pub async fn settlement_paid(&self, id: u128) -> Result<SettlementRecord, PlatformError> {
        let now = now_s();
        let _runs = self.settlements.runs.lock().await;
        self.change_settlement(id, |run| match run.status {
            SettlementStatus::Pending => {
                Err(PlatformError::Payment(PaymentError::AuthorizationState(
                    "the settlement's transfers are not all made yet".into(),
                )))
            }
            SettlementStatus::Settled => {
                run.status = SettlementStatus::Paid;
                run.paid_at_s = Some(now);
                Ok(())
            }
            SettlementStatus::Paid => Ok(()),
        })
        .await
    }

    /// The newest runs, at most [`SETTLEMENTS_LISTED_MAX`], oldest first.
    pub async fn settlements(&self) -> Result<Vec<SettlementRecord>, PlatformError> {
        let mut runs = self
            .ledger
            .tables(|read| tables::runs_page(read, None, SETTLEMENTS_LISTED_MAX))
            .await?;
        runs.reverse();
        Ok(runs)
    }

    /// One page of every authorization with value (approved), oldest first, after the
    /// keyset cursor `(created_at_s, id)`: the payments report reads them page by page.
    pub async fn payments_page(
        &self,
        after: Option<(u64, u128)>,
        limit: usize,
    ) -> Result<Vec<crate::authorization::AuthorizationRecord>, PlatformError> {
        // The page and its cancels in one read, on one connection.
        let rows = self
            .ledger
            .tables(move |read| {
                let rows = payment_tables::reports::approved_page(read, after, limit)?;
                rows.into_iter()
                    .map(|row| crate::payments::read_authorization(read, row))
                    .collect::<Result<Vec<_>, store::StoreError>>()
            })
            .await?;
        Ok(rows)
    }

    /// At start: finishes every run a crash left pending.
    pub(crate) async fn resolve_pending_settlements(&self) -> Result<(), PlatformError> {
        let _runs = self.settlements.runs.lock().await;
        loop {
            // Each run finished leaves the pending index, so the first page is the next.
            let pending = self
                .ledger
                .tables(|read| tables::pending_runs(read, None, PENDING_PAGE_MAX))
                .await?;
            if pending.is_empty() {
                return Ok(());
            }
            for run in pending {
                self.finish_settlement(run).await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fee_of;

    #[test]
    fn fees_round_down_and_reach_the_whole_at_the_maximum() {
        assert_eq!(fee_of(10_000, 250), 250);
        assert_eq!(fee_of(399, 250), 9);
        assert_eq!(fee_of(1, 9_999), 0);
        assert_eq!(fee_of(12_345, crate::merchants::FEE_BPS_MAX), 12_345);
        assert_eq!(fee_of(u64::MAX, crate::merchants::FEE_BPS_MAX), u64::MAX);
    }
}
