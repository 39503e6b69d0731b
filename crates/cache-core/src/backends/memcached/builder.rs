//! [`MemcachedBackendBuilder`]: the settings of a [`MemcachedBackend`], by hand or from a URL.

use std::sync::Arc;
use std::time::Duration;

use crate::backends::pool::{parse_count, ConnectionSettings};
use crate::error::{Error, Result};

use super::connection::Server;
use super::ring::Ring;
use super::{Inner, MemcachedBackend, DEFAULT_MAX_VALUE_SIZE};

/// Default operation timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// Default connections per server. A memcached connection carries one request at a time, so this bounds
/// the concurrency per server.
const DEFAULT_MAX_CONNECTIONS: usize = 16;

/// memcached's port.
const DEFAULT_PORT: u16 = 11211;

/// Settings for a [`MemcachedBackend`]: made by [`MemcachedBackend::builder`] or
/// [`MemcachedBackendBuilder::from_url`].
#[derive(Clone)]
#[must_use]
pub struct MemcachedBackendBuilder {
    servers: Vec<String>,
    connection: ConnectionSettings,
    max_value_size: usize,
    django: bool,
}

impl std::fmt::Debug for MemcachedBackendBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemcachedBackendBuilder")
            .field("servers", &self.servers)
            .field("timeout", &self.connection.timeout)
            .field("connect_timeout", &self.connection.connect_timeout)
            .field("max_connections", &self.connection.max_connections)
            .field("max_value_size", &self.max_value_size)
            .field("django", &self.django)
            .finish()
    }
}

impl MemcachedBackendBuilder {
    pub(super) fn new(servers: Vec<String>) -> Self {
        MemcachedBackendBuilder {
            servers,
            connection: ConnectionSettings::new(DEFAULT_TIMEOUT, DEFAULT_MAX_CONNECTIONS),
            max_value_size: DEFAULT_MAX_VALUE_SIZE,
            django: false,
        }
    }

    /// Settings from `memcached://h1:11211,h2:11211` (servers separated by `,` or `;`, default port 11211)
    /// with optional `socket_timeout`, `socket_connect_timeout` (seconds), `max_connections` (per server)
    /// and `max_value_size` (bytes) in the query string. [`Error::Config`] for anything else.
    pub fn from_url(url: &str) -> Result<Self> {
        let url = url.trim();
        let rest = url
            .split_once("://")
            .filter(|(scheme, _)| {
                scheme.eq_ignore_ascii_case("memcached") || scheme.eq_ignore_ascii_case("memcache")
            })
            .map(|(_, rest)| rest)
            .ok_or_else(|| {
                Error::Config(format!(
                    "{url:?} is not a memcached URL (memcached://host:port,host:port)"
                ))
            })?;
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let servers = location
            .trim_end_matches('/')
            .split([',', ';'])
            .map(str::trim)
            .filter(|server| !server.is_empty())
            .map(String::from)
            .collect();
        let mut builder = MemcachedBackendBuilder::new(servers);
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if name == "max_value_size" {
                builder.max_value_size = parse_count(name, value)?;
            } else if !builder.connection.set_url_option(name, value)? {
                return Err(Error::Config(format!(
                    "unknown memcached option {name:?} (known: {}, max_value_size)",
                    ConnectionSettings::URL_OPTIONS.join(", ")
                )));
            }
        }
        Ok(builder)
    }

    crate::backends::pool::connection_setters!(
        timeout: "The deadline of every operation, from asking for a connection to the reply (default \
                  1 s).",
        max_connections: "The most connections per server (default 16).",
    );

    /// The largest value stored (default 1 MiB, memcached's default item size; raise it together with the
    /// server's `-I`). Larger values are [`Error::ValueTooLarge`].
    pub fn max_value_size(mut self, bytes: usize) -> Self {
        self.max_value_size = bytes;
        self
    }

    /// Stores values and places keys as Django's
    /// [`PyMemcacheCache`](https://docs.djangoproject.com/en/5.2/topics/cache/#memcached) does (pymemcache's
    /// `HashClient` with `pickle_serde`), so a Django project with the same server list shares them: `bytes`
    /// with client flags 0, a `str` as UTF-8 with flags 16, an `int` as decimal text with flags 2 (so
    /// memcached's `incr` works on it for both), anything else pickled with flags 1; each key on the
    /// server pymemcache's rendezvous hashing picks. Pair it with
    /// [`ValueFormat::DjangoPickle`](crate::ValueFormat::DjangoPickle) on the [`Cache`](crate::Cache)
    /// (a `memcached://` URL with `value_format=django` does both).
    pub fn django_layout(mut self) -> Self {
        self.django = true;
        self
    }

    /// Builds the backend; connections are made by the first operations. [`Error::Config`] for no server,
    /// a server that is not `host[:port]`, or a zero timeout or pool size.
    pub fn build(self) -> Result<MemcachedBackend> {
        if self.servers.is_empty() {
            return Err(Error::Config(
                "a memcached cache needs at least one server".into(),
            ));
        }
        let connect_timeout = self.connection.checked_connect_timeout("memcached")?;
        let addresses = self
            .servers
            .iter()
            .map(|server| normalize(server))
            .collect::<Result<Vec<_>>>()?;
        let ring = if self.django {
            Ring::rendezvous(&addresses)
        } else {
            Ring::new(&addresses)
        };
        let servers = addresses
            .into_iter()
            .map(|address| Server::new(address, self.connection.max_connections, connect_timeout))
            .collect::<Result<Vec<_>>>()?;
        Ok(MemcachedBackend {
            inner: Arc::new(Inner {
                servers,
                ring,
                timeout: self.connection.timeout,
                max_value_size: self.max_value_size,
                django: self.django,
            }),
        })
    }
}

