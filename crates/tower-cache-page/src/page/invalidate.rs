//! [`PageInvalidator`]: drops every stored variant of a URL.
//!
//! Page keys are Django's, the same before and after an invalidation, so invalidation cannot move pages
//! out of reach by changing their keys. Instead every page entry carries the generation of the URL's
//! header list it was stored under, and a page is served only when that is still the list's generation.
//! Invalidating writes an *invalidation mark* in place of the list: a header-list entry with a fresh
//! generation and no names. Every stored variant then carries another generation and is a miss (each is
//! overwritten by the next store of its key, or expires); the request that misses learns the list again
//! under a new generation.
//!
//! The mark, rather than a deletion, is what lets a store that began before the invalidation see it: the
//! store checks that the list's generation is still the one its request saw (see `store.rs`), so a
//! response made before the invalidation is not stored after it. The mark lives as long as the layer's
//! pages can ([`Config::longest_page_life`]); once it expires the URL simply has no list.
//!
//! Each layer memoises header lists for a short time; invalidating through a layer's own invalidator
//! forgets its memo entry after the mark is written, and a list read before that is not memoised again
//! (the memo's epoch). Other layers and processes see the mark when their memo entry expires.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use cache_core::{Cache, Expiry};
use http::{HeaderMap, Uri};

use super::config::Config;
use super::entry::{new_generation, HeaderList};
use super::key::{self, Keys};
use super::memo::HeaderListMemo;
use super::metrics::PageMetrics;

/// Drops the pages a [`CachePageLayer`](crate::CachePageLayer) stored for a URL, e.g. after a handler
/// changed what the URL shows.
///
/// Every handler behind the layer finds one in its request extensions (axum: `Extension<PageInvalidator>`);
/// [`CachePageLayer::invalidator`](crate::CachePageLayer::invalidator) makes one for code elsewhere.
/// Cheap to clone.
///
/// Invalidation replaces the URL's learnt header list with a mark of a new generation. Every variant of the
/// page (one per combination of the headers it varies on) carries the list's old generation, so all of
/// them become unreachable at once, in every process sharing the cache (within the memo's lifetime,
/// [`CachePageLayer::header_list_memo`](crate::CachePageLayer::header_list_memo), for other layers and
/// processes); each is overwritten by the next store of its key, or expires. A response that was being
/// made while the URL was invalidated is not stored.
///
/// ```
/// # use axum::{routing::{get, post}, Extension, Router};
/// # use cache_core::{backends::MemoryBackend, Cache};
/// use tower_cache_page::{CachePageLayer, PageInvalidator};
///
/// async fn publish(Extension(pages): Extension<PageInvalidator>) -> &'static str {
///     // … change the article, then:
///     if let Err(error) = pages.invalidate("example.com", "/articles/1").await {
///         tracing::warn!(%error, "could not invalidate the article page");
///     }
///     "published"
/// }
///
/// let app: Router = Router::new()
///     .route("/articles/{id}", get(|| async { "article" }))
///     .route("/articles/{id}/publish", post(publish))
///     .layer(CachePageLayer::new(Cache::new(MemoryBackend::new())));
/// # let _ = app;
/// ```
#[derive(Clone)]
pub struct PageInvalidator {
    cache: Cache,
    keys: Keys,
    memo: Arc<HeaderListMemo>,
    key_prefix: Arc<str>,
    backend_timeout: Option<Duration>,
    /// How long an invalidation mark lives.
    mark_ttl: Duration,
    metrics: PageMetrics,
}

impl std::fmt::Debug for PageInvalidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageInvalidator")
            .field("key_prefix", &self.key_prefix)
            .finish_non_exhaustive()
    }
}

/// Why an invalidation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidateError {
    /// The URL is not absolute (`scheme://host/path`).
    #[error("not an absolute URL: {0:?}")]
    InvalidUrl(String),
    /// The cache backend failed.
    #[error(transparent)]
    Cache(#[from] cache_core::Error),
    /// The cache backend did not answer within the layer's backend timeout.
    #[error("the cache backend did not answer within {0:?}")]
    Timeout(Duration),
    /// Not a tag: tags are 1 to 128 visible ASCII characters.
    #[error("not a tag (1 to 128 visible ASCII characters): {0:?}")]
    InvalidTag(String),
}

/// The URL digests of `http://{host}{path_and_query}` and `https://…`: the scheme is part of the key, and a
/// server behind a TLS proxy sees `http`.
fn both_schemes(host: &str, path_and_query: &str) -> [key::Hex; 2] {
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    ["http", "https"].map(|scheme| key::url_digest(Some(scheme), host.as_bytes(), path, query))
}

impl PageInvalidator {
    pub(crate) fn new(config: &Config, memo: Arc<HeaderListMemo>, metrics: PageMetrics) -> Self {
        PageInvalidator {
            cache: config.cache.clone(),
            keys: config.keys.clone(),
            memo,
            key_prefix: Arc::clone(&config.key_prefix),
            backend_timeout: config.backend_timeout,
            mark_ttl: config.longest_page_life(),
            metrics,
        }
    }

    /// Drops the pages of `http://{host}{path_and_query}` and `https://{host}{path_and_query}` (the scheme
    /// is part of the key, and a server behind a TLS proxy sees `http`). Resolves to whether anything was
    /// stored for either.
    pub async fn invalidate(
        &self,
        host: &str,
        path_and_query: &str,
    ) -> Result<bool, InvalidateError> {
        let [plain, secure] = both_schemes(host, path_and_query);
        let a = self.drop_url(&plain).await?;
        let b = self.drop_url(&secure).await?;
        self.metrics.purge("url");
        Ok(a || b)
    }

