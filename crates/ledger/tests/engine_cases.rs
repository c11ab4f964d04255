//! Table-driven cases for the engine: every result code that can be produced, plus linked
//! chains, two-phase transfers, expiry, balancing, closing, history, idempotency and replay.
//!
//! One code cannot be produced: `CreateTransferResult::ExistsWithDifferentLedger`. A regular
//! transfer's ledger must equal its accounts' (checked before `exists`), and a post/void's
//! must be zero or the pending's (`pending_transfer_has_different_ledger`), so a retry that
//! reaches the comparison always has the stored ledger.

use ledger::engine::{BlockEffects, Engine, PendingStatus, ReplayError};
use ledger::types::{
    Account, AccountBalance, AccountFlags, AccountId, CreateAccountResult as AccountCode,
    CreateTransferResult as TransferCode, Transfer, TransferFlags, TransferId,
};

const START: u64 = 1_700_000_000_000_000_000;
const SECOND: u64 = 1_000_000_000;
const MAX: u128 = u128::MAX;

const PENDING: TransferFlags = TransferFlags::PENDING;
const POST: TransferFlags = TransferFlags::POST_PENDING_TRANSFER;
const VOID: TransferFlags = TransferFlags::VOID_PENDING_TRANSFER;
const LINKED: TransferFlags = TransferFlags::LINKED;
const BALANCING_DEBIT: TransferFlags = TransferFlags::BALANCING_DEBIT;
const BALANCING_CREDIT: TransferFlags = TransferFlags::BALANCING_CREDIT;
const CLOSING_DEBIT: TransferFlags = TransferFlags::CLOSING_DEBIT;
const CLOSING_CREDIT: TransferFlags = TransferFlags::CLOSING_CREDIT;

// The standard chart of accounts every case starts from.
const PLAIN: u128 = 1;
const OTHER: u128 = 2;
const DEBIT_LIMITED: u128 = 3; // debits_must_not_exceed_credits
const CREDIT_LIMITED: u128 = 4; // credits_must_not_exceed_debits
const FOREIGN: u128 = 5; // ledger 2
const HISTORY: u128 = 6; // history
const CLOSED: u128 = 7; // closed at creation
const SPARE: u128 = 9;
const MISSING: u128 = 99;

fn account(id: u128, ledger: u32, flags: AccountFlags) -> Account {
    Account {
        id: AccountId(id),
        ledger,
        code: 10,
        flags,
        ..Account::default()
    }
}

fn chart() -> Vec<Account> {
    vec![
        account(PLAIN, 1, AccountFlags::empty()),
        account(OTHER, 1, AccountFlags::empty()),
        account(
            DEBIT_LIMITED,
            1,
            AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
        ),
        account(
            CREDIT_LIMITED,
            1,
            AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
        ),
        account(FOREIGN, 2, AccountFlags::empty()),
        account(HISTORY, 1, AccountFlags::HISTORY),
        account(CLOSED, 1, AccountFlags::CLOSED),
        account(SPARE, 1, AccountFlags::empty()),
    ]
}

fn transfer(id: u128, debit: u128, credit: u128, amount: u128) -> Transfer {
    Transfer {
        id: TransferId(id),
        debit_account_id: AccountId(debit),
        credit_account_id: AccountId(credit),
        amount,
        ledger: 1,
        code: 1,
        ..Transfer::default()
    }
}

fn pending(id: u128, debit: u128, credit: u128, amount: u128, timeout: u32) -> Transfer {
    Transfer {
        timeout,
        flags: PENDING,
        ..transfer(id, debit, credit, amount)
    }
}

/// A post that inherits accounts, ledger and code from the pending transfer.
fn post(id: u128, pending_id: u128, amount: u128) -> Transfer {
    Transfer {
        id: TransferId(id),
        pending_id: TransferId(pending_id),
        amount,
        flags: POST,
        ..Transfer::default()
    }
}

fn void(id: u128, pending_id: u128, amount: u128) -> Transfer {
    Transfer {
        flags: VOID,
        ..post(id, pending_id, amount)
    }
}

fn flagged(transfer: Transfer, flags: TransferFlags) -> Transfer {
    Transfer {
        flags: transfer.flags | flags,
        ..transfer
    }
}

fn with(mut transfer: Transfer, change: impl FnOnce(&mut Transfer)) -> Transfer {
    change(&mut transfer);
    transfer
}

/// `[debits_pending, debits_posted, credits_pending, credits_posted]`.
fn balances(engine: &Engine, id: u128) -> [u128; 4] {
    let account = engine.account(AccountId(id)).expect("account exists");
    [
        account.debits_pending,
        account.debits_posted,
        account.credits_pending,
        account.credits_posted,
    ]
}

/// Engine with the chart created and `setup` committed, in a block at `START`.
fn engine_with(setup: &[Transfer]) -> Engine {
    engine_and_setup_effects(setup).0
}

/// [`engine_with`], and what the setup block changed (history leaves the engine only there).
fn engine_and_setup_effects(setup: &[Transfer]) -> (Engine, BlockEffects) {
    let mut engine = Engine::new();
    engine.begin_block(START);
    let results = engine.create_accounts(&chart());
    assert!(
        results.iter().all(|result| result.is_ok()),
        "chart: {results:?}"
    );
    let results = engine.create_transfers(setup);
    assert!(
        results.iter().all(|result| result.is_ok()),
        "setup: {results:?}"
    );
    let effects = engine.end_block();
    (engine, effects)
}

/// The history entries of one account, in order.
fn history_of(effects: &BlockEffects, id: u128) -> Vec<AccountBalance> {
    let entries = effects.history.iter();
    entries
        .filter(|entry| entry.account_id == AccountId(id))
        .copied()
        .collect()
}

#[derive(Default)]
struct Case {
    name: &'static str,
    setup: Vec<Transfer>,
    /// Seconds between the setup block and the input block.
    gap_seconds: u64,
    input: Vec<Transfer>,
    expected: Vec<TransferCode>,
    /// Expected `[debits_pending, debits_posted, credits_pending, credits_posted]` afterwards.
    balances: Vec<(u128, [u128; 4])>,
}

fn run(case: &Case) {
    let mut engine = engine_with(&case.setup);
    let transfers_before = engine.transfer_count();
    engine.begin_block(START + case.gap_seconds * SECOND);
    let results = engine.create_transfers(&case.input);
    let effects = engine.end_block();
    assert_eq!(results, case.expected, "{}: results", case.name);
    for (id, expected) in &case.balances {
        assert_eq!(
            balances(&engine, *id),
            *expected,
            "{}: balances of account {id}",
            case.name
        );
    }
    let committed = results.iter().filter(|result| result.is_ok()).count() as u64;
    assert_eq!(
        engine.transfer_count(),
        transfers_before + committed,
        "{}: transfer count",
        case.name
    );
    assert_eq!(
        effects.transfers.len() as u64,
        committed,
        "{}: effects",
        case.name
    );
    for (result, input) in results.iter().zip(&case.input) {
        let stored = engine
            .transfer(input.id)
            .map(|stored| stored.timestamp >= effects.timestamp);
        if result.is_ok() {
            assert_eq!(
                stored,
                Some(true),
                "{}: transfer {} committed in this block",
                case.name,
                input.id
            );
        }
    }
}

fn run_all(cases: &[Case]) {
    for case in cases {
        run(case);
    }
}

const ZERO: [u128; 4] = [0; 4];

