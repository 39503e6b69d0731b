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

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::{Cache, Error, Timeout};

mod proxy;
pub use proxy::{FaultMode, FaultProxy};

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    name: String,
    tags: Vec<String>,
    score: f64,
    nested: HashMap<String, Option<u32>>,
}

fn profile() -> Profile {
    Profile {
        name: "Zoë ✓".into(),
        tags: vec!["a".into(), "日本".into()],
        score: 0.5,
        nested: HashMap::from([("x".into(), Some(1)), ("y".into(), None)]),
    }
}

/// Reports a result the check did not expect, with the operation named.
fn ok<T>(result: crate::Result<T>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{what} failed: {error}"),
    }
}

/// Round trips of strings, structs, numbers and a stored `null`.
pub async fn set_and_get_round_trip(s: Subject) {
    let c = &s.cache;
    ok(c.set("str", "value").await, "set str");
    assert_eq!(
        ok(c.get::<String>("str").await, "get str").as_deref(),
        Some("value")
    );
    ok(c.set("struct", &profile()).await, "set struct");
    assert_eq!(
        ok(c.get::<Profile>("struct").await, "get struct"),
        Some(profile())
    );
    ok(c.set("int", &-12_i64).await, "set int");
    assert_eq!(ok(c.get::<i64>("int").await, "get int"), Some(-12));
    ok(c.set("none", &Option::<u8>::None).await, "set none");
    assert_eq!(
        ok(c.get::<Option<u8>>("none").await, "get none"),
        Some(None),
        "a stored null is a hit, not a miss"
    );
    assert!(ok(c.has_key("none").await, "has_key none"));
    assert_eq!(ok(c.get::<String>("missing").await, "get missing"), None);
    assert!(!ok(c.has_key("missing").await, "has_key missing"));
}

/// `set` replaces whatever was there, including a value of another type.
pub async fn set_overwrites(s: Subject) {
    let c = &s.cache;
    ok(c.set("k", "first").await, "set");
    ok(c.set("k", &2).await, "overwrite");
    assert_eq!(ok(c.get::<i32>("k").await, "get"), Some(2));
}

/// `add` stores only when the key is absent, and leaves a live value alone.
pub async fn add_only_when_absent(s: Subject) {
    let c = &s.cache;
    assert!(ok(c.add("k", "first").await, "add to empty"));
    assert!(!ok(c.add("k", "second").await, "add over live"));
    assert_eq!(
        ok(c.get::<String>("k").await, "get").as_deref(),
        Some("first")
    );
    assert!(ok(c.delete("k").await, "delete"));
    assert!(ok(c.add("k", "third").await, "add after delete"));
    assert_eq!(
        ok(c.get::<String>("k").await, "get").as_deref(),
        Some("third")
    );
}

/// An expired entry is absent to every operation: `get`, `has_key`, `add`, `touch`, `incr`.
pub async fn expired_entries_are_gone(s: Subject) {
    let c = &s.cache;
    let short = s.short_timeout();
    ok(c.set("k", "v").timeout(short).await, "set short");
    ok(c.set("n", &1).timeout(short).await, "set short int");
    assert!(ok(c.has_key("k").await, "has_key before expiry"));
    s.wait_out(short).await;
    assert_eq!(ok(c.get::<String>("k").await, "get after expiry"), None);
    assert!(!ok(c.has_key("k").await, "has_key after expiry"));
    assert!(!ok(c.touch("k").await, "touch after expiry"));
    assert!(matches!(
        c.incr("n", 1).await,
        Err(Error::KeyNotFound { .. })
    ));
    assert!(ok(c.add("k", "again").await, "add over expired"));
    assert_eq!(
        ok(c.get::<String>("k").await, "get").as_deref(),
        Some("again")
    );
}

/// Zero (Django's 0 or negative) stores nothing visible, and removes what was there.
pub async fn zero_timeout_is_already_expired(s: Subject) {
    let c = &s.cache;
    ok(c.set("k", "old").await, "set");
    ok(c.set("k", "new").timeout(Duration::ZERO).await, "set zero");
    assert_eq!(ok(c.get::<String>("k").await, "get"), None);
    assert!(ok(
        c.add("a", "v").timeout(Timeout::from_secs_signed(-1)).await,
        "add zero"
    ));
    assert_eq!(ok(c.get::<String>("a").await, "get added"), None);
    ok(
        c.set_many([("m1", 1), ("m2", 2)])
            .timeout(Duration::ZERO)
            .await,
        "set_many zero",
    );
    assert!(ok(c.get_many::<i32, _, _>(["m1", "m2"]).await, "get_many").is_empty());
    let value: i32 = ok(
        c.get_or_set("g", 5).timeout(Duration::ZERO).await,
        "get_or_set zero",
    );
    assert_eq!(value, 5);
    assert!(!ok(c.has_key("g").await, "has_key g"));
}

