//! The load benchmark's run: every configuration served in-process on its own loopback port by
//! `axum::serve`, driven by the built-in load generator ([`crate::load`]), configurations interleaved in
//! rounds so that machine noise hits all alike; then the figures as [`Results`].
//!
//! The servers run on a tokio runtime of two worker threads, the load generator on the calling thread (a
//! single-threaded runtime): on a 2-core machine the client takes CPU the servers would otherwise have,
//! alike for every configuration, most visibly for the plain handlers.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::apps::page::{self, Renders};
use crate::apps::sessions::{self, Case};
use crate::apps::App;
use crate::load::{self, Load, Outcome};
use crate::results::{group, library, round_ratio, Flight, Machine, Results, Row, RunSettings};
use crate::stores;
use crate::targets::setup;
use crate::{get_request, median, runtime, serve, serve_app, Wire};

/// Worker threads of the servers' runtime.
const SERVER_THREADS: usize = 2;

/// Connections that log the sessions in, at once.
const LOG_IN_CONNECTIONS: usize = 8;

/// A run's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Connections, warm-up and measured time of each configuration in each round.
    pub load: Load,
    /// Rounds.
    pub rounds: usize,
    /// Sessions the write and read cases go round.
    pub sessions: usize,
    /// Concurrent requests of a cold flight.
    pub flight_requests: usize,
    /// Only the configurations whose `group: label` contains one of these (all when empty).
    pub only: Vec<String>,
    /// The Redis server of the Redis configurations (skipped when `None`).
    pub redis_url: Option<String>,
}

/// The variables [`Settings::from_env`] reads, with their defaults.
const VARIABLES: [(&str, &str); 6] = [
    ("LOAD_SECONDS", "1.2"),
    ("LOAD_ROUNDS", "5"),
    ("LOAD_CONNECTIONS", "32"),
    ("LOAD_SESSIONS", "256"),
    ("LOAD_FLIGHT_REQUESTS", "200"),
    ("LOAD_ONLY", ""),
];

/// The parts of `LOAD_ONLY`: comma-separated, except that a part starting with `=` takes the rest of the
/// value, commas included (whole names such as "session read: tower-django · Redis, CacheStore" hold
/// commas).
fn only(value: &str) -> Vec<String> {
    let (parts, whole) = match value.split_once('=') {
        Some((parts, whole)) => (parts, Some(format!("={}", whole.trim()))),
        None => (value, None),
    };
    parts
        .split(',')
        .map(|part| part.trim().to_owned())
        .filter(|part| !part.is_empty())
        .chain(whole)
        .collect()
}

fn variable(name: &str) -> String {
    let default = VARIABLES
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, d)| d);
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn parsed<T: std::str::FromStr>(name: &str) -> Result<T, String> {
    let value = variable(name);
    value
        .trim()
        .parse()
        .map_err(|_| format!("{name}={value}: not a valid value"))
}

impl Settings {
    /// The settings from the environment: `LOAD_SECONDS` (measured seconds per configuration per round,
    /// default 1.2), `LOAD_ROUNDS` (5), `LOAD_CONNECTIONS` (32), `LOAD_SESSIONS` (256),
    /// `LOAD_FLIGHT_REQUESTS` (200), `LOAD_ONLY` (comma-separated parts of configuration names; after a
    /// `=`, the rest is one whole name) and `TEST_REDIS_URL`.
    ///
    /// # Errors
    ///
    /// When a variable does not parse or is out of range.
    pub fn from_env() -> Result<Self, String> {
        let seconds: f64 = parsed("LOAD_SECONDS")?;
        if !(seconds.is_finite() && seconds > 0.0 && seconds <= 600.0) {
            return Err(format!("LOAD_SECONDS={seconds}: between 0 and 600"));
        }
        let duration = Duration::from_secs_f64(seconds);
        let positive = |name: &str| -> Result<usize, String> {
            match parsed::<usize>(name)? {
                0 => Err(format!("{name} must be at least 1")),
                n => Ok(n),
            }
        };
        Ok(Self {
            load: Load {
                connections: positive("LOAD_CONNECTIONS")?,
                warm_up: duration / 4,
                duration,
            },
            rounds: positive("LOAD_ROUNDS")?,
            sessions: positive("LOAD_SESSIONS")?,
            flight_requests: positive("LOAD_FLIGHT_REQUESTS")?,
            only: only(&variable("LOAD_ONLY")),
            redis_url: std::env::var("TEST_REDIS_URL")
                .ok()
                .filter(|url| !url.is_empty()),
        })
    }

