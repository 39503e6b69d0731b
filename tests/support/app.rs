//! The app under test: one axum `Router` with Django's sessions on every route and the page cache on the
//! page routes, served on `127.0.0.1:0`.
//!
//! - `GET /count` reads the session's counter, adds one, stores it and answers the new value: one load and
//!   one save per request, so it fails while the session store is down.
//! - `GET /peek` answers the counter without changing it.
//! - `GET /page/{n}` answers a page cached by `CachePageLayer` (60 s); it never touches the session, so it
//!   depends only on the page cache, which must fail open.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::task::JoinHandle;
use tower_django::cache::Cache;
use tower_django::page::CachePageLayer;
use tower_django::sessions::{Session, SessionError, SessionLayer, SessionStore};

/// The `Cache-Status` name the page cache answers with.
pub const CACHE_NAME: &str = "faults";

/// The session key of the counter.
const COUNTER: &str = "counter";

/// The app, listening; the server task ends when this is dropped.
pub struct App {
    /// Where it listens.
    pub addr: SocketAddr,
    server: JoinHandle<()>,
}

impl Drop for App {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Serves the app with sessions in `store` and pages in `cache`. `error_status` configures the layer's
/// store-failure response (`None`: the default, a bare 500).
pub async fn serve(
    store: impl SessionStore,
    cache: Cache,
    error_status: Option<StatusCode>,
) -> App {
    let pages = Router::new().route("/page/{n}", get(page)).layer(
        CachePageLayer::new(cache)
            .timeout(Duration::from_secs(60))
            .cache_status(CACHE_NAME)
            .expect("a valid cache status name"),
    );
    let mut sessions = SessionLayer::new(store);
    if let Some(status) = error_status {
        sessions =
            sessions.error_response(move |_| (status, "session store unavailable").into_response());
    }
    let app = Router::new()
        .route("/count", get(count))
        .route("/peek", get(peek))
        .merge(pages)
        .layer(sessions);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the app");
    let addr = listener.local_addr().expect("the app's address");
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("the app's server");
    });
    App { addr, server }
}

async fn page(Path(n): Path<u32>) -> String {
    format!("page {n}")
}

async fn count(session: Session) -> Result<String, SessionError> {
    let next = session.get::<u64>(COUNTER).await?.unwrap_or(0) + 1;
    session.insert(COUNTER, &next).await?;
    Ok(next.to_string())
}

async fn peek(session: Session) -> Result<String, SessionError> {
    Ok(session.get::<u64>(COUNTER).await?.unwrap_or(0).to_string())
}
