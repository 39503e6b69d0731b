//! [`TemplateResponse`]: a response whose body is rendered *late*, after the
//! `process_template_response` hooks had their chance to change the template or the context.

use std::borrow::Cow;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde::Serialize;

use crate::exception::status_response;

/// The variables a template is rendered with: a JSON object, like Django's context dict.
pub type Context = serde_json::Map<String, serde_json::Value>;

/// A deferred-render response: a template name and a context, rendered by the
/// [`HooksLayer`](crate::HooksLayer)'s [`Renderer`](crate::Renderer) once every
/// `process_template_response` hook has run (Django's `TemplateResponse`).
///
/// Return it from a handler (or from `process_view`/`process_exception`); hooks see it as a
/// `&mut TemplateResponse` and may add to the context or swap the template before anything is rendered:
///
/// ```
/// use tower_hooks::TemplateResponse;
///
/// async fn home() -> TemplateResponse {
///     TemplateResponse::new("home.html")
///         .with("title", "Welcome")
///         .with("items", ["a", "b"])
/// }
/// ```
///
/// The layer renders it with status [`status`](Self::status) (200 unless set), the headers in
/// [`headers`](Self::headers), and `content-type: text/html; charset=utf-8` unless those headers set one.
///
/// Without a `HooksLayer` around the handler nothing renders it: the client gets a plain 500. A layer
/// without a renderer answers 500 too and logs an error naming the template.
#[derive(Debug, Clone)]
pub struct TemplateResponse {
    template: Cow<'static, str>,
    context: Context,
    status: StatusCode,
    headers: HeaderMap,
    context_error: Option<Arc<str>>,
}

impl TemplateResponse {
    /// A response that will render `template` with an empty context.
    pub fn new(template: impl Into<Cow<'static, str>>) -> Self {
        Self {
            template: template.into(),
            context: Context::new(),
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            context_error: None,
        }
    }

    /// Adds one context variable, serialized with serde.
    ///
    /// A value that cannot be serialized does not panic and does not stop the chain here: the error is kept
    /// and raised when the response is rendered, where it goes through `process_exception` like any render
    /// error (Django reports context problems at render time too). Use [`insert`](Self::insert) to see the
    /// error immediately.
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        let key = key.into();
        if let Err(e) = self.insert(key.clone(), value) {
            self.context_error = Some(format!("context variable `{key}`: {e}").into());
        }
        self
    }

    /// Merges every field of `context` (a struct or map that serializes to an object) into the context.
    /// Errors are deferred to render time like [`with`](Self::with)'s.
    #[must_use]
    pub fn with_context(mut self, context: impl Serialize) -> Self {
        match serde_json::to_value(context) {
            Ok(serde_json::Value::Object(map)) => self.context.extend(map),
            Ok(other) => {
                self.context_error = Some(
                    format!(
                        "the context must serialize to an object, not {}",
                        json_type(&other)
                    )
                    .into(),
                );
            }
            Err(e) => self.context_error = Some(format!("context: {e}").into()),
        }
        self
    }

    /// Sets the status the rendered response will have.
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Adds one context variable, reporting a serialization error at once.
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        value: impl Serialize,
    ) -> Result<(), serde_json::Error> {
        let value = serde_json::to_value(value)?;
        self.context.insert(key.into(), value);
        Ok(())
    }

    /// The name of the template that will be rendered.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// Chooses another template (what `process_template_response` hooks do to re-skin a page).
    pub fn set_template(&mut self, template: impl Into<Cow<'static, str>>) {
        self.template = template.into();
    }

    /// The context the template will be rendered with.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The context, to change before rendering.
    pub fn context_mut(&mut self) -> &mut Context {
        &mut self.context
    }

    /// The status of the rendered response.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Sets the status of the rendered response.
    pub fn set_status(&mut self, status: StatusCode) {
        self.status = status;
    }

    /// The headers the rendered response will carry.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The headers the rendered response will carry, to change.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// The status and headers the rendered response starts from.
    pub(crate) fn into_head(self) -> (StatusCode, HeaderMap) {
        (self.status, self.headers)
    }

    /// A context problem recorded by [`with`](Self::with) or [`with_context`](Self::with_context).
    pub(crate) fn context_error(&self) -> Option<&str> {
        self.context_error.as_deref()
    }
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Marker in a response's extensions: "render me". Taken by the layer.
#[derive(Clone)]
pub(crate) struct Deferred(pub(crate) Box<TemplateResponse>);

impl IntoResponse for TemplateResponse {
    /// A placeholder 500 carrying the template response for [`HooksLayer`](crate::HooksLayer) to render; the
    /// 500 is what a client sees if no layer is there to render it.
    fn into_response(self) -> Response {
        let mut res = status_response(StatusCode::INTERNAL_SERVER_ERROR);
        res.extensions_mut().insert(Deferred(Box::new(self)));
        res
    }
}

/// Takes the deferred template response out of a response, if it carries one.
pub(crate) fn take_deferred(res: &mut Response) -> Option<TemplateResponse> {
    res.extensions_mut().remove::<Deferred>().map(|d| *d.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    #[test]
    fn builder_fills_context() {
        #[derive(Serialize)]
        struct Page {
            title: &'static str,
        }
        let t = TemplateResponse::new("a.html")
            .with("n", 3)
            .with_context(Page { title: "T" })
            .with_status(StatusCode::CREATED);
        assert_eq!(t.template(), "a.html");
        assert_eq!(t.context().get("n"), Some(&json!(3)));
        assert_eq!(t.context().get("title"), Some(&json!("T")));
        assert_eq!(t.status(), StatusCode::CREATED);
        assert!(t.context_error().is_none());
    }

    #[test]
    fn bad_context_is_deferred_not_panicking() {
        // A map with non-string keys cannot become a JSON object.
        let mut bad = HashMap::new();
        bad.insert((1, 2), "x");
        let t = TemplateResponse::new("a.html").with("m", &bad);
        assert_eq!(
            t.context_error(),
            Some("context variable `m`: key must be a string")
        );
        let t = TemplateResponse::new("a.html").with_context(5);
        assert_eq!(
            t.context_error(),
            Some("the context must serialize to an object, not a number")
        );
        let mut t = TemplateResponse::new("a.html");
        assert!(t.insert("m", &bad).is_err());
    }

    #[test]
    fn into_response_is_a_placeholder_with_marker() {
        let mut res = TemplateResponse::new("x.html").into_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let t = take_deferred(&mut res).map(|t| t.template().to_owned());
        assert_eq!(t.as_deref(), Some("x.html"));
        assert!(take_deferred(&mut res).is_none());
    }
}
