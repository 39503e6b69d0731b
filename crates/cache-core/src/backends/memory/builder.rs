//! [`MemoryBackendBuilder`]: the bounds of a memory backend and the name it shares its store under.

use std::sync::Arc;

use super::bounds::Bounds;
use super::store::{named_store, Store};
use super::MemoryBackend;
use crate::error::{Error, Result};

/// Django's `MAX_ENTRIES` default.
pub const DEFAULT_MAX_ENTRIES: u64 = 300;

/// Django's `CULL_FREQUENCY` default: a cull removes a third of the entries.
pub const DEFAULT_CULL_FREQUENCY: u64 = 3;

/// Default bound on the bytes held (keys plus values): 64 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Settings for a [`MemoryBackend`].
#[derive(Debug, Clone)]
#[must_use]
pub struct MemoryBackendBuilder {
    name: Option<String>,
    max_entries: u64,
    cull_frequency: u64,
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
        /// The most entries held (default 300, Django's `MAX_ENTRIES`): a write that finds this many culls
        /// first. Must be positive.
        max_entries: u64,
        /// The share of entries a cull removes (default 3, Django's `CULL_FREQUENCY`): the least recently
        /// used `len / cull_frequency` of them; 0 removes them all. Every value means what it means in
        /// Django, including 1 (a cull empties the store, as 0 does) and values above `max_entries` (a cull
        /// removes nothing until the store holds `cull_frequency` entries, so it grows to that many).
        cull_frequency: u64,
        /// The most bytes of keys and values held (default 64 MiB); past it, the least recently used entries
        /// are evicted one at a time. Must be positive; a single value larger than this is refused.
        max_bytes: u64,
    }

    /// Builds the backend; [`Error::Config`] when `max_entries` or `max_bytes` is zero.
    pub fn build(self) -> Result<MemoryBackend> {
        if self.max_entries == 0 || self.max_bytes == 0 {
            return Err(Error::Config(format!(
                "memory cache bounds must be positive (max_entries={}, max_bytes={})",
                self.max_entries, self.max_bytes
            )));
        }
        let bounds = Bounds {
            max_entries: self.max_entries,
            cull_frequency: self.cull_frequency,
            max_bytes: self.max_bytes,
        };
        let store = match &self.name {
            None => Arc::new(Store::new(bounds)),
            Some(name) => named_store(name, bounds),
        };
        Ok(MemoryBackend { store })
    }
}

impl Default for MemoryBackendBuilder {
    fn default() -> Self {
        MemoryBackendBuilder {
            name: None,
            max_entries: DEFAULT_MAX_ENTRIES,
            cull_frequency: DEFAULT_CULL_FREQUENCY,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}
