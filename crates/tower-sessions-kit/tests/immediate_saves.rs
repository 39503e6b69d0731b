//! Saves a store applies at once ([`ImmediateSaves`]): the layer finishes the response without awaiting,
//! and falls back to `save` when the store declines; every save rule holds on that path (the 400 of a
//! session deleted meanwhile, a clear without a load, failures and the breaker).

mod support;

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use support::*;
use tower_sessions_kit::record::Data;
use tower_sessions_kit::store::{
    ImmediateLoads, ImmediateSaves, Loaded, MemoryStore, SaveRequest, Saved, SignedCookieStore,
};
use tower_sessions_kit::{Key, SessionKey, SessionStore, StoreError};

/// What [`Switchable::save_now`] does: apply (the default, 0), decline or fail.
const DECLINE: u8 = 1;
const FAIL: u8 = 2;

/// A [`MemoryStore`] whose immediate saves apply, decline or fail as the test says, counting both
/// kinds of save.
#[derive(Default)]
struct Switchable {
    inner: MemoryStore,
    mode: AtomicU8,
    saved_now: AtomicUsize,
    saved_later: AtomicUsize,
}

impl Switchable {
    fn counts(&self) -> (usize, usize) {
        (
            self.saved_now.load(Ordering::SeqCst),
            self.saved_later.load(Ordering::SeqCst),
        )
    }
}

#[async_trait]
impl SessionStore for Switchable {
    fn name(&self) -> &'static str {
        "switchable"
    }
    fn deadline(&self) -> Option<Duration> {
        None
    }
    fn immediate(&self) -> Option<&dyn ImmediateLoads> {
        self.inner.immediate()
    }
    fn immediate_saves(&self) -> Option<&dyn ImmediateSaves> {
        Some(self)
    }
    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>, StoreError> {
        self.inner.load(key).await
    }
    async fn create(&self, data: &Data, cookie_age: Duration) -> Result<SessionKey, StoreError> {
        self.inner.create(data, cookie_age).await
    }
    async fn save(&self, key: &SessionKey, request: SaveRequest<'_>) -> Result<Saved, StoreError> {
        self.saved_later.fetch_add(1, Ordering::SeqCst);
        self.inner.save(key, request).await
    }
    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.inner.exists(key).await
    }
}

impl ImmediateSaves for Switchable {
    fn save_now(
        &self,
        key: &SessionKey,
        request: SaveRequest<'_>,
    ) -> Option<Result<Saved, StoreError>> {
        match self.mode.load(Ordering::SeqCst) {
            DECLINE => None,
            FAIL => {
                self.saved_now.fetch_add(1, Ordering::SeqCst);
                Some(Err(StoreError::backend("switchable", "connection refused")))
            }
            _ => {
                self.saved_now.fetch_add(1, Ordering::SeqCst);
                self.inner.immediate_saves()?.save_now(key, request)
            }
        }
    }
}

fn key_of(reply: &Reply) -> SessionKey {
    let cookie = reply.session_cookie().expect("a session cookie");
    SessionKey::from_cookie_value(cookie.value()).expect("a key")
}

async fn user_in(store: &dyn SessionStore, key: &SessionKey) -> Option<serde_json::Value> {
    let loaded = store.load(key).await.expect("load")?;
    loaded.data.get("user").cloned()
}

#[tokio::test]
async fn a_loaded_session_is_saved_at_once_and_a_declined_save_is_awaited() {
    let store = Arc::new(Switchable::default());
    let app = app(store.clone());
    let key = key_of(&send(&app, "/set", None).await);
    assert_eq!(
        store.counts(),
        (0, 0),
        "a new session is created, not saved"
    );

    // `/incr` loads, then writes: the immediate path.
    let reply = send(&app, "/incr", Some(key.as_str())).await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "43"));
    assert_eq!(key_of(&reply), key);
    assert_eq!(user_in(&*store, &key).await, Some(43.into()));
    assert_eq!(store.counts(), (1, 0));

    store.mode.store(DECLINE, Ordering::SeqCst);
    let reply = send(&app, "/incr", Some(key.as_str())).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(store.counts(), (1, 1), "declined, then awaited");
    assert_eq!(user_in(&*store, &key).await, Some(44.into()));
    assert_eq!(key_of(&reply), key, "the same session either way");
    assert!(reply.varies_on_cookie());
}

#[tokio::test]
async fn a_failed_immediate_save_answers_the_error_and_opens_the_breaker() {
    let store = Arc::new(Switchable::default());
    let app = app_with(store.clone(), |layer| {
        layer.failure_cooldown(Duration::from_secs(3600))
    });
    let key = key_of(&send(&app, "/set", None).await);
    store.mode.store(FAIL, Ordering::SeqCst);
    let reply = send(&app, "/incr", Some(key.as_str())).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(reply.cookies.is_empty(), "no cookie for a save that failed");
    // The breaker is open: the next save is refused without calling the store.
    let reply = send(&app, "/incr", Some(key.as_str())).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(store.counts(), (1, 0));
}

#[tokio::test]
async fn memory_sessions_keep_every_save_rule_on_the_immediate_path() {
    let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    let app = app(Arc::clone(&store));
    let key = key_of(&send(&app, "/set", None).await);

    // A save after a load: the same key, the change stored.
    let reply = send(&app, "/incr", Some(key.as_str())).await;
    assert_eq!(key_of(&reply), key);
    assert_eq!(user_in(&*store, &key).await, Some(43.into()));

    // A clear without a load is never verified against the store: it keeps its key all the same.
    let reply = send(&app, "/clear", Some(key.as_str())).await;
    assert_eq!(key_of(&reply), key, "same key, saved as {{}}");
    let loaded = store.load(&key).await.expect("load").expect("still there");
    assert!(loaded.data.is_empty());

    // Deleted between this request's load and its save: a 400, and not resurrected.
    let key = key_of(&send(&app, "/set", None).await);
    let reply = send(&app, "/race", Some(key.as_str())).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.cookies.is_empty());
    assert!(!store.exists(&key).await.expect("exists"));
}

#[tokio::test]
async fn signed_cookie_sessions_are_loaded_and_resigned_at_once() {
    let store: Arc<dyn SessionStore> = Arc::new(SignedCookieStore::new(Key::generate()));
    let app = app(Arc::clone(&store));
    let first = send(&app, "/set", None).await;
    let key = key_of(&first);
    let reply = send(&app, "/incr", Some(key.as_str())).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let resigned = key_of(&reply);
    assert_ne!(resigned, key, "the data travels in the cookie: a new value");
    assert_eq!(user_in(&*store, &resigned).await, Some(43.into()));
    assert_eq!(
        send(&app, "/read", Some(resigned.as_str())).await.body,
        "43"
    );
}
