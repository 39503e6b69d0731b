//! The [`CacheBackend`] operations: one command (or script, or pipeline) each, on the namespaced keys.

use async_trait::async_trait;
use bytes::Bytes;
use redis::{Cmd, Value};

use std::sync::LazyLock;

use super::commands::LuaScript;
use super::errors::backend_error;
use super::protocol::{bytes_reply, glob_escape, incr_error, int_reply, millis_left, unexpected};
use super::{RedisBackend, Retry, NAME};
use crate::backend::{deadline_for_keys, CacheBackend, Expiry, ImmediateReads};
use crate::backends::pool::with_deadline;
use crate::error::{Error, Result};

/// `compare_and_set`: `SET` (with `PX` unless the expiry is "never") only if the live value is exactly the
/// expected one; atomic because Redis runs a script without interleaving other commands.
static COMPARE_AND_SET_SCRIPT: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(
        "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end \
                                      if ARGV[3] == '' then redis.call('SET', KEYS[1], ARGV[2]) \
                                      else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end \
                                      return 1",
    )
});

/// Keys per `SCAN` step and per `UNLINK` of `clear`.
const CLEAR_BATCH: usize = 1000;

/// `incr` only on an existing key: `INCRBY` alone would create a missing key at 0.
static INCR_SCRIPT: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(
        "if redis.call('EXISTS', KEYS[1]) == 0 then return false end \
                           return redis.call('INCRBY', KEYS[1], ARGV[1])",
    )
});

/// `touch` to "never": `PERSIST` answers 0 both for a missing key and for a live key without a TTL.
static PERSIST_SCRIPT: LazyLock<LuaScript> = LazyLock::new(|| {
    LuaScript::new(
        "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end \
                              redis.call('PERSIST', KEYS[1]) return 1",
    )
});

impl RedisBackend {
    /// A `SET` of `value` under the made key `key` with `expiry`.
    pub(super) fn set_command(
        &self,
        key: &str,
        value: &[u8],
        expiry: Expiry,
        only_if_absent: bool,
    ) -> Cmd {
        let mut set = redis::cmd("SET");
        set.arg(self.key_arg(key)).arg(value);
        if only_if_absent {
            set.arg("NX");
        }
        if let Some(millis) = millis_left(expiry) {
            set.arg("PX").arg(millis);
        }
        set
    }

    /// `clear` on a standalone server: `SCAN` the namespace and `UNLINK` what it finds, each step within the
    /// deadline (a large namespace may take many steps; a dead server fails the first).
    async fn clear_standalone(&self, pattern: &str) -> Result<()> {
        self.scan_and_unlink(pattern, |scan| async move {
            self.query(&scan, "clear", Retry::Safe).await
        })
        .await
    }

