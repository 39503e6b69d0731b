//! [`CachePage`]: the service, and the page-cache algorithm (reference §2.2–§2.4).
//!
//! **Fetch** (GET and HEAD): find the URL's learnt header list (in the memo, else the backend); none → miss.
//! Make the GET page key from the request's values of those headers and read it; a HEAD that misses tries
//! the HEAD key. A fresh hit is answered from the entry (HEAD without the body), with `Age`; the inner
//! service is not called. The fetch runs twice over: [`Shared::try_now`] synchronously inside `call` for
//! backends that answer without I/O, and `fetch` as an async function for the others (and as the fallback).
//!
//! **Miss**: join the key's flight. The leader calls the inner service; followers wait for its outcome and
//! answer with the stored entry when their own key matches it, else call the inner service themselves.
//!
//! **Update**: the [`crate::rules`] decide and patch headers; a storable body is read up to the limit;
//! the header list is learnt (keeping its generation when unchanged) and stored with the page.
//!
//! Any cache failure (error, timeout, undecodable entry) fails open: it is logged, and the request is
//! served by the inner service without the cache. Every backend operation asks the layer's [`Breaker`]
//! first: after a backend error or timeout the cache is bypassed for [`COOLDOWN`](super::breaker::COOLDOWN),
//! then one request at a time probes the backend while the others keep bypassing, so an outage costs at
//! most one slow request per second instead of one per request.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use cache_core::sharing::SessionUse;
use cache_core::Expiry;
use http::header::{
    HeaderMap, HeaderName, HeaderValue, AGE, CONNECTION, CONTENT_LENGTH, TE, TRAILER,
    TRANSFER_ENCODING, UPGRADE,
};
use http::{Method, Request, Response};
use http_body::Body;
use tower_service::Service;

use super::breaker::{Admission, Breaker, Probe};
use super::future::ResponseFuture;
use super::invalidate::PageInvalidator;
use super::layer::Config;
use super::status::Forward;
use crate::body::{collect_limited, Collected, PageBody};
use crate::coalesce::{Flights, Follower, Leader, Outcome, Published, Role};
use crate::entry::{self, decode_page, HeaderList, StoredPage};
use crate::headers::{patch_vary_headers, vary_header_names};
use crate::key::{self, Hex};
use crate::memo::{HeaderListMemo, Memoised};
use crate::rules::{self, RequestFacts, Verdict};
use crate::CACHE_STATUS;

/// How often a follower whose leader gave up tries to rejoin before going on alone.
const REJOIN_ATTEMPTS: usize = 3;

/// The service made by [`CachePageLayer`](super::CachePageLayer); see there.
pub struct CachePage<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: Clone> Clone for CachePage<S> {
    fn clone(&self) -> Self {
        CachePage {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for CachePage<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachePage")
            .field("inner", &self.inner)
            .field("key_prefix", &self.shared.config.key_prefix)
            .finish_non_exhaustive()
    }
}

impl<S> CachePage<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        CachePage { inner, shared }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for CachePage<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqB: Send + 'static,
    ResB: Body + Send + 'static,
    ResB::Data: Send,
    ResB::Error: Send,
{
    type Response = Response<PageBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResB, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqB>) -> Self::Future {
        let method = request.method();
        if method != Method::GET && method != Method::HEAD {
            request
                .extensions_mut()
                .insert(self.shared.invalidator.clone());
            let status = self.shared.config.cache_status.as_ref().map(|s| s.method());
            return ResponseFuture::passthrough(self.inner.call(request), status);
        }
        // A hit on a backend that answers without I/O (the memory backend) is served right here: no boxed
        // future, no clone of the inner service.
        match self.shared.try_now(&request) {
            Now::Hit(response) => ResponseFuture::ready(response),
            Now::Stale(response, target, page_key) => {
                let inner = self.take_ready();
                revalidate(&self.shared, inner, request, target, page_key);
                ResponseFuture::ready(response)
            }
            Now::Miss(target, memoised, forward) => {
                let (shared, inner) = (Arc::clone(&self.shared), self.take_ready());
                ResponseFuture::cache(Box::pin(async move {
                    let list = memoised.as_ref().map(|m| &m.list);
                    miss(shared, inner, request, target, list, forward).await
                }))
            }
            Now::Unknown => {
                let (shared, inner) = (Arc::clone(&self.shared), self.take_ready());
                ResponseFuture::cache(Box::pin(fetch(shared, inner, request)))
            }
        }
    }
}

