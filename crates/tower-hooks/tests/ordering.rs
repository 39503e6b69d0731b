//! Django's ordering and short-circuit rules (reference §5), through a real axum `Router`.
//!
//! Three recorders A, B, C are listed in that order (A outermost, like the top of `MIDDLEWARE`); every test
//! asserts the exact sequence of hooks that ran, the status and the body.

mod common;

use common::{router, send, seq, Act, Rec, Trace};
use http::StatusCode;
use tower_hooks::{ExceptionKind, HooksLayer};

fn abc(trace: &Trace, a: Rec, b: Rec, c: Rec) -> axum::Router {
    let _ = trace;
    router(trace).layer(
        HooksLayer::new()
            .push(a)
            .push(b)
            .push(c)
            .renderer(common::echo_renderer()),
    )
}

fn recs(trace: &Trace) -> (Rec, Rec, Rec) {
    (
        Rec::new("A", trace),
        Rec::new("B", trace),
        Rec::new("C", trace),
    )
}

#[tokio::test]
async fn request_and_view_hooks_top_down_response_hooks_bottom_up() {
    let trace = Trace::default();
    let (a, b, c) = recs(&trace);
    let (status, body) = send(abc(&trace, a, b, c), "/ok").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    assert_eq!(
        trace.take(),
        seq(&[
            "A.request",
            "B.request",
            "C.request",
            "A.view",
            "B.view",
            "C.view",
            "view",
            "C.response:200",
            "B.response:200",
            "A.response:200",
        ])
    );
}

#[tokio::test]
async fn process_request_answer_skips_inner_middleware_and_view_but_runs_entered_response_hooks() {
    let trace = Trace::default();
    let (a, b, c) = recs(&trace);
    let b = b.request(Act::Answer(403));
    let (status, body) = send(abc(&trace, a, b, c), "/ok").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::FORBIDDEN, "B.request")
    );
    assert_eq!(
        trace.take(),
        seq(&["A.request", "B.request", "B.response:403", "A.response:403"])
    );
}

#[tokio::test]
async fn process_request_answer_from_the_outermost_runs_only_its_own_response_hook() {
    let trace = Trace::default();
    let (a, b, c) = recs(&trace);
    let a = a.request(Act::Answer(200));
    let (status, body) = send(abc(&trace, a, b, c), "/ok").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "A.request"));
    assert_eq!(trace.take(), seq(&["A.request", "A.response:200"]));
}

#[tokio::test]
async fn first_process_view_answer_skips_later_view_hooks_and_the_view() {
    let trace = Trace::default();
    let (a, b, c) = recs(&trace);
    let b = b.view(Act::Answer(202));
    let (status, body) = send(abc(&trace, a, b, c), "/ok").await;
    assert_eq!((status, body.as_str()), (StatusCode::ACCEPTED, "B.view"));
    assert_eq!(
        trace.take(),
        seq(&[
            "A.request",
            "B.request",
            "C.request",
            "A.view",
            "B.view",
            "C.response:202",
            "B.response:202",
            "A.response:202",
        ])
    );
}

#[tokio::test]
async fn process_exception_runs_bottom_up_and_the_first_answer_wins() {
    let trace = Trace::default();
    let (a, b, c) = recs(&trace);
    let b = b.exception(Act::Answer(410));
    let (status, body) = send(abc(&trace, a, b, c), "/raise/http404").await;
    assert_eq!((status, body.as_str()), (StatusCode::GONE, "B.exception"));
    assert_eq!(
        trace.take(),
        seq(&[
            "A.request",
            "B.request",
            "C.request",
            "A.view",
            "B.view",
            "C.view",
            "view",
            "C.exception:Http404",
            "B.exception:Http404",
            "C.response:410",
            "B.response:410",
            "A.response:410",
        ])
    );
}

#[tokio::test]
async fn unanswered_exceptions_map_to_djangos_statuses_after_every_exception_hook() {
    let cases = [
        ("http404", "Http404", StatusCode::NOT_FOUND, "Not Found"),
        (
            "permission_denied",
            "PermissionDenied",
            StatusCode::FORBIDDEN,
            "Forbidden",
        ),
        (
            "bad_request",
            "BadRequest",
            StatusCode::BAD_REQUEST,
            "Bad Request",
        ),
        (
            "suspicious",
            "SuspiciousOperation",
            StatusCode::BAD_REQUEST,
            "Bad Request",
        ),
        (
            "other",
            "Other",
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
        ),
    ];
    for (path, kind, want_status, want_body) in cases {
        let trace = Trace::default();
        let (a, b, c) = recs(&trace);
        let (status, body) = send(abc(&trace, a, b, c), &format!("/raise/{path}")).await;
        assert_eq!((status, body.as_str()), (want_status, want_body), "{path}");
        let code = want_status.as_u16();
        assert_eq!(
            trace.take(),
            vec![
                "A.request".to_owned(),
                "B.request".into(),
                "C.request".into(),
                "A.view".into(),
                "B.view".into(),
                "C.view".into(),
                "view".into(),
                format!("C.exception:{kind}"),
                format!("B.exception:{kind}"),
                format!("A.exception:{kind}"),
                format!("C.response:{code}"),
                format!("B.response:{code}"),
                format!("A.response:{code}"),
            ],
            "{path}"
        );
    }
}

