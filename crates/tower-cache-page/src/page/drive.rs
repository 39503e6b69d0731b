//! The two drivers of the request phase ([`Fetch`]): [`fetch_now`] answers its reads in-process inside
//! `Service::call`, so a hit on the memory backend needs no future at all; [`fetch`] awaits them through
//! the breaker and the backend timeout, and also takes over whatever the synchronous driver gave up on.

use std::sync::Arc;

use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::fetch::{Fetch, Found, Step};
use super::flight::{miss, revalidate};
use super::guard::Read;
use super::lookup::find;
use super::shared::{SendBody, SendService, Shared};
use super::status::{Forward, Forwarded};
use crate::body::PageBody;

/// Runs the request phase with in-process reads: `None` when a read needs I/O, failed, or the breaker is
/// not closed (the asynchronous driver then decides: it bypasses the cache, or makes this request the
/// probe of a failed backend).
#[inline(always)]
pub(crate) fn fetch_now<B>(shared: &Shared, request: &Request<B>) -> Option<Found> {
    if !shared.guard.is_closed() {
        return None;
    }
    let mut fetch = Fetch::new(shared, request);
    let mut step = fetch.start();
    loop {
        let read = match step {
            Step::Read { key, .. } => Read {
                blob: shared.guard.read_now(key)?,
                in_process: true,
            },
            Step::Done(Found::Failed) => return None,
            Step::Done(found) => return Some(found),
        };
        step = fetch.resume(read);
    }
}

/// Runs the request phase with awaited reads, then answers: from the cache, by way of the inner service
/// (a miss), or without the cache (a failure).
pub(crate) async fn fetch<S, ReqB, ResB>(
    shared: Arc<Shared>,
    inner: S,
    request: Request<ReqB>,
) -> Result<Response<PageBody<ResB>>, S::Error>
where
    S: SendService<ReqB, ResB>,
    ReqB: Send + 'static,
    ResB: SendBody,
{
    if shared.guard.bypassing() {
        return Box::pin(bypass(&shared, inner, request)).await;
    }
    let found = find(&shared, request.method(), request.uri(), request.headers()).await;
    match found {
        Found::Hit(hit, refresh) => {
            if let Some(refresh) = refresh {
                revalidate(&shared, inner, request, *refresh);
            }
            Ok(hit.into_response())
        }
        // The miss path is boxed on its own, so the hit path's future stays small.
        Found::Miss(lookup) => Box::pin(miss(shared, inner, request, lookup)).await,
        Found::Failed => Box::pin(bypass(&shared, inner, request)).await,
    }
}

/// Serves without the cache after a cache failure.
async fn bypass<S, ReqB, ResB>(
    shared: &Shared,
    mut inner: S,
    mut request: Request<ReqB>,
) -> Result<Response<PageBody<ResB>>, S::Error>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: Body,
{
    request.extensions_mut().insert(shared.invalidator.clone());
    let mut response = inner.call(request).await?.map(PageBody::inner);
    let how = Forwarded {
        forward: Forward::Miss,
        stored: false,
        collapsed: false,
        detail: Some("backend-error"),
    };
    shared.mark_bypass(response.headers_mut(), how);
    Ok(response)
}
