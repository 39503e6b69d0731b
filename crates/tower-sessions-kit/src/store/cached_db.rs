//! [`CachedDatabaseStore`]: a [`DatabaseStore`] with a write-through cache in front (Django's `cached_db`).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use cache_core::{Cache, Expiry as CacheExpiry, KeyMaker, RawCache};
use tokio::time::Instant;

use super::database::BeforeCommit;
use super::{
    DatabaseStore, ImmediateLoads, Loaded, SaveRequest, Saved, SessionStore, StoreError,
    DEFAULT_DEADLINE,
};
use crate::deadline::{nonzero, within, Deadline};
use crate::error::InvalidSetting;
use crate::expiry;
use crate::key::SessionKey;
use crate::memo::DecodedRecords;
use crate::record::{self, Data};
use crate::store::contract::{UserIndex, UserSession};

const NAME: &str = "cached_db";

/// Django's prefix for cached-db entries (`"django.contrib.sessions.cached_db"`), our spelling.
pub(crate) const DEFAULT_PREFIX: &str = "tower_sessions_kit.cached_db:";

/// Django's key prefix for its `cached_db` session engine.
pub const DJANGO_PREFIX: &str = "django.contrib.sessions.cached_db";

/// Sessions in a database, read through a cache: a read served by the cache costs no query, and the
/// database stays the authority (sessions survive a cache flush or outage).
///
/// - `load`: the cache first; on a miss the database, then the cache is filled with `add` for the
///   session's remaining life. `exists`: the cache first (no query when cached), then the database.
/// - `save`: the database transaction of [`DatabaseStore`] (this request's changes merged onto the row),
///   and, **while the row is still locked**, the merged data is written to the cache. Cache writes of
///   concurrent saves thus happen in commit order, and a reader filling the cache after a miss uses `add`,
///   which never overwrites a newer write: the cache never keeps a stale merge.
/// - `delete`: the database, then the cache.
/// - **Any cache failure is logged** (`tracing` error "Error saving to cache", as Django logs it) **and
///   ignored**: the request is served from the database.
/// - **Deadlines.** The database calls are bounded by the [`DatabaseStore`]'s deadline, and the cache calls
///   of one operation together by the [cache deadline](Self::cache_deadline) (default 1 s): a cache that
///   hangs costs each operation at most that, then is skipped like a failing one. The store's
///   [deadline](SessionStore::deadline), which the layer holds each request phase to, is the sum. As with
///   [`DatabaseStore`], a save that timed out after its commit reached the database is applied there.
#[derive(Debug, Clone)]
pub struct CachedDatabaseStore {
    database: DatabaseStore,
    /// The cache, and the made key of each session's entry (`prefix + key`).
    keys: KeyMaker,
    /// How long the cache calls of one operation may take together.
    cache_deadline: Duration,
    /// Sessions read unchanged from the cache are decoded once ([`DecodedRecords`]).
    decoded: Arc<DecodedRecords>,
}

impl CachedDatabaseStore {
    /// `database` read through `cache`, with the default entry prefix.
    pub fn new(database: DatabaseStore, cache: Cache) -> Self {
        CachedDatabaseStore {
            database,
            keys: cache.raw().key_maker(DEFAULT_PREFIX),
            cache_deadline: DEFAULT_DEADLINE,
            decoded: Default::default(),
        }
    }

    /// Django's `cached_db` session engine (`django.contrib.sessions.cached_db`): `database` (made with
    /// [`DatabaseStoreBuilder::django`](super::DatabaseStoreBuilder::django)) read through `cache`
    /// under entries `"django.contrib.sessions.cached_db{key}"`, the session dictionary in the cache's value
    /// format. With a cache in Django's format and the project's `KEY_PREFIX`, a Django project shares both.
    pub fn django(database: DatabaseStore, cache: Cache) -> Self {
        CachedDatabaseStore::new(database, cache).prefix(DJANGO_PREFIX)
    }

