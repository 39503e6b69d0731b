//! Tags (surrogate keys) shared by the page cache and the [`FragmentCache`](crate::FragmentCache): names
//! that many stored entries carry, so that one [`purge`] makes all of them misses, in every process
//! sharing the cache.
//!
//! Each tag has a generation, stored under its own key ([`tag_name`], through the cache's key function):
//! absent means never purged. An entry records its tags' generations when stored and compares them with
//! the tags' generations when read; a purge writes a new generation, one write whatever the number of
//! entries. A soft purge marks the new generation soft: the page cache then serves older pages stale while
//! one request regenerates each (fragments are re-rendered either way). Only single-key reads and writes are
//! used, so tags work the same on every backend, a Redis Cluster included.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use md5::{Digest, Md5};

use crate::{Cache, Error, Result};

/// The longest tag.
pub const MAX_TAG_LEN: usize = 128;

/// What every tag's entry name starts with (see [`tag_name`]).
pub const TAG_NAME_PREFIX: &str = "tower_django.tag.";

/// The name of a tag's generation entry before the cache's key function: [`TAG_NAME_PREFIX`], then
/// [`tag_digest`].
pub fn tag_name(tag: &str) -> String {
    let mut name = String::with_capacity(TAG_NAME_PREFIX.len() + 32);
    name.push_str(TAG_NAME_PREFIX);
    name.push_str(&tag_digest(tag));
    name
}

/// The hex MD5 of a tag: what follows [`TAG_NAME_PREFIX`] in its entry's name (hashed, so any tag makes a
/// valid key on every backend).
pub fn tag_digest(tag: &str) -> String {
    let mut hex = String::with_capacity(32);
    for byte in Md5::digest(tag.as_bytes()) {
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 0x0f)]));
    }
    hex
}

/// A fresh generation number, never 0, unique across processes in practice: for tags, and for anything
/// else that is told apart by generations (the page cache's header lists).
pub fn new_generation() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // `RandomState` is seeded from the OS once per process and differs per instance.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    hasher.write_u128(now.as_nanos());
    hasher.write_u32(std::process::id());
    // 0 means "never purged" for a tag.
    hasher.finish().max(1)
}

/// Whether `tag` can be a tag: 1 to [`MAX_TAG_LEN`] visible ASCII characters.
pub fn is_tag(tag: &str) -> bool {
    !tag.is_empty() && tag.len() <= MAX_TAG_LEN && tag.bytes().all(|b| b.is_ascii_graphic())
}

/// What a tag's entry says: its generation (0 when never purged) and whether the last purge was soft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TagState {
    /// Changes with every purge; 0 for a tag never purged (or whose entry expired).
    pub generation: u64,
    /// The last purge was soft.
    pub soft: bool,
}

impl TagState {
    /// The stored form: the generation (8 bytes, big-endian), then a flags byte (bit 0: soft).
    pub fn encode(self) -> Bytes {
        let mut out = BytesMut::with_capacity(9);
        out.put_u64(self.generation);
        out.put_u8(u8::from(self.soft));
        out.freeze()
    }

    /// A tag entry as read; absent or unreadable is generation 0 (never purged): an entry stamped
    /// otherwise is then taken for purged, the safe side.
    pub fn decode(blob: Option<&[u8]>) -> Self {
        match blob {
            Some([g @ .., flags]) if g.len() == 8 => {
                let mut generation = [0u8; 8];
                generation.copy_from_slice(g);
                TagState {
                    generation: u64::from_be_bytes(generation),
                    soft: flags & 1 == 1,
                }
            }
            _ => TagState::default(),
        }
    }

    /// A new generation.
    fn next(soft: bool) -> Self {
        TagState {
            generation: new_generation(),
            soft,
        }
    }
}

/// The tag's state now, in `cache`.
pub async fn state(cache: &Cache, tag: &str) -> Result<TagState> {
    let made = cache.raw().make_key(&tag_name(tag))?;
    let blob = cache.raw().get(&made).await?;
    Ok(TagState::decode(blob.as_deref()))
}

/// Purges `tag` in `cache`: every entry stamped with an older generation of it is a miss from now on (or,
/// `soft`, stale for the page cache). The tag's entry lives for `lifetime`, which should be at least as
/// long as the tagged entries can live: once it expires the tag reads as never purged, and entries stamped
/// with a later generation are misses (the safe side).
pub async fn purge(cache: &Cache, tag: &str, soft: bool, lifetime: Duration) -> Result<()> {
    if !is_tag(tag) {
        return Err(Error::Config(format!(
            "not a tag (1 to {MAX_TAG_LEN} visible ASCII characters): {tag:?}"
        )));
    }
    let made = cache.raw().make_key(&tag_name(tag))?;
    cache
        .raw()
        .set(
            &made,
            TagState::next(soft).encode(),
            crate::Expiry::after(lifetime),
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_garbage_is_never_purged() {
        let state = TagState {
            generation: 42,
            soft: true,
        };
        assert_eq!(TagState::decode(Some(&state.encode())), state);
        assert_eq!(TagState::decode(None), TagState::default());
        assert_eq!(TagState::decode(Some(b"junk")), TagState::default());
        assert_ne!(TagState::next(false).generation, 0);
        assert_ne!(TagState::next(false), TagState::next(false));
    }

    #[test]
    fn tag_names_are_hashed_and_tags_checked() {
        assert_eq!(
            tag_name("a"),
            "tower_django.tag.0cc175b9c0f1b6a831c399e269772661"
        );
        assert!(is_tag("article-1") && !is_tag("") && !is_tag("a b") && !is_tag(&"x".repeat(129)));
    }
}
