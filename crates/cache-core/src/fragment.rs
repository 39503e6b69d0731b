//! [`FragmentCache`]: Django's template fragment cache (`{% cache %}`) for handlers, with any template
//! engine or none.
//!
//! A fragment is keyed by its name and the values it varies on, exactly as Django's
//! `make_template_fragment_key`: `template.cache.{name}.{md5}` where the MD5 runs over each value's text
//! followed by `:` ([`make_fragment_key`]). The key then goes through the [`Cache`]'s own key function
//! (prefix and version), so fragments share a cache with anything else.

use std::fmt::{self, Display, Write as _};
use std::future::Future;

use bytes::Bytes;
use md5::{Digest, Md5};

use crate::cache::call::CallOptions;
use crate::{Cache, Result, Timeout};

/// Django's `make_template_fragment_key(name, vary_on)`: `template.cache.{name}.{hex}` where `hex` is the MD5
/// of each value's `Display` text followed by `:`.
///
/// ```
/// use cache_core::make_fragment_key;
///
/// assert_eq!(make_fragment_key("a.fragment", &[]), "template.cache.a.fragment.d41d8cd98f00b204e9800998ecf8427e");
/// assert_eq!(make_fragment_key("foo", &[&"abc"]), "template.cache.foo.493e283d571a73056196f1a68efd0f66");
/// assert_eq!(make_fragment_key("foo", &[&1, &2, &3, &4, &5]), "template.cache.foo.7ae8fd2e0d25d651c683bdeebdb29461");
/// ```
pub fn make_fragment_key(name: &str, vary_on: &[&(dyn Display + Sync)]) -> String {
    let mut hasher = HashWriter(Md5::new());
    for value in vary_on {
        // Writing into a hasher cannot fail.
        let _ = write!(hasher, "{value}:");
    }
    let digest = hasher.0.finalize();
    let mut key = String::with_capacity(15 + name.len() + 32);
    key.push_str("template.cache.");
    key.push_str(name);
    key.push('.');
    for byte in digest {
        let _ = write!(key, "{byte:02x}");
    }
    key
}

/// Feeds formatted text to MD5 without building the string.
struct HashWriter(Md5);

impl fmt::Write for HashWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

/// Caches rendered fragments of pages (Django's `{% cache timeout name vary_on… %}`) in a [`Cache`].
///
/// ```
/// use std::time::Duration;
/// use cache_core::{backends::MemoryBackend, Cache, FragmentCache};
///
/// # async fn demo() {
/// let fragments = FragmentCache::new(Cache::new(MemoryBackend::new()));
/// let user_id = 42;
/// let sidebar = fragments
///     .get_or_render("sidebar", &[&user_id, &"en"], Duration::from_secs(500), || async {
///         format!("<aside>links for user {user_id}</aside>")
///     })
///     .await;
/// assert_eq!(sidebar, "<aside>links for user 42</aside>");
///
/// // After the data behind it changed:
/// fragments.invalidate("sidebar", &[&user_id, &"en"]).await.ok();
/// # }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo());
/// ```
///
/// A fragment cache is an optimisation, so it fails open: when the backend errors, the fragment is rendered
/// and returned and the error is logged (`tracing`); a stored value that is not UTF-8 is re-rendered and
/// replaced. Fragments are stored as their UTF-8 bytes, without encoding.
#[derive(Debug, Clone)]
pub struct FragmentCache {
    cache: Cache,
}

impl FragmentCache {
    /// Fragments in `cache` (Django uses the `template_fragments` alias if configured, else `default`).
    pub fn new(cache: Cache) -> Self {
        FragmentCache { cache }
    }

    /// The cache the fragments live in.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The fragment's key before the cache's own prefix and version; see [`make_fragment_key`].
    pub fn key(&self, name: &str, vary_on: &[&(dyn Display + Sync)]) -> String {
        make_fragment_key(name, vary_on)
    }

