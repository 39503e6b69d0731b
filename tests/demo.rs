//! The demo app (`examples/demo`, included below so this is the very same app) served on a loopback port
//! and visited with a cookie-keeping client, on each session store the demo offers: a memory cache
//! (`CacheStore`), SQLite (`DatabaseStore`), and Redis for both cache and sessions when `TEST_REDIS_URL`
//! is set (skipped with a note otherwise; a failure when `TEST_REQUIRE_SERVERS=1`).
//!
//! What each check proves, on every store:
//! - the home page comes from the page cache: byte-identical on the second request, `Cache-Status` says
//!   `hit`, the same page for a visitor with a session, and no cookie or `Vary: Cookie` on it;
//! - each visitor's counter is their own and counts across pages;
//! - login cycles the session key (the data moves along), the pre-login cookie is then anonymous, and the
//!   sidebar fragment follows the user; logout deletes the session and its cookie;
//! - the login and logout forms redirect only within the site;
//! - `/boom` (a panicking handler) answers the HTML 500 page and the next requests succeed; unknown pages
//!   answer the HTML 404 page;
//! - `/events` delivers its first event at once (within a generous 10 s);
//! - every response carries `X-Response-Time`.

mod web;

#[allow(dead_code)]
#[path = "../examples/demo/app.rs"]
mod app;

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use http::{HeaderMap, Method};
use http_body_util::BodyExt;
use tower_django::cache::Cache;

use app::{pages, Backends, CACHE_STATUS_NAME, TICKS};
use web::{Browser, Server};

/// How long one request may take before the test fails (the app answers in milliseconds).
const DEADLINE: Duration = Duration::from_secs(30);

/// How long the first server-sent event may take (it is sent at once).
const FIRST_EVENT_WITHIN: Duration = Duration::from_secs(10);

/// Where the demo keeps its sessions (and, for Redis, its cache).
#[derive(Debug, Clone, Copy)]
enum Store {
    /// Cache and sessions in memory (`CacheStore` on `memory://`).
    Memory,
    /// The demo's default: cache in memory, sessions in a SQLite file (`DatabaseStore`).
    Sqlite,
    /// Cache and sessions on the Redis server at `TEST_REDIS_URL`, each in a namespace of its own.
    Redis,
}

/// The demo serving on a loopback port, and what to clean up after it.
struct Demo {
    server: Server,
    backends: Backends,
    /// The SQLite file's directory, removed on drop.
    _dir: Option<tempfile::TempDir>,
    /// Redis: the session cache, cleared when the test ends (the page cache is `backends.cache`).
    redis_sessions: Option<Cache>,
}

impl Demo {
    /// The demo on `store`; `None` when that store cannot be had here (said on stderr).
    async fn start(store: Store) -> Option<Demo> {
        let (cache_url, session_url, dir) = match store {
            Store::Memory => ("memory://".to_owned(), "memory://".to_owned(), None),
            Store::Sqlite => {
                let dir = tempfile::tempdir().expect("a temp dir");
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("sessions.db").display()
                );
                ("memory://".to_owned(), url, Some(dir))
            }
            Store::Redis => {
                let url = web::server_url("TEST_REDIS_URL")?;
                if !tower_django::cache::supported_schemes().contains(&"redis") {
                    assert!(
                        std::env::var("TEST_REQUIRE_SERVERS").as_deref() != Ok("1"),
                        "TEST_REDIS_URL is set but the Redis backend is not built in"
                    );
                    eprintln!("skipped: the Redis backend is not built in");
                    return None;
                }
                static NEXT: AtomicU32 = AtomicU32::new(0);
                let namespace = format!(
                    "demo{}-{}",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::Relaxed)
                );
                let separator = if url.contains('?') { '&' } else { '?' };
                (
                    format!("{url}{separator}namespace={namespace}p:"),
                    format!("{url}{separator}namespace={namespace}s:"),
                    None,
                )
            }
        };
        let backends = Backends::connect(&cache_url, &session_url)
            .await
            .expect("the demo's backends");
        let redis_sessions = match store {
            Store::Redis => Some(
                Cache::from_url(&session_url)
                    .await
                    .expect("the session namespace"),
            ),
            _ => None,
        };
        let server = Server::start(app::router(&backends)).await;
        Some(Demo {
            server,
            backends,
            _dir: dir,
            redis_sessions,
        })
    }

    /// Stops the server and removes what the test left on shared servers.
    async fn stop(self) {
        drop(self.server);
        if let Some(sessions) = self.redis_sessions {
            let _ = sessions.clear().await;
            let _ = self.backends.cache.clear().await;
        }
    }
}

/// Runs `check` against the demo on `store` (nothing when the store is not available).
async fn run<F, Fut>(store: Store, check: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(demo) = Demo::start(store).await else {
        return;
    };
    check(demo.server.base()).await;
    demo.stop().await;
}

