//! Shared test helpers: cache factories per backend, request helpers, counting handlers.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response};
use axum::Router;
use bytes::Bytes;
use cache_core::testing::unique_prefix;
use cache_core::Cache;
use http_body_util::BodyExt;
use tower::ServiceExt;

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
