//! The foundation's errors: [`SqlError`] for a statement or connection that failed, [`OpenError`] for a
//! pool that could not be opened. Each user turns them into its own error type (the database cache into
//! [`Error::Backend`](crate::Error::Backend) and [`Error::Config`](crate::Error::Config)).

use std::fmt;

use super::Dialect;

/// A driver error, with the database it came from. Displays as the driver's message; the sqlx error is
/// its [`source`](std::error::Error::source).
#[derive(Debug)]
pub struct SqlError {
    dialect: Dialect,
    source: sqlx::Error,
}

impl SqlError {
    pub(crate) fn new(dialect: Dialect, source: sqlx::Error) -> Self {
        SqlError { dialect, source }
    }

    /// The database the error came from.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The driver's error.
    pub fn driver_error(&self) -> &sqlx::Error {
        &self.source
    }

    /// The driver's error, owned.
    pub fn into_driver_error(self) -> sqlx::Error {
        self.source
    }

    /// Whether the statement failed because its table does not exist, so the caller can say which call
    /// creates it. By the database's own code, never by the wording of the message: SQLite "no such
    /// table", PostgreSQL 42P01 (undefined_table), MySQL/MariaDB 1146 (42S02).
    pub fn is_missing_table(&self) -> bool {
        let sqlx::Error::Database(db) = &self.source else {
            return false;
        };
        match self.dialect {
            Dialect::Sqlite => db.message().starts_with("no such table"),
            Dialect::Postgres => db.code().as_deref() == Some("42P01"),
            Dialect::MySql => {
                db.code().as_deref() == Some("42S02") || db.message().contains("1146")
            }
        }
    }

    /// Whether the database refused a value (SQLSTATE class 22, "data exception": text that is not valid
    /// JSON for a `jsonb` cast, a number out of range, …), as opposed to a failed connection or statement:
    /// the caller may retry the same change another way.
    pub fn is_data_exception(&self) -> bool {
        let sqlx::Error::Database(db) = &self.source else {
            return false;
        };
        db.code().is_some_and(|code| code.starts_with("22"))
    }

    /// Whether the statement broke a unique constraint (an `INSERT` of a key that exists).
    pub fn is_unique_violation(&self) -> bool {
        matches!(&self.source, sqlx::Error::Database(db) if db.is_unique_violation())
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

impl std::error::Error for SqlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Why [`SqlPool::connect_lazy`](super::SqlPool::connect_lazy) (or [`Dialect::of_url`]) refused to open a
/// pool. URLs in these errors have their credentials replaced by `***`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The URL has no scheme.
    #[error("database URL {url:?} has no scheme (expected sqlite:, postgres:// or mysql://)")]
    NoScheme {
        /// The URL, without credentials.
        url: String,
    },
    /// The URL names a database this build has no feature for (`sqlite`, `postgres`, `mysql`).
    #[error(
        "unsupported database URL scheme {scheme:?} in {url:?}; this build supports {known:?} (each \
         database has a cargo feature: sqlite, postgres, mysql)"
    )]
    UnknownScheme {
        /// The scheme, lower-cased.
        scheme: String,
        /// The URL, without credentials.
        url: String,
        /// The schemes this build supports.
        known: Vec<&'static str>,
    },
    /// sqlx could not read the URL (a bad parameter, a malformed host).
    #[error("invalid {dialect} URL {url}: {source}")]
    InvalidUrl {
        /// The database the scheme names.
        dialect: &'static str,
        /// The URL, without credentials.
        url: String,
        /// What sqlx said.
        #[source]
        source: sqlx::Error,
    },
    /// A [`PoolSettings`](super::PoolSettings) value is out of range; the message names it.
    #[error("{0}")]
    InvalidSettings(&'static str),
    /// Opening a pool starts sqlx's maintenance task, which needs a Tokio runtime.
    #[error("a database pool must be opened inside a Tokio runtime")]
    NoRuntime,
}
