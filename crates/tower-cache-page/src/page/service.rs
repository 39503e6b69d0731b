//! [`CachePageService`]: the service, and where each request goes.
//!
//! Methods other than GET and HEAD pass through. For GET and HEAD the request phase ([`Fetch`]) runs first
//! with in-process reads, inside `call` (`drive::fetch_now`); a hit is answered there, with no boxed
//! future and no clone of the inner service. Anything that needs I/O, or a failed backend, goes to the
//! asynchronous driver (`drive::fetch`); a miss goes to the key's flight (`flight.rs`) and the response
//! phase (`update.rs`).
//!
//! [`Fetch`]: super::fetch::Fetch

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Method, Request, Response};
use http_body::Body;
use tower_service::Service;

use super::drive::{fetch, fetch_now};
use super::fetch::Found;
use super::flight::{miss, revalidate};
use super::future::ResponseFuture;
use super::shared::Shared;
use crate::body::PageBody;

/// The service made by [`CachePageLayer`](crate::CachePageLayer); see there.
pub struct CachePageService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: Clone> Clone for CachePageService<S> {
    fn clone(&self) -> Self {
        CachePageService {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for CachePageService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachePageService")
            .field("inner", &self.inner)
            .field("key_prefix", &self.shared.config.key_prefix)
            .finish_non_exhaustive()
    }
}

impl<S> CachePageService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        CachePageService { inner, shared }
    }

    inner_accessors!();
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for CachePageService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqB: Send + 'static,
    ResB: Body + Send + 'static,
    ResB::Data: Send,
    ResB::Error: Send,
{
    type Response = Response<PageBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResB, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqB>) -> Self::Future {
        let method = request.method();
        if method != Method::GET && method != Method::HEAD {
            request
                .extensions_mut()
                .insert(self.shared.invalidator.clone());
            self.shared.metrics.method();
            let status = self.shared.config.cache_status.as_ref().map(|s| s.method());
            return ResponseFuture::passthrough(self.inner.call(request), status);
        }
        match fetch_now(&self.shared, &request) {
            Some(Found::Hit(hit, refresh)) => {
                if let Some(refresh) = refresh {
                    let inner = self.take_ready();
                    revalidate(&self.shared, inner, request, *refresh);
                }
                ResponseFuture::ready(hit.into_response())
            }
            Some(Found::Miss(lookup)) => {
                let (shared, inner) = (Arc::clone(&self.shared), self.take_ready());
                ResponseFuture::cache(Box::pin(miss(shared, inner, request, lookup)))
            }
            Some(Found::Failed) | None => {
                let (shared, inner) = (Arc::clone(&self.shared), self.take_ready());
                ResponseFuture::cache(Box::pin(fetch(shared, inner, request)))
            }
        }
    }
}

impl<S: Clone> CachePageService<S> {
    /// The service that was polled ready, for a future to call; a fresh clone stays here.
    fn take_ready(&mut self) -> S {
        let clone = self.inner.clone();
        std::mem::replace(&mut self.inner, clone)
    }
}
