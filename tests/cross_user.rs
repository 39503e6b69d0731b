//! Cross-user safety of whole apps: the page cache, sessions and hooks stacked on one `Router` in every
//! order users write them, served over a real socket to many visitors with their own cookie jars at once.
//!
//! Whatever the order, a page that read the session is served only to that session, a response that wrote
//! the session is served only to its visitor, a `Set-Cookie` never reaches another visitor, and an
//! `Authorization` response is not shared; while a page that uses no session is still cached for everybody
//! (so the safety does not come from caching nothing). Runs on memory and SQLite session stores always, and
//! on Redis (sessions and pages) when `TEST_REDIS_URL` is set.

mod web;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Path;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use tower_django::cache::backends::MemoryBackend;
use tower_django::cache::Cache;
use tower_django::hooks::HooksLayer;
use tower_django::page::CachePageLayer;
use tower_django::sessions::store::{CacheStore, DatabaseStore};
use tower_django::sessions::{Session, SessionError, SessionLayer, SessionStore};

use web::{Browser, Server, Stamp};

/// Where the layers go, as users write them.
#[derive(Debug, Clone, Copy)]
enum Order {
    /// `CachePageLayer` outermost, `SessionLayer` inside it (Django's recommended order).
    PageOutside,
    /// `SessionLayer` outermost, a router-wide `CachePageLayer` inside it.
    SessionOutside,
    /// A router-wide `SessionLayer`, `CachePageLayer` on each route (`get(h).layer(..)`).
    PageOnRoute,
    /// `CachePageLayer`, then `HooksLayer`, then `SessionLayer`.
    PageHooksSession,
    /// `SessionLayer`, then `HooksLayer`, then `CachePageLayer`.
    SessionHooksPage,
}

const ORDERS: [Order; 5] = [
    Order::PageOutside,
    Order::SessionOutside,
    Order::PageOnRoute,
    Order::PageHooksSession,
    Order::SessionHooksPage,
];

/// How many times each handler ran.
#[derive(Default)]
struct Renders {
    public: AtomicUsize,
}

async fn me(session: Session) -> Result<String, SessionError> {
    let user: Option<String> = session.get("user").await?;
    Ok(format!("user={}", user.as_deref().unwrap_or("anonymous")))
}

async fn count(session: Session) -> Result<String, SessionError> {
    let count: u64 = session.get("count").await?.unwrap_or(0) + 1;
    session.insert("count", &count).await?;
    Ok(format!("count={count}"))
}

async fn login(session: Session, Path(name): Path<String>) -> Result<String, SessionError> {
    session.cycle_key().await?;
    session.insert("user", &name).await?;
    Ok(format!("welcome {name}"))
}

async fn auth(headers: HeaderMap) -> String {
    let token = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    format!("auth={token}")
}

fn app(order: Order, pages: Cache, store: Arc<dyn SessionStore>, renders: Arc<Renders>) -> Router {
    app_keyed(order, pages, store, renders, None)
}

/// [`app`], its page cache keying pages that vary on `Cookie` by the `keyed` cookies only.
fn app_keyed(
    order: Order,
    pages: Cache,
    store: Arc<dyn SessionStore>,
    renders: Arc<Renders>,
    keyed: Option<&[&str]>,
) -> Router {
    let mut page_layer = CachePageLayer::new(pages).timeout(Duration::from_secs(300));
    if let Some(keyed) = keyed {
        page_layer = page_layer
            .key_cookies(keyed.iter().copied())
            .expect("valid cookie names");
    }
    let sessions = SessionLayer::from_arc(store);
    let hooks = HooksLayer::new().push(Stamp);
    let public = {
        let renders = Arc::clone(&renders);
        move || async move {
            let n = renders.public.fetch_add(1, Ordering::SeqCst) + 1;
            format!("public render {n}")
        }
    };
    let routes = |on_route: bool| {
        let route = |method_router: axum::routing::MethodRouter| {
            if on_route {
                method_router.layer(page_layer.clone())
            } else {
                method_router
            }
        };
        Router::new()
            .route("/me", route(get(me)))
            .route("/count", route(get(count)))
            .route("/public", route(get(public.clone())))
            .route("/auth", route(get(auth)))
            .route("/login/{name}", post(login))
    };
    // `Router::layer` wraps what is there: the layer added last is the outermost.
    match order {
        Order::PageOutside => routes(false).layer(sessions).layer(page_layer),
        Order::SessionOutside => routes(false).layer(page_layer).layer(sessions),
        Order::PageOnRoute => routes(true).layer(sessions),
        Order::PageHooksSession => routes(false).layer(sessions).layer(hooks).layer(page_layer),
        Order::SessionHooksPage => routes(false).layer(page_layer).layer(hooks).layer(sessions),
    }
}

