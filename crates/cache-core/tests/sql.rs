//! `DatabaseBackend` on SQLite (a file per test, and in memory), PostgreSQL (`TEST_POSTGRES_URL`) and
//! MySQL/MariaDB (`TEST_MYSQL_URL`): the conformance suite, backend-specific checks on every database, SQLite
//! corruption and path errors, and outages through a `FaultProxy`.
//!
//! Server tests skip with a note when their URL is unset (and fail with `TEST_REQUIRE_SERVERS=1`). Each test
//! uses its own table, named after the test and this process, dropped when the test's cache is dropped.

mod support;

use std::fmt::Debug;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use cache_core::backends::{DatabaseBackend, DatabaseBackendBuilder};
use cache_core::sql::{Dialect, SqlPool};
use cache_core::testing::{server_url, FaultMode, FaultProxy, Setup, Subject};
use cache_core::{Cache, CacheBackend, Error, Expiry, Result, ValueFormat};
use tempfile::TempDir;

/// Where a test runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    SqliteFile,
    SqliteMemory,
    Postgres,
    MySql,
}

/// A table name unique to this test and process (short enough for MySQL's 64 and PostgreSQL's 63).
fn table_for(name: &str) -> String {
    format!("{name}_{}", std::process::id())
}

/// A backend that cleans up after itself: its SQLite directory, or its server table, goes when the cache
/// holding it is dropped.
type Owned = support::Owning<DatabaseBackend, Cleanup>;

/// What an [`Owned`] backend removes when dropped.
struct Cleanup {
    _dir: Option<TempDir>,
    /// The server URL and the table to drop from a fresh connection.
    drop_table: Option<(String, String)>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Some((url, table)) = self.drop_table.take() else {
            return;
        };
        let name = table.clone();
        // A fresh runtime on its own thread: works whatever runtime (or none) is dropping us.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let backend = DatabaseBackend::builder(url)
                    .table(table)
                    .connect()
                    .await
                    .ok()?;
                backend.drop_table().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop test table {name}");
        }
    }
}

/// A connected backend with a fresh, created table named after `name`; `None` when the server is not
/// configured (the skip is reported by `server_url`).
async fn open(
    target: Target,
    name: &str,
    configure: impl FnOnce(DatabaseBackendBuilder) -> DatabaseBackendBuilder,
) -> Option<Owned> {
    let table = table_for(name);
    let (url, dir, drop_from) = match target {
        Target::SqliteFile => {
            let dir = tempfile::Builder::new()
                .prefix(name)
                .tempdir()
                .expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("cache.db").display());
            (url, Some(dir), None)
        }
        Target::SqliteMemory => ("sqlite::memory:".to_owned(), None, None),
        Target::Postgres => {
            let url = server_url("TEST_POSTGRES_URL", "PostgreSQL database cache tests")?;
            (url.clone(), None, Some(url))
        }
        Target::MySql => {
            let url = server_url("TEST_MYSQL_URL", "MySQL/MariaDB database cache tests")?;
            (url.clone(), None, Some(url))
        }
    };
    let backend = configure(DatabaseBackend::builder(url).table(&table))
        .connect()
        .await
        .expect("connect");
    // A leftover from an interrupted run of this very process id would hold stale rows.
    if drop_from.is_some() {
        backend.drop_table().await.expect("drop stale table");
    }
    backend.create_table().await.expect("create table");
    let drop_table = drop_from.map(|url| (url, backend.table().to_owned()));
    Some(Owned {
        backend,
        guard: Cleanup {
            _dir: dir,
            drop_table,
        },
    })
}

/// The conformance suite's factory.
async fn subject(target: Target, setup: Setup) -> Option<Subject> {
    let owned = open(target, &format!("cc_{}", setup.name), |b| {
        b.max_entries(setup.max_entries)
    })
    .await?;
    Some(Subject::new(Cache::builder(owned).key_prefix(setup.prefix).build()).culls())
}

/// The conformance suite on Django's table layout, under the Django value format.
async fn django_subject(target: Target, setup: Setup) -> Option<Subject> {
    let owned = open(target, &format!("cd_{}", setup.name), |b| {
        b.max_entries(setup.max_entries).django_layout()
    })
    .await?;
    let cache = Cache::builder(owned)
        .key_prefix(setup.prefix)
        .value_format(ValueFormat::DjangoPickle)
        .build();
    Some(Subject::new(cache).culls())
}

mod sqlite_django_conformance {
    use super::*;
    cache_core::conformance_suite!(|setup: Setup| django_subject(Target::SqliteFile, setup));
}

