//! The demo app: a tiny blog that uses every part of tower-django.
//!
//! | route | what it shows |
//! | --- | --- |
//! | `GET /` | the page cache: `CachePageLayer` keeps the whole page 30 s; `Cache-Status` says hit or miss |
//! | `GET /post/{id}` | sessions (a per-visitor counter) and a fragment cached per user (the sidebar) |
//! | `POST /login` | `set_user`: the name recorded as the session's user, under a new key; 303 back to the page |
//! | `POST /logout` | `flush`: session deleted, cookie removed; 303 back to the page |
//! | `GET /boom` | a panicking handler: `process_exception` answers a friendly 500 page |
//! | `GET /events` | server-sent events (the time, once a second) through the same layers |
//!
//! Every response passes the hooks layer, which adds `X-Response-Time`.
//!
//! The layers, outermost first: `HooksLayer` (timing, error pages), `SessionLayer`, and on `/` alone
//! `CachePageLayer`. The home page never touches the session, so it carries no `Vary: Cookie` and one
//! cached copy serves everyone; pages that show the session are not page-cached.
//!
//! The tests include this file (`#[path = "../examples/demo/app.rs"] mod app;`), so they drive this very
//! app.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{request::Parts, HeaderValue, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::Stream;
use tower_django::cache::FragmentCache;
use tower_django::hooks::{async_trait, Exception, HooksLayer, Middleware, Request};
use tower_django::page::CachePageLayer;
use tower_django::sessions::{Session, SessionError, SessionLayer};

#[path = "backends.rs"]
pub mod backends;
#[path = "pages.rs"]
pub mod pages;

pub use backends::Backends;

/// How long the home page stays in the page cache.
pub const PAGE_TTL: Duration = Duration::from_secs(30);

/// How long a user's sidebar stays in the fragment cache.
pub const FRAGMENT_TTL: Duration = Duration::from_secs(30);

/// How many events `/events` sends, one a second (the first at once).
pub const TICKS: u32 = 5;

/// The `Cache-Status` name of the page cache (`Cache-Status: demo; hit`).
pub const CACHE_STATUS_NAME: &str = "demo";

/// Session keys.
const VISITS: &str = "visits";

/// The whole app on `backends`: routes, then the session layer, then the hooks layer around them.
pub fn router(backends: &Backends) -> Router {
    // Django's `@cache_page(30)` on the home page, with RFC 9211 `Cache-Status` on.
    let page_cache = CachePageLayer::new(backends.cache.clone())
        .timeout(PAGE_TTL)
        .cache_status(CACHE_STATUS_NAME)
        .expect("CACHE_STATUS_NAME is a constant that can appear in a header");
    // Django's session settings: `sessionid`, HttpOnly, SameSite=Lax, two weeks. Behind HTTPS add
    // `.secure(true)`. A store that fails gets the same friendly error page as the rest of the app.
    let sessions = SessionLayer::from_arc(backends.sessions.clone())
        .error_response(|_| error_response(StatusCode::INTERNAL_SERVER_ERROR));
    // Django's MIDDLEWARE: the first is outermost, so its `process_response` sees the final response.
    let hooks = HooksLayer::new().push(ResponseTime).push(FriendlyErrors);
    let state = AppState {
        fragments: FragmentCache::new(backends.cache.clone()),
    };
    Router::new()
        .route("/", get(home).layer(page_cache))
        .route("/post/{id}", get(post_page))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/boom", get(boom))
        .route("/events", get(events))
        .fallback(not_found)
        .with_state(state)
        .layer(sessions)
        .layer(hooks)
}

/// What the handlers share.
#[derive(Clone)]
struct AppState {
    fragments: FragmentCache,
}

/// The home page: the same for everyone, rendered at most once per [`PAGE_TTL`].
async fn home() -> Html<String> {
    Html(pages::home(&pages::clock()))
}

