//! Sessions by user: which sessions a user is logged in with, and ending them ("log out everywhere").
//!
//! A session belongs to a user once [`Session::set_user`](crate::Session::set_user) has recorded the
//! user's id in it, under [`USER_KEY`] (Django's `_auth_user_id`, the key `django.contrib.auth.login`
//! writes). Stores that keep an index of sessions by user offer it as a [`UserIndex`], reached through
//! [`SessionStore::users`]:
//!
//! | store | index |
//! |-------|-------|
//! | [`DatabaseStore`](crate::store::DatabaseStore) | the indexed `user_id` column |
//! | [`RedisStore`](crate::store::RedisStore) | a sorted set per user, checked against the sessions when read |
//! | [`MemoryStore`](crate::store::MemoryStore) | a map in process |
//! | [`CachedDatabaseStore`](crate::store::CachedDatabaseStore) | its database's, dropping revoked sessions from its cache too |
//! | the others | none: [`StoreError::Unsupported`] |
//!
//! A revoked session is deleted: its next request finds no record and is anonymous. An expired session is
//! not listed. The id is the text form of the user's primary key, as Django stores it.
//!
//! ```no_run
//! # async fn demo(store: tower_sessions_kit::store::DatabaseStore) -> Result<(), tower_sessions_kit::StoreError> {
//! use tower_sessions_kit::SessionStore;
//!
//! let index = tower_sessions_kit::users::index_of(&store)?;
//! for session in index.sessions_of("42").await? {
//!     println!("{:?} expires at {:?}", session.key, session.expires);
//! }
//! index.revoke_all("42", None).await?; // log user 42 out everywhere
//! # Ok(()) }
//! ```

use crate::error::SessionError;
use crate::key::SessionKey;
use crate::record;
use crate::store::{SessionStore, StoreError};

pub use crate::store::contract::{UserIndex, UserSession};

/// The data key holding the id of the session's user: Django's `_auth_user_id` (`SESSION_KEY` in
/// `django.contrib.auth`). Reserved: only [`Session::set_user`](crate::Session::set_user) writes it.
pub const USER_KEY: &str = record::USER_KEY;

/// The longest user id accepted, in bytes: an index column has to have a bound, and 150 is Django's
/// longest username, longer than any primary key's text.
pub const MAX_USER_ID: usize = 150;

/// The [`UserIndex`] of `store`, or [`StoreError::Unsupported`] when it keeps none.
pub fn index_of(store: &dyn SessionStore) -> Result<&dyn UserIndex, StoreError> {
    store.users().ok_or(StoreError::Unsupported {
        store: store.name(),
        operation: "sessions by user",
    })
}

/// Refuses an id that is empty, longer than [`MAX_USER_ID`], or holds control characters (which no
/// primary key's text holds, and which would make logs and keys ambiguous).
pub(crate) fn checked_user_id(user: &str) -> Result<&str, SessionError> {
    let fine = !user.is_empty() && user.len() <= MAX_USER_ID && !user.chars().any(char::is_control);
    if fine {
        Ok(user)
    } else {
        Err(SessionError::InvalidUser(
            user.chars().take(MAX_USER_ID).collect(),
        ))
    }
}

/// Keeps at most `max` sessions of `user` — `keep` and the latest to expire (the most recently used) —
/// and revokes the others; how many were revoked. One rule for every store, on its [`UserIndex`].
pub(crate) async fn cap(
    index: &dyn UserIndex,
    user: &str,
    max: usize,
    keep: &SessionKey,
) -> Result<u64, StoreError> {
    let mut sessions = index.sessions_of(user).await?;
    // Latest to expire first, the kept session ahead of all.
    sessions.sort_by(|a, b| {
        (b.key == *keep)
            .cmp(&(a.key == *keep))
            .then(b.expires.cmp(&a.expires))
    });
    let mut revoked = 0;
    for session in sessions.iter().skip(max.max(1)) {
        if index.revoke(user, &session.key).await? {
            revoked += 1;
        }
    }
    Ok(revoked)
}
