//! [`Shared`]: what every request of one layer shares, and the two ways it calls the store.

use std::future::Future;
use std::sync::Arc;

use crate::config::Config;
use crate::cookie::CookieTails;
use crate::guard::{Guard, Phase};
use crate::key::SessionKey;
use crate::store::{Loaded, SessionStore, StoreError};

/// What every request of one layer shares: the store, how it is called, and the settings.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) guard: Guard,
    pub(crate) config: Config,
    /// The attributes of the session cookies `config` makes, formatted once per second.
    pub(crate) cookie_tails: CookieTails,
}

impl Shared {
    /// `call` (a call of this layer's store) as part of `phase`, through the [`Guard`].
    pub(crate) async fn call<T, Fut>(
        &self,
        phase: &mut Phase,
        call: impl FnOnce() -> Fut,
    ) -> Result<T, StoreError>
    where
        Fut: Future<Output = Result<T, StoreError>>,
    {
        self.guard.call(self.store.name(), phase, call).await
    }

    /// The record under `key`, as part of `phase`, through the [`Guard`].
    pub(crate) async fn load(
        &self,
        key: &SessionKey,
        phase: &mut Phase,
    ) -> Result<Option<Loaded>, StoreError> {
        self.guard.load(&*self.store, key, phase).await
    }
}