    /// The command that runs with these settings: the variables that differ from their defaults, then
    /// `cargo bench --bench load`.
    pub fn command(&self) -> String {
        let mut parts: Vec<String> = VARIABLES
            .iter()
            .filter_map(|(name, default)| {
                let value = std::env::var(name).ok()?;
                (value != *default).then(|| format!("{name}={value}"))
            })
            .collect();
        if self.redis_url.is_some() {
            parts.push("TEST_REDIS_URL=redis://…".to_owned());
        }
        parts.push("cargo bench --bench load".to_owned());
        parts.join(" ")
    }

    fn selects(&self, group: &str, setup: &str, library: &str) -> bool {
        let name = format!("{group}: {library} · {setup}");
        self.only.is_empty()
            || self.only.iter().any(|part| match part.strip_prefix('=') {
                Some(whole) => name == whole,
                None => name.contains(part.as_str()),
            })
    }
}

/// One configuration under load.
struct Configuration {
    group: &'static str,
    setup: String,
    library: &'static str,
    addr: SocketAddr,
    /// What the connections send, in turn (see [`load::run`]).
    requests: Vec<Vec<u8>>,
    /// The sessions' cookies, logged out after the run.
    cookies: Vec<Vec<u8>>,
    outcomes: Vec<Outcome>,
}

/// One page app's cold flights.
struct FlightTarget {
    setup: String,
    library: &'static str,
    addr: SocketAddr,
    renders: Renders,
    counts: Vec<u64>,
    errors: u64,
}

/// The runtimes: the servers' and the load generator's.
struct Runtimes {
    server: tokio::runtime::Runtime,
    client: tokio::runtime::Runtime,
}

/// Everything a run sets up before its rounds.
#[derive(Default)]
struct Setup {
    configurations: Vec<Configuration>,
    flights: Vec<FlightTarget>,
    notes: Vec<String>,
}

