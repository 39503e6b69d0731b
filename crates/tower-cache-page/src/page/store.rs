//! The store: Django's `learn_cache_key` and `cache.set`. The URL's header list is learnt from the
//! response's `Vary` (keeping its generation when unchanged) and written with the page, which carries
//! the list's generation.
//!
//! Invalidation makes old pages unreachable by giving the URL's header list a new generation, so a
//! response computed before an invalidation must not be stored after it under the new one. The request
//! phase noted the generation it saw ([`Target::seen`]); the store reads the list again and stores only
//! when nothing was invalidated in between:
//!
//! | seen        | now                         | stored under                                  |
//! |-------------|-----------------------------|-----------------------------------------------|
//! | `g`         | list `g`, same names        | `g` (the other variants stay reachable)       |
//! | `g`         | list `g`, other names       | a new generation (`Vary` changed)             |
//! | mark `g`    | mark `g`                    | a new generation                              |
//! | none        | none                        | a new generation                              |
//! | none        | a list another request learnt | its generation when same names, else new    |
//! | `g`         | none (cleared, evicted, deleted) | a new generation                           |
//! | anything else (a mark appeared, the list changed) | | not stored (`invalidated`)               |
//!
//! A generation seen in the memo may be out of date (another process learnt the list again); when the
//! store is refused the memo entry is dropped, so the next request reads the list afresh. A list that
//! went away altogether was not removed by an invalidation (which leaves a mark) and every page under it
//! is unreachable once a new generation is learnt, so the store goes ahead.
//!
//! What remains: the short window between this read and the writes, where an invalidation is overwritten
//! (not every backend has compare-and-set); and a request that saw no list at all, whose URL is
//! invalidated and then learnt again by another request before it stores, which looks like no
//! invalidation. Either way the next invalidation, or the page timeout, ends it.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderName, AGE, CONNECTION, CONTENT_LENGTH, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use http::Method;

use super::coalesce::Published;
use cache_core::tags::TagState;

use super::entry::{self, HeaderList, TagStamp};
use super::fetch::header_list;
use super::guard::Failed;
use super::key;
use super::shared::{Shared, Target};
use crate::CACHE_STATUS;

/// A response the rules allowed to store, with the request it answered.
pub(crate) struct Storing<'a> {
    pub(crate) method: &'a Method,
    pub(crate) target: &'a Target,
    pub(crate) request_headers: &'a HeaderMap,
    pub(crate) parts: &'a http::response::Parts,
    pub(crate) body: &'a Bytes,
    /// The page's tags.
    pub(crate) tags: &'a [String],
    pub(crate) timeout: Duration,
}

/// Learns the header list and stores it with the page; the entry as stored, for the key's followers, or
/// `None` when the URL was invalidated while the response was being made (see the module docs).
pub(crate) async fn store(
    shared: &Shared,
    storing: Storing<'_>,
) -> Result<Option<Published>, Failed> {
    let Storing {
        method,
        target,
        request_headers,
        parts,
        body,
        tags,
        timeout,
    } = storing;
    // `Vary: *` was refused by the rules.
    let drop_accept_language = shared.config.key_suffix.language.is_some();
    let names = key::learn_header_list(&parts.headers, drop_accept_language);
    let epoch = shared.memo.epoch();
    let header_key = shared.header_key(&target.url)?;
    let read = shared.guard.read(&header_key, "get header list").await?;
    let now_list = read.blob.and_then(|blob| header_list(&header_key, blob));
    let Some(generation) = generation(target.seen, now_list.as_ref(), &names) else {
        tracing::debug!(key = %header_key, "page cache: invalidated while the response was made; not stored");
        // The generation may have come from an out-of-date memo entry: read the list afresh next time.
        shared.memo.forget(&target.url);
        return Ok(None);
    };
    // A soft purge's flag stays while pages are stored under its generation, so the URL's other
    // variants are still served stale (not gone) until each is regenerated.
    let soft = now_list
        .as_ref()
        .is_some_and(|list| list.soft && list.generation == generation);
    let list = HeaderList {
        generation,
        invalidated: false,
        soft,
        names,
    };
    let page_key = shared.page_key(method, &target.url, &list, request_headers)?;
    let stamps = stamp_tags(shared, tags).await?;
    let now = SystemTime::now();
    let ttl = timeout.saturating_add(shared.config.stale_life());
    let entry = entry::encode_page(
        generation,
        now,
        now.checked_add(timeout),
        parts.status,
        &parts.headers,
        keep_header(method),
        &stamps,
        body,
    );
    let guard = &shared.guard;
    guard
        .write(&header_key, list.encode(), ttl, "set header list")
        .await?;
    guard
        .write(&page_key, entry.clone(), ttl, "set page")
        .await?;
    shared.remember(epoch, target, list.clone());
    tracing::debug!(key = %page_key, ttl = ?ttl, "page cache: stored");
    Ok(Some(Published {
        page_key,
        header_list: list,
        entry,
    }))
}

