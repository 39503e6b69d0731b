//! The one place that knows there are three sqlx drivers: [`SqlPool`], a pooled connection ([`Conn`]), a
//! transaction on it ([`Tx`]), and a handful of primitives ([`Exec`]) that run a statement with byte and
//! integer binds. Each primitive is written once and expanded per driver by `each_driver!`; everything above
//! this module is plain code over these types.

use sqlx::pool::PoolConnection;
use sqlx::Row as _;

use super::dialect::Dialect;
use super::error::db_error;
use crate::error::Result;

/// An sqlx pool of one of the enabled databases. Build a [`DatabaseBackend`](super::DatabaseBackend) over
/// your own pool with [`DatabaseBackend::with_pool`](super::DatabaseBackend::with_pool); `From` turns a
/// typed pool into this.
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

/// Expands `$body` once per enabled driver, with `$c` bound to that driver's value inside `$value`.
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

impl SqlPool {
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

    /// A connection from the pool (bounded by the pool's acquire timeout).
    pub(crate) async fn acquire(&self) -> Result<Conn> {
        let dialect = self.dialect();
        each_driver!(self, SqlPool, pool => pool
            .acquire()
            .await
            .map(|c| Conn {
                dialect,
                pooled: Pooled::from(c),
                finished: false,
            })
            .map_err(|e| db_error(dialect, e)))
    }

    /// Checks that a connection can be had (opened, or taken from the pool and tested).
    pub(crate) async fn acquire_raw(&self) -> Result<(), sqlx::Error> {
        each_driver!(self, SqlPool, pool => pool.acquire().await.map(drop))
    }
}

enum Pooled {
    #[cfg(feature = "sqlite")]
    Sqlite(PoolConnection<sqlx::Sqlite>),
    #[cfg(feature = "postgres")]
    Postgres(PoolConnection<sqlx::Postgres>),
    #[cfg(feature = "mysql")]
    MySql(PoolConnection<sqlx::MySql>),
}

#[cfg(feature = "sqlite")]
impl From<PoolConnection<sqlx::Sqlite>> for Pooled {
    fn from(c: PoolConnection<sqlx::Sqlite>) -> Self {
        Pooled::Sqlite(c)
    }
}

#[cfg(feature = "postgres")]
impl From<PoolConnection<sqlx::Postgres>> for Pooled {
    fn from(c: PoolConnection<sqlx::Postgres>) -> Self {
        Pooled::Postgres(c)
    }
}

#[cfg(feature = "mysql")]
impl From<PoolConnection<sqlx::MySql>> for Pooled {
    fn from(c: PoolConnection<sqlx::MySql>) -> Self {
        Pooled::MySql(c)
    }
}

/// A connection checked out of the pool.
///
/// When [`finish`](Self::finish)ed it goes back to the pool (sqlx tests it on the way, drops it if broken,
/// and rolls back a transaction left open). A PostgreSQL or MySQL connection dropped *unfinished* — its
/// operation timed out, or the caller dropped the future mid-statement — is closed instead: it may be stuck
/// mid-protocol on a server that stopped answering, and sqlx's return-to-pool test would wait on it without
/// a limit while holding a pool slot. A SQLite connection is always safe to return (statements run to
/// completion on sqlx's worker thread).
pub(crate) struct Conn {
    dialect: Dialect,
    pooled: Pooled,
    finished: bool,
}

impl Conn {
    /// The connection, for running statements.
    pub(crate) fn exec(&mut self) -> Exec<'_> {
        each_driver!(&mut self.pooled, Pooled, c => Exec::from(&mut **c))
    }

    /// Starts a transaction with `statement` (`BEGIN`, or SQLite's `BEGIN IMMEDIATE`). Dropping the
    /// [`Tx`] without committing rolls it back.
    pub(crate) async fn begin(&mut self, statement: &'static str) -> Result<Tx<'_>> {
        use sqlx::Connection as _;
        let dialect = self.dialect;
        each_driver!(&mut self.pooled, Pooled, c => (**c)
            .begin_with(statement)
            .await
            .map(|tx| Tx { dialect, inner: TxInner::from(tx) })
            .map_err(|e| db_error(dialect, e)))
    }

    /// Returns the connection to the pool: its operation ran to the end (successfully or not).
    pub(crate) fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if !self.finished && self.dialect != Dialect::Sqlite {
            // sqlx closes it in the background (bounded by its 5 s close timeout) and frees the slot.
            each_driver!(&mut self.pooled, Pooled, c => c.close_on_drop());
        }
    }
}

