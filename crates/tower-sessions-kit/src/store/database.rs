//! [`DatabaseStore`]: sessions in a SQL table (Django's default `db` engine) on SQLite, PostgreSQL or
//! MySQL/MariaDB through sqlx.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sqlx::Row;

use super::checkout::Checkout;
use super::{
    create_with_retries, Loaded, SaveRequest, Saved, SessionStore, StoreError, DEFAULT_DEADLINE,
};
use crate::deadline::{within, Deadline};
use crate::expiry::{self, unix_millis};
use crate::key::SessionKey;
use crate::record::{self, Data};

/// The default table name.
pub const DEFAULT_TABLE: &str = "tower_sessions_kit_session";

/// Collisions of 165-bit random keys do not happen; a few retries cover a broken RNG being noticed.
const CREATE_ATTEMPTS: u32 = 10;

/// The bound of `migrate` and `clear_expired` when the deadline is shorter: they are not request work, and
/// DDL waiting for a lock, or the cleanup of a large table, legitimately takes longer than a request may.
pub const MAINTENANCE_DEADLINE: Duration = Duration::from_secs(60);

/// Sessions in one SQL table, created by [`migrate`](DatabaseStore::migrate):
///
/// | column        | SQLite            | PostgreSQL           | MySQL/MariaDB                   |
/// |---------------|-------------------|----------------------|---------------------------------|
/// | `session_key` | TEXT PK           | VARCHAR(40) PK       | VARCHAR(40) ascii_bin PK        |
/// | `session_data`| TEXT (JSON)       | TEXT (JSON)          | LONGTEXT (JSON)                 |
/// | `expire_date` | INTEGER (Unix ms) | BIGINT (Unix ms)     | BIGINT (Unix ms), indexed       |
///
/// plus an index on `expire_date` for [`clear_expired`](SessionStore::clear_expired). Django's table is
/// `django_session` with base64-signed data and a `datetime`; this one is plain JSON and milliseconds, under
/// another name, so the two never get mixed up.
///
/// - `load`: one `SELECT` of the live row (`expire_date > now`), a prepared statement on a pooled
///   connection. On SQLite, loads that arrive while one is running are read together by one
///   `SELECT … WHERE session_key IN (SELECT value FROM json_each(?))` as soon as it finishes: each
///   statement is a hop to a worker thread, and under load those hops, not SQLite, are the cost. A load
///   alone runs its own query at once, and a queued load is answered by a query that started after it
///   arrived, so it never sees older data than its own query would have.
/// - `create`: `INSERT`; a duplicate key is retried with a new key.
/// - `save`: **one transaction** — SQLite `BEGIN IMMEDIATE` (the write lock up front), PostgreSQL and
///   MySQL `SELECT … FOR UPDATE` — reads the current data, applies this request's changes, and `UPDATE`s
///   data and expiry. Concurrent saves of one session are serialized on the row, so none is lost; writes
///   to the same key: the last save wins. No row (deleted meanwhile, even if merely expired rows count as
///   present as in Django) → [`StoreError::Gone`]. On SQLite the transaction is the fallback: a save first
///   reads the row, merges, and writes with `UPDATE … WHERE session_data = <what it read>` — two
///   statements instead of four, each a hop to sqlx's SQLite worker thread — and only when another save
///   changed the row in between does it run the transaction. The result is the same: changes merged onto
///   the current record, nothing lost.
/// - `clear_expired`: `DELETE … WHERE expire_date < now`.
///
/// **Deadline.** Every operation — waiting for a pooled connection included — is bounded by the
/// [deadline](DatabaseStoreBuilder::deadline) (default [`DEFAULT_DEADLINE`], 1 s, as cache-core's
/// database cache): past it the operation is abandoned with [`StoreError::TimedOut`], never a hang, even
/// against a server that stopped answering. `migrate` and `clear_expired`, which are not request work, get
/// at least [`MAINTENANCE_DEADLINE`]. A PostgreSQL or MySQL connection whose statement was abandoned is
/// closed rather than returned to the pool (it may be stuck mid-protocol), so the server rolls back what
/// it had not committed. A save abandoned after its `COMMIT` reached the server is still applied by the
/// server, though the request was answered with an error; since a save applies this request's changes
/// (see [`SessionStore::save`]), the client's retry gives the same record.
///
/// SQLite: file databases use WAL with `synchronous=NORMAL` (readers never wait for writers; durable
/// across process crashes, the last commits may be lost on power loss — the usual choice for a web app), a
/// busy timeout of the acquire timeout or the deadline if shorter, and connections that are not pinged
/// before each use (a local file cannot drop the connection). `sqlite::memory:` keeps a single connection
/// for its lifetime. PostgreSQL and MySQL pools check idle connections before use, so the store recovers
/// after a server restart.
#[derive(Debug, Clone)]
pub struct DatabaseStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: Pool,
    dialect: Dialect,
    table: String,
    sql: Queries,
    /// The bound of every operation.
    deadline: Duration,
    /// SQLite loads arriving while one runs, read together (see [`load_batch`](super::load_batch)).
    #[cfg(feature = "sqlite")]
    batch: super::load_batch::LoadBatch<RawRow>,
}

