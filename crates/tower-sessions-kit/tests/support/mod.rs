//! Shared helpers of the integration tests: an app with one route per session operation, and request
//! helpers that parse `Set-Cookie` with the `cookie` crate.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::Extension;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use cache_core::{backends::MemoryBackend, Cache};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_sessions_kit::record::Data;
use tower_sessions_kit::store::{CacheStore, Loaded, SaveRequest, Saved};
use tower_sessions_kit::StoreError;
use tower_sessions_kit::{
    Session, SessionError, SessionExpiry, SessionKey, SessionLayer, SessionStore,
};

/// A memory-backed cache store and its cache.
pub fn memory_store() -> (CacheStore, Cache) {
    let backend = MemoryBackend::builder()
        .max_entries(100_000)
        .build()
        .expect("memory backend");
    let cache = Cache::new(backend);
    (CacheStore::new(cache.clone()), cache)
}

/// A migrated `DatabaseStore` on an in-memory SQLite database.
#[cfg(feature = "sqlite")]
pub async fn sqlite_memory() -> tower_sessions_kit::store::DatabaseStore {
    let store = tower_sessions_kit::store::DatabaseStore::connect("sqlite::memory:")
        .await
        .expect("sqlite");
    store.migrate().await.expect("migrate");
    store
}

/// The routes: one per operation of the `Session` API.
pub fn routes(store: Arc<dyn SessionStore>) -> Router {
    Router::new()
        .route("/untouched", get(|| async { "ok" }))
        .route(
            "/set",
            get(|session: Session| async move {
                session.insert("user", &42).await?;
                Ok::<_, SessionError>("set")
            }),
        )
        .route(
            "/set-big",
            get(|session: Session| async move {
                session.insert("big", &"x".repeat(6000)).await?;
                Ok::<_, SessionError>("set")
            }),
        )
        .route(
            "/incr",
            get(|session: Session| async move {
                let user: i64 = session.get("user").await?.unwrap_or_default();
                session.insert("user", &(user + 1)).await?;
                Ok::<_, SessionError>((user + 1).to_string())
            }),
        )
        .route(
            "/read",
            get(|session: Session| async move {
                let user: Option<i64> = session.get("user").await?;
                Ok::<_, SessionError>(user.map_or("none".to_owned(), |u| u.to_string()))
            }),
        )
        .route(
            "/vary",
            get(|session: Session| async move {
                session.get::<i64>("user").await?;
                Ok::<_, SessionError>(([(header::VARY, "Accept-Encoding")], "ok"))
            }),
        )
        .route(
            "/fail",
            get(|session: Session| async move {
                session.insert("user", &500).await?;
                Ok::<_, SessionError>((StatusCode::INTERNAL_SERVER_ERROR, "boom"))
            }),
        )
        .route(
            "/flush",
            get(|session: Session| async move {
                session.flush().await?;
                Ok::<_, SessionError>("flushed")
            }),
        )
        .route(
            "/cycle",
            get(|session: Session| async move {
                session.cycle_key().await?;
                Ok::<_, SessionError>("cycled")
            }),
        )
        .route(
            "/clear",
            get(|session: Session| async move {
                session.clear().await;
                "cleared"
            }),
        )
        .route(
            "/keys",
            get(|session: Session| async move {
                Ok::<_, SessionError>(session.keys().await?.join(","))
            }),
        )
        .route(
            "/expiry/idle",
            get(|session: Session| async move {
                session
                    .set_expiry(SessionExpiry::Idle(Duration::from_secs(60)))
                    .await?;
                Ok::<_, SessionError>("idle")
            }),
        )
        .route(
            "/expiry/close",
            get(|session: Session| async move {
                session.set_expiry(SessionExpiry::AtBrowserClose).await?;
                Ok::<_, SessionError>("close")
            }),
        )
        .route(
            "/expiry/at",
            get(|session: Session| async move {
                let at = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
                session.set_expiry(SessionExpiry::At(at)).await?;
                Ok::<_, SessionError>("at")
            }),
        )
        .route(
            "/expiry/inherit",
            get(|session: Session| async move {
                session.set_expiry(SessionExpiry::Inherit).await?;
                Ok::<_, SessionError>(flags(&session))
            }),
        )
        .route(
            "/race",
            get(
                |session: Session, Extension(store): Extension<Arc<dyn SessionStore>>| async move {
                    session.get::<i64>("user").await?;
                    if let Some(key) = session.key().await {
                        // A concurrent logout, between this request's load and its save.
                        store.delete(&key).await?;
                    }
                    session.insert("user", &7).await?;
                    Ok::<_, SessionError>("raced")
                },
            ),
        )
        .route(
            "/flags/get",
            get(|session: Session| async move {
                session.get::<i64>("user").await?;
                Ok::<_, SessionError>(flags(&session))
            }),
        )
        .route(
            "/flags/pop-missing",
            get(|session: Session| async move {
                session.pop::<i64>("missing").await?;
                Ok::<_, SessionError>(flags(&session))
            }),
        )
        .route(
            "/flags/pop",
            get(|session: Session| async move {
                let user = session.pop::<i64>("user").await?;
                Ok::<_, SessionError>(format!("{} {user:?}", flags(&session)))
            }),
        )
        .route(
            "/flags/remove-missing",
            get(|session: Session| async move {
                session.remove("missing").await?;
                Ok::<_, SessionError>(flags(&session))
            }),
        )
        .route(
            "/flags/contains",
            get(|session: Session| async move {
                let has = session.contains_key("user").await?;
                Ok::<_, SessionError>(format!("{} {has}", flags(&session)))
            }),
        )
        .route(
            "/flags/expiry-age",
            get(|session: Session| async move {
                let age = session.expiry_age().await?;
                let close = session.expire_at_browser_close().await?;
                Ok::<_, SessionError>(format!("{} {} {close}", flags(&session), age.as_secs()))
            }),
        )
        .route(
            "/flags/empty",
            get(|session: Session| async move {
                let empty = session.is_empty().await;
                format!("{} {empty}", flags(&session))
            }),
        )
        .route(
            "/flags/setdefault-present",
            get(|session: Session| async move {
                let user = session.setdefault("user", 7_i64).await?;
                Ok::<_, SessionError>(format!("{} {user}", flags(&session)))
            }),
        )
        .route(
            "/flags/setdefault-missing",
            get(|session: Session| async move {
                let theme = session.setdefault("theme", "dark".to_owned()).await?;
                Ok::<_, SessionError>(format!("{} {theme}", flags(&session)))
            }),
        )
        .route(
            "/flags/update-empty",
            get(|session: Session| async move {
                session.update(Vec::<(String, i64)>::new()).await?;
                Ok::<_, SessionError>(flags(&session))
            }),
        )
        .route(
            "/update",
            get(|session: Session| async move {
                session.update([("a", 1), ("b", 2)]).await?;
                let refused = matches!(
                    session.update([("_session_expiry", 1)]).await,
                    Err(SessionError::ReservedKey(_))
                );
                Ok::<_, SessionError>(format!("{refused}"))
            }),
        )
        .route(
            "/items",
            get(|session: Session| async move {
                let items: Vec<String> = session
                    .items()
                    .await?
                    .into_iter()
                    .map(|(key, value)| format!("{key}={value}"))
                    .collect();
                let values = session.values().await?.len();
                Ok::<_, SessionError>(format!("{} {values}", items.join(",")))
            }),
        )
        .route(
            "/test-cookie/set",
            get(|session: Session| async move {
                session.set_test_cookie().await?;
                Ok::<_, SessionError>(flags(&session))
            }),
        )
        .route(
            "/test-cookie/check",
            get(|session: Session| async move {
                let worked = session.test_cookie_worked().await?;
                session.delete_test_cookie().await?;
                let after = session.test_cookie_worked().await?;
                Ok::<_, SessionError>(format!("{worked} {after}"))
            }),
        )
        .route(
            "/flags/reserved",
            get(|session: Session| async move {
                let refused = matches!(
                    session.insert("_session_expiry", &1).await,
                    Err(SessionError::ReservedKey(_))
                );
                format!("{} {refused}", flags(&session))
            }),
        )
        .layer(Extension(store))
}

