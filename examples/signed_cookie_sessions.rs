//! Sessions with no server storage (Django's `signed_cookies` engine): the session data travels in the
//! cookie, signed with HMAC-SHA256 (or encrypted too), under a secret key taken from the environment or
//! generated. Key rotation works like Django's `SECRET_KEY_FALLBACKS`: old keys still verify, and a
//! cookie one of them verified comes back signed with the current key.
//!
//! ```text
//! cargo run --example signed_cookie_sessions --features signed-cookie   # prints a generated key to reuse
//! export SESSION_SECRET_KEY=<base64, 64 bytes or more>   # sessions survive restarts
//! export SESSION_SECRET_KEY_FALLBACKS=<old key>,<older key>   # rotation: these still verify
//! SESSION_ENCRYPT=1 cargo run --example signed_cookie_sessions --features signed-cookie   # clients cannot read the data either
//! curl -c jar -b jar http://127.0.0.1:3000/          # run twice: the counter goes up
//! curl -c jar -b jar http://127.0.0.1:3000/peek      # reads only: no cookie sent back
//! curl -b jar -c jar -X POST http://127.0.0.1:3000/logout
//! EXAMPLE_SMOKE=1 cargo run --example signed_cookie_sessions --features signed-cookie   # what CI runs (shows a rotation too)
//! ```
//!
//! What to know: the browser keeps the last cookie it gets, so concurrent requests do not merge their
//! changes; a copied cookie stays valid until it expires (rotate the key to log everyone out); keep
//! sessions small (about 3.8 KB at most). Nothing needs to run.

mod support;

use axum::body::Body;
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use support::{ensure, BoxError, Client};
use tower::ServiceExt;
use tower_django::sessions::store::SignedCookieStore;
use tower_django::sessions::{Key, Session, SessionError, SessionLayer};

async fn home(session: Session) -> Result<String, SessionError> {
    let visits: u32 = session.get("visits").await?.unwrap_or(0) + 1;
    session.insert("visits", &visits).await?;
    Ok(format!(
        "visit #{visits} (the count lives in your cookie)\n"
    ))
}

/// Reads the session without changing it: the response sets no cookie, unless the cookie must be
/// re-signed with the current key.
async fn peek(session: Session) -> Result<String, SessionError> {
    let visits: u32 = session.get("visits").await?.unwrap_or(0);
    Ok(format!("visits so far: {visits}\n"))
}

async fn logout(session: Session) -> Result<&'static str, SessionError> {
    session.flush().await?;
    Ok("logged out: the cookie is deleted (copies of it stay valid until they expire)\n")
}

/// A key from base64 text (at least 64 bytes once decoded: 32 to sign, 32 to encrypt).
fn parse_key(name: &str, text: &str) -> Result<Key, BoxError> {
    let bytes = BASE64
        .decode(text.trim())
        .map_err(|error| format!("{name} is not base64: {error}"))?;
    Key::try_from(bytes.as_slice())
        .map_err(|error| format!("{name} is too short ({} bytes): {error}", bytes.len()).into())
}

/// The current key (`SESSION_SECRET_KEY`, or a new one, printed) and the fallbacks
/// (`SESSION_SECRET_KEY_FALLBACKS`, comma-separated).
fn keys() -> Result<(Key, Vec<Key>), BoxError> {
    let current = match std::env::var("SESSION_SECRET_KEY") {
        Ok(text) => parse_key("SESSION_SECRET_KEY", &text)?,
        Err(_) => {
            let key = Key::generate();
            if !support::smoke_mode() {
                println!("no SESSION_SECRET_KEY: generated one. Keep it secret; to reuse it:");
                println!(
                    "  export SESSION_SECRET_KEY={}",
                    BASE64.encode(key.master())
                );
            }
            key
        }
    };
    let fallbacks = std::env::var("SESSION_SECRET_KEY_FALLBACKS")
        .unwrap_or_default()
        .split(',')
        .filter(|text| !text.trim().is_empty())
        .map(|text| parse_key("SESSION_SECRET_KEY_FALLBACKS", text))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((current, fallbacks))
}

fn app(current: Key, fallbacks: Vec<Key>) -> Router {
    let encrypted = std::env::var("SESSION_ENCRYPT").is_ok_and(|value| value == "1");
    let store = SignedCookieStore::new(current)
        .fallback_keys(fallbacks)
        .encrypted(encrypted);
    Router::new()
        .route("/", get(home))
        .route("/peek", get(peek))
        .route("/logout", post(logout))
        .layer(SessionLayer::new(store).secure(false)) // plain HTTP here; keep `secure` on behind HTTPS
}

/// A session cookie (`visits` = 1) as an app signing with `key` sets it: the cookie a visitor got before
/// the key was rotated.
async fn cookie_signed_with(key: Key) -> Result<String, BoxError> {
    let response = app(key, Vec::new())
        .oneshot(http::Request::get("/").body(Body::empty())?)
        .await?;
    let set_cookie = response
        .headers()
        .get(http::header::SET_COOKIE)
        .ok_or("no session cookie set")?
        .to_str()?;
    let value = set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.strip_prefix("sessionid="))
        .ok_or("not a session cookie")?;
    Ok(value.to_owned())
}

async fn smoke(client: Client, old_key: Key) -> Result<(), BoxError> {
    client.get("/").await?;
    client
        .get_showing("/", "visit #2", "the session kept in the cookie")
        .await?;
    ensure(
        client.get("/peek").await?.header("set-cookie").is_empty(),
        "no cookie sent when the session was only read",
    )?;

    println!("-- rotation: a cookie signed with the previous key, now a fallback");
    let old_cookie = cookie_signed_with(old_key).await?;
    client.set_cookie("sessionid", &old_cookie);
    let rotated = client.get("/peek").await?;
    ensure(
        rotated.body.contains("visits so far: 1"),
        "an old key's cookie accepted",
    )?;
    ensure(
        !rotated.header("set-cookie").is_empty()
            && client
                .cookie("sessionid")
                .is_some_and(|now| now != old_cookie),
        "the cookie re-signed with the current key, though the session was only read",
    )?;
    client
        .get_showing("/", "visit #2", "the re-signed cookie accepted")
        .await?;

    println!("-- a cookie signed with a key the server does not know (or tampered with)");
    client.set_cookie("sessionid", &cookie_signed_with(Key::generate()).await?);
    client
        .get_showing("/", "visit #1", "a new, empty session instead")
        .await?;

    client
        .post_deleting("/logout", "sessionid", "the cookie deleted at logout")
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    support::init_tracing();
    let (current, mut fallbacks) = keys()?;
    // The smoke test plays a rotation: a key "from before" is one of the fallbacks.
    let old_key = Key::generate();
    if support::smoke_mode() {
        fallbacks.push(old_key.clone());
    }
    support::serve(
        app(current, fallbacks),
        &[
            "curl -c jar -b jar http://{addr}/",
            "curl -c jar -b jar http://{addr}/peek",
            "curl -c jar -b jar -X POST http://{addr}/logout",
        ],
        async move |client| smoke(client, old_key).await,
    )
    .await
}
