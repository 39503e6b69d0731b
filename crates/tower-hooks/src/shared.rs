//! [`Shared`]: what the layer hands every service it makes, read by the service and the hook chain.

use std::collections::HashMap;
use std::sync::Arc;

use crate::middleware::Middleware;
use crate::render::Renderer;
use crate::view::ViewName;

/// Everything a request needs from the layer, shared by every clone of the service.
///
/// The chain is a `Vec<Arc<dyn Middleware>>` inside one `Arc`: cloning the service per request (as axum
/// does) costs one reference-count increment, and each middleware can still be shared with code outside
/// the layer through [`HooksLayer::push_arc`].
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) chain: Vec<Arc<dyn Middleware>>,
    pub(crate) renderer: Option<Arc<dyn Renderer>>,
    pub(crate) routes: HashMap<Box<str>, ViewName>,
    pub(crate) log_responses: bool,
}
