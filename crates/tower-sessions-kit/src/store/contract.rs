//! What a store implements and exchanges with the layer: [`SessionStore`], its optional
//! [`ImmediateLoads`] and [`ImmediateSaves`] capabilities, the records passed in and out, and [`StoreError`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tower::BoxError;

use crate::key::SessionKey;
use crate::record::{Changes, Data};

/// The default [deadline](SessionStore::deadline) of a store: 1 s, as cache-core's `socket_timeout` and
/// database `operation_timeout`.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(1);

/// What can go wrong in a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `save` found no record under the key: it was deleted (logout, flush, expiry cleanup) while this
    /// request ran. The layer answers 400, like Django's `SessionInterrupted`, instead of resurrecting it.
    #[error("the session record no longer exists")]
    Gone,

    /// The storage failed: server unreachable, I/O or SQL error, timeout.
    #[error("{store} session store error: {source}")]
    Backend {
        /// Which store failed.
        store: &'static str,
        /// The underlying error.
        #[source]
        source: BoxError,
    },

    /// No unused key was found after many attempts: the storage accepts no new records (Django's
    /// "Unable to create a new session key. It is likely that the cache is unavailable.").
    #[error("unable to create a new session key after {attempts} attempts; the {store} store is likely unavailable")]
    CreateFailed {
        /// Which store.
        store: &'static str,
        /// How many keys were tried.
        attempts: u32,
    },

    /// A compare-and-swap save kept losing to concurrent saves of the same session.
    #[error("the {store} store could not apply the session changes after {attempts} concurrent-update retries")]
    Contention {
        /// Which store.
        store: &'static str,
        /// How many attempts were made.
        attempts: u32,
    },

    /// The encoded session does not fit (the signed-cookie store's cookie limit).
    #[error(
        "the session is {size} bytes once encoded, over the {store} store's limit of {limit} bytes"
    )]
    TooLarge {
        /// Which store.
        store: &'static str,
        /// The encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },

    /// The store cannot do this (e.g. `clear_expired` on the signed-cookie store).
    #[error("the {store} session store does not support {operation}")]
    Unsupported {
        /// Which store.
        store: &'static str,
        /// The operation asked for.
        operation: &'static str,
    },

    /// The store did not answer within its [deadline](SessionStore::deadline): the call was abandoned.
    /// A write abandoned this way may still be applied if the server received it (see
    /// [`SessionStore::save`]).
    #[error("the {store} session store did not answer within {after:?}")]
    TimedOut {
        /// Which store.
        store: &'static str,
        /// The deadline it missed.
        after: Duration,
    },

    /// The store was not called: it timed out or failed a moment ago, and the layer fails requests at once
    /// until a request finds it answering again
    /// ([`SessionLayer::failure_cooldown`](crate::SessionLayer::failure_cooldown)).
    #[error(
        "the {store} session store is failing ({cause}); not calling it until it answers again"
    )]
    Unavailable {
        /// Which store.
        store: &'static str,
        /// The error that made the layer stop calling it.
        cause: Arc<str>,
    },
}

impl StoreError {
    /// Wraps a driver error as [`StoreError::Backend`].
    pub fn backend(store: &'static str, source: impl Into<BoxError>) -> Self {
        StoreError::Backend {
            store,
            source: source.into(),
        }
    }

    /// Whether the store itself is in trouble (a backend error or a timeout), as opposed to an answer such
    /// as [`StoreError::Gone`]: what makes the layer stop calling it for a cooldown.
    pub(crate) fn is_outage(&self) -> bool {
        matches!(
            self,
            StoreError::Backend { .. } | StoreError::TimedOut { .. }
        )
    }
}

/// A record read by [`SessionStore::load`].
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The session data (empty when the stored data was corrupted). Shared, so a store may hand out the
    /// same decoded record to every request that reads it unchanged; a request that writes copies it.
    pub data: Arc<Data>,
    /// The store wants the session written again even if the request changes nothing, e.g. a signed cookie
    /// verified by an old key is re-signed with the current one.
    pub reissue: bool,
    /// The record exactly as the store read it, when the store wants it back in
    /// [`SaveRequest::snapshot`]; set with [`Loaded::with_snapshot`]. Not public: a store that does not
    /// save "only if unchanged" never deals with it.
    pub(crate) snapshot: Option<Arc<str>>,
}

impl Loaded {
    /// A loaded record that needs no re-issue.
    pub fn new(data: Data) -> Self {
        Loaded::shared(Arc::new(data))
    }

