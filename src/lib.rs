//! # tower-django
//!
//! Django's caching, sessions and middleware, rebuilt as composable Tower layers for axum and hyper
//! applications. Each concept is its own crate, usable alone; this umbrella package re-exports them behind
//! cargo features so one dependency can bring in what an application needs.
//!
//! | feature | module | crate |
//! |---------|--------|-------|
//! | `cache` (default) | [`cache`] | `cache-core`: the cache API and its backends |
//! | `memory`, `sqlite` (default), `file`, `postgres`, `mysql`, `redis`, `redis-cluster`, `redis-tls`, `memcached` | | backends of `cache-core` |
//! | `page` | [`page`] | `tower-cache-page`: `cache_page`, the site-wide cache, conditional GET and cache-header layers |
//! | `sessions` | [`sessions`] | `tower-sessions-kit`: Django's sessions, with database, cache, file and signed-cookie stores |
//! | `hooks` (`hooks-minijinja` for the MiniJinja renderer) | [`hooks`] | `tower-hooks`: Django's middleware model as one layer |
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

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// The cache API and its backends (the `cache-core` crate).
#[cfg(feature = "cache")]
pub use cache_core as cache;

/// Django's middleware model as one Tower layer (the `tower-hooks` crate).
#[cfg(feature = "hooks")]
pub use tower_hooks as hooks;

/// Django's per-view and site-wide page cache and the cache-header layers (the `tower-cache-page` crate).
#[cfg(feature = "page")]
pub use tower_cache_page as page;

/// Django's sessions as a Tower layer (the `tower-sessions-kit` crate).
#[cfg(feature = "sessions")]
pub use tower_sessions_kit as sessions;

/// The README's code, compiled and run as doctests so that it never drifts from the crates.
#[cfg(all(
    doctest,
    feature = "page",
    feature = "sessions",
    feature = "hooks-minijinja",
    feature = "memory",
    feature = "sqlite"
))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
