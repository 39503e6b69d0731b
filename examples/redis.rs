//! The cache and the sessions on Redis: what several processes of one application share. Run two servers
//! on different ports and watch the hit counter and the sessions follow a visitor from one to the other.
//!
//! ```text
//! redis-server --daemonize yes                      # if no Redis runs yet (or: docker run -p 6379:6379 redis)
//! cargo run --example redis --features sessions,redis
//! EXAMPLE_ADDR=127.0.0.1:3001 cargo run --example redis --features sessions,redis   # a second process
//! curl -c jar -b jar http://127.0.0.1:3000/          # your visits (session) and everyone's hits (counter)
//! curl -c jar -b jar http://127.0.0.1:3001/          # the same session, the same counter, on the other one
//! curl http://127.0.0.1:3000/popular                # computed once, then read from Redis for 30 s
//! EXAMPLE_SMOKE=1 cargo run --example redis --features sessions,redis   # what CI runs
//! ```
//!
//! `REDIS_URL` picks the server (default `redis://127.0.0.1:6379`; `rediss://` with the `redis-tls`
//! feature, `redis+cluster://h1,h2` with `redis-cluster`). If Redis cannot be reached the example says so
//! and exits with status 1.

mod support;

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use support::{ensure, BoxError, Client};
use tower_django::cache::{redact, Cache, Timeout};
use tower_django::sessions::store::RedisStore;
use tower_django::sessions::{Session, SessionError, SessionLayer};

/// The cache's key prefix (Django's `KEY_PREFIX`): this example's keys, apart from anything else in Redis.
const KEY_PREFIX: &str = "tower-django-example";

/// What a handler can fail with: a cache error is a 503 naming the reason; a session error answers as the
/// session layer would. Never a panic.
enum AppError {
    Cache(tower_django::cache::Error),
    Session(SessionError),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Cache(error) => {
                tracing::error!(%error, "cache error");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("cache unavailable: {error}\n"),
                )
                    .into_response()
            }
            AppError::Session(error) => error.into_response(),
        }
    }
}

impl From<tower_django::cache::Error> for AppError {
    fn from(error: tower_django::cache::Error) -> Self {
        AppError::Cache(error)
    }
}

impl From<SessionError> for AppError {
    fn from(error: SessionError) -> Self {
        AppError::Session(error)
    }
}

async fn home(State(cache): State<Cache>, session: Session) -> Result<String, AppError> {
    // Per visitor, in the session; for everyone, an atomic counter (Django's `add` then `incr`).
    let visits: u32 = session.get("visits").await?.unwrap_or(0) + 1;
    session.insert("visits", &visits).await?;
    cache.add("hits", &0).timeout(Timeout::Never).await?;
    let hits = cache.incr("hits", 1).await?;
    Ok(format!(
        "your visits: {visits}; hits on every server: {hits}\n"
    ))
}

async fn popular(State(cache): State<Cache>) -> Result<String, AppError> {
    // One computation per 30 s for every process: concurrent misses in this process compute once.
    let articles: Vec<String> = cache
        .get_or_set_with("popular", || async {
            tokio::time::sleep(Duration::from_millis(300)).await; // an expensive query
            vec![
                "hooks".to_owned(),
                "sessions".to_owned(),
                "caches".to_owned(),
            ]
        })
        .timeout(Duration::from_secs(30))
        .await?;
    Ok(format!("popular: {}\n", articles.join(", ")))
}

/// The Redis URL: `REDIS_URL`, or the local default.
fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The cache on `REDIS_URL`, after one round trip to prove the server answers; otherwise how to start
/// one, and exit.
async fn connect(key_prefix: &str) -> Cache {
    let url = redis_url();
    let reachable = match Cache::from_url(&url).await {
        Ok(cache) => {
            let cache = cache.to_builder().key_prefix(key_prefix).build();
            cache.has_key("probe").await.map(|_| cache)
        }
        Err(error) => Err(error),
    };
    match reachable {
        Ok(cache) => cache,
        Err(error) => {
            eprintln!("Redis is not reachable at {}: {error}", redact(&url));
            eprintln!("Start one with `redis-server --daemonize yes` (or `docker run -p 6379:6379 redis`),");
            eprintln!("or point REDIS_URL at yours, e.g. REDIS_URL=redis://10.0.0.5:6379/0.");
            std::process::exit(1);
        }
    }
}

fn app(cache: Cache, sessions: RedisStore) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/popular", get(popular))
        .with_state(cache)
        // Sessions on the same Redis, each a hash: they survive restarts and are shared by every process,
        // and a save sends only what the request changed, so parallel requests never lose each other's
        // writes.
        .layer(SessionLayer::new(sessions).secure(false))
}

async fn smoke(client: Client, cache: Cache) -> Result<(), BoxError> {
    let first = client.get("/").await?;
    let second = client.get("/").await?;
    let hits = |body: &str| -> Option<i64> { body.rsplit(": ").next()?.trim().parse().ok() };
    ensure(
        first.body.contains("your visits: 1") && second.body.contains("your visits: 2"),
        "the session kept in Redis",
    )?;
    ensure(
        hits(&second.body)
            .zip(hits(&first.body))
            .is_some_and(|(b, a)| b == a + 1),
        "the counter incremented once per request",
    )?;
    let popular = client.get("/popular").await?;
    ensure(
        popular.body.starts_with("popular: hooks"),
        "the popular list",
    )?;
    // This run's keys only (its prefix has the process id): the sessions, the counter, the list.
    cache.clear().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    support::init_tracing();
    let key_prefix = if support::smoke_mode() {
        format!("{KEY_PREFIX}-smoke-{}", std::process::id())
    } else {
        KEY_PREFIX.to_owned()
    };
    let cache = connect(&key_prefix).await;
    let sessions = RedisStore::from_url(&redis_url())?;
    let served = support::serve(
        app(cache.clone(), sessions),
        &[
            "curl -c jar -b jar http://{addr}/",
            "curl http://{addr}/popular",
        ],
        async |client| smoke(client, cache.clone()).await,
    )
    .await;
    cache.close().await?;
    served
}
