//! What the page cache stores: one bytes blob per page ([`StoredPage`]) and one per URL for the learnt header
//! list ([`HeaderList`]). Both are compact, versioned and length-prefixed, written as raw bytes (the
//! backend's own `set`, under keys made by the [`Cache`](cache_core::Cache)'s key function) so nothing is
//! re-encoded, and decoded without copying the body (it is a slice of the blob the backend returned).
//!
//! # Page entry, version 3 (integers big-endian)
//!
//! ```text
//! "TCP" 0x03              magic and version (4 bytes)
//! generation     u64      the URL's header-list generation when the page was stored
//! stored_at      u64      Unix milliseconds when stored (for `Age`)
//! fresh_until    u64      Unix milliseconds when it becomes stale (u64::MAX: never)
//! status         u16
//! header_count   u16
//! header_count × { name_len u16, name, value_len u32, value }
//! tag_count      u16
//! tag_count × { tag_len u16, tag, generation u64 }   each tag's generation when the page was stored
//! body_len       u64
//! body
//! ```
//!
//! Version 2 (the same without the tags) is still read, as a page without tags.
//!
//! A tag's own entry is [`cache_core::tags::TagState`].
//!
//! # Header-list entry, version 2
//!
//! ```text
//! "TCH" 0x02              magic and version
//! generation     u64      a page is the URL's only when it carries the same; a new one after an invalidation
//! flags          u8       bit 0: invalidated (no list learnt since; a miss, as no list)
//!                         bit 1: soft-purged (pages of other generations are stale, not gone)
//! count          u16
//! count × { name_len u16, name }   lower-case header names, in Django's order
//! ```
//!
//! The page keys are Django's and do not change when a URL is invalidated, so the generation is what
//! makes old pages unreachable: a page whose generation is not its header list's is a miss (and the next
//! store overwrites it). Version 1 entries (from before the keys were Django's) are under other keys.
//!
//! A blob that is truncated, has trailing bytes, an unknown magic or version, or a name or value that is not
//! a valid header is [`Corrupt`]: the page cache treats it as a miss and logs a warning, so a format change
//! or a foreign value under our key never breaks a request.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;

const PAGE_MAGIC: [u8; 4] = *b"TCP\x03";
/// Version 2 page entries, read as pages without tags.
const PAGE_MAGIC_V2: [u8; 4] = *b"TCP\x02";
const LIST_MAGIC: [u8; 4] = *b"TCH\x02";

/// The largest header count a page's header map is sized for up front.
const MAX_HINT: usize = 64;

/// The header-list flag of an invalidated URL.
const INVALIDATED: u8 = 1;
/// The header-list flag of a soft-purged URL.
const SOFT: u8 = 2;

/// A stored entry could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Corrupt(pub(crate) &'static str);

impl std::fmt::Display for Corrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// A response as stored, decoded.
#[derive(Debug, Clone)]
pub(crate) struct StoredPage {
    /// The URL's header-list generation when the page was stored.
    pub(crate) generation: u64,
    pub(crate) stored_at: SystemTime,
    pub(crate) fresh_until: Option<SystemTime>,
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    /// The page's tags, each with its generation when the page was stored.
    pub(crate) tags: Vec<TagStamp>,
    /// The made keys of the tags, made once per decoded page (a memoised page is checked on every hit).
    pub(crate) tag_keys: std::sync::OnceLock<Vec<String>>,
    pub(crate) body: Bytes,
}

/// A tag of a page and the tag's generation when the page was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TagStamp {
    pub(crate) tag: String,
    pub(crate) generation: u64,
}

pub(crate) fn unix_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn from_unix_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .unwrap_or(UNIX_EPOCH)
}

