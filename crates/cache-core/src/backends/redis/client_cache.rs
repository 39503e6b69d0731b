//! The client-side cache of a [`RedisBackend`](super::RedisBackend): values read from Redis kept in process
//! memory and kept coherent by the server
//! ([server-assisted client-side caching](https://redis.io/docs/latest/develop/reference/client-side-caching/)).
//!
//! # How it stays coherent
//!
//! Every operation of a backend with this cache (but [`write_pipeline`](super::RedisBackend::write_pipeline))
//! goes through **one tracked connection**: RESP3, with
//! `CLIENT TRACKING ON`, so the server remembers the keys this connection read and sends an invalidation
//! push when any client changes, expires or deletes one of them. redis-rs hands the pushes to
//! [`LocalCache`] from the connection's reader, in stream order with the replies.
//!
//! A read that misses first **reserves** the key with a fresh token, then sends `GET` (or, for
//! [`read_through`](super::RedisBackend::read_through), its own read command, whose decoded reply is
//! kept) and `PTTL`, so the local copy expires with the key. The reply is kept only if the reservation is still there when it
//! arrives. An invalidation removes whatever the key holds — value or reservation — so:
//!
//! - a write that happens after the server answered the `GET` sends its invalidation after that reply on
//!   the same connection: it removes the value, or the reservation before the value is kept;
//! - a write that happened before the `GET` is already in the value read.
//!
//! Either way no value older than the last invalidation received can be answered (the race the Redis
//! documentation warns of, where a stale reply lands after its invalidation, is what the reservation is for).
//!
//! **Own writes** go through the same connection followed by a `PING`: Redis sends a client the
//! invalidations of its own command just after that command's reply, so the `PING`'s reply comes after them
//! and a write returns only once this process's copy is gone. Reads need no fence, and send none.
//!
//! **Writes on another connection** ([`write_pipeline`](super::RedisBackend::write_pipeline): the session
//! store's saves, which would otherwise all queue on the one tracked connection) are followed by a local
//! **forget** of the keys written, once their replies are in (or failed): it removes the value or the
//! reservation. A read that reserved before the forget has its reply discarded, whether Redis answered it
//! before or after the write; a read that reserves after it is sent after the write was applied. So the
//! process reads its own writes at once, and the write's invalidation, arriving on the tracked connection
//! whenever it does, finds nothing older to remove.
//!
//! **A closed connection** (redis-rs reports it as a disconnection push, or an operation fails on it) empties
//! and closes its cache at once: no invalidation could reach it any more. The next operation opens a new
//! tracked connection with an empty cache. A connection that silently stops receiving (a network partition
//! without a reset) can serve what it holds for at most the cache's TTL.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::aio::{AsyncPushSender, MultiplexedConnection, SendError};
use redis::{
    AsyncConnectionConfig, Client, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind,
    RedisError, Value,
};

use crate::error::{Error, Result};

use super::errors::backend_error;

/// The settings of a client-side cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ClientCacheSettings {
    /// The most keys held (values, misses and reads under way).
    pub(super) max_entries: usize,
    /// The most value bytes held.
    pub(super) max_bytes: usize,
    /// The longest a value is answered locally.
    pub(super) ttl: Duration,
}

impl ClientCacheSettings {
    /// Default total size of the values held.
    pub(super) const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;
    /// Default longest local life of a value.
    pub(super) const DEFAULT_TTL: Duration = Duration::from_secs(60);
}

/// A reply decoded by the code that read it ([`RedisBackend::read_through`](super::RedisBackend::read_through)):
/// kept as the decoded value, so a hit costs no decoding. `None`: the key did not exist.
pub(super) type Decoded = Option<Arc<dyn Any + Send + Sync>>;

