//! Panics, errors and error responses: a clear response and a log event, never a crash.

mod common;

use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use common::{
    capture_logs, quiet_panics, ran, recorders, router, send, sent, seq, Act, Case, Hook, Rec, Spy,
    Trace,
};
use http::request::Parts;
use http::StatusCode;
use tower_hooks::{
    async_trait, Exception, ExceptionKind, HooksLayer, Middleware, Response, TemplateResponse,
};

/// A and B, all passing, asked for `/ok`.
const AB: Case<'static> = Case::new("AB");

#[tokio::test]
async fn handler_panic_goes_through_process_exception_then_becomes_a_500_and_is_logged() {
    quiet_panics();
    let (logs, _guard) = capture_logs();
    let trace = Trace::default();
    let app = router(&trace).layer(recorders(&trace, "AB", None));

    let hooks = ran("AB.request AB.view view BA.exception:Panic BA.response:500");
    assert_eq!(
        sent(app.clone(), "/panic", &trace).await,
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error".into(),
            hooks
        )
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

#[test]
fn handler_panic_can_be_answered_by_process_exception() {
    quiet_panics();
    Case {
        who: "B",
        hook: Hook::Exception,
        act: Act::Answer(503),
        path: "/panic",
        status: StatusCode::SERVICE_UNAVAILABLE,
        body: Some("B.exception"),
        trace: "B.exception:Panic BA.response:503",
        skip: 5,
        ..AB
    }
    .check();
}

#[tokio::test]
async fn question_mark_on_any_error_raises_other_and_the_hook_can_downcast_it() {
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
    let downcast = Spy::exceptions(&trace, |e| {
        let io = e.downcast_ref::<std::io::Error>().map(|io| io.to_string());
        format!("{:?}:{}", e.kind(), io.unwrap_or_default())
    });
    let app = Router::new()
        .route("/parse", get(parse))
        .route("/read", get(read))
        .layer(HooksLayer::new().push(downcast));
    assert_eq!(send(app.clone(), "/parse").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(
        send(app, "/read").await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(trace.take(), seq(&["BadRequest:", "Other:disk on fire"]));
}

#[test]
fn panicking_process_request_is_a_500_for_the_outer_middleware_only() {
    quiet_panics();
    Case {
        who: "B",
        hook: Hook::Request,
        act: Act::Panic,
        status: StatusCode::INTERNAL_SERVER_ERROR,
        body: Some("Internal Server Error"),
        trace: "AB.request A.response:500",
        log: &[
            "ERROR",
            "panic in B.process_request: B.request panicked on purpose",
        ],
        ..AB
    }
    .check();
}

#[test]
fn panicking_process_view_is_a_500_not_given_to_process_exception() {
    quiet_panics();
    Case {
        who: "B",
        hook: Hook::View,
        act: Act::Panic,
        status: StatusCode::INTERNAL_SERVER_ERROR,
        trace: "AB.request AB.view BA.response:500",
        log: &["ERROR", "B.process_view"],
        ..AB
    }
    .check();
}

#[test]
fn panicking_process_exception_is_a_500_and_stops_the_exception_loop() {
    quiet_panics();
    Case {
        who: "B",
        hook: Hook::Exception,
        act: Act::Panic,
        path: "/raise/http404",
        status: StatusCode::INTERNAL_SERVER_ERROR,
        trace: "B.exception:Http404 BA.response:500",
        skip: 5,
        log: &["ERROR", "B.process_exception"],
        ..AB
    }
    .check();
}

#[test]
fn panicking_process_template_response_is_a_500() {
    quiet_panics();
    Case {
        who: "B",
        hook: Hook::Template,
        act: Act::Panic,
        path: "/template",
        status: StatusCode::INTERNAL_SERVER_ERROR,
        trace: "B.template BA.response:500",
        skip: 5,
        log: &["ERROR", "B.process_template_response"],
        ..AB
    }
    .check();
}

#[test]
fn panicking_process_response_is_a_500_for_the_outer_middleware() {
    quiet_panics();
    Case {
        who: "B",
        hook: Hook::Response,
        act: Act::Panic,
        status: StatusCode::INTERNAL_SERVER_ERROR,
        trace: "B.response:200 A.response:500",
        skip: 5,
        log: &["ERROR", "B.process_response"],
        ..AB
    }
    .check();
}

#[test]
fn a_hook_returning_an_error_response_passes_outwards_and_is_logged_like_django_request() {
    Case {
        who: "B",
        hook: Hook::Request,
        act: Act::Answer(500),
        status: StatusCode::INTERNAL_SERVER_ERROR,
        body: Some("B.request"),
        trace: "AB.request BA.response:500",
        log: &[
            "ERROR",
            "tower_hooks::request",
            "Internal Server Error: /ok",
        ],
        once: true,
        ..AB
    }
    .check();
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
    assert_eq!(trace.take(), ran("A.request A.view A.response:403"));
}

#[test]
fn client_errors_are_logged_at_warn_and_unmatched_urls_still_run_the_hooks() {
    // axum's fallback is wrapped by `Router::layer` too: the request and response hooks run, and the view
    // hooks run without a route (see the view tests); the fallback is not an exception.
    Case {
        path: "/no/such/page",
        status: StatusCode::NOT_FOUND,
        trace: "AB.request AB.view BA.response:404",
        log: &["WARN", "tower_hooks::request", "Not Found: /no/such/page"],
        once: true,
        ..AB
    }
    .check();
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
    let cases = [
        ("/404", StatusCode::NOT_FOUND, "Not Found"),
        ("/403", StatusCode::FORBIDDEN, "Forbidden"),
        ("/400", StatusCode::BAD_REQUEST, "Bad Request"),
        (
            "/t",
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
        ),
    ];
    for (path, status, body) in cases {
        assert_eq!(
            send(app.clone(), path).await,
            (status, body.into()),
            "{path}"
        );
    }
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
    assert_eq!(trace.take(), ran("A.request A.view view A.response:404"));
    let lines = logs.lines_with(&["WARN", "Not Found: /ok", "Http404: hidden by policy"]);
    assert_eq!(lines.len(), 1, "logs:\n{}", logs.text());
}
