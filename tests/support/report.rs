//! What a scenario measured: the figures it prints and the expectations it checks.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use super::browser::NoReply;
use super::load::{Phase, Record, Route};
use super::scenario::{Expect, Sessions, ERROR_BOUND, RECOVERY_BOUND};

/// Everything a scenario measured.
pub struct Report {
    /// The test's name.
    pub name: String,
    /// What the test expects.
    pub expect: Expect,
    /// What each client saw.
    pub records: Vec<Vec<Record>>,
    /// From the injection until the server answered again.
    pub outage: Duration,
    /// From the server answering again until every client's `/count` answered 200.
    pub sessions_recovered: Option<Duration>,
    /// From the server answering again until a page was served from the cache.
    pub pages_recovered: Option<Duration>,
    /// Each client's `/peek` after the load stopped.
    pub peeks: Vec<Result<u64, String>>,
    /// The log lines of the fault and the recovery.
    pub logged: String,
}

/// The longest any client waited, from `since`, for its first `/count` started after `since` to answer 200.
pub fn sessions_recovered(records: &[Vec<Record>], since: Instant) -> Option<Duration> {
    records
        .iter()
        .map(|client| {
            client
                .iter()
                .find(|r| r.route == Route::Count && r.started >= since && r.is(200))
                .map(|r| r.ended() - since)
        })
        .try_fold(Duration::ZERO, |worst, client| Some(worst.max(client?)))
}

/// How long after `since` the first page started after `since` was answered from the cache.
pub fn pages_recovered(records: &[Vec<Record>], since: Instant) -> Option<Duration> {
    records
        .iter()
        .flatten()
        .filter(|r| r.route == Route::Page && r.started >= since && r.hit)
        .map(|r| r.ended() - since)
        .min()
}

/// The requests of one route in one phase, counted.
#[derive(Default)]
struct Tally {
    requests: usize,
    statuses: BTreeMap<u16, usize>,
    timeouts: usize,
    transport: usize,
    worst: Duration,
    hits: usize,
}

impl Tally {
    fn of(records: &[Vec<Record>], route: Route, phase: Phase) -> Tally {
        let mut tally = Tally::default();
        for record in records
            .iter()
            .flatten()
            .filter(|r| r.route == route && r.phase == phase)
        {
            tally.requests += 1;
            tally.worst = tally.worst.max(record.latency);
            tally.hits += usize::from(record.hit);
            match &record.outcome {
                Ok(status) => *tally.statuses.entry(*status).or_default() += 1,
                Err(NoReply::Timeout) => tally.timeouts += 1,
                Err(NoReply::Transport(_)) => tally.transport += 1,
            }
        }
        tally
    }

    fn non_2xx(&self) -> usize {
        self.statuses
            .iter()
            .filter(|(status, _)| !(200..300).contains(*status))
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests answered with a status outside `allowed`, or not answered at all.
    fn other_than(&self, allowed: &[u16]) -> usize {
        let unexpected: usize = self
            .statuses
            .iter()
            .filter(|(status, _)| !allowed.contains(status))
            .map(|(_, n)| n)
            .sum();
        unexpected + self.timeouts + self.transport
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(status, n)| format!("{n}×{status}"))
            .collect();
        write!(
            f,
            "{:>5} requests ({}); non-2xx {}, timeouts {}, transport errors {}, hits {}, worst {:.3} s",
            self.requests,
            statuses.join(" "),
            self.non_2xx(),
            self.timeouts,
            self.transport,
            self.hits,
            self.worst.as_secs_f64()
        )
    }
}

/// One client's counter history, checked against what the sessions should have kept.
struct Counters {
    /// The last counter a 200 acknowledged.
    last: u64,
    /// `/count` requests that failed since then (their writes may or may not have landed).
    unacknowledged: u64,
    /// Sessions started over (a counter back at 1 under a new key).
    restarts: usize,
    problems: Vec<String>,
}

impl Counters {
    fn of(client: &[Record]) -> Counters {
        let mut counters = Counters {
            last: 0,
            unacknowledged: 0,
            restarts: 0,
            problems: Vec::new(),
        };
        let mut key: Option<&str> = None;
        for record in client.iter().filter(|r| r.route == Route::Count) {
            let Some(value) = record.counter else {
                counters.unacknowledged += 1;
                continue;
            };
            let new_key = record.session_key.as_deref();
            if key.is_some() && new_key != key {
                counters.restarts += 1;
                if value != 1 || record.phase == Phase::Before {
                    counters.problems.push(format!(
                        "a new session key answered {value} in phase {:?} (after {})",
                        record.phase, counters.last
                    ));
                }
            } else if value <= counters.last || value > counters.last + 1 + counters.unacknowledged
            {
                counters.problems.push(format!(
                    "the counter went from {} to {value} with {} unacknowledged requests between \
                     (phase {:?})",
                    counters.last, counters.unacknowledged, record.phase
                ));
            }
            key = new_key;
            counters.last = value;
            counters.unacknowledged = 0;
        }
        counters
    }
}

impl Report {
    /// How many logged lines contain every one of `needles`.
    fn logged_lines_with(&self, needles: &[&str]) -> usize {
        self.logged
            .lines()
            .filter(|line| needles.iter().all(|needle| line.contains(needle)))
            .count()
    }

    fn session_errors_logged(&self) -> usize {
        self.logged_lines_with(&["ERROR", "session"])
    }

    fn page_warnings_logged(&self) -> usize {
        self.logged_lines_with(&["WARN", "page cache backend"])
    }

