//! [`PatchHeadersFuture`]: the response future shared by the header layers ([`NeverCache`](crate::NeverCache),
//! [`SetCacheControl`](crate::SetCacheControl), [`VaryOnHeaders`](crate::VaryOnHeaders)): the inner future,
//! with the layer's header patch applied to its response.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::{HeaderMap, Response};
use pin_project_lite::pin_project;

use crate::cache_control::CacheDirectives;
use crate::headers::{add_never_cache_headers, patch_cache_control, patch_vary_headers};

/// The header change a layer makes.
#[derive(Debug, Clone)]
pub(crate) enum Patch {
    NeverCache,
    CacheControl(Arc<CacheDirectives>),
    Vary(Arc<[String]>),
}

impl Patch {
    fn apply(&self, headers: &mut HeaderMap) {
        match self {
            Patch::NeverCache => add_never_cache_headers(headers),
            Patch::CacheControl(directives) => patch_cache_control(headers, directives),
            Patch::Vary(names) => patch_vary_headers(headers, names.iter()),
        }
    }
}

pin_project! {
    /// Response future of the header layers: the inner future, then a header patch on its response.
    pub struct PatchHeadersFuture<F> {
        #[pin]
        inner: F,
        patch: Option<Patch>,
    }
}

impl<F> PatchHeadersFuture<F> {
    pub(crate) fn new(inner: F, patch: Patch) -> Self {
        PatchHeadersFuture {
            inner,
            patch: Some(patch),
        }
    }
}

impl<F, B, E> Future for PatchHeadersFuture<F>
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
