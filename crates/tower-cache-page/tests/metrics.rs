//! What the page cache reports through the `metrics` facade: each request counted once by its result,
//! stores and the reasons for not storing, backend time and errors, purges — read back from a recorder
//! installed for this test binary (metrics-util's debugging recorder), as an application's Prometheus
//! exporter would see them.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::Method;
use axum::routing::get;
use axum::Router;
use cache_core::backends::MemoryBackend;
use cache_core::Cache;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;
use support::{fetch, req, Calls, Counter, Switchable};
use tower_cache_page::{CachePageLayer, PageInvalidator};

/// The recorder of this test binary, installed once before any layer is built.
fn snapshotter() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder
            .install()
            .expect("the only recorder of this test binary");
        snapshotter
    })
}

/// Counter values and histogram sample counts of one layer (`cache` label), by name and the other labels
/// (`name{label=value,…}`), read now.
fn observed(cache: &str) -> HashMap<String, u64> {
    let mut seen = HashMap::new();
    for (key, _, _, value) in snapshotter().snapshot().into_vec() {
        let labels = key.key().labels();
        if !labels
            .clone()
            .any(|l| l.key() == "cache" && l.value() == cache)
        {
            continue;
        }
        let mut rest: Vec<String> = labels
            .filter(|l| l.key() != "cache")
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        rest.sort();
        let name = format!("{}{{{}}}", key.key().name(), rest.join(","));
        let number = match (key.kind(), value) {
            (MetricKind::Counter, DebugValue::Counter(n)) => n,
            (MetricKind::Histogram, DebugValue::Histogram(samples)) => samples.len() as u64,
            _ => continue,
        };
        *seen.entry(name).or_default() += number;
    }
    seen
}

fn count(seen: &HashMap<String, u64>, name: &str) -> u64 {
    seen.get(name).copied().unwrap_or(0)
}

#[tokio::test]
async fn each_request_is_counted_once_by_result_with_store_reasons_and_purges() {
    snapshotter();
    let counter = Counter::default();
    let layer = CachePageLayer::new(Cache::new(MemoryBackend::new())).metrics_name("pages");
    let invalidator: PageInvalidator = layer.invalidator();
    let private = counter.clone();
    let app = Router::new()
        .route(
            "/page",
            get(counter.answers("served")).post(|| async { "posted" }),
        )
        .route(
            "/private",
            get(move || {
                private.hit();
                async { ([("cache-control", "private")], "mine") }
            }),
        )
        .layer(layer);

    fetch(&app, req("/page")).await; // nothing learnt yet: uri_miss, stored
    fetch(&app, req("/page")).await; // hit
    fetch(&app, req("/page").method(Method::HEAD)).await; // hit
    fetch(&app, req("/page").method(Method::POST)).await; // method
    fetch(&app, req("/private")).await; // uri_miss, not stored: private
    fetch(&app, req("/private")).await; // the same
    assert!(invalidator
        .invalidate("testserver", "/page")
        .await
        .expect("invalidated"));
    fetch(&app, req("/page")).await; // after the purge nothing is learnt again: uri_miss, stored

    let seen = observed("pages");
    let requests = |result: &str| {
        count(
            &seen,
            &format!("page_cache_requests_total{{result={result}}}"),
        )
    };
    assert_eq!(requests("uri_miss"), 4, "{seen:?}");
    assert_eq!(requests("hit"), 2, "{seen:?}");
    assert_eq!(requests("method"), 1, "{seen:?}");
    assert_eq!(
        requests("miss") + requests("stale") + requests("bypass") + requests("collapsed"),
        0,
        "{seen:?}"
    );
    assert_eq!(
        count(&seen, "page_cache_stores_total{reason=,result=stored}"),
        2,
        "{seen:?}"
    );
    assert_eq!(
        count(
            &seen,
            "page_cache_stores_total{reason=private,result=not_stored}"
        ),
        2,
        "{seen:?}"
    );
    assert_eq!(
        count(&seen, "page_cache_purges_total{kind=url}"),
        1,
        "{seen:?}"
    );
    // The memory backend answers in process: no backend time is recorded for it.
    assert!(!seen
        .keys()
        .any(|k| k.starts_with("page_cache_backend_seconds")));
}

