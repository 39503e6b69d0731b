//! [`Caches`]: named caches built from configuration or URLs (Django's `caches[alias]`).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::backend::CacheBackend;
use crate::cache::{Cache, DEFAULT_TIMEOUT, DEFAULT_VERSION};
use crate::config::{BackendOptions, CacheConfig, CachesConfig};
use crate::error::{Error, Result};
use crate::url::{redact, CacheUrl};

/// The alias Django uses when none is named.
pub const DEFAULT_ALIAS: &str = "default";

/// Named caches, built once at startup. Cheap to clone.
///
/// Unlike Django, which builds each alias on first use, every alias is built (and, for servers, its pool
/// set up) when the registry is made, so a misconfiguration fails at startup rather than on a request.
///
/// ```
/// # async fn demo() -> cache_core::Result<()> {
/// use cache_core::Caches;
///
/// let caches = Caches::from_urls([("default", "memory://"), ("sessions", "memory://sessions")]).await?;
/// caches.default_cache()?.set("k", &1).await?;
/// assert!(caches.get("nope").is_err());
/// # Ok(()) }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
/// ```
#[derive(Debug, Clone, Default)]
pub struct Caches {
    caches: Arc<BTreeMap<String, Cache>>,
}

impl Caches {
    /// Builds every alias of `config`. The first alias that cannot be built fails the whole registry, with
    /// the alias named in the error.
    pub async fn from_config(config: CachesConfig) -> Result<Self> {
        let mut caches = BTreeMap::new();
        for (alias, cache_config) in config.0 {
            let cache = build(&cache_config).await.map_err(|error| match error {
                Error::Config(message) => Error::Config(format!("cache {alias:?}: {message}")),
                other => other,
            })?;
            caches.insert(alias, cache);
        }
        Ok(Caches {
            caches: Arc::new(caches),
        })
    }

    /// Builds one cache per `(alias, url)`.
    pub async fn from_urls<I, A, U>(urls: I) -> Result<Self>
    where
        I: IntoIterator<Item = (A, U)>,
        A: Into<String>,
        U: Into<String>,
    {
        let config = urls
            .into_iter()
            .map(|(alias, url)| (alias.into(), CacheConfig::url(url)))
            .collect();
        Caches::from_config(CachesConfig(config)).await
    }

    /// The cache called `alias`; [`Error::UnknownAlias`] naming the configured aliases otherwise.
    pub fn get(&self, alias: &str) -> Result<&Cache> {
        self.caches.get(alias).ok_or_else(|| Error::UnknownAlias {
            alias: alias.to_owned(),
            known: self.caches.keys().cloned().collect(),
        })
    }

    /// The `"default"` cache.
    pub fn default_cache(&self) -> Result<&Cache> {
        self.get(DEFAULT_ALIAS)
    }

    /// The configured aliases, sorted.
    pub fn aliases(&self) -> impl Iterator<Item = &str> {
        self.caches.keys().map(String::as_str)
    }

