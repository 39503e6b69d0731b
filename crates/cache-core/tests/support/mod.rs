//! Servers a test starts, stops and restarts itself (a `redis-server` or `memcached` child process on a
//! spare loopback port), for the fault tests: the shared servers of `TEST_*_URL` must never be stopped;
//! and the fault tests' drivers, shared by the backends (each test file says only how to build its cache).

#![allow(dead_code)] // each test file uses part of this module

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use cache_core::testing::{FaultMode, FaultProxy};
use cache_core::{CacheBackend, Expiry, KeyLimits, Result};

/// A backend that owns what must live exactly as long as it (a private server, a temporary directory, a
/// table to drop when the test is done), and forwards every operation to `backend`.
pub struct Owning<B, G> {
    pub backend: B,
    pub guard: G,
}

impl<B, G> std::ops::Deref for Owning<B, G> {
    type Target = B;
    fn deref(&self) -> &B {
        &self.backend
    }
}

#[async_trait]
impl<B: CacheBackend, G: Send + Sync + 'static> CacheBackend for Owning<B, G> {
    fn name(&self) -> &'static str {
        self.backend.name()
    }
    fn key_limits(&self) -> KeyLimits {
        self.backend.key_limits()
    }
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.backend.get(key).await
    }
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        self.backend.get_many(keys).await
    }
    async fn set(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<()> {
        self.backend.set(key, value, expiry).await
    }
    async fn set_many(&self, entries: Vec<(String, Bytes)>, expiry: Expiry) -> Result<Vec<String>> {
        self.backend.set_many(entries, expiry).await
    }
    async fn add(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<bool> {
        self.backend.add(key, value, expiry).await
    }
    async fn delete(&self, key: &str) -> Result<bool> {
        self.backend.delete(key).await
    }
    async fn delete_many(&self, keys: &[String]) -> Result<()> {
        self.backend.delete_many(keys).await
    }
    async fn touch(&self, key: &str, expiry: Expiry) -> Result<bool> {
        self.backend.touch(key, expiry).await
    }
    async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        self.backend.incr(key, delta).await
    }
    async fn has_key(&self, key: &str) -> Result<bool> {
        self.backend.has_key(key).await
    }
    async fn compare_and_set(&self, key: &str, old: &[u8], new: Bytes, at: Expiry) -> Result<bool> {
        self.backend.compare_and_set(key, old, new, at).await
    }
    async fn clear(&self) -> Result<()> {
        self.backend.clear().await
    }
}

/// Which server program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    Redis,
    Memcached,
}

impl Program {
    fn binary(self) -> &'static str {
        match self {
            Program::Redis => "redis-server",
            Program::Memcached => "memcached",
        }
    }

    /// A request the server answers at once, and the start of its reply.
    fn probe(self) -> (&'static [u8], &'static [u8]) {
        match self {
            Program::Redis => (b"PING\r\n", b"+PONG"),
            Program::Memcached => (b"version\r\n", b"VERSION"),
        }
    }
}

/// A server child process on its own port. Killed when dropped.
#[derive(Debug)]
pub struct TestServer {
    program: Program,
    port: u16,
    child: Option<Child>,
}

