//! [`RawCache`]: the low-level lane of a [`Cache`], for layers built on top of one (the page cache, the
//! cache-backed session stores).
//!
//! Such layers keep their own encodings and expiries, so they work on made keys and bytes rather than on
//! typed values, and they need what the typed API hides on purpose: compare-and-set and the in-process
//! reads that cost no future. Going through this lane instead of the backend keeps every cache policy
//! (key making, key validation, the in-process fast path) in [`Cache`].

use bytes::Bytes;

use crate::backend::{CacheBackend, Expiry, KeyLimits};
use crate::cache::Cache;
use crate::error::Result;
use crate::key::validate_key;

/// The low-level lane of a [`Cache`]: operations on made keys and raw bytes, for layers built on top of
/// one (the page cache, the cache-backed session stores).
///
/// Such layers keep their own encodings and expiries, so they work on made keys and bytes rather than on
/// typed values, and they need what the typed API hides on purpose: compare-and-set and the in-process
/// reads that cost no future. Going through this lane instead of the backend keeps every cache policy
/// (key making, key validation, the in-process fast path) in [`Cache`].
///
/// Made by [`Cache::raw`]; `Copy`, so a future it returns holds the cache, not this value.
#[derive(Clone, Copy)]
pub struct RawCache<'a> {
    cache: &'a Cache,
}

impl<'a> RawCache<'a> {
    pub(crate) fn new(cache: &'a Cache) -> Self {
        RawCache { cache }
    }

    fn backend(self) -> &'a dyn CacheBackend {
        self.cache.backend()
    }

    /// The backend's short name, for logs (`"memory"`, `"redis"`, …).
    pub fn backend_name(self) -> &'static str {
        self.backend().name()
    }

    /// The keys the backend can store.
    pub fn key_limits(self) -> KeyLimits {
        self.cache.key_limits()
    }

    /// The made key for `key` at the cache's default version, validated as every typed call validates it:
    /// [`Error::InvalidKey`](crate::Error::InvalidKey) where the backend would fail, a logged warning where
    /// only memcached would.
    pub fn make_key(self, key: &str) -> Result<String> {
        let made = self.cache.make_key(key, None);
        validate_key(&made, self.key_limits())?;
        Ok(made)
    }

    /// A [`KeyMaker`] for names that all start with `prefix` (a store's key namespace).
    pub fn key_maker(self, prefix: &str) -> KeyMaker {
        KeyMaker::new(self.cache, prefix)
    }

    /// The value under a made key; without a future when the backend can answer at once.
    pub async fn get(self, made_key: &str) -> Result<Option<Bytes>> {
        match self.get_now(made_key) {
            Some(read) => read,
            None => self.backend().get(made_key).await,
        }
    }

    /// The value under a made key if the backend can answer without I/O; `None` means "call
    /// [`get`](RawCache::get)". See [`ImmediateReads`](crate::ImmediateReads).
    pub fn get_now(self, made_key: &str) -> Option<Result<Option<Bytes>>> {
        self.backend().immediate()?.get_now(made_key)
    }

    /// [`get_now`](RawCache::get_now) with the entry's expiry, for callers that reuse what they derived
    /// from a value while the [`generation`](RawCache::generation) is unchanged.
    pub fn get_now_with_expiry(self, made_key: &str) -> Option<Result<Option<(Bytes, Expiry)>>> {
        self.backend().immediate()?.get_now_with_expiry(made_key)
    }

    /// The backend's write generation, when it counts its writes (the memory backend); `None` otherwise.
    /// Read it **before** the value it vouches for.
    pub fn generation(self) -> Option<u64> {
        self.backend().immediate()?.generation()
    }

    /// The values under made keys, in order (one round trip where the backend has a multi-get).
    pub async fn get_many(self, made_keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        self.backend().get_many(made_keys).await
    }

    /// Stores bytes under a made key until `expiry`.
    pub async fn set(self, made_key: &str, value: Bytes, expiry: Expiry) -> Result<()> {
        self.backend().set(made_key, value, expiry).await
    }

    /// Stores bytes only if the made key is missing or expired; `true` if it stored.
    pub async fn add(self, made_key: &str, value: Bytes, expiry: Expiry) -> Result<bool> {
        self.backend().add(made_key, value, expiry).await
    }

    /// Removes a made key; `true` if a live entry was removed.
    pub async fn delete(self, made_key: &str) -> Result<bool> {
        self.backend().delete(made_key).await
    }

    /// Whether a live entry exists under a made key.
    pub async fn has_key(self, made_key: &str) -> Result<bool> {
        self.backend().has_key(made_key).await
    }

    /// Replaces the value under a made key only if it is byte for byte `expected`, atomically; see
    /// [`CacheBackend::compare_and_set`] (an [`Error::Unsupported`](crate::Error::Unsupported) where the
    /// backend has none).
    pub async fn compare_and_set(
        self,
        made_key: &str,
        expected: &[u8],
        new: Bytes,
        expiry: Expiry,
    ) -> Result<bool> {
        self.backend()
            .compare_and_set(made_key, expected, new, expiry)
            .await
    }
}

/// Makes keys for names under one prefix, e.g. a session store's `"django.contrib.sessions.cache"` + key.
///
/// With Django's default key function the made key is `head + name`, one allocation; with a custom key
/// function each name goes through it. Either way the key is validated like every other.
#[derive(Clone)]
pub struct KeyMaker {
    cache: Cache,
    prefix: String,
    /// `make_key(prefix)` when the key function is the default one, whose made keys end with the name.
    head: Option<String>,
}

impl KeyMaker {
    fn new(cache: &Cache, prefix: &str) -> Self {
        KeyMaker {
            cache: cache.clone(),
            prefix: prefix.to_owned(),
            head: cache
                .has_default_key_function()
                .then(|| cache.make_key(prefix, None)),
        }
    }

    /// The validated made key of `prefix + name`.
    pub fn make(&self, name: &str) -> Result<String> {
        let made = match &self.head {
            Some(head) => {
                let mut made = String::with_capacity(head.len() + name.len());
                made.push_str(head);
                made.push_str(name);
                made
            }
            None => {
                let mut full = String::with_capacity(self.prefix.len() + name.len());
                full.push_str(&self.prefix);
                full.push_str(name);
                self.cache.make_key(&full, None)
            }
        };
        validate_key(&made, self.cache.key_limits())?;
        Ok(made)
    }

    /// The cache the keys are made for.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }
}

impl std::fmt::Debug for KeyMaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyMaker")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, feature = "memory"))]
mod tests {
    use super::*;

    #[test]
    fn key_maker_agrees_with_make_key_for_both_key_functions() {
        use crate::backends::MemoryBackend;
        let plain = Cache::builder(MemoryBackend::new())
            .key_prefix("site")
            .version(3)
            .build();
        let custom = plain
            .to_builder()
            .key_function(|key, prefix, version| format!("{version}/{prefix}/{key}"))
            .build();
        for cache in [plain, custom] {
            let maker = cache.raw().key_maker("sessions.");
            assert_eq!(
                maker.make("abc").expect("valid"),
                cache.make_key("sessions.abc", None)
            );
        }
    }
}
