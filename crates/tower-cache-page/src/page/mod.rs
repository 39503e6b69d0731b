//! The response future of [`CachePageService`](crate::CachePageService), in [`future`]; the page cache
//! itself ([`CachePageLayer`](crate::CachePageLayer): Django's `cache_page` and its site-wide cache
//! middleware as one Tower layer) is exported at the crate root.
//!
//! Inside, in the order a request meets them:
//!
//! - `layer.rs`: the layer and its builder methods; `config.rs`: the settings they set, which the service
//!   and the invalidator read; `shared.rs`: one layer's state;
//! - `service.rs`: the service, which sends each request on its way;
//! - `fetch.rs`: the request phase as a step machine without I/O (keys, memo, HEAD, stale pages), and
//!   `drive.rs`, its two drivers (in-process inside `call`, and asynchronous, with `lookup.rs`); `hit.rs`: the answer from a
//!   stored page;
//! - `flight.rs`: misses and stale refreshes through request coalescing (`coalesce.rs`), across processes
//!   through a lease on the backend (`lease.rs`);
//! - `update.rs`: the response phase (session use, the `rules.rs`, the body); `store.rs`: the writes;
//! - `guard.rs`: every backend operation, past the circuit breaker (`breaker.rs`) and the backend timeout;
//! - `key.rs` (with `django_url.rs`), `entry.rs`, `memo.rs`: Django's keys, the stored format, the in-process memo of header lists;
//! - `status.rs`: the optional `Cache-Status` header; `metrics.rs`: the counters and histograms; `invalidate.rs`: [`PageInvalidator`](crate::PageInvalidator).

mod breaker;
mod coalesce;
mod config;
mod django_url;
mod drive;
mod entry;
mod fetch;
mod flight;
pub mod future;
mod guard;
mod hit;
pub(crate) mod invalidate;
pub(crate) mod key;
pub(crate) mod layer;
mod lease;
mod lookup;
mod memo;
pub(crate) mod metrics;
mod rules;
pub(crate) mod service;
mod shared;
mod status;
mod store;
pub(crate) mod tags;
mod update;
