//! The response future of the header layers, in [`future`]. The layers themselves
//! ([`NeverCacheLayer`](crate::NeverCacheLayer), [`CacheControlLayer`](crate::CacheControlLayer),
//! [`VaryOnHeadersLayer`](crate::VaryOnHeadersLayer): Django's `never_cache`, `cache_control` and
//! `vary_on_headers` decorators), their one service and [`CacheDirectives`](crate::CacheDirectives) are
//! exported at the crate root.
//!
//! Inside: `never_cache.rs`, `control.rs` and `vary.rs` are the layers; `service.rs` is the service they
//! share, and `patch.rs` the header change each makes. `Cache-Control` directives are parsed and merged in
//! the crate's `directives.rs`, beside the header functions that use them.

pub(crate) mod control;
pub mod future;
pub(crate) mod never_cache;
mod patch;
pub(crate) mod service;
pub(crate) mod vary;
