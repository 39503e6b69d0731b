//! The one error type of the cache API.
//!
//! Every fallible call returns [`Result<T>`](crate::Result). The variants separate what a caller can act on:
//! a bad key or value is the caller's mistake ([`Error::InvalidKey`], [`Error::Encode`]), a missing or
//! non-numeric entry is a normal outcome of `incr` ([`Error::KeyNotFound`], [`Error::NotNumeric`]), a
//! corrupted entry is reported rather than silently returned ([`Error::Decode`]), and a server or disk problem
//! is [`Error::Backend`] — which a page cache may choose to treat as a miss.

use std::fmt;

use tower::BoxError;

/// Everything that can go wrong when using a [`Cache`](crate::Cache).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The made key (prefix and version included) cannot be used with this backend.
    #[error("invalid cache key {key:?}: {reason}")]
    InvalidKey {
        /// The made key that was rejected.
        key: String,
        /// Why it was rejected.
        reason: KeyProblem,
    },

    /// `incr`, `decr` or `incr_version` on a key that is missing or expired.
    #[error("key {key:?} not found")]
    KeyNotFound {
        /// The key as the caller named it.
        key: String,
    },

    /// `incr` or `decr` on a value that is not an integer (Django's `TypeError`).
    #[error("value of key {key:?} is not an integer")]
    NotNumeric {
        /// The key as the caller named it.
        key: String,
    },

    /// `incr`/`decr` would overflow a signed 64-bit integer.
    #[error("incrementing key {key:?} overflows a 64-bit integer")]
    Overflow {
        /// The key as the caller named it.
        key: String,
    },

    /// A value could not be serialized, so nothing was stored.
    #[error("cannot serialize the value for key {key:?}: {source}")]
    Encode {
        /// The key as the caller named it.
        key: String,
        /// What the codec said.
        #[source]
        source: serde_json::Error,
    },

    /// A stored value could not be deserialized into the requested type (corrupted, written by another
    /// program, or of another type).
    #[error("cannot deserialize the value of key {key:?}: {source}")]
    Decode {
        /// The key as the caller named it.
        key: String,
        /// What the codec said.
        #[source]
        source: serde_json::Error,
    },

    /// A value could not be written or read in Django's pickle format
    /// ([`ValueFormat::DjangoPickle`](crate::codec::ValueFormat::DjangoPickle)): the stored pickle is
    /// truncated or malformed, holds a Python object that is not JSON-like (bytes, a set, a `datetime`, an
    /// instance of a class), an integer beyond 64 bits, or is too large to decode within the bounds; or the
    /// value to store cannot be pickled as a JSON-like value.
    #[error("cannot {action} the value of key {key:?} in Django's pickle format: {source}")]
    Pickle {
        /// The key as the caller named it.
        key: String,
        /// `"decode"` or `"encode"`.
        action: &'static str,
        /// What the pickle codec said.
        #[source]
        source: PickleError,
    },

    /// The value is larger than the backend accepts.
    #[error("value of {size} bytes for key {key:?} exceeds the backend limit of {limit} bytes")]
    ValueTooLarge {
        /// The made key.
        key: String,
        /// The size of the encoded value.
        size: usize,
        /// The backend's limit.
        limit: usize,
    },

    /// The backend failed: server unreachable, I/O error, SQL error, timeout.
    #[error("{backend} backend error: {source}")]
    Backend {
        /// Which backend failed (`"memory"`, `"file"`, `"sqlite"`, …).
        backend: &'static str,
        /// The underlying error.
        #[source]
        source: BoxError,
    },

    /// The backend does not support this operation (e.g. `incr` on the dummy cache).
    #[error("{backend} backend does not support {operation}")]
    Unsupported {
        /// Which backend.
        backend: &'static str,
        /// Which operation.
        operation: &'static str,
    },

    /// A cache alias was asked for that is not configured.
    #[error("the cache alias {alias:?} doesn't exist; configured aliases: {known:?}")]
    UnknownAlias {
        /// What was asked for.
        alias: String,
        /// The aliases that exist.
        known: Vec<String>,
    },

    /// A cache URL names a scheme that no enabled backend handles.
    #[error("unknown cache URL scheme {scheme:?} in {url:?}; supported schemes: {known:?}")]
    UnknownScheme {
        /// The scheme that was given.
        scheme: String,
        /// The whole URL (without credentials).
        url: String,
        /// The schemes this build supports.
        known: Vec<&'static str>,
    },

    /// A configuration value is invalid (bad URL, bad option value, unusable location).
    #[error("invalid cache configuration: {0}")]
    Config(String),
}

impl Error {
    /// Wraps a driver error as [`Error::Backend`].
    pub fn backend(backend: &'static str, source: impl Into<BoxError>) -> Self {
        Error::Backend {
            backend,
            source: source.into(),
        }
    }

    /// True for errors that come from the backend being unavailable or failing (as opposed to the caller's
    /// input or the entry's content). Layers that fail open use this.
    pub fn is_backend(&self) -> bool {
        matches!(self, Error::Backend { .. })
    }
}

/// Why a made key is unusable, as Django's `validate_key` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyProblem {
    /// Longer than the limit, counted in characters.
    TooLong {
        /// The length of the made key in characters.
        len: usize,
        /// The limit it broke.
        max: usize,
    },
    /// Contains a space, a control character or DEL (`[\x00-\x20\x7f]`).
    ForbiddenCharacter,
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyProblem::TooLong { len, max } => {
                write!(f, "{len} characters, longer than {max}")
            }
            KeyProblem::ForbiddenCharacter => {
                f.write_str("contains a space, control character or DEL")
            }
        }
    }
}

/// The result type of the cache API.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a value could not be pickled or unpickled (the Django value format, [`ValueFormat::DjangoPickle`](crate::ValueFormat)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PickleError {
    /// The pickle ends before its `STOP` opcode or in the middle of an argument.
    #[error("the pickle is truncated")]
    Truncated,
    /// The pickle is not well-formed (an opcode out of place, a missing mark, an unknown memo index, …).
    #[error("malformed pickle: {0}")]
    Malformed(&'static str),
    /// The pickle has a protocol newer than 5.
    #[error("unsupported pickle protocol {0}")]
    UnsupportedProtocol(u8),
    /// The pickled value is a Python object outside JSON's types; names what it is.
    #[error("the pickled value is not JSON-like: {0}")]
    NotJsonLike(String),
    /// A Python `int` outside the 64-bit range (neither an `i64` nor a `u64`).
    #[error("the pickled integer does not fit in 64 bits")]
    IntegerTooLarge,
    /// Decoding would exceed the work budget or the nesting limit.
    #[error("the pickle expands beyond the decoding bounds ({0})")]
    TooLarge(&'static str),
}
