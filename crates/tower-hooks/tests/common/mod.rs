//! Shared test helpers: a middleware that records every hook it runs, one that records what the view and
//! exception hooks are given, the app most tests send requests to, a log capture, and the compact notation
//! expected traces are written in.
#![allow(dead_code)]

use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Body;
use axum::response::IntoResponse;
use http::request::Parts;
use http::{Request as HttpRequest, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_hooks::{
    async_trait, Exception, ExceptionKind, HooksLayer, Middleware, Request, Response,
    TemplateResponse, ViewInfo,
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

/// One of the five hooks, to say which one a recorder does something other than pass in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    Request,
    View,
    Exception,
    Template,
    Response,
}

impl Hook {
    /// The name recorded in the trace.
    fn name(self) -> &'static str {
        match self {
            Hook::Request => "request",
            Hook::View => "view",
            Hook::Exception => "exception",
            Hook::Template => "template",
            Hook::Response => "response",
        }
    }
}

/// A middleware that records `"<name>.<hook>"` (plus details) for each hook and does what it is told.
pub struct Rec {
    pub name: &'static str,
    pub trace: Trace,
    acts: [Act; 5],
}

impl Rec {
    pub fn new(name: &'static str, trace: &Trace) -> Self {
        Self {
            name,
            trace: trace.clone(),
            acts: [Act::Pass; 5],
        }
    }

    /// Makes `hook` do `act` (every hook passes unless told otherwise).
    pub fn on(mut self, hook: Hook, act: Act) -> Self {
        self.acts[hook as usize] = act;
        self
    }

    fn record(&self, hook: Hook, detail: &str) {
        self.trace
            .push(format!("{}.{}{detail}", self.name, hook.name()));
    }

    fn act(&self, hook: Hook) -> Result<Option<Response>, Exception> {
        let what = format!("{}.{}", self.name, hook.name());
        match self.acts[hook as usize] {
            Act::Pass => Ok(None),
            Act::Answer(status) => {
                let mut res = what.into_response();
                *res.status_mut() = StatusCode::from_u16(status).unwrap();
                Ok(Some(res))
            }
            Act::Raise(kind) => Err(Exception::new(kind).with_message(what)),
            Act::Panic => panic!("{what} panicked on purpose"),
        }
    }
}

#[async_trait]
impl Middleware for Rec {
    async fn process_request(&self, _request: &mut Request) -> Result<Option<Response>, Exception> {
        self.record(Hook::Request, "");
        // A real await, so hooks are exercised as asynchronous code.
        tokio::task::yield_now().await;
        self.act(Hook::Request)
    }

    async fn process_view(
        &self,
        _: &mut Request,
        _: &ViewInfo,
    ) -> Result<Option<Response>, Exception> {
        self.record(Hook::View, "");
        self.act(Hook::View)
    }

    async fn process_exception(
        &self,
        _: &Parts,
        e: &Exception,
    ) -> Result<Option<Response>, Exception> {
        self.record(Hook::Exception, &format!(":{:?}", e.kind()));
        self.act(Hook::Exception)
    }

    async fn process_template_response(
        &self,
        _request: &Parts,
        response: &mut TemplateResponse,
    ) -> Result<(), Exception> {
        self.record(Hook::Template, "");
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
        self.act(Hook::Template).map(|_| ())
    }

    async fn process_response(&self, _: &Parts, response: &mut Response) -> Result<(), Exception> {
        self.record(Hook::Response, &format!(":{}", response.status().as_u16()));
        if let Some(replacement) = self.act(Hook::Response)? {
            *response = replacement;
        }
        Ok(())
    }

    fn name(&self) -> &str {
        self.name
    }
}

/// A `HooksLayer` of one recorder per letter of `names` (the first outermost) and the echo renderer;
/// `tweak` makes one hook of one of them do something other than pass.
pub fn recorders(
    trace: &Trace,
    names: &'static str,
    tweak: Option<(&str, Hook, Act)>,
) -> HooksLayer {
    let layer = HooksLayer::new().renderer(echo_renderer());
    (0..names.len()).fold(layer, |layer, i| {
        let rec = Rec::new(&names[i..=i], trace);
        layer.push(match tweak {
            Some((name, hook, act)) if name == rec.name => rec.on(hook, act),
            _ => rec,
        })
    })
}

/// Sends a GET for `path` to [`router`] behind [`recorders`]; returns status, body and the trace.
pub async fn through(
    names: &'static str,
    tweak: Option<(&str, Hook, Act)>,
    path: &str,
) -> (StatusCode, String, Vec<String>) {
    let trace = Trace::default();
    let app = router(&trace).layer(recorders(&trace, names, tweak));
    sent(app, path, &trace).await
}

