//! [`ConditionalGetLayer`] and its settings.

use tower_layer::Layer;

use super::service::ConditionalGetService;

/// The largest body an ETag is computed for by default.
pub(crate) const DEFAULT_MAX_ETAG_BODY: usize = 1024 * 1024;

/// Django's `ConditionalGetMiddleware`: answers GET requests with 304 Not Modified or 412 Precondition
/// Failed when their conditional headers say so.
///
/// For GET requests only (as Django; HEAD and other methods pass through untouched):
///
/// 1. unless `Cache-Control` has a `no-store` directive or the response has an `ETag`, an ETag is set to
///    the quoted MD5 of the body, for non-empty bodies of known size up to
///    [`max_etag_body_size`](Self::max_etag_body_size); a body of unknown size (a stream: server-sent
///    events, long polling) gets none and is handed on unread, frame by frame as it is produced;
/// 2. for a 2xx response with an `ETag` or a parseable `Last-Modified`, RFC 9110 §13.2.2 in order:
///    `If-Match` fails (strong comparison; a weak ETag never matches; `*` matches any) → **412**;
///    `If-Unmodified-Since` (without `If-Match`) earlier than `Last-Modified`, or no `Last-Modified` →
///    **412**; `If-None-Match` matches (weak comparison; `*` matches any) → **304**; `If-Modified-Since`
///    (without `If-None-Match`) not earlier than `Last-Modified` → **304**.
///
/// A 304 keeps `Cache-Control`, `Content-Location`, `Date`, `ETag`, `Expires`, `Last-Modified`, `Vary` and
/// every `Set-Cookie`, and has no body.
///
/// ```
/// use axum::{routing::get, Router};
/// use tower_cache_page::ConditionalGetLayer;
///
/// let app: Router = Router::new()
///     .route("/", get(|| async { "a page worth revalidating" }))
///     .layer(ConditionalGetLayer::new());
/// # let _ = app;
/// ```
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct ConditionalGetLayer {
    max_etag_body: usize,
}

impl Default for ConditionalGetLayer {
    fn default() -> Self {
        ConditionalGetLayer::new()
    }
}

impl ConditionalGetLayer {
    /// The layer, computing ETags for bodies up to 1 MiB.
    pub fn new() -> Self {
        ConditionalGetLayer {
            max_etag_body: DEFAULT_MAX_ETAG_BODY,
        }
    }

    /// The largest body (of known size) an ETag is computed for.
    pub fn max_etag_body_size(mut self, bytes: usize) -> Self {
        self.max_etag_body = bytes;
        self
    }
}

impl<S> Layer<S> for ConditionalGetLayer {
    type Service = ConditionalGetService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConditionalGetService::new(inner, self.max_etag_body)
    }
}