#[cfg(feature = "postgres")]
mod postgres_django_conformance {
    use super::*;
    cache_core::conformance_suite!(|setup: Setup| django_subject(Target::Postgres, setup));
}

#[cfg(feature = "mysql")]
mod mysql_django_conformance {
    use super::*;
    cache_core::conformance_suite!(|setup: Setup| django_subject(Target::MySql, setup));
}

mod sqlite_file_conformance {
    use super::*;
    cache_core::conformance_suite!(|setup: Setup| subject(Target::SqliteFile, setup));
}

mod sqlite_memory_conformance {
    use super::*;
    cache_core::conformance_suite!(|setup: Setup| subject(Target::SqliteMemory, setup));
}

#[cfg(feature = "postgres")]
mod postgres_conformance {
    use super::*;
    cache_core::conformance_suite!(|setup: Setup| subject(Target::Postgres, setup));
}

#[cfg(feature = "mysql")]
mod mysql_conformance {
    use super::*;
    cache_core::conformance_suite!(|setup: Setup| subject(Target::MySql, setup));
}

// ---------------------------------------------------------------------------------------------------------
// Checks on every database.

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn in_secs(secs: u64) -> Expiry {
    Expiry::after(Duration::from_secs(secs))
}

/// A name with a space, both quote characters and a backtick is one table, created and used normally.
async fn table_names_are_quoted(target: Target) {
    let name = format!("cs q \"{}\" 'x` t", std::process::id());
    let Some(db) = open(target, "unused", |b| b.table(&name)).await else {
        return;
    };
    assert_eq!(db.table(), name);
    db.create_table().await.expect("second create");
    db.set("k", b("v"), Expiry::Never).await.expect("set");
    assert_eq!(db.get("k").await.expect("get"), Some(b("v")));
    assert_eq!(db.incr("missing", 1).await.ok(), None);
    db.set("n", b("1"), Expiry::Never).await.expect("set n");
    assert_eq!(db.incr("n", 2).await.expect("incr"), 3);
    assert_eq!(
        db.get_many(&["k".into(), "n".into()])
            .await
            .expect("get_many"),
        vec![Some(b("v")), Some(b("3"))]
    );
    db.clear().await.expect("clear");
    assert!(!db.has_key("k").await.expect("has_key"));
}

/// Keys compare byte for byte: no case folding, no trailing-space padding, NUL allowed, and 255 four-byte
/// characters fit.
async fn keys_compare_exactly(target: Target) {
    let Some(db) = open(target, "cs_keys", |b| b).await else {
        return;
    };
    let long = "😀".repeat(255);
    let keys = ["a", "A", "k", "k ", "k  ", "k\0", "ß", "ss", long.as_str()];
    for (i, key) in keys.iter().enumerate() {
        db.set(key, Bytes::from(i.to_string()), Expiry::Never)
            .await
            .unwrap_or_else(|e| panic!("set {key:?}: {e}"));
    }
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            db.get(key).await.expect("get"),
            Some(Bytes::from(i.to_string())),
            "key {key:?}"
        );
    }
    let owned: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    let many = db.get_many(&owned).await.expect("get_many");
    assert_eq!(
        many,
        (0..keys.len())
            .map(|i| Some(Bytes::from(i.to_string())))
            .collect::<Vec<_>>()
    );
    assert!(db.delete("k ").await.expect("delete"));
    assert_eq!(db.get("k").await.expect("get k"), Some(b("2")));
    assert!(!db.has_key("k ").await.expect("has_key"));
}

/// `create_table` twice keeps the data.
async fn create_table_is_idempotent(target: Target) {
    let Some(db) = open(target, "cs_create", |b| b).await else {
        return;
    };
    db.set("k", b("v"), Expiry::Never).await.expect("set");
    db.create_table().await.expect("create again");
    db.create_table().await.expect("and again");
    assert_eq!(db.get("k").await.expect("get"), Some(b("v")));
}

/// Every byte value, an empty value and 1 MiB come back unchanged.
async fn values_are_bytes(target: Target) {
    let Some(db) = open(target, "cs_bytes", |b| b).await else {
        return;
    };
    let all: Bytes = (0..=255u8).collect::<Vec<_>>().into();
    let reversed: Bytes = (0..=255u8)
        .rev()
        .cycle()
        .take(1 << 20)
        .collect::<Vec<_>>()
        .into();
    db.set("all", all.clone(), Expiry::Never)
        .await
        .expect("set all");
    db.set("empty", Bytes::new(), Expiry::Never)
        .await
        .expect("set empty");
    db.set("big", reversed.clone(), Expiry::Never)
        .await
        .expect("set big");
    assert_eq!(db.get("all").await.expect("get"), Some(all));
    assert_eq!(db.get("empty").await.expect("get"), Some(Bytes::new()));
    assert_eq!(db.get("big").await.expect("get"), Some(reversed));
}

