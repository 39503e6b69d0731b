//! [`SignedCookieStore`]: the session data in the cookie itself, signed (optionally encrypted).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cookie::{Cookie, CookieJar, Key};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{ImmediateLoads, ImmediateSaves, Loaded, SaveRequest, Saved, SessionStore, StoreError};
use crate::expiry::{self, unix_millis};
use crate::key::SessionKey;
use crate::record::Data;

const NAME: &str = "signed_cookie";

/// What the signature is bound to (Django's salt): a value signed for another purpose with the same key
/// does not verify here. Encrypted cookies bind it as the AEAD's associated data.
const PURPOSE: &str = "tower_sessions_kit.signed_cookies";

/// Separates the payload from its signature in a signed (not encrypted) value: `<payload>.<signature>`,
/// both base64url without padding (which never contains a `.`).
const SIGNATURE_SEPARATOR: char = '.';

/// The default limit on the cookie value: browsers keep about 4096 bytes per cookie, name and attributes
/// included.
pub const DEFAULT_MAX_SIZE: usize = 3_800;

/// Sessions with no server storage: the cookie's value **is** the session (`expiry` and data as JSON,
/// base64url, signed with HMAC-SHA256 bound to this store's purpose — or, with
/// [`encrypted`](SignedCookieStore::encrypted), encrypted and authenticated with AES-256-GCM by the `cookie`
/// crate).
///
/// - **Bound to its purpose**: the signed input is the purpose (Django's salt), length-prefixed, then the
///   payload, so a value signed with the same [`Key`] for anything else — a `cookie` crate signed cookie,
///   another application's token — never verifies as a session, and no split of one input into purpose
///   and payload can be read as another.
/// - **Key rotation**: the first key signs; every key verifies ([`fallback_keys`](Self::fallback_keys),
///   Django's `SECRET_KEY_FALLBACKS`). A cookie verified by a fallback key is re-issued with the first key
///   on that response.
/// - Better than Django: the expiry (custom or cookie age) is inside the signed payload and enforced on
///   load, so a copied cookie stops working when the session expires (Django ignores `set_expiry` here).
/// - A cookie that does not verify, is expired, or is not ours: a new, empty session (never an error).
/// - A session too large for a cookie ([`max_size`](Self::max_size), default 3800 bytes) fails the save
///   with [`StoreError::TooLarge`] — the layer's error response — rather than sending a cookie the browser
///   would drop.
/// - **Cannot merge concurrent writes**: each response carries its request's whole session, and the
///   browser keeps the last cookie it receives. **Cannot be revoked**: `flush` deletes the cookie, but a
///   copy stays valid until it expires; keep sessions short and rotate keys to log everyone out. Without
///   `encrypted`, the client can read (not change) the data. Keep `HttpOnly` on.
/// - `exists` says whether a value verifies; `delete` has nothing to delete; `clear_expired` is
///   unsupported (nothing is stored).
///
/// **Django's format**: [`SignedCookieStore::django`] reads and writes the cookies of Django's
/// `signed_cookies` session engine instead (feature `django`), so one session works on both sides.
#[derive(Clone)]
pub struct SignedCookieStore {
    keys: Vec<Key>,
    encrypted: bool,
    max_size: usize,
    #[cfg(feature = "django")]
    django: Option<Arc<DjangoFormat>>,
}

/// The `signed_cookies` engine's format and the settings it depends on.
#[cfg(feature = "django")]
#[derive(Debug)]
struct DjangoFormat {
    codec: crate::django::SessionCodec,
    cookie_age: Duration,
}

impl std::fmt::Debug for SignedCookieStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("SignedCookieStore");
        out.field("keys", &self.keys.len())
            .field("encrypted", &self.encrypted)
            .field("max_size", &self.max_size);
        #[cfg(feature = "django")]
        out.field("django", &self.django.is_some());
        out.finish()
    }
}

/// A cookie value that verified.
struct Opened {
    data: Data,
    /// A fallback key verified it.
    old_key: bool,
    /// Not expired.
    live: bool,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    /// Expiry, Unix milliseconds.
    e: i64,
    /// The data.
    d: Data,
}

impl SignedCookieStore {
    /// Sessions signed with `key` (make one with `Key::generate()` and keep it secret and stable: a new key
    /// logs everyone out unless the old one is kept as a fallback).
    pub fn new(key: Key) -> Self {
        SignedCookieStore {
            keys: vec![key],
            encrypted: false,
            max_size: DEFAULT_MAX_SIZE,
            #[cfg(feature = "django")]
            django: None,
        }
    }

