//! The layer's settings (Django's `SESSION_*`), with Django's defaults. How they become `Set-Cookie`
//! headers is in [`crate::cookie`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::{Response, StatusCode};

use crate::error::SessionError;

/// Django's `SESSION_COOKIE_NAME`.
pub const DEFAULT_COOKIE_NAME: &str = "sessionid";

/// Django's `SESSION_COOKIE_AGE`: two weeks.
pub const DEFAULT_COOKIE_AGE: Duration = Duration::from_secs(1_209_600);

/// Builds the response sent when a store fails; see [`SessionLayer::error_response`](crate::SessionLayer::error_response).
pub type ErrorResponder = Arc<dyn Fn(&SessionError) -> Response<Body> + Send + Sync>;

/// The `SameSite` attribute of the session cookie (Django's `SESSION_COOKIE_SAMESITE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SameSite {
    /// Sent only with same-site requests.
    Strict,
    /// Sent with same-site requests and top-level cross-site navigations (the default, as in Django).
    #[default]
    Lax,
    /// Sent with every request. Browsers require `Secure` with it, so the cookie gets `Secure` even when
    /// [`SessionLayer::secure`](crate::SessionLayer::secure) is off.
    None,
    /// No `SameSite` attribute at all (Django's `False`): the browser's default applies.
    Omit,
}

/// Every setting of the layer.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) cookie_name: String,
    pub(crate) cookie_age: Duration,
    pub(crate) path: String,
    pub(crate) domain: Option<String>,
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    pub(crate) same_site: SameSite,
    pub(crate) save_every_request: bool,
    pub(crate) expire_at_browser_close: bool,
    pub(crate) error_responder: Responder,
    /// [`SessionLayer::max_sessions_per_user`](crate::SessionLayer::max_sessions_per_user).
    pub(crate) max_sessions_per_user: Option<usize>,
}

/// The [`ErrorResponder`], shown in `Debug` output by name only (a closure has nothing to show).
#[derive(Clone)]
pub(crate) struct Responder(pub(crate) ErrorResponder);

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ErrorResponder")
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cookie_name: DEFAULT_COOKIE_NAME.to_owned(),
            cookie_age: DEFAULT_COOKIE_AGE,
            path: "/".to_owned(),
            domain: None,
            secure: false,
            http_only: true,
            same_site: SameSite::Lax,
            save_every_request: false,
            expire_at_browser_close: false,
            error_responder: Responder(Arc::new(default_error_response)),
            max_sessions_per_user: None,
        }
    }
}

/// The default store-failure response: a bare 500 (the details go to the log, not to the client).
fn default_error_response(_: &SessionError) -> Response<Body> {
    let mut response = Response::new(Body::from("Internal Server Error"));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}
