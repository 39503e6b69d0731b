//! [`DatabaseBackend`]: Django's database cache (`DatabaseCache`) on SQLite, PostgreSQL and MySQL/MariaDB
//! through sqlx — one type, one implementation of the logic, the SQL text per database.
//!
//! ```
//! # async fn demo() -> cache_core::Result<()> {
//! use cache_core::{backends::DatabaseBackend, Cache};
//!
//! let backend = DatabaseBackend::builder("sqlite::memory:")
//!     .table("my cache")
//!     .max_entries(10_000)
//!     .connect()
//!     .await?;
//! backend.create_table().await?; // idempotent, like `manage.py createcachetable`
//! let cache = Cache::new(backend);
//! cache.set("answer", &42).await?;
//! assert_eq!(cache.get::<i32>("answer").await?, Some(42));
//! # Ok(()) }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
//! ```
//!
//! # Table
//!
//! [`create_table`](DatabaseBackend::create_table) makes (if missing) one table and an index on the expiry:
//!
//! | column       | SQLite  | PostgreSQL | MySQL/MariaDB     |
//! |--------------|---------|------------|-------------------|
//! | `cache_key`  | BLOB PK | BYTEA PK   | VARBINARY(1020) PK|
//! | `value`      | BLOB    | BYTEA      | LONGBLOB          |
//! | `expires_ms` | INTEGER | BIGINT     | BIGINT            |
//!
//! - Keys are stored as their UTF-8 bytes and compared byte for byte: no case folding, no trailing-space
//!   padding (`"a"`/`"A"` and `"k"`/`"k "` are different keys on every database), and NUL is fine (PostgreSQL
//!   TEXT could not hold it). Made keys are limited to 255 characters ([`KeyLimits`]), as Django's
//!   `varchar(255)`; 1020 bytes holds 255 four-byte characters.
//! - Values are the bytes as given.
//! - `expires_ms` is the expiry in Unix milliseconds (Django keeps whole seconds), `i64::MAX` for never. An
//!   entry is live while `expires_ms > now`, with "now" from this process's clock.
//! - Django's columns are `cache_key`/`value`/`expires` with base64 pickles: the column name differs on
//!   purpose, so pointing this backend at a Django table fails clearly instead of misreading it.
//!
//! # Operations
//!
//! Every operation is one statement on one pooled connection, except where noted:
//!
//! - `get`, `has_key`: one `SELECT` of the live row. Expired rows are **not** deleted on read (reads never
//!   write); they are invisible, overwritten by the next `set`/`add`, and deleted by culling.
//! - `get_many`: one `SELECT … WHERE cache_key IN (…)` with bound parameters, for up to 10 000 keys per
//!   query.
//! - `set`: one upsert (`INSERT … ON CONFLICT DO UPDATE` on SQLite/PostgreSQL, `ON DUPLICATE KEY UPDATE` on
//!   MySQL). `set_many`: multi-row upserts (1000 rows or 8 MiB of values each), in one transaction when
//!   there is more than one.
//! - `add`: atomic. SQLite/PostgreSQL: one `INSERT … ON CONFLICT DO UPDATE … WHERE <existing row expired>`,
//!   stored iff a row was affected. MySQL: sqlx connects with `CLIENT_FOUND_ROWS`, under which an upsert
//!   reports the same count for "inserted" and "left a live row alone", so `add` deletes the row if expired
//!   and then inserts; a duplicate-key error means a live row exists.
//! - `touch`: one `UPDATE` of the live row. `delete`: one `DELETE` of the live row (true iff there was one);
//!   `delete_many`: one `DELETE … IN (…)`. `clear`: `DELETE FROM` this table only.
//! - `incr`: a transaction holding the row (`SELECT … FOR UPDATE` on PostgreSQL/MySQL; SQLite takes the write
//!   lock with `BEGIN IMMEDIATE`), then an `UPDATE` of the value only, so the expiry is kept.
//! - Culling, before each write that adds rows, like Django: when the table holds more than `max_entries`
//!   rows, delete the expired rows, then — if still over — the `remaining / cull_frequency` rows that
//!   expire **soonest** (ties by key), or more if that is what it takes to get back to `max_entries` (after a
//!   large `set_many`); `cull_frequency` 0 empties the table instead. Django deletes in key order, which is
//!   arbitrary; soonest-to-expire keeps the entries with the most life left, and is oldest-first when all
//!   share one timeout. The cull runs before the write, so an entry is never culled by its own write and a
//!   single-entry write leaves at most `max_entries + 1` rows. The `COUNT(*)` runs on every write for tables
//!   of up to 1000 entries and every `max_entries / 1000` writes above that (an overshoot of at most 0.1%
//!   per writing process, for a fraction of a count per write).
//!
//! # Failures
//!
//! - Every operation runs under the [operation timeout](DatabaseBackendBuilder::operation_timeout)
//!   (default 1 s; multi-key operations one per started thousand keys, see
//!   [`KEYS_PER_DEADLINE`](crate::KEYS_PER_DEADLINE)), waiting for a connection included; waiting for a connection alone is bounded by the
//!   [connect timeout](DatabaseBackendBuilder::connect_timeout) (default 1 s). Either way the result is an
//!   [`Error::Backend`](crate::Error::Backend) (`io::ErrorKind::TimedOut` for the operation timeout), never
//!   a hang.
//! - A PostgreSQL/MySQL connection whose operation did not finish (it timed out, or the caller dropped the
//!   future) is closed, never returned to the pool: it may be stuck mid-protocol.
//! - The pool tests an idle connection before handing it out (one extra round trip per operation on a
//!   server database), so after an outage or a server restart the same backend works again.
//! - On SQLite, where columns are dynamically typed, rows written by hand are read defensively: an expiry
//!   that is not a number counts as expired; a text or numeric value is read as its bytes; a value that
//!   cannot be read at all (NULL, in a table made without `NOT NULL`) is a **miss** for `get`/`get_many`,
//!   logged with `tracing::warn!`, and [`Error::KeyNotFound`](crate::Error::KeyNotFound) for `incr`
//!   (`has_key` looks at the expiry only). The next write replaces such a row.
//! - A missing table is an [`Error::Backend`](crate::Error::Backend) whose message says to call
//!   `create_table`.
//!
//! # SQLite
//!
//! `sqlite://path/cache.db` (the file is created if missing), `sqlite::memory:` (one connection, kept open,
//! so the database lives as long as the backend). File databases use WAL journaling with
//! `synchronous=NORMAL` (durable across process crashes, may lose the last writes on power loss — fine for a
//! cache) and wait up to the operation timeout for a locked database.
//!
//! [`KeyLimits`]: crate::KeyLimits