impl TestServer {
    /// Starts `program` on a free loopback port, or `None` (said on stderr) when the program is not
    /// installed — a failure instead with `TEST_REQUIRE_SERVERS=1`, where `var` names the suite's variable.
    pub fn start(program: Program, var: &str) -> Option<TestServer> {
        if !installed(program.binary()) {
            let required = std::env::var("TEST_REQUIRE_SERVERS").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "{} is not installed and TEST_REQUIRE_SERVERS=1 ({var} is set)",
                program.binary()
            );
            cache_core::testing::say_once(&format!(
                "skipping the {} fault tests ({var} is set): {} is not installed",
                program.binary(),
                program.binary()
            ));
            return None;
        }
        // A port free a moment ago may be taken before the server binds it: try another.
        for _ in 0..3 {
            let mut server = TestServer {
                program,
                port: free_port(),
                child: None,
            };
            if server.try_spawn().is_ok() {
                return Some(server);
            }
        }
        panic!("{} did not start on any of three ports", program.binary());
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Kills the server and waits until its port refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while accepts(self.addr()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn spawn(&mut self) {
        if let Err(why) = self.try_spawn() {
            panic!(
                "{} did not start on port {}: {why}",
                self.program.binary(),
                self.port
            );
        }
    }

    /// Starts the server and waits until it answers its protocol: a bare TCP connect is not proof, since a
    /// connection to an unused port of the ephemeral range can connect to itself.
    fn try_spawn(&mut self) -> Result<(), String> {
        let port = self.port.to_string();
        let mut command = Command::new(self.program.binary());
        match self.program {
            Program::Redis => {
                command.args([
                    "--port",
                    &port,
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    &std::env::temp_dir().to_string_lossy(),
                ]);
            }
            Program::Memcached => {
                command.args(["-p", &port, "-U", "0", "-l", "127.0.0.1", "-m", "16"]);
                if is_root() {
                    // memcached refuses to run as root without -u.
                    command.args(["-u", "nobody"]);
                }
            }
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.program.binary()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        let (request, reply) = self.program.probe();
        while !answers(self.addr(), request, reply) {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(format!("it exited ({status})"));
                }
            }
            if Instant::now() >= deadline {
                return Err("it did not answer within 10 s".to_owned());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

/// Whether a server at `addr` answers `request` with a reply starting with `expected`.
fn answers(addr: SocketAddr, request: &[u8], expected: &[u8]) -> bool {
    let exchange = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
        stream.set_read_timeout(Some(Duration::from_secs(1)))?;
        stream.write_all(request)?;
        let mut reply = vec![0; expected.len()];
        stream.read_exact(&mut reply)?;
        Ok(reply == expected)
    };
    exchange().unwrap_or(false)
}

fn accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

fn installed(binary: &str) -> bool {
    Command::new(binary)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}

/// Asserts that `result` is a backend error and came within `bound`.
#[track_caller]
pub fn assert_fails_fast<T: std::fmt::Debug>(
    what: &str,
    started: Instant,
    bound: Duration,
    result: cache_core::Result<T>,
) {
    let elapsed = started.elapsed();
    match result {
        Err(error) if error.is_backend() => {}
        other => panic!("{what}: expected a backend error, got {other:?}"),
    }
    assert!(elapsed < bound, "{what} took {elapsed:?} (bound {bound:?})");
}

/// Runs every cache operation against a server that is down or hanging: each must be a backend error
/// within `bound`, never a hang or a panic.
pub async fn every_operation_fails_fast(cache: &cache_core::Cache, bound: Duration) {
    macro_rules! check {
        ($what:literal, $call:expr) => {{
            let started = Instant::now();
            let result = tokio::time::timeout(bound * 3, $call)
                .await
                .unwrap_or_else(|_| panic!("{} hung", $what));
            assert_fails_fast($what, started, bound, result);
        }};
    }
    check!("get", cache.get::<String>("k"));
    check!("get_bytes", cache.get_bytes("k"));
    check!("get_many", cache.get_many::<String, _, _>(["a", "b"]));
    check!("set", cache.set("k", "v"));
    check!("set_many", cache.set_many([("a", 1), ("b", 2)]));
    check!("add", cache.add("k", "v"));
    check!("delete", cache.delete("k"));
    check!("delete_many", cache.delete_many(["a", "b"]));
    check!("touch", cache.touch("k"));
    check!("incr", cache.incr("n", 1));
    check!("has_key", cache.has_key("k"));
    check!("get_or_set", cache.get_or_set("k", 1));
    check!("clear", cache.clear());
}

/// The stopped-server test: a cache on a private `program` server (built by `cache_on` from the server's
/// address) fails every operation fast while the server is down, and the same cache works again once it
/// is back. Returns without a test when the program is not installed.
pub async fn stopped_server_fails_fast_and_recovers<B: cache_core::CacheBackend>(
    program: Program,
    var: &str,
    backend_on: impl FnOnce(SocketAddr) -> cache_core::Result<B>,
) {
    let Some(mut server) = TestServer::start(program, var) else {
        return;
    };
    let cache = cache_core::Cache::new(backend_on(server.addr()).expect("valid backend"));
    cache.set("before", "v").await.expect("set while up");

    server.stop();
    // The default timeout is 1 s; a refused connection fails at once.
    every_operation_fails_fast(&cache, Duration::from_millis(1500)).await;

    server.restart();
    cache.set("after", "v").await.expect("set after restart");
    assert_eq!(
        cache.get::<String>("after").await.expect("get").as_deref(),
        Some("v")
    );
    assert_eq!(
        cache.incr_version("after", 1).await.expect("incr_version"),
        2
    );
}

/// The hanging-server test: a cache (built by `cache_on` from the address of a [`FaultProxy`] in front of
/// `upstream`, with a 500 ms timeout) fails every operation by its deadline while the proxy swallows
/// traffic, and the same cache reads its value again once the proxy forwards. Returns the cache and the
/// proxy (still forwarding) for the caller's clean-up.
///
/// [`FaultProxy`]: cache_core::testing::FaultProxy
pub async fn hanging_server_times_out_and_recovers(
    upstream: SocketAddr,
    cache_on: impl FnOnce(SocketAddr) -> cache_core::Cache,
) -> (cache_core::Cache, FaultProxy) {
    let proxy = FaultProxy::start(upstream).await.expect("proxy");
    let cache = cache_on(proxy.addr());
    cache.set("k", "v").await.expect("set through the proxy");

    proxy.set_mode(FaultMode::Blackhole);
    // Each operation ends at its 500 ms deadline (plus scheduling slack), never later.
    every_operation_fails_fast(&cache, Duration::from_millis(1000)).await;

    proxy.set_mode(FaultMode::Forward);
    assert_eq!(
        cache
            .get::<String>("k")
            .await
            .expect("get after the hang")
            .as_deref(),
        Some("v")
    );
    (cache, proxy)
}

/// The unreachable-server test: `backend_on` builds a backend (300 ms timeout) on a loopback port where
/// nothing listens; `get` is a backend error of `name` within 2 s, not a hang. Returns the error.
pub async fn unreachable_server_is_an_error<B: cache_core::CacheBackend>(
    name: &str,
    backend_on: impl FnOnce(u16) -> B,
) -> cache_core::Error {
    let backend = backend_on(free_port());
    let started = Instant::now();
    let error = backend.get("k").await.expect_err("nothing listens there");
    assert!(
        matches!(&error, cache_core::Error::Backend { backend, .. } if *backend == name),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    error
}
