//! [`ConditionalGetService`]: the service.

use std::task::{Context, Poll};

use http::{Method, Request, Response};
use http_body::Body;
use tower_service::Service;

use super::future::ResponseFuture;
use super::preconditions::Conditions;
use crate::body::PageBody;

/// The service made by [`ConditionalGetLayer`](crate::ConditionalGetLayer); see there.
#[derive(Debug, Clone)]
pub struct ConditionalGetService<S> {
    inner: S,
    max_etag_body: usize,
}

impl<S> ConditionalGetService<S> {
    pub(crate) fn new(inner: S, max_etag_body: usize) -> Self {
        ConditionalGetService {
            inner,
            max_etag_body,
        }
    }

    inner_accessors!();
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for ConditionalGetService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: Body,
{
    type Response = Response<PageBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        // Too late to refuse an unsafe request, and a HEAD body is empty: Django handles GET only.
        let conditions =
            (request.method() == Method::GET).then(|| Conditions::of(request.headers()));
        ResponseFuture::new(self.inner.call(request), conditions, self.max_etag_body)
    }
}
