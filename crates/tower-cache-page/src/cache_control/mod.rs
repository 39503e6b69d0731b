//! The response future of the header layers, in [`future`]. The layers themselves
//! ([`NeverCacheLayer`](crate::NeverCacheLayer), [`CacheControlLayer`](crate::CacheControlLayer),
//! [`VaryOnHeadersLayer`](crate::VaryOnHeadersLayer): Django's `never_cache`, `cache_control` and
//! `vary_on_headers` decorators), their one service and [`CacheDirectives`](crate::CacheDirectives) are
//! exported at the crate root.
//!
//! Inside: `directives.rs` parses and merges `Cache-Control` directives; `never_cache.rs`, `control.rs`
//! and `vary.rs` are the layers; `service.rs` is the service they share.

pub(crate) mod control;
pub(crate) mod directives;
pub mod future;
pub(crate) mod never_cache;
pub(crate) mod service;
pub(crate) mod vary;
