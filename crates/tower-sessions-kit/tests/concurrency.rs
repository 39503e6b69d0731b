//! No lost updates: 50 concurrent requests on one session, each inserting its own key, through a real
//! `Router`, leave all 50 keys in the store. The memory store, SQLite, the cached database and the cache
//! store on in-process backends always; PostgreSQL, MySQL, Redis and Redis Cluster (the hash store and the
//! cache store) and memcached when their `TEST_*_URL` is set (required with `TEST_REQUIRE_SERVERS=1`).
//!
//! And coalesced loads: sessions loaded while another load runs are read together (one query or one
//! multi-get) and each still gets its own record, or none for an unknown or expired key.

mod servers;
mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, Path};
use axum::http::{header, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use support::{memory_store, reply};
use tokio::sync::Barrier;
use tower::ServiceExt;
use tower_sessions_kit::record::{Changes, Data};
use tower_sessions_kit::store::{CacheStore, DatabaseStore, Loaded, SaveRequest, Saved};
use tower_sessions_kit::StoreError;
use tower_sessions_kit::{Session, SessionError, SessionKey, SessionLayer, SessionStore};

const REQUESTS: usize = 50;

fn app(store: Arc<dyn SessionStore>, all_loaded: Arc<Barrier>) -> Router {
    Router::new()
        .route(
            "/start",
            get(|session: Session| async move {
                session.insert("start", &true).await?;
                Ok::<_, SessionError>("started")
            }),
        )
        .route(
            "/add/{n}",
            get(
                |session: Session,
                 Path(n): Path<usize>,
                 Extension(all_loaded): Extension<Arc<Barrier>>| async move {
                    // Every request loads the record before any of them saves: the worst case for
                    // lost updates, where a whole-record save would keep only one key.
                    session.get::<bool>("start").await?;
                    all_loaded.wait().await;
                    session.insert(&format!("k{n}"), &n).await?;
                    Ok::<_, SessionError>("added")
                },
            ),
        )
        .layer(SessionLayer::from_arc(store))
        .layer(Extension(all_loaded))
}

/// Runs the 50 requests and returns the keys missing from the stored session afterwards.
async fn lost_keys(store: Arc<dyn SessionStore>) -> Vec<usize> {
    let app = app(Arc::clone(&store), Arc::new(Barrier::new(REQUESTS)));
    let start = app
        .clone()
        .oneshot(Request::get("/start").body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let start = reply(start).await;
    let cookie = start
        .session_cookie()
        .expect("session cookie")
        .value()
        .to_owned();
    let key = SessionKey::from_cookie_value(&cookie).expect("key");

    let mut requests = Vec::new();
    for n in 0..REQUESTS {
        let app = app.clone();
        let cookie = cookie.clone();
        requests.push(tokio::spawn(async move {
            let request = Request::get(format!("/add/{n}"))
                .header(header::COOKIE, format!("sessionid={cookie}"))
                .body(Body::empty())
                .expect("request");
            app.oneshot(request).await.expect("infallible").status()
        }));
    }
    for request in requests {
        assert_eq!(request.await.expect("task"), StatusCode::OK);
    }
    let data = store
        .load(&key)
        .await
        .expect("load")
        .expect("session exists")
        .data;
    assert_eq!(data.get("start"), Some(&serde_json::json!(true)));
    (0..REQUESTS)
        .filter(|n| data.get(&format!("k{n}")) != Some(&serde_json::json!(n)))
        .collect()
}

async fn fifty_concurrent_writers_keep_every_key(store: Arc<dyn SessionStore>) {
    let missing = lost_keys(store).await;
    assert!(missing.is_empty(), "lost updates for keys {missing:?}");
}

/// A store that writes each request's whole view of the session (what a naive store does): the harness
/// must catch its lost updates, or it proves nothing.
struct WholeRecord(Arc<dyn SessionStore>);

#[async_trait::async_trait]
impl SessionStore for WholeRecord {
    fn name(&self) -> &'static str {
        "whole-record"
    }
    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>, StoreError> {
        self.0.load(key).await
    }
    async fn create(
        &self,
        data: &Data,
        age: std::time::Duration,
    ) -> Result<SessionKey, StoreError> {
        self.0.create(data, age).await
    }
    async fn save(&self, key: &SessionKey, request: SaveRequest<'_>) -> Result<Saved, StoreError> {
        let overwrite = Changes::replace_with(request.data);
        self.0
            .save(
                key,
                SaveRequest {
                    changes: &overwrite,
                    ..request
                },
            )
            .await
    }
    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        self.0.delete(key).await
    }
    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.0.exists(key).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_harness_catches_a_store_that_overwrites_whole_records() {
    let (store, _) = memory_store();
    let missing = lost_keys(Arc::new(WholeRecord(Arc::new(store)))).await;
    assert_eq!(
        missing.len(),
        REQUESTS - 1,
        "only the last writer's key survives"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_merges_in_place() {
    let store = tower_sessions_kit::store::MemoryStore::new();
    fifty_concurrent_writers_keep_every_key(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_cache_store() {
    let (store, _) = memory_store();
    fifty_concurrent_writers_keep_every_key(Arc::new(store)).await;
}

/// The store deadline here: these tests are about merging, not time, and 50 writers on a busy machine can
/// take longer than the default second.
const GENEROUS: std::time::Duration = std::time::Duration::from_secs(30);

/// The URL of the SQLite database `file` in `dir`.
fn sqlite_url(dir: &tempfile::TempDir, file: &str) -> String {
    format!("sqlite://{}", dir.path().join(file).display())
}

/// A migrated `DatabaseStore` on a SQLite file in `dir`.
async fn sqlite_sessions(dir: &tempfile::TempDir) -> DatabaseStore {
    let store = DatabaseStore::builder(sqlite_url(dir, "sessions.db"))
        .deadline(GENEROUS)
        .connect()
        .await
        .expect("sqlite");
    store.migrate().await.expect("migrate");
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = sqlite_sessions(&dir).await;
    fifty_concurrent_writers_keep_every_key(Arc::new(store)).await;
}

/// The harness on the store `make` builds for a name of this run's own (a table, a key namespace), when
/// its server is configured (`None`: skipped, said on stderr).
#[cfg(any(
    feature = "postgres",
    feature = "mysql",
    feature = "redis",
    feature = "memcached"
))]
async fn when_configured<S, F>(make: impl FnOnce(String) -> F)
where
    S: SessionStore,
    F: std::future::Future<Output = Option<S>>,
{
    let name = tower_sessions_kit::testing::unique_name("concurrency");
    if let Some(store) = make(name).await {
        fifty_concurrent_writers_keep_every_key(Arc::new(store)).await;
    }
}

/// A migrated `DatabaseStore` with its own `table` on the server named by `var`, when it is set.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn database_at(var: &str, what: &str, table: String) -> Option<DatabaseStore> {
    let url = cache_core::testing::server_url(var, what)?;
    let store = DatabaseStore::builder(url)
        .table(table)
        .deadline(GENEROUS)
        .connect()
        .await
        .expect(what);
    store.migrate().await.expect("migrate");
    Some(store)
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store() {
    when_configured(|table| database_at("TEST_POSTGRES_URL", "PostgreSQL concurrency", table))
        .await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_store() {
    when_configured(|table| database_at("TEST_MYSQL_URL", "MySQL concurrency", table)).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_cache_store() {
    when_configured(|name| async move { servers::redis_store(&name, 0) }).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_cache_store_with_client_side_cache() {
    when_configured(|name| async move { servers::redis_store(&name, 1_000) }).await;
}

/// `RedisStore`: each save one script applying its changes to the session's hash.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_hash_store() {
    when_configured(|name| async move { servers::redis_hash_store(&name, 0) }).await;
}

/// The same with the backend's client-side cache.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_hash_store_with_client_side_cache() {
    when_configured(|name| async move { servers::redis_hash_store(&name, 1_000) }).await;
}

#[cfg(feature = "redis-cluster")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_cluster_hash_store() {
    when_configured(|name| async move { servers::redis_cluster_hash_store(&name) }).await;
}

#[cfg(feature = "redis-cluster")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_cluster_cache_store() {
    when_configured(|name| async move { servers::redis_cluster_store(&name) }).await;
}

#[cfg(feature = "memcached")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memcached_cache_store() {
    when_configured(|name| async move { servers::memcached_store(&name) }).await;
}

