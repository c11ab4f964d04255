//! Model-based test: random blocks of account and transfer batches run against the engine and
//! against a naive reference model written plainly below (vectors and linear search; a linked
//! chain clones the whole model and restores the clone on failure).
//!
//! Checked after every batch and block: identical result codes, balances, stored records,
//! block effects, pending statuses and histories; per ledger debits == credits (pending and
//! posted); guard flags hold; every pending transfer is resolved at most once. At the end, the
//! recorded blocks are replayed into a fresh engine, which must reproduce every block's effects
//! and the final state.
//!
//! Each scenario runs twice: with the default config, whose cache holds everything here, and
//! with a cache of two transfers, evicted before every block, so that most batches read their
//! transfers from a `TransferArchive` standing in for the store; both must give the model's
//! results and effects. Replicas replay with a small cache too, reading either what they have
//! replayed so far or a store that is ahead of them. A second property restarts the engine
//! from `state()` mid-scenario (`restore`), once with a filter that answers "maybe" to
//! every id.

use std::collections::BTreeMap;

use ledger::archive::TransferArchive;
use ledger::engine::{
    BlockEffects, Engine, EngineConfig, EngineState, FailedTransfer, PendingStatus, StoredTransfer,
};
use ledger::id_filter::IdFilter;
use ledger::types::{
    Account, AccountBalance, AccountFlags, AccountId, CreateAccountResult as AccountCode,
    CreateTransferResult as TransferCode, Transfer, TransferFlags, TransferId,
};
use proptest::collection::vec;
use proptest::prelude::*;

const START: u64 = 1_700_000_000_000_000_000;
const SECOND: u64 = 1_000_000_000;
/// Accounts get ids 1..=10; 11 never exists.
const ACCOUNT_IDS: u128 = 10;
/// Transfer ids are drawn from a small range so that duplicates (idempotency) are common.
const TRANSFER_IDS: u128 = 60;

// ---------------------------------------------------------------------------------------------
// The reference model.

#[derive(Clone, Debug)]
struct ModelAccount {
    account: Account,
    created_flags: AccountFlags,
    history: Vec<AccountBalance>,
}

#[derive(Clone, Debug)]
struct ModelTransfer {
    record: Transfer,
    status: Option<PendingStatus>,
}

#[derive(Clone, Debug, Default)]
struct Model {
    accounts: Vec<ModelAccount>,
    transfers: Vec<ModelTransfer>,
    /// Ids of transfers refused with a transient result: spent for good.
    failed: Vec<TransferId>,
    clock: u64,
    last: u64,
    effects: BlockEffects,
}

fn expires_at(pending: &Transfer) -> u64 {
    pending.timestamp + u64::from(pending.timeout) * SECOND
}

/// TigerBeetle's transient results, spelled out again.
fn is_transient(code: TransferCode) -> bool {
    [
        TransferCode::DebitAccountNotFound,
        TransferCode::CreditAccountNotFound,
        TransferCode::PendingTransferNotFound,
        TransferCode::ExceedsCredits,
        TransferCode::ExceedsDebits,
        TransferCode::DebitAccountAlreadyClosed,
        TransferCode::CreditAccountAlreadyClosed,
    ]
    .contains(&code)
}

/// What the model's batch loop needs to know about one kind of event.
struct Kind<Event, Code> {
    linked: fn(&Event) -> bool,
    imported: fn(&Event) -> bool,
    timestamp: fn(&Event) -> u64,
    apply: fn(&mut Model, &Event) -> Code,
    /// The id to spend when the event failed with this code, if the code is transient.
    spend: fn(&Event, Code) -> Option<FailedTransfer>,
    /// ok, linked_event_failed, linked_event_chain_open, imported_event_expected,
    /// imported_event_not_expected, timestamp_must_be_zero, timestamp out of range, must not
    /// advance.
    codes: [Code; 8],
}

impl Model {
    fn account_index(&self, id: AccountId) -> Option<usize> {
        self.accounts
            .iter()
            .position(|entry| entry.account.id == id)
    }

    fn transfer_index(&self, id: TransferId) -> Option<usize> {
        self.transfers
            .iter()
            .position(|entry| entry.record.id == id)
    }

    fn max_account_timestamp(&self) -> u64 {
        let timestamps = self.accounts.iter().map(|entry| entry.account.timestamp);
        timestamps.max().unwrap_or(0)
    }

    /// The latest timestamp of any account or transfer: where imports start from.
    fn latest_timestamp(&self) -> u64 {
        self.max_account_timestamp()
            .max(self.max_transfer_timestamp())
    }

    fn max_transfer_timestamp(&self) -> u64 {
        let timestamps = self.transfers.iter().map(|entry| entry.record.timestamp);
        timestamps.max().unwrap_or(0)
    }

    /// The event's timestamp: its own if imported, else the clock's (which then moves on).
    fn take_timestamp(&mut self, imported: bool, own: u64) -> u64 {
        if imported {
            return own;
        }
        let timestamp = self.clock;
        self.clock += 1;
        self.last = timestamp;
        timestamp
    }

    fn touch(&mut self, id: AccountId) {
        if !self.effects.touched.contains(&id) {
            self.effects.touched.push(id);
        }
    }

    fn snapshot_history(&mut self, index: usize, timestamp: u64) {
        let account = self.accounts[index].account;
        if account.flags.contains(AccountFlags::HISTORY) {
            let balance = AccountBalance {
                account_id: account.id,
                timestamp,
                debits_pending: account.debits_pending,
                debits_posted: account.debits_posted,
                credits_pending: account.credits_pending,
                credits_posted: account.credits_posted,
            };
            self.accounts[index].history.push(balance);
            self.effects.history.push(balance);
        }
    }

    fn begin_block(&mut self, now: u64) -> u64 {
        let timestamp = now.max(self.last + 1);
        self.clock = timestamp;
        self.last = timestamp;
        self.effects = BlockEffects {
            timestamp,
            ..BlockEffects::default()
        };
        let mut due: Vec<(u64, u128, usize)> = Vec::new();
        for (index, entry) in self.transfers.iter().enumerate() {
            let record = &entry.record;
            let open = entry.status == Some(PendingStatus::Pending);
            if open && record.timeout > 0 && expires_at(record) <= timestamp {
                due.push((expires_at(record), record.id.0, index));
            }
        }
        due.sort();
        for (_, id, index) in due {
            self.release(index);
            self.transfers[index].status = Some(PendingStatus::Expired);
            self.effects.expired.push(TransferId(id));
        }
        timestamp
    }

    /// Gives back a pending transfer's reservation and reopens what it closed.
    fn release(&mut self, pending_index: usize) {
        let pending = self.transfers[pending_index].record;
        let debit = self.account_index(pending.debit_account_id).unwrap();
        let credit = self.account_index(pending.credit_account_id).unwrap();
        self.accounts[debit].account.debits_pending -= pending.amount;
        self.accounts[credit].account.credits_pending -= pending.amount;
        if pending.flags.contains(TransferFlags::CLOSING_DEBIT) {
            let flags = &mut self.accounts[debit].account.flags;
            *flags = flags.without(AccountFlags::CLOSED);
        }
        if pending.flags.contains(TransferFlags::CLOSING_CREDIT) {
            let flags = &mut self.accounts[credit].account.flags;
            *flags = flags.without(AccountFlags::CLOSED);
        }
        self.touch(pending.debit_account_id);
        self.touch(pending.credit_account_id);
    }

    /// The batch-level checks: all imported or none (as the first event says), and the
    /// timestamp each way allows.
    fn check_time<Event, Code: Copy>(
        &self,
        event: &Event,
        batch_imported: bool,
        kind: &Kind<Event, Code>,
    ) -> Option<Code> {
        let [
            _,
            _,
            _,
            expected,
            not_expected,
            must_be_zero,
            out_of_range,
            advance,
        ] = kind.codes;
        let imported = (kind.imported)(event);
        let timestamp = (kind.timestamp)(event);
        if imported && !batch_imported {
            Some(not_expected)
        } else if !imported && batch_imported {
            Some(expected)
        } else if !imported {
            (timestamp != 0).then_some(must_be_zero)
        } else if timestamp == 0 || timestamp >= 1 << 63 {
            Some(out_of_range)
        } else {
            (timestamp >= self.clock).then_some(advance)
        }
    }

    fn run_event<Event, Code: Copy>(
        &mut self,
        event: &Event,
        batch_imported: bool,
        kind: &Kind<Event, Code>,
    ) -> Code {
        match self.check_time(event, batch_imported, kind) {
            Some(code) => code,
            None => (kind.apply)(self, event),
        }
    }

