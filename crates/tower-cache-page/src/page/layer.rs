//! [`CachePageLayer`] and its settings.

use std::sync::Arc;
use std::time::Duration;

use cache_core::Cache;
use tower_layer::Layer;

use super::coalesce::Flights;
use super::config::{Config, KeySuffix};
use super::invalidate::PageInvalidator;
use super::key::HeaderHashing;
use super::service::CachePageService;
use super::shared::Shared;
use super::status::CacheStatus;
use crate::InvalidSetting;

/// Caches whole responses in a [`Cache`]: Django's `cache_page` on one route, its site-wide
/// `UpdateCacheMiddleware` + `FetchFromCacheMiddleware` pair on a whole app.
///
/// ```
/// use std::time::Duration;
/// use axum::{routing::get, Router};
/// use cache_core::{backends::MemoryBackend, Cache};
/// use tower_cache_page::CachePageLayer;
///
/// let cache = Cache::new(MemoryBackend::new());
///
/// // One route, like `@cache_page(60 * 15)`:
/// let app: Router = Router::new().route(
///     "/articles/{id}",
///     get(|| async { "article" }).layer(CachePageLayer::new(cache.clone()).timeout(Duration::from_secs(900))),
/// );
///
/// // Every route, like the site-wide middleware (responses' own max-age, else 600 s):
/// let app: Router = Router::new()
///     .route("/", get(|| async { "home" }))
///     .layer(CachePageLayer::new(cache).key_prefix("site"));
/// # let _ = app;
/// ```
///
/// Where to put it: `Router::layer` wraps each route, after routing; wrapping the whole `Router` as a
/// service (`layer.layer(router)`, or a `tower::ServiceBuilder` around it) puts the cache before routing,
/// which is where Django's `FetchFromCacheMiddleware` sits, and makes hits cheaper still. Layers that add
/// `Vary` (compression, say) go *inside* it, as in Django. Only bodies of known size are stored, so a
/// layer inside it that turns bodies into streams (compression does) makes its responses pass through
/// uncached.
///
/// Sessions are safe in either order: a session layer (tower-sessions-kit's `SessionLayer`) outside this
/// one marks its response only after it has left here, so it also tells this layer, through a
/// [`SessionUse`](cache_core::sharing::SessionUse) in the request's extensions, how the handler used the
/// session. A page that read the session is stored with `Vary: Cookie` (served only to that session); one
/// that changed it is not stored at all.
///
/// What is stored, for how long, and how headers are patched is listed in the [crate docs](crate).
#[derive(Clone)]
#[must_use]
pub struct CachePageLayer {
    /// Built once per setting change, so making a service is one `Arc` clone (axum may make one per
    /// request for routes whose state is not yet set).
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for CachePageLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CachePageLayer")
            .field(&self.shared.config)
            .finish()
    }
}

impl CachePageLayer {
    /// A page cache in `cache` with Django's defaults: no page timeout (the response's `max-age`, else
    /// 600 s), empty key prefix, cookies never stored, bodies up to 1 MiB, no stale serving, no
    /// `Cache-Status`, cache operations bounded to 1 s, coalesced requests waiting up to 10 s, header lists
    /// memoised for 1 s within 16 MiB.
    pub fn new(cache: Cache) -> Self {
        let config = Config::new(cache);
        CachePageLayer {
            shared: Arc::new(Shared::new(
                config,
                Arc::new(Flights::default()),
                Arc::default(),
            )),
        }
    }

    /// Changes a setting; the flights and the backend's breaker stay shared with the layer it came from.
    fn configure(self, change: impl FnOnce(&mut Config)) -> Self {
        let mut config = self.shared.config.clone();
        change(&mut config);
        CachePageLayer {
            shared: Arc::new(self.shared.reconfigured(config)),
        }
    }

