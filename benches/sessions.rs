//! Sessions side by side: tower-sessions-kit against a plain axum handler and against tower-sessions
//! (0.14, the version its sqlx and Redis stores are built for) with its matching stores, in-process
//! (`tower::ServiceExt::oneshot` on the app, body read to the end).
//!
//! ```text
//! cargo bench --bench sessions
//! TEST_REDIS_URL=redis://127.0.0.1:6379 cargo bench --bench sessions
//! ```
//!
//! Groups (each variant answers `GET /` with the same bytes, `42`):
//!
//! - `memory_read`: reading an existing session — `plain` (the same handler without sessions: the limit),
//!   `plain_layered` (`plain` behind a layer that does nothing, `tower::layer::util::Identity`: what axum
//!   charges for any `Router::layer` before the middleware does anything), `kit` (`CacheStore` on
//!   cache-core's memory backend), `tower_sessions` (its `MemoryStore`).
//! - `sqlite_read` / `sqlite_write`: `DatabaseStore` on a SQLite file against `SqliteStore` from
//!   tower-sessions-sqlx-store on another file of the same directory, opened as its README shows
//!   (`SqlitePool::connect`, sqlx defaults). `write` inserts a new value into the session on every request.
//! - `redis_read` (with `TEST_REDIS_URL`): `CacheStore` on cache-core's Redis backend (`kit`, and
//!   `kit_client_cache` with the backend's client-side cache on) against tower-sessions-redis-store (fred).
//!
//! `SESSIONS_BENCH_GROUPS=memory,redis` runs some groups only; `SESSIONS_BENCH_CRITERION_ONLY=1` skips the
//! side-by-side runs of the memory group (for profilers).
//!
//! Criterion measures each variant; then interleaved runs (variants alternating in rounds, so drift hits
//! all alike) print requests per second and the ratios the targets are stated in, three times:
//!
//! 1. in-process;
//! 2. over loopback HTTP/1.1: each variant served by `axum::serve` on 127.0.0.1, one keep-alive client
//!    connection sending the session cookie, one request at a time (client and server share the bench's
//!    single-threaded runtime; `memory_read` is also served on a two-worker runtime, as `benches/hooks.rs`
//!    does). This is a latency measure: every wait (a store's round trip, a wake-up of sqlx's SQLite worker
//!    thread) is paid in full;
//! 3. over loopback HTTP/1.1 with 16 connections at once, each logged in to its own session (16 users):
//!    requests per second as a busy server sees them, where the store works on several requests together.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, HeaderValue, Request};
use axum::routing::get;
use axum::Router;
use cache_core::Cache;
use criterion::{criterion_group, criterion_main, Criterion};
use http_body_util::BodyExt;
use tower::util::BoxCloneSyncService;
use tower::ServiceExt;

use comparisons::{median, rate_of, runtime, App};

/// An app and the `Cookie` header its requests carry.
#[derive(Clone)]
struct Variant {
    name: &'static str,
    /// The Router, for serving it over loopback.
    router: Router,
    app: App,
    cookie: Option<HeaderValue>,
    /// The app has sessions: each connection of the concurrent run logs in for its own.
    has_sessions: bool,
}

/// The app as a service, finished with `with_state(())` as `axum::serve` does (otherwise axum applies the
/// layers to the routes again on every request).
fn boxed(router: Router) -> App {
    BoxCloneSyncService::new(
        router
            .with_state::<()>(())
            .into_service::<Body>()
            .map_response(|r| r),
    )
}

async fn request(variant: &Variant) -> usize {
    let mut request = Request::get("/");
    if let Some(cookie) = &variant.cookie {
        request = request.header(header::COOKIE, cookie.clone());
    }
    let request = request.body(Body::empty()).unwrap_or_default();
    match variant.app.clone().oneshot(request).await {
        Ok(response) => match response.into_body().collect().await {
            Ok(body) => body.to_bytes().len(),
            Err(_) => 0,
        },
        Err(never) => match never {},
    }
}

