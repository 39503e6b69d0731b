//! The response phase: Django's `UpdateCacheMiddleware`. The inner service is asked; how the session was
//! used, then the [`rules`](super::rules), decide whether its response may be stored and patch its
//! headers; a storable body is read up to the limit and handed to the [store](super::store).

use std::sync::Arc;

use cache_core::sharing::SessionUse;
use http::header::HeaderMap;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::coalesce::{Leader, Outcome};
use super::rules::{self, RequestFacts, Verdict};
use super::shared::{Shared, Target};
use super::status::{Forward, Forwarded};
use super::store::{store, Storing};
use crate::body::{collect_limited, Collected, PageBody};
use crate::headers::patch_vary_headers;

/// Asks the inner service and stores its response when the rules allow; `leader` publishes the outcome
/// to the followers of the key's flight, `collapsed` says this request waited on one in vain.
pub(crate) async fn update<S, ReqB, ResB>(
    shared: Arc<Shared>,
    mut inner: S,
    mut request: Request<ReqB>,
    target: Target,
    leader: Option<Leader>,
    forward: Forward,
    collapsed: bool,
) -> Result<Response<PageBody<ResB>>, S::Error>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: Body,
{
    let method = request.method().clone();
    let facts = RequestFacts::of(request.headers());
    let request_headers = request.headers().clone();
    let session_use = request.extensions().get::<SessionUse>().cloned();
    request.extensions_mut().insert(shared.invalidator.clone());
    // On an error the leader is dropped, and its followers elect another.
    let response = inner.call(request).await?;
    let (mut parts, body) = response.into_parts();
    let publish = |leader: Option<Leader>, outcome: Outcome| {
        if let Some(leader) = leader {
            leader.publish(outcome);
        }
    };
    let not_stored = |detail| Forwarded {
        forward,
        stored: false,
        collapsed,
        detail: Some(detail),
    };
    // A session layer outside this one marks the response only after it left here: ask it directly.
    let keyed_cookies = shared.config.variant.cookies.as_deref();
    if let Some(reason) =
        session_use.and_then(|usage| mark_session_use(&usage, keyed_cookies, &mut parts.headers))
    {
        publish(leader, Outcome::NotStored);
        shared.mark(&mut parts.headers, not_stored(reason));
        return Ok(Response::from_parts(parts, PageBody::inner(body)));
    }
    let timeout = match rules::decide(
        facts,
        parts.status,
        &mut parts.headers,
        shared.config.policy,
    ) {
        Verdict::Store(timeout) => timeout,
        Verdict::Unchanged(reason) | Verdict::PatchedOnly(reason) => {
            publish(leader, Outcome::NotStored);
            shared.mark(&mut parts.headers, not_stored(reason));
            return Ok(Response::from_parts(parts, PageBody::inner(body)));
        }
    };
    let body = match collect_limited(body, shared.config.max_body).await {
        Collected::Complete(body) => body,
        Collected::PassThrough(body, unstored) => {
            publish(leader, Outcome::NotStored);
            shared.mark(&mut parts.headers, not_stored(unstored.detail()));
            return Ok(Response::from_parts(parts, body));
        }
    };
    let storing = Storing {
        method: &method,
        target: &target,
        request_headers: &request_headers,
        parts: &parts,
        body: &body,
        timeout,
    };
    let (stored, detail) = match store(&shared, storing).await {
        Ok(Some(published)) => {
            publish(leader, Outcome::Stored(Arc::new(published)));
            (true, None)
        }
        Ok(None) => {
            publish(leader, Outcome::NotStored);
            (false, Some("invalidated"))
        }
        Err(_) => {
            publish(leader, Outcome::NotStored);
            (false, Some("backend-error"))
        }
    };
    let how = Forwarded {
        forward,
        stored,
        collapsed,
        detail,
    };
    shared.mark(&mut parts.headers, how);
    Ok(Response::from_parts(parts, PageBody::full(body)))
}

/// What the session's use means for a response on its way to be stored: a session that was read makes the
/// response vary on `Cookie` (added here, as the session layer outside would add it too late); one that was
/// modified makes it one visitor's own, never stored (the reason is returned). When pages are keyed on
/// named cookies only (`keyed_cookies`), a page that read a session whose cookie is not one of them is not
/// stored either: its key would not tell sessions apart.
fn mark_session_use(
    usage: &SessionUse,
    keyed_cookies: Option<&[String]>,
    headers: &mut HeaderMap,
) -> Option<&'static str> {
    if usage.modified() {
        return Some("session-modified");
    }
    if usage.accessed() {
        if let (Some(keyed), Some(cookie)) = (keyed_cookies, usage.cookie_name()) {
            if !keyed.iter().any(|name| name == cookie) {
                return Some("session-cookie-unkeyed");
            }
        }
        patch_vary_headers(headers, ["Cookie"]);
    }
    None
}
