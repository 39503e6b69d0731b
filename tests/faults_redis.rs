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

use support::process::{run, server_program, spare_port, Probe, ServerProcess};
use support::scenario::{self, Expect, Fault, Target};

/// Redis is up once it answers `PING` (its append-only file loaded).
const PING: Probe = Probe {
    what: "Redis answering PING",
    request: b"PING\r\n",
    reply: b"+PONG",
};

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
    /// Starts `redis-server` on the port and directory, and waits until it answers (its data loaded).
    async fn spawn(&mut self) {
        let mut command = Command::new(&self.server);
        command
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--appendonly", "yes", "--save", "", "--dir"])
            .arg(self.dir.path());
        let log = self.dir.path().join("redis.log");
        self.process =
            Some(ServerProcess::start("redis-server", command, &log, self.port, PING).await);
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn process(&mut self) -> &mut ServerProcess {
        self.process.as_mut().expect("Redis was started")
    }
}

impl Target for Redis {
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

    /// The app with its sessions and pages on Redis, under separate namespaces.
    async fn serve(&self) -> support::app::App {
        let backend = |namespace: &str| {
            RedisBackend::builder(self.url())
                .namespace(namespace)
                .build()
                .expect("a Redis backend")
        };
        let sessions = CacheStore::new(Cache::new(backend("faults-sessions:")));
        let pages = Cache::new(backend("faults-pages:"));
        support::app::serve(sessions, pages, None).await
    }
}

/// `redis-cli shutdown` (Redis saves and exits), then a new `redis-server` on the same port and directory.
struct Shutdown;

impl Fault<Redis> for Shutdown {
    async fn inject(&mut self, redis: &mut Redis) {
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

    async fn repair(&mut self, redis: &mut Redis) {
        redis.spawn().await;
    }
}

/// SIGSTOP: Redis keeps its connections open and answers nothing; SIGCONT thaws it.
struct Freeze;

impl Fault<Redis> for Freeze {
    async fn inject(&mut self, redis: &mut Redis) {
        redis.process().signal("STOP").await;
    }

    async fn repair(&mut self, redis: &mut Redis) {
        redis.process().signal("CONT").await;
        Probe {
            what: "Redis answering PING after SIGCONT",
            ..PING
        }
        .wait(redis.port)
        .await;
    }
}

#[tokio::test]
async fn shutdown_and_restart() {
    let name = "faults_redis::shutdown_and_restart";
    scenario::test::<Redis>(name, Shutdown, Expect::outage(500)).await;
}

#[tokio::test]
async fn frozen_and_thawed() {
    let name = "faults_redis::frozen_and_thawed";
    scenario::test::<Redis>(name, Freeze, Expect::outage(500)).await;
}
