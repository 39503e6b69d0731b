//! [`Call`]: a pending cache operation with Django's keyword arguments as builder methods.
//!
//! `cache.set("k", &v).timeout(d).version(2).await` builds a `Call`, sets its options, and runs it when
//! awaited (through [`IntoFuture`]). `.version(..)` is on every call; `.timeout(..)` only on the calls that
//! store (`set`, `add`, `touch`, `get_or_set`, `get_or_set_with`, `set_many`), so a meaningless timeout is a
//! compile error instead of a silently ignored argument.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use crate::cache::Cache;
use crate::timeout::Timeout;
use crate::Result;

/// A boxed, sendable future: what every [`Call`] resolves through.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The keyword arguments of a call (`timeout`, `version`); opaque, set through [`Call`]'s methods.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallOptions {
    pub(crate) timeout: Timeout,
    pub(crate) version: Option<i64>,
}

/// A cache operation waiting to be awaited. Made by the methods of [`Cache`].
#[must_use = "a cache call does nothing until it is awaited"]
pub struct Call<'a, Op> {
    cache: &'a Cache,
    op: Op,
    options: CallOptions,
}

impl<'a, Op> Call<'a, Op> {
    pub(crate) fn new(cache: &'a Cache, op: Op) -> Self {
        Call {
            cache,
            op,
            options: CallOptions::default(),
        }
    }

    /// Uses this key version instead of the cache's default (Django's `version=`).
    pub fn version(mut self, version: i64) -> Self {
        self.options.version = Some(version);
        self
    }
}

impl<Op: ops::Stores> Call<'_, Op> {
    /// How long the stored entry lives (Django's `timeout=`): a [`Duration`](std::time::Duration),
    /// [`Timeout::Never`], or `Duration::ZERO` for "already expired".
    pub fn timeout(mut self, timeout: impl Into<Timeout>) -> Self {
        self.options.timeout = timeout.into();
        self
    }
}

impl<'a, Op: ops::Operation<'a>> IntoFuture for Call<'a, Op> {
    type Output = Result<Op::Output>;
    type IntoFuture = BoxFuture<'a, Result<Op::Output>>;

    fn into_future(self) -> Self::IntoFuture {
        self.op.run(self.cache, self.options)
    }
}

/// The operations behind [`Call`]: one type per cache method, named after it.
pub mod ops {
    use std::collections::HashMap;
    use std::future::Future;
    use std::marker::PhantomData;

    use bytes::Bytes;
    use serde::de::DeserializeOwned;
    use serde::Serialize;

    use super::{BoxFuture, CallOptions};
    use crate::cache::Cache;
    use crate::error::{Error, Result};

    /// Runs an operation; implemented by every type in this module.
    pub trait Operation<'a>: Sized {
        /// What the call resolves to.
        type Output;
        #[doc(hidden)]
        fn run(self, cache: &'a Cache, options: CallOptions)
            -> BoxFuture<'a, Result<Self::Output>>;
    }

    /// Marks the operations that take `.timeout(..)`.
    pub trait Stores {}

    /// Puts the caller's key back into errors the backend raised with the made key.
    fn with_caller_key(error: Error, key: &str) -> Error {
        match error {
            Error::KeyNotFound { .. } => Error::KeyNotFound {
                key: key.to_owned(),
            },
            Error::NotNumeric { .. } => Error::NotNumeric {
                key: key.to_owned(),
            },
            Error::Overflow { .. } => Error::Overflow {
                key: key.to_owned(),
            },
            other => other,
        }
    }

