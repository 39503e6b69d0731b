//! [`CacheStore`]: sessions in any `cache_core::Cache` (Django's `cache` session engine).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use cache_core::{Cache, Error as CacheError, Expiry as CacheExpiry, KeyMaker, RawCache};

use super::load_batch::{self, BatchSource, LoadBatch};
use super::{
    create_with_retries, ImmediateLoads, Loaded, SaveRequest, Saved, SessionStore, StoreError,
    DEFAULT_DEADLINE,
};
use crate::deadline::{nonzero, within, Deadline, Within};
use crate::error::InvalidSetting;
use crate::expiry;
use crate::key::SessionKey;
use crate::memo::{DecodedRecords, Unchanged};
use crate::record::{self, Data};

const NAME: &str = "cache";

/// Django's key prefix for cache sessions (`"django.contrib.sessions.cache"`), our spelling.
pub(crate) const DEFAULT_PREFIX: &str = "tower_sessions_kit.cache:";

/// Django's key prefix for its `cache` session engine.
pub const DJANGO_PREFIX: &str = "django.contrib.sessions.cache";

/// Django tries this many keys before giving up on a cache that refuses every `add`.
const CREATE_ATTEMPTS: u32 = 10_000;

/// Compare-and-swap attempts before a save reports [`StoreError::Contention`].
const SAVE_ATTEMPTS: u32 = 1_000;

/// Sessions in a cache: fast, shared by every process on the same cache server, and gone when the cache
/// evicts them or restarts. Each session is one entry, `"{prefix}{key}"` under the cache's own key
/// prefix and version, holding the session's JSON, with the session's expiry as its TTL.
///
/// - `load`: one `get`. Loads arriving while one is waiting for the cache are read together by one
///   `get_many` when it returns (`MGET` on Redis, one multi-get per server on memcached, one `SELECT` on
///   the database backend), which spares the cache server and the client a command per request under
///   load; a load alone still makes its own `get` at once. (A backend of your own whose `get_many` is the
///   default loop of `get`s answers such a batch one `get` at a time: override it.)
///   `create`: `add` (atomic: an existing key is never overwritten), retried with a new key on collision.
/// - Reads are cheap when the session has not changed: the store keeps the last decode of each session and
///   reuses it while the stored bytes are the same (no JSON decode). It keeps at most 1024 sessions, of at
///   most 4 KiB stored each (larger ones are decoded every time), shared by the store's clones. On the memory backend, a session read
///   before is answered without a lookup at all while nothing has been written to the cache and the entry
///   has not expired (the backend counts its writes; a delete or save through any store on the same cache
///   is a write). An entry evicted for room is noticed at the next write to the cache.
/// - `save` merges this request's changes onto the entry **atomically** with the backend's
///   `compare_and_set` (every cache-core backend but the dummy one): read, merge, swap if unchanged, else
///   read again. Two requests writing different keys both keep their writes; writing the same key, the
///   last save wins. A backend without `compare_and_set` (your own, say) gets read-merge-`set`, where a
///   concurrent save between the read and the set is lost; a warning says so once.
/// - **What a save costs**: a read of the whole entry and a `compare_and_set` sending the old and the new
///   entry — two round trips and about three times the session's size on the wire when nobody else writes
///   the session, and a read and a swap more for every concurrent save that got in first (at most 1 000
///   attempts, then [`StoreError::Contention`]). Many parallel requests on one session (a browser loading
///   several API calls at once) therefore cost many round trips each. [`RedisStore`](super::RedisStore)
///   and [`MemoryStore`](super::MemoryStore) merge in one round trip, or none, whatever the contention.
/// - **Retried saves are idempotent.** A swap whose reply was lost (a dropped connection, a backend
///   timeout) may have happened: the save reads the entry again, once, and when it finds exactly what it
///   was writing — its own write, or the same changes made by another request — it is done, without a
///   second write; otherwise it merges and swaps as usual. Applying a request's changes to an entry that
///   already has them changes nothing, so the same holds for a client retrying after an error.
/// - **Deadline.** Each operation — a load with its wait for coalesced loads, a save with all its reads
///   and swaps, a create with its collision retries — is bounded by **one** [deadline](Self::with_deadline)
///   (default 1 s, as cache-core's `socket_timeout`), not one per backend call: [`StoreError::TimedOut`]
///   past it. A write abandoned at the deadline may still be applied by a server that received it and
///   resumes (Redis runs a command it has read even after the client gave up): the request was answered
///   with an error, and its changes may be in the session anyway.
/// - An entry missing at save time means the session was deleted (logout) or evicted: the save fails with
///   [`StoreError::Gone`], as in Django.
/// - Unlike Django, a cache error on `load` is an error (the layer's error response), not an empty session:
///   an outage should not silently log every user out. Use [`CachedDatabaseStore`](super::CachedDatabaseStore)
///   to survive a cache outage.
/// - `clear_expired` has nothing to do (entries expire by TTL) and returns 0.
#[derive(Debug, Clone)]
pub struct CacheStore {
    /// The cache, and the made key of each session (`prefix + key`, one allocation with the cache's
    /// default key function).
    keys: KeyMaker,
    warned_no_cas: Arc<AtomicBool>,
    /// Sessions read unchanged are decoded once ([`DecodedRecords`]).
    decoded: Arc<DecodedRecords>,
    /// Loads arriving while one runs, read together with one `get_many`.
    batch: Arc<LoadBatch<Bytes>>,
    /// The bound of every operation.
    deadline: Duration,
}