#[test]
fn validation_codes() {
    let base = transfer(100, PLAIN, OTHER, 10);
    run_all(&[
        Case {
            name: "a regular transfer posts on both sides",
            input: vec![base],
            expected: vec![TransferCode::Ok],
            balances: vec![(PLAIN, [0, 10, 0, 0]), (OTHER, [0, 0, 0, 10])],
            ..Case::default()
        },
        Case {
            name: "timestamp must be zero (precedes reserved_flag)",
            input: vec![with(base, |transfer| {
                transfer.timestamp = 1;
                transfer.flags = TransferFlags(1 << 8);
            })],
            expected: vec![TransferCode::TimestampMustBeZero],
            balances: vec![(PLAIN, ZERO)],
            ..Case::default()
        },
        Case {
            name: "reserved flag (precedes id checks)",
            input: vec![with(base, |transfer| {
                transfer.flags = TransferFlags(1 << 12);
                transfer.id = TransferId(0);
            })],
            expected: vec![TransferCode::ReservedFlag],
            ..Case::default()
        },
        Case {
            name: "id must not be zero / int max",
            input: vec![
                with(base, |transfer| transfer.id = TransferId(0)),
                with(base, |transfer| transfer.id = TransferId(MAX)),
            ],
            expected: vec![
                TransferCode::IdMustNotBeZero,
                TransferCode::IdMustNotBeIntMax,
            ],
            ..Case::default()
        },
        Case {
            name: "flags are mutually exclusive",
            input: vec![
                flagged(post(100, 50, 0), PENDING),
                flagged(post(101, 50, 0), VOID),
                flagged(base, PENDING | VOID),
                flagged(post(103, 50, 0), BALANCING_DEBIT),
                flagged(post(104, 50, 0), BALANCING_CREDIT),
                flagged(void(105, 50, 0), CLOSING_DEBIT),
                flagged(void(106, 50, 0), CLOSING_CREDIT),
            ],
            expected: vec![TransferCode::FlagsAreMutuallyExclusive; 7],
            ..Case::default()
        },
        Case {
            name: "account id checks",
            input: vec![
                transfer(100, 0, OTHER, 1),
                transfer(101, MAX, OTHER, 1),
                transfer(102, PLAIN, 0, 1),
                transfer(103, PLAIN, MAX, 1),
                transfer(104, PLAIN, PLAIN, 1),
                transfer(105, 0, 0, 1),
            ],
            expected: vec![
                TransferCode::DebitAccountIdMustNotBeZero,
                TransferCode::DebitAccountIdMustNotBeIntMax,
                TransferCode::CreditAccountIdMustNotBeZero,
                TransferCode::CreditAccountIdMustNotBeIntMax,
                TransferCode::AccountsMustBeDifferent,
                TransferCode::DebitAccountIdMustNotBeZero,
            ],
            ..Case::default()
        },
        Case {
            name: "pending id checks",
            input: vec![
                with(base, |transfer| transfer.pending_id = TransferId(5)),
                post(101, 0, 0),
                post(102, MAX, 0),
                post(103, 103, 0),
                void(104, 0, 0),
            ],
            expected: vec![
                TransferCode::PendingIdMustBeZero,
                TransferCode::PendingIdMustNotBeZero,
                TransferCode::PendingIdMustNotBeIntMax,
                TransferCode::PendingIdMustBeDifferent,
                TransferCode::PendingIdMustNotBeZero,
            ],
            ..Case::default()
        },
        Case {
            name: "timeout is reserved for pending transfers",
            setup: vec![pending(50, PLAIN, OTHER, 30, 0)],
            input: vec![
                with(base, |transfer| transfer.timeout = 1),
                with(post(101, 50, 0), |transfer| transfer.timeout = 1),
            ],
            expected: vec![TransferCode::TimeoutReservedForPendingTransfer; 2],
            balances: vec![(PLAIN, [30, 0, 0, 0])],
            ..Case::default()
        },
        Case {
            name: "closing transfer must be pending",
            input: vec![
                flagged(base, CLOSING_DEBIT),
                flagged(transfer(101, PLAIN, OTHER, 1), CLOSING_CREDIT),
            ],
            expected: vec![TransferCode::ClosingTransferMustBePending; 2],
            ..Case::default()
        },
        Case {
            name: "amount must not be zero for regular, pending and balancing transfers",
            input: vec![
                transfer(100, PLAIN, OTHER, 0),
                pending(101, PLAIN, OTHER, 0, 0),
                flagged(transfer(102, PLAIN, OTHER, 0), BALANCING_DEBIT),
            ],
            expected: vec![TransferCode::AmountMustNotBeZero; 3],
            ..Case::default()
        },
        Case {
            name: "ledger and code must not be zero",
            input: vec![
                with(base, |transfer| transfer.ledger = 0),
                with(base, |transfer| transfer.code = 0),
            ],
            expected: vec![
                TransferCode::LedgerMustNotBeZero,
                TransferCode::CodeMustNotBeZero,
            ],
            ..Case::default()
        },
        Case {
            name: "accounts must exist",
            input: vec![
                transfer(100, MISSING, OTHER, 1),
                transfer(101, PLAIN, MISSING, 1),
            ],
            expected: vec![
                TransferCode::DebitAccountNotFound,
                TransferCode::CreditAccountNotFound,
            ],
            ..Case::default()
        },
        Case {
            name: "ledgers must match",
            input: vec![
                transfer(100, PLAIN, FOREIGN, 1),
                with(base, |transfer| transfer.ledger = 2),
            ],
            expected: vec![
                TransferCode::AccountsMustHaveTheSameLedger,
                TransferCode::TransferMustHaveTheSameLedgerAsAccounts,
            ],
            ..Case::default()
        },
    ]);
}

