//! Sessions by user, the way an app uses them: log in through `Session::set_user`, list the user's
//! sessions, log out everywhere else, cap the sessions per user — through a real `Router`, with a browser's
//! cookie kept per client. On every store that keeps sessions by user: memory, SQLite, the cached database
//! always; PostgreSQL, MySQL/MariaDB, Redis and Redis Cluster when their `TEST_*_URL` is set (required
//! with `TEST_REQUIRE_SERVERS=1`). And a table made before sessions by user gains the column.

mod servers;
mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use support::send;
use tower_sessions_kit::store::{DatabaseStore, MemoryStore};
use tower_sessions_kit::users::USER_KEY;
use tower_sessions_kit::{InvalidSetting, Session, SessionError, SessionLayer, SessionStore};

fn routes() -> Router {
    Router::new()
        .route(
            "/login/{user}",
            get(|session: Session, Path(user): Path<String>| async move {
                session.set_user(&user).await?;
                session.insert("visits", &0).await?;
                Ok::<_, SessionError>("logged in")
            }),
        )
        .route(
            "/me",
            get(|session: Session| async move {
                Ok::<_, SessionError>(session.user().await?.unwrap_or_else(|| "anonymous".into()))
            }),
        )
        .route(
            "/sessions",
            get(|session: Session| async move {
                Ok::<_, SessionError>(session.user_sessions().await?.len().to_string())
            }),
        )
        .route(
            "/logout-elsewhere",
            get(|session: Session| async move {
                Ok::<_, SessionError>(session.revoke_other_sessions().await?.to_string())
            }),
        )
        .route(
            "/forge",
            get(|session: Session| async move {
                match session.insert(USER_KEY, &"admin").await {
                    Err(SessionError::ReservedKey(_)) => "refused",
                    _ => "accepted",
                }
            }),
        )
}

/// A browser: the session cookie it was last given.
#[derive(Default)]
struct Browser {
    cookie: Option<String>,
}

impl Browser {
    async fn get(&mut self, app: &Router, path: &str) -> String {
        let reply = send(app, path, self.cookie.as_deref()).await;
        assert!(
            reply.status.is_success(),
            "{path}: {} {}",
            reply.status,
            reply.body
        );
        if let Some(cookie) = reply.session_cookie() {
            self.cookie = (!cookie.value().is_empty()).then(|| cookie.value().to_owned());
        }
        reply.body
    }
}

/// Three browsers log in as one user; one logs out everywhere else; the others' next requests are
/// anonymous. Then a cap of two sessions revokes the least recently used at the next login.
async fn users_through_the_layer(store: Arc<dyn SessionStore>) {
    let app = routes().layer(SessionLayer::from_arc(Arc::clone(&store)));
    let user = format!("user-{}", std::process::id());
    let mut browsers: Vec<Browser> = (0..3).map(|_| Browser::default()).collect();
    for browser in &mut browsers {
        assert_eq!(
            browser.get(&app, &format!("/login/{user}")).await,
            "logged in"
        );
        assert_eq!(browser.get(&app, "/me").await, user);
    }
    assert_eq!(browsers[0].get(&app, "/sessions").await, "3");
    assert_eq!(browsers[0].get(&app, "/forge").await, "refused");
    assert_eq!(browsers[0].get(&app, "/logout-elsewhere").await, "2");
    assert_eq!(browsers[0].get(&app, "/sessions").await, "1");
    assert_eq!(browsers[0].get(&app, "/me").await, user);
    for revoked in &mut browsers[1..] {
        assert_eq!(
            revoked.get(&app, "/me").await,
            "anonymous",
            "a revoked session still logged in"
        );
    }

    // At most two sessions per user: logging in a third time revokes the one used least recently.
    let capped = routes().layer(
        SessionLayer::from_arc(Arc::clone(&store))
            .max_sessions_per_user(2)
            .expect("the store keeps sessions by user"),
    );
    let mut newer: Vec<Browser> = (0..2).map(|_| Browser::default()).collect();
    for browser in &mut newer {
        // Expiry times in milliseconds: apart, so "least recently used" is one session.
        tokio::time::sleep(Duration::from_millis(20)).await;
        browser.get(&capped, &format!("/login/{user}")).await;
    }
    assert_eq!(newer[1].get(&capped, "/sessions").await, "2");
    assert_eq!(
        browsers[0].get(&capped, "/me").await,
        "anonymous",
        "the oldest session was kept"
    );
    for browser in &mut newer {
        assert_eq!(browser.get(&capped, "/me").await, user);
    }

    // Another user logging in on a browser empties that session first.
    newer[0].get(&capped, "/login/someone-else").await;
    assert_eq!(newer[0].get(&capped, "/me").await, "someone-else");
    assert_eq!(newer[1].get(&capped, "/sessions").await, "1");
}

