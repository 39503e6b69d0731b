//! Django's response-header helpers (`django.utils.cache`), over an [`http::HeaderMap`] so they work on any
//! response type: `patch_vary_headers(response.headers_mut(), ["Cookie"])`.
//!
//! They never fail: a header holding bytes that are not UTF-8 is read leniently, and a result a header cannot
//! carry leaves the header as it was.

use std::time::{Duration, SystemTime};

use http::header::{HeaderMap, HeaderName, HeaderValue, CACHE_CONTROL, EXPIRES, VARY};

use crate::directives::{self, CacheDirectives};

pub use crate::directives::get_max_age;

/// Merges `directives` into the `Cache-Control` header (Django's `patch_cache_control`):
///
/// - existing directives are kept in their order, then new ones are appended; a directive present in both
///   takes the new value where it stands;
/// - an existing and a new `max-age` give the smaller of the two;
/// - a new `public` removes `private`, and a new `private` removes `public`;
/// - `no-cache` accumulates its field names, and a bare `no-cache` wins over field-named ones;
/// - names are lower-cased; the result is joined with `", "`.
///
/// ```
/// use std::time::Duration;
/// use http::{HeaderMap, header::CACHE_CONTROL};
/// use tower_cache_page::{patch_cache_control, CacheDirectives};
///
/// let mut headers = HeaderMap::new();
/// headers.insert(CACHE_CONTROL, "private, max-age=600".parse().unwrap());
/// patch_cache_control(&mut headers, &CacheDirectives::new().public().max_age(Duration::from_secs(60)));
/// assert_eq!(headers[CACHE_CONTROL], "max-age=60, public");
/// ```
pub fn patch_cache_control(headers: &mut HeaderMap, directives: &CacheDirectives) {
    let merged = directives::merge(directives::parse(headers), &directives.directives);
    match directives::render(&merged) {
        Some(value) => {
            headers.insert(CACHE_CONTROL, value);
        }
        None if merged.is_empty() => {}
        None => {
            tracing::debug!("patched Cache-Control is not a valid header value; left unchanged")
        }
    }
}

/// Adds `Expires` (only when absent) and `max-age` for `timeout` (Django's `patch_response_headers`).
///
/// The timeout is taken in whole seconds; `Expires` is an HTTP date `timeout` from now.
pub fn patch_response_headers(headers: &mut HeaderMap, timeout: Duration) {
    if !headers.contains_key(EXPIRES) {
        let at = SystemTime::now()
            .checked_add(Duration::from_secs(timeout.as_secs()))
            .unwrap_or_else(SystemTime::now);
        headers.insert(EXPIRES, http_date(at));
    }
    patch_cache_control(
        headers,
        &CacheDirectives::new().max_age(Duration::from_secs(timeout.as_secs())),
    );
}

/// Marks a response as never to be cached (Django's `add_never_cache_headers`): `Expires` now (when absent),
/// `max-age=0`, and `no-cache, no-store, must-revalidate, private`.
pub fn add_never_cache_headers(headers: &mut HeaderMap) {
    patch_response_headers(headers, Duration::ZERO);
    patch_cache_control(
        headers,
        &CacheDirectives::new()
            .no_cache()
            .no_store()
            .must_revalidate()
            .private(),
    );
}

/// Adds `names` to the `Vary` header (Django's `patch_vary_headers`): existing elements keep their order and
/// spelling, missing names are appended in theirs (compared case-insensitively), and if any element is `*`
/// the header becomes `*`.
///
/// ```
/// use http::{HeaderMap, header::VARY};
/// use tower_cache_page::patch_vary_headers;
///
/// let mut headers = HeaderMap::new();
/// headers.insert(VARY, "Accept-Encoding".parse().unwrap());
/// patch_vary_headers(&mut headers, ["Cookie", "accept-encoding"]);
/// assert_eq!(headers[VARY], "Accept-Encoding, Cookie");
/// ```
pub fn patch_vary_headers<I, N>(headers: &mut HeaderMap, names: I)
where
    I: IntoIterator<Item = N>,
    N: AsRef<str>,
{
    let existing = directives::joined(headers, &VARY).unwrap_or_default();
    let mut elements: Vec<String> = directives::split_list(&existing)
        .map(str::to_owned)
        .collect();
    for name in names {
        let name = name.as_ref().trim();
        if !name.is_empty() && !elements.iter().any(|e| e.eq_ignore_ascii_case(name)) {
            elements.push(name.to_owned());
        }
    }
    let value = if elements.iter().any(|e| e == "*") {
        HeaderValue::from_static("*")
    } else if elements.is_empty() {
        return;
    } else {
        match HeaderValue::from_bytes(elements.join(", ").as_bytes()) {
            Ok(value) => value,
            Err(_) => {
                tracing::debug!("patched Vary is not a valid header value; left unchanged");
                return;
            }
        }
    };
    headers.insert(VARY, value);
}

