//! Pools of Redis connections, and the [`RedisConnection`] handed to operations.
//!
//! Each pooled object is a multiplexed connection (one socket, many requests in flight). Two ways of
//! holding one:
//!
//! - **Shared** (every cache operation): the operation takes a pooled connection only long enough to clone
//!   its multiplexed handle and puts it straight back, so concurrent operations send their commands on the
//!   same few sockets and redis-rs pipelines them (several commands per write, several replies per read).
//!   A multiplexed connection is built for this, and is cancel-safe: a dropped request does not disturb the
//!   others. Nothing that keeps state on the connection (`WATCH`, `MULTI`, `SELECT`) is sent this way.
//! - **Exclusive** ([`RedisBackend::connection`](super::RedisBackend::connection)): the caller holds the
//!   pooled connection until it drops it, so commands that keep state on the connection are safe. It is
//!   discarded instead of returned when a command on it failed at the connection level or was cancelled
//!   half-way.
//!
//! deadpool-redis's own recycle step sends `UNWATCH` + `PING` every time a connection leaves the pool,
//! which would double the round trips of every cache call; the managers here verify a connection only when
//! [`Health`] says it may be stale (idle for a while, or a failure seen since its last use). A
//! connection-level failure on a shared handle is noted there, so the pooled connection behind it is
//! verified, and replaced if dead, before it is handed out again.

use std::sync::Arc;
use std::time::Duration;

use deadpool::managed::{self, Metrics, Pool, RecycleResult};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};

use crate::backends::pool::{Health, Lease};