    /// Sessions in the cookies of Django's `signed_cookies` engine
    /// (`SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"`), under `settings`' keys
    /// (feature `django`): a cookie Django set is read here, and one set here is read by Django.
    ///
    /// - The cookie value is `signing.dumps(data, compress=True, salt=…signed_cookies)`
    ///   ([`Django::signed_cookies_codec`](crate::django::Django::signed_cookies_codec)), loaded with
    ///   `max_age` = [`Django::session_cookie_age`](crate::django::Django::session_cookie_age) — set it
    ///   to the layer's cookie age, as both are `SESSION_COOKIE_AGE` in Django.
    /// - Key rotation is the `Django` value's `SECRET_KEY_FALLBACKS`: a cookie a fallback key verified is
    ///   re-signed with the secret key on that response (Django itself keeps it as it is).
    /// - Stricter than Django: a custom expiry (`_session_expiry`, from
    ///   [`Session::set_expiry`](crate::Session::set_expiry)) is enforced too, counted from the time the
    ///   cookie was signed; Django only applies it to the browser cookie.
    /// - Anything that does not verify, is expired or does not decode is a new, empty session (Django's
    ///   `load` returns `{}` the same way).
    /// - [`encrypted`](Self::encrypted) and [`fallback_keys`](Self::fallback_keys) belong to this
    ///   crate's own format: on a Django-format store every load and save fails with a store error
    ///   saying so, rather than silently not encrypting.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_sessions_kit::{django::Django, store::SignedCookieStore, SessionLayer};
    ///
    /// // The Django project's settings.py values.
    /// let age = Duration::from_secs(60 * 60 * 24 * 7 * 2); // SESSION_COOKIE_AGE
    /// let settings = Django::new("the Django project's SECRET_KEY")?
    ///     .secret_key_fallbacks(["its SECRET_KEY_FALLBACKS entry"])?
    ///     .session_cookie_age(age);
    /// // Django's cookie is `sessionid` as here; keep the age the same on both sides.
    /// let layer = SessionLayer::new(SignedCookieStore::django(&settings)).cookie_age(age);
    /// # let _ = layer;
    /// # Ok::<(), tower_sessions_kit::django::SettingsError>(())
    /// ```
    #[cfg(feature = "django")]
    pub fn django(settings: &crate::django::Django) -> Self {
        SignedCookieStore {
            keys: Vec::new(),
            encrypted: false,
            max_size: DEFAULT_MAX_SIZE,
            django: Some(Arc::new(DjangoFormat {
                codec: settings.signed_cookies_codec(),
                cookie_age: settings.cookie_age(),
            })),
        }
    }

    /// Older keys that still verify (rotation): cookies they verify are re-signed with the current key.
    /// (A [Django-format](Self::django) store takes its fallbacks from its `Django` value.)
    pub fn fallback_keys(mut self, keys: impl IntoIterator<Item = Key>) -> Self {
        self.keys.truncate(1);
        self.keys.extend(keys);
        self
    }

    /// Encrypts the data too (AES-256-GCM), so clients cannot read it (default off: signed only, like
    /// Django).
    pub fn encrypted(mut self, encrypted: bool) -> Self {
        self.encrypted = encrypted;
        self
    }

    /// The largest cookie value accepted (default [`DEFAULT_MAX_SIZE`]); larger sessions fail to save.
    pub fn max_size(mut self, bytes: usize) -> Self {
        self.max_size = bytes;
        self
    }

    /// The value of a cookie carrying `data`, within [`max_size`](Self::max_size).
    fn seal(&self, data: &Data, expires: SystemTime) -> Result<SessionKey, StoreError> {
        #[cfg(feature = "django")]
        if let Some(django) = self.django_format()? {
            return self.checked(django.codec.encode(data));
        }
        self.seal_native(data, expires)
    }

    fn seal_native(&self, data: &Data, expires: SystemTime) -> Result<SessionKey, StoreError> {
        let Some(key) = self.keys.first() else {
            return Err(StoreError::backend(NAME, "no signing key"));
        };
        let payload = Payload {
            e: unix_millis(expires),
            d: data.clone(),
        };
        let json =
            serde_json::to_vec(&payload).map_err(|error| StoreError::backend(NAME, error))?;
        let encoded = URL_SAFE_NO_PAD.encode(json);
        let value = if self.encrypted {
            let mut jar = CookieJar::new();
            jar.private_mut(key).add(Cookie::new(PURPOSE, encoded));
            jar.get(PURPOSE)
                .map(|cookie| cookie.value().to_owned())
                .unwrap_or_default()
        } else {
            let mac = sign(key, PURPOSE, &encoded)
                .ok_or_else(|| StoreError::backend(NAME, "the signing key was refused"))?;
            let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
            format!("{encoded}{SIGNATURE_SEPARATOR}{signature}")
        };
        self.checked(value)
    }