mod builder;
mod cull;
mod error;
mod multi;
mod ops;
mod row;
mod statements;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::time::{error::Elapsed, Instant};

pub use builder::DatabaseBackendBuilder;

use crate::backend::{deadline_for_keys, CacheBackend, Expiry, KeyLimits};
use crate::error::Result;
use crate::sql::{Conn, Dialect, SqlPool};
use cull::Culling;
use error::{db_error, timeout_error, OpResult};
use ops::Db;
use statements::Statements;

/// Django's database cache on SQLite, PostgreSQL or MySQL/MariaDB. Cheap to clone; clones share the pool.
///
/// See the [module documentation](self) for the table, the statements each operation runs, culling and
/// failure behaviour.
#[derive(Clone)]
pub struct DatabaseBackend {
    inner: Arc<Inner>,
}

struct Inner {
    pool: SqlPool,
    dialect: Dialect,
    table: String,
    sql: Statements,
    culling: Culling,
    operation_timeout: Duration,
}

impl std::fmt::Debug for DatabaseBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseBackend")
            .field("dialect", &self.inner.dialect)
            .field("table", &self.inner.table)
            .field("max_entries", &self.inner.culling.max_entries())
            .field("cull_frequency", &self.inner.culling.cull_frequency())
            .field("operation_timeout", &self.inner.operation_timeout)
            .finish()
    }
}

/// Runs `$body` (a future using `$db`, the operation's [`Db`]) under the operation timeout; with `keys: n`,
/// under the timeout of an operation over `n` keys ([`deadline_for_keys`]).
macro_rules! timed {
    ($self:ident, $operation:literal, |$db:ident| $body:expr) => {
        timed!($self, $operation, keys: 1, |$db| $body)
    };
    ($self:ident, $operation:literal, keys: $keys:expr, |$db:ident| $body:expr) => {{
        let timeout = deadline_for_keys($self.inner.operation_timeout, $keys);
        let deadline = Instant::now() + timeout;
        let mut conn = $self.acquire($operation, deadline, timeout).await?;
        let mut $db = Db {
            conn: &mut conn,
            sql: &$self.inner.sql,
            culling: &$self.inner.culling,
        };
        let outcome = tokio::time::timeout_at(deadline, $body).await;
        $self.settle($operation, conn, outcome, timeout)
    }};
}

impl DatabaseBackend {
    /// A builder for the database at `url`: `sqlite://path/cache.db`, `sqlite::memory:`,
    /// `postgres://user:password@host/db`, `mysql://user:password@host/db` (also `postgresql://`,
    /// `mariadb://`). Query parameters go to sqlx (e.g. `?sslmode=require`).
    pub fn builder(url: impl Into<String>) -> DatabaseBackendBuilder {
        DatabaseBackendBuilder::from_url(url.into())
    }