    /// The page timeout (`cache_page(timeout)`): how long every stored response lives, whatever its own
    /// `max-age` says. `max-age` is sent in whole seconds, so a timeout under one second is treated as
    /// `Duration::ZERO`: the headers are patched and nothing is stored.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.configure(|c| c.policy.page_timeout = Some(timeout))
    }

    /// The timeout for responses without a `max-age` when no page timeout is set (Django's
    /// `CACHE_MIDDLEWARE_SECONDS`, default 600 s).
    pub fn default_timeout(self, timeout: Duration) -> Self {
        self.configure(|c| c.policy.default_timeout = timeout)
    }

    /// The page-key prefix (`cache_page(key_prefix=…)`, `CACHE_MIDDLEWARE_KEY_PREFIX`); separate from the
    /// cache's own key prefix, and both apply. Layers with the same prefix (and
    /// key suffix) on the same cache share pages.
    pub fn key_prefix(self, prefix: impl Into<String>) -> Self {
        self.configure(|c| c.set_key_prefix(prefix.into()))
    }

    /// Appends Django's `_i18n_cache_key_suffix` to every key, so keys are the ones a Django site with the
    /// same settings makes: `language` is `LANGUAGE_CODE` when `USE_I18N = True` (Django appends the
    /// request's active language), `time_zone` is `TIME_ZONE` when `USE_TZ = True` (Django appends the
    /// current time zone's name); `None` for a setting that is off. Default: no suffix, the keys of
    /// `USE_I18N = False, USE_TZ = False`.
    ///
    /// With a language, `Accept-Language` is left out of the learnt header lists, as Django does under
    /// `USE_I18N` (the language in the key stands for it). The language here is fixed: it matches a
    /// Django site without `LocaleMiddleware` (whose active language is always `LANGUAGE_CODE`); a site
    /// that picks the language per request from `Accept-Language` should leave it `None` and vary on
    /// `Accept-Language`, or every language would share one page.
    ///
    /// To match a settings module with `USE_I18N = True`, `LANGUAGE_CODE = "en-us"`, `USE_TZ = True`,
    /// `TIME_ZONE = "UTC"`:
    ///
    /// ```
    /// # use cache_core::{backends::MemoryBackend, Cache};
    /// # use tower_cache_page::CachePageLayer;
    /// # fn main() -> Result<(), tower_cache_page::InvalidSetting> {
    /// let layer = CachePageLayer::new(Cache::new(MemoryBackend::new()))
    ///     .django_key_suffix(Some("en-us"), Some("UTC"))?;
    /// # let _ = layer;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`InvalidSetting`] when a value is empty, longer than 64 bytes, or has a character other than
    /// visible ASCII (no spaces or control characters, which cache keys cannot hold).
    pub fn django_key_suffix(
        self,
        language: Option<&str>,
        time_zone: Option<&str>,
    ) -> Result<Self, InvalidSetting> {
        let language = language
            .map(|l| suffix_part("language code", l))
            .transpose()?;
        let time_zone = time_zone.map(|t| suffix_part("time zone", t)).transpose()?;
        let suffix = KeySuffix {
            language,
            time_zone,
        };
        Ok(self.configure(|c| c.set_key_suffix(suffix)))
    }

    /// The `cache` label of this layer's metrics (default: the key prefix, or `default` without one), to
    /// tell several page caches apart on one dashboard. The layer counts what it does through the
    /// [`metrics`](https://docs.rs/metrics) facade: requests by result (`hit`, `stale`, `miss`,
    /// `uri_miss`, `collapsed`, `method`, `bypass`), stores and the reasons for not storing, backend
    /// errors and latency, purges. Nothing is recorded until the application installs a recorder (before
    /// the first request). See the crate docs for the list.
    pub fn metrics_name(self, name: impl Into<String>) -> Self {
        let name: Arc<str> = Arc::from(name.into());
        self.configure(|c| c.metrics_name = Some(name))
    }

    /// How the values of the request headers a page varies on are hashed into its key (default
    /// [`HeaderHashing::Django52`]): pick the way of the Django release that shares the cache, so both
    /// find the same pages. [`HeaderHashing::Netstring`] is the way of Django's main branch.
    pub fn django_header_hashing(self, hashing: HeaderHashing) -> Self {
        self.configure(|c| c.variant.hashing = hashing)
    }

    /// Keys pages that vary on `Cookie` by the named cookies only, not the whole `Cookie` header: the
    /// session cookie (and any other cookie a page depends on), so that anonymous pages stay shared when
    /// visitors' analytics or consent cookies differ. A visitor with none of the named cookies gets the
    /// pages of a visitor without cookies.
    ///
    /// Name every cookie your pages depend on. The session cookie is checked: a page that read the
    /// session, under a [`SessionLayer`](https://docs.rs/tower-sessions-kit) outside this layer whose
    /// cookie is not named here, is not stored (`Cache-Status` detail `session-cookie-unkeyed`), so one
    /// session's page is never served to another. A session layer inside this layer is not seen: name its
    /// cookie. Page keys of such pages are then no longer Django's.
    ///
    /// # Errors
    ///
    /// [`InvalidSetting`] for an empty list, or a name that is not a cookie name (empty, or with a
    /// separator, space or control character).
    pub fn key_cookies<I, N>(self, names: I) -> Result<Self, InvalidSetting>
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        if names.is_empty() {
            return Err(InvalidSetting::new(
                "key cookies",
                "",
                "must name at least one cookie",
            ));
        }
        for name in &names {
            let token = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
            if !token {
                return Err(InvalidSetting::new(
                    "key cookie name",
                    name,
                    "is not a cookie name",
                ));
            }
        }
        let names: Arc<[String]> = names.into();
        Ok(self.configure(|c| c.variant.cookies = Some(names)))
    }

    /// Store responses that set cookies (default: never), replaying their `Set-Cookie` headers on hits, as
    /// Django does. Even then a response that sets a cookie and varies on `Cookie` is not stored. Only turn
    /// this on for cookies that are the same for every visitor of the page.
    pub fn allow_set_cookie(self, allow: bool) -> Self {
        self.configure(|c| c.policy.allow_set_cookie = allow)
    }

    /// The largest body stored (default 1 MiB). Only a body of known size within this limit is read in
    /// and stored; a larger one, and any body of unknown size (a stream: server-sent events, long polling,
    /// a chunked download), is handed to the client frame by frame as the handler produces it, and is not
    /// stored (`Cache-Status` detail `too-large` or `streaming`).
    pub fn max_body_size(self, bytes: usize) -> Self {
        self.configure(|c| c.max_body = bytes)
    }

    /// Serve stale pages while one request refreshes them in the background (RFC 5861
    /// `stale-while-revalidate`): a page stays in the cache for this long past its timeout, and a GET
    /// that finds it stale gets it at once (with its age) while the inner service is asked, once, for a
    /// fresh one. Needs a Tokio runtime (the refresh is spawned). `Duration::ZERO` turns it off, as it is
    /// by default.
    pub fn stale_while_revalidate(self, window: Duration) -> Self {
        self.configure(|c| c.stale_while_revalidate = (!window.is_zero()).then_some(window))
    }

    /// Tags every page this layer stores with `tag` (besides the tags of each response's `Cache-Tag` and
    /// `Surrogate-Key` headers, which are taken off the response), so that
    /// [`PageInvalidator::purge_tag`] drops them all at once.
    ///
    /// # Errors
    ///
    /// [`InvalidSetting`] when `tag` is empty, longer than 128 bytes, or not visible ASCII.
    pub fn tag(self, tag: &str) -> Result<Self, InvalidSetting> {
        if !super::tags::is_tag(tag) {
            return Err(InvalidSetting::new(
                "page tag",
                tag,
                "must be 1 to 128 visible ASCII characters",
            ));
        }
        Ok(self.configure(|c| {
            let mut tags = c.tags.to_vec();
            if !tags.iter().any(|t| t == tag) {
                tags.push(tag.to_owned());
            }
            c.tags = tags.into();
        }))
    }

    /// Serve a stale page instead of an error (RFC 5861 `stale-if-error`): a page stays in the cache for
    /// this long past its timeout, and when the request that would replace it gets a 5xx response or an
    /// error from the inner service, the stale page is served instead (`Cache-Status`
    /// `fwd=miss; fwd-status=<code>; ttl=-<seconds past freshness>; detail=stale-if-error`). With
    /// [`stale_while_revalidate`](Self::stale_while_revalidate) too, a page within that window is served at
    /// once and refreshed in the background (a failed refresh keeps it); past it, this takes over.
    /// `Duration::ZERO` turns it off, as it is by default.
    pub fn stale_if_error(self, window: Duration) -> Self {
        self.configure(|c| c.stale_if_error = (!window.is_zero()).then_some(window))
    }

    /// Adds a `Cache-Status` header (RFC 9211) naming this cache as `name` to every response that goes
    /// through the layer; see the [crate docs](crate) for its values.
    ///
    /// # Errors
    ///
    /// [`InvalidSetting`] when `name` cannot appear in a header (a control character, a line break).
    pub fn cache_status(self, name: impl AsRef<str>) -> Result<Self, InvalidSetting> {
        let status = CacheStatus::new(name.as_ref())?;
        Ok(self.configure(|c| c.cache_status = Some(status)))
    }

    /// How long one cache operation may take (default 1 s; `None`: no bound) before the request goes on
    /// without the cache, as when the backend fails. Bounding needs Tokio's timer, which is only used when
    /// an operation does not complete at once.
    ///
    /// A failure or timeout opens the layer's circuit breaker: for the next second every request is served
    /// by the inner service without the cache; then a single request tries the backend while the others
    /// keep bypassing it, and its success closes the breaker, its failure opens it again. Without a bound,
    /// a hung backend holds that one request for as long as it hangs, and the cache stays bypassed.
    pub fn backend_timeout(self, timeout: Option<Duration>) -> Self {
        self.configure(|c| c.backend_timeout = timeout)
    }

    /// How long a request that missed waits for a concurrent request for the same page (default 10 s)
    /// before asking the inner service itself.
    pub fn coalesce_timeout(self, timeout: Duration) -> Self {
        self.configure(|c| c.coalesce_timeout = timeout)
    }

    /// How long learnt header lists are memoised in this process (default 1 s; `Duration::ZERO` turns the
    /// memo off). With the memo, a hit reads the backend once instead of twice; the price is that an
    /// invalidation made by another process (or another layer) takes effect here only when the memo entry
    /// expires. See the `memo` module docs.
    pub fn header_list_memo(self, ttl: Duration) -> Self {
        self.configure(|c| c.header_list_memo = ttl)
    }

    /// How many bytes the header-list memo may keep alive (default 16 MiB). Next to a URL's header list
    /// the memo keeps its last decoded page, with the stored blob it came from; on the memory backend
    /// that blob is the backend's own buffer, which stays alive while the memo holds it, even after the
    /// backend evicted it. The memo counts those bytes (blob and key lengths, plus a small fixed
    /// allowance per entry) and, when over this budget, drops expired entries and then arbitrary ones, so
    /// a flood of distinct URLs cannot grow the process beyond it. A page larger than the budget is never
    /// kept decoded (it is decoded on each hit instead).
    pub fn memo_max_bytes(self, bytes: usize) -> Self {
        self.configure(|c| c.memo_max_bytes = bytes)
    }

    /// A handle to drop this layer's pages of a URL; also given to every handler behind the layer as a
    /// request extension (`Extension<PageInvalidator>` in axum).
    pub fn invalidator(&self) -> PageInvalidator {
        self.shared.invalidator.clone()
    }
}

