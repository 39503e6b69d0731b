//! Reads through the client-side cache (see the `client_cache` module): keys held locally are answered
//! from process memory, the others read from Redis with their TTLs and kept unless invalidated meanwhile.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use redis::Value;

use super::client_cache::{ClientCache, Decoded, LocalCache};
use super::protocol::{bytes_reply, unexpected};
use super::{Lane, RedisBackend, Retry};
use crate::backend::{deadline_for_keys, ImmediateReads};
use crate::backends::pool::with_deadline;
use crate::error::{Error, Result};

impl RedisBackend {
    /// `get_many` (and `get`, as one key) through the client-side cache: keys held locally are answered
    /// from it; the others are reserved, read with their TTLs in one pipeline (`MGET` + a `PTTL` each) on
    /// the tracked connection, and kept unless invalidated meanwhile (see the `client_cache` module). The
    /// caller puts the whole of it under the operation's deadline (connecting included).
    pub(super) async fn get_many_tracked(
        &self,
        cache: &ClientCache,
        keys: &[String],
        operation: &'static str,
    ) -> Result<Vec<Option<Bytes>>> {
        let tracked = cache.tracked().await?;
        let local = &tracked.local;
        let (mut values, missing) = split_held(local, keys, |key| local.lookup(key));
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
        let replies = match self
            .send_pipeline(pipeline, operation, Retry::Safe, Lane::Tracked)
            .await
        {
            Ok(replies) => replies,
            Err(error) => {
                abandon(local, keys, &missing);
                return Err(error);
            }
        };
        let mut replies = replies.into_iter();
        let found = match replies.next() {
            Some(Value::Array(found)) if found.len() == missing.len() => found,
            other => {
                abandon(local, keys, &missing);
                return Err(unexpected("MGET", &other.unwrap_or(Value::Nil)));
            }
        };
        for ((i, token), (value, pttl)) in missing.iter().zip(found.into_iter().zip(replies)) {
            let value = bytes_reply(value)?;
            local.fill(&keys[*i], *token, value.clone(), pttl_of(pttl), sent_at);
            values[*i] = value;
        }
        Ok(values)
    }
}

impl RedisBackend {
    /// Whether this backend has a [client-side cache](super::RedisBackendBuilder::client_side_cache).
    pub fn has_client_side_cache(&self) -> bool {
        self.inner.client_cache.is_some()
    }

    /// The reply of the read-only command `command key` (for instance `HGETALL`), decoded by `decode`
    /// (`None`: nothing there), and with a client-side cache kept decoded in it: a later call for the
    /// same key is answered from process memory, without a round trip and without decoding, until Redis
    /// invalidates the key (any client changing, expiring or deleting it), the key's own TTL ends, or
    /// the cache's TTL passes — the same coherence as the cache's own `get` (see
    /// [`client_side_cache`](super::RedisBackendBuilder::client_side_cache)). A reply that decodes to
    /// `None` is held as missing too.
    ///
    /// `key` is a made key: the backend's namespace is put in front of it. `decode` also says how many
    /// bytes its value stands for, counted against the cache's byte limit. Without a client-side cache
    /// this sends the command alone. Bounded by the backend's timeout.
    ///
    /// Only for commands that read `key` and nothing else, and whose reply changes only when `key` does.
    /// Write such keys with [`write_pipeline`](Self::write_pipeline) (or any other operation of this
    /// backend) for this process to read its own writes at once.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] when Redis fails or does not answer in time.
    pub async fn read_through<T, D>(
        &self,
        command: &'static str,
        key: &str,
        decode: D,
    ) -> Result<Option<Arc<T>>>
    where
        T: Send + Sync + 'static,
        D: Fn(Value) -> Option<(T, usize)>,
    {
        let values = self.read_through_many(command, &[key], decode).await?;
        Ok(values.into_iter().next().flatten())
    }