/// `Timeout::Never` entries outlive the default; a never-default cache keeps entries without a timeout.
pub async fn never_expiring_entries(s: Subject) {
    let short = s.short_timeout();
    let c = s.cache.to_builder().default_timeout(short).build();
    ok(
        c.set("forever", "v").timeout(Timeout::Never).await,
        "set never",
    );
    ok(c.set("default", "v").await, "set default");
    s.wait_out(short).await;
    assert!(ok(c.has_key("forever").await, "never-expiring entry"));
    assert!(!ok(c.has_key("default").await, "default-timeout entry"));
}

/// `touch` re-arms a live entry, reports a missing one, and expires with zero.
pub async fn touch_rearms_expiry(s: Subject) {
    let c = &s.cache;
    let short = s.short_timeout();
    assert!(!ok(c.touch("missing").await, "touch missing"));
    ok(c.set("k", "v").timeout(short).await, "set short");
    assert!(ok(
        c.touch("k").timeout(Timeout::Never).await,
        "touch never"
    ));
    ok(
        c.set("gone", "v").timeout(Timeout::Never).await,
        "set never",
    );
    assert!(ok(c.touch("gone").timeout(short).await, "touch short"));
    s.wait_out(short).await;
    assert!(ok(c.has_key("k").await, "touched to never"));
    assert!(!ok(c.has_key("gone").await, "touched to short"));
    assert!(ok(
        c.touch("k").timeout(Duration::ZERO).await,
        "touch zero on live"
    ));
    assert!(!ok(c.has_key("k").await, "touched to zero"));
}

/// `delete` reports whether it removed something; `delete_many` takes any list, even empty.
pub async fn delete_and_delete_many(s: Subject) {
    let c = &s.cache;
    assert!(!ok(c.delete("missing").await, "delete missing"));
    ok(c.set("k", "v").await, "set");
    assert!(ok(c.delete("k").await, "delete live"));
    assert!(!ok(c.has_key("k").await, "has_key after delete"));
    ok(c.set_many([("a", 1), ("b", 2), ("c", 3)]).await, "set_many");
    ok(c.delete_many(["a", "c", "never-set"]).await, "delete_many");
    ok(
        c.delete_many(Vec::<String>::new()).await,
        "delete_many empty",
    );
    let left = ok(c.get_many::<i32, _, _>(["a", "b", "c"]).await, "get_many");
    assert_eq!(left, HashMap::from([("b".to_owned(), 2)]));
}

/// `get_many` answers under the caller's names, leaves out misses, and includes stored nulls.
pub async fn get_many_and_set_many(s: Subject) {
    let c = &s.cache;
    assert!(ok(
        c.set_many(Vec::<(String, i32)>::new()).await,
        "set_many empty"
    )
    .is_empty());
    let failed = ok(
        c.set_many([("a", Some(1)), ("b", None), ("c", Some(3))])
            .await,
        "set_many",
    );
    assert!(failed.is_empty(), "failed keys: {failed:?}");
    let found = ok(
        c.get_many::<Option<i32>, _, _>(["a", "b", "c", "missing"])
            .await,
        "get_many",
    );
    assert_eq!(
        found,
        HashMap::from([
            ("a".to_owned(), Some(1)),
            ("b".to_owned(), None),
            ("c".to_owned(), Some(3))
        ])
    );
    assert!(ok(
        c.get_many::<i32, _, _>(Vec::<String>::new()).await,
        "get_many empty"
    )
    .is_empty());
}

