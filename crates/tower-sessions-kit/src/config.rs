//! The layer's settings (Django's `SESSION_*`) and the `Set-Cookie` headers built from them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use cookie::{Cookie, Expiration};
use http::{HeaderValue, Response, StatusCode};
use time::OffsetDateTime;

use crate::error::SessionError;

/// Django's `SESSION_COOKIE_NAME`.
pub const DEFAULT_COOKIE_NAME: &str = "sessionid";

/// Django's `SESSION_COOKIE_AGE`: two weeks.
pub const DEFAULT_COOKIE_AGE: Duration = Duration::from_secs(1_209_600);

/// The `SameSite` attribute of the session cookie (Django's `SESSION_COOKIE_SAMESITE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SameSite {
    /// Sent only with same-site requests.
    Strict,
    /// Sent with same-site requests and top-level cross-site navigations (the default, as in Django).
    #[default]
    Lax,
    /// Sent with every request. Browsers require `Secure` with it, so the cookie gets `Secure` even when
    /// [`SessionLayer::secure`](crate::SessionLayer::secure) is off.
    None,
    /// No `SameSite` attribute at all (Django's `False`): the browser's default applies.
    Omit,
}

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

/// Builds the response sent when a store fails; see [`SessionLayer::error_response`](crate::SessionLayer::error_response).
pub type ErrorResponder = Arc<dyn Fn(&SessionError) -> Response<Body> + Send + Sync>;

/// Every setting of the layer.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) cookie_name: String,
    pub(crate) cookie_age: Duration,
    pub(crate) path: String,
    pub(crate) domain: Option<String>,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    pub(crate) same_site: SameSite,
    pub(crate) save_every_request: bool,
    pub(crate) expire_at_browser_close: bool,
    pub(crate) error_responder: ErrorResponder,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("cookie_name", &self.cookie_name)
            .field("cookie_age", &self.cookie_age)
            .field("path", &self.path)
            .field("domain", &self.domain)
            .field("secure", &self.secure)
            .field("http_only", &self.http_only)
            .field("same_site", &self.same_site)
            .field("save_every_request", &self.save_every_request)
            .field("expire_at_browser_close", &self.expire_at_browser_close)
            .finish_non_exhaustive()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cookie_name: DEFAULT_COOKIE_NAME.to_owned(),
            cookie_age: DEFAULT_COOKIE_AGE,
            path: "/".to_owned(),
            domain: None,
            secure: false,
            http_only: true,
            same_site: SameSite::Lax,
            save_every_request: false,
            expire_at_browser_close: false,
            error_responder: Arc::new(default_error_response),
        }
    }
}

/// The default store-failure response: a bare 500 (the details go to the log, not to the client).
pub(crate) fn default_error_response(_: &SessionError) -> Response<Body> {
    let mut response = Response::new(Body::from("Internal Server Error"));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
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
pub(crate) fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `text` can be a `Path` or `Domain` attribute value (visible ASCII other than `;`).
pub(crate) fn is_attribute_value(text: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
