//! How the layer calls its store: every call passes the [`Breaker`], and the calls of one request phase
//! ([`Phase`]) share one deadline, the store's [`SessionStore::deadline`](crate::SessionStore::deadline).
//! One place for every store, so no store can make a request wait longer than its deadline, and a failing
//! store is not waited for by every request.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::breaker::{Breaker, DEFAULT_COOLDOWN};
use crate::deadline::{within, Deadline};
use crate::key::SessionKey;
use crate::store::{Loaded, SaveRequest, Saved, SessionStore, StoreError};

/// The breaker and deadline of one layer's store.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    /// Shared by the layer's clones: they call the same store.
    breaker: Arc<Breaker>,
    /// The store's deadline, read once.
    deadline: Option<Duration>,
}

impl Guard {
    pub(crate) fn new(store: &dyn SessionStore) -> Self {
        Guard {
            breaker: Arc::new(Breaker::new(DEFAULT_COOLDOWN)),
            deadline: store.deadline(),
        }
    }

    /// The same guard with a new breaker of `cooldown`.
    pub(crate) fn with_cooldown(&self, cooldown: Duration) -> Self {
        Guard {
            breaker: Arc::new(Breaker::new(cooldown)),
            deadline: self.deadline,
        }
    }
}

/// The store calls of one request phase: a load; the save at the end of the request, with the load it may
/// need first and the create that may follow; a `flush`; a `cycle_key`. Its deadline starts at its first
/// call and holds for all of them.
#[derive(Debug, Default)]
pub(crate) struct Phase {
    started: bool,
    deadline: Option<Deadline>,
}

impl Phase {
    fn deadline(&mut self, limit: Option<Duration>) -> Option<Deadline> {
        if !self.started {
            self.started = true;
            self.deadline = limit.and_then(Deadline::after);
        }
        self.deadline
    }
}

impl Guard {
    /// `call` (a call of the store named `name`) as part of `phase`: refused at once while the breaker is
    /// open, cut at the phase's deadline, and its outcome told to the breaker.
    pub(crate) async fn call<T, Fut>(
        &self,
        name: &'static str,
        phase: &mut Phase,
        call: impl FnOnce() -> Fut,
    ) -> Result<T, StoreError>
    where
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let permit = self.breaker.admit(name)?;
        let deadline = phase.deadline(self.deadline);
        let result = within(name, deadline, call()).await;
        permit.settle(&result);
        result
    }

    /// The record under `key` in `store`, as part of `phase`: answered by the store's
    /// [`ImmediateLoads`](crate::store::ImmediateLoads) when it can (no deadline needed), else by `load`
    /// under the phase's deadline; through the breaker either way.
    pub(crate) async fn load(
        &self,
        store: &dyn SessionStore,
        key: &SessionKey,
        phase: &mut Phase,
    ) -> Result<Option<Loaded>, StoreError> {
        let name = store.name();
        let permit = self.breaker.admit(name)?;
        let immediate = store.immediate().and_then(|fast| fast.load_now(key));
        let loaded = match immediate {
            Some(loaded) => loaded,
            None => {
                let deadline = phase.deadline(self.deadline);
                within(name, deadline, store.load(key)).await
            }
        };
        permit.settle(&loaded);
        loaded
    }

    /// The save of `request` under `key` applied by the store's
    /// [`ImmediateSaves`](crate::store::ImmediateSaves), through the breaker; `None` when the store
    /// offers none or cannot apply this one at once (then nothing was done, and the breaker is as it was
    /// unless this request was to probe it, in which case the next request probes).
    pub(crate) fn save_now(
        &self,
        store: &dyn SessionStore,
        key: &SessionKey,
        request: SaveRequest<'_>,
    ) -> Option<Result<Saved, StoreError>> {
        let immediate = store.immediate_saves()?;
        let permit = match self.breaker.admit(store.name()) {
            Ok(permit) => permit,
            Err(refused) => return Some(Err(refused)),
        };
        let saved = immediate.save_now(key, request)?;
        permit.settle(&saved);
        Some(saved)
    }
}
