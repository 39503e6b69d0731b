//! Django's exceptions: what a view or a hook "raises", and the status each one becomes (see [`Exception`]).

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use tower::BoxError;

/// Which of Django's exception classes an [`Exception`] stands for; decides the response status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExceptionKind {
    /// Django's `Http404`: the thing asked for does not exist. → 404 Not Found.
    Http404,
    /// Django's `PermissionDenied`. → 403 Forbidden.
    PermissionDenied,
    /// Django's `BadRequest`: the request is malformed. → 400 Bad Request.
    BadRequest,
    /// Django's `SuspiciousOperation`: the request looks like tampering (a forged cookie, a bad host).
    /// → 400 Bad Request, like Django, which also reports it on its security logger.
    SuspiciousOperation,
    /// A panic caught in the handler or in a hook. → 500 Internal Server Error.
    Panic,
    /// Anything else: an error from the handler, the inner service, a renderer. → 500 Internal Server Error.
    Other,
}

impl ExceptionKind {
    /// The status Django gives this kind of exception when nothing handles it.
    pub fn status(self) -> StatusCode {
        match self {
            Self::Http404 => StatusCode::NOT_FOUND,
            Self::PermissionDenied => StatusCode::FORBIDDEN,
            Self::BadRequest | Self::SuspiciousOperation => StatusCode::BAD_REQUEST,
            Self::Panic | Self::Other => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Django's class name for this kind, used in log messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Http404 => "Http404",
            Self::PermissionDenied => "PermissionDenied",
            Self::BadRequest => "BadRequest",
            Self::SuspiciousOperation => "SuspiciousOperation",
            Self::Panic => "Panic",
            Self::Other => "Exception",
        }
    }
}

/// An exception raised by a view or a hook, carried through the hook chain like Django's.
///
/// Django converts an exception escaping a view or a middleware into a response by its class: `Http404` →
/// 404, `PermissionDenied` → 403, `BadRequest`/`SuspiciousOperation` → 400, anything else → 500. Rust has no
/// exceptions, so `Exception` is the value that plays that part:
///
/// - a **handler** raises by returning it (`Result<T, Exception>` is a normal axum return type, and `?` works
///   on any `std::error::Error`): its [`IntoResponse`] impl gives the mapped status *and* tucks the exception
///   into the response extensions, where [`HooksLayer`](crate::HooksLayer) finds it and runs
///   `process_exception`. Without the layer the response still has the right status.
/// - a **hook** raises by returning `Err(exception)`.
/// - a **panic** in the handler or in a hook is caught and becomes an exception of kind
///   [`ExceptionKind::Panic`].
///
/// Build one with the kind's constructor and optionally a message, or convert any error with `?`/`From`:
///
/// ```
/// use tower_hooks::{Exception, ExceptionKind};
/// use http::StatusCode;
///
/// let e = Exception::http404().with_message("No poll matches the given query.");
/// assert_eq!(e.kind(), ExceptionKind::Http404);
/// assert_eq!(e.status(), StatusCode::NOT_FOUND);
///
/// let io = std::io::Error::new(std::io::ErrorKind::Other, "disk on fire");
/// let e = Exception::from(io);
/// assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
/// assert!(e.downcast_ref::<std::io::Error>().is_some());
/// ```
///
/// The message is for logs and for `process_exception` hooks; it is **never** sent to the client (Django
/// does not show it outside DEBUG either), so it may name internals.
///
/// `Exception` deliberately does not implement `std::error::Error`, so that `From<E: Error>` can exist and
/// `?` works in handlers (the same trade-off `anyhow::Error` makes). [`source_error`](Self::source_error)
/// and [`downcast_ref`](Self::downcast_ref) reach the wrapped error.
pub struct Exception {
    kind: ExceptionKind,
    message: Option<Cow<'static, str>>,
    source: Option<BoxError>,
}

impl Exception {
    /// An exception of the given kind, without message.
    pub fn new(kind: ExceptionKind) -> Self {
        Self {
            kind,
            message: None,
            source: None,
        }
    }

    /// Django's `Http404`: becomes 404 Not Found.
    pub fn http404() -> Self {
        Self::new(ExceptionKind::Http404)
    }

    /// Django's `PermissionDenied`: becomes 403 Forbidden.
    pub fn permission_denied() -> Self {
        Self::new(ExceptionKind::PermissionDenied)
    }

    /// Django's `BadRequest`: becomes 400 Bad Request.
    pub fn bad_request() -> Self {
        Self::new(ExceptionKind::BadRequest)
    }

    /// Django's `SuspiciousOperation`: becomes 400 Bad Request.
    pub fn suspicious_operation() -> Self {
        Self::new(ExceptionKind::SuspiciousOperation)
    }

    /// Any other error: becomes 500 Internal Server Error. The error stays reachable through
    /// [`downcast_ref`](Self::downcast_ref).
    pub fn other(error: impl Into<BoxError>) -> Self {
        Self {
            kind: ExceptionKind::Other,
            message: None,
            source: Some(error.into()),
        }
    }

