//! Conformance checks of what is stored: round trips, `set`/`add`/`delete`, the multi-key calls, `clear`,
//! any bytes and values that do not decode.

use std::collections::HashMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{get_str, ok, Subject};
use crate::Error;

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

/// Round trips of strings, structs, numbers and a stored `null`.
pub async fn set_and_get_round_trip(s: Subject) {
    let c = &s.cache;
    ok(c.set("str", "value").await, "set str");
    assert_eq!(get_str(c, "str", "get str").await.as_deref(), Some("value"));
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
    assert_eq!(get_str(c, "k", "get").await.as_deref(), Some("first"));
    assert!(ok(c.delete("k").await, "delete"));
    assert!(ok(c.add("k", "third").await, "add after delete"));
    assert_eq!(get_str(c, "k", "get").await.as_deref(), Some("third"));
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
    // Garbage is a JSON error, or a pickle error for a cache in Django's format.
    assert!(matches!(
        c.get::<String>("raw").await,
        Err(Error::Decode { .. }
            | Error::Pickle {
                action: "decode",
                ..
            })
    ));
}
