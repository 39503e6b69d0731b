//! The Redis backend on a real three-node Redis Cluster (`.ci/start-redis-cluster.sh` starts one):
//! the conformance suite, keys spread over every node with multi-key calls across slots, and a `clear`
//! that walks every primary but only this namespace.
//!
//! `TEST_REDIS_CLUSTER_URLS=redis://127.0.0.1:7001,redis://127.0.0.1:7002,redis://127.0.0.1:7003 \
//!  cargo test -p cache-core --features testing,redis-cluster --test redis_cluster`

use cache_core::backends::{RedisBackend, RedisConnection};
use cache_core::testing::{server_url, unique_prefix, Setup, Subject};
use cache_core::Cache;

const VAR: &str = "TEST_REDIS_CLUSTER_URLS";

/// A backend on the test cluster with `namespace`: the variable holds node URLs separated by commas
/// (`redis://h:p,redis://h:p`) or one `redis+cluster://h:p,h:p` URL.
fn cluster(namespace: String) -> Option<RedisBackend> {
    let urls = server_url(VAR, "the Redis Cluster backend tests")?;
    let builder = if urls.contains("+cluster://") {
        RedisBackend::builder(urls.trim())
    } else {
        RedisBackend::cluster_builder(urls.split(',').map(str::trim).filter(|u| !u.is_empty()))
    };
    Some(
        builder
            .namespace(namespace)
            .build()
            .expect("valid cluster URLs"),
    )
}

mod conformance {
    use super::*;

    cache_core::conformance_suite!(|setup: Setup| async move {
        let backend = cluster(format!("{}:", setup.prefix))?;
        assert!(backend.is_cluster());
        Some(Subject::new(
            Cache::builder(backend).key_prefix(setup.prefix).build(),
        ))
    });
}

/// `(host, port)` of every primary, from `CLUSTER NODES`.
async fn primaries(connection: &mut RedisConnection) -> Vec<(String, u16)> {
    let listing: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(connection)
        .await
        .expect("CLUSTER NODES");
    listing
        .lines()
        .filter(|line| line.contains("master"))
        .filter_map(|line| {
            let address = line.split_whitespace().nth(1)?.split(['@', ',']).next()?;
            let (host, port) = address.rsplit_once(':')?;
            Some((host.to_owned(), port.parse().ok()?))
        })
        .collect()
}

/// How many keys matching `pattern` each primary holds.
async fn keys_per_node(backend: &RedisBackend, pattern: &str) -> Vec<usize> {
    let mut connection = backend.connection().await.expect("connection");
    let mut counts = Vec::new();
    for (host, port) in primaries(&mut connection).await {
        let node = redis::Client::open(format!("redis://{host}:{port}")).expect("node URL");
        let mut node = node
            .get_multiplexed_async_connection()
            .await
            .expect("node connection");
        let mut cursor: u64 = 0;
        let mut count = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut node)
                .await
                .expect("SCAN");
            count += keys.len();
            if next == 0 {
                break;
            }
            cursor = next;
        }
        counts.push(count);
    }
    counts
}

#[tokio::test]
async fn keys_spread_over_every_node_and_multi_key_calls_cross_slots() {
    let namespace = format!("{}:", unique_prefix("spread"));
    let Some(backend) = cluster(namespace.clone()) else {
        return;
    };
    let cache = Cache::new(backend.clone());
    let keys: Vec<String> = (0..300).map(|i| format!("k{i}")).collect();
    let failed = cache
        .set_many(keys.iter().map(|k| (k.clone(), k.len())))
        .await
        .expect("set_many across slots");
    assert!(failed.is_empty());
    let counts = keys_per_node(&backend, &format!("{namespace}*")).await;
    assert_eq!(counts.len(), 3, "three primaries: {counts:?}");
    assert!(counts.iter().all(|&n| n >= 50), "uneven spread {counts:?}");

    let found = cache
        .get_many::<usize, _, _>(keys.clone())
        .await
        .expect("MGET across slots");
    assert_eq!(found.len(), 300);
    cache
        .delete_many(keys[..150].to_vec())
        .await
        .expect("UNLINK across slots");
    assert_eq!(
        cache
            .get_many::<usize, _, _>(keys.clone())
            .await
            .expect("get_many")
            .len(),
        150
    );
    cache.clear().await.expect("clear");
}

#[tokio::test]
async fn clear_walks_every_primary_but_only_its_namespace() {
    let namespace = format!("{}:", unique_prefix("clear"));
    let Some(ours) = cluster(namespace.clone()) else {
        return;
    };
    let Some(theirs) = cluster(format!("{}:", unique_prefix("clear-other"))) else {
        return;
    };
    let cache = Cache::new(ours.clone());
    let other = Cache::new(theirs);
    cache
        .set_many((0..500).map(|i| (format!("k{i}"), i)))
        .await
        .expect("set_many");
    other
        .set_many((0..50).map(|i| (format!("k{i}"), i)))
        .await
        .expect("set_many");
    assert_eq!(
        keys_per_node(&ours, &format!("{namespace}*"))
            .await
            .iter()
            .sum::<usize>(),
        500
    );

    cache.clear().await.expect("clear");
    let left = keys_per_node(&ours, &format!("{namespace}*")).await;
    assert_eq!(left, vec![0, 0, 0], "every primary cleared");
    assert_eq!(
        other
            .get_many::<i32, _, _>((0..50).map(|i| format!("k{i}")))
            .await
            .expect("get_many")
            .len(),
        50,
        "another namespace is kept"
    );
    other.clear().await.expect("clear");
}

#[tokio::test]
async fn a_cluster_url_works_too() {
    let Some(urls) = server_url(VAR, "the Redis Cluster backend tests") else {
        return;
    };
    let hosts: Vec<&str> = urls
        .split(',')
        .map(|url| {
            url.trim()
                .trim_start_matches("redis://")
                .trim_end_matches('/')
        })
        .collect();
    let namespace = format!("{}:", unique_prefix("url"));
    let url = if urls.contains("+cluster://") {
        format!("{urls}?namespace={namespace}")
    } else {
        format!("redis+cluster://{}?namespace={namespace}", hosts.join(","))
    };
    let backend = RedisBackend::from_url(&url).expect("valid cluster URL");
    assert!(backend.is_cluster());
    assert_eq!(backend.namespace(), namespace);
    let cache = Cache::new(backend);
    cache.set("k", "v").await.expect("set");
    assert_eq!(
        cache.get::<String>("k").await.expect("get").as_deref(),
        Some("v")
    );
    assert_eq!(cache.incr_version("k", 1).await.expect("incr_version"), 2);
    cache.clear().await.expect("clear");
}
