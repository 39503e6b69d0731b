//! What `process_view` learns about the view: the matched route, the path parameters and an optional name.
//!
//! Django hands `process_view` the view function and its arguments from URL resolution. In axum the
//! router does the resolving and leaves its result in the request extensions — [`MatchedPath`] and the raw
//! path parameters — so [`ViewInfo`] reads them from there. A view's *name* (Django's `url_name`) has no
//! axum counterpart; [`ViewName`] adds one, and [`ViewNameLayer`] puts it into requests.

use std::borrow::Cow;
use std::fmt;
use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams};
use futures_util::FutureExt;
use http::request::Parts;
use http::Request;
use tower_layer::Layer;
use tower_service::Service;

/// The name of a view (Django's URL name), for `process_view` hooks and handlers.
///
/// # Naming a view
///
/// [`HooksLayer`](crate::HooksLayer) is normally applied with `Router::layer`, which wraps every route from
/// the *outside*, so a layer added to one route (`get(h).layer(..)`) runs *inside* the hooks: too late for
/// `process_view`. Two ways work:
///
/// - [`HooksLayer::name_route`](crate::HooksLayer::name_route)`("/users/{id}", "user-detail")` names a route
///   pattern, like Django's `path(..., name="user-detail")`; the name is looked up by the matched path.
/// - a `ViewName` already in the request extensions when the hooks run, e.g. from
///   [`ViewName::layer`] placed *outside* the hooks — per route with
///   `get(h).layer((ViewName::layer("home"), hooks.clone()))` (in a tuple of layers the first is the
///   outermost), or around a plain tower service.
///
/// When both give a name, the extension wins. The hooks layer also puts the name it used into the request
/// extensions, so a handler can read it with `Extension<ViewName>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ViewName(Cow<'static, str>);

impl ViewName {
    /// A view name.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        Self(name.into())
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A layer that puts this name into the extensions of every request through it. It must run *before*
    /// the hooks (see [naming a view](ViewName#naming-a-view)).
    pub fn layer(name: impl Into<Cow<'static, str>>) -> ViewNameLayer {
        ViewNameLayer {
            name: Self::new(name),
        }
    }
}

impl fmt::Display for ViewName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&'static str> for ViewName {
    fn from(name: &'static str) -> Self {
        Self::new(name)
    }
}

impl From<String> for ViewName {
    fn from(name: String) -> Self {
        Self::new(name)
    }
}

/// Inserts a [`ViewName`] into request extensions, so that hooks running inside it see the name; made by
/// [`ViewName::layer`].
#[derive(Debug, Clone)]
pub struct ViewNameLayer {
    name: ViewName,
}

impl<S> Layer<S> for ViewNameLayer {
    type Service = ViewNameService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ViewNameService {
            inner,
            name: self.name.clone(),
        }
    }
}

/// The service made by [`ViewNameLayer`]: the inner service, with the name added to every request.
#[derive(Debug, Clone)]
pub struct ViewNameService<S> {
    inner: S,
    name: ViewName,
}

impl<S> ViewNameService<S> {
    define_inner_service_accessors!();
}

impl<S, B> Service<Request<B>> for ViewNameService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        req.extensions_mut().insert(self.name.clone());
        self.inner.call(req)
    }
}

/// What `process_view` knows about the view about to run.
///
/// Outside axum, or on axum's fallback (no route matched), [`route`](Self::route) is `None` and there are no
/// parameters: the hook still runs, like the rest of the chain, and decides what that means.
#[derive(Debug, Default)]
pub struct ViewInfo {
    route: Option<MatchedPath>,
    params: Option<RawPathParams>,
    name: Option<ViewName>,
}

impl ViewInfo {
    /// Reads the router's result from request extensions.
    pub(crate) fn from_parts(parts: &mut Parts, name: Option<ViewName>) -> Self {
        let route = parts.extensions.get::<MatchedPath>().cloned();
        // `from_request_parts` for `RawPathParams` only reads an extension: it is ready at once, so it is
        // polled here instead of awaited (keeps the per-request future small). A rejection (no params
        // extension outside axum, or a parameter that is not UTF-8 once percent-decoded) just means "no
        // parameters to show"; the handler's own extractor rejects the request properly if it needs them.
        let params = if route.is_some() {
            RawPathParams::from_request_parts(parts, &())
                .now_or_never()
                .and_then(Result::ok)
        } else {
            None
        };
        Self {
            route,
            params,
            name,
        }
    }

    /// The route pattern that matched, e.g. `/users/{id}` (axum's [`MatchedPath`]).
    pub fn route(&self) -> Option<&str> {
        self.route.as_ref().map(MatchedPath::as_str)
    }

    /// The view's name, if the route was named (see [naming a view](ViewName#naming-a-view)).
    pub fn name(&self) -> Option<&str> {
        self.name.as_ref().map(ViewName::as_str)
    }

    /// The path parameters in route order, percent-decoded: Django's `view_kwargs`, as strings.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().flat_map(|p| p.iter())
    }

    /// One path parameter by name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params().find(|(k, _)| *k == name).map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    #[test]
    fn view_name_layer_inserts_extension() {
        let mut svc = ViewName::layer("home").layer(tower_service_fn());
        let fut = svc.call(Request::new(()));
        let name = fut.now_or_never().and_then(Result::ok).flatten();
        assert_eq!(name.as_deref(), Some("home"));
    }

    fn tower_service_fn() -> impl Service<
        Request<()>,
        Response = Option<String>,
        Error = Infallible,
        Future = std::future::Ready<Result<Option<String>, Infallible>>,
    > {
        struct S;
        impl Service<Request<()>> for S {
            type Response = Option<String>;
            type Error = Infallible;
            type Future = std::future::Ready<Result<Option<String>, Infallible>>;
            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
                Poll::Ready(Ok(()))
            }
            fn call(&mut self, req: Request<()>) -> Self::Future {
                std::future::ready(Ok(req
                    .extensions()
                    .get::<ViewName>()
                    .map(|n| n.as_str().to_owned())))
            }
        }
        S
    }

    #[test]
    fn view_name_service_lends_and_gives_back_its_inner_service() {
        let mut svc = ViewName::layer("home").layer(7_u8);
        assert_eq!(*svc.get_ref(), 7);
        *svc.get_mut() = 8;
        assert_eq!(svc.into_inner(), 8);
    }

    #[test]
    fn view_info_outside_axum_is_empty() {
        let (mut parts, ()) = Request::new(()).into_parts();
        let info = ViewInfo::from_parts(&mut parts, None);
        assert_eq!(info.route(), None);
        assert_eq!(info.name(), None);
        assert_eq!(info.params().count(), 0);
        assert_eq!(info.param("id"), None);
    }
}
