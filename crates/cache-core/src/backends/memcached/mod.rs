//! [`MemcachedBackend`]: one or several memcached servers, keys spread by consistent hashing.
//!
//! # The client: async-memcached
//!
//! The backend wraps [async-memcached](https://docs.rs/async-memcached) (Shopify's Tokio client), chosen
//! over the other Rust clients because it is maintained, speaks memcached's **meta protocol** (`mg`, `ms`,
//! `md`, `ma`: add, CAS, TTL read-back and touch-on-read in one command, pipelined multi-get and
//! multi-set in one round trip) as well as the text protocol, validates keys before writing them (no
//! command injection through a key), and closes its connection when an operation is cancelled half-way
//! instead of letting the unread reply answer the next request — which is what makes a per-operation
//! timeout safe. `memcache-async` speaks only the text protocol and has no multi-set; `memcache` is a
//! blocking client. What async-memcached leaves out — several servers, pooling, timeouts, reconnection —
//! is done here: one deadpool pool per server, connections discarded when they fail, and the same
//! deadline and retry rules as the Redis backend.
//!
//! # Behaviour
//!
//! - **Servers**: `memcached://h1:11211,h2:11211` (`,` or `;`, default port 11211; TCP over IPv4, the
//!   only transport async-memcached opens for a `host:port`). A key lives on the
//!   server that ketama consistent hashing chooses: 160 points per server on a 32-bit circle from MD5,
//!   the layout libmemcached, pylibmc and spymemcached use, so adding or removing one of `n` servers moves
//!   only about `1/n` of the keys and other ketama clients with the same server list agree on placement.
//!   Multi-key calls go to each server once, concurrently (`get_many` is one pipelined `mg` batch per
//!   server, `set_many` one `ms` batch per server, `delete_many` one batch of deletes per server).
//! - **Values** are binary-safe (length-prefixed) and at most 1 MiB by default (memcached's item size).
//!   A larger value is [`Error::ValueTooLarge`], and, as in Django, a failed `set` **deletes** the old
//!   value so a stale one never stays visible; `set_many` returns such keys as failed (and deletes them).
//! - **Keys**: at most 250 bytes, no spaces or control characters ([`KeyLimits`]); the `Cache` rejects
//!   longer keys with [`Error::InvalidKey`] before a request is sent (a key of 250 characters but more
//!   than 250 UTF-8 bytes is rejected here, since memcached counts bytes).
//! - **Expiry**: whole seconds, rounded up (a sub-second timeout lives 1 s); up to 30 days relative, beyond
//!   that an absolute Unix time, as memcached requires; never-expiring entries use 0.
//! - **`compare_and_set`**: `mg` with the item's CAS token, compared byte for byte, then `ms C<token>`:
//!   atomic against every other client of the server.
//! - **`incr`**: native `ma` increments for non-negative deltas (atomic, keeps the expiry); negative
//!   deltas and negative stored values, which memcached's counters (unsigned, floored at 0) cannot
//!   represent, go through a compare-and-swap loop that keeps the remaining expiry to the second.
//! - **`clear`** is `flush_all` on every server: memcached cannot list keys by prefix, so this empties the
//!   **whole servers**, other caches' keys included — as Django's memcached `clear` does. Give a cache that
//!   needs a scoped `clear` its own memcached instance, or use Redis.
//! - **Timeouts and failures**: one deadline per operation (default 1 s) covers waiting for a pooled
//!   connection, connecting and the reply. A server that is down or hangs makes the operations on its keys
//!   fail with [`Error::Backend`] within that time; there is no automatic removal of a dead server from
//!   the ring (keys would silently move), and the same backend works again once it is back.

mod builder;
mod connection;
mod ring;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_memcached::{AsciiProtocol, ErrorKind, MetaProtocol, Status};
use async_trait::async_trait;
use bytes::Bytes;

use crate::backend::deadline_for_keys;
use crate::backend::{checked_increment, CacheBackend, Expiry, KeyLimits};
use crate::backends::pool::with_deadline;
use crate::error::{Error, KeyProblem, Result};
use crate::key::MEMCACHED_MAX_KEY_CHARS;

pub use builder::MemcachedBackendBuilder;
pub use connection::ServerError;
use connection::{Retry, Server, Settled};
use ring::Ring;

