//! [`Fetch`]: the request phase (Django's `FetchFromCacheMiddleware`) as one step machine that does no I/O.
//!
//! It asks for reads and is resumed with what each read returned:
//!
//! ```text
//! start ── list memoised ─────────────────────────────────┐
//!   └── Read(header-list key) ── none or a mark ──> Miss (uri-miss)
//!                  └── a list: memoise it ────────────────┤
//!                                                         v
//! Read(GET page key)   skipped when the backend counts its writes and none happened since the memo
//!   │                  decoded the page
//!   ├── of another generation than the list (stored before an invalidation) ──> as none
//!   ├── fresh ──> Hit
//!   ├── stale, within the window ──> Hit (for a GET, with a refresh to start)
//!   ├── past the stale-if-error window's start ──> Miss, keeping the page to fall back on
//!   └── none, expired or undecodable ──> for a HEAD: Read(HEAD page key), with the same outcomes
//!                                        for a GET: Miss
//!
//! A fresh or stale page with tags first reads each tag's generation (Read(tag key), one after the
//! other): a tag purged since the page was stored makes it none, or stale after a soft purge.
//! ```
//!
//! HEAD is answered from the GET entry (without its body), else from a HEAD entry. The URL's learnt header
//! list, and for a URL that varies on nothing its GET page key and last decoded page, come from the
//! [memo](super::memo) when it has them; that, the generation shortcut and stale-while-revalidate live here
//! only.
//!
//! Two drivers run it (`drive.rs`): a synchronous one inside `Service::call`, answering reads in-process,
//! and an asynchronous one, awaiting reads through the breaker and the backend timeout.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::HeaderMap;
use http::{Method, Request, Uri};

use cache_core::tags::TagState;

use super::entry::{decode_page, HeaderList, StoredPage};
use super::guard::Read;
use super::hit::Hit;
use super::key;
use super::memo::Memoised;
use super::shared::{Shared, Target};
use super::status::Forward;

/// The request phase of one GET or HEAD request; see the [module docs](self).
pub(crate) struct Fetch<'a> {
    shared: &'a Shared,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    head: bool,
    state: State,
}

/// Where the machine waits.
enum State {
    /// For the URL's header list; `epoch` is the memo's, taken before the read.
    HeaderList {
        target: Target,
        key: String,
        epoch: u64,
    },
    /// For a page under the list: the GET one (`get`), else the HEAD one. `key` is `None` for the
    /// memoised GET key; `generation` is the backend's, read before the page.
    Page {
        memoised: Arc<Memoised>,
        get: bool,
        key: Option<String>,
        generation: Option<u64>,
    },
    /// For the generation of tag `next` of the page `judged` found: every tag is checked before a tagged
    /// page is answered with.
    Tags {
        memoised: Arc<Memoised>,
        get: bool,
        key: Option<String>,
        judged: Judged,
        next: usize,
    },
    /// Finished.
    Done,
}

/// What the machine wants next.
// The hit is the common outcome and stays on the stack: boxing it would allocate on every hit.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Step<'a> {
    /// The value under this made key; resume with [`Fetch::resume`].
    Read { key: &'a str, what: &'static str },
    /// The outcome.
    Done(Found),
}

/// The outcome of the request phase.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Found {
    /// A page to answer with; for a stale GET, with the refresh to start in the background.
    Hit(Hit, Option<Box<Refresh>>),
    /// Nothing to answer with: the inner service must be asked.
    Miss(Miss),
    /// A key could not be made, or a read failed: serve without the cache.
    Failed,
}

/// A stale page to refresh: what the inner service's response is stored for.
pub(crate) struct Refresh {
    pub(crate) target: Target,
    pub(crate) page_key: String,
    /// When the stale page was stored: a page stored later under the key is a refresh already done.
    pub(crate) stale_since: SystemTime,
}

impl Refresh {
    /// The flight of the refresh: the page key and the generation it was read under.
    pub(crate) fn flight(&self) -> String {
        flight_key(&self.page_key, self.target.seen)
    }
}

/// A flight key: a made key and the header-list generation the request phase saw. Requests that saw
/// different generations (one before an invalidation, one after) never share a response.
pub(crate) fn flight_key(key: &str, seen: Option<u64>) -> String {
    match seen {
        Some(generation) => format!("{key} {generation:x}"),
        None => format!("{key} -"),
    }
}

