//! [`SessionLayer`]: the settings, as builder methods with Django's defaults.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::Response;
use tower_layer::Layer;

use crate::config::SameSite;
use crate::config::{Config, Responder};
use crate::cookie::{checked_attribute, checked_name, CookieTails};
use crate::error::{InvalidSetting, SessionError};
use crate::guard::Guard;
use crate::service::SessionService;
use crate::shared::Shared;
use crate::SessionStore;

/// Adds Django's sessions to a service: a lazy [`Session`](crate::Session) in every request's extensions,
/// and the cookie and save rules on the way out.
///
/// Defaults are Django's: cookie `sessionid`, two weeks, `Path=/`, no `Domain`, `HttpOnly`,
/// `SameSite=Lax`, **not `Secure`** (turn [`secure`](SessionLayer::secure) on in production, behind
/// HTTPS), saved only when modified, not a browser-close cookie. Store failures answer 500 unless
/// [`error_response`](SessionLayer::error_response) says otherwise.
///
/// **Outages.** Each request phase that calls the store (a load, the save) waits for it at most the
/// store's [`deadline`](SessionStore::deadline) (1 s by default) in total, and a store that timed out or
/// failed is not called again for a [cooldown](SessionLayer::failure_cooldown): requests meanwhile get
/// the error response at once. Deadlines need Tokio's timer (`#[tokio::main]` and `axum::serve` have it).
///
/// The builder methods that take text (the cookie's name, `Path` and `Domain`) return
/// [`InvalidSetting`] for a value that would make a broken `Set-Cookie` header (a name that is not a
/// token, a path or domain with `;`), so a typo fails at start-up.
#[derive(Clone)]
#[must_use]
pub struct SessionLayer {
    /// Shared with every service this layer makes: applying the layer (which axum does per request on
    /// routers that were not finished with `with_state`) is one `Arc` clone.
    shared: Arc<Shared>,
}

impl fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLayer")
            .field("store", &self.shared.store.name())
            .field("config", &self.shared.config)
            .finish()
    }
}

impl SessionLayer {
    /// Sessions kept in `store`, with Django's default settings.
    pub fn new(store: impl SessionStore) -> Self {
        SessionLayer::from_arc(Arc::new(store))
    }

    /// Like [`SessionLayer::new`] for a store that is already shared (e.g. with a cleanup task).
    pub fn from_arc(store: Arc<dyn SessionStore>) -> Self {
        SessionLayer {
            shared: Arc::new(Shared {
                guard: Guard::new(&*store),
                store,
                config: Config::default(),
                cookie_tails: CookieTails::default(),
            }),
        }
    }

    /// The session cookie's name (`SESSION_COOKIE_NAME`, default `sessionid`).
    ///
    /// # Errors
    ///
    /// [`InvalidSetting::CookieName`] when `name` is not an RFC 7230 token (empty, spaces, `;`, `=`, …).
    pub fn cookie_name(mut self, name: impl Into<String>) -> Result<Self, InvalidSetting> {
        self.config().cookie_name = checked_name(name.into())?;
        Ok(self)
    }

    /// How long sessions last (`SESSION_COOKIE_AGE`, default 1 209 600 s = two weeks): the cookie's
    /// `Max-Age` and the record's expiry when the session has no custom expiry.
    pub fn cookie_age(self, age: Duration) -> Self {
        self.with_config(|config| config.cookie_age = age)
    }

    /// The cookie's `Path` (`SESSION_COOKIE_PATH`, default `/`).
    ///
    /// # Errors
    ///
    /// [`InvalidSetting::CookiePath`] when `path` is empty or holds `;` or a character outside visible
    /// ASCII.
    pub fn path(mut self, path: impl Into<String>) -> Result<Self, InvalidSetting> {
        self.config().path = checked_attribute(path.into(), InvalidSetting::CookiePath)?;
        Ok(self)
    }

    /// The cookie's `Domain` (`SESSION_COOKIE_DOMAIN`, default none: the host only).
    ///
    /// # Errors
    ///
    /// [`InvalidSetting::CookieDomain`] when `domain` is empty or holds `;` or a character outside
    /// visible ASCII.
    pub fn domain(mut self, domain: impl Into<String>) -> Result<Self, InvalidSetting> {
        let domain = checked_attribute(domain.into(), InvalidSetting::CookieDomain)?;
        self.config().domain = Some(domain);
        Ok(self)
    }

