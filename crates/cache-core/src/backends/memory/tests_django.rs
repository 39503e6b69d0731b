//! Django's own culling and LRU tests (`tests/cache/tests.py`: `_perform_cull_test`, `test_cull`,
//! `test_zero_cull`, `LocMemCacheTests.test_lru_get`, `test_lru_set`, `test_lru_incr`), with Django's
//! numbers, through the `Cache` API as Django runs them; then the rules of `locmem.py` those tests leave
//! open, each checked so that any other behaviour fails.

use std::time::{Duration, SystemTime};

use super::*;
use crate::{Cache, Timeout};

fn bounded(max_entries: u64, cull_frequency: u64) -> MemoryBackend {
    MemoryBackend::builder()
        .max_entries(max_entries)
        .cull_frequency(cull_frequency)
        .build()
        .expect("valid bounds")
}

fn v() -> Bytes {
    Bytes::from_static(b"v")
}

/// The keys of `keys` the backend still holds live, in the order given (read with `has_key`, which leaves
/// the order alone).
async fn held(backend: &MemoryBackend, keys: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for key in keys {
        if backend.has_key(key).await.expect("has_key") {
            found.push((*key).to_owned());
        }
    }
    found
}

async fn set_all(backend: &MemoryBackend, keys: &[&str]) {
    for key in keys {
        backend.set(key, v(), Expiry::Never).await.expect("set");
    }
}

/// Django's `_perform_cull_test`: sets `cull1` .. `cull{initial_count - 1}` with a 1000 s timeout, then
/// counts the keys left with `has_key`. Returns the numbers of the keys left.
async fn perform_cull_test(cache: &Cache, initial_count: u32) -> Vec<u32> {
    for i in 1..initial_count {
        cache
            .set(&format!("cull{i}"), "value")
            .timeout(Duration::from_secs(1000))
            .await
            .expect("set");
    }
    let mut left = Vec::new();
    for i in 1..initial_count {
        if cache.has_key(&format!("cull{i}")).await.expect("has_key") {
            left.push(i);
        }
    }
    left
}

#[tokio::test]
async fn test_cull() {
    // Django's "cull" cache: MAX_ENTRIES 30, CULL_FREQUENCY 3. The 31st and 41st sets each find 30 entries
    // and drop the 10 least recently used, so `cull21` .. `cull49` are left: 29, Django's number.
    let cache = Cache::new(bounded(30, 3));
    let left = perform_cull_test(&cache, 50).await;
    assert_eq!(left.len(), 29);
    assert_eq!(left, (21..50).collect::<Vec<_>>());
}

#[tokio::test]
async fn test_zero_cull() {
    // Django's "zero_cull" cache: CULL_FREQUENCY 0 empties the store on the 31st set: 19 left.
    let cache = Cache::new(bounded(30, 0));
    let left = perform_cull_test(&cache, 50).await;
    assert_eq!(left.len(), 19);
    assert_eq!(left, (31..50).collect::<Vec<_>>());
}

#[tokio::test]
async fn test_cull_and_test_zero_cull_through_cache_urls() {
    for (url, expected) in [
        ("memory://?max_entries=30&cull_frequency=3", 29),
        ("locmem://?max_entries=30&cull_frequency=0", 19),
        // Django's default CULL_FREQUENCY is 3.
        ("memory://?max_entries=30", 29),
    ] {
        let cache = Cache::from_url(url).await.expect(url);
        assert_eq!(perform_cull_test(&cache, 50).await.len(), expected, "{url}");
    }
}

#[tokio::test]
async fn nonsense_cull_settings_in_a_url_are_config_errors_naming_the_option() {
    for url in [
        "memory://?cull_frequency=-1",
        "memory://?cull_frequency=a third",
        "memory://?cull_frequency=",
        "memory://?max_entries=0",
        "memory://?max_entries=1.5",
    ] {
        let err = Cache::from_url(url).await.expect_err(url);
        assert!(matches!(err, Error::Config(_)), "{url}: {err}");
        let option = if url.contains("cull_frequency") {
            "cull_frequency"
        } else {
            "max_entries"
        };
        assert!(err.to_string().contains(option), "{url}: {err}");
    }
}