#[test]
fn two_phase_codes() {
    let setup = vec![pending(50, PLAIN, OTHER, 30, 0)];
    let open = [(PLAIN, [30, 0, 0, 0]), (OTHER, [0, 0, 30, 0])];
    run_all(&[
        Case {
            name: "pending transfer must exist and be pending",
            setup: vec![transfer(40, PLAIN, OTHER, 5)],
            input: vec![post(100, 77, 0), post(101, 40, 0), void(102, 40, 0)],
            expected: vec![
                TransferCode::PendingTransferNotFound,
                TransferCode::PendingTransferNotPending,
                TransferCode::PendingTransferNotPending,
            ],
            balances: vec![(PLAIN, [0, 5, 0, 0])],
            ..Case::default()
        },
        Case {
            name: "post/void fields must match the pending transfer when given",
            setup: setup.clone(),
            input: vec![
                with(post(100, 50, 0), |transfer| {
                    transfer.debit_account_id = AccountId(OTHER)
                }),
                with(post(101, 50, 0), |transfer| {
                    transfer.credit_account_id = AccountId(PLAIN)
                }),
                with(void(102, 50, 0), |transfer| transfer.ledger = 2),
                with(void(103, 50, 0), |transfer| transfer.code = 9),
            ],
            expected: vec![
                TransferCode::PendingTransferHasDifferentDebitAccountId,
                TransferCode::PendingTransferHasDifferentCreditAccountId,
                TransferCode::PendingTransferHasDifferentLedger,
                TransferCode::PendingTransferHasDifferentCode,
            ],
            balances: open.to_vec(),
            ..Case::default()
        },
        Case {
            name: "amounts beyond the pending amount",
            setup: setup.clone(),
            input: vec![
                post(100, 50, 31),
                void(101, 50, 31),
                void(102, 50, 29),
                void(103, 50, MAX),
            ],
            expected: vec![
                TransferCode::ExceedsPendingTransferAmount,
                TransferCode::ExceedsPendingTransferAmount,
                TransferCode::PendingTransferHasDifferentAmount,
                TransferCode::ExceedsPendingTransferAmount,
            ],
            balances: open.to_vec(),
            ..Case::default()
        },
        Case {
            name: "partial post releases the remainder",
            setup: setup.clone(),
            input: vec![post(100, 50, 10), post(101, 50, 0), void(102, 50, 0)],
            expected: vec![
                TransferCode::Ok,
                TransferCode::PendingTransferAlreadyPosted,
                TransferCode::PendingTransferAlreadyPosted,
            ],
            balances: vec![(PLAIN, [0, 10, 0, 0]), (OTHER, [0, 0, 0, 10])],
            ..Case::default()
        },
        Case {
            name: "post of the whole amount: 0 and u128::MAX both mean all of it",
            setup: vec![
                pending(50, PLAIN, OTHER, 30, 0),
                pending(51, PLAIN, OTHER, 20, 0),
            ],
            input: vec![post(100, 50, 0), post(101, 51, MAX)],
            expected: vec![TransferCode::Ok; 2],
            balances: vec![(PLAIN, [0, 50, 0, 0]), (OTHER, [0, 0, 0, 50])],
            ..Case::default()
        },
        Case {
            name: "post may repeat the pending's fields",
            setup: setup.clone(),
            input: vec![with(post(100, 50, 30), |transfer| {
                transfer.debit_account_id = AccountId(PLAIN);
                transfer.credit_account_id = AccountId(OTHER);
                transfer.ledger = 1;
                transfer.code = 1;
            })],
            expected: vec![TransferCode::Ok],
            balances: vec![(PLAIN, [0, 30, 0, 0])],
            ..Case::default()
        },
        Case {
            name: "void releases everything, once",
            setup: setup.clone(),
            input: vec![void(100, 50, 30), void(101, 50, 0), post(102, 50, 0)],
            expected: vec![
                TransferCode::Ok,
                TransferCode::PendingTransferAlreadyVoided,
                TransferCode::PendingTransferAlreadyVoided,
            ],
            balances: vec![(PLAIN, ZERO), (OTHER, ZERO)],
            ..Case::default()
        },
        Case {
            name: "expired pending transfers cannot be posted or voided",
            setup: vec![pending(50, PLAIN, OTHER, 30, 1)],
            gap_seconds: 2,
            input: vec![post(100, 50, 0), void(101, 50, 0)],
            expected: vec![TransferCode::PendingTransferExpired; 2],
            balances: vec![(PLAIN, ZERO), (OTHER, ZERO)],
        },
        Case {
            name: "posting keeps guard flags: the pending amount is already counted",
            setup: vec![
                transfer(40, OTHER, DEBIT_LIMITED, 10),
                pending(50, DEBIT_LIMITED, OTHER, 10, 0),
            ],
            input: vec![transfer(100, DEBIT_LIMITED, OTHER, 1), post(101, 50, 0)],
            expected: vec![TransferCode::ExceedsCredits, TransferCode::Ok],
            balances: vec![(DEBIT_LIMITED, [0, 10, 0, 10])],
            ..Case::default()
        },
    ]);
}

#[test]
fn exists_codes() {
    let original = with(transfer(50, PLAIN, OTHER, 10), |transfer| {
        transfer.user_data_128 = 7;
        transfer.user_data_64 = 8;
        transfer.user_data_32 = 9;
    });
    let retry = |change: fn(&mut Transfer)| with(original, change);
    let after = vec![(PLAIN, [0, 10, 0, 0])];
    run_all(&[
        Case {
            name: "regular transfer: exists and exists_with_different_*",
            setup: vec![original],
            input: vec![
                original,
                retry(|transfer| transfer.debit_account_id = AccountId(SPARE)),
                retry(|transfer| transfer.credit_account_id = AccountId(SPARE)),
                retry(|transfer| transfer.amount = 11),
                retry(|transfer| transfer.user_data_128 = 0),
                retry(|transfer| transfer.user_data_64 = 0),
                retry(|transfer| transfer.user_data_32 = 0),
                retry(|transfer| transfer.code = 2),
            ],
            expected: vec![
                TransferCode::Exists,
                TransferCode::ExistsWithDifferentDebitAccountId,
                TransferCode::ExistsWithDifferentCreditAccountId,
                TransferCode::ExistsWithDifferentAmount,
                TransferCode::ExistsWithDifferentUserData128,
                TransferCode::ExistsWithDifferentUserData64,
                TransferCode::ExistsWithDifferentUserData32,
                TransferCode::ExistsWithDifferentCode,
            ],
            balances: after.clone(),
            ..Case::default()
        },
        Case {
            name: "exists with different timeout",
            setup: vec![pending(51, PLAIN, OTHER, 5, 0)],
            input: vec![pending(51, PLAIN, OTHER, 5, 9)],
            expected: vec![TransferCode::ExistsWithDifferentTimeout],
            ..Case::default()
        },
        Case {
            name: "exists with different flags",
            setup: vec![original],
            input: vec![retry(|transfer| transfer.flags = TransferFlags::PENDING)],
            expected: vec![TransferCode::ExistsWithDifferentFlags],
            balances: after,
            ..Case::default()
        },
        Case {
            name: "exists checks precede balance checks: a retry is not judged by today's balances",
            setup: vec![
                transfer(40, OTHER, DEBIT_LIMITED, 5),
                transfer(50, DEBIT_LIMITED, OTHER, 5),
            ],
            input: vec![transfer(50, DEBIT_LIMITED, OTHER, 5)],
            expected: vec![TransferCode::Exists],
            balances: vec![(DEBIT_LIMITED, [0, 5, 0, 5])],
            ..Case::default()
        },
    ]);
}

#[test]
fn exists_codes_for_post_void_and_balancing() {
    let setup = vec![
        with(pending(40, PLAIN, OTHER, 30, 0), |transfer| {
            transfer.user_data_128 = 5
        }),
        pending(41, PLAIN, OTHER, 30, 0),
        post(50, 40, 0),
    ];
    run_all(&[
        Case {
            name: "retried post answers exists, in every spelling of the whole amount",
            setup: setup.clone(),
            input: vec![
                post(50, 40, 0),
                post(50, 40, MAX),
                post(50, 40, 30),
                with(post(50, 40, 0), |transfer| transfer.user_data_128 = 5),
                with(post(50, 40, 0), |transfer| transfer.ledger = 1),
            ],
            expected: vec![TransferCode::Exists; 5],
            balances: vec![(PLAIN, [30, 30, 0, 0])],
            ..Case::default()
        },
        Case {
            name: "retried post with different fields",
            setup: setup.clone(),
            input: vec![
                post(50, 41, 0),
                void(50, 40, 0),
                post(50, 40, 20),
                with(post(50, 40, 0), |transfer| transfer.user_data_128 = 6),
                with(post(50, 40, 0), |transfer| transfer.user_data_64 = 6),
                with(post(50, 40, 0), |transfer| transfer.user_data_32 = 6),
            ],
            expected: vec![
                TransferCode::ExistsWithDifferentPendingId,
                TransferCode::ExistsWithDifferentFlags,
                TransferCode::ExistsWithDifferentAmount,
                TransferCode::ExistsWithDifferentUserData128,
                TransferCode::ExistsWithDifferentUserData64,
                TransferCode::ExistsWithDifferentUserData32,
            ],
            ..Case::default()
        },
        Case {
            name: "partial post: the whole amount is a different amount",
            setup: vec![pending(40, PLAIN, OTHER, 30, 0), post(50, 40, 10)],
            input: vec![post(50, 40, 0), post(50, 40, MAX), post(50, 40, 10)],
            expected: vec![
                TransferCode::ExistsWithDifferentAmount,
                TransferCode::ExistsWithDifferentAmount,
                TransferCode::Exists,
            ],
            ..Case::default()
        },
        Case {
            name: "balancing retry: the amount is an upper bound",
            setup: vec![
                transfer(40, OTHER, DEBIT_LIMITED, 20),
                flagged(transfer(50, DEBIT_LIMITED, OTHER, 100), BALANCING_DEBIT),
            ],
            input: vec![
                flagged(transfer(50, DEBIT_LIMITED, OTHER, 100), BALANCING_DEBIT),
                flagged(transfer(50, DEBIT_LIMITED, OTHER, MAX), BALANCING_DEBIT),
                flagged(transfer(50, DEBIT_LIMITED, OTHER, 20), BALANCING_DEBIT),
                flagged(transfer(50, DEBIT_LIMITED, OTHER, 19), BALANCING_DEBIT),
            ],
            expected: vec![
                TransferCode::Exists,
                TransferCode::Exists,
                TransferCode::Exists,
                TransferCode::ExistsWithDifferentAmount,
            ],
            balances: vec![(DEBIT_LIMITED, [0, 20, 0, 20])],
            ..Case::default()
        },
    ]);
}

