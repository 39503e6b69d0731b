//! What one run of the load benchmark measured, as it is written to JSON and read back to render
//! `BENCHMARKS.md`: the machine, the settings, every configuration's figures and the cold flights.

use serde::{Deserialize, Serialize};

/// The library a configuration measures.
pub mod library {
    /// The handlers alone: the limit.
    pub const PLAIN: &str = "plain axum";
    /// Ours, through the umbrella crate.
    pub const OURS: &str = "tower-django";
    /// tower-sessions with its memory, sqlx SQLite and Redis stores.
    pub const TOWER_SESSIONS: &str = "tower-sessions 0.14";
    /// axum-response-cache.
    pub const AXUM_RESPONSE_CACHE: &str = "axum-response-cache 0.5";
    /// tower-http-cache.
    pub const TOWER_HTTP_CACHE: &str = "tower-http-cache 0.6";
    /// hitbox (hitbox-tower on hitbox-moka).
    pub const HITBOX: &str = "hitbox 0.2";
}

/// The groups of configurations; within a group, every configuration answers the same requests.
pub mod group {
    /// `GET /page`, a 10 KB page, answered by the handler or from a cache.
    pub const PAGE: &str = "page";
    /// A session's counter read and incremented, many sessions round-robin.
    pub const SESSION_WRITE: &str = "session write";
    /// The same on one session from every connection.
    pub const SESSION_HOT: &str = "session hot write";
    /// A session's counter read, many sessions round-robin.
    pub const SESSION_READ: &str = "session read";
}

/// A whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// The day of the run (UTC, `YYYY-MM-DD`).
    pub date: String,
    /// What it ran on.
    pub machine: Machine,
    /// The command, with the settings that were not defaults.
    pub command: String,
    /// How the load was applied.
    pub settings: RunSettings,
    /// Every configuration measured under load, in the order of the table.
    pub rows: Vec<Row>,
    /// Every cold flight measured.
    pub flights: Vec<Flight>,
    /// Configurations skipped, and why.
    pub notes: Vec<String>,
    /// The run's wall time, setup included (the build excluded).
    pub wall_seconds: f64,
}

/// The machine a run measured on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    /// The processor's model name.
    pub cpu: String,
    /// Cores the process may use.
    pub cores: usize,
    /// Memory in GiB.
    pub memory_gib: f64,
    /// The operating system.
    pub os: String,
}

/// How the load was applied.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSettings {
    /// Keep-alive connections, each one request at a time.
    pub connections: usize,
    /// Measured seconds per configuration per round.
    pub seconds: f64,
    /// Unmeasured seconds before each measurement.
    pub warm_up_seconds: f64,
    /// Rounds; every configuration runs once a round, the order reversed every other round.
    pub rounds: usize,
    /// Sessions the write and read cases go round.
    pub sessions: usize,
    /// Concurrent requests of a cold flight.
    pub flight_requests: usize,
    /// Worker threads of the server's runtime (the load generator runs on one more thread).
    pub server_threads: usize,
}

/// One configuration's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// Its group (see [`group`]).
    pub group: String,
    /// What is configured: the store or backend, the middleware.
    pub setup: String,
    /// Whose layer (see [`library`]).
    pub library: String,
    /// Requests answered `200` per second, per round.
    pub rates: Vec<f64>,
    /// The median of `rates`.
    pub rate: f64,
    /// The median of the rounds' median latency, in µs.
    pub p50_us: f64,
    /// The median of the rounds' 99th-percentile latency, in µs.
    pub p99_us: f64,
    /// Responses other than `200` and failed exchanges, all rounds together.
    pub errors: u64,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
    /// The median over the rounds of this configuration's rate over the group's plain handler's rate in
    /// the same round (`None` for the plain one itself). Each round runs a group's configurations back to
    /// back, so a ratio within a round cancels the machine's drift between rounds.
    pub vs_plain: Option<f64>,
}

impl Row {
    /// Whether this is the group's plain handler.
    pub fn is_plain(&self) -> bool {
        self.library == library::PLAIN
    }

    /// The name a table shows: library, then setup.
    pub fn label(&self) -> String {
        if self.setup.is_empty() {
            self.library.clone()
        } else {
            format!("{} · {}", self.library, self.setup)
        }
    }
}

/// Many concurrent requests for one page no cache holds yet: how many reached the handler.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flight {
    /// What is configured.
    pub setup: String,
    /// Whose layer.
    pub library: String,
    /// Handler runs, per round.
    pub renders: Vec<u64>,
    /// Requests not answered `200`, all rounds together.
    pub errors: u64,
}

impl Flight {
    /// The median of `renders`.
    pub fn median_renders(&self) -> u64 {
        let mut renders = self.renders.clone();
        renders.sort_unstable();
        renders.get(renders.len() / 2).copied().unwrap_or(0)
    }
}

impl Results {
    /// The row of `group`, `setup` and `library`, when it ran.
    pub fn row(&self, group: &str, setup: &str, library: &str) -> Option<&Row> {
        self.rows
            .iter()
            .find(|row| row.group == group && row.setup == setup && row.library == library)
    }

    /// The median over the rounds of `ours`' rate over `theirs`' (rows of `group` given as setup and
    /// library), when both ran.
    pub fn ratio(&self, group: &str, ours: (&str, &str), theirs: (&str, &str)) -> Option<f64> {
        let ours = self.row(group, ours.0, ours.1)?;
        let theirs = self.row(group, theirs.0, theirs.1)?;
        round_ratio(&ours.rates, &theirs.rates)
    }

    /// Our session setup `store` against tower-sessions on the same server, in `group`.
    pub fn vs_tower_sessions(&self, group: &str, store: &str) -> Option<f64> {
        self.ratio(
            group,
            (store, library::OURS),
            (peer_store(store), library::TOWER_SESSIONS),
        )
    }
}

/// The setup of tower-sessions that stands beside our session setup `store`: the same store, and its
/// plain Redis store beside ours with the client-side cache (it has none).
pub fn peer_store(store: &str) -> &str {
    if store == crate::targets::setup::REDIS_CLIENT_CACHE {
        crate::targets::setup::REDIS
    } else {
        store
    }
}

/// The median of `a[i] / b[i]` over the rounds both measured (`None` when there is no such round).
pub fn round_ratio(a: &[f64], b: &[f64]) -> Option<f64> {
    let mut ratios: Vec<f64> = a
        .iter()
        .zip(b)
        .filter(|(_, b)| **b > 0.0)
        .map(|(a, b)| a / b)
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios.get(ratios.len() / 2).copied()
}
