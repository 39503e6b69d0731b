//! The response future of [`SessionService`](crate::SessionService): the inner service's future, then the
//! response phase.
//!
//! A hand-written future rather than one boxed `async` block, so that the common cases cost no extra allocation:
//! a request that never touched its session, one that only read it (`Vary: Cookie`), and cookie deletion
//! are finished synchronously when the inner future completes, and so is a save the store applies at once
//! ([`ImmediateSaves`](crate::store::ImmediateSaves): the memory store). Only a response whose save must be
//! **awaited** moves to a boxed future (its state is big).

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http::Response;
use pin_project_lite::pin_project;

use crate::respond::{apply_error_responder, decide, finish_now, finish_with_save, Decision, Now};
use crate::session::Session;

type Saving = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

pin_project! {
    /// The response future of [`SessionService`](crate::SessionService).
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        /// Waiting for the inner service.
        Inner {
            #[pin]
            future: F,
            session: Option<Session>,
        },
        /// Saving the session.
        Saving { future: Saving },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(future: F, session: Session) -> Self {
        ResponseFuture {
            state: State::Inner {
                future,
                session: Some(session),
            },
        }
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Inner { future, session } => {
                    let response = ready!(future.poll(cx))?.map(Body::new);
                    let Some(session) = session.take() else {
                        return Poll::Ready(Ok(response));
                    };
                    let mut response = apply_error_responder(&session, response);
                    if session.is_untouched() {
                        return Poll::Ready(Ok(response));
                    }
                    // Finished here when the store needs no waiting; the save is awaited otherwise,
                    // and when a clone of the session is in use elsewhere (a task the handler spawned).
                    let finished = match session.try_state() {
                        Some(mut state) => match decide(&session, &state, &mut response) {
                            Decision::Done => Now::Finished(response),
                            Decision::Save => finish_now(&session, &mut state, response),
                        },
                        None => Now::MustAwait(response),
                    };
                    match finished {
                        Now::Finished(response) => return Poll::Ready(Ok(response)),
                        Now::MustAwait(response) => {
                            let future = Box::pin(finish_with_save(session, response));
                            this.state.set(State::Saving { future });
                        }
                    }
                }
                StateProj::Saving { future } => {
                    return future.as_mut().poll(cx).map(Ok);
                }
            }
        }
    }
}