/// Django's `limit_locmem_entries`: MAX_ENTRIES 9, the default CULL_FREQUENCY 3.
fn limited() -> Cache {
    Cache::new(bounded(9, 3))
}

#[tokio::test]
async fn test_lru_get() {
    let cache = limited();
    for key in 0..9 {
        let key = key.to_string();
        cache
            .set(&key, &key)
            .timeout(Timeout::Never)
            .await
            .expect("set");
    }
    for key in 0..6 {
        let key = key.to_string();
        assert_eq!(cache.get::<String>(&key).await.expect("get"), Some(key));
    }
    cache
        .set("9", "9")
        .timeout(Timeout::Never)
        .await
        .expect("set");
    for key in 0..6 {
        let key = key.to_string();
        assert_eq!(cache.get::<String>(&key).await.expect("get"), Some(key));
    }
    for key in 6..9 {
        assert_eq!(
            cache.get::<String>(&key.to_string()).await.expect("get"),
            None
        );
    }
    assert_eq!(
        cache.get::<String>("9").await.expect("get").as_deref(),
        Some("9")
    );
}

#[tokio::test]
async fn test_lru_set() {
    let cache = limited();
    for key in 0..9 {
        cache
            .set(&key.to_string(), &key)
            .timeout(Timeout::Never)
            .await
            .expect("set");
    }
    for key in 3..9 {
        cache
            .set(&key.to_string(), &key)
            .timeout(Timeout::Never)
            .await
            .expect("set");
    }
    cache
        .set("9", &9)
        .timeout(Timeout::Never)
        .await
        .expect("set");
    for key in 3..10 {
        assert_eq!(
            cache.get::<i32>(&key.to_string()).await.expect("get"),
            Some(key)
        );
    }
    for key in 0..3 {
        assert_eq!(cache.get::<i32>(&key.to_string()).await.expect("get"), None);
    }
}

#[tokio::test]
async fn test_lru_incr() {
    let cache = limited();
    for key in 0..9 {
        cache
            .set(&key.to_string(), &key)
            .timeout(Timeout::Never)
            .await
            .expect("set");
    }
    for key in 0..6 {
        assert_eq!(
            cache.incr(&key.to_string(), 1).await.expect("incr"),
            key + 1
        );
    }
    cache
        .set("9", &9)
        .timeout(Timeout::Never)
        .await
        .expect("set");
    for key in 0..6 {
        assert_eq!(
            cache.get::<i64>(&key.to_string()).await.expect("get"),
            Some(key + 1)
        );
    }
    for key in 6..9 {
        assert_eq!(cache.get::<i64>(&key.to_string()).await.expect("get"), None);
    }
    assert_eq!(cache.get::<i64>("9").await.expect("get"), Some(9));
}

#[tokio::test]
async fn a_set_culls_a_full_store_even_when_it_replaces_a_key() {
    // `_set` checks `len >= max_entries` before looking at the key: replacing "c" in a full store of 3
    // culls the least recently used ("a") first.
    let backend = bounded(3, 3);
    set_all(&backend, &["a", "b", "c"]).await;
    set_all(&backend, &["c"]).await;
    assert_eq!(held(&backend, &["a", "b", "c"]).await, ["b", "c"]);
    assert_eq!(backend.entry_count(), 2);
}

#[tokio::test]
async fn a_cull_can_take_the_key_being_replaced() {
    // Full store of 4, cull 2: replacing the least recently used key culls it and inserts it anew.
    let backend = bounded(4, 2);
    set_all(&backend, &["a", "b", "c", "d"]).await;
    backend
        .set("a", Bytes::from_static(b"new"), Expiry::Never)
        .await
        .expect("set");
    assert_eq!(held(&backend, &["a", "b", "c", "d"]).await, ["a", "c", "d"]);
    assert_eq!(
        backend.get("a").await.expect("get").as_deref(),
        Some(&b"new"[..])
    );
}