/// A miss: the request's target, the URL's header list when one was learnt, and why it was forwarded.
pub(crate) struct Miss {
    pub(crate) target: Target,
    pub(crate) list: Option<Arc<Memoised>>,
    pub(crate) forward: Forward,
    /// A page past its freshness, within the stale-if-error window: served if the inner service fails.
    pub(crate) fallback: Option<Fallback>,
}

/// A stale page kept to answer with when the inner service fails (`stale_if_error`).
pub(crate) struct Fallback {
    pub(crate) page: Arc<StoredPage>,
    /// How far past its freshness it was when read.
    pub(crate) past: Duration,
}

/// What a page read found.
enum Judged {
    Fresh(Arc<StoredPage>, SystemTime),
    Stale(Arc<StoredPage>, SystemTime, Duration),
    /// Past both freshness and `stale_while_revalidate`, but within `stale_if_error`: a miss that keeps
    /// the page to fall back on.
    Expired(Fallback),
    Gone,
}

impl Judged {
    /// The page found, when one may be answered with.
    fn page(&self) -> Option<&Arc<StoredPage>> {
        match self {
            Judged::Fresh(page, _) | Judged::Stale(page, _, _) => Some(page),
            Judged::Expired(_) | Judged::Gone => None,
        }
    }

    /// The same page, stale (a tag of it was soft-purged): served while one request refreshes it.
    fn into_stale(self) -> Judged {
        match self {
            Judged::Fresh(page, now) => Judged::Stale(page, now, Duration::ZERO),
            other => other,
        }
    }
}

impl<'a> Fetch<'a> {
    /// The machine for a GET or HEAD request.
    #[inline]
    pub(crate) fn new<B>(shared: &'a Shared, request: &'a Request<B>) -> Self {
        Fetch::of(shared, request.method(), request.uri(), request.headers())
    }

    /// The machine for a GET or HEAD request given by its parts (a request body need not be `Sync` for
    /// a future holding these to be `Send`).
    #[inline]
    pub(crate) fn of(
        shared: &'a Shared,
        method: &Method,
        uri: &'a Uri,
        headers: &'a HeaderMap,
    ) -> Self {
        Fetch {
            shared,
            uri,
            headers,
            head: method == Method::HEAD,
            state: State::Done,
        }
    }

