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
use super::fetch::Fallback;
use super::hit::Hit;
use super::rules::{self, RequestFacts, Verdict};
use super::shared::{Shared, Target};
use super::status::{Forward, Forwarded};
use super::store::{store, Storing};
use super::tags::take_tags;
use crate::body::{collect_limited, Collected, PageBody};
use crate::headers::patch_vary_headers;

/// How a request came to ask the inner service.
pub(crate) struct Asking {
    pub(crate) forward: Forward,
    /// The request waited on a concurrent one in vain.
    pub(crate) collapsed: bool,
    /// A stale page to serve instead of a 5xx response or an error (`stale_if_error`).
    pub(crate) fallback: Option<Fallback>,
}

impl Asking {
    /// Asked first-hand (not after waiting), with nothing to fall back on.
    pub(crate) fn new(forward: Forward) -> Self {
        Asking {
            forward,
            collapsed: false,
            fallback: None,
        }
    }
}

/// Asks the inner service and stores its response when the rules allow; `leader` publishes the outcome
/// to the followers of the key's flight. A 5xx response or an error is replaced by the fallback page,
/// when there is one.
pub(crate) async fn update<S, ReqB, ResB>(
    shared: Arc<Shared>,
    mut inner: S,
    mut request: Request<ReqB>,
    target: Target,
    leader: Option<Leader>,
    asking: Asking,
) -> Result<Response<PageBody<ResB>>, S::Error>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: Body,
{
    let Asking {
        forward,
        collapsed,
        fallback,
    } = asking;
    let head = request.method() == http::Method::HEAD;
    let method = request.method().clone();
    let facts = RequestFacts::of(request.headers());
    let request_headers = request.headers().clone();
    let session_use = request.extensions().get::<SessionUse>().cloned();
    request.extensions_mut().insert(shared.invalidator.clone());
    // On an error the leader is dropped, and its followers elect another.
    let response = match (inner.call(request).await, fallback) {
        (Ok(response), Some(fallback)) if response.status().is_server_error() => {
            let code = response.status().as_u16();
            return Ok(serve_stale(&shared, fallback, Some(code), head));
        }
        (Err(_), Some(fallback)) => return Ok(serve_stale(&shared, fallback, None, head)),
        (result, _) => result?,
    };
    let (mut parts, body) = response.into_parts();
    // Taken off every response, stored or not: tags are the cache's business.
    let tags = take_tags(&shared.config.tags, &mut parts.headers);
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
        tags: &tags,
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

/// The stale page instead of the inner service's failure (`fwd_status`: the 5xx it answered, `None` for
/// an error). The failed response is dropped; the followers of the flight, if any, ask for themselves.
fn serve_stale<B: Body>(
    shared: &Shared,
    fallback: Fallback,
    fwd_status: Option<u16>,
    head: bool,
) -> Response<PageBody<B>> {
    shared.metrics.stale_if_error();
    let past = fallback.past.as_secs();
    let status = shared
        .config
        .cache_status
        .as_ref()
        .map(|s| s.stale_if_error(fwd_status, past));
    tracing::warn!(
        status = ?fwd_status,
        seconds_past = past,
        "page cache: the handler failed; serving the stale page (stale-if-error)"
    );
    Hit {
        page: fallback.page,
        now: std::time::SystemTime::now(),
        head,
        status,
    }
    .into_response()
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
