//! The [`CacheBackend`] operations: each checks its keys, routes them to their servers and runs under the
//! operation's deadline.

use std::collections::HashMap;

use async_memcached::{MetaProtocol, Status};
use async_trait::async_trait;
use bytes::Bytes;

use super::commands::Swap;
use super::connection::{Retry, Server};
use super::protocol::{check_key, is_non_numeric, is_too_large, ttl};
use super::{MemcachedBackend, NAME};
use crate::backend::{CacheBackend, Expiry, KeyLimits};
use crate::error::{Error, Result};
use crate::key::MEMCACHED_MAX_KEY_CHARS;

#[async_trait]
impl CacheBackend for MemcachedBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn key_limits(&self) -> KeyLimits {
        KeyLimits {
            max_chars: Some(MEMCACHED_MAX_KEY_CHARS),
            rejects_control_characters: true,
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        check_key(key)?;
        self.deadline("get", async {
            let server = self.server(key);
            let reply = call!(server, Retry::Safe, |client| client.meta_get(
                key,
                false,
                None,
                Some(self.value_flags())
            ));
            match reply {
                Ok(found) => found.map(|value| self.read_value(key, value)).transpose(),
                Err(error) => Err(server.failure(error)),
            }
        })
        .await
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        for key in keys {
            check_key(key)?;
        }
        self.deadline_for("get_many", keys.len(), async {
            let groups = self.by_server(keys.iter().map(String::as_str));
            let fetches = groups.iter().map(|(server, positions)| async move {
                let batch: Vec<&str> = positions.iter().map(|&p| keys[p].as_str()).collect();
                let reply = call!(server, Retry::Safe, |client| client
                    .meta_get_multi(&batch, Some(self.value_flags())));
                reply.map_err(|error| server.failure(error))
            });
            let mut found: HashMap<Vec<u8>, Bytes> = HashMap::new();
            for hits in futures_util::future::try_join_all(fetches).await? {
                for mut hit in hits {
                    if let Some(key) = hit.key.take() {
                        let value = self.read_value(&String::from_utf8_lossy(&key), hit)?;
                        found.insert(key, value);
                    }
                }
            }
            Ok(keys
                .iter()
                .map(|key| found.get(key.as_bytes()).cloned())
                .collect())
        })
        .await
    }

