//! The session cookie: reading it from a request's `Cookie` headers, and the `Set-Cookie` headers that set
//! and delete it, built from the layer's [`Config`]. The name, `Path` and `Domain` are checked when set
//! ([`InvalidSetting`]), so the headers built here are always well formed.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;

use crate::config::{Config, SameSite};
use crate::error::InvalidSetting;

impl SameSite {
    /// The `SameSite` attribute's value; `None` to leave the attribute out.
    fn attribute(self) -> Option<&'static str> {
        match self {
            SameSite::Strict => Some("Strict"),
            SameSite::Lax => Some("Lax"),
            SameSite::None => Some("None"),
            SameSite::Omit => None,
        }
    }
}

impl Config {
    /// `Set-Cookie` for the session `key`: `Max-Age` and `Expires` from `max_age` (none for a
    /// browser-close session), then `Domain`, `Path`, `Secure`, `HttpOnly` and `SameSite` per the settings
    /// (`Secure` always with `SameSite=None`). The attributes come from `tails` when the last cookie built
    /// with it had the same ones.
    pub(crate) fn session_cookie(
        &self,
        tails: &CookieTails,
        key: &str,
        max_age: Option<Duration>,
    ) -> HeaderValue {
        let lifetime = max_age.map(|age| {
            // Clamped to the last instant an HTTP date can state for absurd ages (`Duration::MAX`).
            let expires = SystemTime::now()
                .checked_add(age)
                .map_or_else(last_http_date, |at| at.min(last_http_date()));
            (expires, age.as_secs())
        });
        // Browsers refuse `SameSite=None` without `Secure`: sent with it whatever the `secure` setting.
        let secure = self.secure || self.same_site == SameSite::None;
        // An HTTP date has whole seconds: within one second, the attributes are the same.
        let same = lifetime.map(|(expires, age)| {
            let second = expires
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            (second, age)
        });
        let tail = tails.get_or_make(same, || self.attributes(lifetime, secure));
        self.header(key, &tail)
    }

    /// Django's `delete_cookie`: an empty value, `Max-Age=0`, an `Expires` in 1970, the same `Path`,
    /// `Domain` and `SameSite` as the session cookie (or the browser would keep it), and `Secure` only for
    /// `__Secure-`/`__Host-` names or `SameSite=None`.
    pub(crate) fn deletion_cookie(&self) -> HeaderValue {
        let secure = self.cookie_name.starts_with("__Secure-")
            || self.cookie_name.starts_with("__Host-")
            || self.same_site == SameSite::None;
        self.header("", &self.attributes(Some((UNIX_EPOCH, 0)), secure))
    }

    /// A `Set-Cookie` value: the cookie `value` and its `attributes`.
    fn header(&self, value: &str, attributes: &str) -> HeaderValue {
        let mut out =
            String::with_capacity(self.cookie_name.len() + 1 + value.len() + attributes.len());
        out.push_str(&self.cookie_name);
        out.push('=');
        out.push_str(value);
        out.push_str(attributes);
        // Names, paths and domains are checked when set and keys are cookie-safe, so this always converts;
        // an unusable header would only drop the cookie, never panic.
        HeaderValue::try_from(out).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// The attributes of a `Set-Cookie` (from `; ` on) as Django writes them (Python's
    /// `http.cookies.Morsel`: in alphabetical order, `expires` in lower case), by hand: this runs on every
    /// response that saves, and the `cookie` crate's formatter costs more than the rest of an in-memory save.
    fn attributes(&self, lifetime: Option<(SystemTime, u64)>, secure: bool) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(128);
        if let Some(domain) = &self.domain {
            out.push_str("; Domain=");
            out.push_str(domain);
        }
        if let Some((expires, _)) = lifetime {
            out.push_str("; expires=");
            out.push_str(&httpdate::fmt_http_date(expires));
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        if let Some((_, seconds)) = lifetime {
            // Writing to a `String` cannot fail.
            let _ = write!(out, "; Max-Age={seconds}");
        }
        out.push_str("; Path=");
        out.push_str(&self.path);
        if let Some(same_site) = self.same_site.attribute() {
            out.push_str("; SameSite=");
            out.push_str(same_site);
        }
        if secure {
            out.push_str("; Secure");
        }
        out
    }
}

/// The attributes of the session cookies of one layer's settings, kept per thread for the last expiry
/// second and `Max-Age` (`None` for a browser-close cookie) written. Every session cookie a layer sends
/// within one second has the same attributes, and formatting the date and the age was most of the cost of
/// a `Set-Cookie`, so each thread formats them once per second instead of once per response. Per thread,
/// so that responses on different cores share no memory they write.
///
/// Belongs to one layer's settings: made afresh, with a new identity, whenever they change.
#[derive(Debug)]
pub(crate) struct CookieTails {
    /// Tells these settings' attributes from another layer's in a thread's slot.
    id: u64,
}

/// A thread's last attributes: whose ([`CookieTails::id`]), made for what, and the text.
type Tail = (u64, Option<(u64, u64)>, Arc<str>);

thread_local! {
    static LAST_TAIL: RefCell<Option<Tail>> = const { RefCell::new(None) };
}

impl Default for CookieTails {
    fn default() -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        CookieTails {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }
}

impl Clone for CookieTails {
    /// A new identity: a clone is made for settings about to change.
    fn clone(&self) -> Self {
        CookieTails::default()
    }
}

impl CookieTails {
    /// The attributes made for `same`, kept from this thread's last call if it had the same, else made by
    /// `make`.
    fn get_or_make(&self, same: Option<(u64, u64)>, make: impl FnOnce() -> String) -> Arc<str> {
        LAST_TAIL.with(|last| {
            let Ok(mut last) = last.try_borrow_mut() else {
                return Arc::from(make());
            };
            if let Some((id, made_for, tail)) = &*last {
                if *id == self.id && *made_for == same {
                    return Arc::clone(tail);
                }
            }
            let tail: Arc<str> = Arc::from(make());
            *last = Some((self.id, same, Arc::clone(&tail)));
            tail
        })
    }
}

/// The last instant an HTTP date can state (9999-12-31T23:59:59Z); later ones cannot be formatted.
fn last_http_date() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(253_402_300_799)
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
    use cookie::Cookie;

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
        let value = config.session_cookie(&CookieTails::default(), "k", Some(DEFAULT_COOKIE_AGE));
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

