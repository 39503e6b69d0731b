//! [`Signer`] and [`TimestampSigner`]: `django.core.signing`'s classes, HMAC-SHA256 with keys derived
//! by `salted_hmac`.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::digest::{Key, KeyInit};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{base62, payload, Django, SigningError};

/// The separator of Django's signed values (`Signer(sep=":")`, the only one Django's sessions use).
pub const SEPARATOR: char = ':';

/// Length of a signature: a SHA-256 digest in base64url without padding.
const SIGNATURE_LENGTH: usize = 43;

/// Django's `salted_hmac(key_salt, value, secret, algorithm="sha256")`: HMAC-SHA256 of `value` under the
/// key `SHA-256(key_salt + secret)` (`django/utils/crypto.py`). Useful beyond signing, e.g. for
/// `get_session_auth_hash` (`_auth_user_hash`).
pub fn salted_hmac(key_salt: &str, value: &[u8], secret: &[u8]) -> [u8; 32] {
    let mut mac = keyed_mac(key_salt, secret);
    mac.update(value);
    mac.finalize().into_bytes().into()
}

/// An HMAC-SHA256 keyed with `salted_hmac`'s derived key, ready to take the value.
fn keyed_mac(key_salt: &str, secret: &[u8]) -> Hmac<Sha256> {
    let derived = Sha256::new()
        .chain_update(key_salt.as_bytes())
        .chain_update(secret)
        .finalize();
    // HMAC pads a key shorter than the hash's block with zeros; doing it here takes the infallible
    // constructor for block-sized keys.
    let mut block = Key::<Hmac<Sha256>>::default();
    for (slot, byte) in block.iter_mut().zip(derived.iter()) {
        *slot = *byte;
    }
    <Hmac<Sha256> as KeyInit>::new(&block)
}

/// A value that verified, and whether a fallback key (not the secret key) was needed.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified<T> {
    /// The signed value.
    pub value: T,
    /// Whether an entry of `SECRET_KEY_FALLBACKS` verified it: sign it again to move it to the current
    /// key.
    pub fallback: bool,
}

/// A value that verified under a [`TimestampSigner`], with when it was signed.
#[derive(Debug, Clone, PartialEq)]
pub struct Timestamped<T> {
    /// The signed value.
    pub value: T,
    /// When it was signed: Unix seconds, as written in the value.
    pub timestamp: i64,
    /// Whether an entry of `SECRET_KEY_FALLBACKS` verified it: sign it again to move it to the current
    /// key.
    pub fallback: bool,
}

impl<T> Timestamped<T> {
    /// [`timestamp`](Self::timestamp) as a `SystemTime` (clamped to what `SystemTime` holds).
    pub fn signed_at(&self) -> SystemTime {
        let seconds = Duration::from_secs(self.timestamp.unsigned_abs());
        if self.timestamp >= 0 {
            SystemTime::UNIX_EPOCH.checked_add(seconds)
        } else {
            SystemTime::UNIX_EPOCH.checked_sub(seconds)
        }
        .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// `django.core.signing.Signer`: `value:signature`, where the signature is base64url (no padding) of
/// `salted_hmac(salt + "signer", value, key)` with SHA-256. The secret key signs; every key of the
/// [`Django`] settings verifies, in order, compared in constant time.
///
/// The HMAC keys are derived once, when the signer is made: keep a signer rather than making one per
/// value.
#[derive(Clone)]
pub struct Signer {
    salt: Arc<str>,
    /// One keyed HMAC per key, secret key first.
    macs: Arc<[Hmac<Sha256>]>,
    max_decompressed_size: usize,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("salt", &self.salt)
            .field("keys", &self.macs.len())
            .finish()
    }
}

impl Signer {
    /// Django's default salt of a `Signer` (`"%s.%s" % (module, class name)`).
    pub const DEFAULT_SALT: &'static str = "django.core.signing.Signer";

    /// A signer for `salt` under `django`'s keys. An empty salt is [`DEFAULT_SALT`](Self::DEFAULT_SALT),
    /// as in Django (`salt or default`).
    pub fn new(django: &Django, salt: &str) -> Self {
        Signer::with_default(django, salt, Self::DEFAULT_SALT)
    }

    fn with_default(django: &Django, salt: &str, default: &str) -> Self {
        let salt = if salt.is_empty() { default } else { salt };
        let key_salt = format!("{salt}signer");
        Signer {
            macs: django
                .keys()
                .iter()
                .map(|key| keyed_mac(&key_salt, key))
                .collect(),
            salt: Arc::from(salt),
            max_decompressed_size: django.decompression_limit(),
        }
    }

