//! [`DecodedRecords`]: the decoded form of recently read records, so reading a session that has not
//! changed costs a byte comparison instead of a JSON decode (and the drop of what it built).
//!
//! Most requests of a session read it and change nothing, so the same stored bytes are decoded again and
//! again. A store keeps one of these and asks it to decode: the answer is the shared [`Data`] decoded last
//! time when the stored bytes are **exactly** the ones decoded then, otherwise a fresh decode that replaces
//! it. Because a hit requires byte-for-byte the same record, the memo can never return stale or foreign
//! data: decoding is a pure function of the bytes. Requests that write copy the shared data first
//! (`Arc::make_mut`), so the memoised value is never changed in place.
//!
//! Bounded: a fixed number of slots ([`SLOTS`]), one record each, chosen by the session key; records over
//! [`MAX_MEMOISED_BYTES`] are decoded every time. At most about `SLOTS × MAX_MEMOISED_BYTES` of stored form
//! (4 MiB) plus its decoded form is held, typically far less (sessions are usually a few hundred bytes).

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;

use crate::key::SessionKey;
use crate::record::Data;

/// How many records are kept (one per slot; two sessions whose keys pick the same slot take turns).
pub(crate) const SLOTS: usize = 1024;

/// Records larger than this (stored form) are not kept.
pub(crate) const MAX_MEMOISED_BYTES: usize = 4096;

/// One kept record: the bytes as stored and what they decode to, and whose they are.
struct Slot {
    key: SessionKey,
    stored: Bytes,
    data: Arc<Data>,
    unchanged: Option<Unchanged>,
}

/// How long a kept record may be used without reading the store at all, for stores whose backend counts
/// its writes (cache-core's memory backend, see `cache_core::ImmediateReads::generation`): while the
/// backend's generation is still the one read before the record, and until the record's own expiry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Unchanged {
    pub(crate) generation: u64,
    /// `None`: the record does not expire.
    pub(crate) until: Option<SystemTime>,
}

/// Decoded records, by session key. See the module docs.
pub(crate) struct DecodedRecords {
    slots: Box<[Mutex<Option<Slot>>]>,
}

impl Default for DecodedRecords {
    fn default() -> Self {
        DecodedRecords {
            slots: (0..SLOTS).map(|_| Mutex::new(None)).collect(),
        }
    }
}

impl std::fmt::Debug for DecodedRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedRecords")
            .field("slots", &self.slots.len())
            .finish()
    }
}

impl DecodedRecords {
    /// The record kept for `key` if it was read at `generation` and has not expired: nothing has
    /// replaced or removed it since, so the store need not be read.
    pub(crate) fn unchanged(&self, key: &SessionKey, generation: u64) -> Option<Arc<Data>> {
        let slot = lock(&self.slots[slot_of(key)]);
        let kept = slot.as_ref()?;
        let unchanged = kept.unchanged?;
        let live = unchanged
            .until
            .is_none_or(|until| SystemTime::now() < until);
        (unchanged.generation == generation && live && kept.key == *key)
            .then(|| Arc::clone(&kept.data))
    }

    /// `stored` (the record under `key`) decoded by `decode`: the kept decode when it is of these
    /// exact bytes, else a new one, kept for next time. `keep` makes an owned copy of `stored` on a miss
    /// (a cheap clone when the store already holds [`Bytes`]). `unchanged`: how long the record may be
    /// reused without reading (see [`DecodedRecords::unchanged`]), when the store can tell.
    pub(crate) fn decode(
        &self,
        decode: impl Fn(&[u8]) -> Data,
        key: &SessionKey,
        stored: &[u8],
        keep: impl FnOnce() -> Bytes,
        unchanged: Option<Unchanged>,
    ) -> Arc<Data> {
        if stored.len() > MAX_MEMOISED_BYTES {
            return Arc::new(decode(stored));
        }
        let slot = &self.slots[slot_of(key)];
        {
            let mut guard = lock(slot);
            if let Some(kept) = guard
                .as_mut()
                .filter(|kept| same_bytes(&kept.stored, stored))
            {
                if kept.key != *key {
                    kept.key = key.clone();
                }
                kept.unchanged = unchanged;
                return Arc::clone(&kept.data);
            }
        }
        let data = Arc::new(decode(stored));
        let replaced = lock(slot).replace(Slot {
            key: key.clone(),
            stored: keep(),
            data: Arc::clone(&data),
            unchanged,
        });
        // Dropped outside the lock: freeing a decoded record is the costly part.
        drop(replaced);
        data
    }

    /// Forgets the record kept for `key` (after the store deleted it, so its memory goes now rather than
    /// when another session takes the slot).
    pub(crate) fn forget(&self, key: &SessionKey) {
        let mut slot = lock(&self.slots[slot_of(key)]);
        let removed = if slot.as_ref().is_some_and(|kept| kept.key == *key) {
            slot.take()
        } else {
            None
        };
        drop(slot);
        drop(removed);
    }
}

/// A poisoned slot (a panic while it was held: only possible in a decode that panicked, which
/// serde_json does not) still holds a whole value or none, so it is used as is.
fn lock(slot: &Mutex<Option<Slot>>) -> std::sync::MutexGuard<'_, Option<Slot>> {
    slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The same allocation is the same bytes (`Bytes` are immutable); otherwise compare them.
fn same_bytes(kept: &Bytes, stored: &[u8]) -> bool {
    (kept.as_ptr() == stored.as_ptr() && kept.len() == stored.len()) || kept.as_ref() == stored
}

