//! Django's signing and session formats, byte for byte (feature `django`): read and write the sessions
//! a Django application (5.2 LTS, and 6.x, whose formats are the same) reads and writes.
//!
//! - [`Django`]: the settings the formats depend on — `SECRET_KEY`, `SECRET_KEY_FALLBACKS`,
//!   `SESSION_COOKIE_AGE`, the salts — configured once.
//! - [`Signer`], [`TimestampSigner`], [`Django::dumps`], [`Django::loads`]: `django.core.signing`
//!   ([Django's documentation](https://docs.djangoproject.com/en/5.2/topics/signing/)), HMAC-SHA256
//!   with `salted_hmac` key derivation, base62 timestamps, optional zlib compression, key rotation.
//! - [`json`]: the JSON those formats carry, exactly as Python's `json.dumps(obj, separators=(",", ":"))`
//!   writes it and `json.loads` reads it.
//! - [`SessionCodec`]: session data as `SessionBase.encode`/`decode` and the `signed_cookies` engine
//!   store it ([sessions documentation](https://docs.djangoproject.com/en/5.2/topics/http/sessions/)).
//!   With the `signed-cookie` feature too,
//!   [`SignedCookieStore::django`](crate::store::SignedCookieStore::django) speaks the `signed_cookies`
//!   engine's cookie format.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use serde_json::json;
//! use tower_sessions_kit::django::{Django, SigningError};
//!
//! let django = Django::new("django-insecure-example-key")?
//!     .secret_key_fallbacks(["the key before"])?;
//!
//! // What Django's `signing.dumps({"user": 42}, salt="invites")` returns at this second.
//! let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let signed = django.timestamp_signer("invites").sign_object_at(&json!({"user": 42}), false, at);
//! assert_eq!(signed, "eyJ1c2VyIjo0Mn0:1r31eq:FXCQM--GyNotOHkziJ3N-O2h2ARLdWJIZh3a5xw8VKA");
//!
//! let loaded = django.loads(&signed, "invites", None)?;
//! assert_eq!(loaded.value, json!({"user": 42}));
//! assert!(!loaded.fallback, "the current key signed it");
//!
//! // Tampering, another salt, or age are typed errors.
//! assert_eq!(django.loads(&signed.replace("Mn0", "Mx0"), "invites", None).err(),
//!            Some(SigningError::BadSignature));
//! assert!(matches!(django.loads(&signed, "invites", Some(Duration::from_secs(60))),
//!                  Err(SigningError::Expired { .. })));
//!
//! // Session data as Django's database engine stores it in `session_data`.
//! let codec = django.session_codec();
//! let mut data = tower_sessions_kit::record::Data::new();
//! data.insert("_auth_user_id".into(), json!("42"));
//! let encoded = codec.encode(&data);
//! assert_eq!(codec.decode(&encoded), data);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The rules followed (Django's source)
//!
//! - `django/utils/crypto.py` `salted_hmac`: HMAC key = SHA-256(`key_salt` + secret); the signers use
//!   `key_salt` = salt + `"signer"` and SHA-256 (`Signer(algorithm="sha256")`, the default since 3.1).
//! - `django/core/signing.py`: a signature is base64url without `=` of that HMAC over everything before
//!   the last `:`; `TimestampSigner` puts `:` + base62(`int(time.time())`) before signing; `max_age` is
//!   checked as `time.time() - timestamp > max_age`; `sign_object` is compact JSON, compressed with
//!   `zlib.compress` when that saves at least two bytes, marked by a leading `.`; an empty salt means the
//!   class's default.
//! - `django/contrib/sessions/backends/base.py`: `encode` is `signing.dumps(data, salt=key_salt,
//!   compress=True)` with `key_salt` = `"django.contrib.sessions." + type(self).__qualname__`; `decode`
//!   is `signing.loads` with no `max_age`, and `{}` on any failure.
//! - `django/contrib/sessions/backends/signed_cookies.py`: the cookie value is
//!   `signing.dumps(data, compress=True, salt="django.contrib.sessions.backends.signed_cookies")`,
//!   loaded with `max_age=SESSION_COOKIE_AGE`.
//!
//! # Limits
//!
//! - Only JSON (Django's `SESSION_SERIALIZER` default and only built-in since 5.0) and SHA-256 (the
//!   signers' default). The database and file engines use [`SessionCodec`]; Django's cache engines store
//!   the session dict pickled by the cache backend, which is not a signing format.
//! - A `serde_json::Value` keeps object keys sorted (unless `serde_json`'s `preserve_order` feature is
//!   on), Python dicts their insertion order: data decoded from Django and encoded again has the same
//!   members, possibly in another order — Django reads it the same. Values Python can hold but a `Value`
//!   cannot (`NaN`, infinities, integers beyond 64 bits, lone surrogates) are a decoding error.
//! - Decompression stops at [`Django::max_decompressed_size`]; Django has no limit.

mod base62;
mod compress;
mod error;
pub mod json;
mod payload;
mod session;
mod settings;
mod signer;

pub use error::{SettingsError, SigningError};
pub use session::SessionCodec;
pub use settings::{
    Django, DEFAULT_MAX_DECOMPRESSED_SIZE, DEFAULT_SESSION_COOKIE_AGE, DEFAULT_SESSION_KEY_SALT,
    DEFAULT_SIGNING_SALT, SIGNED_COOKIES_SALT,
};
pub use signer::{salted_hmac, Signer, TimestampSigner, Timestamped, Verified, SEPARATOR};

/// Django's base62 timestamps (`b62_encode`/`b62_decode`), for code that reads `TimestampSigner` values
/// itself.
pub mod b62 {
    pub use super::base62::{decode, encode};
}