    /// Splits a batch into single events and linked chains; runs chains on a clone. A
    /// transient failure is remembered after the clone is put back: it outlives the chain.
    fn run_batch<Event, Code: Copy + PartialEq>(
        &mut self,
        events: &[Event],
        kind: &Kind<Event, Code>,
    ) -> Vec<Code> {
        let [ok, failed, open, ..] = kind.codes;
        let batch_imported = events.first().is_some_and(|event| (kind.imported)(event));
        let mut results = Vec::new();
        let mut start = 0;
        while start < events.len() {
            let mut end = start;
            while (kind.linked)(&events[end]) && end + 1 < events.len() {
                end += 1;
            }
            let group = &events[start..=end];
            let saved = (kind.linked)(&group[0]).then(|| self.clone());
            let mut spent = None;
            let mut broken = false;
            for (index, event) in group.iter().enumerate() {
                let result = if index + 1 == group.len() && (kind.linked)(event) {
                    open
                } else if broken {
                    failed
                } else {
                    self.run_event(event, batch_imported, kind)
                };
                if result != ok && !broken {
                    broken = true;
                    spent = (kind.spend)(event, result);
                    for earlier in &mut results[start..] {
                        *earlier = failed;
                    }
                }
                results.push(result);
            }
            if let (true, Some(saved)) = (broken, saved) {
                *self = saved;
            }
            if let Some(failure) = spent {
                self.failed.push(failure.id);
                self.effects.failed.push(failure);
            }
            start = end + 1;
        }
        results
    }

    fn create_accounts(&mut self, accounts: &[Account]) -> Vec<AccountCode> {
        let kind = Kind {
            linked: |account: &Account| account.flags.contains(AccountFlags::LINKED),
            imported: |account: &Account| account.flags.contains(AccountFlags::IMPORTED),
            timestamp: |account: &Account| account.timestamp,
            apply: Model::create_account,
            spend: |_, _| None,
            codes: [
                AccountCode::Ok,
                AccountCode::LinkedEventFailed,
                AccountCode::LinkedEventChainOpen,
                AccountCode::ImportedEventExpected,
                AccountCode::ImportedEventNotExpected,
                AccountCode::TimestampMustBeZero,
                AccountCode::ImportedEventTimestampOutOfRange,
                AccountCode::ImportedEventTimestampMustNotAdvance,
            ],
        };
        self.run_batch(accounts, &kind)
    }

    fn create_transfers(&mut self, transfers: &[Transfer]) -> Vec<TransferCode> {
        let kind = Kind {
            linked: |transfer: &Transfer| transfer.flags.contains(TransferFlags::LINKED),
            imported: |transfer: &Transfer| transfer.flags.contains(TransferFlags::IMPORTED),
            timestamp: |transfer: &Transfer| transfer.timestamp,
            apply: Model::create_transfer,
            spend: |transfer: &Transfer, code| {
                is_transient(code).then_some(FailedTransfer {
                    id: transfer.id,
                    result: code,
                })
            },
            codes: [
                TransferCode::Ok,
                TransferCode::LinkedEventFailed,
                TransferCode::LinkedEventChainOpen,
                TransferCode::ImportedEventExpected,
                TransferCode::ImportedEventNotExpected,
                TransferCode::TimestampMustBeZero,
                TransferCode::ImportedEventTimestampOutOfRange,
                TransferCode::ImportedEventTimestampMustNotAdvance,
            ],
        };
        self.run_batch(transfers, &kind)
    }

    fn create_account(&mut self, account: &Account) -> AccountCode {
        if account.flags.has_reserved() {
            return AccountCode::ReservedFlag;
        }
        if account.id.0 == 0 {
            return AccountCode::IdMustNotBeZero;
        }
        if account.id.0 == u128::MAX {
            return AccountCode::IdMustNotBeIntMax;
        }
        if let Some(index) = self.account_index(account.id) {
            let existing = &self.accounts[index];
            let stored = existing.account;
            return if account.flags != existing.created_flags {
                AccountCode::ExistsWithDifferentFlags
            } else if account.user_data_128 != stored.user_data_128 {
                AccountCode::ExistsWithDifferentUserData128
            } else if account.user_data_64 != stored.user_data_64 {
                AccountCode::ExistsWithDifferentUserData64
            } else if account.user_data_32 != stored.user_data_32 {
                AccountCode::ExistsWithDifferentUserData32
            } else if account.ledger != stored.ledger {
                AccountCode::ExistsWithDifferentLedger
            } else if account.code != stored.code {
                AccountCode::ExistsWithDifferentCode
            } else {
                AccountCode::Exists
            };
        }
        if account
            .flags
            .contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
            && account
                .flags
                .contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
        {
            return AccountCode::FlagsAreMutuallyExclusive;
        }
        if account.debits_pending != 0 {
            return AccountCode::DebitsPendingMustBeZero;
        }
        if account.debits_posted != 0 {
            return AccountCode::DebitsPostedMustBeZero;
        }
        if account.credits_pending != 0 {
            return AccountCode::CreditsPendingMustBeZero;
        }
        if account.credits_posted != 0 {
            return AccountCode::CreditsPostedMustBeZero;
        }
        if account.ledger == 0 {
            return AccountCode::LedgerMustNotBeZero;
        }
        if account.code == 0 {
            return AccountCode::CodeMustNotBeZero;
        }
        let imported = account.flags.contains(AccountFlags::IMPORTED);
        let latest = self
            .max_account_timestamp()
            .max(self.max_transfer_timestamp());
        if imported && account.timestamp <= latest {
            return AccountCode::ImportedEventTimestampMustNotRegress;
        }
        let record = Account {
            timestamp: self.take_timestamp(imported, account.timestamp),
            ..*account
        };
        self.accounts.push(ModelAccount {
            account: record,
            created_flags: account.flags,
            history: Vec::new(),
        });
        self.effects.accounts.push(record);
        self.touch(record.id);
        AccountCode::Ok
    }

    fn create_transfer(&mut self, transfer: &Transfer) -> TransferCode {
        if transfer.flags.has_reserved() {
            return TransferCode::ReservedFlag;
        }
        if transfer.id.0 == 0 {
            return TransferCode::IdMustNotBeZero;
        }
        if transfer.id.0 == u128::MAX {
            return TransferCode::IdMustNotBeIntMax;
        }
        if let Some(index) = self.transfer_index(transfer.id) {
            return self.exists(transfer, &self.transfers[index].record);
        }
        if self.failed.contains(&transfer.id) {
            return TransferCode::IdAlreadyFailed;
        }
        let flags = transfer.flags;
        if flags.contains(TransferFlags::POST_PENDING_TRANSFER)
            || flags.contains(TransferFlags::VOID_PENDING_TRANSFER)
        {
            self.resolve(transfer)
        } else {
            self.create_new(transfer)
        }
    }

    /// The imported transfer's own timestamp must follow every transfer and be no account's.
    fn regresses(&self, transfer: &Transfer) -> bool {
        let timestamp = transfer.timestamp;
        transfer.flags.contains(TransferFlags::IMPORTED)
            && (timestamp <= self.max_transfer_timestamp()
                || self
                    .accounts
                    .iter()
                    .any(|entry| entry.account.timestamp == timestamp))
    }

