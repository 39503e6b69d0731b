//! Sessions the way an application meets them, through the umbrella crate: one `Router` with the hooks,
//! page-cache and session layers, served on a real socket, driven by cookie-keeping browsers. A browser
//! logs in, fires 50 parallel requests at its one session (each writing its own key) and finds all 50
//! kept; a second browser of the same user is logged out from the first ("log out everywhere else") and
//! its next request is anonymous. On `MemoryStore` always, and on `RedisStore` (with and without the
//! backend's client-side cache) when `TEST_REDIS_URL` is set (required with `TEST_REQUIRE_SERVERS=1`).

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use support::browser::Browser;
use tower_django::cache::backends::MemoryBackend;
use tower_django::cache::Cache;
use tower_django::hooks::{HooksLayer, Middleware};
use tower_django::page::CachePageLayer;
use tower_django::sessions::store::MemoryStore;
use tower_django::sessions::{Session, SessionError, SessionLayer, SessionStore};

/// A middleware that does nothing: the hooks layer is in the stack as in an application.
struct Noop;
impl Middleware for Noop {}

const WRITERS: usize = 50;

fn app(store: Arc<dyn SessionStore>) -> Router {
    let pages = Router::new()
        .route("/page", get(|| async { "a cached page" }))
        .layer(
            CachePageLayer::new(Cache::new(MemoryBackend::new())).timeout(Duration::from_secs(60)),
        );
    Router::new()
        .route(
            "/login/{user}",
            get(|session: Session, Path(user): Path<String>| async move {
                session.set_user(&user).await?;
                Ok::<_, SessionError>("in")
            }),
        )
        .route(
            "/write/{n}",
            get(|session: Session, Path(n): Path<usize>| async move {
                session.insert(&format!("k{n}"), &n).await?;
                Ok::<_, SessionError>("written")
            }),
        )
        .route(
            "/keys",
            get(|session: Session| async move {
                let keys = session.keys().await?;
                Ok::<_, SessionError>(
                    keys.iter()
                        .filter(|k| k.starts_with('k'))
                        .count()
                        .to_string(),
                )
            }),
        )
        .route(
            "/me",
            get(|session: Session| async move {
                Ok::<_, SessionError>(session.user().await?.unwrap_or_else(|| "anonymous".into()))
            }),
        )
        .route(
            "/logout-elsewhere",
            get(|session: Session| async move {
                Ok::<_, SessionError>(session.revoke_other_sessions().await?.to_string())
            }),
        )
        .merge(pages)
        .layer(SessionLayer::from_arc(store))
        .layer(HooksLayer::new().push(Noop).push(Noop))
}

async fn body(browser: &mut Browser, path: &str) -> String {
    match browser.get(path).await {
        Ok(reply) if reply.status == 200 => reply.body,
        other => panic!("{path}: {other:?}"),
    }
}

async fn parallel_writers_and_logout_elsewhere(store: Arc<dyn SessionStore>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app(store)).await;
    });

    let mut first = Browser::new(addr);
    assert_eq!(body(&mut first, "/login/7").await, "in");
    let key = first.session_key().expect("a session cookie").to_owned();
    let writers: Vec<_> = (0..WRITERS)
        .map(|n| {
            let key = key.clone();
            tokio::spawn(async move {
                let mut tab = Browser::with_session(addr, &key);
                body(&mut tab, &format!("/write/{n}")).await
            })
        })
        .collect();
    for writer in writers {
        assert_eq!(writer.await.expect("writer task"), "written");
    }
    assert_eq!(
        body(&mut first, "/keys").await,
        WRITERS.to_string(),
        "a parallel write was lost"
    );
    assert_eq!(body(&mut first, "/page").await, "a cached page");

    let mut second = Browser::new(addr);
    body(&mut second, "/login/7").await;
    assert_eq!(body(&mut second, "/me").await, "7");
    assert_eq!(body(&mut first, "/logout-elsewhere").await, "1");
    assert_eq!(
        body(&mut second, "/me").await,
        "anonymous",
        "a revoked session still logged in"
    );
    assert_eq!(body(&mut first, "/me").await, "7");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store() {
    parallel_writers_and_logout_elsewhere(Arc::new(MemoryStore::new())).await;
}

#[cfg(all(feature = "redis", feature = "testing"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store() {
    redis_store_with(0).await;
}

/// Sessions read through the backend's client-side cache: the parallel writes, the revocation and the
/// page must come out the same.
#[cfg(all(feature = "redis", feature = "testing"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_with_client_side_cache() {
    redis_store_with(1_000).await;
}

/// The run on `RedisStore`, its backend with `client_side_cache` entries of client-side cache (0: off).
#[cfg(all(feature = "redis", feature = "testing"))]
async fn redis_store_with(client_side_cache: usize) {
    use tower_django::cache::backends::RedisBackend;
    use tower_django::sessions::store::RedisStore;
    let Some(url) = tower_django::cache::testing::server_url("TEST_REDIS_URL", "Redis sessions")
    else {
        return;
    };
    let namespace = format!(
        "parallel-{}-{}:",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let backend = RedisBackend::builder(url)
        .namespace(namespace)
        .client_side_cache(client_side_cache)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("redis backend");
    let store = RedisStore::new(backend)
        .with_deadline(Duration::from_secs(30))
        .expect("a deadline");
    parallel_writers_and_logout_elsewhere(Arc::new(store)).await;
}
