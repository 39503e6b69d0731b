//! [`NeverCacheLayer`]: Django's `@never_cache`.

use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::patch_future::{Patch, PatchHeadersFuture};

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
    type Service = NeverCache<S>;

    fn layer(&self, inner: S) -> Self::Service {
        NeverCache { inner }
    }
}

/// The service made by [`NeverCacheLayer`].
#[derive(Debug, Clone)]
pub struct NeverCache<S> {
    inner: S,
}

impl<S> NeverCache<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for NeverCache<S>
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
        PatchHeadersFuture::new(self.inner.call(request), Patch::NeverCache)
    }
}
