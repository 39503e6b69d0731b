//! [`VaryOnHeadersLayer`]: Django's `@vary_on_headers(...)` and `@vary_on_cookie`.

use std::sync::Arc;

use tower_layer::Layer;

use super::service::{Patch, VaryOnHeadersService};

/// Adds request header names to every response's `Vary` header by the rules of
/// [`patch_vary_headers`](crate::patch_vary_headers). Put it inside a
/// [`CachePageLayer`](crate::CachePageLayer) so the page cache keys on those headers.
///
/// ```
/// use axum::{routing::get, Router};
/// use tower_cache_page::VaryOnHeadersLayer;
///
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hello" }).layer(VaryOnHeadersLayer::new(["Accept-Language"])))
///     .route("/me", get(|| async { "me" }).layer(VaryOnHeadersLayer::cookie()));
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct VaryOnHeadersLayer {
    names: Arc<[String]>,
}

impl VaryOnHeadersLayer {
    /// Varies on these request headers.
    pub fn new<I, N>(names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        VaryOnHeadersLayer {
            names: names.into_iter().map(Into::into).collect(),
        }
    }

    /// Varies on `Cookie` (Django's `@vary_on_cookie`).
    pub fn cookie() -> Self {
        VaryOnHeadersLayer::new(["Cookie"])
    }
}

impl<S> Layer<S> for VaryOnHeadersLayer {
    type Service = VaryOnHeadersService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let patch = Patch::Vary(Arc::clone(&self.names));
        VaryOnHeadersService::new(inner, patch)
    }
}
