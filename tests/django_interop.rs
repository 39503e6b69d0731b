//! Beside a running Django: an axum app built on the umbrella crate and a Django 5.2 project
//! (`tests/django/peer.py`) share one database, served over a real socket to cookie-keeping browsers.
//!
//! On SQLite (a file both open), and on PostgreSQL and MariaDB when `TEST_POSTGRES_URL` /
//! `TEST_MYSQL_URL` are set:
//!
//! - Django writes a session in `django_session`; the app reads it, changes it; Django reads the change.
//! - The app writes a session; Django reads it.
//! - Django logs a user in; the app's `DjangoUser` extractor sees that user. The password changes in
//!   Django; the app's next request is anonymous (and the session is flushed, as Django does).
//! - The app logs the user in (`DjangoAuth::login`); Django's `get_user` sees the same user.
//! - A session signed under a key now in `SECRET_KEY_FALLBACKS` is read, and re-signed with the new key
//!   when saved, which Django then reads without the fallback.
//!
//! And on Redis (`TEST_REDIS_URL`), Django's `cache` and `cached_db` session engines: Django writes, the
//! app (`CacheStore::django`, `CachedDatabaseStore::django` over a cache in Django's value format) reads
//! and changes, Django reads the change; and the reverse.
//!
//! Django runs through `TEST_DJANGO_PYTHON` (`bash .ci/install-django.sh`, then
//! `source .ci/test-env.sh`); without it the tests say they skipped, except under `CI` or
//! `TEST_REQUIRE_SERVERS`, where that is a failure.

mod support;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use axum::extract::Path;
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{json, Value};
use support::browser::Browser;
use tokio::sync::Mutex;
use tower_django::cache::sql::{PoolSettings, SqlPool};
use tower_django::sessions::django::Django;
use tower_django::sessions::django_auth::{DjangoAuth, DjangoUser};
use tower_django::sessions::store::{CacheStore, CachedDatabaseStore, DatabaseStore};
use tower_django::sessions::{Session, SessionError, SessionLayer};

const SECRET: &str = "django-insecure-interop-test-key-0123456789abcdef";
const OLD_SECRET: &str = "the-key-this-project-had-before-rotating-it";

fn required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("TEST_REQUIRE_SERVERS").is_some()
}

/// The Python with Django, or `None` (after saying so) when the tests skip.
fn python() -> Option<String> {
    match std::env::var("TEST_DJANGO_PYTHON") {
        Ok(python) if !python.is_empty() => Some(python),
        _ if required() => panic!(
            "TEST_DJANGO_PYTHON is not set: CI must run the Django interoperability tests \
             (bash .ci/install-django.sh, then source .ci/test-env.sh)"
        ),
        _ => {
            eprintln!("skipped: set TEST_DJANGO_PYTHON to a Python with Django 5.2");
            None
        }
    }
}

/// The Django project on `database`, under `secret` (and `fallbacks`).
struct Peer {
    python: String,
    database: String,
    secret: &'static str,
    fallbacks: Vec<&'static str>,
    /// Django's cache: its backend (`redis`, `memcached`, `file`, `db`), `LOCATION` and `KEY_PREFIX`.
    cache: Option<(&'static str, String, String)>,
}

impl Peer {
    fn run(&self, requests: Vec<Value>) -> Vec<Value> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/django/peer.py");
        let mut child = Command::new(&self.python)
            .arg(script)
            .env("DJANGO_DATABASE", &self.database)
            .env("DJANGO_SECRET_KEY", self.secret)
            .env(
                "DJANGO_SECRET_KEY_FALLBACKS",
                serde_json::to_string(&self.fallbacks).expect("JSON"),
            )
            .envs(self.cache.iter().flat_map(|(backend, location, prefix)| {
                [
                    ("DJANGO_CACHE_BACKEND", (*backend).to_owned()),
                    ("DJANGO_CACHE", location.clone()),
                    ("DJANGO_CACHE_PREFIX", prefix.clone()),
                ]
            }))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the Django peer");
        let input = serde_json::to_vec(&requests).expect("JSON");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&input)
            .expect("write to the peer");
        let output = child.wait_with_output().expect("the peer ends");
        assert!(
            output.status.success(),
            "the Django peer failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let answers: Vec<Value> = serde_json::from_slice(&output.stdout).expect("answers");
        assert_eq!(answers.len(), requests.len());
        answers
    }

