//! Key making and validation (Django's `make_key` and `validate_key`).

use std::sync::Arc;

use crate::backend::KeyLimits;
use crate::error::{Error, KeyProblem, Result};

/// The longest key memcached accepts; Django warns about longer keys on every backend.
pub const MEMCACHED_MAX_KEY_CHARS: usize = 250;

/// A custom key function: `(key, prefix, version) -> made key` (Django's `KEY_FUNCTION`).
pub type KeyFunction = Arc<dyn Fn(&str, &str, i64) -> String + Send + Sync>;

/// Django's default key function: `"{prefix}:{version}:{key}"`.
pub fn default_key_function(key: &str, prefix: &str, version: i64) -> String {
    use std::fmt::Write;
    let mut made = String::with_capacity(prefix.len() + key.len() + 4);
    // Writing into a String cannot fail.
    let _ = write!(made, "{prefix}:{version}:{key}");
    made
}

/// The first portability problem of a made key, by Django's rules (checked in characters, not bytes).
pub fn key_problem(made_key: &str, max_chars: usize) -> Option<KeyProblem> {
    // Byte length bounds character length from above: skip counting for the common short key.
    if made_key.len() > max_chars {
        let len = made_key.chars().count();
        if len > max_chars {
            return Some(KeyProblem::TooLong {
                len,
                max: max_chars,
            });
        }
    }
    if made_key.bytes().any(is_forbidden_byte) {
        return Some(KeyProblem::ForbiddenCharacter);
    }
    None
}

/// Checks a made key: an error where the backend would fail, a warning where only memcached would.
pub(crate) fn validate_key(made_key: &str, limits: KeyLimits) -> Result<()> {
    let reject = |reason| {
        Err(Error::InvalidKey {
            key: made_key.to_owned(),
            reason,
        })
    };
    let warn = |problem: KeyProblem| {
        tracing::warn!(
            key = made_key,
            problem = %problem,
            "cache key will cause errors if used with memcached"
        );
    };
    // Byte length bounds character length from above: the common short key is never counted.
    if made_key.len() > MEMCACHED_MAX_KEY_CHARS {
        let len = made_key.chars().count();
        match limits.max_chars {
            Some(max) if len > max => return reject(KeyProblem::TooLong { len, max }),
            _ if len > MEMCACHED_MAX_KEY_CHARS => warn(KeyProblem::TooLong {
                len,
                max: MEMCACHED_MAX_KEY_CHARS,
            }),
            _ => {}
        }
    } else if let Some(max) = limits.max_chars.filter(|max| made_key.len() > *max) {
        let len = made_key.chars().count();
        if len > max {
            return reject(KeyProblem::TooLong { len, max });
        }
    }
    if made_key.bytes().any(is_forbidden_byte) {
        if limits.rejects_control_characters {
            return reject(KeyProblem::ForbiddenCharacter);
        }
        warn(KeyProblem::ForbiddenCharacter);
    }
    Ok(())
}

/// Space, ASCII control characters and DEL (`[\x00-\x20\x7f]`); bytes of multi-byte UTF-8 characters are all
/// `>= 0x80`, so checking bytes is exact.
fn is_forbidden_byte(byte: u8) -> bool {
    byte <= b' ' || byte == 0x7f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_format_is_prefix_version_key() {
        assert_eq!(default_key_function("answer", "", 1), ":1:answer");
        assert_eq!(default_key_function("answer", "p", 2), "p:2:answer");
        assert_eq!(default_key_function("k", "p", -3), "p:-3:k");
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let wide = "é".repeat(250);
        assert_eq!(key_problem(&wide, 250), None);
        let over = "é".repeat(251);
        assert_eq!(
            key_problem(&over, 250),
            Some(KeyProblem::TooLong { len: 251, max: 250 })
        );
    }

    #[test]
    fn space_control_and_del_are_forbidden_but_unicode_is_fine() {
        for bad in ["a b", "a\nb", "a\0b", "a\x7fb", "a\tb"] {
            assert_eq!(
                key_problem(bad, 250),
                Some(KeyProblem::ForbiddenCharacter),
                "{bad:?}"
            );
        }
        assert_eq!(key_problem("ключ😀", 250), None);
    }

    #[test]
    fn warnings_pass_and_hard_limits_fail() {
        let long = "k".repeat(300);
        assert!(validate_key(&long, KeyLimits::NONE).is_ok());
        assert!(validate_key("a b", KeyLimits::NONE).is_ok());
        let strict = KeyLimits {
            max_chars: Some(250),
            rejects_control_characters: true,
        };
        assert!(matches!(
            validate_key(&long, strict),
            Err(Error::InvalidKey {
                reason: KeyProblem::TooLong { len: 300, max: 250 },
                ..
            })
        ));
        assert!(matches!(
            validate_key("a b", strict),
            Err(Error::InvalidKey {
                reason: KeyProblem::ForbiddenCharacter,
                ..
            })
        ));
        let sql = KeyLimits {
            max_chars: Some(255),
            rejects_control_characters: false,
        };
        assert!(validate_key(&"k".repeat(255), sql).is_ok());
        assert!(validate_key(&"k".repeat(256), sql).is_err());
    }
}
