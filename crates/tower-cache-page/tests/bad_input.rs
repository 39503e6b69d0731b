//! Bad input and bad backends: absurd headers, huge URLs, non-UTF-8 bytes, a backend that errors, one that
//! hangs, one that returns garbage. The request is always served by the handler (fail open), the failure
//! is logged, and nothing panics.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::Router;
use bytes::Bytes;
use cache_core::{Cache, CacheBackend, Error, Expiry};
use support::{fetch, header, memory_cache, req, responds, served_app as app, Counter, Switchable};

use tower_cache_page::CachePageLayer;

/// What a failure-injection backend does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Every operation fails with a backend error.
    Error,
    /// Every operation hangs for a minute.
    Hang,
    /// Reads return bytes that are not an entry; writes succeed.
    Garbage,
}

/// A test double standing in for a broken server (the page tests on real servers are in `page.rs`).
struct FaultyBackend {
    fault: Fault,
    /// While false, behaves as an empty cache that stores nothing.
    broken: Arc<AtomicBool>,
}

impl FaultyBackend {
    fn new(fault: Fault) -> (Self, Arc<AtomicBool>) {
        let broken = Arc::new(AtomicBool::new(true));
        (
            FaultyBackend {
                fault,
                broken: Arc::clone(&broken),
            },
            broken,
        )
    }

    async fn fail<T>(&self, ok: T) -> cache_core::Result<T> {
        if !self.broken.load(Ordering::SeqCst) {
            return Ok(ok);
        }
        match self.fault {
            Fault::Error => Err(Error::backend("faulty", "connection refused")),
            Fault::Hang => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(ok)
            }
            Fault::Garbage => Ok(ok),
        }
    }
}

#[async_trait]
impl CacheBackend for FaultyBackend {
    fn name(&self) -> &'static str {
        "faulty"
    }

    async fn get(&self, _key: &str) -> cache_core::Result<Option<Bytes>> {
        let garbage = (self.fault == Fault::Garbage && self.broken.load(Ordering::SeqCst))
            .then(|| Bytes::from_static(b"TCH\x01\xff\xff"));
        self.fail(garbage).await
    }

    async fn set(&self, _key: &str, _value: Bytes, _expiry: Expiry) -> cache_core::Result<()> {
        self.fail(()).await
    }

    async fn add(&self, _key: &str, _value: Bytes, _expiry: Expiry) -> cache_core::Result<bool> {
        self.fail(true).await
    }

    async fn delete(&self, _key: &str) -> cache_core::Result<bool> {
        self.fail(false).await
    }

    async fn touch(&self, _key: &str, _expiry: Expiry) -> cache_core::Result<bool> {
        self.fail(false).await
    }

    async fn incr(&self, key: &str, _delta: i64) -> cache_core::Result<i64> {
        self.fail(()).await?;
        Err(Error::KeyNotFound {
            key: key.to_owned(),
        })
    }

    async fn has_key(&self, _key: &str) -> cache_core::Result<bool> {
        self.fail(false).await
    }

    async fn clear(&self) -> cache_core::Result<()> {
        self.fail(()).await
    }
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("tower_cache_page=debug")
        .with_test_writer()
        .try_init();
}

#[tokio::test]
async fn an_erroring_backend_fails_open() {
    init_tracing();
    let (backend, broken) = FaultyBackend::new(Fault::Error);
    let counter = Counter::default();
    let app = app(
        &counter,
        CachePageLayer::new(Cache::new(backend))
            .cache_status("t")
            .expect("a valid cache status name"),
    );
    for n in 1..=3 {
        let (response, body) = fetch(&app, req("/page")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body, format!("served {n}"));
        assert_eq!(
            header(&response, "cache-status"),
            "t; fwd=miss; detail=backend-error"
        );
    }
    // Back up: after the cooldown the cache is used again (this double stores nothing, so: a miss).
    broken.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (response, _) = fetch(&app, req("/page")).await;
    assert_eq!(header(&response, "cache-status"), "t; fwd=uri-miss; stored");
}