/// `get_many` over 1000 keys (one query) and 12 000 keys (two), misses in place; `set_many` and
/// `delete_many` over as many.
async fn many_keys(target: Target) {
    let Some(db) = open(target, "cs_many", |b| b.max_entries(100_000)).await else {
        return;
    };
    let entries: Vec<(String, Bytes)> = (0..12_000)
        .map(|i| (format!("key-{i}"), Bytes::from(format!("value-{i}"))))
        .collect();
    let failed = db
        .set_many(entries.clone(), in_secs(600))
        .await
        .expect("set_many");
    assert!(failed.is_empty());
    let mut keys: Vec<String> = entries[..999].iter().map(|(k, _)| k.clone()).collect();
    keys.push("missing".to_owned());
    let found = db.get_many(&keys).await.expect("get_many 1000");
    assert_eq!(found.len(), 1000);
    assert_eq!(found[998], Some(b("value-998")));
    assert_eq!(found[999], None);
    assert_eq!(found.iter().filter(|v| v.is_some()).count(), 999);

    let all: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
    let found = db.get_many(&all).await.expect("get_many 12000");
    assert!(found
        .iter()
        .zip(&entries)
        .all(|(got, (_, want))| got.as_ref() == Some(want)));

    db.delete_many(&all[..11_000]).await.expect("delete_many");
    let found = db.get_many(&all).await.expect("get_many after delete");
    assert_eq!(found.iter().filter(|v| v.is_some()).count(), 1000);
    assert_eq!(found[11_000], Some(b("value-11000")));
}

/// `set_many` with a key twice keeps the last value (and does not trip PostgreSQL's "cannot affect row a
/// second time").
async fn set_many_last_duplicate_wins(target: Target) {
    let Some(db) = open(target, "cs_dup", |b| b).await else {
        return;
    };
    db.set_many(
        vec![
            ("a".into(), b("1")),
            ("b".into(), b("2")),
            ("a".into(), b("3")),
        ],
        Expiry::Never,
    )
    .await
    .expect("set_many");
    assert_eq!(
        db.get_many(&["a".into(), "b".into()])
            .await
            .expect("get_many"),
        vec![Some(b("3")), Some(b("2"))]
    );
}

/// With `cull_frequency(0)`, going over `max_entries` empties the table before the write.
async fn cull_frequency_zero_clears(target: Target) {
    let Some(db) = open(target, "cs_cull0", |b| b.max_entries(5).cull_frequency(0)).await else {
        return;
    };
    for i in 0..6 {
        db.set(&format!("k{i}"), b("v"), Expiry::Never)
            .await
            .expect("set");
    }
    let keys: Vec<String> = (0..7).map(|i| format!("k{i}")).collect();
    assert_eq!(
        db.get_many(&keys)
            .await
            .expect("get_many")
            .iter()
            .flatten()
            .count(),
        6,
        "6 rows: over the limit only from the next write"
    );
    db.set("k6", b("v"), Expiry::Never).await.expect("set");
    let found = db.get_many(&keys).await.expect("get_many");
    assert_eq!(found[..6], [None, None, None, None, None, None]);
    assert_eq!(found[6], Some(b("v")));
}

