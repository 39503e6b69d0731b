//! # tower-django
//!
//! Django's caching, sessions and middleware, rebuilt as composable Tower layers for axum and hyper
//! applications. Each concept is its own crate, usable alone; this umbrella package re-exports them behind
//! cargo features so one dependency can bring in what an application needs.
//!
//! | feature | module | crate |
//! |---------|--------|-------|
//! | `cache` (default) | [`cache`] | `cache-core`: the cache API and its backends |
//! | `memory` (default), `file`, `sqlite` | | backends of `cache-core` |
//!
//! ```
//! # #[cfg(feature = "memory")]
//! # async fn demo() -> tower_django::cache::Result<()> {
//! use tower_django::cache::{backends::MemoryBackend, Cache};
//!
//! let cache = Cache::new(MemoryBackend::new());
//! cache.set("k", "v").await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

/// The cache API and its backends (the `cache-core` crate).
#[cfg(feature = "cache")]
pub use cache_core as cache;
