//! The page cache's hit path side by side with a plain axum handler and axum-response-cache, all serving
//! the same 10 KB page in-process (`tower::ServiceExt::oneshot` on the app, body read to the end).
//!
//! ```text
//! cargo bench --bench page_cache
//! TEST_REDIS_URL=redis://127.0.0.1:6379 cargo bench --bench page_cache
//! ```
//!
//! Variants (each app answers `GET /page` with the same handler):
//!
//! - `plain`: the handler alone, the limit;
//! - `page_cache/memory/router`: `CachePageLayer` on the memory backend wrapping the whole router (before
//!   routing, where Django's site-wide cache sits);
//! - `page_cache/memory+tags/router`: the same with two tags on every page (each hit checks them);
//! - `page_cache/memory/route`: the same layer on the route (`get(handler).layer(..)`, after routing);
//! - `axum_response_cache/router` and `/route`: the peer crate in the same two places;
//! - `page_cache/redis/router`: with `TEST_REDIS_URL` set and the Redis backend compiled in; and
//!   `page_cache/redis+client_cache/router`, the same with the backend's client-side cache on (a hit is then
//!   answered from process memory, kept coherent by Redis's invalidations), and
//!   `page_cache/redis+client_cache+tags/router` with two tags on every page.
//!
//! `PAGE_BENCH_ONLY=memory/router` keeps only the plain handler and the matching variants (for profiling);
//! `PAGE_BENCH_PHASE=criterion` or `side_by_side` runs only that phase.
//!
//! Criterion measures each variant; then an interleaved run (variants alternating in rounds, so drift hits
//! all alike) prints requests per second and the ratios to `plain`. The same apps over HTTP, beside the
//! other peers: `cargo bench --bench load`.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use cache_core::Cache;
use criterion::{criterion_group, criterion_main, Criterion};
use http_body_util::BodyExt;
use tower::{Layer, ServiceExt};
use tower_cache_page::CachePageLayer;

use comparisons::apps::boxed;
use comparisons::apps::page::page;
use comparisons::{rate_of, runtime, App};

fn routes(
    page: Bytes,
    on_route: impl FnOnce(axum::routing::MethodRouter) -> axum::routing::MethodRouter,
) -> Router {
    let handler = get(move || {
        let page = page.clone();
        async move { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page) }
    });
    Router::new()
        .route("/page", on_route(handler))
        .with_state(())
}

/// The layer with two tags on every page: what a hit pays to check that neither was purged.
fn tagged(layer: CachePageLayer) -> CachePageLayer {
    layer
        .tag("site")
        .and_then(|layer| layer.tag("articles"))
        .unwrap_or_else(|error| panic!("valid tags: {error}"))
}

/// Our memory cache, as the load bench opens it.
fn memory_cache() -> Cache {
    comparisons::apps::page::memory_cache().unwrap_or_else(|error| panic!("memory cache: {error}"))
}

/// The apps, by name; the first is the plain handler.
async fn apps() -> Vec<(&'static str, App)> {
    let page = page();
    let mut apps: Vec<(&'static str, App)> = vec![
        ("plain", boxed(routes(page.clone(), |h| h))),
        (
            "page_cache/memory/router",
            boxed(CachePageLayer::new(memory_cache()).layer(routes(page.clone(), |h| h))),
        ),
        (
            "page_cache/memory+tags/router",
            boxed(tagged(CachePageLayer::new(memory_cache())).layer(routes(page.clone(), |h| h))),
        ),
        (
            "page_cache/memory/route",
            boxed(routes(page.clone(), |h| {
                h.layer(CachePageLayer::new(memory_cache()))
            })),
        ),
        (
            "axum_response_cache/router",
            boxed(
                axum_response_cache::CacheLayer::with_lifespan(Duration::from_secs(600))
                    .layer(routes(page.clone(), |h| h)),
            ),
        ),
        (
            "axum_response_cache/route",
            boxed(routes(page.clone(), |h| {
                h.layer(axum_response_cache::CacheLayer::with_lifespan(
                    Duration::from_secs(600),
                ))
            })),
        ),
    ];
    if let Ok(url) = std::env::var("TEST_REDIS_URL") {
        let separator = if url.contains('?') { '&' } else { '?' };
        let variants = [
            ("page_cache/redis/router", url.clone(), false),
            (
                "page_cache/redis+client_cache/router",
                format!("{url}{separator}client_side_cache=1000"),
                false,
            ),
            (
                "page_cache/redis+client_cache+tags/router",
                format!("{url}{separator}client_side_cache=1000"),
                true,
            ),
        ];
        for (name, url, with_tags) in variants {
            match Cache::from_url(&url).await {
                Ok(cache) => {
                    let cache = cache
                        .to_builder()
                        .key_prefix(format!("bench-{}", std::process::id()))
                        .build();
                    let layer = CachePageLayer::new(cache);
                    let layer = if with_tags { tagged(layer) } else { layer };
                    apps.push((name, boxed(layer.layer(routes(page.clone(), |h| h)))));
                }
                Err(error) => {
                    eprintln!("skipping {name}: {error} (build with --features redis)")
                }
            }
        }
    } else {
        eprintln!("skipping the Redis variant: set TEST_REDIS_URL");
    }
    // `PAGE_BENCH_ONLY=name` keeps the plain handler and the variants whose name contains `name` (profiling).
    if let Ok(only) = std::env::var("PAGE_BENCH_ONLY") {
        apps.retain(|(name, _)| *name == "plain" || name.contains(only.as_str()));
    }
    // Warm every cache, and check every app serves the page and every page-cache variant really hits.
    for (name, app) in &apps {
        for round in 0..2 {
            let (len, age) = probe(app.clone()).await;
            assert_eq!(len, page.len(), "{name} served {len} bytes");
            if round == 1 && name.starts_with("page_cache") {
                assert!(age, "{name} did not answer from the cache");
            }
        }
    }
    apps
}

