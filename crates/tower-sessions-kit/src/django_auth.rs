//! The user a Django session is logged in as (features `django` and `sqlite`, `postgres` or `mysql`) ([`DjangoAuth`], [`DjangoUser`]): what
//! `django.contrib.auth.get_user`, `login` and `logout` read and write in the session, so an axum service
//! and a Django project on one session store agree on who is logged in.
//!
//! Django keeps three keys in a logged-in session: `_auth_user_id` (the user's primary key as text),
//! `_auth_user_backend` (the dotted path of the authentication backend) and `_auth_user_hash` (an HMAC of
//! the user's password hash under `SECRET_KEY`). With the user table ([`DjangoAuth::with_database`]),
//! the hash is checked as Django checks it: a user whose password changed since the login — in Django or
//! here — is anonymous, and the session is flushed; a hash made under a `SECRET_KEY_FALLBACKS` key is
//! accepted and moved to the current key (the session key is cycled). Without the table, the session's
//! word is taken (Django does the same for a backend whose users have no `get_session_auth_hash`).
//! See [Django's authentication documentation](https://docs.djangoproject.com/en/5.2/topics/auth/default/#how-to-log-a-user-in).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use cache_core::sql::{Bind, Dialect, SqlError, SqlPool};
use http::request::Parts;
use http::StatusCode;
use serde_json::Value;

use crate::django::{salted_hmac, Django};
use crate::error::SessionError;
use crate::session::Session;

/// `_auth_user_backend`.
pub const BACKEND_SESSION_KEY: &str = "_auth_user_backend";

/// `_auth_user_hash`.
pub const HASH_SESSION_KEY: &str = "_auth_user_hash";

/// Django's default `AUTHENTICATION_BACKENDS`.
pub const MODEL_BACKEND: &str = "django.contrib.auth.backends.ModelBackend";

/// Django's default user table (`auth.User`).
pub const DEFAULT_USER_TABLE: &str = "auth_user";

/// The `key_salt` of `AbstractBaseUser.get_session_auth_hash`.
const AUTH_HASH_SALT: &str = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash";

/// Who a request's session is logged in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DjangoUser {
    /// Nobody (Django's `AnonymousUser`).
    Anonymous,
    /// A user, by primary key (as text, as Django stores it) and the backend that authenticated them.
    User {
        /// `_auth_user_id`.
        id: String,
        /// `_auth_user_backend`.
        backend: String,
    },
}

impl DjangoUser {
    /// The user's primary key, `None` when anonymous.
    pub fn id(&self) -> Option<&str> {
        match self {
            DjangoUser::Anonymous => None,
            DjangoUser::User { id, .. } => Some(id),
        }
    }

    /// Django's `user.is_authenticated`.
    pub fn is_authenticated(&self) -> bool {
        matches!(self, DjangoUser::User { .. })
    }
}

/// What went wrong reading or writing the logged-in user.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DjangoAuthError {
    /// The session store failed.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The user table could not be read.
    #[error("reading the Django user table: {0}")]
    Database(#[from] SqlError),
    /// [`DjangoAuth::login`] needs the user table, to sign the password hash.
    #[error("logging a user in needs the user table: give DjangoAuth::with_database a pool")]
    NoDatabase,
    /// No active user with this primary key.
    #[error("no active user {0:?} in the user table")]
    UnknownUser(String),
    /// The user table's name is not a plain identifier.
    #[error("invalid user table name {0:?}: use letters, digits and _")]
    InvalidTable(String),
    /// The request has no [`DjangoAuth`] in its extensions.
    #[error("DjangoAuth is missing: add `.layer(axum::Extension(django_auth))` to the router")]
    MissingLayer,
}

impl IntoResponse for DjangoAuthError {
    fn into_response(self) -> Response {
        tracing::error!(error = %self, "could not tell which Django user is logged in");
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    }
}

/// Reads and writes the logged-in Django user of a session. Cheap to clone; put it in the router's
/// extensions (`.layer(axum::Extension(auth))`) for the [`DjangoUser`] extractor.
///
/// ```no_run
/// use axum::{routing::get, Extension, Router};
/// use tower_sessions_kit::django::Django;
/// use tower_sessions_kit::django_auth::{DjangoAuth, DjangoUser};
///
/// # async fn app() -> Result<Router, Box<dyn std::error::Error>> {
/// let django = Django::new("the project's SECRET_KEY")?;
/// let users = cache_core::sql::SqlPool::connect_lazy(
///     "postgres://app@db/app",
///     &cache_core::sql::PoolSettings::default(),
/// )?;
/// let auth = DjangoAuth::new(&django).with_database(users);
/// let app = Router::new()
///     .route("/whoami", get(|user: DjangoUser| async move {
///         user.id().map_or("anonymous".to_owned(), |id| format!("user {id}"))
///     }))
///     .layer(Extension(auth));
/// # Ok(app) }
/// ```
#[derive(Clone, Debug)]
pub struct DjangoAuth {
    inner: Arc<Inner>,
}

