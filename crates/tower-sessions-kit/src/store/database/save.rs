//! `save`: this request's changes merged onto the row as it is now, in one transaction holding the row —
//! or, on SQLite, first without one, writing only if the row is unchanged.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use cache_core::sql::{Bind, Conn, Dialect};

use super::merge::Merge;
use super::{text_or_reason, DatabaseStore};
use crate::expiry::{self, unix_millis};
use crate::key::SessionKey;
use crate::record::user_of;
use crate::record::{self, Data};
use crate::store::{SaveRequest, Saved, StoreError};

/// Runs inside a `save` transaction after the `UPDATE` and before the `COMMIT`, while the row is
/// locked: [`CachedDatabaseStore`](crate::store::CachedDatabaseStore) writes its cache entry there, so
/// cache writes of concurrent saves happen in commit order.
#[async_trait]
pub(crate) trait BeforeCommit: Send + Sync {
    async fn before_commit(&self, data: &Data);

    /// The most time `before_commit` takes: the save's deadline is extended by it, so the hook cannot
    /// use up the database's time.
    fn budget(&self) -> Duration;
}

/// A merge's answer as a save's: the record as stored, or [`StoreError::Gone`].
fn saved_or_gone(merged: Option<Arc<Data>>) -> Result<Saved, StoreError> {
    let merged = merged.ok_or(StoreError::Gone)?;
    Ok(Saved {
        new_key: None,
        merged: Some(merged),
    })
}

impl DatabaseStore {
    /// `save`, running `hook` before the commit: bounded by the deadline plus the hook's budget.
    pub(crate) async fn save_hooked(
        &self,
        key: &SessionKey,
        request: SaveRequest<'_>,
        hook: Option<&dyn BeforeCommit>,
    ) -> Result<Saved, StoreError> {
        let limit = self
            .inner
            .deadline
            .saturating_add(hook.map_or(Duration::ZERO, |hook| hook.budget()));
        self.bounded(limit, self.save_unbounded(key, request, hook))
            .await
    }

    async fn save_unbounded(
        &self,
        key: &SessionKey,
        request: SaveRequest<'_>,
        hook: Option<&dyn BeforeCommit>,
    ) -> Result<Saved, StoreError> {
        // A hook must run while the row is locked, which only the transaction does.
        if hook.is_none() {
            let saved = match self.inner.pool.dialect() {
                #[cfg(feature = "sqlite")]
                Dialect::Sqlite => self.save_if_unchanged(key, &request).await?,
                // The database can merge only this crate's JSON.
                Dialect::Postgres if self.inner.sql.has_user => {
                    self.save_merged_by_database(key, &request).await?
                }
                _ => None,
            };
            if let Some(saved) = saved {
                return Ok(saved);
            }
        }
        let merge = Merge {
            key: key.as_str().to_owned(),
            changes: request.changes.clone(),
            cookie_age: request.cookie_age,
        };
        #[cfg(feature = "sqlite")]
        if hook.is_none() && self.inner.pool.dialect() == Dialect::Sqlite {
            // The saves that fell back while a transaction ran share the next one.
            let runner = super::save_batch::Merges(self.clone());
            let merged = crate::store::batch::submit(&runner, merge).await?;
            return saved_or_gone(merged);
        }
        saved_or_gone(self.merge_one(&merge, hook).await?)
    }

    /// [`merge_alone`](Self::merge_alone) of one save: the record as stored, or `None` when gone.
    pub(super) async fn merge_one(
        &self,
        merge: &Merge,
        hook: Option<&dyn BeforeCommit>,
    ) -> Result<Option<Arc<Data>>, StoreError> {
        let merged = self.merge_alone(&[merge], hook).await?;
        Ok(merged.into_iter().next().flatten())
    }

    /// [`merge_in_transaction`](Self::merge_in_transaction) on a connection of its own, after this
    /// store's turn to write on SQLite (always before a connection, as the save batches do).
    pub(super) async fn merge_alone(
        &self,
        merges: &[&Merge],
        hook: Option<&dyn BeforeCommit>,
    ) -> Result<Vec<Option<Arc<Data>>>, StoreError> {
        let _turn = self.writer_turn().await;
        // On a server database, a save abandoned at its deadline drops its connection unfinished, which
        // closes it: the server rolls the transaction back.
        let mut conn = self.inner.pool.acquire().await.map_err(|e| self.error(e))?;
        let merged = self.merge_in_transaction(&mut conn, merges, hook).await;
        conn.finish();
        merged
    }

