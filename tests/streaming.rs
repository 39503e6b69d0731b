//! Streaming through the whole stack: the page cache (on the router or on each route), sessions, hooks
//! and conditional GET stacked on one `Router` in every order, serving endless server-sent-event streams
//! to a client over a real socket.
//!
//! In every order: the response head and the first event reach the client while the stream stays open
//! (each wait is bounded, so a stream held back fails the test instead of hanging it); a second request
//! runs the handler again (a stream is never stored); a handler that reads the session, or writes it,
//! and then streams still gets its first event out at once, and the write is saved. A fixed page next to
//! the streams is stored, so the page cache is really in the path.

mod web;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::sse::{Event, Sse};
use axum::response::IntoResponse;
use axum::routing::{get, MethodRouter};
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use tower_django::cache::backends::MemoryBackend;
use tower_django::cache::Cache;
use tower_django::hooks::HooksLayer;
use tower_django::page::{CachePageLayer, ConditionalGetLayer};
use tower_django::sessions::store::CacheStore;
use tower_django::sessions::{Session, SessionError, SessionLayer};

use web::{Browser, Server, Stamp};

/// How long the client waits for a response head, and then for an event: far beyond what a stream that
/// is passed through needs, and short enough that a stream held back fails the test in reasonable time.
const WAIT: Duration = Duration::from_secs(10);

/// A layer of the stack.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layer {
    Page,
    Sessions,
    Hooks,
    Conditional,
}

/// Where the layers go: on the router, innermost first (`Router::layer` in this order), and whether the
/// page cache is on each route instead.
#[derive(Debug, Clone)]
struct Setup {
    router: Vec<Layer>,
    page_on_route: bool,
}

/// Every order of the four layers on the router, and every order of the other three on the router with
/// the page cache on each route: 30 stacks.
fn setups() -> Vec<Setup> {
    let all = [
        Layer::Page,
        Layer::Sessions,
        Layer::Hooks,
        Layer::Conditional,
    ];
    let on_router = permutations(&all).into_iter().map(|router| Setup {
        router,
        page_on_route: false,
    });
    let on_route = permutations(&all[1..]).into_iter().map(|router| Setup {
        router,
        page_on_route: true,
    });
    on_router.chain(on_route).collect()
}

fn permutations(layers: &[Layer]) -> Vec<Vec<Layer>> {
    if layers.len() <= 1 {
        return vec![layers.to_vec()];
    }
    let mut all = Vec::new();
    for (i, &first) in layers.iter().enumerate() {
        let mut rest = layers.to_vec();
        rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first);
            all.push(tail);
        }
    }
    all
}

/// How many times each handler ran.
#[derive(Default)]
struct Runs {
    events: AtomicUsize,
    sse: AtomicUsize,
    session_events: AtomicUsize,
    session_writes: AtomicUsize,
    fixed: AtomicUsize,
}

