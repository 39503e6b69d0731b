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
mod connection;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use redis::{Cmd, Pipeline, RedisError, Value};

use crate::backend::deadline_for_keys;
use crate::backend::{CacheBackend, Expiry, ImmediateReads};
use crate::backends::pool::{with_deadline, Health};
use crate::error::{Error, Result};

pub use builder::RedisBackendBuilder;
use client_cache::ClientCache;
pub use connection::RedisConnection;
use connection::{backend_error, is_connection_error, Pools};

/// The redis-rs crate this backend is built on, for commands on a [`RedisConnection`] with the same version.
pub use ::redis as driver;

/// The name in errors and logs.
const NAME: &str = "redis";

/// `compare_and_set`: `SET` (with `PX` unless the expiry is "never") only if the live value is exactly the
/// expected one; atomic because Redis runs a script without interleaving other commands.
const COMPARE_AND_SET_SCRIPT: &str = "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end \
                                      if ARGV[3] == '' then redis.call('SET', KEYS[1], ARGV[2]) \
                                      else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end \
                                      return 1";

/// The default namespace every key is stored under.
pub const DEFAULT_NAMESPACE: &str = "cache:";

/// Keys per `SCAN` step and per `UNLINK` of `clear`.
const CLEAR_BATCH: usize = 1000;

/// `incr` only on an existing key: `INCRBY` alone would create a missing key at 0.
const INCR_SCRIPT: &str = "if redis.call('EXISTS', KEYS[1]) == 0 then return false end \
                           return redis.call('INCRBY', KEYS[1], ARGV[1])";