/// A live row as read: its data (or why it could not be read as text) and its expiry in Unix
/// milliseconds (`None` when unreadable).
type RawRow = (Result<String, String>, Option<i64>);

#[derive(Debug, Clone)]
enum Pool {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    #[cfg(feature = "mysql")]
    MySql(sqlx::MySqlPool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
    MySql,
}

impl Dialect {
    fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::MySql => "mysql",
        }
    }

    fn of_url(url: &str) -> Result<Dialect, StoreError> {
        let scheme = url
            .split_once(':')
            .map(|(scheme, _)| scheme.to_ascii_lowercase())
            .unwrap_or_default();
        match scheme.as_str() {
            "sqlite" => Ok(Dialect::Sqlite),
            "postgres" | "postgresql" => Ok(Dialect::Postgres),
            "mysql" | "mariadb" => Ok(Dialect::MySql),
            _ => Err(config_error(format!(
                "unsupported database URL scheme {scheme:?}: use sqlite:, postgres:// or mysql://"
            ))),
        }
    }
}

#[derive(Debug)]
struct Queries {
    load: String,
    /// SQLite only: the live rows of a JSON array of keys (coalesced loads).
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    load_many: String,
    insert: String,
    lock: String,
    update: String,
    /// The optimistic save's write (SQLite only): only if the row still holds the data that was read.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    update_if_unchanged: String,
    delete: String,
    exists: String,
    clear_expired: String,
    migrate: Vec<String>,
}

