//! Leaving: a member withdraws, the balance paid out (or refused while value remains), the
//! personal data erased and the partner memberships released, in one commit.

use crate::members::error::MemberError;
use std::sync::Arc;

use ledger::types::{AccountId, Transfer, TransferFlags, TransferId};
use store::tables::RowRef;
use store::tables::exchanges::ExchangeWrite;
use store::tables::members::{MemberStatus, MemberWrite};
use store::tables::paycodes::PaycodeWrite;

use super::{
    Claimed, Members, PAYOUT_CHARS_MAX, WITHDRAWAL_PAYOUTS_MAX, member_context, payout_transfer_id,
};
use crate::chart::{self, transfer_code};
use crate::error::{Entity, PlatformError, invalid};
use crate::service::Platform;
use ports::time::now_s;

impl Platform {
    /// Withdraws the member. Refused while value remains, unless `payout` says where the
    /// remaining MVP is paid out in KRW; then the balance moves to the payout account (with
    /// the PIN asked again above the platform's threshold).
    pub async fn withdraw(
        &self,
        member_id: u128,
        payout: Option<&str>,
        pin: Option<&str>,
    ) -> Result<u64, PlatformError> {
        if let Some(payout) = payout {
            let length = payout.trim().chars().count();
            if length == 0 || length > PAYOUT_CHARS_MAX {
                return Err(invalid(
                    "payout",
                    format!("1 to {PAYOUT_CHARS_MAX} characters"),
                ));
            }
        }
        let _withdrawing = self.begin_withdrawal(member_id)?;
        let balance = self.balance(member_id).await?;
        if balance.pending > 0 {
            return Err(PlatformError::Member(MemberError::ExchangeInProgress));
        }
        // A withdrawal cut short (crash, client gone) may already have paid out: its payout
        // transfers have ids derived from the member, so they are found, never repeated.
        let (paid_before, next_payout) = self.payouts_made(member_id).await?;
        let owed = paid_before.saturating_add(balance.available);
        if owed > 0 && payout.is_none() {
            return Err(PlatformError::Member(MemberError::BalanceRemaining {
                balance: owed,
            }));
        }
        if balance.available > 0 {
            self.confirm_spend(member_id, u128::from(balance.available), pin)
                .await?;
            self.pay_out(member_id, next_payout, balance.available)
                .await?;
        }
        let (paid, _) = self.payouts_made(member_id).await?;
        self.close_member(member_id, payout.unwrap_or(""), paid)
            .await?;
        Ok(paid)
    }

    /// Marks the withdrawal under way, unless an exchange of the member is open: both are
    /// decided under the exchange context's lock, where an exchange starts only for a
    /// member not withdrawing, so neither can slip past the other. (A voucher purchase
    /// queues its commit under the withdrawals' own lock: see `Members::unless_withdrawing`.)
    fn begin_withdrawal(&self, member_id: u128) -> Result<Withdrawing<'_>, PlatformError> {
        let working = self.exchanges.lock();
        let open = working
            .open
            .values()
            .any(|tracked| tracked.record.member_id == member_id);
        // While withdrawing, no exchange may start (it could credit a closed wallet).
        if open || !self.members.withdrawing().insert(member_id) {
            return Err(PlatformError::Member(MemberError::ExchangeInProgress));
        }
        Ok(Withdrawing {
            members: &self.members,
            member_id,
        })
    }

    /// The MVP already paid out to a withdrawing member, and the index of its next payout.
    async fn payouts_made(&self, member_id: u128) -> Result<(u64, u32), PlatformError> {
        let ids: Vec<TransferId> = (0..WITHDRAWAL_PAYOUTS_MAX)
            .map(|index| TransferId(payout_transfer_id(member_id, index)))
            .collect();
        let found = self.ledger.lookup_transfers(ids).await?;
        let paid: u128 = found.iter().map(|transfer| transfer.amount).sum();
        let next = u32::try_from(found.len()).unwrap_or(u32::MAX);
        if next >= WITHDRAWAL_PAYOUTS_MAX {
            return Err(PlatformError::Unavailable(
                "too many payouts for one member".into(),
            ));
        }
        Ok((u64::try_from(paid).unwrap_or(u64::MAX), next))
    }

    /// Moves the whole wallet to the payout account (a balancing transfer, so a concurrent
    /// movement can never make it overdraw), under the id of payout `index`.
    async fn pay_out(&self, member_id: u128, index: u32, amount: u64) -> Result<(), PlatformError> {
        let transfer = Transfer {
            id: TransferId(payout_transfer_id(member_id, index)),
            debit_account_id: AccountId(member_id),
            credit_account_id: chart::WITHDRAWAL_PAYOUTS_ACCOUNT,
            amount: u128::from(amount),
            user_data_128: member_id,
            ledger: chart::LEDGER_MVP,
            code: transfer_code::WITHDRAWAL,
            flags: TransferFlags::BALANCING_DEBIT,
            ..Transfer::default()
        };
        let results = self.ledger.create_transfers(vec![transfer]).await?;
        if !results[0].is_ok() {
            return Err(PlatformError::Unavailable(format!(
                "payout transfer refused: {}",
                results[0].as_str()
            )));
        }
        Ok(())
    }

    /// Closes the member in one commit: status and payout, personal data erased, sessions
    /// and devices gone, partner memberships released.
    async fn close_member(
        &self,
        member_id: u128,
        payout: &str,
        amount: u64,
    ) -> Result<(), PlatformError> {
        let _claim = self.members.claim(Claimed::Member(member_id)).await?;
        let mut member = self
            .member_row(member_id)
            .await?
            .ok_or(PlatformError::NotFound(Entity::Member))?;
        member.status = MemberStatus::Withdrawn;
        member.withdrawn_at_s = Some(now_s());
        // Personal data goes; the id stays, because the ledger refers to it.
        member.name_sealed.clear();
        member.phone_sealed.clear();
        member.payout_sealed = if payout.is_empty() {
            Vec::new()
        } else {
            self.keys
                .seal(payout.as_bytes(), &member_context(member_id, "payout"))
        };
        member.payout_amount = amount;
        // The memberships are released with the member: whoever holds them (the same
        // person signing up again) may link them anew. The pay code secrets go with the
        // devices.
        let rows: Vec<RowRef> = vec![
            Arc::new(MemberWrite::Member(member)),
            Arc::new(MemberWrite::RemoveSessionsOf(member_id)),
            Arc::new(MemberWrite::RemoveDevicesOf(member_id)),
            Arc::new(MemberWrite::RemoveLoginDevicesOf(member_id)),
            Arc::new(PaycodeWrite::RemoveDevicesOf(member_id)),
            Arc::new(ExchangeWrite::ReleaseLinksOf(member_id)),
        ];
        self.commit_member_rows(&[member_id], rows).await
    }
}

/// Marks a withdrawal in progress; cleared however the withdrawal ends.
struct Withdrawing<'a> {
    members: &'a Members,
    member_id: u128,
}

impl Drop for Withdrawing<'_> {
    fn drop(&mut self) {
        self.members.withdrawing().remove(&self.member_id);
    }
}
