//! The memory backend's own checks (the conformance suite runs in `tests/conformance.rs`).

use super::*;

#[tokio::test]
async fn entry_bound_holds() {
    let backend = MemoryBackend::builder()
        .max_entries(10)
        .build()
        .expect("valid");
    for i in 0..50 {
        backend
            .set(&format!("k{i}"), Bytes::from_static(b"v"), Expiry::Never)
            .await
            .expect("set");
    }
    assert!(backend.entry_count() <= 10, "{}", backend.entry_count());
    // LRU: the newest entry was admitted.
    assert!(backend.get("k49").await.expect("get").is_some());
}

#[tokio::test]
async fn byte_bound_holds() {
    let backend = MemoryBackend::builder()
        .max_entries(1000)
        .max_bytes(10_000)
        .build()
        .expect("valid");
    for i in 0..100 {
        backend
            .set(
                &format!("k{i}"),
                Bytes::from(vec![b'x'; 1000]),
                Expiry::Never,
            )
            .await
            .expect("set");
    }
    assert!(
        backend.weighted_size() <= 10_000,
        "{}",
        backend.weighted_size()
    );
    assert!(
        backend.entry_count() >= 5,
        "evicted too much: {}",
        backend.entry_count()
    );
}

#[tokio::test]
async fn a_value_larger_than_the_whole_cache_is_an_error() {
    let backend = MemoryBackend::builder()
        .max_bytes(100)
        .build()
        .expect("valid");
    let err = backend
        .set("k", Bytes::from(vec![0; 200]), Expiry::Never)
        .await
        .expect_err("too large");
    assert!(
        matches!(
            err,
            Error::ValueTooLarge {
                size: 201,
                limit: 100,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn compare_and_set_swaps_only_the_expected_live_value() {
    let backend = MemoryBackend::new();
    let v = |s: &'static str| Bytes::from_static(s.as_bytes());
    assert!(!backend
        .compare_and_set("k", b"a", v("b"), Expiry::Never)
        .await
        .expect("missing"));
    backend.set("k", v("a"), Expiry::Never).await.expect("set");
    assert!(!backend
        .compare_and_set("k", b"x", v("b"), Expiry::Never)
        .await
        .expect("mismatch"));
    assert!(backend
        .compare_and_set("k", b"a", v("b"), Expiry::Never)
        .await
        .expect("match"));
    assert_eq!(
        backend.get("k").await.expect("get").as_deref(),
        Some(&b"b"[..])
    );
    let past = Expiry::At(std::time::SystemTime::UNIX_EPOCH);
    backend.set("e", v("a"), past).await.expect("set expired");
    assert!(!backend
        .compare_and_set("e", b"a", v("b"), Expiry::Never)
        .await
        .expect("expired"));
}

#[tokio::test]
async fn every_write_and_no_read_moves_the_generation() {
    let backend = MemoryBackend::new();
    let never = Expiry::Never;
    let mut seen = backend
        .generation()
        .expect("the memory backend counts writes");
    let mut moved = |what: &str, backend: &MemoryBackend| {
        let now = backend.generation().expect("generation");
        assert_ne!(now, seen, "{what} did not move the generation");
        seen = now;
    };
    backend
        .set("k", Bytes::from_static(b"1"), never)
        .await
        .expect("set");
    moved("set", &backend);
    backend
        .add("a", Bytes::from_static(b"1"), never)
        .await
        .expect("add");
    moved("add", &backend);
    backend.touch("k", never).await.expect("touch");
    moved("touch", &backend);
    backend.incr("k", 1).await.expect("incr");
    moved("incr", &backend);
    let swapped = backend
        .compare_and_set("k", b"2", Bytes::from_static(b"3"), never)
        .await
        .expect("compare_and_set");
    assert!(swapped);
    moved("compare_and_set", &backend);
    backend.delete("a").await.expect("delete");
    moved("delete", &backend);
    backend.clear().await.expect("clear");
    moved("clear", &backend);

    let before = backend.generation();
    let _ = backend.get("k").await;
    let _ = backend.get_now("k");
    let _ = backend.has_key("k").await;
    assert_eq!(backend.generation(), before, "reads moved the generation");
    // Named stores share it.
    let name = format!("generation-{}", std::process::id());
    let one = MemoryBackend::builder().name(&name).build().expect("named");
    let two = MemoryBackend::builder().name(&name).build().expect("named");
    let before = two.generation();
    one.set("k", Bytes::from_static(b"1"), never)
        .await
        .expect("set");
    assert_ne!(two.generation(), before);
}

#[tokio::test]
async fn get_now_with_expiry_agrees_with_get() {
    let backend = MemoryBackend::new();
    let at = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
    backend
        .set("k", Bytes::from_static(b"v"), Expiry::At(at))
        .await
        .expect("set");
    let read = backend.get_now_with_expiry("k").expect("synchronous");
    let (value, expiry) = read.expect("read").expect("present");
    assert_eq!(&value[..], b"v");
    assert!(matches!(expiry, Expiry::At(t) if t == at));
    let past = Expiry::At(std::time::SystemTime::UNIX_EPOCH);
    backend
        .set("gone", Bytes::from_static(b"v"), past)
        .await
        .expect("set");
    assert!(backend
        .get_now_with_expiry("gone")
        .expect("synchronous")
        .expect("read")
        .is_none());
    assert!(backend.get("gone").await.expect("get").is_none());
}

#[tokio::test]
async fn a_write_publishes_its_generation_after_its_evictions() {
    // Three entries fit; the fourth write culls one (3 / 3), and a reader that sees the fourth write's
    // generation must not find the culled entry.
    let backend = MemoryBackend::builder()
        .max_entries(3)
        .build()
        .expect("bounded");
    let never = Expiry::Never;
    for key in ["a", "b", "c"] {
        backend
            .set(key, Bytes::from_static(b"v"), never)
            .await
            .expect("set");
    }
    let before = backend.generation();
    backend
        .set("d", Bytes::from_static(b"v"), never)
        .await
        .expect("set");
    assert_ne!(backend.generation(), before);
    let mut present = 0;
    for key in ["a", "b", "c", "d"] {
        if backend.get(key).await.expect("get").is_some() {
            present += 1;
        }
    }
    assert_eq!(
        present, 3,
        "the cull was not applied before the write returned"
    );
}

#[tokio::test]
async fn zero_bounds_are_rejected() {
    assert!(matches!(
        MemoryBackend::builder().max_entries(0).build(),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        MemoryBackend::builder().max_bytes(0).build(),
        Err(Error::Config(_))
    ));
}

#[tokio::test]
async fn named_stores_are_shared_and_different_names_isolated() {
    let a1 = MemoryBackend::builder()
        .name("memory-test-a")
        .build()
        .expect("valid");
    let a2 = MemoryBackend::builder()
        .name("memory-test-a")
        .build()
        .expect("valid");
    let b = MemoryBackend::builder()
        .name("memory-test-b")
        .build()
        .expect("valid");
    let private = MemoryBackend::new();
    a1.set("k", Bytes::from_static(b"1"), Expiry::Never)
        .await
        .expect("set");
    assert_eq!(a2.get("k").await.expect("get").as_deref(), Some(&b"1"[..]));
    assert_eq!(b.get("k").await.expect("get"), None);
    assert_eq!(private.get("k").await.expect("get"), None);
    b.clear().await.expect("clear");
    assert!(a2.has_key("k").await.expect("has_key"));
}
