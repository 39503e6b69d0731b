//! The SQL foundation: the one place that knows there are three sqlx drivers and decides how a pool is
//! opened, shared by the [`DatabaseBackend`](crate::backends::DatabaseBackend) and by other crates' SQL
//! stores (tower-sessions-kit's `DatabaseStore`), so that they cannot drift apart.
//!
//! - [`Dialect`]: which database, found from a URL ([`Dialect::of_url`]); identifier quoting, bind
//!   placeholders and the statements that differ between databases for any table.
//! - [`SqlPool`]: a pool of one of the enabled databases, opened from a URL with [`PoolSettings`] by
//!   [`SqlPool::connect_lazy`], which decides for every user:
//!   - SQLite files use WAL journaling (readers never wait for the writer) with `synchronous=NORMAL`
//!     (durable across process crashes; the last commits may be lost on power loss), temporary tables in
//!     memory, and a busy timeout of the [operation timeout](PoolSettings::operation_timeout): a locked
//!     database is waited for as long as the operation may take, and no longer. Connections are not
//!     pinged before use (a local file cannot drop them). The file is created if missing.
//!   - `sqlite::memory:` (or `mode=memory`) keeps exactly one connection for the pool's lifetime: the
//!     database lives as long as that connection.
//!   - PostgreSQL and MySQL/MariaDB (`mariadb://` is read as `mysql://`) test an idle connection before
//!     handing it out, so after a server restart the pool works again.
//! - [`Conn`], [`Tx`], [`Exec`]: a connection checked out for one operation — returned to the pool when the
//!   operation ran to its end, **closed** when it was abandoned (its deadline passed, its caller went away)
//!   on a server database, where it may be stuck mid-protocol — a transaction on it, and the statement
//!   primitives, with [`Bind`] parameters and columns read through [`SqlRow`].
//! - [`SqlError`] (a driver error with its dialect) and [`OpenError`] (why a pool could not be opened).
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use cache_core::sql::{Bind, PoolSettings, SqlPool};
//!
//! let pool = SqlPool::connect_lazy("sqlite::memory:", &PoolSettings::default())?;
//! pool.execute("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER)", &[]).await?;
//! let sql = format!("INSERT INTO t VALUES ({}, {})", pool.dialect().placeholder(1), pool.dialect().placeholder(2));
//! pool.execute(&sql, &[Bind::Text("a"), Bind::Int(7)]).await?;
//! let n = pool.fetch_optional("SELECT n FROM t", &[], |row| row.int(0)).await?;
//! assert_eq!(n.transpose()?.flatten(), Some(7));
//! # Ok(()) }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
//! ```

/// Expands `$body` once per enabled driver, with `$c` bound to that driver's value inside `$value` (an
/// enum with one variant per driver: `Sqlite`, `Postgres`, `MySql`).
macro_rules! each_driver {
    ($value:expr, $enum:ident, $c:ident => $body:expr) => {
        match $value {
            #[cfg(feature = "sqlite")]
            $enum::Sqlite($c) => $body,
            #[cfg(feature = "postgres")]
            $enum::Postgres($c) => $body,
            #[cfg(feature = "mysql")]
            $enum::MySql($c) => $body,
        }
    };
}

mod conn;
mod dialect;
mod error;
mod pool;

pub use conn::{Bind, Conn, Exec, SqlRow, Tx};
pub(crate) use dialect::enabled_schemes;
pub use dialect::{is_sqlite_reserved_name, Dialect};
pub use error::{OpenError, SqlError};
pub use pool::{PoolSettings, SqlPool};
