//! The store conformance suite on every store. Server-backed stores run when their `TEST_*_URL` is set
//! (and must, with `TEST_REQUIRE_SERVERS=1`).

mod servers;

use tower_sessions_kit::testing::{Setup, Subject};

/// A migrated `DatabaseStore` at `url`, with its own `table`.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
async fn database(url: String, table: String) -> tower_sessions_kit::store::DatabaseStore {
    let store = tower_sessions_kit::store::DatabaseStore::builder(url)
        .table(table)
        .connect()
        .await
        .expect("database store");
    store.migrate().await.expect("migrate");
    store
}

/// A SQLite database file in a new directory (kept: the suite's tasks may outlive the test).
#[cfg(feature = "sqlite")]
fn sqlite_file_url() -> String {
    let dir = tempfile::tempdir().expect("temp dir").keep();
    format!("sqlite://{}", dir.join("sessions.db").display())
}

mod memory {
    use super::*;
    use tower_sessions_kit::store::MemoryStore;

    tower_sessions_kit::conformance_suite!(|_setup: Setup| async move {
        Some(Subject::new(MemoryStore::new()).with_users())
    });
}

/// Sessions as Redis hashes, saved by applying the changes in a script.
#[cfg(feature = "redis")]
mod redis_hash {
    use super::*;

    tower_sessions_kit::conformance_suite!(|setup: Setup| async move {
        servers::redis_hash_store(&setup.unique, 0).map(|store| Subject::new(store).with_users())
    });
}

/// The same with the backend's client-side cache: sessions read through it, saves on the pool.
#[cfg(feature = "redis")]
mod redis_hash_client_side_cache {
    use super::*;

    tower_sessions_kit::conformance_suite!(|setup: Setup| async move {
        servers::redis_hash_store(&setup.unique, 1_000)
            .map(|store| Subject::new(store).with_users())
    });
}

/// Sessions as Redis hashes on a cluster: each session one key, a user's index another.
#[cfg(feature = "redis-cluster")]
mod redis_cluster_hash {
    use super::*;

    tower_sessions_kit::conformance_suite!(|setup: Setup| async move {
        servers::redis_cluster_hash_store(&setup.unique)
            .map(|store| Subject::new(store).with_users())
    });
}

#[cfg(feature = "memory")]
mod memory_cache {
    use super::*;
    use cache_core::{backends::MemoryBackend, Cache};
    use tower_sessions_kit::store::CacheStore;

    tower_sessions_kit::conformance_suite!(|setup: Setup| async move {
        let backend = MemoryBackend::builder()
            .max_entries(100_000)
            .build()
            .expect("memory backend");
        let cache = Cache::builder(backend).key_prefix(setup.unique).build();
        Some(Subject::new(CacheStore::new(cache)))
    });
}

#[cfg(feature = "sqlite")]
mod sqlite_file {
    use super::*;

    tower_sessions_kit::conformance_suite!(|setup: Setup| async move {
        Some(Subject::new(database(sqlite_file_url(), setup.unique).await).with_users())
    });
}

#[cfg(feature = "sqlite")]
mod sqlite_memory {
    use super::*;
    use tower_sessions_kit::store::DatabaseStore;

    tower_sessions_kit::conformance_suite!(|_setup: Setup| async move {
        let store = DatabaseStore::connect("sqlite::memory:")
            .await
            .expect("sqlite store");
        store.migrate().await.expect("migrate");
        Some(Subject::new(store).with_users())
    });
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    tower_sessions_kit::conformance_suite!(|setup: Setup| async move {
        let url = cache_core::testing::server_url("TEST_POSTGRES_URL", "PostgreSQL session store")?;
        Some(Subject::new(database(url, setup.unique).await).with_users())
    });
}

#[cfg(feature = "mysql")]
mod mysql {
    use super::*;

    tower_sessions_kit::conformance_suite!(|setup: Setup| async move {
        let url = cache_core::testing::server_url("TEST_MYSQL_URL", "MySQL session store")?;
        Some(Subject::new(database(url, setup.unique).await).with_users())
    });
}

#[cfg(feature = "redis")]
mod redis_cache {
    use super::*;

    tower_sessions_kit::conformance_suite!(|setup: Setup| async move {
        servers::redis_store(&setup.unique, 0).map(Subject::new)
    });
}

/// Redis with the backend's client-side cache: reads are answered from process memory.
#[cfg(feature = "redis")]
mod redis_client_cache {
    use super::*;

    tower_sessions_kit::conformance_suite!(|setup: Setup| async move {
        servers::redis_store(&setup.unique, 1_000).map(Subject::new)
    });
}

/// Redis Cluster (`.ci/start-redis-cluster.sh`): one session is one key, so every operation, the
/// compare-and-set of a save included, runs on the node that owns its slot.
#[cfg(feature = "redis-cluster")]
mod redis_cluster {
    use super::*;

    tower_sessions_kit::conformance_suite!(|setup: Setup| async move {
        servers::redis_cluster_store(&setup.unique).map(Subject::new)
    });
}

/// memcached: saves merge through the backend's CAS tokens.
#[cfg(feature = "memcached")]
mod memcached {
    use super::*;

    tower_sessions_kit::conformance_suite!(|setup: Setup| async move {
        servers::memcached_store(&setup.unique).map(Subject::new)
    });
}

#[cfg(all(feature = "sqlite", feature = "memory"))]
mod cached_db {
    use super::*;
    use cache_core::{backends::MemoryBackend, Cache};
    use tower_sessions_kit::store::CachedDatabaseStore;

    tower_sessions_kit::conformance_suite!(|setup: Setup| async move {
        let database = database(sqlite_file_url(), setup.unique.clone()).await;
        let cache = Cache::builder(MemoryBackend::new())
            .key_prefix(setup.unique)
            .build();
        Some(Subject::new(CachedDatabaseStore::new(database, cache)).with_users())
    });
}

#[cfg(feature = "file")]
mod file {
    use super::*;
    use tower_sessions_kit::store::FileStore;

    tower_sessions_kit::conformance_suite!(|_setup: Setup| async move {
        let dir = tempfile::tempdir().expect("temp dir").keep();
        Some(Subject::new(FileStore::new(dir).expect("file store")).without_merge())
    });
}

#[cfg(feature = "signed-cookie")]
mod signed_cookie {
    use super::*;
    use tower_sessions_kit::store::SignedCookieStore;
    use tower_sessions_kit::Key;

    tower_sessions_kit::conformance_suite!(|_setup: Setup| async move {
        Some(Subject::new(SignedCookieStore::new(Key::generate())).client_side())
    });
}

#[cfg(feature = "signed-cookie")]
mod encrypted_cookie {
    use super::*;
    use tower_sessions_kit::store::SignedCookieStore;
    use tower_sessions_kit::Key;

    tower_sessions_kit::conformance_suite!(|_setup: Setup| async move {
        Some(Subject::new(SignedCookieStore::new(Key::generate()).encrypted(true)).client_side())
    });
}