    /// The cached fragment, or what `render` makes, stored for `timeout` ([`Timeout::Never`] for ever;
    /// `Duration::ZERO` renders every time without storing, as Django's timeout 0).
    ///
    /// Concurrent calls for the same fragment on this cache (or its clones) run `render` once; the others
    /// wait for its result. If the call running `render` is cancelled, a waiting one renders instead.
    ///
    /// The key is made before the future is returned, so the future does not borrow `name` or `vary_on`
    /// (and is `Send` whenever `render` and its future are).
    pub fn get_or_render<'a, F, Fut>(
        &'a self,
        name: &str,
        vary_on: &[&(dyn Display + Sync)],
        timeout: impl Into<Timeout>,
        render: F,
    ) -> impl Future<Output = String> + 'a
    where
        F: FnOnce() -> Fut + 'a,
        Fut: Future<Output = String> + 'a,
    {
        self.render_under(make_fragment_key(name, vary_on), timeout.into(), render)
    }

    async fn render_under<F, Fut>(&self, key: String, timeout: Timeout, render: F) -> String
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = String>,
    {
        let key = key.as_str();
        let options = CallOptions {
            timeout,
            version: None,
        };
        let made = match self.cache.made_key(key, &options) {
            Ok(made) => made,
            Err(error) => {
                tracing::warn!(key, %error, "fragment cache: unusable key; rendering without the cache");
                return render().await;
            }
        };
        let expiry = self.cache.expiry(&options);

        let mut render = Some(render);
        let mut rendered: Option<String> = None;
        let outcome = {
            let render = &mut render;
            let rendered = &mut rendered;
            self.cache
                .get_or_set_bytes_with(&made, expiry, move || async move {
                    let html = match render.take() {
                        Some(render) => render().await,
                        None => String::new(),
                    };
                    let bytes = Bytes::copy_from_slice(html.as_bytes());
                    *rendered = Some(html);
                    Ok(bytes)
                })
                .await
        };
        match outcome {
            Ok(bytes) => match String::from_utf8(Vec::from(bytes)) {
                Ok(html) => html,
                Err(_) => {
                    tracing::warn!(
                        key,
                        "fragment cache: stored value is not UTF-8; re-rendering"
                    );
                    let html = match (rendered, render) {
                        (Some(html), _) => html,
                        (None, Some(render)) => render().await,
                        (None, None) => String::new(),
                    };
                    if let Err(error) = self
                        .cache
                        .set_bytes(key, html.clone())
                        .timeout(options.timeout)
                        .await
                    {
                        tracing::warn!(key, %error, "fragment cache: could not replace the value");
                    }
                    html
                }
            },
            Err(error) => {
                tracing::warn!(key, %error, "fragment cache backend failed; rendering without the cache");
                match (rendered, render) {
                    (Some(html), _) => html,
                    (None, Some(render)) => render().await,
                    (None, None) => String::new(),
                }
            }
        }
    }

    /// Like [`get_or_render`](Self::get_or_render), for a fragment tagged with `tags`: a
    /// [`purge_tag`](Self::purge_tag) of any of them (or the page cache's `PageInvalidator::purge_tag`, on
    /// the same cache) makes it a miss, re-rendered on the next call. A tagged fragment is stored with its
    /// tags' generations before the HTML, so Django would not read it. Tags that are not tags
    /// ([`tags::is_tag`](crate::tags::is_tag)) are ignored, with a warning. Concurrent calls are not
    /// coalesced.
    pub fn get_or_render_tagged<'a, F, Fut>(
        &'a self,
        name: &str,
        vary_on: &[&(dyn Display + Sync)],
        tags: &[&str],
        timeout: impl Into<Timeout>,
        render: F,
    ) -> impl Future<Output = String> + 'a
    where
        F: FnOnce() -> Fut + 'a,
        Fut: Future<Output = String> + 'a,
    {
        let key = make_fragment_key(name, vary_on);
        let tags: Vec<String> = tags
            .iter()
            .filter(|tag| {
                let ok = crate::tags::is_tag(tag);
                if !ok {
                    tracing::warn!(tag, "fragment cache: not a tag, ignored");
                }
                ok
            })
            .map(|tag| (*tag).to_owned())
            .collect();
        let timeout = timeout.into();
        async move {
            match self.tagged_hit(&key, &tags).await {
                Ok(Some(html)) => return html,
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(key, %error, "fragment cache backend failed; rendering without the cache");
                    return render().await;
                }
            }
            let stamps = match self.stamps(&tags).await {
                Ok(stamps) => stamps,
                Err(error) => {
                    tracing::warn!(key, %error, "fragment cache backend failed; rendering without the cache");
                    return render().await;
                }
            };
            let html = render().await;
            let stored = tagged::encode(&stamps, &html);
            if let Err(error) = self.cache.set_bytes(&key, stored).timeout(timeout).await {
                tracing::warn!(key, %error, "fragment cache: could not store the fragment");
            }
            html
        }
    }

    /// The stored tagged fragment under `key`, when every tag's generation is still the one it was stored
    /// with.
    async fn tagged_hit(&self, key: &str, tags: &[String]) -> Result<Option<String>> {
        let Some(stored) = self.cache.get_bytes(key).await? else {
            return Ok(None);
        };
        let Some((stamps, html)) = tagged::decode(&stored) else {
            return Ok(None);
        };
        // A fragment stored with other tags than asked for now is stale.
        if stamps.len() != tags.len() || stamps.iter().zip(tags).any(|((t, _), want)| t != want) {
            return Ok(None);
        }
        for (tag, generation) in &stamps {
            if crate::tags::state(&self.cache, tag).await?.generation != *generation {
                return Ok(None);
            }
        }
        Ok(Some(html.to_owned()))
    }

    /// Each tag with its generation now.
    async fn stamps(&self, tags: &[String]) -> Result<Vec<(String, u64)>> {
        let mut stamps = Vec::with_capacity(tags.len());
        for tag in tags {
            stamps.push((
                tag.clone(),
                crate::tags::state(&self.cache, tag).await?.generation,
            ));
        }
        Ok(stamps)
    }

    /// Purges `tag`: every fragment (and, on the same cache, every page of the page cache) tagged with it
    /// is a miss from now on. The tag's entry lives for `lifetime` (at least as long as tagged entries
    /// can; see [`tags::purge`](crate::tags::purge)).
    pub async fn purge_tag(&self, tag: &str, lifetime: std::time::Duration) -> Result<()> {
        crate::tags::purge(&self.cache, tag, false, lifetime).await
    }

    /// The cached fragment, if any (no rendering); a value that is not UTF-8 reads as `None`.
    pub fn get<'a>(
        &'a self,
        name: &str,
        vary_on: &[&(dyn Display + Sync)],
    ) -> impl Future<Output = Result<Option<String>>> + Send + 'a {
        let key = make_fragment_key(name, vary_on);
        async move {
            let bytes = self.cache.get_bytes(&key).await?;
            Ok(bytes.and_then(|b| String::from_utf8(Vec::from(b)).ok()))
        }
    }

    /// Removes the fragment (Django's `cache.delete(make_template_fragment_key(name, vary_on))`); resolves to
    /// whether it was stored.
    pub fn invalidate<'a>(
        &'a self,
        name: &str,
        vary_on: &[&(dyn Display + Sync)],
    ) -> impl Future<Output = Result<bool>> + Send + 'a {
        let key = make_fragment_key(name, vary_on);
        async move { self.cache.delete(&key).await }
    }
}

