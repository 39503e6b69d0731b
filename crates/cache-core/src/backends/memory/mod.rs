//! [`MemoryBackend`]: the in-process cache (Django's `LocMemCache`), on moka.
//!
//! - Bounded both by entry count and by total bytes. moka bounds one "weight", so each entry weighs
//!   `max(1, ceil(size × max_entries / max_bytes))` against a capacity of `max_entries`: a full cache of small
//!   entries stops at `max_entries`, a cache of large ones at about `max_bytes`. The bounds hold whenever no
//!   write is under way: a `set` inserts first and evicts before it returns, so while writers run at once
//!   each may hold its one new entry above the bound until its call returns (at most one entry per
//!   concurrent writer, and never more than `max_bytes` each).
//! - Least-recently-used eviction (moka's LRU policy), so, as in Django, a `set` is always admitted and the
//!   oldest entries make room. moka evicts one entry at a time rather than Django's "cull a third", which
//!   keeps the cache fuller; `cull_frequency` does not apply here.
//! - Per-entry expiry, enforced by moka, which compares it with the clock on every read (sub-millisecond
//!   precision); the atomic read-modify-write operations check it again themselves.
//! - `add`, `touch` and `incr` are atomic per key (moka's `and_compute_with`); `incr` keeps the expiry.
//! - Stores are isolated: [`MemoryBackend::new`] makes a private one; [`MemoryBackendBuilder::name`] shares a
//!   process-wide store by name, like Django's `LOCATION`, for as long as one handle to it is alive.

mod builder;
mod store;
#[cfg(test)]
mod tests;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use moka::ops::compute::{CompResult, Op};

pub use builder::MemoryBackendBuilder;
use builder::{DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES};

use crate::backend::{checked_increment, CacheBackend, Expiry, ImmediateReads};
use crate::error::{Error, Result};
use store::{new_store, Entry, Store};

