//! [`RedisBackendBuilder`]: the settings of a [`RedisBackend`], by hand or from a URL.

use std::sync::Arc;
use std::time::Duration;

use deadpool::managed::Pool;
use deadpool::Runtime;

use crate::backends::pool::{ConnectionSettings, Health};
use crate::error::{Error, Result};
use crate::url::{percent_decode, redact};

use super::connection::{Pools, SingleManager};
use super::{Inner, RedisBackend, DEFAULT_NAMESPACE};

/// Default operation timeout: the "at most 1 s" for a cache that must never stall a request.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// Default pool size. Each pooled connection is multiplexed (many requests in flight on one socket), so a
/// few connections carry a lot of concurrency.
const DEFAULT_MAX_CONNECTIONS: usize = 8;

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
        }
    }

    /// Settings from a URL whose query string may carry `namespace`, `max_connections`, `socket_timeout`
    /// and `socket_connect_timeout` (seconds); other query options are left for redis-rs. [`Error::Config`]
    /// for a bad option value.
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
            if name == "namespace" || ConnectionSettings::URL_OPTIONS.contains(&name) {
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
        for (name, value) in settings {
            if name == "namespace" {
                builder.namespace = value;
            } else {
                builder.connection.set_url_option(name, &value)?;
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

    /// The most connections the pool holds (default 8; each one multiplexes many requests).
    pub fn max_connections(mut self, max_connections: usize) -> Self {
        self.connection.set_max_connections(max_connections);
        self
    }

    /// The deadline of every operation, from asking the pool for a connection to the reply (default 1 s).
    /// Also redis-rs's response timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.connection.timeout = timeout;
        self
    }

    /// How long connecting may take (default: the operation timeout).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connection.connect_timeout = Some(timeout);
        self
    }

    /// Builds the backend. No connection is made until the first operation, so a server that is down at
    /// startup is an error of the operations, not of `build`. [`Error::Config`] for an invalid URL, a
    /// `rediss://` URL without the `redis-tls` feature, or a cluster URL without `redis-cluster`.
    pub fn build(self) -> Result<RedisBackend> {
        let connect_timeout = self.connection.checked_connect_timeout("redis")?;
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
            }),
        })
    }

    fn pool<M: deadpool::managed::Manager>(&self, manager: M) -> Result<Pool<M>> {
        Pool::builder(manager)
            .max_size(self.connection.max_connections)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|error| Error::Config(format!("cannot build the Redis pool: {error}")))
    }

    #[cfg(feature = "redis-cluster")]
    fn cluster_pools(
        &self,
        nodes: &[String],
        connect_timeout: Duration,
        health: &Arc<Health>,
    ) -> Result<Pools> {
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

    #[cfg(not(feature = "redis-cluster"))]
    fn cluster_pools(
        &self,
        _nodes: &[String],
        _connect_timeout: Duration,
        _health: &Arc<Health>,
    ) -> Result<Pools> {
        Err(Error::Config(
            "redis+cluster:// URLs need cache-core's `redis-cluster` feature".into(),
        ))
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
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_become_node_urls() {
        assert_eq!(
            cluster_nodes("redis+cluster://u:p@h1:7001,h2:7002;h3/0?protocol=resp3"),
            Some(vec![
                "redis://u:p@h1:7001?protocol=resp3".to_owned(),
                "redis://u:p@h2:7002?protocol=resp3".to_owned(),
                "redis://u:p@h3?protocol=resp3".to_owned(),
            ])
        );
        assert_eq!(
            cluster_nodes("rediss+cluster://h1"),
            Some(vec!["rediss://h1".to_owned()])
        );
        assert_eq!(cluster_nodes("redis://h1"), None);
    }

    #[test]
    fn our_options_are_taken_and_the_rest_passed_on() {
        let builder = RedisBackendBuilder::from_url(
            "redis://127.0.0.1:6379/2?namespace=app%3A&protocol=resp3&socket_timeout=0.5&max_connections=3",
        )
        .expect("valid");
        assert_eq!(builder.namespace, "app:");
        assert_eq!(builder.connection.timeout, Duration::from_millis(500));
        assert_eq!(builder.connection.max_connections, 3);
        assert!(
            matches!(&builder.target, Target::Single(url) if url == "redis://127.0.0.1:6379/2?protocol=resp3")
        );
        let err = RedisBackendBuilder::from_url("redis://h?socket_timeout=soon").expect_err("bad");
        assert!(err.to_string().contains("socket_timeout"), "{err}");
    }

    #[test]
    fn bad_urls_are_config_errors_without_passwords() {
        let err = RedisBackend::from_url("redis://user:secret@[bad").expect_err("invalid");
        assert!(matches!(err, Error::Config(_)), "{err}");
        assert!(!err.to_string().contains("secret"), "{err}");
        if !cfg!(feature = "redis-tls") {
            let err = RedisBackend::from_url("rediss://h").expect_err("no TLS");
            assert!(err.to_string().contains("redis-tls"), "{err}");
        }
    }

    #[tokio::test]
    async fn building_makes_no_connection() {
        let backend = RedisBackend::from_url("redis://127.0.0.1:1/0").expect("valid");
        assert_eq!(backend.namespace(), "cache:");
        assert!(!backend.is_cluster());
    }
}
