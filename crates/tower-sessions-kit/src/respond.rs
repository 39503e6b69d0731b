//! The response phase: Django's `SessionMiddleware.process_response` (reference §4.5).
//!
//! 1. A request that never touched its session leaves the response as it is (decided without a lock).
//! 2. The request had a session cookie and the session is now empty (flushed, unknown key, malformed key):
//!    the cookie is deleted (same `Path`/`Domain`/`SameSite`), on any status — the key names no record —
//!    and `Vary: Cookie` is added.
//! 3. Otherwise, when the session was modified (or `save_every_request`, or the store asked for a
//!    re-issue) and is not empty, and the status is below 500: the store saves (merging this request's
//!    changes) and the cookie is sent with `Max-Age`/`Expires` from the expiry (none for a browser-close
//!    session). **5xx responses: no save, no cookie.** A record deleted meanwhile makes the response a 400;
//!    a store failure makes it the configured error response.
//! 4. `Vary: Cookie` whenever the session was accessed or a cookie was set.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use http::header::{Entry, SET_COOKIE, VARY};
use http::{HeaderValue, Response};

use crate::error::{interrupted_response, FailedResponse, SessionError};
use crate::expiry;
use crate::guard::Phase;
use crate::key::SessionKey;
use crate::record::{Changes, Data};
use crate::session::Session;
use crate::state::{is_empty, load_within, State};
use crate::store::{SaveRequest, StoreError};

/// What the synchronous part decided.
pub(crate) enum Decision {
    /// The response is final.
    Done,
    /// A save is needed: finish in [`finish_with_save`].
    Save,
}

/// Replaces a response made from a [`SessionError`] by the configured error response.
pub(crate) fn apply_error_responder(session: &Session, response: Response<Body>) -> Response<Body> {
    match response.extensions().get::<FailedResponse>() {
        Some(failed) => {
            let failed = failed.0.clone();
            (session.shared().config.error_responder.0)(&failed)
        }
        None => response,
    }
}

/// Steps 2 to 4 for everything that needs no store access.
pub(crate) fn decide(session: &Session, state: &State, response: &mut Response<Body>) -> Decision {
    let config = &session.shared().config;
    if session.had_cookie() && is_empty(state) {
        delete_cookie(session, response);
        return Decision::Done;
    }
    let wants_save = session.modified() || config.save_every_request || state.reissue;
    if wants_save && !is_empty(state) && !response.status().is_server_error() {
        return Decision::Save;
    }
    if session.accessed() {
        add_vary_cookie(response);
    }
    Decision::Done
}

/// Step 3 with the store: load if needed (`save_every_request` on an untouched session), save or create,
/// set the cookie. The store calls are one [`Phase`]: one deadline for all of them.
pub(crate) async fn finish_with_save(
    session: Session,
    mut response: Response<Body>,
) -> Response<Body> {
    let shared = session.shared();
    let config = &shared.config;
    let mut state = session.state().await;
    if let Decision::Done = decide(&session, &state, &mut response) {
        return response;
    }
    let mut phase = Phase::default();
    if let Err(error) = load_within(shared, &mut state, &mut phase).await {
        return store_failure(&session, error);
    }
    if is_empty(&state) {
        // The cookie's key turned out unknown and nothing was written: a stale cookie to forget.
        if session.had_cookie() {
            delete_cookie(&session, &mut response);
        }
        return response;
    }
    let data = state.data.take().unwrap_or_default();
    let create = || shared.store.create(&data, config.cookie_age);
    let outcome = match state.key.clone() {
        None => shared.call(&mut phase, create).await.map(|key| (key, None)),
        Some(key) => {
            let request = SaveRequest {
                changes: &state.changes,
                data: &data,
                cookie_age: config.cookie_age,
                snapshot: state.snapshot.as_deref(),
            };
            match shared
                .call(&mut phase, || shared.store.save(&key, request))
                .await
            {
                Ok(saved) => Ok((saved.new_key.unwrap_or(key), saved.merged)),
                Err(StoreError::Gone) if state.verified => return interrupted(&session),
                Err(StoreError::Gone) if data.is_empty() => {
                    // Cleared without loading, and the cookie's record no longer exists.
                    delete_cookie(&session, &mut response);
                    return response;
                }
                // Never read from the store (cleared without loading) and gone: the cookie was stale.
                // The data goes to a new key, never to the one the client chose.
                Err(StoreError::Gone) => {
                    shared.call(&mut phase, create).await.map(|key| (key, None))
                }
                Err(error) => Err(error),
            }
        }
    };
    let (key, merged) = match outcome {
        Ok(done) => done,
        Err(error) => {
            state.data = Some(data);
            return store_failure(&session, SessionError::Store(error));
        }
    };
    send_saved(&session, &mut state, response, key, merged.unwrap_or(data))
}

