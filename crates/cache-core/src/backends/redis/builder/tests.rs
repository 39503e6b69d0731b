//! The Redis builder's checks: URLs, options, the client-side cache settings, refused values.

use super::*;

#[test]
fn cluster_urls_become_node_urls() {
    assert_eq!(
        cluster_nodes("redis+cluster://u:p@h1:7001,h2:7002;h3/0?protocol=resp3"),
        Some(vec![
            "redis://u:p@h1:7001?protocol=resp3".to_owned(),
            "redis://u:p@h2:7002?protocol=resp3".to_owned(),
            "redis://u:p@h3?protocol=resp3".to_owned(),
        ])
    );
    assert_eq!(
        cluster_nodes("rediss+cluster://h1"),
        Some(vec!["rediss://h1".to_owned()])
    );
    assert_eq!(cluster_nodes("redis://h1"), None);
}

#[test]
fn our_options_are_taken_and_the_rest_passed_on() {
    let builder = RedisBackendBuilder::from_url(
        "redis://127.0.0.1:6379/2?namespace=app%3A&protocol=resp3&socket_timeout=0.5&max_connections=3",
    )
    .expect("valid");
    assert_eq!(builder.namespace, "app:");
    assert_eq!(builder.connection.timeout, Duration::from_millis(500));
    assert_eq!(builder.connection.max_connections, 3);
    assert!(
        matches!(&builder.target, Target::Single(url) if url == "redis://127.0.0.1:6379/2?protocol=resp3")
    );
    let err = RedisBackendBuilder::from_url("redis://h?socket_timeout=soon").expect_err("bad");
    assert!(err.to_string().contains("socket_timeout"), "{err}");
}

#[test]
fn bad_urls_are_config_errors_without_passwords() {
    let err = RedisBackend::from_url("redis://user:secret@[bad").expect_err("invalid");
    assert!(matches!(err, Error::Config(_)), "{err}");
    assert!(!err.to_string().contains("secret"), "{err}");
    if !cfg!(feature = "redis-tls") {
        let err = RedisBackend::from_url("rediss://h").expect_err("no TLS");
        assert!(err.to_string().contains("redis-tls"), "{err}");
    }
}

#[test]
fn the_client_side_cache_is_configured_and_checked() {
    let builder = RedisBackendBuilder::from_url(
        "redis://h/0?client_side_cache_ttl=5&client_side_cache_max_bytes=1000&client_side_cache=100&protocol=resp3",
    )
    .expect("valid");
    assert_eq!(
        builder.client_cache,
        Some(ClientCacheSettings {
            max_entries: 100,
            max_bytes: 1000,
            ttl: Duration::from_secs(5)
        })
    );
    assert!(builder.clone().build().is_ok());
    assert!(
        builder.client_side_cache(0).client_cache.is_none(),
        "0 is off"
    );

    let zero_ttl = RedisBackend::builder("redis://h")
        .client_side_cache(10)
        .client_side_cache_ttl(Duration::ZERO)
        .build();
    assert!(matches!(zero_ttl, Err(Error::Config(_))));
    let cluster = RedisBackend::builder("redis+cluster://h1,h2")
        .client_side_cache(10)
        .build();
    assert!(
        matches!(&cluster, Err(Error::Config(message)) if message.contains("cluster")),
        "{cluster:?}"
    );
    let err = RedisBackendBuilder::from_url("redis://h?client_side_cache=lots").expect_err("bad");
    assert!(err.to_string().contains("client_side_cache"), "{err}");
}

#[tokio::test]
async fn building_makes_no_connection() {
    let backend = RedisBackend::from_url("redis://127.0.0.1:1/0").expect("valid");
    assert_eq!(backend.namespace(), "cache:");
    assert!(!backend.is_cluster());
}

#[test]
fn client_side_cache_settings_apply_in_any_order() {
    let before = RedisBackend::builder("redis://h")
        .client_side_cache_ttl(Duration::from_secs(5))
        .client_side_cache_max_bytes(1000)
        .client_side_cache(100);
    let after = RedisBackend::builder("redis://h")
        .client_side_cache(100)
        .client_side_cache_ttl(Duration::from_secs(5))
        .client_side_cache_max_bytes(1000);
    assert_eq!(before.client_cache, after.client_cache);
    let zero_ttl_first = RedisBackend::builder("redis://h")
        .client_side_cache_ttl(Duration::ZERO)
        .client_side_cache(10)
        .build();
    assert!(matches!(zero_ttl_first, Err(Error::Config(_))));
}

#[test]
fn zero_pool_sizes_and_timeouts_are_refused() {
    for builder in [
        RedisBackend::builder("redis://h").max_connections(0),
        RedisBackend::builder("redis://h").timeout(Duration::ZERO),
        RedisBackend::builder("redis://h").connect_timeout(Duration::ZERO),
    ] {
        assert!(matches!(builder.build(), Err(Error::Config(_))));
    }
}