pub fn flags(session: &Session) -> String {
    format!("{} {}", session.accessed(), session.modified())
}

/// An app over `store` with the layer's settings applied by `configure`.
pub fn app_with(
    store: Arc<dyn SessionStore>,
    configure: impl FnOnce(SessionLayer) -> SessionLayer,
) -> Router {
    routes(Arc::clone(&store)).layer(configure(SessionLayer::from_arc(store)))
}

pub fn app(store: Arc<dyn SessionStore>) -> Router {
    app_with(store, |layer| layer)
}

/// A response, its `Set-Cookie`s parsed, and its body.
pub struct Reply {
    pub status: StatusCode,
    pub cookies: Vec<cookie::Cookie<'static>>,
    pub vary: Vec<String>,
    pub body: String,
    pub response_headers: axum::http::HeaderMap,
}

impl Reply {
    /// The single `Set-Cookie` named `sessionid` (or `name`).
    pub fn cookie(&self, name: &str) -> Option<&cookie::Cookie<'static>> {
        self.cookies.iter().find(|c| c.name() == name)
    }

    pub fn session_cookie(&self) -> Option<&cookie::Cookie<'static>> {
        self.cookie("sessionid")
    }

    pub fn varies_on_cookie(&self) -> bool {
        self.vary.iter().any(|v| {
            v.split(',')
                .any(|item| item.trim().eq_ignore_ascii_case("cookie"))
        })
    }
}

