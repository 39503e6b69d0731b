//! A hung backend behind the page cache is probed by one request at a time: after a failure the cache is
//! bypassed for the cooldown, then a single request tries the backend while every other request keeps
//! being served by the inner service without touching the cache.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use cache_core::{Cache, CacheBackend, Expiry, ImmediateReads};
use support::{fetch, header, req, Counter};
use tower_cache_page::CachePageLayer;

/// The backend calls under way, and the most ever under way at once.
#[derive(Default)]
struct Calls {
    in_flight: AtomicUsize,
    most: AtomicUsize,
    started: AtomicUsize,
}

impl Calls {
    fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        self.started.fetch_add(1, Ordering::SeqCst);
        InFlight(self)
    }

    /// Starts counting afresh (with nothing in flight).
    fn reset(&self) {
        self.most.store(0, Ordering::SeqCst);
        self.started.store(0, Ordering::SeqCst);
    }
}

/// One call under way; dropped when it returns or is abandoned (a timeout drops its future).
struct InFlight<'a>(&'a Calls);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Wraps a backend: counts its calls, and hangs every call for ever while `hang` is set.
struct Switchable<B> {
    inner: B,
    hang: Arc<AtomicBool>,
    calls: Arc<Calls>,
}

impl<B> Switchable<B> {
    async fn call<T>(&self, op: impl std::future::Future<Output = T>) -> T {
        let _in_flight = self.calls.enter();
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        op.await
    }
}

#[async_trait]
impl<B: CacheBackend> CacheBackend for Switchable<B> {
    fn name(&self) -> &'static str {
        "switchable"
    }

    async fn get(&self, key: &str) -> cache_core::Result<Option<Bytes>> {
        self.call(self.inner.get(key)).await
    }

    fn immediate(&self) -> Option<&dyn ImmediateReads> {
        Some(self)
    }

    async fn set(&self, key: &str, value: Bytes, expiry: Expiry) -> cache_core::Result<()> {
        self.call(self.inner.set(key, value, expiry)).await
    }

    async fn add(&self, key: &str, value: Bytes, expiry: Expiry) -> cache_core::Result<bool> {
        self.call(self.inner.add(key, value, expiry)).await
    }

    async fn delete(&self, key: &str) -> cache_core::Result<bool> {
        self.call(self.inner.delete(key)).await
    }

    async fn touch(&self, key: &str, expiry: Expiry) -> cache_core::Result<bool> {
        self.call(self.inner.touch(key, expiry)).await
    }

    async fn incr(&self, key: &str, delta: i64) -> cache_core::Result<i64> {
        self.call(self.inner.incr(key, delta)).await
    }

    async fn has_key(&self, key: &str) -> cache_core::Result<bool> {
        self.call(self.inner.has_key(key)).await
    }

    async fn clear(&self) -> cache_core::Result<()> {
        self.call(self.inner.clear()).await
    }
}

/// Answers at once when the inner backend can and nothing hangs, so the layer's synchronous hit path is
/// used too; while hanging, only the (hanging) `get` is offered.
impl<B: CacheBackend> ImmediateReads for Switchable<B> {
    fn get_now(&self, key: &str) -> Option<cache_core::Result<Option<Bytes>>> {
        if self.hang.load(Ordering::SeqCst) {
            return None;
        }
        let _in_flight = self.calls.enter();
        self.inner.immediate()?.get_now(key)
    }
}

/// The layer's cooldown after a backend failure.
const COOLDOWN: Duration = Duration::from_secs(1);

fn app(counter: &Counter, layer: CachePageLayer) -> Router {
    let c = counter.clone();
    Router::new()
        .route(
            "/{*path}",
            get(move || async move { format!("served {}", c.hit()) }),
        )
        .layer(layer)
}

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