    /// Names cache entries `"{prefix}{key}"`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix: String = prefix.into();
        self.keys = self.raw().key_maker(&prefix);
        self
    }

    /// How long the cache calls of one operation may take together (default [`DEFAULT_DEADLINE`], 1 s):
    /// past it the cache is skipped for the rest of the operation, logged as a cache failure, and the
    /// database answers alone. `Duration::MAX` means none.
    ///
    /// # Errors
    ///
    /// [`InvalidSetting::ZeroDeadline`] for a zero `deadline`, which would skip every cache call that
    /// has to wait.
    pub fn cache_deadline(mut self, deadline: Duration) -> Result<Self, InvalidSetting> {
        self.cache_deadline = nonzero(deadline, "cache deadline")?;
        Ok(self)
    }

    /// The database behind the cache (e.g. to [`migrate`](DatabaseStore::migrate) it).
    pub fn database(&self) -> &DatabaseStore {
        &self.database
    }

    /// The cache in front of the database.
    pub fn cache(&self) -> &Cache {
        self.keys.cache()
    }

    /// The cache's low-level lane, on made keys and bytes.
    fn raw(&self) -> RawCache<'_> {
        self.keys.cache().raw()
    }

    /// The cache's value format, in which entries are stored.
    fn format(&self) -> cache_core::ValueFormat {
        self.keys.cache().value_format()
    }

    /// The made key of `key`'s entry; an invalid one is a cache failure like any other.
    fn made_key(&self, key: &SessionKey) -> cache_core::Result<String> {
        self.keys.make(key.as_str())
    }

    /// A cache hit as a loaded session.
    fn cached(&self, key: &SessionKey, stored: Bytes) -> Loaded {
        Loaded::shared(self.decoded.decode(
            |bytes| record::decode_as(self.format(), NAME, bytes),
            key,
            &stored,
            || stored.clone(),
            None,
        ))
    }

    /// The cache time of one operation.
    fn budget(&self) -> CacheBudget {
        CacheBudget {
            left: self.cache_deadline,
        }
    }

    /// `call` on the cache within what is left of `budget`; `None`, with a `tracing` error
    /// (`failure`), when it fails or runs out of time.
    async fn cache_call<T>(
        &self,
        budget: &mut CacheBudget,
        failure: &'static str,
        call: impl Future<Output = cache_core::Result<T>>,
    ) -> Option<T> {
        let started = Instant::now();
        let call = async { call.await.map_err(|error| StoreError::backend(NAME, error)) };
        let result = within(NAME, Deadline::after(budget.left), call).await;
        budget.left = budget.left.saturating_sub(started.elapsed());
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                tracing::error!(cache = self.raw().backend_name(), %error, "{failure}");
                None
            }
        }
    }

    async fn cache_write(
        &self,
        budget: &mut CacheBudget,
        key: &SessionKey,
        data: &Data,
        cookie_age: Duration,
        only_add: bool,
    ) -> bool {
        let at = expiry::date(data, SystemTime::now(), cookie_age);
        self.cache_write_until(budget, key, data, at, only_add)
            .await
    }

    async fn cache_write_until(
        &self,
        budget: &mut CacheBudget,
        key: &SessionKey,
        data: &Data,
        at: SystemTime,
        only_add: bool,
    ) -> bool {
        if at <= SystemTime::now() {
            return true;
        }
        let value = Bytes::from(record::encode_as(self.format(), data));
        let backend = self.raw();
        let write = async {
            let made = self.made_key(key)?;
            if only_add {
                backend
                    .add(&made, value, CacheExpiry::At(at))
                    .await
                    .map(drop)
            } else {
                backend.set(&made, value, CacheExpiry::At(at)).await
            }
        };
        self.cache_call(budget, "Error saving to cache", write)
            .await
            .is_some()
    }

    async fn cache_delete(&self, budget: &mut CacheBudget, key: &SessionKey) {
        let delete = async { self.raw().delete(&self.made_key(key)?).await };
        self.cache_call(budget, "Error deleting from cache", delete)
            .await;
    }
}

/// What is left of the time the cache calls of one operation may take together.
struct CacheBudget {
    left: Duration,
}

