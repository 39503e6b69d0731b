//! Deadlines and the breaker, in process, through a real `SessionLayer` and axum `Router`: a store that
//! hangs answers the error response at its deadline; while it fails, requests fail fast and one request
//! at a time probes it; a request phase pays one deadline however many backend calls it makes; a swap
//! whose reply was lost is found applied; a locked SQLite database is a timely error. Virtual time
//! (`start_paused`) where the store is simulated, so nothing depends on the machine's speed.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use axum::Router;
use bytes::Bytes;
use cache_core::backends::MemoryBackend;
use cache_core::{Cache, CacheBackend, Expiry};
use support::{app_with, memory_store, send, unavailable, Counting, Reply};
use tokio::time::Instant;
use tower_sessions_kit::record::{Changes, Data};
use tower_sessions_kit::store::{
    CacheStore, DatabaseStore, Loaded, SaveRequest, Saved, DEFAULT_DEADLINE,
};
use tower_sessions_kit::{SessionKey, SessionStore, StoreError};

/// How long a test waits for a response before calling it a hang: several deadlines.
const BOUND: Duration = Duration::from_secs(5);

/// Whether a wait was one deadline at most: up to half a deadline more for the timer's granularity, far
/// from the two or three a phase paying one deadline per backend call takes.
fn within_one_deadline(took: Duration) -> bool {
    took <= DEFAULT_DEADLINE * 3 / 2
}

/// `path` through `app`, or a panic if it does not answer within [`BOUND`].
async fn answered(app: &Router, path: &str, cookie: Option<&str>) -> Reply {
    tokio::time::timeout(BOUND, send(app, path, cookie))
        .await
        .unwrap_or_else(|_| panic!("{path} did not answer within {BOUND:?}"))
}

/// `count` concurrent requests for `path`, each with its answer and how long it took.
async fn burst(app: &Router, path: &str, cookie: &str, count: usize) -> Vec<(Reply, Duration)> {
    let requests: Vec<_> = (0..count)
        .map(|_| {
            let (app, path, cookie) = (app.clone(), path.to_owned(), cookie.to_owned());
            tokio::spawn(async move {
                let started = Instant::now();
                let reply = answered(&app, &path, Some(&cookie)).await;
                (reply, started.elapsed())
            })
        })
        .collect();
    let mut replies = Vec::new();
    for request in requests {
        replies.push(request.await.expect("request task"));
    }
    replies
}

fn cookie_of(reply: &Reply) -> String {
    reply
        .session_cookie()
        .expect("a session cookie")
        .value()
        .to_owned()
}

// ---- a store that hangs -----------------------------------------------------------------------------

/// A store over the memory store whose every call hangs while it is frozen, as on a server that stopped
/// answering.
struct Freezable {
    inner: Arc<dyn SessionStore>,
    frozen: AtomicBool,
}

impl Freezable {
    async fn gate(&self) {
        if self.frozen.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
    }
}

#[async_trait]
impl SessionStore for Freezable {
    fn name(&self) -> &'static str {
        "freezable"
    }
    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>, StoreError> {
        self.gate().await;
        self.inner.load(key).await
    }
    async fn create(&self, data: &Data, age: Duration) -> Result<SessionKey, StoreError> {
        self.gate().await;
        self.inner.create(data, age).await
    }
    async fn save(&self, key: &SessionKey, request: SaveRequest<'_>) -> Result<Saved, StoreError> {
        self.gate().await;
        self.inner.save(key, request).await
    }
    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        self.gate().await;
        self.inner.delete(key).await
    }
    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.gate().await;
        self.inner.exists(key).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_hanging_store_fails_at_its_deadline_and_then_fast_until_a_probe_finds_it_back() {
    let (logs, _capture) = test_logs::capture_logs();
    let (memory, _) = memory_store();
    let freezable = Arc::new(Freezable {
        inner: Arc::new(memory),
        frozen: AtomicBool::new(false),
    });
    let counting = Arc::new(Counting::new(
        Arc::clone(&freezable) as Arc<dyn SessionStore>
    ));
    let app = app_with(Arc::clone(&counting) as Arc<dyn SessionStore>, |layer| {
        layer.error_response(unavailable)
    });
    let key = cookie_of(&answered(&app, "/set", None).await);

    freezable.frozen.store(true, Ordering::SeqCst);
    // The first request waits for the store, then gets the configured error at the deadline.
    let started = Instant::now();
    let reply = answered(&app, "/read", Some(&key)).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.body.contains("did not answer"), "{}", reply.body);
    let took = started.elapsed();
    assert!(
        took >= DEFAULT_DEADLINE && within_one_deadline(took),
        "{took:?}"
    );
    let timeouts = logs.lines_with(&["ERROR", "session error in a handler", "did not answer"]);
    assert_eq!(timeouts.len(), 1, "logs:\n{}", logs.text());

    // Within the cooldown, nobody calls the store: every request fails at once.
    let reached = counting.calls();
    for (reply, took) in burst(&app, "/read", &key, 20).await {
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(reply.body.contains("is failing"), "{}", reply.body);
        assert_eq!(took, Duration::ZERO);
    }
    assert_eq!(counting.calls(), reached, "no request reached the store");

    // Cooldown over: exactly one request probes (and waits its deadline); the others still fail fast.
    tokio::time::advance(Duration::from_secs(1)).await;
    let replies = burst(&app, "/read", &key, 20).await;
    assert_eq!(counting.calls(), reached + 1, "one probe reached the store");
    assert!(replies
        .iter()
        .all(|(reply, _)| reply.status == StatusCode::SERVICE_UNAVAILABLE));
    let waited: Vec<Duration> = replies.iter().map(|(_, took)| *took).collect();
    assert_eq!(waited.iter().filter(|took| took.is_zero()).count(), 19);
    assert!(
        waited.iter().all(|took| within_one_deadline(*took)),
        "{waited:?}"
    );

    // The store is back: the next probe gets an answer, the same cookie finds its data, and every
    // request uses the store again.
    freezable.frozen.store(false, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(1)).await;
    let reply = answered(&app, "/read", Some(&key)).await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "42"));
    let reached = counting.calls();
    for (reply, _) in burst(&app, "/read", &key, 5).await {
        assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "42"));
    }
    assert_eq!(counting.calls(), reached + 5);
}