#[test]
fn overflow_and_limit_codes() {
    run_all(&[
        Case {
            name: "overflows posted",
            setup: vec![transfer(40, PLAIN, OTHER, MAX)],
            input: vec![
                transfer(100, PLAIN, SPARE, 1),
                transfer(101, SPARE, OTHER, 1),
            ],
            expected: vec![
                TransferCode::OverflowsDebitsPosted,
                TransferCode::OverflowsCreditsPosted,
            ],
            balances: vec![(PLAIN, [0, MAX, 0, 0]), (SPARE, ZERO)],
            ..Case::default()
        },
        Case {
            name: "overflows pending",
            setup: vec![pending(40, PLAIN, OTHER, MAX, 0)],
            input: vec![
                pending(100, PLAIN, SPARE, 1, 0),
                pending(101, SPARE, OTHER, 1, 0),
            ],
            expected: vec![
                TransferCode::OverflowsDebitsPending,
                TransferCode::OverflowsCreditsPending,
            ],
            ..Case::default()
        },
        Case {
            name: "overflows pending + posted",
            setup: vec![pending(40, PLAIN, OTHER, MAX, 0)],
            input: vec![
                transfer(100, PLAIN, SPARE, 1),
                transfer(101, SPARE, OTHER, 1),
            ],
            expected: vec![
                TransferCode::OverflowsDebits,
                TransferCode::OverflowsCredits,
            ],
            ..Case::default()
        },
        Case {
            name: "overflow precedes limits",
            setup: vec![
                transfer(40, CREDIT_LIMITED, OTHER, MAX),
                pending(41, PLAIN, CREDIT_LIMITED, MAX, 0),
            ],
            input: vec![transfer(100, SPARE, CREDIT_LIMITED, 1)],
            expected: vec![TransferCode::OverflowsCredits],
            balances: vec![(CREDIT_LIMITED, [0, MAX, MAX, 0])],
            ..Case::default()
        },
        Case {
            name: "debits must not exceed credits, pending included",
            setup: vec![
                transfer(40, OTHER, DEBIT_LIMITED, 5),
                pending(41, DEBIT_LIMITED, OTHER, 3, 0),
            ],
            input: vec![
                transfer(100, DEBIT_LIMITED, OTHER, 3),
                transfer(101, DEBIT_LIMITED, OTHER, 2),
            ],
            expected: vec![TransferCode::ExceedsCredits, TransferCode::Ok],
            balances: vec![(DEBIT_LIMITED, [3, 2, 0, 5])],
            ..Case::default()
        },
        Case {
            name: "credits must not exceed debits",
            setup: vec![transfer(40, CREDIT_LIMITED, OTHER, 5)],
            input: vec![
                pending(100, PLAIN, CREDIT_LIMITED, 6, 0),
                pending(101, PLAIN, CREDIT_LIMITED, 5, 0),
            ],
            expected: vec![TransferCode::ExceedsDebits, TransferCode::Ok],
            balances: vec![(CREDIT_LIMITED, [0, 5, 5, 0])],
            ..Case::default()
        },
        Case {
            name: "closed accounts refuse transfers (checked last)",
            input: vec![
                transfer(100, CLOSED, OTHER, 1),
                transfer(101, PLAIN, CLOSED, 1),
                pending(102, CLOSED, OTHER, 1, 0),
            ],
            expected: vec![
                TransferCode::DebitAccountAlreadyClosed,
                TransferCode::CreditAccountAlreadyClosed,
                TransferCode::DebitAccountAlreadyClosed,
            ],
            balances: vec![(CLOSED, ZERO)],
            ..Case::default()
        },
    ]);
}

#[test]
fn overflows_timeout_near_the_end_of_the_clock() {
    let mut engine = engine_with(&[]);
    engine.begin_block(u64::MAX - 10);
    let results = engine.create_transfers(&[
        pending(100, PLAIN, OTHER, 1, 1),
        pending(101, PLAIN, OTHER, 1, 0),
        transfer(102, PLAIN, OTHER, 1),
    ]);
    engine.end_block();
    assert_eq!(
        results,
        vec![
            TransferCode::OverflowsTimeout,
            TransferCode::Ok,
            TransferCode::Ok
        ]
    );
}

#[test]
fn balancing_transfers() {
    run_all(&[
        Case {
            name: "balancing debit moves at most the debit account's available credit",
            setup: vec![transfer(40, OTHER, DEBIT_LIMITED, 20)],
            input: vec![
                flagged(transfer(100, DEBIT_LIMITED, PLAIN, 5), BALANCING_DEBIT),
                flagged(transfer(101, DEBIT_LIMITED, PLAIN, MAX), BALANCING_DEBIT),
                flagged(transfer(102, DEBIT_LIMITED, PLAIN, MAX), BALANCING_DEBIT),
            ],
            expected: vec![
                TransferCode::Ok,
                TransferCode::Ok,
                TransferCode::ExceedsCredits,
            ],
            balances: vec![(DEBIT_LIMITED, [0, 20, 0, 20]), (PLAIN, [0, 0, 0, 20])],
            ..Case::default()
        },
        Case {
            name: "balancing credit moves at most the credit account's available debit",
            setup: vec![transfer(40, CREDIT_LIMITED, OTHER, 20)],
            input: vec![
                flagged(transfer(100, PLAIN, CREDIT_LIMITED, MAX), BALANCING_CREDIT),
                flagged(transfer(101, PLAIN, CREDIT_LIMITED, MAX), BALANCING_CREDIT),
            ],
            expected: vec![TransferCode::Ok, TransferCode::ExceedsDebits],
            balances: vec![(CREDIT_LIMITED, [0, 20, 0, 20]), (PLAIN, [0, 20, 0, 0])],
            ..Case::default()
        },
        Case {
            name: "balancing applies without guard flags; both sides take the minimum",
            setup: vec![
                transfer(40, OTHER, PLAIN, 20),
                transfer(41, SPARE, OTHER, 8),
            ],
            input: vec![
                flagged(
                    transfer(100, PLAIN, OTHER, MAX),
                    BALANCING_DEBIT | BALANCING_CREDIT,
                ),
                flagged(transfer(101, OTHER, PLAIN, MAX), BALANCING_DEBIT),
            ],
            expected: vec![TransferCode::Ok, TransferCode::ExceedsCredits],
            // Credit headroom of OTHER was 20 - 8 = 12 < 20.
            balances: vec![(PLAIN, [0, 12, 0, 20]), (OTHER, [0, 20, 0, 20])],
            ..Case::default()
        },
        Case {
            name: "pending balancing transfer reserves the clamped amount",
            setup: vec![transfer(40, OTHER, PLAIN, 20)],
            input: vec![
                flagged(pending(100, PLAIN, OTHER, MAX, 0), BALANCING_DEBIT),
                flagged(transfer(101, PLAIN, OTHER, 1), BALANCING_DEBIT),
            ],
            expected: vec![TransferCode::Ok, TransferCode::ExceedsCredits],
            balances: vec![(PLAIN, [20, 0, 0, 20])],
            ..Case::default()
        },
    ]);
}

