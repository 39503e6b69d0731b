//! `save`: this request's changes merged onto the row as it is now, in one transaction holding the row —
//! or, on SQLite, first without one, writing only if the row is unchanged.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use cache_core::sql::{Bind, Conn, Dialect};

use super::{text_or_reason, DatabaseStore};
use crate::expiry::{self, unix_millis};
use crate::key::SessionKey;
use crate::record::{self, Data};
use crate::store::{SaveRequest, Saved, StoreError};
use crate::users::user_of;

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
        if hook.is_none() && self.inner.pool.dialect() == Dialect::Sqlite {
            if let Some(saved) = self.save_if_unchanged(key, &request).await? {
                return Ok(saved);
            }
        }
        // On a server database, a save abandoned at its deadline drops its connection unfinished, which
        // closes it: the server rolls the transaction back.
        let mut conn = self.inner.pool.acquire().await.map_err(|e| self.error(e))?;
        let saved = self
            .save_in_transaction(&mut conn, key, &request, hook)
            .await;
        conn.finish();
        saved
    }

    /// Locks the row (SQLite: the database, with `BEGIN IMMEDIATE`), merges, writes, runs `hook`, commits.
    /// An error drops the transaction, which rolls it back.
    async fn save_in_transaction(
        &self,
        conn: &mut Conn,
        key: &SessionKey,
        request: &SaveRequest<'_>,
        hook: Option<&dyn BeforeCommit>,
    ) -> Result<Saved, StoreError> {
        let begin = conn.dialect().begin_write();
        let mut tx = conn.begin(begin).await.map_err(|e| self.error(e))?;
        let stored = tx
            .exec()
            .fetch_optional(&self.inner.sql.lock, &[Bind::Text(key.as_str())], |row| {
                text_or_reason(row.text(0))
            })
            .await
            .map_err(|e| self.error(e))?;
        let Some(stored) = stored else {
            return Err(StoreError::Gone);
        };
        let (data, text, expires) = self.merge(stored.as_deref(), request);
        tx.exec()
            .execute(
                &self.inner.sql.update,
                &[
                    Bind::Text(&text),
                    Bind::Int(expires),
                    Bind::OptionalText(user_of(&data)),
                    Bind::Text(key.as_str()),
                ],
                true,
            )
            .await
            .map_err(|e| self.error(e))?;
        if let Some(hook) = hook {
            hook.before_commit(&data).await;
        }
        tx.commit().await.map_err(|e| self.error(e))?;
        Ok(Saved {
            new_key: None,
            merged: Some(Arc::new(data)),
        })
    }

    /// SQLite's optimistic save: merge onto the row as this request loaded it ([`SaveRequest::snapshot`])
    /// or, without one, as read now; write only if the row is unchanged. `Ok(None)` when it changed in
    /// between (or could not be read as text): the caller runs the locking transaction. Two statements
    /// instead of four, each a hop to sqlx's SQLite worker thread.
    async fn save_if_unchanged(
        &self,
        key: &SessionKey,
        request: &SaveRequest<'_>,
    ) -> Result<Option<Saved>, StoreError> {
        let pool = &self.inner.pool;
        let stored: Cow<'_, str> = match request.snapshot {
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
        let written = pool
            .execute(
                &self.inner.sql.update_if_unchanged,
                &[
                    Bind::Text(&text),
                    Bind::Int(expires),
                    Bind::OptionalText(user_of(&data)),
                    Bind::Text(key.as_str()),
                    Bind::Text(&stored),
                ],
            )
            .await
            .map_err(|e| self.error(e))?;
        Ok((written == 1).then_some(Saved {
            new_key: None,
            merged: Some(Arc::new(data)),
        }))
    }

    /// The stored data (as read from the row) with this request's changes applied: the data, its text
    /// and its expiry in Unix milliseconds.
    fn merge(
        &self,
        stored: Result<&str, impl std::fmt::Display>,
        request: &SaveRequest<'_>,
    ) -> (Data, String, i64) {
        let mut data = self.decode_row(stored);
        request.changes.apply_to(&mut data);
        let text = String::from_utf8(record::encode(&data)).unwrap_or_else(|_| "{}".to_owned());
        let expires = unix_millis(expiry::date(&data, SystemTime::now(), request.cookie_age));
        (data, text, expires)
    }
}
