//! The stores, where sessions live between requests, and what a store of your own exchanges with the
//! layer ([`Loaded`], [`SaveRequest`], [`Saved`], the optional [`ImmediateLoads`]); the trait itself is
//! [`SessionStore`].
//!
//! | store | feature | merges concurrent writes | `clear_expired` |
//! |-------|---------|--------------------------|-----------------|
//! | [`DatabaseStore`] (SQLite, PostgreSQL, MySQL/MariaDB) | `sqlite` (default), `postgres`, `mysql` | yes: one transaction holding the row | deletes expired rows |
//! | [`CacheStore`] (any `cache_core::Cache`) | `cache` | yes on backends with `compare_and_set` (memory, Redis); otherwise last writer wins | no-op (entries expire by TTL) |
//! | [`CachedDatabaseStore`] | `cache` + a SQL feature | yes (the database is authoritative) | the database's |
//! | [`FileStore`] | `file` | **no**: the last save wins the whole record | deletes expired files |
//! | [`SignedCookieStore`] | `signed-cookie` | **no**: the data travels in each request's cookie | unsupported (nothing stored) |

pub(crate) mod contract;
pub use contract::{ImmediateLoads, Loaded, SaveRequest, Saved, DEFAULT_DEADLINE};
// For the stores' `use super::{…}`; public at the crate root only.
pub(crate) use contract::{SessionStore, StoreError};

#[cfg(feature = "cache")]
mod cache;
#[cfg(feature = "cache")]
pub use cache::CacheStore;

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod database;
#[cfg(any(feature = "sqlite", feature = "cache"))]
mod load_batch;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub use database::{
    DatabaseStore, DatabaseStoreBuilder, DEFAULT_TABLE, MAINTENANCE_DEADLINE, MAX_TABLE_NAME,
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
pub use cached_db::CachedDatabaseStore;

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
#[cfg(any(
    feature = "sqlite",
    feature = "postgres",
    feature = "mysql",
    feature = "file",
    feature = "cache"
))]
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
