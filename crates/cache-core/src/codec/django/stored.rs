//! How Django's other cache backends wrap a value, translated from and to the bytes a [`Cache`] in the
//! Django format hands its backend.
//!
//! A `Cache` with [`ValueFormat::DjangoPickle`](crate::ValueFormat::DjangoPickle) gives its backend what
//! Django's `RedisSerializer` stores: an integer as its decimal text, anything else pickled. That is the
//! Redis backend's stored form as it is. Django's other backends store the same Python value differently:
//!
//! - file and database (`FileBasedCache`, `DatabaseCache`): `pickle.dumps(value)` of every value, integers
//!   and `bytes` included ([`pickle_everything`], [`unpickle_everything`]);
//! - memcached (`PyMemcacheCache`, pymemcache's `pickle_serde`): `bytes` as they are (flags 0), a `str` as
//!   UTF-8 (flags 16), an `int` as decimal text (flags 2), anything else pickled (flags 1)
//!   ([`to_memcached`], [`from_memcached`]).
//!
//! Both translations are exact inverses for every input, so bytes stored through `set_bytes` (whole pages,
//! for instance) come back byte for byte, and Django reads each value as the same Python object.
//!
//! [`Cache`]: crate::Cache

use std::borrow::Cow;

use serde_json::Value;

#[cfg(any(
    feature = "file",
    feature = "sqlite",
    feature = "postgres",
    feature = "mysql"
))]
use crate::codec::pickle::bytes_to_pickle;
use crate::codec::pickle::{from_pickle, pickled_bytes, to_pickle};

#[cfg(feature = "memcached")]
/// pymemcache's flag for a pickled value (`FLAG_PICKLE`).
pub(crate) const MEMCACHED_PICKLE: u32 = 1;
/// pymemcache's flag for an `int` stored as decimal text (`FLAG_INTEGER`).
#[cfg(feature = "memcached")]
pub(crate) const MEMCACHED_INTEGER: u32 = 1 << 1;
#[cfg(feature = "memcached")]
/// pymemcache's flag for a zlib-compressed value (`FLAG_COMPRESSED`, `CompressedSerde`).
pub(crate) const MEMCACHED_COMPRESSED: u32 = 1 << 3;
#[cfg(feature = "memcached")]
/// pymemcache's flag for a `str` stored as UTF-8 (`FLAG_TEXT`).
pub(crate) const MEMCACHED_TEXT: u32 = 1 << 4;

/// Pickles of integers are short; longer pickles are never parsed to look for one.
const MAX_INT_PICKLE: usize = 32;

/// What the `Cache` handed over, told apart.
enum Given {
    /// The decimal text of an integer (an `i64`), written exactly as Python's `"%d"` writes it.
    Int,
    /// A pickle that is neither an integer nor `bytes`: Django reads it as it is.
    Pickle,
    /// Anything else: raw bytes (a Python `bytes`).
    Raw,
}

fn classify(value: &[u8]) -> Given {
    if canonical_int(value).is_some() {
        return Given::Int;
    }
    if value.starts_with(&[0x80, 5]) {
        // Raw bytes that happen to be a pickle of an integer or of `bytes` are wrapped (or flagged) as raw,
        // so they come back as given rather than unwrapped.
        if pickled_int(value).is_some() || pickled_bytes(value).is_some() {
            return Given::Raw;
        }
        return Given::Pickle;
    }
    Given::Raw
}

/// `value` as an `i64` if it is exactly the text Python's `"%d" % n` gives for it: optional `-`, no leading
/// zeros, no `+`, no spaces, so writing it back gives the same bytes.
fn canonical_int(value: &[u8]) -> Option<i64> {
    let digits = value.strip_prefix(b"-").unwrap_or(value);
    let canonical = match digits {
        [] => false,
        [b'0'] => value.len() == 1,
        [first, ..] => *first != b'0' && digits.iter().all(u8::is_ascii_digit),
    };
    if !canonical {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// The integer a short pickle holds, if it holds one that fits an `i64`.
fn pickled_int(pickle: &[u8]) -> Option<i64> {
    if pickle.len() > MAX_INT_PICKLE {
        return None;
    }
    match from_pickle(pickle).ok()? {
        Value::Number(number) => number.as_i64(),
        _ => None,
    }
}

#[cfg(any(
    feature = "file",
    feature = "sqlite",
    feature = "postgres",
    feature = "mysql"
))]
/// Django's file and database form: the `Cache`'s bytes as `pickle.dumps(value, 5)`.
pub(crate) fn pickle_everything(value: &[u8]) -> Cow<'_, [u8]> {
    match classify(value) {
        Given::Int => Cow::Owned(
            canonical_int(value)
                .and_then(|int| to_pickle(&Value::from(int)).ok())
                .unwrap_or_default(),
        ),
        Given::Pickle => Cow::Borrowed(value),
        Given::Raw => Cow::Owned(bytes_to_pickle(value)),
    }
}

