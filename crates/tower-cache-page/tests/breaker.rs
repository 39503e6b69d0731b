//! A hung backend behind the page cache is probed by one request at a time: after a failure the cache is
//! bypassed for the cooldown, then a single request tries the backend while every other request keeps
//! being served by the inner service without touching the cache.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use cache_core::Cache;
use support::{fetch, header, req, served_app as app, Calls, Counter, Switchable};
use tower_cache_page::CachePageLayer;

/// The layer's cooldown after a backend failure.
const COOLDOWN: Duration = Duration::from_secs(1);

/// With the backend hanging: one request meets the hang and opens the breaker; then 50 clients send
/// requests for 3.5 cooldowns. Every request is served by the handler, and at most one backend call is
/// ever under way at once (the probe); without the half-open state every request waiting when a cooldown
/// ended went to the backend. Then the backend comes back and the cache is used again.
async fn one_probe_at_a_time(calls: &Calls, hang: impl Fn(bool), layer: CachePageLayer) {
    const CLIENTS: usize = 50;
    let counter = Counter::default();
    let app = app(
        &counter,
        layer
            .backend_timeout(Some(Duration::from_millis(200)))
            .cache_status("t")
            .expect("a valid cache status name"),
    );
    let (response, _) = fetch(&app, req("/page")).await;
    assert_eq!(
        header(&response, "cache-status"),
        "t; fwd=uri-miss; stored",
        "healthy"
    );
    let (response, _) = fetch(&app, req("/page")).await;
    assert_eq!(header(&response, "cache-status"), "t; hit", "healthy");

    hang(true);
    let (response, body) = fetch(&app, req("/page?first")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(body.starts_with(b"served "), "{body:?}");
    assert_eq!(
        header(&response, "cache-status"),
        "t; fwd=miss; detail=backend-error"
    );
    assert_eq!(calls.in_flight.load(Ordering::SeqCst), 0);
    calls.reset();

    let until = Instant::now() + COOLDOWN * 7 / 2;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let app = app.clone();
            tokio::spawn(async move {
                let mut served = 0usize;
                while Instant::now() < until {
                    let (response, body) = fetch(&app, req(&format!("/page?c={client}"))).await;
                    assert_eq!(response.status(), StatusCode::OK);
                    assert!(body.starts_with(b"served "), "{body:?}");
                    served += 1;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                served
            })
        })
        .collect();
    let mut served = 0;
    for client in clients {
        match client.await {
            Ok(n) => served += n,
            Err(error) => panic!("a client failed: {error}"),
        }
    }
    let most = calls.most.load(Ordering::SeqCst);
    let probes = calls.started.load(Ordering::SeqCst);
    assert!(served >= CLIENTS, "{served} requests served");
    assert!(
        most <= 1,
        "{most} backend calls were under way at once ({probes} calls in all)"
    );
    assert!(
        probes >= 1,
        "the backend was never probed again in 3.5 cooldowns"
    );

    hang(false);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (response, _) = fetch(&app, req("/page?after")).await;
        if !header(&response, "cache-status").contains("backend-error") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cache was not used again within 10 s of the backend's return"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_backend_is_probed_by_one_request_at_a_time() {
    let hang = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(Calls::default());
    let backend = Switchable {
        inner: cache_core::backends::MemoryBackend::new(),
        hang: Arc::clone(&hang),
        corrupt: Arc::default(),
        calls: Arc::clone(&calls),
    };
    let layer = CachePageLayer::new(Cache::new(backend));
    one_probe_at_a_time(&calls, |on| hang.store(on, Ordering::SeqCst), layer).await;
}

/// The same against a real Redis server behind a proxy that stops answering (`TEST_REDIS_URL`).
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_redis_is_probed_by_one_request_at_a_time() {
    use cache_core::testing::{server_url, unique_prefix, FaultMode, FaultProxy};
    let Some(url) = server_url("TEST_REDIS_URL", "the page cache's Redis blackhole test") else {
        return;
    };
    let upstream = url
        .trim_start_matches("redis://")
        .split(['/', '?'])
        .next()
        .and_then(|authority| authority.rsplit('@').next())
        .and_then(|host_port| {
            use std::net::ToSocketAddrs;
            host_port.to_socket_addrs().ok()?.next()
        });
    let Some(upstream) = upstream else {
        panic!("TEST_REDIS_URL is not redis://host:port: {url}");
    };
    let proxy = match FaultProxy::start(upstream).await {
        Ok(proxy) => proxy,
        Err(error) => panic!("proxy: {error}"),
    };
    let prefix = unique_prefix("page-blackhole");
    let redis =
        match cache_core::backends::RedisBackend::builder(format!("redis://{}", proxy.addr()))
            .namespace(format!("{prefix}:"))
            .build()
        {
            Ok(redis) => redis,
            Err(error) => panic!("redis backend: {error}"),
        };
    let calls = Arc::new(Calls::default());
    let backend = Switchable {
        inner: redis,
        hang: Arc::default(),
        corrupt: Arc::default(),
        calls: Arc::clone(&calls),
    };
    let cache = Cache::builder(backend).key_prefix(prefix).build();
    let layer = CachePageLayer::new(cache.clone());
    let mode = |blackhole| {
        proxy.set_mode(match blackhole {
            true => FaultMode::Blackhole,
            false => FaultMode::Forward,
        })
    };
    one_probe_at_a_time(&calls, mode, layer).await;
    let _ = cache.clear().await;
}
