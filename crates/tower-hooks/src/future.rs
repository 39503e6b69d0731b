//! [`ResponseFuture`], the future returned by [`HooksService`](crate::HooksService).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::response::Response;

/// The response future of [`HooksService`](crate::HooksService).
///
/// It is one boxed `async fn` future rather than a hand-written state machine (tower-http's usual
/// `pin_project!` enum): every hook is itself a boxed future behind `dyn Middleware` that borrows the
/// request or response, which a hand-written future could only hold with self-referential `unsafe` code;
/// the chain has a variable length; and one allocation per request buys code that reads like Django's
/// `BaseHandler`. The `hooks` benchmark measures the whole cost.
///
/// It never resolves to `Err`: errors from the inner service's `call` become exceptions (and then responses).
/// The error type is the inner service's, so that `poll_ready` errors still pass through.
pub struct ResponseFuture<E> {
    pub(crate) inner: Pin<Box<dyn Future<Output = Result<Response, E>> + Send + 'static>>,
}

impl<E> Future for ResponseFuture<E> {
    type Output = Result<Response, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<E> fmt::Debug for ResponseFuture<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
