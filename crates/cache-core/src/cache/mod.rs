//! [`Cache`]: the handle users hold, and where all of Django's cache policy lives.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::OnceCell;

use self::call::{ops, Call, CallOptions};
use crate::backend::{CacheBackend, Expiry, KeyLimits};
use crate::codec::ValueFormat;
use crate::error::Result;
use crate::key::{default_key_function, validate_key, KeyFunction};
use crate::timeout::Timeout;

pub mod call;
mod raw;

pub use self::raw::{KeyMaker, RawCache};

/// Django's default timeout: 300 seconds.
pub const DEFAULT_TIMEOUT: Timeout = Timeout::After(std::time::Duration::from_secs(300));

/// Django's default key version.
pub const DEFAULT_VERSION: i64 = 1;

/// A cache: Django's low-level cache API over one [`CacheBackend`].
///
/// Cheap to clone (an `Arc` inside); clones share the backend and the single-flight table. Every operation
/// returns a [`Call`] that reads like Django's keyword arguments and runs when awaited:
///
/// ```
/// # async fn demo() -> cache_core::Result<()> {
/// use std::time::Duration;
/// use cache_core::{Cache, backends::MemoryBackend};
///
/// let cache = Cache::new(MemoryBackend::new());
/// cache.set("greeting", "hello").timeout(Duration::from_secs(900)).version(2).await?;
/// let greeting: Option<String> = cache.get("greeting").version(2).await?;
/// assert_eq!(greeting.as_deref(), Some("hello"));
/// # Ok(()) }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
/// ```
///
/// Keys are made as `"{key_prefix}:{version}:{key}"` (or by a custom [`KeyFunction`]) and validated before
/// they reach the backend. Typed values go through the cache's [`ValueFormat`] (JSON unless the builder's
/// [`value_format`](CacheBuilder::value_format) or a URL's `value_format=django` says otherwise; see
/// [`codec`](crate::codec)); `*_bytes` calls store bytes as they are.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Arc<dyn CacheBackend>,
    limits: KeyLimits,
    key_prefix: String,
    version: i64,
    default_timeout: Timeout,
    key_function: Option<KeyFunction>,
    value_format: ValueFormat,
    /// `"{key_prefix}:{version}:"` for the default version and key function: the made key of the common
    /// call is then one allocation and two copies, on the hot path of every operation.
    default_key_head: String,
    /// Computations of `get_or_set_with` under way, by made key, so concurrent callers share one.
    flights: Mutex<HashMap<String, Arc<OnceCell<Bytes>>>>,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("backend", &self.inner.backend.name())
            .field("key_prefix", &self.inner.key_prefix)
            .field("version", &self.inner.version)
            .field("default_timeout", &self.inner.default_timeout)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Cache`] with non-default settings (Django's `KEY_PREFIX`, `VERSION`, `TIMEOUT`, `KEY_FUNCTION`).
#[must_use]
pub struct CacheBuilder {
    backend: Arc<dyn CacheBackend>,
    key_prefix: String,
    version: i64,
    default_timeout: Timeout,
    key_function: Option<KeyFunction>,
    value_format: ValueFormat,
}

impl CacheBuilder {
    crate::setters::setters! {
        /// Prefix for every made key (default `""`).
        key_prefix: impl Into<String> => into,
        /// The version used when a call names none (default 1).
        version: i64,
    }

    /// The timeout used when a call names none (default 300 s; [`Timeout::Never`] for no expiry).
    /// `Timeout::Default` here means the built-in 300 s.
    pub fn default_timeout(mut self, timeout: impl Into<Timeout>) -> Self {
        self.default_timeout = match timeout.into() {
            Timeout::Default => DEFAULT_TIMEOUT,
            other => other,
        };
        self
    }

    /// Replaces the key function (`(key, prefix, version) -> made key`).
    pub fn key_function(
        mut self,
        function: impl Fn(&str, &str, i64) -> String + Send + Sync + 'static,
    ) -> Self {
        self.key_function = Some(Arc::new(function));
        self
    }

    /// How typed values are stored (default [`ValueFormat::Json`]); [`ValueFormat::DjangoPickle`] to share
    /// a Redis cache with Django (see [`codec`](crate::codec)).
    pub fn value_format(mut self, format: ValueFormat) -> Self {
        self.value_format = format;
        self
    }

    /// Finishes the cache.
    pub fn build(self) -> Cache {
        let limits = self.backend.key_limits();
        let default_key_head = default_key_function("", &self.key_prefix, self.version);
        Cache {
            inner: Arc::new(Inner {
                backend: self.backend,
                limits,
                key_prefix: self.key_prefix,
                version: self.version,
                default_timeout: self.default_timeout,
                key_function: self.key_function,
                value_format: self.value_format,
                default_key_head,
                flights: Mutex::new(HashMap::new()),
            }),
        }
    }
}

impl Cache {
    /// A cache over `backend` with Django's defaults (no prefix, version 1, 300 s).
    pub fn new(backend: impl CacheBackend) -> Self {
        Cache::builder(backend).build()
    }

    /// A builder over `backend`, for a prefix, version, default timeout or key function.
    pub fn builder(backend: impl CacheBackend) -> CacheBuilder {
        Cache::builder_from_arc(Arc::new(backend))
    }

    /// Like [`Cache::builder`], for a backend that is already shared.
    pub fn builder_from_arc(backend: Arc<dyn CacheBackend>) -> CacheBuilder {
        CacheBuilder {
            backend,
            key_prefix: String::new(),
            version: DEFAULT_VERSION,
            default_timeout: DEFAULT_TIMEOUT,
            key_function: None,
            value_format: ValueFormat::Json,
        }
    }

    /// A builder with this cache's settings over the same backend, e.g. for a second key prefix on one
    /// store. The new cache has its own single-flight table.
    pub fn to_builder(&self) -> CacheBuilder {
        CacheBuilder {
            backend: Arc::clone(&self.inner.backend),
            key_prefix: self.inner.key_prefix.clone(),
            version: self.inner.version,
            default_timeout: self.inner.default_timeout,
            key_function: self.inner.key_function.clone(),
            value_format: self.inner.value_format,
        }
    }

    /// The backend behind this cache; outside this crate, [`Cache::raw`] is the way down.
    pub(crate) fn backend(&self) -> &dyn CacheBackend {
        self.inner.backend.as_ref()
    }

    /// The low-level lane: made keys, bytes, compare-and-set and the in-process reads, for layers built on
    /// a cache. See [`RawCache`].
    pub fn raw(&self) -> RawCache<'_> {
        RawCache::new(self)
    }

    /// The backend's short name, for logs and errors (`"memory"`, `"redis"`, …).
    pub fn backend_name(&self) -> &'static str {
        self.inner.backend.name()
    }

    /// The backend's key limits, read once when the cache was built.
    pub(crate) fn key_limits(&self) -> KeyLimits {
        self.inner.limits
    }

    /// Whether keys are made by Django's default key function (`prefix:version:key`).
    pub(crate) fn has_default_key_function(&self) -> bool {
        self.inner.key_function.is_none()
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.inner.key_prefix
    }

    /// The default version.
    pub fn default_version(&self) -> i64 {
        self.inner.version
    }

    /// How typed values are stored.
    pub fn value_format(&self) -> ValueFormat {
        self.inner.value_format
    }

    /// The default timeout.
    pub fn default_timeout(&self) -> Timeout {
        self.inner.default_timeout
    }

    /// The key the backend sees for `key` at `version` (the default version when `None`).
    pub fn make_key(&self, key: &str, version: Option<i64>) -> String {
        let version = version.unwrap_or(self.inner.version);
        match &self.inner.key_function {
            Some(function) => function(key, &self.inner.key_prefix, version),
            None if version == self.inner.version => {
                let head = &self.inner.default_key_head;
                let mut made = String::with_capacity(head.len() + key.len());
                made.push_str(head);
                made.push_str(key);
                made
            }
            None => default_key_function(key, &self.inner.key_prefix, version),
        }
    }

    /// Reads raw bytes under a made key, synchronously where the backend can.
    pub(crate) async fn read(&self, made_key: &str) -> Result<Option<Bytes>> {
        self.raw().get(made_key).await
    }

    /// Makes and validates the key.
    pub(crate) fn made_key(&self, key: &str, options: &CallOptions) -> Result<String> {
        let made = self.make_key(key, options.version);
        validate_key(&made, self.inner.limits)?;
        Ok(made)
    }

    /// The expiry for a call, or `None` when its timeout means "already expired".
    pub(crate) fn expiry(&self, options: &CallOptions) -> Option<Expiry> {
        options.timeout.resolve(self.inner.default_timeout)
    }

    fn call<Op>(&self, op: Op) -> Call<'_, Op> {
        Call::new(self, op)
    }

    /// The value under `key`, decoded as `T`; `None` when missing or expired. A stored JSON `null` read as
    /// `Option<U>` is `Some(None)`, not a miss (Django returns a stored `None`, not the default).
    pub fn get<'a, T: DeserializeOwned>(&'a self, key: &'a str) -> Call<'a, ops::Get<'a, T>> {
        self.call(ops::Get::new(key))
    }

    /// The bytes under `key`, exactly as stored.
    pub fn get_bytes<'a>(&'a self, key: &'a str) -> Call<'a, ops::GetBytes<'a>> {
        self.call(ops::GetBytes { key })
    }

    /// Stores `value` under `key`, replacing what was there. Accepts `.timeout(..)` and `.version(..)`.
    pub fn set<'a, V: Serialize + ?Sized>(
        &'a self,
        key: &'a str,
        value: &V,
    ) -> Call<'a, ops::Set<'a>> {
        self.call(ops::Set {
            key,
            value: self.inner.value_format.encode(key, value),
        })
    }

    /// Stores `value` as it is (no encoding), e.g. a whole rendered page.
    pub fn set_bytes<'a>(
        &'a self,
        key: &'a str,
        value: impl Into<Bytes>,
    ) -> Call<'a, ops::Set<'a>> {
        self.call(ops::Set {
            key,
            value: Ok(value.into()),
        })
    }

    /// Stores `value` only if `key` is missing or expired; resolves to `true` if it stored.
    pub fn add<'a, V: Serialize + ?Sized>(
        &'a self,
        key: &'a str,
        value: &V,
    ) -> Call<'a, ops::Add<'a>> {
        self.call(ops::Add {
            key,
            value: self.inner.value_format.encode(key, value),
        })
    }

    /// [`Cache::add`] for raw bytes.
    pub fn add_bytes<'a>(
        &'a self,
        key: &'a str,
        value: impl Into<Bytes>,
    ) -> Call<'a, ops::Add<'a>> {
        self.call(ops::Add {
            key,
            value: Ok(value.into()),
        })
    }

    /// The value under `key`; on a miss, `add`s `default` and resolves to what is then stored (after a lost
    /// race, the winner's value), or `default` itself.
    pub fn get_or_set<'a, T>(&'a self, key: &'a str, default: T) -> Call<'a, ops::GetOrSet<'a, T>>
    where
        T: Serialize + DeserializeOwned + Send + 'a,
    {
        self.call(ops::GetOrSet { key, default })
    }

    /// The value under `key`; on a miss, runs `make` **once** for all concurrent callers of this key on this
    /// cache (single-flight: the others wait for its result), stores the result with `add`, and resolves to
    /// it. If the caller running `make` is cancelled, a waiting caller runs its own `make` instead.
    pub fn get_or_set_with<'a, T, F, Fut>(
        &'a self,
        key: &'a str,
        make: F,
    ) -> Call<'a, ops::GetOrSetWith<'a, T, F>>
    where
        T: Serialize + DeserializeOwned + Send + 'a,
        F: FnOnce() -> Fut + Send + 'a,
        Fut: std::future::Future<Output = T> + Send + 'a,
    {
        self.call(ops::GetOrSetWith::new(key, make))
    }

    /// The values of the found keys, under the caller's names; missing and expired keys are left out.
    pub fn get_many<'a, T, I, K>(&'a self, keys: I) -> Call<'a, ops::GetMany<T>>
    where
        T: DeserializeOwned,
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        self.call(ops::GetMany::new(
            keys.into_iter().map(Into::into).collect(),
        ))
    }

    /// Stores every `(key, value)`; resolves to the keys the backend failed to store (empty except on
    /// backends that fail per key, such as memcached).
    pub fn set_many<'a, I, K, V>(&'a self, entries: I) -> Call<'a, ops::SetMany>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Serialize,
    {
        let entries = entries
            .into_iter()
            .map(|(key, value)| {
                let key = key.into();
                let value = self.inner.value_format.encode(&key, &value);
                value.map(|value| (key, value))
            })
            .collect();
        self.call(ops::SetMany { entries })
    }

    /// Removes `key`; resolves to `true` if a live entry was removed.
    pub fn delete<'a>(&'a self, key: &'a str) -> Call<'a, ops::Delete<'a>> {
        self.call(ops::Delete { key })
    }

    /// Removes every key (an empty list is fine).
    pub fn delete_many<'a, I, K>(&'a self, keys: I) -> Call<'a, ops::DeleteMany>
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        self.call(ops::DeleteMany {
            keys: keys.into_iter().map(Into::into).collect(),
        })
    }

    /// Whether a live entry exists under `key` (true for a stored `null`).
    pub fn has_key<'a>(&'a self, key: &'a str) -> Call<'a, ops::HasKey<'a>> {
        self.call(ops::HasKey { key })
    }

    /// Gives a live entry a new expiry (`.timeout(..)`, the default when omitted); `false` if missing.
    /// A zero timeout expires the entry now and resolves to whether it was live.
    pub fn touch<'a>(&'a self, key: &'a str) -> Call<'a, ops::Touch<'a>> {
        self.call(ops::Touch { key })
    }

    /// Adds `delta` (negative allowed) to the integer under `key`, keeping its expiry where the backend can;
    /// resolves to the new value. [`Error::KeyNotFound`](crate::Error::KeyNotFound) when missing, [`Error::NotNumeric`](crate::Error::NotNumeric) when the value
    /// is not an integer.
    pub fn incr<'a>(&'a self, key: &'a str, delta: i64) -> Call<'a, ops::Incr<'a>> {
        self.call(ops::Incr {
            key,
            delta: Some(delta),
        })
    }

    /// Subtracts `delta`: `incr(key, -delta)`.
    pub fn decr<'a>(&'a self, key: &'a str, delta: i64) -> Call<'a, ops::Incr<'a>> {
        self.call(ops::Incr {
            key,
            delta: delta.checked_neg(),
        })
    }

    /// Moves the entry from its version (`.version(..)`, default the cache's) to `version + delta`, with
    /// the default timeout, and resolves to the new version. [`Error::KeyNotFound`](crate::Error::KeyNotFound) when missing.
    pub fn incr_version<'a>(&'a self, key: &'a str, delta: i64) -> Call<'a, ops::IncrVersion<'a>> {
        self.call(ops::IncrVersion {
            key,
            delta: Some(delta),
        })
    }

    /// `incr_version(key, -delta)`.
    pub fn decr_version<'a>(&'a self, key: &'a str, delta: i64) -> Call<'a, ops::IncrVersion<'a>> {
        self.call(ops::IncrVersion {
            key,
            delta: delta.checked_neg(),
        })
    }

    /// Removes every entry of this cache (only this cache's: other data sharing the store is kept).
    pub async fn clear(&self) -> Result<()> {
        self.inner.backend.clear().await
    }

    /// Releases the backend's connections; the cache stays usable.
    pub async fn close(&self) -> Result<()> {
        self.inner.backend.close().await
    }

    /// Single-flight read-through on a made key: the stored bytes, or the bytes that `make` produced, with
    /// at most one `make` running per made key on this cache at a time.
    pub(crate) async fn get_or_set_bytes_with<F, Fut>(
        &self,
        made_key: &str,
        expiry: Option<Expiry>,
        make: F,
    ) -> Result<Bytes>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Bytes>>,
    {
        let backend = &self.inner.backend;
        if let Some(hit) = self.read(made_key).await? {
            return Ok(hit);
        }
        let flight = self.join_flight(made_key);
        let value = flight
            .cell
            .get_or_try_init(|| async {
                // A previous flight may have stored the value between our miss and joining this one.
                if let Some(hit) = backend.get(made_key).await? {
                    return Ok(hit);
                }
                let value = make().await?;
                let Some(expiry) = expiry else {
                    return Ok(value);
                };
                if backend.add(made_key, value.clone(), expiry).await? {
                    return Ok(value);
                }
                // Lost a race with another process: Django returns what is stored, else our value.
                Ok(backend.get(made_key).await?.unwrap_or(value))
            })
            .await?;
        Ok(value.clone())
    }

    fn join_flight(&self, made_key: &str) -> Flight<'_> {
        let mut flights = self
            .inner
            .flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let cell = flights.entry(made_key.to_owned()).or_default().clone();
        Flight {
            cache: self,
            key: made_key.to_owned(),
            cell,
        }
    }
}

/// A caller's membership in a single-flight computation; leaving removes the flight once it is finished or
/// abandoned, so the table never grows beyond the computations under way.
struct Flight<'a> {
    cache: &'a Cache,
    key: String,
    cell: Arc<OnceCell<Bytes>>,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut flights = self
            .cache
            .inner
            .flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(current) = flights.get(&self.key) {
            // Two references: the table's and ours. More means other callers are still waiting on an
            // unfinished computation and will take it over.
            let last_waiter = Arc::strong_count(current) <= 2;
            if Arc::ptr_eq(current, &self.cell) && (self.cell.initialized() || last_waiter) {
                flights.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_key_function_replaces_the_format() {
        let cache = Cache::builder(crate::backends::DummyBackend::new())
            .key_prefix("p")
            .key_function(|key, prefix, version| format!("{prefix}/{key}/v{version}"))
            .build();
        assert_eq!(cache.make_key("k", None), "p/k/v1");
        assert_eq!(cache.make_key("k", Some(7)), "p/k/v7");
    }
}
