//! [`ResponseFuture`]: the response future shared by the header layers ([`NeverCacheService`],
//! [`CacheControlService`], [`VaryOnHeadersService`]): the inner future, with the layer's header patch
//! applied to its response.
//!
//! [`NeverCacheService`]: crate::NeverCacheService
//! [`CacheControlService`]: crate::CacheControlService
//! [`VaryOnHeadersService`]: crate::VaryOnHeadersService

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::Response;
use pin_project_lite::pin_project;

use super::patch::Patch;

pin_project! {
    /// Response future of the header layers: the inner future, then a header patch on its response.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        patch: Option<Patch>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, patch: Patch) -> Self {
        ResponseFuture {
            inner,
            patch: Some(patch),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if let Some(patch) = this.patch.take() {
            patch.apply(response.headers_mut());
        }
        Poll::Ready(Ok(response))
    }
}