/// `incr`/`decr`: new value, negative deltas, distinct errors for missing and non-numeric values.
pub async fn incr_and_decr(s: Subject) {
    let c = &s.cache;
    ok(c.set("n", &10).await, "set");
    assert_eq!(ok(c.incr("n", 1).await, "incr"), 11);
    assert_eq!(ok(c.incr("n", 10).await, "incr 10"), 21);
    assert_eq!(ok(c.incr("n", -30).await, "incr negative"), -9);
    assert_eq!(ok(c.decr("n", 1).await, "decr"), -10);
    assert_eq!(ok(c.get::<i64>("n").await, "get"), Some(-10));
    assert!(
        matches!(c.incr("missing", 1).await, Err(Error::KeyNotFound { key }) if key == "missing"),
        "missing key"
    );
    ok(c.set("text", "abc").await, "set text");
    assert!(
        matches!(c.incr("text", 1).await, Err(Error::NotNumeric { key }) if key == "text"),
        "non-numeric value"
    );
    ok(c.set("null", &Option::<i32>::None).await, "set null");
    assert!(matches!(
        c.incr("null", 1).await,
        Err(Error::NotNumeric { .. })
    ));
}

/// `incr` keeps the entry's expiry rather than resetting it.
pub async fn incr_keeps_expiry(s: Subject) {
    let c = &s.cache;
    let short = s.short_timeout();
    ok(c.set("n", &1).timeout(short).await, "set short");
    assert_eq!(ok(c.incr("n", 1).await, "incr"), 2);
    s.wait_out(short).await;
    assert!(!ok(
        c.has_key("n").await,
        "incremented entry kept its expiry"
    ));
}

/// Versions: separate entries per version, `incr_version`/`decr_version` move them.
pub async fn versions(s: Subject) {
    let c = &s.cache;
    ok(c.set("k", "v1").await, "set v1");
    ok(c.set("k", "v2").version(2).await, "set v2");
    assert_eq!(
        ok(c.get::<String>("k").await, "get default").as_deref(),
        Some("v1")
    );
    assert_eq!(
        ok(c.get::<String>("k").version(2).await, "get v2").as_deref(),
        Some("v2")
    );
    assert_eq!(ok(c.get::<String>("k").version(3).await, "get v3"), None);

    ok(c.set("moved", "m").await, "set moved");
    assert_eq!(ok(c.incr_version("moved", 1).await, "incr_version"), 2);
    assert_eq!(ok(c.get::<String>("moved").await, "old version"), None);
    assert_eq!(
        ok(c.get::<String>("moved").version(2).await, "new version").as_deref(),
        Some("m")
    );
    assert_eq!(
        ok(c.decr_version("moved", 1).version(2).await, "decr_version"),
        1
    );
    assert_eq!(
        ok(c.get::<String>("moved").await, "back").as_deref(),
        Some("m")
    );
    assert_eq!(ok(c.get::<String>("moved").version(2).await, "left"), None);

    ok(c.set("nullv", &Option::<u8>::None).await, "set null");
    assert_eq!(
        ok(c.incr_version("nullv", 5).await, "incr_version of null"),
        6
    );
    assert!(matches!(
        c.incr_version("missing", 1).await,
        Err(Error::KeyNotFound { .. })
    ));

    let v5 = c.to_builder().version(5).build();
    ok(v5.set("k", "five").await, "set through a version-5 cache");
    assert_eq!(
        ok(c.get::<String>("k").version(5).await, "read at 5").as_deref(),
        Some("five")
    );
}

/// Two prefixes on one store never see each other's keys.
pub async fn key_prefixes_isolate(s: Subject) {
    let a = &s.cache;
    let b = a
        .to_builder()
        .key_prefix(format!("{}-other", a.key_prefix()))
        .build();
    ok(a.set("k", "a").await, "set a");
    ok(b.set("k", "b").await, "set b");
    assert_eq!(
        ok(a.get::<String>("k").await, "get a").as_deref(),
        Some("a")
    );
    assert_eq!(
        ok(b.get::<String>("k").await, "get b").as_deref(),
        Some("b")
    );
    assert!(ok(b.delete("k").await, "delete b"));
    assert_eq!(
        ok(a.get::<String>("k").await, "a untouched").as_deref(),
        Some("a")
    );
}

/// `clear` empties the cache.
pub async fn clear_empties(s: Subject) {
    let c = &s.cache;
    ok(c.set_many([("a", 1), ("b", 2)]).await, "set_many");
    ok(c.clear().await, "clear");
    assert!(ok(c.get_many::<i32, _, _>(["a", "b"]).await, "get_many").is_empty());
    ok(c.set("after", &1).await, "usable after clear");
    assert!(ok(c.has_key("after").await, "has_key after clear"));
}