/// The session cookie the app sets on `GET /set`, as a `Cookie` header value.
async fn login(app: &App) -> HeaderValue {
    let request = Request::get("/set").body(Body::empty()).unwrap_or_default();
    let response = match app.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let set_cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no session cookie from /set"));
    let pair = set_cookie.split(';').next().unwrap_or_default().to_owned();
    HeaderValue::from_str(&pair).unwrap_or_else(|e| panic!("cookie header: {e}"))
}

/// The session handler without the session: it formats the same number into the body, so the
/// difference to `kit` is what sessions cost.
fn plain() -> Router {
    Router::new().route(
        "/",
        get(|| async { std::hint::black_box(42_i64).to_string() }),
    )
}

/// The session app's routes, for either library's `Session` (`session_routes!(Session, write)`): `GET /`
/// reads the user (or, with `write`, inserts a new number and answers `42`), `GET /set` logs a user in.
/// A macro, not a function: the two `Session` types share these methods but no trait.
macro_rules! session_routes {
    ($session:ty, $write:expr) => {{
        let write: bool = $write;
        let counter = Arc::new(AtomicU64::new(0));
        let handler = move |session: $session| {
            let counter = Arc::clone(&counter);
            async move {
                if write {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let _ = session.insert("n", &n).await;
                    "42".to_owned()
                } else {
                    match session.get::<i64>("user").await {
                        Ok(Some(user)) => user.to_string(),
                        _ => "none".to_owned(),
                    }
                }
            }
        };
        Router::new().route("/", get(handler)).route(
            "/set",
            get(|session: $session| async move {
                let _ = session.insert("user", &42).await;
                let _ = session.insert("name", "benchmark user").await;
            }),
        )
    }};
}

// ---- tower-sessions-kit -------------------------------------------------------------------------------

mod kit {
    use super::*;
    use tower_sessions_kit::{Session, SessionLayer, SessionStore};

    pub fn app(store: impl SessionStore, write: bool) -> Router {
        session_routes!(Session, write).layer(SessionLayer::new(store))
    }
}

// ---- tower-sessions -------------------------------------------------------------------------------------

mod peer {
    use super::*;
    use tower_sessions::{Session, SessionManagerLayer, SessionStore};

    pub fn app<S: SessionStore + Clone>(store: S, write: bool) -> Router {
        session_routes!(Session, write).layer(SessionManagerLayer::new(store).with_secure(false))
    }
}

async fn variant(name: &'static str, router: Router, with_session: bool) -> Variant {
    let app = boxed(router.clone());
    let cookie = if with_session {
        Some(login(&app).await)
    } else {
        None
    };
    Variant {
        name,
        router,
        app,
        cookie,
        has_sessions: with_session,
    }
}

async fn memory_group() -> Vec<Variant> {
    let store = tower_sessions_kit::store::CacheStore::new(comparisons::stores::memory_cache());
    same_request_for_plain(vec![
        variant("plain", plain(), false).await,
        variant(
            "plain_layered",
            plain().layer(tower::layer::util::Identity::new()),
            false,
        )
        .await,
        variant("kit", kit::app(store, false), true).await,
        variant(
            "tower_sessions",
            peer::app(tower_sessions::MemoryStore::default(), false),
            true,
        )
        .await,
    ])
}

/// Gives the plain handlers the same request as `kit` (its session cookie included): a browser sends the
/// cookie whether or not the app reads it, so the ratio measures the session layer, not the parsing of a
/// longer request.
fn same_request_for_plain(mut variants: Vec<Variant>) -> Vec<Variant> {
    let cookie = variants
        .iter()
        .find(|variant| variant.name == "kit")
        .and_then(|variant| variant.cookie.clone());
    for variant in &mut variants {
        if variant.name.starts_with("plain") {
            variant.cookie = cookie.clone();
        }
    }
    variants
}

