//! Sessions under load over loopback HTTP/1.1: requests per second (and latency) of tower-sessions-kit
//! beside tower-sessions (0.14, the version its sqlx and Redis stores are built on) with the matching store,
//! and beside the same handler without any session layer (`plain`, the limit every ratio is also stated
//! against).
//!
//! ```text
//! cargo bench --bench session_load
//! TEST_REDIS_URL=redis://127.0.0.1:6379 cargo bench --bench session_load
//! SESSION_LOAD_SECONDS=1 SESSION_LOAD_ROUNDS=5 SESSION_LOAD_STORES=memory,sqlite cargo bench --bench session_load
//! ```
//!
//! The workload, the same handler for every variant: `GET /incr` reads an integer counter from the session,
//! inserts counter + 1 and answers the new number as text; `GET /read` reads the counter and answers it
//! without writing. A session without a counter answers `404` (the store lost it), a session error `500`:
//! both count as errors, as does any response other than `200`. `plain` formats a number the same way,
//! without a session layer, for the same request bytes (the cookies of our variant of the case).
//!
//! Cases, for each store:
//!
//! - `write`: 256 sessions logged in up front (`GET /login`, one cookie each); the connections send
//!   `/incr` round-robin over them (connection `i` sends sessions `i`, `i + 32`, `i + 64`, … in turn);
//! - `hot`: every connection sends `/incr` with ONE session's cookie (a browser firing parallel requests
//!   at one session);
//! - `read`: 256 sessions as in `write`, `/read`.
//!
//! Stores, ours beside tower-sessions' matching one (opened in `benches/support/stores.rs`):
//!
//! - `memory`: `kit_memory_store()` against `tower_sessions::MemoryStore`;
//! - `sqlite`: `DatabaseStore` on a file of a temporary directory against tower-sessions-sqlx-store's
//!   `SqliteStore` on another file of it (opened as its README shows);
//! - `redis`, when `TEST_REDIS_URL` is set: `kit_redis_store(url)` against tower-sessions-redis-store (a
//!   fred pool of 6 connections).
//!
//! Each (case, store, library) is an app of its own, with a store of its own, served by `axum::serve` on
//! 127.0.0.1 from a tokio runtime of 2 worker threads. The load generator (`benches/support/load.rs`) runs
//! in the same process on a single-threaded tokio runtime on the main thread: a fixed number of keep-alive
//! connections, each one request at a time, for a warm-up (a quarter of the measured time) and then the
//! measured time. The client takes a share of the CPU the server would otherwise have, most visibly for
//! `plain`. Variants run interleaved in rounds (every variant once a round, in one order and then the
//! reverse), so machine noise hits all alike; the table shows the median of the rounds, of requests per second (`200`
//! responses in the measured time) and of each round's p50 and p99 latency.
//!
//! After the rounds, the counters of the `hot` and `write` sessions are read back and printed beside the
//! number of `/incr` requests answered `200` (warm-ups included): concurrent increments of one session
//! lose updates with either library (tower-sessions saves whole records; ours merges per key, and one key
//! written concurrently is last-writer-wins), so this is printed, not asserted.
//!
//! Settings (environment):
//!
//! - `SESSION_LOAD_SECONDS`: measured seconds per variant per round (default 2; fractions allowed);
//! - `SESSION_LOAD_ROUNDS`: rounds (default 3);
//! - `SESSION_LOAD_CONNECTIONS`: connections (default 32);
//! - `SESSION_LOAD_STORES`: the stores to run, comma-separated (default `memory,sqlite,redis`);
//! - `SESSION_LOAD_CASES`: the cases to run, comma-separated (default `write,hot,read`);
//! - `SESSION_LOAD_SIDES`: the sides to run, comma-separated (default `plain,ours,tower-sessions`; one
//!   side alone is for profiling it).
//!
//! The default run takes about three minutes with Redis.

mod support;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;

use support::load::{self, Load, Outcome};
use support::{get_request, median, stores, Wire};

/// Sessions logged in for the `write` and `read` cases.
const SESSIONS: usize = 256;

