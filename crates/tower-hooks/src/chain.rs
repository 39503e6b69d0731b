//! The per-request walk through the hooks: Django's `BaseHandler` (`get_response` + `_get_response`) and
//! `MiddlewareMixin.__call__`, reference §5.2 and §5.3.
//!
//! Django builds one nested callable per middleware and converts exceptions at every layer boundary. Here
//! the onion is a loop over the list that remembers how many middleware were *entered* (had their
//! `process_request` run), which gives the same observable order:
//!
//! 1. `process_request`, top-down. An answer from middleware *i* stops the loop; *i* counts as entered, so
//!    its own `process_response` runs. A raise from *i* is converted there; *i* does not count as entered
//!    (the exception escaped its `__call__`).
//! 2. The core (Django's `_get_response`): `process_view` top-down (first answer wins, a
//!    raise is converted and not given to `process_exception`), then the handler. A raised exception, a
//!    panic or a service error from the handler goes through `process_exception` bottom-up (first answer
//!    wins; a raise replaces it). A [`TemplateResponse`] then goes through `process_template_response`
//!    bottom-up (a raise is converted, not given to `process_exception`) and is rendered; a render failure
//!    goes through `process_exception`.
//! 3. `process_response`, bottom-up over the entered middleware; a raise is converted and the response goes
//!    on outwards.
//!
//! "Converted" is Django's `response_for_exception`: the exception's status response, logged.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use http::request::Parts;
use http::{header, HeaderValue, StatusCode};
use tower::BoxError;
use tower_service::Service;

use crate::exception::{take_raised, Exception};
use crate::middleware::{Middleware, Request};
use crate::render::RenderError;
use crate::shared::Shared;
use crate::template::{take_deferred, TemplateResponse};
use crate::view::{ViewInfo, ViewName};

/// Marker in a response's extensions: "already logged when the exception was converted".
#[derive(Clone, Copy)]
struct Logged;

/// Target of the per-response log events, the counterpart of Django's `django.request` logger.
const REQUEST_TARGET: &str = "tower_hooks::request";

/// Handles one request. Never fails: every exception and panic ends as a response (the error type is the
/// inner service's only so that the future has the type `Service` needs).
///
/// One flat `async fn` on purpose: nested `async fn`s each carry their own copy of the request state and
/// are moved into their caller's future when awaited, which made the per-request future several kilobytes
/// and memory copies the largest single cost of the layer. Rare paths (exceptions, template responses) are
/// separate boxed futures for the same reason.
pub(crate) async fn run<S, ResBody>(
    shared: Arc<Shared>,
    mut inner: S,
    mut req: Request,
) -> Result<Response, S::Error>
where
    S: Service<Request, Response = http::Response<ResBody>>,
    S::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let chain = &shared.chain;

    // 1. process_request, top-down.
    let mut entered = chain.len();
    let mut early: Option<Response> = None;
    for (i, mw) in chain.iter().enumerate() {
        let req_ref = &mut req;
        match guard(mw.as_ref(), "process_request", move || {
            mw.process_request(req_ref)
        })
        .await
        {
            Ok(None) => {}
            Ok(Some(mut res)) => {
                entered = i + 1;
                shared.settle(&mut res, req.uri().path());
                early = Some(res);
                break;
            }
            Err(exc) => {
                // The exception escaped this middleware: its own process_response does not run.
                entered = i;
                early = Some(shared.convert(&exc, req.uri().path()));
                break;
            }
        }
    }

    // 2. Django's `_get_response`, unless a process_request answered.
    let (head, mut response) = match early {
        Some(res) => (req.into_parts().0, res),
        None => {
            let (mut parts, body) = req.into_parts();
            let name = shared.view_name(&mut parts);
            let view = ViewInfo::from_parts(&mut parts, name);
            req = Request::from_parts(parts, body);

            // process_view, top-down; the first answer skips the rest and the view.
            let mut answered: Option<Response> = None;
            for mw in chain {
                let (req_ref, view_ref) = (&mut req, &view);
                match guard(mw.as_ref(), "process_view", move || {
                    mw.process_view(req_ref, view_ref)
                })
                .await
                {
                    Ok(None) => {}
                    Ok(Some(mut res)) => {
                        shared.settle_raised(&mut res, req.uri().path());
                        answered = Some(res);
                        break;
                    }
                    Err(exc) => {
                        // Raised inside process_view: converted, never given to process_exception.
                        answered = Some(shared.convert(&exc, req.uri().path()));
                        break;
                    }
                }
            }
            drop(view);

            let (head, mut response) = match answered {
                Some(res) => (req.into_parts().0, res),
                None => {
                    // The view. The handler owns the request; the response-phase hooks get a copy of its
                    // head, taken now so that they see what the request and view hooks changed.
                    let (parts, body) = req.into_parts();
                    let head = parts.clone();
                    let view_req = Request::from_parts(parts, body);
                    let outcome = match catch_unwind(AssertUnwindSafe(|| inner.call(view_req))) {
                        Ok(future) => match AssertUnwindSafe(future).catch_unwind().await {
                            Ok(Ok(res)) => Ok(res.map(Body::new)),
                            Ok(Err(error)) => Err(Exception::other(error)),
                            Err(payload) => Err(view_panicked(payload)),
                        },
                        Err(payload) => Err(view_panicked(payload)),
                    };
                    let response = match outcome {
                        Ok(mut res) => match take_raised(&mut res) {
                            None => res,
                            Some(exc) => Box::pin(shared.handle_exception(&exc, &head)).await,
                        },
                        Err(exc) => Box::pin(shared.handle_exception(&exc, &head)).await,
                    };
                    (head, response)
                }
            };

            // A deferred-render response (from the view, process_view or process_exception): template
            // hooks bottom-up, then render.
            if let Some(template) = take_deferred(&mut response) {
                response = Box::pin(template_phase(&shared, &head, template)).await;
            }
            (head, response)
        }
    };

    // 3. process_response, bottom-up over the middleware that were entered.
    for mw in chain[..entered].iter().rev() {
        let (head_ref, res) = (&head, &mut response);
        match guard(mw.as_ref(), "process_response", move || {
            mw.process_response(head_ref, res)
        })
        .await
        {
            Ok(()) => shared.settle(&mut response, head.uri.path()),
            Err(exc) => response = shared.convert(&exc, head.uri.path()),
        }
    }

    shared.log_final(head.uri.path(), &mut response);
    Ok(response)
}

