//! Invalidation with deterministic (Django) page keys: a response that was being made while its URL was
//! invalidated is not stored, whether the invalidation came through the same layer or another one on the
//! same cache; and every variant stored before is a miss afterwards.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use cache_core::backends::MemoryBackend;
use cache_core::Cache;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use tokio::sync::{mpsc, Semaphore};
use tower::util::BoxCloneService;
use tower::{Layer, ServiceExt};
use tower_cache_page::{CachePageLayer, PageInvalidator};

type Service = BoxCloneService<Request<Empty<Bytes>>, Response<String>, Infallible>;

/// A handler that varies on `Accept-Language`, counts its calls, and holds the ones for `gated` until
/// the test lets them go.
struct Handler {
    calls: Arc<AtomicUsize>,
    started: mpsc::UnboundedReceiver<()>,
    go: Arc<Semaphore>,
}

fn app(layer: &CachePageLayer) -> (Service, Handler) {
    let calls = Arc::new(AtomicUsize::new(0));
    let (started_tx, started) = mpsc::unbounded_channel();
    let go = Arc::new(Semaphore::new(0));
    let (c, g) = (Arc::clone(&calls), Arc::clone(&go));
    let inner = tower::service_fn(move |request: Request<Empty<Bytes>>| {
        let (calls, go, started) = (Arc::clone(&c), Arc::clone(&g), started_tx.clone());
        async move {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            if request.headers().contains_key("gated") {
                let _ = started.send(());
                if let Ok(permit) = go.acquire().await {
                    permit.forget();
                }
            }
            let lang = request
                .headers()
                .get("accept-language")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned();
            let mut response = Response::new(Full::new(Bytes::from(format!("{lang} {n}"))));
            response
                .headers_mut()
                .insert("vary", http::HeaderValue::from_static("Accept-Language"));
            Ok::<_, Infallible>(response)
        }
    });
    let service = layer.layer(inner).map_response(|response: Response<_>| {
        let (parts, body) = response.into_parts();
        (parts, body)
    });
    let service = service.and_then(|(parts, body): (http::response::Parts, _)| async move {
        let bytes = BodyExt::collect(body)
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let status = parts
            .headers
            .get("cache-status")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok::<_, Infallible>(Response::new(format!(
            "{}|{status}",
            String::from_utf8_lossy(&bytes)
        )))
    });
    (
        BoxCloneService::new(service),
        Handler { calls, started, go },
    )
}

fn get(lang: &str, gated: bool) -> Request<Empty<Bytes>> {
    let mut request = Request::get("/article")
        .header("host", "testserver")
        .header("accept-language", lang);
    if gated {
        request = request.header("gated", "1");
    }
    request.body(Empty::new()).unwrap_or_default()
}

/// The body and the `Cache-Status` of a response.
fn fetch(
    service: &Service,
    request: Request<Empty<Bytes>>,
) -> impl std::future::Future<Output = (String, String)> + Send {
    let service = service.clone();
    async move {
        let Ok(response) = service.oneshot(request).await;
        let text = response.into_body();
        let (body, status) = text.split_once('|').unwrap_or((&text, ""));
        (body.to_owned(), status.to_owned())
    }
}

fn layer(cache: &Cache) -> CachePageLayer {
    CachePageLayer::new(cache.clone())
        .cache_status("t")
        .expect("a valid name")
}

/// Starts a gated request, invalidates while its handler runs, lets it finish: its response is served
/// but not stored.
async fn invalidated_in_flight(
    service: &Service,
    handler: &mut Handler,
    lang: &str,
    invalidator: &PageInvalidator,
) -> (String, String) {
    let in_flight = tokio::spawn(fetch(service, get(lang, true)));
    handler.started.recv().await.expect("the handler started");
    invalidator
        .invalidate("testserver", "/article")
        .await
        .expect("invalidated");
    handler.go.add_permits(1);
    in_flight.await.expect("the request finished")
}