impl<S: Clone> CachePage<S> {
    /// The service that was polled ready, for a future to call; a fresh clone stays here.
    fn take_ready(&mut self) -> S {
        let clone = self.inner.clone();
        std::mem::replace(&mut self.inner, clone)
    }
}

/// What could be decided without waiting on the backend.
enum Now<B: Body> {
    /// A fresh hit, answered.
    Hit(Response<PageBody<B>>),
    /// A stale hit, answered; the page is to be refreshed in the background.
    Stale(Response<PageBody<B>>, Target, String),
    /// A miss: the inner service must be asked.
    Miss(Target, Option<Arc<Memoised>>, Forward),
    /// The backend needs I/O, or failed: the asynchronous path decides.
    Unknown,
}

/// The settings and state of a layer, shared by every service it makes and their clones.
pub(crate) struct Shared {
    pub(crate) config: Config,
    flights: Arc<Flights>,
    pub(crate) invalidator: PageInvalidator,
    memo: Arc<HeaderListMemo>,
    /// Whether the backend may be asked, after failures.
    breaker: Arc<Breaker>,
}

/// The URL a request is for: its canonical bytes (the memo's key) and their digest (the keys' part).
struct Target {
    raw: Vec<u8>,
    url: Hex,
}

/// A cache operation failed (already logged).
#[derive(Debug)]
struct Failed;

/// What a page lookup found.
enum Lookup {
    Fresh(StoredPage, SystemTime),
    Stale(StoredPage, SystemTime, Duration),
    Miss,
}

impl Shared {
    pub(crate) fn new(config: Config, flights: Arc<Flights>, breaker: Arc<Breaker>) -> Self {
        let memo = Arc::new(HeaderListMemo::new(
            config.header_list_memo,
            config.memo_max_bytes,
        ));
        Shared {
            invalidator: PageInvalidator::new(&config, Arc::clone(&memo)),
            config,
            flights,
            memo,
            breaker,
        }
    }

    fn header_key(&self, url: &Hex) -> String {
        key::header_list_key(&self.config.keys, self.prefix(), url)
    }

    fn page_key(
        &self,
        method: &Method,
        url: &Hex,
        list: &HeaderList,
        request_headers: &HeaderMap,
    ) -> String {
        let variant = key::variant(&list.names, request_headers);
        key::page_key(
            &self.config.keys,
            self.prefix(),
            method,
            url,
            &variant,
            list.generation,
        )
    }

    /// Memoises a URL's list, with its GET page key when that is the same for every request.
    fn remember(&self, target: &Target, list: HeaderList) -> Arc<Memoised> {
        let get_key = list.names.is_empty().then(|| {
            key::page_key(
                &self.config.keys,
                self.prefix(),
                &Method::GET,
                &target.url,
                &key::variant(&[], &HeaderMap::new()),
                list.generation,
            )
        });
        self.memo.put(&target.raw, target.url, list, get_key)
    }

    /// The same flights and breaker with other settings.
    pub(crate) fn reconfigured(&self, config: Config) -> Self {
        Shared::new(config, Arc::clone(&self.flights), Arc::clone(&self.breaker))
    }

    /// The bytes the header-list memo keeps alive.
    #[cfg(test)]
    pub(crate) fn memo_held_bytes(&self) -> usize {
        self.memo.held_bytes()
    }

    fn prefix(&self) -> &str {
        &self.config.key_prefix
    }

    fn cooling_down(&self) -> bool {
        self.breaker.bypassing()
    }

    fn trip(&self) {
        self.breaker.failed();
    }

