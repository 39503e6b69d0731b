//! Hostile input through the whole stack, property-based:
//!
//! - `Cookie` headers (arbitrary bytes, non-UTF-8, huge, many cookies, duplicate `sessionid`s, split over
//!   several lines) through a real `SessionLayer` and axum `Router` on the memory-cache, SQLite, file and
//!   signed-cookie stores: never a 5xx, and a key the client chose never becomes or adopts a record (no
//!   session fixation), never reads another session;
//! - `Cache-Control`, `Vary`, `ETag`, `Last-Modified` responses and `Cache-Control`, `If-None-Match`,
//!   `If-Modified-Since`, `If-Match`, `If-Unmodified-Since` requests through `CachePageLayer` and
//!   `ConditionalGetLayer` in either order: never a 5xx; `private`/`no-store`/`no-cache` (any case) and
//!   `Vary: *` responses are never stored; a hit is always the page for the request's own values of the
//!   headers the page varies on;
//! - oversized headers and bodies through the page layer: passed through whole, stored only within the
//!   body limit, replayed exactly.
//!
//! Each property runs `PROPTEST_CASES` cases (proptest's variable), else the count in its config.

mod web;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::header::{COOKIE, VARY};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use cache_core::backends::MemoryBackend;
use cache_core::Cache;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use tower_cache_page::{CachePageLayer, ConditionalGetLayer};
use tower_sessions_kit::store::{CacheStore, DatabaseStore, FileStore, SignedCookieStore};
use tower_sessions_kit::{Key, Session, SessionError, SessionKey, SessionLayer, SessionStore};

use web::oneshot::call;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn fail(error: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(error.to_string())
}

/// Any bytes a header value may hold (visible ASCII, space, tab, obs-text), up to `max` of them.
fn header_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(|bytes| {
        bytes
            .into_iter()
            .map(|b| {
                if (b < 0x20 && b != b'\t') || b == 0x7f {
                    b'~'
                } else {
                    b
                }
            })
            .collect()
    })
}

fn header_value(bytes: &[u8]) -> HeaderValue {
    HeaderValue::from_bytes(bytes).unwrap_or_else(|_| HeaderValue::from_static(""))
}

// ---- Cookie headers through the session layer ---------------------------------------------------------

/// A session cookie value the client may send.
#[derive(Debug, Clone)]
enum Value {
    /// The key of a real session made at the start of the case.
    Legit,
    /// Anything else.
    Text(String),
}

/// One piece of a `Cookie` header line.
#[derive(Debug, Clone)]
enum Piece {
    /// `name=value`, the value possibly quoted or padded.
    Pair {
        name: String,
        value: Value,
        quoted: bool,
    },
    /// Raw bytes, delimiters and all.
    Raw(Vec<u8>),
}

fn session_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => Just(Value::Legit),
        2 => "[a-z0-9]{8,40}".prop_map(Value::Text),
        1 => "[a-z0-9]{0,7}".prop_map(Value::Text),
        1 => "[A-Za-z0-9_./\\-]{1,60}".prop_map(Value::Text),
        1 => "\\PC{0,20}".prop_map(Value::Text),
        1 => Just(Value::Text("../../../../etc/passwd".to_owned())),
    ]
}

fn piece() -> impl Strategy<Value = Piece> {
    let name = prop_oneof![
        4 => Just("sessionid".to_owned()),
        1 => Just(" sessionid ".to_owned()),
        1 => Just("SESSIONID".to_owned()),
        1 => Just("sessionid\"".to_owned()),
        1 => Just("csrftoken".to_owned()),
        1 => "[a-z_]{1,10}",
        1 => Just(String::new()),
    ];
    prop_oneof![
        4 => (name, session_value(), any::<bool>())
            .prop_map(|(name, value, quoted)| Piece::Pair { name, value, quoted }),
        1 => header_bytes(64).prop_map(Piece::Raw),
    ]
}

