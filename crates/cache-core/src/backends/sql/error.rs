//! How driver failures become [`Error::Backend`]: the sqlx error kept as the source, with a hint where the
//! fix is known (a missing table), and timeouts as `io::ErrorKind::TimedOut`.

use std::fmt;
use std::io;
use std::time::Duration;

use super::dialect::Dialect;
use crate::error::Error;

/// An sqlx error, with a hint when the cause is a cache table that was never created.
#[derive(Debug)]
struct SqlError {
    hint: Option<&'static str>,
    source: sqlx::Error,
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.hint {
            Some(hint) => write!(f, "{hint}: {}", self.source),
            None => fmt::Display::fmt(&self.source, f),
        }
    }
}

impl std::error::Error for SqlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Wraps an sqlx error as [`Error::Backend`] named after the dialect.
pub(crate) fn db_error(dialect: Dialect, error: sqlx::Error) -> Error {
    let hint = is_missing_table(dialect, &error)
        .then_some("the cache table does not exist (call DatabaseBackend::create_table first)");
    Error::backend(
        dialect.name(),
        SqlError {
            hint,
            source: error,
        },
    )
}

/// SQLite says "no such table", PostgreSQL 42P01 (undefined_table), MySQL/MariaDB 1146 (42S02).
fn is_missing_table(dialect: Dialect, error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = error else {
        return false;
    };
    match dialect {
        Dialect::Sqlite => db.message().starts_with("no such table"),
        Dialect::Postgres => db.code().as_deref() == Some("42P01"),
        Dialect::MySql => db.code().as_deref() == Some("42S02") || db.message().contains("1146"),
    }
}

/// An operation that did not finish within the operation timeout.
pub(crate) fn timeout_error(dialect: Dialect, operation: &str, limit: Duration) -> Error {
    Error::backend(
        dialect.name(),
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{operation} did not complete within the operation timeout of {limit:?}"),
        ),
    )
}

/// A connection that could not be established when the backend was built, with what was being opened.
pub(crate) fn connect_error(dialect: Dialect, target: &str, error: sqlx::Error) -> Error {
    let what = match dialect {
        Dialect::Sqlite => "open the SQLite database",
        Dialect::Postgres | Dialect::MySql => "connect to",
    };
    Error::backend(
        dialect.name(),
        ConnectError {
            what: format!("cannot {what} {target}"),
            source: error,
        },
    )
}

#[derive(Debug)]
struct ConnectError {
    what: String,
    source: sqlx::Error,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.source)
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