/// Runs one command on a pooled connection of `$server`, binding the client to `$client` in `$command`
/// (an expression evaluating to a future of the reply). Evaluates to the server's reply; `?` returns
/// [`Error::Backend`] when no connection could be had or the connection died — after one more attempt on
/// a fresh connection when `$retry` is [`Retry::Safe`].
macro_rules! call {
    ($server:expr, $retry:expr, |$client:ident| $command:expr) => {{
        let server: &Server = $server;
        let mut tried = false;
        loop {
            let mut connection = server.lease().await?;
            let reply = {
                let $client = &mut *connection;
                $command.await
            };
            match server.settle(connection, reply) {
                Settled::Reply(reply) => break reply,
                Settled::Broken(_) if $retry == Retry::Safe && !tried => tried = true,
                Settled::Broken(error) => return Err(server.failure(error)),
            }
        }
    }};
}

/// The name in errors and logs.
const NAME: &str = "memcached";

/// memcached's default item size limit (`-I 1m`), the default largest value.
pub const DEFAULT_MAX_VALUE_SIZE: usize = 1024 * 1024;

/// The longest relative expiry memcached accepts; beyond it an expiry is an absolute Unix time.
const MAX_RELATIVE_TTL: u64 = 60 * 60 * 24 * 30;

/// The memcached cache backend. Cheap to clone; clones share the pools.
///
/// ```no_run
/// # async fn demo() -> cache_core::Result<()> {
/// use cache_core::{backends::MemcachedBackend, Cache};
///
/// let backend = MemcachedBackend::builder(["10.0.0.1:11211", "10.0.0.2:11211"]).build()?;
/// let cache = Cache::new(backend);
/// cache.set("greeting", "hello").await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MemcachedBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    servers: Vec<Server>,
    ring: Ring,
    timeout: Duration,
    max_value_size: usize,
}