/// A page varying on `Accept`: a second variant is a `miss` (the header list is known); concurrent
/// requests for a page being made wait for it and run the handler once; each request is counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variants_are_misses_and_waiters_are_collapsed() {
    snapshotter();
    let release = Arc::new(tokio::sync::Notify::new());
    let calls = Counter::default();
    let (gate, made) = (Arc::clone(&release), calls.clone());
    let app = Router::new()
        .route("/vary", get(|| async { ([("vary", "Accept")], "varies") }))
        .route(
            "/slow",
            get(move || {
                let (gate, made) = (Arc::clone(&gate), made.clone());
                async move {
                    made.hit();
                    gate.notified().await;
                    "slow"
                }
            }),
        )
        .layer(CachePageLayer::new(Cache::new(MemoryBackend::new())).metrics_name("variants"));
    fetch(&app, req("/vary").header("accept", "text/html")).await; // uri_miss
    fetch(&app, req("/vary").header("accept", "text/plain")).await; // miss
    fetch(&app, req("/vary").header("accept", "text/plain")).await; // hit

    let waiters: Vec<_> = (0..5)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { fetch(&app, req("/slow")).await })
        })
        .collect();
    // Once the first is being made, the others wait for it: let it finish when they all arrived.
    while calls.get() == 0 {
        tokio::task::yield_now().await;
    }
    loop {
        release.notify_waiters();
        let done = waiters.iter().filter(|w| w.is_finished()).count();
        if done == waiters.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for waiter in waiters {
        waiter.await.expect("answered");
    }
    let seen = observed("variants");
    assert_eq!(
        count(&seen, "page_cache_requests_total{result=miss}"),
        1,
        "{seen:?}"
    );
    // /slow was made once; the others waited for it and were answered from it (collapsed), or came after
    // it was stored (hits). Every request is counted once.
    assert_eq!(calls.get(), 1);
    let results: u64 = [
        "hit",
        "stale",
        "miss",
        "uri_miss",
        "collapsed",
        "method",
        "bypass",
    ]
    .iter()
    .map(|result| {
        count(
            &seen,
            &format!("page_cache_requests_total{{result={result}}}"),
        )
    })
    .sum();
    assert_eq!(results, 3 + 5, "{seen:?}");
    assert_eq!(
        count(&seen, "page_cache_requests_total{result=uri_miss}"),
        2,
        "{seen:?}"
    );
}

/// A hung backend: the request that meets it times out (a backend error, timed), and it and the requests
/// during the cooldown are counted as served without the cache.
#[tokio::test]
async fn a_failing_backend_is_counted_as_errors_and_bypasses() {
    snapshotter();
    let hang = Arc::new(AtomicBool::new(true));
    let backend = Switchable {
        inner: MemoryBackend::new(),
        hang: Arc::clone(&hang),
        corrupt: Arc::default(),
        calls: Arc::new(Calls::default()),
    };
    let counter = Counter::default();
    let app = support::served_app(
        &counter,
        CachePageLayer::new(Cache::new(backend))
            .backend_timeout(Some(Duration::from_millis(50)))
            .metrics_name("hung"),
    );
    fetch(&app, req("/a")).await;
    fetch(&app, req("/b")).await;
    hang.store(false, Ordering::SeqCst);
    let seen = observed("hung");
    assert_eq!(counter.get(), 2, "both served by the handler");
    assert_eq!(
        count(&seen, "page_cache_requests_total{result=bypass}"),
        2,
        "{seen:?}"
    );
    assert_eq!(
        count(&seen, "page_cache_backend_errors_total{op=get header list}"),
        1,
        "{seen:?}"
    );
    assert_eq!(
        count(&seen, "page_cache_backend_seconds{op=get header list}"),
        1,
        "{seen:?}"
    );
}
