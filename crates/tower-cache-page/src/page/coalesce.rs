//! Request coalescing: concurrent misses for one key run the inner service once (Varnish's waiting list,
//! nginx's `proxy_cache_lock`).
//!
//! The first request to miss on a key becomes the **leader** and runs the inner service; the others become
//! **followers** and wait on a `watch` channel for what the leader [publishes](Leader::publish): the stored
//! entry (which they answer with, when their own key matches it) or "not stored" (each then runs the inner
//! service itself: a response that could not be stored, e.g. `private`, must not be shared).
//!
//! A leader that is dropped before publishing (its client went away, or its future was cancelled) closes the
//! channel: every follower wakes and the next one to rejoin becomes the new leader, so no follower ever hangs
//! on an abandoned computation. The table only holds keys with a leader at work.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::watch;

use super::entry::HeaderList;

/// What a leader found out.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// The response was stored: its page key, the URL's header list and the entry as stored.
    Stored(Arc<Published>),
    /// The response was not stored; followers must ask the inner service themselves.
    NotStored,
    /// Another process made and stored the page (the leader found it in the cache): followers look it
    /// up there too.
    Elsewhere,
}

/// A stored response as a leader hands it to its followers.
#[derive(Debug)]
pub(crate) struct Published {
    pub(crate) page_key: String,
    pub(crate) header_list: HeaderList,
    pub(crate) entry: Bytes,
}

type Slot = watch::Sender<Option<Outcome>>;

/// The keys with a leader at work.
#[derive(Debug, Default)]
pub(crate) struct Flights {
    table: Mutex<HashMap<String, Arc<Slot>>>,
}

/// A request's place in a flight.
pub(crate) enum Role {
    Leader(Leader),
    Follower(Follower),
}

impl Flights {
    /// Joins the flight for `key`: leader if there is none, follower otherwise.
    pub(crate) fn join(self: &Arc<Self>, key: String) -> Role {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = table.get(&key) {
            return Role::Follower(Follower {
                receiver: slot.subscribe(),
            });
        }
        let slot = Arc::new(watch::Sender::new(None));
        table.insert(key.clone(), Arc::clone(&slot));
        Role::Leader(Leader {
            flights: Arc::clone(self),
            key,
            slot,
        })
    }

    /// Whether a leader is at work on `key`.
    #[cfg(test)]
    fn in_flight(&self, key: &str) -> bool {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(key)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// The request that runs the inner service for a key. Dropping it without publishing releases the
/// followers, who then elect a new leader.
pub(crate) struct Leader {
    flights: Arc<Flights>,
    key: String,
    slot: Arc<Slot>,
}

impl Leader {
    /// Hands the outcome to every follower and leaves the table.
    pub(crate) fn publish(self, outcome: Outcome) {
        self.slot.send_replace(Some(outcome));
        // Drop removes the key from the table.
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        let mut table = self
            .flights
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if table
            .get(&self.key)
            .is_some_and(|slot| Arc::ptr_eq(slot, &self.slot))
        {
            table.remove(&self.key);
        }
        // With the table's and our reference gone, the sender is dropped and waiting followers wake up.
    }
}

/// A request waiting for a leader.
pub(crate) struct Follower {
    receiver: watch::Receiver<Option<Outcome>>,
}

impl Follower {
    /// The leader's outcome, or `None` if the leader was dropped without publishing.
    pub(crate) async fn wait(mut self) -> Option<Outcome> {
        match self.receiver.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone(),
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flight on `k`: its first request leads, its second follows.
    fn leader_and_follower() -> (Arc<Flights>, Leader, Follower) {
        let flights = Arc::new(Flights::default());
        let Role::Leader(leader) = flights.join("k".into()) else {
            panic!("first is the leader");
        };
        let Role::Follower(follower) = flights.join("k".into()) else {
            panic!("second follows");
        };
        (flights, leader, follower)
    }

    #[tokio::test]
    async fn followers_get_the_leaders_outcome() {
        let (flights, leader, follower) = leader_and_follower();
        let waiting = tokio::spawn(follower.wait());
        assert!(flights.in_flight("k"));
        leader.publish(Outcome::NotStored);
        assert!(matches!(
            waiting.await.ok().flatten(),
            Some(Outcome::NotStored)
        ));
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test]
    async fn a_dropped_leader_releases_followers() {
        let (flights, leader, follower) = leader_and_follower();
        let waiting = tokio::spawn(follower.wait());
        drop(leader);
        assert!(matches!(waiting.await, Ok(None)));
        assert!(matches!(flights.join("k".into()), Role::Leader(_)));
    }

    #[tokio::test]
    async fn an_outcome_published_before_waiting_is_seen() {
        let (_flights, leader, follower) = leader_and_follower();
        leader.publish(Outcome::NotStored);
        assert!(matches!(follower.wait().await, Some(Outcome::NotStored)));
    }
}
