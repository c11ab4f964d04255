//! One SQL text for both SQL backends, for the domain tables written after the payments
//! context: a statement is written once, with `?1`, `?2`, ... placeholders (SQLite's; turned
//! into PostgreSQL's `$1` here), and its parameters and results are [`Value`]s.
//!
//! Why not a query builder or an ORM: the statements are few and plain (point lookups,
//! keyset pages, upserts), both backends speak the same SQL for them, and a reader of a
//! table module sees the exact SQL it runs. What differs is kept here: placeholders, how
//! integers and NULLs are typed on PostgreSQL's wire, and the memory backend, which keeps
//! these tables in an in-memory SQLite database so that every query has one meaning.
//!
//! Types: ids and hashes are BLOB/`bytea`, integers INTEGER/`bigint` (flags 0/1 too, so no
//! boolean differs between the backends), text TEXT/`text`. Sums are `CAST(... AS BIGINT)`
//! (PostgreSQL's `sum(bigint)` is `numeric`).

use std::borrow::Cow;

use crate::StoreError;
use crate::tables::{TableRead, TableTx};

/// A parameter or a result column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    pub fn id(id: u128) -> Value {
        Value::Blob(id.to_be_bytes().to_vec())
    }

    /// A u64 in a signed 64-bit column: amounts and times stay below 2^63.
    pub fn uint(value: u64) -> Result<Value, StoreError> {
        i64::try_from(value)
            .map(Value::Int)
            .map_err(|_| corrupt("a value above 2^63"))
    }

    /// A time or amount used as a query's bound: beyond 2^63 - 1 means "no bound" (no
    /// stored value is above it), so it saturates instead of failing.
    pub fn bound(value: u64) -> Value {
        Value::Int(i64::try_from(value).unwrap_or(i64::MAX))
    }

    pub fn flag(value: bool) -> Value {
        Value::Int(i64::from(value))
    }

    pub fn text(value: &str) -> Value {
        Value::Text(value.to_string())
    }

    pub fn bytes(value: &[u8]) -> Value {
        Value::Blob(value.to_vec())
    }

    pub fn opt_text(value: Option<&str>) -> Value {
        value.map_or(Value::Null, Value::text)
    }

    pub fn opt_uint(value: Option<u64>) -> Result<Value, StoreError> {
        value.map_or(Ok(Value::Null), Value::uint)
    }

    pub fn opt_id(value: Option<u128>) -> Value {
        value.map_or(Value::Null, Value::id)
    }

    pub fn opt_bytes(value: Option<&[u8]>) -> Value {
        value.map_or(Value::Null, Value::bytes)
    }
}

/// The columns of one result row, read in order.
pub struct Columns(std::vec::IntoIter<Value>);

impl Columns {
    fn next(&mut self) -> Result<Value, StoreError> {
        self.0
            .next()
            .ok_or_else(|| corrupt("a row has fewer columns"))
    }

    pub fn id(&mut self) -> Result<u128, StoreError> {
        let bytes: [u8; 16] = self
            .bytes()?
            .try_into()
            .map_err(|_| corrupt("an id is not 16 bytes"))?;
        Ok(u128::from_be_bytes(bytes))
    }

    pub fn hash(&mut self) -> Result<[u8; 32], StoreError> {
        self.bytes()?
            .try_into()
            .map_err(|_| corrupt("a hash is not 32 bytes"))
    }

    pub fn bytes(&mut self) -> Result<Vec<u8>, StoreError> {
        match self.next()? {
            Value::Blob(bytes) => Ok(bytes),
            other => Err(corrupt(&format!("expected bytes, found {other:?}"))),
        }
    }

    pub fn text(&mut self) -> Result<String, StoreError> {
        match self.next()? {
            Value::Text(text) => Ok(text),
            other => Err(corrupt(&format!("expected text, found {other:?}"))),
        }
    }

    pub fn int(&mut self) -> Result<i64, StoreError> {
        match self.next()? {
            Value::Int(value) => Ok(value),
            other => Err(corrupt(&format!("expected an integer, found {other:?}"))),
        }
    }

