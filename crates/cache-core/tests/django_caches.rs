//! One cache shared by Django and this crate, on every backend both have: Django 5.2's `RedisCache`,
//! `PyMemcacheCache`, `FileBasedCache` and `DatabaseCache` (SQLite, PostgreSQL, MySQL/MariaDB) beside a
//! `Cache` built from a URL with `value_format=django`. Each reads the other's values and counters, and
//! every value this crate stores is exactly what Django would have stored for it (the Redis bytes,
//! pymemcache's data and flags, the file's zlib-compressed pickle, the table's base64 pickle).
//!
//! Django's side is `tests/django/cache_peer.py` at the workspace root, run by the Python named in
//! `TEST_DJANGO_PYTHON` (a virtualenv from `.ci/install-django.sh`):
//!
//! `TEST_DJANGO_PYTHON=/path/to/venv/bin/python cargo test -p cache-core --all-features --test django_caches`
//!
//! Without `TEST_DJANGO_PYTHON` the tests are skipped with a note, unless `CI` is set: then they fail. The
//! server backends read `TEST_REDIS_URL`, `TEST_MEMCACHED_URL`, `TEST_POSTGRES_URL` and `TEST_MYSQL_URL`.

use std::path::PathBuf;
use std::process::Command;

use cache_core::testing::{say_once, server_url, unique_prefix};
use cache_core::{Cache, ValueFormat};
use serde_json::{json, Map, Value};

fn django_python() -> Option<String> {
    match std::env::var("TEST_DJANGO_PYTHON") {
        Ok(python) if !python.trim().is_empty() => Some(python),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "TEST_DJANGO_PYTHON is not set and CI is: the Django interop tests cannot be skipped"
            );
            say_once("skipping the Django cache interop tests: set TEST_DJANGO_PYTHON to a Python with Django 5.2");
            None
        }
    }
}

/// Runs the Django peer script; its stdout as JSON.
fn django(python: &str, args: &[&str]) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/django/cache_peer.py");
    let output = Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .expect("run the Django peer");
    assert!(
        output.status.success(),
        "Django peer {:?} failed:\n{}",
        &args[..args.len().min(4)],
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the peer prints JSON")
}

/// `base` with `options` appended to its query string.
fn with_options(base: &str, options: &str) -> String {
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}{options}")
}

#[tokio::test]
async fn on_redis() {
    let Some(url) = server_url("TEST_REDIS_URL", "the Django Redis cache test") else {
        return;
    };
    // Django stores made keys as they are: no namespace of ours in front of them.
    shares_values_with_django("redis", &url, &url, "namespace=").await;
}

#[tokio::test]
async fn on_memcached() {
    let Some(url) = server_url("TEST_MEMCACHED_URL", "the Django memcached test") else {
        return;
    };
    let servers = url.trim_start_matches("memcached://").trim_end_matches('/');
    shares_values_with_django("memcached", &url, servers, "").await;
}

#[tokio::test]
async fn on_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cache");
    let url = format!("file://{}", path.display());
    shares_values_with_django("file", &url, &path.display().to_string(), "").await;
}

#[tokio::test]
async fn on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cache.sqlite3");
    let url = format!("sqlite://{}", path.display());
    on_database(&url, &path.display().to_string()).await;
}

#[tokio::test]
async fn on_postgres() {
    if let Some(url) = server_url("TEST_POSTGRES_URL", "the Django PostgreSQL cache test") {
        on_database(&url, &url).await;
    }
}

#[tokio::test]
async fn on_mysql() {
    if let Some(url) = server_url("TEST_MYSQL_URL", "the Django MySQL cache test") {
        on_database(&url, &url).await;
    }
}

/// Django's `DatabaseCache` on a table made by Django's `createcachetable`.
async fn on_database(url: &str, django_database: &str) {
    let table = format!("django_cache_{}", std::process::id());
    shares_values_with_django(
        "db",
        url,
        &format!("{django_database}#{table}"),
        &format!("table={table}"),
    )
    .await;
    if !url.starts_with("sqlite") {
        let backend = cache_core::backends::DatabaseBackend::builder(url.to_owned())
            .table(table)
            .connect()
            .await
            .expect("connect");
        backend.drop_table().await.expect("drop the test table");
    }
}

