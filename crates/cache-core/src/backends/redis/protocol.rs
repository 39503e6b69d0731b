//! Redis's side of the wire: expiries as `PX` milliseconds, namespaced keys written straight into a
//! command, `SCAN` patterns, and what its replies and errors mean for the cache.

use bytes::Bytes;
use redis::{RedisError, Value};
use std::time::SystemTime;

use super::errors::is_connection_error;
use super::NAME;
use crate::backend::Expiry;
use crate::error::{Error, Result};

/// Milliseconds left until `expiry`, rounded up and at least 1 (Redis rejects `PX 0`); `None` for never.
pub(super) fn millis_left(expiry: Expiry) -> Option<u64> {
    /// Far beyond any cache entry's life, well within what Redis accepts (it adds the current time).
    const MAX_MILLIS: u64 = 1 << 52;
    let left = expiry.remaining_at(SystemTime::now())?;
    let millis = left.as_millis() + u128::from(left.subsec_nanos() % 1_000_000 != 0);
    Some(
        u64::try_from(millis)
            .unwrap_or(MAX_MILLIS)
            .clamp(1, MAX_MILLIS),
    )
}

/// `*`, `?`, `[`, `]` and `\` escaped, so the namespace matches itself in `SCAN MATCH`.
pub(super) fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// `namespace + key` as a single Redis argument.
pub(super) struct NamespacedKey<'a> {
    pub(super) namespace: &'a str,
    pub(super) key: &'a str,
}

impl redis::ToRedisArgs for NamespacedKey<'_> {
    fn write_redis_args<W>(&self, out: &mut W)
    where
        W: ?Sized + redis::RedisWrite,
    {
        use std::io::Write as _;
        let mut arg = out.writer_for_next_arg();
        // Writing into the command's buffer cannot fail.
        let _ = arg.write_all(self.namespace.as_bytes());
        let _ = arg.write_all(self.key.as_bytes());
    }
}

impl redis::ToSingleRedisArg for NamespacedKey<'_> {}

pub(super) fn bytes_reply(value: Value) -> Result<Option<Bytes>> {
    match value {
        Value::Nil => Ok(None),
        Value::BulkString(bytes) => Ok(Some(Bytes::from(bytes))),
        Value::SimpleString(text) => Ok(Some(Bytes::from(text))),
        other => Err(unexpected("GET", &other)),
    }
}

pub(super) fn int_reply(command: &str, value: Value) -> Result<i64> {
    match value {
        Value::Int(n) => Ok(n),
        other => Err(unexpected(command, &other)),
    }
}

pub(super) fn unexpected(command: &str, value: &Value) -> Error {
    Error::backend(
        NAME,
        format!("unexpected reply to {command}: {:?}", ReplyShape(value)),
    )
}

/// A reply described by its shape only: values may hold user data that does not belong in an error.
struct ReplyShape<'a>(&'a Value);

impl std::fmt::Debug for ReplyShape<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Value::Nil => f.write_str("nil"),
            Value::Int(n) => write!(f, "integer {n}"),
            Value::BulkString(bytes) => write!(f, "bulk string of {} bytes", bytes.len()),
            Value::Array(items) => write!(f, "array of {}", items.len()),
            Value::SimpleString(_) => f.write_str("simple string"),
            Value::Okay => f.write_str("OK"),
            _ => f.write_str("other reply"),
        }
    }
}

/// Maps the errors `INCRBY` replies with to the cache's errors.
pub(super) fn incr_error(key: &str, error: Error) -> Error {
    let Error::Backend { source, .. } = &error else {
        return error;
    };
    let Some(redis_error) = source.downcast_ref::<RedisError>() else {
        return error;
    };
    if is_connection_error(redis_error) {
        return error;
    }
    let message = redis_error.to_string();
    if message.contains("not an integer") {
        Error::NotNumeric {
            key: key.to_owned(),
        }
    } else if message.contains("overflow") {
        Error::Overflow {
            key: key.to_owned(),
        }
    } else {
        error
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn expiries_round_up_to_whole_milliseconds() {
        assert_eq!(millis_left(Expiry::Never), None);
        let soon = Expiry::after(Duration::from_micros(1500));
        assert!(matches!(millis_left(soon), Some(1..=2)));
        let past = Expiry::At(SystemTime::UNIX_EPOCH);
        assert_eq!(millis_left(past), Some(1), "never PX 0");
        let hour = millis_left(Expiry::after(Duration::from_secs(3600))).unwrap_or(0);
        assert!((3_599_000..=3_600_000).contains(&hour), "{hour}");
    }

    #[test]
    fn namespaces_match_only_themselves() {
        assert_eq!(glob_escape("cache:"), "cache:");
        assert_eq!(glob_escape(r"a*b?[c]\"), r"a\*b\?\[c\]\\");
    }
}
