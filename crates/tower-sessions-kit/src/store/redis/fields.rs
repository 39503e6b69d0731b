//! How session data maps onto a Redis hash: a field per data key holding the value's JSON, and the
//! marker field `"\0"`. A data key starting with NUL is stored with one more NUL in front, so no key can
//! be taken for the marker; every other key is its own field name, byte for byte.

use std::borrow::Cow;

use cache_core::backends::redis::driver::Value;
use serde_json::Value as Json;

use crate::record::Data;

/// The marker field every session hash has; a hash without it is not a session.
pub(super) const MARKER: &str = "\0";

/// The field name of data key `key`.
pub(super) fn field_of(key: &str) -> Cow<'_, str> {
    if key.starts_with('\0') {
        Cow::Owned(format!("\0{key}"))
    } else {
        Cow::Borrowed(key)
    }
}

/// The data key of a field; `None` for the marker.
fn key_of(field: &[u8]) -> Option<Cow<'_, str>> {
    match field {
        b"\0" => None,
        [0, rest @ ..] => Some(String::from_utf8_lossy(rest)),
        _ => Some(String::from_utf8_lossy(field)),
    }
}

/// A value's stored form.
pub(super) fn encode_value(value: &Json) -> Vec<u8> {
    // A JSON value always serializes; the fallback only keeps this free of `expect`.
    serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec())
}

/// How many bytes of field names and values an `HGETALL` reply holds: what its session stands for in a
/// client-side cache's byte limit.
pub(super) fn reply_size(reply: &Value) -> usize {
    let bulk = |value: &Value| match value {
        Value::BulkString(bytes) => bytes.len(),
        _ => 0,
    };
    match reply {
        Value::Map(pairs) => pairs.iter().map(|(f, v)| bulk(f) + bulk(v)).sum(),
        Value::Array(items) => items.iter().map(bulk).sum(),
        _ => 0,
    }
}

/// The session in an `HGETALL` reply (RESP2 array or RESP3 map); `None` for no hash. A field whose value
/// is not JSON (written by another program) is left out with a warning, never an error: a broken field
/// must not fail every request of its owner.
pub(super) fn decode_hash(store: &'static str, reply: Value) -> Option<Data> {
    match reply {
        Value::Map(pairs) => decode_pairs(store, pairs),
        Value::Array(items) => {
            let mut items = items.into_iter();
            decode_pairs(
                store,
                std::iter::from_fn(|| Some((items.next()?, items.next()?))),
            )
        }
        _ => None,
    }
}

/// [`decode_hash`] over the reply's field/value pairs.
fn decode_pairs(
    store: &'static str,
    pairs: impl IntoIterator<Item = (Value, Value)>,
) -> Option<Data> {
    let mut data = Data::new();
    let mut marked = false;
    for (field, value) in pairs {
        let (Value::BulkString(field), Value::BulkString(value)) = (field, value) else {
            tracing::warn!(store, "session hash field of an unexpected type: left out");
            continue;
        };
        let Some(key) = key_of(&field) else {
            marked = true;
            continue;
        };
        match serde_json::from_slice(&value) {
            Ok(value) => {
                data.insert(key.into_owned(), value);
            }
            Err(error) => {
                tracing::warn!(store, key = %key, %error, "session value corrupted: left out");
            }
        }
    }
    // No marker: no session, or the remains of a save that raced a delete (removed by that save).
    marked.then_some(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_keys_never_meet_the_marker() {
        assert_eq!(field_of("a"), "a");
        assert_eq!(field_of("\0"), "\0\0");
        assert_eq!(key_of(b"\0"), None);
        assert_eq!(key_of(b"\0\0").as_deref(), Some("\0"));
        assert_eq!(key_of(field_of("\0x").as_bytes()).as_deref(), Some("\0x"));
    }

    #[test]
    fn hashes_decode_from_either_protocol() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let resp2 = Value::Array(vec![
            bulk("\0"),
            bulk(""),
            bulk("n"),
            bulk("1"),
            bulk("bad"),
            bulk("{"),
        ]);
        let data = decode_hash("redis", resp2).unwrap_or_default();
        assert_eq!(data.len(), 1);
        assert_eq!(data["n"], 1);
        let resp3 = Value::Map(vec![(bulk("\0"), bulk(""))]);
        assert_eq!(decode_hash("redis", resp3), Some(Data::new()));
        assert_eq!(decode_hash("redis", Value::Array(vec![])), None);
        let unmarked = Value::Array(vec![bulk("n"), bulk("1")]);
        assert_eq!(
            decode_hash("redis", unmarked),
            None,
            "a hash without the marker is no session"
        );
    }
}
