//! The client-side cache's checks: what it keeps, for how long, and what invalidates it.

use super::*;

fn local(max_entries: usize, max_bytes: usize) -> LocalCache {
    LocalCache::new(
        "ns:".into(),
        ClientCacheSettings {
            max_entries,
            max_bytes,
            ttl: Duration::from_secs(60),
        },
    )
}

/// Reads `key` as `value` now, without a TTL, as a reply to a fresh reservation.
fn fill_now(cache: &LocalCache, key: &str, value: &'static [u8]) {
    let token = cache.reserve(key);
    cache.fill(
        key,
        token,
        Some(Bytes::from_static(value)),
        -1,
        Instant::now(),
    );
}

fn invalidate(keys: &[&str]) -> PushInfo {
    PushInfo {
        kind: PushKind::Invalidate,
        data: vec![Value::Array(
            keys.iter()
                .map(|key| Value::BulkString(key.as_bytes().to_vec()))
                .collect(),
        )],
    }
}

#[test]
fn a_read_is_kept_only_if_nothing_invalidated_it_meanwhile() {
    let cache = local(10, 1000);
    let now = Instant::now();
    let token = cache.reserve("k");
    cache.fill("k", token, Some(Bytes::from_static(b"v")), -1, now);
    assert_eq!(cache.lookup("k"), Some(Some(Bytes::from_static(b"v"))));

    // The invalidation lands between the reply and keeping it: the reply is not kept.
    let token = cache.reserve("k");
    cache.apply(&invalidate(&["ns:k"]));
    cache.fill("k", token, Some(Bytes::from_static(b"old")), -1, now);
    assert_eq!(cache.lookup("k"), None);

    // A later reservation wins over an earlier one.
    let first = cache.reserve("k");
    let second = cache.reserve("k");
    cache.fill("k", first, Some(Bytes::from_static(b"first")), -1, now);
    assert_eq!(cache.lookup("k"), None);
    cache.fill("k", second, None, -2, now);
    assert_eq!(cache.lookup("k"), Some(None), "a miss is held too");

    // Keys of other namespaces are not ours; a flush drops everything.
    cache.apply(&invalidate(&["other:k"]));
    assert_eq!(cache.lookup("k"), Some(None));
    cache.apply(&PushInfo {
        kind: PushKind::Invalidate,
        data: vec![Value::Nil],
    });
    assert_eq!(cache.lookup("k"), None);
}

#[test]
fn values_expire_with_the_key_and_a_closed_cache_holds_nothing() {
    let cache = local(10, 1000);
    let long_ago = Instant::now() - Duration::from_secs(1);
    let token = cache.reserve("k");
    cache.fill("k", token, Some(Bytes::from_static(b"v")), 500, long_ago);
    assert_eq!(cache.lookup("k"), None, "PTTL 500 ms, read a second ago");

    fill_now(&cache, "k", b"v");
    cache.apply(&PushInfo {
        kind: PushKind::Disconnection,
        data: Vec::new(),
    });
    assert!(!cache.is_open());
    assert_eq!(cache.lookup("k"), None);
    fill_now(&cache, "k", b"v");
    assert_eq!(cache.lookup("k"), None, "a closed cache keeps nothing");
}

#[test]
fn bounds_hold_in_entries_and_bytes() {
    let cache = local(3, 10);
    for i in 0..10 {
        let key = format!("k{i}");
        let token = cache.reserve(&key);
        cache.fill(
            &key,
            token,
            Some(Bytes::from(vec![b'x'; 4])),
            -1,
            Instant::now(),
        );
        let slots = cache.slots();
        assert!(slots.by_key.len() <= 3 && slots.bytes <= 10, "{slots:?}");
    }
    assert_eq!(
        cache.lookup("k9"),
        Some(Some(Bytes::from(vec![b'x'; 4]))),
        "the newest is kept"
    );
    let token = cache.reserve("big");
    cache.fill(
        "big",
        token,
        Some(Bytes::from(vec![b'x'; 11])),
        -1,
        Instant::now(),
    );
    assert_eq!(
        cache.lookup("big"),
        None,
        "a value over the byte bound is not kept"
    );
}
