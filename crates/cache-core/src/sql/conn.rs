//! A connection checked out for one operation ([`Conn`]), a transaction on it ([`Tx`]), and the statement
//! primitives ([`Exec`]) every SQL user is written in: each is written once here and expanded per driver
//! by `each_driver!`, so code above this module is plain code over these types.

use sqlx::pool::PoolConnection;
use sqlx::Row as _;

use super::{Dialect, SqlError};

pub(super) enum Pooled {
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

/// A connection checked out of a [`SqlPool`](super::SqlPool) for one operation.
///
/// When [`finish`](Self::finish)ed it goes back to the pool (sqlx tests it on the way, drops it if broken,
/// and rolls back a transaction left open). A PostgreSQL or MySQL connection dropped *unfinished* — its
/// operation timed out, or the caller dropped the future mid-statement — is closed instead: it may be stuck
/// mid-protocol on a server that stopped answering, and sqlx's return-to-pool test would wait on it
/// without a limit while holding a pool slot; closed, it frees its slot (sqlx closes it in the background
/// within 5 s) and the server rolls back whatever it had not committed. A SQLite connection is always
/// returned: a statement runs to its end on sqlx's worker thread, whoever waits for it.
pub struct Conn {
    dialect: Dialect,
    pooled: Pooled,
    finished: bool,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("dialect", &self.dialect)
            .field("finished", &self.finished)
            .finish()
    }
}

impl Conn {
    pub(super) fn new(dialect: Dialect, pooled: Pooled) -> Self {
        Conn {
            dialect,
            pooled,
            finished: false,
        }
    }

    /// Which database this connection talks to.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The connection, for running a statement.
    pub fn exec(&mut self) -> Exec<'_> {
        each_driver!(&mut self.pooled, Pooled, c => Exec::from(&mut **c))
    }

    /// Starts a transaction with `statement` (`BEGIN`, or [`Dialect::begin_write`]). Dropping the [`Tx`]
    /// without committing rolls it back.
    pub async fn begin(&mut self, statement: &'static str) -> Result<Tx<'_>, SqlError> {
        use sqlx::Connection as _;
        let dialect = self.dialect;
        each_driver!(&mut self.pooled, Pooled, c => (**c)
            .begin_with(statement)
            .await
            .map(|tx| Tx { dialect, inner: TxInner::from(tx) })
            .map_err(|e| SqlError::new(dialect, e)))
    }

    /// Returns the connection to the pool: its operation ran to the end (successfully or not).
    pub fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if !self.finished && self.dialect != Dialect::Sqlite {
            each_driver!(&mut self.pooled, Pooled, c => c.close_on_drop());
        }
    }
}

/// An open transaction; rolled back when dropped uncommitted.
pub struct Tx<'c> {
    dialect: Dialect,
    inner: TxInner<'c>,
}

impl std::fmt::Debug for Tx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field("dialect", &self.dialect)
            .finish()
    }
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
    /// The transaction's connection, for running a statement.
    pub fn exec(&mut self) -> Exec<'_> {
        each_driver!(&mut self.inner, TxInner, tx => Exec::from(&mut **tx))
    }

    /// Commits.
    pub async fn commit(self) -> Result<(), SqlError> {
        let dialect = self.dialect;
        each_driver!(self.inner, TxInner, tx => tx.commit().await.map_err(|e| SqlError::new(dialect, e)))
    }
}

/// A statement parameter. Bound in textual order (MySQL's placeholders are positional).
#[derive(Debug, Clone, Copy)]
pub enum Bind<'a> {
    /// Bytes (`BLOB`, `BYTEA`, `VARBINARY`).
    Bytes(&'a [u8]),
    /// Text (`TEXT`, `VARCHAR`).
    Text(&'a str),
    /// Text, or `NULL` for `None`.
    OptionalText(Option<&'a str>),
    /// A 64-bit integer (`INTEGER`, `BIGINT`).
    Int(i64),
}

/// A borrowed connection of some driver: the statement primitives. Each consumes the borrow, so take a
/// new one ([`Conn::exec`], [`Tx::exec`]) per statement.
pub enum Exec<'a> {
    /// A SQLite connection.
    #[cfg(feature = "sqlite")]
    Sqlite(&'a mut sqlx::SqliteConnection),
    /// A PostgreSQL connection.
    #[cfg(feature = "postgres")]
    Postgres(&'a mut sqlx::PgConnection),
    /// A MySQL/MariaDB connection.
    #[cfg(feature = "mysql")]
    MySql(&'a mut sqlx::MySqlConnection),
}

impl std::fmt::Debug for Exec<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Exec").field(&self.dialect()).finish()
    }
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
                Bind::Text(text) => query.bind(text),
                Bind::OptionalText(text) => query.bind(text),
                Bind::Int(int) => query.bind(int),
            };
        }
        query
    }};
}

