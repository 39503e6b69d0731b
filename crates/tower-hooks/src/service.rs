//! [`HooksService`], the service made by [`HooksLayer`](crate::HooksLayer).

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use tower::BoxError;
use tower_service::Service;

use crate::chain;
use crate::future::ResponseFuture;
use crate::middleware::Request;
use crate::shared::Shared;

/// Runs the [`HooksLayer`](crate::HooksLayer)'s middleware around an inner service.
///
/// Accepts any request body (boxed once into [`Body`]) and any response body; always answers with a
/// [`Response`] (`http::Response<Body>`). Errors returned by the inner service's `call` are exceptions (they
/// go through `process_exception`, then become a 500); only `poll_ready` errors are passed on as errors.
#[derive(Clone)]
pub struct HooksService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> HooksService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }

    define_inner_service_accessors!();
}

impl<S: fmt::Debug> fmt::Debug for HooksService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HooksService")
            .field("inner", &self.inner)
            .field(
                "middleware",
                &self
                    .shared
                    .chain
                    .iter()
                    .map(|m| m.name())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for HooksService<S>
where
    S: Service<Request, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    ReqBody: http_body::Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        // The clone that was driven to readiness serves this request; a fresh clone stays behind for the
        // next `poll_ready` (the usual tower pattern for services called from a `'static` future).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        let req = req.map(Body::new);
        ResponseFuture {
            inner: Box::pin(chain::run(shared, inner, req)),
        }
    }
}