impl CacheStore {
    /// Sessions in `cache`, with the default entry prefix.
    pub fn new(cache: Cache) -> Self {
        CacheStore::with_prefix(cache, DEFAULT_PREFIX)
    }

    /// Sessions where **Django's `cache` session engine** keeps them (`django.contrib.sessions.cache`):
    /// entries `"django.contrib.sessions.cache{key}"` under the cache's key prefix and version, holding the
    /// session dictionary in the cache's value format. With a cache in Django's format
    /// ([`ValueFormat::DjangoPickle`](cache_core::ValueFormat), and on Redis an empty `namespace`) and the
    /// Django project's `KEY_PREFIX` and `VERSION`, a Django project on the same cache shares the sessions.
    /// See [Django's cache-based sessions](https://docs.djangoproject.com/en/5.2/topics/http/sessions/#using-cached-sessions).
    pub fn django(cache: Cache) -> Self {
        CacheStore::with_prefix(cache, DJANGO_PREFIX)
    }

    /// Sessions in `cache` under entries named `"{prefix}{key}"` (e.g. for two applications on one cache).
    pub fn with_prefix(cache: Cache, prefix: impl Into<String>) -> Self {
        let prefix: String = prefix.into();
        CacheStore {
            keys: cache.raw().key_maker(&prefix),
            warned_no_cas: Default::default(),
            decoded: Default::default(),
            batch: Default::default(),
            deadline: DEFAULT_DEADLINE,
        }
    }

    /// Bounds every operation — all the backend calls it makes — by `deadline` (default
    /// [`DEFAULT_DEADLINE`], 1 s). It is also the store's [`SessionStore::deadline`], which the layer holds
    /// each request phase to. Keep it at least the backend's own timeout (cache-core's `socket_timeout`),
    /// or a slow call is abandoned before the backend gives up on it. `Duration::MAX` means none.
    ///
    /// # Errors
    ///
    /// [`InvalidSetting::ZeroDeadline`] for a zero `deadline`, which would fail every call that has to
    /// wait.
    pub fn with_deadline(mut self, deadline: Duration) -> Result<Self, InvalidSetting> {
        self.deadline = nonzero(deadline, "session store deadline")?;
        Ok(self)
    }

