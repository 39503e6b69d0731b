//! The cache operations, written once over one operation's connection and the dialect's [`Statements`]:
//! the methods of [`Db`]. The multi-key ones are in `multi.rs`.

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

/// Now, in Unix milliseconds. An entry is live while its expiry is after now.
pub(crate) fn now_millis() -> i64 {
    Expiry::At(SystemTime::now())
        .as_unix_millis()
        .unwrap_or(i64::MAX)
}

/// A value column as read: `Err` says why it could not be read as bytes (NULL, or a type sqlx cannot read as
/// bytes) — a corrupted row, which the caller treats as a miss.
pub(super) type Cell = std::result::Result<Vec<u8>, String>;

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
pub(super) fn key_and_cell(row: SqlRow<'_>) -> Option<(Vec<u8>, Cell)> {
    let key = row.bytes(0).ok().flatten()?;
    Some((key, cell(row.bytes(1))))
}

/// A value cell as the `Cache`'s bytes, or a miss for a corrupted row (logged).
pub(super) fn value_or_miss(sql: &Statements, key: &[u8], cell: Cell) -> Option<Bytes> {
    match cell.and_then(|stored| sql.layout.read_value(stored)) {
        Ok(bytes) => Some(Bytes::from(bytes)),
        Err(reason) => {
            tracing::warn!(
                backend = sql.dialect.name(),
                key = %String::from_utf8_lossy(key),
                %reason,
                "unreadable cache row treated as a miss"
            );
            None
        }
    }
}

/// One operation's connection, with the backend's statements and culling.
pub(crate) struct Db<'a> {
    pub(crate) conn: &'a mut Conn,
    pub(crate) sql: &'a Statements,
    pub(crate) culling: &'a Culling,
}

