//! [`DummyBackend`]: stores nothing (Django's `DummyCache`), for development and for turning caching off.

use async_trait::async_trait;
use bytes::Bytes;

use crate::backend::{CacheBackend, Expiry};
use crate::error::{Error, Result};

/// A cache that implements the interface and stores nothing.
///
/// As in Django: `get` misses, `add` reports success, `touch`/`delete`/`has_key` report nothing there, and
/// `incr`/`decr`/`incr_version` fail with [`Error::KeyNotFound`]. Keys are still validated by the `Cache`, so
/// a key that would break in production warns here too.
#[derive(Debug, Clone, Copy, Default)]
pub struct DummyBackend;

impl DummyBackend {
    /// The dummy backend.
    pub fn new() -> Self {
        DummyBackend
    }
}

#[async_trait]
impl CacheBackend for DummyBackend {
    fn name(&self) -> &'static str {
        "dummy"
    }

    async fn get(&self, _key: &str) -> Result<Option<Bytes>> {
        Ok(None)
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        Ok(vec![None; keys.len()])
    }

    async fn set(&self, _key: &str, _value: Bytes, _expiry: Expiry) -> Result<()> {
        Ok(())
    }

    async fn set_many(
        &self,
        _entries: Vec<(String, Bytes)>,
        _expiry: Expiry,
    ) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    async fn add(&self, _key: &str, _value: Bytes, _expiry: Expiry) -> Result<bool> {
        Ok(true)
    }

    async fn delete(&self, _key: &str) -> Result<bool> {
        Ok(false)
    }

    async fn delete_many(&self, _keys: &[String]) -> Result<()> {
        Ok(())
    }

    async fn touch(&self, _key: &str, _expiry: Expiry) -> Result<bool> {
        Ok(false)
    }

    async fn incr(&self, key: &str, _delta: i64) -> Result<i64> {
        Err(Error::KeyNotFound {
            key: key.to_owned(),
        })
    }

    async fn has_key(&self, _key: &str) -> Result<bool> {
        Ok(false)
    }

    async fn clear(&self) -> Result<()> {
        Ok(())
    }
}
