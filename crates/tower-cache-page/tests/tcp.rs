//! The page cache over a real TCP socket: `axum::serve` on 127.0.0.1 and raw HTTP/1.1 from a client socket,
//! so the headers on the wire (`Content-Length`, `Age`, HEAD bodies, chunked streams) are what hyper sends.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;
use support::{memory_cache, Counter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower_cache_page::{CachePageLayer, ConditionalGetLayer};

/// One raw response: status line, headers (lower-cased names), body bytes.
struct Raw {
    status: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn serve(app: Router) -> SocketAddr {
    let bound = TcpListener::bind("127.0.0.1:0").await;
    let listener = bound.unwrap_or_else(|error| panic!("bind: {error}"));
    let addr = listener.local_addr();
    let addr = addr.unwrap_or_else(|error| panic!("local_addr: {error}"));
    tokio::spawn(std::future::IntoFuture::into_future(axum::serve(
        listener, app,
    )));
    addr
}

/// Sends one request on a fresh connection (`Connection: close`) and reads the whole response.
async fn request(addr: SocketAddr, method: &str, path: &str, extra: &str) -> Raw {
    let mut stream = match TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(error) => panic!("connect: {error}"),
    };
    let head =
        format!("{method} {path} HTTP/1.1\r\nHost: testserver\r\nConnection: close\r\n{extra}\r\n");
    if let Err(error) = stream.write_all(head.as_bytes()).await {
        panic!("write: {error}");
    }
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await;
    assert!(matches!(read, Ok(Ok(_))), "read failed: {read:?}");
    parse(&raw, method == "HEAD")
}

fn parse(raw: &[u8], head: bool) -> Raw {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head_text = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head_text.split("\r\n");
    let status = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = raw.get(split + 4..).unwrap_or_default();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if head {
        rest.to_vec()
    } else if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Raw {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..line_end]).trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        out.extend_from_slice(data.get(start..start + size).unwrap_or_default());
        data = data.get(start + size + 2..).unwrap_or_default();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_pages_over_a_real_socket() {
    let Some(cache) = memory_cache("tcp") else {
        return;
    };
    let counter = Counter::default();
    let c = counter.clone();
    let page = "<p>".to_owned() + &"x".repeat(10_000) + "</p>";
    let big = counter.clone();
    let app = Router::new()
        .route(
            "/page",
            get(move || {
                let page = page.clone();
                c.hit();
                async move { ([("content-type", "text/html")], page) }
            }),
        )
        .route(
            "/stream",
            get(move || async move {
                big.hit();
                let chunks = (0..40).map(|i| {
                    Ok::<_, std::io::Error>(Bytes::from(vec![b'a' + (i % 26) as u8; 64 * 1024]))
                });
                Body::from_stream(futures_util::stream::iter(chunks))
            }),
        )
        .layer(ConditionalGetLayer::new())
        .layer(
            CachePageLayer::new(cache)
                .cache_status("tcp")
                .expect("a valid cache status name"),
        );
    let addr = serve(app).await;

    let first = request(addr, "GET", "/page", "").await;
    assert_eq!(first.status, "HTTP/1.1 200 OK");
    assert_eq!(first.body.len(), 10_007);
    assert_eq!(first.header("content-length"), Some("10007"));
    assert_eq!(
        first.header("cache-status"),
        Some("tcp; fwd=uri-miss; stored")
    );
    let etag = first.header("etag").unwrap_or_default().to_owned();
    assert!(
        etag.starts_with('"'),
        "ETag from the conditional layer: {etag:?}"
    );

    let second = request(addr, "GET", "/page", "").await;
    assert_eq!(second.status, "HTTP/1.1 200 OK");
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("content-length"), Some("10007"));
    assert_eq!(second.header("content-type"), Some("text/html"));
    assert_eq!(second.header("age"), Some("0"));
    assert_eq!(second.header("cache-status"), Some("tcp; hit"));
    assert_eq!(second.header("etag"), Some(etag.as_str()));

    let head = request(addr, "HEAD", "/page", "").await;
    assert_eq!(head.status, "HTTP/1.1 200 OK");
    assert_eq!(head.header("content-length"), Some("10007"));
    assert!(head.body.is_empty(), "HEAD sent a body");

    // The stored page carries its ETag, so a revalidation from a hit is a 304 (conditional layer inside).
    let not_modified = request(addr, "GET", "/page", &format!("If-None-Match: {etag}\r\n")).await;
    assert_eq!(
        not_modified.status, "HTTP/1.1 200 OK",
        "the hit is served by the page cache, outside the conditional layer"
    );
    assert_eq!(counter.get(), 1, "handler ran again");

    for _ in 0..2 {
        let stream = request(addr, "GET", "/stream", "").await;
        assert_eq!(stream.status, "HTTP/1.1 200 OK");
        assert_eq!(stream.body.len(), 40 * 64 * 1024);
        // A body of unknown size is never read for storing, whatever its length.
        assert_eq!(
            stream.header("cache-status"),
            Some("tcp; fwd=uri-miss; detail=streaming")
        );
    }
    assert_eq!(counter.get(), 3, "the stream was stored");
}

