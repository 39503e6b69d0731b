//! Django's middleware model as one Tower layer.
//!
//! Write a small struct with the hooks you need, list it in a [`HooksLayer`] like Django's `MIDDLEWARE`, and
//! get Django's ordering, short-circuits and exception handling around an axum `Router` or any
//! `tower::Service<http::Request<B>>`.
//!
//! ```
//! use axum::{extract::Path, routing::get, Router};
//! use http::{request::Parts, HeaderValue, Request, StatusCode};
//! use tower::ServiceExt;
//! use tower_hooks::{async_trait, Exception, HooksLayer, Middleware, Response, ViewInfo};
//!
//! /// Django's `XFrameOptionsMiddleware`: a response hook.
//! struct XFrameOptions;
//!
//! #[async_trait]
//! impl Middleware for XFrameOptions {
//!     async fn process_response(&self, _req: &Parts, res: &mut Response) -> Result<(), Exception> {
//!         res.headers_mut().insert("x-frame-options", HeaderValue::from_static("DENY"));
//!         Ok(())
//!     }
//! }
//!
//! /// Staff-only views: a view hook that raises `PermissionDenied`.
//! struct StaffOnly;
//!
//! #[async_trait]
//! impl Middleware for StaffOnly {
//!     async fn process_view(
//!         &self,
//!         req: &mut tower_hooks::Request,
//!         view: &ViewInfo,
//!     ) -> Result<Option<Response>, Exception> {
//!         let is_admin_view = view.name().is_some_and(|n| n.starts_with("admin:"));
//!         if is_admin_view && !req.headers().contains_key("x-staff") {
//!             return Err(Exception::permission_denied());
//!         }
//!         Ok(None)
//!     }
//! }
//!
//! async fn poll(Path(id): Path<u32>) -> Result<String, Exception> {
//!     if id == 1 { Ok("What's new?".into()) } else { Err(Exception::http404()) }
//! }
//!
//! let app = Router::new()
//!     .route("/polls/{id}", get(poll))
//!     .route("/admin/", get(|| async { "dashboard" }))
//!     .layer(
//!         HooksLayer::new()
//!             .push(XFrameOptions) // outermost: sees every response last
//!             .push(StaffOnly)
//!             .name_route("/admin/", "admin:index"),
//!     );
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let res = app.clone().oneshot(Request::get("/polls/1").body(axum::body::Body::empty())?).await?;
//! assert_eq!(res.status(), StatusCode::OK);
//! assert_eq!(res.headers()["x-frame-options"], "DENY");
//!
//! let res = app.clone().oneshot(Request::get("/polls/2").body(axum::body::Body::empty())?).await?;
//! assert_eq!(res.status(), StatusCode::NOT_FOUND); // Http404 → 404, still through process_response
//! assert_eq!(res.headers()["x-frame-options"], "DENY");
//!
//! let res = app.oneshot(Request::get("/admin/").body(axum::body::Body::empty())?).await?;
//! assert_eq!(res.status(), StatusCode::FORBIDDEN); // PermissionDenied → 403
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! ```
//!
//! # The model (Django reference §5)
//!
//! | Django | here |
//! | --- | --- |
//! | a middleware class with `process_*` methods | a type implementing [`Middleware`]; every hook has a no-op default |
//! | `MIDDLEWARE = [...]` | [`HooksLayer::new().push(a).push(b)`](HooksLayer::push) — first is outermost |
//! | `raise MiddlewareNotUsed` in `__init__` | a constructor returning `Err(`[`MiddlewareNotUsed`]`)`, given to [`HooksLayer::try_push`] |
//! | `raise Http404` / `PermissionDenied` / `BadRequest` / `SuspiciousOperation` | return [`Exception`] (from a handler: `Err(exception)` or `?`; from a hook: `Err(exception)`) |
//! | an uncaught exception in the view | a returned `Exception`, an inner-service error, or a **panic** |
//! | `process_view(request, view_func, args, kwargs)` | [`Middleware::process_view`] with a [`ViewInfo`]: matched route, path parameters, [`ViewName`] |
//! | `TemplateResponse(request, template, context)` | [`TemplateResponse`], rendered by the layer's [`Renderer`] (`MiniJinjaRenderer` with feature `minijinja`) |
//! | `django.request` logger | `tracing` target `tower_hooks::request`: WARN for 4xx, ERROR for 5xx |
//!
//! Order per request: `process_request` top-down; `process_view` top-down; the handler;
//! `process_exception` bottom-up if it raised; `process_template_response` bottom-up if it answered with a
//! template response, then render; `process_response` bottom-up. A response from `process_request` skips
//! the inner middleware and the view but passes back through the `process_response` of every middleware
//! already entered (its own included); the first `process_view` answer skips the view; the first
//! `process_exception` answer wins. Exceptions raised inside `process_view` or `process_template_response`
//! are not given to `process_exception`. See [`Middleware`] for each hook.
//!
//! # Design choices
//!
//! - **Hooks are `async fn`s on an object-safe trait** (through [`async_trait`](macro@async_trait),
//!   re-exported), so different middleware live in one list, `Vec<Arc<dyn Middleware>>` behind an `Arc`.
//!   Each hook call costs one small allocation.
//! - **One body type.** Requests are normalised to [`axum::body::Body`] ([`Request`]) and responses are
//!   [`Response`]; the layer accepts any `http_body::Body` on both sides and boxes it once (free when it
//!   already is a `Body`, as inside axum).
//! - **Response-phase hooks get the request head** ([`http::request::Parts`]): the handler owns the request,
//!   so the layer keeps a copy of its head (taken right before the handler runs, after `process_request` and
//!   `process_view` changed it). Extensions set by early hooks are visible to late ones.
//! - **Exceptions are values.** [`Exception`] implements `IntoResponse` as its status response with the
//!   exception tucked into the response extensions; the layer takes it out and runs `process_exception`.
//!   Without the layer the status is still right. [`TemplateResponse`] works the same way (a placeholder
//!   500 carrying the template, rendered by the layer).
//! - **Panics are exceptions** of kind [`ExceptionKind::Panic`]: the handler's future, the inner service's
//!   `call`, every hook and the renderer run under `catch_unwind`. A panic is logged at ERROR, goes to
//!   `process_exception` when it happened in the view, and otherwise becomes a 500 where it happened; the
//!   server keeps serving. (Panic-safety: the hook's own state may be left half-updated, like after an
//!   exception in Python; the layer itself keeps no state across requests that a panic could corrupt.)
//!   The process's panic hook still prints the panic as usual.
//! - **Client-visible bodies are generic** (`"Not Found"`, `"Internal Server Error"`); exception messages and
//!   sources go only to logs and hooks.
//!
//! # Where to apply the layer
//!
//! With `Router::layer` after the routes (see [`HooksLayer`]): axum then runs it per route *after*
//! routing, which is what lets `process_view` see the route. Naming views: [`HooksLayer::name_route`] or a
//! [`ViewNameLayer`] outside the hooks (see [`ViewName`]).
//!
//! # Differences from Django
//!
//! - Inside an axum `Router`, `process_request` runs after routing, so it cannot re-route a request.
//! - `process_view` also runs for requests no route matched (axum's fallback), with no route in
//!   [`ViewInfo`]; Django resolves the URL first and skips view hooks on a 404 there.
//! - A [`TemplateResponse`] returned by `process_request` or `process_response` is rendered (without
//!   template hooks); in Django it would fail as unrendered content.
//! - Declined middleware are logged at DEBUG always (Django: only with `DEBUG = True`).
//! - No sync/async adapters: everything is async.
//!
//! # Features
//!
//! - `minijinja`: `MiniJinjaRenderer`, a [`Renderer`] over a `minijinja::Environment`.
#![cfg_attr(docsrs, feature(doc_auto_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// `get_ref`, `get_mut` and `into_inner` inside `impl<S> Service<S>` of a service whose inner service is
/// the field `inner`: every service of the crate has them.
macro_rules! define_inner_service_accessors {
    () => {
        /// The inner service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The inner service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// Unwraps the inner service.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}

mod chain;
mod exception;
pub mod future;
mod layer;
mod middleware;
mod render;
mod service;
mod shared;
mod template;
mod view;

pub use async_trait::async_trait;
pub use axum::response::Response;
pub use exception::{Exception, ExceptionKind};
pub use layer::HooksLayer;
pub use middleware::{Middleware, MiddlewareNotUsed, Request};
/// The MiniJinja crate `MiniJinjaRenderer` renders with, so applications build its `Environment` with the
/// same version.
#[cfg(feature = "minijinja")]
pub use minijinja;
#[cfg(feature = "minijinja")]
pub use render::MiniJinjaRenderer;
pub use render::{RenderError, Renderer};
pub use service::HooksService;
pub use template::{Context, TemplateResponse};
pub use view::{ViewInfo, ViewName, ViewNameLayer, ViewNameService};
