//! [`Store`]: one [`Lru`] behind a lock, with Django's `LocMemCache` rules applied on top, the write
//! generation, and the process-wide named stores.
//!
//! Each operation hashes its key, boxes it (for a write) and reads the clock before taking the lock, and
//! drops whatever it removed or replaced after releasing it ([`Garbage`]), so the critical section is a
//! table probe and a few link updates.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::SystemTime;

use bytes::Bytes;

use super::bounds::{Bounds, Cull};
use super::lru::{Entry, Lru, Node};
use crate::backend::{checked_increment, Expiry};
use crate::error::{Error, Result};

/// What an operation took out of the map, dropped after the lock is released: freeing values (pages can
/// be large) is work no other caller should wait for.
#[derive(Default)]
struct Garbage {
    /// Entries culled, evicted or found expired.
    nodes: Vec<Node>,
    /// A value replaced in place (held only to be dropped).
    _entry: Option<Entry>,
    /// The boxed key of a write that found its key already held (held only to be dropped).
    _key: Option<Box<str>>,
}

/// A store: the entries in recency order, its bounds, and its write generation (see
/// [`ImmediateReads::generation`](crate::ImmediateReads::generation)). Named backends share one.
pub(super) struct Store {
    lru: Mutex<Lru>,
    /// Keys are hashed with aHash, randomly keyed per process like std's SipHash (so keys chosen by
    /// clients, such as URLs, cannot be made to collide) and several times faster on keys of this length.
    hasher: ahash::RandomState,
    pub(super) bounds: Bounds,
    generation: AtomicU64,
}

impl Store {
    /// An empty store.
    pub(super) fn new(bounds: Bounds) -> Self {
        Store {
            lru: Mutex::new(Lru::new()),
            hasher: ahash::RandomState::new(),
            bounds,
            generation: AtomicU64::new(0),
        }
    }

    /// The current write generation.
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The number of entries held, expired ones included until a read or a cull removes them.
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    /// The bytes of keys and values held.
    pub(super) fn bytes(&self) -> usize {
        self.lock().bytes()
    }

    /// The live entry under `key`, made the most recently used (Django's `get`). An expired entry is
    /// removed.
    pub(super) fn get(&self, key: &str) -> Option<Entry> {
        let hash = self.hasher.hash_one(key);
        let now = SystemTime::now();
        let mut garbage = Garbage::default();
        let found = Self::get_locked(&mut self.lock(), hash, key, now, &mut garbage);
        drop(garbage);
        found
    }

    /// The live values under `keys`, in order, each made the most recently used in turn, as Django's
    /// `get_many` does through `get`; one lock for all of them.
    pub(super) fn get_many(&self, keys: &[String]) -> Vec<Option<Bytes>> {
        let mut values = Vec::with_capacity(keys.len());
        let now = SystemTime::now();
        let mut garbage = Garbage::default();
        {
            let mut lru = self.lock();
            for key in keys {
                let hash = self.hasher.hash_one(key.as_str());
                let found = Self::get_locked(&mut lru, hash, key, now, &mut garbage);
                values.push(found.map(|entry| entry.value));
            }
        }
        drop(garbage);
        values
    }

    /// Stores `entry` under `key` (Django's `set`): culls a full store first, then inserts or replaces,
    /// making the key the most recently used.
    pub(super) fn set(&self, key: &str, entry: Entry) {
        let hash = self.hasher.hash_one(key);
        let boxed = Box::from(key);
        let mut garbage = Garbage::default();
        self.store_locked(&mut self.lock(), hash, boxed, entry, &mut garbage);
        self.wrote();
        drop(garbage);
    }

