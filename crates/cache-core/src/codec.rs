//! The value codec: JSON, through `serde_json`.
//!
//! Why JSON rather than a binary format:
//! - integers are stored as their decimal text (`42` → `b"42"`), which is exactly what Redis `INCRBY`,
//!   memcached `incr` and our SQL/file/memory `incr` work on, so counters need no special case;
//! - entries are readable by people and by programs in other languages sharing the cache;
//! - the format is self-describing and stable across releases of this crate and of serde;
//! - it is fast enough that the backend round trip dominates; bytes that are already encoded (whole pages)
//!   bypass it through `set_bytes`/`get_bytes`.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// Encodes a value for storage under `key` (the key is only for the error message).
pub fn encode<V: Serialize + ?Sized>(key: &str, value: &V) -> Result<Bytes> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|source| Error::Encode {
            key: key.to_owned(),
            source,
        })
}

/// Decodes a stored value read under `key`.
pub fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| Error::Decode {
        key: key.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_decimal_text_so_backends_can_increment_them() {
        assert_eq!(encode("k", &42_i64).ok().as_deref(), Some(&b"42"[..]));
        assert_eq!(encode("k", &-7_i32).ok().as_deref(), Some(&b"-7"[..]));
    }

    #[test]
    fn a_map_with_non_string_keys_fails_to_encode_with_the_key_named() {
        let mut map = std::collections::HashMap::new();
        map.insert(vec![1_u8], 1);
        let err = encode("the-key", &map).expect_err("JSON object keys must be strings");
        assert!(
            matches!(&err, Error::Encode { key, .. } if key == "the-key"),
            "{err}"
        );
    }

    #[test]
    fn garbage_fails_to_decode_with_the_key_named() {
        let err = decode::<u32>("k", b"\xff\xfe").expect_err("not JSON");
        assert!(matches!(err, Error::Decode { .. }));
    }
}
