//! Removing expired sessions periodically (Django's `manage.py clearsessions`, as a task).

use std::sync::Arc;
use std::time::Duration;

use crate::store::{SessionStore, StoreError};

/// Runs [`SessionStore::clear_expired`] every `period` until the returned handle is aborted or dropped
/// with the runtime. The first run is one `period` after the start.
///
/// Failures are logged (`tracing` error) and retried at the next tick: an unreachable database must not
/// stop the cleanup for good. A store that does not support it ([`StoreError::Unsupported`]: signed
/// cookies) stops the task after one warning. Needs a Tokio runtime.
///
/// ```no_run
/// # async fn demo(store: tower_sessions_kit::store::DatabaseStore) {
/// use std::{sync::Arc, time::Duration};
/// let cleanup = tower_sessions_kit::spawn_cleanup(Arc::new(store), Duration::from_secs(3600));
/// // … on shutdown:
/// cleanup.abort();
/// # }
/// ```
pub fn spawn_cleanup(
    store: Arc<dyn SessionStore>,
    period: Duration,
) -> tokio::task::JoinHandle<()> {
    let period = period.max(Duration::from_millis(1));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match store.clear_expired().await {
                Ok(removed) => {
                    tracing::debug!(store = store.name(), removed, "expired sessions cleared")
                }
                Err(StoreError::Unsupported { .. }) => {
                    tracing::warn!(
                        store = store.name(),
                        "session store doesn't support clearing expired sessions; cleanup stopped"
                    );
                    return;
                }
                Err(error) => {
                    tracing::error!(store = store.name(), %error, "clearing expired sessions failed")
                }
            }
        }
    })
}