    /// [`Cache::get`].
    pub struct Get<'a, T> {
        key: &'a str,
        _type: PhantomData<fn() -> T>,
    }

    impl<'a, T> Get<'a, T> {
        pub(crate) fn new(key: &'a str) -> Self {
            Get {
                key,
                _type: PhantomData,
            }
        }
    }

    impl<'a, T: DeserializeOwned + 'a> Operation<'a> for Get<'a, T> {
        type Output = Option<T>;
        fn run(self, cache: &'a Cache, options: CallOptions) -> BoxFuture<'a, Result<Option<T>>> {
            Box::pin(async move {
                let made = cache.made_key(self.key, &options)?;
                match cache.read(&made).await? {
                    Some(bytes) => cache.value_format().decode(self.key, &bytes).map(Some),
                    None => Ok(None),
                }
            })
        }
    }

    /// [`Cache::get_bytes`].
    pub struct GetBytes<'a> {
        pub(crate) key: &'a str,
    }

    impl<'a> Operation<'a> for GetBytes<'a> {
        type Output = Option<Bytes>;
        fn run(
            self,
            cache: &'a Cache,
            options: CallOptions,
        ) -> BoxFuture<'a, Result<Option<Bytes>>> {
            Box::pin(async move {
                let made = cache.made_key(self.key, &options)?;
                cache.read(&made).await
            })
        }
    }

    /// [`Cache::set`] and [`Cache::set_bytes`].
    pub struct Set<'a> {
        pub(crate) key: &'a str,
        pub(crate) value: Result<Bytes>,
    }

    impl Stores for Set<'_> {}

    impl<'a> Operation<'a> for Set<'a> {
        type Output = ();
        fn run(self, cache: &'a Cache, options: CallOptions) -> BoxFuture<'a, Result<()>> {
            Box::pin(async move {
                let made = cache.made_key(self.key, &options)?;
                let value = self.value?;
                match cache.expiry(&options) {
                    Some(expiry) => cache.backend().set(&made, value, expiry).await,
                    // Already expired: the old value must not stay visible either.
                    None => cache.backend().delete(&made).await.map(drop),
                }
            })
        }
    }

    /// [`Cache::add`] and [`Cache::add_bytes`].
    pub struct Add<'a> {
        pub(crate) key: &'a str,
        pub(crate) value: Result<Bytes>,
    }

    impl Stores for Add<'_> {}

    impl<'a> Operation<'a> for Add<'a> {
        type Output = bool;
        fn run(self, cache: &'a Cache, options: CallOptions) -> BoxFuture<'a, Result<bool>> {
            Box::pin(async move {
                let made = cache.made_key(self.key, &options)?;
                let value = self.value?;
                match cache.expiry(&options) {
                    Some(expiry) => cache.backend().add(&made, value, expiry).await,
                    // Django: an add that expires at once "succeeds" when the key was free, and stores nothing.
                    None => cache.backend().has_key(&made).await.map(|live| !live),
                }
            })
        }
    }

    /// [`Cache::get_or_set`].
    pub struct GetOrSet<'a, T> {
        pub(crate) key: &'a str,
        pub(crate) default: T,
    }

    impl<T> Stores for GetOrSet<'_, T> {}

    impl<'a, T> Operation<'a> for GetOrSet<'a, T>
    where
        T: Serialize + DeserializeOwned + Send + 'a,
    {
        type Output = T;
        fn run(self, cache: &'a Cache, options: CallOptions) -> BoxFuture<'a, Result<T>> {
            Box::pin(async move {
                let made = cache.made_key(self.key, &options)?;
                let backend = cache.backend();
                if let Some(hit) = cache.read(&made).await? {
                    return cache.value_format().decode(self.key, &hit);
                }
                let encoded = cache.value_format().encode(self.key, &self.default)?;
                let Some(expiry) = cache.expiry(&options) else {
                    return Ok(self.default);
                };
                if backend.add(&made, encoded, expiry).await? {
                    return Ok(self.default);
                }
                match backend.get(&made).await? {
                    Some(stored) => cache.value_format().decode(self.key, &stored),
                    None => Ok(self.default),
                }
            })
        }
    }

    /// [`Cache::get_or_set_with`].
    pub struct GetOrSetWith<'a, T, F> {
        key: &'a str,
        make: F,
        _type: PhantomData<fn() -> T>,
    }

    impl<'a, T, F> GetOrSetWith<'a, T, F> {
        pub(crate) fn new(key: &'a str, make: F) -> Self {
            GetOrSetWith {
                key,
                make,
                _type: PhantomData,
            }
        }
    }

    impl<T, F> Stores for GetOrSetWith<'_, T, F> {}

    impl<'a, T, F, Fut> Operation<'a> for GetOrSetWith<'a, T, F>
    where
        T: Serialize + DeserializeOwned + Send + 'a,
        F: FnOnce() -> Fut + Send + 'a,
        Fut: Future<Output = T> + Send + 'a,
    {
        type Output = T;
        fn run(self, cache: &'a Cache, options: CallOptions) -> BoxFuture<'a, Result<T>> {
            Box::pin(async move {
                let made = cache.made_key(self.key, &options)?;
                let key = self.key;
                let make = self.make;
                let format = cache.value_format();
                let bytes = cache
                    .get_or_set_bytes_with(&made, cache.expiry(&options), || async move {
                        format.encode(key, &make().await)
                    })
                    .await?;
                format.decode(key, &bytes)
            })
        }
    }

    /// [`Cache::get_many`].
    pub struct GetMany<T> {
        keys: Vec<String>,
        _type: PhantomData<fn() -> T>,
    }

    impl<T> GetMany<T> {
        pub(crate) fn new(keys: Vec<String>) -> Self {
            GetMany {
                keys,
                _type: PhantomData,
            }
        }
    }

    impl<'a, T: DeserializeOwned + 'a> Operation<'a> for GetMany<T> {
        type Output = HashMap<String, T>;
        fn run(
            self,
            cache: &'a Cache,
            options: CallOptions,
        ) -> BoxFuture<'a, Result<HashMap<String, T>>> {
            Box::pin(async move {
                if self.keys.is_empty() {
                    return Ok(HashMap::new());
                }
                let made = self
                    .keys
                    .iter()
                    .map(|key| cache.made_key(key, &options))
                    .collect::<Result<Vec<_>>>()?;
                let values = cache.backend().get_many(&made).await?;
                let mut found = HashMap::with_capacity(values.len());
                for (key, value) in self.keys.into_iter().zip(values) {
                    if let Some(bytes) = value {
                        let decoded = cache.value_format().decode(&key, &bytes)?;
                        found.insert(key, decoded);
                    }
                }
                Ok(found)
            })
        }
    }

    /// [`Cache::set_many`].
    pub struct SetMany {
        pub(crate) entries: Result<Vec<(String, Bytes)>>,
    }

    impl Stores for SetMany {}

    impl<'a> Operation<'a> for SetMany {
        type Output = Vec<String>;
        fn run(self, cache: &'a Cache, options: CallOptions) -> BoxFuture<'a, Result<Vec<String>>> {
            Box::pin(async move {
                let entries = self.entries?;
                if entries.is_empty() {
                    return Ok(Vec::new());
                }
                let mut made_to_caller = HashMap::with_capacity(entries.len());
                let mut made_entries = Vec::with_capacity(entries.len());
                for (key, value) in entries {
                    let made = cache.made_key(&key, &options)?;
                    made_entries.push((made.clone(), value));
                    made_to_caller.insert(made, key);
                }
                let Some(expiry) = cache.expiry(&options) else {
                    let made: Vec<String> = made_entries.into_iter().map(|(key, _)| key).collect();
                    cache.backend().delete_many(&made).await?;
                    return Ok(Vec::new());
                };
                let failed = cache.backend().set_many(made_entries, expiry).await?;
                Ok(failed
                    .into_iter()
                    .map(|made| made_to_caller.remove(&made).unwrap_or(made))
                    .collect())
            })
        }
    }

    /// [`Cache::delete`].
    pub struct Delete<'a> {
        pub(crate) key: &'a str,
    }

    impl<'a> Operation<'a> for Delete<'a> {
        type Output = bool;
        fn run(self, cache: &'a Cache, options: CallOptions) -> BoxFuture<'a, Result<bool>> {
            Box::pin(async move {
                let made = cache.made_key(self.key, &options)?;
                cache.backend().delete(&made).await
            })
        }
    }

    /// [`Cache::delete_many`].
    pub struct DeleteMany {
        pub(crate) keys: Vec<String>,
    }

    impl<'a> Operation<'a> for DeleteMany {
        type Output = ();
        fn run(self, cache: &'a Cache, options: CallOptions) -> BoxFuture<'a, Result<()>> {
            Box::pin(async move {
                if self.keys.is_empty() {
                    return Ok(());
                }
                let made = self
                    .keys
                    .iter()
                    .map(|key| cache.made_key(key, &options))
                    .collect::<Result<Vec<_>>>()?;
                cache.backend().delete_many(&made).await
            })
        }
    }

    /// [`Cache::has_key`].
    pub struct HasKey<'a> {
        pub(crate) key: &'a str,
    }

    impl<'a> Operation<'a> for HasKey<'a> {
        type Output = bool;
        fn run(self, cache: &'a Cache, options: CallOptions) -> BoxFuture<'a, Result<bool>> {
            Box::pin(async move {
                let made = cache.made_key(self.key, &options)?;
                cache.backend().has_key(&made).await
            })
        }
    }

    /// [`Cache::touch`].
    pub struct Touch<'a> {
        pub(crate) key: &'a str,
    }

    impl Stores for Touch<'_> {}

    impl<'a> Operation<'a> for Touch<'a> {
        type Output = bool;
        fn run(self, cache: &'a Cache, options: CallOptions) -> BoxFuture<'a, Result<bool>> {
            Box::pin(async move {
                let made = cache.made_key(self.key, &options)?;
                match cache.expiry(&options) {
                    Some(expiry) => cache.backend().touch(&made, expiry).await,
                    None => cache.backend().delete(&made).await,
                }
            })
        }
    }

    /// [`Cache::incr`] and [`Cache::decr`].
    pub struct Incr<'a> {
        pub(crate) key: &'a str,
        /// `None` when negating the delta overflowed (`decr(key, i64::MIN)`).
        pub(crate) delta: Option<i64>,
    }

    impl<'a> Operation<'a> for Incr<'a> {
        type Output = i64;
        fn run(self, cache: &'a Cache, options: CallOptions) -> BoxFuture<'a, Result<i64>> {
            Box::pin(async move {
                let made = cache.made_key(self.key, &options)?;
                let delta = self.delta.ok_or_else(|| Error::Overflow {
                    key: self.key.to_owned(),
                })?;
                cache
                    .backend()
                    .incr(&made, delta)
                    .await
                    .map_err(|error| with_caller_key(error, self.key))
            })
        }
    }

    /// [`Cache::incr_version`] and [`Cache::decr_version`].
    pub struct IncrVersion<'a> {
        pub(crate) key: &'a str,
        pub(crate) delta: Option<i64>,
    }

    impl<'a> Operation<'a> for IncrVersion<'a> {
        type Output = i64;
        fn run(self, cache: &'a Cache, options: CallOptions) -> BoxFuture<'a, Result<i64>> {
            Box::pin(async move {
                let overflow = || Error::Overflow {
                    key: self.key.to_owned(),
                };
                let version = options.version.unwrap_or(cache.default_version());
                let new_version = version
                    .checked_add(self.delta.ok_or_else(overflow)?)
                    .ok_or_else(overflow)?;
                let old_key = cache.made_key(self.key, &options)?;
                let new_options = CallOptions {
                    version: Some(new_version),
                    timeout: Default::default(),
                };
                let new_key = cache.made_key(self.key, &new_options)?;
                let backend = cache.backend();
                let value = backend
                    .get(&old_key)
                    .await?
                    .ok_or_else(|| Error::KeyNotFound {
                        key: self.key.to_owned(),
                    })?;
                match cache.expiry(&new_options) {
                    Some(expiry) => backend.set(&new_key, value, expiry).await?,
                    None => drop(backend.delete(&new_key).await?),
                }
                if new_key != old_key {
                    backend.delete(&old_key).await?;
                }
                Ok(new_version)
            })
        }
    }
}
