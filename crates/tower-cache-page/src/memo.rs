//! The in-process memo of learnt header lists, which makes a hit one backend read instead of two.
//!
//! A hit needs the URL's header list (to make the page key) and then the page. The list changes rarely
//! (when a URL's `Vary` changes, or on invalidation), so each layer keeps the lists it read or learnt for a
//! short time ([`CachePageLayer::header_list_memo`](crate::CachePageLayer::header_list_memo), 1 s by
//! default), keyed by the request's raw URL: a memoised hit hashes the URL with SipHash instead of MD5,
//! and reads only the page.
//!
//! Consistency: the backend stays the authority for pages (a memoised list never makes a page that is
//! gone reachable). What the memo can delay is an *invalidation* made elsewhere (another process, or a
//! layer built separately): for at most the memo's lifetime this layer may still read the URL's pages under
//! the old header list. Invalidations through this layer's [`PageInvalidator`](crate::PageInvalidator) drop
//! its memo entry at once. A learnt list is put in the memo when stored, so a change of `Vary` is seen at
//! once in the process that stored it.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::entry::{HeaderList, StoredPage};
use crate::key::Hex;

/// The most URLs memoised; when full, the memo is emptied (a URL flood cannot grow it).
const MAX_ENTRIES: usize = 10_000;

/// A memoised header list of one URL.
#[derive(Debug)]
pub(crate) struct Memoised {
    pub(crate) url: Hex,
    pub(crate) list: HeaderList,
    /// The made GET page key, when the list is empty (the key is then the same for every request).
    pub(crate) get_key: Option<String>,
    /// The page last decoded under `get_key`, with the blob it came from and the backend's generation read
    /// just before that blob was.
    decoded: RwLock<Option<Decoded>>,
    expires: Instant,
}

/// A decoded page and where it came from.
#[derive(Debug)]
struct Decoded {
    blob: Bytes,
    page: Arc<StoredPage>,
    generation: Option<u64>,
}

impl Memoised {
    /// The decoded page, when `blob` is the very buffer it was decoded from. The memo holds that buffer,
    /// so it cannot be freed and its address reused: equal address and length mean the same bytes. A
    /// backend that hands out the stored buffer itself (the memory backend) is decoded once per memo
    /// lifetime; one that returns fresh buffers never matches.
    pub(crate) fn decoded(&self, blob: &Bytes) -> Option<Arc<StoredPage>> {
        let decoded = self.decoded.read().unwrap_or_else(PoisonError::into_inner);
        let held = decoded.as_ref()?;
        (held.blob.as_ptr() == blob.as_ptr() && held.blob.len() == blob.len())
            .then(|| Arc::clone(&held.page))
    }

    /// The decoded page, without reading the backend, when the backend's
    /// [`generation`](cache_core::CacheBackend::generation) is still the one read before its blob was: no
    /// write has replaced or removed it since (it may have expired, which the caller checks on the page).
    pub(crate) fn unchanged(&self, generation: Option<u64>) -> Option<Arc<StoredPage>> {
        let generation = generation?;
        let decoded = self.decoded.read().unwrap_or_else(PoisonError::into_inner);
        let held = decoded.as_ref()?;
        (held.generation == Some(generation)).then(|| Arc::clone(&held.page))
    }

    /// Keeps a decoded page for [`Memoised::decoded`] and [`Memoised::unchanged`]; `generation` is the
    /// backend's, read before `blob` was.
    pub(crate) fn keep_decoded(&self, blob: Bytes, page: Arc<StoredPage>, generation: Option<u64>) {
        let mut decoded = self.decoded.write().unwrap_or_else(PoisonError::into_inner);
        *decoded = Some(Decoded {
            blob,
            page,
            generation,
        });
    }
}

/// URL → header list, for a short time.
#[derive(Debug)]
pub(crate) struct HeaderListMemo {
    ttl: Duration,
    map: RwLock<HashMap<Box<[u8]>, Arc<Memoised>>>,
}

impl HeaderListMemo {
    pub(crate) fn new(ttl: Duration) -> Self {
        HeaderListMemo {
            ttl,
            map: RwLock::new(HashMap::new()),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// The live entry for a raw URL.
    pub(crate) fn get(&self, url: &[u8]) -> Option<Arc<Memoised>> {
        if !self.enabled() {
            return None;
        }
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        let entry = map.get(url)?;
        (entry.expires > Instant::now()).then(|| Arc::clone(entry))
    }

    /// Remembers a URL's list; returns the entry (also when the memo is disabled).
    pub(crate) fn put(
        &self,
        url: &[u8],
        digest: Hex,
        list: HeaderList,
        get_key: Option<String>,
    ) -> Arc<Memoised> {
        let entry = Arc::new(Memoised {
            url: digest,
            list,
            get_key,
            decoded: RwLock::new(None),
            expires: Instant::now() + self.ttl,
        });
        if self.enabled() {
            let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
            if map.len() >= MAX_ENTRIES && !map.contains_key(url) {
                map.clear();
            }
            map.insert(url.into(), Arc::clone(&entry));
        }
        entry
    }

    /// Forgets every URL with this digest (after an invalidation).
    pub(crate) fn forget(&self, digest: &Hex) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, entry| entry.url != *digest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    fn digest(url: &str) -> Hex {
        crate::key::request_url(&url.parse().unwrap_or_default(), &HeaderMap::new())
    }

    fn list() -> HeaderList {
        HeaderList {
            generation: 1,
            names: Vec::new(),
        }
    }

    #[test]
    fn entries_live_for_the_ttl() {
        let memo = HeaderListMemo::new(Duration::from_millis(50));
        memo.put(b"http://h/a", digest("http://h/a"), list(), None);
        assert!(memo.get(b"http://h/a").is_some());
        assert!(memo.get(b"http://h/b").is_none());
        std::thread::sleep(Duration::from_millis(60));
        assert!(memo.get(b"http://h/a").is_none());
    }

    #[test]
    fn disabled_memo_remembers_nothing() {
        let memo = HeaderListMemo::new(Duration::ZERO);
        let entry = memo.put(b"http://h/a", digest("http://h/a"), list(), None);
        assert_eq!(entry.list, list());
        assert!(memo.get(b"http://h/a").is_none());
    }

    #[test]
    fn forget_by_digest_and_bounded_size() {
        let memo = HeaderListMemo::new(Duration::from_secs(60));
        memo.put(b"http://h/a", digest("http://h/a"), list(), None);
        memo.forget(&digest("http://h/a"));
        assert!(memo.get(b"http://h/a").is_none());
        for i in 0..=MAX_ENTRIES {
            let url = format!("http://h/{i}");
            memo.put(url.as_bytes(), digest(&url), list(), None);
        }
        let len = memo.map.read().map(|m| m.len()).unwrap_or(usize::MAX);
        assert!(len <= MAX_ENTRIES, "{len}");
    }
}
