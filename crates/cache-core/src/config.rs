//! Configuration of named caches: Django's `CACHES` setting as serde types.
//!
//! ```
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config: cache_core::CachesConfig = serde_json::from_str(r#"{
//!     "default": { "url": "memory://", "timeout": 60 },
//!     "pages":   { "url": "file:///tmp/pages", "key_prefix": "p", "options": { "max_entries": 1000 } }
//! }"#)?;
//! assert_eq!(config.aliases().count(), 2);
//! # Ok(()) }
//! # demo().unwrap();
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::codec::ValueFormat;
use crate::error::{Error, Result};
use crate::timeout::{parse_timeout, Timeout};

/// Every named cache, by alias (Django's `CACHES`). The default configuration is Django's: one in-process
/// cache called `"default"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct CachesConfig(pub BTreeMap<String, CacheConfig>);

impl CachesConfig {
    /// The configured aliases, sorted.
    pub fn aliases(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Adds or replaces an alias.
    pub fn insert(&mut self, alias: impl Into<String>, config: CacheConfig) -> &mut Self {
        self.0.insert(alias.into(), config);
        self
    }
}

impl Default for CachesConfig {
    fn default() -> Self {
        CachesConfig(BTreeMap::from([(
            "default".to_owned(),
            CacheConfig::url("memory://"),
        )]))
    }
}

/// One cache: where it lives and Django's per-cache settings. Fields left out take Django's defaults;
/// settings given here win over the same option in the URL's query string.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// The backend and its location: `memory://name`, `file:///dir`, `sqlite://file.db`, `redis://host`, …
    pub url: String,
    /// The default timeout (Django's `TIMEOUT`): seconds, `null` for never. Default 300.
    #[serde(default, deserialize_with = "some_timeout")]
    pub timeout: Option<Timeout>,
    /// Django's `KEY_PREFIX`. Default `""`.
    #[serde(default)]
    pub key_prefix: Option<String>,
    /// Django's `VERSION`. Default 1.
    #[serde(default)]
    pub version: Option<i64>,
    /// Backend options (Django's `OPTIONS`).
    #[serde(default)]
    pub options: BackendOptions,
}

/// A present `timeout` field, even `null` (never expire), is `Some`; only a missing field is `None`.
fn some_timeout<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Timeout>, D::Error> {
    Timeout::deserialize(deserializer).map(Some)
}

impl CacheConfig {
    /// A configuration with just a URL.
    pub fn url(url: impl Into<String>) -> Self {
        CacheConfig {
            url: url.into(),
            ..CacheConfig::default()
        }
    }
}

/// Backend options: Django's `OPTIONS` plus this crate's bounds. Each applies only to the backends that
/// have the notion; the others ignore it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BackendOptions {
    /// The default timeout, when given in a URL's query string (`?timeout=60`).
    #[serde(skip)]
    pub timeout: Option<Timeout>,
    /// The key prefix, when given in a URL's query string.
    #[serde(skip)]
    pub key_prefix: Option<String>,
    /// The version, when given in a URL's query string.
    #[serde(skip)]
    pub version: Option<i64>,
    /// The most entries (memory, file, database; Django's `MAX_ENTRIES`, default 300).
    pub max_entries: Option<u64>,
    /// Culling removes `1 / cull_frequency` of the entries (memory, file, database; Django's
    /// `CULL_FREQUENCY`, default 3; 0 = all).
    pub cull_frequency: Option<u64>,
    /// The most bytes held (memory; default 64 MiB).
    pub max_bytes: Option<u64>,
    /// The table name (database backends; default `cache_table`).
    pub table: Option<String>,
    /// How typed values are stored: `json` (default) or `django` (Django's Redis layout, see
    /// [`codec`](crate::codec)); any backend.
    pub value_format: Option<ValueFormat>,
}

impl BackendOptions {
    /// Sets the option `name` from text; `Ok(false)` when `name` is not one of ours.
    pub(crate) fn set(&mut self, name: &str, value: &str) -> Result<bool> {
        let number = |value: &str| {
            value.parse::<u64>().map_err(|_| {
                Error::Config(format!(
                    "cache option {name}={value:?} is not a non-negative integer"
                ))
            })
        };
        match name {
            "timeout" => self.timeout = Some(parse_timeout(value).map_err(Error::Config)?),
            "key_prefix" => self.key_prefix = Some(value.to_owned()),
            "version" => {
                self.version = Some(value.parse().map_err(|_| {
                    Error::Config(format!("cache option version={value:?} is not an integer"))
                })?)
            }
            "max_entries" => self.max_entries = Some(number(value)?),
            "cull_frequency" => self.cull_frequency = Some(number(value)?),
            "max_bytes" => self.max_bytes = Some(number(value)?),
            "table" => self.table = Some(value.to_owned()),
            "value_format" => {
                self.value_format = Some(ValueFormat::parse(value).ok_or_else(|| {
                    Error::Config(format!(
                        "cache option value_format={value:?} is not one of json, django"
                    ))
                })?)
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// These options, with `over`'s set fields taking precedence.
    pub(crate) fn overridden_by(self, over: BackendOptions) -> BackendOptions {
        BackendOptions {
            timeout: over.timeout.or(self.timeout),
            key_prefix: over.key_prefix.or(self.key_prefix),
            version: over.version.or(self.version),
            max_entries: over.max_entries.or(self.max_entries),
            cull_frequency: over.cull_frequency.or(self.cull_frequency),
            max_bytes: over.max_bytes.or(self.max_bytes),
            table: over.table.or(self.table),
            value_format: over.value_format.or(self.value_format),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_errors_that_name_them() {
        let err = serde_json::from_str::<CacheConfig>(r#"{"url": "memory://", "timeot": 5}"#)
            .expect_err("typo");
        assert!(err.to_string().contains("timeot"), "{err}");
        let err = serde_json::from_str::<CacheConfig>(
            r#"{"url": "memory://", "options": {"max_entrie": 5}}"#,
        )
        .expect_err("typo");
        assert!(err.to_string().contains("max_entrie"), "{err}");
    }

    #[test]
    fn null_timeout_means_never_and_missing_means_default() {
        let never: CacheConfig =
            serde_json::from_str(r#"{"url": "memory://", "timeout": null}"#).expect("valid");
        assert_eq!(never.timeout, Some(Timeout::Never));
        let default: CacheConfig = serde_json::from_str(r#"{"url": "memory://"}"#).expect("valid");
        assert_eq!(default.timeout, None);
    }

    #[test]
    fn value_format_is_an_option_in_urls_and_configuration() {
        let mut options = BackendOptions::default();
        assert!(options.set("value_format", "django").expect("valid"));
        assert_eq!(options.value_format, Some(ValueFormat::DjangoPickle));
        assert!(options.set("value_format", "json").expect("valid"));
        assert_eq!(options.value_format, Some(ValueFormat::Json));
        let err = options.set("value_format", "pickle").expect_err("unknown");
        assert!(err.to_string().contains("value_format"), "{err}");
        let config: CacheConfig =
            serde_json::from_str(r#"{"url": "memory://", "options": {"value_format": "django"}}"#)
                .expect("valid");
        assert_eq!(config.options.value_format, Some(ValueFormat::DjangoPickle));
    }
}