/// Each tag with its generation now, read before the page is written: a purge after this read gives the
/// tag a generation the page does not carry, so the page is purged too.
async fn stamp_tags(shared: &Shared, tags: &[String]) -> Result<Vec<TagStamp>, Failed> {
    let mut stamps = Vec::with_capacity(tags.len());
    for tag in tags {
        let key = shared.config.keys.tag(tag).map_err(|error| {
            tracing::warn!(tag, %error, "page cache: no valid key for a tag; page not stored");
            Failed
        })?;
        let read = shared.guard.read(&key, "get tag").await?;
        stamps.push(TagStamp {
            tag: tag.clone(),
            generation: TagState::decode(read.blob.as_deref()).generation,
        });
    }
    Ok(stamps)
}

/// The generation to store under, given the one the request phase saw and the list there now; `None`
/// when the URL was invalidated in between (the table in the module docs).
fn generation(seen: Option<u64>, now: Option<&HeaderList>, names: &[HeaderName]) -> Option<u64> {
    match (seen, now) {
        (Some(seen), Some(list)) if list.generation == seen => {
            Some(if !list.invalidated && list.names == names {
                seen
            } else {
                entry::new_generation()
            })
        }
        (_, None) => Some(entry::new_generation()),
        (None, Some(list)) if !list.invalidated => Some(if list.names == names {
            list.generation
        } else {
            entry::new_generation()
        }),
        _ => None,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn list(generation: u64, invalidated: bool, names: &[&'static str]) -> HeaderList {
        HeaderList {
            generation,
            invalidated,
            soft: false,
            names: names.iter().map(|n| HeaderName::from_static(n)).collect(),
        }
    }

    #[test]
    fn stores_only_when_nothing_was_invalidated_in_between() {
        let cookie = [HeaderName::from_static("cookie")];
        let same = list(7, false, &["cookie"]);
        let other = list(7, false, &[]);
        let mark = list(7, true, &[]);
        assert_eq!(generation(Some(7), Some(&same), &cookie), Some(7));
        assert!(generation(Some(7), Some(&other), &cookie).is_some_and(|g| g != 7));
        assert!(generation(Some(7), Some(&mark), &cookie).is_some_and(|g| g != 7));
        assert!(generation(None, None, &cookie).is_some());
        assert_eq!(generation(None, Some(&same), &cookie), Some(7));
        assert!(generation(None, Some(&other), &cookie).is_some_and(|g| g != 7));
        // Invalidated while the response was made.
        assert_eq!(generation(None, Some(&mark), &cookie), None);
        assert!(generation(Some(7), None, &cookie).is_some());
        assert_eq!(generation(Some(6), Some(&same), &cookie), None);
        assert_eq!(generation(Some(6), Some(&mark), &cookie), None);
    }
}
