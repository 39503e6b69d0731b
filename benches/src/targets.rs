//! The performance targets the project has stated, each checked against a run: what `BENCHMARKS.md`
//! marks as met or missed.

use serde::{Deserialize, Serialize};

use crate::results::{group, library, Results};

/// The setups the targets name (the same strings the run gives its rows).
pub mod setup {
    /// The in-process memory store or backend.
    pub const MEMORY: &str = "memory";
    /// The memory backend, two tags on every page.
    pub const MEMORY_TAGGED: &str = "memory, two tags";
    /// Redis with the client-side cache: the recommended setup for pages, and for sessions mostly read.
    pub const REDIS_CLIENT_CACHE: &str = "Redis, client-side cache";
    /// Redis, every hit a round trip.
    pub const REDIS: &str = "Redis";
    /// A SQLite file.
    pub const SQLITE: &str = "SQLite";
    /// The session setups, in the order the tables show them.
    pub const SESSION_STORES: [&str; 4] = [MEMORY, SQLITE, REDIS, REDIS_CLIENT_CACHE];
    /// Our `CacheStore` on the memory backend: the in-memory session store when #14 was filed.
    pub const MEMORY_CACHE_STORE: &str = "memory, CacheStore";
    /// Our `CacheStore` on the Redis backend: the Redis session store when #14 was filed.
    pub const REDIS_CACHE_STORE: &str = "Redis, CacheStore";
    /// Our session setups as they were when #14 was filed (ours only: tower-sessions stands beside
    /// [`SESSION_STORES`]).
    pub const REPLACED_SESSION_STORES: [&str; 2] = [MEMORY_CACHE_STORE, REDIS_CACHE_STORE];
    /// Each of our session setups beside the one it replaced: `(now, then)`.
    pub const REPLACEMENTS: [(&str, &str); 3] = [
        (MEMORY, MEMORY_CACHE_STORE),
        (REDIS, REDIS_CACHE_STORE),
        (REDIS_CLIENT_CACHE, REDIS_CACHE_STORE),
    ];
    /// `HooksLayer` with five middleware that implement every hook as a no-op.
    pub const FIVE_NOOP_HOOKS: &str = "HooksLayer, five no-op middleware";
}

/// The longest a run may take, in seconds.
pub const RUN_BUDGET_SECONDS: f64 = 600.0;

/// One target, checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    /// The issue that stated it.
    pub issue: u32,
    /// The target, in words.
    pub target: String,
    /// What the run measured, in the target's terms (`None`: the run did not measure it).
    pub measured: Option<f64>,
    /// How `measured` reads (`1.23×`, `4.2%`, `312 s`).
    pub shown: String,
    /// Whether it is met (`None`: not measured).
    pub met: Option<bool>,
}

/// Which way a target goes.
#[derive(Clone, Copy)]
enum Goal {
    AtLeast(f64),
    AtMost(f64),
}

impl Goal {
    fn met(self, value: f64) -> bool {
        match self {
            Goal::AtLeast(bound) => value >= bound,
            Goal::AtMost(bound) => value <= bound,
        }
    }

    fn bound(self) -> f64 {
        match self {
            Goal::AtLeast(bound) | Goal::AtMost(bound) => bound,
        }
    }
}

/// How a measured value is shown.
#[derive(Clone, Copy)]
enum Unit {
    Times,
    Percent,
    Seconds,
}

impl Unit {
    fn show(self, value: f64) -> String {
        match self {
            Unit::Times => format!("{value:.2}×"),
            Unit::Percent => format!("{:.1}%", value * 100.0),
            Unit::Seconds => format!("{value:.0} s"),
        }
    }

    /// As [`show`](Self::show), one digit finer.
    fn show_finer(self, value: f64) -> String {
        match self {
            Unit::Times => format!("{value:.3}×"),
            Unit::Percent => format!("{:.2}%", value * 100.0),
            Unit::Seconds => format!("{value:.1} s"),
        }
    }
}

fn check(issue: u32, target: &str, measured: Option<f64>, goal: Goal, unit: Unit) -> Check {
    // A value that misses its bound by less than the last digit shown gets one more digit: "0.90×,
    // missed" against a bound of 0.9 would read as a mistake.
    let show = |value: f64| {
        let shown = unit.show(value);
        if !goal.met(value) && shown == unit.show(goal.bound()) {
            unit.show_finer(value)
        } else {
            shown
        }
    };
    Check {
        issue,
        target: target.to_owned(),
        measured,
        shown: measured.map_or_else(|| "not measured".to_owned(), show),
        met: measured.map(|value| goal.met(value)),
    }
}

