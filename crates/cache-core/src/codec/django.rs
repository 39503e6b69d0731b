//! [`ValueFormat::DjangoPickle`](super::ValueFormat::DjangoPickle): Django's `RedisSerializer` rules on top
//! of the [pickle](super::pickle) codec.

#[cfg(any(
    feature = "file",
    feature = "sqlite",
    feature = "postgres",
    feature = "mysql",
    feature = "memcached"
))]
pub(crate) mod stored;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::pickle::{from_pickle, to_pickle, PickleError};
use crate::error::{Error, Result};

/// `RedisSerializer.dumps`: an integer as its decimal text (`type(obj) is int`, so never a bool), anything
/// else pickled.
pub(super) fn encode<V: Serialize + ?Sized>(key: &str, value: &V) -> Result<Bytes> {
    let value = serde_json::to_value(value).map_err(|source| Error::Encode {
        key: key.to_owned(),
        source,
    })?;
    if let Value::Number(number) = &value {
        if number.is_i64() || number.is_u64() {
            return Ok(Bytes::from(number.to_string()));
        }
    }
    to_pickle(&value)
        .map(Bytes::from)
        .map_err(|source| Error::Pickle {
            key: key.to_owned(),
            action: "encode",
            source,
        })
}

/// `RedisSerializer.loads`: `int(data)` first, `pickle.loads(data)` when that fails.
pub(super) fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    let pickle_error = |source| Error::Pickle {
        key: key.to_owned(),
        action: "decode",
        source,
    };
    let value = match python_int(bytes) {
        Some(Ok(int)) => super::pickle::int_value(int).map_err(pickle_error)?,
        Some(Err(too_large)) => return Err(pickle_error(too_large)),
        None => from_pickle(bytes).map_err(pickle_error)?,
    };
    serde_json::from_value(value).map_err(|source| Error::Decode {
        key: key.to_owned(),
        source,
    })
}

/// What Python's `int(data)` accepts for bytes: optional ASCII whitespace around an optional sign and
/// decimal digits, single underscores allowed between digits. `None` when it is not an integer (Python's
/// `ValueError`); an error when it is one that does not fit 64 bits.
fn python_int(bytes: &[u8]) -> Option<Result<i128, PickleError>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let text = text.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let bytes = digits.as_bytes();
    let well_formed = bytes.first()?.is_ascii_digit()
        && bytes.last()?.is_ascii_digit()
        && bytes.iter().all(|&b| b.is_ascii_digit() || b == b'_')
        && !digits.contains("__");
    if !well_formed {
        return None;
    }
    let mut value: i128 = 0;
    for digit in bytes.iter().filter(|&&b| b != b'_') {
        value = match value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i128::from(digit - b'0')))
        {
            Some(value) => value,
            None => return Some(Err(PickleError::IntegerTooLarge)),
        };
    }
    Some(Ok(if negative { -value } else { value }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_int_accepts_what_int_accepts() {
        assert_eq!(python_int(b"42"), Some(Ok(42)));
        assert_eq!(python_int(b" -7\n"), Some(Ok(-7)));
        assert_eq!(python_int(b"+1_000"), Some(Ok(1000)));
        assert_eq!(python_int(b"007"), Some(Ok(7)));
        for not_int in [
            &b""[..],
            b"-",
            b"1__0",
            b"_1",
            b"1_",
            b"4.2",
            b"0x10",
            b"\x80\x05N.",
        ] {
            assert_eq!(python_int(not_int), None, "{not_int:?}");
        }
        assert_eq!(
            python_int(b"1000000000000000000000000000000000000000000"),
            Some(Err(PickleError::IntegerTooLarge))
        );
    }
}
