//! [`DatabaseBackendBuilder`]: settings, and the pool built from a URL (or taken as given).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::pool::PoolOptions;

use super::conn::SqlPool;
use super::cull::{Culling, DEFAULT_CULL_FREQUENCY, DEFAULT_MAX_ENTRIES};
use super::dialect::{Dialect, Statements};
use super::error::connect_error;
use super::{DatabaseBackend, Inner};
use crate::error::{Error, Result};
use crate::url::redact;

/// Django's default table name for `createcachetable` examples.
pub(crate) const DEFAULT_TABLE: &str = "cache_table";

/// How long to wait for a connection (from the pool, or a new one) by default.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a whole operation may take by default.
pub(crate) const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(1);

/// Connections per pool by default (sqlx's default).
const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// Settings for a [`DatabaseBackend`]; finish with [`connect`](Self::connect) or
/// [`connect_lazy`](Self::connect_lazy).
#[must_use]
pub struct DatabaseBackendBuilder {
    source: Source,
    table: String,
    max_entries: u64,
    cull_frequency: u64,
    connect_timeout: Duration,
    operation_timeout: Duration,
    max_connections: u32,
}

enum Source {
    Url(String),
    Pool(SqlPool),
}

impl std::fmt::Debug for DatabaseBackendBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.source {
            Source::Url(url) => redact(url),
            Source::Pool(pool) => format!("{} pool", pool.dialect().name()),
        };
        f.debug_struct("DatabaseBackendBuilder")
            .field("source", &source)
            .field("table", &self.table)
            .field("max_entries", &self.max_entries)
            .field("cull_frequency", &self.cull_frequency)
            .field("connect_timeout", &self.connect_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl DatabaseBackendBuilder {
    pub(crate) fn from_url(url: String) -> Self {
        Self::new(Source::Url(url))
    }

    pub(crate) fn from_pool(pool: SqlPool) -> Self {
        Self::new(Source::Pool(pool))
    }

    fn new(source: Source) -> Self {
        DatabaseBackendBuilder {
            source,
            table: DEFAULT_TABLE.to_owned(),
            max_entries: DEFAULT_MAX_ENTRIES,
            cull_frequency: DEFAULT_CULL_FREQUENCY,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }

    /// The cache table (default `cache_table`, Django's `LOCATION`). Any name the database accepts as one
    /// identifier: it is always quoted, so spaces and quotes are fine; it is not schema-qualified (a `.` is
    /// part of the name — choose the schema or database in the URL). PostgreSQL takes up to 55 bytes (the
    /// index name adds `_expires` within its 63), MySQL 64 characters not ending with a space, and SQLite
    /// refuses names starting with `sqlite_` (any case). A name the database would refuse is an
    /// [`Error::Config`] when the backend is built.
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// The row count above which writes cull (default 300, Django's `MAX_ENTRIES`).
    pub fn max_entries(mut self, max_entries: u64) -> Self {
        self.max_entries = max_entries;
        self
    }

    /// Culling deletes `1/cull_frequency` of the rows (default 3, Django's `CULL_FREQUENCY`); 0 empties the
    /// table instead.
    pub fn cull_frequency(mut self, cull_frequency: u64) -> Self {
        self.cull_frequency = cull_frequency;
        self
    }

    /// How long to wait for a connection, from the pool or newly opened (default 1 s), so an unreachable
    /// server is an error quickly. Applies to pools this builder makes from a URL; a pool you pass in keeps
    /// its own `acquire_timeout`.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one operation may take in all, waiting for a connection included (default 1 s). A server
    /// that accepts a connection and then stops answering is an [`Error::Backend`] after this long, and the
    /// connection is thrown away. SQLite waits for a locked database up to the same limit (its busy
    /// timeout).
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// The most connections the pool opens (default 10; an in-memory SQLite database always uses 1). Applies
    /// to pools made from a URL.
    pub fn max_connections(mut self, max_connections: u32) -> Self {
        self.max_connections = max_connections;
        self
    }

    /// Builds the backend and checks that the database can be reached (one connection is opened, or taken
    /// from your pool). [`Error::Config`] for a bad URL or setting, [`Error::UnknownScheme`] for a database
    /// this build has no feature for, [`Error::Backend`] when the database cannot be opened or reached.
    /// The table is not created: call [`DatabaseBackend::create_table`].
    pub async fn connect(self) -> Result<DatabaseBackend> {
        let target = self.target();
        let backend = self.build()?;
        let dialect = backend.inner.dialect;
        let acquired = tokio::time::timeout(
            backend.inner.operation_timeout,
            backend.inner.pool.acquire_raw(),
        )
        .await;
        match acquired {
            Ok(Ok(())) => Ok(backend),
            Ok(Err(error)) => Err(connect_error(dialect, &target, error)),
            Err(_) => Err(connect_error(dialect, &target, sqlx::Error::PoolTimedOut)),
        }
    }

    /// Builds the backend without connecting: the first operation connects. Errors only for a bad URL or
    /// setting. Must be called inside a Tokio runtime (sqlx starts its pool maintenance task);
    /// [`Error::Config`] otherwise.
    pub fn connect_lazy(self) -> Result<DatabaseBackend> {
        self.build()
    }

    /// What the backend opens, for errors: the SQLite path or the URL without credentials.
    fn target(&self) -> String {
        match &self.source {
            Source::Url(url) => redact(url),
            Source::Pool(pool) => format!("the given {} pool", pool.dialect().name()),
        }
    }

    fn build(self) -> Result<DatabaseBackend> {
        if self.connect_timeout.is_zero() || self.operation_timeout.is_zero() {
            return Err(Error::Config(
                "database cache timeouts must be positive".to_owned(),
            ));
        }
        if self.max_connections == 0 {
            return Err(Error::Config(
                "database cache max_connections must be positive".to_owned(),
            ));
        }
        let culling = Culling::new(self.max_entries, self.cull_frequency)?;
        let dialect = match &self.source {
            Source::Url(url) => dialect_of_url(url)?,
            Source::Pool(pool) => pool.dialect(),
        };
        dialect.validate_table(&self.table)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Config(
                "a database cache must be built inside a Tokio runtime".to_owned(),
            ));
        }
        let pool = match &self.source {
            Source::Url(url) => self.pool_from_url(dialect, url)?,
            Source::Pool(pool) => pool.clone(),
        };
        Ok(DatabaseBackend {
            inner: Arc::new(Inner {
                pool,
                dialect,
                sql: Statements::new(dialect, &self.table),
                table: self.table,
                culling,
                operation_timeout: self.operation_timeout,
            }),
        })
    }

    fn pool_options<DB: sqlx::Database>(&self) -> PoolOptions<DB> {
        PoolOptions::new()
            .acquire_timeout(self.connect_timeout)
            .max_connections(self.max_connections)
            // A connection broken while idle (server restart, network cut) is found and replaced before
            // use, so the backend recovers from an outage without being rebuilt.
            .test_before_acquire(true)
    }

    fn pool_from_url(&self, dialect: Dialect, url: &str) -> Result<SqlPool> {
        let bad_url = |error: sqlx::Error| {
            Error::Config(format!(
                "invalid {} URL {}: {error}",
                dialect.name(),
                redact(url)
            ))
        };
        match dialect {
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => {
                use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
                let in_memory = url.contains(":memory:") || url.contains("mode=memory");
                let mut options = SqliteConnectOptions::from_str(url)
                    .map_err(bad_url)?
                    .create_if_missing(true)
                    .busy_timeout(self.operation_timeout)
                    .synchronous(SqliteSynchronous::Normal);
                let mut pool = self.pool_options::<sqlx::Sqlite>();
                if in_memory {
                    // The database lives as long as one connection to it: keep exactly one, forever.
                    pool = pool
                        .max_connections(1)
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None);
                } else {
                    options = options.journal_mode(SqliteJournalMode::Wal);
                }
                Ok(SqlPool::Sqlite(pool.connect_lazy_with(options)))
            }
            #[cfg(feature = "postgres")]
            Dialect::Postgres => {
                let options = sqlx::postgres::PgConnectOptions::from_str(url).map_err(bad_url)?;
                Ok(SqlPool::Postgres(
                    self.pool_options::<sqlx::Postgres>()
                        .connect_lazy_with(options),
                ))
            }
            #[cfg(feature = "mysql")]
            Dialect::MySql => {
                let url = match url.split_once("://") {
                    Some((scheme, rest)) if scheme.eq_ignore_ascii_case("mariadb") => {
                        format!("mysql://{rest}")
                    }
                    _ => url.to_owned(),
                };
                let options = sqlx::mysql::MySqlConnectOptions::from_str(&url).map_err(bad_url)?;
                Ok(SqlPool::MySql(
                    self.pool_options::<sqlx::MySql>()
                        .connect_lazy_with(options),
                ))
            }
            #[allow(unreachable_patterns)]
            other => Err(not_enabled(other.name(), url)),
        }
    }
}