impl Exec<'_> {
    /// Which database this connection talks to.
    pub fn dialect(&self) -> Dialect {
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
    pub async fn execute(
        self,
        sql: &str,
        binds: &[Bind<'_>],
        persistent: bool,
    ) -> Result<u64, SqlError> {
        let dialect = self.dialect();
        each_driver!(self, Exec, c => query!(sql, binds, persistent)
            .execute(&mut *c)
            .await
            .map(|done| done.rows_affected())
            .map_err(|e| SqlError::new(dialect, e)))
    }

    /// Runs a statement that may hit a unique constraint: `None` when it did (a duplicate key), otherwise
    /// the rows affected.
    pub async fn execute_unless_duplicate(
        self,
        sql: &str,
        binds: &[Bind<'_>],
        persistent: bool,
    ) -> Result<Option<u64>, SqlError> {
        match self.execute(sql, binds, persistent).await {
            Ok(rows) => Ok(Some(rows)),
            Err(error) if error.is_unique_violation() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Runs an unprepared statement with no binds (text protocol): `CREATE …`, `DROP …`.
    pub async fn execute_raw(self, sql: &str) -> Result<(), SqlError> {
        let dialect = self.dialect();
        each_driver!(self, Exec, c => sqlx::raw_sql(sql)
            .execute(&mut *c)
            .await
            .map(drop)
            .map_err(|e| SqlError::new(dialect, e)))
    }

    /// The first row (prepared statement), through `read`, or `None` when there is none.
    pub async fn fetch_optional<T>(
        self,
        sql: &str,
        binds: &[Bind<'_>],
        read: impl FnOnce(SqlRow<'_>) -> T,
    ) -> Result<Option<T>, SqlError> {
        let dialect = self.dialect();
        each_driver!(self, Exec, c => query!(sql, binds, true)
            .fetch_optional(&mut *c)
            .await
            .map(|row| row.as_ref().map(|row| read(SqlRow::from(row))))
            .map_err(|e| SqlError::new(dialect, e)))
    }

    /// Every row, through `read`; rows it answers `None` for are left out.
    pub async fn fetch_all<T>(
        self,
        sql: &str,
        binds: &[Bind<'_>],
        persistent: bool,
        mut read: impl FnMut(SqlRow<'_>) -> Option<T>,
    ) -> Result<Vec<T>, SqlError> {
        let dialect = self.dialect();
        each_driver!(self, Exec, c => query!(sql, binds, persistent)
            .fetch_all(&mut *c)
            .await
            .map(|rows| rows.iter().filter_map(|row| read(SqlRow::from(row))).collect())
            .map_err(|e| SqlError::new(dialect, e)))
    }
}

/// A row of some driver, read by column index. SQLite columns are dynamically typed, so a value of
/// another type than asked for is an `Err` (a corrupted row the caller decides about), as is a type sqlx
/// cannot convert; SQL `NULL` is `Ok(None)`.
#[derive(Clone, Copy)]
pub enum SqlRow<'r> {
    /// A SQLite row.
    #[cfg(feature = "sqlite")]
    Sqlite(&'r sqlx::sqlite::SqliteRow),
    /// A PostgreSQL row.
    #[cfg(feature = "postgres")]
    Postgres(&'r sqlx::postgres::PgRow),
    /// A MySQL/MariaDB row.
    #[cfg(feature = "mysql")]
    MySql(&'r sqlx::mysql::MySqlRow),
}

impl std::fmt::Debug for SqlRow<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SqlRow").field(&self.dialect()).finish()
    }
}

#[cfg(feature = "sqlite")]
impl<'r> From<&'r sqlx::sqlite::SqliteRow> for SqlRow<'r> {
    fn from(row: &'r sqlx::sqlite::SqliteRow) -> Self {
        SqlRow::Sqlite(row)
    }
}

#[cfg(feature = "postgres")]
impl<'r> From<&'r sqlx::postgres::PgRow> for SqlRow<'r> {
    fn from(row: &'r sqlx::postgres::PgRow) -> Self {
        SqlRow::Postgres(row)
    }
}

#[cfg(feature = "mysql")]
impl<'r> From<&'r sqlx::mysql::MySqlRow> for SqlRow<'r> {
    fn from(row: &'r sqlx::mysql::MySqlRow) -> Self {
        SqlRow::MySql(row)
    }
}

/// Column `$i` of `$row` as `$ty`, with the dialect on the error.
macro_rules! column {
    ($row:expr, $i:expr, $ty:ty) => {{
        let dialect = $row.dialect();
        each_driver!($row, SqlRow, r => r.try_get::<$ty, _>($i))
            .map_err(|e| SqlError::new(dialect, e))
    }};
}

impl SqlRow<'_> {
    /// Which database the row came from.
    pub fn dialect(self) -> Dialect {
        match self {
            #[cfg(feature = "sqlite")]
            SqlRow::Sqlite(_) => Dialect::Sqlite,
            #[cfg(feature = "postgres")]
            SqlRow::Postgres(_) => Dialect::Postgres,
            #[cfg(feature = "mysql")]
            SqlRow::MySql(_) => Dialect::MySql,
        }
    }

    /// Column `i` as bytes.
    pub fn bytes(self, i: usize) -> Result<Option<Vec<u8>>, SqlError> {
        column!(self, i, Option<Vec<u8>>)
    }

    /// Column `i` as text.
    pub fn text(self, i: usize) -> Result<Option<String>, SqlError> {
        column!(self, i, Option<String>)
    }

    /// Column `i` as an integer.
    pub fn int(self, i: usize) -> Result<Option<i64>, SqlError> {
        column!(self, i, Option<i64>)
    }
}
