//! `stale_if_error` when the inner service fails outright (a tower `Err`, not a 500 response): the stale
//! page is served in its place; without a stale page, the error reaches the caller.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use cache_core::backends::MemoryBackend;
use cache_core::Cache;
use http::{Request, Response};
use http_body_util::BodyExt;
use tower::{Layer, ServiceExt};
use tower_cache_page::CachePageLayer;

#[tokio::test]
async fn a_stale_page_stands_in_for_an_inner_error() {
    let failing = Arc::new(AtomicBool::new(false));
    let fails = Arc::clone(&failing);
    let inner = tower::service_fn(move |_request: Request<Body>| {
        let failed = fails.load(Ordering::SeqCst);
        async move {
            if failed {
                Err::<Response<Body>, &'static str>("the database is down")
            } else {
                Ok(Response::new(Body::from("the page")))
            }
        }
    });
    let service = CachePageLayer::new(Cache::new(MemoryBackend::new()))
        .timeout(Duration::from_secs(1))
        .stale_if_error(Duration::from_secs(600))
        .cache_status("t")
        .expect("a header-safe name")
        .layer(inner);
    let ask = |path: &'static str| {
        let service = service.clone();
        async move {
            let request = Request::get(path)
                .header("host", "testserver")
                .body(Body::empty())
                .expect("a request");
            service.oneshot(request).await
        }
    };
    let first = ask("/page").await.expect("served");
    assert_eq!(first.headers()["cache-status"], "t; fwd=uri-miss; stored");
    failing.store(true, Ordering::SeqCst);
    // A URL never stored has nothing to fall back on: the error goes through.
    assert_eq!(ask("/other").await.err(), Some("the database is down"));

    // Hits while fresh; once stale, the inner service is asked, fails, and the stale page answers.
    let started = Instant::now();
    let stale = loop {
        let response = ask("/page")
            .await
            .expect("never the error while a stale page is kept");
        let status = response.headers()["cache-status"]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        if status.contains("stale-if-error") {
            break response;
        }
        assert_eq!(status, "t; hit");
        assert!(started.elapsed() < Duration::from_secs(30), "never stale");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let status = stale.headers()["cache-status"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(status.starts_with("t; fwd=miss; ttl=-"), "{status}");
    assert!(!status.contains("fwd-status"), "{status}");
    let body = stale.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(&body[..], b"the page");
}