    /// What Django's `response.set_cookie` writes (Python's `Morsel`: alphabetical attributes, lower-case
    /// `expires`), for every attribute at once.
    #[test]
    fn session_cookie_is_written_as_django_writes_it() {
        let config = Config {
            domain: Some("example.com".into()),
            secure: true,
            same_site: SameSite::None,
            ..Config::default()
        };
        let value = config.session_cookie(
            &CookieTails::default(),
            "abc",
            Some(Duration::from_secs(60)),
        );
        let text = value.to_str().expect("ascii");
        let (head, tail) = text.split_once("; expires=").expect("expires");
        assert_eq!(head, "sessionid=abc; Domain=example.com");
        let (date, rest) = tail.split_once("; ").expect("after expires");
        assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
        assert!(date.ends_with(" GMT"), "{date}");
        assert_eq!(rest, "HttpOnly; Max-Age=60; Path=/; SameSite=None; Secure");

        let bare = Config {
            http_only: false,
            same_site: SameSite::Omit,
            ..Config::default()
        };
        assert_eq!(
            bare.session_cookie(&CookieTails::default(), "k", None),
            "sessionid=k; Path=/"
        );
    }

    /// Attributes are reused only for the same settings, second and age, and always read as made afresh.
    #[test]
    fn cookie_attributes_are_reused_only_when_identical() {
        let tails = CookieTails::default();
        let made = std::cell::Cell::new(0);
        let make = |text: &str| {
            made.set(made.get() + 1);
            text.to_owned()
        };
        let first = tails.get_or_make(Some((100, 60)), || make("a"));
        let again = tails.get_or_make(Some((100, 60)), || make("b"));
        assert!(Arc::ptr_eq(&first, &again), "the same second and age");
        assert_eq!(made.get(), 1);
        assert_eq!(&*tails.get_or_make(Some((101, 60)), || make("c")), "c");
        assert_eq!(&*tails.get_or_make(Some((101, 61)), || make("d")), "d");
        assert_eq!(&*tails.get_or_make(None, || make("e")), "e");
        let other_settings = tails.clone();
        assert_eq!(&*other_settings.get_or_make(None, || make("f")), "f");
        assert_eq!(made.get(), 5);

        let config = Config::default();
        let age = Some(Duration::from_secs(60));
        let shared = CookieTails::default();
        for _ in 0..3 {
            let reused = config.session_cookie(&shared, "k", age);
            let fresh = config.session_cookie(&CookieTails::default(), "k", age);
            // The two may straddle a second; their attributes otherwise agree byte for byte.
            let strip = |v: &HeaderValue| {
                let text = v.to_str().unwrap_or_default().to_owned();
                let (head, rest) = text.split_once("; expires=").unwrap_or_default();
                let (_, tail) = rest.split_once(" GMT").unwrap_or_default();
                format!("{head}|{tail}")
            };
            assert_eq!(strip(&reused), strip(&fresh));
        }
    }

    #[test]
    fn absurd_ages_end_in_the_last_http_date() {
        let value =
            Config::default().session_cookie(&CookieTails::default(), "k", Some(Duration::MAX));
        let text = value.to_str().expect("ascii");
        assert!(
            text.contains("expires=Fri, 31 Dec 9999 23:59:59 GMT"),
            "{text}"
        );
        assert!(text.contains(&format!("Max-Age={}", u64::MAX)), "{text}");
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
        assert_eq!(cookie.secure(), None);
        let cross_site = Config {
            same_site: SameSite::None,
            ..Config::default()
        };
        let value = cross_site.deletion_cookie();
        assert!(value
            .to_str()
            .expect("ascii")
            .ends_with("; SameSite=None; Secure"));
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
