//! Conformance checks of how long entries live: expiry, "never", `touch`, `incr` keeping the expiry, and
//! culling a bounded backend.

use std::time::Duration;

use super::{get_str, ok, Subject};
use crate::{Error, Timeout};

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
    assert_eq!(get_str(c, "k", "get").await.as_deref(), Some("again"));
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