    /// Asks the breaker for one backend operation: `Err` when the cache is to be bypassed, else the probe
    /// to report on when this operation is the one trying a failed backend again.
    fn admit(&self) -> Result<Option<Probe<'_>>, Failed> {
        match self.breaker.admit() {
            Admission::Go => Ok(None),
            Admission::Probe(probe) => Ok(Some(probe)),
            Admission::Refused => Err(Failed),
        }
    }

    /// Awaits a backend operation within the backend timeout; failures are logged and trip the breaker.
    /// `probe` is this operation's, when it tries a failed backend again: its success closes the breaker,
    /// anything else (failure, timeout, cancellation) re-opens it.
    ///
    /// The operation is polled once first: the memory backend answers at once, so no timer is armed for
    /// it. Only an operation still pending is wrapped in a timeout, kept in this future's own state (the
    /// fetch is boxed once already, so a network backend's hit allocates nothing more for its timer).
    async fn bounded<T>(
        &self,
        probe: Option<Probe<'_>>,
        op: impl Future<Output = cache_core::Result<T>>,
        what: &'static str,
        key: &str,
    ) -> Result<T, Failed> {
        let mut op = std::pin::pin!(op);
        let result = match std::future::poll_fn(|cx| Poll::Ready(op.as_mut().poll(cx))).await {
            Poll::Ready(result) => result,
            Poll::Pending => match self.config.backend_timeout {
                None => op.await,
                Some(limit) => match tokio::time::timeout(limit, op).await {
                    Ok(result) => result,
                    Err(_) => {
                        tracing::warn!(
                            operation = what,
                            key,
                            timeout = ?limit,
                            "page cache backend timed out; serving without the cache"
                        );
                        self.trip();
                        return Err(Failed);
                    }
                },
            },
        };
        match result {
            Ok(value) => {
                answered(probe);
                Ok(value)
            }
            Err(error) => {
                tracing::warn!(
                    operation = what,
                    key,
                    %error,
                    "page cache backend failed; serving without the cache"
                );
                if error.is_backend() {
                    self.trip();
                } else {
                    // The backend answered (the request was at fault): it is reachable.
                    answered(probe);
                }
                Err(Failed)
            }
        }
    }

    /// Reads a made key; synchronously when the backend can (the memory backend), without a future.
    async fn get(&self, made_key: &str, what: &'static str) -> Result<Option<Bytes>, Failed> {
        let probe = self.admit()?;
        let raw = self.config.cache.raw();
        match raw.get_now(made_key) {
            Some(Ok(value)) => {
                answered(probe);
                Ok(value)
            }
            Some(Err(error)) => {
                let failed = std::future::ready(Err(error));
                self.bounded(probe, failed, what, made_key).await
            }
            None => self.bounded(probe, raw.get(made_key), what, made_key).await,
        }
    }

    /// Writes a made key for `ttl` (never zero here: zero timeouts are not stored).
    async fn set(
        &self,
        made_key: &str,
        value: Bytes,
        ttl: Duration,
        what: &'static str,
    ) -> Result<(), Failed> {
        let probe = self.admit()?;
        let op = self
            .config
            .cache
            .raw()
            .set(made_key, value, Expiry::after(ttl));
        self.bounded(probe, op, what, made_key).await
    }

    async fn header_list(&self, header_key: &str) -> Result<Option<HeaderList>, Failed> {
        let Some(blob) = self.get(header_key, "get header list").await? else {
            return Ok(None);
        };
        match HeaderList::decode(blob) {
            Ok(list) => Ok(Some(list)),
            Err(corrupt) => {
                tracing::warn!(key = header_key, reason = %corrupt, "page cache: undecodable header list, treated as a miss");
                Ok(None)
            }
        }
    }

    async fn lookup(&self, page_key: &str) -> Result<Lookup, Failed> {
        let Some(blob) = self.get(page_key, "get page").await? else {
            return Ok(Lookup::Miss);
        };
        Ok(self.judge(page_key, blob))
    }

    /// Decodes an entry and tells fresh from stale.
    fn judge(&self, page_key: &str, blob: Bytes) -> Lookup {
        match decode_page(blob) {
            Ok(page) => self.freshness(page),
            Err(corrupt) => {
                tracing::warn!(key = page_key, reason = %corrupt, "page cache: undecodable page, treated as a miss");
                Lookup::Miss
            }
        }
    }

    /// Like [`Shared::judge`], reusing the memo's decoded copy of the very same blob; `generation` is the
    /// backend's, read before `blob` was.
    #[inline]
    fn judge_memoised(
        &self,
        memoised: &Memoised,
        page_key: &str,
        blob: Bytes,
        generation: Option<u64>,
    ) -> Lookup {
        if let Some(page) = memoised.decoded(&blob) {
            return self.freshness(StoredPage::clone(&page));
        }
        match decode_page(blob.clone()) {
            Ok(page) => {
                self.memo
                    .keep_decoded(memoised, blob, Arc::new(page.clone()), generation);
                self.freshness(page)
            }
            Err(corrupt) => {
                tracing::warn!(key = page_key, reason = %corrupt, "page cache: undecodable page, treated as a miss");
                Lookup::Miss
            }
        }
    }

    #[inline]
    fn freshness(&self, page: StoredPage) -> Lookup {
        let now = SystemTime::now();
        match page.fresh_until {
            Some(until) if until <= now => {
                let past = now.duration_since(until).unwrap_or_default();
                match self.config.stale_while_revalidate {
                    Some(window) if past < window => Lookup::Stale(page, now, past),
                    _ => Lookup::Miss,
                }
            }
            _ => Lookup::Fresh(page, now),
        }
    }

    /// A synchronous read for the hit path, while the breaker is closed: `None` when the backend cannot
    /// answer without I/O; a failure is logged (and trips the breaker) and also gives `None`, leaving the
    /// decision to the async path.
    fn get_now(&self, made_key: &str) -> Option<Option<Bytes>> {
        match self.config.cache.raw().get_now(made_key)? {
            Ok(value) => Some(value),
            Err(error) => {
                tracing::warn!(key = made_key, %error, "page cache backend failed; serving without the cache");
                if error.is_backend() {
                    self.trip();
                }
                None
            }
        }
    }

    /// The fetch phase for backends that answer at once (see [`Now`]).
    #[inline]
    fn try_now<ReqB, B: Body>(&self, request: &Request<ReqB>) -> Now<B> {
        // Unless closed, the async path decides: it bypasses the cache, or makes this request the probe.
        if !self.breaker.is_closed() {
            return Now::Unknown;
        }
        let head = request.method() == Method::HEAD;
        let raw = key::request_url_buf(request.uri(), request.headers());
        let memoised = match self.memo.get(raw.as_slice()) {
            Some(memoised) => memoised,
            None => {
                let target = Target {
                    url: key::digest(raw.as_slice()),
                    raw: raw.into_vec(),
                };
                let header_key = self.header_key(&target.url);
                let Some(blob) = self.get_now(&header_key) else {
                    return Now::Unknown;
                };
                let list = blob.and_then(|blob| match HeaderList::decode(blob) {
                    Ok(list) => Some(list),
                    Err(corrupt) => {
                        tracing::warn!(key = header_key, reason = %corrupt, "page cache: undecodable header list, treated as a miss");
                        None
                    }
                });
                match list {
                    None => return Now::Miss(target, None, Forward::UriMiss),
                    Some(list) => self.remember(&target, list),
                }
            }
        };
        for method in [Method::GET, Method::HEAD] {
            let made;
            let page_key = match (&memoised.get_key, method == Method::GET) {
                (Some(get_key), true) => get_key.as_str(),
                _ => {
                    made = self.page_key(&method, &memoised.url, &memoised.list, request.headers());
                    made.as_str()
                }
            };
            // The memoised GET page: when the backend counts its writes and none happened since the page was
            // decoded, the page is still the stored one and the read is skipped.
            let memoised_get = memoised.get_key.is_some() && method == Method::GET;
            let generation = if memoised_get {
                self.config.cache.raw().generation()
            } else {
                None
            };
            let lookup = match memoised.unchanged(generation) {
                Some(page) => Some(self.freshness(StoredPage::clone(&page))),
                None => {
                    let Some(blob) = self.get_now(page_key) else {
                        return Now::Unknown;
                    };
                    blob.map(|blob| match memoised_get {
                        true => self.judge_memoised(&memoised, page_key, blob, generation),
                        false => self.judge(page_key, blob),
                    })
                }
            };
            match lookup {
                None | Some(Lookup::Miss) => {}
                Some(Lookup::Fresh(page, now)) => {
                    let status = self.config.cache_status.as_ref().map(|s| s.hit());
                    return Now::Hit(serve(page, head, now, status));
                }
                Some(Lookup::Stale(page, now, past)) => {
                    let status = self
                        .config
                        .cache_status
                        .as_ref()
                        .map(|s| s.stale(past.as_secs()));
                    let response = serve(page, head, now, status);
                    if head {
                        return Now::Hit(response);
                    }
                    let target = Target {
                        raw: key::request_url_bytes(request.uri(), request.headers()),
                        url: memoised.url,
                    };
                    return Now::Stale(response, target, page_key.to_owned());
                }
            }
            if !head {
                break;
            }
        }
        let target = Target {
            raw: key::request_url_bytes(request.uri(), request.headers()),
            url: memoised.url,
        };
        Now::Miss(target, Some(memoised), Forward::Miss)
    }

    /// Sets `Cache-Status` when it is enabled.
    fn mark(
        &self,
        headers: &mut HeaderMap,
        forward: Forward,
        stored: bool,
        collapsed: bool,
        detail: Option<&str>,
    ) {
        if let Some(status) = &self.config.cache_status {
            headers.insert(
                CACHE_STATUS,
                status.forwarded(forward, stored, collapsed, detail),
            );
        }
    }
}

