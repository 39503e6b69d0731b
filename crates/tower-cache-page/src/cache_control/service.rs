//! [`PatchHeadersService`]: the one service behind the three header layers.
//!
//! [`NeverCacheLayer`](crate::NeverCacheLayer), [`CacheControlLayer`](crate::CacheControlLayer) and
//! [`VaryOnHeadersLayer`](crate::VaryOnHeadersLayer) differ only in the patch they make to a response's
//! headers, so they share one service holding that patch (a private enum), and one response future. The
//! names [`NeverCacheService`], [`CacheControlService`] and [`VaryOnHeadersService`] are aliases of it:
//! a generic service over a patch trait would add a public trait and three public patch types for no gain,
//! as the patch is only matched once per response.

use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::future::ResponseFuture;
use super::patch::Patch;

/// The service made by the header layers: the inner service, then the layer's patch on every response's
/// headers. See [`NeverCacheLayer`](crate::NeverCacheLayer), [`CacheControlLayer`](crate::CacheControlLayer)
/// and [`VaryOnHeadersLayer`](crate::VaryOnHeadersLayer).
#[derive(Debug, Clone)]
pub struct PatchHeadersService<S> {
    inner: S,
    patch: Patch,
}

/// The service made by [`NeverCacheLayer`](crate::NeverCacheLayer).
pub type NeverCacheService<S> = PatchHeadersService<S>;

/// The service made by [`CacheControlLayer`](crate::CacheControlLayer).
pub type CacheControlService<S> = PatchHeadersService<S>;

/// The service made by [`VaryOnHeadersLayer`](crate::VaryOnHeadersLayer).
pub type VaryOnHeadersService<S> = PatchHeadersService<S>;

impl<S> PatchHeadersService<S> {
    pub(crate) fn new(inner: S, patch: Patch) -> Self {
        PatchHeadersService { inner, patch }
    }

    inner_accessors!();
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for PatchHeadersService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        ResponseFuture::new(self.inner.call(request), self.patch.clone())
    }
}