#[tokio::test]
async fn memory_store() {
    users_through_the_layer(Arc::new(MemoryStore::new())).await;
}

async fn sqlite_store(dir: &tempfile::TempDir) -> DatabaseStore {
    let url = format!("sqlite://{}", dir.path().join("sessions.db").display());
    let store = DatabaseStore::connect(url).await.expect("sqlite");
    store.migrate().await.expect("migrate");
    store
}

#[tokio::test]
async fn sqlite_store_through_the_layer() {
    let dir = tempfile::tempdir().expect("temp dir");
    users_through_the_layer(Arc::new(sqlite_store(&dir).await)).await;
}

#[cfg(feature = "cache")]
#[tokio::test]
async fn cached_database_store() {
    use cache_core::{backends::MemoryBackend, Cache};
    let dir = tempfile::tempdir().expect("temp dir");
    let store = tower_sessions_kit::store::CachedDatabaseStore::new(
        sqlite_store(&dir).await,
        Cache::new(MemoryBackend::new()),
    );
    users_through_the_layer(Arc::new(store)).await;
}

/// A migrated store with its own table on the server named by `var`, when it is set.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn database_at(var: &str, what: &str) -> Option<DatabaseStore> {
    let url = cache_core::testing::server_url(var, what)?;
    let table = tower_sessions_kit::testing::unique_name("users");
    let store = DatabaseStore::builder(url)
        .table(table)
        .deadline(Duration::from_secs(30))
        .connect()
        .await
        .expect(what);
    store.migrate().await.expect("migrate");
    Some(store)
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_store() {
    if let Some(store) = database_at("TEST_POSTGRES_URL", "PostgreSQL users").await {
        users_through_the_layer(Arc::new(store)).await;
    }
}

#[cfg(feature = "mysql")]
#[tokio::test]
async fn mysql_store() {
    if let Some(store) = database_at("TEST_MYSQL_URL", "MySQL users").await {
        users_through_the_layer(Arc::new(store)).await;
    }
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_store() {
    let name = tower_sessions_kit::testing::unique_name("users");
    if let Some(store) = servers::redis_hash_store(&name, 0) {
        users_through_the_layer(Arc::new(store)).await;
    }
}

/// Revoked sessions must be anonymous at once through the client-side cache too.
#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_store_with_client_side_cache() {
    let name = tower_sessions_kit::testing::unique_name("users-csc");
    if let Some(store) = servers::redis_hash_store(&name, 1_000) {
        users_through_the_layer(Arc::new(store)).await;
    }
}

#[cfg(feature = "redis-cluster")]
#[tokio::test]
async fn redis_cluster_store() {
    let name = tower_sessions_kit::testing::unique_name("users");
    if let Some(store) = servers::redis_cluster_hash_store(&name) {
        users_through_the_layer(Arc::new(store)).await;
    }
}

