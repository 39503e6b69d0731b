//! The apps the benchmarks serve, each built the way its crate's documentation shows: ours through the
//! umbrella crate, the peers through theirs. Every app of a group answers the same requests with the same
//! bytes, so that what differs between two figures is the layer.

pub mod hooks;
pub mod page;
pub mod sessions;

use std::convert::Infallible;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, ServiceExt as _};

pub use crate::App;

/// `service` as an [`App`].
pub fn boxed<S>(service: S) -> App
where
    S: tower::Service<Request<Body>, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    BoxCloneSyncService::new(service.map_response(IntoResponse::into_response))
}

/// `service`, whose errors are not `Infallible` (a peer's layer), as an [`App`]: an error is answered
/// `500` with its text, which the load generator counts as an error.
pub fn boxed_fallible<S>(service: S) -> App
where
    S: tower::Service<Request<Body>> + Clone + Send + Sync + 'static,
    S::Response: IntoResponse,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    boxed(tower::service_fn(move |request: Request<Body>| {
        let service = service.clone();
        async move {
            Ok::<_, Infallible>(match service.oneshot(request).await {
                Ok(response) => response.into_response(),
                Err(error) => {
                    let error: BoxError = error.into();
                    (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response()
                }
            })
        }
    }))
}
