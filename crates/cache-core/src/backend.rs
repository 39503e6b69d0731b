//! The contract between the [`Cache`](crate::Cache) handle and a storage engine.
//!
//! A backend stores **bytes under already-made keys** and knows nothing of prefixes, versions, default
//! timeouts or serialization: the `Cache` owns all policy, so every backend behaves the same way and a new
//! backend is only storage code. Each expiry reaches the backend resolved to an absolute [`Expiry`].
//!
//! The trait is object-safe (`Arc<dyn CacheBackend>`) through `async-trait`: one boxed future per call, which
//! is noise next to a network round trip and measured against raw moka for the memory backend
//! (`benches/cache_ops.rs`).

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;

use crate::Result;

/// When an entry stops being visible.
///
/// Wall-clock based ([`SystemTime`]) so that entries written by one process expire correctly for another
/// (file, database, Redis and memcached backends are shared between processes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expiry {
    /// The entry never expires (Django's `timeout=None`).
    Never,
    /// The entry expires at this instant; it is invisible from then on.
    At(SystemTime),
}

impl Expiry {
    /// An expiry `ttl` from now.
    pub fn after(ttl: Duration) -> Self {
        SystemTime::now()
            .checked_add(ttl)
            .map_or(Expiry::Never, Expiry::At)
    }

    /// Whether the entry is expired at `now` (expired exactly at its instant, like Django's locmem `exp <= now`).
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        match self {
            Expiry::Never => false,
            Expiry::At(at) => *at <= now,
        }
    }

    /// Whether the entry is expired now. Reads the clock only for entries that can expire.
    pub fn is_expired(&self) -> bool {
        match self {
            Expiry::Never => false,
            Expiry::At(_) => self.is_expired_at(SystemTime::now()),
        }
    }

    /// Time left from `now`: `None` for never, `Some(ZERO)` when already expired.
    pub fn remaining_at(&self, now: SystemTime) -> Option<Duration> {
        match self {
            Expiry::Never => None,
            Expiry::At(at) => Some(at.duration_since(now).unwrap_or(Duration::ZERO)),
        }
    }

    /// Time left from now: `None` for never, `Some(ZERO)` when already expired.
    pub fn remaining(&self) -> Option<Duration> {
        self.remaining_at(SystemTime::now())
    }

    /// Milliseconds since the Unix epoch, or `None` for never. Instants before the epoch clamp to 0.
    pub fn as_unix_millis(&self) -> Option<i64> {
        match self {
            Expiry::Never => None,
            Expiry::At(at) => Some(
                at.duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            ),
        }
    }

    /// The inverse of [`Expiry::as_unix_millis`]; negative values clamp to the epoch.
    pub fn from_unix_millis(millis: Option<i64>) -> Self {
        match millis {
            None => Expiry::Never,
            Some(ms) => {
                let ms = u64::try_from(ms).unwrap_or(0);
                SystemTime::UNIX_EPOCH
                    .checked_add(Duration::from_millis(ms))
                    .map_or(Expiry::Never, Expiry::At)
            }
        }
    }
}

/// What made keys a backend can take.
///
/// The `Cache` checks every made key against these limits *before* calling the backend and returns
/// [`Error::InvalidKey`](crate::Error::InvalidKey) for a key the backend would fail on. Keys that break only
/// memcached's portability rules (over 250 characters, spaces or control characters) are logged as a
/// `tracing` warning, like Django's `CacheKeyWarning`, on backends that accept them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyLimits {
    /// The longest made key the backend accepts, in characters; `None` for no limit.
    pub max_chars: Option<usize>,
    /// Whether spaces, control characters and DEL make the backend fail.
    pub rejects_control_characters: bool,
}

impl KeyLimits {
    /// No hard limit: every key is accepted (portability problems are only warned about).
    pub const NONE: KeyLimits = KeyLimits {
        max_chars: None,
        rejects_control_characters: false,
    };
}

impl Default for KeyLimits {
    fn default() -> Self {
        KeyLimits::NONE
    }
}

