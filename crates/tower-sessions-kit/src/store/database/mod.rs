//! [`DatabaseStore`]: sessions in a SQL table (Django's default `db` engine) on SQLite, PostgreSQL or
//! MySQL/MariaDB, on cache-core's SQL foundation ([`cache_core::sql`]): one pool type, dialect, URL
//! handling and set of connection rules for the database cache and this store.

mod builder;
mod format;
mod load;
mod merge;
mod queries;
mod save;
#[cfg(feature = "sqlite")]
mod save_batch;
mod users;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use cache_core::sql::{Bind, SqlError, SqlPool};

#[cfg(feature = "django")]
pub(crate) use builder::valid_table_name;
pub use builder::{DatabaseStoreBuilder, DEFAULT_TABLE, DJANGO_TABLE, MAX_TABLE_NAME};
#[cfg(feature = "cache")]
pub(crate) use save::BeforeCommit;

use super::{create_with_retries, Loaded, SaveRequest, Saved, SessionStore, StoreError};
use crate::deadline::{within, Deadline, Within};
use crate::expiry::{self, unix_millis};
use crate::key::SessionKey;
use crate::record::user_of;
use crate::record::Data;
use crate::store::contract::UserIndex;
use format::RowFormat;
use queries::Queries;

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
/// | `expire_date` | INTEGER (Unix ms) | BIGINT (Unix ms)     | BIGINT (Unix ms)                |
/// | `user_id`     | TEXT, NULL        | VARCHAR(150), NULL   | VARCHAR(150), NULL              |
///
/// plus an index on `expire_date` for [`clear_expired`](SessionStore::clear_expired) and one on `user_id`
/// for [sessions by user](crate::users) (`migrate` adds the column and its index to a table made by an
/// earlier version). Django's table is
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
/// - `save`: this request's changes merged onto the row as it is now, never the whole record overwritten,
///   so concurrent saves of one session all keep their writes (writes to the same key: the last save
///   wins). No row (deleted meanwhile; a merely expired row counts as present, as in Django) →
///   [`StoreError::Gone`]. How, per database:
///   - **PostgreSQL: one statement.** The database merges: `session_data::jsonb - <removed keys> ||
///     <set keys>` in one `UPDATE`, serialized by the row's lock, no read and no transaction. A row
///     whose data `jsonb` refuses (corrupted, or holding `\u0000`) falls back to the transaction below.
///   - **SQLite: one statement when uncontended.** The save merges onto the row as this request loaded
///     it and writes with `UPDATE … WHERE session_data = <as loaded>`; only when another save changed
///     the row in between does it run the transaction, and the saves that fall back while one runs
///     share the next: one transaction merges them all, each session's saves in arrival order. Saves that arrive while one is being written
///     are written together by one `UPDATE … FROM json_each(?) … RETURNING` (one write transaction for
///     all, each row still written only if unchanged), so concurrent saves of different sessions
///     neither queue one transaction each nor sleep in SQLite's busy handler. A store's writes to SQLite
///     (these statements and the transactions below) take turns in arrival order in the process, so
///     many requests saving one session queue fairly instead of in the busy handler.
///   - **MySQL/MariaDB, and the fallbacks: one transaction** — SQLite `BEGIN IMMEDIATE`, the others
///     `SELECT … FOR UPDATE` — reads the row, applies the changes, `UPDATE`s. (MySQL has no per-key
///     JSON merge that is safe for every key name and value, so it keeps the transaction.)
/// - `clear_expired`: `DELETE … WHERE expire_date < now`.
///
/// **Deadline.** Every operation — waiting for a pooled connection included — is bounded by the
/// [deadline](DatabaseStoreBuilder::deadline) (default [`DEFAULT_DEADLINE`](super::DEFAULT_DEADLINE), 1 s,
/// as cache-core's database cache): past it the operation is abandoned with [`StoreError::TimedOut`], never a hang, even
/// against a server that stopped answering. `migrate` and `clear_expired`, which are not request work, get
/// at least [`MAINTENANCE_DEADLINE`]. A PostgreSQL or MySQL connection whose statement was abandoned is
/// closed rather than returned to the pool (it may be stuck mid-protocol), so the server rolls back what
/// it had not committed. A save abandoned after its `COMMIT` reached the server is still applied by the
/// server, though the request was answered with an error; since a save applies this request's changes
/// (see [`SessionStore::save`]), the client's retry gives the same record.
///
/// **Connections** are cache-core's [SQL foundation](cache_core::sql), shared with its database cache:
/// SQLite file databases use WAL with `synchronous=NORMAL` (readers never wait for writers; durable across
/// process crashes, the last commits may be lost on power loss — the usual choice for a web app), a busy
/// timeout of the deadline (a locked database is waited for as long as the operation may take), and
/// connections that are not pinged before each use (a local file cannot drop the connection).
/// `sqlite::memory:` keeps a single connection for its lifetime. PostgreSQL and MySQL pools check idle
/// connections before use, so the store recovers after a server restart.
#[derive(Debug, Clone)]
pub struct DatabaseStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: SqlPool,
    table: String,
    sql: Queries,
    /// How the data column holds a session.
    format: Arc<dyn RowFormat>,
    /// The bound of every operation.
    deadline: Duration,
    /// SQLite loads arriving while one runs, read together (see [`load_batch`](super::load_batch)).
    #[cfg(feature = "sqlite")]
    batch: super::load_batch::LoadBatch<RawRow>,
    /// SQLite's optimistic saves arriving while one is written, written together.
    #[cfg(feature = "sqlite")]
    saves: save_batch::SaveBatch,
    /// SQLite's saves that fell back to the merging transaction while one runs, merged in the next.
    #[cfg(feature = "sqlite")]
    merges: save_batch::MergeBatch,
    /// SQLite writes one transaction at a time. This store's saves queue here, in arrival order
    /// (tokio's mutex is fair), instead of in SQLite's busy handler, which sleeps 1, 2, 5, … 100 ms
    /// between tries and so lets a save wait past its deadline while later ones go first: 32 requests
    /// saving one session made saves time out without it.
    #[cfg(feature = "sqlite")]
    writer: tokio::sync::Mutex<()>,
}

