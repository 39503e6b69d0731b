//! Tags and soft purges the way users meet them: two apps standing for two processes, each with its own
//! connections to one shared cache, served over real sockets through the umbrella crate. A handler tags
//! its pages with `Cache-Tag` (taken off the response); a purge of a tag through one process's
//! `PageInvalidator` makes that tag's pages misses in the other at once, and leaves other pages alone; a
//! soft purge (of a tag, or of a URL) serves the stale page while one request regenerates it.
//!
//! On the memory backend (both apps share one `Cache`), a shared directory, a shared SQLite file, and on
//! Redis, Redis Cluster, memcached and PostgreSQL when their `TEST_*` variables are set.

mod web;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use tower_django::cache::backends::MemoryBackend;
use tower_django::cache::Cache;
use tower_django::page::{CachePageLayer, PageInvalidator};
use web::{Browser, Server};

/// One process: its app, its server, its invalidator and how many pages it rendered.
struct Process {
    server: Server,
    invalidator: PageInvalidator,
    renders: Arc<AtomicUsize>,
}

async fn process(cache: Cache) -> Process {
    let renders = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&renders);
    let layer = CachePageLayer::new(cache)
        .timeout(Duration::from_secs(300))
        .cache_status("t")
        .expect("a header-safe name")
        .tag("site")
        .expect("a tag");
    let invalidator = layer.invalidator();
    let app = Router::new()
        .route(
            "/articles/{id}",
            get(move |Path(id): Path<u32>| {
                let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    (
                        [("cache-tag", format!("article-{id}, articles"))],
                        format!("article {id}, render {n}"),
                    )
                }
            }),
        )
        .layer(layer);
    Process {
        // Behind one proxy, both processes see the site's host: the page keys are the site's.
        server: Server::start(web::behind_proxy(app)).await,
        invalidator,
        renders,
    }
}

struct Answer {
    cache_status: String,
    tagged: bool,
    body: String,
}

