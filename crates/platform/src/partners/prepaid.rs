//! Prepaid partners: points replacement (TT-11; seed 002 §3.8, "제휴사는 … 코인을 구매하고,
//! 자사 포인트 대신 회원에게 지급").
//!
//! A partner on credit is paid for later: its members' exchanges are credited from its
//! issuance account, up to its credit line, and it settles what it owes afterwards
//! (`record_partner_payment`). A *prepaid* partner buys its MVP first and hands it to its
//! members instead of its own points:
//!
//! - The operator records each purchase (`record_partner_prepayment`): a transfer from the
//!   partner-payments account (KRW received) into the partner's prepaid account
//!   (`chart::partner_prepaid`, never below zero), code `PARTNER_PREPAYMENT`, its id derived
//!   from the partner and the bank reference, so the same purchase is counted once.
//! - Every exchange of its members first reserves its MVP on the ledger: a pending transfer
//!   from the prepaid account to the member (id = the exchange id), in the same commit as the
//!   exchange's `requested` row and before the partner is asked to debit. The ledger refuses
//!   a reservation the account does not cover (`exceeds_credits`), so concurrent exchanges
//!   can never hand out more than was bought, and a refused one never reaches the partner.
//! - The partner debits its points (they are extinguished there: the partner protocol's
//!   debit); the credit then posts the reservation. A failed or reversed exchange voids it.
//!
//! So the prepaid account's credits are what the partner bought, its posted debits what its
//! members received, its pending debits what open exchanges hold, and what is left is
//! bought − received − held.

use ledger::types::{AccountId, CreateTransferResult, Transfer, TransferId};

use crate::chart::{self, transfer_code};
use crate::error::{Entity, PlatformError, invalid};
use crate::partners::{PARTNER_LIMIT_MAX, PAYMENT_REFERENCE_BYTES_MAX, PartnerView};
use crate::service::Platform;

/// A prepaid partner's MVP, as its ledger account holds it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrepaidBalance {
    /// What the partner bought, in all.
    pub bought_mvp: u128,
    /// What its members received through completed exchanges.
    pub handed_out_mvp: u128,
    /// What open exchanges hold (pending reservations).
    pub reserved_mvp: u128,
    /// What is left for new exchanges: bought − handed out − reserved.
    pub available_mvp: u128,
}

impl PrepaidBalance {
    fn of(account: &ledger::types::Account) -> PrepaidBalance {
        let spent = account.debits_posted + account.debits_pending;
        assert!(
            spent <= account.credits_posted,
            "a prepaid account is never below zero"
        );
        PrepaidBalance {
            bought_mvp: account.credits_posted,
            handed_out_mvp: account.debits_posted,
            reserved_mvp: account.debits_pending,
            available_mvp: account.credits_posted - spent,
        }
    }
}

/// The ledger transfer id of a prepayment: derived from the partner and the bank reference,
/// so recording the same purchase twice moves value once.
pub fn prepayment_transfer_id(partner_id: u128, reference: &str) -> u128 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(b"mileverse/partner-prepayment/")
        .chain_update(partner_id.to_be_bytes())
        .chain_update(reference.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(bytes) | chart::SYSTEM_ACCOUNT_BASE
}

/// The pending transfer that reserves a prepaid exchange's MVP (its id is the exchange's).
pub(crate) fn reservation(exchange: &crate::domain::ExchangeRow) -> Transfer {
    Transfer {
        id: TransferId(exchange.id),
        debit_account_id: chart::partner_prepaid_id(exchange.partner_id),
        credit_account_id: AccountId(exchange.member_id),
        amount: u128::from(exchange.mvp),
        user_data_128: exchange.id,
        user_data_64: exchange.mileage,
        ledger: chart::LEDGER_MVP,
        code: transfer_code::EXCHANGE,
        flags: ledger::types::TransferFlags::PENDING,
        ..Transfer::default()
    }
}

/// The post (`post`) or void of a prepaid exchange's reservation.
pub(crate) fn resolution(exchange: &crate::domain::ExchangeRow, post: bool) -> Transfer {
    use ledger::types::TransferFlags;
    let (step, flags) = match post {
        true => ("post", TransferFlags::POST_PENDING_TRANSFER),
        false => ("void", TransferFlags::VOID_PENDING_TRANSFER),
    };
    Transfer {
        id: TransferId(crate::authorization::derived_transfer_id(
            step,
            exchange.id,
            "prepaid",
        )),
        pending_id: TransferId(exchange.id),
        flags,
        ..reservation(exchange)
    }
}

