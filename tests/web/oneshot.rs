//! In-process exchanges: a request through an app with `tower::ServiceExt::oneshot`, no socket, the
//! response read whole.

use axum::body::Body;
use axum::http::header::{SET_COOKIE, VARY};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;
use tower::ServiceExt;

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The page cache's `Cache-Status` (`""` when it sent none).
    pub fn cache_status(&self) -> String {
        self.headers
            .get("cache-status")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    }

    /// Whether the page cache answered from its store.
    pub fn hit(&self) -> bool {
        self.cache_status().ends_with("; hit")
    }

    /// Whether the page cache stored the response.
    pub fn stored(&self) -> bool {
        self.cache_status().ends_with("; stored")
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The value of the `sessionid` cookie the response sets (`Some("")` for a deletion), if any.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|value| cookie::Cookie::parse(value.to_owned()).ok())
            .find(|cookie| cookie.name() == "sessionid")
            .map(|cookie| cookie.value().to_owned())
    }

    /// Whether one of the response's `Vary` lines names `Cookie`.
    pub fn varies_on_cookie(&self) -> bool {
        self.headers.get_all(VARY).iter().any(|value| {
            value.to_str().is_ok_and(|text| {
                text.split(',')
                    .any(|item| item.trim().eq_ignore_ascii_case("cookie"))
            })
        })
    }
}

/// Sends `request` through (a clone of) `app` and reads the response whole; fails only when reading the
/// body does.
pub async fn call(app: &Router, request: Request<Body>) -> Result<Reply, axum::Error> {
    let Ok(response) = app.clone().oneshot(request).await;
    let (head, body) = response.into_parts();
    Ok(Reply {
        status: head.status,
        headers: head.headers,
        body: body.collect().await?.to_bytes(),
    })
}
