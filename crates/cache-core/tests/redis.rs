//! The Redis backend against real servers: the conformance suite on `TEST_REDIS_URL`, Redis-specific
//! behaviour (namespaces, native TTLs and counters, one round trip for `get_many`), and faults on a
//! `redis-server` this test starts, stops and restarts itself.
//!
//! `TEST_REDIS_URL=redis://127.0.0.1:6379 cargo test -p cache-core --features testing,redis --test redis`

mod support;

use std::time::Duration;

use cache_core::backends::RedisBackend;
use cache_core::testing::{server_url, unique_prefix, Setup, Subject};
use cache_core::{Cache, Timeout};
use support::{Program, TestServer};

const VAR: &str = "TEST_REDIS_URL";

fn redis_url() -> Option<String> {
    server_url(VAR, "the Redis backend tests")
}

/// A `redis-server` of this test's own on a spare port (when the Redis tests run at all): for tests that
/// count the server's connections or commands, which the shared server's parallel tests would add to, or
/// that stop it.
fn private_server() -> Option<TestServer> {
    redis_url()?;
    TestServer::start(Program::Redis, VAR)
}

/// A backend on a private server with a pool of `max_connections`.
fn pooled(server: &TestServer, max_connections: usize) -> RedisBackend {
    RedisBackend::builder(format!("redis://{}", server.addr()))
        .max_connections(max_connections)
        .build()
        .expect("valid")
}

/// A backend on the shared server whose namespace is unique to this test and run.
fn backend(url: &str, name: &str) -> RedisBackend {
    RedisBackend::builder(url)
        .namespace(format!("{}:", unique_prefix(name)))
        .build()
        .expect("valid Redis URL")
}

/// The whole suite again with values in Django's format: every typed call goes through the pickle codec.
mod conformance_django_format {
    use super::*;

    cache_core::conformance_suite!(|setup: Setup| async move {
        let url = redis_url()?;
        let backend = RedisBackend::builder(url)
            .namespace(format!("{}:", setup.prefix))
            .build()
            .expect("valid Redis URL");
        Some(Subject::new(
            Cache::builder(backend)
                .key_prefix(setup.prefix)
                .value_format(cache_core::ValueFormat::DjangoPickle)
                .build(),
        ))
    });
}

mod conformance {
    use super::*;

    cache_core::conformance_suite!(|setup: Setup| async move {
        let url = redis_url()?;
        let backend = RedisBackend::builder(url)
            .namespace(format!("{}:", setup.prefix))
            .build()
            .expect("valid Redis URL");
        Some(Subject::new(
            Cache::builder(backend).key_prefix(setup.prefix).build(),
        ))
    });
}

/// The suite again with the client-side cache on: answering reads locally must not change any outcome.
mod conformance_with_client_side_cache {
    use super::*;

    cache_core::conformance_suite!(|setup: Setup| async move {
        let url = redis_url()?;
        let backend = RedisBackend::builder(url)
            .namespace(format!("{}:", setup.prefix))
            .client_side_cache(1_000)
            .build()
            .expect("valid Redis URL");
        Some(Subject::new(
            Cache::builder(backend).key_prefix(setup.prefix).build(),
        ))
    });
}

async fn raw_get(backend: &RedisBackend, key: &str) -> Option<Vec<u8>> {
    raw(backend, redis::cmd("GET").arg(key)).await
}

/// `command` sent on a connection of `backend`'s pool, bypassing the cache API.
async fn raw<T: redis::FromRedisValue>(backend: &RedisBackend, command: &redis::Cmd) -> T {
    let mut connection = backend.connection().await.expect("connection");
    command
        .query_async(&mut connection)
        .await
        .unwrap_or_else(|error| panic!("{command:?}: {error}"))
}

