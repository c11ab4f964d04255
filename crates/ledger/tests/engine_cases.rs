//! Table-driven cases for the engine: every result code that can be produced, plus linked
//! chains, two-phase transfers, expiry, balancing, closing, history, idempotency, failed ids,
//! imported events and replay.
//!
//! One code is never produced: `CreateTransferResult::AmountMustNotBeZero`, kept for its wire
//! name only (zero amounts are allowed, as in TigerBeetle since 0.16).

use ledger::engine::{BlockEffects, Engine, FailedTransfer, PendingStatus, ReplayError};
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
const IMPORTED: TransferFlags = TransferFlags::IMPORTED;

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
                transfer.flags = TransferFlags(1 << 9);
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
            input: vec![post(100, 50, 10), post(101, 50, MAX), void(102, 50, 0)],
            expected: vec![
                TransferCode::Ok,
                TransferCode::PendingTransferAlreadyPosted,
                TransferCode::PendingTransferAlreadyPosted,
            ],
            balances: vec![(PLAIN, [0, 10, 0, 0]), (OTHER, [0, 0, 0, 10])],
            ..Case::default()
        },
        Case {
            name: "a post's u128::MAX means the whole amount; its 0 posts nothing",
            setup: vec![
                pending(50, PLAIN, OTHER, 30, 0),
                pending(51, PLAIN, OTHER, 20, 0),
            ],
            input: vec![post(100, 50, MAX), post(101, 51, 0)],
            expected: vec![TransferCode::Ok; 2],
            balances: vec![(PLAIN, [0, 30, 0, 0]), (OTHER, [0, 0, 0, 30])],
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
            input: vec![void(100, 50, 30), void(101, 50, 0), post(102, 50, MAX)],
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
            input: vec![post(100, 50, MAX), void(101, 50, 0)],
            expected: vec![TransferCode::PendingTransferExpired; 2],
            balances: vec![(PLAIN, ZERO), (OTHER, ZERO)],
        },
        Case {
            name: "posting keeps guard flags: the pending amount is already counted",
            setup: vec![
                transfer(40, OTHER, DEBIT_LIMITED, 10),
                pending(50, DEBIT_LIMITED, OTHER, 10, 0),
            ],
            input: vec![transfer(100, DEBIT_LIMITED, OTHER, 1), post(101, 50, MAX)],
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
        post(50, 40, MAX),
    ];
    run_all(&[
        Case {
            name: "retried post answers exists, in both spellings of the whole amount",
            setup: setup.clone(),
            input: vec![
                post(50, 40, MAX),
                post(50, 40, 30),
                with(post(50, 40, MAX), |transfer| transfer.user_data_128 = 5),
                with(post(50, 40, MAX), |transfer| transfer.ledger = 1),
                with(post(50, 40, MAX), |transfer| {
                    transfer.debit_account_id = AccountId(PLAIN)
                }),
            ],
            expected: vec![TransferCode::Exists; 5],
            balances: vec![(PLAIN, [30, 30, 0, 0])],
            ..Case::default()
        },
        Case {
            name: "retried post with different fields",
            setup: setup.clone(),
            input: vec![
                post(50, 41, MAX),
                void(50, 40, 0),
                post(50, 40, 20),
                post(50, 40, 0),
                with(post(50, 40, MAX), |transfer| transfer.timeout = 1),
                with(post(50, 40, MAX), |transfer| {
                    transfer.debit_account_id = AccountId(OTHER)
                }),
                with(post(50, 40, MAX), |transfer| {
                    transfer.credit_account_id = AccountId(PLAIN)
                }),
                with(post(50, 40, MAX), |transfer| transfer.user_data_128 = 6),
                with(post(50, 40, MAX), |transfer| transfer.user_data_64 = 6),
                with(post(50, 40, MAX), |transfer| transfer.user_data_32 = 6),
                with(post(50, 40, MAX), |transfer| transfer.ledger = 2),
                with(post(50, 40, MAX), |transfer| transfer.code = 2),
            ],
            expected: vec![
                TransferCode::ExistsWithDifferentPendingId,
                TransferCode::ExistsWithDifferentFlags,
                TransferCode::ExistsWithDifferentAmount,
                TransferCode::ExistsWithDifferentAmount,
                TransferCode::ExistsWithDifferentTimeout,
                TransferCode::ExistsWithDifferentDebitAccountId,
                TransferCode::ExistsWithDifferentCreditAccountId,
                TransferCode::ExistsWithDifferentUserData128,
                TransferCode::ExistsWithDifferentUserData64,
                TransferCode::ExistsWithDifferentUserData32,
                TransferCode::ExistsWithDifferentLedger,
                TransferCode::ExistsWithDifferentCode,
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
            name: "retried void: 0 and the pending amount both match, nothing else",
            setup: vec![pending(40, PLAIN, OTHER, 30, 0), void(50, 40, 0)],
            input: vec![void(50, 40, 0), void(50, 40, 30), void(50, 40, 29)],
            expected: vec![
                TransferCode::Exists,
                TransferCode::Exists,
                TransferCode::ExistsWithDifferentAmount,
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
            name: "closed accounts refuse transfers (checked before amounts)",
            setup: vec![transfer(40, PLAIN, OTHER, MAX)],
            input: vec![
                transfer(100, CLOSED, OTHER, 1),
                transfer(101, PLAIN, CLOSED, 1),
                pending(102, CLOSED, OTHER, 1, 0),
                transfer(103, CLOSED, DEBIT_LIMITED, 1),
                transfer(104, PLAIN, CLOSED, 1),
                transfer(105, CLOSED, CLOSED, 0),
            ],
            expected: vec![
                TransferCode::DebitAccountAlreadyClosed,
                TransferCode::CreditAccountAlreadyClosed,
                TransferCode::DebitAccountAlreadyClosed,
                TransferCode::DebitAccountAlreadyClosed,
                // Not `overflows_debits_posted`: PLAIN holds u128::MAX of debits.
                TransferCode::CreditAccountAlreadyClosed,
                TransferCode::AccountsMustBeDifferent,
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
            name: "balancing debit moves at most the debit account's available credit, then zero",
            setup: vec![transfer(40, OTHER, DEBIT_LIMITED, 20)],
            input: vec![
                flagged(transfer(100, DEBIT_LIMITED, PLAIN, 5), BALANCING_DEBIT),
                flagged(transfer(101, DEBIT_LIMITED, PLAIN, MAX), BALANCING_DEBIT),
                flagged(transfer(102, DEBIT_LIMITED, PLAIN, MAX), BALANCING_DEBIT),
            ],
            expected: vec![TransferCode::Ok; 3],
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
            expected: vec![TransferCode::Ok; 2],
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
            expected: vec![TransferCode::Ok; 2],
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
            expected: vec![TransferCode::Ok; 2],
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
                post(103, 41, MAX),
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
                post(100, 50, MAX),
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
                post(102, 50, MAX),
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
                linked(post(100, 50, MAX)),
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
        // The failure outlives its chain: its id stays spent.
        failed: vec![FailedTransfer {
            id: TransferId(103),
            result: TransferCode::CreditAccountNotFound,
        }],
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
            vec![with(|account| account.flags = AccountFlags(1 << 6))],
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
            "exists precedes validation (TigerBeetle's order)",
            vec![base],
            vec![
                with(|account| account.code = 0),
                with(|account| account.credits_posted = 1),
                with(|account| {
                    account.flags = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS
                        | AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS
                }),
            ],
            vec![
                AccountCode::ExistsWithDifferentCode,
                AccountCode::Exists,
                AccountCode::ExistsWithDifferentFlags,
            ],
        ),
        (
            "id checks precede exists",
            vec![base],
            vec![with(|account| account.flags = AccountFlags(1 << 15))],
            vec![AccountCode::ReservedFlag],
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
                account(22, 0, AccountFlags::empty()),
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
    engine.create_transfers(&[transfer(10, 1, 1, 5), transfer(11, 1, 2, 5)]);
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
    let results = engine.create_transfers(&[transfer(100, PLAIN, OTHER, 1), post(101, 50, MAX)]);
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
        let replayed = replica.replay_block_with_failed(
            block.timestamp,
            &block.accounts,
            &block.transfers,
            &block.failed,
        );
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

#[test]
fn zero_amounts() {
    let setup = vec![pending(50, PLAIN, OTHER, 30, 0)];
    let open = [(PLAIN, [30, 0, 0, 0]), (OTHER, [0, 0, 30, 0])];
    run_all(&[
        Case {
            name: "zero-amount transfers commit and move nothing, limits or not",
            input: vec![
                transfer(100, PLAIN, OTHER, 0),
                pending(101, PLAIN, OTHER, 0, 0),
                transfer(102, DEBIT_LIMITED, CREDIT_LIMITED, 0),
                flagged(pending(103, DEBIT_LIMITED, OTHER, 0, 5), BALANCING_DEBIT),
            ],
            expected: vec![TransferCode::Ok; 4],
            balances: vec![(PLAIN, ZERO), (OTHER, ZERO), (DEBIT_LIMITED, ZERO)],
            ..Case::default()
        },
        Case {
            name: "zero-amount pending transfers are posted and voided like others",
            setup: vec![
                pending(50, PLAIN, OTHER, 0, 0),
                pending(51, PLAIN, OTHER, 0, 0),
            ],
            input: vec![
                post(100, 50, MAX),
                void(101, 51, 0),
                post(102, 50, 0),
                void(103, 51, 1),
            ],
            expected: vec![
                TransferCode::Ok,
                TransferCode::Ok,
                TransferCode::PendingTransferAlreadyPosted,
                TransferCode::ExceedsPendingTransferAmount,
            ],
            balances: vec![(PLAIN, ZERO), (OTHER, ZERO)],
            ..Case::default()
        },
        Case {
            name: "a post of 0 posts nothing and releases the whole pending amount",
            setup: setup.clone(),
            input: vec![post(100, 50, 0), void(101, 50, 0)],
            expected: vec![TransferCode::Ok, TransferCode::PendingTransferAlreadyPosted],
            balances: vec![(PLAIN, ZERO), (OTHER, ZERO)],
            ..Case::default()
        },
        Case {
            name: "a post's amount: u128::MAX is all of it, anything else at most all of it",
            setup: setup.clone(),
            input: vec![post(100, 50, MAX - 1), post(101, 50, 31), post(102, 50, 30)],
            expected: vec![
                TransferCode::ExceedsPendingTransferAmount,
                TransferCode::ExceedsPendingTransferAmount,
                TransferCode::Ok,
            ],
            balances: vec![(PLAIN, [0, 30, 0, 0]), (OTHER, [0, 0, 0, 30])],
            ..Case::default()
        },
        Case {
            name: "a void's amount: 0 or the pending amount, nothing else",
            setup: setup.clone(),
            input: vec![
                void(100, 50, MAX),
                void(101, 50, 1),
                void(102, 50, 29),
                void(103, 50, 30),
            ],
            expected: vec![
                TransferCode::ExceedsPendingTransferAmount,
                TransferCode::PendingTransferHasDifferentAmount,
                TransferCode::PendingTransferHasDifferentAmount,
                TransferCode::Ok,
            ],
            balances: vec![(PLAIN, ZERO), (OTHER, ZERO)],
            ..Case::default()
        },
        Case {
            name: "balancing with nothing to move moves zero (no longer exceeds_*)",
            setup: vec![transfer(40, OTHER, DEBIT_LIMITED, 5)],
            input: vec![
                flagged(transfer(100, PLAIN, OTHER, MAX), BALANCING_DEBIT),
                flagged(transfer(101, PLAIN, SPARE, MAX), BALANCING_CREDIT),
                flagged(transfer(102, DEBIT_LIMITED, OTHER, 0), BALANCING_DEBIT),
            ],
            expected: vec![TransferCode::Ok; 3],
            balances: vec![(PLAIN, ZERO), (DEBIT_LIMITED, [0, 0, 0, 5])],
            ..Case::default()
        },
        Case {
            name: "an open pending transfer is untouched by zero-amount neighbours",
            setup: setup.clone(),
            input: vec![transfer(100, OTHER, PLAIN, 0)],
            expected: vec![TransferCode::Ok],
            balances: open.to_vec(),
            ..Case::default()
        },
    ]);
}

#[test]
fn zero_amount_records_keep_their_amount() {
    let mut engine = engine_with(&[pending(50, PLAIN, HISTORY, 30, 0)]);
    engine.begin_block(START + SECOND);
    let results = engine.create_transfers(&[
        post(100, 50, 0),
        flagged(transfer(101, PLAIN, OTHER, MAX), BALANCING_DEBIT),
    ]);
    let effects = engine.end_block();
    assert_eq!(results, vec![TransferCode::Ok; 2]);
    let amounts: Vec<u128> = effects
        .transfers
        .iter()
        .map(|record| record.amount)
        .collect();
    assert_eq!(amounts, vec![0, 0]);
    assert_eq!(
        engine.pending_status(TransferId(50)),
        Some(PendingStatus::Posted)
    );
    // A zero-amount transfer is still a transfer: history records it.
    assert_eq!(history_of(&effects, HISTORY).len(), 1);
}

#[test]
fn duplicate_id_checks_come_first() {
    let original = transfer(50, PLAIN, OTHER, 10);
    let retry = |change: fn(&mut Transfer)| with(original, change);
    let resolved = vec![
        pending(40, PLAIN, OTHER, 30, 0),
        post(50, 40, MAX),
        flagged(pending(41, PLAIN, OTHER, 0, 0), CLOSING_DEBIT),
    ];
    run_all(&[
        Case {
            name: "a retry answers exists_* before any rule after the id checks",
            setup: vec![original],
            input: vec![
                retry(|transfer| transfer.ledger = 0),
                retry(|transfer| transfer.ledger = 2),
                retry(|transfer| transfer.code = 0),
                retry(|transfer| transfer.debit_account_id = AccountId(MISSING)),
                retry(|transfer| transfer.credit_account_id = AccountId(PLAIN)),
                retry(|transfer| transfer.pending_id = TransferId(7)),
                retry(|transfer| transfer.timeout = 1),
                retry(|transfer| transfer.flags = PENDING | POST),
                retry(|transfer| transfer.amount = 0),
            ],
            expected: vec![
                TransferCode::ExistsWithDifferentLedger,
                TransferCode::ExistsWithDifferentLedger,
                TransferCode::ExistsWithDifferentCode,
                TransferCode::ExistsWithDifferentDebitAccountId,
                TransferCode::ExistsWithDifferentCreditAccountId,
                TransferCode::ExistsWithDifferentPendingId,
                TransferCode::ExistsWithDifferentTimeout,
                TransferCode::ExistsWithDifferentFlags,
                TransferCode::ExistsWithDifferentAmount,
            ],
            balances: vec![(PLAIN, [0, 10, 0, 0])],
            ..Case::default()
        },
        Case {
            name: "the id checks and the batch-level checks come before",
            setup: vec![original],
            input: vec![
                retry(|transfer| transfer.timestamp = 1),
                retry(|transfer| transfer.flags = TransferFlags(1 << 10)),
            ],
            expected: vec![
                TransferCode::TimestampMustBeZero,
                TransferCode::ReservedFlag,
            ],
            ..Case::default()
        },
        Case {
            name: "a retried post answers exists though its pending is posted and its account closed",
            setup: resolved.clone(),
            input: vec![
                post(50, 40, MAX),
                flagged(post(50, 40, MAX), VOID),
                flagged(post(50, 40, MAX), BALANCING_DEBIT),
                with(post(50, 40, MAX), |transfer| {
                    transfer.pending_id = TransferId(MAX)
                }),
                post(51, 40, MAX),
            ],
            expected: vec![
                TransferCode::Exists,
                TransferCode::ExistsWithDifferentFlags,
                TransferCode::ExistsWithDifferentFlags,
                TransferCode::ExistsWithDifferentPendingId,
                TransferCode::PendingTransferAlreadyPosted,
            ],
            balances: vec![(PLAIN, [0, 30, 0, 0])],
            ..Case::default()
        },
        Case {
            name: "a retried closing transfer answers exists though its account is closed",
            setup: resolved,
            input: vec![flagged(pending(41, PLAIN, OTHER, 0, 0), CLOSING_DEBIT)],
            expected: vec![TransferCode::Exists],
            ..Case::default()
        },
    ]);
}

#[test]
fn closing_accounts_with_zero_amount_pending_transfers() {
    let close_both = flagged(
        pending(50, PLAIN, OTHER, 0, 0),
        CLOSING_DEBIT | CLOSING_CREDIT,
    );
    let linked = |transfer: Transfer| flagged(transfer, LINKED);
    run_all(&[
        Case {
            name: "a zero-amount closing transfer closes; its void reopens",
            input: vec![
                close_both,
                transfer(101, PLAIN, SPARE, 1),
                transfer(102, SPARE, OTHER, 1),
                transfer(103, OTHER, SPARE, 0),
                void(104, 50, 0),
                transfer(105, PLAIN, SPARE, 1),
                transfer(106, SPARE, OTHER, 1),
            ],
            expected: vec![
                TransferCode::Ok,
                TransferCode::DebitAccountAlreadyClosed,
                TransferCode::CreditAccountAlreadyClosed,
                TransferCode::DebitAccountAlreadyClosed,
                TransferCode::Ok,
                TransferCode::Ok,
                TransferCode::Ok,
            ],
            balances: vec![(PLAIN, [0, 1, 0, 0]), (SPARE, [0, 1, 0, 1])],
            ..Case::default()
        },
        Case {
            name: "TigerBeetle's recipe: balance with u128::MAX, then close with zero, linked",
            setup: vec![
                transfer(40, OTHER, DEBIT_LIMITED, 20),
                transfer(41, DEBIT_LIMITED, OTHER, 10),
                transfer(42, CREDIT_LIMITED, OTHER, 30),
                transfer(43, OTHER, CREDIT_LIMITED, 5),
            ],
            input: vec![
                linked(flagged(
                    transfer(100, DEBIT_LIMITED, SPARE, MAX),
                    BALANCING_DEBIT,
                )),
                flagged(pending(101, DEBIT_LIMITED, SPARE, 0, 0), CLOSING_DEBIT),
                linked(flagged(
                    transfer(102, SPARE, CREDIT_LIMITED, MAX),
                    BALANCING_CREDIT,
                )),
                flagged(pending(103, SPARE, CREDIT_LIMITED, 0, 0), CLOSING_CREDIT),
                transfer(104, OTHER, DEBIT_LIMITED, 1),
                transfer(105, CREDIT_LIMITED, OTHER, 1),
            ],
            expected: vec![
                TransferCode::Ok,
                TransferCode::Ok,
                TransferCode::Ok,
                TransferCode::Ok,
                TransferCode::CreditAccountAlreadyClosed,
                TransferCode::DebitAccountAlreadyClosed,
            ],
            balances: vec![
                (DEBIT_LIMITED, [0, 20, 0, 20]),
                (CREDIT_LIMITED, [0, 30, 0, 30]),
                (SPARE, [0, 25, 0, 10]),
            ],
            ..Case::default()
        },
        Case {
            name: "a closing transfer that fails in its chain closes nothing",
            input: vec![
                linked(flagged(pending(100, PLAIN, OTHER, 0, 0), CLOSING_DEBIT)),
                transfer(101, PLAIN, MISSING, 1),
                transfer(102, PLAIN, OTHER, 1),
            ],
            expected: vec![
                TransferCode::LinkedEventFailed,
                TransferCode::CreditAccountNotFound,
                TransferCode::Ok,
            ],
            balances: vec![(PLAIN, [0, 1, 0, 0])],
            ..Case::default()
        },
        Case {
            name: "a closed account still lets its other pending transfers be voided, not posted",
            setup: vec![pending(40, PLAIN, OTHER, 7, 0), close_both],
            input: vec![post(100, 40, MAX), void(101, 40, 0)],
            expected: vec![TransferCode::DebitAccountAlreadyClosed, TransferCode::Ok],
            balances: vec![(PLAIN, ZERO), (OTHER, ZERO)],
            ..Case::default()
        },
    ]);
}

#[test]
fn a_zero_amount_closing_transfer_that_expires_reopens() {
    let closing = flagged(pending(50, PLAIN, OTHER, 0, 1), CLOSING_DEBIT);
    let mut engine = engine_with(&[closing]);
    let closed = |engine: &Engine| {
        let account = engine.account(AccountId(PLAIN)).unwrap();
        account.flags.contains(AccountFlags::CLOSED)
    };
    assert!(closed(&engine));
    engine.begin_block(START + 2 * SECOND);
    let effects = engine.end_block();
    assert_eq!(effects.expired, vec![TransferId(50)]);
    assert!(!closed(&engine));
    assert_eq!(
        engine.pending_status(TransferId(50)),
        Some(PendingStatus::Expired)
    );
}

// Scripts: several blocks with several batches each, then a replay of everything recorded.

enum Batch {
    Accounts(Vec<Account>, Vec<AccountCode>),
    Transfers(Vec<Transfer>, Vec<TransferCode>),
}

struct ScriptBlock {
    /// The clock the block begins at.
    at: u64,
    batches: Vec<Batch>,
}

struct Script {
    name: &'static str,
    blocks: Vec<ScriptBlock>,
    balances: Vec<(u128, [u128; 4])>,
    /// `(transfer id, timestamp)` of committed transfers.
    timestamps: Vec<(u128, u64)>,
}

/// The standard chart, created in a block at `START`.
fn chart_block() -> ScriptBlock {
    let chart = chart();
    let results = vec![AccountCode::Ok; chart.len()];
    ScriptBlock {
        at: START,
        batches: vec![Batch::Accounts(chart, results)],
    }
}

/// Runs a script, checks its results, balances and timestamps, then replays what it
/// recorded (failures included) into a fresh engine, which must reproduce it exactly.
fn run_script(script: &Script) {
    let name = script.name;
    let mut engine = Engine::new();
    let mut recorded = Vec::new();
    for (height, block) in script.blocks.iter().enumerate() {
        engine.begin_block(block.at);
        for (index, batch) in block.batches.iter().enumerate() {
            match batch {
                Batch::Accounts(input, expected) => {
                    let results = engine.create_accounts(input);
                    assert_eq!(&results, expected, "{name}: block {height} batch {index}");
                }
                Batch::Transfers(input, expected) => {
                    let results = engine.create_transfers(input);
                    assert_eq!(&results, expected, "{name}: block {height} batch {index}");
                }
            }
        }
        recorded.push(engine.end_block());
    }
    for (id, expected) in &script.balances {
        assert_eq!(balances(&engine, *id), *expected, "{name}: account {id}");
    }
    for (id, expected) in &script.timestamps {
        let stored = engine
            .transfer(TransferId(*id))
            .map(|record| record.timestamp);
        assert_eq!(stored, Some(*expected), "{name}: timestamp of {id}");
    }
    let mut replica = Engine::new();
    for (height, block) in recorded.iter().enumerate() {
        let replayed = replica.replay_block_with_failed(
            block.timestamp,
            &block.accounts,
            &block.transfers,
            &block.failed,
        );
        assert_eq!(replayed.as_ref(), Ok(block), "{name}: replay of {height}");
    }
    assert_eq!(replica.state(), engine.state(), "{name}: replayed state");
    assert_eq!(
        replica.last_transfer_timestamp(),
        engine.last_transfer_timestamp(),
        "{name}"
    );
}

fn block(at: u64, batches: Vec<Batch>) -> ScriptBlock {
    ScriptBlock { at, batches }
}

#[test]
fn transient_failures_spend_their_id() {
    let fail = TransferCode::IdAlreadyFailed;
    let transient = vec![
        transfer(100, MISSING, OTHER, 1),
        transfer(101, PLAIN, MISSING, 1),
        post(102, 77, MAX),
        transfer(103, DEBIT_LIMITED, OTHER, 1),
        transfer(104, PLAIN, CREDIT_LIMITED, 1),
        transfer(105, CLOSED, OTHER, 1),
        transfer(106, PLAIN, CLOSED, 1),
    ];
    let permanent = vec![
        transfer(110, PLAIN, PLAIN, 1),
        transfer(111, PLAIN, FOREIGN, 1),
        post(112, 50, 31),
        with(transfer(113, PLAIN, OTHER, 1), |transfer| {
            transfer.ledger = 0
        }),
        post(114, 51, MAX),
        transfer(115, PLAIN, MISSING, 1),
    ];
    let fixed = vec![
        transfer(110, PLAIN, OTHER, 1),
        transfer(111, PLAIN, OTHER, 1),
        post(112, 50, 30),
        transfer(113, PLAIN, OTHER, 1),
    ];
    run_script(&Script {
        name: "every transient code spends the id; a retry never succeeds",
        blocks: vec![
            chart_block(),
            block(
                START + SECOND,
                vec![Batch::Transfers(
                    vec![
                        pending(50, OTHER, SPARE, 30, 0),
                        pending(51, OTHER, SPARE, 1, 1),
                    ],
                    vec![TransferCode::Ok; 2],
                )],
            ),
            block(
                START + 3 * SECOND,
                vec![
                    Batch::Transfers(
                        transient.clone(),
                        vec![
                            TransferCode::DebitAccountNotFound,
                            TransferCode::CreditAccountNotFound,
                            TransferCode::PendingTransferNotFound,
                            TransferCode::ExceedsCredits,
                            TransferCode::ExceedsDebits,
                            TransferCode::DebitAccountAlreadyClosed,
                            TransferCode::CreditAccountAlreadyClosed,
                        ],
                    ),
                    Batch::Transfers(
                        permanent,
                        vec![
                            TransferCode::AccountsMustBeDifferent,
                            TransferCode::AccountsMustHaveTheSameLedger,
                            TransferCode::ExceedsPendingTransferAmount,
                            TransferCode::LedgerMustNotBeZero,
                            TransferCode::PendingTransferExpired,
                            TransferCode::CreditAccountNotFound,
                        ],
                    ),
                    // In the same block, and whatever the retry asks.
                    Batch::Transfers(
                        vec![transfer(115, PLAIN, OTHER, 1), transfer(115, 0, 0, 0)],
                        vec![fail; 2],
                    ),
                ],
            ),
            block(
                START + 4 * SECOND,
                vec![
                    // What failed is now possible: the accounts exist, credits and debits
                    // are there, the pending transfer exists.
                    Batch::Accounts(
                        vec![account(MISSING, 1, AccountFlags::empty())],
                        vec![AccountCode::Ok],
                    ),
                    Batch::Transfers(
                        vec![
                            transfer(40, OTHER, DEBIT_LIMITED, 5),
                            transfer(41, CREDIT_LIMITED, OTHER, 5),
                            pending(77, PLAIN, OTHER, 1, 0),
                        ],
                        vec![TransferCode::Ok; 3],
                    ),
                ],
            ),
            block(
                START + 5 * SECOND,
                vec![
                    Batch::Transfers(transient, vec![fail; 7]),
                    Batch::Transfers(fixed, vec![TransferCode::Ok; 4]),
                    // A failed id names no pending transfer.
                    Batch::Transfers(
                        vec![post(120, 102, MAX), void(121, 100, 0)],
                        vec![TransferCode::PendingTransferNotFound; 2],
                    ),
                ],
            ),
        ],
        balances: vec![(DEBIT_LIMITED, [0, 0, 0, 5]), (MISSING, ZERO)],
        timestamps: vec![],
    });
}

#[test]
fn a_transient_failure_outlives_its_chain() {
    let linked = |transfer: Transfer| flagged(transfer, LINKED);
    run_script(&Script {
        name: "the chain's other ids stay free, the failed one does not",
        blocks: vec![
            chart_block(),
            block(
                START + SECOND,
                vec![Batch::Transfers(
                    vec![
                        linked(transfer(100, PLAIN, OTHER, 1)),
                        linked(transfer(101, PLAIN, MISSING, 1)),
                        transfer(102, PLAIN, OTHER, 1),
                    ],
                    vec![
                        TransferCode::LinkedEventFailed,
                        TransferCode::CreditAccountNotFound,
                        TransferCode::LinkedEventFailed,
                    ],
                )],
            ),
            block(
                START + 2 * SECOND,
                vec![Batch::Transfers(
                    vec![
                        transfer(100, PLAIN, OTHER, 1),
                        transfer(101, PLAIN, OTHER, 1),
                        transfer(102, PLAIN, OTHER, 1),
                    ],
                    vec![
                        TransferCode::Ok,
                        TransferCode::IdAlreadyFailed,
                        TransferCode::Ok,
                    ],
                )],
            ),
        ],
        balances: vec![(PLAIN, [0, 2, 0, 0])],
        timestamps: vec![],
    });
}

#[test]
fn failures_are_block_effects() {
    let mut engine = engine_with(&[]);
    engine.begin_block(START + SECOND);
    engine.create_transfers(&[
        transfer(100, PLAIN, MISSING, 1),
        transfer(101, PLAIN, PLAIN, 1),
        transfer(102, DEBIT_LIMITED, OTHER, 1),
    ]);
    engine.create_transfers(&[transfer(100, PLAIN, OTHER, 1)]);
    let effects = engine.end_block();
    let failure = |id: u128, result: TransferCode| FailedTransfer {
        id: TransferId(id),
        result,
    };
    assert_eq!(
        effects.failed,
        vec![
            failure(100, TransferCode::CreditAccountNotFound),
            failure(102, TransferCode::ExceedsCredits),
        ]
    );
    assert!(effects.transfers.is_empty());
    assert_eq!(engine.transfer(TransferId(100)), None);
    // The failures are the store's word on replay: what memory can refute is refused.
    let replay = |failed: &[FailedTransfer]| {
        Engine::new()
            .replay_block_with_failed(effects.timestamp, &[], &[], failed)
            .err()
    };
    assert_eq!(replay(&effects.failed), None);
    let not_transient = [failure(7, TransferCode::AccountsMustBeDifferent)];
    assert_eq!(
        replay(&not_transient),
        Some(ReplayError::FailureRejected { index: 0 })
    );
    let twice = [effects.failed[0], effects.failed[0]];
    assert_eq!(
        replay(&twice),
        Some(ReplayError::FailureRejected { index: 1 })
    );
}

/// Imported accounts at 1000, 2000 and 3000 ns, on an empty ledger.
fn imported_chart() -> Vec<Account> {
    [(1, 1_000), (2, 2_000), (3, 3_000)]
        .into_iter()
        .map(|(id, timestamp)| Account {
            timestamp,
            ..account(id, 1, AccountFlags::IMPORTED)
        })
        .collect()
}

fn imported_account(id: u128, timestamp: u64) -> Account {
    Account {
        timestamp,
        ..account(id, 1, AccountFlags::IMPORTED)
    }
}

fn imported(transfer: Transfer, timestamp: u64) -> Transfer {
    Transfer {
        timestamp,
        ..flagged(transfer, IMPORTED)
    }
}

#[test]
fn imported_accounts() {
    let codes = |codes: &[AccountCode]| codes.to_vec();
    run_script(&Script {
        name: "imported accounts",
        blocks: vec![block(
            START,
            vec![
                Batch::Accounts(imported_chart(), vec![AccountCode::Ok; 3]),
                Batch::Accounts(
                    vec![
                        imported_account(4, 2_500),
                        imported_account(4, 3_000),
                        imported_account(4, 0),
                        imported_account(4, 1 << 63),
                        imported_account(4, START),
                        imported_account(4, u64::MAX),
                        imported_account(1, 1_000),
                        imported_account(1, 999),
                        Account {
                            flags: AccountFlags::IMPORTED | AccountFlags::HISTORY,
                            ..imported_account(2, 4_000)
                        },
                        imported_account(4, 4_000),
                    ],
                    codes(&[
                        AccountCode::ImportedEventTimestampMustNotRegress,
                        AccountCode::ImportedEventTimestampMustNotRegress,
                        AccountCode::ImportedEventTimestampOutOfRange,
                        AccountCode::ImportedEventTimestampOutOfRange,
                        AccountCode::ImportedEventTimestampMustNotAdvance,
                        AccountCode::ImportedEventTimestampOutOfRange,
                        // Exists comes after the batch-level checks, before the rest.
                        AccountCode::Exists,
                        AccountCode::Exists,
                        AccountCode::ExistsWithDifferentFlags,
                        AccountCode::Ok,
                    ]),
                ),
                Batch::Accounts(
                    vec![
                        imported_account(5, 5_000),
                        account(6, 1, AccountFlags::empty()),
                    ],
                    codes(&[AccountCode::Ok, AccountCode::ImportedEventExpected]),
                ),
                Batch::Accounts(
                    vec![
                        account(6, 1, AccountFlags::empty()),
                        imported_account(7, 6_000),
                        Account {
                            timestamp: 6_000,
                            ..account(7, 1, AccountFlags::empty())
                        },
                    ],
                    codes(&[
                        AccountCode::Ok,
                        AccountCode::ImportedEventNotExpected,
                        AccountCode::TimestampMustBeZero,
                    ]),
                ),
                // Account 6 took the clock: nothing can be imported before the next block.
                Batch::Accounts(
                    vec![imported_account(7, START - 1)],
                    codes(&[AccountCode::ImportedEventTimestampMustNotRegress]),
                ),
            ],
        )],
        balances: vec![],
        timestamps: vec![],
    });
}

#[test]
fn imported_transfers() {
    let move_1_2 = |id: u128| transfer(id, 1, 2, 5);
    let next = START + SECOND;
    run_script(&Script {
        name: "imported transfers",
        blocks: vec![
            block(
                START,
                vec![
                    Batch::Accounts(imported_chart(), vec![AccountCode::Ok; 3]),
                    Batch::Transfers(
                        vec![
                            imported(move_1_2(10), 1_500),
                            imported(transfer(11, 2, 1, 5), 1_500),
                            imported(move_1_2(12), 2_000),
                            imported(move_1_2(13), 3_500),
                            imported(move_1_2(14), 3_200),
                            imported(move_1_2(15), 3_500),
                            imported(move_1_2(13), 3_500),
                            imported(move_1_2(13), 3_550),
                            imported(pending(16, 1, 3, 5, 1), 3_600),
                            imported(pending(17, 1, 3, 5, 0), 3_700),
                            imported(post(18, 17, 2), 3_800),
                            imported(transfer(19, 1, 9, 5), 3_900),
                            imported(move_1_2(20), 0),
                            imported(move_1_2(21), START),
                        ],
                        vec![
                            TransferCode::ImportedEventTimestampMustPostdateCreditAccount,
                            TransferCode::ImportedEventTimestampMustPostdateDebitAccount,
                            // 2000 is account 2's.
                            TransferCode::ImportedEventTimestampMustNotRegress,
                            TransferCode::Ok,
                            TransferCode::ImportedEventTimestampMustNotRegress,
                            TransferCode::ImportedEventTimestampMustNotRegress,
                            // A retry is compared without its timestamp.
                            TransferCode::Exists,
                            TransferCode::Exists,
                            TransferCode::ImportedEventTimeoutMustBeZero,
                            TransferCode::Ok,
                            TransferCode::Ok,
                            TransferCode::CreditAccountNotFound,
                            TransferCode::ImportedEventTimestampOutOfRange,
                            TransferCode::ImportedEventTimestampMustNotAdvance,
                        ],
                    ),
                    Batch::Transfers(
                        vec![move_1_2(13), move_1_2(22)],
                        vec![TransferCode::ExistsWithDifferentFlags, TransferCode::Ok],
                    ),
                    // 22 took the clock: no transfer can be imported before the next block.
                    Batch::Transfers(
                        vec![imported(move_1_2(23), START - 1)],
                        vec![TransferCode::ImportedEventTimestampMustNotRegress],
                    ),
                ],
            ),
            block(
                next,
                vec![
                    Batch::Transfers(
                        vec![imported(move_1_2(26), START + 10), move_1_2(27)],
                        vec![TransferCode::Ok, TransferCode::ImportedEventExpected],
                    ),
                    Batch::Transfers(
                        vec![move_1_2(27), imported(move_1_2(28), START + 20)],
                        vec![TransferCode::Ok, TransferCode::ImportedEventNotExpected],
                    ),
                    Batch::Transfers(
                        vec![imported(transfer(19, 1, 2, 5), START + 30)],
                        vec![TransferCode::IdAlreadyFailed],
                    ),
                ],
            ),
        ],
        // 13, 22, 26, 27 move 5 each; 18 posts 2 of 17's 5 to account 3.
        balances: vec![(1, [0, 22, 0, 0]), (2, [0, 0, 0, 20]), (3, [0, 0, 0, 2])],
        timestamps: vec![
            (13, 3_500),
            (17, 3_700),
            (18, 3_800),
            (22, START),
            (26, START + 10),
            (27, next),
        ],
    });
}

#[test]
fn imported_events_replay_in_commit_order() {
    let linked = |transfer: Transfer| flagged(transfer, LINKED);
    let codes = |count: usize| vec![TransferCode::Ok; count];
    run_script(&Script {
        name: "an account between a chain's timestamps, imports after the clock's accounts",
        blocks: vec![
            block(
                START,
                vec![
                    Batch::Accounts(
                        vec![imported_account(1, 10), imported_account(2, 20)],
                        vec![AccountCode::Ok; 2],
                    ),
                    Batch::Accounts(vec![imported_account(3, 50)], vec![AccountCode::Ok]),
                    // A chain dated around account 3, which its second transfer names.
                    Batch::Transfers(
                        vec![
                            linked(imported(transfer(20, 1, 2, 1), 40)),
                            imported(transfer(21, 2, 3, 1), 60),
                        ],
                        codes(2),
                    ),
                    Batch::Accounts(
                        vec![account(4, 1, AccountFlags::empty())],
                        vec![AccountCode::Ok],
                    ),
                    // Committed after account 4, dated before it.
                    Batch::Transfers(vec![imported(transfer(22, 1, 2, 1), 70)], codes(1)),
                    Batch::Transfers(vec![transfer(23, 4, 1, 1)], codes(1)),
                ],
            ),
            block(
                START + SECOND,
                vec![
                    Batch::Accounts(
                        vec![imported_account(5, START + 100)],
                        vec![AccountCode::Ok],
                    ),
                    Batch::Transfers(
                        vec![
                            linked(imported(transfer(24, 1, 2, 1), START + 90)),
                            imported(transfer(25, 5, 1, 1), START + 110),
                        ],
                        codes(2),
                    ),
                    Batch::Transfers(vec![transfer(26, 5, 4, 1)], codes(1)),
                ],
            ),
        ],
        balances: vec![(1, [0, 3, 0, 2]), (5, [0, 2, 0, 0])],
        timestamps: vec![(22, 70), (23, START + 1), (24, START + 90)],
    });
}
