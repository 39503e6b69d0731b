//! Cache keys for pages, exactly as Django makes them (`django.utils.cache._generate_cache_header_key`,
//! `_generate_cache_key`, `learn_cache_key`, `_i18n_cache_key_suffix`, as of Django 5.2).
//!
//! - **URL**: `request.build_absolute_uri()` as Django computes it for the request (see `django_url.rs`):
//!   `scheme://host/path[?query]`, the scheme the request URI's (HTTP/2) or `http`, the host the `Host`
//!   header as sent (else the URI's authority), the path percent-decoded and re-escaped, `?query` only
//!   when the query is non-empty. It is hashed with MD5.
//! - **Header-list key**: `views.decorators.cache.cache_header.{prefix}.{md5(url)}{suffix}`: where the list
//!   of request headers the URL's responses vary on is learnt.
//! - **Page key**: `views.decorators.cache.cache_page.{prefix}.{METHOD}.{md5(url)}.{md5(values)}{suffix}`.
//!   The learnt list holds the `Vary` names in the order of Django's sorted `HTTP_…` names (upper-cased,
//!   `-` as `_`), `Accept-Language` left out when the suffix names a language (Django's `USE_I18N`); the
//!   values are hashed as Django reads them from WSGI's `META`: for each name, the request's value
//!   (repeated lines joined with `,`, each byte taken as a Latin-1 character and encoded as UTF-8), or
//!   the marker `-,` when the header is absent. `Content-Type` and `Content-Length` are never `HTTP_…`
//!   names in `META`, so Django always hashes them as absent; so do we.
//! - **Suffix**: empty, or `.{LANGUAGE_CODE}` and/or `.{TIME_ZONE}` as Django appends them with `USE_I18N`
//!   and `USE_TZ` ([`CachePageLayer::django_key_suffix`](crate::CachePageLayer::django_key_suffix)).
//!
//! The page key no longer changes when a URL is invalidated: the generation that makes old variants
//! unreachable lives in the stored entries (see `entry.rs` and `invalidate.rs`).
//!
//! These keys then go through the [`Cache`]'s own key function (its prefix and version) by way of
//! [`Keys`], so the backend sees exactly what `Cache::make_key` gives, as Django's `cache.set` would.

use cache_core::{Cache, KeyMaker};
use http::header::{
    HeaderMap, HeaderName, ACCEPT_LANGUAGE, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST,
};
use http::{Method, Uri};
use md5::{Digest, Md5};

use super::django_url;
use crate::headers::vary_elements;

/// The hex MD5 of nothing: the variant digest of a URL whose responses vary on no header.
const EMPTY_DIGEST: &str = "d41d8cd98f00b204e9800998ecf8427e";

/// A 128-bit digest rendered as 32 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Hex([u8; 32]);

impl Hex {
    fn of(digest: &[u8]) -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b'0'; 32];
        for (i, byte) in digest.iter().take(16).enumerate() {
            out[2 * i] = DIGITS[usize::from(byte >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(byte & 0x0f)];
        }
        Hex(out)
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written.
        std::str::from_utf8(&self.0).unwrap_or(EMPTY_DIGEST)
    }
}

impl std::fmt::Debug for Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The digest of a request's absolute URL as Django builds it (see the module docs).
pub(crate) fn request_url(uri: &Uri, headers: &HeaderMap) -> Hex {
    let (scheme, host) = scheme_and_host(uri, headers);
    url_digest(scheme, host, uri.path(), uri.query())
}

/// The scheme (the URI's, if any) and host (the `Host` header, else the URI's authority) of a request.
fn scheme_and_host<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> (Option<&'a str>, &'a [u8]) {
    let host = match headers.get(HOST) {
        Some(host) => host.as_bytes(),
        None => uri.authority().map_or(&b""[..], |a| a.as_str().as_bytes()),
    };
    (uri.scheme_str(), host)
}

/// The request's URL as it arrived (`scheme://host/path[?query]`, nothing re-encoded): the memo's key.
/// Requests with the same raw URL have the same Django URL, so the memo can skip building that one.
#[inline]
pub(crate) fn request_url_buf(uri: &Uri, headers: &HeaderMap) -> UrlBuf {
    let (scheme, host) = scheme_and_host(uri, headers);
    UrlBuf::new(scheme, host, uri.path(), uri.query())
}

