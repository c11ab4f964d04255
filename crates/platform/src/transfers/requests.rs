//! Money requests: a member asks for an amount with a memo and shares the request's link;
//! a friend opens it (any signed-in member sees the requester's masked name, the amount
//! and the memo) and pays it with a send to the request (`Recipient::Request`), exactly
//! once. The requester may cancel an open request.

use std::sync::Arc;

use store::tables::RowRef;
use store::tables::transfers::{self as tables, RequestRow, RequestStatus, TransferWrite};

use super::error::TransferError;
use super::{
    MoneyRequest, REQUEST_TTL_S, REQUESTS_PER_DAY_MAX, check_amount, check_memo,
    request_memo_context,
};
use crate::chart;
use crate::error::{Entity, PlatformError};
use crate::service::Platform;
use ports::time::{kst_day_start_s, now_s};

impl Platform {
    /// A new money request of `member_id` for `amount` MVP.
    pub async fn request_money(
        &self,
        member_id: u128,
        amount: u64,
        memo: &str,
    ) -> Result<MoneyRequest, PlatformError> {
        check_amount(amount)?;
        check_memo(memo)?;
        let gate = self.member_gate(member_id).await?;
        gate.ok_or(PlatformError::NotFound(Entity::Member))?
            .check_may_pay()?;
        let now = now_s();
        let today_s = kst_day_start_s(now);
        let made = self
            .ledger
            .tables(move |read| tables::requests_since(read, member_id, today_s))
            .await?;
        if made >= REQUESTS_PER_DAY_MAX {
            return Err(TransferError::TooManyRequests(REQUESTS_PER_DAY_MAX).into());
        }
        let id = chart::new_id();
        let row = RequestRow {
            id,
            requester_id: member_id,
            amount,
            memo_sealed: self.seal_memo(memo, request_memo_context(id)),
            status: RequestStatus::Open,
            transfer_id: None,
            created_at_s: now,
            expires_at_s: now + REQUEST_TTL_S,
        };
        self.commit_request(row.clone()).await?;
        self.money_request(id).await
    }

    /// A money request as a payer sees it (any signed-in member: the link is the secret).
    pub async fn money_request(&self, id: u128) -> Result<MoneyRequest, PlatformError> {
        let row = self
            .ledger
            .tables(move |read| tables::request(read, id))
            .await?
            .ok_or(PlatformError::NotFound(Entity::MoneyRequest))?;
        Ok(MoneyRequest {
            id: row.id,
            requester_id: row.requester_id,
            requester_name_masked: self.masked_name(row.requester_id).await?,
            amount: row.amount,
            memo: self.open_memo(&row.memo_sealed, request_memo_context(row.id))?,
            status: row.status,
            transfer_id: row.transfer_id,
            created_at_s: row.created_at_s,
            expires_at_s: row.expires_at_s,
        })
    }

    /// Cancels the member's own open request (a paid one stays paid).
    pub async fn cancel_money_request(
        &self,
        member_id: u128,
        id: u128,
    ) -> Result<MoneyRequest, PlatformError> {
        let _paying = self.transfers.requests.claim(id).await?;
        let row = self
            .ledger
            .tables(move |read| tables::request(read, id))
            .await?
            .filter(|row| row.requester_id == member_id)
            .ok_or(PlatformError::NotFound(Entity::MoneyRequest))?;
        match row.status {
            RequestStatus::Open => {}
            RequestStatus::Paid => return Err(TransferError::RequestClosed("paid already").into()),
            RequestStatus::Cancelled => return self.money_request(id).await,
        }
        self.commit_request(RequestRow {
            status: RequestStatus::Cancelled,
            ..row
        })
        .await?;
        self.money_request(id).await
    }

    async fn commit_request(&self, row: RequestRow) -> Result<(), PlatformError> {
        let rows = vec![Arc::new(TransferWrite::Request(row)) as RowRef];
        self.enqueue_commit(Vec::new(), move |_| (rows, ()))?
            .done()
            .await
    }
}
