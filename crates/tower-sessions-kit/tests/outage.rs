//! Real servers that stop answering: PostgreSQL, MariaDB and Redis behind a `FaultProxy` switched to
//! `Blackhole`, sessions through a real `SessionLayer` and axum `Router`. Each request answers the
//! configured error instead of hanging; during the outage the requests fail fast (counted at the store,
//! not timed); once the proxy forwards again the same cookie finds the data saved before the outage.
//! Skipped, with a message on stderr, when a server's `TEST_*_URL` is unset (an error with
//! `TEST_REQUIRE_SERVERS=1`).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::Router;
use cache_core::testing::{FaultMode, FaultProxy};
use support::{app_with, send, unavailable, Counting, Reply};
use tower_sessions_kit::SessionStore;

/// How long a request may take before the test calls it a hang: five deadlines.
const BOUND: Duration = Duration::from_secs(5);

/// Concurrent requests sent during the outage.
const BURST: usize = 20;

/// `path` through `app`, or a panic if it does not answer within [`BOUND`].
async fn answered(app: &Router, path: &str, cookie: Option<&str>) -> Reply {
    tokio::time::timeout(BOUND, send(app, path, cookie))
        .await
        .unwrap_or_else(|_| panic!("{path} did not answer within {BOUND:?}"))
}

/// The outage scenario on `store`, whose server is behind `proxy`.
async fn outage(proxy: FaultProxy, store: Arc<dyn SessionStore>) {
    let counting = Arc::new(Counting::new(store));
    let app = app_with(Arc::clone(&counting) as Arc<dyn SessionStore>, |layer| {
        layer.error_response(unavailable)
    });
    let created = answered(&app, "/set", None).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let key = created
        .session_cookie()
        .expect("a session cookie")
        .value()
        .to_owned();
    assert_eq!(answered(&app, "/read", Some(&key)).await.body, "42");

    proxy.set_mode(FaultMode::Blackhole);
    // The first request waits for the server, then gets the configured error.
    let reply = answered(&app, "/read", Some(&key)).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );

    // A burst during the outage: every request gets the error, and (the breaker being open) hardly any
    // reaches the store — at most a probe or two if the machine is slow enough for a cooldown to pass.
    let before = counting.calls();
    let requests: Vec<_> = (0..BURST)
        .map(|n| {
            let app = app.clone();
            let key = key.clone();
            tokio::spawn(async move {
                // Loads of the known session, and new sessions to save.
                let cookie = (n % 2 == 0).then_some(key);
                answered(
                    &app,
                    if n % 2 == 0 { "/read" } else { "/set" },
                    cookie.as_deref(),
                )
                .await
            })
        })
        .collect();
    for request in requests {
        let reply = request.await.expect("request task");
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            reply.body
        );
        assert!(reply.session_cookie().is_none());
    }
    let reached = counting.calls() - before;
    assert!(
        reached <= 2,
        "{reached} of {BURST} requests reached the store during the outage"
    );

    proxy.set_mode(FaultMode::Forward);
    // Back: the same cookie works again (after a probe finds the server), its data intact.
    let started = Instant::now();
    loop {
        let reply = answered(&app, "/read", Some(&key)).await;
        if reply.status == StatusCode::OK {
            assert_eq!(reply.body, "42");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the store did not come back: {}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reply = answered(&app, "/update", Some(&key)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(answered(&app, "/keys", Some(&key)).await.body, "a,b,user");
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn database_outage(var: &str, what: &str, default_port: u16) {
    let Some(url) = cache_core::testing::server_url(var, what) else {
        return;
    };
    let (proxy, through) = FaultProxy::in_front_of(&url, default_port)
        .await
        .expect("proxy");
    let store = tower_sessions_kit::store::DatabaseStore::builder(through)
        .table(tower_sessions_kit::testing::unique_name("outage"))
        .max_connections(4)
        // Only the store's deadline may bound a request here: the pool gives up on a connection that
        // does not answer its ping much later.
        .acquire_timeout(Duration::from_secs(60))
        .connect()
        .await
        .expect("connect through the proxy");
    store.migrate().await.expect("migrate");
    outage(proxy, Arc::new(store)).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stops_answering() {
    database_outage("TEST_POSTGRES_URL", "PostgreSQL outage test", 5432).await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_stops_answering() {
    database_outage("TEST_MYSQL_URL", "MariaDB outage test", 3306).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stops_answering() {
    let Some(url) = cache_core::testing::server_url("TEST_REDIS_URL", "Redis outage test") else {
        return;
    };
    let (proxy, through) = FaultProxy::in_front_of(&url, 6379).await.expect("proxy");
    let backend = cache_core::backends::RedisBackend::builder(through)
        .namespace(format!(
            "{}:",
            tower_sessions_kit::testing::unique_name("outage")
        ))
        .build()
        .expect("redis backend");
    let store = tower_sessions_kit::store::CacheStore::new(cache_core::Cache::new(backend));
    outage(proxy, Arc::new(store)).await;
}