    /// A builder over a pool you already have (`SqlitePool`, `PgPool` or `MySqlPool`). The pool keeps its
    /// own connection settings; the builder's `connect_timeout` and `max_connections` do not apply.
    pub fn with_pool(pool: impl Into<SqlPool>) -> DatabaseBackendBuilder {
        DatabaseBackendBuilder::from_pool(pool.into())
    }

    /// Connects to `url` with the default settings (table `cache_table`, 300 entries, cull a third); see
    /// [`DatabaseBackendBuilder::connect`].
    pub async fn connect(url: impl Into<String>) -> Result<Self> {
        Self::builder(url).connect().await
    }

    /// Creates the table and its expiry index if they do not exist (Django's `createcachetable`);
    /// idempotent, safe to call at every start.
    pub async fn create_table(&self) -> Result<()> {
        timed!(self, "create_table", |db| db.create_table())
    }

    /// Drops the table if it exists (for tests and teardown; everything cached is lost).
    pub async fn drop_table(&self) -> Result<()> {
        timed!(self, "drop_table", |db| db.drop_table())
    }

    /// Which database this backend talks to.
    pub fn dialect(&self) -> Dialect {
        self.inner.dialect
    }

    /// The table name, unquoted.
    pub fn table(&self) -> &str {
        &self.inner.table
    }

    /// The row count above which writes cull.
    pub fn max_entries(&self) -> u64 {
        self.inner.culling.max_entries()
    }

    /// The fraction culled (`1/cull_frequency`; 0 empties the table).
    pub fn cull_frequency(&self) -> u64 {
        self.inner.culling.cull_frequency()
    }

    /// The connection pool, e.g. to share it or to inspect the table.
    pub fn pool(&self) -> &SqlPool {
        &self.inner.pool
    }

    async fn acquire(
        &self,
        operation: &'static str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Conn> {
        match tokio::time::timeout_at(deadline, self.inner.pool.acquire()).await {
            Ok(conn) => conn.map_err(db_error),
            Err(_) => Err(timeout_error(self.inner.dialect, operation, timeout)),
        }
    }

    /// The operation's result, or a timeout error. A finished connection goes back to the pool; one whose
    /// operation timed out is closed on a server database (see [`Conn`]).
    fn settle<T>(
        &self,
        operation: &'static str,
        conn: Conn,
        outcome: std::result::Result<OpResult<T>, Elapsed>,
        timeout: Duration,
    ) -> Result<T> {
        match outcome {
            Ok(result) => {
                conn.finish();
                result.map_err(|error| error.into_error())
            }
            Err(_) => {
                drop(conn);
                Err(timeout_error(self.inner.dialect, operation, timeout))
            }
        }
    }
}

#[async_trait]
impl CacheBackend for DatabaseBackend {
    fn name(&self) -> &'static str {
        self.inner.dialect.name()
    }

    /// Made keys of up to 255 characters (Django's `varchar(255)`); any character, NUL included.
    fn key_limits(&self) -> KeyLimits {
        KeyLimits {
            max_chars: Some(255),
            rejects_control_characters: false,
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        timed!(self, "get", |db| db.get(key))
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        timed!(self, "get_many", keys: keys.len(), |db| db.get_many(keys))
    }

    async fn set(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<()> {
        timed!(self, "set", |db| db.set(key, &value, expiry))
    }

    async fn set_many(&self, entries: Vec<(String, Bytes)>, expiry: Expiry) -> Result<Vec<String>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        timed!(self, "set_many", keys: entries.len(), |db| db.set_many(&entries, expiry))?;
        Ok(Vec::new())
    }

    async fn add(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<bool> {
        timed!(self, "add", |db| db.add(key, &value, expiry))
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        timed!(self, "delete", |db| db.delete(key))
    }

    async fn delete_many(&self, keys: &[String]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        timed!(self, "delete_many", keys: keys.len(), |db| db.delete_many(keys))
    }

    async fn touch(&self, key: &str, expiry: Expiry) -> Result<bool> {
        timed!(self, "touch", |db| db.touch(key, expiry))
    }

    async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        timed!(self, "incr", |db| db.incr(key, delta))
    }

    async fn compare_and_set(&self, key: &str, old: &[u8], new: Bytes, at: Expiry) -> Result<bool> {
        timed!(self, "compare_and_set", |db| db
            .compare_and_set(key, old, &new, at))
    }

    async fn has_key(&self, key: &str) -> Result<bool> {
        timed!(self, "has_key", |db| db.has_key(key))
    }

    async fn clear(&self) -> Result<()> {
        timed!(self, "clear", |db| db.clear())
    }

    /// Does nothing: connections go back to the shared pool after every call, and sqlx closes idle ones
    /// after its idle timeout. (Closing the pool here would make every later call fail, and Django calls
    /// `close()` after every request.) Drop every clone of the backend to close the pool.
    async fn close(&self) -> Result<()> {
        Ok(())
    }
}
