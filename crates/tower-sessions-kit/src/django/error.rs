//! The errors of the Django module: settings refused at construction, and signed values refused on
//! reading.

use std::time::Duration;

use super::json::JsonError;

/// A [`Django`](super::Django) setting that cannot be used, refused when it is given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// `SECRET_KEY` is empty. Django refuses it too ("The SECRET_KEY setting must not be empty"): a
    /// signature under an empty key is one anybody can compute.
    #[error("the secret key must not be empty")]
    EmptySecretKey,
    /// An entry of `SECRET_KEY_FALLBACKS` is empty (its position in the list): it would let anybody sign
    /// values that verify.
    #[error("fallback secret key {0} is empty")]
    EmptyFallbackKey(usize),
}

/// Why a signed value was refused — the outcomes Django's `signing.loads` raises, typed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SigningError {
    /// No key's signature matches, or there is no `:` separator (Django's `BadSignature`): tampered,
    /// signed with another key or salt, or not a signed value at all.
    #[error("bad signature")]
    BadSignature,
    /// The signature is valid but older than the `max_age` asked for (Django's `SignatureExpired`).
    #[error("signature expired: signed {age:?} ago, max age {max_age:?}")]
    Expired {
        /// How long ago it was signed.
        age: Duration,
        /// The limit it exceeded.
        max_age: Duration,
    },
    /// Correctly signed, but not in Django's format (the text says what): a bad base62 timestamp or
    /// base64 payload. Only a holder of the key can produce this.
    #[error("malformed signed value: {0}")]
    Malformed(&'static str),
    /// The payload is marked compressed but is not a complete zlib stream.
    #[error("cannot decompress the signed payload: {0}")]
    Decompress(&'static str),
    /// The payload decompresses to more than the configured limit
    /// ([`Django::max_decompressed_size`](super::Django::max_decompressed_size)); decompression stopped
    /// there.
    #[error("the signed payload decompresses to more than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The payload is not JSON as Django reads it, or holds a value a `serde_json::Value` cannot.
    #[error(transparent)]
    Json(#[from] JsonError),
    /// Session data that is not a JSON object (Django's sessions are dicts).
    #[error("session data is not a JSON object")]
    NotAnObject,
}

impl SigningError {
    /// Whether this is a signature failure — [`BadSignature`](Self::BadSignature) or
    /// [`Expired`](Self::Expired) — the errors Django raises as `BadSignature` and its subclass; the
    /// others come from content that was correctly signed.
    pub fn is_signature_failure(&self) -> bool {
        matches!(
            self,
            SigningError::BadSignature | SigningError::Expired { .. }
        )
    }
}