#[tokio::test]
async fn reads_that_leave_the_order_alone() {
    // `has_key`, `touch` and a refused `add` do not move "a": the next cull still takes it. (`get`
    // would: see `test_lru_get`.)
    for (what, op) in [("has_key", 0), ("touch", 1), ("refused add", 2)] {
        let backend = bounded(3, 3);
        set_all(&backend, &["a", "b", "c"]).await;
        match op {
            0 => assert!(backend.has_key("a").await.expect("has_key")),
            1 => assert!(backend.touch("a", Expiry::Never).await.expect("touch")),
            _ => assert!(!backend.add("a", v(), Expiry::Never).await.expect("add")),
        }
        set_all(&backend, &["d"]).await;
        assert_eq!(
            held(&backend, &["a", "b", "c", "d"]).await,
            ["b", "c", "d"],
            "{what} moved the key"
        );
    }
}

#[tokio::test]
async fn writes_and_reads_that_make_a_key_the_most_recently_used() {
    // `get`, `get_now`, `incr`, `compare_and_set` and a storing `add` (over an expired entry) move "a" to
    // the front: the next cull takes "b" instead.
    let past = Expiry::At(SystemTime::UNIX_EPOCH);
    for op in 0..5 {
        let backend = bounded(3, 3);
        let first = if op == 4 { past } else { Expiry::Never };
        backend
            .set("a", Bytes::from_static(b"1"), first)
            .await
            .expect("set");
        set_all(&backend, &["b", "c"]).await;
        let what = match op {
            0 => {
                assert!(backend.get("a").await.expect("get").is_some());
                "get"
            }
            1 => {
                let read = backend.get_now("a").expect("immediate").expect("read");
                assert!(read.is_some());
                "get_now"
            }
            2 => {
                assert_eq!(backend.incr("a", 1).await.expect("incr"), 2);
                "incr"
            }
            3 => {
                let swapped = backend
                    .compare_and_set("a", b"1", v(), Expiry::Never)
                    .await
                    .expect("compare_and_set");
                assert!(swapped);
                "compare_and_set"
            }
            _ => {
                assert!(backend.add("a", v(), Expiry::Never).await.expect("add"));
                "add"
            }
        };
        set_all(&backend, &["d"]).await;
        assert_eq!(
            held(&backend, &["a", "b", "c", "d"]).await,
            ["a", "c", "d"],
            "{what} did not move the key"
        );
    }
}

#[tokio::test]
async fn get_many_moves_each_key_in_the_order_given() {
    // As Django's `get_many` (one `get` per key): after reading c, a, d, b the order is b d a c, and a
    // cull of 2 takes c and a.
    let backend = bounded(4, 2);
    set_all(&backend, &["a", "b", "c", "d"]).await;
    let keys: Vec<String> = ["c", "a", "d", "b"].map(String::from).to_vec();
    let values = backend.get_many(&keys).await.expect("get_many");
    assert!(values.iter().all(Option::is_some));
    set_all(&backend, &["e"]).await;
    assert_eq!(
        held(&backend, &["a", "b", "c", "d", "e"]).await,
        ["b", "d", "e"]
    );
}

#[tokio::test]
async fn expired_entries_count_and_are_culled_in_their_place_not_first() {
    // Django removes an expired entry only when something reads it: "x" expired but most recently used,
    // so the cull that "d" causes takes the least recently used live entry, "b".
    let backend = bounded(3, 3);
    set_all(&backend, &["b", "c"]).await;
    backend
        .set("x", v(), Expiry::At(SystemTime::UNIX_EPOCH))
        .await
        .expect("set expired");
    assert_eq!(backend.entry_count(), 3, "an expired entry is held");
    set_all(&backend, &["d"]).await;
    assert_eq!(held(&backend, &["b", "c", "d"]).await, ["c", "d"]);
}

