//! [`RedisBackendBuilder`]: the settings of a [`RedisBackend`], by hand or from a URL.

use std::sync::Arc;
use std::time::Duration;

use deadpool::managed::Pool;
use deadpool::Runtime;

use crate::backends::pool::{ConnectionSettings, Health};
use crate::error::{Error, Result};
use crate::url::{percent_decode, redact};

use super::client_cache::{ClientCache, ClientCacheSettings};
use super::connection::{Pools, SingleManager};
use super::{Inner, RedisBackend, DEFAULT_NAMESPACE};

/// Default operation timeout: the "at most 1 s" for a cache that must never stall a request.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// Default pool size. Each pooled connection is multiplexed (many requests in flight on one socket), so a
/// few connections carry a lot of concurrency, and fewer sockets pipeline more commands per write and per
/// read: with 32 concurrent requests writing sessions (`benches/session_load.rs`), 2 connections served
/// about 1.3× the requests per second of 8.
const DEFAULT_MAX_CONNECTIONS: usize = 2;

/// The URL options read here besides the connection settings.
const URL_OPTIONS: [&str; 4] = [
    "namespace",
    "client_side_cache",
    "client_side_cache_max_bytes",
    "client_side_cache_ttl",
];

#[derive(Debug, Clone)]
enum Target {
    Single(String),
    #[cfg_attr(not(feature = "redis-cluster"), allow(dead_code))]
    Cluster(Vec<String>),
}

/// Settings for a [`RedisBackend`]: made by [`RedisBackend::builder`], [`RedisBackend::cluster_builder`]
/// (feature `redis-cluster`) or [`RedisBackendBuilder::from_url`].
#[derive(Clone)]
#[must_use]
pub struct RedisBackendBuilder {
    target: Target,
    namespace: String,
    connection: ConnectionSettings,
    client_cache: Option<ClientCacheSettings>,
    /// The client-side cache's size and TTL when set before the cache was turned on: applied when it is,
    /// so the setters work in any order.
    client_cache_pending: PendingClientCache,
}

/// Client-side cache settings given while the cache is off.
#[derive(Debug, Clone, Copy, Default)]
struct PendingClientCache {
    max_bytes: Option<usize>,
    ttl: Option<Duration>,
}

impl std::fmt::Debug for RedisBackendBuilder {
    /// Prints the server addresses without credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let servers: Vec<String> = match &self.target {
            Target::Single(url) => vec![redact(url)],
            Target::Cluster(nodes) => nodes.iter().map(|node| redact(node)).collect(),
        };
        f.debug_struct("RedisBackendBuilder")
            .field("servers", &servers)
            .field("namespace", &self.namespace)
            .field("max_connections", &self.connection.max_connections)
            .field("timeout", &self.connection.timeout)
            .field("connect_timeout", &self.connection.connect_timeout)
            .field("client_cache", &self.client_cache)
            .finish()
    }
}

impl RedisBackendBuilder {
    pub(super) fn new(url: String) -> Self {
        match cluster_nodes(&url) {
            Some(nodes) => RedisBackendBuilder::with_target(Target::Cluster(nodes)),
            None => RedisBackendBuilder::with_target(Target::Single(url)),
        }
    }

    #[cfg(feature = "redis-cluster")]
    pub(super) fn cluster(nodes: Vec<String>) -> Self {
        RedisBackendBuilder::with_target(Target::Cluster(nodes))
    }

    fn with_target(target: Target) -> Self {
        RedisBackendBuilder {
            target,
            namespace: DEFAULT_NAMESPACE.to_owned(),
            connection: ConnectionSettings::new(DEFAULT_TIMEOUT, DEFAULT_MAX_CONNECTIONS),
            client_cache: None,
            client_cache_pending: PendingClientCache::default(),
        }
    }

