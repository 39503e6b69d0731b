//! Django's page cache: `cache_page` on one route, the site-wide cache (Django's `UpdateCacheMiddleware` +
//! `FetchFromCacheMiddleware`) on a group of routes, `never_cache` on one of those, and invalidation from a
//! handler. Every cached route answers with a `Cache-Status` header (RFC 9211) saying what happened.
//!
//! ```text
//! cargo run --example cache_page --features page
//! curl -i http://127.0.0.1:3000/report          # cache_page(10 s): "view; fwd=uri-miss; stored", then "view; hit"
//! curl -i http://127.0.0.1:3000/                # the site cache: "site; fwd=uri-miss; stored", then "site; hit"
//! curl -i http://127.0.0.1:3000/account         # never_cache inside the site cache: never stored
//! curl -i -X POST http://127.0.0.1:3000/publish # drops the stored "/" (every variant of it)
//! curl -i http://127.0.0.1:3000/live            # outside both caches
//! EXAMPLE_SMOKE=1 cargo run --example cache_page --features page   # what CI runs: requests itself, checks, exits
//! ```
//!
//! The pages are slow (200 ms) and count their renders, so a hit shows in both the time and the body.
//! Everything lives in the in-process memory cache; nothing else needs to run.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::Html;
use axum::routing::{get, post};
use axum::{Extension, Router};
use support::{ensure, BoxError, Client};
use tower_django::cache::backends::MemoryBackend;
use tower_django::cache::Cache;
use tower_django::page::{CachePageLayer, InvalidSetting, NeverCacheLayer, PageInvalidator};

/// How many times any page was rendered: a cached answer repeats the number it was rendered with.
static RENDERS: AtomicU64 = AtomicU64::new(0);

/// A slow page (a database query, a template).
async fn render(what: &str) -> Html<String> {
    tokio::time::sleep(Duration::from_millis(200)).await;
    let render = RENDERS.fetch_add(1, Ordering::SeqCst) + 1;
    Html(format!("<p>{what}, render #{render}</p>\n"))
}

async fn home() -> Html<String> {
    render("home page").await
}

async fn report() -> Html<String> {
    render("report").await
}

async fn account() -> Html<String> {
    render("your account (per user: never cached)").await
}

async fn live() -> Html<String> {
    render("live scores (not behind a page cache)").await
}

/// Changes what `/` shows, then drops its stored pages. The site cache puts a `PageInvalidator` in the
/// request extensions of every route behind it.
async fn publish(Extension(pages): Extension<PageInvalidator>, headers: HeaderMap) -> String {
    // Pages are keyed by host: invalidate the one this request came to.
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    match pages.invalidate(host, "/").await {
        Ok(dropped) => format!("published; a stored home page was dropped: {dropped}\n"),
        Err(error) => format!("published, but the cached home page stays: {error}\n"),
    }
}

fn app(cache: Cache) -> Result<Router, InvalidSetting> {
    // The site cache (Django: CACHE_MIDDLEWARE_SECONDS = 60) over every route of this router. A route that
    // must never be cached says so with `NeverCacheLayer` (Django's `@never_cache`): the site cache then
    // passes it through. POSTs are never cached (`Cache-Status: site; fwd=method`).
    let site = Router::new()
        .route("/", get(home))
        .route("/account", get(account).layer(NeverCacheLayer::new()))
        .route("/publish", post(publish))
        .layer(
            CachePageLayer::new(cache.clone())
                .timeout(Duration::from_secs(60))
                .cache_status("site")?,
        );

    // `@cache_page(10)` on one view, and a route with no page cache at all.
    let views = Router::new()
        .route(
            "/report",
            get(report).layer(
                CachePageLayer::new(cache)
                    .timeout(Duration::from_secs(10))
                    .cache_status("view")?,
            ),
        )
        .route("/live", get(live));

    Ok(site.merge(views))
}

async fn smoke(client: Client) -> Result<(), BoxError> {
    let first = client.get("/report").await?;
    let second = client.get("/report").await?;
    ensure(
        first.header("cache-status") == "view; fwd=uri-miss; stored",
        "the first /report to be stored",
    )?;
    ensure(
        second.header("cache-status") == "view; hit" && second.body == first.body,
        "the second /report to be the stored one",
    )?;

    let first = client.get("/").await?;
    let second = client.get("/").await?;
    ensure(
        first.header("cache-status").ends_with("stored")
            && second.header("cache-status") == "site; hit",
        "/ to be stored by the site cache, then a hit",
    )?;
    client.post("/publish").await?;
    let after = client.get("/").await?;
    ensure(
        after.header("cache-status") != "site; hit" && after.body != first.body,
        "/ rendered again after /publish",
    )?;

    client.get("/account").await?;
    let account = client.get("/account").await?;
    ensure(
        !account.header("cache-status").contains("hit")
            && account.header("cache-control").contains("no-store"),
        "/account never served from the cache",
    )?;

    let live = client.get("/live").await?;
    ensure(
        live.header("cache-status").is_empty(),
        "/live outside the page caches",
    )
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    support::init_tracing();
    let cache = Cache::new(MemoryBackend::new());
    support::serve(
        app(cache)?,
        &[
            "curl -i http://{addr}/report",
            "curl -i http://{addr}/",
            "curl -i http://{addr}/account",
            "curl -i -X POST http://{addr}/publish",
            "curl -i http://{addr}/live",
        ],
        smoke,
    )
    .await
}
