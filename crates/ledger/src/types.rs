//! Value types of the engine: accounts, transfers, flags, result codes and block headers.
//!
//! Field names and flag names follow TigerBeetle so integrators can reuse what they know.

use std::fmt;

/// Identifier of an account, chosen by the client. Zero and `u128::MAX` are reserved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(pub u128);

/// Identifier of a transfer, chosen by the client (this is what makes requests idempotent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransferId(pub u128);

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Defines a `u16` flag set with named bits and their wire names.
macro_rules! flag_set {
    ($(#[$meta:meta])* $name:ident { $($(#[$flag_meta:meta])* $flag:ident = $bit:expr, $wire:literal;)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        pub struct $name(pub u16);

        impl $name {
            $($(#[$flag_meta])* pub const $flag: $name = $name(1 << $bit);)*
            /// Every defined flag with its snake_case wire name, in bit order.
            pub const NAMES: &'static [($name, &'static str)] = &[$(($name::$flag, $wire),)*];
            /// Bits that no flag defines; a request setting one is refused.
            pub const RESERVED: u16 = !(0 $(| (1u16 << $bit))*);

            pub const fn empty() -> Self { $name(0) }
            pub const fn bits(self) -> u16 { self.0 }
            pub const fn contains(self, other: $name) -> bool { self.0 & other.0 == other.0 }
            pub const fn union(self, other: $name) -> $name { $name(self.0 | other.0) }
            pub const fn without(self, other: $name) -> $name { $name(self.0 & !other.0) }
            pub const fn has_reserved(self) -> bool { self.0 & Self::RESERVED != 0 }

            /// Looks up a flag by its wire name.
            pub fn from_name(name: &str) -> Option<$name> {
                Self::NAMES.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
            }

            /// Wire names of the flags set, in bit order.
            pub fn names(self) -> Vec<&'static str> {
                Self::NAMES.iter().filter(|(f, _)| self.contains(*f)).map(|(_, n)| *n).collect()
            }
        }

        impl std::ops::BitOr for $name {
            type Output = $name;
            fn bitor(self, rhs: $name) -> $name { self.union(rhs) }
        }
    };
}

flag_set! {
    /// Account flags (TigerBeetle numbering).
    AccountFlags {
        LINKED = 0, "linked";
        DEBITS_MUST_NOT_EXCEED_CREDITS = 1, "debits_must_not_exceed_credits";
        CREDITS_MUST_NOT_EXCEED_DEBITS = 2, "credits_must_not_exceed_debits";
        HISTORY = 3, "history";
        /// The account carries its own past `timestamp` (migrating an existing ledger).
        IMPORTED = 4, "imported";
        CLOSED = 5, "closed";
    }
}

flag_set! {
    /// Transfer flags (TigerBeetle numbering).
    TransferFlags {
        LINKED = 0, "linked";
        PENDING = 1, "pending";
        POST_PENDING_TRANSFER = 2, "post_pending_transfer";
        VOID_PENDING_TRANSFER = 3, "void_pending_transfer";
        BALANCING_DEBIT = 4, "balancing_debit";
        BALANCING_CREDIT = 5, "balancing_credit";
        CLOSING_DEBIT = 6, "closing_debit";
        CLOSING_CREDIT = 7, "closing_credit";
        /// The transfer carries its own past `timestamp` (migrating an existing ledger).
        IMPORTED = 8, "imported";
    }
}

/// An account and its four balances. Amounts are in the asset's smallest unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Account {
    pub id: AccountId,
    pub debits_pending: u128,
    pub debits_posted: u128,
    pub credits_pending: u128,
    pub credits_posted: u128,
    pub user_data_128: u128,
    pub user_data_64: u64,
    pub user_data_32: u32,
    /// The asset (e.g. 1 = MVP). Transfers only move value within one ledger.
    pub ledger: u32,
    /// The kind of account (chart of accounts), chosen by the platform.
    pub code: u16,
    pub flags: AccountFlags,
    /// Assigned by the engine at creation (nanoseconds on the engine clock); zero on input,
    /// unless the `imported` flag is set: then the client gives the account's past creation
    /// time.
    pub timestamp: u64,
}

/// A transfer of `amount` from `debit_account_id` to `credit_account_id`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Transfer {
    pub id: TransferId,
    pub debit_account_id: AccountId,
    pub credit_account_id: AccountId,
    pub amount: u128,
    /// For `post_pending_transfer` / `void_pending_transfer`: the pending transfer resolved.
    pub pending_id: TransferId,
    pub user_data_128: u128,
    pub user_data_64: u64,
    pub user_data_32: u32,
    /// Seconds a pending transfer stays open before it expires; zero means never.
    pub timeout: u32,
    pub ledger: u32,
    pub code: u16,
    pub flags: TransferFlags,
    /// Assigned by the engine when committed (nanoseconds on the engine clock); zero on input,
    /// unless the `imported` flag is set: then the client gives the transfer's past time.
    pub timestamp: u64,
}

