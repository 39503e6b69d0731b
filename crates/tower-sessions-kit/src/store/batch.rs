//! Coalesced calls: the calls made while one is running are sent together, in one round trip.
//!
//! Each store call that must wait costs a round trip and, on the client, a fixed price per call (on SQLite
//! a hop to one of sqlx's worker threads; on Redis a pooled connection lent and a message through the
//! multiplexed connection's channel), which under load costs more than the work itself. So:
//!
//! - a call that finds no other call running runs alone at once (one request at a time pays nothing
//!   extra: no task, no channel);
//! - a call that arrives while one runs waits in a queue;
//! - whoever finishes hands the queue to a task that sends all of it at once (in chunks of [`MAX_BATCH`])
//!   and repeats until the queue is empty.
//!
//! A queued call is sent after it arrived, so a queued read never sees older data than its own call would
//! have. Nothing can strand a waiter: if a batch fails, or the task or the first call is dropped (a client
//! went away, the runtime shut down), the waiters' channels close and each runs alone instead, which also
//! reports the error properly. A call that runs alone after its batch failed may therefore run twice: only
//! calls safe to repeat (reads, saves that apply a change-set) are batched.
//!
//! The loads of the SQLite, cache and Redis stores are batched through [`load_batch`](super::load_batch);
//! `RedisStore` batches its saves too.

use std::future::Future;
use std::mem;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

use super::StoreError;

/// The most calls one batch sends.
pub(crate) const MAX_BATCH: usize = 256;

/// What runs the calls of one [`Batch`]: one alone, or many at once.
pub(crate) trait Runner: Clone + Send + Sync + 'static {
    /// One call.
    type Request: Send + Sync + 'static;
    /// Its answer.
    type Reply: Send + 'static;

    /// The queue of this runner's calls.
    fn queue(&self) -> &Batch<Self::Request, Self::Reply>;

    /// One call alone.
    fn run_one(
        &self,
        request: &Self::Request,
    ) -> impl Future<Output = Result<Self::Reply, StoreError>> + Send;

    /// Many calls at once; one answer per request, in order.
    fn run_many(
        &self,
        requests: &[&Self::Request],
    ) -> impl Future<Output = Result<Vec<Self::Reply>, StoreError>> + Send;
}

/// The calls waiting for a batch, and whether one is running.
pub(crate) struct Batch<Q, R> {
    state: Mutex<State<Q, R>>,
}

struct State<Q, R> {
    /// A call is running (its owner will hand the queue on when it finishes).
    running: bool,
    waiting: Vec<Waiter<Q, R>>,
}

struct Waiter<Q, R> {
    /// Shared with the caller, who runs it alone if the batch fails.
    request: Arc<Q>,
    reply: oneshot::Sender<R>,
}

impl<Q, R> Default for Batch<Q, R> {
    fn default() -> Self {
        Batch {
            state: Mutex::new(State {
                running: false,
                waiting: Vec::new(),
            }),
        }
    }
}

impl<Q, R> std::fmt::Debug for Batch<Q, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Batch")
            .field("running", &state.running)
            .field("waiting", &state.waiting.len())
            .finish()
    }
}

impl<Q, R> Batch<Q, R> {
    /// The state stays consistent under a panic (each change is one assignment), so a poisoned lock is
    /// still usable.
    fn lock(&self) -> MutexGuard<'_, State<Q, R>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a call is running (tests).
    #[cfg(test)]
    pub(crate) fn is_running(&self) -> bool {
        self.lock().running
    }
}

/// Runs `request` alone, or together with the calls queued meanwhile.
pub(crate) async fn submit<S: Runner>(
    runner: &S,
    request: S::Request,
) -> Result<S::Reply, StoreError> {
    let queued = {
        let mut state = runner.queue().lock();
        if state.running {
            let request = Arc::new(request);
            let (reply, receiver) = oneshot::channel();
            state.waiting.push(Waiter {
                request: Arc::clone(&request),
                reply,
            });
            Ok((request, receiver))
        } else {
            state.running = true;
            Err(request)
        }
    };
    match queued {
        Err(request) => {
            // Dropped after the call, or with it when this call is cancelled: either way the queue
            // moves on.
            let _turn = Turn {
                runner: runner.clone(),
                on_drop: Handover::Spawn,
            };
            runner.run_one(&request).await
        }
        Ok((request, receiver)) => match receiver.await {
            Ok(reply) => Ok(reply),
            // The batch failed or was dropped: run alone.
            Err(_) => runner.run_one(&request).await,
        },
    }
}

/// What a [`Turn`] does with the queue when dropped.
enum Handover {
    /// Hand it to a new task that runs it (the first call's turn ends).
    Spawn,
    /// Let it go: the waiters run alone (the task was dropped before it finished).
    Release,
    /// Nothing: the task emptied the queue and cleared `running` itself.
    Done,
}

/// The responsibility for the queue while a call runs.
struct Turn<S: Runner> {
    runner: S,
    on_drop: Handover,
}

impl<S: Runner> Drop for Turn<S> {
    fn drop(&mut self) {
        let runtime = match self.on_drop {
            Handover::Done => return,
            // No runtime (dropped outside one): the waiters run alone.
            Handover::Spawn => tokio::runtime::Handle::try_current().ok(),
            Handover::Release => None,
        };
        let waiting = {
            let mut state = self.runner.queue().lock();
            let waiting = mem::take(&mut state.waiting);
            // Cleared under the lock unless a task takes over, so a call arriving now either joins the
            // task's queue or runs alone.
            if waiting.is_empty() || runtime.is_none() {
                state.running = false;
            }
            waiting
        };
        if let (Some(runtime), false) = (runtime, waiting.is_empty()) {
            runtime.spawn(run_queue(self.runner.clone(), waiting));
        }
        // Otherwise dropping `waiting` closes the waiters' channels: they run alone.
    }
}

/// Runs the queue in batches until it is empty, then clears `running`.
async fn run_queue<S: Runner>(runner: S, mut waiting: Vec<Waiter<S::Request, S::Reply>>) {
    let mut turn = Turn {
        runner,
        on_drop: Handover::Release,
    };
    loop {
        while !waiting.is_empty() {
            let rest = waiting.split_off(waiting.len().min(MAX_BATCH));
            let chunk = mem::replace(&mut waiting, rest);
            answer(&turn.runner, chunk).await;
        }
        let mut state = turn.runner.queue().lock();
        if state.waiting.is_empty() {
            state.running = false;
            turn.on_drop = Handover::Done;
            return;
        }
        waiting = mem::take(&mut state.waiting);
    }
}

/// One batch for `chunk`; each waiter gets its answer. On an error the waiters are dropped (they run
/// alone).
async fn answer<S: Runner>(runner: &S, chunk: Vec<Waiter<S::Request, S::Reply>>) {
    let requests: Vec<&S::Request> = chunk.iter().map(|waiter| &*waiter.request).collect();
    let replies = match runner.run_many(&requests).await {
        Ok(replies) if replies.len() == chunk.len() => replies,
        Ok(_) => {
            tracing::warn!(
                calls = chunk.len(),
                "a coalesced batch answered the wrong number of calls: each runs alone"
            );
            return;
        }
        Err(error) => {
            tracing::warn!(%error, calls = chunk.len(), "coalesced batch failed: each call runs alone");
            return;
        }
    };
    tracing::debug!(calls = chunk.len(), "coalesced calls sent in one batch");
    for (waiter, reply) in chunk.into_iter().zip(replies) {
        // A waiter that went away does not need its answer.
        let _ = waiter.reply.send(reply);
    }
}
