//! [`RedisBackend`]: Redis (and Redis Cluster, feature `redis-cluster`) through a deadpool-redis pool of
//! redis-rs 1.x multiplexed connections, which concurrent operations share so their commands are pipelined.
//!
//! # One round trip per operation, with native commands
//!
//! | operation | command |
//! | --- | --- |
//! | `get` / `get_many` | `GET` / one `MGET` |
//! | `set` | `SET key value PX ms` (`SET key value` for no expiry, which also drops an old TTL) |
//! | `add` | `SET key value NX PX ms` (atomic) |
//! | `set_many` | one pipeline of `SET … PX` (on a cluster: the same `SET`s, sent concurrently) |
//! | `delete` / `delete_many` | `UNLINK` (memory is freed off the server's main thread) |
//! | `touch` | `PEXPIRE`; to "never", a script doing `EXISTS` + `PERSIST` (plain `PERSIST` answers 0 for a live key without a TTL) |
//! | `incr` | a script doing `EXISTS` + `INCRBY`: atomic, keeps the TTL, and a missing key is [`Error::KeyNotFound`] instead of being created (Django's rule) |
//! | `has_key` | `EXISTS` |
//! | `compare_and_set` | a script doing `GET`, compare, `SET … PX` (atomic) |
//!
//! With the [client-side cache](#client-side-cache) on, a read of a key held locally makes no round trip;
//! one that misses sends `MGET` and a `PTTL` per key in one pipeline, and every write is followed by a
//! `PING` in the same round trip.
//!
//! Beyond the cache API, the **command lane** ([`RedisBackend::command`], [`commands`](RedisBackend::commands),
//! [`pipeline`](RedisBackend::pipeline), scripts) sends other commands on the same connections, and
//! [`read_through`](RedisBackend::read_through) reads any one-key structure (a hash, say) through the
//! client-side cache, kept decoded, with [`write_pipeline`](RedisBackend::write_pipeline) for its writes.
//!
//! Expiries are sent as milliseconds left (`PX`), rounded up, so a client whose clock is off still gets the
//! right lifetime. Values are stored byte-for-byte; the `Cache` writes integers as decimal text, which is
//! what `INCRBY` works on, so counters are native Redis counters.
//!
//! # Namespace and `clear`
//!
//! Every key is stored under the backend's **namespace** (default `"cache:"`), prepended to the made key:
//! `cache.set("k", ..)` on a cache with prefix `p` writes the Redis key `cache:p:1:k`. `clear` deletes the
//! keys of the namespace only — `SCAN MATCH <namespace>*` (the namespace glob-escaped) and `UNLINK` in
//! batches, on every primary of a cluster — so a Redis database shared with other data or other caches
//! keeps it. Give caches that must be cleared separately their own namespace
//! ([`RedisBackendBuilder::namespace`], `?namespace=` in a URL). An empty namespace makes `clear` delete
//! every key of the database; [`RedisBackend::flush_db`] is the explicit `FLUSHDB` (Django's `clear`).
//!
//! # Timeouts and failures
//!
//! Every operation has one deadline ([`RedisBackendBuilder::timeout`], default 1 s) covering the wait for a
//! pooled connection, connecting and the reply; redis-rs's own connect and response timeouts are set too.
//! A server that is down or hangs makes each call fail with [`Error::Backend`] within that time; nothing
//! blocks or panics. Connections that fail are discarded, pooled connections are verified after a failure
//! or a few idle seconds, and an operation that is safe to repeat (everything except `incr`) is retried
//! once on a fresh connection when its connection turns out to be dead — so when the server comes back the
//! same backend simply works again.
//!
//! # Client-side cache
//!
//! Optionally ([`RedisBackendBuilder::client_side_cache`], `?client_side_cache=10000` in a URL) values read
//! are kept in process memory and answered from there until Redis sends an invalidation: a hit on a hot key
//! then costs no round trip (a page-cache hit served over HTTP went from a third of a plain handler's
//! requests per second to about the same). How it stays coherent is in the `client_cache` module's
//! source and the builder method's documentation.
//!
//! # URLs
//!
//! `redis://[user:password@]host[:port][/db]`, `rediss://…` (TLS, feature `redis-tls`),
//! `redis+cluster://host1:port1,host2:port2,…` (feature `redis-cluster`). Options in the query string:
//! `namespace`, `max_connections`, `socket_timeout` and `socket_connect_timeout` (seconds, as in
//! redis-py), `client_side_cache` (entries), `client_side_cache_max_bytes` and `client_side_cache_ttl`
//! (seconds); the others are passed to redis-rs (e.g. `protocol=resp3`).

mod builder;
mod client_cache;
#[cfg(feature = "redis-cluster")]
mod cluster;
mod commands;
mod connection;
mod errors;
mod ops;
mod protocol;
mod tracked;

use std::sync::Arc;
use std::time::Duration;