async fn get_page(process: &Process, path: &str) -> Answer {
    let mut browser = Browser::new(process.server.base());
    let (status, headers, body) = browser
        .try_send(axum::http::Method::GET, path, Duration::from_secs(30))
        .await
        .expect("an answer");
    assert_eq!(status, 200);
    Answer {
        cache_status: headers
            .get("cache-status")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        tagged: headers.contains_key("cache-tag") || headers.contains_key("surrogate-key"),
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// The whole exchange between process `a` and process `b` on one shared cache.
async fn purges_cross_processes(a: Process, b: Process) {
    // A stores two articles; B, with its own connections, is served them from the shared cache.
    let first = get_page(&a, "/articles/1").await;
    assert!(
        first.cache_status.ends_with("stored"),
        "{}",
        first.cache_status
    );
    assert!(!first.tagged, "the tag header never leaves the layer");
    get_page(&a, "/articles/2").await;
    let from_b = get_page(&b, "/articles/1").await;
    assert_eq!(
        (from_b.cache_status.as_str(), from_b.body.as_str()),
        ("t; hit", first.body.as_str())
    );
    assert_eq!(b.renders.load(Ordering::SeqCst), 0);

    // B purges one article's tag: A's next request for it is a miss; the other article is still a hit.
    b.invalidator.purge_tag("article-1").await.expect("purged");
    let after = get_page(&a, "/articles/1").await;
    assert!(
        after.cache_status.contains("fwd=miss"),
        "{}",
        after.cache_status
    );
    assert_ne!(after.body, first.body);
    let other = get_page(&a, "/articles/2").await;
    assert_eq!(other.cache_status, "t; hit");
    let renders = a.renders.load(Ordering::SeqCst);
    assert_eq!(renders, 3);

    // A soft purge of the tag both carry: served stale at once, one request regenerates in the background.
    let before = get_page(&a, "/articles/2").await;
    b.invalidator
        .soft_purge_tag("articles")
        .await
        .expect("soft purge");
    // Twenty requests at once: each is answered from the cache (the stale copy, or the regenerated one),
    // and the handler runs once for all of them.
    let renders_before = a.renders.load(Ordering::SeqCst);
    let a = Arc::new(a);
    let burst: Vec<_> = (0..20)
        .map(|_| {
            let a = Arc::clone(&a);
            tokio::spawn(async move { get_page(&a, "/articles/2").await })
        })
        .collect();
    let mut stale_answers = 0;
    for answer in burst {
        let answer = answer.await.expect("answered");
        assert!(
            answer.cache_status.starts_with("t; hit"),
            "{}",
            answer.cache_status
        );
        if answer.cache_status.starts_with("t; hit; ttl=-") {
            assert_eq!(answer.body, before.body, "the stale copy, at once");
            stale_answers += 1;
        }
    }
    assert!(stale_answers >= 1, "the first is served stale");
    let started = Instant::now();
    let fresh = loop {
        let answer = get_page(&a, "/articles/2").await;
        if answer.body != before.body {
            break answer;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never regenerated: {}",
            answer.cache_status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        fresh.cache_status, "t; hit",
        "the regenerated page is stored"
    );
    assert_eq!(
        a.renders.load(Ordering::SeqCst),
        renders_before + 1,
        "one regeneration for the whole burst"
    );

    // A soft purge of one URL: the same, for that URL's pages only. (The soft purge of `articles` made
    // this page stale too: wait until its regenerated copy is stored.)
    let started = Instant::now();
    let before = loop {
        let answer = get_page(&b, "/articles/1").await;
        if answer.cache_status == "t; hit" {
            break answer;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never fresh again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(b
        .invalidator
        .soft_invalidate("shared.example", "/articles/1")
        .await
        .expect("soft purge"));
    let stale = get_page(&b, "/articles/1").await;
    assert!(
        stale.cache_status.starts_with("t; hit; ttl=-"),
        "{}",
        stale.cache_status
    );
    assert_eq!(stale.body, before.body);
    assert_eq!(get_page(&a, "/articles/2").await.cache_status, "t; hit");
    let started = Instant::now();
    loop {
        let answer = get_page(&a, "/articles/1").await;
        if answer.body != before.body && answer.cache_status == "t; hit" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never regenerated"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The layer's own tag purges everything of this layer.
    a.invalidator.purge_tag("site").await.expect("purged");
    let again = get_page(&b, "/articles/2").await;
    assert!(
        again.cache_status.contains("fwd=miss"),
        "{}",
        again.cache_status
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_memory() {
    let cache = Cache::new(MemoryBackend::new());
    purges_cross_processes(process(cache.clone()).await, process(cache).await).await;
}

/// The two-process exchange on two caches of the shared server `kind` (see `web::shared_caches`).
async fn on_server(kind: &str) {
    let unique = format!("tags{}{}", kind.replace('-', ""), std::process::id());
    let Some((a, b)) = web::shared_caches(kind, &unique).await else {
        return;
    };
    purges_cross_processes(process(a.clone()).await, process(b).await).await;
    // memcached's clear is flush_all on the shared servers: its keys are left to expire.
    if kind != "memcached" {
        let _ = a.clear().await;
    }
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(&unique));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_files() {
    on_server("file").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite() {
    on_server("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis() {
    on_server("redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_cluster() {
    on_server("redis-cluster").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_memcached() {
    on_server("memcached").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres() {
    on_server("postgres").await;
}

/// Fragments tagged like pages: one purge of a tag, through the page cache's invalidator, re-renders the
/// tag's fragments too (one tag namespace per cache); a fragment with other tags is kept.
#[tokio::test]
async fn a_tag_purge_reaches_fragments_too() {
    use tower_django::cache::FragmentCache;
    let cache = Cache::new(MemoryBackend::new());
    let fragments = FragmentCache::new(cache.clone());
    let invalidator = CachePageLayer::new(cache).invalidator();
    let renders = AtomicUsize::new(0);
    let render = |what: &'static str| {
        let n = renders.fetch_add(1, Ordering::SeqCst) + 1;
        async move { format!("<aside>{what} {n}</aside>") }
    };
    let ttl = Duration::from_secs(300);
    let first = fragments
        .get_or_render_tagged("sidebar", &[&1], &["articles"], ttl, || render("sidebar"))
        .await;
    let other = fragments
        .get_or_render_tagged("footer", &[], &["site-footer"], ttl, || render("footer"))
        .await;
    let again = fragments
        .get_or_render_tagged("sidebar", &[&1], &["articles"], ttl, || render("sidebar"))
        .await;
    assert_eq!(
        (again.as_str(), renders.load(Ordering::SeqCst)),
        (first.as_str(), 2)
    );
    invalidator.purge_tag("articles").await.expect("purged");
    let after = fragments
        .get_or_render_tagged("sidebar", &[&1], &["articles"], ttl, || render("sidebar"))
        .await;
    assert_ne!(after, first, "re-rendered after the purge");
    let footer = fragments
        .get_or_render_tagged("footer", &[], &["site-footer"], ttl, || render("footer"))
        .await;
    assert_eq!(footer, other, "another tag's fragment is kept");
    // And the other way round: the fragment cache's purge, by the same tag.
    fragments
        .purge_tag("site-footer", ttl)
        .await
        .expect("purged");
    let footer = fragments
        .get_or_render_tagged("footer", &[], &["site-footer"], ttl, || render("footer"))
        .await;
    assert_ne!(footer, other);
}
