//! `TemplateResponse`: rewrites by hooks, rendering, and every way rendering can fail.

mod common;

use axum::routing::get;
use axum::Router;
use common::{capture_logs, quiet_panics, ran, recorders, send, send_full, sent, seq, Spy, Trace};
use http::request::Parts;
use http::{header, HeaderValue, StatusCode};
use tower_hooks::{
    async_trait, Context, Exception, HooksLayer, Middleware, RenderError, Request, Response,
    TemplateResponse, ViewInfo,
};

/// Re-skins pages for mobile clients and adds the user to every context (a typical template hook).
struct Mobile;

#[async_trait]
impl Middleware for Mobile {
    async fn process_template_response(
        &self,
        _request: &Parts,
        response: &mut TemplateResponse,
    ) -> Result<(), Exception> {
        let mobile = response.template().replace(".html", ".mobile.html");
        response.set_template(mobile);
        response.insert("user", "ada").map_err(Exception::other)?;
        response
            .headers_mut()
            .insert("x-skin", HeaderValue::from_static("mobile"));
        Ok(())
    }
}

fn show_all(template: &str, ctx: &Context) -> Result<String, RenderError> {
    let mut keys: Vec<_> = ctx.iter().map(|(k, v)| format!("{k}={v}")).collect();
    keys.sort();
    Ok(format!("{template}:{}", keys.join(",")))
}

#[tokio::test]
async fn a_hook_can_change_template_context_and_headers_before_render() {
    let app = Router::new()
        .route(
            "/",
            get(|| async {
                TemplateResponse::new("home.html")
                    .with("title", "Home")
                    .with_status(StatusCode::CREATED)
            }),
        )
        .layer(HooksLayer::new().push(Mobile).renderer(show_all));
    let (status, headers, body) = send_full(app, "/").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body, r#"home.mobile.html:title="Home",user="ada""#);
    assert_eq!(headers["x-skin"], "mobile");
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
}

#[tokio::test]
async fn a_content_type_set_on_the_template_response_is_kept() {
    let app = Router::new()
        .route(
            "/feed",
            get(|| async {
                let mut t = TemplateResponse::new("feed.xml");
                t.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/atom+xml"),
                );
                t
            }),
        )
        .layer(HooksLayer::new().renderer(show_all));
    let (_, headers, body) = send_full(app, "/feed").await;
    assert_eq!(headers[header::CONTENT_TYPE], "application/atom+xml");
    assert_eq!(body, "feed.xml:");
}

/// Answers from process_view / process_exception with template responses.
struct Answers {
    trace: Trace,
}

#[async_trait]
impl Middleware for Answers {
    async fn process_view(
        &self,
        _r: &mut Request,
        view: &ViewInfo,
    ) -> Result<Option<Response>, Exception> {
        use axum::response::IntoResponse;
        if view.route() == Some("/cached") {
            self.trace.push("Answers.view");
            return Ok(Some(TemplateResponse::new("cached.html").into_response()));
        }
        Ok(None)
    }

    async fn process_exception(
        &self,
        _r: &Parts,
        e: &Exception,
    ) -> Result<Option<Response>, Exception> {
        use axum::response::IntoResponse;
        self.trace.push("Answers.exception");
        Ok(Some(
            TemplateResponse::new("error.html")
                .with("title", e.kind().name())
                .with_status(e.status())
                .into_response(),
        ))
    }
}

#[tokio::test]
async fn template_responses_from_process_view_and_process_exception_get_the_template_hooks() {
    let trace = Trace::default();
    let app = common::router(&trace)
        .route("/cached", get(|| async { "never" }))
        .layer(recorders(&trace, "A", None).push(Answers {
            trace: trace.clone(),
        }));

    let hooks = ran("A.request A.view Answers.view A.template A.response:200");
    assert_eq!(
        sent(app.clone(), "/cached", &trace).await,
        (StatusCode::OK, "cached.html|A|".into(), hooks)
    );

    let hooks = ran("A.request A.view view Answers.exception A.template A.response:404");
    assert_eq!(
        sent(app, "/raise/http404", &trace).await,
        (StatusCode::NOT_FOUND, "error.html|A|Http404".into(), hooks)
    );
}