impl Db<'_> {
    /// Runs a prepared statement; the rows it affected.
    pub(super) async fn execute(&mut self, sql: &str, binds: &[Bind<'_>]) -> Result<u64> {
        Ok(self.conn.exec().execute(sql, binds, true).await?)
    }

    /// Culls if a check is due before writing `rows` rows.
    pub(super) async fn before_write(&mut self, now: i64, rows: u64) -> Result<()> {
        self.culling
            .before_write(self.conn, self.sql, now, rows)
            .await
    }

    pub(crate) async fn get(&mut self, key: &str) -> Result<Option<Bytes>> {
        let sql = self.sql;
        let binds = [sql.layout.key(key), Bind::Int(now_millis())];
        let cell = fetch_cell(self.conn.exec(), &self.sql.get, &binds).await?;
        Ok(cell.and_then(|cell| value_or_miss(self.sql, key.as_bytes(), cell)))
    }

    pub(crate) async fn set(&mut self, key: &str, value: &[u8], expiry: Expiry) -> Result<()> {
        self.before_write(now_millis(), 1).await?;
        let sql = self.sql;
        let value = sql.layout.value(value);
        let row = [
            sql.layout.key(key),
            value.bind(),
            Bind::Int(sql.layout.expiry(expiry)),
        ];
        self.execute(&sql.set, &row).await?;
        Ok(())
    }

    pub(crate) async fn add(&mut self, key: &str, value: &[u8], expiry: Expiry) -> Result<bool> {
        let now = now_millis();
        self.before_write(now, 1).await?;
        let sql = self.sql;
        let value = sql.layout.value(value);
        let row = [
            sql.layout.key(key),
            value.bind(),
            Bind::Int(sql.layout.expiry(expiry)),
        ];
        match &sql.add {
            AddSql::Upsert(upsert) => {
                let [key, value, expires] = row;
                let binds = [key, value, expires, Bind::Int(now)];
                Ok(self.execute(upsert, &binds).await? == 1)
            }
            AddSql::DeleteExpiredThenInsert {
                delete_expired,
                insert,
            } => {
                self.execute(delete_expired, &[row[0], Bind::Int(now)])
                    .await?;
                let inserted = self
                    .conn
                    .exec()
                    .execute_unless_duplicate(insert, &row, true);
                Ok(inserted.await?.is_some())
            }
        }
    }

    pub(crate) async fn delete(&mut self, key: &str) -> Result<bool> {
        let sql = self.sql;
        let binds = [sql.layout.key(key), Bind::Int(now_millis())];
        Ok(self.execute(&sql.delete, &binds).await? > 0)
    }

    pub(crate) async fn touch(&mut self, key: &str, expiry: Expiry) -> Result<bool> {
        let sql = self.sql;
        let binds = [
            Bind::Int(sql.layout.expiry(expiry)),
            sql.layout.key(key),
            Bind::Int(now_millis()),
        ];
        Ok(self.execute(&sql.touch, &binds).await? > 0)
    }

    /// `compare_and_set`: one `UPDATE` guarded by the live value, atomic in every database (the row is
    /// locked while it is checked and written).
    pub(crate) async fn compare_and_set(
        &mut self,
        key: &str,
        old: &[u8],
        new: &[u8],
        at: Expiry,
    ) -> Result<bool> {
        let sql = self.sql;
        let (new, old) = (sql.layout.value(new), sql.layout.value(old));
        let binds = [
            new.bind(),
            Bind::Int(sql.layout.expiry(at)),
            sql.layout.key(key),
            Bind::Int(now_millis()),
            old.bind(),
        ];
        Ok(self.execute(&sql.compare_and_set, &binds).await? == 1)
    }

    /// Read, add, write back in one transaction holding the row (PostgreSQL/MySQL `SELECT … FOR UPDATE`)
    /// or the database write lock (SQLite `BEGIN IMMEDIATE`); the expiry column is not touched, so it is
    /// kept.
    pub(crate) async fn incr(&mut self, key: &str, delta: i64) -> Result<i64> {
        let sql = self.sql;
        let not_found = || Error::KeyNotFound {
            key: key.to_owned(),
        };
        let mut tx = self.conn.begin(sql.begin_write).await?;
        let binds = [sql.layout.key(key), Bind::Int(now_millis())];
        let cell = fetch_cell(tx.exec(), &sql.lock_value, &binds)
            .await?
            .ok_or_else(not_found)?;
        // A corrupted row is a miss everywhere, so `incr` reports it as missing.
        let current = value_or_miss(sql, key.as_bytes(), cell).ok_or_else(not_found)?;
        let new = checked_increment(key, &current, delta)?;
        let text = new.to_string();
        let value = sql.layout.value(text.as_bytes());
        let binds = [value.bind(), sql.layout.key(key)];
        tx.exec().execute(&sql.update_value, &binds, true).await?;
        tx.commit().await?;
        Ok(new)
    }

    pub(crate) async fn has_key(&mut self, key: &str) -> Result<bool> {
        let sql = self.sql;
        let binds = [sql.layout.key(key), Bind::Int(now_millis())];
        let row = self
            .conn
            .exec()
            .fetch_optional(&self.sql.has_key, &binds, |_row| ());
        Ok(row.await?.is_some())
    }

    pub(crate) async fn clear(&mut self) -> Result<()> {
        let sql = self.sql;
        self.execute(&sql.clear, &[]).await?;
        Ok(())
    }

    /// Runs each idempotent `CREATE … IF NOT EXISTS`. PostgreSQL can fail one with a unique violation when
    /// another session creates the same table at the same moment; it is retried once, and then exists.
    pub(crate) async fn create_table(&mut self) -> Result<()> {
        for statement in &self.sql.create {
            let created = self
                .conn
                .exec()
                .execute_unless_duplicate(statement, &[], false);
            if created.await?.is_none() {
                self.conn.exec().execute_raw(statement).await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn drop_table(&mut self) -> Result<()> {
        Ok(self.conn.exec().execute_raw(&self.sql.drop).await?)
    }
}
