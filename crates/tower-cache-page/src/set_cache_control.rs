//! [`CacheControlLayer`]: Django's `@cache_control(**kwargs)`.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::cache_control::CacheDirectives;
use crate::patch_future::{Patch, PatchHeadersFuture};

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
    type Service = SetCacheControl<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SetCacheControl {
            inner,
            directives: Arc::clone(&self.directives),
        }
    }
}

/// The service made by [`CacheControlLayer`].
#[derive(Debug, Clone)]
pub struct SetCacheControl<S> {
    inner: S,
    directives: Arc<CacheDirectives>,
}

impl<S> SetCacheControl<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for SetCacheControl<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = PatchHeadersFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let patch = Patch::CacheControl(Arc::clone(&self.directives));
        PatchHeadersFuture::new(self.inner.call(request), patch)
    }
}