impl Platform {
    /// Records that a prepaid partner bought `amount` MVP (reference: the bank's transaction
    /// reference): its prepaid account is credited from the partner-payments account. The
    /// same reference again moves nothing; a partner on credit is refused.
    pub async fn record_partner_prepayment(
        &self,
        partner_id: u128,
        reference: &str,
        amount: u64,
    ) -> Result<PartnerView, PlatformError> {
        let reference = reference.trim();
        if reference.is_empty() || reference.len() > PAYMENT_REFERENCE_BYTES_MAX {
            return Err(invalid("reference", "1 to 64 bytes"));
        }
        if amount == 0 || amount > PARTNER_LIMIT_MAX {
            return Err(invalid("amount", format!("1 to {PARTNER_LIMIT_MAX}")));
        }
        let prepaid = self
            .catalogue
            .lock()
            .partners
            .get(&partner_id)
            .map(|partner| partner.prepaid)
            .ok_or(PlatformError::NotFound(Entity::Partner))?;
        if !prepaid {
            let detail = "this partner works on credit: record its payments instead";
            return Err(invalid("partner", detail));
        }
        let transfer = Transfer {
            id: TransferId(prepayment_transfer_id(partner_id, reference)),
            debit_account_id: chart::PARTNER_PAYMENTS_ACCOUNT,
            credit_account_id: chart::partner_prepaid_id(partner_id),
            amount: u128::from(amount),
            user_data_128: partner_id,
            ledger: chart::LEDGER_MVP,
            code: transfer_code::PARTNER_PREPAYMENT,
            ..Transfer::default()
        };
        let results = self.ledger.create_transfers(vec![transfer]).await?;
        match results[0] {
            CreateTransferResult::Ok | CreateTransferResult::Exists => {}
            CreateTransferResult::ExistsWithDifferentAmount => {
                return Err(PlatformError::IdempotencyConflict);
            }
            CreateTransferResult::IdAlreadyFailed => {
                let detail = "a prepayment under this reference was refused; use a new reference";
                return Err(invalid("reference", detail));
            }
            other => {
                return Err(PlatformError::Unavailable(format!(
                    "prepayment refused: {}",
                    other.as_str()
                )));
            }
        }
        self.partner(partner_id).await
    }

    /// The prepaid balances of these partners (those on credit have none), in one read.
    pub(crate) async fn prepaid_balances(
        &self,
        views: &mut [PartnerView],
    ) -> Result<(), PlatformError> {
        let prepaid: Vec<usize> = (0..views.len())
            .filter(|index| views[*index].record.prepaid)
            .collect();
        for chunk in prepaid.chunks(journal::sequencer::BATCH_EVENTS_MAX) {
            let ids = chunk
                .iter()
                .map(|index| chart::partner_prepaid_id(views[*index].record.id))
                .collect();
            let accounts = self.ledger.lookup_accounts(ids).await?;
            for index in chunk {
                let id = chart::partner_prepaid_id(views[*index].record.id);
                let account = accounts.iter().find(|account| account.id == id);
                views[*index].prepaid = Some(account.map(PrepaidBalance::of).unwrap_or_default());
            }
        }
        Ok(())
    }

    /// What a prepaid partner has left for new exchanges; `None` for a partner on credit.
    pub(crate) async fn prepaid_available(
        &self,
        partner_id: u128,
    ) -> Result<Option<u128>, PlatformError> {
        let prepaid = self
            .catalogue
            .lock()
            .partners
            .get(&partner_id)
            .is_some_and(|partner| partner.prepaid);
        if !prepaid {
            return Ok(None);
        }
        let id = chart::partner_prepaid_id(partner_id);
        let accounts = self.ledger.lookup_accounts(vec![id]).await?;
        let balance = accounts.first().map(PrepaidBalance::of).unwrap_or_default();
        Ok(Some(balance.available_mvp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepayment_ids_differ_by_partner_and_reference_and_never_collide_with_new_ids() {
        let a = prepayment_transfer_id(1, "BANK-1");
        assert_eq!(a, prepayment_transfer_id(1, "BANK-1"));
        assert_ne!(a, prepayment_transfer_id(2, "BANK-1"));
        assert_ne!(a, prepayment_transfer_id(1, "BANK-2"));
        assert_ne!(a & chart::SYSTEM_ACCOUNT_BASE, 0);
        assert_ne!(
            prepayment_transfer_id(1, "x"),
            crate::partners::partner_payment_transfer_id(1, "x")
        );
    }

    #[test]
    fn a_balance_is_bought_less_handed_out_less_reserved() {
        let account = ledger::types::Account {
            credits_posted: 10_000,
            debits_posted: 6_000,
            debits_pending: 3_000,
            ..ledger::types::Account::default()
        };
        let balance = PrepaidBalance::of(&account);
        assert_eq!(balance.available_mvp, 1_000);
        assert_eq!(
            (
                balance.bought_mvp,
                balance.handed_out_mvp,
                balance.reserved_mvp
            ),
            (10_000, 6_000, 3_000)
        );
    }
}