/// What a key holds locally.
#[derive(Debug)]
enum Slot {
    /// A read is under way; its reply is kept only while this token is here.
    Reserved(u64),
    /// The value of a `GET` (`None`: the key did not exist) as of the last read, until `expires`.
    Held {
        value: Option<Bytes>,
        expires: Instant,
    },
    /// A decoded reply of another read command, standing for `size` bytes, until `expires`.
    Decoded {
        value: Decoded,
        size: usize,
        expires: Instant,
    },
}

impl Slot {
    /// The bytes this slot counts against the cache's size.
    fn size(&self) -> usize {
        match self {
            Slot::Reserved(_) => 0,
            Slot::Held { value, .. } => value.as_ref().map_or(0, Bytes::len),
            Slot::Decoded { size, .. } => *size,
        }
    }

    /// Whether the slot holds a value that expired by `now`.
    fn expired(&self, now: Instant) -> bool {
        match self {
            Slot::Reserved(_) => false,
            Slot::Held { expires, .. } | Slot::Decoded { expires, .. } => *expires <= now,
        }
    }
}

#[derive(Debug, Default)]
struct Slots {
    by_key: HashMap<Box<str>, Slot>,
    /// Bytes of the values held.
    bytes: usize,
    next_token: u64,
}

impl Slots {
    fn remove(&mut self, key: &str) {
        if let Some(slot) = self.by_key.remove(key) {
            self.bytes -= slot.size();
        }
    }

    fn clear(&mut self) {
        self.by_key.clear();
        self.bytes = 0;
    }

    /// Removes arbitrary keys (the map's own order, which its random hashing spreads) until one more key and
    /// `incoming` more bytes fit.
    fn make_room(&mut self, settings: &ClientCacheSettings, incoming: usize) {
        while !self.by_key.is_empty()
            && (self.by_key.len() >= settings.max_entries
                || self.bytes + incoming > settings.max_bytes)
        {
            let Some(victim) = self.by_key.keys().next().cloned() else {
                break;
            };
            self.remove(&victim);
        }
    }
}

/// The values read through one tracked connection, under made keys (without the backend's namespace).
#[derive(Debug)]
pub(super) struct LocalCache {
    namespace: String,
    settings: ClientCacheSettings,
    /// Read-locked on the hit path (many threads at once), write-locked to change anything.
    slots: RwLock<Slots>,
    open: AtomicBool,
}

impl LocalCache {
    fn new(namespace: String, settings: ClientCacheSettings) -> Self {
        LocalCache {
            namespace,
            settings,
            slots: RwLock::new(Slots::default()),
            open: AtomicBool::new(true),
        }
    }

    fn slots(&self) -> std::sync::RwLockWriteGuard<'_, Slots> {
        self.slots.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the connection behind this cache is still delivering invalidations.
    pub(super) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// The value held for `key` (`Some(None)`: known missing), unless there is none or it expired.
    pub(super) fn lookup(&self, key: &str) -> Option<Option<Bytes>> {
        self.find(key, |slot| match slot {
            Slot::Held { value, .. } => Some(value.clone()),
            _ => None,
        })
    }

    /// The decoded reply held for `key`, unless there is none or it expired.
    pub(super) fn lookup_decoded(&self, key: &str) -> Option<Decoded> {
        self.find(key, |slot| match slot {
            Slot::Decoded { value, .. } => Some(value.clone()),
            _ => None,
        })
    }

    /// `answer` of the live slot of `key`; an expired one is dropped.
    fn find<T>(&self, key: &str, answer: impl FnOnce(&Slot) -> Option<T>) -> Option<T> {
        if !self.is_open() {
            return None;
        }
        let now = Instant::now();
        {
            let slots = self.slots.read().unwrap_or_else(PoisonError::into_inner);
            let slot = slots.by_key.get(key)?;
            if !slot.expired(now) {
                return answer(slot);
            }
        }
        // Expired: drop it, unless it was replaced meanwhile.
        let mut slots = self.slots();
        if slots.by_key.get(key).is_some_and(|slot| slot.expired(now)) {
            slots.remove(key);
        }
        None
    }

