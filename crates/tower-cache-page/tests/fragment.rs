//! The fragment cache from axum handlers, on every backend: Django's key vectors, coalescing, invalidation.

mod support;

use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::Router;
use cache_core::Cache;
use cache_core::{make_fragment_key, FragmentCache};
use support::{fetch, req, Counter};

#[derive(Clone)]
struct AppState {
    fragments: FragmentCache,
    renders: Counter,
}

/// A page whose sidebar fragment varies on the user id and is slow to render.
async fn page(State(state): State<AppState>, Path(user): Path<u32>) -> String {
    let renders = state.renders.clone();
    let sidebar = state
        .fragments
        .get_or_render(
            "sidebar",
            &[&user, &"en"],
            Duration::from_secs(60),
            || async move {
                renders.hit();
                tokio::time::sleep(Duration::from_millis(100)).await;
                format!("<aside>user {user}</aside>")
            },
        )
        .await;
    format!("<main>{sidebar}</main>")
}

async fn forget(State(state): State<AppState>, Path(user): Path<u32>) -> String {
    match state.fragments.invalidate("sidebar", &[&user, &"en"]).await {
        Ok(removed) => format!("removed={removed}"),
        Err(error) => format!("error: {error}"),
    }
}

fn app(cache: Cache) -> (Router, Counter) {
    let renders = Counter::default();
    let state = AppState {
        fragments: FragmentCache::new(cache),
        renders: renders.clone(),
    };
    let router = Router::new()
        .route("/users/{id}", get(page))
        .route("/users/{id}/forget", post(forget))
        .with_state(state);
    (router, renders)
}

macro_rules! fragment_suite {
    ($factory:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn rendered_once_per_vary_on_value() {
            let Some(cache) = $factory("fragment-once") else {
                return;
            };
            let (app, renders) = crate::app(cache);
            for _ in 0..2 {
                assert_eq!(
                    crate::fetch(&app, crate::req("/users/1")).await.1,
                    "<main><aside>user 1</aside></main>"
                );
                assert_eq!(
                    crate::fetch(&app, crate::req("/users/2")).await.1,
                    "<main><aside>user 2</aside></main>"
                );
            }
            assert_eq!(renders.get(), 2);
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn concurrent_handlers_render_once() {
            let Some(cache) = $factory("fragment-coalesce") else {
                return;
            };
            let (app, renders) = crate::app(cache);
            let app = std::sync::Arc::new(app);
            let tasks: Vec<_> = (0..50)
                .map(|_| {
                    let app = std::sync::Arc::clone(&app);
                    tokio::spawn(async move { crate::fetch(&app, crate::req("/users/9")).await.1 })
                })
                .collect();
            for task in tasks {
                assert_eq!(
                    task.await.ok().as_deref(),
                    Some(&b"<main><aside>user 9</aside></main>"[..])
                );
            }
            assert_eq!(renders.get(), 1);
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn invalidation_from_a_handler() {
            let Some(cache) = $factory("fragment-invalidate") else {
                return;
            };
            let (app, renders) = crate::app(cache.clone());
            crate::fetch(&app, crate::req("/users/3")).await;
            let forget = axum::http::Request::post("/users/3/forget").header("host", "testserver");
            assert_eq!(crate::fetch(&app, forget).await.1, "removed=true");
            crate::fetch(&app, crate::req("/users/3")).await;
            assert_eq!(renders.get(), 2);
            // The entry lives under Django's key, through the cache's own prefix and version.
            let key = crate::make_fragment_key("sidebar", &[&3, &"en"]);
            assert!(key.starts_with("template.cache.sidebar."));
            let stored = cache.get_bytes(&key).await.ok().flatten();
            assert_eq!(stored.as_deref(), Some(&b"<aside>user 3</aside>"[..]));
        }
    };
}

mod memory {
    fragment_suite!(crate::support::memory_cache);
}

#[cfg(feature = "redis")]
mod redis {
    fragment_suite!(crate::support::redis_cache);
}

#[test]
fn django_fragment_key_vectors() {
    let x = "x".repeat(10_000);
    assert_eq!(
        make_fragment_key("a.fragment", &[]),
        "template.cache.a.fragment.d41d8cd98f00b204e9800998ecf8427e"
    );
    assert_eq!(
        make_fragment_key("foo", &[&"abc"]),
        "template.cache.foo.493e283d571a73056196f1a68efd0f66"
    );
    assert_eq!(
        make_fragment_key("bar", &[&"abc", &"def"]),
        "template.cache.bar.17c1a507a0cb58384f4c639067a93520"
    );
    assert_eq!(
        make_fragment_key("spam", &[&"abc:def%"]),
        "template.cache.spam.06c8ae8e8c430b69fb0a6443504153dc"
    );
    assert_eq!(
        make_fragment_key("foo", &[&1, &2, &3, &4, &5]),
        "template.cache.foo.7ae8fd2e0d25d651c683bdeebdb29461"
    );
    assert_eq!(
        make_fragment_key("foo", &[&"42º", &"😀"]),
        "template.cache.foo.7ced1c94e543668590ba39b3c08b0237"
    );
    assert_eq!(
        make_fragment_key("foo", &[&x]),
        "template.cache.foo.3670b349b5124aa56bdb50678b02b23a"
    );
}
