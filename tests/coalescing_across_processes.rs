//! Coalescing across processes, the way users meet it: two apps standing for two processes behind one
//! proxy, each with its own connections to one shared cache, over real sockets through the umbrella crate.
//! 200 concurrent cold requests split between them run the slow handler exactly once, and every one of
//! them gets the whole page; a process whose render is cancelled (its client went away) releases the
//! lease at once, and the other process's requests are answered with a whole page, never an empty one.
//!
//! On the memory backend (one `Cache` for both), a shared directory, a shared SQLite file, and on Redis,
//! Redis Cluster, memcached and PostgreSQL when their `TEST_*` variables are set.

mod web;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use tower_django::cache::backends::MemoryBackend;
use tower_django::cache::Cache;
use tower_django::page::CachePageLayer;
use web::{Browser, Server};

/// The page body: long enough that a partial body would show.
fn page(id: &str) -> String {
    format!(
        "<article id={id}>{}</article>",
        "lorem ipsum ".repeat(2_000)
    )
}

/// One process: a slow page (the handler waits `render` before answering), counting its renders.
async fn process(cache: Cache, renders: Arc<AtomicUsize>, render: Duration) -> Server {
    let app = Router::new()
        .route(
            "/slow/{id}",
            get(move |Path(id): Path<String>| {
                let renders = Arc::clone(&renders);
                async move {
                    renders.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(render).await;
                    page(&id)
                }
            }),
        )
        .layer(CachePageLayer::new(cache).timeout(Duration::from_secs(300)));
    Server::start(web::behind_proxy(app)).await
}

async fn get_body(base: String, path: String) -> (u16, String) {
    let mut browser = Browser::new(base);
    let (status, _, body) = browser
        .try_send(axum::http::Method::GET, &path, Duration::from_secs(60))
        .await
        .expect("an answer");
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// 200 concurrent cold requests, 100 to each process: one render in all.
async fn runs_once_in_total(a: Cache, b: Cache, id: &str) {
    let renders = Arc::new(AtomicUsize::new(0));
    let render = Duration::from_millis(400);
    let one = process(a, Arc::clone(&renders), render).await;
    let two = process(b, Arc::clone(&renders), render).await;
    let path = format!("/slow/{id}");
    let requests: Vec<_> = (0..200)
        .map(|i| {
            let base = if i % 2 == 0 { one.base() } else { two.base() };
            tokio::spawn(get_body(base, path.clone()))
        })
        .collect();
    for request in requests {
        let (status, body) = request.await.expect("answered");
        assert_eq!(status, 200);
        assert_eq!(body, page(id), "every request gets the whole page");
    }
    assert_eq!(
        renders.load(Ordering::SeqCst),
        1,
        "the handler ran once in total"
    );
}

/// A leader cancelled mid-render: process one's only request goes away while the handler runs; process
/// two's requests, waiting on its lease, take over at once and are answered with the whole page.
async fn a_cancelled_leader_hands_over(a: Cache, b: Cache, id: &str) {
    let renders = Arc::new(AtomicUsize::new(0));
    let one = process(a, Arc::clone(&renders), Duration::from_secs(30)).await;
    let two = process(b, Arc::clone(&renders), Duration::from_millis(200)).await;
    let path = format!("/slow/{id}");
    // Process one takes the lease and starts its 30 s render; its client gives up after it started.
    let leader = tokio::spawn(get_body(one.base(), path.clone()));
    while renders.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let waiters: Vec<_> = (0..20)
        .map(|_| tokio::spawn(get_body(two.base(), path.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    leader.abort();
    for waiter in waiters {
        let (status, body) = waiter.await.expect("answered");
        assert_eq!(status, 200);
        assert_eq!(body, page(id), "never an empty or partial page");
    }
    // Process one's render was cancelled with its client; process two rendered it once.
    assert_eq!(renders.load(Ordering::SeqCst), 2);
}

async fn both(a: Cache, b: Cache, tag: &str) {
    runs_once_in_total(a.clone(), b.clone(), &format!("{tag}-once")).await;
    a_cancelled_leader_hands_over(a, b, &format!("{tag}-cancelled")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_memory() {
    let cache = Cache::new(MemoryBackend::new());
    both(cache.clone(), cache, "memory").await;
}

/// Both scenarios on two caches of the shared server `kind` (see `web::shared_caches`).
async fn on_server(kind: &str) {
    let unique = format!("coalesce{}{}", kind.replace('-', ""), std::process::id());
    let Some((a, b)) = web::shared_caches(kind, &unique).await else {
        return;
    };
    both(a.clone(), b, kind).await;
    // memcached's clear is flush_all on the shared servers: its keys are left to expire.
    if kind != "memcached" {
        let _ = a.clear().await;
    }
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(&unique));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_files() {
    on_server("file").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_sqlite() {
    on_server("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_redis() {
    on_server("redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_redis_cluster() {
    on_server("redis-cluster").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_memcached() {
    on_server("memcached").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgres() {
    on_server("postgres").await;
}