    /// `value` as the session key, unless it is too large for a cookie.
    fn checked(&self, value: String) -> Result<SessionKey, StoreError> {
        if value.len() > self.max_size {
            return Err(StoreError::TooLarge {
                store: NAME,
                size: value.len(),
                limit: self.max_size,
            });
        }
        SessionKey::from_cookie_value(&value).ok_or_else(|| {
            StoreError::backend(NAME, "the signed session is not a valid cookie value")
        })
    }

    /// The Django format, if this store uses it; an error if it was also given options of the native
    /// format, which it cannot honour.
    #[cfg(feature = "django")]
    fn django_format(&self) -> Result<Option<&DjangoFormat>, StoreError> {
        let Some(django) = self.django.as_deref() else {
            return Ok(None);
        };
        if self.encrypted || !self.keys.is_empty() {
            return Err(StoreError::backend(
                NAME,
                "a Django-format signed-cookie store cannot encrypt or take `Key` fallbacks: \
                 Django's format is signed only, its keys come from the `Django` value",
            ));
        }
        Ok(Some(django))
    }

    /// A Django `signed_cookies` value's data; `None` when it does not verify, is older than the cookie
    /// age, or does not decode.
    #[cfg(feature = "django")]
    fn open_django(django: &DjangoFormat, value: &str) -> Option<Opened> {
        let now = SystemTime::now();
        let decoded = match django.codec.decode_strict_at(value, now) {
            Ok(decoded) => decoded,
            Err(error) => {
                tracing::debug!(store = NAME, %error, "Django session cookie refused");
                return None;
            }
        };
        let expires = expiry::date(&decoded.value, decoded.signed_at(), django.cookie_age);
        Some(Opened {
            live: expires > now,
            data: decoded.value,
            old_key: decoded.fallback,
        })
    }

    /// The data of a value that verifies; `None` when it does not.
    fn open(&self, value: &str) -> Result<Option<Opened>, StoreError> {
        #[cfg(feature = "django")]
        if let Some(django) = self.django_format()? {
            return Ok(Self::open_django(django, value));
        }
        Ok(self.open_native(value).map(|(payload, old_key)| Opened {
            live: payload.e > unix_millis(SystemTime::now()),
            data: payload.d,
            old_key,
        }))
    }

    /// The payload of a value, and whether a fallback key verified it.
    fn open_native(&self, value: &str) -> Option<(Payload, bool)> {
        let jar = CookieJar::new();
        for (index, key) in self.keys.iter().enumerate() {
            let opened = if self.encrypted {
                jar.private(key)
                    .decrypt(Cookie::new(PURPOSE, value.to_owned()))
                    .map(|cookie| cookie.value().to_owned())
            } else {
                verify(key, PURPOSE, value).map(str::to_owned)
            };
            if let Some(opened) = opened {
                let json = URL_SAFE_NO_PAD.decode(opened).ok()?;
                let payload: Payload = match serde_json::from_slice(&json) {
                    Ok(payload) => payload,
                    Err(error) => {
                        tracing::warn!(store = NAME, %error, "session data corrupted: using an empty session");
                        return None;
                    }
                };
                return Some((payload, index > 0));
            }
        }
        None
    }
}

/// The HMAC-SHA256, under `key`'s signing half, of `purpose` and `payload`, with the purpose's length
/// first (8 bytes, big-endian): each input names exactly one (purpose, payload) pair, so a signature made
/// for one purpose never verifies for another, however the bytes are split.
/// `None` only if HMAC refused the key, which it never does (it takes keys of any length).
fn sign(key: &Key, purpose: &str, payload: &str) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.signing()).ok()?;
    mac.update(&(purpose.len() as u64).to_be_bytes());
    mac.update(purpose.as_bytes());
    mac.update(payload.as_bytes());
    Some(mac)
}

/// The payload of a `<payload>.<signature>` value when the signature is `key`'s for `purpose` (compared in
/// constant time); `None` otherwise.
fn verify<'a>(key: &Key, purpose: &str, value: &'a str) -> Option<&'a str> {
    let (payload, signature) = value.rsplit_once(SIGNATURE_SEPARATOR)?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    sign(key, purpose, payload)?
        .verify_slice(&signature)
        .ok()
        .map(|()| payload)
}