    /// `operation`, abandoned with [`StoreError::TimedOut`] at the deadline.
    ///
    /// A plain function, not an `async fn`: that would keep `operation` in its own state beside the
    /// `Within` holding it, doubling the size of every store future built on it.
    fn bounded<F, T>(&self, operation: F) -> Within<F>
    where
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        within(NAME, Deadline::after(self.deadline), operation)
    }

    /// The cache sessions are kept in.
    pub fn cache(&self) -> &Cache {
        self.keys.cache()
    }

    /// The cache's low-level lane, on made keys and bytes.
    fn raw(&self) -> RawCache<'_> {
        self.keys.cache().raw()
    }

    /// The cache's value format, in which sessions are stored.
    fn format(&self) -> cache_core::ValueFormat {
        self.keys.cache().value_format()
    }

    /// The key the backend sees for a session key.
    fn made_key(&self, key: &str) -> Result<String, StoreError> {
        self.keys.make(key).map_err(cache_error)
    }

    /// A read entry as a loaded session.
    fn loaded(&self, key: &SessionKey, stored: Bytes, unchanged: Option<Unchanged>) -> Loaded {
        Loaded::shared(self.decoded.decode(
            |bytes| record::decode_as(self.format(), NAME, bytes),
            key,
            &stored,
            || stored.clone(),
            unchanged,
        ))
    }

    async fn read(&self, made: &str) -> Result<Option<Bytes>, StoreError> {
        self.raw().get(made).await.map_err(cache_error)
    }
}

fn cache_error(error: CacheError) -> StoreError {
    StoreError::backend(NAME, error)
}

/// The cache expiry of a record, or `None` when it is already expired.
fn cache_expiry(data: &Data, cookie_age: Duration) -> Option<CacheExpiry> {
    let at = expiry::date(data, SystemTime::now(), cookie_age);
    (at > SystemTime::now()).then_some(CacheExpiry::At(at))
}

impl BatchSource for CacheStore {
    type Row = Bytes;

    fn batch(&self) -> &LoadBatch<Bytes> {
        &self.batch
    }

    async fn fetch_one(&self, key: &SessionKey) -> Result<Option<Bytes>, StoreError> {
        let made = self.made_key(key.as_str())?;
        self.read(&made).await
    }

    async fn fetch_many(
        &self,
        keys: &[&str],
    ) -> Result<std::collections::HashMap<String, Bytes>, StoreError> {
        let made = keys
            .iter()
            .map(|key| self.made_key(key))
            .collect::<Result<Vec<_>, _>>()?;
        let values = self.raw().get_many(&made).await.map_err(cache_error)?;
        Ok(keys
            .iter()
            .zip(values)
            .filter_map(|(key, value)| Some(((*key).to_owned(), value?)))
            .collect())
    }
}

#[async_trait]
impl SessionStore for CacheStore {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The [deadline](CacheStore::with_deadline).
    fn deadline(&self) -> Option<Duration> {
        Some(self.deadline)
    }

    /// Reads of an in-process backend answer at once ([`ImmediateLoads`]).
    fn immediate(&self) -> Option<&dyn ImmediateLoads> {
        Some(self)
    }

    /// One deadline in all: a load waiting for coalesced loads is released at its own deadline, and one
    /// whose batch failed reads alone within what is left of it.
    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>, StoreError> {
        Ok(self
            .bounded(load_batch::load(self, key))
            .await?
            .map(|stored| self.loaded(key, stored, None)))
    }

    async fn create(&self, data: &Data, cookie_age: Duration) -> Result<SessionKey, StoreError> {
        let value = Bytes::from(record::encode_as(self.format(), data));
        let expiry = cache_expiry(data, cookie_age).unwrap_or(CacheExpiry::At(SystemTime::now()));
        let create = create_with_retries(NAME, CREATE_ATTEMPTS, |key| {
            let value = value.clone();
            async move {
                let made = self.made_key(key.as_str())?;
                self.raw()
                    .add(&made, value, expiry)
                    .await
                    .map_err(cache_error)
            }
        });
        self.bounded(create).await
    }

    async fn save(&self, key: &SessionKey, request: SaveRequest<'_>) -> Result<Saved, StoreError> {
        self.bounded(self.merge_and_swap(key, request)).await
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        let made = self.made_key(key.as_str())?;
        self.decoded.forget(key);
        let delete = async {
            self.raw()
                .delete(&made)
                .await
                .map(drop)
                .map_err(cache_error)
        };
        self.bounded(delete).await
    }

    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let made = self.made_key(key.as_str())?;
        let exists = async { self.raw().has_key(&made).await.map_err(cache_error) };
        self.bounded(exists).await
    }

    async fn clear_expired(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
}