/// Over the limit, culling deletes expired rows first; when that is not enough, the rows that expire
/// soonest.
async fn culling_order(target: Target) {
    let Some(db) = open(target, "cs_cullorder", |b| {
        b.max_entries(5).cull_frequency(2)
    })
    .await
    else {
        return;
    };
    // Expired rows go first, and alone when that is enough.
    let soon = Expiry::after(Duration::from_millis(200));
    for i in 0..3 {
        db.set(&format!("e{i}"), b("v"), soon).await.expect("set");
    }
    for i in 0..3 {
        db.set(&format!("l{i}"), b("v"), in_secs(1000 + i))
            .await
            .expect("set");
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    db.set("new", b("v"), Expiry::Never).await.expect("set new");
    let keys: Vec<String> = ["l0", "l1", "l2", "new"].map(String::from).to_vec();
    assert!(db
        .get_many(&keys)
        .await
        .expect("get_many")
        .iter()
        .all(Option::is_some));

    // 4 live rows; two more make 6 > 5: the 3 expiring soonest go (6 / 2), then the write.
    db.set("l3", b("v"), in_secs(1003)).await.expect("set");
    db.set("l4", b("v"), in_secs(1004)).await.expect("set");
    db.set("last", b("v"), in_secs(1)).await.expect("set last");
    let keys: Vec<String> = ["l0", "l1", "l2", "l3", "l4", "new", "last"]
        .map(String::from)
        .to_vec();
    let found: Vec<bool> = db
        .get_many(&keys)
        .await
        .expect("get_many")
        .iter()
        .map(Option::is_some)
        .collect();
    assert_eq!(found, [false, false, false, true, true, true, true]);
}

/// Concurrent `add`s of one key: exactly one stores.
async fn add_is_atomic(target: Target) {
    let Some(db) = open(target, "cs_add", |b| b.max_connections(8)).await else {
        return;
    };
    let db = std::sync::Arc::new(db);
    for round in 0..3 {
        let key = format!("contended-{round}");
        let mut tasks = Vec::new();
        for i in 0..16 {
            let db = std::sync::Arc::clone(&db);
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                db.add(&key, Bytes::from(i.to_string()), in_secs(60)).await
            }));
        }
        let mut winners = Vec::new();
        for (i, task) in tasks.into_iter().enumerate() {
            if task.await.expect("join").expect("add") {
                winners.push(i);
            }
        }
        assert_eq!(winners.len(), 1, "winners: {winners:?}");
        assert_eq!(
            db.get(&key).await.expect("get"),
            Some(Bytes::from(winners[0].to_string()))
        );
    }
    // Over an expired row, add stores (and reports it).
    db.set("old", b("v"), Expiry::after(Duration::from_millis(50)))
        .await
        .expect("set");
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(db
        .add("old", b("new"), in_secs(60))
        .await
        .expect("add over expired"));
    assert!(!db
        .add("old", b("newer"), in_secs(60))
        .await
        .expect("add over live"));
    assert_eq!(db.get("old").await.expect("get"), Some(b("new")));
}

/// Concurrent `incr`s lose no update.
async fn incr_is_atomic(target: Target) {
    let Some(db) = open(target, "cs_incr", |b| b.max_connections(8)).await else {
        return;
    };
    db.set("n", b("0"), in_secs(60)).await.expect("set");
    let db = std::sync::Arc::new(db);
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let db = std::sync::Arc::clone(&db);
        tasks.push(tokio::spawn(async move { db.incr("n", 1).await }));
    }
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.expect("join").expect("incr"));
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=40).collect::<Vec<i64>>());
    assert_eq!(db.get("n").await.expect("get"), Some(b("40")));
    assert!(matches!(
        db.incr("n", i64::MAX).await,
        Err(Error::Overflow { .. })
    ));
    assert_eq!(
        db.get("n").await.expect("get"),
        Some(b("40")),
        "rolled back"
    );
}

/// `touch` to the expiry a row already has still reports the live row (MySQL reports found rows).
async fn touch_to_the_same_expiry(target: Target) {
    let Some(db) = open(target, "cs_touch", |b| b).await else {
        return;
    };
    db.set("k", b("v"), Expiry::Never).await.expect("set");
    assert!(db.touch("k", Expiry::Never).await.expect("touch"));
    assert!(db.touch("k", Expiry::Never).await.expect("touch again"));
    assert!(!db
        .touch("missing", Expiry::Never)
        .await
        .expect("touch missing"));
}

/// Without `create_table`, operations fail with a message that says what to do.
async fn missing_table_says_create_table(target: Target) {
    let Some(db) = open(target, "cs_notable", |b| b).await else {
        return;
    };
    db.drop_table().await.expect("drop");
    match db.get("k").await {
        Err(err @ Error::Backend { .. }) => {
            assert!(err.to_string().contains("create_table"), "{err}");
        }
        other => panic!("expected a backend error, got {other:?}"),
    }
    db.create_table().await.expect("create");
}

/// `Cache::get_many` through a prefix, and the 255-character limit on made keys.
async fn key_limit_is_255(target: Target) {
    let Some(db) = open(target, "cs_limit", |b| b).await else {
        return;
    };
    let cache = Cache::builder(db).key_prefix("p").build();
    let fits = "x".repeat(255 - "p:1:".len());
    cache.set(&fits, "v").await.expect("255 characters fit");
    assert_eq!(
        cache.get::<String>(&fits).await.expect("get").as_deref(),
        Some("v")
    );
    assert!(matches!(
        cache.set(&format!("{fits}x"), "v").await,
        Err(Error::InvalidKey { .. })
    ));
}

macro_rules! on_every_database {
    ($($check:ident),* $(,)?) => {
        mod sqlite_file_checks {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::$check(super::Target::SqliteFile).await;
                }
            )*
        }
        mod sqlite_memory_checks {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::$check(super::Target::SqliteMemory).await;
                }
            )*
        }
        #[cfg(feature = "postgres")]
        mod postgres_checks {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::$check(super::Target::Postgres).await;
                }
            )*
        }
        #[cfg(feature = "mysql")]
        mod mysql_checks {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::$check(super::Target::MySql).await;
                }
            )*
        }
    };
}