    /// Settings from a URL whose query string may carry `namespace`, `max_connections`, `socket_timeout`
    /// and `socket_connect_timeout` (seconds), and the client-side cache's `client_side_cache` (entries),
    /// `client_side_cache_max_bytes` and `client_side_cache_ttl` (seconds); other query options are left for
    /// redis-rs. [`Error::Config`] for a bad option value.
    pub fn from_url(url: &str) -> Result<Self> {
        let url = url.trim();
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, query),
            None => (url, ""),
        };
        let mut passthrough = Vec::new();
        let mut settings = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if URL_OPTIONS.contains(&name) || ConnectionSettings::URL_OPTIONS.contains(&name) {
                settings.push((name, percent_decode(value)?));
            } else {
                passthrough.push(pair);
            }
        }
        let driver_url = if passthrough.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", passthrough.join("&"))
        };
        let mut builder = RedisBackendBuilder::new(driver_url);
        // The cache's size and TTL apply once it is on, whatever the order of the options.
        settings.sort_by_key(|(name, _)| *name != "client_side_cache");
        for (name, value) in settings {
            match name {
                "namespace" => builder.namespace = value,
                "client_side_cache" => {
                    let entries = crate::backends::pool::parse_count(name, &value)?;
                    builder = builder.client_side_cache(entries);
                }
                "client_side_cache_max_bytes" => {
                    let bytes = crate::backends::pool::parse_count(name, &value)?;
                    builder = builder.client_side_cache_max_bytes(bytes);
                }
                "client_side_cache_ttl" => {
                    let ttl = crate::backends::pool::parse_seconds(name, &value)?;
                    builder = builder.client_side_cache_ttl(ttl);
                }
                _ => drop(builder.connection.set_url_option(name, &value)?),
            }
        }
        Ok(builder)
    }

    /// The prefix of every Redis key this backend writes, and the scope of `clear` (default `"cache:"`).
    /// An empty namespace makes `clear` delete every key of the database.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    crate::backends::pool::connection_setters!(
        timeout: "The deadline of every operation, from asking the pool for a connection to the reply \
                  (default 1 s). Also redis-rs's response timeout.",
        max_connections: "The most connections the pool holds (default 2; each one multiplexes many \
                          requests, and fewer sockets pipeline more commands). Raise it if you hold \
                          [`RedisBackend::connection`]s for long: each is one of these.",
    );

    /// Turns on the client-side cache, holding up to `max_entries` keys: values read from Redis are kept in
    /// process memory and answered from there until Redis says they changed
    /// ([server-assisted client-side caching](https://redis.io/docs/latest/develop/reference/client-side-caching/),
    /// Redis 6 or later). A repeated read of a hot key then costs no round trip: it is answered without
    /// I/O, as the memory backend answers. Off by default; `0` turns it off. Standalone servers only:
    /// [`build`](Self::build) rejects it for a cluster.
    ///
    /// How it works, and what to know before turning it on:
    ///
    /// - Every operation of the backend then goes through one RESP3 connection with `CLIENT TRACKING ON`
    ///   (pipelined, as operations are anyway); the server sends it an invalidation whenever a key it read
    ///   is changed, expires or is deleted, by any client. The one exception is
    ///   [`RedisBackend::write_pipeline`], which writes on the pool and then drops this process's copies
    ///   of what it wrote. [`RedisBackend::read_through`] reads other structures than strings (a hash,
    ///   say) through the same cache.
    /// - **Consistency.** This process reads its own writes at once (a write returns only after its
    ///   invalidation has been applied). A write by another client is seen once its invalidation has
    ///   arrived, which the server sends as the write happens — microseconds on a LAN, the same window as
    ///   having read a moment earlier. A value read just before an invalidation is never kept after it. A
    ///   local copy also expires with the key (its TTL is read with the value).
    /// - **Failure.** The cache lives and dies with its connection: when it closes, the cache is emptied
    ///   before anything more is read from it, and the next operation reconnects with an empty cache. A
    ///   connection that silently stops receiving (a network partition without a reset) can answer stale
    ///   values for at most [`client_side_cache_ttl`](Self::client_side_cache_ttl) (default 60 s).
    /// - **Memory.** At most `max_entries` keys (misses count: a key read as missing is held as missing)
    ///   and [`client_side_cache_max_bytes`](Self::client_side_cache_max_bytes) of values (default 64 MiB).
    ///   When full, arbitrary keys are dropped to make room. The server keeps a tracking table too (its
    ///   `tracking-table-max-keys` setting).
    /// - Commands sent on a [`RedisBackend::connection`] do not go through this cache, but writes made on it
    ///   invalidate it like any other client's.
    pub fn client_side_cache(mut self, max_entries: usize) -> Self {
        let pending = self.client_cache_pending;
        self.client_cache = (max_entries > 0).then(|| ClientCacheSettings {
            max_entries,
            ..self.client_cache.unwrap_or(ClientCacheSettings {
                max_entries,
                max_bytes: pending
                    .max_bytes
                    .unwrap_or(ClientCacheSettings::DEFAULT_MAX_BYTES),
                ttl: pending.ttl.unwrap_or(ClientCacheSettings::DEFAULT_TTL),
            })
        });
        self
    }

    /// The most bytes of values the client-side cache holds (default 64 MiB; a larger value is not held).
    /// Used when [`client_side_cache`](Self::client_side_cache) turns the cache on, before or after this
    /// call.
    pub fn client_side_cache_max_bytes(mut self, max_bytes: usize) -> Self {
        self.client_cache_pending.max_bytes = Some(max_bytes);
        if let Some(cache) = &mut self.client_cache {
            cache.max_bytes = max_bytes;
        }
        self
    }

    /// The longest a value is answered from the client-side cache without asking the server (default 60 s;
    /// invalidations and the key's own TTL usually end it sooner). Used when
    /// [`client_side_cache`](Self::client_side_cache) turns the cache on, before or after this call; zero
    /// is refused by [`build`](Self::build).
    pub fn client_side_cache_ttl(mut self, ttl: Duration) -> Self {
        self.client_cache_pending.ttl = Some(ttl);
        if let Some(cache) = &mut self.client_cache {
            cache.ttl = ttl;
        }
        self
    }

    /// Builds the backend. No connection is made until the first operation, so a server that is down at
    /// startup is an error of the operations, not of `build`. [`Error::Config`] for an invalid URL, a
    /// `rediss://` URL without the `redis-tls` feature, a cluster URL without `redis-cluster`, a zero
    /// timeout or pool size, or a client-side cache on a cluster or with a zero TTL.
    pub fn build(self) -> Result<RedisBackend> {
        let connect_timeout = self.connection.checked_connect_timeout("redis")?;
        let client_cache = self.client_cache(connect_timeout)?;
        let health = Arc::new(Health::new());
        let (pools, cluster) = match &self.target {
            Target::Single(url) => {
                check_tls(url)?;
                let manager = SingleManager::new(
                    url,
                    connect_timeout,
                    self.connection.timeout,
                    Arc::clone(&health),
                )
                .map_err(|error| {
                    Error::Config(format!("invalid Redis URL {}: {error}", redact(url)))
                })?;
                (Pools::Single(self.pool(manager)?), false)
            }
            Target::Cluster(nodes) => (self.cluster_pools(nodes, connect_timeout, &health)?, true),
        };
        Ok(RedisBackend {
            inner: Arc::new(Inner {
                pools,
                health,
                namespace: self.namespace,
                timeout: self.connection.timeout,
                cluster,
                client_cache,
            }),
        })
    }

    /// The client-side cache, after checking it can apply.
    fn client_cache(&self, connect_timeout: Duration) -> Result<Option<ClientCache>> {
        let Some(settings) = self.client_cache else {
            return Ok(None);
        };
        let url = match &self.target {
            Target::Single(url) => url,
            Target::Cluster(_) => {
                return Err(Error::Config(
                    "the Redis client-side cache is not supported on a cluster".into(),
                ))
            }
        };
        if settings.ttl.is_zero() {
            return Err(Error::Config(
                "the Redis client-side cache TTL must be positive".into(),
            ));
        }
        ClientCache::new(
            url,
            self.namespace.clone(),
            settings,
            connect_timeout,
            self.connection.timeout,
        )
        .map(Some)
        .map_err(|error| Error::Config(format!("invalid Redis URL {}: {error}", redact(url))))
    }

    fn pool<M: deadpool::managed::Manager>(&self, manager: M) -> Result<Pool<M>> {
        Pool::builder(manager)
            .max_size(self.connection.max_connections)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|error| Error::Config(format!("cannot build the Redis pool: {error}")))
    }

    /// The pools of a cluster of `nodes`: [`Error::Config`] without nodes, or without the
    /// `redis-cluster` feature.
    fn cluster_pools(
        &self,
        nodes: &[String],
        connect_timeout: Duration,
        health: &Arc<Health>,
    ) -> Result<Pools> {
        #[cfg(not(feature = "redis-cluster"))]
        {
            let _ = (nodes, connect_timeout, health);
            Err(Error::Config(
                "redis+cluster:// URLs need cache-core's `redis-cluster` feature".into(),
            ))
        }
        #[cfg(feature = "redis-cluster")]
        {
            if nodes.is_empty() {
                return Err(Error::Config(
                    "a Redis Cluster needs at least one node".into(),
                ));
            }
            for node in nodes {
                check_tls(node)?;
            }
            let manager = super::connection::ClusterManager::new(
                nodes,
                connect_timeout,
                self.connection.timeout,
                Arc::clone(health),
            )
            .map_err(|error| {
                let nodes: Vec<String> = nodes.iter().map(|node| redact(node)).collect();
                Error::Config(format!("invalid Redis Cluster nodes {nodes:?}: {error}"))
            })?;
            Ok(Pools::Cluster(self.pool(manager)?))
        }
    }
}