pub async fn send(app: &Router, path: &str, cookie: Option<&str>) -> Reply {
    send_header(app, path, cookie.map(|value| format!("sessionid={value}"))).await
}

pub async fn send_header(app: &Router, path: &str, cookie_header: Option<String>) -> Reply {
    let mut request = Request::builder().uri(path);
    if let Some(header_value) = cookie_header {
        request = request.header(header::COOKIE, header_value);
    }
    let request = request.body(Body::empty()).expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    reply(response).await
}

pub async fn send_raw_cookie(app: &Router, path: &str, value: HeaderValue) -> Reply {
    let request = Request::builder()
        .uri(path)
        .header(header::COOKIE, value)
        .body(Body::empty())
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    reply(response).await
}

pub async fn reply(response: Response<Body>) -> Reply {
    let status = response.status();
    let response_headers = response.headers().clone();
    let cookies = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|value| {
            cookie::Cookie::parse(value.to_str().expect("ascii set-cookie").to_owned())
                .expect("a valid Set-Cookie")
        })
        .collect();
    let vary = response
        .headers()
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|collected| String::from_utf8_lossy(&collected.to_bytes()).into_owned())
        .unwrap_or_default();
    Reply {
        status,
        cookies,
        vary,
        body,
        response_headers,
    }
}

/// A store that counts calls, over another store.
pub struct Counting {
    pub inner: Arc<dyn SessionStore>,
    pub calls: AtomicUsize,
}

impl Counting {
    pub fn new(inner: Arc<dyn SessionStore>) -> Self {
        Counting {
            inner,
            calls: AtomicUsize::new(0),
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl SessionStore for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }
    fn accepts_key(&self, candidate: &str) -> bool {
        self.inner.accepts_key(candidate)
    }
    fn deadline(&self) -> Option<Duration> {
        self.inner.deadline()
    }
    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>, StoreError> {
        self.count();
        self.inner.load(key).await
    }
    async fn create(&self, data: &Data, cookie_age: Duration) -> Result<SessionKey, StoreError> {
        self.count();
        self.inner.create(data, cookie_age).await
    }
    async fn save(&self, key: &SessionKey, request: SaveRequest<'_>) -> Result<Saved, StoreError> {
        self.count();
        self.inner.save(key, request).await
    }
    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        self.count();
        self.inner.delete(key).await
    }
    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.count();
        self.inner.exists(key).await
    }
}

/// A store whose every operation fails, like a database that is down.
pub struct Failing;

fn down() -> StoreError {
    StoreError::backend("failing", "connection refused")
}

#[async_trait]
impl SessionStore for Failing {
    fn name(&self) -> &'static str {
        "failing"
    }
    async fn load(&self, _: &SessionKey) -> Result<Option<Loaded>, StoreError> {
        Err(down())
    }
    async fn create(&self, _: &Data, _: Duration) -> Result<SessionKey, StoreError> {
        Err(down())
    }
    async fn save(&self, _: &SessionKey, _: SaveRequest<'_>) -> Result<Saved, StoreError> {
        Err(down())
    }
    async fn delete(&self, _: &SessionKey) -> Result<(), StoreError> {
        Err(down())
    }
    async fn exists(&self, _: &SessionKey) -> Result<bool, StoreError> {
        Err(down())
    }
}

/// A custom error response for the tests that configure one.
pub fn unavailable(error: &SessionError) -> Response<Body> {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("session store: {error}"),
    )
        .into_response()
}
