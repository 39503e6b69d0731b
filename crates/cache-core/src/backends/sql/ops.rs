//! The cache operations, written once over [`Conn`] and the dialect's [`Statements`].

use std::collections::HashMap;
use std::time::SystemTime;

use bytes::Bytes;

use super::cull::Culling;
use super::error::OpResult as Result;
use super::statements::{AddSql, Statements};
use crate::backend::{checked_increment, Expiry};
use crate::error::Error;
use crate::sql::{Bind, Conn, Exec, SqlError, SqlRow};

/// Keys per `IN (…)` list: one query up to this many (bound parameters stay far below every driver's limit:
/// SQLite 32766, PostgreSQL and MySQL 65535).
pub(crate) const KEYS_PER_QUERY: usize = 10_000;

/// Rows per multi-row `INSERT` of `set_many` (3 parameters each).
const ROWS_PER_INSERT: usize = 1_000;

/// Value bytes per multi-row `INSERT`, so a batch of large values stays under MySQL's `max_allowed_packet`
/// (16 MiB by default on MariaDB). A single larger value still goes alone in its own statement.
const BYTES_PER_INSERT: usize = 8 * 1024 * 1024;

/// The stored form of an expiry: Unix milliseconds, `i64::MAX` for never (every comparison is then a plain
/// `expires_ms > now`).
pub(crate) fn expiry_millis(expiry: Expiry) -> i64 {
    match expiry {
        Expiry::Never => i64::MAX,
        Expiry::At(_) => expiry.as_unix_millis().unwrap_or(i64::MAX),
    }
}

/// Now, in Unix milliseconds. An entry is live while `expires_ms > now`.
pub(crate) fn now_millis() -> i64 {
    expiry_millis(Expiry::At(SystemTime::now()))
}

/// A value column as read: `Err` says why it could not be read as bytes (NULL, or a type sqlx cannot read as
/// bytes) — a corrupted row, which the caller treats as a miss.
type Cell = std::result::Result<Vec<u8>, String>;

fn cell(column: std::result::Result<Option<Vec<u8>>, SqlError>) -> Cell {
    match column {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err("the value is NULL".to_owned()),
        Err(error) => Err(error.to_string()),
    }
}

/// The first column of the first row as a [`Cell`], or `None` when there is no row.
async fn fetch_cell(exec: Exec<'_>, sql: &str, binds: &[Bind<'_>]) -> Result<Option<Cell>> {
    Ok(exec
        .fetch_optional(sql, binds, |row| cell(row.bytes(0)))
        .await?)
}

/// Rows of (key, value). Rows whose key is unreadable are left out: they cannot match a requested key.
fn key_and_cell(row: SqlRow<'_>) -> Option<(Vec<u8>, Cell)> {
    let key = row.bytes(0).ok().flatten()?;
    Some((key, cell(row.bytes(1))))
}

/// A value cell as bytes, or a miss for a corrupted row (logged).
fn value_or_miss(dialect: &'static str, key: &[u8], cell: Cell) -> Option<Bytes> {
    match cell {
        Ok(bytes) => Some(Bytes::from(bytes)),
        Err(reason) => {
            tracing::warn!(
                backend = dialect,
                key = %String::from_utf8_lossy(key),
                %reason,
                "unreadable cache row treated as a miss"
            );
            None
        }
    }
}

pub(crate) async fn get(conn: &mut Conn, sql: &Statements, key: &str) -> Result<Option<Bytes>> {
    let cell = fetch_cell(
        conn.exec(),
        &sql.get,
        &[Bind::Bytes(key.as_bytes()), Bind::Int(now_millis())],
    )
    .await?;
    Ok(cell.and_then(|cell| value_or_miss(sql.dialect.name(), key.as_bytes(), cell)))
}

pub(crate) async fn get_many(
    conn: &mut Conn,
    sql: &Statements,
    keys: &[String],
) -> Result<Vec<Option<Bytes>>> {
    let now = now_millis();
    let mut found: HashMap<Vec<u8>, Bytes> = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(KEYS_PER_QUERY) {
        let mut binds = Vec::with_capacity(chunk.len() + 1);
        binds.push(Bind::Int(now));
        binds.extend(chunk.iter().map(|key| Bind::Bytes(key.as_bytes())));
        let rows = conn
            .exec()
            .fetch_all(&sql.get_many(chunk.len()), &binds, false, key_and_cell)
            .await?;
        for (key, cell) in rows {
            if let Some(value) = value_or_miss(sql.dialect.name(), &key, cell) {
                found.insert(key, value);
            }
        }
    }
    Ok(keys
        .iter()
        .map(|key| found.get(key.as_bytes()).cloned())
        .collect())
}

