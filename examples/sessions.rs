//! Django's sessions: `SessionLayer` on the router, the `Session` extractor in handlers, a visit counter,
//! login (with `cycle_key`, against session fixation) and logout (`flush`), on SQLite or in memory.
//!
//! ```text
//! cargo run --example sessions --features sessions   # sessions in SQLite (a file in the temp dir)
//! SESSION_STORE=memory cargo run --example sessions --features sessions   # sessions in this process (MemoryStore)
//! curl -c jar -b jar http://127.0.0.1:3000/                   # run twice: the counter goes up
//! curl -c jar -b jar -X POST 'http://127.0.0.1:3000/login?user=alice'
//! curl -c jar -b jar http://127.0.0.1:3000/
//! curl -c jar -b jar -X POST http://127.0.0.1:3000/logout     # the cookie is deleted
//! EXAMPLE_SMOKE=1 cargo run --example sessions --features sessions   # what CI runs: requests itself, checks, exits
//! ```
//!
//! `SESSIONS_DB` picks another SQLite database (`sqlite://sessions.db`); `DatabaseStore` also speaks
//! PostgreSQL and MySQL with the `postgres` and `mysql` features. Nothing needs to run: SQLite is embedded.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Query;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use support::{ensure, BoxError, Client};
use tower_django::sessions::store::{DatabaseStore, MemoryStore};
use tower_django::sessions::{spawn_cleanup, Session, SessionError, SessionLayer, SessionStore};

async fn home(session: Session) -> Result<String, SessionError> {
    // Reading loads the session (once per request); inserting marks it modified, so it is saved and the
    // cookie is (re)sent on the way out.
    let visits: u32 = session.get("visits").await?.unwrap_or(0) + 1;
    session.insert("visits", &visits).await?;
    let user: Option<String> = session.get("user").await?;
    Ok(match user {
        Some(user) => format!("hello {user}, visit #{visits}\n"),
        None => format!("hello stranger, visit #{visits}\n"),
    })
}

#[derive(Deserialize)]
struct Login {
    user: String,
}

async fn login(session: Session, Query(login): Query<Login>) -> Result<String, SessionError> {
    // A new key at login: whoever knew the old one (a fixated cookie) does not get the logged-in session.
    session.cycle_key().await?;
    session.insert("user", &login.user).await?;
    Ok(format!("logged in as {}\n", login.user))
}

async fn logout(session: Session) -> Result<&'static str, SessionError> {
    // Deletes the record now; the response deletes the cookie.
    session.flush().await?;
    Ok("logged out\n")
}

/// The store `SESSION_STORE` names: `sqlite` (default) or `memory`.
async fn store() -> Result<Arc<dyn SessionStore>, BoxError> {
    if std::env::var("SESSION_STORE").is_ok_and(|store| store == "memory") {
        // In this process only: the fastest store, gone at exit (Redis: see the `redis` example).
        return Ok(Arc::new(MemoryStore::new()));
    }
    let url = match std::env::var("SESSIONS_DB") {
        Ok(url) => url,
        Err(_) if support::smoke_mode() => "sqlite::memory:".to_owned(),
        Err(_) => {
            let file = std::env::temp_dir().join("tower-django-example-sessions.db");
            format!("sqlite://{}", file.display())
        }
    };
    let store = DatabaseStore::connect(url).await?;
    store.migrate().await?; // Django's `migrate`: creates the table if missing
    println!("sessions in SQLite table {:?}", store.table());
    Ok(Arc::new(store))
}

fn app(store: Arc<dyn SessionStore>) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/logout", post(logout))
        // Django's defaults: cookie `sessionid`, two weeks, HttpOnly, SameSite=Lax. `secure(true)` (the
        // default) sends the cookie over HTTPS only; this example serves plain HTTP.
        .layer(
            SessionLayer::from_arc(store)
                .secure(false)
                .cookie_age(Duration::from_secs(24 * 3600)),
        )
}

async fn smoke(client: Client) -> Result<(), BoxError> {
    let first = client.get("/").await?;
    ensure(
        first.body.contains("visit #1") && client.cookie("sessionid").is_some(),
        "a new session and its cookie",
    )?;
    client
        .get_showing("/", "visit #2", "the session kept between requests")
        .await?;
    let before_login = client.cookie("sessionid");
    client.post("/login?user=alice").await?;
    ensure(
        client.cookie("sessionid") != before_login,
        "a new session key at login",
    )?;
    client
        .get_showing(
            "/",
            "hello alice, visit #3",
            "the data kept across the new key",
        )
        .await?;
    client
        .post_deleting("/logout", "sessionid", "the cookie deleted at logout")
        .await?;
    client
        .get_showing(
            "/",
            "hello stranger, visit #1",
            "a fresh session after logout",
        )
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    support::init_tracing();
    let store = store().await?;
    // Django's `clearsessions`, hourly.
    let cleanup = spawn_cleanup(store.clone(), Duration::from_secs(3600));
    let served = support::serve(
        app(store),
        &[
            "curl -c jar -b jar http://{addr}/",
            "curl -c jar -b jar -X POST 'http://{addr}/login?user=alice'",
            "curl -c jar -b jar -X POST http://{addr}/logout",
        ],
        smoke,
    )
    .await;
    cleanup.abort();
    served
}
