//! memcached under the page cache and the session store is killed under load, then started again.
//!
//! The test starts its own `memcached` on a spare loopback port, serves an app whose sessions
//! (`CacheStore`) and cached pages (`CachePageLayer`) both live there, with the session layer's error
//! response configured to 503, and drives it with several browsers while memcached is killed (SIGKILL),
//! kept down for 5 s and started again on the same port.
//!
//! Expected: pages answer 200 throughout (the page cache fails open, then fills again); `/count` answers
//! the configured 503 within the bound while memcached is down; sessions work again soon after it
//! returns. memcached keeps nothing across a restart, so every session is lost: each browser's cookie
//! names an unknown key, and it gets a new session (a new key, the counter back at 1) — never an error.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use axum::http::StatusCode;
use tempfile::TempDir;
use tokio::process::Command;
use tower_django::cache::backends::MemcachedBackend;
use tower_django::cache::Cache;
use tower_django::sessions::store::CacheStore;

use support::process::ServerProcess;
use support::process::{answers, running_as_root, server_program, spare_port, wait_for};
use support::scenario::{self, Expect, Fault, Sessions};

/// How long memcached may take to start and answer `version`.
const START_LIMIT: Duration = Duration::from_secs(20);

/// A `memcached` of this test.
struct Memcached {
    /// Declared first so it is dropped (the server killed) before its log's directory is removed.
    process: Option<ServerProcess>,
    program: PathBuf,
    port: u16,
    /// Holds the server's log.
    dir: TempDir,
}

impl Memcached {
    /// Starts memcached, or `None` (skipped) when it is not installed.
    async fn start(test: &str) -> Option<Memcached> {
        let mut memcached = Memcached {
            program: server_program("memcached", test)?,
            port: spare_port(),
            dir: tempfile::tempdir().expect("a directory for memcached's log"),
            process: None,
        };
        memcached.spawn().await;
        Some(memcached)
    }

    /// Starts memcached on the port (loopback, no UDP, 64 MiB) and waits until it answers.
    async fn spawn(&mut self) {
        let mut command = Command::new(&self.program);
        command
            .args(["-l", "127.0.0.1", "-U", "0", "-m", "64", "-p"])
            .arg(self.port.to_string());
        if running_as_root() {
            // memcached refuses to run as root without a user to switch to.
            command.args(["-u", "nobody"]);
        }
        let log = self.dir.path().join("memcached.log");
        self.process = Some(ServerProcess::spawn("memcached", command, &log));
        let port = self.port;
        wait_for("memcached answering version", START_LIMIT, || {
            answers(port, b"version\r\n", b"VERSION")
        })
        .await;
    }

    fn url(&self) -> String {
        format!("memcached://127.0.0.1:{}", self.port)
    }
}

/// SIGKILL, then a new memcached on the same port.
struct Kill<'a>(&'a mut Memcached);

impl Fault for Kill<'_> {
    async fn inject(&mut self) {
        self.0
            .process
            .as_mut()
            .expect("memcached was started")
            .kill()
            .await;
    }

    async fn repair(&mut self) {
        self.0.spawn().await;
    }
}

#[tokio::test]
async fn killed_and_restarted() {
    let name = "faults_memcached::killed_and_restarted";
    let (logs, _capture) = test_logs::capture_logs();
    scenario::within_budget(name, async {
        let Some(mut memcached) = Memcached::start(name).await else {
            return;
        };
        let cache = |prefix: &str| {
            let backend =
                MemcachedBackend::from_url(&memcached.url()).expect("a memcached backend");
            Cache::builder(backend).key_prefix(prefix).build()
        };
        let sessions = CacheStore::new(cache("faults-sessions"));
        let app = support::app::serve(
            sessions,
            cache("faults-pages"),
            Some(StatusCode::SERVICE_UNAVAILABLE),
        )
        .await;
        let expect = Expect {
            error_status: 503,
            sessions: Sessions::LostOnce,
            sessions_fail: true,
            pages_fail: true,
        };
        scenario::run(name, &app, &mut Kill(&mut memcached), expect, &logs)
            .await
            .assert();
    })
    .await;
}