    fn create_new(&mut self, transfer: &Transfer) -> TransferCode {
        let flags = transfer.flags;
        let pending = flags.contains(TransferFlags::PENDING);
        let closing = flags.contains(TransferFlags::CLOSING_DEBIT)
            || flags.contains(TransferFlags::CLOSING_CREDIT);
        let (debit_id, credit_id) = (transfer.debit_account_id, transfer.credit_account_id);
        if debit_id.0 == 0 {
            return TransferCode::DebitAccountIdMustNotBeZero;
        }
        if debit_id.0 == u128::MAX {
            return TransferCode::DebitAccountIdMustNotBeIntMax;
        }
        if credit_id.0 == 0 {
            return TransferCode::CreditAccountIdMustNotBeZero;
        }
        if credit_id.0 == u128::MAX {
            return TransferCode::CreditAccountIdMustNotBeIntMax;
        }
        if debit_id == credit_id {
            return TransferCode::AccountsMustBeDifferent;
        }
        if transfer.pending_id.0 != 0 {
            return TransferCode::PendingIdMustBeZero;
        }
        if !pending && transfer.timeout != 0 {
            return TransferCode::TimeoutReservedForPendingTransfer;
        }
        if !pending && closing {
            return TransferCode::ClosingTransferMustBePending;
        }
        if transfer.ledger == 0 {
            return TransferCode::LedgerMustNotBeZero;
        }
        if transfer.code == 0 {
            return TransferCode::CodeMustNotBeZero;
        }
        let Some(debit) = self.account_index(debit_id) else {
            return TransferCode::DebitAccountNotFound;
        };
        let Some(credit) = self.account_index(credit_id) else {
            return TransferCode::CreditAccountNotFound;
        };
        let (debit_account, credit_account) =
            (self.accounts[debit].account, self.accounts[credit].account);
        if debit_account.ledger != credit_account.ledger {
            return TransferCode::AccountsMustHaveTheSameLedger;
        }
        if transfer.ledger != debit_account.ledger {
            return TransferCode::TransferMustHaveTheSameLedgerAsAccounts;
        }
        if let Err(code) = self.imported_rules(transfer, &debit_account, &credit_account) {
            return code;
        }
        if debit_account.flags.contains(AccountFlags::CLOSED) {
            return TransferCode::DebitAccountAlreadyClosed;
        }
        if credit_account.flags.contains(AccountFlags::CLOSED) {
            return TransferCode::CreditAccountAlreadyClosed;
        }
        match self.new_transfer_amount(transfer, &debit_account, &credit_account) {
            Ok(amount) => self.apply_new(transfer, amount, debit, credit),
            Err(code) => code,
        }
    }

    fn imported_rules(
        &self,
        transfer: &Transfer,
        debit_account: &Account,
        credit_account: &Account,
    ) -> Result<(), TransferCode> {
        if !transfer.flags.contains(TransferFlags::IMPORTED) {
            return Ok(());
        }
        if self.regresses(transfer) {
            Err(TransferCode::ImportedEventTimestampMustNotRegress)
        } else if transfer.timestamp <= debit_account.timestamp {
            Err(TransferCode::ImportedEventTimestampMustPostdateDebitAccount)
        } else if transfer.timestamp <= credit_account.timestamp {
            Err(TransferCode::ImportedEventTimestampMustPostdateCreditAccount)
        } else if transfer.timeout != 0 {
            Err(TransferCode::ImportedEventTimeoutMustBeZero)
        } else {
            Ok(())
        }
    }

    fn new_transfer_amount(
        &self,
        transfer: &Transfer,
        debit_account: &Account,
        credit_account: &Account,
    ) -> Result<u128, TransferCode> {
        let flags = transfer.flags;
        let pending = flags.contains(TransferFlags::PENDING);
        let debit_room = debit_account
            .credits_posted
            .saturating_sub(debit_account.debits_posted + debit_account.debits_pending);
        let credit_room = credit_account
            .debits_posted
            .saturating_sub(credit_account.credits_posted + credit_account.credits_pending);
        let mut amount = transfer.amount;
        if flags.contains(TransferFlags::BALANCING_DEBIT) {
            amount = amount.min(debit_room);
        }
        if flags.contains(TransferFlags::BALANCING_CREDIT) {
            amount = amount.min(credit_room);
        }
        let fits = |balance: u128| balance.checked_add(amount).is_some();
        if pending && !fits(debit_account.debits_pending) {
            return Err(TransferCode::OverflowsDebitsPending);
        }
        if pending && !fits(credit_account.credits_pending) {
            return Err(TransferCode::OverflowsCreditsPending);
        }
        if !fits(debit_account.debits_posted) {
            return Err(TransferCode::OverflowsDebitsPosted);
        }
        if !fits(credit_account.credits_posted) {
            return Err(TransferCode::OverflowsCreditsPosted);
        }
        if !fits(debit_account.debits_pending + debit_account.debits_posted) {
            return Err(TransferCode::OverflowsDebits);
        }
        if !fits(credit_account.credits_pending + credit_account.credits_posted) {
            return Err(TransferCode::OverflowsCredits);
        }
        let timestamp = if flags.contains(TransferFlags::IMPORTED) {
            transfer.timestamp
        } else {
            self.clock
        };
        if timestamp
            .checked_add(u64::from(transfer.timeout) * SECOND)
            .is_none()
        {
            return Err(TransferCode::OverflowsTimeout);
        }
        if debit_account
            .flags
            .contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
            && debit_account.debits_pending + debit_account.debits_posted + amount
                > debit_account.credits_posted
        {
            return Err(TransferCode::ExceedsCredits);
        }
        if credit_account
            .flags
            .contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
            && credit_account.credits_pending + credit_account.credits_posted + amount
                > credit_account.debits_posted
        {
            return Err(TransferCode::ExceedsDebits);
        }
        Ok(amount)
    }

    fn apply_new(
        &mut self,
        transfer: &Transfer,
        amount: u128,
        debit: usize,
        credit: usize,
    ) -> TransferCode {
        let pending = transfer.flags.contains(TransferFlags::PENDING);
        let imported = transfer.flags.contains(TransferFlags::IMPORTED);
        let timestamp = self.take_timestamp(imported, transfer.timestamp);
        let record = Transfer {
            amount,
            timestamp,
            ..*transfer
        };
        {
            let debit_account = &mut self.accounts[debit].account;
            if pending {
                debit_account.debits_pending += amount
            } else {
                debit_account.debits_posted += amount
            }
            if transfer.flags.contains(TransferFlags::CLOSING_DEBIT) {
                debit_account.flags = debit_account.flags | AccountFlags::CLOSED;
            }
        }
        {
            let credit_account = &mut self.accounts[credit].account;
            if pending {
                credit_account.credits_pending += amount
            } else {
                credit_account.credits_posted += amount
            }
            if transfer.flags.contains(TransferFlags::CLOSING_CREDIT) {
                credit_account.flags = credit_account.flags | AccountFlags::CLOSED;
            }
        }
        let status = if pending {
            Some(PendingStatus::Pending)
        } else {
            None
        };
        self.commit(record, status, debit, credit);
        TransferCode::Ok
    }

    fn commit(
        &mut self,
        record: Transfer,
        status: Option<PendingStatus>,
        debit: usize,
        credit: usize,
    ) {
        self.transfers.push(ModelTransfer { record, status });
        self.effects.transfers.push(record);
        self.touch(record.debit_account_id);
        self.touch(record.credit_account_id);
        self.snapshot_history(debit, record.timestamp);
        self.snapshot_history(credit, record.timestamp);
    }