/// `touch` to "never": `PERSIST` answers 0 both for a missing key and for a live key without a TTL.
const PERSIST_SCRIPT: &str = "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end \
                              redis.call('PERSIST', KEYS[1]) return 1";

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
    /// With [`RedisBackendBuilder::client_side_cache`]: every operation goes through its tracked connection.
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
    pub fn cluster_builder<I, S>(nodes: I) -> RedisBackendBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
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
    /// anyone else's — Django's `clear` on Redis. [`CacheBackend::clear`] deletes only this namespace.
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
        mut pipeline: Pipeline,
        operation: &'static str,
        retry: Retry,
    ) -> Result<Vec<Value>> {
        let fenced = self.inner.client_cache.is_some();
        if fenced {
            pipeline.cmd("PING");
        }
        let pipeline = &pipeline;
        // One command per key (`set_many`): the pipeline gets the deadline of as many keys.
        let timeout = deadline_for_keys(self.inner.timeout, pipeline.len());
        let mut replies = with_deadline(NAME, operation, timeout, async {
            let mut connection = self.share().await?;
            match pipeline.query_async::<Vec<Value>>(&mut connection).await {
                Err(error) if retry == Retry::Safe && is_connection_error(&error) => {
                    drop(connection);
                    let mut connection = self.share().await?;
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

    /// `get_many` (and `get`, as one key) through the client-side cache: keys held locally are answered
    /// from it; the others are reserved, read with their TTLs in one pipeline (`MGET` + a `PTTL` each) on
    /// the tracked connection, and kept unless invalidated meanwhile (see the `client_cache` module). The
    /// caller puts the whole of it under the operation's deadline (connecting included).
    async fn get_many_tracked(
        &self,
        cache: &ClientCache,
        keys: &[String],
        operation: &'static str,
    ) -> Result<Vec<Option<Bytes>>> {
        let tracked = cache.tracked().await?;
        let local = &tracked.local;
        let mut values: Vec<Option<Bytes>> = Vec::with_capacity(keys.len());
        let mut missing: Vec<(usize, u64)> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            match local.lookup(key) {
                Some(value) => values.push(value),
                None => {
                    values.push(None);
                    missing.push((i, local.reserve(key)));
                }
            }
        }
        if missing.is_empty() {
            return Ok(values);
        }
        let mut pipeline = redis::pipe();
        let mget = pipeline.cmd("MGET");
        for (i, _) in &missing {
            mget.arg(self.key_arg(&keys[*i]));
        }
        for (i, _) in &missing {
            pipeline.cmd("PTTL").arg(self.key_arg(&keys[*i]));
        }
        let sent_at = Instant::now();
        let replies = match self.query_pipeline(pipeline, operation, Retry::Safe).await {
            Ok(replies) => replies,
            Err(error) => {
                for (i, token) in &missing {
                    local.abandon(&keys[*i], *token);
                }
                return Err(error);
            }
        };
        let mut replies = replies.into_iter();
        let found = match replies.next() {
            Some(Value::Array(found)) if found.len() == missing.len() => found,
            other => {
                for (i, token) in &missing {
                    local.abandon(&keys[*i], *token);
                }
                return Err(unexpected("MGET", &other.unwrap_or(Value::Nil)));
            }
        };
        for ((i, token), (value, pttl)) in missing.iter().zip(found.into_iter().zip(replies)) {
            let value = bytes_reply(value)?;
            let pttl = match pttl {
                Value::Int(pttl) => pttl,
                _ => 0,
            };
            local.fill(&keys[*i], *token, value.clone(), pttl, sent_at);
            values[*i] = value;
        }
        Ok(values)
    }

    /// A `SET` of `value` under the made key `key` with `expiry`.
    fn set_command(&self, key: &str, value: &[u8], expiry: Expiry, only_if_absent: bool) -> Cmd {
        let mut set = redis::cmd("SET");
        set.arg(self.key_arg(key)).arg(value);
        if only_if_absent {
            set.arg("NX");
        }
        if let Some(millis) = millis_left(expiry) {
            set.arg("PX").arg(millis);
        }
        set
    }

    /// `clear` on a standalone server: `SCAN` the namespace and `UNLINK` what it finds, each step within the
    /// deadline (a large namespace may take many steps; a dead server fails the first).
    async fn clear_standalone(&self, pattern: &str) -> Result<()> {
        self.scan_and_unlink(pattern, |scan| async move {
            self.query(&scan, "clear", Retry::Safe).await
        })
        .await
    }

    /// The loop of `clear`: `SCAN MATCH pattern` (each step sent by `send`, on a standalone server or one
    /// cluster node) and `UNLINK` of each batch found, until the cursor is back to 0.
    async fn scan_and_unlink<F, Fut>(&self, pattern: &str, send: F) -> Result<()>
    where
        F: Fn(Cmd) -> Fut,
        Fut: std::future::Future<Output = Result<Value>>,
    {
        let mut cursor: u64 = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(CLEAR_BATCH);
            let reply = send(scan).await?;
            let (next, keys): (u64, Vec<Vec<u8>>) =
                redis::from_redis_value(reply).map_err(|e| backend_error(e.into()))?;
            for batch in keys.chunks(CLEAR_BATCH) {
                let mut unlink = redis::cmd("UNLINK");
                unlink.arg(batch);
                self.query(&unlink, "clear", Retry::Safe).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

/// With the client-side cache on, a tracked key still valid in it is answered without a round trip.
impl ImmediateReads for RedisBackend {
    fn get_now(&self, key: &str) -> Option<Result<Option<Bytes>>> {
        self.inner.client_cache.as_ref()?.lookup(key).map(Ok)
    }
}

#[async_trait]
impl CacheBackend for RedisBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn immediate(&self) -> Option<&dyn ImmediateReads> {
        self.inner
            .client_cache
            .as_ref()
            .map(|_| self as &dyn ImmediateReads)
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        if let Some(cache) = &self.inner.client_cache {
            let keys = [key.to_owned()];
            let read = self.get_many_tracked(cache, &keys, "get");
            let mut values = with_deadline(NAME, "get", self.inner.timeout, read).await?;
            return Ok(values.pop().flatten());
        }
        // Sized up front: the command's buffer is written once, with no regrowth.
        let mut get = Cmd::with_capacity(2, "GET".len() + self.inner.namespace.len() + key.len());
        get.arg("GET").arg(self.key_arg(key));
        bytes_reply(self.query(&get, "get", Retry::Safe).await?)
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(cache) = &self.inner.client_cache {
            let read = self.get_many_tracked(cache, keys, "get_many");
            let timeout = deadline_for_keys(self.inner.timeout, keys.len());
            return with_deadline(NAME, "get_many", timeout, read).await;
        }
        let mut mget = redis::cmd("MGET");
        for key in keys {
            mget.arg(self.key_arg(key));
        }
        match self.query(&mget, "get_many", Retry::Safe).await? {
            Value::Array(values) if values.len() == keys.len() => {
                values.into_iter().map(bytes_reply).collect()
            }
            other => Err(unexpected("MGET", &other)),
        }
    }

    async fn set(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<()> {
        let set = self.set_command(key, &value, expiry, false);
        self.query(&set, "set", Retry::Safe).await.map(drop)
    }

    async fn set_many(&self, entries: Vec<(String, Bytes)>, expiry: Expiry) -> Result<Vec<String>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        #[cfg(feature = "redis-cluster")]
        if self.inner.cluster {
            let commands: Vec<Cmd> = entries
                .iter()
                .map(|(key, value)| self.set_command(key, value, expiry, false))
                .collect();
            return self.cluster_concurrently(commands, "set_many").await;
        }
        let mut pipeline = redis::pipe();
        for (key, value) in &entries {
            pipeline.add_command(self.set_command(key, value, expiry, false));
        }
        self.query_pipeline(pipeline, "set_many", Retry::Safe)
            .await?;
        Ok(Vec::new())
    }

    async fn add(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<bool> {
        let set = self.set_command(key, &value, expiry, true);
        match self.query(&set, "add", Retry::Safe).await? {
            Value::Okay => Ok(true),
            Value::Nil => Ok(false),
            other => Err(unexpected("SET NX", &other)),
        }
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let mut unlink = redis::cmd("UNLINK");
        unlink.arg(self.key_arg(key));
        Ok(int_reply("UNLINK", self.query(&unlink, "delete", Retry::Safe).await?)? > 0)
    }

    async fn delete_many(&self, keys: &[String]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut unlink = redis::cmd("UNLINK");
        for key in keys {
            unlink.arg(self.key_arg(key));
        }
        self.query(&unlink, "delete_many", Retry::Safe)
            .await
            .map(drop)
    }

    async fn touch(&self, key: &str, expiry: Expiry) -> Result<bool> {
        let stored = self.namespaced_key(key);
        let command = match millis_left(expiry) {
            Some(millis) => {
                let mut pexpire = redis::cmd("PEXPIRE");
                pexpire.arg(stored).arg(millis);
                pexpire
            }
            None => {
                let mut eval = redis::cmd("EVAL");
                eval.arg(PERSIST_SCRIPT).arg(1).arg(stored);
                eval
            }
        };
        Ok(int_reply("touch", self.query(&command, "touch", Retry::Safe).await?)? == 1)
    }

    async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        let mut eval = redis::cmd("EVAL");
        eval.arg(INCR_SCRIPT)
            .arg(1)
            .arg(self.key_arg(key))
            .arg(delta);
        match self.query(&eval, "incr", Retry::Never).await {
            Ok(Value::Nil) => Err(Error::KeyNotFound {
                key: key.to_owned(),
            }),
            Ok(Value::Int(value)) => Ok(value),
            Ok(other) => Err(unexpected("INCRBY", &other)),
            Err(error) => Err(incr_error(key, error)),
        }
    }

    async fn has_key(&self, key: &str) -> Result<bool> {
        let mut exists = redis::cmd("EXISTS");
        exists.arg(self.key_arg(key));
        Ok(int_reply("EXISTS", self.query(&exists, "has_key", Retry::Safe).await?)? > 0)
    }

    async fn compare_and_set(
        &self,
        key: &str,
        expected: &[u8],
        new: Bytes,
        expiry: Expiry,
    ) -> Result<bool> {
        let mut eval = redis::cmd("EVAL");
        eval.arg(COMPARE_AND_SET_SCRIPT)
            .arg(1)
            .arg(self.key_arg(key))
            .arg(expected)
            .arg(&new[..]);
        match millis_left(expiry) {
            Some(millis) => eval.arg(millis),
            None => eval.arg(""),
        };
        // Not retried: a swap applied before a connection died would be reported as not applied.
        let reply = self.query(&eval, "compare_and_set", Retry::Never).await?;
        Ok(int_reply("compare_and_set", reply)? == 1)
    }

    async fn clear(&self) -> Result<()> {
        let pattern = format!("{}*", glob_escape(&self.inner.namespace));
        #[cfg(feature = "redis-cluster")]
        if self.inner.cluster {
            return self.clear_cluster(&pattern).await;
        }
        self.clear_standalone(&pattern).await
    }

    async fn close(&self) -> Result<()> {
        self.inner.pools.close_idle();
        Ok(())
    }
}

/// Milliseconds left until `expiry`, rounded up and at least 1 (Redis rejects `PX 0`); `None` for never.
fn millis_left(expiry: Expiry) -> Option<u64> {
    /// Far beyond any cache entry's life, well within what Redis accepts (it adds the current time).
    const MAX_MILLIS: u64 = 1 << 52;
    let left = expiry.remaining_at(SystemTime::now())?;
    let millis = left.as_millis() + u128::from(left.subsec_nanos() % 1_000_000 != 0);
    Some(
        u64::try_from(millis)
            .unwrap_or(MAX_MILLIS)
            .clamp(1, MAX_MILLIS),
    )
}

/// `*`, `?`, `[`, `]` and `\` escaped, so the namespace matches itself in `SCAN MATCH`.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// `namespace + key` as a single Redis argument.
struct NamespacedKey<'a> {
    namespace: &'a str,
    key: &'a str,
}

impl redis::ToRedisArgs for NamespacedKey<'_> {
    fn write_redis_args<W>(&self, out: &mut W)
    where
        W: ?Sized + redis::RedisWrite,
    {
        use std::io::Write as _;
        let mut arg = out.writer_for_next_arg();
        // Writing into the command's buffer cannot fail.
        let _ = arg.write_all(self.namespace.as_bytes());
        let _ = arg.write_all(self.key.as_bytes());
    }
}

impl redis::ToSingleRedisArg for NamespacedKey<'_> {}

fn bytes_reply(value: Value) -> Result<Option<Bytes>> {
    match value {
        Value::Nil => Ok(None),
        Value::BulkString(bytes) => Ok(Some(Bytes::from(bytes))),
        Value::SimpleString(text) => Ok(Some(Bytes::from(text))),
        other => Err(unexpected("GET", &other)),
    }
}

fn int_reply(command: &str, value: Value) -> Result<i64> {
    match value {
        Value::Int(n) => Ok(n),
        other => Err(unexpected(command, &other)),
    }
}

fn unexpected(command: &str, value: &Value) -> Error {
    Error::backend(
        NAME,
        format!("unexpected reply to {command}: {:?}", ReplyShape(value)),
    )
}

/// A reply described by its shape only: values may hold user data that does not belong in an error.
struct ReplyShape<'a>(&'a Value);

impl std::fmt::Debug for ReplyShape<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Value::Nil => f.write_str("nil"),
            Value::Int(n) => write!(f, "integer {n}"),
            Value::BulkString(bytes) => write!(f, "bulk string of {} bytes", bytes.len()),
            Value::Array(items) => write!(f, "array of {}", items.len()),
            Value::SimpleString(_) => f.write_str("simple string"),
            Value::Okay => f.write_str("OK"),
            _ => f.write_str("other reply"),
        }
    }
}

