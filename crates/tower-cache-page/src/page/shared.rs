//! [`Shared`]: the settings and state of one layer, shared by every service it makes and their clones; and
//! the small types the request and response phases pass between them.

use std::sync::Arc;

use http::header::HeaderMap;
use http::{Method, Request, Response};
use http_body::Body;
use tower_service::Service;

use super::breaker::Breaker;
use super::coalesce::Flights;
use super::config::Config;
use super::entry::HeaderList;
use super::guard::{Failed, Guard};
use super::invalidate::PageInvalidator;
use super::key::{self, Hex};
use super::memo::{HeaderListMemo, Memoised};
use super::metrics::PageMetrics;
use super::status::Forwarded;
use crate::CACHE_STATUS;

/// The settings and state of a layer, shared by every service it makes and their clones.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) flights: Arc<Flights>,
    pub(crate) invalidator: PageInvalidator,
    pub(crate) memo: Arc<HeaderListMemo>,
    /// The breaker and timeout every backend operation goes through.
    pub(crate) guard: Guard,
    /// The layer's counters and histograms.
    pub(crate) metrics: PageMetrics,
}

/// The URL a request is for: its raw bytes (the memo's key) and the digest of Django's URL (the keys'
/// part); and the header-list generation the request phase saw, which the store checks is still there.
pub(crate) struct Target {
    pub(crate) raw: Vec<u8>,
    pub(crate) url: Hex,
    /// The generation of the header list (or invalidation mark) the request phase read, `None` when
    /// there was none.
    pub(crate) seen: Option<u64>,
}

impl Target {
    /// The target of a request whose URL digest is already known.
    pub(crate) fn of(uri: &http::Uri, headers: &HeaderMap, url: Hex, seen: Option<u64>) -> Self {
        Target {
            raw: key::request_url_buf(uri, headers).into_vec(),
            url,
            seen,
        }
    }
}

impl Shared {
    pub(crate) fn new(config: Config, flights: Arc<Flights>, breaker: Arc<Breaker>) -> Self {
        let memo = Arc::new(HeaderListMemo::new(
            config.header_list_memo,
            config.memo_max_bytes,
        ));
        let metrics = PageMetrics::new(config.metrics_label());
        Shared {
            invalidator: PageInvalidator::new(&config, Arc::clone(&memo), metrics.clone()),
            guard: Guard::new(
                config.cache.clone(),
                breaker,
                config.backend_timeout,
                metrics.clone(),
            ),
            config,
            flights,
            memo,
            metrics,
        }
    }

    /// The same flights and breaker with other settings.
    pub(crate) fn reconfigured(&self, config: Config) -> Self {
        let breaker = Arc::clone(self.guard.breaker());
        Shared::new(config, Arc::clone(&self.flights), breaker)
    }

    /// The bytes the header-list memo keeps alive.
    #[cfg(test)]
    pub(crate) fn memo_held_bytes(&self) -> usize {
        self.memo.held_bytes()
    }

    /// The made key of a URL's header list; a key the cache refuses is logged.
    pub(crate) fn header_key(&self, url: &Hex) -> Result<String, Failed> {
        self.config.keys.header_list(url).map_err(refused)
    }

    /// The made key of the page a request with `request_headers` gets under `list`.
    pub(crate) fn page_key(
        &self,
        method: &Method,
        url: &Hex,
        list: &HeaderList,
        request_headers: &HeaderMap,
    ) -> Result<String, Failed> {
        let variant = key::variant(&list.names, request_headers, &self.config.variant);
        let made = self.config.keys.page(method, url, &variant);
        made.map_err(refused)
    }

    /// Memoises a URL's list, read from the backend after the memo's epoch was `since`, with its GET page
    /// key when that is the same for every request.
    pub(crate) fn remember(&self, since: u64, target: &Target, list: HeaderList) -> Arc<Memoised> {
        let get_key = list.names.is_empty().then(|| {
            let variant = key::variant(&[], &HeaderMap::new(), &self.config.variant);
            let made = self.config.keys.page(&Method::GET, &target.url, &variant);
            made.ok()
        });
        self.memo
            .put(since, &target.raw, target.url, list, get_key.flatten())
    }

    /// Reports a response the inner service gave: to the metrics, and in `Cache-Status` when the header
    /// is enabled.
    pub(crate) fn mark(&self, headers: &mut HeaderMap, how: Forwarded) {
        self.metrics.forwarded(how);
        self.set_status(headers, how);
    }

    /// Reports a response served without the cache after a cache failure (the backend failed, or the
    /// breaker keeps it away).
    pub(crate) fn mark_bypass(&self, headers: &mut HeaderMap, how: Forwarded) {
        self.metrics.bypassed();
        self.set_status(headers, how);
    }

    fn set_status(&self, headers: &mut HeaderMap, how: Forwarded) {
        if let Some(status) = &self.config.cache_status {
            headers.insert(CACHE_STATUS, status.forwarded(how));
        }
    }
}

/// A key the cache refused to make (too long, or a character the backend rejects): logged, and the
/// request goes on without the cache.
fn refused(error: cache_core::Error) -> Failed {
    tracing::warn!(%error, "page cache: no valid cache key; serving without the cache");
    Failed
}

/// The bounds the request phase puts on the inner service, named once: the service and its futures move
/// between tasks (coalescing followers, background revalidation).
pub(crate) trait SendService<ReqB, ResB>:
    Service<Request<ReqB>, Response = Response<ResB>, Future: Send + 'static, Error: Send + 'static>
    + Send
    + 'static
{
}

impl<T, ReqB, ResB> SendService<ReqB, ResB> for T
where
    T: Service<Request<ReqB>, Response = Response<ResB>> + Send + 'static,
    T::Future: Send + 'static,
    T::Error: Send + 'static,
{
}

/// Response bodies the layer can buffer and hand to other tasks.
pub(crate) trait SendBody: Body<Data: Send, Error: Send> + Send + 'static {}

impl<B> SendBody for B
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Send,
{
}