    /// On SQLite, this store's turn to write ([`Inner::writer`](super::Inner)), held until dropped;
    /// `None` on the server databases, which lock rows, not the database.
    pub(super) async fn writer_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.inner.pool.dialect() {
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => Some(self.inner.writer.lock().await),
            _ => None,
        }
    }

    /// One transaction for `merges`: each session's row locked (SQLite: the database, with
    /// `BEGIN IMMEDIATE`; the others `SELECT … FOR UPDATE`) and read, its saves' changes applied in
    /// order, written once, `hook` run after each write; then the commit. One answer per merge: the record
    /// as stored, or `None` when its row is gone. An error drops the transaction, which rolls it back.
    async fn merge_in_transaction(
        &self,
        conn: &mut Conn,
        merges: &[&Merge],
        hook: Option<&dyn BeforeCommit>,
    ) -> Result<Vec<Option<Arc<Data>>>, StoreError> {
        let begin = conn.dialect().begin_write();
        let mut tx = conn.begin(begin).await.map_err(|e| self.error(e))?;
        let mut written: Vec<(&str, Option<Arc<Data>>)> = Vec::new();
        for merge in merges {
            let key = merge.key.as_str();
            if written.iter().any(|(done, _)| *done == key) {
                continue;
            }
            let stored = tx
                .exec()
                .fetch_optional(&self.inner.sql.lock, &[Bind::Text(key)], |row| {
                    text_or_reason(row.text(0))
                })
                .await
                .map_err(|e| self.error(e))?;
            let Some(stored) = stored else {
                written.push((key, None));
                continue;
            };
            let mut data = self.decode_row(stored.as_deref());
            let mut cookie_age = merge.cookie_age;
            for same in merges.iter().filter(|other| other.key == merge.key) {
                same.changes.apply_to(&mut data);
                cookie_age = same.cookie_age;
            }
            let (text, expires) = self.row_of(&data, cookie_age);
            let mut binds = self.row_binds(&text, expires, user_of(&data));
            binds.push(Bind::Text(key));
            tx.exec()
                .execute(&self.inner.sql.update, &binds, true)
                .await
                .map_err(|e| self.error(e))?;
            if let Some(hook) = hook {
                hook.before_commit(&data).await;
            }
            written.push((key, Some(Arc::new(data))));
        }
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(merges
            .iter()
            .map(|merge| {
                written
                    .iter()
                    .find(|(key, _)| *key == merge.key)
                    .and_then(|(_, data)| data.clone())
            })
            .collect())
    }

    /// SQLite's optimistic save: merge onto the row as this request loaded it ([`SaveRequest::snapshot`])
    /// or, without one, as read now; write only if the row is unchanged, coalesced with the saves
    /// arriving meanwhile ([`save_batch`](super::save_batch)). `Ok(None)` when it changed in between (or
    /// could not be read as text): the caller runs the locking transaction.
    #[cfg(feature = "sqlite")]
    async fn save_if_unchanged(
        &self,
        key: &SessionKey,
        request: &SaveRequest<'_>,
    ) -> Result<Option<Saved>, StoreError> {
        let pool = &self.inner.pool;
        let stored: std::borrow::Cow<'_, str> = match request.snapshot {
            Some(snapshot) => snapshot.into(),
            None => {
                let row = pool
                    .fetch_optional(&self.inner.sql.lock, &[Bind::Text(key.as_str())], |row| {
                        row.text(0)
                    })
                    .await
                    .map_err(|e| self.error(e))?;
                let Some(column) = row else {
                    return Err(StoreError::Gone);
                };
                let Ok(Some(stored)) = column else {
                    return Ok(None);
                };
                stored.into()
            }
        };
        let (data, text, expires) = self.merge(Ok::<_, &str>(&stored), request);
        let write = super::save_batch::RowWrite {
            key: key.as_str().to_owned(),
            text,
            expires,
            user: user_of(&data).map(str::to_owned),
            stored: stored.into_owned(),
        };
        let written =
            crate::store::batch::submit(&super::save_batch::Saves(self.clone()), write).await?;
        Ok(written.then_some(Saved {
            new_key: None,
            merged: Some(Arc::new(data)),
        }))
    }

    /// PostgreSQL's save: one `UPDATE` in which the database merges the changes onto the row (`jsonb`).
    /// No read, no transaction, no lock held across round trips; concurrent saves of one session are
    /// serialized by the row lock of their `UPDATE`s, so none is lost. The expiry and user are the
    /// request's view's, as for the other stores. `Ok(None)` when the database refused the row's data
    /// as JSON (a corrupted or foreign row, or text `jsonb` cannot hold such as `\u0000`): the caller runs
    /// the transaction, which decodes it leniently.
    async fn save_merged_by_database(
        &self,
        key: &SessionKey,
        request: &SaveRequest<'_>,
    ) -> Result<Option<Saved>, StoreError> {
        let changes = request.changes;
        let mut removed = Vec::new();
        let mut set = Data::new();
        for (name, value) in changes.writes() {
            match value {
                Some(value) => {
                    set.insert(name.to_owned(), value.clone());
                }
                None => removed.push(name),
            }
        }
        let removed = serde_json::to_string(&removed).unwrap_or_else(|_| "[]".to_owned());
        let set = String::from_utf8(record::encode(&set)).unwrap_or_else(|_| "{}".to_owned());
        let expires = unix_millis(expiry::date(
            request.data,
            SystemTime::now(),
            request.cookie_age,
        ));
        let binds = [
            Bind::Int(i64::from(changes.cleared())),
            Bind::Text(&removed),
            Bind::Text(&set),
            Bind::Int(expires),
            Bind::OptionalText(user_of(request.data)),
            Bind::Text(key.as_str()),
        ];
        match self
            .inner
            .pool
            .execute(&self.inner.sql.update_merged, &binds)
            .await
        {
            Ok(0) => Err(StoreError::Gone),
            Ok(_) => Ok(Some(Saved::default())),
            Err(error) if error.is_data_exception() => {
                tracing::debug!(%error, "session row is not jsonb: saving in a transaction");
                Ok(None)
            }
            Err(error) => Err(self.error(error)),
        }
    }

    /// The stored data (as read from the row) with this request's changes applied: the data, its text
    /// and its expiry in Unix milliseconds.
    #[cfg(feature = "sqlite")]
    fn merge(
        &self,
        stored: Result<&str, impl std::fmt::Display>,
        request: &SaveRequest<'_>,
    ) -> (Data, String, i64) {
        let mut data = self.decode_row(stored);
        request.changes.apply_to(&mut data);
        let (text, expires) = self.row_of(&data, request.cookie_age);
        (data, text, expires)
    }

    /// A row's data column and expiry in Unix milliseconds for `data`.
    fn row_of(&self, data: &Data, cookie_age: Duration) -> (String, i64) {
        let text = self.inner.format.encode(data);
        let expires = unix_millis(expiry::date(data, SystemTime::now(), cookie_age));
        (text, expires)
    }
}
