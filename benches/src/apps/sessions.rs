//! The session apps: the same four routes for ours (`tower_django::sessions`) and for tower-sessions 0.14,
//! and a plain router answering the same requests without a session layer.
//!
//! - `/login` starts a session with the counter at 0;
//! - `/incr` reads the counter and writes counter + 1, answering the new number (`404` when the session has
//!   no counter: the store lost it);
//! - `/read` reads the counter and answers it;
//! - `/logout` ends the session.
//!
//! A session error is answered `500`; the load generator counts anything but `200` as an error.

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;

/// The session key of the counter.
pub const COUNTER: &str = "counter";

/// A pattern of session load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Case {
    /// Many sessions, round-robin over the connections, each request writing its session.
    Write,
    /// Every connection on one session, each request writing it: a browser firing parallel requests.
    Hot,
    /// Many sessions, each request only reading its session.
    Read,
}

impl Case {
    /// Every case, in the order they run and are reported.
    pub const ALL: [Case; 3] = [Case::Write, Case::Hot, Case::Read];

    /// The case's name in tables and settings.
    pub fn name(self) -> &'static str {
        match self {
            Case::Write => "write",
            Case::Hot => "hot",
            Case::Read => "read",
        }
    }

    /// The route the load sends.
    pub fn path(self) -> &'static str {
        match self {
            Case::Read => "/read",
            Case::Write | Case::Hot => "/incr",
        }
    }

    /// Sessions the load goes round: `many` for the write and read cases, one for the hot case.
    pub fn sessions(self, many: usize) -> usize {
        match self {
            Case::Hot => 1,
            Case::Write | Case::Read => many,
        }
    }
}

/// The session app's routes, for either library's `Session` (the two share these methods but no trait).
macro_rules! session_routes {
    ($session:ty) => {
        Router::new()
            .route(
                "/login",
                get(|session: $session| async move {
                    match session.insert(COUNTER, &0_u64).await {
                        Ok(()) => (StatusCode::OK, "0".to_owned()),
                        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
                    }
                }),
            )
            .route(
                "/incr",
                get(|session: $session| async move {
                    match session.get::<u64>(COUNTER).await {
                        Ok(Some(n)) => match session.insert(COUNTER, &(n + 1)).await {
                            Ok(()) => (StatusCode::OK, (n + 1).to_string()),
                            Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
                        },
                        Ok(None) => (StatusCode::NOT_FOUND, "no counter".to_owned()),
                        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
                    }
                }),
            )
            .route(
                "/read",
                get(|session: $session| async move {
                    match session.get::<u64>(COUNTER).await {
                        Ok(Some(n)) => (StatusCode::OK, n.to_string()),
                        Ok(None) => (StatusCode::NOT_FOUND, "no counter".to_owned()),
                        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
                    }
                }),
            )
            .route(
                "/logout",
                get(|session: $session| async move {
                    match session.flush().await {
                        Ok(()) => (StatusCode::OK, String::new()),
                        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
                    }
                }),
            )
    };
}

/// Our session layer on `store`, cookies without `Secure` (the load runs over plain HTTP).
pub fn ours(store: impl tower_django::sessions::SessionStore) -> Router {
    session_routes!(tower_django::sessions::Session)
        .layer(tower_django::sessions::SessionLayer::new(store).secure(false))
}

/// tower-sessions' layer on `store`, cookies without `Secure`.
pub fn peer<S: tower_sessions::SessionStore + Clone>(store: S) -> Router {
    session_routes!(tower_sessions::Session)
        .layer(tower_sessions::SessionManagerLayer::new(store).with_secure(false))
}

/// The handlers' shape without sessions: a number formatted into the body, for the same requests.
pub fn plain() -> Router {
    let answer = || async {
        (
            StatusCode::OK,
            (std::hint::black_box(41_u64) + 1).to_string(),
        )
    };
    Router::new()
        .route("/incr", get(answer))
        .route("/read", get(answer))
}

/// Sessions' cookies shaped as ours are (`sessionid=` and 32 characters), for the plain router when no
/// store runs.
pub fn stand_in_cookies(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| format!("sessionid={i:032}").into_bytes())
        .collect()
}
