//! [`CacheControlLayer`]: Django's `@cache_control(**kwargs)`.

use std::sync::Arc;

use tower_layer::Layer;

use super::patch::Patch;
use super::service::CacheControlService;
use crate::directives::CacheDirectives;

/// Merges directives into every response's `Cache-Control` by the rules of
/// [`patch_cache_control`](crate::patch_cache_control).
///
/// ```
/// use std::time::Duration;
/// use axum::{routing::get, Router};
/// use tower_cache_page::{CacheControlLayer, CacheDirectives};
///
/// let layer = CacheControlLayer::new(CacheDirectives::new().public().max_age(Duration::from_secs(3600)));
/// let app: Router = Router::new().route("/logo.svg", get(|| async { "<svg/>" }).layer(layer));
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct CacheControlLayer {
    directives: Arc<CacheDirectives>,
}

impl CacheControlLayer {
    /// A layer merging `directives`.
    pub fn new(directives: CacheDirectives) -> Self {
        CacheControlLayer {
            directives: Arc::new(directives),
        }
    }
}

impl<S> Layer<S> for CacheControlLayer {
    type Service = CacheControlService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let patch = Patch::CacheControl(Arc::clone(&self.directives));
        CacheControlService::new(inner, patch)
    }
}