    /// [`read_through`](Self::read_through) of many keys: those held locally answered from the cache,
    /// the others read in one round trip (on a cluster, without a client-side cache, concurrently from
    /// their nodes); each key's value, in order. The deadline grows with the number of keys.
    ///
    /// # Errors
    ///
    /// [`Error::Backend`] when Redis fails or does not answer in time.
    pub async fn read_through_many<T, D>(
        &self,
        command: &'static str,
        keys: &[&str],
        decode: D,
    ) -> Result<Vec<Option<Arc<T>>>>
    where
        T: Send + Sync + 'static,
        D: Fn(Value) -> Option<(T, usize)>,
    {
        let decoded = |reply| decode(reply).map(|(value, _)| Arc::new(value));
        let Some(cache) = &self.inner.client_cache else {
            let replies = self.read_many_uncached(command, keys).await?;
            return Ok(replies.into_iter().map(decoded).collect());
        };
        let read = async {
            let tracked = cache.tracked().await?;
            let local = &tracked.local;
            let (mut values, missing) =
                split_held(local, keys, |key| downcast::<T>(local.lookup_decoded(key)?));
            if missing.is_empty() {
                return Ok(values);
            }
            let mut pipeline = redis::pipe();
            for (i, _) in &missing {
                pipeline.cmd(command).arg(self.key_arg(keys[*i]));
                pipeline.cmd("PTTL").arg(self.key_arg(keys[*i]));
            }
            let sent_at = Instant::now();
            let replies = match self
                .send_pipeline(pipeline, command, Retry::Safe, Lane::Tracked)
                .await
            {
                Ok(replies) if replies.len() == 2 * missing.len() => replies,
                Ok(_) => {
                    abandon(local, keys, &missing);
                    return Err(Error::backend(
                        super::NAME,
                        format!("too few replies to {command} and PTTL"),
                    ));
                }
                Err(error) => {
                    abandon(local, keys, &missing);
                    return Err(error);
                }
            };
            let mut replies = replies.into_iter();
            for (i, token) in &missing {
                let (Some(reply), Some(pttl)) = (replies.next(), replies.next()) else {
                    break;
                };
                let (value, size) = match decode(reply) {
                    Some((value, size)) => (Some(Arc::new(value)), size),
                    None => (None, 0),
                };
                let held = value
                    .clone()
                    .map(|value| value as Arc<dyn std::any::Any + Send + Sync>);
                local.fill_decoded(keys[*i], *token, held, size, pttl_of(pttl), sent_at);
                values[*i] = value;
            }
            Ok(values)
        };
        let timeout = deadline_for_keys(self.inner.timeout, keys.len());
        with_deadline(super::NAME, command, timeout, read).await
    }

    /// What [`read_through`](Self::read_through) would answer for `key` from the client-side cache,
    /// without I/O: `None` when it holds nothing for `key` (or has no cache), `Some(None)` for a key
    /// held as missing. A key held as another type than `T` is not answered.
    pub fn read_through_now<T: Send + Sync + 'static>(&self, key: &str) -> Option<Option<Arc<T>>> {
        downcast(self.inner.client_cache.as_ref()?.lookup_decoded(key)?)
    }

    /// The replies of the one-key read `command` for each of `keys`, without a client-side cache: one
    /// pipeline built in place on a standalone server (no command made, copied into it and dropped per
    /// key: this is every uncached session read), the keys' own nodes on a cluster.
    async fn read_many_uncached(&self, command: &'static str, keys: &[&str]) -> Result<Vec<Value>> {
        #[cfg(feature = "redis-cluster")]
        if self.inner.cluster {
            let commands: Vec<redis::Cmd> = keys
                .iter()
                .map(|key| {
                    let mut cmd = redis::cmd(command);
                    cmd.arg(self.key_arg(key));
                    cmd
                })
                .collect();
            return self.commands(&commands, true).await;
        }
        let mut pipeline = redis::pipe();
        for key in keys {
            pipeline.cmd(command).arg(self.key_arg(key));
        }
        self.query_pipeline(pipeline, command, Retry::Safe).await
    }
}

/// A decoded reply held locally as what [`RedisBackend::read_through`] answers for `T`: `Some(None)`
/// for a key held as missing, `None` for a value of another type.
fn downcast<T: Send + Sync + 'static>(held: Decoded) -> Option<Option<Arc<T>>> {
    match held {
        None => Some(None),
        Some(value) => value.downcast::<T>().ok().map(Some),
    }
}

/// Each key's value as `held` finds it in `local` (`None` where it finds none), and the keys it did not
/// find, each reserved for the read about to be sent: `(index, token)`.
fn split_held<K: AsRef<str>, V>(
    local: &LocalCache,
    keys: &[K],
    held: impl Fn(&str) -> Option<Option<V>>,
) -> (Vec<Option<V>>, Vec<(usize, u64)>) {
    let mut values = Vec::with_capacity(keys.len());
    let mut missing = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let key = key.as_ref();
        match held(key) {
            Some(value) => values.push(value),
            None => {
                values.push(None);
                missing.push((i, local.reserve(key)));
            }
        }
    }
    (values, missing)
}

/// Drops the reservations of a read that failed.
fn abandon<K: AsRef<str>>(local: &LocalCache, keys: &[K], missing: &[(usize, u64)]) {
    for (i, token) in missing {
        local.abandon(keys[*i].as_ref(), *token);
    }
}

/// A `PTTL` reply: milliseconds left, negative for none; anything unexpected as expired (0).
fn pttl_of(reply: Value) -> i64 {
    match reply {
        Value::Int(pttl) => pttl,
        _ => 0,
    }
}

/// With the client-side cache on, a tracked key still valid in it is answered without a round trip.
impl ImmediateReads for RedisBackend {
    fn get_now(&self, key: &str) -> Option<Result<Option<Bytes>>> {
        self.inner.client_cache.as_ref()?.lookup(key).map(Ok)
    }
}