    pub fn uint(&mut self) -> Result<u64, StoreError> {
        u64::try_from(self.int()?).map_err(|_| corrupt("a negative amount or time"))
    }

    pub fn u32(&mut self) -> Result<u32, StoreError> {
        u32::try_from(self.int()?).map_err(|_| corrupt("a count out of range"))
    }

    pub fn flag(&mut self) -> Result<bool, StoreError> {
        match self.int()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(corrupt("a flag other than 0 or 1")),
        }
    }

    pub fn opt_text(&mut self) -> Result<Option<String>, StoreError> {
        match self.next()? {
            Value::Null => Ok(None),
            Value::Text(text) => Ok(Some(text)),
            other => Err(corrupt(&format!("expected text, found {other:?}"))),
        }
    }

    pub fn opt_uint(&mut self) -> Result<Option<u64>, StoreError> {
        match self.next()? {
            Value::Null => Ok(None),
            Value::Int(value) => u64::try_from(value)
                .map(Some)
                .map_err(|_| corrupt("a negative amount or time")),
            other => Err(corrupt(&format!("expected an integer, found {other:?}"))),
        }
    }

    pub fn opt_id(&mut self) -> Result<Option<u128>, StoreError> {
        match self.next()? {
            Value::Null => Ok(None),
            Value::Blob(bytes) => {
                let bytes: [u8; 16] = bytes
                    .try_into()
                    .map_err(|_| corrupt("an id is not 16 bytes"))?;
                Ok(Some(u128::from_be_bytes(bytes)))
            }
            other => Err(corrupt(&format!("expected bytes, found {other:?}"))),
        }
    }

    pub fn opt_bytes(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        match self.next()? {
            Value::Null => Ok(None),
            Value::Blob(bytes) => Ok(Some(bytes)),
            other => Err(corrupt(&format!("expected bytes, found {other:?}"))),
        }
    }
}

/// A page's `LIMIT`: `limit`, at most `max` (each table's named page maximum).
pub fn limit(limit: usize, max: usize) -> Value {
    Value::Int(i64::try_from(limit.min(max)).expect("a page maximum fits a bigint"))
}

/// An id cursor for rows strictly after it; `None` is below every id (an empty blob sorts
/// before every 16-byte id on both backends).
pub fn after_id(after: Option<u128>) -> Value {
    after.map_or(Value::Blob(Vec::new()), Value::id)
}

/// An id cursor for rows strictly before it; `None` is above every id (17 bytes of 0xFF
/// sort after every 16-byte id).
pub fn before_id(before: Option<u128>) -> Value {
    before.map_or(Value::Blob(vec![0xFF; 17]), Value::id)
}

pub(crate) fn corrupt(reason: &str) -> StoreError {
    StoreError::Corrupt {
        height: 0,
        reason: format!("domain table: {reason}"),
    }
}

/// Runs a statement in the append's transaction; answers the rows it changed.
pub fn execute(tx: &mut TableTx<'_, '_>, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
    match tx {
        TableTx::Sqlite(conn) => sqlite_execute(conn, sql, params),
        TableTx::Postgres(tx) => postgres_execute(&mut **tx, sql, params),
        TableTx::Memory(writes) => sqlite_execute(writes.tables().sql(), sql, params),
    }
}

/// Runs a query; answers its rows.
pub fn query(
    read: &mut TableRead<'_>,
    sql: &str,
    params: &[Value],
) -> Result<Vec<Columns>, StoreError> {
    match read {
        TableRead::Sqlite(conn) => sqlite_query(conn, sql, params),
        TableRead::Postgres(client) => postgres_query(&mut **client, sql, params),
        TableRead::Memory(tables) => sqlite_query(tables.sql(), sql, params),
    }
}

/// At most one row.
pub fn query_one(
    read: &mut TableRead<'_>,
    sql: &str,
    params: &[Value],
) -> Result<Option<Columns>, StoreError> {
    Ok(query(read, sql, params)?.into_iter().next())
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(value) => ValueRef::Integer(*value),
            Value::Text(text) => ValueRef::Text(text.as_bytes()),
            Value::Blob(bytes) => ValueRef::Blob(bytes),
        }))
    }
}

