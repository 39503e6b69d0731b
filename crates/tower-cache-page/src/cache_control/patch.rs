//! [`Patch`]: the one header change each header layer makes, applied by the shared service's future.

use std::sync::Arc;

use http::HeaderMap;

use crate::directives::CacheDirectives;
use crate::headers::{add_never_cache_headers, patch_cache_control, patch_vary_headers};

/// The header change a layer makes.
#[derive(Debug, Clone)]
pub(crate) enum Patch {
    NeverCache,
    CacheControl(Arc<CacheDirectives>),
    Vary(Arc<[String]>),
}

impl Patch {
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        match self {
            Patch::NeverCache => add_never_cache_headers(headers),
            Patch::CacheControl(directives) => patch_cache_control(headers, directives),
            Patch::Vary(names) => patch_vary_headers(headers, names.iter()),
        }
    }
}