impl MemcachedBackend {
    /// Settings for a backend on `servers` (`host:port` each).
    pub fn builder<I, S>(servers: I) -> MemcachedBackendBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        MemcachedBackendBuilder::new(servers.into_iter().map(Into::into).collect())
    }

    /// A backend from `memcached://h1:11211,h2:11211?socket_timeout=0.5&max_connections=4&max_value_size=…`.
    /// No connection is made until the first operation. [`Error::Config`] for a bad URL or option.
    pub fn from_url(url: &str) -> Result<Self> {
        MemcachedBackendBuilder::from_url(url)?.build()
    }

    /// The servers, in ring order (`host:port`).
    pub fn servers(&self) -> impl Iterator<Item = &str> {
        self.inner
            .servers
            .iter()
            .map(|server| server.address.as_str())
    }

    /// The server (`host:port`) that holds the made key `key`.
    pub fn server_for(&self, key: &str) -> &str {
        &self.server(key).address
    }

    fn server(&self, key: &str) -> &Server {
        let index = self.inner.ring.server_for(key);
        // The ring only names servers it was built from.
        &self.inner.servers[index.min(self.inner.servers.len() - 1)]
    }

    /// Key indices grouped by the server holding them.
    fn by_server<'k>(&self, keys: impl Iterator<Item = &'k str>) -> Vec<(&Server, Vec<usize>)> {
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for (position, key) in keys.enumerate() {
            let server = self.inner.ring.server_for(key);
            match groups.iter_mut().find(|(s, _)| *s == server) {
                Some((_, positions)) => positions.push(position),
                None => groups.push((server, vec![position])),
            }
        }
        groups
            .into_iter()
            .map(|(server, positions)| {
                (
                    &self.inner.servers[server.min(self.inner.servers.len() - 1)],
                    positions,
                )
            })
            .collect()
    }

    async fn deadline<T>(
        &self,
        operation: &'static str,
        future: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        self.deadline_for(operation, 1, future).await
    }

    /// [`deadline`](Self::deadline) for an operation over `keys` keys ([`deadline_for_keys`]).
    async fn deadline_for<T>(
        &self,
        operation: &'static str,
        keys: usize,
        future: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let timeout = deadline_for_keys(self.inner.timeout, keys);
        with_deadline(NAME, operation, timeout, future).await
    }

    fn too_large(&self, key: &str, size: usize) -> Error {
        Error::ValueTooLarge {
            key: key.to_owned(),
            size,
            limit: self.inner.max_value_size,
        }
    }

    /// Deletes `key`, whether or not it exists (`true` if it did): `delete`, and after a failed `set`, so
    /// that the old value does not stay visible.
    async fn discard(&self, key: &str) -> Result<bool> {
        let server = self.server(key);
        let reply = call!(server, Retry::Safe, |client| client
            .meta_delete(key, false, None, None));
        match reply {
            Ok(_) => Ok(true),
            Err(async_memcached::Error::Protocol(Status::NotFound)) => Ok(false),
            Err(error) => Err(server.failure(error)),
        }
    }

    /// Whether `mg key <flags>` finds a live item (`flags` must make a hit answer with data: `s` or `v`).
    async fn hits(&self, key: &str, flags: &[&str]) -> Result<bool> {
        let server = self.server(key);
        let reply = call!(server, Retry::Safe, |client| client.meta_get(
            key,
            false,
            None,
            Some(flags)
        ));
        match reply {
            Ok(found) => Ok(found.is_some()),
            Err(error) => Err(server.failure(error)),
        }
    }

    /// `incr` through `mg` + `ms C<cas>`: for what memcached's unsigned counters cannot do.
    async fn incr_with_cas(&self, key: &str, delta: i64) -> Result<i64> {
        let server = self.server(key);
        // Until it wins: under contention each lost round means another writer made progress, and the
        // operation's deadline bounds the whole.
        loop {
            let Some((current, cas)) = self.read_for_swap(server, key, &["v", "c", "t"]).await?
            else {
                return Err(Error::KeyNotFound {
                    key: key.to_owned(),
                });
            };
            let data = current.data.unwrap_or_default();
            let new = checked_increment(key, &data, delta)?;
            // Remaining seconds: -1 never expires (T0), otherwise at least 1 (T0 would mean "never").
            let ttl = match current.ttl_remaining {
                None | Some(-1) => 0,
                Some(left) => left.max(1),
            };
            match self
                .swap(server, key, cas, new.to_string().as_bytes(), ttl)
                .await?
            {
                Swap::Stored => return Ok(new),
                // Changed since we read it: read again.
                Swap::Changed => continue,
                Swap::Gone => {
                    return Err(Error::KeyNotFound {
                        key: key.to_owned(),
                    })
                }
            }
        }
    }

    /// `mg <key> <flags>` (`flags` must include `v` and `c`): the item and its CAS token, `None` when
    /// missing. The first half of every compare-and-swap.
    async fn read_for_swap(
        &self,
        server: &Server,
        key: &str,
        flags: &[&str],
    ) -> Result<Option<(async_memcached::MetaValue, u64)>> {
        let current = call!(server, Retry::Safe, |client| client.meta_get(
            key,
            false,
            None,
            Some(flags)
        ))
        .map_err(|error| server.failure(error))?;
        let Some(current) = current else {
            return Ok(None);
        };
        match current.cas {
            Some(cas) => Ok(Some((current, cas))),
            None => Err(Error::backend(NAME, "memcached returned no CAS token")),
        }
    }

    /// `ms <key> C<cas> T<ttl>`: stores `value` only if the item still has the token `cas`. Never retried
    /// (a lost reply could hide a swap that happened).
    async fn swap(
        &self,
        server: &Server,
        key: &str,
        cas: u64,
        value: &[u8],
        ttl: i64,
    ) -> Result<Swap> {
        let flags = [format!("C{cas}"), format!("T{ttl}")];
        let flags: [&str; 2] = [&flags[0], &flags[1]];
        let reply = call!(server, Retry::Never, |client| client.meta_set(
            key,
            value,
            false,
            None,
            Some(&flags)
        ));
        match reply {
            Ok(_) => Ok(Swap::Stored),
            Err(async_memcached::Error::Protocol(Status::Exists)) => Ok(Swap::Changed),
            Err(async_memcached::Error::Protocol(Status::NotFound)) => Ok(Swap::Gone),
            Err(error) if is_too_large(&error) => Err(self.too_large(key, value.len())),
            Err(error) => Err(server.failure(error)),
        }
    }
}

/// What a [`MemcachedBackend::swap`] did.
enum Swap {
    Stored,
    /// Another write changed the item since its token was read.
    Changed,
    /// The item was removed (or expired) since.
    Gone,
}

