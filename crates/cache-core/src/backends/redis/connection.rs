//! Pools of Redis connections and the pooled [`RedisConnection`] handed to operations.
//!
//! Each pooled object is a multiplexed connection (one socket, many requests in flight), made by
//! deadpool-redis's manager with redis-rs's connect and response timeouts. deadpool-redis's own recycle
//! step sends `UNWATCH` + `PING` every time a connection leaves the pool, which would double the round
//! trips of every cache call; the managers here verify a connection only when [`Health`] says it may be
//! stale (idle for a while, or a failure seen since its last use) and rely on discarding failed connections
//! otherwise.

use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "redis-cluster")]
use deadpool::managed::RecycleError;
use deadpool::managed::{self, Metrics, Pool, RecycleResult};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};

use crate::backends::pool::{Health, Lease};
use crate::error::{Error, Result};

use super::NAME;

/// Makes standalone connections through deadpool-redis's manager and verifies them only when needed.
pub(super) struct SingleManager {
    inner: deadpool_redis::Manager,
    health: Arc<Health>,
}

impl SingleManager {
    pub(super) fn new(
        url: &str,
        connect_timeout: Duration,
        response_timeout: Duration,
        health: Arc<Health>,
    ) -> std::result::Result<Self, RedisError> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            .set_response_timeout(Some(response_timeout));
        Ok(SingleManager {
            inner: deadpool_redis::Manager::new_with_config(url, config)?,
            health,
        })
    }
}

impl managed::Manager for SingleManager {
    type Type = MultiplexedConnection;
    type Error = RedisError;

    async fn create(&self) -> std::result::Result<MultiplexedConnection, RedisError> {
        managed::Manager::create(&self.inner).await
    }

    async fn recycle(
        &self,
        connection: &mut MultiplexedConnection,
        metrics: &Metrics,
    ) -> RecycleResult<RedisError> {
        if self.health.needs_check(metrics) {
            managed::Manager::recycle(&self.inner, connection, metrics).await
        } else {
            Ok(())
        }
    }
}

/// Makes cluster connections (each one multiplexes over a connection per node and follows the slot map).
#[cfg(feature = "redis-cluster")]
pub(super) struct ClusterManager {
    client: redis::cluster::ClusterClient,
    health: Arc<Health>,
}

#[cfg(feature = "redis-cluster")]
impl ClusterManager {
    pub(super) fn new(
        nodes: &[String],
        connect_timeout: Duration,
        response_timeout: Duration,
        health: Arc<Health>,
    ) -> std::result::Result<Self, RedisError> {
        let client = redis::cluster::ClusterClientBuilder::new(nodes.iter().map(String::as_str))
            .connection_timeout(connect_timeout)
            .response_timeout(response_timeout)
            // Redirections after a resharding or failover are retried inside the operation's deadline.
            .overall_response_timeout(Some(response_timeout))
            .build()?;
        Ok(ClusterManager { client, health })
    }
}

#[cfg(feature = "redis-cluster")]
impl managed::Manager for ClusterManager {
    type Type = redis::cluster_async::ClusterConnection;
    type Error = RedisError;

    async fn create(&self) -> std::result::Result<Self::Type, RedisError> {
        self.client.get_async_connection().await
    }

    async fn recycle(
        &self,
        connection: &mut Self::Type,
        metrics: &Metrics,
    ) -> RecycleResult<RedisError> {
        if !self.health.needs_check(metrics) {
            return Ok(());
        }
        match redis::cmd("PING").query_async::<Value>(connection).await {
            Ok(_) => Ok(()),
            Err(error) => Err(RecycleError::Backend(error)),
        }
    }
}

/// The pool behind a [`RedisBackend`](super::RedisBackend).
pub(super) enum Pools {
    Single(Pool<SingleManager>),
    #[cfg(feature = "redis-cluster")]
    Cluster(Pool<ClusterManager>),
}

impl Pools {
    pub(super) async fn lease(&self, health: &Arc<Health>) -> Result<RedisConnection> {
        let kind = match self {
            Pools::Single(pool) => {
                Kind::Single(crate::backends::pool::lease(NAME, pool, Arc::clone(health)).await?)
            }
            #[cfg(feature = "redis-cluster")]
            Pools::Cluster(pool) => {
                Kind::Cluster(crate::backends::pool::lease(NAME, pool, Arc::clone(health)).await?)
            }
        };
        Ok(RedisConnection { kind })
    }