/// Unicode keys and values, and arbitrary binary values through the raw-bytes calls.
pub async fn unicode_and_binary(s: Subject) {
    let c = &s.cache;
    let key = "ключ-日本-😀";
    ok(c.set(key, "значение 😀 \u{0}").await, "set unicode");
    assert_eq!(
        ok(c.get::<String>(key).await, "get unicode").as_deref(),
        Some("значение 😀 \u{0}")
    );
    let all_bytes: Vec<u8> = (0..=255).collect();
    ok(c.set_bytes("bin", all_bytes.clone()).await, "set_bytes");
    assert_eq!(
        ok(c.get_bytes("bin").await, "get_bytes"),
        Some(Bytes::from(all_bytes))
    );
    let page = Bytes::from(vec![b'x'; 512 * 1024]);
    ok(c.set_bytes("page", page.clone()).await, "set 512 KiB");
    assert_eq!(ok(c.get_bytes("page").await, "get 512 KiB"), Some(page));
    ok(c.set_bytes("empty", Bytes::new()).await, "set empty");
    assert_eq!(
        ok(c.get_bytes("empty").await, "get empty"),
        Some(Bytes::new())
    );
}

/// A stored value of the wrong shape is a decode error naming the key, not a panic or a wrong value.
pub async fn undecodable_values_are_errors(s: Subject) {
    let c = &s.cache;
    ok(c.set("k", "text").await, "set");
    match c.get::<u32>("k").await {
        Err(Error::Decode { key, .. }) => assert_eq!(key, "k"),
        other => panic!("expected a decode error, got {other:?}"),
    }
    ok(
        c.set_bytes("raw", &b"\xff\x00not json"[..]).await,
        "set raw",
    );
    assert!(matches!(
        c.get::<String>("raw").await,
        Err(Error::Decode { .. })
    ));
}

/// Keys that break only memcached's rules are accepted (with a warning) unless the backend would fail;
/// keys over the backend's own limit are [`Error::InvalidKey`] and never reach it.
pub async fn key_validation(s: Subject) {
    let c = &s.cache;
    let limits = c.backend().key_limits();
    let long = "k".repeat(300);
    let result = c.set(&long, "v").await;
    if limits
        .max_chars
        .is_some_and(|max| c.make_key(&long, None).chars().count() > max)
    {
        assert!(
            matches!(result, Err(Error::InvalidKey { .. })),
            "{result:?}"
        );
        assert!(matches!(
            c.get::<String>(&long).await,
            Err(Error::InvalidKey { .. })
        ));
    } else {
        ok(result, "set long key");
        assert_eq!(
            ok(c.get::<String>(&long).await, "get long").as_deref(),
            Some("v")
        );
    }
    let spaced = "has space";
    let result = c.set(spaced, "v").await;
    if limits.rejects_control_characters {
        assert!(
            matches!(result, Err(Error::InvalidKey { .. })),
            "{result:?}"
        );
    } else {
        ok(result, "set spaced key");
        assert_eq!(
            ok(c.get::<String>(spaced).await, "get spaced").as_deref(),
            Some("v")
        );
    }
}

/// `get_or_set`: a miss stores the default, a hit returns what is stored.
pub async fn get_or_set(s: Subject) {
    let c = &s.cache;
    assert_eq!(ok(c.get_or_set("k", 1).await, "miss"), 1);
    assert_eq!(ok(c.get::<i32>("k").await, "stored"), Some(1));
    assert_eq!(ok(c.get_or_set("k", 2).await, "hit"), 1);
    assert_eq!(
        ok(c.get_or_set("n", Option::<i32>::None).await, "null default"),
        None
    );
    assert!(ok(c.has_key("n").await, "a null default is stored"));
}

/// Concurrent `get_or_set_with` on one cold key runs the closure once; everyone gets its value.
pub async fn get_or_set_with_runs_once(s: Subject) {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let cache = s.cache.clone();
        let calls = Arc::clone(&calls);
        tasks.push(tokio::spawn(async move {
            cache
                .get_or_set_with("cold", || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    "computed".to_owned()
                })
                .await
        }));
    }
    for task in tasks {
        let value = ok(task.await.map_err(|e| Error::Config(e.to_string())), "join");
        assert_eq!(ok(value, "get_or_set_with"), "computed");
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the closure ran more than once"
    );
    assert_eq!(
        ok(s.cache.get::<String>("cold").await, "stored").as_deref(),
        Some("computed")
    );
    let again: String = ok(
        s.cache
            .get_or_set_with("cold", || async { "recomputed".to_owned() })
            .await,
        "hit",
    );
    assert_eq!(again, "computed");
}

