//! When a session expires: [`SessionExpiry`] (Django's `set_expiry` values) and the age and date rules
//! built on the stored form.

use std::time::{Duration, SystemTime};

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::record::Data;

/// [`SessionExpiry::DATA_KEY`], for this crate's code.
pub(crate) const EXPIRY_KEY: &str = "_session_expiry";

/// A session's expiry, as given to [`Session::set_expiry`](crate::Session::set_expiry).
///
/// A custom expiry lives in the session data under [`DATA_KEY`](Self::DATA_KEY) (`"_session_expiry"`), as
/// in Django, so it is stored, merged and cleared like any other value:
///
/// | value                       | stored as                    | expires                                  |
/// |-----------------------------|------------------------------|------------------------------------------|
/// | `Inherit`                   | nothing (the key is removed) | cookie age after the last save           |
/// | `Idle(d)`, `d` ≥ 1 s        | whole seconds (`3600`)       | `d` after the last save (sliding)        |
/// | `AtBrowserClose`, `Idle(0)` | `0`                          | when the browser closes; the record lasts the cookie age |
/// | `At(t)`                     | RFC 3339 text                | at `t`                                   |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionExpiry {
    /// No custom expiry: the layer's cookie age and browser-close setting apply (Django's `None`).
    Inherit,
    /// Expires after this much inactivity, counted from each save, in whole seconds (Django's integer).
    /// Zero means [`SessionExpiry::AtBrowserClose`], as in Django.
    Idle(Duration),
    /// The cookie lasts until the browser closes (Django's `0`). The server-side record still expires after
    /// the cookie age.
    AtBrowserClose,
    /// Expires at this instant (Django's `datetime`; a `timedelta` is `At(now + delta)`).
    At(OffsetDateTime),
}

impl SessionExpiry {
    /// The data key holding a custom expiry (Django's). Hidden from [`Session::keys`](crate::Session::keys)
    /// and reserved: [`Session::insert`](crate::Session::insert) refuses it.
    pub const DATA_KEY: &'static str = EXPIRY_KEY;

    /// The value stored under [`DATA_KEY`](Self::DATA_KEY), or `None` to remove it.
    pub(crate) fn to_value(self) -> Option<Value> {
        match self {
            SessionExpiry::Inherit => None,
            SessionExpiry::Idle(idle) => Some(Value::from(idle.as_secs())),
            SessionExpiry::AtBrowserClose => Some(Value::from(0_u64)),
            SessionExpiry::At(at) => Some(Value::String(
                at.format(&Rfc3339)
                    .unwrap_or_else(|_| at.unix_timestamp().to_string()),
            )),
        }
    }
}

/// A stored custom expiry, read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    /// Idle seconds; 0 is "at browser close". Negative values (written by others) count as expired.
    Seconds(i64),
    /// An instant.
    At(OffsetDateTime),
}

/// The custom expiry in `data`, if there is a readable one. An unreadable value is ignored (the defaults
/// apply), never an error: the data may have been written by another program.
pub(crate) fn stored(data: &Data) -> Option<Stored> {
    match data.get(EXPIRY_KEY)? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(Stored::Seconds),
        Value::String(text) => OffsetDateTime::parse(text, &Rfc3339).ok().map(Stored::At),
        _ => None,
    }
}

/// Django's `get_expiry_age`: the seconds the session has left from `now` (zero when already past).
pub(crate) fn age(data: &Data, now: SystemTime, cookie_age: Duration) -> Duration {
    match stored(data) {
        None | Some(Stored::Seconds(0)) => cookie_age,
        Some(Stored::Seconds(secs)) => Duration::from_secs(u64::try_from(secs).unwrap_or(0)),
        Some(Stored::At(at)) => {
            let left = at - OffsetDateTime::from(now);
            Duration::from_secs(u64::try_from(left.whole_seconds()).unwrap_or(0))
        }
    }
}

/// Django's `get_expiry_date`: the instant the session expires.
pub(crate) fn date(data: &Data, now: SystemTime, cookie_age: Duration) -> SystemTime {
    match stored(data) {
        Some(Stored::At(at)) => SystemTime::from(at),
        _ => now.checked_add(age(data, now, cookie_age)).unwrap_or(now),
    }
}

/// Django's `get_expire_at_browser_close`: the layer's setting when there is no custom expiry, otherwise
/// whether the custom expiry is "at browser close".
pub(crate) fn at_browser_close(data: &Data, default: bool) -> bool {
    match stored(data) {
        None => default,
        Some(stored) => stored == Stored::Seconds(0),
    }
}

/// Unix milliseconds of an instant (the stores' expiry column), clamped to the `i64` range.
#[cfg(any(
    feature = "sqlite",
    feature = "postgres",
    feature = "mysql",
    feature = "file",
    feature = "signed-cookie",
    feature = "redis"
))]
pub(crate) fn unix_millis(at: SystemTime) -> i64 {
    match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const AGE: Duration = Duration::from_secs(1_209_600);

    fn data(value: Value) -> Data {
        let mut data = Data::new();
        data.insert(EXPIRY_KEY.into(), value);
        data
    }

    #[test]
    fn no_custom_expiry_uses_the_cookie_age_and_the_setting() {
        let now = SystemTime::now();
        let empty = Data::new();
        assert_eq!(age(&empty, now, AGE), AGE);
        assert_eq!(date(&empty, now, AGE), now + AGE);
        assert!(!at_browser_close(&empty, false));
        assert!(at_browser_close(&empty, true));
    }

    #[test]
    fn idle_seconds_and_browser_close() {
        let now = SystemTime::now();
        let idle = data(
            SessionExpiry::Idle(Duration::from_secs(60))
                .to_value()
                .expect("value"),
        );
        assert_eq!(age(&idle, now, AGE), Duration::from_secs(60));
        assert!(
            !at_browser_close(&idle, true),
            "a custom expiry overrides the setting"
        );
        let close = data(SessionExpiry::AtBrowserClose.to_value().expect("value"));
        assert_eq!(
            age(&close, now, AGE),
            AGE,
            "0 means the cookie age for the record"
        );
        assert!(at_browser_close(&close, false));
        assert_eq!(
            SessionExpiry::Idle(Duration::ZERO).to_value(),
            Some(json!(0))
        );
    }

    #[test]
    fn dates_round_trip_as_rfc3339_and_count_down() {
        let now = SystemTime::now();
        let at = OffsetDateTime::from(now) + time::Duration::seconds(90);
        let value = SessionExpiry::At(at).to_value().expect("value");
        assert!(value.is_string());
        let stored_data = data(value);
        let left = age(&stored_data, now, AGE).as_secs();
        assert!((89..=90).contains(&left), "{left}");
        let past = data(json!("2001-01-01T00:00:00Z"));
        assert_eq!(age(&past, now, AGE), Duration::ZERO);
    }

    #[test]
    fn unreadable_expiries_are_ignored() {
        let now = SystemTime::now();
        assert_eq!(age(&data(json!("soon")), now, AGE), AGE);
        assert_eq!(age(&data(json!([1])), now, AGE), AGE);
        assert_eq!(age(&data(json!(-5)), now, AGE), Duration::ZERO);
    }
}