/// The `Cookie` lines of one request: a few lines of pieces, or raw bytes, or a huge line.
fn cookie_lines() -> impl Strategy<Value = Vec<Vec<Piece>>> {
    let separator_line = proptest::collection::vec(piece(), 0..8);
    prop_oneof![
        6 => proptest::collection::vec(separator_line, 1..4),
        2 => header_bytes(400).prop_map(|raw| vec![vec![Piece::Raw(raw)]]),
        1 => (proptest::collection::vec(piece(), 1..4), 500..3000_usize)
            .prop_map(|(pieces, times)| vec![pieces.iter().cloned().cycle().take(pieces.len() * times).collect()]),
    ]
}

/// One `Cookie` line as bytes, with `legit` for [`Value::Legit`].
fn render(pieces: &[Piece], legit: &str) -> Vec<u8> {
    let mut line = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            line.extend_from_slice(if i % 3 == 0 { b";" } else { b"; " });
        }
        match piece {
            Piece::Pair {
                name,
                value,
                quoted,
            } => {
                let value = match value {
                    Value::Legit => legit,
                    Value::Text(text) => text,
                };
                line.extend_from_slice(name.as_bytes());
                line.push(b'=');
                if *quoted {
                    line.push(b'"');
                }
                line.extend_from_slice(value.as_bytes());
                if *quoted {
                    line.push(b'"');
                }
            }
            Piece::Raw(raw) => line.extend_from_slice(raw),
        }
    }
    line
}

/// Every value that any `name=value` of the lines could be taken for, liberally (trimmed, unquoted).
fn candidates(lines: &[Vec<u8>]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in lines {
        for pair in line.split(|b| *b == b';' || *b == b',') {
            let value = match pair.iter().position(|b| *b == b'=') {
                Some(at) => &pair[at + 1..],
                None => pair,
            };
            let value = value.trim_ascii();
            let value = value
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(value);
            if let Ok(text) = std::str::from_utf8(value) {
                found.insert(text.to_owned());
            }
        }
    }
    found
}

/// The session routes: one per operation.
fn session_routes() -> Router {
    Router::new()
        .route(
            "/read",
            get(|session: Session| async move {
                let user: Option<String> = session.get("user").await?;
                Ok::<_, SessionError>(user.unwrap_or_else(|| "none".to_owned()))
            }),
        )
        .route("/set", web::log_in("legit", "set"))
        .route("/untouched", get(|| async { "untouched" }))
        .route(
            "/flush",
            get(|session: Session| async move {
                session.flush().await?;
                Ok::<_, SessionError>("flushed")
            }),
        )
        .route(
            "/cycle",
            get(|session: Session| async move {
                session.cycle_key().await?;
                Ok::<_, SessionError>("cycled")
            }),
        )
        .route(
            "/clear",
            get(|session: Session| async move {
                session.clear().await;
                "cleared"
            }),
        )
}

const PATHS: [&str; 6] = ["/read", "/set", "/untouched", "/flush", "/cycle", "/clear"];

/// The store of one case; the file store's directory is `outer/sessions`.
async fn session_store(which: usize, outer: &Path) -> Result<Arc<dyn SessionStore>, TestCaseError> {
    Ok(match which {
        0 => Arc::new(CacheStore::new(Cache::new(MemoryBackend::new()))),
        1 => {
            let store = DatabaseStore::connect("sqlite::memory:")
                .await
                .map_err(fail)?;
            store.migrate().await.map_err(fail)?;
            Arc::new(store)
        }
        2 => {
            let dir = outer.join("sessions");
            std::fs::create_dir_all(&dir).map_err(fail)?;
            Arc::new(FileStore::new(dir).map_err(fail)?)
        }
        _ => Arc::new(SignedCookieStore::new(Key::generate())),
    })
}

/// Whether `value` names a record of `store` (server stores) or verifies (signed cookies).
async fn known(store: &dyn SessionStore, value: &str) -> Result<bool, TestCaseError> {
    let Some(key) = SessionKey::from_cookie_value(value) else {
        return Ok(false);
    };
    if !store.accepts_key(value) {
        return Ok(false);
    }
    store.exists(&key).await.map_err(fail)
}