/// Sends `/ok` through recorder A and `middleware`, which puts a template response in place outside the
/// view; returns status, body and the trace.
async fn outside_the_view(middleware: impl Middleware) -> (StatusCode, String, Vec<String>) {
    let trace = Trace::default();
    let app = common::router(&trace).layer(recorders(&trace, "A", None).push(middleware));
    sent(app, "/ok", &trace).await
}

#[tokio::test]
async fn a_template_response_from_process_request_is_rendered_without_template_hooks() {
    struct Maintenance;
    #[async_trait]
    impl Middleware for Maintenance {
        async fn process_request(&self, _r: &mut Request) -> Result<Option<Response>, Exception> {
            use axum::response::IntoResponse;
            Ok(Some(
                TemplateResponse::new("maintenance.html")
                    .with_status(StatusCode::SERVICE_UNAVAILABLE)
                    .into_response(),
            ))
        }
    }
    // Django only runs template hooks inside `_get_response`; the outer process_response sees the render.
    let hooks = ran("A.request A.response:503");
    assert_eq!(
        outside_the_view(Maintenance).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "maintenance.html||".into(),
            hooks
        )
    );
}

fn failing(template: &str, _ctx: &Context) -> Result<String, RenderError> {
    Err(RenderError::Render {
        template: template.to_owned(),
        source: "unexpected end of template".into(),
    })
}

/// What `process_exception` sees of a render failure.
fn render_error(e: &Exception) -> String {
    match e.downcast_ref::<RenderError>() {
        Some(RenderError::TemplateNotFound(name)) => format!("not found {name}"),
        Some(RenderError::Render { template, .. }) => format!("render {template}"),
        Some(RenderError::NoRenderer(name)) => format!("no renderer {name}"),
        Some(RenderError::Context { template, reason }) => format!("context {template}: {reason}"),
        Some(other) => format!("other {other}"),
        None => format!("not a render error: {e}"),
    }
}

/// Sends a GET for `path` to pages whose rendering can fail, behind `layer` and a spy that records each
/// [`render_error`] (answering `"handled"` with `answer`'s status, if set); returns status, body and what
/// the spy saw.
async fn render(
    layer: HooksLayer,
    answer: Option<u16>,
    path: &str,
) -> (StatusCode, String, Vec<String>) {
    let trace = Trace::default();
    let spy = Spy {
        answer,
        ..Spy::exceptions(&trace, render_error)
    };
    let app = Router::new()
        .route("/", get(|| async { TemplateResponse::new("page.html") }))
        .route(
            "/missing",
            get(|| async { TemplateResponse::new("missing.html") }),
        )
        .route(
            "/bad-context",
            get(|| async {
                let mut m = std::collections::HashMap::new();
                m.insert(vec![1], 2);
                TemplateResponse::new("page.html").with("m", m)
            }),
        )
        .layer(layer.push(spy));
    let (status, body) = send(app, path).await;
    (status, body, trace.take())
}

/// A render failure nobody answers: a plain 500 for the client, `seen` by `process_exception`, and exactly
/// one log line with every one of `log` in it.
async fn assert_logged_500(layer: HooksLayer, path: &str, seen: &str, log: &[&str]) {
    let (logs, _guard) = capture_logs();
    let (status, body, saw) = render(layer, None, path).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    );
    assert_eq!(saw, seq(&[seen]));
    assert_eq!(logs.lines_with(log).len(), 1, "logs:\n{}", logs.text());
}

#[tokio::test]
async fn a_failing_renderer_goes_through_process_exception_then_is_a_logged_500() {
    assert_logged_500(
        HooksLayer::new().renderer(failing),
        "/",
        "render page.html",
        &[
            "ERROR",
            "Internal Server Error: /",
            "failed to render template `page.html`: unexpected end of template",
        ],
    )
    .await;
}

#[tokio::test]
async fn process_exception_can_answer_a_render_failure() {
    let (status, body, saw) = render(HooksLayer::new().renderer(failing), Some(503), "/").await;
    assert_eq!(
        (status, body),
        (StatusCode::SERVICE_UNAVAILABLE, "handled".to_owned())
    );
    assert_eq!(saw, seq(&["render page.html"]));
}