    /// Drops every idle connection; connections in use return to the pool as usual.
    pub(super) fn close_idle(&self) {
        match self {
            Pools::Single(pool) => drop(pool.retain(|_, _| false)),
            #[cfg(feature = "redis-cluster")]
            Pools::Cluster(pool) => drop(pool.retain(|_, _| false)),
        }
    }

    pub(super) fn max_size(&self) -> usize {
        match self {
            Pools::Single(pool) => pool.status().max_size,
            #[cfg(feature = "redis-cluster")]
            Pools::Cluster(pool) => pool.status().max_size,
        }
    }
}

enum Kind {
    Single(Lease<SingleManager>),
    #[cfg(feature = "redis-cluster")]
    Cluster(Lease<ClusterManager>),
}

/// A connection from a [`RedisBackend`](super::RedisBackend)'s pool, for commands the cache API does not
/// cover (like django-redis's `get_redis_connection`). It implements redis-rs's
/// [`ConnectionLike`](redis::aio::ConnectionLike), so `redis::cmd(..).query_async(&mut connection)` and
/// pipelines work on it; keys are **not** namespaced for you.
///
/// It returns to the pool when dropped, unless a command on it failed at the connection level or was
/// cancelled half-way, in which case it is discarded and the pool makes a new one.
pub struct RedisConnection {
    kind: Kind,
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.kind {
            Kind::Single(_) => "standalone",
            #[cfg(feature = "redis-cluster")]
            Kind::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisConnection")
            .field("mode", &mode)
            .finish_non_exhaustive()
    }
}

impl RedisConnection {
    fn mark(&mut self, healthy: bool) {
        match &mut self.kind {
            Kind::Single(lease) => lease.set_healthy(healthy),
            #[cfg(feature = "redis-cluster")]
            Kind::Cluster(lease) => lease.set_healthy(healthy),
        }
    }

    fn observe<T>(&mut self, result: &std::result::Result<T, RedisError>) {
        let healthy = match result {
            Ok(_) => true,
            Err(error) => !is_connection_error(error),
        };
        self.mark(healthy);
    }

    /// The cluster connection, when this is one.
    #[cfg(feature = "redis-cluster")]
    pub(super) fn cluster(&mut self) -> Option<&mut redis::cluster_async::ClusterConnection> {
        match &mut self.kind {
            Kind::Cluster(lease) => Some(lease),
            Kind::Single(_) => None,
        }
    }

    /// Marks the connection as unusable after a failure seen outside `ConnectionLike` (cluster routing).
    #[cfg(feature = "redis-cluster")]
    pub(super) fn observe_error(&mut self, error: &RedisError) {
        if is_connection_error(error) {
            self.mark(false);
        }
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            // Until a reply arrives the connection may hold a half-sent request: cancelled here, it is
            // discarded.
            self.mark(false);
            let result = match &mut self.kind {
                Kind::Single(lease) => lease.req_packed_command(cmd).await,
                #[cfg(feature = "redis-cluster")]
                Kind::Cluster(lease) => lease.req_packed_command(cmd).await,
            };
            self.observe(&result);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            self.mark(false);
            let result = match &mut self.kind {
                Kind::Single(lease) => lease.req_packed_commands(pipeline, offset, count).await,
                #[cfg(feature = "redis-cluster")]
                Kind::Cluster(lease) => lease.req_packed_commands(pipeline, offset, count).await,
            };
            self.observe(&result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        match &self.kind {
            Kind::Single(lease) => lease.get_db(),
            #[cfg(feature = "redis-cluster")]
            Kind::Cluster(lease) => lease.get_db(),
        }
    }
}

/// Whether `error` means the connection itself is unusable (as opposed to an error reply from a healthy
/// server, like a wrong type or a non-integer value).
pub(super) fn is_connection_error(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || error.is_unrecoverable_error()
}

/// Wraps a driver error as [`Error::Backend`].
pub(super) fn backend_error(error: RedisError) -> Error {
    Error::backend(NAME, error)
}