async fn one_cookie_case(
    which: usize,
    save_every_request: bool,
    requests: &[(usize, Vec<Vec<Piece>>)],
) -> Result<(), TestCaseError> {
    let outer = tempfile::tempdir().map_err(fail)?;
    let store = session_store(which, outer.path()).await?;
    let app = session_routes()
        .layer(SessionLayer::from_arc(Arc::clone(&store)).save_every_request(save_every_request));
    let signed = store.name() == "signed_cookie";

    // The real session of the case.
    let login = call(
        &app,
        Request::get("/set").body(Body::empty()).map_err(fail)?,
    )
    .await?;
    let legit = login
        .session_cookie()
        .ok_or_else(|| fail("no session at login"))?;

    for (path_index, lines) in requests {
        let path = PATHS[*path_index % PATHS.len()];
        let lines: Vec<Vec<u8>> = lines.iter().map(|pieces| render(pieces, &legit)).collect();
        let candidates = candidates(&lines);
        let mut before = HashMap::new();
        for candidate in &candidates {
            before.insert(candidate.clone(), known(&*store, candidate).await?);
        }
        let mut request = Request::get(path);
        for line in &lines {
            request = request.header(COOKIE, header_value(line));
        }
        let reply = call(&app, request.body(Body::empty()).map_err(fail)?).await?;
        let shown = || {
            lines
                .iter()
                .map(|l| {
                    String::from_utf8_lossy(l)
                        .chars()
                        .take(300)
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
        };
        prop_assert!(
            !reply.status.is_server_error(),
            "{} {path} with {:?} gave {}",
            store.name(),
            shown(),
            reply.status
        );
        // Reading data is only possible with a real session's key among what was sent.
        if path == "/read" && reply.body.as_ref() != b"none" {
            prop_assert!(
                candidates.iter().any(|c| before.get(c) == Some(&true)),
                "{} read {:?} without a real key: {:?}",
                store.name(),
                reply.body,
                shown()
            );
        }
        if signed {
            continue;
        }
        // No fixation: a key the client sent that named no record still names none, and a cookie set
        // in the response is either fresh or a key that was already real.
        for candidate in &candidates {
            if before.get(candidate) == Some(&false) {
                prop_assert!(
                    !known(&*store, candidate).await?,
                    "{} {path}: a record was created under the client's key {candidate:?}",
                    store.name()
                );
            }
        }
        if let Some(set) = reply.session_cookie().filter(|v| !v.is_empty()) {
            prop_assert!(
                !candidates.contains(&set) || before.get(&set) == Some(&true),
                "{} {path}: adopted the client's key {set:?}",
                store.name()
            );
            prop_assert!(SessionKey::parse(&set).is_some(), "{set:?}");
        }
    }
    if which == 2 {
        // The file store wrote only its own session files, in its directory.
        for entry in std::fs::read_dir(outer.path()).map_err(fail)? {
            prop_assert_eq!(entry.map_err(fail)?.file_name(), "sessions");
        }
        for entry in std::fs::read_dir(outer.path().join("sessions")).map_err(fail)? {
            let name = entry
                .map_err(fail)?
                .file_name()
                .to_string_lossy()
                .into_owned();
            let key = name.strip_prefix("sessionid").unwrap_or("");
            prop_assert!(SessionKey::parse(key).is_some(), "unexpected file {name:?}");
        }
    }
    Ok(())
}

#[test]
fn cookie_headers_through_the_session_layer() {
    let runtime = runtime();
    proptest!(ProptestConfig { cases: 96, ..ProptestConfig::default() }, |(
        which in 0..4_usize,
        save_every_request in any::<bool>(),
        requests in proptest::collection::vec((0..PATHS.len(), cookie_lines()), 1..5),
    )| {
        runtime.block_on(one_cookie_case(which, save_every_request, &requests))?;
    });
}

// ---- caching headers through the page and conditional layers ------------------------------------------

/// A header as sent or answered: a name and raw value bytes.
type Header = (HeaderName, Vec<u8>);

/// What the route answers for one request.
#[derive(Debug, Clone)]
struct Script {
    status: u16,
    headers: Vec<Header>,
}

/// One of the `known` values or, as likely as any one of them, up to `max` bytes of anything.
fn known_or_any(
    known: &'static [&'static [u8]],
    max: usize,
) -> impl Strategy<Value = Vec<u8>> + Clone {
    let weight = u32::try_from(known.len()).unwrap_or(u32::MAX);
    prop_oneof![
        weight => proptest::sample::select(known).prop_map(<[u8]>::to_vec),
        1 => header_bytes(max),
    ]
}

/// Response headers that drive caching, with hostile values: odd case and spacing, junk, non-UTF-8.
fn response_header() -> impl Strategy<Value = Header> {
    let cache_control = known_or_any(
        &[
            b"PRIVATE",
            b"No-Store",
            b"NO-CACHE",
            b"public, MAX-AGE=60",
            b"max-age=-1",
            b"max-age=99999999999999999999",
            b"s-maxage=10, Private=\"x\"",
        ],
        40,
    );
    let vary = known_or_any(
        &[
            b"*",
            b" * , accept-language",
            b"Accept-Language",
            b"  accept-language ,",
            b"X-Custom, ACCEPT-ENCODING",
            b"accept language",
            b",,,",
            b"if-none-match",
        ],
        40,
    );
    let etag = known_or_any(&[b"\"v1\"", b"W/\"v1\"", b"v1"], 40);
    let date = known_or_any(
        &[
            b"Sun, 06 Nov 1994 08:49:37 GMT",
            b"Sunday, 06-Nov-94 08:49:37 GMT",
            b"Thu, 01 Jan 2099 00:00:00 GMT",
        ],
        40,
    );
    prop_oneof![
        3 => cache_control.prop_map(|v| (HeaderName::from_static("cache-control"), v)),
        3 => vary.prop_map(|v| (VARY, v)),
        2 => etag.prop_map(|v| (HeaderName::from_static("etag"), v)),
        1 => date.clone().prop_map(|v| (HeaderName::from_static("last-modified"), v)),
        1 => date.prop_map(|v| (HeaderName::from_static("expires"), v)),
    ]
}

fn script() -> impl Strategy<Value = Script> {
    (
        prop_oneof![6 => Just(200_u16), 1 => Just(304), 1 => Just(404)],
        proptest::collection::vec(response_header(), 0..4),
    )
        .prop_map(|(status, headers)| Script { status, headers })
}

/// Request headers that drive caching and conditional GET, with hostile values.
fn request_header() -> impl Strategy<Value = Header> {
    let name = proptest::sample::select(
        &[
            "cache-control",
            "if-none-match",
            "if-modified-since",
            "if-match",
            "if-unmodified-since",
            "accept-language",
            "accept-encoding",
            "x-custom",
        ][..],
    )
    .prop_map(HeaderName::from_static);
    let value = known_or_any(
        &[
            b"\"v1\"",
            b"W/\"v1\", \"v2\"",
            b"*",
            b"Sun, 06 Nov 1994 08:49:37 GMT",
            b"Thu, 01 Jan 2099 00:00:00 GMT",
            b"NO-CACHE",
            b"en",
            b"fr",
            b"",
        ],
        60,
    );
    (name, value)
}

/// The request headers a response varies on, read as the page cache reads them: comma-separated, trimmed,
/// valid header names only.
fn varied_names(headers: &HeaderMap) -> Vec<HeaderName> {
    let mut names: Vec<HeaderName> = headers
        .get_all(VARY)
        .iter()
        .flat_map(|value| value.as_bytes().split(|b| *b == b','))
        .filter_map(|element| HeaderName::from_bytes(element.trim_ascii()).ok())
        .collect();
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    names.dedup();
    names
}

/// The page for a request: its values of the headers the response varies on, and nothing else.
fn page_for(names: &[HeaderName], request: &HeaderMap) -> String {
    let mut page = String::new();
    for name in names {
        let values: Vec<&[u8]> = request.get_all(name).iter().map(|v| v.as_bytes()).collect();
        page.push_str(&format!("{name}={values:?};"));
    }
    page
}

fn scripted_app(script: Arc<Mutex<Script>>, page_outside: bool) -> Router {
    let route = Router::new().route(
        "/",
        get(move |request_headers: HeaderMap| {
            let script = script.lock().map(|s| s.clone()).ok();
            async move {
                let Some(script) = script else {
                    return Response::new(Body::empty());
                };
                let mut response = Response::new(Body::empty());
                *response.status_mut() =
                    StatusCode::from_u16(script.status).unwrap_or(StatusCode::OK);
                for (name, value) in &script.headers {
                    response.headers_mut().append(name, header_value(value));
                }
                if script.status != 304 {
                    let page = page_for(&varied_names(response.headers()), &request_headers);
                    *response.body_mut() = Body::from(page);
                }
                response
            }
        }),
    );
    let page = CachePageLayer::new(Cache::new(MemoryBackend::new()))
        .cache_status("t")
        .expect("a valid cache status name");
    if page_outside {
        route.layer(ConditionalGetLayer::new()).layer(page)
    } else {
        route.layer(page).layer(ConditionalGetLayer::new())
    }
}

async fn one_header_case(
    page_outside: bool,
    exchanges: &[(Script, Vec<Header>)],
) -> Result<(), TestCaseError> {
    let current = Arc::new(Mutex::new(Script {
        status: 200,
        headers: Vec::new(),
    }));
    let app = scripted_app(Arc::clone(&current), page_outside);
    for (script, request_headers) in exchanges {
        if let Ok(mut slot) = current.lock() {
            *slot = script.clone();
        }
        let mut request = Request::get("/");
        for (name, value) in request_headers {
            request = request.header(name, header_value(value));
        }
        let request = request.body(Body::empty()).map_err(fail)?;
        let sent = request.headers().clone();
        let reply = call(&app, request).await?;
        let status = reply.cache_status();
        prop_assert!(
            !reply.status.is_server_error(),
            "{script:?} {request_headers:?}: {}",
            reply.status
        );
        if reply.status == StatusCode::NOT_MODIFIED {
            prop_assert!(reply.body.is_empty(), "a 304 with a body");
        }
        if status.ends_with("; stored") {
            let cache_control: Vec<u8> = reply
                .headers
                .get_all("cache-control")
                .iter()
                .flat_map(|v| v.as_bytes().to_ascii_lowercase())
                .collect();
            for directive in [&b"private"[..], b"no-store", b"no-cache"] {
                prop_assert!(
                    !cache_control
                        .windows(directive.len())
                        .any(|w| w == directive),
                    "stored despite Cache-Control {:?}",
                    String::from_utf8_lossy(&cache_control)
                );
            }
            let star = reply
                .headers
                .get_all(VARY)
                .iter()
                .flat_map(|v| v.as_bytes().split(|b| *b == b','))
                .any(|element| element.trim_ascii() == b"*");
            prop_assert!(!star, "stored despite Vary: *");
        }
        if status.ends_with("; hit") && reply.status == StatusCode::OK {
            let expected = page_for(&varied_names(&reply.headers), &sent);
            prop_assert_eq!(
                String::from_utf8_lossy(&reply.body),
                expected,
                "a hit served another request's page"
            );
        }
    }
    Ok(())
}

#[test]
fn caching_headers_through_the_page_and_conditional_layers() {
    let runtime = runtime();
    let exchange = (script(), proptest::collection::vec(request_header(), 0..5));
    proptest!(ProptestConfig { cases: 128, ..ProptestConfig::default() }, |(
        page_outside in any::<bool>(),
        exchanges in proptest::collection::vec(exchange, 1..6),
    )| {
        runtime.block_on(one_header_case(page_outside, &exchanges))?;
    });
}

// ---- oversized headers and bodies ---------------------------------------------------------------------

/// The page layer's body limit in these cases (the default is 1 MiB; smaller keeps the cases quick).
const BODY_LIMIT: usize = 64 * 1024;

async fn one_oversized_case(
    body_len: usize,
    chunked: bool,
    header_count: usize,
    header_len: usize,
    request_header_len: usize,
    path_len: usize,
) -> Result<(), TestCaseError> {
    let body: Bytes = (0..body_len)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let served = body.clone();
    let route = Router::new().fallback(move || {
        let body = served.clone();
        async move {
            let mut response = if chunked {
                let chunks: Vec<Result<Bytes, std::io::Error>> = body
                    .chunks(7_919)
                    .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
                    .collect();
                Response::new(Body::from_stream(futures_util::stream::iter(chunks)))
            } else {
                Response::new(Body::from(body))
            };
            for i in 0..header_count {
                let value = "v".repeat(header_len) + &i.to_string();
                response.headers_mut().append(
                    HeaderName::from_bytes(format!("x-big-{}", i % 7).as_bytes())
                        .unwrap_or(HeaderName::from_static("x-big")),
                    header_value(value.as_bytes()),
                );
            }
            response
        }
    });
    let app = route.layer(
        CachePageLayer::new(Cache::new(MemoryBackend::new()))
            .max_body_size(BODY_LIMIT)
            .cache_status("t")
            .expect("a valid cache status name"),
    );
    let path = format!("/{}?q={}", "p".repeat(path_len), "q".repeat(path_len));
    let request = || {
        Request::get(path.as_str())
            .header(
                "x-request",
                header_value("r".repeat(request_header_len).as_bytes()),
            )
            .body(Body::empty())
            .map_err(fail)
    };
    let first = call(&app, request()?).await?;
    prop_assert_eq!(first.status, StatusCode::OK);
    prop_assert!(
        first.body == body,
        "the body was altered: {} of {} bytes",
        first.body.len(),
        body.len()
    );
    // Only a body of known size within the limit is stored; a streamed one passes through, never stored.
    let fits = body_len <= BODY_LIMIT && !chunked;
    prop_assert_eq!(
        first.cache_status().ends_with("; stored"),
        fits,
        "{}",
        first.cache_status()
    );
    let second = call(&app, request()?).await?;
    prop_assert!(second.body == body, "the replayed body was altered");
    prop_assert_eq!(
        second.cache_status().ends_with("; hit"),
        fits,
        "{}",
        second.cache_status()
    );
    for i in 0..7 {
        let name = format!("x-big-{i}");
        let first_values: Vec<&HeaderValue> = first.headers.get_all(&name).iter().collect();
        let second_values: Vec<&HeaderValue> = second.headers.get_all(&name).iter().collect();
        prop_assert_eq!(
            first_values,
            second_values,
            "header {} not replayed exactly",
            name
        );
    }
    Ok(())
}

#[test]
fn oversized_headers_and_bodies_through_the_page_layer() {
    let runtime = runtime();
    proptest!(ProptestConfig { cases: 24, ..ProptestConfig::default() }, |(
        body_len in prop_oneof![0..BODY_LIMIT + 2, Just(BODY_LIMIT), Just(BODY_LIMIT + 1), BODY_LIMIT..4 * BODY_LIMIT],
        chunked in any::<bool>(),
        header_count in prop_oneof![0..8_usize, 100..400_usize],
        header_len in prop_oneof![0..64_usize, 8_000..70_000_usize],
        request_header_len in prop_oneof![0..64_usize, 10_000..100_000_usize],
        path_len in prop_oneof![0..64_usize, 4_000..20_000_usize],
    )| {
        // Hundreds of huge headers would be hundreds of megabytes: keep one of the two large.
        let header_len = if header_count >= 100 { header_len.min(256) } else { header_len };
        runtime.block_on(one_oversized_case(
            body_len,
            chunked,
            header_count,
            header_len,
            request_header_len,
            path_len,
        ))?;
    });
}
