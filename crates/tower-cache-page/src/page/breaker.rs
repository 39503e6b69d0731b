//! [`Breaker`]: the circuit breaker between the page cache and its backend.
//!
//! A backend that fails or hangs must not make every request wait for it. The breaker is **closed** while
//! the backend answers: every operation goes ahead. A failure (an error or a timeout) **opens** it for
//! [`COOLDOWN`]: requests bypass the cache and are served by the inner service alone. When the cooldown is
//! over it is **half-open**: the first operation to ask becomes the **probe** and goes to the backend,
//! while every other request keeps bypassing. The probe's success closes the breaker; its failure, its
//! timeout, or its being dropped unfinished (the request was cancelled) opens it again. So a frozen backend
//! costs one waiting request per cooldown, never a crowd of them.
//!
//! The state is one atomic word: closed is a single load on the hit path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long the cache is bypassed after a backend failure before one request probes it again.
pub(crate) const COOLDOWN: Duration = Duration::from_secs(1);

/// The state word when closed.
const CLOSED: u64 = 0;

/// The state word while a probe is at the backend.
const PROBING: u64 = u64::MAX;

/// Closed, probing, or open until a time (milliseconds since `epoch`, never 0 or `u64::MAX`).
#[derive(Debug)]
pub(crate) struct Breaker {
    state: AtomicU64,
    epoch: Instant,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            state: AtomicU64::new(CLOSED),
            epoch: Instant::now(),
        }
    }
}

/// What a backend operation may do.
pub(crate) enum Admission<'a> {
    /// Go ahead: the backend is healthy.
    Go,
    /// Go ahead as the probe: report how it went with [`Probe::succeeded`], or drop it on failure.
    Probe(Probe<'a>),
    /// Do not touch the backend: the breaker is open, or another request is probing.
    Refused,
}

impl Breaker {
    /// Milliseconds since the breaker was made, from 1: a monotonic clock, so a wall-clock jump neither
    /// ends a cooldown early nor stretches it.
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
            .min(PROBING - 1)
    }

    /// Whether the backend is healthy (one load).
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Relaxed) == CLOSED
    }

    /// Whether a request must go without the cache: open, or another request is probing. Half-open is not
    /// bypassed, so that a request may become the probe.
    #[inline]
    pub(crate) fn bypassing(&self) -> bool {
        match self.state.load(Ordering::Relaxed) {
            CLOSED => false,
            PROBING => true,
            until => self.now() < until,
        }
    }

    /// Asks to run one backend operation.
    #[inline]
    pub(crate) fn admit(&self) -> Admission<'_> {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            match state {
                CLOSED => return Admission::Go,
                PROBING => return Admission::Refused,
                until if self.now() < until => return Admission::Refused,
                until => {
                    match self.state.compare_exchange_weak(
                        until,
                        PROBING,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => return Admission::Probe(Probe { breaker: self }),
                        Err(now) => state = now,
                    }
                }
            }
        }
    }

    /// An operation admitted while closed failed: open for the cooldown (from now). While a probe is at
    /// the backend its outcome decides, not a failure of an operation started before it.
    pub(crate) fn failed(&self) {
        let until = self.now().saturating_add(COOLDOWN_MS);
        let _ = self
            .state
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |state| {
                (state != PROBING).then_some(until)
            });
    }

    fn reopen(&self) {
        let until = self.now().saturating_add(COOLDOWN_MS);
        self.state.store(until, Ordering::Relaxed);
    }
}

/// [`COOLDOWN`] in the breaker's unit.
const COOLDOWN_MS: u64 = COOLDOWN.as_millis() as u64;

/// The one operation allowed to the backend while the breaker is half-open. Dropping it without
/// [`succeeded`](Probe::succeeded) (the operation failed, timed out or was cancelled) opens the breaker
/// again for the cooldown.
pub(crate) struct Probe<'a> {
    breaker: &'a Breaker,
}

impl Probe<'_> {
    /// The backend answered: close the breaker.
    pub(crate) fn succeeded(self) {
        self.breaker.state.store(CLOSED, Ordering::Relaxed);
        std::mem::forget(self);
    }
}

impl Drop for Probe<'_> {
    fn drop(&mut self) {
        self.breaker.reopen();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(breaker: &Breaker) -> Option<Probe<'_>> {
        match breaker.admit() {
            Admission::Probe(probe) => Some(probe),
            _ => None,
        }
    }

    /// Opens the breaker with its cooldown already over.
    fn half_open(breaker: &Breaker) {
        breaker.state.store(1, Ordering::Relaxed);
    }

    #[test]
    fn closed_admits_everything() {
        let breaker = Breaker::default();
        assert!(breaker.is_closed() && !breaker.bypassing());
        assert!(matches!(breaker.admit(), Admission::Go));
    }

    #[test]
    fn a_failure_opens_for_the_cooldown() {
        let breaker = Breaker::default();
        breaker.failed();
        assert!(!breaker.is_closed() && breaker.bypassing());
        assert!(matches!(breaker.admit(), Admission::Refused));
    }

    #[test]
    fn half_open_admits_one_probe_and_its_success_closes() {
        let breaker = Breaker::default();
        half_open(&breaker);
        assert!(
            !breaker.bypassing(),
            "half-open lets a request try to probe"
        );
        let Some(first) = probe(&breaker) else {
            panic!("no probe when half-open");
        };
        assert!(breaker.bypassing());
        for _ in 0..10 {
            assert!(matches!(breaker.admit(), Admission::Refused));
        }
        // A failure of an operation started before the probe does not override it.
        breaker.failed();
        assert!(matches!(breaker.admit(), Admission::Refused));
        first.succeeded();
        assert!(breaker.is_closed());
        assert!(matches!(breaker.admit(), Admission::Go));
    }

    #[test]
    fn a_probe_dropped_unfinished_reopens() {
        let breaker = Breaker::default();
        half_open(&breaker);
        drop(probe(&breaker));
        assert!(breaker.bypassing() && !breaker.is_closed());
        assert!(matches!(breaker.admit(), Admission::Refused));
    }
}
