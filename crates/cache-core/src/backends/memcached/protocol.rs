//! memcached's rules, as plain functions: the expiry token, the keys it accepts, and what its error lines
//! mean.

use std::time::SystemTime;

use async_memcached::{ErrorKind, Status};

use crate::backend::Expiry;
use crate::error::{Error, KeyProblem, Result};
use crate::key::MEMCACHED_MAX_KEY_CHARS;

/// The longest relative expiry memcached accepts; beyond it an expiry is an absolute Unix time.
const MAX_RELATIVE_TTL: u64 = 60 * 60 * 24 * 30;

/// memcached's expiry token: 0 for never, -1 for already expired, whole seconds rounded up for up to 30
/// days, an absolute Unix time beyond.
pub(super) fn ttl(expiry: Expiry) -> i64 {
    let Expiry::At(at) = expiry else {
        return 0;
    };
    let now = SystemTime::now();
    let left = match at.duration_since(now) {
        Ok(left) if !left.is_zero() => left,
        _ => return -1,
    };
    let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    if seconds <= MAX_RELATIVE_TTL {
        return i64::try_from(seconds).unwrap_or(i64::MAX);
    }
    let unix = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            since.as_secs() + u64::from(since.subsec_nanos() > 0)
        });
    i64::try_from(unix).unwrap_or(i64::MAX)
}

/// A key memcached would refuse (it counts bytes; the `Cache` has already checked characters).
pub(super) fn check_key(key: &str) -> Result<()> {
    let reason = if key.len() > MEMCACHED_MAX_KEY_CHARS {
        KeyProblem::TooLong {
            len: key.len(),
            max: MEMCACHED_MAX_KEY_CHARS,
        }
    } else if key.is_empty() || key.bytes().any(|b| b <= b' ' || b == 0x7f) {
        KeyProblem::ForbiddenCharacter
    } else {
        return Ok(());
    };
    Err(Error::InvalidKey {
        key: key.to_owned(),
        reason,
    })
}

/// Whether a server error line says the item did not fit.
pub(super) fn is_too_large(error: &async_memcached::Error) -> bool {
    matches!(
        error,
        async_memcached::Error::Protocol(Status::Error(ErrorKind::Server(message)))
            if message.contains("too large") || message.contains("out of memory")
    )
}

pub(super) fn is_non_numeric(error: &async_memcached::Error) -> bool {
    matches!(
        error,
        async_memcached::Error::Protocol(Status::Error(ErrorKind::Client(message)))
            if message.contains("non-numeric")
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn expiries_follow_memcached_rules() {
        assert_eq!(ttl(Expiry::Never), 0);
        assert_eq!(ttl(Expiry::At(SystemTime::UNIX_EPOCH)), -1);
        assert_eq!(
            ttl(Expiry::after(Duration::from_millis(10))),
            1,
            "sub-second rounds up"
        );
        let ten = ttl(Expiry::after(Duration::from_secs(10)));
        assert!((10..=11).contains(&ten), "{ten}");
        let thirty_days = ttl(Expiry::after(Duration::from_secs(MAX_RELATIVE_TTL)));
        assert!(
            thirty_days <= 2_592_001,
            "30 days stays relative: {thirty_days}"
        );
        let year = ttl(Expiry::after(Duration::from_secs(365 * 86_400)));
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        assert!(
            (now + 365 * 86_400..=now + 365 * 86_400 + 2)
                .contains(&u64::try_from(year).unwrap_or(0)),
            "beyond 30 days: absolute, got {year}"
        );
    }

    #[test]
    fn keys_are_checked_in_bytes() {
        assert!(check_key("ok:1:key").is_ok());
        assert!(check_key(&"k".repeat(250)).is_ok());
        assert!(matches!(
            check_key(&"é".repeat(200)),
            Err(Error::InvalidKey {
                reason: KeyProblem::TooLong { len: 400, max: 250 },
                ..
            })
        ));
        assert!(check_key("a b").is_err());
        assert!(check_key("").is_err());
    }
}
