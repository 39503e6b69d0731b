//! The response future of [`CachePageService`](crate::CachePageService).

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::{HeaderValue, Response};
use http_body::Body;
use pin_project_lite::pin_project;

use crate::body::PageBody;
use crate::CACHE_STATUS;

/// A boxed, sendable future.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

pin_project! {
    /// Response future of [`CachePageService`](crate::CachePageService).
    ///
    /// Three shapes, so the common cases allocate nothing:
    ///
    /// - requests the cache does not handle (methods other than GET and HEAD): the inner future;
    /// - hits on a backend that answers without I/O (the memory backend): the response, ready;
    /// - everything else (a backend that needs I/O, a miss): the cache algorithm in one boxed future. It
    ///   awaits the backend (an object-safe, boxed async trait) several times, may wait on a concurrent
    ///   request and reads the body; a hand-written state machine for it would be long and save one
    ///   allocation next to the backend's own and the inner service's.
    pub struct ResponseFuture<F, B, E>
    where
        B: Body,
    {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, E>
    where
        B: Body,
    {
        Passthrough {
            #[pin]
            future: F,
            status: Option<HeaderValue>,
        },
        Cache {
            future: BoxFuture<Result<Response<PageBody<B>>, E>>,
        },
        Ready {
            response: Option<Response<PageBody<B>>>,
        },
    }
}

impl<F, B: Body, E> ResponseFuture<F, B, E> {
    pub(crate) fn passthrough(future: F, status: Option<HeaderValue>) -> Self {
        ResponseFuture {
            kind: Kind::Passthrough { future, status },
        }
    }

    pub(crate) fn ready(response: Response<PageBody<B>>) -> Self {
        ResponseFuture {
            kind: Kind::Ready {
                response: Some(response),
            },
        }
    }

    pub(crate) fn cache(future: BoxFuture<Result<Response<PageBody<B>>, E>>) -> Self {
        ResponseFuture {
            kind: Kind::Cache { future },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<PageBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Passthrough { future, status } => {
                let mut response = ready!(future.poll(cx))?.map(PageBody::inner);
                if let Some(status) = status.take() {
                    response.headers_mut().insert(CACHE_STATUS, status);
                }
                Poll::Ready(Ok(response))
            }
            KindProj::Cache { future } => future.as_mut().poll(cx),
            KindProj::Ready { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                // Polled after completion: the contract of `Future` allows anything but undefined
                // behaviour; staying pending is the quiet choice.
                None => Poll::Pending,
            },
        }
    }
}
