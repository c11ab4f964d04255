//! Held transfers: claimed by the member who joins with the phone, or returned to the
//! sender at the deadline. Each is one commit of at most `HELD_PER_COMMIT_MAX` ledger
//! transfers (ids derived from the P2P ids, so a retry after a crash moves nothing twice)
//! and their rows; one resolution runs at a time, so a held transfer is claimed or
//! returned, never both.

use ledger::types::CreateTransferResult;
use store::tables::transfers::{self as tables, TransferRow, TransferStatus, TransferWrite};

use super::{HELD_PER_COMMIT_MAX, onward_transfer, rows_of};
use crate::error::PlatformError;
use crate::service::Platform;
use ports::time::now_s;

/// What a resolution does with a held transfer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Onward {
    /// To this member, who joined with the phone.
    Claim(u128),
    /// Back to the sender.
    Return,
}

impl Platform {
    /// Moves every transfer held for `phone_index` to `member_id` (who has that phone now);
    /// answers how many moved.
    pub(crate) async fn claim_held_transfers(
        &self,
        member_id: u128,
        phone_index: [u8; 32],
    ) -> Result<u64, PlatformError> {
        // Nearly every login finds nothing: look before taking the resolution's lock.
        let waiting = self
            .ledger
            .tables(move |read| tables::held_for(read, &phone_index, 1))
            .await?;
        if waiting.is_empty() {
            return Ok(0);
        }
        let _one = self.transfers.resolving.lock().await;
        let mut moved = 0;
        loop {
            let page = self
                .ledger
                .tables(move |read| tables::held_for(read, &phone_index, HELD_PER_COMMIT_MAX))
                .await?;
            if page.is_empty() {
                return Ok(moved);
            }
            moved += self.move_held(page, Onward::Claim(member_id)).await?;
        }
    }

    /// Returns a batch of held transfers whose deadline passed to their senders (the
    /// housekeeping chore); answers how many moved.
    pub async fn return_expired_transfers(&self) -> Result<u64, PlatformError> {
        let _one = self.transfers.resolving.lock().await;
        let now = now_s();
        let page = self
            .ledger
            .tables(move |read| tables::held_expired(read, now, HELD_PER_COMMIT_MAX))
            .await?;
        self.move_held(page, Onward::Return).await
    }

    /// One commit: each held transfer of `page` moved on, its row final.
    async fn move_held(
        &self,
        page: Vec<TransferRow>,
        onward: Onward,
    ) -> Result<u64, PlatformError> {
        let now = now_s();
        let mut transfers = Vec::with_capacity(page.len());
        let mut writes = Vec::with_capacity(page.len());
        for row in page {
            assert_eq!(
                row.status,
                TransferStatus::Held,
                "only held transfers move on"
            );
            let (transfer, moved) = match onward {
                Onward::Claim(member_id) => (
                    {
                        let asset = crate::assets::asset(&row.asset)?;
                        self.open_wallet(member_id, asset).await?;
                        onward_transfer(&row, "p2p-claim", member_id)?
                    },
                    TransferRow {
                        receiver_id: Some(member_id),
                        status: TransferStatus::Claimed,
                        finished_at_s: Some(now),
                        ..row
                    },
                ),
                Onward::Return => (
                    onward_transfer(&row, "p2p-return", row.sender_id)?,
                    TransferRow {
                        status: TransferStatus::Returned,
                        finished_at_s: Some(now),
                        ..row
                    },
                ),
            };
            transfers.push(transfer);
            writes.push(TransferWrite::Transfer(moved));
        }
        let count = u64::try_from(writes.len()).expect("a page fits a u64");
        if count == 0 {
            return Ok(0);
        }
        let committing = self.enqueue_commit(transfers, move |outcome| {
            // The holds account holds what every held transfer put there: a refusal is a
            // bug, and nothing is written so that the rows stay held.
            let refused = outcome.results.iter().find(|result| {
                !matches!(
                    result,
                    CreateTransferResult::Ok | CreateTransferResult::Exists
                )
            });
            match refused {
                None => (rows_of(writes), Ok(())),
                Some(result) => (Vec::new(), Err(result.as_str().to_string())),
            }
        })?;
        if let Err(result) = committing.done().await? {
            tracing::error!(%result, "held P2P transfers could not move on");
            return Err(PlatformError::Unavailable(format!(
                "held transfers not moved: {result}"
            )));
        }
        Ok(count)
    }
}
