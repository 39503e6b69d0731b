//! Panics, errors and error responses: a clear response and a log event, never a crash.

mod common;

use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use common::{capture_logs, quiet_panics, router, send, seq, Act, Rec, Trace};
use http::request::Parts;
use http::StatusCode;
use tower_hooks::{
    async_trait, Exception, ExceptionKind, HooksLayer, Middleware, Response, TemplateResponse,
};

fn one(trace: &Trace, rec: Rec) -> Router {
    router(trace).layer(HooksLayer::new().push(Rec::new("A", trace)).push(rec))
}

#[tokio::test]
async fn handler_panic_goes_through_process_exception_then_becomes_a_500_and_is_logged() {
    quiet_panics();
    let (logs, _guard) = capture_logs();
    let trace = Trace::default();
    let app = one(&trace, Rec::new("B", &trace));

    let (status, body) = send(app.clone(), "/panic").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    );
    assert_eq!(
        trace.take(),
        seq(&[
            "A.request",
            "B.request",
            "A.view",
            "B.view",
            "view",
            "B.exception:Panic",
            "A.exception:Panic",
            "B.response:500",
            "A.response:500",
        ])
    );
    let panic_lines = logs.lines_with(&["ERROR", "panic in the view: handler panicked on purpose"]);
    assert!(!panic_lines.is_empty(), "logs:\n{}", logs.text());
    let request_lines = logs.lines_with(&[
        "ERROR",
        "tower_hooks::request",
        "Internal Server Error: /panic",
    ]);
    assert_eq!(request_lines.len(), 1, "logs:\n{}", logs.text());

    // The same router keeps serving.
    let (status, body) = send(app, "/ok").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
}

#[tokio::test]
async fn handler_panic_can_be_answered_by_process_exception() {
    quiet_panics();
    let trace = Trace::default();
    let app = one(&trace, Rec::new("B", &trace).exception(Act::Answer(503)));
    let (status, body) = send(app, "/panic").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "B.exception")
    );
    assert_eq!(
        trace.take()[5..],
        seq(&["B.exception:Panic", "B.response:503", "A.response:503"])
    );
}

#[tokio::test]
async fn question_mark_on_any_error_raises_other_and_the_hook_can_downcast_it() {
    struct Downcast(Trace);
    #[async_trait]
    impl Middleware for Downcast {
        async fn process_exception(
            &self,
            _r: &Parts,
            e: &Exception,
        ) -> Result<Option<Response>, Exception> {
            let io = e.downcast_ref::<std::io::Error>().map(|io| io.to_string());
            self.0
                .push(format!("{:?}:{}", e.kind(), io.unwrap_or_default()));
            Ok(None)
        }
    }
    async fn parse() -> Result<String, Exception> {
        let n: u32 = "x"
            .parse::<u32>()
            .map_err(|e| Exception::bad_request().with_source(e))?;
        Ok(n.to_string())
    }
    async fn read() -> Result<String, Exception> {
        Err(std::io::Error::other("disk on fire"))?;
        Ok(String::new())
    }
    let trace = Trace::default();
    let app = Router::new()
        .route("/parse", get(parse))
        .route("/read", get(read))
        .layer(HooksLayer::new().push(Downcast(trace.clone())));
    assert_eq!(send(app.clone(), "/parse").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(
        send(app, "/read").await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(trace.take(), seq(&["BadRequest:", "Other:disk on fire"]));
}

#[tokio::test]
async fn panicking_process_request_is_a_500_for_the_outer_middleware_only() {
    quiet_panics();
    let (logs, _guard) = capture_logs();
    let trace = Trace::default();
    let app = one(&trace, Rec::new("B", &trace).request(Act::Panic));
    let (status, body) = send(app, "/ok").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    );
    assert_eq!(
        trace.take(),
        seq(&["A.request", "B.request", "A.response:500"])
    );
    let lines = logs.lines_with(&[
        "ERROR",
        "panic in B.process_request: B.request panicked on purpose",
    ]);
    assert!(!lines.is_empty(), "logs:\n{}", logs.text());
}

#[tokio::test]
async fn panicking_process_view_is_a_500_not_given_to_process_exception() {
    quiet_panics();
    let (logs, _guard) = capture_logs();
    let trace = Trace::default();
    let app = one(&trace, Rec::new("B", &trace).view(Act::Panic));
    let (status, _) = send(app, "/ok").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        trace.take(),
        seq(&[
            "A.request",
            "B.request",
            "A.view",
            "B.view",
            "B.response:500",
            "A.response:500"
        ])
    );
    assert!(
        !logs.lines_with(&["ERROR", "B.process_view"]).is_empty(),
        "logs:\n{}",
        logs.text()
    );
}