    /// The salt in use.
    pub fn salt(&self) -> &str {
        &self.salt
    }

    /// `Signer.signature(value)`: the signature of `value` under the secret key.
    pub fn signature(&self, value: &str) -> String {
        let mut mac = self.macs[0].clone();
        mac.update(value.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// `Signer.sign(value)`: `value:signature`.
    pub fn sign(&self, value: &str) -> String {
        let signature = self.signature(value);
        let mut signed = String::with_capacity(value.len() + 1 + signature.len());
        signed.push_str(value);
        signed.push(SEPARATOR);
        signed.push_str(&signature);
        signed
    }

    /// `Signer.unsign(signed)`: the value before the last `:` when the signature after it is one of the
    /// keys' (tried secret key first). [`SigningError::BadSignature`] otherwise, including when there is
    /// no `:`.
    pub fn unsign<'a>(&self, signed: &'a str) -> Result<Verified<&'a str>, SigningError> {
        let (value, signature) = signed
            .rsplit_once(SEPARATOR)
            .ok_or(SigningError::BadSignature)?;
        // Django compares the base64 text; the canonical decoding (no padding, no stray bits) is one to
        // one with that text, so comparing the bytes in constant time accepts exactly what Django does.
        if signature.len() != SIGNATURE_LENGTH {
            return Err(SigningError::BadSignature);
        }
        let presented = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| SigningError::BadSignature)?;
        for (index, mac) in self.macs.iter().enumerate() {
            let mut mac = mac.clone();
            mac.update(value.as_bytes());
            if mac.verify_slice(&presented).is_ok() {
                return Ok(Verified {
                    value,
                    fallback: index > 0,
                });
            }
        }
        Err(SigningError::BadSignature)
    }

    /// `Signer.sign_object(value, compress=compress)`: `value` as Django's compact JSON, zlib-compressed
    /// when `compress` and that saves more than one byte (then marked by a leading `.`), base64url, signed.
    pub fn sign_object(&self, value: &Value, compress: bool) -> String {
        self.sign(&payload::encode(value, compress))
    }

    /// `Signer.unsign_object(signed)`: the value [`sign_object`](Self::sign_object) signed.
    pub fn unsign_object(&self, signed: &str) -> Result<Verified<Value>, SigningError> {
        let verified = self.unsign(signed)?;
        Ok(Verified {
            value: payload::decode(verified.value, self.max_decompressed_size)?,
            fallback: verified.fallback,
        })
    }
}

/// `django.core.signing.TimestampSigner`: `value:timestamp:signature`, the timestamp in base62 Unix
/// seconds, and an optional `max_age` checked on reading. This is what `signing.dumps`/`loads` and every
/// Django session format use.
#[derive(Clone, Debug)]
pub struct TimestampSigner {
    signer: Signer,
}

impl TimestampSigner {
    /// Django's default salt of a `TimestampSigner`.
    pub const DEFAULT_SALT: &'static str = "django.core.signing.TimestampSigner";

    /// A signer for `salt` under `django`'s keys. An empty salt is
    /// [`DEFAULT_SALT`](Self::DEFAULT_SALT), as in Django.
    pub fn new(django: &Django, salt: &str) -> Self {
        TimestampSigner {
            signer: Signer::with_default(django, salt, Self::DEFAULT_SALT),
        }
    }

    /// The salt in use.
    pub fn salt(&self) -> &str {
        self.signer.salt()
    }

    /// `TimestampSigner.sign(value)`, now.
    pub fn sign(&self, value: &str) -> String {
        self.sign_at(value, SystemTime::now())
    }

    /// `TimestampSigner.sign(value)` as if the clock read `at` (Django writes `int(time.time())`).
    pub fn sign_at(&self, value: &str, at: SystemTime) -> String {
        let timestamp = base62::encode(unix_seconds(at));
        self.signer.sign(&format!("{value}{SEPARATOR}{timestamp}"))
    }