/// One part of the key suffix, checked.
fn suffix_part(setting: &'static str, value: &str) -> Result<String, InvalidSetting> {
    if value.is_empty() {
        return Err(InvalidSetting::new(setting, value, "empty"));
    }
    if value.len() > 64 {
        return Err(InvalidSetting::new(setting, value, "longer than 64 bytes"));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(InvalidSetting::new(
            setting,
            value,
            "only visible ASCII characters can be in a cache key",
        ));
    }
    Ok(value.to_owned())
}

impl<S> Layer<S> for CachePageLayer {
    type Service = CachePageService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CachePageService::new(inner, Arc::clone(&self.shared))
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use bytes::Bytes;
    use cache_core::backends::MemoryBackend;
    use http::{Request, Response};
    use http_body_util::{BodyExt, Empty, Full};
    use tower::ServiceExt;

    use super::*;

    /// Distinct URLs, each storing a page near the body limit and hit once (which memoises the decoded
    /// page), through a memory backend bounded to 4 MiB: the memo keeps at most its budget alive. Before
    /// it was bounded in bytes it held every page of the flood (up to 10 000 of them).
    #[tokio::test]
    async fn the_memo_stays_within_its_byte_budget_under_a_url_flood() {
        const PAGE: usize = 60 * 1024;
        const BUDGET: usize = 1024 * 1024;
        const URLS: usize = 1_500;
        let Ok(backend) = MemoryBackend::builder().max_bytes(4 * 1024 * 1024).build() else {
            panic!("memory backend");
        };
        let layer = CachePageLayer::new(Cache::new(backend))
            .max_body_size(64 * 1024)
            .memo_max_bytes(BUDGET);
        let page = Bytes::from(vec![b'x'; PAGE]);
        let service = layer.layer(tower::service_fn(move |_: Request<Empty<Bytes>>| {
            let page = page.clone();
            async move { Ok::<_, Infallible>(Response::new(Full::new(page))) }
        }));
        let mut most = 0;
        for i in 0..URLS {
            for _ in 0..2 {
                let request = Request::get(format!("http://testserver/?q={i}"))
                    .body(Empty::new())
                    .unwrap_or_default();
                let Ok(response) = service.clone().oneshot(request).await;
                let body = response.into_body().collect().await.map(|c| c.to_bytes());
                assert_eq!(body.map(|b| b.len()).ok(), Some(PAGE));
            }
            most = most.max(layer.shared.memo_held_bytes());
        }
        assert!(most <= BUDGET, "the memo kept {most} bytes alive");
        assert!(
            most > BUDGET / 2,
            "the memo was not used ({most} bytes): the test proves nothing"
        );
    }
}