/// The backend answered an operation: when it was the probe, the breaker closes.
fn answered(probe: Option<Probe<'_>>) {
    if let Some(probe) = probe {
        probe.succeeded();
    }
}

/// An entry answered from the cache: status, stored headers, `Age`; HEAD gets no body but the length.
#[inline]
fn serve<B: Body>(
    page: StoredPage,
    head: bool,
    now: SystemTime,
    status: Option<HeaderValue>,
) -> Response<PageBody<B>> {
    let StoredPage {
        stored_at,
        status: code,
        mut headers,
        body,
        ..
    } = page;
    let age = now.duration_since(stored_at).map_or(0, |d| d.as_secs());
    headers.insert(AGE, age_value(age));
    if let Some(status) = status {
        headers.insert(CACHE_STATUS, status);
    }
    let body = if head {
        if !headers.contains_key(CONTENT_LENGTH) {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        PageBody::empty()
    } else {
        PageBody::full(body)
    };
    let mut response = Response::new(body);
    *response.status_mut() = code;
    *response.headers_mut() = headers;
    response
}

/// `Age` as a header value; the common small ages without an allocation.
fn age_value(age: u64) -> HeaderValue {
    const SMALL: [&str; 16] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
    ];
    match usize::try_from(age).ok().and_then(|i| SMALL.get(i)) {
        Some(small) => HeaderValue::from_static(small),
        None => HeaderValue::from(age),
    }
}