/// `CacheStore` on cache-core's file backend: merged by its `compare_and_set` under the directory's lock.
#[cfg(feature = "cache")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_cache_store() {
    use cache_core::{backends::FileBackend, Cache};
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = FileBackend::builder(dir.path().join("cache"))
        .max_entries(10_000)
        .build()
        .expect("file cache");
    fifty_concurrent_writers_keep_every_key(Arc::new(CacheStore::new(Cache::new(backend)))).await;
}

/// `CacheStore` on cache-core's database backend (SQLite): merged by its `compare_and_set`.
#[cfg(feature = "cache")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_cache_store() {
    use cache_core::{backends::DatabaseBackend, Cache};
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = DatabaseBackend::connect(&sqlite_url(&dir, "cache.db"))
        .await
        .expect("sqlite cache");
    backend.create_table().await.expect("create table");
    fifty_concurrent_writers_keep_every_key(Arc::new(CacheStore::new(Cache::new(backend)))).await;
}

#[cfg(feature = "cache")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cached_database_store() {
    use cache_core::{backends::MemoryBackend, Cache};
    let dir = tempfile::tempdir().expect("temp dir");
    let database = sqlite_sessions(&dir).await;
    let store = tower_sessions_kit::store::CachedDatabaseStore::new(
        database,
        Cache::new(MemoryBackend::new()),
    );
    fifty_concurrent_writers_keep_every_key(Arc::new(store)).await;
}

