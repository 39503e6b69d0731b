//! The page cache through real axum `Router`s, one check per rule, written once and run on every backend:
//! the memory backend always, Redis with `--features redis` and `TEST_REDIS_URL` (skipped when unset, a
//! failure with `TEST_REQUIRE_SERVERS=1`).

mod support;

use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Router};
use bytes::Bytes;
use cache_core::Cache;
use support::{fetch, header, req, responds, Counter};
use tower_cache_page::{CachePageLayer, PageInvalidator, VaryOnHeadersLayer};

/// A route at `/page` (and `/{*rest}`) whose handler counts its calls and answers `body {n}`, behind `layer`.
fn counted(counter: &Counter, layer: CachePageLayer) -> Router {
    let handler = counter.answers("body");
    Router::new()
        .route("/page", get(handler.clone()))
        .route("/{*rest}", get(handler))
        .layer(layer)
}

/// A handler returning whatever `respond` makes, counted.
fn responding<F, R>(counter: &Counter, layer: CachePageLayer, respond: F) -> Router
where
    F: Fn(usize, HeaderMap) -> R + Clone + Send + Sync + 'static,
    R: IntoResponse + Send + 'static,
{
    Router::new()
        .route("/page", responds(counter, respond))
        .layer(layer)
}

/// A route at `path` whose handler counts its calls, waits `delay`, then answers `respond(n)` for its
/// `n`th call; behind `layer`.
fn slow<R>(
    counter: &Counter,
    path: &str,
    delay: Duration,
    respond: fn(usize) -> R,
    layer: CachePageLayer,
) -> Router
where
    R: IntoResponse + Send + 'static,
{
    let c = counter.clone();
    let handler = move || {
        let n = c.hit();
        async move {
            tokio::time::sleep(delay).await;
            respond(n)
        }
    };
    Router::new().route(path, get(handler)).layer(layer)
}

/// `n` concurrent GETs of `path` through `app`.
fn spawn_gets(
    app: &Router,
    path: &'static str,
    n: usize,
) -> Vec<tokio::task::JoinHandle<(axum::http::Response<()>, Bytes)>> {
    (0..n)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { fetch(&app, req(path)).await })
        })
        .collect()
}

/// The second of two GETs of `/page` through `app`.
async fn second_get(app: &Router) -> (axum::http::Response<()>, Bytes) {
    fetch(app, req("/page")).await;
    fetch(app, req("/page")).await
}

macro_rules! page_suite {
    ($factory:path) => {
        page_suite!(@tests $factory;
            second_get_is_served_without_the_handler, post_is_not_stored, errors_are_not_stored,
            private_no_cache_no_store_are_not_stored, vary_star_is_not_stored,
            set_cookie_is_not_stored_unless_allowed, not_modified_is_not_stored,
            vary_keeps_languages_apart, absent_and_empty_headers_differ, query_and_host_are_in_the_key,
            head_after_get_hits, concurrent_cold_requests_run_the_handler_once,
            uncacheable_leader_lets_followers_run, cancelled_leader_does_not_hang_followers,
            streamed_10mb_body_passes_through, body_limit, extractors_work_behind_the_layer,
            timeout_precedence, entries_expire, age_on_hits, authorization_rules, invalidation,
            stale_while_revalidate, cache_status_values, zero_page_timeout_patches_only,
            whole_router_as_a_service, key_prefixes_separate_layers, writes_to_the_cache_are_seen_at_once);
    };
    (@tests $factory:path; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                if let Some(cache) = $factory(stringify!($check)) {
                    crate::checks::$check(cache).await;
                }
            }
        )*
    };
}

mod memory {
    page_suite!(crate::support::memory_cache);
}

#[cfg(feature = "redis")]
mod redis {
    page_suite!(crate::support::redis_cache);
}

/// Redis with the backend's client-side cache: hits are answered from process memory.
#[cfg(feature = "redis")]
mod redis_client_cache {
    page_suite!(crate::support::redis_client_cached_cache);
}

mod checks {
    use super::*;

