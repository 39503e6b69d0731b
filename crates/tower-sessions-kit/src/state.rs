//! The per-request session state behind a [`Session`](crate::Session): the data as loaded and changed,
//! and the first load from the store.

use std::sync::Arc;

use serde_json::Value;

use crate::error::SessionError;
use crate::expiry::EXPIRY_KEY;
use crate::guard::Phase;
use crate::key::SessionKey;
use crate::record::{Changes, Data};
use crate::shared::Shared;

/// One request's session: its key, its data and what the request changed.
pub(crate) struct State {
    /// The current key; `None` for a new session, an unknown cookie key, or after `flush`.
    pub(crate) key: Option<SessionKey>,
    /// The data; `None` until loaded (or cleared). Shared with the store's memo of decoded records
    /// ([`Loaded::data`]) until this request writes, which copies it first.
    ///
    /// [`Loaded::data`]: crate::store::Loaded::data
    pub(crate) data: Option<Arc<Data>>,
    /// What this request changed since the load.
    pub(crate) changes: Changes,
    /// The record under `key` was read from the store (so a save that finds it gone means a concurrent
    /// delete, not a stale cookie).
    pub(crate) verified: bool,
    /// The store asked for the session to be written again (signed cookie verified by an old key).
    pub(crate) reissue: bool,
    /// The record under `key` as loaded, for the store's optimistic save ([`Loaded::snapshot`]).
    ///
    /// [`Loaded::snapshot`]: crate::store::Loaded::snapshot
    pub(crate) snapshot: Option<Arc<str>>,
}

/// The value under `key` unless it is the reserved expiry key.
pub(crate) fn visible<'a>(data: Option<&'a Data>, key: &str) -> Option<&'a Value> {
    if key == EXPIRY_KEY {
        return None;
    }
    data?.get(key)
}

/// Records one write in both the data and the change-set.
pub(crate) fn write(state: &mut State, key: String, value: Option<Value>) {
    let data = Arc::make_mut(state.data.get_or_insert_with(Arc::default));
    match &value {
        Some(value) => {
            data.insert(key.clone(), value.clone());
        }
        None => {
            data.remove(&key);
        }
    }
    match value {
        Some(value) => state.changes.set(key, value),
        None => state.changes.remove(&key),
    }
}

pub(crate) fn is_empty(state: &State) -> bool {
    state.key.is_none() && state.data.as_deref().is_none_or(|d| d.is_empty())
}

/// Reads the record on first use. An unknown or expired key is forgotten (the session becomes new), never
/// stored under.
pub(crate) async fn load_into(shared: &Shared, state: &mut State) -> Result<(), SessionError> {
    load_within(shared, state, &mut Phase::default()).await
}

/// [`load_into`] as one of the calls of `phase`.
pub(crate) async fn load_within(
    shared: &Shared,
    state: &mut State,
    phase: &mut Phase,
) -> Result<(), SessionError> {
    if state.data.is_some() {
        return Ok(());
    }
    let Some(key) = &state.key else {
        state.data = Some(Arc::default());
        return Ok(());
    };
    let loaded = shared.load(key, phase).await?;
    match loaded {
        Some(loaded) => {
            state.data = Some(loaded.data);
            state.reissue = loaded.reissue;
            state.snapshot = loaded.snapshot;
            state.verified = true;
        }
        None => {
            state.key = None;
            state.data = Some(Arc::default());
        }
    }
    Ok(())
}