pub(crate) async fn set(
    conn: &mut Conn,
    sql: &Statements,
    culling: &Culling,
    key: &str,
    value: &[u8],
    expiry: Expiry,
) -> Result<()> {
    culling.before_write(conn, sql, now_millis(), 1).await?;
    conn.exec()
        .execute(
            &sql.set,
            &[
                Bind::Bytes(key.as_bytes()),
                Bind::Bytes(value),
                Bind::Int(expiry_millis(expiry)),
            ],
            true,
        )
        .await?;
    Ok(())
}

/// Splits entries into batches for one multi-row `INSERT` each (by rows and by bytes).
fn batches<'e>(entries: &[(&'e str, &'e Bytes)]) -> Vec<Vec<(&'e str, &'e Bytes)>> {
    let mut batches = Vec::new();
    let mut batch: Vec<(&str, &Bytes)> = Vec::new();
    let mut bytes = 0;
    for &(key, value) in entries {
        if !batch.is_empty()
            && (batch.len() == ROWS_PER_INSERT || bytes + value.len() > BYTES_PER_INSERT)
        {
            batches.push(std::mem::take(&mut batch));
            bytes = 0;
        }
        bytes += value.len();
        batch.push((key, value));
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    batches
}

/// Stores every entry with upserts of many rows each; one transaction when there is more than one batch.
/// A key given twice keeps its last value (as a Python dict would).
pub(crate) async fn set_many(
    conn: &mut Conn,
    sql: &Statements,
    culling: &Culling,
    entries: &[(String, Bytes)],
    expiry: Expiry,
) -> Result<()> {
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
    for (i, (key, _)) in entries.iter().enumerate() {
        last.insert(key.as_str(), i);
    }
    let distinct: Vec<(&str, &Bytes)> = entries
        .iter()
        .enumerate()
        .filter(|(i, (key, _))| last.get(key.as_str()) == Some(i))
        .map(|(_, (key, value))| (key.as_str(), value))
        .collect();
    if distinct.is_empty() {
        return Ok(());
    }
    let rows = u64::try_from(distinct.len()).unwrap_or(u64::MAX);
    culling.before_write(conn, sql, now_millis(), rows).await?;
    let expires = expiry_millis(expiry);
    let batches = batches(&distinct);
    if let [batch] = batches.as_slice() {
        return insert_rows(conn.exec(), sql, batch, expires).await;
    }
    let mut tx = conn.begin(sql.begin_write).await?;
    for batch in &batches {
        insert_rows(tx.exec(), sql, batch, expires).await?;
    }
    Ok(tx.commit().await?)
}

/// One multi-row upsert of `set_many`.
async fn insert_rows(
    exec: Exec<'_>,
    sql: &Statements,
    batch: &[(&str, &Bytes)],
    expires: i64,
) -> Result<()> {
    exec.execute(
        &sql.set_many(batch.len()),
        &row_binds(batch, expires),
        false,
    )
    .await?;
    Ok(())
}

/// Key, value, expiry for each row, in statement order.
fn row_binds<'a>(batch: &[(&'a str, &'a Bytes)], expires: i64) -> Vec<Bind<'a>> {
    batch
        .iter()
        .flat_map(|&(key, value)| {
            [
                Bind::Bytes(key.as_bytes()),
                Bind::Bytes(value),
                Bind::Int(expires),
            ]
        })
        .collect()
}

pub(crate) async fn add(
    conn: &mut Conn,
    sql: &Statements,
    culling: &Culling,
    key: &str,
    value: &[u8],
    expiry: Expiry,
) -> Result<bool> {
    let now = now_millis();
    culling.before_write(conn, sql, now, 1).await?;
    let key_bind = Bind::Bytes(key.as_bytes());
    let row = [
        key_bind,
        Bind::Bytes(value),
        Bind::Int(expiry_millis(expiry)),
    ];
    match &sql.add {
        AddSql::Upsert(upsert) => {
            let [key, value, expires] = row;
            let binds = [key, value, expires, Bind::Int(now)];
            Ok(conn.exec().execute(upsert, &binds, true).await? == 1)
        }
        AddSql::DeleteExpiredThenInsert {
            delete_expired,
            insert,
        } => {
            conn.exec()
                .execute(delete_expired, &[key_bind, Bind::Int(now)], true)
                .await?;
            Ok(conn
                .exec()
                .execute_unless_duplicate(insert, &row, true)
                .await?
                .is_some())
        }
    }
}

