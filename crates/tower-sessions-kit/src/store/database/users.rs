//! [`DatabaseStore`]'s sessions by user: the indexed `user_id` column, written with the data by every
//! `create` and `save` (from the session's [`USER_KEY`](crate::users::USER_KEY)).

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use cache_core::sql::Bind;

use super::{now_millis, DatabaseStore};
use crate::key::SessionKey;
use crate::store::contract::{UserIndex, UserSession};
use crate::store::StoreError;

/// An instant from Unix milliseconds (the `expire_date` column).
fn from_unix_millis(millis: i64) -> SystemTime {
    match u64::try_from(millis) {
        Ok(after) => SystemTime::UNIX_EPOCH + Duration::from_millis(after),
        Err(_) => SystemTime::UNIX_EPOCH,
    }
}

#[async_trait]
impl UserIndex for DatabaseStore {
    /// One `SELECT` on the `user_id` index.
    async fn sessions_of(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        let list = async {
            let binds = [Bind::Text(user), Bind::Int(now_millis())];
            self.inner
                .pool
                .fetch_all(&self.inner.sql.user_sessions, &binds, |row| {
                    // MySQL reports an `ascii_bin` column as binary: read it as bytes then.
                    let key = match row.text(0) {
                        Ok(text) => text?,
                        Err(_) => String::from_utf8(row.bytes(0).ok().flatten()?).ok()?,
                    };
                    let expires = row.int(1).ok().flatten()?;
                    Some(UserSession::new(
                        SessionKey::parse(&key)?,
                        from_unix_millis(expires),
                    ))
                })
                .await
                .map_err(|error| self.error(error))
        };
        self.bounded(self.inner.deadline, list).await
    }

    /// One `DELETE … WHERE session_key = ? AND user_id = ?`.
    async fn revoke(&self, user: &str, key: &SessionKey) -> Result<bool, StoreError> {
        let revoke = async {
            let binds = [Bind::Text(key.as_str()), Bind::Text(user)];
            let deleted = self.inner.pool.execute(&self.inner.sql.revoke, &binds);
            deleted
                .await
                .map(|rows| rows > 0)
                .map_err(|error| self.error(error))
        };
        self.bounded(self.inner.deadline, revoke).await
    }

    /// One `DELETE … WHERE user_id = ? AND session_key <> ?`.
    async fn revoke_all(&self, user: &str, except: Option<&SessionKey>) -> Result<u64, StoreError> {
        let revoke_all = async {
            let keep = except.map_or("", SessionKey::as_str);
            let binds = [Bind::Text(user), Bind::Text(keep)];
            let deleted = self.inner.pool.execute(&self.inner.sql.revoke_all, &binds);
            deleted.await.map_err(|error| self.error(error))
        };
        self.bounded(self.inner.deadline, revoke_all).await
    }
}
