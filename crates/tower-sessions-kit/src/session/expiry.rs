//! Django's expiry API of a [`Session`] (`set_expiry`, `get_expiry_age`, `get_expiry_date`,
//! `get_expire_at_browser_close`); the rules it applies are in the crate's `expiry.rs`.

use std::time::{Duration, SystemTime};

use time::OffsetDateTime;

use super::Session;
use crate::error::SessionError;
use crate::expiry::{age, at_browser_close, date, SessionExpiry, EXPIRY_KEY};
use crate::state::write;

impl Session {
    /// Sets a custom expiry (Django's `set_expiry`): see [`SessionExpiry`]. Stored in the session, so it
    /// holds for the following requests too.
    pub async fn set_expiry(&self, expiry: SessionExpiry) -> Result<(), SessionError> {
        let mut state = self.loaded().await?;
        let had_one = state
            .data
            .as_ref()
            .is_some_and(|d| d.contains_key(EXPIRY_KEY));
        let value = expiry.to_value();
        if value.is_some() || had_one {
            write(&mut state, EXPIRY_KEY.to_owned(), value);
            self.mark_modified();
        }
        Ok(())
    }

    /// Seconds until the session expires, counted from now (Django's `get_expiry_age`): the cookie age
    /// without a custom expiry or for a browser-close session.
    pub async fn expiry_age(&self) -> Result<Duration, SessionError> {
        self.read_data(|data, config| age(data, SystemTime::now(), config.cookie_age))
            .await
    }

    /// When the session expires (Django's `get_expiry_date`).
    pub async fn expiry_date(&self) -> Result<OffsetDateTime, SessionError> {
        self.read_data(|data, config| {
            OffsetDateTime::from(date(data, SystemTime::now(), config.cookie_age))
        })
        .await
    }

    /// Whether the cookie ends with the browser session (Django's `get_expire_at_browser_close`): the
    /// layer's setting unless a custom expiry says otherwise.
    pub async fn expire_at_browser_close(&self) -> Result<bool, SessionError> {
        self.read_data(|data, config| at_browser_close(data, config.expire_at_browser_close))
            .await
    }
}