/// A post: counts the visit in the session, shows who is logged in, with the user's cached sidebar.
async fn post_page(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Html<String>, Exception> {
    let post = id
        .parse()
        .ok()
        .and_then(pages::find_post)
        .ok_or_else(Exception::http404)?;
    let visits = session
        .get::<u64>(VISITS)
        .await?
        .unwrap_or(0)
        .saturating_add(1);
    session.insert(VISITS, &visits).await?;
    let user: Option<String> = session.user().await?;
    let user = user.as_deref();
    // Django: `{% cache 30 sidebar request.user.is_authenticated request.user.username %}`.
    let sidebar = state
        .fragments
        .get_or_render(
            "sidebar",
            &[&user.is_some(), &user.unwrap_or("")],
            FRAGMENT_TTL,
            || async move { pages::sidebar(user, &pages::clock()) },
        )
        .await;
    let visitor = pages::Visitor { user, visits };
    Ok(Html(pages::post(post, &visitor, &sidebar)))
}

/// The fields of the login and logout forms.
#[derive(serde::Deserialize)]
struct AccountForm {
    #[serde(default)]
    name: String,
    /// Where to go back to.
    #[serde(default)]
    next: String,
}

/// Logs in as the form's `name` (Django's `login`): the name recorded as the session's user, under a new
/// session key (so a key planted before login is useless); back to `next` with 303 See Other.
async fn login(
    session: Session,
    form: Result<Form<AccountForm>, FormRejection>,
) -> Result<Redirect, Exception> {
    let Form(form) = form.map_err(|rejection| bad_request(rejection.body_text()))?;
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > pages::MAX_NAME {
        return Err(bad_request(format!(
            "a name of 1 to {} characters is needed",
            pages::MAX_NAME
        )));
    }
    session.set_user(name).await.map_err(|error| match error {
        SessionError::InvalidUser(_) => bad_request(format!("not a usable name: {error}")),
        other => other.into(),
    })?;
    Ok(Redirect::to(local_path(&form.next)))
}

/// Logs out: the session is deleted and its cookie removed; back to `next` with 303 See Other.
async fn logout(
    session: Session,
    form: Result<Form<AccountForm>, FormRejection>,
) -> Result<Redirect, Exception> {
    let Form(form) = form.map_err(|rejection| bad_request(rejection.body_text()))?;
    session.flush().await?;
    Ok(Redirect::to(local_path(&form.next)))
}

/// Django's `BadRequest`, with what was wrong for the log (the visitor sees the generic 400 page).
fn bad_request(message: String) -> Exception {
    Exception::bad_request().with_message(message)
}

/// `next` if it is a path on this site, else `/`: a form field must not send visitors elsewhere
/// (`//evil.example` is another host) or break the `Location` header.
fn local_path(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.bytes().all(|byte| byte.is_ascii_graphic());
    if local {
        next
    } else {
        "/"
    }
}

/// A handler with a bug: it panics. The hooks layer catches it and `FriendlyErrors` answers.
async fn boom() -> Html<String> {
    panic!("/boom panics on purpose: the hooks layer turns this into a 500 page");
}

/// Server-sent events: the time, [`TICKS`] times, a second apart, the first at once.
async fn events() -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let ticks = futures_util::stream::unfold(1, |tick| async move {
        if tick > TICKS {
            return None;
        }
        if tick > 1 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let event = Event::default()
            .event("tick")
            .id(tick.to_string())
            .data(format!("{} (tick {tick} of {TICKS})", pages::clock()));
        Some((Ok(event), tick + 1))
    });
    Sse::new(ticks)
}

/// Unknown URLs: Django's `Http404`, so they get the friendly 404 page too.
async fn not_found() -> Exception {
    Exception::http404()
}

/// An error page with `status`.
pub fn error_response(status: StatusCode) -> Response {
    (status, Html(pages::error(status))).into_response()
}

/// When the request entered the hooks layer, for [`ResponseTime`].
#[derive(Clone, Copy)]
struct Started(Instant);

/// Adds `X-Response-Time` (time from the request entering the hooks layer to the response head, in
/// milliseconds) to every response.
struct ResponseTime;

#[async_trait]
impl Middleware for ResponseTime {
    async fn process_request(
        &self,
        request: &mut Request,
    ) -> Result<Option<tower_django::hooks::Response>, Exception> {
        request.extensions_mut().insert(Started(Instant::now()));
        Ok(None)
    }

    async fn process_response(
        &self,
        request: &Parts,
        response: &mut tower_django::hooks::Response,
    ) -> Result<(), Exception> {
        if let Some(Started(at)) = request.extensions.get::<Started>().copied() {
            let millis = at.elapsed().as_secs_f64() * 1000.0;
            if let Ok(value) = HeaderValue::from_str(&format!("{millis:.3}ms")) {
                response.headers_mut().insert("x-response-time", value);
            }
        }
        Ok(())
    }
}

/// Django's `handler404`/`handler500`: every exception a handler raises (or a panic) becomes an HTML
/// page with the exception's status. What went wrong stays in the log.
struct FriendlyErrors;

#[async_trait]
impl Middleware for FriendlyErrors {
    async fn process_exception(
        &self,
        _request: &Parts,
        exception: &Exception,
    ) -> Result<Option<tower_django::hooks::Response>, Exception> {
        Ok(Some(error_response(exception.status())))
    }
}
