//! The header layers and `ConditionalGetLayer` through real axum `Router`s.

mod support;

use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use support::{fetch, header, memory_cache, req, Counter};
use tower_cache_page::{
    CacheControlLayer, CacheDirectives, CachePageLayer, ConditionalGetLayer, NeverCacheLayer,
    VaryOnHeadersLayer,
};

const LAST_MODIFIED: &str = "Sat, 12 Feb 2011 17:38:44 GMT";

fn conditional_app() -> Router {
    Router::new()
        .route("/plain", get(|| async { "content" }))
        .route("/empty", get(|| async { "" }))
        .route(
            "/tagged",
            get(|| async {
                (
                    [
                        ("etag", "\"v1\""),
                        ("set-cookie", "a=1"),
                        ("content-location", "/x"),
                    ],
                    "tagged",
                )
            }),
        )
        .route("/weak", get(|| async { ([("etag", "W/\"v1\"")], "weak") }))
        .route(
            "/dated",
            get(|| async { ([("last-modified", LAST_MODIFIED)], "dated") }),
        )
        .route(
            "/no-store",
            get(|| async { ([("cache-control", "no-store")], "secret") }),
        )
        .route(
            "/missing",
            get(|| async { (StatusCode::NOT_FOUND, [("etag", "\"v1\"")], "nope") }),
        )
        .route(
            "/stream",
            get(|| async {
                let chunks = (0..3).map(|_| Ok::<_, std::io::Error>(Bytes::from_static(b"chunk")));
                Body::from_stream(futures_util::stream::iter(chunks))
            }),
        )
        .route("/form", post(|| async { ([("etag", "\"v1\"")], "posted") }))
        .layer(ConditionalGetLayer::new())
}

#[tokio::test]
async fn etag_is_the_md5_of_the_body() {
    let app = conditional_app();
    let (response, body) = fetch(&app, req("/plain")).await;
    assert_eq!(body, "content");
    // md5("content")
    assert_eq!(
        header(&response, "etag"),
        "\"9a0364b9e99bb480dd25e1f0284c8555\""
    );
    for (path, etag, why) in [
        ("/empty", "", "no ETag for an empty body"),
        ("/no-store", "", "no ETag with no-store"),
        ("/stream", "", "no ETag for a stream"),
        ("/tagged", "\"v1\"", "an existing ETag is kept"),
    ] {
        assert_eq!(
            header(&fetch(&app, req(path)).await.0, "etag"),
            etag,
            "{why}"
        );
    }
}