/// Django writes every kind of value, Rust reads them; Rust writes through every storing call, Django reads
/// them and compares what is stored with what it would have stored itself; each increments the other's
/// counter.
async fn shares_values_with_django(
    backend: &str,
    rust_url: &str,
    django_location: &str,
    extra_options: &str,
) {
    let Some(python) = django_python() else {
        return;
    };
    let prefix = unique_prefix("django");
    let mut options = format!("value_format=django&key_prefix={prefix}");
    if !extra_options.is_empty() {
        options = format!("{options}&{extra_options}");
    }
    let cache = Cache::from_url(&with_options(rust_url, &options))
        .await
        .expect("cache");
    assert_eq!(cache.value_format(), ValueFormat::DjangoPickle);
    let django = |args: &[&str]| {
        let mut full = vec![args[0], backend, django_location, &prefix];
        full.extend_from_slice(&args[1..]);
        django(&python, &full)
    };

    // Django writes; Rust reads every value with its Python type, one by one and in one get_many.
    let written = django(&["write"]);
    let written = written.as_object().expect("a JSON object");
    for (key, expected) in written {
        let got: Option<Value> = cache.get(key).await.expect("decodes");
        assert_eq!(got.as_ref(), Some(expected), "{key}");
    }
    let many: std::collections::HashMap<String, Value> = cache
        .get_many(written.keys().cloned())
        .await
        .expect("get_many");
    assert_eq!(many.len(), written.len());
    for (key, expected) in written {
        assert_eq!(many.get(key), Some(expected), "get_many {key}");
    }
    assert_eq!(cache.get::<bool>("true").await.expect("bool"), Some(true));
    assert_eq!(
        cache.get::<f64>("whole_float").await.expect("float"),
        Some(1.0)
    );
    // Django's counter (set 10, incr 5) is a native Redis integer: Rust increments it.
    assert_eq!(cache.incr("counter", 1).await.expect("incr"), 16);

    // Rust writes through every storing call; Django reads them and compares the stored bytes.
    let mut values = Map::new();
    let plain = [
        ("r_str", json!("héllo ✓ 😀")),
        ("r_empty", json!("")),
        ("r_int", json!(42)),
        ("r_negative", json!(-7)),
        ("r_big", json!(4_611_686_018_427_387_905_i64)),
        ("r_float", json!(2.5)),
        ("r_whole_float", json!(1.0)),
        ("r_true", json!(true)),
        ("r_false", json!(false)),
        ("r_none", Value::Null),
        (
            "r_list",
            json!([1, "two", 3.0, null, false, 300, 70000, -1]),
        ),
        (
            "r_dict",
            json!({"alpha": 1, "beta": ["x", {"gamma": null}]}),
        ),
        ("r_long", json!("y".repeat(70_000))),
        ("r_ints", json!((0..1500).collect::<Vec<i64>>())),
    ];
    for (key, value) in plain {
        cache.set(key, &value).await.expect("set");
        values.insert(key.to_owned(), value);
    }
    let failed = cache
        .set_many([("r_many_a", json!("a-value")), ("r_many_b", json!(7))])
        .await
        .expect("set_many");
    assert!(failed.is_empty());
    values.insert("r_many_a".to_owned(), json!("a-value"));
    values.insert("r_many_b".to_owned(), json!(7));
    assert!(cache.add("r_add", &json!({"k": "v"})).await.expect("add"));
    values.insert("r_add".to_owned(), json!({"k": "v"}));
    let stored: Value = cache
        .get_or_set("r_get_or_set", json!([9]))
        .await
        .expect("get_or_set");
    assert_eq!(stored, json!([9]));
    values.insert("r_get_or_set".to_owned(), json!([9]));
    let made: Value = cache
        .get_or_set_with("r_get_or_set_with", || async { json!({"made": 1.25}) })
        .await
        .expect("get_or_set_with");
    assert_eq!(made, json!({"made": 1.25}));
    values.insert("r_get_or_set_with".to_owned(), made);
    cache.set("r_counter", &100).await.expect("set counter");
    assert_eq!(cache.incr("r_counter", 5).await.expect("incr"), 105);

    let report = django(&[
        "check",
        &json!({
            "values": values,
            "counters": {"counter": 16, "r_counter": 105},
            "incr": "r_counter",
        })
        .to_string(),
    ]);
    assert_eq!(report["incremented"], json!(106));
    assert_eq!(cache.get::<i64>("r_counter").await.expect("get"), Some(106));

    let mut keys: Vec<String> = written.keys().cloned().collect();
    keys.extend(values.keys().cloned());
    keys.push("r_counter".to_owned());
    cache.delete_many(keys).await.expect("clean up");
}
