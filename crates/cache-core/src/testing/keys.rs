//! Conformance checks of keys: versions, prefixes, and which keys a backend accepts.

use super::{get_str, ok, Subject};
use crate::Error;

/// Versions: separate entries per version, `incr_version`/`decr_version` move them.
pub async fn versions(s: Subject) {
    let c = &s.cache;
    ok(c.set("k", "v1").await, "set v1");
    ok(c.set("k", "v2").version(2).await, "set v2");
    assert_eq!(get_str(c, "k", "get default").await.as_deref(), Some("v1"));
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
    assert_eq!(get_str(c, "moved", "back").await.as_deref(), Some("m"));
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
