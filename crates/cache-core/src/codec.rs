//! The value codecs: how typed values become the bytes a backend stores.
//!
//! Two formats, chosen per cache with [`ValueFormat`] (`CacheBuilder::value_format`, or
//! `value_format=django` in a cache URL or the `options` of a cache's configuration):
//!
//! - [`ValueFormat::Json`], the default, through `serde_json`. Why JSON rather than a binary format:
//!   - integers are stored as their decimal text (`42` → `b"42"`), which is exactly what Redis `INCRBY`,
//!     memcached `incr` and our SQL/file/memory `incr` work on, so counters need no special case;
//!   - entries are readable by people and by programs in other languages sharing the cache;
//!   - the format is self-describing and stable across releases of this crate and of serde;
//!   - it is fast enough that the backend round trip dominates; bytes that are already encoded (whole
//!     pages) bypass it through `set_bytes`/`get_bytes`.
//! - [`ValueFormat::DjangoPickle`]: what Django's
//!   [Redis cache backend](https://docs.djangoproject.com/en/5.2/topics/cache/#redis) stores, so a Rust
//!   service and a Django 5.2 project can share one Redis cache. Django's `RedisSerializer`
//!   (`django/core/cache/backends/redis.py`) stores an `int` (not a `bool`) as the plain integer, which
//!   redis-py sends as its decimal text, so Redis `INCRBY` and Django's `incr` work on it; anything else is
//!   `pickle.dumps(value, pickle.HIGHEST_PROTOCOL)` (protocol 5). It reads a value back with `int(data)`
//!   first and `pickle.loads(data)` when that fails. This codec does the same for JSON-like values (`str`,
//!   `int`, `float`, `bool`, `None`, `list`, `dict` with `str` keys; tuples read as lists); see [`pickle`]
//!   for the exact bytes, the safety rules (pickles are parsed, never run) and the bounds.
//!
//!   To share a cache with Django, build it on the same Redis database with the same `KEY_PREFIX`,
//!   `VERSION` and the default key function (`prefix:version:key`, made exactly as Django's
//!   `default_key_func` makes it), and with an empty Redis `namespace` (this crate's Redis backend puts
//!   `cache:` in front of every key by default; Django puts nothing):
//!   `redis://127.0.0.1:6379/0?value_format=django&namespace=&key_prefix=myproject`.
//!   `clear` then empties the whole database, as Django's `cache.clear()` (`FLUSHDB`) does.
//!
//!   Django's other backends store the same values differently, and each backend here can store them as
//!   Django does (a URL with `value_format=django` turns it on; by hand, the builders' `django_layout`):
//!   - memcached: pymemcache's client flags (a `str` as UTF-8 with flags 16, an `int` as decimal text with
//!     flags 2, anything else pickled with flags 1) and pymemcache's placement of keys over the servers;
//!   - file: Django's `<md5>.djcache` files, the pickled expiry then the zlib-compressed pickle;
//!   - database: Django's `createcachetable` table, each value `base64(pickle.dumps(value))`.
//!
//!   Without that layout a backend stores the bytes above as they are, which this crate reads back but
//!   Django would not.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

pub mod pickle;

pub use self::pickle::PickleError;

/// How a [`Cache`](crate::Cache) turns typed values into stored bytes (see the [module docs](self)).
///
/// Only typed calls (`get`, `set`, `add`, `get_or_set`, `get_many`, `set_many`, …) go through it; `*_bytes`
/// calls store bytes as they are, and `incr` works on the stored decimal integer in both formats.
///
/// ```
/// use cache_core::{Cache, ValueFormat};
///
/// # async fn demo() -> cache_core::Result<()> {
/// // On Redis, to share with Django: "redis://127.0.0.1:6379/0?value_format=django&namespace=".
/// let cache = Cache::from_url("memory://?value_format=django").await?;
/// assert_eq!(cache.value_format(), ValueFormat::DjangoPickle);
///
/// cache.set("visits", &41).await?;
/// assert_eq!(cache.get_bytes("visits").await?.as_deref(), Some(&b"41"[..])); // a Redis integer
/// assert_eq!(cache.incr("visits", 1).await?, 42);
///
/// cache.set("flag", &true).await?; // pickle.dumps(True, 5)
/// assert_eq!(cache.get_bytes("flag").await?.as_deref(), Some(&b"\x80\x05\x88."[..]));
/// assert_eq!(cache.get::<bool>("flag").await?, Some(true));
/// # Ok(()) }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ValueFormat {
    /// JSON (the default).
    #[default]
    Json,
    /// Django's Redis layout: integers as decimal text, every other value pickled at protocol 5.
    #[serde(alias = "django")]
    DjangoPickle,
}