async fn sqlite_group(dir: &std::path::Path, write: bool) -> Vec<Variant> {
    let suffix = if write { "write" } else { "read" };
    let ours = comparisons::stores::kit_sqlite_store(&dir.join(format!("kit-{suffix}.db")))
        .await
        .unwrap_or_else(|e| panic!("kit sqlite: {e}"));
    let theirs =
        comparisons::stores::peer_sqlite_store(&dir.join(format!("tower-sessions-{suffix}.db")))
            .await
            .unwrap_or_else(|e| panic!("tower-sessions sqlite: {e}"));
    same_request_for_plain(vec![
        variant("plain", plain(), false).await,
        variant("kit", kit::app(ours, write), true).await,
        variant("tower_sessions", peer::app(theirs, write), true).await,
    ])
}

async fn redis_group(url: &str) -> Option<Vec<Variant>> {
    use tower_sessions_kit::store::CacheStore;
    let ours = CacheStore::new(comparisons::stores::redis_cache(url, "bench-sessions-kit:").ok()?);
    let client_cached = cache_core::backends::RedisBackend::builder(url)
        .namespace("bench-sessions-kit-client-cache:")
        .client_side_cache(10_000)
        .build()
        .ok()?;
    let ours_client_cached = CacheStore::new(Cache::new(client_cached));
    let theirs = comparisons::stores::peer_redis_store(url).await.ok()?;
    Some(same_request_for_plain(vec![
        variant("plain", plain(), false).await,
        variant("kit", kit::app(ours, false), true).await,
        variant(
            "kit_client_cache",
            kit::app(ours_client_cached, false),
            true,
        )
        .await,
        variant("tower_sessions", peer::app(theirs, false), true).await,
    ]))
}

fn measure(c: &mut Criterion, rt: &tokio::runtime::Runtime, group: &str, variants: &[Variant]) {
    let mut criterion_group = c.benchmark_group(group);
    criterion_group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    for variant in variants {
        criterion_group.bench_function(variant.name, |b| b.to_async(rt).iter(|| request(variant)));
    }
    criterion_group.finish();
}

/// Rounds of the in-process comparison.
const ROUNDS: usize = 9;

/// Rounds of the loopback comparison: more and shorter than in-process, so that a burst of load from
/// elsewhere on the machine spoils a few rounds of every variant rather than most of one.
const LOOPBACK_ROUNDS: usize = 31;

/// `rounds` interleaved rounds of `run(i)` for each variant `i` (`per_round` requests each); returns the
/// median requests per second of each.
fn interleaved(
    rt: &tokio::runtime::Runtime,
    names: impl Iterator<Item = &'static str>,
    rounds: usize,
    per_round: usize,
    mut run: impl AsyncFnMut(usize),
) -> Vec<(&'static str, f64)> {
    let names: Vec<_> = names.collect();
    let mut rates: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); names.len()];
    for _ in 0..rounds {
        for (i, rate) in rates.iter_mut().enumerate() {
            let started = Instant::now();
            rt.block_on(async {
                for _ in 0..per_round {
                    run(i).await;
                }
            });
            rate.push(per_round as f64 / started.elapsed().as_secs_f64());
        }
    }
    names
        .into_iter()
        .zip(rates.into_iter().map(median))
        .collect()
}

/// In-process interleaved rounds of each variant.
fn side_by_side(
    rt: &tokio::runtime::Runtime,
    variants: &[Variant],
    per_round: usize,
) -> Vec<(&'static str, f64)> {
    interleaved(
        rt,
        variants.iter().map(|v| v.name),
        ROUNDS,
        per_round,
        async |i| {
            std::hint::black_box(request(&variants[i]).await);
        },
    )
}

/// Interleaved rounds of each variant served on loopback, one keep-alive connection each.
fn side_by_side_loopback(
    rt: &tokio::runtime::Runtime,
    variants: &[Variant],
    per_round: usize,
) -> Vec<(&'static str, f64)> {
    let mut conns: Vec<comparisons::Conn> = rt
        .block_on(connect(variants, 1))
        .into_iter()
        .flatten()
        .collect();
    let names = variants.iter().map(|v| v.name);
    interleaved(rt, names, LOOPBACK_ROUNDS, per_round, async |i| {
        std::hint::black_box(conns[i].get().await);
    })
}