#[tokio::test]
async fn keys_live_under_the_namespace_with_native_ttls_and_counters() {
    let Some(url) = redis_url() else {
        return;
    };
    let backend = backend(&url, "native");
    let cache = Cache::builder(backend.clone()).key_prefix("p").build();
    cache
        .set("n", &41)
        .timeout(Duration::from_secs(100))
        .await
        .expect("set");
    let stored = backend.namespaced_key(&cache.make_key("n", None));
    assert!(stored.starts_with(backend.namespace()) && stored.ends_with("p:1:n"));
    assert_eq!(
        raw_get(&backend, &stored).await.as_deref(),
        Some(&b"41"[..])
    );

    let ttl: i64 = raw(&backend, redis::cmd("PTTL").arg(&stored)).await;
    assert!((98_000..=100_000).contains(&ttl), "PTTL {ttl}");
    // The counter is a native Redis integer: INCRBY from outside and incr from the cache agree.
    let _: i64 = raw(&backend, redis::cmd("INCRBY").arg(&stored).arg(1)).await;
    assert_eq!(cache.incr("n", 1).await.expect("incr"), 43);
    let ttl: i64 = raw(&backend, redis::cmd("PTTL").arg(&stored)).await;
    assert!(ttl > 90_000, "incr kept the TTL: {ttl}");

    // touch to "never" on a live key that already has no TTL is still a hit (PERSIST alone says 0).
    cache
        .set("forever", "v")
        .timeout(Timeout::Never)
        .await
        .expect("set");
    assert!(cache
        .touch("forever")
        .timeout(Timeout::Never)
        .await
        .expect("touch"));
    assert!(!cache
        .touch("missing")
        .timeout(Timeout::Never)
        .await
        .expect("touch"));
    cache.clear().await.expect("clear");
}

#[tokio::test]
async fn clear_removes_only_its_namespace() {
    let Some(url) = redis_url() else {
        return;
    };
    // Glob characters in the namespace must match themselves, not patterns.
    let ours = RedisBackend::builder(url.as_str())
        .namespace(format!("{}*[a]?:", unique_prefix("clear")))
        .build()
        .expect("valid");
    let sibling_namespace = ours.namespace().replace("*[a]?", "x[a]y");
    let sibling = RedisBackend::builder(url.as_str())
        .namespace(sibling_namespace)
        .build()
        .expect("valid");
    let foreign = format!("{}-foreign", unique_prefix("clear"));
    let mut connection = ours.connection().await.expect("connection");
    let _: () = redis::cmd("SET")
        .arg(&foreign)
        .arg("keep")
        .query_async(&mut connection)
        .await
        .expect("SET");
    drop(connection);

    let cache = Cache::new(ours.clone());
    let other = Cache::new(sibling.clone());
    let many: Vec<(String, i32)> = (0..2500).map(|i| (format!("k{i}"), i)).collect();
    cache.set_many(many).await.expect("set_many");
    other.set("k0", &1).await.expect("set");

    cache.clear().await.expect("clear");
    assert!(cache
        .get_many::<i32, _, _>(["k0", "k1", "k2499"])
        .await
        .expect("get_many")
        .is_empty());
    assert!(other.has_key("k0").await.expect("has_key"), "sibling kept");
    assert_eq!(
        raw_get(&ours, &foreign).await.as_deref(),
        Some(&b"keep"[..])
    );

    let _: i64 = raw(&ours, redis::cmd("DEL").arg(&foreign)).await;
    other.clear().await.expect("clear");
}

#[tokio::test]
async fn urls_carry_the_options() {
    let Some(url) = redis_url() else {
        return;
    };
    let separator = if url.contains('?') { '&' } else { '?' };
    let namespace = format!("{}:", unique_prefix("url"));
    let options = format!("namespace={namespace}&socket_timeout=0.5&max_connections=2");
    let backend = RedisBackend::from_url(&format!("{url}{separator}{options}")).expect("valid");
    assert_eq!(backend.namespace(), namespace);

    // Through the registry too: the cache's options are taken out, the backend's passed on.
    let cache = Cache::from_url(&format!(
        "{url}{separator}{options}&key_prefix=p&timeout=60"
    ))
    .await
    .expect("valid");
    assert_eq!(cache.key_prefix(), "p");
    cache.set("k", "v").await.expect("set");
    assert_eq!(
        raw_get(&backend, &format!("{namespace}p:1:k"))
            .await
            .as_deref(),
        Some(&b"\"v\""[..])
    );
    cache.clear().await.expect("clear");
    assert_eq!(raw_get(&backend, &format!("{namespace}p:1:k")).await, None);
}