on_every_database!(
    table_names_are_quoted,
    keys_compare_exactly,
    create_table_is_idempotent,
    values_are_bytes,
    many_keys,
    set_many_last_duplicate_wins,
    cull_frequency_zero_clears,
    culling_order,
    add_is_atomic,
    incr_is_atomic,
    touch_to_the_same_expiry,
    missing_table_says_create_table,
    key_limit_is_255,
);

// ---------------------------------------------------------------------------------------------------------
// SQLite specifics.

fn sqlite_pool(db: &DatabaseBackend) -> sqlx::SqlitePool {
    match db.pool() {
        SqlPool::Sqlite(pool) => pool.clone(),
        other => panic!("not a SQLite pool: {other:?}"),
    }
}

fn millis_from_now(offset: i64) -> i64 {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    i64::try_from(now).expect("fits") + offset
}

/// Django's layout: a value that is not base64, or base64 of something that is not a pickle, is a miss or
/// an error naming the key, never a panic; an expiry Django wrote (whole seconds, text) is honoured.
#[tokio::test]
async fn sqlite_corrupted_django_rows_are_misses() {
    let db = open(Target::SqliteFile, "cs_dj_corrupt", |b| b.django_layout())
        .await
        .expect("sqlite");
    let pool = sqlite_pool(&db);
    sqlx::query(&format!(
        "INSERT INTO \"{}\" (cache_key, value, expires) VALUES \
         (':1:not-base64', '%%%', '9999-12-31 23:59:59'), \
         (':1:not-pickle', 'aGVsbG8=', '9999-12-31 23:59:59'), \
         (':1:expired', 'gAVLKi4=', '2001-01-01 00:00:00'), \
         (':1:answer', 'gAVLKi4=', '9999-12-31 23:59:59')",
        db.table()
    ))
    .execute(&pool)
    .await
    .expect("insert");
    let cache = Cache::builder(db)
        .value_format(ValueFormat::DjangoPickle)
        .build();
    assert_eq!(cache.get_bytes("not-base64").await.expect("get"), None);
    assert!(matches!(
        cache.get::<i64>("not-pickle").await,
        Err(Error::Pickle { .. })
    ));
    assert_eq!(cache.get_bytes("expired").await.expect("get"), None);
    assert_eq!(cache.get::<i64>("answer").await.expect("get"), Some(42));
    assert_eq!(cache.incr("answer", 1).await.expect("incr"), 43);
}

/// Rows written by hand with the wrong types are misses or read as bytes, never a panic or a wrong hit.
#[tokio::test]
async fn sqlite_corrupted_rows_are_misses() {
    let db = open(Target::SqliteFile, "cs_corrupt", |b| b)
        .await
        .expect("sqlite");
    let pool = sqlite_pool(&db);
    let far = millis_from_now(3_600_000);
    sqlx::query(&format!(
        "INSERT INTO \"{}\" (cache_key, value, expires_ms) VALUES \
         (?1, ?2, ?3), (?4, ?5, ?6), (?7, ?8, ?9), (?10, ?11, ?12)",
        db.table()
    ))
    // Garbage expiry: CAST makes it 0, i.e. expired.
    .bind(&b"garbage-expiry"[..])
    .bind(&b"v"[..])
    .bind("not a number")
    // A text value and an integer value: read as their bytes.
    .bind(&b"text-value"[..])
    .bind("hello")
    .bind(far)
    .bind(&b"int-value"[..])
    .bind(41_i64)
    .bind(far)
    // An expiry stored as a real number far in the future is still live.
    .bind(&b"real-expiry"[..])
    .bind(&b"r"[..])
    .bind(far as f64)
    .execute(&pool)
    .await
    .expect("insert");

    assert_eq!(db.get("garbage-expiry").await.expect("get"), None);
    assert!(!db.has_key("garbage-expiry").await.expect("has_key"));
    assert!(!db
        .touch("garbage-expiry", Expiry::Never)
        .await
        .expect("touch"));
    assert!(matches!(
        db.incr("garbage-expiry", 1).await,
        Err(Error::KeyNotFound { .. })
    ));
    assert!(db
        .add("garbage-expiry", b("fresh"), Expiry::Never)
        .await
        .expect("add over garbage"));
    assert_eq!(
        db.get("garbage-expiry").await.expect("get"),
        Some(b("fresh"))
    );

    assert_eq!(db.get("text-value").await.expect("get"), Some(b("hello")));
    assert_eq!(db.get("int-value").await.expect("get"), Some(b("41")));
    assert_eq!(db.incr("int-value", 1).await.expect("incr"), 42);
    assert_eq!(db.get("real-expiry").await.expect("get"), Some(b("r")));

    // A hand-made table without NOT NULL: a NULL value is a miss (and `incr` says not found).
    let loose = db.table().replace("cs_", "cs_loose_");
    sqlx::query(&format!(
        "CREATE TABLE \"{loose}\" (cache_key BLOB PRIMARY KEY, value BLOB, expires_ms)"
    ))
    .execute(&pool)
    .await
    .expect("create loose");
    sqlx::query(&format!(
        "INSERT INTO \"{loose}\" VALUES (?1, NULL, ?2), (?3, ?4, ?2)"
    ))
    .bind(&b"null"[..])
    .bind(far)
    .bind(&b"ok"[..])
    .bind(&b"fine"[..])
    .execute(&pool)
    .await
    .expect("insert loose");
    let loose_db = DatabaseBackend::with_pool(pool.clone())
        .table(&loose)
        .connect()
        .await
        .expect("with_pool");
    assert_eq!(loose_db.get("null").await.expect("get"), None);
    assert_eq!(
        loose_db
            .get_many(&["null".into(), "ok".into()])
            .await
            .expect("get_many"),
        vec![None, Some(b("fine"))]
    );
    assert!(matches!(
        loose_db.incr("null", 1).await,
        Err(Error::KeyNotFound { .. })
    ));
    loose_db
        .set("null", b("repaired"), Expiry::Never)
        .await
        .expect("set");
    assert_eq!(
        loose_db.get("null").await.expect("get"),
        Some(b("repaired"))
    );
}