    /// A loaded record, already shared, that needs no re-issue.
    pub fn shared(data: Arc<Data>) -> Self {
        Loaded {
            data,
            reissue: false,
            snapshot: None,
        }
    }

    /// The record as the store read it, in the store's own form, for a store that can later write "only
    /// if still unchanged": it comes back in [`SaveRequest::snapshot`] of this session's save, so the save
    /// need not read the record again (the SQLite store does this). Optional: stores that do not use it
    /// never call this, and their saves see `None`.
    pub fn with_snapshot(mut self, snapshot: Option<Arc<str>>) -> Self {
        self.snapshot = snapshot;
        self
    }
}

/// What [`SessionStore::save`] is asked to write.
#[derive(Debug, Clone, Copy)]
pub struct SaveRequest<'a> {
    /// What this request changed: merging stores apply this onto the current record.
    pub changes: &'a Changes,
    /// This request's whole view of the data (its load plus its changes): what stores that cannot merge
    /// write.
    pub data: &'a Data,
    /// The layer's cookie age, for the expiry of records without a custom expiry.
    pub cookie_age: Duration,
    /// The snapshot this request's load gave ([`Loaded::with_snapshot`]) under the same key, if any; always
    /// `None` for a store that gives none. A store may
    /// merge the changes onto it and write only if the record still equals it; when it does not (another
    /// request saved meanwhile), the store must merge onto the current record as usual.
    pub snapshot: Option<&'a str>,
}

/// The outcome of a successful [`SessionStore::save`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Saved {
    /// The key to send from now on, when the store changed it (the signed-cookie store re-signs).
    pub new_key: Option<SessionKey>,
    /// The record as stored after merging, when the store knows it and it may differ from the request's
    /// view (other requests' changes included). The cookie's `Max-Age` is computed from it. Shared, so a
    /// store can return what it keeps without a copy.
    pub merged: Option<Arc<Data>>,
}

/// Where sessions live. Object-safe (`Arc<dyn SessionStore>`) and shared by all requests.
///
/// Contract, checked for every store by the conformance suite (`testing::conformance_suite!`, feature
/// `testing`):
///
/// - `load` of an unknown or expired key is `Ok(None)` and creates nothing.
/// - `create` makes a new random key (retrying on collision) and never overwrites a record.
/// - `save` only updates: when the record is gone it is [`StoreError::Gone`], never a re-created record.
///   Stores that can, apply [`SaveRequest::changes`] onto the current record atomically so concurrent saves
///   of different keys all survive.
/// - The record's expiry is the data's expiry date (custom expiry, else `cookie_age` from the save).
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// A short name for logs and errors (`"sqlite"`, `"cache"`, `"file"`, …).
    fn name(&self) -> &'static str;

    /// Whether a cookie value may name a session of this store. The default is
    /// [`SessionKey::is_well_formed`]: 8 to 40 characters of `[a-z0-9]`. Values it refuses are never
    /// looked up.
    fn accepts_key(&self, candidate: &str) -> bool {
        SessionKey::is_well_formed(candidate)
    }

    /// The live record under `key`, or `None` when it is unknown or expired.
    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>, StoreError>;

    /// The loads this store answers without waiting, if any (see [`ImmediateLoads`]). Optional: the
    /// default is `None`, and the layer awaits [`load`](SessionStore::load).
    fn immediate(&self) -> Option<&dyn ImmediateLoads> {
        None
    }

    /// The saves this store applies without waiting, if any (see [`ImmediateSaves`]). Optional: the
    /// default is `None`, and the layer awaits [`save`](SessionStore::save).
    fn immediate_saves(&self) -> Option<&dyn ImmediateSaves> {
        None
    }

    /// The sessions of each user, if this store keeps them (see [`users`](crate::users)). Optional: the
    /// default is `None`, and [`Session::set_user`](crate::Session::set_user) still records the user in
    /// the session, but sessions cannot be listed or revoked by user.
    fn users(&self) -> Option<&dyn UserIndex> {
        None
    }

    /// How long one request phase may wait for this store. The layer holds every phase that calls the
    /// store — a load; the save at the end of a request (with the load it may need first); a `flush`; a
    /// `cycle_key` — to this **in total**, however many calls the phase makes, and answers its error
    /// response ([`StoreError::TimedOut`]) instead of waiting longer. `None`: no deadline.
    ///
    /// The default is [`DEFAULT_DEADLINE`] (1 s), so a store of your own is bounded too. The built-in
    /// stores return the deadline they were configured with — the database and cache stores also bound
    /// each of their own operations by it, for callers that use them directly — and the signed-cookie
    /// store, which does no I/O, `None`.
    fn deadline(&self) -> Option<Duration> {
        Some(DEFAULT_DEADLINE)
    }

    /// Stores `data` under a new key and returns the key.
    async fn create(&self, data: &Data, cookie_age: Duration) -> Result<SessionKey, StoreError>;

    /// Updates the record under `key`; [`StoreError::Gone`] when there is none.
    ///
    /// **A save that timed out may still be applied**: the server may have received it before the
    /// deadline and apply it when it resumes, while the request was answered with an error. The merging
    /// stores make that harmless: a save applies [`SaveRequest::changes`] (keys set or removed, a clear),
    /// and applying the same changes to a record that already has them gives the same record, so the
    /// client's retry, or a late arrival of the abandoned write, changes nothing more.
    async fn save(&self, key: &SessionKey, request: SaveRequest<'_>) -> Result<Saved, StoreError>;

    /// Removes the record under `key` (nothing when there is none).
    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError>;

    /// Whether a record exists under `key`, expired or not.
    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError>;

    /// Removes expired records and returns how many (when the store can count them). The default says the
    /// store does not support it.
    async fn clear_expired(&self) -> Result<u64, StoreError> {
        Err(StoreError::Unsupported {
            store: self.name(),
            operation: "clear_expired",
        })
    }
}