/// Headers never stored: hop-by-hop ones, `Age` (set on each hit), and for GET the `Content-Length` (the
/// stored body is authoritative).
fn keep_header(method: &Method) -> impl Fn(&HeaderName) -> bool + '_ {
    move |name| {
        let hop_by_hop = name == CONNECTION
            || name == TRANSFER_ENCODING
            || name == UPGRADE
            || name == TE
            || name == TRAILER
            || name.as_str() == "keep-alive"
            || name.as_str() == "proxy-connection";
        !(hop_by_hop
            || name == AGE
            || name == CACHE_STATUS
            || (name == CONTENT_LENGTH && method == Method::GET))
    }
}

/// The bounds the request phase puts on the inner service, named once: the service and its futures move
/// between tasks (coalescing followers, background revalidation).
trait SendService<ReqB, ResB>:
    Service<Request<ReqB>, Response = Response<ResB>, Future: Send + 'static, Error: Send + 'static>
    + Send
    + 'static
{
}

impl<T, ReqB, ResB> SendService<ReqB, ResB> for T
where
    T: Service<Request<ReqB>, Response = Response<ResB>> + Send + 'static,
    T::Future: Send + 'static,
    T::Error: Send + 'static,
{
}

/// Response bodies the layer can buffer and hand to other tasks.
trait SendBody: Body<Data: Send, Error: Send> + Send + 'static {}

impl<B> SendBody for B
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Send,
{
}