/// Whether the `Vary` header lists `name` (trimmed, case-insensitive; Django's `has_vary_header`).
pub fn has_vary_header(headers: &HeaderMap, name: &str) -> bool {
    vary_elements(headers).any(|element| element.eq_ignore_ascii_case(name.trim()))
}

/// The trimmed, non-empty elements of every `Vary` header, as bytes-lenient strings.
pub(crate) fn vary_elements(headers: &HeaderMap) -> impl Iterator<Item = String> + '_ {
    headers.get_all(VARY).iter().flat_map(|value| {
        String::from_utf8_lossy(value.as_bytes())
            .split(',')
            .map(str::trim)
            .filter(|element| !element.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    })
}

/// The request headers a response varies on, as header names (lower-cased, sorted, deduplicated), or `Err`
/// when it varies on `*`. Elements that are not valid header names are ignored.
pub(crate) fn vary_header_names(headers: &HeaderMap) -> Result<Vec<HeaderName>, VaryStar> {
    let mut names = Vec::new();
    for element in vary_elements(headers) {
        if element == "*" {
            return Err(VaryStar);
        }
        if let Ok(name) = HeaderName::from_bytes(element.as_bytes()) {
            names.push(name);
        }
    }
    names.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
    names.dedup();
    Ok(names)
}

/// The response varies on `*`: it cannot be cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VaryStar;

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) as a header value.
pub(crate) fn http_date(at: SystemTime) -> HeaderValue {
    // `fmt_http_date` renders only ASCII letters, digits, spaces, commas and colons.
    HeaderValue::from_str(&httpdate::fmt_http_date(at))
        .unwrap_or_else(|_| HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"))
}

/// Parses an HTTP date in any of the three formats HTTP allows; `None` when it does not parse.
pub(crate) fn parse_http_date(value: &HeaderValue) -> Option<SystemTime> {
    httpdate::parse_http_date(value.to_str().ok()?.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vary(value: &str, names: &[&str]) -> String {
        let mut headers = HeaderMap::new();
        if !value.is_empty() {
            headers.insert(
                VARY,
                HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")),
            );
        }
        patch_vary_headers(&mut headers, names);
        headers
            .get(VARY)
            .map(|v| v.to_str().unwrap_or("").to_owned())
            .unwrap_or_default()
    }

    #[test]
    fn django_patch_vary_headers_vectors() {
        // tests/cache/tests.py::test_patch_vary_headers: (existing Vary, names added, result)
        let vectors: [(&str, &[&str], &str); 10] = [
            ("", &["Accept-Encoding"], "Accept-Encoding"),
            ("Accept-Encoding", &["accept-encoding"], "Accept-Encoding"),
            ("Accept-Encoding", &["ACCEPT-ENCODING"], "Accept-Encoding"),
            ("Cookie", &["Accept-Encoding"], "Cookie, Accept-Encoding"),
            (
                "Cookie, Accept-Encoding",
                &["Accept-Encoding"],
                "Cookie, Accept-Encoding",
            ),
            (
                "Cookie, Accept-Encoding",
                &["Accept-Encoding", "cookie"],
                "Cookie, Accept-Encoding",
            ),
            (
                "",
                &["Accept-Encoding", "COOKIE"],
                "Accept-Encoding, COOKIE",
            ),
            ("Cookie,     Accept-Encoding", &["*"], "*"),
            ("*", &["Cookie"], "*"),
            ("Cookie", &["*", "Accept-Encoding"], "*"),
        ];
        for (existing, names, expected) in vectors {
            assert_eq!(vary(existing, names), expected);
        }
    }

    #[test]
    fn has_vary_header_is_trimmed_and_case_insensitive() {
        let mut headers = HeaderMap::new();
        headers.insert(VARY, HeaderValue::from_static("Accept-Encoding ,  COOKIE"));
        assert!(has_vary_header(&headers, "cookie"));
        assert!(has_vary_header(&headers, "accept-encoding"));
        assert!(!has_vary_header(&headers, "accept-language"));
    }

    #[test]
    fn vary_star_is_found_with_spaces() {
        for value in [" * ", "Cookie, * , Pony", "*"] {
            let mut headers = HeaderMap::new();
            headers.insert(
                VARY,
                HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")),
            );
            assert_eq!(vary_header_names(&headers), Err(VaryStar), "{value:?}");
        }
    }

    #[test]
    fn never_cache_headers() {
        let mut headers = HeaderMap::new();
        add_never_cache_headers(&mut headers);
        assert_eq!(
            headers[CACHE_CONTROL],
            "max-age=0, no-cache, no-store, must-revalidate, private"
        );
        let expires = parse_http_date(&headers[EXPIRES]);
        assert!(expires.is_some_and(|at| at <= SystemTime::now()));
    }

    #[test]
    fn response_headers_keep_an_existing_expires() {
        let mut headers = HeaderMap::new();
        headers.insert(
            EXPIRES,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        patch_response_headers(&mut headers, Duration::from_secs(30));
        assert_eq!(headers[EXPIRES], "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(headers[CACHE_CONTROL], "max-age=30");
    }
}
