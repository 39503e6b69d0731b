//! Errors of the [`Session`](crate::Session) API and how they become responses.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::StoreError;

/// What a [`Session`](crate::Session) call can fail with.
///
/// Implements [`IntoResponse`], so handlers can use `?`: the response is replaced on its way out by the
/// layer's [error response](crate::SessionLayer::error_response) (500 by default), and the error is logged
/// as a `tracing` error event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The store failed while loading, creating or deleting.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// A value to insert could not be serialized to JSON.
    #[error("cannot serialize the session value for {key:?}: {source}")]
    Serialize {
        /// The key being written.
        key: String,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },

    /// A stored value does not deserialize into the requested type.
    #[error("the session value under {key:?} is not of the requested type: {source}")]
    Deserialize {
        /// The key being read.
        key: String,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },

    /// The key is reserved for the session's own bookkeeping: `_session_expiry` is written by
    /// [`Session::set_expiry`](crate::Session::set_expiry), `_auth_user_id` by
    /// [`Session::set_user`](crate::Session::set_user).
    #[error("the session key {0:?} is reserved; use Session::set_expiry or Session::set_user")]
    ReservedKey(String),

    /// A user id given to [`Session::set_user`](crate::Session::set_user) is empty, longer than
    /// [`MAX_USER_ID`](crate::users::MAX_USER_ID) bytes, or holds a control character.
    #[error("invalid user id {0:?}: empty, too long, or with a control character")]
    InvalidUser(String),

    /// The handler asked for a [`Session`](crate::Session) but no [`SessionLayer`](crate::SessionLayer) is
    /// installed on its route.
    #[error("no SessionLayer is installed for this route")]
    MissingLayer,
}

/// A setting given a value it cannot take, returned by the setter instead of a half-configured layer or
/// store: a typo in a cookie name or a zero deadline fails at start-up, where it is seen, rather than
/// producing broken `Set-Cookie` headers or failing every request later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidSetting {
    /// The cookie name is not an RFC 7230 token (empty, or with spaces, `;`, `=`, …): browsers would
    /// split or drop such a cookie.
    #[error("invalid session cookie name {0:?}: not an RFC 7230 token")]
    CookieName(String),

    /// The cookie `Path` is empty or has a character a `Set-Cookie` attribute cannot hold (`;`, a control
    /// character, non-ASCII): it would end the attribute early or break the header.
    #[error(
        "invalid session cookie path {0:?}: empty, or a `;` or a character outside visible ASCII"
    )]
    CookiePath(String),

    /// The cookie `Domain` is empty or has a character a `Set-Cookie` attribute cannot hold.
    #[error(
        "invalid session cookie domain {0:?}: empty, or a `;` or a character outside visible ASCII"
    )]
    CookieDomain(String),

    /// A deadline of zero would fail every call that has to wait; `Duration::MAX` is the way to say none.
    #[error("a zero {0} would fail every call that has to wait; use Duration::MAX for none")]
    ZeroDeadline(&'static str),

    /// [`SessionLayer::max_sessions_per_user`](crate::SessionLayer::max_sessions_per_user) on a store that
    /// keeps no sessions by user (see [`users`](crate::users)), or with a cap of zero.
    #[error("cannot cap sessions per user: {0}")]
    SessionsPerUser(&'static str),
}

/// Marks a response that a [`SessionError`] turned into, so the layer can swap in its configured error
/// response.
#[derive(Clone)]
pub(crate) struct FailedResponse(pub(crate) Arc<SessionError>);

impl IntoResponse for SessionError {
    fn into_response(self) -> Response {
        if !matches!(self, SessionError::MissingLayer) {
            tracing::error!(error = %self, "session error in a handler");
        } else {
            tracing::error!("a handler extracted Session but no SessionLayer is installed");
        }
        let mut response =
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response();
        response
            .extensions_mut()
            .insert(FailedResponse(Arc::new(self)));
        response
    }
}

/// The response to a save whose record was deleted by a concurrent request (Django's `SessionInterrupted`).
pub(crate) fn interrupted_response() -> axum::response::Response {
    (
        StatusCode::BAD_REQUEST,
        "The request's session was deleted before the request completed. The user may have logged out \
         in a concurrent request, for example.",
    )
        .into_response()
}