/// One visitor's view of the run, checked as it goes.
struct Visit {
    browser: Browser,
    user: Option<String>,
    count: u64,
}

/// Which visitor each session key was ever given to: a key seen by two visitors is a leaked `Set-Cookie`.
#[derive(Default)]
struct KeyOwners(Mutex<HashMap<String, usize>>);

impl KeyOwners {
    fn record(&self, visitor: usize, browser: &Browser) {
        let Some(key) = browser.cookie("sessionid") else {
            return;
        };
        let mut owners = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let owner = *owners.entry(key.clone()).or_insert(visitor);
        assert_eq!(
            owner, visitor,
            "session key {key} was set for visitor {owner} and again for visitor {visitor}"
        );
    }
}

const LOGGED_IN: usize = 8;
const ANONYMOUS: usize = 4;
const ROUNDS: usize = 6;

/// Many visitors at once, in one order, on one store: every assertion of the module's doc.
async fn check_order(order: Order, pages: Cache, store: Arc<dyn SessionStore>) {
    check_order_keyed(order, pages, store, None).await;
}

/// [`check_order`] with the page cache keyed on the `keyed` cookies only, every visitor also carrying an
/// analytics cookie of its own (`_ga`).
async fn check_order_keyed(
    order: Order,
    pages: Cache,
    store: Arc<dyn SessionStore>,
    keyed: Option<&[&str]>,
) {
    let renders = Arc::new(Renders::default());
    let app = app_keyed(
        order,
        pages,
        Arc::clone(&store),
        Arc::clone(&renders),
        keyed,
    );
    let server = Server::start(app).await;
    let analytics = keyed.is_some();
    let owners = Arc::new(KeyOwners::default());
    let mut tasks = Vec::new();
    for visitor in 0..LOGGED_IN + ANONYMOUS {
        let (base, owners) = (server.base(), Arc::clone(&owners));
        tasks.push(tokio::spawn(async move {
            let mut visit = Visit {
                browser: Browser::new(base),
                user: None,
                count: 0,
            };
            if analytics {
                visit.browser.set_cookie("_ga", &format!("GA1.2.{visitor}"));
            }
            if visitor < LOGGED_IN {
                // A session before login, so login has a key to cycle.
                bump(&mut visit, order).await;
                let old_key = visit.browser.cookie("sessionid");
                let name = format!("user-{visitor}");
                let (status, body) = visit.browser.post(&format!("/login/{name}")).await;
                assert_eq!((status, body.as_str()), (200, &*format!("welcome {name}")));
                owners.record(visitor, &visit.browser);
                assert_ne!(
                    visit.browser.cookie("sessionid"),
                    old_key,
                    "{order:?}: login cycles the key"
                );
                // The old key is dead: a request still carrying it is anonymous.
                if let Some(old_key) = old_key {
                    let mut stale = Browser::new(visit.browser.base().to_owned());
                    stale.set_cookie("sessionid", &old_key);
                    let (_, body) = stale.get("/me").await;
                    assert_eq!(
                        body, "user=anonymous",
                        "{order:?}: the cycled-out key still works"
                    );
                }
                visit.user = Some(name);
            }
            for _ in 0..ROUNDS {
                let (status, body) = visit.browser.get("/me").await;
                let expected = format!("user={}", visit.user.as_deref().unwrap_or("anonymous"));
                assert_eq!(
                    (status, body.as_str()),
                    (200, expected.as_str()),
                    "{order:?}: visitor {visitor} was served another session's page"
                );
                bump(&mut visit, order).await;
                owners.record(visitor, &visit.browser);
                let token = format!("Bearer token-{visitor}");
                let (status, body) = visit.browser.get_with("/auth", &token).await;
                assert_eq!(
                    (status, body),
                    (200, format!("auth={token}")),
                    "{order:?}: an Authorization response was shared"
                );
                let (status, body) = visit.browser.get("/public").await;
                assert!(status == 200 && body.starts_with("public render"), "{body}");
            }
        }));
    }
    for task in tasks {
        if let Err(error) = task.await {
            std::panic::resume_unwind(error.into_panic());
        }
    }
    // The cache still works for what may be shared: far fewer renders than requests.
    let public_requests = (LOGGED_IN + ANONYMOUS) * ROUNDS;
    let public_renders = renders.public.load(Ordering::SeqCst);
    assert!(
        public_renders <= public_requests / 4,
        "{order:?}: /public rendered {public_renders} times for {public_requests} requests: not cached"
    );
    eprintln!("{order:?}: ok, /public rendered {public_renders}× for {public_requests} requests");
}

