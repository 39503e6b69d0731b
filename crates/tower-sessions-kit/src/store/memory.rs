//! [`MemoryStore`]: sessions in this process's memory, merged in place.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::{
    create_with_retries, ImmediateLoads, ImmediateSaves, Loaded, SaveRequest, Saved, SessionStore,
    StoreError,
};
use crate::expiry;
use crate::key::SessionKey;
use crate::record::user_of;
use crate::record::Data;
use crate::store::contract::{UserIndex, UserSession};

const NAME: &str = "memory";

/// Random 165-bit keys do not collide; a few attempts cover a broken RNG being noticed.
const CREATE_ATTEMPTS: u32 = 10;

/// Every this many creates in a shard, its expired sessions are swept out, so memory stays bounded by the
/// live sessions without a background task.
const SWEEP_EVERY: u64 = 256;

/// Sessions in the memory of this process: the fastest store, and the simplest — for one process, for
/// tests, and for development. Sessions are lost when the process exits and are not shared between
/// processes (use [`DatabaseStore`](super::DatabaseStore) or [`RedisStore`](super::RedisStore) for that).
///
/// - Each session is kept as its decoded data, so a load is a map lookup and a reference-count increment
///   — no encoding, no decoding, no copy — and is answered at once ([`ImmediateLoads`]).
/// - A save applies the request's changes onto the session in place under the session's own lock, at once
///   ([`ImmediateSaves`]: the layer awaits nothing): two
///   requests writing different keys of one session both keep their writes, and never retry; writing the
///   same key, the last save wins. A session read by a request still in flight is copied once before it is
///   changed (copy on write), so no request sees another's half-applied changes.
/// - Expired sessions are never returned; they are removed when next touched, by
///   [`clear_expired`](SessionStore::clear_expired), and by a sweep of part of the store every few hundred
///   creates, so memory is bounded by the sessions alive (plus at most a few hundred expired per shard).
/// - It keeps a [`UserIndex`]: sessions by user.
///
/// Clones share the sessions.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Sessions by key, in shards so requests of different sessions rarely wait for the same lock.
    shards: Box<[Shard]>,
    /// Picks a session's shard.
    hasher: RandomState,
    /// The sessions of each user, by key. A cache of what the sessions hold: an entry may outlive its
    /// session (expired, cleared), and is checked against it when read.
    users: Mutex<HashMap<String, HashSet<SessionKey>>>,
}

#[derive(Debug, Default)]
struct Shard {
    sessions: RwLock<Sessions>,
    creates: AtomicU64,
}

/// A shard's sessions by key. Hashed with foldhash: the keys are random strings made by
/// [`create`](SessionStore::create), so a key chosen to collide can only be looked up, never stored.
type Sessions = HashMap<SessionKey, Arc<Mutex<Record>>, RandomState>;

/// One stored session.
#[derive(Debug)]
struct Record {
    /// Shared with the requests that loaded it; a save copies it first if they still hold it.
    data: Arc<Data>,
    expires: SystemTime,
    /// Deleted while a save was waiting for this record's lock: the save must not resurrect it.
    removed: bool,
}

impl Default for Inner {
    fn default() -> Self {
        let shards = std::thread::available_parallelism()
            .map_or(8, |n| n.get() * 4)
            .next_power_of_two();
        Inner {
            shards: (0..shards).map(|_| Shard::default()).collect(),
            hasher: RandomState::default(),
            users: Mutex::default(),
        }
    }
}

