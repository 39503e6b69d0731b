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
//! its memo entry at once, and move the memo's *epoch* on: a list a request read from the backend before
//! that is not memoised after it. A learnt list is put in the memo when stored, so a change of `Vary` is
//! seen at once in the process that stored it. A store refused because the generation it saw is gone
//! (see `store.rs`) drops the URL's entry too, as the memo may have been what was out of date.
//!
//! Size: the memo is bounded in bytes, not in entries
//! ([`CachePageLayer::memo_max_bytes`](crate::CachePageLayer::memo_max_bytes), 16 MiB by default). A
//! decoded page holds the very blob it came from, which on the memory backend is the buffer the backend
//! stored: while the memo holds it, it stays alive after the backend evicted it. So the memo counts what its entries keep alive (blob lengths, key lengths and a
//! fixed allowance per entry and per decoded page), and when that goes over the budget it drops expired
//! entries, then arbitrary ones, down to three quarters of the budget. The count is an atomic counter
//! changed when an entry is made, gains or replaces its decoded page, and is dropped; a hit that finds its
//! decoded page changes nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::entry::{HeaderList, StoredPage};
use super::key::Hex;

/// What an entry is charged beyond its keys and blob: the map slot, the entry, its header list.
const ENTRY_OVERHEAD: usize = 256;

/// What a decoded page is charged beyond its blob (whose bytes its body and header values share): the
/// page and its header map.
const DECODED_OVERHEAD: usize = 512;

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
    /// The bytes this entry keeps alive, counted in its memo's total until it is dropped.
    charge: Charge,
}

/// A decoded page and where it came from.
#[derive(Debug)]
struct Decoded {
    blob: Bytes,
    page: Arc<StoredPage>,
    generation: Option<u64>,
}

impl Decoded {
    fn bytes(&self) -> usize {
        self.blob.len().saturating_add(DECODED_OVERHEAD)
    }
}

/// An entry's part of its memo's byte count; given back when the entry is dropped, wherever that happens
/// (evicted from the map, or later by the last request that still held it).
#[derive(Debug)]
struct Charge {
    total: Arc<AtomicUsize>,
    bytes: AtomicUsize,
}

impl Charge {
    fn new(total: &Arc<AtomicUsize>, bytes: usize) -> Self {
        total.fetch_add(bytes, Ordering::Relaxed);
        Charge {
            total: Arc::clone(total),
            bytes: AtomicUsize::new(bytes),
        }
    }

    fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Charges `added` more and `removed` less (the entry's decoded page was replaced).
    fn change(&self, added: usize, removed: usize) {
        self.bytes.fetch_add(added, Ordering::Relaxed);
        self.bytes.fetch_sub(removed, Ordering::Relaxed);
        self.total.fetch_add(added, Ordering::Relaxed);
        self.total.fetch_sub(removed, Ordering::Relaxed);
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.total
            .fetch_sub(*self.bytes.get_mut(), Ordering::Relaxed);
    }
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
    /// [`generation`](cache_core::RawCache::generation) is still the one read before its blob was: no
    /// write has replaced or removed it since (it may have expired, which the caller checks on the page).
    pub(crate) fn unchanged(&self, generation: Option<u64>) -> Option<Arc<StoredPage>> {
        let generation = generation?;
        let decoded = self.decoded.read().unwrap_or_else(PoisonError::into_inner);
        let held = decoded.as_ref()?;
        (held.generation == Some(generation)).then(|| Arc::clone(&held.page))
    }
}

/// URL → header list, for a short time, within a byte budget.
#[derive(Debug)]
pub(crate) struct HeaderListMemo {
    ttl: Duration,
    max_bytes: usize,
    /// The bytes kept alive by this memo's entries, in the map or still held by requests.
    held: Arc<AtomicUsize>,
    map: RwLock<HashMap<Box<[u8]>, Arc<Memoised>>>,
    /// How many times an entry was forgotten (an invalidation through this layer). A list read from the
    /// backend before a forget may be the one invalidated, so it is memoised only when this count is still
    /// the one taken before the read ([`HeaderListMemo::epoch`]).
    epoch: AtomicU64,
}

impl HeaderListMemo {
    pub(crate) fn new(ttl: Duration, max_bytes: usize) -> Self {
        HeaderListMemo {
            ttl,
            max_bytes,
            held: Arc::default(),
            map: RwLock::new(HashMap::new()),
            epoch: AtomicU64::new(0),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// The bytes its entries keep alive now (an estimate: blob and key lengths plus fixed allowances).
    pub(crate) fn held_bytes(&self) -> usize {
        self.held.load(Ordering::Relaxed)
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

    /// The count of forgets so far; take it before reading a list that is to be [put](Self::put) here.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Remembers a URL's list, read from the backend after [`epoch`](Self::epoch) gave `since`, unless
    /// an entry was forgotten since then; returns the entry (also when it is not remembered).
    pub(crate) fn put(
        &self,
        since: u64,
        url: &[u8],
        digest: Hex,
        list: HeaderList,
        get_key: Option<String>,
    ) -> Arc<Memoised> {
        let names: usize = list.names.iter().map(|n| n.as_str().len()).sum();
        let bytes = ENTRY_OVERHEAD
            .saturating_add(url.len())
            .saturating_add(get_key.as_ref().map_or(0, String::len))
            .saturating_add(names);
        let entry = Arc::new(Memoised {
            url: digest,
            list,
            get_key,
            decoded: RwLock::new(None),
            expires: Instant::now() + self.ttl,
            charge: Charge::new(&self.held, bytes),
        });
        if self.enabled() {
            let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
            // Forgets bump the epoch under this lock, so a list read before one is never put after it.
            if self.epoch.load(Ordering::Acquire) != since {
                return entry;
            }
            // The entry replaced, if any, gives its bytes back as it is dropped here.
            map.insert(url.into(), Arc::clone(&entry));
            self.shrink_if_over(&mut map);
        }
        entry
    }

    /// Keeps a decoded page in `entry` for [`Memoised::decoded`] and [`Memoised::unchanged`]; `generation`
    /// is the backend's, read before `blob` was. A page larger than the whole budget is not kept.
    pub(crate) fn keep_decoded(
        &self,
        entry: &Memoised,
        blob: Bytes,
        page: Arc<StoredPage>,
        generation: Option<u64>,
    ) {
        let new = Decoded {
            blob,
            page,
            generation,
        };
        if new.bytes() > self.max_bytes {
            return;
        }
        let old = {
            let mut decoded = entry
                .decoded
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let old = decoded.replace(new);
            let added = decoded.as_ref().map_or(0, Decoded::bytes);
            entry
                .charge
                .change(added, old.as_ref().map_or(0, Decoded::bytes));
            old
        };
        drop(old);
        if self.held_bytes() > self.max_bytes {
            let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
            self.shrink_if_over(&mut map);
        }
    }

    /// Over the budget: drops the expired entries, then arbitrary ones (the map's order), down to three
    /// quarters of the budget, so the next shrink is some way off. Counts the bytes of the entries
    /// dropped rather than re-reading the total, as a request may still hold one for a moment.
    fn shrink_if_over(&self, map: &mut HashMap<Box<[u8]>, Arc<Memoised>>) {
        let held = self.held_bytes();
        if held <= self.max_bytes {
            return;
        }
        let target = self.max_bytes / 4 * 3;
        let mut excess = held - target;
        let now = Instant::now();
        map.retain(|_, entry| {
            let live = entry.expires > now;
            if !live {
                excess = excess.saturating_sub(entry.charge.bytes());
            }
            live
        });
        map.retain(|_, entry| {
            if excess == 0 {
                return true;
            }
            excess = excess.saturating_sub(entry.charge.bytes());
            false
        });
    }

    /// Forgets every URL with this digest (after an invalidation).
    pub(crate) fn forget(&self, digest: &Hex) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        map.retain(|_, entry| entry.url != *digest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    fn digest(url: &str) -> Hex {
        crate::page::key::request_url(&url.parse().unwrap_or_default(), &HeaderMap::new())
    }

    fn list() -> HeaderList {
        HeaderList {
            generation: 1,
            invalidated: false,
            soft: false,
            names: Vec::new(),
        }
    }

    const BUDGET: usize = 64 * 1024;

    fn page(body: Bytes) -> Arc<StoredPage> {
        Arc::new(StoredPage {
            generation: 1,
            stored_at: std::time::SystemTime::now(),
            fresh_until: None,
            status: http::StatusCode::OK,
            headers: HeaderMap::new(),
            tags: Vec::new(),
            tag_keys: std::sync::OnceLock::new(),
            body,
        })
    }

    #[test]
    fn entries_live_for_the_ttl() {
        let memo = HeaderListMemo::new(Duration::from_millis(50), BUDGET);
        memo.put(
            memo.epoch(),
            b"http://h/a",
            digest("http://h/a"),
            list(),
            None,
        );
        assert!(memo.get(b"http://h/a").is_some());
        assert!(memo.get(b"http://h/b").is_none());
        std::thread::sleep(Duration::from_millis(60));
        assert!(memo.get(b"http://h/a").is_none());
    }

    #[test]
    fn disabled_memo_remembers_nothing() {
        let memo = HeaderListMemo::new(Duration::ZERO, BUDGET);
        let entry = memo.put(
            memo.epoch(),
            b"http://h/a",
            digest("http://h/a"),
            list(),
            None,
        );
        assert_eq!(entry.list, list());
        assert!(memo.get(b"http://h/a").is_none());
        drop(entry);
        assert_eq!(memo.held_bytes(), 0);
    }

    #[test]
    fn forget_by_digest_and_bounded_size() {
        let memo = HeaderListMemo::new(Duration::from_secs(60), BUDGET);
        memo.put(
            memo.epoch(),
            b"http://h/a",
            digest("http://h/a"),
            list(),
            None,
        );
        memo.forget(&digest("http://h/a"));
        assert!(memo.get(b"http://h/a").is_none());
        assert_eq!(
            memo.held_bytes(),
            0,
            "a forgotten entry gives its bytes back"
        );
        for i in 0..=10_000 {
            let url = format!("http://h/{i}");
            memo.put(memo.epoch(), url.as_bytes(), digest(&url), list(), None);
            assert!(memo.held_bytes() <= BUDGET, "{}", memo.held_bytes());
        }
        let len = memo.map.read().map(|m| m.len()).unwrap_or(usize::MAX);
        assert!(len <= BUDGET / ENTRY_OVERHEAD, "{len}");
        assert!(
            memo.get(b"http://h/10000").is_some(),
            "the newest entry is kept"
        );
    }

    /// Decoded pages count with their blobs; over the budget, entries are dropped (the newest kept), and
    /// a page larger than the whole budget is not kept at all.
    #[test]
    fn decoded_pages_count_against_the_budget() {
        let memo = HeaderListMemo::new(Duration::from_secs(60), BUDGET);
        for i in 0..100 {
            let url = format!("http://h/{i}");
            let entry = memo.put(memo.epoch(), url.as_bytes(), digest(&url), list(), None);
            let blob = Bytes::from(vec![0u8; BUDGET / 10]);
            memo.keep_decoded(&entry, blob.clone(), page(blob.clone()), Some(1));
            assert!(entry.decoded(&blob).is_some());
            drop(entry);
            assert!(memo.held_bytes() <= BUDGET, "{}", memo.held_bytes());
        }
        assert!(
            memo.held_bytes() > BUDGET / 2,
            "the memo was emptied, not shrunk"
        );
        let newest = memo.get(b"http://h/99");
        assert!(newest.is_some_and(|e| e.unchanged(Some(1)).is_some()));

        let entry = memo.put(
            memo.epoch(),
            b"http://h/big",
            digest("http://h/big"),
            list(),
            None,
        );
        let before = memo.held_bytes();
        let big = Bytes::from(vec![0u8; BUDGET + 1]);
        memo.keep_decoded(&entry, big.clone(), page(big.clone()), Some(1));
        assert!(
            entry.decoded(&big).is_none(),
            "a page over the budget was kept"
        );
        assert_eq!(memo.held_bytes(), before);
    }

    /// A list read before a forget is not memoised after it.
    #[test]
    fn lists_read_before_a_forget_are_not_memoised() {
        let memo = HeaderListMemo::new(Duration::from_secs(60), BUDGET);
        let before = memo.epoch();
        memo.forget(&digest("http://h/a"));
        let entry = memo.put(before, b"http://h/a", digest("http://h/a"), list(), None);
        assert_eq!(entry.list, list(), "the request still uses what it read");
        assert!(memo.get(b"http://h/a").is_none());
        memo.put(
            memo.epoch(),
            b"http://h/a",
            digest("http://h/a"),
            list(),
            None,
        );
        assert!(memo.get(b"http://h/a").is_some());
    }

    /// An entry dropped from the map while a request still holds it is counted until the request lets go.
    #[test]
    fn entries_held_elsewhere_count_until_dropped() {
        let memo = HeaderListMemo::new(Duration::from_secs(60), BUDGET);
        let entry = memo.put(
            memo.epoch(),
            b"http://h/a",
            digest("http://h/a"),
            list(),
            None,
        );
        let blob = Bytes::from(vec![0u8; 1000]);
        memo.keep_decoded(&entry, blob.clone(), page(blob.clone()), Some(1));
        let held = memo.held_bytes();
        assert!(held >= 1000 + 10, "{held}");
        // Replacing the decoded page does not count the old one twice.
        memo.keep_decoded(&entry, blob.clone(), page(blob), Some(2));
        assert_eq!(memo.held_bytes(), held);
        memo.forget(&digest("http://h/a"));
        assert_eq!(memo.held_bytes(), held);
        drop(entry);
        assert_eq!(memo.held_bytes(), 0);
    }
}