#[derive(Debug, Clone)]
struct Inner {
    django: Django,
    backends: Vec<String>,
    /// The user table's name.
    user_table: String,
    users: Option<Users>,
}

/// The user table and its statement.
#[derive(Debug, Clone)]
struct Users {
    pool: SqlPool,
    /// Binds: the primary key. Column: the password hash of the active user.
    select: String,
}

impl Users {
    fn new(pool: SqlPool, table: &str) -> Users {
        let d = pool.dialect();
        // `AND is_active`: a boolean on PostgreSQL, an integer elsewhere, true either way.
        let select = format!(
            "SELECT {} FROM {} WHERE {} = {} AND {}",
            d.quote("password"),
            d.quote(table),
            d.quote("id"),
            d.placeholder(1),
            d.quote("is_active")
        );
        Users { pool, select }
    }

    /// The password hash of the active user `id`; `None` when there is no such user or it is inactive
    /// (Django's `ModelBackend.get_user`).
    async fn password_of(&self, id: &str) -> Result<Option<String>, SqlError> {
        // An integer key is bound as one (PostgreSQL compares no integer with text); another as text.
        let bind = match id.parse::<i64>() {
            Ok(number) if self.pool.dialect() != Dialect::Sqlite || number.to_string() == id => {
                Bind::Int(number)
            }
            _ => Bind::Text(id),
        };
        let row = self
            .pool
            .fetch_optional(&self.select, &[bind], |row| row.text(0).ok().flatten())
            .await?;
        Ok(row.flatten())
    }
}

impl DjangoAuth {
    /// Auth under `django`'s keys, trusting the session (no user table), with Django's default
    /// `AUTHENTICATION_BACKENDS`.
    pub fn new(django: &Django) -> Self {
        DjangoAuth {
            inner: Arc::new(Inner {
                django: django.clone(),
                backends: vec![MODEL_BACKEND.to_owned()],
                user_table: DEFAULT_USER_TABLE.to_owned(),
                users: None,
            }),
        }
    }

    /// Checks sessions against the user table `auth_user` on `pool` (the Django project's database), as
    /// Django's `get_user` does: the user must exist and be active, and the session's hash must match
    /// the password hash. Needed by [`login`](Self::login).
    pub fn with_database(self, pool: SqlPool) -> Self {
        self.rebuild(|inner| inner.users = Some(Users::new(pool, &inner.user_table)))
    }

    /// The user table's name, for a custom user model (`AUTH_USER_MODEL`; its `id`, `password` and
    /// `is_active` columns are read). [`DjangoAuthError::InvalidTable`] for a name that is not a plain
    /// identifier; without a database this only checks the name.
    pub fn user_table(self, table: &str) -> Result<Self, DjangoAuthError> {
        if !crate::store::valid_table_name(table) {
            return Err(DjangoAuthError::InvalidTable(table.to_owned()));
        }
        Ok(self.rebuild(|inner| {
            inner.user_table = table.to_owned();
            if let Some(users) = inner.users.take() {
                inner.users = Some(Users::new(users.pool, table));
            }
        }))
    }

    /// `AUTHENTICATION_BACKENDS`: a session logged in through another backend is anonymous.
    pub fn backends<I, B>(self, backends: I) -> Self
    where
        I: IntoIterator<Item = B>,
        B: Into<String>,
    {
        let backends: Vec<String> = backends.into_iter().map(Into::into).collect();
        self.rebuild(|inner| inner.backends = backends)
    }

    fn rebuild(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        change(&mut inner);
        DjangoAuth {
            inner: Arc::new(inner),
        }
    }

    /// `user.get_session_auth_hash()` under each key, the secret key's first.
    fn auth_hashes<'a>(&'a self, password: &'a str) -> impl Iterator<Item = String> + 'a {
        self.inner
            .django
            .keys()
            .iter()
            .map(move |key| hex(&salted_hmac(AUTH_HASH_SALT, password.as_bytes(), key)))
    }

