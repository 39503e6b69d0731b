//! The `Cache-Status` response header (RFC 9211), when enabled with
//! [`CachePageLayer::cache_status`](crate::CachePageLayer::cache_status).
//!
//! | what happened                                | value                                         |
//! |----------------------------------------------|-----------------------------------------------|
//! | fresh hit                                    | `name; hit`                                   |
//! | stale hit, refreshed in the background       | `name; hit; ttl=-N` (N seconds past freshness) |
//! | nothing learnt for the URL yet               | `name; fwd=uri-miss` (`; stored` if stored)   |
//! | header list known, page missing              | `name; fwd=miss` (`; stored` if stored)       |
//! | answered from a concurrent request's result  | `…; fwd=…; collapsed`                         |
//! | method other than GET/HEAD                   | `name; fwd=method`                            |
//! | not stored                                   | `…; detail=<reason>` (`private`, `set-cookie`, `status`, `too-large`, `streaming`, `invalidated`, …) |
//! | the cache backend failed                     | `name; fwd=miss; detail=backend-error`        |
//! | stale page served for a 5xx or an error      | `name; fwd=miss; fwd-status=503; ttl=-N; detail=stale-if-error` |

use http::HeaderValue;

use crate::setting::InvalidSetting;

/// Why the inner service was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forward {
    UriMiss,
    Miss,
}

impl Forward {
    fn as_str(self) -> &'static str {
        match self {
            Forward::UriMiss => "uri-miss",
            Forward::Miss => "miss",
        }
    }
}

/// How a request the inner service answered went, as the header tells it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Forwarded {
    pub(crate) forward: Forward,
    /// The response was stored.
    pub(crate) stored: bool,
    /// The request waited for a concurrent one first.
    pub(crate) collapsed: bool,
    /// Why it was not stored.
    pub(crate) detail: Option<&'static str>,
}

/// Precomputed pieces of the header for one cache name.
#[derive(Debug, Clone)]
pub(crate) struct CacheStatus {
    name: String,
    hit: HeaderValue,
    method: HeaderValue,
}

impl CacheStatus {
    /// The header for cache `name` (trimmed); an error when the name cannot appear in a header.
    pub(crate) fn new(name: &str) -> Result<Self, InvalidSetting> {
        let refused =
            |_| InvalidSetting::new("cache status name", name, "cannot appear in a header");
        let name = name.trim();
        let hit = HeaderValue::from_str(&format!("{name}; hit")).map_err(refused)?;
        let method = HeaderValue::from_str(&format!("{name}; fwd=method")).map_err(refused)?;
        Ok(CacheStatus {
            name: name.to_owned(),
            hit,
            method,
        })
    }

    pub(crate) fn hit(&self) -> HeaderValue {
        self.hit.clone()
    }

    pub(crate) fn method(&self) -> HeaderValue {
        self.method.clone()
    }

    pub(crate) fn stale(&self, seconds_past: u64) -> HeaderValue {
        self.render(&format!("{}; hit; ttl=-{seconds_past}", self.name))
    }

    /// A stale page served because the inner service failed: with the status it answered (`None` for an
    /// error without a response).
    pub(crate) fn stale_if_error(&self, fwd_status: Option<u16>, seconds_past: u64) -> HeaderValue {
        let mut value = format!("{}; fwd=miss", self.name);
        if let Some(code) = fwd_status {
            value.push_str(&format!("; fwd-status={code}"));
        }
        value.push_str(&format!("; ttl=-{seconds_past}; detail=stale-if-error"));
        self.render(&value)
    }

    pub(crate) fn forwarded(&self, how: Forwarded) -> HeaderValue {
        let mut value = format!("{}; fwd={}", self.name, how.forward.as_str());
        if how.stored {
            value.push_str("; stored");
        }
        if how.collapsed {
            value.push_str("; collapsed");
        }
        if let Some(detail) = how.detail {
            value.push_str("; detail=");
            value.push_str(detail);
        }
        self.render(&value)
    }

    fn render(&self, value: &str) -> HeaderValue {
        HeaderValue::from_str(value).unwrap_or_else(|_| self.hit.clone())
    }
}
