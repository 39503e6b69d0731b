//! The page apps: one 10 KB page at `GET /page`, served plain, behind `HooksLayer`, and from the page
//! caches (ours on memory and Redis, axum-response-cache, tower-http-cache, hitbox); and a slow page at
//! `GET /slow/{n}` that counts its renders, for the cold-flight case (many requests for one page the
//! cache does not hold yet).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::header;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use tower::Layer as _;
use tower_django::cache::backends::MemoryBackend;
use tower_django::cache::Cache;
use tower_django::page::CachePageLayer;

use super::{boxed, boxed_fallible, hooks, App};

/// The cached page's path.
pub const PAGE_PATH: &str = "/page";

/// The page's size in bytes.
pub const PAGE_SIZE: usize = 10 * 1024;

/// How long the slow page takes to render: long enough that every request of a cold flight arrives
/// while the first is still rendering.
pub const RENDER_TIME: Duration = Duration::from_millis(300);

/// How long every cache keeps a page: longer than any run.
const LIFETIME: Duration = Duration::from_secs(600);

/// Entries the in-memory caches hold: every slow page of a run, with room to spare.
const CAPACITY: u64 = 10_000;

/// The page: 10 KB of HTML.
pub fn page() -> Bytes {
    let mut html = String::from("<!doctype html><html><head><title>bench</title></head><body>");
    while html.len() < PAGE_SIZE - 14 {
        html.push_str("<p>lorem ipsum dolor sit amet</p>");
    }
    html.truncate(PAGE_SIZE - 14);
    html.push_str("</body></html>");
    Bytes::from(html)
}

/// How many times an app's slow page was rendered.
#[derive(Debug, Clone, Default)]
pub struct Renders(Arc<AtomicU64>);

impl Renders {
    /// Renders so far.
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The routes every page app serves: `/page` at once, `/slow/{n}` after [`RENDER_TIME`], counted in
/// `renders`.
pub fn routes(page: Bytes, renders: &Renders) -> Router {
    let fast = page.clone();
    let renders = renders.clone();
    Router::new()
        .route(
            PAGE_PATH,
            get(move || {
                let page = fast.clone();
                async move { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page) }
            }),
        )
        .route(
            "/slow/{n}",
            get(move || {
                let page = page.clone();
                let renders = renders.clone();
                async move {
                    renders.0.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(RENDER_TIME).await;
                    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page)
                }
            }),
        )
}

/// The routes alone: the limit every other page app is measured against.
pub fn plain(routes: Router) -> App {
    boxed(routes)
}

/// The routes behind a `HooksLayer` of five middleware implementing every hook as a no-op.
pub fn hooks(routes: Router) -> App {
    boxed(routes.layer(hooks::noop_layer(5)))
}

/// Our page cache on `cache`, around the whole router (where Django's site-wide cache sits), with the
/// tags `site` and `articles` on every page when `tagged` (each hit then checks both).
pub fn ours(cache: Cache, tagged: bool, routes: Router) -> Result<App, String> {
    let layer = CachePageLayer::new(cache).timeout(LIFETIME);
    let layer = if tagged {
        layer
            .tag("site")
            .and_then(|layer| layer.tag("articles"))
            .map_err(|error| error.to_string())?
    } else {
        layer
    };
    Ok(boxed(layer.layer(routes)))
}

/// Our memory cache, with room for every page of a run.
pub fn memory_cache() -> Result<Cache, String> {
    let backend = MemoryBackend::builder()
        .max_entries(CAPACITY)
        .build()
        .map_err(|error| error.to_string())?;
    Ok(Cache::new(backend))
}

/// Our Redis cache on `url`, with the client-side cache (the recommended setup: a hit is answered from
/// process memory, kept coherent by Redis's invalidations) or without; its keys under a prefix of this
/// process, so that runs never share pages.
pub async fn redis_cache(url: &str, client_side_cache: bool) -> Result<Cache, String> {
    let url = if client_side_cache {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}client_side_cache={CAPACITY}")
    } else {
        url.to_owned()
    };
    let cache = Cache::from_url(&url)
        .await
        .map_err(|error| format!("redis at {url}: {error}"))?;
    Ok(cache
        .to_builder()
        .key_prefix(format!(
            "bench-load-{}-{client_side_cache}",
            std::process::id()
        ))
        .build())
}

/// axum-response-cache 0.5 around the router, as its README shows.
pub fn axum_response_cache(routes: Router) -> App {
    boxed(axum_response_cache::CacheLayer::with_lifespan(LIFETIME).layer(routes))
}

/// tower-http-cache 0.6 around the router on its in-memory backend, as its README shows. It needs a
/// response body that is `Sync`, which axum's is not: the router's responses are collected into
/// `Full<Bytes>` first (on a miss only; a hit never reaches the router).
pub fn tower_http_cache(routes: Router) -> App {
    use http_body_util::{BodyExt as _, Full};
    use tower::ServiceExt as _;
    use tower_http_cache::prelude::{CacheLayer, InMemoryBackend};
    let collected = tower::service_fn(move |request: axum::extract::Request| {
        let routes = routes.clone();
        async move {
            let Ok(response) = routes.oneshot(request).await;
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await?.to_bytes();
            Ok::<_, axum::Error>(axum::http::Response::from_parts(parts, Full::new(bytes)))
        }
    });
    let layer = CacheLayer::builder(InMemoryBackend::new(CAPACITY))
        .ttl(LIFETIME)
        .build();
    boxed_fallible(layer.layer(collected))
}

/// hitbox 0.2 around the router on its moka backend, keyed by method and path, with its dogpile
/// prevention on (one request renders, the others wait for it), as its README shows; values in bincode,
/// as its backend's documentation shows (its default, JSON, turns a 10 KB body into an array of numbers
/// on every hit: 0.03× plain).
pub fn hitbox(routes: Router) -> App {
    use hitbox::concurrency::BroadcastConcurrencyManager;
    use hitbox::policy::{ConcurrencyLimit, PolicyConfig};
    use hitbox::Config;
    use hitbox_http::extractors::path::PathExtractor as _;
    use hitbox_http::extractors::Method;
    use hitbox_http::predicates::{NeutralRequestPredicate, NeutralResponsePredicate};
    use hitbox_moka::MokaBackend;

    let backend = MokaBackend::builder()
        .max_entries(CAPACITY)
        .value_format(hitbox_backend::format::BincodeFormat)
        .build();
    let config = Config::builder()
        .request_predicate(NeutralRequestPredicate::new())
        .response_predicate(NeutralResponsePredicate::new())
        .extractor(Method::new().path("/{path}*"))
        .policy(
            PolicyConfig::builder()
                .ttl(LIFETIME)
                .concurrency(ConcurrencyLimit::MIN)
                .build(),
        )
        .build();
    let layer = hitbox_tower::Cache::builder()
        .backend(backend)
        .config(config)
        .concurrency_manager(BroadcastConcurrencyManager::new())
        .build();
    boxed(layer.layer(routes))
}