impl ValueFormat {
    /// Parses an option value: `json`, or `django` / `django_pickle`.
    pub fn parse(text: &str) -> Option<ValueFormat> {
        match text.trim().to_ascii_lowercase().as_str() {
            "json" => Some(ValueFormat::Json),
            "django" | "django_pickle" | "django-pickle" => Some(ValueFormat::DjangoPickle),
            _ => None,
        }
    }

    /// Encodes a value for storage under `key` (the key is only for the error message).
    pub fn encode<V: Serialize + ?Sized>(self, key: &str, value: &V) -> Result<Bytes> {
        match self {
            ValueFormat::Json => encode(key, value),
            ValueFormat::DjangoPickle => django::encode(key, value),
        }
    }

    /// Decodes a stored value read under `key`.
    pub fn decode<T: DeserializeOwned>(self, key: &str, bytes: &[u8]) -> Result<T> {
        match self {
            ValueFormat::Json => decode(key, bytes),
            ValueFormat::DjangoPickle => django::decode(key, bytes),
        }
    }
}

pub(crate) mod django;

/// Encodes a value as JSON for storage under `key` (the key is only for the error message).
pub fn encode<V: Serialize + ?Sized>(key: &str, value: &V) -> Result<Bytes> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|source| Error::Encode {
            key: key.to_owned(),
            source,
        })
}

/// Decodes a stored JSON value read under `key`.
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

#[cfg(test)]
mod django_format_tests {
    //! [`ValueFormat::DjangoPickle`] against what Django's `RedisSerializer` stored (vectors written by
    //! `tests/django/cache_vectors.py`).

    use serde_json::Value;

    use super::*;

    const VECTORS: &str = include_str!("../tests/data/django_pickle_vectors.json");

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn reads_and_writes_what_redis_serializer_stores() {
        let all: Value = serde_json::from_str(VECTORS).expect("JSON");
        let redis = all["redis"].as_array().expect("list");
        assert!(redis.len() >= 10);
        for vector in redis {
            let stored = hex(vector["stored"].as_str().expect("hex"));
            let decoded: Value = ValueFormat::DjangoPickle
                .decode("k", &stored)
                .expect("decodes");
            assert_eq!(decoded, vector["json"]);
            let encoded = ValueFormat::DjangoPickle
                .encode("k", &vector["json"])
                .expect("encodes");
            assert_eq!(&encoded[..], &stored[..], "{}", vector["json"]);
        }
    }

    #[test]
    fn integers_stay_decimal_text_so_incr_works_and_bools_are_pickled() {
        let format = ValueFormat::DjangoPickle;
        assert_eq!(
            format.encode("k", &42_i64).ok().as_deref(),
            Some(&b"42"[..])
        );
        assert_eq!(
            format.encode("k", &u64::MAX).ok().as_deref(),
            Some(&b"18446744073709551615"[..])
        );
        assert_eq!(
            format.encode("k", &true).ok().as_deref(),
            Some(&b"\x80\x05\x88."[..])
        );
        assert_eq!(format.decode::<i64>("k", b"-5").ok(), Some(-5));
        assert_eq!(
            format.decode::<Option<i32>>("k", b"\x80\x05N.").ok(),
            Some(None)
        );
    }

    #[test]
    fn typed_values_round_trip() {
        #[derive(Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Profile {
            name: String,
            scores: Vec<f64>,
            admin: bool,
            manager: Option<u32>,
        }
        let profile = Profile {
            name: "Zoë".to_owned(),
            scores: vec![1.5, -2.0],
            admin: false,
            manager: Some(7),
        };
        let format = ValueFormat::DjangoPickle;
        let bytes = format.encode("k", &profile).expect("encodes");
        assert_eq!(
            format.decode::<Profile>("k", &bytes).expect("decodes"),
            profile
        );
    }

    #[test]
    fn python_objects_and_big_integers_are_typed_errors() {
        let format = ValueFormat::DjangoPickle;
        let datetime = b"\x80\x05\x95\x1e\x00\x00\x00\x00\x00\x00\x00\x8c\x08datetime\x94\x8c\x08datetime\x94\x93\x94.";
        let err = format.decode::<Value>("k", datetime).expect_err("object");
        assert!(
            matches!(&err, Error::Pickle { key, action: "decode", source: PickleError::NotJsonLike(what) }
                if key == "k" && what.contains("datetime.datetime")),
            "{err}"
        );
        let err = format
            .decode::<Value>("k", b"123456789012345678901234567890")
            .expect_err("too large");
        assert!(matches!(
            err,
            Error::Pickle {
                source: PickleError::IntegerTooLarge,
                ..
            }
        ));
        // A value of the wrong type is the usual decode error.
        let err = format.decode::<String>("k", b"5").expect_err("an int");
        assert!(matches!(err, Error::Decode { .. }));
    }
}