impl Queries {
    fn new(dialect: Dialect, table: &str) -> Queries {
        let (t, index) = match dialect {
            Dialect::MySql => (format!("`{table}`"), format!("`{table}_expire_date`")),
            _ => (format!("\"{table}\""), format!("\"{table}_expire_date\"")),
        };
        let p = |n: usize| match dialect {
            Dialect::Postgres => format!("${n}"),
            _ => "?".to_owned(),
        };
        let for_update = if dialect == Dialect::Sqlite {
            ""
        } else {
            " FOR UPDATE"
        };
        let migrate = match dialect {
            Dialect::Sqlite => vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (session_key TEXT PRIMARY KEY NOT NULL, \
                     session_data TEXT NOT NULL, expire_date INTEGER NOT NULL) WITHOUT ROWID"
                ),
                format!("CREATE INDEX IF NOT EXISTS {index} ON {t} (expire_date)"),
            ],
            Dialect::Postgres => vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (session_key VARCHAR(40) PRIMARY KEY, \
                     session_data TEXT NOT NULL, expire_date BIGINT NOT NULL)"
                ),
                format!("CREATE INDEX IF NOT EXISTS {index} ON {t} (expire_date)"),
            ],
            Dialect::MySql => vec![format!(
                "CREATE TABLE IF NOT EXISTS {t} (session_key VARCHAR(40) CHARACTER SET ascii \
                 COLLATE ascii_bin PRIMARY KEY, session_data LONGTEXT NOT NULL, expire_date BIGINT \
                 NOT NULL, INDEX {index} (expire_date)) DEFAULT CHARSET=utf8mb4"
            )],
        };
        Queries {
            load: format!(
                "SELECT session_data, expire_date FROM {t} WHERE session_key = {} AND expire_date > {}",
                p(1),
                p(2)
            ),
            load_many: format!(
                "SELECT session_key, session_data, expire_date FROM {t} WHERE session_key IN \
                 (SELECT value FROM json_each(?)) AND expire_date > ?"
            ),
            insert: format!(
                "INSERT INTO {t} (session_key, session_data, expire_date) VALUES ({}, {}, {})",
                p(1),
                p(2),
                p(3)
            ),
            lock: format!(
                "SELECT session_data FROM {t} WHERE session_key = {}{for_update}",
                p(1)
            ),
            update: format!(
                "UPDATE {t} SET session_data = {}, expire_date = {} WHERE session_key = {}",
                p(1),
                p(2),
                p(3)
            ),
            update_if_unchanged: format!(
                "UPDATE {t} SET session_data = {}, expire_date = {} WHERE session_key = {} \
                 AND session_data = {}",
                p(1),
                p(2),
                p(3),
                p(4)
            ),
            delete: format!("DELETE FROM {t} WHERE session_key = {}", p(1)),
            exists: format!("SELECT 1 FROM {t} WHERE session_key = {}", p(1)),
            clear_expired: format!("DELETE FROM {t} WHERE expire_date < {}", p(1)),
            migrate,
        }
    }
}

fn config_error(message: String) -> StoreError {
    StoreError::backend("database", message)
}

/// Settings for a [`DatabaseStore`].
#[derive(Debug, Clone)]
#[must_use]
pub struct DatabaseStoreBuilder {
    url: String,
    table: String,
    max_connections: u32,
    acquire_timeout: Duration,
    deadline: Duration,
}