/// A path that cannot be opened is a backend error at connect naming the path.
#[tokio::test]
async fn sqlite_bad_paths_fail_at_connect() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing_dir = dir.path().join("no").join("such").join("dir").join("x.db");
    for path in [
        std::path::PathBuf::from("/proc/forbidden/x.db"),
        missing_dir,
    ] {
        let started = Instant::now();
        let result = DatabaseBackend::builder(format!("sqlite://{}", path.display()))
            .connect()
            .await;
        assert!(started.elapsed() < Duration::from_secs(3));
        match result {
            Err(err @ Error::Backend { .. }) => {
                let message = err.to_string();
                assert!(message.contains(&path.display().to_string()), "{message}");
                assert!(message.contains("unable to open"), "{message}");
            }
            other => panic!("expected a backend error for {path:?}, got {other:?}"),
        }
    }
}

/// Bad URLs and settings are configuration errors; unknown schemes name what this build supports.
#[tokio::test]
async fn bad_urls_and_settings_are_config_errors() {
    let config = |result: Result<DatabaseBackend>| match result {
        Err(Error::Config(message)) => message,
        other => panic!("expected a config error, got {other:?}"),
    };
    config(
        DatabaseBackend::builder("sqlite::memory:?mode=bogus")
            .connect()
            .await,
    );
    config(
        DatabaseBackend::builder("sqlite::memory:")
            .table("")
            .connect()
            .await,
    );
    config(
        DatabaseBackend::builder("sqlite::memory:")
            .max_entries(0)
            .connect()
            .await,
    );
    config(
        DatabaseBackend::builder("sqlite::memory:")
            .operation_timeout(Duration::ZERO)
            .connect()
            .await,
    );
    match DatabaseBackend::connect("oracle://scott:tiger@db/x").await {
        Err(Error::UnknownScheme { scheme, url, known }) => {
            assert_eq!(scheme, "oracle");
            assert!(!url.contains("tiger"), "{url}");
            assert!(known.contains(&"sqlite"), "{known:?}");
        }
        other => panic!("expected UnknownScheme, got {other:?}"),
    }
}

/// File databases use WAL with `synchronous=NORMAL` and a busy timeout; the file is created.
#[tokio::test]
async fn sqlite_pragmas() {
    let db = open(Target::SqliteFile, "cs_pragmas", |b| {
        b.operation_timeout(Duration::from_secs(4))
    })
    .await
    .expect("sqlite");
    let pool = sqlite_pool(&db);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .expect("journal_mode");
    assert_eq!(mode, "wal");
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&pool)
        .await
        .expect("synchronous");
    assert_eq!(synchronous, 1, "NORMAL");
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(&pool)
        .await
        .expect("busy_timeout");
    assert_eq!(busy, 4000);
}