    /// The loop of `clear`: `SCAN MATCH pattern` (each step sent by `send`, on a standalone server or one
    /// cluster node) and `UNLINK` of each batch found, until the cursor is back to 0.
    pub(super) async fn scan_and_unlink<F, Fut>(&self, pattern: &str, send: F) -> Result<()>
    where
        F: Fn(Cmd) -> Fut,
        Fut: std::future::Future<Output = Result<Value>>,
    {
        let mut cursor: u64 = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(CLEAR_BATCH);
            let reply = send(scan).await?;
            let (next, keys): (u64, Vec<Vec<u8>>) =
                redis::from_redis_value(reply).map_err(|e| backend_error(e.into()))?;
            for batch in keys.chunks(CLEAR_BATCH) {
                let mut unlink = redis::cmd("UNLINK");
                unlink.arg(batch);
                self.query(&unlink, "clear", Retry::Safe).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

#[async_trait]
impl CacheBackend for RedisBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn immediate(&self) -> Option<&dyn ImmediateReads> {
        self.inner
            .client_cache
            .as_ref()
            .map(|_| self as &dyn ImmediateReads)
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        if let Some(cache) = &self.inner.client_cache {
            let keys = [key.to_owned()];
            let read = self.get_many_tracked(cache, &keys, "get");
            let mut values = with_deadline(NAME, "get", self.inner.timeout, read).await?;
            return Ok(values.pop().flatten());
        }
        // Sized up front: the command's buffer is written once, with no regrowth.
        let mut get = Cmd::with_capacity(2, "GET".len() + self.inner.namespace.len() + key.len());
        get.arg("GET").arg(self.key_arg(key));
        bytes_reply(self.query(&get, "get", Retry::Safe).await?)
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(cache) = &self.inner.client_cache {
            let read = self.get_many_tracked(cache, keys, "get_many");
            let timeout = deadline_for_keys(self.inner.timeout, keys.len());
            return with_deadline(NAME, "get_many", timeout, read).await;
        }
        let mut mget = redis::cmd("MGET");
        for key in keys {
            mget.arg(self.key_arg(key));
        }
        match self.query(&mget, "get_many", Retry::Safe).await? {
            Value::Array(values) if values.len() == keys.len() => {
                values.into_iter().map(bytes_reply).collect()
            }
            other => Err(unexpected("MGET", &other)),
        }
    }

    async fn set(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<()> {
        let set = self.set_command(key, &value, expiry, false);
        self.query(&set, "set", Retry::Safe).await.map(drop)
    }

    async fn set_many(&self, entries: Vec<(String, Bytes)>, expiry: Expiry) -> Result<Vec<String>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        #[cfg(feature = "redis-cluster")]
        if self.inner.cluster {
            let commands: Vec<Cmd> = entries
                .iter()
                .map(|(key, value)| self.set_command(key, value, expiry, false))
                .collect();
            return self
                .cluster_concurrently(&commands, "set_many")
                .await
                .map(|_| Vec::new());
        }
        let mut pipeline = redis::pipe();
        for (key, value) in &entries {
            pipeline.add_command(self.set_command(key, value, expiry, false));
        }
        self.query_pipeline(pipeline, "set_many", Retry::Safe)
            .await?;
        Ok(Vec::new())
    }

    async fn add(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<bool> {
        let set = self.set_command(key, &value, expiry, true);
        match self.query(&set, "add", Retry::Safe).await? {
            Value::Okay => Ok(true),
            Value::Nil => Ok(false),
            other => Err(unexpected("SET NX", &other)),
        }
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let mut unlink = redis::cmd("UNLINK");
        unlink.arg(self.key_arg(key));
        Ok(int_reply("UNLINK", self.query(&unlink, "delete", Retry::Safe).await?)? > 0)
    }

    async fn delete_many(&self, keys: &[String]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut unlink = redis::cmd("UNLINK");
        for key in keys {
            unlink.arg(self.key_arg(key));
        }
        self.query(&unlink, "delete_many", Retry::Safe)
            .await
            .map(drop)
    }

    async fn touch(&self, key: &str, expiry: Expiry) -> Result<bool> {
        let stored = self.namespaced_key(key);
        let command = match millis_left(expiry) {
            Some(millis) => {
                let mut pexpire = redis::cmd("PEXPIRE");
                pexpire.arg(stored).arg(millis);
                pexpire
            }
            None => {
                let call = PERSIST_SCRIPT.call().key(stored);
                let reply = self.eval_as(&call, "touch", Retry::Safe).await?;
                return Ok(int_reply("touch", reply)? == 1);
            }
        };
        Ok(int_reply("touch", self.query(&command, "touch", Retry::Safe).await?)? == 1)
    }

    async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        let call = INCR_SCRIPT.call().key(self.key_arg(key)).arg(delta);
        match self.eval_as(&call, "incr", Retry::Never).await {
            Ok(Value::Nil) => Err(Error::KeyNotFound {
                key: key.to_owned(),
            }),
            Ok(Value::Int(value)) => Ok(value),
            Ok(other) => Err(unexpected("INCRBY", &other)),
            Err(error) => Err(incr_error(key, error)),
        }
    }

    async fn has_key(&self, key: &str) -> Result<bool> {
        let mut exists = redis::cmd("EXISTS");
        exists.arg(self.key_arg(key));
        Ok(int_reply("EXISTS", self.query(&exists, "has_key", Retry::Safe).await?)? > 0)
    }

    async fn compare_and_set(&self, key: &str, old: &[u8], new: Bytes, at: Expiry) -> Result<bool> {
        let call = COMPARE_AND_SET_SCRIPT
            .call()
            .key(self.key_arg(key))
            .arg(old)
            .arg(&new[..]);
        let call = match millis_left(at) {
            Some(millis) => call.arg(millis),
            None => call.arg(""),
        };
        // Not retried: a swap applied before a connection died would be reported as not applied.
        let reply = self.eval_as(&call, "compare_and_set", Retry::Never).await?;
        Ok(int_reply("compare_and_set", reply)? == 1)
    }

    async fn clear(&self) -> Result<()> {
        let pattern = format!("{}*", glob_escape(&self.inner.namespace));
        #[cfg(feature = "redis-cluster")]
        if self.inner.cluster {
            return self.clear_cluster(&pattern).await;
        }
        self.clear_standalone(&pattern).await
    }

    async fn close(&self) -> Result<()> {
        self.inner.pools.close_idle();
        Ok(())
    }
}