/// The node URLs of `redis+cluster://[user:password@]h1:p1,h2:p2[/…][?…]` (and `rediss+cluster://`), or
/// `None` for any other URL.
fn cluster_nodes(url: &str) -> Option<Vec<String>> {
    let (scheme, rest) = url.split_once("://")?;
    let node_scheme = match scheme.to_ascii_lowercase().as_str() {
        "redis+cluster" => "redis",
        "rediss+cluster" => "rediss",
        _ => return None,
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    // A cluster has only database 0: keep the query (e.g. `protocol=resp3`), drop any path.
    let query = tail.find('?').map_or("", |at| &tail[at..]);
    Some(
        hosts
            .split([',', ';'])
            .map(str::trim)
            .filter(|host| !host.is_empty())
            .map(|host| format!("{node_scheme}://{userinfo}{host}{query}"))
            .collect(),
    )
}

/// `rediss://` needs redis-rs's TLS support, which the `redis-tls` feature brings.
fn check_tls(url: &str) -> Result<()> {
    let tls = url
        .get(..9)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("rediss://"));
    if tls && !cfg!(feature = "redis-tls") {
        return Err(Error::Config(format!(
            "{} uses TLS: enable cache-core's `redis-tls` feature",
            redact(url)
        )));
    }
    #[cfg(feature = "redis-tls")]
    if tls {
        // rustls needs one process-wide crypto provider; an application may have installed its own already.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    Ok(())
}

#[cfg(test)]
mod tests;
