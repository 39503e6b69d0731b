//! The response future of [`ConditionalGetService`](crate::ConditionalGetService), in [`future`]. The layer
//! ([`ConditionalGetLayer`](crate::ConditionalGetLayer): Django's `ConditionalGetMiddleware`) and its
//! service are exported at the crate root.
//!
//! Inside: `layer.rs` and `service.rs`, the layer and its service; `preconditions.rs`, the precondition
//! rules (`get_conditional_response`, reference §2.7).

pub mod future;
pub(crate) mod layer;
mod preconditions;
pub(crate) mod service;