#[tokio::test]
async fn a_response_made_across_an_invalidation_is_not_stored() {
    let cache = Cache::new(MemoryBackend::new());
    let layer = layer(&cache);
    let (service, mut handler) = app(&layer);

    // No list yet: the request phase saw nothing, the store finds the invalidation mark.
    let (body, status) =
        invalidated_in_flight(&service, &mut handler, "en", &layer.invalidator()).await;
    assert_eq!(body, "en 1");
    assert!(status.contains("detail=invalidated"), "{status}");
    assert_eq!(fetch(&service, get("en", false)).await.0, "en 2");
    assert_eq!(
        fetch(&service, get("en", false)).await.0,
        "en 2",
        "stored again after"
    );

    // A list learnt before: the store finds another generation.
    let (body, status) =
        invalidated_in_flight(&service, &mut handler, "fr", &layer.invalidator()).await;
    assert_eq!(body, "fr 3");
    assert!(status.contains("detail=invalidated"), "{status}");
    assert_eq!(fetch(&service, get("fr", false)).await.0, "fr 4");
    assert_eq!(
        fetch(&service, get("en", false)).await.0,
        "en 5",
        "the English page survived the invalidation"
    );
    assert_eq!(fetch(&service, get("fr", false)).await.0, "fr 4");
    assert_eq!(fetch(&service, get("en", false)).await.0, "en 5");
    assert_eq!(handler.calls.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn another_layer_on_the_same_cache_invalidates() {
    let cache = Cache::new(MemoryBackend::new());
    // No memo here, so the other layer's invalidation is seen at once.
    let layer = layer(&cache).header_list_memo(std::time::Duration::ZERO);
    let (service, mut handler) = app(&layer);
    let elsewhere = CachePageLayer::new(cache.clone())
        .key_prefix("")
        .invalidator();

    assert_eq!(fetch(&service, get("en", false)).await.0, "en 1");
    assert_eq!(fetch(&service, get("de", false)).await.0, "de 2");
    assert_eq!(fetch(&service, get("en", false)).await.0, "en 1");
    let (body, status) = invalidated_in_flight(&service, &mut handler, "fr", &elsewhere).await;
    assert_eq!(body, "fr 3");
    assert!(status.contains("detail=invalidated"), "{status}");
    assert_eq!(fetch(&service, get("en", false)).await.0, "en 4");
    assert_eq!(fetch(&service, get("de", false)).await.0, "de 5");
    assert_eq!(fetch(&service, get("fr", false)).await.0, "fr 6");
    assert_eq!(fetch(&service, get("fr", false)).await.0, "fr 6");
    assert!(matches!(
        elsewhere.invalidate_url("http://testserver/article").await,
        Ok(true)
    ));
    assert!(
        matches!(
            elsewhere.invalidate_url("http://testserver/article").await,
            Ok(false)
        ),
        "a mark is not a learnt list"
    );
    assert_eq!(fetch(&service, get("fr", false)).await.0, "fr 7");
}

/// Pages are stored under Django's keys, the same before and after an invalidation: the old entry is
/// still there, but carries the old generation, and is overwritten by the next store.
#[tokio::test]
async fn old_entries_are_overwritten_under_the_same_key() {
    // md5("http://testserver/article") and md5("en"), as Django keys the English page.
    const HEADER_KEY: &str =
        ":1:views.decorators.cache.cache_header..85a7596522d61d5e06e0f550270c5c7e";
    const PAGE_KEY: &str = ":1:views.decorators.cache.cache_page..GET.85a7596522d61d5e06e0f550270c5c7e.9cfefed8fb9497baa5cd519d7d2bb5d7";
    let cache = Cache::new(MemoryBackend::new());
    let layer = layer(&cache);
    let (service, _handler) = app(&layer);
    let stored = |needle: &'static [u8]| {
        let cache = cache.clone();
        async move {
            let blob = cache
                .raw()
                .get(PAGE_KEY)
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
            blob.windows(needle.len()).any(|w| w == needle)
        }
    };
    assert_eq!(fetch(&service, get("en", false)).await.0, "en 1");
    assert!(stored(b"en 1").await);
    layer
        .invalidator()
        .invalidate("testserver", "/article")
        .await
        .expect("invalidated");
    assert!(
        stored(b"en 1").await,
        "the old entry stays until overwritten"
    );
    let (body, status) = fetch(&service, get("en", false)).await;
    assert_eq!(body, "en 2");
    assert!(status.contains("fwd=uri-miss"), "{status}");
    assert!(stored(b"en 2").await, "overwritten under the same key");
    let (body, status) = fetch(&service, get("en", false)).await;
    assert_eq!(body, "en 2");
    assert!(status.contains("hit"), "{status}");
    assert!(cache.raw().get(HEADER_KEY).await.ok().flatten().is_some());
}

/// After an invalidation the list is learnt again under a new generation: a variant stored before it is
/// a miss even though the list (same names) is back.
#[tokio::test]
async fn variants_stay_unreachable_after_the_list_is_learnt_again() {
    let cache = Cache::new(MemoryBackend::new());
    let layer = layer(&cache);
    let (service, _handler) = app(&layer);
    assert_eq!(fetch(&service, get("en", false)).await.0, "en 1");
    assert_eq!(fetch(&service, get("fr", false)).await.0, "fr 2");
    layer
        .invalidator()
        .invalidate("testserver", "/article")
        .await
        .expect("invalidated");
    assert_eq!(fetch(&service, get("en", false)).await.0, "en 3");
    let (body, status) = fetch(&service, get("fr", false)).await;
    assert_eq!(
        body, "fr 4",
        "the French page of the old generation was served"
    );
    assert!(status.contains("fwd=miss"), "{status}");
    assert_eq!(fetch(&service, get("fr", false)).await.0, "fr 4");
    assert_eq!(fetch(&service, get("en", false)).await.0, "en 3");
}
