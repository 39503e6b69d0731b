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

use axum::http::StatusCode;
use tempfile::TempDir;
use tokio::process::Command;
use tower_django::cache::backends::MemcachedBackend;
use tower_django::cache::Cache;
use tower_django::sessions::store::CacheStore;

use support::process::{running_as_root, server_program, spare_port, Probe, ServerProcess};
use support::scenario::{self, Expect, Fault, Sessions, Target};

/// memcached is up once it answers `version`.
const VERSION: Probe = Probe {
    what: "memcached answering version",
    request: b"version\r\n",
    reply: b"VERSION",
};

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
        self.process =
            Some(ServerProcess::start("memcached", command, &log, self.port, VERSION).await);
    }

    fn url(&self) -> String {
        format!("memcached://127.0.0.1:{}", self.port)
    }
}

impl Target for Memcached {
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

    /// The app with its sessions and pages on memcached, under separate key prefixes, its session
    /// errors answered with 503.
    async fn serve(&self) -> support::app::App {
        let cache = |prefix: &str| {
            let backend = MemcachedBackend::from_url(&self.url()).expect("a memcached backend");
            Cache::builder(backend).key_prefix(prefix).build()
        };
        let sessions = CacheStore::new(cache("faults-sessions"));
        support::app::serve(
            sessions,
            cache("faults-pages"),
            Some(StatusCode::SERVICE_UNAVAILABLE),
        )
        .await
    }
}

/// SIGKILL, then a new memcached on the same port.
struct Kill;

impl Fault<Memcached> for Kill {
    async fn inject(&mut self, memcached: &mut Memcached) {
        memcached
            .process
            .as_mut()
            .expect("memcached was started")
            .kill()
            .await;
    }

    async fn repair(&mut self, memcached: &mut Memcached) {
        memcached.spawn().await;
    }
}

#[tokio::test]
async fn killed_and_restarted() {
    let expect = Expect {
        sessions: Sessions::LostOnce,
        ..Expect::outage(503)
    };
    scenario::test::<Memcached>("faults_memcached::killed_and_restarted", Kill, expect).await;
}
