//! The storage engines, one module each, behind a cargo feature named after it.

mod dummy;
pub use dummy::DummyBackend;

#[cfg(feature = "memory")]
mod memory;
#[cfg(feature = "memory")]
pub use memory::{MemoryBackend, MemoryBackendBuilder};

#[cfg(feature = "file")]
mod file;
#[cfg(feature = "file")]
pub use file::{FileBackend, FileBackendBuilder};