#[cfg(any(
    feature = "file",
    feature = "sqlite",
    feature = "postgres",
    feature = "mysql"
))]
/// The inverse of [`pickle_everything`]: a pickled integer back to its decimal text (what `incr` and the
/// codec read), a pickled `bytes` to the raw bytes, any other pickle as it is.
pub(crate) fn unpickle_everything(pickle: Vec<u8>) -> Vec<u8> {
    if let Some(int) = pickled_int(&pickle) {
        return int.to_string().into_bytes();
    }
    if let Some(data) = pickled_bytes(&pickle) {
        return data.to_vec();
    }
    pickle
}

#[cfg(feature = "memcached")]
/// pymemcache's `python_memcache_serializer`: the client flags and the data for the `Cache`'s bytes.
pub(crate) fn to_memcached(value: &[u8]) -> (u32, Cow<'_, [u8]>) {
    match classify(value) {
        Given::Int => (MEMCACHED_INTEGER, Cow::Borrowed(value)),
        Given::Pickle => match pickled_str(value) {
            Some(text) => (MEMCACHED_TEXT, Cow::Owned(text.into_bytes())),
            None => (MEMCACHED_PICKLE, Cow::Borrowed(value)),
        },
        Given::Raw => (0, Cow::Borrowed(value)),
    }
}

#[cfg(feature = "memcached")]
/// The `str` a pickle holds, if re-pickling that `str` gives exactly the same bytes (so reading it back as
/// text and pickling it again restores the `Cache`'s bytes).
fn pickled_str(pickle: &[u8]) -> Option<String> {
    let Value::String(text) = from_pickle(pickle).ok()? else {
        return None;
    };
    (to_pickle(&Value::String(text.clone())).ok()? == pickle).then_some(text)
}

#[cfg(feature = "memcached")]
/// Why memcached data cannot be read in the Django format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unreadable {
    /// Flags 16 (a `str`) on data that is not UTF-8.
    TextNotUtf8,
    /// Flags 8 (compressed) on data that does not inflate within the bound.
    Compressed,
}

#[cfg(feature = "memcached")]
/// pymemcache's `python_memcache_deserializer` in reverse: the `Cache`'s bytes for memcached data stored
/// with `flags`. Compressed data (flags 8, pymemcache's `CompressedSerde`) is inflated up to `max_len`.
pub(crate) fn from_memcached(
    flags: u32,
    data: Vec<u8>,
    max_len: usize,
) -> Result<Vec<u8>, Unreadable> {
    let data = if flags & MEMCACHED_COMPRESSED != 0 {
        inflate(&data, max_len).ok_or(Unreadable::Compressed)?
    } else {
        data
    };
    let flags = flags & !MEMCACHED_COMPRESSED;
    if flags == 0 {
        // Raw bytes; ones that look like an integer's text or a pickle went in with other flags.
        return Ok(data);
    }
    if flags & MEMCACHED_TEXT != 0 {
        let text = String::from_utf8(data).map_err(|_| Unreadable::TextNotUtf8)?;
        return Ok(to_pickle(&Value::String(text)).unwrap_or_default());
    }
    // Integers (flags 2, and 4 for a Python 2 `long`) are decimal text already; pickles (flags 1) are the codec's form.
    Ok(data)
}

#[cfg(any(feature = "file", feature = "memcached"))]
/// zlib-inflates `data`, refusing output longer than `max_len` (a small corrupted or hostile entry must not
/// become a huge allocation).
pub(crate) fn inflate(data: &[u8], max_len: usize) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    let limit = u64::try_from(max_len).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::ZlibDecoder::new(data)
        .take(limit)
        .read_to_end(&mut out)
        .ok()?;
    (out.len() <= max_len).then_some(out)
}