use redis::{Cmd, Pipeline, Value};

use crate::backend::deadline_for_keys;
use crate::backends::pool::{with_deadline, Health};
use crate::error::{Error, Result};

pub use builder::RedisBackendBuilder;
use client_cache::ClientCache;
pub use commands::{LuaScript, ScriptCall};
use connection::Pools;
pub use connection::RedisConnection;
use errors::{backend_error, is_connection_error};
use protocol::NamespacedKey;

/// The redis-rs crate this backend is built on, for commands on a [`RedisConnection`] with the same version.
pub use ::redis as driver;

/// The name in errors and logs.
const NAME: &str = "redis";

/// The default namespace every key is stored under.
pub const DEFAULT_NAMESPACE: &str = "cache:";

/// The Redis cache backend. Cheap to clone; clones share the pool.
///
/// ```no_run
/// # async fn demo() -> cache_core::Result<()> {
/// use std::time::Duration;
/// use cache_core::{backends::RedisBackend, Cache};
///
/// let backend = RedisBackend::builder("redis://127.0.0.1:6379/0")
///     .namespace("myapp:")
///     .timeout(Duration::from_millis(500))
///     .build()?;
/// let cache = Cache::new(backend);
/// cache.set("greeting", "hello").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisBackend {
    inner: Arc<Inner>,
}

struct Inner {
    pools: Pools,
    health: Arc<Health>,
    namespace: String,
    timeout: Duration,
    cluster: bool,
    /// With [`RedisBackendBuilder::client_side_cache`]: every operation but `write_pipeline` goes through
    /// its tracked connection.
    client_cache: Option<ClientCache>,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("cluster", &self.inner.cluster)
            .field("namespace", &self.inner.namespace)
            .field("timeout", &self.inner.timeout)
            .field("max_connections", &self.inner.pools.max_size())
            .field("client_cache", &self.inner.client_cache)
            .finish()
    }
}

/// Which connection a pipeline goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    /// A pooled connection, even with a client-side cache (its keys are then forgotten by the caller).
    Pooled,
    /// The client-side cache's tracked connection (the pooled one without a cache), for reads.
    Tracked,
    /// As `Tracked`, then a `PING` whose reply comes after the invalidations of the pipeline's own
    /// writes: when the replies are in, this process reads its own writes.
    TrackedFenced,
}

/// Whether a failed operation may be sent again on a fresh connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Repeating it cannot change the outcome (reads, `SET`, `UNLINK`, …).
    Safe,
    /// Repeating it could apply it twice (`INCRBY`, a compare-and-set).
    Never,
}

impl RedisBackend {
    /// Settings for a backend on `url`: `redis://`, `rediss://` or (feature `redis-cluster`)
    /// `redis+cluster://h1,h2`. Options in the URL's query string are not read here; see
    /// [`RedisBackend::from_url`].
    pub fn builder(url: impl Into<String>) -> RedisBackendBuilder {
        RedisBackendBuilder::new(url.into())
    }

    /// Settings for a backend on a Redis Cluster, given some of its nodes (`redis://host:port` each); the
    /// others are discovered.
    #[cfg(feature = "redis-cluster")]
    pub fn cluster_builder(
        nodes: impl IntoIterator<Item = impl Into<String>>,
    ) -> RedisBackendBuilder {
        RedisBackendBuilder::cluster(nodes.into_iter().map(Into::into).collect())
    }

    /// A backend from a URL with options in its query string (`namespace`, `max_connections`,
    /// `socket_timeout`, `socket_connect_timeout`), e.g.
    /// `redis://127.0.0.1:6379/0?namespace=app:&socket_timeout=0.5` or
    /// `redis+cluster://10.0.0.1:7000,10.0.0.2:7000`. [`Error::Config`] for a URL or option that is not
    /// valid. No connection is made until the first operation.
    pub fn from_url(url: &str) -> Result<Self> {
        RedisBackendBuilder::from_url(url)?.build()
    }

