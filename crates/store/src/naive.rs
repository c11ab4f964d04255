//! The baseline: how a typical team writes a ledger on PostgreSQL, for
//! `mileverse bench ledger --backend postgres-naive`.
//!
//! One SQL transaction per transfer, over one connection, with prepared statements:
//!
//! 1. `SELECT ... FROM naive_accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE` locks both
//!    accounts, always in id order (so concurrent clients cannot deadlock);
//! 2. `INSERT INTO naive_transfers ... ON CONFLICT (id) DO NOTHING`; no row inserted means the
//!    id was used already (`exists`);
//! 3. the limits are checked in the application (`debits_must_not_exceed_credits`,
//!    `credits_must_not_exceed_debits`, overflow, closed accounts, ledgers);
//! 4. two `UPDATE`s add the amount to the debit and the credit account;
//! 5. `COMMIT` (durable: the server's `synchronous_commit`).
//!
//! A failed check rolls the transaction back. Balances are `bigint` (amounts above `i64::MAX`
//! overflow), ids 16-byte big-endian `bytea`. No foreign keys and no secondary indexes (the
//! explicit lookup in step 1 already proves both accounts exist, and the engine's own store
//! has no per-account index either). Supported: plain transfers and `pending` ones (which
//! move the `*_pending` balances); posting/voiding, balancing and closing flags are not part of
//! the baseline and are refused with `reserved_flag`; `linked` is ignored (each transfer is
//! its own transaction).

use std::io;

use ledger::types::{Account, AccountFlags, CreateTransferResult, Transfer, TransferFlags};
use postgres::{Client, Statement};

use crate::StoreError;

/// A ledger in two plain tables, one SQL transaction per transfer (the baseline).
pub struct NaivePostgresLedger {
    client: Client,
    lock_accounts: Statement,
    insert_transfer: Statement,
    update_debit: Statement,
    update_credit: Statement,
}

fn invalid(msg: String) -> StoreError {
    StoreError::Io(io::Error::new(io::ErrorKind::InvalidInput, msg))
}

fn to_i64(v: u128, what: &str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| invalid(format!("{what} {v} does not fit the baseline's bigint")))
}

/// One locked account row.
struct Locked {
    id: [u8; 16],
    ledger: i64,
    flags: AccountFlags,
    debits_pending: i64,
    debits_posted: i64,
    credits_pending: i64,
    credits_posted: i64,
}

/// Connects to `url` with its `search_path` set to `schema` (created if missing), so that each
/// benchmark run has tables of its own.
pub fn connect_in_schema(
    url: &str,
    schema: &str,
    tls: &crate::postgres::PostgresTls,
) -> Result<Client, StoreError> {
    let mut client = Client::connect(url, tls.clone())?;
    let quoted = format!("\"{}\"", schema.replace('"', "\"\""));
    client.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {quoted}; SET search_path TO {quoted}"
    ))?;
    Ok(client)
}

