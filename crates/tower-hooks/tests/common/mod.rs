//! Shared test helpers: a middleware that records every hook it runs, a log capture, a request helper.
#![allow(dead_code)]

use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Body;
use axum::response::IntoResponse;
use http::request::Parts;
use http::{Request as HttpRequest, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_hooks::{
    async_trait, Exception, ExceptionKind, Middleware, Request, Response, TemplateResponse,
    ViewInfo,
};

/// The order things happened in, shared by every recorder and handler of one test.
#[derive(Clone, Default)]
pub struct Trace(Arc<Mutex<Vec<String>>>);

impl Trace {
    pub fn push(&self, entry: impl Into<String>) {
        lock(&self.0).push(entry.into());
    }

    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.0))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a recorder does in one hook.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    /// Record and go on.
    Pass,
    /// Record and answer with this status (body `"<name>.<hook>"`).
    Answer(u16),
    /// Record and raise.
    Raise(ExceptionKind),
    /// Record and panic.
    Panic,
}

/// A middleware that records `"<name>.<hook>"` (plus details) for each hook and does what it is told.
pub struct Rec {
    pub name: &'static str,
    pub trace: Trace,
    pub request: Act,
    pub view: Act,
    pub exception: Act,
    pub template: Act,
    pub response: Act,
}

impl Rec {
    pub fn new(name: &'static str, trace: &Trace) -> Self {
        Self {
            name,
            trace: trace.clone(),
            request: Act::Pass,
            view: Act::Pass,
            exception: Act::Pass,
            template: Act::Pass,
            response: Act::Pass,
        }
    }
    pub fn request(mut self, act: Act) -> Self {
        self.request = act;
        self
    }
    pub fn view(mut self, act: Act) -> Self {
        self.view = act;
        self
    }
    pub fn exception(mut self, act: Act) -> Self {
        self.exception = act;
        self
    }
    pub fn template(mut self, act: Act) -> Self {
        self.template = act;
        self
    }
    pub fn response(mut self, act: Act) -> Self {
        self.response = act;
        self
    }

    fn act(&self, hook: &str, act: Act) -> Result<Option<Response>, Exception> {
        match act {
            Act::Pass => Ok(None),
            Act::Answer(status) => {
                let mut res = format!("{}.{hook}", self.name).into_response();
                *res.status_mut() = StatusCode::from_u16(status).unwrap();
                Ok(Some(res))
            }
            Act::Raise(kind) => {
                Err(Exception::new(kind).with_message(format!("{}.{hook}", self.name)))
            }
            Act::Panic => panic!("{}.{hook} panicked on purpose", self.name),
        }
    }
}

#[async_trait]
impl Middleware for Rec {
    async fn process_request(&self, _request: &mut Request) -> Result<Option<Response>, Exception> {
        self.trace.push(format!("{}.request", self.name));
        // A real await, so hooks are exercised as asynchronous code.
        tokio::task::yield_now().await;
        self.act("request", self.request)
    }

    async fn process_view(
        &self,
        _request: &mut Request,
        view: &ViewInfo,
    ) -> Result<Option<Response>, Exception> {
        self.trace.push(format!("{}.view", self.name));
        let _ = view;
        self.act("view", self.view)
    }

    async fn process_exception(
        &self,
        _request: &Parts,
        exception: &Exception,
    ) -> Result<Option<Response>, Exception> {
        self.trace
            .push(format!("{}.exception:{:?}", self.name, exception.kind()));
        self.act("exception", self.exception)
    }

    async fn process_template_response(
        &self,
        _request: &Parts,
        response: &mut TemplateResponse,
    ) -> Result<(), Exception> {
        self.trace.push(format!("{}.template", self.name));
        // Leave a mark in the context so tests can see which hooks touched it, in order.
        let seen = response
            .context()
            .get("seen")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned();
        response
            .context_mut()
            .insert("seen".into(), format!("{seen}{}", self.name).into());
        self.act("template", self.template).map(|_| ())
    }