/// A lock whose holder panicked is still consistent here (every change is made by one assignment or
/// one map operation), so poisoning is ignored rather than turned into a panic of every later request.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// How many sessions are held, expired ones not yet removed included.
    pub fn len(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|shard| read(shard).len())
            .sum()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, key: &SessionKey) -> &Shard {
        // The shard count is a power of two.
        let index = self.inner.hasher.hash_one(key) as usize & (self.inner.shards.len() - 1);
        &self.inner.shards[index]
    }

    /// `f` of the record under `key` (live or not), locked; `None` if there is none. The record is used
    /// where it lies, under its shard's read lock, instead of through a clone of its `Arc`: one lookup
    /// of a busy server touches memory the other cores also write, and each reference count changed
    /// there is one more cache line taken from them.
    fn with_record<T>(&self, key: &SessionKey, f: impl FnOnce(&mut Record) -> T) -> Option<T> {
        let sessions = read(self.shard(key));
        let mut record = lock(sessions.get(key)?);
        Some(f(&mut record))
    }

    /// The live data under `key`; an expired record is removed.
    fn live(&self, key: &SessionKey) -> Option<Arc<Data>> {
        let now = SystemTime::now();
        let data = self.with_record(key, |record| {
            (record.expires > now && !record.removed).then(|| Arc::clone(&record.data))
        })?;
        if data.is_none() {
            self.remove_if_expired(key, now);
        }
        data
    }

    fn remove_if_expired(&self, key: &SessionKey, now: SystemTime) {
        let mut sessions = write(self.shard(key));
        let expired = sessions
            .get(key)
            .is_some_and(|record| lock(record).expires <= now);
        if expired {
            if let Some(record) = sessions.remove(key) {
                lock(&record).removed = true;
            }
        }
    }

    fn index_user(&self, user: &str, key: &SessionKey) {
        lock(&self.inner.users)
            .entry(user.to_owned())
            .or_default()
            .insert(key.clone());
    }

    fn unindex_user(&self, user: &str, key: &SessionKey) {
        let mut users = lock(&self.inner.users);
        if let Some(keys) = users.get_mut(user) {
            keys.remove(key);
            if keys.is_empty() {
                users.remove(user);
            }
        }
    }

    /// A save: the changes applied in place under the session's lock, one lookup, no encoding.
    fn apply(&self, key: &SessionKey, request: SaveRequest<'_>) -> Result<Saved, StoreError> {
        let now = SystemTime::now();
        let applied = self.with_record(key, |record| {
            // Django counts an expired but present record as present; it is gone once removed.
            if record.removed {
                return None;
            }
            let user_before = request
                .changes
                .cleared()
                .then(|| user_of(&record.data).map(str::to_owned))
                .flatten();
            let data = Arc::make_mut(&mut record.data);
            request.changes.apply_to(data);
            record.expires = expiry::date(data, now, request.cookie_age);
            Some((Arc::clone(&record.data), user_before, record.expires <= now))
        });
        let Some((merged, user_before, ended)) = applied.flatten() else {
            return Err(StoreError::Gone);
        };
        if let Some(user) = user_before {
            if user_of(&merged) != Some(user.as_str()) {
                self.unindex_user(&user, key);
            }
        }
        if ended {
            // A custom expiry already in the past: the session ends now.
            self.remove(key);
        }
        Ok(Saved {
            new_key: None,
            merged: Some(merged),
        })
    }

    /// Removes the record under `key`; its data, if there was one.
    fn remove(&self, key: &SessionKey) -> Option<Arc<Data>> {
        let record = write(self.shard(key)).remove(key)?;
        let mut record = lock(&record);
        record.removed = true;
        if let Some(user) = user_of(&record.data) {
            self.unindex_user(user, key);
        }
        Some(Arc::clone(&record.data))
    }

    /// Every few hundred creates in a shard, removes its expired sessions.
    fn sweep_now_and_then(&self, shard: &Shard) {
        if shard.creates.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep(shard, SystemTime::now());
        }
    }

    /// Removes the expired sessions of `shard`; how many.
    fn sweep(&self, shard: &Shard, now: SystemTime) -> u64 {
        let mut expired = Vec::new();
        write(shard).retain(|key, record| {
            let mut record = lock(record);
            let live = record.expires > now;
            if !live {
                record.removed = true;
                if let Some(user) = user_of(&record.data) {
                    expired.push((user.to_owned(), key.clone()));
                }
            }
            live
        });
        let removed = expired.len();
        for (user, key) in expired {
            self.unindex_user(&user, &key);
        }
        removed as u64
    }
}

fn read(shard: &Shard) -> std::sync::RwLockReadGuard<'_, Sessions> {
    shard
        .sessions
        .read()
        .unwrap_or_else(PoisonError::into_inner)
}

fn write(shard: &Shard) -> std::sync::RwLockWriteGuard<'_, Sessions> {
    shard
        .sessions
        .write()
        .unwrap_or_else(PoisonError::into_inner)
}