impl ImmediateLoads for CacheStore {
    /// On an in-process backend that counts its writes (the memory backend), a session read before and
    /// nothing written to the cache since is answered without a lookup; otherwise one synchronous read.
    fn load_now(&self, key: &SessionKey) -> Option<Result<Option<Loaded>, StoreError>> {
        let backend = self.raw();
        let generation = backend.generation();
        if let Some(data) =
            generation.and_then(|generation| self.decoded.unchanged(key, generation))
        {
            return Some(Ok(Some(Loaded::shared(data))));
        }
        let made = match self.made_key(key.as_str()) {
            Ok(made) => made,
            Err(error) => return Some(Err(error)),
        };
        if let Some(generation) = generation {
            if let Some(read) = backend.get_now_with_expiry(&made) {
                return Some(
                    read.map(|entry| {
                        entry.map(|(stored, expiry)| {
                            let until = match expiry {
                                CacheExpiry::Never => None,
                                CacheExpiry::At(at) => Some(at),
                            };
                            self.loaded(key, stored, Some(Unchanged { generation, until }))
                        })
                    })
                    .map_err(cache_error),
                );
            }
        }
        let read = backend.get_now(&made)?;
        Some(
            read.map(|stored| stored.map(|stored| self.loaded(key, stored, None)))
                .map_err(cache_error),
        )
    }
}

impl CacheStore {
    /// `save` without its deadline: read, merge, swap, until the swap succeeds.
    async fn merge_and_swap(
        &self,
        key: &SessionKey,
        request: SaveRequest<'_>,
    ) -> Result<Saved, StoreError> {
        let made = self.made_key(key.as_str())?;
        let backend = self.raw();
        // What the last swap tried to write when it may have happened after all (its reply was lost) or
        // lost to another save: finding it in the entry means the changes are in.
        let mut attempted: Option<(Bytes, Data)> = None;
        let mut reread_after_lost_reply = false;
        for _ in 0..SAVE_ATTEMPTS {
            let Some(current) = self.read(&made).await? else {
                return Err(StoreError::Gone);
            };
            if let Some((value, data)) = attempted.take() {
                if value == current {
                    return Ok(Saved {
                        new_key: None,
                        merged: Some(Arc::new(data)),
                    });
                }
            }
            let mut data = record::decode_as(self.format(), NAME, &current);
            request.changes.apply_to(&mut data);
            let value = Bytes::from(record::encode_as(self.format(), &data));
            let Some(expiry) = cache_expiry(&data, request.cookie_age) else {
                // A custom expiry already in the past: the session ends now.
                backend.delete(&made).await.map_err(cache_error)?;
                return Ok(Saved {
                    new_key: None,
                    merged: Some(Arc::new(data)),
                });
            };
            match backend
                .compare_and_set(&made, &current, value.clone(), expiry)
                .await
            {
                Ok(true) => {
                    return Ok(Saved {
                        new_key: None,
                        merged: Some(Arc::new(data)),
                    })
                }
                Ok(false) => attempted = Some((value, data)),
                Err(CacheError::Backend { .. }) if !reread_after_lost_reply => {
                    tracing::debug!(
                        backend = backend.backend_name(),
                        "session swap without a reply: reading the entry to see whether it happened"
                    );
                    reread_after_lost_reply = true;
                    attempted = Some((value, data));
                }
                Err(CacheError::Unsupported { .. }) => {
                    if !self.warned_no_cas.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            backend = backend.backend_name(),
                            "cache backend has no compare_and_set: concurrent session saves may lose \
                             each other's changes"
                        );
                    }
                    backend
                        .set(&made, value, expiry)
                        .await
                        .map_err(cache_error)?;
                    return Ok(Saved {
                        new_key: None,
                        merged: Some(Arc::new(data)),
                    });
                }
                Err(error) => return Err(cache_error(error)),
            }
        }
        Err(StoreError::Contention {
            store: NAME,
            attempts: SAVE_ATTEMPTS,
        })
    }
}
