//! Coalesced loads: the sessions asked for while a load is running are read together, in one query.
//!
//! On SQLite every statement is a round trip to one of sqlx's worker threads (two thread wake-ups, a
//! pooled connection taken and returned), which costs far more than finding a row. With many requests at
//! once, one query per request spends most of the server's CPU on those hops. So:
//!
//! - a load that finds no other load running runs its own query at once (one request at a time pays
//!   nothing extra: no task, no channel);
//! - a load that arrives while one runs waits in a queue;
//! - whoever finishes a query hands the queue to a task that reads all of it with one query (in chunks
//!   of [`MAX_KEYS`]) and repeats until the queue is empty.
//!
//! A queued load is answered by a query that started after it arrived, so it never sees older data than
//! its own query would have. Nothing can strand a waiter: if a query fails, or the task or the first
//! load is dropped (a client went away, the runtime shut down), the waiters' channels close and each runs
//! its own query instead, which also reports the error properly.

use std::collections::HashMap;
use std::future::Future;
use std::mem;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

use super::StoreError;
use crate::key::SessionKey;

/// The most keys one query reads (SQLite binds the list as one JSON text, so this only bounds a batch).
pub(crate) const MAX_KEYS: usize = 256;

/// Where coalesced loads read from: one key, or many keys at once.
pub(crate) trait BatchSource: Clone + Send + Sync + 'static {
    /// What one key's query returns (`None` from the queries: no live record).
    type Row: Clone + Send + 'static;

    /// The queue of this source's loads.
    fn batch(&self) -> &LoadBatch<Self::Row>;

    /// One key's row.
    fn fetch_one(
        &self,
        key: &SessionKey,
    ) -> impl Future<Output = Result<Option<Self::Row>, StoreError>> + Send;

    /// The rows of `keys` that exist, by key.
    fn fetch_many(
        &self,
        keys: &[&str],
    ) -> impl Future<Output = Result<HashMap<String, Self::Row>, StoreError>> + Send;
}

/// The loads waiting for a query, and whether one is running.
pub(crate) struct LoadBatch<R> {
    state: Mutex<State<R>>,
}

struct State<R> {
    /// A query is running (its owner will hand the queue on when it finishes).
    running: bool,
    waiting: Vec<Waiter<R>>,
}

struct Waiter<R> {
    key: SessionKey,
    reply: oneshot::Sender<Option<R>>,
}

impl<R> Default for LoadBatch<R> {
    fn default() -> Self {
        LoadBatch {
            state: Mutex::new(State {
                running: false,
                waiting: Vec::new(),
            }),
        }
    }
}

impl<R> std::fmt::Debug for LoadBatch<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("LoadBatch")
            .field("running", &state.running)
            .field("waiting", &state.waiting.len())
            .finish()
    }
}