#[async_trait]
impl SessionStore for MemoryStore {
    fn name(&self) -> &'static str {
        NAME
    }

    /// No I/O, nothing to wait for.
    fn deadline(&self) -> Option<Duration> {
        None
    }

    fn immediate(&self) -> Option<&dyn ImmediateLoads> {
        Some(self)
    }

    fn immediate_saves(&self) -> Option<&dyn ImmediateSaves> {
        Some(self)
    }

    fn users(&self) -> Option<&dyn UserIndex> {
        Some(self)
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>, StoreError> {
        Ok(self.live(key).map(Loaded::shared))
    }

    async fn create(&self, data: &Data, cookie_age: Duration) -> Result<SessionKey, StoreError> {
        let expires = expiry::date(data, SystemTime::now(), cookie_age);
        create_with_retries(NAME, CREATE_ATTEMPTS, |key| async move {
            let shard = self.shard(&key);
            let inserted = {
                let mut sessions = write(shard);
                match sessions.entry(key.clone()) {
                    std::collections::hash_map::Entry::Occupied(_) => false,
                    std::collections::hash_map::Entry::Vacant(vacant) => {
                        vacant.insert(Arc::new(Mutex::new(Record {
                            data: Arc::new(data.clone()),
                            expires,
                            removed: false,
                        })));
                        true
                    }
                }
            };
            if inserted {
                if let Some(user) = user_of(data) {
                    self.index_user(user, &key);
                }
                self.sweep_now_and_then(shard);
            }
            Ok(inserted)
        })
        .await
    }

    /// Applies the changes in place under the session's lock: one lookup, no encoding.
    async fn save(&self, key: &SessionKey, request: SaveRequest<'_>) -> Result<Saved, StoreError> {
        self.apply(key, request)
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        self.remove(key);
        Ok(())
    }

    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        Ok(self.with_record(key, |_| ()).is_some())
    }

    async fn clear_expired(&self) -> Result<u64, StoreError> {
        let now = SystemTime::now();
        Ok(self
            .inner
            .shards
            .iter()
            .map(|shard| self.sweep(shard, now))
            .sum())
    }
}

impl ImmediateLoads for MemoryStore {
    fn load_now(&self, key: &SessionKey) -> Option<Result<Option<Loaded>, StoreError>> {
        Some(Ok(self.live(key).map(Loaded::shared)))
    }
}

impl ImmediateSaves for MemoryStore {
    fn save_now(
        &self,
        key: &SessionKey,
        request: SaveRequest<'_>,
    ) -> Option<Result<Saved, StoreError>> {
        Some(self.apply(key, request))
    }
}

#[async_trait]
impl UserIndex for MemoryStore {
    async fn sessions_of(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        let keys: Vec<SessionKey> = match lock(&self.inner.users).get(user) {
            Some(keys) => keys.iter().cloned().collect(),
            None => return Ok(Vec::new()),
        };
        let now = SystemTime::now();
        let mut sessions = Vec::with_capacity(keys.len());
        for key in keys {
            let found = self
                .with_record(&key, |record| {
                    let belongs = user_of(&record.data) == Some(user);
                    (belongs && !record.removed && record.expires > now).then_some(record.expires)
                })
                .flatten();
            match found {
                Some(expires) => sessions.push(UserSession::new(key, expires)),
                // Expired, deleted or cleared since it was indexed.
                None => self.unindex_user(user, &key),
            }
        }
        sessions.sort_by_key(|session| session.expires);
        Ok(sessions)
    }

    async fn revoke(&self, user: &str, key: &SessionKey) -> Result<bool, StoreError> {
        let belongs = self
            .with_record(key, |record| user_of(&record.data) == Some(user))
            .unwrap_or(false);
        Ok(belongs && self.remove(key).is_some())
    }

    async fn revoke_all(&self, user: &str, except: Option<&SessionKey>) -> Result<u64, StoreError> {
        let mut revoked = 0;
        for session in self.sessions_of(user).await? {
            if Some(&session.key) != except && self.revoke(user, &session.key).await? {
                revoked += 1;
            }
        }
        Ok(revoked)
    }
}
