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

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub mod sql;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub use sql::{DatabaseBackend, DatabaseBackendBuilder};

#[cfg(any(feature = "redis", feature = "memcached"))]
mod pool;
#[cfg(any(feature = "redis", feature = "memcached"))]
pub use pool::TimedOut;

#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "redis")]
pub use self::redis::{RedisBackend, RedisBackendBuilder, RedisConnection};

#[cfg(feature = "memcached")]
pub mod memcached;
#[cfg(feature = "memcached")]
pub use self::memcached::{MemcachedBackend, MemcachedBackendBuilder};