/// The first event of an endless event stream, as a handler writes it by hand (no `Cache-Control`).
const FIRST_EVENT: &[u8] = b"data: first\n\n";

/// A response of server-sent events that sends one event and then stays open for ever, counted.
fn endless_events(counter: &Counter) -> axum::routing::MethodRouter {
    let c = counter.clone();
    get(move || async move {
        c.hit();
        let events =
            futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(FIRST_EVENT))])
                .chain(futures_util::stream::pending());
        (
            [("content-type", "text/event-stream")],
            Body::from_stream(events),
        )
    })
}

/// axum's own `Sse` response: one event, then open for ever.
fn endless_sse(counter: &Counter) -> axum::routing::MethodRouter {
    use axum::response::sse::{Event, Sse};
    let c = counter.clone();
    get(move || async move {
        c.hit();
        let events = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(
            Event::default().data("first"),
        )])
        .chain(futures_util::stream::pending());
        Sse::new(events)
    })
}

/// Requests `path` and reads until the first event has arrived (at most 10 s); returns the response head.
async fn first_event(addr: SocketAddr, path: &str) -> Raw {
    let mut stream = match TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(error) => panic!("connect: {error}"),
    };
    let head = format!("GET {path} HTTP/1.1\r\nHost: testserver\r\n\r\n");
    if let Err(error) = stream.write_all(head.as_bytes()).await {
        panic!("write: {error}");
    }
    let mut raw = Vec::new();
    let arrived = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        while !raw.windows(FIRST_EVENT.len()).any(|w| w == FIRST_EVENT) {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
        true
    })
    .await;
    let got = String::from_utf8_lossy(&raw);
    assert_eq!(
        arrived.ok(),
        Some(true),
        "no first event from {path} within 10 s; got {got:?}"
    );
    parse(&raw, true)
}

/// Endless event streams behind the page cache (wrapping the whole router, on every route, on one route)
/// and behind the conditional-GET layer: the first event arrives, and the stream is not stored (its
/// handler runs for every request). Fixed-size pages next to them are still stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_event_streams_pass_through_and_are_not_stored() {
    use tower::Layer;
    for setup in [
        "router service",
        "router layer",
        "route layer",
        "conditional get",
    ] {
        let Some(cache) = memory_cache("tcp-events") else {
            return;
        };
        let layer = CachePageLayer::new(cache)
            .cache_status("tcp")
            .expect("a valid cache status name");
        let (events, sse, fixed) = (Counter::default(), Counter::default(), Counter::default());
        let f = fixed.clone();
        let page = get(move || async move { format!("fixed {}", f.hit()) });
        let app = match setup {
            "router service" => {
                let routes = Router::new()
                    .route("/events", endless_events(&events))
                    .route("/sse", endless_sse(&sse))
                    .route("/fixed", page);
                Router::new().fallback_service(layer.layer(routes))
            }
            "router layer" => Router::new()
                .route("/events", endless_events(&events))
                .route("/sse", endless_sse(&sse))
                .route("/fixed", page)
                .layer(layer),
            "route layer" => Router::new()
                .route("/events", endless_events(&events).layer(layer.clone()))
                .route("/sse", endless_sse(&sse).layer(layer.clone()))
                .route("/fixed", page.layer(layer)),
            _ => Router::new()
                .route("/events", endless_events(&events))
                .route("/sse", endless_sse(&sse))
                .route("/fixed", page)
                .layer(ConditionalGetLayer::new()),
        };
        let addr = serve(app).await;
        for round in 1..=2 {
            let response = first_event(addr, "/events").await;
            assert_eq!(response.status, "HTTP/1.1 200 OK", "{setup}");
            if setup != "conditional get" {
                assert_eq!(
                    response.header("cache-status"),
                    Some("tcp; fwd=uri-miss; detail=streaming"),
                    "{setup}"
                );
            }
            assert_eq!(events.get(), round, "{setup}: the event stream was stored");
            first_event(addr, "/sse").await;
            assert_eq!(sse.get(), round, "{setup}: the axum Sse stream was stored");
        }
        // Stored by the page cache (the conditional-GET layer stores nothing, but it still answers).
        let stored = setup != "conditional get";
        for round in 1..=2 {
            let response = request(addr, "GET", "/fixed", "").await;
            let n = if stored { 1 } else { round };
            assert_eq!(response.body, format!("fixed {n}").as_bytes(), "{setup}");
        }
    }
}
