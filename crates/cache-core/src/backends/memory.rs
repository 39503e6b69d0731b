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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use moka::ops::compute::{CompResult, Op};
use moka::policy::EvictionPolicy;

use crate::backend::{checked_increment, CacheBackend, Expiry as EntryExpiry, ImmediateReads};
use crate::error::{Error, Result};

/// Django's `MAX_ENTRIES` default.
pub const DEFAULT_MAX_ENTRIES: u64 = 300;

/// Default bound on the bytes held (keys plus values): 64 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Clone)]
struct Entry {
    value: Bytes,
    expiry: EntryExpiry,
}

impl Entry {
    fn is_live(&self) -> bool {
        !self.expiry.is_expired()
    }
}

/// The moka cache of a store. Keys are hashed with aHash, randomly keyed per process like std's SipHash
/// (so keys chosen by clients, such as URLs, cannot be made to collide) and several times faster on keys
/// of this length: hashing was about a third of a read.
type MokaCache = moka::sync::Cache<String, Entry, ahash::RandomState>;

/// A store: the moka cache and its write generation (see [`ImmediateReads::generation`]). Named backends share
/// one.
struct Store {
    cache: MokaCache,
    generation: AtomicU64,
}

impl Store {
    /// Records a write. Called after the write, so a reader that saw the old generation read before it.
    fn wrote(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }
}

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

/// Settings for a [`MemoryBackend`].
#[derive(Debug, Clone)]
#[must_use]
pub struct MemoryBackendBuilder {
    name: Option<String>,
    max_entries: u64,
    max_bytes: u64,
}

impl MemoryBackendBuilder {
    /// Shares the store with every other live backend of this name in the process (Django's `LOCATION`).
    /// The first backend built under a name sets its bounds; later builders reuse it as it is.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The most entries held (default 300, Django's `MAX_ENTRIES`).
    pub fn max_entries(mut self, max_entries: u64) -> Self {
        self.max_entries = max_entries;
        self
    }

    /// The most bytes of keys and values held (default 64 MiB).
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Builds the backend; [`Error::Config`] when a bound is zero.
    pub fn build(self) -> Result<MemoryBackend> {
        if self.max_entries == 0 || self.max_bytes == 0 {
            return Err(Error::Config(format!(
                "memory cache bounds must be positive (max_entries={}, max_bytes={})",
                self.max_entries, self.max_bytes
            )));
        }
        let (store, max_bytes) = match &self.name {
            None => (
                Arc::new(new_store(self.max_entries, self.max_bytes)),
                self.max_bytes,
            ),
            Some(name) => named_store(name, self.max_entries, self.max_bytes),
        };
        Ok(MemoryBackend { store, max_bytes })
    }
}