#[tokio::test]
async fn a_hanging_backend_times_out_and_fails_open() {
    init_tracing();
    let (backend, _broken) = FaultyBackend::new(Fault::Hang);
    let counter = Counter::default();
    let layer =
        CachePageLayer::new(Cache::new(backend)).backend_timeout(Some(Duration::from_millis(100)));
    let app = app(&counter, layer);
    let started = Instant::now();
    let (response, body) = fetch(&app, req("/page")).await;
    assert_eq!(
        (response.status(), body.as_ref()),
        (StatusCode::OK, &b"served 1"[..])
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    // While cooling down, requests skip the cache entirely: no further waiting.
    let started = Instant::now();
    for _ in 0..5 {
        fetch(&app, req("/page")).await;
    }
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(counter.get(), 6);
}

#[tokio::test]
async fn garbage_entries_are_misses() {
    init_tracing();
    let (backend, _broken) = FaultyBackend::new(Fault::Garbage);
    let counter = Counter::default();
    let app = app(&counter, CachePageLayer::new(Cache::new(backend)));
    for n in 1..=2 {
        let (response, body) = fetch(&app, req("/page")).await;
        assert_eq!(
            (response.status(), body),
            (StatusCode::OK, Bytes::from(format!("served {n}")))
        );
    }
}

#[tokio::test]
async fn a_corrupt_page_entry_is_a_miss_and_is_replaced() {
    init_tracing();
    let corrupt = Arc::new(AtomicBool::new(false));
    let backend = Switchable {
        inner: cache_core::backends::MemoryBackend::new(),
        hang: Arc::default(),
        corrupt: Arc::clone(&corrupt),
        calls: Arc::default(),
    };
    let counter = Counter::default();
    let app = app(&counter, CachePageLayer::new(Cache::new(backend)));
    assert_eq!(fetch(&app, req("/page")).await.1, "served 1");
    assert_eq!(fetch(&app, req("/page")).await.1, "served 1");
    corrupt.store(true, Ordering::SeqCst);
    let (response, body) = fetch(&app, req("/page")).await;
    assert_eq!(
        (response.status(), body.as_ref()),
        (StatusCode::OK, &b"served 2"[..])
    );
    corrupt.store(false, Ordering::SeqCst);
    assert_eq!(
        fetch(&app, req("/page")).await.1,
        "served 2",
        "the corrupt entry was replaced"
    );
}

#[tokio::test]
async fn absurd_headers_and_huge_urls_are_served() {
    init_tracing();
    let Some(cache) = memory_cache("absurd") else {
        return;
    };
    let counter = Counter::default();
    // Echo the absurd request headers back as response headers.
    let echo = |n, headers: HeaderMap| {
        let mut response_headers = HeaderMap::new();
        for name in ["vary", "cache-control", "expires"] {
            if let Some(value) = headers.get(format!("x-echo-{name}")) {
                response_headers.insert(name, value.clone());
            }
        }
        (response_headers, format!("served {n}"))
    };
    let app = Router::new()
        .route("/{*path}", responds(&counter, echo))
        .layer(CachePageLayer::new(cache));

    let huge_query = "q=".to_owned() + &"a".repeat(60_000);
    let (response, _) = fetch(&app, req(&format!("/x?{huge_query}"))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, body) = fetch(&app, req(&format!("/x?{huge_query}"))).await;
    assert_eq!(body, "served 1", "a huge URL is still cacheable");

    let many_names: Vec<String> = (0..2_000).map(|i| format!("X-H{i}")).collect();
    let non_utf8 =
        HeaderValue::from_bytes(b"caf\xe9, \xff\xfe").unwrap_or(HeaderValue::from_static("x"));
    let cases: Vec<(&str, HeaderValue)> = vec![
        (
            "x-echo-vary",
            HeaderValue::from_str(&many_names.join(", ")).unwrap_or(HeaderValue::from_static("x")),
        ),
        ("x-echo-vary", non_utf8.clone()),
        ("x-echo-vary", HeaderValue::from_static(",,,, , ,")),
        (
            "x-echo-vary",
            HeaderValue::from_static("not a header name, \"quoted\""),
        ),
        ("x-echo-cache-control", non_utf8.clone()),
        (
            "x-echo-cache-control",
            HeaderValue::from_static("max-age=99999999999999999999999"),
        ),
        (
            "x-echo-cache-control",
            HeaderValue::from_static("max-age=-5"),
        ),
        (
            "x-echo-cache-control",
            HeaderValue::from_static("max-age=18446744073709551615"),
        ),
        (
            "x-echo-cache-control",
            HeaderValue::from_static("=,=,max-age,max-age="),
        ),
        (
            "x-echo-expires",
            HeaderValue::from_static("the day after tomorrow"),
        ),
        ("accept-language", non_utf8.clone()),
        ("host", non_utf8),
        ("authorization", HeaderValue::from_static("")),
    ];
    for (i, (name, value)) in cases.into_iter().enumerate() {
        for _ in 0..2 {
            let request = req(&format!("/case/{i}")).header(name, value.clone());
            let (response, body) = fetch(&app, request).await;
            assert_eq!(response.status(), StatusCode::OK, "case {i} ({name})");
            assert!(body.starts_with(b"served "), "case {i}");
        }
    }
    // Many request headers of one name.
    let mut request = req("/many");
    for i in 0..500 {
        request = request.header("accept-language", format!("l{i}"));
    }
    assert_eq!(fetch(&app, request).await.0.status(), StatusCode::OK);
}