    async fn set(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<()> {
        check_key(key)?;
        self.deadline("set", async {
            if value.len() > self.inner.max_value_size {
                self.discard(key).await?;
                return Err(self.too_large(key, value.len()));
            }
            let (data, client_flags) = self.write_value(&value);
            let ttl = format!("T{}", ttl(expiry));
            let flags: Vec<&str> = std::iter::once(ttl.as_str())
                .chain(client_flags.as_deref())
                .collect();
            let server = self.server(key);
            match self.store(server, key, &data, &flags, Retry::Safe).await? {
                Ok(()) => Ok(()),
                Err(error) => {
                    // memcached drops the old item when a set fails; make sure of it.
                    self.discard(key).await?;
                    if is_too_large(&error) {
                        Err(self.too_large(key, value.len()))
                    } else {
                        Err(server.failure(error))
                    }
                }
            }
        })
        .await
    }

    async fn set_many(&self, entries: Vec<(String, Bytes)>, expiry: Expiry) -> Result<Vec<String>> {
        for (key, _) in &entries {
            check_key(key)?;
        }
        self.deadline_for("set_many", entries.len(), async {
            let limit = self.inner.max_value_size;
            let (fitting, too_large): (Vec<_>, Vec<_>) =
                entries.iter().partition(|(_, value)| value.len() <= limit);
            let mut failed: Vec<String> = too_large.iter().map(|(key, _)| key.clone()).collect();
            let ttl = format!("T{}", ttl(expiry));
            let written: Vec<_> = fitting
                .iter()
                .map(|(_, value)| self.write_value(value))
                .collect();
            // One `ms` batch per server and client flags (one set of flags per batch).
            let mut batches: Vec<(&Server, &Option<String>, Vec<(&str, &[u8])>)> = Vec::new();
            for (server, positions) in self.by_server(fitting.iter().map(|(key, _)| key.as_str())) {
                for p in positions {
                    let (data, client_flags) = &written[p];
                    let item = (fitting[p].0.as_str(), data.as_ref());
                    match batches
                        .iter_mut()
                        .find(|(s, f, _)| std::ptr::eq(*s, server) && *f == client_flags)
                    {
                        Some((_, _, items)) => items.push(item),
                        None => batches.push((server, client_flags, vec![item])),
                    }
                }
            }
            let stores = batches.iter().map(|(server, client_flags, batch)| {
                let flags: Vec<&str> = std::iter::once(ttl.as_str())
                    .chain(client_flags.as_deref())
                    .collect();
                async move {
                    let reply = call!(server, Retry::Safe, |client| client
                        .meta_set_multi(batch, Some(&flags)));
                    reply.map_err(|error| server.failure(error))
                }
            });
            for refused in futures_util::future::try_join_all(stores).await? {
                failed.extend(
                    refused
                        .into_iter()
                        .filter_map(|item| item.key)
                        .map(|key| String::from_utf8_lossy(&key).into_owned()),
                );
            }
            if !failed.is_empty() {
                // A failed set must not leave the old value visible.
                let keys: Vec<String> = failed.clone();
                self.delete_keys(&keys).await?;
            }
            Ok(failed)
        })
        .await
    }

    async fn add(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<bool> {
        check_key(key)?;
        if value.len() > self.inner.max_value_size {
            return Err(self.too_large(key, value.len()));
        }
        self.deadline("add", async {
            let (data, client_flags) = self.write_value(&value);
            let ttl = format!("T{}", ttl(expiry));
            let flags: Vec<&str> = ["ME", ttl.as_str()]
                .into_iter()
                .chain(client_flags.as_deref())
                .collect();
            let server = self.server(key);
            match self.store(server, key, &data, &flags, Retry::Safe).await? {
                Ok(()) => Ok(true),
                Err(async_memcached::Error::Protocol(Status::NotStored)) => Ok(false),
                Err(error) if is_too_large(&error) => Err(self.too_large(key, value.len())),
                Err(error) => Err(server.failure(error)),
            }
        })
        .await
    }

    /// `mg v c` then `ms C<cas>`: memcached's own compare-and-swap on the item's CAS token, so a write by
    /// anyone between the read and the swap makes the swap fail (`EX`), never lost.
    async fn compare_and_set(&self, key: &str, old: &[u8], new: Bytes, at: Expiry) -> Result<bool> {
        check_key(key)?;
        if new.len() > self.inner.max_value_size {
            return Err(self.too_large(key, new.len()));
        }
        self.deadline("compare_and_set", async {
            let server = self.server(key);
            let Some((current, cas)) = self.read_for_swap(server, key, &["v", "c", "f"]).await?
            else {
                return Ok(false);
            };
            if self.read_value(key, current)? != old {
                return Ok(false);
            }
            let swap = self.swap(server, key, cas, &new, ttl(at)).await?;
            Ok(matches!(swap, Swap::Stored))
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        check_key(key)?;
        self.deadline("delete", self.discard(key)).await
    }

    async fn delete_many(&self, keys: &[String]) -> Result<()> {
        for key in keys {
            check_key(key)?;
        }
        self.deadline_for("delete_many", keys.len(), self.delete_keys(keys))
            .await
    }

    async fn touch(&self, key: &str, expiry: Expiry) -> Result<bool> {
        check_key(key)?;
        self.deadline("touch", async {
            let flags = format!("T{}", ttl(expiry));
            // `mg` with T sets a new expiry on a hit; the `s` flag makes a hit answer with data (a bare
            // `HD` is not told apart from a miss by the client).
            self.hits(key, &[flags.as_str(), "s"]).await
        })
        .await
    }

    async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        check_key(key)?;
        self.deadline("incr", async {
            let Ok(increment) = u64::try_from(delta) else {
                return self.incr_with_cas(key, delta).await;
            };
            let server = self.server(key);
            let reply = call!(server, Retry::Never, |client| client.meta_increment(
                key,
                false,
                None,
                Some(increment),
                Some(&["v"])
            ));
            match reply {
                Ok(value) => {
                    let data = value.and_then(|value| value.data).unwrap_or_default();
                    let new = std::str::from_utf8(&data)
                        .ok()
                        .and_then(|text| text.trim().parse::<u64>().ok())
                        .ok_or_else(|| {
                            Error::backend(NAME, "memcached returned a non-numeric counter")
                        })?;
                    match i64::try_from(new) {
                        Ok(new) => Ok(new),
                        Err(_) => {
                            // Past i64::MAX: undo, as an overflowing `incr` must change nothing.
                            let _ = call!(server, Retry::Never, |client| client.meta_decrement(
                                key,
                                false,
                                None,
                                Some(increment),
                                None
                            ));
                            Err(Error::Overflow {
                                key: key.to_owned(),
                            })
                        }
                    }
                }
                Err(async_memcached::Error::Protocol(Status::NotFound)) => {
                    Err(Error::KeyNotFound {
                        key: key.to_owned(),
                    })
                }
                // A negative number or not a number at all: the CAS path tells which.
                Err(error) if is_non_numeric(&error) => self.incr_with_cas(key, delta).await,
                Err(error) => Err(server.failure(error)),
            }
        })
        .await
    }

    async fn has_key(&self, key: &str) -> Result<bool> {
        check_key(key)?;
        self.deadline("has_key", self.hits(key, &["s"])).await
    }

    async fn clear(&self) -> Result<()> {
        self.deadline("clear", async {
            let flushes = self.inner.servers.iter().map(|server| async move {
                let reply = call!(server, Retry::Safe, |client| client.flush_all());
                reply.map_err(|error| server.failure(error))
            });
            futures_util::future::try_join_all(flushes).await.map(drop)
        })
        .await
    }

    async fn close(&self) -> Result<()> {
        for server in &self.inner.servers {
            server.close_idle();
        }
        Ok(())
    }
}
