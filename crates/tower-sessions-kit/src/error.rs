//! Errors of the [`Session`](crate::Session) API and how they become responses.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::store::StoreError;

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

    /// The key is reserved for the session's own bookkeeping (`_session_expiry`): use
    /// [`Session::set_expiry`](crate::Session::set_expiry).
    #[error("the session key {0:?} is reserved; use Session::set_expiry")]
    ReservedKey(String),

    /// The handler asked for a [`Session`](crate::Session) but no [`SessionLayer`](crate::SessionLayer) is
    /// installed on its route.
    #[error("no SessionLayer is installed for this route")]
    MissingLayer,
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
