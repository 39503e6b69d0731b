//! What `process_view` sees, view names, declined middleware, and state passed between hooks.

mod common;

use std::sync::{Arc, Mutex};

use axum::extract::Extension;
use axum::routing::get;
use axum::Router;
use common::{capture_logs, ran, send, send_full, seq, Rec, Spy, Trace};
use http::request::Parts;
use http::{HeaderValue, StatusCode};
use tower_hooks::{
    async_trait, Exception, HooksLayer, Middleware, MiddlewareNotUsed, Request, Response, ViewName,
};

/// Records `route|name|params` for every `process_view`.
fn spy(trace: &Trace) -> Spy {
    Spy::views(trace, |view| {
        let params: Vec<String> = view.params().map(|(k, v)| format!("{k}={v}")).collect();
        format!(
            "{}|{}|{}",
            view.route().unwrap_or("-"),
            view.name().unwrap_or("-"),
            params.join("&")
        )
    })
}

#[tokio::test]
async fn process_view_sees_the_matched_route_decoded_params_and_the_registered_name() {
    let trace = Trace::default();
    let app = Router::new()
        .route(
            "/users/{id}/posts/{slug}",
            get(|Extension(name): Extension<ViewName>| async move { format!("view {name}") }),
        )
        .route("/about", get(|| async { "about" }))
        .layer(
            HooksLayer::new()
                .push(spy(&trace))
                .name_route("/users/{id}/posts/{slug}", "post-detail"),
        );
    let (status, body) = send(app.clone(), "/users/42/posts/hello%20world").await;
    // The handler can read the name too.
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "view post-detail")
    );
    let (status, _) = send(app.clone(), "/about").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(app, "/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        trace.take(),
        seq(&[
            "/users/{id}/posts/{slug}|post-detail|id=42&slug=hello world",
            "/about|-|",
            // axum's fallback: no route matched, so no route, name or params.
            "-|-|",
        ])
    );
}

#[tokio::test]
async fn nested_routes_are_named_by_their_full_pattern() {
    let trace = Trace::default();
    let api = Router::new().route("/items/{id}", get(|| async { "item" }));
    let app = Router::new().nest("/api", api).layer(
        HooksLayer::new()
            .push(spy(&trace))
            .name_route("/api/items/{id}", "item"),
    );
    assert_eq!(send(app, "/api/items/7").await.0, StatusCode::OK);
    assert_eq!(trace.take(), seq(&["/api/items/{id}|item|id=7"]));
}

#[tokio::test]
async fn a_view_name_layer_outside_per_route_hooks_names_the_view() {
    let trace = Trace::default();
    let hooks = HooksLayer::new().push(spy(&trace));
    let app = Router::new().route(
        "/",
        // A tuple of layers: the first is outermost, so the name is there before the hooks run.
        get(|| async { "home" }).layer((ViewName::layer("home"), hooks.clone())),
    );
    assert_eq!(send(app, "/").await.0, StatusCode::OK);
    assert_eq!(trace.take(), seq(&["/|home|"]));
}

#[tokio::test]
async fn a_view_name_in_the_extensions_wins_over_the_registry() {
    let trace = Trace::default();
    let app = tower::Layer::layer(
        &ViewName::layer("outer-name"),
        Router::new().route("/x", get(|| async { "x" })).layer(
            HooksLayer::new()
                .push(spy(&trace))
                .name_route("/x", "registered"),
        ),
    );
    assert_eq!(send(app, "/x").await.0, StatusCode::OK);
    assert_eq!(trace.take(), seq(&["/x|outer-name|"]));
}

/// Declines unless enabled; records its hooks if it is ever used.
struct Profiler(Trace);

impl Profiler {
    fn new(enabled: bool, trace: &Trace) -> Result<Self, MiddlewareNotUsed> {
        if enabled {
            Ok(Self(trace.clone()))
        } else {
            Err(MiddlewareNotUsed::because("PROFILE is off"))
        }
    }
}

#[async_trait]
impl Middleware for Profiler {
    async fn process_request(&self, _r: &mut Request) -> Result<Option<Response>, Exception> {
        self.0.push("Profiler.request");
        Ok(None)
    }
    async fn process_response(&self, _r: &Parts, _res: &mut Response) -> Result<(), Exception> {
        self.0.push("Profiler.response");
        Ok(())
    }
}