#[tokio::test]
async fn panicking_process_exception_is_a_500_and_stops_the_exception_loop() {
    quiet_panics();
    let (logs, _guard) = capture_logs();
    let trace = Trace::default();
    let app = one(&trace, Rec::new("B", &trace).exception(Act::Panic));
    let (status, _) = send(app, "/raise/http404").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        trace.take()[5..],
        seq(&["B.exception:Http404", "B.response:500", "A.response:500"])
    );
    assert!(
        !logs
            .lines_with(&["ERROR", "B.process_exception"])
            .is_empty(),
        "logs:\n{}",
        logs.text()
    );
}

#[tokio::test]
async fn panicking_process_template_response_is_a_500() {
    quiet_panics();
    let (logs, _guard) = capture_logs();
    let trace = Trace::default();
    let app = router(&trace).layer(
        HooksLayer::new()
            .push(Rec::new("A", &trace))
            .push(Rec::new("B", &trace).template(Act::Panic))
            .renderer(common::echo_renderer()),
    );
    let (status, _) = send(app, "/template").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        trace.take()[5..],
        seq(&["B.template", "B.response:500", "A.response:500"])
    );
    assert!(
        !logs
            .lines_with(&["ERROR", "B.process_template_response"])
            .is_empty(),
        "logs:\n{}",
        logs.text()
    );
}

#[tokio::test]
async fn panicking_process_response_is_a_500_for_the_outer_middleware() {
    quiet_panics();
    let (logs, _guard) = capture_logs();
    let trace = Trace::default();
    let app = one(&trace, Rec::new("B", &trace).response(Act::Panic));
    let (status, _) = send(app, "/ok").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        trace.take()[5..],
        seq(&["B.response:200", "A.response:500"])
    );
    assert!(
        !logs.lines_with(&["ERROR", "B.process_response"]).is_empty(),
        "logs:\n{}",
        logs.text()
    );
}

#[tokio::test]
async fn a_hook_returning_an_error_response_passes_outwards_and_is_logged_like_django_request() {
    let (logs, _guard) = capture_logs();
    let trace = Trace::default();
    let app = one(&trace, Rec::new("B", &trace).request(Act::Answer(500)));
    let (status, body) = send(app, "/ok").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "B.request")
    );
    assert_eq!(
        trace.take(),
        seq(&["A.request", "B.request", "B.response:500", "A.response:500"])
    );
    let lines = logs.lines_with(&[
        "ERROR",
        "tower_hooks::request",
        "Internal Server Error: /ok",
    ]);
    assert_eq!(lines.len(), 1, "logs:\n{}", logs.text());
}

#[tokio::test]
async fn a_hook_may_answer_with_an_exception_value_and_it_is_converted_not_handled() {
    // `Ok(Some(Exception::...into_response()))` from process_view: converted at once, like a raise.
    struct Deny;
    #[async_trait]
    impl Middleware for Deny {
        async fn process_view(
            &self,
            _r: &mut tower_hooks::Request,
            _v: &tower_hooks::ViewInfo,
        ) -> Result<Option<Response>, Exception> {
            Ok(Some(Exception::permission_denied().into_response()))
        }
    }
    let trace = Trace::default();
    let app = router(&trace).layer(HooksLayer::new().push(Rec::new("A", &trace)).push(Deny));
    let (status, body) = send(app, "/ok").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::FORBIDDEN, "Forbidden")
    );
    assert_eq!(
        trace.take(),
        seq(&["A.request", "A.view", "A.response:403"])
    );
}

