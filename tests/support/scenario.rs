//! One fault under load, start to finish: warm up, break the server, keep it down, bring it back, wait
//! for recovery; the [`Report`] then prints the figures and checks the expectations.

use std::future::Future;
use std::time::{Duration, Instant};

use super::app::App;
use super::browser::Browser;
use super::load::{Load, Phase, Record};
pub use super::report::Report;
use super::report::{pages_recovered, sessions_recovered};

/// The most one fault test may take, servers' start-up included.
pub const TEST_BUDGET: Duration = Duration::from_secs(60);

/// How many users the load simulates, each with its own session.
pub const CLIENTS: usize = 4;

/// How long a server stays down by default.
pub const OUTAGE: Duration = Duration::from_secs(5);

/// The longest a `/count` may take while the store is down, and a page at any time. The product answers
/// within about 1 s (the backends' operation deadline, the page cache's backend timeout); this bound is
/// generous so a busy machine does not fail the test.
pub const ERROR_BOUND: Duration = Duration::from_secs(5);

/// The longest sessions, and cached pages, may take to work again once the server answers.
pub const RECOVERY_BOUND: Duration = Duration::from_secs(10);

/// How long to wait for the app to work before the fault (a slow start is not what is tested).
const WARM_UP_LIMIT: Duration = Duration::from_secs(20);

/// How long to wait for recovery before giving up and reporting it missing.
const RECOVERY_WAIT: Duration = Duration::from_secs(15);

/// How long the load goes on before the fault, once the app works, and again once everything recovered.
const SAMPLE: Duration = Duration::from_secs(1);

/// Acknowledged counts per client before the fault.
const WARM_UP_COUNTS: usize = 3;

/// What a fault test breaks: a server (or directories) the test starts for itself, under the app it serves.
pub trait Target: Sized {
    /// Starts it, or `None` when it cannot run here (the test is then skipped, said on stderr).
    fn start(test: &str) -> impl Future<Output = Option<Self>>;
    /// Serves the app with its sessions and pages here.
    fn serve(&self) -> impl Future<Output = App>;
}

/// A way for a server, its [`Target`] `T`, to fail.
pub trait Fault<T> {
    /// Whether the fault can be made here (says on stderr why not; the test is then skipped). Asked once
    /// the target is started, before the app is served.
    fn possible(&self, _target: &T, _test: &str) -> impl Future<Output = bool> {
        async { true }
    }
    /// Makes the server fail; returns once it has.
    fn inject(&mut self, target: &mut T) -> impl Future<Output = ()>;
    /// Brings the server back; returns once it answers again.
    fn repair(&mut self, target: &mut T) -> impl Future<Output = ()>;
    /// How long the server stays down between the two ([`OUTAGE`] unless the fault is its own outage,
    /// like a restart).
    fn hold(&self) -> Duration {
        OUTAGE
    }
    /// The test's own checks once the scenario is over (`holds`, what is expected), printed and checked
    /// with the report's.
    fn checks(&self, _target: &T) -> Vec<(bool, &'static str)> {
        Vec::new()
    }
}

/// What happens to the sessions saved before the fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sessions {
    /// They are all still there: every client's counter goes on from its last acknowledged value.
    Survive,
    /// The fault destroys them (a memcached restart, a removed directory): every client starts one new
    /// session, under a new key, once the server is back, and counts on from there.
    LostOnce,
}

/// What a scenario expects.
pub struct Expect {
    /// The session layer's configured error status.
    pub error_status: u16,
    /// What becomes of the sessions saved before the fault.
    pub sessions: Sessions,
    /// Whether `/count` must have met the outage (answered the error, logged it as an error). A restart
    /// can be over before any request reaches it.
    pub sessions_fail: bool,
    /// Whether the page cache must have met the outage (logged a backend failure). A file cache that
    /// recreates its removed directory, or reads from a read-only one, never fails.
    pub pages_fail: bool,
}

