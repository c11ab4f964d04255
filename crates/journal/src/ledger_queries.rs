//! TigerBeetle's queries on the ledger (`get_account_transfers`, `get_account_balances`,
//! `query_accounts`, `query_transfers`, and `lookup_accounts` from the store), answered by
//! the store's indexes on a reader connection, never by scanning the engine's memory (which
//! keeps only a bounded cache of transfers). Semantics and limits: [`store::query`].
//!
//! Each query first waits for a read through the sequencer (a durability barrier): once it
//! answers, every block executed before the query is durable, so the store holds at least
//! what the engine had when the query arrived, and the answer shows nothing a crash could
//! take back. An invalid filter answers nothing, without the barrier.

use ledger::types::{Account, AccountBalance, AccountId, Transfer};
use store::query::{AccountFilter, QueryFilter};

use crate::sequencer::{BATCH_EVENTS_MAX, LedgerError, LedgerService};

impl LedgerService {
    /// The transfers of `filter.account_id` that match `filter`, in timestamp order.
    pub async fn account_transfers(
        &self,
        filter: AccountFilter,
    ) -> Result<Vec<Transfer>, LedgerError> {
        if filter.check().is_err() {
            return Ok(Vec::new());
        }
        self.read(|_| ()).await?;
        self.with_reader(move |store| store.account_transfers(&filter))
            .await
    }

    /// The balances of a `history` account after each transfer that matches `filter`.
    pub async fn account_balances(
        &self,
        filter: AccountFilter,
    ) -> Result<Vec<AccountBalance>, LedgerError> {
        if filter.check().is_err() {
            return Ok(Vec::new());
        }
        self.read(|_| ()).await?;
        self.with_reader(move |store| store.account_balances(&filter))
            .await
    }

    /// Accounts matching `filter`, with their balances, in creation order.
    pub async fn query_accounts(&self, filter: QueryFilter) -> Result<Vec<Account>, LedgerError> {
        if filter.check().is_err() {
            return Ok(Vec::new());
        }
        self.read(|_| ()).await?;
        self.with_reader(move |store| store.query_accounts(&filter))
            .await
    }

    /// Transfers matching `filter`, in timestamp order.
    pub async fn query_transfers(&self, filter: QueryFilter) -> Result<Vec<Transfer>, LedgerError> {
        if filter.check().is_err() {
            return Ok(Vec::new());
        }
        self.read(|_| ()).await?;
        self.with_reader(move |store| store.query_transfers(&filter))
            .await
    }

    /// The accounts among `ids` (at most [`BATCH_EVENTS_MAX`]) as the store has them, in the
    /// order asked, missing ones left out. [`LedgerService::lookup_accounts`] answers the
    /// same from the engine's memory; this one does not need the account in memory.
    pub async fn lookup_stored_accounts(
        &self,
        ids: Vec<AccountId>,
    ) -> Result<Vec<Account>, LedgerError> {
        if ids.len() > BATCH_EVENTS_MAX {
            return Err(LedgerError::BatchTooLarge {
                len: ids.len(),
                max: BATCH_EVENTS_MAX,
            });
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|_| ()).await?;
        self.with_reader(move |store| store.lookup_accounts(&ids))
            .await
    }
}