/// The session key of the counter.
const COUNTER: &str = "counter";

/// Connections that log the sessions in, at once.
const LOG_IN_CONNECTIONS: usize = 8;

/// A pattern of load (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Write,
    Hot,
    Read,
}

/// Every case, in the order they run and are reported.
const CASES: [Case; 3] = [Case::Write, Case::Hot, Case::Read];

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Write => "write",
            Case::Hot => "hot",
            Case::Read => "read",
        }
    }

    /// The route the load sends.
    fn path(self) -> &'static str {
        match self {
            Case::Read => "/read",
            Case::Write | Case::Hot => "/incr",
        }
    }

    fn sessions(self) -> usize {
        match self {
            Case::Hot => 1,
            Case::Write | Case::Read => SESSIONS,
        }
    }
}

/// Which side of the comparison a variant is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Plain,
    Ours,
    Peer,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Plain => "plain",
            Side::Ours => "ours",
            Side::Peer => "tower-sessions",
        }
    }
}

/// One served app and the load it gets.
struct Variant {
    case: Case,
    /// `memory`, `sqlite`, `redis`; empty for `plain`.
    store: &'static str,
    side: Side,
    addr: SocketAddr,
    /// The `name=value` cookie of each session.
    cookies: Vec<Vec<u8>>,
    /// The request of each session.
    requests: Vec<Vec<u8>>,
    /// Each round's outcome (latencies dropped once summarised).
    rounds: Vec<Round>,
    /// `200` responses over all rounds, warm-ups included.
    answered: u64,
    errors: u64,
    first_error: Option<String>,
}

/// What is kept of one round of a variant.
struct Round {
    rate: f64,
    p50: Option<Duration>,
    p99: Option<Duration>,
}

impl Variant {
    fn new(
        case: Case,
        store: &'static str,
        side: Side,
        addr: SocketAddr,
        cookies: Vec<Vec<u8>>,
    ) -> Self {
        let requests = cookies
            .iter()
            .map(|cookie| get_request(case.path(), Some(cookie)))
            .collect();
        Variant {
            case,
            store,
            side,
            addr,
            cookies,
            requests,
            rounds: Vec::new(),
            answered: 0,
            errors: 0,
            first_error: None,
        }
    }

    fn label(&self) -> String {
        let side = self.side.name();
        if self.store.is_empty() {
            format!("{} {side}", self.case.name())
        } else {
            format!("{} {} {side}", self.case.name(), self.store)
        }
    }

    fn record(&mut self, outcome: Outcome) {
        self.rounds.push(Round {
            rate: outcome.rate(),
            p50: outcome.percentile(0.5),
            p99: outcome.percentile(0.99),
        });
        self.answered += outcome.answered;
        self.errors += outcome.errors;
        if self.first_error.is_none() {
            self.first_error = outcome.first_error;
        }
    }

    fn rate(&self) -> f64 {
        median(self.rounds.iter().map(|r| r.rate).collect())
    }

    /// The median over the rounds of each round's quantile (`pick`), in microseconds.
    fn latency(&self, pick: impl Fn(&Round) -> Option<Duration>) -> f64 {
        median(
            self.rounds
                .iter()
                .filter_map(&pick)
                .map(|d| d.as_secs_f64() * 1e6)
                .collect(),
        )
    }
}

// ---- the apps ----------------------------------------------------------------------------------------------

/// The session app's routes, for either library's `Session` (the two share these methods but no trait):
/// `/login` starts a session with the counter at 0, `/incr` and `/read` as the module says, `/logout` ends
/// the session.
macro_rules! session_routes {
    ($session:ty) => {
        Router::new()
            .route(
                "/login",
                get(|session: $session| async move {
                    match session.insert(COUNTER, &0_u64).await {
                        Ok(()) => (StatusCode::OK, "0".to_owned()),
                        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
                    }
                }),
            )
            .route(
                "/incr",
                get(|session: $session| async move {
                    match session.get::<u64>(COUNTER).await {
                        Ok(Some(n)) => match session.insert(COUNTER, &(n + 1)).await {
                            Ok(()) => (StatusCode::OK, (n + 1).to_string()),
                            Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
                        },
                        Ok(None) => (StatusCode::NOT_FOUND, "no counter".to_owned()),
                        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
                    }
                }),
            )
            .route(
                "/read",
                get(|session: $session| async move {
                    match session.get::<u64>(COUNTER).await {
                        Ok(Some(n)) => (StatusCode::OK, n.to_string()),
                        Ok(None) => (StatusCode::NOT_FOUND, "no counter".to_owned()),
                        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
                    }
                }),
            )
            .route(
                "/logout",
                get(|session: $session| async move {
                    match session.flush().await {
                        Ok(()) => (StatusCode::OK, String::new()),
                        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
                    }
                }),
            )
    };
}