impl Default for MemoryBackendBuilder {
    fn default() -> Self {
        MemoryBackendBuilder {
            name: None,
            max_entries: DEFAULT_MAX_ENTRIES,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// A named store, held weakly so it lives only as long as its backends, with the byte bound it was built with
/// (a reused store keeps its bounds).
type NamedStore = (Weak<Store>, u64);

/// The process-wide named stores.
static NAMED: OnceLock<Mutex<HashMap<String, NamedStore>>> = OnceLock::new();

fn named_store(name: &str, max_entries: u64, max_bytes: u64) -> (Arc<Store>, u64) {
    let named = NAMED.get_or_init(Default::default);
    let mut named = named.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((store, bound)) = named
        .get(name)
        .and_then(|(weak, bound)| Some((weak.upgrade()?, *bound)))
    {
        return (store, bound);
    }
    named.retain(|_, (weak, _)| weak.strong_count() > 0);
    let store = Arc::new(new_store(max_entries, max_bytes));
    named.insert(name.to_owned(), (Arc::downgrade(&store), max_bytes));
    (store, max_bytes)
}

struct ExpireAtEntryExpiry;

impl moka::Expiry<String, Entry> for ExpireAtEntryExpiry {
    fn expire_after_create(&self, _key: &String, entry: &Entry, _now: Instant) -> Option<Duration> {
        entry.expiry.remaining()
    }

    fn expire_after_update(
        &self,
        _key: &String,
        entry: &Entry,
        _now: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        entry.expiry.remaining()
    }
}

fn new_store(max_entries: u64, max_bytes: u64) -> Store {
    Store {
        cache: new_cache(max_entries, max_bytes),
        generation: AtomicU64::new(0),
    }
}

fn new_cache(max_entries: u64, max_bytes: u64) -> MokaCache {
    moka::sync::Cache::builder()
        .max_capacity(max_entries)
        .weigher(move |key: &String, entry: &Entry| {
            let size = (key.len() + entry.value.len()) as u128;
            let weight = (size * u128::from(max_entries)).div_ceil(u128::from(max_bytes));
            u32::try_from(weight.max(1)).unwrap_or(u32::MAX)
        })
        .eviction_policy(EvictionPolicy::lru())
        .expire_after(ExpireAtEntryExpiry)
        .build_with_hasher(ahash::RandomState::new())
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

    async fn set(&self, key: &str, value: Bytes, expiry: EntryExpiry) -> Result<()> {
        self.check_size(key, &value)?;
        self.store
            .cache
            .insert(key.to_owned(), Entry { value, expiry });
        // Evictions this write causes happen before its generation is published.
        self.enforce_bounds();
        self.store.wrote();
        Ok(())
    }

    async fn add(&self, key: &str, value: Bytes, expiry: EntryExpiry) -> Result<bool> {
        self.check_size(key, &value)?;
        let result = self
            .store
            .cache
            .entry_by_ref(key)
            .and_compute_with(|current| match current {
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

    async fn touch(&self, key: &str, expiry: EntryExpiry) -> Result<bool> {
        let result = self
            .store
            .cache
            .entry_by_ref(key)
            .and_compute_with(|current| match current {
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
        self.store
            .cache
            .entry_by_ref(key)
            .and_compute_with(|current| match current {
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

    async fn compare_and_set(
        &self,
        key: &str,
        expected: &[u8],
        new: Bytes,
        expiry: EntryExpiry,
    ) -> Result<bool> {
        self.check_size(key, &new)?;
        let result = self
            .store
            .cache
            .entry_by_ref(key)
            .and_compute_with(|current| match current {
                Some(current)
                    if current.value().is_live() && current.value().value[..] == *expected =>
                {
                    Op::Put(Entry { value: new, expiry })
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

    fn get_now_with_expiry(&self, key: &str) -> Option<Result<Option<(Bytes, EntryExpiry)>>> {
        Some(Ok(self.live(key).map(|entry| (entry.value, entry.expiry))))
    }

    fn generation(&self) -> Option<u64> {
        Some(self.store.generation.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entry_bound_holds() {
        let backend = MemoryBackend::builder()
            .max_entries(10)
            .build()
            .expect("valid");
        for i in 0..50 {
            backend
                .set(
                    &format!("k{i}"),
                    Bytes::from_static(b"v"),
                    EntryExpiry::Never,
                )
                .await
                .expect("set");
        }
        assert!(backend.entry_count() <= 10, "{}", backend.entry_count());
        // LRU: the newest entry was admitted.
        assert!(backend.get("k49").await.expect("get").is_some());
    }

    #[tokio::test]
    async fn byte_bound_holds() {
        let backend = MemoryBackend::builder()
            .max_entries(1000)
            .max_bytes(10_000)
            .build()
            .expect("valid");
        for i in 0..100 {
            backend
                .set(
                    &format!("k{i}"),
                    Bytes::from(vec![b'x'; 1000]),
                    EntryExpiry::Never,
                )
                .await
                .expect("set");
        }
        assert!(
            backend.weighted_size() <= 10_000,
            "{}",
            backend.weighted_size()
        );
        assert!(
            backend.entry_count() >= 5,
            "evicted too much: {}",
            backend.entry_count()
        );
    }

    #[tokio::test]
    async fn a_value_larger_than_the_whole_cache_is_an_error() {
        let backend = MemoryBackend::builder()
            .max_bytes(100)
            .build()
            .expect("valid");
        let err = backend
            .set("k", Bytes::from(vec![0; 200]), EntryExpiry::Never)
            .await
            .expect_err("too large");
        assert!(
            matches!(
                err,
                Error::ValueTooLarge {
                    size: 201,
                    limit: 100,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn compare_and_set_swaps_only_the_expected_live_value() {
        let backend = MemoryBackend::new();
        let v = |s: &'static str| Bytes::from_static(s.as_bytes());
        assert!(!backend
            .compare_and_set("k", b"a", v("b"), EntryExpiry::Never)
            .await
            .expect("missing"));
        backend
            .set("k", v("a"), EntryExpiry::Never)
            .await
            .expect("set");
        assert!(!backend
            .compare_and_set("k", b"x", v("b"), EntryExpiry::Never)
            .await
            .expect("mismatch"));
        assert!(backend
            .compare_and_set("k", b"a", v("b"), EntryExpiry::Never)
            .await
            .expect("match"));
        assert_eq!(
            backend.get("k").await.expect("get").as_deref(),
            Some(&b"b"[..])
        );
        let past = EntryExpiry::At(std::time::SystemTime::UNIX_EPOCH);
        backend.set("e", v("a"), past).await.expect("set expired");
        assert!(!backend
            .compare_and_set("e", b"a", v("b"), EntryExpiry::Never)
            .await
            .expect("expired"));
    }

    #[tokio::test]
    async fn every_write_and_no_read_moves_the_generation() {
        let backend = MemoryBackend::new();
        let never = EntryExpiry::Never;
        let mut seen = backend
            .generation()
            .expect("the memory backend counts writes");
        let mut moved = |what: &str, backend: &MemoryBackend| {
            let now = backend.generation().expect("generation");
            assert_ne!(now, seen, "{what} did not move the generation");
            seen = now;
        };
        backend
            .set("k", Bytes::from_static(b"1"), never)
            .await
            .expect("set");
        moved("set", &backend);
        backend
            .add("a", Bytes::from_static(b"1"), never)
            .await
            .expect("add");
        moved("add", &backend);
        backend.touch("k", never).await.expect("touch");
        moved("touch", &backend);
        backend.incr("k", 1).await.expect("incr");
        moved("incr", &backend);
        let swapped = backend
            .compare_and_set("k", b"2", Bytes::from_static(b"3"), never)
            .await
            .expect("compare_and_set");
        assert!(swapped);
        moved("compare_and_set", &backend);
        backend.delete("a").await.expect("delete");
        moved("delete", &backend);
        backend.clear().await.expect("clear");
        moved("clear", &backend);

        let before = backend.generation();
        let _ = backend.get("k").await;
        let _ = backend.get_now("k");
        let _ = backend.has_key("k").await;
        assert_eq!(backend.generation(), before, "reads moved the generation");
        // Named stores share it.
        let name = format!("generation-{}", std::process::id());
        let one = MemoryBackend::builder().name(&name).build().expect("named");
        let two = MemoryBackend::builder().name(&name).build().expect("named");
        let before = two.generation();
        one.set("k", Bytes::from_static(b"1"), never)
            .await
            .expect("set");
        assert_ne!(two.generation(), before);
    }

    #[tokio::test]
    async fn get_now_with_expiry_agrees_with_get() {
        let backend = MemoryBackend::new();
        let at = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        backend
            .set("k", Bytes::from_static(b"v"), EntryExpiry::At(at))
            .await
            .expect("set");
        let read = backend.get_now_with_expiry("k").expect("synchronous");
        let (value, expiry) = read.expect("read").expect("present");
        assert_eq!(&value[..], b"v");
        assert!(matches!(expiry, EntryExpiry::At(t) if t == at));
        let past = EntryExpiry::At(std::time::SystemTime::UNIX_EPOCH);
        backend
            .set("gone", Bytes::from_static(b"v"), past)
            .await
            .expect("set");
        assert!(backend
            .get_now_with_expiry("gone")
            .expect("synchronous")
            .expect("read")
            .is_none());
        assert!(backend.get("gone").await.expect("get").is_none());
    }

    #[tokio::test]
    async fn a_write_publishes_its_generation_after_its_evictions() {
        // Two entries fit; the third write evicts one, and a reader that sees the third write's
        // generation must not find the evicted entry.
        let backend = MemoryBackend::builder()
            .max_entries(2)
            .build()
            .expect("bounded");
        let never = EntryExpiry::Never;
        for key in ["a", "b"] {
            backend
                .set(key, Bytes::from_static(b"v"), never)
                .await
                .expect("set");
        }
        let before = backend.generation();
        backend
            .set("c", Bytes::from_static(b"v"), never)
            .await
            .expect("set");
        assert_ne!(backend.generation(), before);
        let mut present = 0;
        for key in ["a", "b", "c"] {
            if backend.get(key).await.expect("get").is_some() {
                present += 1;
            }
        }
        assert_eq!(
            present, 2,
            "the eviction was not applied before the write returned"
        );
    }

    #[tokio::test]
    async fn zero_bounds_are_rejected() {
        assert!(matches!(
            MemoryBackend::builder().max_entries(0).build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            MemoryBackend::builder().max_bytes(0).build(),
            Err(Error::Config(_))
        ));
    }

    #[tokio::test]
    async fn named_stores_are_shared_and_different_names_isolated() {
        let a1 = MemoryBackend::builder()
            .name("memory-test-a")
            .build()
            .expect("valid");
        let a2 = MemoryBackend::builder()
            .name("memory-test-a")
            .build()
            .expect("valid");
        let b = MemoryBackend::builder()
            .name("memory-test-b")
            .build()
            .expect("valid");
        let private = MemoryBackend::new();
        a1.set("k", Bytes::from_static(b"1"), EntryExpiry::Never)
            .await
            .expect("set");
        assert_eq!(a2.get("k").await.expect("get").as_deref(), Some(&b"1"[..]));
        assert_eq!(b.get("k").await.expect("get"), None);
        assert_eq!(private.get("k").await.expect("get"), None);
        b.clear().await.expect("clear");
        assert!(a2.has_key("k").await.expect("has_key"));
    }
}
