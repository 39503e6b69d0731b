//! [`VaryOnHeadersLayer`]: Django's `@vary_on_headers(...)` and `@vary_on_cookie`.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::patch_future::{Patch, PatchHeadersFuture};

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
    type Service = VaryOnHeaders<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VaryOnHeaders {
            inner,
            names: Arc::clone(&self.names),
        }
    }
}

/// The service made by [`VaryOnHeadersLayer`].
#[derive(Debug, Clone)]
pub struct VaryOnHeaders<S> {
    inner: S,
    names: Arc<[String]>,
}

impl<S> VaryOnHeaders<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for VaryOnHeaders<S>
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
        let patch = Patch::Vary(Arc::clone(&self.names));
        PatchHeadersFuture::new(self.inner.call(request), patch)
    }
}