/// `host[:port]` as `host:port`, the form the ring hashes (so every client agrees on placement).
fn normalize(server: &str) -> Result<String> {
    let server = server.trim().trim_start_matches("tcp://");
    let invalid = || {
        Error::Config(format!(
            "invalid memcached server {server:?} (expected host:port)"
        ))
    };
    if server.is_empty() || server.contains(['/', '@', ' ']) {
        return Err(invalid());
    }
    // `[v6]:port`, `[v6]`, `host:port`, `host`.
    let (host, port) = if let Some(rest) = server.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(invalid)?;
        match after.strip_prefix(':') {
            Some(port) => (format!("[{host}]"), Some(port)),
            None if after.is_empty() => (format!("[{host}]"), None),
            None => return Err(invalid()),
        }
    } else {
        match server.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host.to_owned(), Some(port)),
            Some(_) => return Err(invalid()),
            None => (server.to_owned(), None),
        }
    };
    let port = match port {
        Some(port) => port.parse::<u16>().map_err(|_| invalid())?,
        None => DEFAULT_PORT,
    };
    if host.is_empty() {
        return Err(invalid());
    }
    Ok(format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_list_servers_and_options() {
        let builder = MemcachedBackendBuilder::from_url(
            "memcached://10.0.0.1:11211,10.0.0.2;cache3:11300/?socket_timeout=0.2&max_connections=4",
        )
        .expect("valid");
        assert_eq!(
            builder.servers,
            ["10.0.0.1:11211", "10.0.0.2", "cache3:11300"]
        );
        assert_eq!(builder.connection.timeout, Duration::from_millis(200));
        assert_eq!(builder.connection.max_connections, 4);
        let backend = builder.build().expect("valid");
        assert_eq!(
            backend.servers().collect::<Vec<_>>(),
            ["10.0.0.1:11211", "10.0.0.2:11211", "cache3:11300"]
        );
    }

    #[test]
    fn bad_urls_and_servers_are_config_errors() {
        for bad in [
            "redis://h",
            "memcached://",
            "memcached://h:notaport",
            "memcached://h?nope=1",
            "memcached://h?socket_timeout=0",
        ] {
            let result =
                MemcachedBackendBuilder::from_url(bad).and_then(MemcachedBackendBuilder::build);
            assert!(matches!(result, Err(Error::Config(_))), "{bad}: {result:?}");
        }
        assert_eq!(normalize("[::1]").ok().as_deref(), Some("[::1]:11211"));
    }

    #[test]
    fn zero_pool_sizes_and_timeouts_are_refused() {
        for builder in [
            MemcachedBackend::builder(["h:11211"]).max_connections(0),
            MemcachedBackend::builder(["h:11211"]).timeout(Duration::ZERO),
            MemcachedBackend::builder(["h:11211"]).connect_timeout(Duration::ZERO),
        ] {
            assert!(matches!(builder.build(), Err(Error::Config(_))));
        }
    }
}