/// Every stated target, checked against `results`.
pub fn checks(results: &Results) -> Vec<Check> {
    use library::OURS;
    use setup::{MEMORY, REDIS, REDIS_CLIENT_CACHE, SQLITE};
    let vs_peer = |group: &str, store: &str| results.vs_tower_sessions(group, store);
    let vs_plain = |group: &str, setup: &str| results.row(group, setup, OURS)?.vs_plain;
    let tag_cost = results
        .ratio(group::PAGE, (setup::MEMORY_TAGGED, OURS), (MEMORY, OURS))
        .map(|ratio| 1.0 - ratio);
    // Ours against tower-sessions with the same store: (what, group, store, at least, why this bound).
    // The read bounds are the ratios when the target "reads no slower than today" was set.
    let when_set = " (its ratio when the target was set)";
    #[rustfmt::skip]
    let against_peer = [
        ("Session write on Redis", group::SESSION_WRITE, REDIS, 1.2, ""),
        ("Session write on SQLite", group::SESSION_WRITE, SQLITE, 10.0, ""),
        ("Session write in memory", group::SESSION_WRITE, MEMORY, 1.0, ""),
        ("One hot session on Redis", group::SESSION_HOT, REDIS, 0.8, ""),
        ("One hot session in memory", group::SESSION_HOT, MEMORY, 0.8, ""),
        ("Session read in memory", group::SESSION_READ, MEMORY, 1.2, when_set),
        ("Session read on SQLite", group::SESSION_READ, SQLITE, 2.1, when_set),
        ("Session read on Redis", group::SESSION_READ, REDIS, 1.9, when_set),
        ("Session read on Redis, client-side cache", group::SESSION_READ, REDIS_CLIENT_CACHE, 1.9, when_set),
    ];
    let mut checks: Vec<Check> = against_peer
        .into_iter()
        .map(|(what, group, store, bound, why)| {
            check(
                14,
                &format!("{what} ≥ {bound}× tower-sessions{why}"),
                vs_peer(group, store),
                Goal::AtLeast(bound),
                Unit::Times,
            )
        })
        .collect();
    // The same target without the machine in it: our read against our own store of the day the target
    // was set, in the same run.
    checks.extend(setup::REPLACEMENTS.into_iter().map(|(store, replaced)| {
        check(
            14,
            &format!("Session read, {store}, ≥ 1× ours when the target was set (`{replaced}`)"),
            results.ratio(group::SESSION_READ, (store, OURS), (replaced, OURS)),
            Goal::AtLeast(1.0),
            Unit::Times,
        )
    }));
    checks.insert(
        3,
        check(
            14,
            "Session write in memory ≥ 0.9× plain",
            vs_plain(group::SESSION_WRITE, MEMORY),
            Goal::AtLeast(0.9),
            Unit::Times,
        ),
    );
    checks.extend([
        check(
            16,
            "Page hit on Redis (client-side cache) ≥ 0.9× plain",
            vs_plain(group::PAGE, setup::REDIS_CLIENT_CACHE),
            Goal::AtLeast(0.9),
            Unit::Times,
        ),
        check(
            16,
            "Two tags cost a memory page hit ≤ 5%",
            tag_cost,
            Goal::AtMost(0.05),
            Unit::Percent,
        ),
        check(
            17,
            "One run of `cargo bench --bench load` ≤ 10 minutes (build excluded)",
            Some(results.wall_seconds),
            Goal::AtMost(RUN_BUDGET_SECONDS),
            Unit::Seconds,
        ),
    ]);
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_near_miss_shows_the_digit_that_misses() {
        let shown = |value, goal| check(14, "t", Some(value), goal, Unit::Times).shown;
        assert_eq!(shown(0.898, Goal::AtLeast(0.9)), "0.898×");
        assert_eq!(shown(0.95, Goal::AtLeast(0.9)), "0.95×");
        assert_eq!(shown(0.904, Goal::AtLeast(0.9)), "0.90×", "met: as usual");
        assert_eq!(shown(1.204, Goal::AtMost(1.2)), "1.204×");
    }
}