/// Encodes a page with the headers `keep` accepts. Headers that cannot be length-prefixed (over 64 KiB
/// names, 4 GiB values) are impossible in `http` types, but are skipped rather than trusted.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_page(
    generation: u64,
    stored_at: SystemTime,
    fresh_until: Option<SystemTime>,
    status: StatusCode,
    headers: &HeaderMap,
    keep: impl Fn(&HeaderName) -> bool,
    tags: &[TagStamp],
    body: &[u8],
) -> Bytes {
    let headers_len: usize = headers
        .iter()
        .map(|(name, value)| 6 + name.as_str().len() + value.len())
        .sum();
    let mut out = BytesMut::with_capacity(4 + 8 + 8 + 8 + 2 + 2 + headers_len + 8 + body.len());
    out.put_slice(&PAGE_MAGIC);
    out.put_u64(generation);
    out.put_u64(unix_millis(stored_at));
    out.put_u64(fresh_until.map_or(u64::MAX, unix_millis));
    out.put_u16(status.as_u16());
    let storable = |(name, value): &(&HeaderName, &HeaderValue)| {
        keep(name)
            && u16::try_from(name.as_str().len()).is_ok()
            && u32::try_from(value.len()).is_ok()
    };
    let count = headers
        .iter()
        .filter(storable)
        .count()
        .min(usize::from(u16::MAX));
    out.put_u16(u16::try_from(count).unwrap_or(u16::MAX));
    for (name, value) in headers.iter().filter(storable).take(count) {
        let name = name.as_str().as_bytes();
        out.put_u16(u16::try_from(name.len()).unwrap_or(0));
        out.put_slice(name);
        out.put_u32(u32::try_from(value.len()).unwrap_or(0));
        out.put_slice(value.as_bytes());
    }
    let tags: Vec<&TagStamp> = tags
        .iter()
        .filter(|t| u16::try_from(t.tag.len()).is_ok())
        .take(usize::from(u16::MAX))
        .collect();
    out.put_u16(u16::try_from(tags.len()).unwrap_or(0));
    for stamp in tags {
        out.put_u16(u16::try_from(stamp.tag.len()).unwrap_or(0));
        out.put_slice(stamp.tag.as_bytes());
        out.put_u64(stamp.generation);
    }
    out.put_u64(body.len() as u64);
    out.put_slice(body);
    out.freeze()
}

/// A cursor over a blob; every read checks the remaining length.
struct Reader {
    blob: Bytes,
    at: usize,
}

