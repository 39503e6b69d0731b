//! Django's sessions as a Tower layer: a lazy [`Session`] extractor with Django's API, Django's cookie
//! settings and save rules, and the stores Django has — database (SQLite, PostgreSQL, MySQL), cache,
//! cached database, file and signed cookie.
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower_sessions_kit::{store::DatabaseStore, Session, SessionError, SessionLayer};
//!
//! async fn counter(session: Session) -> Result<String, SessionError> {
//!     let visits: u32 = session.get("visits").await?.unwrap_or(0) + 1;
//!     session.insert("visits", &visits).await?;
//!     Ok(format!("{visits} visits"))
//! }
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // The embedded default: SQLite (`sqlite://sessions.db` for a file; in memory here).
//! let store = DatabaseStore::connect("sqlite::memory:").await?;
//! store.migrate().await?;
//!
//! let app: Router = Router::new()
//!     .route("/", get(counter))
//!     .layer(SessionLayer::new(store).secure(false)); // `secure(true)` behind HTTPS
//!
//! // One request through the app: a new session, saved, and its cookie set.
//! use tower::ServiceExt;
//! let response = app
//!     .oneshot(http::Request::new(axum::body::Body::empty()))
//!     .await?;
//! let cookie = response.headers()["set-cookie"].to_str()?;
//! assert!(cookie.starts_with("sessionid="));
//! assert!(cookie.contains("HttpOnly"));
//! assert_eq!(response.headers()["vary"], "Cookie");
//! # Ok(()) }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
//! ```
//!
//! # How it behaves (Django's rules)
//!
//! - **Lazy.** The layer puts a [`Session`] in each request; the store is read only when a handler first
//!   uses the data. Requests that never touch the session pay no store access,
//!   only the small per-request state (one `Arc`, plus the key when a cookie came).
//! - **Flags.** [`accessed`](Session::accessed) and [`modified`](Session::modified) follow Django exactly
//!   (reference §4.3).
//! - **Saving** (reference §4.5): only when modified (or [`save_every_request`](SessionLayer::save_every_request));
//!   **never on a 5xx** response (no save, no cookie); `Set-Cookie` with `Max-Age` and `Expires` from the
//!   expiry, none for browser-close sessions; `Vary: Cookie` whenever the session was accessed.
//! - **Deleting.** When a request came with a session cookie and the session ended up empty — `flush`
//!   (logout), a malformed key, an unknown or expired key — the cookie is deleted with the same `Path`,
//!   `Domain` and `SameSite`.
//! - **Keys** are 32 characters of `[a-z0-9]` from the OS CSPRNG. A key chosen by a client (unknown,
//!   shorter than 8 characters, malformed) never becomes a record: a new key is made instead.
//!   [`cycle_key`](Session::cycle_key) at login moves the data to a new key, creating the new record before
//!   deleting the old.
//! - **No lost updates.** A save applies *this request's changes* (keys set and removed, clear, expiry) onto
//!   the record as it is now, atomically — a transaction on SQL, compare-and-swap on the memory, Redis and
//!   database caches — so concurrent requests writing different keys keep all their writes. Writes to the **same**
//!   key: the last save wins. The file and signed-cookie stores cannot merge and say so.
//! - **Concurrent logout.** A save that finds its record deleted by another request answers **400** with
//!   Django's `SessionInterrupted` message instead of resurrecting the session.
//! - **Failures.** Corrupted or undecodable data is an empty session plus a warning, never a 500. A store
//!   error is the [configured error response](SessionLayer::error_response) (500 by default) and a
//!   `tracing` error event, never a panic.
//!
//! # Deadlines and outages
//!
//! - **One deadline per request phase.** Each phase of a request that calls the store — loading the
//!   session, saving it at the end (with the load it may need first), `flush`, `cycle_key` — waits for the
//!   store at most its [deadline](SessionStore::deadline) **in total**, however many backend calls it
//!   makes (a load queued behind [coalesced loads](store::CacheStore), a save's reads and swaps). The
//!   default is 1 s, as cache-core's `socket_timeout`; set it with
//!   [`DatabaseStoreBuilder::deadline`](store::DatabaseStoreBuilder::deadline),
//!   [`CacheStore::with_deadline`](store::CacheStore::with_deadline), … Past it the request gets the error
//!   response ([`StoreError::TimedOut`]) and a `tracing` error event: a server that stops answering never
//!   holds requests. The database and cache stores also bound each of their own operations by it, and a SQL
//!   connection whose statement was abandoned is closed, not reused. Deadlines use Tokio's timer.
//! - **Failing fast.** After the store timed out or failed with a backend error, the layer does not call it
//!   for a [cooldown](SessionLayer::failure_cooldown) (1 s): requests get the error response at once
//!   ([`StoreError::Unavailable`]). Then one request at a time tries the store while the others keep failing
//!   fast, and the first answer resumes normal service. A request that passes a working store pays one
//!   atomic load for this.
//! - **Timed-out writes may still happen.** A save abandoned at its deadline may have reached the server,
//!   which applies it when it resumes, while the client was answered with an error. This is harmless by
//!   design: a save applies the request's *changes* (keys set or removed, a clear), and applying them to a
//!   record that already has them gives the same record, so a retry by the client, or the late write,
//!   changes nothing more. The compare-and-swap save of [`store::CacheStore`] goes further: a swap whose
//!   reply was lost is checked by reading the entry again, and found applied it is a success, not an error.
//!   A new session whose `create` timed out may leave an unused record, which expires like any other.
//!
//! # Stores and features
//!
//! | store | feature |
//! |-------|---------|
//! | [`store::DatabaseStore`] on SQLite | `sqlite` (default) |
//! | [`store::DatabaseStore`] on PostgreSQL / MySQL, MariaDB | `postgres`, `mysql` |
//! | [`store::CacheStore`] over any `cache_core::Cache` | `cache` (`memory`, `redis`, `redis-cluster`, `memcached` enable those backends) |
//! | [`store::CachedDatabaseStore`] | `cache` and a SQL feature |
//! | [`store::FileStore`] | `file` |
//! | [`store::SignedCookieStore`] | `signed-cookie` |
//! | [`store::SignedCookieStore::django`]: Django's `signed_cookies` engine format | `signed-cookie` and `django` |
//!
//! [`django`] (feature `django`) reads and writes Django's signing and session formats byte for byte —
//! `django.core.signing`, `SessionBase.encode`/`decode`, the `signed_cookies` engine — so an application
//! can share sessions with a Django project.
//!
//! [`spawn_cleanup`] runs [`SessionStore::clear_expired`] periodically. The store conformance suite every
//! store passes is in `testing` (feature `testing`).
//!
//! # Differences from Django
//!
//! - Data is JSON only (Django's default serializer); the custom expiry is kept under `"_session_expiry"`
//!   as in Django, but hidden from [`Session::keys`] and reserved. The user's id is kept under Django's
//!   `"_auth_user_id"`, reserved for [`Session::set_user`].
//! - A cache error while loading a [`store::CacheStore`] session is an error response, not an empty
//!   session (Django treats it as a miss and so logs the user out).
//! - The signed-cookie store enforces custom expiries, and can encrypt.
//! - `SameSite=None` cookies always get `Secure` (browsers reject them otherwise).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]
#![warn(missing_docs)]

mod breaker;
mod cleanup;
mod config;
mod cookie;
mod deadline;
#[cfg(feature = "django")]
pub mod django;
#[cfg(all(feature = "django", feature = "sql"))]
pub mod django_auth;
mod error;
mod expiry;
pub mod future;
mod guard;
mod key;
mod layer;
#[cfg(feature = "cache")]
mod memo;
pub mod record;
mod respond;
mod service;
mod session;
mod shared;
mod state;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod users;

pub use cleanup::spawn_cleanup;
pub use config::{ErrorResponder, SameSite, DEFAULT_COOKIE_AGE, DEFAULT_COOKIE_NAME};
pub use error::{InvalidSetting, SessionError};
pub use expiry::SessionExpiry;
pub use key::SessionKey;
pub use layer::SessionLayer;
pub use service::SessionService;
pub use session::{Session, TEST_COOKIE_KEY, TEST_COOKIE_VALUE};
pub use store::contract::{SessionStore, StoreError};

/// The key that signs (and encrypts) [`store::SignedCookieStore`] cookies: the `cookie` crate's `Key`.
#[cfg(feature = "signed-cookie")]
pub use ::cookie::Key;