#[tokio::test]
async fn exception_raised_in_process_view_is_not_given_to_process_exception() {
    let trace = Trace::default();
    let (a, b, c) = recs(&trace);
    let b = b.view(Act::Raise(ExceptionKind::PermissionDenied));
    let (status, body) = send(abc(&trace, a, b, c), "/raise/http404").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::FORBIDDEN, "Forbidden")
    );
    assert_eq!(
        trace.take(),
        seq(&[
            "A.request",
            "B.request",
            "C.request",
            "A.view",
            "B.view",
            "C.response:403",
            "B.response:403",
            "A.response:403",
        ])
    );
}

#[tokio::test]
async fn exception_raised_in_process_request_skips_that_middlewares_own_response_hook() {
    let trace = Trace::default();
    let (a, b, c) = recs(&trace);
    let b = b.request(Act::Raise(ExceptionKind::BadRequest));
    let (status, body) = send(abc(&trace, a, b, c), "/ok").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::BAD_REQUEST, "Bad Request")
    );
    assert_eq!(
        trace.take(),
        seq(&["A.request", "B.request", "A.response:400"])
    );
}

#[tokio::test]
async fn exception_raised_in_process_response_is_converted_for_the_outer_middleware() {
    let trace = Trace::default();
    let (a, b, c) = recs(&trace);
    let b = b.response(Act::Raise(ExceptionKind::Http404));
    let (status, body) = send(abc(&trace, a, b, c), "/ok").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::NOT_FOUND, "Not Found")
    );
    assert_eq!(
        trace.take(),
        seq(&[
            "A.request",
            "B.request",
            "C.request",
            "A.view",
            "B.view",
            "C.view",
            "view",
            "C.response:200",
            "B.response:200",
            "A.response:404",
        ])
    );
}

#[tokio::test]
async fn process_response_may_replace_the_response_for_the_outer_middleware() {
    let trace = Trace::default();
    let (a, b, c) = recs(&trace);
    let c = c.response(Act::Answer(201));
    let (status, body) = send(abc(&trace, a, b, c), "/ok").await;
    assert_eq!((status, body.as_str()), (StatusCode::CREATED, "C.response"));
    assert_eq!(
        trace.take()[7..],
        seq(&["C.response:200", "B.response:201", "A.response:201"])
    );
}

#[tokio::test]
async fn exception_raised_in_process_exception_replaces_it_and_stops_the_loop() {
    let trace = Trace::default();
    let (a, b, c) = recs(&trace);
    let c = c.exception(Act::Raise(ExceptionKind::PermissionDenied));
    let (status, body) = send(abc(&trace, a, b, c), "/raise/http404").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::FORBIDDEN, "Forbidden")
    );
    assert_eq!(
        trace.take(),
        seq(&[
            "A.request",
            "B.request",
            "C.request",
            "A.view",
            "B.view",
            "C.view",
            "view",
            "C.exception:Http404",
            "C.response:403",
            "B.response:403",
            "A.response:403",
        ])
    );
}

#[tokio::test]
async fn template_response_hooks_run_bottom_up_before_rendering() {
    let trace = Trace::default();
    let (a, b, c) = recs(&trace);
    let (status, body) = send(abc(&trace, a, b, c), "/template").await;
    // The echo renderer shows the template and the order the hooks touched the context in.
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "page.html|CBA|Hello")
    );
    assert_eq!(
        trace.take(),
        seq(&[
            "A.request",
            "B.request",
            "C.request",
            "A.view",
            "B.view",
            "C.view",
            "view",
            "C.template",
            "B.template",
            "A.template",
            "C.response:200",
            "B.response:200",
            "A.response:200",
        ])
    );
}

#[tokio::test]
async fn exception_raised_in_process_template_response_is_not_given_to_process_exception() {
    let trace = Trace::default();
    let (a, b, c) = recs(&trace);
    let b = b.template(Act::Raise(ExceptionKind::Http404));
    let (status, body) = send(abc(&trace, a, b, c), "/template").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::NOT_FOUND, "Not Found")
    );
    assert_eq!(
        trace.take(),
        seq(&[
            "A.request",
            "B.request",
            "C.request",
            "A.view",
            "B.view",
            "C.view",
            "view",
            "C.template",
            "B.template",
            "C.response:404",
            "B.response:404",
            "A.response:404",
        ])
    );
}

#[tokio::test]
async fn hooks_of_a_route_level_layer_and_of_an_outer_layer_nest_like_two_middleware_lists() {
    // An outer HooksLayer around the router sees the inner chain's finished response.
    let trace = Trace::default();
    let inner = HooksLayer::new().push(Rec::new("I", &trace));
    let outer = HooksLayer::new().push(Rec::new("O", &trace));
    let app = tower::Layer::layer(&outer, router(&trace).layer(inner));
    let (status, body) = send(app, "/raise/permission_denied").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::FORBIDDEN, "Forbidden")
    );
    // The inner layer converts the exception; the outer one sees a plain 403 and has nothing to handle.
    assert_eq!(
        trace.take(),
        seq(&[
            "O.request",
            "O.view",
            "I.request",
            "I.view",
            "view",
            "I.exception:PermissionDenied",
            "I.response:403",
            "O.response:403",
        ])
    );
}
