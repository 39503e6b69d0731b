//! Store-specific promises beyond the conformance suite: the cached-database store survives a cache
//! outage, the file store cannot be made to touch a path outside its directory, and cache sessions read
//! without a lookup still see every write and expiry.

mod servers;
mod support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use bytes::Bytes;
use cache_core::{Cache, CacheBackend, Error, Expiry};
use tower_sessions_kit::store::{CachedDatabaseStore, FileStore};
use tower_sessions_kit::{SessionKey, SessionStore};

/// A cache backend whose server is down: every call fails.
struct Down;

fn down() -> Error {
    Error::backend("down", "connection refused")
}

#[async_trait]
impl CacheBackend for Down {
    fn name(&self) -> &'static str {
        "down"
    }
    async fn get(&self, _: &str) -> cache_core::Result<Option<Bytes>> {
        Err(down())
    }
    async fn set(&self, _: &str, _: Bytes, _: Expiry) -> cache_core::Result<()> {
        Err(down())
    }
    async fn add(&self, _: &str, _: Bytes, _: Expiry) -> cache_core::Result<bool> {
        Err(down())
    }
    async fn delete(&self, _: &str) -> cache_core::Result<bool> {
        Err(down())
    }
    async fn touch(&self, _: &str, _: Expiry) -> cache_core::Result<bool> {
        Err(down())
    }
    async fn incr(&self, _: &str, _: i64) -> cache_core::Result<i64> {
        Err(down())
    }
    async fn has_key(&self, _: &str) -> cache_core::Result<bool> {
        Err(down())
    }
    async fn clear(&self) -> cache_core::Result<()> {
        Err(down())
    }
}

#[tokio::test]
async fn a_cache_outage_does_not_fail_cached_db_sessions() {
    let (logs, _capture) = test_logs::capture_logs();
    let database = support::sqlite_memory().await;
    let store: Arc<dyn SessionStore> =
        Arc::new(CachedDatabaseStore::new(database.clone(), Cache::new(Down)));
    let app = support::app(Arc::clone(&store));
    let created = support::send(&app, "/set", None).await;
    assert_eq!(created.status, StatusCode::OK);
    let key = created.session_cookie().expect("cookie").value().to_owned();
    let read = support::send(&app, "/read", Some(&key)).await;
    assert_eq!((read.status, read.body.as_str()), (StatusCode::OK, "42"));
    let cycled = support::send(&app, "/cycle", Some(&key)).await;
    assert_eq!(cycled.status, StatusCode::OK);
    let new_key = cycled.session_cookie().expect("cookie").value().to_owned();
    assert_eq!(
        support::send(&app, "/read", Some(&new_key)).await.body,
        "42"
    );
    // The database has it, whatever the cache did.
    let key = SessionKey::parse(&new_key).expect("key");
    assert!(database.exists(&key).await.expect("exists"));
    // Each cache failure was an error event, not silence.
    for what in [
        "Error saving to cache",
        "Error reading from cache",
        "Error deleting from cache",
    ] {
        assert!(
            !logs.lines_with(&["ERROR", what]).is_empty(),
            "no {what:?} in logs:\n{}",
            logs.text()
        );
    }
}

#[tokio::test]
async fn cached_db_reads_are_served_by_the_cache() {
    let database = support::sqlite_memory().await;
    let store = CachedDatabaseStore::new(
        database.clone(),
        Cache::new(cache_core::backends::MemoryBackend::new()),
    );
    let data = serde_json::json!({"a": 1})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let key = store
        .create(&data, Duration::from_secs(60))
        .await
        .expect("create");
    // Drop the database's copy behind the store's back: the cache still answers.
    database.delete(&key).await.expect("delete row");
    let loaded = store.load(&key).await.expect("load").expect("from cache");
    assert_eq!(*loaded.data, data);
}

