//! The conversion saga past its `requested` row: hold the MVP, release the MVC at the
//! bridge, post or void the hold, and record the outcome; and the resolver that drives
//! the conversions whose outcome is not known yet.

use std::sync::Arc;
use std::time::Duration;

use ledger::types::{AccountId, CreateTransferResult, Transfer, TransferFlags, TransferId};
use ports::chain::{ChainError, ChainTx, ReleaseState};
use ports::time::{now_ms, now_s};

use super::{
    CONVERSION_SWEEP_MAX, ConversionRecord, ConversionStatus, conversion_row,
    conversion_transfer_id,
};
use crate::Platform;
use crate::chart::{self, transfer_code};

/// Where a release landed on chain (the hash only when this platform saw the receipt).
#[derive(Clone, Copy, Debug, Default)]
struct ChainOutcome {
    tx_hash: Option<[u8; 32]>,
    block_number: Option<u64>,
}

impl Platform {
    /// Drives one conversion as far as it goes; the caller took it as driven. Whatever is
    /// unknown is left for the resolver.
    pub(super) async fn drive_conversion(&self, id: u128) {
        let record = match self.stored_conversion(id).await {
            Ok(Some(record)) => record,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(conversion = %id, %error, "conversion not read; will retry");
                self.schedule_conversion_retry(id);
                return;
            }
        };
        if record.status != ConversionStatus::Requested {
            self.conversions.work().open.remove(&id);
            return;
        }
        if let Err(reason) = self.conversion_step(&record).await {
            tracing::warn!(conversion = %id, %reason, "conversion not finished yet; will retry");
            self.schedule_conversion_retry(id);
        }
    }

    async fn conversion_step(&self, record: &ConversionRecord) -> Result<(), String> {
        if !self.hold(record).await? {
            let reason = Some("insufficient_balance".to_string());
            let outcome = ChainOutcome::default();
            return self
                .finish_conversion(record, ConversionStatus::Failed, reason, outcome)
                .await;
        }
        let chain = self.chain().map_err(|error| error.to_string())?.clone();
        let bridge_id = record.bridge_id();
        let state = chain
            .release_state(bridge_id)
            .await
            .map_err(|e| e.to_string())?;
        let released = match state {
            ReleaseState::Released { block_number, .. } => Ok(Some(block_number)),
            ReleaseState::Cancelled => Ok(None),
            ReleaseState::Unknown => {
                match chain
                    .release(bridge_id, record.address, record.mvc_wei)
                    .await
                {
                    Ok(tx) => return self.complete_conversion(record, Some(tx), None).await,
                    Err(ChainError::Rejected(reason)) => {
                        self.cancel_at_bridge(record, &reason).await
                    }
                    Err(error) => Err(error.to_string()),
                }
            }
        }?;
        match released {
            Some(block_number) => {
                self.complete_conversion(record, None, Some(block_number))
                    .await
            }
            None => {
                self.fail_conversion(record, "release_cancelled".into())
                    .await
            }
        }
    }

    /// After the bridge refused a release: cancel the id there so no release can follow,
    /// and report whether it was released after all (`Some(block)`) or is dead (`None`).
    async fn cancel_at_bridge(
        &self,
        record: &ConversionRecord,
        reason: &str,
    ) -> Result<Option<u64>, String> {
        tracing::warn!(conversion = %record.id, %reason, "the bridge refused the release; cancelling");
        let chain = self.chain().map_err(|error| error.to_string())?.clone();
        match chain.cancel_release(record.bridge_id()).await {
            Ok(()) => Ok(None),
            // Refused: it was released (by an earlier attempt); find where.
            Err(ChainError::Rejected(_)) => match chain.release_state(record.bridge_id()).await {
                Ok(ReleaseState::Released { block_number, .. }) => Ok(Some(block_number)),
                Ok(other) => Err(format!(
                    "bridge refused both release and cancel ({other:?})"
                )),
                Err(error) => Err(error.to_string()),
            },
            Err(error) => Err(error.to_string()),
        }
    }

    /// Holds the MVP (pending transfer member → bridge, id = conversion id). `false` when
    /// the member does not have it.
    async fn hold(&self, record: &ConversionRecord) -> Result<bool, String> {
        let transfer = Transfer {
            id: TransferId(record.id),
            debit_account_id: AccountId(record.member_id),
            credit_account_id: chart::BRIDGE_ACCOUNT,
            amount: u128::from(record.mvp),
            user_data_128: record.id,
            ledger: chart::LEDGER_MVP,
            code: transfer_code::CONVERSION,
            flags: TransferFlags::PENDING,
            ..Transfer::default()
        };
        match self.transfer_once(transfer).await? {
            CreateTransferResult::Ok | CreateTransferResult::Exists => Ok(true),
            // `id_already_failed`: a retry of a hold the ledger refused for the balance.
            CreateTransferResult::ExceedsCredits | CreateTransferResult::IdAlreadyFailed => {
                Ok(false)
            }
            other => Err(format!("the hold was refused: {}", other.as_str())),
        }
    }

    /// The post (`post`) or the void of the hold.
    fn hold_resolution(record: &ConversionRecord, post: bool) -> Transfer {
        let (step, flags) = if post {
            (1, TransferFlags::POST_PENDING_TRANSFER)
        } else {
            (2, TransferFlags::VOID_PENDING_TRANSFER)
        };
        Transfer {
            id: TransferId(conversion_transfer_id(record.id, step)),
            debit_account_id: AccountId(record.member_id),
            credit_account_id: chart::BRIDGE_ACCOUNT,
            amount: u128::from(record.mvp),
            pending_id: TransferId(record.id),
            user_data_128: record.id,
            ledger: chart::LEDGER_MVP,
            code: transfer_code::CONVERSION,
            flags,
            ..Transfer::default()
        }
    }

    async fn transfer_once(&self, transfer: Transfer) -> Result<CreateTransferResult, String> {
        let results = self
            .ledger
            .create_transfers(vec![transfer])
            .await
            .map_err(|error| error.to_string())?;
        Ok(results[0])
    }

    async fn complete_conversion(
        &self,
        record: &ConversionRecord,
        tx: Option<ChainTx>,
        block_number: Option<u64>,
    ) -> Result<(), String> {
        let outcome = ChainOutcome {
            tx_hash: tx.map(|tx| tx.tx_hash),
            block_number: tx.map(|tx| tx.block_number).or(block_number),
        };
        self.finish_conversion(record, ConversionStatus::Completed, None, outcome)
            .await
    }

    async fn fail_conversion(
        &self,
        record: &ConversionRecord,
        reason: String,
    ) -> Result<(), String> {
        let outcome = ChainOutcome::default();
        self.finish_conversion(record, ConversionStatus::Failed, Some(reason), outcome)
            .await
    }

    /// Posts or voids the hold and records the outcome, in one commit: the row says what
    /// the ledger did with the hold (a hold already resolved the same way counts as done;
    /// a void of a hold that never was is nothing to undo).
    async fn finish_conversion(
        &self,
        record: &ConversionRecord,
        status: ConversionStatus,
        failure: Option<String>,
        outcome: ChainOutcome,
    ) -> Result<(), String> {
        assert_eq!(record.status, ConversionStatus::Requested);
        let post = status == ConversionStatus::Completed;
        let mut finished = record.clone();
        finished.status = status;
        finished.failure = failure;
        finished.finished_at_s = Some(now_s());
        finished.tx_hash = outcome
            .tx_hash
            .map(|hash| format!("0x{}", hex::encode(hash)));
        finished.block_number = outcome.block_number;
        let transfers = vec![Self::hold_resolution(record, post)];
        let committing = self
            .enqueue_commit(transfers, move |answer| {
                use CreateTransferResult as R;
                let done = match answer.results[0] {
                    R::Ok | R::Exists => true,
                    R::PendingTransferAlreadyPosted => post,
                    R::PendingTransferAlreadyVoided | R::PendingTransferNotFound => !post,
                    _ => false,
                };
                if !done {
                    return (Vec::new(), Err(answer.results[0].as_str().to_string()));
                }
                (vec![conversion_row(&finished)], Ok(()))
            })
            .map_err(|error| error.to_string())?;
        let done = committing.done().await.map_err(|error| error.to_string())?;
        done.map_err(|result| format!("resolving the hold failed: {result}"))?;
        self.conversions.work().open.remove(&record.id);
        Ok(())
    }

    fn schedule_conversion_retry(&self, id: u128) {
        let mut work = self.conversions.work();
        if let Some(retry) = work.open.get_mut(&id) {
            retry.attempts = retry.attempts.saturating_add(1);
            let shift = retry.attempts.min(16);
            let delay = self
                .config
                .resolver_backoff_base_ms
                .saturating_mul(1 << shift)
                .min(self.config.resolver_backoff_max_ms);
            retry.next_attempt_ms = now_ms() + delay;
        }
    }

    /// Takes up to `max` open conversions that are due, as driven.
    fn due_conversions(&self, max: usize) -> Vec<u128> {
        let now = now_ms();
        let mut work = self.conversions.work();
        let due: Vec<u128> = work
            .open
            .iter()
            .filter(|(id, retry)| retry.next_attempt_ms <= now && !work.driving.contains(id))
            .map(|(id, _)| *id)
            .take(max)
            .collect();
        work.driving.extend(due.iter().copied());
        due
    }
}

/// Starts the conversion resolver (when a chain is configured): it finishes conversions
/// left `requested` by an unknown outcome, a crash or a node that was down.
pub(crate) fn spawn_conversion_resolver(platform: &Arc<Platform>) {
    if platform.chain.is_none() {
        return;
    }
    let weak = Arc::downgrade(platform);
    let interval = Duration::from_millis(platform.config.resolver_interval_ms.max(1));
    tokio::spawn(async move {
        loop {
            let Some(platform) = weak.upgrade() else {
                return;
            };
            for id in platform.due_conversions(CONVERSION_SWEEP_MAX) {
                platform.drive_conversion(id).await;
                platform.conversions.release(id);
            }
            drop(platform);
            tokio::time::sleep(interval).await;
        }
    });
}
