//! [`VaryOnHeadersLayer`]: Django's `@vary_on_headers(...)` and `@vary_on_cookie`.

use std::sync::Arc;

use tower_layer::Layer;

use super::patch::Patch;
use super::service::VaryOnHeadersService;
use crate::setting::{is_token, InvalidSetting};

/// Adds request header names to every response's `Vary` header by the rules of
/// [`patch_vary_headers`](crate::patch_vary_headers). Put it inside a
/// [`CachePageLayer`](crate::CachePageLayer) so the page cache keys on those headers.
///
/// ```
/// use axum::{routing::get, Router};
/// use tower_cache_page::VaryOnHeadersLayer;
///
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hello" }).layer(VaryOnHeadersLayer::new(["Accept-Language"])?))
///     .route("/me", get(|| async { "me" }).layer(VaryOnHeadersLayer::cookie()));
/// # let _ = app;
/// # Ok::<(), tower_cache_page::InvalidSetting>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct VaryOnHeadersLayer {
    names: Arc<[String]>,
}

impl VaryOnHeadersLayer {
    /// Varies on these request headers, each kept as spelt (`Vary` compares names case-insensitively).
    ///
    /// # Errors
    ///
    /// [`InvalidSetting`] when a name (trimmed) is not a header name, e.g. empty or holding a comma or a
    /// space: it would make the `Vary` header unusable. `*` is a valid name (the response varies on
    /// everything, and is never cached downstream).
    pub fn new<I, N>(names: I) -> Result<Self, InvalidSetting>
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        let names = names
            .into_iter()
            .map(|name| {
                let name: String = name.into();
                match is_token(name.trim()) {
                    true => Ok(name.trim().to_owned()),
                    false => Err(InvalidSetting::new(
                        "header name",
                        &name,
                        "not an HTTP token",
                    )),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(VaryOnHeadersLayer { names })
    }

    /// Varies on `Cookie` (Django's `@vary_on_cookie`).
    pub fn cookie() -> Self {
        VaryOnHeadersLayer {
            names: Arc::from([String::from("Cookie")]),
        }
    }
}

impl<S> Layer<S> for VaryOnHeadersLayer {
    type Service = VaryOnHeadersService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let patch = Patch::Vary(Arc::clone(&self.names));
        VaryOnHeadersService::new(inner, patch)
    }
}
