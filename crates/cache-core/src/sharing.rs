//! [`SessionUse`]: how a request used its visitor's session, told to the layers that share responses between
//! visitors.
//!
//! A page cache decides whether a response may be served to other visitors from the response's headers: a
//! session layer adds `Vary: Cookie` when the session was read and a `Set-Cookie` when it was written. That
//! works only when the session layer runs *inside* the page cache. When it runs outside (a router-wide
//! session layer with `cache_page` on one route, or simply the other order), the page cache sees the
//! response before the session layer has marked it, and would store one visitor's page for everybody.
//!
//! So the session layer puts a [`SessionUse`] into each request's extensions, and a page cache that finds one
//! there looks at it once the handler has answered: a session that was read means the response varies on
//! `Cookie`; one that was written means the response belongs to that visitor alone. Whatever the order of
//! the layers, the page cache then knows what the headers would have told it.
//!
//! The type lives here, in the crate both layers already depend on, so neither layer depends on the other.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// What a session layer reports about one request's session; implemented by the session's per-request
/// state, so a [`SessionUse`] is one reference-count increment away from it.
pub trait SessionFlags: Any + Send + Sync {
    /// The session's data was read or written in this request (Django's `accessed`): the response may
    /// depend on which visitor asked, so it varies on `Cookie`.
    fn accessed(&self) -> bool;

    /// The session was changed, flushed or given a new key in this request (Django's `modified`, or a
    /// pending `Set-Cookie`): the response is that visitor's alone and must never be shared.
    fn modified(&self) -> bool;

    /// The name of the cookie that carries the session, when the layer knows it: a page cache that keys
    /// pages on named cookies only must then key on this one too, or not store pages that read the
    /// session. `None` by default.
    fn cookie_name(&self) -> Option<&str> {
        None
    }
}

/// How the current request used its visitor's session; found in the request's extensions when a session
/// layer runs outside the layer looking for it. Cheap to clone.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use cache_core::sharing::{SessionFlags, SessionUse};
///
/// #[derive(Default)]
/// struct Flags { accessed: AtomicBool }
/// impl SessionFlags for Flags {
///     fn accessed(&self) -> bool { self.accessed.load(Ordering::Acquire) }
///     fn modified(&self) -> bool { false }
/// }
///
/// let flags = Arc::new(Flags::default());
/// let session_use = SessionUse::new(flags.clone());
/// assert!(!session_use.accessed());
/// flags.accessed.store(true, Ordering::Release);
/// assert!(session_use.accessed());
/// assert!(Arc::ptr_eq(&session_use.downcast::<Flags>().unwrap(), &flags));
/// ```
#[derive(Clone)]
pub struct SessionUse(Arc<dyn SessionFlags>);

impl SessionUse {
    /// Reports what `flags` say, as they change during the request.
    pub fn new(flags: Arc<dyn SessionFlags>) -> Self {
        SessionUse(flags)
    }

    /// See [`SessionFlags::accessed`].
    pub fn accessed(&self) -> bool {
        self.0.accessed()
    }

    /// See [`SessionFlags::modified`].
    pub fn modified(&self) -> bool {
        self.0.modified()
    }

    /// See [`SessionFlags::cookie_name`].
    pub fn cookie_name(&self) -> Option<&str> {
        self.0.cookie_name()
    }

    /// The session layer's own per-request state, when it is of type `T`: a session layer keeps only this
    /// value in the request's extensions and finds its state again through it, so a request carries one
    /// extension for its session, not two.
    pub fn downcast<T: SessionFlags>(&self) -> Option<Arc<T>> {
        let any: Arc<dyn Any + Send + Sync> = Arc::clone(&self.0) as _;
        any.downcast::<T>().ok()
    }
}

impl fmt::Debug for SessionUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionUse")
            .field("accessed", &self.accessed())
            .field("modified", &self.modified())
            .finish()
    }
}