#[tokio::test]
async fn file_store_keys_cannot_escape_the_directory() {
    let root = tempfile::tempdir().expect("temp dir");
    let sessions = root.path().join("sessions");
    std::fs::create_dir(&sessions).expect("mkdir");
    let outside = root.path().join("sessionidabcdefghijk");
    std::fs::write(
        &outside,
        br#"{"expire_date": 99999999999999, "data": {"owned": true}}"#,
    )
    .expect("write");
    let store = FileStore::new(&sessions).expect("file store");
    for evil in [
        "../sessionidabcdefghijk",
        "..%2Fsessionidabcdefghijk",
        "/etc/passwd_aaaaaaaa",
        "..\\..\\aaaaaaaaaaa",
    ] {
        assert!(!store.accepts_key(evil), "{evil}");
        // Even called directly (bypassing the layer's check), a key that is not well formed is no file.
        if let Some(key) = SessionKey::from_cookie_value(evil) {
            assert_eq!(store.load(&key).await.expect("load"), None, "{evil}");
            store.delete(&key).await.expect("delete");
            assert!(!store.exists(&key).await.expect("exists"));
        }
    }
    assert!(outside.exists(), "the file outside was never touched");
    assert!(FileStore::new(root.path().join("missing")).is_err());
}

#[tokio::test]
async fn file_store_writes_leave_no_temporary_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn SessionStore> = Arc::new(FileStore::new(dir.path()).expect("file store"));
    let app = support::app(Arc::clone(&store));
    let key = support::send(&app, "/set", None)
        .await
        .session_cookie()
        .expect("cookie")
        .value()
        .to_owned();
    support::send(&app, "/cycle", Some(&key)).await;
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("sessionid"), "{names:?}");
}

/// On the memory backend a session read again with nothing written is answered without a lookup; that
/// shortcut must still see every write through any other store on the same cache, and expiry.
#[tokio::test]
async fn memory_cache_sessions_read_unchanged_still_see_writes_and_expiry() {
    use tower_sessions_kit::record::Changes;
    use tower_sessions_kit::store::{CacheStore, SaveRequest};

    let cache = Cache::new(cache_core::backends::MemoryBackend::new());
    let reader = CacheStore::new(cache.clone());
    let writer = CacheStore::new(cache.clone());
    let read = |key: &SessionKey| {
        let now = reader
            .immediate()
            .and_then(|immediate| immediate.load_now(key))
            .expect("memory answers at once");
        now.expect("load")
            .map(|loaded| loaded.data.get("a").cloned())
    };
    let data = |value: serde_json::Value| value.as_object().cloned().unwrap_or_default();
    let key = writer
        .create(&data(serde_json::json!({"a": 1})), Duration::from_secs(60))
        .await
        .expect("create");
    for _ in 0..3 {
        assert_eq!(read(&key), Some(Some(serde_json::json!(1))));
    }

    let current = writer.load(&key).await.expect("load").expect("present");
    let mut view = Arc::unwrap_or_clone(current.data);
    let two = serde_json::json!(2);
    view.insert("a".into(), two.clone());
    let changes = Changes::replace_with(&view);
    writer
        .save(
            &key,
            SaveRequest {
                changes: &changes,
                data: &view,
                cookie_age: Duration::from_secs(60),
                snapshot: None,
            },
        )
        .await
        .expect("save");
    assert_eq!(read(&key), Some(Some(two)), "another store's save");

    writer.delete(&key).await.expect("delete");
    assert_eq!(read(&key), None, "another store's delete");

    let short = writer
        .create(
            &data(serde_json::json!({"a": 1})),
            Duration::from_millis(300),
        )
        .await
        .expect("create");
    assert!(read(&short).is_some());
    assert!(read(&short).is_some());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        read(&short),
        None,
        "expired with nothing written in between"
    );
    assert_eq!(reader.load(&short).await.expect("load"), None);
}

