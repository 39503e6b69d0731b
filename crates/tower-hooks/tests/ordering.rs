//! Django's ordering and short-circuit rules (reference §5), through a real axum `Router`.
//!
//! Three recorders A, B, C are listed in that order (A outermost, like the top of `MIDDLEWARE`); every test
//! asserts the exact sequence of hooks that ran, the status and the body.

mod common;

use common::{ran, router, sent, Act, Case, Hook, Rec, Trace};
use http::StatusCode;
use tower_hooks::{ExceptionKind, HooksLayer};

/// A, B and C, all passing, asked for `/ok`.
const ABC: Case<'static> = Case::new("ABC");

#[test]
fn request_and_view_hooks_top_down_response_hooks_bottom_up() {
    Case {
        body: Some("ok"),
        trace: "ABC.request ABC.view view CBA.response:200",
        ..ABC
    }
    .check();
}

#[test]
fn process_request_answer_skips_inner_middleware_and_view_but_runs_entered_response_hooks() {
    Case {
        who: "B",
        hook: Hook::Request,
        act: Act::Answer(403),
        status: StatusCode::FORBIDDEN,
        body: Some("B.request"),
        trace: "AB.request BA.response:403",
        ..ABC
    }
    .check();
}

#[test]
fn process_request_answer_from_the_outermost_runs_only_its_own_response_hook() {
    Case {
        who: "A",
        hook: Hook::Request,
        act: Act::Answer(200),
        body: Some("A.request"),
        trace: "A.request A.response:200",
        ..ABC
    }
    .check();
}

#[test]
fn first_process_view_answer_skips_later_view_hooks_and_the_view() {
    Case {
        who: "B",
        hook: Hook::View,
        act: Act::Answer(202),
        status: StatusCode::ACCEPTED,
        body: Some("B.view"),
        trace: "ABC.request AB.view CBA.response:202",
        ..ABC
    }
    .check();
}

#[test]
fn process_exception_runs_bottom_up_and_the_first_answer_wins() {
    Case {
        who: "B",
        hook: Hook::Exception,
        act: Act::Answer(410),
        path: "/raise/http404",
        status: StatusCode::GONE,
        body: Some("B.exception"),
        trace: "ABC.request ABC.view view CB.exception:Http404 CBA.response:410",
        ..ABC
    }
    .check();
}

#[test]
fn unanswered_exceptions_map_to_djangos_statuses_after_every_exception_hook() {
    let cases = [
        ("http404", "Http404", 404, "Not Found"),
        ("permission_denied", "PermissionDenied", 403, "Forbidden"),
        ("bad_request", "BadRequest", 400, "Bad Request"),
        ("suspicious", "SuspiciousOperation", 400, "Bad Request"),
        ("other", "Other", 500, "Internal Server Error"),
    ];
    for (path, kind, code, body) in cases {
        Case {
            path: &format!("/raise/{path}"),
            status: StatusCode::from_u16(code).unwrap(),
            body: Some(body),
            trace: &format!("ABC.request ABC.view view CBA.exception:{kind} CBA.response:{code}"),
            ..ABC
        }
        .check();
    }
}

#[test]
fn exception_raised_in_process_view_is_not_given_to_process_exception() {
    Case {
        who: "B",
        hook: Hook::View,
        act: Act::Raise(ExceptionKind::PermissionDenied),
        path: "/raise/http404",
        status: StatusCode::FORBIDDEN,
        body: Some("Forbidden"),
        trace: "ABC.request AB.view CBA.response:403",
        ..ABC
    }
    .check();
}

#[test]
fn exception_raised_in_process_request_skips_that_middlewares_own_response_hook() {
    Case {
        who: "B",
        hook: Hook::Request,
        act: Act::Raise(ExceptionKind::BadRequest),
        status: StatusCode::BAD_REQUEST,
        body: Some("Bad Request"),
        trace: "AB.request A.response:400",
        ..ABC
    }
    .check();
}

#[test]
fn exception_raised_in_process_response_is_converted_for_the_outer_middleware() {
    Case {
        who: "B",
        hook: Hook::Response,
        act: Act::Raise(ExceptionKind::Http404),
        status: StatusCode::NOT_FOUND,
        body: Some("Not Found"),
        trace: "ABC.request ABC.view view CB.response:200 A.response:404",
        ..ABC
    }
    .check();
}

#[test]
fn process_response_may_replace_the_response_for_the_outer_middleware() {
    Case {
        who: "C",
        hook: Hook::Response,
        act: Act::Answer(201),
        status: StatusCode::CREATED,
        body: Some("C.response"),
        trace: "C.response:200 BA.response:201",
        skip: 7,
        ..ABC
    }
    .check();
}

#[test]
fn exception_raised_in_process_exception_replaces_it_and_stops_the_loop() {
    Case {
        who: "C",
        hook: Hook::Exception,
        act: Act::Raise(ExceptionKind::PermissionDenied),
        path: "/raise/http404",
        status: StatusCode::FORBIDDEN,
        body: Some("Forbidden"),
        trace: "ABC.request ABC.view view C.exception:Http404 CBA.response:403",
        ..ABC
    }
    .check();
}

#[test]
fn template_response_hooks_run_bottom_up_before_rendering() {
    // The echo renderer shows the template and the order the hooks touched the context in.
    Case {
        path: "/template",
        body: Some("page.html|CBA|Hello"),
        trace: "ABC.request ABC.view view CBA.template CBA.response:200",
        ..ABC
    }
    .check();
}

#[test]
fn exception_raised_in_process_template_response_is_not_given_to_process_exception() {
    Case {
        who: "B",
        hook: Hook::Template,
        act: Act::Raise(ExceptionKind::Http404),
        path: "/template",
        status: StatusCode::NOT_FOUND,
        body: Some("Not Found"),
        trace: "ABC.request ABC.view view CB.template CBA.response:404",
        ..ABC
    }
    .check();
}

#[tokio::test]
async fn hooks_of_a_route_level_layer_and_of_an_outer_layer_nest_like_two_middleware_lists() {
    // An outer HooksLayer around the router sees the inner chain's finished response.
    let trace = Trace::default();
    let inner = HooksLayer::new().push(Rec::new("I", &trace));
    let outer = HooksLayer::new().push(Rec::new("O", &trace));
    let app = tower::Layer::layer(&outer, router(&trace).layer(inner));
    // The inner layer converts the exception; the outer one sees a plain 403 and has nothing to handle.
    let hooks =
        "O.request O.view I.request I.view view I.exception:PermissionDenied I.response:403 \
                 O.response:403";
    assert_eq!(
        sent(app, "/raise/permission_denied", &trace).await,
        (StatusCode::FORBIDDEN, "Forbidden".into(), ran(hooks))
    );
}
