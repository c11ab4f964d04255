//! Expiry of `Idempotency-Key`s (platform::idempotency): a key is kept on its request's
//! row (exchanges, vouchers, conversions, P2P transfers, escrow offers, tips), where a unique index makes it name one request
//! per member. Once a key is older than its time to live, [`ExpireKeys`] clears it from
//! the row, so the index holds only a day of keys and the key may name a new request. The
//! row and its transfers stay.

use crate::StoreError;
use crate::tables::sql::{self, Value};
use crate::tables::{Row, TableTx};

/// Most keys cleared per table in one sweep; a later sweep takes the rest.
pub const EXPIRE_BATCH_MAX: usize = 4096;

/// The tables that keep keys, with the column that dates their requests.
const KEYED_TABLES: [(&str, &str); 6] = [
    ("exchanges", "created_at_s"),
    ("vouchers", "purchased_at_s"),
    ("conversions", "created_at_s"),
    ("p2p_transfers", "created_at_s"),
    ("escrow_trades", "created_at_s"),
    ("creator_tips", "created_at_s"),
];

/// Clears at most [`EXPIRE_BATCH_MAX`] keys per table of requests made before `before_s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpireKeys {
    pub before_s: u64,
}

impl Row for ExpireKeys {
    fn write(&self, tx: &mut TableTx<'_, '_>) -> Result<(), StoreError> {
        let limit = Value::Int(i64::try_from(EXPIRE_BATCH_MAX).expect("the batch fits"));
        for (table, dated) in KEYED_TABLES {
            // Only rows with a key are looked at: the partial unique index holds them all.
            let statement = format!(
                "UPDATE {table} SET idempotency_key = NULL WHERE id IN (SELECT id FROM {table}
                    WHERE idempotency_key IS NOT NULL AND {dated} < ?1 LIMIT ?2)"
            );
            sql::execute(
                tx,
                &statement,
                &[Value::uint(self.before_s)?, limit.clone()],
            )?;
        }
        Ok(())
    }
}
