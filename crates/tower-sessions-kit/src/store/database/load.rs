//! Reading a live row: one query, or on SQLite, together with the loads running at the same time
//! ([`load_batch`](crate::store::load_batch)).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cache_core::sql::{Bind, SqlRow};

use super::{now_millis, text_or_reason, DatabaseStore, RawRow};
use crate::key::SessionKey;
use crate::record::Data;
use crate::store::StoreError;

/// Columns `first` (data) and `first + 1` (expiry) of `row`.
fn raw_row(row: SqlRow<'_>, first: usize) -> RawRow {
    (
        text_or_reason(row.text(first)),
        row.int(first + 1).ok().flatten(),
    )
}

impl DatabaseStore {
    /// The live row's data, expiry, and text as stored (when it could be read as text). One deadline in
    /// all, a wait for coalesced loads included.
    pub(crate) async fn load_row(
        &self,
        key: &SessionKey,
    ) -> Result<Option<(Data, SystemTime, Option<Arc<str>>)>, StoreError> {
        let row = self
            .bounded(self.inner.deadline, self.read_row(key))
            .await?;
        let Some((data, expires)) = row else {
            return Ok(None);
        };
        let snapshot = data.as_deref().ok().map(Arc::from);
        let data = self.decode_row(data.as_deref());
        let expires = expires
            .and_then(|ms| u64::try_from(ms).ok())
            .map_or(SystemTime::now(), |ms| {
                SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
            });
        Ok(Some((data, expires, snapshot)))
    }

    /// The live row under `key`; on SQLite coalesced with the loads running at the same time.
    async fn read_row(&self, key: &SessionKey) -> Result<Option<RawRow>, StoreError> {
        #[cfg(feature = "sqlite")]
        if self.inner.pool.dialect() == cache_core::sql::Dialect::Sqlite {
            return crate::store::load_batch::load(self, key).await;
        }
        self.fetch_row(key).await
    }

    /// The live row under `key`, by one query.
    async fn fetch_row(&self, key: &SessionKey) -> Result<Option<RawRow>, StoreError> {
        self.inner
            .pool
            .fetch_optional(
                &self.inner.sql.load,
                &[Bind::Text(key.as_str()), Bind::Int(now_millis())],
                |row| raw_row(row, 0),
            )
            .await
            .map_err(|error| self.error(error))
    }
}

#[cfg(feature = "sqlite")]
impl crate::store::load_batch::BatchSource for DatabaseStore {
    type Row = RawRow;

    fn batch(&self) -> &crate::store::load_batch::LoadBatch<RawRow> {
        &self.inner.batch
    }

    async fn fetch_one(&self, key: &SessionKey) -> Result<Option<RawRow>, StoreError> {
        self.fetch_row(key).await
    }

    /// One query for every key (SQLite: the keys as one JSON array, read by `json_each`).
    async fn fetch_many(
        &self,
        keys: &[&str],
    ) -> Result<std::collections::HashMap<String, RawRow>, StoreError> {
        let keys =
            serde_json::to_string(keys).map_err(|e| StoreError::backend(self.dialect_name(), e))?;
        let rows = self
            .inner
            .pool
            .fetch_all(
                &self.inner.sql.load_many,
                &[Bind::Text(&keys), Bind::Int(now_millis())],
                |row| Some((row.text(0).ok().flatten()?, raw_row(row, 1))),
            )
            .await
            .map_err(|error| self.error(error))?;
        Ok(rows.into_iter().collect())
    }
}
