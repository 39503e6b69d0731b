//! PostgreSQL under the session store and the page cache restarts under load; the app recovers without
//! being restarted, and nothing committed is lost.
//!
//! Each test makes a throwaway cluster with `initdb` in a temporary directory (as the `postgres` user when
//! run as root: PostgreSQL refuses to run as root), started with `pg_ctl` on a spare loopback port with
//! `trust` authentication, and serves an app whose sessions (`DatabaseStore`) and cached pages (the
//! database cache backend) both live there. Then, with several browsers going:
//!
//! - [`restart_fast`]: `pg_ctl restart -m fast` (open transactions are aborted, the server comes straight
//!   back);
//! - [`stopped_for_five_seconds`]: `pg_ctl stop -m fast`, 5 s down, `pg_ctl start`.
//!
//! Expected: pages answer 200 throughout; `/count` answers 200 or the configured 500 (within the bound);
//! both pools reconnect by themselves; every acknowledged session write is still there.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;
use tokio::process::Command;
use tower_django::cache::backends::DatabaseBackend;
use tower_django::cache::Cache;
use tower_django::sessions::store::DatabaseStore;

use support::process::{run, running_as_root, server_program, spare_port};
use support::scenario::{self, Expect, Fault, Target};

/// The OS user PostgreSQL runs as when the tests run as root.
const PG_USER: &str = "postgres";

/// How long `pg_ctl` may wait for the server to start or stop.
const PG_CTL_WAIT: &str = "30";

/// A throwaway PostgreSQL cluster; stopped (immediate mode) and removed when dropped.
struct Cluster {
    /// The directory of `initdb` and `pg_ctl`.
    bin: PathBuf,
    /// Holds the data directory, the log and the Unix socket.
    dir: TempDir,
    port: u16,
}

impl Cluster {
    /// `pg_ctl start` on the spare port, loopback only, its Unix socket in the cluster's directory.
    async fn pg_start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        run(
            "pg_ctl start",
            self.pg_ctl().args(["-o", &options, "start"]),
        )
        .await;
    }

    /// `pg_ctl <action> -m fast` (`stop`, `restart`): open transactions are aborted.
    async fn pg_ctl_fast(&self, action: &str) {
        run(
            &format!("pg_ctl {action} -m fast"),
            self.pg_ctl().args(["-m", "fast", action]),
        )
        .await;
    }

    /// `program` of the cluster's installation, run as [`PG_USER`] when this process is root.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        let mut command = if running_as_root() {
            let mut runuser = Command::new("runuser");
            runuser.args(["-u", PG_USER, "--"]).arg(program);
            runuser
        } else {
            Command::new(program)
        };
        // The server's working directory must be readable by its user.
        command.current_dir(self.dir.path());
        command
    }

    /// `pg_ctl` on this cluster, waiting for each action, logging to the cluster's log.
    fn pg_ctl(&self) -> Command {
        let mut command = self.command("pg_ctl");
        command
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("postgres.log"))
            .args(["-w", "-t", PG_CTL_WAIT]);
        command
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Synchronous on purpose: the runtime may be gone; an immediate stop takes milliseconds.
        let pg_ctl = self.bin.join("pg_ctl");
        let mut command = if running_as_root() {
            let mut runuser = std::process::Command::new("runuser");
            runuser.args(["-u", PG_USER, "--"]).arg(pg_ctl);
            runuser
        } else {
            std::process::Command::new(pg_ctl)
        };
        let _ = command
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .current_dir(Path::new("/"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Target for Cluster {
    /// Creates and starts a cluster, or `None` (skipped) when PostgreSQL is not installed.
    async fn start(test: &str) -> Option<Cluster> {
        let initdb = server_program("initdb", test)?;
        let bin = initdb.parent().expect("initdb's directory").to_owned();
        let dir = tempfile::Builder::new()
            .prefix("faults-pg")
            .tempdir()
            .expect("a directory for PostgreSQL");
        if running_as_root() {
            run(
                "chown the cluster's directory",
                Command::new("chown").arg(PG_USER).arg(dir.path()),
            )
            .await;
        }
        let cluster = Cluster {
            bin,
            dir,
            port: spare_port(),
        };
        run(
            "initdb",
            cluster
                .command("initdb")
                .arg("-D")
                .arg(cluster.data())
                .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"])
                .arg("--no-sync"),
        )
        .await;
        cluster.pg_start().await;
        Some(cluster)
    }

    /// The app with its sessions and pages in the cluster, each in its own table.
    async fn serve(&self) -> support::app::App {
        let sessions = DatabaseStore::builder(self.url())
            .table("faults_sessions")
            .connect()
            .await
            .expect("a session store on PostgreSQL");
        sessions.migrate().await.expect("the session table");
        let pages = DatabaseBackend::builder(self.url())
            .table("faults_pages")
            .connect()
            .await
            .expect("a cache on PostgreSQL");
        pages.create_table().await.expect("the cache table");
        support::app::serve(sessions, Cache::new(pages), None).await
    }
}

/// `pg_ctl restart -m fast`: the server is down only while it restarts.
struct Restart;

impl Fault<Cluster> for Restart {
    async fn inject(&mut self, cluster: &mut Cluster) {
        cluster.pg_ctl_fast("restart").await;
    }

    async fn repair(&mut self, _cluster: &mut Cluster) {}

    fn hold(&self) -> Duration {
        Duration::ZERO
    }
}

/// `pg_ctl stop -m fast`, then `pg_ctl start` with the same options.
struct Stop;

impl Fault<Cluster> for Stop {
    async fn inject(&mut self, cluster: &mut Cluster) {
        cluster.pg_ctl_fast("stop").await;
    }

    async fn repair(&mut self, cluster: &mut Cluster) {
        cluster.pg_start().await;
    }
}

#[tokio::test]
async fn restart_fast() {
    let expect = Expect {
        // A fast restart takes about a second: requests may or may not meet it.
        sessions_fail: false,
        pages_fail: false,
        ..Expect::outage(500)
    };
    scenario::test::<Cluster>("faults_postgres::restart_fast", Restart, expect).await;
}

#[tokio::test]
async fn stopped_for_five_seconds() {
    let name = "faults_postgres::stopped_for_five_seconds";
    scenario::test::<Cluster>(name, Stop, Expect::outage(500)).await;
}
