//! An axum service beside a running Django project: it reads and writes the project's sessions in its
//! `django_session` table (signed with the project's `SECRET_KEY`), and knows which Django user is logged
//! in, checking the session's `_auth_user_hash` against `auth_user` as Django does.
//!
//! ```text
//! # Point it at the Django project's database and key (here the SQLite file of `manage.py runserver`):
//! export DJANGO_DATABASE_URL=sqlite:///path/to/project/db.sqlite3
//! export DJANGO_SECRET_KEY='the SECRET_KEY of settings.py'
//! cargo run --example django_interop --features django,sqlite
//! # Log in on the Django site, then send its `sessionid` cookie here:
//! curl -b sessionid=<the cookie> http://127.0.0.1:3000/whoami
//! curl -b sessionid=<the cookie> http://127.0.0.1:3000/visits        # Django sees the counter too
//! EXAMPLE_SMOKE=1 cargo run --example django_interop --features django,sqlite   # what CI runs
//! ```
//!
//! Without `DJANGO_DATABASE_URL` it makes a throwaway SQLite database with Django's two tables and one
//! user (`auth_user` as Django's migration makes it, trimmed to the columns read here), so the whole round
//! trip runs without Django: log in, see the user, change the password in the table, be anonymous.

mod support;

use axum::extract::Path;
use axum::routing::get;
use axum::{Extension, Router};
use support::{ensure, BoxError, Client};
use tower_django::cache::sql::{PoolSettings, SqlPool};
use tower_django::sessions::django::Django;
use tower_django::sessions::django_auth::{DjangoAuth, DjangoUser};
use tower_django::sessions::store::DatabaseStore;
use tower_django::sessions::{Session, SessionError, SessionLayer};

/// Who is logged in, as Django's `request.user` would say.
async fn whoami(user: DjangoUser) -> String {
    match user.id() {
        Some(id) => format!("Django user {id}\n"),
        None => "anonymous\n".to_owned(),
    }
}

/// A counter in the session, visible to the Django project as `request.session["visits"]`.
async fn visits(session: Session) -> Result<String, SessionError> {
    let visits: u64 = session.get("visits").await?.unwrap_or(0) + 1;
    session.insert("visits", &visits).await?;
    Ok(format!("visit #{visits}\n"))
}

/// Django's `login(request, user)`, from this side: Django then sees the same user.
async fn login(
    session: Session,
    Extension(auth): Extension<DjangoAuth>,
    Path(id): Path<String>,
) -> Result<String, tower_django::sessions::django_auth::DjangoAuthError> {
    auth.login(&session, &id).await?;
    Ok(format!("logged in as Django user {id}\n"))
}

async fn logout(
    session: Session,
    Extension(auth): Extension<DjangoAuth>,
) -> Result<&'static str, tower_django::sessions::django_auth::DjangoAuthError> {
    auth.logout(&session).await?;
    Ok("logged out\n")
}

fn app(store: DatabaseStore, auth: DjangoAuth) -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/visits", get(visits))
        .route("/login/{id}", get(login))
        .route("/logout", get(logout))
        .layer(SessionLayer::new(store))
        .layer(Extension(auth))
}

/// The throwaway database of a run without `DJANGO_DATABASE_URL`: Django's `django_session` (made by
/// the store) and an `auth_user` with user 1, password hash `pbkdf2_sha256$…first`.
async fn throwaway(url: &str, store: &DatabaseStore, users: &SqlPool) -> Result<(), BoxError> {
    store.migrate().await?;
    let mut conn = users.acquire().await?;
    conn.exec()
        .execute_raw(
            "CREATE TABLE IF NOT EXISTS auth_user (id INTEGER PRIMARY KEY, password VARCHAR(128) \
             NOT NULL, is_active BOOL NOT NULL); \
             INSERT OR REPLACE INTO auth_user VALUES (1, 'pbkdf2_sha256$1000000$salt$first', 1)",
        )
        .await?;
    conn.finish();
    println!("no DJANGO_DATABASE_URL: using {url} with Django's tables and user 1");
    Ok(())
}

async fn smoke(client: Client, users: SqlPool) -> Result<(), BoxError> {
    client
        .get_showing("/whoami", "anonymous", "no session: anonymous")
        .await?;
    client
        .get_showing("/login/1", "logged in", "login writes Django's auth keys")
        .await?;
    client
        .get_showing("/whoami", "Django user 1", "the user is seen")
        .await?;
    client
        .get_showing("/visits", "visit #1", "the session is shared")
        .await?;
    println!("-- the password changes (in Django: set_password + save)");
    let mut conn = users.acquire().await?;
    conn.exec()
        .execute_raw(
            "UPDATE auth_user SET password = 'pbkdf2_sha256$1000000$salt$second' WHERE id = 1",
        )
        .await?;
    conn.finish();
    client
        .get_showing(
            "/whoami",
            "anonymous",
            "a changed password logs the session out, as in Django",
        )
        .await?;
    ensure(
        client.get("/visits").await?.body.contains("visit #1"),
        "the old session was flushed",
    )?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    support::init_tracing();
    let secret = std::env::var("DJANGO_SECRET_KEY")
        .unwrap_or_else(|_| "django-insecure-example-key-change-me".to_owned());
    let fallbacks: Vec<String> = std::env::var("DJANGO_SECRET_KEY_FALLBACKS")
        .map(|keys| keys.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let django = Django::new(secret)?.secret_key_fallbacks(fallbacks)?;

    let dir = tempfile::tempdir()?;
    let given = std::env::var("DJANGO_DATABASE_URL").ok();
    let url = given
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/django.sqlite3", dir.path().display()));
    let store = DatabaseStore::builder(&url)
        .django(&django)
        .connect()
        .await?;
    let users = SqlPool::connect_lazy(&url, &PoolSettings::default())?;
    if given.is_none() {
        throwaway(&url, &store, &users).await?;
    }
    let auth = DjangoAuth::new(&django).with_database(users.clone());
    support::serve(
        app(store, auth),
        &[
            "curl -b sessionid=<Django's cookie> http://{addr}/whoami",
            "curl -c jar -b jar http://{addr}/login/1",
            "curl -c jar -b jar http://{addr}/visits",
        ],
        async move |client| smoke(client, users).await,
    )
    .await
}