/// Runs every selected configuration as `settings` say, printing progress on stderr.
///
/// # Errors
///
/// When the run cannot be set up at all (no runtime, no temporary directory).
pub fn run(settings: &Settings) -> Result<Results, String> {
    let started = Instant::now();
    let rt = Runtimes {
        server: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(SERVER_THREADS)
            .enable_all()
            .build()
            .map_err(|error| format!("server runtime: {error}"))?,
        client: runtime(),
    };
    let dir = tempfile::tempdir().map_err(|error| format!("temporary directory: {error}"))?;
    let mut setup = Setup::default();
    set_up_pages(&rt, settings, &mut setup);
    set_up_sessions(&rt, settings, dir.path(), &mut setup);
    let load = settings.load;
    eprintln!(
        "load: {} configurations and {} cold flights, {} rounds of {:.1} s (+{:.2} s warm-up) each, {} connections",
        setup.configurations.len(),
        setup.flights.len(),
        settings.rounds,
        load.duration.as_secs_f64(),
        load.warm_up.as_secs_f64(),
        load.connections,
    );
    for round in 1..=settings.rounds {
        // Forward in odd rounds, backward in even ones: no configuration always follows the same one.
        let mut order: Vec<usize> = (0..setup.configurations.len()).collect();
        if round % 2 == 0 {
            order.reverse();
        }
        for i in order {
            let configuration = &mut setup.configurations[i];
            let outcome = rt.client.block_on(load::run(
                configuration.addr,
                &configuration.requests,
                &load,
            ));
            eprintln!(
                "round {round}/{}: {:<18} {:<52} {:>8.0} req/s{}",
                settings.rounds,
                configuration.group,
                format!("{} · {}", configuration.library, configuration.setup),
                outcome.rate(),
                if outcome.errors > 0 {
                    format!(" ({} errors)", outcome.errors)
                } else {
                    String::new()
                }
            );
            configuration.outcomes.push(outcome);
        }
        for flight in &mut setup.flights {
            fly(&rt, settings, round, flight);
        }
    }
    rt.client.block_on(log_out(&setup.configurations));
    let results = Results {
        date: today(),
        machine: machine(),
        command: settings.command(),
        settings: RunSettings {
            connections: load.connections,
            seconds: load.duration.as_secs_f64(),
            warm_up_seconds: load.warm_up.as_secs_f64(),
            rounds: settings.rounds,
            sessions: settings.sessions,
            flight_requests: settings.flight_requests,
            server_threads: SERVER_THREADS,
        },
        rows: rows(&setup.configurations),
        flights: setup
            .flights
            .iter()
            .map(|flight| Flight {
                setup: flight.setup.clone(),
                library: flight.library.to_owned(),
                renders: flight.counts.clone(),
                errors: flight.errors,
            })
            .collect(),
        notes: setup.notes,
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    // Idle servers and their stores go with the runtimes; the temporary directory after them.
    drop(rt);
    drop(dir);
    Ok(results)
}

// ---- pages -----------------------------------------------------------------------------------------------

/// The page group: the plain handler, `HooksLayer`, our page cache on memory and Redis, the peers' page
/// caches; each also flies cold but the hooks.
fn set_up_pages(rt: &Runtimes, settings: &Settings, setup: &mut Setup) {
    let body = page::page();
    let redis = settings.redis_url.as_deref();
    let candidates: [(&str, &'static str, bool); 9] = [
        ("", library::PLAIN, true),
        (setup::FIVE_NOOP_HOOKS, library::OURS, false),
        (setup::MEMORY, library::OURS, true),
        (setup::MEMORY_TAGGED, library::OURS, false),
        (setup::REDIS_CLIENT_CACHE, library::OURS, true),
        (setup::REDIS, library::OURS, true),
        (setup::MEMORY, library::AXUM_RESPONSE_CACHE, true),
        (setup::MEMORY, library::TOWER_HTTP_CACHE, true),
        (setup::MEMORY, library::HITBOX, true),
    ];
    for (name, lib, flies) in candidates {
        if !settings.selects(group::PAGE, name, lib) {
            continue;
        }
        let renders = Renders::default();
        let routes = page::routes(body.clone(), &renders);
        let app: Result<App, String> = match (name, lib) {
            ("", library::PLAIN) => Ok(page::plain(routes)),
            (setup::FIVE_NOOP_HOOKS, _) => Ok(page::hooks(routes)),
            (setup::MEMORY | setup::MEMORY_TAGGED, library::OURS) => page::memory_cache()
                .and_then(|cache| page::ours(cache, name == setup::MEMORY_TAGGED, routes)),
            (setup::REDIS_CLIENT_CACHE | setup::REDIS, _) => match redis {
                Some(url) => rt
                    .server
                    .block_on(page::redis_cache(url, name == setup::REDIS_CLIENT_CACHE))
                    .and_then(|cache| page::ours(cache, false, routes)),
                None => Err("set TEST_REDIS_URL".to_owned()),
            },
            (_, library::AXUM_RESPONSE_CACHE) => Ok(page::axum_response_cache(routes)),
            (_, library::TOWER_HTTP_CACHE) => Ok(page::tower_http_cache(routes)),
            (_, library::HITBOX) => Ok(page::hitbox(routes)),
            _ => Err("no such configuration".to_owned()),
        };
        let label = format!("{}: {lib} · {name}", group::PAGE);
        let app = match app {
            Ok(app) => app,
            Err(reason) => {
                setup.notes.push(format!("{label} skipped: {reason}"));
                continue;
            }
        };
        let addr = rt.server.block_on(serve_app(app));
        if let Err(reason) = rt.client.block_on(check_page(addr, body.len())) {
            setup.notes.push(format!("{label} skipped: {reason}"));
            continue;
        }
        if flies {
            setup.flights.push(FlightTarget {
                setup: name.to_owned(),
                library: lib,
                addr,
                renders,
                counts: Vec::new(),
                errors: 0,
            });
        }
        setup.configurations.push(Configuration {
            group: group::PAGE,
            setup: name.to_owned(),
            library: lib,
            addr,
            requests: vec![get_request(page::PAGE_PATH, None)],
            cookies: Vec::new(),
            outcomes: Vec::new(),
        });
    }
}

/// Asks for the page twice (the second answer comes from the cache, where there is one): both must be
/// `200` with the whole page.
async fn check_page(addr: SocketAddr, size: usize) -> Result<(), String> {
    let mut wire = Wire::connect(addr)
        .await
        .map_err(|error| format!("connect: {error}"))?;
    for _ in 0..2 {
        let reply = wire
            .exchange(&get_request(page::PAGE_PATH, None))
            .await
            .map_err(|error| format!("exchange: {error}"))?;
        if reply.status != 200 || reply.body.len() != size {
            return Err(format!(
                "answered {} with {} bytes instead of 200 with {size}",
                reply.status,
                reply.body.len()
            ));
        }
    }
    Ok(())
}

/// One cold flight of `flight`'s app: [`Settings::flight_requests`] requests at once for a page of this
/// round that no cache holds yet; records how many reached the handler.
fn fly(rt: &Runtimes, settings: &Settings, round: usize, flight: &mut FlightTarget) {
    let before = flight.renders.count();
    let request = get_request(&format!("/slow/{round}"), None);
    match rt
        .client
        .block_on(load::burst(flight.addr, &request, settings.flight_requests))
    {
        Ok(seen) => flight.errors += seen.errors,
        Err(_) => flight.errors += settings.flight_requests as u64,
    }
    flight.counts.push(flight.renders.count() - before);
}

// ---- sessions --------------------------------------------------------------------------------------------

/// The session groups: for each case the plain handler, then ours and tower-sessions on each store, each
/// app with a store of its own.
fn set_up_sessions(rt: &Runtimes, settings: &Settings, dir: &Path, setup: &mut Setup) {
    for case in Case::ALL {
        let group = group_of(case);
        let first = setup.configurations.len();
        for store in setup::SESSION_STORES
            .into_iter()
            .chain(setup::REPLACED_SESSION_STORES)
        {
            for lib in [library::OURS, library::TOWER_SESSIONS] {
                // tower-sessions has no client-side cache: its Redis row stands beside both of ours. Our
                // stores as they were when #14 was filed stand beside ours only.
                let peer_has_it =
                    setup::SESSION_STORES.contains(&store) && store != setup::REDIS_CLIENT_CACHE;
                if !(lib == library::OURS || peer_has_it) || !settings.selects(group, store, lib) {
                    continue;
                }
                let label = format!("{group}: {lib} · {store}");
                match session_app(rt, settings, dir, case, store, lib) {
                    Ok(configuration) => setup.configurations.push(configuration),
                    Err(reason) => setup.notes.push(format!("{label} skipped: {reason}")),
                }
            }
        }
        if !settings.selects(group, "", library::PLAIN) {
            continue;
        }
        // The plain handler sends our first store's requests (the same bytes), first of its group.
        let requests = setup.configurations[first..]
            .iter()
            .find(|c| c.library == library::OURS)
            .map_or_else(
                || {
                    requests(
                        case,
                        &sessions::stand_in_cookies(case.sessions(settings.sessions)),
                    )
                },
                |c| c.requests.clone(),
            );
        let addr = rt.server.block_on(serve(sessions::plain()));
        setup.configurations.insert(
            first,
            Configuration {
                group,
                setup: String::new(),
                library: library::PLAIN,
                addr,
                requests,
                cookies: Vec::new(),
                outcomes: Vec::new(),
            },
        );
    }
}

fn group_of(case: Case) -> &'static str {
    match case {
        Case::Write => group::SESSION_WRITE,
        Case::Hot => group::SESSION_HOT,
        Case::Read => group::SESSION_READ,
    }
}

/// `case`'s requests with `cookies`.
fn requests(case: Case, cookies: &[Vec<u8>]) -> Vec<Vec<u8>> {
    cookies
        .iter()
        .map(|cookie| get_request(case.path(), Some(cookie)))
        .collect()
}

/// How many sessions the client-side cache of the "Redis, client-side cache" session setup holds: all
/// of the run's.
const SESSION_CLIENT_CACHE_ENTRIES: usize = 100_000;

/// The session app of `lib` on `store` for `case`, served, its sessions logged in.
fn session_app(
    rt: &Runtimes,
    settings: &Settings,
    dir: &Path,
    case: Case,
    store: &str,
    lib: &'static str,
) -> Result<Configuration, String> {
    let ours = lib == library::OURS;
    let file = dir.join(format!(
        "{}-{}.db",
        case.name(),
        if ours { "ours" } else { "peer" }
    ));
    let router = rt.server.block_on(async {
        match (store, ours) {
            (setup::MEMORY, true) => Ok(sessions::ours(stores::kit_memory_store())),
            (setup::MEMORY, false) => Ok(sessions::peer(tower_sessions::MemoryStore::default())),
            (setup::MEMORY_CACHE_STORE, true) => {
                Ok(sessions::ours(stores::kit_memory_cache_store()))
            }
            (setup::REDIS_CACHE_STORE, true) => {
                let url = settings.redis_url.as_deref().ok_or("set TEST_REDIS_URL")?;
                Ok(sessions::ours(stores::kit_redis_cache_store(url)?))
            }
            (setup::SQLITE, true) => Ok(sessions::ours(stores::kit_sqlite_store(&file).await?)),
            (setup::SQLITE, false) => Ok(sessions::peer(stores::peer_sqlite_store(&file).await?)),
            (setup::REDIS | setup::REDIS_CLIENT_CACHE, _) => {
                let url = settings.redis_url.as_deref().ok_or("set TEST_REDIS_URL")?;
                let client_side_cache =
                    (store == setup::REDIS_CLIENT_CACHE).then_some(SESSION_CLIENT_CACHE_ENTRIES);
                if ours {
                    Ok(sessions::ours(
                        stores::kit_redis_store(url, client_side_cache).await?,
                    ))
                } else {
                    Ok(sessions::peer(stores::peer_redis_store(url).await?))
                }
            }
            _ => Err("no such store".into()),
        }
    });
    let router = router.map_err(|error: tower::BoxError| error.to_string())?;
    let addr = rt.server.block_on(serve(router));
    let cookies = rt
        .client
        .block_on(load::log_in_many(
            addr,
            "/login",
            case.sessions(settings.sessions),
            LOG_IN_CONNECTIONS,
        ))
        .map_err(|error| format!("log-in: {error}"))?;
    Ok(Configuration {
        group: group_of(case),
        setup: store.to_owned(),
        library: lib,
        addr,
        requests: requests(case, &cookies),
        cookies,
        outcomes: Vec::new(),
    })
}

/// Logs every session out, so that none outlives the run in a shared Redis.
async fn log_out(configurations: &[Configuration]) {
    for configuration in configurations {
        if configuration.cookies.is_empty() {
            continue;
        }
        let Ok(mut wire) = Wire::connect(configuration.addr).await else {
            continue;
        };
        for cookie in &configuration.cookies {
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

// ---- figures ---------------------------------------------------------------------------------------------

/// Each configuration's medians, and its ratio to its group's plain handler.
fn rows(configurations: &[Configuration]) -> Vec<Row> {
    let mut rows: Vec<Row> = configurations
        .iter()
        .map(|configuration| {
            let outcomes = &configuration.outcomes;
            let micros = |q: f64| {
                median(
                    outcomes
                        .iter()
                        .filter_map(|o| o.percentile(q))
                        .map(|d| d.as_secs_f64() * 1e6)
                        .collect(),
                )
            };
            let rates: Vec<f64> = outcomes.iter().map(Outcome::rate).collect();
            Row {
                group: configuration.group.to_owned(),
                setup: configuration.setup.clone(),
                library: configuration.library.to_owned(),
                rate: median(rates.clone()),
                rates,
                p50_us: micros(0.5),
                p99_us: micros(0.99),
                errors: outcomes.iter().map(|o| o.errors).sum(),
                first_error: outcomes.iter().find_map(|o| o.first_error.clone()),
                vs_plain: None,
            }
        })
        .collect();
    let plains: Vec<(String, Vec<f64>)> = rows
        .iter()
        .filter(|row| row.is_plain())
        .map(|row| (row.group.clone(), row.rates.clone()))
        .collect();
    for row in rows.iter_mut().filter(|row| !row.is_plain()) {
        row.vs_plain = plains
            .iter()
            .find(|(group, _)| *group == row.group)
            .and_then(|(_, plain)| round_ratio(&row.rates, plain));
    }
    rows
}

/// Today's date (UTC) as `YYYY-MM-DD`.
fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() / 86_400) as i64;
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The machine, as far as `/proc` and `/etc/os-release` tell.
fn machine() -> Machine {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let field = |text: &str, key: &str| {
        text.lines().find_map(|line| {
            let (name, value) = line.split_once([':', '='])?;
            (name.trim() == key).then(|| value.trim().trim_matches('"').to_owned())
        })
    };
    let cpuinfo = read("/proc/cpuinfo");
    let meminfo = read("/proc/meminfo");
    let memory_kib: f64 = field(&meminfo, "MemTotal")
        .and_then(|value| value.trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    Machine {
        cpu: field(&cpuinfo, "model name").unwrap_or_else(|| std::env::consts::ARCH.to_owned()),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        memory_gib: (memory_kib / 1_048_576.0 * 10.0).round() / 10.0,
        os: field(&read("/etc/os-release"), "PRETTY_NAME")
            .unwrap_or_else(|| std::env::consts::OS.to_owned()),
    }
}