/// The slot for a key: a multiplicative fold of its bytes. Not a keyed hash, and it need not be: keys
/// that share a slot only take turns (a decode each), and a hit still requires the exact stored bytes.
fn slot_of(key: &SessionKey) -> usize {
    let mut hash: u64 = 0;
    for chunk in key.as_str().as_bytes().chunks(8) {
        let mut word = [0_u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        hash = (hash.rotate_left(5) ^ u64::from_le_bytes(word))
            .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    // The high bits are the best mixed; SLOTS is a power of two.
    (hash >> (64 - SLOTS.trailing_zeros())) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(bytes: &[u8]) -> Data {
        crate::record::decode("test", bytes)
    }

    fn key(text: &str) -> SessionKey {
        SessionKey::parse(text).expect("well-formed test key")
    }

    #[test]
    fn the_same_bytes_give_the_same_shared_data() {
        let records = DecodedRecords::default();
        let k = key("abcdefgh12345678");
        let stored = Bytes::from_static(br#"{"a":1}"#);
        let first = records.decode(json, &k, &stored, || stored.clone(), None);
        let again = records.decode(json, &k, br#"{"a":1}"#, || unreachable!(), None);
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(first.get("a"), Some(&serde_json::json!(1)));
    }

    #[test]
    fn changed_bytes_are_decoded_again() {
        let records = DecodedRecords::default();
        let k = key("abcdefgh12345678");
        let decode = |stored: &'static [u8]| {
            records.decode(json, &k, stored, || Bytes::from_static(stored), None)
        };
        let old = decode(br#"{"a":1}"#);
        let new = decode(br#"{"a":2}"#);
        assert!(!Arc::ptr_eq(&old, &new));
        assert_eq!(new.get("a"), Some(&serde_json::json!(2)));
        assert_eq!(
            old.get("a"),
            Some(&serde_json::json!(1)),
            "handed-out data unchanged"
        );
    }

    #[test]
    fn sessions_sharing_a_slot_never_see_each_other() {
        let records = DecodedRecords::default();
        let keys: Vec<SessionKey> = (0..SLOTS * 3)
            .map(|i| key(&format!("session{i:08}")))
            .collect();
        for (i, k) in keys.iter().enumerate() {
            let stored = Bytes::from(format!(r#"{{"i":{i}}}"#));
            let data = records.decode(json, k, &stored, || stored.clone(), None);
            assert_eq!(data.get("i"), Some(&serde_json::json!(i)));
        }
        for (i, k) in keys.iter().enumerate().rev() {
            let stored = format!(r#"{{"i":{i}}}"#);
            let data = records.decode(
                json,
                k,
                stored.as_bytes(),
                || Bytes::from(stored.clone()),
                None,
            );
            assert_eq!(data.get("i"), Some(&serde_json::json!(i)));
        }
    }

    #[test]
    fn big_and_corrupted_records_decode_without_being_kept() {
        let records = DecodedRecords::default();
        let k = key("abcdefgh12345678");
        let big = format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_MEMOISED_BYTES));
        let one = records.decode(json, &k, big.as_bytes(), || unreachable!(), None);
        let two = records.decode(json, &k, big.as_bytes(), || unreachable!(), None);
        assert!(!Arc::ptr_eq(&one, &two));
        assert_eq!(one, two);
        let corrupted = records.decode(json, &k, b"\xff{", || Bytes::from_static(b"\xff{"), None);
        assert!(corrupted.is_empty());
    }

    #[test]
    fn unchanged_needs_the_same_generation_a_live_record_and_the_same_key() {
        let records = DecodedRecords::default();
        let k = key("abcdefgh12345678");
        let stored = Bytes::from_static(br#"{"a":1}"#);
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        let at = |generation, until| {
            Some(Unchanged {
                generation,
                until: Some(until),
            })
        };
        assert!(records.unchanged(&k, 7).is_none(), "nothing kept yet");
        let data = records.decode(json, &k, &stored, || stored.clone(), at(7, later));
        let again = records.unchanged(&k, 7).expect("same generation");
        assert!(Arc::ptr_eq(&data, &again));
        assert!(records.unchanged(&k, 8).is_none(), "a write happened since");

        // Read again after the write, unchanged bytes: reusable at the new generation.
        records.decode(json, &k, &stored, || unreachable!(), at(8, later));
        assert!(records.unchanged(&k, 8).is_some());

        // Expired.
        let past = SystemTime::now() - std::time::Duration::from_secs(1);
        records.decode(json, &k, &stored, || unreachable!(), at(8, past));
        assert!(records.unchanged(&k, 8).is_none(), "expired");

        // Another key in the same slot never answers for this one.
        let other = (0..)
            .map(|i| key(&format!("other{i:08}")))
            .find(|other| slot_of(other) == slot_of(&k))
            .expect("a key sharing the slot");
        assert!(records.unchanged(&other, 8).is_none());
        records.decode(json, &other, &stored, || unreachable!(), at(9, later));
        assert!(
            records.unchanged(&k, 9).is_none(),
            "the slot is the other key's now"
        );
        assert!(records.unchanged(&other, 9).is_some());

        // Without a generation, never reused unread; forget drops it.
        records.decode(json, &other, &stored, || unreachable!(), None);
        assert!(records.unchanged(&other, 9).is_none());
        records.decode(json, &other, &stored, || unreachable!(), at(9, later));
        records.forget(&k);
        assert!(
            records.unchanged(&other, 9).is_some(),
            "forget of another key"
        );
        records.forget(&other);
        assert!(records.unchanged(&other, 9).is_none());
    }

    #[test]
    fn keys_spread_over_the_slots() {
        let mut used = std::collections::HashSet::new();
        for _ in 0..4096 {
            let k = SessionKey::generate().expect("OS RNG");
            used.insert(slot_of(&k));
        }
        // 4096 random keys into 1024 slots leave about 1024 × e^-4 ≈ 19 empty.
        assert!(used.len() > 950, "{} slots used", used.len());
    }
}