#[tokio::test]
async fn client_errors_are_logged_at_warn_and_unmatched_urls_still_run_the_hooks() {
    let (logs, _guard) = capture_logs();
    let trace = Trace::default();
    let app = one(&trace, Rec::new("B", &trace));
    let (status, _) = send(app, "/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // axum's fallback is wrapped by `Router::layer` too: the request and response hooks run, and the view
    // hooks run without a route (see the view tests); the fallback is not an exception.
    assert_eq!(
        trace.take(),
        seq(&[
            "A.request",
            "B.request",
            "A.view",
            "B.view",
            "B.response:404",
            "A.response:404"
        ])
    );
    let lines = logs.lines_with(&["WARN", "tower_hooks::request", "Not Found: /no/such/page"]);
    assert_eq!(lines.len(), 1, "logs:\n{}", logs.text());
}

#[tokio::test]
async fn error_response_logging_can_be_turned_off_but_exceptions_are_still_logged() {
    let (logs, _guard) = capture_logs();
    let trace = Trace::default();
    let app = router(&trace).layer(HooksLayer::new().log_error_responses(false));
    assert_eq!(send(app.clone(), "/missing").await.0, StatusCode::NOT_FOUND);
    assert!(
        logs.lines_with(&["Not Found: /missing"]).is_empty(),
        "logs:\n{}",
        logs.text()
    );
    assert_eq!(
        send(app, "/raise/permission_denied").await.0,
        StatusCode::FORBIDDEN
    );
    let lines = logs.lines_with(&[
        "WARN",
        "Forbidden: /raise/permission_denied",
        "PermissionDenied",
    ]);
    assert_eq!(lines.len(), 1, "logs:\n{}", logs.text());
}

#[tokio::test]
async fn without_the_layer_exceptions_still_map_to_their_status_and_template_responses_are_500() {
    let app = Router::new()
        .route("/404", get(|| async { Exception::http404() }))
        .route("/403", get(|| async { Exception::permission_denied() }))
        .route(
            "/400",
            get(|| async { Exception::new(ExceptionKind::BadRequest) }),
        )
        .route("/t", get(|| async { TemplateResponse::new("x.html") }));
    assert_eq!(
        send(app.clone(), "/404").await,
        (StatusCode::NOT_FOUND, "Not Found".into())
    );
    assert_eq!(
        send(app.clone(), "/403").await,
        (StatusCode::FORBIDDEN, "Forbidden".into())
    );
    assert_eq!(
        send(app.clone(), "/400").await,
        (StatusCode::BAD_REQUEST, "Bad Request".into())
    );
    assert_eq!(
        send(app, "/t").await,
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error".into()
        )
    );
}

#[tokio::test]
async fn an_exception_value_set_by_process_response_is_converted_and_logged_with_its_details() {
    struct NotFoundAfterAll;
    #[async_trait]
    impl Middleware for NotFoundAfterAll {
        async fn process_response(&self, _r: &Parts, res: &mut Response) -> Result<(), Exception> {
            *res = Exception::http404()
                .with_message("hidden by policy")
                .into_response();
            Ok(())
        }
    }
    let (logs, _guard) = capture_logs();
    let trace = Trace::default();
    let app = router(&trace).layer(
        HooksLayer::new()
            .push(Rec::new("A", &trace))
            .push(NotFoundAfterAll),
    );
    let (status, body) = send(app, "/ok").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::NOT_FOUND, "Not Found")
    );
    assert_eq!(
        trace.take(),
        seq(&["A.request", "A.view", "view", "A.response:404"])
    );
    let lines = logs.lines_with(&["WARN", "Not Found: /ok", "Http404: hidden by policy"]);
    assert_eq!(lines.len(), 1, "logs:\n{}", logs.text());
}