#[tokio::test]
async fn if_none_match_gives_304_with_the_right_headers() {
    let app = conditional_app();
    let (response, body) = fetch(&app, req("/tagged").header("if-none-match", "\"v1\"")).await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(header(&response, "etag"), "\"v1\"");
    assert_eq!(
        header(&response, "set-cookie"),
        "a=1",
        "cookies are kept on a 304"
    );
    assert_eq!(header(&response, "content-location"), "/x");
    assert_eq!(
        header(&response, "content-type"),
        "",
        "no Content-Type on a 304"
    );
    // Weak comparison, lists and `*`.
    for value in ["W/\"v1\"", "\"zzz\", \"v1\"", "*"] {
        let (response, _) = fetch(&app, req("/tagged").header("if-none-match", value)).await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{value}");
    }
    let (response, _) = fetch(&app, req("/weak").header("if-none-match", "\"v1\"")).await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    let (response, body) = fetch(&app, req("/tagged").header("if-none-match", "\"v2\"")).await;
    assert_eq!(
        (response.status(), body.as_ref()),
        (StatusCode::OK, &b"tagged"[..])
    );
    // With the computed ETag.
    let (response, _) = fetch(&app, req("/plain")).await;
    let etag = header(&response, "etag").to_owned();
    let (response, _) = fetch(&app, req("/plain").header("if-none-match", etag)).await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn if_match_and_if_unmodified_since_give_412() {
    let app = conditional_app();
    let (response, _) = fetch(&app, req("/tagged").header("if-match", "\"v2\"")).await;
    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    let (response, _) = fetch(&app, req("/tagged").header("if-match", "\"v1\"")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (response, _) = fetch(&app, req("/weak").header("if-match", "W/\"v1\"")).await;
    assert_eq!(
        response.status(),
        StatusCode::PRECONDITION_FAILED,
        "weak ETags never match strongly"
    );
    let (response, _) = fetch(
        &app,
        req("/dated").header("if-unmodified-since", "Sat, 12 Feb 2011 17:38:43 GMT"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    let (response, _) = fetch(
        &app,
        req("/dated").header("if-unmodified-since", LAST_MODIFIED),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn if_modified_since() {
    let app = conditional_app();
    for (since, status) in [
        (LAST_MODIFIED, StatusCode::NOT_MODIFIED),
        ("Sun, 13 Feb 2011 17:38:44 GMT", StatusCode::NOT_MODIFIED),
        ("Sat, 12 Feb 2011 17:38:43 GMT", StatusCode::OK),
        ("Saturday, 12-Feb-11 17:38:44 GMT", StatusCode::NOT_MODIFIED),
        ("Sat Feb 12 17:38:44 2011", StatusCode::NOT_MODIFIED),
        ("garbage", StatusCode::OK),
    ] {
        let (response, _) = fetch(&app, req("/dated").header("if-modified-since", since)).await;
        assert_eq!(response.status(), status, "{since}");
    }
}

#[tokio::test]
async fn only_2xx_get_is_conditional() {
    let app = conditional_app();
    let (response, _) = fetch(&app, req("/missing").header("if-none-match", "\"v1\"")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let post = axum::http::Request::post("/form")
        .header("host", "testserver")
        .header("if-none-match", "\"v1\"");
    assert_eq!(fetch(&app, post).await.0.status(), StatusCode::OK);
    let head = axum::http::Request::head("/tagged")
        .header("host", "testserver")
        .header("if-none-match", "\"v1\"");
    assert_eq!(
        fetch(&app, head).await.0.status(),
        StatusCode::OK,
        "HEAD passes through, as in Django"
    );
}

#[tokio::test]
async fn conditional_outside_the_page_cache_revalidates_hits() {
    let Some(cache) = memory_cache("conditional-outside") else {
        return;
    };
    let counter = Counter::default();
    let app = Router::new()
        .route("/page", get(counter.answers("page")))
        .layer(CachePageLayer::new(cache))
        .layer(ConditionalGetLayer::new());
    let (first, _) = fetch(&app, req("/page")).await;
    let etag = header(&first, "etag").to_owned();
    let (hit, body) = fetch(&app, req("/page").header("if-none-match", etag.as_str())).await;
    assert_eq!(hit.status(), StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(
        header(&hit, "cache-control"),
        "max-age=600",
        "the 304 keeps Cache-Control"
    );
    assert_eq!(counter.get(), 1);
}

#[tokio::test]
async fn never_cache_layer() {
    let app = Router::new().route(
        "/account",
        get(|| async { ([("cache-control", "public, max-age=3600")], "me") })
            .layer(NeverCacheLayer::new()),
    );
    let (response, _) = fetch(&app, req("/account")).await;
    assert_eq!(
        header(&response, "cache-control"),
        "max-age=0, no-cache, no-store, must-revalidate, private"
    );
    assert!(!header(&response, "expires").is_empty());
}

#[tokio::test]
async fn never_cache_keeps_pages_out_of_the_page_cache() {
    let Some(cache) = memory_cache("never") else {
        return;
    };
    let counter = Counter::default();
    let account = get(counter.answers("me")).layer(NeverCacheLayer::new());
    let app = Router::new()
        .route("/account", account)
        .layer(CachePageLayer::new(cache));
    fetch(&app, req("/account")).await;
    assert_eq!(fetch(&app, req("/account")).await.1, "me 2");
}

#[tokio::test]
async fn cache_control_layer_merges() {
    let layer = CacheControlLayer::new(
        CacheDirectives::new()
            .public()
            .max_age(Duration::from_secs(60)),
    );
    let app = Router::new()
        .route(
            "/a",
            get(|| async { ([("cache-control", "private, max-age=600")], "a") }),
        )
        .route("/b", get(|| async { "b" }))
        .layer(layer);
    assert_eq!(
        header(&fetch(&app, req("/a")).await.0, "cache-control"),
        "max-age=60, public"
    );
    assert_eq!(
        header(&fetch(&app, req("/b")).await.0, "cache-control"),
        "public, max-age=60"
    );
}

#[tokio::test]
async fn vary_layers() {
    let app = Router::new()
        .route(
            "/cookie",
            get(|| async { ([("vary", "Accept-Encoding")], "c") })
                .layer(VaryOnHeadersLayer::cookie()),
        )
        .route(
            "/many",
            get(|| async { "m" }).layer(
                VaryOnHeadersLayer::new(["Accept-Language", "accept-language", "X-Y"])
                    .expect("valid header names"),
            ),
        );
    assert_eq!(
        header(&fetch(&app, req("/cookie")).await.0, "vary"),
        "Accept-Encoding, Cookie"
    );
    assert_eq!(
        header(&fetch(&app, req("/many")).await.0, "vary"),
        "Accept-Language, X-Y"
    );
}