/// Sum of `calls=` per command in `INFO commandstats`, leaving out `CONFIG` (the reset itself).
async fn commands_since_reset(backend: &RedisBackend) -> Vec<(String, u64)> {
    info(backend, "commandstats")
        .await
        .into_iter()
        .filter_map(|(name, stats)| {
            let name = name.strip_prefix("cmdstat_")?;
            let calls = stats.split(',').find_map(|s| s.strip_prefix("calls="))?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .filter(|(name, _)| !name.starts_with("config"))
        .collect()
}

#[tokio::test]
async fn get_many_of_100_keys_is_one_round_trip() {
    // A private server: the shared one serves parallel tests, whose commands would be counted too.
    let Some(server) = private_server() else {
        return;
    };
    let backend = pooled(&server, 1);
    let cache = Cache::new(backend.clone());
    let keys: Vec<String> = (0..100).map(|i| format!("key{i}")).collect();
    cache
        .set_many(keys.iter().map(|k| (k.clone(), 1)))
        .await
        .expect("set_many");

    reset_stats(&backend).await;
    let found = cache
        .get_many::<i32, _, _>(keys.clone())
        .await
        .expect("get_many");
    assert_eq!(found.len(), 100);
    let commands = commands_since_reset(&backend).await;
    assert_eq!(
        commands,
        vec![("mget".to_owned(), 1)],
        "get_many of 100 keys sent exactly one command"
    );
}

#[tokio::test]
async fn a_stopped_server_fails_fast_and_the_same_cache_recovers() {
    stopped_server_fails_fast_and_recovers(0).await;
}

#[tokio::test]
async fn a_stopped_server_fails_fast_and_the_same_client_cached_cache_recovers() {
    stopped_server_fails_fast_and_recovers(100).await;
}

/// The shared stop/restart driver on a backend with `client_side_cache` entries (0: off).
async fn stopped_server_fails_fast_and_recovers(client_side_cache: usize) {
    if redis_url().is_none() {
        return;
    }
    support::stopped_server_fails_fast_and_recovers(Program::Redis, VAR, |server| {
        RedisBackend::builder(format!("redis://{server}"))
            .client_side_cache(client_side_cache)
            .build()
    })
    .await;
}

#[tokio::test]
async fn a_hanging_server_times_out_and_the_same_cache_recovers() {
    hanging_server_times_out_and_recovers(0).await;
}

#[tokio::test]
async fn a_hanging_server_times_out_and_the_same_client_cached_cache_recovers() {
    hanging_server_times_out_and_recovers(100).await;
}

/// The address of `redis://[user@]host:port[/db]`.
fn upstream(url: &str) -> std::net::SocketAddr {
    url.trim_start_matches("redis://")
        .split(['/', '?'])
        .next()
        .and_then(|authority| authority.rsplit('@').next())
        .and_then(|host_port| {
            use std::net::ToSocketAddrs;
            host_port.to_socket_addrs().ok()?.next()
        })
        .expect("TEST_REDIS_URL is redis://host:port")
}

#[tokio::test]
async fn a_timeout_on_the_tracked_connection_empties_the_client_side_cache() {
    let Some(url) = redis_url() else {
        return;
    };
    let proxy = cache_core::testing::FaultProxy::start(upstream(&url))
        .await
        .expect("proxy");
    let backend = RedisBackend::builder(format!("redis://{}", proxy.addr()))
        .namespace(format!("{}:", unique_prefix("partition")))
        .timeout(Duration::from_millis(300))
        .client_side_cache(100)
        .build()
        .expect("valid");
    let cache = Cache::new(backend);
    cache.set("k", "held").await.expect("set");
    assert_eq!(
        cache.get::<String>("k").await.expect("get").as_deref(),
        Some("held")
    );

    // A silent partition: no reset, so no disconnection is reported; the first operation that times out
    // says the invalidations may not be arriving any more.
    proxy.set_mode(cache_core::testing::FaultMode::Blackhole);
    assert!(
        cache.set("other", "x").await.is_err(),
        "a set through a blackhole"
    );
    let result = cache.get::<String>("k").await;
    assert!(
        result.is_err(),
        "served {result:?} from a cache cut off from its server"
    );

    proxy.set_mode(cache_core::testing::FaultMode::Forward);
    assert_eq!(
        cache.get::<String>("k").await.expect("get").as_deref(),
        Some("held")
    );
    cache.clear().await.expect("clear");
}

/// Through a proxy that starts hanging: every operation times out, then works again once the proxy
/// forwards; `client_side_cache` entries on the backend (0: off).
async fn hanging_server_times_out_and_recovers(client_side_cache: usize) {
    let Some(url) = redis_url() else {
        return;
    };
    let (cache, _proxy) = support::hanging_server_times_out_and_recovers(upstream(&url), |proxy| {
        let backend = RedisBackend::builder(format!("redis://{proxy}"))
            .namespace(format!("{}:", unique_prefix("hang")))
            .timeout(Duration::from_millis(500))
            .client_side_cache(client_side_cache)
            .build()
            .expect("valid");
        Cache::new(backend)
    })
    .await;
    cache.clear().await.expect("clear");
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_not_a_hang() {
    support::unreachable_server_is_an_error("redis", |port| {
        RedisBackend::builder(format!("redis://127.0.0.1:{port}"))
            .timeout(Duration::from_millis(300))
            .build()
            .expect("valid")
    })
    .await;
}

/// `INFO <section>` of the server behind `backend`, as `name:value` pairs.
async fn info(backend: &RedisBackend, section: &str) -> Vec<(String, String)> {
    let mut connection = backend.connection().await.expect("connection");
    let text: String = redis::cmd("INFO")
        .arg(section)
        .query_async(&mut connection)
        .await
        .expect("INFO");
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_owned(), value.trim().to_owned()))
        .collect()
}

async fn info_number(backend: &RedisBackend, section: &str, name: &str) -> u64 {
    info(backend, section)
        .await
        .into_iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or_else(|| panic!("INFO {section} has no {name}"))
}

#[tokio::test]
async fn concurrent_operations_share_a_connection() {
    // A private server, so the connections counted are this test's.
    let Some(server) = private_server() else {
        return;
    };
    let backend = pooled(&server, 8);
    let cache = Cache::new(backend.clone());
    cache.set("k", "v").await.expect("set");
    let before = info_number(&backend, "stats", "total_connections_received").await;
    let gets = (0..200).map(|_| std::future::IntoFuture::into_future(cache.get::<String>("k")));
    for value in futures_util::future::join_all(gets).await {
        assert_eq!(value.expect("get").as_deref(), Some("v"));
    }
    let after = info_number(&backend, "stats", "total_connections_received").await;
    // Exclusive connections would have opened up to 8 for 200 operations in flight; shared ones pipeline
    // them on the connection already open.
    assert_eq!(after, before, "200 concurrent gets opened new connections");
}

/// A backend with the client-side cache on a private server (so `INFO commandstats` counts only this test).
fn client_cached(server: &TestServer) -> RedisBackend {
    RedisBackend::builder(format!("redis://{}", server.addr()))
        .client_side_cache(100)
        .timeout(Duration::from_millis(500))
        .build()
        .expect("valid")
}

/// A backend on the same server without a client-side cache: another process's view.
fn uncached(server: &TestServer) -> Cache {
    Cache::new(
        RedisBackend::builder(format!("redis://{}", server.addr()))
            .build()
            .expect("valid"),
    )
}

async fn reset_stats(backend: &RedisBackend) {
    let mut connection = backend.connection().await.expect("connection");
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut connection)
        .await
        .expect("RESETSTAT");
}