/// A backend over a pool you made, and `connect_lazy`.
#[tokio::test]
async fn with_pool_and_lazy() {
    let pool = sqlx::SqlitePool::connect("sqlite::memory:")
        .await
        .expect("pool");
    let db = DatabaseBackend::with_pool(pool)
        .table("mine")
        .connect()
        .await
        .expect("with_pool");
    assert_eq!(db.dialect(), Dialect::Sqlite);
    assert_eq!(db.name(), "sqlite");
    db.create_table().await.expect("create");
    db.set("k", b("v"), Expiry::Never).await.expect("set");
    assert_eq!(db.get("k").await.expect("get"), Some(b("v")));

    let lazy = DatabaseBackend::builder("sqlite::memory:")
        .connect_lazy()
        .expect("lazy");
    assert_eq!(
        (lazy.table(), lazy.max_entries(), lazy.cull_frequency()),
        ("cache_table", 300, 3)
    );
    lazy.create_table().await.expect("create");
    assert!(lazy.add("k", b("v"), Expiry::Never).await.expect("add"));
}

/// Outside a Tokio runtime, building is a config error rather than sqlx's panic.
#[test]
fn building_outside_a_runtime_is_an_error() {
    assert!(matches!(
        DatabaseBackend::builder("sqlite::memory:").connect_lazy(),
        Err(Error::Config(_))
    ));
}

// ---------------------------------------------------------------------------------------------------------
// Unreachable servers and outages.

/// `host:port` of a server URL.
fn authority(url: &str, default_port: u16) -> (String, String, String) {
    let (scheme, rest) = url.split_once("://").expect("server URL has a scheme");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, host) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    let host = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:{default_port}")
    };
    (format!("{scheme}://{userinfo}"), host, tail.to_owned())
}

/// Every operation of `cache` fails with a backend error, each within 3 s (timeouts are 1 s), all at once.
async fn every_operation_fails_in_time(cache: &Cache, mode: FaultMode) {
    async fn check<T: Debug>(
        what: &str,
        mode: FaultMode,
        call: impl std::future::IntoFuture<Output = Result<T>>,
    ) {
        let started = Instant::now();
        let result = call.await;
        support::assert_fails_fast(
            &format!("{what} in {mode:?}"),
            started,
            Duration::from_secs(3),
            result,
        );
    }
    tokio::join!(
        check("get", mode, cache.get::<String>("k")),
        check("get_many", mode, cache.get_many::<String, _, _>(["k", "j"])),
        check("set", mode, cache.set("k", "x")),
        check("set_many", mode, cache.set_many([("a", 1), ("b", 2)])),
        check("add", mode, cache.add("new", "x")),
        check("touch", mode, cache.touch("k")),
        check("delete", mode, cache.delete("k")),
        check("delete_many", mode, cache.delete_many(["a", "b"])),
        check("incr", mode, cache.incr("n", 1)),
        check("has_key", mode, cache.has_key("k")),
        check("clear", mode, cache.clear()),
    );
}

/// Through a proxy: refused and hung servers give timely backend errors, and the same cache recovers.
async fn outage_and_hang(var: &str, what: &str, default_port: u16) {
    let Some(url) = server_url(var, what) else {
        return;
    };
    let (prefix, host, tail) = authority(&url, default_port);
    let upstream: SocketAddr = tokio::net::lookup_host(&host)
        .await
        .expect("resolve")
        .next()
        .expect("an address");
    let proxy = FaultProxy::start(upstream).await.expect("proxy");
    let proxied = format!("{prefix}{}{tail}", proxy.addr());
    let table = table_for("cs_faults");
    let backend = DatabaseBackend::builder(&proxied)
        .table(&table)
        .connect_timeout(Duration::from_secs(1))
        .operation_timeout(Duration::from_secs(1))
        .max_connections(4)
        .connect()
        .await
        .expect("connect through the proxy");
    backend.create_table().await.expect("create");
    let drop_table = Some((url, backend.table().to_owned()));
    let owned = Owned {
        backend,
        guard: Cleanup {
            _dir: None,
            drop_table,
        },
    };
    let cache = Cache::builder(owned).key_prefix("f").build();
    cache.set("k", "v").await.expect("set");
    cache.set("n", &1).await.expect("set n");

    for mode in [FaultMode::Refuse, FaultMode::Blackhole, FaultMode::Refuse] {
        proxy.set_mode(mode);
        every_operation_fails_in_time(&cache, mode).await;
        proxy.set_mode(FaultMode::Forward);
        // The same cache works again: broken connections are replaced, none is stuck.
        let value = cache.get::<String>("k").await;
        assert!(
            matches!(value.as_ref().map(Option::as_deref), Ok(Some("v" | "x"))),
            "after {mode:?}: {value:?}"
        );
        cache.set("k", "v").await.expect("set after recovery");
        assert!(cache.incr("n", 1).await.expect("incr after recovery") >= 2);
        assert!(cache.has_key("k").await.expect("has_key after recovery"));
    }
}

