//! The commands that take more than one step: deleting whether or not an item exists, probing for a hit,
//! memcached's compare-and-swap (`mg … c` then `ms C<cas>`) and the `incr` built on it, and multi-key
//! deletes confirmed by one round trip per server.

use async_memcached::{AsciiProtocol, MetaProtocol, Status};

use super::connection::{Retry, Server};
use super::protocol::is_too_large;
use super::{MemcachedBackend, NAME};
use crate::backend::checked_increment;
use crate::error::{Error, Result};

impl MemcachedBackend {
    /// Deletes `key`, whether or not it exists (`true` if it did): `delete`, and after a failed `set`, so
    /// that the old value does not stay visible.
    pub(super) async fn discard(&self, key: &str) -> Result<bool> {
        let server = self.server(key);
        let reply = call!(server, Retry::Safe, |client| client
            .meta_delete(key, false, None, None));
        match reply {
            Ok(_) => Ok(true),
            Err(async_memcached::Error::Protocol(Status::NotFound)) => Ok(false),
            Err(error) => Err(server.failure(error)),
        }
    }

    /// Whether `mg key <flags>` finds a live item (`flags` must make a hit answer with data: `s` or `v`).
    pub(super) async fn hits(&self, key: &str, flags: &[&str]) -> Result<bool> {
        let server = self.server(key);
        let reply = call!(server, Retry::Safe, |client| client.meta_get(
            key,
            false,
            None,
            Some(flags)
        ));
        match reply {
            Ok(found) => Ok(found.is_some()),
            Err(error) => Err(server.failure(error)),
        }
    }

    /// `incr` through `mg` + `ms C<cas>`: for what memcached's unsigned counters cannot do.
    pub(super) async fn incr_with_cas(&self, key: &str, delta: i64) -> Result<i64> {
        let server = self.server(key);
        // Until it wins: under contention each lost round means another writer made progress, and the
        // operation's deadline bounds the whole.
        loop {
            let Some((current, cas)) = self
                .read_for_swap(server, key, &["v", "c", "t", "f"])
                .await?
            else {
                return Err(Error::KeyNotFound {
                    key: key.to_owned(),
                });
            };
            // Remaining seconds: -1 never expires (T0), otherwise at least 1 (T0 would mean "never").
            let ttl = match current.ttl_remaining {
                None | Some(-1) => 0,
                Some(left) => left.max(1),
            };
            let data = self.read_value(key, current)?;
            let new = checked_increment(key, &data, delta)?;
            match self
                .swap(server, key, cas, new.to_string().as_bytes(), ttl)
                .await?
            {
                Swap::Stored => return Ok(new),
                // Changed since we read it: read again.
                Swap::Changed => continue,
                Swap::Gone => {
                    return Err(Error::KeyNotFound {
                        key: key.to_owned(),
                    })
                }
            }
        }
    }

    /// `mg <key> <flags>` (`flags` must include `v` and `c`): the item and its CAS token, `None` when
    /// missing. The first half of every compare-and-swap.
    pub(super) async fn read_for_swap(
        &self,
        server: &Server,
        key: &str,
        flags: &[&str],
    ) -> Result<Option<(async_memcached::MetaValue, u64)>> {
        let current = call!(server, Retry::Safe, |client| client.meta_get(
            key,
            false,
            None,
            Some(flags)
        ))
        .map_err(|error| server.failure(error))?;
        let Some(current) = current else {
            return Ok(None);
        };
        match current.cas {
            Some(cas) => Ok(Some((current, cas))),
            None => Err(Error::backend(NAME, "memcached returned no CAS token")),
        }
    }

    /// `ms <key> C<cas> T<ttl>`: stores the `Cache`'s `value` only if the item still has the token `cas`. Never retried
    /// (a lost reply could hide a swap that happened).
    pub(super) async fn swap(
        &self,
        server: &Server,
        key: &str,
        cas: u64,
        value: &[u8],
        ttl: i64,
    ) -> Result<Swap> {
        let (data, client_flags) = self.write_value(value);
        let (cas, ttl) = (format!("C{cas}"), format!("T{ttl}"));
        let flags: Vec<&str> = [cas.as_str(), ttl.as_str()]
            .into_iter()
            .chain(client_flags.as_deref())
            .collect();
        match self.store(server, key, &data, &flags, Retry::Never).await? {
            Ok(()) => Ok(Swap::Stored),
            Err(async_memcached::Error::Protocol(Status::Exists)) => Ok(Swap::Changed),
            Err(async_memcached::Error::Protocol(Status::NotFound)) => Ok(Swap::Gone),
            Err(error) if is_too_large(&error) => Err(self.too_large(key, value.len())),
            Err(error) => Err(server.failure(error)),
        }
    }

    /// `ms <key> <flags>` with `value`: the server's answer, or (`?`) [`Error::Backend`] when no
    /// connection could be had or it died — after one more attempt on a fresh connection when `retry` is
    /// [`Retry::Safe`].
    pub(super) async fn store(
        &self,
        server: &Server,
        key: &str,
        value: &[u8],
        flags: &[&str],
        retry: Retry,
    ) -> Result<std::result::Result<(), async_memcached::Error>> {
        let reply = call!(server, retry, |client| client.meta_set(
            key,
            value,
            false,
            None,
            Some(flags)
        ));
        Ok(reply.map(drop))
    }

    /// Deletes `keys`: per server, the deletes are sent in one write (`noreply`) and confirmed by one
    /// `version` round trip, which memcached answers only after processing them.
    pub(super) async fn delete_keys(&self, keys: &[String]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let groups = self.by_server(keys.iter().map(String::as_str));
        let deletes = groups.iter().map(|(server, positions)| async move {
            let batch: Vec<&str> = positions.iter().map(|&p| keys[p].as_str()).collect();
            let reply = call!(server, Retry::Safe, |client| async {
                client.delete_multi_no_reply(&batch).await?;
                client.version().await.map(drop)
            });
            reply.map_err(|error| server.failure(error))
        });
        futures_util::future::try_join_all(deletes).await.map(drop)
    }
}

/// What a [`MemcachedBackend::swap`] did.
pub(super) enum Swap {
    Stored,
    /// Another write changed the item since its token was read.
    Changed,
    /// The item was removed (or expired) since.
    Gone,
}