#[test]
fn closing_transfers() {
    let closing = flagged(
        pending(50, PLAIN, OTHER, 5, 0),
        CLOSING_DEBIT | BALANCING_DEBIT,
    );
    run_all(&[
        Case {
            name: "closing debit closes the debit account for everything but voids",
            setup: vec![
                transfer(40, OTHER, PLAIN, 5),
                pending(41, PLAIN, SPARE, 1, 0),
            ],
            input: vec![
                flagged(
                    pending(100, PLAIN, OTHER, MAX, 0),
                    CLOSING_DEBIT | BALANCING_DEBIT,
                ),
                transfer(101, PLAIN, SPARE, 1),
                transfer(102, SPARE, PLAIN, 1),
                post(103, 41, 0),
                void(104, 41, 0),
            ],
            expected: vec![
                TransferCode::Ok,
                TransferCode::DebitAccountAlreadyClosed,
                TransferCode::CreditAccountAlreadyClosed,
                TransferCode::DebitAccountAlreadyClosed,
                TransferCode::Ok,
            ],
            balances: vec![(PLAIN, [4, 0, 0, 5])],
            ..Case::default()
        },
        Case {
            name: "closing credit closes the credit account",
            input: vec![
                flagged(pending(100, PLAIN, OTHER, 1, 0), CLOSING_CREDIT),
                transfer(101, PLAIN, OTHER, 1),
                transfer(102, OTHER, PLAIN, 1),
                transfer(103, PLAIN, SPARE, 1),
            ],
            expected: vec![
                TransferCode::Ok,
                TransferCode::CreditAccountAlreadyClosed,
                TransferCode::DebitAccountAlreadyClosed,
                TransferCode::Ok,
            ],
            ..Case::default()
        },
        Case {
            name: "a closing transfer cannot be posted, only voided, which reopens",
            setup: vec![transfer(40, OTHER, PLAIN, 5), closing],
            input: vec![
                post(100, 50, 0),
                void(101, 50, 0),
                transfer(102, PLAIN, OTHER, 5),
            ],
            expected: vec![
                TransferCode::DebitAccountAlreadyClosed,
                TransferCode::Ok,
                TransferCode::Ok,
            ],
            balances: vec![(PLAIN, [0, 5, 0, 5])],
            ..Case::default()
        },
        Case {
            name: "a closed account refuses a second closing transfer",
            setup: vec![transfer(40, OTHER, PLAIN, 5), closing],
            input: vec![flagged(pending(100, PLAIN, SPARE, 1, 0), CLOSING_DEBIT)],
            expected: vec![TransferCode::DebitAccountAlreadyClosed],
            ..Case::default()
        },
    ]);
}

#[test]
fn linked_chains() {
    let linked = |t: Transfer| flagged(t, LINKED);
    let setup = vec![pending(50, PLAIN, OTHER, 30, 0)];
    run_all(&[
        Case {
            name: "a failing event rolls back its chain",
            input: vec![
                linked(transfer(100, PLAIN, OTHER, 10)),
                transfer(101, PLAIN, MISSING, 1),
            ],
            expected: vec![
                TransferCode::LinkedEventFailed,
                TransferCode::CreditAccountNotFound,
            ],
            balances: vec![(PLAIN, ZERO), (OTHER, ZERO)],
            ..Case::default()
        },
        Case {
            name: "a successful chain commits; an event after it is independent",
            input: vec![
                linked(transfer(100, PLAIN, OTHER, 10)),
                linked(transfer(101, OTHER, SPARE, 3)),
                transfer(102, SPARE, PLAIN, 1),
                transfer(103, PLAIN, MISSING, 1),
            ],
            expected: vec![
                TransferCode::Ok,
                TransferCode::Ok,
                TransferCode::Ok,
                TransferCode::CreditAccountNotFound,
            ],
            balances: vec![
                (PLAIN, [0, 10, 0, 1]),
                (OTHER, [0, 3, 0, 10]),
                (SPARE, [0, 1, 0, 3]),
            ],
            ..Case::default()
        },
        Case {
            name: "events after the failure in the chain fail too, the next chain is independent",
            input: vec![
                linked(transfer(100, PLAIN, OTHER, 10)),
                linked(transfer(101, PLAIN, PLAIN, 1)),
                transfer(102, PLAIN, OTHER, 1),
                linked(transfer(103, PLAIN, OTHER, 2)),
                transfer(104, PLAIN, OTHER, 3),
            ],
            expected: vec![
                TransferCode::LinkedEventFailed,
                TransferCode::AccountsMustBeDifferent,
                TransferCode::LinkedEventFailed,
                TransferCode::Ok,
                TransferCode::Ok,
            ],
            balances: vec![(PLAIN, [0, 5, 0, 0])],
            ..Case::default()
        },
        Case {
            name: "a chain open at the end of the batch fails",
            input: vec![
                transfer(100, PLAIN, OTHER, 1),
                linked(transfer(101, PLAIN, OTHER, 10)),
                linked(transfer(102, PLAIN, OTHER, 10)),
            ],
            expected: vec![
                TransferCode::Ok,
                TransferCode::LinkedEventFailed,
                TransferCode::LinkedEventChainOpen,
            ],
            balances: vec![(PLAIN, [0, 1, 0, 0])],
            ..Case::default()
        },
        Case {
            name: "a broken chain left open: the failure keeps its code, the last says chain open",
            input: vec![
                linked(transfer(100, MISSING, OTHER, 1)),
                linked(transfer(101, PLAIN, OTHER, 1)),
            ],
            expected: vec![
                TransferCode::DebitAccountNotFound,
                TransferCode::LinkedEventChainOpen,
            ],
            ..Case::default()
        },
        Case {
            name: "a duplicate id inside a chain fails it (linked is part of the flags)",
            input: vec![
                linked(transfer(100, PLAIN, OTHER, 1)),
                transfer(100, PLAIN, OTHER, 1),
            ],
            expected: vec![
                TransferCode::LinkedEventFailed,
                TransferCode::ExistsWithDifferentFlags,
            ],
            balances: vec![(PLAIN, ZERO)],
            ..Case::default()
        },
        Case {
            name: "a rolled-back post leaves the pending transfer open",
            setup: setup.clone(),
            input: vec![
                linked(post(100, 50, 10)),
                transfer(101, PLAIN, MISSING, 1),
                post(102, 50, 0),
            ],
            expected: vec![
                TransferCode::LinkedEventFailed,
                TransferCode::CreditAccountNotFound,
                TransferCode::Ok,
            ],
            balances: vec![(PLAIN, [0, 30, 0, 0]), (OTHER, [0, 0, 0, 30])],
            ..Case::default()
        },
        Case {
            name: "a chain can post and rely on its own earlier events",
            setup: setup.clone(),
            input: vec![
                linked(post(100, 50, 0)),
                linked(transfer(101, OTHER, DEBIT_LIMITED, 30)),
                transfer(102, DEBIT_LIMITED, SPARE, 30),
            ],
            expected: vec![TransferCode::Ok; 3],
            balances: vec![(DEBIT_LIMITED, [0, 30, 0, 30]), (SPARE, [0, 0, 0, 30])],
            ..Case::default()
        },
    ]);
}