impl SignedCookieStore {
    /// A load: the cookie verified and opened; `None` unless it verifies and is live.
    fn load_sealed(&self, key: &SessionKey) -> Result<Option<Loaded>, StoreError> {
        let Some(opened) = self.open(key.as_str())? else {
            tracing::debug!(store = NAME, "session cookie did not verify");
            return Ok(None);
        };
        if !opened.live {
            return Ok(None);
        }
        Ok(Some(Loaded {
            data: Arc::new(opened.data),
            reissue: opened.old_key,
            snapshot: None,
        }))
    }

    /// A save: the request's whole view signed into a new cookie value.
    fn resign(&self, request: SaveRequest<'_>) -> Result<Saved, StoreError> {
        let key = self.seal(
            request.data,
            expiry::date(request.data, SystemTime::now(), request.cookie_age),
        )?;
        Ok(Saved {
            new_key: Some(key),
            merged: None,
        })
    }
}

impl ImmediateLoads for SignedCookieStore {
    fn load_now(&self, key: &SessionKey) -> Option<Result<Option<Loaded>, StoreError>> {
        Some(self.load_sealed(key))
    }
}

impl ImmediateSaves for SignedCookieStore {
    fn save_now(
        &self,
        _key: &SessionKey,
        request: SaveRequest<'_>,
    ) -> Option<Result<Saved, StoreError>> {
        Some(self.resign(request))
    }
}

#[async_trait]
impl SessionStore for SignedCookieStore {
    fn name(&self) -> &'static str {
        NAME
    }

    /// `None`: the data travels in the cookie, there is nothing to wait for.
    fn deadline(&self) -> Option<Duration> {
        None
    }

    fn accepts_key(&self, candidate: &str) -> bool {
        candidate.len() >= SessionKey::MIN_LENGTH && SessionKey::is_cookie_safe(candidate)
    }

    async fn load(&self, key: &SessionKey) -> Result<Option<Loaded>, StoreError> {
        self.load_sealed(key)
    }

    /// Verifying and signing are computation only: both are answered at once.
    fn immediate(&self) -> Option<&dyn ImmediateLoads> {
        Some(self)
    }

    fn immediate_saves(&self) -> Option<&dyn ImmediateSaves> {
        Some(self)
    }

    async fn create(&self, data: &Data, cookie_age: Duration) -> Result<SessionKey, StoreError> {
        self.seal(data, expiry::date(data, SystemTime::now(), cookie_age))
    }

    async fn save(&self, _key: &SessionKey, request: SaveRequest<'_>) -> Result<Saved, StoreError> {
        self.resign(request)
    }

    async fn delete(&self, _key: &SessionKey) -> Result<(), StoreError> {
        Ok(())
    }

    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        Ok(self.open(key.as_str())?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signature(key: &Key, purpose: &str, payload: &str) -> Vec<u8> {
        sign(key, purpose, payload)
            .map(|mac| mac.finalize().into_bytes().to_vec())
            .unwrap_or_default()
    }

    #[test]
    fn purpose_and_payload_splits_never_share_a_signature() {
        let key = Key::generate();
        let joined = "tower_sessions_kit.signed_cookieseyJlIjo";
        let mut seen = std::collections::HashSet::new();
        for split in 0..=joined.len() {
            let (purpose, payload) = joined.split_at(split);
            assert!(
                seen.insert(signature(&key, purpose, payload)),
                "the split at {split} shares a signature with another"
            );
            let value = format!(
                "{payload}.{}",
                URL_SAFE_NO_PAD.encode(signature(&key, purpose, payload))
            );
            assert_eq!(verify(&key, purpose, &value), Some(payload));
            if split > 0 {
                let (other_purpose, other_payload) = joined.split_at(split - 1);
                let shifted = format!("{other_payload}.{}", value.rsplit('.').next().unwrap_or(""));
                assert_eq!(verify(&key, other_purpose, &shifted), None, "split {split}");
            }
        }
    }

    #[test]
    fn a_signature_is_bound_to_its_key_and_purpose() {
        let key = Key::generate();
        let value = format!(
            "payload.{}",
            URL_SAFE_NO_PAD.encode(signature(&key, PURPOSE, "payload"))
        );
        assert_eq!(verify(&key, PURPOSE, &value), Some("payload"));
        assert_eq!(verify(&key, "another purpose", &value), None);
        assert_eq!(verify(&Key::generate(), PURPOSE, &value), None);
        assert_eq!(verify(&key, PURPOSE, "payload"), None, "no signature");
        assert_eq!(verify(&key, PURPOSE, "payload."), None, "empty signature");
    }
}