/// `compare_and_set` swaps only the live, expected value, atomically: 20 tasks incrementing one counter by
/// read-then-swap (retrying when they lose) end at 20. Backends without it answer
/// [`Error::Unsupported`] and skip the rest.
pub async fn compare_and_set_swaps_only_the_expected_value(s: Subject) {
    use crate::backend::Expiry;
    let c = &s.cache;
    let backend = c.backend();
    let key = c.make_key("cas", None);
    let minute = || Expiry::after(Duration::from_secs(60));
    ok(
        backend
            .set(&key, Bytes::from_static(b"one"), minute())
            .await,
        "set",
    );
    match backend
        .compare_and_set(&key, b"two", Bytes::from_static(b"x"), minute())
        .await
    {
        Err(Error::Unsupported { .. }) => return,
        result => assert!(
            !ok(result, "swap from a wrong value"),
            "swapped a wrong value"
        ),
    }
    assert_eq!(
        ok(backend.get(&key).await, "get").as_deref(),
        Some(&b"one"[..])
    );
    assert!(ok(
        backend
            .compare_and_set(&key, b"one", Bytes::from_static(b"three"), minute())
            .await,
        "swap"
    ));
    assert_eq!(
        ok(backend.get(&key).await, "get").as_deref(),
        Some(&b"three"[..])
    );

    let missing = c.make_key("cas-missing", None);
    assert!(!ok(
        backend
            .compare_and_set(&missing, b"", Bytes::from_static(b"x"), minute())
            .await,
        "swap of a missing key"
    ));
    assert_eq!(
        ok(backend.get(&missing).await, "get"),
        None,
        "created by a swap"
    );

    let short = s.short_timeout();
    let expiring = c.make_key("cas-expiring", None);
    ok(
        backend
            .set(&expiring, Bytes::from_static(b"old"), Expiry::after(short))
            .await,
        "set short",
    );
    s.wait_out(short).await;
    assert!(!ok(
        backend
            .compare_and_set(&expiring, b"old", Bytes::from_static(b"x"), minute())
            .await,
        "swap of an expired entry"
    ));

    let counter = c.make_key("cas-counter", None);
    ok(
        backend
            .set(&counter, Bytes::from_static(b"0"), minute())
            .await,
        "set counter",
    );
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let cache = c.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let backend = cache.backend();
                loop {
                    let current = backend.get(&counter).await?.unwrap_or_default();
                    let n: u64 = std::str::from_utf8(&current)
                        .ok()
                        .and_then(|text| text.parse().ok())
                        .unwrap_or(0);
                    let next = Bytes::from((n + 1).to_string());
                    let expiry = Expiry::after(Duration::from_secs(60));
                    if backend
                        .compare_and_set(&counter, &current, next, expiry)
                        .await?
                    {
                        return Ok::<(), Error>(());
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        let joined = task.await.map_err(|e| Error::Config(e.to_string()));
        ok(joined.and_then(|result| result), "increment by swap");
    }
    assert_eq!(
        ok(backend.get(&counter).await, "get").as_deref(),
        Some(&b"20"[..])
    );
}

/// A bounded backend culls: it never holds many more than `max_entries`, and the newest entry is kept.
pub async fn culling_bounds_entries(s: Subject) {
    if !s.culls {
        return;
    }
    let c = &s.cache;
    let keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    for key in &keys {
        ok(c.set(key, key).await, "set");
    }
    let found = ok(c.get_many::<String, _, _>(keys.clone()).await, "get_many");
    assert!(
        found.len() <= (CULL_MAX_ENTRIES + 1) as usize,
        "{} entries survived with max_entries {CULL_MAX_ENTRIES}",
        found.len()
    );
    assert!(found.contains_key("k39"), "the newest entry was culled");
}

/// The entry bound the culling check asks for.
pub const CULL_MAX_ENTRIES: u64 = 10;

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