/// The stored form of a tagged fragment: a marker no HTML starts with, the tags and their generations,
/// then the HTML.
mod tagged {
    /// `\0TDF\x01`: a NUL first, which no rendered HTML starts with.
    const MAGIC: &[u8; 5] = b"\0TDF\x01";

    pub(super) fn encode(stamps: &[(String, u64)], html: &str) -> bytes::Bytes {
        let mut out = Vec::with_capacity(MAGIC.len() + 2 + stamps.len() * 24 + html.len());
        out.extend_from_slice(MAGIC);
        let count = u16::try_from(stamps.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        for (tag, generation) in stamps.iter().take(usize::from(count)) {
            // Tags are at most 128 bytes (checked before).
            out.extend_from_slice(&u16::try_from(tag.len()).unwrap_or(0).to_be_bytes());
            out.extend_from_slice(tag.as_bytes());
            out.extend_from_slice(&generation.to_be_bytes());
        }
        out.extend_from_slice(html.as_bytes());
        bytes::Bytes::from(out)
    }

    /// The stamps and the HTML; `None` for anything else (an untagged fragment, a corrupted entry).
    pub(super) fn decode(stored: &[u8]) -> Option<(Vec<(String, u64)>, &str)> {
        let mut rest = stored.strip_prefix(MAGIC)?;
        let take = |rest: &mut &[u8], n: usize| -> Option<Vec<u8>> {
            let (head, tail) = (rest.get(..n)?, rest.get(n..)?);
            *rest = tail;
            Some(head.to_vec())
        };
        let count = u16::from_be_bytes(take(&mut rest, 2)?.try_into().ok()?);
        let mut stamps = Vec::with_capacity(usize::from(count).min(64));
        for _ in 0..count {
            let len = u16::from_be_bytes(take(&mut rest, 2)?.try_into().ok()?);
            let tag = String::from_utf8(take(&mut rest, usize::from(len))?).ok()?;
            let generation = u64::from_be_bytes(take(&mut rest, 8)?.try_into().ok()?);
            stamps.push((tag, generation));
        }
        Some((stamps, std::str::from_utf8(rest).ok()?))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn round_trip_and_garbage() {
            let stamps = vec![("articles".to_owned(), 7), ("a-1".to_owned(), 0)];
            let stored = encode(&stamps, "<p>é</p>");
            assert_eq!(decode(&stored), Some((stamps, "<p>é</p>")));
            assert_eq!(decode(b"<p>untagged</p>"), None);
            for len in 0..stored.len() - "<p>é</p>".len() {
                assert_eq!(decode(&stored[..len]), None, "truncated at {len}");
            }
        }
    }
}

#[cfg(test)]
mod tests;