use super::client_cache::{LocalCache, Tracked};
use super::errors::is_connection_error;
use crate::error::Result;

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

    // The connect and health-check futures are boxed, and only built when needed: the pool's `get`
    // future holds these two inline, and every operation's future holds `get`'s, so unboxed they made
    // each Redis operation's future some 15 KB, copied whenever it moved (see `pool::lease`).
    async fn create(&self) -> std::result::Result<MultiplexedConnection, RedisError> {
        Box::pin(managed::Manager::create(&self.inner)).await
    }

    async fn recycle(
        &self,
        connection: &mut MultiplexedConnection,
        metrics: &Metrics,
    ) -> RecycleResult<RedisError> {
        if self.health.needs_check(metrics) {
            Box::pin(managed::Manager::recycle(&self.inner, connection, metrics)).await
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

    // Boxed, as in `SingleManager`.
    async fn create(&self) -> std::result::Result<Self::Type, RedisError> {
        Box::pin(self.client.get_async_connection()).await
    }

    async fn recycle(
        &self,
        connection: &mut Self::Type,
        metrics: &Metrics,
    ) -> RecycleResult<RedisError> {
        if !self.health.needs_check(metrics) {
            return Ok(());
        }
        match Box::pin(redis::cmd("PING").query_async::<Value>(connection)).await {
            Ok(_) => Ok(()),
            Err(error) => Err(deadpool::managed::RecycleError::Backend(error)),
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
    /// A pooled connection for this caller alone, until it is dropped.
    pub(super) async fn lease(&self, health: &Arc<Health>) -> Result<RedisConnection> {
        let held = match self {
            Pools::Single(pool) => {
                Held::Single(crate::backends::pool::lease(NAME, pool, Arc::clone(health)).await?)
            }
            #[cfg(feature = "redis-cluster")]
            Pools::Cluster(pool) => {
                Held::Cluster(crate::backends::pool::lease(NAME, pool, Arc::clone(health)).await?)
            }
        };
        Ok(RedisConnection {
            kind: Kind::Exclusive(held),
        })
    }

    /// A handle on a pooled connection that concurrent operations share (their commands are pipelined);
    /// the pooled connection itself goes straight back to the pool.
    pub(super) async fn share(&self, health: &Arc<Health>) -> Result<RedisConnection> {
        let handle = match self {
            Pools::Single(pool) => Handle::Single(
                crate::backends::pool::lease(NAME, pool, Arc::clone(health))
                    .await?
                    .clone(),
            ),
            #[cfg(feature = "redis-cluster")]
            Pools::Cluster(pool) => Handle::Cluster(
                crate::backends::pool::lease(NAME, pool, Arc::clone(health))
                    .await?
                    .clone(),
            ),
        };
        Ok(RedisConnection {
            kind: Kind::Shared(handle, Arc::clone(health)),
        })
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

/// A pooled connection held by one caller.
enum Held {
    Single(Lease<SingleManager>),
    #[cfg(feature = "redis-cluster")]
    Cluster(Lease<ClusterManager>),
}

/// A clone of a pooled connection's multiplexed handle.
enum Handle {
    Single(MultiplexedConnection),
    /// The client-side cache's tracked connection: a failure on it, or a command abandoned before its reply
    /// (a deadline passed: the connection may be cut off silently), closes its cache (see `client_cache`).
    Tracked {
        connection: MultiplexedConnection,
        local: Arc<LocalCache>,
        awaiting_reply: bool,
    },
    #[cfg(feature = "redis-cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

enum Kind {
    Exclusive(Held),
    Shared(Handle, Arc<Health>),
}

/// A connection from a [`RedisBackend`](super::RedisBackend)'s pool, for commands the cache API does not
/// cover (like django-redis's `get_redis_connection`). It implements redis-rs's
/// [`ConnectionLike`](redis::aio::ConnectionLike), so `redis::cmd(..).query_async(&mut connection)` and
/// pipelines work on it; keys are **not** namespaced for you. It is yours alone until dropped, so
/// `WATCH`/`MULTI` and other connection state are safe on it.
///
/// It returns to the pool when dropped, unless a command on it failed at the connection level or was
/// cancelled half-way, in which case it is discarded and the pool makes a new one.
pub struct RedisConnection {
    kind: Kind,
}

impl std::fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cluster = match &self.kind {
            Kind::Exclusive(Held::Single(_))
            | Kind::Shared(Handle::Single(_) | Handle::Tracked { .. }, _) => false,
            #[cfg(feature = "redis-cluster")]
            Kind::Exclusive(Held::Cluster(_)) | Kind::Shared(Handle::Cluster(_), _) => true,
        };
        f.debug_struct("RedisConnection")
            .field("mode", &if cluster { "cluster" } else { "standalone" })
            .field("shared", &matches!(self.kind, Kind::Shared(..)))
            .finish_non_exhaustive()
    }
}

impl RedisConnection {
    /// A handle on the client-side cache's tracked connection.
    pub(super) fn tracked(tracked: &Tracked, health: &Arc<Health>) -> Self {
        RedisConnection {
            kind: Kind::Shared(
                Handle::Tracked {
                    connection: tracked.connection.clone(),
                    local: Arc::clone(&tracked.local),
                    awaiting_reply: false,
                },
                Arc::clone(health),
            ),
        }
    }

    /// The driver's connection, whichever way it is held.
    fn driver(&mut self) -> &mut (dyn ConnectionLike + Send) {
        match &mut self.kind {
            Kind::Exclusive(Held::Single(lease)) => &mut **lease,
            #[cfg(feature = "redis-cluster")]
            Kind::Exclusive(Held::Cluster(lease)) => &mut **lease,
            Kind::Shared(Handle::Single(connection) | Handle::Tracked { connection, .. }, _) => {
                connection
            }
            #[cfg(feature = "redis-cluster")]
            Kind::Shared(Handle::Cluster(connection), _) => connection,
        }
    }

    /// Marks an exclusive connection fit for reuse (`true`) or to be discarded when dropped (`false`), and
    /// a tracked one as having its reply (`true`) or not. Other shared handles are never discarded by one
    /// caller (the others use them too).
    fn mark(&mut self, healthy: bool) {
        match &mut self.kind {
            Kind::Exclusive(Held::Single(lease)) => lease.set_healthy(healthy),
            #[cfg(feature = "redis-cluster")]
            Kind::Exclusive(Held::Cluster(lease)) => lease.set_healthy(healthy),
            Kind::Shared(Handle::Tracked { awaiting_reply, .. }, _) => *awaiting_reply = !healthy,
            Kind::Shared(..) => {}
        }
    }

    /// Records the outcome of a command: a connection-level failure discards an exclusive connection, and
    /// makes the pool verify its connections before handing them out again (which replaces a dead shared
    /// one).
    fn observe<T>(&mut self, result: &std::result::Result<T, RedisError>) {
        match result {
            Ok(_) => self.mark(true),
            Err(error) => self.observe_error(error),
        }
    }

    /// The cluster connection, when this is one.
    #[cfg(feature = "redis-cluster")]
    pub(super) fn cluster(&mut self) -> Option<&mut redis::cluster_async::ClusterConnection> {
        match &mut self.kind {
            Kind::Exclusive(Held::Cluster(lease)) => Some(lease),
            Kind::Shared(Handle::Cluster(connection), _) => Some(connection),
            _ => None,
        }
    }

    /// Records a failure, including one seen outside `ConnectionLike` (cluster routing).
    pub(super) fn observe_error(&mut self, error: &RedisError) {
        if !is_connection_error(error) {
            self.mark(true);
            return;
        }
        match &mut self.kind {
            Kind::Exclusive(_) => self.mark(false),
            Kind::Shared(Handle::Tracked { local, .. }, _) => local.close(),
            Kind::Shared(_, health) => health.note_failure(),
        }
    }
}

impl Drop for RedisConnection {
    fn drop(&mut self) {
        if let Kind::Shared(
            Handle::Tracked {
                local,
                awaiting_reply: true,
                ..
            },
            _,
        ) = &self.kind
        {
            local.close();
        }
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            // Until a reply arrives an exclusive connection may hold a half-sent request: cancelled here, it
            // is discarded.
            self.mark(false);
            let result = self.driver().req_packed_command(cmd).await;
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
            let result = self
                .driver()
                .req_packed_commands(pipeline, offset, count)
                .await;
            self.observe(&result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        match &self.kind {
            Kind::Exclusive(Held::Single(lease)) => lease.get_db(),
            #[cfg(feature = "redis-cluster")]
            Kind::Exclusive(Held::Cluster(lease)) => lease.get_db(),
            Kind::Shared(Handle::Single(connection) | Handle::Tracked { connection, .. }, _) => {
                connection.get_db()
            }
            #[cfg(feature = "redis-cluster")]
            Kind::Shared(Handle::Cluster(connection), _) => connection.get_db(),
        }
    }
}