/// One event, then the stream stays open for ever; written by hand, so without axum's
/// `Cache-Control: no-cache`: only its unknown length keeps the page cache from storing it.
fn endless(first: &str) -> axum::response::Response {
    let event = Bytes::from(format!("data: {first}\n\n"));
    let events = futures_util::stream::iter([Ok::<_, Infallible>(event)])
        .chain(futures_util::stream::pending());
    (
        [(http::header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(events),
    )
        .into_response()
}

/// axum's own `Sse` response (which says `Cache-Control: no-cache`): one event, then open for ever.
fn endless_sse() -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let events = futures_util::stream::iter([Ok(Event::default().data("first"))])
        .chain(futures_util::stream::pending());
    Sse::new(events)
}

/// Reads the session's counter and streams it.
async fn read_then_stream(session: Session) -> Result<axum::response::Response, SessionError> {
    let count: u64 = session.get("count").await?.unwrap_or(0);
    Ok(endless(&format!("count={count}")))
}

/// Increments the session's counter and streams it.
async fn write_then_stream(session: Session) -> Result<axum::response::Response, SessionError> {
    let count: u64 = session.get("count").await?.unwrap_or(0) + 1;
    session.insert("count", &count).await?;
    Ok(endless(&format!("count={count}")))
}

async fn counter(session: Session) -> Result<String, SessionError> {
    let count: u64 = session.get("count").await?.unwrap_or(0) + 1;
    session.insert("count", &count).await?;
    Ok(format!("count={count}"))
}

fn app(setup: &Setup, runs: &Arc<Runs>) -> Router {
    let page = CachePageLayer::new(Cache::new(MemoryBackend::new()))
        .timeout(Duration::from_secs(300))
        .cache_status("test")
        .expect("a valid cache status name");
    let route = |method_router: MethodRouter| {
        if setup.page_on_route {
            method_router.layer(page.clone())
        } else {
            method_router
        }
    };
    let events = {
        let runs = Arc::clone(runs);
        move || async move {
            runs.events.fetch_add(1, Ordering::SeqCst);
            endless("first")
        }
    };
    let sse = {
        let runs = Arc::clone(runs);
        move || async move {
            runs.sse.fetch_add(1, Ordering::SeqCst);
            endless_sse()
        }
    };
    let session_events = {
        let runs = Arc::clone(runs);
        move |session: Session| async move {
            runs.session_events.fetch_add(1, Ordering::SeqCst);
            read_then_stream(session).await
        }
    };
    let session_write_events = {
        let runs = Arc::clone(runs);
        move |session: Session| async move {
            runs.session_writes.fetch_add(1, Ordering::SeqCst);
            write_then_stream(session).await
        }
    };
    let fixed = {
        let runs = Arc::clone(runs);
        move || async move { format!("fixed {}", runs.fixed.fetch_add(1, Ordering::SeqCst) + 1) }
    };
    let mut router = Router::new()
        .route("/events", route(get(events)))
        .route("/sse", route(get(sse)))
        .route("/session-events", route(get(session_events)))
        .route("/session-write-events", route(get(session_write_events)))
        .route("/counter", route(get(counter)))
        .route("/fixed", route(get(fixed)));
    let store = CacheStore::new(Cache::new(MemoryBackend::new()));
    let sessions = SessionLayer::new(store);
    for layer in &setup.router {
        router = match layer {
            Layer::Page => router.layer(page.clone()),
            Layer::Sessions => router.layer(sessions.clone()),
            Layer::Hooks => router.layer(HooksLayer::new().push(Stamp)),
            Layer::Conditional => router.layer(ConditionalGetLayer::new()),
        };
    }
    router
}

/// The app of `setup` served (until the [`Server`] is dropped), the count of its handlers' runs, and a
/// browser pointed at it.
async fn serve(setup: &Setup) -> (Arc<Runs>, Server, Browser) {
    let runs = Arc::new(Runs::default());
    let server = Server::start(app(setup, &runs)).await;
    let browser = Browser::new(server.base());
    (runs, server, browser)
}

/// Requests `path` and waits (boundedly) for the head and then for `event`; returns the head and the
/// still open body.
async fn first_event(
    browser: &mut Browser,
    path: &str,
    event: &str,
    setup: &Setup,
) -> (http::response::Parts, hyper::body::Incoming) {
    let response = match browser.try_request(http::Method::GET, path, WAIT).await {
        Ok(response) => response,
        Err(error) => panic!("{setup:?}: no response head: {error}"),
    };
    let (head, mut body) = response.into_parts();
    let wanted = format!("data: {event}\n\n");
    let mut seen = Vec::new();
    let arrived = tokio::time::timeout(WAIT, async {
        while !seen.windows(wanted.len()).any(|w| w == wanted.as_bytes()) {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        seen.extend_from_slice(&data);
                    }
                }
                Some(Err(_)) | None => return false,
            }
        }
        true
    })
    .await;
    assert!(
        matches!(arrived, Ok(true)),
        "{setup:?}: no {wanted:?} from {path} within {WAIT:?}; got {:?}",
        String::from_utf8_lossy(&seen)
    );
    (head, body)
}