    /// `TimestampSigner.unsign(signed, max_age=max_age)`, now.
    pub fn unsign<'a>(
        &self,
        signed: &'a str,
        max_age: Option<Duration>,
    ) -> Result<Timestamped<&'a str>, SigningError> {
        self.unsign_at(signed, max_age, SystemTime::now())
    }

    /// `TimestampSigner.unsign(signed, max_age=max_age)` as if the clock read `now`: the value, when it
    /// was signed, and whether a fallback key verified it. [`SigningError::Expired`] when it was signed
    /// more than `max_age` before `now` (a timestamp in the future passes, as in Django).
    pub fn unsign_at<'a>(
        &self,
        signed: &'a str,
        max_age: Option<Duration>,
        now: SystemTime,
    ) -> Result<Timestamped<&'a str>, SigningError> {
        let verified = self.signer.unsign(signed)?;
        let (value, timestamp) = verified
            .value
            .rsplit_once(SEPARATOR)
            .ok_or(SigningError::Malformed("no timestamp"))?;
        let timestamp =
            base62::decode(timestamp).ok_or(SigningError::Malformed("invalid base62 timestamp"))?;
        if let Some(max_age) = max_age {
            check_age(timestamp, max_age, now)?;
        }
        Ok(Timestamped {
            value,
            timestamp,
            fallback: verified.fallback,
        })
    }

    /// `TimestampSigner.sign_object(value, compress=compress)` — `signing.dumps` — now.
    pub fn sign_object(&self, value: &Value, compress: bool) -> String {
        self.sign_object_at(value, compress, SystemTime::now())
    }

    /// `TimestampSigner.sign_object(value, compress=compress)` as if the clock read `at`.
    pub fn sign_object_at(&self, value: &Value, compress: bool, at: SystemTime) -> String {
        self.sign_at(&payload::encode(value, compress), at)
    }

    /// `TimestampSigner.unsign_object(signed, max_age=max_age)` — `signing.loads` — now.
    pub fn unsign_object(
        &self,
        signed: &str,
        max_age: Option<Duration>,
    ) -> Result<Timestamped<Value>, SigningError> {
        self.unsign_object_at(signed, max_age, SystemTime::now())
    }

    /// `TimestampSigner.unsign_object(signed, max_age=max_age)` as if the clock read `now`.
    pub fn unsign_object_at(
        &self,
        signed: &str,
        max_age: Option<Duration>,
        now: SystemTime,
    ) -> Result<Timestamped<Value>, SigningError> {
        let verified = self.unsign_at(signed, max_age, now)?;
        Ok(Timestamped {
            value: payload::decode(verified.value, self.signer.max_decompressed_size)?,
            timestamp: verified.timestamp,
            fallback: verified.fallback,
        })
    }
}

/// `int(time.time())` at `at`: whole seconds, truncated toward zero.
fn unix_seconds(at: SystemTime) -> i64 {
    match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |secs| -secs),
    }
}

/// Django's `if time.time() - timestamp > max_age: raise SignatureExpired`.
fn check_age(timestamp: i64, max_age: Duration, now: SystemTime) -> Result<(), SigningError> {
    const NANOS: i128 = 1_000_000_000;
    let now = match now.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => after.as_nanos() as i128,
        Err(before) => -(before.duration().as_nanos() as i128),
    };
    let age = now - i128::from(timestamp) * NANOS;
    if age > max_age.as_nanos() as i128 {
        let seconds = u64::try_from(age / NANOS).unwrap_or(u64::MAX);
        let nanos = u32::try_from(age % NANOS).unwrap_or(0);
        return Err(SigningError::Expired {
            age: Duration::new(seconds, nanos),
            max_age,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn django() -> Django {
        match Django::new("secret") {
            Ok(django) => django,
            Err(error) => panic!("{error}"),
        }
    }

    #[test]
    fn sign_and_unsign() {
        let signer = django().signer("salt");
        let signed = signer.sign("hello");
        assert_eq!(
            signer.unsign(&signed),
            Ok(Verified {
                value: "hello",
                fallback: false
            })
        );
        assert_eq!(signer.unsign("hello"), Err(SigningError::BadSignature));
        assert_eq!(
            django().signer("other").unsign(&signed),
            Err(SigningError::BadSignature)
        );
    }

    #[test]
    fn expiry_is_checked_against_the_given_clock() {
        let signer = django().timestamp_signer("");
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let signed = signer.sign_at("v", at);
        let max_age = Duration::from_secs(10);
        assert!(signer
            .unsign_at(&signed, Some(max_age), at + max_age)
            .is_ok());
        assert_eq!(
            signer.unsign_at(&signed, Some(max_age), at + Duration::from_millis(10_500)),
            Err(SigningError::Expired {
                age: Duration::from_millis(10_500),
                max_age
            })
        );
        assert!(signer
            .unsign_at(&signed, Some(max_age), at - Duration::from_secs(100))
            .is_ok());
    }

    #[test]
    fn unix_seconds_truncate_toward_zero() {
        let epoch = SystemTime::UNIX_EPOCH;
        assert_eq!(unix_seconds(epoch + Duration::from_millis(1500)), 1);
        assert_eq!(unix_seconds(epoch - Duration::from_millis(1500)), -1);
    }
}
