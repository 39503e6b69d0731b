//! [`DatabaseStoreBuilder`]: the store's settings, its table name rules, and the pool it opens through
//! cache-core's SQL foundation.

use std::sync::Arc;
use std::time::Duration;

use cache_core::sql::{is_sqlite_reserved_name, PoolSettings, SqlPool};

use super::format::{Json, RowFormat};
use super::queries::{Layout, Queries};
use super::{DatabaseStore, Inner};
use crate::store::{StoreError, DEFAULT_DEADLINE};

/// The default table name.
pub const DEFAULT_TABLE: &str = "tower_sessions_kit_session";

/// Django's session table, the default with [`DatabaseStoreBuilder::django`].
pub const DJANGO_TABLE: &str = "django_session";

/// The longest session table name: PostgreSQL identifiers hold 63 bytes and MySQL's 64 characters, and the
/// index is named `<table>_expire_date` (12 more).
pub const MAX_TABLE_NAME: usize = 63 - "_expire_date".len();

/// How long an operation waits for a pooled connection by default.
const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A plain identifier of at most [`MAX_TABLE_NAME`] bytes, not starting with `sqlite_` (any case): SQLite
/// reserves those names, and refusing them everywhere keeps a table name valid on every database.
pub(crate) fn valid_table_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    !is_sqlite_reserved_name(name)
        && matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && name.len() <= MAX_TABLE_NAME
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A setting [`DatabaseStoreBuilder::connect`] refuses, or a URL it cannot open.
fn config_error(message: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::backend("database", message)
}

/// Settings for a [`DatabaseStore`].
#[derive(Debug, Clone)]
#[must_use]
pub struct DatabaseStoreBuilder {
    url: String,
    table: String,
    /// The pool's settings; its operation timeout is the store's deadline.
    pool: PoolSettings,
    layout: Layout,
    format: Arc<dyn RowFormat>,
}

impl DatabaseStoreBuilder {
    pub(super) fn new(url: String) -> Self {
        DatabaseStoreBuilder {
            url,
            table: DEFAULT_TABLE.to_owned(),
            layout: Layout::Native,
            format: Arc::new(Json),
            pool: PoolSettings {
                acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
                operation_timeout: DEFAULT_DEADLINE,
                ..PoolSettings::default()
            },
        }
    }

    /// The table name (default [`DEFAULT_TABLE`]): letters, digits and `_`, not starting with a digit, at
    /// most [`MAX_TABLE_NAME`] characters (so that its index, `<table>_expire_date`, is a valid identifier
    /// on every database: PostgreSQL would silently truncate a longer one, MySQL refuses it), and not starting
    /// with `sqlite_` in any case (SQLite reserves those names). Another name is refused by
    /// [`connect`](Self::connect).
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// Keeps sessions in **Django's `django_session` table**, as Django's database session engine
    /// (`django.contrib.sessions.backends.db`) does, so a Django project on the same database shares them:
    /// the data signed with `django`'s secret key ([`SessionCodec`](crate::django::SessionCodec)),
    /// `expire_date` a date-time in UTC (Django's `USE_TZ = True`). The table name becomes
    /// `django_session` unless [`table`](Self::table) names another. Django's `migrate` makes the table;
    /// [`DatabaseStore::migrate`] makes it only when missing. Django's table has no `user_id` column, so
    /// this store keeps no [sessions by user](crate::users) (its [`users`](crate::store::SessionStore::users) is
    /// `None`). See [Django's session documentation](https://docs.djangoproject.com/en/5.2/topics/http/sessions/).
    ///
    /// [`DatabaseStore::migrate`]: super::DatabaseStore::migrate
    #[cfg(feature = "django")]
    pub fn django(mut self, django: &crate::django::Django) -> Self {
        if self.table == DEFAULT_TABLE {
            self.table = DJANGO_TABLE.to_owned();
        }
        self.layout = Layout::Django;
        self.format = Arc::new(django.session_codec());
        self
    }

    /// The most pooled connections (default 10; `sqlite::memory:` always uses one). Zero is refused by
    /// [`connect`](Self::connect).
    pub fn max_connections(mut self, max: u32) -> Self {
        self.pool.max_connections = max;
        self
    }

    /// How long an operation waits for a connection (default 5 s; the [deadline](Self::deadline) bounds
    /// it too). Zero is refused by [`connect`](Self::connect).
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.pool.acquire_timeout = timeout;
        self
    }

    /// The deadline of every operation, from asking the pool for a connection to the last reply (default
    /// [`DEFAULT_DEADLINE`], 1 s): past it the operation fails with [`StoreError::TimedOut`]. It is also
    /// the store's [`SessionStore::deadline`](crate::store::SessionStore::deadline), which the layer holds
    /// each request phase to, and how long SQLite waits for a locked database. `Duration::MAX` means none;
    /// zero is refused by [`connect`](Self::connect).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.pool.operation_timeout = deadline;
        self
    }

    /// Opens the pool (lazily: no connection is made until the first operation). A
    /// [`StoreError::Backend`] for an invalid table name, a zero setting, a malformed URL, or a database
    /// whose feature is not enabled.
    pub async fn connect(self) -> Result<DatabaseStore, StoreError> {
        if !valid_table_name(&self.table) {
            return Err(config_error(format!(
                "invalid session table name {:?}: use letters, digits and _, at most {MAX_TABLE_NAME} \
                 characters, not starting with a digit",
                self.table
            )));
        }
        if self.pool.operation_timeout.is_zero() {
            return Err(config_error("the session store deadline must be positive"));
        }
        let pool = SqlPool::connect_lazy(&self.url, &self.pool).map_err(config_error)?;
        Ok(DatabaseStore {
            inner: Arc::new(Inner {
                sql: Queries::new(pool.dialect(), &self.table, self.layout),
                format: self.format,
                pool,
                deadline: self.pool.operation_timeout,
                table: self.table,
                #[cfg(feature = "sqlite")]
                batch: Default::default(),
                #[cfg(feature = "sqlite")]
                saves: Default::default(),
                #[cfg(feature = "sqlite")]
                merges: Default::default(),
                #[cfg(feature = "sqlite")]
                writer: Default::default(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_identifiers() {
        let longest = "s".repeat(MAX_TABLE_NAME);
        for name in ["sessions", "_s1", &longest] {
            assert!(valid_table_name(name), "{name:?} refused");
        }
        let too_long = "s".repeat(MAX_TABLE_NAME + 1);
        for name in [
            "1s",
            "s; DROP TABLE x",
            "s\"x",
            "",
            "Sqlite_sessions",
            &too_long,
        ] {
            assert!(!valid_table_name(name), "{name:?} accepted");
        }
    }

    #[tokio::test]
    async fn zero_settings_are_refused() {
        for builder in [
            DatabaseStore::builder("sqlite::memory:").max_connections(0),
            DatabaseStore::builder("sqlite::memory:").acquire_timeout(Duration::ZERO),
            DatabaseStore::builder("sqlite::memory:").deadline(Duration::ZERO),
        ] {
            assert!(
                matches!(builder.connect().await, Err(StoreError::Backend { .. })),
                "accepted"
            );
        }
    }

    #[tokio::test]
    async fn unknown_schemes_are_refused() {
        let refused = DatabaseStore::connect("oracle://scott:tiger@db/x").await;
        match refused {
            Err(error) => assert!(!error.to_string().contains("tiger"), "{error}"),
            Ok(_) => panic!("an oracle:// URL was accepted"),
        }
    }
}