fn sqlite_execute(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Value],
) -> Result<u64, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    let changed = statement.execute(rusqlite::params_from_iter(params))?;
    Ok(u64::try_from(changed).unwrap_or(u64::MAX))
}

fn sqlite_query(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Value],
) -> Result<Vec<Columns>, StoreError> {
    use rusqlite::types::ValueRef;
    let mut statement = conn.prepare_cached(sql)?;
    let width = statement.column_count();
    let mut rows = statement.query(rusqlite::params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(width);
        for index in 0..width {
            values.push(match row.get_ref(index)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(value) => Value::Int(value),
                ValueRef::Text(text) => Value::Text(
                    std::str::from_utf8(text)
                        .map_err(|_| corrupt("text is not UTF-8"))?
                        .to_string(),
                ),
                ValueRef::Blob(bytes) => Value::Blob(bytes.to_vec()),
                ValueRef::Real(_) => return Err(corrupt("a real number")),
            });
        }
        out.push(Columns(values.into_iter()));
    }
    Ok(out)
}

/// SQLite's `?N` placeholders as PostgreSQL's `$N` (no statement here has a `?` in a
/// literal).
fn postgres_sql(sql: &str) -> Cow<'_, str> {
    if sql.contains('?') {
        Cow::Owned(sql.replace('?', "$"))
    } else {
        Cow::Borrowed(sql)
    }
}

fn postgres_params(params: &[Value]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    params
        .iter()
        .map(|value| value as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

fn postgres_execute(
    client: &mut impl postgres::GenericClient,
    sql: &str,
    params: &[Value],
) -> Result<u64, StoreError> {
    let statement = client.prepare(&postgres_sql(sql))?;
    Ok(client.execute(&statement, &postgres_params(params))?)
}

fn postgres_query(
    client: &mut impl postgres::GenericClient,
    sql: &str,
    params: &[Value],
) -> Result<Vec<Columns>, StoreError> {
    use postgres::types::Type;
    let statement = client.prepare(&postgres_sql(sql))?;
    let rows = client.query(&statement, &postgres_params(params))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut values = Vec::with_capacity(row.len());
        for (index, column) in row.columns().iter().enumerate() {
            let ty = column.type_();
            let value = if *ty == Type::INT8 {
                row.get::<_, Option<i64>>(index).map(Value::Int)
            } else if *ty == Type::INT4 {
                row.get::<_, Option<i32>>(index)
                    .map(|v| Value::Int(i64::from(v)))
            } else if *ty == Type::INT2 {
                row.get::<_, Option<i16>>(index)
                    .map(|v| Value::Int(i64::from(v)))
            } else if *ty == Type::BOOL {
                row.get::<_, Option<bool>>(index).map(Value::flag)
            } else if *ty == Type::BYTEA {
                row.get::<_, Option<Vec<u8>>>(index).map(Value::Blob)
            } else if *ty == Type::TEXT || *ty == Type::VARCHAR {
                row.get::<_, Option<String>>(index).map(Value::Text)
            } else {
                return Err(corrupt(&format!("a column of type {ty}")));
            };
            values.push(value.unwrap_or(Value::Null));
        }
        out.push(Columns(values.into_iter()));
    }
    Ok(out)
}

impl postgres::types::ToSql for Value {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::{IsNull, Type};
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(value) if *ty == Type::INT4 => i32::try_from(*value)?.to_sql(ty, out),
            Value::Int(value) if *ty == Type::INT2 => i16::try_from(*value)?.to_sql(ty, out),
            Value::Int(value) if *ty == Type::BOOL => (*value != 0).to_sql(ty, out),
            Value::Int(value) => value.to_sql(ty, out),
            Value::Text(text) => text.as_str().to_sql(ty, out),
            Value::Blob(bytes) => bytes.as_slice().to_sql(ty, out),
        }
    }

    /// Every type: the value's own variant decides how it is written, and PostgreSQL
    /// refuses a mismatch with the column.
    fn accepts(_ty: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}
