//! [`SqlPool`] and how it is opened from a URL: the connection settings every SQL user of this workspace
//! shares (see the [module documentation](super)).

use std::str::FromStr;
use std::time::Duration;

use super::conn::{Bind, Conn, Pooled, SqlRow};
use super::{Dialect, OpenError, SqlError};
use crate::url::redact;

/// An sqlx pool of one of the enabled databases. Open one from a URL with [`connect_lazy`](Self::connect_lazy),
/// or wrap a pool you made (`From<SqlitePool>`, `From<PgPool>`, `From<MySqlPool>`); clones share the pool.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SqlPool {
    /// A SQLite pool (feature `sqlite`).
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    /// A PostgreSQL pool (feature `postgres`).
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    /// A MySQL/MariaDB pool (feature `mysql`).
    #[cfg(feature = "mysql")]
    MySql(sqlx::MySqlPool),
}

#[cfg(feature = "sqlite")]
impl From<sqlx::SqlitePool> for SqlPool {
    fn from(pool: sqlx::SqlitePool) -> Self {
        SqlPool::Sqlite(pool)
    }
}

#[cfg(feature = "postgres")]
impl From<sqlx::PgPool> for SqlPool {
    fn from(pool: sqlx::PgPool) -> Self {
        SqlPool::Postgres(pool)
    }
}

#[cfg(feature = "mysql")]
impl From<sqlx::MySqlPool> for SqlPool {
    fn from(pool: sqlx::MySqlPool) -> Self {
        SqlPool::MySql(pool)
    }
}

/// How a pool opened from a URL waits and how large it grows. Every value must be positive:
/// [`SqlPool::connect_lazy`] refuses the others with [`OpenError::InvalidSettings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// How long to wait for a connection, from the pool or newly opened, so that an unreachable server
    /// is an error quickly. Default 1 s.
    pub acquire_timeout: Duration,
    /// How long one operation may take. The pool's users bound their operations by it; SQLite waits this
    /// long for a locked database (its busy timeout, at most `i32::MAX` milliseconds: about 24 days).
    /// `Duration::MAX` for no bound. Default 1 s.
    pub operation_timeout: Duration,
    /// The most connections the pool opens (an in-memory SQLite database always uses 1). Default 10,
    /// sqlx's.
    pub max_connections: u32,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            acquire_timeout: Duration::from_secs(1),
            operation_timeout: Duration::from_secs(1),
            max_connections: 10,
        }
    }
}

impl PoolSettings {
    /// [`OpenError::InvalidSettings`] when a value is zero.
    pub fn check(&self) -> Result<(), OpenError> {
        if self.acquire_timeout.is_zero() || self.operation_timeout.is_zero() {
            return Err(OpenError::InvalidSettings("timeouts must be positive"));
        }
        if self.max_connections == 0 {
            return Err(OpenError::InvalidSettings(
                "max_connections must be positive",
            ));
        }
        Ok(())
    }

    /// SQLite's busy timeout: the operation timeout, within what SQLite takes (sqlx panics beyond it).
    #[cfg(feature = "sqlite")]
    fn busy_timeout(&self) -> Duration {
        const MAX: Duration = Duration::from_millis(i32::MAX as u64);
        self.operation_timeout.min(MAX)
    }

    fn pool_options<DB: sqlx::Database>(&self) -> sqlx::pool::PoolOptions<DB> {
        sqlx::pool::PoolOptions::new()
            .acquire_timeout(self.acquire_timeout)
            .max_connections(self.max_connections)
            // A server connection broken while idle (restart, network cut) is found and replaced before
            // use, so the pool recovers from an outage without being rebuilt.
            .test_before_acquire(true)
    }
}

/// Whether a SQLite URL names an in-memory database.
#[cfg(feature = "sqlite")]
fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