impl DatabaseStoreBuilder {
    /// The table name (default [`DEFAULT_TABLE`]): letters, digits and `_`, not starting with a digit, at
    /// most [`MAX_TABLE_NAME`] characters (so that its index, `<table>_expire_date`, is a valid identifier
    /// on every database: PostgreSQL would silently truncate a longer one, MySQL refuses it), and not starting
    /// with `sqlite_` in any case (SQLite reserves those names).
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// The most pooled connections (default 10; `sqlite::memory:` always uses one).
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// How long an operation waits for a connection, and SQLite for a locked database (default 5 s; the
    /// [deadline](Self::deadline) bounds both too).
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The deadline of every operation, from asking the pool for a connection to the last reply (default
    /// [`DEFAULT_DEADLINE`], 1 s): past it the operation fails with [`StoreError::TimedOut`]. It is also
    /// the store's [`SessionStore::deadline`], which the layer holds each request phase to.
    /// `Duration::MAX` means none; zero is refused by [`connect`](Self::connect).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Opens the pool (lazily: no connection is made until the first operation). Fails on a malformed URL,
    /// a database whose feature is not enabled, or an invalid table name.
    pub async fn connect(self) -> Result<DatabaseStore, StoreError> {
        if !valid_table_name(&self.table) {
            return Err(config_error(format!(
                "invalid session table name {:?}: use letters, digits and _, at most {MAX_TABLE_NAME} \
                 characters, not starting with a digit",
                self.table
            )));
        }
        if self.deadline.is_zero() {
            return Err(config_error(
                "the session store deadline must be positive".to_owned(),
            ));
        }
        let dialect = Dialect::of_url(&self.url)?;
        let pool = self.pool(dialect)?;
        Ok(DatabaseStore {
            inner: Arc::new(Inner {
                pool,
                dialect,
                sql: Queries::new(dialect, &self.table),
                deadline: self.deadline,
                table: self.table,
                #[cfg(feature = "sqlite")]
                batch: Default::default(),
            }),
        })
    }

    fn pool(&self, dialect: Dialect) -> Result<Pool, StoreError> {
        let bad_url =
            |error: sqlx::Error| config_error(format!("invalid {} URL: {error}", dialect.name()));
        match dialect {
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => {
                use sqlx::sqlite::{
                    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
                };
                let in_memory = self.url.contains(":memory:") || self.url.contains("mode=memory");
                let mut options = SqliteConnectOptions::from_str(&self.url)
                    .map_err(bad_url)?
                    .create_if_missing(true)
                    .busy_timeout(self.acquire_timeout.min(self.deadline))
                    .synchronous(SqliteSynchronous::Normal)
                    .pragma("temp_store", "memory");
                let mut pool = SqlitePoolOptions::new()
                    .acquire_timeout(self.acquire_timeout)
                    .max_connections(self.max_connections)
                    .test_before_acquire(false);
                if in_memory {
                    pool = pool
                        .max_connections(1)
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None);
                } else {
                    options = options.journal_mode(SqliteJournalMode::Wal);
                }
                Ok(Pool::Sqlite(pool.connect_lazy_with(options)))
            }
            #[cfg(feature = "postgres")]
            Dialect::Postgres => {
                let options =
                    sqlx::postgres::PgConnectOptions::from_str(&self.url).map_err(bad_url)?;
                Ok(Pool::Postgres(
                    sqlx::postgres::PgPoolOptions::new()
                        .acquire_timeout(self.acquire_timeout)
                        .max_connections(self.max_connections)
                        .connect_lazy_with(options),
                ))
            }
            #[cfg(feature = "mysql")]
            Dialect::MySql => {
                let url = match self.url.split_once("://") {
                    Some((scheme, rest)) if scheme.eq_ignore_ascii_case("mariadb") => {
                        format!("mysql://{rest}")
                    }
                    _ => self.url.clone(),
                };
                let options = sqlx::mysql::MySqlConnectOptions::from_str(&url).map_err(bad_url)?;
                Ok(Pool::MySql(
                    sqlx::mysql::MySqlPoolOptions::new()
                        .acquire_timeout(self.acquire_timeout)
                        .max_connections(self.max_connections)
                        .connect_lazy_with(options),
                ))
            }
            #[allow(unreachable_patterns)]
            other => Err(config_error(format!(
                "{} sessions need the `{}` feature of tower-sessions-kit",
                other.name(),
                other.name()
            ))),
        }
    }
}

/// The longest session table name: PostgreSQL identifiers hold 63 bytes and MySQL's 64 characters, and the
/// index is named `<table>_expire_date` (12 more).
pub const MAX_TABLE_NAME: usize = 63 - "_expire_date".len();

/// A plain identifier of at most [`MAX_TABLE_NAME`] bytes, not starting with `sqlite_` (any case): SQLite
/// reserves those names, and refusing them everywhere keeps a table name valid on every database.
fn valid_table_name(name: &str) -> bool {
    let reserved = name
        .get(..7)
        .is_some_and(|start| start.eq_ignore_ascii_case("sqlite_"));
    let mut bytes = name.bytes();
    !reserved
        && matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && name.len() <= MAX_TABLE_NAME
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Runs `$body` with `$pool` bound to whichever pool the store has.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.inner.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite($pool) => $body,
            #[cfg(feature = "postgres")]
            Pool::Postgres($pool) => $body,
            #[cfg(feature = "mysql")]
            Pool::MySql($pool) => $body,
        }
    };
}