    /// A page memoised by the layer is not served after the cache was cleared or the page overwritten
    /// through another handle of the same cache (in-process backends let hits skip the backend read
    /// until something is written).
    pub async fn writes_to_the_cache_are_seen_at_once(cache: Cache) {
        let counter = Counter::default();
        let app = counted(&counter, CachePageLayer::new(cache.clone()));
        for _ in 0..3 {
            fetch(&app, req("/page")).await;
        }
        assert_eq!(counter.get(), 1);
        cache.clear().await.expect("clear");
        fetch(&app, req("/page")).await;
        assert_eq!(counter.get(), 2, "a page cleared from the cache was served");
        fetch(&app, req("/page")).await;
        assert_eq!(counter.get(), 2, "the page was stored again");
    }

    pub async fn second_get_is_served_without_the_handler(cache: Cache) {
        let counter = Counter::default();
        let app = counted(&counter, CachePageLayer::new(cache));
        let (first, body1) = fetch(&app, req("/page")).await;
        let (second, body2) = fetch(&app, req("/page")).await;
        assert_eq!(counter.get(), 1, "the handler ran again");
        assert_eq!(body1, body2);
        assert_eq!(first.status(), StatusCode::OK);
        assert_eq!(second.status(), StatusCode::OK);
        assert_eq!(header(&first, "cache-control"), "max-age=600");
        assert_eq!(header(&second, "cache-control"), "max-age=600");
        assert!(!header(&second, "expires").is_empty());
        assert_eq!(
            header(&second, "expires"),
            header(&first, "expires"),
            "stored headers replayed"
        );
        assert_eq!(header(&second, "content-type"), "text/plain; charset=utf-8");
        assert_eq!(header(&second, "age"), "0");
        assert_eq!(header(&second, "content-length"), "6");
    }

    pub async fn post_is_not_stored(cache: Cache) {
        let counter = Counter::default();
        let app = Router::new()
            .route("/page", post(counter.answers("posted")))
            .layer(CachePageLayer::new(cache));
        let post = || axum::http::Request::post("/page").header("host", "testserver");
        let (_, a) = fetch(&app, post()).await;
        let (_, b) = fetch(&app, post()).await;
        assert_eq!((a, b), (Bytes::from("posted 1"), Bytes::from("posted 2")));
        assert_eq!(counter.get(), 2);
    }

    pub async fn errors_are_not_stored(cache: Cache) {
        for status in [
            StatusCode::NOT_FOUND,
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::CREATED,
        ] {
            let counter = Counter::default();
            let app = responding(
                &counter,
                CachePageLayer::new(cache.clone()).key_prefix(status.as_str()),
                move |n, _| (status, format!("error {n}")),
            );
            let (first, _) = fetch(&app, req("/page")).await;
            let (second, body) = fetch(&app, req("/page")).await;
            assert_eq!(first.status(), status);
            assert_eq!(second.status(), status);
            assert_eq!(body, format!("error 2"), "{status} was stored");
            assert_eq!(
                header(&second, "cache-control"),
                "",
                "{status}: headers must be unchanged"
            );
        }
    }

    pub async fn private_no_cache_no_store_are_not_stored(cache: Cache) {
        for directive in [
            "private",
            "no-cache",
            "no-store",
            "max-age=60, Private",
            "no-cache=\"Set-Cookie\"",
        ] {
            let counter = Counter::default();
            let app = responding(
                &counter,
                CachePageLayer::new(cache.clone()).key_prefix(directive),
                move |n, _| ([("cache-control", directive)], format!("v{n}")),
            );
            let (second, body) = second_get(&app).await;
            assert_eq!(body, "v2", "{directive}: stored");
            assert_eq!(
                header(&second, "cache-control"),
                directive,
                "{directive}: header changed"
            );
            assert!(header(&second, "expires").is_empty());
        }
    }

    pub async fn vary_star_is_not_stored(cache: Cache) {
        for vary in ["*", "Cookie, * , Pony"] {
            let counter = Counter::default();
            let app = responding(
                &counter,
                CachePageLayer::new(cache.clone()).key_prefix(vary),
                move |n, _| ([("vary", vary)], format!("v{n}")),
            );
            let (_, body) = second_get(&app).await;
            assert_eq!(body, "v2", "Vary: {vary} was stored");
        }
    }