/// A zero deadline would fail every call that has to wait: each store's setter refuses it.
#[tokio::test]
async fn zero_deadlines_are_refused() {
    use tower_sessions_kit::store::CacheStore;
    use tower_sessions_kit::InvalidSetting;

    let cache = Cache::new(cache_core::backends::MemoryBackend::new());
    assert_eq!(
        CacheStore::new(cache.clone())
            .with_deadline(Duration::ZERO)
            .err(),
        Some(InvalidSetting::ZeroDeadline("session store deadline"))
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let files = FileStore::new(dir.path()).expect("file store");
    assert_eq!(
        files.with_deadline(Duration::ZERO).err(),
        Some(InvalidSetting::ZeroDeadline("session store deadline"))
    );
    let database = support::sqlite_memory().await;
    assert_eq!(
        CachedDatabaseStore::new(database, cache)
            .cache_deadline(Duration::ZERO)
            .err(),
        Some(InvalidSetting::ZeroDeadline("cache deadline"))
    );
}

/// PostgreSQL merges a save in one `jsonb` statement; a row `jsonb` refuses (not JSON, or JSON with a
/// `\u0000` that `text` holds but `jsonb` cannot) is saved by the transaction instead: decoded leniently,
/// the changes applied, the request answered as usual.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_rows_jsonb_refuses_still_save() {
    use axum::routing::get;
    use cache_core::sql::{Bind, PoolSettings, SqlPool};
    use tower_sessions_kit::store::DatabaseStore;
    use tower_sessions_kit::{Session, SessionError, SessionLayer};

    let Some(url) =
        cache_core::testing::server_url("TEST_POSTGRES_URL", "PostgreSQL jsonb fallback")
    else {
        return;
    };
    let table = tower_sessions_kit::testing::unique_name("jsonb");
    let store = DatabaseStore::builder(url.clone())
        .table(table.clone())
        .connect()
        .await
        .expect("store");
    store.migrate().await.expect("migrate");
    let app = axum::Router::new()
        .route(
            "/write/{value}",
            get(|session: Session, axum::extract::Path(value): axum::extract::Path<u32>| async move {
                session.insert("after", &value).await?;
                Ok::<_, SessionError>("written")
            }),
        )
        .route(
            "/read",
            get(|session: Session| async move {
                Ok::<_, SessionError>(format!("{:?}", session.get::<u32>("after").await?))
            }),
        )
        .layer(SessionLayer::new(store));
    let raw = SqlPool::connect_lazy(&url, &PoolSettings::default()).expect("pool");
    for stored in ["not json at all", r#"{"nul": "a\u0000b", "kept": 1}"#] {
        let first = support::send(&app, "/write/1", None).await;
        let key = first
            .session_cookie()
            .expect("a session")
            .value()
            .to_owned();
        raw.execute(
            &format!("UPDATE \"{table}\" SET session_data = $1 WHERE session_key = $2"),
            &[Bind::Text(stored), Bind::Text(&key)],
        )
        .await
        .expect("corrupt the row");
        let second = support::send(&app, "/write/2", Some(&key)).await;
        assert_eq!(second.status, StatusCode::OK, "{stored}: {}", second.body);
        let read = support::send(&app, "/read", Some(&key)).await;
        assert_eq!(read.body, "Some(2)", "{stored}");
    }
}

/// A `RedisStore` save that races a delete finds the session gone (the layer answers 400, Django's
/// `SessionInterrupted`) and leaves nothing behind: what its `HSET` wrote, a hash without the marker, is
/// removed.
#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_saves_racing_a_delete_leave_nothing() {
    use axum::routing::get;
    use cache_core::backends::redis::driver::{cmd, Value};
    use tower_sessions_kit::store::RedisStore;
    use tower_sessions_kit::{Session, SessionError, SessionLayer};

    let name = tower_sessions_kit::testing::unique_name("gone");
    let Some(store) = servers::redis_hash_store(&name, 0) else {
        return;
    };
    let deleter: RedisStore = store.clone();
    let app = axum::Router::new()
        .route(
            "/write",
            get(|session: Session| async move {
                session.insert("n", &1).await?;
                Ok::<_, SessionError>("written")
            }),
        )
        .route(
            "/race",
            get(move |session: Session| async move {
                session.get::<u32>("n").await?;
                // Another request logs this session out after this one loaded it.
                let key = session.key().await.expect("a session");
                deleter.delete(&key).await?;
                session.insert("n", &2).await?;
                Ok::<_, SessionError>("written")
            }),
        )
        .layer(SessionLayer::new(store.clone()));
    let first = support::send(&app, "/write", None).await;
    let key = first
        .session_cookie()
        .expect("a session")
        .value()
        .to_owned();
    let raced = support::send(&app, "/race", Some(&key)).await;
    assert_eq!(raced.status, StatusCode::BAD_REQUEST, "{}", raced.body);
    let mut exists = cmd("EXISTS");
    exists.arg(store.backend().namespaced_key(&format!("session:{key}")));
    let left = store
        .backend()
        .command(&exists, true)
        .await
        .expect("EXISTS");
    assert_eq!(left, Value::Int(0), "the deleted session's key came back");
}

