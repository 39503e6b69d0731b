//! The memcached backend against real servers: the conformance suite on `TEST_MEMCACHED_URL` (one server
//! or several, e.g. `memcached://127.0.0.1:11211,127.0.0.1:11212`), memcached's limits, consistent hashing,
//! and faults on a `memcached` this test starts, stops and restarts itself.
//!
//! `TEST_MEMCACHED_URL=memcached://127.0.0.1:11211,127.0.0.1:11212 \
//!  cargo test -p cache-core --features testing,memcached --test memcached`

mod support;

use std::time::Duration;

use bytes::Bytes;
use cache_core::backends::{MemcachedBackend, MemcachedBackendBuilder};
use cache_core::testing::{server_url, unique_prefix, Setup, Subject};
use cache_core::{Cache, Error, KeyProblem, Timeout};
use support::{Program, TestServer};

const VAR: &str = "TEST_MEMCACHED_URL";

fn memcached_url() -> Option<String> {
    server_url(VAR, "the memcached backend tests")
}

fn cache_on(url: &str, name: &str) -> (MemcachedBackend, Cache) {
    let backend = MemcachedBackend::from_url(url).expect("valid memcached URL");
    let cache = Cache::builder(backend.clone())
        .key_prefix(unique_prefix(name))
        .build();
    (backend, cache)
}

/// A conformance subject on the test servers, `django` in Django's layout and value format. `clear` is
/// flush_all: the `clear_empties` check runs on a private server, never on the shared one the other tests
/// of this run are using.
fn subject(setup: Setup, django: bool) -> Option<Subject> {
    let url = memcached_url()?;
    let format = if django {
        cache_core::ValueFormat::DjangoPickle
    } else {
        cache_core::ValueFormat::Json
    };
    let layout = |builder: MemcachedBackendBuilder| {
        if django {
            builder.django_layout()
        } else {
            builder
        }
    };
    let cache = if setup.name == "clear_empties" {
        let server = TestServer::start(Program::Memcached, VAR)?;
        let backend = layout(MemcachedBackend::builder([server.addr().to_string()]))
            .build()
            .expect("valid");
        Cache::builder(support::Owning {
            backend,
            guard: server,
        })
        .key_prefix(setup.prefix)
        .value_format(format)
        .build()
    } else {
        let builder = MemcachedBackendBuilder::from_url(&url).expect("valid memcached URL");
        Cache::builder(layout(builder).build().expect("valid"))
            .key_prefix(setup.prefix)
            .value_format(format)
            .build()
    };
    Some(Subject::new(cache).expiry_resolution(Duration::from_secs(1)))
}

mod conformance {
    use super::*;

    cache_core::conformance_suite!(|setup: Setup| async move { subject(setup, false) });
}

/// Django's layout (pymemcache's flags and placement) under the Django value format.
mod django_conformance {
    use super::*;

    cache_core::conformance_suite!(|setup: Setup| async move { subject(setup, true) });
}