/// What every streamed response carries, whatever the order: the event-stream type, the hooks' mark, and
/// the page cache's word that it passed the stream through (`detail` says why, when it is the one reason).
fn check_stream_head(
    head: &http::response::Parts,
    path: &str,
    detail: Option<&str>,
    setup: &Setup,
) {
    let header = |name: &str| head.headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(head.status, 200, "{setup:?}: {path}");
    assert_eq!(
        header("content-type"),
        Some("text/event-stream"),
        "{setup:?}: {path}"
    );
    assert_eq!(header("x-hooked"), Some("1"), "{setup:?}: {path}");
    assert!(
        header("cache-status").is_some_and(|s| s.contains("fwd=")
            && detail.is_none_or(|detail| s.ends_with(&format!("detail={detail}")))),
        "{setup:?}: {path}: Cache-Status {:?}",
        header("cache-status")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_event_streams_pass_through_every_stack_and_are_never_stored() {
    for setup in setups() {
        let (runs, _server, mut browser) = serve(&setup).await;
        let (head, first) = first_event(&mut browser, "/events", "first", &setup).await;
        check_stream_head(&head, "/events", Some("streaming"), &setup);
        assert_eq!(runs.events.load(Ordering::SeqCst), 1, "{setup:?}");
        // While the first stream is still open, and after it is closed: the handler runs each time.
        let (_, second) = first_event(&mut browser, "/events", "first", &setup).await;
        assert_eq!(
            runs.events.load(Ordering::SeqCst),
            2,
            "{setup:?}: the stream was stored"
        );
        drop((first, second));
        let _third = first_event(&mut browser, "/events", "first", &setup).await;
        assert_eq!(
            runs.events.load(Ordering::SeqCst),
            3,
            "{setup:?}: the stream was stored"
        );
        // axum's `Sse` alike (not stored because it says `no-cache`).
        for round in 1..=2 {
            let (head, _open) = first_event(&mut browser, "/sse", "first", &setup).await;
            check_stream_head(&head, "/sse", Some("no-cache"), &setup);
            assert_eq!(runs.sse.load(Ordering::SeqCst), round, "{setup:?}");
        }
        // The page cache is in the path: a fixed page is stored.
        for _ in 0..2 {
            let (status, body) = browser.get("/fixed").await;
            assert_eq!((status, body.as_str()), (200, "fixed 1"), "{setup:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_uses_the_session_then_streams_sends_its_first_event_at_once() {
    for setup in setups() {
        let (runs, _server, mut browser) = serve(&setup).await;
        let (status, body) = browser.get("/counter").await;
        assert_eq!((status, body.as_str()), (200, "count=1"), "{setup:?}");
        assert!(browser.cookie("sessionid").is_some(), "{setup:?}");
        for round in 1..=2 {
            let (head, _open) =
                first_event(&mut browser, "/session-events", "count=1", &setup).await;
            check_stream_head(&head, "/session-events", Some("streaming"), &setup);
            assert_eq!(
                runs.session_events.load(Ordering::SeqCst),
                round,
                "{setup:?}: the session's stream was stored"
            );
        }
        // A write before the stream is saved before the stream's first event is out (the page cache may
        // name the write as its reason not to store, rather than the stream).
        for count in 2..=3 {
            let event = format!("count={count}");
            let (head, _open) =
                first_event(&mut browser, "/session-write-events", &event, &setup).await;
            check_stream_head(&head, "/session-write-events", None, &setup);
            assert_eq!(
                runs.session_writes.load(Ordering::SeqCst),
                count as usize - 1,
                "{setup:?}: the session's stream was stored"
            );
        }
        let (status, body) = browser.get("/counter").await;
        assert_eq!(
            (status, body.as_str()),
            (200, "count=4"),
            "{setup:?}: a write before a stream was lost"
        );
    }
}
