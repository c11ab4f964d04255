//! Reads of the payments tables across merchants: what a member paid since a time (the
//! daily limit), and every approved payment page by page (the payments report).

use super::{AuthorizationRow, AuthorizationStatus, COLUMNS, PAYMENTS_PAGE_MAX, id_bytes};
use super::{int_saturating, memory_rows, postgres, sqlite, uint};
use crate::StoreError;
use crate::tables::TableRead;

/// What counts against a member's limit, per row: the open amount of a pending one, the
/// approved amount of a hold, the captured amount of a sale; a voucher counts nothing (it
/// was paid for when bought).
const COUNTED: &str = "CASE status WHEN 'pending' THEN amount
    WHEN 'authorized' THEN approved_amount WHEN 'captured' THEN captured_amount ELSE 0 END";

/// The counted amount of one row (as [`COUNTED`] computes it in SQL).
pub fn counted(row: &AuthorizationRow) -> u64 {
    let amounts = [row.amount, row.approved_amount, row.captured_amount];
    counted_of(row.status, row.voucher_id.is_some(), amounts)
}

/// The counted amount of an authorization in `status` with `[amount, approved, captured]`
/// (what [`counted`] and the payments context's records count).
pub fn counted_of(status: AuthorizationStatus, voucher: bool, amounts: [u64; 3]) -> u64 {
    let [amount, approved, captured] = amounts;
    if voucher {
        return 0;
    }
    match status {
        AuthorizationStatus::Pending => amount,
        AuthorizationStatus::Authorized => approved,
        AuthorizationStatus::Captured => captured,
        AuthorizationStatus::Declined | AuthorizationStatus::Voided => 0,
    }
}

/// What `member_id` paid in authorizations created at `from_s` or later (see [`counted`]),
/// through the `authorizations_by_member` index.
pub fn member_paid_since(
    read: &mut TableRead<'_>,
    member_id: u128,
    from_s: u64,
) -> Result<u64, StoreError> {
    let where_ = "member_id = {M} AND created_at_s >= {F} AND voucher_id IS NULL";
    match read {
        TableRead::Sqlite(conn) => {
            let sql =
                format!("SELECT COALESCE(SUM({COUNTED}), 0) FROM authorizations WHERE {where_}")
                    .replace("{M}", "?1")
                    .replace("{F}", "?2");
            let sum: i64 = conn.prepare_cached(&sql)?.query_row(
                rusqlite::params![id_bytes(member_id), int_saturating(from_s)],
                |row| row.get(0),
            )?;
            uint(sum)
        }
        TableRead::Postgres(client) => {
            let sql = format!(
                "SELECT COALESCE(SUM({COUNTED}), 0)::bigint FROM authorizations WHERE {where_}"
            )
            .replace("{M}", "$1")
            .replace("{F}", "$2");
            let member = id_bytes(member_id);
            let row = client.query_one(&sql, &[&member.as_slice(), &int_saturating(from_s)])?;
            uint(row.get(0))
        }
        TableRead::Memory(tables) => Ok(memory_rows(tables)
            .filter(|row| row.member_id == member_id && row.created_at_s >= from_s)
            .map(counted)
            .sum()),
    }
}

/// One page of every merchant's approved authorizations (held, captured or voided), oldest
/// first, after the keyset cursor `(created_at_s, id)`; at most [`PAYMENTS_PAGE_MAX`] rows.
pub fn approved_page(
    read: &mut TableRead<'_>,
    after: Option<(u64, u128)>,
    limit: usize,
) -> Result<Vec<AuthorizationRow>, StoreError> {
    let limit = limit.clamp(1, PAYMENTS_PAGE_MAX);
    let (after_s, after_id) = after.map_or((0, Vec::new()), |(s, id)| (s, id_bytes(id).to_vec()));
    let sql = format!(
        "SELECT {COLUMNS} FROM authorizations
         WHERE (created_at_s, id) > ({{S}}, {{I}})
           AND status IN ('authorized', 'captured', 'voided')
         ORDER BY created_at_s, id LIMIT {{L}}"
    );
    match read {
        TableRead::Sqlite(conn) => {
            let sql = sql
                .replace("{S}", "?1")
                .replace("{I}", "?2")
                .replace("{L}", "?3");
            let mut st = conn.prepare_cached(&sql)?;
            let params = rusqlite::params![int_saturating(after_s), after_id, limit as i64];
            let mut rows = st.query(params)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(sqlite::from_row(row)?);
            }
            Ok(out)
        }
        TableRead::Postgres(client) => {
            let sql = sql
                .replace("{S}", "$1")
                .replace("{I}", "$2")
                .replace("{L}", "$3");
            let rows = client.query(
                &sql,
                &[
                    &int_saturating(after_s),
                    &after_id.as_slice(),
                    &(limit as i64),
                ],
            )?;
            rows.iter().map(postgres::from_row).collect()
        }
        TableRead::Memory(tables) => {
            let mut page: Vec<AuthorizationRow> = memory_rows(tables)
                .filter(|row| {
                    matches!(
                        row.status,
                        AuthorizationStatus::Authorized
                            | AuthorizationStatus::Captured
                            | AuthorizationStatus::Voided
                    )
                })
                .filter(|row| after.is_none_or(|after| (row.created_at_s, row.id) > after))
                .cloned()
                .collect();
            page.sort_unstable_by_key(|row| (row.created_at_s, row.id));
            page.truncate(limit);
            Ok(page)
        }
    }
}

/// The authorization a cancel of the merchant's under the till's `key` belongs to, through
/// the `authorization_cancels_by_key` index.
pub fn cancel_by_key(
    read: &mut TableRead<'_>,
    merchant_id: u128,
    key: &str,
) -> Result<Option<u128>, StoreError> {
    let sql = "SELECT c.authorization_id FROM authorization_cancels c
        JOIN authorizations a ON a.id = c.authorization_id
        WHERE c.key = {K} AND a.merchant_id = {M} LIMIT 1";
    let merchant = id_bytes(merchant_id);
    let found: Option<Vec<u8>> = match read {
        TableRead::Sqlite(conn) => {
            let sql = sql.replace("{K}", "?1").replace("{M}", "?2");
            let mut st = conn.prepare_cached(&sql)?;
            let mut rows = st.query(rusqlite::params![key, merchant])?;
            match rows.next()? {
                Some(row) => Some(row.get(0)?),
                None => None,
            }
        }
        TableRead::Postgres(client) => {
            let sql = sql.replace("{K}", "$1").replace("{M}", "$2");
            let row = client.query_opt(&sql, &[&key, &merchant.as_slice()])?;
            row.map(|row| row.get(0))
        }
        TableRead::Memory(tables) => {
            let merchants: std::collections::HashMap<u128, u128> = memory_rows(tables)
                .map(|row| (row.id, row.merchant_id))
                .collect();
            let found = tables
                .rows::<super::CancelRow>(super::CANCELS)
                .map(|(_, row)| row)
                .find(|c| c.key == key && merchants.get(&c.authorization_id) == Some(&merchant_id));
            return Ok(found.map(|c| c.authorization_id));
        }
    };
    found.as_deref().map(super::id_from).transpose()
}