    fn resolve(&mut self, transfer: &Transfer) -> TransferCode {
        let flags = transfer.flags;
        let post = flags.contains(TransferFlags::POST_PENDING_TRANSFER);
        let void = flags.contains(TransferFlags::VOID_PENDING_TRANSFER);
        let shaped = [
            TransferFlags::PENDING,
            TransferFlags::BALANCING_DEBIT,
            TransferFlags::BALANCING_CREDIT,
            TransferFlags::CLOSING_DEBIT,
            TransferFlags::CLOSING_CREDIT,
        ]
        .iter()
        .any(|flag| flags.contains(*flag));
        if (post && void) || shaped {
            return TransferCode::FlagsAreMutuallyExclusive;
        }
        if transfer.pending_id.0 == 0 {
            return TransferCode::PendingIdMustNotBeZero;
        }
        if transfer.pending_id.0 == u128::MAX {
            return TransferCode::PendingIdMustNotBeIntMax;
        }
        if transfer.pending_id == transfer.id {
            return TransferCode::PendingIdMustBeDifferent;
        }
        if transfer.timeout != 0 {
            return TransferCode::TimeoutReservedForPendingTransfer;
        }
        let Some(pending_index) = self.transfer_index(transfer.pending_id) else {
            return TransferCode::PendingTransferNotFound;
        };
        let pending = self.transfers[pending_index].record;
        if !pending.flags.contains(TransferFlags::PENDING) {
            return TransferCode::PendingTransferNotPending;
        }
        if transfer.debit_account_id.0 != 0 && transfer.debit_account_id != pending.debit_account_id
        {
            return TransferCode::PendingTransferHasDifferentDebitAccountId;
        }
        if transfer.credit_account_id.0 != 0
            && transfer.credit_account_id != pending.credit_account_id
        {
            return TransferCode::PendingTransferHasDifferentCreditAccountId;
        }
        if transfer.ledger != 0 && transfer.ledger != pending.ledger {
            return TransferCode::PendingTransferHasDifferentLedger;
        }
        if transfer.code != 0 && transfer.code != pending.code {
            return TransferCode::PendingTransferHasDifferentCode;
        }
        let whole = if post {
            transfer.amount == u128::MAX
        } else {
            transfer.amount == 0
        };
        let amount = if whole {
            pending.amount
        } else {
            transfer.amount
        };
        if amount > pending.amount {
            return TransferCode::ExceedsPendingTransferAmount;
        }
        if void && amount != pending.amount {
            return TransferCode::PendingTransferHasDifferentAmount;
        }
        match self.transfers[pending_index].status {
            Some(PendingStatus::Posted) => return TransferCode::PendingTransferAlreadyPosted,
            Some(PendingStatus::Voided) => return TransferCode::PendingTransferAlreadyVoided,
            Some(PendingStatus::Expired) => return TransferCode::PendingTransferExpired,
            _ => {}
        }
        if pending.timeout > 0 && expires_at(&pending) <= self.clock {
            return TransferCode::PendingTransferExpired;
        }
        if self.regresses(transfer) {
            return TransferCode::ImportedEventTimestampMustNotRegress;
        }
        let debit = self.account_index(pending.debit_account_id).unwrap();
        let credit = self.account_index(pending.credit_account_id).unwrap();
        let closed = |index: usize| {
            self.accounts[index]
                .account
                .flags
                .contains(AccountFlags::CLOSED)
        };
        if post && closed(debit) {
            return TransferCode::DebitAccountAlreadyClosed;
        }
        if post && closed(credit) {
            return TransferCode::CreditAccountAlreadyClosed;
        }
        self.release(pending_index);
        if post {
            self.accounts[debit].account.debits_posted += amount;
            self.accounts[credit].account.credits_posted += amount;
        }
        self.transfers[pending_index].status = Some(if post {
            PendingStatus::Posted
        } else {
            PendingStatus::Voided
        });
        let pick = |given: u128, inherited: u128| if given != 0 { given } else { inherited };
        let imported = flags.contains(TransferFlags::IMPORTED);
        let record = Transfer {
            id: transfer.id,
            debit_account_id: pending.debit_account_id,
            credit_account_id: pending.credit_account_id,
            amount,
            pending_id: transfer.pending_id,
            user_data_128: pick(transfer.user_data_128, pending.user_data_128),
            user_data_64: pick(transfer.user_data_64.into(), pending.user_data_64.into()) as u64,
            user_data_32: pick(transfer.user_data_32.into(), pending.user_data_32.into()) as u32,
            timeout: 0,
            ledger: pending.ledger,
            code: pending.code,
            flags,
            timestamp: self.take_timestamp(imported, transfer.timestamp),
        };
        self.commit(record, None, debit, credit);
        TransferCode::Ok
    }

    /// `exists` / `exists_with_different_*` for a request against the stored transfer.
    fn exists(&self, transfer: &Transfer, existing: &Transfer) -> TransferCode {
        let flags = transfer.flags;
        if flags != existing.flags {
            TransferCode::ExistsWithDifferentFlags
        } else if transfer.pending_id != existing.pending_id {
            TransferCode::ExistsWithDifferentPendingId
        } else if transfer.timeout != existing.timeout {
            TransferCode::ExistsWithDifferentTimeout
        } else if flags.contains(TransferFlags::POST_PENDING_TRANSFER)
            || flags.contains(TransferFlags::VOID_PENDING_TRANSFER)
        {
            let pending = self.transfer_index(transfer.pending_id).unwrap();
            resolution_exists(transfer, existing, &self.transfers[pending].record)
        } else {
            new_exists(transfer, existing)
        }
    }
}

/// A retried single-phase, pending or balancing transfer: every field exactly, but a
/// balancing amount is an upper bound (any request at least as large as what was moved).
fn new_exists(transfer: &Transfer, existing: &Transfer) -> TransferCode {
    let balancing = transfer.flags.contains(TransferFlags::BALANCING_DEBIT)
        || transfer.flags.contains(TransferFlags::BALANCING_CREDIT);
    let amount_differs = if balancing {
        transfer.amount < existing.amount
    } else {
        transfer.amount != existing.amount
    };
    if transfer.debit_account_id != existing.debit_account_id {
        TransferCode::ExistsWithDifferentDebitAccountId
    } else if transfer.credit_account_id != existing.credit_account_id {
        TransferCode::ExistsWithDifferentCreditAccountId
    } else if amount_differs {
        TransferCode::ExistsWithDifferentAmount
    } else if transfer.user_data_128 != existing.user_data_128 {
        TransferCode::ExistsWithDifferentUserData128
    } else if transfer.user_data_64 != existing.user_data_64 {
        TransferCode::ExistsWithDifferentUserData64
    } else if transfer.user_data_32 != existing.user_data_32 {
        TransferCode::ExistsWithDifferentUserData32
    } else if transfer.ledger != existing.ledger {
        TransferCode::ExistsWithDifferentLedger
    } else if transfer.code != existing.code {
        TransferCode::ExistsWithDifferentCode
    } else {
        TransferCode::Exists
    }
}

/// A retried post or void (TigerBeetle's rules): zero accounts, ledger and code match
/// anything; zero user data matches the pending transfer's; the whole amount (`u128::MAX`
/// for a post, 0 for a void) matches a record that moved all of it.
fn resolution_exists(transfer: &Transfer, existing: &Transfer, pending: &Transfer) -> TransferCode {
    let post = transfer
        .flags
        .contains(TransferFlags::POST_PENDING_TRANSFER);
    let whole = if post { u128::MAX } else { 0 };
    let amount_differs = if transfer.amount == whole {
        existing.amount != pending.amount
    } else {
        transfer.amount != existing.amount
    };
    let differs = |given: u128, stored: u128| given != 0 && given != stored;
    let user_data_differs = |given: u128, stored: u128, inherited: u128| {
        if given == 0 {
            stored != inherited
        } else {
            given != stored
        }
    };
    if differs(transfer.debit_account_id.0, existing.debit_account_id.0) {
        TransferCode::ExistsWithDifferentDebitAccountId
    } else if differs(transfer.credit_account_id.0, existing.credit_account_id.0) {
        TransferCode::ExistsWithDifferentCreditAccountId
    } else if amount_differs {
        TransferCode::ExistsWithDifferentAmount
    } else if user_data_differs(
        transfer.user_data_128,
        existing.user_data_128,
        pending.user_data_128,
    ) {
        TransferCode::ExistsWithDifferentUserData128
    } else if user_data_differs(
        transfer.user_data_64.into(),
        existing.user_data_64.into(),
        pending.user_data_64.into(),
    ) {
        TransferCode::ExistsWithDifferentUserData64
    } else if user_data_differs(
        transfer.user_data_32.into(),
        existing.user_data_32.into(),
        pending.user_data_32.into(),
    ) {
        TransferCode::ExistsWithDifferentUserData32
    } else if differs(transfer.ledger.into(), existing.ledger.into()) {
        TransferCode::ExistsWithDifferentLedger
    } else if differs(transfer.code.into(), existing.code.into()) {
        TransferCode::ExistsWithDifferentCode
    } else {
        TransferCode::Exists
    }
}

// ---------------------------------------------------------------------------------------------
// Checks.

/// The engine agrees with the model: accounts and the transfer count always; a transfer held
/// in memory is the model's (record, status, leaf index); one that is not is in the `store`
/// as the model has it. Memory must hold every committed transfer when `complete`, and every
/// open pending transfer always.
fn assert_same_state(engine: &Engine, store: &TransferArchive, complete: bool, model: &Model) {
    assert_eq!(engine.account_count(), model.accounts.len() as u64);
    assert_eq!(engine.transfer_count(), model.transfers.len() as u64);
    for id in 0..=*IMPORTED_ACCOUNT_IDS.end() {
        let id = AccountId(id);
        let expected = model
            .account_index(id)
            .map(|index| &model.accounts[index].account);
        assert_eq!(engine.account(id), expected, "account {id}");
    }
    let funding_ids = FUNDING_IDS..=FUNDING_IDS + ACCOUNT_IDS;
    for id in (0..=TRANSFER_IDS).chain(funding_ids) {
        assert_same_transfer(engine, store, complete, model, TransferId(id));
    }
    let open = model.transfers.iter().filter(|entry| is_open(entry.status));
    assert_eq!(
        engine.open_pending_count(),
        open.count(),
        "open pending transfers"
    );
}