/// One request through recorders around [`router`], and what must come of it.
pub struct Case<'a> {
    /// The recorders, one per letter, the first outermost.
    pub names: &'static str,
    /// The recorder that does `act` in `hook` (none when empty); every other hook passes.
    pub who: &'a str,
    pub hook: Hook,
    pub act: Act,
    pub path: &'a str,
    pub status: StatusCode,
    /// The body, where the case checks it.
    pub body: Option<&'a str>,
    /// The hooks that ran, in [`ran`] notation, from entry `skip` on.
    pub trace: &'a str,
    pub skip: usize,
    /// What a log line the request wrote must contain (not checked when empty); `once`: exactly one such
    /// line, else at least one.
    pub log: &'a [&'a str],
    pub once: bool,
}

impl Case<'_> {
    /// A GET for `/ok` through recorders `names` that all pass; change what the case is about.
    pub const fn new(names: &'static str) -> Case<'static> {
        Case {
            names,
            who: "",
            hook: Hook::Request,
            act: Act::Pass,
            path: "/ok",
            status: StatusCode::OK,
            body: None,
            trace: "",
            skip: 0,
            log: &[],
            once: false,
        }
    }

    /// Sends the request and checks status, body, trace and log. Runs on a current-thread runtime of its
    /// own, so that the log capture sees what the request logs.
    pub fn check(self) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let capture = (!self.log.is_empty()).then(capture_logs);
        let tweak = (!self.who.is_empty()).then_some((self.who, self.hook, self.act));
        let (status, body, trace) = runtime.block_on(through(self.names, tweak, self.path));
        let case = format!("{tweak:?} {}", self.path);
        assert_eq!(status, self.status, "{case}");
        if let Some(want) = self.body {
            assert_eq!(body, want, "{case}");
        }
        assert_eq!(trace[self.skip..], ran(self.trace), "{case}");
        if let Some((logs, _guard)) = capture {
            let lines = logs.lines_with(self.log).len();
            let enough = if self.once { lines == 1 } else { lines > 0 };
            assert!(
                enough,
                "{case}: {lines} lines with {:?}; logs:\n{}",
                self.log,
                logs.text()
            );
        }
    }
}

/// Records what `process_view` and `process_exception` are given, as the matching function describes it
/// (a hook without one passes without recording); with `answer`, `process_exception` answers `"handled"`
/// with that status.
pub struct Spy {
    pub trace: Trace,
    pub view: Option<fn(&ViewInfo) -> String>,
    pub exception: Option<fn(&Exception) -> String>,
    pub answer: Option<u16>,
}

impl Spy {
    fn new(trace: &Trace) -> Self {
        Self {
            trace: trace.clone(),
            view: None,
            exception: None,
            answer: None,
        }
    }

    /// Records every `process_view` as `describe` puts it.
    pub fn views(trace: &Trace, describe: fn(&ViewInfo) -> String) -> Self {
        Self {
            view: Some(describe),
            ..Self::new(trace)
        }
    }

    /// Records every `process_exception` as `describe` puts it, and answers nothing.
    pub fn exceptions(trace: &Trace, describe: fn(&Exception) -> String) -> Self {
        Self {
            exception: Some(describe),
            ..Self::new(trace)
        }
    }
}

#[async_trait]
impl Middleware for Spy {
    async fn process_view(
        &self,
        _: &mut Request,
        view: &ViewInfo,
    ) -> Result<Option<Response>, Exception> {
        if let Some(describe) = self.view {
            self.trace.push(describe(view));
        }
        Ok(None)
    }

    async fn process_exception(
        &self,
        _: &Parts,
        e: &Exception,
    ) -> Result<Option<Response>, Exception> {
        if let Some(describe) = self.exception {
            self.trace.push(describe(e));
        }
        Ok(self.answer.map(|code| {
            let mut res = Response::new("handled".into());
            *res.status_mut() = StatusCode::from_u16(code).unwrap();
            res
        }))
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

/// Sends a GET for `path` through a service; returns status, body and the trace the request left.
pub async fn sent<S>(svc: S, path: &str, trace: &Trace) -> (StatusCode, String, Vec<String>)
where
    S: tower::Service<HttpRequest<Body>, Response = Response> + Send,
    S::Error: std::fmt::Debug,
    S::Future: Send,
{
    let (status, body) = send(svc, path).await;
    (status, body, trace.take())
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

/// A list of trace entries, each taken as it is.
pub fn seq(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The trace a test expects, written compactly: entries separated by spaces, where an entry whose
/// middleware part is only capital letters stands for one entry per letter, in that order
/// (`CBA.response:200` is `C.response:200`, `B.response:200`, `A.response:200`); any other entry (`view`,
/// `Answers.view`) stands for itself.
pub fn ran(spec: &str) -> Vec<String> {
    spec.split_whitespace()
        .flat_map(|entry| match entry.split_once('.') {
            Some((names, hook)) if names.bytes().all(|b| b.is_ascii_uppercase()) => {
                names.chars().map(|name| format!("{name}.{hook}")).collect()
            }
            _ => vec![entry.to_owned()],
        })
        .collect()
}