/// A live row as read: its data (or why it could not be read as text) and its expiry in Unix
/// milliseconds (`None` when unreadable).
type RawRow = (Result<String, String>, Option<i64>);

/// A text column, or why it could not be read (NULL, or not text).
fn text_or_reason(column: Result<Option<String>, SqlError>) -> Result<String, String> {
    match column {
        Ok(Some(text)) => Ok(text),
        Ok(None) => Err("the session data is NULL".to_owned()),
        Err(error) => Err(error.to_string()),
    }
}

fn now_millis() -> i64 {
    unix_millis(SystemTime::now())
}

impl DatabaseStore {
    /// Settings for a store on `url`: `sqlite://path/sessions.db`, `sqlite::memory:`,
    /// `postgres://user@host/db`, `mysql://user@host/db` (or `mariadb://`).
    pub fn builder(url: impl Into<String>) -> DatabaseStoreBuilder {
        DatabaseStoreBuilder::new(url.into())
    }

    /// A store on `url` with the default table and pool settings.
    pub async fn connect(url: impl Into<String>) -> Result<DatabaseStore, StoreError> {
        DatabaseStore::builder(url).connect().await
    }

    /// Creates the table and its indexes if they are missing, and adds the `user_id` column to a table
    /// made before it existed (idempotent; Django's `migrate`). Bounded by the deadline, or
    /// [`MAINTENANCE_DEADLINE`] if that is longer.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let sql = &self.inner.sql;
        let migrate = async {
            for statement in &sql.migrate {
                self.execute_ddl(statement).await?;
            }
            let columns = match &sql.has_user_column {
                Some(count) => self
                    .inner
                    .pool
                    .fetch_optional(count, &[], |row| row.int(0))
                    .await
                    .map_err(|error| self.error(error))?,
                None => None,
            };
            if let Some(Ok(Some(0))) = columns {
                tracing::info!(table = %self.inner.table, "adding the user_id column to the session table");
                self.execute_ddl(&sql.add_user_column).await?;
            }
            for statement in &sql.migrate_indexes {
                self.execute_ddl(statement).await?;
            }
            Ok(())
        };
        self.bounded(self.inner.deadline.max(MAINTENANCE_DEADLINE), migrate)
            .await
    }

    /// Runs one statement of `migrate`.
    async fn execute_ddl(&self, statement: &str) -> Result<(), StoreError> {
        self.inner
            .pool
            .execute(statement, &[])
            .await
            .map(drop)
            .map_err(|error| self.error(error))
    }

    /// The table sessions are kept in.
    pub fn table(&self) -> &str {
        &self.inner.table
    }

    /// Closes the pool's connections (tests and shutdown).
    pub async fn close(&self) {
        self.inner.pool.close().await
    }

    fn dialect_name(&self) -> &'static str {
        self.inner.pool.dialect().name()
    }

    /// `operation`, abandoned with [`StoreError::TimedOut`] after `limit`.
    ///
    /// A plain function, not an `async fn`: that would keep `operation` in its own state beside the
    /// `Within` holding it, doubling the size of every store future built on it.
    fn bounded<F, T>(&self, limit: Duration, operation: F) -> Within<F>
    where
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        within(self.dialect_name(), Deadline::after(limit), operation)
    }

    /// A statement's failure as the store's error, saying to call `migrate` when the table is missing.
    fn error(&self, error: SqlError) -> StoreError {
        if error.is_missing_table() {
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

    /// The binds of a row's values in a write (`insert` after the key, `update`, `update_if_unchanged`
    /// before it): data, expiry and, when the table has `user_id`, the user.
    fn row_binds<'a>(&self, text: &'a str, expires: i64, user: Option<&'a str>) -> Vec<Bind<'a>> {
        let mut binds = vec![Bind::Text(text), Bind::Int(expires)];
        if self.inner.sql.has_user {
            binds.push(Bind::OptionalText(user));
        }
        binds
    }

    fn decode_row(&self, row: Result<&str, impl std::fmt::Display>) -> Data {
        match row {
            Ok(text) => self.inner.format.decode(self.dialect_name(), text),
            Err(error) => {
                tracing::warn!(store = self.dialect_name(), %error, "unreadable session row: using an empty session");
                Data::new()
            }
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
        let text = self.inner.format.encode(data);
        let expires = unix_millis(expiry::date(data, SystemTime::now(), cookie_age));
        let text = text.as_str();
        let user = user_of(data);
        let create = create_with_retries(self.dialect_name(), CREATE_ATTEMPTS, |key| async move {
            let mut binds = vec![Bind::Text(key.as_str())];
            binds.extend(self.row_binds(text, expires, user));
            let inserted = self
                .inner
                .pool
                .execute_unless_duplicate(&self.inner.sql.insert, &binds)
                .await;
            match inserted {
                Ok(inserted) => Ok(inserted.is_some()),
                Err(error) => Err(self.error(error)),
            }
        });
        self.bounded(self.inner.deadline, create).await
    }

    async fn save(&self, key: &SessionKey, request: SaveRequest<'_>) -> Result<Saved, StoreError> {
        self.save_hooked(key, request, None).await
    }

    /// This crate's table only: Django's has no `user_id` column.
    fn users(&self) -> Option<&dyn UserIndex> {
        self.inner.sql.has_user.then_some(self as &dyn UserIndex)
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        let delete = async {
            let binds = [Bind::Text(key.as_str())];
            let deleted = self.inner.pool.execute(&self.inner.sql.delete, &binds);
            deleted.await.map(drop).map_err(|e| self.error(e))
        };
        self.bounded(self.inner.deadline, delete).await
    }

    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let exists = async {
            let binds = [Bind::Text(key.as_str())];
            let row = self
                .inner
                .pool
                .fetch_optional(&self.inner.sql.exists, &binds, |_row| ());
            row.await
                .map(|row| row.is_some())
                .map_err(|e| self.error(e))
        };
        self.bounded(self.inner.deadline, exists).await
    }

    /// Bounded by the deadline, or [`MAINTENANCE_DEADLINE`] if that is longer.
    async fn clear_expired(&self) -> Result<u64, StoreError> {
        let clear = async {
            let binds = [Bind::Int(now_millis())];
            let cleared = self
                .inner
                .pool
                .execute(&self.inner.sql.clear_expired, &binds);
            cleared.await.map_err(|e| self.error(e))
        };
        self.bounded(self.inner.deadline.max(MAINTENANCE_DEADLINE), clear)
            .await
    }
}
