//! [`InvalidSetting`]: the error of the builder methods that take a value a header could not carry.

/// A layer setting that cannot be used: a builder method was given a value that could not appear in the
/// header it ends up in. Returned by [`CachePageLayer::cache_status`](crate::CachePageLayer::cache_status),
/// [`VaryOnHeadersLayer::new`](crate::VaryOnHeadersLayer::new),
/// [`CacheDirectives::directive`](crate::CacheDirectives::directive) and
/// [`CacheDirectives::no_cache_field`](crate::CacheDirectives::no_cache_field), so the mistake shows when
/// the layer is built rather than as a header silently missing from every response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {setting} {value:?}: {reason}")]
pub struct InvalidSetting {
    setting: &'static str,
    value: String,
    reason: &'static str,
}

impl InvalidSetting {
    pub(crate) fn new(setting: &'static str, value: &str, reason: &'static str) -> Self {
        InvalidSetting {
            setting,
            value: value.to_owned(),
            reason,
        }
    }

    /// Which setting was refused (`"cache status name"`, `"header name"`, `"directive name"`, …).
    pub fn setting(&self) -> &'static str {
        self.setting
    }

    /// The value that was given.
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// Whether `s` is an HTTP token (RFC 9110 §5.6.2): one or more `tchar`s.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `s` is an HTTP quoted-string (RFC 9110 §5.6.4): `"…"` of visible characters, spaces and tabs,
/// with `\` escaping the next one.
pub(crate) fn is_quoted_string(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return false;
    };
    let mut escaped = false;
    for b in inner.bytes() {
        let text = b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80;
        if !text {
            return false;
        }
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            return false;
        }
    }
    !escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_quoted_strings() {
        assert!(is_token("max-age") && is_token("60") && is_token("*"));
        assert!(!is_token("") && !is_token("a b") && !is_token("a,b") && !is_token("a=b"));
        assert!(is_quoted_string("\"Set-Cookie\"") && is_quoted_string("\"a, \\\"b\\\"\""));
        assert!(
            !is_quoted_string("\"a\"b\"") && !is_quoted_string("\"a\\\"") && !is_quoted_string("a")
        );
        assert!(!is_quoted_string("\"a\nb\""));
    }
}
