//! [`MemoryBackend`]: the in-process cache, Django's `LocMemCache` with the same culling and the same
//! least-recently-used order, so the entries that survive a cull are the ones Django's would keep.
//!
//! Django's rules (`django/core/cache/backends/locmem.py`, unchanged from 5.2 to 6.1):
//!
//! - **Order.** One recency order per store. `get` (and so `get_many`, key by key in the order given),
//!   `set`, a storing `add` and `incr` make the key the most recently used. `has_key`, `touch`, a refused
//!   `add` and `delete` leave the order alone.
//! - **Culling.** A `set`, or an `add` that stores, that finds `len >= max_entries` entries first removes the
//!   `len / cull_frequency` least recently used (all of them when `cull_frequency` is 0), then inserts. It
//!   culls even when the key is already held. Expired entries count towards `len` and are culled in their
//!   place in the order: like Django, the store removes an expired entry only when a `get`, `has_key` or
//!   `incr` finds it, or a cull reaches it, never in a sweep. `incr`, `touch` and `compare_and_set` never
//!   cull: they do not add an entry. With Django's defaults (300 entries, frequency 3) a full store drops to
//!   200 entries, then takes the new one. A `cull_frequency` above `max_entries` lets the store grow to
//!   `cull_frequency` entries, as in Django, since `len / cull_frequency` is 0 until then.
//! - **Expiry.** Per entry, expired at its instant (`exp <= now`). `incr` keeps the entry's expiry.
//!
//! Beyond Django:
//!
//! - **A byte bound** (`max_bytes`, default 64 MiB, keys plus values). After the entry bound's cull and the
//!   insert, least recently used entries are evicted **one at a time** until the bytes held are within the
//!   bound: large values push out just enough old ones instead of a third of the store, and a store of
//!   small values never meets this bound, so it culls exactly as Django's. A value larger than the whole
//!   bound is refused ([`Error::ValueTooLarge`]).
//! - **Atomic** `add`, `touch`, `incr` and `compare_and_set`, each under the store's lock;
//!   `compare_and_set` orders like `set`.
//! - **Bounds applied within the write.** Culling and eviction happen under the lock, before the write
//!   returns and before its generation is published: no reader sees the store between a write and the
//!   cull or eviction it caused.
//! - **Stores are isolated**: [`MemoryBackend::new`] makes a private one; [`MemoryBackendBuilder::name`]
//!   shares a process-wide store by name, like Django's `LOCATION`, for as long as one handle to it is
//!   alive. The first backend built under a name sets the store's bounds.
//! - **Synchronous reads** ([`ImmediateReads`]) and a write generation, for callers that reuse what they
//!   derived from a value. A read answered from such reuse never reaches the store, so it does not make
//!   the key the most recently used.
//!
//! The store is one hash table and one intrusive list behind a mutex (see `lru.rs`): an exact order needs
//! one ordered structure, and each critical section is a table probe and a few link updates, with keys
//! hashed and boxed, and replaced values freed, outside it.

mod bounds;
mod builder;
mod lru;
mod store;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_django;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

pub use builder::MemoryBackendBuilder;
use builder::{DEFAULT_CULL_FREQUENCY, DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES};

use crate::backend::{CacheBackend, Expiry, ImmediateReads};
use crate::error::{Error, Result};
use bounds::Bounds;
use lru::Entry;
use store::Store;

/// The in-process cache backend. Cheap to clone; clones share the store.
#[derive(Clone)]
pub struct MemoryBackend {
    store: Arc<Store>,
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bounds = self.store.bounds;
        f.debug_struct("MemoryBackend")
            .field("entries", &self.store.len())
            .field("max_entries", &bounds.max_entries)
            .field("cull_frequency", &bounds.cull_frequency)
            .field("max_bytes", &bounds.max_bytes)
            .finish()
    }
}

impl MemoryBackend {
    /// A private store with Django's defaults (300 entries, a third culled when full) and at most 64 MiB.
    pub fn new() -> Self {
        MemoryBackend {
            store: Arc::new(Store::new(Bounds {
                max_entries: DEFAULT_MAX_ENTRIES,
                cull_frequency: DEFAULT_CULL_FREQUENCY,
                max_bytes: DEFAULT_MAX_BYTES,
            })),
        }
    }

    /// Settings: a shared name, the entry bound and cull frequency, the byte bound.
    pub fn builder() -> MemoryBackendBuilder {
        MemoryBackendBuilder::default()
    }

    /// The number of entries held. As in Django, an expired entry is held (and counts towards
    /// `max_entries`) until a read finds it or a cull removes it.
    pub fn entry_count(&self) -> u64 {
        u64::try_from(self.store.len()).unwrap_or(u64::MAX)
    }

    /// The bytes held (keys plus values), read at one instant.
    pub fn weighted_size(&self) -> u64 {
        u64::try_from(self.store.bytes()).unwrap_or(u64::MAX)
    }

    fn check_size(&self, key: &str, value: &Bytes) -> Result<()> {
        let size = key.len() + value.len();
        let limit = self.store.bounds.max_bytes;
        if size as u64 > limit {
            return Err(Error::ValueTooLarge {
                key: key.to_owned(),
                size,
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            });
        }
        Ok(())
    }
}

impl Default for MemoryBackend {
    fn default() -> Self {
        MemoryBackend::new()
    }
}

#[async_trait]
impl CacheBackend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        Ok(self.store.get(key).map(|entry| entry.value))
    }

    fn immediate(&self) -> Option<&dyn ImmediateReads> {
        Some(self)
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        Ok(self.store.get_many(keys))
    }

    async fn set(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<()> {
        self.check_size(key, &value)?;
        self.store.set(key, Entry { value, expiry });
        Ok(())
    }

    async fn add(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<bool> {
        self.check_size(key, &value)?;
        Ok(self.store.add(key, Entry { value, expiry }))
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        Ok(self.store.delete(key))
    }

    async fn touch(&self, key: &str, expiry: Expiry) -> Result<bool> {
        Ok(self.store.touch(key, expiry))
    }

    async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        self.store.incr(key, delta)
    }

    async fn has_key(&self, key: &str) -> Result<bool> {
        Ok(self.store.has_key(key))
    }

    async fn compare_and_set(&self, key: &str, old: &[u8], new: Bytes, at: Expiry) -> Result<bool> {
        self.check_size(key, &new)?;
        Ok(self.store.compare_and_set(
            key,
            old,
            Entry {
                value: new,
                expiry: at,
            },
        ))
    }

    async fn clear(&self) -> Result<()> {
        self.store.clear();
        Ok(())
    }
}

/// Every read of an in-process store is immediate (and, being a `get`, makes the key the most recently
/// used), and every write moves the generation.
impl ImmediateReads for MemoryBackend {
    fn get_now(&self, key: &str) -> Option<Result<Option<Bytes>>> {
        Some(Ok(self.store.get(key).map(|entry| entry.value)))
    }

    fn get_now_with_expiry(&self, key: &str) -> Option<Result<Option<(Bytes, Expiry)>>> {
        Some(Ok(self
            .store
            .get(key)
            .map(|entry| (entry.value, entry.expiry))))
    }

    fn generation(&self) -> Option<u64> {
        Some(self.store.generation())
    }
}
