//! `CacheStore`s on the test servers, shared by the conformance suite and the concurrency tests. Each is
//! `None` when its server's `TEST_*` variable is unset (a failure instead with `TEST_REQUIRE_SERVERS=1`),
//! and keeps its keys apart under `name`. Deadlines are generous: these tests are about what the stores
//! keep, not how fast, and must pass on a busy machine.
#![allow(dead_code)]

use std::time::Duration;

/// The server timeout and store deadline of every store here.
const GENEROUS: Duration = Duration::from_secs(30);

/// `cache` as a session store held to the generous deadline.
#[cfg(any(feature = "redis", feature = "memcached"))]
fn store_on(cache: cache_core::Cache) -> tower_sessions_kit::store::CacheStore {
    tower_sessions_kit::store::CacheStore::new(cache)
        .with_deadline(GENEROUS)
        .expect("a non-zero deadline")
}

#[cfg(feature = "redis")]
use cache_core::backends::RedisBackend;

/// Redis at `TEST_REDIS_URL`, with `client_side_cache` entries of the backend's client-side cache (0: off).
#[cfg(feature = "redis")]
pub fn redis_store(
    name: &str,
    client_side_cache: usize,
) -> Option<tower_sessions_kit::store::CacheStore> {
    let url = cache_core::testing::server_url("TEST_REDIS_URL", "Redis session store")?;
    let backend = RedisBackend::builder(url)
        .namespace(format!("{name}:"))
        .client_side_cache(client_side_cache)
        .timeout(GENEROUS)
        .build()
        .expect("redis backend");
    Some(store_on(cache_core::Cache::new(backend)))
}

/// The Redis Cluster at `TEST_REDIS_CLUSTER_URLS` (node URLs separated by commas).
#[cfg(feature = "redis-cluster")]
fn redis_cluster_backend(name: &str) -> Option<RedisBackend> {
    let urls =
        cache_core::testing::server_url("TEST_REDIS_CLUSTER_URLS", "Redis Cluster session store")?;
    let backend = RedisBackend::cluster_builder(urls.split(',').map(str::trim))
        .namespace(format!("{name}:"))
        .timeout(GENEROUS)
        .build()
        .expect("redis cluster backend");
    assert!(backend.is_cluster());
    Some(backend)
}

/// A `CacheStore` on the Redis Cluster.
#[cfg(feature = "redis-cluster")]
pub fn redis_cluster_store(name: &str) -> Option<tower_sessions_kit::store::CacheStore> {
    redis_cluster_backend(name).map(|backend| store_on(cache_core::Cache::new(backend)))
}

/// A `RedisStore` (sessions as hashes) at `TEST_REDIS_URL`, its keys under `name`, with
/// `client_side_cache` entries of the backend's client-side cache (0: off).
#[cfg(feature = "redis")]
pub fn redis_hash_store(
    name: &str,
    client_side_cache: usize,
) -> Option<tower_sessions_kit::store::RedisStore> {
    let url = cache_core::testing::server_url("TEST_REDIS_URL", "Redis session store")?;
    let backend = RedisBackend::builder(url)
        .namespace(format!("{name}:"))
        .client_side_cache(client_side_cache)
        .timeout(GENEROUS)
        .build()
        .expect("redis backend");
    Some(hash_store_on(backend))
}

/// A `RedisStore` on the Redis Cluster.
#[cfg(feature = "redis-cluster")]
pub fn redis_cluster_hash_store(name: &str) -> Option<tower_sessions_kit::store::RedisStore> {
    redis_cluster_backend(name).map(hash_store_on)
}

#[cfg(feature = "redis")]
fn hash_store_on(backend: RedisBackend) -> tower_sessions_kit::store::RedisStore {
    tower_sessions_kit::store::RedisStore::new(backend)
        .with_deadline(GENEROUS)
        .expect("a non-zero deadline")
}

/// memcached at `TEST_MEMCACHED_URL`.
#[cfg(feature = "memcached")]
pub fn memcached_store(name: &str) -> Option<tower_sessions_kit::store::CacheStore> {
    let url = cache_core::testing::server_url("TEST_MEMCACHED_URL", "memcached session store")?;
    let backend = cache_core::backends::MemcachedBackendBuilder::from_url(&url)
        .expect("memcached URL")
        .timeout(GENEROUS)
        .build()
        .expect("memcached backend");
    let cache = cache_core::Cache::builder(backend).key_prefix(name).build();
    Some(store_on(cache))
}