/// An open transaction; rolled back when dropped uncommitted.
pub(crate) struct Tx<'c> {
    dialect: Dialect,
    inner: TxInner<'c>,
}

enum TxInner<'c> {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::Transaction<'c, sqlx::Sqlite>),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::Transaction<'c, sqlx::Postgres>),
    #[cfg(feature = "mysql")]
    MySql(sqlx::Transaction<'c, sqlx::MySql>),
}

#[cfg(feature = "sqlite")]
impl<'c> From<sqlx::Transaction<'c, sqlx::Sqlite>> for TxInner<'c> {
    fn from(tx: sqlx::Transaction<'c, sqlx::Sqlite>) -> Self {
        TxInner::Sqlite(tx)
    }
}

#[cfg(feature = "postgres")]
impl<'c> From<sqlx::Transaction<'c, sqlx::Postgres>> for TxInner<'c> {
    fn from(tx: sqlx::Transaction<'c, sqlx::Postgres>) -> Self {
        TxInner::Postgres(tx)
    }
}

#[cfg(feature = "mysql")]
impl<'c> From<sqlx::Transaction<'c, sqlx::MySql>> for TxInner<'c> {
    fn from(tx: sqlx::Transaction<'c, sqlx::MySql>) -> Self {
        TxInner::MySql(tx)
    }
}

impl Tx<'_> {
    /// The transaction's connection, for running statements.
    pub(crate) fn exec(&mut self) -> Exec<'_> {
        each_driver!(&mut self.inner, TxInner, tx => Exec::from(&mut **tx))
    }

    /// Commits.
    pub(crate) async fn commit(self) -> Result<()> {
        let dialect = self.dialect;
        each_driver!(self.inner, TxInner, tx => tx.commit().await.map_err(|e| db_error(dialect, e)))
    }
}

/// A statement parameter: everything this backend binds is bytes (keys and values) or an integer
/// (expiries, now, row counts).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bind<'a> {
    Bytes(&'a [u8]),
    Int(i64),
}

/// A column read as bytes: `Err` says why it could not be (NULL, or a type sqlx cannot read as bytes) — a
/// corrupted row, which the caller treats as a miss.
pub(crate) type Cell = Result<Vec<u8>, String>;

/// A borrowed connection of some driver, with the primitives the cache logic is written in.
pub(crate) enum Exec<'a> {
    #[cfg(feature = "sqlite")]
    Sqlite(&'a mut sqlx::SqliteConnection),
    #[cfg(feature = "postgres")]
    Postgres(&'a mut sqlx::PgConnection),
    #[cfg(feature = "mysql")]
    MySql(&'a mut sqlx::MySqlConnection),
}

#[cfg(feature = "sqlite")]
impl<'a> From<&'a mut sqlx::SqliteConnection> for Exec<'a> {
    fn from(c: &'a mut sqlx::SqliteConnection) -> Self {
        Exec::Sqlite(c)
    }
}

#[cfg(feature = "postgres")]
impl<'a> From<&'a mut sqlx::PgConnection> for Exec<'a> {
    fn from(c: &'a mut sqlx::PgConnection) -> Self {
        Exec::Postgres(c)
    }
}

#[cfg(feature = "mysql")]
impl<'a> From<&'a mut sqlx::MySqlConnection> for Exec<'a> {
    fn from(c: &'a mut sqlx::MySqlConnection) -> Self {
        Exec::MySql(c)
    }
}

/// `sqlx::query(sql)` with `binds` bound in order; prepared and cached per connection when `persistent`.
macro_rules! query {
    ($sql:expr, $binds:expr, $persistent:expr) => {{
        let mut query = sqlx::query($sql).persistent($persistent);
        for bind in $binds {
            query = match *bind {
                Bind::Bytes(bytes) => query.bind(bytes),
                Bind::Int(int) => query.bind(int),
            };
        }
        query
    }};
}