impl Reader {
    fn take(&mut self, n: usize) -> Result<Bytes, Corrupt> {
        let end = self.at.checked_add(n).ok_or(Corrupt("length overflow"))?;
        if end > self.blob.len() {
            return Err(Corrupt("truncated"));
        }
        let slice = self.blob.slice(self.at..end);
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Corrupt> {
        let end = self.at.checked_add(N).ok_or(Corrupt("length overflow"))?;
        let bytes = self.blob.get(self.at..end).ok_or(Corrupt("truncated"))?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        self.at = end;
        Ok(out)
    }

    fn u16(&mut self) -> Result<u16, Corrupt> {
        self.array().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Result<u32, Corrupt> {
        self.array().map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Result<u64, Corrupt> {
        self.array().map(u64::from_be_bytes)
    }

    fn finish(&self) -> Result<(), Corrupt> {
        if self.at == self.blob.len() {
            Ok(())
        } else {
            Err(Corrupt("trailing bytes"))
        }
    }
}

fn usize_from(n: u64) -> Result<usize, Corrupt> {
    usize::try_from(n).map_err(|_| Corrupt("length overflow"))
}

/// Decodes a page blob.
pub(crate) fn decode_page(blob: Bytes) -> Result<StoredPage, Corrupt> {
    let mut r = Reader { blob, at: 0 };
    let tagged = match r.array::<4>()? {
        PAGE_MAGIC => true,
        PAGE_MAGIC_V2 => false,
        _ => return Err(Corrupt("unknown page entry format or version")),
    };
    let generation = r.u64()?;
    let stored_at = from_unix_millis(r.u64()?);
    let fresh_until = match r.u64()? {
        u64::MAX => None,
        ms => Some(from_unix_millis(ms)),
    };
    let status = StatusCode::from_u16(r.u16()?).map_err(|_| Corrupt("invalid status"))?;
    let count = usize::from(r.u16()?);
    // Room for what a hit adds (`Age`, `Cache-Status`, `Content-Length`) without growing the map.
    // The count is the blob's word: the capacity is only a hint, bounded so no count can make it panic.
    let mut headers = HeaderMap::with_capacity(count.min(MAX_HINT) + 3);
    for _ in 0..count {
        let name_len = usize::from(r.u16()?);
        let name = r.take(name_len)?;
        let name = HeaderName::from_bytes(&name).map_err(|_| Corrupt("invalid header name"))?;
        let value_len = usize_from(u64::from(r.u32()?))?;
        let value = HeaderValue::from_maybe_shared(r.take(value_len)?)
            .map_err(|_| Corrupt("invalid header value"))?;
        headers
            .try_append(name, value)
            .map_err(|_| Corrupt("too many headers"))?;
    }
    let mut tags = Vec::new();
    if tagged {
        let count = usize::from(r.u16()?);
        tags.reserve(count.min(MAX_HINT));
        for _ in 0..count {
            let len = usize::from(r.u16()?);
            let tag =
                String::from_utf8(r.take(len)?.to_vec()).map_err(|_| Corrupt("invalid tag"))?;
            tags.push(TagStamp {
                tag,
                generation: r.u64()?,
            });
        }
    }
    let body_len = usize_from(r.u64()?)?;
    let body = r.take(body_len)?;
    r.finish()?;
    Ok(StoredPage {
        generation,
        stored_at,
        fresh_until,
        status,
        headers,
        tags,
        tag_keys: std::sync::OnceLock::new(),
        body,
    })
}

/// The request headers a URL's responses vary on, and the generation its pages must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderList {
    pub(crate) generation: u64,
    /// Written by an invalidation: no list is learnt, and `generation` is the one every store begun
    /// before it can tell it by.
    pub(crate) invalidated: bool,
    /// Written by a soft purge: a page of another generation is stale (served while one request
    /// regenerates it), not gone.
    pub(crate) soft: bool,
    pub(crate) names: Vec<HeaderName>,
}

impl HeaderList {
    pub(crate) fn encode(&self) -> Bytes {
        let names_len: usize = self.names.iter().map(|n| 2 + n.as_str().len()).sum();
        let mut out = BytesMut::with_capacity(4 + 8 + 1 + 2 + names_len);
        out.put_slice(&LIST_MAGIC);
        out.put_u64(self.generation);
        let flags =
            if self.invalidated { INVALIDATED } else { 0 } | if self.soft { SOFT } else { 0 };
        out.put_u8(flags);
        let names: Vec<&HeaderName> = self
            .names
            .iter()
            .filter(|n| u16::try_from(n.as_str().len()).is_ok())
            .take(usize::from(u16::MAX))
            .collect();
        out.put_u16(u16::try_from(names.len()).unwrap_or(0));
        for name in names {
            let name = name.as_str().as_bytes();
            out.put_u16(u16::try_from(name.len()).unwrap_or(0));
            out.put_slice(name);
        }
        out.freeze()
    }

    pub(crate) fn decode(blob: Bytes) -> Result<Self, Corrupt> {
        let mut r = Reader { blob, at: 0 };
        if r.array::<4>()? != LIST_MAGIC {
            return Err(Corrupt("unknown header-list entry format or version"));
        }
        let generation = r.u64()?;
        let [flags] = r.array::<1>()?;
        if flags & !(INVALIDATED | SOFT) != 0 {
            return Err(Corrupt("unknown header-list flags"));
        }
        let (invalidated, soft) = (flags & INVALIDATED != 0, flags & SOFT != 0);
        let count = usize::from(r.u16()?);
        let mut names = Vec::with_capacity(count);
        for _ in 0..count {
            let len = usize::from(r.u16()?);
            let name = r.take(len)?;
            names.push(HeaderName::from_bytes(&name).map_err(|_| Corrupt("invalid header name"))?);
        }
        r.finish()?;
        Ok(HeaderList {
            generation,
            invalidated,
            soft,
            names,
        })
    }
}

/// A fresh generation number, unique across processes in practice.
pub(crate) use cache_core::tags::new_generation;

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Bytes {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/html"));
        headers.append("set-cookie", HeaderValue::from_static("a=1"));
        headers.append("set-cookie", HeaderValue::from_static("b=2"));
        headers.insert(
            "x-raw",
            HeaderValue::from_bytes(b"caf\xe9").unwrap_or(HeaderValue::from_static("")),
        );
        encode_page(
            7,
            from_unix_millis(1_000),
            Some(from_unix_millis(61_000)),
            StatusCode::OK,
            &headers,
            |_| true,
            &[
                TagStamp {
                    tag: "articles".to_owned(),
                    generation: 0,
                },
                TagStamp {
                    tag: "article-1".to_owned(),
                    generation: 99,
                },
            ],
            b"<p>hello</p>",
        )
    }

    #[test]
    fn page_round_trip() {
        let page = decode_page(page()).expect("decodes");
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.generation, 7);
        assert_eq!(unix_millis(page.stored_at), 1_000);
        assert_eq!(page.fresh_until.map(unix_millis), Some(61_000));
        assert_eq!(page.headers["content-type"], "text/html");
        let cookies: Vec<_> = page.headers.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(page.headers["x-raw"].as_bytes(), b"caf\xe9");
        assert_eq!(page.tags.len(), 2);
        assert_eq!(
            (page.tags[1].tag.as_str(), page.tags[1].generation),
            ("article-1", 99)
        );
        assert_eq!(&page.body[..], b"<p>hello</p>");
    }

