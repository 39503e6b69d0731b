//! Cache keys for pages, with Django's semantics (`django.utils.cache._generate_cache_key`) in our format.
//!
//! - **URL**: `scheme://host[:port]/path[?query]`, where the scheme is the request URI's (HTTP/2) or `http`,
//!   the host is the `Host` header (else the URI's authority) lower-cased, and `?query` is there only when the
//!   query is non-empty. Host and query are therefore part of every key. The URL is hashed (MD5, as Django),
//!   so a huge URL still makes a short key, and its bytes need not be UTF-8.
//! - **Header-list key**: `cache_header.{prefix}.{md5(url)}`: where the list of request headers the URL's
//!   responses vary on is learnt (Django's `learn_cache_key`).
//! - **Page key**: `cache_page.{prefix}.{METHOD}.{md5(url)}.{md5(variant)}.{generation}` where the variant is
//!   the request's values of the learnt headers. Unlike Django (which concatenates raw values), each value is
//!   length-prefixed and an absent header has its own marker, so absent and empty values differ and no
//!   choice of values can collide with another variant's. The generation comes from the header-list entry:
//!   invalidating a URL deletes that entry, so every stored variant becomes unreachable at once.
//!
//! These keys then go through the [`Cache`]'s own key function (its prefix and version) by way of
//! [`Keys`], so the backend sees exactly what `Cache::make_key` gives.

use cache_core::{Cache, KeyMaker};
use http::header::{HeaderMap, HeaderName, HOST};
use http::{Method, Uri};
use md5::{Digest, Md5};

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

/// The digest of a request's absolute URL.
pub(crate) fn request_url(uri: &Uri, headers: &HeaderMap) -> Hex {
    digest(&request_url_bytes(uri, headers))
}

/// A request's absolute URL as the cache keys it: `scheme://host/path[?query]`, host lower-cased.
pub(crate) fn request_url_bytes(uri: &Uri, headers: &HeaderMap) -> Vec<u8> {
    request_url_buf(uri, headers).as_slice().to_vec()
}

/// [`request_url_bytes`] without a heap allocation for the usual short URL.
#[inline]
pub(crate) fn request_url_buf(uri: &Uri, headers: &HeaderMap) -> UrlBuf {
    let host = match headers.get(HOST) {
        Some(host) => host.as_bytes(),
        None => uri.authority().map_or(&b""[..], |a| a.as_str().as_bytes()),
    };
    UrlBuf::new(uri.scheme_str(), host, uri.path(), uri.query())
}

/// An absolute URL from its parts; `scheme` defaults to `http`, an empty path is `/`, an empty query none.
pub(crate) fn url_bytes(
    scheme: Option<&str>,
    host: &[u8],
    path: &str,
    query: Option<&str>,
) -> Vec<u8> {
    UrlBuf::new(scheme, host, path, query).as_slice().to_vec()
}

/// URLs up to this many bytes are built on the stack.
const INLINE_URL: usize = 200;