/// Writes the session and checks the counter is this visitor's own: a write response is never shared.
async fn bump(visit: &mut Visit, order: Order) {
    let (status, body) = visit.browser.get("/count").await;
    visit.count += 1;
    assert_eq!(
        (status, body),
        (200, format!("count={}", visit.count)),
        "{order:?}: a session-writing response was served to another visitor"
    );
    assert!(
        visit.browser.cookie("sessionid").is_some(),
        "{order:?}: a write sets the session cookie"
    );
}

fn memory_cache() -> Cache {
    Cache::new(MemoryBackend::new())
}

#[tokio::test]
async fn every_order_on_the_memory_store() {
    for order in ORDERS {
        let store: Arc<dyn SessionStore> = Arc::new(CacheStore::new(memory_cache()));
        check_order(order, memory_cache(), store).await;
    }
}

#[tokio::test]
async fn every_order_on_the_sqlite_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (i, order) in ORDERS.into_iter().enumerate() {
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join(format!("s{i}.db")).display()
        );
        let store = DatabaseStore::connect(url).await.expect("sqlite store");
        store.migrate().await.expect("session table");
        check_order(order, memory_cache(), Arc::new(store)).await;
    }
}

#[tokio::test]
async fn every_order_on_redis() {
    let Some(url) = web::server_url("TEST_REDIS_URL") else {
        return;
    };
    for (i, order) in ORDERS.into_iter().enumerate() {
        let namespace = format!("xuser{}-{i}:", std::process::id());
        let sessions = web::cache_from_url(&url, &format!("{namespace}s:")).await;
        let pages = web::cache_from_url(&url, &format!("{namespace}p:")).await;
        let store: Arc<dyn SessionStore> = Arc::new(CacheStore::new(sessions.clone()));
        check_order(order, pages.clone(), store).await;
        let _ = sessions.clear().await;
        let _ = pages.clear().await;
    }
}

/// Pages keyed on the session cookie only: every order still serves each session only its own pages,
/// while visitors' analytics cookies differ.
#[tokio::test]
async fn every_order_keyed_on_the_session_cookie() {
    for order in ORDERS {
        let store: Arc<dyn SessionStore> = Arc::new(CacheStore::new(memory_cache()));
        check_order_keyed(order, memory_cache(), store, Some(&["sessionid"])).await;
    }
}

