//! The fault tests' own server processes: finding a server program (or skipping without it), spare
//! loopback ports, children that are killed when their guard is dropped, and waiting for a condition.

use std::future::Future;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// The shared servers' ports (PostgreSQL, MariaDB, Redis, memcached, the Redis Cluster): a fault test
/// stops and freezes its servers, so it must never land on one of these.
const SHARED_PORTS: [u16; 8] = [5432, 3306, 6379, 11211, 11212, 7001, 7002, 7003];

/// How long a server may take to start (or to load its data) and answer its [`Probe`].
const START_LIMIT: Duration = Duration::from_secs(20);

/// How long one helper command (`redis-cli`, `kill`, `pg_ctl`, …) may take before the test fails.
const COMMAND_LIMIT: Duration = Duration::from_secs(45);

/// The path of the server program `name`, searched in `PATH` and then in Debian's PostgreSQL directories
/// (`/usr/lib/postgresql/<major>/bin`, newest first), which are not in `PATH`.
///
/// Missing: with `TEST_REQUIRE_SERVERS=1` this panics (CI must not skip silently); otherwise it says on
/// stderr that `test` is skipped and returns `None`.
pub fn server_program(name: &str, test: &str) -> Option<PathBuf> {
    if let Some(path) = find_program(name) {
        return Some(path);
    }
    let required = std::env::var("TEST_REQUIRE_SERVERS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{name} is not installed and TEST_REQUIRE_SERVERS=1: {test} cannot be skipped \
         (bash .ci/install-fault-servers.sh installs it)"
    );
    tower_django::cache::testing::say_once(&format!(
        "skipping {test}: {name} is not installed (bash .ci/install-fault-servers.sh installs it)"
    ));
    None
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut postgres_dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .collect();
    postgres_dirs.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
    std::env::split_paths(&path)
        .chain(postgres_dirs.into_iter().map(|(_, dir)| dir))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Whether this process runs as root (servers such as PostgreSQL and memcached then need another user).
pub fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// A loopback port nothing listens on now, and not one of the shared servers'.
pub fn spare_port() -> u16 {
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a spare port");
        let port = listener.local_addr().expect("local address").port();
        if !SHARED_PORTS.contains(&port) {
            return port;
        }
    }
}

/// A server process started by a test. Dropping the guard kills it (SIGKILL, which also ends a stopped
/// process), so a failing or panicking test leaves nothing running.
pub struct ServerProcess {
    name: String,
    child: Child,
}

/// How a test tells that its server is up: a request the server answers once it works, and the start of
/// its reply.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    /// What the wait is, for the failure message (`"Redis answering PING"`).
    pub what: &'static str,
    pub request: &'static [u8],
    pub reply: &'static [u8],
}

impl Probe {
    /// Waits until the server on `127.0.0.1:port` answers; panics after [`START_LIMIT`].
    pub async fn wait(self, port: u16) {
        wait_for(self.what, START_LIMIT, || {
            answers(port, self.request, self.reply)
        })
        .await;
    }
}

impl ServerProcess {
    /// Starts the server `command` (as [`ServerProcess::spawn`]) and waits until it answers `probe` on
    /// `port`.
    pub async fn start(
        name: &str,
        command: Command,
        log: &Path,
        port: u16,
        probe: Probe,
    ) -> ServerProcess {
        let process = ServerProcess::spawn(name, command, log);
        probe.wait(port).await;
        process
    }

    /// Starts `command` with its output appended to `log` (the file is created if needed).
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> ServerProcess {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("server log file");
        let err = out.try_clone().expect("server log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {name}: {error}"));
        ServerProcess {
            name: name.to_owned(),
            child,
        }
    }

    /// The process id (while it runs).
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the server process is running")
    }

    /// Sends `signal` (a `kill` signal name such as `STOP` or `CONT`) to the process.
    pub async fn signal(&self, signal: &str) {
        let pid = self.pid().to_string();
        run(
            &format!("kill -{signal} {}", self.name),
            Command::new("kill").arg(format!("-{signal}")).arg(pid),
        )
        .await;
    }

    /// Waits for the process to exit by itself (after a shutdown command).
    pub async fn exited(&mut self, limit: Duration) -> ExitStatus {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} did not exit within {limit:?}", self.name))
            .expect("wait for the server process")
    }

    /// Kills the process (SIGKILL: no chance to save anything) and reaps it.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("kill the server process");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // `kill_on_drop` would do the same; said here so the guard does not depend on how it was spawned.
        let _ = self.child.start_kill();
    }
}

/// Runs a helper command to completion and returns its stdout; panics with its output when it fails or
/// takes longer than [`COMMAND_LIMIT`]. Asynchronous, so the app and its clients keep running meanwhile.
pub async fn run(what: &str, command: &mut Command) -> String {
    try_run(what, command)
        .await
        .unwrap_or_else(|failure| panic!("{failure}"))
}

/// Like [`run`], returning a failure (in words, with the command's output) instead of panicking.
pub async fn try_run(what: &str, command: &mut Command) -> Result<String, String> {
    let output = tokio::time::timeout(
        COMMAND_LIMIT,
        command.stdin(Stdio::null()).kill_on_drop(true).output(),
    )
    .await
    .map_err(|_| format!("`{what}` took longer than {COMMAND_LIMIT:?}"))?
    .map_err(|error| format!("cannot run `{what}`: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "`{what}` failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Whether a server on `127.0.0.1:port` answers `request` with a reply starting with `expected` (within
/// one second).
pub async fn answers(port: u16, request: &[u8], expected: &[u8]) -> bool {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(request).await?;
        let mut reply = vec![0; expected.len()];
        stream.read_exact(&mut reply).await?;
        std::io::Result::Ok(reply == expected)
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), exchange).await,
        Ok(Ok(true))
    )
}

/// Polls `check` every 20 ms until it holds and returns how long that took; panics after `limit`.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