/// Maps the errors `INCRBY` replies with to the cache's errors.
fn incr_error(key: &str, error: Error) -> Error {
    let Error::Backend { source, .. } = &error else {
        return error;
    };
    let Some(redis_error) = source.downcast_ref::<RedisError>() else {
        return error;
    };
    if is_connection_error(redis_error) {
        return error;
    }
    let message = redis_error.to_string();
    if message.contains("not an integer") {
        Error::NotNumeric {
            key: key.to_owned(),
        }
    } else if message.contains("overflow") {
        Error::Overflow {
            key: key.to_owned(),
        }
    } else {
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_round_up_to_whole_milliseconds() {
        assert_eq!(millis_left(Expiry::Never), None);
        let soon = Expiry::after(Duration::from_micros(1500));
        assert!(matches!(millis_left(soon), Some(1..=2)));
        let past = Expiry::At(SystemTime::UNIX_EPOCH);
        assert_eq!(millis_left(past), Some(1), "never PX 0");
        let hour = millis_left(Expiry::after(Duration::from_secs(3600))).unwrap_or(0);
        assert!((3_599_000..=3_600_000).contains(&hour), "{hour}");
    }

    #[test]
    fn namespaces_match_only_themselves() {
        assert_eq!(glob_escape("cache:"), "cache:");
        assert_eq!(glob_escape(r"a*b?[c]\"), r"a\*b\?\[c\]\\");
    }
}
