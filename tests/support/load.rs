//! Steady load: several browsers, each with its own session, alternating `GET /count` and a cached page,
//! every request recorded with the phase of the fault it started in.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::app::CACHE_NAME;
use super::browser::{Browser, NoReply};

/// How many different cached pages the clients cycle through.
const PAGES: usize = 4;

/// The pause between two rounds of one client: steady load that leaves the machine room to breathe.
const PAUSE: Duration = Duration::from_millis(20);

/// Where the fault was when a request started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The server runs.
    Before = 0,
    /// From the moment the fault is injected until the server answers again.
    Down = 1,
    /// The server answers again.
    After = 2,
}

impl Phase {
    fn from_u8(value: u8) -> Phase {
        match value {
            0 => Phase::Before,
            1 => Phase::Down,
            _ => Phase::After,
        }
    }

    /// The phase a request met, from the phases when it started and when it ended.
    fn met(started: Phase, ended: Phase) -> Phase {
        match (started, ended) {
            (Phase::Before, Phase::Before) => Phase::Before,
            (Phase::After, _) => Phase::After,
            _ => Phase::Down,
        }
    }
}

/// Which route a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /count`: a session load and save.
    Count,
    /// `GET /page/{n}`: the page cache, no session.
    Page,
}

/// One request as a client saw it.
#[derive(Debug, Clone)]
pub struct Record {
    /// The route asked for.
    pub route: Route,
    /// The fault's phase the request met: [`Phase::Before`] or [`Phase::After`] when it started and
    /// ended there, [`Phase::Down`] when any part of it fell in the outage (a request that started just
    /// before the fault and failed because of it belongs to the fault).
    pub phase: Phase,
    /// When it started.
    pub started: Instant,
    /// How long until the whole answer (or the failure) arrived.
    pub latency: Duration,
    /// The status, or why there was none.
    pub outcome: Result<u16, NoReply>,
    /// The counter a 200 from `/count` answered.
    pub counter: Option<u64>,
    /// Whether the page came from the cache (`Cache-Status: …; hit`).
    pub hit: bool,
    /// The session key in the client's jar after the answer.
    pub session_key: Option<String>,
}

impl Record {
    /// When the answer (or the failure) arrived.
    pub fn ended(&self) -> Instant {
        self.started + self.latency
    }

    /// Whether the request got an answer with this status.
    pub fn is(&self, status: u16) -> bool {
        matches!(self.outcome, Ok(s) if s == status)
    }
}

/// What one client saw, shared with the test while the load runs.
type Log = Arc<Mutex<Vec<Record>>>;

fn lock(log: &Log) -> MutexGuard<'_, Vec<Record>> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The running load.
pub struct Load {
    phase: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
    logs: Vec<Log>,
    tasks: Vec<JoinHandle<Browser>>,
}

impl Load {
    /// Starts `clients` browsers against the app at `addr`.
    pub fn start(addr: SocketAddr, clients: usize) -> Load {
        let phase = Arc::new(AtomicU8::new(Phase::Before as u8));
        let stop = Arc::new(AtomicBool::new(false));
        let logs: Vec<Log> = (0..clients).map(|_| Log::default()).collect();
        let tasks = logs
            .iter()
            .enumerate()
            .map(|(id, log)| {
                let client = Client {
                    browser: Browser::new(addr),
                    phase: Arc::clone(&phase),
                    stop: Arc::clone(&stop),
                    log: Arc::clone(log),
                };
                tokio::spawn(client.run(id))
            })
            .collect();
        Load {
            phase,
            stop,
            logs,
            tasks,
        }
    }

    /// Marks the requests starting from now as made in `phase`.
    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::SeqCst);
    }

    /// A copy of every client's records so far.
    pub fn records(&self) -> Vec<Vec<Record>> {
        self.logs.iter().map(|log| lock(log).clone()).collect()
    }

    /// Polls the records every 20 ms until `check` holds; `Some(elapsed)`, or `None` after `limit`.
    pub async fn wait_until(
        &self,
        limit: Duration,
        check: impl Fn(&[Vec<Record>]) -> bool,
    ) -> Option<Duration> {
        let start = Instant::now();
        loop {
            if check(&self.records()) {
                return Some(start.elapsed());
            }
            if start.elapsed() >= limit {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops every client after its current round; returns the browsers (jars included) and the records.
    pub async fn stop(self) -> (Vec<Browser>, Vec<Vec<Record>>) {
        self.stop.store(true, Ordering::SeqCst);
        let mut browsers = Vec::new();
        for task in self.tasks {
            browsers.push(task.await.expect("a client task"));
        }
        let records = self.logs.iter().map(|log| lock(log).clone()).collect();
        (browsers, records)
    }
}

struct Client {
    browser: Browser,
    phase: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
    log: Log,
}

impl Client {
    async fn run(mut self, id: usize) -> Browser {
        let mut round = id;
        while !self.stop.load(Ordering::SeqCst) {
            self.request(Route::Count, "/count").await;
            self.request(Route::Page, &format!("/page/{}", round % PAGES))
                .await;
            round += 1;
            tokio::time::sleep(PAUSE).await;
        }
        self.browser
    }

    async fn request(&mut self, route: Route, path: &str) {
        let started_in = Phase::from_u8(self.phase.load(Ordering::SeqCst));
        let started = Instant::now();
        let reply = self.browser.get(path).await;
        let latency = started.elapsed();
        let phase = Phase::met(
            started_in,
            Phase::from_u8(self.phase.load(Ordering::SeqCst)),
        );
        let (outcome, counter, hit) = match reply {
            Ok(reply) => {
                let counter = (route == Route::Count && reply.status == 200)
                    .then(|| reply.body.trim().parse().expect("/count answers a number"));
                let hit = reply
                    .cache_status
                    .is_some_and(|status| status == format!("{CACHE_NAME}; hit"));
                (Ok(reply.status), counter, hit)
            }
            Err(failure) => (Err(failure), None, false),
        };
        let record = Record {
            route,
            phase,
            started,
            latency,
            outcome,
            counter,
            hit,
            session_key: self.browser.session_key().map(str::to_owned),
        };
        lock(&self.log).push(record);
    }
}
