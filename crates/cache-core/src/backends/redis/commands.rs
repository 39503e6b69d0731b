//! The command lane: Redis commands the cache API does not cover, sent the way the backend sends its own.
//!
//! For code that keeps its own data structures beside the cache on the same server and pool (the session
//! store keeps each session as a hash): commands go on the shared multiplexed connections, so concurrent
//! callers' commands are pipelined; each call is bounded by the backend's timeout; and a command that is
//! safe to repeat is sent once more on a fresh connection when its connection turns out to be dead. Keys
//! are **not** namespaced: use [`RedisBackend::namespaced_key`].

use redis::{Cmd, Value};

use super::{Lane, RedisBackend, Retry};
use crate::error::Result;

impl RedisBackend {
    /// Sends `cmd` and returns its reply. `idempotent`: repeating it cannot change the outcome (reads,
    /// `HSET` of given values, `UNLINK`, a script that applies a given change), so it may be retried once
    /// after a connection-level failure. Nothing that keeps state on the connection (`WATCH`, `MULTI`,
    /// `SELECT`, `CLIENT TRACKING`) may be sent this way: use [`connection`](Self::connection).
    ///
    /// A command error reply (`NOSCRIPT`, `WRONGTYPE`, …) is an [`Error::Backend`](crate::Error::Backend)
    /// whose source is the driver's error.
    pub async fn command(&self, cmd: &Cmd, idempotent: bool) -> Result<Value> {
        self.query(cmd, "command", retry(idempotent)).await
    }

    /// Sends `commands` together and returns each one's reply, in order: one pipeline (one round trip)
    /// on a standalone server; on a cluster, where a pipeline must stay on one node, the commands are sent
    /// concurrently, each to the node owning its key. Fails if any command fails. The deadline grows with
    /// the number of commands, as for the multi-key cache calls.
    pub async fn commands(&self, commands: &[Cmd], idempotent: bool) -> Result<Vec<Value>> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        #[cfg(feature = "redis-cluster")]
        if self.inner.cluster {
            return self.cluster_concurrently(commands, "commands").await;
        }
        let mut pipeline = redis::pipe();
        for cmd in commands {
            pipeline.add_command(cmd.clone());
        }
        self.query_pipeline(pipeline, "commands", retry(idempotent))
            .await
    }
}

impl RedisBackend {
    /// Sends a pipeline the caller built (one round trip) and returns each command's reply, in order: as
    /// [`commands`](Self::commands) without copying the commands. Standalone servers only
    /// ([`Error::Unsupported`](crate::Error::Unsupported) on a cluster, where a pipeline must stay on
    /// one node: use [`commands`](Self::commands) there).
    pub async fn pipeline(
        &self,
        pipeline: redis::Pipeline,
        idempotent: bool,
    ) -> Result<Vec<Value>> {
        if self.inner.cluster {
            return Err(crate::Error::Unsupported {
                backend: super::NAME,
                operation: "pipeline on a cluster",
            });
        }
        self.query_pipeline(pipeline, "pipeline", retry(idempotent))
            .await
    }

    /// [`pipeline`](Self::pipeline) for commands that write the made keys `written` (and read nothing
    /// kept in the client-side cache). With a client-side cache they go on a pooled connection, not
    /// through the cache's one tracked connection (which is left to reads) and without its `PING` fence;
    /// once the replies are in, or the pipeline failed, this process's copies of `written` are dropped,
    /// so it reads its own writes at once. Other processes' copies are invalidated by Redis, as for any
    /// write. Without a client-side cache this is [`pipeline`](Self::pipeline).
    pub async fn write_pipeline(
        &self,
        pipeline: redis::Pipeline,
        idempotent: bool,
        written: &[&str],
    ) -> Result<Vec<Value>> {
        let Some(cache) = &self.inner.client_cache else {
            return self.pipeline(pipeline, idempotent).await;
        };
        let replies = self
            .send_pipeline(pipeline, "pipeline", retry(idempotent), Lane::Pooled)
            .await;
        // Whatever the outcome: a pipeline that failed or timed out may still have been applied.
        for key in written {
            cache.forget(key);
        }
        replies
    }