/// memcached's expiry token: 0 for never, -1 for already expired, whole seconds rounded up for up to 30
/// days, an absolute Unix time beyond.
fn ttl(expiry: Expiry) -> i64 {
    let Expiry::At(at) = expiry else {
        return 0;
    };
    let now = SystemTime::now();
    let left = match at.duration_since(now) {
        Ok(left) if !left.is_zero() => left,
        _ => return -1,
    };
    let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    if seconds <= MAX_RELATIVE_TTL {
        return i64::try_from(seconds).unwrap_or(i64::MAX);
    }
    let unix = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            since.as_secs() + u64::from(since.subsec_nanos() > 0)
        });
    i64::try_from(unix).unwrap_or(i64::MAX)
}

/// A key memcached would refuse (it counts bytes; the `Cache` has already checked characters).
fn check_key(key: &str) -> Result<()> {
    let reason = if key.len() > MEMCACHED_MAX_KEY_CHARS {
        KeyProblem::TooLong {
            len: key.len(),
            max: MEMCACHED_MAX_KEY_CHARS,
        }
    } else if key.is_empty() || key.bytes().any(|b| b <= b' ' || b == 0x7f) {
        KeyProblem::ForbiddenCharacter
    } else {
        return Ok(());
    };
    Err(Error::InvalidKey {
        key: key.to_owned(),
        reason,
    })
}

/// Whether a server error line says the item did not fit.
fn is_too_large(error: &async_memcached::Error) -> bool {
    matches!(
        error,
        async_memcached::Error::Protocol(Status::Error(ErrorKind::Server(message)))
            if message.contains("too large") || message.contains("out of memory")
    )
}

fn is_non_numeric(error: &async_memcached::Error) -> bool {
    matches!(
        error,
        async_memcached::Error::Protocol(Status::Error(ErrorKind::Client(message)))
            if message.contains("non-numeric")
    )
}

#[async_trait]
impl CacheBackend for MemcachedBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn key_limits(&self) -> KeyLimits {
        KeyLimits {
            max_chars: Some(MEMCACHED_MAX_KEY_CHARS),
            rejects_control_characters: true,
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        check_key(key)?;
        self.deadline("get", async {
            let server = self.server(key);
            let reply = call!(server, Retry::Safe, |client| client.meta_get(
                key,
                false,
                None,
                Some(&["v"])
            ));
            match reply {
                Ok(found) => Ok(found.map(|value| Bytes::from(value.data.unwrap_or_default()))),
                Err(error) => Err(server.failure(error)),
            }
        })
        .await
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        for key in keys {
            check_key(key)?;
        }
        self.deadline_for("get_many", keys.len(), async {
            let groups = self.by_server(keys.iter().map(String::as_str));
            let fetches = groups.iter().map(|(server, positions)| async move {
                let batch: Vec<&str> = positions.iter().map(|&p| keys[p].as_str()).collect();
                let reply = call!(server, Retry::Safe, |client| client
                    .meta_get_multi(&batch, Some(&["v"])));
                reply.map_err(|error| server.failure(error))
            });
            let mut found: HashMap<Vec<u8>, Bytes> = HashMap::new();
            for hits in futures_util::future::try_join_all(fetches).await? {
                for hit in hits {
                    if let Some(key) = hit.key {
                        found.insert(key, Bytes::from(hit.data.unwrap_or_default()));
                    }
                }
            }
            Ok(keys
                .iter()
                .map(|key| found.get(key.as_bytes()).cloned())
                .collect())
        })
        .await
    }