/// Pages keyed on a cookie that is not the session's: with the session layer outside the page cache, a
/// page that read the session is not stored at all, so no session is served another's page.
#[tokio::test]
async fn keyed_on_other_cookies_a_session_page_is_never_shared() {
    for order in [
        Order::SessionOutside,
        Order::PageOnRoute,
        Order::SessionHooksPage,
    ] {
        let store: Arc<dyn SessionStore> = Arc::new(CacheStore::new(memory_cache()));
        check_order_keyed(order, memory_cache(), store, Some(&["_ga"])).await;
    }
}

/// What keying on the session cookie is for: a page that varies on `Cookie` is rendered once for every
/// anonymous visitor, whatever their analytics cookies; and once per session for visitors with one.
#[tokio::test]
async fn anonymous_pages_are_shared_across_analytics_cookies() {
    let renders = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&renders);
    let app = Router::new()
        .route(
            "/home",
            get(move |headers: HeaderMap| {
                let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
                let signed_in = headers
                    .get("cookie")
                    .and_then(|c| c.to_str().ok())
                    .is_some_and(|c| c.contains("sessionid="));
                async move {
                    (
                        [("vary", "Cookie")],
                        format!("home render {n}, signed in: {signed_in}"),
                    )
                }
            }),
        )
        .layer(
            CachePageLayer::new(memory_cache())
                .key_cookies(["sessionid"])
                .expect("a cookie name"),
        );
    let server = Server::start(app).await;
    let mut bodies = Vec::new();
    for visitor in 0..10 {
        let mut browser = Browser::new(server.base());
        browser.set_cookie("_ga", &format!("GA1.2.{visitor}"));
        browser.set_cookie("consent", if visitor % 2 == 0 { "yes" } else { "no" });
        let (status, body) = browser.get("/home").await;
        assert_eq!(status, 200);
        bodies.push(body);
    }
    assert_eq!(renders.load(Ordering::SeqCst), 1, "{bodies:?}");
    assert!(bodies.iter().all(|b| b == &bodies[0]));
    // Two visitors with sessions: one render each, never the anonymous page nor each other's.
    for key in ["a".repeat(32), "b".repeat(32)] {
        let mut browser = Browser::new(server.base());
        browser.set_cookie("sessionid", &key);
        browser.set_cookie("_ga", "GA1.2.x");
        let (_, first) = browser.get("/home").await;
        let (_, again) = browser.get("/home").await;
        assert!(
            first.ends_with("signed in: true") && again == first,
            "{first} / {again}"
        );
    }
    assert_eq!(renders.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_client_chosen_session_id_is_never_adopted() {
    for order in ORDERS {
        let sessions = memory_cache();
        let store = Arc::new(CacheStore::new(sessions));
        let renders = Arc::new(Renders::default());
        let server = Server::start(app(order, memory_cache(), store.clone(), renders)).await;
        let chosen = "abcdefghijklmnopqrstuvwxyz012345";
        let mut attacker = Browser::new(server.base());
        attacker.set_cookie("sessionid", chosen);
        let (status, body) = attacker.get("/count").await;
        assert_eq!((status, body.as_str()), (200, "count=1"));
        let given = attacker.cookie("sessionid").expect("a new key");
        assert_ne!(given, chosen, "{order:?}: the chosen key was adopted");
        let chosen_key = tower_django::sessions::SessionKey::parse(chosen).expect("well formed");
        assert!(
            !store.exists(&chosen_key).await.expect("store answers"),
            "{order:?}: a record was created under the chosen key"
        );
    }
}

/// Session keys come from the OS's random source: a million of them never repeat (32 characters of
/// `[a-z0-9]` carry 165 bits; a repeat here would mean a broken generator, not bad luck).
#[test]
fn a_million_session_keys_never_repeat() {
    let mut seen = std::collections::HashSet::with_capacity(1_000_000);
    for _ in 0..1_000_000 {
        let key = tower_django::sessions::SessionKey::generate().expect("the OS random source");
        assert!(
            tower_django::sessions::SessionKey::is_well_formed(key.as_str()),
            "{}",
            key.as_str()
        );
        assert!(
            seen.insert(key.as_str().to_owned()),
            "repeated: {}",
            key.as_str()
        );
    }
}