impl<R> LoadBatch<R> {
    /// The state stays consistent under a panic (each change is one assignment), so a poisoned lock is
    /// still usable.
    fn lock(&self) -> MutexGuard<'_, State<R>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `key`'s row, read alone or together with the loads queued meanwhile.
pub(crate) async fn load<S: BatchSource>(
    source: &S,
    key: &SessionKey,
) -> Result<Option<S::Row>, StoreError> {
    let receiver = {
        let mut state = source.batch().lock();
        if state.running {
            let (reply, receiver) = oneshot::channel();
            state.waiting.push(Waiter {
                key: key.clone(),
                reply,
            });
            Some(receiver)
        } else {
            state.running = true;
            None
        }
    };
    match receiver {
        None => {
            // Dropped after the query, or with it when this load is cancelled: either way the queue
            // moves on.
            let _turn = Turn {
                source: source.clone(),
                on_drop: Handover::Spawn,
            };
            source.fetch_one(key).await
        }
        Some(receiver) => match receiver.await {
            Ok(row) => Ok(row),
            // The batch failed or was dropped: read alone.
            Err(_) => source.fetch_one(key).await,
        },
    }
}

/// What a [`Turn`] does with the queue when dropped.
enum Handover {
    /// Hand it to a new task that reads it (the first load's turn ends).
    Spawn,
    /// Let it go: the waiters read alone (the task was dropped before it finished).
    Release,
    /// Nothing: the task emptied the queue and cleared `running` itself.
    Done,
}

/// The responsibility for the queue while a query runs.
struct Turn<S: BatchSource> {
    source: S,
    on_drop: Handover,
}

impl<S: BatchSource> Drop for Turn<S> {
    fn drop(&mut self) {
        let runtime = match self.on_drop {
            Handover::Done => return,
            // No runtime (dropped outside one): the waiters read alone.
            Handover::Spawn => tokio::runtime::Handle::try_current().ok(),
            Handover::Release => None,
        };
        let waiting = {
            let mut state = self.source.batch().lock();
            let waiting = mem::take(&mut state.waiting);
            // Cleared under the lock unless a task takes over, so a load arriving now either joins the
            // task's queue or runs its own query.
            if waiting.is_empty() || runtime.is_none() {
                state.running = false;
            }
            waiting
        };
        if let (Some(runtime), false) = (runtime, waiting.is_empty()) {
            runtime.spawn(read_queue(self.source.clone(), waiting));
        }
        // Otherwise dropping `waiting` closes the waiters' channels: they read alone.
    }
}

/// Reads the queue in batches until it is empty, then clears `running`.
async fn read_queue<S: BatchSource>(source: S, mut waiting: Vec<Waiter<S::Row>>) {
    let mut turn = Turn {
        source,
        on_drop: Handover::Release,
    };
    loop {
        while !waiting.is_empty() {
            let rest = waiting.split_off(waiting.len().min(MAX_KEYS));
            let chunk = mem::replace(&mut waiting, rest);
            answer(&turn.source, chunk).await;
        }
        let mut state = turn.source.batch().lock();
        if state.waiting.is_empty() {
            state.running = false;
            turn.on_drop = Handover::Done;
            return;
        }
        waiting = mem::take(&mut state.waiting);
    }
}

/// One query for `chunk`; each waiter gets its row. On an error the waiters are dropped (they read alone).
async fn answer<S: BatchSource>(source: &S, chunk: Vec<Waiter<S::Row>>) {
    let keys: Vec<&str> = chunk.iter().map(|waiter| waiter.key.as_str()).collect();
    let rows = match source.fetch_many(&keys).await {
        Ok(rows) => rows,
        Err(error) => {
            tracing::warn!(%error, sessions = keys.len(), "coalesced session load failed: each reads alone");
            return;
        }
    };
    tracing::debug!(
        sessions = keys.len(),
        "coalesced session loads read in one query"
    );
    for waiter in chunk {
        // The last waiter of a key could take the row instead of a clone; a session asked for twice
        // in one batch is rare.
        let row = rows.get(waiter.key.as_str()).cloned();
        // A waiter that went away does not need its answer.
        let _ = waiter.reply.send(row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// Rows held in a map; each query waits `delay` (so loads pile up) and is counted.
    #[derive(Clone, Default)]
    struct Table {
        rows: Arc<HashMap<String, u32>>,
        batch: Arc<LoadBatch<u32>>,
        singles: Arc<AtomicUsize>,
        batches: Arc<AtomicUsize>,
        fail_batches: bool,
    }

    impl BatchSource for Table {
        type Row = u32;

        fn batch(&self) -> &LoadBatch<u32> {
            &self.batch
        }

        async fn fetch_one(&self, key: &SessionKey) -> Result<Option<u32>, StoreError> {
            self.singles.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(self.rows.get(key.as_str()).copied())
        }

        async fn fetch_many(&self, keys: &[&str]) -> Result<HashMap<String, u32>, StoreError> {
            self.batches.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            if self.fail_batches {
                return Err(StoreError::Backend {
                    store: "test",
                    source: "batch failed on purpose".into(),
                });
            }
            Ok(keys
                .iter()
                .filter_map(|k| self.rows.get(*k).map(|v| ((*k).to_owned(), *v)))
                .collect())
        }
    }

    fn key(n: u32) -> SessionKey {
        SessionKey::parse(&format!("key{n:08}")).unwrap_or_else(|| panic!("key {n}"))
    }

    fn table(fail_batches: bool) -> Table {
        Table {
            rows: Arc::new((0..50).map(|n| (key(n).as_str().to_owned(), n)).collect()),
            fail_batches,
            ..Table::default()
        }
    }

    async fn load_all(table: &Table, keys: impl Iterator<Item = u32>) -> Vec<Option<u32>> {
        let loads = keys.map(|n| {
            let table = table.clone();
            tokio::spawn(async move { load(&table, &key(n)).await })
        });
        let mut rows = Vec::new();
        for handle in loads.collect::<Vec<_>>() {
            match handle.await {
                Ok(Ok(row)) => rows.push(row),
                other => panic!("load failed: {:?}", other.map(|r| r.err())),
            }
        }
        rows
    }

    #[tokio::test(start_paused = true)]
    async fn loads_during_a_query_are_read_together_and_each_gets_its_own_row() {
        let table = table(false);
        // 40 known keys and 5 unknown ones (a session asked for twice too).
        let keys = (0..40).chain([7, 100, 101, 102, 103]);
        let rows = load_all(&table, keys.clone()).await;
        let expected: Vec<Option<u32>> = keys.map(|n| (n < 50).then_some(n)).collect();
        assert_eq!(rows, expected);
        assert_eq!(
            table.singles.load(Ordering::SeqCst),
            1,
            "one load ran alone"
        );
        assert_eq!(
            table.batches.load(Ordering::SeqCst),
            1,
            "the rest in one query"
        );
        assert!(!table.batch.lock().running);
    }

    #[tokio::test(start_paused = true)]
    async fn one_load_at_a_time_never_batches() {
        let table = table(false);
        for n in 0..5 {
            assert_eq!(load(&table, &key(n)).await.ok().flatten(), Some(n));
        }
        assert_eq!(table.singles.load(Ordering::SeqCst), 5);
        assert_eq!(table.batches.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_batch_makes_each_waiter_read_alone() {
        let table = table(true);
        let rows = load_all(&table, 0..10).await;
        assert_eq!(rows, (0..10).map(Some).collect::<Vec<_>>());
        assert_eq!(table.batches.load(Ordering::SeqCst), 1);
        assert_eq!(table.singles.load(Ordering::SeqCst), 10);
        assert!(!table.batch.lock().running);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_first_load_still_hands_the_queue_on() {
        let table = table(false);
        let first = {
            let table = table.clone();
            tokio::spawn(async move { load(&table, &key(0)).await })
        };
        tokio::time::sleep(Duration::from_millis(1)).await;
        let waiters = {
            let table = table.clone();
            tokio::spawn(async move { load_all(&table, 1..6).await })
        };
        tokio::time::sleep(Duration::from_millis(1)).await;
        first.abort();
        let rows = waiters.await.unwrap_or_default();
        assert_eq!(rows, (1..6).map(Some).collect::<Vec<_>>());
        assert!(!table.batch.lock().running);
        // And the store keeps working.
        assert_eq!(load(&table, &key(9)).await.ok().flatten(), Some(9));
    }

    #[test]
    fn a_runtime_shut_down_mid_batch_strands_no_one() {
        let table = table(false);
        // Paused time: the stop lands mid-batch however busy the machine is.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        runtime.block_on(async {
            for n in 0..5 {
                let table = table.clone();
                tokio::spawn(async move { load(&table, &key(n)).await });
            }
            // The first query ends and a task takes the queue; stop while it reads.
            tokio::time::sleep(Duration::from_millis(30)).await;
        });
        drop(runtime);
        assert!(!table.batch.lock().running, "the dropped task let go");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        let row = runtime.block_on(async { load(&table, &key(3)).await });
        assert_eq!(row.ok().flatten(), Some(3));
    }
}
