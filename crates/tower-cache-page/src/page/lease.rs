//! Coalescing across processes: several app processes sharing a backend run the inner service once for
//! concurrent misses of one page, not once each.
//!
//! Within a process, a key's flight (`coalesce.rs`) already has one leader. Before asking the inner
//! service, that leader takes a short **lease** on the shared backend with an atomic add (Redis `SET NX`,
//! memcached `add`, an SQL insert): one process's leader gets it and goes on; a leader that finds the lease
//! taken waits for the page instead, re-running the request phase (`lookup::find`) until it finds the entry
//! the lease holder stored, or the lease is gone (its holder failed or was cancelled: it then tries to take
//! the lease itself), or the coalescing timeout passes (it then asks the inner service itself). A waiter
//! with a stale page at hand serves it at once instead of waiting.
//!
//! The lease is removed as soon as its holder is done, stored or not, and also when the holder's future is
//! dropped (its client went away, the task was cancelled): a waiter then takes over at once instead of
//! waiting for the lease to expire. It expires after the coalescing timeout in any case, so a process that
//! dies holding one delays the others by that much at most. Waiters only ever answer with a whole stored
//! entry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};

use super::fetch::Found;
use super::hit::Hit;
use super::lookup::find;
use super::shared::Shared;

/// The first pause between two looks of a waiting process; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(5);
/// The longest pause between two looks.
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// A lease this process holds; removed when released or dropped.
pub(crate) struct Lease {
    shared: Arc<Shared>,
    key: String,
    released: bool,
}

/// What trying to take a flight's lease gave.
pub(crate) enum Taken {
    /// This process leads.
    Mine(Lease),
    /// Another process does.
    Elsewhere(String),
    /// The backend could not say (it failed; already logged): lead without a lease.
    Unavailable,
}

/// Tries to take the lease of `flight`.
pub(crate) async fn take(shared: &Arc<Shared>, flight: &str) -> Taken {
    let Ok(key) = shared.config.keys.lease(flight) else {
        return Taken::Unavailable;
    };
    take_key(shared, key).await
}

async fn take_key(shared: &Arc<Shared>, key: String) -> Taken {
    let token = Bytes::from(format!("{:x}", super::entry::new_generation()));
    let ttl = shared.config.coalesce_timeout;
    match shared.guard.add(&key, token, ttl, "take lease").await {
        Ok(true) => Taken::Mine(Lease {
            shared: Arc::clone(shared),
            key,
            released: false,
        }),
        Ok(false) => Taken::Elsewhere(key),
        Err(_) => Taken::Unavailable,
    }
}

impl Lease {
    /// Removes the lease: the page is stored (or will not be), waiters look again.
    pub(crate) async fn release(mut self) {
        self.released = true;
        let _ = self.shared.guard.delete(&self.key, "release lease").await;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        // Dropped before it was released (the request was cancelled, or the inner service failed): remove
        // it now, so a waiting process takes over without waiting for it to expire.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let cache = self.shared.config.cache.clone();
        let key = std::mem::take(&mut self.key);
        runtime.spawn(async move {
            let _ = cache.raw().delete(&key).await;
        });
    }
}

/// What waiting on another process's lease gave.
pub(crate) enum Waited {
    /// The page it stored.
    Found(Hit),
    /// Its lease is gone and this process took it: lead.
    Lead(Lease),
    /// No page within the coalescing timeout, or the backend failed: ask the inner service without a
    /// lease.
    GiveUp,
}

/// Waits for the process holding the lease under `key` to store the page a request (`method`, `uri`,
/// `headers`) is for.
pub(crate) async fn wait(
    shared: &Arc<Shared>,
    (method, uri, headers): (&Method, &Uri, &HeaderMap),
    key: String,
) -> Waited {
    let deadline = Instant::now() + shared.config.coalesce_timeout;
    let mut pause = FIRST_PAUSE;
    loop {
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
        match find(shared, method, uri, headers).await {
            Found::Hit(hit, _) => return Waited::Found(hit),
            Found::Failed => return Waited::GiveUp,
            Found::Miss(_) => {}
        }
        match shared.guard.exists(&key, "look at lease").await {
            Ok(true) => {}
            Ok(false) => match take_key(shared, key.clone()).await {
                Taken::Mine(lease) => return Waited::Lead(lease),
                Taken::Elsewhere(_) => {}
                Taken::Unavailable => return Waited::GiveUp,
            },
            Err(_) => return Waited::GiveUp,
        }
        if Instant::now() >= deadline {
            tracing::debug!(
                key,
                "page cache: another process's lease outlived the wait; asking the inner service"
            );
            return Waited::GiveUp;
        }
    }
}
