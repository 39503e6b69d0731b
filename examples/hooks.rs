//! Django's middleware model (`MIDDLEWARE = [...]`) as one Tower layer: five small middleware, each using
//! the hook it needs — `process_request`, `process_view`, `process_exception`, `process_response` — in
//! Django's order, around an axum router.
//!
//! ```text
//! cargo run --example hooks --features hooks
//! curl -i http://127.0.0.1:3000/                               # X-Frame-Options, Server-Timing added
//! curl -i http://127.0.0.1:3000/articles/1                     # an article
//! curl -i http://127.0.0.1:3000/articles/2                     # Http404 → the friendly 404 page
//! curl -i http://127.0.0.1:3000/admin/                         # PermissionDenied → 403 (a view hook)
//! curl -i -H 'x-staff: yes' http://127.0.0.1:3000/admin/       # allowed
//! curl -i -A 'BadBot/1.0' http://127.0.0.1:3000/               # answered by a request hook: 403
//! curl -i http://127.0.0.1:3000/boom                           # an error: 500, its message only in the log
//! EXAMPLE_SMOKE=1 cargo run --example hooks --features hooks     # what CI runs: requests itself, checks, exits
//! ```
//!
//! Order per request: `process_request` top-down, `process_view` top-down, the handler,
//! `process_exception` bottom-up if it raised, `process_response` bottom-up. A panic in a handler or a hook
//! is an exception too (a 500); the server keeps serving. Nothing else needs to run.

mod support;

use std::time::Instant;

use axum::extract::Path;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use support::{ensure, BoxError, Client, Reply};
use tower_django::hooks::{
    async_trait, Exception, ExceptionKind, HooksLayer, Middleware, Request, Response, ViewInfo,
};

/// `Server-Timing` on every response: a request hook leaves the start time in the request extensions, the
/// response hook reads it (Django middleware keeps state on `request` the same way).
struct Timing;

#[derive(Clone, Copy)]
struct Started(Instant);

#[async_trait]
impl Middleware for Timing {
    async fn process_request(&self, request: &mut Request) -> Result<Option<Response>, Exception> {
        request.extensions_mut().insert(Started(Instant::now()));
        Ok(None) // go on
    }

    async fn process_response(
        &self,
        request: &Parts,
        response: &mut Response,
    ) -> Result<(), Exception> {
        if let Some(Started(started)) = request.extensions.get::<Started>().copied() {
            let timing = format!("app;dur={:.1}", started.elapsed().as_secs_f64() * 1000.0);
            if let Ok(value) = HeaderValue::from_str(&timing) {
                response.headers_mut().insert("server-timing", value);
            }
        }
        Ok(())
    }
}

/// Django's `XFrameOptionsMiddleware`: a response hook, so it also sees 403s, 404s and 500s.
struct XFrameOptions;

#[async_trait]
impl Middleware for XFrameOptions {
    async fn process_response(
        &self,
        _request: &Parts,
        response: &mut Response,
    ) -> Result<(), Exception> {
        response
            .headers_mut()
            .insert("x-frame-options", HeaderValue::from_static("DENY"));
        Ok(())
    }
}

/// Django's `DISALLOWED_USER_AGENTS`: a request hook that answers at once. The middleware below it and the
/// view never run; the response still goes out through the response hooks above (and its own).
struct BlockUserAgents(&'static [&'static str]);

#[async_trait]
impl Middleware for BlockUserAgents {
    async fn process_request(&self, request: &mut Request) -> Result<Option<Response>, Exception> {
        let agent = request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        if self.0.iter().any(|blocked| agent.contains(blocked)) {
            return Ok(Some(
                (StatusCode::FORBIDDEN, "Forbidden user agent\n").into_response(),
            ));
        }
        Ok(None)
    }
}

/// Staff-only views: a view hook that looks at the view's name (from `name_route`) and raises
/// `PermissionDenied` (→ 403) before the handler runs.
struct StaffOnly;

#[async_trait]
impl Middleware for StaffOnly {
    async fn process_view(
        &self,
        request: &mut Request,
        view: &ViewInfo,
    ) -> Result<Option<Response>, Exception> {
        let admin = view.name().is_some_and(|name| name.starts_with("admin:"));
        if admin && !request.headers().contains_key("x-staff") {
            return Err(Exception::permission_denied().with_message("staff only"));
        }
        Ok(None)
    }
}