#[cfg(feature = "file")]
/// zlib-deflates `data` at zlib's default level, as Python's `zlib.compress(data)` does.
pub(crate) fn deflate(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(data.len() / 2 + 16),
        flate2::Compression::default(),
    );
    // Writing into a `Vec` cannot fail.
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

#[cfg(all(test, feature = "file", feature = "sqlite", feature = "memcached"))]
mod tests {
    use super::*;

    fn pickle(value: Value) -> Vec<u8> {
        to_pickle(&value).expect("pickles")
    }

    /// Every kind of input the `Cache` can hand over, including raw bytes built to look like the other kinds.
    fn inputs() -> Vec<Vec<u8>> {
        let mut inputs = vec![
            b"42".to_vec(),
            b"-7".to_vec(),
            b"0".to_vec(),
            b"9223372036854775807".to_vec(),
            b"9223372036854775808".to_vec(),
            b"007".to_vec(),
            b"+1".to_vec(),
            b"-0".to_vec(),
            b" 5".to_vec(),
            b"".to_vec(),
            b"<html>a page</html>".to_vec(),
            vec![0xff, 0xfe, 0x80],
            pickle(Value::from("héllo")),
            pickle(Value::from("y".repeat(70_000))),
            pickle(Value::from(2.5)),
            pickle(Value::Null),
            pickle(serde_json::json!({"a": [1, "b"]})),
            pickle(Value::from(42)),
            bytes_to_pickle(b"raw"),
            bytes_to_pickle(&[7; 70_000]),
        ];
        // A pickle of a str written by another pickler (protocol 2): readable, but not our bytes.
        inputs.push(b"\x80\x02X\x01\x00\x00\x00aq\x00.".to_vec());
        inputs
    }

    #[test]
    fn file_and_database_forms_round_trip_every_input() {
        for input in inputs() {
            let stored = pickle_everything(&input).into_owned();
            assert!(stored.starts_with(&[0x80, 5]), "{input:?}");
            assert_eq!(unpickle_everything(stored), input, "{input:?}");
        }
    }

    #[test]
    fn memcached_form_round_trips_every_input() {
        for input in inputs() {
            let (flags, data) = to_memcached(&input);
            assert_eq!(
                from_memcached(flags, data.into_owned(), usize::MAX).as_ref(),
                Ok(&input),
                "{input:?}"
            );
        }
    }

    #[test]
    fn values_are_stored_as_django_stores_them() {
        // pickle.dumps(42, 5), pickle.dumps(b"hi", 5)
        assert_eq!(pickle_everything(b"42").as_ref(), b"\x80\x05K*.");
        assert_eq!(
            pickle_everything(b"hi").as_ref(),
            b"\x80\x05\x95\x06\x00\x00\x00\x00\x00\x00\x00C\x02hi\x94."
        );
        // pymemcache: an int as "%d" with flags 2, a str as UTF-8 with flags 16, a list pickled (1).
        assert_eq!(to_memcached(b"-7"), (2, Cow::Borrowed(&b"-7"[..])));
        let text = pickle(Value::from("é"));
        assert_eq!(to_memcached(&text).0, 16);
        assert_eq!(to_memcached(&text).1.as_ref(), "é".as_bytes());
        let list = pickle(serde_json::json!([1]));
        assert_eq!(to_memcached(&list).0, 1);
        assert_eq!(to_memcached(b"raw").0, 0);
    }

    #[test]
    fn large_bytes_pickle_as_python_writes_them() {
        // pickle.dumps(b"y" * 70000, 5): unframed BINBYTES.
        let pickled = bytes_to_pickle(&[b'y'; 70_000]);
        assert_eq!(&pickled[..7], b"\x80\x05Bp\x11\x01\x00");
        assert_eq!(&pickled[pickled.len() - 2..], b"\x94.");
        assert_eq!(pickled.len(), 70_009);
    }

    #[test]
    fn bad_memcached_data_is_an_error_not_a_panic() {
        assert_eq!(
            from_memcached(MEMCACHED_TEXT, vec![0xff], 100),
            Err(Unreadable::TextNotUtf8)
        );
        assert_eq!(
            from_memcached(MEMCACHED_COMPRESSED, b"not zlib".to_vec(), 100),
            Err(Unreadable::Compressed)
        );
        let bomb = deflate(&[0; 10_000]);
        assert_eq!(inflate(&bomb, 9_999), None);
        assert_eq!(inflate(&bomb, 10_000).map(|v| v.len()), Some(10_000));
    }
}