    async fn process_response(
        &self,
        _request: &Parts,
        response: &mut Response,
    ) -> Result<(), Exception> {
        self.trace.push(format!(
            "{}.response:{}",
            self.name,
            response.status().as_u16()
        ));
        if let Some(replacement) = self.act("response", self.response)? {
            *response = replacement;
        }
        Ok(())
    }

    fn name(&self) -> &str {
        self.name
    }
}

/// Sends a GET through a service, returns status and body text.
pub async fn send<S>(svc: S, path: &str) -> (StatusCode, String)
where
    S: tower::Service<HttpRequest<Body>, Response = Response> + Send,
    S::Error: std::fmt::Debug,
    S::Future: Send,
{
    let (status, _, body) = send_full(svc, path).await;
    (status, body)
}

/// Sends a GET, returns status, headers and body text.
pub async fn send_full<S>(svc: S, path: &str) -> (StatusCode, http::HeaderMap, String)
where
    S: tower::Service<HttpRequest<Body>, Response = Response> + Send,
    S::Error: std::fmt::Debug,
    S::Future: Send,
{
    let req = HttpRequest::builder()
        .uri(path)
        .body(Body::empty())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
}

#[allow(unused_imports)] // not every test binary reads logs
pub use test_logs::{capture_logs, Logs};

/// Silences the default panic message for tests that panic on purpose (keeps test output readable).
pub fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info.to_string();
            if !msg.contains("on purpose") {
                default(info);
            }
        }));
    });
}

/// The routes most tests use. `view` is recorded in the trace when a handler runs.
///
/// - `/ok`: "ok"
/// - `/raise/{kind}`: raises `http404`, `permission_denied`, `bad_request`, `suspicious`, `other`
/// - `/panic`: panics
/// - `/template`: `TemplateResponse::new("page.html")`
/// - `/users/{id}`: "user <id>"
pub fn router(trace: &Trace) -> axum::Router {
    use axum::extract::Path;
    use axum::routing::get;

    let (t1, t2, t3, t4, t5) = (
        trace.clone(),
        trace.clone(),
        trace.clone(),
        trace.clone(),
        trace.clone(),
    );
    axum::Router::new()
        .route(
            "/ok",
            get(move || async move {
                t1.push("view");
                "ok"
            }),
        )
        .route(
            "/raise/{kind}",
            get(move |Path(kind): Path<String>| async move {
                t2.push("view");
                let exc = match kind.as_str() {
                    "http404" => Exception::http404(),
                    "permission_denied" => Exception::permission_denied(),
                    "bad_request" => Exception::bad_request(),
                    "suspicious" => Exception::suspicious_operation(),
                    _ => Exception::other(std::io::Error::other("disk on fire")),
                };
                Err::<&str, _>(exc)
            }),
        )
        .route(
            "/panic",
            get(move || async move {
                t3.push("view");
                if t3.0.lock().is_ok() {
                    panic!("handler panicked on purpose");
                }
                "unreachable"
            }),
        )
        .route(
            "/template",
            get(move || async move {
                t4.push("view");
                TemplateResponse::new("page.html").with("title", "Hello")
            }),
        )
        .route(
            "/users/{id}",
            get(move |Path(id): Path<u32>| async move {
                t5.push("view");
                format!("user {id}")
            }),
        )
}

/// A renderer that shows what it was given: `"<template>|<seen>|<title>"`.
pub fn echo_renderer(
) -> impl Fn(&str, &tower_hooks::Context) -> Result<String, tower_hooks::RenderError>
       + Send
       + Sync
       + 'static {
    |template: &str, ctx: &tower_hooks::Context| {
        let field = |k: &str| ctx.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
        Ok(format!("{template}|{}|{}", field("seen"), field("title")))
    }
}

/// `["A.request", "B.request", ...]` from a compact spec.
pub fn seq(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}