/// The optional fast path of a [`SessionStore`] that can answer some loads at once (an in-process cache),
/// offered by [`SessionStore::immediate`]. The layer tries it before awaiting
/// [`load`](SessionStore::load), which saves a boxed future per request; stores that always wait never
/// implement it.
///
/// Its answers must agree with the store's `load` (the conformance suite checks this).
pub trait ImmediateLoads: Send + Sync {
    /// [`load`](SessionStore::load) answered without waiting, or `None` when the store cannot answer
    /// this one at once (the layer then awaits `load`).
    fn load_now(&self, key: &SessionKey) -> Option<Result<Option<Loaded>, StoreError>>;
}

/// The optional fast path of a [`SessionStore`] that applies some saves at once (a store in process
/// memory), offered by [`SessionStore::immediate_saves`]. The layer tries it for a request that loaded
/// its session and changed it, before awaiting [`save`](SessionStore::save): the response is then
/// finished where the handler's future completes, with no boxed future, no second lock of the session
/// and no deadline timer. Stores that always wait never implement it.
///
/// Its saves must do what the store's `save` does (the conformance suite saves through it when offered).
pub trait ImmediateSaves: Send + Sync {
    /// [`save`](SessionStore::save) applied without waiting, or `None` when the store cannot apply
    /// this one at once (nothing was done: the layer then awaits `save`).
    fn save_now(
        &self,
        key: &SessionKey,
        request: SaveRequest<'_>,
    ) -> Option<Result<Saved, StoreError>>;
}

/// One live session of a user (see [`users`](crate::users)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserSession {
    /// The session's key (its cookie value).
    pub key: SessionKey,
    /// When it expires unless used again.
    pub expires: SystemTime,
}

impl UserSession {
    /// A session of a user, for [`UserIndex`] implementations.
    pub fn new(key: SessionKey, expires: SystemTime) -> Self {
        UserSession { key, expires }
    }
}

/// The sessions of each user, kept by a store that can find them (see [`users`](crate::users)).
///
/// The conformance suite (`testing::conformance_suite!` with `Subject::with_users`) checks these
/// rules for a store of your own (see [`users`](crate::users)): only live sessions are listed, a revoked session loads as `None`, and
/// sessions of other users are never touched.
#[async_trait]
pub trait UserIndex: Send + Sync {
    /// The live sessions of `user`, soonest to expire first.
    async fn sessions_of(&self, user: &str) -> Result<Vec<UserSession>, StoreError>;

    /// Ends the session `key` if it belongs to `user`; whether it did.
    async fn revoke(&self, user: &str, key: &SessionKey) -> Result<bool, StoreError>;

    /// Ends every session of `user` but `except` ("log out everywhere else"); how many were ended.
    async fn revoke_all(&self, user: &str, except: Option<&SessionKey>) -> Result<u64, StoreError>;
}
