//! What a Redis Cluster needs beyond routing by key: commands whose keys live on several nodes.
//!
//! redis-rs's cluster connection already splits `MGET`, `UNLINK` and `EXISTS` by hash slot and merges the
//! replies, so `get_many` and `delete_many` stay one call. Two operations need more:
//!
//! - `set_many`: a pipeline must stay on one node, so the `SET`s are sent concurrently on the multiplexed
//!   cluster connection instead (one round trip of latency, one command each).
//! - `clear`: `SCAN` walks one node's keyspace, so it runs on every primary (from `CLUSTER NODES`), each
//!   found batch deleted with `UNLINK` (split by slot by the client).

use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, Value};

use crate::backend::deadline_for_keys;
use crate::backends::pool::with_deadline;
use crate::error::{Error, Result};

use super::errors::backend_error;
use super::{RedisBackend, Retry, NAME};

impl RedisBackend {
    /// Sends `commands` concurrently on one cluster connection (each routed by its key); the reply of
    /// each, in order. Fails if any fails.
    pub(super) async fn cluster_concurrently(
        &self,
        commands: &[Cmd],
        operation: &'static str,
    ) -> Result<Vec<Value>> {
        let timeout = deadline_for_keys(self.inner.timeout, commands.len());
        with_deadline(NAME, operation, timeout, async {
            let mut lease = self.share().await?;
            let Some(connection) = lease.cluster() else {
                return Err(Error::backend(NAME, "not a cluster connection"));
            };
            let sends = commands.iter().map(|command| {
                let mut connection = connection.clone();
                async move { command.query_async::<Value>(&mut connection).await }
            });
            let results = futures_util::future::join_all(sends).await;
            let mut replies = Vec::with_capacity(results.len());
            for result in results {
                match result {
                    Ok(reply) => replies.push(reply),
                    Err(error) => {
                        lease.observe_error(&error);
                        return Err(backend_error(error));
                    }
                }
            }
            Ok(replies)
        })
        .await
    }

    /// `clear` on a cluster: `SCAN MATCH pattern` on every primary, `UNLINK` of each batch found.
    pub(super) async fn clear_cluster(&self, pattern: &str) -> Result<()> {
        let mut nodes = redis::cmd("CLUSTER");
        nodes.arg("NODES");
        let listing = match self.query(&nodes, "clear", Retry::Safe).await? {
            Value::BulkString(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Value::VerbatimString { text, .. } => text,
            other => return Err(super::protocol::unexpected("CLUSTER NODES", &other)),
        };
        for (host, port) in primaries(&listing) {
            self.clear_node(&host, port, pattern).await?;
        }
        Ok(())
    }

    async fn clear_node(&self, host: &str, port: u16, pattern: &str) -> Result<()> {
        self.scan_and_unlink(pattern, |scan| {
            let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                host: host.to_owned(),
                port,
            });
            with_deadline(NAME, "clear", self.inner.timeout, async move {
                let mut lease = self.share().await?;
                let Some(connection) = lease.cluster() else {
                    return Err(Error::backend(NAME, "not a cluster connection"));
                };
                match connection.route_command(scan, routing).await {
                    Ok(reply) => Ok(reply),
                    Err(error) => {
                        lease.observe_error(&error);
                        Err(backend_error(error))
                    }
                }
            })
        })
        .await
    }
}

/// The `(host, port)` of every primary that serves slots, from a `CLUSTER NODES` listing
/// (`<id> <ip:port@cport[,hostname]> <flags> <primary> <ping> <pong> <epoch> <state> <slot>…`).
fn primaries(listing: &str) -> Vec<(String, u16)> {
    listing
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let address = fields.get(1)?;
            let flags = fields.get(2)?;
            let serves_slots = fields.len() > 8;
            let usable = flags.split(',').any(|flag| flag == "master")
                && !flags
                    .split(',')
                    .any(|flag| matches!(flag, "fail" | "noaddr" | "handshake"));
            if !usable || !serves_slots {
                return None;
            }
            let host_port = address.split(['@', ',']).next()?;
            let (host, port) = host_port.rsplit_once(':')?;
            Some((host.to_owned(), port.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primaries_serving_slots_are_listed() {
        let listing = "\
07c3 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460
67ed 127.0.0.1:7002@17002,node2 master - 0 1 2 connected 5461-10922
2921 127.0.0.1:7003@17003 master,fail - 0 1 3 connected 10923-16383
aaaa 127.0.0.1:7004@17004 slave 07c3 0 1 1 connected
bbbb 127.0.0.1:7005@17005 master - 0 1 5 connected
";
        assert_eq!(
            primaries(listing),
            vec![
                ("127.0.0.1".to_owned(), 7001),
                ("127.0.0.1".to_owned(), 7002)
            ]
        );
    }
}
