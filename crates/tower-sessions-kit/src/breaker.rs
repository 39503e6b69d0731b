//! [`Breaker`]: after a store timed out or failed, requests fail fast for a cooldown instead of each
//! waiting for the deadline; then one request at a time tries the store, and its success resumes service.
//!
//! ```text
//!            failure                     cooldown over: the next request probes
//!  CLOSED ───────────────▶ OPEN (until) ─────────────────────────────────────▶ PROBING
//!    ▲                       ▲                                                    │
//!    │                       └──────────────── the probe fails (or is dropped) ◀──┤
//!    └──────────────────────────────────────── the probe succeeds ◀───────────────┘
//! ```
//!
//! The whole state is one `AtomicU64`: a request passes a closed breaker with one atomic load, and no lock
//! is taken unless the store is failing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::store::StoreError;

/// The default cooldown ([`SessionLayer::failure_cooldown`](crate::SessionLayer::failure_cooldown)).
pub(crate) const DEFAULT_COOLDOWN: Duration = Duration::from_secs(1);

/// Requests pass.
const CLOSED: u64 = 0;
/// One request is trying the store; the others fail fast.
const PROBING: u64 = 1;
/// Other values are "open": requests fail fast until `origin + (value - OPEN_BASE)` milliseconds.
const OPEN_BASE: u64 = 2;

/// A circuit breaker for one store. See the module docs.
#[derive(Debug)]
pub(crate) struct Breaker {
    state: AtomicU64,
    origin: Instant,
    cooldown: Duration,
    /// The failure that opened the breaker, for the errors of the requests it turns away.
    cause: Mutex<Option<Arc<str>>>,
}

impl Breaker {
    /// A closed breaker opening for `cooldown` after each failure; `Duration::ZERO` never opens.
    pub(crate) fn new(cooldown: Duration) -> Self {
        Breaker {
            state: AtomicU64::new(CLOSED),
            origin: Instant::now(),
            cooldown,
            cause: Mutex::new(None),
        }
    }

    /// Whether a call to `store` may go ahead: a [`Permit`] to report its outcome with, or
    /// [`StoreError::Unavailable`] while the breaker is open or another request is probing.
    pub(crate) fn admit(&self, store: &'static str) -> Result<Permit<'_>, StoreError> {
        let state = self.state.load(Ordering::Acquire);
        if state == CLOSED {
            return Ok(Permit::new(self, false));
        }
        self.admit_failing(state, store)
    }

    #[cold]
    fn admit_failing(&self, mut state: u64, store: &'static str) -> Result<Permit<'_>, StoreError> {
        loop {
            if state == CLOSED {
                return Ok(Permit::new(self, false));
            }
            if state == PROBING || self.now() < state {
                return Err(StoreError::Unavailable {
                    store,
                    cause: self.cause(),
                });
            }
            // The cooldown is over: this request is the probe, unless another got there first.
            match self
                .state
                .compare_exchange(state, PROBING, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(Permit::new(self, true)),
                Err(current) => state = current,
            }
        }
    }

    /// The current time in the encoding of the open state.
    fn now(&self) -> u64 {
        let millis = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX / 2);
        millis.saturating_add(OPEN_BASE)
    }

    /// The open state ending one cooldown from now.
    fn open_until(&self) -> u64 {
        let cooldown = u64::try_from(self.cooldown.as_millis()).unwrap_or(u64::MAX / 2);
        self.now().saturating_add(cooldown)
    }

    fn cause(&self) -> Arc<str> {
        self.cause
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| Arc::from("an earlier failure"))
    }

    fn set_cause(&self, error: &StoreError) {
        *self.cause.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Arc::from(error.to_string()));
    }

    /// A call admitted while the breaker was closed failed: open it, unless a probe is deciding.
    fn trip(&self, error: &StoreError) {
        if self.cooldown.is_zero() {
            return;
        }
        self.set_cause(error);
        let until = self.open_until();
        let before = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
                (state != PROBING).then_some(until)
            });
        if before == Ok(CLOSED) {
            tracing::warn!(
                %error,
                cooldown = ?self.cooldown,
                "session store failing: requests fail fast until it answers again"
            );
        }
    }
}

/// Leave to call the store, from [`Breaker::admit`]. Reports the outcome with [`Permit::settle`]; a probe
/// dropped unsettled (its request went away) leaves the breaker open with its cooldown over, so that the
/// next request probes.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
}

impl<'a> Permit<'a> {
    fn new(breaker: &'a Breaker, probe: bool) -> Self {
        Permit { breaker, probe }
    }