struct Quiet;
impl Quiet {
    fn new() -> Result<Self, MiddlewareNotUsed> {
        Err(MiddlewareNotUsed::new())
    }
}
impl Middleware for Quiet {}

#[tokio::test]
async fn a_declined_middleware_is_left_out_and_logged_at_debug() {
    let (logs, _guard) = capture_logs();
    let trace = Trace::default();
    let hooks = HooksLayer::new()
        .push(Rec::new("A", &trace))
        .try_push(Profiler::new(false, &trace))
        .try_push(Quiet::new())
        .push(Rec::new("B", &trace));
    assert_eq!(hooks.middleware_names().collect::<Vec<_>>(), vec!["A", "B"]);
    let app = common::router(&trace).layer(hooks);
    assert_eq!(send(app, "/ok").await.0, StatusCode::OK);
    assert_eq!(trace.take(), ran("AB.request AB.view view BA.response:200"));
    let lines = logs.lines_with(&[
        "DEBUG",
        "MiddlewareNotUsed('view::Profiler'): PROFILE is off",
    ]);
    assert_eq!(lines.len(), 1, "logs:\n{}", logs.text());
    let lines = logs.lines_with(&["DEBUG", "MiddlewareNotUsed: 'view::Quiet'"]);
    assert_eq!(lines.len(), 1, "logs:\n{}", logs.text());

    // The same constructor, enabled, is used.
    let hooks = HooksLayer::new().try_push(Profiler::new(true, &trace));
    let app = common::router(&trace).layer(hooks);
    assert_eq!(send(app, "/ok").await.0, StatusCode::OK);
    assert_eq!(trace.take(), ran("Profiler.request view Profiler.response"));
}

/// Passes state from process_request to process_response through the request extensions, and changes the
/// request on the way in (the handler sees the header).
#[derive(Clone, Copy)]
struct RequestNumber(u32);

struct Numbering(Mutex<u32>);

#[async_trait]
impl Middleware for Numbering {
    async fn process_request(&self, r: &mut Request) -> Result<Option<Response>, Exception> {
        let n = {
            let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
            *guard += 1;
            *guard
        };
        r.extensions_mut().insert(RequestNumber(n));
        r.headers_mut()
            .insert("x-request-number", HeaderValue::from(n));
        Ok(None)
    }
    async fn process_response(&self, r: &Parts, res: &mut Response) -> Result<(), Exception> {
        if let Some(RequestNumber(n)) = r.extensions.get::<RequestNumber>().copied() {
            res.headers_mut()
                .insert("x-served-number", HeaderValue::from(n));
        }
        Ok(())
    }
}

#[tokio::test]
async fn state_set_in_process_request_reaches_the_handler_and_process_response() {
    let app = Router::new()
        .route(
            "/",
            get(|headers: http::HeaderMap| async move {
                format!("handler saw {:?}", headers.get("x-request-number"))
            }),
        )
        .layer(HooksLayer::new().push(Numbering(Mutex::new(0))));
    let (_, headers, body) = send_full(app.clone(), "/").await;
    assert_eq!(body, "handler saw Some(\"1\")");
    assert_eq!(headers["x-served-number"], "1");
    let (_, headers, _) = send_full(app, "/").await;
    assert_eq!(headers["x-served-number"], "2");
}

#[tokio::test]
async fn a_shared_middleware_instance_can_be_read_from_outside() {
    struct Counter(Mutex<u32>);
    #[async_trait]
    impl Middleware for Counter {
        async fn process_response(&self, _r: &Parts, _res: &mut Response) -> Result<(), Exception> {
            *self.0.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            Ok(())
        }
    }
    let counter = Arc::new(Counter(Mutex::new(0)));
    let app = Router::new()
        .route("/", get(|| async { "" }))
        .layer(HooksLayer::new().push_arc(counter.clone()));
    for _ in 0..3 {
        send(app.clone(), "/").await;
    }
    assert_eq!(*counter.0.lock().unwrap(), 3);
}