/// Raw URLs up to this many bytes are built on the stack.
const INLINE_URL: usize = 200;

/// A raw URL, on the stack when short.
pub(crate) enum UrlBuf {
    Inline { bytes: [u8; INLINE_URL], len: usize },
    Heap(Vec<u8>),
}

impl UrlBuf {
    #[inline]
    fn new(scheme: Option<&str>, host: &[u8], path: &str, query: Option<&str>) -> Self {
        let scheme = scheme.unwrap_or("http").as_bytes();
        let path = if path.is_empty() { "/" } else { path }.as_bytes();
        let query = query.filter(|q| !q.is_empty()).map(str::as_bytes);
        let parts: [&[u8]; 6] = [
            scheme,
            b"://",
            host,
            path,
            if query.is_some() { b"?" } else { b"" },
            query.unwrap_or_default(),
        ];
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len <= INLINE_URL {
            let mut bytes = [0u8; INLINE_URL];
            let mut at = 0;
            for part in parts {
                bytes[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
            UrlBuf::Inline { bytes, len }
        } else {
            UrlBuf::Heap(parts.concat())
        }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            UrlBuf::Inline { bytes, len } => &bytes[..*len],
            UrlBuf::Heap(url) => url,
        }
    }

    pub(crate) fn into_vec(self) -> Vec<u8> {
        match self {
            UrlBuf::Inline { bytes, len } => bytes[..len].to_vec(),
            UrlBuf::Heap(url) => url,
        }
    }
}

/// The digest of Django's absolute URL given in parts; `scheme` defaults to `http`.
pub(crate) fn url_digest(
    scheme: Option<&str>,
    host: &[u8],
    path: &str,
    query: Option<&str>,
) -> Hex {
    digest(&django_url::absolute_url(scheme, host, path, query))
}

/// The hex MD5 of some bytes.
pub(crate) fn digest(bytes: &[u8]) -> Hex {
    Hex::of(&Md5::digest(bytes))
}

/// What Django hashes for a header absent from the request.
const ABSENT: &[u8] = b"-,";

/// How the values of the headers a page varies on are hashed into its key: Django 5.2's way, or the way
/// of Django's main branch (the next feature release), which writes each present value as a netstring
/// so that no two lists of values hash the same input. Choose the one of the Django release that shares
/// the cache ([`CachePageLayer::django_header_hashing`](crate::CachePageLayer::django_header_hashing)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderHashing {
    /// Django 5.2 (the default): each present value as it is, one after the other; `-,` for an absent
    /// header.
    #[default]
    Django52,
    /// Django's main branch (merged June 2026, django/django#21516): each present value as the netstring
    /// `<length>:<value>,` (the length of its UTF-8 bytes); `-,` for an absent header.
    Netstring,
}

/// How a layer turns the values of the headers a page varies on into its key.
#[derive(Debug, Clone, Default)]
pub(crate) struct VariantRules {
    pub(crate) hashing: HeaderHashing,
    /// When set, a `Cookie` header counts only with these cookies (in this order), not whole
    /// ([`CachePageLayer::key_cookies`](crate::CachePageLayer::key_cookies)).
    pub(crate) cookies: Option<std::sync::Arc<[String]>>,
}

/// The digest of the request's values of the learnt header list, as Django's `_generate_cache_key` hashes
/// them (see the module docs), under `rules`.
pub(crate) fn variant(names: &[HeaderName], headers: &HeaderMap, rules: &VariantRules) -> Hex {
    if names.is_empty() {
        let mut out = [0u8; 32];
        out.copy_from_slice(EMPTY_DIGEST.as_bytes());
        return Hex(out);
    }
    let mut md5 = Md5::new();
    for name in names {
        // Django looks up `HTTP_CONTENT_TYPE`, but WSGI files these two without the `HTTP_`.
        let unprefixed = name == CONTENT_TYPE || name == CONTENT_LENGTH;
        if unprefixed || !headers.contains_key(name) {
            md5.update(ABSENT);
            continue;
        }
        if let (true, Some(keyed)) = (name == COOKIE, &rules.cookies) {
            match named_cookies(headers, keyed) {
                Some(value) => hash_value(&mut md5, rules.hashing, &[value.as_bytes()]),
                None => md5.update(ABSENT),
            }
            continue;
        }
        let values: Vec<&[u8]> = headers.get_all(name).iter().map(|v| v.as_bytes()).collect();
        hash_value(&mut md5, rules.hashing, &values);
    }
    Hex::of(&md5.finalize())
}