/// One request, reporting the body length and whether it carried `Age` (only cache hits do).
async fn probe(app: App) -> (usize, bool) {
    let request = Request::get("/page")
        .header(header::HOST, "bench.example")
        .body(Body::empty())
        .unwrap_or_default();
    let Ok(response) = app.oneshot(request).await;
    let age = response.headers().contains_key(header::AGE);
    let len = match response.into_body().collect().await {
        Ok(collected) => collected.to_bytes().len(),
        Err(_) => 0,
    };
    (len, age)
}

/// One request through the app; the body is read to the end. Returns the body length.
async fn request(app: App) -> usize {
    let request = Request::get("/page")
        .header(header::HOST, "bench.example")
        .body(Body::empty())
        .unwrap_or_default();
    let Ok(response) = app.oneshot(request).await;
    match response.into_body().collect().await {
        Ok(collected) => collected.to_bytes().len(),
        Err(_) => 0,
    }
}

/// Whether `phase` runs: all do, unless `PAGE_BENCH_PHASE` names one (`criterion`, `side_by_side`).
fn runs(phase: &str) -> bool {
    std::env::var("PAGE_BENCH_PHASE").map_or(true, |only| only == phase)
}

fn bench(c: &mut Criterion) {
    if !runs("criterion") && !runs("side_by_side") {
        return;
    }
    let rt = runtime();
    let apps = rt.block_on(apps());
    if runs("criterion") {
        let mut group = c.benchmark_group("page_cache_10kb");
        group
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .sample_size(30);
        for (name, app) in &apps {
            group.bench_function(*name, |b| b.to_async(&rt).iter(|| request(app.clone())));
        }
        group.finish();
    }
    if runs("side_by_side") {
        side_by_side(&rt, &apps);
    }
}

/// Interleaved rounds of each variant; prints the median requests per second and the ratios to `plain`
/// and to axum-response-cache in the same position.
fn side_by_side(rt: &tokio::runtime::Runtime, apps: &[(&'static str, App)]) {
    const ROUNDS: usize = 15;
    const PER_ROUND: usize = 20_000;
    let mut rates: Vec<Vec<f64>> = vec![Vec::with_capacity(ROUNDS); apps.len()];
    for _ in 0..ROUNDS {
        for (i, (_, app)) in apps.iter().enumerate() {
            let started = Instant::now();
            rt.block_on(async {
                for _ in 0..PER_ROUND {
                    std::hint::black_box(request(app.clone()).await);
                }
            });
            rates[i].push(PER_ROUND as f64 / started.elapsed().as_secs_f64());
        }
    }
    let rates: Vec<(&str, f64)> = apps
        .iter()
        .map(|(n, _)| *n)
        .zip(rates.into_iter().map(comparisons::median))
        .collect();
    let rate = |name: &str| rate_of(&rates, name);
    let plain = rate("plain");
    println!("\nside by side ({ROUNDS} interleaved rounds of {PER_ROUND} requests, median):");
    for (name, r) in &rates {
        println!("  {name:<38} {r:>12.0} req/s   {:>5.2}x plain", r / plain);
    }
    for position in ["router", "route"] {
        let ours = rate(&format!("page_cache/memory/{position}"));
        let peer = rate(&format!("axum_response_cache/{position}"));
        if ours.is_finite() && peer.is_finite() {
            println!(
                "  page_cache/memory/{position} vs axum_response_cache/{position}: {:.2}x",
                ours / peer
            );
        }
    }
    println!("  targets: memory hit >= 0.95x plain and >= 1.00x axum-response-cache; redis hit >= 0.50x plain");
}

criterion_group!(benches, bench);
criterion_main!(benches);
