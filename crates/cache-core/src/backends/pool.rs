//! Connection-pool machinery shared by the server backends (Redis, memcached): one deadline per operation,
//! connections that are discarded as soon as they fail, and health checks only when they can matter.
//!
//! The pools are [deadpool](https://docs.rs/deadpool) pools. What is added here:
//!
//! - **A deadline per operation** ([`with_deadline`]): waiting for a pooled connection, connecting, sending
//!   and reading the reply all count against one timeout, so a dead or hanging server costs a caller at
//!   most that long, whatever state the pool is in.
//! - **Discard on failure** ([`Lease`]): a connection goes back to the pool only when its operation
//!   finished with a reply. A connection whose operation failed at the transport level, timed out, or was
//!   cancelled half-way is dropped, so no later operation inherits a broken socket or an unread reply.
//! - **Checks only when needed** ([`Health`]): a round trip to verify a pooled connection would double the
//!   cost of every cache call, so connections are verified only after sitting idle for a while or after a
//!   failure was seen on any connection of the pool since they were last used (a restarted server leaves
//!   every idle connection dead). A busy pool pays nothing.

use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool::managed::{Manager, Metrics, Object, Pool, PoolError};

use crate::error::Error;

/// A pooled connection unused for this long is verified with a round trip before it is handed out again
/// (servers, proxies and NAT tables drop idle connections).
pub(crate) const IDLE_CHECK_AFTER: Duration = Duration::from_secs(5);

/// What a pool knows about the health of its connections.
#[derive(Debug)]
pub(crate) struct Health {
    origin: Instant,
    /// Microseconds from `origin` to the last failure, plus one; 0 when there has been none.
    last_failure: AtomicU64,
}

impl Health {
    pub(crate) fn new() -> Self {
        Health {
            origin: Instant::now(),
            last_failure: AtomicU64::new(0),
        }
    }

    /// Records that a connection failed: every connection last used before now is verified before reuse.
    pub(crate) fn note_failure(&self) {
        // Rounded up to the next whole microsecond, so a connection last used in the same microsecond as the
        // failure still counts as "used before it" and is checked (rounding down would let it through).
        let micros = u64::try_from(self.origin.elapsed().as_micros())
            .unwrap_or(u64::MAX - 2)
            .saturating_add(1);
        self.last_failure.fetch_max(micros + 1, Ordering::Relaxed);
    }

    /// Whether a pooled connection with these metrics must be verified before it is handed out.
    pub(crate) fn needs_check(&self, metrics: &Metrics) -> bool {
        let last_used = metrics.recycled.unwrap_or(metrics.created);
        if last_used.elapsed() >= IDLE_CHECK_AFTER {
            return true;
        }
        match self.last_failure.load(Ordering::Relaxed) {
            0 => false,
            failure => self.origin + Duration::from_micros(failure - 1) >= last_used,
        }
    }
}

/// A connection taken from a pool. It goes back to the pool when dropped, unless it was marked unhealthy
/// ([`Lease::set_healthy`]): operations mark it unhealthy before sending and healthy once a reply arrived,
/// so a transport error, a timeout or a future cancelled half-way discards the connection (and tells the
/// pool's [`Health`]) instead of handing a broken socket or an unread reply to the next caller.
pub(crate) struct Lease<M: Manager> {
    object: Option<Object<M>>,
    health: Arc<Health>,
    healthy: bool,
}

impl<M: Manager> Lease<M> {
    pub(crate) fn new(object: Object<M>, health: Arc<Health>) -> Self {
        Lease {
            object: Some(object),
            health,
            healthy: true,
        }
    }

    /// Marks the connection as fit for reuse (`true`) or to be discarded when dropped (`false`).
    pub(crate) fn set_healthy(&mut self, healthy: bool) {
        self.healthy = healthy;
    }
}

impl<M: Manager> Deref for Lease<M> {
    type Target = M::Type;

    fn deref(&self) -> &M::Type {
        match &self.object {
            Some(object) => object,
            // The object is only taken out in `drop`.
            None => unreachable!("lease used after drop"),
        }
    }
}

impl<M: Manager> DerefMut for Lease<M> {
    fn deref_mut(&mut self) -> &mut M::Type {
        match &mut self.object {
            Some(object) => object,
            None => unreachable!("lease used after drop"),
        }
    }
}

impl<M: Manager> Drop for Lease<M> {
    fn drop(&mut self) {
        if self.healthy {
            return;
        }
        if let Some(object) = self.object.take() {
            // Detached from the pool and dropped here: the socket closes, the pool makes a new one later.
            drop(Object::take(object));
            self.health.note_failure();
        }
    }
}

/// Takes a connection from `pool`, as an [`Error::Backend`] of `backend` when none can be had.
pub(crate) async fn lease<M>(
    backend: &'static str,
    pool: &Pool<M>,
    health: Arc<Health>,
) -> Result<Lease<M>, Error>
where
    M: Manager,
    M::Error: std::error::Error + Send + Sync + 'static,
{
    // The pool's future holds the manager's connect and recycle futures inline: managers box theirs
    // (only built when connecting or checking), so that this future, and every operation's holding it,
    // stays small.
    match pool.get().await {
        Ok(object) => Ok(Lease::new(object, health)),
        Err(error) => {
            health.note_failure();
            Err(pool_error(backend, error))
        }
    }
}

fn pool_error<E>(backend: &'static str, error: PoolError<E>) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    match error {
        // The driver's own error (connection refused, authentication…) says more than the pool's wrapper.
        PoolError::Backend(error) => Error::backend(backend, error),
        other => Error::backend(backend, other.to_string()),
    }
}