    async fn set(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<()> {
        check_key(key)?;
        self.deadline("set", async {
            if value.len() > self.inner.max_value_size {
                self.discard(key).await?;
                return Err(self.too_large(key, value.len()));
            }
            let flags = format!("T{}", ttl(expiry));
            let server = self.server(key);
            let reply = call!(server, Retry::Safe, |client| client.meta_set(
                key,
                value.as_ref(),
                false,
                None,
                Some(&[flags.as_str()])
            ));
            match reply {
                Ok(_) => Ok(()),
                Err(error) => {
                    // memcached drops the old item when a set fails; make sure of it.
                    self.discard(key).await?;
                    if is_too_large(&error) {
                        Err(self.too_large(key, value.len()))
                    } else {
                        Err(server.failure(error))
                    }
                }
            }
        })
        .await
    }

    async fn set_many(&self, entries: Vec<(String, Bytes)>, expiry: Expiry) -> Result<Vec<String>> {
        for (key, _) in &entries {
            check_key(key)?;
        }
        self.deadline_for("set_many", entries.len(), async {
            let limit = self.inner.max_value_size;
            let (fitting, too_large): (Vec<_>, Vec<_>) =
                entries.iter().partition(|(_, value)| value.len() <= limit);
            let mut failed: Vec<String> = too_large.iter().map(|(key, _)| key.clone()).collect();
            let flags = format!("T{}", ttl(expiry));
            let groups = self.by_server(fitting.iter().map(|(key, _)| key.as_str()));
            let stores = groups.iter().map(|(server, positions)| {
                let batch: Vec<(&str, &[u8])> = positions
                    .iter()
                    .map(|&p| (fitting[p].0.as_str(), fitting[p].1.as_ref()))
                    .collect();
                let flags = flags.as_str();
                async move {
                    let reply = call!(server, Retry::Safe, |client| client
                        .meta_set_multi(&batch, Some(&[flags])));
                    reply.map_err(|error| server.failure(error))
                }
            });
            for refused in futures_util::future::try_join_all(stores).await? {
                failed.extend(
                    refused
                        .into_iter()
                        .filter_map(|item| item.key)
                        .map(|key| String::from_utf8_lossy(&key).into_owned()),
                );
            }
            if !failed.is_empty() {
                // A failed set must not leave the old value visible.
                let keys: Vec<String> = failed.clone();
                self.delete_keys(&keys).await?;
            }
            Ok(failed)
        })
        .await
    }

    async fn add(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<bool> {
        check_key(key)?;
        if value.len() > self.inner.max_value_size {
            return Err(self.too_large(key, value.len()));
        }
        self.deadline("add", async {
            let flags = [String::from("ME"), format!("T{}", ttl(expiry))];
            let flags: [&str; 2] = [&flags[0], &flags[1]];
            let server = self.server(key);
            let reply = call!(server, Retry::Safe, |client| client.meta_set(
                key,
                value.as_ref(),
                false,
                None,
                Some(&flags)
            ));
            match reply {
                Ok(_) => Ok(true),
                Err(async_memcached::Error::Protocol(Status::NotStored)) => Ok(false),
                Err(error) if is_too_large(&error) => Err(self.too_large(key, value.len())),
                Err(error) => Err(server.failure(error)),
            }
        })
        .await
    }

    /// `mg v c` then `ms C<cas>`: memcached's own compare-and-swap on the item's CAS token, so a write by
    /// anyone between the read and the swap makes the swap fail (`EX`), never lost.
    async fn compare_and_set(
        &self,
        key: &str,
        expected: &[u8],
        new: Bytes,
        expiry: Expiry,
    ) -> Result<bool> {
        check_key(key)?;
        if new.len() > self.inner.max_value_size {
            return Err(self.too_large(key, new.len()));
        }
        self.deadline("compare_and_set", async {
            let server = self.server(key);
            let Some((current, cas)) = self.read_for_swap(server, key, &["v", "c"]).await? else {
                return Ok(false);
            };
            if current.data.as_deref().unwrap_or_default() != expected {
                return Ok(false);
            }
            let swap = self.swap(server, key, cas, &new, ttl(expiry)).await?;
            Ok(matches!(swap, Swap::Stored))
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        check_key(key)?;
        self.deadline("delete", self.discard(key)).await
    }

    async fn delete_many(&self, keys: &[String]) -> Result<()> {
        for key in keys {
            check_key(key)?;
        }
        self.deadline_for("delete_many", keys.len(), self.delete_keys(keys))
            .await
    }

    async fn touch(&self, key: &str, expiry: Expiry) -> Result<bool> {
        check_key(key)?;
        self.deadline("touch", async {
            let flags = format!("T{}", ttl(expiry));
            // `mg` with T sets a new expiry on a hit; the `s` flag makes a hit answer with data (a bare
            // `HD` is not told apart from a miss by the client).
            self.hits(key, &[flags.as_str(), "s"]).await
        })
        .await
    }

    async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        check_key(key)?;
        self.deadline("incr", async {
            let Ok(increment) = u64::try_from(delta) else {
                return self.incr_with_cas(key, delta).await;
            };
            let server = self.server(key);
            let reply = call!(server, Retry::Never, |client| client.meta_increment(
                key,
                false,
                None,
                Some(increment),
                Some(&["v"])
            ));
            match reply {
                Ok(value) => {
                    let data = value.and_then(|value| value.data).unwrap_or_default();
                    let new = std::str::from_utf8(&data)
                        .ok()
                        .and_then(|text| text.trim().parse::<u64>().ok())
                        .ok_or_else(|| {
                            Error::backend(NAME, "memcached returned a non-numeric counter")
                        })?;
                    match i64::try_from(new) {
                        Ok(new) => Ok(new),
                        Err(_) => {
                            // Past i64::MAX: undo, as an overflowing `incr` must change nothing.
                            let _ = call!(server, Retry::Never, |client| client.meta_decrement(
                                key,
                                false,
                                None,
                                Some(increment),
                                None
                            ));
                            Err(Error::Overflow {
                                key: key.to_owned(),
                            })
                        }
                    }
                }
                Err(async_memcached::Error::Protocol(Status::NotFound)) => {
                    Err(Error::KeyNotFound {
                        key: key.to_owned(),
                    })
                }
                // A negative number or not a number at all: the CAS path tells which.
                Err(error) if is_non_numeric(&error) => self.incr_with_cas(key, delta).await,
                Err(error) => Err(server.failure(error)),
            }
        })
        .await
    }

    async fn has_key(&self, key: &str) -> Result<bool> {
        check_key(key)?;
        self.deadline("has_key", self.hits(key, &["s"])).await
    }

    async fn clear(&self) -> Result<()> {
        self.deadline("clear", async {
            let flushes = self.inner.servers.iter().map(|server| async move {
                let reply = call!(server, Retry::Safe, |client| client.flush_all());
                reply.map_err(|error| server.failure(error))
            });
            futures_util::future::try_join_all(flushes).await.map(drop)
        })
        .await
    }

    async fn close(&self) -> Result<()> {
        for server in &self.inner.servers {
            server.close_idle();
        }
        Ok(())
    }
}

impl MemcachedBackend {
    /// Deletes `keys`: per server, the deletes are sent in one write (`noreply`) and confirmed by one
    /// `version` round trip, which memcached answers only after processing them.
    async fn delete_keys(&self, keys: &[String]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let groups = self.by_server(keys.iter().map(String::as_str));
        let deletes = groups.iter().map(|(server, positions)| async move {
            let batch: Vec<&str> = positions.iter().map(|&p| keys[p].as_str()).collect();
            let reply = call!(server, Retry::Safe, |client| async {
                client.delete_multi_no_reply(&batch).await?;
                client.version().await.map(drop)
            });
            reply.map_err(|error| server.failure(error))
        });
        futures_util::future::try_join_all(deletes).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_follow_memcached_rules() {
        assert_eq!(ttl(Expiry::Never), 0);
        assert_eq!(ttl(Expiry::At(SystemTime::UNIX_EPOCH)), -1);
        assert_eq!(
            ttl(Expiry::after(Duration::from_millis(10))),
            1,
            "sub-second rounds up"
        );
        let ten = ttl(Expiry::after(Duration::from_secs(10)));
        assert!((10..=11).contains(&ten), "{ten}");
        let thirty_days = ttl(Expiry::after(Duration::from_secs(MAX_RELATIVE_TTL)));
        assert!(
            thirty_days <= 2_592_001,
            "30 days stays relative: {thirty_days}"
        );
        let year = ttl(Expiry::after(Duration::from_secs(365 * 86_400)));
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        assert!(
            (now + 365 * 86_400..=now + 365 * 86_400 + 2)
                .contains(&u64::try_from(year).unwrap_or(0)),
            "beyond 30 days: absolute, got {year}"
        );
    }

    #[test]
    fn keys_are_checked_in_bytes() {
        assert!(check_key("ok:1:key").is_ok());
        assert!(check_key(&"k".repeat(250)).is_ok());
        assert!(matches!(
            check_key(&"é".repeat(200)),
            Err(Error::InvalidKey {
                reason: KeyProblem::TooLong { len: 400, max: 250 },
                ..
            })
        ));
        assert!(check_key("a b").is_err());
        assert!(check_key("").is_err());
    }
}
