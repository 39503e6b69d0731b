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

#[cfg(test)]
mod tests;