/// Runs `$body` (which may `.await`) with `$conn` a [`Checkout`] of whichever pool the store has: the
/// connection goes back to the pool when the body ran to its end, and is closed if it was abandoned.
macro_rules! with_conn {
    ($store:expr, $conn:ident => $body:expr) => {
        on_pool!($store, pool => async {
            let mut $conn = Checkout::acquire(pool).await?;
            let result = $body;
            $conn.finish();
            result
        }
        .await)
    };
}

impl DatabaseStore {
    /// Settings for a store on `url`: `sqlite://path/sessions.db`, `sqlite::memory:`,
    /// `postgres://user@host/db`, `mysql://user@host/db` (or `mariadb://`).
    pub fn builder(url: impl Into<String>) -> DatabaseStoreBuilder {
        DatabaseStoreBuilder {
            url: url.into(),
            table: DEFAULT_TABLE.to_owned(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            deadline: DEFAULT_DEADLINE,
        }
    }

    /// A store on `url` with the default table and pool settings.
    pub async fn connect(url: impl Into<String>) -> Result<DatabaseStore, StoreError> {
        DatabaseStore::builder(url).connect().await
    }

    /// Creates the table and its index if they are missing (idempotent; Django's `migrate`). Bounded by
    /// the deadline, or [`MAINTENANCE_DEADLINE`] if that is longer.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrate = async {
            for statement in &self.inner.sql.migrate {
                with_conn!(self, conn => sqlx::query(statement).execute(&mut *conn).await.map(drop))
                    .map_err(|error| self.error(error))?;
            }
            Ok(())
        };
        self.bounded(self.inner.deadline.max(MAINTENANCE_DEADLINE), migrate)
            .await
    }

    /// The table sessions are kept in.
    pub fn table(&self) -> &str {
        &self.inner.table
    }

    /// Closes the pool's connections (tests and shutdown).
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }

    fn dialect_name(&self) -> &'static str {
        self.inner.dialect.name()
    }

    /// `operation`, abandoned with [`StoreError::TimedOut`] after `limit`.
    async fn bounded<T>(
        &self,
        limit: Duration,
        operation: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        within(self.dialect_name(), Deadline::after(limit), operation).await
    }

    fn error(&self, error: sqlx::Error) -> StoreError {
        let missing_table = error.as_database_error().is_some_and(|e| {
            let message = e.message().to_ascii_lowercase();
            message.contains("no such table")
                || message.contains("does not exist")
                || message.contains("doesn't exist")
        });
        if missing_table {
            return StoreError::backend(
                self.dialect_name(),
                format!(
                    "{error} (the session table {:?} is missing: call DatabaseStore::migrate)",
                    self.inner.table
                ),
            );
        }
        StoreError::backend(self.dialect_name(), error)
    }

    fn now_millis() -> i64 {
        unix_millis(SystemTime::now())
    }

    fn decode_row(&self, row: Result<&str, impl std::fmt::Display>) -> Data {
        match row {
            Ok(text) => record::decode(self.dialect_name(), text.as_bytes()),
            Err(error) => {
                tracing::warn!(store = self.dialect_name(), %error, "unreadable session row: using an empty session");
                Data::new()
            }
        }
    }
}

/// Runs inside a `save` transaction after the `UPDATE` and before the `COMMIT`, while the row is
/// locked: [`CachedDatabaseStore`](super::CachedDatabaseStore) writes its cache entry there, so cache
/// writes of concurrent saves happen in commit order.
#[async_trait]
pub(crate) trait BeforeCommit: Send + Sync {
    async fn before_commit(&self, data: &Data);

    /// The most time `before_commit` takes: the save's deadline is extended by it, so the hook cannot
    /// use up the database's time.
    fn budget(&self) -> Duration;
}