/// Every check, on every store.
macro_rules! on_every_store {
    ($($check:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test]
            async fn $check() {
                super::run(super::Store::Memory, super::$check).await;
            })*
        }
        mod sqlite {
            $(#[tokio::test]
            async fn $check() {
                super::run(super::Store::Sqlite, super::$check).await;
            })*
        }
        mod redis {
            $(#[tokio::test]
            async fn $check() {
                super::run(super::Store::Redis, super::$check).await;
            })*
        }
    };
}

on_every_store!(
    the_home_page_comes_from_the_page_cache,
    each_visitor_has_a_counter_of_their_own,
    login_cycles_the_key_and_the_old_cookie_is_anonymous,
    logout_deletes_the_session_and_its_cookie,
    the_forms_redirect_only_within_the_site,
    a_panic_answers_the_500_page_and_the_server_goes_on,
    the_event_stream_starts_at_once,
);

// ---------------------------------------------------------------------------------------------------------
// The checks

async fn the_home_page_comes_from_the_page_cache(base: String) {
    let mut visitor = Browser::new(base.clone());
    let first = get(&mut visitor, "/").await;
    assert_eq!(first.status, 200);
    assert_eq!(
        first.header("cache-status"),
        format!("{CACHE_STATUS_NAME}; fwd=uri-miss; stored")
    );
    let second = get(&mut visitor, "/").await;
    assert_eq!(second.status, 200);
    assert_eq!(
        second.header("cache-status"),
        format!("{CACHE_STATUS_NAME}; hit")
    );
    assert_eq!(
        second.body, first.body,
        "the cached page is the stored bytes"
    );

    // The page never touches the session: no cookie, no `Vary: Cookie`, and a visitor with a session
    // gets the very same cached page.
    for page in [&first, &second] {
        assert!(!page.headers.contains_key("set-cookie"));
        assert!(!page.header("vary").to_ascii_lowercase().contains("cookie"));
    }
    let mut other = Browser::new(base);
    get(&mut other, "/post/1").await;
    assert!(other.cookie("sessionid").is_some());
    let theirs = get(&mut other, "/").await;
    assert_eq!(
        theirs.header("cache-status"),
        format!("{CACHE_STATUS_NAME}; hit")
    );
    assert_eq!(theirs.body, first.body);
}

async fn each_visitor_has_a_counter_of_their_own(base: String) {
    let mut ann = Browser::new(base.clone());
    let mut bob = Browser::new(base);
    for expected in 1..=3 {
        assert_eq!(get(&mut ann, "/post/1").await.visits(), Some(expected));
    }
    assert_eq!(get(&mut bob, "/post/1").await.visits(), Some(1));
    // The counter is the session's, not the page's.
    assert_eq!(get(&mut ann, "/post/2").await.visits(), Some(4));
    assert_eq!(get(&mut bob, "/post/3").await.visits(), Some(2));
    assert_ne!(ann.cookie("sessionid"), bob.cookie("sessionid"));
}

async fn login_cycles_the_key_and_the_old_cookie_is_anonymous(base: String) {
    let mut ann = Browser::new(base.clone());
    let page = get(&mut ann, "/post/1").await;
    assert_eq!((page.visits(), page.user()), (Some(1), None));
    assert!(
        page.body.contains("Hello, stranger!"),
        "the anonymous sidebar"
    );
    let before = ann.cookie("sessionid").expect("a session cookie");

    let answer = login(&mut ann, "Ann <&>", "/post/1").await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.header("location"), "/post/1");
    let after = ann
        .cookie("sessionid")
        .expect("a session cookie after login");
    assert_ne!(after, before, "login must give the session a new key");

    let page = get(&mut ann, "/post/1").await;
    // The data moved to the new key; the name is escaped on the page.
    assert_eq!(page.visits(), Some(2));
    assert_eq!(page.user(), Some("Ann &lt;&amp;&gt;"));
    assert!(
        page.body.contains("Hello, Ann &lt;&amp;&gt;!"),
        "the sidebar fragment is cached per user"
    );

    // Whoever kept the old cookie holds nothing: an anonymous new session.
    let mut stale = Browser::new(base);
    stale.set_cookie("sessionid", &before);
    let page = get(&mut stale, "/post/1").await;
    assert_eq!((page.visits(), page.user()), (Some(1), None));
    let fresh = stale.cookie("sessionid").expect("a new session cookie");
    assert!(fresh != before && fresh != after);

    // And Ann's session is untouched by that.
    assert_eq!(get(&mut ann, "/post/1").await.visits(), Some(3));
}

async fn logout_deletes_the_session_and_its_cookie(base: String) {
    let mut bob = Browser::new(base.clone());
    get(&mut bob, "/post/2").await;
    let answer = login(&mut bob, "bob", "/post/2").await;
    assert_eq!(answer.status, 303);
    let logged_in = bob.cookie("sessionid").expect("a session cookie");
    assert_eq!(get(&mut bob, "/post/2").await.user(), Some("bob"));

    let answer = logout(&mut bob, "/post/2").await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.header("location"), "/post/2");
    assert_eq!(bob.cookie("sessionid"), None, "logout removes the cookie");
    let page = get(&mut bob, "/post/2").await;
    assert_eq!((page.visits(), page.user()), (Some(1), None));

    // The session itself is gone: its cookie, replayed, is anonymous.
    let mut replay = Browser::new(base);
    replay.set_cookie("sessionid", &logged_in);
    let page = get(&mut replay, "/post/2").await;
    assert_eq!((page.visits(), page.user()), (Some(1), None));
}