/// A cap needs a store that keeps sessions by user, and a cap of at least one.
#[tokio::test]
async fn a_cap_is_refused_where_it_cannot_hold() {
    let (cache_store, _) = support::memory_store();
    assert!(matches!(
        SessionLayer::new(cache_store).max_sessions_per_user(3),
        Err(InvalidSetting::SessionsPerUser(_))
    ));
    assert!(matches!(
        SessionLayer::new(MemoryStore::new()).max_sessions_per_user(0),
        Err(InvalidSetting::SessionsPerUser(_))
    ));
    let app = routes().layer(SessionLayer::new(support::memory_store().0));
    let mut browser = Browser::default();
    browser.get(&app, "/login/7").await;
    assert_eq!(
        browser.get(&app, "/me").await,
        "7",
        "the user is recorded without an index"
    );
    let reply = send(&app, "/sessions", browser.cookie.as_deref()).await;
    assert_eq!(
        reply.status, 500,
        "listing on a store without an index must fail loudly"
    );
}

/// A user id that is empty, too long or holds control characters is refused.
#[tokio::test]
async fn bad_user_ids_are_refused() {
    let app = Router::new()
        .route(
            "/login",
            get(|session: Session| async move {
                let long = "x".repeat(tower_sessions_kit::users::MAX_USER_ID + 1);
                let mut refused = 0;
                for bad in ["", long.as_str(), "a\nb"] {
                    if matches!(
                        session.set_user(bad).await,
                        Err(SessionError::InvalidUser(_))
                    ) {
                        refused += 1;
                    }
                }
                refused.to_string()
            }),
        )
        .layer(SessionLayer::new(MemoryStore::new()));
    assert_eq!(send(&app, "/login", None).await.body, "3");
}

/// Each database's table from before sessions by user (no `user_id`): `migrate` adds the column and its
/// index, keeps the sessions, and users work.
async fn old_table_gains_the_user_column(url: String, old_schema: &str, table: &str) {
    use cache_core::sql::{PoolSettings, SqlPool};
    let pool = SqlPool::connect_lazy(&url, &PoolSettings::default()).expect("pool");
    pool.execute(&old_schema.replace("{t}", table), &[])
        .await
        .expect("old table");
    pool.execute(
        &format!(
            "INSERT INTO {table} (session_key, session_data, expire_date) VALUES \
             ('oldsession123456', '{{\"kept\":true}}', 99999999999999)"
        ),
        &[],
    )
    .await
    .expect("old row");
    let store = DatabaseStore::builder(url)
        .table(table)
        .connect()
        .await
        .expect("store");
    store.migrate().await.expect("migrate adds the column");
    store.migrate().await.expect("migrate again");
    let old = tower_sessions_kit::SessionKey::parse("oldsession123456").expect("key");
    let loaded = store
        .load(&old)
        .await
        .expect("load")
        .expect("old session kept");
    assert_eq!(loaded.data.get("kept"), Some(&serde_json::json!(true)));
    users_through_the_layer(Arc::new(store)).await;
}

#[tokio::test]
async fn sqlite_old_table_gains_the_user_column() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    old_table_gains_the_user_column(
        url,
        "CREATE TABLE {t} (session_key TEXT PRIMARY KEY NOT NULL, session_data TEXT NOT NULL, \
         expire_date INTEGER NOT NULL) WITHOUT ROWID",
        "old_sessions",
    )
    .await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_old_table_gains_the_user_column() {
    let Some(url) = cache_core::testing::server_url("TEST_POSTGRES_URL", "PostgreSQL migration")
    else {
        return;
    };
    old_table_gains_the_user_column(
        url,
        "CREATE TABLE {t} (session_key VARCHAR(40) PRIMARY KEY, session_data TEXT NOT NULL, \
         expire_date BIGINT NOT NULL)",
        &tower_sessions_kit::testing::unique_name("old"),
    )
    .await;
}

#[cfg(feature = "mysql")]
#[tokio::test]
async fn mysql_old_table_gains_the_user_column() {
    let Some(url) = cache_core::testing::server_url("TEST_MYSQL_URL", "MySQL migration") else {
        return;
    };
    old_table_gains_the_user_column(
        url,
        "CREATE TABLE {t} (session_key VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin PRIMARY KEY, \
         session_data LONGTEXT NOT NULL, expire_date BIGINT NOT NULL) DEFAULT CHARSET=utf8mb4",
        &tower_sessions_kit::testing::unique_name("old"),
    )
    .await;
}