struct WriteThrough<'a> {
    store: &'a CachedDatabaseStore,
    key: &'a SessionKey,
    cookie_age: Duration,
    /// The cache write failed (or ran out of time): the cache may hold the session as it was.
    failed: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl BeforeCommit for WriteThrough<'_> {
    async fn before_commit(&self, data: &Data) {
        let mut budget = self.store.budget();
        let written = self
            .store
            .cache_write(&mut budget, self.key, data, self.cookie_age, false)
            .await;
        if !written {
            self.failed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn budget(&self) -> Duration {
        self.store.cache_deadline
    }
}

#[async_trait]
impl SessionStore for CachedDatabaseStore {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The database's deadline plus the [cache deadline](Self::cache_deadline).
    fn deadline(&self) -> Option<Duration> {
        self.database
            .deadline()
            .map(|database| database.saturating_add(self.cache_deadline))
    }

    /// Cache hits of an in-process cache answer at once ([`ImmediateLoads`]).
    fn immediate(&self) -> Option<&dyn ImmediateLoads> {
        Some(self)
    }

    /// The database's index; a revoked session leaves the cache too.
    fn users(&self) -> Option<&dyn UserIndex> {
        Some(self)
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>, StoreError> {
        let mut budget = self.budget();
        let read = async { self.raw().get(&self.made_key(key)?).await };
        let cached = self
            .cache_call(&mut budget, "Error reading from cache", read)
            .await
            .flatten();
        if let Some(stored) = cached {
            return Ok(Some(self.cached(key, stored)));
        }
        let Some((data, expires, _)) = self.database.load_row(key).await? else {
            return Ok(None);
        };
        // For the record's remaining life, and never over a newer write-through.
        self.cache_write_until(&mut budget, key, &data, expires, true)
            .await;
        Ok(Some(Loaded::new(data)))
    }

    async fn create(&self, data: &Data, cookie_age: Duration) -> Result<SessionKey, StoreError> {
        let key = self.database.create(data, cookie_age).await?;
        self.cache_write(&mut self.budget(), &key, data, cookie_age, false)
            .await;
        Ok(key)
    }

    async fn save(&self, key: &SessionKey, request: SaveRequest<'_>) -> Result<Saved, StoreError> {
        let hook = WriteThrough {
            store: self,
            key,
            cookie_age: request.cookie_age,
            failed: std::sync::atomic::AtomicBool::new(false),
        };
        let saved = self.database.save_hooked(key, request, Some(&hook)).await;
        // A session gone from the database leaves the cache; so does one whose cache write failed (the
        // cache would still hold it as it was, and a load would read that). After the commit, whatever
        // held the cache up then (a cache table in the same SQLite file as the sessions, say) is over.
        if matches!(saved, Err(StoreError::Gone))
            || hook.failed.load(std::sync::atomic::Ordering::Relaxed)
        {
            self.cache_delete(&mut self.budget(), key).await;
        }
        saved
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        self.decoded.forget(key);
        self.database.delete(key).await?;
        self.cache_delete(&mut self.budget(), key).await;
        Ok(())
    }

    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let cached = async { self.raw().has_key(&self.made_key(key)?).await };
        let cached = self
            .cache_call(&mut self.budget(), "Error reading from cache", cached)
            .await;
        if cached == Some(true) {
            return Ok(true);
        }
        self.database.exists(key).await
    }

    async fn clear_expired(&self) -> Result<u64, StoreError> {
        self.database.clear_expired().await
    }
}

#[async_trait]
impl UserIndex for CachedDatabaseStore {
    async fn sessions_of(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        self.database.sessions_of(user).await
    }

    /// The database's revoke, then the cache entry, so the next request misses the cache and finds no
    /// row.
    async fn revoke(&self, user: &str, key: &SessionKey) -> Result<bool, StoreError> {
        let revoked = self.database.revoke(user, key).await?;
        if revoked {
            self.decoded.forget(key);
            self.cache_delete(&mut self.budget(), key).await;
        }
        Ok(revoked)
    }

    async fn revoke_all(&self, user: &str, except: Option<&SessionKey>) -> Result<u64, StoreError> {
        let mut revoked = 0;
        for session in self.database.sessions_of(user).await? {
            if Some(&session.key) != except && self.revoke(user, &session.key).await? {
                revoked += 1;
            }
        }
        Ok(revoked)
    }
}

impl ImmediateLoads for CachedDatabaseStore {
    /// Answers cache hits of an in-process cache; everything else goes through [`load`](Self::load).
    fn load_now(&self, key: &SessionKey) -> Option<Result<Option<Loaded>, StoreError>> {
        match self.raw().get_now(&self.made_key(key).ok()?)? {
            Ok(Some(stored)) => Some(Ok(Some(self.cached(key, stored)))),
            Ok(None) | Err(_) => None,
        }
    }
}