fn assert_same_transfer(
    engine: &Engine,
    store: &TransferArchive,
    complete: bool,
    model: &Model,
    id: TransferId,
) {
    let expected = model.transfer_index(id).map(|index| StoredTransfer {
        transfer: model.transfers[index].record,
        status: model.transfers[index].status,
        leaf_index: index as u64,
    });
    let in_memory = engine.stored_transfer(id);
    let memory_record = in_memory.map(|stored| stored.transfer);
    assert_eq!(engine.transfer(id).copied(), memory_record, "transfer {id}");
    let memory_status = in_memory.and_then(|stored| stored.status);
    assert_eq!(engine.pending_status(id), memory_status, "status of {id}");
    if complete || expected.is_some_and(|stored| is_open(stored.status)) {
        assert_eq!(in_memory, expected, "transfer {id} in memory");
    }
    let found = in_memory.or_else(|| store.get(id));
    assert_eq!(found, expected, "transfer {id} in memory or in the store");
}

fn is_open(status: Option<PendingStatus>) -> bool {
    status == Some(PendingStatus::Pending)
}

/// Every account's history, as the blocks handed it out, is the model's.
fn assert_same_histories(recorded: &[BlockEffects], model: &Model) {
    for entry in &model.accounts {
        let id = entry.account.id;
        let history: Vec<AccountBalance> = recorded
            .iter()
            .flat_map(|effects| &effects.history)
            .filter(|balance| balance.account_id == id)
            .copied()
            .collect();
        assert_eq!(history, entry.history, "history of account {id}");
    }
}

