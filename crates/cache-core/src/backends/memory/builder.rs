//! [`MemoryBackendBuilder`]: the bounds of a memory backend and the name it shares its store under.

use std::sync::Arc;

use super::store::{named_store, new_store};
use super::MemoryBackend;
use crate::error::{Error, Result};

/// Django's `MAX_ENTRIES` default.
pub const DEFAULT_MAX_ENTRIES: u64 = 300;

/// Default bound on the bytes held (keys plus values): 64 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Settings for a [`MemoryBackend`].
#[derive(Debug, Clone)]
#[must_use]
pub struct MemoryBackendBuilder {
    name: Option<String>,
    max_entries: u64,
    max_bytes: u64,
}

impl MemoryBackendBuilder {
    /// Shares the store with every other live backend of this name in the process (Django's `LOCATION`).
    /// The first backend built under a name sets its bounds; later builders reuse it as it is.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    crate::setters::setters! {
        /// The most entries held (default 300, Django's `MAX_ENTRIES`).
        max_entries: u64,
        /// The most bytes of keys and values held (default 64 MiB).
        max_bytes: u64,
    }

    /// Builds the backend; [`Error::Config`] when a bound is zero.
    pub fn build(self) -> Result<MemoryBackend> {
        if self.max_entries == 0 || self.max_bytes == 0 {
            return Err(Error::Config(format!(
                "memory cache bounds must be positive (max_entries={}, max_bytes={})",
                self.max_entries, self.max_bytes
            )));
        }
        let (store, max_bytes) = match &self.name {
            None => (
                Arc::new(new_store(self.max_entries, self.max_bytes)),
                self.max_bytes,
            ),
            Some(name) => named_store(name, self.max_entries, self.max_bytes),
        };
        Ok(MemoryBackend { store, max_bytes })
    }
}

impl Default for MemoryBackendBuilder {
    fn default() -> Self {
        MemoryBackendBuilder {
            name: None,
            max_entries: DEFAULT_MAX_ENTRIES,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}
