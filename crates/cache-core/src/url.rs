//! Cache URLs: `scheme://location?option=value&…`, the one-string form of Django's `BACKEND` + `LOCATION` +
//! `OPTIONS`.
//!
//! Options this crate understands (`timeout`, `key_prefix`, `version`, `max_entries`, `cull_frequency`,
//! `max_bytes`, `table`) are taken out of the query; anything else stays in the location for the driver
//! (e.g. sqlx's `?mode=rwc` or `sslmode=require`).

use std::fmt;

use crate::config::BackendOptions;
use crate::error::{Error, Result};

/// A cache URL split into its scheme, the location the backend sees, and the options this crate reads.
#[derive(Clone, PartialEq)]
pub struct CacheUrl {
    /// The scheme, lower-cased (`memory`, `file`, `sqlite`, `redis+cluster`, …).
    pub scheme: String,
    /// The whole URL minus this crate's options, for drivers that parse URLs themselves.
    pub driver_url: String,
    /// What follows `scheme://`, minus the query this crate consumed, percent-decoded for paths.
    pub location: String,
    /// The options found in the query string.
    pub options: BackendOptions,
}

impl fmt::Debug for CacheUrl {
    /// Prints the URL without credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheUrl")
            .field("scheme", &self.scheme)
            .field("url", &redact(&self.driver_url))
            .field("options", &self.options)
            .finish()
    }
}

/// The URL with any `user:password@` replaced by `***@`, for logs and errors.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

impl CacheUrl {
    /// Parses `url`. [`Error::Config`] for a missing scheme, a bad option value or an unknown option name
    /// this crate reserves.
    pub fn parse(url: &str) -> Result<Self> {
        let url = url.trim();
        let (scheme, rest) = url
            .split_once("://")
            .or_else(|| {
                url.split_once(':')
                    .filter(|(s, _)| s.eq_ignore_ascii_case("sqlite"))
            })
            .ok_or_else(|| {
                Error::Config(format!(
                    "cache URL {:?} has no scheme (expected e.g. memory://, redis://host)",
                    redact(url)
                ))
            })?;
        let scheme = scheme.to_ascii_lowercase();
        let (location, query) = match rest.split_once('?') {
            Some((location, query)) => (location, Some(query)),
            None => (rest, None),
        };
        let mut options = BackendOptions::default();
        let mut passthrough = Vec::new();
        for pair in query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter(|p| !p.is_empty())
        {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value)?;
            if !options.set(name, &value)? {
                passthrough.push(pair);
            }
        }
        let separator = if url.contains("://") { "://" } else { ":" };
        let mut driver_url = format!("{scheme}{separator}{location}");
        if !passthrough.is_empty() {
            driver_url.push('?');
            driver_url.push_str(&passthrough.join("&"));
        }
        Ok(CacheUrl {
            scheme,
            driver_url,
            location: percent_decode(location)?,
            options,
        })
    }
}

/// Decodes `%XX` escapes (and nothing else: `+` stays `+`).
pub(crate) fn percent_decode(text: &str) -> Result<String> {
    if !text.contains('%') {
        return Ok(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    Error::Config(format!("bad percent-escape in cache URL part {text:?}"))
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| Error::Config(format!("cache URL part {text:?} is not UTF-8 once decoded")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timeout;
    use std::time::Duration;

    #[test]
    fn splits_scheme_location_and_our_options() {
        let url = CacheUrl::parse(
            "SQLite://cache.db?mode=rwc&timeout=60&table=my%20cache&max_entries=10",
        )
        .expect("valid");
        assert_eq!(url.scheme, "sqlite");
        assert_eq!(url.location, "cache.db");
        assert_eq!(url.driver_url, "sqlite://cache.db?mode=rwc");
        assert_eq!(
            url.options.timeout,
            Some(Timeout::After(Duration::from_secs(60)))
        );
        assert_eq!(url.options.table.as_deref(), Some("my cache"));
        assert_eq!(url.options.max_entries, Some(10));
    }

    #[test]
    fn file_paths_are_decoded() {
        let url = CacheUrl::parse("file:///var/cache/my%20app").expect("valid");
        assert_eq!(url.location, "/var/cache/my app");
    }

    #[test]
    fn errors_are_clear_and_never_leak_passwords() {
        let err = CacheUrl::parse("no-scheme").expect_err("no scheme");
        assert!(err.to_string().contains("no scheme"), "{err}");
        let err =
            CacheUrl::parse("redis://user:secret@host/0?timeout=soon").expect_err("bad timeout");
        assert!(err.to_string().contains("soon"), "{err}");
        let err = CacheUrl::parse("memory://?max_entries=-1").expect_err("bad number");
        assert!(err.to_string().contains("max_entries"), "{err}");
        assert!(CacheUrl::parse("file:///a%zz").is_err());
        assert_eq!(
            redact("redis://user:secret@host:6379/0"),
            "redis://***@host:6379/0"
        );
        let parsed = CacheUrl::parse("redis://user:secret@host/0").expect("valid");
        assert!(!format!("{parsed:?}").contains("secret"));
    }
}