impl SqlPool {
    /// A pool for the database at `url` (`sqlite://path/app.db`, `sqlite::memory:`,
    /// `postgres://user:password@host/db`, `mysql://…` or `mariadb://…`; query parameters go to sqlx),
    /// opened with `settings` and the connection rules of the [module documentation](super). No connection
    /// is made until the first use. [`OpenError`] for invalid settings, a URL without a known scheme or
    /// that sqlx cannot read, or outside a Tokio runtime.
    pub fn connect_lazy(url: &str, settings: &PoolSettings) -> Result<SqlPool, OpenError> {
        settings.check()?;
        let dialect = Dialect::of_url(url)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(OpenError::NoRuntime);
        }
        #[allow(unused_variables)]
        let bad_url = |source: sqlx::Error| OpenError::InvalidUrl {
            dialect: dialect.name(),
            url: redact(url),
            source,
        };
        match dialect {
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => {
                use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
                let mut options = SqliteConnectOptions::from_str(url)
                    .map_err(bad_url)?
                    .create_if_missing(true)
                    .busy_timeout(settings.busy_timeout())
                    .synchronous(SqliteSynchronous::Normal)
                    .pragma("temp_store", "memory");
                // A local file cannot drop the connection: no ping before each use.
                let mut pool = settings
                    .pool_options::<sqlx::Sqlite>()
                    .test_before_acquire(false);
                if is_in_memory(url) {
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
                    settings
                        .pool_options::<sqlx::Postgres>()
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
                    settings
                        .pool_options::<sqlx::MySql>()
                        .connect_lazy_with(options),
                ))
            }
            // `of_url` answers only the enabled dialects.
            #[allow(unreachable_patterns)]
            other => Err(OpenError::UnknownScheme {
                scheme: other.name().to_owned(),
                url: redact(url),
                known: super::enabled_schemes(),
            }),
        }
    }

    /// Which database this pool talks to.
    pub fn dialect(&self) -> Dialect {
        match self {
            #[cfg(feature = "sqlite")]
            SqlPool::Sqlite(_) => Dialect::Sqlite,
            #[cfg(feature = "postgres")]
            SqlPool::Postgres(_) => Dialect::Postgres,
            #[cfg(feature = "mysql")]
            SqlPool::MySql(_) => Dialect::MySql,
        }
    }

    /// A connection for one operation (waiting at most the pool's acquire timeout). Call
    /// [`Conn::finish`] when the operation ran to its end; see [`Conn`].
    pub async fn acquire(&self) -> Result<Conn, SqlError> {
        let dialect = self.dialect();
        each_driver!(self, SqlPool, pool => pool
            .acquire()
            .await
            .map(|c| Conn::new(dialect, Pooled::from(c)))
            .map_err(|e| SqlError::new(dialect, e)))
    }

    /// Closes every connection and makes later acquires fail (for shutdown and tests).
    pub async fn close(&self) {
        each_driver!(self, SqlPool, pool => pool.close().await)
    }

    /// [`Exec::execute`](super::Exec::execute) (prepared) on a connection of its own.
    pub async fn execute(&self, sql: &str, binds: &[Bind<'_>]) -> Result<u64, SqlError> {
        let mut conn = self.acquire().await?;
        let done = conn.exec().execute(sql, binds, true).await;
        conn.finish();
        done
    }

    /// [`Exec::execute_unless_duplicate`](super::Exec::execute_unless_duplicate) (prepared) on a
    /// connection of its own.
    pub async fn execute_unless_duplicate(
        &self,
        sql: &str,
        binds: &[Bind<'_>],
    ) -> Result<Option<u64>, SqlError> {
        let mut conn = self.acquire().await?;
        let done = conn.exec().execute_unless_duplicate(sql, binds, true).await;
        conn.finish();
        done
    }

    /// [`Exec::fetch_optional`](super::Exec::fetch_optional) on a connection of its own.
    pub async fn fetch_optional<T>(
        &self,
        sql: &str,
        binds: &[Bind<'_>],
        read: impl FnOnce(SqlRow<'_>) -> T,
    ) -> Result<Option<T>, SqlError> {
        let mut conn = self.acquire().await?;
        let row = conn.exec().fetch_optional(sql, binds, read).await;
        conn.finish();
        row
    }

    /// [`Exec::fetch_all`](super::Exec::fetch_all) (prepared) on a connection of its own.
    pub async fn fetch_all<T>(
        &self,
        sql: &str,
        binds: &[Bind<'_>],
        read: impl FnMut(SqlRow<'_>) -> Option<T>,
    ) -> Result<Vec<T>, SqlError> {
        let mut conn = self.acquire().await?;
        let rows = conn.exec().fetch_all(sql, binds, true, read).await;
        conn.finish();
        rows
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;

    #[test]
    fn zero_settings_are_refused() {
        for settings in [
            PoolSettings {
                acquire_timeout: Duration::ZERO,
                ..PoolSettings::default()
            },
            PoolSettings {
                operation_timeout: Duration::ZERO,
                ..PoolSettings::default()
            },
            PoolSettings {
                max_connections: 0,
                ..PoolSettings::default()
            },
        ] {
            assert!(
                matches!(settings.check(), Err(OpenError::InvalidSettings(_))),
                "{settings:?}"
            );
        }
        assert!(PoolSettings::default().check().is_ok());
    }

    #[test]
    fn the_busy_timeout_stays_within_what_sqlite_takes() {
        let unbounded = PoolSettings {
            operation_timeout: Duration::MAX,
            ..PoolSettings::default()
        };
        assert_eq!(
            unbounded.busy_timeout(),
            Duration::from_millis(i32::MAX as u64)
        );
        assert_eq!(
            PoolSettings::default().busy_timeout(),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn opening_outside_a_runtime_is_an_error() {
        assert!(matches!(
            SqlPool::connect_lazy("sqlite::memory:", &PoolSettings::default()),
            Err(OpenError::NoRuntime)
        ));
    }

    #[tokio::test]
    async fn an_unbounded_operation_timeout_opens_a_working_sqlite_pool() {
        let settings = PoolSettings {
            operation_timeout: Duration::MAX,
            ..PoolSettings::default()
        };
        let pool = SqlPool::connect_lazy("sqlite::memory:", &settings).expect("open");
        let one = pool
            .fetch_optional("SELECT 1", &[], |row| row.int(0))
            .await
            .expect("select");
        assert_eq!(one.transpose().expect("int").flatten(), Some(1));
    }
}