/// Runs `operation` with a deadline of `timeout`: [`Error::Backend`] with a [`TimedOut`] source when it
/// takes longer. Whatever the operation held (a pooled connection) is dropped, hence discarded.
pub(crate) async fn with_deadline<T>(
    backend: &'static str,
    operation: &'static str,
    timeout: Duration,
    future: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(timeout, future).await {
        Ok(result) => result,
        Err(_) => Err(Error::backend(
            backend,
            TimedOut {
                operation,
                after: timeout,
            },
        )),
    }
}

/// An operation did not finish within the backend's timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut {
    /// The operation (`"get"`, `"set"`, …).
    pub operation: &'static str,
    /// The timeout it exceeded.
    pub after: Duration,
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} timed out after {:?}", self.operation, self.after)
    }
}

impl std::error::Error for TimedOut {}

/// The connection settings of a server backend (Redis, memcached), by hand or from the URL options
/// `socket_timeout`, `socket_connect_timeout` (seconds) and `max_connections`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionSettings {
    /// The deadline of every operation.
    pub(crate) timeout: Duration,
    /// How long connecting may take; `None` for the operation timeout.
    pub(crate) connect_timeout: Option<Duration>,
    /// The most connections a pool holds (zero is refused when the backend is built).
    pub(crate) max_connections: usize,
}

impl ConnectionSettings {
    /// The URL options [`set_url_option`](Self::set_url_option) reads.
    pub(crate) const URL_OPTIONS: [&'static str; 3] = [
        "socket_timeout",
        "socket_connect_timeout",
        "max_connections",
    ];

    pub(crate) fn new(timeout: Duration, max_connections: usize) -> Self {
        ConnectionSettings {
            timeout,
            connect_timeout: None,
            max_connections,
        }
    }

    /// Applies the URL option `name=value` when `name` is one of [`URL_OPTIONS`](Self::URL_OPTIONS):
    /// `Ok(false)` for any other name, [`Error::Config`] for a bad value.
    pub(crate) fn set_url_option(&mut self, name: &str, value: &str) -> Result<bool, Error> {
        match name {
            "socket_timeout" => self.timeout = parse_seconds(name, value)?,
            "socket_connect_timeout" => self.connect_timeout = Some(parse_seconds(name, value)?),
            "max_connections" => self.max_connections = parse_count(name, value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The connect timeout to use (the operation timeout unless set), once every setting is checked:
    /// [`Error::Config`] naming `backend` when a timeout or the pool size is zero.
    pub(crate) fn checked_connect_timeout(&self, backend: &str) -> Result<Duration, Error> {
        if self.timeout.is_zero() || self.connect_timeout.is_some_and(|t| t.is_zero()) {
            return Err(Error::Config(format!(
                "{backend} timeouts must be positive"
            )));
        }
        if self.max_connections == 0 {
            return Err(Error::Config(format!(
                "{backend} max_connections must be positive"
            )));
        }
        Ok(self.connect_timeout.unwrap_or(self.timeout))
    }
}

/// The setters of a server backend builder's [`ConnectionSettings`] (its `connection` field), written once
/// for Redis and memcached: `timeout`, `connect_timeout` and `max_connections`, with the backend's own
/// documentation of the timeout and of the pool size.
macro_rules! connection_setters {
    (timeout: $timeout:literal, max_connections: $max_connections:literal $(,)?) => {
        #[doc = $timeout]
        #[doc = ""]
        #[doc = "Zero is refused by [`build`](Self::build)."]
        pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.connection.timeout = timeout;
            self
        }

        /// How long connecting may take (default: the operation timeout). Zero is refused by
        /// [`build`](Self::build).
        pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.connection.connect_timeout = Some(timeout);
            self
        }

        #[doc = $max_connections]
        #[doc = ""]
        #[doc = "Zero is refused by [`build`](Self::build)."]
        pub fn max_connections(mut self, max_connections: usize) -> Self {
            self.connection.max_connections = max_connections;
            self
        }
    };
}
pub(crate) use connection_setters;

/// Parses a duration option given in seconds, fractions allowed (`"1"`, `"0.25"`), as redis-py's
/// `socket_timeout` and pymemcache's `timeout` are.
pub(crate) fn parse_seconds(name: &str, value: &str) -> Result<Duration, Error> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|secs| secs.is_finite() && *secs > 0.0)
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| {
            Error::Config(format!(
                "cache option {name}={value:?} is not a positive number of seconds"
            ))
        })
}

/// Parses a positive count option.
pub(crate) fn parse_count(name: &str, value: &str) -> Result<usize, Error> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            Error::Config(format!(
                "cache option {name}={value:?} is not a positive integer"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_follow_idleness_and_failures() {
        let health = Health::new();
        let fresh = Metrics::default();
        assert!(!health.needs_check(&fresh));
        health.note_failure();
        assert!(
            health.needs_check(&fresh),
            "used before the failure: check it"
        );
        let later = Metrics {
            recycled: Some(Instant::now() + Duration::from_millis(1)),
            ..Metrics::default()
        };
        assert!(!health.needs_check(&later), "used after the failure");
        if let Some(long_ago) = Instant::now().checked_sub(IDLE_CHECK_AFTER) {
            let idle = Metrics {
                created: long_ago,
                ..Metrics::default()
            };
            assert!(Health::new().needs_check(&idle));
        }
    }

    #[test]
    fn options_parse_or_name_themselves() {
        assert_eq!(
            parse_seconds("t", "0.25").ok(),
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse_seconds("t", "2").ok(), Some(Duration::from_secs(2)));
        for bad in ["0", "-1", "soon", "NaN", "inf"] {
            let err = parse_seconds("socket_timeout", bad).expect_err(bad);
            assert!(err.to_string().contains("socket_timeout"), "{err}");
        }
        assert_eq!(parse_count("n", "8").ok(), Some(8));
        assert!(parse_count("max_connections", "0").is_err());
    }
}
