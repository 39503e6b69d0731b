//! SQLite's optimistic saves, coalesced: the saves that arrive while one is being written go to SQLite
//! together as **one** `UPDATE … FROM json_each(?) … RETURNING` — one hop to sqlx's worker thread and one
//! write transaction for all of them, where each alone is a hop and a transaction of its own, and
//! concurrent writers on several connections would wait in SQLite's busy handler, which sleeps.
//!
//! Each save still writes only if its row holds the data that save merged onto; the statement returns the
//! keys it wrote, and a save whose key is not among them goes on as alone: to the locking transaction.
//! Two saves of one session in one batch cannot both be decided by one statement (SQLite picks one
//! source row per target row), so only the first goes into it and the others are answered "not
//! written": they, too, take the transaction, which merges onto the row as the first left it.

use std::collections::HashSet;
use std::sync::Arc;

use cache_core::sql::Bind;
use serde_json::json;

use super::merge::Merge;
use super::DatabaseStore;
use crate::record::Data;
use crate::store::batch::{Batch, Runner};
use crate::store::StoreError;

/// One optimistic save: the row's new values, written only if it still holds `stored`.
pub(super) struct RowWrite {
    pub(super) key: String,
    pub(super) text: String,
    pub(super) expires: i64,
    pub(super) user: Option<String>,
    pub(super) stored: String,
}

/// The queue of SQLite saves waiting for a statement; the answer is whether the row was written.
pub(super) type SaveBatch = Batch<RowWrite, bool>;

/// A [`DatabaseStore`]'s optimistic saves as a [`Runner`].
#[derive(Clone)]
pub(super) struct Saves(pub(super) DatabaseStore);

impl Runner for Saves {
    type Request = RowWrite;
    type Reply = bool;

    fn queue(&self) -> &SaveBatch {
        &self.0.inner.saves
    }

    async fn run_one(&self, write: &RowWrite) -> Result<bool, StoreError> {
        let store = &self.0;
        let _turn = store.writer_turn().await;
        let written = store
            .inner
            .pool
            .execute(&store.inner.sql.update_if_unchanged, &{
                let mut binds = store.row_binds(&write.text, write.expires, write.user.as_deref());
                binds.extend([Bind::Text(&write.key), Bind::Text(&write.stored)]);
                binds
            })
            .await
            .map_err(|error| store.error(error))?;
        Ok(written == 1)
    }

    async fn run_many(&self, writes: &[&RowWrite]) -> Result<Vec<bool>, StoreError> {
        let store = &self.0;
        // The first save of each session goes into the statement; later ones answer "not written".
        let mut seen = HashSet::with_capacity(writes.len());
        let first: Vec<bool> = writes
            .iter()
            .map(|write| seen.insert(write.key.as_str()))
            .collect();
        let rows: Vec<_> = writes
            .iter()
            .zip(&first)
            .filter(|(_, first)| **first)
            .map(|(write, _)| {
                json!([
                    write.key,
                    write.text,
                    write.expires,
                    write.user,
                    write.stored
                ])
            })
            .collect();
        let rows = serde_json::to_string(&rows)
            .map_err(|error| StoreError::backend(store.dialect_name(), error))?;
        let _turn = store.writer_turn().await;
        let written: HashSet<String> = store
            .inner
            .pool
            .fetch_all(
                &store.inner.sql.update_many_if_unchanged,
                &[Bind::Text(&rows)],
                |row| row.text(0).ok().flatten(),
            )
            .await
            .map_err(|error| store.error(error))?
            .into_iter()
            .collect();
        Ok(writes
            .iter()
            .zip(first)
            .map(|(write, first)| first && written.contains(&write.key))
            .collect())
    }
}

/// The queue of SQLite saves that fell back to the merging transaction (their row changed since their
/// load); the answer is the record as stored, or `None` when the row is gone.
pub(super) type MergeBatch = Batch<Merge, Option<Arc<Data>>>;

/// A [`DatabaseStore`]'s merging transactions as a [`Runner`]: the saves that fall back while one runs
/// share the next, so many requests saving one session (a browser's parallel requests) cost one
/// transaction together instead of one each, in turn.
#[derive(Clone)]
pub(super) struct Merges(pub(super) DatabaseStore);

impl Runner for Merges {
    type Request = Merge;
    type Reply = Option<Arc<Data>>;

    fn queue(&self) -> &MergeBatch {
        &self.0.inner.merges
    }

    async fn run_one(&self, merge: &Merge) -> Result<Option<Arc<Data>>, StoreError> {
        self.0.merge_one(merge, None).await
    }

