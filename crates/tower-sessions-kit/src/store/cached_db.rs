//! [`CachedDatabaseStore`]: a [`DatabaseStore`] with a write-through cache in front (Django's `cached_db`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use cache_core::{Cache, Expiry as CacheExpiry};

use super::database::BeforeCommit;
use super::{DatabaseStore, Loaded, SaveRequest, Saved, SessionStore, StoreError};
use crate::expiry;
use crate::key::SessionKey;
use crate::memo::DecodedRecords;
use crate::record::{self, Data};

const NAME: &str = "cached_db";

/// Django's prefix for cached-db entries (`"django.contrib.sessions.cached_db"`), our spelling.
pub(crate) const DEFAULT_PREFIX: &str = "tower_sessions_kit.cached_db:";

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
#[derive(Debug, Clone)]
pub struct CachedDatabaseStore {
    database: DatabaseStore,
    cache: Cache,
    prefix: String,
    /// Sessions read unchanged from the cache are decoded once ([`DecodedRecords`]).
    decoded: Arc<DecodedRecords>,
}

impl CachedDatabaseStore {
    /// `database` read through `cache`, with the default entry prefix.
    pub fn new(database: DatabaseStore, cache: Cache) -> Self {
        CachedDatabaseStore {
            database,
            cache,
            prefix: DEFAULT_PREFIX.to_owned(),
            decoded: Default::default(),
        }
    }

    /// Names cache entries `"{prefix}{key}"`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The database behind the cache (e.g. to [`migrate`](DatabaseStore::migrate) it).
    pub fn database(&self) -> &DatabaseStore {
        &self.database
    }

    /// The cache in front of the database.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    fn made_key(&self, key: &SessionKey) -> String {
        let mut name = String::with_capacity(self.prefix.len() + key.as_str().len());
        name.push_str(&self.prefix);
        name.push_str(key.as_str());
        self.cache.make_key(&name, None)
    }

    /// A cache hit as a loaded session.
    fn cached(&self, key: &SessionKey, stored: Bytes) -> Loaded {
        Loaded::shared(
            self.decoded
                .decode(NAME, key, &stored, || stored.clone(), None),
        )
    }

    async fn cache_write(
        &self,
        key: &SessionKey,
        data: &Data,
        cookie_age: Duration,
        only_add: bool,
    ) {
        let at = expiry::date(data, SystemTime::now(), cookie_age);
        self.cache_write_until(key, data, at, only_add).await;
    }

    async fn cache_write_until(
        &self,
        key: &SessionKey,
        data: &Data,
        at: SystemTime,
        only_add: bool,
    ) {
        if at <= SystemTime::now() {
            return;
        }
        let made = self.made_key(key);
        let value = Bytes::from(record::encode(data));
        let backend = self.cache.backend();
        let result = if only_add {
            backend
                .add(&made, value, CacheExpiry::At(at))
                .await
                .map(drop)
        } else {
            backend.set(&made, value, CacheExpiry::At(at)).await
        };
        if let Err(error) = result {
            tracing::error!(cache = backend.name(), %error, "Error saving to cache");
        }
    }

    async fn cache_delete(&self, key: &SessionKey) {
        let made = self.made_key(key);
        if let Err(error) = self.cache.backend().delete(&made).await {
            tracing::error!(cache = self.cache.backend().name(), %error, "Error deleting from cache");
        }
    }
}

struct WriteThrough<'a> {
    store: &'a CachedDatabaseStore,
    key: &'a SessionKey,
    cookie_age: Duration,
}

#[async_trait]
impl BeforeCommit for WriteThrough<'_> {
    async fn before_commit(&self, data: &Data) {
        self.store
            .cache_write(self.key, data, self.cookie_age, false)
            .await;
    }
}

#[async_trait]
impl SessionStore for CachedDatabaseStore {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Answers cache hits of an in-process cache; everything else goes through [`load`](Self::load).
    fn load_now(&self, key: &SessionKey) -> Option<Result<Option<Loaded>, StoreError>> {
        match self.cache.backend().get_now(&self.made_key(key))? {
            Ok(Some(stored)) => Some(Ok(Some(self.cached(key, stored)))),
            Ok(None) | Err(_) => None,
        }
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>, StoreError> {
        let made = self.made_key(key);
        let backend = self.cache.backend();
        let cached = match backend.get_now(&made) {
            Some(result) => result,
            None => backend.get(&made).await,
        };
        match cached {
            Ok(Some(stored)) => return Ok(Some(self.cached(key, stored))),
            Ok(None) => {}
            Err(error) => {
                tracing::error!(cache = backend.name(), %error, "Error reading from cache");
            }
        }
        let Some((data, expires, _)) = self.database.load_row(key).await? else {
            return Ok(None);
        };
        // For the record's remaining life, and never over a newer write-through.
        self.cache_write_until(key, &data, expires, true).await;
        Ok(Some(Loaded::new(data)))
    }

    async fn create(&self, data: &Data, cookie_age: Duration) -> Result<SessionKey, StoreError> {
        let key = self.database.create(data, cookie_age).await?;
        self.cache_write(&key, data, cookie_age, false).await;
        Ok(key)
    }

    async fn save(&self, key: &SessionKey, request: SaveRequest<'_>) -> Result<Saved, StoreError> {
        let hook = WriteThrough {
            store: self,
            key,
            cookie_age: request.cookie_age,
        };
        let saved = self.database.save_hooked(key, request, Some(&hook)).await;
        if matches!(saved, Err(StoreError::Gone)) {
            self.cache_delete(key).await;
        }
        saved
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        self.decoded.forget(key);
        self.database.delete(key).await?;
        self.cache_delete(key).await;
        Ok(())
    }

    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        match self.cache.backend().has_key(&self.made_key(key)).await {
            Ok(true) => return Ok(true),
            Ok(false) => {}
            Err(error) => {
                tracing::error!(cache = self.cache.backend().name(), %error, "Error reading from cache");
            }
        }
        self.database.exists(key).await
    }

    async fn clear_expired(&self) -> Result<u64, StoreError> {
        self.database.clear_expired().await
    }
}