/// `process_template_response` bottom-up, then render; a render failure goes through `process_exception`.
///
/// Boxed by the caller (like [`Shared::handle_exception`]): see [`run`].
async fn template_phase(shared: &Shared, head: &Parts, mut template: TemplateResponse) -> Response {
    for mw in shared.chain.iter().rev() {
        let template = &mut template;
        let outcome = guard(mw.as_ref(), "process_template_response", move || {
            mw.process_template_response(head, template)
        })
        .await;
        if let Err(exc) = outcome {
            // Raised inside process_template_response: converted, not given to process_exception.
            return shared.convert(&exc, head.uri.path());
        }
    }
    match shared.render(template) {
        Ok(res) => res,
        Err(exc) => {
            // Django: an exception from render() goes through process_exception. A template response
            // returned from there is rendered as it is (the template hooks have had their turn).
            let mut res = shared.handle_exception(&exc, head).await;
            shared.settle(&mut res, head.uri.path());
            res
        }
    }
}

fn view_panicked(payload: Box<dyn std::any::Any + Send>) -> Exception {
    let exc = Exception::from_panic(payload, "the view");
    tracing::error!(target: "tower_hooks", hook = "view", "{exc}");
    exc
}

/// Runs one hook, turning a panic (while creating or while polling its future) into an exception.
async fn guard<'a, T>(
    mw: &dyn Middleware,
    hook: &'static str,
    call: impl FnOnce() -> BoxFuture<'a, Result<T, Exception>>,
) -> Result<T, Exception> {
    let future = match catch_unwind(AssertUnwindSafe(call)) {
        Ok(future) => future,
        Err(payload) => return Err(hook_panicked(payload, mw, hook)),
    };
    match AssertUnwindSafe(future).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(payload) => Err(hook_panicked(payload, mw, hook)),
    }
}

fn hook_panicked(
    payload: Box<dyn std::any::Any + Send>,
    mw: &dyn Middleware,
    hook: &'static str,
) -> Exception {
    let name = mw.name();
    let exc = Exception::from_panic(payload, &format!("{name}.{hook}"));
    tracing::error!(target: "tower_hooks", middleware = name, hook, "{exc}");
    exc
}