#[test]
fn chain_rollback_restores_everything() {
    let (mut engine, setup) = engine_and_setup_effects(&[pending(50, PLAIN, HISTORY, 30, 0)]);
    assert_eq!(history_of(&setup, HISTORY).len(), 1, "the setup's entry");
    let block = engine.begin_block(START + SECOND);
    let results = engine.create_transfers(&[
        flagged(transfer(100, PLAIN, HISTORY, 10), LINKED),
        flagged(pending(101, HISTORY, OTHER, 5, 1), LINKED),
        flagged(void(102, 50, 0), LINKED),
        transfer(103, PLAIN, MISSING, 1),
        transfer(104, SPARE, OTHER, 2),
    ]);
    let effects = engine.end_block();
    assert_eq!(
        results,
        vec![
            TransferCode::LinkedEventFailed,
            TransferCode::LinkedEventFailed,
            TransferCode::LinkedEventFailed,
            TransferCode::CreditAccountNotFound,
            TransferCode::Ok,
        ]
    );
    // The clock was rolled back too: the survivor takes the block's first timestamp.
    assert_eq!(
        engine
            .transfer(TransferId(104))
            .map(|transfer| transfer.timestamp),
        Some(block)
    );
    assert_eq!(engine.last_timestamp(), block);
    for id in [100, 101, 102] {
        assert!(
            engine.transfer(TransferId(id)).is_none(),
            "transfer {id} was rolled back"
        );
    }
    assert_eq!(
        engine.pending_status(TransferId(50)),
        Some(PendingStatus::Pending)
    );
    assert_eq!(balances(&engine, PLAIN), [30, 0, 0, 0]);
    assert_eq!(balances(&engine, HISTORY), [0, 0, 30, 0]);
    assert!(
        effects.history.is_empty(),
        "the rolled-back chain left no history entry"
    );
    assert_eq!(engine.transfer_count(), 2);
    let leaf_index = engine
        .stored_transfer(TransferId(104))
        .map(|stored| stored.leaf_index);
    assert_eq!(leaf_index, Some(1));
    let expected = BlockEffects {
        timestamp: block,
        transfers: vec![*engine.transfer(TransferId(104)).unwrap()],
        touched: vec![AccountId(SPARE), AccountId(OTHER)],
        ..BlockEffects::default()
    };
    assert_eq!(effects, expected);
    // The rolled-back pending 101 had a timeout: it must not expire later.
    engine.begin_block(START + 10 * SECOND);
    let effects = engine.end_block();
    assert!(
        effects.expired.is_empty() && effects.touched.is_empty(),
        "{effects:?}"
    );
}

