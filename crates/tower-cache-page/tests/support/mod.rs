//! Shared test helpers: cache factories per backend, request helpers, counting handlers.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use cache_core::testing::unique_prefix;
use cache_core::{Cache, CacheBackend, Expiry, ImmediateReads};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_cache_page::CachePageLayer;

/// A fresh memory cache, private to the test.
pub fn memory_cache(name: &str) -> Option<Cache> {
    let backend = cache_core::backends::MemoryBackend::builder()
        .max_entries(10_000)
        .build()
        .ok()?;
    Some(
        Cache::builder(backend)
            .key_prefix(unique_prefix(name))
            .build(),
    )
}

/// A cache on the Redis server of `TEST_REDIS_URL`, namespaced to the test (skips when unset).
#[cfg(feature = "redis")]
pub fn redis_cache(name: &str) -> Option<Cache> {
    redis_cache_with(name, 0)
}

/// A cache on `TEST_REDIS_URL` with the backend's client-side cache on.
#[cfg(feature = "redis")]
pub fn redis_client_cached_cache(name: &str) -> Option<Cache> {
    redis_cache_with(name, 1_000)
}

/// A cache on `TEST_REDIS_URL` under a namespace of its own; `client_side_cache` entries (0: off).
#[cfg(feature = "redis")]
fn redis_cache_with(name: &str, client_side_cache: usize) -> Option<Cache> {
    let url =
        cache_core::testing::server_url("TEST_REDIS_URL", &format!("the Redis page test {name}"))?;
    let prefix = unique_prefix(name);
    let backend = cache_core::backends::RedisBackend::builder(url)
        .namespace(format!("{prefix}:"))
        .client_side_cache(client_side_cache)
        .build()
        .ok()?;
    Some(Cache::builder(backend).key_prefix(prefix).build())
}

/// Counts handler calls.
#[derive(Clone, Default)]
pub struct Counter(Arc<AtomicUsize>);

impl Counter {
    pub fn hit(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// A handler counting its calls on this counter, answering `{prefix} {n}` for its `n`th call.
    pub fn answers(
        &self,
        prefix: &'static str,
    ) -> impl Fn() -> std::future::Ready<String> + Clone + Send + Sync + 'static {
        let c = self.clone();
        move || std::future::ready(format!("{prefix} {}", c.hit()))
    }
}

/// A GET request builder for `uri` with host `testserver`.
pub fn req(uri: &str) -> axum::http::request::Builder {
    Request::get(uri).header("host", "testserver")
}

/// Sends one request through the app.
pub async fn send(app: &Router, request: axum::http::request::Builder) -> Response<Body> {
    let request = match request.body(Body::empty()) {
        Ok(request) => request,
        Err(error) => panic!("bad test request: {error}"),
    };
    match app.clone().oneshot(request).await {
        Ok(response) => response,
        Err(infallible) => match infallible {},
    }
}

/// Sends a request and reads the whole body.
pub async fn fetch(app: &Router, request: axum::http::request::Builder) -> (Response<()>, Bytes) {
    let response = send(app, request).await;
    let (parts, body) = response.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => panic!("body failed: {error}"),
    };
    (Response::from_parts(parts, ()), bytes)
}

/// A header of a response as a string ("" when absent).
pub fn header<'a, B>(response: &'a Response<B>, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A GET handler counting its calls on `counter`, answering `respond(n, request headers)` for its `n`th.
pub fn responds<F, R>(counter: &Counter, respond: F) -> axum::routing::MethodRouter
where
    F: Fn(usize, axum::http::HeaderMap) -> R + Clone + Send + Sync + 'static,
    R: axum::response::IntoResponse + Send + 'static,
{
    let c = counter.clone();
    get(move |headers: axum::http::HeaderMap| {
        let n = c.hit();
        std::future::ready(respond(n, headers))
    })
}

/// Every path, answered `served {n}` by a handler counting its calls, behind `layer`.
pub fn served_app(counter: &Counter, layer: CachePageLayer) -> Router {
    Router::new()
        .route("/{*path}", get(counter.answers("served")))
        .layer(layer)
}

/// The backend calls under way, and the most ever under way at once.
#[derive(Default)]
pub struct Calls {
    pub in_flight: AtomicUsize,
    pub most: AtomicUsize,
    pub started: AtomicUsize,
}

impl Calls {
    pub fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        self.started.fetch_add(1, Ordering::SeqCst);
        InFlight(self)
    }

    /// Starts counting afresh (with nothing in flight).
    pub fn reset(&self) {
        self.most.store(0, Ordering::SeqCst);
        self.started.store(0, Ordering::SeqCst);
    }
}

/// One call under way; dropped when it returns or is abandoned (a timeout drops its future).
pub struct InFlight<'a>(&'a Calls);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Wraps a backend: counts its calls, hangs every call for ever while `hang` is set, and truncates the
/// page entries it reads while `corrupt` is set.
pub struct Switchable<B> {
    pub inner: B,
    pub hang: Arc<AtomicBool>,
    pub corrupt: Arc<AtomicBool>,
    pub calls: Arc<Calls>,
}

impl<B> Switchable<B> {
    /// What a read returns: the value, truncated while corrupting page entries.
    fn read(&self, key: &str, value: Option<Bytes>) -> Option<Bytes> {
        if self.corrupt.load(Ordering::SeqCst) && key.contains("cache_page.") {
            return value.map(|v| v.slice(..v.len().saturating_sub(1)));
        }
        value
    }

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
        let value = self.call(self.inner.get(key)).await?;
        Ok(self.read(key, value))
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
        let read = self.inner.immediate()?.get_now(key)?;
        Some(read.map(|value| self.read(key, value)))
    }
}
