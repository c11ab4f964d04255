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

use crate::error::Entity;
use std::collections::{BTreeMap, HashMap};

use ledger::types::{AccountId, CreateTransferResult, Transfer, TransferId};
use serde::{Deserialize, Serialize};

use crate::chart::{self, transfer_code};
use crate::domain::{self, State, id_key};
use crate::error::{PlatformError, invalid};
use crate::service::Platform;
use crate::van::{
    AuthorizationStatus, CancelKind, CancelStatus, KIND_AUTHORIZATION, derived_transfer_id,
};
use ports::time::now_s;

pub const KIND_SETTLEMENT: &str = "settlement";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettlementStatus {
    /// Recorded; its ledger transfers may not all be made yet.
    Pending,
    /// The ledger moved every line.
    Settled,
    /// The operator confirmed the KRW payout.
    Paid,
}

impl SettlementStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SettlementStatus::Pending => "pending",
            SettlementStatus::Settled => "settled",
            SettlementStatus::Paid => "paid",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementLine {
    pub merchant_id: u128,
    pub captured: u64,
    pub refunded: u64,
    pub gross: u64,
    pub fee_bps: u32,
    pub fee: u64,
    pub net: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementRecord {
    pub id: u128,
    pub until_s: u64,
    pub status: SettlementStatus,
    pub lines: Vec<SettlementLine>,
    pub created_at_s: u64,
    pub paid_at_s: Option<u64>,
}

#[derive(Default)]
pub struct SettlementState {
    pub runs: HashMap<u128, SettlementRecord>,
    pub run_by_until: HashMap<u64, u128>,
}

impl SettlementState {
    pub fn insert(&mut self, record: SettlementRecord) {
        self.run_by_until.insert(record.until_s, record.id);
        self.runs.insert(record.id, record);
    }
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

/// Per merchant: (captured, refunded) of the items up to `until_s` that no run took.
fn open_items(state: &State, until_s: u64) -> BTreeMap<u128, (u64, u64)> {
    let mut sums: BTreeMap<u128, (u64, u64)> = BTreeMap::new();
    for record in state.van.authorizations.values() {
        let captured = record.status == AuthorizationStatus::Captured
            && record.settlement_id.is_none()
            && record.captured_at_s.is_some_and(|at| at <= until_s);
        if captured {
            sums.entry(record.merchant_id).or_default().0 += record.captured_amount;
        }
        for cancel in record.cancels.iter().filter(|c| refund_open(c, until_s)) {
            sums.entry(record.merchant_id).or_default().1 += cancel.amount;
        }
    }
    sums
}

fn refund_open(cancel: &crate::van::CancelEntry, until_s: u64) -> bool {
    cancel.kind == CancelKind::Refund
        && cancel.status == CancelStatus::Done
        && cancel.settlement_id.is_none()
        && cancel.created_at_s <= until_s
}

impl Platform {
    /// Closes every merchant's items up to `until_s` into one run (the same run for the
    /// same cut-off) and moves its value.
    pub async fn settle(&self, until_s: u64) -> Result<SettlementRecord, PlatformError> {
        if until_s > now_s() {
            return Err(invalid("until", "must not be in the future"));
        }
        let (record, sequence) = {
            let mut state = self.lock();
            match state.settlements.run_by_until.get(&until_s) {
                Some(id) => (state.settlements.runs[id].clone(), self.writer.enqueued()),
                None => self.begin_settlement(&mut state, until_s)?,
            }
        };
        self.durable(sequence).await?;
        if record.status != SettlementStatus::Pending {
            return Ok(record);
        }
        self.finish_settlement(record).await
    }

    fn begin_settlement(
        &self,
        state: &mut State,
        until_s: u64,
    ) -> Result<(SettlementRecord, u64), PlatformError> {
        let id = chart::new_id();
        let mut lines = Vec::new();
        for (merchant_id, (captured, refunded)) in open_items(state, until_s) {
            let Some(gross) = captured.checked_sub(refunded).filter(|gross| *gross > 0) else {
                continue;
            };
            let fee_bps = state
                .merchants
                .merchants
                .get(&merchant_id)
                .map_or(0, |m| m.fee_bps);
            let fee = fee_of(gross, fee_bps);
            lines.push(SettlementLine {
                merchant_id,
                captured,
                refunded,
                gross,
                fee_bps,
                fee,
                net: gross - fee,
            });
        }
        let record = SettlementRecord {
            id,
            until_s,
            status: SettlementStatus::Pending,
            lines,
            created_at_s: now_s(),
            paid_at_s: None,
        };
        let mut writes = vec![domain::put(KIND_SETTLEMENT, &id_key(id), &record)];
        let merchants: std::collections::HashSet<u128> =
            record.lines.iter().map(|l| l.merchant_id).collect();
        let mut changed = Vec::new();
        for authorization in state.van.authorizations.values() {
            if !merchants.contains(&authorization.merchant_id) {
                continue;
            }
            let mut taken = authorization.clone();
            let captured = taken.status == AuthorizationStatus::Captured
                && taken.settlement_id.is_none()
                && taken.captured_at_s.is_some_and(|at| at <= until_s);
            if captured {
                taken.settlement_id = Some(id);
            }
            for cancel in taken.cancels.iter_mut().filter(|c| refund_open(c, until_s)) {
                cancel.settlement_id = Some(id);
            }
            if taken != *authorization {
                writes.push(domain::put(KIND_AUTHORIZATION, &id_key(taken.id), &taken));
                changed.push(taken);
            }
        }
        let sequence = self.queue(writes)?;
        for taken in changed {
            state.van.insert(taken);
        }
        state.settlements.insert(record.clone());
        Ok((record, sequence))
    }

    /// Makes a pending run's transfers (found, not repeated, when made before) and records
    /// it settled.
    async fn finish_settlement(
        &self,
        record: SettlementRecord,
    ) -> Result<SettlementRecord, PlatformError> {
        let mut transfers = Vec::new();
        for line in &record.lines {
            let movements = [
                (
                    net_transfer_id(record.id, line.merchant_id),
                    chart::SETTLEMENT_CLEARING_ACCOUNT,
                    line.net,
                    transfer_code::SETTLEMENT,
                ),
                (
                    fee_transfer_id(record.id, line.merchant_id),
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
                    user_data_128: record.id,
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
        self.change_settlement(record.id, |run| {
            if run.status == SettlementStatus::Pending {
                run.status = SettlementStatus::Settled;
            }
            Ok(())
        })
        .await
    }

    async fn change_settlement(
        &self,
        id: u128,
        change: impl FnOnce(&mut SettlementRecord) -> Result<(), PlatformError>,
    ) -> Result<SettlementRecord, PlatformError> {
        let (record, sequence) = {
            let mut state = self.lock();
            let mut record = state
                .settlements
                .runs
                .get(&id)
                .ok_or(PlatformError::NotFound(Entity::Settlement))?
                .clone();
            change(&mut record)?;
            let write = domain::put(KIND_SETTLEMENT, &id_key(id), &record);
            let sequence = self.queue(vec![write])?;
            state.settlements.insert(record.clone());
            (record, sequence)
        };
        self.durable(sequence).await?;
        Ok(record)
    }

    /// The operator confirms the KRW payout of a settled run.
    pub async fn settlement_paid(&self, id: u128) -> Result<SettlementRecord, PlatformError> {
        let now = now_s();
        self.change_settlement(id, |run| match run.status {
            SettlementStatus::Pending => Err(PlatformError::AuthorizationState(
                "the settlement's transfers are not all made yet".into(),
            )),
            SettlementStatus::Settled => {
                run.status = SettlementStatus::Paid;
                run.paid_at_s = Some(now);
                Ok(())
            }
            SettlementStatus::Paid => Ok(()),
        })
        .await
    }

    /// Every run, oldest first.
    pub async fn settlements(&self) -> Result<Vec<SettlementRecord>, PlatformError> {
        self.settle_reads().await?;
        let state = self.lock();
        let mut runs: Vec<SettlementRecord> = state.settlements.runs.values().cloned().collect();
        runs.sort_by_key(|run| (run.created_at_s, run.until_s, run.id));
        Ok(runs)
    }

    /// Every authorization with value (approved), oldest first, for the payments report.
    pub async fn payments(&self) -> Result<Vec<crate::van::AuthorizationRecord>, PlatformError> {
        self.settle_reads().await?;
        let state = self.lock();
        let mut list: Vec<_> = state
            .van
            .authorizations
            .values()
            .filter(|record| record.approved())
            .cloned()
            .collect();
        list.sort_by_key(|record| (record.created_at_s, record.id));
        Ok(list)
    }

    /// At start: finishes every run a crash left pending.
    pub(crate) async fn resolve_pending_settlements(&self) -> Result<(), PlatformError> {
        let pending: Vec<SettlementRecord> = self
            .lock()
            .settlements
            .runs
            .values()
            .filter(|run| run.status == SettlementStatus::Pending)
            .cloned()
            .collect();
        for run in pending {
            self.finish_settlement(run).await?;
        }
        Ok(())
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
