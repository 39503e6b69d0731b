//! What the page cache did, counted through the [`metrics`] facade: the application installs a recorder
//! (Prometheus, StatsD, …) and the layer reports to it; without one every report is a no-op.
//!
//! | metric | kind | labels | counts |
//! |---|---|---|---|
//! | `page_cache_requests_total` | counter | `cache`, `result` | requests by how they were answered: `hit`, `stale` (served stale, refreshed in the background), `miss`, `uri_miss` (nothing learnt for the URL yet), `collapsed` (answered from a concurrent request's response), `method` (not GET/HEAD), `bypass` (the backend failed or is skipped), `stale_if_error` (a stale page instead of the handler's failure) |
//! | `page_cache_stores_total` | counter | `cache`, `result`, `reason` | responses `stored`, or `not_stored` with the reason (`private`, `set-cookie`, `status`, `too-large`, `streaming`, `invalidated`, `session-modified`, `backend-error`, …) |
//! | `page_cache_backend_errors_total` | counter | `cache`, `op` | backend operations that failed or timed out |
//! | `page_cache_backend_seconds` | histogram | `cache`, `op` | how long each backend operation that went over the network took |
//! | `page_cache_purges_total` | counter | `cache`, `kind` | invalidations: `url`, `url_soft`, `tag`, `tag_soft` |
//!
//! `cache` is the layer's [`metrics_name`](crate::CachePageLayer::metrics_name). Handles for the fixed
//! series are registered on the layer's first request: install the recorder before serving.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics::{Counter, Histogram, Label};

use super::status::{Forward, Forwarded};

/// The metric names, for dashboards and tests.
pub(crate) mod names {
    pub(crate) const REQUESTS: &str = "page_cache_requests_total";
    pub(crate) const STORES: &str = "page_cache_stores_total";
    pub(crate) const BACKEND_ERRORS: &str = "page_cache_backend_errors_total";
    pub(crate) const BACKEND_SECONDS: &str = "page_cache_backend_seconds";
    pub(crate) const PURGES: &str = "page_cache_purges_total";
}

/// One layer's handles on its metrics, registered with the recorder on first use (so a layer built
/// and then reconfigured registers no series of its own, and the recorder only needs to be installed
/// before the first request).
#[derive(Clone)]
pub(crate) struct PageMetrics {
    name: metrics::SharedString,
    handles: Arc<OnceLock<Handles>>,
}

/// The handles of the fixed series.
struct Handles {
    hit: Counter,
    stale: Counter,
    miss: Counter,
    uri_miss: Counter,
    collapsed: Counter,
    method: Counter,
    bypass: Counter,
    stale_if_error: Counter,
    stored: Counter,
}

impl std::fmt::Debug for PageMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageMetrics")
            .field("name", &&*self.name)
            .finish_non_exhaustive()
    }
}

impl PageMetrics {
    /// The metrics of a layer labelled `cache = name`.
    pub(crate) fn new(name: &str) -> Self {
        PageMetrics {
            name: metrics::SharedString::from(name.to_owned()),
            handles: Arc::default(),
        }
    }

    fn handles(&self) -> &Handles {
        self.handles.get_or_init(|| {
            let name = &self.name;
            let request = |result: &'static str| {
                metrics::counter!(names::REQUESTS, "cache" => name.clone(), "result" => result)
            };
            Handles {
                hit: request("hit"),
                stale: request("stale"),
                miss: request("miss"),
                uri_miss: request("uri_miss"),
                collapsed: request("collapsed"),
                method: request("method"),
                bypass: request("bypass"),
                stale_if_error: request("stale_if_error"),
                stored: metrics::counter!(
                    names::STORES, "cache" => name.clone(), "result" => "stored", "reason" => ""
                ),
            }
        })
    }

    /// A request answered from a stored page, fresh or stale.
    pub(crate) fn hit(&self, stale: bool) {
        let handles = self.handles();
        if stale {
            handles.stale.increment(1);
        } else {
            handles.hit.increment(1);
        }
    }

    /// A request passed through untouched (not GET or HEAD).
    pub(crate) fn method(&self) {
        self.handles().method.increment(1);
    }

    /// A request the inner service answered: why it was asked, and what became of its response.
    pub(crate) fn forwarded(&self, how: Forwarded) {
        let handles = self.handles();
        let request = match (how.collapsed, how.forward) {
            (true, _) => &handles.collapsed,
            (false, Forward::UriMiss) => &handles.uri_miss,
            (false, Forward::Miss) => &handles.miss,
        };
        request.increment(1);
        if how.stored {
            handles.stored.increment(1);
        } else if let Some(reason) = how.detail {
            metrics::counter!(
                names::STORES,
                "cache" => self.name.clone(),
                "result" => "not_stored",
                "reason" => reason
            )
            .increment(1);
        }
    }

    /// A backend operation (`op`: `"page"`, `"header list"`, …) that went over the network: its time,
    /// and whether it failed.
    pub(crate) fn backend(&self, op: &'static str, took: Duration, failed: bool) {
        let labels = [
            Label::new("cache", self.name.clone()),
            Label::from_static_parts("op", op),
        ];
        let histogram: Histogram = metrics::histogram!(names::BACKEND_SECONDS, labels.iter());
        histogram.record(took.as_secs_f64());
        if failed {
            metrics::counter!(names::BACKEND_ERRORS, labels.iter()).increment(1);
        }
    }

    /// A stale page served because the inner service failed.
    pub(crate) fn stale_if_error(&self) {
        self.handles().stale_if_error.increment(1);
    }

    /// A request served without the cache after a cache failure.
    pub(crate) fn bypassed(&self) {
        self.handles().bypass.increment(1);
    }

    /// An invalidation of `kind` (`"url"`, `"url_soft"`, `"tag"`, `"tag_soft"`).
    pub(crate) fn purge(&self, kind: &'static str) {
        metrics::counter!(names::PURGES, "cache" => self.name.clone(), "kind" => kind).increment(1);
    }
}