    /// Stores `entry` only when `key` is missing or expired (Django's `add`); `true` if it stored. A live
    /// key is left where it is in the order.
    pub(super) fn add(&self, key: &str, entry: Entry) -> bool {
        let hash = self.hasher.hash_one(key);
        let boxed = Box::from(key);
        let now = SystemTime::now();
        let mut garbage = Garbage::default();
        let stored = {
            let mut lru = self.lock();
            let live = lru
                .find(hash, key)
                .is_some_and(|slot| !lru.entry(slot).expiry.is_expired_at(now));
            if !live {
                self.store_locked(&mut lru, hash, boxed, entry, &mut garbage);
            }
            !live
        };
        if stored {
            self.wrote();
        }
        drop(garbage);
        stored
    }

    /// Sets a new expiry on a live entry (Django's `touch`): no change of order, and an expired entry is
    /// left for a read to remove, as Django leaves it.
    pub(super) fn touch(&self, key: &str, expiry: Expiry) -> bool {
        let hash = self.hasher.hash_one(key);
        let now = SystemTime::now();
        let touched = {
            let mut lru = self.lock();
            match lru.find(hash, key) {
                Some(slot) if !lru.entry(slot).expiry.is_expired_at(now) => {
                    lru.set_expiry(slot, expiry);
                    true
                }
                _ => false,
            }
        };
        if touched {
            self.wrote();
        }
        touched
    }