    /// Closes every cache (Django closes caches at the end of each request; here, at shutdown). Every
    /// cache is closed even when one fails; the first error is returned.
    pub async fn close_all(&self) -> Result<()> {
        let mut first_error = None;
        for cache in self.caches.values() {
            if let Err(error) = cache.close().await {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Cache {
    /// A cache from a URL, e.g. `memory://`, `file:///var/cache/app?max_entries=1000`,
    /// `sqlite://cache.db?timeout=60`, `redis://127.0.0.1:6379/0`.
    pub async fn from_url(url: &str) -> Result<Cache> {
        build(&CacheConfig::url(url)).await
    }
}

async fn build(config: &CacheConfig) -> Result<Cache> {
    let url = CacheUrl::parse(&config.url)?;
    let options = url.options.clone().overridden_by(config.options.clone());
    let backend = backend_for(&url, &options).await?;
    let timeout = config
        .timeout
        .or(options.timeout)
        .unwrap_or(DEFAULT_TIMEOUT);
    Ok(Cache::builder_from_arc(backend)
        .key_prefix(
            config
                .key_prefix
                .clone()
                .or(options.key_prefix)
                .unwrap_or_default(),
        )
        .version(
            config
                .version
                .or(options.version)
                .unwrap_or(DEFAULT_VERSION),
        )
        .default_timeout(timeout)
        .value_format(options.value_format.unwrap_or_default())
        .build())
}

/// The URL schemes this build understands, by enabled feature.
pub fn supported_schemes() -> Vec<&'static str> {
    let mut schemes = vec!["dummy"];
    if cfg!(feature = "memory") {
        schemes.extend(["memory", "locmem"]);
    }
    if cfg!(feature = "file") {
        schemes.push("file");
    }
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    schemes.extend(crate::sql::enabled_schemes());
    if cfg!(feature = "redis") {
        schemes.extend(["redis", "rediss", "redis+cluster", "rediss+cluster"]);
    }
    if cfg!(feature = "memcached") {
        schemes.extend(["memcached", "memcache"]);
    }
    schemes
}

// `options` is read only by the memory, file and SQL arms, each behind its feature.
#[allow(unused_variables)]
async fn backend_for(url: &CacheUrl, options: &BackendOptions) -> Result<Arc<dyn CacheBackend>> {
    match url.scheme.as_str() {
        "dummy" => Ok(Arc::new(crate::backends::DummyBackend::new())),
        #[cfg(feature = "memory")]
        "memory" | "locmem" => {
            let mut builder = crate::backends::MemoryBackend::builder();
            if !url.location.is_empty() {
                builder = builder.name(url.location.clone());
            }
            if let Some(max_entries) = options.max_entries {
                builder = builder.max_entries(max_entries);
            }
            if let Some(cull_frequency) = options.cull_frequency {
                builder = builder.cull_frequency(cull_frequency);
            }
            if let Some(max_bytes) = options.max_bytes {
                builder = builder.max_bytes(max_bytes);
            }
            Ok(Arc::new(builder.build()?))
        }
        #[cfg(feature = "file")]
        "file" => {
            if url.location.is_empty() {
                return Err(Error::Config(
                    "file cache URL needs a directory, e.g. file:///var/cache/app".into(),
                ));
            }
            let mut builder = crate::backends::FileBackend::builder(&url.location);
            if options.value_format == Some(crate::ValueFormat::DjangoPickle) {
                builder = builder.django_layout();
            }
            if let Some(max_entries) = options.max_entries {
                builder = builder.max_entries(max_entries);
            }
            if let Some(cull_frequency) = options.cull_frequency {
                builder = builder.cull_frequency(cull_frequency);
            }
            Ok(Arc::new(builder.build()?))
        }
        #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
        "sqlite" | "postgres" | "postgresql" | "mysql" | "mariadb" => {
            let mut builder = crate::backends::DatabaseBackend::builder(url.driver_url.clone());
            if options.value_format == Some(crate::ValueFormat::DjangoPickle) {
                builder = builder.django_layout();
            }
            if let Some(table) = &options.table {
                builder = builder.table(table.clone());
            }
            if let Some(max_entries) = options.max_entries {
                builder = builder.max_entries(max_entries);
            }
            if let Some(cull_frequency) = options.cull_frequency {
                builder = builder.cull_frequency(cull_frequency);
            }
            let backend = builder.connect().await?;
            // Like running `createcachetable` at startup: idempotent, and a URL is all it takes.
            backend.create_table().await?;
            Ok(Arc::new(backend))
        }
        #[cfg(feature = "redis")]
        "redis" | "rediss" | "redis+cluster" | "rediss+cluster" => Ok(Arc::new(
            crate::backends::RedisBackend::from_url(&url.driver_url)?,
        )),
        #[cfg(feature = "memcached")]
        "memcached" | "memcache" => {
            let mut builder = crate::backends::MemcachedBackendBuilder::from_url(&url.driver_url)?;
            if options.value_format == Some(crate::ValueFormat::DjangoPickle) {
                builder = builder.django_layout();
            }
            Ok(Arc::new(builder.build()?))
        }
        other => Err(Error::UnknownScheme {
            scheme: other.to_owned(),
            url: redact(&url.driver_url),
            known: supported_schemes(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::Timeout;

    #[tokio::test]
    async fn unknown_alias_names_what_exists() {
        let caches = Caches::from_urls([("default", "dummy://"), ("other", "dummy://")])
            .await
            .expect("valid");
        match caches.get("missing") {
            Err(err @ Error::UnknownAlias { .. }) => {
                let message = err.to_string();
                assert!(
                    message.contains("missing")
                        && message.contains("default")
                        && message.contains("other"),
                    "{message}"
                );
            }
            other => panic!("expected UnknownAlias, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn unknown_scheme_names_the_supported_ones() {
        let err = Caches::from_urls([("default", "nosuch://x")])
            .await
            .expect_err("unknown scheme");
        let message = err.to_string();
        assert!(
            message.contains("nosuch") && message.contains("dummy"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn settings_come_from_config_over_url() {
        let config: CachesConfig = serde_json::from_str(
            r#"{"default": {"url": "memory://?timeout=5&key_prefix=url&version=3", "key_prefix": "cfg"}}"#,
        )
        .expect("valid");
        let caches = Caches::from_config(config).await.expect("valid");
        let cache = caches.default_cache().expect("default");
        assert_eq!(cache.key_prefix(), "cfg");
        assert_eq!(cache.default_version(), 3);
        assert_eq!(
            cache.default_timeout(),
            Timeout::After(Duration::from_secs(5))
        );
    }

    #[tokio::test]
    async fn a_bad_alias_fails_the_registry_and_is_named() {
        let config: CachesConfig = serde_json::from_str(
            r#"{"default": {"url": "memory://"}, "broken": {"url": "memory://", "options": {"max_entries": 0}}}"#,
        )
        .expect("valid json");
        let err = Caches::from_config(config).await.expect_err("zero bound");
        assert!(err.to_string().contains("broken"), "{err}");
    }

    #[tokio::test]
    async fn default_config_is_one_memory_cache() {
        let caches = Caches::from_config(CachesConfig::default())
            .await
            .expect("valid");
        assert_eq!(caches.aliases().collect::<Vec<_>>(), ["default"]);
        let cache = caches.default_cache().expect("default");
        cache.set("k", &1).await.expect("set");
        assert_eq!(cache.get::<i32>("k").await.expect("get"), Some(1));
        caches.close_all().await.expect("close");
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn a_sqlite_url_creates_its_table_and_works() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!(
            "sqlite://{}/cache.db?mode=rwc&table=pages&max_entries=50",
            dir.path().display()
        );
        let caches = Caches::from_urls([("default", url.as_str())])
            .await
            .expect("valid");
        let cache = caches.default_cache().expect("default");
        cache.set("k", &1).await.expect("set");
        assert_eq!(cache.get::<i32>("k").await.expect("get"), Some(1));
        // A second registry on the same file finds the table already there.
        let again = Caches::from_urls([("default", url.as_str())])
            .await
            .expect("idempotent");
        assert_eq!(
            again
                .default_cache()
                .expect("default")
                .get::<i32>("k")
                .await
                .expect("get"),
            Some(1)
        );
    }

    #[tokio::test]
    async fn named_memory_urls_share_a_store() {
        let caches = Caches::from_urls([
            ("a", "memory://caches-test-shared"),
            ("b", "memory://caches-test-shared"),
            ("c", "memory://"),
        ])
        .await
        .expect("valid");
        caches.get("a").expect("a").set("k", &1).await.expect("set");
        let read = |alias: &'static str| {
            let cache = caches.get(alias).expect(alias);
            async move { cache.get::<i32>("k").await.expect("get") }
        };
        assert_eq!(read("b").await, Some(1));
        assert_eq!(read("c").await, None);
    }
}