/// An account's balances just after a transfer touched it (kept for `history` accounts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AccountBalance {
    pub account_id: AccountId,
    /// Timestamp of the transfer that produced these balances.
    pub timestamp: u64,
    pub debits_pending: u128,
    pub debits_posted: u128,
    pub credits_pending: u128,
    pub credits_posted: u128,
}

/// Defines a result-code enum with stable snake_case names.
macro_rules! result_codes {
    ($(#[$meta:meta])* $name:ident { $($(#[$variant_meta:meta])* $variant:ident => $wire:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$variant_meta])* $variant,)* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];
            /// The stable wire name, e.g. `"exceeds_credits"`.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire,)* }
            }
            pub fn is_ok(self) -> bool { matches!(self, $name::Ok) }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

result_codes! {
    /// Outcome of one account in a `create_accounts` batch. Listed in order of precedence
    /// (TigerBeetle's): the first rule an account breaks is the one reported.
    CreateAccountResult {
        Ok => "ok",
        LinkedEventFailed => "linked_event_failed",
        LinkedEventChainOpen => "linked_event_chain_open",
        ImportedEventExpected => "imported_event_expected",
        ImportedEventNotExpected => "imported_event_not_expected",
        TimestampMustBeZero => "timestamp_must_be_zero",
        ImportedEventTimestampOutOfRange => "imported_event_timestamp_out_of_range",
        ImportedEventTimestampMustNotAdvance => "imported_event_timestamp_must_not_advance",
        ReservedFlag => "reserved_flag",
        IdMustNotBeZero => "id_must_not_be_zero",
        IdMustNotBeIntMax => "id_must_not_be_int_max",
        ExistsWithDifferentFlags => "exists_with_different_flags",
        ExistsWithDifferentUserData128 => "exists_with_different_user_data_128",
        ExistsWithDifferentUserData64 => "exists_with_different_user_data_64",
        ExistsWithDifferentUserData32 => "exists_with_different_user_data_32",
        ExistsWithDifferentLedger => "exists_with_different_ledger",
        ExistsWithDifferentCode => "exists_with_different_code",
        Exists => "exists",
        FlagsAreMutuallyExclusive => "flags_are_mutually_exclusive",
        DebitsPendingMustBeZero => "debits_pending_must_be_zero",
        DebitsPostedMustBeZero => "debits_posted_must_be_zero",
        CreditsPendingMustBeZero => "credits_pending_must_be_zero",
        CreditsPostedMustBeZero => "credits_posted_must_be_zero",
        LedgerMustNotBeZero => "ledger_must_not_be_zero",
        CodeMustNotBeZero => "code_must_not_be_zero",
        ImportedEventTimestampMustNotRegress => "imported_event_timestamp_must_not_regress",
    }
}

result_codes! {
    /// Outcome of one transfer in a `create_transfers` batch. Listed in order of precedence
    /// (TigerBeetle's): the first rule a transfer breaks is the one reported.
    CreateTransferResult {
        Ok => "ok",
        LinkedEventFailed => "linked_event_failed",
        LinkedEventChainOpen => "linked_event_chain_open",
        ImportedEventExpected => "imported_event_expected",
        ImportedEventNotExpected => "imported_event_not_expected",
        TimestampMustBeZero => "timestamp_must_be_zero",
        ImportedEventTimestampOutOfRange => "imported_event_timestamp_out_of_range",
        ImportedEventTimestampMustNotAdvance => "imported_event_timestamp_must_not_advance",
        ReservedFlag => "reserved_flag",
        IdMustNotBeZero => "id_must_not_be_zero",
        IdMustNotBeIntMax => "id_must_not_be_int_max",
        ExistsWithDifferentFlags => "exists_with_different_flags",
        ExistsWithDifferentPendingId => "exists_with_different_pending_id",
        ExistsWithDifferentTimeout => "exists_with_different_timeout",
        ExistsWithDifferentDebitAccountId => "exists_with_different_debit_account_id",
        ExistsWithDifferentCreditAccountId => "exists_with_different_credit_account_id",
        ExistsWithDifferentAmount => "exists_with_different_amount",
        ExistsWithDifferentUserData128 => "exists_with_different_user_data_128",
        ExistsWithDifferentUserData64 => "exists_with_different_user_data_64",
        ExistsWithDifferentUserData32 => "exists_with_different_user_data_32",
        ExistsWithDifferentLedger => "exists_with_different_ledger",
        ExistsWithDifferentCode => "exists_with_different_code",
        Exists => "exists",
        IdAlreadyFailed => "id_already_failed",
        FlagsAreMutuallyExclusive => "flags_are_mutually_exclusive",
        DebitAccountIdMustNotBeZero => "debit_account_id_must_not_be_zero",
        DebitAccountIdMustNotBeIntMax => "debit_account_id_must_not_be_int_max",
        CreditAccountIdMustNotBeZero => "credit_account_id_must_not_be_zero",
        CreditAccountIdMustNotBeIntMax => "credit_account_id_must_not_be_int_max",
        AccountsMustBeDifferent => "accounts_must_be_different",
        PendingIdMustBeZero => "pending_id_must_be_zero",
        PendingIdMustNotBeZero => "pending_id_must_not_be_zero",
        PendingIdMustNotBeIntMax => "pending_id_must_not_be_int_max",
        PendingIdMustBeDifferent => "pending_id_must_be_different",
        TimeoutReservedForPendingTransfer => "timeout_reserved_for_pending_transfer",
        ClosingTransferMustBePending => "closing_transfer_must_be_pending",
        LedgerMustNotBeZero => "ledger_must_not_be_zero",
        CodeMustNotBeZero => "code_must_not_be_zero",
        DebitAccountNotFound => "debit_account_not_found",
        CreditAccountNotFound => "credit_account_not_found",
        AccountsMustHaveTheSameLedger => "accounts_must_have_the_same_ledger",
        TransferMustHaveTheSameLedgerAsAccounts => "transfer_must_have_the_same_ledger_as_accounts",
        PendingTransferNotFound => "pending_transfer_not_found",
        PendingTransferNotPending => "pending_transfer_not_pending",
        PendingTransferHasDifferentDebitAccountId => "pending_transfer_has_different_debit_account_id",
        PendingTransferHasDifferentCreditAccountId => "pending_transfer_has_different_credit_account_id",
        PendingTransferHasDifferentLedger => "pending_transfer_has_different_ledger",
        PendingTransferHasDifferentCode => "pending_transfer_has_different_code",
        ExceedsPendingTransferAmount => "exceeds_pending_transfer_amount",
        PendingTransferHasDifferentAmount => "pending_transfer_has_different_amount",
        PendingTransferAlreadyPosted => "pending_transfer_already_posted",
        PendingTransferAlreadyVoided => "pending_transfer_already_voided",
        PendingTransferExpired => "pending_transfer_expired",
        ImportedEventTimestampMustNotRegress => "imported_event_timestamp_must_not_regress",
        ImportedEventTimestampMustPostdateDebitAccount => "imported_event_timestamp_must_postdate_debit_account",
        ImportedEventTimestampMustPostdateCreditAccount => "imported_event_timestamp_must_postdate_credit_account",
        ImportedEventTimeoutMustBeZero => "imported_event_timeout_must_be_zero",
        DebitAccountAlreadyClosed => "debit_account_already_closed",
        CreditAccountAlreadyClosed => "credit_account_already_closed",
        OverflowsDebitsPending => "overflows_debits_pending",
        OverflowsCreditsPending => "overflows_credits_pending",
        OverflowsDebitsPosted => "overflows_debits_posted",
        OverflowsCreditsPosted => "overflows_credits_posted",
        OverflowsDebits => "overflows_debits",
        OverflowsCredits => "overflows_credits",
        OverflowsTimeout => "overflows_timeout",
        ExceedsCredits => "exceeds_credits",
        ExceedsDebits => "exceeds_debits",
        /// No longer returned: zero amounts are allowed, as in TigerBeetle since 0.16. Kept so
        /// that the wire name stays reserved and clients that know it keep compiling.
        AmountMustNotBeZero => "amount_must_not_be_zero",
    }
}

impl CreateTransferResult {
    /// Whether the outcome depends on the ledger's state at the time rather than on the
    /// request alone (TigerBeetle's transient errors): the id of a transfer refused with one
    /// can never be used again, and a retry answers `id_already_failed`, so that retrying a
    /// request never turns a refusal into a movement.
    pub const fn is_transient(self) -> bool {
        matches!(
            self,
            CreateTransferResult::DebitAccountNotFound
                | CreateTransferResult::CreditAccountNotFound
                | CreateTransferResult::PendingTransferNotFound
                | CreateTransferResult::ExceedsCredits
                | CreateTransferResult::ExceedsDebits
                | CreateTransferResult::DebitAccountAlreadyClosed
                | CreateTransferResult::CreditAccountAlreadyClosed
        )
    }
}

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The header of one journal block: one committed batch.
///
/// The block hash is SHA-256 over the canonical encoding of this header (see `block`), and
/// the header names the previous block's hash, so the blocks form a chain. The transfers of
/// all blocks so far are the leaves of one RFC 6962 Merkle log; `tree_size` and
/// `merkle_root` are that log's size and root after this block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BlockHeader {
    /// 0 for the first block.
    pub height: u64,
    /// All zeros for the first block.
    pub previous_hash: Hash,
    /// Engine clock (ns) at the start of the block; pending expiry is judged against it.
    pub timestamp: u64,
    /// Accounts created in this block.
    pub account_count: u32,
    /// Transfers committed in this block (leaves appended to the log).
    pub transfer_count: u32,
    /// SHA-256 over the canonical encodings of the accounts created in this block.
    pub accounts_digest: Hash,
    /// Size of the transfer log after this block.
    pub tree_size: u64,
    /// RFC 6962 root of the transfer log after this block.
    pub merkle_root: Hash,
}