    /// Reports how the call went: a timeout or a backend error opens the breaker (again); any answer of
    /// the store — a success, or an error such as [`StoreError::Gone`] — closes it after a probe.
    pub(crate) fn settle<T>(mut self, result: &Result<T, StoreError>) {
        let failure = match result {
            Err(error) if error.is_outage() => Some(error),
            _ => None,
        };
        let breaker = self.breaker;
        match (std::mem::take(&mut self.probe), failure) {
            (false, None) => {}
            (false, Some(error)) => breaker.trip(error),
            (true, None) => {
                breaker.state.store(CLOSED, Ordering::Release);
                tracing::info!("session store answered again: requests use it normally");
            }
            (true, Some(error)) => {
                breaker.set_cause(error);
                breaker.state.store(breaker.open_until(), Ordering::Release);
            }
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe {
            // Unsettled: open, cooldown already over.
            self.breaker
                .state
                .store(self.breaker.now(), Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down() -> StoreError {
        StoreError::backend("test", "connection refused")
    }

    fn unavailable(result: Result<Permit<'_>, StoreError>) -> bool {
        matches!(result, Err(StoreError::Unavailable { .. }))
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_opens_it_for_the_cooldown_then_one_probe_decides() {
        let breaker = Breaker::new(Duration::from_secs(1));
        let permit = breaker.admit("test").expect("closed");
        permit.settle::<()>(&Err(down()));

        // Open: every request is turned away, with the cause.
        match breaker.admit("test") {
            Err(StoreError::Unavailable { store, cause }) => {
                assert_eq!(store, "test");
                assert!(cause.contains("connection refused"), "{cause}");
            }
            other => panic!("{other:?}"),
        }
        tokio::time::advance(Duration::from_millis(999)).await;
        assert!(unavailable(breaker.admit("test")));

        // Cooldown over: exactly one probe; the others keep failing fast while it runs.
        tokio::time::advance(Duration::from_millis(1)).await;
        let probe = breaker.admit("test").expect("the probe");
        for _ in 0..5 {
            assert!(unavailable(breaker.admit("test")));
        }
        // It fails: open again for a whole cooldown.
        probe.settle::<()>(&Err(StoreError::TimedOut {
            store: "test",
            after: Duration::from_secs(1),
        }));
        tokio::time::advance(Duration::from_millis(999)).await;
        assert!(unavailable(breaker.admit("test")));
        tokio::time::advance(Duration::from_millis(1)).await;

        // The next probe gets an answer (even "gone" is an answer): closed, everyone passes.
        let probe = breaker.admit("test").expect("the probe");
        probe.settle::<()>(&Err(StoreError::Gone));
        for _ in 0..5 {
            breaker.admit("test").expect("closed").settle(&Ok(()));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_probe_lets_the_next_request_probe() {
        let breaker = Breaker::new(Duration::from_secs(1));
        breaker
            .admit("test")
            .expect("closed")
            .settle::<()>(&Err(down()));
        tokio::time::advance(Duration::from_secs(1)).await;
        let probe = breaker.admit("test").expect("the probe");
        assert!(unavailable(breaker.admit("test")));
        drop(probe);
        let next = breaker
            .admit("test")
            .expect("the next probe, without a new cooldown");
        next.settle(&Ok(()));
        assert_eq!(breaker.state.load(Ordering::Acquire), CLOSED);
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_failure_does_not_take_the_decision_from_the_probe() {
        let breaker = Breaker::new(Duration::from_secs(1));
        let early = breaker.admit("test").expect("closed");
        let late = breaker.admit("test").expect("closed");
        early.settle::<()>(&Err(down()));
        tokio::time::advance(Duration::from_secs(1)).await;
        let probe = breaker.admit("test").expect("the probe");
        // A call admitted before the breaker opened fails now: the probe still decides.
        late.settle::<()>(&Err(down()));
        assert!(unavailable(breaker.admit("test")));
        probe.settle(&Ok(()));
        breaker.admit("test").expect("closed by the probe");
    }

    #[tokio::test(start_paused = true)]
    async fn errors_that_are_answers_and_a_zero_cooldown_never_open_it() {
        let breaker = Breaker::new(Duration::from_secs(1));
        for error in [
            StoreError::Gone,
            StoreError::Contention {
                store: "test",
                attempts: 3,
            },
        ] {
            breaker
                .admit("test")
                .expect("closed")
                .settle::<()>(&Err(error));
        }
        breaker.admit("test").expect("still closed");

        let off = Breaker::new(Duration::ZERO);
        off.admit("test")
            .expect("closed")
            .settle::<()>(&Err(down()));
        off.admit("test").expect("never opens");
    }
}
