//! [`Django`]: the Django settings the signing and session formats depend on, given in one place.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{SessionCodec, SettingsError, Signer, SigningError, TimestampSigner, Timestamped};

/// Django's default `SESSION_COOKIE_AGE`: two weeks.
pub const DEFAULT_SESSION_COOKIE_AGE: Duration = Duration::from_secs(60 * 60 * 24 * 7 * 2);

/// The salt `SessionBase.encode`/`decode` sign session data with: `"django.contrib.sessions." +
/// SessionStore.__qualname__`. Every built-in engine's class is named `SessionStore` (db, cache,
/// cached_db, file, signed_cookies), so this is the salt of every Django project that does not subclass
/// under another class name.
pub const DEFAULT_SESSION_KEY_SALT: &str = "django.contrib.sessions.SessionStore";

/// The salt of the `signed_cookies` session engine (fixed in Django's
/// `django/contrib/sessions/backends/signed_cookies.py`).
pub const SIGNED_COOKIES_SALT: &str = "django.contrib.sessions.backends.signed_cookies";

/// The default salt of `django.core.signing.dumps` and `loads`.
pub const DEFAULT_SIGNING_SALT: &str = "django.core.signing";

/// The default cap on what a compressed payload may inflate to: 4 MiB. A deflate stream inflates at most
/// about 1032 times, so a 4 KB cookie cannot pass 4 MB anyway; the cap is what bounds larger inputs
/// (database rows, cache entries).
pub const DEFAULT_MAX_DECOMPRESSED_SIZE: usize = 4 * 1024 * 1024;

/// The Django settings that decide how values are signed and sessions encoded: `SECRET_KEY`,
/// `SECRET_KEY_FALLBACKS`, `SESSION_COOKIE_AGE` and the salts, with Django's defaults. Configure it
/// once and derive everything from it: [`signer`](Self::signer), [`timestamp_signer`](Self::timestamp_signer),
/// [`dumps`](Self::dumps)/[`loads`](Self::loads), [`session_codec`](Self::session_codec) and
/// [`signed_cookies_codec`](Self::signed_cookies_codec).
///
/// **Key rotation**, as Django's `SECRET_KEY_FALLBACKS`: the secret key signs, it and every fallback
/// verify, and each verification says whether a fallback was needed, so a store can re-sign with the
/// current key.
///
/// Secrets never appear in `Debug` output (only how many fallbacks there are).
///
/// ```
/// use std::time::Duration;
/// use tower_sessions_kit::django::Django;
///
/// let django = Django::new("the SECRET_KEY of the Django project")?
///     .secret_key_fallbacks(["the previous SECRET_KEY"])?
///     .session_cookie_age(Duration::from_secs(3600));
/// assert!(!format!("{django:?}").contains("SECRET_KEY"));
/// # Ok::<(), tower_sessions_kit::django::SettingsError>(())
/// ```
#[derive(Clone)]
pub struct Django {
    /// `SECRET_KEY` first, then `SECRET_KEY_FALLBACKS` in order; never empty.
    keys: Vec<Arc<[u8]>>,
    session_cookie_age: Duration,
    session_key_salt: String,
    signed_cookies_salt: String,
    max_decompressed_size: usize,
}

impl fmt::Debug for Django {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Django")
            .field("secret_key", &"<redacted>")
            .field("secret_key_fallbacks", &(self.keys.len() - 1))
            .field("session_cookie_age", &self.session_cookie_age)
            .field("session_key_salt", &self.session_key_salt)
            .field("signed_cookies_salt", &self.signed_cookies_salt)
            .field("max_decompressed_size", &self.max_decompressed_size)
            .finish()
    }
}

impl Django {
    /// Settings with this `SECRET_KEY` (its bytes; a Python `str` key is its UTF-8, as Django's
    /// `force_bytes` makes it), no fallbacks, and Django's defaults for the rest.
    ///
    /// Fails with [`SettingsError::EmptySecretKey`] for an empty key.
    pub fn new(secret_key: impl AsRef<[u8]>) -> Result<Self, SettingsError> {
        let secret_key = secret_key.as_ref();
        if secret_key.is_empty() {
            return Err(SettingsError::EmptySecretKey);
        }
        Ok(Django {
            keys: vec![Arc::from(secret_key)],
            session_cookie_age: DEFAULT_SESSION_COOKIE_AGE,
            session_key_salt: DEFAULT_SESSION_KEY_SALT.to_owned(),
            signed_cookies_salt: SIGNED_COOKIES_SALT.to_owned(),
            max_decompressed_size: DEFAULT_MAX_DECOMPRESSED_SIZE,
        })
    }