/// Runs `$body` inside a transaction on a separate connection to `$url` that holds the row of `$key` in
/// `$table` locked (`SELECT … FOR UPDATE`), then rolls back.
macro_rules! with_row_locked {
    ($conn_type:ty, $url:expr, $sql:expr, $key:expr, $body:expr) => {{
        use sqlx::Connection as _;
        let mut conn = <$conn_type>::connect($url).await.expect("locker connects");
        let mut tx = conn.begin().await.expect("begin");
        let locked = sqlx::query($sql)
            .bind($key.as_bytes())
            .fetch_optional(&mut *tx)
            .await
            .expect("lock the row");
        assert!(locked.is_some(), "the row exists");
        $body;
        tx.rollback().await.expect("rollback");
    }};
}

/// A caller that gives up on an operation (drops its future) while the server is busy does not keep the
/// connection: with one connection in the pool, the next call gets a fresh one at once.
async fn cancelled_operation_frees_its_connection(target: Target, var: &str) {
    let Some(url) = server_url(var, "cancellation test") else {
        return;
    };
    let Some(db) = open(target, "cs_cancel", |b| {
        b.max_connections(1)
            .operation_timeout(Duration::from_secs(30))
    })
    .await
    else {
        return;
    };
    db.set("n", b("1"), Expiry::Never).await.expect("set");
    let check = async {
        let cancelled = tokio::time::timeout(Duration::from_millis(300), db.incr("n", 1)).await;
        assert!(cancelled.is_err(), "incr should wait for the row lock");
        let started = Instant::now();
        let value = db
            .get("n")
            .await
            .expect("get right after the cancelled incr");
        assert_eq!(value, Some(b("1")));
        assert!(started.elapsed() < Duration::from_secs(3));
    };
    match target {
        #[cfg(feature = "postgres")]
        Target::Postgres => with_row_locked!(
            sqlx::PgConnection,
            &url,
            &format!(
                "SELECT 1 FROM \"{}\" WHERE cache_key = $1 FOR UPDATE",
                db.table()
            ),
            "n",
            check.await
        ),
        #[cfg(feature = "mysql")]
        Target::MySql => with_row_locked!(
            sqlx::MySqlConnection,
            &url,
            &format!(
                "SELECT 1 FROM `{}` WHERE cache_key = ? FOR UPDATE",
                db.table()
            ),
            "n",
            check.await
        ),
        other => panic!("no row locks to take on {other:?}"),
    }
    // The cancelled increment never committed.
    assert_eq!(db.get("n").await.expect("get"), Some(b("1")));
    assert_eq!(db.incr("n", 1).await.expect("incr"), 2);
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cancelled_operation_frees_its_connection() {
    cancelled_operation_frees_its_connection(Target::Postgres, "TEST_POSTGRES_URL").await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_cancelled_operation_frees_its_connection() {
    cancelled_operation_frees_its_connection(Target::MySql, "TEST_MYSQL_URL").await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_and_hang() {
    outage_and_hang("TEST_POSTGRES_URL", "PostgreSQL fault tests", 5432).await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_outage_and_hang() {
    outage_and_hang("TEST_MYSQL_URL", "MySQL/MariaDB fault tests", 3306).await;
}

/// Nothing listens on port 1: connecting fails within the connect timeout, eagerly or on first use.
#[cfg(any(feature = "postgres", feature = "mysql"))]
#[tokio::test]
async fn unreachable_server_fails_fast() {
    let mut urls = Vec::new();
    if cfg!(feature = "postgres") {
        urls.push("postgres://postgres:secret@127.0.0.1:1/test");
    }
    if cfg!(feature = "mysql") {
        urls.push("mysql://root:secret@127.0.0.1:1/test");
    }
    for url in urls {
        let started = Instant::now();
        let err = DatabaseBackend::connect(url)
            .await
            .expect_err("nothing listens");
        assert!(started.elapsed() < Duration::from_secs(3), "{url}");
        assert!(err.is_backend(), "{err}");
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(err.to_string().contains("127.0.0.1:1"), "{err}");

        let lazy = DatabaseBackend::builder(url).connect_lazy().expect("lazy");
        let started = Instant::now();
        let err = lazy.get("k").await.expect_err("nothing listens");
        assert!(started.elapsed() < Duration::from_secs(3), "{url}");
        assert!(err.is_backend(), "{err}");
    }
}