    /// Prints the figures on stdout (`--nocapture` shows them).
    pub fn print(&self) {
        let requests: usize = self.records.iter().map(Vec::len).sum();
        println!("== {} ==", self.name);
        println!(
            "{} clients, {requests} requests; server down for {:.2} s",
            self.records.len(),
            self.outage.as_secs_f64()
        );
        for route in [Route::Count, Route::Page] {
            for phase in [Phase::Before, Phase::Down, Phase::After] {
                let name = format!("{route:?} {phase:?}");
                println!("  {name:<13} {}", Tally::of(&self.records, route, phase));
            }
        }
        let seconds = |d: Option<Duration>| {
            d.map_or("never".to_owned(), |d| format!("{:.3} s", d.as_secs_f64()))
        };
        println!(
            "  recovery: sessions work again after {}, pages are served from the cache again after {}",
            seconds(self.sessions_recovered),
            seconds(self.pages_recovered)
        );
        for (id, (client, peek)) in self.records.iter().zip(&self.peeks).enumerate() {
            let counters = Counters::of(client);
            println!(
                "  client {id}: last acknowledged counter {}, {} unacknowledged after it, {} session \
                 restart(s), /peek {peek:?}",
                counters.last, counters.unacknowledged, counters.restarts
            );
        }
        println!(
            "  logged during the fault and the recovery: {} session error(s), {} page-cache warning(s)",
            self.session_errors_logged(),
            self.page_warnings_logged()
        );
    }

    /// Every expectation that did not hold, in words.
    pub fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        let mut check = |ok: bool, what: String| {
            if !ok {
                failures.push(what);
            }
        };
        let error = self.expect.error_status;
        for phase in [Phase::Before, Phase::Down, Phase::After] {
            let pages = Tally::of(&self.records, Route::Page, phase);
            check(
                pages.other_than(&[200]) == 0,
                format!("the page cache fails open: every page answers 200 ({phase:?}: {pages})"),
            );
            check(
                pages.worst <= ERROR_BOUND,
                format!(
                    "the page cache gives up on its backend within {ERROR_BOUND:?} ({phase:?}: worst \
                     {:.3} s)",
                    pages.worst.as_secs_f64()
                ),
            );
            let counts = Tally::of(&self.records, Route::Count, phase);
            let allowed: &[u16] = match (phase, self.expect.sessions) {
                (Phase::Before, _) => &[200],
                // A request that loaded its session just before the fault destroyed it, and saves
                // after, answers Django's 400 (`SessionInterrupted`): the record is gone.
                (Phase::Down, Sessions::LostOnce) => &[200, error, 400],
                _ => &[200, error],
            };
            check(
                counts.other_than(allowed) == 0,
                format!("/count answers {allowed:?} and never hangs ({phase:?}: {counts})"),
            );
        }
        let down = Tally::of(&self.records, Route::Count, Phase::Down);
        check(
            !self.expect.sessions_fail || down.statuses.get(&error).copied().unwrap_or(0) > 0,
            format!("/count answers the configured {error} while the store is down ({down})"),
        );
        check(
            down.worst <= ERROR_BOUND,
            format!(
                "/count answers within {ERROR_BOUND:?} while the store is down (worst {:.3} s)",
                down.worst.as_secs_f64()
            ),
        );
        let before = Tally::of(&self.records, Route::Page, Phase::Before);
        check(
            before.hits > 0,
            format!("pages are served from the cache before the fault ({before})"),
        );
        check(
            self.sessions_recovered.is_some_and(|d| d <= RECOVERY_BOUND),
            format!(
                "sessions work again within {RECOVERY_BOUND:?} of the server's return ({:?})",
                self.sessions_recovered
            ),
        );
        check(
            self.pages_recovered.is_some_and(|d| d <= RECOVERY_BOUND),
            format!(
                "pages are served from the cache again within {RECOVERY_BOUND:?} of the server's return \
                 ({:?})",
                self.pages_recovered
            ),
        );
        for (id, (client, peek)) in self.records.iter().zip(&self.peeks).enumerate() {
            let counters = Counters::of(client);
            for problem in &counters.problems {
                check(false, format!("client {id}: {problem}"));
            }
            let restarts = match self.expect.sessions {
                Sessions::Survive => 0,
                Sessions::LostOnce => 1,
            };
            check(
                counters.restarts == restarts,
                format!(
                    "client {id}: {restarts} session restart(s) expected ({:?}), saw {}",
                    self.expect.sessions, counters.restarts
                ),
            );
            let range = counters.last..=counters.last + counters.unacknowledged;
            check(
                peek.as_ref().is_ok_and(|value| range.contains(value)),
                format!(
                    "client {id}: the stored counter is the last acknowledged one (or one a failed \
                     request wrote): {peek:?} not in {range:?}"
                ),
            );
        }
        check(
            !self.expect.sessions_fail || self.session_errors_logged() > 0,
            "the session store's failure is logged as an error".to_owned(),
        );
        check(
            !self.expect.pages_fail || self.page_warnings_logged() > 0,
            "the page cache's backend failure is logged as a warning".to_owned(),
        );
        failures
    }

    /// Prints the figures, then fails the test listing every expectation that did not hold.
    pub fn assert(&self) {
        self.assert_also(&[]);
    }

    /// Like [`Report::assert`], with the test's own checks (`holds`, what is expected) printed and
    /// checked alongside.
    pub fn assert_also(&self, checks: &[(bool, &str)]) {
        self.print();
        let mut failures = self.failures();
        for (holds, expected) in checks {
            println!("  {expected}: {}", if *holds { "yes" } else { "NO" });
            if !holds {
                failures.push((*expected).to_owned());
            }
        }
        assert!(
            failures.is_empty(),
            "{}: {} expectation(s) failed:\n  - {}",
            self.name,
            failures.len(),
            failures.join("\n  - ")
        );
    }
}