/// Polls `cache.get(key)` until it gives `expected` or a second has passed; returns what it gave last.
async fn eventually(cache: &Cache, key: &str, expected: Option<&str>) -> Option<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    loop {
        let value = cache.get::<String>(key).await.expect("get");
        if value.as_deref() == expected || std::time::Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn the_client_side_cache_answers_repeated_reads_and_follows_other_writers() {
    let Some(server) = private_server() else {
        return;
    };
    let backend = client_cached(&server);
    let cache = Cache::new(backend.clone());
    let other = uncached(&server);
    cache.set("page", "one").await.expect("set");
    assert_eq!(
        cache.get::<String>("page").await.expect("get").as_deref(),
        Some("one")
    );

    reset_stats(&backend).await;
    for _ in 0..10 {
        assert_eq!(
            cache.get::<String>("page").await.expect("get").as_deref(),
            Some("one")
        );
        assert_eq!(cache.get::<String>("absent").await.expect("get"), None);
    }
    let commands = commands_since_reset(&backend).await;
    let reads: u64 = commands
        .iter()
        .filter(|(name, _)| name == "get" || name == "mget")
        .map(|(_, calls)| calls)
        .sum();
    assert_eq!(
        reads, 1,
        "only the first read of `absent` goes to the server: {commands:?}"
    );

    // Another client's write and delete reach this cache through the server's invalidations.
    other.set("page", "two").await.expect("set elsewhere");
    assert_eq!(
        eventually(&cache, "page", Some("two")).await.as_deref(),
        Some("two")
    );
    other.delete("page").await.expect("delete elsewhere");
    assert_eq!(eventually(&cache, "page", None).await, None);
    other.set("absent", "here").await.expect("set elsewhere");
    assert_eq!(
        eventually(&cache, "absent", Some("here")).await.as_deref(),
        Some("here")
    );

    // Own writes are read back at once, every time.
    for i in 0..100 {
        let value = format!("v{i}");
        cache.set("page", &value).await.expect("set");
        assert_eq!(cache.get::<String>("page").await.expect("get"), Some(value));
    }
    cache.delete("page").await.expect("delete");
    assert_eq!(cache.get::<String>("page").await.expect("get"), None);
}

#[tokio::test]
async fn the_client_side_cache_never_keeps_a_value_older_than_a_write() {
    let Some(server) = private_server() else {
        return;
    };
    let cache = Cache::new(client_cached(&server));
    let other = uncached(&server);
    // Readers hammer the key while another client writes 1..=200; after the last write, every reader must
    // converge on 200 (a stale reply kept after its invalidation would stick).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let cache = cache.clone();
            let stop = std::sync::Arc::clone(&stop);
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = cache.get::<i64>("counter").await;
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for i in 1..=200i64 {
        other.set("counter", &i).await.expect("set elsewhere");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        reader.await.expect("reader");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    loop {
        let value = cache.get::<i64>("counter").await.expect("get");
        if value == Some(200) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "stuck at {value:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn the_client_side_cache_honours_the_server_ttl() {
    let Some(server) = private_server() else {
        return;
    };
    let cache = Cache::new(client_cached(&server));
    cache
        .set("short", "lived")
        .timeout(Duration::from_millis(300))
        .await
        .expect("set");
    assert_eq!(
        cache.get::<String>("short").await.expect("get").as_deref(),
        Some("lived")
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(cache.get::<String>("short").await.expect("get"), None);
}

#[tokio::test]
async fn the_client_side_cache_is_dropped_with_its_connection() {
    let Some(mut server) = private_server() else {
        return;
    };
    let cache = Cache::new(client_cached(&server));
    cache.set("k", "cached").await.expect("set");
    assert_eq!(
        cache.get::<String>("k").await.expect("get").as_deref(),
        Some("cached")
    );

    // With the server gone no invalidation can arrive: the held value must not be served.
    server.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let result = cache.get::<String>("k").await;
    assert!(result.is_err(), "served {result:?} with the server down");

    // The restarted server lost the key (it keeps nothing on disk): so must the cache.
    server.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match cache.get::<String>("k").await {
            Ok(value) => {
                assert_eq!(value, None, "a value from before the restart was served");
                break;
            }
            Err(error) => assert!(
                std::time::Instant::now() < deadline,
                "no recovery after the restart: {error}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The fields of an `HGETALL` reply as `(field, value)` text pairs, sorted, and the bytes they hold;
/// `None` for no hash.
fn hash_fields(reply: redis::Value) -> Option<(Vec<(String, String)>, usize)> {
    let text = |value: &redis::Value| match value {
        redis::Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        _ => String::new(),
    };
    let mut fields: Vec<(String, String)> = match reply {
        redis::Value::Map(pairs) => pairs.iter().map(|(f, v)| (text(f), text(v))).collect(),
        redis::Value::Array(items) => items
            .chunks(2)
            .map(|pair| (text(&pair[0]), pair.get(1).map(text).unwrap_or_default()))
            .collect(),
        _ => return None,
    };
    if fields.is_empty() {
        return None;
    }
    fields.sort();
    let size = fields.iter().map(|(f, v)| f.len() + v.len()).sum();
    Some((fields, size))
}

type Fields = Vec<(String, String)>;

fn fields(pairs: &[(&str, &str)]) -> Fields {
    pairs
        .iter()
        .map(|(f, v)| ((*f).to_owned(), (*v).to_owned()))
        .collect()
}

/// `HSET key field value` in a write pipeline of `backend`.
async fn hset(backend: &RedisBackend, key: &str, field: &str, value: &str) {
    let mut pipeline = redis::pipe();
    pipeline
        .cmd("HSET")
        .arg(backend.namespaced_key(key))
        .arg(field)
        .arg(value);
    backend
        .write_pipeline(pipeline, true, &[key])
        .await
        .expect("HSET");
}

/// `read_through` without a client-side cache: each call one command, nothing held.
#[tokio::test]
async fn read_through_without_a_client_side_cache_reads_every_time() {
    let Some(url) = redis_url() else {
        return;
    };
    let backend = backend(&url, "read-through");
    assert!(!backend.has_client_side_cache());
    assert_eq!(
        backend
            .read_through("HGETALL", "h", hash_fields)
            .await
            .expect("read"),
        None
    );
    hset(&backend, "h", "a", "1").await;
    let read = backend
        .read_through("HGETALL", "h", hash_fields)
        .await
        .expect("read");
    assert_eq!(read.as_deref(), Some(&fields(&[("a", "1")])));
    assert!(backend.read_through_now::<Fields>("h").is_none());
    let many = backend
        .read_through_many("HGETALL", &["h", "none"], hash_fields)
        .await
        .expect("read many");
    assert_eq!(many.len(), 2);
    assert_eq!(many[0].as_deref(), Some(&fields(&[("a", "1")])));
    assert_eq!(many[1], None);
}

/// `read_through` with a client-side cache: a hash read is held decoded until any client changes it; this
/// process's own writes through `write_pipeline` are seen at once, another client's once its
/// invalidation arrives (polled: never a timing assumption).
#[tokio::test]
async fn read_through_holds_hashes_until_they_change() {
    let Some(url) = redis_url() else {
        return;
    };
    let namespace = format!("{}:", unique_prefix("read-through-cached"));
    let cached = RedisBackend::builder(&url)
        .namespace(namespace.clone())
        .client_side_cache(100)
        .build()
        .expect("valid");
    let other = RedisBackend::builder(&url)
        .namespace(namespace)
        .build()
        .expect("valid");
    assert!(cached.has_client_side_cache());

    // A missing key is held as missing, until it is created.
    let read = |backend: &RedisBackend| {
        let backend = backend.clone();
        async move {
            backend
                .read_through("HGETALL", "h", hash_fields)
                .await
                .expect("read")
                .map(|held| (*held).clone())
        }
    };
    assert_eq!(read(&cached).await, None);
    assert_eq!(cached.read_through_now::<Fields>("h"), Some(None));
    hset(&cached, "h", "a", "1").await;
    assert_eq!(
        cached.read_through_now::<Fields>("h"),
        None,
        "an own write is forgotten at once"
    );
    assert_eq!(read(&cached).await, Some(fields(&[("a", "1")])));
    let held = cached
        .read_through_now::<Fields>("h")
        .expect("held")
        .expect("present");
    assert_eq!(*held, fields(&[("a", "1")]));
    assert!(
        cached.read_through_now::<String>("h").is_none(),
        "a value is answered only as the type it was read as"
    );

    // Another client's write: the held copy goes when its invalidation arrives.
    hset(&other, "h", "b", "2").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while cached.read_through_now::<Fields>("h").is_some() {
        assert!(std::time::Instant::now() < deadline, "never invalidated");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(read(&cached).await, Some(fields(&[("a", "1"), ("b", "2")])));

    // Many keys: held ones answered locally, the others read together.
    let many = cached
        .read_through_many("HGETALL", &["h", "g"], hash_fields)
        .await
        .expect("read many");
    assert_eq!(many[0].as_deref(), Some(&fields(&[("a", "1"), ("b", "2")])));
    assert_eq!(many[1], None);
    assert_eq!(cached.read_through_now::<Fields>("g"), Some(None));

    // A key that expires is not answered past its TTL.
    let mut pipeline = redis::pipe();
    pipeline
        .cmd("PEXPIRE")
        .arg(cached.namespaced_key("h"))
        .arg(1);
    cached
        .write_pipeline(pipeline, true, &["h"])
        .await
        .expect("PEXPIRE");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while read(&cached).await.is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "an expired hash is still answered"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
