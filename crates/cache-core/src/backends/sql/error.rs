//! How the SQL foundation's errors become the cache's: a driver failure is an [`Error::Backend`] keeping the
//! sqlx error as its source, with a hint where the fix is known (a missing table); timeouts are
//! `io::ErrorKind::TimedOut`; a pool that cannot be opened is an [`Error::Config`] or
//! [`Error::UnknownScheme`].

use std::fmt;
use std::io;
use std::time::Duration;

use crate::error::Error;
use crate::sql::{Dialect, OpenError, SqlError};

/// A driver error, with a hint when the cause is a cache table that was never created.
#[derive(Debug)]
struct HintedError {
    hint: Option<&'static str>,
    source: SqlError,
}

impl fmt::Display for HintedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.hint {
            Some(hint) => write!(f, "{hint}: {}", self.source),
            None => fmt::Display::fmt(&self.source, f),
        }
    }
}

impl std::error::Error for HintedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.driver_error())
    }
}

/// A failed statement of the database cache: [`Error::Backend`] named after the dialect, saying to call
/// `create_table` when the table is missing. (A function rather than a `From` impl: a second `From` into
/// the public [`Error`] would make `?` ambiguous in callers' code that relies on inference.)
pub(crate) fn db_error(error: SqlError) -> Error {
    let hint = error
        .is_missing_table()
        .then_some("the cache table does not exist (call DatabaseBackend::create_table first)");
    Error::backend(
        error.dialect().name(),
        HintedError {
            hint,
            source: error,
        },
    )
}

/// A pool that could not be opened: [`Error::UnknownScheme`] for a database this build has no feature
/// for, [`Error::Config`] otherwise.
pub(crate) fn open_error(error: OpenError) -> Error {
    match error {
        OpenError::UnknownScheme { scheme, url, known } => {
            Error::UnknownScheme { scheme, url, known }
        }
        OpenError::InvalidSettings(problem) => Error::Config(format!("database cache {problem}")),
        OpenError::NoRuntime => {
            Error::Config("a database cache must be built inside a Tokio runtime".to_owned())
        }
        other => Error::Config(other.to_string()),
    }
}

/// How an operation's body fails: a statement ([`SqlError`]) or the cache's own rules (`incr` on a value
/// that is not a number). Both `?` into it; [`into_error`](Self::into_error) makes the caller's [`Error`].
#[derive(Debug)]
pub(crate) enum OpError {
    Sql(SqlError),
    Cache(Error),
}

impl From<SqlError> for OpError {
    fn from(error: SqlError) -> Self {
        OpError::Sql(error)
    }
}

impl From<Error> for OpError {
    fn from(error: Error) -> Self {
        OpError::Cache(error)
    }
}

impl OpError {
    pub(crate) fn into_error(self) -> Error {
        match self {
            OpError::Sql(error) => db_error(error),
            OpError::Cache(error) => error,
        }
    }
}

/// The result of an operation's body.
pub(crate) type OpResult<T> = std::result::Result<T, OpError>;

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
pub(crate) fn connect_error(target: &str, error: SqlError) -> Error {
    let what = match error.dialect() {
        Dialect::Sqlite => "open the SQLite database",
        Dialect::Postgres | Dialect::MySql => "connect to",
    };
    Error::backend(
        error.dialect().name(),
        ConnectError {
            what: format!("cannot {what} {target}"),
            source: error.into_driver_error(),
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