    /// Turns a caught panic payload into an exception of kind [`ExceptionKind::Panic`]; `location` says
    /// where it happened (for example `"the view"`), and ends up in the message.
    pub fn from_panic(payload: Box<dyn Any + Send>, location: &str) -> Self {
        let what = if let Some(s) = payload.downcast_ref::<&'static str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "non-string panic payload".to_owned()
        };
        Self {
            kind: ExceptionKind::Panic,
            message: Some(Cow::Owned(format!("panic in {location}: {what}"))),
            source: None,
        }
    }

    /// Adds a message (Django's `raise Http404("...")` argument).
    #[must_use]
    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Adds an underlying error, keeping the kind (a `BadRequest` caused by a parse error, say).
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Which kind of exception this is.
    pub fn kind(&self) -> ExceptionKind {
        self.kind
    }

    /// The status Django would answer with if no `process_exception` hook handles this exception.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The message given with [`with_message`](Self::with_message) or made for a panic.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The wrapped error, if any.
    pub fn source_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }

    /// The wrapped error as a concrete type, if it is one (for example
    /// [`RenderError`](crate::RenderError) after a failed render).
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.source.as_deref().and_then(|e| e.downcast_ref::<E>())
    }

    /// The response the layer sends when nothing handles this exception: the mapped status and the
    /// status's reason phrase as a plain-text body. Neither message nor source reaches the client.
    pub fn to_status_response(&self) -> Response {
        status_response(self.status())
    }
}

/// A bare response with `status` and its reason phrase as a plain-text body.
pub(crate) fn status_response(status: StatusCode) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    let mut res = Response::new(Body::from(reason));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

impl fmt::Display for Exception {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.message, self.kind) {
            // A panic's message already reads "panic in <where>: <payload>".
            (Some(message), ExceptionKind::Panic) => f.write_str(message)?,
            (Some(message), kind) => write!(f, "{}: {message}", kind.name())?,
            (None, kind) => f.write_str(kind.name())?,
        }
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Exception {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exception")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

impl<E> From<E> for Exception
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        Self::other(error)
    }
}

impl From<ExceptionKind> for Exception {
    fn from(kind: ExceptionKind) -> Self {
        Self::new(kind)
    }
}

/// Marker in a response's extensions: "this response is a raised exception". Set by
/// `Exception::into_response`, taken (removed) by the layer, which then runs `process_exception`.
///
/// `Arc` because extensions must be `Clone` and an exception holding a boxed error is not.
#[derive(Clone)]
pub(crate) struct Raised(pub(crate) Arc<Exception>);

impl IntoResponse for Exception {
    /// The mapped status response, with the exception attached for [`HooksLayer`](crate::HooksLayer).
    fn into_response(self) -> Response {
        let mut res = self.to_status_response();
        res.extensions_mut().insert(Raised(Arc::new(self)));
        res
    }
}

/// Takes the raised exception out of a response, if it carries one.
pub(crate) fn take_raised(res: &mut Response) -> Option<Arc<Exception>> {
    res.extensions_mut().remove::<Raised>().map(|r| r.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_djangos_statuses() {
        assert_eq!(Exception::http404().status(), StatusCode::NOT_FOUND);
        assert_eq!(
            Exception::permission_denied().status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(Exception::bad_request().status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            Exception::suspicious_operation().status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            Exception::other("boom").status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            Exception::from_panic(Box::new("x"), "the view").status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn panic_payloads_become_messages() {
        let e = Exception::from_panic(Box::new("static str"), "the view");
        assert_eq!(e.kind(), ExceptionKind::Panic);
        assert_eq!(e.message(), Some("panic in the view: static str"));
        let e = Exception::from_panic(Box::new(String::from("owned")), "a hook");
        assert_eq!(e.message(), Some("panic in a hook: owned"));
        let e = Exception::from_panic(Box::new(42_u8), "x");
        assert_eq!(e.message(), Some("panic in x: non-string panic payload"));
    }

    #[test]
    fn display_names_kind_message_and_source() {
        let e = Exception::http404().with_message("no poll 3");
        assert_eq!(e.to_string(), "Http404: no poll 3");
        let e = Exception::other("db down");
        assert_eq!(e.to_string(), "Exception: db down");
        let e = Exception::from_panic(Box::new("boom"), "the view");
        assert_eq!(e.to_string(), "panic in the view: boom");
        let e = Exception::bad_request()
            .with_message("bad id")
            .with_source("invalid digit");
        assert_eq!(e.to_string(), "BadRequest: bad id: invalid digit");
        assert_eq!(e.kind(), ExceptionKind::BadRequest);
    }

    #[test]
    fn into_response_has_status_plain_body_and_marker() {
        let mut res = Exception::permission_denied()
            .with_message("secret")
            .into_response();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        let raised = take_raised(&mut res).map(|e| e.kind());
        assert_eq!(raised, Some(ExceptionKind::PermissionDenied));
        assert!(take_raised(&mut res).is_none());
    }
}
