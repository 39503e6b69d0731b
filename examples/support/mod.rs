//! What the server examples share (not part of the library): serve an app until Ctrl-C, or, with
//! `EXAMPLE_SMOKE=1`, bind 127.0.0.1:0, send it a few requests with a small cookie-keeping client, print
//! each exchange and exit (what CI runs). `EXAMPLE_ADDR` changes where the server listens (default
//! 127.0.0.1:3000); `RUST_LOG` the log filter (default `info`).

// Each example uses part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::error::Error;
use std::net::SocketAddr;
use std::sync::Mutex;

use axum::body::Body;
use axum::Router;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Any error, for `main` and the smoke checks.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// Whether this run is CI's quick self-test (`EXAMPLE_SMOKE=1`).
pub fn smoke_mode() -> bool {
    std::env::var("EXAMPLE_SMOKE").is_ok_and(|value| value == "1")
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Serves `app`. Normally on `EXAMPLE_ADDR` until Ctrl-C, after printing `try_these` (shell lines, with
/// `{addr}` replaced by the address). In smoke mode, on a free port: runs `smoke` against the server and
/// returns its outcome.
pub async fn serve(
    app: Router,
    try_these: &[&str],
    smoke: impl AsyncFnOnce(Client) -> Result<(), BoxError>,
) -> Result<(), BoxError> {
    let smoke_mode = smoke_mode();
    let addr: SocketAddr = if smoke_mode {
        "127.0.0.1:0".parse()?
    } else {
        std::env::var("EXAMPLE_ADDR")
            .unwrap_or_else(|_| "127.0.0.1:3000".into())
            .parse()?
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    if smoke_mode {
        let outcome = smoke(Client::new(addr)).await;
        server.abort();
        outcome?;
        println!("smoke test passed");
        return Ok(());
    }

    println!("listening on http://{addr}/ (Ctrl-C to stop). Try:");
    for line in try_these {
        println!("  {}", line.replace("{addr}", &addr.to_string()));
    }
    tokio::select! {
        served = server => served??,
        _ = tokio::signal::ctrl_c() => println!("bye"),
    }
    Ok(())
}

/// Fails the smoke test with `what` unless `ok`.
pub fn ensure(ok: bool, what: &str) -> Result<(), BoxError> {
    if ok {
        Ok(())
    } else {
        Err(format!("smoke test failed: expected {what}").into())
    }
}

/// An HTTP/1.1 client for one server that keeps cookies the way a browser does for one site, and prints
/// every exchange.
pub struct Client {
    addr: SocketAddr,
    http: hyper_util::client::legacy::Client<HttpConnector, Body>,
    /// Cookie name → value.
    jar: Mutex<BTreeMap<String, String>>,
}

/// A response, body read in full.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, as text.
    pub body: String,
}

impl Reply {
    /// The header's value, or `""` when absent (or not text).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
    }
}

impl Client {
    fn new(addr: SocketAddr) -> Self {
        Client {
            addr,
            http: hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http(),
            jar: Mutex::new(BTreeMap::new()),
        }
    }

    /// A request to `path` on the server, carrying the cookies kept so far.
    pub fn request(&self, method: Method, path: &str) -> http::request::Builder {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        let cookies = self.cookie_header();
        if !cookies.is_empty() {
            builder = builder.header(http::header::COOKIE, cookies);
        }
        builder
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Reply, BoxError> {
        self.send(self.request(Method::GET, path)).await
    }

    /// `GET path`, failing the smoke test with `what` unless the body contains `text`.
    pub async fn get_showing(&self, path: &str, text: &str, what: &str) -> Result<Reply, BoxError> {
        let reply = self.get(path).await?;
        ensure(reply.body.contains(text), what)?;
        Ok(reply)
    }

    /// `POST path`, empty body.
    pub async fn post(&self, path: &str) -> Result<Reply, BoxError> {
        self.send(self.request(Method::POST, path)).await
    }

    /// Sends `request` (empty body), keeps the cookies it sets, prints the exchange.
    pub async fn send(&self, request: http::request::Builder) -> Result<Reply, BoxError> {
        let request = request.body(Body::empty())?;
        println!(
            "> {} {}",
            request.method(),
            request.uri().path_and_query().map_or("/", |p| p.as_str())
        );
        let response = self.http.request(request).await?;
        let (head, body) = response.into_parts();
        let body = String::from_utf8_lossy(&body.collect().await?.to_bytes()).into_owned();
        println!("< {}", head.status);
        for (name, value) in &head.headers {
            if name != http::header::DATE {
                println!("< {name}: {}", String::from_utf8_lossy(value.as_bytes()));
            }
        }
        for line in body.lines() {
            println!("< | {line}");
        }
        println!();
        for set_cookie in head.headers.get_all(http::header::SET_COOKIE) {
            if let Ok(set_cookie) = set_cookie.to_str() {
                self.keep(set_cookie);
            }
        }
        Ok(Reply {
            status: head.status,
            headers: head.headers,
            body,
        })
    }

    /// `POST path`, failing the smoke test with `what` unless the response deleted the cookie `name`.
    pub async fn post_deleting(
        &self,
        path: &str,
        name: &str,
        what: &str,
    ) -> Result<Reply, BoxError> {
        let reply = self.post(path).await?;
        ensure(self.cookie(name).is_none(), what)?;
        Ok(reply)
    }

    /// The value of the cookie `name`, if kept.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar().get(name).cloned()
    }

    /// Keeps (or replaces) the cookie `name`, as if the server had set it.
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar().insert(name.to_owned(), value.to_owned());
    }

    /// Keeps the cookie a `Set-Cookie` value sets, or forgets it when the value deletes it (`Max-Age=0`).
    fn keep(&self, set_cookie: &str) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
            return;
        };
        let deleted = parts.any(|attribute| attribute.trim().eq_ignore_ascii_case("max-age=0"));
        let mut jar = self.jar();
        if deleted {
            jar.remove(name.trim());
        } else {
            jar.insert(name.trim().to_owned(), value.trim().to_owned());
        }
    }

    fn cookie_header(&self) -> String {
        let jar = self.jar();
        let pairs: Vec<String> = jar
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        pairs.join("; ")
    }

    fn jar(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        // A panic while holding the lock leaves the map whole: keep using it.
        self.jar
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
