//! [`SessionService`]: the middleware made by [`SessionLayer`](crate::SessionLayer).

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http::{Request, Response};
use tower_service::Service;

use crate::cookie::find_cookie;
use crate::future::ResponseFuture;
use crate::session::Session;
use crate::shared::Shared;

/// Puts a lazy [`Session`] into each request and applies the response rules to what the inner service
/// answers. The request phase reads only the `Cookie` header: no store access, only
/// the small per-request state.
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> fmt::Debug for SessionService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionService")
            .field("store", &self.shared.store.name())
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl<S> SessionService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        SessionService { inner, shared }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably (e.g. to reconfigure it in place).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, this layer removed.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let cookie = find_cookie(request.headers(), &self.shared.config.cookie_name);
        let session = Session::new(Arc::clone(&self.shared), cookie);
        // The session travels as a `SessionUse`, which the `Session` extractor turns back into the session:
        // a page cache inside this layer sees the response before the `Vary: Cookie` and `Set-Cookie` added
        // here, and reads how the session was used from it instead. One extension, not two.
        request.extensions_mut().insert(session.usage());
        ResponseFuture::new(self.inner.call(request), session)
    }
}
