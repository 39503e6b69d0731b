//! Compile-time proof that each `tower-django` feature gives, through the umbrella crate alone, the items it
//! promises. Every block below is behind this crate's forwarding features (see `Cargo.toml`); a feature
//! that no longer reaches the crate providing the item fails `cargo check` here with "unresolved import"
//! or "no function named …". `.ci/feature-matrix.sh` checks this crate under many feature sets.
//!
//! Features implied by the umbrella (`redis` → `cache`, `signed-cookie` → `sessions`, …) are relied on
//! deliberately: this crate's features forward without implying each other, so code behind
//! `#[cfg(feature = "redis")]` compiles only if the umbrella's `redis` itself brings `tower_django::cache`,
//! and `features = ["sessions", "redis"]` must be enough for a Redis `CacheStore`.

#![forbid(unsafe_code)]
#![deny(warnings)]

/// `cache`: the cache API, named caches, fragments, and the backends that need no feature.
#[cfg(feature = "cache")]
pub mod cache {
    pub use tower_django::cache::backends::DummyBackend;
    use tower_django::cache::{Cache, Caches, CachesConfig, FragmentCache, Result};

    /// A cache over the dummy backend (always compiled in).
    pub fn dummy() -> Cache {
        Cache::new(DummyBackend::new())
    }

    /// Fragments in any cache.
    pub fn fragments(cache: Cache) -> FragmentCache {
        FragmentCache::new(cache)
    }

    /// Django's `CACHES` from configuration.
    pub async fn caches(config: CachesConfig) -> Result<Caches> {
        Caches::from_config(config).await
    }
}

/// The cache backends, one per feature (each implies `cache`, so none needs this crate's `cache` on).
pub mod backends {
    #[cfg(feature = "memory")]
    pub use tower_django::cache::backends::MemoryBackend;

    #[cfg(feature = "file")]
    pub use tower_django::cache::backends::FileBackend;

    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    pub use tower_django::cache::{backends::DatabaseBackend, sql::SqlPool};

    /// `sqlite`: the SQLite driver is compiled in.
    #[cfg(feature = "sqlite")]
    pub fn is_sqlite(pool: &SqlPool) -> bool {
        matches!(pool, SqlPool::Sqlite(_))
    }

    /// `postgres`: the PostgreSQL driver is compiled in.
    #[cfg(feature = "postgres")]
    pub fn is_postgres(pool: &SqlPool) -> bool {
        matches!(pool, SqlPool::Postgres(_))
    }

    /// `mysql`: the MySQL/MariaDB driver is compiled in.
    #[cfg(feature = "mysql")]
    pub fn is_mysql(pool: &SqlPool) -> bool {
        matches!(pool, SqlPool::MySql(_))
    }

    #[cfg(feature = "redis")]
    pub use tower_django::cache::backends::RedisBackend;

    /// `redis-cluster`: the cluster builder exists (and, implied, the Redis backend).
    #[cfg(feature = "redis-cluster")]
    pub fn cluster(
        nodes: &[&str],
    ) -> tower_django::cache::Result<tower_django::cache::backends::RedisBackend> {
        tower_django::cache::backends::RedisBackend::cluster_builder(nodes.iter().copied()).build()
    }

    /// `redis-tls` adds no item (it makes `rediss://` URLs work); naming the backend proves it implies
    /// `redis`.
    #[cfg(feature = "redis-tls")]
    pub fn tls(
        url: &str,
    ) -> tower_django::cache::Result<tower_django::cache::backends::RedisBackend> {
        tower_django::cache::backends::RedisBackend::from_url(url)
    }

    #[cfg(feature = "memcached")]
    pub use tower_django::cache::backends::MemcachedBackend;
}

/// `umbrella-default` (tower-django's `default`): the cache API on memory and SQLite.
#[cfg(feature = "umbrella-default")]
pub mod default {
    use tower_django::cache::{backends::MemoryBackend, sql::SqlPool};
    use tower_django::cache::Cache;

