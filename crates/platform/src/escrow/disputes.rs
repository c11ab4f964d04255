//! Disputes: either party of a taken trade opens one with a text and evidence (sealed at
//! rest like every member's personal data). The trade freezes: each pending lock is posted
//! into `ESCROW` in one linked chain, so neither the sweep nor the ledger's timeout can
//! release it. An operator reads the queue and resolves each dispute: release (each leg
//! to its receiver) or refund (each leg back to whoever put it in), one linked chain of
//! `ESCROW_PAYOUT` transfers whose `user_data_128` is the trade (and dispute) id.

use ledger::types::Transfer;
use store::tables::escrow::{self as tables, TRADES_PAGE_MAX, TradeRow, TradeStatus};

use super::{TradeView, all_moved, check_text, linked, state};
use crate::error::{PlatformError, invalid};
use crate::escrow::error::EscrowError;
use crate::service::Platform;
use ports::time::now_s;

/// Longest dispute text (characters).
pub const DISPUTE_TEXT_CHARS_MAX: usize = 1_000;
/// Longest evidence (characters: links, a transcript, the bank transfer's reference).
pub const EVIDENCE_CHARS_MAX: usize = 4_000;
/// Longest operator's note on a resolution.
pub const NOTE_CHARS_MAX: usize = 1_000;

fn dispute_context(trade_id: u128) -> Vec<u8> {
    format!("escrow/{trade_id}/dispute").into_bytes()
}

/// The text and the evidence in one sealed value: the text's length (4 bytes, big-endian),
/// the text, the evidence.
fn dispute_plain(text: &str, evidence: &str) -> Vec<u8> {
    let length = u32::try_from(text.len()).expect("a dispute text is bounded");
    let mut plain = length.to_be_bytes().to_vec();
    plain.extend_from_slice(text.as_bytes());
    plain.extend_from_slice(evidence.as_bytes());
    plain
}

impl Platform {
    pub(crate) fn open_dispute_text(
        &self,
        trade_id: u128,
        sealed: &[u8],
    ) -> Result<(String, String), PlatformError> {
        let unreadable = || PlatformError::Unavailable("a dispute does not open".into());
        let plain = self
            .keys
            .open(sealed, &dispute_context(trade_id))
            .map_err(|_| unreadable())?;
        let (length, rest) = plain.split_at_checked(4).ok_or_else(unreadable)?;
        let length = u32::from_be_bytes(length.try_into().expect("4 bytes"));
        let length = usize::try_from(length).map_err(|_| unreadable())?;
        let (text, evidence) = rest.split_at_checked(length).ok_or_else(unreadable)?;
        let text = String::from_utf8(text.to_vec()).map_err(|_| unreadable())?;
        let evidence = String::from_utf8(evidence.to_vec()).map_err(|_| unreadable())?;
        Ok((text, evidence))
    }

    /// A party of a taken trade opens a dispute: the trade freezes (its locks posted into
    /// escrow) until an operator resolves it.
    pub async fn open_dispute(
        &self,
        member_id: u128,
        id: u128,
        text: &str,
        evidence: &str,
    ) -> Result<TradeView, PlatformError> {
        check_text("text", text, DISPUTE_TEXT_CHARS_MAX)?;
        if evidence.chars().count() > EVIDENCE_CHARS_MAX {
            let detail = format!("at most {EVIDENCE_CHARS_MAX} characters");
            return Err(invalid("evidence", detail));
        }
        let _claim = self.escrow.trades.claim(id).await?;
        let trade = self.trade_row(id).await?;
        if trade.seller_id != member_id && trade.buyer_id != Some(member_id) {
            return Err(PlatformError::NotFound(crate::error::Entity::Trade));
        }
        if trade.status != TradeStatus::Taken || trade.deadline_s <= now_s() {
            return Err(state(&trade, "dispute"));
        }
        let transfers: Vec<Transfer> = self
            .legs(&trade)?
            .iter()
            .map(|leg| leg.resolve(trade.id, true))
            .collect();
        let sealed = self
            .keys
            .seal(&dispute_plain(text, evidence), &dispute_context(id));
        let disputed = TradeRow {
            status: TradeStatus::Disputed,
            dispute_by: Some(member_id),
            dispute_sealed: Some(sealed),
            disputed_at_s: Some(now_s()),
            ..trade
        };
        let frozen = self
            .commit_trade(linked(transfers), disputed, all_moved, |results| {
                tracing::error!(?results, "a trade's locks could not be frozen");
                PlatformError::Unavailable("the trade's locks could not be frozen".into())
            })
            .await?;
        self.trade_view(frozen, true)
    }

    /// Disputes waiting for an operator, the oldest first, after the cursor
    /// `(disputed_at_s, id)`; with their text and evidence.
    pub async fn disputes_page(
        &self,
        after: Option<(u64, u128)>,
        limit: usize,
    ) -> Result<Vec<TradeView>, PlatformError> {
        let limit = limit.clamp(1, TRADES_PAGE_MAX);
        let found = self
            .ledger
            .tables(move |read| tables::disputed_page(read, after, limit))
            .await?;
        found
            .into_iter()
            .map(|trade| self.trade_view(trade, true))
            .collect()
    }

    /// An operator resolves a dispute: `release` pays each leg to its receiver, else each
    /// goes back to whoever put it in.
    pub async fn resolve_dispute(
        &self,
        id: u128,
        release: bool,
        operator: &str,
        note: &str,
    ) -> Result<TradeView, PlatformError> {
        if note.chars().count() > NOTE_CHARS_MAX {
            return Err(invalid(
                "note",
                format!("at most {NOTE_CHARS_MAX} characters"),
            ));
        }
        let _claim = self.escrow.trades.claim(id).await?;
        let trade = self.trade_row(id).await?;
        if trade.status != TradeStatus::Disputed {
            return Err(EscrowError::State {
                status: trade.status.as_str(),
                step: "resolve",
            }
            .into());
        }
        let transfers: Vec<Transfer> = self
            .legs(&trade)?
            .iter()
            .map(|leg| leg.payout(trade.id, release))
            .collect();
        let resolved = TradeRow {
            status: match release {
                true => TradeStatus::Released,
                false => TradeStatus::Refunded,
            },
            resolution: Some(release),
            resolved_by: Some(operator.to_string()),
            resolved_at_s: Some(now_s()),
            finished_at_s: Some(now_s()),
            ..trade
        };
        let done = self
            .commit_trade(linked(transfers), resolved, all_moved, |results| {
                tracing::error!(?results, "a dispute's resolution was refused");
                PlatformError::Unavailable("the resolution could not move; retry".into())
            })
            .await?;
        self.trade_view(done, true)
    }
}