/// The database schemes this build can open, by enabled feature.
pub(crate) fn enabled_schemes() -> Vec<&'static str> {
    let mut schemes = Vec::new();
    if cfg!(feature = "sqlite") {
        schemes.push("sqlite");
    }
    if cfg!(feature = "postgres") {
        schemes.extend(["postgres", "postgresql"]);
    }
    if cfg!(feature = "mysql") {
        schemes.extend(["mysql", "mariadb"]);
    }
    schemes
}

fn not_enabled(scheme: &str, url: &str) -> Error {
    Error::UnknownScheme {
        scheme: scheme.to_owned(),
        url: redact(url),
        known: enabled_schemes(),
    }
}

/// The database a URL names: `sqlite:` (`sqlite://path`, `sqlite::memory:`), `postgres://` or
/// `postgresql://`, `mysql://` or `mariadb://` — when its feature is enabled.
fn dialect_of_url(url: &str) -> Result<Dialect> {
    let scheme = url
        .split_once(':')
        .map(|(scheme, _)| scheme.to_ascii_lowercase())
        .ok_or_else(|| {
            Error::Config(format!(
                "database cache URL {:?} has no scheme (expected sqlite:, postgres:// or mysql://)",
                redact(url)
            ))
        })?;
    let dialect = match scheme.as_str() {
        "sqlite" => Dialect::Sqlite,
        "postgres" | "postgresql" => Dialect::Postgres,
        "mysql" | "mariadb" => Dialect::MySql,
        _ => return Err(not_enabled(&scheme, url)),
    };
    let enabled = match dialect {
        Dialect::Sqlite => cfg!(feature = "sqlite"),
        Dialect::Postgres => cfg!(feature = "postgres"),
        Dialect::MySql => cfg!(feature = "mysql"),
    };
    if enabled {
        Ok(dialect)
    } else {
        Err(not_enabled(&scheme, url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_map_to_dialects() {
        if cfg!(feature = "sqlite") {
            assert_eq!(
                dialect_of_url("sqlite::memory:").expect("valid"),
                Dialect::Sqlite
            );
            assert_eq!(
                dialect_of_url("SQLite://x.db").expect("valid"),
                Dialect::Sqlite
            );
        }
        match dialect_of_url("redis://user:secret@host") {
            Err(Error::UnknownScheme { scheme, url, known }) => {
                assert_eq!(scheme, "redis");
                assert!(!url.contains("secret"), "{url}");
                assert!(!known.is_empty());
            }
            other => panic!("expected UnknownScheme, got {other:?}"),
        }
        assert!(matches!(
            dialect_of_url("no scheme here"),
            Err(Error::Config(_))
        ));
    }
}
