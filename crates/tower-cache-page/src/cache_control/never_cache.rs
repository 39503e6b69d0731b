//! [`NeverCacheLayer`]: Django's `@never_cache`.

use tower_layer::Layer;

use super::patch::Patch;
use super::service::NeverCacheService;

/// Marks every response as never to be cached: `Expires` now (when absent), `max-age=0` and
/// `no-cache, no-store, must-revalidate, private` ([`add_never_cache_headers`](crate::add_never_cache_headers)).
///
/// ```
/// use axum::{routing::get, Router};
/// use tower_cache_page::NeverCacheLayer;
///
/// let app: Router = Router::new().route("/account", get(|| async { "private page" }).layer(NeverCacheLayer::new()));
/// # let _ = app;
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[must_use]
pub struct NeverCacheLayer;

impl NeverCacheLayer {
    /// The layer.
    pub fn new() -> Self {
        NeverCacheLayer
    }
}

impl<S> Layer<S> for NeverCacheLayer {
    type Service = NeverCacheService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        NeverCacheService::new(inner, Patch::NeverCache)
    }
}
