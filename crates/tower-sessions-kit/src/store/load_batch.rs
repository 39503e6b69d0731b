//! Coalesced loads: the sessions asked for while a load is running are read together, in one query
//! (SQLite: one `SELECT … IN`; cache: one `get_many`; Redis: one pipeline of `HGETALL`s), each session
//! once however many loads asked for it. The queueing is [`batch`](super::batch)'s.

use std::collections::HashMap;
use std::future::Future;

use super::batch::{self, Batch, Runner};
use super::StoreError;
use crate::key::SessionKey;

/// The loads of one store waiting for a query.
pub(crate) type LoadBatch<R> = Batch<SessionKey, Option<R>>;

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

/// A [`BatchSource`] as a [`Runner`]: one answer per load, a session asked for twice read once.
#[derive(Clone)]
struct Loads<S>(S);

impl<S: BatchSource> Runner for Loads<S> {
    type Request = SessionKey;
    type Reply = Option<S::Row>;

    fn queue(&self) -> &LoadBatch<S::Row> {
        self.0.batch()
    }

    async fn run_one(&self, key: &SessionKey) -> Result<Option<S::Row>, StoreError> {
        self.0.fetch_one(key).await
    }

    async fn run_many(&self, keys: &[&SessionKey]) -> Result<Vec<Option<S::Row>>, StoreError> {
        let mut unique: Vec<&str> = keys.iter().map(|key| key.as_str()).collect();
        unique.sort_unstable();
        unique.dedup();
        let rows = self.0.fetch_many(&unique).await?;
        // The last load of a key could take the row instead of a clone; a session asked for twice in
        // one batch is rare.
        Ok(keys
            .iter()
            .map(|key| rows.get(key.as_str()).cloned())
            .collect())
    }
}

/// `key`'s row, read alone or together with the loads queued meanwhile.
pub(crate) async fn load<S: BatchSource>(
    source: &S,
    key: &SessionKey,
) -> Result<Option<S::Row>, StoreError> {
    batch::submit(&Loads(source.clone()), key.clone()).await
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
        assert!(!table.batch.is_running());
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
        assert!(!table.batch.is_running());
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
        assert!(!table.batch.is_running());
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
        assert!(!table.batch.is_running(), "the dropped task let go");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        let row = runtime.block_on(async { load(&table, &key(3)).await });
        assert_eq!(row.ok().flatten(), Some(3));
    }
}