    pub async fn set_cookie_is_not_stored_unless_allowed(cache: Cache) {
        let cookie = |n: usize, _| ([("set-cookie", "theme=dark; Path=/")], format!("v{n}"));
        let counter = Counter::default();
        let app = responding(
            &counter,
            CachePageLayer::new(cache.clone()).key_prefix("deny"),
            cookie,
        );
        let (second, body) = second_get(&app).await;
        assert_eq!(body, "v2", "a Set-Cookie response was stored by default");
        assert_eq!(header(&second, "set-cookie"), "theme=dark; Path=/");

        let counter = Counter::default();
        let layer = CachePageLayer::new(cache.clone())
            .key_prefix("allow")
            .allow_set_cookie(true);
        let app = responding(&counter, layer, cookie);
        let (second, body) = second_get(&app).await;
        assert_eq!(
            (body.as_ref(), counter.get()),
            (&b"v1"[..], 1),
            "allowed cookies: stored"
        );
        assert_eq!(
            header(&second, "set-cookie"),
            "theme=dark; Path=/",
            "cookies replayed"
        );

        // Even when allowed, a response that sets a cookie and varies on Cookie is not stored (Django).
        let counter = Counter::default();
        let layer = CachePageLayer::new(cache)
            .key_prefix("vary")
            .allow_set_cookie(true);
        let app = responding(&counter, layer, |n, _| {
            ([("set-cookie", "a=1"), ("vary", "Cookie")], format!("v{n}"))
        });
        let (_, body) = second_get(&app).await;
        assert_eq!(body, "v2");
    }

