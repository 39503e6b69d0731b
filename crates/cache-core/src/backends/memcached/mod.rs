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
//! - **Keys**: at most 250 bytes, no spaces or control characters ([`KeyLimits`](crate::KeyLimits)); the
//!   `Cache` rejects longer keys with [`Error::InvalidKey`] before a request is sent (a key of 250
//!   characters but more than 250 UTF-8 bytes is rejected here, since memcached counts bytes).
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

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::backend::deadline_for_keys;
use crate::backends::pool::with_deadline;
use crate::codec::django::stored;
use crate::error::{Error, Result};

pub use builder::MemcachedBackendBuilder;
use connection::Server;
pub use connection::ServerError;
use ring::Ring;

/// Runs one command on a pooled connection of `$server`, binding the client to `$client` in `$command`
/// (an expression evaluating to a future of the reply). Evaluates to the server's reply; `?` returns
/// [`Error::Backend`] when no connection could be had or the connection died — after one more attempt on
/// a fresh connection when `$retry` is [`Retry::Safe`].
macro_rules! call {
    ($server:expr, $retry:expr, |$client:ident| $command:expr) => {{
        use $crate::backends::memcached::connection::{Retry, Server, Settled};
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

mod commands;
mod ops;
mod protocol;

/// The name in errors and logs.
const NAME: &str = "memcached";

/// memcached's default item size limit (`-I 1m`), the default largest value.
pub const DEFAULT_MAX_VALUE_SIZE: usize = 1024 * 1024;

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
    /// Values are stored as Django's `PyMemcacheCache` stores them (`stored` module).
    django: bool,
}

impl MemcachedBackend {
    /// Settings for a backend on `servers` (`host:port` each).
    pub fn builder(
        servers: impl IntoIterator<Item = impl Into<String>>,
    ) -> MemcachedBackendBuilder {
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

    /// The `mg` flags that read a value: `v`, plus `f` (the client flags) in Django's layout.
    fn value_flags(&self) -> &'static [&'static str] {
        if self.inner.django {
            &["v", "f"]
        } else {
            &["v"]
        }
    }

    /// The bytes for the `Cache` of a value read with [`value_flags`](Self::value_flags).
    fn read_value(&self, key: &str, value: async_memcached::MetaValue) -> Result<Bytes> {
        let data = value.data.unwrap_or_default();
        if !self.inner.django {
            return Ok(Bytes::from(data));
        }
        stored::from_memcached(value.flags.unwrap_or(0), data, self.inner.max_value_size)
            .map(Bytes::from)
            .map_err(|unreadable| {
                Error::backend(
                    NAME,
                    format!("the value under {key:?} is not readable in Django's layout: {unreadable:?}"),
                )
            })
    }

    /// What to store for the `Cache`'s `value`: the data, and the `F<client flags>` to send with it in
    /// Django's layout.
    fn write_value<'v>(&self, value: &'v [u8]) -> (Cow<'v, [u8]>, Option<String>) {
        if !self.inner.django {
            return (Cow::Borrowed(value), None);
        }
        let (flags, data) = stored::to_memcached(value);
        (data, Some(format!("F{flags}")))
    }

    fn too_large(&self, key: &str, size: usize) -> Error {
        Error::ValueTooLarge {
            key: key.to_owned(),
            size,
            limit: self.inner.max_value_size,
        }
    }
}