/// Name, accounts created first, input batch, expected results.
type AccountCase = (&'static str, Vec<Account>, Vec<Account>, Vec<AccountCode>);

#[test]
fn account_codes() {
    let base = account(20, 1, AccountFlags::HISTORY);
    let with = |change: fn(&mut Account)| {
        let mut account = base;
        change(&mut account);
        account
    };
    let linked = |mut account: Account| {
        account.flags = account.flags | AccountFlags::LINKED;
        account
    };
    let cases: Vec<AccountCase> = vec![
        ("ok", vec![], vec![base], vec![AccountCode::Ok]),
        (
            "timestamp",
            vec![],
            vec![with(|account| account.timestamp = 1)],
            vec![AccountCode::TimestampMustBeZero],
        ),
        (
            "reserved flag",
            vec![],
            vec![with(|account| account.flags = AccountFlags(1 << 4))],
            vec![AccountCode::ReservedFlag],
        ),
        (
            "id zero",
            vec![],
            vec![with(|account| account.id = AccountId(0))],
            vec![AccountCode::IdMustNotBeZero],
        ),
        (
            "id max",
            vec![],
            vec![with(|account| account.id = AccountId(MAX))],
            vec![AccountCode::IdMustNotBeIntMax],
        ),
        (
            "exclusive flags",
            vec![],
            vec![with(|account| {
                account.flags = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS
                    | AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS
            })],
            vec![AccountCode::FlagsAreMutuallyExclusive],
        ),
        (
            "balances must be zero",
            vec![],
            vec![
                with(|account| account.debits_pending = 1),
                with(|account| account.debits_posted = 1),
                with(|account| account.credits_pending = 1),
                with(|account| account.credits_posted = 1),
            ],
            vec![
                AccountCode::DebitsPendingMustBeZero,
                AccountCode::DebitsPostedMustBeZero,
                AccountCode::CreditsPendingMustBeZero,
                AccountCode::CreditsPostedMustBeZero,
            ],
        ),
        (
            "ledger and code",
            vec![],
            vec![
                with(|account| account.ledger = 0),
                with(|account| account.code = 0),
                with(|account| {
                    account.ledger = 0;
                    account.code = 0;
                }),
            ],
            vec![
                AccountCode::LedgerMustNotBeZero,
                AccountCode::CodeMustNotBeZero,
                AccountCode::LedgerMustNotBeZero,
            ],
        ),
        (
            "exists family",
            vec![base],
            vec![
                base,
                with(|account| account.flags = AccountFlags::empty()),
                with(|account| account.user_data_128 = 1),
                with(|account| account.user_data_64 = 1),
                with(|account| account.user_data_32 = 1),
                with(|account| account.ledger = 2),
                with(|account| account.code = 2),
            ],
            vec![
                AccountCode::Exists,
                AccountCode::ExistsWithDifferentFlags,
                AccountCode::ExistsWithDifferentUserData128,
                AccountCode::ExistsWithDifferentUserData64,
                AccountCode::ExistsWithDifferentUserData32,
                AccountCode::ExistsWithDifferentLedger,
                AccountCode::ExistsWithDifferentCode,
            ],
        ),
        (
            "validation precedes exists",
            vec![base],
            vec![with(|account| account.code = 0)],
            vec![AccountCode::CodeMustNotBeZero],
        ),
        (
            "duplicate inside one batch",
            vec![],
            vec![base, base],
            vec![AccountCode::Ok, AccountCode::Exists],
        ),
        (
            "linked chain fails together",
            vec![],
            vec![
                linked(base),
                with(|account| account.ledger = 0),
                account(21, 1, AccountFlags::empty()),
            ],
            vec![
                AccountCode::LinkedEventFailed,
                AccountCode::LedgerMustNotBeZero,
                AccountCode::Ok,
            ],
        ),
        (
            "linked chain open at the end",
            vec![],
            vec![account(21, 1, AccountFlags::empty()), linked(base)],
            vec![AccountCode::Ok, AccountCode::LinkedEventChainOpen],
        ),
        (
            "accounts may be created closed",
            vec![],
            vec![account(21, 1, AccountFlags::CLOSED)],
            vec![AccountCode::Ok],
        ),
    ];
    for (name, setup, input, expected) in cases {
        let mut engine = Engine::new();
        engine.begin_block(START);
        assert!(
            engine
                .create_accounts(&setup)
                .iter()
                .all(|result| result.is_ok()),
            "{name}: setup"
        );
        let results = engine.create_accounts(&input);
        let effects = engine.end_block();
        assert_eq!(results, expected, "{name}");
        let created = results.iter().filter(|result| result.is_ok()).count() + setup.len();
        assert_eq!(
            engine.account_count(),
            created as u64,
            "{name}: account count"
        );
        assert_eq!(effects.accounts.len(), created, "{name}: effects");
        for (result, input) in results.iter().zip(&input) {
            if result.is_ok() {
                let stored = engine.account(input.id).expect("created");
                assert_eq!(
                    Account {
                        timestamp: 0,
                        ..*stored
                    },
                    *input,
                    "{name}: stored as given"
                );
            }
        }
    }
}

#[test]
fn account_exists_after_it_was_closed() {
    let mut engine = engine_with(&[flagged(pending(50, PLAIN, OTHER, 1, 0), CLOSING_DEBIT)]);
    engine.begin_block(START);
    let results = engine.create_accounts(&chart());
    engine.end_block();
    assert!(
        engine
            .account(AccountId(PLAIN))
            .unwrap()
            .flags
            .contains(AccountFlags::CLOSED)
    );
    assert_eq!(results, vec![AccountCode::Exists; chart().len()]);
}

#[test]
fn timestamps_are_consumed_by_successes_only() {
    let mut engine = Engine::new();
    let first = engine.begin_block(START);
    assert_eq!(first, START);
    let results = engine.create_accounts(&[
        account(1, 1, AccountFlags::empty()),
        account(0, 1, AccountFlags::empty()),
    ]);
    assert_eq!(results, vec![AccountCode::Ok, AccountCode::IdMustNotBeZero]);
    engine.create_accounts(&[account(2, 1, AccountFlags::empty())]);
    engine.create_transfers(&[transfer(10, 1, 2, 0), transfer(11, 1, 2, 5)]);
    engine.end_block();
    assert_eq!(engine.account(AccountId(1)).unwrap().timestamp, START);
    assert_eq!(engine.account(AccountId(2)).unwrap().timestamp, START + 1);
    assert_eq!(
        engine.transfer(TransferId(11)).unwrap().timestamp,
        START + 2
    );
    assert_eq!(engine.last_timestamp(), START + 2);
    // A clock that goes backwards still yields strictly increasing block timestamps.
    assert_eq!(engine.begin_block(START - 5), START + 3);
    engine.end_block();
    assert_eq!(
        engine.begin_block(START - 5),
        START + 4,
        "empty blocks advance the clock too"
    );
    engine.end_block();
    assert_eq!(engine.begin_block(START + 100), START + 100);
    engine.end_block();
}

#[test]
fn expiry_follows_the_block_clock() {
    let mut engine = engine_with(&[
        pending(50, PLAIN, OTHER, 7, 2),
        pending(51, SPARE, OTHER, 5, 1),
        pending(52, PLAIN, SPARE, 3, 1),
        pending(53, PLAIN, OTHER, 1, 0),
    ]);
    let created = engine.transfer(TransferId(51)).unwrap().timestamp;
    assert_eq!(
        engine.transfer(TransferId(52)).unwrap().timestamp,
        created + 1
    );
    // 51 expires at created + 1s, 52 one nanosecond later.
    engine.begin_block(created + SECOND - 1);
    assert!(engine.end_block().expired.is_empty());
    engine.begin_block(created + SECOND + 1);
    let effects = engine.end_block();
    assert_eq!(effects.expired, vec![TransferId(51), TransferId(52)]);
    assert_eq!(
        effects.touched,
        vec![AccountId(SPARE), AccountId(OTHER), AccountId(PLAIN)]
    );
    assert!(effects.transfers.is_empty() && effects.history.is_empty());
    assert_eq!(
        engine.pending_status(TransferId(51)),
        Some(PendingStatus::Expired)
    );
    assert_eq!(
        engine.pending_status(TransferId(50)),
        Some(PendingStatus::Pending)
    );
    assert_eq!(balances(&engine, PLAIN), [8, 0, 0, 0]);
    assert_eq!(balances(&engine, SPARE), ZERO);
    engine.begin_block(START + 1000 * SECOND);
    let effects = engine.end_block();
    assert_eq!(
        effects.expired,
        vec![TransferId(50)],
        "timeout 0 never expires"
    );
    assert_eq!(balances(&engine, PLAIN), [1, 0, 0, 0]);
    assert_eq!(
        engine.pending_status(TransferId(53)),
        Some(PendingStatus::Pending)
    );
    assert_eq!(engine.pending_status(TransferId(999)), None);
}

#[test]
fn a_pending_transfer_due_mid_block_refuses_resolution_before_the_sweep() {
    let mut engine = engine_with(&[pending(50, PLAIN, OTHER, 7, 1)]);
    let due = engine.transfer(TransferId(50)).unwrap().timestamp + SECOND;
    engine.begin_block(due - 1);
    let results = engine.create_transfers(&[transfer(100, PLAIN, OTHER, 1), post(101, 50, 0)]);
    let effects = engine.end_block();
    assert_eq!(
        results,
        vec![TransferCode::Ok, TransferCode::PendingTransferExpired]
    );
    assert!(effects.expired.is_empty());
    assert_eq!(
        engine.pending_status(TransferId(50)),
        Some(PendingStatus::Pending)
    );
    engine.begin_block(due);
    assert_eq!(engine.end_block().expired, vec![TransferId(50)]);
}

#[test]
fn expiry_reopens_accounts_closed_by_the_pending_transfer() {
    let closing = flagged(
        pending(50, PLAIN, OTHER, 2, 1),
        CLOSING_DEBIT | CLOSING_CREDIT,
    );
    let mut engine = engine_with(&[closing]);
    for id in [PLAIN, OTHER] {
        assert!(
            engine
                .account(AccountId(id))
                .unwrap()
                .flags
                .contains(AccountFlags::CLOSED)
        );
    }
    engine.begin_block(START + 5 * SECOND);
    let results = engine.create_transfers(&[transfer(100, PLAIN, OTHER, 1)]);
    let effects = engine.end_block();
    assert_eq!(effects.expired, vec![TransferId(50)]);
    assert_eq!(results, vec![TransferCode::Ok]);
    for id in [PLAIN, OTHER] {
        assert!(
            !engine
                .account(AccountId(id))
                .unwrap()
                .flags
                .contains(AccountFlags::CLOSED)
        );
    }
}

#[test]
fn committed_records_are_filled_in() {
    let original = with(pending(50, PLAIN, OTHER, 30, 60), |transfer| {
        transfer.user_data_128 = 1;
        transfer.user_data_64 = 2;
        transfer.user_data_32 = 3;
        transfer.code = 7;
    });
    let mut engine = engine_with(&[original]);
    engine.begin_block(START);
    let results = engine.create_transfers(&[with(post(100, 50, 10), |transfer| {
        transfer.user_data_64 = 9
    })]);
    let effects = engine.end_block();
    assert_eq!(results, vec![TransferCode::Ok]);
    let expected = Transfer {
        id: TransferId(100),
        debit_account_id: AccountId(PLAIN),
        credit_account_id: AccountId(OTHER),
        amount: 10,
        pending_id: TransferId(50),
        user_data_128: 1,
        user_data_64: 9,
        user_data_32: 3,
        timeout: 0,
        ledger: 1,
        code: 7,
        flags: POST,
        timestamp: effects.timestamp,
    };
    assert_eq!(effects.transfers, vec![expected]);
    assert_eq!(engine.transfer(TransferId(100)), Some(&expected));
    assert_eq!(
        engine.pending_status(TransferId(50)),
        Some(PendingStatus::Posted)
    );
    assert_eq!(
        engine.pending_status(TransferId(100)),
        None,
        "a post is not itself pending"
    );
    // Once posted, the pending no longer expires.
    engine.begin_block(START + 3600 * SECOND);
    assert!(engine.end_block().expired.is_empty());
    assert_eq!(
        engine.pending_status(TransferId(50)),
        Some(PendingStatus::Posted)
    );
}

#[test]
fn history_records_balances_after_each_transfer() {
    let mut engine = engine_with(&[]);
    let block = engine.begin_block(START + SECOND);
    engine.create_transfers(&[
        transfer(100, PLAIN, HISTORY, 10),
        pending(101, HISTORY, PLAIN, 4, 0),
        transfer(102, PLAIN, OTHER, 1),
        post(103, 101, 3),
    ]);
    let effects = engine.end_block();
    let history = history_of(&effects, HISTORY);
    let rows: Vec<(u64, [u128; 4])> = history
        .iter()
        .map(|balance| {
            (
                balance.timestamp,
                [
                    balance.debits_pending,
                    balance.debits_posted,
                    balance.credits_pending,
                    balance.credits_posted,
                ],
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (block, [0, 0, 0, 10]),
            (block + 1, [4, 0, 0, 10]),
            (block + 3, [0, 3, 0, 10])
        ]
    );
    assert_eq!(
        effects.history, history,
        "only accounts with the history flag"
    );
    assert_eq!(
        effects.touched,
        vec![AccountId(PLAIN), AccountId(HISTORY), AccountId(OTHER)]
    );
}

/// Runs a few blocks with interleaved batches and returns every block's effects.
fn recorded_blocks() -> (Engine, Vec<BlockEffects>) {
    let mut engine = Engine::new();
    let mut blocks = Vec::new();
    engine.begin_block(START);
    engine.create_accounts(&chart()[..4]);
    engine.create_transfers(&[
        transfer(10, PLAIN, OTHER, 5),
        pending(11, OTHER, PLAIN, 3, 1),
    ]);
    engine.create_accounts(&chart()[4..]);
    let results = engine.create_transfers(&[
        flagged(transfer(12, OTHER, HISTORY, 2), LINKED),
        transfer(13, HISTORY, SPARE, 1),
        flagged(transfer(14, SPARE, PLAIN, MAX), BALANCING_CREDIT),
        transfer(15, PLAIN, MISSING, 1),
    ]);
    assert_eq!(results[3], TransferCode::CreditAccountNotFound);
    blocks.push(engine.end_block());
    assert_eq!(
        engine.transfer(TransferId(14)).unwrap().amount,
        2,
        "5 debited - 3 pending credit"
    );
    engine.begin_block(START + 5 * SECOND);
    let results = engine.create_transfers(&[
        transfer(16, PLAIN, DEBIT_LIMITED, 4),
        flagged(transfer(17, DEBIT_LIMITED, PLAIN, MAX), BALANCING_DEBIT),
        flagged(pending(18, SPARE, PLAIN, 1, 0), CLOSING_DEBIT),
        pending(19, PLAIN, OTHER, 6, 0),
    ]);
    assert!(results.iter().all(|result| result.is_ok()), "{results:?}");
    blocks.push(engine.end_block());
    engine.begin_block(START + 6 * SECOND);
    let results = engine.create_transfers(&[void(20, 18, 0), post(21, 19, 2)]);
    assert!(results.iter().all(|result| result.is_ok()), "{results:?}");
    blocks.push(engine.end_block());
    (engine, blocks)
}

#[test]
fn replay_reproduces_blocks_and_state() {
    let (original, blocks) = recorded_blocks();
    assert_eq!(blocks[1].expired, vec![TransferId(11)]);
    let mut replica = Engine::new();
    for block in &blocks {
        let replayed = replica.replay_block(block.timestamp, &block.accounts, &block.transfers);
        assert_eq!(replayed.as_ref(), Ok(block));
    }
    assert_eq!(replica.last_timestamp(), original.last_timestamp());
    assert_eq!(replica.transfer_count(), original.transfer_count());
    for account in chart() {
        assert_eq!(replica.account(account.id), original.account(account.id));
    }
    for id in 10..=21 {
        let id = TransferId(id);
        assert_eq!(replica.transfer(id), original.transfer(id));
        assert_eq!(replica.stored_transfer(id), original.stored_transfer(id));
        assert_eq!(replica.pending_status(id), original.pending_status(id));
    }
    assert_eq!(replica.state(), original.state());
}

#[test]
fn replay_reports_the_first_mismatch() {
    let (_, blocks) = recorded_blocks();
    let first = &blocks[0];
    let replay = |timestamp: u64, accounts: &[Account], transfers: &[Transfer]| {
        Engine::new()
            .replay_block(timestamp, accounts, transfers)
            .unwrap_err()
    };
    assert_eq!(
        replay(0, &first.accounts, &first.transfers),
        ReplayError::TimestampMismatch {
            expected: 0,
            got: 1
        }
    );

    // A balancing transfer recorded with more than the balance allows is clamped on replay.
    let mut transfers = first.transfers.clone();
    transfers[4].amount += 1;
    assert_eq!(
        replay(first.timestamp, &first.accounts, &transfers),
        ReplayError::TransferDiffers { index: 4 }
    );

    let mut transfers = first.transfers.clone();
    transfers[2].debit_account_id = AccountId(MISSING);
    let error = replay(first.timestamp, &first.accounts, &transfers);
    let result = TransferCode::DebitAccountNotFound;
    assert_eq!(error, ReplayError::TransferRejected { index: 2, result });

    let mut accounts = first.accounts.clone();
    accounts[5].code = 0;
    let result = AccountCode::CodeMustNotBeZero;
    assert_eq!(
        replay(first.timestamp, &accounts, &first.transfers),
        ReplayError::AccountRejected { index: 5, result }
    );

    let mut accounts = first.accounts.clone();
    accounts[0].timestamp += 1;
    assert_eq!(
        replay(first.timestamp, &accounts, &first.transfers),
        ReplayError::AccountDiffers { index: 0 }
    );

    let mut replica = Engine::new();
    replica
        .replay_block(first.timestamp, &first.accounts, &first.transfers)
        .unwrap();
    let error = replica.replay_block(first.timestamp, &[], &[]).unwrap_err();
    assert!(
        matches!(error, ReplayError::TimestampMismatch { .. }),
        "{error}"
    );
}

#[test]
#[should_panic(expected = "already open")]
fn begin_block_twice_is_a_bug() {
    let mut engine = Engine::new();
    engine.begin_block(START);
    engine.begin_block(START);
}

#[test]
#[should_panic(expected = "outside a block")]
fn events_outside_a_block_are_a_bug() {
    Engine::new().create_transfers(&[transfer(1, PLAIN, OTHER, 1)]);
}

#[test]
fn history_entries_name_their_transfer_by_timestamp() {
    let (_, effects) = engine_and_setup_effects(&[
        transfer(1, PLAIN, HISTORY, 5),
        transfer(2, OTHER, PLAIN, 7),
        transfer(3, HISTORY, PLAIN, 2),
    ]);
    // Timestamps are unique and increase with commit order, so a binary search finds the one
    // transfer an entry was recorded after.
    let transfers = &effects.transfers;
    let named: Vec<u128> = history_of(&effects, HISTORY)
        .iter()
        .map(|entry| {
            let position =
                transfers.binary_search_by_key(&entry.timestamp, |transfer| transfer.timestamp);
            transfers[position.expect("a transfer at the entry's timestamp")]
                .id
                .0
        })
        .collect();
    assert_eq!(named, vec![1, 3]);
}