/// The body of `save` inside an open transaction `$tx`, shared by every database.
macro_rules! save_in_transaction {
    ($self:ident, $tx:ident, $key:ident, $request:ident, $hook:ident) => {{
        let row = sqlx::query(&$self.inner.sql.lock)
            .bind($key.as_str())
            .fetch_optional(&mut *$tx)
            .await
            .map_err(|e| $self.error(e))?;
        let Some(row) = row else {
            // Dropping the transaction rolls it back.
            return Err(StoreError::Gone);
        };
        let stored = row.try_get::<String, _>(0);
        let (data, text, expires) = $self.merge(stored.as_deref(), &$request);
        sqlx::query(&$self.inner.sql.update)
            .bind(text)
            .bind(expires)
            .bind($key.as_str())
            .execute(&mut *$tx)
            .await
            .map_err(|e| $self.error(e))?;
        if let Some(hook) = $hook {
            hook.before_commit(&data).await;
        }
        $tx.commit().await.map_err(|e| $self.error(e))?;
        Ok(Saved {
            new_key: None,
            merged: Some(data),
        })
    }};
}

/// `save` on a PostgreSQL or MySQL pool `$pool`: the transaction on a [`Checkout`], so that a save
/// abandoned at its deadline closes its connection (and the server rolls the transaction back).
#[cfg(any(feature = "postgres", feature = "mysql"))]
macro_rules! save_on_server {
    ($self:ident, $pool:ident, $key:ident, $request:ident, $hook:ident) => {{
        let mut conn = Checkout::acquire($pool).await.map_err(|e| $self.error(e))?;
        let saved = async {
            let mut tx = sqlx::Connection::begin(&mut *conn)
                .await
                .map_err(|e| $self.error(e))?;
            save_in_transaction!($self, tx, $key, $request, $hook)
        }
        .await;
        conn.finish();
        saved
    }};
}

/// Columns `first` (data) and `first + 1` (expiry) of `row`.
fn raw_row<R: Row>(row: &R, first: usize) -> RawRow
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    (
        row.try_get::<String, _>(first)
            .map_err(|error| error.to_string()),
        row.try_get::<i64, _>(first + 1).ok(),
    )
}

#[cfg(feature = "sqlite")]
impl super::load_batch::BatchSource for DatabaseStore {
    type Row = RawRow;

    fn batch(&self) -> &super::load_batch::LoadBatch<RawRow> {
        &self.inner.batch
    }

    async fn fetch_one(&self, key: &SessionKey) -> Result<Option<RawRow>, StoreError> {
        self.fetch_row(key).await
    }

    async fn fetch_many(
        &self,
        keys: &[&str],
    ) -> Result<std::collections::HashMap<String, RawRow>, StoreError> {
        let pool = match &self.inner.pool {
            Pool::Sqlite(pool) => pool,
            #[allow(unreachable_patterns)]
            _ => return Err(config_error("batched loads are for SQLite".to_owned())),
        };
        let keys =
            serde_json::to_string(keys).map_err(|e| StoreError::backend(self.dialect_name(), e))?;
        let rows = sqlx::query(&self.inner.sql.load_many)
            .bind(keys)
            .bind(Self::now_millis())
            .fetch_all(pool)
            .await
            .map_err(|error| self.error(error))?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                let key = row.try_get::<String, _>(0).ok()?;
                Some((key, raw_row(row, 1)))
            })
            .collect())
    }
}

impl DatabaseStore {
    /// The live row's data, expiry, and text as stored (when it could be read as text). One deadline in
    /// all, a wait for coalesced loads included.
    pub(crate) async fn load_row(
        &self,
        key: &SessionKey,
    ) -> Result<Option<(Data, SystemTime, Option<Arc<str>>)>, StoreError> {
        let read = async {
            match &self.inner.pool {
                // Coalesced with the loads running at the same time.
                #[cfg(feature = "sqlite")]
                Pool::Sqlite(_) => super::load_batch::load(self, key).await,
                #[allow(unreachable_patterns)]
                _ => self.fetch_row(key).await,
            }
        };
        let row = self.bounded(self.inner.deadline, read).await?;
        let Some((data, expires)) = row else {
            return Ok(None);
        };
        let snapshot = data.as_deref().ok().map(Arc::from);
        let data = self.decode_row(data.as_deref());
        let expires = expires
            .and_then(|ms| u64::try_from(ms).ok())
            .map_or(SystemTime::now(), |ms| {
                SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
            });
        Ok(Some((data, expires, snapshot)))
    }

