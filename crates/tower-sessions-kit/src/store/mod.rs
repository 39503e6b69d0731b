//! The stores, where sessions live between requests, and what a store of your own exchanges with the
//! layer ([`Loaded`], [`SaveRequest`], [`Saved`], the optional [`ImmediateLoads`] and [`ImmediateSaves`]); the trait itself is
//! [`SessionStore`].
//!
//! | store | feature | merges concurrent writes | sessions by user | `clear_expired` |
//! |-------|---------|--------------------------|------------------|-----------------|
//! | [`MemoryStore`] (this process) | none | yes: in place, under the session's lock | yes | removes expired sessions |
//! | [`DatabaseStore`] (SQLite, PostgreSQL, MySQL/MariaDB) | `sqlite` (default), `postgres`, `mysql` | yes: one statement, or one transaction holding the row | yes | deletes expired rows |
//! | [`RedisStore`] (Redis, Redis Cluster) | `redis` | yes: one script applying the changes to a hash | yes | no-op (keys expire by TTL) |
//! | [`CacheStore`] (any `cache_core::Cache`) | `cache` | yes on backends with `compare_and_set` (memory, Redis, file, database, memcached), by compare-and-swap with retries; otherwise last writer wins | no | no-op (entries expire by TTL) |
//! | [`CachedDatabaseStore`] | `cache` + a SQL feature | yes (the database is authoritative) | yes | the database's |
//! | [`FileStore`] | `file` | **no**: the last save wins the whole record | no | deletes expired files |
//! | [`SignedCookieStore`] | `signed-cookie` | **no**: the data travels in each request's cookie | no | unsupported (nothing stored) |

pub(crate) mod contract;
pub use contract::{ImmediateLoads, ImmediateSaves, Loaded, SaveRequest, Saved, DEFAULT_DEADLINE};
// For the stores' `use super::{…}`; public at the crate root only.
pub(crate) use contract::{SessionStore, StoreError};

mod memory;
pub use memory::MemoryStore;

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub use redis::{RedisStore, DEFAULT_PREFIX as DEFAULT_REDIS_PREFIX};

#[cfg(feature = "cache")]
mod cache;
#[cfg(feature = "cache")]
pub use cache::{CacheStore, DJANGO_PREFIX as DJANGO_CACHE_PREFIX};

#[cfg(any(feature = "sqlite", feature = "cache"))]
mod batch;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod database;
#[cfg(any(feature = "sqlite", feature = "cache"))]
mod load_batch;
#[cfg(all(
    feature = "django",
    any(feature = "sqlite", feature = "postgres", feature = "mysql")
))]
pub(crate) use database::valid_table_name;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub use database::{
    DatabaseStore, DatabaseStoreBuilder, DEFAULT_TABLE, DJANGO_TABLE, MAINTENANCE_DEADLINE,
    MAX_TABLE_NAME,
};

#[cfg(all(
    feature = "cache",
    any(feature = "sqlite", feature = "postgres", feature = "mysql")
))]
mod cached_db;
#[cfg(all(
    feature = "cache",
    any(feature = "sqlite", feature = "postgres", feature = "mysql")
))]
pub use cached_db::{CachedDatabaseStore, DJANGO_PREFIX as DJANGO_CACHED_DB_PREFIX};

#[cfg(feature = "file")]
mod file;
#[cfg(feature = "file")]
pub use file::FileStore;

#[cfg(feature = "signed-cookie")]
mod signed_cookie;
#[cfg(feature = "signed-cookie")]
pub use signed_cookie::{SignedCookieStore, DEFAULT_MAX_SIZE};

/// Retries `make` with fresh keys until it stores (`Ok(true)`), up to `attempts` times: the shared
/// collision loop of `create`.
pub(crate) async fn create_with_retries<F, Fut>(
    store: &'static str,
    attempts: u32,
    mut make: F,
) -> Result<crate::SessionKey, StoreError>
where
    F: FnMut(crate::SessionKey) -> Fut,
    Fut: std::future::Future<Output = Result<bool, StoreError>>,
{
    for _ in 0..attempts {
        let key =
            crate::SessionKey::generate().map_err(|error| StoreError::backend(store, error))?;
        if make(key.clone()).await? {
            return Ok(key);
        }
        tracing::debug!(store, "session key collision, trying another key");
    }
    Err(StoreError::CreateFailed { store, attempts })
}