// ---- coalesced loads ------------------------------------------------------------------------------

/// 40 sessions, an expired one, an unknown key and one session twice, all loaded at once: each load gets
/// its own record (or none), and the loads that arrived during the first were read together. Runs on
/// the current-thread runtime, where the batch's log event is captured.
async fn concurrent_loads_are_read_together(store: Arc<dyn SessionStore>) {
    let (logs, _capture) = test_logs::capture_logs();
    let mut expected = Vec::new();
    for n in 0..40 {
        let data = serde_json::json!({ "n": n })
            .as_object()
            .cloned()
            .unwrap_or_default();
        let key = store
            .create(&data, std::time::Duration::from_secs(60))
            .await
            .expect("create");
        expected.push((key, Some(n)));
    }
    let expired = store
        .create(&Data::new(), std::time::Duration::ZERO)
        .await
        .expect("create");
    expected.push((expired, None));
    let unknown = SessionKey::parse("unknownkey0000000000000000000000").expect("key");
    expected.push((unknown, None));
    expected.push(expected[7].clone());
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    let mut loads = tokio::task::JoinSet::new();
    for (i, (key, _)) in expected.iter().enumerate() {
        let (store, key) = (Arc::clone(&store), key.clone());
        loads.spawn(async move { (i, store.load(&key).await) });
    }
    let mut seen = 0;
    while let Some(joined) = loads.join_next().await {
        let (i, loaded) = joined.expect("load task");
        let loaded = loaded.expect("load");
        let n = loaded
            .as_ref()
            .and_then(|loaded| loaded.data.get("n"))
            .and_then(serde_json::Value::as_i64);
        assert_eq!(n, expected[i].1, "session {i}");
        assert_eq!(
            loaded.is_some(),
            expected[i].1.is_some(),
            "session {i} found"
        );
        seen += 1;
    }
    assert_eq!(seen, expected.len());
    assert!(
        !logs
            .lines_with(&["coalesced calls sent in one batch"])
            .is_empty(),
        "no batch in logs:\n{}",
        logs.text()
    );
    assert!(
        logs.lines_with(&["coalesced batch failed"]).is_empty(),
        "logs:\n{}",
        logs.text()
    );
}

#[tokio::test]
async fn sqlite_loads_are_coalesced() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("sessions.db").display());
    let store = DatabaseStore::connect(url).await.expect("sqlite");
    store.migrate().await.expect("migrate");
    concurrent_loads_are_read_together(Arc::new(store)).await;
}

#[cfg(feature = "cache")]
#[tokio::test]
async fn file_cache_loads_are_coalesced() {
    use cache_core::{backends::FileBackend, Cache};
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = FileBackend::builder(dir.path().join("cache"))
        .build()
        .expect("file cache");
    let store = tower_sessions_kit::store::CacheStore::new(Cache::new(backend));
    concurrent_loads_are_read_together(Arc::new(store)).await;
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_loads_are_coalesced() {
    if let Some(store) = servers::redis_store("tsk-coalesce", 0) {
        concurrent_loads_are_read_together(Arc::new(store)).await;
    }
}

#[cfg(feature = "redis-cluster")]
#[tokio::test]
async fn redis_cluster_loads_are_coalesced() {
    if let Some(store) = servers::redis_cluster_store("tsk-coalesce") {
        concurrent_loads_are_read_together(Arc::new(store)).await;
    }
}

#[cfg(feature = "memcached")]
#[tokio::test]
async fn memcached_loads_are_coalesced() {
    if let Some(store) = servers::memcached_store("tsk-coalesce") {
        concurrent_loads_are_read_together(Arc::new(store)).await;
    }
}
