//! [`CachePageLayer`]: Django's `cache_page` and its site-wide cache middleware as one Tower layer.
//!
//! - `layer.rs`: the layer and its settings (builder methods);
//! - `service.rs`: the service and the algorithm (fetch, coalesce, update);
//! - `future.rs`: its response future;
//! - `status.rs`: the optional `Cache-Status` header (RFC 9211);
//! - `invalidate.rs`: [`PageInvalidator`], to drop a URL's pages from a handler;
//! - `breaker.rs`: the circuit breaker that keeps a failing backend out of the way.

mod breaker;
mod future;
mod invalidate;
mod layer;
mod service;
mod status;

pub use future::ResponseFuture;
pub use invalidate::{InvalidateError, PageInvalidator};
pub use layer::CachePageLayer;
pub use service::CachePage;
