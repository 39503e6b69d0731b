//! Redis under the page cache and the session store fails under load, and comes back.
//!
//! Each test starts its own `redis-server` on a spare loopback port with append-only persistence in a
//! temporary directory, serves an app whose sessions (`CacheStore`) and cached pages (`CachePageLayer`)
//! both live there, and drives it with several browsers while Redis is
//!
//! - shut down (`redis-cli shutdown`, which saves) for 5 s, then started again on the same port and
//!   directory: [`shutdown_and_restart`];
//! - frozen (SIGSTOP) for 5 s, then thawed (SIGCONT): [`frozen_and_thawed`].
//!
//! Expected: pages answer 200 throughout (the page cache fails open); `/count` answers the configured 500
//! within the bound while Redis is down; sessions and cached pages work again soon after Redis returns;
//! no session saved before the outage is lost; no request hangs. See `support::scenario` for each check.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use tempfile::TempDir;
use tokio::process::Command;
use tower_django::cache::backends::RedisBackend;
use tower_django::cache::Cache;
use tower_django::sessions::store::CacheStore;

use support::process::{answers, run, server_program, spare_port, wait_for, ServerProcess};
use support::scenario::{self, Expect, Fault, Sessions};

/// How long Redis may take to start (or to load its append-only file) and answer `PING`.
const START_LIMIT: Duration = Duration::from_secs(20);

/// A `redis-server` of this test, persisting to its own directory.
struct Redis {
    /// Declared first so it is dropped (the server killed) before its directory is removed.
    process: Option<ServerProcess>,
    server: PathBuf,
    cli: PathBuf,
    port: u16,
    dir: TempDir,
}

impl Redis {
    /// Starts Redis, or `None` (skipped) when it is not installed.
    async fn start(test: &str) -> Option<Redis> {
        let server = server_program("redis-server", test)?;
        let cli = server_program("redis-cli", test)?;
        let mut redis = Redis {
            server,
            cli,
            port: spare_port(),
            dir: tempfile::tempdir().expect("a directory for Redis"),
            process: None,
        };
        redis.spawn().await;
        Some(redis)
    }

    /// Starts `redis-server` on the port and directory, and waits until it answers (its data loaded).
    async fn spawn(&mut self) {
        let mut command = Command::new(&self.server);
        command
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--appendonly", "yes", "--save", "", "--dir"])
            .arg(self.dir.path());
        let log = self.dir.path().join("redis.log");
        self.process = Some(ServerProcess::spawn("redis-server", command, &log));
        let port = self.port;
        wait_for("Redis answering PING", START_LIMIT, || {
            answers(port, b"PING\r\n", b"+PONG")
        })
        .await;
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn process(&mut self) -> &mut ServerProcess {
        self.process.as_mut().expect("Redis was started")
    }
}

/// `redis-cli shutdown` (Redis saves and exits), then a new `redis-server` on the same port and directory.
struct Shutdown<'a>(&'a mut Redis);

impl Fault for Shutdown<'_> {
    async fn inject(&mut self) {
        let redis = &mut *self.0;
        run(
            "redis-cli shutdown",
            Command::new(&redis.cli)
                .args(["-p", &redis.port.to_string()])
                .arg("shutdown"),
        )
        .await;
        let status = redis.process().exited(Duration::from_secs(20)).await;
        assert!(status.success(), "redis-server exited with {status}");
    }

    async fn repair(&mut self) {
        self.0.spawn().await;
    }
}

/// SIGSTOP: Redis keeps its connections open and answers nothing; SIGCONT thaws it.
struct Freeze<'a>(&'a mut Redis);

impl Fault for Freeze<'_> {
    async fn inject(&mut self) {
        self.0.process().signal("STOP").await;
    }

    async fn repair(&mut self) {
        self.0.process().signal("CONT").await;
        let port = self.0.port;
        wait_for("Redis answering PING after SIGCONT", START_LIMIT, || {
            answers(port, b"PING\r\n", b"+PONG")
        })
        .await;
    }
}

/// The app with its sessions and pages on `redis`, under separate namespaces.
async fn app(redis: &Redis) -> support::app::App {
    let backend = |namespace: &str| {
        RedisBackend::builder(redis.url())
            .namespace(namespace)
            .build()
            .expect("a Redis backend")
    };
    let sessions = CacheStore::new(Cache::new(backend("faults-sessions:")));
    let pages = Cache::new(backend("faults-pages:"));
    support::app::serve(sessions, pages, None).await
}

const EXPECT: Expect = Expect {
    error_status: 500,
    sessions: Sessions::Survive,
    sessions_fail: true,
    pages_fail: true,
};

#[tokio::test]
async fn shutdown_and_restart() {
    let name = "faults_redis::shutdown_and_restart";
    let (logs, _capture) = test_logs::capture_logs();
    scenario::within_budget(name, async {
        let Some(mut redis) = Redis::start(name).await else {
            return;
        };
        let app = app(&redis).await;
        scenario::run(name, &app, &mut Shutdown(&mut redis), EXPECT, &logs)
            .await
            .assert();
    })
    .await;
}

#[tokio::test]
async fn frozen_and_thawed() {
    let name = "faults_redis::frozen_and_thawed";
    let (logs, _capture) = test_logs::capture_logs();
    scenario::within_budget(name, async {
        let Some(mut redis) = Redis::start(name).await else {
            return;
        };
        let app = app(&redis).await;
        scenario::run(name, &app, &mut Freeze(&mut redis), EXPECT, &logs)
            .await
            .assert();
    })
    .await;
}
