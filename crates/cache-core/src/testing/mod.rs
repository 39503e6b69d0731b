//! The backend conformance suite: every behaviour of the cache API, written once, run against any backend.
//!
//! [`conformance_suite!`](crate::conformance_suite) expands to one `#[tokio::test]` per behaviour, each given
//! a fresh [`Subject`] by your factory, so a failure names the behaviour and the backend:
//!
//! ```ignore
//! cache_core::conformance_suite!(async |setup: cache_core::testing::Setup| {
//!     let backend = MemoryBackend::builder().max_entries(setup.max_entries).build().unwrap();
//!     Some(Subject::new(Cache::builder(backend).key_prefix(setup.prefix).build()).culls())
//! });
//! ```
//!
//! A factory returns `None` to skip (a server that is not configured): it should say so on stderr.
//! Every check uses only the public API, so a failure here is a failure users would see.

use std::time::Duration;

use crate::Cache;

mod atomic;
mod keys;
mod lifetimes;
mod proxy;
mod storage;

pub use atomic::{
    compare_and_set_swaps_only_the_expected_value, get_or_set, get_or_set_with_runs_once,
    incr_and_decr,
};
pub use keys::{key_prefixes_isolate, key_validation, versions};
pub use lifetimes::{
    culling_bounds_entries, expired_entries_are_gone, incr_keeps_expiry, never_expiring_entries,
    touch_rearms_expiry, zero_timeout_is_already_expired, CULL_MAX_ENTRIES,
};
pub use proxy::{FaultMode, FaultProxy};
pub use storage::{
    add_only_when_absent, clear_empties, delete_and_delete_many, get_many_and_set_many,
    set_and_get_round_trip, set_overwrites, undecodable_values_are_errors, unicode_and_binary,
};

/// The URL of a test server from the environment variable `var` (e.g. `TEST_REDIS_URL`).
///
/// When it is unset or empty: with `TEST_REQUIRE_SERVERS=1` this panics (CI must not skip silently);
/// otherwise it says on stderr that `what` is skipped and returns `None`.
pub fn server_url(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            let required = std::env::var("TEST_REQUIRE_SERVERS").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "{var} is not set and TEST_REQUIRE_SERVERS=1: {what} cannot be skipped"
            );
            say_once(&format!("skipping {what}: set {var} to run it"));
            None
        }
    }
}

/// Writes `line` to stderr once per process. Straight to stderr rather than through `eprintln!`, which
/// the test harness captures and shows only for failing tests: a skip must be visible in a passing run.
pub fn say_once(line: &str) {
    use std::io::Write;
    static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut said = SAID
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !said.iter().any(|l| l == line) {
        said.push(line.to_owned());
        let _ = writeln!(std::io::stderr(), "{line}");
    }
}

/// What the suite asks a factory for.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The behaviour under test; unique per test, usable as a table, directory or store name.
    pub name: &'static str,
    /// A key prefix unique to this test and run, so tests sharing a server never see each other's keys.
    pub prefix: String,
    /// The entry bound to configure, on backends that have one (small only in the culling check).
    pub max_entries: u64,
}

/// A cache under test and what its backend can do.
#[derive(Debug, Clone)]
pub struct Subject {
    /// The cache to test.
    pub cache: Cache,
    /// The finest expiry the backend keeps (memcached: whole seconds).
    pub expiry_resolution: Duration,
    /// Whether the backend bounds its entries (memory, file, database), so the culling check applies.
    pub culls: bool,
}

impl Subject {
    /// A subject with millisecond expiry and no entry bound.
    pub fn new(cache: Cache) -> Self {
        Subject {
            cache,
            expiry_resolution: Duration::from_millis(1),
            culls: false,
        }
    }

    /// Marks the backend as bounding its entries to `Setup::max_entries`.
    pub fn culls(mut self) -> Self {
        self.culls = true;
        self
    }

    /// Sets the finest expiry the backend keeps.
    pub fn expiry_resolution(mut self, resolution: Duration) -> Self {
        self.expiry_resolution = resolution;
        self
    }

    /// A timeout long enough to outlive the test's own steps, short enough to wait out.
    fn short_timeout(&self) -> Duration {
        (self.expiry_resolution * 2).max(Duration::from_millis(300))
    }

    async fn wait_out(&self, timeout: Duration) {
        tokio::time::sleep(timeout + self.expiry_resolution + Duration::from_millis(150)).await;
    }
}

/// A unique prefix for one test in one run.
pub fn unique_prefix(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("t{}-{nanos}-{name}", std::process::id())
}

/// The string under `key`, reading it as `what` (the operation named when it fails).
async fn get_str(c: &Cache, key: &str, what: &str) -> Option<String> {
    ok(c.get::<String>(key).await, what)
}

/// Reports a result the check did not expect, with the operation named.
fn ok<T>(result: crate::Result<T>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{what} failed: {error}"),
    }
}

/// Expands to one `#[tokio::test]` per conformance check, each calling `$factory(setup)` for a fresh
/// [`Subject`](crate::testing::Subject) (`None` skips). The factory is an async closure or a function
/// `fn(Setup) -> impl Future<Output = Option<Subject>>`.
#[macro_export]
macro_rules! conformance_suite {
    ($factory:expr) => {
        $crate::conformance_suite!(@tests $factory;
            set_and_get_round_trip, set_overwrites, add_only_when_absent, expired_entries_are_gone,
            zero_timeout_is_already_expired, never_expiring_entries, touch_rearms_expiry,
            delete_and_delete_many, get_many_and_set_many, incr_and_decr, incr_keeps_expiry, versions,
            key_prefixes_isolate, clear_empties, unicode_and_binary, undecodable_values_are_errors,
            key_validation, get_or_set, get_or_set_with_runs_once, culling_bounds_entries,
            compare_and_set_swaps_only_the_expected_value);
    };
    (@tests $factory:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let setup = $crate::testing::Setup {
                    name: stringify!($check),
                    prefix: $crate::testing::unique_prefix(stringify!($check)),
                    max_entries: if stringify!($check) == "culling_bounds_entries" {
                        $crate::testing::CULL_MAX_ENTRIES
                    } else {
                        100_000
                    },
                };
                let factory = $factory;
                if let Some(subject) = factory(setup).await {
                    $crate::testing::$check(subject).await;
                }
            }
        )*
    };
}