    pub async fn not_modified_is_not_stored(cache: Cache) {
        let counter = Counter::default();
        let app = responding(&counter, CachePageLayer::new(cache), |n, _| {
            if n == 1 {
                StatusCode::NOT_MODIFIED.into_response()
            } else {
                format!("v{n}").into_response()
            }
        });
        let (first, _) = fetch(&app, req("/page")).await;
        assert_eq!(first.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(
            header(&first, "cache-control"),
            "max-age=600",
            "304 headers are patched"
        );
        let (second, body) = fetch(&app, req("/page")).await;
        assert_eq!(
            (second.status(), body.as_ref()),
            (StatusCode::OK, &b"v2"[..]),
            "the 304 was stored"
        );
        let (_, body) = fetch(&app, req("/page")).await;
        assert_eq!(body, "v2", "the 200 after it is stored");
        assert_eq!(counter.get(), 2);
    }

    pub async fn vary_keeps_languages_apart(cache: Cache) {
        let counter = Counter::default();
        let hello = |_, headers: HeaderMap| {
            let lang = headers
                .get("accept-language")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none")
                .to_owned();
            format!("hello in {lang}")
        };
        let vary = VaryOnHeadersLayer::new(["Accept-Language"]).expect("valid header names");
        let app = Router::new()
            .route("/page", responds(&counter, hello).layer(vary))
            .layer(CachePageLayer::new(cache));
        let lang = |l: &str| req("/page").header("accept-language", l);
        let (_, en) = fetch(&app, lang("en")).await;
        let (_, fr) = fetch(&app, lang("fr")).await;
        let (en2_head, en2) = fetch(&app, lang("en")).await;
        let (_, fr2) = fetch(&app, lang("fr")).await;
        assert_eq!(
            (en.as_ref(), fr.as_ref()),
            (&b"hello in en"[..], &b"hello in fr"[..])
        );
        assert_eq!((en2, fr2), (en, fr));
        assert_eq!(header(&en2_head, "vary"), "Accept-Language");
        assert_eq!(counter.get(), 2, "each language rendered once");
    }

    pub async fn absent_and_empty_headers_differ(cache: Cache) {
        let counter = Counter::default();
        let app = responding(
            &counter,
            CachePageLayer::new(cache),
            |n, headers: HeaderMap| {
                let flag = match headers.get("x-flag") {
                    None => "absent".to_owned(),
                    Some(v) => format!("[{}]", v.to_str().unwrap_or("?")),
                };
                ([("vary", "X-Flag")], format!("{flag} {n}"))
            },
        );
        let (_, absent) = fetch(&app, req("/page")).await;
        let (_, empty) = fetch(&app, req("/page").header("x-flag", "")).await;
        assert_eq!(absent, "absent 1");
        assert_eq!(
            empty, "[] 2",
            "the empty header hit the absent header's page"
        );
        assert_eq!(fetch(&app, req("/page")).await.1, "absent 1");
        assert_eq!(
            fetch(&app, req("/page").header("x-flag", "")).await.1,
            "[] 2"
        );
        assert_eq!(counter.get(), 2);
    }

    pub async fn query_and_host_are_in_the_key(cache: Cache) {
        let counter = Counter::default();
        let app = counted(&counter, CachePageLayer::new(cache));
        let (_, a1) = fetch(&app, req("/page?a=1")).await;
        let (_, a2) = fetch(&app, req("/page?a=2")).await;
        assert_ne!(a1, a2, "?a=1 and ?a=2 are different pages");
        assert_eq!(fetch(&app, req("/page?a=1")).await.1, a1);
        assert_eq!(fetch(&app, req("/page?a=2")).await.1, a2);
        let other_host = axum::http::Request::get("/page?a=1").header("host", "other.example");
        assert_ne!(
            fetch(&app, other_host).await.1,
            a1,
            "hosts are different pages"
        );
        assert_eq!(counter.get(), 3);
    }

    pub async fn head_after_get_hits(cache: Cache) {
        let counter = Counter::default();
        let app = counted(&counter, CachePageLayer::new(cache));
        let (_, body) = fetch(&app, req("/page")).await;
        let (head, head_body) = fetch(
            &app,
            axum::http::Request::head("/page").header("host", "testserver"),
        )
        .await;
        assert_eq!(counter.get(), 1, "HEAD after GET ran the handler");
        assert_eq!(head.status(), StatusCode::OK);
        assert!(head_body.is_empty(), "HEAD has no body");
        assert_eq!(header(&head, "content-length"), body.len().to_string());

        // HEAD on a cold URL is stored under HEAD and served from there (Django's HEAD-key retry).
        let (_, _) = fetch(
            &app,
            axum::http::Request::head("/cold").header("host", "testserver"),
        )
        .await;
        let (again, body) = fetch(
            &app,
            axum::http::Request::head("/cold").header("host", "testserver"),
        )
        .await;
        assert_eq!(counter.get(), 2);
        assert!(body.is_empty());
        assert_eq!(header(&again, "content-length"), "6");
        // … but a GET never gets the HEAD entry.
        let (_, body) = fetch(&app, req("/cold")).await;
        assert_eq!(body, "body 3");
    }

    pub async fn concurrent_cold_requests_run_the_handler_once(cache: Cache) {
        let counter = Counter::default();
        let delay = Duration::from_millis(200);
        let layer = CachePageLayer::new(cache);
        let app = slow(&counter, "/slow", delay, |_| "x".repeat(10_000), layer);
        let tasks = spawn_gets(&app, "/slow", 200);
        for task in tasks {
            let (response, body) = match task.await {
                Ok(result) => result,
                Err(error) => panic!("request task failed: {error}"),
            };
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(body.len(), 10_000);
        }
        assert_eq!(
            counter.get(),
            1,
            "the handler ran more than once for one cold URL"
        );
    }

    pub async fn uncacheable_leader_lets_followers_run(cache: Cache) {
        let counter = Counter::default();
        let delay = Duration::from_millis(100);
        let private = |n| ([("cache-control", "private")], format!("yours {n}"));
        let app = slow(
            &counter,
            "/private",
            delay,
            private,
            CachePageLayer::new(cache),
        );
        let tasks = spawn_gets(&app, "/private", 10);
        let mut bodies = Vec::new();
        for task in tasks {
            bodies.push(task.await.map(|(_, body)| body).unwrap_or_default());
        }
        bodies.sort();
        bodies.dedup();
        assert_eq!(
            bodies.len(),
            10,
            "a private response was shared between requests"
        );
        assert_eq!(counter.get(), 10);
    }

    pub async fn cancelled_leader_does_not_hang_followers(cache: Cache) {
        let counter = Counter::default();
        let delay = Duration::from_millis(300);
        let app = slow(
            &counter,
            "/slow",
            delay,
            |_| "done",
            CachePageLayer::new(cache),
        );
        let leader = spawn_gets(&app, "/slow", 1);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let followers = spawn_gets(&app, "/slow", 5);
        tokio::time::sleep(Duration::from_millis(50)).await;
        leader.iter().for_each(tokio::task::JoinHandle::abort);
        for follower in followers {
            let joined = tokio::time::timeout(Duration::from_secs(5), follower).await;
            let body = joined.map(|joined| joined.map(|(_, body)| body));
            assert!(
                matches!(body, Ok(Ok(ref b)) if b == "done"),
                "a follower hung or failed: {body:?}"
            );
        }
        assert_eq!(counter.get(), 2, "one new leader after the cancelled one");
    }

    pub async fn streamed_10mb_body_passes_through(cache: Cache) {
        const CHUNK: usize = 64 * 1024;
        const CHUNKS: usize = 160; // 10 MiB
        let counter = Counter::default();
        let c = counter.clone();
        let app = Router::new()
            .route(
                "/big",
                get(move || async move {
                    c.hit();
                    let chunks = (0..CHUNKS).map(|i| {
                        Ok::<_, std::io::Error>(Bytes::from(vec![(i % 251) as u8; CHUNK]))
                    });
                    Body::from_stream(futures_util::stream::iter(chunks))
                }),
            )
            .layer(
                CachePageLayer::new(cache)
                    .max_body_size(1024 * 1024)
                    .cache_status("t")
                    .expect("a valid cache status name"),
            );
        for round in 1..=2 {
            let (response, body) = fetch(&app, req("/big")).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(body.len(), CHUNK * CHUNKS);
            assert!(body
                .chunks(CHUNK)
                .enumerate()
                .all(|(i, c)| c.iter().all(|b| usize::from(*b) == i % 251)));
            // A body of unknown size is never read for storing, whatever its length.
            assert_eq!(
                header(&response, "cache-status"),
                "t; fwd=uri-miss; detail=streaming"
            );
            assert_eq!(counter.get(), round, "the 10 MB body was stored");
        }
    }

    pub async fn body_limit(cache: Cache) {
        let counter = Counter::default();
        let c = counter.clone();
        let app = Router::new()
            .route(
                "/{size}",
                get(move |Path(size): Path<usize>| async move {
                    c.hit();
                    "y".repeat(size)
                }),
            )
            .layer(CachePageLayer::new(cache).max_body_size(1000));
        for _ in 0..2 {
            assert_eq!(fetch(&app, req("/1000")).await.1.len(), 1000);
            assert_eq!(fetch(&app, req("/1001")).await.1.len(), 1001);
        }
        assert_eq!(counter.get(), 3, "1000 bytes stored once, 1001 bytes never");
    }

    pub async fn extractors_work_behind_the_layer(cache: Cache) {
        #[derive(Clone)]
        struct AppState {
            greeting: &'static str,
        }
        let counter = Counter::default();
        let c = counter.clone();
        let app = Router::new()
            .route(
                "/users/{id}",
                get(
                    move |Path(id): Path<u32>,
                          State(state): State<AppState>,
                          matched: MatchedPath| async move {
                        c.hit();
                        format!("{} user {id} via {}", state.greeting, matched.as_str())
                    },
                )
                .layer(CachePageLayer::new(cache.clone()).key_prefix("route")),
            )
            .with_state(AppState { greeting: "hi" })
            .layer(CachePageLayer::new(cache).key_prefix("site"));
        assert_eq!(
            fetch(&app, req("/users/7")).await.1,
            "hi user 7 via /users/{id}"
        );
        assert_eq!(
            fetch(&app, req("/users/8")).await.1,
            "hi user 8 via /users/{id}"
        );
        assert_eq!(
            fetch(&app, req("/users/7")).await.1,
            "hi user 7 via /users/{id}"
        );
        assert_eq!(counter.get(), 2);
    }

    pub async fn timeout_precedence(cache: Cache) {
        // max-age from the response when the layer has no page timeout.
        let counter = Counter::default();
        let app = responding(
            &counter,
            CachePageLayer::new(cache.clone()).key_prefix("a"),
            |n, _| ([("cache-control", "max-age=1")], format!("v{n}")),
        );
        fetch(&app, req("/page")).await;
        assert_eq!(fetch(&app, req("/page")).await.1, "v1");
        tokio::time::sleep(Duration::from_millis(1_300)).await;
        assert_eq!(
            fetch(&app, req("/page")).await.1,
            "v2",
            "max-age=1 should have expired"
        );

        // The layer's timeout wins over max-age; the smaller max-age stays in the header (Django).
        let counter = Counter::default();
        let app = responding(
            &counter,
            CachePageLayer::new(cache.clone())
                .key_prefix("b")
                .timeout(Duration::from_secs(60)),
            |n, _| ([("cache-control", "max-age=1")], format!("v{n}")),
        );
        fetch(&app, req("/page")).await;
        tokio::time::sleep(Duration::from_millis(1_300)).await;
        let (response, body) = fetch(&app, req("/page")).await;
        assert_eq!(body, "v1", "the page timeout should win over max-age");
        assert_eq!(header(&response, "cache-control"), "max-age=1");

        // max-age=0: not stored, headers unchanged.
        let counter = Counter::default();
        let app = responding(
            &counter,
            CachePageLayer::new(cache).key_prefix("c"),
            |n, _| ([("cache-control", "max-age=0")], format!("v{n}")),
        );
        fetch(&app, req("/page")).await;
        let (response, body) = fetch(&app, req("/page")).await;
        assert_eq!(body, "v2");
        assert!(header(&response, "expires").is_empty());
    }

    pub async fn entries_expire(cache: Cache) {
        let counter = Counter::default();
        let app = counted(
            &counter,
            CachePageLayer::new(cache).timeout(Duration::from_secs(1)),
        );
        fetch(&app, req("/page")).await;
        fetch(&app, req("/page")).await;
        assert_eq!(counter.get(), 1);
        tokio::time::sleep(Duration::from_millis(1_300)).await;
        assert_eq!(fetch(&app, req("/page")).await.1, "body 2");
    }

    pub async fn age_on_hits(cache: Cache) {
        let counter = Counter::default();
        let app = counted(&counter, CachePageLayer::new(cache));
        let (first, _) = fetch(&app, req("/page")).await;
        assert!(header(&first, "age").is_empty(), "a miss has no Age");
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let (hit, _) = fetch(&app, req("/page")).await;
        let age: u64 = header(&hit, "age").parse().unwrap_or(0);
        assert!((1..=2).contains(&age), "Age {age}");
    }

    pub async fn authorization_rules(cache: Cache) {
        let auth = || req("/page").header("authorization", "Bearer secret");
        for (prefix, cc, stored, vary) in [
            ("none", None, false, ""),
            ("public", Some("public"), true, ""),
            ("smaxage", Some("s-maxage=60"), true, "Authorization"),
        ] {
            let counter = Counter::default();
            let app = responding(
                &counter,
                CachePageLayer::new(cache.clone()).key_prefix(prefix),
                move |n, _| {
                    let mut response = format!("v{n}").into_response();
                    if let Some(cc) = cc {
                        response
                            .headers_mut()
                            .insert("cache-control", axum::http::HeaderValue::from_static(cc));
                    }
                    response
                },
            );
            let (first, _) = fetch(&app, auth()).await;
            let (_, body) = fetch(&app, auth()).await;
            assert_eq!(body == "v1", stored, "{prefix}: stored={stored}");
            assert_eq!(header(&first, "vary"), vary, "{prefix}");
        }
    }

    pub async fn invalidation(cache: Cache) {
        let counter = Counter::default();
        let c = counter.clone();
        let layer = CachePageLayer::new(cache.clone()).header_list_memo(Duration::from_millis(300));
        let same_layer = layer.invalidator();
        let app = Router::new()
            .route(
                "/article",
                get(move |headers: HeaderMap| async move {
                    let n = c.hit();
                    let lang = headers
                        .get("accept-language")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-")
                        .to_owned();
                    ([("vary", "Accept-Language")], format!("{lang} {n}"))
                }),
            )
            .route(
                "/article/publish",
                post(|Extension(pages): Extension<PageInvalidator>| async move {
                    match pages.invalidate("testserver", "/article").await {
                        Ok(removed) => format!("removed={removed}"),
                        Err(error) => format!("error {error}"),
                    }
                }),
            )
            .layer(layer);
        let lang = |l: &str| req("/article").header("accept-language", l);
        assert_eq!(fetch(&app, lang("en")).await.1, "en 1");
        assert_eq!(fetch(&app, lang("fr")).await.1, "fr 2");
        assert_eq!(fetch(&app, lang("en")).await.1, "en 1");

        // From a handler: every variant goes at once.
        let publish = || axum::http::Request::post("/article/publish").header("host", "testserver");
        assert_eq!(fetch(&app, publish()).await.1, "removed=true");
        assert_eq!(
            fetch(&app, lang("en")).await.1,
            "en 3",
            "the English page survived invalidation"
        );
        assert_eq!(
            fetch(&app, lang("fr")).await.1,
            "fr 4",
            "the French page survived invalidation"
        );
        assert_eq!(fetch(&app, lang("fr")).await.1, "fr 4");

        // From outside a handler, by absolute URL, through the same layer: at once.
        assert!(matches!(
            same_layer.invalidate_url("http://testserver/article").await,
            Ok(true)
        ));
        assert!(same_layer.invalidate_url("/relative").await.is_err());
        assert_eq!(fetch(&app, lang("fr")).await.1, "fr 5");

        // Through a layer built elsewhere (as another process would): once the memo entry expires.
        let elsewhere = CachePageLayer::new(cache).invalidator();
        assert!(matches!(
            elsewhere.invalidate_url("http://testserver/article").await,
            Ok(true)
        ));
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(fetch(&app, lang("fr")).await.1, "fr 6");
    }

    pub async fn stale_while_revalidate(cache: Cache) {
        let counter = Counter::default();
        let layer = CachePageLayer::new(cache)
            .timeout(Duration::from_secs(1))
            .stale_while_revalidate(Duration::from_secs(30))
            .cache_status("t")
            .expect("a valid cache status name");
        let app = counted(&counter, layer);
        assert_eq!(fetch(&app, req("/page")).await.1, "body 1");
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        let (stale, body) = fetch(&app, req("/page")).await;
        assert_eq!(body, "body 1", "the stale page is served at once");
        assert!(
            header(&stale, "cache-status").starts_with("t; hit; ttl=-"),
            "{}",
            header(&stale, "cache-status")
        );
        // The refresh runs in the background, once.
        let mut refreshed = false;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let (response, body) = fetch(&app, req("/page")).await;
            if body == "body 2" {
                assert_eq!(header(&response, "cache-status"), "t; hit");
                refreshed = true;
                break;
            }
        }
        assert!(refreshed, "the stale page was not refreshed");
        assert_eq!(counter.get(), 2);
    }