impl Shared {
    /// The view's name: a `ViewName` already in the extensions, else the one registered for the matched
    /// route, which is then put into the extensions for the handler.
    fn view_name(&self, parts: &mut Parts) -> Option<ViewName> {
        if let Some(name) = parts.extensions.get::<ViewName>() {
            return Some(name.clone());
        }
        if self.routes.is_empty() {
            return None;
        }
        let route = parts.extensions.get::<axum::extract::MatchedPath>()?;
        let name = self.routes.get(route.as_str())?.clone();
        parts.extensions.insert(name.clone());
        Some(name)
    }

    /// `process_exception`, bottom-up: the first answer wins; a raise replaces the exception and ends the
    /// loop; if nobody answers, the exception is converted.
    async fn handle_exception(&self, exc: &Exception, head: &Parts) -> Response {
        for mw in self.chain.iter().rev() {
            match guard(mw.as_ref(), "process_exception", move || {
                mw.process_exception(head, exc)
            })
            .await
            {
                Ok(None) => {}
                Ok(Some(mut res)) => {
                    self.settle_raised(&mut res, head.uri.path());
                    return res;
                }
                Err(raised) => return self.convert(&raised, head.uri.path()),
            }
        }
        self.convert(exc, head.uri.path())
    }

    /// Django's `response_for_exception`: the status response, logged with the exception.
    fn convert(&self, exc: &Exception, path: &str) -> Response {
        let mut res = exc.to_status_response();
        log_response(res.status(), path, Some(exc));
        res.extensions_mut().insert(Logged);
        res
    }

    /// A response given back by a hook may be a raised exception (`Exception::into_response`): convert it.
    fn settle_raised(&self, res: &mut Response, path: &str) {
        if let Some(exc) = take_raised(res) {
            *res = self.convert(&exc, path);
        }
    }

    /// Like [`settle_raised`](Self::settle_raised), and also renders a template response where the template
    /// hooks do not apply (answers from `process_request`, `process_response`, or after a render failure).
    fn settle(&self, res: &mut Response, path: &str) {
        self.settle_raised(res, path);
        if let Some(template) = take_deferred(res) {
            *res = match self.render(template) {
                Ok(rendered) => rendered,
                Err(exc) => self.convert(&exc, path),
            };
        }
    }

    /// Renders a template response with the configured renderer.
    fn render(&self, template: TemplateResponse) -> Result<Response, Exception> {
        let name = template.template();
        if let Some(reason) = template.context_error() {
            return Err(Exception::other(RenderError::Context {
                template: name.to_owned(),
                reason: reason.to_owned(),
            }));
        }
        let Some(renderer) = &self.renderer else {
            return Err(Exception::other(RenderError::NoRenderer(name.to_owned())));
        };
        let body = catch_unwind(AssertUnwindSafe(|| {
            renderer.render(name, template.context())
        }))
        .map_err(|payload| {
            let exc = Exception::from_panic(payload, &format!("the renderer (template `{name}`)"));
            tracing::error!(target: "tower_hooks", template = name, "{exc}");
            exc
        })?
        .map_err(Exception::other)?;

        let (status, headers) = template.into_head();
        let mut res = Response::new(Body::from(body));
        *res.status_mut() = status;
        *res.headers_mut() = headers;
        if !res.headers().contains_key(header::CONTENT_TYPE) {
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
        }
        Ok(res)
    }

    /// After the chain: log a response ≥ 400 that was not logged when an exception was converted.
    fn log_final(&self, path: &str, res: &mut Response) {
        let status = res.status();
        if status.as_u16() < 400 {
            return;
        }
        let logged = res.extensions_mut().remove::<Logged>().is_some();
        if !logged && self.log_responses {
            log_response(status, path, None);
        }
    }
}

/// Django's `log_response`: `"<Reason>: <path>"`, WARN for 4xx and ERROR for 5xx.
fn log_response(status: StatusCode, path: &str, exc: Option<&Exception>) {
    let reason = status.canonical_reason().unwrap_or("Error");
    let exception = exc.map(tracing::field::display);
    let status_code = status.as_u16();
    if status.is_server_error() {
        tracing::error!(target: REQUEST_TARGET, status = status_code, path, exception, "{reason}: {path}");
    } else if status.is_client_error() {
        tracing::warn!(target: REQUEST_TARGET, status = status_code, path, exception, "{reason}: {path}");
    }
}