pub(crate) async fn delete(conn: &mut Conn, sql: &Statements, key: &str) -> Result<bool> {
    let deleted = conn
        .exec()
        .execute(
            &sql.delete,
            &[Bind::Bytes(key.as_bytes()), Bind::Int(now_millis())],
            true,
        )
        .await?;
    Ok(deleted > 0)
}

pub(crate) async fn delete_many(conn: &mut Conn, sql: &Statements, keys: &[String]) -> Result<()> {
    for chunk in keys.chunks(KEYS_PER_QUERY) {
        let binds: Vec<Bind<'_>> = chunk
            .iter()
            .map(|key| Bind::Bytes(key.as_bytes()))
            .collect();
        conn.exec()
            .execute(&sql.delete_many(chunk.len()), &binds, false)
            .await?;
    }
    Ok(())
}

pub(crate) async fn touch(
    conn: &mut Conn,
    sql: &Statements,
    key: &str,
    expiry: Expiry,
) -> Result<bool> {
    let touched = conn
        .exec()
        .execute(
            &sql.touch,
            &[
                Bind::Int(expiry_millis(expiry)),
                Bind::Bytes(key.as_bytes()),
                Bind::Int(now_millis()),
            ],
            true,
        )
        .await?;
    Ok(touched > 0)
}

/// `compare_and_set`: one `UPDATE` guarded by the live value, atomic in every database (the row is
/// locked while it is checked and written).
pub(crate) async fn compare_and_set(
    conn: &mut Conn,
    sql: &Statements,
    key: &str,
    expected: &[u8],
    new: &[u8],
    expiry: Expiry,
) -> Result<bool> {
    let swapped = conn
        .exec()
        .execute(
            &sql.compare_and_set,
            &[
                Bind::Bytes(new),
                Bind::Int(expiry_millis(expiry)),
                Bind::Bytes(key.as_bytes()),
                Bind::Int(now_millis()),
                Bind::Bytes(expected),
            ],
            true,
        )
        .await?;
    Ok(swapped == 1)
}

/// Read, add, write back in one transaction holding the row (PostgreSQL/MySQL `SELECT … FOR UPDATE`) or the
/// database write lock (SQLite `BEGIN IMMEDIATE`); the expiry column is not touched, so it is kept.
pub(crate) async fn incr(conn: &mut Conn, sql: &Statements, key: &str, delta: i64) -> Result<i64> {
    let not_found = || Error::KeyNotFound {
        key: key.to_owned(),
    };
    let mut tx = conn.begin(sql.begin_write).await?;
    let cell = fetch_cell(
        tx.exec(),
        &sql.lock_value,
        &[Bind::Bytes(key.as_bytes()), Bind::Int(now_millis())],
    )
    .await?
    .ok_or_else(not_found)?;
    // A corrupted row is a miss everywhere, so `incr` reports it as missing.
    let current = value_or_miss(sql.dialect.name(), key.as_bytes(), cell).ok_or_else(not_found)?;
    let new = checked_increment(key, &current, delta)?;
    tx.exec()
        .execute(
            &sql.update_value,
            &[
                Bind::Bytes(new.to_string().as_bytes()),
                Bind::Bytes(key.as_bytes()),
            ],
            true,
        )
        .await?;
    tx.commit().await?;
    Ok(new)
}

pub(crate) async fn has_key(conn: &mut Conn, sql: &Statements, key: &str) -> Result<bool> {
    let row = conn
        .exec()
        .fetch_optional(
            &sql.has_key,
            &[Bind::Bytes(key.as_bytes()), Bind::Int(now_millis())],
            |_row| (),
        )
        .await?;
    Ok(row.is_some())
}

pub(crate) async fn clear(conn: &mut Conn, sql: &Statements) -> Result<()> {
    conn.exec().execute(&sql.clear, &[], true).await?;
    Ok(())
}

/// Runs each idempotent `CREATE … IF NOT EXISTS`. PostgreSQL can fail one with a unique violation when
/// another session creates the same table at the same moment; it is retried once, and then exists.
pub(crate) async fn create_table(conn: &mut Conn, sql: &Statements) -> Result<()> {
    for statement in &sql.create {
        if conn
            .exec()
            .execute_unless_duplicate(statement, &[], false)
            .await?
            .is_none()
        {
            conn.exec().execute_raw(statement).await?;
        }
    }
    Ok(())
}

pub(crate) async fn drop_table(conn: &mut Conn, sql: &Statements) -> Result<()> {
    Ok(conn.exec().execute_raw(&sql.drop).await?)
}
