//! The session cookie: reading it from a request's `Cookie` headers, and the `Set-Cookie` headers that set
//! and delete it, built from the layer's [`Config`]. The name, `Path` and `Domain` are checked when set
//! ([`InvalidSetting`]), so the headers built here are always well formed.

use std::time::Duration;

use cookie::{Cookie, Expiration};
use http::HeaderValue;
use time::OffsetDateTime;

use crate::config::{Config, SameSite};
use crate::error::InvalidSetting;

impl SameSite {
    fn to_cookie(self) -> Option<cookie::SameSite> {
        match self {
            SameSite::Strict => Some(cookie::SameSite::Strict),
            SameSite::Lax => Some(cookie::SameSite::Lax),
            SameSite::None => Some(cookie::SameSite::None),
            SameSite::Omit => None,
        }
    }
}

impl Config {
    /// `Set-Cookie` for the session `key`: `Max-Age` and `Expires` from `max_age` (none for a
    /// browser-close session), then `Domain`, `Path`, `Secure`, `HttpOnly` and `SameSite` per the settings.
    pub(crate) fn session_cookie(&self, key: &str, max_age: Option<Duration>) -> HeaderValue {
        let mut cookie = Cookie::build((self.cookie_name.as_str(), key))
            .path(self.path.as_str())
            .http_only(self.http_only);
        if self.secure {
            cookie = cookie.secure(true);
        }
        if let Some(same_site) = self.same_site.to_cookie() {
            cookie = cookie.same_site(same_site);
        }
        if let Some(domain) = &self.domain {
            cookie = cookie.domain(domain.as_str());
        }
        if let Some(max_age) = max_age {
            let seconds = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
            // Clamped to the last representable instant for absurd ages (`Duration::MAX`).
            let expires = OffsetDateTime::now_utc()
                .checked_add(time::Duration::seconds(seconds))
                .unwrap_or_else(|| time::PrimitiveDateTime::MAX.assume_utc());
            cookie = cookie
                .max_age(time::Duration::seconds(seconds))
                .expires(Expiration::DateTime(expires));
        }
        header_value(&cookie.build())
    }

    /// Django's `delete_cookie`: an empty value, `Max-Age=0`, an `Expires` in 1970, the same `Path`,
    /// `Domain` and `SameSite` as the session cookie (or the browser would keep it), and `Secure` only for
    /// `__Secure-`/`__Host-` names or `SameSite=None`.
    pub(crate) fn deletion_cookie(&self) -> HeaderValue {
        let mut cookie = Cookie::build((self.cookie_name.as_str(), ""))
            .path(self.path.as_str())
            .max_age(time::Duration::ZERO)
            .expires(Expiration::DateTime(OffsetDateTime::UNIX_EPOCH));
        if let Some(domain) = &self.domain {
            cookie = cookie.domain(domain.as_str());
        }
        if let Some(same_site) = self.same_site.to_cookie() {
            cookie = cookie.same_site(same_site);
        }
        if self.cookie_name.starts_with("__Secure-") || self.cookie_name.starts_with("__Host-") {
            cookie = cookie.secure(true);
        }
        header_value(&cookie.build())
    }
}

fn header_value(cookie: &Cookie<'_>) -> HeaderValue {
    // Names, paths and domains are checked when set and keys are cookie-safe, so this always converts; an
    // unusable header would only drop the cookie, never panic.
    HeaderValue::try_from(cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Whether `name` is a valid cookie name (an RFC 7230 token).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `text` can be a `Path` or `Domain` attribute value (visible ASCII other than `;`).
fn is_attribute_value(text: &str) -> bool {
    text.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b';')
}

/// The value of the cookie `name` in the request's `Cookie` headers, without allocating. `Some("")` for a
/// cookie present with an empty value; surrounding double quotes are removed.
pub(crate) fn find_cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    // Bytes, not `to_str`: one pass, and a cookie of another application with bytes outside visible
    // ASCII does not hide ours. Only the value found must be text.
    // `memchr` finds the delimiters a word at a time: this runs on every request.
    for header in headers.get_all(http::header::COOKIE) {
        let mut rest = header.as_bytes();
        // One scan per pair: to the `=` (or `;`), then to the `;` ending the value.
        while let Some(name_end) = memchr::memchr2(b'=', b';', rest) {
            let after_name = &rest[name_end + 1..];
            if rest[name_end] == b';' {
                // A pair without `=`: no value to look at.
                rest = after_name;
                continue;
            }
            let value_end = memchr::memchr(b';', after_name).unwrap_or(after_name.len());
            if rest[..name_end].trim_ascii() == name.as_bytes() {
                if let Some(value) = cookie_value(&after_name[..value_end]) {
                    return Some(value);
                }
            }
            rest = after_name.get(value_end + 1..).unwrap_or_default();
        }
    }
    None
}