/// The request phase: Django's `FetchFromCacheMiddleware`.
async fn fetch<S, ReqB, ResB>(
    shared: Arc<Shared>,
    inner: S,
    request: Request<ReqB>,
) -> Result<Response<PageBody<ResB>>, S::Error>
where
    S: SendService<ReqB, ResB>,
    ReqB: Send + 'static,
    ResB: SendBody,
{
    if shared.cooling_down() {
        return Box::pin(bypass(&shared, inner, request)).await;
    }
    let head = request.method() == Method::HEAD;
    // On the stack when short: a memoised URL (every hit) allocates nothing for it.
    let raw = key::request_url_buf(request.uri(), request.headers());
    let memoised = match shared.memo.get(raw.as_slice()) {
        Some(memoised) => {
            // Moved out, so the buffer is not kept in this future's state across the awaits below.
            drop(raw);
            memoised
        }
        None => {
            let target = Target {
                url: key::digest(raw.as_slice()),
                raw: raw.into_vec(),
            };
            let header_key = shared.header_key(&target.url);
            match shared.header_list(&header_key).await {
                Err(Failed) => return Box::pin(bypass(&shared, inner, request)).await,
                Ok(None) => {
                    return Box::pin(miss(shared, inner, request, target, None, Forward::UriMiss))
                        .await;
                }
                Ok(Some(list)) => shared.remember(&target, list),
            }
        }
    };
    for method in [Method::GET, Method::HEAD] {
        let made;
        let page_key = match (&memoised.get_key, method == Method::GET) {
            (Some(get_key), true) => get_key.as_str(),
            _ => {
                made = shared.page_key(&method, &memoised.url, &memoised.list, request.headers());
                made.as_str()
            }
        };
        match shared.lookup(page_key).await {
            Err(Failed) => return Box::pin(bypass(&shared, inner, request)).await,
            Ok(Lookup::Miss) => {}
            Ok(Lookup::Fresh(page, now)) => {
                let status = shared.config.cache_status.as_ref().map(|s| s.hit());
                return Ok(serve(page, head, now, status));
            }
            Ok(Lookup::Stale(page, now, past)) => {
                let status = shared
                    .config
                    .cache_status
                    .as_ref()
                    .map(|s| s.stale(past.as_secs()));
                if !head {
                    let target = Target {
                        raw: key::request_url_bytes(request.uri(), request.headers()),
                        url: memoised.url,
                    };
                    revalidate(&shared, inner, request, target, page_key.to_owned());
                }
                return Ok(serve(page, head, now, status));
            }
        }
        if !head {
            break;
        }
    }
    let target = Target {
        raw: key::request_url_bytes(request.uri(), request.headers()),
        url: memoised.url,
    };
    // The miss path is boxed on its own, so the hit path's future stays small.
    Box::pin(miss(
        shared,
        inner,
        request,
        target,
        Some(&memoised.list),
        Forward::Miss,
    ))
    .await
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
    shared.mark(
        response.headers_mut(),
        Forward::Miss,
        false,
        false,
        Some("backend-error"),
    );
    Ok(response)
}