fn ours(store: impl tower_sessions_kit::SessionStore) -> Router {
    session_routes!(tower_sessions_kit::Session)
        .layer(tower_sessions_kit::SessionLayer::new(store).secure(false))
}

fn peer<S: tower_sessions::SessionStore + Clone>(store: S) -> Router {
    session_routes!(tower_sessions::Session)
        .layer(tower_sessions::SessionManagerLayer::new(store).with_secure(false))
}

/// The handlers' shape without sessions: a number formatted into the body.
fn plain() -> Router {
    let answer = || async {
        (
            StatusCode::OK,
            (std::hint::black_box(41_u64) + 1).to_string(),
        )
    };
    Router::new()
        .route("/incr", get(answer))
        .route("/read", get(answer))
}

// ---- setup -----------------------------------------------------------------------------------------------

/// The run's settings, from the environment.
struct Settings {
    load: Load,
    rounds: usize,
    stores: Vec<String>,
    /// The cases to run, in the order of [`CASES`].
    cases: Vec<Case>,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value}: not a valid value")),
        Err(_) => default,
    }
}

/// The comma-separated names in the variable `name`, else in `default`.
fn list(name: &str, default: &str) -> Vec<String> {
    env_or(name, default.to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

impl Settings {
    fn from_env() -> Self {
        let seconds: f64 = env_or("SESSION_LOAD_SECONDS", 2.0);
        assert!(
            seconds.is_finite() && seconds > 0.0,
            "SESSION_LOAD_SECONDS must be positive"
        );
        let duration = Duration::from_secs_f64(seconds);
        Settings {
            load: Load {
                connections: env_or("SESSION_LOAD_CONNECTIONS", 32_usize).max(1),
                warm_up: duration / 4,
                duration,
            },
            rounds: env_or("SESSION_LOAD_ROUNDS", 3_usize).max(1),
            stores: list("SESSION_LOAD_STORES", "memory,sqlite,redis"),
            cases: {
                let names = list("SESSION_LOAD_CASES", "write,hot,read");
                CASES
                    .into_iter()
                    .filter(|case| names.iter().any(|name| name == case.name()))
                    .collect()
            },
        }
    }
}

/// What serves the apps and what drives them.
struct Runtimes {
    server: tokio::runtime::Runtime,
    client: tokio::runtime::Runtime,
}

impl Runtimes {
    /// Serves `router` on the server runtime.
    fn serve(&self, router: Router) -> SocketAddr {
        self.server.block_on(support::serve(router))
    }

    /// `count` sessions of the app at `addr`, logged in over loopback.
    fn log_in(&self, addr: SocketAddr, count: usize) -> std::io::Result<Vec<Vec<u8>>> {
        self.client
            .block_on(load::log_in_many(addr, "/login", count, LOG_IN_CONNECTIONS))
    }
}

/// The ours/peer pair of `store` for each case, each app served with a store of its own (`open` makes one
/// pair of stores, on the server runtime). `None` (with the reason) when a store cannot serve.
fn store_variants<O, P>(
    rt: &Runtimes,
    cases: &[Case],
    store: &'static str,
    mut open: impl FnMut(Case) -> Result<(O, P), String>,
) -> Result<Vec<Variant>, String>
where
    O: tower_sessions_kit::SessionStore,
    P: tower_sessions::SessionStore + Clone,
{
    let mut variants = Vec::new();
    for &case in cases {
        let (our_store, peer_store) = open(case)?;
        for (side, router) in [
            (Side::Ours, ours(our_store)),
            (Side::Peer, peer(peer_store)),
        ] {
            let addr = rt.serve(router);
            let cookies = rt
                .log_in(addr, case.sessions())
                .map_err(|error| format!("{store} {} log-in: {error}", case.name()))?;
            variants.push(Variant::new(case, store, side, addr, cookies));
        }
    }
    Ok(variants)
}

/// Sessions' cookies shaped as ours are (`sessionid=` and 32 characters), for `plain` when no store runs.
fn stand_in_cookies(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| format!("sessionid={i:032}").into_bytes())
        .collect()
}

// ---- the run -------------------------------------------------------------------------------------------

fn main() {
    // `cargo bench` passes `--bench`; a filter or other flags mean nothing here.
    let settings = Settings::from_env();
    let rt = Runtimes {
        server: support::two_workers(),
        client: support::runtime(),
    };
    let dir = tempfile::tempdir().expect("temporary directory");

    let mut variants: Vec<Variant> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let selected = |name: &str| settings.stores.iter().any(|s| s == name);
    if selected("memory") {
        let opened = store_variants(&rt, &settings.cases, "memory", |_| {
            Ok((
                stores::kit_memory_store(),
                tower_sessions::MemoryStore::default(),
            ))
        });
        push_or_note(&mut variants, &mut notes, opened);
    }
    if selected("sqlite") {
        let opened = store_variants(&rt, &settings.cases, "sqlite", |case| {
            let ours = dir.path().join(format!("kit-{}.db", case.name()));
            let theirs = dir
                .path()
                .join(format!("tower-sessions-{}.db", case.name()));
            Ok(rt.server.block_on(async {
                (
                    stores::kit_sqlite_store(&ours).await,
                    stores::peer_sqlite_store(&theirs).await,
                )
            }))
        });
        push_or_note(&mut variants, &mut notes, opened);
    }
    if selected("redis") {
        match std::env::var("TEST_REDIS_URL") {
            Ok(url) if !url.is_empty() => {
                let opened = store_variants(&rt, &settings.cases, "redis", |_| {
                    rt.server.block_on(async {
                        let ours = stores::kit_redis_store(&url).await;
                        let theirs = stores::peer_redis_store(&url).await;
                        match (ours, theirs) {
                            (Ok(ours), Ok(theirs)) => Ok((ours, theirs)),
                            (Err(error), _) | (_, Err(error)) => {
                                Err(format!("redis at {url}: {error}"))
                            }
                        }
                    })
                });
                push_or_note(&mut variants, &mut notes, opened);
            }
            _ => notes.push("redis skipped: set TEST_REDIS_URL".to_owned()),
        }
    }

    // `plain` for each case, first of the case, with our variant's cookies (the same request bytes); then
    // the cases together, in the order of `CASES` (a stable sort), each round running a case back to back.
    let plain_addr = rt.serve(plain());
    let plains: Vec<Variant> = settings
        .cases
        .iter()
        .map(|&case| {
            let cookies = variants
                .iter()
                .find(|v| v.case == case && v.side == Side::Ours)
                .map_or_else(|| stand_in_cookies(case.sessions()), |v| v.cookies.clone());
            Variant::new(case, "", Side::Plain, plain_addr, cookies)
        })
        .collect();
    variants.splice(0..0, plains);
    variants.sort_by_key(|v| CASES.iter().position(|c| *c == v.case));
    // For profilers: only the named sides run (the table then has gaps).
    let sides = list("SESSION_LOAD_SIDES", "plain,ours,tower-sessions");
    variants.retain(|v| sides.iter().any(|side| side == v.side.name()));

    let load = settings.load;
    eprintln!(
        "session_load: {} variants, {} rounds of {:.1} s (+{:.2} s warm-up) each, {} connections",
        variants.len(),
        settings.rounds,
        load.duration.as_secs_f64(),
        load.warm_up.as_secs_f64(),
        load.connections
    );
    for round in 1..=settings.rounds {
        // Forward in odd rounds, backward in even ones: no variant always follows the same neighbour.
        let mut order: Vec<usize> = (0..variants.len()).collect();
        if round % 2 == 0 {
            order.reverse();
        }
        for i in order {
            let variant = &mut variants[i];
            let outcome = rt
                .client
                .block_on(load::run(variant.addr, &variant.requests, &load));
            eprintln!(
                "round {round}/{}: {:<32} {:>9.0} req/s{}",
                settings.rounds,
                variant.label(),
                outcome.rate(),
                if outcome.errors > 0 {
                    format!(" ({} errors)", outcome.errors)
                } else {
                    String::new()
                }
            );
            variant.record(outcome);
        }
    }

    let counters = rt.client.block_on(read_back(&variants));
    print_report(&settings, &variants, &notes, &counters);
    // Logged out, so that no session outlives the run in a shared Redis.
    rt.client.block_on(log_out(&variants));
    // Idle servers and their stores go with the runtime; the temporary directory after them.
    drop(rt);
    drop(dir);
}

fn push_or_note(
    variants: &mut Vec<Variant>,
    notes: &mut Vec<String>,
    opened: Result<Vec<Variant>, String>,
) {
    match opened {
        Ok(opened) => variants.extend(opened),
        Err(reason) => notes.push(format!("skipped: {reason}")),
    }
}

// ---- after the run -------------------------------------------------------------------------------------

/// What the counters of a `hot` or `write` variant's sessions hold after the run.
struct Counters {
    label: String,
    case: Case,
    /// `/incr` answered `200`, warm-ups included.
    answered: u64,
    /// The sum of the sessions' counters.
    sum: u64,
    /// Sessions read back without a counter, or not read at all (an error).
    missing: usize,
    sessions: usize,
}

/// Reads each counting session's counter through `/read` of its own app.
async fn read_back(variants: &[Variant]) -> Vec<Counters> {
    let mut all = Vec::new();
    for variant in variants {
        if variant.side == Side::Plain || variant.case == Case::Read {
            continue;
        }
        let mut counters = Counters {
            label: variant.label(),
            case: variant.case,
            answered: variant.answered,
            sum: 0,
            missing: 0,
            sessions: variant.cookies.len(),
        };
        let mut wire = match Wire::connect(variant.addr).await {
            Ok(wire) => wire,
            Err(_) => {
                counters.missing = counters.sessions;
                all.push(counters);
                continue;
            }
        };
        for cookie in &variant.cookies {
            let value = match wire.exchange(&get_request("/read", Some(cookie))).await {
                Ok(reply) if reply.status == 200 => std::str::from_utf8(reply.body)
                    .ok()
                    .and_then(|body| body.parse::<u64>().ok()),
                _ => None,
            };
            match value {
                Some(n) => counters.sum += n,
                None => counters.missing += 1,
            }
        }
        all.push(counters);
    }
    all
}

/// Ends every session the run made (each `GET /logout` with its cookie); failures are ignored, the
/// results are printed already.
async fn log_out(variants: &[Variant]) {
    for variant in variants.iter().filter(|v| v.side != Side::Plain) {
        let Ok(mut wire) = Wire::connect(variant.addr).await else {
            continue;
        };
        for cookie in &variant.cookies {
            if wire
                .exchange(&get_request("/logout", Some(cookie)))
                .await
                .is_err()
            {
                break;
            }
        }
    }
}

fn print_report(
    settings: &Settings,
    variants: &[Variant],
    notes: &[String],
    counters: &[Counters],
) {
    let load = settings.load;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n## Sessions under load, loopback HTTP/1.1\n\n\
         Server: `axum::serve` on a tokio runtime of 2 worker threads. Load generator: the same process, a \
         single-threaded tokio runtime on its own thread, {} keep-alive connections each one request at a time; \
         {} interleaved rounds of {:.1} s per variant after a {:.2} s warm-up; medians of the rounds. \
         {} sessions for `write` and `read`, one for `hot`. Latency: p50 / p99 in µs.\n",
        load.connections,
        settings.rounds,
        load.duration.as_secs_f64(),
        load.warm_up.as_secs_f64(),
        SESSIONS,
    );
    for note in notes {
        let _ = writeln!(out, "- {note}");
    }
    if !notes.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "| case | store | ours req/s | tower-sessions req/s | ours/peer | ours/plain | peer/plain | ours p50 / p99 | peer p50 / p99 | errors ours / peer |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut stores: Vec<&str> = Vec::new();
    for v in variants {
        if !v.store.is_empty() && !stores.contains(&v.store) {
            stores.push(v.store);
        }
    }
    let mut flagged = Vec::new();
    for &case in &settings.cases {
        let find = |store: &str, side: Side| {
            variants
                .iter()
                .find(|v| v.case == case && v.store == store && v.side == side)
        };
        let plain = find("", Side::Plain);
        let plain_rate = plain.map_or(f64::NAN, Variant::rate);
        if let Some(plain) = plain {
            let _ = writeln!(
                out,
                "| {} | plain (no session layer) | {} | | | | | {} | | {} |",
                case.name(),
                rate_cell(plain),
                latency_cell(Some(plain)),
                errors_cell(Some(plain)),
            );
        }
        for store in &stores {
            let (ours, theirs) = (find(store, Side::Ours), find(store, Side::Peer));
            let rate = |v: Option<&Variant>| v.map_or(f64::NAN, Variant::rate);
            let _ = writeln!(
                out,
                "| {} | {store} | {} | {} | {} | {} | {} | {} | {} | {} / {} |",
                case.name(),
                ours.map_or_else(String::new, rate_cell),
                theirs.map_or_else(String::new, rate_cell),
                ratio(rate(ours), rate(theirs)),
                ratio(rate(ours), plain_rate),
                ratio(rate(theirs), plain_rate),
                latency_cell(ours),
                latency_cell(theirs),
                errors_cell(ours),
                errors_cell(theirs),
            );
        }
        flagged.extend(variants.iter().filter(|v| v.case == case && v.errors > 0));
    }
    if !flagged.is_empty() {
        let _ = writeln!(
            out,
            "\nVariants with errors (their req/s count `200` responses only):\n"
        );
        for v in flagged {
            let _ = writeln!(
                out,
                "- {}: {} errors; first: {}",
                v.label(),
                v.errors,
                v.first_error.as_deref().unwrap_or("?")
            );
        }
    }
    let _ = writeln!(
        out,
        "\nCounters after the run (`/incr` answered `200` over all rounds and warm-ups, against the sum of \
         the sessions' counters; concurrent increments of one session may be lost):\n"
    );
    for c in counters {
        let lost = c.answered.saturating_sub(c.sum);
        let lost_share = if c.answered == 0 {
            0.0
        } else {
            100.0 * lost as f64 / c.answered as f64
        };
        let sessions = match c.case {
            Case::Hot => "the session holds".to_owned(),
            _ => format!("{} sessions hold", c.sessions),
        };
        let _ = writeln!(
            out,
            "- {}: {} answered, {sessions} {} ({lost} lost, {lost_share:.1}%){}",
            c.label,
            c.answered,
            c.sum,
            if c.missing > 0 {
                format!("; {} sessions without a counter", c.missing)
            } else {
                String::new()
            }
        );
    }
    print!("{out}");
}

fn rate_cell(v: &Variant) -> String {
    if v.errors > 0 {
        format!("{:.0} (errors)", v.rate())
    } else {
        format!("{:.0}", v.rate())
    }
}

fn latency_cell(v: Option<&Variant>) -> String {
    v.map_or_else(String::new, |v| {
        format!("{:.0} / {:.0}", v.latency(|r| r.p50), v.latency(|r| r.p99))
    })
}

fn errors_cell(v: Option<&Variant>) -> String {
    v.map_or_else(String::new, |v| v.errors.to_string())
}

fn ratio(a: f64, b: f64) -> String {
    let r = a / b;
    if r.is_finite() {
        format!("{r:.2}")
    } else {
        "–".to_owned()
    }
}