    /// The cookie's `Secure` flag (`SESSION_COOKIE_SECURE`, default off so plain-HTTP development works;
    /// turn it on in production).
    pub fn secure(self, secure: bool) -> Self {
        self.with_config(|config| config.secure = secure)
    }

    /// The cookie's `HttpOnly` flag (`SESSION_COOKIE_HTTPONLY`, default on: scripts cannot read the key).
    pub fn http_only(self, http_only: bool) -> Self {
        self.with_config(|config| config.http_only = http_only)
    }

    /// The cookie's `SameSite` attribute (`SESSION_COOKIE_SAMESITE`, default [`SameSite::Lax`]).
    pub fn same_site(self, same_site: SameSite) -> Self {
        self.with_config(|config| config.same_site = same_site)
    }

    /// Keeps at most `max` sessions per user: when [`Session::set_user`](crate::Session::set_user) logs a
    /// user in, the user's other sessions beyond `max` are revoked, the least recently used (soonest to
    /// expire) first; the new session is always kept. Off by default.
    ///
    /// # Errors
    ///
    /// [`InvalidSetting::SessionsPerUser`] when `max` is zero or the store keeps no sessions by user
    /// ([`SessionStore::users`]).
    pub fn max_sessions_per_user(mut self, max: usize) -> Result<Self, InvalidSetting> {
        if max == 0 {
            return Err(InvalidSetting::SessionsPerUser("a cap of zero sessions"));
        }
        if self.shared.store.users().is_none() {
            return Err(InvalidSetting::SessionsPerUser(
                "the store keeps no sessions by user",
            ));
        }
        self.config().max_sessions_per_user = Some(max);
        Ok(self)
    }

    /// Saves the session and re-sends the cookie on every response below 500 that has a session
    /// (`SESSION_SAVE_EVERY_REQUEST`, default off): sliding expiry, at one store write per request.
    pub fn save_every_request(self, save: bool) -> Self {
        self.with_config(|config| config.save_every_request = save)
    }

    /// Makes session cookies browser-session cookies (no `Max-Age`/`Expires`) unless a session sets its
    /// own expiry (`SESSION_EXPIRE_AT_BROWSER_CLOSE`, default off).
    pub fn expire_at_browser_close(self, at_close: bool) -> Self {
        self.with_config(|config| config.expire_at_browser_close = at_close)
    }

    /// The response sent when the store fails (default: a bare 500). The error is also logged as a
    /// `tracing` error event whatever this returns.
    pub fn error_response(
        mut self,
        respond: impl Fn(&SessionError) -> Response<Body> + Send + Sync + 'static,
    ) -> Self {
        self.config().error_responder = Responder(Arc::new(respond));
        self
    }

    /// How long requests fail fast after the store timed out or failed with a backend error (default 1 s).
    ///
    /// Without it, every request during an outage would wait the store's whole
    /// [deadline](SessionStore::deadline) before failing, piling up connections and tasks. With it, the
    /// requests of the cooldown get the [error response](SessionLayer::error_response) at once
    /// ([`StoreError::Unavailable`](crate::StoreError::Unavailable)); then one request at a time tries
    /// the store while the others keep failing fast, and the first that gets an answer resumes normal
    /// service. `Duration::ZERO` turns this off: every request tries the store.
    pub fn failure_cooldown(mut self, cooldown: Duration) -> Self {
        let shared = Arc::make_mut(&mut self.shared);
        shared.guard = shared.guard.with_cooldown(cooldown);
        self
    }

    /// The store sessions are kept in.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.shared.store
    }

    /// The settings, for a builder method to change (copied first if a service already shares them).
    /// The cookie attributes made from the old settings go.
    fn config(&mut self) -> &mut Config {
        let shared = Arc::make_mut(&mut self.shared);
        shared.cookie_tails = CookieTails::default();
        &mut shared.config
    }

    /// This layer with `change` made to its settings: the body of the plain setters.
    fn with_config(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(self.config());
        self
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService::new(inner, Arc::clone(&self.shared))
    }
}