/// A canonical URL, on the stack when short.
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
        let host_range = scheme.len() + 3..scheme.len() + 3 + host.len();
        if len <= INLINE_URL {
            let mut bytes = [0u8; INLINE_URL];
            let mut at = 0;
            for part in parts {
                bytes[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
            bytes[host_range].make_ascii_lowercase();
            UrlBuf::Inline { bytes, len }
        } else {
            let mut url = Vec::with_capacity(len);
            for part in parts {
                url.extend_from_slice(part);
            }
            url[host_range].make_ascii_lowercase();
            UrlBuf::Heap(url)
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

/// The digest of an absolute URL given in parts; `scheme` defaults to `http`.
pub(crate) fn url_digest(
    scheme: Option<&str>,
    host: &[u8],
    path: &str,
    query: Option<&str>,
) -> Hex {
    digest(&url_bytes(scheme, host, path, query))
}

/// The MD5 of a URL (as Django hashes it).
pub(crate) fn digest(url: &[u8]) -> Hex {
    Hex::of(&Md5::digest(url))
}

/// The digest of the request's values for the learnt header list (see the module docs for the encoding).
pub(crate) fn variant(names: &[HeaderName], headers: &HeaderMap) -> Hex {
    if names.is_empty() {
        let mut out = [0u8; 32];
        out.copy_from_slice(EMPTY_DIGEST.as_bytes());
        return Hex(out);
    }
    let mut md5 = Md5::new();
    for name in names {
        for value in headers.get_all(name) {
            let bytes = value.as_bytes();
            md5.update([1u8]);
            md5.update(u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
            md5.update(bytes);
        }
        md5.update([0u8]);
    }
    Hex::of(&md5.finalize())
}

/// Makes the keys the backend sees, through the cache's own key lane ([`cache_core::RawCache::key_maker`]):
/// one maker per kind of name, each under `cache_header.{prefix}.` or `cache_page.{prefix}.`, so the made
/// key is exactly what [`Cache::make_key`] gives for the whole name, and is validated like every other.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    header: KeyMaker,
    page: KeyMaker,
}

impl Keys {
    /// The makers for a layer with key prefix `prefix` on `cache`.
    pub(crate) fn new(cache: &Cache, prefix: &str) -> Self {
        let raw = cache.raw();
        Keys {
            header: raw.key_maker(&format!("cache_header.{prefix}.")),
            page: raw.key_maker(&format!("cache_page.{prefix}.")),
        }
    }

    /// The made key of the learnt header list of a URL.
    pub(crate) fn header_list(&self, url: &Hex) -> cache_core::Result<String> {
        self.header.make(url.as_str())
    }

    /// The made key of one stored page: `{METHOD}.{url}.{variant}.{generation in hex}` under the page
    /// prefix. The name is assembled on the stack, so the made key is the only allocation.
    pub(crate) fn page(
        &self,
        method: &Method,
        url: &Hex,
        variant: &Hex,
        generation: u64,
    ) -> cache_core::Result<String> {
        let mut digits = [0u8; 16];
        let generation = hex_u64(&mut digits, generation);
        let parts: [&[u8]; 7] = [
            method.as_str().as_bytes(),
            b".",
            url.as_str().as_bytes(),
            b".",
            variant.as_str().as_bytes(),
            b".",
            generation,
        ];
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mut name = [0u8; PAGE_NAME];
        if len <= PAGE_NAME {
            let mut at = 0;
            for part in parts {
                name[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
            // Every part is ASCII (a method token, hex digits, dots).
            if let Ok(name) = std::str::from_utf8(&name[..len]) {
                return self.page.make(name);
            }
        }
        self.page.make(&String::from_utf8_lossy(&parts.concat()))
    }
}

/// Page names of GET and HEAD (the only methods stored) are at most 4 + 3 + 64 + 16 bytes.
const PAGE_NAME: usize = 96;

/// `value` in lower-case hex without leading zeros (`0` for zero), written into `out`.
fn hex_u64(out: &mut [u8; 16], value: u64) -> &[u8] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digits = (64 - value.leading_zeros()).div_ceil(4).max(1) as usize;
    for (i, slot) in out[..digits].iter_mut().enumerate() {
        let shift = (digits - 1 - i) * 4;
        *slot = DIGITS[((value >> shift) & 0xf) as usize];
    }
    &out[..digits]
}

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
        assert_eq!(
            base,
            url("/p?a=1", Some("EXAMPLE.com")),
            "host is case-insensitive"
        );
        assert_eq!(
            url("/p?", Some("h")),
            url("/p", Some("h")),
            "an empty query is no query"
        );
        assert_eq!(url("http://h/p", None), url("/p", Some("h")));
        assert_ne!(url("https://h/p", None), url("/p", Some("h")));
    }

    #[test]
    fn long_urls_are_built_on_the_heap_alike() {
        let short = url_bytes(None, b"H", "/p", Some("q"));
        assert_eq!(short, b"http://h/p?q");
        let long_path = format!("/{}", "x".repeat(INLINE_URL));
        let long = url_bytes(Some("https"), b"Example.COM", &long_path, None);
        assert_eq!(long, format!("https://example.com{long_path}").into_bytes());
    }

    #[test]
    fn absent_and_empty_headers_differ() {
        let names = [HeaderName::from_static("accept-language")];
        let absent = HeaderMap::new();
        let mut empty = HeaderMap::new();
        empty.insert("accept-language", HeaderValue::from_static(""));
        assert_ne!(variant(&names, &absent), variant(&names, &empty));
        assert_eq!(variant(&[], &empty).as_str(), EMPTY_DIGEST);
    }

    #[test]
    fn values_cannot_be_shifted_between_headers() {
        let names = [HeaderName::from_static("a"), HeaderName::from_static("b")];
        let mut one = HeaderMap::new();
        one.insert("a", HeaderValue::from_static("xy"));
        let mut two = HeaderMap::new();
        two.insert("a", HeaderValue::from_static("x"));
        two.insert("b", HeaderValue::from_static("y"));
        assert_ne!(variant(&names, &one), variant(&names, &two));
    }

    #[test]
    fn key_shapes() {
        let u = url("/", Some("h"));
        let v = variant(&[], &HeaderMap::new());
        let cache = Cache::builder(cache_core::backends::DummyBackend::new())
            .key_prefix("site")
            .version(3)
            .build();
        let keys = Keys::new(&cache, "p");
        let page = |generation| {
            keys.page(&Method::GET, &u, &v, generation)
                .unwrap_or_default()
        };
        assert_eq!(
            keys.header_list(&u).unwrap_or_default(),
            format!("site:3:cache_header.p.{u:?}")
        );
        assert_eq!(
            page(255),
            format!("site:3:cache_page.p.GET.{u:?}.{EMPTY_DIGEST}.ff")
        );
        assert!(page(0).ends_with(".0"));
        assert!(page(u64::MAX).ends_with(".ffffffffffffffff"));
    }

    #[test]
    fn custom_key_functions_are_called() {
        let cache = Cache::builder(cache_core::backends::DummyBackend::new())
            .key_function(|key, prefix, version| format!("{}/{prefix}/{version}", key.len()))
            .build();
        let keys = Keys::new(&cache, "");
        let u = url("/", Some("h"));
        assert_eq!(keys.header_list(&u).unwrap_or_default(), "46//1");
    }
}