#[tokio::test]
async fn values_over_the_limit_are_errors_and_never_leave_a_stale_value() {
    let Some(url) = memcached_url() else {
        return;
    };
    let (_, cache) = cache_on(&url, "too-large");
    let limit = 1024 * 1024;

    cache.set("k", "old").await.expect("set");
    let err = cache
        .set_bytes("k", vec![b'x'; limit + 1])
        .await
        .expect_err("over 1 MiB");
    assert!(
        matches!(err, Error::ValueTooLarge { size, limit: 1_048_576, .. } if size == limit + 1),
        "{err}"
    );
    assert_eq!(
        cache.get::<String>("k").await.expect("get"),
        None,
        "old value deleted"
    );

    // Exactly 1 MiB passes our check but not memcached's (its item size includes the header): the
    // server's refusal is the same error, and the old value is gone too.
    cache.set("k", "old").await.expect("set");
    let err = cache
        .set_bytes("k", vec![b'x'; limit])
        .await
        .expect_err("1 MiB item");
    assert!(matches!(err, Error::ValueTooLarge { .. }), "{err}");
    assert_eq!(cache.get::<String>("k").await.expect("get"), None);

    // Below the item size, large binary values round-trip.
    let big = Bytes::from(
        (0..1_000_000u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<_>>(),
    );
    cache.set_bytes("big", big.clone()).await.expect("1 MB");
    assert_eq!(cache.get_bytes("big").await.expect("get"), Some(big));

    // set_many returns the key that did not fit, deletes its old value, stores the rest.
    cache.set("huge", "old").await.expect("set");
    let failed = cache
        .set_many([
            ("small", serde_json::Value::from("s")),
            ("huge", serde_json::Value::from("y".repeat(limit + 10))),
        ])
        .await
        .expect("set_many");
    assert_eq!(failed, ["huge"], "set_many names the key that did not fit");
    assert_eq!(cache.get::<String>("huge").await.expect("get"), None);
    assert_eq!(
        cache.get::<String>("small").await.expect("get").as_deref(),
        Some("s")
    );
    assert!(matches!(
        cache.add_bytes("new", vec![0; limit + 1]).await,
        Err(Error::ValueTooLarge { .. })
    ));
}

#[tokio::test]
async fn keys_are_limited_in_bytes_as_memcached_counts() {
    let Some(url) = memcached_url() else {
        return;
    };
    let (_, cache) = cache_on(&url, "keys");
    // Under 250 characters with the prefix, over 250 bytes: rejected before any request.
    let wide = "é".repeat(150);
    assert!(matches!(
        cache.set(&wide, "v").await,
        Err(Error::InvalidKey {
            reason: KeyProblem::TooLong { max: 250, .. },
            ..
        })
    ));
    let narrow = "é".repeat(20);
    cache.set(&narrow, "v").await.expect("unicode key");
    assert_eq!(
        cache.get::<String>(&narrow).await.expect("get").as_deref(),
        Some("v")
    );
}

/// The raw remaining TTL of a made key, straight from the server that holds it.
async fn raw_ttl(backend: &MemcachedBackend, made_key: &str) -> Option<i64> {
    use async_memcached::MetaProtocol;
    let server = backend.server_for(made_key);
    let mut client = async_memcached::Client::new(format!("tcp://{server}"))
        .await
        .expect("connect");
    client
        .meta_get(made_key, false, None, Some(&["t"]))
        .await
        .expect("mg")
        .and_then(|value| value.ttl_remaining)
}

#[tokio::test]
async fn expiries_and_counters_follow_memcached_rules() {
    let Some(url) = memcached_url() else {
        return;
    };
    let (backend, cache) = cache_on(&url, "ttl");

    // Beyond 30 days memcached wants an absolute time; the entry must still be there.
    let sixty_days = Duration::from_secs(60 * 86_400);
    cache
        .set("long", "v")
        .timeout(sixty_days)
        .await
        .expect("set");
    assert!(cache.has_key("long").await.expect("has_key"));
    let ttl = raw_ttl(&backend, &cache.make_key("long", None)).await;
    assert!(
        ttl.is_some_and(|t| (5_183_000..=5_184_005).contains(&t)),
        "{ttl:?}"
    );

    // Native increments keep the TTL; negative results go through CAS and keep it to the second.
    cache
        .set("n", &5)
        .timeout(Duration::from_secs(100))
        .await
        .expect("set");
    assert_eq!(cache.incr("n", 10).await.expect("incr"), 15);
    assert_eq!(cache.decr("n", 20).await.expect("decr"), -5);
    assert_eq!(cache.incr("n", 2).await.expect("incr a negative"), -3);
    let ttl = raw_ttl(&backend, &cache.make_key("n", None)).await;
    assert!(ttl.is_some_and(|t| (95..=101).contains(&t)), "{ttl:?}");
    cache.set("big", &(i64::MAX - 1)).await.expect("set");
    assert!(matches!(
        cache.incr("big", 5).await,
        Err(Error::Overflow { .. })
    ));
    assert_eq!(
        cache.get::<i64>("big").await.expect("get"),
        Some(i64::MAX - 1)
    );

    // touch to never; a persistent entry stays a hit.
    cache
        .touch("n")
        .timeout(Timeout::Never)
        .await
        .expect("touch");
    assert_eq!(
        raw_ttl(&backend, &cache.make_key("n", None)).await,
        Some(-1)
    );
}

#[tokio::test]
async fn concurrent_increments_are_never_lost() {
    let Some(url) = memcached_url() else {
        return;
    };
    let (_, cache) = cache_on(&url, "concurrent");
    cache.set("n", &0).await.expect("set");
    let mut tasks = Vec::new();
    for i in 0..20 {
        let cache = cache.clone();
        // Half native, half through CAS.
        let delta = if i % 2 == 0 { 3 } else { -1 };
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                cache.incr("n", delta).await.expect("incr");
            }
        }));
    }
    for task in tasks {
        task.await.expect("join");
    }
    assert_eq!(
        cache.get::<i64>("n").await.expect("get"),
        Some(10 * 10 * 3 - 10 * 10)
    );
}

