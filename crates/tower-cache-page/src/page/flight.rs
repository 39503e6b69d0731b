//! Misses and refreshes through the key's flight ([`coalesce`](super::coalesce)): one request per key asks
//! the inner service, the others wait for its outcome and answer with the stored entry when their own key
//! matches it, else ask the inner service themselves. A stale page is refreshed the same way, in the
//! background.

use std::sync::Arc;

use http::{Method, Request, Response};
use http_body::Body;

use super::coalesce::{Follower, Leader, Outcome, Published, Role};
use super::entry::decode_page;
use super::fetch::{flight_key, Found, Miss, Refresh};
use super::hit::Hit;
use super::key::Hex;
use super::lease::{self, Taken};
use super::lookup::find;
use super::shared::{SendBody, SendService, Shared, Target};
use super::status::{Forward, Forwarded};
use super::update::{update, Asking};
use crate::body::PageBody;

/// How often a follower whose leader gave up tries to rejoin before going on alone.
const REJOIN_ATTEMPTS: usize = 3;

/// What a follower got from waiting.
enum Waited {
    Outcome(Outcome),
    Abandoned,
    TimedOut,
}

async fn wait(shared: &Shared, follower: Follower) -> Waited {
    match tokio::time::timeout(shared.config.coalesce_timeout, follower.wait()).await {
        Ok(Some(outcome)) => Waited::Outcome(outcome),
        Ok(None) => Waited::Abandoned,
        Err(_) => Waited::TimedOut,
    }
}

/// A miss: one request per key asks the inner service, the others wait for it.
pub(crate) async fn miss<S, ReqB, ResB>(
    shared: Arc<Shared>,
    inner: S,
    request: Request<ReqB>,
    miss: Miss,
) -> Result<Response<PageBody<ResB>>, S::Error>
where
    S: SendService<ReqB, ResB>,
    ReqB: Send + 'static,
    ResB: SendBody,
{
    let Miss {
        target,
        list,
        forward,
        fallback,
    } = miss;
    let flight = match &list {
        Some(memoised) => shared.page_key(
            request.method(),
            &target.url,
            &memoised.list,
            request.headers(),
        ),
        None => shared
            .header_key(&target.url)
            .map(|key| format!("{key} {}", request.method())),
    }
    .map(|key| flight_key(&key, target.seen));
    // Without a key there is nothing to store, nor to wait for.
    let Ok(flight) = flight else {
        let asking = Asking {
            fallback,
            ..Asking::new(forward)
        };
        return update(shared, inner, request, target, None, asking).await;
    };
    let mut fallback = fallback;
    for _ in 0..REJOIN_ATTEMPTS {
        let follower = match shared.flights.join(flight.clone()) {
            Role::Leader(leader) => {
                let asking = Asking {
                    fallback: fallback.take(),
                    ..Asking::new(forward)
                };
                return lead(shared, inner, request, target, leader, asking, &flight).await;
            }
            Role::Follower(follower) => follower,
        };
        match wait(&shared, follower).await {
            Waited::Outcome(Outcome::Stored(published)) => {
                if let Some(response) =
                    from_published(&shared, &published, &request, &target.url, forward)
                {
                    return Ok(response);
                }
                break;
            }
            // Another process stored it: look it up; if it is not there after all, rejoin.
            Waited::Outcome(Outcome::Elsewhere) => {
                let (method, uri, headers) = (request.method(), request.uri(), request.headers());
                if let Found::Hit(hit, _) = find(&shared, method, uri, headers).await {
                    return Ok(hit.into_response());
                }
                continue;
            }
            Waited::Outcome(Outcome::NotStored) | Waited::TimedOut => break,
            Waited::Abandoned => continue,
        }
    }
    let asking = Asking {
        forward,
        collapsed: true,
        fallback,
    };
    update(shared, inner, request, target, None, asking).await
}

