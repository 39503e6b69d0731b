//! [`RedisStore`]'s sessions by user: a sorted set per user (`{prefix}user:{id}`) of session keys scored
//! by their expiry (Unix ms). The set is an index, not the truth: every read checks each member against
//! the session's own user field, so a member whose session expired, was deleted or was cleared is never
//! listed (and is dropped from the set then).

use async_trait::async_trait;
use cache_core::backends::redis::driver::{self, Value};
use cache_core::backends::redis::ScriptCall;

use super::fields::{encode_value, field_of};
use super::{int_reply, scripts, text_reply, RedisStore};
use crate::key::SessionKey;
use crate::record::USER_KEY;
use crate::store::contract::{UserIndex, UserSession};
use crate::store::StoreError;

impl RedisStore {
    /// The Redis key of `user`'s index.
    pub(super) fn index_key(&self, user: &str) -> String {
        format!("{}user:{user}", self.inner.prefix)
    }

    /// Adds session `key` (expiring at `at`, `left` ms from now) to the index `index`, or re-scores it.
    pub(super) fn index_call<'a>(
        &self,
        index: &'a str,
        key: &'a str,
        at: i64,
        left: i64,
    ) -> ScriptCall<'static> {
        scripts::INDEX.call().key(index).arg(key).arg(at).arg(left)
    }

    /// Drops session keys from `user`'s index.
    pub(super) async fn unindex(&self, user: &str, keys: &[&str]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut zrem = driver::cmd("ZREM");
        zrem.arg(self.index_key(user)).arg(keys);
        self.command(&zrem).await.map(drop)
    }

    async fn sessions_unbounded(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        let mut zrange = driver::cmd("ZRANGE");
        zrange.arg(self.index_key(user)).arg(0).arg(-1);
        let members = match self.command(&zrange).await? {
            Value::Array(members) | Value::Set(members) => members,
            _ => Vec::new(),
        };
        let keys: Vec<String> = members.into_iter().filter_map(text_reply).collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // Each member's user field and milliseconds left, all in one round trip.
        let user_field = field_of(USER_KEY);
        let mut commands = Vec::with_capacity(keys.len() * 2);
        for key in &keys {
            let session = self.session_key(key);
            let mut hget = driver::cmd("HGET");
            hget.arg(&session).arg(user_field.as_bytes());
            let mut pttl = driver::cmd("PTTL");
            pttl.arg(&session);
            commands.push(hget);
            commands.push(pttl);
        }
        let replies = self.commands(&commands).await?;
        let expected = encode_value(&serde_json::Value::String(user.to_owned()));
        let now = std::time::SystemTime::now();
        let mut sessions = Vec::new();
        let mut stale = Vec::new();
        let mut replies = replies.into_iter();
        for key in &keys {
            let (Some(owner), Some(left)) = (replies.next(), replies.next()) else {
                break;
            };
            let owned = text_reply(owner).is_some_and(|owner| owner.as_bytes() == expected);
            let left = int_reply(&left).unwrap_or(-2);
            match SessionKey::parse(key) {
                Some(session) if owned && left > 0 => {
                    let left = std::time::Duration::from_millis(left.unsigned_abs());
                    sessions.push(UserSession::new(session, now + left));
                }
                _ => stale.push(key.as_str()),
            }
        }
        self.unindex(user, &stale).await?;
        sessions.sort_by_key(|session| session.expires);
        Ok(sessions)
    }

    async fn revoke_unbounded(&self, user: &str, key: &SessionKey) -> Result<bool, StoreError> {
        let session = self.session_key(key.as_str());
        let owner = encode_value(&serde_json::Value::String(user.to_owned()));
        let call = scripts::REVOKE
            .call()
            .key(&session)
            .arg(field_of(USER_KEY).as_bytes())
            .arg(&owner[..]);
        let revoked = self.eval(&[call], true).await?;
        let revoked = revoked.first().map(int_reply).transpose()? == Some(1);
        // Not this user's (any more), or revoked: either way not in the index.
        self.unindex(user, &[key.as_str()]).await?;
        Ok(revoked)
    }
}

#[async_trait]
impl UserIndex for RedisStore {
    async fn sessions_of(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        self.bounded(self.sessions_unbounded(user)).await
    }

    async fn revoke(&self, user: &str, key: &SessionKey) -> Result<bool, StoreError> {
        self.bounded(self.revoke_unbounded(user, key)).await
    }

    async fn revoke_all(&self, user: &str, except: Option<&SessionKey>) -> Result<u64, StoreError> {
        let revoke_all = async {
            let mut revoked = 0;
            for session in self.sessions_unbounded(user).await? {
                if Some(&session.key) != except && self.revoke_unbounded(user, &session.key).await?
                {
                    revoked += 1;
                }
            }
            Ok(revoked)
        };
        self.bounded(revoke_all).await
    }
}