/// Starts a background refresh of a stale page, unless one is under way.
fn revalidate<S, ReqB, ResB>(
    shared: &Arc<Shared>,
    inner: S,
    request: Request<ReqB>,
    target: Target,
    page_key: String,
) where
    S: SendService<ReqB, ResB>,
    ReqB: Send + 'static,
    ResB: SendBody,
{
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::debug!("page cache: no Tokio runtime to refresh a stale page in");
        return;
    };
    if let Role::Leader(leader) = shared.flights.join(page_key) {
        let shared = Arc::clone(shared);
        runtime.spawn(async move {
            let _ = update(
                shared,
                inner,
                request,
                target,
                Some(leader),
                Forward::Miss,
                false,
            )
            .await;
        });
    }
}

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
async fn miss<S, ReqB, ResB>(
    shared: Arc<Shared>,
    inner: S,
    request: Request<ReqB>,
    target: Target,
    list: Option<&HeaderList>,
    forward: Forward,
) -> Result<Response<PageBody<ResB>>, S::Error>
where
    S: SendService<ReqB, ResB>,
    ReqB: Send + 'static,
    ResB: SendBody,
{
    let flight = match list {
        Some(list) => shared.page_key(request.method(), &target.url, list, request.headers()),
        None => format!("{} {}", shared.header_key(&target.url), request.method()),
    };
    for _ in 0..REJOIN_ATTEMPTS {
        let follower = match shared.flights.join(flight.clone()) {
            Role::Leader(leader) => {
                return update(shared, inner, request, target, Some(leader), forward, false).await;
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
            Waited::Outcome(Outcome::NotStored) | Waited::TimedOut => break,
            Waited::Abandoned => continue,
        }
    }
    update(shared, inner, request, target, None, forward, true).await
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
    if mine != published.page_key {
        return None;
    }
    let page = decode_page(published.entry.clone()).ok()?;
    let status = shared
        .config
        .cache_status
        .as_ref()
        .map(|s| s.forwarded(forward, false, true, None));
    Some(serve(
        page,
        request.method() == Method::HEAD,
        SystemTime::now(),
        status,
    ))
}

/// The response phase: Django's `UpdateCacheMiddleware`.
#[allow(clippy::too_many_arguments)]
async fn update<S, ReqB, ResB>(
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
    // A session layer outside this one marks the response only after it left here: ask it directly.
    if let Some(reason) = session_use.and_then(|usage| mark_session_use(&usage, &mut parts.headers))
    {
        publish(leader, Outcome::NotStored);
        shared.mark(&mut parts.headers, forward, false, collapsed, Some(reason));
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
            shared.mark(&mut parts.headers, forward, false, collapsed, Some(reason));
            return Ok(Response::from_parts(parts, PageBody::inner(body)));
        }
    };
    let body = match collect_limited(body, shared.config.max_body).await {
        Collected::Complete(body) => body,
        Collected::PassThrough(body, unstored) => {
            publish(leader, Outcome::NotStored);
            shared.mark(
                &mut parts.headers,
                forward,
                false,
                collapsed,
                Some(unstored.detail()),
            );
            return Ok(Response::from_parts(parts, body));
        }
    };
    let stored = store(
        &shared,
        &method,
        &target,
        &request_headers,
        &parts,
        &body,
        timeout,
    )
    .await;
    let ok = stored.is_ok();
    match stored {
        Ok(published) => publish(leader, Outcome::Stored(Arc::new(published))),
        Err(Failed) => publish(leader, Outcome::NotStored),
    }
    shared.mark(
        &mut parts.headers,
        forward,
        ok,
        collapsed,
        (!ok).then_some("backend-error"),
    );
    Ok(Response::from_parts(parts, PageBody::full(body)))
}

/// What the session's use means for a response on its way to be stored: a session that was read makes the
/// response vary on `Cookie` (added here, as the session layer outside would add it too late); one that was
/// modified makes it one visitor's own, never stored (the reason is returned).
fn mark_session_use(usage: &SessionUse, headers: &mut HeaderMap) -> Option<&'static str> {
    if usage.modified() {
        return Some("session-modified");
    }
    if usage.accessed() {
        patch_vary_headers(headers, ["Cookie"]);
    }
    None
}

/// Learns the header list and stores it with the page (Django's `learn_cache_key` + `cache.set`).
#[allow(clippy::too_many_arguments)]
async fn store(
    shared: &Shared,
    method: &Method,
    target: &Target,
    request_headers: &HeaderMap,
    parts: &http::response::Parts,
    body: &Bytes,
    timeout: Duration,
) -> Result<Published, Failed> {
    // `Vary: *` was refused by the rules; an empty list is the safe reading of anything else.
    let names = vary_header_names(&parts.headers).unwrap_or_default();
    // Keep the generation of an unchanged list so other variants stay reachable; read it afresh (not from
    // the fetch) so an invalidation in between is not undone.
    let header_key = shared.header_key(&target.url);
    let generation = match shared.header_list(&header_key).await? {
        Some(existing) if existing.names == names => existing.generation,
        _ => entry::new_generation(),
    };
    let list = HeaderList { generation, names };
    let page_key = shared.page_key(method, &target.url, &list, request_headers);
    let now = SystemTime::now();
    let ttl = timeout.saturating_add(shared.config.stale_while_revalidate.unwrap_or_default());
    let entry = entry::encode_page(
        now,
        now.checked_add(timeout),
        parts.status,
        &parts.headers,
        keep_header(method),
        body,
    );
    shared
        .set(&header_key, list.encode(), ttl, "set header list")
        .await?;
    shared
        .set(&page_key, entry.clone(), ttl, "set page")
        .await?;
    shared.remember(target, list.clone());
    tracing::debug!(key = %page_key, ttl = ?ttl, "page cache: stored");
    Ok(Published {
        page_key,
        header_list: list,
        entry,
    })
}
