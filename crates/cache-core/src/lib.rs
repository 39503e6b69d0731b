//! Django's low-level cache API for Rust: one [`Cache`] handle over pluggable backends.
//!
//! ```
//! use std::time::Duration;
//! use cache_core::{backends::MemoryBackend, Cache, Timeout};
//!
//! # async fn demo() -> cache_core::Result<()> {
//! let cache = Cache::new(MemoryBackend::new());
//!
//! // set / get, with Django's keyword arguments as builder calls
//! cache.set("answer", &42).timeout(Duration::from_secs(60)).await?;
//! assert_eq!(cache.get::<i32>("answer").await?, Some(42));
//!
//! // counters, versions, never-expiring entries
//! assert_eq!(cache.incr("answer", 1).await?, 43);
//! cache.set("config", &vec!["a", "b"]).timeout(Timeout::Never).version(2).await?;
//!
//! // read-through: the closure runs once even for concurrent callers of one key
//! let page: String = cache
//!     .get_or_set_with("expensive", || async { "rendered".to_owned() })
//!     .await?;
//! assert_eq!(page, "rendered");
//! # Ok(()) }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
//! ```
//!
//! # Pieces
//!
//! - [`Cache`]: the handle applications hold. It makes and validates keys (`prefix:version:key`), applies
//!   Django's [timeout rules](Timeout), encodes typed values (JSON by default, or Django's pickle format to share a Redis cache with
//!   Django; see [`codec`] and [`ValueFormat`]), and coalesces concurrent
//!   `get_or_set_with` calls.
//! - [`CacheBackend`]: the object-safe trait a storage engine implements, over bytes and made keys.
//! - [`backends`]: memory (Django's `LocMemCache`, with its culling and its exact LRU order; feature `memory`),
//!   file (feature `file`), SQL through sqlx (features `sqlite`, `postgres`, `mysql`), Redis through deadpool-redis (features `redis`, `redis-cluster`,
//!   `redis-tls`; operations share pipelined connections, and an optional client-side cache kept coherent
//!   by Redis answers repeated reads from process memory), memcached through async-memcached with consistent hashing over several servers (feature
//!   `memcached`; why that client: see the `backends::memcached` module) and dummy.
//! - [`Caches`]: named aliases built from configuration or URLs (`memory://`, `file:///…`, `sqlite://…`, …).
//! - [`sharing`]: how a request used its session, told to a page cache that runs inside the session layer.
//! - `testing` (feature `testing`): the conformance suite every backend passes.
//!
//! # Errors
//!
//! Every call returns [`Result`]; see [`Error`] for what each variant means. Nothing in this crate panics on
//! input: over-long keys, undecodable entries, unreachable servers and corrupted files are errors or misses.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]
#![warn(missing_docs)]

mod backend;
pub mod backends;
mod cache;
mod caches;
pub mod codec;
mod config;
mod error;
mod fragment;
pub mod key;
mod setters;
pub mod sharing;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub mod sql;
pub mod tags;
#[cfg(feature = "testing")]
pub mod testing;
mod timeout;
mod url;

pub use backend::{
    checked_increment, deadline_for_keys, parse_integer, CacheBackend, Expiry, ImmediateReads,
    KeyLimits, KEYS_PER_DEADLINE,
};
pub use cache::{call, Cache, CacheBuilder, KeyMaker, RawCache, DEFAULT_TIMEOUT, DEFAULT_VERSION};
pub use caches::{supported_schemes, Caches, DEFAULT_ALIAS};
pub use codec::ValueFormat;
pub use config::{BackendOptions, CacheConfig, CachesConfig};
pub use error::{Error, KeyProblem, Result};
pub use fragment::{make_fragment_key, FragmentCache};
pub use timeout::Timeout;
pub use url::{redact, CacheUrl};
