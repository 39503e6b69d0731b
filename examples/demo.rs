//! The demo app: an axum service on 127.0.0.1:3000 whose handlers use the cache.
//!
//! ```text
//! cargo run --example demo
//! curl http://127.0.0.1:3000/            # a visit counter (incr) and a cached "report" (get_or_set_with)
//! curl http://127.0.0.1:3000/square/12   # a slow computation, cached per argument for 30 s
//! curl -X POST http://127.0.0.1:3000/reset   # invalidation: delete_many
//! curl -i http://127.0.0.1:3000/page      # a whole page cached by CachePageLayer (see Cache-Status, Age)
//! ```
//!
//! Every response also passes a Django-style middleware (`tower-hooks`) that adds an `X-Frame-Options` header.
//!
//! Everything is embedded (the in-process memory cache); nothing else needs to run. Set `DEMO_ADDR` to
//! listen elsewhere, and `DEMO_SMOKE=1` to serve one request to itself, print it and exit (what CI does).

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use cache_core::{Cache, Caches, CachesConfig, Error};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_cache_page::CachePageLayer;
use tower_hooks::{async_trait, Exception, HooksLayer, Middleware};

#[derive(Clone)]
struct AppState {
    cache: Cache,
}

/// Cache errors become a 503 with the reason, never a panic.
struct AppError(Error);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        tracing::error!(error = %self.0, "cache error");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cache error: {}\n", self.0),
        )
            .into_response()
    }
}

impl From<Error> for AppError {
    fn from(error: Error) -> Self {
        AppError(error)
    }
}

async fn home(State(state): State<AppState>) -> Result<Html<String>, AppError> {
    let cache = &state.cache;
    // Django's idiom for a counter: add the initial value, then incr (atomic on every backend).
    cache.add("visits", &0).await?;
    let visits = cache.incr("visits", 1).await?;
    let report: String = cache
        .get_or_set_with("report", || async {
            tokio::time::sleep(Duration::from_millis(300)).await; // pretend this is expensive
            format!("report built at unix time {}", unix_now())
        })
        .timeout(Duration::from_secs(10))
        .await?;
    Ok(Html(format!(
        "<h1>tower-django demo</h1>\n<p>visits: {visits}</p>\n<p>{report} (cached for 10 s)</p>\n"
    )))
}

async fn square(State(state): State<AppState>, Path(n): Path<i64>) -> Result<String, AppError> {
    let key = format!("square:{n}");
    let value: Option<i64> = state
        .cache
        .get_or_set_with(&key, || async move {
            tokio::time::sleep(Duration::from_millis(500)).await; // a slow computation
            n.checked_mul(n)
        })
        .timeout(Duration::from_secs(30))
        .await?;
    Ok(match value {
        Some(square) => format!("{n}² = {square}\n"),
        None => format!("{n}² overflows a 64-bit integer\n"),
    })
}

async fn reset(State(state): State<AppState>) -> Result<&'static str, AppError> {
    state.cache.delete_many(["visits", "report"]).await?;
    Ok("reset\n")
}

/// A whole page, rendered slowly and cached for 10 s by `CachePageLayer` (Django's `@cache_page(10)`).
async fn page() -> Html<String> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    Html(format!(
        "<p>page rendered at unix time {}</p>\n",
        unix_now()
    ))
}

/// Django's `XFrameOptionsMiddleware`: one response hook.
struct XFrameOptions;

#[async_trait]
impl Middleware for XFrameOptions {
    async fn process_response(
        &self,
        _request: &axum::http::request::Parts,
        response: &mut tower_hooks::Response,
    ) -> Result<(), Exception> {
        response.headers_mut().insert(
            "x-frame-options",
            axum::http::HeaderValue::from_static("DENY"),
        );
        Ok(())
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn app(cache: Cache) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/square/{n}", get(square))
        .route("/reset", post(reset))
        .route(
            "/page",
            get(page).layer(
                CachePageLayer::new(cache.clone())
                    .timeout(Duration::from_secs(10))
                    .cache_status("demo"),
            ),
        )
        .with_state(AppState { cache })
        .layer(HooksLayer::new().push(XFrameOptions))
}

/// Sends `GET /` to the running server over TCP and returns the response.
async fn smoke_request(addr: SocketAddr) -> std::io::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    // Django's default CACHES: one in-process cache called "default".
    let caches = Caches::from_config(CachesConfig::default()).await?;
    let cache = caches.default_cache()?.clone();

    let addr: SocketAddr = std::env::var("DEMO_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".into())
        .parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app(cache)).await });

    if std::env::var("DEMO_SMOKE").is_ok_and(|v| v == "1") {
        let response = smoke_request(addr).await?;
        println!("{response}");
        server.abort();
        let framed = response
            .to_ascii_lowercase()
            .contains("x-frame-options: deny");
        if !response.starts_with("HTTP/1.1 200") || !response.contains("visits: 1") || !framed {
            return Err("the demo did not answer GET / as expected".into());
        }
        return Ok(());
    }

    println!("tower-django demo listening on http://{addr}/ (Ctrl-C to stop)");
    tokio::select! {
        served = server => served??,
        _ = tokio::signal::ctrl_c() => println!("bye"),
    }
    caches.close_all().await?;
    Ok(())
}
