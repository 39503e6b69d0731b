//! Where the demo keeps its cache and its sessions, chosen by URL.
//!
//! - The cache (pages and fragments): any cache URL, `memory://` by default.
//! - Sessions: a SQL URL (`sqlite://`, `postgres://`, `mysql://`, `mariadb://`) gives a `DatabaseStore`
//!   (Django's `db` engine, its table created if missing); any other URL is a cache (`redis://`,
//!   `memory://`, `memcached://`, …) and gives a `CacheStore` on it (Django's `cache` engine).
//!
//! A scheme whose backend is not built in is refused, with the list of the schemes this build knows.

use std::sync::Arc;

use tower_django::cache::{redact, Cache, CacheUrl};
use tower_django::sessions::store::{CacheStore, DatabaseStore};
use tower_django::sessions::SessionStore;

/// What a backend that cannot be reached or understood fails with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The cache URL when `CACHE_URL` is not set: the in-process memory cache.
pub const DEFAULT_CACHE_URL: &str = "memory://";

/// The demo's cache and session store, and what to call them when telling the user.
#[derive(Clone)]
pub struct Backends {
    /// Pages and fragments.
    pub cache: Cache,
    /// Sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// The cache, in words (its URL without credentials).
    pub cache_label: String,
    /// The session store, in words.
    pub sessions_label: String,
}

impl Backends {
    /// Opens the cache at `cache_url` and the session store at `session_url` (creating its table on a
    /// SQL database).
    pub async fn connect(cache_url: &str, session_url: &str) -> Result<Backends, BoxError> {
        let cache = Cache::from_url(cache_url)
            .await
            .map_err(|error| format!("cache {}: {error}", redact(cache_url)))?;
        let (sessions, kind): (Arc<dyn SessionStore>, &str) = if is_sql(session_url)? {
            let store = DatabaseStore::connect(session_url)
                .await
                .map_err(|error| format!("sessions {}: {error}", redact(session_url)))?;
            store
                .migrate()
                .await
                .map_err(|error| format!("sessions {}: {error}", redact(session_url)))?;
            (Arc::new(store), "DatabaseStore")
        } else {
            let cache = Cache::from_url(session_url)
                .await
                .map_err(|error| format!("sessions {}: {error}", redact(session_url)))?;
            (Arc::new(CacheStore::new(cache)), "CacheStore")
        };
        Ok(Backends {
            cache,
            sessions,
            cache_label: redact(cache_url),
            sessions_label: format!("{kind} on {}", redact(session_url)),
        })
    }
}

/// Whether `url` names a SQL database (sessions in a table) rather than a cache.
fn is_sql(url: &str) -> Result<bool, BoxError> {
    let parsed = CacheUrl::parse(url).map_err(|error| format!("sessions: {error}"))?;
    Ok(matches!(
        parsed.scheme.as_str(),
        "sqlite" | "postgres" | "postgresql" | "mysql" | "mariadb"
    ))
}
