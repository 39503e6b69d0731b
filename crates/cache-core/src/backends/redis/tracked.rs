//! Reads through the client-side cache (see the `client_cache` module): keys held locally are answered
//! from process memory, the others read from Redis with their TTLs and kept unless invalidated meanwhile.

use std::time::Instant;

use bytes::Bytes;
use redis::Value;

use super::client_cache::ClientCache;
use super::protocol::{bytes_reply, unexpected};
use super::{RedisBackend, Retry};
use crate::backend::ImmediateReads;
use crate::error::Result;

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
        let mut values: Vec<Option<Bytes>> = Vec::with_capacity(keys.len());
        let mut missing: Vec<(usize, u64)> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            match local.lookup(key) {
                Some(value) => values.push(value),
                None => {
                    values.push(None);
                    missing.push((i, local.reserve(key)));
                }
            }
        }
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
        let replies = match self.query_pipeline(pipeline, operation, Retry::Safe).await {
            Ok(replies) => replies,
            Err(error) => {
                for (i, token) in &missing {
                    local.abandon(&keys[*i], *token);
                }
                return Err(error);
            }
        };
        let mut replies = replies.into_iter();
        let found = match replies.next() {
            Some(Value::Array(found)) if found.len() == missing.len() => found,
            other => {
                for (i, token) in &missing {
                    local.abandon(&keys[*i], *token);
                }
                return Err(unexpected("MGET", &other.unwrap_or(Value::Nil)));
            }
        };
        for ((i, token), (value, pttl)) in missing.iter().zip(found.into_iter().zip(replies)) {
            let value = bytes_reply(value)?;
            let pttl = match pttl {
                Value::Int(pttl) => pttl,
                _ => 0,
            };
            local.fill(&keys[*i], *token, value.clone(), pttl, sent_at);
            values[*i] = value;
        }
        Ok(values)
    }
}

/// With the client-side cache on, a tracked key still valid in it is answered without a round trip.
impl ImmediateReads for RedisBackend {
    fn get_now(&self, key: &str) -> Option<Result<Option<Bytes>>> {
        self.inner.client_cache.as_ref()?.lookup(key).map(Ok)
    }
}