    /// Reserves `key` for a read about to be sent; the token goes to [`fill`](Self::fill).
    pub(super) fn reserve(&self, key: &str) -> u64 {
        let mut slots = self.slots();
        slots.next_token += 1;
        let token = slots.next_token;
        slots.remove(key);
        let settings = self.settings;
        slots.make_room(&settings, 0);
        slots.by_key.insert(key.into(), Slot::Reserved(token));
        token
    }

    /// Keeps what the read reserved with `token` found, if nothing invalidated the key since (and the value
    /// fits); `pttl` is the key's time to live in milliseconds as the server reported it (negative: none).
    pub(super) fn fill(
        &self,
        key: &str,
        token: u64,
        value: Option<Bytes>,
        pttl: i64,
        sent_at: Instant,
    ) {
        let expires = self.expiry(pttl, sent_at);
        self.keep(key, token, Slot::Held { value, expires });
    }

    /// [`fill`](Self::fill) with a decoded reply standing for `size` bytes.
    pub(super) fn fill_decoded(
        &self,
        key: &str,
        token: u64,
        value: Decoded,
        size: usize,
        pttl: i64,
        sent_at: Instant,
    ) {
        let expires = self.expiry(pttl, sent_at);
        self.keep(
            key,
            token,
            Slot::Decoded {
                value,
                size,
                expires,
            },
        );
    }

    /// Until when a value read at `sent_at` may be answered locally: the cache's TTL, or the key's own
    /// (`pttl` ms, negative for none) if sooner. Counted from when the read was sent, so the copy never
    /// outlives the key.
    fn expiry(&self, pttl: i64, sent_at: Instant) -> Instant {
        let mut ttl = self.settings.ttl;
        if let Ok(left) = u64::try_from(pttl) {
            ttl = ttl.min(Duration::from_millis(left));
        }
        sent_at + ttl
    }

    /// Puts `slot` in place of the reservation `token` of `key`, if it is still there (and fits).
    fn keep(&self, key: &str, token: u64, slot: Slot) {
        let size = slot.size();
        let mut slots = self.slots();
        if !self.is_open()
            || !matches!(slots.by_key.get(key), Some(Slot::Reserved(t)) if *t == token)
        {
            return;
        }
        slots.by_key.remove(key);
        if size > self.settings.max_bytes {
            return;
        }
        let settings = self.settings;
        slots.make_room(&settings, size);
        slots.bytes += size;
        slots.by_key.insert(key.into(), slot);
    }

    /// Drops a reservation whose read failed.
    pub(super) fn abandon(&self, key: &str, token: u64) {
        let mut slots = self.slots();
        if matches!(slots.by_key.get(key), Some(Slot::Reserved(t)) if *t == token) {
            slots.by_key.remove(key);
        }
    }

    /// Drops what `key` holds, value or reservation: the caller has just changed it on another connection.
    pub(super) fn forget(&self, key: &str) {
        self.slots().remove(key);
    }

    /// Empties the cache and refuses anything more: its connection can no longer be trusted.
    pub(super) fn close(&self) {
        self.open.store(false, Ordering::Release);
        self.slots().clear();
    }

    /// Applies a server push: an invalidation of some keys, of everything (after `FLUSHDB`), or the close of
    /// the connection.
    fn apply(&self, push: &PushInfo) {
        match push.kind {
            PushKind::Disconnection => self.close(),
            PushKind::Invalidate => match push.data.first() {
                Some(Value::Array(keys)) => {
                    let mut slots = self.slots();
                    for key in keys {
                        let stored: &[u8] = match key {
                            Value::BulkString(bytes) => bytes,
                            Value::SimpleString(text) => text.as_bytes(),
                            _ => continue,
                        };
                        let made = stored
                            .strip_prefix(self.namespace.as_bytes())
                            .and_then(|made| std::str::from_utf8(made).ok());
                        if let Some(made) = made {
                            slots.remove(made);
                        }
                    }
                }
                // Anything else (nil after a flush, or a shape this code does not know): drop everything.
                _ => self.slots().clear(),
            },
            _ => {}
        }
    }
}