/// The in-process cache backend. Cheap to clone; clones share the store.
#[derive(Clone)]
pub struct MemoryBackend {
    store: Arc<Store>,
    max_bytes: u64,
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBackend")
            .field("entries", &self.store.cache.entry_count())
            .field("max_entries", &self.store.cache.policy().max_capacity())
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl MemoryBackend {
    /// A private store with Django's default bound of 300 entries and at most 64 MiB.
    pub fn new() -> Self {
        MemoryBackend {
            store: Arc::new(new_store(DEFAULT_MAX_ENTRIES, DEFAULT_MAX_BYTES)),
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }

    /// Settings: a shared name, entry and byte bounds.
    pub fn builder() -> MemoryBackendBuilder {
        MemoryBackendBuilder::default()
    }

    /// The number of entries held, after pending evictions and expirations have been applied.
    pub fn entry_count(&self) -> u64 {
        self.store.cache.run_pending_tasks();
        self.store.cache.entry_count()
    }

    /// The bytes held (keys plus values), after pending evictions have been applied. Read while other
    /// tasks write, the sum is taken over a moving store and may count an entry and the one it replaced.
    pub fn weighted_size(&self) -> u64 {
        self.store.cache.run_pending_tasks();
        self.store
            .cache
            .iter()
            .map(|(key, entry)| (key.len() + entry.value.len()) as u64)
            .sum()
    }

    /// The live entry under `key`. moka compares each entry's expiry with the clock on every read (exactly,
    /// not at a timer tick), so a second check here would only read the clock twice.
    fn live(&self, key: &str) -> Option<Entry> {
        self.store.cache.get(key)
    }

    /// moka applies evictions in batches; applying them on every write brings the store back within its
    /// bounds before the write returns, as Django's cull-on-set does, at a cost paid by writers, never by
    /// readers.
    fn enforce_bounds(&self) {
        self.store.cache.run_pending_tasks();
    }

    /// Runs `decide` on the entry under `key` (live or not) and applies the operation it returns,
    /// atomically for that key (moka's `and_compute_with`).
    fn compute(
        &self,
        key: &str,
        decide: impl FnOnce(Option<moka::Entry<String, Entry>>) -> Op<Entry>,
    ) -> CompResult<String, Entry> {
        self.store.cache.entry_by_ref(key).and_compute_with(decide)
    }

    fn check_size(&self, key: &str, value: &Bytes) -> Result<()> {
        let size = key.len() + value.len();
        if size as u64 > self.max_bytes {
            return Err(Error::ValueTooLarge {
                key: key.to_owned(),
                size,
                limit: usize::try_from(self.max_bytes).unwrap_or(usize::MAX),
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
        Ok(self.live(key).map(|entry| entry.value))
    }

    fn immediate(&self) -> Option<&dyn ImmediateReads> {
        Some(self)
    }

    async fn set(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<()> {
        self.check_size(key, &value)?;
        self.store
            .cache
            .insert(key.to_owned(), Entry { value, expiry });
        // Evictions this write causes happen before its generation is published.
        self.enforce_bounds();
        self.store.wrote();
        Ok(())
    }

    async fn add(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<bool> {
        self.check_size(key, &value)?;
        let result = self.compute(key, |current| match current {
            Some(current) if current.value().is_live() => Op::Nop,
            _ => Op::Put(Entry { value, expiry }),
        });
        let stored = matches!(
            result,
            CompResult::Inserted(_) | CompResult::ReplacedWith(_)
        );
        if stored {
            self.enforce_bounds();
            self.store.wrote();
        }
        Ok(stored)
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let removed = self.store.cache.remove(key);
        self.store.wrote();
        Ok(removed.is_some_and(|entry| entry.is_live()))
    }

    async fn touch(&self, key: &str, expiry: Expiry) -> Result<bool> {
        let result = self.compute(key, |current| match current {
            Some(current) if current.value().is_live() => Op::Put(Entry {
                value: current.into_value().value,
                expiry,
            }),
            _ => Op::Nop,
        });
        self.store.wrote();
        Ok(matches!(result, CompResult::ReplacedWith(_)))
    }

    async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        let mut outcome = Err(Error::KeyNotFound {
            key: key.to_owned(),
        });
        self.compute(key, |current| match current {
            Some(current) if current.value().is_live() => {
                let current = current.into_value();
                match checked_increment(key, &current.value, delta) {
                    Ok(new) => {
                        outcome = Ok(new);
                        Op::Put(Entry {
                            value: Bytes::from(new.to_string()),
                            expiry: current.expiry,
                        })
                    }
                    Err(error) => {
                        outcome = Err(error);
                        Op::Nop
                    }
                }
            }
            _ => Op::Nop,
        });
        self.store.wrote();
        outcome
    }

    async fn has_key(&self, key: &str) -> Result<bool> {
        Ok(self.live(key).is_some())
    }

    async fn compare_and_set(&self, key: &str, old: &[u8], new: Bytes, at: Expiry) -> Result<bool> {
        self.check_size(key, &new)?;
        let result = self.compute(key, |current| match current {
            Some(current) if current.value().is_live() && current.value().value[..] == *old => {
                Op::Put(Entry {
                    value: new,
                    expiry: at,
                })
            }
            _ => Op::Nop,
        });
        let replaced = matches!(result, CompResult::ReplacedWith(_));
        if replaced {
            self.enforce_bounds();
            self.store.wrote();
        }
        Ok(replaced)
    }

    async fn clear(&self) -> Result<()> {
        self.store.cache.invalidate_all();
        self.store.wrote();
        self.store.cache.run_pending_tasks();
        Ok(())
    }
}

/// Every read of an in-process store is immediate, and every write moves the generation.
impl ImmediateReads for MemoryBackend {
    fn get_now(&self, key: &str) -> Option<Result<Option<Bytes>>> {
        Some(Ok(self.live(key).map(|entry| entry.value)))
    }

    fn get_now_with_expiry(&self, key: &str) -> Option<Result<Option<(Bytes, Expiry)>>> {
        Some(Ok(self.live(key).map(|entry| (entry.value, entry.expiry))))
    }

    fn generation(&self) -> Option<u64> {
        Some(self.store.generation.load(Ordering::Acquire))
    }
}
