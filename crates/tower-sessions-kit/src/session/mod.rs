//! [`Session`]: the per-request handle handlers extract, with Django's `SessionBase` API.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::FromRequestParts;
use http::request::Parts;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{Mutex, MutexGuard};

use crate::config::Config;
use crate::error::SessionError;
use crate::expiry::EXPIRY_KEY;
use crate::guard::Phase;
use crate::key::SessionKey;
use crate::record::{Changes, Data};
use crate::shared::Shared;
use crate::state::{is_empty, load_into, visible, write, State};

mod expiry;
mod user;

/// Django's `TEST_COOKIE_NAME`: the entry [`Session::set_test_cookie`] stores.
pub const TEST_COOKIE_KEY: &str = "testcookie";

/// Django's `TEST_COOKIE_VALUE`.
pub const TEST_COOKIE_VALUE: &str = "worked";

/// The session of the current request: Django's `request.session`.
///
/// Made for each request by [`SessionLayer`](crate::SessionLayer) and taken by handlers as an extractor
/// (the request's extensions hold it as a [`cache_core::sharing::SessionUse`], which also tells a page cache
/// inside the layer how the session was used). Cheap to clone (one `Arc`); clones are the same session.
///
/// **Lazy**: nothing is read from the store until a method needs the data, so requests that never use the
/// session cost no store access. Methods that touch the data are `async` for that reason and return
/// [`SessionError`] when the store fails (`?` in a handler turns it into the layer's error response).
///
/// The [`accessed`](Session::accessed) and [`modified`](Session::modified) flags follow Django exactly; the
/// layer decides from them whether to save, send a cookie and add `Vary: Cookie`.
///
/// ```
/// use tower_sessions_kit::Session;
///
/// async fn visits(session: Session) -> Result<String, tower_sessions_kit::SessionError> {
///     let visits: u64 = session.get("visits").await?.unwrap_or(0) + 1;
///     session.insert("visits", &visits).await?;
///     Ok(format!("visit number {visits}"))
/// }
/// ```
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    /// The request carried a session cookie (well formed or not).
    had_cookie: bool,
    /// The request carried a session cookie the store refused as a key (too short, bad characters…).
    cookie_rejected: bool,
    accessed: AtomicBool,
    modified: AtomicBool,
    state: Mutex<State>,
}

/// What a page cache inside the layer learns about this request's session (see
/// [`cache_core::sharing`]).
impl cache_core::sharing::SessionFlags for Inner {
    fn accessed(&self) -> bool {
        self.accessed.load(Ordering::Acquire)
    }

    fn modified(&self) -> bool {
        self.modified.load(Ordering::Acquire)
    }

    fn cookie_name(&self) -> Option<&str> {
        Some(&self.shared.config.cookie_name)
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("store", &self.inner.shared.store.name())
            .field("accessed", &self.accessed())
            .field("modified", &self.modified())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session for a request whose cookie carried `cookie` (`None`: no session cookie).
    pub(crate) fn new(shared: Arc<Shared>, cookie: Option<&str>) -> Session {
        let key = cookie.and_then(|value| {
            if shared.store.accepts_key(value) {
                SessionKey::from_cookie_value(value)
            } else {
                None
            }
        });
        Session {
            inner: Arc::new(Inner {
                had_cookie: cookie.is_some(),
                cookie_rejected: cookie.is_some() && key.is_none(),
                shared,
                accessed: AtomicBool::new(false),
                modified: AtomicBool::new(false),
                state: Mutex::new(State {
                    key,
                    data: None,
                    changes: Changes::new(),
                    verified: false,
                    reissue: false,
                    snapshot: None,
                }),
            }),
        }
    }

    /// This session's flags as the page cache reads them from the request's extensions.
    pub(crate) fn usage(&self) -> cache_core::sharing::SessionUse {
        cache_core::sharing::SessionUse::new(Arc::clone(&self.inner) as _)
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    pub(crate) fn had_cookie(&self) -> bool {
        self.inner.had_cookie
    }

    /// Whether the response phase has nothing at all to do (the common case of a request that never used
    /// the session), decided without locking.
    pub(crate) fn is_untouched(&self) -> bool {
        let resave = self.inner.had_cookie && self.inner.shared.config.save_every_request;
        !(self.accessed() || self.modified() || self.inner.cookie_rejected || resave)
    }

    pub(crate) fn try_state(&self) -> Option<MutexGuard<'_, State>> {
        self.inner.state.try_lock().ok()
    }

    pub(crate) async fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().await
    }

