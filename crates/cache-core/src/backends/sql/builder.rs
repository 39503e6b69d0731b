//! [`DatabaseBackendBuilder`]: settings, and the pool built from a URL (or taken as given).

use std::sync::Arc;
use std::time::Duration;

use super::cull::{Culling, DEFAULT_CULL_FREQUENCY, DEFAULT_MAX_ENTRIES};
use super::error::{connect_error, open_error};
use super::statements::{validate_table, Layout, Statements};
use super::{DatabaseBackend, Inner};
use crate::error::Result;
use crate::sql::{Dialect, PoolSettings, SqlError, SqlPool};
use crate::url::redact;

/// Django's default table name for `createcachetable` examples.
pub(crate) const DEFAULT_TABLE: &str = "cache_table";

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
    layout: Layout,
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
            .field("layout", &self.layout)
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
        let defaults = PoolSettings::default();
        DatabaseBackendBuilder {
            source,
            table: DEFAULT_TABLE.to_owned(),
            max_entries: DEFAULT_MAX_ENTRIES,
            cull_frequency: DEFAULT_CULL_FREQUENCY,
            connect_timeout: defaults.acquire_timeout,
            operation_timeout: defaults.operation_timeout,
            max_connections: defaults.max_connections,
            layout: Layout::default(),
        }
    }

    /// Uses Django's cache table as Django's `createcachetable` makes it, so a Django project whose
    /// [`DatabaseCache`](https://docs.djangoproject.com/en/5.2/topics/cache/#database-caching) has this
    /// table as its `LOCATION` shares the entries: `cache_key varchar(255)`, `value` holding
    /// `base64(pickle.dumps(value))`, `expires` a date-time in UTC (text on SQLite, `timestamp with time
    /// zone` on PostgreSQL, `datetime(6)` on MySQL; a never-expiring entry holds 9999-12-31 23:59:59).
    /// [`create_table`](super::DatabaseBackend::create_table) makes that table when it is missing. Pair it
    /// with [`ValueFormat::DjangoPickle`](crate::ValueFormat::DjangoPickle) on the [`Cache`](crate::Cache)
    /// (a database URL with `value_format=django` does both).
    pub fn django_layout(mut self) -> Self {
        self.layout = Layout::Django;
        self
    }

    crate::setters::setters! {
        /// The cache table (default `cache_table`, Django's `LOCATION`). Any name the database accepts as
        /// one identifier: it is always quoted, so spaces and quotes are fine; it is not schema-qualified (a
        /// `.` is part of the name — choose the schema or database in the URL). PostgreSQL takes up to 55
        /// bytes (the index name adds `_expires` within its 63), MySQL 64 characters not ending with a
        /// space, and SQLite refuses names starting with `sqlite_` (any case). A name the database would
        /// refuse is an [`Error::Config`](crate::Error::Config) when the backend is built.
        table: impl Into<String> => into,
        /// The row count above which writes cull (default 300, Django's `MAX_ENTRIES`). Zero is an
        /// [`Error::Config`](crate::Error::Config) when the backend is built.
        max_entries: u64,
        /// Culling deletes `1/cull_frequency` of the rows (default 3, Django's `CULL_FREQUENCY`); 0 empties
        /// the table instead.
        cull_frequency: u64,
        /// How long to wait for a connection, from the pool or newly opened (default 1 s), so an
        /// unreachable server is an error quickly. Applies to pools this builder makes from a URL; a pool
        /// you pass in keeps its own `acquire_timeout`. Zero is an [`Error::Config`](crate::Error::Config)
        /// when the backend is built.
        connect_timeout: Duration,
        /// How long one operation may take in all, waiting for a connection included (default 1 s). A
        /// server that accepts a connection and then stops answering is an
        /// [`Error::Backend`](crate::Error::Backend) after this long, and the connection is thrown away.
        /// SQLite waits for a locked database up to the same limit (its busy timeout). Zero is an
        /// [`Error::Config`](crate::Error::Config) when the backend is built.
        operation_timeout: Duration,
        /// The most connections the pool opens (default 10; an in-memory SQLite database always uses 1).
        /// Applies to pools made from a URL. Zero is an [`Error::Config`](crate::Error::Config) when the
        /// backend is built.
        max_connections: u32,
    }

    /// Builds the backend and checks that the database can be reached (one connection is opened, or taken
    /// from your pool). [`Error::Config`](crate::Error::Config) for a bad URL or setting,
    /// [`Error::UnknownScheme`](crate::Error::UnknownScheme) for a database this build has no feature for,
    /// [`Error::Backend`](crate::Error::Backend) when the database cannot be opened or reached. The table
    /// is not created: call [`DatabaseBackend::create_table`].
    pub async fn connect(self) -> Result<DatabaseBackend> {
        let target = self.target();
        let backend = self.build()?;
        let dialect = backend.inner.dialect;
        let acquired = tokio::time::timeout(
            backend.inner.operation_timeout,
            backend.inner.pool.acquire(),
        )
        .await;
        match acquired {
            Ok(Ok(conn)) => {
                conn.finish();
                Ok(backend)
            }
            Ok(Err(error)) => Err(connect_error(&target, error)),
            Err(_) => Err(connect_error(
                &target,
                SqlError::new(dialect, sqlx::Error::PoolTimedOut),
            )),
        }
    }

    /// Builds the backend without connecting: the first operation connects. Errors only for a bad URL or
    /// setting. Must be called inside a Tokio runtime (sqlx starts its pool maintenance task);
    /// [`Error::Config`](crate::Error::Config) otherwise.
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
        let settings = PoolSettings {
            acquire_timeout: self.connect_timeout,
            operation_timeout: self.operation_timeout,
            max_connections: self.max_connections,
        };
        settings.check().map_err(open_error)?;
        let culling = Culling::new(self.max_entries, self.cull_frequency)?;
        let dialect = match &self.source {
            Source::Url(url) => Dialect::of_url(url).map_err(open_error)?,
            Source::Pool(pool) => pool.dialect(),
        };
        validate_table(dialect, &self.table)?;
        let pool = match &self.source {
            Source::Url(url) => SqlPool::connect_lazy(url, &settings).map_err(open_error)?,
            Source::Pool(pool) => pool.clone(),
        };
        Ok(DatabaseBackend {
            inner: Arc::new(Inner {
                pool,
                dialect,
                sql: Statements::new(dialect, &self.table, self.layout),
                table: self.table,
                culling,
                operation_timeout: self.operation_timeout,
            }),
        })
    }
}