/// What [`finish_now`] did with a response.
pub(crate) enum Now {
    /// The response is final.
    Finished(Response<Body>),
    /// The response, untouched: its save must be awaited in [`finish_with_save`].
    MustAwait(Response<Body>),
}

/// Step 3 when the store applies the save at once ([`ImmediateSaves`](crate::store::ImmediateSaves)), for
/// a request that loaded its session: the finished response, without awaiting or locking the session
/// again; or the response untouched when the save must be awaited (a new session, a cookie never read
/// from the store, a store that waits).
pub(crate) fn finish_now(session: &Session, state: &mut State, response: Response<Body>) -> Now {
    let shared = session.shared();
    let (true, Some(data)) = (state.verified, &state.data) else {
        return Now::MustAwait(response);
    };
    let Some(key) = state.key.take() else {
        return Now::MustAwait(response);
    };
    let request = SaveRequest {
        changes: &state.changes,
        data,
        cookie_age: shared.config.cookie_age,
        snapshot: state.snapshot.as_deref(),
    };
    let Some(saved) = shared.guard.save_now(&*shared.store, &key, request) else {
        state.key = Some(key);
        return Now::MustAwait(response);
    };
    Now::Finished(match saved {
        Ok(saved) => {
            let data = match saved.merged {
                Some(merged) => merged,
                None => state.data.take().unwrap_or_default(),
            };
            send_saved(session, state, response, saved.new_key.unwrap_or(key), data)
        }
        Err(StoreError::Gone) => interrupted(session),
        Err(error) => {
            state.key = Some(key);
            store_failure(session, SessionError::Store(error))
        }
    })
}

/// The end of step 3 once the store saved `data` under `key`: the cookie, `Vary: Cookie`, and the state a
/// later use of the session in this request (a spawned task's) starts from.
fn send_saved(
    session: &Session,
    state: &mut State,
    mut response: Response<Body>,
    key: SessionKey,
    data: Arc<Data>,
) -> Response<Body> {
    let config = &session.shared().config;
    let max_age = if expiry::at_browser_close(&data, config.expire_at_browser_close) {
        None
    } else {
        Some(expiry::age(&data, SystemTime::now(), config.cookie_age))
    };
    response.headers_mut().append(
        SET_COOKIE,
        config.session_cookie(&session.shared().cookie_tails, key.as_str(), max_age),
    );
    add_vary_cookie(&mut response);
    state.key = Some(key);
    state.data = Some(data);
    state.changes = Changes::new();
    state.verified = true;
    response
}

/// The answer to a save that found its session deleted by a concurrent request (logout elsewhere):
/// Django's `SessionInterrupted`, a 400, never a resurrected session.
fn interrupted(session: &Session) -> Response<Body> {
    tracing::info!(
        store = session.shared().store.name(),
        "session deleted by a concurrent request before this one could save it"
    );
    interrupted_response()
}

fn store_failure(session: &Session, error: SessionError) -> Response<Body> {
    tracing::error!(
        store = session.shared().store.name(),
        %error,
        "session store failed while finishing the response"
    );
    (session.shared().config.error_responder.0)(&error)
}

fn delete_cookie(session: &Session, response: &mut Response<Body>) {
    response
        .headers_mut()
        .append(SET_COOKIE, session.shared().config.deletion_cookie());
    add_vary_cookie(response);
}

/// Django's `patch_vary_headers(response, ["Cookie"])`: adds `Cookie` unless already listed (or `*`).
pub(crate) fn add_vary_cookie(response: &mut Response<Body>) {
    // One lookup: most responses have no `Vary` yet.
    match response.headers_mut().entry(VARY) {
        Entry::Vacant(vacant) => {
            vacant.insert(HeaderValue::from_static("Cookie"));
        }
        Entry::Occupied(mut occupied) => {
            let listed = occupied.iter().any(|value| {
                value.to_str().is_ok_and(|text| {
                    text.split(',')
                        .map(str::trim)
                        .any(|item| item == "*" || item.eq_ignore_ascii_case("cookie"))
                })
            });
            if !listed {
                occupied.append(HeaderValue::from_static("Cookie"));
            }
        }
    }
}
