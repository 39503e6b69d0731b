//! The response future of [`ConditionalGetService`](crate::ConditionalGetService).

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::header::{HeaderMap, CACHE_CONTROL, ETAG, LAST_MODIFIED};
use http::response::Parts;
use http::Response;
use http_body::Body;
use http_body_util::combinators::Collect;
use http_body_util::BodyExt;
use pin_project_lite::pin_project;

use super::preconditions::{body_etag, not_modified, precondition_failed, Conditions, Decision};
use crate::body::PageBody;
use crate::headers::parse_http_date;

pin_project! {
    /// Response future of [`ConditionalGetService`](crate::ConditionalGetService): the inner future, then (when an ETag
    /// must be computed) the collection of the body, then the precondition check.
    pub struct ResponseFuture<F, B>
    where
        B: Body,
    {
        #[pin]
        state: State<F, B>,
        conditions: Option<Conditions>,
        max_etag_body: usize,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B>
    where
        B: Body,
    {
        Inner {
            #[pin]
            future: F,
        },
        Collecting {
            parts: Option<Parts>,
            #[pin]
            collect: Collect<B>,
        },
    }
}

impl<F, B: Body> ResponseFuture<F, B> {
    pub(crate) fn new(future: F, conditions: Option<Conditions>, max_etag_body: usize) -> Self {
        ResponseFuture {
            state: State::Inner { future },
            conditions,
            max_etag_body,
        }
    }
}

/// Django's `needs_etag`: no `Cache-Control` directive is exactly `no-store`.
fn needs_etag(headers: &HeaderMap) -> bool {
    !headers.contains_key(ETAG)
        && !headers.get_all(CACHE_CONTROL).iter().any(|value| {
            String::from_utf8_lossy(value.as_bytes())
                .split(',')
                .any(|directive| directive.trim().eq_ignore_ascii_case("no-store"))
        })
}

/// Applies the preconditions to a response.
fn finish<B: Body>(
    conditions: &Conditions,
    parts: Parts,
    body: PageBody<B>,
) -> Response<PageBody<B>> {
    if !parts.status.is_success() {
        return Response::from_parts(parts, body);
    }
    let etag = parts.headers.get(ETAG).and_then(|v| v.to_str().ok());
    let last_modified = parts.headers.get(LAST_MODIFIED).and_then(parse_http_date);
    if etag.is_none() && last_modified.is_none() {
        return Response::from_parts(parts, body);
    }
    match conditions.evaluate(etag, last_modified) {
        Decision::Send => Response::from_parts(parts, body),
        Decision::NotModified => not_modified(&parts.headers, PageBody::empty()),
        Decision::PreconditionFailed => precondition_failed(PageBody::empty()),
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<PageBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Inner { future } => {
                    let response = ready!(future.poll(cx))?;
                    let Some(conditions) = this.conditions.as_ref() else {
                        return Poll::Ready(Ok(response.map(PageBody::inner)));
                    };
                    let (parts, body) = response.into_parts();
                    let size = body.size_hint().exact();
                    let small = size.is_some_and(|n| n > 0 && n <= *this.max_etag_body as u64);
                    if small && needs_etag(&parts.headers) {
                        this.state.set(State::Collecting {
                            parts: Some(parts),
                            collect: body.collect(),
                        });
                        continue;
                    }
                    return Poll::Ready(Ok(finish(conditions, parts, PageBody::inner(body))));
                }
                StateProj::Collecting { parts, collect } => {
                    let collected = ready!(collect.poll(cx));
                    // Always present: `parts` is only taken here, once, as the future completes.
                    let mut parts = parts
                        .take()
                        .unwrap_or_else(|| Response::new(()).into_parts().0);
                    let collected = match collected {
                        Ok(collected) => collected,
                        Err(error) => {
                            return Poll::Ready(Ok(Response::from_parts(
                                parts,
                                PageBody::failed(error),
                            )))
                        }
                    };
                    let trailers = collected.trailers().cloned();
                    let bytes = collected.to_bytes();
                    parts.headers.insert(ETAG, body_etag(&bytes));
                    let body = match trailers {
                        None => PageBody::full(bytes),
                        Some(trailers) => PageBody::with_trailers(bytes, trailers),
                    };
                    let conditions = this.conditions.take().unwrap_or_default();
                    return Poll::Ready(Ok(finish(&conditions, parts, body)));
                }
            }
        }
    }
}
