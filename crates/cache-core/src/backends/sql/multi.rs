//! The multi-key operations of [`Db`]: `IN (…)` lists of up to [`KEYS_PER_QUERY`] keys, and `set_many`'s
//! multi-row upserts, batched by rows and bytes.

use std::collections::HashMap;

use bytes::Bytes;

use super::error::OpResult as Result;
use super::ops::KEYS_PER_QUERY;
use super::ops::{key_and_cell, now_millis, value_or_miss, Db};
use super::statements::Statements;
use crate::backend::Expiry;
use crate::sql::{Bind, Exec};

/// Rows per multi-row `INSERT` of `set_many` (3 parameters each).
const ROWS_PER_INSERT: usize = 1_000;

/// Value bytes per multi-row `INSERT`, so a batch of large values stays under MySQL's `max_allowed_packet`
/// (16 MiB by default on MariaDB). A single larger value still goes alone in its own statement.
const BYTES_PER_INSERT: usize = 8 * 1024 * 1024;

impl Db<'_> {
    pub(crate) async fn get_many(&mut self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        let sql = self.sql;
        let now = now_millis();
        let mut found: HashMap<Vec<u8>, Bytes> = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            let mut binds = Vec::with_capacity(chunk.len() + 1);
            binds.push(Bind::Int(now));
            binds.extend(chunk.iter().map(|key| sql.layout.key(key)));
            let statement = sql.get_many(chunk.len());
            let rows = self
                .conn
                .exec()
                .fetch_all(&statement, &binds, false, key_and_cell);
            for (key, cell) in rows.await? {
                if let Some(value) = value_or_miss(sql, &key, cell) {
                    found.insert(key, value);
                }
            }
        }
        Ok(keys
            .iter()
            .map(|key| found.get(key.as_bytes()).cloned())
            .collect())
    }

    /// Stores every entry with upserts of many rows each; one transaction when there is more than one
    /// batch. A key given twice keeps its last value (as a Python dict would).
    pub(crate) async fn set_many(
        &mut self,
        entries: &[(String, Bytes)],
        expiry: Expiry,
    ) -> Result<()> {
        let sql = self.sql;
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
        for (i, (key, _)) in entries.iter().enumerate() {
            last.insert(key.as_str(), i);
        }
        let distinct: Vec<(&str, &Bytes)> = entries
            .iter()
            .enumerate()
            .filter(|(i, (key, _))| last.get(key.as_str()) == Some(i))
            .map(|(_, (key, value))| (key.as_str(), value))
            .collect();
        if distinct.is_empty() {
            return Ok(());
        }
        let rows = u64::try_from(distinct.len()).unwrap_or(u64::MAX);
        self.before_write(now_millis(), rows).await?;
        let expires = sql.layout.expiry(expiry);
        let batches = batches(&distinct);
        if let [batch] = batches.as_slice() {
            return insert_rows(self.conn.exec(), sql, batch, expires).await;
        }
        let mut tx = self.conn.begin(sql.begin_write).await?;
        for batch in &batches {
            insert_rows(tx.exec(), sql, batch, expires).await?;
        }
        Ok(tx.commit().await?)
    }

    pub(crate) async fn delete_many(&mut self, keys: &[String]) -> Result<()> {
        let sql = self.sql;
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            let binds: Vec<Bind<'_>> = chunk.iter().map(|key| sql.layout.key(key)).collect();
            let statement = sql.delete_many(chunk.len());
            self.conn.exec().execute(&statement, &binds, false).await?;
        }
        Ok(())
    }
}

/// Splits entries into batches for one multi-row `INSERT` each (by rows and by bytes).
fn batches<'e>(entries: &[(&'e str, &'e Bytes)]) -> Vec<Vec<(&'e str, &'e Bytes)>> {
    let mut batches = Vec::new();
    let mut batch: Vec<(&str, &Bytes)> = Vec::new();
    let mut bytes = 0;
    for &(key, value) in entries {
        if !batch.is_empty()
            && (batch.len() == ROWS_PER_INSERT || bytes + value.len() > BYTES_PER_INSERT)
        {
            batches.push(std::mem::take(&mut batch));
            bytes = 0;
        }
        bytes += value.len();
        batch.push((key, value));
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    batches
}

/// One multi-row upsert of `set_many`: key, value, expiry for each row, in statement order.
async fn insert_rows(
    exec: Exec<'_>,
    sql: &Statements,
    batch: &[(&str, &Bytes)],
    expires: i64,
) -> Result<()> {
    let values: Vec<_> = batch
        .iter()
        .map(|(_, value)| sql.layout.value(value))
        .collect();
    let binds: Vec<Bind<'_>> = batch
        .iter()
        .zip(&values)
        .flat_map(|(&(key, _), value)| [sql.layout.key(key), value.bind(), Bind::Int(expires)])
        .collect();
    exec.execute(&sql.set_many(batch.len()), &binds, false)
        .await?;
    Ok(())
}