    /// Whether the data was used in this request (Django's `accessed`): any read or write of the data,
    /// including `keys`, `pop`, `clear` and the expiry getters.
    pub fn accessed(&self) -> bool {
        self.inner.accessed.load(Ordering::Acquire)
    }

    /// Whether the data was changed in this request (Django's `modified`): `insert`; `remove`/`pop` of an
    /// existing key; `clear`, `flush`, `cycle_key`; `set_expiry` (for
    /// [`SessionExpiry::Inherit`](crate::SessionExpiry::Inherit) only if a custom expiry existed).
    pub fn modified(&self) -> bool {
        self.inner.modified.load(Ordering::Acquire)
    }

    fn mark_accessed(&self) {
        self.inner.accessed.store(true, Ordering::Release);
    }

    pub(crate) fn mark_modified(&self) {
        self.inner.modified.store(true, Ordering::Release);
    }

    /// The lock on the state, with the data loaded (reading the store on first use).
    pub(crate) async fn loaded(&self) -> Result<MutexGuard<'_, State>, SessionError> {
        self.mark_accessed();
        // Uncontended (the usual case: one handler using its session): no lock future at all.
        let mut state = match self.inner.state.try_lock() {
            Ok(state) => state,
            Err(_) => self.inner.state.lock().await,
        };
        load_into(&self.inner.shared, &mut state).await?;
        Ok(state)
    }

    /// `read` of the loaded data (empty for a new session) and the layer's settings.
    pub(crate) async fn read_data<T>(
        &self,
        read: impl FnOnce(&Data, &Config) -> T,
    ) -> Result<T, SessionError> {
        let state = self.loaded().await?;
        let empty = Data::new();
        let data = state.data.as_deref().unwrap_or(&empty);
        Ok(read(data, &self.inner.shared.config))
    }

    /// The session key, once the session has one (read-only, as in Django). `None` for a new session, or
    /// when the cookie's key was unknown (after the data has been loaded).
    pub async fn key(&self) -> Option<SessionKey> {
        self.inner.state.lock().await.key.clone()
    }

    /// The value under `key` deserialized as `T`; `None` when missing. [`SessionError::Deserialize`] when
    /// the stored value is not a `T`.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        let state = self.loaded().await?;
        match visible(state.data.as_deref(), key) {
            None => Ok(None),
            Some(value) => {
                T::deserialize(value)
                    .map(Some)
                    .map_err(|source| SessionError::Deserialize {
                        key: key.to_owned(),
                        source,
                    })
            }
        }
    }

    /// The raw JSON value under `key`.
    pub async fn get_value(&self, key: &str) -> Result<Option<Value>, SessionError> {
        let state = self.loaded().await?;
        Ok(visible(state.data.as_deref(), key).cloned())
    }

    /// Stores `value` under `key` (Django's `session[key] = value`).
    pub async fn insert<V: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &V,
    ) -> Result<(), SessionError> {
        not_reserved(key)?;
        let value = serde_json::to_value(value).map_err(|source| SessionError::Serialize {
            key: key.to_owned(),
            source,
        })?;
        let mut state = self.loaded().await?;
        write(&mut state, key.to_owned(), Some(value));
        self.mark_modified();
        Ok(())
    }

    /// Removes `key`; `true` if it was there (only then is the session modified).
    pub async fn remove(&self, key: &str) -> Result<bool, SessionError> {
        not_reserved(key)?;
        let mut state = self.loaded().await?;
        let existed = state.data.as_deref().is_some_and(|d| d.contains_key(key));
        if existed {
            write(&mut state, key.to_owned(), None);
            self.mark_modified();
        }
        Ok(existed)
    }

    /// Removes `key` and returns its value as `T` (Django's `pop`); `None`, and no modification, when
    /// missing. A value that is not a `T` is left in place and reported as [`SessionError::Deserialize`].
    pub async fn pop<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        not_reserved(key)?;
        let mut state = self.loaded().await?;
        let Some(value) = state.data.as_deref().and_then(|d| d.get(key)) else {
            return Ok(None);
        };
        let value = T::deserialize(value).map_err(|source| SessionError::Deserialize {
            key: key.to_owned(),
            source,
        })?;
        write(&mut state, key.to_owned(), None);
        self.mark_modified();
        Ok(Some(value))
    }

    /// Whether `key` is in the session (Django's `in` / `has_key`).
    pub async fn contains_key(&self, key: &str) -> Result<bool, SessionError> {
        let state = self.loaded().await?;
        Ok(visible(state.data.as_deref(), key).is_some())
    }

    /// The keys in the session, without the reserved expiry key, in key order.
    ///
    /// Key order, not Django's insertion order: the order a map keeps depends on serde_json's
    /// `preserve_order` feature, which any crate of a build may turn on, and on how the store kept the
    /// record (a Redis hash keeps none); sorted, the answer is the same everywhere.
    pub async fn keys(&self) -> Result<Vec<String>, SessionError> {
        let mut keys: Vec<String> = self
            .items()
            .await?
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        keys.sort_unstable();
        Ok(keys)
    }

    /// The values in the session, without the reserved expiry entry (Django's `values`), in the order of
    /// their keys (see [`keys`](Self::keys)).
    pub async fn values(&self) -> Result<Vec<Value>, SessionError> {
        Ok(self
            .items()
            .await?
            .into_iter()
            .map(|(_, value)| value)
            .collect())
    }

    /// The entries in the session as raw JSON values, without the reserved expiry entry (Django's `items`),
    /// in key order (see [`keys`](Self::keys)).
    pub async fn items(&self) -> Result<Vec<(String, Value)>, SessionError> {
        let state = self.loaded().await?;
        let mut items: Vec<(String, Value)> = state
            .data
            .iter()
            .flat_map(|data| data.iter())
            .filter(|(key, _)| *key != EXPIRY_KEY)
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        items.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(items)
    }

    /// The value under `key` as `T`; when missing, stores `default` and returns it (Django's `setdefault`:
    /// the session is modified only when it inserts). [`SessionError::Deserialize`] when the stored value
    /// is not a `T`.
    pub async fn setdefault<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        default: T,
    ) -> Result<T, SessionError> {
        not_reserved(key)?;
        let mut state = self.loaded().await?;
        if let Some(value) = visible(state.data.as_deref(), key) {
            return T::deserialize(value).map_err(|source| SessionError::Deserialize {
                key: key.to_owned(),
                source,
            });
        }
        let value = serde_json::to_value(&default).map_err(|source| SessionError::Serialize {
            key: key.to_owned(),
            source,
        })?;
        write(&mut state, key.to_owned(), Some(value));
        self.mark_modified();
        Ok(default)
    }

    /// Stores every entry (Django's `update`; the session is modified even when `entries` is empty). Each
    /// value is serialized first, so a failure, or the reserved expiry key, changes nothing.
    pub async fn update<K, V, I>(&self, entries: I) -> Result<(), SessionError>
    where
        K: Into<String>,
        V: Serialize,
        I: IntoIterator<Item = (K, V)>,
    {
        let mut values = Vec::new();
        for (key, value) in entries {
            let key = key.into();
            not_reserved(&key)?;
            match serde_json::to_value(&value) {
                Ok(value) => values.push((key, value)),
                Err(source) => return Err(SessionError::Serialize { key, source }),
            }
        }
        let mut state = self.loaded().await?;
        for (key, value) in values {
            write(&mut state, key, Some(value));
        }
        self.mark_modified();
        Ok(())
    }

    /// Stores Django's test cookie entry (`"testcookie": "worked"`), to check on the next request, with
    /// [`test_cookie_worked`](Self::test_cookie_worked), that the browser keeps cookies.
    pub async fn set_test_cookie(&self) -> Result<(), SessionError> {
        self.insert(TEST_COOKIE_KEY, TEST_COOKIE_VALUE).await
    }

    /// Whether the entry of [`set_test_cookie`](Self::set_test_cookie) came back.
    pub async fn test_cookie_worked(&self) -> Result<bool, SessionError> {
        Ok(self
            .get::<Value>(TEST_COOKIE_KEY)
            .await?
            .as_ref()
            .and_then(Value::as_str)
            == Some(TEST_COOKIE_VALUE))
    }

    /// Removes the entry of [`set_test_cookie`](Self::set_test_cookie) (nothing when it is not there).
    pub async fn delete_test_cookie(&self) -> Result<(), SessionError> {
        self.remove(TEST_COOKIE_KEY).await.map(drop)
    }

    /// Empties the data **without reading the store** (Django's `clear`). The key is kept: the empty
    /// session is saved and its cookie sent again. A custom expiry is removed too.
    pub async fn clear(&self) {
        self.mark_accessed();
        let mut state = self.inner.state.lock().await;
        self.clear_locked(&mut state);
    }

    /// [`clear`](Self::clear) with the state's lock held.
    pub(crate) fn clear_locked(&self, state: &mut State) {
        state.data = Some(Arc::default());
        state.changes.clear();
        self.mark_modified();
    }

    /// Ends the session (logout): clears the data, deletes the record now, and forgets the key, so the
    /// response deletes the cookie — or, if the handler writes again, a new session with a new key starts.
    pub async fn flush(&self) -> Result<(), SessionError> {
        self.clear().await;
        let mut state = self.inner.state.lock().await;
        if let Some(key) = state.key.take() {
            state.verified = false;
            state.snapshot = None;
            let shared = &self.inner.shared;
            shared
                .call(&mut Phase::default(), || shared.store.delete(&key))
                .await?;
        }
        Ok(())
    }

    /// Moves the data to a new key (do it at login, against session fixation): the record is created
    /// under a new key first, then the old one is deleted, so no request ever sees the session missing.
    pub async fn cycle_key(&self) -> Result<(), SessionError> {
        let mut state = self.loaded().await?;
        let shared = &self.inner.shared;
        let data = state.data.clone().unwrap_or_default();
        let mut phase = Phase::default();
        let new_key = shared
            .call(&mut phase, || {
                shared.store.create(&data, shared.config.cookie_age)
            })
            .await?;
        let old_key = state.key.replace(new_key);
        state.changes = Changes::new();
        // The snapshot was the old key's record.
        state.snapshot = None;
        state.verified = true;
        self.mark_modified();
        if let Some(old_key) = old_key {
            shared
                .call(&mut phase, || shared.store.delete(&old_key))
                .await?;
        }
        Ok(())
    }

    /// Django's `is_empty`: no key, and no data loaded or the data empty. Does not read the store and does
    /// not count as an access.
    pub async fn is_empty(&self) -> bool {
        is_empty(&*self.inner.state.lock().await)
    }
}

/// Refuses the reserved keys: the expiry, which only [`Session::set_expiry`] writes, and the user, which
/// only [`Session::set_user`] writes (and `clear`/`flush` remove).
fn not_reserved(key: &str) -> Result<(), SessionError> {
    if key == EXPIRY_KEY || key == crate::record::USER_KEY {
        Err(SessionError::ReservedKey(key.to_owned()))
    } else {
        Ok(())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = SessionError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<cache_core::sharing::SessionUse>()
            .and_then(cache_core::sharing::SessionUse::downcast::<Inner>)
            .map(|inner| Session { inner })
            .ok_or(SessionError::MissingLayer)
    }
}