/// Turns `Http404` from any view into a friendly page (Django's `handler404`); other exceptions keep their
/// plain status response. Exception messages are for logs, never for clients.
struct FriendlyErrors;

#[async_trait]
impl Middleware for FriendlyErrors {
    async fn process_exception(
        &self,
        request: &Parts,
        exception: &Exception,
    ) -> Result<Option<Response>, Exception> {
        if exception.kind() != ExceptionKind::Http404 {
            return Ok(None); // let the next exception hook, or the default response, handle it
        }
        let page = format!(
            "<h1>Not found</h1>\n<p>Nothing at {}. Try <a href=\"/articles/1\">the first article</a>.</p>\n",
            request.uri.path()
        );
        Ok(Some((StatusCode::NOT_FOUND, Html(page)).into_response()))
    }
}

async fn home() -> &'static str {
    "home\n"
}

/// Raising from a handler: return `Err(Exception)` (or use `?` on one).
async fn article(Path(id): Path<u32>) -> Result<String, Exception> {
    match id {
        1 => Ok("article 1: hooks\n".into()),
        _ => Err(Exception::http404().with_message(format!("no article {id}"))),
    }
}

async fn admin() -> &'static str {
    "admin dashboard\n"
}

async fn boom() -> Result<String, Exception> {
    Err(Exception::other("the database is down"))
}

fn app() -> Router {
    Router::new()
        .route("/", get(home))
        .route("/articles/{id}", get(article))
        .route("/admin/", get(admin))
        .route("/boom", get(boom))
        // After the routes (`Router::layer`), so view hooks see the matched route. First = outermost.
        .layer(
            HooksLayer::new()
                .push(Timing)
                .push(XFrameOptions)
                .push(BlockUserAgents(&["BadBot"]))
                .push(StaffOnly)
                .push(FriendlyErrors)
                .name_route("/admin/", "admin:index"),
        )
}

/// `GET path` with one more request header.
async fn get_with(client: &Client, path: &str, name: &str, value: &str) -> Result<Reply, BoxError> {
    let request = client.request(http::Method::GET, path).header(name, value);
    client.send(request).await
}

async fn smoke(client: Client) -> Result<(), BoxError> {
    let home = client.get("/").await?;
    ensure(
        home.status == StatusCode::OK
            && home.header("x-frame-options") == "DENY"
            && home.header("server-timing").starts_with("app;dur="),
        "the response hooks' headers on /",
    )?;
    let missing = client.get("/articles/2").await?;
    ensure(
        missing.status == StatusCode::NOT_FOUND
            && missing.body.contains("<h1>Not found</h1>")
            && missing.header("x-frame-options") == "DENY",
        "the friendly 404 page, through the response hooks",
    )?;
    let denied = client.get("/admin/").await?;
    ensure(
        denied.status == StatusCode::FORBIDDEN,
        "/admin/ denied without x-staff",
    )?;
    let staff = get_with(&client, "/admin/", "x-staff", "yes").await?;
    ensure(
        staff.status == StatusCode::OK,
        "/admin/ allowed with x-staff",
    )?;
    let bot = get_with(&client, "/", header::USER_AGENT.as_str(), "BadBot/1.0").await?;
    ensure(
        bot.status == StatusCode::FORBIDDEN && bot.header("x-frame-options") == "DENY",
        "a blocked user agent answered by the request hook, through the response hooks",
    )?;
    let boom = client.get("/boom").await?;
    ensure(
        boom.status == StatusCode::INTERNAL_SERVER_ERROR && !boom.body.contains("database"),
        "a 500 that does not leak the error message",
    )
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    support::init_tracing();
    support::serve(
        app(),
        &[
            "curl -i http://{addr}/",
            "curl -i http://{addr}/articles/2",
            "curl -i http://{addr}/admin/",
            "curl -i -H 'x-staff: yes' http://{addr}/admin/",
            "curl -i -A 'BadBot/1.0' http://{addr}/",
            "curl -i http://{addr}/boom",
        ],
        smoke,
    )
    .await
}