/// Serves each variant on loopback and opens `per_variant` keep-alive connections to it, each checked
/// with one request. The first sends the variant's cookie; each further one logs in for a session of its
/// own (different users), except on the plain handler, whose connections all send the same cookie.
async fn connect(variants: &[Variant], per_variant: usize) -> Vec<Vec<comparisons::Conn>> {
    let mut all = Vec::with_capacity(variants.len());
    for variant in variants {
        let addr = comparisons::serve(variant.router.clone()).await;
        let mut conns = Vec::with_capacity(per_variant);
        for n in 0..per_variant {
            let cookie = if n > 0 && variant.has_sessions {
                Some(login(&variant.app).await)
            } else {
                variant.cookie.clone()
            };
            let cookie = cookie.as_ref().map(HeaderValue::as_bytes);
            let mut conn = comparisons::Conn::open(addr, "/", cookie).await;
            // The body tells a read session (`42`) from a missing one (`none`).
            assert_eq!(conn.get().await, b"42", "{} over loopback", variant.name);
            conns.push(conn);
        }
        all.push(conns);
    }
    all
}

/// Connections of the concurrent loopback run, each with its own session (different users).
const CONCURRENT_CONNECTIONS: usize = 16;

/// Rounds of the concurrent loopback run, and how long each variant is driven in a round.
const CONCURRENT_ROUNDS: usize = 5;
const CONCURRENT_SLICE: Duration = Duration::from_millis(1000);

/// Interleaved rounds of each variant served on loopback to [`CONCURRENT_CONNECTIONS`] connections at once,
/// each one request at a time: requests per second as a busy server sees them (the store works on
/// several sessions' requests together, as it does in production).
fn side_by_side_concurrent(
    rt: &tokio::runtime::Runtime,
    variants: &[Variant],
) -> Vec<(&'static str, f64)> {
    let mut conns = rt.block_on(connect(variants, CONCURRENT_CONNECTIONS));
    let mut rates: Vec<Vec<f64>> = vec![Vec::with_capacity(CONCURRENT_ROUNDS); variants.len()];
    for _ in 0..CONCURRENT_ROUNDS {
        for (i, rate) in rates.iter_mut().enumerate() {
            let started = Instant::now();
            let (back, done) = rt.block_on(comparisons::keep_sending(
                std::mem::take(&mut conns[i]),
                started + CONCURRENT_SLICE,
            ));
            conns[i] = back;
            rate.push(done as f64 / started.elapsed().as_secs_f64());
        }
    }
    variants
        .iter()
        .map(|v| v.name)
        .zip(rates.into_iter().map(median))
        .collect()
}

/// A ratio `report` prints without a target.
const INFORMATION: f64 = 0.0;

