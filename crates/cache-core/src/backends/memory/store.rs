//! The moka store behind a [`MemoryBackend`](super::MemoryBackend): entries, the weigher that bounds both
//! entries and bytes, per-entry expiry, the write generation, and the process-wide named stores.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::policy::EvictionPolicy;

use crate::backend::Expiry as EntryExpiry;

#[derive(Clone)]
pub(super) struct Entry {
    pub(super) value: Bytes,
    pub(super) expiry: EntryExpiry,
}

impl Entry {
    pub(super) fn is_live(&self) -> bool {
        !self.expiry.is_expired()
    }
}

/// The moka cache of a store. Keys are hashed with aHash, randomly keyed per process like std's SipHash
/// (so keys chosen by clients, such as URLs, cannot be made to collide) and several times faster on keys
/// of this length: hashing was about a third of a read.
pub(super) type MokaCache = moka::sync::Cache<String, Entry, ahash::RandomState>;

/// A store: the moka cache and its write generation (see [`ImmediateReads::generation`]). Named backends share
/// one.
pub(super) struct Store {
    pub(super) cache: MokaCache,
    pub(super) generation: AtomicU64,
}

impl Store {
    /// Records a write. Called after the write, so a reader that saw the old generation read before it.
    pub(super) fn wrote(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }
}

/// A named store, held weakly so it lives only as long as its backends, with the byte bound it was built with
/// (a reused store keeps its bounds).
type NamedStore = (Weak<Store>, u64);

/// The process-wide named stores.
static NAMED: OnceLock<Mutex<HashMap<String, NamedStore>>> = OnceLock::new();

pub(super) fn named_store(name: &str, max_entries: u64, max_bytes: u64) -> (Arc<Store>, u64) {
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

pub(super) fn new_store(max_entries: u64, max_bytes: u64) -> Store {
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