    /// The in-process cache.
    pub fn memory() -> Cache {
        Cache::new(MemoryBackend::new())
    }

    /// The SQLite driver.
    pub fn is_sqlite(pool: &SqlPool) -> bool {
        matches!(pool, SqlPool::Sqlite(_))
    }
}

/// `hooks` and `hooks-minijinja`: Django's middleware model.
pub mod hooks {
    #[cfg(feature = "hooks")]
    pub use tower_django::hooks::{Exception, HooksLayer, Middleware, TemplateResponse};

    /// `hooks-minijinja`: the MiniJinja renderer (and, implied, the hooks).
    #[cfg(feature = "hooks-minijinja")]
    pub fn minijinja(
        renderer: tower_django::hooks::MiniJinjaRenderer,
    ) -> tower_django::hooks::HooksLayer {
        tower_django::hooks::HooksLayer::new().renderer(renderer)
    }
}

/// `page`: the page cache and the header layers, on the backends enabled with it.
#[cfg(feature = "page")]
pub mod page {
    pub use tower_django::page::{CachePageLayer, ConditionalGetLayer, NeverCacheLayer};

    /// `page` + `memory`.
    #[cfg(feature = "memory")]
    pub fn on_memory() -> CachePageLayer {
        use tower_django::cache::{backends::MemoryBackend, Cache};
        CachePageLayer::new(Cache::new(MemoryBackend::new()))
    }

    /// `page` + `redis`.
    #[cfg(feature = "redis")]
    pub fn on_redis(url: &str) -> tower_django::cache::Result<CachePageLayer> {
        use tower_django::cache::{backends::RedisBackend, Cache};
        Ok(CachePageLayer::new(Cache::new(RedisBackend::from_url(
            url,
        )?)))
    }

    /// `page` + `memcached`.
    #[cfg(feature = "memcached")]
    pub fn on_memcached(url: &str) -> tower_django::cache::Result<CachePageLayer> {
        use tower_django::cache::{backends::MemcachedBackend, Cache};
        Ok(CachePageLayer::new(Cache::new(MemcachedBackend::from_url(
            url,
        )?)))
    }

    /// `page` + `file`.
    #[cfg(feature = "file")]
    pub fn on_file(dir: &std::path::Path) -> tower_django::cache::Result<CachePageLayer> {
        use tower_django::cache::{backends::FileBackend, Cache};
        Ok(CachePageLayer::new(Cache::new(FileBackend::new(dir)?)))
    }
}

/// `sessions`: the layer, the extractor, and one store per backend feature enabled with it.
#[cfg(any(feature = "sessions", feature = "signed-cookie"))]
pub mod sessions {
    pub use tower_django::sessions::users::{UserIndex, UserSession};
    pub use tower_django::sessions::{Session, SessionLayer, SessionStore};

    /// `sessions` alone: `MemoryStore`, with sessions by user.
    pub fn in_process(max_per_user: usize) -> Result<SessionLayer, tower_django::sessions::InvalidSetting> {
        SessionLayer::new(tower_django::sessions::store::MemoryStore::new())
            .max_sessions_per_user(max_per_user)
    }

    /// `sessions` + `cache`: `CacheStore`.
    #[cfg(feature = "cache")]
    pub fn in_cache(cache: tower_django::cache::Cache) -> SessionLayer {
        SessionLayer::new(tower_django::sessions::store::CacheStore::new(cache))
    }

    /// `sessions` + `memory`.
    #[cfg(feature = "memory")]
    pub fn in_memory() -> SessionLayer {
        use tower_django::cache::{backends::MemoryBackend, Cache};
        use tower_django::sessions::store::CacheStore;
        SessionLayer::new(CacheStore::new(Cache::new(MemoryBackend::new())))
    }

    /// `sessions` + `redis`: `CacheStore` on `RedisBackend`.
    #[cfg(feature = "redis")]
    pub fn in_redis(url: &str) -> tower_django::cache::Result<SessionLayer> {
        use tower_django::cache::{backends::RedisBackend, Cache};
        use tower_django::sessions::store::CacheStore;
        Ok(SessionLayer::new(CacheStore::new(Cache::new(
            RedisBackend::from_url(url)?,
        ))))
    }