    fn one(&self, request: Value) -> Value {
        self.run(vec![request]).remove(0)
    }
}

/// The session's data as a JSON object.
async fn data(session: Session) -> Result<String, SessionError> {
    let items: serde_json::Map<String, Value> = session.items().await?.into_iter().collect();
    Ok(Value::Object(items).to_string())
}

/// Adds one to the session's `n`.
async fn count(session: &Session) -> Result<(), SessionError> {
    let n: i64 = session.get("n").await?.unwrap_or(0);
    session.insert("n", &(n + 1)).await
}

/// The app: reads and writes its session, and says who is logged in.
fn app(store: DatabaseStore, auth: DjangoAuth) -> Router {
    Router::new()
        .route("/data", get(data))
        .route(
            "/write",
            get(|session: Session| async move {
                count(&session).await?;
                session.insert("rust", "was here").await?;
                Ok::<_, SessionError>("written")
            }),
        )
        .route(
            "/whoami",
            get(|user: DjangoUser| async move {
                user.id()
                    .map_or("anonymous".to_owned(), |id| format!("user {id}"))
            }),
        )
        .route(
            "/login/{id}",
            get(
                |session: Session,
                 Extension(auth): Extension<DjangoAuth>,
                 Path(id): Path<String>| async move {
                    auth.login(&session, &id).await.map(|()| "in")
                },
            ),
        )
        .layer(SessionLayer::new(store))
        .layer(Extension(auth))
}

async fn serve(router: Router) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (addr, server)
}

async fn body(browser: &mut Browser, path: &str) -> String {
    match browser.get(path).await {
        Ok(reply) if reply.status == 200 => reply.body,
        other => panic!("{path}: {other:?}"),
    }
}

/// Migrates each database once per run (Django's `migrate` run twice at once would race).
async fn migrated(peer: &Peer) {
    static DONE: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    let mut done = DONE.get_or_init(|| Mutex::new(Vec::new())).lock().await;
    if !done.contains(&peer.database) {
        peer.one(json!({"op": "migrate"}));
        done.push(peer.database.clone());
    }
}

/// The app of the `cache` and `cached_db` scenarios: reads and changes its session.
fn cache_app(store: impl tower_django::sessions::SessionStore) -> Router {
    Router::new()
        .route("/data", get(data))
        .route(
            "/write",
            get(|session: Session| async move {
                count(&session).await?;
                Ok::<_, SessionError>("written")
            }),
        )
        .layer(SessionLayer::new(store))
}

/// Django's `engine` and the app on `store` share sessions both ways.
async fn shared_engine(
    peer: &Peer,
    engine: &str,
    store: impl tower_django::sessions::SessionStore,
) {
    let (addr, server) = serve(cache_app(store)).await;
    let key = peer
        .one(json!({"op": "create_session", "engine": engine, "data": {"n": 1, "from": "django"}}))
        ["key"]
        .as_str()
        .expect("a key")
        .to_owned();
    let mut browser = Browser::with_session(addr, &key);
    // Compared as JSON: the order of the keys is the map's, which serde_json's features decide.
    let data: serde_json::Value =
        serde_json::from_str(&body(&mut browser, "/data").await).expect("/data answers JSON");
    assert_eq!(data, json!({"from": "django", "n": 1}), "{engine}");
    body(&mut browser, "/write").await;
    let read = peer.one(json!({"op": "read_session", "engine": engine, "key": key}));
    assert_eq!(read["data"], json!({"n": 2, "from": "django"}), "{engine}");

    let mut fresh = Browser::new(addr);
    body(&mut fresh, "/write").await;
    let fresh_key = fresh.session_key().expect("a cookie").to_owned();
    let read = peer.one(json!({"op": "read_session", "engine": engine, "key": fresh_key}));
    assert_eq!(
        read["data"],
        json!({"n": 1}),
        "{engine}: Django reads the app's session"
    );
    server.abort();
}