/// Hashes one header's value: its lines joined with `,`, as Django reads them from WSGI, framed as
/// `hashing` says.
fn hash_value(md5: &mut Md5, hashing: HeaderHashing, lines: &[&[u8]]) {
    if hashing == HeaderHashing::Netstring {
        let length: usize = lines
            .iter()
            .enumerate()
            .map(|(i, line)| usize::from(i > 0) + latin1_as_utf8_len(line))
            .sum();
        md5.update(format!("{length}:").as_bytes());
    }
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            md5.update(b",");
        }
        update_latin1_as_utf8(md5, line);
    }
    if hashing == HeaderHashing::Netstring {
        md5.update(b",");
    }
}

/// The cookies named in `keyed` among the request's `Cookie` headers, as `name=value` pairs joined with
/// `; ` in the order of `keyed` (each occurrence, in the request's order); `None` when the request has none
/// of them, so a visitor with only other cookies shares the pages of a visitor with none.
fn named_cookies(headers: &HeaderMap, keyed: &[String]) -> Option<String> {
    let mut out = String::new();
    for wanted in keyed {
        for line in headers.get_all(COOKIE) {
            let Ok(line) = line.to_str() else {
                continue;
            };
            for pair in line.split(';') {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                if name.trim() == wanted {
                    if !out.is_empty() {
                        out.push_str("; ");
                    }
                    out.push_str(wanted);
                    out.push('=');
                    out.push_str(value.trim());
                }
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The length of `bytes` read as Latin-1 and encoded as UTF-8: two bytes for each non-ASCII one.
fn latin1_as_utf8_len(bytes: &[u8]) -> usize {
    bytes.len() + bytes.iter().filter(|b| !b.is_ascii()).count()
}

/// Hashes `bytes` read as Latin-1 and encoded as UTF-8 (Python's `value.encode()` of a WSGI string),
/// without allocating: ASCII runs are hashed as they are.
fn update_latin1_as_utf8(md5: &mut Md5, bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        let ascii = rest
            .iter()
            .position(|b| !b.is_ascii())
            .unwrap_or(rest.len());
        md5.update(&rest[..ascii]);
        if let Some(&byte) = rest.get(ascii) {
            md5.update([0xc0 | (byte >> 6), 0x80 | (byte & 0x3f)]);
            rest = &rest[ascii + 1..];
        } else {
            rest = &[];
        }
    }
}

/// Django's `META` name of a request header (`HTTP_` left out): upper-cased, `-` as `_`, one byte at a
/// time.
fn meta_name(name: &HeaderName) -> impl Iterator<Item = u8> + '_ {
    name.as_str().bytes().map(|b| {
        if b == b'-' {
            b'_'
        } else {
            b.to_ascii_uppercase()
        }
    })
}

/// The header list Django's `learn_cache_key` learns from a response's `Vary`: each element as a header
/// name (`_` read as `-`, which is the same `META` name), `Accept-Language` left out when
/// `drop_accept_language` (Django's `USE_I18N`), sorted as Django sorts the `HTTP_…` names, duplicates
/// kept. `Vary: *` is refused before a response gets here; elements that are not header names are left
/// out.
pub(crate) fn learn_header_list(
    response: &HeaderMap,
    drop_accept_language: bool,
) -> Vec<HeaderName> {
    let mut names: Vec<HeaderName> = vary_elements(response)
        .filter_map(|element| HeaderName::from_bytes(element.replace('_', "-").as_bytes()).ok())
        .filter(|name| !(drop_accept_language && name == ACCEPT_LANGUAGE))
        .collect();
    names.sort_by(|a, b| meta_name(a).cmp(meta_name(b)));
    names
}

/// Makes the keys the backend sees, through the cache's own key lane ([`cache_core::RawCache::key_maker`]):
/// one maker per kind of name, under `views.decorators.cache.cache_header.{prefix}.` or
/// `views.decorators.cache.cache_page.{prefix}.`, so the made key is exactly what [`Cache::make_key`] gives
/// for the whole name, and is validated like every other.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    header: KeyMaker,
    page: KeyMaker,
    /// Tags' generations: [`cache_core::tags::tag_name`], shared with the fragment cache (not per layer).
    tag: KeyMaker,
    /// Leases of flights across processes: `tower_cache_page.lease.{prefix}.{md5 of the flight}`.
    lease: KeyMaker,
    /// Django's `_i18n_cache_key_suffix`: empty, or `.{language}` and/or `.{time zone}`.
    suffix: String,
}

impl Keys {
    /// The makers for a layer with key prefix `prefix` and key suffix `suffix` on `cache`.
    pub(crate) fn new(cache: &Cache, prefix: &str, suffix: &str) -> Self {
        let raw = cache.raw();
        Keys {
            header: raw.key_maker(&format!("views.decorators.cache.cache_header.{prefix}.")),
            page: raw.key_maker(&format!("views.decorators.cache.cache_page.{prefix}.")),
            tag: raw.key_maker(cache_core::tags::TAG_NAME_PREFIX),
            lease: raw.key_maker(&format!("tower_cache_page.lease.{prefix}.")),
            suffix: suffix.to_owned(),
        }
    }

    /// The made key of the learnt header list of a URL.
    pub(crate) fn header_list(&self, url: &Hex) -> cache_core::Result<String> {
        self.make(&self.header, &[url.as_str().as_bytes()])
    }

    /// The made key of a tag's generation: [`cache_core::tags::tag_name`] through the cache's key function.
    pub(crate) fn tag(&self, tag: &str) -> cache_core::Result<String> {
        self.tag.make(&cache_core::tags::tag_digest(tag))
    }

    /// The made key of a flight's lease across processes.
    pub(crate) fn lease(&self, flight: &str) -> cache_core::Result<String> {
        self.lease.make(digest(flight.as_bytes()).as_str())
    }

    /// The made key of one stored page: `{METHOD}.{url}.{variant}{suffix}` under the page prefix.
    pub(crate) fn page(
        &self,
        method: &Method,
        url: &Hex,
        variant: &Hex,
    ) -> cache_core::Result<String> {
        let parts: [&[u8]; 5] = [
            method.as_str().as_bytes(),
            b".",
            url.as_str().as_bytes(),
            b".",
            variant.as_str().as_bytes(),
        ];
        self.make(&self.page, &parts)
    }

    /// Makes the key of `parts` and the suffix, the name assembled on the stack when it fits, so the
    /// made key is the only allocation.
    fn make(&self, maker: &KeyMaker, parts: &[&[u8]]) -> cache_core::Result<String> {
        let suffix = self.suffix.as_bytes();
        let len: usize = parts.iter().map(|p| p.len()).sum::<usize>() + suffix.len();
        let mut name = [0u8; NAME];
        if len <= NAME {
            let mut at = 0;
            for part in parts.iter().copied().chain([suffix]) {
                name[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
            // Every part is ASCII (a method token, hex digits, dots, a validated suffix).
            if let Ok(name) = std::str::from_utf8(&name[..len]) {
                return maker.make(name);
            }
        }
        let mut owned = parts.concat();
        owned.extend_from_slice(suffix);
        maker.make(&String::from_utf8_lossy(&owned))
    }
}

/// Names up to this long are assembled on the stack: a page name is at most 4 + 1 + 32 + 1 + 32 bytes
/// for GET and HEAD (the only methods stored), plus the suffix.
const NAME: usize = 160;

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn url(uri: &str, host: Option<&str>) -> Hex {
        let uri: Uri = uri.parse().unwrap_or_default();
        let mut headers = HeaderMap::new();
        if let Some(host) = host {
            headers.insert(
                HOST,
                HeaderValue::from_str(host).unwrap_or(HeaderValue::from_static("")),
            );
        }
        request_url(&uri, &headers)
    }

    #[test]
    fn url_digest_is_django_md5_of_the_absolute_uri() {
        // Django hashes "http://testserver/cache/test/" for that request.
        assert_eq!(
            url("/cache/test/", Some("testserver")).as_str(),
            "58a0a05c8a5620f813686ff969c26853"
        );
    }

    #[test]
    fn host_and_query_are_in_the_url() {
        let base = url("/p?a=1", Some("example.com"));
        assert_ne!(base, url("/p?a=2", Some("example.com")));
        assert_ne!(base, url("/p?a=1", Some("other.example")));
        assert_ne!(base, url("/p", Some("example.com")));
        assert_ne!(
            base,
            url("/p?a=1", Some("EXAMPLE.com")),
            "Django hashes the host as sent"
        );
        assert_eq!(
            url("/p?", Some("h")),
            url("/p", Some("h")),
            "an empty query is no query"
        );
        assert_eq!(url("http://h/p", None), url("/p", Some("h")));
        assert_ne!(url("https://h/p", None), url("/p", Some("h")));
        assert_eq!(
            url("/%41", Some("h")),
            url("/A", Some("h")),
            "the path is decoded"
        );
    }

    #[test]
    fn raw_urls_are_built_on_the_heap_alike() {
        let headers = HeaderMap::new();
        let short: Uri = "http://H/p?q".parse().unwrap_or_default();
        assert_eq!(
            request_url_buf(&short, &headers).as_slice(),
            b"http://H/p?q"
        );
        let long_path = format!("/{}", "x".repeat(INLINE_URL));
        let long: Uri = format!("https://Example.COM{long_path}")
            .parse()
            .unwrap_or_default();
        assert_eq!(
            request_url_buf(&long, &headers).into_vec(),
            format!("https://Example.COM{long_path}").into_bytes()
        );
    }

    fn values(names: &[&'static str], headers: &[(&'static str, &'static [u8])]) -> Hex {
        let names: Vec<HeaderName> = names.iter().map(|n| HeaderName::from_static(n)).collect();
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                *name,
                HeaderValue::from_bytes(value).unwrap_or(HeaderValue::from_static("")),
            );
        }
        variant(&names, &map, &VariantRules::default())
    }

    #[test]
    fn keyed_cookies_count_only_the_named_ones_in_their_order() {
        let mut map = HeaderMap::new();
        map.append("cookie", HeaderValue::from_static("_ga=1; sessionid=abc"));
        map.append("cookie", HeaderValue::from_static(" lang=fr ;theme=dark"));
        let keyed = |names: &[&str]| {
            let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
            named_cookies(&map, &names)
        };
        assert_eq!(keyed(&["sessionid"]).as_deref(), Some("sessionid=abc"));
        assert_eq!(
            keyed(&["lang", "sessionid"]).as_deref(),
            Some("lang=fr; sessionid=abc")
        );
        assert_eq!(keyed(&["csrftoken"]), None);
        // Hashed as the `Cookie` header's value; none of them present hashes as an absent header.
        let rules = VariantRules {
            hashing: HeaderHashing::Django52,
            cookies: Some(vec!["sessionid".to_owned()].into()),
        };
        let cookie = [HeaderName::from_static("cookie")];
        assert_eq!(variant(&cookie, &map, &rules), digest(b"sessionid=abc"));
        let mut others = HeaderMap::new();
        others.insert("cookie", HeaderValue::from_static("_ga=2"));
        assert_eq!(variant(&cookie, &others, &rules), digest(b"-,"));
        assert_eq!(
            variant(&cookie, &others, &rules),
            variant(&cookie, &HeaderMap::new(), &rules)
        );
    }

    #[test]
    fn netstring_hashing_frames_each_present_value() {
        let netstring = VariantRules {
            hashing: HeaderHashing::Netstring,
            cookies: None,
        };
        let names: Vec<HeaderName> = ["accept", "cookie", "x-a"]
            .iter()
            .map(|n| HeaderName::from_static(n))
            .collect();
        let mut map = HeaderMap::new();
        map.append("accept", HeaderValue::from_static("a"));
        map.append("accept", HeaderValue::from_static("bc"));
        map.append(
            "x-a",
            HeaderValue::from_bytes(b"caf\xe9").unwrap_or(HeaderValue::from_static("")),
        );
        // b"%d:%s," % (len(data), data) per present header, b"-," per absent one.
        assert_eq!(
            variant(&names, &map, &netstring),
            digest("4:a,bc,-,5:café,".as_bytes())
        );
        // An empty value and an absent header no longer hash alike, nor do ["ab", ""] and ["a", "b"].
        let two: Vec<HeaderName> = ["x-a", "x-b"]
            .iter()
            .map(|n| HeaderName::from_static(n))
            .collect();
        let pair = |a: &'static str, b: &'static str| {
            let mut map = HeaderMap::new();
            map.insert("x-a", HeaderValue::from_static(a));
            map.insert("x-b", HeaderValue::from_static(b));
            variant(&two, &map, &netstring)
        };
        assert_ne!(pair("ab", ""), pair("a", "b"));
        assert_eq!(
            variant(&two, &HeaderMap::new(), &netstring),
            digest(b"-,-,")
        );
    }

    #[test]
    fn values_are_hashed_as_django_reads_them_from_wsgi() {
        let md5 = |bytes: &[u8]| digest(bytes);
        assert_eq!(values(&[], &[]).as_str(), EMPTY_DIGEST);
        assert_eq!(values(&["accept"], &[]), md5(b"-,"));
        assert_eq!(values(&["accept"], &[("accept", b"")]), md5(b""));
        assert_eq!(
            values(&["accept"], &[("accept", b"a"), ("accept", b"b")]),
            md5(b"a,b")
        );
        assert_eq!(
            values(&["accept", "cookie"], &[("cookie", b"caf\xe9")]),
            md5("-,café".as_bytes())
        );
        assert_eq!(
            values(&["content-type"], &[("content-type", b"text/html")]),
            md5(b"-,")
        );
    }

    #[test]
    fn header_lists_are_sorted_as_django_sorts_meta_names() {
        let mut response = HeaderMap::new();
        response.insert(
            "vary",
            HeaderValue::from_static("X-AB, x-a-b, Accept-Language, X_Under, Accept"),
        );
        let names = |drop| {
            learn_header_list(&response, drop)
                .iter()
                .map(|n| n.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(false),
            ["accept", "accept-language", "x-ab", "x-a-b", "x-under"]
        );
        assert_eq!(names(true), ["accept", "x-ab", "x-a-b", "x-under"]);
    }

    #[test]
    fn key_shapes() {
        let u = url("/", Some("h"));
        let v = variant(&[], &HeaderMap::new(), &VariantRules::default());
        let cache = Cache::builder(cache_core::backends::DummyBackend::new())
            .key_prefix("site")
            .version(3)
            .build();
        let keys = Keys::new(&cache, "p", "");
        assert_eq!(
            keys.header_list(&u).unwrap_or_default(),
            format!("site:3:views.decorators.cache.cache_header.p.{u:?}")
        );
        assert_eq!(
            keys.page(&Method::GET, &u, &v).unwrap_or_default(),
            format!("site:3:views.decorators.cache.cache_page.p.GET.{u:?}.{EMPTY_DIGEST}")
        );
        let suffixed = Keys::new(&cache, "p", ".en-us.UTC");
        assert!(suffixed
            .header_list(&u)
            .unwrap_or_default()
            .ends_with(&format!("{u:?}.en-us.UTC")));
        assert!(suffixed
            .page(&Method::HEAD, &u, &v)
            .unwrap_or_default()
            .ends_with(&format!(".HEAD.{u:?}.{EMPTY_DIGEST}.en-us.UTC")));
        let long = ".".repeat(NAME);
        let heap = Keys::new(&cache, "p", &long);
        assert!(heap
            .page(&Method::GET, &u, &v)
            .unwrap_or_default()
            .ends_with(&long));
    }

    #[test]
    fn custom_key_functions_are_called() {
        let cache = Cache::builder(cache_core::backends::DummyBackend::new())
            .key_function(|key, prefix, version| format!("{}/{prefix}/{version}", key.len()))
            .build();
        let keys = Keys::new(&cache, "", "");
        let u = url("/", Some("h"));
        assert_eq!(keys.header_list(&u).unwrap_or_default(), "69//1");
    }
}
