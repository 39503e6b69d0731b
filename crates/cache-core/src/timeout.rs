//! Django's timeout rules, resolved once in the `Cache` so that backends only see an [`Expiry`].
//!
//! | Django                     | here                                   | effect                          |
//! |----------------------------|----------------------------------------|---------------------------------|
//! | argument omitted           | [`Timeout::Default`]                   | the cache's default (300 s)     |
//! | `None`                     | [`Timeout::Never`]                     | never expires                   |
//! | `0` or negative            | `Timeout::After(Duration::ZERO)`, [`Timeout::from_secs_signed`] | already expired |
//! | `t` seconds (float too)    | `Timeout::After(d)`, [`Timeout::from_secs_f64`] | expires `t` from now    |

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::backend::Expiry;

/// How long an entry lives. `Duration` converts into it, so `.timeout(Duration::from_secs(60))` reads
/// naturally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Timeout {
    /// The cache's default timeout (Django's omitted argument).
    #[default]
    Default,
    /// Never expires (Django's `timeout=None`).
    Never,
    /// Expires this long from now; `Duration::ZERO` means already expired: the value is never visible.
    After(Duration),
}

impl Timeout {
    /// Whole seconds, where zero and negative values mean "already expired", as in Django.
    pub fn from_secs_signed(secs: i64) -> Self {
        Timeout::After(Duration::from_secs(u64::try_from(secs).unwrap_or(0)))
    }

    /// Fractional seconds; zero, negative and NaN mean "already expired", infinity means never.
    pub fn from_secs_f64(secs: f64) -> Self {
        if secs.is_infinite() && secs > 0.0 {
            Timeout::Never
        } else if secs > 0.0 {
            Timeout::After(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
        } else {
            Timeout::After(Duration::ZERO)
        }
    }

    /// Resolves this timeout against the cache's default into what the backend stores, or `None` when the
    /// entry is already expired (the `Cache` then deletes instead of storing).
    pub(crate) fn resolve(self, default: Timeout) -> Option<Expiry> {
        let effective = match self {
            Timeout::Default => default,
            other => other,
        };
        match effective {
            Timeout::Default | Timeout::Never => Some(Expiry::Never),
            Timeout::After(ttl) if ttl.is_zero() => None,
            Timeout::After(ttl) => Some(Expiry::after(ttl)),
        }
    }
}

impl From<Duration> for Timeout {
    fn from(ttl: Duration) -> Self {
        Timeout::After(ttl)
    }
}

impl From<Option<Duration>> for Timeout {
    /// `None` is "never expires", as in Django.
    fn from(ttl: Option<Duration>) -> Self {
        ttl.map_or(Timeout::Never, Timeout::After)
    }
}

/// Deserializes a timeout from configuration: `null` → never, a number of seconds (integer or float, zero or
/// negative → already expired), or a string holding such a number (Django passes TIMEOUT through `int()`).
/// Unlike Django, a value that is not a number is an error rather than a silent fallback to 300 s.
impl<'de> Deserialize<'de> for Timeout {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Float(f64),
            Text(String),
        }
        match Option::<Raw>::deserialize(deserializer)? {
            None => Ok(Timeout::Never),
            Some(Raw::Int(secs)) => Ok(Timeout::from_secs_signed(secs)),
            Some(Raw::Float(secs)) => Ok(Timeout::from_secs_f64(secs)),
            Some(Raw::Text(text)) => parse_timeout(&text).map_err(serde::de::Error::custom),
        }
    }
}

/// Parses a timeout written as text (`"300"`, `"0.5"`, `"none"`/`"never"`), as accepted in configuration and
/// URL query strings.
pub(crate) fn parse_timeout(text: &str) -> Result<Timeout, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("none") || text.eq_ignore_ascii_case("never") {
        return Ok(Timeout::Never);
    }
    if let Ok(secs) = text.parse::<i64>() {
        return Ok(Timeout::from_secs_signed(secs));
    }
    match text.parse::<f64>() {
        Ok(secs) if !secs.is_nan() => Ok(Timeout::from_secs_f64(secs)),
        _ => Err(format!(
            "timeout {text:?} is not a number of seconds or \"none\""
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: Timeout = Timeout::After(Duration::from_secs(300));

    #[test]
    fn omitted_uses_the_default() {
        let expiry = Timeout::Default.resolve(DEFAULT).expect("not expired");
        let left = expiry.remaining().expect("finite");
        assert!(left > Duration::from_secs(298) && left <= Duration::from_secs(300));
    }

    #[test]
    fn never_wins_over_a_finite_default() {
        assert_eq!(Timeout::Never.resolve(DEFAULT), Some(Expiry::Never));
        assert_eq!(
            Timeout::Default.resolve(Timeout::Never),
            Some(Expiry::Never)
        );
    }

    #[test]
    fn zero_and_negative_are_already_expired() {
        assert_eq!(Timeout::After(Duration::ZERO).resolve(DEFAULT), None);
        assert_eq!(Timeout::from_secs_signed(-5).resolve(DEFAULT), None);
        assert_eq!(Timeout::from_secs_f64(-0.5).resolve(DEFAULT), None);
        assert_eq!(Timeout::from_secs_f64(f64::NAN).resolve(DEFAULT), None);
    }

    #[test]
    fn sub_second_timeouts_are_kept() {
        assert_eq!(
            Timeout::from_secs_f64(0.25),
            Timeout::After(Duration::from_millis(250))
        );
    }

    #[test]
    fn config_values_parse_like_django() {
        let parse = |json: &str| serde_json::from_str::<Timeout>(json);
        assert_eq!(parse("null").ok(), Some(Timeout::Never));
        assert_eq!(
            parse("60").ok(),
            Some(Timeout::After(Duration::from_secs(60)))
        );
        assert_eq!(
            parse("\"1\"").ok(),
            Some(Timeout::After(Duration::from_secs(1)))
        );
        assert_eq!(
            parse("1.5").ok(),
            Some(Timeout::After(Duration::from_millis(1500)))
        );
        assert_eq!(parse("-1").ok(), Some(Timeout::After(Duration::ZERO)));
        let err = parse("\"fail\"").expect_err("not a number");
        assert!(err.to_string().contains("fail"), "{err}");
    }
}
