//! One memcached server: a deadpool pool of async-memcached clients and the runner every operation goes
//! through (lease a connection, run, classify the outcome, retry once on a dead connection when safe).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_memcached::Client;
use deadpool::managed::{self, Metrics, Pool, RecycleError, RecycleResult};

use crate::backends::pool::{lease, Health, Lease};
use crate::error::{Error, Result};

use super::NAME;

/// What a memcached command answered, or why it got no answer.
pub(super) type Reply<T> = std::result::Result<T, async_memcached::Error>;

/// What became of a command, for the retry rule of [`call!`](super::call).
pub(super) enum Settled<T> {
    /// The server answered.
    Reply(Reply<T>),
    /// The connection failed; the command may not have reached the server.
    Broken(async_memcached::Error),
}

/// Whether a failed command may be sent again on a fresh connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retry {
    /// Repeating it cannot change the outcome.
    Safe,
    /// It could apply twice (an increment).
    Never,
}

/// Connects to one server and verifies pooled connections only when [`Health`] asks for it.
pub(super) struct Manager {
    dsn: String,
    connect_timeout: Duration,
    health: Arc<Health>,
}

impl managed::Manager for Manager {
    type Type = Client;
    type Error = async_memcached::Error;

    // Boxed: the pool's `get` future holds this one inline, and every operation's future holds `get`'s
    // (see `pool::lease`); the connect future is only needed when connecting.
    async fn create(&self) -> Reply<Client> {
        match Box::pin(tokio::time::timeout(
            self.connect_timeout,
            Client::new(&self.dsn),
        ))
        .await
        {
            Ok(result) => result,
            Err(_) => Err(async_memcached::Error::Connect(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("connecting took longer than {:?}", self.connect_timeout),
            ))),
        }
    }

    async fn recycle(&self, client: &mut Client, metrics: &Metrics) -> RecycleResult<Self::Error> {
        // A client whose last operation did not complete has closed itself: its socket may hold an
        // unread reply.
        if client.is_closed() {
            return Err(RecycleError::message(
                "connection closed by an incomplete operation",
            ));
        }
        if self.health.needs_check(metrics) {
            client.version().await?;
        }
        Ok(())
    }
}

/// One server of the ring.
pub(super) struct Server {
    pub(super) address: String,
    pool: Pool<Manager>,
    health: Arc<Health>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("address", &self.address)
            .field("max_connections", &self.pool.status().max_size)
            .finish()
    }
}

impl Server {
    pub(super) fn new(
        address: String,
        max_connections: usize,
        connect_timeout: Duration,
    ) -> Result<Self> {
        let health = Arc::new(Health::new());
        let manager = Manager {
            dsn: format!("tcp://{address}"),
            connect_timeout,
            health: Arc::clone(&health),
        };
        let pool = Pool::builder(manager)
            .max_size(max_connections)
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|error| {
                Error::Config(format!(
                    "cannot build the memcached pool for {address}: {error}"
                ))
            })?;
        Ok(Server {
            address,
            pool,
            health,
        })
    }

    /// A pooled connection, marked to be discarded unless [`Server::settle`] finds its reply sound (so a
    /// command cancelled by the operation's deadline never returns its connection to the pool).
    pub(super) async fn lease(&self) -> Result<Lease<Manager>> {
        let mut connection = lease(NAME, &self.pool, Arc::clone(&self.health))
            .await
            .map_err(|error| self.describe(error))?;
        connection.set_healthy(false);
        Ok(connection)
    }

    /// Decides from a command's reply whether its connection goes back to the pool: [`Settled::Reply`]
    /// when the server answered (even with an error line), [`Settled::Broken`] when the connection failed
    /// (it is then discarded as `connection` drops).
    pub(super) fn settle<T>(&self, mut connection: Lease<Manager>, reply: Reply<T>) -> Settled<T> {
        let broken = connection.is_closed() || reply.as_ref().is_err_and(is_connection_error);
        connection.set_healthy(!broken);
        match reply {
            Err(error) if broken => Settled::Broken(error),
            reply => Settled::Reply(reply),
        }
    }

    /// An error of this server as [`Error::Backend`].
    pub(super) fn failure(&self, error: async_memcached::Error) -> Error {
        Error::backend(
            NAME,
            ServerError {
                server: self.address.clone(),
                source: error,
            },
        )
    }

    fn describe(&self, error: Error) -> Error {
        match error {
            Error::Backend { source, .. } => {
                Error::backend(NAME, format!("{}: {source}", self.address))
            }
            other => other,
        }
    }

    /// Drops the idle connections.
    pub(super) fn close_idle(&self) {
        drop(self.pool.retain(|_, _| false));
    }
}

/// A failure of one memcached server, naming it.
#[derive(Debug)]
pub struct ServerError {
    /// `host:port`.
    pub server: String,
    /// What the client said.
    pub source: async_memcached::Error,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.server, self.source)
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Whether `error` means the connection is unusable (rather than the server answering with an error).
fn is_connection_error(error: &async_memcached::Error) -> bool {
    use async_memcached::{ErrorKind, Status};
    match error {
        async_memcached::Error::Connect(_)
        | async_memcached::Error::Io(_)
        | async_memcached::Error::ConnectionClosed
        | async_memcached::Error::ParseError(_) => true,
        // A reply that does not parse leaves the stream out of step.
        async_memcached::Error::Protocol(Status::Error(ErrorKind::Protocol(_))) => true,
        async_memcached::Error::Protocol(_) => false,
    }
}
