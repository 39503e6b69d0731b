//! Deadlines on store calls: [`within`] cuts a call at an instant and answers [`StoreError::TimedOut`].
//!
//! Unlike `tokio::time::timeout`, no timer is made when the call finishes at its first poll (an
//! in-process store answers at once): the timer exists only for calls that actually wait.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

use crate::StoreError;

/// When a call must have finished, and the limit it was given (for the error).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: Instant,
    limit: Duration,
}

impl Deadline {
    /// `limit` from now; `None` when that is beyond what the clock represents (`Duration::MAX`: no deadline).
    pub(crate) fn after(limit: Duration) -> Option<Deadline> {
        Instant::now()
            .checked_add(limit)
            .map(|at| Deadline { at, limit })
    }
}

/// `deadline` if it can bound a store's calls: not zero, which would fail every call that has to wait
/// (`Duration::MAX` is how a setter is told "none"). `setting` names it in the error.
#[cfg(any(feature = "cache", feature = "file"))]
pub(crate) fn nonzero(
    deadline: Duration,
    setting: &'static str,
) -> Result<Duration, crate::InvalidSetting> {
    if deadline.is_zero() {
        Err(crate::InvalidSetting::ZeroDeadline(setting))
    } else {
        Ok(deadline)
    }
}

pin_project! {
    /// The future of [`within`].
    pub(crate) struct Within<F> {
        #[pin]
        call: F,
        #[pin]
        timer: Option<Sleep>,
        deadline: Option<Deadline>,
        store: &'static str,
    }
}

/// `call`, or [`StoreError::TimedOut`] naming `store` once `deadline` passes (never, for `None`). The call
/// is dropped at the deadline, which is how the stores release what it held.
pub(crate) fn within<F>(store: &'static str, deadline: Option<Deadline>, call: F) -> Within<F> {
    Within {
        call,
        timer: None,
        deadline,
        store,
    }
}

impl<F, T> Future for Within<F>
where
    F: Future<Output = Result<T, StoreError>>,
{
    type Output = Result<T, StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(done) = this.call.poll(cx) {
            return Poll::Ready(done);
        }
        let Some(deadline) = *this.deadline else {
            return Poll::Pending;
        };
        if this.timer.is_none() {
            this.timer.set(Some(tokio::time::sleep_until(deadline.at)));
        }
        if let Some(timer) = this.timer.as_pin_mut() {
            ready!(timer.poll(cx));
        }
        Poll::Ready(Err(StoreError::TimedOut {
            store: this.store,
            after: deadline.limit,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_hanging_call_ends_at_its_deadline() {
        let started = Instant::now();
        let result: Result<(), StoreError> = within(
            "test",
            Deadline::after(Duration::from_secs(1)),
            std::future::pending(),
        )
        .await;
        assert!(
            matches!(result, Err(StoreError::TimedOut { store: "test", after }) if after == Duration::from_secs(1)),
            "{result:?}"
        );
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_finishes_in_time_is_untouched() {
        let call = async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            Ok::<_, StoreError>(7)
        };
        let result = within("test", Deadline::after(Duration::from_secs(1)), call).await;
        assert_eq!(result.ok(), Some(7));
    }

    #[test]
    fn an_unrepresentable_deadline_is_none() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        runtime.block_on(async {
            assert!(Deadline::after(Duration::MAX).is_none());
            // No deadline: the call decides.
            let result = within("test", None, async { Ok::<_, StoreError>(1) }).await;
            assert_eq!(result.ok(), Some(1));
        });
    }

    #[test]
    fn a_call_ready_at_once_needs_no_timer() {
        // No runtime at all: making a timer would panic.
        let mut call = std::pin::pin!(within(
            "test",
            Some(Deadline {
                at: Instant::now(),
                limit: Duration::ZERO
            }),
            async { Ok::<_, StoreError>(3) },
        ));
        let waker = std::task::Waker::noop();
        let polled = call.as_mut().poll(&mut Context::from_waker(waker));
        assert!(matches!(polled, Poll::Ready(Ok(3))));
    }
}
