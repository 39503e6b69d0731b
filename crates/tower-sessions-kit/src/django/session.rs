//! [`SessionCodec`]: session data as Django's session engines encode it.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::{json, payload, SigningError, TimestampSigner, Timestamped};
use crate::record::Data;

/// Session data ([`Data`]) encoded as Django encodes it: `signing.dumps(data, salt=…, compress=True)`
/// and read back with `signing.loads`.
///
/// Two codecs come from a [`Django`](super::Django) value:
///
/// - [`session_codec`](super::Django::session_codec): `SessionBase.encode`/`decode`, the `session_data`
///   of the database engines and the content of the file engine's files. No age limit.
/// - [`signed_cookies_codec`](super::Django::signed_cookies_codec): the `signed_cookies` engine, whose
///   cookie value is the encoded data, refused once older than `SESSION_COOKIE_AGE`.
///
/// Encoding is deterministic for a given clock reading ([`encode_at`](Self::encode_at)): the same data
/// at the same second is the same string Django produces.
#[derive(Clone, Debug)]
pub struct SessionCodec {
    signer: TimestampSigner,
    max_age: Option<Duration>,
}

impl SessionCodec {
    pub(crate) fn new(signer: TimestampSigner, max_age: Option<Duration>) -> Self {
        SessionCodec { signer, max_age }
    }

    /// The salt this codec signs with.
    pub fn salt(&self) -> &str {
        self.signer.salt()
    }

    /// The age past which decoding fails with [`SigningError::Expired`] (`None`: no limit).
    pub fn max_age(&self) -> Option<Duration> {
        self.max_age
    }

    /// `SessionBase.encode(data)` (or the `signed_cookies` cookie value), signed now.
    pub fn encode(&self, data: &Data) -> String {
        self.encode_at(data, SystemTime::now())
    }

    /// [`encode`](Self::encode) as if the clock read `at`.
    pub fn encode_at(&self, data: &Data, at: SystemTime) -> String {
        let mut json = String::new();
        json::write_object(data, &mut json);
        self.signer.sign_at(&payload::from_json(&json, true), at)
    }

    /// Decodes `encoded`, every failure reported: a signature failure (bad or, for the signed-cookie
    /// codec, expired), a malformed payload, bad JSON, or JSON that is not an object
    /// ([`SigningError::NotAnObject`]). The result says when the data was signed and whether a fallback
    /// key verified it (then re-encode it to move it to the current key).
    pub fn decode_strict(&self, encoded: &str) -> Result<Timestamped<Data>, SigningError> {
        self.decode_strict_at(encoded, SystemTime::now())
    }

    /// [`decode_strict`](Self::decode_strict) as if the clock read `now`.
    pub fn decode_strict_at(
        &self,
        encoded: &str,
        now: SystemTime,
    ) -> Result<Timestamped<Data>, SigningError> {
        let decoded = self.signer.unsign_object_at(encoded, self.max_age, now)?;
        match decoded.value {
            Value::Object(data) => Ok(Timestamped {
                value: data,
                timestamp: decoded.timestamp,
                fallback: decoded.fallback,
            }),
            _ => Err(SigningError::NotAnObject),
        }
    }

    /// `SessionBase.decode(encoded)`: the data, or — whatever went wrong — an empty session and a
    /// `tracing` warning, as Django returns `{}` (logging "Session data corrupted" to
    /// `django.security.SuspiciousSession` for a bad signature). A broken record logs its owner out
    /// instead of failing every request. Use [`decode_strict`](Self::decode_strict) to see the error or
    /// whether a fallback key was needed.
    pub fn decode(&self, encoded: &str) -> Data {
        match self.decode_strict(encoded) {
            Ok(decoded) => decoded.value,
            Err(error) if error.is_signature_failure() => {
                tracing::warn!(
                    salt = self.salt(),
                    %error,
                    "Session data corrupted: using an empty session"
                );
                Data::new()
            }
            Err(error) => {
                tracing::warn!(
                    salt = self.salt(),
                    %error,
                    "session data undecodable: using an empty session"
                );
                Data::new()
            }
        }
    }
}
