//! The [`Middleware`] trait (Django's middleware class with its five optional hooks) and
//! [`MiddlewareNotUsed`].

use std::borrow::Cow;
use std::fmt;

use async_trait::async_trait;
use axum::response::Response;
use http::request::Parts;

use crate::exception::Exception;
use crate::template::TemplateResponse;
use crate::view::ViewInfo;

/// The request type hooks see: an [`http::Request`] with axum's type-erased [`Body`](axum::body::Body).
///
/// The layer accepts any request body and boxes it into `Body` once (a no-op when it already is one, as in
/// axum), so that one trait object can serve every route: hooks are not generic over body types.
pub type Request = http::Request<axum::body::Body>;

/// One Django-style middleware: five optional hooks around every request.
///
/// Implement only the hooks you need — every one has a no-op default — and list the middleware in a
/// [`HooksLayer`](crate::HooksLayer) in Django's `MIDDLEWARE` order. What runs when (reference §5):
///
/// | hook | runs | may |
/// | --- | --- | --- |
/// | [`process_request`](Self::process_request) | top-down, first | answer at once (`Ok(Some(response))`) |
/// | [`process_view`](Self::process_view) | top-down, right before the handler | answer instead of the handler |
/// | [`process_exception`](Self::process_exception) | bottom-up, when the handler raised or panicked, or rendering failed | answer; the first answer wins |
/// | [`process_template_response`](Self::process_template_response) | bottom-up, when the response is a [`TemplateResponse`] | change template, context, status, headers |
/// | [`process_response`](Self::process_response) | bottom-up, always, for every middleware whose `process_request` ran | change or replace the response |
///
/// Returning `Err(exception)` is Django's *raising* from the hook: the exception becomes its status response
/// ([`Exception::status`]) at that point of the onion. A panic in a hook is caught and treated the same way,
/// as an exception of kind [`Panic`](crate::ExceptionKind::Panic). Exceptions raised by `process_view` or
/// `process_template_response` are **not** given to `process_exception` (Django's rule), and one raised by
/// `process_request` skips that middleware's own `process_response`.
///
/// The trait is object-safe (hooks are boxed futures through [`async_trait`](macro@async_trait)), so a
/// layer holds a list of different middleware. Use `#[tower_hooks::async_trait]` on the impl:
///
/// ```
/// use std::time::Instant;
/// use tower_hooks::{async_trait, Exception, Middleware, Request, Response};
/// use http::request::Parts;
///
/// #[derive(Clone, Copy)]
/// struct Started(Instant);
///
/// /// Adds `Server-Timing` to every response.
/// struct Timing;
///
/// #[async_trait]
/// impl Middleware for Timing {
///     async fn process_request(&self, request: &mut Request) -> Result<Option<Response>, Exception> {
///         request.extensions_mut().insert(Started(Instant::now()));
///         Ok(None)
///     }
///
///     async fn process_response(&self, request: &Parts, response: &mut Response) -> Result<(), Exception> {
///         if let Some(Started(t)) = request.extensions.get::<Started>().copied() {
///             let value = format!("app;dur={}", t.elapsed().as_millis());
///             if let Ok(value) = http::HeaderValue::from_str(&value) {
///                 response.headers_mut().insert("server-timing", value);
///             }
///         }
///         Ok(())
///     }
/// }
/// ```
///
/// # What the response-phase hooks see of the request
///
/// The request itself moves into the handler, so `process_exception`, `process_template_response` and
/// `process_response` get its head ([`Parts`]: method, URI, version, headers, extensions) as it was when the
/// handler was called, or when a hook answered early. What `process_request`/`process_view` put into the
/// extensions is therefore visible there — the way Django middleware passes state between its hooks by
/// setting attributes on `request`.
#[async_trait]
#[allow(unused_variables)] // the defaults do nothing with what they are given
pub trait Middleware: Send + Sync + 'static {
    /// Runs for every request, top-down, before any view hook. `Ok(Some(response))` answers at once: the
    /// inner middleware, the view hooks and the handler are skipped, and the response goes back out
    /// through `process_response` of this middleware and those above it.
    async fn process_request(&self, request: &mut Request) -> Result<Option<Response>, Exception> {
        Ok(None)
    }

    /// Runs top-down just before the handler, with what the router resolved. The first
    /// `Ok(Some(response))` answers instead of the handler and skips the remaining view hooks.
    async fn process_view(
        &self,
        request: &mut Request,
        view: &ViewInfo,
    ) -> Result<Option<Response>, Exception> {
        Ok(None)
    }

    /// Runs bottom-up when the handler raised an [`Exception`] (returned one, or panicked, or the inner
    /// service failed) or when rendering a [`TemplateResponse`] failed. The first `Ok(Some(response))` is
    /// used and the remaining exception hooks are skipped; if none answers, the exception's status
    /// response is sent. `Err` replaces the exception and stops the loop.
    async fn process_exception(
        &self,
        request: &Parts,
        exception: &Exception,
    ) -> Result<Option<Response>, Exception> {
        Ok(None)
    }

    /// Runs bottom-up when the view (or `process_view`, or `process_exception`) answered with a
    /// [`TemplateResponse`], before it is rendered: change the template, the context, status or headers.
    async fn process_template_response(
        &self,
        request: &Parts,
        response: &mut TemplateResponse,
    ) -> Result<(), Exception> {
        Ok(())
    }

    /// Runs bottom-up on every response, for each middleware whose `process_request` ran. Change the
    /// response in place, or replace it (`*response = ...`).
    async fn process_response(
        &self,
        request: &Parts,
        response: &mut Response,
    ) -> Result<(), Exception> {
        Ok(())
    }

    /// The name used in logs (panics, declined middleware). Defaults to the type's path.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
}

/// A constructor's way to decline being used (Django's `MiddlewareNotUsed`): return it instead of the
/// middleware and give the result to [`HooksLayer::try_push`](crate::HooksLayer::try_push), which leaves the
/// middleware out — no hooks at all — and logs it at DEBUG.
///
/// ```
/// use tower_hooks::{HooksLayer, Middleware, MiddlewareNotUsed};
///
/// struct Profiler;
/// impl Middleware for Profiler {}
///
/// impl Profiler {
///     fn from_env(enabled: bool) -> Result<Self, MiddlewareNotUsed> {
///         if enabled { Ok(Profiler) } else { Err(MiddlewareNotUsed::because("PROFILE is off")) }
///     }
/// }
///
/// let layer = HooksLayer::new().try_push(Profiler::from_env(false));
/// assert!(layer.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MiddlewareNotUsed {
    reason: Option<Cow<'static, str>>,
}

impl MiddlewareNotUsed {
    /// Declines without a reason.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declines with a reason, which is logged.
    pub fn because(reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            reason: Some(reason.into()),
        }
    }

    /// The reason given, if any.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}

impl fmt::Display for MiddlewareNotUsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            Some(reason) => write!(f, "middleware not used: {reason}"),
            None => f.write_str("middleware not used"),
        }
    }
}

impl std::error::Error for MiddlewareNotUsed {}
