//! Session data and the changes one request makes to it.
//!
//! Stores keep a session as a JSON object ([`Data`]). A request does not write its whole copy back: it
//! records what it changed ([`Changes`]: values set, keys removed, whether it cleared everything — a custom
//! expiry is a value like any other) and the store applies that onto the record as it is *now*, atomically.
//! That is what lets two concurrent requests on one session each add their own key without one overwriting
//! the other. Two requests writing the **same** key: the last save wins.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A session's data: a JSON object. JSON because it is readable, language-neutral, and cannot run code
/// when decoded (unlike Django's old pickle serializer).
pub type Data = Map<String, Value>;

/// What one request changed in a session, in a form any store can apply onto the current record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    cleared: bool,
    writes: BTreeMap<String, Option<Value>>,
}

impl Changes {
    /// No changes.
    pub fn new() -> Self {
        Changes::default()
    }

    /// Changes that turn any record into exactly `data` (used for a brand-new record).
    pub fn replace_with(data: &Data) -> Self {
        Changes {
            cleared: true,
            writes: data
                .iter()
                .map(|(key, value)| (key.clone(), Some(value.clone())))
                .collect(),
        }
    }

    /// Whether applying these changes does nothing.
    pub fn is_empty(&self) -> bool {
        !self.cleared && self.writes.is_empty()
    }

    /// Whether the request cleared the data (everything stored before is dropped first).
    pub fn cleared(&self) -> bool {
        self.cleared
    }

    /// Each changed key with its new value, or `None` when the key was removed.
    pub fn writes(&self) -> impl Iterator<Item = (&str, Option<&Value>)> + '_ {
        self.writes
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_ref()))
    }

    /// Applies the changes onto `data`: clear first if cleared, then each write in key order.
    pub fn apply_to(&self, data: &mut Data) {
        if self.cleared {
            data.clear();
        }
        for (key, value) in &self.writes {
            match value {
                Some(value) => {
                    data.insert(key.clone(), value.clone());
                }
                None => {
                    data.remove(key);
                }
            }
        }
    }

    pub(crate) fn set(&mut self, key: String, value: Value) {
        self.writes.insert(key, Some(value));
    }

    pub(crate) fn remove(&mut self, key: &str) {
        self.writes.insert(key.to_owned(), None);
    }

    pub(crate) fn clear(&mut self) {
        self.cleared = true;
        self.writes.clear();
    }
}

/// The data key of the session's user: Django's `_auth_user_id`, public as
/// [`users::USER_KEY`](crate::users::USER_KEY).
pub(crate) const USER_KEY: &str = "_auth_user_id";

/// The user recorded in `data`, if any.
pub(crate) fn user_of(data: &Data) -> Option<&str> {
    match data.get(USER_KEY)? {
        Value::String(user) => Some(user),
        _ => None,
    }
}

/// Encodes data for storage (compact JSON).
pub fn encode(data: &Data) -> Vec<u8> {
    // A map of JSON values always serializes; the fallback only keeps this free of `expect`.
    serde_json::to_vec(data).unwrap_or_else(|_| b"{}".to_vec())
}

/// [`encode`] in a cache's value format: this crate's JSON, or Django's pickle (what Django's `cache` and
/// `cached_db` session engines store through a Django-format cache).
#[cfg(feature = "cache")]
pub(crate) fn encode_as(format: cache_core::ValueFormat, data: &Data) -> Vec<u8> {
    match format {
        cache_core::ValueFormat::Json => encode(data),
        // A map of JSON values always pickles; the fallback only keeps this free of `expect`.
        other => other
            .encode("session", data)
            .map_or_else(|_| encode(&Data::new()), |bytes| bytes.to_vec()),
    }
}

/// [`decode`] in a cache's value format (see [`encode_as`]), as leniently.
#[cfg(feature = "cache")]
pub(crate) fn decode_as(format: cache_core::ValueFormat, store: &str, bytes: &[u8]) -> Data {
    match format {
        cache_core::ValueFormat::Json => decode(store, bytes),
        other => other
            .decode::<Data>("session", bytes)
            .unwrap_or_else(|error| {
                tracing::warn!(store, %error, "session data corrupted: using an empty session");
                Data::new()
            }),
    }
}

/// Decodes stored data. Anything that is not a JSON object — corrupted, truncated, written by another
/// program — is an empty session plus a `tracing` warning (Django's "Session data corrupted"), never an
/// error: a broken record must not make every request of its owner fail.
pub fn decode(store: &str, bytes: &[u8]) -> Data {
    match serde_json::from_slice::<Data>(bytes) {
        Ok(data) => data,
        Err(error) => {
            tracing::warn!(store, %error, "session data corrupted: using an empty session");
            Data::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(value: Value) -> Data {
        match value {
            Value::Object(map) => map,
            _ => Data::new(),
        }
    }

    #[test]
    fn changes_merge_onto_the_current_record() {
        let mut mine = Changes::new();
        mine.set("a".into(), json!(1));
        mine.remove("gone");
        let mut current = data(json!({"other": true, "gone": 1, "a": 0}));
        mine.apply_to(&mut current);
        assert_eq!(Value::Object(current), json!({"other": true, "a": 1}));
    }

    #[test]
    fn clear_drops_what_was_stored_but_keeps_later_writes() {
        let mut mine = Changes::new();
        mine.set("before".into(), json!(1));
        mine.clear();
        mine.set("after".into(), json!(2));
        let mut current = data(json!({"other": true}));
        mine.apply_to(&mut current);
        assert_eq!(Value::Object(current), json!({"after": 2}));
    }

    #[test]
    fn the_last_write_to_a_key_wins_within_a_request() {
        let mut mine = Changes::new();
        mine.set("k".into(), json!(1));
        mine.remove("k");
        let mut current = data(json!({"k": 0}));
        mine.apply_to(&mut current);
        assert!(current.is_empty());
        mine.set("k".into(), json!(3));
        mine.apply_to(&mut current);
        assert_eq!(Value::Object(current), json!({"k": 3}));
    }

    #[test]
    fn replace_with_reproduces_the_data() {
        let original = data(json!({"a": [1, 2], "b": {"c": null}}));
        let mut target = data(json!({"x": 1}));
        Changes::replace_with(&original).apply_to(&mut target);
        assert_eq!(target, original);
    }

    #[test]
    fn corrupted_data_decodes_as_empty() {
        assert!(decode("test", b"\xff\x00garbage").is_empty());
        assert!(decode("test", b"[1,2]").is_empty());
        assert!(decode("test", b"").is_empty());
        assert_eq!(decode("test", &encode(&data(json!({"a": 1})))).len(), 1);
    }
}