    pub async fn cache_status_values(cache: Cache) {
        let counter = Counter::default();
        let app = counted(
            &counter,
            CachePageLayer::new(cache)
                .cache_status("edge")
                .expect("a valid cache status name"),
        );
        let status = |r: &axum::http::Response<()>| header(r, "cache-status").to_owned();
        assert_eq!(
            status(&fetch(&app, req("/page")).await.0),
            "edge; fwd=uri-miss; stored"
        );
        assert_eq!(status(&fetch(&app, req("/page")).await.0), "edge; hit");
        assert_eq!(
            status(&fetch(&app, req("/page?x")).await.0),
            "edge; fwd=uri-miss; stored"
        );
        let post = axum::http::Request::post("/page").header("host", "testserver");
        assert_eq!(status(&fetch(&app, post).await.0), "edge; fwd=method");
    }

    pub async fn zero_page_timeout_patches_only(cache: Cache) {
        let counter = Counter::default();
        let app = counted(&counter, CachePageLayer::new(cache).timeout(Duration::ZERO));
        let (response, _) = fetch(&app, req("/page")).await;
        assert_eq!(header(&response, "cache-control"), "max-age=0");
        assert!(!header(&response, "expires").is_empty());
        fetch(&app, req("/page")).await;
        assert_eq!(counter.get(), 2);
    }