/// A cookie's value as text, surrounding whitespace and double quotes removed; `None` when not UTF-8.
fn cookie_value(raw: &[u8]) -> Option<&str> {
    let value = raw.trim_ascii();
    let value = value
        .strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
        .unwrap_or(value);
    std::str::from_utf8(value).ok()
}

/// `name` if it can be the cookie's name (an RFC 7230 token).
pub(crate) fn checked_name(name: String) -> Result<String, InvalidSetting> {
    if is_token(&name) {
        Ok(name)
    } else {
        Err(InvalidSetting::CookieName(name))
    }
}

/// `value` if it can be a `Path` or `Domain` attribute: non-empty, visible ASCII other than `;`.
/// `invalid` names the setting in the error.
pub(crate) fn checked_attribute(
    value: String,
    invalid: fn(String) -> InvalidSetting,
) -> Result<String, InvalidSetting> {
    if !value.is_empty() && is_attribute_value(&value) {
        Ok(value)
    } else {
        Err(invalid(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_COOKIE_AGE;

    #[test]
    fn finds_the_cookie_among_others() {
        let mut headers = http::HeaderMap::new();
        headers.append(
            http::header::COOKIE,
            HeaderValue::from_static("a=1; sessionid=abc ; b=2"),
        );
        assert_eq!(find_cookie(&headers, "sessionid"), Some("abc"));
        assert_eq!(find_cookie(&headers, "session"), None);
        headers.insert(
            http::header::COOKIE,
            HeaderValue::from_static("sessionid=\"q\""),
        );
        assert_eq!(find_cookie(&headers, "sessionid"), Some("q"));
        headers.insert(http::header::COOKIE, HeaderValue::from_static("x=1"));
        headers.append(http::header::COOKIE, HeaderValue::from_static("sessionid="));
        assert_eq!(find_cookie(&headers, "sessionid"), Some(""));
        headers.insert(
            http::header::COOKIE,
            HeaderValue::from_bytes(b"other=\xe9t\xe9; sessionid=k").expect("opaque header"),
        );
        assert_eq!(find_cookie(&headers, "sessionid"), Some("k"));
        headers.insert(
            http::header::COOKIE,
            HeaderValue::from_bytes(b"sessionid=\xff; sessionid=second").expect("opaque header"),
        );
        assert_eq!(find_cookie(&headers, "sessionid"), Some("second"));
        headers.insert(
            http::header::COOKIE,
            HeaderValue::from_static("flag; x=sessionid=no;sessionid ;sessionid=yes;"),
        );
        assert_eq!(find_cookie(&headers, "sessionid"), Some("yes"));
        headers.insert(http::header::COOKIE, HeaderValue::from_static("sessionid"));
        assert_eq!(find_cookie(&headers, "sessionid"), None);
    }

    #[test]
    fn default_session_cookie_is_djangos() {
        let config = Config::default();
        let value = config.session_cookie("k", Some(DEFAULT_COOKIE_AGE));
        let cookie = Cookie::parse(value.to_str().expect("ascii")).expect("parses");
        assert_eq!(cookie.name(), "sessionid");
        assert_eq!(cookie.value(), "k");
        assert_eq!(cookie.path(), Some("/"));
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.secure(), None);
        assert_eq!(cookie.same_site(), Some(cookie::SameSite::Lax));
        assert_eq!(cookie.max_age(), Some(time::Duration::seconds(1_209_600)));
        assert!(cookie.expires_datetime().is_some());
    }

    #[test]
    fn deletion_cookie_matches_path_domain_and_samesite() {
        let config = Config {
            path: "/app".into(),
            domain: Some("example.com".into()),
            same_site: SameSite::Strict,
            ..Config::default()
        };
        let value = config.deletion_cookie();
        let cookie = Cookie::parse(value.to_str().expect("ascii")).expect("parses");
        assert_eq!(cookie.value(), "");
        assert_eq!(cookie.max_age(), Some(time::Duration::ZERO));
        assert_eq!(cookie.path(), Some("/app"));
        assert_eq!(cookie.domain(), Some("example.com"));
        assert_eq!(cookie.same_site(), Some(cookie::SameSite::Strict));
        assert_eq!(
            cookie.expires_datetime().map(|d| d.unix_timestamp()),
            Some(0)
        );
    }

    #[test]
    fn names_and_attributes_are_checked() {
        assert!(is_token("sessionid"));
        assert!(is_token("__Host-sid"));
        assert!(!is_token("a b"));
        assert!(!is_token("a;b"));
        assert!(!is_token(""));
        assert!(is_attribute_value("/a/b"));
        assert!(!is_attribute_value("/a;b"));
        assert_eq!(checked_name("sid".into()), Ok("sid".to_owned()));
        assert_eq!(
            checked_name("a b".into()),
            Err(InvalidSetting::CookieName("a b".into()))
        );
        assert_eq!(
            checked_attribute(String::new(), InvalidSetting::CookiePath),
            Err(InvalidSetting::CookiePath(String::new()))
        );
    }
}
