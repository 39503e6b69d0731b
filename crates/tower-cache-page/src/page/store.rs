//! The store: Django's `learn_cache_key` and `cache.set`. The URL's header list is learnt from the
//! response's `Vary` (keeping its generation when unchanged) and written with the page.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderName, AGE, CONNECTION, CONTENT_LENGTH, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use http::Method;

use super::coalesce::Published;
use super::entry::{self, HeaderList};
use super::fetch::header_list;
use super::guard::Failed;
use super::shared::{Shared, Target};
use crate::headers::vary_header_names;
use crate::CACHE_STATUS;

/// A response the rules allowed to store, with the request it answered.
pub(crate) struct Storing<'a> {
    pub(crate) method: &'a Method,
    pub(crate) target: &'a Target,
    pub(crate) request_headers: &'a HeaderMap,
    pub(crate) parts: &'a http::response::Parts,
    pub(crate) body: &'a Bytes,
    pub(crate) timeout: Duration,
}

/// Learns the header list and stores it with the page; the entry as stored, for the key's followers.
pub(crate) async fn store(shared: &Shared, storing: Storing<'_>) -> Result<Published, Failed> {
    let Storing {
        method,
        target,
        request_headers,
        parts,
        body,
        timeout,
    } = storing;
    // `Vary: *` was refused by the rules; an empty list is the safe reading of anything else.
    let names = vary_header_names(&parts.headers).unwrap_or_default();
    // Keep the generation of an unchanged list so other variants stay reachable; read it afresh (not from
    // the fetch) so an invalidation in between is not undone.
    let header_key = shared.header_key(&target.url)?;
    let read = shared.guard.read(&header_key, "get header list").await?;
    let generation = match read.blob.and_then(|blob| header_list(&header_key, blob)) {
        Some(existing) if existing.names == names => existing.generation,
        _ => entry::new_generation(),
    };
    let list = HeaderList { generation, names };
    let page_key = shared.page_key(method, &target.url, &list, request_headers)?;
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
    let guard = &shared.guard;
    guard
        .write(&header_key, list.encode(), ttl, "set header list")
        .await?;
    guard
        .write(&page_key, entry.clone(), ttl, "set page")
        .await?;
    shared.remember(target, list.clone());
    tracing::debug!(key = %page_key, ttl = ?ttl, "page cache: stored");
    Ok(Published {
        page_key,
        header_list: list,
        entry,
    })
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
