//! Conformance checks of the read-modify-write calls: counters, `get_or_set` (once for concurrent
//! callers) and `compare_and_set` under contention.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::{ok, Subject};
use crate::Error;

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