fn assert_invariants(model: &Model) {
    // Per ledger, with wrapping sums: balances near u128::MAX are generated on purpose.
    let mut totals: BTreeMap<u32, [u128; 4]> = BTreeMap::new();
    for entry in &model.accounts {
        let account = &entry.account;
        let sums = totals.entry(account.ledger).or_default();
        let balances = [
            account.debits_pending,
            account.debits_posted,
            account.credits_pending,
            account.credits_posted,
        ];
        for (sum, balance) in sums.iter_mut().zip(balances) {
            *sum = sum.wrapping_add(balance);
        }
        assert!(
            account
                .debits_pending
                .checked_add(account.debits_posted)
                .is_some(),
            "{account:?}"
        );
        assert!(
            account
                .credits_pending
                .checked_add(account.credits_posted)
                .is_some(),
            "{account:?}"
        );
        if account
            .flags
            .contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
        {
            assert!(
                account.debits_pending + account.debits_posted <= account.credits_posted,
                "{account:?}"
            );
        }
        if account
            .flags
            .contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
        {
            assert!(
                account.credits_pending + account.credits_posted <= account.debits_posted,
                "{account:?}"
            );
        }
    }
    for (
        ledger,
        [
            debits_pending,
            debits_posted,
            credits_pending,
            credits_posted,
        ],
    ) in totals
    {
        assert_eq!(debits_pending, credits_pending, "ledger {ledger} pending");
        assert_eq!(debits_posted, credits_posted, "ledger {ledger} posted");
    }
    // Every pending transfer is resolved at most once, and never after it expired.
    let mut resolutions: BTreeMap<u128, usize> = BTreeMap::new();
    for entry in &model.transfers {
        let flags = entry.record.flags;
        if flags.contains(TransferFlags::POST_PENDING_TRANSFER)
            || flags.contains(TransferFlags::VOID_PENDING_TRANSFER)
        {
            *resolutions.entry(entry.record.pending_id.0).or_default() += 1;
        }
    }
    for entry in &model.transfers {
        let count = resolutions.get(&entry.record.id.0).copied().unwrap_or(0);
        match entry.status {
            Some(PendingStatus::Posted | PendingStatus::Voided) => assert_eq!(count, 1),
            _ => assert_eq!(count, 0, "{entry:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Generators.

/// A transfer batch names catalog entries (by index) and how to vary each occurrence, so a
/// repeated id is an exact retry unless varied on purpose.
#[derive(Clone, Debug)]
enum Batch {
    Accounts(Vec<Account>),
    Transfers(Vec<(usize, u8)>),
    /// Imported accounts (ids from `IMPORTED_ACCOUNT_IDS`) whose timestamps follow the
    /// latest one the ledger holds `gap` nanoseconds apart (see `imported_timestamp`).
    ImportedAccounts(Vec<(Account, u8)>, u64),
    /// Catalog transfers, imported likewise.
    ImportedTransfers(Vec<(usize, u8)>, u64),
}

/// Imported accounts get ids 12..=14 (11 never exists); no catalog transfer names them.
const IMPORTED_ACCOUNT_IDS: std::ops::RangeInclusive<u128> = 12..=14;

/// The `index`th imported timestamp of a batch: `gap` apart after `latest`, except for rare
/// variations that regress or fall out of range.
fn imported_timestamp(latest: u64, gap: u64, index: usize, variation: u8) -> u64 {
    match variation % 16 {
        0 => latest,
        1 => 0,
        _ => latest + gap * (index as u64 + 1),
    }
}

#[derive(Clone, Debug)]
struct Block {
    advance_ms: u64,
    batches: Vec<Batch>,
}

#[derive(Clone, Debug)]
struct Scenario {
    initial: Vec<Account>,
    /// The content of transfer id `index + 1`.
    catalog: Vec<TransferChoice>,
    blocks: Vec<Block>,
}

impl Scenario {
    /// The batch's events. Variations from `AIMED` on resolve a pending transfer that is open
    /// right now (chosen from the model's state, which engine and model share), since random
    /// ids mostly name pending transfers that do not exist yet.
    fn transfers(&self, entries: &[(usize, u8)], model: &Model) -> Vec<Transfer> {
        let open: Vec<TransferId> = model
            .transfers
            .iter()
            .filter(|entry| entry.status == Some(PendingStatus::Pending))
            .map(|entry| entry.record.id)
            .collect();
        let event = |&(index, variation): &(usize, u8)| {
            let id = index as u128 + 1;
            match open.get(usize::from(variation) % open.len().max(1)) {
                Some(pending_id) if variation >= AIMED => aimed(id, *pending_id, variation),
                _ => build(id, &self.catalog[index], variation),
            }
        };
        entries.iter().map(event).collect()
    }

    fn imported_transfers(
        &self,
        entries: &[(usize, u8)],
        gap: u64,
        model: &Model,
    ) -> Vec<Transfer> {
        let latest = model.latest_timestamp();
        let mut transfers = self.transfers(entries, model);
        for (index, (transfer, &(_, variation))) in transfers.iter_mut().zip(entries).enumerate() {
            transfer.flags = transfer.flags | TransferFlags::IMPORTED;
            transfer.timestamp = imported_timestamp(latest, gap, index, variation);
        }
        transfers
    }
}

/// Imported accounts: the generated ones moved to the imported ids, flagged and dated (the
/// `u8` picks the timestamp's variation).
fn imported_accounts(accounts: &[(Account, u8)], gap: u64, model: &Model) -> Vec<Account> {
    let latest = model.latest_timestamp();
    let ids = IMPORTED_ACCOUNT_IDS.count() as u128;
    let imported = |(index, (account, variation)): (usize, &(Account, u8))| Account {
        id: AccountId(IMPORTED_ACCOUNT_IDS.start() + account.id.0 % ids),
        flags: account.flags | AccountFlags::IMPORTED,
        timestamp: imported_timestamp(latest, gap, index, *variation),
        ..*account
    };
    accounts.iter().enumerate().map(imported).collect()
}

/// Variations at or above this aim a post/void at an open pending transfer.
const AIMED: u8 = 88;

/// A post (even variations) or void of `pending_id`: all of it, or 1 posted.
fn aimed(id: u128, pending_id: TransferId, variation: u8) -> Transfer {
    let post = variation & 1 == 0;
    let flags = if post {
        TransferFlags::POST_PENDING_TRANSFER
    } else {
        TransferFlags::VOID_PENDING_TRANSFER
    };
    let amount = match variation % 3 {
        1 if post => 1,
        2 if post => u128::MAX,
        _ => 0,
    };
    Transfer {
        id: TransferId(id),
        pending_id,
        amount,
        flags,
        ..Transfer::default()
    }
}

/// Accounts 1..=6 are on ledger 1, 7..=10 on ledger 2 (unless a rare variation says otherwise).
fn ledger_of(id: u128) -> u32 {
    if id <= 6 { 1 } else { 2 }
}

/// A valid account of the initial chart: `guard` picks the guard flag (mostly none).
fn chart_account(id: u128, guard: u8, history: bool) -> Account {
    let mut flags = match guard {
        0..=11 => AccountFlags::empty(),
        12..=15 => AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
        _ => AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
    };
    if history {
        flags = flags | AccountFlags::HISTORY;
    }
    Account {
        id: AccountId(id),
        ledger: ledger_of(id),
        code: 1,
        flags,
        ..Account::default()
    }
}

/// Later account batches: mostly retries of the chart (some differing), some invalid.
fn account_strategy() -> impl Strategy<Value = Account> {
    let choices = (1..=ACCOUNT_IDS + 1, 0..20u8, any::<bool>(), 0..8u8, 0..40u8);
    choices.prop_map(|(id, guard, history, linked, variation)| {
        let mut account = chart_account(id, guard, history);
        if guard == 19 {
            let both = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS
                | AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS;
            account.flags = account.flags | both;
        }
        if linked == 0 {
            account.flags = account.flags | AccountFlags::LINKED;
        }
        match variation {
            0 => account.ledger = 0,
            1 => account.code = 2,
            2 => account.flags = account.flags | AccountFlags::CLOSED,
            3 => account.credits_posted = 1,
            4 => account.user_data_32 = 1,
            5 => account.timestamp = 1,
            6 => account.flags = AccountFlags(1 << 6),
            7 => {
                account.flags = account.flags | AccountFlags::IMPORTED;
                account.timestamp = 1;
            }
            _ => {}
        }
        account
    })
}

fn amount_strategy() -> impl Strategy<Value = u128> {
    prop_oneof![
        12 => 1..=40u128,
        1 => Just(0u128),
        1 => Just(u128::MAX),
        1 => Just(u128::MAX / 2 + 1),
    ]
}

/// Posts and voids mostly name one of the first few pending ids, so that several of them
/// race for the same pending transfer (already posted / voided / expired).
const TARGETED_PENDING_IDS: u128 = 8;

/// The unguarded account of each ledger, which funds the guarded ones.
const BANKS: [u128; 2] = [1, 7];
/// Funding transfers take ids above the catalog's, `FUNDING_IDS + account id`.
const FUNDING_IDS: u128 = 1_000;

/// Gives every guarded account of the chart some room to move: credits for
/// `debits_must_not_exceed_credits`, debits for `credits_must_not_exceed_debits`.
fn funding(chart: &[Account]) -> Vec<Transfer> {
    let mut transfers = Vec::new();
    for account in chart {
        let bank = AccountId(BANKS[usize::from(account.ledger == 2)]);
        let (debit, credit) = if account
            .flags
            .contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
        {
            (bank, account.id)
        } else if account
            .flags
            .contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
        {
            (account.id, bank)
        } else {
            continue;
        };
        transfers.push(Transfer {
            id: TransferId(FUNDING_IDS + account.id.0),
            debit_account_id: debit,
            credit_account_id: credit,
            amount: 100,
            ledger: account.ledger,
            code: 1,
            ..Transfer::default()
        });
    }
    transfers
}

/// Ids up to this are mostly pending transfers, and posts/voids mostly name one of them.
const PENDING_IDS: u128 = 15;

/// Raw choices for the content of one transfer id; `build` turns them into the event.
#[derive(Clone, Debug)]
struct TransferChoice {
    debit: u128,
    credit: u128,
    amount: u128,
    kind: u8,
    timeout: u32,
    pending_id: u128,
    extra: u8,
    user_data: u8,
}

fn choice_strategy() -> impl Strategy<Value = TransferChoice> {
    (
        1..=ACCOUNT_IDS,
        1..=ACCOUNT_IDS,
        amount_strategy(),
        0..12u8,
        // Half never expire; the rest within a block or two.
        prop_oneof![Just(0u32), Just(0), Just(1), Just(3)],
        1..=TRANSFER_IDS,
        0..16u8,
        0..3u8,
    )
        .prop_map(
            |(debit, credit, amount, kind, timeout, pending_id, extra, user_data)| TransferChoice {
                debit,
                credit,
                amount,
                kind,
                timeout,
                pending_id,
                extra,
                user_data,
            },
        )
}

fn build(id: u128, choice: &TransferChoice, variation: u8) -> Transfer {
    // Keep both accounts on the debit account's ledger most of the time.
    let (first, size) = if ledger_of(choice.debit) == 1 {
        (1, 6)
    } else {
        (7, 4)
    };
    let mut credit = first + choice.credit % size;
    if credit == choice.debit {
        credit = first + (credit + 1 - first) % size;
    }
    let mut transfer = Transfer {
        id: TransferId(id),
        debit_account_id: AccountId(choice.debit),
        credit_account_id: AccountId(credit),
        amount: choice.amount,
        user_data_128: choice.user_data.into(),
        user_data_64: u64::from(choice.extra % 2),
        user_data_32: u32::from(choice.kind % 2),
        ledger: ledger_of(choice.debit),
        code: 1,
        ..Transfer::default()
    };
    let balancing = [
        TransferFlags::BALANCING_DEBIT,
        TransferFlags::BALANCING_CREDIT,
    ];
    let closing = [TransferFlags::CLOSING_DEBIT, TransferFlags::CLOSING_CREDIT];
    let pick = |flags: [TransferFlags; 2]| match choice.extra % 3 {
        0 => flags[0],
        1 => flags[1],
        _ => flags[0] | flags[1],
    };
    if id <= TARGETED_PENDING_IDS {
        // The pending transfers that posts and voids race for get ordinary amounts, so that
        // they usually exist by the time a post or void names them.
        transfer.amount = 1 + choice.amount % 40;
    }
    let kind = match (id <= PENDING_IDS, choice.kind) {
        (true, 0..=7) => 4,
        (true, 8 | 9) => 11,
        (true, _) => 0,
        (false, kind) => kind,
    };
    match kind {
        0..=3 => {}
        4 | 5 => {
            transfer.flags = TransferFlags::PENDING;
            transfer.timeout = choice.timeout;
            if choice.extra >= 13 {
                transfer.flags = transfer.flags | pick(closing);
            }
        }
        6..=8 => {
            let resolution = if kind == 8 {
                TransferFlags::VOID_PENDING_TRANSFER
            } else {
                TransferFlags::POST_PENDING_TRANSFER
            };
            // Mostly one of the pending ids; now and then any id (likely not pending).
            let pending_id = if choice.extra == 15 {
                choice.pending_id
            } else {
                1 + choice.pending_id % TARGETED_PENDING_IDS
            };
            transfer = resolution_of(transfer, resolution, pending_id, choice.extra);
        }
        9 | 10 => transfer.flags = pick(balancing),
        _ => {
            transfer.flags = TransferFlags::PENDING | pick(balancing);
            transfer.timeout = choice.timeout;
        }
    }
    if choice.extra < 2 {
        transfer.flags = transfer.flags | TransferFlags::LINKED;
    }
    vary(transfer, variation)
}

/// A post or void that usually inherits every field from the pending transfer.
fn resolution_of(
    transfer: Transfer,
    flags: TransferFlags,
    pending_id: u128,
    extra: u8,
) -> Transfer {
    let amount = match extra % 4 {
        0 => 0,
        1 if flags.contains(TransferFlags::POST_PENDING_TRANSFER) => u128::MAX,
        _ => transfer.amount % 41,
    };
    let mut resolution = Transfer {
        id: transfer.id,
        pending_id: TransferId(pending_id),
        amount,
        user_data_64: u64::from(extra % 3),
        flags,
        ..Transfer::default()
    };
    if extra >= 12 {
        // Spell the fields out; they may or may not match the pending transfer.
        resolution.debit_account_id = transfer.debit_account_id;
        resolution.credit_account_id = transfer.credit_account_id;
        resolution.ledger = transfer.ledger;
        resolution.code = 1;
    }
    resolution
}

/// Variations of one occurrence: rare invalid inputs, or a retry that differs.
fn vary(mut transfer: Transfer, variation: u8) -> Transfer {
    match variation {
        0 => transfer.timestamp = 1,
        1 => transfer.flags = transfer.flags | TransferFlags(1 << 9),
        2 => transfer.ledger = 0,
        3 => transfer.code = 0,
        4 => {
            transfer.flags =
                transfer.flags | TransferFlags::PENDING | TransferFlags::POST_PENDING_TRANSFER
        }
        5 => transfer.timeout = 1,
        6 => transfer.id = TransferId(0),
        7 => transfer.debit_account_id = AccountId(ACCOUNT_IDS + 1),
        8 => transfer.credit_account_id = transfer.debit_account_id,
        9 => transfer.ledger = 3 - transfer.ledger.min(2),
        10 => {
            transfer.credit_account_id =
                AccountId(1 + u128::from(transfer.debit_account_id.0 <= 6) * 6)
        }
        11 => transfer.pending_id = TransferId(1),
        12 => transfer.flags = transfer.flags | TransferFlags::CLOSING_DEBIT,
        13 => transfer.code = 2,
        14 => transfer.amount = transfer.amount.wrapping_add(1),
        15 => transfer.user_data_32 = 1,
        16 => transfer.flags = transfer.flags | TransferFlags::LINKED,
        _ => {}
    }
    transfer
}

fn block_strategy() -> impl Strategy<Value = Block> {
    // Favour the targeted pending ids, so posts and voids find them.
    let index = prop_oneof![1 => 0..TARGETED_PENDING_IDS as usize, 3 => 0..TRANSFER_IDS as usize];
    let entry = (index, 0..100u8);
    let gap = prop_oneof![1..10u64, 1_000..1_000_000u64];
    let batch = prop_oneof![
        1 => vec(account_strategy(), 1..4).prop_map(Batch::Accounts),
        6 => vec(entry.clone(), 1..14).prop_map(Batch::Transfers),
        1 => (vec((account_strategy(), any::<u8>()), 1..3), gap.clone())
            .prop_map(|(accounts, gap)| Batch::ImportedAccounts(accounts, gap)),
        1 => (vec(entry, 1..8), gap)
            .prop_map(|(entries, gap)| Batch::ImportedTransfers(entries, gap)),
    ];
    (0..2500u64, vec(batch, 1..4)).prop_map(|(advance_ms, batches)| Block {
        advance_ms,
        batches,
    })
}

fn scenario_strategy() -> impl Strategy<Value = Scenario> {
    (
        vec((0..20u8, any::<bool>()), ACCOUNT_IDS as usize).prop_map(|flags| {
            let ids = 1..=ACCOUNT_IDS;
            // Accounts 1 and 7 stay unguarded: they fund the others (see `funding`).
            let guard = |id: u128, guard: u8| if BANKS.contains(&id) { 0 } else { guard };
            ids.zip(flags)
                .map(|(id, (raw, history))| chart_account(id, guard(id, raw), history))
                .collect()
        }),
        vec(choice_strategy(), TRANSFER_IDS as usize),
        vec(block_strategy(), 1..12),
    )
        .prop_map(|(initial, catalog, blocks)| Scenario {
            initial,
            catalog,
            blocks,
        })
}

// ---------------------------------------------------------------------------------------------
// The property.

/// A cache of two transfers and a filter of one 64-byte block, which says "maybe" for almost
/// every id once a few dozen are in: most batches must read the store first.
const SMALL: EngineConfig = EngineConfig {
    transfers_cached_max: 2,
    id_filter_bytes: 64,
};

/// How a run is set up: the engine's config, and the block after which the engine is
/// replaced by one restored from its state (what a restart from a snapshot does).
#[derive(Clone, Copy)]
struct Setup {
    config: EngineConfig,
    restore_after: Option<usize>,
    /// Restore with every bit of the id filter set: each id is a false positive unless it
    /// exists, so every lookup goes to the store and most find nothing there.
    saturate_filter: bool,
}

impl Setup {
    fn plain(config: EngineConfig) -> Setup {
        Setup {
            config,
            restore_after: None,
            saturate_filter: false,
        }
    }

    fn restored(config: EngineConfig, after: usize, saturate_filter: bool) -> Setup {
        Setup {
            config,
            restore_after: Some(after),
            saturate_filter,
        }
    }
}

/// One run of a scenario: the engine, its store, the model it was checked against.
struct Run {
    engine: Engine,
    /// Every committed transfer; each block is durable as soon as it ends.
    store: TransferArchive,
    /// Whether memory holds every committed transfer: until the first eviction (the default
    /// cache never fills here).
    complete: bool,
    model: Model,
    recorded: Vec<BlockEffects>,
    /// Transfer batches run once memory no longer held everything, those that read the
    /// store first, those it found transfers for, and those it did not find one for.
    batches: usize,
    prefetching_batches: usize,
    finding_batches: usize,
    missing_batches: usize,
}

impl Run {
    fn new(config: EngineConfig) -> Run {
        Run {
            engine: Engine::with_config(config),
            store: TransferArchive::new(),
            complete: true,
            model: Model::default(),
            recorded: Vec::new(),
            batches: 0,
            prefetching_batches: 0,
            finding_batches: 0,
            missing_batches: 0,
        }
    }

    /// Evicts everything it may (every block so far is durable), which brings the cache
    /// down to its limit.
    fn evict(&mut self, config: EngineConfig) {
        let cached = self.engine.cached_transfer_count();
        self.engine.evict(self.engine.block_number());
        let left = self.engine.cached_transfer_count();
        assert!(left <= config.transfers_cached_max, "{left} cached");
        // Memory holds everything until the first eviction.
        self.complete &= left == cached;
    }

    /// Reads what the batch needs from the store, then runs it on engine and model.
    fn create_transfers(&mut self, transfers: &[Transfer]) {
        let mut keys = Vec::new();
        self.engine.prefetch_keys(transfers, &mut keys);
        let found = self.store.lookup(&keys);
        let failed = self.store.lookup_failed(&keys);
        self.engine.prefetched(&keys, &found);
        self.engine.prefetched_failed(&failed);
        if !self.complete {
            let known = found.len() + failed.len();
            self.batches += 1;
            self.prefetching_batches += usize::from(!keys.is_empty());
            self.finding_batches += usize::from(known > 0);
            self.missing_batches += usize::from(known < keys.len());
        }
        assert_eq!(
            self.engine.create_transfers(transfers),
            self.model.create_transfers(transfers),
            "{transfers:?}"
        );
    }

    fn create_accounts(&mut self, accounts: &[Account]) {
        assert_eq!(
            self.engine.create_accounts(accounts),
            self.model.create_accounts(accounts),
            "{accounts:?}"
        );
    }

    fn add_counts(&mut self, other: &Run) {
        self.batches += other.batches;
        self.prefetching_batches += other.prefetching_batches;
        self.finding_batches += other.finding_batches;
        self.missing_batches += other.missing_batches;
    }

    fn assert_same_state(&self) {
        assert_same_state(&self.engine, &self.store, self.complete, &self.model);
    }

    fn end_block(&mut self, height: usize) {
        let effects = self.engine.end_block();
        assert_eq!(effects, self.model.effects, "block {height} effects");
        assert_eq!(self.engine.last_timestamp(), self.model.last);
        self.store.record(&effects);
        self.recorded.push(effects);
        self.assert_same_state();
        assert_same_histories(&self.recorded, &self.model);
        assert_invariants(&self.model);
    }

    /// Replaces the engine with one restored from its state, as a restart does.
    fn restore(&mut self, config: EngineConfig, saturate_filter: bool) {
        let mut state = self.engine.state();
        if saturate_filter {
            saturate(&mut state);
        }
        let last_transfer = self.engine.last_transfer_timestamp();
        let restored =
            Engine::restore_with_last_transfer_timestamp(config, state.clone(), last_transfer)
                .expect("an engine's own state");
        assert_eq!(restored.state(), state, "state round trip");
        self.engine = restored;
        // The restored engine holds only the open pending transfers (all of them, when
        // nothing was ever committed: then there is nothing else).
        self.complete = state.transfer_count == 0;
        self.assert_same_state();
    }
}

/// Runs a scenario on an engine, checking it against the model after every batch and block.
fn run_live(scenario: &Scenario, setup: Setup) -> Run {
    let mut run = Run::new(setup.config);
    let mut now = START;
    for (height, block) in scenario.blocks.iter().enumerate() {
        now += block.advance_ms * 1_000_000;
        run.evict(setup.config);
        assert_eq!(
            run.engine.begin_block(now),
            run.model.begin_block(now),
            "block {height} timestamp"
        );
        if height == 0 {
            run.create_accounts(&scenario.initial);
            run.create_transfers(&funding(&scenario.initial));
            let funded = run.model.transfers.len();
            assert_eq!(funded, funding(&scenario.initial).len(), "funding commits");
        }
        for batch in &block.batches {
            match batch {
                Batch::Accounts(accounts) => run.create_accounts(accounts),
                Batch::Transfers(entries) => {
                    let transfers = scenario.transfers(entries, &run.model);
                    run.create_transfers(&transfers);
                }
                Batch::ImportedAccounts(accounts, gap) => {
                    let accounts = imported_accounts(accounts, *gap, &run.model);
                    run.create_accounts(&accounts);
                }
                Batch::ImportedTransfers(entries, gap) => {
                    let transfers = scenario.imported_transfers(entries, *gap, &run.model);
                    run.create_transfers(&transfers);
                }
            }
            run.assert_same_state();
        }
        run.end_block(height);
        if setup.restore_after == Some(height) {
            run.restore(setup.config, setup.saturate_filter);
        }
    }
    run
}

/// Sets every bit of the state's id filter: a filter after very many ids, which sends every
/// lookup to the store.
fn saturate(state: &mut EngineState) {
    let words = vec![u64::MAX; state.id_filter.words().len()];
    state.id_filter = IdFilter::from_words(words, state.transfer_count).unwrap();
}

/// Replays the recorded blocks into a fresh engine, which must reproduce each block's
/// effects. Before each block it reads the store: `full` if given (a store that also holds
/// the blocks the replica has not reached), else what the replica has replayed so far.
/// After block `restart_after` the replica restarts from its state with a saturated filter.
fn replay(
    recorded: &[BlockEffects],
    config: EngineConfig,
    full: Option<&TransferArchive>,
    restart_after: Option<usize>,
) -> (Engine, TransferArchive) {
    let mut replica = Engine::with_config(config);
    let mut replayed_store = TransferArchive::new();
    for (height, effects) in recorded.iter().enumerate() {
        replica.evict(replica.block_number());
        let store = full.unwrap_or(&replayed_store);
        store.prefetch(&mut replica, &effects.transfers);
        let replayed = replica.replay_block_with_failed(
            effects.timestamp,
            &effects.accounts,
            &effects.transfers,
            &effects.failed,
        );
        assert_eq!(replayed.as_ref(), Ok(effects), "replay of block {height}");
        replayed_store.record(effects);
        if restart_after == Some(height) {
            let mut state = replica.state();
            saturate(&mut state);
            let last_transfer = replica.last_transfer_timestamp();
            replica = Engine::restore_with_last_transfer_timestamp(config, state, last_transfer)
                .expect("a saturated state restores");
        }
    }
    (replica, replayed_store)
}

fn run_scenario(scenario: &Scenario) {
    let default = run_live(scenario, Setup::plain(EngineConfig::default()));
    let small = run_live(scenario, Setup::plain(SMALL));
    assert_eq!(
        small.recorded, default.recorded,
        "a small cache changes no effect"
    );
    assert!(
        default.complete,
        "the default cache holds every transfer here"
    );
    for (live, config) in [(&default, EngineConfig::default()), (&small, SMALL)] {
        let (replica, store) = replay(&live.recorded, config, None, None);
        assert_eq!(replica.state(), live.engine.state(), "replayed state");
        assert_same_state(&replica, &store, live.complete, &live.model);
    }
    let (replica, _) = replay(&small.recorded, SMALL, Some(&small.store), None);
    assert_eq!(
        replica.state(),
        small.engine.state(),
        "state replayed from a full store"
    );
    // Every id is now looked up: the full store answers with transfers the replica has not
    // reached, which must count as not existing yet.
    let (replica, _) = replay(&small.recorded, SMALL, Some(&small.store), Some(0));
    let (same, _) = replay(&small.recorded, SMALL, None, Some(0));
    assert_eq!(
        replica.state(),
        same.state(),
        "saturated replay from a full store"
    );
    assert_same_state(&replica, &small.store, false, &small.model);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_the_model(scenario in scenario_strategy()) {
        run_scenario(&scenario);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// A restart from `state()` goes on exactly as the engine would have: each run is checked
    /// against the model block by block (so against an engine never restarted), and the runs
    /// against each other.
    #[test]
    fn restored_engines_go_on_identically(scenario in scenario_strategy(), after in 0..12usize) {
        let after = after % scenario.blocks.len();
        let default = run_live(&scenario, Setup::restored(EngineConfig::default(), after, false));
        let small = run_live(&scenario, Setup::restored(SMALL, after, false));
        let saturated = run_live(&scenario, Setup::restored(SMALL, after, true));
        prop_assert_eq!(&small.recorded, &default.recorded);
        prop_assert_eq!(&saturated.recorded, &default.recorded);
    }
}

/// The small config must actually exercise the store: once memory no longer holds
/// everything, most batches read it first and find transfers there; with a saturated filter
/// almost every batch reads it, and most find nothing there for some id (false positives).
#[test]
fn small_caches_read_the_store_for_most_batches() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut small = Run::new(SMALL);
    let mut saturated = Run::new(SMALL);
    for _ in 0..16 {
        let scenario = scenario_strategy().new_tree(&mut runner).unwrap().current();
        let run = run_live(&scenario, Setup::plain(SMALL));
        small.add_counts(&run);
        let run = run_live(&scenario, Setup::restored(SMALL, 0, true));
        saturated.add_counts(&run);
    }
    let counts = |run: &Run| {
        let (batches, prefetching) = (run.batches, run.prefetching_batches);
        let (finding, missing) = (run.finding_batches, run.missing_batches);
        format!(
            "{batches} batches: {prefetching} prefetching, {finding} finding, {missing} missing"
        )
    };
    assert!(
        2 * small.prefetching_batches > small.batches,
        "{}",
        counts(&small)
    );
    assert!(
        2 * small.finding_batches > small.batches,
        "{}",
        counts(&small)
    );
    // Almost every batch: one whose ids are all in memory reads nothing.
    let nearly_all = 19 * saturated.batches / 20;
    assert!(
        saturated.prefetching_batches > nearly_all,
        "{}",
        counts(&saturated)
    );
    assert!(
        2 * saturated.missing_batches > saturated.batches,
        "{}",
        counts(&saturated)
    );
}

/// The generators must actually reach the interesting paths; otherwise the property is weak.
#[test]
fn generators_reach_the_interesting_codes() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen = std::collections::BTreeSet::new();
    let mut seen_accounts = std::collections::BTreeSet::new();
    let mut expired = 0;
    for _ in 0..64 {
        let scenario = scenario_strategy().new_tree(&mut runner).unwrap().current();
        let mut model = Model::default();
        let mut now = START;
        for (height, block) in scenario.blocks.iter().enumerate() {
            now += block.advance_ms * 1_000_000;
            model.begin_block(now);
            expired += model.effects.expired.len();
            if height == 0 {
                model.create_accounts(&scenario.initial);
                model.create_transfers(&funding(&scenario.initial));
            }
            for batch in &block.batches {
                let results = match batch {
                    Batch::Transfers(entries) => {
                        let transfers = scenario.transfers(entries, &model);
                        model.create_transfers(&transfers)
                    }
                    Batch::ImportedTransfers(entries, gap) => {
                        let transfers = scenario.imported_transfers(entries, *gap, &model);
                        let results = model.create_transfers(&transfers);
                        let imported_ok = results.iter().any(|code| code.is_ok());
                        seen.extend(imported_ok.then_some("imported ok"));
                        results
                    }
                    Batch::ImportedAccounts(accounts, gap) => {
                        let accounts = imported_accounts(accounts, *gap, &model);
                        let results = model.create_accounts(&accounts);
                        seen_accounts.extend(results.into_iter().map(|code| code.as_str()));
                        continue;
                    }
                    Batch::Accounts(_) => continue,
                };
                seen.extend(results.into_iter().map(|code| code.as_str()));
            }
        }
    }
    assert!(expired > 0, "no pending transfer ever expired");
    for code in [
        TransferCode::Ok,
        TransferCode::LinkedEventFailed,
        TransferCode::LinkedEventChainOpen,
        TransferCode::Exists,
        TransferCode::ExistsWithDifferentAmount,
        TransferCode::ExceedsCredits,
        TransferCode::ExceedsDebits,
        TransferCode::PendingTransferAlreadyPosted,
        TransferCode::PendingTransferAlreadyVoided,
        TransferCode::PendingTransferExpired,
        TransferCode::PendingTransferHasDifferentDebitAccountId,
        TransferCode::ExceedsPendingTransferAmount,
        TransferCode::PendingTransferHasDifferentAmount,
        TransferCode::DebitAccountAlreadyClosed,
        TransferCode::OverflowsDebitsPosted,
        TransferCode::IdAlreadyFailed,
        TransferCode::ImportedEventTimestampMustNotRegress,
        TransferCode::ImportedEventTimestampMustNotAdvance,
        TransferCode::ImportedEventTimeoutMustBeZero,
        TransferCode::ImportedEventTimestampOutOfRange,
    ] {
        assert!(
            seen.contains(code.as_str()),
            "never produced {code}; saw {seen:?}"
        );
    }
    assert!(
        seen.contains("imported ok"),
        "no imported transfer committed"
    );
    for code in [
        AccountCode::Ok,
        AccountCode::Exists,
        AccountCode::ImportedEventTimestampMustNotRegress,
    ] {
        assert!(
            seen_accounts.contains(code.as_str()),
            "never produced {code} for imported accounts; saw {seen_accounts:?}"
        );
    }
}