#[tokio::test]
async fn which_reads_remove_an_expired_entry() {
    let past = Expiry::At(SystemTime::UNIX_EPOCH);
    let backend = MemoryBackend::new();
    // `touch` reports it missing and leaves it, as Django's `touch` does.
    backend.set("e", v(), past).await.expect("set");
    assert!(!backend.touch("e", Expiry::Never).await.expect("touch"));
    assert_eq!(backend.entry_count(), 1);
    // `get`, `has_key` and `incr` remove it.
    assert!(backend.get("e").await.expect("get").is_none());
    assert_eq!(backend.entry_count(), 0);
    backend.set("e", v(), past).await.expect("set");
    assert!(!backend.has_key("e").await.expect("has_key"));
    assert_eq!(backend.entry_count(), 0);
    backend
        .set("e", Bytes::from_static(b"1"), past)
        .await
        .expect("set");
    assert!(matches!(
        backend.incr("e", 1).await,
        Err(Error::KeyNotFound { .. })
    ));
    assert_eq!(backend.entry_count(), 0);
}

#[tokio::test]
async fn incr_keeps_the_expiry_and_does_not_cull() {
    let at = SystemTime::now() + Duration::from_secs(600);
    let backend = bounded(2, 1);
    backend
        .set("n", Bytes::from_static(b"1"), Expiry::At(at))
        .await
        .expect("set");
    set_all(&backend, &["m"]).await;
    // The store is full (2 of 2); an `incr` adds no entry, so nothing is culled.
    assert_eq!(backend.incr("n", 41).await.expect("incr"), 42);
    assert_eq!(backend.entry_count(), 2);
    let (value, expiry) = backend
        .get_now_with_expiry("n")
        .expect("immediate")
        .expect("read")
        .expect("present");
    assert_eq!(&value[..], b"42");
    assert_eq!(expiry, Expiry::At(at));
}

#[tokio::test]
async fn cull_frequency_one_empties_a_full_store_and_a_large_one_lets_it_grow() {
    let backend = bounded(3, 1);
    set_all(&backend, &["a", "b", "c", "d"]).await;
    assert_eq!(held(&backend, &["a", "b", "c", "d"]).await, ["d"]);
    // With 5 > max_entries 2, `len // 5` is 0 until the store holds 5: it grows to 5, as Django's would.
    let backend = bounded(2, 5);
    set_all(&backend, &["a", "b", "c", "d", "e"]).await;
    assert_eq!(backend.entry_count(), 5);
    set_all(&backend, &["f"]).await;
    assert_eq!(
        held(&backend, &["a", "b", "c", "d", "e", "f"]).await,
        ["b", "c", "d", "e", "f"]
    );
}

#[tokio::test]
async fn the_byte_bound_evicts_least_recently_used_entries_one_at_a_time() {
    // Each entry is 3 bytes (a one-byte key, a two-byte value); 10 bytes hold three. "a" was read, so the
    // fourth entry pushes out "b" alone.
    let backend = MemoryBackend::builder()
        .max_bytes(10)
        .build()
        .expect("valid bounds");
    for key in ["a", "b", "c"] {
        backend
            .set(key, Bytes::from_static(b"xx"), Expiry::Never)
            .await
            .expect("set");
    }
    assert!(backend.get("a").await.expect("get").is_some());
    backend
        .set("d", Bytes::from_static(b"xx"), Expiry::Never)
        .await
        .expect("set");
    assert_eq!(held(&backend, &["a", "b", "c", "d"]).await, ["a", "c", "d"]);
    assert_eq!(backend.weighted_size(), 9);
}

#[tokio::test]
async fn a_named_store_keeps_the_cull_settings_it_was_made_with() {
    let name = format!("cull-settings-{}", std::process::id());
    let first = MemoryBackend::builder()
        .name(&name)
        .max_entries(3)
        .cull_frequency(0)
        .build()
        .expect("named");
    let second = MemoryBackend::builder()
        .name(&name)
        .max_entries(100)
        .build()
        .expect("named");
    set_all(&second, &["a", "b", "c", "d"]).await;
    // Frequency 0 from the first builder: the fourth set emptied the store.
    assert_eq!(held(&first, &["a", "b", "c", "d"]).await, ["d"]);
}
