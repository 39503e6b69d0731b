//! [`HooksLayer`]: the ordered middleware list (Django's `MIDDLEWARE`) and the layer's settings.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use crate::middleware::{Middleware, MiddlewareNotUsed};
use crate::render::Renderer;
use crate::service::HooksService;
use crate::shared::Shared;
use crate::view::ViewName;

/// Django's middleware model as one Tower layer: a list of [`Middleware`] run in `MIDDLEWARE` order around
/// the inner service.
///
/// ```
/// use axum::{routing::get, Router};
/// use tower_hooks::{HooksLayer, Middleware};
///
/// struct Security;
/// impl Middleware for Security {}
/// struct Sessions;
/// impl Middleware for Sessions {}
///
/// let hooks = HooksLayer::new()
///     .push(Security)   // outermost, like the top of MIDDLEWARE
///     .push(Sessions)
///     .name_route("/users/{id}", "user-detail");
///
/// let app: Router = Router::new()
///     .route("/users/{id}", get(|| async { "user" }))
///     .layer(hooks);
/// ```
///
/// # Where to apply it
///
/// - `Router::layer(hooks)` (recommended): axum wraps **each route and the fallback** with the layer,
///   *after* routing, so `process_view` sees the matched route and its parameters, and unknown URLs still
///   go through `process_request`/`process_response` (their `process_view` gets no route, see
///   [`ViewInfo`](crate::ViewInfo)). Apply it after adding the routes: axum layers only routes that exist.
/// - `Router::route_layer(hooks)`: the same, minus the fallback — unmatched requests skip the hooks.
/// - around a whole `Router` or any other `tower::Service<http::Request<B>>` (`ServiceBuilder::layer`,
///   [`Layer::layer`]): every hook runs, `process_request` now *before* routing, but there is no routing
///   result for `process_view` to show.
///
/// One consequence of the first two: `process_request` runs after axum has routed the request, so unlike
/// Django it cannot change which route a request goes to.
///
/// # Costs
///
/// Each hook call is one boxed future; a request through five middleware that implement all five hooks
/// costs about 15 small allocations plus one copy of the request head (the response-phase hooks need it,
/// the handler owns the request): roughly 0.8–1 µs on the machine the workspace's `hooks` benchmark was
/// run on. Next to a hello-world axum handler called in-process (~0.7 µs) that more than halves the
/// throughput; over a real HTTP/1.1 connection on loopback it is a few percent.
#[derive(Clone)]
pub struct HooksLayer {
    shared: Arc<Shared>,
}

impl HooksLayer {
    /// An empty list: no middleware, no renderer, error responses logged.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                chain: Vec::new(),
                renderer: None,
                routes: HashMap::new(),
                log_responses: true,
            }),
        }
    }

    fn shared_mut(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.shared)
    }

    /// Appends a middleware below those already added (later = closer to the handler).
    #[must_use]
    pub fn push(self, middleware: impl Middleware) -> Self {
        self.push_arc(Arc::new(middleware))
    }

    /// Appends a middleware that is shared with other code (for example one that collects metrics you read
    /// elsewhere).
    #[must_use]
    pub fn push_arc(mut self, middleware: Arc<dyn Middleware>) -> Self {
        self.shared_mut().chain.push(middleware);
        self
    }

    /// Appends the middleware if its constructor built it; leaves it out if the constructor declined with
    /// [`MiddlewareNotUsed`], logging `MiddlewareNotUsed: '<type>'` (and the reason) at DEBUG, like Django.
    #[must_use]
    pub fn try_push<M: Middleware>(self, constructed: Result<M, MiddlewareNotUsed>) -> Self {
        match constructed {
            Ok(middleware) => self.push(middleware),
            Err(declined) => {
                let name = std::any::type_name::<M>();
                match declined.reason() {
                    Some(reason) => tracing::debug!(
                        target: "tower_hooks",
                        middleware = name,
                        reason,
                        "MiddlewareNotUsed('{name}'): {reason}"
                    ),
                    None => tracing::debug!(
                        target: "tower_hooks",
                        middleware = name,
                        "MiddlewareNotUsed: '{name}'"
                    ),
                }
                self
            }
        }
    }

    /// Sets the renderer for [`TemplateResponse`](crate::TemplateResponse)s. Without one, a template
    /// response becomes a 500 and an error in the log.
    #[must_use]
    pub fn renderer(mut self, renderer: impl Renderer) -> Self {
        self.shared_mut().renderer = Some(Arc::new(renderer));
        self
    }

    /// Names the view behind a route pattern, exactly as the route was declared in the `Router`
    /// (`"/users/{id}"`, with any `nest` prefix), so `process_view` sees the name. See
    /// [`ViewName`] for the other way.
    #[must_use]
    pub fn name_route(mut self, route: impl Into<String>, name: impl Into<ViewName>) -> Self {
        self.shared_mut()
            .routes
            .insert(route.into().into_boxed_str(), name.into());
        self
    }

    /// Whether to log responses with status ≥ 400 after the chain, like Django's `django.request` logger:
    /// WARN for 4xx, ERROR for 5xx, as `"<Reason>: <path>"` on target `tower_hooks::request`. On by default.
    /// Exceptions turned into responses are logged with their details either way.
    #[must_use]
    pub fn log_error_responses(mut self, enabled: bool) -> Self {
        self.shared_mut().log_responses = enabled;
        self
    }

    /// How many middleware are in the list.
    pub fn len(&self) -> usize {
        self.shared.chain.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.shared.chain.is_empty()
    }

    /// The middleware names in order ([`Middleware::name`]).
    pub fn middleware_names(&self) -> impl Iterator<Item = &str> {
        self.shared.chain.iter().map(|m| m.name())
    }
}

impl Default for HooksLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for HooksLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HooksLayer")
            .field("middleware", &self.middleware_names().collect::<Vec<_>>())
            .field("renderer", &self.shared.renderer.is_some())
            .field("named_routes", &self.shared.routes.len())
            .field("log_error_responses", &self.shared.log_responses)
            .finish()
    }
}

impl<S> Layer<S> for HooksLayer {
    type Service = HooksService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HooksService::new(inner, Arc::clone(&self.shared))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct A;
    impl Middleware for A {}
    struct B;
    impl Middleware for B {
        fn name(&self) -> &str {
            "B"
        }
    }

    #[test]
    fn builder_keeps_order_and_skips_declined() {
        let layer = HooksLayer::new()
            .push(A)
            .try_push::<A>(Err(MiddlewareNotUsed::because("off")))
            .try_push(Ok(B));
        assert_eq!(
            layer.middleware_names().collect::<Vec<_>>(),
            vec!["tower_hooks::layer::tests::A", "B"]
        );
        assert_eq!(layer.len(), 2);
        assert!(!layer.is_empty());
    }

    #[test]
    fn builder_does_not_touch_earlier_clones() {
        let base = HooksLayer::new().push(A);
        let more = base.clone().push(B);
        assert_eq!(base.len(), 1);
        assert_eq!(more.len(), 2);
    }
}