fn report(
    group: &str,
    rounds: usize,
    rates: &[(&'static str, f64)],
    targets: &[(&str, &str, f64)],
) {
    let rate = |name: &str| rate_of(rates, name);
    println!("\n{group} ({rounds} interleaved rounds, median):");
    for (name, r) in rates {
        println!("  {name:<18} {r:>12.0} req/s");
    }
    for (ours, theirs, target) in targets {
        let ratio = rate(ours) / rate(theirs);
        if *target == INFORMATION {
            println!("  {ours} / {theirs} = {ratio:.2}x");
            continue;
        }
        let verdict = if ratio >= *target { "met" } else { "NOT met" };
        println!("  {ours} / {theirs} = {ratio:.2}x (target >= {target:.2}x: {verdict})");
    }
}

/// Whether to run `group`: all by default, or those listed in `SESSIONS_BENCH_GROUPS` (comma-separated:
/// `memory`, `sqlite_read`, `sqlite_write`, `redis`).
fn selected(group: &str) -> bool {
    std::env::var("SESSIONS_BENCH_GROUPS")
        .map(|groups| groups.split(',').any(|g| g.trim() == group))
        .unwrap_or(true)
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    if selected("memory") {
        memory(c, &rt);
    }
    let dir = std::env::temp_dir().join(format!("sessions-bench-{}", std::process::id()));
    if let Err(error) = std::fs::create_dir_all(&dir) {
        panic!("bench directory {}: {error}", dir.display());
    }
    // Each SQLite group: whether it writes, the target of `kit / tower_sessions`, and its requests per
    // round in-process and over loopback.
    for (name, write, target, per_round, per_round_loopback) in [
        ("sqlite_read", false, 1.5, 2_000, 300),
        ("sqlite_write", true, 10.0, 200, 50),
    ] {
        if selected(name) {
            let variants = rt.block_on(sqlite_group(&dir, write));
            Group {
                name,
                variants: &variants,
                targets: &[("kit", "tower_sessions", target)],
                per_round,
                per_round_loopback,
            }
            .run(c, &rt);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    if selected("redis") {
        redis(c, &rt);
    }
}

/// Whether only criterion's measurements run (`SESSIONS_BENCH_CRITERION_ONLY=1`, for profilers).
fn criterion_only() -> bool {
    std::env::var("SESSIONS_BENCH_CRITERION_ONLY").is_ok_and(|v| v == "1")
}

/// One group: criterion's measurement, then the side-by-side runs in-process (`per_round` requests a round)
/// and over loopback HTTP (`per_round_loopback`), each reported against `targets`.
struct Group<'a> {
    name: &'static str,
    variants: &'a [Variant],
    targets: &'a [(&'static str, &'static str, f64)],
    per_round: usize,
    per_round_loopback: usize,
}

impl Group<'_> {
    fn run(&self, c: &mut Criterion, rt: &tokio::runtime::Runtime) {
        measure(c, rt, &format!("sessions/{}", self.name), self.variants);
        if criterion_only() {
            return;
        }
        let rates = side_by_side(rt, self.variants, self.per_round);
        self.report("in-process", ROUNDS, &rates);
        self.over_loopback(rt, "");
        let rates = side_by_side_concurrent(rt, self.variants);
        self.report(
            &format!("loopback HTTP/1.1, {CONCURRENT_CONNECTIONS} connections with a session each"),
            CONCURRENT_ROUNDS,
            &rates,
        );
    }

    fn over_loopback(&self, rt: &tokio::runtime::Runtime, runtime_note: &str) {
        let rates = side_by_side_loopback(rt, self.variants, self.per_round_loopback);
        self.report(
            &format!("loopback HTTP/1.1{runtime_note}"),
            LOOPBACK_ROUNDS,
            &rates,
        );
    }

    /// Prints the `rates` of one way of running the group (`how`: `in-process`, …) against its targets.
    fn report(&self, how: &str, rounds: usize, rates: &[(&'static str, f64)]) {
        report(
            &format!("{}, {how}", self.name),
            rounds,
            rates,
            self.targets,
        );
    }
}

fn memory(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let memory = rt.block_on(memory_group());
    let group = Group {
        name: "memory_read",
        variants: &memory,
        targets: &[
            ("kit", "plain", 0.95),
            ("kit", "tower_sessions", 1.0),
            ("kit", "plain_layered", INFORMATION),
        ],
        per_round: 20_000,
        per_round_loopback: 1_000,
    };
    group.run(c, rt);
    if criterion_only() {
        return;
    }
    // The same on a two-worker runtime, as benches/hooks.rs serves (client and server may then sit on
    // different threads, as they would in different processes). The memory store is not tied to a
    // runtime, so its apps can move; the SQLite and Redis ones stay on the runtime that opened them.
    group.over_loopback(&comparisons::two_workers(), ", 2-worker runtime");
}

fn redis(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    match std::env::var("TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => match rt.block_on(redis_group(&url)) {
            Some(variants) => Group {
                name: "redis_read",
                variants: &variants,
                targets: &[
                    ("kit", "tower_sessions", 1.2),
                    ("kit_client_cache", "tower_sessions", 1.2),
                ],
                per_round: 2_000,
                per_round_loopback: 300,
            }
            .run(c, rt),
            None => println!("redis_read skipped: cannot connect to {url}"),
        },
        _ => println!("redis_read skipped: set TEST_REDIS_URL"),
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
