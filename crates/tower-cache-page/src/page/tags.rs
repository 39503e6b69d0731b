//! Tags (surrogate keys): the names a page is stored under besides its URL, so that
//! [`PageInvalidator::purge_tag`](crate::PageInvalidator::purge_tag) drops every page of a tag at once.
//!
//! A page's tags come from the layer ([`CachePageLayer::tag`](crate::CachePageLayer::tag)) and from the
//! response: `Cache-Tag` (comma-separated, as Cloudflare reads it) and `Surrogate-Key` (space-separated, as
//! Fastly reads it), both taken off the response before it leaves the layer.
//!
//! Each tag has a generation in the backend ([`cache_core::tags`], shared with the fragment cache: a purge
//! drops a tag's pages and fragments alike; absent means never purged). A page records the generation of each of its tags when it is stored; a hit reads its tags'
//! generations again, and a tag purged since makes the page a miss (or, after a soft purge, stale: served
//! while one request refreshes it). A purge is one write, whatever the number of pages, and no backend
//! needs more than single-key reads and writes, so it works the same on every backend, a Redis Cluster
//! included.

use http::header::{HeaderMap, HeaderName};

/// `Cache-Tag`: comma-separated tags.
pub(crate) const CACHE_TAG: HeaderName = HeaderName::from_static("cache-tag");
/// `Surrogate-Key`: space-separated tags.
pub(crate) const SURROGATE_KEY: HeaderName = HeaderName::from_static("surrogate-key");

/// The most tags a page keeps (each costs a read on every hit); further ones are ignored, with a warning.
pub(crate) const MAX_TAGS: usize = 16;
pub(crate) use cache_core::tags::is_tag;

/// The tags of a response: the layer's, then the response's `Cache-Tag` and `Surrogate-Key`, each once,
/// in order; both headers are removed from `headers`. Malformed tags are ignored (logged).
pub(crate) fn take_tags(layer: &[String], headers: &mut HeaderMap) -> Vec<String> {
    let mut tags: Vec<String> = layer.to_vec();
    for (header, separator) in [(CACHE_TAG, ','), (SURROGATE_KEY, ' ')] {
        for value in headers.get_all(&header) {
            let Ok(value) = value.to_str() else {
                tracing::warn!(header = %header, "page cache: a tag header that is not text, ignored");
                continue;
            };
            for tag in value
                .split(separator)
                .map(str::trim)
                .filter(|t| !t.is_empty())
            {
                if !is_tag(tag) {
                    tracing::warn!(
                        tag,
                        "page cache: not a tag (1 to 128 visible ASCII characters), ignored"
                    );
                } else if !tags.iter().any(|t| t == tag) {
                    tags.push(tag.to_owned());
                }
            }
        }
        headers.remove(&header);
    }
    if tags.len() > MAX_TAGS {
        tracing::warn!(
            count = tags.len(),
            "page cache: more than {MAX_TAGS} tags on a page; the rest ignored"
        );
        tags.truncate(MAX_TAGS);
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn tags_come_from_the_layer_and_both_headers_which_are_removed() {
        let mut headers = HeaderMap::new();
        headers.append(CACHE_TAG, HeaderValue::from_static("article-1, articles,"));
        headers.append(CACHE_TAG, HeaderValue::from_static("home"));
        headers.insert(
            SURROGATE_KEY,
            HeaderValue::from_static("articles  author-7"),
        );
        headers.insert("content-type", HeaderValue::from_static("text/html"));
        let tags = take_tags(&["site".to_owned()], &mut headers);
        assert_eq!(tags, ["site", "article-1", "articles", "home", "author-7"]);
        assert!(!headers.contains_key(CACHE_TAG) && !headers.contains_key(SURROGATE_KEY));
        assert!(headers.contains_key("content-type"));
    }

    #[test]
    fn malformed_and_surplus_tags_are_dropped() {
        let mut headers = HeaderMap::new();
        let many: Vec<String> = (0..40).map(|i| format!("t{i}")).collect();
        headers.insert(
            CACHE_TAG,
            HeaderValue::from_str(&many.join(",")).expect("ascii"),
        );
        headers.append(
            CACHE_TAG,
            HeaderValue::from_str(&"x".repeat(200)).expect("ascii"),
        );
        let tags = take_tags(&[], &mut headers);
        assert_eq!(tags.len(), MAX_TAGS);
        assert!(tags.iter().all(|t| is_tag(t)));
        assert!(!is_tag("") && !is_tag("caf\u{e9}") && !is_tag(&"x".repeat(129)));
    }
}