async fn the_forms_redirect_only_within_the_site(base: String) {
    let mut visitor = Browser::new(base);
    for next in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "",
        "post/1",
    ] {
        let answer = login(&mut visitor, "eve", next).await;
        assert_eq!(
            (answer.status, answer.header("location")),
            (303, "/"),
            "login, next={next:?}"
        );
        let answer = logout(&mut visitor, next).await;
        assert_eq!(
            (answer.status, answer.header("location")),
            (303, "/"),
            "logout, next={next:?}"
        );
    }
    // A login without a name is refused with the 400 page, and logs nobody in.
    let answer = login(&mut visitor, "  ", "/post/1").await;
    assert_eq!(answer.status, 400);
    assert!(answer.body.contains("id=\"error\""));
    assert_eq!(get(&mut visitor, "/post/1").await.user(), None);
}

async fn a_panic_answers_the_500_page_and_the_server_goes_on(base: String) {
    let mut visitor = Browser::new(base);
    for _ in 0..2 {
        let page = get(&mut visitor, "/boom").await;
        assert_eq!(page.status, 500);
        assert!(page.header("content-type").starts_with("text/html"));
        assert!(page
            .body
            .contains("<h1 id=\"error\">Something went wrong</h1>"));
        assert!(
            !page.body.contains("panics on purpose"),
            "no internals shown"
        );

        let page = get(&mut visitor, "/post/1").await;
        assert_eq!(page.status, 200);
        assert_eq!(get(&mut visitor, "/").await.status, 200);
    }
    for path in ["/post/9", "/post/x", "/nowhere"] {
        let page = get(&mut visitor, path).await;
        assert_eq!(page.status, 404, "{path}");
        assert!(page.body.contains("<h1 id=\"error\">Page not found</h1>"));
    }
}

async fn the_event_stream_starts_at_once(base: String) {
    let mut visitor = Browser::new(base);
    let response = visitor
        .try_request(Method::GET, "/events", DEADLINE)
        .await
        .expect("a response head");
    let (head, mut body) = response.into_parts();
    assert_eq!(head.status, 200);
    assert_eq!(head.headers["content-type"], "text/event-stream");
    assert!(head.headers.contains_key("x-response-time"));
    let mut received = Vec::new();
    let first_event = async {
        while !received.windows(2).any(|pair: &[u8]| pair == b"\n\n") {
            let frame = body
                .frame()
                .await
                .expect("the stream goes on")
                .expect("a frame");
            if let Ok(data) = frame.into_data() {
                received.extend_from_slice(&data);
            }
        }
    };
    tokio::time::timeout(FIRST_EVENT_WITHIN, first_event)
        .await
        .expect("the first event at once");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("event: tick\n"), "{text:?}");
    assert!(text.contains(&format!("(tick 1 of {TICKS})\n")), "{text:?}");
}

// ---------------------------------------------------------------------------------------------------------
// The client side

/// A response, read whole.
struct Page {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Page {
    /// Reads a response, checking that it carries `X-Response-Time` (every response does).
    fn new(what: &str, answer: Result<(u16, HeaderMap, bytes::Bytes), String>) -> Page {
        let (status, headers, body) = answer.unwrap_or_else(|error| panic!("{error}"));
        assert!(
            headers.contains_key("x-response-time"),
            "{what}: no X-Response-Time"
        );
        Page {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("", |value| value.to_str().expect("an ASCII header"))
    }

    /// The counter a post page shows.
    fn visits(&self) -> Option<u64> {
        pages::shown_visits(&self.body)
    }

    /// Who a post page says is logged in.
    fn user(&self) -> Option<&str> {
        pages::shown_user(&self.body)
    }
}

async fn get(visitor: &mut Browser, path: &str) -> Page {
    let answer = visitor.try_send(Method::GET, path, DEADLINE).await;
    Page::new(path, answer)
}

async fn submit(visitor: &mut Browser, path: &str, fields: &[(&str, &str)]) -> Page {
    let answer = visitor.try_submit(path, fields, DEADLINE).await;
    Page::new(path, answer)
}

/// The login form submitted with `name`, to go on to `next`.
async fn login(visitor: &mut Browser, name: &str, next: &str) -> Page {
    submit(visitor, "/login", &[("name", name), ("next", next)]).await
}

/// The logout form submitted, to go on to `next`.
async fn logout(visitor: &mut Browser, next: &str) -> Page {
    submit(visitor, "/logout", &[("next", next)]).await
}
