//! [`FileBackend`]: one file per entry in a directory (Django's `FileBasedCache`).
//!
//! - The directory (and its parents) is created with mode `0700` at construction and again before each
//!   write, so a cache directory removed at run time comes back.
//! - Each entry is `<dir>/<md5 of the made key>.tdcache`, holding a 12-byte header (`TDC1` magic and the
//!   expiry as big-endian Unix milliseconds, `u64::MAX` for never) and the value bytes as they are.
//! - Writes go to a temporary file in the same directory and are renamed into place, so readers never see a
//!   half-written entry. `add` publishes with a hard link, which fails if a live entry appeared meanwhile, so
//!   two processes adding the same key cannot both win.
//! - Expired and corrupted files (short, wrong magic) are removed when read; a corrupted file is a miss and a
//!   `tracing` warning, never an error.
//! - Culling as in Django: when a write finds at least `max_entries` entries, a random
//!   `count / cull_frequency` of them are removed (all of them when `cull_frequency` is 0).
//! - `clear` removes only entry files (`*.tdcache`; `*.djcache` in Django's layout), never other files or
//!   the directory.
//! - `compare_and_set`, `touch`, `incr`, `delete` and `delete_many` hold the directory's write lock (an
//!   exclusive `flock` on `<dir>/.tdcache-lock`) from their read to their write, so they are atomic against
//!   each other in every process sharing the directory (Django's file cache has no such lock). `set` and `add` do not
//!   take it: a `set` racing with a `compare_and_set` on the same key may be overwritten by it, the last
//!   writer winning as with any `set`. The lock is waited for at most 2 s, then the operation fails.
//!
//! [`FileBackendBuilder::django_layout`] writes Django's own files instead (`<md5>.djcache`: the pickled
//! expiry, then the zlib-compressed pickle of the value), to share the directory with a Django project.
//!
//! Every operation runs as one blocking task (`spawn_blocking`) doing plain `std::fs` calls: one thread hop
//! per operation instead of one per file system call.

mod dir;
mod entry;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::backend::{checked_increment, CacheBackend, Expiry};
use crate::error::{Error, Result};
use dir::Inner;
use entry::{create_private_dir, remove_if_present, Layout, Stored};

/// Django's `MAX_ENTRIES` default.
pub const DEFAULT_MAX_ENTRIES: u64 = 300;
/// Django's `CULL_FREQUENCY` default.
pub const DEFAULT_CULL_FREQUENCY: u64 = 3;

/// The file-system cache backend. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FileBackend {
    inner: Arc<Inner>,
}

/// Settings for a [`FileBackend`].
#[derive(Debug, Clone)]
#[must_use]
pub struct FileBackendBuilder {
    dir: PathBuf,
    max_entries: u64,
    cull_frequency: u64,
    layout: Layout,
}

impl FileBackendBuilder {
    /// Writes and reads entries as Django's `FileBasedCache` does, so a Django project configured with the
    /// same directory shares them: `<md5>.djcache` files holding the pickled expiry and the
    /// zlib-compressed pickle of the value. Pair it with
    /// [`ValueFormat::DjangoPickle`](crate::ValueFormat::DjangoPickle) on the [`Cache`](crate::Cache)
    /// (a `file://` URL with `value_format=django` does both). Entries in this crate's own layout
    /// (`.tdcache`) are not seen, and `clear` leaves them.
    pub fn django_layout(mut self) -> Self {
        self.layout = Layout::Django;
        self
    }

    crate::setters::setters! {
        /// The most entries before a write culls (default 300).
        max_entries: u64,
        /// Culling removes `1 / cull_frequency` of the entries (default 3); 0 removes them all.
        cull_frequency: u64,
    }

    /// Creates the directory (mode 0700) and the backend. [`Error::Config`] when `max_entries` is zero or the
    /// directory cannot be created or is not a directory.
    pub fn build(self) -> Result<FileBackend> {
        if self.max_entries == 0 {
            return Err(Error::Config(
                "file cache max_entries must be positive".into(),
            ));
        }
        create_private_dir(&self.dir).map_err(|e| {
            Error::Config(format!(
                "cannot create the cache directory {}: {e}",
                self.dir.display()
            ))
        })?;
        Ok(FileBackend {
            inner: Arc::new(Inner {
                dir: self.dir,
                max_entries: self.max_entries,
                cull_frequency: self.cull_frequency,
                layout: self.layout,
            }),
        })
    }
}