    /// `sessions` + `redis`: `RedisStore`, each session a hash.
    #[cfg(feature = "redis")]
    pub fn in_redis_hashes(
        url: &str,
    ) -> Result<SessionLayer, tower_django::sessions::StoreError> {
        Ok(SessionLayer::new(
            tower_django::sessions::store::RedisStore::from_url(url)?,
        ))
    }

    /// `sessions` + `memcached`: `CacheStore` on `MemcachedBackend`.
    #[cfg(feature = "memcached")]
    pub fn in_memcached(url: &str) -> tower_django::cache::Result<SessionLayer> {
        use tower_django::cache::{backends::MemcachedBackend, Cache};
        use tower_django::sessions::store::CacheStore;
        Ok(SessionLayer::new(CacheStore::new(Cache::new(
            MemcachedBackend::from_url(url)?,
        ))))
    }

    /// `sessions` + `sqlite`, `postgres` or `mysql`: `DatabaseStore`, and `CachedDatabaseStore` (they
    /// imply `cache`).
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    pub async fn in_database(
        url: &str,
        cache: tower_django::cache::Cache,
    ) -> Result<SessionLayer, tower_django::sessions::StoreError> {
        use tower_django::sessions::store::{CachedDatabaseStore, DatabaseStore};
        let database = DatabaseStore::connect(url).await?;
        Ok(SessionLayer::new(CachedDatabaseStore::new(database, cache)))
    }

    /// `sessions` + `file`: `FileStore`.
    #[cfg(feature = "file")]
    pub fn in_files(dir: &str) -> Result<SessionLayer, tower_django::sessions::StoreError> {
        Ok(SessionLayer::new(
            tower_django::sessions::store::FileStore::new(dir)?,
        ))
    }

    /// `django`: Django's settings, signing and session codec.
    #[cfg(feature = "django")]
    pub fn django_codec(
        secret: &str,
    ) -> Result<tower_django::sessions::django::SessionCodec, tower_django::sessions::django::SettingsError>
    {
        Ok(tower_django::sessions::django::Django::new(secret)?.session_codec())
    }

    /// `django` + `sqlite`, `postgres` or `mysql`: sessions in Django's `django_session`, and the
    /// logged-in Django user.
    #[cfg(all(
        feature = "django",
        any(feature = "sqlite", feature = "postgres", feature = "mysql")
    ))]
    pub async fn beside_django(
        url: &str,
        django: &tower_django::sessions::django::Django,
    ) -> Result<(SessionLayer, tower_django::sessions::django_auth::DjangoAuth), tower_django::sessions::StoreError>
    {
        use tower_django::sessions::store::DatabaseStore;
        let store = DatabaseStore::builder(url).django(django).connect().await?;
        Ok((
            SessionLayer::new(store),
            tower_django::sessions::django_auth::DjangoAuth::new(django),
        ))
    }

    /// `django` + `signed-cookie`: Django's `signed_cookies` engine.
    #[cfg(all(feature = "django", feature = "signed-cookie"))]
    pub fn django_cookies(django: &tower_django::sessions::django::Django) -> SessionLayer {
        SessionLayer::new(tower_django::sessions::store::SignedCookieStore::django(django))
    }

    /// `signed-cookie`: `SignedCookieStore` and its `Key`.
    #[cfg(feature = "signed-cookie")]
    pub fn in_cookies(key: tower_django::sessions::Key) -> SessionLayer {
        SessionLayer::new(tower_django::sessions::store::SignedCookieStore::new(key))
    }
}

/// `testing`: the conformance suites' support types, in each crate that is on.
pub mod testing {
    #[cfg(all(feature = "testing", feature = "cache"))]
    pub use tower_django::cache::testing::{FaultMode, FaultProxy};

    #[cfg(all(feature = "testing", feature = "sessions"))]
    pub use tower_django::sessions::testing::Subject;
}