    /// `SECRET_KEY_FALLBACKS`: older keys that still verify, tried in this order after the secret key
    /// (replacing any given before). Fails with [`SettingsError::EmptyFallbackKey`] for an empty one.
    pub fn secret_key_fallbacks<I>(mut self, keys: I) -> Result<Self, SettingsError>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        self.keys.truncate(1);
        for (index, key) in keys.into_iter().enumerate() {
            let key = key.as_ref();
            if key.is_empty() {
                return Err(SettingsError::EmptyFallbackKey(index));
            }
            self.keys.push(Arc::from(key));
        }
        Ok(self)
    }

    /// `SESSION_COOKIE_AGE` (default two weeks): the `max_age` the `signed_cookies` engine loads with.
    pub fn session_cookie_age(mut self, age: Duration) -> Self {
        self.session_cookie_age = age;
        self
    }

    /// The salt of `SessionBase.encode`/`decode` (default [`DEFAULT_SESSION_KEY_SALT`]). A project whose
    /// `SESSION_ENGINE` class is not named `SessionStore` signs with `"django.contrib.sessions." +` that
    /// class's `__qualname__`.
    pub fn session_key_salt(mut self, salt: impl Into<String>) -> Self {
        self.session_key_salt = salt.into();
        self
    }

    /// The salt of the `signed_cookies` engine (default [`SIGNED_COOKIES_SALT`]; Django has no setting
    /// for it, but a subclass could override its `load` and `_get_session_key`).
    pub fn signed_cookies_salt(mut self, salt: impl Into<String>) -> Self {
        self.signed_cookies_salt = salt.into();
        self
    }

    /// The most bytes a compressed payload may inflate to (default
    /// [`DEFAULT_MAX_DECOMPRESSED_SIZE`]); past it reading fails with [`SigningError::TooLarge`] and
    /// decompression stops. Django has no such limit.
    pub fn max_decompressed_size(mut self, bytes: usize) -> Self {
        self.max_decompressed_size = bytes;
        self
    }

    /// The configured `SESSION_COOKIE_AGE`.
    pub fn cookie_age(&self) -> Duration {
        self.session_cookie_age
    }

    /// The configured salt of `SessionBase.encode`/`decode`.
    pub fn session_salt(&self) -> &str {
        &self.session_key_salt
    }

    /// How many fallback keys verify besides the secret key.
    pub fn fallback_count(&self) -> usize {
        self.keys.len() - 1
    }

    /// The configured decompression cap.
    pub fn decompression_limit(&self) -> usize {
        self.max_decompressed_size
    }

    /// The keys, secret key first (for the signers).
    pub(crate) fn keys(&self) -> &[Arc<[u8]>] {
        &self.keys
    }

    /// `django.core.signing.Signer(salt=salt)` under these keys (an empty salt is Django's default,
    /// `"django.core.signing.Signer"`).
    pub fn signer(&self, salt: &str) -> Signer {
        Signer::new(self, salt)
    }

    /// `django.core.signing.TimestampSigner(salt=salt)` under these keys (an empty salt is Django's
    /// default, `"django.core.signing.TimestampSigner"`).
    pub fn timestamp_signer(&self, salt: &str) -> TimestampSigner {
        TimestampSigner::new(self, salt)
    }

    /// `django.core.signing.dumps(value, salt=salt, compress=compress)`, signed now with the secret key
    /// ([`DEFAULT_SIGNING_SALT`] is `dumps`' default salt).
    pub fn dumps(&self, value: &Value, salt: &str, compress: bool) -> String {
        self.timestamp_signer(salt).sign_object(value, compress)
    }

    /// `django.core.signing.loads(signed, salt=salt, max_age=max_age)`: the value, when it was signed, and
    /// whether a fallback key verified it.
    pub fn loads(
        &self,
        signed: &str,
        salt: &str,
        max_age: Option<Duration>,
    ) -> Result<Timestamped<Value>, SigningError> {
        self.timestamp_signer(salt).unsign_object(signed, max_age)
    }

    /// The codec of `SessionBase.encode`/`decode`: session data as the database and file engines store
    /// it (no age limit, as Django's `decode` has none).
    pub fn session_codec(&self) -> SessionCodec {
        SessionCodec::new(self.timestamp_signer(&self.session_key_salt), None)
    }

    /// The codec of the `signed_cookies` engine: the session data is the cookie value, loaded with
    /// `max_age` = `SESSION_COOKIE_AGE`.
    pub fn signed_cookies_codec(&self) -> SessionCodec {
        SessionCodec::new(
            self.timestamp_signer(&self.signed_cookies_salt),
            Some(self.session_cookie_age),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_keys_are_refused() {
        assert_eq!(Django::new("").err(), Some(SettingsError::EmptySecretKey));
        let refused = Django::new("k").and_then(|django| django.secret_key_fallbacks(["a", ""]));
        assert_eq!(refused.err(), Some(SettingsError::EmptyFallbackKey(1)));
    }

    #[test]
    fn debug_shows_no_secret() {
        let django = Django::new("top-secret-key")
            .and_then(|django| django.secret_key_fallbacks(["old-secret-key"]));
        let shown = format!("{django:?}");
        assert!(!shown.contains("secret-key"), "{shown}");
        assert!(shown.contains("secret_key_fallbacks: 1"), "{shown}");
    }
}