    /// Django's `get_user(request)`: who `session` is logged in as. With the user table, a session whose
    /// hash no longer matches (the password changed) is flushed and anonymous; a hash under a fallback
    /// key is re-made under the secret key and the session key cycled, as Django does.
    pub async fn user(&self, session: &Session) -> Result<DjangoUser, DjangoAuthError> {
        let Some(id) = session.user().await? else {
            return Ok(DjangoUser::Anonymous);
        };
        let backend = match session.get_value(BACKEND_SESSION_KEY).await? {
            Some(Value::String(backend)) => backend,
            _ => return Ok(DjangoUser::Anonymous),
        };
        if !self.inner.backends.contains(&backend) {
            return Ok(DjangoUser::Anonymous);
        }
        let Some(users) = &self.inner.users else {
            return Ok(DjangoUser::User { id, backend });
        };
        let Some(password) = users.password_of(&id).await? else {
            return Ok(DjangoUser::Anonymous);
        };
        let stored = match session.get_value(HASH_SESSION_KEY).await? {
            Some(Value::String(hash)) => hash,
            _ => String::new(),
        };
        let mut hashes = self.auth_hashes(&password);
        let current = hashes.next().unwrap_or_default();
        if !stored.is_empty() && equal(&stored, &current) {
            return Ok(DjangoUser::User { id, backend });
        }
        if !stored.is_empty() && hashes.any(|fallback| equal(&stored, &fallback)) {
            session.cycle_key().await?;
            session.insert(HASH_SESSION_KEY, &current).await?;
            return Ok(DjangoUser::User { id, backend });
        }
        session.flush().await?;
        Ok(DjangoUser::Anonymous)
    }

    /// Django's `login(request, user)` for the active user `id`, through the first configured backend:
    /// a session of another user (or of this user under another password) is emptied, otherwise the key
    /// is cycled; then the three auth keys are written, so Django sees the same user.
    pub async fn login(&self, session: &Session, id: &str) -> Result<(), DjangoAuthError> {
        let users = self
            .inner
            .users
            .as_ref()
            .ok_or(DjangoAuthError::NoDatabase)?;
        let password = users
            .password_of(id)
            .await?
            .ok_or_else(|| DjangoAuthError::UnknownUser(id.to_owned()))?;
        let hash = self.auth_hashes(&password).next().unwrap_or_default();
        if session.user().await?.as_deref() == Some(id) {
            let stored = session.get_value(HASH_SESSION_KEY).await?;
            if stored.as_ref().and_then(Value::as_str) != Some(hash.as_str()) {
                session.flush().await?;
            }
        }
        // Empties another user's session and cycles the key.
        session.set_user(id).await?;
        let backend = self
            .inner
            .backends
            .first()
            .map_or(MODEL_BACKEND, String::as_str);
        session.insert(BACKEND_SESSION_KEY, backend).await?;
        session.insert(HASH_SESSION_KEY, &hash).await?;
        Ok(())
    }

    /// Django's `logout(request)`: the session is flushed.
    pub async fn logout(&self, session: &Session) -> Result<(), DjangoAuthError> {
        session.flush().await?;
        Ok(())
    }
}

/// Constant-time comparison, as Django's `constant_time_compare` (the lengths are public: hex of one
/// size).
fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// The logged-in Django user of the request, by [`DjangoAuth::user`] (the router needs
/// `.layer(axum::Extension(django_auth))` and a [`SessionLayer`](crate::SessionLayer)).
impl<S: Send + Sync> FromRequestParts<S> for DjangoUser {
    type Rejection = DjangoAuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = parts
            .extensions
            .get::<DjangoAuth>()
            .cloned()
            .ok_or(DjangoAuthError::MissingLayer)?;
        let session = Session::from_request_parts(parts, state).await?;
        auth.user(&session).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `user.get_session_auth_hash()` of Django 5.2 for this key and password hash (computed with
    /// Django: `salted_hmac(AUTH_HASH_SALT, password, secret=key, algorithm="sha256").hexdigest()`).
    #[test]
    fn the_auth_hash_is_djangos() {
        let django = Django::new("k").expect("key");
        let auth = DjangoAuth::new(&django);
        let hash = auth.auth_hashes("pbkdf2_sha256$1$s$h").next();
        assert_eq!(hash.as_deref().map(str::len), Some(64));
        assert_eq!(hash.as_deref(), Some(EXPECTED));
    }

    const EXPECTED: &str = "d8c2c95eacf724797164206f753b22b3714202cd7488ecc3bd5b10ac2f43e30a";

    #[test]
    fn table_names_are_identifiers() {
        let django = Django::new("k").expect("key");
        let auth = DjangoAuth::new(&django);
        assert!(auth.clone().user_table("accounts_user").is_ok());
        assert!(matches!(
            auth.user_table("x; DROP TABLE y"),
            Err(DjangoAuthError::InvalidTable(_))
        ));
    }
}
