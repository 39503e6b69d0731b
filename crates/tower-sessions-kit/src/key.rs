//! Session keys: made from the OS CSPRNG, and checked before a cookie's value is looked up anywhere.
//!
//! A key is a bearer credential: whoever presents it is the session's owner. So keys are 32 characters
//! from `[a-z0-9]` (about 165 bits) drawn from the operating system's CSPRNG, as Django's are, and a key is
//! only ever *made* here — a value chosen by a client is looked up, never stored under (no session
//! fixation).

use std::fmt;

const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Bytes at or above this are rejected so that `byte % 36` is uniform (252 = 7 × 36).
const UNBIASED_LIMIT: u8 = 252;

/// A session key: the value of the session cookie that names a session.
///
/// For the server-side stores this is a 32-character `[a-z0-9]` key; for
/// [`SignedCookieStore`](crate::store::SignedCookieStore) it is the signed data itself. `Debug` shows only
/// the first characters, because a key in a log is a session anyone reading the log can take over.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionKey(Box<str>);

impl SessionKey {
    /// The length of the keys this crate makes (Django's).
    pub const LENGTH: usize = 32;

    /// The shortest key a cookie may carry (Django's rule: shorter keys are treated as no key at all).
    pub const MIN_LENGTH: usize = 8;

    /// The longest key the default rule accepts (the width of Django's `session_key varchar(40)` column).
    pub const MAX_LENGTH: usize = 40;

    /// The longest cookie value any store may use as a key (browsers keep about 4 KB per cookie).
    pub const MAX_COOKIE_VALUE_LENGTH: usize = 4096;

    /// The default key rule: 8 to 40 characters, all in `[a-z0-9]` (what Django's file backend requires,
    /// and what every key this crate makes satisfies). The rule is also what keeps a key safe to use as a
    /// file name.
    pub fn is_well_formed(candidate: &str) -> bool {
        // `fold` with `&`, not `all`: no early exit, so the check runs as a few vector instructions (it
        // is on every request's path).
        (Self::MIN_LENGTH..=Self::MAX_LENGTH).contains(&candidate.len())
            && candidate.bytes().fold(true, |ok, b| {
                ok & (b.is_ascii_lowercase() | b.is_ascii_digit())
            })
    }

    /// Whether `value` can be a cookie value as it is (RFC 6265 `cookie-octet`s: visible ASCII except
    /// `"`, `,`, `;` and `\`), non-empty and at most
    /// [`MAX_COOKIE_VALUE_LENGTH`](Self::MAX_COOKIE_VALUE_LENGTH) bytes.
    pub fn is_cookie_safe(value: &str) -> bool {
        !value.is_empty()
            && value.len() <= Self::MAX_COOKIE_VALUE_LENGTH
            && value.bytes().fold(true, |ok, b| {
                ok & (b'!'..=b'~').contains(&b) & !matches!(b, b'"' | b',' | b';' | b'\\')
            })
    }

    /// A new random key: 32 characters from `[a-z0-9]`, from the OS CSPRNG.
    ///
    /// Fails only when the operating system cannot provide random bytes, which stores report as a store
    /// error rather than fall back to a weaker generator.
    pub fn generate() -> Result<SessionKey, getrandom::Error> {
        let mut key = String::with_capacity(Self::LENGTH);
        let mut buffer = [0_u8; 48];
        while key.len() < Self::LENGTH {
            getrandom::fill(&mut buffer)?;
            for &byte in &buffer {
                if byte < UNBIASED_LIMIT && key.len() < Self::LENGTH {
                    key.push(char::from(ALPHABET[usize::from(byte % 36)]));
                }
            }
        }
        Ok(SessionKey(key.into_boxed_str()))
    }

    /// `candidate` as a key if it passes the default rule ([`is_well_formed`](Self::is_well_formed)):
    /// Django's minimum of 8 characters, at most 40, only `[a-z0-9]`. Anything else is not looked up at
    /// all.
    pub fn parse(candidate: &str) -> Option<SessionKey> {
        Self::is_well_formed(candidate).then(|| SessionKey(candidate.into()))
    }

    /// Any cookie-safe value as a key, for stores whose keys are not random identifiers (the signed-cookie
    /// store's key is its signed data). `None` when the value could not be sent back in a `Set-Cookie`
    /// header unchanged (see [`is_cookie_safe`](Self::is_cookie_safe)).
    pub fn from_cookie_value(value: &str) -> Option<SessionKey> {
        Self::is_cookie_safe(value).then(|| SessionKey(value.into()))
    }

    /// The key as it goes into the cookie and the store.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.0.chars().take(4).collect();
        write!(f, "SessionKey({shown}…)")
    }
}

impl AsRef<str> for SessionKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn generated_keys_are_32_lowercase_alphanumerics_and_distinct() {
        let mut seen = HashSet::new();
        for _ in 0..1000 {
            let key = SessionKey::generate().expect("OS RNG");
            assert_eq!(key.as_str().len(), SessionKey::LENGTH);
            assert!(SessionKey::is_well_formed(key.as_str()), "{}", key.as_str());
            assert!(seen.insert(key));
        }
    }

    #[test]
    fn generated_keys_use_the_whole_alphabet() {
        let mut chars = HashSet::new();
        for _ in 0..200 {
            chars.extend(SessionKey::generate().expect("OS RNG").as_str().chars());
        }
        assert_eq!(chars.len(), 36);
    }

    #[test]
    fn the_default_rule_is_djangos_minimum_and_the_file_safe_alphabet() {
        assert!(SessionKey::parse("abcdefgh").is_some());
        assert!(SessionKey::parse("abcdefg").is_none(), "shorter than 8");
        assert!(SessionKey::parse("").is_none());
        assert!(SessionKey::parse(&"a".repeat(41)).is_none());
        assert!(SessionKey::parse("../../etc/passwd").is_none());
        assert!(SessionKey::parse("ABCDEFGHIJ").is_none());
        assert!(SessionKey::parse("abcdefgh\\x").is_none());
    }

    #[test]
    fn cookie_safety() {
        assert!(SessionKey::is_cookie_safe("abc+/=-_.~!"));
        assert!(!SessionKey::is_cookie_safe("a;b"));
        assert!(!SessionKey::is_cookie_safe("a b"));
        assert!(!SessionKey::is_cookie_safe("a\"b"));
        assert!(!SessionKey::is_cookie_safe(""));
        assert!(!SessionKey::is_cookie_safe(
            &"a".repeat(SessionKey::MAX_COOKIE_VALUE_LENGTH + 1)
        ));
    }

    #[test]
    fn debug_does_not_leak_the_key() {
        let key = SessionKey::generate().expect("OS RNG");
        let shown = format!("{key:?}");
        assert!(!shown.contains(key.as_str()));
    }
}