    /// The first step.
    #[inline]
    pub(crate) fn start(&mut self) -> Step<'_> {
        // On the stack when short: a memoised URL (every hit) allocates nothing for it.
        let raw = key::request_url_buf(self.uri, self.headers);
        if let Some(memoised) = self.shared.memo.get(raw.as_slice()) {
            return self.page(memoised, true);
        }
        let epoch = self.shared.memo.epoch();
        let target = Target {
            url: key::request_url(self.uri, self.headers),
            raw: raw.into_vec(),
            seen: None,
        };
        match self.shared.header_key(&target.url) {
            Ok(key) => {
                self.state = State::HeaderList { target, key, epoch };
                self.pending()
            }
            Err(_) => Step::Done(Found::Failed),
        }
    }

    /// The next step, given what the last read returned.
    #[inline]
    pub(crate) fn resume(&mut self, read: Read) -> Step<'_> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::HeaderList {
                mut target,
                key,
                epoch,
            } => match read.blob.and_then(|blob| header_list(&key, blob)) {
                Some(list) if !list.invalidated => {
                    target.seen = Some(list.generation);
                    let memoised = self.shared.remember(epoch, &target, list);
                    self.page(memoised, true)
                }
                // No list, or an invalidation mark: nothing to look up, and the store must find the same.
                other => {
                    target.seen = other.map(|mark| mark.generation);
                    Step::Done(Found::Miss(Miss {
                        target,
                        list: None,
                        forward: Forward::UriMiss,
                        fallback: None,
                    }))
                }
            },
            State::Page {
                memoised,
                get,
                key,
                generation,
            } => {
                let judged = match read.blob {
                    None => Judged::Gone,
                    Some(blob) => {
                        let made = key.as_deref().or(memoised.get_key.as_deref());
                        let made = made.unwrap_or_default();
                        // Only an in-process backend can hand out the buffer the memo decoded.
                        if key.is_none() && read.in_process {
                            self.judge_memoised(&memoised, made, blob, generation)
                        } else {
                            self.judge(&memoised, made, blob)
                        }
                    }
                };
                self.found(memoised, get, key, judged)
            }
            State::Tags {
                memoised,
                get,
                key,
                judged,
                next,
                ..
            } => self.tag_read(memoised, get, key, judged, next, read),
            State::Done => Step::Done(Found::Failed),
        }
    }

    /// Compares tag `next`'s generation, as `read` found it, with the one the page recorded: the next tag,
    /// or the answer (a purged tag makes the page gone, or stale after a soft purge).
    fn tag_read(
        &mut self,
        memoised: Arc<Memoised>,
        get: bool,
        key: Option<String>,
        judged: Judged,
        next: usize,
        read: Read,
    ) -> Step<'_> {
        let Some(page) = judged.page() else {
            return self.answer(memoised, get, key, judged);
        };
        let now = TagState::decode(read.blob.as_deref());
        let purged = page
            .tags
            .get(next)
            .is_some_and(|stamp| stamp.generation != now.generation);
        if purged {
            let judged = if now.soft {
                judged.into_stale()
            } else {
                Judged::Gone
            };
            return self.answer(memoised, get, key, judged);
        }
        self.check_tag(memoised, get, key, judged, next + 1)
    }

    /// Asks for the generation of the page's tag `next`, or answers when every tag was checked.
    fn check_tag(
        &mut self,
        memoised: Arc<Memoised>,
        get: bool,
        key: Option<String>,
        judged: Judged,
        next: usize,
    ) -> Step<'_> {
        let Some(page) = judged.page() else {
            return self.answer(memoised, get, key, judged);
        };
        if next >= page.tags.len() {
            return self.answer(memoised, get, key, judged);
        }
        let keys = page.tag_keys.get_or_init(|| {
            let maker = &self.shared.config.keys;
            page.tags
                .iter()
                .filter_map(|t| maker.tag(&t.tag).ok())
                .collect()
        });
        if keys.len() != page.tags.len() {
            // A tag whose key the cache refuses: it cannot be checked.
            return Step::Done(Found::Failed);
        }
        self.state = State::Tags {
            memoised,
            get,
            key,
            judged,
            next,
        };
        self.pending()
    }

    /// The read the machine waits for.
    fn pending(&self) -> Step<'_> {
        match &self.state {
            State::HeaderList { key, .. } => Step::Read {
                key,
                what: "get header list",
            },
            State::Page { memoised, key, .. } => {
                match key.as_deref().or(memoised.get_key.as_deref()) {
                    Some(key) => Step::Read {
                        key,
                        what: "get page",
                    },
                    None => Step::Done(Found::Failed),
                }
            }
            State::Tags { judged, next, .. } => {
                match judged
                    .page()
                    .and_then(|page| page.tag_keys.get())
                    .and_then(|keys| keys.get(*next))
                {
                    Some(key) => Step::Read {
                        key,
                        what: "get tag",
                    },
                    None => Step::Done(Found::Failed),
                }
            }
            State::Done => Step::Done(Found::Failed),
        }
    }

    /// Looks up the GET (`get`) or HEAD page under a URL's list.
    #[inline]
    fn page(&mut self, memoised: Arc<Memoised>, get: bool) -> Step<'_> {
        let key = if get && memoised.get_key.is_some() {
            None
        } else {
            let method = if get { Method::GET } else { Method::HEAD };
            let made = self
                .shared
                .page_key(&method, &memoised.url, &memoised.list, self.headers);
            match made {
                Ok(made) => Some(made),
                Err(_) => return Step::Done(Found::Failed),
            }
        };
        // The memoised GET page: when the backend counts its writes and none happened since the page was
        // decoded, the page is still the stored one and the read is skipped.
        let generation = match key {
            None => self.shared.config.cache.raw().generation(),
            Some(_) => None,
        };
        if let Some(page) = memoised.unchanged(generation) {
            let judged = self.freshness(&memoised, page);
            return self.found(memoised, get, key, judged);
        }
        self.state = State::Page {
            memoised,
            get,
            key,
            generation,
        };
        self.pending()
    }

    /// The outcome of a page lookup: a tagged page's tags are checked first.
    #[inline]
    fn found(
        &mut self,
        memoised: Arc<Memoised>,
        get: bool,
        key: Option<String>,
        judged: Judged,
    ) -> Step<'_> {
        if judged.page().is_some_and(|page| !page.tags.is_empty()) {
            return self.check_tag(memoised, get, key, judged, 0);
        }
        self.answer(memoised, get, key, judged)
    }

    /// The answer from a page lookup (its tags checked), or the HEAD lookup after a GET one for a HEAD
    /// request.
    #[inline]
    fn answer(
        &mut self,
        memoised: Arc<Memoised>,
        get: bool,
        key: Option<String>,
        judged: Judged,
    ) -> Step<'_> {
        let status = self.shared.config.cache_status.as_ref();
        let (page, now, status, stale) = match judged {
            Judged::Fresh(page, now) => (page, now, status.map(|s| s.hit()), false),
            Judged::Stale(page, now, past) => {
                (page, now, status.map(|s| s.stale(past.as_secs())), true)
            }
            Judged::Gone if self.head && get => return self.page(memoised, false),
            Judged::Gone | Judged::Expired(_) => {
                let seen = Some(memoised.list.generation);
                let fallback = match judged {
                    Judged::Expired(fallback) => Some(fallback),
                    _ => None,
                };
                return Step::Done(Found::Miss(Miss {
                    target: Target::of(self.uri, self.headers, memoised.url, seen),
                    list: Some(memoised),
                    forward: Forward::Miss,
                    fallback,
                }));
            }
        };
        self.shared.metrics.hit(stale);
        let refresh = (stale && !self.head).then(|| {
            let seen = Some(memoised.list.generation);
            Box::new(Refresh {
                target: Target::of(self.uri, self.headers, memoised.url, seen),
                page_key: key.or_else(|| memoised.get_key.clone()).unwrap_or_default(),
                stale_since: page.stored_at,
            })
        });
        let hit = Hit {
            page,
            now,
            head: self.head,
            status,
        };
        Step::Done(Found::Hit(hit, refresh))
    }

    /// Decodes an entry and tells fresh from stale.
    fn judge(&self, memoised: &Memoised, page_key: &str, blob: Bytes) -> Judged {
        match decode_page(blob) {
            Ok(page) => self.freshness(memoised, Arc::new(page)),
            Err(corrupt) => {
                tracing::warn!(key = page_key, reason = %corrupt, "page cache: undecodable page, treated as a miss");
                Judged::Gone
            }
        }
    }

    /// Like [`Fetch::judge`], reusing the memo's decoded copy of the very same blob, and keeping what it
    /// decodes there; `generation` is the backend's, read before `blob` was.
    #[inline]
    fn judge_memoised(
        &self,
        memoised: &Memoised,
        page_key: &str,
        blob: Bytes,
        generation: Option<u64>,
    ) -> Judged {
        if let Some(page) = memoised.decoded(&blob) {
            return self.freshness(memoised, page);
        }
        match decode_page(blob.clone()) {
            Ok(page) => {
                let page = Arc::new(page);
                let memo = &self.shared.memo;
                memo.keep_decoded(memoised, blob, Arc::clone(&page), generation);
                self.freshness(memoised, page)
            }
            Err(corrupt) => {
                tracing::warn!(key = page_key, reason = %corrupt, "page cache: undecodable page, treated as a miss");
                Judged::Gone
            }
        }
    }

    /// Fresh, stale within the stale-while-revalidate window, or gone. A page stored under another
    /// generation than the list's (before an invalidation) is gone.
    #[inline]
    fn freshness(&self, memoised: &Memoised, page: Arc<StoredPage>) -> Judged {
        let now = SystemTime::now();
        if page.generation != memoised.list.generation {
            // After a soft purge of the URL, the pages stored before it are stale, not gone.
            return if memoised.list.soft {
                Judged::Stale(page, now, Duration::ZERO)
            } else {
                Judged::Gone
            };
        }
        match page.fresh_until {
            Some(until) if until <= now => {
                let past = now.duration_since(until).unwrap_or_default();
                let config = &self.shared.config;
                match (config.stale_while_revalidate, config.stale_if_error) {
                    (Some(window), _) if past < window => Judged::Stale(page, now, past),
                    (_, Some(window)) if past < window => Judged::Expired(Fallback { page, past }),
                    _ => Judged::Gone,
                }
            }
            _ => Judged::Fresh(page, now),
        }
    }
}

/// Decodes a URL's header list; an undecodable one is logged and treated as none.
pub(crate) fn header_list(key: &str, blob: Bytes) -> Option<HeaderList> {
    match HeaderList::decode(blob) {
        Ok(list) => Some(list),
        Err(corrupt) => {
            tracing::warn!(key, reason = %corrupt, "page cache: undecodable header list, treated as a miss");
            None
        }
    }
}