impl FileBackend {
    /// A backend storing entries in `dir`, with Django's defaults (300 entries, cull a third).
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self> {
        FileBackend::builder(dir).build()
    }

    /// Settings for a backend storing entries in `dir`.
    pub fn builder(dir: impl Into<PathBuf>) -> FileBackendBuilder {
        FileBackendBuilder {
            dir: dir.into(),
            max_entries: DEFAULT_MAX_ENTRIES,
            cull_frequency: DEFAULT_CULL_FREQUENCY,
            layout: Layout::default(),
        }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The file that holds `key`.
    pub fn path_for(&self, key: &str) -> PathBuf {
        self.inner.path_for(key)
    }

    async fn run<T, F>(&self, operation: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> std::io::Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        match tokio::task::spawn_blocking(move || operation(&inner)).await {
            Ok(result) => result.map_err(|e| Error::backend("file", e)),
            Err(join) => Err(Error::backend("file", join)),
        }
    }
}

#[async_trait]
impl CacheBackend for FileBackend {
    fn name(&self) -> &'static str {
        "file"
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let path = self.inner.path_for(key);
        self.run(move |inner| {
            Ok(inner
                .read_live(&path, false)?
                .map(|stored| Bytes::from(stored.value)))
        })
        .await
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        let paths: Vec<PathBuf> = keys.iter().map(|key| self.inner.path_for(key)).collect();
        self.run(move |inner| {
            paths
                .iter()
                .map(|path| Ok(inner.read_live(path, false)?.map(|s| Bytes::from(s.value))))
                .collect()
        })
        .await
    }

    async fn set(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<()> {
        let key = key.to_owned();
        self.run(move |inner| inner.set(&key, &value, expiry)).await
    }

    async fn set_many(&self, entries: Vec<(String, Bytes)>, expiry: Expiry) -> Result<Vec<String>> {
        self.run(move |inner| {
            for (key, value) in &entries {
                inner.set(key, value, expiry)?;
            }
            Ok(Vec::new())
        })
        .await
    }

    async fn add(&self, key: &str, value: Bytes, expiry: Expiry) -> Result<bool> {
        let key = key.to_owned();
        self.run(move |inner| inner.add(&key, &value, expiry)).await
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let path = self.inner.path_for(key);
        self.run(move |inner| inner.delete(&path)).await
    }

    async fn compare_and_set(&self, key: &str, old: &[u8], new: Bytes, at: Expiry) -> Result<bool> {
        let key = key.to_owned();
        let old = old.to_vec();
        self.run(move |inner| inner.compare_and_set(&key, &old, &new, at))
            .await
    }

    async fn delete_many(&self, keys: &[String]) -> Result<()> {
        let paths: Vec<PathBuf> = keys.iter().map(|key| self.inner.path_for(key)).collect();
        self.run(move |inner| {
            let _lock = inner.lock_directory()?;
            for path in &paths {
                remove_if_present(path)?;
            }
            Ok(())
        })
        .await
    }

    async fn touch(&self, key: &str, expiry: Expiry) -> Result<bool> {
        let key = key.to_owned();
        self.run(move |inner| {
            inner.rewrite(&key, |stored| {
                Ok(Stored {
                    expiry,
                    value: stored.value,
                })
            })
        })
        .await
    }

    async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        let owned = key.to_owned();
        let outcome = self
            .run(move |inner| {
                let mut outcome = None;
                let found = inner.rewrite(&owned, |stored| {
                    let result = checked_increment(&owned, &stored.value, delta);
                    let value = match &result {
                        Ok(new) => new.to_string().into_bytes(),
                        Err(_) => stored.value,
                    };
                    outcome = Some(result);
                    Ok(Stored {
                        expiry: stored.expiry,
                        value,
                    })
                })?;
                Ok(if found { outcome } else { None })
            })
            .await?;
        outcome.unwrap_or_else(|| {
            Err(Error::KeyNotFound {
                key: key.to_owned(),
            })
        })
    }

    async fn has_key(&self, key: &str) -> Result<bool> {
        let path = self.inner.path_for(key);
        self.run(move |inner| Ok(inner.read_live(&path, true)?.is_some()))
            .await
    }

    async fn clear(&self) -> Result<()> {
        self.run(|inner| {
            for path in inner.entry_files()? {
                remove_if_present(&path)?;
            }
            Ok(())
        })
        .await
    }
}
