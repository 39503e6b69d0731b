//! The user of a [`Session`]: logging in (`set_user`, Django's `login`), and the user's other sessions.
//! The index of sessions by user is the store's (see [`users`](crate::users)).

use serde_json::Value;

use super::Session;
use crate::error::SessionError;
use crate::guard::Phase;
use crate::record::user_of;
use crate::state::write;
use crate::users::{self, checked_user_id, UserSession, USER_KEY};

impl Session {
    /// Logs `user` in on this session (Django's `login`): records the user's id under
    /// [`USER_KEY`](crate::users::USER_KEY) and moves the session to a new key
    /// ([`cycle_key`](Self::cycle_key), against session fixation). A session that belonged to another user
    /// is emptied first, as Django does. With
    /// [`SessionLayer::max_sessions_per_user`](crate::SessionLayer::max_sessions_per_user), the user's
    /// sessions beyond the cap are revoked, the least recently used first.
    ///
    /// `user` is the text form of the user's primary key (`"42"`). Log out with [`flush`](Self::flush).
    ///
    /// # Errors
    ///
    /// [`SessionError::InvalidUser`] for an empty id, one over
    /// [`MAX_USER_ID`](crate::users::MAX_USER_ID) bytes or with a control character; a store error.
    pub async fn set_user(&self, user: &str) -> Result<(), SessionError> {
        let user = checked_user_id(user)?;
        {
            let mut state = self.loaded().await?;
            let other_user = state
                .data
                .as_deref()
                .and_then(user_of)
                .is_some_and(|current| current != user);
            if other_user {
                self.clear_locked(&mut state);
            }
            write(
                &mut state,
                USER_KEY.to_owned(),
                Some(Value::String(user.to_owned())),
            );
            self.mark_modified();
        }
        self.cycle_key().await?;
        let shared = self.shared();
        let (Some(max), Some(index)) = (shared.config.max_sessions_per_user, shared.store.users())
        else {
            return Ok(());
        };
        let Some(key) = self.key().await else {
            return Ok(());
        };
        let revoked = shared
            .call(&mut Phase::default(), || users::cap(index, user, max, &key))
            .await?;
        if revoked > 0 {
            tracing::info!(
                store = shared.store.name(),
                revoked,
                "sessions over the per-user cap revoked at login"
            );
        }
        Ok(())
    }

    /// The id of the logged-in user ([`set_user`](Self::set_user)); `None` when anonymous.
    pub async fn user(&self) -> Result<Option<String>, SessionError> {
        self.read_data(|data, _| user_of(data).map(str::to_owned))
            .await
    }

    /// The live sessions of this session's user, this one included, soonest to expire first; none when
    /// anonymous.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`](crate::StoreError::Unsupported) when the store keeps no sessions by
    /// user; a store error.
    pub async fn user_sessions(&self) -> Result<Vec<UserSession>, SessionError> {
        let Some(user) = self.user().await? else {
            return Ok(Vec::new());
        };
        let shared = self.shared();
        let index = users::index_of(&*shared.store)?;
        Ok(shared
            .call(&mut Phase::default(), || index.sessions_of(&user))
            .await?)
    }

    /// Logs this session's user out everywhere else: revokes every other session of the user; how many.
    /// Nothing for an anonymous session.
    ///
    /// # Errors
    ///
    /// As [`user_sessions`](Self::user_sessions).
    pub async fn revoke_other_sessions(&self) -> Result<u64, SessionError> {
        let Some(user) = self.user().await? else {
            return Ok(0);
        };
        let key = self.key().await;
        let shared = self.shared();
        let index = users::index_of(&*shared.store)?;
        Ok(shared
            .call(&mut Phase::default(), || {
                index.revoke_all(&user, key.as_ref())
            })
            .await?)
    }
}