    /// The namespace prepended to every key.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// Whether this backend talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.inner.cluster
    }

    /// A connection from this backend's pool, for commands the cache API does not cover. Keys used on it
    /// are not namespaced; see [`RedisBackend::namespaced_key`].
    pub async fn connection(&self) -> Result<RedisConnection> {
        with_deadline(NAME, "connection", self.inner.timeout, self.lease()).await
    }

    /// The Redis key under which the made key `key` is stored.
    pub fn namespaced_key(&self, key: &str) -> String {
        let mut stored = String::with_capacity(self.inner.namespace.len() + key.len());
        stored.push_str(&self.inner.namespace);
        stored.push_str(key);
        stored
    }

    /// The made key `key` under this backend's namespace as one command argument, written straight into
    /// the command (no intermediate `String`, as [`namespaced_key`](Self::namespaced_key) would make).
    fn key_arg<'a>(&'a self, key: &'a str) -> NamespacedKey<'a> {
        NamespacedKey {
            namespace: &self.inner.namespace,
            key,
        }
    }

    /// Deletes **every key of the database** (`FLUSHDB`; on a cluster, on every primary), this cache's and
    /// anyone else's — Django's `clear` on Redis. [`CacheBackend::clear`](crate::CacheBackend::clear)
    /// deletes only this namespace.
    pub async fn flush_db(&self) -> Result<()> {
        let mut flush = redis::cmd("FLUSHDB");
        flush.arg("ASYNC");
        self.query(&flush, "flush_db", Retry::Safe).await.map(drop)
    }

    async fn lease(&self) -> Result<RedisConnection> {
        self.inner.pools.lease(&self.inner.health).await
    }

    /// A connection handle shared with concurrent operations (see the `connection` module): the tracked
    /// connection when there is a client-side cache.
    async fn share(&self) -> Result<RedisConnection> {
        match &self.inner.client_cache {
            Some(cache) => Ok(RedisConnection::tracked(
                &*cache.tracked().await?,
                &self.inner.health,
            )),
            None => self.inner.pools.share(&self.inner.health).await,
        }
    }

    /// Sends `cmd` within the deadline; on a dead connection, once more on a fresh one when `retry` allows.
    async fn query(&self, cmd: &Cmd, operation: &'static str, retry: Retry) -> Result<Value> {
        if self.inner.client_cache.is_some() {
            // Fenced (see `query_pipeline`); a fence after a read costs a PING and changes nothing.
            let mut pipeline = redis::pipe();
            pipeline.add_command(cmd.clone());
            let replies = self.query_pipeline(pipeline, operation, retry).await?;
            return replies
                .into_iter()
                .next()
                .ok_or_else(|| Error::backend(NAME, "no reply to the command"));
        }
        // One argument per key at least, so a long `MGET`/`UNLINK` gets its multi-key deadline.
        let timeout = deadline_for_keys(
            self.inner.timeout,
            cmd.args_iter().count().saturating_sub(1),
        );
        with_deadline(NAME, operation, timeout, async {
            let mut connection = self.share().await?;
            match cmd.query_async::<Value>(&mut connection).await {
                Err(error) if retry == Retry::Safe && is_connection_error(&error) => {
                    drop(connection);
                    let mut connection = self.share().await?;
                    cmd.query_async::<Value>(&mut connection)
                        .await
                        .map_err(backend_error)
                }
                result => result.map_err(backend_error),
            }
        })
        .await
    }

    /// Like [`query`](Self::query) for a pipeline; the replies of its commands, in order.
    ///
    /// With a client-side cache a `PING` is sent after the pipeline as a fence: Redis sends a connection
    /// the invalidations of its own commands just *after* their replies, so a caller resuming on the replies
    /// alone could still find the old value in the local cache. The `PING`'s reply comes after those
    /// invalidations, which are applied in the order they arrive: when this returns, this process reads its
    /// own writes.
    async fn query_pipeline(
        &self,
        pipeline: Pipeline,
        operation: &'static str,
        retry: Retry,
    ) -> Result<Vec<Value>> {
        let lane = match self.inner.client_cache {
            Some(_) => Lane::TrackedFenced,
            None => Lane::Pooled,
        };
        self.send_pipeline(pipeline, operation, retry, lane).await
    }

    /// Sends `pipeline` on `lane` within the deadline; on a dead connection, once more on a fresh one
    /// when `retry` allows. The replies of its commands, in order (a fence's own reply left out).
    async fn send_pipeline(
        &self,
        mut pipeline: Pipeline,
        operation: &'static str,
        retry: Retry,
        lane: Lane,
    ) -> Result<Vec<Value>> {
        let fenced = lane == Lane::TrackedFenced;
        if fenced {
            pipeline.cmd("PING");
        }
        let pipeline = &pipeline;
        let connect = || async {
            match lane {
                Lane::Pooled => self.inner.pools.share(&self.inner.health).await,
                Lane::Tracked | Lane::TrackedFenced => self.share().await,
            }
        };
        // One command per key (`set_many`): the pipeline gets the deadline of as many keys.
        let timeout = deadline_for_keys(self.inner.timeout, pipeline.len());
        let mut replies = with_deadline(NAME, operation, timeout, async {
            let mut connection = connect().await?;
            match pipeline.query_async::<Vec<Value>>(&mut connection).await {
                Err(error) if retry == Retry::Safe && is_connection_error(&error) => {
                    drop(connection);
                    let mut connection = connect().await?;
                    pipeline
                        .query_async::<Vec<Value>>(&mut connection)
                        .await
                        .map_err(backend_error)
                }
                result => result.map_err(backend_error),
            }
        })
        .await?;
        if fenced {
            replies.pop();
        }
        Ok(replies)
    }
}