impl Exec<'_> {
    /// Which database this connection talks to.
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            #[cfg(feature = "sqlite")]
            Exec::Sqlite(_) => Dialect::Sqlite,
            #[cfg(feature = "postgres")]
            Exec::Postgres(_) => Dialect::Postgres,
            #[cfg(feature = "mysql")]
            Exec::MySql(_) => Dialect::MySql,
        }
    }

    /// Runs a statement; the rows it affected (MySQL: rows matched, as sqlx sets `CLIENT_FOUND_ROWS`).
    /// `persistent: false` for statements whose text varies (IN lists), so they do not churn the
    /// per-connection statement cache.
    pub(crate) async fn execute(
        self,
        sql: &str,
        binds: &[Bind<'_>],
        persistent: bool,
    ) -> Result<u64> {
        let dialect = self.dialect();
        each_driver!(self, Exec, c => query!(sql, binds, persistent)
            .execute(&mut *c)
            .await
            .map(|done| done.rows_affected())
            .map_err(|e| db_error(dialect, e)))
    }

    /// Runs a statement that may hit a unique constraint: `None` when it did (a duplicate key), otherwise
    /// the rows affected.
    pub(crate) async fn execute_unless_duplicate(
        self,
        sql: &str,
        binds: &[Bind<'_>],
        persistent: bool,
    ) -> Result<Option<u64>> {
        let dialect = self.dialect();
        each_driver!(self, Exec, c => match query!(sql, binds, persistent).execute(&mut *c).await {
            Ok(done) => Ok(Some(done.rows_affected())),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
            Err(e) => Err(db_error(dialect, e)),
        })
    }

    /// Runs an unprepared statement with no binds (text protocol): `CREATE …`, `DROP …`.
    pub(crate) async fn execute_raw(self, sql: &str) -> Result<()> {
        let dialect = self.dialect();
        each_driver!(self, Exec, c => sqlx::raw_sql(sql)
            .execute(&mut *c)
            .await
            .map(drop)
            .map_err(|e| db_error(dialect, e)))
    }

    /// The first column of the first row as bytes, or `None` when there is no row.
    pub(crate) async fn fetch_cell(self, sql: &str, binds: &[Bind<'_>]) -> Result<Option<Cell>> {
        let dialect = self.dialect();
        each_driver!(self, Exec, c => {
            let row = query!(sql, binds, true)
                .fetch_optional(&mut *c)
                .await
                .map_err(|e| db_error(dialect, e))?;
            Ok(row.map(|row| cell(row.try_get::<Option<Vec<u8>>, _>(0))))
        })
    }

    /// Whether the statement returns a row.
    pub(crate) async fn fetch_exists(self, sql: &str, binds: &[Bind<'_>]) -> Result<bool> {
        let dialect = self.dialect();
        each_driver!(self, Exec, c => query!(sql, binds, true)
            .fetch_optional(&mut *c)
            .await
            .map(|row| row.is_some())
            .map_err(|e| db_error(dialect, e)))
    }

    /// The first column of the one row, as an integer (`COUNT(*)`).
    pub(crate) async fn fetch_int(self, sql: &str, binds: &[Bind<'_>]) -> Result<i64> {
        let dialect = self.dialect();
        each_driver!(self, Exec, c => query!(sql, binds, true)
            .fetch_one(&mut *c)
            .await
            .and_then(|row| row.try_get::<i64, _>(0))
            .map_err(|e| db_error(dialect, e)))
    }

    /// Rows of (key, value). Rows whose key is unreadable are left out: they cannot match a requested key.
    pub(crate) async fn fetch_pairs(
        self,
        sql: &str,
        binds: &[Bind<'_>],
    ) -> Result<Vec<(Vec<u8>, Cell)>> {
        let dialect = self.dialect();
        each_driver!(self, Exec, c => {
            let rows = query!(sql, binds, false)
                .fetch_all(&mut *c)
                .await
                .map_err(|e| db_error(dialect, e))?;
            Ok(rows
                .into_iter()
                .filter_map(|row| {
                    let key = row.try_get::<Vec<u8>, _>(0).ok()?;
                    Some((key, cell(row.try_get::<Option<Vec<u8>>, _>(1))))
                })
                .collect())
        })
    }
}

fn cell(decoded: Result<Option<Vec<u8>>, sqlx::Error>) -> Cell {
    match decoded {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err("the value is NULL".to_owned()),
        Err(error) => Err(error.to_string()),
    }
}
