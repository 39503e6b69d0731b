//! Django's per-view and site-wide page cache as one Tower layer, conditional
//! GET, and the cache-header layers and helpers — for axum, hyper or any Tower stack, over any
//! [`cache_core`] backend.
//!
//! ```
//! use std::time::Duration;
//! use axum::{body::Body, http::Request, routing::get, Router};
//! use cache_core::{backends::MemoryBackend, Cache};
//! use tower::ServiceExt;
//! use tower_cache_page::{CachePageLayer, ConditionalGetLayer};
//!
//! # async fn demo() -> Result<(), tower_cache_page::InvalidSetting> {
//! let cache = Cache::new(MemoryBackend::new());
//! let app = Router::new()
//!     .route("/", get(|| async { "<h1>Hello</h1>" }))
//!     .layer(ConditionalGetLayer::new())
//!     .layer(CachePageLayer::new(cache).timeout(Duration::from_secs(60)).cache_status("app")?);
//!
//! let first = app.clone().oneshot(Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(first.headers()["cache-status"], "app; fwd=uri-miss; stored");
//! let second = app.oneshot(Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(second.headers()["cache-status"], "app; hit");
//! assert_eq!(second.headers()["cache-control"], "max-age=60");
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
//! ```
//!
//! # The page cache ([`CachePageLayer`])
//!
//! Django's `cache_page` on one route and its `UpdateCacheMiddleware`/`FetchFromCacheMiddleware` pair on a
//! whole app, with the algorithm of `django.middleware.cache`:
//!
//! - **Only GET and HEAD** are looked up and stored; other methods pass through. A HEAD is answered from
//!   the GET entry (without its body, with its `Content-Length`), else from a HEAD entry.
//! - **Keys are Django's**, byte for byte (`views.decorators.cache.cache_header.…` and
//!   `views.decorators.cache.cache_page.{prefix}.{METHOD}.{md5(url)}.{md5(values)}`, through the cache's
//!   key function): they hold the absolute URL as Django builds it (scheme, host, path, query), and the
//!   request's values of every header the URL's responses vary on: the list of those headers is
//!   **learnt** per URL from `Vary` when a response is stored, so `Vary: Accept-Language` keeps languages
//!   apart. An absent header and an empty one give different keys. Django's language and time-zone
//!   suffix is an option ([`django_key_suffix`](CachePageLayer::django_key_suffix)). See the `key`
//!   module docs for the details.
//! - **Stored**: only 200 responses; not 304 (whose headers are still patched); never a response with
//!   `Cache-Control` containing `private`, `no-cache` or `no-store`, or `Vary: *`.
//! - **Timeout**: the layer's [`timeout`](CachePageLayer::timeout), else the response's `max-age` (0: not
//!   stored), else [`default_timeout`](CachePageLayer::default_timeout) (600 s). `Expires` and `max-age` are
//!   added to the response; a hit carries `Age`, and replays the stored headers.
//!
//! Stricter than Django, where Django is unsafe:
//!
//! - a response that sets a cookie is **never stored** unless [`allow_set_cookie`](CachePageLayer::allow_set_cookie)
//!   is on (and then, as in Django, not when it also varies on `Cookie`);
//! - a request with `Authorization` is stored only when the response is `public` or has `s-maxage`
//!   (RFC 9111 §3.5); with `s-maxage` alone, `Vary: Authorization` is added as Django does.
//!
//! Beyond Django:
//!
//! - **request coalescing**: concurrent misses for one page run the inner service once, the others get its
//!   response (or, when it could not be stored, ask the inner service themselves);
//! - **serve-stale-while-revalidate** (RFC 5861), opt-in with
//!   [`stale_while_revalidate`](CachePageLayer::stale_while_revalidate);
//! - an opt-in **`Cache-Status`** header (RFC 9211): `name; hit`, `name; fwd=uri-miss; stored`, … with a
//!   `detail` saying why a response was not stored;
//! - **invalidation** of every variant of a URL's pages from handlers ([`PageInvalidator`], in the request
//!   extensions of everything behind the layer);
//! - **streams pass through**: only a body of known size up to
//!   [`max_body_size`](CachePageLayer::max_body_size) (1 MiB) is read in and stored; a larger one, and any
//!   body of unknown size (server-sent events, long polling, a chunked download), goes to the client as
//!   the handler produces it and is never stored, as Django never caches a streaming response;
//! - **fails open**: a backend error or timeout ([`backend_timeout`](CachePageLayer::backend_timeout), 1 s),
//!   or an undecodable entry, is logged and the request is served by the inner service; after a backend
//!   failure the cache is bypassed for a second, then one request at a time tries the backend again
//!   while the others keep bypassing it (a circuit breaker), so a hung backend never holds up a crowd.
//!
//! Request extensions reach the inner service untouched, so axum's `Path`, `State` and `MatchedPath` work
//! behind the layer. Client `Cache-Control: no-cache` requests are not honoured (as in Django).
//!
//! # Stored format and the hit path
//!
//! One bytes blob per page (status, headers, body; versioned and length-prefixed) stored with the
//! backend's raw-bytes calls, and one per URL for the learnt header list; see the `entry` module. An entry
//! that does not decode is a miss and a warning. The body is never copied on a hit.
//!
//! A hit reads the header list and then the page. Learnt lists are memoised in-process for a short time
//! ([`header_list_memo`](CachePageLayer::header_list_memo), 1 s) and within a byte budget
//! ([`memo_max_bytes`](CachePageLayer::memo_max_bytes), 16 MiB), so most hits read the backend once; the
//! price is that an invalidation made by *another* process or layer takes effect here within that time
//! (invalidations through this layer's [`PageInvalidator`] are immediate). On a backend that answers
//! without I/O (the memory backend, or Redis with its client-side cache) a hit is answered inside
//! `Service::call`, with no boxed future; on one that counts its writes
//! ([`RawCache::generation`](cache_core::RawCache::generation): the memory backend) a memoised
//! page is served without reading the backend until something is written.
//!
//! # Tags and soft purges
//!
//! A page can carry tags (surrogate keys): the layer's own ([`CachePageLayer::tag`]) and those of its
//! response's `Cache-Tag` (comma-separated) and `Surrogate-Key` (space-separated) headers, which are taken
//! off the response. [`PageInvalidator::purge_tag`] drops every page of a tag, in every process sharing
//! the cache, with one write: each tag has a generation in the backend, each page records its tags'
//! generations when stored, and a hit reads them again (one read per tag, at most 16 tags a page).
//! [`PageInvalidator::soft_purge_tag`] marks them stale instead: the next request is served the stale
//! page while one regenerates it. Only single-key reads and writes are used, so it works the same on every
//! backend, a Redis Cluster included.
//!
//! # Metrics and traces
//!
//! The layer counts what it does through the [`metrics`](https://docs.rs/metrics) facade; nothing is
//! recorded until the application installs a recorder (a Prometheus exporter, say) before the first
//! request. Every series has the label `cache`, the layer's
//! [`metrics_name`](CachePageLayer::metrics_name) (default: its key prefix, or `default`).
//!
//! | metric | kind | other labels | counts |
//! |---|---|---|---|
//! | `page_cache_requests_total` | counter | `result` | each request once, by how it was answered: `hit`, `stale` (served stale while it is refreshed), `miss` (a variant not stored), `uri_miss` (nothing learnt for the URL yet), `collapsed` (answered from a concurrent request's response), `method` (not GET or HEAD), `bypass` (served without the cache after a backend failure) |
//! | `page_cache_stores_total` | counter | `result`, `reason` | responses `stored`, or `not_stored` with the reason `Cache-Status` gives (`private`, `set-cookie`, `status`, `too-large`, `streaming`, `invalidated`, `session-modified`, `backend-error`, …) |
//! | `page_cache_backend_errors_total` | counter | `op` | backend operations that failed or timed out |
//! | `page_cache_backend_seconds` | histogram | `op` | the time of each backend operation that went over the network |
//! | `page_cache_purges_total` | counter | `kind` | invalidations through [`PageInvalidator`]: `url`, `url_soft`, `tag`, `tag_soft` |
//!
//! Backend operations that go over the network run in a `page_cache.backend` `tracing` span (debug
//! level) with the operation and the key.
//!
//! # Fragments
//!
//! Django's fragment cache for handlers is cache-core's [`FragmentCache`](cache_core::FragmentCache):
//! `get_or_render(name, vary_on, timeout, render)` with Django's `make_template_fragment_key` keys,
//! coalesced per key, and `invalidate(name, vary_on)`.
//!
//! # Header layers and helpers
//!
//! [`NeverCacheLayer`], [`CacheControlLayer`], [`VaryOnHeadersLayer`] and [`ConditionalGetLayer`] mirror
//! Django's `never_cache`, `cache_control`, `vary_on_headers`/`vary_on_cookie` decorators and
//! `ConditionalGetMiddleware`; the functions behind them ([`patch_cache_control`], [`patch_vary_headers`],
//! [`patch_response_headers`], [`add_never_cache_headers`], [`get_max_age`], [`has_vary_header`]) work on any
//! [`http::HeaderMap`].