impl Expect {
    /// What an outage that no request escapes gives: `/count` answers `error_status` (and logs the error)
    /// while the server is down, the page cache meets it too, and the sessions survive it. A test names
    /// only where its fault differs: `Expect { pages_fail: false, ..Expect::outage(503) }`.
    pub const fn outage(error_status: u16) -> Expect {
        Expect {
            error_status,
            sessions: Sessions::Survive,
            sessions_fail: true,
            pages_fail: true,
        }
    }
}

/// One fault test, whole: captures its logs, starts its [`Target`] `T` (returning at once when that, or
/// the fault, is not possible here), serves the app, runs `fault` under load and asserts the report with
/// the fault's own checks, all within [`TEST_BUDGET`].
pub async fn test<T: Target>(name: &str, fault: impl Fault<T>, expect: Expect) {
    let (logs, _capture) = test_logs::capture_logs();
    within_budget(name, async {
        let Some(mut target) = T::start(name).await else {
            return;
        };
        // Declared after the target, so dropped before it (a fault may have to undo itself first).
        let mut fault = fault;
        if !fault.possible(&target, name).await {
            return;
        }
        let app = target.serve().await;
        let report = run(name, &app, &mut target, &mut fault, expect, &logs).await;
        report.assert_also(&fault.checks(&target));
    })
    .await;
}

/// Runs `fault` of `target` under load on `app` and measures it; `logs` is the test's log capture.
async fn run<T>(
    name: &str,
    app: &App,
    target: &mut T,
    fault: &mut impl Fault<T>,
    expect: Expect,
    logs: &test_logs::Logs,
) -> Report {
    let load = Load::start(app.addr, CLIENTS);
    let warm = load
        .wait_until(WARM_UP_LIMIT, |records| {
            records
                .iter()
                .all(|client| acknowledged(client) >= WARM_UP_COUNTS)
                && records.iter().flatten().any(|r| r.hit)
        })
        .await;
    assert!(
        warm.is_some(),
        "{name}: the app did not work before the fault (acknowledged counts per client: {:?})",
        load.records()
            .iter()
            .map(|client| acknowledged(client))
            .collect::<Vec<_>>()
    );
    tokio::time::sleep(SAMPLE).await;

    let logged_before = logs.text().len();
    load.set_phase(Phase::Down);
    let down_at = Instant::now();
    fault.inject(target).await;
    tokio::time::sleep(fault.hold()).await;
    fault.repair(target).await;
    let up_at = Instant::now();
    load.set_phase(Phase::After);

    load.wait_until(RECOVERY_WAIT, |records| {
        sessions_recovered(records, up_at).is_some() && pages_recovered(records, up_at).is_some()
    })
    .await;
    tokio::time::sleep(SAMPLE).await;
    let (mut browsers, records) = load.stop().await;
    let peeks = peek(&mut browsers).await;

    let logged = logs.text();
    Report {
        name: name.to_owned(),
        expect,
        outage: up_at - down_at,
        sessions_recovered: sessions_recovered(&records, up_at),
        pages_recovered: pages_recovered(&records, up_at),
        records,
        peeks,
        logged: logged[logged_before.min(logged.len())..].to_owned(),
    }
}

/// How many `/count` requests of one client answered a counter.
fn acknowledged(client: &[Record]) -> usize {
    client.iter().filter(|r| r.counter.is_some()).count()
}

/// Each browser's stored counter, read through `/peek` with its own cookie.
async fn peek(browsers: &mut [Browser]) -> Vec<Result<u64, String>> {
    let mut peeks = Vec::new();
    for browser in browsers {
        peeks.push(match browser.get("/peek").await {
            Ok(reply) if reply.status == 200 => reply
                .body
                .trim()
                .parse()
                .map_err(|_| format!("/peek answered {:?}", reply.body)),
            Ok(reply) => Err(format!("/peek answered {}", reply.status)),
            Err(failure) => Err(format!("/peek failed: {failure:?}")),
        });
    }
    peeks
}

/// Runs a whole test within [`TEST_BUDGET`], failing it (and dropping its server guards) when it takes
/// longer.
async fn within_budget<T>(name: &str, test: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_BUDGET, test)
        .await
        .unwrap_or_else(|_| panic!("{name} took longer than {TEST_BUDGET:?}"))
}