/// Django's `cache` and `cached_db` session engines on Django's cache `backend` at `location`, beside
/// the app's `CacheStore::django` and `CachedDatabaseStore::django` on the same cache, opened in Django's
/// format from the URL `rust_url` gives for the peer's SQLite database file (where Django's own database
/// cache lives).
async fn cache_engines(
    backend: &'static str,
    location: String,
    rust_url: impl FnOnce(&std::path::Path) -> String,
) {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("cached_db.db");
    let prefix = format!("interop{}", rand_suffix());
    let peer = Peer {
        python,
        database: path.display().to_string(),
        secret: SECRET,
        fallbacks: Vec::new(),
        cache: Some((backend, location, prefix.clone())),
    };
    migrated(&peer).await;
    let django = Django::new(SECRET).expect("key");
    let rust_url = rust_url(&path);
    let separator = if rust_url.contains('?') { '&' } else { '?' };
    let cache = tower_django::cache::Cache::from_url(&format!(
        "{rust_url}{separator}value_format=django&key_prefix={prefix}"
    ))
    .await
    .expect("cache in Django's format");
    shared_engine(&peer, "cache", CacheStore::django(cache.clone())).await;
    let database = DatabaseStore::builder(format!("sqlite://{}", path.display()))
        .django(&django)
        .connect()
        .await
        .expect("store");
    shared_engine(
        &peer,
        "cached_db",
        CachedDatabaseStore::django(database, cache),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_engines_on_redis() {
    if let Some(redis) = server_url("TEST_REDIS_URL") {
        let redis = redis.trim_end_matches('/').to_owned();
        // Django puts nothing in front of its keys: no namespace of ours either.
        cache_engines("redis", redis.clone(), |_| format!("{redis}?namespace=")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_engines_on_memcached() {
    if let Some(url) = server_url("TEST_MEMCACHED_URL") {
        let servers = url.trim_start_matches("memcached://").trim_end_matches('/');
        cache_engines("memcached", servers.to_owned(), |_| url.clone()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_engines_on_files() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let location = dir.path().join("cache").display().to_string();
    cache_engines("file", location.clone(), |_| format!("file://{location}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_engines_on_the_database_cache() {
    // Django's `DatabaseCache` keeps its table in Django's database: the peer's SQLite file.
    let table = "django_cache_table";
    cache_engines("db", table.to_owned(), |database| {
        format!("sqlite://{}?table={table}", database.display())
    })
    .await;
}

/// Every scenario of the module documentation on the database at `url` (sqlx's URL), which Django
/// reaches as `django_database`.
async fn beside_django(url: &str, django_database: String) {
    let Some(python) = python() else { return };
    let peer = Peer {
        python,
        database: django_database,
        secret: SECRET,
        fallbacks: vec![OLD_SECRET],
        cache: None,
    };
    migrated(&peer).await;
    let django = Django::new(SECRET)
        .and_then(|django| django.secret_key_fallbacks([OLD_SECRET]))
        .expect("keys");
    let store = DatabaseStore::builder(url)
        .django(&django)
        .connect()
        .await
        .expect("store");
    let pool = SqlPool::connect_lazy(url, &PoolSettings::default()).expect("user pool");
    let auth = DjangoAuth::new(&django).with_database(pool);
    let (addr, server) = serve(app(store, auth)).await;

    // Django writes, the app reads and changes, Django reads the change.
    let key = peer.one(json!({"op": "create_session", "data": {"django": "wrote", "n": 1, "ü": [1.5, null, true]}}))["key"]
        .as_str()
        .expect("a key")
        .to_owned();
    let mut browser = Browser::with_session(addr, &key);
    let data: Value = serde_json::from_str(&body(&mut browser, "/data").await).expect("JSON");
    assert_eq!(
        data,
        json!({"django": "wrote", "n": 1, "ü": [1.5, null, true]})
    );
    assert_eq!(body(&mut browser, "/write").await, "written");
    let read = peer.one(json!({"op": "read_session", "key": key}));
    assert_eq!(
        read["data"],
        json!({"django": "wrote", "n": 2, "ü": [1.5, null, true], "rust": "was here"}),
        "Django reads the change"
    );

    // The app writes a new session; Django reads it.
    let mut fresh = Browser::new(addr);
    body(&mut fresh, "/write").await;
    let fresh_key = fresh.session_key().expect("a cookie").to_owned();
    let read = peer.one(json!({"op": "read_session", "key": fresh_key}));
    assert_eq!(read["data"], json!({"n": 1, "rust": "was here"}));

    // Django logs a user in; the app sees that user; a password change logs them out here too.
    let username = format!("user{}", rand_suffix());
    let id = peer.one(json!({"op": "create_user", "username": username, "password": "first"}))
        ["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let login = peer.one(json!({"op": "login", "username": username, "password": "first"}));
    let logged_in = login["key"].as_str().expect("a session").to_owned();
    let mut user_browser = Browser::with_session(addr, &logged_in);
    assert_eq!(
        body(&mut user_browser, "/whoami").await,
        format!("user {id}")
    );
    peer.one(json!({"op": "set_password", "username": username, "password": "second"}));
    assert_eq!(
        body(&mut user_browser, "/whoami").await,
        "anonymous",
        "a password changed in Django logs the session out here"
    );
    let read = peer.one(json!({"op": "read_session", "key": logged_in}));
    assert_eq!(read["data"], Value::Null, "flushed, as Django flushes it");

    // The app logs the user in; Django sees the same user.
    let mut rust_login = Browser::new(addr);
    assert_eq!(body(&mut rust_login, &format!("/login/{id}")).await, "in");
    let rust_key = rust_login.session_key().expect("a cookie").to_owned();
    assert_eq!(body(&mut rust_login, "/whoami").await, format!("user {id}"));
    let seen = peer.one(json!({"op": "session_user", "key": rust_key}));
    assert_eq!(
        seen["id"],
        json!(id),
        "Django's get_user sees the app's login"
    );

    // A session signed under the old key (Django before the rotation) is read through the fallback and
    // re-signed with the new key when saved.
    let before = Peer {
        python: peer.python.clone(),
        database: peer.database.clone(),
        secret: OLD_SECRET,
        fallbacks: Vec::new(),
        cache: None,
    };
    let old_key = before.one(json!({"op": "create_session", "data": {"n": 10}}))["key"]
        .as_str()
        .expect("a key")
        .to_owned();
    let mut old = Browser::with_session(addr, &old_key);
    assert_eq!(body(&mut old, "/data").await, r#"{"n":10}"#);
    body(&mut old, "/write").await;
    let without_fallback = Peer {
        fallbacks: Vec::new(),
        python: peer.python.clone(),
        database: peer.database.clone(),
        secret: SECRET,
        cache: None,
    };
    let read = without_fallback.one(json!({"op": "read_session", "key": old_key}));
    assert_eq!(read["data"], json!({"n": 11, "rust": "was here"}));
    server.abort();
}

/// A suffix that keeps usernames of concurrent and repeated runs apart.
fn rand_suffix() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}{nanos}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("shared.db");
    beside_django(
        &format!("sqlite://{}", path.display()),
        path.display().to_string(),
    )
    .await;
}

fn server_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if required() => panic!("{var} is not set"),
        _ => {
            eprintln!("skipped: {var} is not set");
            None
        }
    }
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    if let Some(url) = server_url("TEST_POSTGRES_URL") {
        beside_django(&url, url.clone()).await;
    }
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb() {
    if let Some(url) = server_url("TEST_MYSQL_URL") {
        beside_django(&url, url.clone()).await;
    }
}