/// `RedisStore` on backends with the client-side cache, as two processes sharing one Redis: a session held
/// by one is read afresh once the other changes or deletes it, and each reads its own saves at once.
#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_client_side_cache_follows_other_processes_and_reads_its_own_saves() {
    use serde_json::json;
    use tower_sessions_kit::record::{Changes, Data};
    use tower_sessions_kit::store::{RedisStore, SaveRequest};

    const AGE: Duration = Duration::from_secs(600);
    /// Another process's change arrives as an invalidation: wait for it, however busy the machine.
    const PATIENCE: Duration = Duration::from_secs(30);

    async fn value(store: &RedisStore, key: &SessionKey) -> Option<serde_json::Value> {
        let loaded = store.load(key).await.expect("load")?;
        Some(loaded.data.get("n").cloned().unwrap_or_default())
    }
    /// `store`'s view of `key` once it becomes `expected`, polled (`None`: no session).
    async fn eventually(
        store: &RedisStore,
        key: &SessionKey,
        expected: Option<serde_json::Value>,
    ) -> Option<serde_json::Value> {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let seen = value(store, key).await;
            if seen == expected || std::time::Instant::now() > deadline {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    async fn set_n(store: &RedisStore, key: &SessionKey, n: i64) {
        let mut data = Data::new();
        data.insert("n".to_owned(), json!(n));
        let changes = Changes::replace_with(&data);
        let request = SaveRequest {
            changes: &changes,
            data: &data,
            cookie_age: AGE,
            snapshot: None,
        };
        store.save(key, request).await.expect("save");
    }

    let name = tower_sessions_kit::testing::unique_name("csc");
    let (Some(a), Some(b)) = (
        servers::redis_hash_store(&name, 1_000),
        servers::redis_hash_store(&name, 1_000),
    ) else {
        return;
    };
    let mut data = Data::new();
    data.insert("n".to_owned(), json!(1));
    let key = a.create(&data, AGE).await.expect("create");
    assert_eq!(value(&a, &key).await, Some(json!(1)));
    let held = a
        .immediate()
        .and_then(|immediate| immediate.load_now(&key))
        .expect("a session just read is answered from process memory")
        .expect("no error");
    assert_eq!(
        held.map(|loaded| loaded.data.get("n").cloned()),
        Some(Some(json!(1)))
    );
    assert_eq!(value(&b, &key).await, Some(json!(1)), "b holds it too");

    set_n(&b, &key, 2).await;
    assert_eq!(
        value(&b, &key).await,
        Some(json!(2)),
        "b reads its own save at once"
    );
    assert_eq!(
        eventually(&a, &key, Some(json!(2))).await,
        Some(json!(2)),
        "a follows b"
    );

    set_n(&a, &key, 3).await;
    assert_eq!(
        value(&a, &key).await,
        Some(json!(3)),
        "a reads its own save at once"
    );
    assert_eq!(
        eventually(&b, &key, Some(json!(3))).await,
        Some(json!(3)),
        "b follows a"
    );

    b.delete(&key).await.expect("delete");
    assert_eq!(
        value(&b, &key).await,
        None,
        "b reads its own delete at once"
    );
    assert_eq!(
        eventually(&a, &key, None).await,
        None,
        "a sees the session gone"
    );
    assert!(
        a.save(
            &key,
            SaveRequest {
                changes: &Changes::new(),
                data: &Data::new(),
                cookie_age: AGE,
                snapshot: None,
            }
        )
        .await
        .is_err(),
        "a deleted session is not saved back"
    );
}