    async fn run_many(&self, merges: &[&Merge]) -> Result<Vec<Option<Arc<Data>>>, StoreError> {
        self.0.merge_alone(merges, None).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::key::SessionKey;
    use crate::record::{self, Changes, Data};
    use crate::store::SessionStore;

    const AGE: Duration = Duration::from_secs(600);

    fn text(data: &Data) -> String {
        String::from_utf8(record::encode(data)).expect("JSON is UTF-8")
    }

    fn counter(n: u64) -> Data {
        let mut data = Data::new();
        data.insert("n".into(), n.into());
        data
    }

    /// A migrated in-memory SQLite store holding `count` sessions `{"n": 0}`, and their keys.
    async fn store_with_counters(count: usize) -> (DatabaseStore, Vec<SessionKey>) {
        let store = DatabaseStore::connect("sqlite::memory:")
            .await
            .expect("store");
        store.migrate().await.expect("migrate");
        let mut keys = Vec::with_capacity(count);
        for _ in 0..count {
            keys.push(store.create(&counter(0), AGE).await.expect("create"));
        }
        (store, keys)
    }

    /// The live data under `key`.
    async fn stored(store: &DatabaseStore, key: &SessionKey) -> Option<Data> {
        let loaded = store.load(key).await.expect("load")?;
        Some(Arc::unwrap_or_clone(loaded.data))
    }

    async fn n_in(store: &DatabaseStore, key: &SessionKey) -> Option<serde_json::Value> {
        stored(store, key).await?.get("n").cloned()
    }

    /// The statement writes each first save whose row is unchanged, and only those; a second save of
    /// one session in the batch and a save onto data that changed are answered "not written" and leave
    /// the row alone.
    #[tokio::test]
    async fn one_statement_writes_the_unchanged_rows_once_each() {
        let (store, keys) = store_with_counters(3).await;
        let [a, b, c] = [&keys[0], &keys[1], &keys[2]];
        let write = |key: &SessionKey, stored: u64, new: u64| RowWrite {
            key: key.as_str().to_owned(),
            text: text(&counter(new)),
            expires: i64::MAX,
            user: Some("7".into()),
            stored: text(&counter(stored)),
        };
        let writes = [
            write(a, 0, 1),
            write(b, 0, 1),
            write(a, 0, 2),
            write(c, 5, 6),
        ];
        let replies = Saves(store.clone())
            .run_many(&writes.iter().collect::<Vec<_>>())
            .await
            .expect("batch");
        assert_eq!(replies, [true, true, false, false]);
        assert_eq!(n_in(&store, a).await, Some(1.into()), "the first save of a");
        assert_eq!(n_in(&store, b).await, Some(1.into()));
        assert_eq!(
            n_in(&store, c).await,
            Some(0.into()),
            "changed meanwhile: untouched"
        );
        let users = store.users().expect("index");
        assert_eq!(users.sessions_of("7").await.expect("user").len(), 2);
    }

    /// One transaction merges every queued save: a session's saves applied in arrival order onto its row
    /// (all kept, each answered with the record as stored), a gone session answered `None`, the others
    /// written.
    #[tokio::test]
    async fn one_transaction_merges_every_save_of_the_batch_in_order() {
        let (store, keys) = store_with_counters(3).await;
        let [a, b, gone] = [&keys[0], &keys[1], &keys[2]];
        store.delete(gone).await.expect("delete");
        let merge = |key: &SessionKey, name: &str, value: u64| {
            let mut changes = Changes::new();
            changes.set(name.to_owned(), value.into());
            Merge {
                key: key.as_str().to_owned(),
                changes,
                cookie_age: AGE,
            }
        };
        let merges = [
            merge(a, "x", 1),
            merge(gone, "x", 1),
            merge(b, "n", 5),
            merge(a, "y", 2),
            merge(a, "x", 3),
        ];
        let replies = Merges(store.clone())
            .run_many(&merges.iter().collect::<Vec<_>>())
            .await
            .expect("batch");
        let mut a_now = counter(0);
        a_now.insert("x".into(), 3.into());
        a_now.insert("y".into(), 2.into());
        let answered: Vec<Option<Data>> = replies
            .into_iter()
            .map(|reply| reply.map(Arc::unwrap_or_clone))
            .collect();
        let a_answer = Some(a_now.clone());
        let expected = [
            a_answer.clone(),
            None,
            Some(counter(5)),
            a_answer.clone(),
            a_answer,
        ];
        assert_eq!(answered, expected);
        assert_eq!(
            stored(&store, a).await,
            Some(a_now),
            "every save of a, the last x winning"
        );
        assert_eq!(stored(&store, b).await, Some(counter(5)));
        assert_eq!(stored(&store, gone).await, None, "not resurrected");
    }
}