    /// Drops the pages of one absolute URL (`https://example.com/articles/1?page=2`), scheme included.
    pub async fn invalidate_url(&self, url: &str) -> Result<bool, InvalidateError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| InvalidateError::InvalidUrl(url.to_owned()))?;
        if uri.scheme().is_none() || uri.authority().is_none() {
            return Err(InvalidateError::InvalidUrl(url.to_owned()));
        }
        let digest = key::request_url(&uri, &HeaderMap::new());
        let removed = self.drop_url(&digest).await?;
        self.metrics.purge("url");
        Ok(removed)
    }

    /// Drops the pages of the URL a request was for (its `Host` header, path and query, with the scheme
    /// the layer would have used), e.g. from `http::request::Parts` in a handler.
    pub async fn invalidate_request(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<bool, InvalidateError> {
        let digest = key::request_url(uri, headers);
        self.drop_url(&digest).await
    }

    /// Writes the invalidation mark of one URL (see the module docs); whether a learnt list was there.
    async fn drop_url(&self, url: &key::Hex) -> Result<bool, InvalidateError> {
        let header_key = self.keys.header_list(url)?;
        let raw = self.cache.raw();
        let existing = self.bounded(raw.get(&header_key)).await?;
        let removed = existing
            .and_then(|blob| HeaderList::decode(blob).ok())
            .is_some_and(|list| !list.invalidated);
        let mark = HeaderList {
            generation: new_generation(),
            invalidated: true,
            soft: false,
            names: Vec::new(),
        };
        let written = self
            .bounded(raw.set(&header_key, mark.encode(), Expiry::after(self.mark_ttl)))
            .await;
        // After the write: a list this layer reads from now on is the mark, and one read before is not
        // memoised (the memo's epoch moves on).
        self.memo.forget(url);
        written?;
        tracing::debug!(key = %header_key, removed, "page cache: invalidated URL");
        Ok(removed)
    }

    /// Marks the pages of `http://{host}{path_and_query}` and `https://…` stale instead of dropping them:
    /// the next request for each variant is served the stale page at once while one request regenerates
    /// it. Resolves to whether a learnt list was there (a URL with nothing stored has nothing to mark).
    pub async fn soft_invalidate(
        &self,
        host: &str,
        path_and_query: &str,
    ) -> Result<bool, InvalidateError> {
        let [plain, secure] = both_schemes(host, path_and_query);
        let a = self.mark_stale(&plain).await?;
        let b = self.mark_stale(&secure).await?;
        self.metrics.purge("url_soft");
        Ok(a || b)
    }

    /// Gives a URL's learnt list a new generation and the soft flag: every stored variant then carries
    /// another generation and is stale. Nothing is written when no list is there.
    async fn mark_stale(&self, url: &key::Hex) -> Result<bool, InvalidateError> {
        let header_key = self.keys.header_list(url)?;
        let raw = self.cache.raw();
        let existing = self.bounded(raw.get(&header_key)).await?;
        let Some(list) = existing
            .and_then(|blob| HeaderList::decode(blob).ok())
            .filter(|list| !list.invalidated)
        else {
            return Ok(false);
        };
        let marked = HeaderList {
            generation: new_generation(),
            soft: true,
            ..list
        };
        let written = self
            .bounded(raw.set(&header_key, marked.encode(), Expiry::after(self.mark_ttl)))
            .await;
        self.memo.forget(url);
        written?;
        tracing::debug!(key = %header_key, "page cache: marked a URL's pages stale");
        Ok(true)
    }

    /// Drops every page tagged `tag` (by [`CachePageLayer::tag`](crate::CachePageLayer::tag), or a
    /// response's `Cache-Tag` / `Surrogate-Key`), in every process sharing the cache: one write, a new
    /// generation for the tag, which every page stored before carries an older one of. The next request
    /// for each of them is a miss.
    pub async fn purge_tag(&self, tag: &str) -> Result<(), InvalidateError> {
        self.bump_tag(tag, false).await
    }

    /// Marks every page tagged `tag` stale instead of dropping it: the next request for each is served
    /// the stale page at once while one request regenerates it (`Cache-Status` `hit; ttl=-0`), so a purge
    /// of a popular tag does not send every visitor to the handler at once.
    pub async fn soft_purge_tag(&self, tag: &str) -> Result<(), InvalidateError> {
        self.bump_tag(tag, true).await
    }

    async fn bump_tag(&self, tag: &str, soft: bool) -> Result<(), InvalidateError> {
        if !cache_core::tags::is_tag(tag) {
            return Err(InvalidateError::InvalidTag(tag.to_owned()));
        }
        self.bounded(cache_core::tags::purge(
            &self.cache,
            tag,
            soft,
            self.mark_ttl,
        ))
        .await?;
        self.metrics.purge(if soft { "tag_soft" } else { "tag" });
        tracing::debug!(tag, soft, "page cache: purged a tag");
        Ok(())
    }

    /// A backend operation within the layer's backend timeout.
    async fn bounded<T>(
        &self,
        op: impl Future<Output = cache_core::Result<T>>,
    ) -> Result<T, InvalidateError> {
        match self.backend_timeout {
            Some(limit) => Ok(tokio::time::timeout(limit, op)
                .await
                .map_err(|_| InvalidateError::Timeout(limit))??),
            None => Ok(op.await?),
        }
    }
}