    /// Adds `delta` to a live integer, keeping its expiry and making it the most recently used (Django's
    /// `incr`); an expired entry is removed and reads as missing. No cull: the entry count does not grow.
    pub(super) fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        let hash = self.hasher.hash_one(key);
        let now = SystemTime::now();
        let mut garbage = Garbage::default();
        let outcome = {
            let mut lru = self.lock();
            match lru.find(hash, key) {
                None => Err(Error::KeyNotFound {
                    key: key.to_owned(),
                }),
                Some(slot) if lru.entry(slot).expiry.is_expired_at(now) => {
                    garbage.nodes.push(lru.remove(slot));
                    Err(Error::KeyNotFound {
                        key: key.to_owned(),
                    })
                }
                Some(slot) => {
                    let current = lru.entry(slot);
                    let expiry = current.expiry;
                    let incremented = checked_increment(key, &current.value, delta);
                    if let Ok(new) = incremented {
                        let value = Bytes::from(new.to_string());
                        garbage._entry = Some(lru.replace(slot, Entry { value, expiry }));
                        lru.move_to_front(slot);
                        self.evict_for_bytes(&mut lru, &mut garbage);
                    }
                    incremented
                }
            }
        };
        if outcome.is_ok() {
            self.wrote();
        }
        drop(garbage);
        outcome
    }

    /// Whether a live entry is under `key` (Django's `has_key`): no change of order; an expired entry is
    /// removed.
    pub(super) fn has_key(&self, key: &str) -> bool {
        let hash = self.hasher.hash_one(key);
        let now = SystemTime::now();
        let mut garbage = Garbage::default();
        let live = {
            let mut lru = self.lock();
            match lru.find(hash, key) {
                None => false,
                Some(slot) if lru.entry(slot).expiry.is_expired_at(now) => {
                    garbage.nodes.push(lru.remove(slot));
                    false
                }
                Some(_) => true,
            }
        };
        drop(garbage);
        live
    }

    /// Removes `key`; `true` if its entry was live.
    pub(super) fn delete(&self, key: &str) -> bool {
        let hash = self.hasher.hash_one(key);
        let now = SystemTime::now();
        let removed = {
            let mut lru = self.lock();
            lru.find(hash, key).map(|slot| lru.remove(slot))
        };
        let Some(removed) = removed else {
            return false;
        };
        self.wrote();
        !removed.entry.expiry.is_expired_at(now)
    }

    /// Replaces a live value that is byte-for-byte `old` with `new`, making it the most recently used as
    /// a `set` would; no cull, as the entry count does not grow.
    pub(super) fn compare_and_set(&self, key: &str, old: &[u8], new: Entry) -> bool {
        let hash = self.hasher.hash_one(key);
        let now = SystemTime::now();
        let mut garbage = Garbage::default();
        let replaced = {
            let mut lru = self.lock();
            match lru.find(hash, key) {
                Some(slot)
                    if !lru.entry(slot).expiry.is_expired_at(now)
                        && lru.entry(slot).value[..] == *old =>
                {
                    garbage._entry = Some(lru.replace(slot, new));
                    lru.move_to_front(slot);
                    self.evict_for_bytes(&mut lru, &mut garbage);
                    true
                }
                _ => false,
            }
        };
        if replaced {
            self.wrote();
        }
        drop(garbage);
        replaced
    }

    /// Removes every entry.
    pub(super) fn clear(&self) {
        let taken = self.lock().take_all();
        self.wrote();
        drop(taken);
    }

    /// Records a write. Called after the write and its evictions, so a reader that saw the old generation
    /// read before it.
    fn wrote(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The map. Only a bug could panic under the lock (no caller code runs there); should one, the lock is
    /// recovered rather than turned into a panic of every later caller.
    fn lock(&self) -> MutexGuard<'_, Lru> {
        self.lru.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Django's `get` under the lock.
    fn get_locked(
        lru: &mut Lru,
        hash: u64,
        key: &str,
        now: SystemTime,
        garbage: &mut Garbage,
    ) -> Option<Entry> {
        let slot = lru.find(hash, key)?;
        if lru.entry(slot).expiry.is_expired_at(now) {
            garbage.nodes.push(lru.remove(slot));
            return None;
        }
        lru.move_to_front(slot);
        Some(lru.entry(slot).clone())
    }

    /// Django's `_set` under the lock: cull when full (whether or not `key` is already held, as Django
    /// does), then insert or replace `key` as the most recently used; then the byte bound.
    fn store_locked(
        &self,
        lru: &mut Lru,
        hash: u64,
        key: Box<str>,
        entry: Entry,
        garbage: &mut Garbage,
    ) {
        match self.bounds.cull(lru.len()) {
            Cull::Nothing => {}
            Cull::All => {
                let mut taken = lru.take_all();
                if garbage.nodes.is_empty() {
                    garbage.nodes = taken;
                } else {
                    garbage.nodes.append(&mut taken);
                }
            }
            Cull::Oldest(count) => {
                garbage.nodes.reserve(count);
                garbage
                    .nodes
                    .extend(std::iter::from_fn(|| lru.pop_back()).take(count));
            }
        }
        match lru.find(hash, &key) {
            Some(slot) => {
                garbage._entry = Some(lru.replace(slot, entry));
                lru.move_to_front(slot);
                garbage._key = Some(key);
            }
            None => {
                lru.push_front(key, hash, entry);
            }
        }
        self.evict_for_bytes(lru, garbage);
    }

    /// Removes least recently used entries, one at a time, until the bytes held are within the bound. The
    /// entry just written is the most recently used and never larger than the bound by itself (writes
    /// check), so it survives.
    fn evict_for_bytes(&self, lru: &mut Lru, garbage: &mut Garbage) {
        while self.bounds.over_bytes(lru.bytes()) {
            match lru.pop_back() {
                Some(node) => garbage.nodes.push(node),
                None => break,
            }
        }
    }
}

/// The process-wide named stores, held weakly so each lives only as long as its backends.
static NAMED: OnceLock<Mutex<HashMap<String, Weak<Store>>>> = OnceLock::new();

/// The live store named `name`, or a new one with `bounds` (a reused store keeps its own bounds).
pub(super) fn named_store(name: &str, bounds: Bounds) -> Arc<Store> {
    let named = NAMED.get_or_init(Default::default);
    let mut named = named.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(store) = named.get(name).and_then(Weak::upgrade) {
        return store;
    }
    named.retain(|_, weak| weak.strong_count() > 0);
    let store = Arc::new(Store::new(bounds));
    named.insert(name.to_owned(), Arc::downgrade(&store));
    store
}