    /// The live row under `key`, by one query.
    async fn fetch_row(&self, key: &SessionKey) -> Result<Option<RawRow>, StoreError> {
        let now = Self::now_millis();
        let sql = &self.inner.sql.load;
        with_conn!(self, conn => {
            sqlx::query(sql)
                .bind(key.as_str())
                .bind(now)
                .fetch_optional(&mut *conn)
                .await
                .map(|row| row.map(|row| raw_row(&row, 0)))
        })
        .map_err(|error| self.error(error))
    }

    /// The stored data (as read from the row) with this request's changes applied: the data, its text
    /// and its expiry in Unix milliseconds.
    fn merge(
        &self,
        stored: Result<&str, &sqlx::Error>,
        request: &SaveRequest<'_>,
    ) -> (Data, String, i64) {
        let mut data = self.decode_row(stored);
        request.changes.apply_to(&mut data);
        let text = String::from_utf8(record::encode(&data)).unwrap_or_else(|_| "{}".to_owned());
        let expires = unix_millis(expiry::date(&data, SystemTime::now(), request.cookie_age));
        (data, text, expires)
    }

    /// SQLite's optimistic save: merge onto the row as this request loaded it ([`SaveRequest::snapshot`])
    /// or, without one, as read now; write only if the row is unchanged. `Ok(None)` when it changed in
    /// between (or could not be read as text): the caller runs the locking transaction.
    #[cfg(feature = "sqlite")]
    async fn save_if_unchanged(
        &self,
        pool: &sqlx::SqlitePool,
        key: &SessionKey,
        request: &SaveRequest<'_>,
    ) -> Result<Option<Saved>, StoreError> {
        let stored: std::borrow::Cow<'_, str> = match request.snapshot {
            Some(snapshot) => snapshot.into(),
            None => {
                let row = sqlx::query(&self.inner.sql.lock)
                    .bind(key.as_str())
                    .fetch_optional(pool)
                    .await
                    .map_err(|e| self.error(e))?;
                let Some(row) = row else {
                    return Err(StoreError::Gone);
                };
                let Ok(stored) = row.try_get::<String, _>(0) else {
                    return Ok(None);
                };
                stored.into()
            }
        };
        let (data, text, expires) = self.merge(Ok(&stored), request);
        let done = sqlx::query(&self.inner.sql.update_if_unchanged)
            .bind(text)
            .bind(expires)
            .bind(key.as_str())
            .bind(stored.as_ref())
            .execute(pool)
            .await
            .map_err(|e| self.error(e))?;
        Ok((done.rows_affected() == 1).then_some(Saved {
            new_key: None,
            merged: Some(data),
        }))
    }

    /// `save`, running `hook` before the commit: bounded by the deadline plus the hook's budget.
    pub(crate) async fn save_hooked(
        &self,
        key: &SessionKey,
        request: SaveRequest<'_>,
        hook: Option<&dyn BeforeCommit>,
    ) -> Result<Saved, StoreError> {
        let limit = self
            .inner
            .deadline
            .saturating_add(hook.map_or(Duration::ZERO, |hook| hook.budget()));
        self.bounded(limit, self.save_unbounded(key, request, hook))
            .await
    }

    async fn save_unbounded(
        &self,
        key: &SessionKey,
        request: SaveRequest<'_>,
        hook: Option<&dyn BeforeCommit>,
    ) -> Result<Saved, StoreError> {
        match &self.inner.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => {
                // A hook must run while the row is locked, which only the transaction does.
                if hook.is_none() {
                    if let Some(saved) = self.save_if_unchanged(pool, key, &request).await? {
                        return Ok(saved);
                    }
                }
                let mut tx = pool
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(|e| self.error(e))?;
                save_in_transaction!(self, tx, key, request, hook)
            }
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => save_on_server!(self, pool, key, request, hook),
            #[cfg(feature = "mysql")]
            Pool::MySql(pool) => save_on_server!(self, pool, key, request, hook),
        }
    }
}