/// Hands a connection's pushes to its [`LocalCache`]; called by redis-rs from the connection's reader.
struct Pushes(Arc<LocalCache>);

impl AsyncPushSender for Pushes {
    fn send(&self, info: PushInfo) -> std::result::Result<(), SendError> {
        self.0.apply(&info);
        Ok(())
    }
}

/// A tracked connection and the cache its invalidations keep.
pub(super) struct Tracked {
    pub(super) connection: MultiplexedConnection,
    pub(super) local: Arc<LocalCache>,
}

/// The client-side cache of one backend: the current tracked connection, opened on first use and again after
/// it closes.
pub(super) struct ClientCache {
    client: Client,
    config: AsyncConnectionConfig,
    namespace: String,
    settings: ClientCacheSettings,
    current: RwLock<Option<Arc<Tracked>>>,
    /// Held while connecting, so concurrent operations open one connection, not one each.
    connecting: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ClientCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCache")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ClientCache {
    /// The cache for a server at `url` (its protocol is switched to RESP3, which pushes need).
    pub(super) fn new(
        url: &str,
        namespace: String,
        settings: ClientCacheSettings,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> std::result::Result<Self, RedisError> {
        let info = url.into_connection_info()?;
        let resp3 = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = Client::open(info.set_redis_settings(resp3))?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            .set_response_timeout(Some(response_timeout));
        Ok(ClientCache {
            client,
            config,
            namespace,
            settings,
            current: RwLock::new(None),
            connecting: tokio::sync::Mutex::new(()),
        })
    }

    /// The current tracked connection, if it is open.
    fn open_current(&self) -> Option<Arc<Tracked>> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        current
            .as_ref()
            .filter(|tracked| tracked.local.is_open())
            .cloned()
    }

    /// The value held locally for `key`, without I/O.
    pub(super) fn lookup(&self, key: &str) -> Option<Option<Bytes>> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        current.as_ref()?.local.lookup(key)
    }

    /// The decoded reply held locally for `key`, without I/O.
    pub(super) fn lookup_decoded(&self, key: &str) -> Option<Decoded> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        current.as_ref()?.local.lookup_decoded(key)
    }

    /// Drops the local copy of `key` (see [`LocalCache::forget`]).
    pub(super) fn forget(&self, key: &str) {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(tracked) = current.as_ref() {
            tracked.local.forget(key);
        }
    }

    /// The open tracked connection, opening one (with an empty cache) if there is none.
    pub(super) async fn tracked(&self) -> Result<Arc<Tracked>> {
        if let Some(tracked) = self.open_current() {
            return Ok(tracked);
        }
        // Boxed: the connect future is large (several KB), and every caller's future would carry it
        // inline, copied whenever it moves, though it is needed only when a connection is (re)made.
        Box::pin(self.connect()).await
    }

    /// Opens the tracked connection (one caller at a time; the others find it open).
    async fn connect(&self) -> Result<Arc<Tracked>> {
        let _connecting = self.connecting.lock().await;
        if let Some(tracked) = self.open_current() {
            return Ok(tracked);
        }
        let local = Arc::new(LocalCache::new(self.namespace.clone(), self.settings));
        let config = self
            .config
            .clone()
            .set_push_sender(Pushes(Arc::clone(&local)));
        let mut connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(backend_error)?;
        redis::cmd("CLIENT")
            .arg("TRACKING")
            .arg("ON")
            .query_async::<()>(&mut connection)
            .await
            .map_err(|error| {
                Error::backend(
                    super::NAME,
                    format!(
                        "the client-side cache needs CLIENT TRACKING (Redis 6 or later): {error}"
                    ),
                )
            })?;
        let tracked = Arc::new(Tracked { connection, local });
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&tracked));
        Ok(tracked)
    }
}

#[cfg(test)]
mod tests;
