//! `stale_if_error` the way users meet it: a page cached by the umbrella crate's `CachePageLayer` over a
//! real socket, past its freshness, is served stale when the handler starts answering 500 — marked in
//! `Cache-Status` — and the 500 goes through once the window is over. A handler that recovers is cached
//! again.

mod web;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use tower_django::cache::backends::MemoryBackend;
use tower_django::cache::Cache;
use tower_django::page::CachePageLayer;
use web::{Browser, Server};

/// What one request got.
struct Answer {
    status: u16,
    cache_status: String,
    body: String,
}

async fn get_page(browser: &mut Browser) -> Answer {
    let response = browser
        .try_send(axum::http::Method::GET, "/page", Duration::from_secs(30))
        .await
        .expect("an answer");
    let (status, headers, body) = response;
    Answer {
        status,
        cache_status: headers
            .get("cache-status")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Asks until `done` says the answer is the one waited for (time passing makes the page stale; how fast
/// depends on the machine), at most `limit`.
async fn until(browser: &mut Browser, limit: Duration, done: impl Fn(&Answer) -> bool) -> Answer {
    let started = Instant::now();
    loop {
        let answer = get_page(browser).await;
        if done(&answer) {
            return answer;
        }
        assert!(
            started.elapsed() < limit,
            "still {} {:?} after {limit:?}",
            answer.status,
            answer.cache_status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_page_stands_in_for_a_500_within_the_window() {
    let failing = Arc::new(AtomicBool::new(false));
    let renders = Arc::new(AtomicUsize::new(0));
    let (fails, counted) = (Arc::clone(&failing), Arc::clone(&renders));
    let app = Router::new()
        .route(
            "/page",
            get(move || {
                let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
                let failed = fails.load(Ordering::SeqCst);
                async move {
                    if failed {
                        (StatusCode::INTERNAL_SERVER_ERROR, format!("error {n}"))
                    } else {
                        (StatusCode::OK, format!("render {n}"))
                    }
                }
            }),
        )
        .layer(
            CachePageLayer::new(Cache::new(MemoryBackend::new()))
                .timeout(Duration::from_secs(1))
                .stale_if_error(Duration::from_secs(2))
                .cache_status("t")
                .expect("a header-safe name"),
        );
    let server = Server::start(app).await;
    let mut browser = Browser::new(server.base());

    let first = get_page(&mut browser).await;
    assert_eq!((first.status, first.body.as_str()), (200, "render 1"));
    assert_eq!(first.cache_status, "t; fwd=uri-miss; stored");
    failing.store(true, Ordering::SeqCst);

    // Fresh: hits. Past freshness, the handler is asked, answers 500, and the stale page is served.
    let stale = until(&mut browser, Duration::from_secs(30), |a| {
        a.cache_status.contains("stale-if-error")
    })
    .await;
    assert_eq!((stale.status, stale.body.as_str()), (200, "render 1"));
    assert!(
        stale
            .cache_status
            .starts_with("t; fwd=miss; fwd-status=500; ttl=-"),
        "{}",
        stale.cache_status
    );
    assert!(renders.load(Ordering::SeqCst) >= 2, "the handler was asked");

    // Past the window the failure goes through.
    let through = until(&mut browser, Duration::from_secs(60), |a| a.status == 500).await;
    assert!(through.body.starts_with("error"), "{}", through.body);

    // The handler recovers: stored and served again.
    failing.store(false, Ordering::SeqCst);
    let back = until(&mut browser, Duration::from_secs(30), |a| {
        a.status == 200 && a.cache_status.ends_with("stored")
    })
    .await;
    assert!(back.body.starts_with("render"));
    let hit = get_page(&mut browser).await;
    assert_eq!((hit.cache_status.as_str(), hit.body), ("t; hit", back.body));
}