    pub async fn whole_router_as_a_service(cache: Cache) {
        use tower::{Layer, ServiceExt};
        let counter = Counter::default();
        let c = counter.clone();
        let router = Router::new().route(
            "/{name}",
            get(move |Path(name): Path<String>| async move {
                c.hit();
                format!("hello {name}")
            }),
        );
        let service = CachePageLayer::new(cache).layer(router);
        for _ in 0..3 {
            let request = req("/world").body(Body::empty()).unwrap_or_default();
            let response = service.clone().oneshot(request).await;
            let body = match response {
                Ok(response) => http_body_util::BodyExt::collect(response.into_body())
                    .await
                    .map(|c| c.to_bytes()),
                Err(infallible) => match infallible {},
            };
            assert_eq!(body.ok().as_deref(), Some(&b"hello world"[..]));
        }
        assert_eq!(counter.get(), 1);
    }

    pub async fn key_prefixes_separate_layers(cache: Cache) {
        let counter = Counter::default();
        let a = counted(&counter, CachePageLayer::new(cache.clone()).key_prefix("a"));
        let b = counted(&counter, CachePageLayer::new(cache.clone()).key_prefix("b"));
        let a_again = counted(&counter, CachePageLayer::new(cache).key_prefix("a"));
        assert_eq!(fetch(&a, req("/page")).await.1, "body 1");
        assert_eq!(fetch(&b, req("/page")).await.1, "body 2");
        assert_eq!(
            fetch(&a_again, req("/page")).await.1,
            "body 1",
            "same prefix and cache share pages"
        );
    }
}