#![cfg_attr(docsrs, feature(doc_auto_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// `get_ref`, `get_mut` and `into_inner` for a service holding its inner service `S` in `inner`: the
/// accessors every Tower service offers, written once for the crate's three services.
macro_rules! inner_accessors {
    () => {
        /// The inner service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The inner service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// Unwraps the inner service.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}

mod body;
pub mod cache_control;
pub mod conditional;
mod directives;
mod headers;
pub mod page;
mod setting;

pub use body::PageBody;
pub use cache_control::control::CacheControlLayer;
pub use cache_control::never_cache::NeverCacheLayer;
pub use cache_control::service::{
    CacheControlService, NeverCacheService, PatchHeadersService, VaryOnHeadersService,
};
pub use cache_control::vary::VaryOnHeadersLayer;
pub use conditional::layer::ConditionalGetLayer;
pub use conditional::service::ConditionalGetService;
pub use directives::CacheDirectives;
pub use headers::{
    add_never_cache_headers, get_max_age, has_vary_header, patch_cache_control,
    patch_response_headers, patch_vary_headers,
};
pub use page::invalidate::{InvalidateError, PageInvalidator};
pub use page::key::HeaderHashing;
pub use page::layer::CachePageLayer;
pub use page::service::CachePageService;
pub use setting::InvalidSetting;

/// The `Cache-Status` header name (RFC 9211).
pub const CACHE_STATUS: http::HeaderName = http::HeaderName::from_static("cache-status");