    /// Sends `commands` as one transaction (`MULTI` … `EXEC` in one pipeline: one round trip), so they
    /// are applied together with no other client's command between them; the reply of each, in order.
    /// Cheaper for the server than a script doing the same. Not on a cluster ([`Error::Unsupported`](
    /// crate::Error::Unsupported)), where a transaction cannot be routed by redis-rs: use a script
    /// there.
    pub async fn transaction(&self, commands: &[Cmd], idempotent: bool) -> Result<Vec<Value>> {
        if self.inner.cluster {
            return Err(crate::Error::Unsupported {
                backend: super::NAME,
                operation: "transaction on a cluster",
            });
        }
        let mut pipeline = redis::pipe();
        pipeline.atomic();
        for cmd in commands {
            pipeline.add_command(cmd.clone());
        }
        self.query_pipeline(pipeline, "transaction", retry(idempotent))
            .await
    }
}

fn retry(idempotent: bool) -> Retry {
    if idempotent {
        Retry::Safe
    } else {
        Retry::Never
    }
}

/// A Lua script, sent by its SHA1 (`EVALSHA`): the text crosses the network only the first time a
/// server lacks it (`NOSCRIPT`), when it is sent once with `EVAL`, which also caches it there.
#[derive(Debug)]
pub struct LuaScript {
    text: &'static str,
    sha1: String,
}

impl LuaScript {
    /// The script `text` (its SHA1 is computed once, here).
    pub fn new(text: &'static str) -> Self {
        LuaScript {
            text,
            sha1: redis::Script::new(text).get_hash().to_owned(),
        }
    }

    /// A call of this script, its keys and arguments to be added.
    pub fn call(&self) -> ScriptCall<'_> {
        ScriptCall {
            script: self,
            keys: Vec::new(),
            args: Vec::new(),
        }
    }
}

/// A call of a [`LuaScript`]: its `KEYS` and `ARGV`, sent by [`RedisBackend::eval`].
#[derive(Debug)]
pub struct ScriptCall<'a> {
    script: &'a LuaScript,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl ScriptCall<'_> {
    /// Adds a key (`KEYS[n]`): on a cluster, every key of a call must hash to one slot.
    pub fn key(mut self, key: impl redis::ToRedisArgs) -> Self {
        self.keys.extend(key.to_redis_args());
        self
    }

    /// Adds an argument (`ARGV[n]`).
    pub fn arg(mut self, arg: impl redis::ToRedisArgs) -> Self {
        self.args.extend(arg.to_redis_args());
        self
    }

    /// `EVALSHA sha1 …`, or with `text`, `EVAL text …`.
    fn command(&self, text: bool) -> Cmd {
        let mut cmd = redis::cmd(if text { "EVAL" } else { "EVALSHA" });
        if text {
            cmd.arg(self.script.text);
        } else {
            cmd.arg(&self.script.sha1);
        }
        cmd.arg(self.keys.len());
        for part in self.keys.iter().chain(&self.args) {
            cmd.arg(&part[..]);
        }
        cmd
    }
}

impl RedisBackend {
    /// Runs a script call: `EVALSHA`, then `EVAL` once if the server does not have the script. See
    /// [`command`](Self::command) for `idempotent`; a `NOSCRIPT` reply means the script did not run, so
    /// the `EVAL` that follows is never a repeat.
    pub async fn eval(&self, call: &ScriptCall<'_>, idempotent: bool) -> Result<Value> {
        self.eval_as(call, "eval", retry(idempotent)).await
    }

    /// Runs several script calls in one round trip (one pipeline; concurrently on a cluster) and returns
    /// each one's reply, in order. If the server lacks a script, **all** are sent again once with `EVAL`,
    /// including calls that had run: with more than one call, each must be idempotent. Send a call that
    /// is not (one that creates only if absent, say) alone.
    pub async fn eval_all(&self, calls: &[ScriptCall<'_>], idempotent: bool) -> Result<Vec<Value>> {
        let commands =
            |text: bool| -> Vec<Cmd> { calls.iter().map(|call| call.command(text)).collect() };
        match self.commands(&commands(false), idempotent).await {
            Err(error) if is_noscript(&error) => self.commands(&commands(true), idempotent).await,
            result => result,
        }
    }

    /// [`eval`](Self::eval) named as one of the backend's own operations.
    pub(super) async fn eval_as(
        &self,
        call: &ScriptCall<'_>,
        operation: &'static str,
        retry: Retry,
    ) -> Result<Value> {
        match self.query(&call.command(false), operation, retry).await {
            Err(error) if is_noscript(&error) => {
                self.query(&call.command(true), operation, retry).await
            }
            result => result,
        }
    }
}

/// Whether `error` is Redis's `NOSCRIPT` reply.
fn is_noscript(error: &crate::Error) -> bool {
    match error {
        crate::Error::Backend { source, .. } => source
            .downcast_ref::<redis::RedisError>()
            .is_some_and(|error| error.code() == Some("NOSCRIPT")),
        _ => false,
    }
}