#[tokio::test]
async fn keys_spread_over_the_servers_by_consistent_hashing() {
    let Some(url) = memcached_url() else {
        return;
    };
    let (backend, cache) = cache_on(&url, "ring");
    let servers: Vec<String> = backend.servers().map(String::from).collect();
    if servers.len() < 2 {
        cache_core::testing::say_once(
            "skipping the memcached hashing test: TEST_MEMCACHED_URL names one server",
        );
        return;
    }
    let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
    cache
        .set_many(keys.iter().map(|k| (k.clone(), k.clone())))
        .await
        .expect("set_many");
    let mut per_server = vec![0; servers.len()];
    for (index, server) in servers.iter().enumerate() {
        let alone = Cache::builder(
            MemcachedBackend::builder([server.clone()])
                .build()
                .expect("valid"),
        )
        .key_prefix(cache.key_prefix())
        .build();
        let found = alone
            .get_many::<String, _, _>(keys.clone())
            .await
            .expect("get_many");
        for key in &keys {
            let home = backend.server_for(&cache.make_key(key, None)) == server;
            assert_eq!(found.contains_key(key), home, "{key} on {server}");
        }
        per_server[index] = found.len();
    }
    assert!(
        per_server.iter().all(|&n| n >= 40),
        "uneven spread {per_server:?}"
    );
    assert_eq!(
        cache
            .get_many::<String, _, _>(keys.clone())
            .await
            .expect("get_many")
            .len(),
        200
    );
    cache.delete_many(keys.clone()).await.expect("delete_many");
    assert!(cache
        .get_many::<String, _, _>(keys)
        .await
        .expect("get_many")
        .is_empty());
}

#[tokio::test]
async fn a_stopped_server_fails_fast_and_the_same_cache_recovers() {
    if memcached_url().is_none() {
        return;
    }
    support::stopped_server_fails_fast_and_recovers(Program::Memcached, VAR, |server| {
        MemcachedBackend::builder([server.to_string()]).build()
    })
    .await;
}

#[tokio::test]
async fn a_hanging_server_times_out_and_the_same_cache_recovers() {
    if memcached_url().is_none() {
        return;
    }
    let Some(server) = TestServer::start(Program::Memcached, VAR) else {
        return;
    };
    support::hanging_server_times_out_and_recovers(server.addr(), |proxy| {
        let backend = MemcachedBackend::builder([proxy.to_string()])
            .timeout(Duration::from_millis(500))
            .build()
            .expect("valid");
        Cache::new(backend)
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_not_a_hang() {
    let error = support::unreachable_server_is_an_error("memcached", |port| {
        MemcachedBackend::builder([format!("127.0.0.1:{port}")])
            .timeout(Duration::from_millis(300))
            .build()
            .expect("valid")
    })
    .await;
    assert!(
        error.to_string().contains("127.0.0.1"),
        "names the server: {error}"
    );
}

#[tokio::test]
async fn urls_carry_the_options() {
    let Some(url) = memcached_url() else {
        return;
    };
    let separator = if url.contains('?') { '&' } else { '?' };
    let prefix = unique_prefix("url");
    let cache = Cache::from_url(&format!(
        "{url}{separator}socket_timeout=0.5&max_connections=2&key_prefix={prefix}&timeout=60"
    ))
    .await
    .expect("valid");
    assert_eq!(cache.key_prefix(), prefix);
    assert_eq!(cache.backend_name(), "memcached");
    cache.set("k", "v").await.expect("set");
    assert_eq!(
        cache.get::<String>("k").await.expect("get").as_deref(),
        Some("v")
    );
    let err = Cache::from_url(&format!("{url}{separator}no_such_option=1"))
        .await
        .expect_err("unknown option");
    assert!(err.to_string().contains("no_such_option"), "{err}");
}