// ---- a cache server that stopped answering ----------------------------------------------------------

/// What cache-core's Redis backend does against a frozen server: every call waits for its own socket
/// timeout, then fails.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(1);

/// A memory cache backend that can be frozen (each call waits [`SOCKET_TIMEOUT`], then fails), or lose
/// the reply of its next `compare_and_set` after applying it.
#[derive(Clone)]
struct Faulty {
    memory: MemoryBackend,
    frozen: Arc<AtomicBool>,
    lose_next_swap_reply: Arc<AtomicBool>,
    swaps: Arc<AtomicUsize>,
}

impl Faulty {
    fn new() -> Self {
        Faulty {
            memory: MemoryBackend::builder().build().expect("memory backend"),
            frozen: Default::default(),
            lose_next_swap_reply: Default::default(),
            swaps: Default::default(),
        }
    }

    async fn gate(&self) -> cache_core::Result<()> {
        if !self.frozen.load(Ordering::SeqCst) {
            return Ok(());
        }
        tokio::time::sleep(SOCKET_TIMEOUT).await;
        Err(cache_core::Error::backend(
            "faulty",
            std::io::Error::new(std::io::ErrorKind::TimedOut, "no reply"),
        ))
    }
}

#[async_trait]
impl CacheBackend for Faulty {
    fn name(&self) -> &'static str {
        "faulty"
    }
    async fn get(&self, key: &str) -> cache_core::Result<Option<Bytes>> {
        self.gate().await?;
        self.memory.get(key).await
    }
    async fn get_many(&self, keys: &[String]) -> cache_core::Result<Vec<Option<Bytes>>> {
        self.gate().await?;
        self.memory.get_many(keys).await
    }
    async fn set(&self, key: &str, value: Bytes, expiry: Expiry) -> cache_core::Result<()> {
        self.gate().await?;
        self.memory.set(key, value, expiry).await
    }
    async fn add(&self, key: &str, value: Bytes, expiry: Expiry) -> cache_core::Result<bool> {
        self.gate().await?;
        self.memory.add(key, value, expiry).await
    }
    async fn delete(&self, key: &str) -> cache_core::Result<bool> {
        self.gate().await?;
        self.memory.delete(key).await
    }
    async fn touch(&self, key: &str, expiry: Expiry) -> cache_core::Result<bool> {
        self.gate().await?;
        self.memory.touch(key, expiry).await
    }
    async fn incr(&self, key: &str, delta: i64) -> cache_core::Result<i64> {
        self.gate().await?;
        self.memory.incr(key, delta).await
    }
    async fn has_key(&self, key: &str) -> cache_core::Result<bool> {
        self.gate().await?;
        self.memory.has_key(key).await
    }
    async fn compare_and_set(
        &self,
        key: &str,
        old: &[u8],
        new: Bytes,
        at: Expiry,
    ) -> cache_core::Result<bool> {
        self.gate().await?;
        self.swaps.fetch_add(1, Ordering::SeqCst);
        let swapped = self.memory.compare_and_set(key, old, new, at).await?;
        if self.lose_next_swap_reply.swap(false, Ordering::SeqCst) {
            return Err(cache_core::Error::backend(
                "faulty",
                "connection reset before the reply",
            ));
        }
        Ok(swapped)
    }
    async fn clear(&self) -> cache_core::Result<()> {
        self.gate().await?;
        self.memory.clear().await
    }
}