    #[test]
    fn every_truncation_and_extension_is_corrupt() {
        let blob = page();
        for len in 0..blob.len() {
            assert!(
                decode_page(blob.slice(..len)).is_err(),
                "truncated at {len}"
            );
        }
        let mut longer = BytesMut::from(&blob[..]);
        longer.put_u8(0);
        assert!(decode_page(longer.freeze()).is_err());
        let mut other_version = BytesMut::from(&blob[..]);
        other_version[3] = 1;
        assert!(decode_page(other_version.freeze()).is_err());
        assert!(decode_page(Bytes::from_static(b"\"some json\"")).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..2_000 {
            let len = usize::try_from(state % 64).unwrap_or(0);
            let mut bytes = Vec::with_capacity(len + 4);
            bytes.extend_from_slice(&PAGE_MAGIC);
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                bytes.push(state.to_le_bytes()[0]);
            }
            let _ = decode_page(Bytes::from(bytes.clone()));
            bytes[..4].copy_from_slice(&LIST_MAGIC);
            let _ = HeaderList::decode(Bytes::from(bytes));
        }
    }

    /// More distinct headers than a header map can hold is corrupt, not a panic.
    #[test]
    fn huge_header_counts_are_corrupt() {
        let mut blob = BytesMut::new();
        blob.put_slice(&PAGE_MAGIC);
        blob.put_u64(1);
        blob.put_u64(0);
        blob.put_u64(u64::MAX);
        blob.put_u16(200);
        blob.put_u16(u16::MAX);
        for i in 0..u16::MAX {
            let name = format!("h{i}");
            blob.put_u16(u16::try_from(name.len()).unwrap_or(0));
            blob.put_slice(name.as_bytes());
            blob.put_u32(0);
        }
        blob.put_u64(0);
        assert!(decode_page(blob.freeze()).is_err());
    }

    #[test]
    fn header_list_round_trip() {
        let list = HeaderList {
            generation: 0xdead_beef,
            invalidated: false,
            soft: false,
            names: vec![
                HeaderName::from_static("accept-language"),
                HeaderName::from_static("cookie"),
            ],
        };
        assert_eq!(HeaderList::decode(list.encode()), Ok(list.clone()));
        let blob = list.encode();
        for len in 0..blob.len() {
            assert!(HeaderList::decode(blob.slice(..len)).is_err());
        }
        let tombstone = HeaderList {
            generation: 1,
            invalidated: true,
            soft: false,
            names: Vec::new(),
        };
        assert_eq!(HeaderList::decode(tombstone.encode()), Ok(tombstone));
        let soft = HeaderList {
            soft: true,
            ..list.clone()
        };
        assert_eq!(HeaderList::decode(soft.encode()), Ok(soft));
        let mut flags = BytesMut::from(&blob[..]);
        flags[12] = 4;
        assert!(HeaderList::decode(flags.freeze()).is_err());
    }

    #[test]
    fn generations_differ() {
        assert_ne!(new_generation(), new_generation());
    }
}