#[tokio::test]
async fn a_panicking_renderer_is_a_logged_500() {
    quiet_panics();
    let (logs, _guard) = capture_logs();
    let renderer = |_: &str, _: &Context| -> Result<String, RenderError> {
        panic!("renderer blew up on purpose")
    };
    let (status, _, saw) = render(HooksLayer::new().renderer(renderer), None, "/").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(saw, seq(&["not a render error: panic in the renderer (template `page.html`): renderer blew up on purpose"]));
    assert!(
        !logs
            .lines_with(&["ERROR", "renderer blew up on purpose"])
            .is_empty(),
        "logs:\n{}",
        logs.text()
    );
}

#[tokio::test]
async fn without_a_renderer_a_template_response_is_a_logged_500() {
    let (logs, _guard) = capture_logs();
    let (status, _, saw) = render(HooksLayer::new(), None, "/").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(saw, seq(&["no renderer page.html"]));
    let lines = logs.lines_with(&[
        "ERROR",
        "no renderer is configured on the HooksLayer to render template `page.html`",
    ]);
    assert_eq!(lines.len(), 1, "logs:\n{}", logs.text());
}

#[tokio::test]
async fn a_context_that_does_not_serialize_is_a_render_error_not_a_panic() {
    let (status, _, saw) = render(HooksLayer::new().renderer(show_all), None, "/bad-context").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        saw,
        seq(&["context page.html: context variable `m`: key must be a string"])
    );
}

#[cfg(feature = "minijinja")]
mod minijinja {
    use super::*;
    use tower_hooks::MiniJinjaRenderer;

    fn env() -> ::minijinja::Environment<'static> {
        let mut env = ::minijinja::Environment::new();
        env.add_template_owned("page.html", "<h1>{{ title }}</h1><p>{{ user }}</p>")
            .unwrap();
        env.add_template_owned("page.mobile.html", "<h1 class=m>{{ title }}</h1>{{ user }}")
            .unwrap();
        env
    }

    #[tokio::test]
    async fn minijinja_renders_with_hook_changes_and_autoescapes() {
        let app = Router::new()
            .route(
                "/",
                get(|| async { TemplateResponse::new("page.html").with("title", "<b>Hi</b>") }),
            )
            .layer(
                HooksLayer::new()
                    .push(Mobile)
                    .renderer(MiniJinjaRenderer::new(env())),
            );
        let (status, body) = send(app, "/").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "<h1 class=m>&lt;b&gt;Hi&lt;&#x2f;b&gt;</h1>ada");
    }

    #[tokio::test]
    async fn a_missing_template_is_a_logged_500_and_process_exception_sees_template_not_found() {
        assert_logged_500(
            HooksLayer::new().renderer(MiniJinjaRenderer::new(env())),
            "/missing",
            "not found missing.html",
            &[
                "ERROR",
                "Internal Server Error: /missing",
                "template `missing.html` does not exist",
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn a_template_that_fails_at_render_time_is_a_500() {
        let mut env = env();
        env.add_template_owned("page.html", "{{ title|no_such_filter }}")
            .unwrap();
        let layer = HooksLayer::new().renderer(MiniJinjaRenderer::new(env));
        let (status, _, saw) = render(layer, None, "/").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(saw, seq(&["render page.html"]));
    }
}

#[tokio::test]
async fn template_hook_rewrites_are_seen_in_order_through_a_recorder_chain() {
    // A and B both rewrite; B (lower) runs first, A sees B's change.
    let trace = Trace::default();
    let app = common::router(&trace).layer(recorders(&trace, "AB", None));
    assert_eq!(
        send(app, "/template").await,
        (StatusCode::OK, "page.html|BA|Hello".to_owned())
    );
}

#[tokio::test]
async fn a_template_response_set_by_process_response_is_rendered_for_the_outer_middleware() {
    struct Reskin;
    #[async_trait]
    impl Middleware for Reskin {
        async fn process_response(&self, _r: &Parts, res: &mut Response) -> Result<(), Exception> {
            use axum::response::IntoResponse;
            if res.status() == StatusCode::OK {
                *res = TemplateResponse::new("wrapped.html")
                    .with("title", "late")
                    .into_response();
            }
            Ok(())
        }
    }
    // No template hooks for it (Django only runs them inside `_get_response`); A sees the rendered page.
    let hooks = ran("A.request A.view view A.response:200");
    assert_eq!(
        outside_the_view(Reskin).await,
        (StatusCode::OK, "wrapped.html||late".into(), hooks)
    );
}