#[async_trait]
impl SessionStore for DatabaseStore {
    fn name(&self) -> &'static str {
        self.dialect_name()
    }

    /// The [deadline](DatabaseStoreBuilder::deadline).
    fn deadline(&self) -> Option<Duration> {
        Some(self.inner.deadline)
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>, StoreError> {
        Ok(self.load_row(key).await?.map(|(data, _, snapshot)| Loaded {
            snapshot,
            ..Loaded::new(data)
        }))
    }

    async fn create(&self, data: &Data, cookie_age: Duration) -> Result<SessionKey, StoreError> {
        let text = String::from_utf8(record::encode(data)).unwrap_or_else(|_| "{}".to_owned());
        let expires = unix_millis(expiry::date(data, SystemTime::now(), cookie_age));
        let sql = &self.inner.sql.insert;
        let create = create_with_retries(self.dialect_name(), CREATE_ATTEMPTS, |key| {
            let text = text.clone();
            async move {
                let result = with_conn!(self, conn => {
                    sqlx::query(sql)
                        .bind(key.as_str())
                        .bind(text)
                        .bind(expires)
                        .execute(&mut *conn)
                        .await
                        .map(drop)
                });
                match result {
                    Ok(()) => Ok(true),
                    Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Ok(false),
                    Err(error) => Err(self.error(error)),
                }
            }
        });
        self.bounded(self.inner.deadline, create).await
    }

    async fn save(&self, key: &SessionKey, request: SaveRequest<'_>) -> Result<Saved, StoreError> {
        self.save_hooked(key, request, None).await
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        let sql = &self.inner.sql.delete;
        let delete = async {
            with_conn!(self, conn => sqlx::query(sql).bind(key.as_str()).execute(&mut *conn).await.map(drop))
                .map_err(|error| self.error(error))
        };
        self.bounded(self.inner.deadline, delete).await
    }

    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let sql = &self.inner.sql.exists;
        let exists = async {
            with_conn!(self, conn => sqlx::query(sql).bind(key.as_str()).fetch_optional(&mut *conn).await.map(|row| row.is_some()))
                .map_err(|error| self.error(error))
        };
        self.bounded(self.inner.deadline, exists).await
    }

    /// Bounded by the deadline, or [`MAINTENANCE_DEADLINE`] if that is longer.
    async fn clear_expired(&self) -> Result<u64, StoreError> {
        let now = Self::now_millis();
        let sql = &self.inner.sql.clear_expired;
        let clear = async {
            with_conn!(self, conn => sqlx::query(sql).bind(now).execute(&mut *conn).await.map(|done| done.rows_affected()))
                .map_err(|error| self.error(error))
        };
        self.bounded(self.inner.deadline.max(MAINTENANCE_DEADLINE), clear)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_identifiers() {
        assert!(valid_table_name("sessions"));
        assert!(valid_table_name("_s1"));
        assert!(!valid_table_name("1s"));
        assert!(!valid_table_name("s; DROP TABLE x"));
        assert!(!valid_table_name("s\"x"));
        assert!(!valid_table_name(""));
        assert!(valid_table_name(&"s".repeat(MAX_TABLE_NAME)));
        assert!(!valid_table_name(&"s".repeat(MAX_TABLE_NAME + 1)));
    }

    #[test]
    fn postgres_numbers_its_placeholders() {
        let sql = Queries::new(Dialect::Postgres, "t");
        assert!(sql.update.contains("$3"), "{}", sql.update);
        assert!(sql.lock.ends_with("FOR UPDATE"));
        let sql = Queries::new(Dialect::Sqlite, "t");
        assert!(!sql.lock.contains("FOR UPDATE"));
    }
}