impl NaivePostgresLedger {
    /// (Re)creates `naive_accounts` and `naive_transfers` in the client's `search_path` and
    /// loads `accounts` (with their balances, which must fit a `bigint`).
    pub fn setup(client: &mut Client, accounts: &[Account]) -> Result<(), StoreError> {
        client.batch_execute(
            "DROP TABLE IF EXISTS naive_transfers;
             DROP TABLE IF EXISTS naive_accounts;
             CREATE TABLE naive_accounts (
                 id bytea PRIMARY KEY,
                 ledger bigint NOT NULL,
                 code integer NOT NULL,
                 flags integer NOT NULL,
                 user_data_128 bytea NOT NULL,
                 user_data_64 bigint NOT NULL,
                 user_data_32 bigint NOT NULL,
                 debits_pending bigint NOT NULL DEFAULT 0,
                 debits_posted bigint NOT NULL DEFAULT 0,
                 credits_pending bigint NOT NULL DEFAULT 0,
                 credits_posted bigint NOT NULL DEFAULT 0,
                 created_at timestamptz NOT NULL DEFAULT now()
             );
             CREATE TABLE naive_transfers (
                 id bytea PRIMARY KEY,
                 debit_account_id bytea NOT NULL,
                 credit_account_id bytea NOT NULL,
                 amount bigint NOT NULL,
                 pending_id bytea NOT NULL,
                 user_data_128 bytea NOT NULL,
                 user_data_64 bigint NOT NULL,
                 user_data_32 bigint NOT NULL,
                 timeout bigint NOT NULL,
                 ledger bigint NOT NULL,
                 code integer NOT NULL,
                 flags integer NOT NULL,
                 created_at timestamptz NOT NULL DEFAULT now()
             );",
        )?;
        let insert = client.prepare(
            "INSERT INTO naive_accounts (id, ledger, code, flags, user_data_128, user_data_64, user_data_32,
                debits_pending, debits_posted, credits_pending, credits_posted)
             SELECT * FROM unnest($1::bytea[], $2::int8[], $3::int4[], $4::int4[], $5::bytea[], $6::int8[],
                $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::int8[])",
        )?;
        let mut tx = client.transaction()?;
        for chunk in accounts.chunks(50_000) {
            let ids: Vec<[u8; 16]> = chunk.iter().map(|a| a.id.0.to_be_bytes()).collect();
            let uds: Vec<[u8; 16]> = chunk
                .iter()
                .map(|a| a.user_data_128.to_be_bytes())
                .collect();
            let ids: Vec<&[u8]> = ids.iter().map(|b| &b[..]).collect();
            let uds: Vec<&[u8]> = uds.iter().map(|b| &b[..]).collect();
            let ledger: Vec<i64> = chunk.iter().map(|a| i64::from(a.ledger)).collect();
            let code: Vec<i32> = chunk.iter().map(|a| i32::from(a.code)).collect();
            let flags: Vec<i32> = chunk.iter().map(|a| i32::from(a.flags.bits())).collect();
            let ud64: Vec<i64> = chunk.iter().map(|a| a.user_data_64 as i64).collect();
            let ud32: Vec<i64> = chunk.iter().map(|a| i64::from(a.user_data_32)).collect();
            let mut bal: [Vec<i64>; 4] = Default::default();
            for a in chunk {
                bal[0].push(to_i64(a.debits_pending, "debits_pending")?);
                bal[1].push(to_i64(a.debits_posted, "debits_posted")?);
                bal[2].push(to_i64(a.credits_pending, "credits_pending")?);
                bal[3].push(to_i64(a.credits_posted, "credits_posted")?);
            }
            tx.execute(
                &insert,
                &[
                    &ids, &ledger, &code, &flags, &uds, &ud64, &ud32, &bal[0], &bal[1], &bal[2],
                    &bal[3],
                ],
            )?;
        }
        tx.commit()?;
        client.batch_execute("ANALYZE naive_accounts")?;
        Ok(())
    }

    /// Prepares the statements on `client`, whose `search_path` must see the tables made by
    /// [`setup`](Self::setup).
    pub fn new(mut client: Client) -> Result<NaivePostgresLedger, StoreError> {
        let lock_accounts = client.prepare(
            "SELECT id, ledger, flags, debits_pending, debits_posted, credits_pending, credits_posted
             FROM naive_accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        )?;
        let insert_transfer = client.prepare(
            "INSERT INTO naive_transfers (id, debit_account_id, credit_account_id, amount, pending_id,
                user_data_128, user_data_64, user_data_32, timeout, ledger, code, flags)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (id) DO NOTHING",
        )?;
        let update_debit = client.prepare(
            "UPDATE naive_accounts SET debits_pending = debits_pending + $2, debits_posted = debits_posted + $3
             WHERE id = $1",
        )?;
        let update_credit = client.prepare(
            "UPDATE naive_accounts SET credits_pending = credits_pending + $2, credits_posted = credits_posted + $3
             WHERE id = $1",
        )?;
        Ok(NaivePostgresLedger {
            client,
            lock_accounts,
            insert_transfer,
            update_debit,
            update_credit,
        })
    }

    /// The connection.
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// Gives the connection back.
    pub fn into_client(self) -> Client {
        self.client
    }

    /// Executes one transfer in its own SQL transaction.
    pub fn transfer(&mut self, t: &Transfer) -> Result<CreateTransferResult, StoreError> {
        use CreateTransferResult as R;
        let supported = TransferFlags::LINKED.union(TransferFlags::PENDING);
        if t.flags.bits() & !supported.bits() != 0 {
            return Ok(R::ReservedFlag);
        }
        if t.id.0 == 0 {
            return Ok(R::IdMustNotBeZero);
        }
        if t.id.0 == u128::MAX {
            return Ok(R::IdMustNotBeIntMax);
        }
        if t.debit_account_id == t.credit_account_id {
            return Ok(R::AccountsMustBeDifferent);
        }
        let pending = t.flags.contains(TransferFlags::PENDING);
        let debit_id = t.debit_account_id.0.to_be_bytes();
        let credit_id = t.credit_account_id.0.to_be_bytes();

        let mut tx = self.client.transaction()?;
        let ids: Vec<&[u8]> = vec![&debit_id, &credit_id];
        let rows = tx.query(&self.lock_accounts, &[&ids])?;
        let mut debit = None;
        let mut credit = None;
        for row in &rows {
            let id: &[u8] = row.get(0);
            let locked = Locked {
                id: id.try_into().unwrap_or_default(),
                ledger: row.get(1),
                flags: AccountFlags(row.get::<_, i32>(2) as u16),
                debits_pending: row.get(3),
                debits_posted: row.get(4),
                credits_pending: row.get(5),
                credits_posted: row.get(6),
            };
            if locked.id == debit_id {
                debit = Some(locked);
            } else if locked.id == credit_id {
                credit = Some(locked);
            }
        }
        // Returning drops `tx`, which rolls back.
        let Some(debit) = debit else {
            return Ok(R::DebitAccountNotFound);
        };
        let Some(credit) = credit else {
            return Ok(R::CreditAccountNotFound);
        };
        if debit.ledger != credit.ledger {
            return Ok(R::AccountsMustHaveTheSameLedger);
        }
        if i64::from(t.ledger) != debit.ledger {
            return Ok(R::TransferMustHaveTheSameLedgerAsAccounts);
        }

        let Ok(amount) = i64::try_from(t.amount) else {
            return Ok(if pending {
                R::OverflowsDebitsPending
            } else {
                R::OverflowsDebitsPosted
            });
        };
        let inserted = tx.execute(
            &self.insert_transfer,
            &[
                &&t.id.0.to_be_bytes()[..],
                &&debit_id[..],
                &&credit_id[..],
                &amount,
                &&t.pending_id.0.to_be_bytes()[..],
                &&t.user_data_128.to_be_bytes()[..],
                &(t.user_data_64 as i64),
                &i64::from(t.user_data_32),
                &i64::from(t.timeout),
                &i64::from(t.ledger),
                &i32::from(t.code),
                &i32::from(t.flags.bits()),
            ],
        )?;
        if inserted == 0 {
            return Ok(R::Exists);
        }

        let (debit_pending, debit_posted, credit_pending, credit_posted) = if pending {
            (
                debit.debits_pending.checked_add(amount),
                Some(debit.debits_posted),
                credit.credits_pending.checked_add(amount),
                Some(credit.credits_posted),
            )
        } else {
            (
                Some(debit.debits_pending),
                debit.debits_posted.checked_add(amount),
                Some(credit.credits_pending),
                credit.credits_posted.checked_add(amount),
            )
        };
        let Some(debit_pending) = debit_pending else {
            return Ok(R::OverflowsDebitsPending);
        };
        let Some(credit_pending) = credit_pending else {
            return Ok(R::OverflowsCreditsPending);
        };
        let Some(debit_posted) = debit_posted else {
            return Ok(R::OverflowsDebitsPosted);
        };
        let Some(credit_posted) = credit_posted else {
            return Ok(R::OverflowsCreditsPosted);
        };
        let Some(debits) = debit_pending.checked_add(debit_posted) else {
            return Ok(R::OverflowsDebits);
        };
        let Some(credits) = credit_pending.checked_add(credit_posted) else {
            return Ok(R::OverflowsCredits);
        };
        if debit
            .flags
            .contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
            && debits > debit.credits_posted
        {
            return Ok(R::ExceedsCredits);
        }
        if credit
            .flags
            .contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
            && credits > credit.debits_posted
        {
            return Ok(R::ExceedsDebits);
        }
        if debit.flags.contains(AccountFlags::CLOSED) {
            return Ok(R::DebitAccountAlreadyClosed);
        }
        if credit.flags.contains(AccountFlags::CLOSED) {
            return Ok(R::CreditAccountAlreadyClosed);
        }

        let (pending_amount, posted_amount) = if pending {
            (amount, 0i64)
        } else {
            (0i64, amount)
        };
        tx.execute(
            &self.update_debit,
            &[&&debit_id[..], &pending_amount, &posted_amount],
        )?;
        tx.execute(
            &self.update_credit,
            &[&&credit_id[..], &pending_amount, &posted_amount],
        )?;
        tx.commit()?;
        Ok(R::Ok)
    }
}