#[tokio::test(start_paused = true)]
async fn each_request_phase_pays_one_deadline_however_many_calls_it_makes() {
    let backend = Faulty::new();
    let store: Arc<dyn SessionStore> = Arc::new(CacheStore::new(Cache::new(backend.clone())));
    // No breaker, so that every request reaches the frozen cache.
    let app = app_with(Arc::clone(&store), |layer| {
        layer.failure_cooldown(Duration::ZERO)
    });
    let every_request = app_with(Arc::clone(&store), |layer| {
        layer
            .failure_cooldown(Duration::ZERO)
            .save_every_request(true)
    });
    let key = cookie_of(&answered(&app, "/set", None).await);
    backend.frozen.store(true, Ordering::SeqCst);

    // Loads queued behind one another (coalesced), a save phase alone (read and swap), and a save phase
    // that loads first: each is one deadline, not one per backend call.
    let mut requests = Vec::new();
    for (app, path) in [
        (&app, "/read"),
        (&app, "/read"),
        (&app, "/read"),
        (&app, "/read"),
        (&app, "/clear"),
        (&every_request, "/untouched"),
    ] {
        let (app, path, key) = (app.clone(), path.to_owned(), key.clone());
        requests.push(tokio::spawn(async move {
            let started = Instant::now();
            let reply = answered(&app, &path, Some(&key)).await;
            (path, reply.status, started.elapsed())
        }));
    }
    for request in requests {
        let (path, status, took) = request.await.expect("request task");
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert!(
            within_one_deadline(took),
            "{path} took {took:?} for a deadline of {DEFAULT_DEADLINE:?}"
        );
    }

    // Called directly, the store keeps the same promise.
    let key = SessionKey::parse(&key).expect("key");
    let loads: Vec<_> = (0..4)
        .map(|_| {
            let (store, key) = (Arc::clone(&store), key.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                let loaded = store.load(&key).await;
                (loaded.is_err(), started.elapsed())
            })
        })
        .collect();
    for load in loads {
        let (failed, took) = load.await.expect("load task");
        assert!(failed);
        assert!(within_one_deadline(took), "a load took {took:?}");
    }
    let started = Instant::now();
    let changes = Changes::replace_with(&Data::new());
    let saved = store
        .save(
            &key,
            SaveRequest {
                changes: &changes,
                data: &Data::new(),
                cookie_age: Duration::from_secs(60),
                snapshot: None,
            },
        )
        .await;
    assert!(saved.is_err(), "{saved:?}");
    assert!(within_one_deadline(started.elapsed()));
}

#[tokio::test]
async fn a_swap_whose_reply_was_lost_is_found_applied_not_reported_as_a_failure() {
    let backend = Faulty::new();
    let store: Arc<dyn SessionStore> = Arc::new(CacheStore::new(Cache::new(backend.clone())));
    let app = app_with(Arc::clone(&store), |layer| layer);
    let key = cookie_of(&answered(&app, "/set", None).await);

    backend.lose_next_swap_reply.store(true, Ordering::SeqCst);
    let reply = answered(&app, "/update", Some(&key)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(backend.swaps.load(Ordering::SeqCst), 1, "no second write");
    let loaded = store
        .load(&SessionKey::parse(&key).expect("key"))
        .await
        .expect("load")
        .expect("the session");
    assert_eq!(
        serde_json::Value::Object((*loaded.data).clone()),
        serde_json::json!({"user": 42, "a": 1, "b": 2})
    );
}

// ---- a locked SQLite database -----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_sqlite_database_is_an_error_at_the_deadline_not_a_wait() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("sessions.db").display());
    // Waiting for the lock would take this long without the deadline.
    let store = DatabaseStore::builder(&url)
        .acquire_timeout(Duration::from_secs(60))
        .connect()
        .await
        .expect("sqlite");
    store.migrate().await.expect("migrate");
    let app = app_with(Arc::new(store), |layer| layer);
    let key = cookie_of(&answered(&app, "/set", None).await);

    let mut locker = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("locker connects");
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut locker)
        .await
        .expect("lock the database");
    // The load reads (WAL: readers do not wait); the save cannot write.
    let reply = answered(&app, "/update", Some(&key)).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    sqlx::query("ROLLBACK")
        .execute(&mut locker)
        .await
        .expect("unlock");

    // After the cooldown the same session works again, its data intact.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = answered(&app, "/read", Some(&key)).await;
        if reply.status == StatusCode::OK {
            assert_eq!(reply.body, "42");
            break;
        }
        assert!(Instant::now() < deadline, "the store did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
