//! The settings of a [`CachePageLayer`](crate::CachePageLayer), read by the layer, its services and its
//! [`PageInvalidator`](crate::PageInvalidator): kept apart from all three so none of them imports another.

use std::sync::Arc;
use std::time::Duration;

use cache_core::Cache;

use super::key::{Keys, VariantRules};
use super::rules::Policy;
use super::status::CacheStatus;

/// Django's `CACHE_MIDDLEWARE_SECONDS`: the timeout when neither the layer nor the response sets one.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// The largest body stored by default: 1 MiB (memcached's item limit).
pub(crate) const DEFAULT_MAX_BODY: usize = 1024 * 1024;

/// How long a cache operation may take by default before the request goes on without the cache.
pub(crate) const DEFAULT_BACKEND_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a request waits by default for a concurrent request's response before asking the inner
/// service itself.
pub(crate) const DEFAULT_COALESCE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long learnt header lists are memoised in-process by default.
pub(crate) const DEFAULT_HEADER_LIST_MEMO: Duration = Duration::from_secs(1);

/// How many bytes the header-list memo may keep alive by default: 16 MiB.
pub(crate) const DEFAULT_MEMO_MAX_BYTES: usize = 16 * 1024 * 1024;

/// The settings the service reads; one copy per service, shared by its clones.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) cache: Cache,
    /// Made from `cache` and `key_prefix`; remade whenever either changes.
    pub(crate) keys: Keys,
    pub(crate) key_prefix: Arc<str>,
    /// Django's `_i18n_cache_key_suffix`, set by `django_key_suffix`.
    pub(crate) key_suffix: KeySuffix,
    /// How varied header values go into page keys, set by `django_header_hashing` and `key_cookies`.
    pub(crate) variant: VariantRules,
    /// The `cache` label of the layer's metrics, set by `metrics_name`; else the key prefix, else
    /// `default`.
    pub(crate) metrics_name: Option<Arc<str>>,
    pub(crate) policy: Policy,
    pub(crate) max_body: usize,
    pub(crate) stale_while_revalidate: Option<Duration>,
    /// Set by `stale_if_error`.
    pub(crate) stale_if_error: Option<Duration>,
    /// Tags every page of the layer carries, set by `tag`.
    pub(crate) tags: Arc<[String]>,
    pub(crate) cache_status: Option<CacheStatus>,
    pub(crate) backend_timeout: Option<Duration>,
    pub(crate) coalesce_timeout: Duration,
    pub(crate) header_list_memo: Duration,
    pub(crate) memo_max_bytes: usize,
}

impl Config {
    /// Django's defaults on `cache` (see [`CachePageLayer::new`](crate::CachePageLayer::new)).
    pub(crate) fn new(cache: Cache) -> Self {
        Config {
            keys: Keys::new(&cache, "", ""),
            cache,
            key_prefix: Arc::from(""),
            key_suffix: KeySuffix::default(),
            variant: VariantRules::default(),
            metrics_name: None,
            policy: Policy {
                page_timeout: None,
                default_timeout: DEFAULT_TIMEOUT,
                allow_set_cookie: false,
            },
            max_body: DEFAULT_MAX_BODY,
            stale_while_revalidate: None,
            stale_if_error: None,
            tags: Arc::from(Vec::new()),
            cache_status: None,
            backend_timeout: Some(DEFAULT_BACKEND_TIMEOUT),
            coalesce_timeout: DEFAULT_COALESCE_TIMEOUT,
            header_list_memo: DEFAULT_HEADER_LIST_MEMO,
            memo_max_bytes: DEFAULT_MEMO_MAX_BYTES,
        }
    }

    /// Sets the page-key prefix, and the key makers with it.
    pub(crate) fn set_key_prefix(&mut self, prefix: String) {
        self.keys = Keys::new(&self.cache, &prefix, &self.key_suffix.text());
        self.key_prefix = Arc::from(prefix);
    }

    /// Sets the page-key suffix, and the key makers with it.
    pub(crate) fn set_key_suffix(&mut self, suffix: KeySuffix) {
        self.keys = Keys::new(&self.cache, &self.key_prefix, &suffix.text());
        self.key_suffix = suffix;
    }

    /// The `cache` label of the layer's metrics.
    pub(crate) fn metrics_label(&self) -> &str {
        match &self.metrics_name {
            Some(name) => name,
            None if !self.key_prefix.is_empty() => &self.key_prefix,
            None => "default",
        }
    }

    /// How long a page stays stored past its freshness: the longer of the two stale windows.
    pub(crate) fn stale_life(&self) -> Duration {
        self.stale_while_revalidate
            .unwrap_or_default()
            .max(self.stale_if_error.unwrap_or_default())
    }

    /// How long a page can stay stored at most, as far as the settings tell: the page timeout, else the
    /// default one, plus the stale windows. An invalidation mark lives this long.
    pub(crate) fn longest_page_life(&self) -> Duration {
        let timeout = self
            .policy
            .page_timeout
            .unwrap_or(self.policy.default_timeout);
        timeout
            .max(self.policy.default_timeout)
            .saturating_add(self.stale_life())
    }
}

/// The language and time zone Django appends to page keys (`USE_I18N`, `USE_TZ`); both `None` by default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeySuffix {
    pub(crate) language: Option<String>,
    pub(crate) time_zone: Option<String>,
}

impl KeySuffix {
    /// `.{language}.{time zone}`, either left out when unset.
    pub(crate) fn text(&self) -> String {
        let mut text = String::new();
        for part in [&self.language, &self.time_zone].into_iter().flatten() {
            text.push('.');
            text.push_str(part);
        }
        text
    }
}
