//! The session stores the session benches compare, ours (tower-sessions-kit) beside tower-sessions' matching
//! ones, each opened in one place: every bench measures the same store, and replacing ours with another
//! is a change of one line here.
//!
//! Each is opened on the runtime that calls it: the SQLite and Redis ones keep connections tied to it, so
//! open them where they will serve.

use std::path::Path;

use cache_core::backends::{MemoryBackend, RedisBackend};
use cache_core::Cache;
use tower::BoxError;
use tower_sessions_kit::store::{CacheStore, DatabaseStore, MemoryStore, RedisStore};
use tower_sessions_kit::SessionStore;
use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};

/// Our memory store.
pub fn kit_memory_store() -> impl SessionStore {
    MemoryStore::new()
}

/// Our Redis store on `url` (each session a hash), its keys under a namespace of their own; with
/// `client_side_cache`, on a backend keeping up to that many sessions in process memory.
pub async fn kit_redis_store(
    url: &str,
    client_side_cache: Option<usize>,
) -> Result<impl SessionStore, BoxError> {
    let mut backend = RedisBackend::builder(url).namespace("bench-session-load-kit:");
    if let Some(entries) = client_side_cache {
        backend = backend.client_side_cache(entries);
    }
    Ok(RedisStore::new(backend.build()?))
}

/// Our `CacheStore` on cache-core's memory backend (the memory store before `MemoryStore`).
pub fn kit_memory_cache_store() -> impl SessionStore {
    CacheStore::new(memory_cache())
}

/// Our `CacheStore` on cache-core's Redis backend on `url` (the Redis store before `RedisStore`: each
/// session one string, saved by compare-and-swap), its keys under a namespace of their own.
pub fn kit_redis_cache_store(url: &str) -> Result<impl SessionStore, BoxError> {
    Ok(CacheStore::new(redis_cache(
        url,
        "bench-session-load-cas:",
    )?))
}

/// cache-core's memory backend with room for every session a bench makes (its default bound, Django's
/// 300 entries, would cull them mid-run).
pub fn memory_cache() -> Cache {
    let backend = MemoryBackend::builder()
        .max_entries(100_000)
        .build()
        .expect("memory backend");
    Cache::new(backend)
}

/// cache-core's Redis backend on `url` with its defaults, its keys under `namespace`.
pub fn redis_cache(url: &str, namespace: &str) -> Result<Cache, BoxError> {
    let backend = RedisBackend::builder(url).namespace(namespace).build()?;
    Ok(Cache::new(backend))
}

/// Our `DatabaseStore` on the SQLite file `path` (made when missing), migrated.
pub async fn kit_sqlite_store(path: &Path) -> Result<DatabaseStore, BoxError> {
    let store = DatabaseStore::connect(format!("sqlite://{}", path.display())).await?;
    store.migrate().await?;
    Ok(store)
}

/// tower-sessions-sqlx-store's `SqliteStore` on the SQLite file `path` (made when missing), opened as its
/// README shows (`SqlitePool::connect`, sqlx defaults), migrated.
pub async fn peer_sqlite_store(
    path: &Path,
) -> Result<tower_sessions_sqlx_store::SqliteStore, BoxError> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", path.display())).await?;
    let store = tower_sessions_sqlx_store::SqliteStore::new(pool);
    store.migrate().await?;
    Ok(store)
}

/// tower-sessions-redis-store on `url`: a fred pool of 6 connections, connected.
pub async fn peer_redis_store(
    url: &str,
) -> Result<tower_sessions_redis_store::RedisStore<Pool>, BoxError> {
    let pool = Pool::new(Config::from_url(url)?, None, None, None, 6)?;
    pool.init().await?;
    Ok(tower_sessions_redis_store::RedisStore::new(pool))
}