/// A storage engine for the cache: bytes under made keys.
///
/// Implementations must be safe to call concurrently. Contract, checked by the conformance suite
/// (`cache_core::testing`, feature `testing`):
///
/// - An entry whose [`Expiry`] has passed is invisible to every operation, as if absent.
/// - The `Cache` never passes an expiry that has already passed to `set`, `set_many`, `add` or `touch`
///   (Django's "zero or negative timeout" is handled above the backend), but a backend must still behave if
///   one arrives late.
/// - Values are returned byte-for-byte as stored.
/// - Integers written by the `Cache` are decimal ASCII (`b"42"`), which is what `incr` works on.
#[async_trait]
pub trait CacheBackend: Send + Sync + 'static {
    /// A short name for logs and errors (`"memory"`, `"file"`, `"sqlite"`, …).
    fn name(&self) -> &'static str;

    /// The keys this backend can store; see [`KeyLimits`].
    fn key_limits(&self) -> KeyLimits {
        KeyLimits::NONE
    }

    /// The value under `key`, or `None` when it is missing or expired.
    async fn get(&self, key: &str) -> Result<Option<Bytes>>;

    /// The reads this backend answers without I/O, if any (see [`ImmediateReads`]). Optional: a backend
    /// that always does I/O leaves the default, and callers await [`get`](CacheBackend::get).
    fn immediate(&self) -> Option<&dyn ImmediateReads> {
        None
    }

    /// The values under `keys`, in the same order (`None` for each missing one). The default makes one call
    /// per key; backends with a multi-get override it with a single round trip.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.get(key).await?);
        }
        Ok(values)
    }

    /// Stores `value` under `key` unconditionally.
    async fn set(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<()>;

    /// Stores every entry; returns the keys that could not be stored (empty unless the backend can fail
    /// per key, like memcached). The default makes one call per entry.
    async fn set_many(&self, entries: Vec<(String, Bytes)>, expiry: Expiry) -> Result<Vec<String>> {
        for (key, value) in entries {
            self.set(&key, value, expiry).await?;
        }
        Ok(Vec::new())
    }

    /// Stores `value` only if `key` is missing or expired; `true` if it stored. Must be atomic where the
    /// engine allows it.
    async fn add(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<bool>;

    /// Removes `key`; `true` if a live entry was removed.
    async fn delete(&self, key: &str) -> Result<bool>;

    /// Removes every key. The default makes one call per key.
    async fn delete_many(&self, keys: &[String]) -> Result<()> {
        for key in keys {
            self.delete(key).await?;
        }
        Ok(())
    }

    /// Sets a new expiry on a live entry; `false` if it is missing or expired.
    async fn touch(&self, key: &str, expiry: Expiry) -> Result<bool>;

    /// Adds `delta` to the decimal integer stored under `key` and returns the new value, keeping the entry's
    /// expiry. [`Error::KeyNotFound`](crate::Error::KeyNotFound) when missing,
    /// [`Error::NotNumeric`](crate::Error::NotNumeric) when the value is not an integer.
    async fn incr(&self, key: &str, delta: i64) -> Result<i64>;

    /// Whether a live entry exists under `key`.
    async fn has_key(&self, key: &str) -> Result<bool>;

    /// Replaces the live value under `key` with `new` (and its expiry with `at`) **only if** it is
    /// byte-for-byte `old`, atomically; `true` if it replaced. `false` when the entry is missing,
    /// expired or holds something else: the caller re-reads and decides (retry or give up).
    ///
    /// This is the compare-and-swap that read-modify-write users build on without a lock, such as
    /// `tower-sessions-kit`'s `CacheStore`, which merges one request's session changes into the stored
    /// session so that concurrent requests don't lose each other's writes. Optional: the default returns
    /// [`Error::Unsupported`](crate::Error::Unsupported), and callers fall back to what they can do without
    /// it. Implemented by the memory backend (under its store's lock), the Redis backend (a
    /// `GET`-compare-`SET` script), the database backend (one `UPDATE … WHERE value = expected`), the
    /// memcached backend (its CAS token: `mg` then `ms C<token>`) and the file backend (under its
    /// directory's `flock`).
    async fn compare_and_set(&self, key: &str, old: &[u8], new: Bytes, at: Expiry) -> Result<bool> {
        let _ = (key, old, new, at);
        Err(crate::Error::Unsupported {
            backend: self.name(),
            operation: "compare_and_set",
        })
    }

    /// Removes every entry of this cache, and only of this cache (never other data in the same directory,
    /// database or server).
    async fn clear(&self) -> Result<()>;

    /// Releases connections or handles. The cache may still be used afterwards (backends reconnect).
    async fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// Reads a backend can answer without I/O: an in-process store (the memory backend) or a client-side cache
/// (the Redis backend's tracked reads). The one optional capability of a [`CacheBackend`], offered through
/// [`CacheBackend::immediate`]; callers reach it through [`RawCache`](crate::RawCache).
///
/// Every answer must agree with the backend's `get`.
pub trait ImmediateReads: Send + Sync {
    /// `get` without a future: `None` means "not available synchronously, call `get`". Tried first on
    /// reads, which saves the future's allocation on the hottest path of an in-process cache.
    fn get_now(&self, key: &str) -> Option<Result<Option<Bytes>>>;

    /// [`get_now`](ImmediateReads::get_now) with the entry's expiry, for callers that keep what they derive
    /// from a value while the [`generation`](ImmediateReads::generation) is unchanged: they must stop using
    /// it at the expiry. `None` when not available synchronously (the default).
    fn get_now_with_expiry(&self, key: &str) -> Option<Result<Option<(Bytes, Expiry)>>> {
        let _ = key;
        None
    }

    /// A number that changes whenever a value of this backend is written, replaced or deleted through it
    /// (`set`, `add`, `delete`, `touch`, `incr`, `compare_and_set`, `clear`), or `None` when the backend
    /// cannot tell (a server other clients write to). A caller that read a value at generation `g` and sees
    /// `g` again knows nothing has replaced or removed it since, so it may reuse what it derived from that
    /// value (the page cache reuses a decoded page) without reading it again. The value may still have
    /// expired (the caller checks its own expiry) or been evicted for room, which makes it gone, never
    /// wrong. Read the generation **before** reading the value.
    fn generation(&self) -> Option<u64> {
        None
    }
}

/// How many keys one deadline covers in a multi-key operation (`get_many`, `set_many`, `delete_many`).
///
/// A server backend's deadline ([`socket_timeout`](crate::backends) and the SQL backend's operation timeout,
/// 1 s by default) is for one key's worth of work. A call over many keys gets one deadline per started
/// thousand keys: 1 to 1000 keys one deadline, 12 000 keys twelve. So a large batch on a busy server is
/// not cut off half done, while a hung server is still noticed within a bounded time that grows with the
/// work asked for, never a hang. Callers that want one bound for a whole batch split the batch.
pub const KEYS_PER_DEADLINE: usize = 1000;

/// The deadline of an operation over `keys` keys, when one key's is `deadline` (see [`KEYS_PER_DEADLINE`]).
pub fn deadline_for_keys(deadline: Duration, keys: usize) -> Duration {
    let started_thousands = keys.saturating_sub(1) / KEYS_PER_DEADLINE + 1;
    deadline.saturating_mul(u32::try_from(started_thousands).unwrap_or(u32::MAX))
}

/// Parses a stored value as the decimal integer `incr` works on.
///
/// Shared by the backends that implement `incr` themselves, so they agree on what "numeric" means.
pub fn parse_integer(value: &[u8]) -> Option<i64> {
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

/// `current + delta`, with the errors `incr` documents.
pub fn checked_increment(key: &str, current: &[u8], delta: i64) -> Result<i64> {
    let current = parse_integer(current).ok_or_else(|| crate::Error::NotNumeric {
        key: key.to_owned(),
    })?;
    current
        .checked_add(delta)
        .ok_or_else(|| crate::Error::Overflow {
            key: key.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_deadline_per_started_thousand_keys() {
        let second = Duration::from_secs(1);
        assert_eq!(deadline_for_keys(second, 0), second);
        assert_eq!(deadline_for_keys(second, 1), second);
        assert_eq!(deadline_for_keys(second, 1000), second);
        assert_eq!(deadline_for_keys(second, 1001), 2 * second);
        assert_eq!(deadline_for_keys(second, 12_000), 12 * second);
        assert_eq!(deadline_for_keys(Duration::MAX, 5000), Duration::MAX);
    }
}