/// The flight's leader in this process. Across processes one leader goes on (see `lease.rs`): this one
/// takes the flight's lease and asks the inner service, or waits for the process holding it to store the
/// page (serving its stale page at once when it has one).
async fn lead<S, ReqB, ResB>(
    shared: Arc<Shared>,
    inner: S,
    request: Request<ReqB>,
    target: Target,
    leader: Leader,
    mut asking: Asking,
    flight: &str,
) -> Result<Response<PageBody<ResB>>, S::Error>
where
    S: SendService<ReqB, ResB>,
    ReqB: Send + 'static,
    ResB: SendBody,
{
    let lease = match lease::take(&shared, flight).await {
        Taken::Mine(lease) => Some(lease),
        Taken::Unavailable => None,
        Taken::Elsewhere(key) => {
            let head = request.method() == Method::HEAD;
            if let Some(fallback) = asking.fallback.take() {
                leader.publish(Outcome::Elsewhere);
                let status = shared
                    .config
                    .cache_status
                    .as_ref()
                    .map(|s| s.stale(fallback.past.as_secs()));
                shared.metrics.hit(true);
                let now = std::time::SystemTime::now();
                return Ok(Hit {
                    page: fallback.page,
                    now,
                    head,
                    status,
                }
                .into_response());
            }
            let parts = (request.method(), request.uri(), request.headers());
            match lease::wait(&shared, parts, key).await {
                lease::Waited::Found(hit) => {
                    leader.publish(Outcome::Elsewhere);
                    return Ok(hit.into_response());
                }
                lease::Waited::Lead(lease) => Some(lease),
                lease::Waited::GiveUp => None,
            }
        }
    };
    if let Some(lease) = lease {
        // The lease may have been let go by a process that has just stored the page (after this
        // request's lookup, or its last look while waiting): look once more before rendering it again.
        let (method, uri, headers) = (request.method(), request.uri(), request.headers());
        if let Found::Hit(hit, None) = find(&shared, method, uri, headers).await {
            lease.release().await;
            leader.publish(Outcome::Elsewhere);
            return Ok(hit.into_response());
        }
        let response = update(shared, inner, request, target, Some(leader), asking).await;
        lease.release().await;
        return response;
    }
    update(shared, inner, request, target, Some(leader), asking).await
}

/// Answers a follower with its leader's stored entry, when the follower's own key is the same page.
fn from_published<ReqB, ResB: Body>(
    shared: &Shared,
    published: &Published,
    request: &Request<ReqB>,
    url: &Hex,
    forward: Forward,
) -> Option<Response<PageBody<ResB>>> {
    let mine = shared.page_key(
        request.method(),
        url,
        &published.header_list,
        request.headers(),
    );
    if mine.ok()? != published.page_key {
        return None;
    }
    let page = decode_page(published.entry.clone()).ok()?;
    let how = Forwarded {
        forward,
        stored: false,
        collapsed: true,
        detail: None,
    };
    shared.metrics.forwarded(how);
    let status = shared
        .config
        .cache_status
        .as_ref()
        .map(|s| s.forwarded(how));
    let head = request.method() == Method::HEAD;
    Some(Hit::published(page, head, status).into_response())
}

/// Starts a background refresh of a stale page, unless one is under way.
pub(crate) fn revalidate<S, ReqB, ResB>(
    shared: &Arc<Shared>,
    inner: S,
    request: Request<ReqB>,
    refresh: Refresh,
) where
    S: SendService<ReqB, ResB>,
    ReqB: Send + 'static,
    ResB: SendBody,
{
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::debug!("page cache: no Tokio runtime to refresh a stale page in");
        return;
    };
    let flight = refresh.flight();
    let Refresh {
        target,
        page_key,
        stale_since,
    } = refresh;
    if let Role::Leader(leader) = shared.flights.join(flight) {
        let shared = Arc::clone(shared);
        runtime.spawn(async move {
            // A request that read the stale page just before a refresh stored the new one would refresh
            // it again: look first.
            if refreshed_since(&shared, &page_key, stale_since).await {
                return;
            }
            let asking = Asking::new(Forward::Miss);
            let _ = update(shared, inner, request, target, Some(leader), asking).await;
        });
    }
}

/// Whether the page under `page_key` was stored after `since` (another request refreshed it).
async fn refreshed_since(shared: &Shared, page_key: &str, since: std::time::SystemTime) -> bool {
    let Ok(read) = shared.guard.read(page_key, "get page").await else {
        return false;
    };
    read.blob
        .and_then(|blob| decode_page(blob).ok())
        .is_some_and(|page| page.stored_at > since)
}
