//! The layer around a plain `tower::Service<http::Request<B>>`, no axum router: view information is absent,
//! service errors are exceptions.

mod common;

use std::convert::Infallible;

use axum::body::Body;
use common::{seq, Rec, Spy, Trace};
use http::{Request as HttpRequest, Response as HttpResponse, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};
use tower_hooks::{ExceptionKind, HooksLayer};

/// Records what `process_view` and `process_exception` are given.
fn view_spy(trace: &Trace) -> Spy {
    Spy {
        exception: Some(|e| format!("exception {e}")),
        ..Spy::views(trace, |view| {
            format!(
                "route={:?} name={:?} params={}",
                view.route(),
                view.name(),
                view.params().count()
            )
        })
    }
}

#[tokio::test]
async fn works_on_any_service_with_any_body_types_and_no_view_information() {
    let trace = Trace::default();
    let t = trace.clone();
    // A service with its own request and response body types (`String` in, `Full<Bytes>` out).
    let inner = service_fn(move |req: HttpRequest<Body>| {
        let t = t.clone();
        async move {
            t.push("view");
            let body = req
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>(HttpResponse::new(Full::new(body)))
        }
    });
    let svc = ServiceBuilder::new()
        .layer(
            HooksLayer::new()
                .push(Rec::new("A", &trace))
                .push(view_spy(&trace)),
        )
        .service(inner);

    let req = HttpRequest::builder()
        .uri("/echo")
        .body(String::from("hello"))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"hello");
    assert_eq!(
        trace.take(),
        seq(&[
            "A.request",
            "A.view",
            "route=None name=None params=0",
            "view",
            "A.response:200"
        ])
    );
}

#[tokio::test]
async fn an_error_from_the_inner_service_is_an_exception_and_a_500() {
    let trace = Trace::default();
    let inner = service_fn(|_req: HttpRequest<Body>| async {
        Err::<HttpResponse<Body>, _>(std::io::Error::other("upstream refused"))
    });
    let svc = HooksLayer::new().push(view_spy(&trace)).layer(inner);
    let res = svc.oneshot(HttpRequest::new(Body::empty())).await.unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        trace.take(),
        seq(&[
            "route=None name=None params=0",
            "exception Exception: upstream refused"
        ])
    );
}

#[tokio::test]
async fn a_panic_while_calling_the_inner_service_synchronously_is_caught() {
    common::quiet_panics();
    #[derive(Clone)]
    struct PanicsInCall;
    impl tower::Service<HttpRequest<Body>> for PanicsInCall {
        type Response = HttpResponse<Body>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Self::Response, Infallible>>;
        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Infallible>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: HttpRequest<Body>) -> Self::Future {
            panic!("call() panicked on purpose")
        }
    }
    let trace = Trace::default();
    let kind = Spy::exceptions(&trace, |e| {
        format!("{:?} {}", e.kind(), e.message().unwrap_or(""))
    });
    let svc = HooksLayer::new().push(kind).layer(PanicsInCall);
    let res = svc.oneshot(HttpRequest::new(Body::empty())).await.unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        trace.take(),
        seq(&["Panic panic in the view: call() panicked on purpose"])
    );
    assert_eq!(
        ExceptionKind::Panic.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
}
